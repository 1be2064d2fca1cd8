"""Partition replication on a three-node cluster of real `strom server` processes, seen through real
clients: followers copy the leader, acks=all waits for every in-sync replica, consumers read only
what every in-sync replica has (the high watermark), a failover loses no acknowledged record, a
returning leader truncates what only it had, min.insync.replicas refuses acks=all with Kafka's
error, the ISR shrinks and grows back, and group coordinators move with leadership.

Nodes are combined broker+controller (cluster.py). Tests that wait for a broker to be fenced run
with TUNED timers (3 s session); `replica.lag.time.max.ms` is lowered where a test waits for an
ISR shrink by lag.
"""

from __future__ import annotations

import time

import confluent_kafka as ck
import pytest
from confluent_kafka.admin import NewTopic

import kafka_wire as kw
from cluster import Cluster
from clients import (
    CLIENT_TIMEOUT_S, assert_delivered, consume, produce_all, producer, unique, values, wait_for,
)
from test_cluster import GROUPS, TUNED, cluster_factory, create_ok, group_read  # noqa: F401

ALL = {1, 2, 3}
FENCE_S = 15.0  # a killed broker is fenced within the 3 s session, plus slack for a loaded machine


def partition_state(c: Cluster, node_id: int, topic: str, partition: int = 0):
    md = c.try_metadata(node_id, [topic])
    if md is None or topic not in md.topics:
        return None
    for p in md.topics[topic].partitions:
        if p.partition == partition:
            return p
    return None


def wait_state(c: Cluster, node_id: int, topic: str, what: str, check, partition: int = 0,
               timeout_s: float = CLIENT_TIMEOUT_S):
    """Wait until `check(partition metadata)` holds on node_id; the metadata then."""
    found = {}

    def ok() -> bool:
        p = partition_state(c, node_id, topic, partition)
        if p is not None and check(p):
            found["p"] = p
            return True
        return False

    wait_for(ok, timeout_s, interval_s=0.1, what=what)
    return found["p"]


def replicated_topic(c: Cluster, topic: str, partitions: int = 1, min_insync: int = 2) -> None:
    create_ok(c.nodes[1].bootstrap, [NewTopic(topic, num_partitions=partitions, replication_factor=3,
                                              config={"min.insync.replicas": str(min_insync)})])
    for node in c.running_ids():  # every node has applied it, the leader included
        for p in range(partitions):
            wait_state(c, node, topic, f"{topic}-{p} fully in sync on node {node}",
                       lambda s: s.leader >= 0 and sorted(s.isr) == [1, 2, 3], partition=p)


def send(c: Cluster, via: int, topic: str, prefix: str, n: int, acks: str = "all", partition: int = 0,
         **conf) -> list:
    reports = produce_all(producer(c.nodes[via].bootstrap, acks=acks, **conf), topic,
                          [{"value": f"{prefix}-{i}".encode(), "partition": partition} for i in range(n)])
    return reports


def survivor(c: Cluster, not_in: set[int]) -> int:
    return min(i for i in c.running_ids() if i not in not_in)


def test_a_failover_keeps_every_acknowledged_record_and_the_old_leader_catches_up(cluster_factory):
    c = cluster_factory({**TUNED})
    topic = unique("failover")
    replicated_topic(c, topic)
    first = send(c, 1, topic, "before", 200, enable_idempotence=True)
    assert_delivered(first)
    assert [d.offset for d in first] == list(range(200))

    leader = partition_state(c, 1, topic).leader
    c.nodes[leader].kill9()
    other = survivor(c, {leader})
    state = wait_state(c, other, topic, "a new leader from the ISR",
                       lambda s: s.leader not in (-1, leader) and leader not in s.isr, timeout_s=FENCE_S)
    assert state.leader in ALL - {leader} and sorted(state.isr) == sorted(ALL - {leader}), state

    second = send(c, other, topic, "after", 200, enable_idempotence=True)
    assert_delivered(second)
    assert [d.offset for d in second] == list(range(200, 400))
    expected = [f"before-{i}".encode() for i in range(200)] + [f"after-{i}".encode() for i in range(200)]
    assert values(consume(c.nodes[other].bootstrap, topic)) == expected

    # The old leader comes back as a follower, catches up and rejoins the ISR.
    c.start([leader])
    wait_state(c, other, topic, "the old leader back in the ISR", lambda s: sorted(s.isr) == [1, 2, 3])
    # Leadership moves to it by a controlled shutdown of the current leader: it then serves
    # everything, from its own copy.
    current = partition_state(c, other, topic).leader
    c.nodes[current].stop()
    wait_state(c, leader, topic, "leadership back on the returned node",
               lambda s: s.leader == leader, timeout_s=FENCE_S)
    assert values(consume(c.nodes[leader].bootstrap, topic)) == expected


