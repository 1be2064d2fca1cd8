"""TLS leftovers of issue #12: the inter-broker TLS client is rebuilt when the inter-broker
listener's stores are reloaded (AlterConfigs), so replication keeps working after every broker
moved to certificates of a new CA; and a revoked client certificate (a CRL in the trust store)
is refused with a clear line on the broker while other clients are unaffected.

Certificates are made with `openssl` (test_tls.py's helpers).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, NewTopic

from clients import unique, wait_for
from cluster import Cluster
from test_tls import make_ca, make_cert, pki  # noqa: F401  (pki is a fixture)


def alter_stores(bootstrap: str, node_id: int, stores: dict[str, str]) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    resource = ConfigResource("BROKER", str(node_id), incremental_configs=[
        ConfigEntry(k, v, incremental_operation=AlterConfigOpType.SET) for k, v in stores.items()])
    for f in admin.incremental_alter_configs([resource]).values():
        f.result(timeout=30)


@pytest.mark.timeout(300)
def test_replication_keeps_working_after_the_inter_broker_certificates_move_to_a_new_ca(
        strom_bin, tmp_path, pki, request):
    from conftest import BROKERS_KEY
    make_ca(pki, "ca2", "Strom Second CA")
    make_cert(pki, "broker-ca2", "/O=strom/CN=broker-ca2", "ca2", server=True)
    c = Cluster(strom_bin, tmp_path / "cluster", 3, {
        "inter.broker.listener.name": "INTERNAL",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,INTERNAL:SSL",
        "listener.name.internal.ssl.keystore.type": "PEM",
        "listener.name.internal.ssl.keystore.location": str(pki / "broker.pem"),
        "listener.name.internal.ssl.truststore.type": "PEM",
        "listener.name.internal.ssl.truststore.location": str(pki / "ca.pem"),
        "listener.name.internal.ssl.client.auth": "required",
        "replica.lag.time.max.ms": "10000",
    }, extra_listeners=("INTERNAL",))
    request.node.stash[BROKERS_KEY] = list(c.nodes.values())
    try:
        c.start_formatted()
        topic = unique("rotate")
        admin = AdminClient({"bootstrap.servers": c.nodes[2].bootstrap})
        for f in admin.create_topics([NewTopic(topic, num_partitions=1, replica_assignment=[[1, 2, 3]],
                                               config={"min.insync.replicas": "2"})]).values():
            f.result(timeout=30)

        def produce(prefix: str, n: int) -> list:
            p = Producer({"bootstrap.servers": f"{c.nodes[2].bootstrap},{c.nodes[3].bootstrap}",
                          "acks": "all", "compression.type": "none", "message.timeout.ms": 40000})
            errors: list = []
            for i in range(n):
                p.produce(topic, f"{prefix}-{i:03d}".encode(), partition=0,
                          on_delivery=lambda err, msg: errors.append(err))
            p.flush(60)
            return errors

        assert produce("before", 20) == [None] * 20

        # Every broker moves to a certificate of the second CA and trusts only that CA.
        for i in (1, 2, 3):
            alter_stores(c.nodes[i].bootstrap, i, {
                "listener.name.internal.ssl.keystore.location": str(pki / "broker-ca2.pem"),
                "listener.name.internal.ssl.truststore.location": str(pki / "ca2.pem"),
            })
        logs = "".join(n.log_text() for n in c.nodes.values())
        assert logs.count("inter-broker TLS client reloaded") >= 3, logs[-3000:]

        # The leader dies: the two others open new connections to each other, with the new
        # certificates on both sides. Without the reloaded client, the new leader's follower
        # could not fetch (it would trust only the first CA), and acks=all would fail.
        c.nodes[1].kill9()
        errors = produce("after", 20)
        assert errors == [None] * 20, [e.str() if e else None for e in errors][:3]
        wanted = [f"after-{i:03d}".encode() for i in range(20)]
        wait_for(lambda: all(all(v in c.nodes[i].segment_bytes(topic) for v in wanted) for i in (2, 3)), 30,
                 what="the records produced after the rotation on both live replicas")
    finally:
        c.cleanup()


CA_CONFIG = """[ ca ]
default_ca = CA_default
[ CA_default ]
database = index.txt
crlnumber = crlnumber
default_md = sha256
default_crl_days = 2
private_key = ca.key
certificate = ca.pem
"""


def test_a_revoked_client_certificate_is_refused_and_other_clients_are_not(strom_bin, tmp_path, request):
    from conftest import BROKERS_KEY
    from test_tls import TlsBroker, ck_fails, ck_roundtrip, ck_ssl, create_topic, openssl
    d = tmp_path / "pki"
    d.mkdir()
    make_ca(d, "ca", "Strom CRL Test CA")
    make_cert(d, "broker", "/O=strom/CN=broker", "ca", server=True)
    make_cert(d, "alice", "/O=strom/CN=alice", "ca", server=False)
    make_cert(d, "eve", "/O=strom/CN=eve", "ca", server=False)
    (d / "ca.cnf").write_text(CA_CONFIG)
    (d / "index.txt").write_text("")
    (d / "crlnumber").write_text("01\n")
    openssl("ca", "-config", "ca.cnf", "-revoke", "eve.crt", cwd=d)
    openssl("ca", "-config", "ca.cnf", "-gencrl", "-out", "ca.crl", cwd=d)
    trust = d / "trust.pem"
    trust.write_text((d / "ca.pem").read_text() + (d / "ca.crl").read_text())
    assert "-----BEGIN X509 CRL-----" in trust.read_text()

    b = TlsBroker(strom_bin, tmp_path / "broker", d, {
        "listener.name.ssl.ssl.truststore.location": str(trust),
        "listener.name.ssl.ssl.client.auth": "required",
    })
    request.node.stash[BROKERS_KEY] = [b]
    try:
        b.start()
        topic = unique("crl")
        create_topic(b.bootstrap, topic)
        # eve's certificate is revoked: refused, and the broker says so.
        ck_fails(b.ssl_bootstrap, ck_ssl(d, "eve"))
        wait_for(lambda: "the client certificate is revoked" in b.log_path.read_text(), 20,
                 what="the broker to log the revoked certificate")
        # alice, of the same CA, is unaffected.
        assert ck_roundtrip(b.ssl_bootstrap, ck_ssl(d, "alice"), topic, 5)[-5:] == [f"ck-{i}" for i in range(5)]
        # Without the CRL (the trust store reloaded by AlterConfigs), eve is admitted again.
        trust.write_text((d / "ca.pem").read_text())
        alter_stores(b.bootstrap, 1, {"listener.name.ssl.ssl.truststore.location": str(trust)})
        assert len(ck_roundtrip(b.ssl_bootstrap, ck_ssl(d, "eve"), topic, 1)) >= 1
    finally:
        b.cleanup()
