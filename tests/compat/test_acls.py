"""ACLs and the built-in authorizer (authorizer.class.name=...StandardAuthorizer), with real clients.

Every client here is `User:ANONYMOUS` (no SASL yet), so the tests tell principals apart by host:
ACLs for host 127.0.0.1 (where confluent-kafka connects from) and raw-protocol connections bound to
127.0.0.2. The principal is a parameter of each ACL, so the same tests can run over SASL users.

Expected outcomes are Kafka's: SECURITY_DISABLED (54) without an authorizer,
TOPIC_AUTHORIZATION_FAILED (29), CLUSTER_AUTHORIZATION_FAILED (31), INVALID_REQUEST (42) for an ACL
that cannot be stored, and Metadata auto-creation only with CREATE.
"""

from __future__ import annotations

import socket

import confluent_kafka as ck
import pytest
from confluent_kafka.admin import (
    AclBinding, AclBindingFilter, AclOperation, AclPermissionType, ResourcePatternType, ResourceType,
)

import kafka_wire as kw
from clients import CLIENT_TIMEOUT_S, admin, create_topic, produce_all, producer, topic_names

STANDARD = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
PRINCIPAL = "User:ANONYMOUS"
OTHER_HOST = "127.0.0.2"


def authorized_broker(broker_factory, **extra):
    return broker_factory({"authorizer.class.name": STANDARD, **extra})


def connect_from(broker, source: str) -> kw.Connection:
    sock = socket.create_connection((broker.host, broker.port), timeout=10.0, source_address=(source, 0))
    return kw.Connection(sock)


def create_acls(a, bindings):
    for binding, fut in a.create_acls(bindings, request_timeout=CLIENT_TIMEOUT_S).items():
        fut.result(timeout=CLIENT_TIMEOUT_S)


def describe(a, flt):
    return a.describe_acls(flt, request_timeout=CLIENT_TIMEOUT_S).result(timeout=CLIENT_TIMEOUT_S)


ANY_FILTER = AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY, None, None,
                              AclOperation.ANY, AclPermissionType.ANY)


def test_acl_apis_answer_security_disabled_without_an_authorizer(broker):
    a = admin(broker.bootstrap)
    binding = AclBinding(ResourceType.TOPIC, "t", ResourcePatternType.LITERAL, PRINCIPAL, "*",
                         AclOperation.READ, AclPermissionType.ALLOW)
    fut = a.create_acls([binding], request_timeout=CLIENT_TIMEOUT_S)[binding]
    with pytest.raises(ck.KafkaException) as e:
        fut.result(timeout=CLIENT_TIMEOUT_S)
    assert e.value.args[0].code() == ck.KafkaError.SECURITY_DISABLED


def test_create_describe_delete_acls_with_confluent_admin_and_they_survive_a_restart(broker_factory):
    broker = authorized_broker(broker_factory, **{"allow.everyone.if.no.acl.found": "true"})
    a = admin(broker.bootstrap)
    bindings = [
        AclBinding(ResourceType.BROKER, "kafka-cluster", ResourcePatternType.LITERAL, PRINCIPAL, "127.0.0.1",
                   AclOperation.ALL, AclPermissionType.ALLOW),
        AclBinding(ResourceType.TOPIC, "orders-", ResourcePatternType.PREFIXED, PRINCIPAL, "*",
                   AclOperation.WRITE, AclPermissionType.ALLOW),
        AclBinding(ResourceType.GROUP, "*", ResourcePatternType.LITERAL, "User:*", "10.0.0.0/8",
                   AclOperation.READ, AclPermissionType.DENY),
    ]
    create_acls(a, bindings)
    got = describe(a, ANY_FILTER)
    assert sorted(map(str, got)) == sorted(map(str, bindings))
    # MATCH finds the PREFIXED ACL for a topic it covers; LITERAL does not.
    match = AclBindingFilter(ResourceType.TOPIC, "orders-eu", ResourcePatternType.MATCH, None, None,
                             AclOperation.ANY, AclPermissionType.ANY)
    assert [str(b) for b in describe(a, match)] == [str(bindings[1])]
    literal = AclBindingFilter(ResourceType.TOPIC, "orders-eu", ResourcePatternType.LITERAL, None, None,
                               AclOperation.ANY, AclPermissionType.ANY)
    assert describe(a, literal) == []

    broker.restart()
    a = admin(broker.bootstrap)
    assert sorted(map(str, describe(a, ANY_FILTER))) == sorted(map(str, bindings))

    group_filter = AclBindingFilter(ResourceType.GROUP, None, ResourcePatternType.ANY, None, None,
                                    AclOperation.ANY, AclPermissionType.ANY)
    deleted = a.delete_acls([group_filter], request_timeout=CLIENT_TIMEOUT_S)[group_filter].result(
        timeout=CLIENT_TIMEOUT_S)
    assert [str(b) for b in deleted] == [str(bindings[2])]
    assert sorted(map(str, describe(a, ANY_FILTER))) == sorted(map(str, bindings[:2]))


