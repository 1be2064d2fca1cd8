//! Producer state of one partition (Kafka's `ProducerStateManager`, idempotence only):
//! for each producer id, its epoch and the last five batches it wrote. That is what an
//! idempotent producer's retries need: a producer has at most five requests in flight
//! per partition (`max.in.flight.requests.per.connection` <= 5), so a retry is always of
//! one of its last five batches, and is answered with that batch's offsets instead of
//! being written twice.
//!
//! The state is not written to disk. At open it is rebuilt from the batch headers (never
//! the records) of the last [`SEGMENTS_TO_SCAN`] segments, after a clean shutdown and
//! after a crash alike, since both leave the same batches behind. Kafka instead
//! snapshots the state at every roll and replays only the tail; without snapshots the
//! scan is bounded so that opening a large log costs a fixed amount of reading. Two
//! segments, not one, because right after a roll the active segment holds almost
//! nothing, and the retries in flight at that moment concern batches of the previous
//! segment. A producer whose last batch is older than that is unknown after a restart,
//! and an unknown producer is accepted at any sequence, as Kafka does after KIP-360 for a
//! producer whose state expired: the cost is a missed duplicate, never a refused write.
//!
//! Left for later: expiring producers after `producer.id.expiration.ms` (the map grows
//! with every producer id the partition has seen since the broker started, bounded by
//! what two segments can name at open), and transactions.

use std::collections::HashMap;

use strom_records::BatchHeader;

use crate::error::AppendError;

/// Batches remembered per producer (Kafka's `ProducerStateEntry.NUM_BATCHES_TO_RETAIN`).
pub(crate) const NUM_BATCHES_TO_RETAIN: usize = 5;

/// How many of the newest segments the state is rebuilt from at open.
pub(crate) const SEGMENTS_TO_SCAN: usize = 2;

/// `RecordBatch.NO_PRODUCER_EPOCH`: the epoch of a producer the partition does not know.
const NO_PRODUCER_EPOCH: i16 = -1;

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
}

impl ProducerEntry {
    fn new(epoch: i16) -> ProducerEntry {
        ProducerEntry {
            epoch,
            batches: [BatchMetadata::default(); NUM_BATCHES_TO_RETAIN],
            len: 0,
            next: 0,
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
            }
        })
    }
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
pub(crate) fn increment_sequence(sequence: i32, increment: i32) -> i32 {
    if sequence > i32::MAX - increment {
        increment - (i32::MAX - sequence) - 1
    } else {
        sequence + increment
    }
}

fn in_sequence(last_seq: i32, next_seq: i32) -> bool {
    next_seq == increment_sequence(last_seq, 1)
}

/// Producer id → epoch and newest batches, for one partition.
#[derive(Debug, Default)]
pub(crate) struct ProducerStateManager {
    producers: HashMap<i64, ProducerEntry>,
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
            (None, Some(entry)) => (entry.epoch, entry.last().map(|b| b.last_seq)),
            (None, None) => (NO_PRODUCER_EPOCH, None),
        };
        if batch.epoch < current_epoch {
            return Err(AppendError::InvalidProducerEpoch {
                producer_id: batch.producer_id,
                epoch: batch.epoch,
                current_epoch,
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
            *entry = ProducerEntry::new(batch.epoch);
        }
        entry.push(BatchMetadata {
            first_seq: batch.first_seq,
            last_seq: batch.last_seq,
            first_offset,
            last_offset,
            timestamp,
        });
    }

    /// Records a batch header read from a segment at open.
    pub fn load(&mut self, header: &BatchHeader) {
        if let Some(batch) = ProducerBatch::of(header) {
            self.update(
                &batch,
                header.base_offset(),
                header.last_offset(),
                header.max_timestamp(),
            );
        }
    }
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
}
