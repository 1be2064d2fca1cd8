//! Authorization of the APIs whose handlers know nothing of it: each
//! function checks what Kafka checks, hands the handler only what is
//! allowed, and answers the rest with Kafka's error, so a denied request
//! (or part of one) changes nothing.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::create_topics_response::CreatableTopicResult;
use kafka_protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::*;
use strom_metadata::acl::{AclOperation, ResourceType, CLUSTER_RESOURCE_NAME};

use crate::authz::Authz;
use crate::broker::BrokerState;
use crate::handlers;

const TOPIC_DENIED: i16 = ResponseError::TopicAuthorizationFailed.code();
const GROUP_DENIED: i16 = ResponseError::GroupAuthorizationFailed.code();

pub(crate) fn list_offsets(
    state: &BrokerState,
    version: i16,
    authz: &Authz<'_>,
    mut req: ListOffsetsRequest,
) -> ListOffsetsResponse {
    let (allowed, denied): (Vec<_>, Vec<_>) = std::mem::take(&mut req.topics)
        .into_iter()
        .partition(|t| authz.topic(AclOperation::Describe, &t.name.0));
    req.topics = allowed;
    let mut resp = handlers::list_offsets::handle(state, version, req);
    for t in denied {
        resp.topics.push(
            ListOffsetsTopicResponse::default()
                .with_name(t.name)
                .with_partitions(
                    t.partitions
                        .iter()
                        .map(|p| {
                            ListOffsetsPartitionResponse::default()
                                .with_partition_index(p.partition_index)
                                .with_error_code(TOPIC_DENIED)
                                .with_timestamp(-1)
                                .with_offset(-1)
                                .with_leader_epoch(-1)
                        })
                        .collect(),
                ),
        );
    }
    resp
}

pub(crate) async fn create_topics(
    state: &BrokerState,
    version: i16,
    authz: &Authz<'_>,
    mut req: CreateTopicsRequest,
    quota: crate::quota::MutationQuota<'_>,
) -> CreateTopicsResponse {
    let on_cluster = authz.cluster(AclOperation::Create);
    let (allowed, denied): (Vec<_>, Vec<_>) = std::mem::take(&mut req.topics)
        .into_iter()
        .partition(|t| on_cluster || authz.topic(AclOperation::Create, &t.name.0));
    req.topics = allowed;
    let mut resp = if req.topics.is_empty() {
        CreateTopicsResponse::default()
    } else {
        handlers::create_topics::handle(state, version, req, quota).await
    };
    for t in denied {
        resp.topics.push(
            CreatableTopicResult::default()
                .with_name(t.name)
                .with_error_code(TOPIC_DENIED)
                .with_error_message(Some(handlers::str_bytes("Authorization failed.")))
                .with_num_partitions(-1)
                .with_replication_factor(-1),
        );
    }
    resp
}

pub(crate) async fn delete_topics(
    state: &BrokerState,
    version: i16,
    authz: &Authz<'_>,
    mut req: DeleteTopicsRequest,
    quota: crate::quota::MutationQuota<'_>,
) -> DeleteTopicsResponse {
    let image = state.image();
    let name_of = |name: &Option<TopicName>, id: &uuid::Uuid| -> Option<String> {
        match name {
            Some(n) => Some(n.0.to_string()),
            None => image
                .topic_by_id(strom_metadata::TopicId::from_bytes(*id.as_bytes()))
                .map(|t| t.name.clone()),
        }
    };
    let mut denied = Vec::new();
    // v0-5 name topics in topic_names, v6 in topics (by name or id).
    let names = std::mem::take(&mut req.topic_names);
    for n in names {
        if authz.topic(AclOperation::Delete, &n.0) {
            req.topic_names.push(n);
        } else {
            denied.push((Some(n), uuid::Uuid::nil()));
        }
    }
    let topics = std::mem::take(&mut req.topics);
    for t in topics {
        match name_of(&t.name, &t.topic_id) {
            Some(n) if !authz.topic(AclOperation::Delete, &n) => {
                denied.push((t.name.clone(), t.topic_id))
            }
            _ => req.topics.push(t),
        }
    }
    let mut resp = if req.topics.is_empty() && req.topic_names.is_empty() {
        DeleteTopicsResponse::default()
    } else {
        handlers::delete_topics::handle(state, version, req, quota).await
    };
    for (name, id) in denied {
        resp.responses.push(
            DeletableTopicResult::default()
                .with_name(name)
                .with_topic_id(id)
                .with_error_code(TOPIC_DENIED),
        );
    }
    resp
}

