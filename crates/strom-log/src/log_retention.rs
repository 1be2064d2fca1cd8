//! The deletion side of [`Log`]: retention (`retention.ms`, `retention.bytes`) and
//! DeleteRecords (moving the log start offset). Both delete whole leading segments; which
//! ones is decided by the pure functions of [`crate::retention`].
//!
//! # Deleting a segment
//!
//! As Kafka's `LocalLog.removeAndDeleteSegments` does:
//! 1. the segment leaves the in-memory list, so no new read finds it, and the log start
//!    offset moves up to the first remaining segment's base offset;
//! 2. its files are renamed to `<name>.deleted`, the `.log` first, and the directory is
//!    fsynced, so the log start offset that readers were told does not go back after a
//!    crash;
//! 3. the renamed files are removed.
//!
//! Kafka waits `file.delete.delay.ms` (default one minute) between 2 and 3, because its
//! fetches may still be sending the old file with `sendfile` or reading a memory-mapped
//! index. Here 3 follows at once, and that is safe: reads take `&self` while deletion
//! takes `&mut self`, so no read runs inside a deletion; what a read returned is an owned
//! copy ([`bytes::Bytes`] over its own buffer), never a view of the file; and a handle
//! still held outside the log's lock (a [`crate::PendingFlush`] being synced) keeps
//! working on a removed file, since on Unix the data lives until the last handle closes.
//!
//! A crash during a deletion: the next open removes every `*.deleted` file and any index
//! left without its `.log`, and takes the log start offset from the first segment left
//! (and the checkpoint). Segments are deleted oldest first, so what remains is always a
//! suffix of the log.
//!
//! # DeleteRecords
//!
//! [`Log::increase_log_start_offset`] writes the new log start offset to the log
//! directory's `log-start-offset-checkpoint` before it changes anything in memory or
//! answers: an acknowledged deletion survives a crash, and a failed one is not published
//! by a later write (see `offset_checkpoint`).

use std::path::PathBuf;

use crate::error::{DeleteRecordsError, LogError};
use crate::file_names::DELETED_FILE_SUFFIX;
use crate::log::Log;
use crate::retention::{self, RetentionDecision, RetentionInput, SegmentSummary};
use crate::segment::LogSegment;

impl Log {
    /// Deletes the leading segments that retention lets go (Kafka's `deleteOldSegments`):
    /// those wholly below the log start offset, then those over `retention.bytes`, then
    /// those older than `retention.ms`, by the log's [`crate::LogConfig`]. Only segments
    /// wholly below `high_watermark` go. If the active segment goes too, the log rolls
    /// first and the log start offset becomes the log end offset. Returns how many
    /// segments were deleted. Call it for every log every `log.retention.check.interval.ms`.
    pub fn delete_old_segments(
        &mut self,
        high_watermark: i64,
        now_ms: i64,
    ) -> Result<usize, LogError> {
        self.check_online()?;
        let summaries = self.segment_summaries();
        let decision = retention::decide(&RetentionInput {
            segments: &summaries,
            log_start_offset: self.log_start_offset,
            log_end_offset: self.log_end_offset,
            high_watermark,
            retention_ms: self.config.retention_ms,
            retention_bytes: self.config.retention_bytes,
            now_ms,
        });
        self.delete_segments(&decision, now_ms)
    }

    /// DeleteRecords (Kafka's `maybeIncrementLogStartOffset`): makes `offset` the log start
    /// offset, so reads below it answer `OFFSET_OUT_OF_RANGE` and timestamp lookups never
    /// name an offset below it, then deletes the segments wholly below it. `offset` -1
    /// means the high watermark; an offset above `high_watermark` (or the log end offset)
    /// is refused with `OFFSET_OUT_OF_RANGE`. The log start offset never moves back: an
    /// offset at or below it changes nothing. Durable before it returns when the log was
    /// opened by a [`crate::LogManager`]. Returns the log start offset after the call (the
    /// response's low watermark on a single replica).
    ///
    /// The caller refuses DeleteRecords for topics whose `cleanup.policy` lacks `delete`
    /// (`POLICY_VIOLATION`), as Kafka does; this log does not know the policy.
    pub fn increase_log_start_offset(
        &mut self,
        offset: i64,
        high_watermark: i64,
    ) -> Result<i64, DeleteRecordsError> {
        self.check_online()?;
        let high_watermark = high_watermark.min(self.log_end_offset);
        let target = if offset == -1 { high_watermark } else { offset };
        if target < 0 || target > high_watermark {
            return Err(DeleteRecordsError::OffsetOutOfRange {
                offset,
                log_start_offset: self.log_start_offset,
                high_watermark,
            });
        }
        if target <= self.log_start_offset {
            return Ok(self.log_start_offset);
        }
        if let (Some(checkpoint), Some(tp)) = (self.checkpoint.clone(), self.topic_partition()) {
            checkpoint
                .update(&[(tp, Some(target))])
                .map_err(|e| self.fail(e))?;
        }
        tracing::info!(
            dir = %self.dir.display(),
            from = self.log_start_offset,
            to = target,
            "incremented the log start offset after DeleteRecords"
        );
        self.log_start_offset = target;
        let summaries = self.segment_summaries();
        let decision = retention::decide(&RetentionInput {
            segments: &summaries,
            log_start_offset: target,
            log_end_offset: self.log_end_offset,
            high_watermark,
            retention_ms: None,
            retention_bytes: None,
            now_ms: 0,
        });
        // Never a roll: the active segment is never below the log start offset.
        self.delete_segments(&decision, 0)?;
        self.truncate_epochs_from_start()?;
        Ok(self.log_start_offset)
    }

