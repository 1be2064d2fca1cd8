use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use kafka_protocol::messages::{DescribeConfigsRequest, DescribeConfigsResponse};

use strom_config::ConfigEntry;

use super::str_bytes;
use crate::broker::BrokerState;

const RESOURCE_TOPIC: i8 = 2;
const RESOURCE_BROKER: i8 = 4;
const RESOURCE_GROUP: i8 = 32;

pub(crate) fn handle(state: &BrokerState, req: DescribeConfigsRequest) -> DescribeConfigsResponse {
    let image = state.image();
    let config = state.effective_config();
    let mut resp = DescribeConfigsResponse::default();
    for res in req.resources {
        let mut out = DescribeConfigsResult::default();
        out.resource_type = res.resource_type;
        out.resource_name = res.resource_name.clone();
        let keys: Option<Vec<String>> = res
            .configuration_keys
            .map(|k| k.iter().map(|s| s.to_string()).collect());
        let entries: Result<Vec<ConfigEntry>, (ResponseError, String)> = match res.resource_type {
            RESOURCE_TOPIC => match image.topic(&res.resource_name) {
                Some(_) => Ok(strom_config::describe_topic_configs(
                    &config,
                    image.topic_config(&res.resource_name),
                    keys.as_deref(),
                    req.include_synonyms,
                )),
                None => Err((
                    ResponseError::UnknownTopicOrPartition,
                    format!("topic '{}' does not exist", &*res.resource_name),
                )),
            },
            RESOURCE_BROKER => {
                let name = res.resource_name.to_string();
                if name.is_empty() {
                    // The cluster-wide dynamic defaults (Kafka's empty broker name).
                    Ok(strom_config::describe_default_broker_configs(
                        &config,
                        keys.as_deref(),
                        req.include_synonyms,
                    ))
                } else if name == state.node_id.to_string() {
                    // Kafka lists the broker's originals too: its listener.name.* keys.
                    let mut entries = strom_config::describe_broker_configs(
                        &config,
                        keys.as_deref(),
                        req.include_synonyms,
                    );
                    entries.extend(strom_config::describe_listener_configs(
                        &config,
                        keys.as_deref(),
                        req.include_synonyms,
                    ));
                    Ok(entries)
                } else {
                    Err((
                        ResponseError::InvalidRequest,
                        format!("broker {name} is not this broker ({})", state.node_id),
                    ))
                }
            }
            // Group configurations (KIP-848): every key, for any group id, existing or not.
            RESOURCE_GROUP if res.resource_name.is_empty() => Err((
                ResponseError::InvalidRequest,
                "Group name must not be empty".to_owned(),
            )),
            RESOURCE_GROUP => Ok(strom_config::describe_group_configs(
                &config,
                image.group_config(&res.resource_name),
                keys.as_deref(),
                req.include_synonyms,
            )),
            other => Err((
                ResponseError::InvalidRequest,
                format!("describing resource type {other} is not supported"),
            )),
        };
        match entries {
            Ok(entries) => {
                out.configs = entries
                    .into_iter()
                    .map(|e| {
                        let mut c = DescribeConfigsResourceResult::default();
                        c.name = str_bytes(&e.name);
                        c.value = if e.is_sensitive {
                            None
                        } else {
                            e.value.as_deref().map(str_bytes)
                        };
                        c.read_only = e.read_only;
                        c.config_source = e.source.code();
                        c.is_sensitive = e.is_sensitive;
                        c.config_type = e.config_type.code();
                        if req.include_documentation {
                            c.documentation = Some(str_bytes(&e.documentation));
                        }
                        c.synonyms = e
                            .synonyms
                            .into_iter()
                            .map(|s| {
                                let mut syn = DescribeConfigsSynonym::default();
                                syn.name = str_bytes(&s.name);
                                syn.value = s.value.as_deref().map(str_bytes);
                                syn.source = s.source.code();
                                syn
                            })
                            .collect();
                        c
                    })
                    .collect();
            }
            Err((code, message)) => {
                out.error_code = code.code();
                out.error_message = Some(str_bytes(&message));
            }
        }
        resp.results.push(out);
    }
    resp
}
