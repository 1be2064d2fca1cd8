"""The controller quorum over SASL_SSL: a three-node cluster whose controller listener is SASL_SSL
with mutual TLS (PLAIN inside TLS; `sasl.mechanism.controller.protocol=PLAIN`) and whose
inter-broker listener is SASL_SSL elects a controller, takes a topic, and replicates records a
real client produces with acks=all to every replica; a controller restarted with a trust store of
another CA cannot rejoin (it learns nothing new) and both sides' logs say why.

Certificates are made with `openssl` (test_tls.py's helpers).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient

from clients import unique, wait_for
from cluster import Cluster
from test_tls import create_topic, pki  # noqa: F401  (pki is a fixture)

JAAS = ('org.apache.kafka.common.security.plain.PlainLoginModule required '
        'username="{user}" password="{password}" user_controller="controller-secret" user_broker="broker-secret";')


def secured_cluster(strom_bin: Path, workdir: Path, pki: Path) -> Cluster:
    stores = {
        "ssl.keystore.type": "PEM",
        "ssl.keystore.location": str(pki / "broker.pem"),
        "ssl.truststore.type": "PEM",
        "ssl.truststore.location": str(pki / "ca.pem"),
        "ssl.client.auth": "required",
    }
    overrides = {
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:SASL_SSL,INTERNAL:SASL_SSL",
        "inter.broker.listener.name": "INTERNAL",
        "sasl.mechanism.controller.protocol": "PLAIN",
        "sasl.mechanism.inter.broker.protocol": "PLAIN",
        "listener.name.controller.sasl.enabled.mechanisms": "PLAIN",
        "listener.name.internal.sasl.enabled.mechanisms": "PLAIN",
        "listener.name.controller.plain.sasl.jaas.config": JAAS.format(user="controller", password="controller-secret"),
        "listener.name.internal.plain.sasl.jaas.config": JAAS.format(user="broker", password="broker-secret"),
        **{f"listener.name.controller.{k}": v for k, v in stores.items()},
        **{f"listener.name.internal.{k}": v for k, v in stores.items()},
    }
    return Cluster(strom_bin, workdir, 3, overrides, extra_listeners=("INTERNAL",))


def replicate_acks_all(c: Cluster, topic: str, count: int) -> None:
    """Creates `topic` (one partition, three replicas) through node 1, produces `count`
    uncompressed records with acks=all, and checks that every replica's segments hold every
    one of them (the values appear verbatim) and that the ISR is all three."""
    bootstrap = c.nodes[1].bootstrap
    create_topic(bootstrap, topic, 1, 3)
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "compression.type": "none"})
    errors: list = []
    values = [f"{topic}-{i:03d}" for i in range(count)]
    for v in values:
        p.produce(topic, v.encode(), partition=0, on_delivery=lambda err, msg: errors.append(err))
    assert p.flush(60) == 0
    assert errors == [None] * count, errors[:3]

    def everywhere() -> bool:
        return all(all(v.encode() in c.nodes[i].segment_bytes(topic) for v in values) for i in (1, 2, 3))
    wait_for(everywhere, 30, what=f"all {count} records on all three replicas")
    md = AdminClient({"bootstrap.servers": bootstrap}).list_topics(topic, timeout=10)
    assert sorted(md.topics[topic].partitions[0].isrs) == [1, 2, 3]


@pytest.mark.timeout(300)
def test_a_cluster_whose_quorum_and_inter_broker_listeners_are_sasl_ssl_replicates_with_acks_all(
        strom_bin, tmp_path, pki, request):
    from conftest import BROKERS_KEY
    c = secured_cluster(strom_bin, tmp_path / "cluster", pki)
    request.node.stash[BROKERS_KEY] = list(c.nodes.values())
    try:
        c.start_formatted()
        bootstrap = c.nodes[1].bootstrap
        topic = unique("quorum-tls")
        replicate_acks_all(c, topic, 50)
        logs = "".join(n.log_text() for n in c.nodes.values())
        assert "quorum connections are secured as the controller listener says" in logs
        assert "quorum connection refused" not in logs, logs[-3000:]

        # Node 3 restarted trusting another CA: it cannot verify the controllers, they cannot
        # verify it; it learns no new metadata, and both sides say why.
        n3 = c.nodes[3]
        assert n3.stop() == 0
        n3.properties["listener.name.controller.ssl.truststore.location"] = str(pki / "rogue-ca.pem")
        n3.write_properties()
        before = len(c.nodes[1].log_text())
        n3.launch(c.binary)
        wait_for(lambda: "TLS handshake failed" in n3.log_text(), 30,
                 what="node 3 to log why it cannot reach the controllers")
        wait_for(lambda: "quorum connection refused" in c.nodes[1].log_text()[before:]
                 or "quorum connection refused" in c.nodes[2].log_text(), 30,
                 what="the controllers to log why they refuse node 3")
        # Node 3 is fenced (no heartbeat reaches the controller), so the new topic lives on 1 and 2.
        c.wait_listed(1, {1, 2}, timeout_s=60)
        later = unique("after-restart")
        create_topic(bootstrap, later, 1, 2)
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline:
            md3 = c.try_metadata(3, [later])
            assert md3 is None or later not in md3.topics or md3.topics[later].error_code != 0, \
                "node 3 learned metadata through a quorum it cannot authenticate to"
            time.sleep(0.5)
        text = n3.log_text()
        assert "UnknownIssuer" in text or "invalid peer certificate" in text, text[-3000:]
    finally:
        c.cleanup()