def test_an_acl_that_cannot_be_stored_is_invalid_request(broker_factory):
    broker = authorized_broker(broker_factory, **{"allow.everyone.if.no.acl.found": "true"})
    a = admin(broker.bootstrap)
    bad = AclBinding(ResourceType.BROKER, "not-the-cluster", ResourcePatternType.LITERAL, PRINCIPAL, "*",
                     AclOperation.ALTER, AclPermissionType.ALLOW)
    with pytest.raises(ck.KafkaException) as e:
        create_acls(a, [bad])
    assert e.value.args[0].code() == ck.KafkaError.INVALID_REQUEST
    assert describe(a, ANY_FILTER) == []


def test_without_acls_only_super_users_pass(broker_factory):
    broker = authorized_broker(broker_factory)
    a = admin(broker.bootstrap)
    binding = AclBinding(ResourceType.TOPIC, "t", ResourcePatternType.LITERAL, PRINCIPAL, "*",
                         AclOperation.READ, AclPermissionType.ALLOW)
    with pytest.raises(ck.KafkaException) as e:
        create_acls(a, [binding])
    assert e.value.args[0].code() == ck.KafkaError.CLUSTER_AUTHORIZATION_FAILED
    with kw.connect(broker.host, broker.port) as conn:
        md = conn.metadata_v4(["auto-denied"], allow_auto_topic_creation=True)
    assert md.topics["auto-denied"].error_code == 29  # TOPIC_AUTHORIZATION_FAILED
    broker.stop()
    broker.overrides["super.users"] = f"User:admin;{PRINCIPAL}"
    broker.start()
    create_acls(admin(broker.bootstrap), [binding])
    assert [str(b) for b in describe(admin(broker.bootstrap), ANY_FILTER)] == [str(binding)]
    assert "auto-denied" not in topic_names(broker.bootstrap)


def test_produce_and_auto_creation_follow_the_acls_per_host(broker_factory):
    broker = authorized_broker(broker_factory, **{"allow.everyone.if.no.acl.found": "true"})
    a = admin(broker.bootstrap)
    create_acls(a, [
        # 127.0.0.1 keeps every cluster right (creating ACLs and topics); 127.0.0.2 has none.
        AclBinding(ResourceType.BROKER, "kafka-cluster", ResourcePatternType.LITERAL, PRINCIPAL, "127.0.0.1",
                   AclOperation.ALL, AclPermissionType.ALLOW),
        AclBinding(ResourceType.TOPIC, "*", ResourcePatternType.LITERAL, PRINCIPAL, "127.0.0.1",
                   AclOperation.ALL, AclPermissionType.ALLOW),
        AclBinding(ResourceType.TOPIC, "*", ResourcePatternType.LITERAL, "User:*", OTHER_HOST,
                   AclOperation.CREATE, AclPermissionType.DENY),
        AclBinding(ResourceType.TOPIC, "secret", ResourcePatternType.LITERAL, "User:*", "*",
                   AclOperation.WRITE, AclPermissionType.DENY),
    ])
    create_topic(broker.bootstrap, "secret")
    create_topic(broker.bootstrap, "open")

    p = producer(broker.bootstrap, **{"message.timeout.ms": 10000})
    denied = produce_all(p, "secret", [{"value": b"x"}])
    assert denied[0].error is not None and denied[0].error.code() == ck.KafkaError.TOPIC_AUTHORIZATION_FAILED
    allowed = produce_all(p, "open", [{"value": b"y"}])
    assert allowed[0].error is None and allowed[0].offset == 0

    # The known peer bug: auto-creation through Metadata must need CREATE.
    with connect_from(broker, OTHER_HOST) as conn:
        md = conn.metadata_v4(["auto-from-other"], allow_auto_topic_creation=True)
        assert md.topics["auto-from-other"].error_code == 29
        # Every topic has ACLs now, none for this host: a listing shows nothing.
        assert set(conn.metadata_v4(None, False).topics) == set()
    assert "auto-from-other" not in topic_names(broker.bootstrap)
    with kw.connect(broker.host, broker.port) as conn:
        md = conn.metadata_v4(["auto-from-local"], allow_auto_topic_creation=True)
        assert md.topics["auto-from-local"].error_code in (0, 5)  # created (LEADER_NOT_AVAILABLE at first)
    assert "auto-from-local" in topic_names(broker.bootstrap)

    secret_write = AclBindingFilter(ResourceType.TOPIC, "secret", ResourcePatternType.LITERAL, None, None,
                                    AclOperation.WRITE, AclPermissionType.DENY)
    a.delete_acls([secret_write], request_timeout=CLIENT_TIMEOUT_S)[secret_write].result(timeout=CLIENT_TIMEOUT_S)
    again = produce_all(producer(broker.bootstrap), "secret", [{"value": b"z"}])
    assert again[0].error is None and again[0].offset == 0, "the denied record was never appended"


