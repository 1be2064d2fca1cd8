//! [`Log`]: one partition's log, a list of segments of which the last is active.
//!
//! Appends go to the active segment only and touch nothing else, so they cost the same at
//! any log size. Every batch of a request is validated before the first byte is written,
//! so a refused request leaves no trace. The body of each batch goes from the request
//! buffer to the file untouched; only a 61-byte header copy is patched (offsets, and the
//! timestamp fields for LogAppendTime).
//!
//! Batches of idempotent producers are checked against the producer state before the
//! write: a fenced epoch or a gap in the sequence refuses the append, and a retried batch
//! writes nothing and is answered with the offsets it got the first time.

use std::hash::{Hash, Hasher};
use std::io::IoSlice;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use strom_records::layout::RECORD_BATCH_OVERHEAD;
use strom_records::{
    BatchHeader, EndTransactionMarker, InvalidRecord, RecordBatch, RecordProblem, RecordsError,
    TimestampRule, TimestampType,
};

use crate::config::LogConfig;
use crate::error::{AppendError, LogError};
use crate::flush::PendingFlush;
use crate::fs::FileSystem;
use crate::health::{health_after, DirHealth, LogHealth};
use crate::leader_epoch_cache::LeaderEpochCache;
use crate::offset_checkpoint::OffsetCheckpointFile;
use crate::producer_state::{
    MarkerBatch, ProducerBatch, ProducerDescription, ProducerStateManager, SequenceCheck,
};
use crate::segment::{AppendedBatch, LogSegment};
use crate::topic_partition::TopicPartition;
use crate::txn_index::AbortedTxn;

/// What an append did, for the produce response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendInfo {
    /// Offset assigned to the first record.
    pub base_offset: i64,
    /// Offset of the last record.
    pub last_offset: i64,
    /// The LogAppendTime stamped on the batches, -1 for CreateTime topics.
    pub log_append_time_ms: i64,
    /// First offset of the log after the append.
    pub log_start_offset: i64,
    /// Records appended.
    pub record_count: u64,
    /// Largest timestamp of the appended batches.
    pub max_timestamp: i64,
    /// The append was a retry of an idempotent producer's batch still in the log: nothing
    /// was written, and the offsets (and timestamp) are those of the original batch.
    pub duplicate: bool,
}

/// One partition's log. Reads take `&self` and may run concurrently; appends take
/// `&mut self`.
#[derive(Debug)]
pub struct Log {
    pub(crate) fs: Arc<dyn FileSystem>,
    pub(crate) dir: PathBuf,
    pub(crate) config: LogConfig,
    /// Sorted by base offset; never empty; the last is active.
    pub(crate) segments: Vec<LogSegment>,
    pub(crate) log_start_offset: i64,
    pub(crate) log_end_offset: i64,
    /// Every offset below this is durable (Kafka's recovery point).
    pub(crate) flushed_offset: i64,
    pub(crate) last_flush_ms: i64,
    /// Set by the first storage error: what the log can still do (see `health`).
    pub(crate) health: LogHealth,
    /// Shared by the logs of one log directory; `None` for a log opened alone.
    pub(crate) dir_health: Option<Arc<DirHealth>>,
    /// Idempotent producers' epochs and newest batches.
    pub(crate) producer_state: ProducerStateManager,
    /// The log directory's `log-start-offset-checkpoint`, shared with the other logs of
    /// the directory; `None` for a log opened alone, without a [`crate::LogManager`].
    pub(crate) checkpoint: Option<Arc<OffsetCheckpointFile>>,
    /// The log directory's `cleaner-offset-checkpoint`, shared like `checkpoint`; `None`
    /// for a log opened alone.
    pub(crate) cleaner_offsets: Option<Arc<OffsetCheckpointFile>>,
    /// Where the last compaction ended: the first dirty offset (read at open from
    /// `cleaner_offsets`, written there after every clean; see `cleaner`).
    pub(crate) cleaner_checkpoint: i64,
    /// Where each leader epoch starts (`leader-epoch-checkpoint`, see `leader_epoch_cache`).
    pub(crate) epoch_cache: LeaderEpochCache,
    /// The log directory's `replication-offset-checkpoint`, shared like `checkpoint`;
    /// `None` for a log opened alone.
    pub(crate) high_watermarks: Option<Arc<OffsetCheckpointFile>>,
    /// This log's entry in `high_watermarks` when it opened.
    pub(crate) checkpointed_high_watermark: Option<i64>,
    /// Aborted transactions by marker offset, as in the segments' `.txnindex` files.
    pub(crate) aborted_txns: Vec<AbortedTxn>,
    /// The active segment's `.txnindex` had an entry appended since its last fsync.
    pub(crate) txn_index_unsynced: bool,
}

