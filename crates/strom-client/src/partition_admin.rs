//! Partition leadership and reassignment over the wire: ElectLeaders,
//! AlterPartitionReassignments and ListPartitionReassignments, sent to the
//! bootstrap broker (any broker forwards them to the active controller),
//! and the replicas' sizes on one broker (DescribeLogDirs), to follow a
//! reassignment's progress.

use std::collections::BTreeMap;

use kafka_protocol::messages::*;

use crate::admin_client::{str_bytes, AdminClient};
use crate::cluster::BrokerAddress;
use crate::error::{Error, ErrorCode};

/// Kafka's election types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElectionType {
    /// Make each partition's first replica its leader (0).
    Preferred,
    /// Give leaderless partitions a leader even from outside the ISR (1).
    Unclean,
}

/// One partition's result: `None` for success, else Kafka's code and
/// message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionResult {
    pub topic: String,
    pub partition: i32,
    pub error: Option<(ErrorCode, Option<String>)>,
}

/// A reassignment in progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionReassignment {
    pub topic: String,
    pub partition: i32,
    pub replicas: Vec<i32>,
    pub adding_replicas: Vec<i32>,
    pub removing_replicas: Vec<i32>,
}

fn result(topic: &str, partition: i32, code: i16, message: Option<String>) -> PartitionResult {
    PartitionResult {
        topic: topic.to_string(),
        partition,
        error: ErrorCode::from_code(code).map(|code| (code, message)),
    }
}

impl AdminClient {
    /// Elects leaders (ElectLeaders) of `partitions` (topic, partition
    /// indexes), or with `None` of every partition (then only those that
    /// needed an election are answered).
    pub async fn elect_leaders(
        &mut self,
        election_type: ElectionType,
        partitions: Option<&[(String, Vec<i32>)]>,
    ) -> Result<Vec<PartitionResult>, Error> {
        let bootstrap = self.config().bootstrap_server.clone();
        let timeout_ms = self.config().api_timeout.as_millis().min(i32::MAX as u128) as i32;
        let addr = bootstrap.clone();
        let resp = self
            .send(&addr, |version| {
                if version == 0 && election_type != ElectionType::Preferred {
                    return Err(Error::UnsupportedFeature {
                        addr: bootstrap.clone(),
                        api: ApiKey::ElectLeaders,
                        what: "run an unclean election",
                        needed: 1,
                        version,
                    });
                }
                let mut req = ElectLeadersRequest::default();
                req.election_type = match election_type {
                    ElectionType::Preferred => 0,
                    ElectionType::Unclean => 1,
                };
                req.timeout_ms = timeout_ms;
                req.topic_partitions = partitions.map(|named| {
                    named
                        .iter()
                        .map(|(topic, partitions)| {
                            let mut t = elect_leaders_request::TopicPartitions::default();
                            t.topic = TopicName(str_bytes(topic));
                            t.partitions = partitions.clone();
                            t
                        })
                        .collect()
                });
                Ok(req)
            })
            .await?;
        if let Some(code) = ErrorCode::from_code(resp.error_code) {
            return Err(Error::Kafka {
                api: ApiKey::ElectLeaders,
                code,
                message: None,
            });
        }
        Ok(resp
            .replica_election_results
            .iter()
            .flat_map(|t| {
                t.partition_result.iter().map(|p| {
                    result(
                        t.topic.0.as_str(),
                        p.partition_id,
                        p.error_code,
                        p.error_message.as_ref().map(|m| m.to_string()),
                    )
                })
            })
            .collect())
    }

