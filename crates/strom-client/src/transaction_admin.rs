//! Transactions over the wire, as Kafka's Admin client sees them:
//! ListTransactions (asked of every broker, each answering for the
//! transactional ids it coordinates), DescribeTransactions (asked of each
//! id's coordinator), DescribeProducers (asked of a partition's leader or of
//! a given replica) and WriteTxnMarkers (Admin.abortTransaction: an abort
//! marker written by the partition's leader, to end a hanging transaction).

use std::collections::BTreeMap;

use kafka_protocol::messages::*;

use crate::admin_client::{str_bytes, AdminClient, KEY_TYPE_TRANSACTION};
use crate::cluster::TopicPartition;
use crate::error::{Error, ErrorCode};

/// One transactional id as ListTransactions lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionListing {
    pub transactional_id: String,
    /// The broker that answered: the id's coordinator.
    pub coordinator_id: i32,
    pub producer_id: i64,
    /// Kafka's state name: `Ongoing`, `PrepareCommit`, `CompleteAbort`, ...
    pub state: String,
}

/// One transactional id as its coordinator describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionDescription {
    pub coordinator_id: i32,
    pub transactional_id: String,
    pub state: String,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub transaction_timeout_ms: i32,
    /// When the ongoing transaction started (None when none is ongoing).
    pub transaction_start_time_ms: Option<i64>,
    pub topic_partitions: Vec<TopicPartition>,
}

/// An active producer of a partition (DescribeProducers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerState {
    pub producer_id: i64,
    pub producer_epoch: i32,
    pub last_sequence: i32,
    pub last_timestamp: i64,
    /// The coordinator epoch of the producer's last marker (None: none yet).
    pub coordinator_epoch: Option<i32>,
    /// The first offset of the producer's open transaction (None: none open).
    pub current_transaction_start_offset: Option<i64>,
}

/// What Admin.abortTransaction needs: the partition and the producer whose
/// open transaction there gets an abort marker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AbortTransactionSpec {
    pub partition: TopicPartition,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub coordinator_epoch: i32,
}

/// A per-partition or per-id failure: Kafka's code and message.
pub type Failure = (ErrorCode, Option<String>);

fn non_negative<T: PartialOrd + Default>(v: T) -> Option<T> {
    (v >= T::default()).then_some(v)
}

fn kafka(api: ApiKey, code: ErrorCode, message: Option<String>) -> Error {
    Error::Kafka { api, code, message }
}

impl AdminClient {
    /// Every transactional id of every broker (ListTransactions), filtered
    /// by state names, producer ids, and (v1+, KIP-994) transactions running
    /// longer than `duration_filter_ms`.
    pub async fn list_transactions(
        &mut self,
        state_filters: &[String],
        producer_id_filters: &[i64],
        duration_filter_ms: Option<i64>,
    ) -> Result<Vec<TransactionListing>, Error> {
        let metadata = self.metadata(Some(&[])).await?;
        let mut out = Vec::new();
        for broker in metadata.brokers.values() {
            let addr = broker.addr();
            let deadline = self.deadline();
            let resp = loop {
                let resp = self
                    .send(&addr, |version| {
                        let mut req = ListTransactionsRequest::default();
                        req.state_filters = state_filters.iter().map(|s| str_bytes(s)).collect();
                        req.producer_id_filters =
                            producer_id_filters.iter().map(|&p| ProducerId(p)).collect();
                        if let Some(ms) = duration_filter_ms.filter(|ms| *ms >= 0) {
                            if version < 1 {
                                return Err(Error::UnsupportedFeature {
                                    addr: addr.clone(),
                                    api: ApiKey::ListTransactions,
                                    what: "filter transactions by duration",
                                    needed: 1,
                                    version,
                                });
                            }
                            req.duration_filter = ms;
                        }
                        Ok(req)
                    })
                    .await?;
                match ErrorCode::from_code(resp.error_code) {
                    None => break resp,
                    Some(code) if code.is_retriable() && self.may_retry(deadline) => {
                        self.backoff().await
                    }
                    Some(code) => return Err(kafka(ApiKey::ListTransactions, code, None)),
                }
            };
            out.extend(
                resp.transaction_states
                    .into_iter()
                    .map(|t| TransactionListing {
                        transactional_id: t.transactional_id.0.to_string(),
                        coordinator_id: broker.node_id,
                        producer_id: t.producer_id.0,
                        state: t.transaction_state.to_string(),
                    }),
            );
        }
        out.sort_by(|a, b| {
            (a.coordinator_id, &a.transactional_id).cmp(&(b.coordinator_id, &b.transactional_id))
        });
        Ok(out)
    }

