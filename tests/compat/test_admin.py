"""Metadata and topic administration: CreateTopics, CreatePartitions, DeleteTopics, auto-creation.

Expected outcomes are Kafka's: TOPIC_ALREADY_EXISTS (36), INVALID_TOPIC_EXCEPTION (17, librdkafka's
TOPIC_EXCEPTION), INVALID_PARTITIONS (37) when the count does not grow, UNKNOWN_TOPIC_OR_PARTITION (3)
for a topic that is not there, and auto-creation on a Metadata request that allows it only while
auto.create.topics.enable=true.
"""

from __future__ import annotations

import confluent_kafka as ck
import pytest
from confluent_kafka.admin import NewPartitions, NewTopic

import kafka_wire as kw
from clients import (
    CLIENT_TIMEOUT_S, admin, assert_delivered, cluster_metadata, consume, create_topic, kafka_error, kp_admin,
    kp_producer, partitions_with_leaders, produce_all, producer, topic_names, values, wait_for,
)


def test_metadata_lists_the_broker_and_the_created_topics(broker):
    create_topic(broker.bootstrap, "alpha", partitions=3)
    create_topic(broker.bootstrap, "beta", partitions=1)
    md = cluster_metadata(broker.bootstrap)
    assert [(b.id, b.host, b.port) for b in md.brokers.values()] == [(broker.node_id, broker.host, broker.port)]
    assert md.cluster_id, "Kafka always reports a cluster id"
    assert md.controller_id == broker.node_id
    assert {"alpha", "beta"} <= set(md.topics)
    alpha = md.topics["alpha"]
    assert alpha.error is None
    assert sorted(alpha.partitions) == [0, 1, 2]
    for p in alpha.partitions.values():
        assert p.leader == broker.node_id
        assert p.replicas == [broker.node_id]
        assert p.isrs == [broker.node_id]


def test_metadata_for_a_topic_through_kafka_python(broker):
    create_topic(broker.bootstrap, "gamma", partitions=2)
    client = kp_admin(broker.bootstrap)
    try:
        assert "gamma" in client.list_topics()
        [topic] = client.describe_topics(["gamma"])
        assert topic["error_code"] == 0
        assert sorted(p["partition_index"] for p in topic["partitions"]) == [0, 1]
        assert all(p["leader_id"] == broker.node_id for p in topic["partitions"])
        cluster = client.describe_cluster()
        assert [b["broker_id"] for b in cluster["brokers"]] == [broker.node_id]
        assert cluster["controller_id"] == broker.node_id
    finally:
        client.close()


def test_create_topics_with_n_partitions(broker):
    client = admin(broker.bootstrap)  # must outlive its futures
    futures = client.create_topics(
        [NewTopic("four", num_partitions=4, replication_factor=1), NewTopic("one", num_partitions=1)],
        operation_timeout=CLIENT_TIMEOUT_S)
    for f in futures.values():
        assert f.result(timeout=CLIENT_TIMEOUT_S) is None
    wait_for(lambda: partitions_with_leaders(broker.bootstrap, "four") == 4, CLIENT_TIMEOUT_S, what="4 partitions")
    assert partitions_with_leaders(broker.bootstrap, "one") == 1
    # Every new partition is usable straight away.
    p = producer(broker.bootstrap)
    reports = produce_all(p, "four", [{"value": f"p{i}".encode(), "partition": i} for i in range(4)])
    assert_delivered(reports)
    assert [(d.partition, d.offset) for d in reports] == [(i, 0) for i in range(4)]


def test_create_topics_through_kafka_python(broker):
    client = kp_admin(broker.bootstrap)
    try:
        result = client.create_topics({"kp-topic": {"num_partitions": 3, "replication_factor": 1}})
        assert [(t["name"], t["error_code"]) for t in result["topics"]] == [("kp-topic", 0)]
    finally:
        client.close()
    wait_for(lambda: partitions_with_leaders(broker.bootstrap, "kp-topic") == 3, CLIENT_TIMEOUT_S,
             what="3 partitions of kp-topic")


def test_create_with_broker_defaults_uses_num_partitions(broker_factory):
    b = broker_factory({"num.partitions": "5"})
    client = admin(b.bootstrap)  # must outlive its futures
    futures = client.create_topics([NewTopic("defaults")], operation_timeout=CLIENT_TIMEOUT_S)
    futures["defaults"].result(timeout=CLIENT_TIMEOUT_S)
    wait_for(lambda: partitions_with_leaders(b.bootstrap, "defaults") == 5, CLIENT_TIMEOUT_S,
             what="num.partitions=5 partitions")


