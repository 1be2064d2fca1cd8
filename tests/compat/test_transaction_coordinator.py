"""The transaction coordinator seen by librdkafka (confluent-kafka): FindCoordinator for a
transactional id, InitProducerId, fencing of an older instance, the transaction timeout limit,
and whole transactions (commit and abort, markers written by the coordinator) read back by
read_committed consumers.

Kafka's contract: init_transactions() gets a producer id and epoch from the coordinator of the
transactional id (the leader of its `__transaction_state` partition, created on first use); a
second instance with the same transactional.id gets the same producer id at a higher epoch, and
the first is fenced: its next request to the coordinator (AddPartitionsToTxn, sent before its
first produce to a partition) fails with PRODUCER_FENCED, a fatal error. A transaction.timeout.ms
above the broker's transaction.max.timeout.ms is refused with INVALID_TRANSACTION_TIMEOUT.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import confluent_kafka as ck
import pytest

from clients import consume, create_topic, kafka_error, producer, values

TIMEOUT_S = 30


def test_a_second_instance_fences_the_first(broker):
    create_topic(broker.bootstrap, "txn-fence", partitions=1)
    first = producer(broker.bootstrap, transactional_id="fence-me")
    first.init_transactions(TIMEOUT_S)
    second = producer(broker.bootstrap, transactional_id="fence-me")
    second.init_transactions(TIMEOUT_S)

    first.begin_transaction()
    first.produce("txn-fence", value=b"from the fenced instance")
    with pytest.raises(ck.KafkaException) as raised:
        first.commit_transaction(TIMEOUT_S)
    err = kafka_error(raised.value)
    assert err.fatal(), err
    assert err.code() in (ck.KafkaError._FENCED, ck.KafkaError.PRODUCER_FENCED), err


def test_a_transaction_timeout_above_the_broker_maximum_is_refused(broker_factory):
    broker = broker_factory({"transaction.max.timeout.ms": "10000"})
    p = producer(broker.bootstrap, transactional_id="too-long", transaction_timeout_ms=60000, message_timeout_ms=10000)
    with pytest.raises(ck.KafkaException) as raised:
        p.init_transactions(TIMEOUT_S)
    assert kafka_error(raised.value).code() == ck.KafkaError.INVALID_TRANSACTION_TIMEOUT

    ok = producer(broker.bootstrap, transactional_id="short-enough", transaction_timeout_ms=10000,
                  message_timeout_ms=10000)
    ok.init_transactions(TIMEOUT_S)


def test_committed_transactions_are_read_and_aborted_ones_are_not(broker):
    create_topic(broker.bootstrap, "txn-e2e", partitions=2)
    p = producer(broker.bootstrap, transactional_id="e2e")
    p.init_transactions(TIMEOUT_S)
    expected = {0: [], 1: []}
    for n, commit in enumerate([True, False, True, False, True]):
        p.begin_transaction()
        for i in range(6):
            value = f"t{n}-{i}".encode()
            p.produce("txn-e2e", value=value, partition=i % 2)
            if commit:
                expected[i % 2].append(value)
        # Written before the end: librdkafka's abort purges what it has not sent yet.
        assert p.flush(TIMEOUT_S) == 0
        if commit:
            p.commit_transaction(TIMEOUT_S)
        else:
            p.abort_transaction(TIMEOUT_S)
    for part in (0, 1):
        committed = values(consume(broker.bootstrap, "txn-e2e", part, isolation_level="read_committed"))
        assert committed == expected[part]
        everything = values(consume(broker.bootstrap, "txn-e2e", part, isolation_level="read_uncommitted"))
        assert len(everything) == 15, everything


def test_a_new_instance_aborts_the_open_transaction_of_the_old_one(broker):
    create_topic(broker.bootstrap, "txn-takeover", partitions=1)
    first = producer(broker.bootstrap, transactional_id="takeover")
    first.init_transactions(TIMEOUT_S)
    first.begin_transaction()
    first.produce("txn-takeover", value=b"left open")
    assert first.flush(TIMEOUT_S) == 0
    # The second instance's InitProducerId aborts the open transaction (markers written) before
    # it gets its epoch; the records of the first never become visible to read_committed.
    second = producer(broker.bootstrap, transactional_id="takeover")
    second.init_transactions(TIMEOUT_S)
    second.begin_transaction()
    second.produce("txn-takeover", value=b"from the new instance")
    second.commit_transaction(TIMEOUT_S)
    committed = values(consume(broker.bootstrap, "txn-takeover", 0, isolation_level="read_committed"))
    assert committed == [b"from the new instance"]
    with pytest.raises(ck.KafkaException) as raised:
        first.commit_transaction(TIMEOUT_S)
    assert kafka_error(raised.value).fatal()


NODE_DIR = Path(__file__).parent / "node"


def test_kafkajs_transactions_v1_commit_and_abort(broker):
    """kafkajs speaks the old protocol (EndTxn below v5, explicit AddPartitionsToTxn)."""
    node = shutil.which("node")
    assert node, "node is not installed (scripts/install-deps installs it)"
    assert (NODE_DIR / "node_modules" / "kafkajs").is_dir(), \
        "kafkajs is not installed in tests/compat/node (scripts/install-deps runs npm ci there)"
    create_topic(broker.bootstrap, "txn-kafkajs", partitions=1)
    proc = subprocess.run([node, str(NODE_DIR / "txn_producer.js"), broker.bootstrap, "txn-kafkajs", "kjs"],
                          capture_output=True, timeout=120, text=True)
    assert proc.returncode == 0, f"kafkajs failed: {proc.stdout}\n{proc.stderr}"
    committed = values(consume(broker.bootstrap, "txn-kafkajs", 0, isolation_level="read_committed"))
    assert committed == [b"c0", b"c1", b"c2", b"c3", b"c4", b"c5"]


def test_a_stalled_transaction_is_aborted_after_its_timeout(broker_factory):
    """The coordinator aborts (with an epoch bump) a transaction open longer than its
    transaction.timeout.ms; the last stable offset moves past it and read_committed consumers
    see what came after, but never its records."""
    broker = broker_factory({"transaction.abort.timed.out.transaction.cleanup.interval.ms": "200"})
    create_topic(broker.bootstrap, "txn-stalled", partitions=1)
    stalled = producer(broker.bootstrap, transactional_id="stalled", transaction_timeout_ms=2000,
                       message_timeout_ms=2000)
    stalled.init_transactions(TIMEOUT_S)
    stalled.begin_transaction()
    stalled.produce("txn-stalled", value=b"never committed", partition=0)
    assert stalled.flush(TIMEOUT_S) == 0
    plain = producer(broker.bootstrap)
    plain.produce("txn-stalled", value=b"after", partition=0)
    assert plain.flush(TIMEOUT_S) == 0

    committed = values(consume(broker.bootstrap, "txn-stalled", 0, count=1, timeout_s=20,
                               isolation_level="read_committed"))
    assert committed == [b"after"]
    with pytest.raises(ck.KafkaException):
        stalled.commit_transaction(TIMEOUT_S)
