//! Produce: find partition → validate and append (in `strom-log`) → answer
//! now (acks 0/1), or once every in-sync replica has the records (acks=all:
//! the high watermark passed them, which with `strom.acks.all.fsync`, the
//! default, means durable on each of them; see `replication::leader`). Any
//! acks waits for an fsync once the topic's `flush.messages` is reached. A
//! failed or impossible fsync answers KAFKA_STORAGE_ERROR, an ISR that
//! shrank below `min.insync.replicas` meanwhile
//! NOT_ENOUGH_REPLICAS_AFTER_APPEND, the request timeout REQUEST_TIMED_OUT:
//! never success. Transactional batches are checked with the transaction
//! coordinator first (KIP-890, `txn_verification`) unless a transaction of
//! the producer is ongoing on the partition. Record batches travel from the request buffer to the file
//! as the client sent them; only the batch header is patched.

use std::sync::Arc;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::produce_response::{
    BatchIndexAndErrorMessage, NodeEndpoint, PartitionProduceResponse, TopicProduceResponse,
};
use kafka_protocol::messages::{ApiKey, BrokerId, ProduceRequest, ProduceResponse, TopicName};
use strom_metadata::acl::AclOperation;

use super::str_bytes;
use crate::authz::Authz;
use crate::broker::{now_ms, BrokerState};
use crate::connection::Reply;
use crate::dispatch::encode;
use crate::partition::Partition;

