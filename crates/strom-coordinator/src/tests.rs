//! State-machine tests: requests and clock ticks in, records and replies out.

use bytes::Bytes;
use kafka_protocol::error::ResponseError;

use crate::api::*;
use crate::records::RecordKey;
use crate::{GroupConfig, GroupShard, Output};

struct Harness {
    shard: GroupShard,
    now: i64,
    next_reply: u64,
    /// Every record appended so far, for reload tests.
    log: Vec<(Bytes, Option<Bytes>)>,
}

const SESSION: i32 = 10_000;
const REBALANCE: i32 = 30_000;

fn err(e: ResponseError) -> ErrorCode {
    e.code()
}

impl Harness {
    fn new() -> Self {
        Self::with_config(GroupConfig {
            initial_rebalance_delay_ms: 0,
            ..GroupConfig::default()
        })
    }

    fn with_config(config: GroupConfig) -> Self {
        let mut shard = GroupShard::new(config);
        shard.load_complete(0);
        Harness {
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

    /// Like the driver: due timers run after every request.
    fn drain(&mut self) -> Output {
        self.shard.tick(self.now);
        let out = self.shard.take_output();
        self.log.extend(out.records.iter().cloned());
        out
    }

    fn advance(&mut self, ms: i64) -> Output {
        self.now += ms;
        self.shard.tick(self.now);
        self.drain()
    }

    fn join_req(
        group: &str,
        member: &str,
        instance: Option<&str>,
        protocols: &[&str],
    ) -> JoinGroupRequest {
        JoinGroupRequest {
            group_id: group.into(),
            member_id: member.into(),
            group_instance_id: instance.map(Into::into),
            client_id: "client".into(),
            client_host: "/127.0.0.1".into(),
            session_timeout_ms: SESSION,
            rebalance_timeout_ms: REBALANCE,
            protocol_type: "consumer".into(),
            protocols: protocols
                .iter()
                .map(|p| (p.to_string(), Bytes::from(format!("meta-{p}"))))
                .collect(),
            require_known_member_id: true,
            supports_skip_assignment: false,
        }
    }

    /// Sends a JoinGroup; returns its reply id and whatever came out.
    fn join(&mut self, req: JoinGroupRequest) -> (ReplyId, Output) {
        let id = self.id();
        let now = self.now;
        self.shard.join_group(id, req, now);
        (id, self.drain())
    }

    /// A new dynamic member: MEMBER_ID_REQUIRED, then the real join (parked or answered).
    fn join_new(&mut self, group: &str, protocols: &[&str]) -> (String, ReplyId, Output) {
        let (id, out) = self.join(Self::join_req(group, "", None, protocols));
        let JoinGroupResponse {
            error_code,
            member_id,
            ..
        } = join_reply(&out, id);
        assert_eq!(error_code, err(ResponseError::MemberIdRequired));
        let (id, out) = self.join(Self::join_req(group, &member_id, None, protocols));
        (member_id, id, out)
    }

    fn sync(
        &mut self,
        group: &str,
        member: &str,
        generation: i32,
        assignments: &[(&str, &str)],
    ) -> (ReplyId, Output) {
        let id = self.id();
        let now = self.now;
        self.shard.sync_group(
            id,
            SyncGroupRequest {
                group_id: group.into(),
                generation_id: generation,
                member_id: member.into(),
                group_instance_id: None,
                protocol_type: Some("consumer".into()),
                protocol_name: None,
                assignments: assignments
                    .iter()
                    .map(|(m, a)| (m.to_string(), Bytes::from(a.to_string())))
                    .collect(),
            },
            now,
        );
        (id, self.drain())
    }

    fn heartbeat(&mut self, group: &str, member: &str, generation: i32) -> ErrorCode {
        let id = self.id();
        let now = self.now;
        self.shard.heartbeat(
            id,
            HeartbeatRequest {
                group_id: group.into(),
                generation_id: generation,
                member_id: member.into(),
                group_instance_id: None,
            },
            now,
        );
        match reply(&self.drain(), id) {
            Reply::Heartbeat(code) => code,
            other => panic!("expected a Heartbeat reply, got {other:?}"),
        }
    }

    fn commit(
        &mut self,
        group: &str,
        member: &str,
        generation: i32,
        topic: &str,
        partition: i32,
        offset: i64,
    ) -> ErrorCode {
        let id = self.id();
        let now = self.now;
        self.shard.offset_commit(
            id,
            OffsetCommitRequest {
                group_id: group.into(),
                generation_id_or_member_epoch: generation,
                member_id: member.into(),
                group_instance_id: None,
                topics: vec![OffsetCommitTopic {
                    name: topic.into(),
                    partitions: vec![OffsetCommitPartition {
                        partition_index: partition,
                        committed_offset: offset,
                        committed_leader_epoch: 3,
                        committed_metadata: Some("meta".into()),
                        precheck_error: NONE,
                    }],
                }],
                version: 8,
            },
            now,
        );
        match reply(&self.drain(), id) {
            Reply::OffsetCommit(topics) => topics[0].1[0].1,
            other => panic!("expected an OffsetCommit reply, got {other:?}"),
        }
    }

    fn fetch(&mut self, group: &str, topic: &str, partition: i32) -> OffsetFetchPartition {
        let id = self.id();
        self.shard.offset_fetch(
            id,
            OffsetFetchRequest {
                group_id: group.into(),
                topics: Some(vec![(topic.into(), vec![partition])]),
                member_id: None,
                member_epoch: -1,
                require_stable: false,
            },
        );
        match reply(&self.drain(), id) {
            Reply::OffsetFetch(r) => r.topics[0].1[0].clone(),
            other => panic!("expected an OffsetFetch reply, got {other:?}"),
        }
    }

    fn state(&mut self, group: &str) -> String {
        let id = self.id();
        self.shard.describe_groups(id, vec![group.into()], 5);
        match reply(&self.drain(), id) {
            Reply::DescribeGroups(gs) => gs[0].group_state.clone(),
            other => panic!("expected a DescribeGroups reply, got {other:?}"),
        }
    }

    /// A new shard fed every record written so far, as after a restart.
    fn reload(&self) -> Harness {
        let mut shard = GroupShard::new(self.shard.config.clone());
        for (k, v) in &self.log {
            shard
                .replay(k, v.as_deref(), self.now)
                .expect("records written by the shard replay");
        }
        shard.load_complete(self.now);
        Harness {
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

fn has_reply(out: &Output, id: ReplyId) -> bool {
    out.replies.iter().any(|(r, _)| *r == id)
}

fn join_reply(out: &Output, id: ReplyId) -> JoinGroupResponse {
    match reply(out, id) {
        Reply::JoinGroup(r) => r,
        other => panic!("expected a JoinGroup reply, got {other:?}"),
    }
}

fn sync_reply(out: &Output, id: ReplyId) -> SyncGroupResponse {
    match reply(out, id) {
        Reply::SyncGroup(r) => r,
        other => panic!("expected a SyncGroup reply, got {other:?}"),
    }
}

fn group_records(out: &Output) -> usize {
    out.records
        .iter()
        .filter(|(k, _)| {
            matches!(
                RecordKey::decode(k),
                Ok(Some(RecordKey::GroupMetadata { .. }))
            )
        })
        .count()
}

/// One member, joined and synced: (member id, generation).
fn stable_single(h: &mut Harness, group: &str) -> (String, i32) {
    let (m, id, out) = h.join_new(group, &["range"]);
    let join = join_reply(&out, id);
    assert_eq!(join.error_code, NONE);
    let (sid, out) = h.sync(group, &m, join.generation_id, &[(&m, "A")]);
    assert_eq!(sync_reply(&out, sid).assignment, Bytes::from("A"));
    (m, join.generation_id)
}

#[test]
fn first_member_joins_as_leader_of_generation_one_and_syncs_its_assignment() {
    let mut h = Harness::new();
    let (m, id, out) = h.join_new("g", &["range", "roundrobin"]);
    let join = join_reply(&out, id);
    assert_eq!((join.error_code, join.generation_id), (NONE, 1));
    assert_eq!(join.leader, m);
    assert_eq!(join.protocol_name.as_deref(), Some("range"));
    assert_eq!(join.members.len(), 1);
    assert_eq!(join.members[0].metadata, Bytes::from("meta-range"));
    assert_eq!(h.state("g"), "CompletingRebalance");
    let (sid, out) = h.sync("g", &m, 1, &[(&m, "assignment")]);
    assert_eq!(
        group_records(&out),
        1,
        "the assignment is written before the reply"
    );
    assert_eq!(sync_reply(&out, sid).assignment, Bytes::from("assignment"));
    assert_eq!(h.state("g"), "Stable");
}

#[test]
fn join_without_a_member_id_gets_member_id_required_on_v4_and_above() {
    let mut h = Harness::new();
    let (id, out) = h.join(Harness::join_req("g", "", None, &["range"]));
    let r = join_reply(&out, id);
    assert_eq!(r.error_code, err(ResponseError::MemberIdRequired));
    assert!(
        r.member_id.starts_with("client-"),
        "member id {} is client id + uuid",
        r.member_id
    );
}

#[test]
fn a_second_member_triggers_a_rebalance_and_both_get_generation_two() {
    let mut h = Harness::new();
    let (a, _) = stable_single(&mut h, "g");
    let (b, bid, out) = h.join_new("g", &["range"]);
    assert!(!has_reply(&out, bid), "b waits for a to rejoin");
    assert_eq!(
        h.heartbeat("g", &a, 1),
        err(ResponseError::RebalanceInProgress)
    );
    let (aid, out) = h.join(Harness::join_req("g", &a, None, &["range"]));
    let ja = join_reply(&out, aid);
    let jb = join_reply(&out, bid);
    assert_eq!((ja.generation_id, jb.generation_id), (2, 2));
    assert_eq!(ja.leader, a, "the leader stays the leader");
    assert_eq!(ja.members.len(), 2);
    assert!(jb.members.is_empty(), "followers do not see the members");
    let (bs, out) = h.sync("g", &b, 2, &[]);
    assert!(
        !has_reply(&out, bs),
        "a follower waits for the leader's assignment"
    );
    let (as_, out) = h.sync("g", &a, 2, &[(&a, "pa"), (&b, "pb")]);
    assert_eq!(sync_reply(&out, as_).assignment, Bytes::from("pa"));
    assert_eq!(sync_reply(&out, bs).assignment, Bytes::from("pb"));
    assert_eq!(h.heartbeat("g", &b, 2), NONE);
}

#[test]
fn heartbeat_errors_follow_kafka() {
    let mut h = Harness::new();
    assert_eq!(
        h.heartbeat("nope", "m", 1),
        err(ResponseError::UnknownMemberId)
    );
    let (m, generation) = stable_single(&mut h, "g");
    assert_eq!(
        h.heartbeat("g", "other", generation),
        err(ResponseError::UnknownMemberId)
    );
    assert_eq!(
        h.heartbeat("g", &m, generation + 1),
        err(ResponseError::IllegalGeneration)
    );
    assert_eq!(h.heartbeat("g", &m, generation), NONE);
}

#[test]
fn a_member_that_stops_heartbeating_is_removed_after_its_session_timeout() {
    let mut h = Harness::new();
    let (a, _) = stable_single(&mut h, "g");
    let (b, bid, _) = h.join_new("g", &["range"]);
    let (aid, out) = h.join(Harness::join_req("g", &a, None, &["range"]));
    assert!(has_reply(&out, aid) && has_reply(&out, bid));
    h.sync("g", &a, 2, &[(&a, "pa"), (&b, "pb")]);
    h.sync("g", &b, 2, &[]);
    // a keeps heartbeating; b goes silent.
    for _ in 0..3 {
        h.advance(SESSION as i64 / 2);
        let code = h.heartbeat("g", &a, 2);
        if code == err(ResponseError::RebalanceInProgress) {
            break;
        }
        assert_eq!(code, NONE);
    }
    assert_eq!(h.state("g"), "PreparingRebalance");
    let (aid, out) = h.join(Harness::join_req("g", &a, None, &["range"]));
    let ja = join_reply(&out, aid);
    assert_eq!(ja.generation_id, 3);
    assert_eq!(
        ja.members
            .iter()
            .map(|m| m.member_id.clone())
            .collect::<Vec<_>>(),
        vec![a]
    );
}

#[test]
fn members_that_do_not_rejoin_within_the_rebalance_timeout_are_dropped() {
    let mut h = Harness::new();
    let (a, _) = stable_single(&mut h, "g");
    let (_b, bid, _) = h.join_new("g", &["range"]);
    // a never rejoins but keeps heartbeating.
    let mut out = Output::default();
    let mut elapsed = 0;
    while !has_reply(&out, bid) {
        assert!(
            elapsed <= REBALANCE as i64,
            "the join phase ended by the rebalance timeout"
        );
        assert_eq!(
            h.heartbeat("g", &a, 1),
            err(ResponseError::RebalanceInProgress)
        );
        out = h.advance(1000);
        elapsed += 1000;
    }
    let jb = join_reply(&out, bid);
    assert_eq!(jb.generation_id, 2);
    assert_eq!(jb.members.len(), 1, "b alone, and leader");
    assert_eq!(h.heartbeat("g", &a, 1), err(ResponseError::UnknownMemberId));
}

#[test]
fn leave_group_rebalances_the_rest_and_the_last_leave_empties_the_group() {
    let mut h = Harness::new();
    let (a, _) = stable_single(&mut h, "g");
    let id = h.id();
    let now = h.now;
    h.shard.leave_group(
        id,
        LeaveGroupRequest {
            group_id: "g".into(),
            members: vec![(a.clone(), None)],
        },
        now,
    );
    let out = h.drain();
    match reply(&out, id) {
        Reply::LeaveGroup(r) => assert_eq!(r.members[0].2, NONE),
        other => panic!("{other:?}"),
    }
    assert_eq!(group_records(&out), 1, "an empty group is written");
    assert_eq!(h.state("g"), "Empty");
    let id = h.id();
    h.shard.leave_group(
        id,
        LeaveGroupRequest {
            group_id: "g".into(),
            members: vec![(a, None)],
        },
        now,
    );
    match reply(&h.drain(), id) {
        Reply::LeaveGroup(r) => assert_eq!(r.members[0].2, err(ResponseError::UnknownMemberId)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn sync_with_a_stale_generation_is_illegal_generation_and_during_a_join_phase_rebalance_in_progress(
) {
    let mut h = Harness::new();
    let (a, generation) = stable_single(&mut h, "g");
    let (sid, out) = h.sync("g", &a, generation + 5, &[]);
    assert_eq!(
        sync_reply(&out, sid).error_code,
        err(ResponseError::IllegalGeneration)
    );
    h.join_new("g", &["range"]);
    let (sid, out) = h.sync("g", &a, generation, &[]);
    assert_eq!(
        sync_reply(&out, sid).error_code,
        err(ResponseError::RebalanceInProgress)
    );
}

#[test]
fn session_timeout_outside_the_broker_bounds_is_invalid_session_timeout() {
    let mut h = Harness::new();
    let mut req = Harness::join_req("g", "", None, &["range"]);
    req.session_timeout_ms = 1000;
    let (id, out) = h.join(req);
    assert_eq!(
        join_reply(&out, id).error_code,
        err(ResponseError::InvalidSessionTimeout)
    );
}

#[test]
fn a_member_with_no_protocol_in_common_is_inconsistent_group_protocol() {
    let mut h = Harness::new();
    stable_single(&mut h, "g");
    let (id, out) = h.join(Harness::join_req("g", "", None, &["roundrobin"]));
    assert_eq!(
        join_reply(&out, id).error_code,
        err(ResponseError::InconsistentGroupProtocol)
    );
}

#[test]
fn the_protocol_most_members_prefer_among_common_ones_is_chosen() {
    let mut h = Harness::new();
    let (a, aid0, _) = h.join_new("g", &["range", "roundrobin"]);
    let _ = aid0;
    h.sync("g", &a, 1, &[(&a, "x")]);
    let (_b, bid, _) = h.join_new("g", &["roundrobin", "range"]);
    let (_c, cid, _) = h.join_new("g", &["roundrobin"]);
    let (aid, out) = h.join(Harness::join_req("g", &a, None, &["range", "roundrobin"]));
    for id in [aid, bid, cid] {
        assert_eq!(
            join_reply(&out, id).protocol_name.as_deref(),
            Some("roundrobin")
        );
    }
}

#[test]
fn static_member_restarting_in_a_stable_group_keeps_its_assignment_without_a_rebalance() {
    let mut h = Harness::new();
    let (id, out) = h.join(Harness::join_req("g", "", Some("i1"), &["range"]));
    let j = join_reply(&out, id);
    assert_eq!(
        j.error_code, NONE,
        "static members need no MEMBER_ID_REQUIRED round trip"
    );
    let old = j.member_id.clone();
    h.sync("g", &old, j.generation_id, &[(&old, "mine")]);
    // It restarts: same instance id, no member id.
    let (id, out) = h.join(Harness::join_req("g", "", Some("i1"), &["range"]));
    let j2 = join_reply(&out, id);
    assert_eq!(j2.error_code, NONE);
    assert_eq!(j2.generation_id, j.generation_id, "no new generation");
    assert_ne!(j2.member_id, old);
    assert_eq!(h.state("g"), "Stable");
    let (sid, out) = h.sync("g", &j2.member_id, j2.generation_id, &[]);
    assert_eq!(sync_reply(&out, sid).assignment, Bytes::from("mine"));
    // The old incarnation is fenced.
    let id = h.id();
    let now = h.now;
    h.shard.heartbeat(
        id,
        HeartbeatRequest {
            group_id: "g".into(),
            generation_id: j.generation_id,
            member_id: old,
            group_instance_id: Some("i1".into()),
        },
        now,
    );
    assert_eq!(
        reply(&h.drain(), id),
        Reply::Heartbeat(err(ResponseError::FencedInstanceId))
    );
}

#[test]
fn commits_are_written_and_fetched_and_survive_a_reload() {
    let mut h = Harness::new();
    let (m, generation) = stable_single(&mut h, "g");
    assert_eq!(h.commit("g", &m, generation, "t", 0, 42), NONE);
    let f = h.fetch("g", "t", 0);
    assert_eq!(
        (
            f.committed_offset,
            f.committed_leader_epoch,
            f.metadata.as_deref()
        ),
        (42, 3, Some("meta"))
    );
    assert_eq!(h.fetch("g", "t", 1).committed_offset, -1);
    let mut reloaded = h.reload();
    assert_eq!(reloaded.fetch("g", "t", 0).committed_offset, 42);
    assert_eq!(
        reloaded.state("g"),
        "Stable",
        "the group comes back from its record"
    );
    assert_eq!(
        reloaded.heartbeat("g", &m, generation),
        NONE,
        "members keep their generation across a reload"
    );
}

#[test]
fn commit_checks_generation_member_and_rebalance_state() {
    let mut h = Harness::new();
    assert_eq!(
        h.commit("nogroup", "", -1, "t", 0, 1),
        NONE,
        "a simple commit creates a simple group"
    );
    assert_eq!(h.state("nogroup"), "Empty");
    assert_eq!(
        h.commit("unknown", "m", 1, "t", 0, 1),
        err(ResponseError::IllegalGeneration)
    );
    let (m, generation) = stable_single(&mut h, "g");
    assert_eq!(
        h.commit("g", &m, generation + 1, "t", 0, 1),
        err(ResponseError::IllegalGeneration)
    );
    assert_eq!(
        h.commit("g", "stranger", generation, "t", 0, 1),
        err(ResponseError::UnknownMemberId)
    );
    assert_eq!(
        h.commit("g", "", -1, "t", 0, 1),
        err(ResponseError::UnknownMemberId),
        "a simple commit to a live group"
    );
    h.join_new("g", &["range"]);
    let (aid, _) = h.join(Harness::join_req("g", &m, None, &["range"]));
    let _ = aid;
    assert_eq!(h.state("g"), "CompletingRebalance");
    assert_eq!(
        h.commit("g", &m, generation + 1, "t", 0, 1),
        err(ResponseError::RebalanceInProgress)
    );
}

#[test]
fn delete_groups_refuses_live_groups_and_tombstones_empty_ones() {
    let mut h = Harness::new();
    let (m, generation) = stable_single(&mut h, "g");
    h.commit("g", &m, generation, "t", 0, 5);
    let id = h.id();
    let now = h.now;
    h.shard
        .delete_groups(id, vec!["g".into(), "missing".into()], now);
    assert_eq!(
        reply(&h.drain(), id),
        Reply::DeleteGroups(vec![
            ("g".into(), err(ResponseError::NonEmptyGroup)),
            ("missing".into(), err(ResponseError::GroupIdNotFound))
        ])
    );
    h.shard.leave_group(
        ReplyId(h.next_reply + 1),
        LeaveGroupRequest {
            group_id: "g".into(),
            members: vec![(m, None)],
        },
        now,
    );
    h.next_reply += 1;
    h.drain();
    let id = h.id();
    h.shard.delete_groups(id, vec!["g".into()], now);
    let out = h.drain();
    assert_eq!(
        reply(&out, id),
        Reply::DeleteGroups(vec![("g".into(), NONE)])
    );
    assert!(
        out.records.iter().all(|(_, v)| v.is_none()),
        "offset and group tombstones only"
    );
    assert_eq!(out.records.len(), 2);
    let mut reloaded = h.reload();
    assert_eq!(reloaded.fetch("g", "t", 0).committed_offset, -1);
    assert_eq!(reloaded.shard.group_count(), 0);
}

#[test]
fn offsets_of_a_group_empty_for_the_retention_period_expire_and_the_group_goes() {
    let mut h = Harness::with_config(GroupConfig {
        initial_rebalance_delay_ms: 0,
        offsets_retention_ms: 60_000,
        offsets_retention_check_interval_ms: 1_000,
        ..GroupConfig::default()
    });
    assert_eq!(h.commit("simple", "", -1, "t", 0, 7), NONE);
    h.advance(30_000);
    assert_eq!(h.fetch("simple", "t", 0).committed_offset, 7);
    h.advance(31_000);
    assert_eq!(h.fetch("simple", "t", 0).committed_offset, -1);
    assert_eq!(h.shard.group_count(), 0);
}

#[test]
fn offset_delete_refuses_topics_the_group_is_subscribed_to() {
    let mut h = Harness::new();
    let sub = crate::consumer_protocol::Subscription {
        topics: vec!["t".into()],
        ..Default::default()
    }
    .encode(0);
    let mut req = Harness::join_req("g", "", None, &["range"]);
    req.protocols = vec![("range".into(), Bytes::from(sub))];
    let (id, out) = h.join(req.clone());
    let m = join_reply(&out, id).member_id;
    req.member_id = m.clone();
    let (id, out) = h.join(req);
    let generation = join_reply(&out, id).generation_id;
    h.sync("g", &m, generation, &[(&m, "")]);
    h.commit("g", &m, generation, "t", 0, 1);
    h.commit("g", &m, generation, "other", 0, 1);
    let id = h.id();
    let now = h.now;
    h.shard.offset_delete(
        id,
        OffsetDeleteRequest {
            group_id: "g".into(),
            topics: vec![("t".into(), vec![0]), ("other".into(), vec![0])],
        },
        now,
    );
    match reply(&h.drain(), id) {
        Reply::OffsetDelete(r) => {
            assert_eq!(r.error_code, NONE);
            assert_eq!(
                r.topics[0].1,
                vec![(0, err(ResponseError::GroupSubscribedToTopic))]
            );
            assert_eq!(r.topics[1].1, vec![(0, NONE)]);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(h.fetch("g", "t", 0).committed_offset, 1);
    assert_eq!(h.fetch("g", "other", 0).committed_offset, -1);
}

#[test]
fn the_initial_delay_gathers_members_into_one_first_generation() {
    let mut h = Harness::with_config(GroupConfig {
        initial_rebalance_delay_ms: 3000,
        ..GroupConfig::default()
    });
    let (_a, aid, out) = h.join_new("g", &["range"]);
    assert!(!has_reply(&out, aid));
    h.advance(1000);
    let (_b, bid, out) = h.join_new("g", &["range"]);
    assert!(!has_reply(&out, bid));
    let out = h.advance(2000);
    assert!(
        !has_reply(&out, aid),
        "a new member during the delay extends it"
    );
    let out = h.advance(3000);
    let (ja, jb) = (join_reply(&out, aid), join_reply(&out, bid));
    assert_eq!((ja.generation_id, jb.generation_id), (1, 1));
}

#[test]
fn list_groups_filters_by_state() {
    let mut h = Harness::new();
    stable_single(&mut h, "live");
    h.commit("simple", "", -1, "t", 0, 1);
    let id = h.id();
    h.shard.list_groups(id, &["stable".into()], &[]);
    match reply(&h.drain(), id) {
        Reply::ListGroups(gs) => {
            assert_eq!(
                gs.iter().map(|g| g.group_id.as_str()).collect::<Vec<_>>(),
                vec!["live"]
            );
            assert_eq!(gs[0].protocol_type, "consumer");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn partition_for_matches_java_string_hash_code() {
    // "group".hashCode() == 98629247 in Java.
    assert_eq!(crate::partition_for("group", 50), 98629247 % 50);
    assert_eq!(crate::partition_for("", 50), 0);
    let p = crate::partition_for("a-much-longer-consumer-group-name-with-overflow", 50);
    assert!((0..50).contains(&p));
}

#[test]
fn members_that_never_sync_are_removed_after_the_rebalance_timeout() {
    let mut h = Harness::new();
    let (a, _) = stable_single(&mut h, "g");
    let (b, bid, _) = h.join_new("g", &["range"]);
    let (aid, out) = h.join(Harness::join_req("g", &a, None, &["range"]));
    assert!(has_reply(&out, aid) && has_reply(&out, bid));
    // a (the leader) syncs; b never does, but both keep heartbeating.
    h.sync("g", &a, 2, &[(&a, "pa"), (&b, "pb")]);
    let mut elapsed = 0;
    while h.heartbeat("g", &b, 2) == NONE {
        assert!(
            elapsed <= REBALANCE as i64,
            "b is dropped by the rebalance timeout"
        );
        assert_eq!(h.heartbeat("g", &a, 2), NONE);
        h.advance(1000);
        elapsed += 1000;
    }
    assert!(
        elapsed >= REBALANCE as i64 - 1000,
        "not before the rebalance timeout ({elapsed} ms)"
    );
    assert_eq!(h.heartbeat("g", &b, 2), err(ResponseError::UnknownMemberId));
    assert_eq!(
        h.heartbeat("g", &a, 2),
        err(ResponseError::RebalanceInProgress)
    );
}

#[test]
fn a_member_id_handed_out_but_never_used_expires_and_does_not_block_the_join() {
    let mut h = Harness::new();
    let (a, _) = stable_single(&mut h, "g");
    // Someone asks for a member id and disappears.
    let (id, out) = h.join(Harness::join_req("g", "", None, &["range"]));
    assert_eq!(
        join_reply(&out, id).error_code,
        err(ResponseError::MemberIdRequired)
    );
    assert_eq!(
        h.state("g"),
        "Stable",
        "a pending member does not rebalance the group"
    );
    // a rejoins (say, metadata changed): the pending member must not hold the join open forever.
    let (aid, out) = h.join(Harness::join_req("g", &a, None, &["range"]));
    assert!(!has_reply(&out, aid), "the pending member is waited for");
    let out = h.advance(SESSION as i64 + 1);
    let j = join_reply(&out, aid);
    assert_eq!((j.error_code, j.generation_id), (NONE, 2));
}

#[test]
fn a_group_record_at_the_end_of_each_rebalance_lets_a_reload_skip_transient_state() {
    let mut h = Harness::new();
    let (a, generation) = stable_single(&mut h, "g");
    h.join_new("g", &["range"]);
    // Mid-rebalance: the log still holds generation 1's record.
    let mut reloaded = h.reload();
    assert_eq!(reloaded.state("g"), "Stable");
    assert_eq!(reloaded.heartbeat("g", &a, generation), NONE);
}
