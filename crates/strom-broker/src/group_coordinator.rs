//! The group coordinator's driver: one task per `__consumer_offsets`
//! partition this broker leads, each owning a `GroupShard`.
//!
//! A task loads its shard by replaying the partition, then takes requests
//! one after another: the shard decides, the task appends the records the
//! shard produced (one batch per round) and waits until every in-sync
//! replica has it (durable on each with `strom.acks.all.fsync`), as Kafka's
//! `offsets.commit.required.acks=-1` asks, and only then sends the replies. Requests that queue up while an append
//! is in flight are decided together and share the next append.
//!
//! A failed append reloads the shard from the log, so the shard's memory is
//! never ahead of what is written; the requests of that round get
//! NOT_COORDINATOR and retry.
//!
//! Transactions (KIP-98): a TxnOffsetCommit is decided alone, after the round
//! before it is written, and its records go in one transactional batch of
//! the producer (so replicas and a later load see them as part of the
//! transaction, and the partition's last stable offset covers them). A
//! transaction marker from WriteTxnMarkers is appended the same way, between
//! rounds; once the ISR has it the shard commits or drops the producer's
//! pending offsets. Loading replays markers into the shard.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use parking_lot::Mutex;
use tokio::sync::{mpsc, oneshot, watch};
use tracing::{error, info, warn};

use strom_config::BrokerConfig;
use strom_coordinator::api::{ErrorCode, Reply, ReplyId};
use strom_coordinator::{GroupConfig, GroupShard, CONSUMER_OFFSETS_TOPIC};
use strom_metadata::MetadataImage;
use strom_records::{BatchBuilder, Compression, EndTransactionMarker, RecordBatch, TimestampType};

use crate::broker::now_ms;
use crate::partition::{Partition, PartitionError};

/// Requests a shard task takes.
pub(crate) type Op = Box<dyn FnOnce(&mut GroupShard, ReplyId, i64) + Send>;

enum Command {
    /// A request decided with others of its round; its records share the round's batch.
    Op {
        op: Op,
        reply: oneshot::Sender<Result<Reply, ErrorCode>>,
    },
    /// Handled alone, between rounds.
    Alone(Alone),
}

enum Alone {
    /// A TxnOffsetCommit: decided alone, its records written as one
    /// transactional batch of the producer.
    Txn {
        producer_id: i64,
        producer_epoch: i16,
        /// KIP-890: append only with this verification (`Some(guard)`
        /// when the coordinator confirmed the partition; `Some(None)` when
        /// none was needed); `None` when verification is off.
        verification: Option<Option<u64>>,
        op: Op,
        reply: oneshot::Sender<Result<Reply, ErrorCode>>,
    },
    /// A transaction marker to append, then apply to the shard.
    Marker {
        producer_id: i64,
        producer_epoch: i16,
        coordinator_epoch: i32,
        commit: bool,
        reply: oneshot::Sender<Result<(), ErrorCode>>,
    },
}

struct ShardHandle {
    partition: Arc<Partition>,
    /// The leader epoch the shard was loaded in: a new epoch reloads it.
    leader_epoch: i32,
    tx: mpsc::Sender<Command>,
    loaded: watch::Receiver<bool>,
}

pub(crate) struct GroupCoordinator {
    config: GroupConfig,
    /// Partitions of `__consumer_offsets`: the existing topic's count once it
    /// exists (a later change of `offsets.topic.num.partitions` must not move groups).
    num_partitions: AtomicI32,
    shards: Mutex<HashMap<i32, ShardHandle>>,
    /// Consumer groups' own session timeout and heartbeat interval (group configs from the
    /// metadata image); every shard reads the latest before each round and when it loads, so
    /// a shard loaded after a failover applies them from its first request.
    group_timeouts: watch::Sender<Arc<GroupTimeouts>>,
}

/// Group id → (session timeout ms, heartbeat interval ms).
type GroupTimeouts = HashMap<String, (i32, i32)>;

