"""KIP-848 consumer groups (group.protocol=consumer) with librdkafka 2.16 (confluent-kafka).

In the KIP-848 protocol the coordinator, not a group leader, assigns partitions (server-side
assignors "uniform", the default, and "range", chosen with group.remote.assignor), and members
move to their target assignment through ConsumerGroupHeartbeat without stopping the whole group.
The contract is the classic one: members split the subscribed partitions disjointly and
completely; a member that leaves hands its partitions over at once, one that dies after
group.consumer.session.timeout.ms; committed offsets are where the next member starts, as
AdminClient reads them, across a broker restart; AdminClient describes the group
(ConsumerGroupDescribe) as type CONSUMER with its members and their assignments; a classic group
next to it on the same topic is independent of it.

With group.protocol=consumer, librdkafka refuses session.timeout.ms, heartbeat.interval.ms and
partition.assignment.strategy: the broker decides them. Every test starts its own broker with a
heartbeat interval of 500 ms and a session timeout of 6 s (the `kip848_broker` fixture). A
member killed with SIGKILL runs in a child process: this file run as a script
(`python test_kip848_groups.py member CONFIG_JSON TOPIC...`).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

import confluent_kafka as ck
import pytest
from confluent_kafka import ConsumerGroupState, ConsumerGroupTopicPartitions, ConsumerGroupType

import kafka_wire as kw
from clients import (
    CLIENT_TIMEOUT_S, admin, assert_delivered, create_topic, log_client_error, produce_all, producer, unique,
    wait_for,
)
from groups import LineProcess, close_all, group_listing, group_offsets, split_evenly, wait_until_equal

HEARTBEAT_INTERVAL_MS = 500
SESSION_TIMEOUT_MS = 6000
KIP848_BROKER_OVERRIDES = {
    "group.initial.rebalance.delay.ms": "0",
    "offsets.topic.num.partitions": "4",
    "group.consumer.heartbeat.interval.ms": str(HEARTBEAT_INTERVAL_MS),
    "group.consumer.session.timeout.ms": str(SESSION_TIMEOUT_MS),
}
API_CONSUMER_GROUP_HEARTBEAT = 68
API_CONSUMER_GROUP_DESCRIBE = 69
# librdkafka fails to create a group.protocol=consumer consumer that sets any of these.
CLIENT_KEYS_THE_BROKER_DECIDES = ("session.timeout.ms", "heartbeat.interval.ms", "partition.assignment.strategy")


@pytest.fixture
def kip848_broker(broker_factory):
    """A broker with short KIP-848 heartbeats and sessions that advertises the KIP-848 APIs."""
    b = broker_factory(KIP848_BROKER_OVERRIDES)
    with kw.connect(b.host, b.port) as conn:
        versions = conn.api_versions_v0().api_keys
    for key, name in ((API_CONSUMER_GROUP_HEARTBEAT, "ConsumerGroupHeartbeat"),
                      (API_CONSUMER_GROUP_DESCRIBE, "ConsumerGroupDescribe")):
        assert key in versions, f"the broker does not advertise {name} ({key}) in ApiVersions"
        low, high = versions[key]
        assert low <= 0 and high >= 1, f"{name} versions {low}-{high}, expected 0-1"
    return b


# -- members ---------------------------------------------------------------------------------------------


def kip848_config(bootstrap: str, group: str, **conf) -> dict:
    base = {
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "group.protocol": "consumer",
        "client.id": "kip848-member",
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "fetch.wait.max.ms": 100,
        "error_cb": log_client_error,
    }
    base.update({k.replace("_", "."): v for k, v in conf.items()})
    forbidden = [k for k in CLIENT_KEYS_THE_BROKER_DECIDES if k in base]
    assert not forbidden, f"group.protocol=consumer does not take {forbidden}"
    return base


class Kip848Member:
    """A subscribed confluent-kafka consumer (group.protocol=consumer unless overridden). pump()
    polls once and keeps what came back as (topic, partition, offset, value); with commit_each it
    commits each record synchronously (offset + 1) before taking the next, and keeps refused
    commits in commit_failures. Consumer errors other than partition EOF raise at once."""

    def __init__(self, bootstrap: str, group: str, topics: list[str], config: dict | None = None, **conf):
        self.group = group
        self.config = config if config is not None else kip848_config(bootstrap, group, **conf)
        self.consumer = ck.Consumer(self.config)
        self.consumer.subscribe(topics)
        self.records: list[tuple[str, int, int, bytes | None]] = []
        self.commit_failures: list[str] = []
        self.closed = False

    def pump(self, timeout_s: float = 0.05, max_messages: int = 1000, commit_each: bool = False) -> int:
        got = 0
        for m in self.consumer.consume(num_messages=max_messages, timeout=timeout_s):
            err = m.error()
            if err is not None:
                if err.code() == ck.KafkaError._PARTITION_EOF:
                    continue
                raise AssertionError(f"consumer error in group {self.group}: {err.str()} (code {err.code()})")
            self.records.append((m.topic(), m.partition(), m.offset(), m.value()))
            got += 1
            if commit_each:
                try:
                    self.consumer.commit(message=m, asynchronous=False)
                except ck.KafkaException as e:
                    self.commit_failures.append(f"{m.topic()}-{m.partition()}@{m.offset() + 1}: {e.args[0].str()}")
        return got

    def take(self, count: int, timeout_s: float = CLIENT_TIMEOUT_S, commit_each: bool = False) -> list:
        """Consume exactly `count` more records and return them."""
        start = len(self.records)
        deadline = time.monotonic() + timeout_s
        while len(self.records) - start < count:
            if time.monotonic() >= deadline:
                raise AssertionError(f"consumed {len(self.records) - start} of {count} records in {timeout_s}s")
            self.pump(0.1, max_messages=count - (len(self.records) - start), commit_each=commit_each)
        return self.records[start:]

    def assigned(self) -> frozenset[tuple[str, int]]:
        return frozenset((tp.topic, tp.partition) for tp in self.consumer.assignment())

    def partitions(self) -> frozenset[int]:
        return frozenset(p for _, p in self.assigned())

    def member_id(self) -> str:
        return self.consumer.memberid()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.consumer.close()


def pump_until(members, condition, timeout_s: float = CLIENT_TIMEOUT_S, what: str = "condition", **pump_args):
    members = list(members)

    def step():
        for m in members:
            if not m.closed:
                m.pump(**{"timeout_s": 0.05, **pump_args})
        return condition()

    return wait_for(step, timeout_s, interval_s=0, what=what)


def pump_for(members, seconds: float, **pump_args) -> None:
    """Keep pumping for a fixed window: an observation period, not a wait."""
    members = list(members)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        for m in members:
            if not m.closed:
                m.pump(**{"timeout_s": 0.05, **pump_args})


class ChildKip848Member:
    """A KIP-848 member in a child process (this file run as a script); it prints
    {"member_id", "assignment"} whenever its assignment changes. kill9() ends it without leaving."""

    def __init__(self, bootstrap: str, group: str, topic: str, **conf):
        config = {k: v for k, v in kip848_config(bootstrap, group, **conf).items() if k != "error_cb"}
        self.proc = LineProcess([sys.executable, str(Path(__file__).resolve()), "member", json.dumps(config), topic],
                                json_lines=True)

    def partitions(self) -> frozenset[int]:
        p = self.proc.proc
        if p.poll() is not None and p.returncode != -signal.SIGKILL:
            raise AssertionError(f"child consumer exited with {p.returncode}:\n{self.proc.stderr_tail()}")
        lines = self.proc.lines()
        return frozenset(lines[-1]["assignment"]) if lines else frozenset()

    def member_id(self) -> str | None:
        lines = self.proc.lines()
        return lines[-1]["member_id"] if lines else None

    def kill9(self) -> None:
        if self.proc.proc.poll() is None:
            os.killpg(self.proc.proc.pid, signal.SIGKILL)
        self.proc.proc.wait(timeout=CLIENT_TIMEOUT_S)

    def close(self) -> None:
        self.proc.close()


def _child_member_main(config_json: str, topic: str) -> int:
    c = ck.Consumer(json.loads(config_json))
    c.subscribe([topic])
    last = None
    while True:  # ended by SIGKILL from the test
        c.poll(0.1)
        now = (c.memberid(), sorted(tp.partition for tp in c.assignment()))
        if now != last:
            print(json.dumps({"member_id": now[0], "assignment": now[1]}), flush=True)
            last = now


# -- helpers ------------------------------------------------------------------------------------------------


def produce_spread(bootstrap: str, topic: str, partitions: int, per_partition: int,
                   tag: str, first_offset: int = 0) -> list[tuple[int, int, bytes]]:
    """per_partition records into each partition of a topic whose partitions all end at
    first_offset; (partition, offset, value) of each."""
    records = [{"value": f"{tag}-{p}-{i}".encode(), "partition": p}
               for i in range(per_partition) for p in range(partitions)]
    reports = produce_all(producer(bootstrap, acks="all"), topic, records)
    assert_delivered(reports)
    out = sorted((d.partition, d.offset, d.value) for d in reports)
    for p in range(partitions):
        assert [o for q, o, _ in out if q == p] == list(range(first_offset, first_offset + per_partition))
    return out


def triples(records) -> list[tuple[int, int, bytes]]:
    return sorted((p, o, v) for _, p, o, v in records)


def describe(client, group: str):
    return client.describe_consumer_groups([group], request_timeout=CLIENT_TIMEOUT_S)[group].result(
        timeout=CLIENT_TIMEOUT_S)


def member_view(desc) -> dict[str, tuple[str, frozenset, frozenset | None]]:
    """{member id: (client id, assignment, target assignment)} of a ConsumerGroupDescription."""
    def tps(a):
        return None if a is None else frozenset((tp.topic, tp.partition) for tp in a.topic_partitions)
    return {m.member_id: (m.client_id, tps(m.assignment), tps(m.target_assignment)) for m in desc.members}


def offsets_of(client, group: str, topic: str, partitions) -> dict[int, int]:
    got = group_offsets(client, group, [ck.TopicPartition(topic, p) for p in partitions])
    return {p: o for (t, p), o in got.items() if t == topic}


# -- sharing partitions -----------------------------------------------------------------------------------


def test_two_members_split_six_partitions_and_read_every_record_exactly_once(kip848_broker):
    """Exactly once, asserted. 60 records (10 a partition) are produced and the first member,
    alone, reads and commits them; 240 more are produced and a second member joins while the
    first has that backlog. Both read one record at a time and commit each synchronously before
    the next poll. librdkafka revokes partitions only inside poll, i.e. between a commit and the
    next record, and the new owner starts at the committed offset, so no record may be read
    twice or skipped, and every commit must be accepted (a member commits only partitions it
    still owns)."""
    b = kip848_broker.bootstrap
    topic, group = unique("k848-split"), unique("k848-split-g")
    create_topic(b, topic, partitions=6)
    expected = produce_spread(b, topic, 6, 10, "s1")
    first = Kip848Member(b, group, [topic], client_id="first")
    second = None
    try:
        assert triples(first.take(60, commit_each=True)) == expected
        expected += produce_spread(b, topic, 6, 40, "s2", first_offset=10)
        expected.sort()
        second = Kip848Member(b, group, [topic], client_id="second")
        members = [first, second]
        pump_until(members, lambda: split_evenly([first.partitions(), second.partitions()], 6),
                   what="a 3+3 split of 6 partitions", max_messages=1, commit_each=True)
        pump_until(members, lambda: len(first.records) + len(second.records) >= len(expected),
                   what=f"{len(expected)} records across the two members", max_messages=1, commit_each=True)
        # Every commit landed, and an observation window a few heartbeats long brings nothing
        # more: a record read twice after the rebalance would show up here.
        client = admin(b)
        wait_until_equal(lambda: offsets_of(client, group, topic, range(6)), {p: 50 for p in range(6)},
                         what="committed offsets at the end of every partition")
        read = len(first.records) + len(second.records)
        pump_for(members, 4 * HEARTBEAT_INTERVAL_MS / 1000, max_messages=1, commit_each=True)
        assert len(first.records) + len(second.records) == read, "records delivered again after the end"

        moved = second.partitions()
        print(f"first read {len(first.records)} ({sum(1 for _, p, o, _ in first.records if p in moved and o >= 10)} "
              f"of them after 10 on partitions that moved), second {len(second.records)}")
        assert first.commit_failures == [] and second.commit_failures == [], (
            first.commit_failures[:5], second.commit_failures[:5])
        assert second.records, "the second member read nothing: its partitions were drained before it joined"
        got = triples(first.records + second.records)
        assert len(got) == len(set(got)), f"{len(got) - len(set(got))} records read twice"
        assert got == expected, "every record exactly once across the two members"
        assert first.assigned() | second.assigned() == {(topic, p) for p in range(6)}
        assert not first.assigned() & second.assigned()
        # What the second member read are records of its own (final) partitions only.
        assert {p for _, p, _, _ in second.records} <= second.partitions()
    finally:
        close_all([m for m in (first, second) if m is not None])


def test_when_one_member_closes_the_other_gets_all_six_partitions(kip848_broker):
    b = kip848_broker.bootstrap
    topic, group = unique("k848-leave"), unique("k848-leave-g")
    create_topic(b, topic, partitions=6)
    stays = Kip848Member(b, group, [topic], client_id="stays")
    leaves = Kip848Member(b, group, [topic], client_id="leaves")
    try:
        pump_until([stays, leaves], lambda: split_evenly([stays.partitions(), leaves.partitions()], 6),
                   what="a 3+3 split of 6 partitions")
        leaves.close()  # a heartbeat with member epoch -1: the coordinator reassigns at once
        closed_at = time.monotonic()
        pump_until([stays], lambda: stays.partitions() == frozenset(range(6)),
                   what="the remaining member owning all 6 partitions")
        elapsed = time.monotonic() - closed_at
        assert elapsed < SESSION_TIMEOUT_MS / 1000, f"took {elapsed:.1f}s: the leave was not seen, the session expired"
        desc = wait_for(lambda: (d := describe(admin(b), group)).state == ConsumerGroupState.STABLE
                        and len(d.members) == 1 and d, CLIENT_TIMEOUT_S, interval_s=0.2,
                        what="a stable group of one member")
        assert member_view(desc) == {stays.member_id(): ("stays", stays.assigned(), stays.assigned())}
    finally:
        close_all([stays, leaves])


@pytest.mark.timeout(90)
def test_a_member_killed_with_sigkill_is_removed_after_the_session_timeout(kip848_broker):
    b = kip848_broker.bootstrap
    topic, group = unique("k848-dead"), unique("k848-dead-g")
    create_topic(b, topic, partitions=6)
    survivor = Kip848Member(b, group, [topic], client_id="survivor")
    doomed = ChildKip848Member(b, group, topic, client_id="doomed")
    try:
        pump_until([survivor], lambda: split_evenly([survivor.partitions(), doomed.partitions()], 6),
                   what="a 3+3 split with the member in the child process")
        kept = survivor.partitions()
        doomed_id = doomed.member_id()
        assert doomed_id and doomed_id != survivor.member_id()
        doomed.kill9()  # no leave heartbeat, no more heartbeats
        killed_at = time.monotonic()
        seen = set()

        def owns_all():
            seen.add(survivor.partitions())
            return survivor.partitions() == frozenset(range(6))

        pump_until([survivor], owns_all, timeout_s=15, what="the survivor owning all 6 partitions within 15 s")
        elapsed = time.monotonic() - killed_at
        # The dead member's session (6 s from its last heartbeat, at most 0.5 s before the kill)
        # must expire first: a closed connection is not a leave.
        assert elapsed >= SESSION_TIMEOUT_MS / 1000 - HEARTBEAT_INTERVAL_MS / 1000 - 0.5, (
            f"the dead member was dropped after {elapsed:.1f}s, before its session timed out")
        assert seen <= {kept, frozenset(range(6))}, f"the survivor lost partitions meanwhile: {seen}"
        desc = describe(admin(b), group)
        assert [m.member_id for m in desc.members] == [survivor.member_id()], "the dead member is gone"
    finally:
        close_all([survivor, doomed])


def test_the_range_assignor_gives_each_member_contiguous_ranges_of_each_topic(kip848_broker):
    b = kip848_broker.bootstrap
    t1, t2, group = unique("k848-range-a"), unique("k848-range-b"), unique("k848-range-g")
    create_topic(b, t1, partitions=4)
    create_topic(b, t2, partitions=4)
    one = Kip848Member(b, group, [t1, t2], client_id="one", group_remote_assignor="range")
    two = Kip848Member(b, group, [t1, t2], client_id="two", group_remote_assignor="range")
    members = [one, two]
    try:
        pump_until(members, lambda: len(one.assigned()) == len(two.assigned()) == 4
                   and one.assigned() | two.assigned() == {(t, p) for t in (t1, t2) for p in range(4)},
                   what="4 + 4 of the 8 partitions")
        low, high = sorted(members, key=lambda m: m.member_id())
        assert low.member_id() != high.member_id()
        assert low.assigned() == {(t, p) for t in (t1, t2) for p in (0, 1)}, (low.member_id(), low.assigned())
        assert high.assigned() == {(t, p) for t in (t1, t2) for p in (2, 3)}, (high.member_id(), high.assigned())
        desc = describe(admin(b), group)
        assert desc.partition_assignor == "range"
    finally:
        close_all(members)


# -- committed offsets ----------------------------------------------------------------------------------------


def test_a_new_member_resumes_at_the_committed_offset(kip848_broker):
    b = kip848_broker.bootstrap
    topic, group = unique("k848-resume"), unique("k848-resume-g")
    create_topic(b, topic)
    expected = produce_spread(b, topic, 1, 100, "r")
    a = Kip848Member(b, group, [topic], client_id="a")
    try:
        got = a.take(40)
        assert [(p, o) for _, p, o, _ in got] == [(0, i) for i in range(40)]
        committed = a.consumer.commit(asynchronous=False)  # the stored position: last record + 1
        assert [(tp.topic, tp.partition, tp.offset, tp.error) for tp in committed] == [(topic, 0, 40, None)]
        [tp] = a.consumer.committed([ck.TopicPartition(topic, 0)], timeout=CLIENT_TIMEOUT_S)
        assert tp.offset == 40
    finally:
        a.close()

    client = admin(b)
    assert offsets_of(client, group, topic, [0]) == {0: 40}
    assert group_offsets(client, group) == {(topic, 0): 40}, "all the group's offsets, unfiltered"
    resumed = Kip848Member(b, group, [topic], client_id="b")
    try:
        assert triples(resumed.take(60)) == expected[40:]
    finally:
        resumed.close()
    assert offsets_of(client, group, topic, [0]) == {0: 40}, "reading does not commit without auto commit"


def test_committed_offsets_of_a_kip848_group_survive_a_broker_restart(kip848_broker):
    br = kip848_broker
    topic, group = unique("k848-durable"), unique("k848-durable-g")
    create_topic(br.bootstrap, topic, partitions=2)
    expected = produce_spread(br.bootstrap, topic, 2, 50, "d")
    m = Kip848Member(br.bootstrap, group, [topic], client_id="before")
    try:
        pump_until([m], lambda: m.partitions() == frozenset({0, 1}), what="the member owning both partitions")
        done = m.consumer.commit(offsets=[ck.TopicPartition(topic, 0, 40, metadata="at-40"),
                                          ck.TopicPartition(topic, 1, 7)], asynchronous=False)
        assert [(tp.partition, tp.offset, tp.error) for tp in done] == [(0, 40, None), (1, 7, None)]
    finally:
        m.close()
    assert offsets_of(admin(br.bootstrap), group, topic, [0, 1]) == {0: 40, 1: 7}

    br.restart()
    client = admin(br.bootstrap)
    wait_until_equal(lambda: offsets_of(client, group, topic, [0, 1]), {0: 40, 1: 7},
                     what="committed offsets after the restart", exceptions=(ck.KafkaException, AssertionError))
    listing = wait_for(lambda: group_listing(client, group), CLIENT_TIMEOUT_S, interval_s=0.2,
                       what="the group listed after the restart")
    assert listing.type == ConsumerGroupType.CONSUMER, listing.type

    after = Kip848Member(br.bootstrap, group, [topic], client_id="after")
    try:
        assert triples(after.take(10 + 43)) == [r for r in expected if r[1] >= (40 if r[0] == 0 else 7)]
    finally:
        after.close()


# -- the group from outside ---------------------------------------------------------------------------------


def test_describe_and_list_show_a_stable_consumer_group_with_its_members_and_assignments(kip848_broker):
    b = kip848_broker.bootstrap
    topic, group = unique("k848-describe"), unique("k848-describe-g")
    create_topic(b, topic, partitions=6)
    one = Kip848Member(b, group, [topic], client_id="describe-one")
    two = Kip848Member(b, group, [topic], client_id="describe-two")
    members = [one, two]
    client = admin(b)
    try:
        pump_until(members, lambda: split_evenly([one.partitions(), two.partitions()], 6),
                   what="a 3+3 split of 6 partitions")
        expected = {m.member_id(): (m.config["client.id"], m.assigned(), m.assigned()) for m in members}

        def described():
            for m in members:
                m.pump(0.05)
            d = describe(client, group)
            return d if d.state == ConsumerGroupState.STABLE and member_view(d) == expected else None

        try:
            desc = wait_for(described, CLIENT_TIMEOUT_S, interval_s=0.1, what="a stable description of both members")
        except AssertionError:
            d = describe(client, group)
            raise AssertionError(f"described {d.state}, {member_view(d)}; members see {expected}") from None
        assert desc.group_id == group
        assert desc.type == ConsumerGroupType.CONSUMER
        assert desc.is_simple_consumer_group is False
        assert desc.partition_assignor == "uniform", "the default server assignor"
        assert desc.coordinator.id == kip848_broker.node_id
        assert all(m.host for m in desc.members), [m.host for m in desc.members]

        listing = group_listing(client, group)
        assert listing is not None, "list_consumer_groups does not list the group"
        assert (listing.state, listing.type, listing.is_simple_consumer_group) == (
            ConsumerGroupState.STABLE, ConsumerGroupType.CONSUMER, False)
    finally:
        close_all(members)


def test_a_kip848_group_and_a_classic_group_on_one_topic_each_receive_every_record(kip848_broker):
    b = kip848_broker.bootstrap
    topic = unique("k848-side")
    new_group, classic_group = unique("k848-side-consumer"), unique("k848-side-classic")
    create_topic(b, topic, partitions=3)
    expected = produce_spread(b, topic, 3, 40, "side")
    new = Kip848Member(b, new_group, [topic], client_id="consumer-protocol")
    classic = Kip848Member(b, classic_group, [topic], config={
        "bootstrap.servers": b, "group.id": classic_group, "client.id": "classic-protocol",
        "enable.auto.commit": False, "auto.offset.reset": "earliest", "fetch.wait.max.ms": 100,
        "session.timeout.ms": 10000, "heartbeat.interval.ms": 500, "error_cb": log_client_error,
    })
    members = [new, classic]
    try:
        pump_until(members, lambda: len(new.records) >= len(expected) and len(classic.records) >= len(expected),
                   what=f"{len(expected)} records in each group")
        assert triples(new.records) == expected
        assert triples(classic.records) == expected
        assert new.partitions() == classic.partitions() == frozenset(range(3))
        client = admin(b)
        types = {g: group_listing(client, g).type for g in (new_group, classic_group)}
        assert types == {new_group: ConsumerGroupType.CONSUMER, classic_group: ConsumerGroupType.CLASSIC}
        new.consumer.commit(asynchronous=False)
        classic.consumer.commit(asynchronous=False)
        assert offsets_of(client, new_group, topic, range(3)) == {p: 40 for p in range(3)}
        assert offsets_of(client, classic_group, topic, range(3)) == {p: 40 for p in range(3)}
    finally:
        close_all(members)


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "member":
        sys.exit(_child_member_main(sys.argv[2], sys.argv[3]))
    sys.exit(f"usage: {sys.argv[0]} member CONFIG_JSON TOPIC")
