//! The classic group protocol: JoinGroup, SyncGroup, Heartbeat, LeaveGroup,
//! and the session, join and sync deadlines. Error codes and the order of
//! checks follow Kafka's group coordinator, because clients' rebalance logic
//! depends on them.

use kafka_protocol::error::ResponseError;

use crate::api::*;
use crate::classic_group::{ClassicGroup, ClassicGroupState as State, ClassicMember};
use crate::group_shard::GroupShard;
use crate::timer::TimerKey;

fn code(e: ResponseError) -> ErrorCode {
    e.code()
}

impl GroupShard {
    // ---- JoinGroup --------------------------------------------------------------------------

    pub fn join_group(&mut self, reply_to: ReplyId, req: JoinGroupRequest, now_ms: i64) {
        if let Err(error) = self.validate_join(&req) {
            self.reply(
                reply_to,
                Reply::JoinGroup(JoinGroupResponse::error(error, &req.member_id)),
            );
            return;
        }
        let created = !self.groups.contains_key(&req.group_id);
        if created {
            if !req.member_id.is_empty() {
                self.reply(
                    reply_to,
                    Reply::JoinGroup(JoinGroupResponse::error(
                        code(ResponseError::UnknownMemberId),
                        &req.member_id,
                    )),
                );
                return;
            }
            self.groups.insert(
                req.group_id.clone(),
                ClassicGroup::new(req.group_id.clone(), now_ms),
            );
        }
        let group_id = req.group_id.clone();
        let result = if req.member_id.is_empty() {
            self.join_new_member(reply_to, req, now_ms)
        } else {
            self.join_existing_member(reply_to, req, now_ms)
        };
        if let Err((error, member_id)) = result {
            self.reply(
                reply_to,
                Reply::JoinGroup(JoinGroupResponse::error(error, &member_id)),
            );
            if created {
                self.groups.remove(&group_id);
            }
        }
    }

    fn validate_join(&self, req: &JoinGroupRequest) -> Result<(), ErrorCode> {
        if req.group_id.is_empty() {
            return Err(code(ResponseError::InvalidGroupId));
        }
        if self.consumer_groups.contains_key(&req.group_id) {
            // A KIP-848 group with members does not take classic members (no
            // online upgrade between protocols yet).
            return Err(code(ResponseError::InconsistentGroupProtocol));
        }
        if req.session_timeout_ms < self.config.min_session_timeout_ms
            || req.session_timeout_ms > self.config.max_session_timeout_ms
        {
            return Err(code(ResponseError::InvalidSessionTimeout));
        }
        if let Some(group) = self.groups.get(&req.group_id) {
            if group.is(State::Dead) {
                return Err(code(ResponseError::CoordinatorNotAvailable));
            }
            if !group.supports_protocols(&req.protocol_type, &req.protocols) {
                return Err(code(ResponseError::InconsistentGroupProtocol));
            }
        } else if req.protocol_type.is_empty() || req.protocols.is_empty() {
            return Err(code(ResponseError::InconsistentGroupProtocol));
        }
        Ok(())
    }

    fn join_new_member(
        &mut self,
        reply_to: ReplyId,
        req: JoinGroupRequest,
        now_ms: i64,
    ) -> Result<(), (ErrorCode, String)> {
        let group = self
            .groups
            .get_mut(&req.group_id)
            .ok_or((code(ResponseError::UnknownMemberId), String::new()))?;
        if group.members.len() >= self.config.max_size {
            return Err((code(ResponseError::GroupMaxSizeReached), String::new()));
        }
        let prefix = req
            .group_instance_id
            .clone()
            .unwrap_or_else(|| req.client_id.clone());
        let member_id = format!("{prefix}-{}", uuid::Uuid::new_v4());
        if let Some(instance) = req.group_instance_id.clone() {
            if let Some(old) = group.static_members.get(&instance).cloned() {
                self.replace_static_member(reply_to, req, old, member_id, now_ms);
            } else {
                self.add_member_and_rebalance(reply_to, req, member_id, now_ms);
            }
            return Ok(());
        }
        if req.require_known_member_id {
            // KIP-394: hand out the id and wait for the member to come back with it.
            group.pending_members.insert(member_id.clone());
            let timeout = req.session_timeout_ms as i64;
            self.timers.schedule(
                TimerKey::PendingMember {
                    group: req.group_id.clone(),
                    member_id: member_id.clone(),
                },
                now_ms + timeout,
            );
            self.reply(
                reply_to,
                Reply::JoinGroup(JoinGroupResponse::error(
                    code(ResponseError::MemberIdRequired),
                    &member_id,
                )),
            );
            return Ok(());
        }
        self.add_member_and_rebalance(reply_to, req, member_id, now_ms);
        Ok(())
    }

