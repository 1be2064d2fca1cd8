//! Log compaction (`cleanup.policy=compact`), the log side: [`Log::clean`] keeps the
//! latest record of every key, as Kafka's `LogCleaner` does. What is cleaned and which
//! records stay is decided in `cleaner_decisions`; this file reads, rewrites and swaps.
//!
//! # One clean
//!
//! 1. Where the log stands: first dirty offset (the cleaner checkpoint), first uncleanable
//!    offset, delete horizon ([`Log::cleaning_status`]).
//! 2. The offset map: every record from the first dirty offset to the first uncleanable
//!    one, key -> last offset, in at most `dedupe_buffer_bytes`. A map that fills stops
//!    there; the clean then ends at that offset and the next one goes on from it.
//! 3. Every inactive segment below the map's end (the clean section too, since newer
//!    records may supersede its keys) is rewritten, in groups of consecutive segments that
//!    each fit one output segment (`segment.bytes`, `segment.index.bytes`). A batch whose
//!    records all stay is copied byte for byte; otherwise it is decompressed, filtered and
//!    re-encoded with its own codec, offsets, producer fields and flags unchanged
//!    (`RecordBatch::with_retained_records`). A batch left with no record is dropped, except
//!    a producer's newest batch, which stays as an empty batch so the producer's last
//!    sequence survives (Kafka's rule). Records of aborted transactions go. Transaction
//!    markers follow `cleaner_decisions`' marker rule: walking the log in offset order,
//!    the clean knows whether any batch of a marker's transaction stays; a marker below the
//!    map's end whose transaction has none is rewritten with a delete horizon (attribute bit
//!    6, `baseTimestamp` = now + `delete.retention.ms`, record timestamps unchanged), and
//!    removed by a clean at or after that horizon. The `.txnindex` entry of an aborted
//!    transaction with no batch left goes at once (as in Kafka's cleaned index).
//! 4. The cleaner checkpoint moves to the map's end and, for a log of a
//!    [`crate::LogManager`], is written to the directory's `cleaner-offset-checkpoint`
//!    (Kafka's file of the same name, see `offset_checkpoint`), after the swaps made the
//!    cleaned segments durable. The next open starts from it, so a clean after a restart
//!    has a clean section, hence a delete horizon, and removes tombstones older than
//!    `delete.retention.ms` instead of keeping them all once more. A failed write is only
//!    a warning: the file keeps the previous (lower) offset, which is safe and at worst
//!    makes the first clean after a restart redo work.
//!
//! # The swap, crash-safe (Kafka's `replaceSegments`)
//!
//! For each group, with `B` the group's first base offset:
//! 1. write `B.log.cleaned`, `B.index.cleaned`, `B.timeindex.cleaned`; fsync all three;
//! 2. rename them to `*.swap`, the `.log` first: `B.log.swap` existing is the commit point;
//!    fsync the directory;
//! 3. delete the old segments of the group (rename to `*.deleted`, fsync the directory,
//!    remove);
//! 4. rename the `*.swap` files to their final names, the indexes first; fsync the
//!    directory; open the new segment in place of the old ones.
//!
//! At open (`log_loader`): `*.cleaned` files are removed (a crash before 2 leaves the old
//! segments, untouched); a `*.log.swap` removes the segments it covers (base offsets from
//! `B` to the swap's last offset) and takes its final name, its indexes rebuilt. An old
//! segment of the group past the swap's last offset (all its records were removed) may
//! survive a crash in 3: it holds only records newer than every record of the swap, so the
//! log is still a valid, if less compact, compaction, and the next clean removes them.
//!
//! # I/O rate
//!
//! Every read and write calls `throttle(bytes)`, so the caller can sleep to hold
//! `log.cleaner.io.max.bytes.per.second` (the log does not sleep).

