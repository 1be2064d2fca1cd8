"""DescribeConfigs for topics and the broker, and config validation at topic creation.

Kafka reports each config with its source: a topic's own override is DYNAMIC_TOPIC_CONFIG, a value
inherited from server.properties (or --override) is STATIC_BROKER_CONFIG, and an untouched default
is DEFAULT_CONFIG. An unknown key or a malformed value in CreateTopics is INVALID_CONFIG (40).
"""

from __future__ import annotations

import confluent_kafka as ck
import pytest
from confluent_kafka.admin import ConfigResource, ConfigSource, NewTopic, ResourceType

from clients import CLIENT_TIMEOUT_S, admin, create_topic, kafka_error, kp_admin, topic_names


def describe(bootstrap: str, restype: ResourceType, name: str) -> dict:
    resource = ConfigResource(restype, name)
    client = admin(bootstrap)  # must outlive its futures
    futures = client.describe_configs([resource], request_timeout=CLIENT_TIMEOUT_S)
    [future] = futures.values()
    return future.result(timeout=CLIENT_TIMEOUT_S)


def source(entry) -> str:
    return ConfigSource(entry.source).name


def assert_entry(configs: dict, name: str, value: str, expected_source: str) -> None:
    assert name in configs, f"{name} missing from DescribeConfigs ({len(configs)} entries)"
    e = configs[name]
    assert (e.value, source(e)) == (value, expected_source), f"{name}: {e.value!r} from {source(e)}"


def test_topic_overrides_are_dynamic_topic_config_and_the_rest_default(broker):
    create_topic(broker.bootstrap, "cfg", config={"retention.ms": "3600000", "cleanup.policy": "compact",
                                                  "max.message.bytes": "200000"})
    configs = describe(broker.bootstrap, ResourceType.TOPIC, "cfg")
    assert_entry(configs, "retention.ms", "3600000", "DYNAMIC_TOPIC_CONFIG")
    assert_entry(configs, "cleanup.policy", "compact", "DYNAMIC_TOPIC_CONFIG")
    assert_entry(configs, "max.message.bytes", "200000", "DYNAMIC_TOPIC_CONFIG")
    assert not configs["retention.ms"].is_default
    # Kafka's defaults for what the topic did not set.
    assert_entry(configs, "segment.bytes", "1073741824", "DEFAULT_CONFIG")
    assert_entry(configs, "retention.bytes", "-1", "DEFAULT_CONFIG")
    assert_entry(configs, "message.timestamp.type", "CreateTime", "DEFAULT_CONFIG")
    assert configs["segment.bytes"].is_default


def test_a_topic_without_overrides_reports_broker_level_settings_as_static_broker_config(broker_factory):
    b = broker_factory({"log.retention.ms": "7200000", "message.max.bytes": "2000000"})
    create_topic(b.bootstrap, "inherits")
    configs = describe(b.bootstrap, ResourceType.TOPIC, "inherits")
    assert_entry(configs, "retention.ms", "7200000", "STATIC_BROKER_CONFIG")
    assert_entry(configs, "max.message.bytes", "2000000", "STATIC_BROKER_CONFIG")
    assert_entry(configs, "cleanup.policy", "delete", "DEFAULT_CONFIG")


def test_describe_configs_of_the_broker(broker):
    configs = describe(broker.bootstrap, ResourceType.BROKER, str(broker.node_id))
    assert_entry(configs, "log.dirs", str(broker.data_dir), "STATIC_BROKER_CONFIG")
    assert_entry(configs, "node.id", str(broker.node_id), "STATIC_BROKER_CONFIG")
    assert_entry(configs, "num.partitions", "1", "DEFAULT_CONFIG")
    assert_entry(configs, "auto.create.topics.enable", "true", "DEFAULT_CONFIG")
    assert_entry(configs, "log.segment.bytes", "1073741824", "DEFAULT_CONFIG")


def test_describe_configs_through_kafka_python(broker):
    from kafka.admin import ConfigResource as KpConfigResource, ConfigResourceType
    create_topic(broker.bootstrap, "kp-cfg", config={"retention.ms": "123456"})
    client = kp_admin(broker.bootstrap)
    try:
        result = client.describe_configs([KpConfigResource(ConfigResourceType.TOPIC, "kp-cfg")], config_filter="all")
        configs = result["topic"]["kp-cfg"]
        assert configs["retention.ms"]["value"] == "123456"
        assert configs["retention.ms"]["config_source"] == "DYNAMIC_TOPIC_CONFIG"
        assert configs["segment.bytes"]["config_source"] == "DEFAULT_CONFIG"
        result = client.describe_configs([KpConfigResource(ConfigResourceType.BROKER, str(broker.node_id))],
                                         config_filter="all")
        assert result["broker"][str(broker.node_id)]["log.dirs"]["value"] == str(broker.data_dir)
    finally:
        client.close()


def test_describe_configs_of_an_unknown_topic_fails(broker):
    client = admin(broker.bootstrap)  # must outlive its futures
    futures = client.describe_configs([ConfigResource(ResourceType.TOPIC, "ghost")],
                                                       request_timeout=CLIENT_TIMEOUT_S)
    [future] = futures.values()
    with pytest.raises(ck.KafkaException) as e:
        future.result(timeout=CLIENT_TIMEOUT_S)
    assert kafka_error(e.value).code() == ck.KafkaError.UNKNOWN_TOPIC_OR_PART, kafka_error(e.value).str()
    assert "ghost" not in topic_names(broker.bootstrap), "DescribeConfigs must not create the topic"


@pytest.mark.parametrize("config", [
    {"retention.ms": "not-a-number"},
    {"cleanup.policy": "shred"},
    {"no.such.config": "1"},
    {"message.timestamp.type": "WallClock"},
], ids=["malformed-long", "bad-enum", "unknown-key", "bad-timestamp-type"])
def test_create_topics_with_an_invalid_config_fails_with_invalid_config(broker, config):
    client = admin(broker.bootstrap)  # must outlive its futures
    futures = client.create_topics([NewTopic("badcfg", num_partitions=1, config=config)],
                                                    operation_timeout=CLIENT_TIMEOUT_S)
    with pytest.raises(ck.KafkaException) as e:
        futures["badcfg"].result(timeout=CLIENT_TIMEOUT_S)
    assert kafka_error(e.value).code() == ck.KafkaError.INVALID_CONFIG, kafka_error(e.value).str()
    assert "badcfg" not in topic_names(broker.bootstrap)