    fn join_existing_member(
        &mut self,
        reply_to: ReplyId,
        req: JoinGroupRequest,
        now_ms: i64,
    ) -> Result<(), (ErrorCode, String)> {
        let member_id = req.member_id.clone();
        let group = self
            .groups
            .get_mut(&req.group_id)
            .ok_or((code(ResponseError::UnknownMemberId), member_id.clone()))?;
        if group.pending_members.remove(&member_id) {
            self.timers.cancel(&TimerKey::PendingMember {
                group: req.group_id.clone(),
                member_id: member_id.clone(),
            });
            self.add_member_and_rebalance(reply_to, req, member_id, now_ms);
            return Ok(());
        }
        validate_member(group, &member_id, req.group_instance_id.as_deref())
            .map_err(|e| (e, member_id.clone()))?;
        let group_id = req.group_id.clone();
        match group.state {
            State::Empty | State::Dead => {
                return Err((code(ResponseError::UnknownMemberId), member_id))
            }
            State::PreparingRebalance => {
                update_member(group, &req, reply_to);
                self.schedule_heartbeat(&group_id, &member_id, now_ms);
                self.maybe_complete_join(&group_id, now_ms);
            }
            State::CompletingRebalance => {
                let member = &group.members[&member_id];
                if member.matches(&req.protocols) {
                    // A duplicate JoinGroup: answer with what the member already got.
                    let response = join_response(group, &member_id);
                    self.schedule_heartbeat(&group_id, &member_id, now_ms);
                    self.reply(reply_to, Reply::JoinGroup(response));
                } else {
                    update_member(group, &req, reply_to);
                    self.schedule_heartbeat(&group_id, &member_id, now_ms);
                    self.prepare_rebalance(&group_id, now_ms);
                }
            }
            State::Stable => {
                let member = &group.members[&member_id];
                if group.is_leader(&member_id) || !member.matches(&req.protocols) {
                    // The leader rejoins to reassign (a metadata change, say);
                    // a member with new protocols forces a new generation.
                    update_member(group, &req, reply_to);
                    self.schedule_heartbeat(&group_id, &member_id, now_ms);
                    self.prepare_rebalance(&group_id, now_ms);
                } else {
                    let mut response = join_response(group, &member_id);
                    response.members.clear();
                    self.schedule_heartbeat(&group_id, &member_id, now_ms);
                    self.reply(reply_to, Reply::JoinGroup(response));
                }
            }
        }
        Ok(())
    }