    /// Each transactional id as its coordinator describes it, in the order
    /// asked (TRANSACTIONAL_ID_NOT_FOUND and other codes per id).
    pub async fn describe_transactions(
        &mut self,
        transactional_ids: &[String],
    ) -> Result<Vec<(String, Result<TransactionDescription, Failure>)>, Error> {
        let mut out = Vec::with_capacity(transactional_ids.len());
        for id in transactional_ids {
            let deadline = self.deadline();
            let result = loop {
                let coordinator = self
                    .find_coordinator_until(KEY_TYPE_TRANSACTION, id, deadline)
                    .await?;
                let resp = self
                    .send(&coordinator.addr(), |_| {
                        let mut req = DescribeTransactionsRequest::default();
                        req.transactional_ids = vec![TransactionalId(str_bytes(id))];
                        Ok(req)
                    })
                    .await?;
                let Some(t) = resp
                    .transaction_states
                    .into_iter()
                    .find(|t| t.transactional_id.0.as_str() == id.as_str())
                else {
                    break Err((
                        ErrorCode::UNKNOWN_SERVER_ERROR,
                        Some("no answer".to_owned()),
                    ));
                };
                match ErrorCode::from_code(t.error_code) {
                    None => break Ok(description(coordinator.node_id, t)),
                    Some(code) if code.is_coordinator_retriable() && self.may_retry(deadline) => {
                        self.backoff().await
                    }
                    Some(code) => break Err((code, None)),
                }
            };
            out.push((id.clone(), result));
        }
        Ok(out)
    }

    /// The active producers of each partition (DescribeProducers), asked of
    /// its leader, or of `broker_id`'s replica when given.
    pub async fn describe_producers(
        &mut self,
        partitions: &[TopicPartition],
        broker_id: Option<i32>,
    ) -> Result<BTreeMap<TopicPartition, Result<Vec<ProducerState>, Failure>>, Error> {
        let mut out = BTreeMap::new();
        if partitions.is_empty() {
            return Ok(out);
        }
        let topics: Vec<String> = partitions
            .iter()
            .map(|tp| tp.topic.clone())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        let metadata = self.metadata(Some(&topics)).await?;
        let mut by_broker: BTreeMap<String, BTreeMap<String, Vec<i32>>> = BTreeMap::new();
        for tp in partitions {
            let addr = match broker_id {
                Some(id) => match metadata.brokers.get(&id) {
                    Some(b) => b.addr(),
                    None => return Err(Error::UnknownBroker { node_id: id }),
                },
                None => match metadata.leader(tp) {
                    Ok(leader) => leader.addr(),
                    Err(code) => {
                        out.insert(tp.clone(), Err((code, None)));
                        continue;
                    }
                },
            };
            by_broker
                .entry(addr)
                .or_default()
                .entry(tp.topic.clone())
                .or_default()
                .push(tp.partition);
        }
        for (addr, topics) in by_broker {
            let resp = self
                .send(&addr, |_| {
                    let mut req = DescribeProducersRequest::default();
                    req.topics = topics
                        .iter()
                        .map(|(name, partitions)| {
                            let mut t = describe_producers_request::TopicRequest::default();
                            t.name = TopicName(str_bytes(name));
                            t.partition_indexes = partitions.clone();
                            t
                        })
                        .collect();
                    Ok(req)
                })
                .await?;
            for t in resp.topics {
                for p in t.partitions {
                    let tp = TopicPartition::new(t.name.0.to_string(), p.partition_index);
                    let result = match ErrorCode::from_code(p.error_code) {
                        Some(code) => Err((code, p.error_message.map(|m| m.to_string()))),
                        None => Ok(p
                            .active_producers
                            .into_iter()
                            .map(|s| ProducerState {
                                producer_id: s.producer_id.0,
                                producer_epoch: s.producer_epoch,
                                last_sequence: s.last_sequence,
                                last_timestamp: s.last_timestamp,
                                coordinator_epoch: non_negative(s.coordinator_epoch),
                                current_transaction_start_offset: non_negative(
                                    s.current_txn_start_offset,
                                ),
                            })
                            .collect()),
                    };
                    out.insert(tp, result);
                }
            }
            for (topic, partitions) in topics {
                for p in partitions {
                    out.entry(TopicPartition::new(topic.clone(), p))
                        .or_insert_with(|| {
                            Err((
                                ErrorCode::UNKNOWN_SERVER_ERROR,
                                Some("no answer".to_owned()),
                            ))
                        });
                }
            }
        }
        Ok(out)
    }

