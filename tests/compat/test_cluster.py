"""A three-node cluster of real `strom server` processes, seen and driven through real clients.

Each node is started from its own server.properties (combined broker+controller, static
`controller.quorum.voters`, a CONTROLLER listener, `broker.rack`), formatted first with one
cluster id (cluster.py). Tests kill -9, SIGSTOP/SIGCONT and SIGTERM nodes and check what
clients see: the live brokers, leaders, admin requests through any node, data and committed
offsets across restarts, and a network partition between namespaces.

Timeouts: tests that wait for a broker's session to expire run with tuned timers (TUNED:
`broker.heartbeat.interval.ms=500`, `broker.session.timeout.ms=3000`,
`controller.quorum.election.timeout.ms=500`) instead of Kafka's defaults (2000 / 9000 / 1000);
the controller failover is measured with both.
Admin requests that cannot reach a quorum fail after the broker's 30 s forwarding deadline, so
the two tests that need that answer wait for it in a thread while they check the rest.
"""

from __future__ import annotations

import collections
import json
import os
import shutil
import signal
import subprocess
import threading
import time
import uuid
from pathlib import Path

import confluent_kafka as ck
import pytest
from confluent_kafka.admin import (
    AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, NewTopic,
)

import kafka_wire as kw
from cluster import API_DESCRIBE_QUORUM, Cluster, describe_cluster_v0
from clients import (
    CLIENT_TIMEOUT_S, assert_delivered, consume, consumer, kafka_error, kcat, kcat_json_lines, kp_admin,
    kp_consume, kp_consumer, produce_all, producer, unique, values, wait_for,
)
from conftest import BROKERS_KEY

TUNED = {
    "broker.heartbeat.interval.ms": "500",
    "broker.session.timeout.ms": "3000",
    "controller.quorum.election.timeout.ms": "500",
}
# Consumer groups start at once and __consumer_offsets is small (Kafka: 3000 ms and 50 partitions).
GROUPS = {"group.initial.rebalance.delay.ms": "0", "offsets.topic.num.partitions": "6"}
NODE_DIR = Path(__file__).resolve().parent / "node"
ALL = {1, 2, 3}
# The broker's deadline for an admin request with no quorum (REQUEST_TIMED_OUT after it), plus slack.
NO_QUORUM_ANSWER_S = 45.0


@pytest.fixture
def cluster_factory(strom_bin, tmp_path, request):
    """start(overrides, **kwargs) -> a formatted, running 3-node Cluster; every node killed on teardown,
    every node's log tail attached to a failure."""
    clusters: list[Cluster] = []
    request.node.stash[BROKERS_KEY] = []

    def start(overrides: dict[str, str] | None = None, **kwargs) -> Cluster:
        c = Cluster(strom_bin, tmp_path / f"cluster{len(clusters)}", 3, overrides, **kwargs)
        clusters.append(c)
        request.node.stash[BROKERS_KEY].extend(c.nodes.values())
        c.start_formatted()
        return c

    yield start
    for c in clusters:
        c.cleanup()


def others(node_id: int) -> set[int]:
    return ALL - {node_id}


def create_topics(bootstrap: str, topics: list[NewTopic], timeout_s: float = CLIENT_TIMEOUT_S) -> dict:
    """CreateTopics through confluent-kafka's AdminClient: {name: None or the KafkaError}."""
    client = AdminClient({"bootstrap.servers": bootstrap})
    futures = client.create_topics(topics, operation_timeout=timeout_s, request_timeout=timeout_s + 5)
    out = {}
    for name, f in futures.items():
        try:
            out[name] = f.result(timeout=timeout_s + 10)
        except ck.KafkaException as e:
            out[name] = kafka_error(e)
    return out


def create_ok(bootstrap: str, topics: list[NewTopic]) -> None:
    """CreateTopics that must succeed for every topic (errors shown by their text)."""
    failed = {name: err.str() for name, err in create_topics(bootstrap, topics).items() if err is not None}
    assert not failed, f"CreateTopics through {bootstrap} failed: {failed}"


def leaders(c: Cluster, node_id: int, topic: str) -> dict[int, int]:
    md = c.metadata(node_id, [topic])
    t = md.topics[topic]
    assert t.error_code == 0, f"{topic} on node {node_id}: error {t.error_code}"
    return {p.partition: p.leader for p in t.partitions}


def wait_leaders(c: Cluster, node_ids: set[int], topic: str, expected: dict[int, int], timeout_s: float,
                 what: str) -> None:
    wait_for(lambda: all(c.try_metadata(i, [topic]) is not None and leaders(c, i, topic) == expected
                         for i in node_ids), timeout_s, interval_s=0.1, what=what)


def wait_brokers(c: Cluster, node_ids: set[int], expected: set[int], timeout_s: float, what: str) -> float:
    """Wait until every node of node_ids lists exactly `expected`; the seconds it took."""
    t0 = time.monotonic()

    def listed() -> bool:
        for i in node_ids:
            md = c.try_metadata(i)
            if md is None or set(md.brokers) != expected:
                return False
        return True

    wait_for(listed, timeout_s, interval_s=0.05, what=what)
    return time.monotonic() - t0


# -- 0. the cluster id an operator formats with -------------------------------------------------------------


