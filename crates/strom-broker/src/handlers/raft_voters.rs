//! AddRaftVoter (API 80) and RemoveRaftVoter (API 81), KIP-853: change the
//! controller quorum's voters at runtime (`strom metadata-quorum
//! add-controller / remove-controller`, kafka-metadata-quorum.sh). Any broker
//! answers; the active controller makes the change.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{
    AddRaftVoterRequest, AddRaftVoterResponse, RemoveRaftVoterRequest, RemoveRaftVoterResponse,
};
use kafka_protocol::protocol::StrBytes;

use super::str_bytes;
use crate::broker::BrokerState;

/// INCONSISTENT_CLUSTER_ID when the request names another cluster.
fn check_cluster(state: &BrokerState, cluster_id: &Option<StrBytes>) -> Option<(i16, String)> {
    let asked = cluster_id.as_ref()?.as_str();
    (!asked.is_empty() && asked != state.cluster_id).then(|| {
        (
            ResponseError::InconsistentClusterId.code(),
            format!(
                "The request is for cluster {asked}, but this is cluster {}.",
                state.cluster_id
            ),
        )
    })
}

pub(crate) async fn add(state: &BrokerState, req: AddRaftVoterRequest) -> AddRaftVoterResponse {
    let mut resp = AddRaftVoterResponse::default();
    let result = match check_cluster(state, &req.cluster_id) {
        Some(error) => Err(error),
        None => {
            // The voter's controller endpoint: the listener named as a
            // controller listener here, else the first one given.
            let names = &state.config.quorum.controller_listener_names;
            let listener = req
                .listeners
                .iter()
                .find(|l| {
                    names
                        .iter()
                        .any(|n| n.eq_ignore_ascii_case(l.name.as_str()))
                })
                .or_else(|| req.listeners.first());
            match listener {
                None => Err((
                    ResponseError::InvalidRequest.code(),
                    format!("AddRaftVoter for node {} names no listener.", req.voter_id),
                )),
                Some(l) => {
                    let host = l.host.as_str();
                    let address = if host.contains(':') {
                        format!("[{host}]:{}", l.port)
                    } else {
                        format!("{host}:{}", l.port)
                    };
                    state
                        .controller
                        .add_voter(req.voter_id, address)
                        .await
                        .map_err(|e| (e.code(), e.message().to_string()))
                }
            }
        }
    };
    if let Err((code, message)) = result {
        resp.error_code = code;
        resp.error_message = Some(str_bytes(&message));
    }
    resp
}

pub(crate) async fn remove(
    state: &BrokerState,
    req: RemoveRaftVoterRequest,
) -> RemoveRaftVoterResponse {
    let mut resp = RemoveRaftVoterResponse::default();
    let result = match check_cluster(state, &req.cluster_id) {
        Some(error) => Err(error),
        None => state
            .controller
            .remove_voter(req.voter_id)
            .await
            .map_err(|e| (e.code(), e.message().to_string())),
    };
    if let Err((code, message)) = result {
        resp.error_code = code;
        resp.error_message = Some(str_bytes(&message));
    }
    resp
}
