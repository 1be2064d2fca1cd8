"""Group configurations (KIP-848, Kafka 4.0) through confluent-kafka's AdminClient and a
group.protocol=consumer consumer.

Kafka's rules: the GROUP config resource takes consumer.session.timeout.ms,
consumer.heartbeat.interval.ms and the share-group keys, each validated against the broker's
group.consumer.* / group.share.* bounds (INVALID_CONFIG with Kafka's message otherwise); a set key
is described as GROUP_CONFIG, an unset one with the broker's value; the values are metadata
records, so they survive a restart; and the coordinator gives the group's members its own
heartbeat interval in every ConsumerGroupHeartbeat response.
"""

from __future__ import annotations

import logging
import time

import confluent_kafka as ck
import pytest
from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource, ConfigSource, ResourceType

import kafka_wire as kw
from clients import CLIENT_TIMEOUT_S, admin, create_topic, kafka_error, unique
from test_kip848_groups import HEARTBEAT_INTERVAL_MS, kip848_broker, kip848_config  # noqa: F401 (fixture)

API_CONSUMER_GROUP_HEARTBEAT = 68


def alter_group(bootstrap: str, group: str, key: str, value: str | None,
                op: AlterConfigOpType = AlterConfigOpType.SET):
    resource = ConfigResource(ResourceType.GROUP, group,
                              incremental_configs=[ConfigEntry(key, value, incremental_operation=op)])
    client = admin(bootstrap)
    [future] = client.incremental_alter_configs([resource], request_timeout=CLIENT_TIMEOUT_S).values()
    return future.result(timeout=CLIENT_TIMEOUT_S)


def describe_group(bootstrap: str, group: str) -> dict:
    client = admin(bootstrap)
    [future] = client.describe_configs([ConfigResource(ResourceType.GROUP, group)],
                                                 request_timeout=CLIENT_TIMEOUT_S).values()
    return future.result(timeout=CLIENT_TIMEOUT_S)


def value_and_source(configs: dict, name: str) -> tuple[str | None, str]:
    return configs[name].value, ConfigSource(configs[name].source).name


def wire_heartbeat_interval(broker, group: str, topic: str) -> int:
    """A new member's ConsumerGroupHeartbeat v0 (flexible) on the wire: its heartbeat_interval_ms."""
    with kw.connect(broker.host, broker.port) as conn:
        deadline = time.monotonic() + 30
        while kw.find_coordinator_v1(conn, group).error_code != 0:
            assert time.monotonic() < deadline, "no coordinator"
            time.sleep(0.2)
        body = (kw.compact_string(group) + kw.compact_string("") + kw.i32(0)
                + kw.uvarint(0)  # instance_id null
                + kw.uvarint(0)  # rack_id null
                + kw.i32(30000)
                + kw.uvarint(2) + kw.compact_string(topic)  # subscribed_topic_names
                + kw.uvarint(0)  # server_assignor null
                + kw.uvarint(1)  # topic_partitions: empty
                + kw.uvarint(0))  # tagged fields
        while True:
            r = kw.Reader(conn.request(API_CONSUMER_GROUP_HEARTBEAT, 0, body, flexible_header=True))
            assert r.take(1) == b"\x00"  # response header tagged fields
            r.i32()  # throttle
            error = r.i16()
            if error == 0:
                message_len = r.take(1)[0]  # compact nullable error message: null
                assert message_len == 0
                member_len = r.take(1)[0] - 1
                r.take(member_len)
                r.i32()  # member epoch
                return r.i32()
            assert error in (14, 15), f"ConsumerGroupHeartbeat error {error}"  # loading / not available
            assert time.monotonic() < deadline
            time.sleep(0.2)


