"""Consumer groups (the classic protocol) with librdkafka, kafka-python, kcat -G and kafkajs.

Kafka's contract: members of one group split the subscribed partitions between them, disjointly
and completely, and the survivors take over a member's partitions when it leaves (LeaveGroup, at
once) or dies (after session.timeout.ms, not before); separate groups each read everything.
Committed offsets are where the next member of the group starts, whatever client committed them,
with their metadata string, across a graceful restart and a kill -9; with no committed offset,
auto.offset.reset decides (earliest, latest, or an error). A static member (group.instance.id)
that comes back within its session timeout gets its partitions back without a rebalance. The
coordinator answers with Kafka's error codes: UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION,
REBALANCE_IN_PROGRESS, INVALID_SESSION_TIMEOUT, NON_EMPTY_GROUP, GROUP_ID_NOT_FOUND,
GROUP_SUBSCRIBED_TO_TOPIC. Under churn, no record is lost (at-least-once) and committed offsets
never move backwards.

Every test starts its own broker with group.initial.rebalance.delay.ms=0 (the `group_broker`
fixture); helpers are in groups.py.
"""

from __future__ import annotations

import random
import shutil
import threading
import time
from pathlib import Path

import confluent_kafka as ck
import pytest
from confluent_kafka import ConsumerGroupState, ConsumerGroupTopicPartitions

import kafka_wire as kw
from clients import (
    CLIENT_TIMEOUT_S, admin, assert_delivered, create_topic, kafka_error, kp_admin, produce_all, producer, unique,
    wait_for,
)
from groups import (
    GROUP_BROKER_OVERRIDES, ChildMember, KpMember, LineProcess, Member, close_all, committed_offsets,
    committed_with_metadata, group_listing, group_offsets, group_state, member_config, pump_for, pump_until,
    split_evenly, wait_committed, wait_until_equal,
)

NODE_DIR = Path(__file__).resolve().parent / "node"

# The group APIs every test here needs, and the admin ones some of them add.
GROUP_APIS = {
    kw.API_FIND_COORDINATOR: "FindCoordinator", kw.API_JOIN_GROUP: "JoinGroup", kw.API_SYNC_GROUP: "SyncGroup",
    kw.API_HEARTBEAT: "Heartbeat", kw.API_LEAVE_GROUP: "LeaveGroup", kw.API_OFFSET_COMMIT: "OffsetCommit",
    kw.API_OFFSET_FETCH: "OffsetFetch",
}
ADMIN_GROUP_APIS = {
    kw.API_DESCRIBE_GROUPS: "DescribeGroups", kw.API_LIST_GROUPS: "ListGroups", kw.API_DELETE_GROUPS: "DeleteGroups",
}


def assert_advertises(broker, apis: dict[int, str]) -> None:
    """Fail at once, naming what is missing, when the broker does not offer an API (rather than
    letting the clients time out retrying it)."""
    with kw.connect(broker.host, broker.port) as conn:
        versions = conn.api_versions_v0()
    missing = [f"{name} ({key})" for key, name in apis.items() if key not in versions.api_keys]
    assert not missing, f"the broker does not advertise {', '.join(missing)} in ApiVersions"


@pytest.fixture
def group_broker(broker_factory):
    b = broker_factory(GROUP_BROKER_OVERRIDES)
    assert_advertises(b, GROUP_APIS)
    return b


def produce_spread(bootstrap: str, topic: str, partitions: int, per_partition: int,
                   tag: str) -> list[tuple[int, int, bytes]]:
    """per_partition records into each partition of an empty topic, values '<tag>-<p>-<i>';
    returns (partition, offset, value) of each."""
    records = [{"value": f"{tag}-{p}-{i}".encode(), "partition": p}
               for i in range(per_partition) for p in range(partitions)]
    reports = produce_all(producer(bootstrap, acks="all"), topic, records)
    assert_delivered(reports)
    out = [(d.partition, d.offset, d.value) for d in reports]
    for p in range(partitions):
        assert sorted(o for q, o, _ in out if q == p) == list(range(per_partition))
    return out


def triples(records) -> list[tuple[int, int, bytes]]:
    """(partition, offset, value) of Member/KpMember records, sorted."""
    return sorted((p, o, v) for _, p, o, v in records)


# -- sharing partitions -------------------------------------------------------------------------------


@pytest.mark.parametrize("strategy", ["range", "roundrobin", "cooperative-sticky"])
def test_two_members_split_six_partitions_and_the_survivor_takes_all_when_one_leaves(group_broker, strategy):
    b = group_broker.bootstrap
    topic, group = unique("split"), unique("split-g")
    create_topic(b, topic, partitions=6)
    conf = {"partition.assignment.strategy": strategy}
    first = Member(b, group, [topic], client_id="first", **conf)
    second = Member(b, group, [topic], client_id="second", **conf)
    try:
        pump_until([first, second], lambda: split_evenly([first.partitions(), second.partitions()], 6),
                   what=f"a 3+3 split of 6 partitions ({strategy})")
        assert first.assigned() | second.assigned() == {(topic, p) for p in range(6)}
        assert not first.assigned() & second.assigned()
        assert len(first.partitions()) == len(second.partitions()) == 3

        second.close()  # LeaveGroup: the coordinator rebalances at once
        pump_until([first], lambda: first.partitions() == frozenset(range(6)),
                   what=f"the remaining member owning all 6 partitions ({strategy})")
        assert first.assigned() == {(topic, p) for p in range(6)}
    finally:
        close_all([first, second])


def test_members_of_two_groups_each_receive_every_record(group_broker):
    b = group_broker.bootstrap
    topic = unique("fanout")
    create_topic(b, topic, partitions=3)
    expected = sorted(produce_spread(b, topic, 3, 20, "fan"))
    one = Member(b, unique("fan-a"), [topic])
    two = Member(b, unique("fan-b"), [topic])
    try:
        pump_until([one, two], lambda: len(one.records) >= 60 and len(two.records) >= 60,
                   what="60 records in each group")
        assert triples(one.records) == expected
        assert triples(two.records) == expected
        assert one.partitions() == two.partitions() == frozenset(range(3))
    finally:
        close_all([one, two])


# -- committed offsets ----------------------------------------------------------------------------------