def test_consumers_see_only_what_every_in_sync_replica_has(cluster_factory):
    # Followers paused: the leader takes acks=1 records at once, but the high watermark (what
    # consumers may read) waits for the ISR; once the followers resume, it moves.
    c = cluster_factory({"broker.session.timeout.ms": "20000", "broker.heartbeat.interval.ms": "500"})
    topic = unique("hw")
    replicated_topic(c, topic)
    assert_delivered(send(c, 1, topic, "committed", 10))
    leader = partition_state(c, 1, topic).leader
    followers = ALL - {leader}
    for f in followers:
        c.nodes[f].sigstop()
    try:
        pending = send(c, leader, topic, "pending", 5, acks="1")
        assert_delivered(pending)
        assert [d.offset for d in pending] == list(range(10, 15))
        with c.nodes[leader].connect() as conn:
            time.sleep(1.0)
            _, _, latest = conn.list_offsets_v1(topic, 0, -1)
            assert latest == 10, "the high watermark moved past records the followers do not have"
            fetched = conn.fetch_v4(topic, 0, 10)
            assert fetched.error_code == 0 and fetched.high_watermark == 10 and not kw.parse_record_batches(fetched.records)
    finally:
        for f in followers:
            c.nodes[f].sigcont()
    with c.nodes[leader].connect() as conn:
        wait_for(lambda: conn.list_offsets_v1(topic, 0, -1)[2] == 15, CLIENT_TIMEOUT_S,
                 what="the high watermark after the followers caught up")
    assert values(consume(c.nodes[leader].bootstrap, topic)) == \
        [f"committed-{i}".encode() for i in range(10)] + [f"pending-{i}".encode() for i in range(5)]


