//! Transactional offsets: TxnOffsetCommit, markers, OffsetFetch with
//! `require_stable`, deletion, expiry and replay at load, plus a model check
//! over random interleavings.

use std::collections::HashMap;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use proptest::prelude::*;

use crate::api::*;
use crate::{GroupConfig, GroupShard, Output};

/// What the driver writes, in log order: offset records in a plain batch
/// (`None`) or in a producer's transactional batch, and markers.
#[derive(Debug, Clone)]
enum Entry {
    Record(Option<i64>, Bytes, Option<Bytes>),
    Marker(i64, bool),
}

struct Txn {
    shard: GroupShard,
    now: i64,
    next_reply: u64,
    log: Vec<Entry>,
}

fn code(e: ResponseError) -> ErrorCode {
    e.code()
}

impl Txn {
    fn new() -> Self {
        Self::with_config(GroupConfig {
            initial_rebalance_delay_ms: 0,
            ..GroupConfig::default()
        })
    }

    fn with_config(config: GroupConfig) -> Self {
        let mut shard = GroupShard::new(config);
        shard.load_complete(0);
        Txn {
            shard,
            now: 0,
            next_reply: 0,
            log: Vec::new(),
        }
    }

    fn id(&mut self) -> ReplyId {
        self.next_reply += 1;
        ReplyId(self.next_reply)
    }

    fn drain(&mut self, producer: Option<i64>) -> Output {
        if producer.is_none() {
            self.shard.tick(self.now);
        }
        let out = self.shard.take_output();
        for (k, v) in &out.records {
            self.log.push(Entry::Record(producer, k.clone(), v.clone()));
        }
        out
    }

    fn topics(topic: &str, partition: i32, offset: i64) -> Vec<OffsetCommitTopic> {
        vec![OffsetCommitTopic {
            name: topic.into(),
            partitions: vec![OffsetCommitPartition {
                partition_index: partition,
                committed_offset: offset,
                committed_leader_epoch: 5,
                committed_metadata: Some("txn".into()),
                precheck_error: NONE,
            }],
        }]
    }

    fn txn_commit_as(
        &mut self,
        producer_id: i64,
        group: &str,
        (generation, member, instance): (i32, &str, Option<&str>),
        (topic, partition): (&str, i32),
        offset: i64,
    ) -> ErrorCode {
        let id = self.id();
        let now = self.now;
        self.shard.txn_offset_commit(
            id,
            TxnOffsetCommitRequest {
                transactional_id: format!("tx-{producer_id}"),
                group_id: group.into(),
                producer_id,
                producer_epoch: 0,
                generation_id: generation,
                member_id: member.into(),
                group_instance_id: instance.map(Into::into),
                topics: Self::topics(topic, partition, offset),
            },
            now,
        );
        match reply(&self.drain(Some(producer_id)), id) {
            Reply::TxnOffsetCommit(t) => t[0].1[0].1,
            other => panic!("expected a TxnOffsetCommit reply, got {other:?}"),
        }
    }

    fn txn_commit(
        &mut self,
        producer_id: i64,
        group: &str,
        topic: &str,
        p: i32,
        offset: i64,
    ) -> ErrorCode {
        self.txn_commit_as(producer_id, group, (-1, "", None), (topic, p), offset)
    }

    fn commit(&mut self, group: &str, topic: &str, partition: i32, offset: i64) -> ErrorCode {
        let id = self.id();
        let now = self.now;
        self.shard.offset_commit(
            id,
            OffsetCommitRequest {
                group_id: group.into(),
                generation_id_or_member_epoch: -1,
                member_id: String::new(),
                group_instance_id: None,
                topics: Self::topics(topic, partition, offset),
                version: 8,
            },
            now,
        );
        match reply(&self.drain(None), id) {
            Reply::OffsetCommit(t) => t[0].1[0].1,
            other => panic!("expected an OffsetCommit reply, got {other:?}"),
        }
    }

