//! KIP-848 consumer group tests: heartbeats and clock in, epochs and
//! assignments out.

use std::collections::{BTreeMap, BTreeSet};

use kafka_protocol::error::ResponseError;
use uuid::Uuid;

use crate::api::*;
use crate::{GroupConfig, GroupShard, TopicMetadata};

struct Topics(BTreeMap<String, (Uuid, i32)>);

impl TopicMetadata for Topics {
    fn topic(&self, name: &str) -> Option<(Uuid, i32)> {
        self.0.get(name).copied()
    }
}

const T: Uuid = Uuid::from_u128(7);

struct H {
    shard: GroupShard,
    topics: Topics,
    now: i64,
    next: u64,
    log: Vec<(bytes::Bytes, Option<bytes::Bytes>)>,
}

impl H {
    fn new(partitions: i32) -> H {
        let mut shard = GroupShard::new(GroupConfig::default());
        shard.load_complete(0);
        let topics = Topics(BTreeMap::from([("t".to_string(), (T, partitions))]));
        H {
            shard,
            topics,
            now: 0,
            next: 0,
            log: Vec::new(),
        }
    }

    fn beat(
        &mut self,
        member_id: &str,
        epoch: i32,
        owned: Option<Vec<i32>>,
    ) -> ConsumerHeartbeatResponse {
        self.next += 1;
        let req = ConsumerHeartbeatRequest {
            group_id: "g".into(),
            member_id: member_id.into(),
            member_epoch: epoch,
            instance_id: None,
            rack_id: None,
            rebalance_timeout_ms: if epoch == 0 { 30_000 } else { -1 },
            subscribed_topic_names: (epoch == 0).then(|| vec!["t".to_string()]),
            subscribed_topic_regex: None,
            server_assignor: None,
            topic_partitions: owned.map(|ps| if ps.is_empty() { vec![] } else { vec![(T, ps)] }),
            client_id: "c".into(),
            client_host: "/127.0.0.1".into(),
        };
        let id = ReplyId(self.next);
        self.shard
            .consumer_group_heartbeat(id, req, &self.topics, self.now);
        self.shard.tick(self.now);
        let out = self.shard.take_output();
        self.log.extend(out.records.iter().cloned());
        match out
            .replies
            .into_iter()
            .find(|(r, _)| *r == id)
            .map(|(_, r)| r)
        {
            Some(Reply::ConsumerGroupHeartbeat(r)) => r,
            other => panic!("expected a heartbeat reply, got {other:?}"),
        }
    }

    /// Joins and heartbeats until the member's epoch is stable; returns (id, epoch, partitions).
    fn join(&mut self, member_id: &str) -> ConsumerHeartbeatResponse {
        let r = self.beat(member_id, 0, Some(vec![]));
        assert_eq!(r.error_code, NONE, "{r:?}");
        r
    }
}

fn parts(r: &ConsumerHeartbeatResponse) -> BTreeSet<i32> {
    r.assignment
        .as_ref()
        .map(|a| a.iter().flat_map(|(_, ps)| ps.iter().copied()).collect())
        .unwrap_or_default()
}

#[test]
fn a_single_member_gets_every_partition_at_epoch_one() {
    let mut h = H::new(4);
    let r = h.join("a");
    assert_eq!(r.member_epoch, 1);
    assert_eq!(parts(&r), BTreeSet::from([0, 1, 2, 3]));
    assert_eq!(r.heartbeat_interval_ms, 5000);
    let again = h.beat("a", 1, None);
    assert_eq!(again.member_epoch, 1);
    assert!(again.assignment.is_none(), "nothing changed, nothing sent");
}

#[test]
fn a_second_member_gets_partitions_only_after_the_first_revokes_them() {
    let mut h = H::new(4);
    let a = h.join("a");
    let b = h.join("b");
    assert_eq!(b.member_epoch, 2);
    assert!(parts(&b).is_empty(), "b waits: a still owns everything");
    // a learns it must give up two partitions, at its old epoch.
    let a2 = h.beat("a", a.member_epoch, Some(vec![0, 1, 2, 3]));
    assert_eq!(a2.member_epoch, 1);
    let kept = parts(&a2);
    assert_eq!(kept.len(), 2);
    // a acknowledges by owning only what it kept; it moves to epoch 2.
    let a3 = h.beat("a", 1, Some(kept.iter().copied().collect()));
    assert_eq!(a3.member_epoch, 2);
    // Now b can take the released partitions.
    let b2 = h.beat("b", 2, Some(vec![]));
    let bp = parts(&b2);
    assert_eq!(bp.len(), 2);
    assert!(bp.is_disjoint(&kept));
    assert_eq!(
        bp.union(&kept).copied().collect::<BTreeSet<_>>(),
        BTreeSet::from([0, 1, 2, 3])
    );
}

