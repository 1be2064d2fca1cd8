//! SyncGroup: the leader hands in the assignment; every member gets its own.

use kafka_protocol::messages::{SyncGroupRequest, SyncGroupResponse};

use strom_coordinator::api::{self, Reply};

use super::{opt_str_bytes, opt_string, string};
use crate::broker::BrokerState;

pub(crate) async fn handle(state: &BrokerState, req: SyncGroupRequest) -> SyncGroupResponse {
    let request = api::SyncGroupRequest {
        group_id: string(&req.group_id.0),
        generation_id: req.generation_id,
        member_id: string(&req.member_id),
        group_instance_id: opt_string(&req.group_instance_id),
        protocol_type: opt_string(&req.protocol_type),
        protocol_name: opt_string(&req.protocol_name),
        assignments: req
            .assignments
            .iter()
            .map(|a| (string(&a.member_id), a.assignment.clone()))
            .collect(),
    };
    let group_id = request.group_id.clone();
    let r = match state
        .groups
        .call(
            &group_id,
            Box::new(move |shard, id, now| shard.sync_group(id, request, now)),
        )
        .await
    {
        Ok(Reply::SyncGroup(r)) => r,
        Ok(_) => api::SyncGroupResponse::error(
            kafka_protocol::error::ResponseError::UnknownServerError.code(),
        ),
        Err(code) => api::SyncGroupResponse::error(code),
    };
    let mut resp = SyncGroupResponse::default();
    resp.error_code = r.error_code;
    resp.protocol_type = opt_str_bytes(&r.protocol_type);
    resp.protocol_name = opt_str_bytes(&r.protocol_name);
    resp.assignment = r.assignment;
    resp
}
