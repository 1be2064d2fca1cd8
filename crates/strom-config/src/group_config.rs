//! Group configurations (KIP-848, Kafka 4.0's `GroupConfig`): per-group overrides of the group
//! coordinator's session timeout and heartbeat interval, set with IncrementalAlterConfigs or
//! AlterConfigs on a GROUP resource (type 32) and stored as metadata records.
//!
//! The keys are Kafka 4.0's five, share-group ones included: Kafka accepts and validates those
//! whether or not share groups are enabled, and so does Strom (which has no share groups; they
//! are stored and described only). Validation is Kafka's `GroupConfig.validate`: names first
//! ("Unknown group config name: …"), then each value by type and range, then all five values
//! (those not set take Kafka's static defaults, as `ConfigDef.parse` fills them) against the
//! broker's `group.consumer.*` / `group.share.*` bounds, every failure INVALID_CONFIG.
//!
//! DescribeConfigs reports a set key as GROUP_CONFIG and an unset one as the broker's value of
//! the matching `group.*` key (Kafka's `extractGroupConfigMap`), with that broker key as synonym.

use std::collections::BTreeMap;

use crate::broker_config::BrokerConfig;
use crate::def::{ConfigDef, ConfigType::Int, Validity::AtLeast};
use crate::describe::{describe_broker_configs, ConfigEntry, ConfigSource, ConfigSynonym};
use crate::error::ConfigError;

/// One group key: its definition and the broker key that supplies its default.
struct GroupKey {
    def: ConfigDef,
    broker_default: &'static str,
    /// Broker keys bounding it (minimum, maximum).
    bounds: (&'static str, &'static str),
}

const fn key(
    name: &'static str,
    default: &'static str,
    min: i64,
    broker_default: &'static str,
    bounds: (&'static str, &'static str),
    acted_on: bool,
    doc: &'static str,
) -> GroupKey {
    GroupKey {
        def: ConfigDef::new(name, Int, Some(default), AtLeast(min), "ms", acted_on, doc),
        broker_default,
        bounds,
    }
}

/// Kafka 4.0's group configuration keys, in Kafka's validation order.
#[rustfmt::skip]
static GROUP_KEYS: &[GroupKey] = &[
    key("consumer.heartbeat.interval.ms", "5000", 1, "group.consumer.heartbeat.interval.ms",
        ("group.consumer.min.heartbeat.interval.ms", "group.consumer.max.heartbeat.interval.ms"), true,
        "The heartbeat interval given to the members of this consumer group."),
    key("consumer.session.timeout.ms", "45000", 1, "group.consumer.session.timeout.ms",
        ("group.consumer.min.session.timeout.ms", "group.consumer.max.session.timeout.ms"), true,
        "The timeout to detect client failures when using the consumer group protocol."),
    key("share.heartbeat.interval.ms", "5000", 1, "group.share.heartbeat.interval.ms",
        ("group.share.min.heartbeat.interval.ms", "group.share.max.heartbeat.interval.ms"), false,
        "The heartbeat interval given to the members of this share group (Strom has no share groups)."),
    key("share.session.timeout.ms", "45000", 1, "group.share.session.timeout.ms",
        ("group.share.min.session.timeout.ms", "group.share.max.session.timeout.ms"), false,
        "The timeout to detect client failures when using the share group protocol (Strom has no share groups)."),
    key("share.record.lock.duration.ms", "30000", 1000, "group.share.record.lock.duration.ms",
        ("group.share.min.record.lock.duration.ms", "group.share.max.record.lock.duration.ms"), false,
        "The record acquisition lock duration in milliseconds for share groups (Strom has no share groups)."),
];

fn group_key(name: &str) -> Option<&'static GroupKey> {
    GROUP_KEYS.iter().find(|k| k.def.name == name)
}

/// The definition of a group configuration key, if Kafka has it.
pub fn group_config_def(name: &str) -> Option<&'static ConfigDef> {
    group_key(name).map(|k| &k.def)
}

/// Every group configuration key's definition.
pub fn group_config_defs() -> impl Iterator<Item = &'static ConfigDef> {
    GROUP_KEYS.iter().map(|k| &k.def)
}

