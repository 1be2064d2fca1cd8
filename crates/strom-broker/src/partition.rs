//! One partition hosted by this broker: its log plus the state the Kafka
//! APIs need around it (high watermark, leader epoch, waiters).
//!
//! Locking: the log sits behind a `RwLock`. Appends take it for writing
//! (page-cache writes, microseconds); reads take it for reading. fsync never
//! runs under the lock: `flush_up_to` captures the files to sync under a
//! read lock, syncs outside it, and group-commits — concurrent acks=all
//! producers wait on one fsync instead of queueing one each.

use std::sync::atomic::{AtomicI32, AtomicI64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::RwLock;
use tokio::sync::Notify;

use strom_log::{
    AppendError, AppendInfo, CleanerStats, CleaningStatus, Log, LogConfig, LogError, ReadError,
    TimestampOffset,
};

pub(crate) struct Partition {
    pub topic: Arc<str>,
    pub index: i32,
    leader_epoch: AtomicI32,
    /// `None` once the partition was removed (topic deleted, shutdown); in-flight
    /// requests holding the partition then see NOT_LEADER_OR_FOLLOWER.
    log: RwLock<Option<Log>>,
    /// Notified after every append, for fetches waiting on `fetch.min.bytes`.
    data_arrived: Notify,
    flush_lock: tokio::sync::Mutex<()>,
    flushed_offset: AtomicI64,
    /// With a single replica the high watermark is the log end offset.
    high_watermark: AtomicI64,
    log_start_offset: AtomicI64,
}

pub(crate) struct ReadOutcome {
    pub records: Bytes,
    pub high_watermark: i64,
    pub log_start_offset: i64,
}

impl Partition {
    pub fn new(topic: Arc<str>, index: i32, leader_epoch: i32, log: Log) -> Self {
        let leo = log.log_end_offset();
        let lso = log.log_start_offset();
        Partition {
            topic,
            index,
            leader_epoch: AtomicI32::new(leader_epoch),
            log: RwLock::new(Some(log)),
            data_arrived: Notify::new(),
            flush_lock: tokio::sync::Mutex::new(()),
            // What recovery found is on disk.
            flushed_offset: AtomicI64::new(leo),
            high_watermark: AtomicI64::new(leo),
            log_start_offset: AtomicI64::new(lso),
        }
    }

    /// The log for a request on an async worker. The cleaner may hold the
    /// write lock for a whole pass; waiting for it inside `block_in_place`
    /// lets the runtime move its other tasks off this thread, so one busy
    /// partition does not stall requests to every other.
    fn write_log(&self) -> parking_lot::RwLockWriteGuard<'_, Option<Log>> {
        match self.log.try_write() {
            Some(guard) => guard,
            None if on_multi_thread_runtime() => tokio::task::block_in_place(|| self.log.write()),
            None => self.log.write(),
        }
    }

    fn read_log(&self) -> parking_lot::RwLockReadGuard<'_, Option<Log>> {
        match self.log.try_read() {
            Some(guard) => guard,
            None if on_multi_thread_runtime() => tokio::task::block_in_place(|| self.log.read()),
            None => self.log.read(),
        }
    }

    pub fn leader_epoch(&self) -> i32 {
        self.leader_epoch.load(Ordering::Acquire)
    }

    pub fn set_leader_epoch(&self, epoch: i32) {
        self.leader_epoch.store(epoch, Ordering::Release);
    }

    pub fn high_watermark(&self) -> i64 {
        self.high_watermark.load(Ordering::Acquire)
    }

    pub fn log_start_offset(&self) -> i64 {
        self.log_start_offset.load(Ordering::Acquire)
    }

    pub fn append(&self, records: Bytes, now_ms: i64) -> Result<AppendInfo, PartitionError> {
        let info = {
            let mut guard = self.write_log();
            let log = guard.as_mut().ok_or(PartitionError::Removed)?;
            let info = log.append_as_leader(records, self.leader_epoch(), now_ms)?;
            // A duplicate's offsets are those of its original batch, behind the log end.
            if !info.duplicate {
                self.high_watermark
                    .store(info.last_offset + 1, Ordering::Release);
            }
            info
        };
        self.data_arrived.notify_waiters();
        Ok(info)
    }

    pub fn read(
        &self,
        fetch_offset: i64,
        max_bytes: usize,
        min_one_message: bool,
    ) -> Result<ReadOutcome, PartitionError> {
        let guard = self.read_log();
        let log = guard.as_ref().ok_or(PartitionError::Removed)?;
        let high_watermark = self.high_watermark();
        let read = log.read(fetch_offset, max_bytes, min_one_message, high_watermark)?;
        Ok(ReadOutcome {
            records: read.records,
            high_watermark,
            log_start_offset: log.log_start_offset(),
        })
    }

    /// A future that completes at the next append. Create it *before*
    /// checking for data so an append in between is not missed.
    pub fn data_arrived(&self) -> tokio::sync::futures::Notified<'_> {
        self.data_arrived.notified()
    }

    pub fn offset_for_timestamp(
        &self,
        timestamp: i64,
    ) -> Result<Option<TimestampOffset>, PartitionError> {
        Ok(self
            .read_log()
            .as_ref()
            .ok_or(PartitionError::Removed)?
            .offset_for_timestamp(timestamp)?)
    }

    pub fn max_timestamp_offset(&self) -> Result<Option<TimestampOffset>, PartitionError> {
        Ok(self
            .read_log()
            .as_ref()
            .ok_or(PartitionError::Removed)?
            .max_timestamp_offset()?)
    }

    /// Makes every record below `offset` durable (fsync), sharing one fsync
    /// among all callers that arrive while it runs.
    pub async fn flush_up_to(self: &Arc<Self>, offset: i64) -> Result<(), PartitionError> {
        if self.flushed_offset.load(Ordering::Acquire) >= offset {
            return Ok(());
        }
        let _guard = self.flush_lock.lock().await;
        if self.flushed_offset.load(Ordering::Acquire) >= offset {
            return Ok(());
        }
        let pending = self
            .log
            .read()
            .as_ref()
            .ok_or(PartitionError::Removed)?
            .prepare_flush();
        let flushed = match tokio::task::spawn_blocking(move || pending.sync()).await {
            Ok(result) => result?,
            Err(e) => return Err(PartitionError::FlushTask(e.to_string())),
        };
        if let Some(log) = self.log.write().as_mut() {
            log.mark_flushed(flushed);
        }
        self.flushed_offset.fetch_max(flushed, Ordering::AcqRel);
        Ok(())
    }

    /// Applies `flush.messages` / `flush.ms`.
    pub fn maybe_flush(&self, now_ms: i64) -> Result<(), LogError> {
        // Most topics have no flush policy: decide under the read lock so the
        // periodic check does not stall appends for them. Background tasks
        // run on the async workers: a log held by the cleaner is skipped
        // until the next tick rather than blocking a worker thread.
        {
            let Some(guard) = self.log.try_read() else {
                return Ok(());
            };
            let Some(log) = guard.as_ref() else {
                return Ok(());
            };
            let config = log.config();
            if config.flush_messages.is_none() && config.flush_ms.is_none() {
                return Ok(());
            }
        }
        let Some(mut guard) = self.log.try_write() else {
            return Ok(());
        };
        let Some(log) = guard.as_mut() else {
            return Ok(());
        };
        log.maybe_flush(now_ms)?;
        let flushed = log.flushed_offset();
        drop(guard);
        self.flushed_offset.fetch_max(flushed, Ordering::AcqRel);
        Ok(())
    }

    /// Deletes segments past retention (`retention.ms`, `retention.bytes`);
    /// the number deleted.
    pub fn apply_retention(&self, now_ms: i64) -> Result<usize, LogError> {
        // Skipped (until the next check) while the cleaner holds the log.
        let Some(mut guard) = self.log.try_write() else {
            return Ok(0);
        };
        let Some(log) = guard.as_mut() else {
            return Ok(0);
        };
        if log.is_offline() {
            return Ok(0);
        }
        let deleted = log.delete_old_segments(self.high_watermark(), now_ms)?;
        self.log_start_offset
            .store(log.log_start_offset(), Ordering::Release);
        Ok(deleted)
    }

    /// Where a compacted log stands for the cleaner; `None` for logs that
    /// are not compacted, removed or offline.
    pub fn cleaning_status(&self, now_ms: i64) -> Option<CleaningStatus> {
        let guard = self.log.try_read()?;
        let log = guard.as_ref()?;
        if !log.config().compact || log.is_offline() {
            return None;
        }
        log.cleaning_status(self.high_watermark(), now_ms).ok()
    }

    /// Compacts the log's dirty section. Holds the log's write lock for the
    /// whole pass: appends to this partition wait until it is done (run it on
    /// a blocking thread).
    pub fn clean(
        &self,
        now_ms: i64,
        dedupe_buffer_bytes: usize,
        throttle: &mut dyn FnMut(usize),
    ) -> Result<Option<CleanerStats>, LogError> {
        let mut guard = self.log.write();
        let Some(log) = guard.as_mut() else {
            return Ok(None);
        };
        let stats = log.clean(self.high_watermark(), now_ms, dedupe_buffer_bytes, throttle)?;
        self.log_start_offset
            .store(log.log_start_offset(), Ordering::Release);
        Ok(Some(stats))
    }

    /// DeleteRecords: moves the log start offset to `offset` (-1: the high
    /// watermark); the new low watermark.
    pub fn delete_records(&self, offset: i64) -> Result<i64, PartitionError> {
        let mut guard = self.write_log();
        let log = guard.as_mut().ok_or(PartitionError::Removed)?;
        let low = log.increase_log_start_offset(offset, self.high_watermark())?;
        self.log_start_offset.store(low, Ordering::Release);
        Ok(low)
    }

    pub fn reconfigure(&self, config: LogConfig) {
        if let Some(log) = self.log.write().as_mut() {
            if log.config() != &config {
                log.update_config(config);
            }
        }
    }

    /// Takes the log out; later requests on this partition get
    /// NOT_LEADER_OR_FOLLOWER.
    pub fn remove(&self) -> Option<Log> {
        self.log.write().take()
    }
}

