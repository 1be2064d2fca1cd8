//! ListPartitionReassignments (API 46): the reassignments in progress
//! (`kafka-reassign-partitions.sh --verify`, the admin clients'
//! `listPartitionReassignments`), as the active controller has them.

use kafka_protocol::messages::list_partition_reassignments_response::{
    OngoingPartitionReassignment, OngoingTopicReassignment,
};
use kafka_protocol::messages::{
    BrokerId, ListPartitionReassignmentsRequest, ListPartitionReassignmentsResponse, TopicName,
};

use super::str_bytes;
use crate::broker::BrokerState;

pub(crate) async fn handle(
    state: &BrokerState,
    req: ListPartitionReassignmentsRequest,
) -> ListPartitionReassignmentsResponse {
    let mut resp = ListPartitionReassignmentsResponse::default();
    let topics = req.topics.map(|topics| {
        topics
            .into_iter()
            .map(|t| (t.name.0.to_string(), t.partition_indexes))
            .collect()
    });
    let ongoing = match state.controller.list_partition_reassignments(topics).await {
        Ok(ongoing) => ongoing,
        Err(e) => {
            resp.error_code = e.code();
            resp.error_message = Some(str_bytes(e.message()));
            return resp;
        }
    };
    let ids = |ids: &[i32]| ids.iter().map(|id| BrokerId(*id)).collect::<Vec<_>>();
    for reassignment in ongoing {
        let same_topic = resp
            .topics
            .last()
            .is_some_and(|t| t.name.0.as_str() == reassignment.topic);
        if !same_topic {
            let mut topic = OngoingTopicReassignment::default();
            topic.name = TopicName(str_bytes(&reassignment.topic));
            resp.topics.push(topic);
        }
        let mut p = OngoingPartitionReassignment::default();
        p.partition_index = reassignment.partition;
        p.replicas = ids(&reassignment.replicas);
        p.adding_replicas = ids(&reassignment.adding_replicas);
        p.removing_replicas = ids(&reassignment.removing_replicas);
        if let Some(topic) = resp.topics.last_mut() {
            topic.partitions.push(p);
        }
    }
    resp
}
