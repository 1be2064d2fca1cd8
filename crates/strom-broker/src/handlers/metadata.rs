use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{BrokerId, MetadataRequest, MetadataResponse, TopicName};
use tracing::info;
use uuid::Uuid;

use strom_metadata::TopicImage;

use strom_metadata::acl::{AclOperation, ResourceType, CLUSTER_RESOURCE_NAME};

use super::str_bytes;
use crate::authz::Authz;
use crate::broker::BrokerState;

/// Kafka's KafkaApis.handleTopicMetadataRequest, authorization included:
/// topics without DESCRIBE are left out of an all-topics answer and
/// answered TOPIC_AUTHORIZATION_FAILED when named; a missing topic is
/// auto-created only with CREATE on the cluster or on the topic (otherwise
/// TOPIC_AUTHORIZATION_FAILED, and nothing is created).
pub(crate) async fn handle(
    state: &BrokerState,
    version: i16,
    req: MetadataRequest,
    listener: &str,
    authz: &Authz<'_>,
) -> MetadataResponse {
    let mut image = state.image();
    let topic_ops = req.include_topic_authorized_operations;
    // v0 sends an empty list for "all topics"; v1+ sends null.
    let requested: Option<Vec<(Option<String>, Uuid)>> = match req.topics {
        None => None,
        Some(t) if t.is_empty() && version == 0 => None,
        Some(t) => Some(
            t.into_iter()
                .map(|t| (t.name.map(|n| n.0.to_string()), t.topic_id))
                .collect(),
        ),
    };
    // Kafka auto-creates topics named in a Metadata request (v4+ only when
    // the client allows it) if auto.create.topics.enable is on.
    let allow_auto_create = version < 4 || req.allow_auto_topic_creation;
    if let (Some(topics), true, true) = (
        &requested,
        allow_auto_create,
        state.config.auto_create_topics_enable,
    ) {
        let create_on_cluster = authz.cluster(AclOperation::Create);
        let missing: Vec<String> = topics
            .iter()
            .filter_map(|(n, _)| n.clone())
            .filter(|n| image.topic(n).is_none() && strom_metadata::validate_topic_name(n).is_ok())
            .filter(|n| authz.topic(AclOperation::Describe, n))
            .filter(|n| create_on_cluster || authz.topic(AclOperation::Create, n))
            .collect();
        if !missing.is_empty() {
            info!(topics = ?missing, "auto-creating topics");
            let _ = state.auto_create_topics(missing).await;
            image = state.image();
        }
    }

    let mut resp = MetadataResponse::default();
    resp.brokers = state
        .brokers(listener)
        .into_iter()
        .map(|b| {
            let mut out = MetadataResponseBroker::default();
            out.node_id = BrokerId(b.node_id);
            out.host = str_bytes(&b.host);
            out.port = b.port as i32;
            out.rack = b.rack.as_deref().map(str_bytes);
            out
        })
        .collect();
    resp.cluster_id = Some(str_bytes(&state.cluster_id));
    // As Kafka's KRaft brokers, name a live broker as the controller (this
    // one): it forwards admin requests to the active controller, and it is
    // certainly alive, where a cached id of a dead controller would leave
    // clients waiting until their next metadata refresh.
    resp.controller_id = BrokerId(state.node_id);
    resp.cluster_authorized_operations = if req.include_cluster_authorized_operations {
        authz.operations(ResourceType::Cluster, CLUSTER_RESOURCE_NAME)
    } else {
        i32::MIN
    };
    resp.topics = match requested {
        None => image
            .topics()
            .filter(|t| authz.topic(AclOperation::Describe, &t.name))
            .map(|t| topic_metadata(state, &image, t, authz, topic_ops))
            .collect(),
        Some(list) => list
            .into_iter()
            .map(|(name, id)| {
                let found = match &name {
                    Some(n) => image.topic(n),
                    None => image.topic_by_id(strom_metadata::TopicId::from_bytes(*id.as_bytes())),
                };
                let denied = match (&name, found) {
                    (Some(n), _) => {
                        !authz.topic(AclOperation::Describe, n)
                            || (found.is_none()
                                && allow_auto_create
                                && state.config.auto_create_topics_enable
                                && strom_metadata::validate_topic_name(n).is_ok()
                                && !authz.cluster(AclOperation::Create)
                                && !authz.topic(AclOperation::Create, n))
                    }
                    (None, Some(t)) => !authz.topic(AclOperation::Describe, &t.name),
                    (None, None) => false,
                };
                if denied {
                    let mut out = MetadataResponseTopic::default();
                    out.name = name.as_deref().map(|n| TopicName(str_bytes(n)));
                    out.error_code = match name {
                        Some(_) => ResponseError::TopicAuthorizationFailed.code(),
                        // By id, an unauthorized topic is not known to exist.
                        None => ResponseError::UnknownTopicId.code(),
                    };
                    out.topic_id = if name.is_some() { Uuid::nil() } else { id };
                    out.topic_authorized_operations = i32::MIN;
                    return out;
                }
                match found {
                    Some(t) => topic_metadata(state, &image, t, authz, topic_ops),
                    None => {
                        let mut out = MetadataResponseTopic::default();
                        out.name = name.as_deref().map(|n| TopicName(str_bytes(n)));
                        out.topic_id = id;
                        out.error_code = match &name {
                            Some(n) if strom_metadata::validate_topic_name(n).is_err() => {
                                ResponseError::InvalidTopicException.code()
                            }
                            Some(_) => ResponseError::UnknownTopicOrPartition.code(),
                            None => ResponseError::UnknownTopicId.code(),
                        };
                        out.topic_authorized_operations = i32::MIN;
                        out
                    }
                }
            })
            .collect(),
    };
    resp
}

