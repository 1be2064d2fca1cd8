"""ListOffsets: earliest, latest, by timestamp, and max timestamp (KIP-734), through every client.

Kafka's answers: earliest = log start offset, latest = high watermark, a timestamp T = the first
offset whose record timestamp is >= T (offset -1 when there is none), and max timestamp = the
offset and timestamp of the record with the largest timestamp.
"""

from __future__ import annotations

import json

import confluent_kafka as ck
import pytest
from confluent_kafka.admin import OffsetSpec

import kafka_wire as kw

from clients import (
    CLIENT_TIMEOUT_S, admin, assert_delivered, consumer, create_topic, kcat, kp_admin, kp_consumer, produce_all,
    producer,
)

BASE_TS = 1_700_000_000_000
BATCHES, PER_BATCH = 4, 5


def ts_of(offset: int) -> int:
    """Timestamps grow by 10 ms inside a batch and by 1 s from batch to batch."""
    return BASE_TS + (offset // PER_BATCH) * 1000 + (offset % PER_BATCH) * 10


# (query timestamp, expected offset); -1 = no record at or after that time
TIME_QUERIES = [
    (BASE_TS - 1, 0),
    (BASE_TS, 0),
    (BASE_TS + 1, 1),
    (BASE_TS + 40, 4),
    (BASE_TS + 41, 5),          # first record of the second batch
    (BASE_TS + 1000, 5),
    (BASE_TS + 2025, 13),
    (BASE_TS + 3040, 19),       # the very last record
    (BASE_TS + 3041, -1),
]


@pytest.fixture
def timed_topic(broker) -> str:
    """Topic 'timed' with BATCHES separate batches of PER_BATCH records, timestamps from ts_of()."""
    create_topic(broker.bootstrap, "timed", partitions=1)
    p = producer(broker.bootstrap, acks="all", **{"linger.ms": 0})
    for b in range(BATCHES):
        offsets = range(b * PER_BATCH, (b + 1) * PER_BATCH)
        reports = produce_all(p, "timed", [{"value": f"{o}".encode(), "timestamp": ts_of(o)} for o in offsets])
        assert_delivered(reports)
        assert [d.offset for d in reports] == list(offsets)
    return "timed"


def admin_list_offsets(bootstrap: str, specs: dict) -> dict:
    client = admin(bootstrap)  # must outlive its futures
    futures = client.list_offsets(specs, request_timeout=CLIENT_TIMEOUT_S)
    return {tp: f.result(timeout=CLIENT_TIMEOUT_S) for tp, f in futures.items()}


def test_earliest_and_latest_on_empty_and_filled_partitions(broker):
    create_topic(broker.bootstrap, "wm", partitions=2)
    assert_delivered(produce_all(producer(broker.bootstrap), "wm", [{"value": b"x", "partition": 1}] * 7))
    tp0, tp1 = ck.TopicPartition("wm", 0), ck.TopicPartition("wm", 1)

    res = admin_list_offsets(broker.bootstrap, {tp0: OffsetSpec.earliest(), tp1: OffsetSpec.earliest()})
    assert [res[tp0].offset, res[tp1].offset] == [0, 0]
    res = admin_list_offsets(broker.bootstrap, {tp0: OffsetSpec.latest(), tp1: OffsetSpec.latest()})
    assert [res[tp0].offset, res[tp1].offset] == [0, 7]

    c = consumer(broker.bootstrap)
    try:
        assert c.get_watermark_offsets(tp0, timeout=CLIENT_TIMEOUT_S) == (0, 0)
        assert c.get_watermark_offsets(tp1, timeout=CLIENT_TIMEOUT_S) == (0, 7)
    finally:
        c.close()

    from kafka import TopicPartition
    kc = kp_consumer(broker.bootstrap)
    try:
        k0, k1 = TopicPartition("wm", 0), TopicPartition("wm", 1)
        assert kc.beginning_offsets([k0, k1]) == {k0: 0, k1: 0}
        assert kc.end_offsets([k0, k1]) == {k0: 0, k1: 7}
    finally:
        kc.close()


def test_offsets_for_times_through_the_consumer(broker, timed_topic):
    c = consumer(broker.bootstrap)
    try:
        answers = [c.offsets_for_times([ck.TopicPartition(timed_topic, 0, ts)], timeout=CLIENT_TIMEOUT_S)[0]
                   for ts, _ in TIME_QUERIES]
    finally:
        c.close()
    for (ts, expected), tp in zip(TIME_QUERIES, answers):
        assert tp.error is None, tp.error
        assert tp.offset == expected, f"offsets_for_times({ts}) = {tp.offset}, expected {expected}"


def test_offsets_for_times_through_the_admin_client(broker, timed_topic):
    for ts, expected in TIME_QUERIES:
        tp = ck.TopicPartition(timed_topic, 0)
        info = admin_list_offsets(broker.bootstrap, {tp: OffsetSpec.for_timestamp(ts)})[tp]
        assert info.offset == expected, f"list_offsets(for_timestamp={ts}) = {info.offset}, expected {expected}"
        if expected >= 0:
            assert info.timestamp == ts_of(expected)


def test_offsets_for_times_through_kafka_python(broker, timed_topic):
    from kafka import TopicPartition
    c = kp_consumer(broker.bootstrap)
    try:
        tp = TopicPartition(timed_topic, 0)
        for ts, expected in TIME_QUERIES:
            got = c.offsets_for_times({tp: ts})[tp]
            if expected < 0:
                assert got is None, f"offsets_for_times({ts}) = {got}, expected None"
            else:
                assert (got.offset, got.timestamp) == (expected, ts_of(expected)), f"query {ts}"
    finally:
        c.close()


def test_offsets_for_times_through_kcat(broker, timed_topic):
    for ts, expected in TIME_QUERIES:
        out = kcat(broker.bootstrap, "-Q", "-J", "-t", f"{timed_topic}:0:{ts}").stdout
        answer = json.loads(out)[timed_topic]["0"]
        assert "error" not in answer, f"kcat -Q {ts}: {answer}"
        assert answer["offset"] == expected, f"kcat -Q {ts}: {answer}"


def test_max_timestamp_finds_the_record_with_the_largest_timestamp(broker):
    create_topic(broker.bootstrap, "maxts")
    p = producer(broker.bootstrap, acks="all", **{"linger.ms": 0})
    stamps = [BASE_TS + 10, BASE_TS + 40, BASE_TS + 20, BASE_TS + 30]  # the maximum is not the last record
    for i, ts in enumerate(stamps):
        assert_delivered(produce_all(p, "maxts", [{"value": f"{i}".encode(), "timestamp": ts}]))
    tp = ck.TopicPartition("maxts", 0)
    info = admin_list_offsets(broker.bootstrap, {tp: OffsetSpec.max_timestamp()})[tp]
    assert (info.offset, info.timestamp) == (1, BASE_TS + 40)

    from kafka import TopicPartition
    from kafka.admin import OffsetSpec as KpOffsetSpec
    client = kp_admin(broker.bootstrap)
    try:
        ktp = TopicPartition("maxts", 0)
        got = client.list_partition_offsets({ktp: KpOffsetSpec.MAX_TIMESTAMP})[ktp]
        assert (got.offset, got.timestamp) == (1, BASE_TS + 40)
        got = client.list_partition_offsets({ktp: KpOffsetSpec.LATEST})[ktp]
        assert got.offset == 4
    finally:
        client.close()


def test_list_offsets_for_an_unknown_partition_or_topic_is_unknown_topic_or_partition(broker):
    # Clients resolve leaders from metadata first and never ask about a partition that does not
    # exist, so this goes over the wire directly.
    create_topic(broker.bootstrap, "known", partitions=1)
    with kw.connect(broker.host, broker.port) as conn:
        assert conn.list_offsets_v1("known", 0, -1) == (kw.ERROR_NONE, -1, 0)
        assert conn.list_offsets_v1("known", 5, -1)[0] == kw.ERROR_UNKNOWN_TOPIC_OR_PARTITION
        assert conn.list_offsets_v1("unknown", 0, -2)[0] == kw.ERROR_UNKNOWN_TOPIC_OR_PARTITION