/// Checks a group's configuration as it would be after a change (`configs`: the stored
/// overrides with the change applied), as Kafka's `GroupConfig.validate`. Every error is
/// [`ConfigError::InvalidGroupConfig`] (INVALID_CONFIG).
pub fn validate_group_configs(
    configs: &BTreeMap<String, String>,
    broker: &BrokerConfig,
) -> Result<(), ConfigError> {
    let invalid = |message: String| Err(ConfigError::InvalidGroupConfig { message });
    if let Some(unknown) = configs.keys().find(|k| group_key(k).is_none()) {
        return invalid(format!("Unknown group config name: {unknown}"));
    }
    let mut values = Vec::new();
    for key in GROUP_KEYS {
        let raw = configs
            .get(key.def.name)
            .map(String::as_str)
            .or(key.def.default)
            .unwrap_or_default();
        match key.def.parse(raw).ok().and_then(|v| v.as_int()) {
            Some(value) => values.push((key, value)),
            None => {
                let reason = key
                    .def
                    .parse(raw)
                    .err()
                    .map(|p| key.def.kafka_reason(&p))
                    .unwrap_or_default();
                return invalid(format!(
                    "Invalid value {raw} for configuration {}: {reason}",
                    key.def.name
                ));
            }
        }
    }
    for (key, value) in values {
        let (min_key, max_key) = key.bounds;
        let bound = |name: &str| broker.broker_value(name).and_then(|v| v.as_int());
        if bound(min_key).is_some_and(|min| value < min) {
            return invalid(format!(
                "{} must be greater than or equal to {min_key}",
                key.def.name
            ));
        }
        if bound(max_key).is_some_and(|max| value > max) {
            return invalid(format!(
                "{} must be less than or equal to {max_key}",
                key.def.name
            ));
        }
    }
    Ok(())
}

/// A group's effective KIP-848 consumer settings: its overrides, else the broker's values.
pub fn consumer_group_timeouts(
    overrides: &BTreeMap<String, String>,
    broker: &BrokerConfig,
) -> (i32, i32) {
    let get = |name: &str, fallback: i32| {
        overrides
            .get(name)
            .and_then(|raw| group_config_def(name)?.parse(raw).ok()?.as_int())
            .and_then(|v| i32::try_from(v).ok())
            .unwrap_or(fallback)
    };
    (
        get(
            "consumer.session.timeout.ms",
            broker.groups.consumer_session_timeout_ms,
        ),
        get(
            "consumer.heartbeat.interval.ms",
            broker.groups.consumer_heartbeat_interval_ms,
        ),
    )
}

/// Describes a group's configuration (resource type GROUP): every key, set ones as
/// GROUP_CONFIG, the others with the broker's value; synonyms are the group's value (if set)
/// then the broker key's, as DescribeConfigs of the broker reports it.
pub fn describe_group_configs(
    broker: &BrokerConfig,
    overrides: &BTreeMap<String, String>,
    keys: Option<&[String]>,
    include_synonyms: bool,
) -> Vec<ConfigEntry> {
    GROUP_KEYS
        .iter()
        .filter(|k| match keys {
            None | Some([]) => true,
            Some(keys) => keys.iter().any(|name| name == k.def.name),
        })
        .map(|k| {
            let broker_entry =
                describe_broker_configs(broker, Some(&[k.broker_default.to_owned()]), true)
                    .into_iter()
                    .next();
            let mut synonyms = Vec::new();
            if let Some(own) = overrides.get(k.def.name) {
                synonyms.push(ConfigSynonym {
                    name: k.def.name.to_owned(),
                    value: Some(own.clone()),
                    source: ConfigSource::GroupConfig,
                });
            }
            if let Some(entry) = &broker_entry {
                synonyms.push(ConfigSynonym {
                    name: entry.name.clone(),
                    value: entry.value.clone(),
                    source: entry.source,
                });
            }
            let (value, source) = match overrides.get(k.def.name) {
                Some(own) => (Some(own.clone()), ConfigSource::GroupConfig),
                None => (
                    broker_entry.as_ref().and_then(|e| e.value.clone()),
                    ConfigSource::DefaultConfig,
                ),
            };
            ConfigEntry {
                name: k.def.name.to_owned(),
                value,
                source,
                read_only: false,
                is_sensitive: false,
                synonyms: if include_synonyms {
                    synonyms
                } else {
                    Vec::new()
                },
                config_type: k.def.config_type,
                documentation: k.def.doc.to_owned(),
            }
        })
        .collect()
}