impl Log {
    /// The partition directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The topic partition, parsed from the directory name.
    pub fn topic_partition(&self) -> Option<TopicPartition> {
        TopicPartition::from_dir_name(&self.dir.file_name()?.to_string_lossy())
    }

    /// Current settings.
    pub fn config(&self) -> &LogConfig {
        &self.config
    }

    /// Applies changed topic settings; they take effect from the next append or roll.
    pub fn update_config(&mut self, config: LogConfig) {
        self.config = config;
    }

    /// First offset in the log.
    pub fn log_start_offset(&self) -> i64 {
        self.log_start_offset
    }

    /// Offset the next appended record gets.
    pub fn log_end_offset(&self) -> i64 {
        self.log_end_offset
    }

    /// Every offset below this is on disk durably.
    pub fn flushed_offset(&self) -> i64 {
        self.flushed_offset
    }

    /// Bytes in all segments.
    pub fn size_bytes(&self) -> u64 {
        self.segments.iter().map(LogSegment::size).sum()
    }

    /// Number of segments, the active one included.
    pub fn segment_count(&self) -> usize {
        self.segments.len()
    }

    /// Base offsets of the segments, oldest first.
    pub fn segment_base_offsets(&self) -> Vec<i64> {
        self.segments.iter().map(LogSegment::base_offset).collect()
    }

    /// How many producer ids the producer state remembers.
    pub fn producer_count(&self) -> usize {
        self.producer_state.producer_count()
    }

    /// Forgets producers whose newest batch is `producer.id.expiration.ms` old (Kafka's
    /// `removeExpiredProducers`); returns how many. Call it for every log every
    /// `producer.id.expiration.check.interval.ms`.
    pub fn remove_expired_producers(&mut self, now_ms: i64) -> usize {
        let removed = self
            .producer_state
            .remove_expired(now_ms, self.config.producer_id_expiration_ms);
        if removed > 0 {
            tracing::debug!(
                dir = %self.dir.display(),
                removed,
                remaining = self.producer_state.producer_count(),
                expiration_ms = self.config.producer_id_expiration_ms,
                "expired producer ids"
            );
        }
        removed
    }

    /// Whether a storage error stopped the log taking writes (it may still serve reads:
    /// see [`Log::health`]).
    pub fn is_offline(&self) -> bool {
        self.health().refuses_writes()
    }

    /// What the log can still do after storage errors, its own or its directory's.
    pub fn health(&self) -> LogHealth {
        if let Some(reason) = self.dir_health.as_ref().and_then(|d| d.failure()) {
            return LogHealth::Offline(reason.to_owned());
        }
        self.health.clone()
    }

    /// The health shared by the logs of this log's directory (`None` for a log opened
    /// alone).
    pub fn dir_health(&self) -> Option<&Arc<DirHealth>> {
        self.dir_health.as_ref()
    }

    /// Ok if the log takes writes.
    pub(crate) fn check_online(&self) -> Result<(), LogError> {
        match self.health() {
            LogHealth::Online => Ok(()),
            LogHealth::ReadOnly(reason) | LogHealth::Offline(reason) => Err(LogError::Offline {
                dir: self.dir.clone(),
                reason,
            }),
        }
    }

    /// Ok if the log serves reads: a log that ran out of space still does.
    pub(crate) fn check_readable(&self) -> Result<(), LogError> {
        match self.health() {
            LogHealth::Offline(reason) => Err(LogError::Offline {
                dir: self.dir.clone(),
                reason,
            }),
            _ => Ok(()),
        }
    }