pub(crate) async fn handle(
    state: &Arc<BrokerState>,
    version: i16,
    corr: i32,
    req: ProduceRequest,
    listener: &str,
    throttle_time_ms: i32,
    authz: &Authz<'_>,
) -> Reply {
    let acks = req.acks;
    // KIP-951 (v10+): a NOT_LEADER_OR_FOLLOWER names the current leader.
    let mut new_leaders = std::collections::BTreeSet::new();
    let image = state.image();
    let now = now_ms();
    let deadline = tokio::time::Instant::now()
        + std::time::Duration::from_millis(req.timeout_ms.max(0) as u64);
    let mut resp = ProduceResponse::default();
    // Over producer_byte_rate or request_percentage (KIP-219): the append
    // happens, the answer says how long the connection is muted.
    resp.throttle_time_ms = throttle_time_ms;
    // Partitions whose append must be replicated (acks=all) or flushed
    // (flush.messages) before the answer.
    let mut to_flush: Vec<Wait> = Vec::new();
    let valid_acks = matches!(acks, -1..=1);
    // Produce v12+ within a transaction comes from a transactions-v2 producer
    // (KIP-890 part 2): it sends no AddPartitionsToTxn, the leader adds the
    // partition to the transaction itself, whatever the verification config.
    let supported = crate::txn_verification::Supported::for_produce(version);
    let verify = supported.adds()
        || state
            .effective_config()
            .transaction_partition_verification_enable;
    let transactional_id = req.transactional_id.as_ref().map(|id| id.0.to_string());
    let mut pending: Vec<PendingVerification> = Vec::new();
    // Transactional batches need a transactional id (Kafka answers the whole
    // request TRANSACTIONAL_ID_AUTHORIZATION_FAILED otherwise).
    let has_transactional = req.topic_data.iter().any(|t| {
        t.partition_data.iter().any(|p| {
            p.records
                .as_ref()
                .and_then(transactional_producer)
                .is_some()
        })
    });
    // ... and WRITE on it (KafkaApis.handleProduceRequest).
    let refuse_all = has_transactional
        && transactional_id
            .as_deref()
            .is_none_or(|id| !authz.transactional_id(AclOperation::Write, id));
    for (ti, mut topic) in req.topic_data.into_iter().enumerate() {
        // v13+ names topics by id (KIP-516); a topic id this broker does not
        // know is UNKNOWN_TOPIC_ID for each of its partitions, as in Kafka.
        let unknown_topic_id = version >= 13
            && match image.topic_by_id(strom_metadata::TopicId::from_bytes(
                *topic.topic_id.as_bytes(),
            )) {
                Some(t) => {
                    topic.name = TopicName(str_bytes(&t.name));
                    false
                }
                None => true,
            };
        let mut out = TopicProduceResponse::default();
        out.name = topic.name.clone();
        out.topic_id = topic.topic_id;
        for (pi, pd) in topic.partition_data.into_iter().enumerate() {
            let mut pr = PartitionProduceResponse::default();
            pr.index = pd.index;
            pr.base_offset = -1;
            pr.log_append_time_ms = -1;
            pr.log_start_offset = -1;
            if !valid_acks {
                pr.error_code = ResponseError::InvalidRequiredAcks.code();
                out.partition_responses.push(pr);
                continue;
            }
            if refuse_all {
                pr.error_code = ResponseError::TransactionalIdAuthorizationFailed.code();
                pr.error_message = Some(str_bytes(if transactional_id.is_none() {
                    "transactional record batches need the request's transactional_id"
                } else {
                    "Transactional Id authorization failed."
                }));
                out.partition_responses.push(pr);
                continue;
            }
            if unknown_topic_id {
                pr.error_code = ResponseError::UnknownTopicId.code();
                out.partition_responses.push(pr);
                continue;
            }
            if !authz.topic(AclOperation::Write, &topic.name.0) {
                pr.error_code = ResponseError::TopicAuthorizationFailed.code();
                out.partition_responses.push(pr);
                continue;
            }
            if topic.name.0.as_str() == strom_coordinator::CONSUMER_OFFSETS_TOPIC {
                // Only the group coordinator writes its internal topic, as in Kafka.
                pr.error_code = ResponseError::InvalidTopicException.code();
                pr.error_message = Some(str_bytes(
                    "clients may not produce to the internal topic __consumer_offsets",
                ));
                out.partition_responses.push(pr);
                continue;
            }
            let partition = match state.replicas.leader_partition(&topic.name.0, pd.index) {
                Ok(p) => p,
                Err(e) => {
                    pr.error_code = e.code();
                    if e == ResponseError::NotLeaderOrFollower && version >= 10 {
                        if let Some((leader, epoch)) =
                            super::current_leader(&image, &topic.name.0, pd.index)
                        {
                            pr.current_leader.leader_id = BrokerId(leader);
                            pr.current_leader.leader_epoch = epoch;
                            new_leaders.insert(leader);
                        }
                    }
                    out.partition_responses.push(pr);
                    continue;
                }
            };
            let Some(records) = pd.records else {
                pr.error_code = ResponseError::CorruptMessage.code();
                pr.error_message = Some(str_bytes(
                    "produce request carries no records for this partition",
                ));
                out.partition_responses.push(pr);
                continue;
            };
            let txn = transactional_producer(&records);
            if let (Some((producer_id, epoch)), true) = (txn, verify) {
                if partition.needs_verification(producer_id, epoch) {
                    // KIP-890: the coordinator confirms first (below).
                    let guard = partition.start_verification(producer_id, epoch);
                    pending.push(PendingVerification {
                        topic: topic.name.clone(),
                        partition,
                        records,
                        guard,
                        producer_id,
                        epoch,
                        at: (ti, pi),
                    });
                    out.partition_responses.push(pr);
                    continue;
                }
            }
            let appended = append(&partition, records, acks, now, verify, None);
            if let Some(wait) = answer(&mut pr, partition, appended, acks, (ti, pi)) {
                to_flush.push(wait);
            }
            out.partition_responses.push(pr);
        }
        resp.responses.push(out);
    }
    if version >= 10 {
        resp.node_endpoints = super::leader_endpoints(state, listener, &new_leaders)
            .into_iter()
            .map(|b| {
                NodeEndpoint::default()
                    .with_node_id(BrokerId(b.node_id))
                    .with_host(str_bytes(&b.host))
                    .with_port(i32::from(b.port))
                    .with_rack(b.rack.as_deref().map(str_bytes))
            })
            .collect();
    }
    // The batches waiting for the coordinator are appended before this
    // returns, so before the connection's next request is looked at (Kafka
    // handles one request of a connection at a time): a later request of the
    // producer, which no longer needs verification once the first batch is
    // in, must not append ahead of batches still being verified (it would be
    // refused with OUT_OF_ORDER_SEQUENCE_NUMBER).
    let verified =
        verify_and_append(state, transactional_id, pending, &mut resp, acks, supported).await;
    to_flush.extend(verified);
    if acks == 0 {
        // Nobody waits, but flush.messages still applies.
        tokio::spawn(async move {
            for (partition, end, _, _, _) in to_flush {
                let _ = partition.flush_up_to(end).await;
            }
        });
        return Reply::Nothing;
    }
    if to_flush.is_empty() {
        return encode(ApiKey::Produce, version, corr, &resp);
    }
    Reply::Later(Box::pin(async move {
        // The partitions' waits run side by side, not one after another.
        let flushes = to_flush
            .iter()
            .map(|(partition, end, flush, _, _)| async move {
                if *flush {
                    partition.flush_up_to(*end).await?;
                }
                if acks == -1 {
                    partition.wait_replicated(*end, deadline).await?;
                }
                Ok::<(), crate::partition::PartitionError>(())
            });
        let results = futures_util::future::join_all(flushes).await;
        for ((partition, _, _, ti, pi), result) in to_flush.iter().zip(results) {
            if let Err(e) = result {
                if e.is_storage_error() {
                    tracing::error!(topic = %partition.topic, partition = partition.index, "flush failed: {e}");
                }
                let pr = &mut resp.responses[*ti].partition_responses[*pi];
                pr.error_code = e.error_code();
                pr.error_message = Some(str_bytes(&e.to_string()));
            }
        }
        match encode(ApiKey::Produce, version, corr, &resp) {
            Reply::Now(frame) => Some(frame),
            _ => None,
        }
    }))
}

