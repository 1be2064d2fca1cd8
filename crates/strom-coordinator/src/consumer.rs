//! The KIP-848 consumer group protocol: ConsumerGroupHeartbeat and
//! ConsumerGroupDescribe, the session and revocation deadlines, and the
//! records that persist these groups (Kafka's ConsumerGroup* schemas).

use std::collections::BTreeMap;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;

use crate::api::*;
use crate::assignor::{self, AssignmentSpec, ASSIGNORS};
use crate::consumer_group::*;
use crate::group_shard::GroupShard;
use crate::records::*;
use crate::timer::TimerKey;
use crate::TopicMetadata as TopicLookup;

const LEAVE_EPOCH: i32 = -1;
const STATIC_LEAVE_EPOCH: i32 = -2;
const DEFAULT_ASSIGNOR: &str = "uniform";

fn code(e: ResponseError) -> ErrorCode {
    e.code()
}

fn failure(error: ResponseError, message: impl Into<String>) -> ConsumerHeartbeatResponse {
    ConsumerHeartbeatResponse {
        error_code: error.code(),
        error_message: Some(message.into()),
        member_epoch: -1,
        ..Default::default()
    }
}

impl GroupShard {
    pub fn consumer_group_heartbeat(
        &mut self,
        reply_to: ReplyId,
        req: ConsumerHeartbeatRequest,
        topics: &dyn TopicLookup,
        now_ms: i64,
    ) {
        let response = match self.try_consumer_heartbeat(req, topics, now_ms) {
            Ok(r) => r,
            Err(r) => r,
        };
        self.reply(reply_to, Reply::ConsumerGroupHeartbeat(response));
    }

