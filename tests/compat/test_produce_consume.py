"""Produce and fetch with confluent-kafka (librdkafka) and kafka-python, checked record by record.

Kafka's contract: a record comes back with the key, value (null stays null), headers (order and
duplicates kept) and CreateTime timestamp it was produced with, or the broker's clock when the
topic says message.timestamp.type=LogAppendTime; offsets are assigned contiguously per partition
in produce order and reported in delivery reports; a Fetch is parked until data arrives or
max.wait.ms passes; a batch larger than max.partition.fetch.bytes is still returned (KIP-74); a
fetch offset past the end is OFFSET_OUT_OF_RANGE; a record above max.message.bytes is refused
with MESSAGE_TOO_LARGE and nothing is written.
"""

from __future__ import annotations

import os
import threading
import time

import confluent_kafka as ck
import pytest

import kafka_wire as kw
from clients import (
    CLIENT_TIMEOUT_S, assert_delivered, consume, consumer, create_topic, kp_consume, kp_consumer, kp_producer,
    produce_all, producer, values,
)

BASE_TS = 1_600_000_000_000  # 2020-09-13, well away from "now"


# -- record contents -----------------------------------------------------------------------------------


def test_keys_values_and_tombstones_round_trip(broker):
    create_topic(broker.bootstrap, "kv")
    records = [
        {"key": b"k0", "value": b"v0"},
        {"key": b"k1", "value": None},          # tombstone
        {"key": None, "value": b"keyless"},
        {"key": b"", "value": b""},             # empty, not null
        {"key": b"k4", "value": bytes(range(256))},
    ]
    reports = produce_all(producer(broker.bootstrap), "kv", records)
    assert_delivered(reports)
    assert [d.offset for d in reports] == [0, 1, 2, 3, 4]
    got = consume(broker.bootstrap, "kv")
    assert [(m.offset(), m.key(), m.value()) for m in got] == [
        (i, r["key"], r["value"]) for i, r in enumerate(records)
    ]


def test_headers_keep_order_duplicates_and_null_values(broker):
    create_topic(broker.bootstrap, "hdr")
    headers = [("trace", b"1"), ("dup", b"first"), ("dup", b"second"), ("bin", b"\x00\xff"), ("nothing", None)]
    assert_delivered(produce_all(producer(broker.bootstrap), "hdr", [
        {"value": b"with-headers", "headers": headers},
        {"value": b"without-headers"},
    ]))
    first, second = consume(broker.bootstrap, "hdr")
    assert first.headers() == headers
    assert second.headers() is None


def test_kafka_python_round_trips_keys_headers_and_tombstones(broker):
    create_topic(broker.bootstrap, "kp-kv")
    p = kp_producer(broker.bootstrap, acks="all")
    try:
        sent = [
            p.send("kp-kv", key=b"a", value=b"1", headers=[("h", b"x"), ("h", b"y")]),
            p.send("kp-kv", key=b"b", value=None),
            p.send("kp-kv", key=None, value=b"3"),
        ]
        metas = [f.get(timeout=CLIENT_TIMEOUT_S) for f in sent]
    finally:
        p.close()
    assert [m.offset for m in metas] == [0, 1, 2]
    got = kp_consume(broker.bootstrap, "kp-kv", 0, 0, 3)
    assert [(r.offset, r.key, r.value) for r in got] == [(0, b"a", b"1"), (1, b"b", None), (2, None, b"3")]
    assert list(got[0].headers) == [("h", b"x"), ("h", b"y")]
    # And what kafka-python wrote, librdkafka reads the same.
    assert [(m.key(), m.value()) for m in consume(broker.bootstrap, "kp-kv")] == [(b"a", b"1"), (b"b", None), (None, b"3")]


def test_create_time_timestamps_are_preserved(broker):
    create_topic(broker.bootstrap, "ts")
    stamps = [BASE_TS, BASE_TS + 5, BASE_TS - 1000, BASE_TS + 86_400_000]
    reports = produce_all(producer(broker.bootstrap), "ts",
                          [{"value": f"{i}".encode(), "timestamp": ts} for i, ts in enumerate(stamps)])
    assert_delivered(reports)
    got = consume(broker.bootstrap, "ts")
    assert [m.timestamp() for m in got] == [(ck.TIMESTAMP_CREATE_TIME, ts) for ts in stamps]
    kp = kp_consume(broker.bootstrap, "ts", 0, 0, len(stamps))
    assert [(r.timestamp_type, r.timestamp) for r in kp] == [(0, ts) for ts in stamps]


