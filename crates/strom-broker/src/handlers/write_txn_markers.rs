//! WriteTxnMarkers (v1): the transaction coordinator asks each partition
//! leader to end a producer's transaction. For every partition this broker
//! leads, one control batch (Kafka's `EndTransactionMarker`) is appended
//! (`Partition::append_txn_marker`, with the producer epoch and coordinator
//! epoch checks) and the answer waits until the in-sync replicas have it, as
//! acks=all, up to `request.timeout.ms`. Errors are per partition, as Kafka's:
//! UNKNOWN_TOPIC_OR_PARTITION for a partition not hosted here,
//! NOT_LEADER_OR_FOLLOWER when not its leader, INVALID_PRODUCER_EPOCH,
//! TRANSACTION_COORDINATOR_FENCED, NOT_ENOUGH_REPLICAS(_AFTER_APPEND),
//! REQUEST_TIMED_OUT, KAFKA_STORAGE_ERROR.
//!
//! A `__consumer_offsets` partition's marker also decides the producer's
//! pending transactional offsets, so it is the group coordinator's to write
//! ([`complete_group_transaction`]).

use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::write_txn_markers_response::{
    WritableTxnMarkerPartitionResult, WritableTxnMarkerResult, WritableTxnMarkerTopicResult,
};
use kafka_protocol::messages::{ApiKey, WriteTxnMarkersRequest, WriteTxnMarkersResponse};

use crate::broker::{now_ms, BrokerState};
use crate::connection::Reply;
use crate::dispatch::encode;

/// The appends happen now, in request order; the waits for the ISR run
/// after the connection reads on (as Produce's acks=all).
pub(crate) fn handle(
    state: &Arc<BrokerState>,
    version: i16,
    corr: i32,
    req: WriteTxnMarkersRequest,
) -> Reply {
    let timeout = Duration::from_millis(state.effective_config().request_timeout_ms);
    let deadline = tokio::time::Instant::now() + timeout;
    let now = now_ms();
    let mut resp = WriteTxnMarkersResponse::default();
    // Every marker's appends first, then all the waits side by side.
    let mut waits = Vec::new();
    for (mi, marker) in req.markers.into_iter().enumerate() {
        let mut result = WritableTxnMarkerResult::default().with_producer_id(marker.producer_id);
        for (ti, topic) in marker.topics.into_iter().enumerate() {
            let mut out = WritableTxnMarkerTopicResult::default().with_name(topic.name.clone());
            for (pi, index) in topic.partition_indexes.into_iter().enumerate() {
                let mut pr =
                    WritableTxnMarkerPartitionResult::default().with_partition_index(index);
                if topic.name.0.as_str() == strom_coordinator::CONSUMER_OFFSETS_TOPIC {
                    waits.push(Wait::Group {
                        at: (mi, ti, pi),
                        index,
                        producer_id: marker.producer_id.0,
                        producer_epoch: marker.producer_epoch,
                        coordinator_epoch: marker.coordinator_epoch,
                        commit: marker.transaction_result,
                    });
                    out.partitions.push(pr);
                    continue;
                }
                let appended = state
                    .replicas
                    .leader_partition(&topic.name.0, index)
                    .map_err(|e| e.code())
                    .and_then(|partition| {
                        partition
                            .append_txn_marker(
                                marker.producer_id.0,
                                marker.producer_epoch,
                                marker.coordinator_epoch,
                                marker.transaction_result,
                                now,
                            )
                            .map(|info| (partition, info.last_offset + 1))
                            .map_err(|e| {
                                tracing::debug!(topic = %topic.name.0.as_str(), partition = index, producer_id = marker.producer_id.0, "transaction marker refused: {e}");
                                e.error_code()
                            })
                    });
                match appended {
                    Ok((partition, end)) => waits.push(Wait::Replicated {
                        at: (mi, ti, pi),
                        partition,
                        end,
                    }),
                    Err(code) => pr.error_code = code,
                }
                out.partitions.push(pr);
            }
            result.topics.push(out);
        }
        resp.markers.push(result);
    }
    if waits.is_empty() {
        return encode(ApiKey::WriteTxnMarkers, version, corr, &resp);
    }
    let state = Arc::clone(state);
    Reply::Later(Box::pin(async move {
        let state = &state;
        let results = futures_util::future::join_all(waits.into_iter().map(|wait| async move {
            match wait {
                Wait::Replicated { at, partition, end } => {
                    let result = match partition.wait_replicated(end, deadline).await {
                        Ok(()) => 0,
                        Err(e) => e.error_code(),
                    };
                    (at, result)
                }
                Wait::Group {
                    at,
                    index,
                    producer_id,
                    producer_epoch,
                    coordinator_epoch,
                    commit,
                } => {
                    let result = complete_group_transaction(
                        state,
                        index,
                        producer_id,
                        producer_epoch,
                        coordinator_epoch,
                        commit,
                    )
                    .await
                    .err()
                    .unwrap_or(0);
                    (at, result)
                }
            }
        }))
        .await;
        for ((mi, ti, pi), code) in results {
            resp.markers[mi].topics[ti].partitions[pi].error_code = code;
        }
        match encode(ApiKey::WriteTxnMarkers, version, corr, &resp) {
            Reply::Now(frame) => Some(frame),
            _ => None,
        }
    }))
}

enum Wait {
    Replicated {
        at: (usize, usize, usize),
        partition: Arc<crate::partition::Partition>,
        end: i64,
    },
    Group {
        at: (usize, usize, usize),
        index: i32,
        producer_id: i64,
        producer_epoch: i16,
        coordinator_epoch: i32,
        commit: bool,
    },
}

/// Ends the producer's transaction on a `__consumer_offsets` partition
/// through the group coordinator (which writes the marker and applies or
/// drops the pending offsets). The coordinator's "not ready" errors become
/// NOT_LEADER_OR_FOLLOWER, which the transaction coordinator retries, as
/// Kafka translates them.
async fn complete_group_transaction(
    state: &Arc<BrokerState>,
    index: i32,
    producer_id: i64,
    producer_epoch: i16,
    coordinator_epoch: i32,
    commit: bool,
) -> Result<(), i16> {
    state
        .groups
        .complete_transaction(
            index,
            producer_id,
            producer_epoch,
            coordinator_epoch,
            commit,
        )
        .await
        .map_err(group_error_for_marker)
}

/// Kafka's translation of the group coordinator's errors for the transaction
/// coordinator.
pub(crate) fn group_error_for_marker(code: i16) -> i16 {
    match ResponseError::try_from_code(code) {
        Some(
            ResponseError::CoordinatorNotAvailable
            | ResponseError::CoordinatorLoadInProgress
            | ResponseError::NotCoordinator,
        ) => ResponseError::NotLeaderOrFollower.code(),
        _ => code,
    }
}