def test_a_synchronous_manual_commit_is_where_the_next_member_resumes(group_broker):
    b = group_broker.bootstrap
    topic, group = unique("manual"), unique("manual-g")
    create_topic(b, topic)
    expected = produce_spread(b, topic, 1, 100, "m")

    a = Member(b, group, [topic], client_id="a")
    try:
        got = a.take(40)
        assert [(p, o) for _, p, o, _ in got] == [(0, i) for i in range(40)]
        committed = a.consumer.commit(asynchronous=False)  # the stored offsets: last delivered + 1
        assert [(tp.topic, tp.partition, tp.offset, tp.error) for tp in committed] == [(topic, 0, 40, None)]
        [tp] = a.consumer.committed([ck.TopicPartition(topic, 0)], timeout=CLIENT_TIMEOUT_S)
        assert tp.offset == 40
    finally:
        a.close()

    assert committed_offsets(b, group, topic, [0]) == {0: 40}
    b2 = Member(b, group, [topic], client_id="b")
    try:
        rest = b2.take(60)
        assert triples(rest) == expected[40:]
        [tp] = b2.consumer.committed([ck.TopicPartition(topic, 0)], timeout=CLIENT_TIMEOUT_S)
        assert tp.offset == 40, "reading does not commit without enable.auto.commit"
    finally:
        b2.close()
    assert committed_offsets(b, group, topic, [0]) == {0: 40}


def test_commit_metadata_round_trips_through_each_client(group_broker):
    from kafka import KafkaConsumer, TopicPartition
    from kafka.structs import OffsetAndMetadata
    b = group_broker
    topic, group = unique("meta"), unique("meta-g")
    create_topic(b.bootstrap, topic, partitions=3)
    produce_spread(b.bootstrap, topic, 3, 10, "md")

    # Commits from consumers that never join (generation -1): Kafka takes them while the group is empty.
    c = ck.Consumer(member_config(b.bootstrap, group))
    try:
        done = c.commit(offsets=[ck.TopicPartition(topic, 0, 7, metadata="checkpoint-7"),
                                 ck.TopicPartition(topic, 1, 3)], asynchronous=False)
        assert [(tp.partition, tp.offset, tp.error) for tp in done] == [(0, 7, None), (1, 3, None)]
    finally:
        c.close()
    # librdkafka shows Kafka's "no metadata" (the empty string) as None.
    assert committed_with_metadata(b.bootstrap, group, topic, [0, 1]) == {0: (7, "checkpoint-7"), 1: (3, None)}

    kp = KafkaConsumer(bootstrap_servers=b.bootstrap, group_id=group, enable_auto_commit=False,
                       request_timeout_ms=30000)
    try:
        tp0, tp1, tp2 = (TopicPartition(topic, p) for p in range(3))
        offset, metadata, _ = kp.committed(tp0, metadata=True)
        # confluent-kafka sends the C string's terminating NUL as part of the metadata.
        assert (offset, metadata.rstrip("\x00")) == (7, "checkpoint-7")
        assert kp.committed(tp1, metadata=True)[:2] == (3, "")
        assert kp.committed(tp2) is None
        kp.commit({tp2: OffsetAndMetadata(9, "from kafka-python", -1)})
        assert kp.committed(tp2, metadata=True)[:2] == (9, "from kafka-python")
    finally:
        kp.close()
    # (librdkafka's binding reads metadata as a NUL-terminated string, so it is not asked to read
    # what kafka-python wrote; the wire shows it as stored.)
    with kw.connect(b.host, b.port) as conn:
        assert kw.offset_fetch_v1(conn, group, {topic: [1, 2]}) == {
            (topic, 1): kw.OffsetFetchPartition(3, "", 0), (topic, 2): kw.OffsetFetchPartition(9, "from kafka-python", 0)}


def test_auto_commit_commits_what_was_consumed(group_broker):
    b = group_broker.bootstrap
    topic, group = unique("auto"), unique("auto-g")
    create_topic(b, topic, partitions=2)
    produce_spread(b, topic, 2, 50, "ac")
    client = admin(b)
    m = Member(b, group, [topic], enable_auto_commit=True, auto_commit_interval_ms=200)
    try:
        pump_until([m], lambda: len(m.records) >= 100, what="all 100 records")
        assert len(m.records) == 100
        # The periodic commit catches up while the member is still running ...
        wait_until_equal(lambda: (m.pump(0.05), group_offsets(client, group))[1], {(topic, 0): 50, (topic, 1): 50},
                         what="auto-committed offsets", exceptions=(ck.KafkaException,))
    finally:
        m.close()
    # ... and closing commits the final position (nothing more was consumed).
    assert committed_offsets(b, group, topic, [0, 1]) == {0: 50, 1: 50}


# -- auto.offset.reset ----------------------------------------------------------------------------------


def test_auto_offset_reset_earliest_starts_a_new_group_at_the_first_record(group_broker):
    b = group_broker.bootstrap
    topic = unique("earliest")
    create_topic(b, topic)
    expected = produce_spread(b, topic, 1, 10, "e")
    m = Member(b, unique("earliest-g"), [topic], auto_offset_reset="earliest")
    try:
        assert triples(m.take(10)) == expected
    finally:
        m.close()


def test_auto_offset_reset_latest_reads_only_records_produced_after_assignment(group_broker):
    b = group_broker.bootstrap
    topic = unique("latest")
    create_topic(b, topic)
    produce_spread(b, topic, 1, 10, "old")
    m = Member(b, unique("latest-g"), [topic], auto_offset_reset="latest", enable_partition_eof=True)
    try:
        # The EOF event means the position was reset to the end (10) and fetched from there.
        pump_until([m], lambda: (topic, 0) in m.eofs, what="end of partition after the reset to latest")
        assert m.records == []
        reports = produce_all(producer(b, acks="all"), topic, [{"value": f"new-{i}".encode()} for i in range(5)])
        assert_delivered(reports)
        assert [(p, o, v) for _, p, o, v in m.take(5)] == [(0, 10 + i, f"new-{i}".encode()) for i in range(5)]
    finally:
        m.close()