use std::io::IoSlice;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use strom_records::layout::{
    ATTRIBUTES_OFFSET, BASE_TIMESTAMP_OFFSET, CRC_OFFSET, DELETE_HORIZON_FLAG_MASK,
};
use strom_records::{
    EndTransactionMarker, RecordBatch, RecordsError, DEFAULT_MAX_DECOMPRESSED_BYTES,
};

use crate::cleaner_decisions::{
    cleaning_status, group_segments_by_size, retain_marker, retain_record, retain_tombstones,
    CleanedTxns, CleanerInput, CleanerSegment, CleaningStatus, GroupCandidate, MarkerDecision,
    RecordDecision,
};
use crate::error::LogError;
use crate::file_names::{CLEANED_FILE_SUFFIX, SWAP_FILE_SUFFIX};
use crate::log::Log;
use crate::offset_map::OffsetMap;
use crate::producer_state::ProducerStateManager;
use crate::segment::{AppendedBatch, LogSegment};

/// Bytes read from a segment at a time, and written to the output before an append.
const IO_CHUNK_BYTES: u64 = 1024 * 1024;

/// What one [`Log::clean`] did, for the broker to log and for benchmarks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CleanerStats {
    /// First dirty offset when the clean started.
    pub first_dirty_offset: i64,
    /// Where the clean ended (exclusive): the new cleaner checkpoint.
    pub end_offset: i64,
    /// The offset map filled before the first uncleanable offset (a partial clean).
    pub offset_map_full: bool,
    /// Keys in the offset map and the bytes they are charged.
    pub offset_map_keys: u64,
    pub offset_map_bytes: u64,
    /// Segments rewritten and segments they became.
    pub segments_cleaned: u64,
    pub segments_written: u64,
    /// Bytes read (offset map and rewrite) and written.
    pub bytes_read: u64,
    pub bytes_written: u64,
    /// Records read while rewriting, and what happened to them.
    pub records_read: u64,
    pub records_kept: u64,
    /// Removed because a later record has the same key.
    pub records_superseded: u64,
    /// Tombstones removed after `delete.retention.ms`.
    pub tombstones_removed: u64,
    /// Records without a key, removed.
    pub records_without_key: u64,
    /// Records of aborted transactions, removed.
    pub records_aborted_removed: u64,
    /// Batches left without records but kept as a producer's newest batch.
    pub empty_batches_kept: u64,
    /// Transaction markers whose transaction was found empty, given a delete horizon.
    pub marker_horizons_set: u64,
    /// Transaction markers removed after their delete horizon.
    pub markers_removed: u64,
    /// Wall-clock time of the clean.
    pub duration: Duration,
}

impl CleanerStats {
    /// Records removed, for any reason.
    pub fn records_removed(&self) -> u64 {
        self.records_superseded
            + self.tombstones_removed
            + self.records_without_key
            + self.records_aborted_removed
    }
}

impl Log {
    /// Where the previous clean ended: the first dirty offset of the next (before it is
    /// raised to the log start offset).
    pub fn cleaner_checkpoint(&self) -> i64 {
        self.cleaner_checkpoint
    }

    /// Sets the cleaner checkpoint, in memory only (the next [`Log::clean`] writes where it
    /// ended to the directory's `cleaner-offset-checkpoint`; [`crate::LogManager`] reads
    /// the file at open, so callers need not).
    pub fn set_cleaner_checkpoint(&mut self, offset: i64) {
        self.cleaner_checkpoint = offset;
    }

    /// Where the log stands for compaction with nothing at or above `high_watermark`
    /// cleanable, by the log's `delete.retention.ms`, `min.compaction.lag.ms`,
    /// `max.compaction.lag.ms` and `min.cleanable.dirty.ratio`. `due` says whether a clean
    /// is called for; the broker's cleaner picks the due log with the largest
    /// `dirty_ratio` (Kafka's "filthiest" log).
    pub fn cleaning_status(
        &self,
        high_watermark: i64,
        now_ms: i64,
    ) -> Result<CleaningStatus, LogError> {
        self.check_online()?;
        let segments = self.cleaner_segments()?;
        Ok(cleaning_status(&self.cleaner_input(
            &segments,
            high_watermark,
            now_ms,
        )))
    }