def test_acks_all_below_min_insync_replicas_is_refused_and_accepted_again_after_rejoin(cluster_factory):
    from kafka.record.default_records import DefaultRecordBatchBuilder

    c = cluster_factory({**TUNED})
    topic = unique("minisr")
    replicated_topic(c, topic, min_insync=3)

    def batch(value: bytes) -> bytes:
        b = DefaultRecordBatchBuilder(magic=2, compression_type=0, is_transactional=0, producer_id=-1,
                                      producer_epoch=-1, base_sequence=-1, batch_size=1024)
        b.append(0, timestamp=int(time.time() * 1000), key=None, value=value, headers=[])
        return bytes(b.build())

    leader = partition_state(c, 1, topic).leader
    node = c.nodes[leader]
    with node.connect() as conn:
        # The leader's Metadata shows the partition a moment before its replica manager has opened
        # it; a produce in between is answered UNKNOWN_TOPIC_OR_PARTITION (3), retriable, and nothing
        # is appended.
        deadline = time.monotonic() + 10
        while (answer := conn.produce_v3(topic, 0, batch(b"all-3"), acks=-1))[0] == 3:
            assert time.monotonic() < deadline, "the leader never opened the partition"
            time.sleep(0.05)
        assert answer == (0, 0)
    follower = min(ALL - {leader})
    c.nodes[follower].kill9()
    wait_state(c, leader, topic, "the ISR without the killed follower",
               lambda s: sorted(s.isr) == sorted(ALL - {follower}), timeout_s=FENCE_S)
    # The leader takes the new ISR from the metadata a moment after its Metadata answers show it:
    # an acks=all append in between is still accepted (with the ISR it had); then it is refused.
    accepted: list[bytes] = []
    with node.connect() as conn:
        for attempt in range(50):
            value = f"early-{attempt}".encode()
            err, _ = conn.produce_v3(topic, 0, batch(value), acks=-1, timeout_ms=2000)
            if err != 0:
                break
            accepted.append(value)
            time.sleep(0.05)
        assert err == 19, f"acks=all with 2 in-sync replicas of min.insync.replicas=3: error {err}"  # NOT_ENOUGH_REPLICAS
        assert len(accepted) <= 2, accepted
        assert conn.produce_v3(topic, 0, batch(b"acks-1"), acks=1) == (0, 1 + len(accepted))
    c.start([follower])
    wait_state(c, leader, topic, "the follower back in the ISR", lambda s: sorted(s.isr) == [1, 2, 3])
    with node.connect() as conn:
        deadline = time.monotonic() + 10
        while (answer := conn.produce_v3(topic, 0, batch(b"all-3-again"), acks=-1))[0] == 19:
            assert time.monotonic() < deadline, "acks=all still refused with the ISR full again"
            time.sleep(0.05)
        assert answer == (0, 2 + len(accepted))
    assert values(consume(node.bootstrap, topic)) == [b"all-3", *accepted, b"acks-1", b"all-3-again"]


def test_a_follower_that_stops_fetching_leaves_the_isr_and_returns_when_caught_up(cluster_factory):
    # A long broker session keeps the paused follower registered: it leaves the ISR by lag
    # (replica.lag.time.max.ms), through the leader's AlterPartition, not by fencing.
    c = cluster_factory({"broker.session.timeout.ms": "60000", "broker.heartbeat.interval.ms": "500",
                         "replica.lag.time.max.ms": "2000"})
    topic = unique("lag")
    replicated_topic(c, topic)
    leader = partition_state(c, 1, topic).leader
    follower = min(ALL - {leader})
    c.nodes[follower].sigstop()
    try:
        assert_delivered(send(c, leader, topic, "while-paused", 50))
        state = wait_state(c, leader, topic, "the paused follower out of the ISR",
                           lambda s: follower not in s.isr)
        assert sorted(state.isr) == sorted(ALL - {follower}) and state.leader == leader
    finally:
        c.nodes[follower].sigcont()
    wait_state(c, leader, topic, "the follower back in the ISR", lambda s: sorted(s.isr) == [1, 2, 3])


def test_a_returning_leader_truncates_records_only_it_had(cluster_factory):
    # acks=1 records reach the leader alone (its followers are paused; a fetch they had parked at
    # the leader may still carry the first one to them); the leader dies; a follower is elected;
    # the old leader returns, finds its history diverged (leader epochs) and truncates to the new
    # leader's, so every replica ends with the same log and the records only it had are gone.
    c = cluster_factory({**TUNED, "replica.lag.time.max.ms": "30000"})
    topic = unique("truncate")
    replicated_topic(c, topic, min_insync=1)
    assert_delivered(send(c, 1, topic, "committed", 5))
    leader = partition_state(c, 1, topic).leader
    followers = ALL - {leader}
    for f in followers:
        c.nodes[f].sigstop()
    only_leader = []
    try:
        for i in range(4):
            d = send(c, leader, topic, f"acks1-{i}", 1, acks="1")
            assert_delivered(d)
            only_leader.append(d[0].value)
            time.sleep(0.2)
        c.nodes[leader].kill9()
    finally:
        for f in followers:
            c.nodes[f].sigcont()
    other = min(followers)
    state = wait_state(c, other, topic, "a new leader among the former followers",
                       lambda s: s.leader in followers, timeout_s=FENCE_S)
    assert_delivered(send(c, other, topic, "new-leader", 4))
    final = values(consume(c.nodes[other].bootstrap, topic))
    assert final[:5] == [f"committed-{i}".encode() for i in range(5)]
    assert final[-4:] == [f"new-leader-{i}".encode() for i in range(4)]
    truncated = [v for v in only_leader if v not in final]
    # At most the first acks=1 record was in flight to the followers when they stopped.
    assert len(truncated) >= 3, (only_leader, final)

    c.start([leader])
    wait_state(c, other, topic, "the old leader back in the ISR", lambda s: sorted(s.isr) == [1, 2, 3])
    # Make the returned node lead again (controlled shutdown of the current leader) and read its copy.
    c.nodes[state.leader].stop()
    wait_state(c, leader, topic, "leadership on the returned node",
               lambda s: s.leader == leader, timeout_s=FENCE_S)
    assert values(consume(c.nodes[leader].bootstrap, topic)) == final