pub(crate) async fn create_partitions(
    state: &BrokerState,
    version: i16,
    authz: &Authz<'_>,
    mut req: CreatePartitionsRequest,
    quota: crate::quota::MutationQuota<'_>,
) -> CreatePartitionsResponse {
    let (allowed, denied): (Vec<_>, Vec<_>) = std::mem::take(&mut req.topics)
        .into_iter()
        .partition(|t| authz.topic(AclOperation::Alter, &t.name.0));
    req.topics = allowed;
    let mut resp = if req.topics.is_empty() {
        CreatePartitionsResponse::default()
    } else {
        handlers::create_partitions::handle(state, version, req, quota).await
    };
    for t in denied {
        resp.results.push(
            CreatePartitionsTopicResult::default()
                .with_name(t.name)
                .with_error_code(TOPIC_DENIED),
        );
    }
    resp
}

pub(crate) fn delete_records(
    state: &BrokerState,
    authz: &Authz<'_>,
    mut req: DeleteRecordsRequest,
) -> DeleteRecordsResponse {
    let (allowed, denied): (Vec<_>, Vec<_>) = std::mem::take(&mut req.topics)
        .into_iter()
        .partition(|t| authz.topic(AclOperation::Delete, &t.name.0));
    req.topics = allowed;
    let mut resp = handlers::delete_records::handle(state, req);
    for t in denied {
        resp.topics.push(
            DeleteRecordsTopicResult::default()
                .with_name(t.name)
                .with_partitions(
                    t.partitions
                        .iter()
                        .map(|p| {
                            DeleteRecordsPartitionResult::default()
                                .with_partition_index(p.partition_index)
                                .with_low_watermark(-1)
                                .with_error_code(TOPIC_DENIED)
                        })
                        .collect(),
                ),
        );
    }
    resp
}

/// READ on the group, or every partition answers GROUP_AUTHORIZATION_FAILED;
/// then READ on each topic.
pub(crate) async fn offset_commit(
    state: &BrokerState,
    version: i16,
    authz: &Authz<'_>,
    mut req: OffsetCommitRequest,
) -> OffsetCommitResponse {
    let answer =
        |topics: Vec<kafka_protocol::messages::offset_commit_request::OffsetCommitRequestTopic>,
         code: i16| {
            topics
                .into_iter()
                .map(|t| {
                    OffsetCommitResponseTopic::default()
                        .with_name(t.name)
                        .with_topic_id(t.topic_id)
                        .with_partitions(
                            t.partitions
                                .iter()
                                .map(|p| {
                                    OffsetCommitResponsePartition::default()
                                        .with_partition_index(p.partition_index)
                                        .with_error_code(code)
                                })
                                .collect(),
                        )
                })
                .collect::<Vec<_>>()
        };
    if !authz.group(AclOperation::Read, &req.group_id.0) {
        return OffsetCommitResponse::default().with_topics(answer(req.topics, GROUP_DENIED));
    }
    let image = state.image();
    let readable =
        |t: &kafka_protocol::messages::offset_commit_request::OffsetCommitRequestTopic| {
            let name = if version >= 10 {
                image
                    .topic_by_id(strom_metadata::TopicId::from_bytes(*t.topic_id.as_bytes()))
                    .map(|ti| ti.name.clone())
            } else {
                Some(t.name.0.to_string())
            };
            name.is_none_or(|n| authz.topic(AclOperation::Read, &n))
        };
    let (allowed, denied): (Vec<_>, Vec<_>) = std::mem::take(&mut req.topics)
        .into_iter()
        .partition(readable);
    req.topics = allowed;
    let mut resp = if req.topics.is_empty() {
        OffsetCommitResponse::default()
    } else {
        handlers::offset_commit::handle(state, version, req).await
    };
    resp.topics.extend(answer(denied, TOPIC_DENIED));
    resp
}

