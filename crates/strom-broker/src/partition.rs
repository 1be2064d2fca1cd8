//! One partition hosted by this broker, as its leader or as a follower: its
//! log plus the state the Kafka APIs need around it (high watermark, leader
//! epoch, replication state, waiters).
//!
//! **The high watermark.** On a leader it follows the replication rule of
//! `replication::leader`: the minimum of the leader's durable end and every
//! in-sync follower's fetch offset, where "durable end" is the flushed offset
//! with `strom.acks.all.fsync=true` (the default; every append asks for a
//! background fsync shared by all appends meanwhile: group commit) and the
//! log end otherwise. So consumers see a record only once every in-sync
//! replica has it durably: a power loss can never take back a record a
//! consumer has read, nor hand its offset to a different record later
//! (Jepsen's "inconsistent offsets"). On a follower it is the leader's HW
//! from its last fetch answer, capped at this log's end. A partition starts
//! from its checkpointed HW (`replication-offset-checkpoint`), never above.
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
use parking_lot::{Mutex, RwLock};
use tokio::sync::Notify;

use crate::replication::leader::{IsrAnswer, LeaderState};
use strom_log::{
    AppendError, AppendInfo, CleanerStats, CleaningStatus, DirHealth, Log, LogConfig, LogError,
    ReadError, TimestampOffset,
};

pub(crate) struct Partition {
    pub topic: Arc<str>,
    pub index: i32,
    /// The topic's BrokerTopicMetrics counters, resolved when the partition opened.
    pub metrics: Arc<crate::metrics::TopicMetrics>,
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
    /// The topic's `min.insync.replicas`.
    min_insync_replicas: AtomicI32,
    /// Leader or follower, with the replication state of the role. Taken
    /// under the log lock when both are needed (never the other way round).
    role: Mutex<Role>,
    /// Whether `role` is `Leader`, readable without the mutex.
    is_leader: AtomicBool,
    /// Truncations so far (changed under the log's write lock): an fsync
    /// prepared before one does not count after it.
    truncations: AtomicU64,
    /// The log's first unstable offset (the oldest ongoing transaction's first
    /// offset), `i64::MAX` when none is ongoing.
    first_unstable_offset: AtomicI64,
    /// KIP-890: producer id → (epoch, guard) of a verification with the
    /// transaction coordinator in progress or done, not yet used by an append
    /// (Kafka's `VerificationStateEntry`). A marker for the producer drops it.
    verifications: Mutex<std::collections::HashMap<i64, (i16, u64)>>,
    next_verification_guard: AtomicU64,
}

/// What this broker is for the partition.
enum Role {
    Leader(LeaderState),
    Follower {
        /// The leader's broker id, -1 for none.
        leader: i32,
        /// The leader's high watermark from its last fetch answer.
        leader_high_watermark: i64,
    },
}

pub(crate) use crate::replication::leader::IsrProposal;

/// What a follower needs to ask the leader for more.
#[derive(Clone, Copy, Debug)]
pub(crate) struct FollowerPosition {
    pub log_end_offset: i64,
    pub log_start_offset: i64,
    /// The epoch of the last batch it has, -1 for none.
    pub last_fetched_epoch: i32,
}

pub(crate) struct ReadOutcome {
    pub records: Bytes,
    pub high_watermark: i64,
    /// min(high watermark, first unstable offset).
    pub last_stable_offset: i64,
    pub log_start_offset: i64,
    /// For read_committed reads: the aborted transactions among the records.
    pub aborted_transactions: Vec<strom_log::AbortedTxn>,
}