def test_offset_for_leader_epoch_tells_where_each_epoch_ends(cluster_factory):
    c = cluster_factory({**TUNED})
    topic = unique("epochs")
    replicated_topic(c, topic)
    assert_delivered(send(c, 1, topic, "e0", 7))
    first = partition_state(c, 1, topic)
    c.nodes[first.leader].kill9()
    other = survivor(c, {first.leader})
    second = wait_state(c, other, topic, "a new leader", lambda s: s.leader not in (-1, first.leader),
                        timeout_s=FENCE_S)
    assert_delivered(send(c, other, topic, "e1", 3))
    node = c.nodes[second.leader]
    with node.connect() as conn:
        # A new topic's first leader epoch is 0.
        answers = offset_for_leader_epoch(conn, topic, [0, 10_000])
    (e0_err, e0_epoch, e0_end), (new_err, new_epoch, new_end) = answers
    assert e0_err == 0 and e0_end == 7, answers
    assert new_err == 0 and (new_epoch, new_end) == (-1, -1), answers


def offset_for_leader_epoch(conn: kw.Connection, topic: str, epochs: list[int]) -> list[tuple[int, int, int]]:
    """OffsetForLeaderEpoch v3 (replica id -1, current leader epoch -1) for partition 0, one request per
    epoch: [(error_code, leader_epoch, end_offset)]."""
    out = []
    for epoch in epochs:
        body = (kw.i32(-1) + kw.array([kw.string(topic) + kw.array([kw.i32(0) + kw.i32(-1) + kw.i32(epoch)])]))
        r = kw.Reader(conn.request(23, 3, body))
        r.i32()  # throttle
        for _ in range(r.i32()):
            r.string()
            for _ in range(r.i32()):
                err, _partition, leader_epoch, end = r.i16(), r.i32(), r.i32(), r.i64()
                out.append((err, leader_epoch, end))
    return out


def test_produce_and_fetch_at_a_follower_get_not_leader_or_follower(cluster_factory):
    c = cluster_factory()
    topic = unique("follower")
    replicated_topic(c, topic)
    leader = partition_state(c, 1, topic).leader
    follower = c.nodes[min(ALL - {leader})]
    with follower.connect() as conn:
        assert conn.fetch_v4(topic, 0, 0).error_code == 6  # NOT_LEADER_OR_FOLLOWER
        err, _ = conn.produce_v3(topic, 0, b"", acks=1)
        assert err == 6, err


def test_a_group_continues_from_its_committed_offsets_when_its_coordinator_dies(cluster_factory):
    c = cluster_factory({**TUNED, **GROUPS})
    topic, group = unique("coord"), unique("group")
    create_ok(c.nodes[1].bootstrap, [NewTopic(topic, num_partitions=3, replication_factor=3)])
    records = [{"value": f"{topic}/{i}".encode(), "partition": i % 3} for i in range(60)]
    assert_delivered(produce_all(producer(c.nodes[1].bootstrap, acks="all"), topic, records))
    first = set(group_read(c.nodes[1].bootstrap, topic, group, 30, commit=True))
    assert len(first) == 30

    coordinator = find_coordinator(c, 1, group)
    c.nodes[coordinator].kill9()
    other = survivor(c, {coordinator})
    wait_for(lambda: find_coordinator(c, other, group) not in (None, coordinator), FENCE_S * 2,
             interval_s=0.2, what="a new coordinator for the group")
    second = set(group_read(c.nodes[other].bootstrap, topic, group, 30, commit=False))
    assert not first & second, "records read again: the committed offsets were lost with the coordinator"
    assert first | second == {r["value"] for r in records}


