//! The replication side of [`Log`]: the leader epoch cache, appends of a follower (batches
//! exactly as the leader sent them), truncation to a leader's history, and the high
//! watermark checkpoint.
//!
//! # Follower appends
//!
//! [`Log::append_as_follower`] stores the leader's batches byte for byte: offsets,
//! `partitionLeaderEpoch` and timestamps are the leader's, and nothing is re-encoded. Only
//! what the disk could have damaged on the way is checked (framing and CRC, and the
//! records' framing for uncompressed batches, as recovery does); the timestamp, key and
//! compression rules were the leader's to apply. Offsets must not go back: the first batch
//! starts at or after the log end offset and every batch after the one before. They may
//! skip offsets, as Kafka's followers allow: a compacted leader log has gaps where whole
//! batches were cleaned away, and a follower fetching it sees them. The producer state
//! takes the batches without sequence checks (Kafka's replication origin), and each batch
//! of an epoch newer than the cache's latest adds an entry at its base offset, written
//! before the batches are.
//!
//! # Truncation
//!
//! [`Log::truncate_to`] removes everything at or after an offset. In order, so that a crash
//! at any point leaves a prefix of the old log that the loader accepts, and a crash after
//! the call returns never brings a truncated record back:
//! 1. producer snapshots above the offset are removed (the loader ignores them anyway);
//! 2. segments whose base offset is above the offset are deleted, newest first, each
//!    durably (rename to `.deleted`, directory fsync, remove), so what is left is always
//!    a prefix of the segments;
//! 3. the segment holding the offset is cut at the start of the batch holding it (a batch
//!    is never split), its indexes with it, and fsynced;
//! 4. the epoch cache drops the entries at or after the new log end offset (file rewritten;
//!    a crash before that leaves entries the loader removes);
//! 5. the producer state is rebuilt from the newest snapshot left and the batches after
//!    it, as the loader does.
//!
//! The log end offset becomes the offset after the last batch left: the offset asked for,
//! unless it fell inside a batch or in a gap left by compaction.

use std::collections::BTreeSet;
use std::io::IoSlice;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use strom_records::{validate_stored_batch, BatchHeader, RecordBatch};

use crate::error::{AppendError, LogError};
use crate::file_names::{parse_segment_file_name, FileKind, Leftover};
use crate::leader_epoch_cache::{LeaderEpochCache, LEADER_EPOCH_CHECKPOINT_FILE};
use crate::log::{AppendInfo, Log};
use crate::producer_state::{MarkerBatch, ProducerBatch, ProducerStateManager};
use crate::segment::{AppendedBatch, LogSegment};

