//! Property test of the classic group protocol: random sequences of JoinGroup, SyncGroup,
//! Heartbeat, LeaveGroup and clock advances from up to four clients of one group, which
//! behave like real clients (they rejoin with the member id they were given, sync with
//! the generation they joined, and the leader assigns to the members it was told of).
//! After every step, Kafka's invariants hold on what the coordinator answered and wrote:
//! - one leader per generation, and the leader is one of that generation's members;
//! - generations only increase, and every GroupMetadata record carries the newest one;
//! - a SyncGroup succeeds only for a member of its generation, and hands it exactly what
//!   the leader assigned to it (assignments go to members only);
//! - a heartbeat succeeds only at the current generation, for a member of it;
//! - DescribeGroups lists each member once, and the GroupMetadata record's members are
//!   distinct and include its leader.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use proptest::prelude::*;
use strom_coordinator::api::*;
use strom_coordinator::records::{GroupMetadataValue, RecordKey};
use strom_coordinator::{GroupConfig, GroupShard};

const GROUP: &str = "g";
const SESSION_MS: i32 = 10_000;
const REBALANCE_MS: i32 = 20_000;

#[derive(Debug, Clone)]
enum Op {
    Join(usize),
    Sync(usize),
    Heartbeat(usize),
    Leave(usize),
    Advance(u16),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0usize..4).prop_map(Op::Join),
        3 => (0usize..4).prop_map(Op::Sync),
        3 => (0usize..4).prop_map(Op::Heartbeat),
        1 => (0usize..4).prop_map(Op::Leave),
        2 => (0u16..15_000).prop_map(Op::Advance),
    ]
}

#[derive(Debug, Default, Clone)]
struct Client {
    member_id: String,
    /// Generation of its last successful JoinGroup.
    generation: i32,
    /// Members of that generation, if it was the leader.
    leader_of: Option<Vec<String>>,
}

#[derive(Default)]
struct Observed {
    /// generation → (leader, members) from successful JoinGroup answers.
    generations: BTreeMap<i32, (String, BTreeSet<String>)>,
    newest_generation: i32,
    /// generation → what its leader assigned, by member.
    assigned: BTreeMap<i32, BTreeMap<String, Bytes>>,
}

struct World {
    shard: GroupShard,
    now: i64,
    next_reply: u64,
    clients: Vec<Client>,
    /// Which client sent each pending request.
    pending: BTreeMap<u64, (usize, &'static str, i32)>,
    seen: Observed,
}

impl World {
    fn new() -> World {
        let mut shard = GroupShard::new(GroupConfig {
            initial_rebalance_delay_ms: 1_000,
            ..GroupConfig::default()
        });
        shard.load_complete(0);
        World {
            shard,
            now: 0,
            next_reply: 0,
            clients: vec![Client::default(); 4],
            pending: BTreeMap::new(),
            seen: Observed::default(),
        }
    }

    fn reply_id(&mut self, client: usize, kind: &'static str, generation: i32) -> ReplyId {
        self.next_reply += 1;
        self.pending
            .insert(self.next_reply, (client, kind, generation));
        ReplyId(self.next_reply)
    }