    /// The marker is written, then applied, as the driver does.
    fn marker(&mut self, producer_id: i64, commit: bool) {
        self.log.push(Entry::Marker(producer_id, commit));
        let now = self.now;
        self.shard.complete_transaction(producer_id, commit, now);
        assert!(
            self.shard.take_output().is_empty(),
            "a marker writes nothing more"
        );
    }

    /// (error, offset) of one partition.
    fn fetch(
        &mut self,
        group: &str,
        topic: &str,
        partition: i32,
        require_stable: bool,
    ) -> (ErrorCode, i64) {
        let id = self.id();
        self.shard.offset_fetch(
            id,
            OffsetFetchRequest {
                group_id: group.into(),
                topics: Some(vec![(topic.into(), vec![partition])]),
                member_id: None,
                member_epoch: -1,
                require_stable,
            },
        );
        match reply(&self.drain(None), id) {
            Reply::OffsetFetch(r) => {
                assert_eq!(r.error_code, NONE);
                let p = &r.topics[0].1[0];
                (p.error_code, p.committed_offset)
            }
            other => panic!("expected an OffsetFetch reply, got {other:?}"),
        }
    }

    fn fetch_all(
        &mut self,
        group: &str,
        require_stable: bool,
    ) -> Vec<(String, i32, ErrorCode, i64)> {
        let id = self.id();
        self.shard.offset_fetch(
            id,
            OffsetFetchRequest {
                group_id: group.into(),
                topics: None,
                member_id: None,
                member_epoch: -1,
                require_stable,
            },
        );
        match reply(&self.drain(None), id) {
            Reply::OffsetFetch(r) => r
                .topics
                .into_iter()
                .flat_map(|(t, ps)| {
                    ps.into_iter().map(move |p| {
                        (
                            t.clone(),
                            p.partition_index,
                            p.error_code,
                            p.committed_offset,
                        )
                    })
                })
                .collect(),
            other => panic!("expected an OffsetFetch reply, got {other:?}"),
        }
    }

    /// A new shard fed the log, as after a restart or a failover.
    fn reload(&self) -> Txn {
        let mut shard = GroupShard::new(self.shard.config.clone());
        for e in &self.log {
            match e {
                Entry::Record(None, k, v) => shard.replay(k, v.as_deref(), self.now),
                Entry::Record(Some(pid), k, v) => {
                    shard.replay_transactional(*pid, k, v.as_deref(), self.now)
                }
                Entry::Marker(pid, commit) => {
                    shard.complete_transaction(*pid, *commit, self.now);
                    Ok(())
                }
            }
            .expect("records written by the shard replay");
        }
        shard.load_complete(self.now);
        Txn {
            shard,
            now: self.now,
            next_reply: 1000,
            log: self.log.clone(),
        }
    }
}

fn reply(out: &Output, id: ReplyId) -> Reply {
    out.replies
        .iter()
        .find(|(r, _)| *r == id)
        .map(|(_, r)| r.clone())
        .unwrap_or_else(|| panic!("no reply {id:?} in {out:?}"))
}

const UNSTABLE: fn() -> ErrorCode = || code(ResponseError::UnstableOffsetCommit);

#[test]
fn txn_offsets_stay_pending_until_the_commit_marker() {
    let mut h = Txn::new();
    assert_eq!(h.txn_commit(7, "g", "t", 0, 100), NONE);
    assert_eq!(
        h.fetch("g", "t", 0, false),
        (NONE, -1),
        "pending offsets are invisible"
    );
    assert_eq!(h.fetch("g", "t", 0, true), (UNSTABLE(), -1));
    assert_eq!(
        h.fetch("g", "t", 1, true),
        (NONE, -1),
        "another partition is stable"
    );
    assert_eq!(h.shard.open_transactions(), vec![7]);
    h.marker(7, true);
    assert_eq!(h.fetch("g", "t", 0, false), (NONE, 100));
    assert_eq!(h.fetch("g", "t", 0, true), (NONE, 100));
    assert!(h.shard.open_transactions().is_empty());
}

