//! Replica fetchers: one task per leader broker copies the partitions this
//! broker follows from that leader, with Fetch requests carrying this
//! broker's id and epoch (Kafka's `ReplicaFetcherThread`).
//!
//! One round: ask for every followed partition from its log end, with the
//! epoch of the last batch held (so the leader can tell a diverged history,
//! KIP-320/595 style); append what comes back as it is; truncate where the
//! leader says the histories diverge; then, when the high watermark must be
//! durable (`strom.acks.all.fsync=true`), fsync every log appended to
//! *before* the next fetch, so the next fetch offset tells the leader what
//! this replica holds durably. That is what lets the leader count a
//! follower's fetch offset towards the high watermark. A round also fsyncs
//! anything else unflushed below its fetch offsets first: the appends of a
//! fetcher stopped mid-fsync by a leader change, and a former leader's tail
//! (the replication simulation found the first; the second is the same hole).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic, ReplicaState};
use kafka_protocol::messages::fetch_response::PartitionData;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::{ApiKey, BrokerId, FetchRequest, ListOffsetsRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use parking_lot::Mutex;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::{debug, info, warn};
use uuid::Uuid;

use strom_client::{Connection, ConnectionConfig};
use strom_config::ReplicationConfig;
use strom_controller::ControllerHandle;

use crate::partition::{Partition, PartitionError};
use crate::replication::quota::{is_throttled, ReplicationQuota};

/// A partition to follow from its leader.
#[derive(Clone)]
pub(crate) struct FollowTarget {
    pub partition: Arc<Partition>,
    pub topic_id: Uuid,
    pub leader: i32,
    pub leader_epoch: i32,
}

/// What a fetcher needs from the broker.
pub(crate) struct FetcherContext {
    pub node_id: i32,
    /// For the leaders' endpoints.
    pub controller: ControllerHandle,
    /// This broker's epoch (KIP-903's replica epoch in fetches).
    pub broker_epoch: Arc<dyn Fn() -> i64 + Send + Sync>,
    /// The listener to reach other brokers on (`inter.broker.listener.name`);
    /// `None`: the broker's first.
    pub listener: Option<String>,
    pub config: ReplicationConfig,
    /// Fsync appended records before fetching on (`strom.acks.all.fsync`).
    pub fsync: bool,
    /// `follower.replication.throttled.rate` for throttled replicas.
    pub quota: ReplicationQuota,
    /// TLS when the inter-broker listener is SSL (the current client at each connect).
    pub tls: crate::tls::InterBrokerTls,
    /// Listener protocols and SASL settings: how to authenticate to leaders.
    pub security: strom_config::SecurityConfig,
}

type Key = (Arc<str>, i32);

struct Followed {
    target: FollowTarget,
    /// No fetch before this (after an error on the partition).
    not_before: Option<Instant>,
}

struct Fetcher {
    targets: Arc<Mutex<HashMap<Key, Followed>>>,
    changed: Arc<Notify>,
    task: JoinHandle<()>,
}

/// The fetchers of this broker, one per leader it follows partitions of.
pub(crate) struct ReplicaFetchers {
    context: Arc<FetcherContext>,
    fetchers: Mutex<HashMap<i32, Fetcher>>,
}

impl ReplicaFetchers {
    pub fn new(context: FetcherContext) -> ReplicaFetchers {
        ReplicaFetchers {
            context: Arc::new(context),
            fetchers: Mutex::new(HashMap::new()),
        }
    }

    /// Follows exactly `targets` from now on: fetchers of leaders no longer
    /// followed stop, new ones start, and each keeps the error pause of a
    /// partition it already had in the same leader epoch.
    pub fn sync(&self, targets: Vec<FollowTarget>) {
        let mut by_leader: HashMap<i32, Vec<FollowTarget>> = HashMap::new();
        for t in targets {
            by_leader.entry(t.leader).or_default().push(t);
        }
        let mut fetchers = self.fetchers.lock();
        fetchers.retain(|leader, f| {
            let keep = by_leader.contains_key(leader);
            if !keep {
                f.task.abort();
                debug!(
                    leader,
                    "replica fetcher stopped: nothing left to follow there"
                );
            }
            keep
        });
        for (leader, targets) in by_leader {
            let fetcher = fetchers.entry(leader).or_insert_with(|| {
                let targets = Arc::new(Mutex::new(HashMap::new()));
                let changed = Arc::new(Notify::new());
                let task = tokio::spawn(run(
                    self.context.clone(),
                    leader,
                    targets.clone(),
                    changed.clone(),
                ));
                info!(leader, "replica fetcher started");
                Fetcher {
                    targets,
                    changed,
                    task,
                }
            });
            let mut current = fetcher.targets.lock();
            let mut next = HashMap::with_capacity(targets.len());
            for t in targets {
                let key = (t.partition.topic.clone(), t.partition.index);
                let not_before = current
                    .remove(&key)
                    .filter(|f| {
                        f.target.leader_epoch == t.leader_epoch
                            && Arc::ptr_eq(&f.target.partition, &t.partition)
                    })
                    .and_then(|f| f.not_before);
                next.insert(
                    key,
                    Followed {
                        target: t,
                        not_before,
                    },
                );
            }
            *current = next;
            drop(current);
            fetcher.changed.notify_one();
        }
    }

    /// `follower.replication.throttled.rate`, as the effective config has it.
    pub fn set_throttle(&self, bytes_per_second: u64) {
        self.context.quota.set_limit(bytes_per_second);
    }

    /// Stops every fetcher (shutdown).
    pub fn stop(&self) {
        for (_, f) in self.fetchers.lock().drain() {
            f.task.abort();
        }
    }
}

impl Drop for ReplicaFetchers {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The fetch loop for one leader.
async fn run(
    ctx: Arc<FetcherContext>,
    leader: i32,
    targets: Arc<Mutex<HashMap<Key, Followed>>>,
    changed: Arc<Notify>,
) {
    let backoff = Duration::from_millis(ctx.config.fetch_backoff_ms.max(10));
    let mut conn: Option<Connection> = None;
    loop {
        let notified = changed.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let now = Instant::now();
        let (ready, next_ready): (Vec<FollowTarget>, Option<Instant>) = {
            let targets = targets.lock();
            let mut next: Option<Instant> = None;
            let ready = targets
                .values()
                .filter(|f| match f.not_before {
                    Some(t) if t > now => {
                        next = Some(next.map_or(t, |n| n.min(t)));
                        false
                    }
                    _ => true,
                })
                .map(|f| f.target.clone())
                .collect();
            (ready, next)
        };
        if ready.is_empty() {
            let wake = next_ready.unwrap_or(now + Duration::from_secs(3600));
            tokio::select! {
                _ = notified => {}
                _ = tokio::time::sleep_until(wake) => {}
            }
            continue;
        }
        if conn.as_ref().is_none_or(Connection::is_broken) {
            conn = match connect(&ctx, leader).await {
                Ok(c) => Some(c),
                Err(e) => {
                    debug!(
                        leader,
                        "replica fetcher cannot reach the leader (retrying): {e}"
                    );
                    tokio::select! {
                        _ = notified => {}
                        _ = tokio::time::sleep(backoff) => {}
                    }
                    continue;
                }
            };
        }
        let Some(c) = conn.as_mut() else { continue };
        match fetch_round(&ctx, c, &ready, &targets).await {
            Ok(()) => {}
            Err(e) => {
                debug!(leader, "replica fetch failed (retrying): {e}");
                conn = None;
                tokio::select! {
                    _ = notified => {}
                    _ = tokio::time::sleep(backoff) => {}
                }
            }
        }
    }
}

/// Opens a connection to the leader's inter-broker endpoint.
async fn connect(ctx: &FetcherContext, leader: i32) -> Result<Connection, String> {
    let image = ctx.controller.image();
    let broker = image
        .broker(leader)
        .ok_or_else(|| format!("broker {leader} is not registered"))?;
    let endpoint = match &ctx.listener {
        Some(name) => broker.listeners.iter().find(|l| &l.name == name),
        None => None,
    }
    .or_else(|| broker.listeners.first())
    .ok_or_else(|| format!("broker {leader} has no listener"))?;
    let addr = format!("{}:{}", endpoint.host, endpoint.port);
    let config = ConnectionConfig {
        client_id: format!("strom-replica-fetcher-{}", ctx.node_id),
        request_timeout: Duration::from_millis(ctx.config.socket_timeout_ms)
            + Duration::from_millis(ctx.config.fetch_wait_max_ms.max(0) as u64),
        max_response_bytes: (ctx.config.fetch_response_max_bytes.max(0) as usize)
            .saturating_add(ctx.config.fetch_max_bytes.max(0) as usize)
            .saturating_add(64 << 20),
        tls: ctx.tls.current(),
        sasl: crate::sasl::inter_broker_credentials(&ctx.security, endpoint),
    };
    Connection::connect(&addr, &config)
        .await
        .map_err(|e| e.to_string())
}

/// One Fetch to the leader for `ready`, and what follows from its answer.
async fn fetch_round(
    ctx: &FetcherContext,
    conn: &mut Connection,
    ready: &[FollowTarget],
    targets: &Mutex<HashMap<Key, Followed>>,
) -> Result<(), String> {
    let version = conn.version(ApiKey::Fetch).map_err(|e| e.to_string())?;
    let mut by_topic: HashMap<Uuid, (Arc<str>, Vec<FetchPartition>)> = HashMap::new();
    let mut positions: HashMap<Key, (i64, FollowTarget)> = HashMap::new();
    let image = ctx.controller.image();
    let mut throttled: std::collections::HashSet<Key> = std::collections::HashSet::new();
    let quota_exceeded = ctx.quota.is_limited() && ctx.quota.exceeded();
    for t in ready {
        if ctx.quota.is_limited() {
            let listed = is_throttled(
                image
                    .topic_config(&t.partition.topic)
                    .get("follower.replication.throttled.replicas"),
                t.partition.index,
                ctx.node_id,
            );
            let in_sync = image
                .topic(&t.partition.topic)
                .and_then(|ti| ti.partitions.get(&t.partition.index))
                .is_some_and(|p| p.isr.contains(&ctx.node_id));
            if listed && !in_sync {
                if quota_exceeded {
                    continue;
                }
                throttled.insert((t.partition.topic.clone(), t.partition.index));
            }
        }
        if ctx.fsync {
            // The fetch offset tells the leader what this replica holds
            // durably, so everything below it is fsynced first: what an
            // earlier fetcher appended and had no time to fsync (it was
            // stopped when the leader changed), or what this replica
            // appended while it led. Nothing to do, and no wait, otherwise.
            let end = t.partition.log_end_offset();
            if t.partition.flush_up_to(end).await.is_err() {
                continue;
            }
        }
        let position = match t.partition.follower_position() {
            Ok(p) => p,
            Err(_) => continue,
        };
        let mut fp = FetchPartition::default();
        fp.partition = t.partition.index;
        fp.current_leader_epoch = t.leader_epoch;
        fp.fetch_offset = position.log_end_offset;
        fp.last_fetched_epoch = position.last_fetched_epoch;
        fp.log_start_offset = position.log_start_offset;
        fp.partition_max_bytes = ctx.config.fetch_max_bytes;
        by_topic
            .entry(t.topic_id)
            .or_insert_with(|| (t.partition.topic.clone(), Vec::new()))
            .1
            .push(fp);
        positions.insert(
            (t.partition.topic.clone(), t.partition.index),
            (position.log_end_offset, t.clone()),
        );
    }
    if positions.is_empty() {
        // Everything is throttled (or gone): wait for the rate to come down.
        tokio::time::sleep(Duration::from_millis(100)).await;
        return Ok(());
    }
    let mut req = FetchRequest::default();
    if version >= 15 {
        req.replica_state = ReplicaState::default()
            .with_replica_id(BrokerId(ctx.node_id))
            .with_replica_epoch((ctx.broker_epoch)());
    } else {
        req.replica_id = BrokerId(ctx.node_id);
    }
    req.max_wait_ms = ctx.config.fetch_wait_max_ms;
    req.min_bytes = ctx.config.fetch_min_bytes;
    req.max_bytes = ctx.config.fetch_response_max_bytes;
    req.session_id = 0;
    req.session_epoch = -1;
    for (topic_id, (name, partitions)) in by_topic {
        let mut ft = FetchTopic::default();
        if version >= 13 {
            ft.topic_id = topic_id;
        } else {
            ft.topic = TopicName(StrBytes::from_string(name.to_string()));
        }
        ft.partitions = partitions;
        req.topics.push(ft);
    }
    let resp = conn
        .send_at(version, &req)
        .await
        .map_err(|e| e.to_string())?;
    if resp.error_code != 0 {
        return Err(format!(
            "the leader answered the fetch with error {}",
            resp.error_code
        ));
    }
    let names: HashMap<Uuid, Arc<str>> = ready
        .iter()
        .map(|t| (t.topic_id, t.partition.topic.clone()))
        .collect();
    let mut appended: Vec<Arc<Partition>> = Vec::new();
    let mut pause: Vec<(Key, Duration)> = Vec::new();
    for topic in resp.responses {
        for pd in topic.partitions {
            // v13+ answers by topic id, earlier versions by name.
            let name: Option<Arc<str>> = if topic.topic_id.is_nil() {
                Some(Arc::from(topic.topic.0.as_str()))
            } else {
                names.get(&topic.topic_id).cloned()
            };
            let Some(name) = name else { continue };
            let key = (name, pd.partition_index);
            let Some((fetch_offset, target)) = positions.remove(&key) else {
                continue;
            };
            if throttled.contains(&key) {
                ctx.quota
                    .record(pd.records.as_ref().map_or(0, |r| r.len() as u64));
            }
            match handle_partition(ctx, conn, &target, fetch_offset, pd).await {
                Outcome::Appended => appended.push(target.partition.clone()),
                Outcome::Nothing => {}
                Outcome::Pause => {
                    pause.push((key, Duration::from_millis(ctx.config.fetch_backoff_ms)))
                }
                Outcome::Retry => pause.push((key, METADATA_RETRY)),
            }
        }
    }
    if !pause.is_empty() {
        let now = Instant::now();
        let mut targets = targets.lock();
        for (key, wait) in pause {
            if let Some(f) = targets.get_mut(&key) {
                f.not_before = Some(now + wait);
            }
        }
    }
    if ctx.fsync && !appended.is_empty() {
        // The next fetch offset must be durable here (see the module doc).
        let flushes = appended.iter().map(|p| {
            let end = p.log_end_offset();
            async move { (p, p.flush_up_to(end).await) }
        });
        for (p, result) in futures_util::future::join_all(flushes).await {
            if let Err(e) = result {
                if !matches!(e, PartitionError::Removed) {
                    warn!(topic = %p.topic, partition = p.index, "follower fsync failed: {e}");
                }
            }
        }
    }
    Ok(())
}

enum Outcome {
    Appended,
    Nothing,
    /// Wait `replica.fetch.backoff.ms` (or a metadata change) before asking
    /// for this partition again.
    Pause,
    /// The leader and this broker disagree on the partition's metadata for
    /// the moment (one of them has not applied the newest image): ask again
    /// after `METADATA_RETRY`, not after the whole backoff, so a failover is
    /// not held up by it.
    Retry,
}

/// How soon a partition is asked for again after an epoch or leadership
/// mismatch that the next metadata image settles.
const METADATA_RETRY: Duration = Duration::from_millis(20);

async fn handle_partition(
    ctx: &FetcherContext,
    conn: &mut Connection,
    target: &FollowTarget,
    fetch_offset: i64,
    pd: PartitionData,
) -> Outcome {
    let p = &target.partition;
    if p.is_leader() || p.leader_epoch() != target.leader_epoch {
        // The role changed while the fetch was out.
        return Outcome::Nothing;
    }
    match ResponseError::try_from_code(pd.error_code) {
        None => {}
        Some(ResponseError::OffsetOutOfRange) => {
            return out_of_range(ctx, conn, target, fetch_offset, pd.log_start_offset).await;
        }
        Some(
            e @ (ResponseError::NotLeaderOrFollower
            | ResponseError::FencedLeaderEpoch
            | ResponseError::UnknownLeaderEpoch
            | ResponseError::UnknownTopicOrPartition
            | ResponseError::UnknownTopicId),
        ) => {
            // The leader has not caught up with the metadata yet, or this
            // broker has not: ask again shortly.
            debug!(topic = %p.topic, partition = p.index, leader = target.leader, "leader answered {e:?}");
            return Outcome::Retry;
        }
        Some(e) => {
            warn!(topic = %p.topic, partition = p.index, leader = target.leader, "replica fetch error {e:?}");
            return Outcome::Pause;
        }
    }
    if pd.diverging_epoch.epoch >= 0 || pd.diverging_epoch.end_offset >= 0 {
        return truncate_diverged(
            target,
            pd.diverging_epoch.epoch,
            pd.diverging_epoch.end_offset,
        );
    }
    let records = pd.records.unwrap_or_default();
    let had_records = !records.is_empty();
    match p.append_as_follower(records, pd.high_watermark, pd.log_start_offset) {
        Ok(_) if had_records => Outcome::Appended,
        Ok(_) => Outcome::Nothing,
        Err(PartitionError::Removed) => Outcome::Nothing,
        Err(e) => {
            warn!(topic = %p.topic, partition = p.index, fetch_offset, "could not append the leader's records: {e}");
            Outcome::Pause
        }
    }
}

/// The leader says this log diverged after `end_offset` of `epoch`: truncate
/// to where both histories agree (Kafka's follower rule).
fn truncate_diverged(target: &FollowTarget, epoch: i32, end_offset: i64) -> Outcome {
    let p = &target.partition;
    let Ok(position) = p.follower_position() else {
        return Outcome::Nothing;
    };
    let to = crate::replication::follower::truncation_offset(
        |e| p.end_offset_for_epoch(e).unwrap_or((-1, -1)),
        position.log_start_offset,
        position.log_end_offset,
        epoch,
        end_offset,
    );
    match p.truncate_to(to) {
        Ok(()) => Outcome::Nothing,
        Err(e) => {
            warn!(topic = %p.topic, partition = p.index, "could not truncate to the leader's history: {e}");
            Outcome::Pause
        }
    }
}

/// The leader does not have `fetch_offset`: below its log start, restart
/// there; above its log end, truncate to that end.
async fn out_of_range(
    ctx: &FetcherContext,
    conn: &mut Connection,
    target: &FollowTarget,
    fetch_offset: i64,
    leader_log_start: i64,
) -> Outcome {
    let p = &target.partition;
    if leader_log_start > fetch_offset {
        return match p.truncate_fully_and_start_at(leader_log_start) {
            Ok(()) => Outcome::Nothing,
            Err(e) => {
                warn!(topic = %p.topic, partition = p.index, "could not restart the log at the leader's start: {e}");
                Outcome::Pause
            }
        };
    }
    match leader_log_end(ctx, conn, target).await {
        Some(end) if end < fetch_offset => match p.truncate_to(end.max(0)) {
            Ok(()) => Outcome::Nothing,
            Err(e) => {
                warn!(topic = %p.topic, partition = p.index, "could not truncate to the leader's end: {e}");
                Outcome::Pause
            }
        },
        _ => Outcome::Pause,
    }
}

/// The leader's log end offset (ListOffsets latest, asked as a replica).
async fn leader_log_end(
    ctx: &FetcherContext,
    conn: &mut Connection,
    target: &FollowTarget,
) -> Option<i64> {
    let mut req = ListOffsetsRequest::default();
    req.replica_id = BrokerId(ctx.node_id);
    let mut topic = ListOffsetsTopic::default();
    topic.name = TopicName(StrBytes::from_string(target.partition.topic.to_string()));
    let mut partition = ListOffsetsPartition::default();
    partition.partition_index = target.partition.index;
    partition.current_leader_epoch = target.leader_epoch;
    partition.timestamp = -1;
    topic.partitions.push(partition);
    req.topics.push(topic);
    let resp = conn.send(&req).await.ok()?;
    let p = resp.topics.first()?.partitions.first()?;
    (p.error_code == 0).then_some(p.offset)
}
