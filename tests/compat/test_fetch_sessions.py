"""Incremental fetch sessions (KIP-227) seen from clients.

kafka-python keeps a fetch session per broker, as the Java client does: its fetches after the first
name only partitions whose position moved. librdkafka (confluent-kafka) and kafkajs never ask for a
session (session id 0, epoch -1), so they must keep working sessionless. The broker runs with its
Fetch handler's debug log on, whose lines say which fetches were incremental and which sessions were
created; the records read are checked exactly.
"""

from __future__ import annotations

import re
import shutil
import threading
import time
from pathlib import Path

import confluent_kafka as ck
import pytest

import kafka_wire as kw
from clients import (
    CLIENT_TIMEOUT_S, assert_delivered, consumer, create_topic, kp_consumer, produce_all, producer, unique,
    wait_for,
)
from fetch_wire import FetchSession
from groups import LineProcess
from kafka.errors import KafkaConnectionError
from test_cluster import TUNED, cluster_factory, create_ok, leaders  # noqa: F401

FETCH_DEBUG = {"RUST_LOG": "info,openraft=off,strom_broker::handlers::fetch=debug"}
PARTITIONS = 50
NODE_DIR = Path(__file__).resolve().parent / "node"
INCREMENTAL = re.compile(r"incremental fetch session_id=(\d+)")
CREATED = re.compile(r"full fetch session_id=(-?\d+) partitions=(\d+) privileged=(\w+)")


def log_text(broker) -> str:
    return broker.log_path.read_text(errors="replace")


def created_sessions(text: str) -> list[tuple[int, int]]:
    """(session id, partitions) of each full fetch that created a session."""
    return [(int(s), int(n)) for s, n, _ in CREATED.findall(text) if int(s) != 0]


def produce_spread(bootstrap: str, topic: str, partitions: int, per_partition: int, prefix: str) -> set:
    reports = produce_all(producer(bootstrap), topic,
                          [{"value": f"{prefix}-{p}-{i}".encode(), "partition": p}
                           for i in range(per_partition) for p in range(partitions)])
    assert_delivered(reports)
    return {(d.partition, d.offset, d.value.decode()) for d in reports}


def kp_read(consumers: list, want: set, seen: set, timeout_s: float) -> None:
    """Poll every kafka-python consumer until `seen` holds all of `want`."""
    deadline = time.monotonic() + timeout_s
    while not want <= seen:
        assert time.monotonic() < deadline, f"read {len(want & seen)} of {len(want)} records in {timeout_s}s"
        for c in consumers:
            for records in c.poll(timeout_ms=200).values():
                seen.update((r.partition, r.offset, r.value.decode()) for r in records)


def test_a_raw_session_client_reads_exactly_what_was_written_with_small_incremental_fetches(broker):
    b = broker.bootstrap
    topic = unique("raw-sess")
    create_topic(b, topic, partitions=PARTITIONS)
    session = FetchSession({(topic, p): 0 for p in range(PARTITIONS)})
    with kw.connect(broker.host, broker.port) as conn:
        first = session.fetch(conn)
        assert first.error_code == 0 and first.session_id != 0
        assert len(first.partitions) == PARTITIONS
        written = produce_spread(b, topic, 3, 4, "raw")  # partitions 0-2 only
        got: dict = {}
        incremental_sizes = []
        deadline = time.monotonic() + CLIENT_TIMEOUT_S
        while any(session.offsets[(topic, p)] < 4 for p in range(3)):
            assert time.monotonic() < deadline, f"only {sorted(got)} returned data"
            res = session.fetch(conn, max_wait_ms=500)
            assert res.error_code == 0 and res.session_id == first.session_id
            incremental_sizes.append(res.request_bytes)
            for tp, part in res.partitions.items():
                assert tp[1] in (0, 1, 2), f"unchanged partition {tp} was sent"
                if part.records:
                    got[tp] = got.get(tp, b"") + part.records
        # Nothing changes now: an incremental fetch answers with no partition at all.
        quiet = session.fetch(conn, max_wait_ms=0)
        assert quiet.error_code == 0 and quiet.partitions == {}
    offsets = {tp: session.offsets[tp] for tp in got}
    assert offsets == {(topic, p): 4 for p in range(3)}
    read = sum(b.record_count for r in got.values() for b in kw.parse_record_batches(r))
    assert read == len(written) == 12
    # A full fetch names 50 partitions; incremental ones only those that moved.
    assert max(incremental_sizes) < first.request_bytes / 4, (incremental_sizes, first.request_bytes)