#[test]
fn an_abort_marker_drops_pending_offsets_and_keeps_the_committed_one() {
    let mut h = Txn::new();
    assert_eq!(h.commit("g", "t", 0, 10), NONE);
    assert_eq!(h.txn_commit(7, "g", "t", 0, 100), NONE);
    assert_eq!(h.fetch("g", "t", 0, false), (NONE, 10));
    assert_eq!(h.fetch("g", "t", 0, true), (UNSTABLE(), -1));
    h.marker(7, false);
    assert_eq!(h.fetch("g", "t", 0, true), (NONE, 10));
    // A later marker of the same producer finds nothing to do.
    h.marker(7, true);
    assert_eq!(h.fetch("g", "t", 0, true), (NONE, 10));
}

#[test]
fn a_later_plain_commit_wins_over_an_earlier_transactional_one() {
    let mut h = Txn::new();
    assert_eq!(h.txn_commit(7, "g", "t", 0, 100), NONE);
    assert_eq!(h.commit("g", "t", 0, 50), NONE);
    h.marker(7, true);
    assert_eq!(
        h.fetch("g", "t", 0, false),
        (NONE, 50),
        "the newer record holds"
    );
    // The other way round the transaction's offset is the newer one.
    assert_eq!(h.commit("g", "t", 1, 50), NONE);
    assert_eq!(h.txn_commit(8, "g", "t", 1, 100), NONE);
    h.marker(8, true);
    assert_eq!(h.fetch("g", "t", 1, false), (NONE, 100));
    let mut r = h.reload();
    assert_eq!(r.fetch("g", "t", 0, false), (NONE, 50));
    assert_eq!(r.fetch("g", "t", 1, false), (NONE, 100));
}

#[test]
fn replay_keeps_offsets_pending_until_their_producers_marker() {
    let mut h = Txn::new();
    assert_eq!(h.txn_commit(7, "g", "t", 0, 100), NONE);
    assert_eq!(h.txn_commit(8, "g", "t", 1, 200), NONE);
    h.marker(8, false);
    // Producer 7's transaction is still open at load.
    let mut r = h.reload();
    assert_eq!(r.fetch("g", "t", 0, true), (UNSTABLE(), -1));
    assert_eq!(r.fetch("g", "t", 0, false), (NONE, -1));
    assert_eq!(
        r.fetch("g", "t", 1, true),
        (NONE, -1),
        "aborted at load too"
    );
    assert_eq!(r.shard.open_transactions(), vec![7]);
    r.marker(7, true);
    assert_eq!(r.fetch("g", "t", 0, true), (NONE, 100));
    let mut again = r.reload();
    assert_eq!(again.fetch("g", "t", 0, true), (NONE, 100));
    assert!(again.shard.open_transactions().is_empty());
}

#[test]
fn fetching_every_partition_with_require_stable_flags_the_pending_ones() {
    let mut h = Txn::new();
    assert_eq!(h.commit("g", "a", 0, 1), NONE);
    assert_eq!(h.commit("g", "b", 0, 2), NONE);
    assert_eq!(h.txn_commit(7, "g", "b", 0, 3), NONE);
    assert_eq!(
        h.fetch_all("g", true),
        vec![("a".into(), 0, NONE, 1), ("b".into(), 0, UNSTABLE(), -1)]
    );
    assert_eq!(
        h.fetch_all("g", false),
        vec![("a".into(), 0, NONE, 1), ("b".into(), 0, NONE, 2)]
    );
}

