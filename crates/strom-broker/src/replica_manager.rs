//! The partitions this broker hosts, kept in step with the metadata image.
//!
//! `apply_image` is the only writer: it opens logs for partitions the image
//! makes this broker lead and deletes the logs of topics the image no longer
//! has. Request handlers only look partitions up.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use tracing::{error, info, warn};
use uuid::Uuid;

use kafka_protocol::error::ResponseError;
use strom_config::{BrokerConfig, TopicConfig};
use strom_log::{Log, LogConfig, LogError, LogManager, TopicPartition};
use strom_metadata::MetadataImage;

use crate::partition::Partition;
use crate::replication::fetcher::ReplicaFetchers;
use crate::replication::isr::IsrChanges;
use crate::replication::quota::ReplicationQuota;

/// Threads creating the logs of new partitions (see `create_new_logs`).
const CREATE_THREADS: usize = 8;

pub(crate) struct TopicPartitions {
    pub topic_id: Uuid,
    /// Indexed by partition number; `None` where another broker leads.
    pub partitions: Vec<Option<Arc<Partition>>>,
    /// Partitions led here whose log is in a log directory that is offline:
    /// reported offline (KAFKA_STORAGE_ERROR), never re-created empty elsewhere.
    pub offline: Vec<i32>,
    /// The topic has `flush.messages` or `flush.ms`: the flush timer looks at it.
    pub flush_policy: bool,
}

/// One log directory as DescribeLogDirs reports it.
pub(crate) struct LogDirState {
    pub path: std::path::PathBuf,
    pub offline: bool,
    /// (topic, partition, bytes) of the partitions hosted in it.
    pub partitions: Vec<(Arc<str>, i32, u64)>,
}

pub(crate) struct ReplicaManager {
    node_id: i32,
    /// The effective broker config (static plus dynamic overrides), for topic defaults.
    config: RwLock<Arc<BrokerConfig>>,
    log_manager: Mutex<Option<LogManager>>,
    /// Logs found on disk at start-up and not yet claimed by the image.
    unclaimed: Mutex<BTreeMap<TopicPartition, Log>>,
    topics: RwLock<HashMap<Arc<str>, Arc<TopicPartitions>>>,
    /// The partitions of the first image applied: those that existed before
    /// this start (set once).
    at_start: Mutex<Option<std::collections::HashSet<(Uuid, i32)>>>,
    /// Partitions the image assigns here whose log could not be created or opened, with
    /// why; retried at every image sync. They answer KAFKA_STORAGE_ERROR.
    open_failures: Mutex<HashMap<TopicPartition, String>>,
    /// Copy the partitions this broker follows from their leaders.
    fetchers: ReplicaFetchers,
    /// Leaders' ISR changes on their way to the controller.
    isr_changes: IsrChanges,
    /// `leader.replication.throttled.rate` for throttled followers' fetches.
    leader_quota: ReplicationQuota,
    /// Where each opened partition finds its topic's counters.
    metrics: Arc<crate::metrics::BrokerMetrics>,
}

impl ReplicaManager {
    pub fn new(
        node_id: i32,
        config: Arc<BrokerConfig>,
        log_manager: LogManager,
        loaded: BTreeMap<TopicPartition, Log>,
        fetchers: ReplicaFetchers,
        isr_changes: IsrChanges,
        metrics: Arc<crate::metrics::BrokerMetrics>,
    ) -> Self {
        ReplicaManager {
            node_id,
            config: RwLock::new(config),
            log_manager: Mutex::new(Some(log_manager)),
            unclaimed: Mutex::new(loaded),
            topics: RwLock::new(HashMap::new()),
            at_start: Mutex::new(None),
            open_failures: Mutex::new(HashMap::new()),
            fetchers,
            isr_changes,
            leader_quota: ReplicationQuota::new(),
            metrics,
        }
    }

    /// The leader's replication throttle.
    pub fn leader_quota(&self) -> &ReplicationQuota {
        &self.leader_quota
    }

