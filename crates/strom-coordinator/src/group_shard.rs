//! One partition of `__consumer_offsets` and the groups that hash to it.
//!
//! Every request is answered through `Output`: the records to append to the
//! partition and the replies to send *after* those records are in the log.
//! The driver runs requests one at a time (or several, then one append), so
//! no request sees state that is not yet written. If an append fails, the
//! driver throws the shard away and loads it again from the log; memory is
//! never ahead of the log for long.
//!
//! Committed offsets change only through `apply_offset`, the same function
//! replay uses. Classic group membership is mostly transient (members,
//! pending joins, timers); what Kafka persists of it — the group's generation,
//! protocol, leader, members and assignments at the end of each rebalance, or
//! an empty group — is written as a GroupMetadata record and rebuilt from it
//! at load, as Kafka does.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use bytes::Bytes;
use kafka_protocol::error::ResponseError;

use crate::api::*;
use crate::classic_group::{ClassicGroup, ClassicGroupState};
use crate::records::{GroupMetadataValue, OffsetCommitValue, RecordError, RecordKey};
use crate::timer::{TimerKey, Timers};

/// The group coordinator's settings, with Kafka's keys and defaults.
#[derive(Debug, Clone)]
pub struct GroupConfig {
    /// `group.min.session.timeout.ms` (6000)
    pub min_session_timeout_ms: i32,
    /// `group.max.session.timeout.ms` (1800000)
    pub max_session_timeout_ms: i32,
    /// `group.initial.rebalance.delay.ms` (3000)
    pub initial_rebalance_delay_ms: i32,
    /// `group.max.size` (2147483647)
    pub max_size: usize,
    /// `offset.metadata.max.bytes` (4096)
    pub offset_metadata_max_bytes: usize,
    /// `offsets.retention.minutes` (10080) in ms
    pub offsets_retention_ms: i64,
    /// `offsets.retention.check.interval.ms` (600000)
    pub offsets_retention_check_interval_ms: i64,
    /// `group.consumer.session.timeout.ms` (45000)
    pub consumer_session_timeout_ms: i32,
    /// `group.consumer.heartbeat.interval.ms` (5000)
    pub consumer_heartbeat_interval_ms: i32,
    /// `group.consumer.max.size` (2147483647)
    pub consumer_max_size: usize,
}

impl Default for GroupConfig {
    fn default() -> Self {
        GroupConfig {
            min_session_timeout_ms: 6000,
            max_session_timeout_ms: 1_800_000,
            initial_rebalance_delay_ms: 3000,
            max_size: i32::MAX as usize,
            offset_metadata_max_bytes: 4096,
            offsets_retention_ms: 10080 * 60 * 1000,
            offsets_retention_check_interval_ms: 600_000,
            consumer_session_timeout_ms: 45_000,
            consumer_heartbeat_interval_ms: 5_000,
            consumer_max_size: i32::MAX as usize,
        }
    }
}

/// What the driver must do after a call: append `records` (key, value;
/// `None` = tombstone) to the partition, then send `replies`.
#[derive(Debug, Default)]
pub struct Output {
    pub records: Vec<(Bytes, Option<Bytes>)>,
    pub replies: Vec<(ReplyId, Reply)>,
}

impl Output {
    pub fn is_empty(&self) -> bool {
        self.records.is_empty() && self.replies.is_empty()
    }
}

/// Where topic metadata comes from, for KIP-848 assignments (topic ids and
/// partition counts); the broker passes its metadata image.
pub trait TopicMetadata {
    /// (topic id, partition count) of a topic, if it exists.
    fn topic(&self, name: &str) -> Option<(uuid::Uuid, i32)>;
}

/// An offset with the place of its record in the partition: when a
/// transaction's offsets are committed, an offset committed by a later record
/// (outside the transaction) stays, as Kafka orders them by record offset.
/// `record_order` counts offset records in log order, live and at load alike,
/// so it compares as the record offsets do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StoredOffset {
    pub value: OffsetCommitValue,
    pub record_order: u64,
}

/// group → (topic, partition) → offset.
pub(crate) type OffsetsByGroup = HashMap<String, BTreeMap<(String, i32), StoredOffset>>;

