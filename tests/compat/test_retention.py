"""Retention and DeleteRecords with real clients.

Kafka deletes whole segments once they are past `retention.ms` (by their largest timestamp) or
while the log is over `retention.bytes`, never the active one, and moves the log start offset
to the first segment kept; consumers behind it get OFFSET_OUT_OF_RANGE and reset per
`auto.offset.reset`. DeleteRecords moves the log start offset to any offset up to the high
watermark. The broker here checks retention every 200 ms (log.retention.check.interval.ms) so
the tests need no long waits; 1 MiB segments (Kafka 4's minimum) of 10 KB records make several.
"""

from __future__ import annotations

import time

import confluent_kafka as ck
import pytest
from confluent_kafka import TopicPartition

from clients import CLIENT_TIMEOUT_S, admin, consume, create_topic, producer, unique, wait_for

FAST = {"log.retention.check.interval.ms": "200"}


def watermarks(bootstrap: str, topic: str, partition: int = 0) -> tuple[int, int]:
    c = ck.Consumer({"bootstrap.servers": bootstrap, "group.id": unique("wm")})
    try:
        return c.get_watermark_offsets(TopicPartition(topic, partition), timeout=CLIENT_TIMEOUT_S)
    finally:
        c.close()


def produce_n(bootstrap: str, topic: str, n: int, size: int = 10_000, timestamp_ms: int | None = None) -> None:
    p = producer(bootstrap, **{"linger.ms": 0, "batch.num.messages": 1})
    for i in range(n):
        kwargs = {"timestamp": timestamp_ms} if timestamp_ms is not None else {}
        p.produce(topic, (b"%06d" % i) + b"x" * (size - 6), **kwargs)
    assert p.flush(CLIENT_TIMEOUT_S) == 0


def test_segments_past_retention_ms_are_deleted_and_the_log_start_moves(broker_factory):
    b = broker_factory(FAST)
    topic = unique("ret-ms")
    create_topic(b.bootstrap, topic, config={"segment.bytes": "1048576", "retention.ms": "86400000"})
    old = int(time.time() * 1000) - 3_600_000
    produce_n(b.bootstrap, topic, 300, timestamp_ms=old)  # an hour old: kept under a day's retention
    produce_n(b.bootstrap, topic, 50)                     # fresh
    time.sleep(0.5)
    assert watermarks(b.bootstrap, topic) == (0, 350), "nothing is past a day"
    client = admin(b.bootstrap)
    from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource, ResourceType
    resource = ConfigResource(ResourceType.TOPIC, topic,
                              incremental_configs=[ConfigEntry("retention.ms", "600000", incremental_operation=AlterConfigOpType.SET)])
    [f] = client.incremental_alter_configs([resource], request_timeout=CLIENT_TIMEOUT_S).values()
    f.result(timeout=CLIENT_TIMEOUT_S)
    # The hour-old segments go; the fresh records stay readable at their offsets.
    low = wait_for(lambda: (lambda w: w[0] if w[0] > 0 else None)(watermarks(b.bootstrap, topic)), 15,
                   what="the log start offset to move")
    assert 100 < low <= 300, f"whole hour-old segments went, the one holding fresh records stayed: {low}"
    msgs = consume(b.bootstrap, topic, start=ck.OFFSET_BEGINNING)
    assert msgs[0].offset() == low
    assert [m.offset() for m in msgs] == list(range(low, 350))
    assert msgs[-1].value()[:6] == b"000049"


def test_retention_bytes_keeps_the_newest_segments(broker_factory):
    b = broker_factory(FAST)
    topic = unique("ret-bytes")
    create_topic(b.bootstrap, topic, config={"segment.bytes": "1048576", "retention.bytes": "2000000"})
    produce_n(b.bootstrap, topic, 500)
    low = wait_for(lambda: (lambda w: w[0] if w[0] > 0 else None)(watermarks(b.bootstrap, topic)), 15,
                   what="retention.bytes to delete segments")
    assert watermarks(b.bootstrap, topic)[1] == 500
    kept = consume(b.bootstrap, topic)
    assert [m.offset() for m in kept] == list(range(low, 500))
    assert 190 <= len(kept) <= 320, f"at least retention.bytes, less than one segment more: {len(kept)} records"