    /// Records a read's storage error: an I/O error (EIO, say) takes the log directory
    /// offline, as Kafka does; a short read (a file damaged under the log) or an earlier
    /// failure is passed on as it is. Reads hold `&self`, so only the directory (shared,
    /// interior) records it; a log opened alone just returns the error.
    pub(crate) fn fail_read(&self, error: LogError) -> LogError {
        if let LogError::Io { source, .. } = &error {
            if source.kind() != std::io::ErrorKind::UnexpectedEof {
                if let Some(dir) = &self.dir_health {
                    if !dir.is_failed() {
                        tracing::error!(dir = %self.dir.display(), %error, "read error: the log directory goes offline until the disk is fixed and the broker restarts");
                    }
                    dir.fail(error.to_string());
                }
            }
        }
        error
    }

    /// Records a storage error: a full disk makes the log read-only, anything else takes
    /// the whole log directory offline (see `health`).
    pub(crate) fn fail(&mut self, error: LogError) -> LogError {
        let health = health_after(&error);
        match &health {
            LogHealth::ReadOnly(_) => {
                tracing::error!(dir = %self.dir.display(), %error, "the disk is full: the log refuses writes until the broker restarts with free space; reads continue")
            }
            _ => {
                tracing::error!(dir = %self.dir.display(), %error, "storage error: the log directory goes offline until the disk is fixed and the broker restarts");
                if let Some(dir) = &self.dir_health {
                    dir.fail(error.to_string());
                }
            }
        }
        if self.health == LogHealth::Online
            || matches!(
                (&self.health, &health),
                (LogHealth::ReadOnly(_), LogHealth::Offline(_))
            )
        {
            self.health = health;
        }
        error
    }

    pub(crate) fn active(&self) -> &LogSegment {
        self.segments
            .last()
            .expect("a log always has an active segment")
    }

    fn active_mut(&mut self) -> &mut LogSegment {
        self.segments
            .last_mut()
            .expect("a log always has an active segment")
    }

    /// Appends the batches in `records` (one or more, as a produce request carries them),
    /// keeping the producer's `partitionLeaderEpoch`.
    pub fn append(&mut self, records: Bytes, now_ms: i64) -> Result<AppendInfo, AppendError> {
        self.append_batches(records, None, None, now_ms)
    }

    /// Appends as the partition leader: also stamps `partitionLeaderEpoch` on every batch.
    pub fn append_as_leader(
        &mut self,
        records: Bytes,
        leader_epoch: i32,
        now_ms: i64,
    ) -> Result<AppendInfo, AppendError> {
        self.append_batches(records, Some(leader_epoch), None, now_ms)
    }

    /// Appends, as the partition leader, the marker that ends producer `producer_id`'s
    /// transaction (Kafka's `appendAsLeader` of an `EndTransactionMarker` with the
    /// coordinator origin): one control batch, after the epoch and coordinator epoch
    /// checks of `producer_state`. `epoch_bumped`: transaction version 2, whose markers
    /// carry the producer's next epoch. An abort is recorded in the `.txnindex`.
    #[allow(clippy::too_many_arguments)]
    pub fn append_txn_marker(
        &mut self,
        producer_id: i64,
        producer_epoch: i16,
        coordinator_epoch: i32,
        commit: bool,
        epoch_bumped: bool,
        leader_epoch: i32,
        now_ms: i64,
    ) -> Result<AppendInfo, AppendError> {
        let marker = MarkerBatch {
            producer_id,
            epoch: producer_epoch,
            coordinator_epoch,
            commit,
            epoch_bumped,
        };
        let batch = EndTransactionMarker {
            commit,
            coordinator_epoch,
        }
        .batch(producer_id, producer_epoch, leader_epoch, now_ms);
        self.append_batches(batch, Some(leader_epoch), Some(marker), now_ms)
    }

    /// First offset of the oldest ongoing transaction, if any (Kafka's
    /// `firstUnstableOffset`): the last stable offset is the smaller of it and the
    /// high watermark.
    ///
    /// Never below the log start offset (Kafka's `updateFirstUnstableOffset`): a
    /// transaction whose first records retention or DeleteRecords removed is unstable
    /// from the log start on.
    pub fn first_unstable_offset(&self) -> Option<i64> {
        self.producer_state
            .first_unstable_offset()
            .map(|offset| offset.max(self.log_start_offset))
    }

    /// The producer's current epoch in this log, if it is remembered.
    pub fn producer_epoch(&self, producer_id: i64) -> Option<i16> {
        self.producer_state.producer_epoch(producer_id)
    }