def test_auto_offset_reset_error_reports_no_offset_to_a_librdkafka_member(group_broker):
    b = group_broker.bootstrap
    topic = unique("reset-error")
    create_topic(b, topic)
    produce_spread(b, topic, 1, 3, "x")
    m = Member(b, unique("reset-error-g"), [topic], auto_offset_reset="error", raise_errors=False)
    try:
        pump_until([m], lambda: m.errors, what="a consumer error for the missing offset")
        assert m.errors[0].code() == ck.KafkaError._AUTO_OFFSET_RESET, m.errors[0].str()
        assert m.records == []
    finally:
        m.close()


def test_auto_offset_reset_none_raises_no_offset_for_partition_in_kafka_python(group_broker):
    from kafka import KafkaConsumer, TopicPartition
    from kafka.errors import NoOffsetForPartitionError
    b = group_broker.bootstrap
    topic = unique("reset-none")
    create_topic(b, topic)
    produce_spread(b, topic, 1, 3, "x")
    c = KafkaConsumer(bootstrap_servers=b, group_id=unique("reset-none-g"), auto_offset_reset="none",
                      enable_auto_commit=False, session_timeout_ms=10000, heartbeat_interval_ms=500,
                      request_timeout_ms=30000)
    try:
        c.subscribe([topic])
        deadline = time.monotonic() + CLIENT_TIMEOUT_S
        with pytest.raises(NoOffsetForPartitionError) as raised:
            while time.monotonic() < deadline:
                assert not c.poll(timeout_ms=200), "records without a committed offset or a reset policy"
        assert TopicPartition(topic, 0) in raised.value.args[0]
    finally:
        c.close()


# -- durability of committed offsets ---------------------------------------------------------------------


def test_committed_offsets_survive_a_graceful_restart_and_a_kill_9(group_broker):
    b = group_broker
    topic, group = unique("durable-offsets"), unique("durable-g")
    create_topic(b.bootstrap, topic, partitions=2)
    records = produce_spread(b.bootstrap, topic, 2, 50, "d")

    def commit(offsets: dict[int, int]) -> None:
        c = ck.Consumer(member_config(b.bootstrap, group))
        try:
            done = c.commit(offsets=[ck.TopicPartition(topic, p, o, metadata=f"at-{o}") for p, o in offsets.items()],
                            asynchronous=False)
            assert all(tp.error is None for tp in done), done
        finally:
            c.close()

    commit({0: 40, 1: 7})
    b.restart()
    wait_committed(b.bootstrap, group, topic, {0: 40, 1: 7})
    assert committed_with_metadata(b.bootstrap, group, topic, [0, 1]) == {0: (40, "at-40"), 1: (7, "at-7")}

    commit({0: 45, 1: 20})
    b.kill9()
    b.start()
    wait_committed(b.bootstrap, group, topic, {0: 45, 1: 20})

    # A member of the group resumes exactly there.
    m = Member(b.bootstrap, group, [topic])
    try:
        got = m.take(5 + 30)
        assert triples(got) == sorted(r for r in records if r[1] >= (45 if r[0] == 0 else 20))
    finally:
        m.close()


def test_committed_offsets_live_in_the_internal_consumer_offsets_topic(group_broker):
    b = group_broker.bootstrap
    topic, group = unique("internal"), unique("internal-g")
    create_topic(b, topic)
    c = ck.Consumer(member_config(b, group))
    try:
        c.commit(offsets=[ck.TopicPartition(topic, 0, 0)], asynchronous=False)
    finally:
        c.close()
    client = kp_admin(b)
    try:
        [t] = client.describe_topics(["__consumer_offsets"])
    finally:
        client.close()
    assert t["error_code"] == 0
    assert t["is_internal"] is True
    assert sorted(p["partition_index"] for p in t["partitions"]) == [0, 1, 2, 3], "offsets.topic.num.partitions=4"


# -- membership over time ---------------------------------------------------------------------------------


def test_a_static_member_back_within_its_session_timeout_gets_its_partitions_without_a_rebalance(group_broker):
    b = group_broker.bootstrap
    topic, group = unique("static"), unique("static-g")
    create_topic(b, topic, partitions=4)
    conf = {"session.timeout.ms": 10000, "partition.assignment.strategy": "range"}
    a = Member(b, group, [topic], client_id="static-a", group_instance_id="instance-a", **conf)
    other = Member(b, group, [topic], client_id="static-b", group_instance_id="instance-b", **conf)
    members = [a, other]
    try:
        pump_until(members, lambda: split_evenly([a.partitions(), other.partitions()], 4),
                   what="a 2+2 split between the static members")
        a_parts, other_parts = a.partitions(), other.partitions()
        old_member_id = a.consumer.memberid()

        def other_unchanged():
            assert other.partitions() == other_parts, "the other member was rebalanced"

        # KIP-345: a static member sends no LeaveGroup when it closes, so the group waits for it
        # until its session times out; the same group.instance.id coming back replaces it.
        a.close()
        closed_at = time.monotonic()
        client = admin(b)
        desc = client.describe_consumer_groups([group], request_timeout=CLIENT_TIMEOUT_S)[group].result(
            timeout=CLIENT_TIMEOUT_S)
        assert old_member_id in {mb.member_id for mb in desc.members}, "the closed static member left the group"
        assert desc.state == ConsumerGroupState.STABLE
        back = Member(b, group, [topic], client_id="static-a2", group_instance_id="instance-a", **conf)
        members.append(back)
        pump_until([back, other], lambda: (other_unchanged(), back.partitions() == a_parts)[1],
                   what="the restarted static member getting its partitions back")
        assert time.monotonic() - closed_at < 10, "it came back after the session timeout"
        # Stay and watch for a rebalance a few heartbeats long.
        pump_for([back, other], 3.0, check=lambda: (other_unchanged(), assert_partitions(back, a_parts)))

        desc = client.describe_consumer_groups([group], request_timeout=CLIENT_TIMEOUT_S)[group].result(
            timeout=CLIENT_TIMEOUT_S)
        assert desc.state == ConsumerGroupState.STABLE
        assert sorted(mb.group_instance_id for mb in desc.members) == ["instance-a", "instance-b"]
        by_instance = {mb.group_instance_id: mb for mb in desc.members}
        assert by_instance["instance-a"].member_id == back.consumer.memberid() != old_member_id
        assert {(tp.topic, tp.partition) for tp in by_instance["instance-a"].assignment.topic_partitions} == {
            (topic, p) for p in a_parts}
        # Kafka replaces only the member id of a returning static member and keeps the rest of the
        # old member, client id included (ClassicGroup.replaceStaticMember).
        assert {i: mb.client_id for i, mb in by_instance.items()} == {"instance-a": "static-a", "instance-b": "static-b"}
    finally:
        close_all(members)