impl Partition {
    /// `durable_high_watermark`: consumers see only what is fsynced
    /// (`strom.acks.all.fsync`).
    ///
    /// A partition starts as a follower of nobody with the high watermark it
    /// checkpointed (never above what was committed); `become_leader` or
    /// `become_follower` gives it its role.
    pub fn new(
        topic: Arc<str>,
        index: i32,
        leader_epoch: i32,
        log: Log,
        durable_high_watermark: bool,
        metrics: Arc<crate::metrics::TopicMetrics>,
    ) -> Self {
        let leo = log.log_end_offset();
        let flushed = log.flushed_offset();
        let lso = log.log_start_offset();
        let hw = log
            .checkpointed_high_watermark()
            .unwrap_or(lso)
            .clamp(lso, leo);
        let offline = log.health().refuses_reads();
        Partition {
            topic,
            index,
            metrics,
            leader_epoch: AtomicI32::new(leader_epoch),
            dir_health: log.dir_health().cloned(),
            flush_messages: AtomicU64::new(log.config().flush_messages.unwrap_or(0)),
            log: RwLock::new(Some(log)),
            data_arrived: Notify::new(),
            flush_lock: tokio::sync::Mutex::new(()),
            flushed_offset: AtomicI64::new(flushed),
            log_end_offset: AtomicI64::new(leo),
            high_watermark: AtomicI64::new(hw),
            log_start_offset: AtomicI64::new(lso),
            durable_high_watermark,
            flush_requested: AtomicBool::new(false),
            offline: AtomicBool::new(offline),
            min_insync_replicas: AtomicI32::new(1),
            role: Mutex::new(Role::Follower {
                leader: -1,
                leader_high_watermark: hw,
            }),
            is_leader: AtomicBool::new(false),
            truncations: AtomicU64::new(0),
            first_unstable_offset: AtomicI64::new(i64::MAX),
            verifications: Mutex::new(std::collections::HashMap::new()),
            next_verification_guard: AtomicU64::new(1),
        }
    }

    /// Whether the partition's log refuses reads after a storage failure,
    /// its own or its directory's.
    pub fn is_offline(&self) -> bool {
        self.dir_health.as_ref().is_some_and(|d| d.is_failed())
            || self.offline.load(Ordering::Acquire)
    }