const CLUSTER_DENIED: i16 = ResponseError::ClusterAuthorizationFailed.code();
const TXN_DENIED: i16 = ResponseError::TransactionalIdAuthorizationFailed.code();

/// DESCRIBE on each group: a group without it is answered
/// GROUP_AUTHORIZATION_FAILED and nothing about it.
pub(crate) fn describe_groups_answer(
    authz: &Authz<'_>,
    include_operations: bool,
    resp: &mut DescribeGroupsResponse,
) {
    for g in &mut resp.groups {
        if !authz.group(AclOperation::Describe, &g.group_id.0) {
            *g = kafka_protocol::messages::describe_groups_response::DescribedGroup::default()
                .with_group_id(g.group_id.clone())
                .with_error_code(GROUP_DENIED)
                .with_authorized_operations(i32::MIN);
        } else if include_operations {
            g.authorized_operations = authz.operations(ResourceType::Group, &g.group_id.0);
        }
    }
}

pub(crate) fn consumer_group_describe_answer(
    authz: &Authz<'_>,
    include_operations: bool,
    resp: &mut ConsumerGroupDescribeResponse,
) {
    for g in &mut resp.groups {
        if !authz.group(AclOperation::Describe, &g.group_id.0) {
            *g = kafka_protocol::messages::consumer_group_describe_response::DescribedGroup::default()
                .with_group_id(g.group_id.clone())
                .with_error_code(GROUP_DENIED)
                .with_authorized_operations(i32::MIN);
        } else if g.members.iter().any(|m| {
            m.assignment
                .topic_partitions
                .iter()
                .chain(&m.target_assignment.topic_partitions)
                .any(|tp| !authz.topic(AclOperation::Describe, &tp.topic_name.0))
        }) {
            // Kafka 4 (KAFKA-18813): a group whose assignments name a topic
            // the caller may not describe is not shown.
            *g = kafka_protocol::messages::consumer_group_describe_response::DescribedGroup::default()
                .with_group_id(g.group_id.clone())
                .with_error_code(TOPIC_DENIED)
                .with_error_message(Some(handlers::str_bytes("Topic authorization failed.")))
                .with_authorized_operations(i32::MIN);
        } else if include_operations {
            g.authorized_operations = authz.operations(ResourceType::Group, &g.group_id.0);
        }
    }
}

/// ConsumerGroupHeartbeat: READ on the group, then DESCRIBE on every
/// subscribed topic name (Kafka 4, KAFKA-18813): one denied topic answers
/// the whole heartbeat TOPIC_AUTHORIZATION_FAILED and the group is not
/// touched. (Regex subscriptions are answered INVALID_REQUEST by the
/// coordinator, so there is no regex to filter.)
pub(crate) fn consumer_group_heartbeat_denied(
    authz: &Authz<'_>,
    req: &ConsumerGroupHeartbeatRequest,
) -> Option<ConsumerGroupHeartbeatResponse> {
    if !authz.group(AclOperation::Read, &req.group_id.0) {
        return Some(
            ConsumerGroupHeartbeatResponse::default()
                .with_error_code(GROUP_DENIED)
                .with_error_message(Some(handlers::str_bytes("Group authorization failed."))),
        );
    }
    let denied = req
        .subscribed_topic_names
        .iter()
        .flatten()
        .any(|t| !authz.topic(AclOperation::Describe, &t.0));
    denied.then(|| {
        ConsumerGroupHeartbeatResponse::default()
            .with_error_code(TOPIC_DENIED)
            .with_error_message(Some(handlers::str_bytes("Topic authorization failed.")))
    })
}

pub(crate) async fn delete_groups(
    state: &BrokerState,
    authz: &Authz<'_>,
    mut req: DeleteGroupsRequest,
) -> DeleteGroupsResponse {
    let (allowed, denied): (Vec<_>, Vec<_>) = std::mem::take(&mut req.groups_names)
        .into_iter()
        .partition(|g| authz.group(AclOperation::Delete, &g.0));
    req.groups_names = allowed;
    let mut resp = if req.groups_names.is_empty() {
        DeleteGroupsResponse::default()
    } else {
        handlers::delete_groups::handle(state, req).await
    };
    for g in denied {
        resp.results.push(
            kafka_protocol::messages::delete_groups_response::DeletableGroupResult::default()
                .with_group_id(g)
                .with_error_code(GROUP_DENIED),
        );
    }
    resp
}

