//! What log compaction decides, as pure functions of segment metadata, settings and time
//! (Kafka's `LogCleanerManager.cleanableOffsets`, `LogCleaner.groupSegmentsBySize` and
//! `Cleaner.shouldRetainRecord`), so every rule is tested without a disk.
//! [`crate::Log::clean`] gathers the input and carries the decisions out.
//!
//! # Sections of a compacted log
//!
//! ```text
//! log start     first dirty offset        first uncleanable offset     log end
//!    | clean (compacted) | dirty (cleanable)          | uncleanable (never touched) |
//! ```
//! - The **first dirty offset** is the cleaner checkpoint (where the last clean ended),
//!   raised to the log start offset, or the log start offset when it is past the log end.
//! - The **first uncleanable offset** is the smallest of: the last stable offset (the
//!   smaller of the high watermark and the first unstable offset), the active segment's
//!   base offset (the active segment is never cleaned), and, when `min.compaction.lag.ms`
//!   is positive, the base offset of the first dirty inactive segment whose largest timestamp is
//!   within `min.compaction.lag.ms` of now.
//! - **Dirty ratio** = dirty bytes / (clean bytes + dirty bytes): the sizes of the inactive
//!   segments below the first uncleanable offset, a segment counting as clean when it lies
//!   wholly below the first dirty offset and as dirty otherwise.
//! - The log is **due** when it has dirty bytes and either its dirty ratio is greater than
//!   `min.cleanable.dirty.ratio`, or `max.compaction.lag.ms` is exceeded: the first batch
//!   of some dirty inactive segment is older than that (Kafka's `maxCompactionDelay`).
//!
//! # Which records stay
//!
//! The offset map holds, for every key in the dirty section up to where the map got (the
//! map's end offset, exclusive), the key's last offset. A record of a segment being
//! rewritten stays when (`retain_record`):
//! - its offset is at or past the map's end offset (not looked at by this clean), or
//! - it has a key, its offset is the key's latest in the map or the key is not in the map,
//!   and it is not a tombstone that may be deleted.
//!
//! Records without a key are removed (the broker refuses them on compacted topics).
//!
//! # Tombstones: the rule implemented
//!
//! Kafka's rule before KIP-534 (`Cleaner.doClean` + `cleanSegments`), with the segment's
//! largest record timestamp where Kafka used the file's modification time (the
//! file-system seam has no mtimes; Kafka's `largestTimestamp` is the same fallback):
//!
//! ```text
//! delete horizon = largest timestamp of the last segment lying wholly below the first
//!                  dirty offset (the newest already-cleaned segment) - delete.retention.ms
//!                  (no such segment, as at the first clean: no horizon, keep every tombstone)
//! a tombstone in segment S is removed  <=>  S.largest_timestamp <= delete horizon
//! ```
//!
//! So a tombstone survives at least the clean that first compacts it (it is then in the
//! clean section), and goes in a later clean once data at least `delete.retention.ms`
//! newer than its segment has itself been cleaned: consumers that read the log from the
//! start within that time see the deletion.
//!
//! # Transaction markers (Kafka's `CleanedTransactionMetadata` and KIP-534 horizon)
//!
//! A marker (commit or abort control batch) matters to read_committed consumers only
//! while records of its transaction remain, and to the producer state only while a batch
//! of its transaction remains (a transactional batch without its marker would reopen the
//! transaction when the state is rebuilt from the log). So (`retain_marker`):
//! - a marker at or past the map's end offset (hence at or past the first unstable
//!   offset) is never touched;
//! - a marker stays as it is while any batch of its transaction stays in the log as this
//!   clean writes it, even an empty one kept for a producer's sequence (`CleanedTxns`);
//! - otherwise its transaction is empty: a marker without a delete horizon gets one,
//!   `now + delete.retention.ms`, and stays; a marker whose horizon is at or before now
//!   goes, unless it is its producer's last entry (the producer is remembered with no data
//!   batch, at the marker's epoch: the marker keeps that epoch for fencing, Kafka's
//!   `isBatchLastRecordOfProducer`).
//!
//! Kafka decides emptiness on the batches it reads, so it sets the horizon one clean after
//! the one that removed the records; this decides on what the clean writes, one clean
//! earlier, with the same guarantee (no marker goes while a batch of its transaction
//! remains). Unlike Kafka, a marker kept as its producer's last entry past its horizon
//! keeps its record (Kafka empties it to a bare header).

