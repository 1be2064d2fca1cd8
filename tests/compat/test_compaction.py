"""Log compaction (cleanup.policy=compact) with real clients.

Kafka's log cleaner keeps the latest record per key in every segment but the active one, at
unchanged offsets (gaps are normal), drops tombstones (null values) once delete.retention.ms
has passed after they were cleaned, and refuses records without keys on compacted topics
(INVALID_RECORD). Here the broker's cleaner looks every 200 ms (log.cleaner.backoff.ms) and
topics use 1 MiB segments of 10 KB records, so a few hundred records make several segments.
"""

from __future__ import annotations

import confluent_kafka as ck

from clients import CLIENT_TIMEOUT_S, consume, create_topic, producer, unique, wait_for

FAST_CLEANER = {"log.cleaner.backoff.ms": "200"}
COMPACTED = {"cleanup.policy": "compact", "segment.bytes": "1048576", "min.cleanable.dirty.ratio": "0.01"}


def produce_keyed(bootstrap: str, topic: str, records: list[tuple[bytes, bytes | None]], **conf) -> None:
    p = producer(bootstrap, **{"linger.ms": 0, **conf})
    for key, value in records:
        p.produce(topic, key=key, value=value)
    assert p.flush(CLIENT_TIMEOUT_S) == 0


def latest_by_key(records: list[tuple[bytes, bytes | None]]) -> dict[bytes, tuple[int, bytes | None]]:
    out: dict[bytes, tuple[int, bytes | None]] = {}
    for offset, (k, v) in enumerate(records):
        out[k] = (offset, v)
    return out


def test_compaction_keeps_the_latest_value_per_key_at_its_offset(broker_factory):
    b = broker_factory(FAST_CLEANER)
    topic = unique("compact")
    create_topic(b.bootstrap, topic, config=COMPACTED)
    written = [(b"k%02d" % (i % 20), (b"%06d" % i) + b"v" * 10_000) for i in range(400)]
    produce_keyed(b.bootstrap, topic, written)
    # One more record rolls nothing by itself; the active segment stays as it is.
    expected = latest_by_key(written)

    def compacted():
        msgs = consume(b.bootstrap, topic)
        return msgs if len(msgs) < 200 else None

    msgs = wait_for(compacted, 30, what="the cleaner to compact the inactive segments")
    by_key: dict[bytes, list[tuple[int, bytes]]] = {}
    for m in msgs:
        by_key.setdefault(m.key(), []).append((m.offset(), m.value()))
    offsets = [m.offset() for m in msgs]
    assert offsets == sorted(offsets) and len(set(offsets)) == len(offsets)
    for key, (offset, value) in expected.items():
        assert by_key[key][-1] == (offset, value), f"{key!r}: latest is offset {offset}"
    # Everything older than the active segment is one record per key.
    assert len(msgs) < 200, len(msgs)


def test_records_without_a_key_are_refused_on_a_compacted_topic(broker):
    topic = unique("nokey")
    create_topic(broker.bootstrap, topic, config={"cleanup.policy": "compact"})
    p = producer(broker.bootstrap)
    errors = []
    p.produce(topic, value=b"orphan", on_delivery=lambda err, msg: errors.append(err))
    p.flush(CLIENT_TIMEOUT_S)
    assert errors and errors[0] is not None, errors
    assert errors[0].code() == ck.KafkaError.INVALID_RECORD, errors[0]
    # A keyed record is fine.
    produce_keyed(broker.bootstrap, topic, [(b"k", b"v")])
    assert [m.key() for m in consume(broker.bootstrap, topic)] == [b"k"]


def test_tombstones_delete_keys_and_disappear_after_delete_retention_ms(broker_factory):
    from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource, ResourceType

    from clients import admin
    b = broker_factory(FAST_CLEANER)
    topic = unique("tomb")
    # An hour's delete.retention.ms first: every clean keeps the tombstones, however many
    # cleans a loaded machine fits between two looks.
    create_topic(b.bootstrap, topic, config={**COMPACTED, "delete.retention.ms": "3600000"})
    first = [(b"k%02d" % (i % 10), b"x" * 10_000) for i in range(200)]
    tombstones = [(b"k%02d" % i, None) for i in range(5)]
    produce_keyed(b.bootstrap, topic, first + tombstones)
    later = [(b"z%03d" % i, b"y" * 10_000) for i in range(250)]
    produce_keyed(b.bootstrap, topic, later)
    wait_for(lambda: len(consume(b.bootstrap, topic)) < 300 or None, 30, what="a first clean")
    msgs = consume(b.bootstrap, topic)
    assert {m.key() for m in msgs if m.value() is None} == {b"k%02d" % i for i in range(5)}
    # The tombstones deleted their keys' values; the other keys keep their latest.
    assert {m.key() for m in msgs if m.value() is not None and m.key().startswith(b"k")} == \
        {b"k%02d" % i for i in range(5, 10)}
    # delete.retention.ms=0 (a dynamic topic config) and new data to make the log dirty again:
    # the next clean drops the tombstones, whose segments were cleaned before.
    resource = ConfigResource(ResourceType.TOPIC, topic, incremental_configs=[
        ConfigEntry("delete.retention.ms", "0", incremental_operation=AlterConfigOpType.SET)])
    client = admin(b.bootstrap)
    [future] = client.incremental_alter_configs([resource], request_timeout=CLIENT_TIMEOUT_S).values()
    future.result(timeout=CLIENT_TIMEOUT_S)
    produce_keyed(b.bootstrap, topic, [(b"w%03d" % i, b"w" * 10_000) for i in range(250)])

    def tombstones_gone():
        msgs = consume(b.bootstrap, topic)
        keys = {m.key() for m in msgs}
        return msgs if not any(b"k%02d" % i in keys for i in range(5)) else None

    msgs = wait_for(tombstones_gone, 45, what="the tombstoned keys to disappear")
    keys = {m.key() for m in msgs}
    assert {b"k%02d" % i for i in range(5, 10)} <= keys, "keys without tombstones stay"


def test_compacted_batches_keep_their_codec(broker_factory):
    import kafka_wire as kw
    b = broker_factory(FAST_CLEANER)
    topic = unique("codec")
    create_topic(b.bootstrap, topic, config=COMPACTED)
    import os
    # Random hex: gzip halves it (so librdkafka keeps it compressed), 1 MiB segments still fill.
    produce_keyed(b.bootstrap, topic, [(b"k%02d" % (i % 5), os.urandom(5_000).hex().encode()) for i in range(600)],
                  **{"compression.type": "gzip", "batch.num.messages": 10})
    wait_for(lambda: len(consume(b.bootstrap, topic)) < 300 or None, 30, what="compaction")
    host, port = b.bootstrap.rsplit(":", 1)
    with kw.connect(host, int(port)) as conn:
        fetched = conn.fetch_v4(topic, 0, 0, partition_max_bytes=10_000_000)
    batches = kw.parse_record_batches(fetched.records)
    assert batches and all(batch.compression == kw.COMPRESSION_CODECS["gzip"] for batch in batches), batches
