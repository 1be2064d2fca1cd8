//! TxnOffsetCommit (v0-5): a transactional producer commits a consumer
//! group's offsets as part of its transaction (`sendOffsetsToTransaction`);
//! from v5 (transactions v2) the request also adds the group's partition to
//! the transaction, as AddOffsetsToTxn did.
//! Routed to the group's shard like OffsetCommit; the records are written as
//! a transactional batch of the request's producer id and epoch, and stay
//! pending until the transaction coordinator's marker reaches that
//! `__consumer_offsets` partition. Partitions of unknown topics answer
//! UNKNOWN_TOPIC_OR_PARTITION and are not written, as in Kafka. With
//! `transaction.partition.verification.enable` the transaction coordinator
//! first confirms that the partition is in the transaction (KIP-890 part 1).

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use kafka_protocol::messages::{TopicName, TxnOffsetCommitRequest, TxnOffsetCommitResponse};

use strom_coordinator::api::{self, Reply};
use strom_coordinator::CONSUMER_OFFSETS_TOPIC;

use super::{opt_string, str_bytes, string};
use crate::broker::BrokerState;

pub(crate) async fn handle(
    state: &BrokerState,
    version: i16,
    req: TxnOffsetCommitRequest,
) -> TxnOffsetCommitResponse {
    let image = state.image();
    let topics: Vec<api::OffsetCommitTopic> = req
        .topics
        .iter()
        .map(|t| {
            let name = string(&t.name.0);
            let known = image.topic(&name);
            api::OffsetCommitTopic {
                partitions: t
                    .partitions
                    .iter()
                    .map(|p| api::OffsetCommitPartition {
                        partition_index: p.partition_index,
                        committed_offset: p.committed_offset,
                        committed_leader_epoch: p.committed_leader_epoch,
                        committed_metadata: opt_string(&p.committed_metadata),
                        precheck_error: if known
                            .is_some_and(|t| t.partitions.contains_key(&p.partition_index))
                        {
                            0
                        } else {
                            ResponseError::UnknownTopicOrPartition.code()
                        },
                    })
                    .collect(),
                name,
            }
        })
        .collect();
    let shape: Vec<(String, Vec<i32>)> = topics
        .iter()
        .map(|t| {
            (
                t.name.clone(),
                t.partitions.iter().map(|p| p.partition_index).collect(),
            )
        })
        .collect();
    let request = api::TxnOffsetCommitRequest {
        transactional_id: string(&req.transactional_id.0),
        group_id: string(&req.group_id.0),
        producer_id: req.producer_id.0,
        producer_epoch: req.producer_epoch,
        generation_id: req.generation_id,
        member_id: string(&req.member_id),
        group_instance_id: opt_string(&req.group_instance_id),
        topics,
    };
    let group_id = request.group_id.clone();
    let result = if group_id.is_empty() {
        Err(ResponseError::InvalidGroupId.code())
    } else {
        let index = state.groups.partition_for(&group_id);
        match verify(state, version, &request, index).await {
            Err(code) => Err(code),
            Ok(verification) => {
                state
                    .groups
                    .call_transactional(
                        index,
                        request.producer_id,
                        request.producer_epoch,
                        verification,
                        Box::new(move |shard, id, now| shard.txn_offset_commit(id, request, now)),
                    )
                    .await
            }
        }
    };
    let answered: api::OffsetCommitResponse = match result {
        Ok(Reply::TxnOffsetCommit(r)) => r,
        other => {
            let code = match other {
                Err(code) => code,
                Ok(_) => ResponseError::UnknownServerError.code(),
            };
            shape
                .into_iter()
                .map(|(t, ps)| (t, ps.into_iter().map(|p| (p, code)).collect()))
                .collect()
        }
    };
    let mut resp = TxnOffsetCommitResponse::default();
    resp.topics = answered
        .into_iter()
        .map(|(name, partitions)| {
            let mut t = TxnOffsetCommitResponseTopic::default();
            t.name = TopicName(str_bytes(&name));
            t.partitions = partitions
                .into_iter()
                .map(|(index, code)| {
                    let mut p = TxnOffsetCommitResponsePartition::default();
                    p.partition_index = index;
                    p.error_code = code;
                    p
                })
                .collect();
            t
        })
        .collect();
    resp
}

/// KIP-890 part 1, as for a Produce (`transaction.partition.verification.enable`):
/// before the producer's first offsets in this `__consumer_offsets` partition
/// in a transaction, the transaction coordinator confirms that the partition
/// is part of it (AddOffsetsToTxn added it), so a commit outside a
/// transaction cannot leave offsets pending for ever. `Ok(None)`:
/// verification is off; `Ok(Some(guard))`: append with it (`None` when the
/// transaction is already ongoing here). Errors as Kafka's coordinator maps
/// them (a coordinator not reachable: COORDINATOR_NOT_AVAILABLE, retried).
async fn verify(
    state: &BrokerState,
    version: i16,
    request: &api::TxnOffsetCommitRequest,
    index: i32,
) -> Result<Option<Option<u64>>, i16> {
    // TxnOffsetCommit v5+ comes from a transactions-v2 producer (KIP-890
    // part 2), which sends no AddOffsetsToTxn: the group's partition is added
    // to the transaction here, whatever the verification config.
    let supported = crate::txn_verification::Supported::for_txn_offset_commit(version);
    if !supported.adds()
        && !state
            .effective_config()
            .transaction_partition_verification_enable
    {
        return Ok(None);
    }
    let Some(partition) = state.groups.loaded_partition(index) else {
        // The shard answers NOT_COORDINATOR / COORDINATOR_LOAD_IN_PROGRESS.
        return Ok(Some(None));
    };
    let (producer_id, epoch) = (request.producer_id, request.producer_epoch);
    if !partition.needs_verification(producer_id, epoch) {
        return Ok(Some(None));
    }
    let guard = partition.start_verification(producer_id, epoch);
    let topic = TopicName(str_bytes(CONSUMER_OFFSETS_TOPIC));
    let answered = state
        .txn_verifier
        .verify(
            state,
            &request.transactional_id,
            producer_id,
            epoch,
            &[(topic.clone(), index)],
            supported,
        )
        .await;
    let code = answered
        .get(&(topic, index))
        .copied()
        .unwrap_or(ResponseError::InvalidTxnState.code());
    if code == 0 {
        return Ok(Some(Some(guard)));
    }
    partition.abandon_verification(producer_id, guard);
    // The verifier converts for a producer; the group coordinator answers
    // "retry elsewhere" as COORDINATOR_NOT_AVAILABLE (Kafka's mapping of
    // NOT_ENOUGH_REPLICAS for coordinator writes).
    Err(if code == ResponseError::NotEnoughReplicas.code() {
        ResponseError::CoordinatorNotAvailable.code()
    } else {
        code
    })
}