def test_random_uuid_never_prints_an_id_that_format_would_take_for_an_option(strom_bin):
    """README: CLUSTER_ID=$(strom storage random-uuid); strom storage format --cluster-id $CLUSTER_ID ...
    Kafka's Uuid.randomUuid draws again when the string would start with "-" (1 in 64 would), because
    `kafka-storage.sh format -t -xyz...` reads it as an option. 500 draws miss a 1-in-64 defect with
    probability (63/64)^500 < 0.1%."""
    ids = [subprocess.run([str(strom_bin), "storage", "random-uuid"], capture_output=True, text=True,
                          timeout=10).stdout.strip() for _ in range(500)]
    assert all(len(i) == 22 for i in ids), ids[:5]
    dashed = [i for i in ids if i.startswith("-")]
    assert not dashed, f"{len(dashed)} of 500 ids start with '-', e.g. {dashed[0]}: " \
                       f"`strom storage format --cluster-id {dashed[0]}` fails with \"unexpected argument\""


# -- 1. every client sees the three brokers, bootstrapping from any node -------------------------------------


def kafkajs_describe(bootstrap: str) -> dict:
    node = shutil.which("node")
    assert node, "node is not installed (scripts/install-deps installs it)"
    assert (NODE_DIR / "node_modules" / "kafkajs").is_dir(), \
        "kafkajs is not installed in tests/compat/node (scripts/install-deps runs npm ci there)"
    proc = subprocess.run([node, str(NODE_DIR / "describe_cluster.js"), bootstrap], capture_output=True,
                          timeout=CLIENT_TIMEOUT_S, text=True)
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    assert proc.returncode == 0 and lines, f"kafkajs failed ({proc.returncode}): {proc.stdout}\n{proc.stderr}"
    return json.loads(lines[-1])


def test_every_client_lists_the_three_brokers_with_endpoints_and_racks_from_any_node(cluster_factory):
    c = cluster_factory()
    endpoints = {i: (n.host, n.client_port) for i, n in c.nodes.items()}
    racks = {i: n.rack for i, n in c.nodes.items()}
    assert len(set(racks.values())) == 3
    topic = unique("listed")
    create_ok(c.nodes[1].bootstrap, [NewTopic(topic, 3, 3)])

    for i, node in c.nodes.items():
        b = node.bootstrap
        # The wire, as every client reads it: Metadata v4 and DescribeCluster v0.
        md = c.wait_listed(i, ALL)
        assert {k: (v.host, v.port, v.rack) for k, v in md.brokers.items()} == \
            {k: (*endpoints[k], racks[k]) for k in ALL}
        assert md.cluster_id == c.cluster_id
        assert md.controller_id in ALL
        with node.connect(5.0) as conn:
            error, controller, brokers = describe_cluster_v0(conn)
        assert error == 0 and controller in ALL
        assert {k: (v.host, v.port, v.rack) for k, v in brokers.items()} == \
            {k: (*endpoints[k], racks[k]) for k in ALL}

        # confluent-kafka: list_topics (Metadata) and describe_cluster (DescribeCluster, racks).
        admin = AdminClient({"bootstrap.servers": b})
        listed = admin.list_topics(timeout=CLIENT_TIMEOUT_S)
        assert {k: (v.host, v.port) for k, v in listed.brokers.items()} == endpoints
        assert listed.cluster_id == c.cluster_id and listed.controller_id in ALL
        assert sorted(listed.topics[topic].partitions) == [0, 1, 2]
        described = admin.describe_cluster(request_timeout=CLIENT_TIMEOUT_S).result(timeout=CLIENT_TIMEOUT_S)
        assert {n.id: (n.host, n.port, n.rack) for n in described.nodes} == \
            {k: (*endpoints[k], racks[k]) for k in ALL}
        assert described.cluster_id == c.cluster_id and described.controller.id in ALL

        # kafka-python: KafkaAdminClient.describe_cluster, and the brokers a KafkaConsumer learned.
        kp = kp_admin(b)
        try:
            cluster = kp.describe_cluster()
        finally:
            kp.close()
        assert {x["broker_id"]: (x["host"], x["port"], x["rack"]) for x in cluster["brokers"]} == \
            {k: (*endpoints[k], racks[k]) for k in ALL}
        assert cluster["cluster_id"] == c.cluster_id and cluster["controller_id"] in ALL
        kc = kp_consumer(b)
        try:
            assert topic in kc.topics()
            # kafka-python has no public broker listing; its cluster view is what it connects to.
            assert {x.node_id: (x.host, x.port, x.rack) for x in kc._client.cluster.brokers()} == \
                {k: (*endpoints[k], racks[k]) for k in ALL}
        finally:
            kc.close()

        # kcat -L -J.
        [meta] = kcat_json_lines(kcat(b, "-L", "-J").stdout)
        assert {x["id"]: x["name"] for x in meta["brokers"]} == {k: f"{h}:{p}" for k, (h, p) in endpoints.items()}
        assert meta["controllerid"] in ALL
        assert topic in {t["topic"] for t in meta["topics"]}

        # kafkajs: admin.describeCluster and fetchTopicMetadata.
        js = kafkajs_describe(b)
        assert {x["nodeId"]: (x["host"], x["port"]) for x in js["brokers"]} == endpoints
        assert js["clusterId"] == c.cluster_id and js["controller"] in ALL
        assert topic in js["topics"]

    # strom metadata-quorum describe (kafka-metadata-quorum.sh) through each node: one leader, 3 voters.
    statuses = []
    for node in c.nodes.values():
        out = c.strom("metadata-quorum", "--bootstrap-server", node.bootstrap, "describe", "--status",
                      "--output", "json")
        assert out.returncode == 0, out.stderr
        statuses.append(json.loads(out.stdout))
    assert sorted(v["id"] for v in statuses[0]["voters"]) == [1, 2, 3]
    assert {s["leaderId"] for s in statuses} == {c.wait_active_controller()}


