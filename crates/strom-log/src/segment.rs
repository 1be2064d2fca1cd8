//! One segment: a `.log` file of batches exactly as appended (offsets assigned), with its
//! offset and time indexes and the in-memory facts the log needs (size, next offset,
//! largest timestamp).
//!
//! The segment knows nothing about other segments: the log decides when to roll, which
//! segments to recover, and how far reads may go.

use std::io::IoSlice;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use strom_records::layout::{LOG_OVERHEAD, RECORD_BATCH_OVERHEAD};
use strom_records::{validate_stored_batch, BatchHeader, RecordBatch};

use crate::config::LogConfig;
use crate::error::LogError;
use crate::file_names::{segment_path, INDEX_FILE_SUFFIX, LOG_FILE_SUFFIX, TIME_INDEX_FILE_SUFFIX};
use crate::fs::{FileSystem, SegmentFile};
use crate::offset_index::{OffsetIndex, OffsetPosition};
use crate::time_index::TimeIndex;

mod timestamp_lookup;

/// What the segment records about each batch it appends.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AppendedBatch {
    pub last_offset: i64,
    pub max_timestamp: i64,
    pub size: u64,
}

/// A batch found by a scan: where it starts and its header.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FoundBatch {
    pub position: u64,
    pub header: BatchHeader,
    pub size: u64,
}

#[derive(Debug)]
pub(crate) struct LogSegment {
    base_offset: i64,
    log: Arc<dyn SegmentFile>,
    log_path: PathBuf,
    size: u64,
    offset_index: OffsetIndex,
    time_index: TimeIndex,
    bytes_since_last_index_entry: u64,
    index_interval_bytes: u64,
    /// Largest batch maxTimestamp, -1 when none.
    max_timestamp: i64,
    /// Last offset of the batch carrying `max_timestamp`.
    offset_of_max_timestamp: i64,
    /// Offset after the last batch; the base offset when empty.
    next_offset: i64,
    /// maxTimestamp of the first batch, for `segment.ms`.
    first_batch_timestamp: Option<i64>,
    created_ms: i64,
    /// When this process last wrote to the segment (creation or open counts): the age of
    /// a segment without timestamps, for `retention.ms`.
    last_modified_ms: i64,
    roll_jitter_ms: i64,
    /// Something was written (data, index entries, a recovery cut) that no
    /// [`LogSegment::sync_all`] has made durable yet. An idle segment's close then costs
    /// no fsync (Kafka's log flush on shutdown also skips logs with nothing unflushed),
    /// which matters with many partitions: three fsyncs each, for nothing.
    unsynced: AtomicBool,
}

impl LogSegment {
    /// Creates an empty segment, replacing any files of the same base offset.
    pub fn create(
        fs: &dyn FileSystem,
        dir: &Path,
        base_offset: i64,
        config: &LogConfig,
        now_ms: i64,
        roll_jitter_ms: i64,
    ) -> Result<LogSegment, LogError> {
        LogSegment::create_with_suffix(fs, dir, base_offset, config, now_ms, roll_jitter_ms, "")
    }

    /// Creates an empty segment whose three files carry `suffix` after their usual names
    /// (`.cleaned` for compaction output), replacing any files of those names.
    pub fn create_with_suffix(
        fs: &dyn FileSystem,
        dir: &Path,
        base_offset: i64,
        config: &LogConfig,
        now_ms: i64,
        roll_jitter_ms: i64,
        suffix: &str,
    ) -> Result<LogSegment, LogError> {
        let log_path = segment_path(dir, base_offset, &format!("{LOG_FILE_SUFFIX}{suffix}"));
        let log = fs
            .create(&log_path)
            .map_err(|e| LogError::io(&log_path, e))?;
        let offset_index = OffsetIndex::create(
            fs,
            &segment_path(dir, base_offset, &format!("{INDEX_FILE_SUFFIX}{suffix}")),
            base_offset,
            config.segment_index_bytes,
        )?;
        let time_index = TimeIndex::create(
            fs,
            &segment_path(
                dir,
                base_offset,
                &format!("{TIME_INDEX_FILE_SUFFIX}{suffix}"),
            ),
            base_offset,
            config.segment_index_bytes,
        )?;
        Ok(LogSegment {
            base_offset,
            log,
            log_path,
            size: 0,
            offset_index,
            time_index,
            bytes_since_last_index_entry: 0,
            index_interval_bytes: config.index_interval_bytes,
            max_timestamp: -1,
            offset_of_max_timestamp: -1,
            next_offset: base_offset,
            first_batch_timestamp: None,
            created_ms: now_ms,
            last_modified_ms: now_ms,
            roll_jitter_ms,
            // Empty files: their names are made durable by the caller's directory sync.
            // Compaction output is always synced before it is renamed (the swap protocol
            // relies on it), even when it came out empty.
            unsynced: AtomicBool::new(!suffix.is_empty()),
        })
    }