def assert_partitions(member: Member, expected: frozenset[int]) -> None:
    assert member.partitions() == expected, f"{member.partitions()} != {expected}"


def test_a_member_that_dies_without_leaving_loses_its_partitions_after_the_session_timeout(group_broker):
    b = group_broker.bootstrap
    topic, group = unique("dead"), unique("dead-g")
    create_topic(b, topic, partitions=4)
    conf = {"session.timeout.ms": 6000, "heartbeat.interval.ms": 1000}
    survivor = Member(b, group, [topic], client_id="survivor", **conf)
    doomed = ChildMember(b, group, topic, client_id="doomed", **conf)
    try:
        pump_until([survivor], lambda: split_evenly([survivor.partitions(), doomed.partitions()], 4),
                   what="a 2+2 split with the member in the child process")
        kept = survivor.partitions()
        doomed.kill9()  # no LeaveGroup, no more heartbeats
        killed_at = time.monotonic()
        seen = set()

        def owns_all():
            seen.add(survivor.partitions())
            return survivor.partitions() == frozenset(range(4))

        pump_until([survivor], owns_all, timeout_s=20, what="the survivor owning all 4 partitions")
        elapsed = time.monotonic() - killed_at
        # The coordinator notices only when the dead member's session (6 s after its last
        # heartbeat, at most 1 s before the kill) expires: not on the closed connection.
        assert elapsed >= 4.0, f"the dead member was dropped after {elapsed:.1f}s, before its session timed out"
        assert seen <= {kept, frozenset(), frozenset(range(4))}, seen
    finally:
        close_all([survivor, doomed])


# -- kafka-python and kcat ------------------------------------------------------------------------------------


def test_kafka_python_members_share_partitions_commit_and_a_new_member_resumes(group_broker):
    from kafka import TopicPartition
    b = group_broker.bootstrap
    topic, group = unique("kp-group"), unique("kp-g")
    create_topic(b, topic, partitions=4)
    produce_spread(b, topic, 4, 10, "kp")
    k1 = KpMember(b, group, [topic], client_id="kp-1")
    k2 = KpMember(b, group, [topic], client_id="kp-2")
    try:
        wait_for(lambda: split_evenly([k1.partitions(), k2.partitions()], 4), CLIENT_TIMEOUT_S,
                 what="a 2+2 split between the kafka-python members")
        assert not k1.assignment() & k2.assignment()
        assert k1.assignment() | k2.assignment() == {(topic, p) for p in range(4)}
        for k in (k1, k2):
            def positions(c, k=k):
                return {tp.partition: c.position(tp) for tp in c.assignment()}
            wait_until_equal(lambda k=k: k.call(positions), {p: 10 for p in k.partitions()},
                             what="each member at the end of its partitions")
            k.call(lambda c: c.commit())
    finally:
        close_all([k1, k2])
    assert committed_offsets(b, group, topic, range(4)) == {p: 10 for p in range(4)}

    more = produce_all(producer(b, acks="all"), topic,
                       [{"value": f"kp-late-{p}-{i}".encode(), "partition": p} for i in range(5) for p in range(4)])
    assert_delivered(more)
    k3 = KpMember(b, group, [topic], client_id="kp-3")
    try:
        assert k3.call(lambda c: [c.committed(TopicPartition(topic, p)) for p in range(4)]) == [10] * 4
        wait_for(lambda: len(k3.snapshot()) >= 20, CLIENT_TIMEOUT_S, what="the 20 records after the commit")
        assert triples(k3.snapshot()) == sorted((d.partition, d.offset, d.value) for d in more)
        assert {o for _, _, o, _ in k3.snapshot()} == set(range(10, 15))
    finally:
        k3.close()


def test_kcat_balanced_consumer_reads_every_record_of_a_three_partition_topic(group_broker):
    b = group_broker.bootstrap
    topic, group = unique("kcat-group"), unique("kcat-g")
    create_topic(b, topic, partitions=3)
    expected = sorted(f"{p} {o} {v.decode()}" for p, o, v in produce_spread(b, topic, 3, 10, "kc"))
    exe = shutil.which("kcat")
    assert exe, "kcat is not installed (scripts/install-deps installs it)"
    kc = LineProcess([exe, "-b", b, "-G", group, "-o", "beginning", "-f", "%p %o %s\n", "-u", "-c", "30", topic])
    try:
        wait_for(lambda: len(kc.lines()) >= 30, 60, what=f"30 records from kcat -G (stderr: {kc.stderr_tail()})")
        assert kc.wait(CLIENT_TIMEOUT_S) == 0, kc.stderr_tail()  # -c 30: it closes the consumer and exits
        assert sorted(kc.lines()) == expected
    finally:
        kc.close()
    # librdkafka commits the consumed offsets when the consumer closes (enable.auto.commit).
    assert committed_offsets(b, group, topic, range(3)) == {0: 10, 1: 10, 2: 10}


# -- administration ---------------------------------------------------------------------------------------------


def partition_errors(result) -> dict[tuple[str, int], int | None]:
    """{(topic, partition): error code or None} of an alter_consumer_group_offsets result, or the
    group-level error for every partition when the future failed as a whole."""
    return {(tp.topic, tp.partition): (tp.error.code() if tp.error is not None else None)
            for tp in result.topic_partitions}


