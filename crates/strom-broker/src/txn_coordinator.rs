//! The transaction coordinator's driver: one task per `__transaction_state`
//! partition this broker leads, each owning a `TxnShard`, as
//! `group_coordinator` drives `GroupShard`s.
//!
//! A task loads its shard by replaying the partition once the high
//! watermark reached the log end (reloaded at each new leader epoch), then
//! takes requests one after another: the shard decides, the task appends
//! the records of the round as one batch and waits until every in-sync
//! replica has it, and only then answers. A failed append reloads the shard
//! from the log; the requests of that round get NOT_COORDINATOR and retry.
//!
//! Markers: a Prepare* record written starts a marker job; it sends
//! WriteTxnMarkers v1 to the leader of each partition of the transaction
//! (grouped by broker, over the inter-broker listener, to itself too),
//! retries with backoff on retriable errors and leader changes, skips
//! partitions of deleted topics as Kafka does, and then asks the shard to
//! write CompleteCommit/CompleteAbort. Jobs of a shard die with it; a new
//! leader finds the Prepare* records at load and sends the markers again.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::write_txn_markers_request::{
    WritableTxnMarker, WritableTxnMarkerTopic,
};
use kafka_protocol::messages::{ProducerId, TopicName, WriteTxnMarkersRequest};
use parking_lot::Mutex;
use tokio::sync::{mpsc, oneshot, watch};
use tracing::{debug, error, info, warn};

use strom_client::{Connection, ConnectionConfig};
use strom_config::BrokerConfig;
use strom_coordinator::txn::{MarkerJob, TxnConfig, TxnShard, TRANSACTION_STATE_TOPIC};
use strom_records::{BatchBuilder, Compression, RecordBatch, TimestampType};

use crate::broker::{now_ms, BrokerState};
use crate::partition::Partition;

/// The `transaction.version` range this broker understands: the coordinator
/// serves EndTxn v5 (KIP-890 part 2: an epoch bump at every end) and
/// AddPartitionsToTxn v5 from partition leaders.
pub(crate) const TRANSACTION_VERSION_SUPPORTED: (i16, i16) = (0, 2);
/// The level finalized in ApiVersions, which Kafka 4 clients follow: at 2
/// the Java producer stops sending AddPartitionsToTxn/AddOffsetsToTxn, sends
/// Produce v12 and TxnOffsetCommit v5 (whose handlers add the partitions to
/// the transaction themselves) and EndTxn v5, which bumps the epoch at every
/// transaction end. Clients on the v1 protocol (librdkafka, kafkajs) keep it.
pub(crate) const TRANSACTION_VERSION_FINALIZED: i16 = 2;

/// A request to a shard: runs on the shard and returns how to answer, once
/// the records of its round are in the log.
type Op = Box<dyn FnOnce(&mut TxnShard, i64) -> Box<dyn FnOnce() + Send> + Send>;

enum Command {
    Request(Op),
    /// The markers of a job are written.
    MarkersDone(MarkerJob),
}

struct ShardHandle {
    partition: Arc<Partition>,
    leader_epoch: i32,
    tx: mpsc::Sender<Command>,
    loaded: watch::Receiver<bool>,
}

pub(crate) struct TxnCoordinator {
    config: TxnConfig,
    /// `transaction.state.log.load.buffer.size`: bytes read at a time at load.
    load_buffer_size: usize,
    num_partitions: AtomicI32,
    shards: Mutex<HashMap<i32, ShardHandle>>,
    /// The broker, for marker jobs (set once it exists).
    state: std::sync::OnceLock<std::sync::Weak<BrokerState>>,
}

/// Most requests decided before one append.
const MAX_ROUND: usize = 256;
/// Kafka's `transaction.state.log` writes use `request.timeout.ms`-like waits;
/// a write not replicated within this is failed and the shard reloaded.
const WRITE_TIMEOUT: Duration = Duration::from_millis(5000);
/// Backoff between rounds of a marker job that left partitions unfinished
/// (Kafka's marker channel retries at `retry.backoff.ms`-like pace).
const MARKER_RETRY_MIN: Duration = Duration::from_millis(100);
const MARKER_RETRY_MAX: Duration = Duration::from_secs(5);

