"""Record timestamps on produce (KIP-937): message.timestamp.before.max.ms / after.max.ms.

Kafka's contract: on a CreateTime topic a record whose timestamp is further in the past than
message.timestamp.before.max.ms (default: no limit) or further in the future than
message.timestamp.after.max.ms (Kafka 4 default: one hour) fails its produce with
INVALID_TIMESTAMP (32), and nothing of that request is written. The broker-level
log.message.timestamp.* keys are the topics' defaults.
"""

from __future__ import annotations

import time

import confluent_kafka as ck
import pytest

from clients import (
    CLIENT_TIMEOUT_S, assert_delivered, consume, create_topic, kp_producer, produce_all, producer, values,
)

HOUR_MS = 3_600_000


def now_ms() -> int:
    return int(time.time() * 1000)


def test_confluent_producer_gets_invalid_timestamp_outside_the_topics_window(broker):
    create_topic(broker.bootstrap, "ts-window", config={"message.timestamp.before.max.ms": str(HOUR_MS)})
    now = now_ms()
    records = [
        {"value": b"now", "timestamp": now},
        {"value": b"two-hours-old", "timestamp": now - 2 * HOUR_MS},
        {"value": b"two-hours-ahead", "timestamp": now + 2 * HOUR_MS},
        {"value": b"half-hour-ahead", "timestamp": now + HOUR_MS // 2},
    ]
    # One request per record, so each gets its own answer.
    reports = produce_all(producer(broker.bootstrap, **{"linger.ms": 0, "batch.num.messages": 1}),
                          "ts-window", records)
    codes = [None if d.error is None else d.error.code() for d in reports]
    assert codes == [None, ck.KafkaError.INVALID_TIMESTAMP, ck.KafkaError.INVALID_TIMESTAMP, None]
    assert values(consume(broker.bootstrap, "ts-window")) == [b"now", b"half-hour-ahead"]


def test_broker_keys_are_the_topic_defaults_and_kafka_python_sees_invalid_timestamp(broker_factory):
    from kafka.errors import InvalidTimestampError
    broker = broker_factory({"log.message.timestamp.before.max.ms": "60000",
                             "log.message.timestamp.after.max.ms": "60000"})
    create_topic(broker.bootstrap, "ts-broker")
    p = kp_producer(broker.bootstrap, retries=0)
    try:
        now = now_ms()
        ok = p.send("ts-broker", value=b"ok", timestamp_ms=now).get(timeout=CLIENT_TIMEOUT_S)
        assert ok.offset == 0
        for ts in (now - 120_000, now + 120_000):
            with pytest.raises(InvalidTimestampError):
                p.send("ts-broker", value=b"bad", timestamp_ms=ts).get(timeout=CLIENT_TIMEOUT_S)
    finally:
        p.close()
    assert values(consume(broker.bootstrap, "ts-broker")) == [b"ok"]


def test_log_append_time_topics_accept_any_producer_timestamp(broker):
    create_topic(broker.bootstrap, "ts-append", config={"message.timestamp.type": "LogAppendTime",
                                                          "message.timestamp.after.max.ms": "0"})
    before = now_ms()
    reports = produce_all(producer(broker.bootstrap), "ts-append",
                          [{"value": b"x", "timestamp": before + 10 * HOUR_MS}])
    assert_delivered(reports)
    (msg,) = consume(broker.bootstrap, "ts-append")
    kind, ts = msg.timestamp()
    assert kind == ck.TIMESTAMP_LOG_APPEND_TIME
    assert before <= ts <= now_ms()