    /// Opens an existing segment and its indexes. A problem with an index comes back as
    /// the reason to rebuild it ([`LogSegment::recover`]); the in-memory facts are only
    /// valid after [`LogSegment::check_inactive`], [`LogSegment::load_active_tail`] or a
    /// recovery.
    pub fn open(
        fs: &dyn FileSystem,
        dir: &Path,
        base_offset: i64,
        config: &LogConfig,
        now_ms: i64,
        roll_jitter_ms: i64,
    ) -> Result<(LogSegment, Option<String>), LogError> {
        let log_path = segment_path(dir, base_offset, LOG_FILE_SUFFIX);
        let log = fs.open(&log_path).map_err(|e| LogError::io(&log_path, e))?;
        let size = log.len().map_err(|e| LogError::io(&log_path, e))?;
        let mut problem = None;
        let index_path = segment_path(dir, base_offset, INDEX_FILE_SUFFIX);
        let offset_index = match OffsetIndex::open_checked(
            fs,
            &index_path,
            base_offset,
            config.segment_index_bytes,
        )? {
            Ok(index) => index,
            Err(reason) => {
                problem = Some(format!("{}: {reason}", index_path.display()));
                OffsetIndex::create(fs, &index_path, base_offset, config.segment_index_bytes)?
            }
        };
        let time_path = segment_path(dir, base_offset, TIME_INDEX_FILE_SUFFIX);
        let time_index =
            match TimeIndex::open_checked(fs, &time_path, base_offset, config.segment_index_bytes)?
            {
                Ok(index) => index,
                Err(reason) => {
                    problem.get_or_insert(format!("{}: {reason}", time_path.display()));
                    TimeIndex::create(fs, &time_path, base_offset, config.segment_index_bytes)?
                }
            };
        let segment = LogSegment {
            base_offset,
            log,
            log_path,
            size,
            offset_index,
            time_index,
            bytes_since_last_index_entry: 0,
            index_interval_bytes: config.index_interval_bytes,
            max_timestamp: -1,
            offset_of_max_timestamp: -1,
            next_offset: base_offset,
            first_batch_timestamp: None,
            created_ms: now_ms,
            last_modified_ms: now_ms,
            roll_jitter_ms,
            // A rebuilt index (a problem) is written by the recovery that follows.
            unsynced: AtomicBool::new(false),
        };
        Ok((segment, problem))
    }

