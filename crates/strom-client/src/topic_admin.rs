//! Topics over the wire: CreateTopics, DeleteTopics and the topic
//! configurations of DescribeConfigs, sent to the bootstrap broker (any
//! broker forwards topic changes to the active controller).

use std::collections::BTreeMap;

use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

use crate::admin_client::{str_bytes, AdminClient};
use crate::error::{Error, ErrorCode};

/// DescribeConfigs' resource type of a topic.
const RESOURCE_TOPIC: i8 = 2;
/// DescribeConfigs' source of a value nobody set (Kafka's DEFAULT_CONFIG).
const SOURCE_DEFAULT: i8 = 5;

/// A topic to create: a partition count and replication factor (-1 for the
/// broker's defaults), or an explicit replica assignment per partition.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewTopic {
    pub name: String,
    pub num_partitions: i32,
    pub replication_factor: i16,
    /// Partition index → replicas (first is the preferred leader). When not
    /// empty, `num_partitions` and `replication_factor` must be -1.
    pub assignment: BTreeMap<i32, Vec<i32>>,
    pub configs: Vec<(String, String)>,
}

/// One topic's outcome: `None` for success, else Kafka's code and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicResult {
    pub name: String,
    pub error: Option<(ErrorCode, Option<String>)>,
}

/// One configuration of a resource, as DescribeConfigs reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigEntry {
    pub name: String,
    /// `None` when sensitive or unset.
    pub value: Option<String>,
    /// Kafka's ConfigSource code (1 dynamic topic, 4 static broker, 5 default, ...).
    pub source: i8,
    pub read_only: bool,
    pub is_sensitive: bool,
}

impl ConfigEntry {
    /// Whether the value is Kafka's default (what `kafka-topics.sh
    /// --describe` leaves out of `Configs:`).
    pub fn is_default(&self) -> bool {
        self.source == SOURCE_DEFAULT
    }
}

fn topic_result(name: &str, code: i16, message: Option<&StrBytes>) -> TopicResult {
    TopicResult {
        name: name.to_owned(),
        error: ErrorCode::from_code(code).map(|c| (c, message.map(|m| m.to_string()))),
    }
}

impl AdminClient {
    /// Creates topics (CreateTopics); one result per topic.
    pub async fn create_topics(&mut self, topics: &[NewTopic]) -> Result<Vec<TopicResult>, Error> {
        let bootstrap = self.config().bootstrap_server.clone();
        let timeout_ms = self.config().api_timeout.as_millis().min(i32::MAX as u128) as i32;
        let resp = self
            .send(&bootstrap, |_| {
                let mut req = CreateTopicsRequest::default();
                req.timeout_ms = timeout_ms;
                req.topics = topics
                    .iter()
                    .map(|t| {
                        let mut c = create_topics_request::CreatableTopic::default();
                        c.name = TopicName(str_bytes(&t.name));
                        c.num_partitions = t.num_partitions;
                        c.replication_factor = t.replication_factor;
                        c.assignments = t
                            .assignment
                            .iter()
                            .map(|(&index, replicas)| {
                                let mut a =
                                    create_topics_request::CreatableReplicaAssignment::default();
                                a.partition_index = index;
                                a.broker_ids = replicas.iter().map(|&id| BrokerId(id)).collect();
                                a
                            })
                            .collect();
                        c.configs = t
                            .configs
                            .iter()
                            .map(|(k, v)| {
                                let mut cfg =
                                    create_topics_request::CreatableTopicConfig::default();
                                cfg.name = str_bytes(k);
                                cfg.value = Some(str_bytes(v));
                                cfg
                            })
                            .collect();
                        c
                    })
                    .collect();
                Ok(req)
            })
            .await?;
        Ok(resp
            .topics
            .iter()
            .map(|t| topic_result(t.name.0.as_str(), t.error_code, t.error_message.as_ref()))
            .collect())
    }

    /// Deletes topics by name (DeleteTopics); one result per topic.
    pub async fn delete_topics(&mut self, names: &[String]) -> Result<Vec<TopicResult>, Error> {
        let bootstrap = self.config().bootstrap_server.clone();
        let timeout_ms = self.config().api_timeout.as_millis().min(i32::MAX as u128) as i32;
        let resp = self
            .send(&bootstrap, |version| {
                let mut req = DeleteTopicsRequest::default();
                req.timeout_ms = timeout_ms;
                if version >= 6 {
                    req.topics = names
                        .iter()
                        .map(|n| {
                            let mut t = delete_topics_request::DeleteTopicState::default();
                            t.name = Some(TopicName(str_bytes(n)));
                            t
                        })
                        .collect();
                } else {
                    req.topic_names = names.iter().map(|n| TopicName(str_bytes(n))).collect();
                }
                Ok(req)
            })
            .await?;
        Ok(resp
            .responses
            .iter()
            .map(|t| {
                let name = t.name.as_ref().map_or("", |n| n.0.as_str());
                topic_result(name, t.error_code, t.error_message.as_ref())
            })
            .collect())
    }

    /// Every configuration of each topic (DescribeConfigs), or the topic's
    /// error (UNKNOWN_TOPIC_OR_PARTITION for one that does not exist).
    pub async fn describe_topic_configs(
        &mut self,
        topics: &[String],
    ) -> Result<BTreeMap<String, Result<Vec<ConfigEntry>, ErrorCode>>, Error> {
        let bootstrap = self.config().bootstrap_server.clone();
        let resp = self
            .send(&bootstrap, |_| {
                let mut req = DescribeConfigsRequest::default();
                req.resources = topics
                    .iter()
                    .map(|t| {
                        let mut r = describe_configs_request::DescribeConfigsResource::default();
                        r.resource_type = RESOURCE_TOPIC;
                        r.resource_name = str_bytes(t);
                        r.configuration_keys = None;
                        r
                    })
                    .collect();
                Ok(req)
            })
            .await?;
        Ok(resp
            .results
            .iter()
            .map(|r| {
                let outcome = match ErrorCode::from_code(r.error_code) {
                    Some(code) => Err(code),
                    None => Ok(r
                        .configs
                        .iter()
                        .map(|c| ConfigEntry {
                            name: c.name.to_string(),
                            value: c.value.as_ref().map(|v| v.to_string()),
                            source: c.config_source,
                            read_only: c.read_only,
                            is_sensitive: c.is_sensitive,
                        })
                        .collect()),
                };
                (r.resource_name.to_string(), outcome)
            })
            .collect())
    }
}