def test_admin_lists_describes_alters_and_deletes_a_group(group_broker):
    b = group_broker
    assert_advertises(b, ADMIN_GROUP_APIS)
    topic, group = unique("adm"), unique("adm-g")
    create_topic(b.bootstrap, topic, partitions=2)
    produce_spread(b.bootstrap, topic, 2, 10, "adm")
    client = admin(b.bootstrap)
    m = Member(b.bootstrap, group, [topic], client_id="admin-probe", partition_assignment_strategy="range")
    try:
        pump_until([m], lambda: m.partitions() == frozenset({0, 1}), what="the member owning both partitions")
        done = m.consumer.commit(offsets=[ck.TopicPartition(topic, 0, 3), ck.TopicPartition(topic, 1, 5)],
                                 asynchronous=False)
        assert all(tp.error is None for tp in done), done

        wait_until_equal(lambda: group_state(client, group), ConsumerGroupState.STABLE, what=f"state of {group}",
                         exceptions=(ck.KafkaException,))
        listing = group_listing(client, group)
        assert listing.is_simple_consumer_group is False  # protocol type "consumer"
        stable = client.list_consumer_groups(states={ConsumerGroupState.STABLE},
                                             request_timeout=CLIENT_TIMEOUT_S).result(timeout=CLIENT_TIMEOUT_S)
        assert group in {g.group_id for g in stable.valid}
        empty = client.list_consumer_groups(states={ConsumerGroupState.EMPTY},
                                            request_timeout=CLIENT_TIMEOUT_S).result(timeout=CLIENT_TIMEOUT_S)
        assert group not in {g.group_id for g in empty.valid}

        desc = client.describe_consumer_groups([group], request_timeout=CLIENT_TIMEOUT_S)[group].result(
            timeout=CLIENT_TIMEOUT_S)
        assert desc.group_id == group
        assert desc.state == ConsumerGroupState.STABLE
        assert desc.is_simple_consumer_group is False
        assert desc.partition_assignor == "range"
        assert desc.coordinator.id == b.node_id
        [member] = desc.members
        assert member.member_id == m.consumer.memberid()
        assert member.client_id == "admin-probe"
        assert member.host == f"/{b.host}", "Kafka reports the client address as InetAddress.toString()"
        assert member.group_instance_id is None
        assert {(tp.topic, tp.partition) for tp in member.assignment.topic_partitions} == m.assigned()

        kp = kp_admin(b.bootstrap)
        try:
            raw = kp.describe_groups([group])[group]
        finally:
            kp.close()
        assert (raw["error"], raw["group_state"], raw["protocol_type"], raw["protocol_data"]) == (
            None, "Stable", "consumer", "range")
        assert [mb["client_id"] for mb in raw["members"]] == ["admin-probe"]

        assert group_offsets(client, group) == {(topic, 0): 3, (topic, 1): 5}
        assert group_offsets(client, group, [ck.TopicPartition(topic, 1)]) == {(topic, 1): 5}

        # Offsets of a group with members can only be committed by its members.
        altered = client.alter_consumer_group_offsets(
            [ConsumerGroupTopicPartitions(group, [ck.TopicPartition(topic, 0, 1)])],
            request_timeout=CLIENT_TIMEOUT_S)[group]
        try:
            errors = partition_errors(altered.result(timeout=CLIENT_TIMEOUT_S))
        except ck.KafkaException as e:
            errors = {(topic, 0): kafka_error(e).code()}
        assert errors == {(topic, 0): ck.KafkaError.UNKNOWN_MEMBER_ID}

        busy = client.delete_consumer_groups([group], request_timeout=CLIENT_TIMEOUT_S)[group]
        with pytest.raises(ck.KafkaException) as refused:
            busy.result(timeout=CLIENT_TIMEOUT_S)
        assert kafka_error(refused.value).code() == ck.KafkaError.NON_EMPTY_GROUP
    finally:
        m.close()

    wait_until_equal(lambda: group_state(client, group), ConsumerGroupState.EMPTY, what=f"state of {group} after leave",
                     exceptions=(ck.KafkaException,))
    desc = client.describe_consumer_groups([group], request_timeout=CLIENT_TIMEOUT_S)[group].result(
        timeout=CLIENT_TIMEOUT_S)
    assert (desc.state, desc.members) == (ConsumerGroupState.EMPTY, [])
    assert group_offsets(client, group) == {(topic, 0): 3, (topic, 1): 5}, "offsets outlive the members"

    altered = client.alter_consumer_group_offsets(
        [ConsumerGroupTopicPartitions(group, [ck.TopicPartition(topic, 0, 1), ck.TopicPartition(topic, 1, 9)])],
        request_timeout=CLIENT_TIMEOUT_S)[group].result(timeout=CLIENT_TIMEOUT_S)
    assert partition_errors(altered) == {(topic, 0): None, (topic, 1): None}
    assert group_offsets(client, group) == {(topic, 0): 1, (topic, 1): 9}

    client.delete_consumer_groups([group], request_timeout=CLIENT_TIMEOUT_S)[group].result(timeout=CLIENT_TIMEOUT_S)
    assert group_listing(client, group) is None
    assert group_offsets(client, group) == {}, "deleting a group deletes its offsets"
    again = client.delete_consumer_groups([group], request_timeout=CLIENT_TIMEOUT_S)[group]
    with pytest.raises(ck.KafkaException) as missing:
        again.result(timeout=CLIENT_TIMEOUT_S)
    assert kafka_error(missing.value).code() == ck.KafkaError.GROUP_ID_NOT_FOUND