def test_group_configs_are_validated_described_and_kept(kip848_broker):
    b = kip848_broker
    group = unique("cfg")
    before = describe_group(b.bootstrap, group)
    assert set(before) == {"consumer.session.timeout.ms", "consumer.heartbeat.interval.ms",
                           "share.session.timeout.ms", "share.heartbeat.interval.ms",
                           "share.record.lock.duration.ms"}
    assert value_and_source(before, "consumer.heartbeat.interval.ms") == (str(HEARTBEAT_INTERVAL_MS), "DEFAULT_CONFIG")
    # The fixture's broker lowers the heartbeat interval to 500 ms but keeps Kafka's bounds
    # (5000..15000), as Kafka checks a group's values against them.
    alter_group(b.bootstrap, group, "consumer.heartbeat.interval.ms", "6000")
    alter_group(b.bootstrap, group, "consumer.session.timeout.ms", "50000")
    after = describe_group(b.bootstrap, group)
    assert value_and_source(after, "consumer.heartbeat.interval.ms") == ("6000", "GROUP_CONFIG")
    assert value_and_source(after, "consumer.session.timeout.ms") == ("50000", "GROUP_CONFIG")
    b.restart()
    kept = describe_group(b.bootstrap, group)
    assert value_and_source(kept, "consumer.heartbeat.interval.ms") == ("6000", "GROUP_CONFIG")
    alter_group(b.bootstrap, group, "consumer.session.timeout.ms", None, AlterConfigOpType.DELETE)
    assert value_and_source(describe_group(b.bootstrap, group), "consumer.session.timeout.ms")[1] == "DEFAULT_CONFIG"


@pytest.mark.parametrize("key,value,message", [
    ("consumer.heartbeat.interval.ms", "16000",
     "consumer.heartbeat.interval.ms must be less than or equal to group.consumer.max.heartbeat.interval.ms"),
    ("consumer.session.timeout.ms", "1000",
     "consumer.session.timeout.ms must be greater than or equal to group.consumer.min.session.timeout.ms"),
    ("session.timeout.ms", "45000", "Unknown group config name: session.timeout.ms"),
])
def test_values_outside_the_brokers_bounds_are_invalid_config(broker, key, value, message):
    group = unique("bad")
    with pytest.raises(ck.KafkaException) as e:
        alter_group(broker.bootstrap, group, key, value)
    err = kafka_error(e.value)
    assert err.code() == ck.KafkaError.INVALID_CONFIG
    assert message in err.str()
    if key != "session.timeout.ms":
        assert describe_group(broker.bootstrap, group)[key].source != ConfigSource.GROUP_CONFIG.value


def heartbeats_sent(bootstrap: str, group: str, topic: str, seconds: float) -> int:
    """Runs a group.protocol=consumer consumer for `seconds` once it has joined and counts the
    ConsumerGroupHeartbeat requests librdkafka logs sending in that time."""
    records: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record):
            records.append(record.getMessage())

    logger = logging.getLogger(f"rdkafka-{group}")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    logger.addHandler(Collect())
    c = ck.Consumer(kip848_config(bootstrap, group, debug="protocol"), logger=logger)
    try:
        c.subscribe([topic])
        deadline = time.monotonic() + 30
        while not c.assignment():
            assert time.monotonic() < deadline, "never assigned"
            c.poll(0.1)
        records.clear()
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            c.poll(0.1)
        return sum("Sent ConsumerGroupHeartbeatRequest" in line for line in records)
    finally:
        c.close()


def test_a_kip848_consumer_heartbeats_at_its_groups_interval(kip848_broker):
    b = kip848_broker
    topic = unique("hb")
    create_topic(b.bootstrap, topic, partitions=2)
    tuned, plain = unique("tuned"), unique("plain")
    alter_group(b.bootstrap, tuned, "consumer.heartbeat.interval.ms", "5000")
    # On the wire, a new member of each group (groups of their own: these members never leave).
    alter_group(b.bootstrap, tuned + "-wire", "consumer.heartbeat.interval.ms", "5000")
    assert wire_heartbeat_interval(b, tuned + "-wire", topic) == 5000
    assert wire_heartbeat_interval(b, plain + "-wire", topic) == HEARTBEAT_INTERVAL_MS
    # 6 s: the broker's 500 ms interval gives about 12 heartbeats, the group's 5 s one at most 2.
    assert heartbeats_sent(b.bootstrap, tuned, topic, 6.0) <= 3
    assert heartbeats_sent(b.bootstrap, plain, topic, 6.0) >= 6