    /// Aborts a producer's open transaction on one partition, as
    /// Admin.abortTransaction does: WriteTxnMarkers (an abort marker) sent
    /// to the partition's leader.
    pub async fn abort_transaction(&mut self, spec: &AbortTransactionSpec) -> Result<(), Error> {
        let tp = &spec.partition;
        let metadata = self.metadata(Some(std::slice::from_ref(&tp.topic))).await?;
        let leader = metadata
            .leader(tp)
            .map_err(|code| kafka(ApiKey::WriteTxnMarkers, code, None))?
            .addr();
        let resp = self
            .send(&leader, |_| Ok(abort_marker_request(spec)))
            .await?;
        abort_marker_result(spec, resp)
    }
}

fn description(
    coordinator_id: i32,
    t: describe_transactions_response::TransactionState,
) -> TransactionDescription {
    let mut topic_partitions: Vec<TopicPartition> = t
        .topics
        .iter()
        .flat_map(|topic| {
            topic
                .partitions
                .iter()
                .map(|&p| TopicPartition::new(topic.topic.0.to_string(), p))
        })
        .collect();
    topic_partitions.sort();
    TransactionDescription {
        coordinator_id,
        transactional_id: t.transactional_id.0.to_string(),
        state: t.transaction_state.to_string(),
        producer_id: t.producer_id.0,
        producer_epoch: t.producer_epoch,
        transaction_timeout_ms: t.transaction_timeout_ms,
        transaction_start_time_ms: non_negative(t.transaction_start_time_ms),
        topic_partitions,
    }
}

/// The WriteTxnMarkers request of Admin.abortTransaction: one abort marker
/// (transaction_result false) for one partition.
pub(crate) fn abort_marker_request(spec: &AbortTransactionSpec) -> WriteTxnMarkersRequest {
    let mut topic = write_txn_markers_request::WritableTxnMarkerTopic::default();
    topic.name = TopicName(str_bytes(&spec.partition.topic));
    topic.partition_indexes = vec![spec.partition.partition];
    let mut marker = write_txn_markers_request::WritableTxnMarker::default();
    marker.producer_id = ProducerId(spec.producer_id);
    marker.producer_epoch = spec.producer_epoch;
    marker.transaction_result = false;
    marker.coordinator_epoch = spec.coordinator_epoch;
    marker.topics = vec![topic];
    let mut req = WriteTxnMarkersRequest::default();
    req.markers = vec![marker];
    req
}