pub(crate) async fn offset_delete(
    state: &BrokerState,
    authz: &Authz<'_>,
    mut req: OffsetDeleteRequest,
) -> OffsetDeleteResponse {
    use kafka_protocol::messages::offset_delete_response::*;
    if !authz.group(AclOperation::Delete, &req.group_id.0) {
        return OffsetDeleteResponse::default().with_error_code(GROUP_DENIED);
    }
    let (allowed, denied): (Vec<_>, Vec<_>) = std::mem::take(&mut req.topics)
        .into_iter()
        .partition(|t| authz.topic(AclOperation::Read, &t.name.0));
    req.topics = allowed;
    let mut resp = handlers::offset_delete::handle(state, req).await;
    for t in denied {
        resp.topics.push(
            OffsetDeleteResponseTopic::default()
                .with_name(t.name)
                .with_partitions(
                    t.partitions
                        .iter()
                        .map(|p| {
                            OffsetDeleteResponsePartition::default()
                                .with_partition_index(p.partition_index)
                                .with_error_code(TOPIC_DENIED)
                        })
                        .collect(),
                ),
        );
    }
    resp
}

/// DESCRIBE on the group (GROUP_AUTHORIZATION_FAILED), then DESCRIBE on
/// each topic: left out when all topics were asked for, otherwise
/// TOPIC_AUTHORIZATION_FAILED per partition. Read-only, so the answer is
/// filtered after the handler.
pub(crate) async fn offset_fetch(
    state: &BrokerState,
    version: i16,
    authz: &Authz<'_>,
    req: OffsetFetchRequest,
) -> OffsetFetchResponse {
    let all_single = req.topics.is_none();
    let all_by_group: Vec<(String, bool)> = req
        .groups
        .iter()
        .map(|g| (g.group_id.0.to_string(), g.topics.is_none()))
        .collect();
    let single_group = req.group_id.0.to_string();
    let mut resp = handlers::offset_fetch::handle(state, version, req).await;
    if version < 8 {
        if !authz.group(AclOperation::Describe, &single_group) {
            return OffsetFetchResponse::default().with_error_code(GROUP_DENIED);
        }
        if all_single {
            resp.topics
                .retain(|t| authz.topic(AclOperation::Describe, &t.name.0));
        }
        for t in &mut resp.topics {
            if !authz.topic(AclOperation::Describe, &t.name.0) {
                for p in &mut t.partitions {
                    p.error_code = TOPIC_DENIED;
                    p.committed_offset = -1;
                    p.metadata = None;
                }
            }
        }
        return resp;
    }
    let image = state.image();
    for g in &mut resp.groups {
        if !authz.group(AclOperation::Describe, &g.group_id.0) {
            g.topics.clear();
            g.error_code = GROUP_DENIED;
            continue;
        }
        let all = all_by_group
            .iter()
            .find(|(id, _)| *id == *g.group_id.0)
            .is_some_and(|(_, all)| *all);
        let name =
            |t: &kafka_protocol::messages::offset_fetch_response::OffsetFetchResponseTopics| {
                if version >= 10 {
                    image
                        .topic_by_id(strom_metadata::TopicId::from_bytes(*t.topic_id.as_bytes()))
                        .map(|ti| ti.name.clone())
                        .unwrap_or_default()
                } else {
                    t.name.0.to_string()
                }
            };
        if all {
            g.topics
                .retain(|t| authz.topic(AclOperation::Describe, &name(t)));
        }
        for t in &mut g.topics {
            if !authz.topic(AclOperation::Describe, &name(t)) {
                for p in &mut t.partitions {
                    p.error_code = TOPIC_DENIED;
                    p.committed_offset = -1;
                    p.metadata = None;
                }
            }
        }
    }
    resp
}