# -- 2. placement, produce and consume across nodes, a consumer group ------------------------------------------


def test_replicated_topic_is_spread_over_the_brokers_and_serves_through_every_node(cluster_factory):
    c = cluster_factory(GROUPS)
    spread, placed = unique("spread"), unique("placed")
    assignment = [[2, 3, 1], [3, 1, 2], [1, 2, 3]]
    create_ok(c.nodes[1].bootstrap, [
        NewTopic(spread, num_partitions=6, replication_factor=3),
        NewTopic(placed, num_partitions=len(assignment), replica_assignment=assignment),
    ])

    for i in ALL:  # every node's Metadata agrees
        wait_for(lambda: all(p.leader >= 0 for p in c.metadata(i, [spread]).topics[spread].partitions),
                 CLIENT_TIMEOUT_S, what=f"leaders of {spread} on node {i}")
        md = c.metadata(i, [spread, placed])
        parts = sorted(md.topics[spread].partitions, key=lambda p: p.partition)
        assert [p.partition for p in parts] == list(range(6))
        assert collections.Counter(p.leader for p in parts) == {1: 2, 2: 2, 3: 2}, \
            [(p.partition, p.leader, p.replicas) for p in parts]
        for p in parts:
            assert sorted(p.replicas) == [1, 2, 3], p
            assert p.leader == p.replicas[0] and p.leader in p.isr and set(p.isr) <= set(p.replicas), p
        fixed = sorted(md.topics[placed].partitions, key=lambda p: p.partition)
        assert [p.replicas for p in fixed] == assignment
        assert [p.leader for p in fixed] == [2, 3, 1]

    # acks=all to every partition through node 2, everything read back through node 3.
    per_partition = 40
    records = [{"key": f"k{p}-{n}".encode(), "value": f"{spread}/{p}/{n}".encode(), "partition": p}
               for n in range(per_partition) for p in range(6)]
    reports = produce_all(producer(c.nodes[2].bootstrap, acks="all"), spread, records)
    assert_delivered(reports)
    for p in range(6):
        assert sorted(d.offset for d in reports if d.partition == p) == list(range(per_partition))
        got = consume(c.nodes[3].bootstrap, spread, partition=p)
        assert values(got) == [f"{spread}/{p}/{n}".encode() for n in range(per_partition)]

    rss = {i: n.rss_kib() // 1024 for i, n in c.nodes.items()}
    print(f"\nresident memory after {len(records)} records over 6 partitions: {rss} MiB")
    assert all(m < 256 for m in rss.values()), rss

    # A group member (through node 2) reads half and commits; another (through node 3) resumes there.
    group = unique("group")
    half = 3 * per_partition
    first = set(group_read(c.nodes[2].bootstrap, spread, group, half, commit=True))
    second = set(group_read(c.nodes[3].bootstrap, spread, group, len(records) - half, commit=False))
    assert len(first) == half and len(second) == len(records) - half
    assert not first & second, "records read again after the commit"
    assert first | second == {r["value"] for r in records}


def group_read(bootstrap: str, topic: str, group: str, count: int, commit: bool,
               timeout_s: float = CLIENT_TIMEOUT_S) -> list[bytes]:
    """A confluent-kafka group member: subscribe, read `count` records, commit them if asked, close."""
    c = consumer(bootstrap, **{"group.id": group, "auto.offset.reset": "earliest",
                               "enable.auto.offset.store": True, "enable.partition.eof": False})
    try:
        c.subscribe([topic])
        out: list[bytes] = []
        deadline = time.monotonic() + timeout_s
        while len(out) < count:
            assert time.monotonic() < deadline, f"group {group} read {len(out)} of {count} records"
            for m in c.consume(num_messages=count - len(out), timeout=0.5):
                assert m.error() is None, m.error()
                out.append(m.value())
        if commit:
            committed = c.commit(asynchronous=False)
            assert all(tp.error is None for tp in committed), committed
        return out
    finally:
        c.close()


# -- 3. kill -9 the active controller ------------------------------------------------------------------------


@pytest.mark.parametrize("timers", ["default", "tuned"])
def test_kill_9_of_the_active_controller_then_create_topics_through_a_survivor(cluster_factory, timers):
    c = cluster_factory(TUNED if timers == "tuned" else None)
    leader = c.wait_active_controller()
    survivor = min(others(leader))
    quorum = quorum_as_seen(c, ALL)
    topic = unique("after-failover")

    t0 = time.monotonic()
    c.nodes[leader].kill9()
    result = create_topics(c.nodes[survivor].bootstrap, [NewTopic(topic, 3, 1)])
    elapsed = time.monotonic() - t0
    print(f"\n[{timers} timers] kill -9 of controller {leader} -> CreateTopics through node {survivor} "
          f"succeeded after {elapsed:.2f}s")
    assert result[topic] is None, f"CreateTopics through node {survivor}: {result[topic].str()}"
    # Election timeout 1000 ms by default (500 tuned): a new leader within a few of them.
    assert elapsed < (10.0 if timers == "default" else 6.0), f"failover took {elapsed:.2f}s"
    new_leader = c.wait_active_controller(among=others(leader), timeout_s=10)
    assert new_leader != leader
    for i in others(leader):
        assert sorted(p.partition for p in c.metadata(i, [topic]).topics[topic].partitions) == [0, 1, 2]

    # The killed node comes back as a follower, learns the topic and is listed by everyone again.
    c.nodes[leader].launch(c.binary)
    for i in ALL:
        c.wait_listed(i, ALL, timeout_s=30)
    md = c.metadata(leader, [topic])
    assert md.topics[topic].error_code == 0
    assert sorted(p.partition for p in md.topics[topic].partitions) == [0, 1, 2]
    assert c.wait_active_controller(timeout_s=10) in ALL
    after = quorum_as_seen(c, ALL)
    if quorum is not None:  # DescribeQuorum: same voters, a later leader epoch, the same leader everywhere
        assert after is not None and after[0] == quorum[0] == [1, 2, 3]
        assert after[1] != leader and after[2] > quorum[2], (quorum, after)


def quorum_as_seen(c: Cluster, node_ids: set[int]) -> tuple[list[int], int, int] | None:
    """(voters, leader, leader epoch) that every node's DescribeQuorum agrees on; None where brokers do
    not advertise DescribeQuorum."""
    def agreed():
        seen = {i: c.describe_quorum(i) for i in node_ids}
        if any(q is None for q in seen.values()):
            return None
        views = {(tuple(sorted(q.voters)), q.leader_id, q.leader_epoch) for q in seen.values() if q.error_code == 0}
        if len(views) == 1 and all(q.error_code == 0 for q in seen.values()):
            [(voters, leader, epoch)] = views
            return list(voters), leader, epoch
        return False
    if API_DESCRIBE_QUORUM not in c.nodes[min(node_ids)].api_versions():
        return None
    return wait_for(agreed, 15, interval_s=0.1, what="one view of the quorum from every node")


# -- 4. SIGSTOP past the session timeout: fenced, then unfenced ------------------------------------------------


class BackgroundProducer:
    """acks=all records to given partitions every few ms on a thread, until stop(); delivery reports kept."""

    def __init__(self, bootstrap: str, topic: str, partitions: list[int]):
        self.topic, self.partitions = topic, partitions
        self.producer = producer(bootstrap, acks="all", **{"message.timeout.ms": 20000})
        self.reports: list[tuple[int, int, bytes, object]] = []
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self) -> None:
        n = 0
        while not self.done.is_set():
            for p in self.partitions:
                value = f"bg/{p}/{n}".encode()
                self.producer.produce(self.topic, value=value, partition=p,
                                      on_delivery=lambda err, msg: self.reports.append(
                                          (msg.partition(), msg.offset(), msg.value(), err)))
            n += 1
            self.producer.poll(0.02)

    def wait_delivered(self, more: int, when: str, timeout_s: float = 15.0) -> None:
        """Wait until `more` further records are acknowledged without error."""
        def ok() -> int:
            return sum(1 for *_, err in list(self.reports) if err is None)
        target = ok() + more
        wait_for(lambda: ok() >= target, timeout_s, what=f"{more} acknowledged records {when}")

    def stop(self) -> list[tuple[int, int, bytes, object]]:
        self.done.set()
        self.thread.join(timeout=10)
        assert self.producer.flush(30) == 0, "background records still undelivered"
        return self.reports


