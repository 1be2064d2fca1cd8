//! Producer state of one partition (Kafka's `ProducerStateManager`): for each producer
//! id, its epoch, the last five batches it wrote, and its ongoing transaction. That is what an
//! idempotent producer's retries need: a producer has at most five requests in flight
//! per partition (`max.in.flight.requests.per.connection` <= 5), so a retry is always of
//! one of its last five batches, and is answered with that batch's offsets instead of
//! being written twice.
//!
//! The checks are Kafka 4's `ProducerAppendInfo` for client appends: an older epoch is
//! `INVALID_PRODUCER_EPOCH`; a newer epoch must start at sequence 0; at the same epoch the
//! batch must follow the last sequence (`OUT_OF_ORDER_SEQUENCE_NUMBER`). A producer id the
//! partition does not know (never seen, or expired) is accepted at any sequence: since
//! KIP-360 Kafka no longer answers `UNKNOWN_PRODUCER_ID` on produce, and neither do we.
//! Like Kafka, the partition does not check that the id was issued by InitProducerId; the
//! state stays bounded by expiration instead.
//!
//! Producers expire: one whose last batch's timestamp is `producer.id.expiration.ms` old
//! (Kafka: one day) is removed by [`ProducerStateManager::remove_expired`], which the
//! broker calls every `producer.id.expiration.check.interval.ms` (ten minutes), and is
//! not loaded from a snapshot.
//!
//! Transactions (Kafka's `ProducerAppendInfo`): a producer's first transactional batch
//! starts its transaction on the partition (its offset is the transaction's first
//! offset); a non-transactional batch while one is ongoing is `INVALID_TXN_STATE`; a
//! marker (an `EndTransactionMarker` control batch, written by the leader for the
//! coordinator) ends it, after two checks: its producer epoch may not be older than the
//! producer's (with transaction version 2, KIP-890, the coordinator bumps the epoch on
//! every marker, and a marker must then be newer), and its coordinator epoch may not be
//! older than the last marker's (`TRANSACTION_COORDINATOR_FENCED`; a follower replicates
//! such a marker anyway, as Kafka does). The first offsets of the ongoing transactions
//! give the first unstable offset, below which everything is decided.
//!
//! The state is persisted in Kafka's snapshot files (`producer_snapshot`): written at
//! every roll and at a clean close, loaded at open, after which only the batches from the
//! snapshot's offset on are replayed. A snapshot keeps each producer's newest batch only,
//! as Kafka's does, so after a restart a retry of that batch is still a duplicate however
//! many segments back it is, and a retry of an older one is out of order.

use std::collections::HashMap;

use strom_records::{BatchHeader, EndTransactionMarker};

use crate::error::AppendError;
use crate::producer_snapshot::SnapshotEntry;

/// Batches remembered per producer (Kafka's `ProducerStateEntry.NUM_BATCHES_TO_RETAIN`).
pub(crate) const NUM_BATCHES_TO_RETAIN: usize = 5;

/// `RecordBatch.NO_PRODUCER_EPOCH`: the epoch of a producer the partition does not know.
const NO_PRODUCER_EPOCH: i16 = -1;

/// `RecordBatch.NO_SEQUENCE`.
const NO_SEQUENCE: i32 = -1;

/// `RecordBatch.NO_TIMESTAMP`.
const NO_TIMESTAMP: i64 = -1;

/// One written batch of a producer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct BatchMetadata {
    pub first_seq: i32,
    pub last_seq: i32,
    pub first_offset: i64,
    pub last_offset: i64,
    /// The batch's maxTimestamp as written (the append time on LogAppendTime topics).
    pub timestamp: i64,
}

/// A producer's epoch and its newest batches, in a ring so recording a batch never
/// allocates.
#[derive(Clone, Debug)]
struct ProducerEntry {
    epoch: i16,
    batches: [BatchMetadata; NUM_BATCHES_TO_RETAIN],
    len: usize,
    /// Where the next batch goes.
    next: usize,
    /// Timestamp of the newest batch (Kafka's `lastTimestamp`): expiration counts from it.
    last_timestamp: i64,
    /// The coordinator epoch of the producer's last marker, -1 before any.
    coordinator_epoch: i32,
    /// First offset of the producer's ongoing transaction, -1 for none.
    current_txn_first_offset: i64,
}