    pub fn base_offset(&self) -> i64 {
        self.base_offset
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    pub fn next_offset(&self) -> i64 {
        self.next_offset
    }

    pub fn max_timestamp(&self) -> i64 {
        self.max_timestamp
    }

    /// maxTimestamp of the first batch (for `max.compaction.lag.ms`), read from the file
    /// when the open did not scan it; `None` for an empty segment.
    pub fn first_batch_timestamp(&self) -> Result<Option<i64>, LogError> {
        if self.first_batch_timestamp.is_some() || self.size == 0 {
            return Ok(self.first_batch_timestamp);
        }
        Ok(Some(self.read_header(0)?.header.max_timestamp()))
    }

    /// Bytes of the larger of the two index files (what `segment.index.bytes` bounds).
    pub fn index_bytes(&self) -> u64 {
        (self.offset_index.len() * 8).max(self.time_index.len() * 12)
    }

    /// Kafka's `LogSegment.largestTimestamp`, what `retention.ms` measures: the largest
    /// batch timestamp or, if no batch has one, the last write. Kafka falls back to the
    /// file's modification time; the file-system seam has none, so after a restart such a
    /// segment's age counts from the open (it is kept longer, never deleted early).
    pub fn largest_timestamp(&self) -> i64 {
        if self.max_timestamp >= 0 {
            self.max_timestamp
        } else {
            self.last_modified_ms
        }
    }

    /// The `.log` file and both indexes, the `.log` first: deleting in this order, a crash
    /// midway leaves indexes without a segment, which the next open removes, never a
    /// segment without its indexes.
    pub fn file_paths(&self) -> [&Path; 3] {
        [
            &self.log_path,
            self.offset_index.path(),
            self.time_index.path(),
        ]
    }

    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    pub fn log_file(&self) -> &Arc<dyn SegmentFile> {
        &self.log
    }

    #[cfg(test)]
    pub fn offset_index_entries(&self) -> u64 {
        self.offset_index.len()
    }

    /// Sanity checks of an inactive segment opened without recovery; takes its facts from
    /// the indexes (the time index's last entry holds the segment's maximum).
    pub fn check_inactive(&mut self, next_base: i64) -> Option<String> {
        if let Some(last) = self.offset_index.last() {
            if last.offset >= next_base || u64::from(last.position) >= self.size {
                return Some(format!(
                    "{}: last entry {last:?} points past the segment (size {}, next segment at offset {next_base})",
                    self.offset_index.path().display(),
                    self.size
                ));
            }
        }
        if let Some(last) = self.time_index.last() {
            if last.offset >= next_base {
                return Some(format!(
                    "{}: last entry {last:?} points past the segment (next segment at offset {next_base})",
                    self.time_index.path().display()
                ));
            }
            self.max_timestamp = last.timestamp;
            self.offset_of_max_timestamp = last.offset;
        }
        self.next_offset = if self.size > 0 {
            next_base
        } else {
            self.base_offset
        };
        None
    }

    /// For the active segment after a clean shutdown: reads the batch headers after the
    /// last index entry to find the next offset and the largest timestamp, checking that
    /// they end exactly at the end of the file. Returns a reason to recover instead.
    pub fn load_active_tail(&mut self) -> Result<Option<String>, LogError> {
        let (mut position, mut expected_min) = match self.offset_index.last() {
            Some(entry) => {
                if u64::from(entry.position) >= self.size {
                    return Ok(Some(format!(
                        "{}: last entry {entry:?} points past the end of the log ({} bytes)",
                        self.offset_index.path().display(),
                        self.size
                    )));
                }
                (u64::from(entry.position), self.base_offset)
            }
            None => (0, self.base_offset),
        };
        if let Some(last) = self.time_index.last() {
            self.max_timestamp = last.timestamp;
            self.offset_of_max_timestamp = last.offset;
        }
        let mut first = self.offset_index.last();
        while position < self.size {
            let header = match self.try_read_header(position, self.size)? {
                Ok(h) => h,
                Err(reason) => return Ok(Some(reason)),
            };
            if let Some(entry) = first.take() {
                if header.last_offset() != entry.offset {
                    return Ok(Some(format!(
                        "{}: entry {entry:?} points at a batch ending at offset {}",
                        self.offset_index.path().display(),
                        header.last_offset()
                    )));
                }
            }
            if header.base_offset() < expected_min {
                return Ok(Some(format!(
                    "{}: batch at byte {position} has offset {} below {expected_min}",
                    self.log_path.display(),
                    header.base_offset()
                )));
            }
            if header.max_timestamp() > self.max_timestamp {
                self.max_timestamp = header.max_timestamp();
                self.offset_of_max_timestamp = header.last_offset();
            }
            expected_min = header.last_offset() + 1;
            let size = header.size_in_bytes().unwrap_or(0) as u64;
            position += size;
            self.bytes_since_last_index_entry += size;
        }
        self.next_offset = expected_min;
        if self.size >= RECORD_BATCH_OVERHEAD as u64 {
            match self.try_read_header(0, self.size)? {
                Ok(h) => self.first_batch_timestamp = Some(h.max_timestamp()),
                Err(reason) => return Ok(Some(reason)),
            }
        }
        Ok(None)
    }

    /// Reads every batch, checks it fully (framing, CRC, records), rebuilds both indexes
    /// and cuts the file after the last valid batch. Batches must not reach `next_base`.
    /// Returns how many bytes were cut.
    pub fn recover(&mut self, next_base: Option<i64>) -> Result<u64, LogError> {
        // What recovery rewrites (indexes, a cut) and what the crash may have left only in
        // the page cache (any data) is synced at the next roll or close. An empty segment
        // with empty indexes, what an idle partition has, stays as it was.
        let had_index_entries = self.offset_index.len() + self.time_index.len() > 0;
        self.offset_index.reset()?;
        self.time_index.reset()?;
        self.bytes_since_last_index_entry = 0;
        self.max_timestamp = -1;
        self.offset_of_max_timestamp = -1;
        self.first_batch_timestamp = None;
        let file_size = self
            .log
            .len()
            .map_err(|e| LogError::io(&self.log_path, e))?;
        self.size = file_size;
        let mut position = 0u64;
        let mut expected_min = self.base_offset;
        let mut buf = Vec::new();
        let mut cut_reason = None;
        while position < file_size {
            let header = match self.try_read_header(position, file_size)? {
                Ok(h) => h,
                Err(reason) => {
                    cut_reason = Some(reason);
                    break;
                }
            };
            let size = header.size_in_bytes().unwrap_or(0);
            buf.resize(size, 0);
            self.log
                .read_exact_at(&mut buf, position)
                .map_err(|e| LogError::io(&self.log_path, e))?;
            // No size limit: max.message.bytes may have been lowered since it was written.
            // The stored-batch check accepts the gaps compaction leaves inside batches.
            if let Err(e) = validate_stored_batch(&buf) {
                cut_reason = Some(format!("batch at byte {position} is invalid: {e}"));
                break;
            }
            let last_offset = header.last_offset();
            if header.base_offset() < expected_min
                || last_offset - self.base_offset > i64::from(i32::MAX)
            {
                cut_reason = Some(format!("batch at byte {position} has offsets {}..={last_offset}, expected at least {expected_min}", header.base_offset()));
                break;
            }
            if next_base.is_some_and(|next| last_offset >= next) {
                cut_reason = Some(format!(
                    "batch at byte {position} reaches offset {last_offset}, into the next segment"
                ));
                break;
            }
            self.index_batch(
                position,
                AppendedBatch {
                    last_offset,
                    max_timestamp: header.max_timestamp(),
                    size: size as u64,
                },
            )?;
            position += size as u64;
            expected_min = last_offset + 1;
        }
        self.size = position;
        self.next_offset = expected_min;
        let cut = file_size - position;
        *self.unsynced.get_mut() |= had_index_entries || cut > 0 || position > 0;
        if cut > 0 {
            tracing::warn!(
                file = %self.log_path.display(),
                position,
                bytes = cut,
                reason = cut_reason.as_deref().unwrap_or("unknown"),
                "cutting the tail of a log segment during recovery"
            );
            self.log
                .set_len(position)
                .map_err(|e| LogError::io(&self.log_path, e))?;
        }
        Ok(cut)
    }

    /// Removes every batch holding an offset at or after `offset` (a batch holding it is
    /// removed whole: batches are never split), cuts both indexes to the batches left,
    /// re-reads the tail after the last index entry for the in-memory facts, and fsyncs
    /// the file and indexes so the cut survives a crash. Returns the offset after the last
    /// batch left (the segment's new next offset).
    pub fn truncate_to(&mut self, offset: i64) -> Result<i64, LogError> {
        let Some(found) = self.find_batch(offset)? else {
            return Ok(self.next_offset);
        };
        let position = found.position;
        // The batch at `position` ends at or after `offset`, so everything kept ends before
        // its base offset: index entries name a batch's last offset.
        let new_next = found.header.base_offset();
        self.log
            .set_len(position)
            .map_err(|e| LogError::io(&self.log_path, e))?;
        self.offset_index.truncate_while(|e| e.offset < new_next)?;
        self.time_index.truncate_while(|e| e.offset < new_next)?;
        self.size = position;
        self.bytes_since_last_index_entry = 0;
        self.max_timestamp = -1;
        self.offset_of_max_timestamp = -1;
        self.first_batch_timestamp = None;
        self.next_offset = self.base_offset;
        *self.unsynced.get_mut() = true;
        if let Some(problem) = self.load_active_tail()? {
            tracing::warn!(file = %self.log_path.display(), %problem, "rebuilding the indexes of a truncated segment");
            self.recover(None)?;
        }
        self.sync_all()?;
        Ok(self.next_offset)
    }

    /// Updates indexes and facts for a batch just written at `position`.
    fn index_batch(&mut self, position: u64, batch: AppendedBatch) -> Result<(), LogError> {
        if position == 0 {
            self.first_batch_timestamp = Some(batch.max_timestamp);
        }
        if batch.max_timestamp > self.max_timestamp {
            self.max_timestamp = batch.max_timestamp;
            self.offset_of_max_timestamp = batch.last_offset;
        }
        if self.bytes_since_last_index_entry > self.index_interval_bytes {
            let position = u32::try_from(position).map_err(|_| {
                LogError::corrupt(
                    &self.log_path,
                    position,
                    "segment larger than 2 GiB cannot be indexed",
                )
            })?;
            self.offset_index.append(OffsetPosition {
                offset: batch.last_offset,
                position,
            })?;
            self.time_index
                .maybe_append(self.max_timestamp, self.offset_of_max_timestamp)?;
            self.bytes_since_last_index_entry = 0;
        }
        self.bytes_since_last_index_entry += batch.size;
        self.next_offset = batch.last_offset + 1;
        Ok(())
    }

    /// Writes `slices` (patched headers and untouched bodies) with one vectored append,
    /// then indexes each batch. On a failed write the file is cut back to its old size
    /// when possible; the caller takes the log offline either way.
    pub fn append(
        &mut self,
        slices: &[IoSlice<'_>],
        batches: &[AppendedBatch],
        now_ms: i64,
    ) -> Result<(), LogError> {
        let start = self.size;
        *self.unsynced.get_mut() = true;
        if let Err(e) = self.log.append(slices) {
            if let Err(undo) = self.log.set_len(start) {
                tracing::error!(file = %self.log_path.display(), error = %undo, "could not cut a failed append back; recovery will at the next start");
            }
            return Err(LogError::io(&self.log_path, e));
        }
        let mut position = start;
        for batch in batches {
            if let Err(e) = self.index_batch(position, *batch) {
                // Best effort: do not leave a batch behind whose append reported failure.
                let _ = self.log.set_len(start);
                return Err(e);
            }
            position += batch.size;
        }
        self.size = position;
        self.last_modified_ms = now_ms;
        Ok(())
    }

    /// Whether appending `append_size` bytes ending at `last_offset`, with largest
    /// timestamp `max_timestamp`, must go to a new segment (Kafka's `shouldRoll`).
    pub fn should_roll(
        &self,
        config: &LogConfig,
        append_size: u64,
        max_timestamp: i64,
        last_offset: i64,
        now_ms: i64,
    ) -> bool {
        if self.size == 0 {
            return false;
        }
        let waited = match self.first_batch_timestamp {
            Some(first) if first >= 0 && max_timestamp >= 0 => max_timestamp.saturating_sub(first),
            _ => now_ms.saturating_sub(self.created_ms),
        };
        self.size + append_size > config.effective_segment_bytes()
            || waited > config.segment_ms.saturating_sub(self.roll_jitter_ms)
            || self.offset_index.is_full()
            || self.time_index.is_full()
            || last_offset - self.base_offset > i64::from(i32::MAX)
    }

    /// Called when the segment stops being active: records the final largest timestamp in
    /// the time index and makes everything durable.
    pub fn on_become_inactive(&mut self) -> Result<(), LogError> {
        if self.max_timestamp >= 0 {
            let entries = self.time_index.len();
            self.time_index
                .maybe_append(self.max_timestamp, self.offset_of_max_timestamp)?;
            *self.unsynced.get_mut() |= self.time_index.len() != entries;
        }
        self.sync_all()
    }

    /// Fsyncs the log and both indexes, unless nothing was written since the last time.
    pub fn sync_all(&self) -> Result<(), LogError> {
        // Writers hold `&mut self`, so nothing is written between this load and the store.
        if !self.unsynced.load(Ordering::Acquire) {
            return Ok(());
        }
        self.log
            .sync_data()
            .map_err(|e| LogError::sync(&self.log_path, e))?;
        self.offset_index.sync()?;
        self.time_index.sync()?;
        self.unsynced.store(false, Ordering::Release);
        Ok(())
    }

    /// Reads the header at `position`, or explains why there is no valid one ending by
    /// `limit`.
    fn try_read_header(
        &self,
        position: u64,
        limit: u64,
    ) -> Result<Result<BatchHeader, String>, LogError> {
        if position + RECORD_BATCH_OVERHEAD as u64 > limit {
            return Ok(Err(format!(
                "{} bytes at byte {position} are too few for a batch header",
                limit - position
            )));
        }
        let mut buf = [0u8; RECORD_BATCH_OVERHEAD];
        self.log
            .read_exact_at(&mut buf, position)
            .map_err(|e| LogError::io(&self.log_path, e))?;
        let header = BatchHeader::from_array(buf);
        if header.magic() != 2 {
            return Ok(Err(format!(
                "batch at byte {position} has magic {}",
                header.magic()
            )));
        }
        match header.size_in_bytes() {
            Some(size) if position + size as u64 <= limit => Ok(Ok(header)),
            Some(size) => Ok(Err(format!(
                "batch at byte {position} needs {size} bytes, {} remain",
                limit - position
            ))),
            None => Ok(Err(format!(
                "batch at byte {position} has impossible batchLength {}",
                header.batch_length()
            ))),
        }
    }

    /// Reads the header at `position` of a segment whose contents were validated.
    pub fn read_header(&self, position: u64) -> Result<FoundBatch, LogError> {
        match self.try_read_header(position, self.size)? {
            Ok(header) => Ok(FoundBatch {
                position,
                header,
                size: header.size_in_bytes().unwrap_or(0) as u64,
            }),
            Err(reason) => Err(LogError::corrupt(&self.log_path, position, reason)),
        }
    }

    /// Calls `f` with every batch header of the segment, in order, reading the file in
    /// large chunks rather than one small read per batch. For segments that were checked
    /// or recovered at open; a header that does not fit is corruption.
    pub fn for_each_batch_header(&self, mut f: impl FnMut(&BatchHeader)) -> Result<(), LogError> {
        const CHUNK_BYTES: u64 = 256 * 1024;
        let overhead = RECORD_BATCH_OVERHEAD as u64;
        let mut buf = Vec::new();
        let mut buf_start = 0u64;
        let mut position = 0u64;
        while position < self.size {
            if position + overhead > self.size {
                return Err(LogError::corrupt(
                    &self.log_path,
                    position,
                    "too few bytes for a batch header at the end of the segment",
                ));
            }
            if position < buf_start || position + overhead > buf_start + buf.len() as u64 {
                let len = CHUNK_BYTES.min(self.size - position) as usize;
                buf.resize(len, 0);
                self.log
                    .read_exact_at(&mut buf, position)
                    .map_err(|e| LogError::io(&self.log_path, e))?;
                buf_start = position;
            }
            let start = (position - buf_start) as usize;
            let header = BatchHeader::parse(&buf[start..])
                .map_err(|e| LogError::corrupt(&self.log_path, position, e.to_string()))?;
            let size = match header.size_in_bytes() {
                Some(size) if header.magic() == 2 => size,
                _ => {
                    return Err(LogError::corrupt(
                        &self.log_path,
                        position,
                        format!(
                            "no batch header here (magic {}, batchLength {})",
                            header.magic(),
                            header.batch_length()
                        ),
                    ))
                }
            };
            f(&header);
            position += size as u64;
        }
        Ok(())
    }

    /// [`LogSegment::for_each_batch_header`], with the marker of every transaction
    /// marker batch (read from the file: markers are one small record). A marker whose
    /// record cannot be read is passed as `None`, reported once.
    pub fn for_each_batch_with_marker(
        &self,
        mut f: impl FnMut(&BatchHeader, Option<strom_records::EndTransactionMarker>),
    ) -> Result<(), LogError> {
        let mut position = 0u64;
        self.for_each_batch_header(|header| {
            let size = header.size_in_bytes().unwrap_or(0) as u64;
            let marker = if header.is_control() && header.is_transactional() {
                let marker = self
                    .read_bytes(position, size)
                    .ok()
                    .and_then(|bytes| RecordBatch::new(bytes).ok())
                    .and_then(|batch| strom_records::EndTransactionMarker::of_batch(&batch).ok())
                    .flatten();
                if marker.is_none() {
                    tracing::warn!(file = %self.log_path.display(), position, "a transaction marker whose record cannot be read; the transaction it ended stays open in the producer state");
                }
                marker
            } else {
                None
            };
            f(header, marker);
            position += size;
        })
    }

    /// The batch holding `offset` or, if it fell in a gap, the first batch after it.
    /// `None` when the segment ends before `offset`.
    pub fn find_batch(&self, offset: i64) -> Result<Option<FoundBatch>, LogError> {
        let position = self
            .offset_index
            .floor(offset)?
            .map_or(0, |e| u64::from(e.position));
        self.scan_from(position, |h| h.last_offset() >= offset)
    }

    /// The first batch from `position` on whose header satisfies `pred`.
    fn scan_from(
        &self,
        mut position: u64,
        pred: impl Fn(&BatchHeader) -> bool,
    ) -> Result<Option<FoundBatch>, LogError> {
        while position < self.size {
            let found = self.read_header(position)?;
            if pred(&found.header) {
                return Ok(Some(found));
            }
            position += found.size;
        }
        Ok(None)
    }

    /// Reads `len` bytes at `position`.
    pub fn read_bytes(&self, position: u64, len: u64) -> Result<Bytes, LogError> {
        let len = usize::try_from(len)
            .map_err(|_| LogError::corrupt(&self.log_path, position, "read larger than memory"))?;
        let mut buf = vec![0u8; len];
        self.log
            .read_exact_at(&mut buf, position)
            .map_err(|e| LogError::io(&self.log_path, e))?;
        Ok(Bytes::from(buf))
    }

    /// Whole batches from the batch holding `fetch_offset`, up to `max_bytes` (or the
    /// first batch alone if it is larger and `min_one_message`), each ending before
    /// `upper`. Returns the bytes and the offset after them; `None` when the segment ends
    /// before `fetch_offset`.
    pub fn read(
        &self,
        fetch_offset: i64,
        max_bytes: usize,
        min_one_message: bool,
        upper: i64,
    ) -> Result<Option<(Bytes, i64)>, LogError> {
        let Some(first) = self.find_batch(fetch_offset)? else {
            return Ok(None);
        };
        if first.header.last_offset() >= upper {
            return Ok(Some((Bytes::new(), fetch_offset)));
        }
        let max_bytes = max_bytes as u64;
        if first.size > max_bytes {
            if !min_one_message {
                return Ok(Some((Bytes::new(), fetch_offset)));
            }
            let bytes = self.read_bytes(first.position, first.size)?;
            return Ok(Some((bytes, first.header.last_offset() + 1)));
        }
        let window = max_bytes.min(self.size - first.position);
        let bytes = self.read_bytes(first.position, window)?;
        let mut end = 0usize;
        let mut next_offset = fetch_offset;
        while end + LOG_OVERHEAD <= bytes.len() {
            let rest = &bytes[end..];
            if rest.len() < RECORD_BATCH_OVERHEAD {
                break;
            }
            let header = BatchHeader::parse(rest).map_err(|e| {
                LogError::corrupt(&self.log_path, first.position + end as u64, e.to_string())
            })?;
            let Some(size) = header.size_in_bytes() else {
                return Err(LogError::corrupt(
                    &self.log_path,
                    first.position + end as u64,
                    format!("impossible batchLength {}", header.batch_length()),
                ));
            };
            if size > rest.len() || header.last_offset() >= upper {
                break;
            }
            end += size;
            next_offset = header.last_offset() + 1;
        }
        Ok(Some((bytes.slice(..end), next_offset)))
    }

    /// The whole batch found by a scan.
    pub fn read_batch(&self, found: &FoundBatch) -> Result<RecordBatch, LogError> {
        let bytes = self.read_bytes(found.position, found.size)?;
        RecordBatch::new(bytes)
            .map_err(|e| LogError::corrupt(&self.log_path, found.position, e.to_string()))
    }
}

/// Reads batch headers from the start of a segment file until the first one that is
/// missing or malformed; returns the offset after the last good batch (`base_offset` if
/// none). Used to learn the extent of a compaction swap file before it is recovered.
pub(crate) fn scan_next_offset(
    file: &dyn SegmentFile,
    path: &Path,
    base_offset: i64,
) -> Result<i64, LogError> {
    let size = file.len().map_err(|e| LogError::io(path, e))?;
    let mut position = 0u64;
    let mut next_offset = base_offset;
    let mut buf = [0u8; RECORD_BATCH_OVERHEAD];
    while position + RECORD_BATCH_OVERHEAD as u64 <= size {
        file.read_exact_at(&mut buf, position)
            .map_err(|e| LogError::io(path, e))?;
        let header = BatchHeader::from_array(buf);
        match header.size_in_bytes() {
            Some(batch_size) if header.magic() == 2 && position + batch_size as u64 <= size => {
                next_offset = next_offset.max(header.last_offset().saturating_add(1));
                position += batch_size as u64;
            }
            _ => break,
        }
    }
    Ok(next_offset)
}