    fn cleaner_segments(&self) -> Result<Vec<CleanerSegment>, LogError> {
        self.segments
            .iter()
            .map(|s| {
                Ok(CleanerSegment {
                    base_offset: s.base_offset(),
                    size_bytes: s.size(),
                    largest_timestamp_ms: s.largest_timestamp(),
                    first_batch_timestamp_ms: s.first_batch_timestamp()?,
                    index_bytes: s.index_bytes(),
                })
            })
            .collect()
    }

    fn cleaner_input<'a>(
        &self,
        segments: &'a [CleanerSegment],
        high_watermark: i64,
        now_ms: i64,
    ) -> CleanerInput<'a> {
        CleanerInput {
            segments,
            log_start_offset: self.log_start_offset,
            log_end_offset: self.log_end_offset,
            cleaner_checkpoint: self.cleaner_checkpoint,
            // Kafka never cleans past the first unstable offset: an open transaction
            // may still abort.
            last_stable_offset: high_watermark
                .min(self.log_end_offset)
                .min(self.first_unstable_offset().unwrap_or(i64::MAX)),
            now_ms,
            min_compaction_lag_ms: self.config.min_compaction_lag_ms,
            max_compaction_lag_ms: self.config.max_compaction_lag_ms,
            min_cleanable_dirty_ratio: self.config.min_cleanable_dirty_ratio,
            delete_retention_ms: self.config.delete_retention_ms,
        }
    }

    /// Compacts the log once (see the module docs): from the first dirty offset to the
    /// first uncleanable offset (below `high_watermark`, the active segment and
    /// `min.compaction.lag.ms`), with an offset map of at most `dedupe_buffer_bytes`
    /// (`log.cleaner.dedupe.buffer.size` divided among `log.cleaner.threads`). Cleans
    /// whether or not [`Log::cleaning_status`] says it is due; does nothing when there is
    /// nothing dirty. `throttle` is called with every byte count read or written.
    ///
    /// An I/O error takes the log offline, as any storage error does; a batch that cannot
    /// be decoded fails the clean with [`LogError::Corrupt`] and leaves the log as it was
    /// (Kafka marks such a partition uncleanable; so should the caller).
    pub fn clean(
        &mut self,
        high_watermark: i64,
        now_ms: i64,
        dedupe_buffer_bytes: usize,
        throttle: &mut dyn FnMut(usize),
    ) -> Result<CleanerStats, LogError> {
        self.check_online()?;
        let started = Instant::now();
        let segments = self.cleaner_segments()?;
        let status = cleaning_status(&self.cleaner_input(&segments, high_watermark, now_ms));
        let mut stats = CleanerStats {
            first_dirty_offset: status.first_dirty_offset,
            end_offset: status.first_dirty_offset,
            ..CleanerStats::default()
        };
        if status.first_dirty_offset >= status.first_uncleanable_offset {
            return Ok(stats);
        }
        let map = match self.build_offset_map(&status, dedupe_buffer_bytes, &mut stats, throttle) {
            Ok(map) => map,
            Err(e) => return Err(self.clean_failed(e, false)),
        };
        let map_end = stats.end_offset;
        if map_end <= status.first_dirty_offset {
            tracing::warn!(
                dir = %self.dir.display(),
                dedupe_buffer_bytes,
                "the offset map cannot hold a single key; raise log.cleaner.dedupe.buffer.size"
            );
            return Ok(stats);
        }
        let active = self.segments.len() - 1;
        let count = self.segments[..active]
            .iter()
            .take_while(|s| s.base_offset() < map_end)
            .count();
        let candidates: Vec<GroupCandidate> = (0..count)
            .map(|i| GroupCandidate {
                base_offset: self.segments[i].base_offset(),
                size_bytes: self.segments[i].size(),
                index_bytes: self.segments[i].index_bytes(),
                end_offset: self.segments[i + 1].base_offset(),
            })
            .collect();
        let groups = group_segments_by_size(
            &candidates,
            self.config.effective_segment_bytes(),
            self.config.segment_index_bytes,
        );
        let mut removed_so_far = 0;
        let mut txns = CleanedTxns::default();
        for group in groups {
            let group = group.start - removed_so_far..group.end - removed_so_far;
            removed_so_far += group.len() - 1;
            let mut committed = false;
            if let Err(e) = self.clean_group(
                group,
                &map,
                map_end,
                status.delete_horizon_ms,
                now_ms,
                &mut txns,
                &mut stats,
                throttle,
                &mut committed,
            ) {
                return Err(self.clean_failed(e, committed));
            }
        }
        self.cleaner_checkpoint = map_end;
        self.persist_cleaner_checkpoint();
        if stats.records_without_key > 0 {
            tracing::warn!(
                dir = %self.dir.display(),
                records = stats.records_without_key,
                "removed records without a key from a compacted log"
            );
        }
        stats.duration = started.elapsed();
        tracing::info!(
            dir = %self.dir.display(),
            first_dirty_offset = stats.first_dirty_offset,
            end_offset = stats.end_offset,
            segments = stats.segments_cleaned,
            bytes_read = stats.bytes_read,
            bytes_written = stats.bytes_written,
            records_kept = stats.records_kept,
            records_removed = stats.records_removed(),
            markers_removed = stats.markers_removed,
            duration_ms = stats.duration.as_millis() as u64,
            "cleaned log"
        );
        Ok(stats)
    }

    /// Writes the cleaner checkpoint to the directory's `cleaner-offset-checkpoint`, if the
    /// log has one. A failure is logged, not returned: the clean itself succeeded, and the
    /// file keeps the previous entry, which only makes the next clean after a restart
    /// reread more of the log.
    fn persist_cleaner_checkpoint(&self) {
        let (Some(checkpoint), Some(tp)) = (&self.cleaner_offsets, self.topic_partition()) else {
            return;
        };
        if let Err(error) = checkpoint.update(&[(tp, Some(self.cleaner_checkpoint))]) {
            tracing::warn!(
                dir = %self.dir.display(),
                %error,
                cleaner_checkpoint = self.cleaner_checkpoint,
                "writing the cleaner offset checkpoint failed; after a restart this log is cleaned again from the previous checkpoint"
            );
        }
    }

    /// A failed clean: leftovers of `.cleaned` output go (best effort; the next open
    /// removes them anyway). I/O errors, and any error once a swap was committed, take the
    /// log offline; a corrupt batch before that leaves it as it was.
    fn clean_failed(&mut self, error: LogError, committed: bool) -> LogError {
        if let Ok(entries) = self.fs.read_dir(&self.dir) {
            for entry in entries {
                if entry.name.ends_with(CLEANED_FILE_SUFFIX) {
                    let _ = self.fs.remove_file(&self.dir.join(&entry.name));
                }
            }
        }
        if committed || !matches!(error, LogError::Corrupt { .. }) {
            return self.fail(error);
        }
        tracing::error!(dir = %self.dir.display(), %error, "log cleaning failed; the log is unchanged");
        error
    }

    /// Step 2: key -> last offset from the first dirty offset on, until the first
    /// uncleanable offset or a full map; sets `stats.end_offset` to where it got.
    fn build_offset_map(
        &self,
        status: &CleaningStatus,
        dedupe_buffer_bytes: usize,
        stats: &mut CleanerStats,
        throttle: &mut dyn FnMut(usize),
    ) -> Result<OffsetMap, LogError> {
        let first_dirty = status.first_dirty_offset;
        let first_uncleanable = status.first_uncleanable_offset;
        let mut map = OffsetMap::new(dedupe_buffer_bytes);
        let mut end = first_uncleanable;
        let active = self.segments.len() - 1;
        for (i, segment) in self.segments[..active].iter().enumerate() {
            if segment.base_offset() >= first_uncleanable {
                break;
            }
            if self.segments[i + 1].base_offset() <= first_dirty {
                continue;
            }
            let mut full = false;
            for_each_batch(segment, stats, throttle, |position, batch, _| {
                if batch.last_offset() < first_dirty
                    || batch.is_control()
                    || self.is_aborted_batch(&batch)
                {
                    // An aborted record never supersedes a committed one.
                    return Ok(true);
                }
                if batch.base_offset() >= first_uncleanable {
                    return Ok(false);
                }
                for record in decode(segment, position, &batch)? {
                    let offset = record.offset();
                    if offset < first_dirty {
                        continue;
                    }
                    if offset >= first_uncleanable {
                        return Ok(false);
                    }
                    if let Some(key) = &record.key {
                        if !map.put(key, offset) {
                            end = offset;
                            full = true;
                            return Ok(false);
                        }
                    }
                }
                Ok(true)
            })?;
            if full {
                stats.offset_map_full = true;
                break;
            }
        }
        stats.end_offset = end;
        stats.offset_map_keys = map.len() as u64;
        stats.offset_map_bytes = map.used_bytes() as u64;
        Ok(map)
    }

    /// Step 3 for one group: rewrite, then swap (see the module docs).
    #[allow(clippy::too_many_arguments)]
    fn clean_group(
        &mut self,
        group: Range<usize>,
        map: &OffsetMap,
        map_end: i64,
        delete_horizon_ms: Option<i64>,
        now_ms: i64,
        txns: &mut CleanedTxns,
        stats: &mut CleanerStats,
        throttle: &mut dyn FnMut(usize),
        committed: &mut bool,
    ) -> Result<(), LogError> {
        let base = self.segments[group.start].base_offset();
        let next_base = self.segments[group.end].base_offset();
        let mut cleaned = LogSegment::create_with_suffix(
            self.fs.as_ref(),
            &self.dir,
            base,
            &self.config,
            now_ms,
            0,
            CLEANED_FILE_SUFFIX,
        )?;
        let mut output = Output::default();
        // Markers of aborted transactions found empty: their `.txnindex` entries go.
        let mut emptied_aborts: Vec<i64> = Vec::new();
        let delete_retention_ms = self.config.delete_retention_ms;
        for segment in &self.segments[group.clone()] {
            let retain_deletes = retain_tombstones(segment.largest_timestamp(), delete_horizon_ms);
            for_each_batch(segment, stats, throttle, |position, batch, stats| {
                let retained = if batch.is_control() {
                    let marker = MarkerContext {
                        map_end,
                        now_ms,
                        delete_retention_ms,
                        producers: &self.producer_state,
                    };
                    let (retained, emptied) =
                        marker.filter(segment, position, &batch, txns, stats)?;
                    if emptied {
                        emptied_aborts.push(batch.base_offset());
                    }
                    retained
                } else {
                    let retained = filter_batch(
                        segment,
                        position,
                        &batch,
                        map,
                        map_end,
                        retain_deletes,
                        self.is_aborted_batch(&batch),
                        &self.producer_state,
                        stats,
                    )?;
                    if retained.is_some() && batch.is_transactional() {
                        txns.batch_kept(batch.producer_id());
                    }
                    retained
                };
                if let Some(bytes) = retained {
                    output.push(bytes, &batch);
                }
                if output.bytes >= IO_CHUNK_BYTES {
                    output.write(&mut cleaned, now_ms, stats)?;
                }
                Ok(true)
            })?;
            stats.segments_cleaned += 1;
        }
        output.write(&mut cleaned, now_ms, stats)?;
        throttle(output.written as usize);
        cleaned.on_become_inactive()?;
        let cleaned_paths: Vec<PathBuf> = cleaned
            .file_paths()
            .iter()
            .map(|p| p.to_path_buf())
            .collect();
        drop(cleaned);

        // Commit: `.log.swap` first.
        let swap_paths: Vec<PathBuf> = cleaned_paths
            .iter()
            .map(|p| replace_suffix(p, CLEANED_FILE_SUFFIX, SWAP_FILE_SUFFIX))
            .collect();
        for (from, to) in cleaned_paths.iter().zip(&swap_paths) {
            self.fs
                .rename(from, to)
                .map_err(|e| LogError::io(from, e))?;
            *committed = true;
        }
        self.sync_dir()?;
        let old: Vec<LogSegment> = self.segments.drain(group.clone()).collect();
        self.remove_segment_files(&old)?;
        drop(old);
        // Indexes first, the `.log` last.
        for swap in swap_paths.iter().rev() {
            let final_path = replace_suffix(swap, SWAP_FILE_SUFFIX, "");
            self.fs
                .rename(swap, &final_path)
                .map_err(|e| LogError::io(swap, e))?;
        }
        self.sync_dir()?;
        let (mut segment, problem) = LogSegment::open(
            self.fs.as_ref(),
            &self.dir,
            base,
            &self.config,
            now_ms,
            self.roll_jitter_ms(base),
        )?;
        if let Some(problem) = problem.or_else(|| segment.check_inactive(next_base)) {
            tracing::warn!(file = %segment.log_path().display(), %problem, "rebuilding the indexes of a cleaned segment");
            segment.recover(Some(next_base))?;
        }
        self.segments.insert(group.start, segment);
        // The group's aborted transactions, in the one index of the cleaned segment
        // (the old segments' indexes went with them): those with a batch left (Kafka's
        // cleaned index holds the same).
        if !emptied_aborts.is_empty() {
            self.aborted_txns
                .retain(|t| !emptied_aborts.contains(&t.last_offset));
        }
        self.rewrite_txn_index(base)?;
        stats.segments_written += 1;
        Ok(())
    }

    /// Whether `batch` holds records of an aborted transaction (Kafka's cleaner drops
    /// them, and they never enter the offset map).
    fn is_aborted_batch(&self, batch: &RecordBatch) -> bool {
        batch.is_transactional()
            && !batch.is_control()
            && self.aborted_txns.iter().any(|t| {
                t.producer_id == batch.producer_id()
                    && t.first_offset <= batch.base_offset()
                    && batch.last_offset() < t.last_offset
            })
    }

    fn sync_dir(&self) -> Result<(), LogError> {
        self.fs
            .sync_dir(&self.dir)
            .map_err(|e| LogError::io(&self.dir, e))
    }
}