    fn step(&mut self, op: &Op) -> Result<(), TestCaseError> {
        match *op {
            Op::Join(c) => {
                let id = self.reply_id(c, "join", 0);
                let req = JoinGroupRequest {
                    group_id: GROUP.into(),
                    member_id: self.clients[c].member_id.clone(),
                    group_instance_id: None,
                    client_id: format!("client-{c}"),
                    client_host: "/127.0.0.1".into(),
                    session_timeout_ms: SESSION_MS,
                    rebalance_timeout_ms: REBALANCE_MS,
                    protocol_type: "consumer".into(),
                    protocols: vec![("range".into(), Bytes::from_static(b"meta"))],
                    require_known_member_id: true,
                    supports_skip_assignment: false,
                };
                self.shard.join_group(id, req, self.now);
            }
            Op::Sync(c) => {
                let client = self.clients[c].clone();
                let assignments: Vec<(String, Bytes)> = client
                    .leader_of
                    .iter()
                    .flatten()
                    .map(|m| (m.clone(), Bytes::from(format!("for-{m}"))))
                    .collect();
                let id = self.reply_id(c, "sync", client.generation);
                self.shard.sync_group(
                    id,
                    SyncGroupRequest {
                        group_id: GROUP.into(),
                        generation_id: client.generation,
                        member_id: client.member_id.clone(),
                        group_instance_id: None,
                        protocol_type: Some("consumer".into()),
                        protocol_name: Some("range".into()),
                        assignments: assignments.clone(),
                    },
                    self.now,
                );
                if !assignments.is_empty() {
                    self.seen
                        .assigned
                        .entry(client.generation)
                        .or_insert_with(|| assignments.into_iter().collect());
                }
            }
            Op::Heartbeat(c) => {
                let client = self.clients[c].clone();
                let id = self.reply_id(c, "heartbeat", client.generation);
                self.shard.heartbeat(
                    id,
                    HeartbeatRequest {
                        group_id: GROUP.into(),
                        generation_id: client.generation,
                        member_id: client.member_id,
                        group_instance_id: None,
                    },
                    self.now,
                );
            }
            Op::Leave(c) => {
                let member = std::mem::take(&mut self.clients[c].member_id);
                self.clients[c].leader_of = None;
                if member.is_empty() {
                    return Ok(());
                }
                let id = self.reply_id(c, "leave", 0);
                self.shard.leave_group(
                    id,
                    LeaveGroupRequest {
                        group_id: GROUP.into(),
                        members: vec![(member, None)],
                    },
                    self.now,
                );
            }
            Op::Advance(ms) => self.now += i64::from(ms),
        }
        // As the driver does: due timers run after every request, until none is due.
        self.shard.tick(self.now);
        for _ in 0..100 {
            match self.shard.next_deadline() {
                Some(deadline) if deadline <= self.now => self.shard.tick(self.now),
                _ => break,
            }
        }
        let out = self.shard.take_output();
        for (key, value) in &out.records {
            self.check_record(key, value.as_deref())?;
        }
        for (id, reply) in out.replies {
            self.check_reply(id, reply)?;
        }
        self.check_description()
    }

    fn check_reply(&mut self, id: ReplyId, reply: Reply) -> Result<(), TestCaseError> {
        let Some((c, kind, sent_generation)) = self.pending.remove(&id.0) else {
            return Err(TestCaseError::fail(format!(
                "a reply nobody asked for: {id:?}"
            )));
        };
        match reply {
            Reply::JoinGroup(r) => {
                prop_assert_eq!(kind, "join");
                if r.error_code == ResponseErrorCode::MEMBER_ID_REQUIRED {
                    self.clients[c].member_id = r.member_id;
                    return Ok(());
                }
                if r.error_code != NONE {
                    if r.error_code == ResponseErrorCode::UNKNOWN_MEMBER_ID {
                        self.clients[c] = Client::default();
                    }
                    return Ok(());
                }
                prop_assert!(
                    r.generation_id >= self.seen.newest_generation,
                    "generation went back: {} after {}",
                    r.generation_id,
                    self.seen.newest_generation
                );
                self.seen.newest_generation = r.generation_id;
                let (leader, members) = self
                    .seen
                    .generations
                    .entry(r.generation_id)
                    .or_insert_with(|| (r.leader.clone(), BTreeSet::new()));
                prop_assert_eq!(
                    &*leader,
                    &r.leader,
                    "two leaders in generation {}",
                    r.generation_id
                );
                members.insert(r.member_id.clone());
                let is_leader = r.member_id == r.leader;
                if is_leader {
                    let listed: Vec<String> =
                        r.members.iter().map(|m| m.member_id.clone()).collect();
                    let distinct: BTreeSet<&String> = listed.iter().collect();
                    prop_assert_eq!(distinct.len(), listed.len(), "a member listed twice");
                    prop_assert!(listed.contains(&r.leader), "the leader is not a member");
                    members.extend(listed.iter().cloned());
                    self.clients[c].leader_of = Some(listed);
                } else {
                    prop_assert!(r.members.is_empty(), "members sent to a follower");
                    self.clients[c].leader_of = None;
                }
                self.clients[c].member_id = r.member_id;
                self.clients[c].generation = r.generation_id;
            }
            Reply::SyncGroup(r) => {
                prop_assert_eq!(kind, "sync");
                if r.error_code == NONE {
                    let member = &self.clients[c].member_id;
                    let members = &self.seen.generations.get(&sent_generation).map(|g| &g.1);
                    prop_assert!(
                        members.is_some_and(|m| m.contains(member)),
                        "sync succeeded for {} outside generation {}",
                        member,
                        sent_generation
                    );
                    let expected = self
                        .seen
                        .assigned
                        .get(&sent_generation)
                        .and_then(|a| a.get(member))
                        .cloned()
                        .unwrap_or_default();
                    prop_assert_eq!(r.assignment, expected, "assignment of {}", member);
                } else if r.error_code == ResponseErrorCode::UNKNOWN_MEMBER_ID {
                    self.clients[c] = Client::default();
                }
            }
            Reply::Heartbeat(code) => {
                prop_assert_eq!(kind, "heartbeat");
                if code == NONE {
                    prop_assert_eq!(
                        sent_generation,
                        self.seen.newest_generation,
                        "heartbeat accepted at an old generation"
                    );
                    let member = &self.clients[c].member_id;
                    prop_assert!(self.seen.generations[&sent_generation].1.contains(member));
                } else if code == ResponseErrorCode::UNKNOWN_MEMBER_ID {
                    self.clients[c] = Client::default();
                }
            }
            Reply::LeaveGroup(_) => prop_assert_eq!(kind, "leave"),
            other => return Err(TestCaseError::fail(format!("unexpected reply {other:?}"))),
        }
        Ok(())
    }