class KpMember:
    """A kafka-python group member polling on a thread of its own (a member blocked in a rebalance
    must not keep another member in the same thread from joining). Records go into `seen`."""

    def __init__(self, bootstrap: str, topic: str, seen: set, lock: threading.Lock, **conf):
        self.seen, self.lock = seen, lock
        self.assigned = 0
        self.error: BaseException | None = None
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(bootstrap, topic, conf), daemon=True)
        self.thread.start()

    def _run(self, bootstrap: str, topic: str, conf: dict) -> None:
        c = kp_consumer(bootstrap, **conf)
        try:
            c.subscribe([topic])
            while not self.stop.is_set():
                try:
                    polled = c.poll(timeout_ms=200)
                except KafkaConnectionError:
                    # kafka-python 3 raises this from poll() while the broker restarts; an
                    # application polls again.
                    time.sleep(0.2)
                    continue
                for records in polled.values():
                    with self.lock:
                        self.seen.update((r.partition, r.offset, r.value.decode()) for r in records)
                self.assigned = len(c.assignment())
        except BaseException as e:  # shown by the test
            self.error = e
        finally:
            c.close()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(60)
        assert not self.thread.is_alive(), "a kafka-python member did not stop"
        assert self.error is None, f"kafka-python member failed: {self.error!r}"


def test_kafka_python_consumers_fetch_incrementally_through_a_rebalance_and_a_broker_restart(broker_factory):
    broker = broker_factory(env=FETCH_DEBUG)
    b = broker.bootstrap
    topic, group = unique("kp-sess"), unique("kp-sess-g")
    create_topic(b, topic, partitions=PARTITIONS)
    want = produce_spread(b, topic, PARTITIONS, 4, "a")
    conf = {"group_id": group, "enable_auto_commit": True, "auto_commit_interval_ms": 200,
            "fetch_max_wait_ms": 200}
    seen: set = set()
    lock = threading.Lock()

    def has(records: set) -> bool:
        with lock:
            return records <= seen

    one = KpMember(b, topic, seen, lock, **conf)
    two = None
    try:
        wait_for(lambda: has(want), 60, what="the first member reading every record")
        sessions = created_sessions(log_text(broker))
        assert sessions and max(n for _, n in sessions) == PARTITIONS, sessions
        wait_for(lambda: len(INCREMENTAL.findall(log_text(broker))) >= 3, 30, what="three incremental fetches")
        assert len(created_sessions(log_text(broker))) == len(sessions), "the session was not kept"

        # A second member: the partitions split, each member's session forgets the ones it lost.
        two = KpMember(b, topic, seen, lock, **conf)
        wait_for(lambda: one.assigned and two.assigned and one.assigned + two.assigned == PARTITIONS, 60,
                 what="a split of the partitions")
        more = produce_spread(b, topic, PARTITIONS, 2, "b")
        wait_for(lambda: has(more), 60, what="the two members reading every new record")
        wait_for(lambda: re.search(r"forgotten=[1-9]", log_text(broker)), 30,
                 what="a session forgetting the partitions its member lost")

        # Sessions die with the broker; the consumers start over and read everything after it.
        mark = len(log_text(broker))
        broker.restart()
        after = produce_spread(b, topic, PARTITIONS, 2, "c")
        wait_for(lambda: has(after), 90, what="every record written after the restart")
        wait_for(lambda: INCREMENTAL.findall(log_text(broker)[mark:]), 30, what="an incremental fetch after the restart")
        assert created_sessions(log_text(broker)[mark:]), "no session was created after the restart"
        produced = {v for _, _, v in want | more | after}
        with lock:
            assert {v for _, _, v in seen} == produced, "read a record nobody wrote"
    finally:
        one.close()
        if two is not None:
            two.close()


