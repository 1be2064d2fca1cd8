use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{DeleteTopicsRequest, DeleteTopicsResponse, TopicName};
use uuid::Uuid;

use strom_controller::DeleteTopic;

use super::str_bytes;
use crate::broker::BrokerState;

pub(crate) async fn handle(
    state: &BrokerState,
    version: i16,
    req: DeleteTopicsRequest,
    quota: crate::quota::MutationQuota<'_>,
) -> DeleteTopicsResponse {
    let targets: Vec<DeleteTopic> = if version >= 6 {
        req.topics
            .into_iter()
            .map(|t| {
                let id = strom_metadata::TopicId::from_bytes(*t.topic_id.as_bytes());
                DeleteTopic {
                    name: t.name.map(|n| n.0.to_string()),
                    topic_id: (!id.is_zero()).then_some(id),
                }
            })
            .collect()
    } else {
        req.topic_names
            .into_iter()
            .map(|n| DeleteTopic {
                name: Some(n.0.to_string()),
                topic_id: None,
            })
            .collect()
    };
    let mut resp = DeleteTopicsResponse::default();
    if !state.config.delete_topic_enable {
        for t in targets {
            let mut r = result_for(&t);
            r.error_code = ResponseError::TopicDeletionDisabled.code();
            r.error_message = Some(str_bytes("delete.topic.enable is false on this broker"));
            resp.responses.push(r);
        }
        return resp;
    }
    // controller_mutation_rate (KIP-599): a topic's partitions count as
    // mutations; strict (THROTTLING_QUOTA_EXCEEDED) from v5. A topic the
    // controller does not know is not charged.
    let image = state.image();
    let (targets, refused, throttle_ms) = quota.charge(&state.quotas, targets, version >= 5, |t| {
        let topic = match (t.topic_id, &t.name) {
            (Some(id), _) => image.topic_by_id(id),
            (None, Some(name)) => image.topic(name),
            (None, None) => None,
        };
        topic.map(|t| t.partitions.len() as f64)
    });
    resp.throttle_time_ms = throttle_ms;
    for t in refused {
        let mut r = result_for(&t);
        r.error_code = ResponseError::ThrottlingQuotaExceeded.code();
        r.error_message = Some(str_bytes(crate::quota::THROTTLED_MESSAGE));
        resp.responses.push(r);
    }
    if targets.is_empty() {
        return resp;
    }
    for o in state.delete_topics(targets).await {
        let mut r = DeletableTopicResult::default();
        r.name = o.name.as_deref().map(|n| TopicName(str_bytes(n)));
        r.topic_id = o
            .topic_id
            .map(|id| Uuid::from_bytes(id.to_bytes()))
            .unwrap_or(Uuid::nil());
        if let Some(e) = &o.error {
            r.error_code = e.code();
            r.error_message = Some(str_bytes(&e.to_string()));
        }
        resp.responses.push(r);
    }
    resp
}

fn result_for(t: &DeleteTopic) -> DeletableTopicResult {
    let mut r = DeletableTopicResult::default();
    r.name = t.name.as_deref().map(|n| TopicName(str_bytes(n)));
    if let Some(id) = t.topic_id {
        r.topic_id = Uuid::from_bytes(id.to_bytes());
    }
    r
}