pub struct GroupShard {
    pub(crate) config: GroupConfig,
    pub(crate) groups: HashMap<String, ClassicGroup>,
    pub(crate) consumer_groups: HashMap<String, crate::consumer_group::ConsumerGroup>,
    /// group → (topic, partition) → committed offset.
    pub(crate) offsets: OffsetsByGroup,
    /// producer id → offsets its ongoing transaction wrote (TxnOffsetCommit),
    /// invisible to OffsetFetch until the transaction's commit marker. A
    /// group stays listed under its producer (maybe with no offsets left, after
    /// a tombstone) until the marker, as Kafka's pending offsets do.
    pub(crate) pending_txn_offsets: HashMap<i64, OffsetsByGroup>,
    /// group → producers with an ongoing transaction that wrote its offsets.
    pub(crate) open_txns_by_group: HashMap<String, BTreeSet<i64>>,
    /// Offset records applied so far (see `StoredOffset::record_order`).
    pub(crate) record_order: u64,
    pub(crate) timers: Timers,
    pub(crate) out: Output,
    /// Group configurations (KIP-848) of consumer groups: group id → (session timeout,
    /// heartbeat interval), from the metadata image; a group not here uses `config`'s.
    pub(crate) consumer_group_timeouts: HashMap<String, (i32, i32)>,
}

impl GroupShard {
    /// Sets the consumer groups' own session timeout and heartbeat interval (group id →
    /// (session timeout ms, heartbeat interval ms)), Kafka's `consumer.session.timeout.ms` and
    /// `consumer.heartbeat.interval.ms` group configs; other groups use the shard's config.
    /// They apply from each member's next heartbeat, as in Kafka.
    pub fn set_consumer_group_timeouts(&mut self, timeouts: HashMap<String, (i32, i32)>) {
        self.consumer_group_timeouts = timeouts;
    }

    /// A consumer group's session timeout (ms).
    pub(crate) fn consumer_session_timeout_ms(&self, group_id: &str) -> i32 {
        self.consumer_group_timeouts
            .get(group_id)
            .map_or(self.config.consumer_session_timeout_ms, |t| t.0)
    }

    /// A consumer group's heartbeat interval (ms).
    pub(crate) fn consumer_heartbeat_interval_ms(&self, group_id: &str) -> i32 {
        self.consumer_group_timeouts
            .get(group_id)
            .map_or(self.config.consumer_heartbeat_interval_ms, |t| t.1)
    }

    pub fn new(config: GroupConfig) -> Self {
        GroupShard {
            config,
            groups: HashMap::new(),
            consumer_groups: HashMap::new(),
            offsets: HashMap::new(),
            pending_txn_offsets: HashMap::new(),
            open_txns_by_group: HashMap::new(),
            record_order: 0,
            timers: Timers::default(),
            out: Output::default(),
            consumer_group_timeouts: HashMap::new(),
        }
    }

    pub fn take_output(&mut self) -> Output {
        std::mem::take(&mut self.out)
    }

    pub fn next_deadline(&self) -> Option<i64> {
        self.timers.next_deadline()
    }

    pub(crate) fn reply(&mut self, to: ReplyId, reply: Reply) {
        self.out.replies.push((to, reply));
    }

    /// Rebuilds state from one record of the partition (load, in log order).
    pub fn replay(
        &mut self,
        key: &[u8],
        value: Option<&[u8]>,
        now_ms: i64,
    ) -> Result<(), RecordError> {
        self.replay_record(None, key, value, now_ms)
    }

    /// Like [`replay`](Self::replay), for a record of a transactional batch
    /// of `producer_id`: an offset stays pending until that producer's marker
    /// is replayed through [`complete_transaction`](Self::complete_transaction).
    pub fn replay_transactional(
        &mut self,
        producer_id: i64,
        key: &[u8],
        value: Option<&[u8]>,
        now_ms: i64,
    ) -> Result<(), RecordError> {
        self.replay_record(Some(producer_id), key, value, now_ms)
    }

