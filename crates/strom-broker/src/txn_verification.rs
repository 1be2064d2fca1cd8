//! KIP-890 part 1: before a partition leader appends a producer's first
//! transactional batch, it asks the transaction coordinator whether the
//! partition is in the producer's ongoing transaction (AddPartitionsToTxn v4
//! with `verify_only`, broker to broker, to the leader of the
//! `__transaction_state` partition of the transactional id). Kafka's
//! `AddPartitionsToTxnManager` does the same, batching per coordinator node;
//! here one request per Produce request, over one cached connection per
//! coordinator broker.
//!
//! Coordinator errors become what the producer's client retries without a
//! metadata refresh, as Kafka converts them: CONCURRENT_TRANSACTIONS,
//! COORDINATOR_LOAD_IN_PROGRESS, COORDINATOR_NOT_AVAILABLE, NOT_COORDINATOR
//! and a failed connection → NOT_ENOUGH_REPLICAS; PRODUCER_FENCED →
//! INVALID_PRODUCER_EPOCH; TRANSACTION_ABORTABLE (the partition is not in
//! the transaction) → INVALID_TXN_STATE for a client too old to know it
//! (Produce v3-10, TxnOffsetCommit v0-3); anything else as the coordinator
//! answered.

use std::collections::HashMap;
use std::time::Duration;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::add_partitions_to_txn_request::{
    AddPartitionsToTxnTopic, AddPartitionsToTxnTransaction,
};
use kafka_protocol::messages::{
    AddPartitionsToTxnRequest, ApiKey, ProducerId, TopicName, TransactionalId,
};
use strom_client::{Connection, ConnectionConfig};

use crate::broker::BrokerState;
use crate::handlers::str_bytes;

/// AddPartitionsToTxn v4 is the first with `verify_only`.
const MIN_VERIFY_VERSION: i16 = 4;

/// Connections to transaction coordinators, one per broker.
#[derive(Default)]
pub(crate) struct TxnVerifier {
    connections: tokio::sync::Mutex<HashMap<i32, Connection>>,
}

/// What the requesting client supports, from its request's version (Kafka's
/// `TransactionSupportedOperation`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Supported {
    /// Produce v3-10, TxnOffsetCommit v0-3: no TRANSACTION_ABORTABLE.
    DefaultError,
    /// Produce v11, TxnOffsetCommit v4: TRANSACTION_ABORTABLE (KIP-890 part 1).
    GenericError,
    /// Produce v12+, TxnOffsetCommit v5+ (transactions v2, KIP-890 part 2):
    /// the partition is added to the transaction, not only verified.
    AddPartition,
}

impl Supported {
    pub(crate) fn for_produce(version: i16) -> Supported {
        match version {
            12.. => Supported::AddPartition,
            11 => Supported::GenericError,
            _ => Supported::DefaultError,
        }
    }

    pub(crate) fn for_txn_offset_commit(version: i16) -> Supported {
        match version {
            5.. => Supported::AddPartition,
            4 => Supported::GenericError,
            _ => Supported::DefaultError,
        }
    }

    pub(crate) fn adds(self) -> bool {
        self == Supported::AddPartition
    }
}

/// Kafka's conversion of a verification error for the producer
/// (`AddPartitionsToTxnManager`).
pub(crate) fn produce_error_for(code: i16, supported: Supported) -> i16 {
    match ResponseError::try_from_code(code) {
        Some(ResponseError::TransactionAbortable) if supported == Supported::DefaultError => {
            ResponseError::InvalidTxnState.code()
        }
        Some(
            ResponseError::ConcurrentTransactions
            | ResponseError::CoordinatorLoadInProgress
            | ResponseError::CoordinatorNotAvailable
            | ResponseError::NotCoordinator
            | ResponseError::NetworkException,
        ) => ResponseError::NotEnoughReplicas.code(),
        Some(ResponseError::ProducerFenced) => ResponseError::InvalidProducerEpoch.code(),
        _ => code,
    }
}

