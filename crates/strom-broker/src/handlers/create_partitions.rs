use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::{CreatePartitionsRequest, CreatePartitionsResponse};

use strom_controller::CreatePartitions;

use super::str_bytes;
use crate::broker::BrokerState;

pub(crate) async fn handle(
    state: &BrokerState,
    req: CreatePartitionsRequest,
) -> CreatePartitionsResponse {
    let requests = req
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
