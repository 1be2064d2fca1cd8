//! JoinGroup: the first phase of a classic rebalance. The answer may wait
//! until every member has rejoined (or the rebalance timeout); the shard
//! parks it. Advertised from v0 because librdkafka enables its balanced
//! consumer only if JoinGroup v0 is in the broker's range.

use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::{JoinGroupRequest, JoinGroupResponse};

use strom_coordinator::api::{self, Reply};

use super::{opt_str_bytes, opt_string, str_bytes, string};
use crate::broker::BrokerState;

pub(crate) async fn handle(
    state: &BrokerState,
    version: i16,
    req: JoinGroupRequest,
    client_id: &str,
    client_host: &str,
) -> JoinGroupResponse {
    let request = api::JoinGroupRequest {
        group_id: string(&req.group_id.0),
        member_id: string(&req.member_id),
        group_instance_id: opt_string(&req.group_instance_id),
        client_id: client_id.to_owned(),
        client_host: client_host.to_owned(),
        session_timeout_ms: req.session_timeout_ms,
        // v0 has no rebalance timeout: Kafka uses the session timeout.
        rebalance_timeout_ms: if version == 0 {
            req.session_timeout_ms
        } else {
            req.rebalance_timeout_ms
        },
        protocol_type: string(&req.protocol_type),
        protocols: req
            .protocols
            .iter()
            .map(|p| (string(&p.name), p.metadata.clone()))
            .collect(),
        require_known_member_id: version >= 4,
        supports_skip_assignment: version >= 9,
    };
    let group_id = request.group_id.clone();
    let member_id = request.member_id.clone();
    let result = state
        .groups
        .call(
            &group_id,
            Box::new(move |shard, id, now| shard.join_group(id, request, now)),
        )
        .await;
    let r = match result {
        Ok(Reply::JoinGroup(r)) => r,
        Ok(_) => api::JoinGroupResponse::error(
            kafka_protocol::error::ResponseError::UnknownServerError.code(),
            &member_id,
        ),
        Err(code) => api::JoinGroupResponse::error(code, &member_id),
    };
    let mut resp = JoinGroupResponse::default();
    resp.error_code = r.error_code;
    resp.generation_id = r.generation_id;
    resp.protocol_type = opt_str_bytes(&r.protocol_type);
    // Nullable only from v7.
    resp.protocol_name = match (&r.protocol_name, version >= 7) {
        (Some(n), _) => Some(str_bytes(n)),
        (None, true) => None,
        (None, false) => Some(str_bytes("")),
    };
    resp.leader = str_bytes(&r.leader);
    resp.skip_assignment = r.skip_assignment;
    resp.member_id = str_bytes(&r.member_id);
    resp.members = r
        .members
        .into_iter()
        .map(|m| {
            let mut out = JoinGroupResponseMember::default();
            out.member_id = str_bytes(&m.member_id);
            out.group_instance_id = opt_str_bytes(&m.group_instance_id);
            out.metadata = m.metadata;
            out
        })
        .collect();
    resp
}
