"""Idempotent producers (KIP-98, epoch bumps per KIP-360) with the clients' own defaults.

Kafka's contract: a producer with enable.idempotence (the default of kafka-python 3 and of the Java
client since 3.0) gets a producer id from InitProducerId, stamps every batch with it, its epoch and
a per-partition sequence, and the broker writes each batch once even when the producer retries it,
after a broker crash included. Producer ids are never handed out twice, across restarts.
"""

from __future__ import annotations

import struct
import time

import kafka_wire as kw
from clients import (
    CLIENT_TIMEOUT_S, assert_delivered, consume, create_topic, kp_producer, produce_all, producer, values,
    wait_for,
)


def stored_batches(broker, topic: str, partition: int) -> list[tuple[int, int, int, int, int]]:
    """(producer_id, producer_epoch, base_sequence, base_offset, record_count) of every stored batch."""
    out = []
    offset = 0
    with kw.connect(broker.host, broker.port) as conn:
        while True:
            fetched = conn.fetch_v4(topic, partition, offset)
            assert fetched.error_code == 0
            pos = 0
            for b in fetched.batches:
                producer_id, epoch, sequence = struct.unpack_from(">qhi", fetched.records, pos + 43)
                out.append((producer_id, epoch, sequence, b.base_offset, b.record_count))
                pos += 12 + b.batch_length
                offset = b.base_offset + b.last_offset_delta + 1
            if not fetched.batches or offset >= fetched.high_watermark:
                return out


def assert_idempotent_sequences(batches) -> None:
    """Every batch carries a producer id; per producer and epoch, sequences continue without a gap."""
    assert batches, "nothing stored"
    next_sequence = {}
    for producer_id, epoch, sequence, _, count in batches:
        assert producer_id >= 0, f"batch without a producer id: the client did not use idempotence {batches[:3]}"
        key = (producer_id, epoch)
        assert sequence == next_sequence.get(key, 0), f"sequence gap or repeat at {key}: {batches}"
        next_sequence[key] = sequence + count


def test_kafka_python_default_producer_writes_each_record_once_in_order(broker):
    from kafka import KafkaProducer
    create_topic(broker.bootstrap, "kp-idem", partitions=2)
    p = KafkaProducer(bootstrap_servers=broker.bootstrap, request_timeout_ms=30000, max_block_ms=30000)
    try:
        futures = [p.send("kp-idem", value=f"{i}".encode(), partition=i % 2) for i in range(400)]
        p.flush(timeout=CLIENT_TIMEOUT_S)
        metas = [f.get(timeout=CLIENT_TIMEOUT_S) for f in futures]
    finally:
        p.close()
    for part in range(2):
        assert [m.offset for m in metas if m.partition == part] == list(range(200))
        assert values(consume(broker.bootstrap, "kp-idem", partition=part)) == [
            f"{i}".encode() for i in range(part, 400, 2)]
        assert_idempotent_sequences(stored_batches(broker, "kp-idem", part))


def test_confluent_idempotent_producer_writes_each_record_once_in_order(broker):
    create_topic(broker.bootstrap, "ck-idem", partitions=2)
    records = [{"value": f"{i}".encode(), "partition": i % 2} for i in range(1000)]
    reports = produce_all(producer(broker.bootstrap, **{"enable.idempotence": True}), "ck-idem", records)
    assert_delivered(reports)
    for part in range(2):
        got = consume(broker.bootstrap, "ck-idem", partition=part)
        assert [(m.offset(), m.value()) for m in got] == [
            (i, f"{v}".encode()) for i, v in enumerate(range(part, 1000, 2))]
        assert_idempotent_sequences(stored_batches(broker, "ck-idem", part))


def test_producer_ids_are_never_reused_across_restarts(broker):
    create_topic(broker.bootstrap, "ids")
    seen = set()
    for round_ in range(3):
        if round_:
            broker.restart(graceful=round_ == 1)
        assert_delivered(produce_all(producer(broker.bootstrap, **{"enable.idempotence": True}), "ids",
                                     [{"value": f"{round_}-{i}".encode()} for i in range(5)]))
        ids = {b[0] for b in stored_batches(broker, "ids", 0)} - seen
        assert len(ids) == 1, f"round {round_}: expected one new producer id, stored ids {ids | seen}"
        seen |= ids
    assert values(consume(broker.bootstrap, "ids")) == [
        f"{r}-{i}".encode() for r in range(3) for i in range(5)]


