//! One partition hosted by this broker: its log plus the state the Kafka
//! APIs need around it (high watermark, leader epoch, waiters).
//!
//! **The high watermark.** With `strom.acks.all.fsync=true` (the default) it
//! is the flushed offset: consumers see a record only once it is durable on
//! this broker, so a power loss can never take back a record a consumer has
//! read, nor hand its offset to a different record later (Jepsen's
//! "inconsistent offsets"). Every append asks for a background fsync that
//! all appends arriving meanwhile share (group commit), so acks=0/1 records
//! become visible one fsync after their append. With
//! `strom.acks.all.fsync=false` the high watermark is the log end offset
//! (page cache), as in single-broker Kafka.
//!
//! **Locking.** The log sits behind a `RwLock`. Request paths take it
//! through `read_log`/`write_log`, which wait in `block_in_place` when the
//! cleaner holds it; background tasks use `try_*` and skip a busy log.
//! Appends take it for writing (page-cache writes, microseconds), reads for
//! reading. fsync never runs under the lock: `flush_up_to` captures the
//! files to sync under a read lock, syncs on the blocking pool, and
//! group-commits: concurrent waiters share one fsync. (A segment roll inside
//! an append fsyncs the closed segment under the lock, once per segment.)
//!
//! **Failures.** After a failed fsync the log directory is offline
//! (`strom_log::LogHealth`): the flushed offset, and so the high watermark,
//! never move again, and every waiter gets KAFKA_STORAGE_ERROR. A full disk
//! only stops writes; what is durable stays readable.