def test_log_append_time_topic_stamps_records_with_the_broker_clock(broker):
    create_topic(broker.bootstrap, "lat", config={"message.timestamp.type": "LogAppendTime"})
    before = int(time.time() * 1000)
    reports = produce_all(producer(broker.bootstrap, acks="all"), "lat",
                          [{"value": b"old", "timestamp": BASE_TS}, {"value": b"unstamped"}])
    after = int(time.time() * 1000)
    assert_delivered(reports)
    slack = 2000
    for d in reports:
        ts_type, ts = d.timestamp
        assert ts_type == ck.TIMESTAMP_LOG_APPEND_TIME, "the produce response carries log_append_time"
        assert before - slack <= ts <= after + slack
    got = consume(broker.bootstrap, "lat")
    for m in got:
        ts_type, ts = m.timestamp()
        assert ts_type == ck.TIMESTAMP_LOG_APPEND_TIME
        assert before - slack <= ts <= after + slack, f"timestamp {ts} not within [{before}, {after}]"
    kp = kp_consume(broker.bootstrap, "lat", 0, 0, 2)
    assert [r.timestamp_type for r in kp] == [1, 1]
    assert [r.timestamp for r in kp] == [m.timestamp()[1] for m in got]


# -- acks and delivery reports ---------------------------------------------------------------------------


@pytest.mark.parametrize("acks", ["0", "1", "all"])
def test_every_acks_mode_writes_the_records(broker, acks):
    create_topic(broker.bootstrap, "acks")
    records = [{"value": f"acks{acks}-{i}".encode(), "key": f"{i}".encode()} for i in range(200)]
    reports = produce_all(producer(broker.bootstrap, acks=acks), "acks", records)
    assert_delivered(reports)
    if acks != "0":
        assert [d.offset for d in reports] == list(range(200))
    # With acks=0 nobody waits for the write: read until all 200 have arrived.
    got = consume(broker.bootstrap, "acks", count=200, timeout_s=CLIENT_TIMEOUT_S)
    assert values(got) == [r["value"] for r in records]
    assert [m.offset() for m in got] == list(range(200))


@pytest.mark.parametrize("acks", [0, 1, "all"])
def test_kafka_python_acks_modes(broker, acks):
    create_topic(broker.bootstrap, "kp-acks")
    p = kp_producer(broker.bootstrap, acks=acks)
    try:
        futures = [p.send("kp-acks", value=f"{i}".encode()) for i in range(50)]
        p.flush(timeout=CLIENT_TIMEOUT_S)
        metas = [f.get(timeout=CLIENT_TIMEOUT_S) for f in futures]
    finally:
        p.close()
    if acks != 0:
        assert [m.offset for m in metas] == list(range(50))
    got = kp_consume(broker.bootstrap, "kp-acks", 0, 0, 50)
    assert [r.value for r in got] == [f"{i}".encode() for i in range(50)]