    fn try_consumer_heartbeat(
        &mut self,
        req: ConsumerHeartbeatRequest,
        topics: &dyn TopicLookup,
        now_ms: i64,
    ) -> Result<ConsumerHeartbeatResponse, ConsumerHeartbeatResponse> {
        if req.group_id.is_empty() {
            return Err(failure(
                ResponseError::InvalidGroupId,
                "the group id is empty",
            ));
        }
        // An empty regex is "no regex" (librdkafka sends it alongside topic names).
        if req
            .subscribed_topic_regex
            .as_deref()
            .is_some_and(|r| !r.is_empty())
        {
            return Err(failure(ResponseError::InvalidRequest, "subscribed_topic_regex is not supported by this broker yet; subscribe to topic names"));
        }
        if let Some(a) = &req.server_assignor {
            if !ASSIGNORS.contains(&a.as_str()) {
                return Err(failure(
                    ResponseError::UnsupportedAssignor,
                    format!("assignor {a} is not one of {}", ASSIGNORS.join(", ")),
                ));
            }
        }
        if let Some(classic) = self.groups.get(&req.group_id) {
            if !classic.members.is_empty() || !classic.pending_members.is_empty() {
                return Err(failure(
                    ResponseError::GroupIdNotFound,
                    format!("group {} is a classic group with members", req.group_id),
                ));
            }
            // An empty classic group (offsets only) becomes a consumer group; its offsets stay.
            self.groups.remove(&req.group_id);
            self.write_group_tombstone(&req.group_id);
        }
        if req.member_epoch == LEAVE_EPOCH || req.member_epoch == STATIC_LEAVE_EPOCH {
            return Ok(self.consumer_leave(&req, now_ms));
        }
        let group_id = req.group_id.clone();
        let max_size = self.config.consumer_max_size;
        let group = self
            .consumer_groups
            .entry(group_id.clone())
            .or_insert_with(|| ConsumerGroup::new(group_id.clone()));
        let mut changed_group = false;
        let member_id = if req.member_epoch == 0 {
            if req.subscribed_topic_names.is_none() {
                return Err(failure(
                    ResponseError::InvalidRequest,
                    "subscribed_topic_names must be set when joining",
                ));
            }
            if req.rebalance_timeout_ms < 0 && req.member_id.is_empty() {
                return Err(failure(
                    ResponseError::InvalidRequest,
                    "rebalance_timeout_ms must be set when joining",
                ));
            }
            let member_id = if req.member_id.is_empty() {
                uuid::Uuid::new_v4().to_string()
            } else {
                req.member_id.clone()
            };
            let mut member = ConsumerMember::new(member_id.clone());
            if let Some(instance) = &req.instance_id {
                // KIP-345 for KIP-848: a static member coming back takes over its
                // predecessor's epoch and assignment.
                let previous = group
                    .members
                    .values()
                    .find(|m| m.instance_id.as_deref() == Some(instance))
                    .cloned();
                if let Some(prev) = previous {
                    if prev.member_epoch != STATIC_LEAVE_EPOCH && prev.member_id != member_id {
                        return Err(failure(
                            ResponseError::UnreleasedInstanceId,
                            format!(
                                "instance id {instance} is in use by member {}",
                                prev.member_id
                            ),
                        ));
                    }
                    group.members.remove(&prev.member_id);
                    if let Some(target) = group.target.remove(&prev.member_id) {
                        group.target.insert(member_id.clone(), target);
                    }
                    member.member_epoch = prev.previous_member_epoch.max(0);
                    member.previous_member_epoch = prev.previous_member_epoch;
                    member.assigned = prev.assigned.clone();
                    member.state = prev.state;
                    member.pending_revocation = prev.pending_revocation.clone();
                    self.timers.cancel(&TimerKey::ConsumerSession {
                        group: group_id.clone(),
                        member_id: prev.member_id.clone(),
                    });
                    self.out_member_tombstones(&group_id, &prev.member_id);
                }
            }
            let group = self
                .consumer_groups
                .get_mut(&group_id)
                .expect("group inserted above");
            if !group.members.contains_key(&member_id) && group.members.len() >= max_size {
                return Err(failure(
                    ResponseError::GroupMaxSizeReached,
                    format!("group {group_id} has reached group.consumer.max.size"),
                ));
            }
            // A member rejoining with epoch 0 starts over: the new entry replaces it.
            group.members.insert(member_id.clone(), member);
            changed_group = true;
            member_id
        } else {
            let Some(member) = group.members.get(&req.member_id) else {
                return Err(failure(
                    ResponseError::UnknownMemberId,
                    format!("member {} is not in group {group_id}", req.member_id),
                ));
            };
            if let Some(err) =
                check_member_epoch(member, req.member_epoch, req.topic_partitions.as_deref())
            {
                return Err(err);
            }
            req.member_id.clone()
        };
        let group = self
            .consumer_groups
            .get_mut(&group_id)
            .expect("group present");
        let member = group.members.get_mut(&member_id).expect("member present");
        let before_subscription = (
            member.subscribed_topic_names.clone(),
            member.server_assignor.clone(),
        );
        member.client_id = req.client_id.clone();
        member.client_host = req.client_host.clone();
        if req.instance_id.is_some() {
            member.instance_id = req.instance_id.clone();
        }
        if req.rack_id.is_some() {
            member.rack_id = req.rack_id.clone();
        }
        if req.rebalance_timeout_ms >= 0 {
            member.rebalance_timeout_ms = req.rebalance_timeout_ms;
        }
        if let Some(mut names) = req.subscribed_topic_names.clone() {
            names.sort();
            names.dedup();
            member.subscribed_topic_names = names;
        }
        if req.server_assignor.is_some() {
            member.server_assignor = req.server_assignor.clone();
        }
        let member_changed = changed_group
            || before_subscription
                != (
                    member.subscribed_topic_names.clone(),
                    member.server_assignor.clone(),
                );
        if member_changed {
            let record = member_metadata_value(member);
            self.write_consumer(
                RecordKey::ConsumerGroupMemberMetadata {
                    group: group_id.clone(),
                    member_id: member_id.clone(),
                },
                Some(record.encode()),
            );
        }
        self.maybe_new_target(&group_id, member_changed, topics);
        let previous = self.consumer_groups[&group_id].members[&member_id].clone();
        let owned = req.topic_partitions.as_ref().map(|p| from_pairs(p));
        self.reconcile(&group_id, &member_id, owned.as_ref(), now_ms);
        let group = &self.consumer_groups[&group_id];
        let member = &group.members[&member_id];
        let assignment_changed = member.assigned != previous.assigned
            || member.member_epoch != previous.member_epoch
            || req.member_epoch == 0
            || owned.as_ref().is_some_and(|o| *o != member.assigned);
        let response = ConsumerHeartbeatResponse {
            error_code: NONE,
            error_message: None,
            member_id: Some(member_id.clone()),
            member_epoch: member.member_epoch,
            heartbeat_interval_ms: self.consumer_heartbeat_interval_ms(&group_id),
            assignment: assignment_changed.then(|| to_pairs(&member.assigned)),
        };
        let session = now_ms + self.consumer_session_timeout_ms(&group_id) as i64;
        self.timers.schedule(
            TimerKey::ConsumerSession {
                group: group_id.clone(),
                member_id: member_id.clone(),
            },
            session,
        );
        Ok(response)
    }

