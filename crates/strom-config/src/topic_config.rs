//! A topic's effective configuration: its own overrides on top of the broker's defaults, as in
//! Kafka's `LogConfig.fromProps(kafkaConfig.extractLogConfigMap, topicOverrides)`.
//!
//! Overrides are validated when they enter the cluster (CreateTopics, AlterConfigs) with
//! [`validate_topic_configs`]; [`TopicConfig::resolve`] then cannot fail. Should an invalid
//! override still reach it (written by an older version, say), it is ignored and the broker's
//! value used, rather than failing the partition.

use std::collections::BTreeMap;
use std::fmt;

use crate::broker_config::BrokerConfig;
use crate::def::{ConfigDef, Value};
use crate::error::ConfigError;
use crate::topic_defs::TOPIC_CONFIGS;

/// The topic configuration definition for `name`, if Kafka defines it.
pub fn topic_config_def(name: &str) -> Option<&'static ConfigDef> {
    TOPIC_CONFIGS.iter().find(|d| d.name == name)
}

/// Checks topic overrides as Kafka's `LogConfig.validate` does; the error uses Kafka's words
/// and maps to INVALID_CONFIG.
pub fn validate_topic_configs(configs: &BTreeMap<String, String>) -> Result<(), ConfigError> {
    let mut parsed: BTreeMap<&str, Value> = BTreeMap::new();
    for (name, raw) in configs {
        let def = topic_config_def(name)
            .ok_or_else(|| ConfigError::UnknownTopicConfig { name: name.clone() })?;
        let value = def
            .parse(raw)
            .map_err(|problem| ConfigError::InvalidTopicConfig {
                name: name.clone(),
                value: raw.clone(),
                reason: def.kafka_reason(&problem),
            })?;
        parsed.insert(def.name, value);
    }
    let lag = |name: &str| parsed.get(name).and_then(Value::as_int);
    if let (Some(min), Some(max)) = (lag("min.compaction.lag.ms"), lag("max.compaction.lag.ms")) {
        if min > max {
            return Err(ConfigError::TopicConfigConflict {
                name: "min.compaction.lag.ms".into(),
                value: min.to_string(),
                other_name: "max.compaction.lag.ms".into(),
                other_value: max.to_string(),
            });
        }
    }
    Ok(())
}

/// Whether record timestamps are the producer's or the broker's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimestampType {
    CreateTime,
    LogAppendTime,
}

impl TimestampType {
    pub fn kafka_name(self) -> &'static str {
        match self {
            TimestampType::CreateTime => "CreateTime",
            TimestampType::LogAppendTime => "LogAppendTime",
        }
    }
}

impl fmt::Display for TimestampType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kafka_name())
    }
}

/// `compression.type`: what the broker stores; `Producer` keeps the producer's codec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CompressionType {
    Producer,
    Uncompressed,
    Gzip,
    Snappy,
    Lz4,
    Zstd,
}

impl CompressionType {
    pub fn kafka_name(self) -> &'static str {
        match self {
            CompressionType::Producer => "producer",
            CompressionType::Uncompressed => "uncompressed",
            CompressionType::Gzip => "gzip",
            CompressionType::Snappy => "snappy",
            CompressionType::Lz4 => "lz4",
            CompressionType::Zstd => "zstd",
        }
    }

    fn from_kafka_name(name: &str) -> Option<CompressionType> {
        [
            CompressionType::Producer,
            CompressionType::Uncompressed,
            CompressionType::Gzip,
            CompressionType::Snappy,
            CompressionType::Lz4,
            CompressionType::Zstd,
        ]
        .into_iter()
        .find(|c| c.kafka_name() == name)
    }
}

impl fmt::Display for CompressionType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kafka_name())
    }
}

/// `cleanup.policy`: `delete`, `compact`, both, or (an empty list) neither.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CleanupPolicy {
    pub delete: bool,
    pub compact: bool,
}

impl CleanupPolicy {
    fn from_items(items: &[String]) -> CleanupPolicy {
        CleanupPolicy {
            delete: items.iter().any(|i| i == "delete"),
            compact: items.iter().any(|i| i == "compact"),
        }
    }
}

impl Default for CleanupPolicy {
    fn default() -> CleanupPolicy {
        CleanupPolicy {
            delete: true,
            compact: false,
        }
    }
}

impl fmt::Display for CleanupPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.delete, self.compact) {
            (true, true) => f.write_str("delete,compact"),
            (true, false) => f.write_str("delete"),
            (false, true) => f.write_str("compact"),
            (false, false) => Ok(()),
        }
    }
}