/// Most requests decided before one append.
const MAX_ROUND: usize = 256;

impl GroupCoordinator {
    pub fn new(config: &BrokerConfig) -> Self {
        let g = &config.groups;
        GroupCoordinator {
            config: GroupConfig {
                min_session_timeout_ms: g.min_session_timeout_ms,
                max_session_timeout_ms: g.max_session_timeout_ms,
                initial_rebalance_delay_ms: g.initial_rebalance_delay_ms,
                max_size: g.max_size.max(1) as usize,
                offset_metadata_max_bytes: g.offset_metadata_max_bytes.max(0) as usize,
                offsets_retention_ms: g.offsets_retention_ms,
                offsets_retention_check_interval_ms: g.offsets_retention_check_interval_ms,
                consumer_session_timeout_ms: g.consumer_session_timeout_ms,
                consumer_heartbeat_interval_ms: g.consumer_heartbeat_interval_ms,
                consumer_max_size: g.consumer_max_size.max(1) as usize,
            },
            num_partitions: AtomicI32::new(g.offsets_topic_num_partitions),
            shards: Mutex::new(HashMap::new()),
            group_timeouts: watch::channel(Arc::new(GroupTimeouts::new())).0,
        }
    }

    /// Takes the group configurations of `image` (KIP-848 `consumer.session.timeout.ms`,
    /// `consumer.heartbeat.interval.ms`), over this broker's defaults in `config`.
    pub fn set_group_configs(&self, image: &MetadataImage, config: &BrokerConfig) {
        let timeouts: GroupTimeouts = image
            .group_configs()
            .iter()
            .map(|(group, overrides)| {
                let timeouts = strom_config::consumer_group_timeouts(overrides, config);
                (group.clone(), timeouts)
            })
            .collect();
        self.group_timeouts.send_if_modified(|current| {
            let changed = **current != timeouts;
            if changed {
                *current = Arc::new(timeouts);
            }
            changed
        });
    }

    /// The `__consumer_offsets` partition of a group.
    pub fn partition_for(&self, group_id: &str) -> i32 {
        strom_coordinator::partition_for(group_id, self.num_partitions.load(Ordering::Acquire))
    }

    /// Starts shards for the `__consumer_offsets` partitions this broker now
    /// leads and stops those it no longer leads.
    pub fn sync_shards(&self, partition_count: Option<i32>, hosted: Vec<Arc<Partition>>) {
        if let Some(n) = partition_count.filter(|n| *n > 0) {
            self.num_partitions.store(n, Ordering::Release);
        }
        let mut shards = self.shards.lock();
        let keep: HashMap<i32, Arc<Partition>> = hosted.into_iter().map(|p| (p.index, p)).collect();
        shards.retain(|index, handle| {
            let same = keep.get(index).is_some_and(|p| {
                Arc::ptr_eq(p, &handle.partition) && p.leader_epoch() == handle.leader_epoch
            });
            if !same {
                info!(partition = index, "group coordinator shard unloaded");
            }
            same
        });
        for (index, partition) in keep {
            if shards.contains_key(&index) {
                continue;
            }
            let (tx, rx) = mpsc::channel(1024);
            let (loaded_tx, loaded) = watch::channel(false);
            tokio::spawn(run_shard(
                partition.clone(),
                self.config.clone(),
                self.group_timeouts.subscribe(),
                rx,
                loaded_tx,
            ));
            shards.insert(
                index,
                ShardHandle {
                    leader_epoch: partition.leader_epoch(),
                    partition,
                    tx,
                    loaded,
                },
            );
        }
    }

    /// Runs `op` on the shard of `group_id` and waits for its reply.
    pub async fn call(&self, group_id: &str, op: Op) -> Result<Reply, ErrorCode> {
        let index = self.partition_for(group_id);
        self.call_partition(index, op).await
    }

