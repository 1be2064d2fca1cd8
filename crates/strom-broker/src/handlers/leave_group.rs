//! LeaveGroup: one member (v0-2) or a batch of them, by member or instance id (v3+).

use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::{LeaveGroupRequest, LeaveGroupResponse};

use strom_coordinator::api::{self, Reply};

use super::{opt_str_bytes, opt_string, str_bytes, string};
use crate::broker::BrokerState;

pub(crate) async fn handle(
    state: &BrokerState,
    version: i16,
    req: LeaveGroupRequest,
) -> LeaveGroupResponse {
    let members = if version < 3 {
        vec![(string(&req.member_id), None)]
    } else {
        req.members
            .iter()
            .map(|m| (string(&m.member_id), opt_string(&m.group_instance_id)))
            .collect()
    };
    let request = api::LeaveGroupRequest {
        group_id: string(&req.group_id.0),
        members,
    };
    let group_id = request.group_id.clone();
    let r = match state
        .groups
        .call(
            &group_id,
            Box::new(move |shard, id, now| shard.leave_group(id, request, now)),
        )
        .await
    {
        Ok(Reply::LeaveGroup(r)) => r,
        Ok(_) => api::LeaveGroupResponse {
            error_code: kafka_protocol::error::ResponseError::UnknownServerError.code(),
            members: vec![],
        },
        Err(code) => api::LeaveGroupResponse {
            error_code: code,
            members: vec![],
        },
    };
    let mut resp = LeaveGroupResponse::default();
    if version < 3 {
        // One member: its error is the request's.
        resp.error_code = if r.error_code != 0 {
            r.error_code
        } else {
            r.members.first().map(|m| m.2).unwrap_or(0)
        };
        return resp;
    }
    resp.error_code = r.error_code;
    resp.members = r
        .members
        .into_iter()
        .map(|(member_id, instance_id, error_code)| {
            let mut m = MemberResponse::default();
            m.member_id = str_bytes(&member_id);
            m.group_instance_id = opt_str_bytes(&instance_id);
            m.error_code = error_code;
            m
        })
        .collect();
    resp
}