def test_a_paused_broker_is_fenced_after_its_session_timeout_and_unfenced_when_it_resumes(cluster_factory):
    c = cluster_factory(TUNED)
    controller = c.wait_active_controller()
    target = min(others(controller))
    rest = others(target)
    topic = unique("fencing")
    create_ok(c.nodes[controller].bootstrap, [NewTopic(topic, 6, 1)])
    wait_for(lambda: all(l >= 0 for l in leaders(c, controller, topic).values()), CLIENT_TIMEOUT_S,
             what="leaders")
    before = leaders(c, controller, topic)
    mine = sorted(p for p, l in before.items() if l == target)
    elsewhere = sorted(p for p, l in before.items() if l != target)
    assert len(mine) == 2 and len(elsewhere) == 4, before

    kept = {p: [f"{topic}/{p}/{n}".encode() for n in range(10)] for p in mine}
    assert_delivered(produce_all(producer(c.nodes[controller].bootstrap, acks="all"), topic,
                                 [{"value": v, "partition": p} for p, vs in kept.items() for v in vs]))
    bg = BackgroundProducer(c.nodes[controller].bootstrap, topic, elsewhere)
    try:
        bg.wait_delivered(20, "before the pause")
        t0 = time.monotonic()
        c.nodes[target].sigstop()
        fenced = {**before, **{p: -1 for p in mine}}
        wait_brokers(c, rest, rest, 15, f"node {target} fenced on nodes {sorted(rest)}")
        wait_leaders(c, rest, topic, fenced, 10, f"partitions {mine} of node {target} leaderless")
        fenced_after = time.monotonic() - t0
        print(f"\nnode {target} SIGSTOPped: fenced and its partitions leaderless after {fenced_after:.2f}s "
              f"(broker.session.timeout.ms=3000)")
        # Its last heartbeat was at most one interval (500 ms) before the pause.
        assert fenced_after >= 2.4, f"fenced {fenced_after:.2f}s after the pause, before its session expired"
        bg.wait_delivered(40, f"while node {target} is fenced")
        # `strom cluster describe` (DescribeCluster v2 with fenced brokers) shows its state.
        out = c.strom("cluster", "--bootstrap-server", c.nodes[controller].bootstrap, "describe",
                      "--output", "json")
        assert out.returncode == 0, out.stderr
        states = {b["id"]: b["state"] for b in json.loads(out.stdout)["brokers"]}
        assert states == {**{n: "alive" for n in rest}, target: "fenced"}, states

        t1 = time.monotonic()
        c.nodes[target].sigcont()
        wait_brokers(c, ALL, ALL, 15, f"node {target} listed again")
        wait_leaders(c, ALL, topic, before, 15, f"node {target} leading {mine} again")
        print(f"node {target} SIGCONTed: listed and leading again after {time.monotonic() - t1:.2f}s")
        bg.wait_delivered(20, f"after node {target} came back")
    finally:
        reports = bg.stop()

    failed = [(p, v, err) for p, _, v, err in reports if err is not None]
    assert not failed, f"{len(failed)} of {len(reports)} background records failed, first: {failed[:3]}"
    for p in elsewhere:
        sent = sorted((o, v) for q, o, v, _ in reports if q == p)
        assert [o for o, _ in sent] == list(range(len(sent)))
        assert values(consume(c.nodes[target].bootstrap, topic, partition=p)) == [v for _, v in sent]
    # What the paused broker held before it was fenced is still there once it leads again.
    for p, sent in kept.items():
        assert values(consume(c.nodes[controller].bootstrap, topic, partition=p)) == sent, \
            f"{topic}-{p}, led by node {target} again after it was fenced"