/// WRITE on the transactional id, READ on the group, READ on each topic.
pub(crate) async fn txn_offset_commit(
    state: &BrokerState,
    version: i16,
    authz: &Authz<'_>,
    mut req: TxnOffsetCommitRequest,
) -> TxnOffsetCommitResponse {
    use kafka_protocol::messages::txn_offset_commit_response::*;
    let answer = |topics: Vec<
        kafka_protocol::messages::txn_offset_commit_request::TxnOffsetCommitRequestTopic,
    >,
                  code: i16| {
        topics
            .into_iter()
            .map(|t| {
                TxnOffsetCommitResponseTopic::default()
                    .with_name(t.name)
                    .with_partitions(
                        t.partitions
                            .iter()
                            .map(|p| {
                                TxnOffsetCommitResponsePartition::default()
                                    .with_partition_index(p.partition_index)
                                    .with_error_code(code)
                            })
                            .collect(),
                    )
            })
            .collect::<Vec<_>>()
    };
    if !authz.transactional_id(AclOperation::Write, &req.transactional_id.0) {
        return TxnOffsetCommitResponse::default().with_topics(answer(req.topics, TXN_DENIED));
    }
    if !authz.group(AclOperation::Read, &req.group_id.0) {
        return TxnOffsetCommitResponse::default().with_topics(answer(req.topics, GROUP_DENIED));
    }
    // As Kafka: the topics with READ are committed, the others answer
    // TOPIC_AUTHORIZATION_FAILED.
    let (allowed, denied): (Vec<_>, Vec<_>) = std::mem::take(&mut req.topics)
        .into_iter()
        .partition(|t| authz.topic(AclOperation::Read, &t.name.0));
    req.topics = allowed;
    let mut resp = if req.topics.is_empty() {
        TxnOffsetCommitResponse::default()
    } else {
        handlers::txn_offset_commit::handle(state, version, req).await
    };
    resp.topics.extend(answer(denied, TOPIC_DENIED));
    resp
}

/// The resource a config resource is authorized on, and the error for it.
fn config_resource(resource_type: i8, name: &str) -> (ResourceType, String, i16) {
    match resource_type {
        2 => (ResourceType::Topic, name.to_owned(), TOPIC_DENIED),
        32 => (ResourceType::Group, name.to_owned(), GROUP_DENIED),
        _ => (
            ResourceType::Cluster,
            CLUSTER_RESOURCE_NAME.to_owned(),
            CLUSTER_DENIED,
        ),
    }
}

pub(crate) fn describe_configs_answer(authz: &Authz<'_>, resp: &mut DescribeConfigsResponse) {
    for r in &mut resp.results {
        let (rt, name, code) = config_resource(r.resource_type, &r.resource_name);
        if !authz.allowed(AclOperation::DescribeConfigs, rt, &name) {
            r.configs.clear();
            r.error_code = code;
            r.error_message = None;
        }
    }
}

pub(crate) async fn alter_configs(
    state: &BrokerState,
    authz: &Authz<'_>,
    mut req: AlterConfigsRequest,
) -> AlterConfigsResponse {
    use kafka_protocol::messages::alter_configs_response::AlterConfigsResourceResponse;
    let (allowed, denied): (Vec<_>, Vec<_>) = std::mem::take(&mut req.resources)
        .into_iter()
        .partition(|r| {
            let (rt, name, _) = config_resource(r.resource_type, &r.resource_name);
            authz.allowed(AclOperation::AlterConfigs, rt, &name)
        });
    req.resources = allowed;
    let mut resp = if req.resources.is_empty() {
        AlterConfigsResponse::default()
    } else {
        handlers::alter_configs::handle_legacy(state, req).await
    };
    for r in denied {
        let (_, _, code) = config_resource(r.resource_type, &r.resource_name);
        resp.responses.push(
            AlterConfigsResourceResponse::default()
                .with_resource_type(r.resource_type)
                .with_resource_name(r.resource_name)
                .with_error_code(code),
        );
    }
    resp
}

