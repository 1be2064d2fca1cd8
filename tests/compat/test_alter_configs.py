"""AlterConfigs and IncrementalAlterConfigs on topics, through confluent-kafka and kafka-python.

Kafka's rules: IncrementalAlterConfigs changes only the named keys (SET, DELETE, APPEND and
SUBTRACT on list configs); the legacy AlterConfigs replaces every override of the resource; a bad
key or value fails the whole resource with INVALID_CONFIG (40) and changes nothing; validate_only
checks without writing. Overrides are metadata, so they survive a restart, and they act at once:
max.message.bytes lowered on a topic refuses a record that was accepted before.
"""

from __future__ import annotations

import confluent_kafka as ck
import pytest
from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource, ConfigSource, ResourceType

from clients import CLIENT_TIMEOUT_S, admin, create_topic, kafka_error, producer, unique


def describe(bootstrap: str, topic: str) -> dict:
    client = admin(bootstrap)
    [future] = client.describe_configs([ConfigResource(ResourceType.TOPIC, topic)], request_timeout=CLIENT_TIMEOUT_S).values()
    return future.result(timeout=CLIENT_TIMEOUT_S)


def incremental(bootstrap: str, topic: str, entries: list[ConfigEntry], validate_only: bool = False):
    client = admin(bootstrap)
    resource = ConfigResource(ResourceType.TOPIC, topic, incremental_configs=entries)
    [future] = client.incremental_alter_configs([resource], validate_only=validate_only,
                                                request_timeout=CLIENT_TIMEOUT_S).values()
    return future.result(timeout=CLIENT_TIMEOUT_S)


def value_and_source(configs: dict, name: str) -> tuple[str | None, str]:
    e = configs[name]
    return e.value, ConfigSource(e.source).name


def test_incremental_set_and_delete_change_only_the_named_keys(broker):
    topic = unique("inc")
    create_topic(broker.bootstrap, topic, config={"retention.ms": "3600000", "max.message.bytes": "200000"})
    incremental(broker.bootstrap, topic, [
        ConfigEntry("retention.ms", "7200000", incremental_operation=AlterConfigOpType.SET),
        ConfigEntry("max.message.bytes", None, incremental_operation=AlterConfigOpType.DELETE),
    ])
    configs = describe(broker.bootstrap, topic)
    assert value_and_source(configs, "retention.ms") == ("7200000", "DYNAMIC_TOPIC_CONFIG")
    assert value_and_source(configs, "max.message.bytes") == ("1048588", "DEFAULT_CONFIG")


def test_append_and_subtract_edit_a_list_config(broker):
    topic = unique("list")
    create_topic(broker.bootstrap, topic)
    incremental(broker.bootstrap, topic, [ConfigEntry("cleanup.policy", "compact", incremental_operation=AlterConfigOpType.APPEND)])
    assert value_and_source(describe(broker.bootstrap, topic), "cleanup.policy") == ("delete,compact", "DYNAMIC_TOPIC_CONFIG")
    incremental(broker.bootstrap, topic, [ConfigEntry("cleanup.policy", "delete", incremental_operation=AlterConfigOpType.SUBTRACT)])
    assert value_and_source(describe(broker.bootstrap, topic), "cleanup.policy") == ("compact", "DYNAMIC_TOPIC_CONFIG")


def test_append_to_a_non_list_config_is_invalid_config(broker):
    topic = unique("nolist")
    create_topic(broker.bootstrap, topic)
    with pytest.raises(ck.KafkaException) as e:
        incremental(broker.bootstrap, topic, [ConfigEntry("retention.ms", "5", incremental_operation=AlterConfigOpType.APPEND)])
    assert kafka_error(e.value).code() == ck.KafkaError.INVALID_CONFIG


@pytest.mark.parametrize("key,value", [("no.such.config", "1"), ("retention.ms", "soon"), ("cleanup.policy", "shred")])
def test_a_bad_key_or_value_fails_the_resource_and_changes_nothing(broker, key, value):
    topic = unique("bad")
    create_topic(broker.bootstrap, topic, config={"retention.ms": "3600000"})
    with pytest.raises(ck.KafkaException) as e:
        incremental(broker.bootstrap, topic, [
            ConfigEntry("segment.ms", "60000", incremental_operation=AlterConfigOpType.SET),
            ConfigEntry(key, value, incremental_operation=AlterConfigOpType.SET),
        ])
    assert kafka_error(e.value).code() == ck.KafkaError.INVALID_CONFIG
    configs = describe(broker.bootstrap, topic)
    assert value_and_source(configs, "retention.ms") == ("3600000", "DYNAMIC_TOPIC_CONFIG")
    assert value_and_source(configs, "segment.ms")[1] == "DEFAULT_CONFIG"