def test_delivery_reports_carry_each_partitions_offsets(broker):
    create_topic(broker.bootstrap, "dr", partitions=3)
    records = [{"value": f"{i}".encode(), "partition": i % 3} for i in range(30)]
    reports = produce_all(producer(broker.bootstrap, acks="all"), "dr", records)
    assert_delivered(reports)
    for i, d in enumerate(reports):
        assert (d.partition, d.offset) == (i % 3, i // 3)
    for part in range(3):
        got = consume(broker.bootstrap, "dr", partition=part)
        assert [(m.offset(), m.value()) for m in got] == [
            (d.offset, d.value) for d in reports if d.partition == part
        ]


# -- fetch positions -----------------------------------------------------------------------------------


def test_consume_from_earliest_from_an_offset_and_from_the_end(broker):
    create_topic(broker.bootstrap, "pos")
    p = producer(broker.bootstrap)
    assert_delivered(produce_all(p, "pos", [{"value": f"{i}".encode()} for i in range(10)]))
    assert values(consume(broker.bootstrap, "pos")) == [f"{i}".encode() for i in range(10)]
    assert [(m.offset(), m.value()) for m in consume(broker.bootstrap, "pos", start=7)] == [
        (7, b"7"), (8, b"8"), (9, b"9")]

    # From the end: only records produced after the consumer found its position.
    c = consumer(broker.bootstrap)
    try:
        c.assign([ck.TopicPartition("pos", 0, ck.OFFSET_END)])
        deadline = time.monotonic() + CLIENT_TIMEOUT_S
        while True:  # the partition-EOF event means the end offset has been resolved and fetched
            assert time.monotonic() < deadline, "no partition EOF from OFFSET_END"
            m = c.poll(0.5)
            if m is not None:
                assert m.error() is not None and m.error().code() == ck.KafkaError._PARTITION_EOF, \
                    f"unexpected {m.error() or m.value()}"
                break
        assert_delivered(produce_all(p, "pos", [{"value": b"late-1"}, {"value": b"late-2"}]))
        got = []
        while len(got) < 2:
            assert time.monotonic() < deadline, f"only {got} after OFFSET_END"
            m = c.poll(0.5)
            if m is not None and m.error() is None:
                got.append((m.offset(), m.value()))
        assert got == [(10, b"late-1"), (11, b"late-2")]
    finally:
        c.close()


def test_kafka_python_seek_to_end_then_new_records(broker):
    from kafka import TopicPartition
    create_topic(broker.bootstrap, "kp-pos")
    assert_delivered(produce_all(producer(broker.bootstrap), "kp-pos", [{"value": b"old"}] * 4))
    c = kp_consumer(broker.bootstrap)
    try:
        tp = TopicPartition("kp-pos", 0)
        c.assign([tp])
        c.seek_to_end(tp)
        assert c.position(tp) == 4
        assert_delivered(produce_all(producer(broker.bootstrap), "kp-pos", [{"value": b"new"}]))
        got = []
        deadline = time.monotonic() + CLIENT_TIMEOUT_S
        while not got:
            assert time.monotonic() < deadline, "kafka-python saw nothing after seek_to_end"
            for records in c.poll(timeout_ms=500).values():
                got.extend((r.offset, r.value) for r in records)
        assert got == [(4, b"new")]
        c.seek(tp, 2)
        got = []
        while len(got) < 3:
            assert time.monotonic() < deadline
            for records in c.poll(timeout_ms=500).values():
                got.extend((r.offset, r.value) for r in records)
        assert got == [(2, b"old"), (3, b"old"), (4, b"new")]
    finally:
        c.close()


# -- long polling ----------------------------------------------------------------------------------------


def produce_after(bootstrap: str, topic: str, delay_s: float, value: bytes) -> tuple[threading.Timer, dict]:
    """Produce one record delay_s from now (the stimulus of a timing test, not synchronization)."""
    acked: dict = {}
    p = producer(bootstrap, acks="all", **{"linger.ms": 0})

    def go():
        p.produce(topic, value=value, on_delivery=lambda err, msg: acked.update(err=err, at=time.monotonic()))
        p.flush(CLIENT_TIMEOUT_S)

    timer = threading.Timer(delay_s, go)
    timer.start()
    return timer, acked


def test_fetch_on_an_empty_partition_waits_up_to_max_wait_ms(broker):
    create_topic(broker.bootstrap, "idle")
    with kw.connect(broker.host, broker.port) as conn:
        start = time.monotonic()
        part = conn.fetch_v4("idle", 0, 0, max_wait_ms=1500, min_bytes=1)
        elapsed = time.monotonic() - start
    assert part.error_code == kw.ERROR_NONE and part.high_watermark == 0 and not part.batches
    assert elapsed >= 1.3, f"an empty fetch returned after {elapsed:.2f}s: max_wait_ms=1500 was not honoured"
    assert elapsed < 5.0, f"an empty fetch took {elapsed:.2f}s for max_wait_ms=1500"


def test_parked_fetch_returns_as_soon_as_data_arrives(broker):
    create_topic(broker.bootstrap, "wake")
    timer, acked = produce_after(broker.bootstrap, "wake", 0.5, b"now")
    with kw.connect(broker.host, broker.port, timeout_s=30) as conn:
        start = time.monotonic()
        part = conn.fetch_v4("wake", 0, 0, max_wait_ms=20000, min_bytes=1)
        returned = time.monotonic()
    timer.join()
    assert acked.get("err") is None and "at" in acked, f"produce failed: {acked}"
    assert part.error_code == kw.ERROR_NONE and [b.base_offset for b in part.batches] == [0]
    assert returned - start < 5.0, f"the parked fetch took {returned - start:.2f}s, not woken by the produce"
    assert returned - acked["at"] < 1.0, "the fetch answered more than 1s after the produce was acknowledged"


def test_confluent_consumer_waiting_on_an_empty_partition_gets_a_new_record_promptly(broker):
    create_topic(broker.bootstrap, "lp")
    c = consumer(broker.bootstrap, **{"fetch.wait.max.ms": 10000, "enable.partition.eof": False})
    try:
        c.assign([ck.TopicPartition("lp", 0, 0)])
        timer, acked = produce_after(broker.bootstrap, "lp", 1.0, b"wake-up")
        start = time.monotonic()
        msg = None
        while msg is None and time.monotonic() - start < 15:
            m = c.poll(0.05)
            if m is not None:
                assert m.error() is None, m.error().str()
                msg, received = m, time.monotonic()
        timer.join()
    finally:
        c.close()
    assert msg is not None and msg.value() == b"wake-up"
    assert received - start < 1.0 + 1.5, f"record produced at +1s was consumed at +{received - start:.2f}s"
    assert received - acked["at"] < 1.0


def test_kafka_python_consumer_waiting_on_an_empty_partition_gets_a_new_record_promptly(broker):
    from kafka import TopicPartition
    create_topic(broker.bootstrap, "kp-lp")
    c = kp_consumer(broker.bootstrap, fetch_max_wait_ms=10000)
    try:
        tp = TopicPartition("kp-lp", 0)
        c.assign([tp])
        c.seek(tp, 0)
        timer, acked = produce_after(broker.bootstrap, "kp-lp", 1.0, b"wake-up")
        start = time.monotonic()
        got = []
        while not got and time.monotonic() - start < 15:
            for records in c.poll(timeout_ms=50).values():
                got.extend(records)
        received = time.monotonic()
        timer.join()
    finally:
        c.close()
    assert [r.value for r in got] == [b"wake-up"]
    assert received - start < 1.0 + 1.5, f"record produced at +1s was consumed at +{received - start:.2f}s"


# -- fetch sizes and out-of-range ------------------------------------------------------------------------


def test_a_batch_larger_than_max_partition_fetch_bytes_is_still_returned(broker):
    create_topic(broker.bootstrap, "big-batch")
    big = [os.urandom(50_000) for _ in range(4)]
    p = producer(broker.bootstrap, **{"linger.ms": 0})
    for v in big:  # one batch each
        assert_delivered(produce_all(p, "big-batch", [{"value": v}]))
    with kw.connect(broker.host, broker.port) as conn:
        part = conn.fetch_v4("big-batch", 0, 0, partition_max_bytes=100, max_bytes=100)
    assert part.error_code == kw.ERROR_NONE
    assert part.batches and part.batches[0].base_offset == 0, "KIP-74: the first batch comes back whole"
    # Clients configured the same way make progress through every record.
    got = consume(broker.bootstrap, "big-batch", **{"max.partition.fetch.bytes": 1024, "fetch.max.bytes": 1024,
                                                     "message.max.bytes": 1000})
    assert values(got) == big
    kp = kp_consume(broker.bootstrap, "big-batch", 0, 0, 4, max_partition_fetch_bytes=1024, fetch_max_bytes=1024)
    assert [r.value for r in kp] == big


def test_fetch_at_the_end_is_empty_and_past_the_end_is_offset_out_of_range(broker):
    create_topic(broker.bootstrap, "oor")
    assert_delivered(produce_all(producer(broker.bootstrap), "oor", [{"value": b"x"}] * 5))
    with kw.connect(broker.host, broker.port) as conn:
        at_end = conn.fetch_v4("oor", 0, 5)
        past = conn.fetch_v4("oor", 0, 100)
        negative = conn.fetch_v4("oor", 0, -5)
    assert (at_end.error_code, at_end.high_watermark, at_end.batches) == (kw.ERROR_NONE, 5, [])
    assert past.error_code == kw.ERROR_OFFSET_OUT_OF_RANGE
    assert negative.error_code == kw.ERROR_OFFSET_OUT_OF_RANGE


def test_seek_past_the_end_with_auto_offset_reset_error_reports_offset_out_of_range(broker):
    create_topic(broker.bootstrap, "oor-client")
    assert_delivered(produce_all(producer(broker.bootstrap), "oor-client", [{"value": b"x"}] * 5))
    c = consumer(broker.bootstrap, **{"auto.offset.reset": "error"})
    try:
        c.assign([ck.TopicPartition("oor-client", 0, 100)])
        deadline = time.monotonic() + CLIENT_TIMEOUT_S
        err = None
        while err is None:
            assert time.monotonic() < deadline, "no error for a fetch offset past the end"
            m = c.poll(0.5)
            if m is not None:
                assert m.error() is not None, f"got a record at offset {m.offset()} past the end"
                if m.error().code() != ck.KafkaError._PARTITION_EOF:
                    err = m.error()
    finally:
        c.close()
    assert err.code() == ck.KafkaError._AUTO_OFFSET_RESET, err.str()
    assert "out of range" in err.str().lower(), err.str()


def test_kafka_python_seek_past_the_end_raises_offset_out_of_range(broker):
    from kafka import TopicPartition
    from kafka.errors import OffsetOutOfRangeError
    create_topic(broker.bootstrap, "kp-oor")
    assert_delivered(produce_all(producer(broker.bootstrap), "kp-oor", [{"value": b"x"}] * 5))
    c = kp_consumer(broker.bootstrap, auto_offset_reset="none")
    try:
        tp = TopicPartition("kp-oor", 0)
        c.assign([tp])
        c.seek(tp, 100)
        deadline = time.monotonic() + CLIENT_TIMEOUT_S
        with pytest.raises(OffsetOutOfRangeError):
            while time.monotonic() < deadline:
                assert not c.poll(timeout_ms=500), "records returned for an offset past the end"
    finally:
        c.close()


# -- message sizes -----------------------------------------------------------------------------------------


def test_one_mib_messages_with_raised_limits(broker):
    create_topic(broker.bootstrap, "mib", config={"max.message.bytes": str(4 * 1024 * 1024)})
    payloads = [os.urandom(1024 * 1024) for _ in range(3)]
    p = producer(broker.bootstrap, acks="all", **{"message.max.bytes": 5 * 1024 * 1024})
    reports = produce_all(p, "mib", [{"value": v, "key": f"{i}".encode()} for i, v in enumerate(payloads)])
    assert_delivered(reports)
    assert [d.offset for d in reports] == [0, 1, 2]
    assert values(consume(broker.bootstrap, "mib")) == payloads
    kp = kp_consume(broker.bootstrap, "mib", 0, 0, 3)
    assert [r.value for r in kp] == payloads
    kpp = kp_producer(broker.bootstrap, max_request_size=5 * 1024 * 1024)
    try:
        meta = kpp.send("mib", value=payloads[0]).get(timeout=CLIENT_TIMEOUT_S)
    finally:
        kpp.close()
    assert meta.offset == 3


def test_a_record_above_max_message_bytes_is_rejected_and_nothing_is_written(broker):
    create_topic(broker.bootstrap, "small", config={"max.message.bytes": "10000"})
    p = producer(broker.bootstrap, acks="all", **{"linger.ms": 0})
    first = produce_all(p, "small", [{"value": b"before"}])
    too_big = produce_all(p, "small", [{"value": os.urandom(20_000)}])
    last = produce_all(p, "small", [{"value": b"after"}])
    assert_delivered(first + last)
    assert too_big[0].error is not None, "a 20000-byte record was accepted by a topic with max.message.bytes=10000"
    assert too_big[0].error.code() == ck.KafkaError.MSG_SIZE_TOO_LARGE, too_big[0].error.str()
    assert (first[0].offset, last[0].offset) == (0, 1), "the rejected record must not take an offset"
    assert [(m.offset(), m.value()) for m in consume(broker.bootstrap, "small")] == [(0, b"before"), (1, b"after")]

    from kafka.errors import MessageSizeTooLargeError
    kp = kp_producer(broker.bootstrap, retries=0)
    try:
        with pytest.raises(MessageSizeTooLargeError):
            kp.send("small", value=os.urandom(20_000)).get(timeout=CLIENT_TIMEOUT_S)
    finally:
        kp.close()
    assert [m.offset() for m in consume(broker.bootstrap, "small")] == [0, 1]


# -- volume ------------------------------------------------------------------------------------------------


@pytest.mark.timeout(300)
def test_one_hundred_thousand_messages_keep_per_partition_order(broker):
    n, partitions = 100_000, 3
    create_topic(broker.bootstrap, "volume", partitions=partitions)
    p = producer(broker.bootstrap, acks="all", **{"linger.ms": 20, "batch.num.messages": 10000,
                                                   "max.in.flight.requests.per.connection": 1})
    reports = produce_all(p, "volume", ({"value": f"m{i}".encode(), "partition": i % partitions} for i in range(n)),
                          timeout_s=180)
    assert_delivered(reports)
    per_partition: dict[int, list] = {i: [] for i in range(partitions)}
    for d in reports:
        per_partition[d.partition].append(d)
    for part, ds in per_partition.items():
        assert [d.offset for d in ds] == list(range(len(ds))), f"partition {part}: offsets not contiguous in order"
        assert [d.value for d in ds] == [f"m{i}".encode() for i in range(part, n, partitions)]
    for part in range(partitions):
        expected = [f"m{i}".encode() for i in range(part, n, partitions)]
        got = consume(broker.bootstrap, "volume", partition=part, count=len(expected), timeout_s=120)
        assert [m.offset() for m in got] == list(range(len(expected)))
        assert values(got) == expected
