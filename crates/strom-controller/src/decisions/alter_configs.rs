//! Config overrides for topics, brokers and groups (the controller's half of
//! IncrementalAlterConfigs and AlterConfigs, as Kafka's
//! `ConfigurationControlManager`).
//!
//! Changes arrive as "set this key" or "delete this key". APPEND and
//! SUBTRACT on list configs need the config definitions (types, defaults),
//! which live in the broker; it resolves them against the image into a SET
//! before asking, the same way it maps a legacy AlterConfigs (replace all)
//! into sets plus deletes.

use std::collections::{BTreeMap, HashMap, HashSet};

use strom_metadata::{validate_topic_name, ConfigResource, MetadataImage, MetadataRecord};

use super::create_topics::ValidateConfigs;
use super::{config_value_too_large, MAX_CONFIG_VALUE_BYTES};
use crate::error::ControllerError;

/// The changes for one resource.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AlterConfigs {
    pub resource: ConfigResource,
    /// Key to new value; `None` deletes the override.
    pub changes: BTreeMap<String, Option<String>>,
}

/// The result for one resource.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AlterConfigsOutcome {
    pub resource: ConfigResource,
    pub error: Option<ControllerError>,
}

/// Decides config changes against `image`: one outcome per distinct
/// resource, in request order, each with the `Config` records of the values
/// that actually change. A resource's changes apply all or none: one bad key
/// fails the resource. Topic overrides are validated as a whole (existing
/// overrides with the changes applied) by `validate_topic_configs`; broker
/// overrides are validated by the broker before it asks.
pub fn alter_configs(
    image: &MetadataImage,
    resources: &[AlterConfigs],
    validate_topic_configs: ValidateConfigs<'_>,
) -> Vec<(AlterConfigsOutcome, Vec<MetadataRecord>)> {
    let mut occurrences: HashMap<&ConfigResource, usize> = HashMap::new();
    for alter in resources {
        *occurrences.entry(&alter.resource).or_default() += 1;
    }
    let mut seen = HashSet::new();
    resources
        .iter()
        .filter(|alter| seen.insert(&alter.resource))
        .map(|alter| {
            let decided = if occurrences.get(&alter.resource).is_some_and(|n| *n > 1) {
                Err(ControllerError::InvalidRequest(
                    "Duplicate resource.".into(),
                ))
            } else {
                alter_resource(image, alter, validate_topic_configs)
            };
            let (error, records) = match decided {
                Ok(records) => (None, records),
                Err(error) => (Some(error), Vec::new()),
            };
            let outcome = AlterConfigsOutcome {
                resource: alter.resource.clone(),
                error,
            };
            (outcome, records)
        })
        .collect()
}

fn alter_resource(
    image: &MetadataImage,
    alter: &AlterConfigs,
    validate_topic_configs: ValidateConfigs<'_>,
) -> Result<Vec<MetadataRecord>, ControllerError> {
    let current = match &alter.resource {
        ConfigResource::Topic(name) => {
            if name.is_empty() {
                return Err(ControllerError::InvalidRequest(
                    "Default topic resources are not allowed.".into(),
                ));
            }
            validate_topic_name(name)
                .map_err(|e| ControllerError::InvalidTopicException(e.message))?;
            if image.topic(name).is_none() {
                return Err(ControllerError::UnknownTopicOrPartition(format!(
                    "The topic '{name}' does not exist."
                )));
            }
            image.topic_config(name)
        }
        ConfigResource::Broker(broker_id) => {
            if let Some(id) = broker_id {
                if *id < 0 {
                    return Err(ControllerError::InvalidRequest(
                        "Invalid negative broker ID.".into(),
                    ));
                }
                if image.broker(*id).is_none() {
                    return Err(ControllerError::BrokerIdNotRegistered(format!(
                        "No broker with id {id} found."
                    )));
                }
            }
            image.broker_config(*broker_id)
        }
        // Validated by the broker against its group coordinator bounds before it asks (as
        // broker configs are); the group need not exist, as in Kafka.
        ConfigResource::Group(group_id) => {
            if group_id.is_empty() {
                return Err(ControllerError::InvalidRequest(
                    "Default group resources are not allowed.".into(),
                ));
            }
            image.group_config(group_id)
        }
    };
    let mut merged = current.clone();
    let mut records = Vec::new();
    for (name, value) in &alter.changes {
        if name.is_empty() {
            return Err(ControllerError::InvalidConfig(
                "A config name must not be empty.".into(),
            ));
        }
        if value
            .as_ref()
            .is_some_and(|v| v.len() > MAX_CONFIG_VALUE_BYTES)
        {
            return Err(config_value_too_large());
        }
        if current.get(name) == value.as_ref() {
            continue;
        }
        match value {
            Some(value) => merged.insert(name.clone(), value.clone()),
            None => merged.remove(name),
        };
        records.push(MetadataRecord::Config {
            resource: alter.resource.clone(),
            name: name.clone(),
            value: value.clone(),
        });
    }
    if matches!(alter.resource, ConfigResource::Topic(_)) {
        validate_topic_configs(&merged).map_err(ControllerError::InvalidConfig)?;
    }
    Ok(records)
}