    pub async fn call_partition(&self, index: i32, op: Op) -> Result<Reply, ErrorCode> {
        let (reply, rx) = oneshot::channel();
        self.send(index, Command::Op { op, reply }).await?;
        rx.await.map_err(|_| ResponseError::NotCoordinator.code())?
    }

    /// Runs a TxnOffsetCommit `op` on the shard of `__consumer_offsets`
    /// partition `index`; its records are written as a transactional batch of
    /// `producer_id` / `producer_epoch`.
    pub async fn call_transactional(
        &self,
        index: i32,
        producer_id: i64,
        producer_epoch: i16,
        verification: Option<Option<u64>>,
        op: Op,
    ) -> Result<Reply, ErrorCode> {
        let (reply, rx) = oneshot::channel();
        let command = Command::Alone(Alone::Txn {
            producer_id,
            producer_epoch,
            verification,
            op,
            reply,
        });
        self.send(index, command).await?;
        rx.await.map_err(|_| ResponseError::NotCoordinator.code())?
    }

    /// Ends producer `producer_id`'s transaction in `__consumer_offsets`
    /// partition `index` (WriteTxnMarkers): appends the marker through the
    /// shard task, waits until the ISR has it, then commits or drops the
    /// producer's pending offsets. A partition whose shard is not here or not
    /// loaded answers NOT_LEADER_OR_FOLLOWER, which the transaction
    /// coordinator retries (Kafka translates its coordinator errors so);
    /// a fenced epoch answers the log's error (INVALID_PRODUCER_EPOCH,
    /// TRANSACTION_COORDINATOR_FENCED).
    pub async fn complete_transaction(
        &self,
        index: i32,
        producer_id: i64,
        producer_epoch: i16,
        coordinator_epoch: i32,
        commit: bool,
    ) -> Result<(), i16> {
        let not_ready = |code: ErrorCode| {
            let retriable = [
                ResponseError::NotCoordinator.code(),
                ResponseError::CoordinatorNotAvailable.code(),
                ResponseError::CoordinatorLoadInProgress.code(),
            ];
            if retriable.contains(&code) {
                ResponseError::NotLeaderOrFollower.code()
            } else {
                code
            }
        };
        let (reply, rx) = oneshot::channel();
        let command = Command::Alone(Alone::Marker {
            producer_id,
            producer_epoch,
            coordinator_epoch,
            commit,
            reply,
        });
        self.send(index, command).await.map_err(not_ready)?;
        match rx.await {
            Ok(result) => result.map_err(not_ready),
            Err(_) => Err(ResponseError::NotLeaderOrFollower.code()),
        }
    }

    async fn send(&self, index: i32, command: Command) -> Result<(), ErrorCode> {
        let tx = {
            let shards = self.shards.lock();
            let Some(handle) = shards.get(&index) else {
                return Err(ResponseError::NotCoordinator.code());
            };
            if handle.partition.is_offline() {
                // The partition's log directory failed: the shard cannot load
                // nor write; clients look for the coordinator again.
                return Err(ResponseError::CoordinatorNotAvailable.code());
            }
            if !*handle.loaded.borrow() {
                return Err(ResponseError::CoordinatorLoadInProgress.code());
            }
            handle.tx.clone()
        };
        tx.send(command)
            .await
            .map_err(|_| ResponseError::NotCoordinator.code())
    }

    /// Partitions with a loaded shard, for requests that ask every shard (ListGroups).
    pub fn loaded_partitions(&self) -> Vec<i32> {
        let shards = self.shards.lock();
        let mut v: Vec<i32> = shards
            .iter()
            .filter(|(_, h)| *h.loaded.borrow())
            .map(|(i, _)| *i)
            .collect();
        v.sort_unstable();
        v
    }

    /// Shards still loading: ListGroups answers COORDINATOR_LOAD_IN_PROGRESS while any is.
    pub fn any_loading(&self) -> bool {
        self.shards.lock().values().any(|h| !*h.loaded.borrow())
    }

