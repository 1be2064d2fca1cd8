//! AlterConfigs (legacy: the request replaces every override of the
//! resource) and IncrementalAlterConfigs (KIP-339: SET, DELETE, APPEND,
//! SUBTRACT per key). Both become "set / delete these keys" for the
//! controller, which validates the resulting overrides as a whole and writes
//! them as Config records; the broker applies topic overrides to its logs
//! when the image arrives, so they survive restart like any metadata.
//!
//! Broker resources (KIP-226) are this broker by id, or with an empty name
//! the cluster-wide default; only Kafka's dynamically updatable keys are
//! accepted (others: INVALID_REQUEST "Cannot update these configs
//! dynamically"). The broker layers them over server.properties when the
//! image arrives (`BrokerState::effective_config`).
//!
//! Group resources (type 32, KIP-848) take Kafka 4.0's group keys, validated here against
//! this broker's group coordinator bounds (`strom_config::validate_group_configs`, INVALID_CONFIG)
//! before the controller stores them; the group coordinator applies them to consumer groups.

use std::collections::BTreeMap;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::alter_configs_response::AlterConfigsResourceResponse as LegacyResult;
use kafka_protocol::messages::incremental_alter_configs_response::AlterConfigsResourceResponse as IncrementalResult;
use kafka_protocol::messages::{
    AlterConfigsRequest, AlterConfigsResponse, IncrementalAlterConfigsRequest,
    IncrementalAlterConfigsResponse,
};
use kafka_protocol::protocol::StrBytes;

use strom_config::ConfigType;
use strom_controller::AlterConfigs;
use strom_metadata::ConfigResource;

use super::{str_bytes, string};
use crate::broker::BrokerState;

const RESOURCE_TOPIC: i8 = 2;
const RESOURCE_BROKER: i8 = 4;
const RESOURCE_GROUP: i8 = 32;

const OP_SET: i8 = 0;
const OP_DELETE: i8 = 1;
const OP_APPEND: i8 = 2;
const OP_SUBTRACT: i8 = 3;

type Outcome = (i8, StrBytes, i16, Option<String>);

/// A resource as asked (type, name) with its changes, or why it cannot be asked for.
type Prepared = (i8, StrBytes, Result<AlterConfigs, (ResponseError, String)>);

pub(crate) async fn handle_legacy(
    state: &BrokerState,
    req: AlterConfigsRequest,
) -> AlterConfigsResponse {
    let image = state.image();
    let mut prepared = Vec::new();
    for r in &req.resources {
        let changes = resource(r.resource_type, &r.resource_name).map(|resource| {
            // Everything not named goes back to its default.
            let mut changes: BTreeMap<String, Option<String>> = BTreeMap::new();
            let existing = match &resource {
                ConfigResource::Topic(name) => image.topic_config(name),
                ConfigResource::Broker(id) => image.broker_config(*id),
                ConfigResource::Group(group) => image.group_config(group),
            };
            for key in existing.keys() {
                changes.insert(key.clone(), None);
            }
            for c in &r.configs {
                changes.insert(string(&c.name), c.value.as_ref().map(string));
            }
            AlterConfigs { resource, changes }
        });
        prepared.push((r.resource_type, r.resource_name.clone(), changes));
    }
    let outcomes = apply(state, prepared, req.validate_only).await;
    let mut resp = AlterConfigsResponse::default();
    resp.responses = outcomes
        .into_iter()
        .map(|(resource_type, resource_name, code, message)| {
            let mut r = LegacyResult::default();
            r.resource_type = resource_type;
            r.resource_name = resource_name;
            r.error_code = code;
            r.error_message = message.as_deref().map(str_bytes);
            r
        })
        .collect();
    resp
}