def test_offset_delete_refuses_subscribed_topics_of_an_active_group_and_deletes_the_rest(group_broker):
    from kafka import TopicPartition
    b = group_broker
    assert_advertises(b, {kw.API_OFFSET_DELETE: "OffsetDelete", kw.API_LIST_GROUPS: "ListGroups"})
    subscribed, other, group = unique("od-sub"), unique("od-other"), unique("od-g")
    create_topic(b.bootstrap, subscribed, partitions=2)
    create_topic(b.bootstrap, other)
    produce_spread(b.bootstrap, subscribed, 2, 10, "od")
    client = admin(b.bootstrap)
    # Offsets committed while the group has no members (as an admin would), then a member subscribes
    # to one of the two topics.
    client.alter_consumer_group_offsets([ConsumerGroupTopicPartitions(group, [
        ck.TopicPartition(subscribed, 0, 4), ck.TopicPartition(subscribed, 1, 6), ck.TopicPartition(other, 0, 2)])],
        request_timeout=CLIENT_TIMEOUT_S)[group].result(timeout=CLIENT_TIMEOUT_S)
    everything = {subscribed: [0, 1], other: [0]}

    def fetched(conn) -> dict[tuple[str, int], int]:
        got = kw.offset_fetch_v1(conn, group, everything)
        assert all(v.error_code == 0 for v in got.values()), got
        return {k: v.committed_offset for k, v in got.items()}

    m = Member(b.bootstrap, group, [subscribed])
    try:
        pump_until([m], lambda: m.partitions() == frozenset({0, 1}), what="the member owning both partitions")
        with kw.connect(b.host, b.port) as conn:
            error, parts = kw.offset_delete_v0(conn, group, {subscribed: [0], other: [0]})
            assert error == kw.ERROR_NONE
            assert parts == {(subscribed, 0): kw.ERROR_GROUP_SUBSCRIBED_TO_TOPIC, (other, 0): kw.ERROR_NONE}
            assert fetched(conn) == {(subscribed, 0): 4, (subscribed, 1): 6, (other, 0): -1}
    finally:
        m.close()

    wait_until_equal(lambda: group_state(client, group), ConsumerGroupState.EMPTY, what=f"state of {group}",
                     exceptions=(ck.KafkaException,))
    kp = kp_admin(b.bootstrap)
    try:
        result = kp.delete_group_offsets(group, [TopicPartition(subscribed, 0)])
    finally:
        kp.close()
    assert {tp: err.errno for tp, err in result.items()} == {TopicPartition(subscribed, 0): 0}
    with kw.connect(b.host, b.port) as conn:
        assert fetched(conn) == {(subscribed, 0): -1, (subscribed, 1): 6, (other, 0): -1}
        error, parts = kw.offset_delete_v0(conn, unique("od-nobody"), {subscribed: [0]})
        assert error == kw.ERROR_GROUP_ID_NOT_FOUND


# -- the protocol on the wire -----------------------------------------------------------------------------------


def test_group_coordinator_error_codes_on_the_wire(group_broker):
    b = group_broker
    topic, group = unique("wire"), unique("wire-g")
    create_topic(b.bootstrap, topic, partitions=2)
    meta = kw.consumer_subscription_v0([topic])
    protocols = [("range", meta)]
    with kw.connect(b.host, b.port) as c1, kw.connect(b.host, b.port) as c2:
        # The first lookup may find __consumer_offsets still being created or loaded.
        coordinator = wait_for(lambda: (r := kw.find_coordinator_v1(c1, group)).error_code == 0 and r,
                               CLIENT_TIMEOUT_S, interval_s=0.2, what="FindCoordinator without an error")
        assert (coordinator.node_id, coordinator.host, coordinator.port) == (b.node_id, b.host, b.port)

        # Found is not loaded: until the offsets partition is loaded, group requests get
        # COORDINATOR_LOAD_IN_PROGRESS (clients retry it).
        [first] = wait_for(lambda: (e := kw.heartbeat_v1(c1, group, 0, "nobody")) != kw.ERROR_COORDINATOR_LOAD_IN_PROGRESS
                           and [e], CLIENT_TIMEOUT_S, interval_s=0.1, what="the coordinator loaded")
        assert first == kw.ERROR_UNKNOWN_MEMBER_ID  # no such group yet

        # JoinGroup v2 (before KIP-394): an empty member id joins at once.
        j1 = kw.join_group_v2(c1, group, "", protocols)
        assert j1.error_code == kw.ERROR_NONE
        m1 = j1.member_id
        assert m1, "the coordinator assigns a member id"
        assert (j1.generation_id, j1.leader, j1.protocol_name) == (1, m1, "range")
        assert j1.members == [(m1, meta)], "the leader gets every member's subscription"

        # Joined, not yet synced (CompletingRebalance).
        assert kw.heartbeat_v1(c1, group, 1, m1) == kw.ERROR_NONE
        assert kw.heartbeat_v1(c1, group, 2, m1) == kw.ERROR_ILLEGAL_GENERATION
        assert kw.heartbeat_v1(c1, group, 1, "someone-else") == kw.ERROR_UNKNOWN_MEMBER_ID
        assert kw.offset_commit_v2(c1, group, 1, m1, {topic: {0: (1, None)}}) == {
            (topic, 0): kw.ERROR_REBALANCE_IN_PROGRESS}

        both = kw.consumer_assignment_v0({topic: [0, 1]})
        assert kw.sync_group_v1(c1, group, 1, m1, {m1: both}) == (kw.ERROR_NONE, both)
        assert kw.heartbeat_v1(c1, group, 1, m1) == kw.ERROR_NONE
        assert kw.heartbeat_v1(c1, group, 0, m1) == kw.ERROR_ILLEGAL_GENERATION

        assert kw.offset_commit_v2(c1, group, 1, m1, {topic: {0: (5, "five"), 1: (8, None)}}) == {
            (topic, 0): kw.ERROR_NONE, (topic, 1): kw.ERROR_NONE}
        assert kw.offset_commit_v2(c1, group, 7, m1, {topic: {0: (6, None)}}) == {
            (topic, 0): kw.ERROR_ILLEGAL_GENERATION}
        assert kw.offset_commit_v2(c1, group, 1, "stranger", {topic: {0: (6, None)}}) == {
            (topic, 0): kw.ERROR_UNKNOWN_MEMBER_ID}
        assert kw.offset_commit_v2(c1, group, -1, "", {topic: {0: (6, None)}}) == {
            (topic, 0): kw.ERROR_UNKNOWN_MEMBER_ID}, "only members commit to a group that has members"
        fetched = kw.offset_fetch_v1(c1, group, {topic: [0, 1]})
        assert fetched == {(topic, 0): kw.OffsetFetchPartition(5, "five", 0),
                           (topic, 1): kw.OffsetFetchPartition(8, "", 0)}, "null metadata is stored as ''"

        # A second member: its JoinGroup is parked until the first rejoins.
        pending = kw.send_request(c2, kw.API_JOIN_GROUP, 2, kw.join_group_v2_body(group, "", protocols))
        wait_for(lambda: kw.heartbeat_v1(c1, group, 1, m1) == kw.ERROR_REBALANCE_IN_PROGRESS, CLIENT_TIMEOUT_S,
                 interval_s=0.1, what="REBALANCE_IN_PROGRESS on the first member's heartbeat")
        j1b = kw.join_group_v2(c1, group, m1, protocols)
        j2 = kw.parse_join_group_v2(kw.recv_response(c2, pending))
        m2 = j2.member_id
        assert (j1b.error_code, j2.error_code) == (kw.ERROR_NONE, kw.ERROR_NONE)
        assert m2 and m2 != m1
        assert (j1b.generation_id, j2.generation_id) == (2, 2)
        assert (j1b.member_id, j1b.leader, j2.leader) == (m1, m1, m1), "the rejoining leader stays leader"
        assert sorted(j1b.members) == sorted([(m1, meta), (m2, meta)])
        assert j2.members == [], "followers get no member list"

        # The old generation is fenced.
        assert kw.heartbeat_v1(c1, group, 1, m1) == kw.ERROR_ILLEGAL_GENERATION
        assert kw.offset_commit_v2(c1, group, 1, m1, {topic: {0: (6, None)}}) == {
            (topic, 0): kw.ERROR_ILLEGAL_GENERATION}

        first, second = kw.consumer_assignment_v0({topic: [0]}), kw.consumer_assignment_v0({topic: [1]})
        assert kw.sync_group_v1(c1, group, 2, m1, {m1: first, m2: second}) == (kw.ERROR_NONE, first)
        assert kw.sync_group_v1(c2, group, 2, m2) == (kw.ERROR_NONE, second)
        assert kw.parse_consumer_assignment(second) == {topic: [1]}
        assert kw.heartbeat_v1(c1, group, 2, m1) == kw.ERROR_NONE
        assert kw.heartbeat_v1(c2, group, 2, m2) == kw.ERROR_NONE

        # Leaving.
        assert kw.leave_group_v1(c1, group, "stranger") == kw.ERROR_UNKNOWN_MEMBER_ID
        assert kw.leave_group_v1(c1, group, m1) == kw.ERROR_NONE
        assert kw.heartbeat_v1(c2, group, 2, m2) == kw.ERROR_REBALANCE_IN_PROGRESS
        assert kw.leave_group_v1(c2, group, m2) == kw.ERROR_NONE
        assert kw.heartbeat_v1(c2, group, 2, m2) == kw.ERROR_UNKNOWN_MEMBER_ID

        # The offsets stay with the empty group, which now takes commits from outside (generation -1).
        assert kw.offset_fetch_v1(c1, group, {topic: [0, 1]}) == fetched
        assert kw.offset_commit_v2(c1, group, -1, "", {topic: {0: (9, None)}}) == {(topic, 0): kw.ERROR_NONE}
        assert kw.offset_fetch_v1(c1, group, {topic: [0]})[(topic, 0)].committed_offset == 9

        # group.min.session.timeout.ms is 6000 by default.
        short = kw.join_group_v2(c1, unique("wire-short"), "", protocols, session_timeout_ms=1000)
        assert short.error_code == kw.ERROR_INVALID_SESSION_TIMEOUT

        never = kw.offset_fetch_v1(c1, unique("wire-never"), {topic: [0, 1]})
        assert never == {(topic, 0): kw.OffsetFetchPartition(-1, "", 0), (topic, 1): kw.OffsetFetchPartition(-1, "", 0)}