    /// Writes the `replication-offset-checkpoint` of every log directory
    /// with the high watermarks recorded since the last write.
    pub fn write_high_watermark_checkpoints(&self) {
        if let Some(manager) = self.log_manager.lock().as_ref() {
            if let Err(e) = manager.write_high_watermark_checkpoints() {
                warn!("could not write the high watermark checkpoints: {e}");
            }
        }
    }

    /// Where leaders send ISR changes.
    pub fn isr_changes(&self) -> &IsrChanges {
        &self.isr_changes
    }

    /// The partition if this broker leads it, else the error Kafka answers.
    pub fn leader_partition(
        &self,
        topic: &str,
        partition: i32,
    ) -> Result<Arc<Partition>, ResponseError> {
        let topics = self.topics.read();
        let Some(t) = topics.get(topic) else {
            return Err(ResponseError::UnknownTopicOrPartition);
        };
        match usize::try_from(partition)
            .ok()
            .and_then(|i| t.partitions.get(i))
        {
            None => Err(ResponseError::UnknownTopicOrPartition),
            Some(None)
                if t.offline.contains(&partition)
                    || self.open_failure(topic, partition).is_some() =>
            {
                Err(ResponseError::KafkaStorageError)
            }
            Some(None) => Err(ResponseError::NotLeaderOrFollower),
            Some(Some(p)) if !p.is_leader() => Err(ResponseError::NotLeaderOrFollower),
            Some(Some(p)) => Ok(p.clone()),
        }
    }

    /// The partition if this broker hosts it, as leader or follower: a
    /// consumer fetch may read from a follower (KIP-392).
    pub fn hosted_partition(
        &self,
        topic: &str,
        partition: i32,
    ) -> Result<Arc<Partition>, ResponseError> {
        let found = {
            let topics = self.topics.read();
            topics
                .get(topic)
                .and_then(|t| {
                    usize::try_from(partition)
                        .ok()
                        .and_then(|i| t.partitions.get(i))
                })
                .and_then(|p| p.clone())
        };
        match found {
            Some(p) => Ok(p),
            None => self.leader_partition(topic, partition),
        }
    }

    /// Every configured log directory: whether it is offline, and the hosted
    /// partitions in it with their sizes in bytes (DescribeLogDirs).
    pub fn log_dirs(&self) -> Vec<LogDirState> {
        let mut dirs: Vec<LogDirState> = {
            let manager = self.log_manager.lock();
            let Some(manager) = manager.as_ref() else {
                return Vec::new();
            };
            manager
                .log_dirs()
                .iter()
                .map(|d| LogDirState {
                    offline: manager.dir_failed(&d.path),
                    path: d.path.clone(),
                    partitions: Vec::new(),
                })
                .chain(manager.offline_at_start().iter().map(|path| LogDirState {
                    path: path.clone(),
                    offline: true,
                    partitions: Vec::new(),
                }))
                .collect()
        };
        for p in self.all_partitions() {
            let Some((dir, size)) = p.dir_and_size() else {
                continue;
            };
            if let Some(d) = dirs.iter_mut().find(|d| !d.offline && d.path == dir) {
                d.partitions.push((p.topic.clone(), p.index, size));
            }
        }
        dirs
    }

    /// Whether this broker leads the partition but cannot serve it: its log
    /// directory failed, or holds it and did not load, or its log could not be
    /// created.
    pub fn is_offline(&self, topic: &str, partition: i32) -> bool {
        let topics = self.topics.read();
        let Some(t) = topics.get(topic) else {
            return false;
        };
        t.offline.contains(&partition)
            || usize::try_from(partition)
                .ok()
                .and_then(|i| t.partitions.get(i))
                .and_then(|p| p.as_ref())
                .is_some_and(|p| p.is_offline())
            || self.open_failure(topic, partition).is_some()
    }

    /// Why the log of a partition assigned here could not be opened, if it could not.
    pub fn open_failure(&self, topic: &str, partition: i32) -> Option<String> {
        let failures = self.open_failures.lock();
        if failures.is_empty() {
            return None;
        }
        failures
            .get(&TopicPartition::new(topic.to_string(), partition))
            .cloned()
    }