use std::sync::atomic::{AtomicBool, AtomicI32, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::RwLock;
use tokio::sync::Notify;

use strom_log::{
    AppendError, AppendInfo, CleanerStats, CleaningStatus, DirHealth, Log, LogConfig, LogError,
    ReadError, TimestampOffset,
};

pub(crate) struct Partition {
    pub topic: Arc<str>,
    pub index: i32,
    leader_epoch: AtomicI32,
    /// `None` once the partition was removed (topic deleted, shutdown); in-flight
    /// requests holding the partition then see NOT_LEADER_OR_FOLLOWER.
    log: RwLock<Option<Log>>,
    /// Notified when the high watermark moves, for fetches waiting on `fetch.min.bytes`.
    data_arrived: Notify,
    flush_lock: tokio::sync::Mutex<()>,
    /// Every offset below this is durable.
    flushed_offset: AtomicI64,
    log_end_offset: AtomicI64,
    /// What consumers may read: the flushed offset when `durable_high_watermark`,
    /// else the log end offset (see the module doc).
    high_watermark: AtomicI64,
    log_start_offset: AtomicI64,
    durable_high_watermark: bool,
    /// A background flush is on its way (group commit for appends nobody waits on).
    flush_requested: AtomicBool,
    /// The topic's `flush.messages`, 0 for none: checked on the append path, as in Kafka.
    flush_messages: AtomicU64,
    /// The log directory's health, shared with its other logs; read without the lock.
    dir_health: Option<Arc<DirHealth>>,
    /// Set once this log refuses reads (see `strom_log::LogHealth`).
    offline: AtomicBool,
    /// In-sync replicas and the topic's `min.insync.replicas`, from the metadata.
    in_sync: AtomicI32,
    min_insync_replicas: AtomicI32,
}

pub(crate) struct ReadOutcome {
    pub records: Bytes,
    pub high_watermark: i64,
    pub log_start_offset: i64,
}

impl Partition {
    /// `durable_high_watermark`: consumers see only what is fsynced
    /// (`strom.acks.all.fsync`).
    pub fn new(
        topic: Arc<str>,
        index: i32,
        leader_epoch: i32,
        log: Log,
        durable_high_watermark: bool,
    ) -> Self {
        let leo = log.log_end_offset();
        let flushed = log.flushed_offset();
        let lso = log.log_start_offset();
        let offline = log.health().refuses_reads();
        Partition {
            topic,
            index,
            leader_epoch: AtomicI32::new(leader_epoch),
            dir_health: log.dir_health().cloned(),
            flush_messages: AtomicU64::new(log.config().flush_messages.unwrap_or(0)),
            log: RwLock::new(Some(log)),
            data_arrived: Notify::new(),
            flush_lock: tokio::sync::Mutex::new(()),
            flushed_offset: AtomicI64::new(flushed),
            log_end_offset: AtomicI64::new(leo),
            high_watermark: AtomicI64::new(if durable_high_watermark { flushed } else { leo }),
            log_start_offset: AtomicI64::new(lso),
            durable_high_watermark,
            flush_requested: AtomicBool::new(false),
            offline: AtomicBool::new(offline),
            in_sync: AtomicI32::new(1),
            min_insync_replicas: AtomicI32::new(1),
        }
    }

    /// Whether the partition's log refuses reads after a storage failure,
    /// its own or its directory's.
    pub fn is_offline(&self) -> bool {
        self.dir_health.as_ref().is_some_and(|d| d.is_failed())
            || self.offline.load(Ordering::Acquire)
    }

    /// Publishes the log's offsets after an operation on it: the flushed
    /// offset, the log end and the high watermark only ever grow, and
    /// waiting fetches are woken when the high watermark does.
    fn publish(&self, log: &Log) {
        let leo = log.log_end_offset();
        let flushed = log.flushed_offset();
        self.log_end_offset.fetch_max(leo, Ordering::AcqRel);
        self.flushed_offset.fetch_max(flushed, Ordering::AcqRel);
        if log.health().refuses_reads() {
            self.offline.store(true, Ordering::Release);
        }
        let hw = if self.durable_high_watermark {
            flushed
        } else {
            leo
        };
        if self.high_watermark.fetch_max(hw, Ordering::AcqRel) < hw {
            self.data_arrived.notify_waiters();
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

    /// The log directory holding this partition, and the log's size in bytes.
    pub fn dir_and_size(&self) -> Option<(std::path::PathBuf, u64)> {
        let guard = self.read_log();
        let log = guard.as_ref()?;
        Some((log.dir().parent()?.to_path_buf(), log.size_bytes()))
    }

    /// The partition's in-sync replica count and `min.insync.replicas`.
    pub fn set_in_sync(&self, in_sync: usize, min_insync_replicas: i32) {
        self.in_sync.store(
            i32::try_from(in_sync).unwrap_or(i32::MAX),
            Ordering::Release,
        );
        self.min_insync_replicas
            .store(min_insync_replicas, Ordering::Release);
    }

    /// acks=all needs `min.insync.replicas` in-sync replicas (Kafka refuses
    /// the append with NOT_ENOUGH_REPLICAS otherwise).
    pub fn check_min_insync(&self) -> Result<(), PartitionError> {
        let in_sync = self.in_sync.load(Ordering::Acquire);
        let min = self.min_insync_replicas.load(Ordering::Acquire);
        if in_sync < min {
            return Err(PartitionError::NotEnoughReplicas { in_sync, min });
        }
        Ok(())
    }

    pub fn log_end_offset(&self) -> i64 {
        self.log_end_offset.load(Ordering::Acquire)
    }

    /// Appends as leader. With a durable high watermark a background fsync
    /// follows, shared with every append that arrives before it runs.
    pub fn append(
        self: &Arc<Self>,
        records: Bytes,
        now_ms: i64,
    ) -> Result<AppendInfo, PartitionError> {
        let info = {
            let mut guard = self.write_log();
            let log = guard.as_mut().ok_or(PartitionError::Removed)?;
            let result = log.append_as_leader(records, self.leader_epoch(), now_ms);
            self.publish(log);
            result?
        };
        if self.durable_high_watermark && self.high_watermark() < self.log_end_offset() {
            self.request_flush();
        }
        Ok(info)
    }

    /// Whether the topic's `flush.messages` asks for an fsync before an
    /// append up to `end` is answered (Kafka flushes on the append path).
    pub fn flush_due(&self, end: i64) -> bool {
        let every = self.flush_messages.load(Ordering::Acquire);
        every > 0 && (end - self.flushed_offset.load(Ordering::Acquire)).max(0) as u64 >= every
    }

    /// Starts a background fsync of everything appended so far, unless one
    /// is already on its way: an append that finishes before that flush
    /// reads the log end offset is covered by it.
    fn request_flush(self: &Arc<Self>) {
        if self.flush_requested.swap(true, Ordering::AcqRel) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            self.flush_requested.store(false, Ordering::Release);
            return;
        };
        let this = Arc::clone(self);
        runtime.spawn(async move {
            this.flush_requested.store(false, Ordering::Release);
            let end = this.log_end_offset();
            if let Err(e) = this.flush_up_to(end).await {
                if !matches!(e, PartitionError::Removed) {
                    tracing::debug!(topic = %this.topic, partition = this.index, "background flush failed: {e}");
                }
            }
        });
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
    /// among all callers that arrive while it runs. Fails, and keeps failing,
    /// once the log directory is offline; never answers Ok unless `offset`
    /// is flushed.
    pub async fn flush_up_to(self: &Arc<Self>, offset: i64) -> Result<(), PartitionError> {
        if self.flushed_offset.load(Ordering::Acquire) >= offset {
            return Ok(());
        }
        let _guard = self.flush_lock.lock().await;
        if self.flushed_offset.load(Ordering::Acquire) >= offset {
            return Ok(());
        }
        let pending = {
            let guard = self.read_log();
            let log = guard.as_ref().ok_or(PartitionError::Removed)?;
            let pending = log.prepare_flush();
            if pending.is_err() {
                self.publish(log);
            }
            pending?
        };
        let result = match tokio::task::spawn_blocking(move || pending.sync()).await {
            Ok(result) => result,
            Err(e) => return Err(PartitionError::FlushTask(e.to_string())),
        };
        {
            let mut guard = self.write_log();
            let log = guard.as_mut().ok_or(PartitionError::Removed)?;
            let completed = log.complete_flush(result);
            self.publish(log);
            completed?;
        }
        let flushed = self.flushed_offset.load(Ordering::Acquire);
        if flushed < offset {
            return Err(PartitionError::NotDurable { offset, flushed });
        }
        Ok(())
    }

    /// Applies `flush.ms` (and `flush.messages` for appends nobody waited
    /// on): starts a background flush when one is due. The fsync itself runs
    /// on the blocking pool, outside the lock.
    pub fn maybe_flush(self: &Arc<Self>, now_ms: i64) {
        // Background tasks run on the async workers: a log held by the
        // cleaner is skipped until the next tick rather than blocking.
        let due = {
            let Some(guard) = self.log.try_read() else {
                return;
            };
            let Some(log) = guard.as_ref() else { return };
            log.flush_due(now_ms)
        };
        if due {
            if let Some(mut guard) = self.log.try_write() {
                if let Some(log) = guard.as_mut() {
                    log.note_flush_started(now_ms);
                }
            }
            self.request_flush();
        }
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

    /// Forgets producer ids past `producer.id.expiration.ms`; the number forgotten.
    pub fn remove_expired_producers(&self, now_ms: i64) -> usize {
        // Skipped (until the next check) while the cleaner holds the log.
        match self.log.try_write().as_mut().and_then(|g| g.as_mut()) {
            Some(log) if !log.is_offline() => log.remove_expired_producers(now_ms),
            _ => 0,
        }
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
        self.flush_messages
            .store(config.flush_messages.unwrap_or(0), Ordering::Release);
        if let Some(log) = self.write_log().as_mut() {
            if log.config() != &config {
                log.update_config(config);
            }
        }
    }

    /// Takes the log out; later requests on this partition get
    /// NOT_LEADER_OR_FOLLOWER.
    pub fn remove(&self) -> Option<Log> {
        self.write_log().take()
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
    #[error("the partition has {in_sync} in-sync replicas, fewer than min.insync.replicas={min}: acks=all cannot be met; lower min.insync.replicas or use acks=1")]
    NotEnoughReplicas { in_sync: i32, min: i32 },
    #[error("offset {offset} is not durable: the log is flushed only up to {flushed}")]
    NotDurable { offset: i64, flushed: i64 },
    #[error(transparent)]
    DeleteRecords(#[from] strom_log::DeleteRecordsError),
}

impl PartitionError {
    /// The record an append was refused for, if one was (see
    /// [`AppendError::record_error`]).
    pub fn record_error(&self) -> Option<(i32, String, &'static str)> {
        match self {
            PartitionError::Append(e) => e.record_error(),
            _ => None,
        }
    }

    /// Kafka's error code for this failure.
    pub fn error_code(&self) -> i16 {
        match self {
            PartitionError::Removed => {
                kafka_protocol::error::ResponseError::NotLeaderOrFollower.code()
            }
            PartitionError::NotEnoughReplicas { .. } => {
                kafka_protocol::error::ResponseError::NotEnoughReplicas.code()
            }
            PartitionError::Append(e) => e.error_code(),
            PartitionError::Read(e) => e.error_code(),
            PartitionError::Log(e) => e.error_code(),
            PartitionError::FlushTask(_) | PartitionError::NotDurable { .. } => {
                kafka_protocol::error::ResponseError::KafkaStorageError.code()
            }
            PartitionError::DeleteRecords(e) => e.error_code(),
        }
    }

    /// Storage failures are logged loudly, once: a log refusing work after
    /// an earlier failure (already logged) is not; validation failures are
    /// the client's.
    pub fn is_storage_error(&self) -> bool {
        let log_error = match self {
            PartitionError::Log(e)
            | PartitionError::Append(AppendError::Storage(e))
            | PartitionError::Read(ReadError::Storage(e))
            | PartitionError::DeleteRecords(strom_log::DeleteRecordsError::Storage(e)) => e,
            PartitionError::FlushTask(_) | PartitionError::NotDurable { .. } => return true,
            _ => return false,
        };
        !matches!(log_error, LogError::Offline { .. })
    }
}