# -- churn ---------------------------------------------------------------------------------------------------------


@pytest.mark.timeout(240)
def test_members_joining_and_leaving_under_load_lose_no_record_and_never_move_offsets_back(group_broker):
    b = group_broker.bootstrap
    topic, group = unique("churn"), unique("churn-g")
    partitions = 6
    create_topic(b, topic, partitions=partitions)
    duration_s = 60.0
    rate = 500  # records per second
    lock = threading.Lock()
    delivered: set[bytes] = set()
    attempted: set[bytes] = set()
    delivery_errors: list[str] = []
    consumed: set[bytes] = set()
    consumer_errors: list[str] = []
    commit_failures: list[int] = []
    joins = [0]
    thread_failures: list[BaseException] = []
    stop = threading.Event()
    end_at = time.monotonic() + duration_s

    def produce_loop():
        p = producer(b, acks="all")

        def on_delivery(err, msg):
            with lock:
                if err is None:
                    delivered.add(msg.value())
                else:
                    delivery_errors.append(err.str())

        seq = 0
        started = time.monotonic()
        while time.monotonic() < end_at and not stop.is_set():
            due = int((time.monotonic() - started) * rate)  # paced, not flat out
            while seq < due:
                value = f"churn-{seq:07d}".encode()
                attempted.add(value)
                p.produce(topic, value=value, on_delivery=on_delivery)
                seq += 1
            p.poll(0.02)
        assert p.flush(CLIENT_TIMEOUT_S) == 0, "records still undelivered"

    def member_loop(slot: int):
        rng = random.Random(slot)
        while time.monotonic() < end_at and not stop.is_set():
            c = ck.Consumer(member_config(b, group, client_id=f"churn-{slot}"))
            c.subscribe([topic])
            with lock:
                joins[0] += 1
            leave_at = min(end_at, time.monotonic() + rng.uniform(2.0, 6.0))
            try:
                while time.monotonic() < leave_at and not stop.is_set():
                    batch = c.consume(num_messages=200, timeout=0.2)
                    good = [m.value() for m in batch if m.error() is None]
                    with lock:
                        consumer_errors.extend(m.error().str() for m in batch if m.error() is not None)
                        consumed.update(good)
                    if good:  # processed: commit the positions (stored offsets) synchronously
                        try:
                            c.commit(asynchronous=False)
                        except ck.KafkaException as e:  # a rebalance may refuse it; at-least-once covers that
                            with lock:
                                commit_failures.append(kafka_error(e).code())
            finally:
                c.close()
            stop.wait(rng.uniform(0.3, 1.5))  # away for a moment, then join again

    def guarded(fn, *args):
        def run():
            try:
                fn(*args)
            except BaseException as e:  # noqa: BLE001 - reported by the test thread
                thread_failures.append(e)
                stop.set()
        return threading.Thread(target=run, daemon=True)

    threads = [guarded(produce_loop)] + [guarded(member_loop, slot) for slot in range(4)]
    client = admin(b)
    samples: list[dict[tuple[str, int], int]] = []
    tps = [ck.TopicPartition(topic, p) for p in range(partitions)]
    for t in threads:
        t.start()
    try:
        while time.monotonic() < end_at and not stop.is_set():
            try:
                samples.append(group_offsets(client, group, tps))
            except ck.KafkaException:
                pass  # a sample may fail while the coordinator is busy; the next one is a second away
            stop.wait(1.0)
    finally:
        stop_deadline = time.monotonic() + 60
        for t in threads:
            t.join(max(0.0, stop_deadline - time.monotonic()))
        stop.set()
    assert not [t for t in threads if t.is_alive()], "producer or members still running"
    assert not thread_failures, f"a client thread failed: {thread_failures[0]!r}"
    assert not delivery_errors, f"{len(delivery_errors)} deliveries failed, first: {delivery_errors[:3]}"
    assert not consumer_errors, f"consumer errors during churn: {consumer_errors[:5]}"
    assert joins[0] >= 12, f"only {joins[0]} joins: the membership did not churn"

    with lock:
        consumed_in_churn = len(consumed)

    # One member drains what is left, from the committed offsets.
    drainer = Member(b, group, [topic], client_id="drainer")
    try:
        def drained():
            drainer.pump(0.2)
            with lock:
                consumed.update(v for _, _, _, v in drainer.records)
                return delivered <= consumed
        wait_for(drained, 90, interval_s=0, what=f"every delivered record consumed ({len(delivered)} delivered)")
        if drainer.records:  # (with nothing new to commit, librdkafka refuses with _NO_OFFSET)
            drainer.consumer.commit(asynchronous=False)
        samples.append(group_offsets(client, group, tps))
        ends = {}
        for tp in tps:
            _, high = drainer.consumer.get_watermark_offsets(tp, timeout=CLIENT_TIMEOUT_S)
            ends[(topic, tp.partition)] = high
    finally:
        drainer.close()

    print(f"churn: {len(delivered)} records, {consumed_in_churn} consumed while churning, {joins[0]} joins, "
          f"{len(samples)} offset samples, {len(commit_failures)} refused commits {sorted(set(commit_failures))}")
    assert consumed <= attempted, "consumed values nobody produced"
    assert len(delivered) >= rate * duration_s * 0.9, f"only {len(delivered)} records produced in {duration_s}s"
    assert consumed_in_churn >= len(delivered) // 2, "the churning members themselves consumed little"
    assert samples[-1] == ends, "after the drain the group has committed the end of every partition"
    backwards = []
    for p in range(partitions):
        seq = [s[(topic, p)] for s in samples if (topic, p) in s]
        valid = [o for o in seq if o >= 0]
        backwards += [(p, x, y) for x, y in zip(valid, valid[1:]) if y < x]
        if valid:  # once committed, an offset never goes back to 'none'
            assert seq[seq.index(valid[0]):] == valid, f"partition {p} lost its committed offset: {seq}"
    assert not backwards, f"committed offsets moved backwards (partition, before, after): {backwards[:10]}"
    assert len(samples) >= 30, f"only {len(samples)} samples of the committed offsets"