#[test]
fn deleting_a_group_drops_its_pending_offsets_and_a_later_commit_marker_restores_nothing() {
    let mut h = Txn::new();
    assert_eq!(h.commit("g", "t", 0, 10), NONE);
    assert_eq!(h.txn_commit(7, "g", "t", 0, 100), NONE);
    assert_eq!(h.txn_commit(7, "g", "t", 1, 200), NONE);
    let id = h.id();
    let now = h.now;
    h.shard.delete_groups(id, vec!["g".into()], now);
    let out = h.drain(None);
    assert_eq!(
        reply(&out, id),
        Reply::DeleteGroups(vec![("g".into(), NONE)])
    );
    let tombstones = out.records.iter().filter(|(_, v)| v.is_none()).count();
    assert_eq!(tombstones, 3, "two offset tombstones and the group's");
    assert_eq!(h.fetch("g", "t", 0, true), (NONE, -1));
    assert_eq!(h.fetch("g", "t", 1, true), (NONE, -1));
    h.marker(7, true);
    assert_eq!(h.fetch("g", "t", 0, false), (NONE, -1));
    assert_eq!(h.fetch("g", "t", 1, false), (NONE, -1));
    let mut r = h.reload();
    assert_eq!(r.fetch("g", "t", 1, false), (NONE, -1));
}

#[test]
fn offset_delete_drops_pending_offsets_too() {
    let mut h = Txn::new();
    assert_eq!(h.txn_commit(7, "g", "t", 0, 100), NONE);
    let id = h.id();
    let now = h.now;
    h.shard.offset_delete(
        id,
        OffsetDeleteRequest {
            group_id: "g".into(),
            topics: vec![("t".into(), vec![0])],
        },
        now,
    );
    let out = h.drain(None);
    assert_eq!(out.records.len(), 1, "one tombstone");
    assert_eq!(h.fetch("g", "t", 0, true), (NONE, -1));
    h.marker(7, true);
    assert_eq!(h.fetch("g", "t", 0, false), (NONE, -1));
}

#[test]
fn offsets_with_an_open_transaction_do_not_expire() {
    let config = GroupConfig {
        initial_rebalance_delay_ms: 0,
        offsets_retention_ms: 1000,
        offsets_retention_check_interval_ms: 100,
        ..GroupConfig::default()
    };
    let mut h = Txn::with_config(config);
    assert_eq!(h.commit("g", "t", 0, 10), NONE);
    assert_eq!(h.txn_commit(7, "g", "t", 0, 100), NONE);
    h.now += 5000;
    h.drain(None);
    assert_eq!(
        h.fetch("g", "t", 0, false),
        (NONE, 10),
        "kept while the transaction is open"
    );
    h.marker(7, false);
    h.now += 200;
    h.drain(None);
    assert_eq!(
        h.fetch("g", "t", 0, false),
        (NONE, -1),
        "expired once it ended"
    );
}

#[test]
fn txn_commits_check_the_classic_member_and_generation() {
    let mut h = Txn::new();
    // A missing group: only generation -1 may create it.
    assert_eq!(
        h.txn_commit_as(7, "absent", (3, "m", None), ("t", 0), 1),
        code(ResponseError::IllegalGeneration)
    );
    assert_eq!(
        h.txn_commit(7, "", "t", 0, 1),
        code(ResponseError::InvalidGroupId)
    );
    // A stable classic group with one member.
    let id = h.id();
    let now = h.now;
    let join = |member: &str| JoinGroupRequest {
        group_id: "g".into(),
        member_id: member.into(),
        group_instance_id: Some("i1".into()),
        client_id: "c".into(),
        client_host: "/127.0.0.1".into(),
        session_timeout_ms: 10_000,
        rebalance_timeout_ms: 30_000,
        protocol_type: "consumer".into(),
        protocols: vec![("range".into(), Bytes::from_static(b"m"))],
        require_known_member_id: true,
        supports_skip_assignment: false,
    };
    h.shard.join_group(id, join(""), now);
    let out = h.drain(None);
    let Reply::JoinGroup(j) = reply(&out, id) else {
        panic!("expected a JoinGroup reply")
    };
    assert_eq!(j.error_code, NONE);
    let (member, generation) = (j.member_id.clone(), j.generation_id);
    // CompletingRebalance: a transactional commit is accepted (Kafka's rule).
    assert_eq!(
        h.txn_commit_as(7, "g", (generation, &member, Some("i1")), ("t", 0), 1),
        NONE
    );
    assert_eq!(
        h.txn_commit_as(7, "g", (generation + 1, &member, Some("i1")), ("t", 0), 1),
        code(ResponseError::IllegalGeneration)
    );
    assert_eq!(
        h.txn_commit_as(7, "g", (generation, "other", Some("i1")), ("t", 0), 1),
        code(ResponseError::FencedInstanceId)
    );
    assert_eq!(
        h.txn_commit_as(7, "g", (generation, &member, Some("i2")), ("t", 0), 1),
        code(ResponseError::UnknownMemberId)
    );
    assert_eq!(
        h.txn_commit_as(7, "g", (generation, "other", None), ("t", 0), 1),
        code(ResponseError::UnknownMemberId)
    );
    // v0-2 (no member fields) may commit to a group with members.
    assert_eq!(h.txn_commit(8, "g", "t", 1, 1), NONE);
    // No record was written for a refused commit.
    let records = h
        .log
        .iter()
        .filter(|e| matches!(e, Entry::Record(Some(_), _, _)))
        .count();
    assert_eq!(records, 2);
}

