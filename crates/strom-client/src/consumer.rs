//! A consumer: partitions assigned by the caller ([`Consumer::assign`]) or
//! by a consumer group over the classic protocol
//! ([`Consumer::subscribe`]: JoinGroup, the leader's range assignment,
//! SyncGroup, heartbeats), fetched from each partition's leader, offsets
//! committed to the group with OffsetCommit.
//!
//! Reads `read_uncommitted` (the console consumer's default); control
//! batches (transaction markers) are skipped.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use strom_records::{Header, RecordBatch, TimestampType};
use tokio::time::Instant;
use tracing::debug;

use crate::admin_client::{str_bytes, AdminClient, AdminConfig};
use crate::cluster::{ClusterMetadata, TopicPartition};
use crate::connection::ConnectionConfig;
use crate::error::{Error, ErrorCode};

const EARLIEST_TIMESTAMP: i64 = -2;
const LATEST_TIMESTAMP: i64 = -1;
const OFFSET_OUT_OF_RANGE: i16 = 1;
const ILLEGAL_GENERATION: i16 = 22;
const UNKNOWN_MEMBER_ID: i16 = 25;
const REBALANCE_IN_PROGRESS: i16 = 27;
const MEMBER_ID_REQUIRED: i16 = 79;
/// The consumer embedded protocol's version for subscriptions/assignments.
const CONSUMER_PROTOCOL_VERSION: i16 = 0;
const RANGE: &str = "range";

/// Where a partition without a committed offset starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartOffset {
    Earliest,
    Latest,
    /// An absolute offset.
    Offset(i64),
    /// The first offset whose timestamp is at or after this (ms since the
    /// epoch); the log end when none is.
    Timestamp(i64),
}

/// Consumer settings, named after Kafka's consumer configs.
#[derive(Debug, Clone)]
pub struct ConsumerConfig {
    pub bootstrap_server: String,
    /// `client.id`, `request.timeout.ms`.
    pub connection: ConnectionConfig,
    /// `group.id`: needed by [`Consumer::subscribe`] and commits.
    pub group_id: Option<String>,
    /// `auto.offset.reset` (default latest).
    pub auto_offset_reset: StartOffset,
    /// `fetch.max.wait.ms` (default 500 ms).
    pub fetch_max_wait: Duration,
    /// `fetch.min.bytes` (default 1).
    pub fetch_min_bytes: i32,
    /// `fetch.max.bytes` (default 52428800).
    pub fetch_max_bytes: i32,
    /// `max.partition.fetch.bytes` (default 1048576).
    pub max_partition_fetch_bytes: i32,
    /// `session.timeout.ms` (default 45 s).
    pub session_timeout: Duration,
    /// `heartbeat.interval.ms` (default 3 s).
    pub heartbeat_interval: Duration,
    /// `max.poll.interval.ms` (default 300 s), sent as the rebalance timeout.
    pub max_poll_interval: Duration,
    /// `retry.backoff.ms` (default 100 ms).
    pub retry_backoff: Duration,
    /// `default.api.timeout.ms` (default 60 s).
    pub api_timeout: Duration,
    /// `isolation.level` (default read_uncommitted, as Java's consumer).
    pub isolation_level: IsolationLevel,
}

/// `isolation.level`: whether records of open and aborted transactions are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IsolationLevel {
    /// Everything up to the high watermark.
    #[default]
    ReadUncommitted,
    /// Up to the last stable offset, without the records of aborted transactions.
    ReadCommitted,
}

impl IsolationLevel {
    /// Parses `read_uncommitted` / `read_committed`.
    pub fn parse(text: &str) -> Option<IsolationLevel> {
        match text.trim() {
            "read_uncommitted" => Some(IsolationLevel::ReadUncommitted),
            "read_committed" => Some(IsolationLevel::ReadCommitted),
            _ => None,
        }
    }

    fn wire(self) -> i8 {
        match self {
            IsolationLevel::ReadUncommitted => 0,
            IsolationLevel::ReadCommitted => 1,
        }
    }
}

impl ConsumerConfig {
    pub fn new(bootstrap_server: impl Into<String>) -> ConsumerConfig {
        ConsumerConfig {
            bootstrap_server: bootstrap_server.into(),
            connection: ConnectionConfig::default(),
            group_id: None,
            auto_offset_reset: StartOffset::Latest,
            fetch_max_wait: Duration::from_millis(500),
            fetch_min_bytes: 1,
            fetch_max_bytes: 52_428_800,
            max_partition_fetch_bytes: 1_048_576,
            session_timeout: Duration::from_secs(45),
            heartbeat_interval: Duration::from_secs(3),
            max_poll_interval: Duration::from_secs(300),
            retry_backoff: Duration::from_millis(100),
            api_timeout: Duration::from_secs(60),
            isolation_level: IsolationLevel::ReadUncommitted,
        }
    }
}

/// One record read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerRecord {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub timestamp: i64,
    pub timestamp_type: TimestampType,
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    pub headers: Vec<Header>,
}

struct Membership {
    group_id: String,
    member_id: String,
    generation: i32,
    topics: Vec<String>,
    last_heartbeat: Instant,
}