def find_coordinator(c: Cluster, node_id: int, group: str) -> int | None:
    """FindCoordinator v1 for a group through node_id: the coordinator's node id, None on an error."""
    node = c.nodes[node_id]
    try:
        with node.connect() as conn:
            r = kw.Reader(conn.request(10, 1, kw.string(group) + kw.i8(0)))
            r.i32()  # throttle
            err = r.i16()
            r.string()
            coordinator = r.i32()
            return coordinator if err == 0 else None
    except OSError:
        return None


def fetch_v11(conn: kw.Connection, topic: str, offset: int, rack: str) -> tuple[int, int, int, bytes]:
    """Fetch v11 of partition 0 as a consumer in `rack`: (error_code, high_watermark,
    preferred_read_replica, records)."""
    body = (kw.i32(-1) + kw.i32(0) + kw.i32(1) + kw.i32(1 << 20) + kw.i8(0) + kw.i32(0) + kw.i32(-1)
            + kw.array([kw.string(topic) + kw.array([kw.i32(0) + kw.i32(-1) + kw.i64(offset) + kw.i64(-1)
                                                     + kw.i32(1 << 20)])])
            + kw.array([]) + kw.string(rack))
    r = kw.Reader(conn.request(1, 11, body))
    r.i32(); r.i16(); r.i32()  # throttle, error, session id
    for _ in range(r.i32()):
        r.string()
        for _ in range(r.i32()):
            _index, err, hw, _lso, _start = r.i32(), r.i16(), r.i64(), r.i64(), r.i64()
            r.array(lambda r: (r.i64(), r.i64()))
            preferred = r.i32()
            records = r.bytes_() or b""
            return err, hw, preferred, records
    raise AssertionError("fetch response without the partition")


def test_consumers_read_from_a_replica_in_their_rack(cluster_factory):
    # KIP-392: with the rack-aware selector, the leader sends a consumer with client.rack to an
    # in-sync replica in its rack, and that follower serves it up to the high watermark.
    c = cluster_factory({"replica.selector.class": "org.apache.kafka.common.replica.RackAwareReplicaSelector"})
    topic = unique("rack")
    replicated_topic(c, topic)
    sent = send(c, 1, topic, "r", 20)
    assert_delivered(sent)
    leader = partition_state(c, 1, topic).leader
    follower = min(ALL - {leader})
    rack = c.nodes[follower].rack
    with c.nodes[leader].connect() as conn:
        err, hw, preferred, records = fetch_v11(conn, topic, 0, rack)
        assert (err, preferred, records) == (0, follower, b""), (err, preferred, len(records))
        # A consumer in the leader's own rack reads from the leader.
        err, _, preferred, records = fetch_v11(conn, topic, 0, c.nodes[leader].rack)
        assert (err, preferred) == (0, -1) and records
    with c.nodes[follower].connect() as conn:
        wait_for(lambda: fetch_v11(conn, topic, 0, rack)[1] == 20, CLIENT_TIMEOUT_S,
                 what="the follower's high watermark")
        err, hw, preferred, records = fetch_v11(conn, topic, 0, rack)
        assert err == 0 and hw == 20 and records
        assert sum(b.record_count for b in kw.parse_record_batches(records)) == 20
    got = consume(c.nodes[leader].bootstrap, topic, **{"client.rack": rack})
    assert values(got) == [f"r-{i}".encode() for i in range(20)]
