"""Transactions from kafkajs and kafka-python (test_transactions.py has the confluent-kafka suite).

The same contract, from clients with their own implementation of it: committed records are
visible to read_committed consumers, aborted ones only to read_uncommitted consumers, each
transaction leaves one control record per partition, and offsets sent to a transaction
(sendOffsets / send_offsets_to_transaction) are the group's committed offsets only if it commits.
What the clients wrote is read back with confluent-kafka.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from clients import CLIENT_TIMEOUT_S, create_topic, unique
from groups import LineProcess, committed_offsets
from test_transactions import TXN_BROKER, read, wait_stable

NODE_DIR = Path(__file__).resolve().parent / "node"


@pytest.fixture
def txn_broker(broker_factory):
    return broker_factory(TXN_BROKER)


def test_kafkajs_commits_aborts_and_sends_offsets_in_transactions(txn_broker):
    b = txn_broker.bootstrap
    topic, group = unique("kjs-txn"), unique("kjs-txn-g")
    create_topic(b, topic)
    node = shutil.which("node")
    assert node, "node is not installed (scripts/install-deps installs it)"
    assert (NODE_DIR / "node_modules" / "kafkajs").is_dir(), \
        "kafkajs is not installed in tests/compat/node (scripts/install-deps runs npm ci there)"
    proc = LineProcess([node, str(NODE_DIR / "transactions.js"), b, topic, unique("kjs-tid"), group, "90"],
                       json_lines=True)
    try:
        status = proc.wait(100)
        assert status == 0, f"transactions.js exited {status}: {proc.lines()[-3:]}\n{proc.stderr_tail()}"
    finally:
        proc.close()
    steps = [(e["step"], e["offsets"]) for e in proc.lines() if e.get("event") == "step"]
    assert steps == [(1, ["0"]), (2, ["3"]), (3, ["6"]), (4, ["8"])]

    wait_stable(b, topic, {0: 10})
    assert read(b, topic, 0, "read_committed") == [(0, b"c0"), (1, b"c1"), (6, b"o0")]
    assert read(b, topic, 0, "read_uncommitted") == [
        (0, b"c0"), (1, b"c1"), (3, b"a0"), (4, b"a1"), (6, b"o0"), (8, b"x0")]
    assert committed_offsets(b, group, topic, [0]) == {0: 42}


def test_kafka_python_commits_aborts_and_sends_offsets_in_transactions(txn_broker):
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition
    from kafka.structs import OffsetAndMetadata

    b = txn_broker.bootstrap
    topic, group = unique("kp-txn"), unique("kp-txn-g")
    create_topic(b, topic)
    p = KafkaProducer(bootstrap_servers=b, transactional_id=unique("kp-tid"), request_timeout_ms=30000,
                      max_block_ms=30000)
    try:
        p.init_transactions()

        def transaction(values: list[bytes], offset: int | None, commit: bool) -> list[int]:
            p.begin_transaction()
            futures = [p.send(topic, value=v, partition=0) for v in values]
            p.flush(timeout=CLIENT_TIMEOUT_S)
            offsets = [f.get(timeout=CLIENT_TIMEOUT_S).offset for f in futures]
            if offset is not None:
                p.send_offsets_to_transaction({TopicPartition(topic, 0): OffsetAndMetadata(offset, "", -1)}, group)
            if commit:
                p.commit_transaction()
            else:
                p.abort_transaction()
            return offsets

        assert transaction([b"c0", b"c1"], None, commit=True) == [0, 1]        # marker 2
        assert transaction([b"a0", b"a1"], None, commit=False) == [3, 4]       # marker 5
        assert transaction([b"o0"], 42, commit=True) == [6]                    # marker 7
        assert transaction([b"x0"], 99, commit=False) == [8]                   # marker 9
    finally:
        p.close(timeout=10)

    wait_stable(b, topic, {0: 10})
    assert read(b, topic, 0, "read_committed") == [(0, b"c0"), (1, b"c1"), (6, b"o0")]
    assert read(b, topic, 0, "read_uncommitted") == [
        (0, b"c0"), (1, b"c1"), (3, b"a0"), (4, b"a1"), (6, b"o0"), (8, b"x0")]
    assert committed_offsets(b, group, topic, [0]) == {0: 42}

    # kafka-python's own read_committed consumer agrees.
    c = KafkaConsumer(bootstrap_servers=b, group_id=None, enable_auto_commit=False, auto_offset_reset="earliest",
                      isolation_level="read_committed", request_timeout_ms=30000, consumer_timeout_ms=3000)
    try:
        tp = TopicPartition(topic, 0)
        c.assign([tp])
        c.seek_to_beginning(tp)
        got = [(r.offset, r.value) for r in c]
    finally:
        c.close()
    assert got == [(0, b"c0"), (1, b"c1"), (6, b"o0")]