/// The wall clock in milliseconds, for the calls whose signature carries no `now_ms` (the
/// follower path: roll times and producer expiration only).
fn wall_clock_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl Log {
    // ----- the leader epoch cache -----

    /// Records that leader epoch `epoch` starts at `start_offset` (Kafka's
    /// `maybeAssignEpochStartOffset`, called by a new leader with its log end offset).
    /// Does nothing if the latest entry has that epoch or a newer one. The cache file is
    /// rewritten before this returns.
    pub fn assign_epoch_start(&mut self, epoch: i32, start_offset: i64) -> Result<(), LogError> {
        self.check_online()?;
        let mut cache = self.epoch_cache.clone();
        if cache.assign(epoch, start_offset) {
            self.write_epoch_cache(&cache).map_err(|e| self.fail(e))?;
            self.epoch_cache = cache;
        }
        Ok(())
    }

    /// The newest leader epoch in the cache.
    pub fn latest_epoch(&self) -> Option<i32> {
        self.epoch_cache.latest_epoch()
    }

    /// The cache's entries, (epoch, start offset), oldest first.
    pub fn epoch_entries(&self) -> Vec<(i32, i64)> {
        self.epoch_cache
            .entries()
            .iter()
            .map(|e| (e.epoch, e.start_offset))
            .collect()
    }

    /// Where `epoch` ends in this log, as Kafka's `LeaderEpochFileCache.endOffsetFor`
    /// answers OffsetForLeaderEpoch: (the largest epoch at or below `epoch`, the offset
    /// after it). The latest epoch ends at the log end offset; an epoch older than every
    /// entry ends where the first entry starts; an unknown newer epoch (or -1, or an empty
    /// cache) gives (-1, -1).
    pub fn end_offset_for_epoch(&self, epoch: i32) -> (i32, i64) {
        self.epoch_cache.end_offset_for(epoch, self.log_end_offset)
    }

    pub(crate) fn epoch_cache_path(&self) -> std::path::PathBuf {
        self.dir.join(LEADER_EPOCH_CHECKPOINT_FILE)
    }

    /// Rewrites `leader-epoch-checkpoint` with `cache`, atomically and durably.
    pub(crate) fn write_epoch_cache(&self, cache: &LeaderEpochCache) -> Result<(), LogError> {
        let path = self.epoch_cache_path();
        self.fs
            .write_file_atomic(&path, cache.encode().as_bytes())
            .map_err(|e| LogError::io(&path, e))
    }

    /// Loads the epoch cache at open (see `leader_epoch_cache`): the file truncated to
    /// [log start offset, log end offset), or, if it is missing or damaged, the batch
    /// headers' epochs. Written back when that changed anything.
    pub(crate) fn load_epoch_cache(&mut self) -> Result<(), LogError> {
        let path = self.epoch_cache_path();
        let from_file = if self.fs.exists(&path).map_err(|e| LogError::io(&path, e))? {
            let bytes = self
                .fs
                .read_file(&path)
                .map_err(|e| LogError::io(&path, e))?;
            match LeaderEpochCache::parse(&bytes, &path) {
                Ok(cache) => Some(cache),
                Err(error) => {
                    tracing::warn!(file = %path.display(), %error, "rebuilding a damaged leader epoch checkpoint from the batches' leader epochs");
                    None
                }
            }
        } else {
            None
        };
        let (mut cache, mut dirty) = match from_file {
            Some(cache) => (cache, false),
            None => (self.epochs_from_batches()?, true),
        };
        dirty |= cache.truncate_from_end(self.log_end_offset);
        dirty |= cache.truncate_from_start(self.log_start_offset);
        // An empty log needs no file: rebuilding nothing is free.
        let needs_file = !cache.entries().is_empty() || self.log_end_offset > self.log_start_offset;
        if dirty && needs_file {
            self.write_epoch_cache(&cache)?;
        }
        self.epoch_cache = cache;
        Ok(())
    }

    /// The epochs the batch headers carry: an entry at the base offset of every batch
    /// whose `partitionLeaderEpoch` is newer than the ones before (-1 skipped).
    fn epochs_from_batches(&self) -> Result<LeaderEpochCache, LogError> {
        let mut cache = LeaderEpochCache::default();
        for segment in &self.segments {
            segment.for_each_batch_header(|header| {
                cache.assign(header.partition_leader_epoch(), header.base_offset());
            })?;
        }
        Ok(cache)
    }

    /// Adds the entry a leader append in `epoch` at `base_offset` needs, durably, before
    /// the batches are written.
    pub(crate) fn note_leader_epoch(
        &mut self,
        epoch: i32,
        base_offset: i64,
    ) -> Result<(), LogError> {
        if self.epoch_cache.latest_epoch().is_some_and(|l| l >= epoch) {
            return Ok(());
        }
        self.assign_epoch_start(epoch, base_offset)
    }

    // ----- follower appends -----

    /// Appends batches exactly as the partition leader sent them (see the module docs).
    /// Empty `records` appends nothing (record count 0).
    pub fn append_as_follower(&mut self, records: Bytes) -> Result<AppendInfo, AppendError> {
        self.append_as_follower_at(records, wall_clock_ms())
    }

    /// [`Log::append_as_follower`] with the clock given (roll times, for tests).
    pub fn append_as_follower_at(
        &mut self,
        records: Bytes,
        now_ms: i64,
    ) -> Result<AppendInfo, AppendError> {
        self.check_online()?;
        // 1. Check every batch before writing anything.
        let mut batches: Vec<(RecordBatch, BatchHeader)> = Vec::new();
        let mut expected = self.log_end_offset;
        for batch in RecordBatch::iter(records) {
            let batch = batch?;
            validate_stored_batch(batch.as_bytes())?;
            let header = batch.header();
            if header.base_offset() < expected {
                return Err(AppendError::UnexpectedAppendOffset {
                    expected,
                    found: header.base_offset(),
                });
            }
            expected = header.last_offset().saturating_add(1);
            batches.push((batch, header));
        }
        let (Some((_, first)), Some((_, last))) = (batches.first(), batches.last()) else {
            return Ok(AppendInfo {
                base_offset: self.log_end_offset,
                last_offset: self.log_end_offset - 1,
                log_append_time_ms: -1,
                log_start_offset: self.log_start_offset,
                record_count: 0,
                max_timestamp: -1,
                duplicate: false,
            });
        };
        let (base_offset, last_offset) = (first.base_offset(), last.last_offset());
        // 2. New epochs first: a crash that loses the batches leaves entries past the log
        //    end, which the next open removes; the other order could lose an entry.
        let mut cache = self.epoch_cache.clone();
        let mut new_epochs = false;
        for (_, header) in &batches {
            new_epochs |= cache.assign(header.partition_leader_epoch(), header.base_offset());
        }
        if new_epochs {
            self.write_epoch_cache(&cache).map_err(|e| self.fail(e))?;
            self.epoch_cache = cache;
        }
        // 3. Write in runs that fit the active segment, rolling between them.
        let mut record_count = 0u64;
        let mut max_timestamp = -1i64;
        let mut i = 0;
        while i < batches.len() {
            let run = self.next_follower_run(&batches[i..], now_ms)?;
            let mut slices = Vec::with_capacity(run);
            let mut appended = Vec::with_capacity(run);
            for (batch, header) in &batches[i..i + run] {
                slices.push(IoSlice::new(batch.as_bytes()));
                appended.push(AppendedBatch {
                    last_offset: header.last_offset(),
                    max_timestamp: header.max_timestamp(),
                    size: batch.as_bytes().len() as u64,
                });
            }
            let result = self
                .segments
                .last_mut()
                .expect("a log always has an active segment")
                .append(&slices, &appended, now_ms);
            drop(slices);
            if let Err(e) = result {
                self.epoch_cache.truncate_from_end(self.log_end_offset);
                return Err(self.fail(e).into());
            }
            for (batch, header) in &batches[i..i + run] {
                self.log_end_offset = header.last_offset().saturating_add(1);
                record_count += header.records_count().max(0) as u64;
                max_timestamp = max_timestamp.max(header.max_timestamp());
                if header.is_control() {
                    // The leader checked the marker; a follower takes it as written
                    // (Kafka's replication origin does not fence coordinators).
                    let marker = strom_records::EndTransactionMarker::of_batch(batch)
                        .ok()
                        .flatten();
                    if let (Some(marker), true) = (marker, header.producer_id() >= 0) {
                        let marker = MarkerBatch {
                            producer_id: header.producer_id(),
                            epoch: header.producer_epoch(),
                            coordinator_epoch: marker.coordinator_epoch,
                            commit: marker.commit,
                            epoch_bumped: false,
                        };
                        self.complete_txn(&marker, header.base_offset(), header.max_timestamp())?;
                    }
                } else if let Some(producer) = ProducerBatch::of(header) {
                    self.producer_state.update(
                        &producer,
                        header.base_offset(),
                        header.last_offset(),
                        header.max_timestamp(),
                    );
                }
            }
            i += run;
        }
        Ok(AppendInfo {
            base_offset,
            last_offset,
            log_append_time_ms: -1,
            log_start_offset: self.log_start_offset,
            record_count,
            max_timestamp,
            duplicate: false,
        })
    }

    /// Makes the active segment ready for `batches[0]` (rolling, or re-basing an empty
    /// segment its offsets cannot be indexed in), and returns how many of `batches` go to
    /// it in one write: at least one, even a batch larger than `segment.bytes` (the leader
    /// accepted it), then as many as keep the segment within `segment.bytes` and its
    /// offsets within 4-byte relative offsets.
    fn next_follower_run(
        &mut self,
        batches: &[(RecordBatch, BatchHeader)],
        now_ms: i64,
    ) -> Result<usize, LogError> {
        let (first, header) = &batches[0];
        let first_size = first.as_bytes().len() as u64;
        if self.active().should_roll(
            &self.config,
            first_size,
            header.max_timestamp(),
            header.last_offset(),
            now_ms,
        ) {
            self.roll(now_ms).map_err(|e| self.fail(e))?;
        }
        let fits =
            |segment_base: i64, last_offset: i64| last_offset - segment_base <= i64::from(i32::MAX);
        if self.active().size() == 0 && !fits(self.active().base_offset(), header.last_offset()) {
            self.rebase_empty_active_segment(header.base_offset(), now_ms)
                .map_err(|e| self.fail(e))?;
        }
        let segment_bytes = self.config.effective_segment_bytes();
        let base = self.active().base_offset();
        let mut size = self.active().size() + first_size;
        let mut run = 1;
        for (batch, header) in &batches[1..] {
            let next = size + batch.as_bytes().len() as u64;
            if next > segment_bytes || !fits(base, header.last_offset()) {
                break;
            }
            size = next;
            run += 1;
        }
        Ok(run)
    }

    /// Replaces the empty active segment by one based at `base_offset` (a follower whose
    /// next batch starts more than 2^31 offsets past it, after a compacted gap).
    fn rebase_empty_active_segment(
        &mut self,
        base_offset: i64,
        now_ms: i64,
    ) -> Result<(), LogError> {
        let old = self
            .segments
            .pop()
            .expect("a log always has an active segment");
        self.remove_segment_files(std::slice::from_ref(&old))?;
        let segment = LogSegment::create(
            self.fs.as_ref(),
            &self.dir,
            base_offset,
            &self.config,
            now_ms,
            self.roll_jitter_ms(base_offset),
        )?;
        self.fs
            .sync_dir(&self.dir)
            .map_err(|e| LogError::sync(&self.dir, e))?;
        self.segments.push(segment);
        if self.segments.len() == 1 {
            self.log_start_offset = self.log_start_offset.max(base_offset);
        }
        Ok(())
    }

    // ----- truncation -----

    /// Removes every record at or after `offset` (see the module docs for the steps and
    /// what a crash leaves), and the epoch entries starting there. Removes no record if
    /// `offset` is at or past the log end offset (only epoch entries at or after it: a
    /// leader's epoch started at the log end with nothing written). An
    /// offset below the first segment empties the log and starts it there
    /// ([`Log::truncate_fully_and_start_at`]); one below the log start offset (moved by
    /// DeleteRecords) lowers the log start offset to it, as Kafka's `truncateTo` does.
    /// Durable when it returns.
    pub fn truncate_to(&mut self, offset: i64) -> Result<(), LogError> {
        self.check_online()?;
        let offset = offset.max(0);
        if offset >= self.log_end_offset {
            // No record goes, but an epoch this replica started at its log end as leader
            // without writing in it is not part of the history it now follows: left, it
            // would hide the epoch of the next batch fetched there.
            let mut cache = self.epoch_cache.clone();
            if cache.truncate_from_end(offset) {
                self.write_epoch_cache(&cache).map_err(|e| self.fail(e))?;
                self.epoch_cache = cache;
            }
            return Ok(());
        }
        if offset < self.first_segment_base_offset() {
            return self.truncate_fully_and_start_at(offset);
        }
        let from = self.log_end_offset;
        self.truncate_segments(offset).map_err(|e| self.fail(e))?;
        tracing::info!(
            dir = %self.dir.display(),
            offset,
            from,
            log_end_offset = self.log_end_offset,
            "truncated the log"
        );
        Ok(())
    }

    fn truncate_segments(&mut self, offset: i64) -> Result<(), LogError> {
        // 0. The aborted transactions whose markers go.
        self.truncate_txn_index(offset)?;
        // 1. Snapshots above the offset describe records about to go.
        for snapshot in self.snapshot_offsets()? {
            if snapshot > offset {
                self.remove_producer_snapshot(snapshot, "a producer snapshot above a truncation")?;
            }
        }
        // 2. Whole segments above the offset, newest first.
        while self.segments.len() > 1 && self.active().base_offset() > offset {
            let segment = self.segments.pop().expect("more than one segment");
            self.remove_segment_files(std::slice::from_ref(&segment))?;
        }
        // 3. The segment holding the offset.
        let next_offset = self
            .segments
            .last_mut()
            .expect("a log always has an active segment")
            .truncate_to(offset)?;
        self.log_end_offset = next_offset;
        self.flushed_offset = self.flushed_offset.min(next_offset);
        self.cleaner_checkpoint = self.cleaner_checkpoint.min(next_offset);
        if offset < self.log_start_offset {
            self.log_start_offset = offset;
            self.write_log_start_checkpoint()?;
        }
        // 4. The epochs of the records that went.
        let mut cache = self.epoch_cache.clone();
        if cache.truncate_from_end(self.log_end_offset) {
            self.write_epoch_cache(&cache)?;
        }
        self.epoch_cache = cache;
        // 5. The producer state, as the loader builds it. Nothing expires here (the
        //    clock of `i64::MIN`): that is `remove_expired_producers`' job, on its timer.
        let snapshots = self.snapshot_offsets()?.into_iter().collect();
        self.load_producer_state(snapshots, i64::MIN)
    }

    /// Deletes every segment and starts the log empty at `offset`: log start offset, log
    /// end offset and flushed offset all become `offset` (Kafka's
    /// `truncateFullyAndStartAt`, for a follower whose fetch offset is below the leader's
    /// log start). The epoch cache and producer state are emptied. Durable when it
    /// returns; a crash midway leaves the old log, or an empty one.
    pub fn truncate_fully_and_start_at(&mut self, offset: i64) -> Result<(), LogError> {
        self.check_online()?;
        let offset = offset.max(0);
        self.truncate_fully(offset).map_err(|e| self.fail(e))?;
        tracing::info!(dir = %self.dir.display(), offset, "emptied the log and started it at a new offset");
        Ok(())
    }

    fn truncate_fully(&mut self, offset: i64) -> Result<(), LogError> {
        for snapshot in self.snapshot_offsets()? {
            self.remove_producer_snapshot(snapshot, "a producer snapshot of an emptied log")?;
        }
        while let Some(segment) = self.segments.pop() {
            self.remove_segment_files(std::slice::from_ref(&segment))?;
        }
        let segment = LogSegment::create(
            self.fs.as_ref(),
            &self.dir,
            offset,
            &self.config,
            self.last_flush_ms,
            self.roll_jitter_ms(offset),
        )?;
        self.fs
            .sync_dir(&self.dir)
            .map_err(|e| LogError::sync(&self.dir, e))?;
        self.segments.push(segment);
        self.log_start_offset = offset;
        self.log_end_offset = offset;
        self.flushed_offset = offset;
        self.cleaner_checkpoint = offset;
        self.write_log_start_checkpoint()?;
        let mut cache = self.epoch_cache.clone();
        if cache.clear() {
            self.write_epoch_cache(&cache)?;
        }
        self.epoch_cache = cache;
        self.producer_state = ProducerStateManager::default();
        self.aborted_txns.clear();
        self.txn_index_unsynced = false;
        Ok(())
    }

    /// Writes this log's entry of the log start offset checkpoint: present only when the
    /// log start offset is past the first segment's base offset.
    fn write_log_start_checkpoint(&self) -> Result<(), LogError> {
        if let (Some(checkpoint), Some(tp)) = (&self.checkpoint, self.topic_partition()) {
            let start = self.log_start_offset;
            let entry = (start > self.first_segment_base_offset()).then_some(start);
            checkpoint.update(&[(tp, entry)])?;
        }
        Ok(())
    }

    /// Offsets of the producer snapshot files in the partition directory.
    fn snapshot_offsets(&self) -> Result<Vec<i64>, LogError> {
        let entries = self
            .fs
            .read_dir(&self.dir)
            .map_err(|e| LogError::io(&self.dir, e))?;
        let offsets: BTreeSet<i64> = entries
            .iter()
            .filter(|e| !e.is_dir)
            .filter_map(|e| match parse_segment_file_name(&e.name) {
                Some((offset, FileKind::ProducerSnapshot, Leftover::None)) => Some(offset),
                _ => None,
            })
            .collect();
        Ok(offsets.into_iter().collect())
    }

    // ----- the high watermark checkpoint -----

    /// Records `high_watermark` as this log's entry for the next write of the log
    /// directory's `replication-offset-checkpoint`
    /// ([`crate::LogManager::write_high_watermark_checkpoints`]). Nothing for a log opened
    /// alone.
    pub fn checkpoint_high_watermark(&self, high_watermark: i64) {
        if let (Some(file), Some(tp)) = (&self.high_watermarks, self.topic_partition()) {
            file.stage(tp, Some(high_watermark));
        }
    }

    /// The high watermark the directory's `replication-offset-checkpoint` held for this
    /// log when it opened, clamped to [log start offset, log end offset]; `None` without
    /// an entry (or for a log opened alone).
    pub fn checkpointed_high_watermark(&self) -> Option<i64> {
        self.checkpointed_high_watermark
            .map(|hw| hw.clamp(self.log_start_offset, self.log_end_offset))
    }

    /// Reads this log's entry of the high watermark checkpoint (at open).
    pub(crate) fn load_checkpointed_high_watermark(&mut self) {
        self.checkpointed_high_watermark = match (&self.high_watermarks, self.topic_partition()) {
            (Some(file), Some(tp)) => file.get(&tp),
            _ => None,
        };
    }
}