    fn check_record(&mut self, key: &[u8], value: Option<&[u8]>) -> Result<(), TestCaseError> {
        let Ok(Some(RecordKey::GroupMetadata { group })) = RecordKey::decode(key) else {
            return Ok(());
        };
        prop_assert_eq!(group, GROUP);
        let Some(value) = value else {
            return Ok(());
        };
        let value = GroupMetadataValue::decode(value).unwrap();
        prop_assert!(
            value.generation >= self.seen.newest_generation,
            "GroupMetadata of generation {} after {}",
            value.generation,
            self.seen.newest_generation
        );
        let members: BTreeSet<&str> = value.members.iter().map(|m| m.member_id.as_str()).collect();
        prop_assert_eq!(
            members.len(),
            value.members.len(),
            "a member twice in GroupMetadata"
        );
        if let Some(leader) = &value.leader {
            prop_assert!(
                members.contains(leader.as_str()),
                "leader {} is not a member",
                leader
            );
        }
        Ok(())
    }

    fn check_description(&mut self) -> Result<(), TestCaseError> {
        let id = ReplyId(u64::MAX);
        self.shard.describe_groups(id, vec![GROUP.into()], 5);
        let out = self.shard.take_output();
        let [(_, Reply::DescribeGroups(groups))] = out.replies.as_slice() else {
            return Err(TestCaseError::fail("DescribeGroups did not answer once"));
        };
        let ids: Vec<&str> = groups[0]
            .members
            .iter()
            .map(|m| m.member_id.as_str())
            .collect();
        let distinct: BTreeSet<&str> = ids.iter().copied().collect();
        prop_assert_eq!(
            distinct.len(),
            ids.len(),
            "a member listed twice: {:?}",
            ids
        );
        prop_assert!(
            [
                "Empty",
                "PreparingRebalance",
                "CompletingRebalance",
                "Stable",
                "Dead"
            ]
            .contains(&groups[0].group_state.as_str()),
            "state {}",
            groups[0].group_state
        );
        Ok(())
    }
}

/// Kafka error codes used here.
struct ResponseErrorCode;

impl ResponseErrorCode {
    const UNKNOWN_MEMBER_ID: ErrorCode = 25;
    const MEMBER_ID_REQUIRED: ErrorCode = 79;
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn classic_groups_keep_kafkas_invariants(ops in proptest::collection::vec(op(), 1..80)) {
        let mut world = World::new();
        for op in &ops {
            world.step(op)?;
        }
    }
}

/// The invariants are live: a run that forms a group reaches a generation with a leader
/// and hands out the leader's assignment.
#[test]
fn a_two_member_group_forms_and_syncs() {
    let mut world = World::new();
    for op in [
        Op::Join(0),
        Op::Join(1),
        Op::Join(0),
        Op::Join(1),
        Op::Advance(1_000),
        Op::Advance(1_000),
        Op::Advance(1_000),
        Op::Sync(0),
        Op::Sync(1),
        Op::Heartbeat(0),
        Op::Heartbeat(1),
    ] {
        world.step(&op).unwrap();
    }
    assert_eq!(world.seen.newest_generation, 1);
    let (leader, members) = &world.seen.generations[&1];
    assert_eq!(members.len(), 2);
    assert!(members.contains(leader));
    assert_eq!(world.seen.assigned[&1].len(), 2);
    assert!(world.pending.is_empty(), "every request was answered");
}
