//! DescribeConfigs answers, computed the way Kafka's `ConfigHelper` does (KIP-226), so
//! `kafka-configs.sh --describe --all` reads the same against Strom as against Kafka.
//!
//! The sources are DYNAMIC_TOPIC_CONFIG (a topic override), DYNAMIC_BROKER_CONFIG (this
//! broker's dynamic value), DYNAMIC_DEFAULT_BROKER_CONFIG (the cluster-wide dynamic default),
//! STATIC_BROKER_CONFIG (set in server.properties or by `--override`) and DEFAULT_CONFIG; the
//! dynamic broker ones appear on a configuration built by [`BrokerConfig::with_dynamic`].
//! Synonyms are listed most specific first, as Kafka's `configSynonyms` does: the topic
//! override, then level by level (this broker's dynamic values, the cluster-wide dynamic
//! defaults, the static values, the non-null defaults) every broker synonym with a value at that
//! level, in Kafka's synonym order. Like Kafka, the list then skips entries until the first one
//! named after the key itself (for a topic, after its first broker synonym): with only
//! `log.retention.hours` set, Kafka reports `retention.ms` as DEFAULT_CONFIG with no synonyms,
//! and so does Strom. An entry's source is its first synonym's, else DEFAULT_CONFIG.

use std::collections::BTreeMap;

use crate::broker_config::{all_broker_config_defs, broker_config_def, BrokerConfig};
use crate::def::{ConfigDef, ConfigType};
use crate::kafka_catalogue::kafka_broker_config;
use crate::topic_config::parse_valid_overrides;
use crate::topic_defs::TOPIC_CONFIGS;

/// Where a configuration value comes from, with Kafka's DescribeConfigs wire codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConfigSource {
    Unknown,
    DynamicTopicConfig,
    DynamicBrokerConfig,
    DynamicDefaultBrokerConfig,
    StaticBrokerConfig,
    DefaultConfig,
    DynamicBrokerLoggerConfig,
    ClientMetricsConfig,
    GroupConfig,
}

impl ConfigSource {
    pub fn code(self) -> i8 {
        match self {
            ConfigSource::Unknown => 0,
            ConfigSource::DynamicTopicConfig => 1,
            ConfigSource::DynamicBrokerConfig => 2,
            ConfigSource::DynamicDefaultBrokerConfig => 3,
            ConfigSource::StaticBrokerConfig => 4,
            ConfigSource::DefaultConfig => 5,
            ConfigSource::DynamicBrokerLoggerConfig => 6,
            ConfigSource::ClientMetricsConfig => 7,
            ConfigSource::GroupConfig => 8,
        }
    }
}

/// One configuration value of a described resource.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigEntry {
    pub name: String,
    /// `None` when the value is null (unset with no default) or sensitive.
    pub value: Option<String>,
    pub source: ConfigSource,
    pub read_only: bool,
    pub is_sensitive: bool,
    /// Empty unless synonyms were asked for.
    pub synonyms: Vec<ConfigSynonym>,
    pub config_type: ConfigType,
    pub documentation: String,
}

/// Another place the value could come from, most specific first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigSynonym {
    pub name: String,
    pub value: Option<String>,
    pub source: ConfigSource,
}

/// Describes this broker's configuration (resource type BROKER, this broker's id).
/// `keys` limits the answer to those names (unknown names are left out); `None` or an empty
/// list describes every key. Dynamic keys are not read-only; the others are.
pub fn describe_broker_configs(
    config: &BrokerConfig,
    keys: Option<&[String]>,
    include_synonyms: bool,
) -> Vec<ConfigEntry> {
    described_broker_defs()
        .filter(|def| wanted(keys, def.name))
        .map(|def| {
            let value = config.broker_value(def.name).map(|v| v.to_kafka_string());
            let all_synonyms = broker_synonyms(
                config,
                def.name,
                broker_synonym_group(def.name),
                def.is_sensitive(),
                &BROKER_LEVELS,
            );
            entry(def, value, all_synonyms, include_synonyms, !def.dynamic)
        })
        .collect()
}