    /// Starts, changes or cancels reassignments
    /// (AlterPartitionReassignments): per (topic, partition), the target
    /// replicas, or `None` to cancel the one in progress.
    pub async fn alter_partition_reassignments(
        &mut self,
        targets: &[(String, i32, Option<Vec<i32>>)],
    ) -> Result<Vec<PartitionResult>, Error> {
        let bootstrap = self.config().bootstrap_server.clone();
        let timeout_ms = self.config().api_timeout.as_millis().min(i32::MAX as u128) as i32;
        let resp = self
            .send(&bootstrap, |_| {
                let mut req = AlterPartitionReassignmentsRequest::default();
                req.timeout_ms = timeout_ms;
                for (topic, partition, replicas) in targets {
                    let mut p =
                        alter_partition_reassignments_request::ReassignablePartition::default();
                    p.partition_index = *partition;
                    p.replicas = replicas
                        .as_ref()
                        .map(|r| r.iter().map(|id| BrokerId(*id)).collect());
                    match req.topics.last_mut() {
                        Some(t) if t.name.0.as_str() == topic => t.partitions.push(p),
                        _ => {
                            let mut t =
                                alter_partition_reassignments_request::ReassignableTopic::default();
                            t.name = TopicName(str_bytes(topic));
                            t.partitions.push(p);
                            req.topics.push(t);
                        }
                    }
                }
                Ok(req)
            })
            .await?;
        if let Some(code) = ErrorCode::from_code(resp.error_code) {
            return Err(Error::Kafka {
                api: ApiKey::AlterPartitionReassignments,
                code,
                message: resp.error_message.as_ref().map(|m| m.to_string()),
            });
        }
        Ok(resp
            .responses
            .iter()
            .flat_map(|t| {
                t.partitions.iter().map(|p| {
                    result(
                        t.name.0.as_str(),
                        p.partition_index,
                        p.error_code,
                        p.error_message.as_ref().map(|m| m.to_string()),
                    )
                })
            })
            .collect())
    }

    /// The reassignments in progress (ListPartitionReassignments), of the
    /// named partitions or, with `None`, of all.
    pub async fn list_partition_reassignments(
        &mut self,
        partitions: Option<&[(String, Vec<i32>)]>,
    ) -> Result<Vec<PartitionReassignment>, Error> {
        let bootstrap = self.config().bootstrap_server.clone();
        let timeout_ms = self.config().api_timeout.as_millis().min(i32::MAX as u128) as i32;
        let resp = self
            .send(&bootstrap, |_| {
                let mut req = ListPartitionReassignmentsRequest::default();
                req.timeout_ms = timeout_ms;
                req.topics = partitions.map(|named| {
                    named
                        .iter()
                        .map(|(topic, partitions)| {
                            let mut t = list_partition_reassignments_request::ListPartitionReassignmentsTopics::default();
                            t.name = TopicName(str_bytes(topic));
                            t.partition_indexes = partitions.clone();
                            t
                        })
                        .collect()
                });
                Ok(req)
            })
            .await?;
        if let Some(code) = ErrorCode::from_code(resp.error_code) {
            return Err(Error::Kafka {
                api: ApiKey::ListPartitionReassignments,
                code,
                message: resp.error_message.as_ref().map(|m| m.to_string()),
            });
        }
        let ids = |ids: &[BrokerId]| ids.iter().map(|id| id.0).collect::<Vec<i32>>();
        Ok(resp
            .topics
            .iter()
            .flat_map(|t| {
                t.partitions.iter().map(|p| PartitionReassignment {
                    topic: t.name.0.to_string(),
                    partition: p.partition_index,
                    replicas: ids(&p.replicas),
                    adding_replicas: ids(&p.adding_replicas),
                    removing_replicas: ids(&p.removing_replicas),
                })
            })
            .collect())
    }

    /// The bytes of each of `partitions` that `broker` holds (DescribeLogDirs
    /// sent to that broker), over all its log directories; partitions it has
    /// no replica of are missing.
    pub async fn replica_sizes(
        &mut self,
        broker: &BrokerAddress,
        partitions: &[(String, Vec<i32>)],
    ) -> Result<BTreeMap<(String, i32), i64>, Error> {
        let resp = self
            .send(&broker.addr(), |_| {
                let mut req = DescribeLogDirsRequest::default();
                req.topics = Some(
                    partitions
                        .iter()
                        .map(|(topic, partitions)| {
                            let mut t =
                                describe_log_dirs_request::DescribableLogDirTopic::default();
                            t.topic = TopicName(str_bytes(topic));
                            t.partitions = partitions.clone();
                            t
                        })
                        .collect(),
                );
                Ok(req)
            })
            .await?;
        if let Some(code) = ErrorCode::from_code(resp.error_code) {
            return Err(Error::Kafka {
                api: ApiKey::DescribeLogDirs,
                code,
                message: None,
            });
        }
        let mut out: BTreeMap<(String, i32), i64> = BTreeMap::new();
        for dir in resp.results.iter().filter(|d| d.error_code == 0) {
            for t in &dir.topics {
                for p in t.partitions.iter().filter(|p| !p.is_future_key) {
                    *out.entry((t.name.0.to_string(), p.partition_index))
                        .or_default() += p.partition_size;
                }
            }
        }
        Ok(out)
    }
}