    /// A member leaving (epoch -1), or a static member leaving for a restart
    /// (epoch -2: it keeps its assignment for the session timeout).
    fn consumer_leave(
        &mut self,
        req: &ConsumerHeartbeatRequest,
        now_ms: i64,
    ) -> ConsumerHeartbeatResponse {
        let group_id = req.group_id.clone();
        let Some(group) = self.consumer_groups.get_mut(&group_id) else {
            return failure(
                ResponseError::UnknownMemberId,
                format!("member {} is not in group {group_id}", req.member_id),
            );
        };
        let Some(member) = group.members.get_mut(&req.member_id) else {
            return failure(
                ResponseError::UnknownMemberId,
                format!("member {} is not in group {group_id}", req.member_id),
            );
        };
        if req.member_epoch == STATIC_LEAVE_EPOCH && member.instance_id.is_some() {
            member.previous_member_epoch = member.member_epoch;
            member.member_epoch = STATIC_LEAVE_EPOCH;
            let session = now_ms + self.consumer_session_timeout_ms(&group_id) as i64;
            self.timers.schedule(
                TimerKey::ConsumerSession {
                    group: group_id,
                    member_id: req.member_id.clone(),
                },
                session,
            );
        } else {
            self.remove_consumer_member(&group_id, &req.member_id);
        }
        ConsumerHeartbeatResponse {
            member_id: Some(req.member_id.clone()),
            member_epoch: req.member_epoch,
            heartbeat_interval_ms: 0,
            ..Default::default()
        }
    }

    pub(crate) fn remove_consumer_member(&mut self, group_id: &str, member_id: &str) {
        self.timers.cancel(&TimerKey::ConsumerSession {
            group: group_id.to_owned(),
            member_id: member_id.to_owned(),
        });
        self.timers.cancel(&TimerKey::ConsumerRebalance {
            group: group_id.to_owned(),
            member_id: member_id.to_owned(),
        });
        let Some(group) = self.consumer_groups.get_mut(group_id) else {
            return;
        };
        if group.members.remove(member_id).is_none() {
            return;
        }
        group.target.remove(member_id);
        self.out_member_tombstones(group_id, member_id);
        // The others get the partitions: a new target at the next heartbeat,
        // computed now so the group epoch moves at once.
        self.bump_group_epoch_and_assign(group_id, None);
    }

    fn out_member_tombstones(&mut self, group_id: &str, member_id: &str) {
        for key in [
            RecordKey::ConsumerGroupCurrentMemberAssignment {
                group: group_id.to_owned(),
                member_id: member_id.to_owned(),
            },
            RecordKey::ConsumerGroupTargetAssignmentMember {
                group: group_id.to_owned(),
                member_id: member_id.to_owned(),
            },
            RecordKey::ConsumerGroupMemberMetadata {
                group: group_id.to_owned(),
                member_id: member_id.to_owned(),
            },
        ] {
            self.write_consumer(key, None);
        }
    }

    fn write_consumer(&mut self, key: RecordKey, value: Option<Vec<u8>>) {
        self.out
            .records
            .push((Bytes::from(key.encode()), value.map(Bytes::from)));
    }

    /// A new target assignment when membership or subscriptions changed, or
    /// when a subscribed topic appeared, vanished or grew.
    fn maybe_new_target(
        &mut self,
        group_id: &str,
        membership_changed: bool,
        topics: &dyn TopicLookup,
    ) {
        let Some(group) = self.consumer_groups.get(group_id) else {
            return;
        };
        let metadata = subscribed_metadata(group, topics);
        if membership_changed || metadata != group.subscribed_metadata {
            self.bump_group_epoch_and_assign(group_id, Some(metadata));
        }
    }

