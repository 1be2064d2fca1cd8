//! Property test of KIP-848 consumer groups: random heartbeats, leaves and clock advances
//! from up to four consumers of one topic, which behave like real ones (they join at epoch
//! 0, heartbeat at the epoch they were given, adopt each assignment they receive and
//! report what they own), checked after every step against the protocol's invariants:
//! - no partition is in two members' current assignments, and no two live consumers own
//!   the same partition (a partition moves only once its previous owner released it);
//! - assignments name only partitions of the subscribed topic, and only to members;
//! - member epochs never exceed the group epoch, and a consumer's epoch never goes back
//!   while it stays a member;
//! - once nothing changes, every partition is owned (checked in a separate test).

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use strom_coordinator::api::*;
use strom_coordinator::{GroupConfig, GroupShard, TopicMetadata};
use uuid::Uuid;

const GROUP: &str = "g";
const TOPIC: Uuid = Uuid::from_u128(7);
const PARTITIONS: i32 = 6;
const CONSUMERS: usize = 4;
/// Kafka's error codes the consumers react to.
const UNKNOWN_MEMBER_ID: ErrorCode = 25;
const FENCED_MEMBER_EPOCH: ErrorCode = 110;

struct Topics;

impl TopicMetadata for Topics {
    fn topic(&self, name: &str) -> Option<(Uuid, i32)> {
        (name == "t").then_some((TOPIC, PARTITIONS))
    }
}

#[derive(Debug, Clone)]
enum Op {
    Heartbeat(usize),
    Leave(usize),
    Advance(u16),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (0..CONSUMERS).prop_map(Op::Heartbeat),
        1 => (0..CONSUMERS).prop_map(Op::Leave),
        2 => (0u16..30_000).prop_map(Op::Advance),
    ]
}

#[derive(Debug, Clone, Default)]
struct Consumer {
    /// 0 when not a member (it joins on its next heartbeat).
    epoch: i32,
    owned: BTreeSet<i32>,
}

struct World {
    shard: GroupShard,
    now: i64,
    next_reply: u64,
    consumers: Vec<Consumer>,
}

fn member_id(c: usize) -> String {
    format!("member-{c}")
}

impl World {
    fn new() -> World {
        let mut shard = GroupShard::new(GroupConfig::default());
        shard.load_complete(0);
        World {
            shard,
            now: 0,
            next_reply: 0,
            consumers: vec![Consumer::default(); CONSUMERS],
        }
    }

    fn send(&mut self, c: usize, epoch: i32) -> Option<ConsumerHeartbeatResponse> {
        self.next_reply += 1;
        let id = ReplyId(self.next_reply);
        let joining = epoch == 0;
        let req = ConsumerHeartbeatRequest {
            group_id: GROUP.into(),
            member_id: member_id(c),
            member_epoch: epoch,
            instance_id: None,
            rack_id: None,
            rebalance_timeout_ms: if joining { 30_000 } else { -1 },
            subscribed_topic_names: joining.then(|| vec!["t".to_string()]),
            subscribed_topic_regex: None,
            server_assignor: None,
            topic_partitions: (epoch >= 0).then(|| {
                let owned = &self.consumers[c].owned;
                if owned.is_empty() {
                    vec![]
                } else {
                    vec![(TOPIC, owned.iter().copied().collect())]
                }
            }),
            client_id: format!("client-{c}"),
            client_host: "/127.0.0.1".into(),
        };
        self.shard
            .consumer_group_heartbeat(id, req, &Topics, self.now);
        self.run_timers();
        let out = self.shard.take_output();
        out.replies.into_iter().find_map(|(r, reply)| match reply {
            Reply::ConsumerGroupHeartbeat(response) if r == id => Some(response),
            _ => None,
        })
    }

    fn run_timers(&mut self) {
        self.shard.tick(self.now);
        for _ in 0..100 {
            match self.shard.next_deadline() {
                Some(deadline) if deadline <= self.now => self.shard.tick(self.now),
                _ => break,
            }
        }
    }