use std::ops::Range;

/// What the cleaner looks at in one segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CleanerSegment {
    pub base_offset: i64,
    pub size_bytes: u64,
    /// Kafka's `LogSegment.largestTimestamp`.
    pub largest_timestamp_ms: i64,
    /// maxTimestamp of the first batch; `None` when empty.
    pub first_batch_timestamp_ms: Option<i64>,
    /// Size of the larger index file.
    pub index_bytes: u64,
}

/// Everything the cleaning decision depends on.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CleanerInput<'a> {
    /// Oldest first; the last is the active segment. Never empty.
    pub segments: &'a [CleanerSegment],
    pub log_start_offset: i64,
    pub log_end_offset: i64,
    /// Where the previous clean ended.
    pub cleaner_checkpoint: i64,
    /// Nothing at or above it is cleaned (the high watermark / last stable offset).
    pub last_stable_offset: i64,
    pub now_ms: i64,
    pub min_compaction_lag_ms: i64,
    pub max_compaction_lag_ms: i64,
    pub min_cleanable_dirty_ratio: f64,
    pub delete_retention_ms: i64,
}

/// Where a log stands for compaction (Kafka's `LogToClean` and `cleanableOffsets`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CleaningStatus {
    /// First offset not yet compacted.
    pub first_dirty_offset: i64,
    /// First offset this clean may not touch.
    pub first_uncleanable_offset: i64,
    /// Bytes of the inactive segments wholly below the first dirty offset.
    pub clean_bytes: u64,
    /// Bytes of the inactive segments from the first dirty offset to the first
    /// uncleanable offset.
    pub dirty_bytes: u64,
    /// `dirty_bytes / (clean_bytes + dirty_bytes)`, 0 when both are 0.
    pub dirty_ratio: f64,
    /// `max.compaction.lag.ms` is exceeded by a dirty segment.
    pub max_compaction_lag_exceeded: bool,
    /// The log should be cleaned now.
    pub due: bool,
    /// Tombstones in segments whose largest timestamp is at or below this are removed;
    /// `None`: every tombstone stays.
    pub delete_horizon_ms: Option<i64>,
}

/// The end offset (exclusive) of segment `i`.
fn segment_end(segments: &[CleanerSegment], i: usize, log_end_offset: i64) -> i64 {
    segments
        .get(i + 1)
        .map_or(log_end_offset, |next| next.base_offset)
}

