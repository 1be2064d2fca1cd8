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

/// A stored dynamic value: as written, and parsed.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DynamicValue {
    pub raw: String,
    pub value: Value,
}

/// Checks a dynamic broker configuration update (the keys to set and their values), for the
/// cluster-wide default or one broker alike, as Kafka's `DynamicBrokerConfig.validateConfigs`
/// does: every key must be a broker configuration Strom knows ([`ConfigError::UnknownBrokerConfig`],
/// INVALID_CONFIG), none may be read-only ([`ConfigError::NotDynamicBrokerConfig`], naming all
/// of them, INVALID_REQUEST), every value must be valid for its type and range
/// ([`ConfigError::InvalidDynamicBrokerConfig`], INVALID_REQUEST), and none may be set that
/// Strom does not act on yet ([`ConfigError::NotActedOnDynamicBrokerConfig`], INVALID_CONFIG:
/// success would be a lie). The checks run in that
/// order over all keys; [`ConfigError::kafka_error_code`] gives the code.
pub fn validate_dynamic_broker_configs(
    changes: &BTreeMap<String, String>,
) -> Result<(), ConfigError> {
    let changes: BTreeMap<String, Option<String>> = changes
        .iter()
        .map(|(k, v)| (k.clone(), Some(v.clone())))
        .collect();
    validate_dynamic_broker_changes(&changes)
}

/// The same checks for a set of changes where `None` deletes the key: a
/// deleted key must be known and dynamic; only set values are parsed.
pub fn validate_dynamic_broker_changes(
    changes: &BTreeMap<String, Option<String>>,
) -> Result<(), ConfigError> {
    if let Some(unknown) = changes.keys().find(|k| broker_config_def(k).is_none()) {
        return Err(ConfigError::UnknownBrokerConfig {
            name: unknown.clone(),
        });
    }
    let read_only: BTreeSet<&String> = changes
        .keys()
        .filter(|k| broker_config_def(k).is_some_and(|d| !d.dynamic))
        .collect();
    if !read_only.is_empty() {
        return Err(ConfigError::NotDynamicBrokerConfig {
            names: read_only.into_iter().cloned().collect(),
        });
    }
    for (name, raw) in changes {
        let Some(raw) = raw else { continue };
        if let Some(def) = broker_config_def(name) {
            def.parse(raw)
                .map_err(|problem| ConfigError::InvalidDynamicBrokerConfig {
                    name: name.clone(),
                    value: raw.clone(),
                    reason: def.kafka_reason(&problem),
                })?;
        }
    }
    // Deleting such a key is harmless (and cleans up what an older version stored).
    let not_acted_on: Vec<String> = changes
        .iter()
        .filter(|(k, v)| v.is_some() && broker_config_def(k).is_some_and(|d| !d.acted_on))
        .map(|(k, _)| k.clone())
        .collect();
    if !not_acted_on.is_empty() {
        return Err(ConfigError::NotActedOnDynamicBrokerConfig {
            names: not_acted_on,
        });
    }
    Ok(())
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
        BrokerConfig::assemble(
            self.identity(),
            self.static_values().clone(),
            dynamic_layer(cluster_default),
            dynamic_layer(per_broker),
        )
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
