//! InitProducerId (api key 22) for idempotent producers. Clients with
//! idempotence on (the default of the Java client since 3.0 and of
//! kafka-python 3) ask for a producer id before their first Produce.
//!
//! As in Kafka, a request without `transactional_id` always gets a fresh
//! producer id at epoch 0, whatever `producer_id`/`producer_epoch` it carries
//! (Kafka's `TransactionCoordinator.handleInitProducerId` "blindly accepts"
//! it): an idempotent producer bumps its epoch itself after a failed batch
//! (KIP-360), and asks for a new id only when the epoch would overflow, so
//! the broker has no epoch to bump. Ids come from blocks the controller hands
//! this broker ([`ProducerIdManager`]), so they are unique across restarts.
//!
//! A `transactional_id` goes to the transaction coordinator
//! (`txn_coordinator`): a new producer id for a new id, else an epoch bump
//! fencing the previous instance (KIP-360 recovery with producer id/epoch).

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};
use tokio::sync::Mutex as AsyncMutex;

use strom_controller::{ControllerError, ControllerHandle, PRODUCER_ID_BLOCK_SIZE};

use crate::broker::BrokerState;

/// `RecordBatch.NO_PRODUCER_ID` / `NO_PRODUCER_EPOCH`.
const NO_PRODUCER_ID: i64 = -1;
const NO_PRODUCER_EPOCH: i16 = -1;

pub(crate) async fn handle(
    state: &BrokerState,
    req: InitProducerIdRequest,
) -> InitProducerIdResponse {
    let mut resp = InitProducerIdResponse::default();
    resp.producer_id = ProducerId(NO_PRODUCER_ID);
    resp.producer_epoch = NO_PRODUCER_EPOCH;
    let expected = (req.producer_id.0, req.producer_epoch);
    if (expected.0 == NO_PRODUCER_ID) != (expected.1 == NO_PRODUCER_EPOCH) {
        // Kafka: both or neither of producerId and producerEpoch.
        resp.error_code = ResponseError::InvalidRequest.code();
        return resp;
    }
    match req.transactional_id {
        Some(id) if id.is_empty() => {
            resp.error_code = ResponseError::InvalidRequest.code();
        }
        Some(id) => {
            let id = id.0.to_string();
            let timeout_ms = req.transaction_timeout_ms;
            let expected = (expected.0 != NO_PRODUCER_ID).then_some(expected);
            match state.txns.fresh_producer_id_if_needed(state, &id).await {
                Err(code) => resp.error_code = code,
                Ok(fresh) => {
                    let index = state.txns.partition_for(&id);
                    match state
                        .txns
                        .call(index, move |shard, now| {
                            shard.init_producer_id(&id, timeout_ms, expected, fresh, now)
                        })
                        .await
                    {
                        Ok(Ok((pid, epoch))) => {
                            resp.producer_id = ProducerId(pid);
                            resp.producer_epoch = epoch;
                        }
                        Ok(Err(code)) | Err(code) => resp.error_code = code,
                    }
                }
            }
        }
        None => match state
            .producer_ids
            .generate(&state.controller, state.node_id)
            .await
        {
            Ok(producer_id) => {
                resp.producer_id = ProducerId(producer_id);
                resp.producer_epoch = 0;
            }
            Err(e) => {
                // Kafka's broker answers COORDINATOR_LOAD_IN_PROGRESS while it
                // has no block; the client retries.
                tracing::warn!(
                    error_code = e.code(),
                    "could not get a producer id block from the controller: {e}"
                );
                resp.error_code = ResponseError::CoordinatorLoadInProgress.code();
            }
        },
    }
    resp
}

/// Issues producer ids from a block the controller gave this broker, asking
/// for the next block when one is used up (Kafka's `RPCProducerIdManager`,
/// without its prefetch at 90%: a refill costs one metadata commit, once per
/// thousand producers). Ids left in a block at shutdown are never issued.
pub(crate) struct ProducerIdManager {
    /// `next..end` are still free.
    block: parking_lot::Mutex<(i64, i64)>,
    /// Held while asking the controller, so concurrent requests share one refill.
    refill: AsyncMutex<()>,
}

impl ProducerIdManager {
    pub fn new() -> ProducerIdManager {
        ProducerIdManager {
            block: parking_lot::Mutex::new((0, 0)),
            refill: AsyncMutex::new(()),
        }
    }

    fn take(&self) -> Option<i64> {
        let mut block = self.block.lock();
        let (next, end) = *block;
        (next < end).then(|| {
            block.0 = next + 1;
            next
        })
    }

    /// A producer id no one has had before.
    pub async fn generate(
        &self,
        controller: &ControllerHandle,
        broker_id: i32,
    ) -> Result<i64, ControllerError> {
        if let Some(id) = self.take() {
            return Ok(id);
        }
        let _refill = self.refill.lock().await;
        if let Some(id) = self.take() {
            return Ok(id);
        }
        let block = controller
            .allocate_producer_ids(broker_id, PRODUCER_ID_BLOCK_SIZE)
            .await?;
        tracing::debug!(
            first = block.first_producer_id,
            size = block.size,
            "got a producer id block"
        );
        *self.block.lock() = (block.first_producer_id + 1, block.next_block_first_id());
        Ok(block.first_producer_id)
    }
}
