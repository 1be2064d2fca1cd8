//! Heartbeat: keeps a classic member's session and tells it when to rejoin.

use kafka_protocol::messages::{HeartbeatRequest, HeartbeatResponse};

use strom_coordinator::api::{self, Reply};

use super::{opt_string, string};
use crate::broker::BrokerState;

pub(crate) async fn handle(state: &BrokerState, req: HeartbeatRequest) -> HeartbeatResponse {
    let request = api::HeartbeatRequest {
        group_id: string(&req.group_id.0),
        generation_id: req.generation_id,
        member_id: string(&req.member_id),
        group_instance_id: opt_string(&req.group_instance_id),
    };
    let group_id = request.group_id.clone();
    let mut resp = HeartbeatResponse::default();
    resp.error_code = match state
        .groups
        .call(
            &group_id,
            Box::new(move |shard, id, now| shard.heartbeat(id, request, now)),
        )
        .await
    {
        Ok(Reply::Heartbeat(code)) => code,
        Ok(_) => kafka_protocol::error::ResponseError::UnknownServerError.code(),
        Err(code) => code,
    };
    resp
}