/// The per-listener keys (`listener.name.<l>.<key>`) this broker has, set in
/// server.properties or dynamically, described as Kafka's `ConfigHelper` describes the
/// broker's originals: the value (null when the key's type is PASSWORD or unknown, with
/// `is_sensitive`), the source of the first synonym (the prefixed name, then the base key,
/// level by level: this broker's dynamic values, the static ones, the default) and read-only,
/// since Kafka's list of dynamic keys names only the base keys.
pub fn describe_listener_configs(
    config: &BrokerConfig,
    keys: Option<&[String]>,
    include_synonyms: bool,
) -> Vec<ConfigEntry> {
    config
        .listener_entries()
        .into_iter()
        .filter(|(name, ..)| wanted(keys, name))
        .filter_map(|(name, dynamic, stat)| {
            let rest = name
                .strip_prefix(crate::LISTENER_PREFIX)?
                .split_once('.')?
                .1;
            // `<mechanism>.sasl.jaas.config` has `sasl.jaas.config` as its base (Kafka's
            // ListenerMechanismConfigs).
            let base = ["sasl.jaas.config", "connections.max.reauth.ms"]
                .into_iter()
                .find(|m| rest.ends_with(&format!(".{m}")))
                .unwrap_or(rest);
            let def = broker_config_def(base);
            let config_type = def.map_or(ConfigType::Unknown, |d| d.config_type);
            let sensitive = matches!(config_type, ConfigType::Unknown | ConfigType::Password);
            let hide = |v: String| (!sensitive).then_some(v);
            let mut synonyms = Vec::new();
            let mut push = |n: &str, v: Option<String>, source| {
                if let Some(v) = v {
                    synonyms.push(ConfigSynonym {
                        name: n.to_owned(),
                        value: hide(v),
                        source,
                    });
                }
            };
            push(&name, dynamic.clone(), ConfigSource::DynamicBrokerConfig);
            for source in BROKER_LEVELS {
                if source == ConfigSource::StaticBrokerConfig {
                    push(&name, stat.clone(), source);
                }
                push(base, config.raw_at(base, source).map(str::to_owned), source);
            }
            push(
                base,
                def.and_then(ConfigDef::default_value)
                    .map(|v| v.to_kafka_string()),
                ConfigSource::DefaultConfig,
            );
            // Kafka drops what comes before the name itself.
            let synonyms: Vec<ConfigSynonym> = synonyms
                .into_iter()
                .skip_while(|s| s.name != name)
                .collect();
            let source = synonyms
                .first()
                .map_or(ConfigSource::DefaultConfig, |s| s.source);
            Some(ConfigEntry {
                value: hide(dynamic.or(stat).unwrap_or_default()),
                source,
                read_only: true,
                is_sensitive: sensitive,
                synonyms: if include_synonyms {
                    synonyms
                } else {
                    Vec::new()
                },
                config_type,
                documentation: def.map(|d| d.doc.to_owned()).unwrap_or_default(),
                name,
            })
        })
        .collect()
}

/// Describes the cluster-wide dynamic defaults (resource type BROKER, empty name), as Kafka
/// does: only the keys that have one, each with its synonyms below the per-broker level.
/// `keys` as for [`describe_broker_configs`].
pub fn describe_default_broker_configs(
    config: &BrokerConfig,
    keys: Option<&[String]>,
    include_synonyms: bool,
) -> Vec<ConfigEntry> {
    described_broker_defs()
        .filter(|def| wanted(keys, def.name))
        .filter_map(|def| {
            let value = config.dynamic_default_value(def.name)?.to_kafka_string();
            let all_synonyms = broker_synonyms(
                config,
                def.name,
                broker_synonym_group(def.name),
                def.is_sensitive(),
                &BROKER_LEVELS[1..],
            );
            Some(entry(
                def,
                Some(value),
                all_synonyms,
                include_synonyms,
                !def.dynamic,
            ))
        })
        .collect()
}

/// Describes a topic's configuration given its overrides (resource type TOPIC).
/// `keys` as for [`describe_broker_configs`]. Overrides that are unknown or invalid are ignored,
/// as [`crate::TopicConfig::resolve`] ignores them.
pub fn describe_topic_configs(
    config: &BrokerConfig,
    overrides: &BTreeMap<String, String>,
    keys: Option<&[String]>,
    include_synonyms: bool,
) -> Vec<ConfigEntry> {
    let parsed = parse_valid_overrides(overrides);
    TOPIC_CONFIGS
        .iter()
        .filter(|def| wanted(keys, def.name))
        .map(|def| {
            let effective = parsed
                .get(def.name)
                .or_else(|| config.topic_value(def.name));
            let value = effective.map(|v| v.to_kafka_string());
            let mut all_synonyms = match def.synonyms.first() {
                Some(primary) => broker_synonyms(
                    config,
                    primary.name,
                    broker_synonym_group(primary.name),
                    def.is_sensitive(),
                    &BROKER_LEVELS,
                ),
                None => Vec::new(),
            };
            if let Some(own) = parsed.get(def.name) {
                let own = ConfigSynonym {
                    name: def.name.to_owned(),
                    value: (!def.is_sensitive()).then(|| own.to_kafka_string()),
                    source: ConfigSource::DynamicTopicConfig,
                };
                all_synonyms.insert(0, own);
            }
            entry(def, value, all_synonyms, include_synonyms, false)
        })
        .collect()
}