impl TxnCoordinator {
    pub fn new(config: &BrokerConfig) -> Self {
        let t = &config.transactions;
        TxnCoordinator {
            config: TxnConfig {
                max_timeout_ms: t.max_timeout_ms,
                id_expiration_ms: t.transactional_id_expiration_ms,
                abort_interval_ms: t.abort_timed_out_transaction_cleanup_interval_ms,
                remove_interval_ms: t.remove_expired_transaction_cleanup_interval_ms,
                transaction_version: TRANSACTION_VERSION_FINALIZED,
            },
            load_buffer_size: t.state_log_load_buffer_size.max(1) as usize,
            num_partitions: AtomicI32::new(t.state_log_num_partitions),
            shards: Mutex::new(HashMap::new()),
            state: std::sync::OnceLock::new(),
        }
    }

    /// Gives marker jobs a way to the broker's metadata and listeners.
    pub fn set_broker(&self, state: std::sync::Weak<BrokerState>) {
        let _ = self.state.set(state);
    }

    /// The `__transaction_state` partition of a transactional id.
    pub fn partition_for(&self, transactional_id: &str) -> i32 {
        strom_coordinator::partition_for(
            transactional_id,
            self.num_partitions.load(Ordering::Acquire),
        )
    }

    /// Starts shards for the `__transaction_state` partitions this broker
    /// now leads (a new leader epoch reloads) and stops the others.
    pub fn sync_shards(&self, partition_count: Option<i32>, hosted: Vec<Arc<Partition>>) {
        let state = self.state.get().cloned().unwrap_or_default();
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
                info!(partition = index, "transaction coordinator shard unloaded");
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
                state.clone(),
                partition.clone(),
                (self.config.clone(), self.load_buffer_size),
                tx.downgrade(),
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

    /// Runs `f` on the shard of `index`; its answer arrives once the records
    /// it wrote are replicated. Errors are Kafka codes.
    pub async fn call<T: Send + 'static>(
        &self,
        index: i32,
        f: impl FnOnce(&mut TxnShard, i64) -> T + Send + 'static,
    ) -> Result<T, i16> {
        let tx = {
            let shards = self.shards.lock();
            let Some(handle) = shards.get(&index) else {
                return Err(ResponseError::NotCoordinator.code());
            };
            if handle.partition.is_offline() {
                return Err(ResponseError::CoordinatorNotAvailable.code());
            }
            if !*handle.loaded.borrow() {
                return Err(ResponseError::CoordinatorLoadInProgress.code());
            }
            handle.tx.clone()
        };
        let (reply, rx) = oneshot::channel();
        let op: Op = Box::new(move |shard, now| {
            let value = f(shard, now);
            Box::new(move || {
                let _ = reply.send(value);
            })
        });
        if tx.send(Command::Request(op)).await.is_err() {
            return Err(ResponseError::NotCoordinator.code());
        }
        rx.await.map_err(|_| ResponseError::NotCoordinator.code())
    }

    /// A never-issued producer id if `transactional_id` needs one now (it
    /// is unknown, or its epoch is exhausted), else -1: ids are taken from
    /// the controller's blocks only when used.
    pub async fn fresh_producer_id_if_needed(
        &self,
        state: &BrokerState,
        transactional_id: &str,
    ) -> Result<i64, i16> {
        let id = transactional_id.to_owned();
        let needed = self
            .call(self.partition_for(transactional_id), move |shard, _| {
                shard
                    .get(&id)
                    .is_none_or(|m| strom_coordinator::txn::is_epoch_exhausted(m.producer_epoch))
            })
            .await?;
        if !needed {
            return Ok(-1);
        }
        state
            .producer_ids
            .generate(&state.controller, state.node_id)
            .await
            .map_err(|e| {
                warn!(
                    error_code = e.code(),
                    "could not get a producer id block from the controller: {e}"
                );
                ResponseError::CoordinatorLoadInProgress.code()
            })
    }

