//! OffsetFetch: one group with its topics (v1-7) or many groups (v8+); a
//! partition without a committed offset answers -1. With `require_stable`
//! (v7+, KIP-447) a partition with pending transactional offsets answers
//! UNSTABLE_OFFSET_COMMIT, and the consumer retries.

use futures_util::future::join_all;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use kafka_protocol::messages::{GroupId, OffsetFetchRequest, OffsetFetchResponse, TopicName};

use strom_coordinator::api::{self, Reply};

use super::{opt_str_bytes, opt_string, str_bytes, string};
use crate::broker::BrokerState;

pub(crate) async fn handle(
    state: &BrokerState,
    version: i16,
    req: OffsetFetchRequest,
) -> OffsetFetchResponse {
    let mut resp = OffsetFetchResponse::default();
    if version < 8 {
        let topics = req.topics.as_ref().map(|ts| {
            ts.iter()
                .map(|t| (string(&t.name.0), t.partition_indexes.clone()))
                .collect()
        });
        let request = api::OffsetFetchRequest {
            group_id: string(&req.group_id.0),
            topics,
            member_id: None,
            member_epoch: -1,
            // v7+ (KIP-447); false in older versions.
            require_stable: req.require_stable,
        };
        let shape = request.topics.clone();
        let r = fetch_one(state, request).await;
        // v0-1 carry errors per partition only.
        let partition_error = if version < 2 { r.error_code } else { 0 };
        let topics = if r.error_code != 0 {
            error_topics(shape.unwrap_or_default(), r.error_code)
        } else {
            r.topics
        };
        resp.error_code = r.error_code;
        resp.topics = topics
            .into_iter()
            .map(|(name, partitions)| {
                let mut t = OffsetFetchResponseTopic::default();
                t.name = TopicName(str_bytes(&name));
                t.partitions = partitions
                    .into_iter()
                    .map(|p| {
                        let mut out = OffsetFetchResponsePartition::default();
                        out.partition_index = p.partition_index;
                        out.committed_offset = p.committed_offset;
                        out.committed_leader_epoch = p.committed_leader_epoch;
                        out.metadata = opt_str_bytes(&p.metadata);
                        out.error_code = if partition_error != 0 {
                            partition_error
                        } else {
                            p.error_code
                        };
                        out
                    })
                    .collect();
                t
            })
            .collect();
        return resp;
    }
    let requests: Vec<api::OffsetFetchRequest> = req
        .groups
        .iter()
        .map(|g| api::OffsetFetchRequest {
            group_id: string(&g.group_id.0),
            topics: g.topics.as_ref().map(|ts| {
                ts.iter()
                    .map(|t| (string(&t.name.0), t.partition_indexes.clone()))
                    .collect()
            }),
            member_id: opt_string(&g.member_id),
            member_epoch: g.member_epoch,
            require_stable: req.require_stable,
        })
        .collect();
    let ids: Vec<String> = requests.iter().map(|r| r.group_id.clone()).collect();
    let results = join_all(requests.into_iter().map(|r| fetch_one(state, r))).await;
    resp.groups = ids
        .into_iter()
        .zip(results)
        .map(|(group_id, r)| {
            let mut g = OffsetFetchResponseGroup::default();
            g.group_id = GroupId(str_bytes(&group_id));
            g.error_code = r.error_code;
            g.topics = r
                .topics
                .into_iter()
                .map(|(name, partitions)| {
                    let mut t = OffsetFetchResponseTopics::default();
                    t.name = TopicName(str_bytes(&name));
                    t.partitions = partitions
                        .into_iter()
                        .map(|p| {
                            let mut out = OffsetFetchResponsePartitions::default();
                            out.partition_index = p.partition_index;
                            out.committed_offset = p.committed_offset;
                            out.committed_leader_epoch = p.committed_leader_epoch;
                            out.metadata = opt_str_bytes(&p.metadata);
                            out.error_code = p.error_code;
                            out
                        })
                        .collect();
                    t
                })
                .collect();
            g
        })
        .collect();
    resp
}

async fn fetch_one(
    state: &BrokerState,
    request: api::OffsetFetchRequest,
) -> api::OffsetFetchResponse {
    let group_id = request.group_id.clone();
    match state
        .groups
        .call(
            &group_id,
            Box::new(move |shard, id, _now| shard.offset_fetch(id, request)),
        )
        .await
    {
        Ok(Reply::OffsetFetch(r)) => r,
        Ok(_) => api::OffsetFetchResponse {
            error_code: ResponseError::UnknownServerError.code(),
            topics: vec![],
        },
        Err(code) => api::OffsetFetchResponse {
            error_code: code,
            topics: vec![],
        },
    }
}

fn error_topics(
    shape: Vec<(String, Vec<i32>)>,
    code: i16,
) -> Vec<(String, Vec<api::OffsetFetchPartition>)> {
    shape
        .into_iter()
        .map(|(t, ps)| {
            let partitions = ps
                .into_iter()
                .map(|p| api::OffsetFetchPartition {
                    partition_index: p,
                    committed_offset: -1,
                    committed_leader_epoch: -1,
                    metadata: Some(String::new()),
                    error_code: code,
                })
                .collect();
            (t, partitions)
        })
        .collect()
}
