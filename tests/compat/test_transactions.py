"""Transactions (exactly-once) with confluent-kafka, against Kafka's documented behaviour.

Kafka's contract: a transactional producer's records become visible to read_committed consumers
only when its transaction commits, never when it aborts, and each transaction ends with one
control record (the commit or abort marker) in every partition it wrote, which takes an offset
and is never delivered to applications. read_uncommitted consumers see every data record,
aborted ones included. A read_committed consumer stops at the last stable offset (LSO: the first
offset of the oldest open transaction, the high watermark when none is open), and ListOffsets
with isolation READ_COMMITTED answers the LSO as the latest offset. A second producer with the
same transactional.id fences the first (whose next operation fails with a fatal
PRODUCER_FENCED / INVALID_PRODUCER_EPOCH) and aborts its open transaction; a transaction open
longer than transaction.timeout.ms is aborted by the coordinator. Offsets added to a
transaction (send_offsets_to_transaction) commit and abort with it, so a consume-transform-
produce pipeline outputs every input record exactly once, across rebalances and crashes. The
transaction coordinator's state survives the loss of the leader of its `__transaction_state`
partition. DescribeTransactions, ListTransactions and DescribeProducers show the state
(confluent-kafka's AdminClient has no call for them: raw requests here).

Every test starts its own broker; processors of the exactly-once pipeline run as child
processes (txn_processor.py).
"""

from __future__ import annotations

import collections
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import confluent_kafka as ck
import pytest
from confluent_kafka import IsolationLevel
from confluent_kafka.admin import NewTopic, OffsetSpec

import kafka_wire as kw
from cluster import _compact_array, _compact_items, _compact_string, _skip_tags
from clients import (
    CLIENT_TIMEOUT_S, admin, assert_delivered, consume, create_topic, log_client_error, produce_all, producer,
    unique, wait_for,
)
from groups import GROUP_BROKER_OVERRIDES, committed_offsets
from test_cluster import GROUPS, TUNED, cluster_factory, create_ok  # noqa: F401

# One broker holds every replica of the coordinators' internal topics (Kafka: 3 replicas, min ISR 2,
# 50 partitions); groups start at once.
TXN_BROKER = {
    **GROUP_BROKER_OVERRIDES,
    "transaction.state.log.replication.factor": "1",
    "transaction.state.log.min.isr": "1",
    "transaction.state.log.num.partitions": "4",
}

API_DESCRIBE_PRODUCERS = 61
API_DESCRIBE_TRANSACTIONS = 65
API_LIST_TRANSACTIONS = 66
COORDINATOR_KEY_TRANSACTION = 1
ERROR_TRANSACTIONAL_ID_NOT_FOUND = 105
# What a fenced transactional producer reports: librdkafka turns PRODUCER_FENCED (90) and
# INVALID_PRODUCER_EPOCH (47) into its fatal _FENCED (-144) for transactional producers.
FENCED_CODES = {ck.KafkaError._FENCED, ck.KafkaError.PRODUCER_FENCED, ck.KafkaError.INVALID_PRODUCER_EPOCH}

PROCESSOR = Path(__file__).resolve().parent / "txn_processor.py"


@pytest.fixture
def txn_broker(broker_factory):
    return broker_factory(TXN_BROKER)


# -- helpers --------------------------------------------------------------------------------------------------------


def txn_producer(bootstrap: str, transactional_id: str, **conf) -> ck.Producer:
    """A transactional producer, initialized (InitProducerId through the transaction coordinator).
    message.timeout.ms is left to librdkafka, which caps it at transaction.timeout.ms."""
    base = {"bootstrap.servers": bootstrap, "transactional.id": transactional_id, "linger.ms": 5,
            "error_cb": log_client_error}
    base.update({k.replace("_", "."): v for k, v in conf.items()})
    p = ck.Producer(base)
    try:
        p.init_transactions(CLIENT_TIMEOUT_S)
    except ck.KafkaException:
        p.close()  # else, held by the traceback, it keeps reconnecting to a broker long gone
        raise
    return p