pub struct Consumer {
    client: AdminClient,
    config: ConsumerConfig,
    metadata: ClusterMetadata,
    /// Assigned partitions and the next offset to read.
    positions: BTreeMap<TopicPartition, i64>,
    /// High watermarks seen in the last fetch of each partition.
    high_watermarks: HashMap<TopicPartition, i64>,
    membership: Option<Membership>,
}

impl Consumer {
    pub async fn connect(config: ConsumerConfig) -> Result<Consumer, Error> {
        let mut admin_config = AdminConfig::new(config.bootstrap_server.clone());
        admin_config.connection = config.connection.clone();
        admin_config.retry_backoff = config.retry_backoff;
        admin_config.api_timeout = config.api_timeout;
        let client = AdminClient::connect(admin_config).await?;
        Ok(Consumer {
            client,
            config,
            metadata: ClusterMetadata::default(),
            positions: BTreeMap::new(),
            high_watermarks: HashMap::new(),
            membership: None,
        })
    }

    /// The topic's partitions, as metadata lists them (an error when the
    /// topic does not exist).
    pub async fn partitions(&mut self, topic: &str) -> Result<Vec<i32>, Error> {
        self.refresh_metadata(&[topic.to_owned()]).await?;
        match self.metadata.topics.get(topic) {
            Some(t) if t.error.is_none() => Ok(t.partitions.keys().copied().collect()),
            other => Err(Error::Kafka {
                api: ApiKey::Metadata,
                code: other
                    .and_then(|t| t.error)
                    .unwrap_or(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION),
                message: Some(format!("topic {topic}")),
            }),
        }
    }

