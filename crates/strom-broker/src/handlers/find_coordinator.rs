//! FindCoordinator. A group's coordinator is the leader of its
//! `__consumer_offsets` partition (`partition_for`), which the first
//! FindCoordinator for any group creates, as Kafka does; until that
//! partition's shard is loaded the answer is COORDINATOR_NOT_AVAILABLE and
//! clients retry. librdkafka treats FindCoordinator v0 as the marker of a
//! broker that understands compressed batches, so it is advertised from v0.
//! A transactional id's coordinator (key type 1) is the leader of its
//! `__transaction_state` partition, created on first use the same way.
//! Share keys get COORDINATOR_NOT_AVAILABLE.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};
use kafka_protocol::protocol::StrBytes;

use strom_coordinator::txn::TRANSACTION_STATE_TOPIC;
use strom_coordinator::CONSUMER_OFFSETS_TOPIC;

use super::str_bytes;
use crate::broker::BrokerState;

const KEY_TYPE_GROUP: i8 = 0;
const KEY_TYPE_TRANSACTION: i8 = 1;

/// Longest FindCoordinator waits for a coordinator shard to finish loading.
const LOAD_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

pub(crate) async fn handle(
    state: &BrokerState,
    version: i16,
    req: FindCoordinatorRequest,
    listener: &str,
) -> FindCoordinatorResponse {
    let topic_error = match req.key_type {
        KEY_TYPE_GROUP => state.ensure_offsets_topic().await.err(),
        KEY_TYPE_TRANSACTION => state.ensure_transaction_state_topic().await.err(),
        _ => None,
    };
    if matches!(req.key_type, KEY_TYPE_GROUP | KEY_TYPE_TRANSACTION) && topic_error.is_none() {
        // A shard loads in milliseconds when its partition is small; waiting
        // here spares clients a round of COORDINATOR_LOAD_IN_PROGRESS.
        let keys: Vec<&str> = if version < 4 {
            vec![req.key.as_str()]
        } else {
            req.coordinator_keys.iter().map(|k| k.as_str()).collect()
        };
        for key in keys {
            if req.key_type == KEY_TYPE_GROUP {
                state
                    .groups
                    .wait_loaded(state.groups.partition_for(key), LOAD_WAIT)
                    .await;
            } else {
                state
                    .txns
                    .wait_loaded(state.txns.partition_for(key), LOAD_WAIT)
                    .await;
            }
        }
    }
    let mut resp = FindCoordinatorResponse::default();
    if version < 4 {
        let c = coordinator(state, listener, req.key_type, req.key, topic_error);
        resp.error_code = c.error_code;
        resp.error_message = c.error_message;
        resp.node_id = c.node_id;
        resp.host = c.host;
        resp.port = c.port;
    } else {
        resp.coordinators = req
            .coordinator_keys
            .into_iter()
            .map(|k| coordinator(state, listener, req.key_type, k, topic_error))
            .collect();
    }
    resp
}

fn coordinator(
    state: &BrokerState,
    listener: &str,
    key_type: i8,
    key: StrBytes,
    topic_error: Option<i16>,
) -> Coordinator {
    let mut c = Coordinator::default();
    c.node_id = BrokerId(-1);
    c.host = str_bytes("");
    c.port = -1;
    if key_type != KEY_TYPE_GROUP && key_type != KEY_TYPE_TRANSACTION {
        c.key = key;
        c.error_code = ResponseError::CoordinatorNotAvailable.code();
        c.error_message = Some(str_bytes(
            "this broker does not run a share coordinator yet",
        ));
        return c;
    }
    let (topic, index, loaded) = if key_type == KEY_TYPE_GROUP {
        let index = state.groups.partition_for(key.as_str());
        (CONSUMER_OFFSETS_TOPIC, index, state.groups.is_loaded(index))
    } else {
        let index = state.txns.partition_for(key.as_str());
        (TRANSACTION_STATE_TOPIC, index, state.txns.is_loaded(index))
    };
    let fail = |mut c: Coordinator, code: i16, message: String| {
        c.error_code = code;
        c.error_message = Some(str_bytes(&message));
        c
    };
    if let Some(code) = topic_error {
        c.key = key;
        return fail(c, code, format!("could not create {topic}"));
    }
    c.key = key;
    let image = state.image();
    let leader = image
        .topic(topic)
        .and_then(|t| t.partitions.get(&index))
        .map(|p| p.leader)
        .unwrap_or(-1);
    if leader < 0 || (leader == state.node_id && !loaded) {
        let message = format!("the coordinator partition {topic}-{index} is not available yet");
        return fail(c, ResponseError::CoordinatorNotAvailable.code(), message);
    }
    match state
        .brokers(listener)
        .into_iter()
        .find(|b| b.node_id == leader)
    {
        Some(b) => {
            c.node_id = BrokerId(b.node_id);
            c.host = str_bytes(&b.host);
            c.port = b.port as i32;
        }
        None => {
            let message = format!("the leader {leader} of {topic}-{index} is not registered");
            return fail(c, ResponseError::CoordinatorNotAvailable.code(), message);
        }
    }
    c
}