impl TxnVerifier {
    /// Asks the coordinator of `transactional_id` whether each of
    /// `partitions` is in the transaction of `producer_id` at
    /// `producer_epoch`, or, for a transactions-v2 producer
    /// (`Supported::AddPartition`, KIP-890 part 2), adds them to it
    /// (AddPartitionsToTxn v5 without `verify_only`). Returns each
    /// partition's error code, already converted for the producer as its
    /// request's version supports (0: verified).
    pub async fn verify(
        &self,
        state: &BrokerState,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        partitions: &[(TopicName, i32)],
        supported: Supported,
    ) -> HashMap<(TopicName, i32), i16> {
        let all = |code: i16| {
            partitions
                .iter()
                .map(|p| (p.clone(), produce_error_for(code, supported)))
                .collect()
        };
        let image = state.image();
        let Some(coordinator) = coordinator_of(&image, transactional_id) else {
            return all(ResponseError::CoordinatorNotAvailable.code());
        };
        let mut by_topic: HashMap<&TopicName, Vec<i32>> = HashMap::new();
        for (topic, index) in partitions {
            by_topic.entry(topic).or_default().push(*index);
        }
        let request = AddPartitionsToTxnRequest::default().with_transactions(vec![
            AddPartitionsToTxnTransaction::default()
                .with_transactional_id(TransactionalId(str_bytes(transactional_id)))
                .with_producer_id(ProducerId(producer_id))
                .with_producer_epoch(producer_epoch)
                .with_verify_only(!supported.adds())
                .with_topics(
                    by_topic
                        .into_iter()
                        .map(|(name, indexes)| {
                            AddPartitionsToTxnTopic::default()
                                .with_name(name.clone())
                                .with_partitions(indexes)
                        })
                        .collect(),
                ),
        ]);
        let response = match self.send(state, coordinator, &request).await {
            Ok(response) => response,
            Err(e) => {
                tracing::debug!(
                    coordinator,
                    transactional_id,
                    "transaction verification failed: {e}"
                );
                return all(ResponseError::NetworkException.code());
            }
        };
        if response.error_code != 0 {
            return all(response.error_code);
        }
        let mut out: HashMap<(TopicName, i32), i16> = HashMap::new();
        for result in response.results_by_transaction {
            for topic in result.topic_results {
                for p in topic.results_by_partition {
                    out.insert(
                        (topic.name.clone(), p.partition_index),
                        produce_error_for(p.partition_error_code, supported),
                    );
                }
            }
        }
        // A partition the answer leaves out was not verified.
        for p in partitions {
            out.entry(p.clone())
                .or_insert(ResponseError::InvalidTxnState.code());
        }
        out
    }

    async fn send(
        &self,
        state: &BrokerState,
        broker: i32,
        request: &AddPartitionsToTxnRequest,
    ) -> Result<kafka_protocol::messages::AddPartitionsToTxnResponse, String> {
        let mut connections = self.connections.lock().await;
        if connections.get(&broker).is_none_or(Connection::is_broken) {
            connections.remove(&broker);
            let conn = connect(state, broker).await?;
            connections.insert(broker, conn);
        }
        let conn = connections
            .get_mut(&broker)
            .ok_or_else(|| "no connection".to_owned())?;
        let version = conn
            .version(ApiKey::AddPartitionsToTxn)
            .map_err(|e| e.to_string())?;
        if version < MIN_VERIFY_VERSION {
            return Err(format!(
                "broker {broker} speaks AddPartitionsToTxn up to v{version}, below v{MIN_VERIFY_VERSION} (verify_only)"
            ));
        }
        let result = conn.send(request).await.map_err(|e| e.to_string());
        if result.is_err() {
            connections.remove(&broker);
        }
        result
    }
}

/// The broker leading the `__transaction_state` partition of the id.
fn coordinator_of(image: &strom_metadata::MetadataImage, transactional_id: &str) -> Option<i32> {
    let topic = image.topic(strom_metadata::TRANSACTION_STATE_TOPIC_NAME)?;
    let n = i32::try_from(topic.partitions.len()).ok()?;
    let index = strom_coordinator::partition_for(transactional_id, n);
    let leader = topic.partitions.get(&index)?.leader;
    (leader >= 0).then_some(leader)
}

async fn connect(state: &BrokerState, broker: i32) -> Result<Connection, String> {
    let image = state.image();
    let info = image
        .broker(broker)
        .ok_or_else(|| format!("broker {broker} is not registered"))?;
    let endpoint = match &state.config.quorum.inter_broker_listener_name {
        Some(name) => info.listeners.iter().find(|l| &l.name == name),
        None => None,
    }
    .or_else(|| info.listeners.first())
    .ok_or_else(|| format!("broker {broker} has no listener"))?;
    let addr = format!("{}:{}", endpoint.host, endpoint.port);
    let config = ConnectionConfig {
        client_id: format!("strom-txn-verification-{}", state.node_id),
        request_timeout: Duration::from_millis(state.effective_config().request_timeout_ms),
        tls: state.inter_broker_tls.current(),
        sasl: crate::sasl::inter_broker_credentials(&state.config.security, endpoint),
        ..ConnectionConfig::default()
    };
    Connection::connect(&addr, &config)
        .await
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coordinator_errors_become_what_producers_retry() {
        for supported in [
            Supported::DefaultError,
            Supported::GenericError,
            Supported::AddPartition,
        ] {
            for retriable in [51, 14, 15, 16, 13] {
                assert_eq!(produce_error_for(retriable, supported), 19, "{retriable}");
            }
            assert_eq!(produce_error_for(90, supported), 47, "PRODUCER_FENCED");
            assert_eq!(produce_error_for(48, supported), 48);
            assert_eq!(produce_error_for(0, supported), 0);
        }
        // TRANSACTION_ABORTABLE only for a client that knows it.
        assert_eq!(produce_error_for(120, Supported::DefaultError), 48);
        assert_eq!(produce_error_for(120, Supported::GenericError), 120);
        assert_eq!(produce_error_for(120, Supported::AddPartition), 120);
        assert_eq!(Supported::for_produce(10), Supported::DefaultError);
        assert_eq!(Supported::for_produce(11), Supported::GenericError);
        assert_eq!(Supported::for_produce(12), Supported::AddPartition);
        assert_eq!(Supported::for_txn_offset_commit(3), Supported::DefaultError);
        assert_eq!(Supported::for_txn_offset_commit(4), Supported::GenericError);
        assert_eq!(Supported::for_txn_offset_commit(5), Supported::AddPartition);
    }
}