    fn add_member_and_rebalance(
        &mut self,
        reply_to: ReplyId,
        req: JoinGroupRequest,
        member_id: String,
        now_ms: i64,
    ) {
        let Some(group) = self.groups.get_mut(&req.group_id) else {
            return;
        };
        let join_seq = group.next_join_seq();
        if group.initial_delay_until_ms.is_some() {
            group.new_member_added = true;
        }
        if let Some(instance) = &req.group_instance_id {
            group
                .static_members
                .insert(instance.clone(), member_id.clone());
        }
        if group.members.is_empty() {
            group.protocol_type = Some(req.protocol_type.clone());
        }
        group.members.insert(
            member_id.clone(),
            ClassicMember {
                member_id: member_id.clone(),
                group_instance_id: req.group_instance_id.clone(),
                client_id: req.client_id.clone(),
                client_host: req.client_host.clone(),
                session_timeout_ms: req.session_timeout_ms,
                rebalance_timeout_ms: req.rebalance_timeout_ms,
                protocol_type: req.protocol_type.clone(),
                protocols: req.protocols.clone(),
                assignment: Default::default(),
                awaiting_join: Some(reply_to),
                awaiting_sync: None,
                is_new: true,
                join_seq,
            },
        );
        let group_id = req.group_id.clone();
        self.schedule_heartbeat(&group_id, &member_id, now_ms);
        let state = self.groups[&group_id].state;
        match state {
            State::Empty | State::Stable | State::CompletingRebalance => {
                self.prepare_rebalance(&group_id, now_ms)
            }
            State::PreparingRebalance => self.maybe_complete_join(&group_id, now_ms),
            State::Dead => {}
        }
    }

    /// KIP-345: a static member restarted with a new member id takes over
    /// its old identity; in a stable group with unchanged protocols this
    /// needs no rebalance.
    fn replace_static_member(
        &mut self,
        reply_to: ReplyId,
        req: JoinGroupRequest,
        old_id: String,
        new_id: String,
        now_ms: i64,
    ) {
        let group_id = req.group_id.clone();
        self.timers.cancel(&TimerKey::Heartbeat {
            group: group_id.clone(),
            member_id: old_id.clone(),
        });
        let Some(group) = self.groups.get_mut(&group_id) else {
            return;
        };
        let Some(mut member) = group.members.remove(&old_id) else {
            return;
        };
        let fenced = code(ResponseError::FencedInstanceId);
        let mut fenced_replies = Vec::new();
        if let Some(r) = member.awaiting_join.take() {
            fenced_replies.push((
                r,
                Reply::JoinGroup(JoinGroupResponse::error(fenced, &old_id)),
            ));
        }
        if let Some(r) = member.awaiting_sync.take() {
            fenced_replies.push((r, Reply::SyncGroup(SyncGroupResponse::error(fenced))));
        }
        member.member_id = new_id.clone();
        member.session_timeout_ms = req.session_timeout_ms;
        member.rebalance_timeout_ms = req.rebalance_timeout_ms;
        // Kafka keeps the old member's client id and host (ClassicGroup.replaceStaticMember).
        member.protocols = req.protocols.clone();
        if let Some(instance) = &req.group_instance_id {
            group
                .static_members
                .insert(instance.clone(), new_id.clone());
        }
        if group.leader_id.as_deref() == Some(old_id.as_str()) {
            group.leader_id = Some(new_id.clone());
        }
        if group.pending_sync.remove(&old_id) {
            group.pending_sync.insert(new_id.clone());
        }
        group.members.insert(new_id.clone(), member);
        for (r, reply) in fenced_replies {
            self.out.replies.push((r, reply));
        }
        self.schedule_heartbeat(&group_id, &new_id, now_ms);
        let group = self
            .groups
            .get_mut(&group_id)
            .expect("group present: just updated");
        match group.state {
            State::Stable if group.select_protocol() == group.protocol_name => {
                let mut response = join_response(group, &new_id);
                response.members.clear();
                // KIP-814: a leader that knows to skip the assignment keeps the current one.
                if group.is_leader(&new_id) && req.supports_skip_assignment {
                    response.skip_assignment = true;
                    response.members = join_members(group);
                }
                self.write_group(&group_id);
                self.reply(reply_to, Reply::JoinGroup(response));
            }
            State::Stable | State::CompletingRebalance => {
                if let Some(m) = group.members.get_mut(&new_id) {
                    m.awaiting_join = Some(reply_to);
                }
                self.prepare_rebalance(&group_id, now_ms);
            }
            State::PreparingRebalance => {
                if let Some(m) = group.members.get_mut(&new_id) {
                    m.awaiting_join = Some(reply_to);
                }
                self.maybe_complete_join(&group_id, now_ms);
            }
            State::Empty | State::Dead => {
                self.reply(
                    reply_to,
                    Reply::JoinGroup(JoinGroupResponse::error(
                        code(ResponseError::UnknownMemberId),
                        &new_id,
                    )),
                );
            }
        }
    }