    fn replay_record(
        &mut self,
        producer_id: Option<i64>,
        key: &[u8],
        value: Option<&[u8]>,
        now_ms: i64,
    ) -> Result<(), RecordError> {
        let Some(key) = RecordKey::decode(key)? else {
            return Ok(());
        };
        match key {
            RecordKey::OffsetCommit {
                group,
                topic,
                partition,
            } => {
                let value = value.map(OffsetCommitValue::decode).transpose()?;
                self.apply_offset(&group, topic, partition, value, producer_id, now_ms);
            }
            RecordKey::GroupMetadata { group } => match value {
                Some(v) => {
                    let value = GroupMetadataValue::decode(v)?;
                    self.groups.insert(
                        group.clone(),
                        ClassicGroup::from_record(group, &value, now_ms),
                    );
                }
                None => {
                    self.groups.remove(&group);
                }
            },
            other => self.replay_consumer_group(other, value, now_ms)?,
        }
        Ok(())
    }

    /// Called once the whole partition was replayed: members of loaded groups
    /// get a fresh session, and the periodic offset expiry starts.
    pub fn load_complete(&mut self, now_ms: i64) {
        let mut sessions = Vec::new();
        for group in self.groups.values() {
            for m in group.members.values() {
                sessions.push((
                    group.group_id.clone(),
                    m.member_id.clone(),
                    m.session_timeout_ms,
                ));
            }
        }
        for (group, member_id, timeout) in sessions {
            self.timers.schedule(
                TimerKey::Heartbeat { group, member_id },
                now_ms + timeout as i64,
            );
        }
        self.consumer_groups_loaded(now_ms);
        self.timers.schedule(
            TimerKey::OffsetExpiry,
            now_ms + self.config.offsets_retention_check_interval_ms,
        );
    }

    /// Handles every deadline due at `now_ms`.
    pub fn tick(&mut self, now_ms: i64) {
        while let Some(key) = self.timers.pop_expired(now_ms) {
            match key {
                TimerKey::Heartbeat { group, member_id } => {
                    self.on_heartbeat_expired(&group, &member_id, now_ms)
                }
                TimerKey::PendingMember { group, member_id } => {
                    self.on_pending_member_expired(&group, &member_id, now_ms)
                }
                TimerKey::Join { group } => self.on_join_deadline(&group, now_ms),
                TimerKey::Sync { group } => self.on_sync_deadline(&group, now_ms),
                TimerKey::OffsetExpiry => {
                    self.expire_offsets(now_ms);
                    self.timers.schedule(
                        TimerKey::OffsetExpiry,
                        now_ms + self.config.offsets_retention_check_interval_ms,
                    );
                }
                TimerKey::ConsumerSession { group, member_id } => {
                    self.on_consumer_session_expired(&group, &member_id, now_ms)
                }
                TimerKey::ConsumerRebalance { group, member_id } => {
                    self.on_consumer_rebalance_expired(&group, &member_id, now_ms)
                }
            }
        }
    }

    /// Appends a GroupMetadata record of the group as it is now.
    pub(crate) fn write_group(&mut self, group_id: &str) {
        if let Some(group) = self.groups.get(group_id) {
            let key = RecordKey::GroupMetadata {
                group: group_id.to_owned(),
            }
            .encode();
            self.out.records.push((
                Bytes::from(key),
                Some(Bytes::from(group.to_record().encode())),
            ));
        }
    }

    pub(crate) fn write_group_tombstone(&mut self, group_id: &str) {
        let key = RecordKey::GroupMetadata {
            group: group_id.to_owned(),
        }
        .encode();
        self.out.records.push((Bytes::from(key), None));
    }

    /// Appends an offset record (or tombstone) and applies it. With a
    /// producer id the record belongs to that producer's transaction: the
    /// driver writes such records alone, as a transactional batch.
    pub(crate) fn write_offset(
        &mut self,
        group: &str,
        topic: &str,
        partition: i32,
        value: Option<OffsetCommitValue>,
        now_ms: i64,
    ) {
        self.write_offset_record(group, topic, partition, value, None, now_ms);
    }