def run_transaction(p: ck.Producer, topic: str, records: list[tuple[int, bytes]], commit: bool) -> None:
    """One transaction of (partition, value) records, committed or aborted. Before an abort the
    records are flushed, so they are in the log (as aborted records) rather than purged unsent."""
    p.begin_transaction()
    for partition, value in records:
        p.produce(topic, value=value, partition=partition)
    if commit:
        p.commit_transaction(CLIENT_TIMEOUT_S)
    else:
        assert p.flush(CLIENT_TIMEOUT_S) == 0, "records of the transaction still unsent"
        p.abort_transaction(CLIENT_TIMEOUT_S)


def latest_offsets(bootstrap: str, topic: str, partitions: list[int], isolation: IsolationLevel) -> dict[int, int]:
    """ListOffsets LATEST with the given isolation level: the high watermark (READ_UNCOMMITTED)
    or the last stable offset (READ_COMMITTED), per partition."""
    client = admin(bootstrap)
    futures = client.list_offsets({ck.TopicPartition(topic, p): OffsetSpec.latest() for p in partitions},
                                  isolation_level=isolation, request_timeout=CLIENT_TIMEOUT_S)
    return {tp.partition: f.result(timeout=CLIENT_TIMEOUT_S).offset for tp, f in futures.items()}


def wait_stable(bootstrap: str, topic: str, expected: dict[int, int], timeout_s: float = CLIENT_TIMEOUT_S) -> None:
    """Wait until every partition's high watermark and LSO both equal expected[partition]: the
    markers of every transaction are written (commit_transaction returns once the coordinator
    has decided, before the markers are in the data partitions)."""
    parts = sorted(expected)

    def both() -> tuple[dict[int, int], dict[int, int]]:
        return (latest_offsets(bootstrap, topic, parts, IsolationLevel.READ_UNCOMMITTED),
                latest_offsets(bootstrap, topic, parts, IsolationLevel.READ_COMMITTED))

    wait_for(lambda: both() == (expected, expected), timeout_s, interval_s=0.1,
             what=f"high watermark and LSO of {topic} at {expected}")


def wait_settled(bootstrap: str, topic: str, partitions: list[int], timeout_s: float = CLIENT_TIMEOUT_S) -> None:
    """Wait until no transaction is open on the partitions: the LSO equals the high watermark, the
    same in two reads 0.5 s apart (the last markers may land after the producers have returned)."""
    last: list[dict[int, int]] = []

    def settled() -> bool:
        hw = latest_offsets(bootstrap, topic, partitions, IsolationLevel.READ_UNCOMMITTED)
        lso = latest_offsets(bootstrap, topic, partitions, IsolationLevel.READ_COMMITTED)
        steady = hw == lso and last == [hw]
        last[:] = [hw] if hw == lso else []
        return steady

    wait_for(settled, timeout_s, interval_s=0.5, what=f"no open transaction on {topic}")


def read(bootstrap: str, topic: str, partition: int, isolation: str) -> list[tuple[int, bytes]]:
    """(offset, value) of every record up to the end a consumer of that isolation level sees."""
    return [(m.offset(), m.value())
            for m in consume(bootstrap, topic, partition, isolation_level=isolation)]


def expect_failure(fn) -> ck.KafkaError:
    try:
        fn()
    except ck.KafkaException as e:
        return e.args[0]
    raise AssertionError(f"{fn} succeeded; Kafka fails it")


# -- commit, abort, read_committed, LSO ---------------------------------------------------------------------------


def test_committed_records_are_visible_to_read_committed_and_aborted_ones_only_to_read_uncommitted(txn_broker):
    b = txn_broker.bootstrap
    topic = unique("txn")
    create_topic(b, topic)
    p = txn_producer(b, unique("tid"))
    run_transaction(p, topic, [(0, b"a0"), (0, b"a1"), (0, b"a2")], commit=True)   # offsets 0-2, marker 3
    run_transaction(p, topic, [(0, b"b0"), (0, b"b1")], commit=False)              # offsets 4-5, marker 6
    run_transaction(p, topic, [(0, b"c0"), (0, b"c1")], commit=True)               # offsets 7-8, marker 9
    wait_stable(b, topic, {0: 10})

    assert read(b, topic, 0, "read_committed") == [(0, b"a0"), (1, b"a1"), (2, b"a2"), (7, b"c0"), (8, b"c1")]
    assert read(b, topic, 0, "read_uncommitted") == [
        (0, b"a0"), (1, b"a1"), (2, b"a2"), (4, b"b0"), (5, b"b1"), (7, b"c0"), (8, b"c1")]