    /// Starts a new join phase: answers parked syncs with REBALANCE_IN_PROGRESS
    /// and arms the join deadline (the initial delay for an empty group).
    pub(crate) fn prepare_rebalance(&mut self, group_id: &str, now_ms: i64) {
        let initial_delay = self.config.initial_rebalance_delay_ms as i64;
        let Some(group) = self.groups.get_mut(group_id) else {
            return;
        };
        let mut replies = Vec::new();
        if group.is(State::CompletingRebalance) {
            for m in group.members.values_mut() {
                m.assignment = Default::default();
                if let Some(r) = m.awaiting_sync.take() {
                    replies.push((
                        r,
                        Reply::SyncGroup(SyncGroupResponse::error(code(
                            ResponseError::RebalanceInProgress,
                        ))),
                    ));
                }
            }
        }
        group.pending_sync.clear();
        let was_empty = group.is(State::Empty);
        group.transition(State::PreparingRebalance, now_ms);
        let rebalance_timeout = group.rebalance_timeout_ms() as i64;
        let deadline = if was_empty {
            let delay = initial_delay.min(rebalance_timeout);
            group.initial_delay_until_ms = Some(now_ms + rebalance_timeout);
            group.new_member_added = false;
            now_ms + delay
        } else {
            group.initial_delay_until_ms = None;
            now_ms + rebalance_timeout
        };
        self.out.replies.extend(replies);
        self.timers.cancel(&TimerKey::Sync {
            group: group_id.to_owned(),
        });
        self.timers.schedule(
            TimerKey::Join {
                group: group_id.to_owned(),
            },
            deadline,
        );
        if !was_empty {
            self.maybe_complete_join(group_id, now_ms);
        }
    }

    /// Ends the join phase early once every member has rejoined (never
    /// during the initial delay, which exists to gather members).
    pub(crate) fn maybe_complete_join(&mut self, group_id: &str, now_ms: i64) {
        let Some(group) = self.groups.get(group_id) else {
            return;
        };
        if group.is(State::PreparingRebalance)
            && group.initial_delay_until_ms.is_none()
            && group.all_members_joined()
        {
            self.complete_join(group_id, now_ms);
        }
    }

    pub(crate) fn on_join_deadline(&mut self, group_id: &str, now_ms: i64) {
        let initial_delay = self.config.initial_rebalance_delay_ms as i64;
        let Some(group) = self.groups.get_mut(group_id) else {
            return;
        };
        if !group.is(State::PreparingRebalance) {
            return;
        }
        if let Some(until) = group.initial_delay_until_ms {
            if group.new_member_added && until > now_ms && initial_delay > 0 {
                // More members arrived during the delay: wait once more, up to the rebalance timeout.
                group.new_member_added = false;
                let next = (now_ms + initial_delay).min(until);
                self.timers.schedule(
                    TimerKey::Join {
                        group: group_id.to_owned(),
                    },
                    next,
                );
                return;
            }
        }
        self.complete_join(group_id, now_ms);
    }