    pub(crate) fn write_offset_record(
        &mut self,
        group: &str,
        topic: &str,
        partition: i32,
        value: Option<OffsetCommitValue>,
        producer_id: Option<i64>,
        now_ms: i64,
    ) {
        let key = RecordKey::OffsetCommit {
            group: group.to_owned(),
            topic: topic.to_owned(),
            partition,
        }
        .encode();
        self.out.records.push((
            Bytes::from(key),
            value.as_ref().map(|v| Bytes::from(v.encode())),
        ));
        self.apply_offset(
            group,
            topic.to_owned(),
            partition,
            value,
            producer_id,
            now_ms,
        );
    }

    /// The one place offsets change (live and at load), with
    /// `complete_transaction`. A tombstone also drops the pending
    /// transactional offsets of that partition, as in Kafka.
    fn apply_offset(
        &mut self,
        group: &str,
        topic: String,
        partition: i32,
        value: Option<OffsetCommitValue>,
        producer_id: Option<i64>,
        now_ms: i64,
    ) {
        match value {
            Some(value) => {
                // A commit for a group nobody joined creates a "simple" group,
                // as in Kafka, so that it is listed and can be deleted.
                if !self.groups.contains_key(group) && !self.consumer_groups.contains_key(group) {
                    self.groups.insert(
                        group.to_owned(),
                        ClassicGroup::new(group.to_owned(), now_ms),
                    );
                }
                self.record_order += 1;
                let stored = StoredOffset {
                    value,
                    record_order: self.record_order,
                };
                match producer_id {
                    None => {
                        self.offsets
                            .entry(group.to_owned())
                            .or_default()
                            .insert((topic, partition), stored);
                    }
                    Some(producer_id) => {
                        self.pending_txn_offsets
                            .entry(producer_id)
                            .or_default()
                            .entry(group.to_owned())
                            .or_default()
                            .insert((topic, partition), stored);
                        self.open_txns_by_group
                            .entry(group.to_owned())
                            .or_default()
                            .insert(producer_id);
                    }
                }
            }
            None => {
                let key = (topic, partition);
                if let Some(offsets) = self.offsets.get_mut(group) {
                    offsets.remove(&key);
                    if offsets.is_empty() {
                        self.offsets.remove(group);
                    }
                }
                for producer_id in self.open_txns_by_group.get(group).into_iter().flatten() {
                    if let Some(pending) = self
                        .pending_txn_offsets
                        .get_mut(producer_id)
                        .and_then(|p| p.get_mut(group))
                    {
                        pending.remove(&key);
                    }
                }
            }
        }
    }

    pub(crate) fn has_offsets(&self, group: &str) -> bool {
        self.offsets
            .get(group)
            .map(|o| !o.is_empty())
            .unwrap_or(false)
    }

    // ---- DescribeGroups, ListGroups, DeleteGroups -------------------------------------------

    pub fn describe_groups(&mut self, reply_to: ReplyId, group_ids: Vec<String>, version: i16) {
        let described = group_ids
            .into_iter()
            .map(|id| self.describe_group(id, version))
            .collect();
        self.reply(reply_to, Reply::DescribeGroups(described));
    }

    fn describe_group(&self, group_id: String, version: i16) -> DescribedGroup {
        let Some(group) = self.groups.get(&group_id) else {
            let (error_code, error_message, group_state) =
                if self.consumer_groups.contains_key(&group_id) {
                    // A KIP-848 group is described by ConsumerGroupDescribe.
                    (
                        ResponseError::GroupIdNotFound.code(),
                        Some(format!("group {group_id} is not a classic group")),
                        "Dead",
                    )
                } else if version >= 6 {
                    (
                        ResponseError::GroupIdNotFound.code(),
                        Some(format!("group {group_id} not found")),
                        "Dead",
                    )
                } else {
                    (NONE, None, "Dead")
                };
            return DescribedGroup {
                error_code,
                error_message,
                group_id,
                group_state: group_state.into(),
                protocol_type: String::new(),
                protocol_data: String::new(),
                members: Vec::new(),
            };
        };
        let stable = group.is(ClassicGroupState::Stable);
        let protocol = group.protocol_name.clone().unwrap_or_default();
        let members = group
            .members
            .values()
            .map(|m| DescribedMember {
                member_id: m.member_id.clone(),
                group_instance_id: m.group_instance_id.clone(),
                client_id: m.client_id.clone(),
                client_host: m.client_host.clone(),
                member_metadata: if stable {
                    m.metadata_for(&protocol)
                } else {
                    Bytes::new()
                },
                member_assignment: if stable {
                    m.assignment.clone()
                } else {
                    Bytes::new()
                },
            })
            .collect();
        DescribedGroup {
            error_code: NONE,
            error_message: None,
            group_id,
            group_state: group.state.name().into(),
            protocol_type: group.protocol_type.clone().unwrap_or_default(),
            protocol_data: if stable { protocol } else { String::new() },
            members,
        }
    }

