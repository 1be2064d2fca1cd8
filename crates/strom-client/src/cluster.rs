//! The cluster as Metadata describes it: brokers, topics, partition leaders.

use std::collections::BTreeMap;
use std::fmt;

use crate::error::ErrorCode;

/// A topic name and partition index.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TopicPartition {
    pub topic: String,
    pub partition: i32,
}

impl TopicPartition {
    pub fn new(topic: impl Into<String>, partition: i32) -> TopicPartition {
        TopicPartition {
            topic: topic.into(),
            partition,
        }
    }
}

impl fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.topic, self.partition)
    }
}

/// Where a broker listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerAddress {
    pub node_id: i32,
    pub host: String,
    pub port: i32,
}

impl BrokerAddress {
    /// `host:port`, with IPv6 hosts in brackets.
    pub fn addr(&self) -> String {
        if self.host.contains(':') && !self.host.starts_with('[') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct ClusterMetadata {
    pub cluster_id: Option<String>,
    pub controller_id: i32,
    pub brokers: BTreeMap<i32, BrokerAddress>,
    pub topics: BTreeMap<String, TopicMetadata>,
}

#[derive(Debug, Clone, Default)]
pub struct TopicMetadata {
    /// UNKNOWN_TOPIC_OR_PARTITION for a topic that does not exist.
    pub error: Option<ErrorCode>,
    /// The topic id (Metadata v10+; all zero before, or when unknown).
    pub topic_id: [u8; 16],
    pub is_internal: bool,
    pub partitions: BTreeMap<i32, PartitionMetadata>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PartitionMetadata {
    /// -1 when the partition has no leader.
    pub leader_id: i32,
    pub error: Option<ErrorCode>,
    /// The replicas in preference order (the first is the preferred leader).
    pub replicas: Vec<i32>,
    /// The in-sync replicas.
    pub isr: Vec<i32>,
    /// Replicas on brokers the cluster does not count as alive.
    pub offline_replicas: Vec<i32>,
}

impl ClusterMetadata {
    /// The broker leading `tp`, or the error to report for it.
    pub fn leader(&self, tp: &TopicPartition) -> Result<&BrokerAddress, ErrorCode> {
        let topic = self
            .topics
            .get(&tp.topic)
            .ok_or(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION)?;
        if let Some(e) = topic.error {
            return Err(e);
        }
        let partition = topic
            .partitions
            .get(&tp.partition)
            .ok_or(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION)?;
        self.brokers
            .get(&partition.leader_id)
            .ok_or(ErrorCode::LEADER_NOT_AVAILABLE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_hosts_are_bracketed() {
        let b = BrokerAddress {
            node_id: 1,
            host: "::1".into(),
            port: 9092,
        };
        assert_eq!(b.addr(), "[::1]:9092");
        let b = BrokerAddress {
            node_id: 1,
            host: "10.0.0.1".into(),
            port: 9092,
        };
        assert_eq!(b.addr(), "10.0.0.1:9092");
    }

    #[test]
    fn leaders_come_from_the_partition_and_the_broker_list() {
        let mut m = ClusterMetadata::default();
        m.brokers.insert(
            1,
            BrokerAddress {
                node_id: 1,
                host: "h".into(),
                port: 1,
            },
        );
        let mut t = TopicMetadata::default();
        t.partitions.insert(
            0,
            PartitionMetadata {
                leader_id: 1,
                ..PartitionMetadata::default()
            },
        );
        t.partitions.insert(
            1,
            PartitionMetadata {
                leader_id: -1,
                ..PartitionMetadata::default()
            },
        );
        m.topics.insert("t".into(), t);
        assert_eq!(m.leader(&TopicPartition::new("t", 0)).unwrap().node_id, 1);
        assert_eq!(
            m.leader(&TopicPartition::new("t", 1)),
            Err(ErrorCode::LEADER_NOT_AVAILABLE)
        );
        assert_eq!(
            m.leader(&TopicPartition::new("t", 2)),
            Err(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION)
        );
        assert_eq!(
            m.leader(&TopicPartition::new("u", 0)),
            Err(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION)
        );
    }
}