    fn step(&mut self, op: &Op) -> Result<(), TestCaseError> {
        match *op {
            Op::Heartbeat(c) => {
                let epoch = self.consumers[c].epoch;
                let Some(r) = self.send(c, epoch) else {
                    return Err(TestCaseError::fail("a heartbeat without an answer"));
                };
                if r.error_code == UNKNOWN_MEMBER_ID || r.error_code == FENCED_MEMBER_EPOCH {
                    // As a real consumer: drop everything, rejoin at epoch 0.
                    self.consumers[c] = Consumer::default();
                } else if r.error_code == NONE {
                    if let Some(id) = &r.member_id {
                        prop_assert_eq!(id, &member_id(c), "the coordinator renamed a member");
                    }
                    if epoch > 0 {
                        prop_assert!(
                            r.member_epoch >= epoch,
                            "epoch of {} went back from {} to {}",
                            c,
                            epoch,
                            r.member_epoch
                        );
                    }
                    self.consumers[c].epoch = r.member_epoch;
                    if let Some(assignment) = r.assignment {
                        let mut owned = BTreeSet::new();
                        for (topic, partitions) in assignment {
                            prop_assert_eq!(topic, TOPIC, "a partition of another topic");
                            for p in partitions {
                                prop_assert!((0..PARTITIONS).contains(&p), "partition {}", p);
                                owned.insert(p);
                            }
                        }
                        self.consumers[c].owned = owned;
                    }
                }
            }
            Op::Leave(c) => {
                if self.consumers[c].epoch > 0 {
                    let _ = self.send(c, -1);
                }
                self.consumers[c] = Consumer::default();
            }
            Op::Advance(ms) => {
                self.now += i64::from(ms);
                self.run_timers();
                let _ = self.shard.take_output();
            }
        }
        self.check()
    }

    fn check(&mut self) -> Result<(), TestCaseError> {
        self.shard
            .consumer_group_describe(ReplyId(u64::MAX), vec![GROUP.into()]);
        let out = self.shard.take_output();
        let [(_, Reply::ConsumerGroupDescribe(groups))] = out.replies.as_slice() else {
            return Err(TestCaseError::fail(
                "ConsumerGroupDescribe did not answer once",
            ));
        };
        let group = &groups[0];
        if group.error_code != NONE {
            return Ok(()); // no group (yet, or any more)
        }
        let mut current: BTreeMap<i32, &str> = BTreeMap::new();
        let members: BTreeSet<&str> = group.members.iter().map(|m| m.member_id.as_str()).collect();
        prop_assert_eq!(members.len(), group.members.len(), "a member listed twice");
        for m in &group.members {
            prop_assert!(
                m.member_epoch <= group.group_epoch,
                "member epoch {} above group epoch {}",
                m.member_epoch,
                group.group_epoch
            );
            for (topic, partitions) in m.assignment.iter().chain(&m.target_assignment) {
                prop_assert_eq!(*topic, TOPIC);
                for p in partitions {
                    prop_assert!((0..PARTITIONS).contains(p));
                }
            }
            for (_, partitions) in &m.assignment {
                for p in partitions {
                    if let Some(other) = current.insert(*p, &m.member_id) {
                        return Err(TestCaseError::fail(format!(
                            "partition {p} is in the current assignments of {other} and {}",
                            m.member_id
                        )));
                    }
                }
            }
        }
        prop_assert!(group.assignment_epoch <= group.group_epoch);
        // What live consumers believe they own is disjoint too.
        let mut owners: BTreeMap<i32, usize> = BTreeMap::new();
        for (c, consumer) in self.consumers.iter().enumerate() {
            if consumer.epoch == 0 || !members.contains(member_id(c).as_str()) {
                continue;
            }
            for p in &consumer.owned {
                if let Some(other) = owners.insert(*p, c) {
                    return Err(TestCaseError::fail(format!(
                        "consumers {other} and {c} both own partition {p}"
                    )));
                }
            }
        }
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn consumer_groups_never_assign_a_partition_twice(ops in proptest::collection::vec(op(), 1..100)) {
        let mut world = World::new();
        for op in &ops {
            world.step(op)?;
        }
    }
}

/// The invariants are live: three consumers that keep heartbeating end up owning every
/// partition between them, two each.
#[test]
fn heartbeating_consumers_converge_on_a_full_assignment() {
    let mut world = World::new();
    for _ in 0..10 {
        for c in 0..3 {
            world.step(&Op::Heartbeat(c)).unwrap();
        }
    }
    let owned: Vec<&BTreeSet<i32>> = world.consumers[..3].iter().map(|c| &c.owned).collect();
    assert!(owned.iter().all(|o| o.len() == 2), "{owned:?}");
    let all: BTreeSet<i32> = owned.iter().flat_map(|o| o.iter().copied()).collect();
    assert_eq!(all, (0..PARTITIONS).collect());
}