/// Batches waiting to be appended to the output segment.
#[derive(Default)]
struct Output {
    batches: Vec<Bytes>,
    appended: Vec<AppendedBatch>,
    bytes: u64,
    written: u64,
}

impl Output {
    fn push(&mut self, bytes: Bytes, original: &RecordBatch) {
        let header = RecordBatch::new(bytes.clone()).map(|b| b.header());
        let max_timestamp = header.map_or(original.max_timestamp(), |h| h.max_timestamp());
        self.appended.push(AppendedBatch {
            last_offset: original.last_offset(),
            max_timestamp,
            size: bytes.len() as u64,
        });
        self.bytes += bytes.len() as u64;
        self.batches.push(bytes);
    }

    fn write(
        &mut self,
        segment: &mut LogSegment,
        now_ms: i64,
        stats: &mut CleanerStats,
    ) -> Result<(), LogError> {
        if self.batches.is_empty() {
            return Ok(());
        }
        let slices: Vec<IoSlice<'_>> = self.batches.iter().map(|b| IoSlice::new(b)).collect();
        segment.append(&slices, &self.appended, now_ms)?;
        drop(slices);
        stats.bytes_written += self.bytes;
        self.written += self.bytes;
        self.batches.clear();
        self.appended.clear();
        self.bytes = 0;
        Ok(())
    }
}