pub(crate) async fn handle_incremental(
    state: &BrokerState,
    req: IncrementalAlterConfigsRequest,
) -> IncrementalAlterConfigsResponse {
    let mut prepared = Vec::new();
    for r in &req.resources {
        let changes = resource(r.resource_type, &r.resource_name).and_then(|resource| {
            let mut changes: BTreeMap<String, Option<String>> = BTreeMap::new();
            for c in &r.configs {
                let key = string(&c.name);
                if changes.contains_key(&key) {
                    return Err((
                        ResponseError::InvalidRequest,
                        format!("duplicate key {key} in one resource"),
                    ));
                }
                let value = c.value.as_ref().map(string);
                let change = match c.config_operation {
                    OP_SET => value,
                    OP_DELETE => None,
                    OP_APPEND | OP_SUBTRACT => Some(list_change(
                        state,
                        &resource,
                        &key,
                        c.config_operation,
                        value.as_deref(),
                    )?),
                    other => {
                        return Err((
                            ResponseError::InvalidRequest,
                            format!("unknown config operation {other} for {key}"),
                        ))
                    }
                };
                changes.insert(key, change);
            }
            Ok(AlterConfigs { resource, changes })
        });
        prepared.push((r.resource_type, r.resource_name.clone(), changes));
    }
    let outcomes = apply(state, prepared, req.validate_only).await;
    let mut resp = IncrementalAlterConfigsResponse::default();
    resp.responses = outcomes
        .into_iter()
        .map(|(resource_type, resource_name, code, message)| {
            let mut r = IncrementalResult::default();
            r.resource_type = resource_type;
            r.resource_name = resource_name;
            r.error_code = code;
            r.error_message = message.as_deref().map(str_bytes);
            r
        })
        .collect();
    resp
}

fn resource(resource_type: i8, name: &StrBytes) -> Result<ConfigResource, (ResponseError, String)> {
    match resource_type {
        RESOURCE_TOPIC => Ok(ConfigResource::Topic(string(name))),
        RESOURCE_BROKER => {
            let name = string(name);
            if name.is_empty() {
                return Ok(ConfigResource::Broker(None));
            }
            name.parse::<i32>()
                .map(|id| ConfigResource::Broker(Some(id)))
                .map_err(|_| {
                    (
                        ResponseError::InvalidRequest,
                        format!("broker resource name {name:?} is not a broker id"),
                    )
                })
        }
        RESOURCE_GROUP => Ok(ConfigResource::Group(string(name))),
        other => Err((
            ResponseError::InvalidRequest,
            format!("altering resource type {other} is not supported"),
        )),
    }
}

/// APPEND / SUBTRACT on a list-typed key, resolved against the current
/// value (the override, else the broker's default) into a SET.
fn list_change(
    state: &BrokerState,
    resource: &ConfigResource,
    key: &str,
    op: i8,
    value: Option<&str>,
) -> Result<String, (ResponseError, String)> {
    let def = match resource {
        ConfigResource::Topic(_) => strom_config::topic_config_def(key),
        ConfigResource::Broker(_) => strom_config::broker_config_def(key),
        ConfigResource::Group(_) => strom_config::group_config_def(key),
    }
    .ok_or((
        ResponseError::InvalidConfig,
        format!("unknown config {key}"),
    ))?;
    if def.config_type != ConfigType::List {
        return Err((
            ResponseError::InvalidConfig,
            format!("{key} is not a list config: APPEND and SUBTRACT need a list"),
        ));
    }
    let image = state.image();
    let config = state.effective_config();
    let keys = [key.to_owned()];
    let entries = match resource {
        ConfigResource::Topic(topic) => strom_config::describe_topic_configs(
            &config,
            image.topic_config(topic),
            Some(&keys),
            false,
        ),
        ConfigResource::Broker(_) => {
            strom_config::describe_broker_configs(&config, Some(&keys), false)
        }
        ConfigResource::Group(group) => strom_config::describe_group_configs(
            &config,
            image.group_config(group),
            Some(&keys),
            false,
        ),
    };
    let current = entries
        .into_iter()
        .next()
        .and_then(|e| e.value)
        .unwrap_or_default();
    let mut items: Vec<String> = current
        .split(',')
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect();
    let given: Vec<String> = value
        .unwrap_or("")
        .split(',')
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect();
    if op == OP_APPEND {
        for g in given {
            if !items.contains(&g) {
                items.push(g);
            }
        }
    } else {
        items.retain(|i| !given.contains(i));
    }
    Ok(items.join(","))
}