fn topic_metadata(
    state: &BrokerState,
    image: &strom_metadata::MetadataImage,
    t: &TopicImage,
    authz: &Authz<'_>,
    include_operations: bool,
) -> MetadataResponseTopic {
    let mut out = MetadataResponseTopic::default();
    out.name = Some(TopicName(str_bytes(&t.name)));
    out.topic_id = Uuid::from_bytes(t.topic_id.to_bytes());
    out.is_internal = t.name.starts_with("__");
    out.topic_authorized_operations = if include_operations {
        authz.operations(ResourceType::Topic, &t.name)
    } else {
        i32::MIN
    };
    out.partitions = t
        .partitions
        .iter()
        .map(|(&index, p)| {
            let mut mp = MetadataResponsePartition::default();
            mp.partition_index = index;
            mp.leader_id = BrokerId(p.leader);
            mp.leader_epoch = p.leader_epoch;
            mp.replica_nodes = p.replicas.iter().map(|&r| BrokerId(r)).collect();
            mp.isr_nodes = p.isr.iter().map(|&r| BrokerId(r)).collect();
            // As Kafka's KRaft metadata cache: replicas on brokers that are
            // not alive are offline.
            mp.offline_replicas = p
                .replicas
                .iter()
                .filter(|&&r| !image.broker(r).is_some_and(|b| b.is_alive()))
                .map(|&r| BrokerId(r))
                .collect();
            if p.leader < 0 {
                mp.error_code = ResponseError::LeaderNotAvailable.code();
            } else if p.leader == state.node_id && state.replicas.is_offline(&t.name, index) {
                // Kafka's answer for a replica in a failed log directory: the
                // partition has no leader that can serve it.
                mp.error_code = ResponseError::KafkaStorageError.code();
                mp.leader_id = BrokerId(-1);
                mp.isr_nodes.retain(|&r| r != BrokerId(state.node_id));
                mp.offline_replicas = vec![BrokerId(state.node_id)];
            }
            mp
        })
        .collect();
    out
}
