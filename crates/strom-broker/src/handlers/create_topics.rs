use std::collections::BTreeMap;

use kafka_protocol::messages::create_topics_response::{
    CreatableTopicConfigs, CreatableTopicResult,
};
use kafka_protocol::messages::{CreateTopicsRequest, CreateTopicsResponse};
use uuid::Uuid;

use strom_controller::CreateTopic;

use super::str_bytes;
use crate::broker::BrokerState;

pub(crate) async fn handle(
    state: &BrokerState,
    version: i16,
    req: CreateTopicsRequest,
    quota: crate::quota::MutationQuota<'_>,
) -> CreateTopicsResponse {
    let mut requests: Vec<CreateTopic> = req
        .topics
        .into_iter()
        .map(|t| CreateTopic {
            name: t.name.0.to_string(),
            num_partitions: t.num_partitions,
            replication_factor: t.replication_factor,
            assignments: t
                .assignments
                .into_iter()
                .map(|a| {
                    (
                        a.partition_index,
                        a.broker_ids.into_iter().map(|b| b.0).collect(),
                    )
                })
                .collect(),
            configs: t
                .configs
                .into_iter()
                .filter_map(|c| c.value.map(|v| (c.name.to_string(), v.to_string())))
                .collect::<BTreeMap<_, _>>(),
        })
        .collect();
    // controller_mutation_rate (KIP-599): strict from v6, so a topic over
    // the quota is refused with THROTTLING_QUOTA_EXCEEDED; earlier versions
    // are created and throttled. Kafka's controller charges a topic only
    // once it has validated it, so a dry run first finds the topics the
    // controller would refuse (they are not charged).
    let mut refused = Vec::new();
    let mut throttle_ms = 0;
    if !req.validate_only && state.quotas.controller_mutation.enabled() {
        let valid: std::collections::HashSet<String> = state
            .create_topics(requests.clone(), true)
            .await
            .into_iter()
            .filter(|o| o.error.is_none())
            .map(|o| o.name)
            .collect();
        let default_partitions = state.effective_config().num_partitions;
        let (admitted, over, t_ms) = quota.charge(&state.quotas, requests, version >= 6, |t| {
            let partitions = if !t.assignments.is_empty() {
                t.assignments.len() as i32
            } else if t.num_partitions > 0 {
                t.num_partitions
            } else {
                default_partitions
            };
            valid.contains(&t.name).then_some(f64::from(partitions))
        });
        requests = admitted;
        refused = over.into_iter().map(|t| t.name).collect();
        throttle_ms = t_ms;
    }
    let outcomes = state.create_topics(requests, req.validate_only).await;
    let mut resp = CreateTopicsResponse::default();
    resp.throttle_time_ms = throttle_ms;
    for name in refused {
        let mut r = CreatableTopicResult::default();
        r.name = kafka_protocol::messages::TopicName(str_bytes(&name));
        r.error_code = kafka_protocol::ResponseError::ThrottlingQuotaExceeded.code();
        r.error_message = Some(str_bytes(crate::quota::THROTTLED_MESSAGE));
        r.num_partitions = -1;
        r.replication_factor = -1;
        resp.topics.push(r);
    }
    for o in outcomes {
        let mut r = CreatableTopicResult::default();
        r.name = kafka_protocol::messages::TopicName(str_bytes(&o.name));
        r.topic_id = o
            .topic_id
            .map(|id| Uuid::from_bytes(id.to_bytes()))
            .unwrap_or(Uuid::nil());
        r.num_partitions = o.num_partitions;
        r.replication_factor = o.replication_factor;
        match &o.error {
            Some(e) => {
                r.error_code = e.code();
                r.error_message = Some(str_bytes(&e.to_string()));
                r.num_partitions = -1;
                r.replication_factor = -1;
            }
            // v5+ returns the topic's configs (KIP-525).
            None if version >= 5 => {
                let overrides = o.configs.clone();
                r.configs = Some(
                    strom_config::describe_topic_configs(
                        &state.effective_config(),
                        &overrides,
                        None,
                        false,
                    )
                    .into_iter()
                    .map(|e| {
                        let mut c = CreatableTopicConfigs::default();
                        c.name = str_bytes(&e.name);
                        c.value = e.value.as_deref().map(str_bytes);
                        c.read_only = e.read_only;
                        c.config_source = e.source.code();
                        c.is_sensitive = e.is_sensitive;
                        c
                    })
                    .collect(),
                );
            }
            None => {}
        }
        resp.topics.push(r);
    }
    resp
}
