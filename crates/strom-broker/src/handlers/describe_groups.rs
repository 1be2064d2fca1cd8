//! DescribeGroups: state, protocol and members of classic groups.

use futures_util::future::join_all;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::{DescribeGroupsRequest, DescribeGroupsResponse, GroupId};

use strom_coordinator::api::Reply;

use super::{opt_str_bytes, str_bytes, string};
use crate::broker::BrokerState;

pub(crate) async fn handle(
    state: &BrokerState,
    version: i16,
    req: DescribeGroupsRequest,
) -> DescribeGroupsResponse {
    let ids: Vec<String> = req.groups.iter().map(|g| string(&g.0)).collect();
    let described = join_all(ids.iter().cloned().map(|group_id| async move {
        let id = group_id.clone();
        match state
            .groups
            .call(
                &id,
                Box::new(move |shard, reply, _| {
                    shard.describe_groups(reply, vec![group_id], version)
                }),
            )
            .await
        {
            Ok(Reply::DescribeGroups(mut gs)) if gs.len() == 1 => Ok(gs.remove(0)),
            Ok(_) => Err(ResponseError::UnknownServerError.code()),
            Err(code) => Err(code),
        }
    }))
    .await;
    let mut resp = DescribeGroupsResponse::default();
    resp.groups = ids
        .into_iter()
        .zip(described)
        .map(|(group_id, d)| {
            let mut g = DescribedGroup::default();
            g.group_id = GroupId(str_bytes(&group_id));
            g.authorized_operations = i32::MIN;
            match d {
                Err(code) => {
                    g.error_code = code;
                    g.group_state = str_bytes("");
                }
                Ok(d) => {
                    g.error_code = d.error_code;
                    g.error_message = d.error_message.as_deref().map(str_bytes);
                    g.group_state = str_bytes(&d.group_state);
                    g.protocol_type = str_bytes(&d.protocol_type);
                    g.protocol_data = str_bytes(&d.protocol_data);
                    g.members = d
                        .members
                        .into_iter()
                        .map(|m| {
                            let mut out = DescribedGroupMember::default();
                            out.member_id = str_bytes(&m.member_id);
                            out.group_instance_id = opt_str_bytes(&m.group_instance_id);
                            out.client_id = str_bytes(&m.client_id);
                            out.client_host = str_bytes(&m.client_host);
                            out.member_metadata = m.member_metadata;
                            out.member_assignment = m.member_assignment;
                            out
                        })
                        .collect();
                }
            }
            g
        })
        .collect();
    resp
}