fn replace_suffix(path: &Path, from: &str, to: &str) -> PathBuf {
    let name = path.to_string_lossy();
    PathBuf::from(format!("{}{to}", name.strip_suffix(from).unwrap_or(&name)))
}

fn decode(
    segment: &LogSegment,
    position: u64,
    batch: &RecordBatch,
) -> Result<Vec<strom_records::Record>, LogError> {
    batch
        .records_with_limit(DEFAULT_MAX_DECOMPRESSED_BYTES)
        .map_err(|e| LogError::corrupt(segment.log_path(), position, e.to_string()))
}

/// The batch as the clean writes it, or `None` when it goes.
#[allow(clippy::too_many_arguments)]
fn filter_batch(
    segment: &LogSegment,
    position: u64,
    batch: &RecordBatch,
    map: &OffsetMap,
    map_end: i64,
    retain_deletes: bool,
    aborted: bool,
    producers: &ProducerStateManager,
    stats: &mut CleanerStats,
) -> Result<Option<Bytes>, LogError> {
    let mut records = decode(segment, position, batch)?;
    let total = records.len();
    if aborted {
        // An aborted transaction's records go whole (the empty batch may stay below,
        // as the producer's last batch).
        stats.records_read += records.len() as u64;
        stats.records_aborted_removed += records.len() as u64;
        records.clear();
    }
    let mut kept = Vec::with_capacity(total);
    for record in records {
        stats.records_read += 1;
        let latest = record.key.as_ref().and_then(|k| map.get(k));
        match retain_record(
            record.offset(),
            record.key.is_some(),
            record.value.is_none(),
            latest,
            map_end,
            retain_deletes,
        ) {
            RecordDecision::Keep => {
                stats.records_kept += 1;
                kept.push(record);
            }
            RecordDecision::Superseded => stats.records_superseded += 1,
            RecordDecision::TombstoneExpired => stats.tombstones_removed += 1,
            RecordDecision::NoKey => stats.records_without_key += 1,
        }
    }
    if !kept.is_empty() && kept.len() == total {
        return Ok(Some(batch.as_bytes().clone()));
    }
    let rebuild = |kept: &[strom_records::Record]| {
        batch
            .with_retained_records(kept)
            .map_err(|e: RecordsError| {
                LogError::corrupt(segment.log_path(), position, e.to_string())
            })
    };
    if !kept.is_empty() {
        return rebuild(&kept).map(Some);
    }
    let producer_id = batch.producer_id();
    if producer_id >= 0 && producers.last_offset_of(producer_id) == Some(batch.last_offset()) {
        stats.empty_batches_kept += 1;
        if total == 0 {
            return Ok(Some(batch.as_bytes().clone()));
        }
        return rebuild(&[]).map(Some);
    }
    Ok(None)
}