    /// Waits (up to `timeout`) until the shard of `index` is loaded; false if
    /// it is not hosted here or still loading.
    pub async fn wait_loaded(&self, index: i32, timeout: Duration) -> bool {
        let rx = self.shards.lock().get(&index).map(|h| h.loaded.clone());
        let Some(mut rx) = rx else { return false };
        let loaded = matches!(
            tokio::time::timeout(timeout, rx.wait_for(|loaded| *loaded)).await,
            Ok(Ok(_))
        );
        loaded
    }

    /// The `__consumer_offsets` partition of a loaded shard (for the
    /// KIP-890 verification of a TxnOffsetCommit).
    pub fn loaded_partition(&self, index: i32) -> Option<Arc<Partition>> {
        self.shards
            .lock()
            .get(&index)
            .filter(|h| *h.loaded.borrow())
            .map(|h| h.partition.clone())
    }

    pub fn is_loaded(&self, index: i32) -> bool {
        self.shards
            .lock()
            .get(&index)
            .is_some_and(|h| *h.loaded.borrow())
    }

    pub fn stop(&self) {
        self.shards.lock().clear();
    }
}

async fn run_shard(
    partition: Arc<Partition>,
    config: GroupConfig,
    mut timeouts: watch::Receiver<Arc<GroupTimeouts>>,
    mut rx: mpsc::Receiver<Command>,
    loaded: watch::Sender<bool>,
) {
    let index = partition.index;
    let mut shard = match load_retrying(&partition, &config, &mut timeouts, &loaded).await {
        Some(s) => s,
        None => return,
    };
    loaded.send_replace(true);
    let mut waiting: HashMap<ReplyId, oneshot::Sender<Result<Reply, ErrorCode>>> = HashMap::new();
    let mut next_id: u64 = 0;
    loop {
        let sleep = match shard.next_deadline() {
            Some(deadline) => Duration::from_millis((deadline - now_ms()).max(0) as u64),
            None => Duration::from_secs(3600),
        };
        // A transactional request or a marker ends the round: it is handled
        // alone once the round is written.
        let mut alone: Option<Alone> = None;
        tokio::select! {
            cmd = rx.recv() => {
                let Some(cmd) = cmd else { break };
                if timeouts.has_changed().unwrap_or(false) {
                    let latest = timeouts.borrow_and_update().clone();
                    shard.set_consumer_group_timeouts((*latest).clone());
                }
                let mut cmd = Some(cmd);
                let mut taken = 0;
                while let Some(command) = cmd.take() {
                    let (op, reply) = match command {
                        Command::Op { op, reply } => (op, reply),
                        Command::Alone(command) => {
                            alone = Some(command);
                            break;
                        }
                    };
                    next_id += 1;
                    let id = ReplyId(next_id);
                    waiting.insert(id, reply);
                    op(&mut shard, id, now_ms());
                    taken += 1;
                    if taken < MAX_ROUND {
                        cmd = rx.try_recv().ok();
                    }
                }
            }
            _ = tokio::time::sleep(sleep) => {}
        }
        shard.tick(now_ms());
        let out = shard.take_output();
        let mut failed = false;
        if !out.records.is_empty() {
            if let Err(e) = write(&partition, &out.records, None).await {
                error!(partition = index, "group coordinator could not write to {CONSUMER_OFFSETS_TOPIC}: {e}; reloading the shard from its log");
                failed = true;
            }
        }
        if !failed {
            for (id, reply) in out.replies {
                if let Some(tx) = waiting.remove(&id) {
                    let _ = tx.send(Ok(reply));
                }
            }
            failed = match alone {
                Some(command) => !run_alone(&partition, &mut shard, command, &mut next_id).await,
                None => false,
            };
        }
        if failed {
            // Parked requests of the old shard are gone with it; their callers retry.
            waiting.clear();
            loaded.send_replace(false);
            shard = match load_retrying(&partition, &config, &mut timeouts, &loaded).await {
                Some(s) => s,
                None => return,
            };
            loaded.send_replace(true);
        }
    }
}

