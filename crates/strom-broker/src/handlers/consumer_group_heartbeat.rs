//! ConsumerGroupHeartbeat (KIP-848): joining, staying in and leaving a
//! consumer group whose assignment the coordinator computes. librdkafka uses
//! it with `group.protocol=consumer`.

use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::consumer_group_heartbeat_response::{Assignment, TopicPartitions};
use kafka_protocol::messages::{ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse};

use strom_coordinator::api::{self, Reply};
use strom_coordinator::TopicMetadata;
use strom_metadata::{MetadataImage, TopicId};

use super::{opt_str_bytes, opt_string, string};
use crate::broker::BrokerState;

/// The metadata image as the group coordinator sees topics.
pub(crate) struct ImageTopics(pub Arc<MetadataImage>);

impl TopicMetadata for ImageTopics {
    fn topic(&self, name: &str) -> Option<(uuid::Uuid, i32)> {
        let t = self.0.topic(name)?;
        Some((
            uuid::Uuid::from_bytes(t.topic_id.to_bytes()),
            t.partitions.len() as i32,
        ))
    }
}

impl ImageTopics {
    /// The name of a topic id, for answers that carry both.
    pub(crate) fn topic_name(&self, id: uuid::Uuid) -> Option<String> {
        self.0
            .topic_by_id(TopicId::from_bytes(*id.as_bytes()))
            .map(|t| t.name.clone())
    }
}

pub(crate) async fn handle(
    state: &BrokerState,
    req: ConsumerGroupHeartbeatRequest,
    client_id: &str,
    client_host: &str,
) -> ConsumerGroupHeartbeatResponse {
    let request = api::ConsumerHeartbeatRequest {
        group_id: string(&req.group_id.0),
        member_id: string(&req.member_id),
        member_epoch: req.member_epoch,
        instance_id: opt_string(&req.instance_id),
        rack_id: opt_string(&req.rack_id),
        rebalance_timeout_ms: req.rebalance_timeout_ms,
        subscribed_topic_names: req
            .subscribed_topic_names
            .as_ref()
            .map(|ts| ts.iter().map(|t| string(&t.0)).collect()),
        subscribed_topic_regex: opt_string(&req.subscribed_topic_regex),
        server_assignor: opt_string(&req.server_assignor),
        topic_partitions: req.topic_partitions.as_ref().map(|ts| {
            ts.iter()
                .map(|t| (t.topic_id, t.partitions.clone()))
                .collect()
        }),
        client_id: client_id.to_owned(),
        client_host: client_host.to_owned(),
    };
    tracing::debug!(?request, "ConsumerGroupHeartbeat");
    let topics = ImageTopics(state.image());
    let group_id = request.group_id.clone();
    let result = state
        .groups
        .call(
            &group_id,
            Box::new(move |shard, id, now| {
                shard.consumer_group_heartbeat(id, request, &topics, now)
            }),
        )
        .await;
    let r = match result {
        Ok(Reply::ConsumerGroupHeartbeat(r)) => r,
        Ok(_) => api::ConsumerHeartbeatResponse {
            error_code: ResponseError::UnknownServerError.code(),
            ..Default::default()
        },
        Err(code) => api::ConsumerHeartbeatResponse {
            error_code: code,
            member_epoch: -1,
            ..Default::default()
        },
    };
    let mut resp = ConsumerGroupHeartbeatResponse::default();
    resp.error_code = r.error_code;
    resp.error_message = opt_str_bytes(&r.error_message);
    resp.member_id = opt_str_bytes(&r.member_id);
    resp.member_epoch = r.member_epoch;
    resp.heartbeat_interval_ms = r.heartbeat_interval_ms;
    resp.assignment = r.assignment.map(|pairs| {
        let mut a = Assignment::default();
        a.topic_partitions = pairs
            .into_iter()
            .map(|(topic_id, partitions)| {
                let mut tp = TopicPartitions::default();
                tp.topic_id = topic_id;
                tp.partitions = partitions;
                tp
            })
            .collect();
        a
    });
    resp
}
