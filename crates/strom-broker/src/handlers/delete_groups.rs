//! DeleteGroups: only empty groups; their offsets and metadata get tombstones.

use futures_util::future::join_all;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::{DeleteGroupsRequest, DeleteGroupsResponse, GroupId};

use strom_coordinator::api::Reply;

use super::{str_bytes, string};
use crate::broker::BrokerState;

pub(crate) async fn handle(state: &BrokerState, req: DeleteGroupsRequest) -> DeleteGroupsResponse {
    let ids: Vec<String> = req.groups_names.iter().map(|g| string(&g.0)).collect();
    let results = join_all(ids.iter().cloned().map(|group_id| async move {
        let id = group_id.clone();
        match state
            .groups
            .call(
                &id,
                Box::new(move |shard, reply, now| shard.delete_groups(reply, vec![group_id], now)),
            )
            .await
        {
            Ok(Reply::DeleteGroups(rs)) => rs
                .first()
                .map(|r| r.1)
                .unwrap_or(ResponseError::UnknownServerError.code()),
            Ok(_) => ResponseError::UnknownServerError.code(),
            Err(code) => code,
        }
    }))
    .await;
    let mut resp = DeleteGroupsResponse::default();
    resp.results = ids
        .into_iter()
        .zip(results)
        .map(|(id, code)| {
            let mut r = DeletableGroupResult::default();
            r.group_id = GroupId(str_bytes(&id));
            r.error_code = code;
            r
        })
        .collect();
    resp
}