def test_read_committed_stops_at_an_open_transaction_until_it_commits(txn_broker):
    b = txn_broker.bootstrap
    topic = unique("lso")
    create_topic(b, topic)
    txn = txn_producer(b, unique("tid"))
    run_transaction(txn, topic, [(0, b"first0"), (0, b"first1")], commit=True)    # 0-1, marker 2
    wait_stable(b, topic, {0: 3})
    txn.begin_transaction()
    for i in range(3):                                                              # 3-5, open
        txn.produce(topic, value=f"open{i}".encode(), partition=0)
    assert txn.flush(CLIENT_TIMEOUT_S) == 0
    plain = producer(b, acks="all", enable_idempotence=True)
    assert_delivered(produce_all(plain, topic, [{"value": f"plain{i}".encode(), "partition": 0}
                                                for i in range(2)]))               # 6-7

    # The LSO is the open transaction's first offset; the high watermark is past everything.
    assert latest_offsets(b, topic, [0], IsolationLevel.READ_UNCOMMITTED) == {0: 8}
    assert latest_offsets(b, topic, [0], IsolationLevel.READ_COMMITTED) == {0: 3}
    assert read(b, topic, 0, "read_uncommitted") == [
        (0, b"first0"), (1, b"first1"), (3, b"open0"), (4, b"open1"), (5, b"open2"), (6, b"plain0"), (7, b"plain1")]

    c = ck.Consumer({"bootstrap.servers": b, "group.id": unique("rc"), "enable.auto.commit": False,
                     "isolation.level": "read_committed", "enable.partition.eof": True,
                     "fetch.wait.max.ms": 100, "error_cb": log_client_error})
    try:
        c.assign([ck.TopicPartition(topic, 0, ck.OFFSET_BEGINNING)])
        seen: list[tuple[int, bytes]] = []
        eof_at: list[int] = []

        def pump(seconds: float) -> None:
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                for m in c.consume(num_messages=100, timeout=0.1):
                    if m.error() is None:
                        seen.append((m.offset(), m.value()))
                    elif m.error().code() == ck.KafkaError._PARTITION_EOF:
                        eof_at.append(m.offset())
                    else:
                        raise AssertionError(f"consumer error: {m.error().str()}")

        # Not past the open transaction, even though non-transactional records follow it.
        pump(3.0)
        assert seen == [(0, b"first0"), (1, b"first1")]
        assert eof_at and eof_at[-1] == 3, f"EOF reported at {eof_at}, expected at the LSO 3"

        txn.commit_transaction(CLIENT_TIMEOUT_S)                                    # marker 8
        wait_stable(b, topic, {0: 9})
        wait_for(lambda: (pump(0.2), len(seen) >= 7)[1], CLIENT_TIMEOUT_S, what="the committed records")
        pump(0.5)
        assert seen == [(0, b"first0"), (1, b"first1"), (3, b"open0"), (4, b"open1"), (5, b"open2"),
                        (6, b"plain0"), (7, b"plain1")]
    finally:
        c.close()


def test_interleaved_transactions_of_two_producers_keep_the_committed_records_and_drop_the_aborted_ones(txn_broker):
    b = txn_broker.bootstrap
    topic = unique("interleaved")
    create_topic(b, topic)
    one, two = txn_producer(b, unique("tid-one")), txn_producer(b, unique("tid-two"))
    one.begin_transaction()
    two.begin_transaction()
    for p, value in ((one, b"one-a"), (two, b"two-a"), (one, b"one-b"), (two, b"two-b")):    # 0, 1, 2, 3
        p.produce(topic, value=value, partition=0)
        assert p.flush(CLIENT_TIMEOUT_S) == 0
    two.commit_transaction(CLIENT_TIMEOUT_S)                                        # marker 4
    wait_for(lambda: latest_offsets(b, topic, [0], IsolationLevel.READ_UNCOMMITTED) == {0: 5}, CLIENT_TIMEOUT_S,
             what="the commit marker of the second transaction")
    # The first transaction is still open from offset 0: nothing is stable yet.
    assert latest_offsets(b, topic, [0], IsolationLevel.READ_COMMITTED) == {0: 0}
    assert read(b, topic, 0, "read_committed") == []
    one.abort_transaction(CLIENT_TIMEOUT_S)                                         # marker 5
    wait_stable(b, topic, {0: 6})

    # The aborted transaction spans the committed one's records: only the aborted ones go.
    assert read(b, topic, 0, "read_committed") == [(1, b"two-a"), (3, b"two-b")]
    assert read(b, topic, 0, "read_uncommitted") == [(0, b"one-a"), (1, b"two-a"), (2, b"one-b"), (3, b"two-b")]