    /// The join phase is over: members that did not rejoin are out, a new
    /// generation starts, and every parked JoinGroup is answered (the leader
    /// with the members' subscriptions).
    fn complete_join(&mut self, group_id: &str, now_ms: i64) {
        self.timers.cancel(&TimerKey::Join {
            group: group_id.to_owned(),
        });
        let Some(group) = self.groups.get_mut(group_id) else {
            return;
        };
        group.initial_delay_until_ms = None;
        let gone: Vec<String> = group
            .members
            .values()
            .filter(|m| m.awaiting_join.is_none())
            .map(|m| m.member_id.clone())
            .collect();
        for member_id in &gone {
            remove_member(group, member_id);
        }
        for member_id in gone {
            self.timers.cancel(&TimerKey::Heartbeat {
                group: group_id.to_owned(),
                member_id,
            });
        }
        let group = self
            .groups
            .get_mut(group_id)
            .expect("group present: checked above");
        group.generation_id += 1;
        if group.members.is_empty() {
            group.protocol_name = None;
            group.leader_id = None;
            group.transition(State::Empty, now_ms);
            self.write_group(group_id);
            return;
        }
        group.protocol_name = group.select_protocol();
        group.protocol_type = group
            .members
            .values()
            .next()
            .map(|m| m.protocol_type.clone());
        if !group
            .leader_id
            .as_ref()
            .map(|l| group.members.contains_key(l))
            .unwrap_or(false)
        {
            group.leader_id = group.first_member();
        }
        group.transition(State::CompletingRebalance, now_ms);
        group.pending_sync = group.members.keys().cloned().collect();
        let mut replies = Vec::new();
        let ids: Vec<String> = group.members.keys().cloned().collect();
        for id in &ids {
            let response = join_response(group, id);
            let m = group.members.get_mut(id).expect("member listed above");
            m.is_new = false;
            if let Some(r) = m.awaiting_join.take() {
                replies.push((r, Reply::JoinGroup(response)));
            }
        }
        let rebalance_timeout = group.rebalance_timeout_ms() as i64;
        self.out.replies.extend(replies);
        for id in ids {
            self.schedule_heartbeat(group_id, &id, now_ms);
        }
        self.timers.schedule(
            TimerKey::Sync {
                group: group_id.to_owned(),
            },
            now_ms + rebalance_timeout,
        );
    }

    // ---- SyncGroup --------------------------------------------------------------------------

    pub fn sync_group(&mut self, reply_to: ReplyId, req: SyncGroupRequest, now_ms: i64) {
        match self.try_sync_group(reply_to, &req, now_ms) {
            Ok(()) => {}
            Err(e) => self.reply(reply_to, Reply::SyncGroup(SyncGroupResponse::error(e))),
        }
    }

    fn try_sync_group(
        &mut self,
        reply_to: ReplyId,
        req: &SyncGroupRequest,
        now_ms: i64,
    ) -> Result<(), ErrorCode> {
        let group = self
            .groups
            .get_mut(&req.group_id)
            .ok_or(code(ResponseError::UnknownMemberId))?;
        if group.is(State::Dead) {
            return Err(code(ResponseError::CoordinatorNotAvailable));
        }
        validate_member(group, &req.member_id, req.group_instance_id.as_deref())?;
        if req.generation_id != group.generation_id {
            return Err(code(ResponseError::IllegalGeneration));
        }
        let type_mismatch = req
            .protocol_type
            .as_ref()
            .is_some_and(|t| Some(t) != group.protocol_type.as_ref());
        let name_mismatch = req
            .protocol_name
            .as_ref()
            .is_some_and(|n| Some(n) != group.protocol_name.as_ref());
        if type_mismatch || name_mismatch {
            return Err(code(ResponseError::InconsistentGroupProtocol));
        }
        let group_id = req.group_id.clone();
        match group.state {
            State::Empty | State::Dead => Err(code(ResponseError::UnknownMemberId)),
            State::PreparingRebalance => Err(code(ResponseError::RebalanceInProgress)),
            State::CompletingRebalance => {
                group.pending_sync.remove(&req.member_id);
                if let Some(m) = group.members.get_mut(&req.member_id) {
                    m.awaiting_sync = Some(reply_to);
                }
                if group.is_leader(&req.member_id) {
                    for m in group.members.values_mut() {
                        m.assignment = req
                            .assignments
                            .iter()
                            .find(|(id, _)| *id == m.member_id)
                            .map(|(_, a)| a.clone())
                            .unwrap_or_default();
                    }
                    group.transition(State::Stable, now_ms);
                    let protocol_type = group.protocol_type.clone();
                    let protocol_name = group.protocol_name.clone();
                    let mut replies = Vec::new();
                    for m in group.members.values_mut() {
                        if let Some(r) = m.awaiting_sync.take() {
                            replies.push((
                                r,
                                Reply::SyncGroup(SyncGroupResponse {
                                    error_code: NONE,
                                    protocol_type: protocol_type.clone(),
                                    protocol_name: protocol_name.clone(),
                                    assignment: m.assignment.clone(),
                                }),
                            ));
                        }
                    }
                    // The record goes out before the replies: the assignment is
                    // in the log by the time any member learns of it.
                    self.write_group(&group_id);
                    self.out.replies.extend(replies);
                }
                self.schedule_heartbeat(&group_id, &req.member_id, now_ms);
                Ok(())
            }
            State::Stable => {
                group.pending_sync.remove(&req.member_id);
                let m = &group.members[&req.member_id];
                let response = SyncGroupResponse {
                    error_code: NONE,
                    protocol_type: group.protocol_type.clone(),
                    protocol_name: group.protocol_name.clone(),
                    assignment: m.assignment.clone(),
                };
                self.schedule_heartbeat(&group_id, &req.member_id, now_ms);
                self.reply(reply_to, Reply::SyncGroup(response));
                Ok(())
            }
        }
    }

