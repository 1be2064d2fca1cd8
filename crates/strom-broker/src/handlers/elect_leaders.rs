//! ElectLeaders (API 43): preferred or unclean leader elections, decided by
//! the active controller (`kafka-leader-election.sh`, the admin clients'
//! `electLeaders`). Any broker answers; it forwards to the controller.
//! v0 has no election type: it is a preferred election.

use kafka_protocol::messages::elect_leaders_response::{PartitionResult, ReplicaElectionResult};
use kafka_protocol::messages::{ElectLeadersRequest, ElectLeadersResponse, TopicName};
use strom_controller::ElectionType;

use super::str_bytes;
use crate::broker::BrokerState;

/// Kafka's INVALID_REQUEST, for an election type it does not know.
const INVALID_REQUEST: i16 = 42;

pub(crate) async fn handle(
    state: &BrokerState,
    version: i16,
    req: ElectLeadersRequest,
) -> ElectLeadersResponse {
    let mut resp = ElectLeadersResponse::default();
    let named: Option<Vec<(String, Vec<i32>)>> = req.topic_partitions.map(|topics| {
        topics
            .into_iter()
            .map(|t| (t.topic.0.to_string(), t.partitions))
            .collect()
    });
    // Every named partition gets `code` (the request failed as a whole).
    let fail_all = |resp: &mut ElectLeadersResponse, code: i16, message: &str| {
        if version >= 1 {
            resp.error_code = code;
        }
        for (topic, partitions) in named.iter().flatten() {
            let mut result = ReplicaElectionResult::default();
            result.topic = TopicName(str_bytes(topic));
            for partition in partitions {
                let mut p = PartitionResult::default();
                p.partition_id = *partition;
                p.error_code = code;
                p.error_message = Some(str_bytes(message));
                result.partition_result.push(p);
            }
            resp.replica_election_results.push(result);
        }
    };
    let election_type = if version == 0 {
        Some(ElectionType::Preferred)
    } else {
        ElectionType::from_wire(req.election_type)
    };
    let Some(election_type) = election_type else {
        let message = format!("Unknown election type {}", req.election_type);
        fail_all(&mut resp, INVALID_REQUEST, &message);
        return resp;
    };
    let outcomes = match state
        .controller
        .elect_leaders(election_type, named.clone())
        .await
    {
        Ok(outcomes) => outcomes,
        Err(e) => {
            fail_all(&mut resp, e.code(), e.message());
            return resp;
        }
    };
    // The outcomes come in request order, topic by topic.
    for outcome in outcomes {
        let same_topic = resp
            .replica_election_results
            .last()
            .is_some_and(|r| r.topic.0.as_str() == outcome.topic);
        if !same_topic {
            let mut result = ReplicaElectionResult::default();
            result.topic = TopicName(str_bytes(&outcome.topic));
            resp.replica_election_results.push(result);
        }
        let mut p = PartitionResult::default();
        p.partition_id = outcome.partition;
        p.error_code = outcome.error_code;
        p.error_message = outcome.error_message.as_deref().map(str_bytes);
        if let Some(result) = resp.replica_election_results.last_mut() {
            result.partition_result.push(p);
        }
    }
    resp
}
