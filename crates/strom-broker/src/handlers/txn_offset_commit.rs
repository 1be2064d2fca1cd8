//! TxnOffsetCommit (v0-4; v5 is not advertised, see `api_table`): a transactional producer commits a consumer
//! group's offsets as part of its transaction (`sendOffsetsToTransaction`).
//! Routed to the group's shard like OffsetCommit; the records are written as
//! a transactional batch of the request's producer id and epoch, and stay
//! pending until the transaction coordinator's marker reaches that
//! `__consumer_offsets` partition. Partitions of unknown topics answer
//! UNKNOWN_TOPIC_OR_PARTITION and are not written, as in Kafka.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use kafka_protocol::messages::{TopicName, TxnOffsetCommitRequest, TxnOffsetCommitResponse};

use strom_coordinator::api::{self, Reply};

use super::{opt_string, str_bytes, string};
use crate::broker::BrokerState;

pub(crate) async fn handle(
    state: &BrokerState,
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
        state
            .groups
            .call_transactional(
                &group_id,
                request.producer_id,
                request.producer_epoch,
                Box::new(move |shard, id, now| shard.txn_offset_commit(id, request, now)),
            )
            .await
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