impl ProducerEntry {
    fn new(epoch: i16) -> ProducerEntry {
        ProducerEntry {
            epoch,
            batches: [BatchMetadata::default(); NUM_BATCHES_TO_RETAIN],
            len: 0,
            next: 0,
            last_timestamp: NO_TIMESTAMP,
            coordinator_epoch: -1,
            current_txn_first_offset: -1,
        }
    }

    fn last(&self) -> Option<&BatchMetadata> {
        (self.len > 0)
            .then(|| &self.batches[(self.next + NUM_BATCHES_TO_RETAIN - 1) % NUM_BATCHES_TO_RETAIN])
    }

    fn find(&self, first_seq: i32, last_seq: i32) -> Option<BatchMetadata> {
        self.batches[..self.len]
            .iter()
            .find(|b| b.first_seq == first_seq && b.last_seq == last_seq)
            .copied()
    }

    fn push(&mut self, batch: BatchMetadata) {
        self.batches[self.next] = batch;
        self.next = (self.next + 1) % NUM_BATCHES_TO_RETAIN;
        self.len = (self.len + 1).min(NUM_BATCHES_TO_RETAIN);
    }
}

/// The producer fields of one idempotent batch of an append.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ProducerBatch {
    pub producer_id: i64,
    pub epoch: i16,
    pub first_seq: i32,
    pub last_seq: i32,
    /// Attribute bit 4: part of a transaction.
    pub is_transactional: bool,
}

impl ProducerBatch {
    /// The producer fields of a batch header; `None` for a batch without a producer id.
    pub fn of(header: &BatchHeader) -> Option<ProducerBatch> {
        (header.producer_id() >= 0).then(|| {
            let first_seq = header.base_sequence();
            ProducerBatch {
                producer_id: header.producer_id(),
                epoch: header.producer_epoch(),
                first_seq,
                last_seq: increment_sequence(first_seq, header.last_offset_delta()),
                is_transactional: header.is_transactional(),
            }
        })
    }
}

/// One producer as DescribeProducers shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProducerDescription {
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub last_sequence: i32,
    pub last_timestamp: i64,
    pub coordinator_epoch: i32,
    /// -1 when no transaction is ongoing.
    pub current_txn_start_offset: i64,
}

/// What the state says about a batch about to be appended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SequenceCheck {
    /// Write it.
    Append,
    /// It was written before, as this batch: answer with its offsets, write nothing.
    Duplicate(BatchMetadata),
}

/// Sequence numbers wrap from `i32::MAX` to 0 (Kafka's `DefaultRecordBatch.incrementSequence`).
/// The arithmetic wraps as Java's does: batch headers read from disk without recovery can
/// hold any `lastOffsetDelta`, negative included, and must not overflow.
pub(crate) fn increment_sequence(sequence: i32, increment: i32) -> i32 {
    if sequence > i32::MAX.wrapping_sub(increment) {
        increment
            .wrapping_sub(i32::MAX.wrapping_sub(sequence))
            .wrapping_sub(1)
    } else {
        sequence.wrapping_add(increment)
    }
}

/// The inverse of [`increment_sequence`] (Kafka's `DefaultRecordBatch.decrementSequence`).
pub(crate) fn decrement_sequence(sequence: i32, decrement: i32) -> i32 {
    if sequence < decrement {
        i32::MAX - (decrement - sequence) + 1
    } else {
        sequence - decrement
    }
}

fn in_sequence(last_seq: i32, next_seq: i32) -> bool {
    next_seq == increment_sequence(last_seq, 1)
}

/// A transaction a marker ended (Kafka's `CompletedTxn`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct CompletedTxn {
    pub producer_id: i64,
    pub first_offset: i64,
    /// The marker's offset.
    pub last_offset: i64,
    pub is_aborted: bool,
}

/// What a marker says, with the checks to make (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct MarkerBatch {
    pub producer_id: i64,
    pub epoch: i16,
    pub coordinator_epoch: i32,
    pub commit: bool,
    /// Transaction version 2 (KIP-890 part 2): the marker carries a bumped epoch.
    pub epoch_bumped: bool,
}

/// Producer id → epoch, newest batches and ongoing transaction, for one partition.
#[derive(Debug, Default)]
pub(crate) struct ProducerStateManager {
    producers: HashMap<i64, ProducerEntry>,
    /// First offset of every ongoing transaction → its producer (Kafka's `ongoingTxns`).
    ongoing: std::collections::BTreeMap<i64, i64>,
}