/// The broker keys DescribeConfigs lists: Strom's table, then the rest of Kafka's catalogue
/// without Kafka's internal keys (Kafka does not describe those either).
fn described_broker_defs() -> impl Iterator<Item = &'static ConfigDef> {
    all_broker_config_defs().filter(|def| {
        crate::broker_defs::BROKER_CONFIGS
            .iter()
            .any(|d| d.name == def.name)
            || !kafka_broker_config(def.name).is_some_and(|k| k.internal)
    })
}

fn wanted(keys: Option<&[String]>, name: &str) -> bool {
    match keys {
        None => true,
        Some([]) => true,
        Some(keys) => keys.iter().any(|k| k == name),
    }
}

fn entry(
    def: &ConfigDef,
    value: Option<String>,
    all_synonyms: Vec<ConfigSynonym>,
    include_synonyms: bool,
    read_only: bool,
) -> ConfigEntry {
    let source = all_synonyms
        .first()
        .map(|s| s.source)
        .unwrap_or(ConfigSource::DefaultConfig);
    ConfigEntry {
        name: def.name.to_owned(),
        value: if def.is_sensitive() { None } else { value },
        source,
        read_only,
        is_sensitive: def.is_sensitive(),
        synonyms: if include_synonyms {
            all_synonyms
        } else {
            Vec::new()
        },
        config_type: def.config_type,
        documentation: def.doc.to_owned(),
    }
}

/// The broker keys that feed the same value as `name` (Kafka's
/// `DynamicBrokerConfig.brokerConfigSynonyms`), most specific first.
fn broker_synonym_group(name: &str) -> &'static [&'static str] {
    const ROLL: &[&str] = &["log.roll.ms", "log.roll.hours"];
    const JITTER: &[&str] = &["log.roll.jitter.ms", "log.roll.jitter.hours"];
    const FLUSH: &[&str] = &["log.flush.interval.ms", "log.flush.scheduler.interval.ms"];
    const RETENTION: &[&str] = &[
        "log.retention.ms",
        "log.retention.minutes",
        "log.retention.hours",
    ];
    let group = [ROLL, JITTER, RETENTION]
        .into_iter()
        .find(|g| g.contains(&name));
    match group {
        Some(group) => group,
        // Only log.flush.interval.ms falls back to the scheduler interval, not the reverse.
        None if name == FLUSH[0] => FLUSH,
        None => broker_config_def(name)
            .map(|d| std::slice::from_ref(&d.name))
            .unwrap_or(&[]),
    }
}

/// Where a broker key's value can be set, most specific first (the table's default comes last,
/// separately).
const BROKER_LEVELS: [ConfigSource; 3] = [
    ConfigSource::DynamicBrokerConfig,
    ConfigSource::DynamicDefaultBrokerConfig,
    ConfigSource::StaticBrokerConfig,
];

/// Kafka's `ConfigHelper.configSynonyms`: level by level, the values of the group set there,
/// then the non-null defaults of the group, dropping entries before the first named `name`.
fn broker_synonyms(
    config: &BrokerConfig,
    name: &str,
    group: &[&'static str],
    sensitive: bool,
    levels: &[ConfigSource],
) -> Vec<ConfigSynonym> {
    let hide = |v: String| (!sensitive).then_some(v);
    let set = levels.iter().flat_map(|&source| {
        group.iter().filter_map(move |&s| {
            config.raw_at(s, source).map(|raw| ConfigSynonym {
                name: s.to_owned(),
                value: hide(raw.to_owned()),
                source,
            })
        })
    });
    let defaults = group.iter().filter_map(|&s| {
        broker_config_def(s)
            .and_then(ConfigDef::default_value)
            .map(|v| ConfigSynonym {
                name: s.to_owned(),
                value: hide(v.to_kafka_string()),
                source: ConfigSource::DefaultConfig,
            })
    });
    set.chain(defaults).skip_while(|s| s.name != name).collect()
}
