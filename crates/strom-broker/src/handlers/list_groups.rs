//! ListGroups: every group of every shard this broker coordinates, with
//! the state (v4+) and type (v5+) filters.

use futures_util::future::join_all;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::{GroupId, ListGroupsRequest, ListGroupsResponse};

use strom_coordinator::api::Reply;

use super::{str_bytes, string};
use crate::broker::BrokerState;

pub(crate) async fn handle(state: &BrokerState, req: ListGroupsRequest) -> ListGroupsResponse {
    let mut resp = ListGroupsResponse::default();
    if state.groups.any_loading() {
        resp.error_code = ResponseError::CoordinatorLoadInProgress.code();
        return resp;
    }
    let states: Vec<String> = req.states_filter.iter().map(string).collect();
    let types: Vec<String> = req.types_filter.iter().map(string).collect();
    let calls = state.groups.loaded_partitions().into_iter().map(|index| {
        let (states, types) = (states.clone(), types.clone());
        async move {
            state
                .groups
                .call_partition(
                    index,
                    Box::new(move |shard, reply, _| shard.list_groups(reply, &states, &types)),
                )
                .await
        }
    });
    let mut listed = Vec::new();
    for result in join_all(calls).await {
        match result {
            Ok(Reply::ListGroups(gs)) => listed.extend(gs),
            Ok(_) => resp.error_code = ResponseError::UnknownServerError.code(),
            Err(code) => resp.error_code = code,
        }
    }
    listed.sort_by(|a, b| a.group_id.cmp(&b.group_id));
    resp.groups = listed
        .into_iter()
        .map(|g| {
            let mut out = ListedGroup::default();
            out.group_id = GroupId(str_bytes(&g.group_id));
            out.protocol_type = str_bytes(&g.protocol_type);
            out.group_state = str_bytes(&g.group_state);
            out.group_type = str_bytes(&g.group_type);
            out
        })
        .collect();
    resp
}