    /// Whether the producer's transaction is ongoing in this log at `epoch`.
    pub fn has_ongoing_transaction(&self, producer_id: i64, epoch: i16) -> bool {
        self.producer_state
            .has_ongoing_transaction(producer_id, epoch)
    }

    /// Every producer the partition remembers, for DescribeProducers.
    pub fn producers(&self) -> Vec<ProducerDescription> {
        self.producer_state.producers()
    }

    /// Kafka's per-record answer (KIP-467) for a batch the topic refuses: every refused
    /// record by index. `first` is the fast check's verdict, used alone if the walk finds
    /// nothing (a compressed batch whose header timestamps disagree with its records).
    fn record_validation(
        &self,
        batch: &RecordBatch,
        timestamps: &TimestampRule,
        first: Option<RecordsError>,
    ) -> AppendError {
        let mut invalid = match batch.invalid_records(self.config.compact, Some(timestamps)) {
            Ok(invalid) => invalid,
            Err(e) => return e.into(),
        };
        if invalid.is_empty() {
            match first {
                Some(RecordsError::TimestampOutOfRange {
                    index,
                    offset,
                    timestamp,
                    low,
                    high,
                }) => invalid.push(InvalidRecord {
                    index,
                    offset,
                    timestamp,
                    key_bytes: 0,
                    value_bytes: 0,
                    problem: RecordProblem::TimestampOutOfRange { low, high },
                }),
                Some(e) => return e.into(),
                // The same walk found records just before; unreachable in practice.
                None => return AppendError::EmptyRecords,
            }
        }
        let topic_partition = self
            .dir
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default();
        AppendError::RecordValidation(crate::RecordValidation::new(&topic_partition, &invalid))
    }