# -- 5. controlled shutdown ------------------------------------------------------------------------------


def test_sigterm_is_a_controlled_shutdown_the_others_see_at_once(cluster_factory):
    c = cluster_factory()  # Kafka's default broker.session.timeout.ms (9000): "at once" is well below it
    controller = c.wait_active_controller()
    target = min(others(controller))
    rest = others(target)
    topic = unique("controlled")
    create_ok(c.nodes[controller].bootstrap, [NewTopic(topic, 3, 1)])
    wait_for(lambda: all(l >= 0 for l in leaders(c, controller, topic).values()), CLIENT_TIMEOUT_S,
             what="leaders")
    before = leaders(c, controller, topic)
    mine = [p for p, l in before.items() if l == target]
    assert mine, before
    kept = {p: [f"{topic}/{p}/{n}".encode() for n in range(10)] for p in range(3)}
    assert_delivered(produce_all(producer(c.nodes[controller].bootstrap, acks="all"), topic,
                                 [{"value": v, "partition": p} for p, vs in kept.items() for v in vs]))

    t0 = time.monotonic()
    status = c.nodes[target].stop(deadline_s=20)
    exited = time.monotonic() - t0
    gone = exited + wait_brokers(c, rest, rest, 9, f"node {target} unlisted after its controlled shutdown")
    print(f"\nSIGTERM to node {target}: exited {status} after {exited:.2f}s, unlisted by the others "
          f"{gone:.2f}s after the signal")
    assert status == 0, c.nodes[target].log_tail()
    assert gone < 5.0, f"node {target} was listed {gone:.2f}s after SIGTERM: fenced by session expiry?"
    assert {p: l for p, l in leaders(c, controller, topic).items()} == {**before, **{p: -1 for p in mine}}

    c.nodes[target].launch(c.binary)
    wait_brokers(c, ALL, ALL, 30, f"node {target} back")
    wait_leaders(c, ALL, topic, before, 15, f"node {target} leading {mine} again")
    # A controlled shutdown moves leadership, never data: every acknowledged record is still there.
    for p, sent in kept.items():
        assert values(consume(c.nodes[controller].bootstrap, topic, partition=p)) == sent, \
            f"{topic}-{p} (leader {before[p]}) after node {target}'s controlled shutdown and restart"


# -- 6. two of three nodes down: no quorum ------------------------------------------------------------------