impl ProducerStateManager {
    /// Number of producers remembered.
    pub fn producer_count(&self) -> usize {
        self.producers.len()
    }

    /// Last offset of the producer's newest batch, if it is remembered (the cleaner keeps
    /// that batch, emptied if need be, so the producer's last sequence survives).
    pub fn last_offset_of(&self, producer_id: i64) -> Option<i64> {
        self.producers
            .get(&producer_id)
            .and_then(|p| p.last())
            .map(|b| b.last_offset)
    }

    /// Checks `batch` against the producer's state (Kafka's `ProducerAppendInfo`
    /// checks for client appends). `earlier` is the epoch and last sequence of a batch
    /// of the same producer earlier in the same append, which the state does not hold
    /// yet; such a batch is never a duplicate of the stored ones.
    pub fn check(
        &self,
        batch: &ProducerBatch,
        earlier: Option<(i16, i32)>,
    ) -> Result<SequenceCheck, AppendError> {
        let entry = self.producers.get(&batch.producer_id);
        let (current_epoch, last_seq) = match (earlier, entry) {
            (Some((epoch, last_seq)), _) => (epoch, Some(last_seq)),
            // An entry without batches (a Kafka snapshot may hold one) expects sequence 0.
            (None, Some(entry)) => (
                entry.epoch,
                Some(entry.last().map_or(NO_SEQUENCE, |b| b.last_seq)),
            ),
            (None, None) => (NO_PRODUCER_EPOCH, None),
        };
        if batch.epoch < current_epoch {
            return Err(AppendError::InvalidProducerEpoch {
                producer_id: batch.producer_id,
                epoch: batch.epoch,
                current_epoch,
            });
        }
        let in_txn = match earlier {
            Some(_) => None,
            None => entry.map(|e| e.current_txn_first_offset >= 0),
        };
        if in_txn == Some(true) && !batch.is_transactional {
            return Err(AppendError::InvalidTxnState {
                producer_id: batch.producer_id,
                reason: "a non-transactional batch while the producer's transaction is ongoing on this partition".into(),
            });
        }
        if batch.epoch != current_epoch {
            // A new epoch starts its sequences at 0; an unknown producer anywhere.
            if batch.first_seq != 0 && current_epoch != NO_PRODUCER_EPOCH {
                return Err(AppendError::OutOfOrderSequence {
                    producer_id: batch.producer_id,
                    epoch: batch.epoch,
                    base_sequence: batch.first_seq,
                    last_sequence: None,
                });
            }
            return Ok(SequenceCheck::Append);
        }
        if earlier.is_none() {
            if let Some(duplicate) = entry.and_then(|e| e.find(batch.first_seq, batch.last_seq)) {
                return Ok(SequenceCheck::Duplicate(duplicate));
            }
        }
        match last_seq {
            Some(last) if !in_sequence(last, batch.first_seq) => {
                Err(AppendError::OutOfOrderSequence {
                    producer_id: batch.producer_id,
                    epoch: batch.epoch,
                    base_sequence: batch.first_seq,
                    last_sequence: Some(last),
                })
            }
            // Same epoch with no batch remembered: nothing to be out of order with.
            _ => Ok(SequenceCheck::Append),
        }
    }

    /// Records a batch that was written (or found at open). A newer epoch replaces the
    /// producer's batches; a batch of an older epoch changes nothing (it cannot be
    /// appended, and on disk it only precedes the newer one).
    pub fn update(
        &mut self,
        batch: &ProducerBatch,
        first_offset: i64,
        last_offset: i64,
        timestamp: i64,
    ) {
        let entry = self
            .producers
            .entry(batch.producer_id)
            .or_insert_with(|| ProducerEntry::new(batch.epoch));
        if batch.epoch < entry.epoch {
            return;
        }
        if batch.epoch > entry.epoch {
            // Kafka's `maybeUpdateProducerEpoch`: the batches go, the transaction stays.
            let (coordinator_epoch, txn) =
                (entry.coordinator_epoch, entry.current_txn_first_offset);
            *entry = ProducerEntry::new(batch.epoch);
            entry.coordinator_epoch = coordinator_epoch;
            entry.current_txn_first_offset = txn;
        }
        entry.push(BatchMetadata {
            first_seq: batch.first_seq,
            last_seq: batch.last_seq,
            first_offset,
            last_offset,
            timestamp,
        });
        entry.last_timestamp = timestamp;
        if batch.is_transactional && entry.current_txn_first_offset < 0 {
            entry.current_txn_first_offset = first_offset;
            self.ongoing.insert(first_offset, batch.producer_id);
        }
    }

