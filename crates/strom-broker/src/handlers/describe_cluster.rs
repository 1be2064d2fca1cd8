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
    resp.endpoint_type = req.endpoint_type;
    // endpoint_type 2 asks for controller endpoints (KIP-919), which only a
    // controller answers: Strom's controllers speak the quorum protocol on
    // their controller listener, not Kafka's, so a broker refuses as Kafka's
    // brokers do.
    if req.endpoint_type != 1 {
        resp.error_code = kafka_protocol::error::ResponseError::UnsupportedEndpointType.code();
        resp.error_message = Some(str_bytes(&format!(
            "Endpoint type {} is not served by brokers; ask for brokers (1).",
            req.endpoint_type
        )));
        return resp;
    }
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
