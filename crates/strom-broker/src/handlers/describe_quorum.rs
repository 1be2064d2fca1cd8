//! DescribeQuorum (API 55): the controller quorum as the active controller
//! sees it, for `kafka-metadata-quorum.sh` and `strom metadata-quorum`. Any
//! broker answers; it asks the active controller (Kafka's brokers forward
//! this request too).

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_quorum_response::{
    Listener, Node, PartitionData, ReplicaState, TopicData,
};
use kafka_protocol::messages::{
    BrokerId, DescribeQuorumRequest, DescribeQuorumResponse, TopicName,
};
use strom_controller::ReplicaProgress;
use strom_metadata::CLUSTER_METADATA_TOPIC_NAME;

use super::str_bytes;
use crate::broker::BrokerState;

pub(crate) async fn handle(
    state: &BrokerState,
    version: i16,
    req: DescribeQuorumRequest,
) -> DescribeQuorumResponse {
    let mut resp = DescribeQuorumResponse::default();
    let asks_for_metadata_partition = req.topics.len() == 1
        && req.topics[0].topic_name.as_str() == CLUSTER_METADATA_TOPIC_NAME
        && req.topics[0].partitions.len() == 1
        && req.topics[0].partitions[0].partition_index == 0;
    if !asks_for_metadata_partition {
        resp.error_code = ResponseError::UnknownTopicOrPartition.code();
        if version >= 2 {
            resp.error_message = Some(str_bytes(&format!(
                "DescribeQuorum describes {CLUSTER_METADATA_TOPIC_NAME} partition 0 only"
            )));
        }
        return resp;
    }
    let quorum = match state.controller.describe_quorum().await {
        Ok(quorum) => quorum,
        Err(e) => {
            resp.error_code = e.code();
            if version >= 2 {
                resp.error_message = Some(str_bytes(e.message()));
            }
            return resp;
        }
    };
    let replica = |p: &ReplicaProgress| {
        let mut out = ReplicaState::default();
        out.replica_id = BrokerId(p.replica_id);
        out.log_end_offset = p.log_end_offset;
        out.last_fetch_timestamp = p.last_fetch_timestamp;
        out.last_caught_up_timestamp = p.last_caught_up_timestamp;
        out
    };
    let mut partition = PartitionData::default();
    partition.partition_index = 0;
    partition.leader_id = BrokerId(quorum.leader_id);
    partition.leader_epoch = quorum.leader_epoch;
    partition.high_watermark = quorum.high_watermark;
    partition.current_voters = quorum.voters.iter().map(replica).collect();
    partition.observers = quorum.observers.iter().map(replica).collect();
    let mut topic = TopicData::default();
    topic.topic_name = TopicName(str_bytes(CLUSTER_METADATA_TOPIC_NAME));
    topic.partitions = vec![partition];
    resp.topics = vec![topic];
    if version >= 2 {
        let listener_name = state
            .config
            .quorum
            .controller_listener_names
            .first()
            .cloned()
            .unwrap_or_else(|| "CONTROLLER".to_string());
        resp.nodes = quorum
            .endpoints
            .iter()
            .filter_map(|(id, address)| {
                let (host, port) = address.rsplit_once(':')?;
                let mut listener = Listener::default();
                listener.name = str_bytes(&listener_name);
                listener.host = str_bytes(host.trim_start_matches('[').trim_end_matches(']'));
                listener.port = port.parse().ok()?;
                let mut node = Node::default();
                node.node_id = BrokerId(*id);
                node.listeners = vec![listener];
                Some(node)
            })
            .collect();
    }
    resp
}
