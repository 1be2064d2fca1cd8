"""DescribeConfigs of a broker lists its per-listener keys (listener.name.<listener>.<key>) as
Kafka's ConfigHelper lists a broker's originals: static ones (server.properties) as
STATIC_BROKER_CONFIG, dynamic ones as DYNAMIC_BROKER_CONFIG, secrets (PASSWORD keys) with a null
value and is_sensitive, every one read-only (Kafka's dynamic key list names only base keys).
Read with confluent-kafka's AdminClient.describe_configs.
"""

from __future__ import annotations

from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource, ResourceType

from clients import CLIENT_TIMEOUT_S, admin

RATE_KEY = "listener.name.plaintext.max.connection.creation.rate"
SECRET_KEY = "listener.name.plaintext.ssl.key.password"


def describe_broker(broker) -> dict:
    client = admin(broker.bootstrap)  # kept alive until the answer is in
    [future] = client.describe_configs(
        [ConfigResource(ResourceType.BROKER, str(broker.node_id))], request_timeout=CLIENT_TIMEOUT_S).values()
    return future.result(timeout=CLIENT_TIMEOUT_S)


def test_describe_configs_of_a_broker_lists_its_listener_keys(broker_factory):
    broker = broker_factory({RATE_KEY: "1000", SECRET_KEY: "hunter2"})
    configs = describe_broker(broker)
    rate = configs[RATE_KEY]
    assert (rate.value, rate.source, rate.is_read_only, rate.is_sensitive) == ("1000", 4, True, False)
    secret = configs[SECRET_KEY]
    assert (secret.value, secret.source, secret.is_sensitive) == (None, 4, True)
    assert "hunter2" not in repr([(c.name, c.value) for c in configs.values()])
    # A dynamic per-listener value of this broker: DYNAMIC_BROKER_CONFIG.
    a = admin(broker.bootstrap)
    resource = ConfigResource(ResourceType.BROKER, str(broker.node_id), incremental_configs=[
        ConfigEntry(RATE_KEY, "500", incremental_operation=AlterConfigOpType.SET)])
    [future] = a.incremental_alter_configs([resource], request_timeout=CLIENT_TIMEOUT_S).values()
    future.result(timeout=CLIENT_TIMEOUT_S)
    rate = describe_broker(broker)[RATE_KEY]
    assert (rate.value, rate.source) == ("500", 2)
    # Its synonyms: the prefixed key (dynamic, then static) and the base key's default
    # (librdkafka always asks for synonyms; confluent-kafka keys them by name).
    [future] = a.describe_configs([ConfigResource(ResourceType.BROKER, str(broker.node_id))],
                                  request_timeout=CLIENT_TIMEOUT_S).values()
    synonyms = future.result(timeout=CLIENT_TIMEOUT_S)[RATE_KEY].synonyms
    assert set(synonyms) == {RATE_KEY, "max.connection.creation.rate"}, synonyms
