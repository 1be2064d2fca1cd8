"""What survives a restart: graceful (SIGTERM) and crash (SIGKILL while a producer is writing).

Kafka's promise with acks=all on one broker: once a produce is acknowledged, the record is in the
log at the acknowledged offset, and a process crash cannot take it away (it reached the OS, if
not the disk). After recovery the log is contiguous, every batch passes its CRC, and appending
continues from the recovered end. Topics and their configs come back as they were.
"""

from __future__ import annotations

import gc
import re
import time

from confluent_kafka.admin import ConfigResource, ConfigSource, ResourceType

from clients import (
    CLIENT_TIMEOUT_S, admin, assert_delivered, consume, create_topic, partitions_with_leaders, produce_all, producer,
)

BASE_TS = 1_650_000_000_000


def test_acknowledged_records_survive_a_graceful_restart(broker):
    create_topic(broker.bootstrap, "durable", partitions=2, config={"retention.ms": "86400000"})
    records = [{"key": f"k{i}".encode(), "value": f"v{i}".encode() * 10, "partition": i % 2,
                "timestamp": BASE_TS + i, "headers": [("i", f"{i}".encode())]} for i in range(2000)]
    reports = produce_all(producer(broker.bootstrap, acks="all"), "durable", records)
    assert_delivered(reports)

    assert broker.stop() == 0, f"graceful shutdown exited non-zero\n{broker.log_tail()}"
    broker.start()

    assert partitions_with_leaders(broker.bootstrap, "durable") == 2
    client = admin(broker.bootstrap)  # must outlive its futures
    futures = client.describe_configs([ConfigResource(ResourceType.TOPIC, "durable")])
    [configs] = [f.result(timeout=CLIENT_TIMEOUT_S) for f in futures.values()]
    assert configs["retention.ms"].value == "86400000"
    assert ConfigSource(configs["retention.ms"].source) == ConfigSource.DYNAMIC_TOPIC_CONFIG

    for part in range(2):
        got = consume(broker.bootstrap, "durable", partition=part)
        expected = [(d.offset, records[d.index]) for d in reports if d.partition == part]
        assert len(got) == len(expected) == 1000
        for m, (offset, r) in zip(got, expected):
            assert (m.offset(), m.key(), m.value(), m.timestamp()[1], m.headers()) == (
                offset, r["key"], r["value"], r["timestamp"], r["headers"])

    # The log is appendable where it left off.
    more = produce_all(producer(broker.bootstrap, acks="all"), "durable", [{"value": b"after", "partition": 0}])
    assert_delivered(more)
    assert more[0].offset == 1000


def test_graceful_restart_twice_with_nothing_in_between(broker):
    create_topic(broker.bootstrap, "quiet")
    assert_delivered(produce_all(producer(broker.bootstrap, acks="all"), "quiet", [{"value": b"one"}]))
    broker.restart()
    broker.restart()
    assert [(m.offset(), m.value()) for m in consume(broker.bootstrap, "quiet")] == [(0, b"one")]


def produce_until_killed(broker, topic: str, first_seq: int, kill_after_acks: int, sent_after_kill: int):
    """Produce seq-N records with acks=all; SIGKILL the broker once kill_after_acks are acknowledged
    and keep producing sent_after_kill more into the dead connection. Returns ({offset: value} of
    the acknowledged records, next seq)."""
    acked: dict[int, bytes] = {}

    def on_delivery(err, msg):
        if err is None:
            acked[msg.offset()] = msg.value()

    p = producer(broker.bootstrap, acks="all", **{"linger.ms": 2, "message.timeout.ms": 20000,
                                                   "queue.buffering.max.messages": 20000})
    seq, killed_at = first_seq, None
    deadline = time.monotonic() + 90
    while True:
        assert time.monotonic() < deadline, (
            f"{len(acked)} of {kill_after_acks} records acknowledged before the deadline\n{broker.log_tail()}")
        try:
            p.produce(topic, value=f"seq-{seq}".encode(), partition=0, on_delivery=on_delivery)
            seq += 1
        except BufferError:
            p.poll(0.01)
            continue
        p.poll(0)
        if killed_at is None and len(acked) >= kill_after_acks:
            broker.kill9()
            killed_at = seq
        elif killed_at is not None and seq - killed_at >= sent_after_kill:
            break
    # Whatever was not acknowledged before the crash is abandoned, not retried into the next broker.
    p.purge(in_queue=True, in_flight=True)
    assert p.flush(CLIENT_TIMEOUT_S) == 0
    del p
    gc.collect()
    return acked, seq


def test_kill9_while_producing_with_acks_all_loses_no_acknowledged_record(broker):
    create_topic(broker.bootstrap, "crashy")
    acked: dict[int, bytes] = {}
    seq = 0
    for cycle in range(3):
        got, seq = produce_until_killed(broker, "crashy", seq, kill_after_acks=2000, sent_after_kill=2000)
        overlap = set(got) & set(acked)
        assert not overlap, f"cycle {cycle}: offsets acknowledged twice: {sorted(overlap)[:5]}"
        acked.update(got)
        broker.start()

    assert seq > len(acked), "every record was acknowledged: the crashes did not interrupt production"

    records = consume(broker.bootstrap, "crashy", timeout_s=60)
    offsets = [m.offset() for m in records]
    assert offsets == list(range(len(records))), "the recovered log is not contiguous from offset 0"
    assert len(records) >= max(acked) + 1, f"log ends at {len(records)}, an ack was given for offset {max(acked)}"
    lost = [(o, v) for o, v in sorted(acked.items()) if records[o].value() != v]
    assert not lost, f"{len(lost)} acknowledged records lost or changed, first: " \
                     f"{[(o, v, records[o].value()) for o, v in lost[:3]]}"
    garbage = [(m.offset(), m.value()) for m in records if not re.fullmatch(rb"seq-\d+", m.value() or b"")]
    assert not garbage, f"records that were never produced: {garbage[:5]}"
    assert all(int(m.value()[4:]) < seq for m in records)

    # Appends continue at the recovered end.
    more = produce_all(producer(broker.bootstrap, acks="all"), "crashy", [{"value": b"after-crashes"}])
    assert_delivered(more)
    assert more[0].offset == len(records)


def test_kill9_of_an_idle_broker_keeps_topics_and_records(broker):
    create_topic(broker.bootstrap, "idle-crash", partitions=3)
    reports = produce_all(producer(broker.bootstrap, acks="all"), "idle-crash",
                          [{"value": f"{i}".encode(), "partition": i % 3} for i in range(300)])
    assert_delivered(reports)
    broker.restart(graceful=False)
    assert partitions_with_leaders(broker.bootstrap, "idle-crash") == 3
    for part in range(3):
        got = consume(broker.bootstrap, "idle-crash", partition=part)
        assert [(m.offset(), m.value()) for m in got] == [
            (d.offset, d.value) for d in reports if d.partition == part]