#[test]
fn txn_commits_check_the_consumer_group_member_epoch() {
    let mut h = Txn::new();
    struct NoTopics;
    impl crate::TopicMetadata for NoTopics {
        fn topic(&self, _: &str) -> Option<(uuid::Uuid, i32)> {
            None
        }
    }
    let id = h.id();
    let now = h.now;
    h.shard.consumer_group_heartbeat(
        id,
        ConsumerHeartbeatRequest {
            group_id: "cg".into(),
            member_id: "m1".into(),
            member_epoch: 0,
            instance_id: None,
            rack_id: None,
            rebalance_timeout_ms: 30_000,
            subscribed_topic_names: Some(vec!["t".into()]),
            subscribed_topic_regex: None,
            server_assignor: None,
            topic_partitions: Some(vec![]),
            client_id: "c".into(),
            client_host: "/127.0.0.1".into(),
        },
        &NoTopics,
        now,
    );
    let out = h.drain(None);
    let Reply::ConsumerGroupHeartbeat(hb) = reply(&out, id) else {
        panic!("expected a heartbeat reply")
    };
    assert_eq!(hb.error_code, NONE);
    let member = hb.member_id.clone().expect("a member id");
    let epoch = hb.member_epoch;
    assert_eq!(
        h.txn_commit_as(7, "cg", (epoch, &member, None), ("t", 0), 5),
        NONE
    );
    assert_eq!(
        h.txn_commit_as(7, "cg", (epoch + 1, &member, None), ("t", 0), 5),
        code(ResponseError::IllegalGeneration)
    );
    assert_eq!(
        h.txn_commit_as(7, "cg", (epoch, "nobody", None), ("t", 0), 5),
        code(ResponseError::UnknownMemberId)
    );
    assert_eq!(
        h.txn_commit(7, "cg", "t", 0, 5),
        code(ResponseError::UnknownMemberId),
        "a group with members needs its member"
    );
    h.marker(7, true);
    assert_eq!(h.fetch("cg", "t", 0, true), (NONE, 5));
}

#[test]
fn a_txn_commit_that_was_not_written_is_undone_in_memory() {
    let mut h = Txn::new();
    assert_eq!(h.txn_commit(7, "g", "t", 0, 100), NONE);
    let saved = h.shard.save_transaction(7);
    assert_eq!(h.txn_commit(7, "g", "t", 0, 150), NONE);
    assert_eq!(h.txn_commit(7, "h", "t", 1, 160), NONE);
    h.shard.restore_transaction(saved);
    assert_eq!(
        h.fetch("h", "t", 1, true),
        (NONE, -1),
        "the new group's pending offset is gone"
    );
    assert_eq!(
        h.fetch("g", "t", 0, true),
        (UNSTABLE(), -1),
        "the earlier one stays"
    );
    h.marker(7, true);
    assert_eq!(h.fetch("g", "t", 0, true), (NONE, 100));
    assert_eq!(h.fetch("h", "t", 1, true), (NONE, -1));
    // A producer with nothing pending before goes back to nothing.
    let saved = h.shard.save_transaction(9);
    assert_eq!(h.txn_commit(9, "g", "t", 0, 900), NONE);
    h.shard.restore_transaction(saved);
    assert!(h.shard.open_transactions().is_empty());
    assert_eq!(h.fetch("g", "t", 0, true), (NONE, 100));
}

