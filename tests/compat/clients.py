"""The three real clients, driven the way an application would, plus polling with a deadline.

Tests call these so each one reads as "produce these records, read them back, compare". Every
helper is bounded in time and raises with the client's own error text when Kafka would fail.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from typing import Any, Callable, Iterable

import confluent_kafka as ck
from confluent_kafka.admin import AdminClient, NewTopic

CLIENT_TIMEOUT_S = 30.0


def wait_for(predicate: Callable[[], Any], timeout_s: float, interval_s: float = 0.05, what: str = "condition"):
    """Poll predicate() until it returns something truthy; return it, or fail after timeout_s."""
    deadline = time.monotonic() + timeout_s
    last = None
    while True:
        last = predicate()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what} (last value: {last!r})")
        time.sleep(interval_s)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


# -- confluent-kafka: admin ----------------------------------------------------------------------------


def admin(bootstrap: str) -> AdminClient:
    """Keep the client referenced until its futures resolve: a collected client fails them (_DESTROY)."""
    return AdminClient({"bootstrap.servers": bootstrap})


def kafka_error(exc: BaseException) -> ck.KafkaError:
    """The KafkaError inside a KafkaException raised by a confluent-kafka future."""
    assert isinstance(exc, ck.KafkaException), f"expected KafkaException, got {exc!r}"
    return exc.args[0]


def create_topic(bootstrap: str, name: str, partitions: int = 1, config: dict[str, str] | None = None) -> None:
    """CreateTopics through AdminClient, then wait until metadata shows a leader for every partition."""
    client = admin(bootstrap)
    futures = client.create_topics(
        [NewTopic(name, num_partitions=partitions, replication_factor=1, config=config or {})],
        operation_timeout=CLIENT_TIMEOUT_S, request_timeout=CLIENT_TIMEOUT_S,
    )
    futures[name].result(timeout=CLIENT_TIMEOUT_S)
    wait_for(lambda: partitions_with_leaders(bootstrap, name) == partitions, CLIENT_TIMEOUT_S,
             what=f"{partitions} led partitions of {name} in metadata")


def cluster_metadata(bootstrap: str):
    """All-topics metadata (a request naming no topic never auto-creates one)."""
    return admin(bootstrap).list_topics(timeout=CLIENT_TIMEOUT_S)


def topic_names(bootstrap: str) -> set[str]:
    return set(cluster_metadata(bootstrap).topics)


def partitions_with_leaders(bootstrap: str, topic: str) -> int:
    t = cluster_metadata(bootstrap).topics.get(topic)
    if t is None or t.error is not None:
        return 0
    return sum(1 for p in t.partitions.values() if p.leader >= 0 and p.error is None)


# -- confluent-kafka: producer -------------------------------------------------------------------------


@dataclass
class Delivery:
    """One delivery report: where the broker put the record, or why it refused it."""
    index: int
    error: ck.KafkaError | None
    partition: int
    offset: int
    timestamp: tuple[int, int]
    value: bytes | None


def log_client_error(err: ck.KafkaError) -> None:
    """error_cb: client-level errors go to stderr (shown with a failed test) instead of being raised
    from poll()/flush() in the middle of delivery callbacks; delivery reports still carry them."""
    print(f"client error: {err.str()} (code {err.code()}, fatal={err.fatal()})", file=sys.stderr)


def producer(bootstrap: str, **conf) -> ck.Producer:
    base = {"bootstrap.servers": bootstrap, "linger.ms": 5, "message.timeout.ms": 30000,
            "error_cb": log_client_error}
    base.update({k.replace("_", "."): v for k, v in conf.items()})
    return ck.Producer(base)


def produce_all(p: ck.Producer, topic: str, records: Iterable[dict], timeout_s: float = 60.0) -> list[Delivery]:
    """Produce each record (dict of produce() keyword arguments: value, key, partition, headers,
    timestamp) and return the delivery reports in produce order."""
    reports: dict[int, Delivery] = {}

    def on_delivery(i: int):
        def cb(err, msg):
            reports[i] = Delivery(i, err, msg.partition(), msg.offset(), msg.timestamp(), msg.value())
        return cb

    count = 0
    try:
        for i, record in enumerate(records):
            while True:
                try:
                    p.produce(topic, on_delivery=on_delivery(i), **record)
                    break
                except BufferError:
                    p.poll(0.05)
            p.poll(0)
            count += 1
        remaining = p.flush(timeout_s)
    except (ck.KafkaException, SystemError) as e:
        # A fatal client error surfaces here (confluent-kafka raises it from poll/flush, chained).
        raise AssertionError(f"producer failed: {e.__cause__ or e}") from e
    assert remaining == 0, f"{remaining} records still undelivered after {timeout_s}s"
    assert len(reports) == count, f"{count} produced, {len(reports)} delivery reports"
    return [reports[i] for i in range(count)]


def assert_delivered(reports: list[Delivery]) -> None:
    failed = [(d.index, d.error.str()) for d in reports if d.error is not None]
    assert not failed, f"{len(failed)} of {len(reports)} deliveries failed, first: {failed[:3]}"


# -- confluent-kafka: consumer -------------------------------------------------------------------------


def consumer(bootstrap: str, **conf) -> ck.Consumer:
    # confluent-kafka insists on a group.id; assign() with explicit offsets never uses the group.
    base = {
        "bootstrap.servers": bootstrap,
        "group.id": unique("compat"),
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "enable.partition.eof": True,
        "auto.offset.reset": "error",
        "check.crcs": True,
        # Reaching the end of a partition (the EOF event) costs one empty long poll: keep it short.
        "fetch.wait.max.ms": 100,
    }
    base.update({k.replace("_", "."): v for k, v in conf.items()})
    return ck.Consumer(base)


def consume(bootstrap: str, topic: str, partition: int = 0, start: int = ck.OFFSET_BEGINNING,
            count: int | None = None, timeout_s: float = CLIENT_TIMEOUT_S, **conf) -> list[ck.Message]:
    """Messages from start: `count` of them, or (count=None) everything up to the end of the partition."""
    c = consumer(bootstrap, **conf)
    try:
        c.assign([ck.TopicPartition(topic, partition, start)])
        out: list[ck.Message] = []
        deadline = time.monotonic() + timeout_s
        while count is None or len(out) < count:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"consumed {len(out)} of {count if count is not None else 'all'} "
                                     f"records of {topic}-{partition} in {timeout_s}s")
            for m in c.consume(num_messages=10000, timeout=min(remaining, 1.0)):
                err = m.error()
                if err is None:
                    out.append(m)
                elif err.code() == ck.KafkaError._PARTITION_EOF:
                    if count is None:
                        return out
                else:
                    raise AssertionError(f"consumer error on {topic}-{partition}: {err.str()} (code {err.code()})")
        return out
    finally:
        c.close()


def values(messages: list[ck.Message]) -> list[bytes | None]:
    return [m.value() for m in messages]


# -- kafka-python ---------------------------------------------------------------------------------------


def kp_producer(bootstrap: str, **conf):
    """kafka-python 3 turns idempotence on by default; tests of other features turn it off so they do
    not depend on InitProducerId. test_idempotence.py covers the default (idempotent) producer."""
    from kafka import KafkaProducer
    base = {"bootstrap_servers": bootstrap, "request_timeout_ms": 30000, "max_block_ms": 30000,
            "enable_idempotence": False}
    base.update(conf)
    return KafkaProducer(**base)


def kp_consumer(bootstrap: str, **conf):
    from kafka import KafkaConsumer
    base = {"bootstrap_servers": bootstrap, "group_id": None, "enable_auto_commit": False,
            "auto_offset_reset": "earliest", "request_timeout_ms": 30000}
    base.update(conf)
    return KafkaConsumer(**base)


def kp_consume(bootstrap: str, topic: str, partition: int, offset: int, count: int,
               timeout_s: float = CLIENT_TIMEOUT_S, **conf) -> list:
    """kafka-python: assign + seek (no group), read `count` ConsumerRecords."""
    from kafka import TopicPartition
    c = kp_consumer(bootstrap, **conf)
    try:
        tp = TopicPartition(topic, partition)
        c.assign([tp])
        c.seek(tp, offset)
        out = []
        deadline = time.monotonic() + timeout_s
        while len(out) < count:
            if time.monotonic() >= deadline:
                raise AssertionError(f"kafka-python consumed {len(out)} of {count} records of {topic}-{partition}")
            for records in c.poll(timeout_ms=500).values():
                out.extend(records)
        return out
    finally:
        c.close()


def kp_admin(bootstrap: str):
    from kafka.admin import KafkaAdminClient
    return KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=30000)


# -- kcat -----------------------------------------------------------------------------------------------


def kcat(bootstrap: str, *args: str, stdin: bytes | None = None, timeout_s: float = CLIENT_TIMEOUT_S,
         check: bool = True) -> subprocess.CompletedProcess:
    exe = shutil.which("kcat")
    assert exe, "kcat is not installed (scripts/install-deps installs it)"
    feed = {"input": stdin} if stdin is not None else {"stdin": subprocess.DEVNULL}
    proc = subprocess.run([exe, "-b", bootstrap, "-m", "15", *args], capture_output=True, timeout=timeout_s, **feed)
    if check and proc.returncode != 0:
        raise AssertionError(f"kcat {' '.join(args)} exited {proc.returncode}\nstderr:\n"
                             f"{proc.stderr.decode(errors='replace')}")
    return proc


def kcat_json_lines(stdout: bytes) -> list[dict]:
    return [json.loads(line) for line in stdout.decode().splitlines() if line.strip()]