    /// Reads exactly these partitions, each from `start`.
    pub async fn assign(
        &mut self,
        partitions: &[(TopicPartition, StartOffset)],
    ) -> Result<(), Error> {
        let topics: Vec<String> = partitions
            .iter()
            .map(|(tp, _)| tp.topic.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        self.refresh_metadata(&topics).await?;
        self.positions.clear();
        let resolved = self.resolve(partitions).await?;
        self.positions.extend(resolved);
        Ok(())
    }

    /// The partitions read and their next offsets.
    pub fn positions(&self) -> &BTreeMap<TopicPartition, i64> {
        &self.positions
    }

    /// Moves one assigned partition to `offset`.
    pub fn seek(&mut self, tp: &TopicPartition, offset: i64) {
        if let Some(p) = self.positions.get_mut(tp) {
            *p = offset;
        }
    }

    /// Log start/end (or the offset for a timestamp) of each partition.
    pub async fn list_offsets(
        &mut self,
        partitions: &[(TopicPartition, StartOffset)],
    ) -> Result<BTreeMap<TopicPartition, i64>, Error> {
        let topics: Vec<String> = partitions
            .iter()
            .map(|(tp, _)| tp.topic.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        self.refresh_metadata(&topics).await?;
        self.resolve(partitions).await
    }

    /// Joins `topics`' consumer group (`group.id`) and gets this member's
    /// partitions; they start at the committed offsets, else at
    /// `auto.offset.reset`.
    pub async fn subscribe(&mut self, topics: &[String]) -> Result<(), Error> {
        let group_id = self.config.group_id.clone().ok_or_else(|| Error::Kafka {
            api: ApiKey::JoinGroup,
            code: ErrorCode(24), // INVALID_GROUP_ID
            message: Some("subscribe needs a group.id".to_owned()),
        })?;
        self.membership = Some(Membership {
            group_id,
            member_id: String::new(),
            generation: -1,
            topics: topics.to_vec(),
            last_heartbeat: Instant::now(),
        });
        self.join().await
    }

    /// JoinGroup and SyncGroup until this member has a generation and its
    /// assignment.
    async fn join(&mut self) -> Result<(), Error> {
        let deadline = Instant::now() + self.config.api_timeout + self.config.max_poll_interval;
        let Some(m) = self.membership.as_ref() else {
            return Ok(());
        };
        let group_id = m.group_id.clone();
        let topics = m.topics.clone();
        let mut member_id = m.member_id.clone();
        self.refresh_metadata(&topics).await?;
        loop {
            let coordinator = self.client.find_coordinator(&group_id).await?.addr();
            let mut subscription =
                consumer_protocol_subscription::ConsumerProtocolSubscription::default();
            subscription.topics = topics.iter().map(|t| str_bytes(t)).collect();
            let metadata = encode_embedded(&subscription, CONSUMER_PROTOCOL_VERSION)?;
            let config = self.config.clone();
            let join = self
                .client
                .send(&coordinator, |_| {
                    let mut req = JoinGroupRequest::default();
                    req.group_id = GroupId(str_bytes(&group_id));
                    req.session_timeout_ms = millis(config.session_timeout);
                    req.rebalance_timeout_ms = millis(config.max_poll_interval);
                    req.member_id = str_bytes(&member_id);
                    req.protocol_type = StrBytes::from_static_str("consumer");
                    let mut p = join_group_request::JoinGroupRequestProtocol::default();
                    p.name = StrBytes::from_static_str(RANGE);
                    p.metadata = metadata.clone();
                    req.protocols = vec![p];
                    Ok(req)
                })
                .await?;
            match join.error_code {
                0 => {}
                MEMBER_ID_REQUIRED => {
                    member_id = join.member_id.to_string();
                    continue;
                }
                UNKNOWN_MEMBER_ID => {
                    member_id.clear();
                    continue;
                }
                code if Instant::now() < deadline
                    && (ErrorCode(code).is_retriable()
                        || ErrorCode(code).is_coordinator_retriable()
                        || code == REBALANCE_IN_PROGRESS) =>
                {
                    tokio::time::sleep(self.config.retry_backoff).await;
                    continue;
                }
                code => {
                    return Err(Error::Kafka {
                        api: ApiKey::JoinGroup,
                        code: ErrorCode(code),
                        message: Some(format!("group {group_id}")),
                    })
                }
            }
            member_id = join.member_id.to_string();
            let generation = join.generation_id;
            let assignments = if join.leader == join.member_id {
                self.assign_range(&join.members).await?
            } else {
                Vec::new()
            };
            let sync = self
                .client
                .send(&coordinator, |version| {
                    let mut req = SyncGroupRequest::default();
                    req.group_id = GroupId(str_bytes(&group_id));
                    req.generation_id = generation;
                    req.member_id = str_bytes(&member_id);
                    if version >= 5 {
                        req.protocol_type = Some(StrBytes::from_static_str("consumer"));
                        req.protocol_name = Some(StrBytes::from_static_str(RANGE));
                    }
                    req.assignments = assignments
                        .iter()
                        .map(|(m, a)| {
                            let mut s = sync_group_request::SyncGroupRequestAssignment::default();
                            s.member_id = str_bytes(m);
                            s.assignment = a.clone();
                            s
                        })
                        .collect();
                    Ok(req)
                })
                .await?;
            match sync.error_code {
                0 => {}
                REBALANCE_IN_PROGRESS | ILLEGAL_GENERATION if Instant::now() < deadline => continue,
                UNKNOWN_MEMBER_ID if Instant::now() < deadline => {
                    member_id.clear();
                    continue;
                }
                code if Instant::now() < deadline && ErrorCode(code).is_coordinator_retriable() => {
                    tokio::time::sleep(self.config.retry_backoff).await;
                    continue;
                }
                code => {
                    return Err(Error::Kafka {
                        api: ApiKey::SyncGroup,
                        code: ErrorCode(code),
                        message: Some(format!("group {group_id}")),
                    })
                }
            }
            let assigned = decode_assignment(&sync.assignment)?;
            debug!(group = %group_id, generation, partitions = assigned.len(), "joined");
            if let Some(m) = self.membership.as_mut() {
                m.member_id = member_id.clone();
                m.generation = generation;
                m.last_heartbeat = Instant::now();
            }
            let committed = if assigned.is_empty() {
                BTreeMap::new()
            } else {
                let mut topics: BTreeMap<String, Vec<i32>> = BTreeMap::new();
                for tp in &assigned {
                    topics
                        .entry(tp.topic.clone())
                        .or_default()
                        .push(tp.partition);
                }
                let topics: Vec<(String, Vec<i32>)> = topics.into_iter().collect();
                self.client.offset_fetch(&group_id, Some(&topics)).await?
            };
            let reset = self.config.auto_offset_reset;
            let starts: Vec<(TopicPartition, StartOffset)> = assigned
                .iter()
                .map(|tp| {
                    let start = committed
                        .get(tp)
                        .and_then(|c| c.offset)
                        .filter(|&o| o >= 0)
                        .map_or(reset, StartOffset::Offset);
                    (tp.clone(), start)
                })
                .collect();
            self.positions = self.resolve(&starts).await?;
            return Ok(());
        }
    }

    /// Kafka's RangeAssignor: per topic, partitions in order split into
    /// contiguous ranges among the subscribed members sorted by id, the
    /// first `partitions % members` getting one more.
    async fn assign_range(
        &mut self,
        members: &[join_group_response::JoinGroupResponseMember],
    ) -> Result<Vec<(String, Bytes)>, Error> {
        let mut subscriptions: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for m in members {
            let mut buf = m.metadata.clone();
            let topics = match decode_embedded::<
                consumer_protocol_subscription::ConsumerProtocolSubscription,
            >(&mut buf)
            {
                Ok(s) => s.topics.iter().map(|t| t.to_string()).collect(),
                Err(_) => Vec::new(),
            };
            subscriptions.insert(m.member_id.to_string(), topics);
        }
        let all: Vec<String> = subscriptions
            .values()
            .flatten()
            .cloned()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        self.refresh_metadata(&all).await?;
        let mut counts = BTreeMap::new();
        for t in &all {
            if let Some(meta) = self.metadata.topics.get(t) {
                counts.insert(t.clone(), meta.partitions.len() as i32);
            }
        }
        let plan = range_assignment(&subscriptions, &counts);
        plan.into_iter()
            .map(|(member, topics)| {
                let mut a = consumer_protocol_assignment::ConsumerProtocolAssignment::default();
                a.assigned_partitions = topics
                    .into_iter()
                    .map(|(topic, partitions)| {
                        let mut tp = consumer_protocol_assignment::TopicPartition::default();
                        tp.topic = TopicName(str_bytes(&topic));
                        tp.partitions = partitions;
                        tp
                    })
                    .collect();
                Ok((member, encode_embedded(&a, CONSUMER_PROTOCOL_VERSION)?))
            })
            .collect()
    }

    /// Sends a heartbeat when one is due; rejoins after a rebalance starts.
    async fn heartbeat(&mut self) -> Result<(), Error> {
        let Some(m) = self.membership.as_ref() else {
            return Ok(());
        };
        if m.last_heartbeat.elapsed() < self.config.heartbeat_interval {
            return Ok(());
        }
        let (group_id, member_id, generation) =
            (m.group_id.clone(), m.member_id.clone(), m.generation);
        let coordinator = self.client.find_coordinator(&group_id).await?.addr();
        let resp = self
            .client
            .send(&coordinator, |_| {
                let mut req = HeartbeatRequest::default();
                req.group_id = GroupId(str_bytes(&group_id));
                req.generation_id = generation;
                req.member_id = str_bytes(&member_id);
                Ok(req)
            })
            .await?;
        if let Some(m) = self.membership.as_mut() {
            m.last_heartbeat = Instant::now();
        }
        match resp.error_code {
            0 => Ok(()),
            REBALANCE_IN_PROGRESS => {
                // Commit what was read, then take part in the rebalance.
                let _ = self.commit().await;
                self.join().await
            }
            UNKNOWN_MEMBER_ID | ILLEGAL_GENERATION => {
                if let Some(m) = self.membership.as_mut() {
                    m.member_id.clear();
                }
                self.join().await
            }
            code if ErrorCode(code).is_coordinator_retriable() => Ok(()),
            code => Err(Error::Kafka {
                api: ApiKey::Heartbeat,
                code: ErrorCode(code),
                message: Some(format!("group {group_id}")),
            }),
        }
    }

    /// Records of the assigned partitions, waiting up to `timeout`
    /// (at least one fetch is made). Empty when nothing arrived.
    pub async fn poll(&mut self, timeout: Duration) -> Result<Vec<ConsumerRecord>, Error> {
        let deadline = Instant::now() + timeout;
        loop {
            self.heartbeat().await?;
            let remaining = deadline.saturating_duration_since(Instant::now());
            let wait = remaining.min(self.config.fetch_max_wait);
            let records = self.fetch_once(wait).await?;
            if !records.is_empty() || Instant::now() >= deadline {
                return Ok(records);
            }
        }
    }

    /// Whether every assigned partition's position has reached the high
    /// watermark seen by the last fetch (or the log end, asked now).
    pub async fn at_end(&mut self) -> Result<bool, Error> {
        let unknown: Vec<(TopicPartition, StartOffset)> = self
            .positions
            .keys()
            .filter(|tp| !self.high_watermarks.contains_key(*tp))
            .map(|tp| (tp.clone(), StartOffset::Latest))
            .collect();
        if !unknown.is_empty() {
            let ends = self.resolve(&unknown).await?;
            self.high_watermarks.extend(ends);
        }
        Ok(self
            .positions
            .iter()
            .all(|(tp, &pos)| self.high_watermarks.get(tp).is_some_and(|&hw| pos >= hw)))
    }

    /// Commits the current positions to the group.
    pub async fn commit(&mut self) -> Result<(), Error> {
        let Some(group_id) = self
            .membership
            .as_ref()
            .map(|m| m.group_id.clone())
            .or_else(|| self.config.group_id.clone())
        else {
            return Ok(());
        };
        let (member_id, generation) = self
            .membership
            .as_ref()
            .map_or((String::new(), -1), |m| (m.member_id.clone(), m.generation));
        let positions = self.positions.clone();
        if positions.is_empty() {
            return Ok(());
        }
        let coordinator = self.client.find_coordinator(&group_id).await?.addr();
        let resp = self
            .client
            .send(&coordinator, |_| {
                let mut req = OffsetCommitRequest::default();
                req.group_id = GroupId(str_bytes(&group_id));
                req.generation_id_or_member_epoch = generation;
                req.member_id = str_bytes(&member_id);
                req.retention_time_ms = -1;
                let mut topics: BTreeMap<&str, Vec<(i32, i64)>> = BTreeMap::new();
                for (tp, &offset) in &positions {
                    topics
                        .entry(&tp.topic)
                        .or_default()
                        .push((tp.partition, offset));
                }
                req.topics = topics
                    .into_iter()
                    .map(|(name, ps)| {
                        let mut t = offset_commit_request::OffsetCommitRequestTopic::default();
                        t.name = TopicName(str_bytes(name));
                        t.partitions = ps
                            .into_iter()
                            .map(|(p, o)| {
                                let mut cp =
                                    offset_commit_request::OffsetCommitRequestPartition::default();
                                cp.partition_index = p;
                                cp.committed_offset = o;
                                cp.committed_leader_epoch = -1;
                                cp
                            })
                            .collect();
                        t
                    })
                    .collect();
                Ok(req)
            })
            .await?;
        for t in resp.topics {
            for p in t.partitions {
                if let Some(code) = ErrorCode::from_code(p.error_code) {
                    return Err(Error::Kafka {
                        api: ApiKey::OffsetCommit,
                        code,
                        message: Some(format!("{}-{}", t.name.0, p.partition_index)),
                    });
                }
            }
        }
        Ok(())
    }

    /// Leaves the group (if any), so its partitions move at once.
    pub async fn close(mut self) -> Result<(), Error> {
        let Some(m) = self.membership.take() else {
            return Ok(());
        };
        let coordinator = self.client.find_coordinator(&m.group_id).await?.addr();
        let _ = self
            .client
            .send(&coordinator, |version| {
                let mut req = LeaveGroupRequest::default();
                req.group_id = GroupId(str_bytes(&m.group_id));
                if version >= 3 {
                    let mut member = leave_group_request::MemberIdentity::default();
                    member.member_id = str_bytes(&m.member_id);
                    req.members = vec![member];
                } else {
                    req.member_id = str_bytes(&m.member_id);
                }
                Ok(req)
            })
            .await?;
        Ok(())
    }

    async fn refresh_metadata(&mut self, topics: &[String]) -> Result<(), Error> {
        let fresh = self.client.metadata(Some(topics)).await?;
        self.metadata.brokers = fresh.brokers;
        self.metadata.topics.extend(fresh.topics);
        Ok(())
    }

    /// Offsets for start positions, with ListOffsets to each leader for
    /// those that are not absolute.
    async fn resolve(
        &mut self,
        starts: &[(TopicPartition, StartOffset)],
    ) -> Result<BTreeMap<TopicPartition, i64>, Error> {
        let mut out = BTreeMap::new();
        let mut by_leader: BTreeMap<String, Vec<(TopicPartition, i64)>> = BTreeMap::new();
        for (tp, start) in starts {
            let timestamp = match *start {
                StartOffset::Offset(o) => {
                    out.insert(tp.clone(), o);
                    continue;
                }
                StartOffset::Earliest => EARLIEST_TIMESTAMP,
                StartOffset::Latest => LATEST_TIMESTAMP,
                StartOffset::Timestamp(t) => t,
            };
            let leader = self.metadata.leader(tp).map_err(|code| Error::Kafka {
                api: ApiKey::ListOffsets,
                code,
                message: Some(tp.to_string()),
            })?;
            by_leader
                .entry(leader.addr())
                .or_default()
                .push((tp.clone(), timestamp));
        }
        let mut need_end = Vec::new();
        // read_committed: the latest offset is the last stable offset.
        let isolation = self.config.isolation_level.wire();
        for (addr, tps) in by_leader {
            let resp = self
                .client
                .send(&addr, |_| {
                    let mut req = ListOffsetsRequest::default();
                    req.replica_id = BrokerId(-1);
                    req.isolation_level = isolation;
                    let mut topics: BTreeMap<&str, Vec<(i32, i64)>> = BTreeMap::new();
                    for (tp, ts) in &tps {
                        topics
                            .entry(&tp.topic)
                            .or_default()
                            .push((tp.partition, *ts));
                    }
                    req.topics = topics
                        .into_iter()
                        .map(|(name, ps)| {
                            let mut t = list_offsets_request::ListOffsetsTopic::default();
                            t.name = TopicName(str_bytes(name));
                            t.partitions = ps
                                .into_iter()
                                .map(|(p, ts)| {
                                    let mut lp =
                                        list_offsets_request::ListOffsetsPartition::default();
                                    lp.partition_index = p;
                                    lp.timestamp = ts;
                                    lp.current_leader_epoch = -1;
                                    lp
                                })
                                .collect();
                            t
                        })
                        .collect();
                    Ok(req)
                })
                .await?;
            for t in resp.topics {
                for p in t.partitions {
                    let tp = TopicPartition::new(t.name.0.to_string(), p.partition_index);
                    if let Some(code) = ErrorCode::from_code(p.error_code) {
                        return Err(Error::Kafka {
                            api: ApiKey::ListOffsets,
                            code,
                            message: Some(tp.to_string()),
                        });
                    }
                    if p.offset < 0 {
                        // No record at or after the timestamp: the log end.
                        need_end.push((tp, StartOffset::Latest));
                    } else {
                        out.insert(tp, p.offset);
                    }
                }
            }
        }
        if !need_end.is_empty() {
            let ends = Box::pin(self.resolve(&need_end)).await?;
            out.extend(ends);
        }
        Ok(out)
    }

    /// One fetch round: one Fetch per leader of the assigned partitions.
    async fn fetch_once(&mut self, wait: Duration) -> Result<Vec<ConsumerRecord>, Error> {
        if self.positions.is_empty() {
            tokio::time::sleep(wait).await;
            return Ok(Vec::new());
        }
        let mut by_leader: BTreeMap<String, Vec<(TopicPartition, i64)>> = BTreeMap::new();
        let mut refresh = false;
        for (tp, &offset) in &self.positions {
            match self.metadata.leader(tp) {
                Ok(l) => by_leader
                    .entry(l.addr())
                    .or_default()
                    .push((tp.clone(), offset)),
                Err(_) => refresh = true,
            }
        }
        let mut out = Vec::new();
        let mut resets = Vec::new();
        let leaders = by_leader.len().max(1) as u32;
        for (addr, tps) in by_leader {
            let ids: HashMap<[u8; 16], String> = self
                .metadata
                .topics
                .iter()
                .map(|(name, t)| (t.topic_id, name.clone()))
                .collect();
            let topic_ids: HashMap<String, [u8; 16]> =
                ids.iter().map(|(id, n)| (n.clone(), *id)).collect();
            let config = &self.config;
            let resp = self
                .client
                .send(&addr, |version| {
                    let mut req = FetchRequest::default();
                    req.replica_id = BrokerId(-1);
                    req.max_wait_ms = millis(wait / leaders);
                    req.min_bytes = config.fetch_min_bytes;
                    req.max_bytes = config.fetch_max_bytes;
                    req.isolation_level = config.isolation_level.wire();
                    req.session_id = 0;
                    req.session_epoch = -1;
                    let mut topics: BTreeMap<&str, Vec<(i32, i64)>> = BTreeMap::new();
                    for (tp, o) in &tps {
                        topics
                            .entry(&tp.topic)
                            .or_default()
                            .push((tp.partition, *o));
                    }
                    req.topics = topics
                        .into_iter()
                        .map(|(name, ps)| {
                            let mut t = fetch_request::FetchTopic::default();
                            if version >= 13 {
                                t.topic_id = uuid::Uuid::from_bytes(
                                    topic_ids.get(name).copied().unwrap_or_default(),
                                );
                            } else {
                                t.topic = TopicName(str_bytes(name));
                            }
                            t.partitions = ps
                                .into_iter()
                                .map(|(p, o)| {
                                    let mut fp = fetch_request::FetchPartition::default();
                                    fp.partition = p;
                                    fp.fetch_offset = o;
                                    fp.current_leader_epoch = -1;
                                    fp.last_fetched_epoch = -1;
                                    fp.log_start_offset = -1;
                                    fp.partition_max_bytes = config.max_partition_fetch_bytes;
                                    fp
                                })
                                .collect();
                            t
                        })
                        .collect();
                    Ok(req)
                })
                .await?;
            if let Some(code) = ErrorCode::from_code(resp.error_code) {
                return Err(Error::Kafka {
                    api: ApiKey::Fetch,
                    code,
                    message: None,
                });
            }
            for t in resp.responses {
                let topic = if t.topic.0.is_empty() {
                    match ids.get(t.topic_id.as_bytes()) {
                        Some(n) => n.clone(),
                        None => continue,
                    }
                } else {
                    t.topic.0.to_string()
                };
                for p in t.partitions {
                    let tp = TopicPartition::new(topic.clone(), p.partition_index);
                    let Some(&position) = self.positions.get(&tp) else {
                        continue;
                    };
                    match p.error_code {
                        0 => {}
                        OFFSET_OUT_OF_RANGE => {
                            resets.push((tp, self.config.auto_offset_reset));
                            continue;
                        }
                        code if ErrorCode(code).is_retriable() => {
                            refresh = true;
                            continue;
                        }
                        code => {
                            return Err(Error::Kafka {
                                api: ApiKey::Fetch,
                                code: ErrorCode(code),
                                message: Some(tp.to_string()),
                            })
                        }
                    }
                    // read_committed reads up to the last stable offset: that is its end.
                    let end = match self.config.isolation_level {
                        IsolationLevel::ReadCommitted if p.last_stable_offset >= 0 => {
                            p.last_stable_offset
                        }
                        _ => p.high_watermark,
                    };
                    self.high_watermarks.insert(tp.clone(), end);
                    let Some(records) = p.records else { continue };
                    let aborted = match self.config.isolation_level {
                        IsolationLevel::ReadUncommitted => None,
                        IsolationLevel::ReadCommitted => Some(
                            p.aborted_transactions
                                .unwrap_or_default()
                                .into_iter()
                                .map(|a| (a.producer_id.0, a.first_offset))
                                .collect(),
                        ),
                    };
                    let next = decode_into(&tp, records, position, aborted, &mut out)?;
                    self.positions.insert(tp, next);
                }
            }
        }
        if !resets.is_empty() {
            let resolved = self.resolve(&resets).await?;
            self.positions.extend(resolved);
        }
        if refresh {
            let topics: Vec<String> = self
                .positions
                .keys()
                .map(|tp| tp.topic.clone())
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            tokio::time::sleep(self.config.retry_backoff).await;
            self.refresh_metadata(&topics).await?;
        }
        Ok(out)
    }
}

/// Appends the records at or after `position` from a fetched records
/// section; returns the next position. A batch cut short at the end of the
/// section is left for the next fetch. `aborted` (read_committed only) is the
/// response's aborted transactions, (producer id, first offset): a
/// transactional batch of a producer whose aborted transaction began at or
/// before the batch is skipped, until that producer's abort marker, as
/// Kafka's consumer does.
fn decode_into(
    tp: &TopicPartition,
    records: Bytes,
    mut position: i64,
    aborted: Option<Vec<(i64, i64)>>,
    out: &mut Vec<ConsumerRecord>,
) -> Result<i64, Error> {
    let read_committed = aborted.is_some();
    let mut pending = aborted.unwrap_or_default();
    // Latest first offset at the end, so the next to begin pops off the back.
    pending.sort_unstable_by_key(|&(_, first)| std::cmp::Reverse(first));
    let mut aborting: HashSet<i64> = HashSet::new();
    let corrupt = |e: &dyn std::fmt::Display| Error::Kafka {
        api: ApiKey::Fetch,
        code: ErrorCode(2), // CORRUPT_MESSAGE
        message: Some(format!("{tp}: {e}")),
    };
    for batch in RecordBatch::iter(records) {
        let batch = match batch {
            Ok(b) => b,
            Err(strom_records::RecordsError::PartialBatch { .. }) => break,
            Err(e) => return Err(corrupt(&e)),
        };
        if batch.next_offset() <= position {
            continue;
        }
        if read_committed && batch.producer_id() >= 0 {
            while pending
                .last()
                .is_some_and(|&(_, first)| first <= batch.last_offset())
            {
                if let Some((producer, _)) = pending.pop() {
                    aborting.insert(producer);
                }
            }
            if batch.is_control() {
                if is_abort_marker(&batch) {
                    aborting.remove(&batch.producer_id());
                }
            } else if batch.is_transactional() && aborting.contains(&batch.producer_id()) {
                position = batch.next_offset();
                continue;
            }
        }
        if batch.is_control() {
            position = batch.next_offset();
            continue;
        }
        let timestamp_type = batch.timestamp_type();
        for r in batch.records().map_err(|e| corrupt(&e))? {
            if r.offset() < position {
                continue;
            }
            out.push(ConsumerRecord {
                topic: tp.topic.clone(),
                partition: tp.partition,
                offset: r.offset(),
                timestamp: r.timestamp(),
                timestamp_type,
                key: r.key.clone(),
                value: r.value.clone(),
                headers: r.headers.clone(),
            });
        }
        position = batch.next_offset();
    }
    Ok(position)
}

/// Whether a control batch holds an abort marker.
fn is_abort_marker(batch: &RecordBatch) -> bool {
    batch.records().ok().is_some_and(|records| {
        records.first().is_some_and(|r| {
            matches!(
                strom_records::EndTransactionMarker::parse(r.key.as_deref(), r.value.as_deref()),
                Ok(Some(m)) if !m.commit
            )
        })
    })
}

/// Kafka's RangeAssignor over `subscriptions` (member → topics) and
/// partition counts: member → topic → partitions.
pub fn range_assignment(
    subscriptions: &BTreeMap<String, Vec<String>>,
    partition_counts: &BTreeMap<String, i32>,
) -> BTreeMap<String, BTreeMap<String, Vec<i32>>> {
    let mut plan: BTreeMap<String, BTreeMap<String, Vec<i32>>> = subscriptions
        .keys()
        .map(|m| (m.clone(), BTreeMap::new()))
        .collect();
    for (topic, &count) in partition_counts {
        let members: Vec<&String> = subscriptions
            .iter()
            .filter(|(_, ts)| ts.contains(topic))
            .map(|(m, _)| m)
            .collect();
        if members.is_empty() || count <= 0 {
            continue;
        }
        let n = members.len() as i32;
        let (per, extra) = (count / n, count % n);
        for (i, m) in members.into_iter().enumerate() {
            let i = i as i32;
            let start = per * i + i.min(extra);
            let len = per + i32::from(i < extra);
            if len > 0 {
                if let Some(topics) = plan.get_mut(m) {
                    topics.insert(topic.clone(), (start..start + len).collect());
                }
            }
        }
    }
    plan
}

fn encode_embedded<M: Encodable>(message: &M, version: i16) -> Result<Bytes, Error> {
    let mut buf = BytesMut::new();
    buf.extend_from_slice(&version.to_be_bytes());
    message
        .encode(&mut buf, version)
        .map_err(|e| Error::Encode {
            api: ApiKey::JoinGroup,
            version,
            message: e.to_string(),
        })?;
    Ok(buf.freeze())
}

fn decode_embedded<M: Decodable>(buf: &mut Bytes) -> Result<M, String> {
    if buf.len() < 2 {
        return Err("too short".to_owned());
    }
    let version = i16::from_be_bytes([buf[0], buf[1]]);
    let mut body = buf.slice(2..);
    // Newer versions only add fields at the end: read them as the highest
    // this codec knows (3 for subscriptions, 3 for assignments).
    M::decode(&mut body, version.clamp(0, 3)).map_err(|e| e.to_string())
}

fn decode_assignment(bytes: &Bytes) -> Result<Vec<TopicPartition>, Error> {
    if bytes.is_empty() {
        return Ok(Vec::new());
    }
    let mut buf = bytes.clone();
    let a: consumer_protocol_assignment::ConsumerProtocolAssignment = decode_embedded(&mut buf)
        .map_err(|e| Error::Kafka {
            api: ApiKey::SyncGroup,
            code: ErrorCode::UNKNOWN_SERVER_ERROR,
            message: Some(format!("undecodable assignment: {e}")),
        })?;
    Ok(a.assigned_partitions
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(move |&p| TopicPartition::new(t.topic.0.to_string(), p))
        })
        .collect())
}