def test_librdkafka_and_kafkajs_consumers_fetch_without_sessions(broker_factory):
    broker = broker_factory(env=FETCH_DEBUG)
    b = broker.bootstrap
    topic = unique("no-sess")
    create_topic(b, topic, partitions=PARTITIONS)
    want = produce_spread(b, topic, PARTITIONS, 3, "n")

    c = consumer(b, **{"auto.offset.reset": "earliest", "enable.partition.eof": False})
    try:
        c.assign([ck.TopicPartition(topic, p, ck.OFFSET_BEGINNING) for p in range(PARTITIONS)])
        got = set()
        deadline = time.monotonic() + CLIENT_TIMEOUT_S
        while len(got) < len(want):
            assert time.monotonic() < deadline, f"librdkafka read {len(got)} of {len(want)}"
            for m in c.consume(num_messages=1000, timeout=0.5):
                assert m.error() is None, m.error()
                got.add((m.partition(), m.offset(), m.value().decode()))
        assert got == want
    finally:
        c.close()

    node = shutil.which("node")
    assert node, "node is not installed (scripts/install-deps installs it)"
    assert (NODE_DIR / "node_modules" / "kafkajs").is_dir(), "kafkajs is not installed in tests/compat/node"
    js = LineProcess([node, str(NODE_DIR / "group_consumer.js"), b, topic, unique("kjs-g"), str(len(want)), "90"],
                     json_lines=True)
    try:
        assert js.wait(100) == 0, js.stderr_tail()
        read = {(e["partition"], e["offset"], e["value"]) for e in js.lines() if e.get("event") == "message"}
        assert read == want
    finally:
        js.close()

    text = log_text(broker)
    assert created_sessions(text) == [] and not INCREMENTAL.findall(text), \
        "a client that never asked for a session got one"


def test_kafka_python_sessions_follow_leadership_moves_in_a_three_broker_cluster(cluster_factory, monkeypatch):
    from confluent_kafka.admin import NewTopic
    from kafka import TopicPartition

    monkeypatch.setenv("RUST_LOG", FETCH_DEBUG["RUST_LOG"])
    c = cluster_factory({**TUNED})
    topic = unique("kp-lead")
    parts = 12
    create_ok(c.nodes[1].bootstrap, [NewTopic(topic, num_partitions=parts, replication_factor=3)])
    wait_for(lambda: all(l >= 0 for l in leaders(c, 1, topic).values()), 30, what="a leader for every partition")

    def send(via: int, prefix: str) -> set:
        reports = produce_all(producer(c.nodes[via].bootstrap, acks="all"), topic,
                              [{"value": f"{prefix}-{p}-{i}".encode(), "partition": p}
                               for i in range(5) for p in range(parts)])
        assert_delivered(reports)
        return {(d.partition, d.offset, d.value.decode()) for d in reports}

    want = send(1, "a")
    bootstrap = ",".join(n.bootstrap for n in c.nodes.values())
    kp = kp_consumer(bootstrap, fetch_max_wait_ms=200, metadata_max_age_ms=1000)
    try:
        kp.assign([TopicPartition(topic, p) for p in range(parts)])
        kp.seek_to_beginning()
        seen: set = set()
        kp_read([kp], want, seen, 60)
        # Stop the broker leading the most partitions: its partitions move to the other two, whose
        # sessions with the consumer grow (and the consumer's session with it is gone).
        before = leaders(c, 1, topic)
        victim = max(set(before.values()), key=lambda n: list(before.values()).count(n))
        c.nodes[victim].stop()
        survivor = min(set(c.nodes) - {victim})
        wait_for(lambda: all(l not in (-1, victim) for l in leaders(c, survivor, topic).values()), 30,
                 what="new leaders for the stopped broker's partitions")
        more = send(survivor, "b")
        kp_read([kp], more, seen, 90)
        # It comes back: partitions move again on the next preferred election or stay; either way
        # the consumer keeps reading everything.
        c.start([victim])
        last = send(survivor, "c")
        kp_read([kp], last, seen, 90)
        assert want | more | last <= seen
        assert {v for _, _, v in seen} == {v for _, _, v in want | more | last}
        logs = {n: c.nodes[n].log_text() for n in c.nodes}
        assert any(INCREMENTAL.search(t) for t in logs.values()), "no incremental fetch on any broker"
        # A surviving broker's session with the consumer held more partitions after the move.
        sizes = {n: [int(x) for x in re.findall(r"incremental fetch .*session_partitions=(\d+)", logs[n])]
                 for n in set(c.nodes) - {victim}}
        assert any(v and max(v) > v[0] for v in sizes.values()), sizes
    finally:
        kp.close()