def test_list_offsets_answers_the_lso_for_read_committed_and_the_high_watermark_otherwise(txn_broker):
    b = txn_broker.bootstrap
    topic = unique("listoffsets")
    create_topic(b, topic, partitions=2)
    p = txn_producer(b, unique("tid"))
    run_transaction(p, topic, [(0, b"x"), (1, b"y")], commit=True)                 # 0, marker 1 on each
    wait_stable(b, topic, {0: 2, 1: 2})
    p.begin_transaction()
    p.produce(topic, value=b"open", partition=1)                                  # 1: offset 2, open
    assert p.flush(CLIENT_TIMEOUT_S) == 0
    assert latest_offsets(b, topic, [0, 1], IsolationLevel.READ_UNCOMMITTED) == {0: 2, 1: 3}
    assert latest_offsets(b, topic, [0, 1], IsolationLevel.READ_COMMITTED) == {0: 2, 1: 2}
    p.abort_transaction(CLIENT_TIMEOUT_S)                                          # 1: marker 3
    wait_stable(b, topic, {0: 2, 1: 4})
    assert read(b, topic, 1, "read_committed") == [(0, b"y")]


# -- fencing and timeouts -------------------------------------------------------------------------------------------


def test_a_second_producer_with_the_same_transactional_id_fences_the_first_and_aborts_its_transaction(txn_broker):
    b = txn_broker.bootstrap
    topic = unique("fence")
    create_topic(b, topic)
    tid = unique("tid")
    first = txn_producer(b, tid)
    first.begin_transaction()
    for i in range(3):                                                              # 0-2
        first.produce(topic, value=f"zombie{i}".encode(), partition=0)
    assert first.flush(CLIENT_TIMEOUT_S) == 0

    second = txn_producer(b, tid)          # InitProducerId bumps the epoch and aborts the open transaction
    wait_stable(b, topic, {0: 4})          # the abort marker at 3
    assert read(b, topic, 0, "read_committed") == []

    def first_goes_on() -> None:
        first.produce(topic, value=b"zombie-late", partition=0)
        first.commit_transaction(CLIENT_TIMEOUT_S)

    err = expect_failure(first_goes_on)
    assert err.fatal(), f"a fenced producer's error must be fatal, got {err.str()}"
    assert err.code() in FENCED_CODES, f"expected a fencing error, got {err.name()} ({err.str()})"

    # Nothing of the fenced producer reached the log after the abort marker.
    run_transaction(second, topic, [(0, b"live0"), (0, b"live1")], commit=True)   # 4-5, marker 6
    wait_stable(b, topic, {0: 7})
    assert read(b, topic, 0, "read_committed") == [(4, b"live0"), (5, b"live1")]


@pytest.mark.timeout(180)
def test_a_transaction_open_past_its_timeout_is_aborted_by_the_coordinator(broker_factory):
    # The coordinator looks for expired transactions every
    # transaction.abort.timed.out.transaction.cleanup.interval.ms (Kafka: 10 s).
    b = broker_factory({**TXN_BROKER, "transaction.abort.timed.out.transaction.cleanup.interval.ms": "500"}).bootstrap
    topic = unique("timeout")
    create_topic(b, topic)
    tid = unique("tid")
    p = txn_producer(b, tid, transaction_timeout_ms=3000)
    p.begin_transaction()
    for i in range(3):                                                              # 0-2
        p.produce(topic, value=f"stalled{i}".encode(), partition=0)
    assert p.flush(CLIENT_TIMEOUT_S) == 0
    started = time.monotonic()
    assert latest_offsets(b, topic, [0], IsolationLevel.READ_COMMITTED) == {0: 0}

    wait_stable(b, topic, {0: 4}, timeout_s=60)                                     # abort marker at 3
    assert time.monotonic() - started > 2.0, "aborted well before transaction.timeout.ms"
    assert read(b, topic, 0, "read_committed") == []
    assert [v for _, v in read(b, topic, 0, "read_uncommitted")] == [b"stalled0", b"stalled1", b"stalled2"]

    # The stalled producer cannot commit what the coordinator aborted.
    err = expect_failure(lambda: p.commit_transaction(CLIENT_TIMEOUT_S))
    if err.txn_requires_abort():
        p.abort_transaction(CLIENT_TIMEOUT_S)
        run_transaction(p, topic, [(0, b"after")], commit=True)
    else:
        assert err.fatal(), f"commit after a timeout abort: {err.name()} is neither abortable nor fatal"
        run_transaction(txn_producer(b, tid), topic, [(0, b"after")], commit=True)
    # 0-2 stalled, 3 the abort marker, 4 "after", 5 its commit marker. (The high watermark read
    # right after commit_transaction may not have the commit marker yet: wait for the end.)
    wait_stable(b, topic, {0: 6})
    assert read(b, topic, 0, "read_committed") == [(4, b"after")]