    pub(crate) fn on_sync_deadline(&mut self, group_id: &str, now_ms: i64) {
        let Some(group) = self.groups.get_mut(group_id) else {
            return;
        };
        if !matches!(group.state, State::CompletingRebalance | State::Stable)
            || group.pending_sync.is_empty()
        {
            return;
        }
        let missing: Vec<String> = group.pending_sync.drain().collect();
        for member_id in missing {
            self.remove_member_and_rebalance(group_id, &member_id, now_ms);
        }
    }

    // ---- Heartbeat --------------------------------------------------------------------------

    pub fn heartbeat(&mut self, reply_to: ReplyId, req: HeartbeatRequest, now_ms: i64) {
        let result = self.try_heartbeat(&req, now_ms);
        self.reply(reply_to, Reply::Heartbeat(result));
    }

    fn try_heartbeat(&mut self, req: &HeartbeatRequest, now_ms: i64) -> ErrorCode {
        let Some(group) = self.groups.get(&req.group_id) else {
            return code(ResponseError::UnknownMemberId);
        };
        if group.is(State::Dead) {
            return code(ResponseError::CoordinatorNotAvailable);
        }
        if let Err(e) = validate_member(group, &req.member_id, req.group_instance_id.as_deref()) {
            return e;
        }
        if req.generation_id != group.generation_id {
            return code(ResponseError::IllegalGeneration);
        }
        let state = group.state;
        match state {
            State::Empty | State::Dead => code(ResponseError::UnknownMemberId),
            State::PreparingRebalance => {
                self.schedule_heartbeat(&req.group_id, &req.member_id, now_ms);
                code(ResponseError::RebalanceInProgress)
            }
            // After its JoinGroup answer a member may heartbeat before it syncs.
            State::CompletingRebalance | State::Stable => {
                self.schedule_heartbeat(&req.group_id, &req.member_id, now_ms);
                NONE
            }
        }
    }

    pub(crate) fn schedule_heartbeat(&mut self, group_id: &str, member_id: &str, now_ms: i64) {
        let Some(m) = self
            .groups
            .get(group_id)
            .and_then(|g| g.members.get(member_id))
        else {
            return;
        };
        let deadline = now_ms + m.session_timeout_ms as i64;
        self.timers.schedule(
            TimerKey::Heartbeat {
                group: group_id.to_owned(),
                member_id: member_id.to_owned(),
            },
            deadline,
        );
    }