def test_with_two_of_three_down_the_last_node_serves_its_partitions_but_creates_nothing(cluster_factory):
    c = cluster_factory()
    alone = c.wait_active_controller()
    down = sorted(others(alone))
    kept = unique("kept")
    create_ok(c.nodes[alone].bootstrap, [NewTopic(kept, 6, 1)])
    wait_for(lambda: all(l >= 0 for l in leaders(c, alone, kept).values()), CLIENT_TIMEOUT_S, what="leaders")
    led_here = sorted(p for p, l in leaders(c, alone, kept).items() if l == alone)
    assert led_here
    before = produce_all(producer(c.nodes[alone].bootstrap, acks="all"), kept,
                         [{"value": f"before/{p}".encode(), "partition": p} for p in range(6)])
    assert_delivered(before)
    # Groups have run in this cluster (librdkafka's consumers look for their group's coordinator even
    # when they only assign(); without __consumer_offsets that needs the controller, see
    # test_find_coordinator_without_a_quorum_answers_at_once).
    assert len(group_read(c.nodes[alone].bootstrap, kept, unique("group"), 6, commit=True)) == 6

    for i in down:
        assert c.nodes[i].stop(deadline_s=30) == 0, c.nodes[i].log_tail()

    # CreateTopics has no quorum to commit it: the broker answers REQUEST_TIMED_OUT after its deadline.
    doomed = unique("doomed")
    answer: dict = {}
    waiter = threading.Thread(target=lambda: answer.update(
        create_topics(c.nodes[alone].bootstrap, [NewTopic(doomed, 1, 1)], timeout_s=NO_QUORUM_ANSWER_S)))
    t0 = time.monotonic()
    waiter.start()

    # Meanwhile the node keeps serving the partitions it leads, through every client path.
    during = [{"value": f"during/{p}/{n}".encode(), "partition": p} for n in range(20) for p in led_here]
    reports = produce_all(producer(c.nodes[alone].bootstrap, acks="all"), kept, during)
    assert_delivered(reports)
    for p in led_here:
        expected = [f"before/{p}".encode()] + [f"during/{p}/{n}".encode() for n in range(20)]
        assert values(consume(c.nodes[alone].bootstrap, kept, partition=p)) == expected
        assert [r.value for r in kp_consume(c.nodes[alone].bootstrap, kept, p, 0, len(expected))] == expected

    waiter.join(timeout=NO_QUORUM_ANSWER_S + 15)
    took = time.monotonic() - t0
    assert not waiter.is_alive(), "CreateTopics without a quorum got no answer"
    err = answer.get(doomed)
    print(f"\nCreateTopics with no quorum answered after {took:.1f}s: {err}")
    assert isinstance(err, ck.KafkaError) and err.code() == ck.KafkaError.REQUEST_TIMED_OUT, answer
    assert doomed not in c.metadata(alone).topics

    c.start(down, wait=False)
    wait_brokers(c, ALL, ALL, 45, "all three back")
    for i in ALL:
        md = c.metadata(i, [kept])
        assert sorted(p.partition for p in md.topics[kept].partitions) == list(range(6))
    for p in range(6):
        got = values(consume(c.nodes[down[0]].bootstrap, kept, partition=p, timeout_s=30))
        assert got == [f"before/{p}".encode()] + ([f"during/{p}/{n}".encode() for n in range(20)]
                                                 if p in led_here else []), f"{kept}-{p}"


def test_find_coordinator_without_a_quorum_answers_at_once(cluster_factory):
    """Kafka's FindCoordinator asks the controller to create __consumer_offsets in the background and
    answers COORDINATOR_NOT_AVAILABLE at once (KafkaApis.getCoordinator); clients retry. Waiting for
    the creation instead holds every later reply on the connection (replies leave in order), so a
    librdkafka consumer with a group.id cannot even fetch from an assign()ed partition."""
    c = cluster_factory()
    alone = c.wait_active_controller()
    for i in others(alone):
        assert c.nodes[i].stop(deadline_s=30) == 0
    with c.nodes[alone].connect(timeout_s=NO_QUORUM_ANSWER_S) as conn:
        t0 = time.monotonic()
        found = kw.find_coordinator_v1(conn, unique("group"))
        took = time.monotonic() - t0
    print(f"\nFindCoordinator with no quorum and no __consumer_offsets: {found} after {took:.2f}s")
    assert found.error_code == kw.ERROR_COORDINATOR_NOT_AVAILABLE, found
    assert took < 3.0, f"FindCoordinator took {took:.2f}s"


# -- 7. restart of the whole cluster ----------------------------------------------------------------------


def test_a_full_restart_keeps_topics_partitions_config_overrides_and_committed_offsets(cluster_factory):
    c = cluster_factory(GROUPS)
    one, two = unique("restart-a"), unique("restart-b")
    create_ok(c.nodes[1].bootstrap, [NewTopic(one, 3, 3)])
    create_ok(c.nodes[2].bootstrap, [NewTopic(two, 2, 1)])

    # IncrementalAlterConfigs (confluent-kafka, through node 3) and AlterConfigs (kafka-python, node 2).
    admin = AdminClient({"bootstrap.servers": c.nodes[3].bootstrap})
    resource = ConfigResource(ConfigResource.Type.TOPIC, one, incremental_configs=[
        ConfigEntry("retention.ms", "1234567", incremental_operation=AlterConfigOpType.SET)])
    for f in admin.incremental_alter_configs([resource]).values():
        f.result(timeout=CLIENT_TIMEOUT_S)
    from kafka.admin import ConfigResource as KpResource, ConfigResourceType
    kp = kp_admin(c.nodes[2].bootstrap)
    try:
        kp.alter_configs([KpResource(ConfigResourceType.TOPIC, two, configs={"segment.bytes": "1048576"})],
                         incremental=False)
    finally:
        kp.close()

    records = [{"value": f"{one}/{p}/{n}".encode(), "partition": p} for n in range(10) for p in range(3)]
    assert_delivered(produce_all(producer(c.nodes[1].bootstrap, acks="all"), one, records))
    records_two = {p: [f"{two}/{p}/{n}".encode() for n in range(5)] for p in range(2)}
    assert_delivered(produce_all(producer(c.nodes[3].bootstrap, acks="all"), two,
                                 [{"value": v, "partition": p} for p, vs in records_two.items() for v in vs]))
    group = unique("restart-group")
    read = group_read(c.nodes[1].bootstrap, one, group, 15, commit=True)
    assert len(read) == 15
    committed_before = committed_offsets(c.nodes[2].bootstrap, group, one, 3)
    assert sum(committed_before.values()) == 15, committed_before

    # SIGTERM all three at once, as an operator stopping the cluster; then start all three.
    t0 = time.monotonic()
    for n in c.nodes.values():
        n.signal(signal.SIGTERM)
    statuses = {i: n.proc.wait(timeout=45) for i, n in c.nodes.items()}
    print(f"\nall three stopped after {time.monotonic() - t0:.2f}s: exit statuses {statuses}")
    assert statuses == {1: 0, 2: 0, 3: 0}, c.log_tails()
    t1 = time.monotonic()
    c.start()
    print(f"all three listed by each other {time.monotonic() - t1:.2f}s after start")

    for i in ALL:
        md = c.metadata(i, [one, two])
        assert sorted(p.partition for p in md.topics[one].partitions) == [0, 1, 2]
        assert sorted(p.partition for p in md.topics[two].partitions) == [0, 1]
        assert all(sorted(p.replicas) == [1, 2, 3] for p in md.topics[one].partitions)
    admin = AdminClient({"bootstrap.servers": c.nodes[1].bootstrap})  # referenced until its futures resolve
    described = admin.describe_configs([
        ConfigResource(ConfigResource.Type.TOPIC, one), ConfigResource(ConfigResource.Type.TOPIC, two)])
    configs = {r.name: f.result(timeout=CLIENT_TIMEOUT_S) for r, f in described.items()}
    dynamic = ck.admin.ConfigSource.DYNAMIC_TOPIC_CONFIG.value
    assert (configs[one]["retention.ms"].value, configs[one]["retention.ms"].source) == ("1234567", dynamic)
    assert (configs[two]["segment.bytes"].value, configs[two]["segment.bytes"].source) == ("1048576", dynamic)
    assert configs[one]["segment.bytes"].source != dynamic

    wait_for(lambda: committed_offsets(c.nodes[3].bootstrap, group, one, 3) == committed_before,
             CLIENT_TIMEOUT_S, interval_s=0.5, what="committed offsets after the restart")
    rest = group_read(c.nodes[3].bootstrap, one, group, len(records) - 15, commit=False)
    assert set(rest) | set(read) == {r["value"] for r in records} and not set(rest) & set(read)
    for p, sent in records_two.items():  # every partition's log, on whichever node leads it
        assert values(consume(c.nodes[2].bootstrap, two, partition=p)) == sent, f"{two}-{p}"