    fn bump_group_epoch_and_assign(
        &mut self,
        group_id: &str,
        metadata: Option<Vec<(String, uuid::Uuid, i32)>>,
    ) {
        let Some(group) = self.consumer_groups.get_mut(group_id) else {
            return;
        };
        let metadata = metadata.unwrap_or_else(|| group.subscribed_metadata.clone());
        group.group_epoch += 1;
        group.subscribed_metadata = metadata.clone();
        let by_name: BTreeMap<&str, (uuid::Uuid, i32)> = metadata
            .iter()
            .map(|(n, id, p)| (n.as_str(), (*id, *p)))
            .collect();
        let subscriptions = group
            .members
            .values()
            .filter(|m| m.member_epoch != STATIC_LEAVE_EPOCH || m.instance_id.is_some())
            .map(|m| {
                (
                    m.member_id.as_str(),
                    m.subscribed_topic_names
                        .iter()
                        .filter_map(|t| by_name.get(t.as_str()).copied())
                        .collect(),
                )
            })
            .collect();
        let assignor = group.preferred_assignor(DEFAULT_ASSIGNOR);
        let spec = AssignmentSpec {
            subscriptions,
            current: &group.target,
        };
        let target = assignor::assign(&assignor, &spec);
        let epoch = group.group_epoch;
        let mut records = Vec::new();
        let partition_metadata = ConsumerGroupPartitionMetadataValue {
            topics: metadata
                .iter()
                .map(|(name, id, n)| TopicMetadata {
                    topic_id: *id,
                    topic_name: name.clone(),
                    num_partitions: *n,
                    partition_metadata: Vec::new(),
                })
                .collect(),
        };
        records.push((
            RecordKey::ConsumerGroupPartitionMetadata {
                group: group_id.to_owned(),
            },
            partition_metadata.encode(),
        ));
        records.push((
            RecordKey::ConsumerGroupMetadata {
                group: group_id.to_owned(),
            },
            ConsumerGroupMetadataValue {
                epoch,
                ..Default::default()
            }
            .encode(),
        ));
        for (member_id, assignment) in &target {
            if group.target.get(member_id) != Some(assignment) {
                let value = ConsumerGroupTargetAssignmentMemberValue {
                    topic_partitions: to_topic_partitions(assignment),
                };
                records.push((
                    RecordKey::ConsumerGroupTargetAssignmentMember {
                        group: group_id.to_owned(),
                        member_id: member_id.clone(),
                    },
                    value.encode(),
                ));
            }
        }
        records.push((
            RecordKey::ConsumerGroupTargetAssignmentMetadata {
                group: group_id.to_owned(),
            },
            ConsumerGroupTargetAssignmentMetadataValue {
                assignment_epoch: epoch,
            }
            .encode(),
        ));
        group.target = target;
        group.assignment_epoch = epoch;
        for (key, value) in records {
            self.write_consumer(key, Some(value));
        }
    }

    /// Moves one member toward its target (Kafka's CurrentAssignmentBuilder):
    /// first revoke what it must give up, then, at the new epoch, take what
    /// is free of other owners.
    fn reconcile(
        &mut self,
        group_id: &str,
        member_id: &str,
        owned: Option<&Assignment>,
        now_ms: i64,
    ) {
        let Some(group) = self.consumer_groups.get(group_id) else {
            return;
        };
        let Some(member) = group.members.get(member_id) else {
            return;
        };
        let target = group.target.get(member_id).cloned().unwrap_or_default();
        let assignment_epoch = group.assignment_epoch;
        let mut m = member.clone();
        if m.state == MemberState::UnrevokedPartitions {
            let revoked = owned.is_some_and(|o| is_empty(&intersect(o, &m.pending_revocation)));
            if !revoked {
                return;
            }
            m.pending_revocation.clear();
        }
        if m.member_epoch == assignment_epoch
            && m.state == MemberState::Stable
            && m.assigned == target
        {
            return;
        }
        let revoke = minus(&m.assigned, &target);
        if !is_empty(&revoke) {
            m.assigned = intersect(&m.assigned, &target);
            m.pending_revocation = revoke;
            m.state = MemberState::UnrevokedPartitions;
            let deadline = now_ms + m.rebalance_timeout_ms.max(0) as i64;
            self.timers.schedule(
                TimerKey::ConsumerRebalance {
                    group: group_id.to_owned(),
                    member_id: member_id.to_owned(),
                },
                deadline,
            );
        } else {
            self.timers.cancel(&TimerKey::ConsumerRebalance {
                group: group_id.to_owned(),
                member_id: member_id.to_owned(),
            });
            let wanted = minus(&target, &m.assigned);
            let free = minus(&wanted, &group.owned_by_others(member_id));
            m.assigned = union(&m.assigned, &free);
            if m.member_epoch != assignment_epoch {
                m.previous_member_epoch = m.member_epoch;
                m.member_epoch = assignment_epoch;
            }
            m.state = if free == wanted {
                MemberState::Stable
            } else {
                MemberState::UnreleasedPartitions
            };
        }
        let value = ConsumerGroupCurrentMemberAssignmentValue {
            member_epoch: m.member_epoch,
            previous_member_epoch: m.previous_member_epoch,
            state: m.state.id(),
            assigned_partitions: to_topic_partitions(&m.assigned),
            partitions_pending_revocation: to_topic_partitions(&m.pending_revocation),
        };
        self.write_consumer(
            RecordKey::ConsumerGroupCurrentMemberAssignment {
                group: group_id.to_owned(),
                member_id: member_id.to_owned(),
            },
            Some(value.encode()),
        );
        if let Some(group) = self.consumer_groups.get_mut(group_id) {
            group.members.insert(member_id.to_owned(), m);
        }
    }