    /// Checks a marker against the producer's state (Kafka's `appendEndTxnMarker`
    /// checks). `strict` for the leader's own appends: a follower takes a marker of a
    /// fenced coordinator as the leader wrote it.
    pub fn check_marker(&self, marker: &MarkerBatch, strict: bool) -> Result<(), AppendError> {
        let Some(entry) = self.producers.get(&marker.producer_id) else {
            return Ok(());
        };
        let stale = if marker.epoch_bumped {
            marker.epoch <= entry.epoch
        } else {
            marker.epoch < entry.epoch
        };
        if stale {
            return Err(AppendError::InvalidProducerEpoch {
                producer_id: marker.producer_id,
                epoch: marker.epoch,
                current_epoch: entry.epoch,
            });
        }
        if strict && entry.coordinator_epoch > marker.coordinator_epoch {
            return Err(AppendError::TransactionCoordinatorFenced {
                producer_id: marker.producer_id,
                coordinator_epoch: marker.coordinator_epoch,
                current: entry.coordinator_epoch,
            });
        }
        Ok(())
    }

    /// Records a marker written at `offset`: the producer's transaction ends (returned
    /// when there was one: a marker for a partition the transaction never wrote ends
    /// nothing).
    pub fn complete_txn(
        &mut self,
        marker: &MarkerBatch,
        offset: i64,
        timestamp: i64,
    ) -> Option<CompletedTxn> {
        let entry = self
            .producers
            .entry(marker.producer_id)
            .or_insert_with(|| ProducerEntry::new(marker.epoch));
        if marker.epoch > entry.epoch {
            // Kafka's `setProducerEpoch` then `maybeUpdateProducerEpoch`: a new epoch
            // starts its sequences anew.
            let (coordinator_epoch, txn) =
                (entry.coordinator_epoch, entry.current_txn_first_offset);
            *entry = ProducerEntry::new(marker.epoch);
            entry.coordinator_epoch = coordinator_epoch;
            entry.current_txn_first_offset = txn;
        }
        let completed = (entry.current_txn_first_offset >= 0).then_some(CompletedTxn {
            producer_id: marker.producer_id,
            first_offset: entry.current_txn_first_offset,
            last_offset: offset,
            is_aborted: !marker.commit,
        });
        if let Some(txn) = &completed {
            self.ongoing.remove(&txn.first_offset);
        }
        entry.current_txn_first_offset = -1;
        entry.coordinator_epoch = marker.coordinator_epoch;
        entry.last_timestamp = timestamp;
        completed
    }

    /// [`ProducerStateManager::complete_txn`], with Kafka's `lastStableOffset` of the
    /// completed transaction.
    pub fn complete_txn_with_lso(
        &mut self,
        marker: &MarkerBatch,
        offset: i64,
        timestamp: i64,
    ) -> Option<(CompletedTxn, i64)> {
        let probe = CompletedTxn {
            producer_id: marker.producer_id,
            first_offset: -1,
            last_offset: offset,
            is_aborted: !marker.commit,
        };
        let last_stable_offset = self.last_stable_offset_after(&probe);
        self.complete_txn(marker, offset, timestamp)
            .map(|txn| (txn, last_stable_offset))
    }

    /// The producer's current epoch here, if it is remembered.
    pub fn producer_epoch(&self, producer_id: i64) -> Option<i16> {
        self.producers.get(&producer_id).map(|e| e.epoch)
    }

    /// Whether the producer's transaction is ongoing here at `epoch` (Kafka's
    /// `hasOngoingTransaction`): its batches need no verification.
    pub fn has_ongoing_transaction(&self, producer_id: i64, epoch: i16) -> bool {
        self.producers
            .get(&producer_id)
            .is_some_and(|e| e.current_txn_first_offset >= 0 && e.epoch == epoch)
    }

    /// First offset of the oldest ongoing transaction (Kafka's `firstUnstableOffset`).
    pub fn first_unstable_offset(&self) -> Option<i64> {
        self.ongoing.keys().next().copied()
    }