#[test]
fn metadata_too_large_is_refused_per_partition() {
    let mut h = Txn::with_config(GroupConfig {
        offset_metadata_max_bytes: 2,
        ..GroupConfig::default()
    });
    assert_eq!(
        h.txn_commit(7, "g", "t", 0, 1),
        code(ResponseError::OffsetMetadataTooLarge)
    );
    assert!(h.shard.open_transactions().is_empty());
}

// ---- model check ------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum Step {
    Commit { p: i32, offset: i64 },
    TxnCommit { producer: i64, p: i32, offset: i64 },
    Marker { producer: i64, commit: bool },
    Delete { p: i32 },
    Reload,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (0..3i32, 0..1000i64).prop_map(|(p, offset)| Step::Commit { p, offset }),
        4 => (1..4i64, 0..3i32, 0..1000i64)
            .prop_map(|(producer, p, offset)| Step::TxnCommit { producer, p, offset }),
        3 => (1..4i64, any::<bool>()).prop_map(|(producer, commit)| Step::Marker { producer, commit }),
        1 => (0..3i32).prop_map(|p| Step::Delete { p }),
        1 => Just(Step::Reload),
    ]
}

/// The model: the committed offset with its position in the log, and per
/// producer the pending ones with theirs.
#[derive(Default)]
struct Model {
    clock: u64,
    committed: HashMap<i32, (i64, u64)>,
    pending: HashMap<i64, HashMap<i32, (i64, u64)>>,
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn interleavings_of_commits_transactions_markers_and_reloads_agree_with_the_model(
        steps in proptest::collection::vec(step(), 1..40)
    ) {
        let mut h = Txn::new();
        let mut m = Model::default();
        for s in steps {
            match s {
                Step::Commit { p, offset } => {
                    prop_assert_eq!(h.commit("g", "t", p, offset), NONE);
                    m.clock += 1;
                    m.committed.insert(p, (offset, m.clock));
                }
                Step::TxnCommit { producer, p, offset } => {
                    prop_assert_eq!(h.txn_commit(producer, "g", "t", p, offset), NONE);
                    m.clock += 1;
                    m.pending.entry(producer).or_default().insert(p, (offset, m.clock));
                }
                Step::Marker { producer, commit } => {
                    h.marker(producer, commit);
                    if let Some(pending) = m.pending.remove(&producer) {
                        if commit {
                            for (p, (offset, at)) in pending {
                                if m.committed.get(&p).is_none_or(|(_, c)| *c < at) {
                                    m.committed.insert(p, (offset, at));
                                }
                            }
                        }
                    }
                }
                Step::Delete { p } => {
                    let id = h.id();
                    let now = h.now;
                    h.shard.offset_delete(
                        id,
                        OffsetDeleteRequest { group_id: "g".into(), topics: vec![("t".into(), vec![p])] },
                        now,
                    );
                    h.drain(None);
                    m.committed.remove(&p);
                    for pending in m.pending.values_mut() {
                        pending.remove(&p);
                    }
                }
                Step::Reload => h = h.reload(),
            }
            for p in 0..3 {
                let committed = m.committed.get(&p).map(|(o, _)| *o).unwrap_or(-1);
                let unstable = m.pending.values().any(|x| x.contains_key(&p));
                prop_assert_eq!(h.fetch("g", "t", p, false), (NONE, committed));
                let stable = if unstable { (UNSTABLE(), -1) } else { (NONE, committed) };
                prop_assert_eq!(h.fetch("g", "t", p, true), stable);
            }
        }
        // The log alone gives the same state.
        let mut r = h.reload();
        for p in 0..3 {
            let committed = m.committed.get(&p).map(|(o, _)| *o).unwrap_or(-1);
            prop_assert_eq!(r.fetch("g", "t", p, false), (NONE, committed));
        }
    }
}