    pub(crate) fn on_consumer_session_expired(
        &mut self,
        group_id: &str,
        member_id: &str,
        _now_ms: i64,
    ) {
        tracing::info!(
            group = group_id,
            member = member_id,
            "consumer group member session expired; removing it"
        );
        self.remove_consumer_member(group_id, member_id);
    }

    pub(crate) fn on_consumer_rebalance_expired(
        &mut self,
        group_id: &str,
        member_id: &str,
        _now_ms: i64,
    ) {
        let unrevoked = self
            .consumer_groups
            .get(group_id)
            .and_then(|g| g.members.get(member_id))
            .is_some_and(|m| m.state == MemberState::UnrevokedPartitions);
        if unrevoked {
            tracing::info!(
                group = group_id,
                member = member_id,
                "member did not revoke its partitions within its rebalance timeout; fencing it"
            );
            self.remove_consumer_member(group_id, member_id);
        }
    }

    // ---- ConsumerGroupDescribe ---------------------------------------------------------------

    pub fn consumer_group_describe(&mut self, reply_to: ReplyId, group_ids: Vec<String>) {
        let described = group_ids
            .into_iter()
            .map(|id| self.describe_consumer_group(id))
            .collect();
        self.reply(reply_to, Reply::ConsumerGroupDescribe(described));
    }

    fn describe_consumer_group(&self, group_id: String) -> ConsumerGroupDescription {
        let Some(group) = self.consumer_groups.get(&group_id) else {
            let message = if self.groups.contains_key(&group_id) {
                format!("group {group_id} is not a consumer group")
            } else {
                format!("group {group_id} not found")
            };
            return ConsumerGroupDescription {
                error_code: code(ResponseError::GroupIdNotFound),
                error_message: Some(message),
                group_id,
                group_state: "Dead".into(),
                ..Default::default()
            };
        };
        ConsumerGroupDescription {
            error_code: NONE,
            error_message: None,
            group_state: group.state_name().into(),
            group_epoch: group.group_epoch,
            assignment_epoch: group.assignment_epoch,
            assignor_name: group.preferred_assignor(DEFAULT_ASSIGNOR),
            members: group
                .members
                .values()
                .map(|m| ConsumerMemberDescription {
                    member_id: m.member_id.clone(),
                    instance_id: m.instance_id.clone(),
                    rack_id: m.rack_id.clone(),
                    member_epoch: m.member_epoch,
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    subscribed_topic_names: m.subscribed_topic_names.clone(),
                    subscribed_topic_regex: None,
                    assignment: to_pairs(&m.assigned),
                    target_assignment: group
                        .target
                        .get(&m.member_id)
                        .map(to_pairs)
                        .unwrap_or_default(),
                })
                .collect(),
            group_id,
        }
    }

    // ---- replay, offsets, deletion -----------------------------------------------------------