/// Decides where the log stands (see the module docs for each rule).
pub(crate) fn cleaning_status(input: &CleanerInput<'_>) -> CleaningStatus {
    let segments = input.segments;
    let active = segments.len() - 1;
    let first_dirty_offset = if input.cleaner_checkpoint > input.log_end_offset {
        input.log_start_offset
    } else {
        input.cleaner_checkpoint.max(input.log_start_offset)
    };
    let inactive = &segments[..active];
    let is_dirty = |i: usize| segment_end(segments, i, input.log_end_offset) > first_dirty_offset;
    let mut first_uncleanable = input
        .last_stable_offset
        .min(segments[active].base_offset)
        .max(first_dirty_offset);
    if input.min_compaction_lag_ms > 0 {
        let young_after = input.now_ms.saturating_sub(input.min_compaction_lag_ms);
        if let Some(young) = (0..active)
            .filter(|&i| is_dirty(i))
            .find(|&i| inactive[i].largest_timestamp_ms > young_after)
        {
            first_uncleanable = first_uncleanable
                .min(inactive[young].base_offset)
                .max(first_dirty_offset);
        }
    }
    let mut clean_bytes = 0;
    let mut dirty_bytes = 0;
    let mut earliest_dirty_first_batch: Option<i64> = None;
    for (i, segment) in inactive.iter().enumerate() {
        if segment.base_offset >= first_uncleanable {
            break;
        }
        if is_dirty(i) {
            dirty_bytes += segment.size_bytes;
            if let Some(ts) = segment.first_batch_timestamp_ms.filter(|ts| *ts > 0) {
                earliest_dirty_first_batch =
                    Some(earliest_dirty_first_batch.map_or(ts, |e| e.min(ts)));
            }
        } else {
            clean_bytes += segment.size_bytes;
        }
    }
    let total = clean_bytes + dirty_bytes;
    let dirty_ratio = if total == 0 {
        0.0
    } else {
        dirty_bytes as f64 / total as f64
    };
    let max_compaction_lag_exceeded = input.max_compaction_lag_ms > 0
        && input.max_compaction_lag_ms < i64::MAX
        && earliest_dirty_first_batch
            .is_some_and(|first| input.now_ms.saturating_sub(first) > input.max_compaction_lag_ms);
    let delete_horizon_ms = (0..active).rev().find(|&i| !is_dirty(i)).map(|i| {
        inactive[i]
            .largest_timestamp_ms
            .saturating_sub(input.delete_retention_ms)
    });
    CleaningStatus {
        first_dirty_offset,
        first_uncleanable_offset: first_uncleanable,
        clean_bytes,
        dirty_bytes,
        dirty_ratio,
        max_compaction_lag_exceeded,
        due: dirty_bytes > 0
            && (dirty_ratio > input.min_cleanable_dirty_ratio || max_compaction_lag_exceeded),
        delete_horizon_ms,
    }
}

/// Whether tombstones of a segment with this largest timestamp stay.
pub(crate) fn retain_tombstones(largest_timestamp_ms: i64, delete_horizon_ms: Option<i64>) -> bool {
    delete_horizon_ms.is_none_or(|horizon| largest_timestamp_ms > horizon)
}

/// What happens to one record of a segment being rewritten.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RecordDecision {
    Keep,
    /// A later record of the same key is in the offset map.
    Superseded,
    /// A tombstone old enough to go.
    TombstoneExpired,
    /// No key: cannot be compacted, removed.
    NoKey,
}

/// Kafka's `shouldRetainRecord`. `latest_offset_for_key` is the key's offset in the map
/// (`None` when the record has no key or the key is not in the map); `map_end_offset`
/// is the first offset the map did not look at.
pub(crate) fn retain_record(
    offset: i64,
    has_key: bool,
    is_tombstone: bool,
    latest_offset_for_key: Option<i64>,
    map_end_offset: i64,
    retain_tombstones: bool,
) -> RecordDecision {
    if offset >= map_end_offset {
        return RecordDecision::Keep;
    }
    if !has_key {
        return RecordDecision::NoKey;
    }
    if latest_offset_for_key.is_some_and(|latest| offset < latest) {
        return RecordDecision::Superseded;
    }
    if is_tombstone && !retain_tombstones {
        return RecordDecision::TombstoneExpired;
    }
    RecordDecision::Keep
}

/// What happens to a transaction marker of a segment being rewritten (see the module
/// docs, "Transaction markers").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MarkerDecision {
    /// Copied as it is.
    Keep,
    /// Kept, rewritten with this delete horizon (its transaction was found empty).
    SetHorizon(i64),
    /// Removed: its transaction is empty and its delete horizon has passed.
    Remove,
}