/// A partition's batch waiting for the transaction coordinator (KIP-890).
struct PendingVerification {
    topic: kafka_protocol::messages::TopicName,
    partition: Arc<Partition>,
    records: Bytes,
    guard: u64,
    producer_id: i64,
    epoch: i16,
    at: (usize, usize),
}

/// (partition, end offset, flush due, topic index, partition index).
type Wait = (Arc<Partition>, i64, bool, usize, usize);

/// The producer id and epoch of a transactional data batch.
fn transactional_producer(records: &Bytes) -> Option<(i64, i16)> {
    strom_records::BatchHeader::parse(records)
        .ok()
        .filter(|h| h.is_transactional() && !h.is_control() && h.producer_id() >= 0)
        .map(|h| (h.producer_id(), h.producer_epoch()))
}

fn append(
    partition: &Arc<Partition>,
    records: Bytes,
    acks: i16,
    now: i64,
    verify: bool,
    guard: Option<u64>,
) -> Result<strom_log::AppendInfo, crate::partition::PartitionError> {
    if acks == -1 {
        partition.check_min_insync()?;
    }
    partition.append_produce(records, now, verify, guard)
}

/// Fills the partition's answer from its append; the wait it needs, if any.
fn answer(
    pr: &mut PartitionProduceResponse,
    partition: Arc<Partition>,
    appended: Result<strom_log::AppendInfo, crate::partition::PartitionError>,
    acks: i16,
    (ti, pi): (usize, usize),
) -> Option<Wait> {
    match appended {
        Ok(info) => {
            pr.base_offset = info.base_offset;
            pr.log_append_time_ms = info.log_append_time_ms;
            pr.log_start_offset = info.log_start_offset;
            let end = info.last_offset + 1;
            // acks=all waits for the ISR; any ack waits for the fsync when
            // the topic's flush.messages is reached (Kafka flushes on the
            // append path).
            let flush = partition.flush_due(end);
            (acks == -1 || flush).then_some((partition, end, flush, ti, pi))
        }
        Err(e) => {
            pr.error_code = e.error_code();
            pr.error_message = Some(str_bytes(&e.to_string()));
            if let Some(refused) = e.record_errors() {
                // KIP-467: the refused records by index; the producer fails those and
                // retries the rest of the batch. Kafka answers the log start offset too.
                pr.error_message = Some(str_bytes(&refused.message));
                pr.record_errors = refused
                    .record_errors
                    .iter()
                    .map(|(index, message)| {
                        BatchIndexAndErrorMessage::default()
                            .with_batch_index(*index)
                            .with_batch_index_error_message(Some(str_bytes(message)))
                    })
                    .collect();
                pr.log_start_offset = partition.log_start_offset();
            }
            if e.is_storage_error() {
                tracing::error!(topic = %partition.topic, partition = partition.index, "append failed: {e}");
            }
            None
        }
    }
}

/// Verifies the pending partitions with the coordinator, then appends those
/// it confirmed; the others get the converted error.
async fn verify_and_append(
    state: &BrokerState,
    transactional_id: Option<String>,
    pending: Vec<PendingVerification>,
    resp: &mut ProduceResponse,
    acks: i16,
    supported: crate::txn_verification::Supported,
) -> Vec<Wait> {
    let mut waits = Vec::new();
    let Some(transactional_id) = transactional_id else {
        return waits;
    };
    // One producer per request in practice; grouped anyway.
    let mut producers: Vec<(i64, i16)> = pending.iter().map(|p| (p.producer_id, p.epoch)).collect();
    producers.sort_unstable();
    producers.dedup();
    let mut results = std::collections::HashMap::new();
    for (producer_id, epoch) in producers {
        let partitions: Vec<(kafka_protocol::messages::TopicName, i32)> = pending
            .iter()
            .filter(|p| (p.producer_id, p.epoch) == (producer_id, epoch))
            .map(|p| (p.topic.clone(), p.partition.index))
            .collect();
        let answered = state
            .txn_verifier
            .verify(
                state,
                &transactional_id,
                producer_id,
                epoch,
                &partitions,
                supported,
            )
            .await;
        for (key, code) in answered {
            results.insert((producer_id, key), code);
        }
    }
    let now = now_ms();
    for p in pending {
        let (ti, pi) = p.at;
        let pr = &mut resp.responses[ti].partition_responses[pi];
        let code = results
            .get(&(p.producer_id, (p.topic.clone(), p.partition.index)))
            .copied()
            .unwrap_or(ResponseError::InvalidTxnState.code());
        if code != 0 {
            p.partition.abandon_verification(p.producer_id, p.guard);
            pr.error_code = code;
            pr.error_message = Some(str_bytes(&format!(
                "the transaction coordinator did not verify this partition as part of the transaction of producer {} (error {code})",
                p.producer_id
            )));
            continue;
        }
        let appended = append(&p.partition, p.records, acks, now, true, Some(p.guard));
        if let Some(wait) = answer(pr, p.partition, appended, acks, p.at) {
            waits.push(wait);
        }
    }
    waits
}