pub(crate) async fn incremental_alter_configs(
    state: &BrokerState,
    authz: &Authz<'_>,
    mut req: IncrementalAlterConfigsRequest,
) -> IncrementalAlterConfigsResponse {
    use kafka_protocol::messages::incremental_alter_configs_response::AlterConfigsResourceResponse;
    let (allowed, denied): (Vec<_>, Vec<_>) = std::mem::take(&mut req.resources)
        .into_iter()
        .partition(|r| {
            let (rt, name, _) = config_resource(r.resource_type, &r.resource_name);
            authz.allowed(AclOperation::AlterConfigs, rt, &name)
        });
    req.resources = allowed;
    let mut resp = if req.resources.is_empty() {
        IncrementalAlterConfigsResponse::default()
    } else {
        handlers::alter_configs::handle_incremental(state, req).await
    };
    for r in denied {
        let (_, _, code) = config_resource(r.resource_type, &r.resource_name);
        resp.responses.push(
            AlterConfigsResourceResponse::default()
                .with_resource_type(r.resource_type)
                .with_resource_name(r.resource_name)
                .with_error_code(code),
        );
    }
    resp
}

pub(crate) fn describe_producers_answer(authz: &Authz<'_>, resp: &mut DescribeProducersResponse) {
    for t in &mut resp.topics {
        if !authz.topic(AclOperation::Read, &t.name.0) {
            for p in &mut t.partitions {
                p.error_code = TOPIC_DENIED;
                p.error_message = None;
                p.active_producers.clear();
            }
        }
    }
}

pub(crate) fn describe_transactions_answer(
    authz: &Authz<'_>,
    resp: &mut DescribeTransactionsResponse,
) {
    for t in &mut resp.transaction_states {
        // Only the partitions of topics the caller may describe, as Kafka.
        t.topics
            .retain(|tp| authz.topic(AclOperation::Describe, &tp.topic.0));
        if !authz.transactional_id(AclOperation::Describe, &t.transactional_id.0) {
            *t = kafka_protocol::messages::describe_transactions_response::TransactionState::default()
                .with_transactional_id(t.transactional_id.clone())
                .with_error_code(TXN_DENIED)
                .with_producer_id(ProducerId(-1))
                .with_producer_epoch(-1)
                .with_transaction_start_time_ms(-1);
        }
    }
}

pub(crate) fn list_transactions_answer(authz: &Authz<'_>, resp: &mut ListTransactionsResponse) {
    resp.transaction_states
        .retain(|t| authz.transactional_id(AclOperation::Describe, &t.transactional_id.0));
}

/// CLUSTER_ACTION on the cluster covers every topic; without it, DESCRIBE
/// on each topic (Kafka checks the same for followers and consumers).
pub(crate) fn offset_for_leader_epoch(
    state: &BrokerState,
    authz: &Authz<'_>,
    mut req: OffsetForLeaderEpochRequest,
) -> OffsetForLeaderEpochResponse {
    use kafka_protocol::messages::offset_for_leader_epoch_response::*;
    let cluster_ok = authz.cluster(AclOperation::ClusterAction);
    let (allowed, denied): (Vec<_>, Vec<_>) = std::mem::take(&mut req.topics)
        .into_iter()
        .partition(|t| cluster_ok || authz.topic(AclOperation::Describe, &t.topic.0));
    req.topics = allowed;
    let code = TOPIC_DENIED;
    let mut resp = handlers::offset_for_leader_epoch::handle(state, req);
    for t in denied {
        resp.topics.push(
            OffsetForLeaderTopicResult::default()
                .with_topic(t.topic)
                .with_partitions(
                    t.partitions
                        .iter()
                        .map(|p| {
                            EpochEndOffset::default()
                                .with_partition(p.partition)
                                .with_error_code(code)
                                .with_leader_epoch(-1)
                                .with_end_offset(-1)
                        })
                        .collect(),
                ),
        );
    }
    resp
}

/// Topics without DESCRIBE are left out of an all-topics answer and
/// answered TOPIC_AUTHORIZATION_FAILED when named (as Metadata).
pub(crate) fn describe_topic_partitions_answer(
    authz: &Authz<'_>,
    named: bool,
    resp: &mut DescribeTopicPartitionsResponse,
) {
    let name = |t: &kafka_protocol::messages::describe_topic_partitions_response::DescribeTopicPartitionsResponseTopic| {
        t.name.as_ref().map(|n| n.0.to_string()).unwrap_or_default()
    };
    if !named {
        resp.topics
            .retain(|t| authz.topic(AclOperation::Describe, &name(t)));
    }
    for t in &mut resp.topics {
        let n = name(t);
        if !authz.topic(AclOperation::Describe, &n) {
            t.error_code = TOPIC_DENIED;
            t.partitions.clear();
            t.topic_id = uuid::Uuid::nil();
            t.topic_authorized_operations = i32::MIN;
        } else if t.error_code == 0 {
            t.topic_authorized_operations = authz.operations(ResourceType::Topic, &n);
        }
    }
}