    pub(crate) fn replay_consumer_group(
        &mut self,
        key: RecordKey,
        value: Option<&[u8]>,
        _now_ms: i64,
    ) -> Result<(), RecordError> {
        match key {
            RecordKey::ConsumerGroupMetadata { group } => match value {
                Some(v) => {
                    let v = ConsumerGroupMetadataValue::decode(v)?;
                    self.consumer_group_mut(&group).group_epoch = v.epoch;
                }
                None => {
                    self.consumer_groups.remove(&group);
                }
            },
            RecordKey::ConsumerGroupTargetAssignmentMetadata { group } => {
                if let Some(v) = value {
                    let v = ConsumerGroupTargetAssignmentMetadataValue::decode(v)?;
                    self.consumer_group_mut(&group).assignment_epoch = v.assignment_epoch;
                }
            }
            RecordKey::ConsumerGroupTargetAssignmentMember { group, member_id } => match value {
                Some(v) => {
                    let v = ConsumerGroupTargetAssignmentMemberValue::decode(v)?;
                    self.consumer_group_mut(&group)
                        .target
                        .insert(member_id, from_topic_partitions(&v.topic_partitions));
                }
                None => {
                    if let Some(g) = self.consumer_groups.get_mut(&group) {
                        g.target.remove(&member_id);
                    }
                }
            },
            RecordKey::ConsumerGroupMemberMetadata { group, member_id } => match value {
                Some(v) => {
                    let v = ConsumerGroupMemberMetadataValue::decode(v)?;
                    let g = self.consumer_group_mut(&group);
                    let m = g
                        .members
                        .entry(member_id.clone())
                        .or_insert_with(|| ConsumerMember::new(member_id));
                    m.instance_id = v.instance_id;
                    m.rack_id = v.rack_id;
                    m.client_id = v.client_id;
                    m.client_host = v.client_host;
                    m.subscribed_topic_names = v.subscribed_topic_names;
                    m.rebalance_timeout_ms = v.rebalance_timeout_ms;
                    m.server_assignor = v.server_assignor;
                }
                None => {
                    if let Some(g) = self.consumer_groups.get_mut(&group) {
                        g.members.remove(&member_id);
                    }
                }
            },
            RecordKey::ConsumerGroupCurrentMemberAssignment { group, member_id } => {
                if let Some(v) = value {
                    let v = ConsumerGroupCurrentMemberAssignmentValue::decode(v)?;
                    let g = self.consumer_group_mut(&group);
                    let m = g
                        .members
                        .entry(member_id.clone())
                        .or_insert_with(|| ConsumerMember::new(member_id));
                    m.member_epoch = v.member_epoch;
                    m.previous_member_epoch = v.previous_member_epoch;
                    m.state = MemberState::from_id(v.state);
                    m.assigned = from_topic_partitions(&v.assigned_partitions);
                    m.pending_revocation = from_topic_partitions(&v.partitions_pending_revocation);
                }
            }
            RecordKey::ConsumerGroupPartitionMetadata { group } => {
                if let Some(v) = value {
                    let v = ConsumerGroupPartitionMetadataValue::decode(v)?;
                    self.consumer_group_mut(&group).subscribed_metadata = v
                        .topics
                        .into_iter()
                        .map(|t| (t.topic_name, t.topic_id, t.num_partitions))
                        .collect();
                }
            }
            RecordKey::OffsetCommit { .. } | RecordKey::GroupMetadata { .. } => {}
        }
        Ok(())
    }

    fn consumer_group_mut(&mut self, group_id: &str) -> &mut ConsumerGroup {
        self.consumer_groups
            .entry(group_id.to_owned())
            .or_insert_with(|| ConsumerGroup::new(group_id.to_owned()))
    }

    pub(crate) fn consumer_groups_loaded(&mut self, now_ms: i64) {
        let keys: Vec<(TimerKey, i64)> = self
            .consumer_groups
            .values()
            .flat_map(|g| {
                let session = self.consumer_session_timeout_ms(&g.group_id) as i64;
                g.members.keys().map(move |m| {
                    let key = TimerKey::ConsumerSession {
                        group: g.group_id.clone(),
                        member_id: m.clone(),
                    };
                    (key, session)
                })
            })
            .collect();
        for (key, session) in keys {
            self.timers.schedule(key, now_ms + session);
        }
    }