# -- several partitions --------------------------------------------------------------------------------------------


def test_a_transaction_over_several_topics_and_partitions_commits_and_aborts_everywhere(txn_broker):
    b = txn_broker.bootstrap
    t1, t2 = unique("multi-a"), unique("multi-b")
    create_topic(b, t1, partitions=3)
    create_topic(b, t2, partitions=1)
    p = txn_producer(b, unique("tid"))
    p.begin_transaction()
    for part in range(3):
        for i in range(2):
            p.produce(t1, value=f"c-{part}-{i}".encode(), partition=part)
    p.produce(t2, value=b"c-b-0", partition=0)
    p.produce(t2, value=b"c-b-1", partition=0)
    p.commit_transaction(CLIENT_TIMEOUT_S)                                          # 0-1, marker 2 everywhere
    p.begin_transaction()
    for part in range(3):
        p.produce(t1, value=f"a-{part}".encode(), partition=part)
    p.produce(t2, value=b"a-b", partition=0)
    assert p.flush(CLIENT_TIMEOUT_S) == 0
    p.abort_transaction(CLIENT_TIMEOUT_S)                                           # 3, marker 4 everywhere
    wait_stable(b, t1, {0: 5, 1: 5, 2: 5})
    wait_stable(b, t2, {0: 5})

    for part in range(3):
        assert read(b, t1, part, "read_committed") == [(0, f"c-{part}-0".encode()), (1, f"c-{part}-1".encode())]
        assert read(b, t1, part, "read_uncommitted") == [
            (0, f"c-{part}-0".encode()), (1, f"c-{part}-1".encode()), (3, f"a-{part}".encode())]
    assert read(b, t2, 0, "read_committed") == [(0, b"c-b-0"), (1, b"c-b-1")]
    assert read(b, t2, 0, "read_uncommitted") == [(0, b"c-b-0"), (1, b"c-b-1"), (3, b"a-b")]


# -- consume-transform-produce ------------------------------------------------------------------------------------


class Processor:
    """A txn_processor.py child process; its JSON event lines are collected on a reader thread."""

    def __init__(self, config: dict):
        self.proc = subprocess.Popen([sys.executable, str(PROCESSOR), json.dumps(config)],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     start_new_session=True)
        self.lock = threading.Lock()
        self.events: list[dict] = []
        self.stderr: list[str] = []
        self.readers = [threading.Thread(target=self._read_stdout, daemon=True),
                        threading.Thread(target=self._read_stderr, daemon=True)]
        for t in self.readers:
            t.start()

    def _read_stdout(self) -> None:
        for line in self.proc.stdout:
            with self.lock:
                self.events.append(json.loads(line))

    def _read_stderr(self) -> None:
        for line in self.proc.stderr:
            with self.lock:
                self.stderr.append(line.decode(errors="replace"))

    def check(self) -> None:
        """A processor that exited on its own (fenced, crashed) fails the test with its stderr."""
        if self.proc.poll() is not None and self.proc.returncode != -9:
            with self.lock:
                raise AssertionError(f"processor exited with {self.proc.returncode}; events {self.events[-5:]}\n"
                                     + "".join(self.stderr[-30:]))

    def committed_records(self) -> int:
        self.check()
        with self.lock:
            return sum(e["records"] for e in self.events if e["event"] == "committed")

    def kill9(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=CLIENT_TIMEOUT_S)

    def close(self) -> None:
        self.kill9()
        for t in self.readers:
            t.join(5)