/// The marker rule. `txn_has_batches`: a batch of the marker's transaction is still in
/// the log (written by this clean before the marker, or not looked at); `producer_last_entry`:
/// the marker is what keeps its producer's epoch (the producer is remembered without a data
/// batch, at the marker's epoch); `delete_horizon_ms`: the horizon the marker carries.
pub(crate) fn retain_marker(
    offset: i64,
    map_end_offset: i64,
    txn_has_batches: bool,
    producer_last_entry: bool,
    delete_horizon_ms: Option<i64>,
    now_ms: i64,
    delete_retention_ms: i64,
) -> MarkerDecision {
    if offset >= map_end_offset || txn_has_batches {
        return MarkerDecision::Keep;
    }
    match delete_horizon_ms {
        None => MarkerDecision::SetHorizon(now_ms.saturating_add(delete_retention_ms.max(0))),
        Some(horizon) if now_ms >= horizon && !producer_last_entry => MarkerDecision::Remove,
        Some(_) => MarkerDecision::Keep,
    }
}

/// Which transactions still have batches in the log, as one clean writes it (Kafka's
/// `CleanedTransactionMetadata`, judged on what the clean keeps rather than on what it
/// reads). The clean walks the log from its first segment in offset order, so the
/// transactional batches of a producer seen since its previous marker are exactly those of
/// the transaction its next marker ends (a marker goes only once its transaction has no
/// batch left, so no older transaction's batch can be in between).
#[derive(Debug, Default)]
pub(crate) struct CleanedTxns {
    with_batches: std::collections::HashSet<i64>,
}

impl CleanedTxns {
    /// A transactional data batch of `producer_id` stays (with records or empty).
    pub fn batch_kept(&mut self, producer_id: i64) {
        self.with_batches.insert(producer_id);
    }

    /// A marker of `producer_id` is read: whether its transaction has a batch left. The
    /// producer's next transaction starts with nothing.
    pub fn marker_read(&mut self, producer_id: i64) -> bool {
        self.with_batches.remove(&producer_id)
    }
}

/// One segment for grouping: its facts and where it ends.
#[derive(Debug, Clone, Copy)]
pub(crate) struct GroupCandidate {
    pub base_offset: i64,
    pub size_bytes: u64,
    pub index_bytes: u64,
    /// Base offset of the next segment (or the first uncleanable offset for the last).
    pub end_offset: i64,
}