    /// Kafka's `lastStableOffset(completedTxn)`: the first offset of the oldest other
    /// ongoing transaction, else the offset after the marker. Call it before
    /// [`ProducerStateManager::complete_txn`] records the marker.
    pub fn last_stable_offset_after(&self, txn: &CompletedTxn) -> i64 {
        self.ongoing
            .iter()
            .find(|(_, &producer_id)| producer_id != txn.producer_id)
            .map_or(txn.last_offset + 1, |(&first, _)| first)
    }

    /// The state of one producer, for DescribeProducers.
    pub fn producers(&self) -> Vec<ProducerDescription> {
        let mut out: Vec<ProducerDescription> = self
            .producers
            .iter()
            .map(|(&producer_id, entry)| ProducerDescription {
                producer_id,
                producer_epoch: entry.epoch,
                last_sequence: entry.last().map_or(NO_SEQUENCE, |b| b.last_seq),
                last_timestamp: entry.last_timestamp,
                coordinator_epoch: entry.coordinator_epoch,
                current_txn_start_offset: entry.current_txn_first_offset,
            })
            .collect();
        out.sort_unstable_by_key(|p| p.producer_id);
        out
    }

    /// Forgets producers whose newest batch is `expiration_ms` old or older (Kafka's
    /// `removeExpiredProducers`). Returns how many were removed.
    pub fn remove_expired(&mut self, now_ms: i64, expiration_ms: i64) -> usize {
        let before = self.producers.len();
        self.producers
            .retain(|_, entry| !is_expired(entry, now_ms, expiration_ms));
        before - self.producers.len()
    }

    /// The state as snapshot entries (each producer with its newest batch), by producer id.
    pub fn snapshot_entries(&self) -> Vec<SnapshotEntry> {
        let mut entries: Vec<SnapshotEntry> = self
            .producers
            .iter()
            .map(|(&producer_id, entry)| {
                let last = entry.last();
                SnapshotEntry {
                    producer_id,
                    epoch: entry.epoch,
                    last_sequence: last.map_or(NO_SEQUENCE, |b| b.last_seq),
                    last_offset: last.map_or(-1, |b| b.last_offset),
                    offset_delta: last.map_or(0, |b| {
                        i32::try_from(b.last_offset - b.first_offset).unwrap_or(0)
                    }),
                    timestamp: entry.last_timestamp,
                    coordinator_epoch: entry.coordinator_epoch,
                    current_txn_first_offset: entry.current_txn_first_offset,
                }
            })
            .collect();
        entries.sort_unstable_by_key(|e| e.producer_id);
        entries
    }

    /// Takes the newer, deeper history of `recent` (a replay of the log below the snapshot
    /// this state was loaded from) for each producer whose newest batch it agrees on.
    pub fn adopt_recent_batches(&mut self, recent: ProducerStateManager) {
        for (producer_id, replayed) in recent.producers {
            if let Some(entry) = self.producers.get_mut(&producer_id) {
                if entry.epoch == replayed.epoch && entry.last() == replayed.last() {
                    entry.batches = replayed.batches;
                    entry.len = replayed.len;
                    entry.next = replayed.next;
                }
            }
        }
    }

    /// Builds the state from a snapshot's entries, leaving out producers that expired
    /// (as Kafka's `loadFromSnapshot` does).
    pub fn from_snapshot(
        entries: &[SnapshotEntry],
        now_ms: i64,
        expiration_ms: i64,
    ) -> ProducerStateManager {
        let mut state = ProducerStateManager::default();
        for e in entries {
            let mut entry = ProducerEntry::new(e.epoch);
            entry.last_timestamp = e.timestamp;
            entry.coordinator_epoch = e.coordinator_epoch;
            entry.current_txn_first_offset = e.current_txn_first_offset;
            if e.last_offset >= 0 {
                let offset_delta = e.offset_delta.max(0);
                entry.push(BatchMetadata {
                    first_seq: decrement_sequence(e.last_sequence, offset_delta),
                    last_seq: e.last_sequence,
                    first_offset: e.last_offset - i64::from(offset_delta),
                    last_offset: e.last_offset,
                    timestamp: e.timestamp,
                });
            }
            if !is_expired(&entry, now_ms, expiration_ms) {
                if entry.current_txn_first_offset >= 0 {
                    state
                        .ongoing
                        .insert(entry.current_txn_first_offset, e.producer_id);
                }
                state.producers.insert(e.producer_id, entry);
            }
        }
        state
    }