/// A topic's effective configuration, typed. Kafka's "no limit" values (`-1` for retention,
/// `Long.MAX_VALUE` for flushing) are `None`.
#[derive(Debug, Clone, PartialEq)]
pub struct TopicConfig {
    pub cleanup_policy: CleanupPolicy,
    pub compression_type: CompressionType,
    pub delete_retention_ms: u64,
    pub file_delete_delay_ms: u64,
    /// `flush.messages`; `None` never forces an fsync by message count.
    pub flush_messages: Option<u64>,
    /// `flush.ms`; `None` never forces an fsync by age.
    pub flush_ms: Option<u64>,
    pub index_interval_bytes: u64,
    pub max_compaction_lag_ms: u64,
    pub max_message_bytes: u64,
    pub message_timestamp_after_max_ms: u64,
    pub message_timestamp_before_max_ms: u64,
    pub message_timestamp_type: TimestampType,
    pub min_cleanable_dirty_ratio: f64,
    pub min_compaction_lag_ms: u64,
    pub min_insync_replicas: i32,
    pub preallocate: bool,
    /// `retention.bytes`; `None` (Kafka's -1) means no size limit.
    pub retention_bytes: Option<u64>,
    /// `retention.ms`; `None` (Kafka's -1) keeps segments forever.
    pub retention_ms: Option<u64>,
    pub segment_bytes: u64,
    pub segment_index_bytes: u64,
    pub segment_jitter_ms: u64,
    pub segment_ms: u64,
    pub unclean_leader_election_enable: bool,
}

impl TopicConfig {
    /// The topic's configuration: each override that is valid, else the broker's value.
    pub fn resolve(broker: &BrokerConfig, overrides: &BTreeMap<String, String>) -> TopicConfig {
        let parsed = parse_valid_overrides(overrides);
        TopicConfig::from_lookup(|name| parsed.get(name).or_else(|| broker.topic_value(name)))
    }

    /// Builds the typed config from per-key values; a missing or mistyped value falls back
    /// to the key's default in the topic table.
    pub(crate) fn from_lookup<'a>(lookup: impl Fn(&str) -> Option<&'a Value>) -> TopicConfig {
        let value = |name: &str| -> Option<Value> {
            lookup(name)
                .cloned()
                .or_else(|| topic_config_def(name).and_then(ConfigDef::default_value))
        };
        let int = |name: &str| value(name).and_then(|v| v.as_int()).unwrap_or(0);
        let unsigned = |name: &str| u64::try_from(int(name)).unwrap_or(0);
        let never_if_max = |name: &str| {
            Some(int(name))
                .filter(|n| *n != i64::MAX)
                .map(|n| u64::try_from(n).unwrap_or(0))
        };
        let unlimited_if_negative = |name: &str| u64::try_from(int(name)).ok();
        let boolean = |name: &str| value(name).and_then(|v| v.as_bool()).unwrap_or(false);
        TopicConfig {
            cleanup_policy: value("cleanup.policy")
                .and_then(|v| v.as_list().map(CleanupPolicy::from_items))
                .unwrap_or_default(),
            compression_type: value("compression.type")
                .and_then(|v| v.as_str().and_then(CompressionType::from_kafka_name))
                .unwrap_or(CompressionType::Producer),
            delete_retention_ms: unsigned("delete.retention.ms"),
            file_delete_delay_ms: unsigned("file.delete.delay.ms"),
            flush_messages: never_if_max("flush.messages"),
            flush_ms: never_if_max("flush.ms"),
            index_interval_bytes: unsigned("index.interval.bytes"),
            max_compaction_lag_ms: unsigned("max.compaction.lag.ms"),
            max_message_bytes: unsigned("max.message.bytes"),
            message_timestamp_after_max_ms: unsigned("message.timestamp.after.max.ms"),
            message_timestamp_before_max_ms: unsigned("message.timestamp.before.max.ms"),
            message_timestamp_type: match value("message.timestamp.type")
                .as_ref()
                .and_then(Value::as_str)
            {
                Some("LogAppendTime") => TimestampType::LogAppendTime,
                _ => TimestampType::CreateTime,
            },
            min_cleanable_dirty_ratio: value("min.cleanable.dirty.ratio")
                .and_then(|v| v.as_double())
                .unwrap_or(0.5),
            min_compaction_lag_ms: unsigned("min.compaction.lag.ms"),
            min_insync_replicas: i32::try_from(int("min.insync.replicas")).unwrap_or(1),
            preallocate: boolean("preallocate"),
            retention_bytes: unlimited_if_negative("retention.bytes"),
            retention_ms: unlimited_if_negative("retention.ms"),
            segment_bytes: unsigned("segment.bytes"),
            segment_index_bytes: unsigned("segment.index.bytes"),
            segment_jitter_ms: unsigned("segment.jitter.ms"),
            segment_ms: unsigned("segment.ms"),
            unclean_leader_election_enable: boolean("unclean.leader.election.enable"),
        }
    }
}