/// Kafka's `groupSegmentsBySize`: consecutive segments go into one output segment while
/// their sizes sum to at most `max_size_bytes` (`segment.bytes`), their index files to at
/// most `max_index_bytes` (`segment.index.bytes`), and every offset of the group stays
/// within a 4-byte offset of the group's base. Returns index ranges into `segments`.
pub(crate) fn group_segments_by_size(
    segments: &[GroupCandidate],
    max_size_bytes: u64,
    max_index_bytes: u64,
) -> Vec<Range<usize>> {
    let mut groups = Vec::new();
    let mut start = 0;
    while start < segments.len() {
        let first = segments[start];
        let mut size = first.size_bytes;
        let mut index = first.index_bytes;
        let mut end = start + 1;
        while let Some(next) = segments.get(end) {
            let fits_offsets = next.size_bytes == 0
                || next.end_offset - 1 - first.base_offset <= i64::from(i32::MAX);
            if size + next.size_bytes > max_size_bytes
                || index + next.index_bytes > max_index_bytes
                || !fits_offsets
            {
                break;
            }
            size += next.size_bytes;
            index += next.index_bytes;
            end += 1;
        }
        groups.push(start..end);
        start = end;
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(base: i64, size: u64, ts: i64) -> CleanerSegment {
        CleanerSegment {
            base_offset: base,
            size_bytes: size,
            largest_timestamp_ms: ts,
            first_batch_timestamp_ms: Some(ts),
            index_bytes: 0,
        }
    }

    fn input(segments: &[CleanerSegment], checkpoint: i64) -> CleanerInput<'_> {
        CleanerInput {
            segments,
            log_start_offset: 0,
            log_end_offset: 50,
            cleaner_checkpoint: checkpoint,
            last_stable_offset: 50,
            now_ms: 100_000,
            min_compaction_lag_ms: 0,
            max_compaction_lag_ms: i64::MAX,
            min_cleanable_dirty_ratio: 0.5,
            delete_retention_ms: 1_000,
        }
    }

    /// Segments at 0, 10, 20, 30 (100 bytes each) and the active one at 40.
    fn five() -> Vec<CleanerSegment> {
        (0..5).map(|i| seg(i * 10, 100, i * 1_000)).collect()
    }

    #[test]
    fn a_never_cleaned_log_is_all_dirty_up_to_the_active_segment() {
        let segments = five();
        let status = cleaning_status(&input(&segments, 0));
        assert_eq!(status.first_dirty_offset, 0);
        assert_eq!(status.first_uncleanable_offset, 40);
        assert_eq!((status.clean_bytes, status.dirty_bytes), (0, 400));
        assert_eq!(status.dirty_ratio, 1.0);
        assert!(status.due);
        assert_eq!(status.delete_horizon_ms, None);
    }

    #[test]
    fn the_dirty_ratio_counts_segments_below_the_checkpoint_as_clean() {
        let segments = five();
        let status = cleaning_status(&input(&segments, 20));
        assert_eq!((status.clean_bytes, status.dirty_bytes), (200, 200));
        assert_eq!(status.dirty_ratio, 0.5);
        // Kafka needs the ratio to be greater than min.cleanable.dirty.ratio.
        assert!(!status.due);
        let status = cleaning_status(&input(&segments, 30));
        assert!(status.dirty_ratio < 0.5 && !status.due);
        let mut lower = input(&segments, 30);
        lower.min_cleanable_dirty_ratio = 0.1;
        assert!(cleaning_status(&lower).due);
        // The horizon comes from the newest clean segment (base 20, largest ts 2000).
        assert_eq!(status.delete_horizon_ms, Some(2_000 - 1_000));
    }

    #[test]
    fn a_fully_cleaned_log_is_not_due() {
        let segments = five();
        let mut input = input(&segments, 40);
        input.min_cleanable_dirty_ratio = 0.0;
        let status = cleaning_status(&input);
        assert_eq!(status.dirty_bytes, 0);
        assert!(!status.due);
    }

    #[test]
    fn min_compaction_lag_makes_young_segments_uncleanable() {
        let segments = five();
        let mut input = input(&segments, 0);
        input.now_ms = 3_500;
        input.min_compaction_lag_ms = 2_000;
        // Segments with largest timestamp > 1500 are young: the one at 20 (ts 2000).
        let status = cleaning_status(&input);
        assert_eq!(status.first_uncleanable_offset, 20);
        assert_eq!(status.dirty_bytes, 200);
    }

    #[test]
    fn the_high_watermark_bounds_the_cleanable_section() {
        let segments = five();
        let mut input = input(&segments, 0);
        input.last_stable_offset = 25;
        let status = cleaning_status(&input);
        assert_eq!(status.first_uncleanable_offset, 25);
        assert_eq!(status.dirty_bytes, 300);
    }

    #[test]
    fn max_compaction_lag_forces_cleaning_below_the_dirty_ratio() {
        let segments = five();
        let mut input = input(&segments, 30);
        assert!(!cleaning_status(&input).due);
        input.max_compaction_lag_ms = 50_000;
        let status = cleaning_status(&input);
        assert!(status.max_compaction_lag_exceeded && status.due);
        input.max_compaction_lag_ms = 200_000;
        assert!(!cleaning_status(&input).due);
    }

    #[test]
    fn a_checkpoint_past_the_log_end_or_below_the_start_is_reset() {
        let segments = five();
        let mut input = input(&segments, 99);
        assert_eq!(cleaning_status(&input).first_dirty_offset, 0);
        input.log_start_offset = 10;
        input.cleaner_checkpoint = 5;
        assert_eq!(cleaning_status(&input).first_dirty_offset, 10);
    }

    #[test]
    fn records_keep_only_the_latest_offset_per_key_and_unexpired_tombstones() {
        use RecordDecision::*;
        assert_eq!(retain_record(5, true, false, Some(9), 20, true), Superseded);
        assert_eq!(retain_record(9, true, false, Some(9), 20, true), Keep);
        assert_eq!(retain_record(3, true, false, None, 20, true), Keep);
        assert_eq!(retain_record(9, true, true, Some(9), 20, true), Keep);
        assert_eq!(
            retain_record(9, true, true, Some(9), 20, false),
            TombstoneExpired
        );
        assert_eq!(retain_record(9, false, false, None, 20, true), NoKey);
        // Past where the map got: untouched, even superseded-looking or keyless.
        assert_eq!(retain_record(25, false, false, None, 20, false), Keep);
        assert_eq!(retain_record(20, true, true, Some(9), 20, false), Keep);
    }

    #[test]
    fn tombstones_stay_until_their_segment_is_at_or_below_the_horizon() {
        assert!(retain_tombstones(0, None));
        assert!(retain_tombstones(1_001, Some(1_000)));
        assert!(!retain_tombstones(1_000, Some(1_000)));
    }

    #[test]
    fn a_marker_gets_a_horizon_when_its_transaction_is_empty_and_goes_after_it() {
        use MarkerDecision::*;
        // (offset, map end, txn has batches, producer's last entry, horizon, now)
        let r = |offset, has, last, horizon, now| {
            retain_marker(offset, 20, has, last, horizon, now, 1_000)
        };
        assert_eq!(r(5, true, false, None, 100), Keep);
        assert_eq!(r(5, true, false, Some(50), 100), Keep);
        assert_eq!(r(5, false, false, None, 100), SetHorizon(1_100));
        assert_eq!(r(5, false, true, None, 100), SetHorizon(1_100));
        assert_eq!(r(5, false, false, Some(1_100), 1_099), Keep);
        assert_eq!(r(5, false, false, Some(1_100), 1_100), Remove);
        // The producer's last entry keeps its epoch: never removed.
        assert_eq!(r(5, false, true, Some(1_100), 5_000), Keep);
        // At or past where the map got (hence the first unstable offset): untouched.
        assert_eq!(r(20, false, false, None, 100), Keep);
        assert_eq!(r(25, false, false, Some(0), 100), Keep);
        assert_eq!(
            retain_marker(5, 20, false, false, None, i64::MAX - 1, i64::MAX),
            SetHorizon(i64::MAX)
        );
    }

    #[test]
    fn a_marker_sees_only_the_batches_of_its_own_transaction() {
        let mut txns = CleanedTxns::default();
        txns.batch_kept(7);
        txns.batch_kept(7);
        txns.batch_kept(8);
        assert!(txns.marker_read(7));
        // Producer 7's next transaction starts empty.
        assert!(!txns.marker_read(7));
        assert!(txns.marker_read(8));
        assert!(!txns.marker_read(9));
    }

    #[test]
    fn segments_are_grouped_under_segment_bytes_and_index_bytes() {
        let c = |base: i64, size: u64, index: u64| GroupCandidate {
            base_offset: base,
            size_bytes: size,
            index_bytes: index,
            end_offset: base + 10,
        };
        let segments = [
            c(0, 60, 8),
            c(10, 30, 8),
            c(20, 20, 8),
            c(30, 90, 8),
            c(40, 5, 8),
        ];
        assert_eq!(
            group_segments_by_size(&segments, 100, 1_000),
            vec![0..2, 2..3, 3..5]
        );
        assert_eq!(
            group_segments_by_size(&segments, 1_000, 16),
            vec![0..2, 2..4, 4..5]
        );
        let far = [c(0, 1, 0), c(i64::from(i32::MAX), 1, 0)];
        assert_eq!(group_segments_by_size(&far, 100, 100), vec![0..1, 1..2]);
    }
}
