//! Dynamic broker configuration (KIP-226): broker keys changed at run time by AlterConfigs /
//! IncrementalAlterConfigs on a broker resource, stored by the controller as metadata records,
//! either for one broker (`ConfigResource::Broker(Some(id))`, DYNAMIC_BROKER_CONFIG) or as the
//! cluster-wide default (`Broker(None)`, Kafka's empty broker name,
//! DYNAMIC_DEFAULT_BROKER_CONFIG).
//!
//! Precedence, most specific first, as in Kafka's `DynamicBrokerConfig`: a topic override, this
//! broker's dynamic value, the cluster-wide dynamic default, server.properties / `--override`,
//! the table's default. Which keys may change is data in the table (`ConfigDef::dynamic`).
//!
//! Changes are checked on the way in with [`validate_dynamic_broker_configs`];
//! [`BrokerConfig::with_dynamic`] then layers the stored values over the static configuration
//! and cannot fail. A stored value that is no longer acceptable (an unknown or read-only key,
//! an invalid value, written by another version) is skipped, as Kafka's `fromPersistentProps`
//! skips it, rather than failing the broker.

use std::collections::{BTreeMap, BTreeSet};

use crate::broker_config::{broker_config_def, BrokerConfig};
use crate::def::Value;
use crate::error::ConfigError;
use crate::kafka_catalogue::{kafka_broker_config, UpdateMode, LISTENER_PREFIX_ONLY};
use crate::listener_config::{config_def_for, split_listener_key};

/// A stored dynamic value: as written, and parsed.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DynamicValue {
    pub raw: String,
    pub value: Value,
}

/// Checks a dynamic broker configuration update (the keys to set and their values) for one
/// broker; [`validate_dynamic_broker_update`] says which.
pub fn validate_dynamic_broker_configs(
    changes: &BTreeMap<String, String>,
) -> Result<(), ConfigError> {
    let changes: BTreeMap<String, Option<String>> = changes
        .iter()
        .map(|(k, v)| (k.clone(), Some(v.clone())))
        .collect();
    validate_dynamic_broker_update(&changes, true)
}

/// [`validate_dynamic_broker_update`] for one broker.
pub fn validate_dynamic_broker_changes(
    changes: &BTreeMap<String, Option<String>>,
) -> Result<(), ConfigError> {
    validate_dynamic_broker_update(changes, true)
}

/// Checks a dynamic broker configuration update where `None` deletes the key, for one broker
/// (`per_broker`) or the cluster-wide default, as Kafka's `DynamicBrokerConfig.validateConfigs`
/// does, in its order: every key must be a broker configuration of Kafka's catalogue or Strom's
/// ([`ConfigError::UnknownBrokerConfig`], INVALID_CONFIG; Kafka would store a key it does not
/// know, Strom refuses it as it refuses it in server.properties); none may be read-only
/// ([`ConfigError::NotDynamicBrokerConfig`], naming all of them, INVALID_REQUEST); the SSL
/// keystore and truststore keys only with a listener prefix
/// ([`ConfigError::ListenerPrefixOnlyBrokerConfig`], INVALID_REQUEST); every set value must be
/// valid for its type and range ([`ConfigError::InvalidDynamicBrokerConfig`], INVALID_REQUEST);
/// and the per-broker keys (listener and security keys) not as the cluster-wide default
/// ([`ConfigError::PerBrokerOnlyConfig`], INVALID_REQUEST). A key Strom does not act on passes:
/// it is stored and described as Kafka would, and [`not_acted_on`] names it for the broker's log.
pub fn validate_dynamic_broker_update(
    changes: &BTreeMap<String, Option<String>>,
    per_broker: bool,
) -> Result<(), ConfigError> {
    if let Some(unknown) = changes.keys().find(|k| config_def_for(k).is_none()) {
        return Err(ConfigError::UnknownBrokerConfig {
            name: unknown.clone(),
        });
    }
    let read_only: BTreeSet<&String> = changes
        .keys()
        .filter(|k| config_def_for(k).is_some_and(|d| !d.dynamic))
        .collect();
    if !read_only.is_empty() {
        return Err(ConfigError::NotDynamicBrokerConfig {
            names: read_only.into_iter().cloned().collect(),
        });
    }
    let prefix_only: Vec<String> = changes
        .keys()
        .filter(|k| LISTENER_PREFIX_ONLY.contains(&k.as_str()))
        .cloned()
        .collect();
    if !prefix_only.is_empty() {
        return Err(ConfigError::ListenerPrefixOnlyBrokerConfig { names: prefix_only });
    }
    for (name, raw) in changes {
        let Some(raw) = raw else { continue };
        if let Some(def) = config_def_for(name) {
            def.parse(raw)
                .map_err(|problem| ConfigError::InvalidDynamicBrokerConfig {
                    name: name.clone(),
                    value: raw.clone(),
                    reason: def.kafka_reason(&problem),
                })?;
        }
    }
    if !per_broker {
        let per_broker_only: Vec<String> = changes
            .keys()
            .filter(|k| {
                split_listener_key(k).is_some()
                    || kafka_broker_config(k).is_some_and(|c| c.update == UpdateMode::PerBroker)
            })
            .cloned()
            .collect();
        if !per_broker_only.is_empty() {
            return Err(ConfigError::PerBrokerOnlyConfig {
                names: per_broker_only,
            });
        }
    }
    Ok(())
}