/// `block_in_place` exists only on the multi-threaded runtime (the broker's);
/// in-process tests on a current-thread runtime wait plainly.
fn on_multi_thread_runtime() -> bool {
    tokio::runtime::Handle::try_current()
        .map(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread)
        .unwrap_or(false)
}

/// Why a request on a partition failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PartitionError {
    #[error("the partition is no longer hosted by this broker")]
    Removed,
    #[error(transparent)]
    Append(#[from] AppendError),
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error(transparent)]
    Log(#[from] LogError),
    #[error("flush task failed: {0}")]
    FlushTask(String),
    #[error(transparent)]
    DeleteRecords(#[from] strom_log::DeleteRecordsError),
}

impl PartitionError {
    /// Kafka's error code for this failure.
    pub fn error_code(&self) -> i16 {
        match self {
            PartitionError::Removed => {
                kafka_protocol::error::ResponseError::NotLeaderOrFollower.code()
            }
            PartitionError::Append(e) => e.error_code(),
            PartitionError::Read(e) => e.error_code(),
            PartitionError::Log(e) => e.error_code(),
            PartitionError::FlushTask(_) => {
                kafka_protocol::error::ResponseError::KafkaStorageError.code()
            }
            PartitionError::DeleteRecords(e) => e.error_code(),
        }
    }

    /// Storage failures are logged loudly; validation failures are the client's.
    pub fn is_storage_error(&self) -> bool {
        matches!(self, PartitionError::Log(_) | PartitionError::FlushTask(_))
            || matches!(self, PartitionError::Append(AppendError::Storage(_)))
            || matches!(self, PartitionError::Read(ReadError::Storage(_)))
            || matches!(
                self,
                PartitionError::DeleteRecords(strom_log::DeleteRecordsError::Storage(_))
            )
    }
}
