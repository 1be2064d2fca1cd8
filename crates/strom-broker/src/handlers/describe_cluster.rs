use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::{BrokerId, DescribeClusterRequest, DescribeClusterResponse};

use super::str_bytes;
use crate::broker::BrokerState;

pub(crate) fn handle(
    state: &BrokerState,
    req: DescribeClusterRequest,
    listener: &str,
) -> DescribeClusterResponse {
    let mut resp = DescribeClusterResponse::default();
    // endpoint_type 2 asks for controller endpoints (KIP-919); in combined
    // mode the controllers are reached through the broker listener too.
    resp.endpoint_type = req.endpoint_type;
    resp.cluster_id = str_bytes(&state.cluster_id);
    resp.controller_id = BrokerId(state.node_id);
    resp.cluster_authorized_operations = i32::MIN;
    // v2 (KIP-1073) may ask for fenced brokers too, each marked.
    resp.brokers = state
        .brokers_with_state(listener, req.include_fenced_brokers)
        .into_iter()
        .map(|(b, fenced)| {
            let mut out = DescribeClusterBroker::default();
            out.broker_id = BrokerId(b.node_id);
            out.host = str_bytes(&b.host);
            out.port = b.port as i32;
            out.rack = b.rack.as_deref().map(str_bytes);
            out.is_fenced = fenced;
            out
        })
        .collect();
    resp
}