def test_metadata_hides_topics_without_describe(broker_factory):
    broker = authorized_broker(broker_factory, **{"super.users": "User:nobody"})
    # Super user for setup through the host: 127.0.0.1 is allowed all by an ACL made while the broker
    # let everyone in (allow.everyone), then that fallback is switched off.
    broker.stop()
    broker.overrides["allow.everyone.if.no.acl.found"] = "true"
    broker.start()
    a = admin(broker.bootstrap)
    create_acls(a, [
        AclBinding(ResourceType.BROKER, "kafka-cluster", ResourcePatternType.LITERAL, PRINCIPAL, "127.0.0.1",
                   AclOperation.ALL, AclPermissionType.ALLOW),
        AclBinding(ResourceType.TOPIC, "*", ResourcePatternType.LITERAL, PRINCIPAL, "127.0.0.1",
                   AclOperation.ALL, AclPermissionType.ALLOW),
        AclBinding(ResourceType.TOPIC, "pub-", ResourcePatternType.PREFIXED, PRINCIPAL, OTHER_HOST,
                   AclOperation.READ, AclPermissionType.ALLOW),
    ])
    create_topic(broker.bootstrap, "pub-a")
    create_topic(broker.bootstrap, "private")
    broker.stop()
    broker.overrides["allow.everyone.if.no.acl.found"] = "false"
    broker.start()
    with connect_from(broker, OTHER_HOST) as conn:
        listed = conn.metadata_v4(None, False).topics
        assert set(listed) == {"pub-a"}, "READ implies DESCRIBE; the other topic is hidden"
        named = conn.metadata_v4(["private", "pub-a"], False).topics
        assert named["private"].error_code == 29
        assert named["pub-a"].error_code == 0
    with kw.connect(broker.host, broker.port) as conn:
        assert {"pub-a", "private"} <= set(conn.metadata_v4(None, False).topics)