    fn append_batches(
        &mut self,
        records: Bytes,
        leader_epoch: Option<i32>,
        marker: Option<MarkerBatch>,
        now_ms: i64,
    ) -> Result<AppendInfo, AppendError> {
        self.check_online()?;
        // 1. Validate everything before writing anything.
        let max_message_bytes = self.config.max_message_bytes as usize;
        let timestamps = TimestampRule {
            timestamp_type: self.config.message_timestamp_type,
            now_ms,
            before_max_ms: self.config.message_timestamp_before_max_ms,
            after_max_ms: self.config.message_timestamp_after_max_ms,
        };
        let mut batches = Vec::new();
        let mut total_size = 0u64;
        for batch in RecordBatch::iter(records) {
            let batch = batch?;
            let summary = match batch.validate_with(max_message_bytes, Some(&timestamps)) {
                Ok(summary) => summary,
                Err(
                    e @ (RecordsError::TimestampOutOfRange { .. }
                    | RecordsError::LogAppendTimeFromProducer { .. }),
                ) => return Err(self.record_validation(&batch, &timestamps, Some(e))),
                Err(e) => return Err(e.into()),
            };
            if self.config.compact && !batch.header().is_control() {
                // Only compacted topics pay for walking (and decompressing) records on
                // produce; the walk also sees every timestamp of a compressed batch.
                if !batch.invalid_records(true, Some(&timestamps))?.is_empty() {
                    return Err(self.record_validation(&batch, &timestamps, None));
                }
            }
            // A topic's compression.type other than `producer`: stored in its codec, as
            // Kafka's LogValidator recompresses (the only produce path that compresses).
            let (batch, summary) = match self.config.compression {
                Some(codec) if !batch.header().is_control() && batch.compression()? != codec => {
                    let stored = RecordBatch::new(batch.recompressed(codec)?)?;
                    let summary = stored.validate_with(max_message_bytes, Some(&timestamps))?;
                    (stored, summary)
                }
                _ => (batch, summary),
            };
            total_size += summary.size_in_bytes as u64;
            let producer = ProducerBatch::of(&batch.header());
            batches.push((batch, summary, producer));
        }
        if batches.is_empty() {
            return Err(AppendError::EmptyRecords);
        }
        match &marker {
            Some(marker) => self.producer_state.check_marker(marker, true)?,
            None => {
                if let Some(duplicate) = self.check_producers(&batches)? {
                    return Ok(duplicate);
                }
            }
        }
        let segment_bytes = self.config.effective_segment_bytes();
        if total_size > segment_bytes {
            return Err(AppendError::RecordListTooLarge {
                size: total_size,
                segment_bytes,
            });
        }
        // 2. Assign offsets and patch header copies.
        let base_offset = self.log_end_offset;
        let log_append_time = self.config.message_timestamp_type == TimestampType::LogAppendTime;
        let mut next_offset = base_offset;
        let mut headers: Vec<BatchHeader> = Vec::with_capacity(batches.len());
        let mut appended = Vec::with_capacity(batches.len());
        let mut record_count = 0u64;
        let mut max_timestamp = -1i64;
        for (batch, summary, _) in &batches {
            let body = &batch.as_bytes()[RECORD_BATCH_OVERHEAD..];
            let mut header = batch.header();
            header.set_base_offset(next_offset);
            if let Some(epoch) = leader_epoch {
                header.set_partition_leader_epoch(epoch);
            }
            if log_append_time {
                header.set_max_timestamp(TimestampType::LogAppendTime, now_ms, body);
            } else {
                // Kafka keeps CreateTime topics honest: the batch's maxTimestamp is the
                // largest record timestamp, and the type bit is CreateTime.
                let records_max = summary
                    .records_max_timestamp
                    .unwrap_or(summary.max_timestamp);
                if summary.timestamp_type != TimestampType::CreateTime
                    || records_max != summary.max_timestamp
                {
                    header.set_max_timestamp(TimestampType::CreateTime, records_max, body);
                }
            }
            let last_offset = next_offset + i64::from(summary.last_offset_delta);
            appended.push(AppendedBatch {
                last_offset,
                max_timestamp: header.max_timestamp(),
                size: summary.size_in_bytes as u64,
            });
            max_timestamp = max_timestamp.max(header.max_timestamp());
            record_count += summary.records_count as u64;
            next_offset = last_offset + 1;
            headers.push(header);
        }
        let last_offset = next_offset - 1;
        if last_offset - base_offset > i64::from(i32::MAX) {
            return Err(AppendError::RecordListTooLarge {
                size: total_size,
                segment_bytes,
            });
        }
        // A leader's first append in a new epoch starts the epoch, durably, before the
        // batches are written (a crash that loses them leaves an entry the next open drops).
        if let Some(epoch) = leader_epoch {
            self.note_leader_epoch(epoch, base_offset)?;
        }
        // 3. Roll if needed, then write header copies and untouched bodies in one call.
        if self
            .active()
            .should_roll(&self.config, total_size, max_timestamp, last_offset, now_ms)
        {
            self.roll(now_ms).map_err(|e| self.fail(e))?;
        }
        let mut slices = Vec::with_capacity(batches.len() * 2);
        for ((batch, _, _), header) in batches.iter().zip(&headers) {
            slices.push(IoSlice::new(header.as_bytes()));
            slices.push(IoSlice::new(&batch.as_bytes()[RECORD_BATCH_OVERHEAD..]));
        }
        let result = self
            .segments
            .last_mut()
            .expect("a log always has an active segment")
            .append(&slices, &appended, now_ms);
        drop(slices);
        result.map_err(|e| self.fail(e))?;
        self.log_end_offset = next_offset;
        if let Some(marker) = &marker {
            self.complete_txn(marker, base_offset, now_ms)?;
        }
        for ((_, _, producer), header) in batches.iter().zip(&headers) {
            if let (Some(producer), None) = (producer, &marker) {
                self.producer_state.update(
                    producer,
                    header.base_offset(),
                    header.last_offset(),
                    header.max_timestamp(),
                );
            }
        }
        Ok(AppendInfo {
            base_offset,
            last_offset,
            log_append_time_ms: if log_append_time { now_ms } else { -1 },
            log_start_offset: self.log_start_offset,
            record_count,
            max_timestamp,
            duplicate: false,
        })
    }

    /// Ends the producer's transaction at the marker written at `offset`; an abort goes
    /// into the transaction index. A failure to write the index takes the directory
    /// offline (the marker is in the log; recovery would add it again).
    pub(crate) fn complete_txn(
        &mut self,
        marker: &MarkerBatch,
        offset: i64,
        timestamp: i64,
    ) -> Result<(), AppendError> {
        if let Some((txn, last_stable_offset)) = self
            .producer_state
            .complete_txn_with_lso(marker, offset, timestamp)
        {
            self.record_completed_txn(&txn, last_stable_offset)
                .map_err(|e| self.fail(e))?;
        }
        Ok(())
    }