def test_creating_an_existing_topic_fails_with_topic_already_exists(broker):
    create_topic(broker.bootstrap, "dup", partitions=2)
    client = admin(broker.bootstrap)  # must outlive its futures
    futures = client.create_topics([NewTopic("dup", num_partitions=3)],
                                                    operation_timeout=CLIENT_TIMEOUT_S)
    with pytest.raises(ck.KafkaException) as e:
        futures["dup"].result(timeout=CLIENT_TIMEOUT_S)
    assert kafka_error(e.value).code() == ck.KafkaError.TOPIC_ALREADY_EXISTS
    assert partitions_with_leaders(broker.bootstrap, "dup") == 2, "the failed create must not change the topic"

    from kafka.errors import TopicAlreadyExistsError
    client = kp_admin(broker.bootstrap)
    try:
        with pytest.raises(TopicAlreadyExistsError):
            client.create_topics({"dup": {"num_partitions": 1, "replication_factor": 1}})
    finally:
        client.close()


@pytest.mark.parametrize("name", ["bad/name", "has space", "x" * 250, "..", ".", "tab\tname", "ünïcode"])
def test_invalid_topic_names_are_rejected(broker, name):
    client = admin(broker.bootstrap)  # must outlive its futures
    futures = client.create_topics([NewTopic(name, num_partitions=1)],
                                                    operation_timeout=CLIENT_TIMEOUT_S)
    with pytest.raises(ck.KafkaException) as e:
        futures[name].result(timeout=CLIENT_TIMEOUT_S)
    assert kafka_error(e.value).code() == ck.KafkaError.TOPIC_EXCEPTION, kafka_error(e.value).str()
    assert name not in topic_names(broker.bootstrap)


def test_a_249_character_name_is_the_longest_allowed(broker):
    create_topic(broker.bootstrap, "y" * 249)
    assert "y" * 249 in topic_names(broker.bootstrap)


def test_create_partitions_increases_the_partition_count(broker):
    create_topic(broker.bootstrap, "grow", partitions=1)
    client = admin(broker.bootstrap)  # must outlive its futures
    futures = client.create_partitions([NewPartitions("grow", 4)], operation_timeout=CLIENT_TIMEOUT_S)
    assert futures["grow"].result(timeout=CLIENT_TIMEOUT_S) is None
    wait_for(lambda: partitions_with_leaders(broker.bootstrap, "grow") == 4, CLIENT_TIMEOUT_S,
             what="4 led partitions after CreatePartitions")
    p = producer(broker.bootstrap)
    assert_delivered(produce_all(p, "grow", [{"value": b"on-new-partition", "partition": 3}]))
    assert values(consume(broker.bootstrap, "grow", partition=3)) == [b"on-new-partition"]


@pytest.mark.parametrize("new_total", [2, 3], ids=["decrease", "same"])
def test_create_partitions_that_does_not_grow_fails_with_invalid_partitions(broker, new_total):
    create_topic(broker.bootstrap, "fixed", partitions=3)
    client = admin(broker.bootstrap)  # must outlive its futures
    futures = client.create_partitions([NewPartitions("fixed", new_total)],
                                                        operation_timeout=CLIENT_TIMEOUT_S)
    with pytest.raises(ck.KafkaException) as e:
        futures["fixed"].result(timeout=CLIENT_TIMEOUT_S)
    assert kafka_error(e.value).code() == ck.KafkaError.INVALID_PARTITIONS, kafka_error(e.value).str()
    assert partitions_with_leaders(broker.bootstrap, "fixed") == 3


def test_create_partitions_of_an_unknown_topic_fails(broker):
    client = admin(broker.bootstrap)  # must outlive its futures
    futures = client.create_partitions([NewPartitions("nowhere", 2)],
                                                        operation_timeout=CLIENT_TIMEOUT_S)
    with pytest.raises(ck.KafkaException) as e:
        futures["nowhere"].result(timeout=CLIENT_TIMEOUT_S)
    assert kafka_error(e.value).code() == ck.KafkaError.UNKNOWN_TOPIC_OR_PART, kafka_error(e.value).str()


def test_delete_topics_removes_the_topic_and_a_second_delete_is_unknown_topic(broker):
    create_topic(broker.bootstrap, "doomed", partitions=2)
    create_topic(broker.bootstrap, "survivor", partitions=1)
    p = producer(broker.bootstrap)
    assert_delivered(produce_all(p, "doomed", [{"value": b"x", "partition": i % 2} for i in range(10)]))
    assert_delivered(produce_all(p, "survivor", [{"value": b"kept"}]))

    client = admin(broker.bootstrap)  # must outlive its futures

    futures = client.delete_topics(["doomed"], operation_timeout=CLIENT_TIMEOUT_S)
    assert futures["doomed"].result(timeout=CLIENT_TIMEOUT_S) is None
    wait_for(lambda: "doomed" not in topic_names(broker.bootstrap), CLIENT_TIMEOUT_S, what="doomed gone from metadata")

    client = admin(broker.bootstrap)  # must outlive its futures

    futures = client.delete_topics(["doomed"], operation_timeout=CLIENT_TIMEOUT_S)
    with pytest.raises(ck.KafkaException) as e:
        futures["doomed"].result(timeout=CLIENT_TIMEOUT_S)
    assert kafka_error(e.value).code() == ck.KafkaError.UNKNOWN_TOPIC_OR_PART, kafka_error(e.value).str()

    # Metadata that names the deleted topic, without auto-creation, says it is unknown.
    with kw.connect(broker.host, broker.port) as conn:
        md = conn.metadata_v4(["doomed"], allow_auto_topic_creation=False)
    assert md.topics["doomed"].error_code == kw.ERROR_UNKNOWN_TOPIC_OR_PARTITION
    # The other topic is untouched.
    assert values(consume(broker.bootstrap, "survivor")) == [b"kept"]