/// The overrides that name a topic configuration and hold a valid value, parsed.
pub(crate) fn parse_valid_overrides(
    overrides: &BTreeMap<String, String>,
) -> BTreeMap<&'static str, Value> {
    overrides
        .iter()
        .filter_map(|(name, raw)| {
            let def = topic_config_def(name)?;
            def.parse(raw).ok().map(|v| (def.name, v))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn valid_overrides_pass() {
        let configs = map(&[
            ("cleanup.policy", "compact,delete"),
            ("retention.ms", "-1"),
            ("segment.bytes", "1048576"),
            ("message.timestamp.type", "LogAppendTime"),
            ("min.cleanable.dirty.ratio", "0.1"),
            ("preallocate", "TRUE"),
            ("compression.type", "zstd"),
        ]);
        validate_topic_configs(&configs).unwrap();
        validate_topic_configs(&BTreeMap::new()).unwrap();
    }

    #[test]
    fn an_unknown_topic_config_is_named_in_kafkas_words() {
        let err = validate_topic_configs(&map(&[("retention.ms", "1"), ("retention.hours", "1")]))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "Unknown topic config name: retention.hours"
        );
        assert_eq!(err.kafka_error_code(), 40);
        assert_eq!(err.key(), Some("retention.hours"));
    }

    #[test]
    fn invalid_values_are_explained_in_kafkas_words() {
        let cases = [
            ("segment.bytes", "abc", "Invalid value abc for configuration segment.bytes: Not a number of type INT"),
            ("segment.bytes", "14", "Invalid value 14 for configuration segment.bytes: Value must be at least 1048576"),
            ("retention.ms", "-2", "Invalid value -2 for configuration retention.ms: Value must be at least -1"),
            ("flush.messages", "0", "Invalid value 0 for configuration flush.messages: Value must be at least 1"),
            ("preallocate", "yes", "Invalid value yes for configuration preallocate: Expected value to be either true or false"),
            (
                "message.timestamp.type",
                "createtime",
                "Invalid value createtime for configuration message.timestamp.type: String must be one of: CreateTime, LogAppendTime",
            ),
            (
                "cleanup.policy",
                "delete,remove",
                "Invalid value delete,remove for configuration cleanup.policy: String must be one of: compact, delete",
            ),
            (
                "min.cleanable.dirty.ratio",
                "2",
                "Invalid value 2 for configuration min.cleanable.dirty.ratio: Value must be no more than 1.0",
            ),
            ("max.message.bytes", "4294967296", "Invalid value 4294967296 for configuration max.message.bytes: Not a number of type INT"),
        ];
        for (name, value, message) in cases {
            let err = validate_topic_configs(&map(&[(name, value)])).unwrap_err();
            assert_eq!(err.to_string(), message);
            assert_eq!(err.key(), Some(name));
        }
    }

    #[test]
    fn min_compaction_lag_above_max_is_a_conflict() {
        let err = validate_topic_configs(&map(&[
            ("min.compaction.lag.ms", "10"),
            ("max.compaction.lag.ms", "5"),
        ]))
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "conflict topic config setting min.compaction.lag.ms (10) > max.compaction.lag.ms (5)"
        );
    }

    #[test]
    fn cleanup_policies_print_as_kafka_lists() {
        assert_eq!(
            CleanupPolicy::from_items(&["compact".into(), "delete".into()]).to_string(),
            "delete,compact"
        );
        assert_eq!(
            CleanupPolicy::from_items(&[]),
            CleanupPolicy {
                delete: false,
                compact: false
            }
        );
        assert_eq!(CleanupPolicy::default().to_string(), "delete");
    }

    #[test]
    fn every_compression_name_round_trips() {
        for name in crate::broker_defs::COMPRESSION_TYPES {
            assert_eq!(
                CompressionType::from_kafka_name(name).map(|c| c.kafka_name()),
                Some(*name)
            );
        }
    }
}