    /// Records a batch header read from a segment at open; a marker (whose record the
    /// caller read) ends its transaction, which is returned.
    pub fn load(
        &mut self,
        header: &BatchHeader,
        marker: Option<EndTransactionMarker>,
    ) -> Option<(CompletedTxn, i64)> {
        if header.is_control() {
            let marker = marker.filter(|_| header.producer_id() >= 0)?;
            return self.complete_txn_with_lso(
                &MarkerBatch {
                    producer_id: header.producer_id(),
                    epoch: header.producer_epoch(),
                    coordinator_epoch: marker.coordinator_epoch,
                    commit: marker.commit,
                    epoch_bumped: false,
                },
                header.base_offset(),
                header.max_timestamp(),
            );
        }
        if let Some(batch) = ProducerBatch::of(header) {
            self.update(
                &batch,
                header.base_offset(),
                header.last_offset(),
                header.max_timestamp(),
            );
        }
        None
    }
}

/// Kafka's `isProducerExpired`: an ongoing transaction keeps a producer; otherwise the
/// newest batch's age decides. (Saturating, where Java wraps: a timestamp of `i64::MIN`
/// expires instead of living forever.)
fn is_expired(entry: &ProducerEntry, now_ms: i64, expiration_ms: i64) -> bool {
    entry.current_txn_first_offset < 0
        && now_ms.saturating_sub(entry.last_timestamp) >= expiration_ms
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pb(producer_id: i64, epoch: i16, first_seq: i32, count: i32) -> ProducerBatch {
        ProducerBatch {
            producer_id,
            epoch,
            first_seq,
            last_seq: increment_sequence(first_seq, count - 1),
            is_transactional: false,
        }
    }

    fn code(result: Result<SequenceCheck, AppendError>) -> i16 {
        match result {
            Ok(_) => 0,
            Err(e) => e.error_code(),
        }
    }

    #[test]
    fn sequences_wrap_from_i32_max_to_zero() {
        assert_eq!(increment_sequence(5, 3), 8);
        assert_eq!(increment_sequence(i32::MAX, 1), 0);
        assert_eq!(increment_sequence(i32::MAX - 1, 4), 2);
        assert!(in_sequence(i32::MAX, 0));
        assert!(!in_sequence(i32::MAX, 1));
    }

    #[test]
    fn an_unknown_producer_is_accepted_at_any_sequence() {
        let state = ProducerStateManager::default();
        assert_eq!(
            state.check(&pb(7, 3, 42, 2), None).unwrap(),
            SequenceCheck::Append
        );
    }

    #[test]
    fn the_next_batch_must_follow_the_last_sequence() {
        let mut state = ProducerStateManager::default();
        state.update(&pb(7, 0, 0, 3), 10, 12, 1);
        assert_eq!(code(state.check(&pb(7, 0, 3, 1), None)), 0);
        assert_eq!(code(state.check(&pb(7, 0, 4, 1), None)), 45, "a gap");
        assert_eq!(
            code(state.check(&pb(7, 0, 2, 1), None)),
            45,
            "overlapping, not identical"
        );
        let err = state.check(&pb(7, 0, 5, 1), None).unwrap_err();
        assert!(err.to_string().contains("expected sequence 3"), "{err}");
    }

    #[test]
    fn any_of_the_last_five_batches_is_a_duplicate_and_older_ones_are_not() {
        let mut state = ProducerStateManager::default();
        for i in 0..7 {
            state.update(
                &pb(7, 0, i * 2, 2),
                i64::from(100 + i * 2),
                i64::from(101 + i * 2),
                9,
            );
        }
        for i in 2..7 {
            match state.check(&pb(7, 0, i * 2, 2), None).unwrap() {
                SequenceCheck::Duplicate(b) => {
                    assert_eq!(
                        (b.first_offset, b.last_offset),
                        (i64::from(100 + i * 2), i64::from(101 + i * 2))
                    )
                }
                other => panic!("batch {i} should be a duplicate, got {other:?}"),
            }
        }
        assert_eq!(
            code(state.check(&pb(7, 0, 2, 2), None)),
            45,
            "fell out of the five"
        );
        assert_eq!(code(state.check(&pb(7, 0, 14, 1), None)), 0);
    }

    #[test]
    fn epochs_older_than_the_current_are_fenced_and_newer_ones_start_at_zero() {
        let mut state = ProducerStateManager::default();
        state.update(&pb(7, 2, 0, 5), 0, 4, 1);
        assert_eq!(code(state.check(&pb(7, 1, 5, 1), None)), 47);
        assert_eq!(code(state.check(&pb(7, 3, 5, 1), None)), 45);
        assert_eq!(code(state.check(&pb(7, 3, 0, 1), None)), 0);
        state.update(&pb(7, 3, 0, 1), 5, 5, 1);
        assert_eq!(code(state.check(&pb(7, 2, 5, 1), None)), 47);
        assert_eq!(
            code(state.check(&pb(7, 3, 0, 5), None)),
            45,
            "not identical to the old epoch's batch"
        );
        assert!(matches!(
            state.check(&pb(7, 3, 0, 1), None),
            Ok(SequenceCheck::Duplicate(_))
        ));
    }

    #[test]
    fn an_earlier_batch_of_the_same_append_sets_the_expected_sequence() {
        let mut state = ProducerStateManager::default();
        state.update(&pb(7, 0, 0, 2), 0, 1, 1);
        assert_eq!(code(state.check(&pb(7, 0, 4, 1), Some((0, 3)))), 0);
        assert_eq!(
            code(state.check(&pb(7, 0, 0, 2), Some((0, 3)))),
            45,
            "no duplicates inside one append"
        );
        assert_eq!(code(state.check(&pb(7, 1, 1, 1), Some((0, 3)))), 45);
    }

    #[test]
    fn producers_are_independent() {
        let mut state = ProducerStateManager::default();
        state.update(&pb(1, 0, 0, 1), 0, 0, 1);
        state.update(&pb(2, 5, 10, 1), 1, 1, 1);
        assert_eq!(code(state.check(&pb(1, 0, 1, 1), None)), 0);
        assert_eq!(code(state.check(&pb(2, 5, 11, 1), None)), 0);
        assert_eq!(code(state.check(&pb(2, 4, 11, 1), None)), 47);
        assert_eq!(state.producer_count(), 2);
    }

    #[test]
    fn a_snapshot_keeps_each_producers_newest_batch_even_across_a_sequence_wrap() {
        let mut state = ProducerStateManager::default();
        state.update(&pb(7, 2, 0, 3), 10, 12, 100);
        state.update(&pb(7, 2, i32::MAX - 1, 4), 13, 16, 200);
        state.update(&pb(9, 0, 5, 1), 17, 17, 300);
        let entries = state.snapshot_entries();
        assert_eq!(entries.len(), 2);
        assert_eq!(
            (
                entries[0].producer_id,
                entries[0].last_sequence,
                entries[0].offset_delta
            ),
            (7, 1, 3)
        );
        let loaded = ProducerStateManager::from_snapshot(&entries, 300, 1_000);
        assert!(matches!(
            loaded.check(&pb(7, 2, i32::MAX - 1, 4), None),
            Ok(SequenceCheck::Duplicate(b)) if (b.first_offset, b.last_offset, b.timestamp) == (13, 16, 200)
        ));
        assert_eq!(
            code(loaded.check(&pb(7, 2, 0, 3), None)),
            45,
            "older batches are gone"
        );
        assert_eq!(code(loaded.check(&pb(7, 2, 2, 1), None)), 0);
        assert_eq!(code(loaded.check(&pb(9, 0, 6, 1), None)), 0);
        // Expired at load: producer 7's newest batch is 1000 ms old.
        let later = ProducerStateManager::from_snapshot(&entries, 1_200, 1_000);
        assert_eq!(later.producer_count(), 1);
    }

    #[test]
    fn an_entry_without_batches_expects_sequence_zero_as_in_kafka() {
        let entries = [SnapshotEntry {
            producer_id: 4,
            epoch: 1,
            last_sequence: -1,
            last_offset: -1,
            offset_delta: 0,
            timestamp: 0,
            coordinator_epoch: 3,
            current_txn_first_offset: -1,
        }];
        let state = ProducerStateManager::from_snapshot(&entries, 0, 1_000);
        assert_eq!(code(state.check(&pb(4, 1, 1, 1), None)), 45);
        assert_eq!(code(state.check(&pb(4, 1, 0, 1), None)), 0);
        assert_eq!(code(state.check(&pb(4, 0, 0, 1), None)), 47);
    }
}