@pytest.mark.timeout(300)
def test_consume_transform_produce_outputs_every_input_once_across_a_rebalance_and_a_sigkill(txn_broker):
    b = txn_broker.bootstrap
    src, dst, group = unique("ctp-in"), unique("ctp-out"), unique("ctp")
    partitions, n = 4, 4000
    create_topic(b, src, partitions=partitions)
    create_topic(b, dst, partitions=partitions)
    assert_delivered(produce_all(producer(b, acks="all", enable_idempotence=True), src,
                                 [{"value": f"in-{i}".encode(), "partition": i % partitions} for i in range(n)]))
    ends = {p: n // partitions for p in range(partitions)}

    def config(tid: str) -> dict:
        return {"bootstrap": b, "group": group, "input": src, "output": dst, "transactional_id": tid,
                "batch": 20, "delay_s": 0.05, "session_timeout_ms": 6000}

    tid_a, tid_b = unique("proc-a"), unique("proc-b")
    procs: list[Processor] = []
    try:
        a = Processor(config(tid_a))
        procs.append(a)
        wait_for(lambda: a.committed_records() >= 200, 60, interval_s=0.1, what="processor A's first commits")
        b_proc = Processor(config(tid_b))        # joins: the group rebalances in the middle of the run
        procs.append(b_proc)
        wait_for(lambda: b_proc.committed_records() >= 100, 60, interval_s=0.1, what="processor B's first commits")
        done_before_kill = a.committed_records() + b_proc.committed_records()
        assert done_before_kill < n, "the run finished before the crash: nothing was tested"
        a.kill9()                                # possibly inside a transaction: outputs and offsets pending
        a2 = Processor(config(tid_a))            # the same transactional.id fences the dead one's transaction
        procs.append(a2)

        def at_the_end() -> dict[int, int] | None:
            for proc in procs[1:]:
                proc.check()
            try:
                got = committed_offsets(b, group, src, range(partitions))
            except (ck.KafkaException, AssertionError):  # e.g. UNSTABLE_OFFSET_COMMIT while a commit is pending
                return None
            return got if got == ends else None

        committed = wait_for(at_the_end, 180, interval_s=0.5,
                             what=f"the group's committed offsets at the input's end {ends}")
        assert committed == ends
        for proc in procs[1:]:
            proc.check()
    finally:
        for proc in procs:
            proc.close()

    wait_settled(b, dst, list(range(partitions)))
    outputs = [m for p in range(partitions) for m in consume(b, dst, p, isolation_level="read_committed")]
    counts = collections.Counter(m.value() for m in outputs)
    duplicated = {v: c for v, c in counts.items() if c > 1}
    assert not duplicated, f"{len(duplicated)} inputs output more than once, e.g. {list(duplicated.items())[:5]}"
    assert set(counts) == {f"out-in-{i}".encode() for i in range(n)}
    # Each output names its input record: exactly the input offsets the group committed past.
    keys = {m.key().decode() for m in outputs}
    assert keys == {f"{p}:{o}" for p in range(partitions) for o in range(ends[p])}


# -- admin: DescribeTransactions, ListTransactions, DescribeProducers ---------------------------------------------


def _flexible(conn: kw.Connection, api_key: int, body: bytes) -> kw.Reader:
    r = kw.Reader(conn.request(api_key, 0, body + kw.uvarint(0), flexible_header=True))
    _skip_tags(r)  # response header v1
    return r


def list_transactions(conn: kw.Connection, states: list[str] = (), producer_ids: list[int] = ()):
    body = (_compact_array([kw.compact_string(s) for s in states])
            + _compact_array([kw.i64(p) for p in producer_ids]))
    r = _flexible(conn, API_LIST_TRANSACTIONS, body)
    r.i32()  # throttle_time_ms
    error = r.i16()
    unknown = _compact_items(r, _compact_string)

    def state(r: kw.Reader) -> tuple[str, int, str]:
        out = (_compact_string(r), r.i64(), _compact_string(r))
        _skip_tags(r)
        return out

    return error, unknown, _compact_items(r, state)


def describe_transactions(conn: kw.Connection, ids: list[str]) -> list[dict]:
    r = _flexible(conn, API_DESCRIBE_TRANSACTIONS, _compact_array([kw.compact_string(i) for i in ids]))
    r.i32()

    def topic(r: kw.Reader) -> tuple[str, list[int]]:
        name = _compact_string(r)
        parts = _compact_items(r, lambda r: r.i32())
        _skip_tags(r)
        return name, sorted(parts)

    def state(r: kw.Reader) -> dict:
        out = {"error": r.i16(), "id": _compact_string(r), "state": _compact_string(r), "timeout_ms": r.i32(),
               "start_ms": r.i64(), "producer_id": r.i64(), "producer_epoch": r.i16(),
               "topics": dict(_compact_items(r, topic))}
        _skip_tags(r)
        return out

    return _compact_items(r, state)


def describe_producers(conn: kw.Connection, topic: str, partition: int) -> tuple[int, list[dict]]:
    body = _compact_array([kw.compact_string(topic) + _compact_array([kw.i32(partition)]) + kw.uvarint(0)])
    r = _flexible(conn, API_DESCRIBE_PRODUCERS, body)
    r.i32()

    def producer_state(r: kw.Reader) -> dict:
        out = {"producer_id": r.i64(), "producer_epoch": r.i32(), "last_sequence": r.i32(),
               "last_timestamp": r.i64(), "coordinator_epoch": r.i32(), "txn_start_offset": r.i64()}
        _skip_tags(r)
        return out

    def part(r: kw.Reader) -> tuple[int, int, list[dict]]:
        index, error = r.i32(), r.i16()
        _compact_string(r)  # error_message
        active = _compact_items(r, producer_state)
        _skip_tags(r)
        return index, error, active

    def top(r: kw.Reader) -> list:
        _compact_string(r)
        out = _compact_items(r, part)
        _skip_tags(r)
        return out

    topics = _compact_items(r, top)
    assert len(topics) == 1 and len(topics[0]) == 1, f"DescribeProducers answered {topics}"
    index, error, active = topics[0][0]
    assert index == partition
    return error, active


def test_describe_and_list_transactions_and_describe_producers_show_an_open_then_a_committed_transaction(txn_broker):
    broker = txn_broker
    b = broker.bootstrap
    topic = unique("admin")
    create_topic(b, topic, partitions=2)
    tid = unique("tid")
    p = txn_producer(b, tid, transaction_timeout_ms=45000)
    before_ms = int(time.time() * 1000)
    p.begin_transaction()
    p.produce(topic, value=b"x", partition=1)
    p.produce(topic, value=b"y", partition=1)
    p.produce(topic, value=b"z", partition=1)                                      # 0-2 on partition 1
    assert p.flush(CLIENT_TIMEOUT_S) == 0

    with kw.connect(broker.host, broker.port) as conn:
        coordinator = kw.find_coordinator_v1(conn, tid, key_type=COORDINATOR_KEY_TRANSACTION)
        assert coordinator.error_code == 0 and coordinator.node_id == broker.node_id, coordinator

        [desc] = describe_transactions(conn, [tid])
        assert (desc["error"], desc["id"], desc["state"], desc["timeout_ms"]) == (0, tid, "Ongoing", 45000)
        assert desc["topics"] == {topic: [1]}
        assert before_ms - 1000 <= desc["start_ms"] <= int(time.time() * 1000) + 1000
        pid, epoch = desc["producer_id"], desc["producer_epoch"]
        assert pid >= 0 and epoch >= 0

        error, unknown, states = list_transactions(conn)
        assert (error, unknown) == (0, [])
        assert (tid, pid, "Ongoing") in states
        error, unknown, states = list_transactions(conn, states=["CompleteCommit", "NoSuchState"])
        assert (error, unknown) == (0, ["NoSuchState"])
        assert tid not in [s[0] for s in states]
        assert list_transactions(conn, producer_ids=[pid])[2] == [(tid, pid, "Ongoing")]

        error, active = describe_producers(conn, topic, 1)
        assert error == 0
        assert [(s["producer_id"], s["producer_epoch"], s["last_sequence"], s["txn_start_offset"]) for s in active] \
            == [(pid, epoch, 2, 0)]
        assert describe_producers(conn, topic, 0) == (0, [])

        p.commit_transaction(CLIENT_TIMEOUT_S)
        wait_stable(b, topic, {0: 0, 1: 4})
        # PrepareCommit until every marker is written, then CompleteCommit.
        desc = wait_for(lambda: (lambda d: d if d["state"] != "PrepareCommit" else None)(
            describe_transactions(conn, [tid])[0]), CLIENT_TIMEOUT_S, what=f"{tid} past PrepareCommit")
        assert (desc["error"], desc["state"], desc["producer_id"], desc["topics"]) == (0, "CompleteCommit", pid, {})
        assert tid not in [s[0] for s in list_transactions(conn, states=["Ongoing"])[2]]
        assert list_transactions(conn, producer_ids=[pid])[2] == [(tid, pid, "CompleteCommit")]
        error, active = describe_producers(conn, topic, 1)
        assert error == 0 and [(s["producer_id"], s["txn_start_offset"]) for s in active] == [(pid, -1)]

        [missing] = describe_transactions(conn, ["no-such-transactional-id"])
        assert (missing["error"], missing["id"]) == (ERROR_TRANSACTIONAL_ID_NOT_FOUND, "no-such-transactional-id")


# -- a cluster: the coordinator's leader dies mid-transaction ------------------------------------------------------


def java_string_hash(s: str) -> int:
    """String.hashCode: over UTF-16 code units, in 32-bit two's complement."""
    data = s.encode("utf-16-be")
    h = 0
    for i in range(0, len(data), 2):
        h = (31 * h + int.from_bytes(data[i:i + 2], "big")) & 0xFFFFFFFF
    return h - (1 << 32) if h >= 1 << 31 else h


def transaction_state_partition(tid: str, partitions: int) -> int:
    """Kafka's partitionFor: Utils.abs(transactionalId.hashCode) % partitions."""
    h = java_string_hash(tid)
    return (0 if h == -(1 << 31) else abs(h)) % partitions


@pytest.mark.timeout(240)
def test_a_transaction_commits_after_the_leader_of_its_transaction_state_partition_is_killed(cluster_factory):
    c = cluster_factory({**TUNED, **GROUPS, "transaction.state.log.num.partitions": "3"})
    topic = unique("txn-failover")
    create_ok(c.nodes[1].bootstrap, [NewTopic(topic, num_partitions=3, replication_factor=3)])
    everyone = ",".join(n.bootstrap for n in c.nodes.values())
    tid = unique("tid")
    p = txn_producer(everyone, tid)
    run_transaction(p, topic, [(part, f"before-{part}-{i}".encode()) for part in range(3) for i in range(5)],
                    commit=True)                                                    # 0-4, marker 5
    # Its markers are all written before the coordinator dies (else the next one writes them again).
    wait_stable(everyone, topic, {0: 6, 1: 6, 2: 6})

    state_partition = transaction_state_partition(tid, 3)
    md = c.metadata(1, ["__transaction_state"])
    [leader] = [q.leader for q in md.topics["__transaction_state"].partitions if q.partition == state_partition]
    with c.nodes[1].connect() as conn:
        coordinator = kw.find_coordinator_v1(conn, tid, key_type=COORDINATOR_KEY_TRANSACTION)
    assert coordinator.error_code == 0 and coordinator.node_id == leader, \
        f"FindCoordinator says {coordinator}, __transaction_state-{state_partition} is led by {leader}"

    p.begin_transaction()
    for part in range(3):
        for i in range(5):
            p.produce(topic, value=f"during-{part}-{i}".encode(), partition=part)   # 6-10
    assert p.flush(CLIENT_TIMEOUT_S) == 0
    c.nodes[leader].kill9()

    deadline = time.monotonic() + 90
    while True:
        try:
            p.commit_transaction(CLIENT_TIMEOUT_S)                                  # marker 11
            break
        except ck.KafkaException as e:
            if not e.args[0].retriable() or time.monotonic() > deadline:
                raise
    run_transaction(p, topic, [(part, f"after-{part}".encode()) for part in range(3)], commit=True)  # 12, 13

    alive = next(n.bootstrap for i, n in c.nodes.items() if i != leader)
    wait_stable(alive, topic, {0: 14, 1: 14, 2: 14}, timeout_s=60)
    for part in range(3):
        expected = ([f"before-{part}-{i}".encode() for i in range(5)] + [f"during-{part}-{i}".encode() for i in range(5)]
                    + [f"after-{part}".encode()])
        assert [v for _, v in read(alive, topic, part, "read_committed")] == expected
