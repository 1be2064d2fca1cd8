//! OffsetDelete: removes a group's committed offsets for partitions it is
//! not subscribed to (GROUP_SUBSCRIBED_TO_TOPIC otherwise).

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use kafka_protocol::messages::{OffsetDeleteRequest, OffsetDeleteResponse, TopicName};

use strom_coordinator::api::{self, Reply};

use super::{str_bytes, string};
use crate::broker::BrokerState;

pub(crate) async fn handle(state: &BrokerState, req: OffsetDeleteRequest) -> OffsetDeleteResponse {
    let request = api::OffsetDeleteRequest {
        group_id: string(&req.group_id.0),
        topics: req
            .topics
            .iter()
            .map(|t| {
                (
                    string(&t.name.0),
                    t.partitions.iter().map(|p| p.partition_index).collect(),
                )
            })
            .collect(),
    };
    let group_id = request.group_id.clone();
    let r = match state
        .groups
        .call(
            &group_id,
            Box::new(move |shard, reply, now| shard.offset_delete(reply, request, now)),
        )
        .await
    {
        Ok(Reply::OffsetDelete(r)) => r,
        Ok(_) => api::OffsetDeleteResponse {
            error_code: ResponseError::UnknownServerError.code(),
            topics: vec![],
        },
        Err(code) => api::OffsetDeleteResponse {
            error_code: code,
            topics: vec![],
        },
    };
    let mut resp = OffsetDeleteResponse::default();
    resp.error_code = r.error_code;
    resp.topics = r
        .topics
        .into_iter()
        .map(|(name, partitions)| {
            let mut t = OffsetDeleteResponseTopic::default();
            t.name = TopicName(str_bytes(&name));
            t.partitions = partitions
                .into_iter()
                .map(|(index, code)| {
                    let mut p = OffsetDeleteResponsePartition::default();
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