    /// Checks the producer fields of every batch (Kafka's
    /// `analyzeAndValidateProducerState`). Returns the answer for a retried batch, which
    /// is not written again: Kafka answers success with the original offsets.
    fn check_producers(
        &self,
        batches: &[(
            RecordBatch,
            strom_records::BatchSummary,
            Option<ProducerBatch>,
        )],
    ) -> Result<Option<AppendInfo>, AppendError> {
        for (i, (batch, _, producer)) in batches.iter().enumerate() {
            if batch.header().is_control() {
                return Err(AppendError::ControlBatchFromClient);
            }
            let Some(producer) = producer else { continue };
            let earlier = batches[..i]
                .iter()
                .rev()
                .filter_map(|(_, _, p)| p.as_ref())
                .find(|p| p.producer_id == producer.producer_id)
                .map(|p| (p.epoch, p.last_seq));
            if let SequenceCheck::Duplicate(original) =
                self.producer_state.check(producer, earlier)?
            {
                let log_append_time =
                    self.config.message_timestamp_type == TimestampType::LogAppendTime;
                tracing::debug!(
                    dir = %self.dir.display(),
                    producer_id = producer.producer_id,
                    epoch = producer.epoch,
                    first_sequence = producer.first_seq,
                    base_offset = original.first_offset,
                    "duplicate batch of an idempotent producer; answering with its original offsets"
                );
                return Ok(Some(AppendInfo {
                    base_offset: original.first_offset,
                    last_offset: original.last_offset,
                    log_append_time_ms: if log_append_time {
                        original.timestamp
                    } else {
                        -1
                    },
                    log_start_offset: self.log_start_offset,
                    record_count: 0,
                    max_timestamp: original.timestamp,
                    duplicate: true,
                }));
            }
        }
        Ok(None)
    }

    /// Closes the active segment (final time index entry, fsync of log and indexes) and
    /// starts a new one at the log end offset. Does nothing if the active segment is empty.
    pub fn roll(&mut self, now_ms: i64) -> Result<(), LogError> {
        self.check_online()?;
        if self.active().size() == 0 {
            return Ok(());
        }
        self.active_mut().on_become_inactive()?;
        self.sync_txn_index()?;
        // Everything before the new segment is durable now.
        self.flushed_offset = self.flushed_offset.max(self.log_end_offset);
        let base_offset = self.log_end_offset;
        let jitter = self.roll_jitter_ms(base_offset);
        let segment = LogSegment::create(
            self.fs.as_ref(),
            &self.dir,
            base_offset,
            &self.config,
            now_ms,
            jitter,
        )?;
        self.fs
            .sync_dir(&self.dir)
            .map_err(|e| LogError::sync(&self.dir, e))?;
        tracing::debug!(dir = %self.dir.display(), base_offset, "rolled to a new segment");
        self.segments.push(segment);
        // The state at the new segment's base offset: after a restart, only the segments
        // from the newest snapshot on are replayed.
        self.take_producer_snapshot()
    }

    /// A stable per-segment share of `segment.jitter.ms`, so restarts roll at the same
    /// time and tests are deterministic.
    pub(crate) fn roll_jitter_ms(&self, base_offset: i64) -> i64 {
        let bound = self.config.segment_jitter_ms.min(self.config.segment_ms);
        if bound <= 0 {
            return 0;
        }
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        self.dir.hash(&mut hasher);
        base_offset.hash(&mut hasher);
        (hasher.finish() % bound as u64) as i64
    }

    /// Fsyncs if `flush.messages` or `flush.ms` say so.
    pub fn maybe_flush(&mut self, now_ms: i64) -> Result<(), LogError> {
        if self.flush_due(now_ms) {
            self.note_flush_started(now_ms);
            self.flush()?;
        }
        Ok(())
    }