async fn apply(state: &BrokerState, prepared: Vec<Prepared>, validate_only: bool) -> Vec<Outcome> {
    let image = state.image();
    let mut to_controller = Vec::new();
    let mut outcomes: Vec<Outcome> = Vec::new();
    let mut tls_reloads = Vec::new();
    for (resource_type, name, changes) in prepared {
        match changes {
            Err((code, message)) => {
                outcomes.push((resource_type, name, code.code(), Some(message)))
            }
            Ok(alter) => {
                if let ConfigResource::Topic(topic) = &alter.resource {
                    if image.topic(topic).is_none() {
                        outcomes.push((
                            resource_type,
                            name,
                            ResponseError::UnknownTopicOrPartition.code(),
                            Some(format!("topic '{topic}' does not exist")),
                        ));
                        continue;
                    }
                    if let Some(key) = alter
                        .changes
                        .keys()
                        .find(|k| strom_config::topic_config_def(k).is_none())
                    {
                        outcomes.push((
                            resource_type,
                            name,
                            ResponseError::InvalidConfig.code(),
                            Some(format!("unknown topic config {key}")),
                        ));
                        continue;
                    }
                }
                if let ConfigResource::Broker(broker) = &alter.resource {
                    if let Err((code, message)) =
                        validate_broker_changes(&alter.changes, broker.is_some())
                    {
                        outcomes.push((resource_type, name, code, Some(message)));
                        continue;
                    }
                    if *broker == Some(state.node_id) {
                        match prepare_tls_reload(state, &image, &alter.changes) {
                            Ok(prepared) if !prepared.is_empty() => {
                                tls_reloads.push((outcomes.len(), prepared))
                            }
                            Ok(_) => {}
                            Err(message) => {
                                outcomes.push((
                                    resource_type,
                                    name,
                                    ResponseError::InvalidConfig.code(),
                                    Some(message),
                                ));
                                continue;
                            }
                        }
                    }
                    let inert = strom_config::not_acted_on(&alter.changes);
                    if !inert.is_empty() && !validate_only {
                        tracing::info!(
                            "broker config {:?} updated with keys accepted, not used by Strom: {}",
                            alter.resource,
                            inert.join(", ")
                        );
                    }
                }
                if let ConfigResource::Group(group) = &alter.resource {
                    // Kafka's GroupConfig.validate, over the overrides as they would become.
                    let mut merged = image.group_config(group).clone();
                    for (key, value) in &alter.changes {
                        match value {
                            Some(value) => merged.insert(key.clone(), value.clone()),
                            None => merged.remove(key),
                        };
                    }
                    let config = state.effective_config();
                    if let Err(e) = strom_config::validate_group_configs(&merged, &config) {
                        outcomes.push((
                            resource_type,
                            name,
                            e.kafka_error_code(),
                            Some(e.to_string()),
                        ));
                        continue;
                    }
                }
                outcomes.push((resource_type, name, 0, None));
                to_controller.push((outcomes.len() - 1, alter));
            }
        }
    }
    if to_controller.is_empty() {
        return outcomes;
    }
    let (indexes, requests): (Vec<usize>, Vec<AlterConfigs>) = to_controller.into_iter().unzip();
    let results = state
        .controller
        .alter_configs(requests, validate_only)
        .await;
    for (i, result) in indexes.into_iter().zip(results) {
        if let Some(e) = result.error {
            outcomes[i].2 = e.code();
            outcomes[i].3 = Some(e.message().to_owned());
        }
    }
    if !validate_only {
        for (i, prepared) in tls_reloads {
            if outcomes[i].2 == 0 {
                crate::tls::TlsListeners::install(prepared);
            }
        }
        state.sync_replicas().await;
    }
    outcomes
}

/// For a change of this broker's listener SSL keys: the new TLS acceptors, built from the
/// configuration as the change would make it (Kafka's `SslFactory` reconfiguration: the
/// files are read again even when the values are the same). An error is the change's
/// INVALID_CONFIG message.
fn prepare_tls_reload(
    state: &BrokerState,
    image: &strom_metadata::MetadataImage,
    changes: &BTreeMap<String, Option<String>>,
) -> Result<Vec<crate::tls::Prepared>, String> {
    let keys: Vec<String> = changes.keys().cloned().collect();
    let mut merged = image.broker_config(Some(state.node_id)).clone();
    for (key, value) in changes {
        match value {
            Some(value) => merged.insert(key.clone(), value.clone()),
            None => merged.remove(key),
        };
    }
    let config = state
        .config
        .with_dynamic(image.broker_config(None), &merged);
    state
        .tls
        .prepare(&config, &keys)
        .map_err(|e| format!("Validation of dynamic config update of SSLFactory failed: {e}"))
}

/// Broker keys must be known and dynamically updatable; set values must be valid.
fn validate_broker_changes(
    changes: &BTreeMap<String, Option<String>>,
    per_broker: bool,
) -> Result<(), (i16, String)> {
    strom_config::validate_dynamic_broker_update(changes, per_broker)
        .map_err(|e| (e.kafka_error_code(), e.to_string()))
}