    pub(crate) fn on_heartbeat_expired(&mut self, group_id: &str, member_id: &str, now_ms: i64) {
        let Some(m) = self
            .groups
            .get(group_id)
            .and_then(|g| g.members.get(member_id))
        else {
            return;
        };
        if m.awaiting_join.is_some() || m.awaiting_sync.is_some() {
            // A member parked in JoinGroup or SyncGroup is alive: it waits on us.
            self.schedule_heartbeat(group_id, member_id, now_ms);
            return;
        }
        tracing::info!(
            group = group_id,
            member = member_id,
            "member session expired; removing it from the group"
        );
        self.remove_member_and_rebalance(group_id, member_id, now_ms);
    }

    pub(crate) fn on_pending_member_expired(
        &mut self,
        group_id: &str,
        member_id: &str,
        now_ms: i64,
    ) {
        let Some(group) = self.groups.get_mut(group_id) else {
            return;
        };
        if group.pending_members.remove(member_id) {
            self.maybe_complete_join(group_id, now_ms);
            self.maybe_drop_empty_group(group_id);
        }
    }

    // ---- LeaveGroup -------------------------------------------------------------------------

    pub fn leave_group(&mut self, reply_to: ReplyId, req: LeaveGroupRequest, now_ms: i64) {
        let response = self.try_leave_group(&req, now_ms);
        self.reply(reply_to, Reply::LeaveGroup(response));
    }

    fn try_leave_group(&mut self, req: &LeaveGroupRequest, now_ms: i64) -> LeaveGroupResponse {
        let Some(group) = self.groups.get(&req.group_id) else {
            return LeaveGroupResponse {
                error_code: code(ResponseError::UnknownMemberId),
                members: Vec::new(),
            };
        };
        if group.is(State::Dead) {
            return LeaveGroupResponse {
                error_code: code(ResponseError::CoordinatorNotAvailable),
                members: Vec::new(),
            };
        }
        let mut members = Vec::new();
        for (member_id, instance_id) in &req.members {
            let error = self.leave_one(&req.group_id, member_id, instance_id.as_deref(), now_ms);
            members.push((member_id.clone(), instance_id.clone(), error));
        }
        LeaveGroupResponse {
            error_code: NONE,
            members,
        }
    }

    fn leave_one(
        &mut self,
        group_id: &str,
        member_id: &str,
        instance_id: Option<&str>,
        now_ms: i64,
    ) -> ErrorCode {
        let Some(group) = self.groups.get_mut(group_id) else {
            return code(ResponseError::UnknownMemberId);
        };
        let target = match instance_id {
            Some(instance) => match group.static_members.get(instance) {
                None => return code(ResponseError::UnknownMemberId),
                Some(found) if !member_id.is_empty() && found != member_id => {
                    return code(ResponseError::FencedInstanceId)
                }
                Some(found) => found.clone(),
            },
            None => {
                if group.pending_members.remove(member_id) {
                    self.timers.cancel(&TimerKey::PendingMember {
                        group: group_id.to_owned(),
                        member_id: member_id.to_owned(),
                    });
                    self.maybe_complete_join(group_id, now_ms);
                    return NONE;
                }
                if !group.members.contains_key(member_id) {
                    return code(ResponseError::UnknownMemberId);
                }
                member_id.to_owned()
            }
        };
        self.remove_member_and_rebalance(group_id, &target, now_ms);
        NONE
    }

    /// A member left or timed out: its parked requests are answered with
    /// UNKNOWN_MEMBER_ID and the others rebalance.
    pub(crate) fn remove_member_and_rebalance(
        &mut self,
        group_id: &str,
        member_id: &str,
        now_ms: i64,
    ) {
        self.timers.cancel(&TimerKey::Heartbeat {
            group: group_id.to_owned(),
            member_id: member_id.to_owned(),
        });
        let Some(group) = self.groups.get_mut(group_id) else {
            return;
        };
        let Some(member) = remove_member(group, member_id) else {
            return;
        };
        let unknown = code(ResponseError::UnknownMemberId);
        if let Some(r) = member.awaiting_join {
            self.out.replies.push((
                r,
                Reply::JoinGroup(JoinGroupResponse::error(unknown, member_id)),
            ));
        }
        if let Some(r) = member.awaiting_sync {
            self.out
                .replies
                .push((r, Reply::SyncGroup(SyncGroupResponse::error(unknown))));
        }
        let state = self.groups[group_id].state;
        match state {
            State::Stable | State::CompletingRebalance => self.prepare_rebalance(group_id, now_ms),
            State::PreparingRebalance => self.maybe_complete_join(group_id, now_ms),
            State::Empty | State::Dead => {}
        }
    }

