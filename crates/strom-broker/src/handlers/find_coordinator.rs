//! FindCoordinator. On a single node every group key maps to this broker.
//! librdkafka treats FindCoordinator v0 as the marker of a broker that
//! understands compressed batches, so it is advertised from v0. Until the
//! group coordinator lands, the group APIs themselves (JoinGroup,
//! OffsetCommit, ...) are not advertised, so clients report that the broker
//! lacks them instead of failing later. Transaction and share keys get
//! COORDINATOR_NOT_AVAILABLE: InitProducerId serves idempotent producers
//! only, and refuses a transactional id the same way.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};
use kafka_protocol::protocol::StrBytes;

use super::str_bytes;
use crate::broker::BrokerState;

const KEY_TYPE_GROUP: i8 = 0;

pub(crate) fn handle(state: &BrokerState, version: i16, req: FindCoordinatorRequest, listener: &str) -> FindCoordinatorResponse {
    let mut resp = FindCoordinatorResponse::default();
    if version < 4 {
        let c = coordinator(state, listener, req.key_type, req.key);
        resp.error_code = c.error_code;
        resp.error_message = c.error_message;
        resp.node_id = c.node_id;
        resp.host = c.host;
        resp.port = c.port;
    } else {
        resp.coordinators = req.coordinator_keys.into_iter().map(|k| coordinator(state, listener, req.key_type, k)).collect();
    }
    resp
}

fn coordinator(state: &BrokerState, listener: &str, key_type: i8, key: StrBytes) -> Coordinator {
    let mut c = Coordinator::default();
    c.key = key;
    if key_type == KEY_TYPE_GROUP {
        let me = state.advertised(listener);
        c.node_id = BrokerId(state.node_id);
        c.host = str_bytes(&me.host);
        c.port = me.port as i32;
    } else {
        c.node_id = BrokerId(-1);
        c.host = str_bytes("");
        c.port = -1;
        c.error_code = ResponseError::CoordinatorNotAvailable.code();
        c.error_message = Some(str_bytes("this broker does not run a transaction or share coordinator yet"));
    }
    c
}