    fn segment_summaries(&self) -> Vec<SegmentSummary> {
        self.segments
            .iter()
            .map(|s| SegmentSummary {
                base_offset: s.base_offset(),
                size_bytes: s.size(),
                largest_timestamp_ms: s.largest_timestamp(),
            })
            .collect()
    }

    /// Carries out a retention decision (see the module docs for the steps).
    fn delete_segments(
        &mut self,
        decision: &RetentionDecision,
        now_ms: i64,
    ) -> Result<usize, LogError> {
        let count = decision.segments_to_delete();
        if count == 0 {
            return Ok(0);
        }
        tracing::info!(
            dir = %self.dir.display(),
            segments = count,
            below_log_start_offset = decision.by_log_start_offset,
            over_retention_bytes = decision.by_size,
            older_than_retention_ms = decision.by_time,
            retention_ms = ?self.config.retention_ms,
            retention_bytes = ?self.config.retention_bytes,
            "deleting log segments"
        );
        if decision.roll_first {
            self.roll(now_ms).map_err(|e| self.fail(e))?;
        }
        assert!(
            count < self.segments.len(),
            "retention deletes {count} of {} segments: the active segment must stay (roll first)",
            self.segments.len()
        );
        let removed: Vec<LogSegment> = self.segments.drain(..count).collect();
        self.forget_txns_below(self.segments[0].base_offset());
        self.log_start_offset = self.log_start_offset.max(self.segments[0].base_offset());
        self.remove_segment_files(&removed)
            .map_err(|e| self.fail(e))?;
        self.truncate_epochs_from_start()?;
        Ok(count)
    }

    /// Drops the epoch cache's entries below the log start offset, keeping the epoch of
    /// the first record (Kafka's `truncateFromStart`), and rewrites the file if that
    /// changed anything.
    fn truncate_epochs_from_start(&mut self) -> Result<(), LogError> {
        let mut cache = self.epoch_cache.clone();
        if cache.truncate_from_start(self.log_start_offset) {
            self.write_epoch_cache(&cache).map_err(|e| self.fail(e))?;
            self.epoch_cache = cache;
        }
        Ok(())
    }

    /// Renames the files of `segments` to `*.deleted`, oldest segment and `.log` first,
    /// fsyncs the directory, then removes them. The segments are out of the log already.
    pub(crate) fn remove_segment_files(&self, segments: &[LogSegment]) -> Result<(), LogError> {
        let mut renamed = Vec::with_capacity(segments.len() * 3);
        for segment in segments {
            tracing::debug!(file = %segment.log_path().display(), base_offset = segment.base_offset(), "deleting a segment");
            // The producer snapshot named after the segment goes with it, as in Kafka.
            let snapshot = self.producer_snapshot_path(segment.base_offset());
            let txn_index = self.txn_index_path(segment.base_offset());
            for path in segment
                .file_paths()
                .into_iter()
                .chain([snapshot.as_path(), txn_index.as_path()])
            {
                let mut deleted = path.as_os_str().to_owned();
                deleted.push(DELETED_FILE_SUFFIX);
                let deleted = PathBuf::from(deleted);
                match self.fs.rename(path, &deleted) {
                    Ok(()) => renamed.push(deleted),
                    // An index a crash already took: nothing to delete.
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(LogError::io(path, e)),
                }
            }
        }
        self.fs
            .sync_dir(&self.dir)
            .map_err(|e| LogError::io(&self.dir, e))?;
        for path in &renamed {
            match self.fs.remove_file(path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(LogError::io(path, e))
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// The first segment's base offset: the log start offset unless DeleteRecords moved
    /// it inside that segment.
    pub(crate) fn first_segment_base_offset(&self) -> i64 {
        self.segments[0].base_offset()
    }
}