def test_strom_acls_cli_adds_lists_and_removes_as_kafka_acls(broker_factory):
    """`strom acls` against the authorizer: ACLs added with kafka-acls.sh's options are what
    confluent-kafka's AdminClient describes, list filters by resource and principal, --output json
    is exact, and remove takes exactly what it names."""
    import json
    import subprocess

    broker = authorized_broker(broker_factory, **{"super.users": PRINCIPAL})

    def strom(*args: str, ok: bool = True) -> subprocess.CompletedProcess:
        out = subprocess.run([str(broker.binary), "acls", *args, "--bootstrap-server", broker.bootstrap],
                             capture_output=True, text=True, timeout=60)
        if ok:
            assert out.returncode == 0, f"strom acls {' '.join(args)}: {out.stderr}"
        return out

    strom("add", "--allow-principal", "User:alice", "--operation", "Read", "--operation", "Describe",
          "--topic", "orders-", "--resource-pattern-type", "prefixed")
    strom("add", "--deny-principal", "User:mallory", "--deny-host", "10.0.0.0/8", "--topic", "orders")
    strom("add", "--allow-principal", "User:app", "--consumer", "--topic", "billing", "--group", "billers")
    got = {str(b) for b in describe(admin(broker.bootstrap), ANY_FILTER)}
    want = {str(b) for b in [
        AclBinding(ResourceType.TOPIC, "orders-", ResourcePatternType.PREFIXED, "User:alice", "*",
                   AclOperation.READ, AclPermissionType.ALLOW),
        AclBinding(ResourceType.TOPIC, "orders-", ResourcePatternType.PREFIXED, "User:alice", "*",
                   AclOperation.DESCRIBE, AclPermissionType.ALLOW),
        AclBinding(ResourceType.TOPIC, "orders", ResourcePatternType.LITERAL, "User:mallory", "10.0.0.0/8",
                   AclOperation.ALL, AclPermissionType.DENY),
        AclBinding(ResourceType.TOPIC, "billing", ResourcePatternType.LITERAL, "User:app", "*",
                   AclOperation.READ, AclPermissionType.ALLOW),
        AclBinding(ResourceType.TOPIC, "billing", ResourcePatternType.LITERAL, "User:app", "*",
                   AclOperation.DESCRIBE, AclPermissionType.ALLOW),
        AclBinding(ResourceType.GROUP, "billers", ResourcePatternType.LITERAL, "User:app", "*",
                   AclOperation.READ, AclPermissionType.ALLOW),
    ]}
    assert got == want

    listed = json.loads(strom("list", "--topic", "billing", "--output", "json").stdout)
    assert sorted((a["operation"], a["principal"]) for a in listed) == \
        [("DESCRIBE", "User:app"), ("READ", "User:app")]
    assert all(a["resource_type"] == "TOPIC" and a["pattern_type"] == "LITERAL" for a in listed)
    by_alice = json.loads(strom("list", "--principal", "User:alice", "--output", "json").stdout)
    assert {(a["resource_name"], a["operation"]) for a in by_alice} == {("orders-", "READ"), ("orders-", "DESCRIBE")}
    table = strom("list").stdout.splitlines()
    assert table[0].split() == ["RESOURCE-TYPE", "NAME", "PATTERN", "PRINCIPAL", "HOST", "OPERATION", "PERMISSION"]
    assert len(table) == 1 + 6

    # Remove one principal's ACL on one resource; then every ACL of another resource.
    removed = json.loads(strom("remove", "--allow-principal", "User:alice", "--operation", "Read", "--topic",
                               "orders-", "--resource-pattern-type", "prefixed", "--output", "json").stdout)
    assert [(a["resource_name"], a["operation"]) for a in removed] == [("orders-", "READ")]
    strom("remove", "--topic", "billing", "--force")
    left = {(a["resource_name"], a["operation"]) for a in json.loads(strom("list", "--output", "json").stdout)}
    assert left == {("orders-", "DESCRIBE"), ("orders", "ALL"), ("billers", "READ")}

    bad = strom("add", "--allow-principal", "alice", "--topic", "t", ok=False)
    assert bad.returncode == 1 and "TYPE:NAME" in bad.stderr


def test_strom_acls_says_what_to_do_without_an_authorizer(broker):
    import subprocess
    out = subprocess.run([str(broker.binary), "acls", "list", "--bootstrap-server", broker.bootstrap],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 1
    assert "SECURITY_DISABLED" in out.stderr and "authorizer.class.name" in out.stderr, out.stderr


def test_scram_and_quota_admin_apis_need_their_cluster_operations(broker_factory):
    """Without DESCRIBE / DESCRIBE_CONFIGS (or ALTER / ALTER_CONFIGS) on the cluster, the SCRAM and
    quota admin APIs answer CLUSTER_AUTHORIZATION_FAILED (the allowed path is test_sasl's and
    test_quotas')."""
    import subprocess
    broker = authorized_broker(broker_factory, **{"super.users": "User:admin"})

    def strom(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(broker.binary), *args, "--bootstrap-server", broker.bootstrap],
                              capture_output=True, text=True, timeout=60)

    for args in (("quotas", "describe"), ("users", "scram", "list"),
                 ("quotas", "set", "--entity-type", "clients", "--entity-name", "c1",
                  "--add-config", "producer_byte_rate=1024"),
                 ("users", "scram", "set", "--user", "alice", "--add-config",
                  "SCRAM-SHA-256=[iterations=4096,password=pw]")):
        out = strom(*args)
        assert out.returncode != 0 and "CLUSTER_AUTHORIZATION_FAILED" in out.stderr + out.stdout, (args, out)