def test_validate_only_writes_nothing(broker):
    topic = unique("dry")
    create_topic(broker.bootstrap, topic)
    incremental(broker.bootstrap, topic, [ConfigEntry("retention.ms", "1000", incremental_operation=AlterConfigOpType.SET)],
                validate_only=True)
    assert value_and_source(describe(broker.bootstrap, topic), "retention.ms")[1] == "DEFAULT_CONFIG"


def test_an_unknown_topic_is_unknown_topic_or_partition(broker):
    with pytest.raises(ck.KafkaException) as e:
        incremental(broker.bootstrap, unique("ghost"), [ConfigEntry("retention.ms", "1", incremental_operation=AlterConfigOpType.SET)])
    assert kafka_error(e.value).code() == ck.KafkaError.UNKNOWN_TOPIC_OR_PART


def alter_cluster_default(bootstrap: str, key: str, value: str | None, op: int) -> None:
    """IncrementalAlterConfigs v0 on the wire: confluent-kafka refuses the empty broker name."""
    import kafka_wire as kw
    host, port = bootstrap.rsplit(":", 1)
    config = kw.string(key) + kw.i8(op) + kw.string(value)
    body = kw.array([kw.i8(4) + kw.string("") + kw.array([config])]) + kw.i8(0)
    with kw.connect(host, int(port)) as conn:
        resp = kw.Reader(conn.request(44, 0, body))
    resp.i32()
    [(code, message, _, _)] = resp.array(lambda r: (r.i16(), r.string(), r.i8(), r.string()))
    assert code == 0, message


def alter_broker(bootstrap: str, name: str, entries: list[ConfigEntry]):
    client = admin(bootstrap)
    resource = ConfigResource(ResourceType.BROKER, name, incremental_configs=entries)
    [future] = client.incremental_alter_configs([resource], request_timeout=CLIENT_TIMEOUT_S).values()
    return future.result(timeout=CLIENT_TIMEOUT_S)


def describe_broker(bootstrap: str, name: str) -> dict:
    client = admin(bootstrap)
    [future] = client.describe_configs([ConfigResource(ResourceType.BROKER, name)], request_timeout=CLIENT_TIMEOUT_S).values()
    return future.result(timeout=CLIENT_TIMEOUT_S)


def test_a_dynamic_broker_config_becomes_every_topics_default_and_survives_a_restart(broker):
    topic = unique("dyn")
    create_topic(broker.bootstrap, topic)
    alter_broker(broker.bootstrap, str(broker.node_id),
                 [ConfigEntry("log.retention.ms", "1234567", incremental_operation=AlterConfigOpType.SET)])
    assert value_and_source(describe_broker(broker.bootstrap, str(broker.node_id)), "log.retention.ms") == \
        ("1234567", "DYNAMIC_BROKER_CONFIG")
    assert value_and_source(describe(broker.bootstrap, topic), "retention.ms") == ("1234567", "DYNAMIC_BROKER_CONFIG")
    broker.restart()
    assert value_and_source(describe(broker.bootstrap, topic), "retention.ms") == ("1234567", "DYNAMIC_BROKER_CONFIG")


def test_the_cluster_wide_default_applies_below_a_per_broker_value(broker):
    topic = unique("dflt")
    create_topic(broker.bootstrap, topic)
    alter_cluster_default(broker.bootstrap, "log.segment.bytes", "5000000", 0)
    assert value_and_source(describe(broker.bootstrap, topic), "segment.bytes") == ("5000000", "DYNAMIC_DEFAULT_BROKER_CONFIG")
    assert value_and_source(describe_broker(broker.bootstrap, str(broker.node_id)), "log.segment.bytes") == \
        ("5000000", "DYNAMIC_DEFAULT_BROKER_CONFIG")
    alter_broker(broker.bootstrap, str(broker.node_id),
                 [ConfigEntry("log.segment.bytes", "6000000", incremental_operation=AlterConfigOpType.SET)])
    assert value_and_source(describe(broker.bootstrap, topic), "segment.bytes") == ("6000000", "DYNAMIC_BROKER_CONFIG")
    alter_broker(broker.bootstrap, str(broker.node_id),
                 [ConfigEntry("log.segment.bytes", None, incremental_operation=AlterConfigOpType.DELETE)])
    assert value_and_source(describe(broker.bootstrap, topic), "segment.bytes") == ("5000000", "DYNAMIC_DEFAULT_BROKER_CONFIG")


