//! KIP-848 consumer groups (ConsumerGroupHeartbeat): the coordinator
//! computes each member's *target* assignment and moves members to it
//! without stopping the world. A member gives up partitions first
//! (UNREVOKED_PARTITIONS), then takes new ones once their previous owners
//! have released them (UNRELEASED_PARTITIONS until then).
//!
//! Epochs: the group epoch grows with every membership, subscription or
//! topic metadata change; the assignment epoch is the group epoch the target
//! assignment was computed for; a member's epoch reaches the assignment epoch
//! when it has reconciled. This file holds the data; the protocol is in
//! `consumer.rs`, the assignors in `assignor.rs`.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use uuid::Uuid;

use crate::records::TopicPartitions;

/// Partitions by topic id.
pub(crate) type Assignment = BTreeMap<Uuid, BTreeSet<i32>>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MemberState {
    Stable,
    UnrevokedPartitions,
    UnreleasedPartitions,
}

impl MemberState {
    /// Kafka's `MemberState` byte in ConsumerGroupCurrentMemberAssignmentValue.
    pub fn id(self) -> i8 {
        match self {
            MemberState::Stable => 1,
            MemberState::UnrevokedPartitions => 2,
            MemberState::UnreleasedPartitions => 3,
        }
    }

    pub fn from_id(id: i8) -> MemberState {
        match id {
            2 => MemberState::UnrevokedPartitions,
            3 => MemberState::UnreleasedPartitions,
            _ => MemberState::Stable,
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct ConsumerMember {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub subscribed_topic_names: Vec<String>,
    pub server_assignor: Option<String>,
    pub rebalance_timeout_ms: i32,
    pub member_epoch: i32,
    pub previous_member_epoch: i32,
    pub state: MemberState,
    pub assigned: Assignment,
    pub pending_revocation: Assignment,
}

impl ConsumerMember {
    pub fn new(member_id: String) -> Self {
        ConsumerMember {
            member_id,
            instance_id: None,
            rack_id: None,
            client_id: String::new(),
            client_host: String::new(),
            subscribed_topic_names: Vec::new(),
            server_assignor: None,
            rebalance_timeout_ms: 0,
            member_epoch: 0,
            previous_member_epoch: -1,
            state: MemberState::Stable,
            assigned: Assignment::new(),
            pending_revocation: Assignment::new(),
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct ConsumerGroup {
    pub group_id: String,
    pub group_epoch: i32,
    pub assignment_epoch: i32,
    pub members: BTreeMap<String, ConsumerMember>,
    /// Target assignment of every member, for `assignment_epoch`.
    pub target: BTreeMap<String, Assignment>,
    /// (topic, id, partitions) of the subscribed topics the target was computed from.
    pub subscribed_metadata: Vec<(String, Uuid, i32)>,
}

impl ConsumerGroup {
    pub fn new(group_id: String) -> Self {
        ConsumerGroup {
            group_id,
            group_epoch: 0,
            assignment_epoch: 0,
            members: BTreeMap::new(),
            target: BTreeMap::new(),
            subscribed_metadata: Vec::new(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// Kafka's ConsumerGroupState names.
    pub fn state_name(&self) -> &'static str {
        if self.members.is_empty() {
            "Empty"
        } else if self.assignment_epoch < self.group_epoch {
            "Assigning"
        } else if self
            .members
            .values()
            .any(|m| m.member_epoch != self.assignment_epoch || m.state != MemberState::Stable)
        {
            "Reconciling"
        } else {
            "Stable"
        }
    }

    pub fn subscribed_topic_names(&self) -> HashSet<String> {
        self.members
            .values()
            .flat_map(|m| m.subscribed_topic_names.iter().cloned())
            .collect()
    }

    /// The assignor the members ask for most (Kafka picks the most common
    /// `server_assignor`), else the default.
    pub fn preferred_assignor(&self, default: &str) -> String {
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for m in self.members.values() {
            if let Some(a) = &m.server_assignor {
                *counts.entry(a.as_str()).or_default() += 1;
            }
        }
        counts
            .into_iter()
            .max_by_key(|(_, c)| *c)
            .map(|(a, _)| a.to_owned())
            .unwrap_or_else(|| default.to_owned())
    }

    /// Partitions `except` does not hold but another member still owns
    /// (assigned or not yet revoked): not free to hand out.
    pub fn owned_by_others(&self, except: &str) -> Assignment {
        let mut owned = Assignment::new();
        for m in self.members.values().filter(|m| m.member_id != except) {
            for source in [&m.assigned, &m.pending_revocation] {
                for (topic, ps) in source {
                    owned.entry(*topic).or_default().extend(ps.iter().copied());
                }
            }
        }
        owned
    }
}

pub(crate) fn to_topic_partitions(a: &Assignment) -> Vec<TopicPartitions> {
    a.iter()
        .filter(|(_, ps)| !ps.is_empty())
        .map(|(id, ps)| TopicPartitions {
            topic_id: *id,
            partitions: ps.iter().copied().collect(),
        })
        .collect()
}

pub(crate) fn from_topic_partitions(tps: &[TopicPartitions]) -> Assignment {
    let mut a = Assignment::new();
    for tp in tps {
        a.entry(tp.topic_id)
            .or_default()
            .extend(tp.partitions.iter().copied());
    }
    a
}

pub(crate) fn to_pairs(a: &Assignment) -> Vec<(Uuid, Vec<i32>)> {
    a.iter()
        .filter(|(_, ps)| !ps.is_empty())
        .map(|(id, ps)| (*id, ps.iter().copied().collect()))
        .collect()
}

pub(crate) fn from_pairs(pairs: &[(Uuid, Vec<i32>)]) -> Assignment {
    let mut a = Assignment::new();
    for (id, ps) in pairs {
        a.entry(*id).or_default().extend(ps.iter().copied());
    }
    a.retain(|_, ps| !ps.is_empty());
    a
}

/// `a` minus `b`.
pub(crate) fn minus(a: &Assignment, b: &Assignment) -> Assignment {
    let mut out = Assignment::new();
    for (topic, ps) in a {
        let other = b.get(topic);
        let rest: BTreeSet<i32> = ps
            .iter()
            .copied()
            .filter(|p| !other.is_some_and(|o| o.contains(p)))
            .collect();
        if !rest.is_empty() {
            out.insert(*topic, rest);
        }
    }
    out
}

/// `a` ∩ `b`.
pub(crate) fn intersect(a: &Assignment, b: &Assignment) -> Assignment {
    let mut out = Assignment::new();
    for (topic, ps) in a {
        if let Some(other) = b.get(topic) {
            let both: BTreeSet<i32> = ps.intersection(other).copied().collect();
            if !both.is_empty() {
                out.insert(*topic, both);
            }
        }
    }
    out
}

pub(crate) fn union(a: &Assignment, b: &Assignment) -> Assignment {
    let mut out = a.clone();
    for (topic, ps) in b {
        out.entry(*topic).or_default().extend(ps.iter().copied());
    }
    out.retain(|_, ps| !ps.is_empty());
    out
}

pub(crate) fn is_empty(a: &Assignment) -> bool {
    a.values().all(|ps| ps.is_empty())
}
