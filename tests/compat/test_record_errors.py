"""Per-record produce errors (KIP-467): the records of a batch a topic refuses, by index.

When Kafka's LogValidator refuses records of a batch (no key on a compacted topic, a timestamp
outside message.timestamp.before/after.max.ms), nothing of the batch is written and the
partition's answer (Produce v8+) lists each refused record's batch_index with its message, plus
an error_message for the whole. librdkafka then fails only those records with the partition
error and every other record of the batch with _INVALID_DIFFERENT_RECORD (its test 0011,
test_message_single_partition_record_fail), instead of failing them all alike.
"""

from __future__ import annotations

import time

import confluent_kafka as ck

import kafka_wire as kw

from clients import CLIENT_TIMEOUT_S, consume, create_topic, producer, unique

INVALID_RECORD = 87
INVALID_TIMESTAMP = 32


def batch(records: list[tuple[bytes | None, bytes, int]]) -> bytes:
    """One uncompressed v2 batch of (key, value, timestamp) records, as a producer numbers them."""
    from kafka.record.default_records import DefaultRecordBatchBuilder
    b = DefaultRecordBatchBuilder(magic=2, compression_type=0, is_transactional=0, producer_id=-1,
                                  producer_epoch=-1, base_sequence=-1, batch_size=1024 * 1024)
    for i, (key, value, timestamp) in enumerate(records):
        b.append(i, timestamp=timestamp, key=key, value=value, headers=[])
    return bytes(b.build())


def test_only_the_keyless_records_of_a_batch_fail_on_a_compacted_topic(broker):
    # librdkafka's 0011 test_message_single_partition_record_fail: 100 records in one batch,
    # every tenth without a key, to a compacted topic.
    topic = unique("recerr")
    create_topic(broker.bootstrap, topic, config={"cleanup.policy": "compact"})
    p = producer(broker.bootstrap, **{"linger.ms": 2000, "batch.num.messages": 100, "retries": 0})
    reports: dict[int, ck.KafkaError | None] = {}

    def on_delivery(i: int):
        return lambda err, msg: reports.__setitem__(i, err)

    for i in range(100):
        key = None if i % 10 == 0 else b"key-%d" % i
        p.produce(topic, key=key, value=b"value-%d" % i, partition=0, on_delivery=on_delivery(i))
    assert p.flush(CLIENT_TIMEOUT_S) == 0
    assert sorted(reports) == list(range(100))
    codes = {i: (err.code() if err is not None else None) for i, err in reports.items()}
    keyless = {i: c for i, c in codes.items() if i % 10 == 0}
    keyed = {i: c for i, c in codes.items() if i % 10 != 0}
    assert set(keyless.values()) == {ck.KafkaError.INVALID_RECORD}, keyless
    assert set(keyed.values()) == {ck.KafkaError._INVALID_DIFFERENT_RECORD}, keyed
    # Nothing of the batch was written; a keyed record afterwards lands at offset 0.
    p2 = producer(broker.bootstrap, **{"linger.ms": 0})
    p2.produce(topic, key=b"k", value=b"after", partition=0)
    assert p2.flush(CLIENT_TIMEOUT_S) == 0
    msgs = consume(broker.bootstrap, topic)
    assert [(m.offset(), m.key(), m.value()) for m in msgs] == [(0, b"k", b"after")]


def test_produce_response_lists_each_keyless_record_with_kafkas_messages(broker):
    topic = unique("recerr-wire")
    create_topic(broker.bootstrap, topic, config={"cleanup.policy": "compact"})
    now = int(time.time() * 1000)
    records = [(None if i in (1, 4, 5, 7) else b"k%d" % i, b"v%d" % i, now) for i in range(8)]
    with kw.connect(broker.host, broker.port) as conn:
        r = conn.produce_v8(topic, 0, batch(records))
        assert r.error_code == INVALID_RECORD, r
        assert r.base_offset == -1, r
        assert r.log_start_offset == 0, r
        message = f"Compacted topic cannot accept message without key in topic partition {topic}-0"
        assert r.record_errors == [(1, message), (4, message), (5, message), (7, message)], r
        shown = ", ".join(f"RecordError(batchIndex={i}, message='{message}')" for i in (1, 4, 5))
        assert r.error_message == (
            "One or more records have been rejected due to 4 record errors in total, "
            f"and only showing the first three errors at most: [{shown}]"
        ), r
        # A whole keyed batch is written from offset 0: the refused one left nothing behind.
        ok = conn.produce_v8(topic, 0, batch([(b"a", b"1", now), (b"b", b"2", now)]))
        assert (ok.error_code, ok.base_offset, ok.record_errors, ok.error_message) == (0, 0, [], None), ok


def test_produce_response_lists_each_record_with_a_timestamp_out_of_range(broker):
    topic = unique("recerr-ts")
    create_topic(broker.bootstrap, topic, config={"message.timestamp.before.max.ms": "60000"})
    now = int(time.time() * 1000)
    old = now - 3_600_000
    records = [(b"k", b"v", ts) for ts in (now, old, now, old - 1)]
    with kw.connect(broker.host, broker.port) as conn:
        r = conn.produce_v8(topic, 0, batch(records))
    assert r.error_code == INVALID_TIMESTAMP, r
    assert [i for i, _ in r.record_errors] == [1, 3], r
    for (i, message), ts in zip(r.record_errors, (old, old - 1)):
        assert message is not None and message.startswith(
            f"Timestamp {ts} of message with offset {i} is out of range. The timestamp should be within ["
        ), message
    assert r.error_message == "One or more records have been rejected due to invalid timestamp", r
    assert consume(broker.bootstrap, topic, timeout_s=2) == []