def test_a_dynamic_message_max_bytes_acts_on_produce_at_once(broker):
    topic = unique("mmb")
    create_topic(broker.bootstrap, topic)
    alter_cluster_default(broker.bootstrap, "message.max.bytes", "3000", 0)
    p = producer(broker.bootstrap)
    errors = []
    p.produce(topic, b"y" * 5000, on_delivery=lambda err, msg: errors.append(err))
    p.flush(30)
    assert errors and errors[0] is not None and errors[0].code() == ck.KafkaError.MSG_SIZE_TOO_LARGE, errors


@pytest.mark.parametrize("key,value,code", [
    ("log.dirs", "/elsewhere", ck.KafkaError.INVALID_REQUEST),
    ("no.such.broker.key", "1", ck.KafkaError.INVALID_CONFIG),
    ("log.retention.ms", "soon", ck.KafkaError.INVALID_REQUEST),
])
def test_read_only_unknown_or_invalid_broker_keys_are_refused(broker, key, value, code):
    with pytest.raises(ck.KafkaException) as e:
        alter_broker(broker.bootstrap, str(broker.node_id), [ConfigEntry(key, value, incremental_operation=AlterConfigOpType.SET)])
    assert kafka_error(e.value).code() == code


def test_legacy_alter_configs_replaces_every_override(broker):
    """On the wire: AlterConfigs v0 naming one key resets the topic's other overrides."""
    import kafka_wire as kw
    topic = unique("legacy")
    create_topic(broker.bootstrap, topic, config={"retention.ms": "3600000", "segment.ms": "600000"})
    host, port = broker.bootstrap.rsplit(":", 1)
    body = kw.array([kw.i8(2) + kw.string(topic) + kw.array([kw.string("max.message.bytes") + kw.string("300000")])])
    body += kw.i8(0)  # validate_only = false
    with kw.connect(host, int(port)) as conn:
        resp = kw.Reader(conn.request(33, 0, body))
    resp.i32()  # throttle_time_ms
    [(code, message, rtype, name)] = resp.array(lambda r: (r.i16(), r.string(), r.i8(), r.string()))
    assert (code, rtype, name) == (0, 2, topic), message
    configs = describe(broker.bootstrap, topic)
    assert value_and_source(configs, "max.message.bytes") == ("300000", "DYNAMIC_TOPIC_CONFIG")
    assert value_and_source(configs, "retention.ms")[1] == "DEFAULT_CONFIG"
    assert value_and_source(configs, "segment.ms")[1] == "DEFAULT_CONFIG"


def test_kafka_python_alter_configs_keeps_the_other_overrides(broker):
    """kafka-python's non-incremental path re-sends the other dynamic keys, so they stay."""
    from kafka.admin import ConfigResource as KpResource, ConfigResourceType, KafkaAdminClient
    topic = unique("kp")
    create_topic(broker.bootstrap, topic, config={"retention.ms": "3600000"})
    kp = KafkaAdminClient(bootstrap_servers=broker.bootstrap, request_timeout_ms=30000)
    try:
        kp.alter_configs([KpResource(ConfigResourceType.TOPIC, topic, configs={"max.message.bytes": "300000"})],
                         incremental=False)
    finally:
        kp.close()
    configs = describe(broker.bootstrap, topic)
    assert value_and_source(configs, "max.message.bytes") == ("300000", "DYNAMIC_TOPIC_CONFIG")
    assert value_and_source(configs, "retention.ms") == ("3600000", "DYNAMIC_TOPIC_CONFIG")


def test_overrides_survive_a_restart_and_act_at_once(broker):
    topic = unique("acts")
    create_topic(broker.bootstrap, topic)
    p = producer(broker.bootstrap)
    p.produce(topic, b"x" * 5000)
    assert p.flush(30) == 0
    incremental(broker.bootstrap, topic, [ConfigEntry("max.message.bytes", "2000", incremental_operation=AlterConfigOpType.SET)])
    errors = []
    p.produce(topic, b"y" * 5000, on_delivery=lambda err, msg: errors.append(err))
    p.flush(30)
    assert errors and errors[0] is not None and errors[0].code() == ck.KafkaError.MSG_SIZE_TOO_LARGE, errors
    broker.restart()
    assert value_and_source(describe(broker.bootstrap, topic), "max.message.bytes") == ("2000", "DYNAMIC_TOPIC_CONFIG")
