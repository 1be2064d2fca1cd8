"""The partition leader's side of transactions, read by real consumers.

Transactional batches and their markers are written by hand over the wire (Produce with a
transactional id, WriteTxnMarkers v1 as the transaction coordinator sends it), with KIP-890
verification off since no coordinator takes part; then confluent-kafka (librdkafka) and
kafka-python consumers read the partition with isolation.level=read_committed, which drops
aborted records using the fetch's aborted_transactions and stops at the last stable offset,
and with read_uncommitted, which sees every data record.
"""
from __future__ import annotations

import time

import kafka_wire as kw
from clients import consume, create_topic, kp_consume, values

API_WRITE_TXN_MARKERS = 27
NO_VERIFICATION = {"transaction.partition.verification.enable": "false"}


def txn_batch(producer_id: int, sequence: int, vals: list[bytes]) -> bytes:
    from kafka.record.default_records import DefaultRecordBatchBuilder
    builder = DefaultRecordBatchBuilder(magic=2, compression_type=0, is_transactional=1,
                                        producer_id=producer_id, producer_epoch=0, base_sequence=sequence,
                                        batch_size=1024 * 1024)
    for i, v in enumerate(vals):
        builder.append(i, timestamp=int(time.time() * 1000), key=None, value=v, headers=[])
    return bytes(builder.build())


def plain_batch(vals: list[bytes]) -> bytes:
    from kafka.record.default_records import DefaultRecordBatchBuilder
    builder = DefaultRecordBatchBuilder(magic=2, compression_type=0, is_transactional=0,
                                        producer_id=-1, producer_epoch=-1, base_sequence=-1,
                                        batch_size=1024 * 1024)
    for i, v in enumerate(vals):
        builder.append(i, timestamp=int(time.time() * 1000), key=None, value=v, headers=[])
    return bytes(builder.build())


def compact_array(items: list[bytes]) -> bytes:
    return kw.uvarint(len(items) + 1) + b"".join(items)


def write_marker(conn: kw.Connection, topic: str, partition: int, producer_id: int, commit: bool,
                 coordinator_epoch: int = 0) -> int:
    """WriteTxnMarkers v1 (flexible) for one partition; its error code."""
    topics = compact_array([kw.compact_string(topic) + compact_array([kw.i32(partition)]) + kw.uvarint(0)])
    marker = (kw.i64(producer_id) + kw.i16(0) + kw.i8(1 if commit else 0) + topics
              + kw.i32(coordinator_epoch) + kw.uvarint(0))
    body = compact_array([marker]) + kw.uvarint(0)
    r = kw.Reader(conn.request(API_WRITE_TXN_MARKERS, 1, body, flexible_header=True))
    assert r.i8() == 0, "response header v1: no tagged fields"
    assert r.i8() == 2, "one marker"
    assert r.i64() == producer_id
    assert r.i8() == 2, "one topic"
    name = r.take(r.i8() - 1).decode()
    assert name == topic
    assert r.i8() == 2, "one partition"
    assert r.i32() == partition
    return r.i16()


def test_read_committed_consumers_skip_aborted_records_and_wait_for_open_transactions(broker_factory):
    broker = broker_factory(NO_VERIFICATION)
    topic = "txn-data"
    create_topic(broker.bootstrap, topic)
    with kw.connect(broker.host, broker.port) as conn:
        assert conn.produce_v3(topic, 0, plain_batch([b"p0"])) == (0, 0)
        assert conn.produce_v3(topic, 0, txn_batch(7000, 0, [b"a1", b"a2"]), transactional_id="tx-a") == (0, 1)
        assert conn.produce_v3(topic, 0, txn_batch(8000, 0, [b"b1"]), transactional_id="tx-b") == (0, 3)
        assert write_marker(conn, topic, 0, 7000, commit=False) == 0

        # Producer 8000's transaction is open: read_committed stops before it.
        assert values(consume(broker.bootstrap, topic, isolation_level="read_committed")) == [b"p0"]
        assert values(consume(broker.bootstrap, topic, count=4, isolation_level="read_uncommitted")) == [
            b"p0", b"a1", b"a2", b"b1"]

        assert write_marker(conn, topic, 0, 8000, commit=True) == 0
        assert conn.produce_v3(topic, 0, plain_batch([b"p1"])) == (0, 6)

    committed = [b"p0", b"b1", b"p1"]
    assert values(consume(broker.bootstrap, topic, isolation_level="read_committed")) == committed
    assert values(consume(broker.bootstrap, topic, isolation_level="read_uncommitted")) == [
        b"p0", b"a1", b"a2", b"b1", b"p1"]
    kp = kp_consume(broker.bootstrap, topic, 0, 0, 3, isolation_level="read_committed")
    assert [m.value for m in kp] == committed

    # The abort survives a crash: the .txnindex is on disk, or rebuilt from the log.
    broker.restart(graceful=False)
    assert values(consume(broker.bootstrap, topic, isolation_level="read_committed")) == committed
    assert list((broker.data_dir / f"{topic}-0").glob("*.txnindex")), "the abort is indexed"