    /// The partitions of `topic` whose log could not be opened, with why.
    pub fn open_failures_of(&self, topic: &str) -> Vec<(i32, String)> {
        let mut out: Vec<(i32, String)> = self
            .open_failures
            .lock()
            .iter()
            .filter(|(tp, _)| tp.topic == topic)
            .map(|(tp, why)| (tp.partition, why.clone()))
            .collect();
        out.sort();
        out
    }

    /// The partitions of `topic` this broker leads.
    pub fn topic_partitions(&self, topic: &str) -> Vec<Arc<Partition>> {
        self.topics
            .read()
            .get(topic)
            .map(|t| {
                t.partitions
                    .iter()
                    .flatten()
                    .filter(|p| p.is_leader())
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Leads or follows `p` as the image says.
    fn apply_role(&self, p: &Arc<Partition>, pimage: &strom_metadata::PartitionImage, now: i64) {
        if pimage.leader == self.node_id {
            if !p.is_leader() || p.leader_epoch() != pimage.leader_epoch {
                match p.become_leader(
                    pimage.leader_epoch,
                    pimage.partition_epoch,
                    pimage.replicas.clone(),
                    pimage.isr.clone(),
                    self.node_id,
                    now,
                ) {
                    Ok(()) => {
                        info!(topic = %p.topic, partition = p.index, leader_epoch = pimage.leader_epoch, isr = ?pimage.isr, "leading the partition")
                    }
                    Err(e) => {
                        warn!(topic = %p.topic, partition = p.index, "could not become leader: {e}")
                    }
                }
            } else {
                p.update_leader(
                    pimage.partition_epoch,
                    pimage.replicas.clone(),
                    pimage.isr.clone(),
                    now,
                );
            }
        } else if p.is_leader()
            || p.leader_epoch() != pimage.leader_epoch
            || p.followed_leader() != Some(pimage.leader)
        {
            p.become_follower(pimage.leader, pimage.leader_epoch);
            info!(topic = %p.topic, partition = p.index, leader = pimage.leader, leader_epoch = pimage.leader_epoch, "following the partition's leader");
        }
    }

    /// The partitions led here of topics with a flush policy: the only ones the
    /// flush timer needs to look at (with 100,000 idle partitions, looking at
    /// all of them ten times a second cost 4% of a core).
    pub fn partitions_with_flush_policy(&self) -> Vec<Arc<Partition>> {
        self.topics
            .read()
            .values()
            .filter(|t| t.flush_policy)
            .flat_map(|t| t.partitions.iter().flatten().cloned())
            .collect()
    }

    pub fn all_partitions(&self) -> Vec<Arc<Partition>> {
        self.topics
            .read()
            .values()
            .flat_map(|t| t.partitions.iter().flatten().cloned())
            .collect()
    }

    /// Brings hosted partitions in line with `image`, with `config` (the
    /// effective broker config) supplying the topic defaults. A partition whose
    /// log cannot be created or opened is left out (and recorded in
    /// `open_failures`); every other change still applies. Returns the first
    /// such failure, so the caller retries.
    pub fn apply_image(
        &self,
        image: &MetadataImage,
        config: Arc<BrokerConfig>,
    ) -> Result<(), LogError> {
        let durable_high_watermark = config.acks_all_fsync;
        self.leader_quota
            .set_limit(config.replication.leader_throttled_rate);
        self.fetchers
            .set_throttle(config.replication.follower_throttled_rate);
        *self.config.write() = config;
        let now = crate::broker::now_ms();
        let current = self.topics.read().clone();
        let mut next: HashMap<Arc<str>, Arc<TopicPartitions>> = HashMap::new();
        let mut at_start = self.at_start.lock();
        let at_start = at_start.get_or_insert_with(|| {
            image
                .topics()
                .flat_map(|t| {
                    let id = Uuid::from_bytes(t.topic_id.to_bytes());
                    t.partitions.keys().map(move |&p| (id, p))
                })
                .collect()
        });
        let mut failures: HashMap<TopicPartition, String> = HashMap::new();
        let mut first_failure = None;
        let mut follow = Vec::new();
        {
            let manager_guard = self.log_manager.lock();
            let Some(manager) = manager_guard.as_ref() else {
                return Ok(());
            };
            let mut unclaimed = self.unclaimed.lock();
            let mut created =
                self.create_new_logs(manager, image, &current, &unclaimed, at_start, now);
            for topic in image.topics() {
                let name: Arc<str> = Arc::from(topic.name.as_str());
                let topic_id = Uuid::from_bytes(topic.topic_id.to_bytes());
                let existing = current.get(&name).filter(|t| t.topic_id == topic_id);
                let broker_config = self.config.read().clone();
                let topic_config =
                    TopicConfig::resolve(&broker_config, image.topic_config(&topic.name));
                let config = log_config_from(&broker_config, &topic_config);
                let min_isr = topic_config.min_insync_replicas;
                let count = topic
                    .partitions
                    .keys()
                    .next_back()
                    .map(|&p| p as usize + 1)
                    .unwrap_or(0);
                let mut partitions: Vec<Option<Arc<Partition>>> = vec![None; count];
                let mut offline = Vec::new();
                for (&index, pimage) in &topic.partitions {
                    if !pimage.replicas.contains(&self.node_id) && pimage.leader != self.node_id {
                        continue;
                    }
                    let partition = if let Some(p) = existing
                        .and_then(|t| t.partitions.get(index as usize))
                        .and_then(|p| p.clone())
                    {
                        p.reconfigure(config.clone());
                        p
                    } else {
                        let tp = TopicPartition::new(topic.name.clone(), index);
                        let log = match unclaimed.remove(&tp) {
                            Some(mut log) => {
                                log.update_config(config.clone());
                                log
                            }
                            // A partition that existed before this start and is in no
                            // online directory may be in an offline one: creating it
                            // empty would restart its offsets at zero.
                            None if manager.any_dir_offline()
                                && at_start.contains(&(topic_id, index)) =>
                            {
                                warn!(partition = %tp, "partition is offline: its log is not in any online log directory and a log directory is offline");
                                offline.push(index);
                                continue;
                            }
                            None => match created
                                .remove(&tp)
                                .unwrap_or_else(|| manager.create_log(&tp, config.clone(), now))
                            {
                                Ok(log) => log,
                                Err(e) => {
                                    error!(partition = %tp, "could not create or open the log: {e}");
                                    failures.insert(tp, e.to_string());
                                    first_failure.get_or_insert(e);
                                    continue;
                                }
                            },
                        };
                        Arc::new(Partition::new(
                            name.clone(),
                            index,
                            pimage.leader_epoch,
                            log,
                            durable_high_watermark,
                            self.metrics.topic(&name),
                        ))
                    };
                    partition.set_min_insync_replicas(min_isr);
                    self.apply_role(&partition, pimage, now);
                    if pimage.leader != self.node_id && pimage.leader >= 0 {
                        follow.push(crate::replication::fetcher::FollowTarget {
                            partition: partition.clone(),
                            topic_id,
                            leader: pimage.leader,
                            leader_epoch: pimage.leader_epoch,
                        });
                    }
                    partitions[index as usize] = Some(partition);
                }
                next.insert(
                    name,
                    Arc::new(TopicPartitions {
                        topic_id,
                        partitions,
                        offline,
                        flush_policy: config.flush_messages.is_some() || config.flush_ms.is_some(),
                    }),
                );
            }
            // Logs on disk that no partition in the metadata owns: the topic
            // was deleted while this broker was down.
            let stray: Vec<TopicPartition> = unclaimed
                .keys()
                .filter(|tp| {
                    image
                        .topic(&tp.topic)
                        .map(|t| !t.partitions.contains_key(&tp.partition))
                        .unwrap_or(true)
                })
                .cloned()
                .collect();
            for tp in stray {
                if let Some(log) = unclaimed.remove(&tp) {
                    warn!(partition = %tp, "deleting the log of a partition that is not in the cluster metadata");
                    if let Err(e) = manager.delete_log(log) {
                        warn!(partition = %tp, "could not delete stray log: {e}");
                    }
                }
            }
        }
        let removed: Vec<Arc<Partition>> = current
            .iter()
            .flat_map(|(name, t)| {
                let gone = |i: usize| {
                    next.get(name)
                        .filter(|n| n.topic_id == t.topic_id)
                        .and_then(|n| n.partitions.get(i).cloned().flatten())
                        .is_none()
                };
                t.partitions
                    .iter()
                    .enumerate()
                    .filter(move |(i, p)| p.is_some() && gone(*i))
                    .filter_map(|(_, p)| p.clone())
            })
            .collect();
        *self.topics.write() = next;
        *self.open_failures.lock() = failures;
        self.fetchers.sync(follow);
        for p in removed {
            // Gone from the metadata, or no longer a replica here (a
            // reassignment moved it away): the log goes.
            info!(topic = %p.topic, partition = p.index, "deleting log: the partition is no longer hosted by this broker");
            p.become_follower(-1, p.leader_epoch());
            if let (Some(log), Some(manager)) = (p.remove(), self.log_manager.lock().as_ref()) {
                if let Err(e) = manager.delete_log(log) {
                    warn!(topic = %p.topic, partition = p.index, "could not delete log: {e}");
                }
            }
        }
        match first_failure {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Creates (or opens, if on disk but not loaded) the logs of the partitions `image`
    /// adds here, on several threads: creating a log is mostly waiting for file and
    /// directory fsyncs, which overlap well.
    fn create_new_logs(
        &self,
        manager: &LogManager,
        image: &MetadataImage,
        current: &HashMap<Arc<str>, Arc<TopicPartitions>>,
        unclaimed: &BTreeMap<TopicPartition, Log>,
        at_start: &std::collections::HashSet<(Uuid, i32)>,
        now: i64,
    ) -> HashMap<TopicPartition, Result<Log, LogError>> {
        let mut wanted: Vec<(TopicPartition, LogConfig)> = Vec::new();
        let any_dir_offline = manager.any_dir_offline();
        for topic in image.topics() {
            let topic_id = Uuid::from_bytes(topic.topic_id.to_bytes());
            let existing = current
                .get(topic.name.as_str())
                .filter(|t| t.topic_id == topic_id);
            let mut config = None;
            for (&index, pimage) in &topic.partitions {
                if !pimage.replicas.contains(&self.node_id)
                    || existing
                        .and_then(|t| t.partitions.get(index as usize))
                        .is_some_and(Option::is_some)
                {
                    continue;
                }
                let tp = TopicPartition::new(topic.name.clone(), index);
                // Left to apply_image: loaded logs, and partitions that may be in an
                // offline directory (never created empty elsewhere).
                if unclaimed.contains_key(&tp)
                    || (any_dir_offline && at_start.contains(&(topic_id, index)))
                {
                    continue;
                }
                let config = config
                    .get_or_insert_with(|| self.log_config(image, &topic.name))
                    .clone();
                wanted.push((tp, config));
            }
        }
        let threads = CREATE_THREADS.min(wanted.len());
        if threads <= 1 {
            return wanted
                .into_iter()
                .map(|(tp, config)| {
                    let log = manager.create_log(&tp, config, now);
                    (tp, log)
                })
                .collect();
        }
        let next = std::sync::atomic::AtomicUsize::new(0);
        let wanted = &wanted;
        std::thread::scope(|scope| {
            let workers: Vec<_> = (0..threads)
                .map(|_| {
                    scope.spawn(|| {
                        let mut out = Vec::new();
                        loop {
                            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            let Some((tp, config)) = wanted.get(i) else {
                                return out;
                            };
                            out.push((tp.clone(), manager.create_log(tp, config.clone(), now)));
                        }
                    })
                })
                .collect();
            // A worker that panicked leaves its partitions to the sequential fallback.
            workers
                .into_iter()
                .filter_map(|w| w.join().ok())
                .flatten()
                .collect()
        })
    }

    fn log_config(&self, image: &MetadataImage, topic: &str) -> LogConfig {
        let broker_config = self.config.read().clone();
        log_config_from(
            &broker_config,
            &TopicConfig::resolve(&broker_config, image.topic_config(topic)),
        )
    }

    /// Flushes and closes every log and leaves the clean-shutdown marker.
    pub fn shutdown(&self) -> Result<(), LogError> {
        self.fetchers.stop();
        let partitions = self.all_partitions();
        for p in &partitions {
            p.checkpoint_high_watermark();
        }
        self.topics.write().clear();
        let mut logs: Vec<Log> = partitions.iter().filter_map(|p| p.remove()).collect();
        logs.extend(std::mem::take(&mut *self.unclaimed.lock()).into_values());
        match self.log_manager.lock().take() {
            Some(manager) => manager.shutdown(logs),
            None => Ok(()),
        }
    }
}

/// The log settings of a topic: its resolved topic config, plus the broker keys the log
/// applies itself (`producer.id.expiration.ms`).
pub(crate) fn log_config_from(broker: &BrokerConfig, tc: &TopicConfig) -> LogConfig {
    LogConfig {
        producer_id_expiration_ms: broker.producer_id_expiration_ms,
        segment_bytes: tc.segment_bytes,
        segment_ms: tc.segment_ms.min(i64::MAX as u64) as i64,
        segment_jitter_ms: tc.segment_jitter_ms.min(i64::MAX as u64) as i64,
        segment_index_bytes: tc.segment_index_bytes,
        index_interval_bytes: tc.index_interval_bytes,
        max_message_bytes: tc.max_message_bytes.min(u32::MAX as u64) as u32,
        compression: match tc.compression_type {
            strom_config::CompressionType::Producer => None,
            strom_config::CompressionType::Uncompressed => Some(strom_records::Compression::None),
            strom_config::CompressionType::Gzip => Some(strom_records::Compression::Gzip),
            strom_config::CompressionType::Snappy => Some(strom_records::Compression::Snappy),
            strom_config::CompressionType::Lz4 => Some(strom_records::Compression::Lz4),
            strom_config::CompressionType::Zstd => Some(strom_records::Compression::Zstd),
        },
        flush_messages: tc.flush_messages,
        flush_ms: tc.flush_ms,
        // Time and size retention apply only when cleanup.policy includes delete, as in Kafka.
        retention_ms: tc
            .cleanup_policy
            .delete
            .then_some(tc.retention_ms)
            .flatten()
            .map(|ms| ms.min(i64::MAX as u64) as i64),
        retention_bytes: tc
            .cleanup_policy
            .delete
            .then_some(tc.retention_bytes)
            .flatten(),
        compact: tc.cleanup_policy.compact,
        delete_retention_ms: tc.delete_retention_ms.min(i64::MAX as u64) as i64,
        min_compaction_lag_ms: tc.min_compaction_lag_ms.min(i64::MAX as u64) as i64,
        max_compaction_lag_ms: tc.max_compaction_lag_ms.min(i64::MAX as u64) as i64,
        min_cleanable_dirty_ratio: tc.min_cleanable_dirty_ratio,
        message_timestamp_before_max_ms: tc.message_timestamp_before_max_ms.min(i64::MAX as u64)
            as i64,
        message_timestamp_after_max_ms: tc.message_timestamp_after_max_ms.min(i64::MAX as u64)
            as i64,
        message_timestamp_type: match tc.message_timestamp_type {
            strom_config::TimestampType::CreateTime => strom_records::TimestampType::CreateTime,
            strom_config::TimestampType::LogAppendTime => {
                strom_records::TimestampType::LogAppendTime
            }
        },
    }
}