def test_retries_across_a_broker_crash_write_every_record_once(broker):
    # Batches in flight when the broker dies may be in the log without an answer; the producer
    # retries them with the same sequence after the restart, and the rebuilt producer state must
    # recognize them. Whatever the interleaving, each record is stored exactly once, in order.
    create_topic(broker.bootstrap, "crash-idem")
    p = producer(broker.bootstrap, **{"enable.idempotence": True, "linger.ms": 1,
                                      "batch.num.messages": 20, "retry.backoff.ms": 50})
    delivered = []

    def on_delivery(err, msg):
        assert err is None, f"delivery failed: {err}"
        delivered.append(msg.offset())

    total = 3000
    for i in range(total):
        while True:
            try:
                p.produce("crash-idem", value=f"{i}".encode(), on_delivery=on_delivery)
                break
            except BufferError:
                p.poll(0.05)
        p.poll(0)
        if i == total // 2:
            wait_for(lambda: p.poll(0.01) >= 0 and len(delivered) >= 200, CLIENT_TIMEOUT_S,
                     what="some deliveries before the crash")
            broker.kill9()
            broker.start()
    assert p.flush(60) == 0, "records still undelivered after the restart"
    assert sorted(delivered) == list(range(total))
    assert values(consume(broker.bootstrap, "crash-idem")) == [f"{i}".encode() for i in range(total)]
    assert_idempotent_sequences(stored_batches(broker, "crash-idem", 0))


def test_a_retry_after_a_restart_is_deduplicated_however_many_segments_back(broker):
    # A producer writes one batch, then other producers fill several segments and the broker
    # crashes. The producer's retry of that batch (same id, epoch and sequence) after the restart
    # must get its original offset and write nothing: the producer state comes back from the
    # snapshots, not from a scan of the newest segments only.
    from kafka.record.default_records import DefaultRecordBatchBuilder
    create_topic(broker.bootstrap, "far-idem", config={"segment.bytes": str(1024 * 1024)})
    p = kp_producer(broker.bootstrap, enable_idempotence=True)
    try:
        first = p.send("far-idem", value=b"first", timestamp_ms=int(time.time() * 1000)).get(
            timeout=CLIENT_TIMEOUT_S)
    finally:
        p.close()
    assert first.offset == 0
    ((producer_id, epoch, sequence, base_offset, count),) = stored_batches(broker, "far-idem", 0)
    assert (sequence, base_offset, count) == (0, 0, 1)

    filler = b"f" * 10_000
    assert_delivered(produce_all(producer(broker.bootstrap), "far-idem", [{"value": filler}] * 500))
    segments = sorted((broker.data_dir / "far-idem-0").glob("*.log"))
    assert len(segments) >= 4, f"expected several segments, got {segments}"
    broker.restart(graceful=False)

    builder = DefaultRecordBatchBuilder(magic=2, compression_type=0, is_transactional=0,
                                        producer_id=producer_id, producer_epoch=epoch, base_sequence=0,
                                        batch_size=1024 * 1024)
    builder.append(0, timestamp=int(time.time() * 1000), key=None, value=b"first", headers=[])
    with kw.connect(broker.host, broker.port) as conn:
        assert conn.produce_v3("far-idem", 0, bytes(builder.build())) == (0, 0)
    stored = stored_batches(broker, "far-idem", 0)
    assert [b for b in stored if b[0] == producer_id] == [(producer_id, epoch, 0, 0, 1)]
    assert sum(b[4] for b in stored) == 501


def test_producer_ids_expire_after_producer_id_expiration_ms(broker_factory):
    # Kafka forgets a producer id whose last batch is producer.id.expiration.ms old, checked every
    # producer.id.expiration.check.interval.ms; a retry after that is no longer recognized.
    from kafka.record.default_records import DefaultRecordBatchBuilder
    broker = broker_factory({"producer.id.expiration.ms": "1000",
                             "producer.id.expiration.check.interval.ms": "200"})
    create_topic(broker.bootstrap, "expiring")

    def first_batch(producer_id: int) -> bytes:
        builder = DefaultRecordBatchBuilder(magic=2, compression_type=0, is_transactional=0,
                                            producer_id=producer_id, producer_epoch=0, base_sequence=0,
                                            batch_size=1024)
        builder.append(0, timestamp=int(time.time() * 1000), key=None, value=b"x", headers=[])
        return bytes(builder.build())

    with kw.connect(broker.host, broker.port) as conn:
        batch = first_batch(4242)
        written = time.monotonic()
        assert conn.produce_v3("expiring", 0, batch) == (0, 0)
        # Retried until the broker forgets the producer: every answer before that is the
        # original offset, and the first one after is a new write.
        deadline = written + 10
        while (answer := conn.produce_v3("expiring", 0, batch)) == (0, 0):
            assert time.monotonic() < deadline, "the producer id never expired"
            time.sleep(0.05)
        forgotten_after = time.monotonic() - written
    assert answer == (0, 1), "forgotten: the retry is written again"
    assert forgotten_after >= 0.9, f"expired after {forgotten_after:.2f}s, before producer.id.expiration.ms"
    assert len(stored_batches(broker, "expiring", 0)) == 2
