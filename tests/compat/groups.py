"""Consumer-group members driven the way applications drive them, plus the group's view from outside.

- `Member`: a confluent-kafka (librdkafka) consumer subscribed in a group. librdkafka runs the group
  protocol on its own threads; the application's poll only serves rebalance callbacks and hands
  out records, so one test thread can drive several members by pumping each in turn.
- `KpMember`: a kafka-python consumer, whose group protocol runs inside poll(); each one gets its
  own thread (the consumer is used from that thread only), and the test reads snapshots of its
  assignment and records, or runs a call on that thread (`call`).
- `ChildMember`: a confluent-kafka consumer in a child process (this file run as a script), for a
  member that dies without leaving (SIGKILL).
- committed offsets and group listings through a non-member consumer and the AdminClient, and
  `wait_until_equal`, which polls a reading until it equals the expected value and otherwise
  fails showing the last reading.

Every wait has a deadline; nothing sleeps to synchronise.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import Future
from pathlib import Path
from typing import Any, Callable, Iterable

import confluent_kafka as ck
from confluent_kafka import ConsumerGroupTopicPartitions

from clients import CLIENT_TIMEOUT_S, log_client_error, wait_for

# Kafka's broker settings for a test of groups: the first rebalance of an empty group is not held
# back 3 s for more members, __consumer_offsets gets few partitions, and (one broker) one replica:
# with Kafka's default of 3 a single broker could never create the offsets topic.
GROUP_BROKER_OVERRIDES = {
    "group.initial.rebalance.delay.ms": "0",
    "offsets.topic.num.partitions": "4",
    "offsets.topic.replication.factor": "1",
}

# librdkafka's defaults are session.timeout.ms=45000 and heartbeat.interval.ms=3000; a member
# learns of a rebalance from its next heartbeat, so a short interval keeps the tests quick.
SESSION_TIMEOUT_MS = 10000
HEARTBEAT_INTERVAL_MS = 500


def wait_until_equal(read: Callable[[], Any], expected: Any, timeout_s: float = CLIENT_TIMEOUT_S,
                     interval_s: float = 0.1, what: str = "value", exceptions: tuple = ()) -> Any:
    """Poll read() until it returns expected; fail with the last reading (or error) otherwise.
    Exceptions of the listed types count as 'not yet' (e.g. a coordinator still loading)."""
    deadline = time.monotonic() + timeout_s
    last: Any = "(never read)"
    while True:
        try:
            last = read()
            if last == expected:
                return last
        except exceptions as e:  # noqa: PERF203 - retried until the deadline
            last = f"{type(e).__name__}: {e}"
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what} == {expected!r}; last: {last!r}")
        time.sleep(interval_s)


# -- confluent-kafka members ---------------------------------------------------------------------------


def member_config(bootstrap: str, group: str, **conf) -> dict:
    base = {
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "client.id": "compat-member",
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "session.timeout.ms": SESSION_TIMEOUT_MS,
        "heartbeat.interval.ms": HEARTBEAT_INTERVAL_MS,
        "fetch.wait.max.ms": 100,
        "error_cb": log_client_error,
    }
    base.update({k.replace("_", "."): v for k, v in conf.items()})
    return base


class Member:
    """A subscribed confluent-kafka consumer. pump() polls once and keeps what came back:
    records as (topic, partition, offset, value), partition EOFs, and consumer errors (raised at
    once unless raise_errors=False)."""

    def __init__(self, bootstrap: str, group: str, topics: list[str], raise_errors: bool = True, **conf):
        self.group = group
        self.consumer = ck.Consumer(member_config(bootstrap, group, **conf))
        self.consumer.subscribe(topics)
        self.raise_errors = raise_errors
        self.records: list[tuple[str, int, int, bytes | None]] = []
        self.eofs: set[tuple[str, int]] = set()
        self.errors: list[ck.KafkaError] = []
        self.closed = False

    def pump(self, timeout_s: float = 0.05, max_messages: int = 1000) -> int:
        got = 0
        for m in self.consumer.consume(num_messages=max_messages, timeout=timeout_s):
            err = m.error()
            if err is None:
                self.records.append((m.topic(), m.partition(), m.offset(), m.value()))
                got += 1
            elif err.code() == ck.KafkaError._PARTITION_EOF:
                self.eofs.add((m.topic(), m.partition()))
            else:
                self.errors.append(err)
                if self.raise_errors:
                    raise AssertionError(f"consumer error in group {self.group}: {err.str()} (code {err.code()})")
        return got

    def take(self, count: int, timeout_s: float = CLIENT_TIMEOUT_S) -> list[tuple[str, int, int, bytes | None]]:
        """Consume exactly `count` more records (never more: the rest stay unconsumed) and return them."""
        start = len(self.records)
        deadline = time.monotonic() + timeout_s
        while len(self.records) - start < count:
            if time.monotonic() >= deadline:
                raise AssertionError(f"consumed {len(self.records) - start} of {count} records in {timeout_s}s")
            self.pump(0.1, max_messages=count - (len(self.records) - start))
        return self.records[start:]

    def assigned(self) -> set[tuple[str, int]]:
        return {(tp.topic, tp.partition) for tp in self.consumer.assignment()}

    def partitions(self) -> frozenset[int]:
        return frozenset(tp.partition for tp in self.consumer.assignment())

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.consumer.close()


def pump_until(members: Iterable[Member], condition: Callable[[], Any], timeout_s: float = CLIENT_TIMEOUT_S,
               what: str = "condition") -> Any:
    """Pump every member in turn until condition() is truthy."""
    members = list(members)

    def step():
        for m in members:
            if not m.closed:
                m.pump(0.05)
        return condition()

    return wait_for(step, timeout_s, interval_s=0, what=what)


def pump_for(members: Iterable[Member], seconds: float, check: Callable[[], None] | None = None) -> None:
    """Keep pumping for a fixed window (an observation period, not a wait), calling check() after
    every round so it can assert that something stays true throughout."""
    members = list(members)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        for m in members:
            if not m.closed:
                m.pump(0.05)
        if check is not None:
            check()


def split_evenly(assignments: list[frozenset[int]], partitions: int) -> bool:
    """True when the members' partition sets are disjoint, cover 0..partitions-1, and are balanced
    (what every assignor here produces for one topic)."""
    union = frozenset().union(*assignments)
    sizes = sorted(len(a) for a in assignments)
    return (sum(sizes) == partitions and union == frozenset(range(partitions))
            and sizes[-1] - sizes[0] <= 1)


def close_all(members: Iterable) -> None:
    """Teardown: close every member, even when one close fails, then report the first failure."""
    first: BaseException | None = None
    for m in members:
        try:
            m.close()
        except BaseException as e:  # noqa: BLE001 - keep closing the rest
            first = first or e
    if first is not None:
        raise first


# -- the group from outside -----------------------------------------------------------------------------


def committed_offsets(bootstrap: str, group: str, topic: str, partitions: Iterable[int]) -> dict[int, Any]:
    """The group's committed offsets as librdkafka's committed() reads them (OffsetFetch), from a
    consumer that never joins: {partition: offset}, offset ck.OFFSET_INVALID (-1001) for none.
    A partition-level error raises."""
    c = ck.Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False,
                     "error_cb": log_client_error})
    try:
        tps = c.committed([ck.TopicPartition(topic, p) for p in partitions], timeout=CLIENT_TIMEOUT_S)
    finally:
        c.close()
    errors = [(tp.partition, tp.error) for tp in tps if tp.error is not None]
    assert not errors, f"committed() partition errors: {errors}"
    return {tp.partition: tp.offset for tp in tps}


def committed_with_metadata(bootstrap: str, group: str, topic: str, partitions: Iterable[int]) -> dict[int, tuple]:
    c = ck.Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False,
                     "error_cb": log_client_error})
    try:
        tps = c.committed([ck.TopicPartition(topic, p) for p in partitions], timeout=CLIENT_TIMEOUT_S)
    finally:
        c.close()
    return {tp.partition: (tp.offset, tp.metadata) for tp in tps}


def wait_committed(bootstrap: str, group: str, topic: str, expected: dict[int, int],
                   timeout_s: float = CLIENT_TIMEOUT_S) -> dict[int, int]:
    """Poll the committed offsets until they equal expected (retrying while the coordinator loads)."""
    return wait_until_equal(lambda: committed_offsets(bootstrap, group, topic, expected), expected, timeout_s,
                            interval_s=0.2, what=f"committed offsets of group {group} on {topic}",
                            exceptions=(ck.KafkaException, AssertionError))


def group_offsets(client, group: str, partitions: list[ck.TopicPartition] | None = None) -> dict[tuple[str, int], int]:
    """AdminClient.list_consumer_group_offsets: {(topic, partition): offset} (all the group's committed
    offsets when partitions is None; librdkafka reports 'none' as OFFSET_INVALID, -1001)."""
    futures = client.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group, partitions)],
                                                 request_timeout=CLIENT_TIMEOUT_S)
    result = futures[group].result(timeout=CLIENT_TIMEOUT_S)
    errors = [(tp.topic, tp.partition, tp.error) for tp in result.topic_partitions or [] if tp.error is not None]
    assert not errors, f"list_consumer_group_offsets partition errors: {errors}"
    return {(tp.topic, tp.partition): tp.offset for tp in result.topic_partitions or []}


def group_listing(client, group: str):
    """The ConsumerGroupListing of `group` from list_consumer_groups, or None when it is not listed."""
    result = client.list_consumer_groups(request_timeout=CLIENT_TIMEOUT_S).result(timeout=CLIENT_TIMEOUT_S)
    assert not result.errors, f"list_consumer_groups errors: {result.errors}"
    return next((g for g in result.valid if g.group_id == group), None)


def group_state(client, group: str):
    listing = group_listing(client, group)
    return None if listing is None else listing.state


# -- kafka-python members ---------------------------------------------------------------------------------


# How long one kafka-python poll() may block (calls queued with KpMember.call wait at most this).
KP_POLL_MS = 500


class KpMember:
    """A kafka-python KafkaConsumer in a group, polled on its own thread. assignment() and records
    are snapshots; call(fn) runs fn(consumer) on that thread and returns its result."""

    def __init__(self, bootstrap: str, group: str, topics: list[str], **conf):
        self.group = group
        self.topics = topics
        self.conf = {"bootstrap_servers": bootstrap, "group_id": group, "enable_auto_commit": False,
                     "auto_offset_reset": "earliest", "session_timeout_ms": SESSION_TIMEOUT_MS,
                     "heartbeat_interval_ms": HEARTBEAT_INTERVAL_MS, "fetch_max_wait_ms": 100,
                     "request_timeout_ms": 30000, **conf}
        self.lock = threading.Lock()
        self.records: list[tuple[str, int, int, bytes | None]] = []
        self._assignment: frozenset[tuple[str, int]] = frozenset()
        self.error: BaseException | None = None
        self.calls: queue.Queue = queue.Queue()
        self.stop = threading.Event()
        self.closed = False
        self.started = threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"kafka-python {self.conf.get('client_id', group)}",
                                       daemon=True)
        self.thread.start()
        if not self.started.wait(CLIENT_TIMEOUT_S):
            raise AssertionError("kafka-python consumer did not start")
        if self.error is not None:
            raise AssertionError(f"kafka-python consumer failed to start: {self.error!r}")

    def _run(self) -> None:
        from kafka import KafkaConsumer
        c = None
        try:
            c = KafkaConsumer(**self.conf)
            # Topic metadata first: a leader that assigns before it knows the partitions rejoins
            # as soon as it learns them, and kafka-python 3.0.12 can lose the result of that
            # second join when a short poll() times out during it (the member then stops
            # heartbeating until its session expires).
            for topic in self.topics:
                c.partitions_for_topic(topic)
            c.subscribe(self.topics)
        except BaseException as e:  # noqa: BLE001 - reported to the test thread
            self.error = e
            self.started.set()
            if c is not None:
                c.close()
            return
        self.started.set()
        try:
            while not self.stop.is_set():
                while True:
                    try:
                        fn, fut = self.calls.get_nowait()
                    except queue.Empty:
                        break
                    try:
                        fut.set_result(fn(c))
                    except BaseException as e:  # noqa: BLE001 - handed to the caller
                        fut.set_exception(e)
                batch = c.poll(timeout_ms=KP_POLL_MS)
                with self.lock:
                    for tp, recs in batch.items():
                        self.records.extend((r.topic, r.partition, r.offset, r.value) for r in recs)
                    self._assignment = frozenset((tp.topic, tp.partition) for tp in c.assignment())
        except BaseException as e:  # noqa: BLE001 - reported to the test thread
            self.error = e
        finally:
            while True:  # nothing waits forever on a call the loop will not run
                try:
                    _, fut = self.calls.get_nowait()
                except queue.Empty:
                    break
                fut.set_exception(RuntimeError("kafka-python member stopped"))
            c.close()

    def check(self) -> None:
        if self.error is not None:
            raise AssertionError(f"kafka-python consumer in group {self.group} failed: {self.error!r}")

    def assignment(self) -> frozenset[tuple[str, int]]:
        self.check()
        with self.lock:
            return self._assignment

    def partitions(self) -> frozenset[int]:
        return frozenset(p for _, p in self.assignment())

    def snapshot(self) -> list[tuple[str, int, int, bytes | None]]:
        self.check()
        with self.lock:
            return list(self.records)

    def call(self, fn: Callable[[Any], Any], timeout_s: float = CLIENT_TIMEOUT_S) -> Any:
        self.check()
        fut: Future = Future()
        self.calls.put((fn, fut))
        return fut.result(timeout=timeout_s)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.stop.set()
            self.thread.join(CLIENT_TIMEOUT_S)
            if self.thread.is_alive():
                raise AssertionError(f"kafka-python consumer in group {self.group} did not close in time")
            self.check()


# -- other processes: kcat, node -------------------------------------------------------------------------------


class LineProcess:
    """A client run as a child process whose stdout is read line by line (JSON-decoded when
    json_lines) on a reader thread; close() kills it if it is still running."""

    def __init__(self, argv: list[str], json_lines: bool = False, cwd: str | None = None):
        self.argv = argv
        self.json_lines = json_lines
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     cwd=cwd, start_new_session=True)
        self.lock = threading.Lock()
        self._lines: list[Any] = []
        self._stderr: list[str] = []
        self.readers = [threading.Thread(target=self._read_stdout, daemon=True),
                        threading.Thread(target=self._read_stderr, daemon=True)]
        for t in self.readers:
            t.start()

    def _read_stdout(self) -> None:
        for raw in self.proc.stdout:
            line = raw.decode(errors="replace").rstrip("\n")
            if not line:
                continue
            item = json.loads(line) if self.json_lines else line
            with self.lock:
                self._lines.append(item)

    def _read_stderr(self) -> None:
        for raw in self.proc.stderr:
            with self.lock:
                self._stderr.append(raw.decode(errors="replace"))

    def lines(self) -> list[Any]:
        with self.lock:
            return list(self._lines)

    def stderr_tail(self, n: int = 30) -> str:
        with self.lock:
            return "".join(self._stderr[-n:])

    def wait(self, timeout_s: float) -> int:
        """The exit status; fails (with the stderr tail) if it does not exit within timeout_s."""
        try:
            rc = self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{self.argv[0]} still running after {timeout_s}s\nstderr:\n{self.stderr_tail()}")
        for t in self.readers:  # the pipes are at EOF once the process is gone
            t.join(5)
        return rc

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait(timeout=CLIENT_TIMEOUT_S)
        for t in self.readers:
            t.join(5)


# -- a member in a child process ------------------------------------------------------------------------------


class ChildMember:
    """A confluent-kafka group member in a child process (`python groups.py member CONFIG TOPIC`).
    It prints its assignment as a JSON line whenever that changes; kill9() ends it without a
    LeaveGroup, as a crashed application would."""

    def __init__(self, bootstrap: str, group: str, topic: str, **conf):
        config = {k: v for k, v in member_config(bootstrap, group, **conf).items() if k != "error_cb"}
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "member", json.dumps(config), topic],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
        )
        self.lock = threading.Lock()
        self.assignments: list[frozenset[int]] = []
        self.stderr: list[str] = []
        self.readers = [threading.Thread(target=self._read_stdout, daemon=True),
                        threading.Thread(target=self._read_stderr, daemon=True)]
        for t in self.readers:
            t.start()

    def _read_stdout(self) -> None:
        for line in self.proc.stdout:
            event = json.loads(line)
            with self.lock:
                self.assignments.append(frozenset(event["assignment"]))

    def _read_stderr(self) -> None:
        for line in self.proc.stderr:
            with self.lock:
                self.stderr.append(line.decode(errors="replace"))

    def partitions(self) -> frozenset[int]:
        if self.proc.poll() is not None and self.proc.returncode != -signal.SIGKILL:
            raise AssertionError(f"child consumer exited with {self.proc.returncode}:\n{''.join(self.stderr[-20:])}")
        with self.lock:
            return self.assignments[-1] if self.assignments else frozenset()

    def kill9(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=CLIENT_TIMEOUT_S)

    def close(self) -> None:
        self.kill9()
        for t in self.readers:
            t.join(5)


def _child_member_main(config_json: str, topic: str) -> int:
    """The child side of ChildMember: join, keep polling, print the assignment when it changes."""
    c = ck.Consumer(json.loads(config_json))
    c.subscribe([topic])
    last = None
    while True:  # ended by SIGKILL (or SIGTERM) from the test
        c.poll(0.1)
        now = sorted(tp.partition for tp in c.assignment())
        if now != last:
            print(json.dumps({"assignment": now}), flush=True)
            last = now


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "member":
        sys.exit(_child_member_main(sys.argv[2], sys.argv[3]))
    sys.exit(f"usage: {sys.argv[0]} member CONFIG_JSON TOPIC")
