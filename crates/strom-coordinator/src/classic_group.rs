//! A classic consumer group (the JoinGroup/SyncGroup protocol): its members
//! and where it is in the rebalance cycle.
//!
//! ```text
//!            join                      all joined / join timeout        leader's SyncGroup
//!   Empty ───────────▶ PreparingRebalance ──────────▶ CompletingRebalance ──────────▶ Stable
//!     ▲                      ▲   │ no member left                │  member joins, leaves,  │
//!     └──────────────────────┼───┘                               │  or times out           │
//!                            └───────────────────────────────────┴─────────────────────────┘
//! ```
//! `Dead` is a group being deleted. The transitions live in `classic.rs`;
//! this file holds the data and the questions asked of it.

use std::collections::{BTreeMap, HashMap, HashSet};

use bytes::Bytes;

use crate::api::ReplyId;
use crate::records::{GroupMetadataValue, MemberMetadata};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClassicGroupState {
    Empty,
    PreparingRebalance,
    CompletingRebalance,
    Stable,
    Dead,
}

impl ClassicGroupState {
    /// The name DescribeGroups and ListGroups use.
    pub fn name(self) -> &'static str {
        match self {
            ClassicGroupState::Empty => "Empty",
            ClassicGroupState::PreparingRebalance => "PreparingRebalance",
            ClassicGroupState::CompletingRebalance => "CompletingRebalance",
            ClassicGroupState::Stable => "Stable",
            ClassicGroupState::Dead => "Dead",
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct ClassicMember {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout_ms: i32,
    pub rebalance_timeout_ms: i32,
    pub protocol_type: String,
    pub protocols: Vec<(String, Bytes)>,
    pub assignment: Bytes,
    /// The parked JoinGroup of this member, answered when the join phase ends.
    pub awaiting_join: Option<ReplyId>,
    /// The parked SyncGroup of this member, answered when the leader's assignment is in.
    pub awaiting_sync: Option<ReplyId>,
    /// Joined during the current rebalance (for the initial-delay extension).
    pub is_new: bool,
    /// Join order, to pick the first member as leader.
    pub join_seq: u64,
}

impl ClassicMember {
    pub fn metadata_for(&self, protocol: &str) -> Bytes {
        self.protocols
            .iter()
            .find(|(n, _)| n == protocol)
            .map(|(_, m)| m.clone())
            .unwrap_or_default()
    }

    /// Same protocols, in the same order, with the same metadata.
    pub fn matches(&self, protocols: &[(String, Bytes)]) -> bool {
        self.protocols == protocols
    }

    pub fn to_record(&self, protocol: Option<&str>) -> MemberMetadata {
        MemberMetadata {
            member_id: self.member_id.clone(),
            group_instance_id: self.group_instance_id.clone(),
            client_id: self.client_id.clone(),
            client_host: self.client_host.clone(),
            rebalance_timeout: self.rebalance_timeout_ms,
            session_timeout: self.session_timeout_ms,
            subscription: protocol.map(|p| self.metadata_for(p)).unwrap_or_default(),
            assignment: self.assignment.clone(),
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct ClassicGroup {
    pub group_id: String,
    pub state: ClassicGroupState,
    pub state_timestamp_ms: i64,
    /// `None` for a group that only stores offsets (no member ever joined).
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub generation_id: i32,
    pub leader_id: Option<String>,
    pub members: BTreeMap<String, ClassicMember>,
    /// Member ids handed out with MEMBER_ID_REQUIRED and not yet used.
    pub pending_members: HashSet<String>,
    /// group.instance.id → member id.
    pub static_members: HashMap<String, String>,
    /// Members that got a JoinGroup answer in this generation and have not synced.
    pub pending_sync: HashSet<String>,
    /// In the first join phase of an empty group (group.initial.rebalance.delay.ms).
    pub initial_delay_until_ms: Option<i64>,
    /// Members joined during the initial delay: extend it once more.
    pub new_member_added: bool,
    next_join_seq: u64,
}

impl ClassicGroup {
    pub fn new(group_id: String, now_ms: i64) -> Self {
        ClassicGroup {
            group_id,
            state: ClassicGroupState::Empty,
            state_timestamp_ms: now_ms,
            protocol_type: None,
            protocol_name: None,
            generation_id: 0,
            leader_id: None,
            members: BTreeMap::new(),
            pending_members: HashSet::new(),
            static_members: HashMap::new(),
            pending_sync: HashSet::new(),
            initial_delay_until_ms: None,
            new_member_added: false,
            next_join_seq: 0,
        }
    }

    pub fn transition(&mut self, state: ClassicGroupState, now_ms: i64) {
        self.state = state;
        self.state_timestamp_ms = now_ms;
    }

    pub fn is(&self, state: ClassicGroupState) -> bool {
        self.state == state
    }

    pub fn next_join_seq(&mut self) -> u64 {
        self.next_join_seq += 1;
        self.next_join_seq
    }

    pub fn is_leader(&self, member_id: &str) -> bool {
        self.leader_id.as_deref() == Some(member_id)
    }

    /// The longest rebalance timeout of the members: how long a join phase may last.
    pub fn rebalance_timeout_ms(&self) -> i32 {
        self.members
            .values()
            .map(|m| m.rebalance_timeout_ms)
            .max()
            .unwrap_or(0)
    }

    pub fn all_members_joined(&self) -> bool {
        self.pending_members.is_empty() && self.members.values().all(|m| m.awaiting_join.is_some())
    }

    /// Protocols every member supports.
    pub fn candidate_protocols(&self) -> Vec<String> {
        let mut members = self.members.values();
        let Some(first) = members.next() else {
            return Vec::new();
        };
        let mut candidates: Vec<String> = first.protocols.iter().map(|(n, _)| n.clone()).collect();
        for m in members {
            candidates.retain(|c| m.protocols.iter().any(|(n, _)| n == c));
        }
        candidates
    }

    /// Can a member with these protocols join? (Kafka's `supportsProtocols`.)
    pub fn supports_protocols(&self, protocol_type: &str, protocols: &[(String, Bytes)]) -> bool {
        if protocol_type.is_empty() || protocols.is_empty() {
            return false;
        }
        if self.members.is_empty() {
            return true;
        }
        if self.protocol_type.as_deref() != Some(protocol_type) {
            return false;
        }
        let candidates = self.candidate_protocols();
        protocols.iter().any(|(n, _)| candidates.contains(n))
    }

    /// The protocol the next generation uses: among those all members
    /// support, the one most members prefer (ties to the first member's order).
    pub fn select_protocol(&self) -> Option<String> {
        let candidates = self.candidate_protocols();
        let mut votes: Vec<(String, usize)> = candidates.iter().map(|c| (c.clone(), 0)).collect();
        for m in self.members.values() {
            if let Some((name, _)) = m.protocols.iter().find(|(n, _)| candidates.contains(n)) {
                if let Some(v) = votes.iter_mut().find(|(c, _)| c == name) {
                    v.1 += 1;
                }
            }
        }
        let mut best: Option<(String, usize)> = None;
        for (name, count) in votes {
            if best.as_ref().map(|(_, b)| count > *b).unwrap_or(true) {
                best = Some((name, count));
            }
        }
        best.map(|(n, _)| n)
    }

    /// The member that joined first.
    pub fn first_member(&self) -> Option<String> {
        self.members
            .values()
            .min_by_key(|m| m.join_seq)
            .map(|m| m.member_id.clone())
    }

    /// Topics the members are subscribed to, from the consumer protocol's
    /// subscriptions; `None` if the group is not a consumer group (or a
    /// subscription cannot be read), in which case nothing is known.
    pub fn subscribed_topics(&self) -> Option<HashSet<String>> {
        if self.protocol_type.as_deref() != Some("consumer") {
            return None;
        }
        let protocol = self.protocol_name.as_deref()?;
        let mut topics = HashSet::new();
        for m in self.members.values() {
            let sub =
                crate::consumer_protocol::Subscription::decode(&m.metadata_for(protocol)).ok()?;
            topics.extend(sub.topics);
        }
        Some(topics)
    }

    pub fn to_record(&self) -> GroupMetadataValue {
        let protocol = self.protocol_name.as_deref();
        GroupMetadataValue {
            protocol_type: self.protocol_type.clone().unwrap_or_default(),
            generation: self.generation_id,
            protocol: self.protocol_name.clone(),
            leader: self.leader_id.clone(),
            current_state_timestamp: self.state_timestamp_ms,
            members: self
                .members
                .values()
                .map(|m| m.to_record(protocol))
                .collect(),
        }
    }

    /// A group as its last GroupMetadata record left it: Stable with its
    /// members and their assignments, or Empty.
    pub fn from_record(group_id: String, value: &GroupMetadataValue, now_ms: i64) -> Self {
        let mut group = ClassicGroup::new(group_id, now_ms);
        group.protocol_type =
            (!value.protocol_type.is_empty()).then(|| value.protocol_type.clone());
        group.protocol_name = value.protocol.clone();
        group.generation_id = value.generation;
        group.leader_id = value.leader.clone();
        group.state_timestamp_ms = if value.current_state_timestamp >= 0 {
            value.current_state_timestamp
        } else {
            now_ms
        };
        for m in &value.members {
            let join_seq = group.next_join_seq();
            let protocols = match &value.protocol {
                Some(p) => vec![(p.clone(), m.subscription.clone())],
                None => Vec::new(),
            };
            if let Some(instance) = &m.group_instance_id {
                group
                    .static_members
                    .insert(instance.clone(), m.member_id.clone());
            }
            group.members.insert(
                m.member_id.clone(),
                ClassicMember {
                    member_id: m.member_id.clone(),
                    group_instance_id: m.group_instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    session_timeout_ms: m.session_timeout,
                    rebalance_timeout_ms: m.rebalance_timeout,
                    protocol_type: value.protocol_type.clone(),
                    protocols,
                    assignment: m.assignment.clone(),
                    awaiting_join: None,
                    awaiting_sync: None,
                    is_new: false,
                    join_seq,
                },
            );
        }
        group.state = if group.members.is_empty() {
            ClassicGroupState::Empty
        } else {
            ClassicGroupState::Stable
        };
        group
    }
}
