"""Compressed batches from every client, in every codec Kafka defines, read back by every client.

With the default compression.type=producer Kafka stores and serves a batch with the producer's
codec, so besides the contents this checks, on the wire, that each served batch still carries
the codec (attributes bits 0-2) and is smaller than its payload.
"""

from __future__ import annotations

import pytest

import kafka_wire as kw
from clients import (
    CLIENT_TIMEOUT_S, assert_delivered, consume, create_topic, kcat, kp_consume, kp_producer, produce_all, producer,
)

CODECS = ["gzip", "snappy", "lz4", "zstd"]
COUNT = 20
VALUE_BYTES = 5000


def record(i: int) -> tuple[bytes, bytes]:
    """A highly compressible value of VALUE_BYTES bytes (no newline, so kcat can send it as a line)."""
    head = f"value-{i:04d}-".encode()
    return f"key-{i}".encode(), head + b"abcdefgh" * ((VALUE_BYTES - len(head)) // 8)


EXPECTED = [record(i) for i in range(COUNT)]


def produce_with_confluent(bootstrap: str, topic: str, codec: str) -> None:
    p = producer(bootstrap, **{"compression.type": codec, "linger.ms": 200, "acks": "all"})
    reports = produce_all(p, topic, [{"key": k, "value": v, "headers": [("codec", codec.encode())]}
                                     for k, v in EXPECTED])
    assert_delivered(reports)
    assert [d.offset for d in reports] == list(range(COUNT))


def produce_with_kafka_python(bootstrap: str, topic: str, codec: str) -> None:
    p = kp_producer(bootstrap, compression_type=codec, linger_ms=200, acks="all")
    try:
        futures = [p.send(topic, key=k, value=v, headers=[("codec", codec.encode())]) for k, v in EXPECTED]
        p.flush(timeout=CLIENT_TIMEOUT_S)
        assert [f.get(timeout=CLIENT_TIMEOUT_S).offset for f in futures] == list(range(COUNT))
    finally:
        p.close()


def produce_with_kcat(bootstrap: str, topic: str, codec: str) -> None:
    lines = b"".join(k + b":" + v + b"\n" for k, v in EXPECTED)
    kcat(bootstrap, "-P", "-t", topic, "-p", "0", "-K", ":", "-H", f"codec={codec}",
         "-X", f"compression.codec={codec}", "-X", "linger.ms=200", stdin=lines)


PRODUCERS = {
    "confluent": produce_with_confluent,
    "kafka-python": produce_with_kafka_python,
    "kcat": produce_with_kcat,
}


@pytest.mark.parametrize("codec", CODECS)
@pytest.mark.parametrize("client", list(PRODUCERS))
def test_compressed_batches_round_trip_through_every_client(broker, client, codec):
    topic = f"{client}-{codec}"
    create_topic(broker.bootstrap, topic)
    PRODUCERS[client](broker.bootstrap, topic, codec)

    # As served on the wire: the producer's codec, actually compressed.
    with kw.connect(broker.host, broker.port) as conn:
        part = conn.fetch_v4(topic, 0, 0)
    assert part.error_code == kw.ERROR_NONE and part.high_watermark == COUNT
    assert part.batches, "no record batches served"
    assert {b.compression for b in part.batches} == {kw.COMPRESSION_CODECS[codec]}, \
        f"served batches carry codecs {[b.compression for b in part.batches]}, produced with {codec}"
    assert sum(b.record_count for b in part.batches) == COUNT
    served_bytes = sum(12 + b.batch_length for b in part.batches)
    assert served_bytes < COUNT * VALUE_BYTES / 4, f"{served_bytes} bytes served for {COUNT * VALUE_BYTES} of payload"

    # Read back by each client.
    got = consume(broker.bootstrap, topic)
    assert [(m.key(), m.value()) for m in got] == EXPECTED
    assert all(m.headers() == [("codec", codec.encode())] for m in got)

    kp = kp_consume(broker.bootstrap, topic, 0, 0, COUNT)
    assert [(r.key, r.value) for r in kp] == EXPECTED

    out = kcat(broker.bootstrap, "-C", "-t", topic, "-p", "0", "-o", "beginning", "-e", "-f", "%o %k %S\\n").stdout
    assert out.decode().splitlines() == [f"{i} {k.decode()} {len(v)}" for i, (k, v) in enumerate(EXPECTED)]


@pytest.mark.parametrize("stored,produced", [("lz4", "none"), ("zstd", "gzip"), ("uncompressed", "snappy")])
def test_a_topic_compression_type_stores_batches_in_its_codec(broker, stored, produced):
    """compression.type other than producer: the broker recompresses on produce, as Kafka does."""
    topic = f"stored-{stored}"
    create_topic(broker.bootstrap, topic, config={"compression.type": stored})
    p = producer(broker.bootstrap, **{"compression.type": produced, "linger.ms": 200, "acks": "all",
                                      "enable.idempotence": True})
    reports = produce_all(p, topic, [{"key": k, "value": v, "headers": [("h", b"1")]} for k, v in EXPECTED])
    assert_delivered(reports)
    assert [d.offset for d in reports] == list(range(COUNT))

    with kw.connect(broker.host, broker.port) as conn:
        part = conn.fetch_v4(topic, 0, 0)
    assert part.error_code == kw.ERROR_NONE and part.high_watermark == COUNT
    want = 0 if stored == "uncompressed" else kw.COMPRESSION_CODECS[stored]
    assert {b.compression for b in part.batches} == {want}
    assert sum(b.record_count for b in part.batches) == COUNT

    got = consume(broker.bootstrap, topic)
    assert [(m.offset(), m.key(), m.value(), m.headers()) for m in got] == \
        [(i, k, v, [("h", b"1")]) for i, (k, v) in enumerate(EXPECTED)]
