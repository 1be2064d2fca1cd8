//! AlterPartitionReassignments (API 45): start, change or cancel partition
//! reassignments (`kafka-reassign-partitions.sh --execute / --cancel`),
//! decided by the active controller. The metadata moves at once (new
//! replicas added, the removed ones marked); the reassignment completes
//! when the new replicas have joined the ISR.

use kafka_protocol::messages::alter_partition_reassignments_response::{
    ReassignablePartitionResponse, ReassignableTopicResponse,
};
use kafka_protocol::messages::{
    AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse, TopicName,
};
use strom_controller::ReassignPartition;

use super::str_bytes;
use crate::broker::BrokerState;

pub(crate) async fn handle(
    state: &BrokerState,
    req: AlterPartitionReassignmentsRequest,
) -> AlterPartitionReassignmentsResponse {
    let mut resp = AlterPartitionReassignmentsResponse::default();
    let items: Vec<ReassignPartition> = req
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions.iter().map(|p| ReassignPartition {
                topic: t.name.0.to_string(),
                partition: p.partition_index,
                replicas: p
                    .replicas
                    .as_ref()
                    .map(|r| r.iter().map(|id| id.0).collect()),
            })
        })
        .collect();
    let outcomes = match state.controller.alter_partition_reassignments(items).await {
        Ok(outcomes) => outcomes,
        Err(e) => {
            resp.error_code = e.code();
            resp.error_message = Some(str_bytes(e.message()));
            return resp;
        }
    };
    // The outcomes come in request order, topic by topic.
    for outcome in outcomes {
        let same_topic = resp
            .responses
            .last()
            .is_some_and(|r| r.name.0.as_str() == outcome.topic);
        if !same_topic {
            let mut topic = ReassignableTopicResponse::default();
            topic.name = TopicName(str_bytes(&outcome.topic));
            resp.responses.push(topic);
        }
        let mut p = ReassignablePartitionResponse::default();
        p.partition_index = outcome.partition;
        p.error_code = outcome.error_code;
        p.error_message = outcome.error_message.as_deref().map(str_bytes);
        if let Some(topic) = resp.responses.last_mut() {
            topic.partitions.push(p);
        }
    }
    resp
}