    /// `None` if `group_id` is not a consumer group.
    pub(crate) fn delete_consumer_group(
        &mut self,
        group_id: &str,
        now_ms: i64,
    ) -> Option<ErrorCode> {
        let group = self.consumer_groups.get(group_id)?;
        if !group.is_empty() {
            return Some(code(ResponseError::NonEmptyGroup));
        }
        self.delete_all_offsets(group_id, now_ms);
        self.consumer_groups.remove(group_id);
        self.timers.cancel_group(group_id);
        self.write_consumer(
            RecordKey::ConsumerGroupTargetAssignmentMetadata {
                group: group_id.to_owned(),
            },
            None,
        );
        self.write_consumer(
            RecordKey::ConsumerGroupPartitionMetadata {
                group: group_id.to_owned(),
            },
            None,
        );
        self.write_consumer(
            RecordKey::ConsumerGroupMetadata {
                group: group_id.to_owned(),
            },
            None,
        );
        Some(NONE)
    }

    /// OffsetCommit for a consumer group: the member and its current epoch.
    pub(crate) fn validate_consumer_offset_commit(
        &self,
        req: &OffsetCommitRequest,
    ) -> Result<(), ErrorCode> {
        let group = &self.consumer_groups[&req.group_id];
        if req.generation_id_or_member_epoch < 0 && req.member_id.is_empty() {
            return if group.is_empty() {
                Ok(())
            } else {
                Err(code(ResponseError::UnknownMemberId))
            };
        }
        let Some(member) = group.members.get(&req.member_id) else {
            return Err(code(ResponseError::UnknownMemberId));
        };
        if req.generation_id_or_member_epoch != member.member_epoch {
            return Err(code(ResponseError::StaleMemberEpoch));
        }
        Ok(())
    }

    /// OffsetFetch v9+ from a consumer group member: the member and its epoch.
    pub(crate) fn validate_consumer_offset_fetch(
        &self,
        req: &OffsetFetchRequest,
    ) -> Option<ErrorCode> {
        let member_id = req.member_id.as_deref().filter(|m| !m.is_empty())?;
        let group = self.consumer_groups.get(&req.group_id)?;
        match group.members.get(member_id) {
            None => Some(code(ResponseError::UnknownMemberId)),
            Some(m) if req.member_epoch >= 0 && m.member_epoch != req.member_epoch => {
                Some(code(ResponseError::StaleMemberEpoch))
            }
            Some(_) => None,
        }
    }
}

/// Kafka's epoch check: the current epoch, or the previous one from a member
/// whose answer with the new epoch was lost (and that owns no more than it may).
fn check_member_epoch(
    member: &ConsumerMember,
    received: i32,
    owned: Option<&[(uuid::Uuid, Vec<i32>)]>,
) -> Option<ConsumerHeartbeatResponse> {
    let fenced = || {
        failure(
            ResponseError::FencedMemberEpoch,
            format!(
                "member epoch {received} is not the current epoch {}",
                member.member_epoch
            ),
        )
    };
    if received > member.member_epoch {
        return Some(fenced());
    }
    if received < member.member_epoch {
        let subset = owned.is_some_and(|o| is_empty(&minus(&from_pairs(o), &member.assigned)));
        if received != member.previous_member_epoch || !subset {
            return Some(fenced());
        }
    }
    None
}

fn subscribed_metadata(
    group: &ConsumerGroup,
    topics: &dyn TopicLookup,
) -> Vec<(String, uuid::Uuid, i32)> {
    let mut names: Vec<String> = group.subscribed_topic_names().into_iter().collect();
    names.sort();
    names
        .into_iter()
        .filter_map(|n| topics.topic(&n).map(|(id, p)| (n, id, p)))
        .collect()
}

fn member_metadata_value(m: &ConsumerMember) -> ConsumerGroupMemberMetadataValue {
    ConsumerGroupMemberMetadataValue {
        instance_id: m.instance_id.clone(),
        rack_id: m.rack_id.clone(),
        client_id: m.client_id.clone(),
        client_host: m.client_host.clone(),
        subscribed_topic_names: m.subscribed_topic_names.clone(),
        subscribed_topic_regex: None,
        rebalance_timeout_ms: m.rebalance_timeout_ms,
        server_assignor: m.server_assignor.clone(),
        classic_member_metadata: None,
    }
}