/// v4+ (brokers verifying transactions): CLUSTER_ACTION; v0-3 (producers):
/// WRITE on the transactional id and on each topic, and nothing is added
/// if anything is denied (the rest answer OPERATION_NOT_ATTEMPTED).
pub(crate) fn add_partitions_to_txn_denied(
    version: i16,
    authz: &Authz<'_>,
    req: &AddPartitionsToTxnRequest,
) -> Option<AddPartitionsToTxnResponse> {
    use kafka_protocol::messages::add_partitions_to_txn_response::*;
    if version >= 4 {
        return (!authz.cluster(AclOperation::ClusterAction))
            .then(|| AddPartitionsToTxnResponse::default().with_error_code(CLUSTER_DENIED));
    }
    let txn_ok = authz.transactional_id(AclOperation::Write, &req.v3_and_below_transactional_id.0);
    let topic_ok: Vec<bool> = req
        .v3_and_below_topics
        .iter()
        .map(|t| authz.topic(AclOperation::Write, &t.name.0))
        .collect();
    if txn_ok && topic_ok.iter().all(|ok| *ok) {
        return None;
    }
    let results = req
        .v3_and_below_topics
        .iter()
        .zip(topic_ok)
        .map(|(t, ok)| {
            let code = if !txn_ok {
                TXN_DENIED
            } else if !ok {
                TOPIC_DENIED
            } else {
                ResponseError::OperationNotAttempted.code()
            };
            AddPartitionsToTxnTopicResult::default()
                .with_name(t.name.clone())
                .with_results_by_partition(
                    t.partitions
                        .iter()
                        .map(|p| {
                            AddPartitionsToTxnPartitionResult::default()
                                .with_partition_index(*p)
                                .with_partition_error_code(code)
                        })
                        .collect(),
                )
        })
        .collect();
    Some(AddPartitionsToTxnResponse::default().with_results_by_topic_v3_and_below(results))
}

/// CLUSTER_ACTION, or every partition answers CLUSTER_AUTHORIZATION_FAILED.
pub(crate) fn write_txn_markers_denied(
    authz: &Authz<'_>,
    req: &WriteTxnMarkersRequest,
) -> Option<WriteTxnMarkersResponse> {
    use kafka_protocol::messages::write_txn_markers_response::*;
    if authz.cluster(AclOperation::ClusterAction) {
        return None;
    }
    Some(
        WriteTxnMarkersResponse::default().with_markers(
            req.markers
                .iter()
                .map(|m| {
                    WritableTxnMarkerResult::default()
                        .with_producer_id(m.producer_id)
                        .with_topics(
                            m.topics
                                .iter()
                                .map(|t| {
                                    WritableTxnMarkerTopicResult::default()
                                        .with_name(t.name.clone())
                                        .with_partitions(
                                            t.partition_indexes
                                                .iter()
                                                .map(|p| {
                                                    WritableTxnMarkerPartitionResult::default()
                                                        .with_partition_index(*p)
                                                        .with_error_code(CLUSTER_DENIED)
                                                })
                                                .collect(),
                                        )
                                })
                                .collect(),
                        )
                })
                .collect(),
        ),
    )
}

/// The message of a cluster-level denial: which operation was missing.
fn cluster_denied(operation: &str) -> Option<kafka_protocol::protocol::StrBytes> {
    Some(handlers::str_bytes(&format!(
        "Authorization failed: {operation} on the cluster is needed."
    )))
}

/// DescribeUserScramCredentials: DESCRIBE on CLUSTER, else the whole answer
/// is CLUSTER_AUTHORIZATION_FAILED (Kafka's top-level error).
pub(crate) fn describe_user_scram_credentials(
    state: &std::sync::Arc<BrokerState>,
    authz: &Authz<'_>,
    req: DescribeUserScramCredentialsRequest,
) -> DescribeUserScramCredentialsResponse {
    if !authz.cluster(AclOperation::Describe) {
        return DescribeUserScramCredentialsResponse::default()
            .with_error_code(CLUSTER_DENIED)
            .with_error_message(cluster_denied("DESCRIBE"));
    }
    handlers::user_scram_credentials::describe(state, req)
}

