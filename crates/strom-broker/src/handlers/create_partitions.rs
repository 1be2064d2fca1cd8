use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::{CreatePartitionsRequest, CreatePartitionsResponse};

use strom_controller::CreatePartitions;

use super::str_bytes;
use crate::broker::BrokerState;

pub(crate) async fn handle(
    state: &BrokerState,
    version: i16,
    req: CreatePartitionsRequest,
    quota: crate::quota::MutationQuota<'_>,
) -> CreatePartitionsResponse {
    let requests: Vec<CreatePartitions> = req
        .topics
        .into_iter()
        .map(|t| CreatePartitions {
            name: t.name.0.to_string(),
            count: t.count,
            assignments: t.assignments.map(|a| {
                a.into_iter()
                    .map(|a| a.broker_ids.into_iter().map(|b| b.0).collect())
                    .collect()
            }),
        })
        .collect();
    let mut resp = CreatePartitionsResponse::default();
    // controller_mutation_rate (KIP-599): the new partitions count as
    // mutations; strict (THROTTLING_QUOTA_EXCEEDED) from v3. As Kafka's
    // controller, only a request it accepts is charged: a dry run first.
    let mut requests = requests;
    if !req.validate_only && state.quotas.controller_mutation.enabled() {
        let valid: std::collections::HashSet<String> = state
            .create_partitions(requests.clone(), true)
            .await
            .into_iter()
            .filter(|o| o.error.is_none())
            .map(|o| o.name)
            .collect();
        let image = state.image();
        let (admitted, refused, throttle_ms) =
            quota.charge(&state.quotas, requests, version >= 3, |t| {
                let current = image.topic(&t.name)?.partitions.len() as i32;
                valid
                    .contains(&t.name)
                    .then_some(f64::from(t.count - current))
            });
        resp.throttle_time_ms = throttle_ms;
        for t in refused {
            let mut r = CreatePartitionsTopicResult::default();
            r.name = kafka_protocol::messages::TopicName(str_bytes(&t.name));
            r.error_code = kafka_protocol::ResponseError::ThrottlingQuotaExceeded.code();
            r.error_message = Some(str_bytes(crate::quota::THROTTLED_MESSAGE));
            resp.results.push(r);
        }
        requests = admitted;
        if requests.is_empty() {
            return resp;
        }
    }
    for o in state.create_partitions(requests, req.validate_only).await {
        let mut r = CreatePartitionsTopicResult::default();
        r.name = kafka_protocol::messages::TopicName(str_bytes(&o.name));
        if let Some(e) = &o.error {
            r.error_code = e.code();
            r.error_message = Some(str_bytes(&e.to_string()));
        }
        resp.results.push(r);
    }
    resp
}