    /// ListGroups: `states` and `types` filter case-insensitively; empty = all.
    pub fn list_groups(&mut self, reply_to: ReplyId, states: &[String], types: &[String]) {
        let wanted = |value: &str, filter: &[String]| {
            filter.is_empty() || filter.iter().any(|f| f.eq_ignore_ascii_case(value))
        };
        let mut listed: Vec<ListedGroup> = Vec::new();
        for g in self.groups.values() {
            if wanted(g.state.name(), states) && wanted("classic", types) {
                listed.push(ListedGroup {
                    group_id: g.group_id.clone(),
                    protocol_type: g.protocol_type.clone().unwrap_or_default(),
                    group_state: g.state.name().into(),
                    group_type: "classic".into(),
                });
            }
        }
        for g in self.consumer_groups.values() {
            let state = g.state_name();
            if wanted(state, states) && wanted("consumer", types) {
                listed.push(ListedGroup {
                    group_id: g.group_id.clone(),
                    protocol_type: "consumer".into(),
                    group_state: state.into(),
                    group_type: "consumer".into(),
                });
            }
        }
        listed.sort_by(|a, b| a.group_id.cmp(&b.group_id));
        self.reply(reply_to, Reply::ListGroups(listed));
    }

    pub fn delete_groups(&mut self, reply_to: ReplyId, group_ids: Vec<String>, now_ms: i64) {
        let results = group_ids
            .into_iter()
            .map(|id| {
                let code = self.delete_group(&id, now_ms);
                (id, code)
            })
            .collect();
        self.reply(reply_to, Reply::DeleteGroups(results));
    }

    fn delete_group(&mut self, group_id: &str, now_ms: i64) -> ErrorCode {
        if let Some(code) = self.delete_consumer_group(group_id, now_ms) {
            return code;
        }
        let Some(group) = self.groups.get(group_id) else {
            return ResponseError::GroupIdNotFound.code();
        };
        if !matches!(
            group.state,
            ClassicGroupState::Empty | ClassicGroupState::Dead
        ) {
            return ResponseError::NonEmptyGroup.code();
        }
        self.delete_all_offsets(group_id, now_ms);
        self.groups.remove(group_id);
        self.timers.cancel_group(group_id);
        self.write_group_tombstone(group_id);
        NONE
    }

    /// Tombstones for every committed offset of the group, and for every
    /// partition with only pending transactional offsets (Kafka writes one
    /// tombstone per partition; replaying it drops the pending ones too).
    pub(crate) fn delete_all_offsets(&mut self, group_id: &str, now_ms: i64) {
        let mut keys: BTreeSet<(String, i32)> = self
            .offsets
            .get(group_id)
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default();
        keys.extend(self.pending_partitions(group_id));
        for (topic, partition) in keys {
            self.write_offset(group_id, &topic, partition, None, now_ms);
        }
    }

    /// Every committed offset: (group, topic, partition, offset), for the
    /// broker's consumer lag metrics.
    pub fn committed_offsets(&self) -> Vec<(String, String, i32, i64)> {
        let mut out: Vec<_> = self
            .offsets
            .iter()
            .flat_map(|(group, offsets)| {
                offsets.iter().map(move |((topic, partition), committed)| {
                    (
                        group.clone(),
                        topic.clone(),
                        *partition,
                        committed.value.offset,
                    )
                })
            })
            .collect();
        out.sort();
        out
    }

    /// Every group this shard holds, for metrics and tests.
    pub fn group_count(&self) -> usize {
        self.groups.len() + self.consumer_groups.len()
    }
}