/// Handles a TxnOffsetCommit or a marker between rounds. False if the shard
/// may now be behind or ahead of its log and must be reloaded.
async fn run_alone(
    partition: &Arc<Partition>,
    shard: &mut GroupShard,
    command: Alone,
    next_id: &mut u64,
) -> bool {
    match command {
        Alone::Txn {
            producer_id,
            producer_epoch,
            verification,
            op,
            reply,
        } => {
            *next_id += 1;
            let id = ReplyId(*next_id);
            let before = shard.save_transaction(producer_id);
            op(shard, id, now_ms());
            let out = shard.take_output();
            let answer = out
                .replies
                .into_iter()
                .find(|(r, _)| *r == id)
                .map(|(_, answer)| answer);
            if !out.records.is_empty() {
                if let Err(e) = write(
                    partition,
                    &out.records,
                    Some((producer_id, producer_epoch, verification)),
                )
                .await
                {
                    warn!(
                        partition = partition.index,
                        producer_id, producer_epoch, "transactional offset commit not written: {e}"
                    );
                    let _ = reply.send(Err(e.coordinator_error_code()));
                    if e.appended() {
                        return false;
                    }
                    // Nothing was written: undo the request in memory rather than
                    // reload the shard (a fenced producer retrying must not make
                    // the coordinator reload again and again).
                    shard.restore_transaction(before);
                    return true;
                }
            }
            let _ = reply.send(answer.ok_or(ResponseError::UnknownServerError.code()));
            true
        }
        Alone::Marker {
            producer_id,
            producer_epoch,
            coordinator_epoch,
            commit,
            reply,
        } => {
            let now = now_ms();
            let info = match partition.append_txn_marker(
                producer_id,
                producer_epoch,
                coordinator_epoch,
                commit,
                now,
            ) {
                Ok(info) => info,
                Err(e) => {
                    // Nothing was written: the shard is as the log is.
                    let _ = reply.send(Err(e.error_code()));
                    return true;
                }
            };
            let deadline = tokio::time::Instant::now() + OFFSETS_COMMIT_TIMEOUT;
            if let Err(e) = partition
                .wait_replicated(info.last_offset + 1, deadline)
                .await
            {
                // The marker is in this log but not known to be committed: a
                // reload replays it once it is.
                let _ = reply.send(Err(e.error_code()));
                return false;
            }
            shard.complete_transaction(producer_id, commit, now);
            let _ = reply.send(Ok(()));
            true
        }
    }
}

/// Why a coordinator write failed.
#[derive(Debug, thiserror::Error)]
enum WriteError {
    /// Nothing was appended.
    #[error("{0}")]
    Build(String),
    /// Nothing was appended: the log refused the batch (a fenced producer epoch, say).
    #[error(transparent)]
    Refused(#[from] PartitionError),
    /// Appended, but the ISR did not confirm it in time.
    #[error("{0}")]
    NotReplicated(PartitionError),
}

impl WriteError {
    /// Whether the batch may be in the log.
    fn appended(&self) -> bool {
        matches!(self, WriteError::NotReplicated(_))
    }

