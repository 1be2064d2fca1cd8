"""Authorization of group membership with real clients (issue #12): a KIP-848 member
(group.protocol=consumer, librdkafka via confluent-kafka) must be allowed DESCRIBE on every topic
it subscribes to by name, as Kafka 4 checks in ConsumerGroupHeartbeat (KAFKA-18813): one denied
topic fails the heartbeat with TOPIC_AUTHORIZATION_FAILED, and the member joins nothing.
"""

from __future__ import annotations

import time

import confluent_kafka as ck
from confluent_kafka.admin import AclBinding, AclOperation, AclPermissionType, ResourcePatternType, ResourceType

from clients import CLIENT_TIMEOUT_S, admin, assert_delivered, create_topic, produce_all, producer, unique
from groups import group_listing
from test_acls import STANDARD, create_acls
from test_kip848_groups import KIP848_BROKER_OVERRIDES, kip848_config


def test_a_kip848_member_needs_describe_on_every_subscribed_topic(broker_factory):
    broker = broker_factory({"authorizer.class.name": STANDARD, "allow.everyone.if.no.acl.found": "true",
                             **KIP848_BROKER_OVERRIDES})
    create_topic(broker.bootstrap, "open")
    create_topic(broker.bootstrap, "hidden")
    assert_delivered(produce_all(producer(broker.bootstrap), "open", [{"value": b"r%d" % i} for i in range(3)]))
    a = admin(broker.bootstrap)
    create_acls(a, [AclBinding(ResourceType.TOPIC, "hidden", ResourcePatternType.LITERAL, "User:*", "*",
                               AclOperation.DESCRIBE, AclPermissionType.DENY)])

    group = unique("authz-848")
    client_errors: list[ck.KafkaError] = []
    c = ck.Consumer({**kip848_config(broker.bootstrap, group), "error_cb": client_errors.append})
    c.subscribe(["open", "hidden"])
    records, errors = [], []
    deadline = time.monotonic() + 10
    try:
        while time.monotonic() < deadline and not errors:
            for m in c.consume(num_messages=100, timeout=0.2):
                (errors if m.error() else records).append(m.error() or m.value())
            errors += [e for e in client_errors if e.code() == ck.KafkaError.TOPIC_AUTHORIZATION_FAILED]
    finally:
        c.close()
    codes = {e.code() for e in errors}
    assert ck.KafkaError.TOPIC_AUTHORIZATION_FAILED in codes, (errors, client_errors)
    assert records == [], "the member was given nothing to read"
    assert group_listing(a, group) is None, "the refused heartbeat made no group"

    ok = ck.Consumer(kip848_config(broker.bootstrap, unique("authz-848")))
    ok.subscribe(["open"])
    got = []
    deadline = time.monotonic() + CLIENT_TIMEOUT_S
    try:
        while time.monotonic() < deadline and len(got) < 3:
            for m in ok.consume(num_messages=100, timeout=0.2):
                assert m.error() is None or m.error().code() == ck.KafkaError._PARTITION_EOF, m.error()
                if m.error() is None:
                    got.append(m.value())
    finally:
        ok.close()
    assert got == [b"r0", b"r1", b"r2"]
