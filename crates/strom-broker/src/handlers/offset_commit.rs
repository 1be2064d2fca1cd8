//! OffsetCommit: offsets go to the group's `__consumer_offsets` partition;
//! the answer leaves once they are written (and fsynced with
//! `strom.acks.all.fsync`). Partitions of unknown topics are answered
//! UNKNOWN_TOPIC_OR_PARTITION and not written, as Kafka does.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::{OffsetCommitRequest, OffsetCommitResponse, TopicName};

use strom_coordinator::api::{self, Reply};

use super::{opt_string, str_bytes, string};
use crate::broker::BrokerState;

pub(crate) async fn handle(
    state: &BrokerState,
    version: i16,
    req: OffsetCommitRequest,
) -> OffsetCommitResponse {
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
    let request = api::OffsetCommitRequest {
        group_id: string(&req.group_id.0),
        generation_id_or_member_epoch: req.generation_id_or_member_epoch,
        member_id: string(&req.member_id),
        group_instance_id: opt_string(&req.group_instance_id),
        topics,
        version,
    };
    let group_id = request.group_id.clone();
    let result = state
        .groups
        .call(
            &group_id,
            Box::new(move |shard, id, now| shard.offset_commit(id, request, now)),
        )
        .await;
    let answered: api::OffsetCommitResponse = match result {
        Ok(Reply::OffsetCommit(r)) => r,
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
    let mut resp = OffsetCommitResponse::default();
    resp.topics = answered
        .into_iter()
        .map(|(name, partitions)| {
            let mut t = OffsetCommitResponseTopic::default();
            t.name = TopicName(str_bytes(&name));
            t.partitions = partitions
                .into_iter()
                .map(|(index, code)| {
                    let mut p = OffsetCommitResponsePartition::default();
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