    /// Kafka's `CoordinatorRuntime` error mapping for a write that failed.
    fn coordinator_error_code(&self) -> ErrorCode {
        let (WriteError::Refused(e) | WriteError::NotReplicated(e)) = self else {
            return ResponseError::UnknownServerError.code();
        };
        let code = e.error_code();
        let unavailable = [
            ResponseError::NotEnoughReplicas.code(),
            ResponseError::NotEnoughReplicasAfterAppend.code(),
            ResponseError::RequestTimedOut.code(),
        ];
        let moved = [
            ResponseError::NotLeaderOrFollower.code(),
            ResponseError::KafkaStorageError.code(),
        ];
        let too_large = [
            ResponseError::MessageTooLarge.code(),
            ResponseError::RecordListTooLarge.code(),
            ResponseError::InvalidFetchSize.code(),
        ];
        if unavailable.contains(&code) {
            ResponseError::CoordinatorNotAvailable.code()
        } else if moved.contains(&code) {
            ResponseError::NotCoordinator.code()
        } else if too_large.contains(&code) {
            ResponseError::UnknownServerError.code()
        } else {
            code
        }
    }
}

/// Appends one batch of the shard's records and waits until every in-sync
/// replica has it (Kafka's `offsets.commit.required.acks` = -1), durable on
/// each with `strom.acks.all.fsync`, for at most `offsets.commit.timeout.ms`.
///
/// With `producer`, the batch is transactional, of that producer id and
/// epoch, appended with its KIP-890 verification if it has one. The partition checks sequences as for a client (Kafka's
/// coordinator origin skips them): the batch continues the producer's
/// sequence in this partition, or starts at 0 in a new epoch.
async fn write(
    partition: &Arc<Partition>,
    records: &[(Bytes, Option<Bytes>)],
    producer: Option<(i64, i16, Option<Option<u64>>)>,
) -> Result<(), WriteError> {
    let now = now_ms();
    let mut builder = BatchBuilder::new(Compression::None, TimestampType::CreateTime);
    if let Some((producer_id, producer_epoch, _)) = producer {
        let base_sequence = next_sequence(partition, producer_id, producer_epoch)?;
        builder = builder
            .producer(producer_id, producer_epoch, base_sequence)
            .transactional(true);
    }
    for (key, value) in records {
        builder.append(now, Some(key), value.as_deref(), &[]);
    }
    let batch = builder
        .try_build(0)
        .map_err(|e| WriteError::Build(e.to_string()))?;
    let info = match producer.and_then(|(_, _, verification)| verification) {
        // KIP-890: a batch that starts the producer's transaction here needs
        // the coordinator's verification, still current (no marker since).
        Some(guard) => partition.append_produce(batch, now, true, guard)?,
        None => partition.append(batch, now)?,
    };
    let deadline = tokio::time::Instant::now() + OFFSETS_COMMIT_TIMEOUT;
    partition
        .wait_replicated(info.last_offset + 1, deadline)
        .await
        .map_err(WriteError::NotReplicated)
}

/// The base sequence of the producer's next batch in this partition.
fn next_sequence(
    partition: &Partition,
    producer_id: i64,
    producer_epoch: i16,
) -> Result<i32, PartitionError> {
    let known = partition
        .producers()?
        .into_iter()
        .find(|p| p.producer_id == producer_id && p.producer_epoch == producer_epoch);
    Ok(match known {
        // Sequences wrap after i32::MAX, as Kafka's do; -1 = none yet.
        Some(p) if p.last_sequence >= 0 => p.last_sequence.checked_add(1).unwrap_or(0),
        _ => 0,
    })
}

/// Kafka's `offsets.commit.timeout.ms` default.
const OFFSETS_COMMIT_TIMEOUT: Duration = Duration::from_millis(5000);

/// Waits until everything in the log when this broker became leader is
/// committed (the high watermark reached it), so a shard is loaded only from
/// records every in-sync replica has. False if the wait ended because the
/// shard was unloaded or leadership moved. The transaction coordinator's
/// shards load the same way.
pub(crate) async fn wait_committed(
    partition: &Arc<Partition>,
    loaded: &watch::Sender<bool>,
) -> bool {
    let target = partition.log_end_offset();
    loop {
        if loaded.is_closed() || !partition.is_leader() {
            return false;
        }
        if partition.high_watermark() >= target {
            return true;
        }
        let arrived = partition.data_arrived();
        let _ = tokio::time::timeout(Duration::from_millis(100), arrived).await;
    }
}

/// Loads the shard, retrying with a growing pause (1 s up to 30 s) while it
/// fails: a transient read error heals by itself; a failed log directory
/// keeps the shard unloaded (requests get COORDINATOR_NOT_AVAILABLE, see
/// `call_partition`) until the broker restarts on a repaired disk. `None`
/// once the shard was unloaded meanwhile.
async fn load_retrying(
    partition: &Arc<Partition>,
    config: &GroupConfig,
    timeouts: &mut watch::Receiver<Arc<GroupTimeouts>>,
    loaded: &watch::Sender<bool>,
) -> Option<GroupShard> {
    let mut pause = Duration::from_secs(1);
    loop {
        if loaded.is_closed() || !wait_committed(partition, loaded).await {
            return None;
        }
        let latest = timeouts.borrow_and_update().clone();
        if let Some(shard) = load(partition, config, latest).await {
            return Some(shard);
        }
        warn!(
            partition = partition.index,
            offline = partition.is_offline(),
            "retrying the group coordinator shard load in {} s",
            pause.as_secs()
        );
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(30));
    }
}