# -- kafkajs ---------------------------------------------------------------------------------------------------------


def kafkajs_member(bootstrap: str, topic: str, group: str, count: int, timeout_s: int) -> LineProcess:
    node = shutil.which("node")
    assert node, "node is not installed (scripts/install-deps installs it)"
    assert (NODE_DIR / "node_modules" / "kafkajs").is_dir(), \
        "kafkajs is not installed in tests/compat/node (scripts/install-deps runs npm ci there)"
    return LineProcess([node, str(NODE_DIR / "group_consumer.js"), bootstrap, topic, group, str(count), str(timeout_s)],
                       json_lines=True)


def events(proc: LineProcess, kind: str) -> list[dict]:
    return [e for e in proc.lines() if e.get("event") == kind]


def describe_process(proc: LineProcess) -> str:
    return f"{proc.argv[1]} (exit {proc.proc.poll()}): {proc.lines()[-5:]}\nstderr:\n{proc.stderr_tail()}"


def last_assignment(proc: LineProcess) -> frozenset[int]:
    assigned = events(proc, "assigned")
    return frozenset(assigned[-1]["partitions"]) if assigned else frozenset()


def test_two_kafkajs_members_split_a_topic_and_read_each_record_exactly_once(group_broker):
    b = group_broker.bootstrap
    topic, group = unique("kjs-split"), unique("kjs-g")
    create_topic(b, topic, partitions=4)
    one = kafkajs_member(b, topic, group, 100, 90)
    two = kafkajs_member(b, topic, group, 100, 90)
    try:
        # Records are produced only once the group is stable, so neither member reads any before
        # the final assignment.
        try:
            wait_for(lambda: split_evenly([last_assignment(one), last_assignment(two)], 4), 60,
                     what="a 2+2 split between the kafkajs members")
        except AssertionError as e:
            raise AssertionError(f"{e}\n{describe_process(one)}\n{describe_process(two)}") from None
        expected = sorted((p, o, v.decode()) for p, o, v in produce_spread(b, topic, 4, 50, "kjs"))
        for proc in (one, two):
            assert proc.wait(90) == 0, describe_process(proc)
        read = {name: [(e["partition"], e["offset"], e["value"]) for e in events(proc, "message")]
                for name, proc in (("one", one), ("two", two))}
        assert len(read["one"]) == len(read["two"]) == 100
        assert sorted(read["one"] + read["two"]) == expected, "every record exactly once across the two"
        parts = {name: {p for p, _, _ in recs} for name, recs in read.items()}
        assert not parts["one"] & parts["two"], parts
        assert parts["one"] | parts["two"] == {0, 1, 2, 3}
    finally:
        close_all([one, two])
    assert committed_offsets(b, group, topic, range(4)) == {p: 50 for p in range(4)}


def test_a_librdkafka_member_resumes_where_kafkajs_committed(group_broker):
    b = group_broker.bootstrap
    topic, group = unique("kjs-resume"), unique("kjs-resume-g")
    create_topic(b, topic)
    expected = produce_spread(b, topic, 1, 100, "kr")
    js = kafkajs_member(b, topic, group, 60, 60)
    try:
        assert js.wait(60) == 0, describe_process(js)
        assert [(e["partition"], e["offset"]) for e in events(js, "message")] == [(0, i) for i in range(60)]
        [done] = events(js, "done")
        assert done["committed"] == {"0": "60"}
    finally:
        js.close()
    assert committed_offsets(b, group, topic, [0]) == {0: 60}
    m = Member(b, group, [topic])
    try:
        assert triples(m.take(40)) == expected[60:]
    finally:
        m.close()
