"""The transaction coordinator seen by librdkafka (confluent-kafka): FindCoordinator for a
transactional id, InitProducerId, fencing of an older instance and the transaction timeout limit.

Kafka's contract: init_transactions() gets a producer id and epoch from the coordinator of the
transactional id (the leader of its `__transaction_state` partition, created on first use); a
second instance with the same transactional.id gets the same producer id at a higher epoch, and
the first is fenced: its next request to the coordinator (AddPartitionsToTxn, sent before its
first produce to a partition) fails with PRODUCER_FENCED, a fatal error. A transaction.timeout.ms
above the broker's transaction.max.timeout.ms is refused with INVALID_TRANSACTION_TIMEOUT.
"""

from __future__ import annotations

import confluent_kafka as ck
import pytest

from clients import create_topic, kafka_error, producer

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