    /// Whether `flush.messages` or `flush.ms` ask for an fsync now.
    pub fn flush_due(&self, now_ms: i64) -> bool {
        let unflushed = (self.log_end_offset - self.flushed_offset).max(0) as u64;
        if unflushed == 0 {
            return false;
        }
        let by_count = self.config.flush_messages.is_some_and(|n| unflushed >= n);
        let by_time = self.config.flush_ms.is_some_and(|ms| {
            now_ms.saturating_sub(self.last_flush_ms) >= i64::try_from(ms).unwrap_or(i64::MAX)
        });
        by_count || by_time
    }

    /// Starts the `flush.ms` interval anew (a flush is on its way).
    pub fn note_flush_started(&mut self, now_ms: i64) {
        self.last_flush_ms = now_ms;
    }

    /// Fsyncs everything appended so far.
    pub fn flush(&mut self) -> Result<(), LogError> {
        let pending = self.prepare_flush()?;
        let result = pending.sync();
        self.complete_flush(result)
    }

    /// Captures what a flush must sync, without syncing. The returned value can be synced
    /// with no borrow of the log (group commit: sync outside the partition lock, then
    /// [`Log::complete_flush`]). Empty, and free to sync, when nothing is unflushed.
    ///
    /// Refused once the log is offline: after a failed fsync no later one may vouch for
    /// the pages written before it. A read-only log (full disk) still syncs what it holds.
    pub fn prepare_flush(&self) -> Result<PendingFlush, LogError> {
        self.check_readable()?;
        if self.log_end_offset <= self.flushed_offset {
            return Ok(PendingFlush::nothing(self.flushed_offset));
        }
        // Segments before the active one were fsynced when they rolled. Indexes of the
        // active segment are rebuilt by recovery, so only its data needs syncing.
        let active = self.active();
        Ok(PendingFlush::new(
            self.log_end_offset,
            vec![(
                active.log_path().to_path_buf(),
                Arc::clone(active.log_file()),
            )],
        ))
    }

    /// Records the outcome of syncing a [`PendingFlush`]: on success every offset below
    /// the returned offset is durable; a failure takes the log directory offline, and
    /// the flushed offset never moves again.
    pub fn complete_flush(&mut self, result: Result<i64, LogError>) -> Result<(), LogError> {
        let offset = result.map_err(|e| self.fail(e))?;
        // A failure reported by another log of the directory while this sync ran may
        // have covered these pages too: trust nothing once the directory failed.
        self.check_readable()?;
        self.flushed_offset = self.flushed_offset.max(offset.min(self.log_end_offset));
        Ok(())
    }

    /// Flushes and closes: records the active segment's final timestamp entry and fsyncs
    /// it with its indexes, so the next open needs no recovery, and snapshots the producer
    /// state at the log end offset, so the next open replays nothing.
    pub fn close(mut self) -> Result<(), LogError> {
        self.check_online()?;
        self.active_mut().on_become_inactive()?;
        self.sync_txn_index()?;
        self.take_producer_snapshot()
    }

    /// Deletes the log: renames the directory to `<topic>-<partition>.<id>-delete` (so a
    /// crash midway leaves a name the log manager finishes deleting at start-up), then
    /// removes it. Its entries in the log start offset and cleaner offset checkpoints go
    /// first: left behind, they would apply to a partition of the same name created later.
    pub fn delete(self) -> Result<(), LogError> {
        if let Some(tp) = self.topic_partition() {
            for checkpoint in [&self.checkpoint, &self.cleaner_offsets]
                .into_iter()
                .flatten()
            {
                checkpoint.update(&[(tp.clone(), None)])?;
            }
            if let Some(high_watermarks) = &self.high_watermarks {
                high_watermarks.stage(tp.clone(), None);
                high_watermarks.write_staged()?;
            }
        }
        let name = self
            .dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let unique = uuid::Uuid::new_v4().simple().to_string();
        let renamed = self.dir.with_file_name(format!(
            "{name}.{unique}{}",
            crate::log_manager::DELETE_DIR_SUFFIX
        ));
        self.fs
            .rename(&self.dir, &renamed)
            .map_err(|e| LogError::io(&self.dir, e))?;
        if let Some(parent) = renamed.parent() {
            self.fs
                .sync_dir(parent)
                .map_err(|e| LogError::io(parent, e))?;
        }
        self.fs
            .remove_dir_all(&renamed)
            .map_err(|e| LogError::io(&renamed, e))
    }
}