def committed_offsets(bootstrap: str, group: str, topic: str, partitions: int) -> dict[int, int]:
    c = consumer(bootstrap, **{"group.id": group})
    try:
        got = c.committed([ck.TopicPartition(topic, p) for p in range(partitions)], timeout=CLIENT_TIMEOUT_S)
        return {tp.partition: tp.offset for tp in got if tp.error is None and tp.offset >= 0}
    finally:
        c.close()


# -- 8. a network partition between namespaces ----------------------------------------------------------------


def run(*cmd: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(list(cmd), capture_output=True, text=True, timeout=30)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}: {proc.stderr.strip()}")
    return proc


class Network:
    """Three network namespaces on one bridge (10.A.B.1-3; the bridge, in this namespace, is .254 so
    the test's clients reach every node). A link is cut one of two ways: `drop`, iptables DROP rules
    in the isolated node's namespace for the other nodes' addresses (packets vanish, as when a cable
    or switch fails: only timeouts tell), or `unreachable`, blackhole routes on both sides (sending
    fails at once, as when a route is withdrawn). Names carry a random suffix; remove() undoes
    everything."""

    def __init__(self, cut: str) -> None:
        self.cut = cut
        tag = uuid.uuid4().hex[:6]
        used = run("ip", "-4", "-o", "addr").stdout
        for _ in range(100):
            a, b = 200 + int(uuid.uuid4().int % 50), int(uuid.uuid4().int % 250)
            if f" 10.{a}.{b}." not in used:
                break
        self.prefix = f"10.{a}.{b}"
        self.bridge = f"sb{tag}"
        self.namespaces = {i: f"strom-{tag}-{i}" for i in ALL}
        self.ips = {i: f"{self.prefix}.{i}" for i in ALL}
        self.iptables = shutil.which("iptables") if cut == "drop" else None
        self.forward_rule = ["FORWARD", "-i", self.bridge, "-o", self.bridge, "-j", "ACCEPT"]
        self.created: list[tuple[str, ...]] = []  # undo commands, run in reverse

    def create(self) -> None:
        run("ip", "link", "add", self.bridge, "type", "bridge")
        self.created.append(("ip", "link", "del", self.bridge))
        run("ip", "addr", "add", f"{self.prefix}.254/24", "dev", self.bridge)
        run("ip", "link", "set", self.bridge, "up")
        if shutil.which("iptables"):  # a host whose FORWARD policy drops (Docker's) would drop bridged packets
            run("iptables", "-I", *self.forward_rule)
            self.created.append(("iptables", "-D", *self.forward_rule))
        for i, ns in self.namespaces.items():
            run("ip", "netns", "add", ns)
            self.created.append(("ip", "netns", "del", ns))
            host_end, ns_end = f"{self.bridge}h{i}", f"{self.bridge}n{i}"
            run("ip", "link", "add", host_end, "type", "veth", "peer", "name", ns_end, "netns", ns)
            # Deleting a namespace leaves its veth pair behind while the kernel still holds sockets of it.
            self.created.append(("ip", "link", "del", host_end))
            run("ip", "link", "set", host_end, "master", self.bridge, "up")
            run("ip", "-n", ns, "link", "set", "lo", "up")
            run("ip", "-n", ns, "addr", "add", f"{self.ips[i]}/24", "dev", ns_end)
            run("ip", "-n", ns, "link", "set", ns_end, "up")

    def isolate(self, node_id: int) -> None:
        """Cut node_id off from the other nodes (both directions); the test still reaches it."""
        for other in others(node_id):
            if self.iptables:
                ns = ["ip", "netns", "exec", self.namespaces[node_id], self.iptables]
                run(*ns, "-A", "INPUT", "-s", self.ips[other], "-j", "DROP")
                run(*ns, "-A", "OUTPUT", "-d", self.ips[other], "-j", "DROP")
            else:
                run("ip", "-n", self.namespaces[node_id], "route", "add", "blackhole", f"{self.ips[other]}/32")
                run("ip", "-n", self.namespaces[other], "route", "add", "blackhole", f"{self.ips[node_id]}/32")

    def heal(self, node_id: int) -> None:
        for other in others(node_id):
            if self.iptables:
                ns = ["ip", "netns", "exec", self.namespaces[node_id], self.iptables]
                run(*ns, "-D", "INPUT", "-s", self.ips[other], "-j", "DROP")
                run(*ns, "-D", "OUTPUT", "-d", self.ips[other], "-j", "DROP")
            else:
                run("ip", "-n", self.namespaces[node_id], "route", "del", "blackhole", f"{self.ips[other]}/32")
                run("ip", "-n", self.namespaces[other], "route", "del", "blackhole", f"{self.ips[node_id]}/32")

    def remove(self) -> None:
        for cmd in reversed(self.created):
            run(*cmd, check=False)
        self.created.clear()