    /// Publishes the log's offsets after an operation on it and moves the
    /// high watermark: on a leader by the replication rule (see
    /// `replication::leader`), on a follower to the leader's HW as far as
    /// this log reaches. Fetches waiting for data are woken when the log end
    /// or the high watermark moves.
    fn publish(&self, log: &Log) {
        let leo = log.log_end_offset();
        let flushed = log.flushed_offset();
        self.first_unstable_offset.store(
            log.first_unstable_offset().unwrap_or(i64::MAX),
            Ordering::Release,
        );
        let old_leo = self.log_end_offset.swap(leo, Ordering::AcqRel);
        self.flushed_offset.store(flushed, Ordering::Release);
        if log.health().refuses_reads() {
            self.offline.store(true, Ordering::Release);
        }
        let durable_end = if self.durable_high_watermark {
            flushed
        } else {
            leo
        };
        let hw_moved = {
            let mut role = self.role.lock();
            match &mut *role {
                Role::Leader(state) => {
                    state.advance_high_watermark(durable_end);
                    let hw = state.high_watermark();
                    self.high_watermark.fetch_max(hw, Ordering::AcqRel) < hw
                }
                Role::Follower {
                    leader_high_watermark,
                    ..
                } => {
                    let hw = (*leader_high_watermark).min(leo);
                    self.high_watermark.swap(hw, Ordering::AcqRel) != hw
                }
            }
        };
        if hw_moved || old_leo != leo {
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

    /// Kafka's last stable offset: below it every transaction is decided. The high
    /// watermark, or the first offset of the oldest ongoing transaction if that is
    /// lower.
    pub fn last_stable_offset(&self) -> i64 {
        self.high_watermark()
            .min(self.first_unstable_offset.load(Ordering::Acquire))
    }

    /// Appends, as leader, the marker ending producer `producer_id`'s transaction
    /// (WriteTxnMarkers, and the group coordinator for `__consumer_offsets`): one
    /// control batch (Kafka's `EndTransactionMarker`) after the producer epoch and
    /// coordinator epoch checks (INVALID_PRODUCER_EPOCH, TRANSACTION_COORDINATOR_FENCED).
    /// The caller then waits [`Partition::wait_replicated`] past `last_offset + 1`, as
    /// for acks=all. A marker carrying an epoch above the producer's (transaction
    /// version 2) is accepted as Kafka 4 accepts it from a WriteTxnMarkers v1 request.
    pub fn append_txn_marker(
        &self,
        producer_id: i64,
        producer_epoch: i16,
        coordinator_epoch: i32,
        commit: bool,
        now_ms: i64,
    ) -> Result<AppendInfo, PartitionError> {
        let mut guard = self.write_log();
        let log = guard.as_mut().ok_or(PartitionError::Removed)?;
        if !self.is_leader() {
            return Err(PartitionError::Removed);
        }
        // A verification started before the marker belongs to the ended
        // transaction: the next one must ask the coordinator again.
        self.verifications.lock().remove(&producer_id);
        let result = log.append_txn_marker(
            producer_id,
            producer_epoch,
            coordinator_epoch,
            commit,
            false,
            self.leader_epoch(),
            now_ms,
        );
        self.publish(log);
        Ok(result?)
    }

    /// Every producer the partition's log remembers (DescribeProducers).
    pub fn producers(&self) -> Result<Vec<strom_log::ProducerDescription>, PartitionError> {
        let guard = self.read_log();
        let log = guard.as_ref().ok_or(PartitionError::Removed)?;
        Ok(log.producers())
    }

    /// The log directory holding this partition, and the log's size in bytes.
    pub fn dir_and_size(&self) -> Option<(std::path::PathBuf, u64)> {
        let guard = self.read_log();
        let log = guard.as_ref()?;
        Some((log.dir().parent()?.to_path_buf(), log.size_bytes()))
    }

    /// The topic's `min.insync.replicas`.
    pub fn set_min_insync_replicas(&self, min_insync_replicas: i32) {
        self.min_insync_replicas
            .store(min_insync_replicas, Ordering::Release);
    }

    /// The committed ISR's size on a leader, 0 on a follower.
    fn in_sync_count(&self) -> i32 {
        match &*self.role.lock() {
            Role::Leader(state) => i32::try_from(state.isr().len()).unwrap_or(i32::MAX),
            Role::Follower { .. } => 0,
        }
    }

    /// acks=all needs `min.insync.replicas` in-sync replicas (Kafka refuses
    /// the append with NOT_ENOUGH_REPLICAS otherwise).
    pub fn check_min_insync(&self) -> Result<(), PartitionError> {
        let in_sync = self.in_sync_count();
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
        let bytes = records.len() as u64;
        let info = {
            let mut guard = self.write_log();
            let log = guard.as_mut().ok_or(PartitionError::Removed)?;
            // The role changes under this lock too: a broker that stopped
            // leading never appends as leader.
            if !self.is_leader() {
                return Err(PartitionError::Removed);
            }
            let result = log.append_as_leader(records, self.leader_epoch(), now_ms);
            self.publish(log);
            result?
        };
        let messages = u64::try_from(info.last_offset - info.base_offset + 1).unwrap_or(0);
        self.metrics.produced(messages, bytes);
        if self.durable_high_watermark
            && self.flushed_offset.load(Ordering::Acquire) < self.log_end_offset()
        {
            self.request_flush();
        }
        Ok(info)
    }

    /// Whether a transactional batch of the producer at `epoch` needs the
    /// coordinator's verification first: no transaction of it is ongoing
    /// here at that epoch (Kafka's `hasOngoingTransaction`).
    /// A batch of an epoch older than the partition's is not verified: its
    /// append fails with INVALID_PRODUCER_EPOCH at once (KAFKA-18042).
    pub fn needs_verification(&self, producer_id: i64, epoch: i16) -> bool {
        self.read_log()
            .as_ref()
            .is_some_and(|log| needs_verification(log, producer_id, epoch))
    }

    /// Starts (or joins) a verification for the producer at `epoch`; the
    /// guard to append with once the coordinator confirmed.
    pub fn start_verification(&self, producer_id: i64, epoch: i16) -> u64 {
        let mut verifications = self.verifications.lock();
        match verifications.get(&producer_id) {
            Some(&(e, guard)) if e == epoch => guard,
            _ => {
                let guard = self.next_verification_guard.fetch_add(1, Ordering::Relaxed);
                verifications.insert(producer_id, (epoch, guard));
                guard
            }
        }
    }

    /// Drops a verification the coordinator refused.
    pub fn abandon_verification(&self, producer_id: i64, guard: u64) {
        let mut verifications = self.verifications.lock();
        if verifications
            .get(&producer_id)
            .is_some_and(|&(_, g)| g == guard)
        {
            verifications.remove(&producer_id);
        }
    }

    /// A client's append (Produce). With `require_verification`
    /// (`transaction.partition.verification.enable`), a transactional batch
    /// that does not continue an ongoing transaction is appended only with
    /// the guard of a verification still current (no marker since): else
    /// INVALID_TXN_STATE, as Kafka's `batchMissingRequiredVerification`.
    pub fn append_produce(
        self: &Arc<Self>,
        records: Bytes,
        now_ms: i64,
        require_verification: bool,
        guard: Option<u64>,
    ) -> Result<AppendInfo, PartitionError> {
        let header = strom_records::BatchHeader::parse(&records).ok();
        let txn = header
            .filter(|h| h.is_transactional() && !h.is_control() && h.producer_id() >= 0)
            .map(|h| (h.producer_id(), h.producer_epoch()));
        let bytes = records.len() as u64;
        let info = {
            let mut guard_log = self.write_log();
            let log = guard_log.as_mut().ok_or(PartitionError::Removed)?;
            if !self.is_leader() {
                return Err(PartitionError::Removed);
            }
            if let (Some((producer_id, epoch)), true) = (txn, require_verification) {
                if needs_verification(log, producer_id, epoch) {
                    let verified = self.verifications.lock().get(&producer_id).copied();
                    if guard.is_none() || verified != guard.map(|g| (epoch, g)) {
                        return Err(AppendError::InvalidTxnState {
                            producer_id,
                            reason: "the transaction coordinator has not verified that this partition is part of the producer's transaction".into(),
                        }
                        .into());
                    }
                }
            }
            let result = log.append_as_leader(records, self.leader_epoch(), now_ms);
            if result.is_ok() {
                if let Some((producer_id, _)) = txn {
                    // The transaction is ongoing here now: later batches need
                    // no verification.
                    self.verifications.lock().remove(&producer_id);
                }
            }
            self.publish(log);
            result?
        };
        let messages = u64::try_from(info.last_offset - info.base_offset + 1).unwrap_or(0);
        self.metrics.produced(messages, bytes);
        if self.durable_high_watermark
            && self.flushed_offset.load(Ordering::Acquire) < self.log_end_offset()
        {
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

    /// Reads whole batches from `fetch_offset`: up to the high watermark for
    /// consumers, up to the last stable offset for read_committed consumers
    /// (with the aborted transactions of what was read), up to the log end
    /// for a follower (`to_log_end`).
    pub fn read(
        &self,
        fetch_offset: i64,
        max_bytes: usize,
        min_one_message: bool,
        to_log_end: bool,
    ) -> Result<ReadOutcome, PartitionError> {
        self.read_with_isolation(fetch_offset, max_bytes, min_one_message, to_log_end, false)
    }

    /// [`Partition::read`] with Kafka's isolation level (`read_committed`).
    pub fn read_with_isolation(
        &self,
        fetch_offset: i64,
        max_bytes: usize,
        min_one_message: bool,
        to_log_end: bool,
        read_committed: bool,
    ) -> Result<ReadOutcome, PartitionError> {
        let guard = self.read_log();
        let log = guard.as_ref().ok_or(PartitionError::Removed)?;
        let high_watermark = self.high_watermark();
        let last_stable_offset =
            high_watermark.min(log.first_unstable_offset().unwrap_or(i64::MAX));
        let upper = if to_log_end {
            log.log_end_offset()
        } else if read_committed {
            last_stable_offset
        } else {
            high_watermark
        };
        let read = log.read(fetch_offset, max_bytes, min_one_message, upper)?;
        let aborted_transactions = if read_committed && !read.records.is_empty() {
            log.collect_aborted_transactions(fetch_offset, read.next_fetch_offset)
        } else {
            Vec::new()
        };
        Ok(ReadOutcome {
            records: read.records,
            high_watermark,
            last_stable_offset,
            log_start_offset: log.log_start_offset(),
            aborted_transactions,
        })
    }

    /// A future that completes at the next append. Create it *before*
    /// checking for data so an append in between is not missed.
    pub fn data_arrived(&self) -> tokio::sync::futures::Notified<'_> {
        self.data_arrived.notified()
    }

    pub fn is_leader(&self) -> bool {
        self.is_leader.load(Ordering::Acquire)
    }

    /// The leader this replica follows (-1 for none), or `None` when it leads.
    pub fn followed_leader(&self) -> Option<i32> {
        match &*self.role.lock() {
            Role::Leader(_) => None,
            Role::Follower { leader, .. } => Some(*leader),
        }
    }

    /// Becomes (or stays, in a new epoch) the leader: the epoch's start is
    /// recorded in the log's epoch cache, followers start untracked, and the
    /// high watermark carries over.
    pub fn become_leader(
        &self,
        leader_epoch: i32,
        partition_epoch: i32,
        replicas: Vec<i32>,
        isr: Vec<i32>,
        node_id: i32,
        now_ms: i64,
    ) -> Result<(), PartitionError> {
        let mut guard = self.write_log();
        let log = guard.as_mut().ok_or(PartitionError::Removed)?;
        let start = log.log_end_offset();
        if let Err(e) = log.assign_epoch_start(leader_epoch, start) {
            tracing::error!(topic = %self.topic, partition = self.index, "could not record the start of leader epoch {leader_epoch}: {e}");
        }
        *self.role.lock() = Role::Leader(LeaderState::new(
            node_id,
            leader_epoch,
            partition_epoch,
            replicas,
            isr,
            start,
            self.high_watermark(),
            now_ms,
        ));
        self.set_leader_epoch(leader_epoch);
        self.is_leader.store(true, Ordering::Release);
        self.publish(log);
        drop(guard);
        self.data_arrived.notify_waiters();
        Ok(())
    }

    /// A new partition state in the same leader epoch (an ISR change, a
    /// reassignment step).
    pub fn update_leader(
        &self,
        partition_epoch: i32,
        replicas: Vec<i32>,
        isr: Vec<i32>,
        now_ms: i64,
    ) {
        if let Role::Leader(state) = &mut *self.role.lock() {
            state.update(partition_epoch, replicas, isr, now_ms);
        }
        self.republish();
        self.data_arrived.notify_waiters();
    }

    /// Follows `leader` (-1: nobody yet) in `leader_epoch`. Requests waiting
    /// on this partition as leader are woken and fail.
    pub fn become_follower(&self, leader: i32, leader_epoch: i32) {
        {
            // Exclusive with appends, which check the role under this lock.
            let _log = self.write_log();
            let mut role = self.role.lock();
            let hw = self.high_watermark();
            *role = Role::Follower {
                leader,
                leader_high_watermark: hw,
            };
            self.set_leader_epoch(leader_epoch);
            self.is_leader.store(false, Ordering::Release);
        }
        self.data_arrived.notify_waiters();
    }

    /// Publishes again from the log (after a role or ISR change).
    fn republish(&self) {
        let guard = self.read_log();
        if let Some(log) = guard.as_ref() {
            self.publish(log);
        }
    }

    /// The leader saw a follower fetch from `fetch_offset`: its progress is
    /// recorded, the high watermark may move, and an ISR expansion may be
    /// proposed (to send to the controller). Refused unless this replica
    /// leads and the fetcher is one of the partition's replicas.
    pub fn on_follower_fetch(
        &self,
        replica: i32,
        fetch_offset: i64,
        now_ms: i64,
        is_alive: impl Fn(i32) -> bool,
    ) -> Result<Option<IsrProposal>, PartitionError> {
        let guard = self.read_log();
        let log = guard.as_ref().ok_or(PartitionError::Removed)?;
        let proposal = {
            let mut role = self.role.lock();
            let Role::Leader(state) = &mut *role else {
                return Err(PartitionError::Removed);
            };
            if !state.on_follower_fetch(replica, fetch_offset, log.log_end_offset(), now_ms) {
                return Err(PartitionError::NotAReplica { replica });
            }
            state.expansion(is_alive).map(|isr| state.proposed(isr))
        };
        self.publish(log);
        Ok(proposal)
    }

    /// The ISR change to send now: a proposal whose request got no settling
    /// answer, again, or a shrink if followers fell out of sync.
    pub fn isr_shrink(&self, now_ms: i64, lag_ms: u64) -> Option<IsrProposal> {
        let leo = self.log_end_offset();
        let mut role = self.role.lock();
        let Role::Leader(state) = &mut *role else {
            return None;
        };
        if let Some(again) = state.unanswered_proposal() {
            return Some(again);
        }
        let isr = state.shrink(leo, now_ms, lag_ms)?;
        Some(state.proposed(isr))
    }

    /// The controller's answer to this partition's ISR `proposal`.
    pub fn isr_answered(&self, proposal: &IsrProposal, answer: IsrAnswer) {
        if let Role::Leader(state) = &mut *self.role.lock() {
            state.answered(proposal, answer);
        }
        self.republish();
        self.data_arrived.notify_waiters();
    }

    /// Waits until every in-sync replica has the records below `end` (the
    /// high watermark passed it), as acks=all requires. Fails with
    /// NOT_ENOUGH_REPLICAS_AFTER_APPEND when the ISR shrank below
    /// `min.insync.replicas` meanwhile, NOT_LEADER_OR_FOLLOWER when this
    /// broker stopped leading, KAFKA_STORAGE_ERROR when the leader's own log
    /// cannot be made durable, REQUEST_TIMED_OUT at `deadline`.
    pub async fn wait_replicated(
        self: &Arc<Self>,
        end: i64,
        deadline: tokio::time::Instant,
    ) -> Result<(), PartitionError> {
        if self.durable_high_watermark {
            // The leader's own fsync; followers make theirs before fetching on.
            let flush = tokio::time::timeout_at(deadline, self.flush_up_to(end));
            match flush.await {
                Ok(result) => result?,
                Err(_) => return Err(PartitionError::TimedOut),
            }
        }
        loop {
            let notified = self.data_arrived();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if !self.is_leader() {
                return Err(PartitionError::Removed);
            }
            if self.high_watermark() >= end {
                let in_sync = self.in_sync_count();
                let min = self.min_insync_replicas.load(Ordering::Acquire);
                if in_sync < min {
                    return Err(PartitionError::NotEnoughReplicasAfterAppend { in_sync, min });
                }
                return Ok(());
            }
            if self.is_offline() {
                return Err(PartitionError::NotDurable {
                    offset: end,
                    flushed: self.flushed_offset.load(Ordering::Acquire),
                });
            }
            tokio::select! {
                _ = notified => {}
                _ = tokio::time::sleep_until(deadline) => return Err(PartitionError::TimedOut),
            }
        }
    }

    /// Where a follower stands, for its next fetch.
    pub fn follower_position(&self) -> Result<FollowerPosition, PartitionError> {
        let guard = self.read_log();
        let log = guard.as_ref().ok_or(PartitionError::Removed)?;
        Ok(FollowerPosition {
            log_end_offset: log.log_end_offset(),
            log_start_offset: log.log_start_offset(),
            last_fetched_epoch: log.latest_epoch().unwrap_or(-1),
        })
    }

    /// Appends what the leader sent, as it is, and takes the leader's high
    /// watermark (capped at this log's end).
    pub fn append_as_follower(
        &self,
        records: Bytes,
        leader_high_watermark: i64,
        leader_log_start: i64,
    ) -> Result<AppendInfo, PartitionError> {
        let mut guard = self.write_log();
        let log = guard.as_mut().ok_or(PartitionError::Removed)?;
        let info = if records.is_empty() {
            None
        } else {
            self.metrics.replicated_in(records.len() as u64);
            Some(log.append_as_follower(records))
        };
        if leader_log_start > log.log_start_offset() {
            let high = leader_log_start.min(log.log_end_offset());
            if high > log.log_start_offset() {
                if let Ok(low) = log.increase_log_start_offset(high, log.log_end_offset()) {
                    self.log_start_offset.store(low, Ordering::Release);
                }
            }
        }
        if let Role::Follower {
            leader_high_watermark: hw,
            ..
        } = &mut *self.role.lock()
        {
            *hw = leader_high_watermark;
        }
        self.publish(log);
        match info {
            None => Ok(AppendInfo {
                base_offset: log.log_end_offset(),
                last_offset: log.log_end_offset() - 1,
                log_append_time_ms: -1,
                log_start_offset: log.log_start_offset(),
                record_count: 0,
                max_timestamp: -1,
                duplicate: false,
            }),
            Some(result) => Ok(result?),
        }
    }

    /// The leader's answer to "where does epoch `epoch` end in your log"
    /// (OffsetForLeaderEpoch, and a fetch's diverging-epoch check): Kafka's
    /// (epoch, end offset), (-1, -1) when unknown.
    pub fn end_offset_for_epoch(&self, epoch: i32) -> Result<(i32, i64), PartitionError> {
        let guard = self.read_log();
        let log = guard.as_ref().ok_or(PartitionError::Removed)?;
        Ok(log.end_offset_for_epoch(epoch))
    }

    /// Removes every record at or after `offset` (a follower diverged from
    /// the leader's history).
    pub fn truncate_to(&self, offset: i64) -> Result<(), PartitionError> {
        let mut guard = self.write_log();
        let log = guard.as_mut().ok_or(PartitionError::Removed)?;
        if offset < log.log_end_offset() {
            tracing::info!(topic = %self.topic, partition = self.index, from = log.log_end_offset(), to = offset, "truncating the log to the leader's history");
        }
        self.truncations.fetch_add(1, Ordering::AcqRel);
        let result = log.truncate_to(offset);
        self.log_start_offset
            .store(log.log_start_offset(), Ordering::Release);
        self.publish(log);
        Ok(result?)
    }

    /// Empties the log and restarts it at `offset` (the leader's log start
    /// is past this replica's end).
    pub fn truncate_fully_and_start_at(&self, offset: i64) -> Result<(), PartitionError> {
        let mut guard = self.write_log();
        let log = guard.as_mut().ok_or(PartitionError::Removed)?;
        tracing::info!(topic = %self.topic, partition = self.index, offset, "the leader's log starts past this replica's end: restarting the log there");
        self.truncations.fetch_add(1, Ordering::AcqRel);
        let result = log.truncate_fully_and_start_at(offset);
        self.log_start_offset
            .store(log.log_start_offset(), Ordering::Release);
        self.publish(log);
        Ok(result?)
    }

    /// Records the high watermark for the next `replication-offset-checkpoint`.
    pub fn checkpoint_high_watermark(&self) {
        if let Some(guard) = self.log.try_read() {
            if let Some(log) = guard.as_ref() {
                log.checkpoint_high_watermark(self.high_watermark());
            }
        }
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
        // A truncation between preparing and completing the fsync makes its
        // result meaningless (the offsets it covered may hold other records
        // by then): it is thrown away and the fsync done again.
        for _ in 0..3 {
            let truncations = self.truncations.load(Ordering::Acquire);
            let pending = {
                let guard = self.read_log();
                let log = guard.as_ref().ok_or(PartitionError::Removed)?;
                let pending = log.prepare_flush();
                if pending.is_err() {
                    self.publish(log);
                }
                pending?
            };
            let started = std::time::Instant::now();
            let result = match tokio::task::spawn_blocking(move || pending.sync()).await {
                Ok(result) => result,
                Err(e) => return Err(PartitionError::FlushTask(e.to_string())),
            };
            let mut guard = self.write_log();
            let log = guard.as_mut().ok_or(PartitionError::Removed)?;
            if self.truncations.load(Ordering::Acquire) != truncations {
                continue;
            }
            self.metrics.log_flush.observe(started.elapsed());
            let completed = log.complete_flush(result);
            self.publish(log);
            completed?;
            break;
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
fn needs_verification(log: &Log, producer_id: i64, epoch: i16) -> bool {
    !log.has_ongoing_transaction(producer_id, epoch)
        && log
            .producer_epoch(producer_id)
            .is_none_or(|current| epoch >= current)
}

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
    #[error("broker {replica} is not a replica of this partition")]
    NotAReplica { replica: i32 },
    #[error("the in-sync replicas did not all acknowledge the records within the request timeout")]
    TimedOut,
    #[error("the partition's ISR shrank to {in_sync}, below min.insync.replicas={min}, while the records were being replicated: they are written but not acknowledged by enough replicas")]
    NotEnoughReplicasAfterAppend { in_sync: i32, min: i32 },
    #[error("the partition has {in_sync} in-sync replicas, fewer than min.insync.replicas={min}: acks=all cannot be met; lower min.insync.replicas or use acks=1")]
    NotEnoughReplicas { in_sync: i32, min: i32 },
    #[error("offset {offset} is not durable: the log is flushed only up to {flushed}")]
    NotDurable { offset: i64, flushed: i64 },
    #[error(transparent)]
    DeleteRecords(#[from] strom_log::DeleteRecordsError),
}

impl PartitionError {
    /// The records an append was refused for, if it was for records (see
    /// [`strom_log::AppendError::record_errors`]).
    pub fn record_errors(&self) -> Option<&strom_log::RecordValidation> {
        match self {
            PartitionError::Append(e) => e.record_errors(),
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
            PartitionError::NotEnoughReplicasAfterAppend { .. } => {
                kafka_protocol::error::ResponseError::NotEnoughReplicasAfterAppend.code()
            }
            PartitionError::NotAReplica { .. } => {
                kafka_protocol::error::ResponseError::NotLeaderOrFollower.code()
            }
            PartitionError::TimedOut => {
                kafka_protocol::error::ResponseError::RequestTimedOut.code()
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