def test_a_deleted_topic_can_be_created_again_empty(broker):
    create_topic(broker.bootstrap, "phoenix", partitions=1)
    assert_delivered(produce_all(producer(broker.bootstrap), "phoenix", [{"value": b"old"}] * 3))
    client = admin(broker.bootstrap)  # must outlive its futures
    client.delete_topics(["phoenix"], operation_timeout=CLIENT_TIMEOUT_S)["phoenix"].result(timeout=CLIENT_TIMEOUT_S)
    wait_for(lambda: "phoenix" not in topic_names(broker.bootstrap), CLIENT_TIMEOUT_S, what="phoenix deleted")
    create_topic(broker.bootstrap, "phoenix", partitions=1)
    reports = produce_all(producer(broker.bootstrap), "phoenix", [{"value": b"new"}])
    assert_delivered(reports)
    assert reports[0].offset == 0, "a re-created topic starts at offset 0"
    assert values(consume(broker.bootstrap, "phoenix")) == [b"new"]


def test_delete_topics_through_kafka_python(broker):
    create_topic(broker.bootstrap, "kp-doomed")
    client = kp_admin(broker.bootstrap)
    try:
        result = client.delete_topics(["kp-doomed"])
        assert [(t["name"], t["error_code"]) for t in result["topics"]] == [("kp-doomed", 0)]
        from kafka.errors import UnknownTopicOrPartitionError
        with pytest.raises(UnknownTopicOrPartitionError):
            client.delete_topics(["kp-doomed"])
    finally:
        client.close()


def test_metadata_request_auto_creates_a_topic_when_enabled(broker):
    with kw.connect(broker.host, broker.port) as conn:
        first = conn.metadata_v4(["auto-by-metadata"], allow_auto_topic_creation=True)
        # Kafka answers the creating request with LEADER_NOT_AVAILABLE or already with the topic.
        assert first.topics["auto-by-metadata"].error_code in (kw.ERROR_NONE, kw.ERROR_LEADER_NOT_AVAILABLE)

        def ready():
            md = conn.metadata_v4(["auto-by-metadata"], allow_auto_topic_creation=False)
            t = md.topics["auto-by-metadata"]
            return t.error_code == kw.ERROR_NONE and [p.leader for p in t.partitions] == [broker.node_id] and t
        topic = wait_for(ready, CLIENT_TIMEOUT_S, what="auto-created topic with a leader")
    assert len(topic.partitions) == 1, "auto-created topics get num.partitions (default 1) partitions"


def test_produce_auto_creates_a_topic_when_enabled(broker):
    reports = produce_all(producer(broker.bootstrap), "auto-by-produce", [{"value": f"{i}".encode()} for i in range(5)])
    assert_delivered(reports)
    assert [d.offset for d in reports] == [0, 1, 2, 3, 4]
    assert "auto-by-produce" in topic_names(broker.bootstrap)
    assert values(consume(broker.bootstrap, "auto-by-produce")) == [b"0", b"1", b"2", b"3", b"4"]


def test_kafka_python_producer_auto_creates_a_topic(broker):
    p = kp_producer(broker.bootstrap)
    try:
        meta = p.send("auto-by-kafka-python", value=b"hello").get(timeout=CLIENT_TIMEOUT_S)
        assert (meta.partition, meta.offset) == (0, 0)
    finally:
        p.close()


def test_no_auto_creation_when_disabled(broker_factory):
    b = broker_factory({"auto.create.topics.enable": "false"})
    with kw.connect(b.host, b.port) as conn:
        md = conn.metadata_v4(["not-created"], allow_auto_topic_creation=True)
    assert md.topics["not-created"].error_code == kw.ERROR_UNKNOWN_TOPIC_OR_PARTITION

    errors = []
    p = producer(b.bootstrap, **{"message.timeout.ms": 3000, "topic.metadata.propagation.max.ms": 1000})
    p.produce("not-created-either", value=b"lost", on_delivery=lambda err, msg: errors.append(err))
    assert p.flush(15) == 0
    assert len(errors) == 1 and errors[0] is not None, "producing to a missing topic must fail"
    assert errors[0].code() in (ck.KafkaError.UNKNOWN_TOPIC_OR_PART, ck.KafkaError._UNKNOWN_TOPIC,
                                ck.KafkaError._MSG_TIMED_OUT), errors[0].str()
    names = topic_names(b.bootstrap)
    assert "not-created" not in names and "not-created-either" not in names