def netns_unavailable() -> str | None:
    """Why namespaces cannot be used here, or None."""
    if os.geteuid() != 0:
        return "the network partition test needs root (ip netns, veth, a bridge)"
    if not shutil.which("ip"):
        return "the network partition test needs iproute2's `ip`"
    probe = f"strom-probe-{uuid.uuid4().hex[:6]}"
    made = run("ip", "netns", "add", probe, check=False)
    if made.returncode != 0:
        return f"`ip netns add` failed: {made.stderr.strip()}"
    run("ip", "netns", "del", probe, check=False)
    return None


def controllers_seen(c: Cluster) -> dict[int, int | None]:
    """The active controller each node reports on its own (DescribeQuorum, else its committed vote)."""
    out = {}
    for i in ALL:
        info = c.describe_quorum(i)
        if info is not None:
            out[i] = info.leader_id if info.error_code == 0 else None
        else:
            vote = c.nodes[i].quorum_vote()
            out[i] = vote[1] if vote is not None and vote[2] else None
    return out


def test_a_partitioned_controller_loses_to_the_majority_and_rejoins_when_healed(cluster_factory):
    reason = netns_unavailable()
    if reason:
        pytest.skip(reason)
    # Without iptables, blackhole routes: new connections fail at once, established ones go silent.
    cut = "drop" if shutil.which("iptables") else "unreachable"
    net = Network(cut)
    c = None
    try:
        net.create()
        c = cluster_factory(TUNED, hosts=net.ips, netns=net.namespaces)
        old = c.wait_active_controller()
        majority = others(old)
        via = min(majority)
        print(f"\nnodes on {net.prefix}.0/24 in {sorted(net.namespaces.values())}; "
              f"cutting links: {cut}; controller: {old}")

        net.isolate(old)
        t0 = time.monotonic()
        # The isolated node can reach no quorum: its CreateTopics times out (answered in a thread).
        lost, answer = unique("lost"), {}
        waiter = threading.Thread(target=lambda: answer.update(
            create_topics(c.nodes[old].bootstrap, [NewTopic(lost, 1, 1)], timeout_s=NO_QUORUM_ANSWER_S)))
        waiter.start()

        won = unique("won")
        result = create_topics(c.nodes[via].bootstrap, [NewTopic(won, 3, 1)])
        created_after = time.monotonic() - t0
        assert result[won] is None, f"CreateTopics through node {via}: {result[won].str()}"
        new = c.wait_active_controller(among=majority, timeout_s=10)
        print(f"node {old} isolated: node {new} became controller, CreateTopics through node {via} "
              f"succeeded after {created_after:.2f}s")
        assert new in majority
        assert created_after < 10.0
        wait_brokers(c, majority, majority, 15, f"isolated node {old} fenced by the majority")
        for i in majority:
            assert sorted(p.partition for p in c.metadata(i, [won]).topics[won].partitions) == [0, 1, 2]
        assert won not in c.metadata(old).topics, "the isolated node learnt a topic through the partition"

        waiter.join(timeout=NO_QUORUM_ANSWER_S + 15)
        assert not waiter.is_alive(), "CreateTopics on the isolated node got no answer"
        err = answer.get(lost)
        print(f"CreateTopics on the isolated node answered after {time.monotonic() - t0:.1f}s: {err}")
        assert isinstance(err, ck.KafkaError) and err.code() == ck.KafkaError.REQUEST_TIMED_OUT, answer

        net.heal(old)
        t1 = time.monotonic()
        wait_brokers(c, ALL, ALL, 30, "all three listed after the heal")
        wait_for(lambda: len(set(controllers_seen(c).values()) - {None}) == 1
                 and None not in controllers_seen(c).values(),
                 20, interval_s=0.2, what="one controller that every node names")
        print(f"healed: one controller ({controllers_seen(c)}), three brokers after "
              f"{time.monotonic() - t1:.2f}s")
        for i in ALL:
            md = c.metadata(i)
            assert sorted(p.partition for p in md.topics[won].partitions) == [0, 1, 2], f"node {i}"
            assert lost not in md.topics, f"node {i} has the topic that timed out"
    finally:
        if c is not None:
            c.cleanup()
        net.remove()