    /// A group created by a JoinGroup that never got a member is forgotten.
    fn maybe_drop_empty_group(&mut self, group_id: &str) {
        let drop = self.groups.get(group_id).is_some_and(|g| {
            g.is(State::Empty)
                && g.members.is_empty()
                && g.pending_members.is_empty()
                && g.generation_id == 0
        }) && !self.has_offsets(group_id);
        if drop {
            self.groups.remove(group_id);
        }
    }
}

/// The member exists, and its static identity (if any) is its own.
fn validate_member(
    group: &ClassicGroup,
    member_id: &str,
    instance_id: Option<&str>,
) -> Result<(), ErrorCode> {
    if let Some(instance) = instance_id {
        match group.static_members.get(instance) {
            Some(known) if known != member_id => return Err(code(ResponseError::FencedInstanceId)),
            None if group.members.contains_key(member_id) => {
                return Err(code(ResponseError::FencedInstanceId))
            }
            _ => {}
        }
    }
    match group.members.get(member_id) {
        None => Err(code(ResponseError::UnknownMemberId)),
        Some(m)
            if m.group_instance_id.is_some()
                && instance_id.is_some()
                && m.group_instance_id.as_deref() != instance_id =>
        {
            Err(code(ResponseError::FencedInstanceId))
        }
        Some(_) => Ok(()),
    }
}

/// A known member's rejoin: its new protocols and timeouts, and its parked JoinGroup.
fn update_member(group: &mut ClassicGroup, req: &JoinGroupRequest, awaiting: ReplyId) {
    if let Some(m) = group.members.get_mut(&req.member_id) {
        m.protocols = req.protocols.clone();
        m.protocol_type = req.protocol_type.clone();
        m.session_timeout_ms = req.session_timeout_ms;
        m.rebalance_timeout_ms = req.rebalance_timeout_ms;
        m.client_id = req.client_id.clone();
        m.client_host = req.client_host.clone();
        m.awaiting_join = Some(awaiting);
    }
}

fn remove_member(group: &mut ClassicGroup, member_id: &str) -> Option<ClassicMember> {
    let member = group.members.remove(member_id)?;
    if let Some(instance) = &member.group_instance_id {
        if group
            .static_members
            .get(instance)
            .map(|m| m == member_id)
            .unwrap_or(false)
        {
            group.static_members.remove(instance);
        }
    }
    group.pending_sync.remove(member_id);
    if group.is_leader(member_id) {
        group.leader_id = group.first_member();
    }
    Some(member)
}

fn join_members(group: &ClassicGroup) -> Vec<JoinGroupMember> {
    let protocol = group.protocol_name.clone().unwrap_or_default();
    let mut members: Vec<&ClassicMember> = group.members.values().collect();
    members.sort_by_key(|m| m.join_seq);
    members
        .into_iter()
        .map(|m| JoinGroupMember {
            member_id: m.member_id.clone(),
            group_instance_id: m.group_instance_id.clone(),
            metadata: m.metadata_for(&protocol),
        })
        .collect()
}

/// The JoinGroup answer of the current generation for `member_id`.
fn join_response(group: &ClassicGroup, member_id: &str) -> JoinGroupResponse {
    let leader = group.leader_id.clone().unwrap_or_default();
    JoinGroupResponse {
        error_code: NONE,
        generation_id: group.generation_id,
        protocol_type: group.protocol_type.clone(),
        protocol_name: group.protocol_name.clone(),
        members: if leader == member_id {
            join_members(group)
        } else {
            Vec::new()
        },
        leader,
        skip_assignment: false,
        member_id: member_id.to_owned(),
    }
}