def test_retention_minus_one_keeps_everything(broker_factory):
    b = broker_factory(FAST)
    topic = unique("ret-forever")
    create_topic(b.bootstrap, topic, config={"segment.bytes": "1048576", "retention.ms": "-1"})
    produce_n(b.bootstrap, topic, 50, timestamp_ms=1)  # 1970
    time.sleep(1.0)
    assert watermarks(b.bootstrap, topic) == (0, 50)


def test_a_consumer_behind_the_log_start_resets_to_earliest(broker_factory):
    b = broker_factory(FAST)
    topic = unique("ret-reset")
    create_topic(b.bootstrap, topic, config={"segment.bytes": "1048576"})
    produce_n(b.bootstrap, topic, 100)
    client = admin(b.bootstrap)
    [f] = client.delete_records([TopicPartition(topic, 0, 50)], request_timeout=CLIENT_TIMEOUT_S).values()
    f.result(timeout=CLIENT_TIMEOUT_S)
    msgs = consume(b.bootstrap, topic, start=10, count=50, **{"auto.offset.reset": "earliest"})
    assert msgs[0].offset() == 50


def test_delete_records_moves_the_low_watermark_and_survives_restart(broker):
    topic = unique("delrec")
    create_topic(broker.bootstrap, topic, partitions=2, config={"segment.bytes": "1048576"})
    produce_n(broker.bootstrap, topic, 100)
    client = admin(broker.bootstrap)
    futures = client.delete_records([TopicPartition(topic, 0, 37)], request_timeout=CLIENT_TIMEOUT_S)
    [result] = [f.result(timeout=CLIENT_TIMEOUT_S) for f in futures.values()]
    assert result.low_watermark == 37
    assert watermarks(broker.bootstrap, topic, 0)[0] == 37
    assert consume(broker.bootstrap, topic)[0].offset() == 37
    broker.restart()
    assert watermarks(broker.bootstrap, topic, 0)[0] == 37
    broker.kill9()
    broker.start()
    assert watermarks(broker.bootstrap, topic, 0)[0] == 37


def test_delete_records_beyond_the_high_watermark_is_offset_out_of_range(broker):
    topic = unique("delrec-oor")
    create_topic(broker.bootstrap, topic)
    produce_n(broker.bootstrap, topic, 10)
    client = admin(broker.bootstrap)
    [f] = client.delete_records([TopicPartition(topic, 0, 11)], request_timeout=CLIENT_TIMEOUT_S).values()
    with pytest.raises(ck.KafkaException) as e:
        f.result(timeout=CLIENT_TIMEOUT_S)
    assert e.value.args[0].code() == ck.KafkaError.OFFSET_OUT_OF_RANGE
    assert watermarks(broker.bootstrap, topic)[0] == 0


def test_delete_records_on_a_compact_only_topic_is_a_policy_violation(broker):
    topic = unique("delrec-compact")
    create_topic(broker.bootstrap, topic, config={"cleanup.policy": "compact"})
    p = producer(broker.bootstrap)
    p.produce(topic, key=b"k", value=b"v")
    assert p.flush(CLIENT_TIMEOUT_S) == 0
    client = admin(broker.bootstrap)
    [f] = client.delete_records([TopicPartition(topic, 0, 1)], request_timeout=CLIENT_TIMEOUT_S).values()
    with pytest.raises(ck.KafkaException) as e:
        f.result(timeout=CLIENT_TIMEOUT_S)
    assert e.value.args[0].code() == ck.KafkaError.POLICY_VIOLATION


def test_offsets_for_times_after_retention_never_answer_below_the_log_start(broker_factory):
    b = broker_factory(FAST)
    topic = unique("ret-times")
    create_topic(b.bootstrap, topic, config={"segment.bytes": "1048576"})
    produce_n(b.bootstrap, topic, 100)
    client = admin(b.bootstrap)
    [f] = client.delete_records([TopicPartition(topic, 0, 60)], request_timeout=CLIENT_TIMEOUT_S).values()
    f.result(timeout=CLIENT_TIMEOUT_S)
    c = ck.Consumer({"bootstrap.servers": b.bootstrap, "group.id": unique("t")})
    try:
        [tp] = c.offsets_for_times([TopicPartition(topic, 0, 0)], timeout=CLIENT_TIMEOUT_S)
    finally:
        c.close()
    assert tp.offset == 60
