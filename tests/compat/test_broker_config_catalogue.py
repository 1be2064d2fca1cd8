"""Every key of Kafka 4's broker configuration, through confluent-kafka's AdminClient.

Kafka's rules: a key Strom does not act on is still accepted (server.properties and
--override: validated, logged once as "accepted, not used by Strom"); AlterConfigs of a
dynamic one is stored, described back as DYNAMIC_BROKER_CONFIG and survives a restart; a
read-only one is INVALID_REQUEST ("Cannot update these configs dynamically"); a per-broker one
cannot be the cluster-wide default; DescribeConfigs of a broker lists the whole catalogue, with
sensitive values hidden. librdkafka's AlterConfigs test (0081) sets
sasl.kerberos.min.time.before.relogin on a broker this way.
"""

from __future__ import annotations

import confluent_kafka as ck
import pytest
from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource, ConfigSource, ResourceType

import kafka_wire as kw
from clients import CLIENT_TIMEOUT_S, admin, kafka_error

RELOGIN = "sasl.kerberos.min.time.before.relogin"


def alter_broker(bootstrap: str, name: str, key: str, value: str | None,
                 op: AlterConfigOpType = AlterConfigOpType.SET):
    resource = ConfigResource(ResourceType.BROKER, name,
                              incremental_configs=[ConfigEntry(key, value, incremental_operation=op)])
    client = admin(bootstrap)
    [future] = client.incremental_alter_configs([resource], request_timeout=CLIENT_TIMEOUT_S).values()
    return future.result(timeout=CLIENT_TIMEOUT_S)


def describe_broker(bootstrap: str, name: str) -> dict:
    client = admin(bootstrap)
    [future] = client.describe_configs([ConfigResource(ResourceType.BROKER, name)],
                                                 request_timeout=CLIENT_TIMEOUT_S).values()
    return future.result(timeout=CLIENT_TIMEOUT_S)


def alter_cluster_default(bootstrap: str, key: str, value: str) -> tuple[int, str | None]:
    """IncrementalAlterConfigs v0 on the wire (confluent-kafka refuses the empty broker name)."""
    host, port = bootstrap.rsplit(":", 1)
    config = kw.string(key) + kw.i8(0) + kw.string(value)
    body = kw.array([kw.i8(4) + kw.string("") + kw.array([config])]) + kw.i8(0)
    with kw.connect(host, int(port)) as conn:
        resp = kw.Reader(conn.request(44, 0, body))
    resp.i32()
    [(code, message, _, _)] = resp.array(lambda r: (r.i16(), r.string(), r.i8(), r.string()))
    return code, message


def test_a_kafka_key_strom_does_not_act_on_is_set_described_and_kept(broker):
    node = str(broker.node_id)
    before = describe_broker(broker.bootstrap, node)[RELOGIN]
    assert (before.value, ConfigSource(before.source).name) == ("60000", "DEFAULT_CONFIG")
    alter_broker(broker.bootstrap, node, RELOGIN, "58000")
    after = describe_broker(broker.bootstrap, node)[RELOGIN]
    assert (after.value, ConfigSource(after.source).name, after.is_read_only) == \
        ("58000", "DYNAMIC_BROKER_CONFIG", False)
    assert "accepted, not used by Strom: " + RELOGIN in broker.log_path.read_text()
    broker.restart()
    kept = describe_broker(broker.bootstrap, node)[RELOGIN]
    assert (kept.value, ConfigSource(kept.source).name) == ("58000", "DYNAMIC_BROKER_CONFIG")
    alter_broker(broker.bootstrap, node, RELOGIN, None, AlterConfigOpType.DELETE)
    gone = describe_broker(broker.bootstrap, node)[RELOGIN]
    assert (gone.value, ConfigSource(gone.source).name) == ("60000", "DEFAULT_CONFIG")


@pytest.mark.parametrize("key,value,message", [
    ("authorizer.class.name", "x", "Cannot update these configs dynamically: Set(authorizer.class.name)"),
    (RELOGIN, "soon", f"Invalid value soon for configuration {RELOGIN}: Not a number of type LONG"),
    ("ssl.keystore.location", "/k",
     "These security configs can be dynamically updated only per-listener using the listener prefix"),
])
def test_read_only_invalid_or_unprefixed_keys_are_invalid_request(broker, key, value, message):
    with pytest.raises(ck.KafkaException) as e:
        alter_broker(broker.bootstrap, str(broker.node_id), key, value)
    err = kafka_error(e.value)
    assert err.code() == ck.KafkaError.INVALID_REQUEST
    assert message in err.str()
    assert describe_broker(broker.bootstrap, str(broker.node_id))[key].value != value


def test_a_per_broker_key_cannot_be_the_cluster_wide_default(broker):
    code, message = alter_cluster_default(broker.bootstrap, RELOGIN, "58000")
    assert code == ck.KafkaError.INVALID_REQUEST
    assert message == ("Cannot update these configs at default cluster level, broker id must be specified: "
                       f"Set({RELOGIN})")
    # A cluster-wide key Strom does not act on is accepted there.
    assert alter_cluster_default(broker.bootstrap, "log.cleaner.io.buffer.size", "1048576") == (0, None)


def test_describe_lists_the_whole_catalogue_with_secrets_hidden(broker):
    configs = describe_broker(broker.bootstrap, str(broker.node_id))
    assert len(configs) > 290
    for key in ("remote.log.storage.system.enable", "sasl.enabled.mechanisms", "group.share.max.groups",
                "quota.window.num", "metric.reporters", "delegation.token.expiry.time.ms"):
        assert key in configs, key
    secret = configs["ssl.keystore.password"]
    assert secret.is_sensitive and secret.value is None
    assert configs["authorizer.class.name"].is_read_only
    assert not configs[RELOGIN].is_read_only


def test_server_properties_accepts_kafka_keys_and_logs_the_ones_strom_ignores(broker_factory):
    b = broker_factory({"sasl.kerberos.min.time.before.relogin": "61000", "num.network.threads": "4"})
    configs = describe_broker(b.bootstrap, str(b.node_id))
    assert (configs["num.network.threads"].value, ConfigSource(configs["num.network.threads"].source).name) == \
        ("4", "STATIC_BROKER_CONFIG")
    log = b.log_path.read_text()
    assert "accepted, not used by Strom: " in log
    line = next(l for l in log.splitlines() if "accepted, not used by Strom: " in l)
    assert "num.network.threads" in line and RELOGIN in line
