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

use std::collections::{BTreeMap, HashMap};

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

pub struct GroupShard {
    pub(crate) config: GroupConfig,
    pub(crate) groups: HashMap<String, ClassicGroup>,
    pub(crate) consumer_groups: HashMap<String, crate::consumer_group::ConsumerGroup>,
    /// group → (topic, partition) → committed offset.
    pub(crate) offsets: HashMap<String, BTreeMap<(String, i32), OffsetCommitValue>>,
    pub(crate) timers: Timers,
    pub(crate) out: Output,
}

impl GroupShard {
    pub fn new(config: GroupConfig) -> Self {
        GroupShard {
            config,
            groups: HashMap::new(),
            consumer_groups: HashMap::new(),
            offsets: HashMap::new(),
            timers: Timers::default(),
            out: Output::default(),
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
                self.apply_offset(&group, topic, partition, value, now_ms);
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

    /// Appends an offset record (or tombstone) and applies it.
    pub(crate) fn write_offset(
        &mut self,
        group: &str,
        topic: &str,
        partition: i32,
        value: Option<OffsetCommitValue>,
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
        self.apply_offset(group, topic.to_owned(), partition, value, now_ms);
    }

    /// The one place committed offsets change (live and at load).
    fn apply_offset(
        &mut self,
        group: &str,
        topic: String,
        partition: i32,
        value: Option<OffsetCommitValue>,
        now_ms: i64,
    ) {
        match value {
            Some(v) => {
                // A commit for a group nobody joined creates a "simple" group,
                // as in Kafka, so that it is listed and can be deleted.
                if !self.groups.contains_key(group) && !self.consumer_groups.contains_key(group) {
                    self.groups.insert(
                        group.to_owned(),
                        ClassicGroup::new(group.to_owned(), now_ms),
                    );
                }
                self.offsets
                    .entry(group.to_owned())
                    .or_default()
                    .insert((topic, partition), v);
            }
            None => {
                if let Some(offsets) = self.offsets.get_mut(group) {
                    offsets.remove(&(topic, partition));
                    if offsets.is_empty() {
                        self.offsets.remove(group);
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

    /// Tombstones for every committed offset of the group.
    pub(crate) fn delete_all_offsets(&mut self, group_id: &str, now_ms: i64) {
        let keys: Vec<(String, i32)> = self
            .offsets
            .get(group_id)
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default();
        for (topic, partition) in keys {
            self.write_offset(group_id, &topic, partition, None, now_ms);
        }
    }

    /// Every group this shard holds, for metrics and tests.
    pub fn group_count(&self) -> usize {
        self.groups.len() + self.consumer_groups.len()
    }
}