#[test]
fn a_leaving_member_hands_its_partitions_to_the_rest() {
    let mut h = H::new(2);
    let a = h.join("a");
    h.join("b");
    let a2 = h.beat("a", a.member_epoch, Some(vec![0, 1]));
    let kept: Vec<i32> = parts(&a2).into_iter().collect();
    h.beat("a", 1, Some(kept.clone()));
    let left = h.beat("b", -1, None);
    assert_eq!(left.member_epoch, -1);
    let a3 = h.beat("a", 2, Some(kept));
    assert_eq!(parts(&a3), BTreeSet::from([0, 1]));
    assert_eq!(a3.member_epoch, 3);
}

#[test]
fn a_silent_member_is_removed_after_the_session_timeout() {
    let mut h = H::new(2);
    h.join("a");
    h.join("b");
    h.now += 45_001;
    h.shard.tick(h.now);
    let r = h.beat("b", 2, None);
    assert_eq!(r.error_code, ResponseError::UnknownMemberId.code());
}

#[test]
fn stale_or_future_epochs_are_fenced() {
    let mut h = H::new(2);
    let a = h.join("a");
    assert_eq!(
        h.beat("a", a.member_epoch + 1, None).error_code,
        ResponseError::FencedMemberEpoch.code()
    );
    assert_eq!(
        h.beat("nobody", 3, None).error_code,
        ResponseError::UnknownMemberId.code()
    );
}

#[test]
fn commits_need_the_members_current_epoch() {
    let mut h = H::new(1);
    let a = h.join("a");
    let commit = |h: &mut H, epoch: i32| {
        h.next += 1;
        let id = ReplyId(h.next);
        h.shard.offset_commit(
            id,
            OffsetCommitRequest {
                group_id: "g".into(),
                generation_id_or_member_epoch: epoch,
                member_id: "a".into(),
                group_instance_id: None,
                topics: vec![OffsetCommitTopic {
                    name: "t".into(),
                    partitions: vec![OffsetCommitPartition {
                        partition_index: 0,
                        committed_offset: 5,
                        committed_leader_epoch: -1,
                        committed_metadata: None,
                        precheck_error: NONE,
                    }],
                }],
                version: 9,
            },
            0,
        );
        match h.shard.take_output().replies.pop() {
            Some((_, Reply::OffsetCommit(r))) => r[0].1[0].1,
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(commit(&mut h, a.member_epoch), NONE);
    assert_eq!(
        commit(&mut h, a.member_epoch - 1),
        ResponseError::StaleMemberEpoch.code()
    );
}

#[test]
fn a_reloaded_shard_keeps_members_epochs_and_assignments() {
    let mut h = H::new(3);
    let a = h.join("a");
    let mut reloaded = GroupShard::new(GroupConfig::default());
    for (k, v) in &h.log {
        reloaded.replay(k, v.as_deref(), 0).expect("replay");
    }
    reloaded.load_complete(0);
    h.shard = reloaded;
    let r = h.beat("a", a.member_epoch, Some(vec![0, 1, 2]));
    assert_eq!(r.error_code, NONE);
    assert_eq!(r.member_epoch, a.member_epoch);
}

#[test]
fn an_unknown_assignor_is_unsupported_assignor() {
    let mut h = H::new(1);
    h.next += 1;
    let req = ConsumerHeartbeatRequest {
        group_id: "g".into(),
        member_id: "a".into(),
        member_epoch: 0,
        instance_id: None,
        rack_id: None,
        rebalance_timeout_ms: 1000,
        subscribed_topic_names: Some(vec!["t".into()]),
        subscribed_topic_regex: None,
        server_assignor: Some("sticky-ish".into()),
        topic_partitions: Some(vec![]),
        client_id: "c".into(),
        client_host: "h".into(),
    };
    h.shard
        .consumer_group_heartbeat(ReplyId(1), req, &h.topics, 0);
    match h.shard.take_output().replies.pop() {
        Some((_, Reply::ConsumerGroupHeartbeat(r))) => {
            assert_eq!(r.error_code, ResponseError::UnsupportedAssignor.code())
        }
        other => panic!("{other:?}"),
    }
}