/// The partition's outcome in a WriteTxnMarkers answer.
pub(crate) fn abort_marker_result(
    spec: &AbortTransactionSpec,
    resp: WriteTxnMarkersResponse,
) -> Result<(), Error> {
    let code = resp
        .markers
        .iter()
        .filter(|m| m.producer_id.0 == spec.producer_id)
        .flat_map(|m| m.topics.iter())
        .filter(|t| t.name.0.as_str() == spec.partition.topic)
        .flat_map(|t| t.partitions.iter())
        .find(|p| p.partition_index == spec.partition.partition)
        .map(|p| p.error_code);
    match code {
        Some(0) => Ok(()),
        Some(code) => Err(kafka(ApiKey::WriteTxnMarkers, ErrorCode(code), None)),
        None => Err(kafka(
            ApiKey::WriteTxnMarkers,
            ErrorCode::UNKNOWN_SERVER_ERROR,
            Some(format!("the answer does not mention {}", spec.partition)),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> AbortTransactionSpec {
        AbortTransactionSpec {
            partition: TopicPartition::new("orders", 3),
            producer_id: 4000,
            producer_epoch: 7,
            coordinator_epoch: 2,
        }
    }

    #[test]
    fn the_abort_request_carries_one_abort_marker_for_the_partition() {
        let req = abort_marker_request(&spec());
        assert_eq!(req.markers.len(), 1);
        let m = &req.markers[0];
        assert_eq!(
            (m.producer_id.0, m.producer_epoch, m.coordinator_epoch),
            (4000, 7, 2)
        );
        assert!(!m.transaction_result, "an abort, not a commit");
        assert_eq!(m.topics.len(), 1);
        assert_eq!(m.topics[0].name.0.as_str(), "orders");
        assert_eq!(m.topics[0].partition_indexes, vec![3]);
    }

    fn answer(producer_id: i64, partition: i32, code: i16) -> WriteTxnMarkersResponse {
        let mut p = write_txn_markers_response::WritableTxnMarkerPartitionResult::default();
        p.partition_index = partition;
        p.error_code = code;
        let mut t = write_txn_markers_response::WritableTxnMarkerTopicResult::default();
        t.name = TopicName(str_bytes("orders"));
        t.partitions = vec![p];
        let mut m = write_txn_markers_response::WritableTxnMarkerResult::default();
        m.producer_id = ProducerId(producer_id);
        m.topics = vec![t];
        let mut resp = WriteTxnMarkersResponse::default();
        resp.markers = vec![m];
        resp
    }

    #[test]
    fn the_abort_outcome_is_the_partitions_error_code() {
        assert!(abort_marker_result(&spec(), answer(4000, 3, 0)).is_ok());
        // PRODUCER_FENCED (90) for the partition.
        let e = abort_marker_result(&spec(), answer(4000, 3, 90)).unwrap_err();
        assert_eq!(e.kafka_code(), Some(ErrorCode(90)));
        // An answer about another partition or producer is no success.
        let e = abort_marker_result(&spec(), answer(4000, 2, 0)).unwrap_err();
        assert_eq!(e.kafka_code(), Some(ErrorCode::UNKNOWN_SERVER_ERROR));
        let e = abort_marker_result(&spec(), answer(4001, 3, 0)).unwrap_err();
        assert_eq!(e.kafka_code(), Some(ErrorCode::UNKNOWN_SERVER_ERROR));
    }

    #[test]
    fn descriptions_list_partitions_sorted_and_no_start_time_as_none() {
        let mut topic = describe_transactions_response::TopicData::default();
        topic.topic = TopicName(str_bytes("b"));
        topic.partitions = vec![2, 0];
        let mut other = describe_transactions_response::TopicData::default();
        other.topic = TopicName(str_bytes("a"));
        other.partitions = vec![5];
        let mut t = describe_transactions_response::TransactionState::default();
        t.transactional_id = TransactionalId(str_bytes("tx"));
        t.transaction_state = str_bytes("Empty");
        t.transaction_start_time_ms = -1;
        t.producer_id = ProducerId(9);
        t.producer_epoch = 1;
        t.transaction_timeout_ms = 60000;
        t.topics = vec![topic, other];
        let d = description(3, t);
        assert_eq!(d.coordinator_id, 3);
        assert_eq!(d.transaction_start_time_ms, None);
        let names: Vec<String> = d.topic_partitions.iter().map(|tp| tp.to_string()).collect();
        assert_eq!(names, ["a-5", "b-0", "b-2"]);
    }
}