/// What the marker rule needs besides the batch.
struct MarkerContext<'a> {
    map_end: i64,
    now_ms: i64,
    delete_retention_ms: i64,
    producers: &'a ProducerStateManager,
}

impl MarkerContext<'_> {
    /// A control batch as the clean writes it (`None` when it goes), and whether it is an
    /// abort marker whose transaction has no batch left (its `.txnindex` entry goes). A
    /// control batch that is not a readable transaction marker is copied as it is.
    fn filter(
        &self,
        segment: &LogSegment,
        position: u64,
        batch: &RecordBatch,
        txns: &mut CleanedTxns,
        stats: &mut CleanerStats,
    ) -> Result<(Option<Bytes>, bool), LogError> {
        let keep = Some(batch.as_bytes().clone());
        let marker = match EndTransactionMarker::of_batch(batch) {
            Ok(Some(marker)) if batch.is_transactional() => marker,
            _ => return Ok((keep, false)),
        };
        let producer_id = batch.producer_id();
        let txn_has_batches = txns.marker_read(producer_id);
        let producer_last_entry = self.producers.last_offset_of(producer_id).is_none()
            && self.producers.producer_epoch(producer_id) == Some(batch.producer_epoch());
        let decision = retain_marker(
            batch.base_offset(),
            self.map_end,
            txn_has_batches,
            producer_last_entry,
            delete_horizon_of(batch),
            self.now_ms,
            self.delete_retention_ms,
        );
        // Wherever the marker is: with no batch left there is nothing for the entry to hide.
        let emptied = !marker.commit && !txn_has_batches;
        let retained = match decision {
            MarkerDecision::Keep => keep,
            MarkerDecision::SetHorizon(horizon) => {
                stats.marker_horizons_set += 1;
                Some(with_delete_horizon(segment, position, batch, horizon)?)
            }
            MarkerDecision::Remove => {
                stats.markers_removed += 1;
                None
            }
        };
        Ok((retained, emptied))
    }
}