/// Produce v0-v2 (message formats v0/v1, removed in Kafka 4): advertised so
/// librdkafka keeps compression on, answered with UNSUPPORTED_VERSION for
/// every partition as Kafka 4 does. Parsed by hand because the codec starts
/// at v3; any parse failure closes the connection.
pub(crate) fn unsupported_old_version(version: i16, corr: i32, frame: Bytes) -> Reply {
    match old_produce_error_response(version, corr, frame) {
        Some(Some(frame)) => Reply::Now(frame.into()),
        Some(None) => Reply::Nothing,
        None => Reply::Close,
    }
}

fn old_produce_error_response(version: i16, corr: i32, mut buf: Bytes) -> Option<Option<BytesMut>> {
    fn need(buf: &Bytes, n: usize) -> Option<()> {
        (buf.remaining() >= n).then_some(())
    }
    fn string(buf: &mut Bytes) -> Option<Bytes> {
        need(buf, 2)?;
        let len = buf.get_i16();
        if len < 0 {
            return Some(Bytes::new());
        }
        need(buf, len as usize)?;
        Some(buf.split_to(len as usize))
    }
    need(&buf, 8)?;
    buf.advance(8); // api key, version, correlation id
    string(&mut buf)?; // client id
    need(&buf, 6)?;
    let acks = buf.get_i16();
    let _timeout = buf.get_i32();
    need(&buf, 4)?;
    let topics = buf.get_i32();
    let mut out = BytesMut::new();
    out.put_i32(0); // size, patched below
    out.put_i32(corr);
    out.put_i32(topics.max(0));
    for _ in 0..topics.max(0) {
        let name = string(&mut buf)?;
        need(&buf, 4)?;
        let partitions = buf.get_i32();
        out.put_i16(name.len() as i16);
        out.put_slice(&name);
        out.put_i32(partitions.max(0));
        for _ in 0..partitions.max(0) {
            need(&buf, 8)?;
            let index = buf.get_i32();
            let len = buf.get_i32();
            if len > 0 {
                need(&buf, len as usize)?;
                buf.advance(len as usize);
            }
            out.put_i32(index);
            out.put_i16(ResponseError::UnsupportedVersion.code());
            out.put_i64(-1); // base offset
            if version >= 2 {
                out.put_i64(-1); // log append time
            }
        }
    }
    if version >= 1 {
        out.put_i32(0); // throttle time
    }
    if acks == 0 {
        return Some(None);
    }
    let size = (out.len() - 4) as i32;
    out[..4].copy_from_slice(&size.to_be_bytes());
    Some(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn produce_v2_gets_unsupported_version_per_partition() {
        let mut req = BytesMut::new();
        req.put_i16(0); // produce
        req.put_i16(2);
        req.put_i32(77);
        req.put_i16(-1); // null client id
        req.put_i16(1); // acks
        req.put_i32(1000);
        req.put_i32(1); // one topic
        req.put_i16(1);
        req.put_slice(b"t");
        req.put_i32(1); // one partition
        req.put_i32(3);
        req.put_i32(2);
        req.put_slice(b"xx");
        let frame = old_produce_error_response(2, 77, req.freeze())
            .unwrap()
            .unwrap();
        let mut f = Bytes::from(frame.to_vec());
        assert_eq!(f.get_i32() as usize, f.remaining());
        assert_eq!(f.get_i32(), 77);
        assert_eq!(f.get_i32(), 1);
        assert_eq!(f.get_i16(), 1);
        assert_eq!(&f.split_to(1)[..], b"t");
        assert_eq!(f.get_i32(), 1);
        assert_eq!(f.get_i32(), 3);
        assert_eq!(f.get_i16(), 35);
        assert_eq!(f.get_i64(), -1);
        assert_eq!(f.get_i64(), -1);
        assert_eq!(f.get_i32(), 0);
        assert_eq!(f.remaining(), 0);
    }

    #[test]
    fn truncated_old_produce_is_refused() {
        assert!(old_produce_error_response(
            1,
            1,
            Bytes::from_static(&[0, 0, 0, 1, 0, 0, 0, 1, 0xff, 0xff, 0, 1])
        )
        .is_none());
    }
}