fn millis(d: Duration) -> i32 {
    d.as_millis().min(i32::MAX as u128) as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subs(entries: &[(&str, &[&str])]) -> BTreeMap<String, Vec<String>> {
        entries
            .iter()
            .map(|(m, ts)| (m.to_string(), ts.iter().map(|t| t.to_string()).collect()))
            .collect()
    }

    #[test]
    fn range_gives_the_first_members_one_more_partition() {
        let plan = range_assignment(
            &subs(&[("c1", &["t"]), ("c0", &["t"]), ("c2", &["t"])]),
            &BTreeMap::from([("t".to_owned(), 7)]),
        );
        assert_eq!(plan["c0"]["t"], vec![0, 1, 2]);
        assert_eq!(plan["c1"]["t"], vec![3, 4]);
        assert_eq!(plan["c2"]["t"], vec![5, 6]);
    }

    #[test]
    fn range_only_assigns_subscribed_topics_and_leaves_extra_members_empty() {
        let plan = range_assignment(
            &subs(&[("a", &["t", "u"]), ("b", &["u"]), ("c", &["u"])]),
            &BTreeMap::from([("t".to_owned(), 2), ("u".to_owned(), 2)]),
        );
        assert_eq!(plan["a"]["t"], vec![0, 1]);
        assert_eq!(plan["a"]["u"], vec![0]);
        assert_eq!(plan["b"]["u"], vec![1]);
        assert!(plan["c"].is_empty());
    }

    #[test]
    fn embedded_protocol_round_trips() {
        let mut a = consumer_protocol_assignment::ConsumerProtocolAssignment::default();
        let mut tp = consumer_protocol_assignment::TopicPartition::default();
        tp.topic = TopicName(str_bytes("orders"));
        tp.partitions = vec![0, 2];
        a.assigned_partitions = vec![tp];
        let bytes = encode_embedded(&a, 0).unwrap();
        assert_eq!(&bytes[..2], &[0, 0]);
        assert_eq!(
            decode_assignment(&bytes).unwrap(),
            vec![
                TopicPartition::new("orders", 0),
                TopicPartition::new("orders", 2)
            ]
        );
        assert!(decode_assignment(&Bytes::from_static(&[0])).is_err());
        assert!(decode_assignment(&Bytes::new()).unwrap().is_empty());
    }

    #[test]
    fn decoding_skips_records_before_the_position_and_control_batches() {
        let mut b = strom_records::BatchBuilder::new(
            strom_records::Compression::None,
            TimestampType::CreateTime,
        );
        for i in 0..3 {
            b.append(1000 + i, Some(b"k"), Some(format!("v{i}").as_bytes()), &[]);
        }
        let mut section = BytesMut::from(&b.build(10)[..]);
        let mut marker = strom_records::BatchBuilder::new(
            strom_records::Compression::None,
            TimestampType::CreateTime,
        )
        .producer(7, 0, -1)
        .transactional(true)
        .control(true);
        marker.append(1003, Some(&[0, 0, 0, 1]), Some(&[0, 0, 0, 0, 0, 0]), &[]);
        section.extend_from_slice(&marker.build(13));
        let mut out = Vec::new();
        let tp = TopicPartition::new("t", 0);
        let next = decode_into(&tp, section.freeze(), 11, None, &mut out).unwrap();
        assert_eq!(next, 14);
        assert_eq!(
            out.iter().map(|r| r.offset).collect::<Vec<_>>(),
            vec![11, 12]
        );
        assert_eq!(out[0].value.as_deref(), Some(&b"v1"[..]));
        assert_eq!(out[1].timestamp, 1002);
    }

    fn txn_batch(producer: i64, base: i64, values: &[&str]) -> Vec<u8> {
        let mut b = strom_records::BatchBuilder::new(
            strom_records::Compression::None,
            TimestampType::CreateTime,
        )
        .producer(producer, 0, 0)
        .transactional(true);
        for v in values {
            b.append(1000, None, Some(v.as_bytes()), &[]);
        }
        b.build(base).to_vec()
    }

    fn marker(producer: i64, offset: i64, commit: bool) -> Vec<u8> {
        let mut m = strom_records::BatchBuilder::new(
            strom_records::Compression::None,
            TimestampType::CreateTime,
        )
        .producer(producer, 0, -1)
        .transactional(true)
        .control(true);
        m.append(
            1000,
            Some(&[0, 0, 0, u8::from(commit)]),
            Some(&[0, 0, 0, 0, 0, 0]),
            &[],
        );
        m.build(offset).to_vec()
    }

    #[test]
    fn read_committed_skips_aborted_transactions_and_markers() {
        // Producer 7 aborts 10-11 (marker 14), producer 8 commits 12-13
        // (marker 15) in between, then producer 7 commits 16 (marker 17).
        let mut section = Vec::new();
        section.extend(txn_batch(7, 10, &["a0", "a1"]));
        section.extend(txn_batch(8, 12, &["c0", "c1"]));
        section.extend(marker(7, 14, false));
        section.extend(marker(8, 15, true));
        section.extend(txn_batch(7, 16, &["c2"]));
        section.extend(marker(7, 17, true));
        let tp = TopicPartition::new("t", 0);
        let section = Bytes::from(section);

        let mut committed = Vec::new();
        let next = decode_into(
            &tp,
            section.clone(),
            10,
            Some(vec![(7, 10)]),
            &mut committed,
        )
        .unwrap();
        assert_eq!(next, 18);
        let values: Vec<_> = committed.iter().map(|r| r.value.clone().unwrap()).collect();
        assert_eq!(values, vec!["c0", "c1", "c2"]);
        assert_eq!(
            committed.iter().map(|r| r.offset).collect::<Vec<_>>(),
            vec![12, 13, 16]
        );

        let mut everything = Vec::new();
        decode_into(&tp, section, 10, None, &mut everything).unwrap();
        assert_eq!(
            everything.len(),
            5,
            "read_uncommitted reads the aborted records too"
        );
    }
}