/// The delete horizon a batch carries (attribute bit 6: `baseTimestamp` is the horizon).
pub(crate) fn delete_horizon_of(batch: &RecordBatch) -> Option<i64> {
    (batch.attributes() & DELETE_HORIZON_FLAG_MASK != 0).then(|| batch.base_timestamp())
}

/// The batch with its delete horizon set, as Kafka's `MemoryRecordsBuilder` writes it:
/// attribute bit 6, `baseTimestamp` = the horizon, every record's `timestampDelta` taken
/// from the horizon so that record timestamps do not change; the CRC is recomputed.
fn with_delete_horizon(
    segment: &LogSegment,
    position: u64,
    batch: &RecordBatch,
    horizon_ms: i64,
) -> Result<Bytes, LogError> {
    let records: Vec<strom_records::Record> = decode(segment, position, batch)?
        .into_iter()
        .map(|mut r| {
            r.timestamp_delta = r.timestamp().saturating_sub(horizon_ms);
            r
        })
        .collect();
    let rebuilt = batch
        .with_retained_records(&records)
        .map_err(|e| LogError::corrupt(segment.log_path(), position, e.to_string()))?;
    let mut out = BytesMut::from(&rebuilt[..]);
    let attributes = batch.attributes() | DELETE_HORIZON_FLAG_MASK;
    out[ATTRIBUTES_OFFSET..ATTRIBUTES_OFFSET + 2].copy_from_slice(&attributes.to_be_bytes());
    out[BASE_TIMESTAMP_OFFSET..BASE_TIMESTAMP_OFFSET + 8]
        .copy_from_slice(&horizon_ms.to_be_bytes());
    let crc = crc32c::crc32c(&out[ATTRIBUTES_OFFSET..]);
    out[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
    Ok(out.freeze())
}

/// Calls `f(position, batch, stats)` for every batch of `segment` in order, reading about
/// [`IO_CHUNK_BYTES`] at a time and counting the bytes read; stops when `f` returns false.
fn for_each_batch(
    segment: &LogSegment,
    stats: &mut CleanerStats,
    throttle: &mut dyn FnMut(usize),
    mut f: impl FnMut(u64, RecordBatch, &mut CleanerStats) -> Result<bool, LogError>,
) -> Result<(), LogError> {
    let mut position = 0u64;
    while position < segment.size() {
        let first = segment.read_header(position)?;
        let len = first
            .size
            .max(IO_CHUNK_BYTES.min(segment.size() - position));
        let chunk = segment.read_bytes(position, len)?;
        stats.bytes_read += len;
        throttle(len as usize);
        let mut batches = RecordBatch::iter(chunk);
        loop {
            let at = position;
            match batches.next() {
                None => break,
                Some(Ok(batch)) => {
                    position += batch.size_in_bytes() as u64;
                    if !f(at, batch, stats)? {
                        return Ok(());
                    }
                }
                // The chunk ends inside this batch: read on from it.
                Some(Err(RecordsError::PartialBatch { .. })) => break,
                Some(Err(e)) => {
                    return Err(LogError::corrupt(segment.log_path(), at, e.to_string()))
                }
            }
        }
    }
    Ok(())
}