/// Replays the partition from its log start to its end into a new shard.
async fn load(
    partition: &Arc<Partition>,
    config: &GroupConfig,
    timeouts: Arc<GroupTimeouts>,
) -> Option<GroupShard> {
    let started = std::time::Instant::now();
    let p = partition.clone();
    let config = config.clone();
    let result = tokio::task::spawn_blocking(move || replay_all(&p, config, &timeouts)).await;
    match result {
        Ok(Ok((shard, records))) => {
            info!(
                partition = partition.index,
                records,
                elapsed_ms = started.elapsed().as_millis() as u64,
                "group coordinator shard loaded"
            );
            Some(shard)
        }
        Ok(Err(e)) => {
            error!(
                partition = partition.index,
                "could not load the group coordinator shard: {e}"
            );
            None
        }
        Err(e) => {
            error!(
                partition = partition.index,
                "group coordinator load task failed: {e}"
            );
            None
        }
    }
}

fn replay_all(
    partition: &Partition,
    config: GroupConfig,
    timeouts: &GroupTimeouts,
) -> Result<(GroupShard, u64), String> {
    let now = now_ms();
    let mut shard = GroupShard::new(config);
    shard.set_consumer_group_timeouts(timeouts.clone());
    let mut offset = partition.log_start_offset();
    let end = partition.high_watermark();
    let mut count = 0u64;
    while offset < end {
        let read = partition
            .read(offset, 1 << 20, true, false)
            .map_err(|e| e.to_string())?;
        if read.records.is_empty() {
            break;
        }
        for batch in RecordBatch::iter(read.records) {
            let batch = batch.map_err(|e| e.to_string())?;
            let next = batch.next_offset();
            let header = batch.header();
            if header.is_control() {
                match EndTransactionMarker::of_batch(&batch) {
                    Ok(Some(marker)) if batch.last_offset() >= offset => {
                        shard.complete_transaction(header.producer_id(), marker.commit, now);
                        count += 1;
                    }
                    Ok(_) => {}
                    Err(e) => warn!(
                        partition = partition.index,
                        offset = batch.last_offset(),
                        "skipping an unreadable control batch: {e}"
                    ),
                }
                offset = next;
                continue;
            }
            let producer = header.is_transactional().then(|| header.producer_id());
            for record in batch.records().map_err(|e| e.to_string())? {
                if record.offset() < offset {
                    continue;
                }
                let Some(key) = &record.key else { continue };
                let replayed = match producer {
                    Some(producer_id) => {
                        shard.replay_transactional(producer_id, key, record.value.as_deref(), now)
                    }
                    None => shard.replay(key, record.value.as_deref(), now),
                };
                if let Err(e) = replayed {
                    warn!(
                        partition = partition.index,
                        offset = record.offset(),
                        "skipping an unreadable {CONSUMER_OFFSETS_TOPIC} record: {e}"
                    );
                }
                count += 1;
            }
            offset = next;
        }
    }
    shard.load_complete(now);
    Ok((shard, count))
}

#[cfg(test)]
#[path = "group_coordinator_tests.rs"]
mod tests;