    pub fn loaded_partitions(&self) -> Vec<i32> {
        let mut v: Vec<i32> = self
            .shards
            .lock()
            .iter()
            .filter(|(_, h)| *h.loaded.borrow())
            .map(|(i, _)| *i)
            .collect();
        v.sort_unstable();
        v
    }

    pub fn any_loading(&self) -> bool {
        self.shards.lock().values().any(|h| !*h.loaded.borrow())
    }

    pub async fn wait_loaded(&self, index: i32, timeout: Duration) -> bool {
        let rx = self.shards.lock().get(&index).map(|h| h.loaded.clone());
        let Some(mut rx) = rx else { return false };
        let loaded = matches!(
            tokio::time::timeout(timeout, rx.wait_for(|loaded| *loaded)).await,
            Ok(Ok(_))
        );
        loaded
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
    state: std::sync::Weak<BrokerState>,
    partition: Arc<Partition>,
    (config, load_buffer_size): (TxnConfig, usize),
    self_tx: mpsc::WeakSender<Command>,
    mut rx: mpsc::Receiver<Command>,
    loaded: watch::Sender<bool>,
) {
    let index = partition.index;
    let Some(mut shard) = load_retrying(&partition, &config, load_buffer_size, &loaded).await
    else {
        return;
    };
    loaded.send_replace(true);
    // Transactions found half-way (Prepare*) get their markers sent again.
    start_markers(&state, &partition, &self_tx, shard.take_output().markers);
    loop {
        let sleep = match shard.next_deadline() {
            Some(deadline) => Duration::from_millis((deadline - now_ms()).max(0) as u64),
            None => Duration::from_secs(3600),
        };
        let mut answers: Vec<Box<dyn FnOnce() + Send>> = Vec::new();
        tokio::select! {
            cmd = rx.recv() => {
                let Some(cmd) = cmd else { break };
                let mut cmd = Some(cmd);
                let mut taken = 0;
                while let Some(c) = cmd.take() {
                    match c {
                        Command::Request(op) => answers.push(op(&mut shard, now_ms())),
                        Command::MarkersDone(job) => {
                            shard.complete_markers(&job.transactional_id, job.producer_id, job.producer_epoch, now_ms());
                        }
                    }
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
        if !out.records.is_empty() {
            if let Err(e) = write(&partition, &out.records).await {
                error!(partition = index, "transaction coordinator could not write to {TRANSACTION_STATE_TOPIC}: {e}; reloading the shard from its log");
                drop(answers);
                loaded.send_replace(false);
                shard = match load_retrying(&partition, &config, load_buffer_size, &loaded).await {
                    Some(s) => s,
                    None => return,
                };
                loaded.send_replace(true);
                start_markers(&state, &partition, &self_tx, shard.take_output().markers);
                continue;
            }
        }
        for answer in answers {
            answer();
        }
        start_markers(&state, &partition, &self_tx, out.markers);
    }
}

fn start_markers(
    state: &std::sync::Weak<BrokerState>,
    partition: &Arc<Partition>,
    self_tx: &mpsc::WeakSender<Command>,
    jobs: Vec<MarkerJob>,
) {
    let coordinator_epoch = partition.leader_epoch();
    for job in jobs {
        tokio::spawn(send_markers(
            state.clone(),
            self_tx.clone(),
            coordinator_epoch,
            job,
        ));
    }
}

/// Writes the markers of `job` to every partition's leader, then tells the
/// shard. Stops when the shard is gone (its successor resends from the log).
async fn send_markers(
    state: std::sync::Weak<BrokerState>,
    shard: mpsc::WeakSender<Command>,
    coordinator_epoch: i32,
    job: MarkerJob,
) {
    let mut left: Vec<(String, i32)> = job.partitions.clone();
    let mut pause = MARKER_RETRY_MIN;
    while !left.is_empty() {
        if shard.upgrade().is_none() {
            return;
        }
        let Some(st) = state.upgrade() else { return };
        left = marker_round(&st, coordinator_epoch, &job, left).await;
        drop(st);
        if left.is_empty() {
            break;
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(MARKER_RETRY_MAX);
    }
    debug!(transactional_id = %job.transactional_id, commit = job.commit, "transaction markers written");
    if let Some(tx) = shard.upgrade() {
        let _ = tx.send(Command::MarkersDone(job)).await;
    }
}

/// One WriteTxnMarkers per leader broker for `partitions`; returns those
/// still to do.
async fn marker_round(
    state: &Arc<BrokerState>,
    coordinator_epoch: i32,
    job: &MarkerJob,
    partitions: Vec<(String, i32)>,
) -> Vec<(String, i32)> {
    let image = state.image();
    let mut by_leader: BTreeMap<i32, Vec<(String, i32)>> = BTreeMap::new();
    let mut left = Vec::new();
    for (topic, p) in partitions {
        let Some(t) = image.topic(&topic) else {
            // Deleted topic: nothing to mark (Kafka skips it too).
            info!(topic, partition = p, transactional_id = %job.transactional_id, "skipping the marker of a deleted topic");
            continue;
        };
        match t.partitions.get(&p) {
            None => continue,
            Some(info) if info.leader < 0 => left.push((topic, p)),
            Some(info) => by_leader.entry(info.leader).or_default().push((topic, p)),
        }
    }
    for (leader, parts) in by_leader {
        match send_to(state, leader, coordinator_epoch, job, &parts).await {
            Ok(codes) => {
                for ((topic, p), code) in parts.into_iter().zip(codes) {
                    match ResponseError::try_from_code(code) {
                        None => {}
                        Some(
                            ResponseError::UnsupportedForMessageFormat
                            | ResponseError::UnsupportedVersion,
                        ) => {
                            warn!(
                                topic,
                                partition = p,
                                code,
                                "transaction marker not supported by the partition; skipped"
                            );
                        }
                        Some(ResponseError::TransactionCoordinatorFenced) => {
                            // A newer coordinator owns this transaction now.
                            return Vec::new();
                        }
                        Some(e) => {
                            debug!(topic, partition = p, error = ?e, "transaction marker to retry");
                            left.push((topic, p));
                        }
                    }
                }
            }
            Err(e) => {
                debug!(leader, "WriteTxnMarkers failed: {e}; retrying");
                left.extend(parts);
            }
        }
    }
    left
}

async fn send_to(
    state: &Arc<BrokerState>,
    leader: i32,
    coordinator_epoch: i32,
    job: &MarkerJob,
    parts: &[(String, i32)],
) -> Result<Vec<i16>, String> {
    let image = state.image();
    let broker = image
        .broker(leader)
        .ok_or_else(|| format!("broker {leader} is not registered"))?;
    let endpoint = match &state.config.quorum.inter_broker_listener_name {
        Some(name) => broker.listeners.iter().find(|l| &l.name == name),
        None => None,
    }
    .or_else(|| broker.listeners.first())
    .ok_or_else(|| format!("broker {leader} has no listener"))?;
    let addr = format!("{}:{}", endpoint.host, endpoint.port);
    let config = ConnectionConfig {
        client_id: format!("strom-txn-marker-sender-{}", state.node_id),
        request_timeout: Duration::from_secs(30),
        tls: state.inter_broker_tls.current(),
        sasl: crate::sasl::inter_broker_credentials(&state.config.security, endpoint),
        ..ConnectionConfig::default()
    };
    let mut conn = Connection::connect(&addr, &config)
        .await
        .map_err(|e| e.to_string())?;
    let mut topics: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for (t, p) in parts {
        topics.entry(t.as_str()).or_default().push(*p);
    }
    let mut marker = WritableTxnMarker::default();
    marker.producer_id = ProducerId(job.producer_id);
    marker.producer_epoch = job.producer_epoch;
    marker.transaction_result = job.commit;
    marker.coordinator_epoch = coordinator_epoch;
    marker.topics = topics
        .iter()
        .map(|(t, ps)| {
            let mut topic = WritableTxnMarkerTopic::default();
            topic.name = TopicName(crate::handlers::str_bytes(t));
            topic.partition_indexes = ps.clone();
            topic
        })
        .collect();
    let mut req = WriteTxnMarkersRequest::default();
    req.markers = vec![marker];
    let resp = conn.send_at(1, &req).await.map_err(|e| e.to_string())?;
    let mut codes: HashMap<(String, i32), i16> = HashMap::new();
    for m in resp.markers {
        for t in m.topics {
            for p in t.partitions {
                codes.insert((t.name.0.to_string(), p.partition_index), p.error_code);
            }
        }
    }
    Ok(parts
        .iter()
        .map(|k| {
            codes
                .get(k)
                .copied()
                .unwrap_or(ResponseError::UnknownServerError.code())
        })
        .collect())
}

async fn write(
    partition: &Arc<Partition>,
    records: &[(Bytes, Option<Bytes>)],
) -> Result<(), String> {
    let now = now_ms();
    let mut builder = BatchBuilder::new(Compression::None, TimestampType::CreateTime);
    for (key, value) in records {
        builder.append(now, Some(key), value.as_deref(), &[]);
    }
    let batch = builder.try_build(0).map_err(|e| e.to_string())?;
    let info = partition.append(batch, now).map_err(|e| e.to_string())?;
    let deadline = tokio::time::Instant::now() + WRITE_TIMEOUT;
    partition
        .wait_replicated(info.last_offset + 1, deadline)
        .await
        .map_err(|e| e.to_string())
}

async fn load_retrying(
    partition: &Arc<Partition>,
    config: &TxnConfig,
    load_buffer_size: usize,
    loaded: &watch::Sender<bool>,
) -> Option<TxnShard> {
    let mut pause = Duration::from_secs(1);
    loop {
        if loaded.is_closed() || !crate::group_coordinator::wait_committed(partition, loaded).await
        {
            return None;
        }
        let p = partition.clone();
        let c = config.clone();
        let started = std::time::Instant::now();
        match tokio::task::spawn_blocking(move || replay_all(&p, c, load_buffer_size)).await {
            Ok(Ok((shard, records))) => {
                info!(
                    partition = partition.index,
                    records,
                    transactional_ids = shard.len(),
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "transaction coordinator shard loaded"
                );
                return Some(shard);
            }
            Ok(Err(e)) => error!(
                partition = partition.index,
                "could not load the transaction coordinator shard: {e}"
            ),
            Err(e) => error!(
                partition = partition.index,
                "transaction coordinator load task failed: {e}"
            ),
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(30));
    }
}

fn replay_all(
    partition: &Partition,
    config: TxnConfig,
    load_buffer_size: usize,
) -> Result<(TxnShard, u64), String> {
    let mut shard = TxnShard::new(config);
    let mut offset = partition.log_start_offset();
    let end = partition.high_watermark();
    let mut count = 0u64;
    while offset < end {
        let read = partition
            .read(offset, load_buffer_size, true, false)
            .map_err(|e| e.to_string())?;
        if read.records.is_empty() {
            break;
        }
        for batch in RecordBatch::iter(read.records) {
            let batch = batch.map_err(|e| e.to_string())?;
            let next = batch.next_offset();
            if batch.header().is_control() {
                offset = next;
                continue;
            }
            for record in batch.records().map_err(|e| e.to_string())? {
                if record.offset() < offset {
                    continue;
                }
                let Some(key) = &record.key else { continue };
                if let Err(e) = shard.replay(key, record.value.as_deref()) {
                    warn!(
                        partition = partition.index,
                        offset = record.offset(),
                        "skipping an unreadable {TRANSACTION_STATE_TOPIC} record: {e}"
                    );
                }
                count += 1;
            }
            offset = next;
        }
    }
    shard.load_complete(now_ms());
    Ok((shard, count))
}
