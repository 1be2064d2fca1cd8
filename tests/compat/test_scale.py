"""Many partitions on one broker: file handles follow activity, not the partition count.

Each partition has three segment files; the broker keeps at most `strom.log.open.files.max` of them
open (by default half the open files limit) and reopens idle ones on use. These tests start the
broker under a low `ulimit -n` (prlimit, soft and hard) and use more partitions than the limit could
hold open at three files each. They also check that CreateTopics never answers success for a topic
whose logs the broker could not create: it answers KAFKA_STORAGE_ERROR and leaves no topic behind.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import confluent_kafka as ck
import pytest
from confluent_kafka.admin import NewPartitions, NewTopic

import kafka_wire as kw
from broker_process import Broker
from clients import (
    CLIENT_TIMEOUT_S, admin, assert_delivered, consumer, create_topic, kafka_error, produce_all, producer,
    topic_names, wait_for,
)

KAFKA_STORAGE_ERROR = 56


class LimitedBroker(Broker):
    """A broker whose open files limit (soft and hard) is `nofile`, set by prlimit before exec."""

    def __init__(self, *args, nofile: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.nofile = nofile

    def command(self) -> list[str]:
        return ["prlimit", f"--nofile={self.nofile}:{self.nofile}", "--"] + super().command()


@pytest.fixture
def limited_broker(strom_bin, tmp_path, request):
    from conftest import BROKERS_KEY
    if shutil.which("prlimit") is None:
        pytest.fail("prlimit (util-linux) is needed to start the broker under a low ulimit -n", pytrace=False)
    brokers: list[Broker] = []
    request.node.stash[BROKERS_KEY] = brokers

    def start(nofile: int, overrides: dict[str, str] | None = None) -> Broker:
        b = LimitedBroker(strom_bin, tmp_path / f"broker{len(brokers)}", overrides, nofile=nofile)
        brokers.append(b)
        b.start()
        return b

    yield start
    for b in brokers:
        b.cleanup()


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def nofile_limit(pid: int) -> tuple[str, str]:
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            soft, hard = line.split()[3:5]
            return soft, hard
    raise AssertionError("no Max open files line")


def consume_every_partition(bootstrap: str, topic: str, partitions: int, expected: int,
                            timeout_s: float = 90.0) -> list[ck.Message]:
    c = consumer(bootstrap, **{"fetch.wait.max.ms": 100})
    try:
        c.assign([ck.TopicPartition(topic, p, ck.OFFSET_BEGINNING) for p in range(partitions)])
        out: list[ck.Message] = []
        deadline = time.monotonic() + timeout_s
        while len(out) < expected and time.monotonic() < deadline:
            for m in c.consume(num_messages=1000, timeout=1.0):
                if m.error() is not None and m.error().code() == ck.KafkaError._PARTITION_EOF:
                    continue
                assert m.error() is None, m.error()
                out.append(m)
        return out
    finally:
        c.close()


def test_a_thousand_partitions_are_created_produced_and_read_under_ulimit_256(limited_broker):
    broker = limited_broker(256)
    pid = broker.proc.pid
    assert nofile_limit(pid) == ("256", "256")
    partitions = 1000
    create_topic(broker.bootstrap, "wide", partitions=partitions)
    p = producer(broker.bootstrap, linger_ms=20)
    reports = produce_all(p, "wide", ({"partition": i, "key": b"k%d" % i, "value": b"v%d" % i}
                                      for i in range(partitions)))
    assert_delivered(reports)
    assert sorted((r.partition, r.offset) for r in reports) == [(i, 0) for i in range(partitions)]
    # A second round appends to every active segment again, after its file was closed.
    reports = produce_all(p, "wide", ({"partition": i, "value": b"w%d" % i} for i in range(partitions)))
    assert_delivered(reports)
    assert sorted((r.partition, r.offset) for r in reports) == [(i, 1) for i in range(partitions)]
    assert open_fds(pid) <= 256
    messages = consume_every_partition(broker.bootstrap, "wide", partitions, 2 * partitions)
    got = sorted((m.partition(), m.offset(), m.value()) for m in messages)
    want = sorted([(i, 0, b"v%d" % i) for i in range(partitions)] + [(i, 1, b"w%d" % i) for i in range(partitions)])
    assert got == want
    assert open_fds(pid) <= 256
    # The broker said what it works with.
    log = broker.log_path.read_text(errors="replace")
    assert "open files limit (RLIMIT_NOFILE)" in log and "soft=256" in log, broker.log_tail()
    # A clean restart under the same limit loads all 1000 logs and serves them.
    broker.restart()
    messages = consume_every_partition(broker.bootstrap, "wide", partitions, 2 * partitions)
    assert sorted((m.partition(), m.offset(), m.value()) for m in messages) == want
    assert open_fds(broker.proc.pid) <= 256


def test_create_topics_answers_kafka_storage_error_and_leaves_no_topic_when_a_log_cannot_be_created(broker):
    # A regular file where partition 3's directory must go: its log cannot be created.
    blocker = broker.data_dir / "blocked-3"
    blocker.write_bytes(b"not a directory")
    client = admin(broker.bootstrap)
    futures = client.create_topics([NewTopic("blocked", num_partitions=5, replication_factor=1)],
                                   operation_timeout=CLIENT_TIMEOUT_S, request_timeout=CLIENT_TIMEOUT_S)
    with pytest.raises(ck.KafkaException) as caught:
        futures["blocked"].result(timeout=CLIENT_TIMEOUT_S)
    err = kafka_error(caught.value)
    assert err.code() == KAFKA_STORAGE_ERROR, err
    assert "partition 3" in err.str(), err.str()
    # The topic was rolled back: not in metadata, and the logs of partitions 0-2 and 4 are gone.
    assert "blocked" not in topic_names(broker.bootstrap)
    wait_for(lambda: not any((broker.data_dir / f"blocked-{i}").exists() for i in (0, 1, 2, 4)),
             CLIENT_TIMEOUT_S, what="the logs of the rolled-back topic deleted")
    assert blocker.read_bytes() == b"not a directory"
    # Once the disk is fixed, the same request succeeds and every partition works.
    blocker.unlink()
    create_topic(broker.bootstrap, "blocked", partitions=5)
    reports = produce_all(producer(broker.bootstrap), "blocked", ({"partition": i, "value": b"x"} for i in range(5)))
    assert_delivered(reports)
    assert sorted((r.partition, r.offset) for r in reports) == [(i, 0) for i in range(5)]


def test_create_partitions_answers_kafka_storage_error_for_a_partition_that_cannot_be_created(broker):
    create_topic(broker.bootstrap, "grow", partitions=2)
    (broker.data_dir / "grow-2").write_bytes(b"not a directory")
    client = admin(broker.bootstrap)
    futures = client.create_partitions([NewPartitions("grow", 3)], operation_timeout=CLIENT_TIMEOUT_S,
                                       request_timeout=CLIENT_TIMEOUT_S)
    with pytest.raises(ck.KafkaException) as caught:
        futures["grow"].result(timeout=CLIENT_TIMEOUT_S)
    assert kafka_error(caught.value).code() == KAFKA_STORAGE_ERROR
    # Partitions cannot be removed: the new one answers KAFKA_STORAGE_ERROR until its log opens,
    # the others work.
    with kw.connect(broker.host, broker.port) as conn:
        assert conn.fetch_v4("grow", 2, 0).error_code == KAFKA_STORAGE_ERROR
        assert conn.fetch_v4("grow", 0, 0).error_code == 0
    p = producer(broker.bootstrap)
    [ok] = produce_all(p, "grow", [{"partition": 0, "value": b"y"}])
    assert ok.error is None and ok.offset == 0
    # With the obstacle gone the broker's retry opens it, and it takes records.
    (broker.data_dir / "grow-2").unlink()
    p2 = producer(broker.bootstrap)
    [later] = produce_all(p2, "grow", [{"partition": 2, "value": b"z"}])
    assert later.error is None and later.offset == 0