/// AlterUserScramCredentials: ALTER on CLUSTER, else every user's result is
/// CLUSTER_AUTHORIZATION_FAILED and nothing changes.
pub(crate) async fn alter_user_scram_credentials(
    state: &std::sync::Arc<BrokerState>,
    authz: &Authz<'_>,
    req: AlterUserScramCredentialsRequest,
) -> AlterUserScramCredentialsResponse {
    if authz.cluster(AclOperation::Alter) {
        return handlers::user_scram_credentials::alter(state, req).await;
    }
    let mut users: Vec<_> = req
        .deletions
        .iter()
        .map(|d| d.name.clone())
        .chain(req.upsertions.iter().map(|u| u.name.clone()))
        .collect();
    let mut seen = std::collections::HashSet::new();
    users.retain(|u| seen.insert(u.clone()));
    AlterUserScramCredentialsResponse::default().with_results(
        users
            .into_iter()
            .map(|user| {
                alter_user_scram_credentials_response::AlterUserScramCredentialsResult::default()
                    .with_user(user)
                    .with_error_code(CLUSTER_DENIED)
                    .with_error_message(cluster_denied("ALTER"))
            })
            .collect(),
    )
}

/// DescribeClientQuotas: DESCRIBE_CONFIGS on CLUSTER, else
/// CLUSTER_AUTHORIZATION_FAILED.
pub(crate) fn describe_client_quotas(
    state: &std::sync::Arc<BrokerState>,
    authz: &Authz<'_>,
    req: DescribeClientQuotasRequest,
) -> DescribeClientQuotasResponse {
    if !authz.cluster(AclOperation::DescribeConfigs) {
        return DescribeClientQuotasResponse::default()
            .with_error_code(CLUSTER_DENIED)
            .with_error_message(cluster_denied("DESCRIBE_CONFIGS"));
    }
    handlers::describe_client_quotas::handle(state, req)
}

/// AlterClientQuotas: ALTER_CONFIGS on CLUSTER, else every entry is
/// CLUSTER_AUTHORIZATION_FAILED and nothing changes.
pub(crate) async fn alter_client_quotas(
    state: &std::sync::Arc<BrokerState>,
    authz: &Authz<'_>,
    req: AlterClientQuotasRequest,
) -> AlterClientQuotasResponse {
    if authz.cluster(AclOperation::AlterConfigs) {
        return handlers::alter_client_quotas::handle(state, req).await;
    }
    AlterClientQuotasResponse::default().with_entries(
        req.entries
            .into_iter()
            .map(|e| {
                alter_client_quotas_response::EntryData::default()
                    .with_error_code(CLUSTER_DENIED)
                    .with_error_message(cluster_denied("ALTER_CONFIGS"))
                    .with_entity(
                        e.entity
                            .into_iter()
                            .map(|x| {
                                alter_client_quotas_response::EntityData::default()
                                    .with_entity_type(x.entity_type)
                                    .with_entity_name(x.entity_name)
                            })
                            .collect(),
                    )
            })
            .collect(),
    )
}

/// ElectLeaders without ALTER on the cluster: the top-level error (v1+; v0
/// has no such field and cannot be encoded with one) and the same error for
/// every partition asked for.
pub(crate) fn elect_leaders_denied(
    version: i16,
    req: &ElectLeadersRequest,
) -> ElectLeadersResponse {
    use kafka_protocol::messages::elect_leaders_response::*;
    ElectLeadersResponse::default()
        .with_error_code(if version >= 1 { CLUSTER_DENIED } else { 0 })
        .with_replica_election_results(
            req.topic_partitions
                .iter()
                .flatten()
                .map(|t| {
                    ReplicaElectionResult::default()
                        .with_topic(t.topic.clone())
                        .with_partition_result(
                            t.partitions
                                .iter()
                                .map(|p| {
                                    PartitionResult::default()
                                        .with_partition_id(*p)
                                        .with_error_code(CLUSTER_DENIED)
                                        .with_error_message(None)
                                })
                                .collect(),
                        )
                })
                .collect(),
        )
}