/// The keys an update sets that Strom accepts but does not act on, for one log line.
pub fn not_acted_on(changes: &BTreeMap<String, Option<String>>) -> Vec<String> {
    changes
        .iter()
        .filter(|(k, v)| v.is_some() && config_def_for(k).is_some_and(|d| !d.acted_on))
        .map(|(k, _)| k.clone())
        .collect()
}

impl BrokerConfig {
    /// The effective configuration with dynamic broker configurations applied: every typed
    /// field and the topic defaults recomputed from this broker's dynamic values
    /// (`per_broker`) over the cluster-wide defaults (`cluster_default`) over the static
    /// configuration. Describing the result reports the dynamic sources and synonyms.
    ///
    /// Both maps replace whatever dynamic values `self` had, so calling this again with the
    /// metadata image's current maps is always right. Unknown, read-only and invalid entries
    /// are ignored (they were validated on the way in). With two empty maps the result equals
    /// the static configuration.
    pub fn with_dynamic(
        &self,
        cluster_default: &BTreeMap<String, String>,
        per_broker: &BTreeMap<String, String>,
    ) -> BrokerConfig {
        let mut config = BrokerConfig::assemble(
            self.identity(),
            self.static_values().clone(),
            dynamic_layer(cluster_default),
            dynamic_layer(per_broker),
        );
        config.set_listener_layers(
            self.static_listener_values().clone(),
            dynamic_listener_layer(per_broker),
        );
        config
    }
}

/// The stored entries that name a dynamic key and hold a valid value, parsed.
fn dynamic_layer(stored: &BTreeMap<String, String>) -> BTreeMap<&'static str, DynamicValue> {
    stored
        .iter()
        .filter_map(|(name, raw)| {
            let def = broker_config_def(name).filter(|d| d.dynamic)?;
            let value = def.parse(raw).ok()?;
            Some((
                def.name,
                DynamicValue {
                    raw: raw.clone(),
                    value,
                },
            ))
        })
        .collect()
}

/// The stored `listener.name.<l>.<key>` entries of one broker that name a dynamic key and hold
/// a valid value, parsed.
fn dynamic_listener_layer(stored: &BTreeMap<String, String>) -> BTreeMap<String, DynamicValue> {
    stored
        .iter()
        .filter_map(|(name, raw)| {
            let (_, key) = split_listener_key(name)?;
            let def = broker_config_def(key).filter(|d| d.dynamic)?;
            let value = def.parse(raw).ok()?;
            Some((
                name.clone(),
                DynamicValue {
                    raw: raw.clone(),
                    value,
                },
            ))
        })
        .collect()
}
