"""TLS listeners (security.protocol=SSL) with real clients: kcat, confluent-kafka, kafka-python,
kafkajs and strom's own CLI produce and consume over server-only TLS and over mutual TLS; a
client certificate from an unknown CA is refused while others keep working; plaintext spoken to
the TLS port and TLS spoken to the plaintext port fail cleanly; a silent TLS client is closed; a
rotated server certificate is reloaded by AlterConfigs without a restart; and a 3-node cluster
whose inter-broker listener is SSL replicates with acks=all.

Certificates are made by the test with `openssl`: a CA, a broker certificate for 127.0.0.1 and
localhost, client certificates (alice, signed by the CA; mallory, signed by another CA).
"""

from __future__ import annotations

import json
import shutil
import socket
import ssl
import subprocess
import time
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, AlterConfigOpType, ConfigEntry, NewTopic

import kafka_wire
from broker_process import Broker, free_port
from clients import unique, wait_for
from cluster import Cluster

NODE_DIR = Path(__file__).resolve().parent / "node"
CLIENT_TIMEOUT_S = 60


# -- certificates ------------------------------------------------------------------------------------


def openssl(*args: str, cwd: Path) -> None:
    done = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, f"openssl {' '.join(args)}: {done.stderr}"


def make_ca(d: Path, name: str, cn: str) -> None:
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", f"{name}.key", "-out", f"{name}.pem", "-days", "2", "-subj", f"/CN={cn}", cwd=d)


def make_cert(d: Path, name: str, subject: str, ca: str, server: bool) -> None:
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", f"{name}.key",
            "-out", f"{name}.csr", "-subj", subject, cwd=d)
    ext = d / f"{name}.ext"
    ext.write_text(
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n" if server
        else "extendedKeyUsage=clientAuth\n")
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key", "-CAcreateserial",
            "-out", f"{name}.crt", "-days", "2", "-extfile", ext.name, cwd=d)
    # Kafka's PEM key store: the private key and the certificate chain in one file.
    (d / f"{name}.pem").write_text((d / f"{name}.key").read_text() + (d / f"{name}.crt").read_text())


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Path:
    assert shutil.which("openssl"), "openssl is not installed"
    d = tmp_path_factory.mktemp("pki")
    make_ca(d, "ca", "Strom Test CA")
    make_ca(d, "rogue-ca", "Rogue CA")
    make_cert(d, "broker", "/O=strom/CN=broker", "ca", server=True)
    make_cert(d, "broker-rotated", "/O=strom/CN=broker-rotated", "ca", server=True)
    make_cert(d, "alice", "/O=strom/OU=eng/CN=alice", "ca", server=False)
    make_cert(d, "mallory", "/O=evil/CN=mallory", "rogue-ca", server=False)
    # The broker's key encrypted (PBES2), for ssl.key.password.
    openssl("pkcs8", "-topk8", "-in", "broker.key", "-out", "broker-enc.key", "-v2", "aes-256-cbc",
            "-passout", "pass:s3cret", cwd=d)
    (d / "broker-enc.pem").write_text((d / "broker-enc.key").read_text() + (d / "broker.crt").read_text())
    return d


# -- a broker with a plaintext and a TLS listener -------------------------------------------------------


class TlsBroker(Broker):
    """A broker whose PLAINTEXT listener (readiness, admin) sits beside an SSL one."""

    def __init__(self, binary: Path, workdir: Path, pki: Path, overrides: dict[str, str] | None = None):
        # Connection-level debug lines name each TLS connection's principal.
        super().__init__(binary, workdir, None, {"RUST_LOG": "info,strom_broker::connection=debug"})
        self.ssl_port = free_port()
        self.ssl_bootstrap = f"127.0.0.1:{self.ssl_port}"
        self.overrides.update({
            "listeners": f"PLAINTEXT://{self.bootstrap},SSL://{self.ssl_bootstrap}",
            "listener.name.ssl.ssl.keystore.type": "PEM",
            "listener.name.ssl.ssl.keystore.location": str(pki / "broker.pem"),
            "listener.name.ssl.ssl.truststore.type": "PEM",
            "listener.name.ssl.ssl.truststore.location": str(pki / "ca.pem"),
            **(overrides or {}),
        })


@pytest.fixture
def tls_broker(strom_bin, tmp_path, pki, request):
    started: list[Broker] = []
    from conftest import BROKERS_KEY
    request.node.stash[BROKERS_KEY] = started

    def start(overrides: dict[str, str] | None = None) -> TlsBroker:
        b = TlsBroker(strom_bin, tmp_path / f"broker{len(started)}", pki, overrides)
        started.append(b)
        b.start()
        return b

    yield start
    for b in started:
        b.cleanup()


def ck_ssl(pki: Path, identity: str | None = None) -> dict[str, str]:
    conf = {"security.protocol": "SSL", "ssl.ca.location": str(pki / "ca.pem")}
    if identity:
        conf["ssl.certificate.location"] = str(pki / f"{identity}.crt")
        conf["ssl.key.location"] = str(pki / f"{identity}.key")
    return conf


def create_topic(bootstrap: str, topic: str, partitions: int = 1, rf: int = 1) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for f in admin.create_topics([NewTopic(topic, partitions, rf)]).values():
        f.result(timeout=30)


def ck_roundtrip(bootstrap: str, conf: dict[str, str], topic: str, n: int = 20) -> list[str]:
    """confluent-kafka: n records with acks=all, then read back from the beginning."""
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", **conf})
    delivered = []
    for i in range(n):
        p.produce(topic, f"ck-{i}".encode(), partition=0,
                  on_delivery=lambda err, msg: delivered.append(err))
    assert p.flush(30) == 0
    assert delivered == [None] * n, delivered
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": unique("g"), "enable.auto.commit": False, **conf})
    c.assign([TopicPartition(topic, 0, 0)])
    values: list[str] = []
    deadline = time.monotonic() + 30
    while len(values) < n and time.monotonic() < deadline:
        m = c.poll(0.5)
        if m is not None and m.error() is None:
            values.append(m.value().decode())
    c.close()
    return values


def ck_fails(bootstrap: str, conf: dict[str, str]) -> None:
    """A confluent-kafka admin client that cannot get metadata within 8 s."""
    admin = AdminClient({"bootstrap.servers": bootstrap, **conf})
    with pytest.raises(KafkaException):
        admin.list_topics(timeout=8)


# -- 1. every client over server-only TLS -----------------------------------------------------------


@pytest.mark.timeout(240)
def test_kcat_confluent_kafka_python_and_kafkajs_produce_and_consume_over_tls(tls_broker, pki):
    b = tls_broker()
    topic = unique("tls")
    create_topic(b.bootstrap, topic)

    # confluent-kafka (librdkafka): 20 records, acks=all.
    assert ck_roundtrip(b.ssl_bootstrap, ck_ssl(pki), topic) == [f"ck-{i}" for i in range(20)]

    # kcat: 3 more records, then the whole partition read back.
    kcat = ["kcat", "-b", b.ssl_bootstrap, "-X", "security.protocol=ssl", "-X", f"ssl.ca.location={pki / 'ca.pem'}"]
    done = subprocess.run([*kcat, "-P", "-t", topic, "-p", "0"], input="kcat-0\nkcat-1\nkcat-2\n",
                          capture_output=True, text=True, timeout=CLIENT_TIMEOUT_S)
    assert done.returncode == 0, done.stderr
    done = subprocess.run([*kcat, "-C", "-t", topic, "-p", "0", "-o", "beginning", "-e", "-q"],
                          capture_output=True, text=True, timeout=CLIENT_TIMEOUT_S)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [f"ck-{i}" for i in range(20)] + ["kcat-0", "kcat-1", "kcat-2"]

    # kafka-python.
    from kafka import KafkaConsumer, KafkaProducer
    from kafka import TopicPartition as KTP
    kp = KafkaProducer(bootstrap_servers=b.ssl_bootstrap, security_protocol="SSL", ssl_cafile=str(pki / "ca.pem"),
                       acks="all", request_timeout_ms=20000)
    for i in range(4):
        kp.send(topic, f"kp-{i}".encode(), partition=0).get(timeout=30)
    kp.close(timeout=10)
    kc = KafkaConsumer(bootstrap_servers=b.ssl_bootstrap, security_protocol="SSL", ssl_cafile=str(pki / "ca.pem"),
                       enable_auto_commit=False, consumer_timeout_ms=10000)
    kc.assign([KTP(topic, 0)])
    kc.seek_to_beginning()
    got = []
    for m in kc:
        got.append(m.value.decode())
        if len(got) == 27:
            break
    kc.close()
    assert got[-4:] == [f"kp-{i}" for i in range(4)] and len(got) == 27, got

    # kafkajs (consumer group included).
    out = kafkajs(b.ssl_bootstrap, unique("tlsjs"), pki)
    assert out == {"produced": 5, "values": [f"kafkajs-{i}" for i in range(5)]}, out


def kafkajs(bootstrap: str, topic: str, pki: Path, identity: str | None = None) -> dict:
    node = shutil.which("node")
    assert node, "node is not installed (scripts/install-deps installs it)"
    assert (NODE_DIR / "node_modules" / "kafkajs").is_dir(), "kafkajs is not installed in tests/compat/node"
    args = [node, str(NODE_DIR / "tls_roundtrip.js"), bootstrap, topic, str(pki / "ca.pem")]
    if identity:
        args += [str(pki / f"{identity}.crt"), str(pki / f"{identity}.key")]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=CLIENT_TIMEOUT_S + 15)
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    assert lines, f"kafkajs printed nothing ({proc.returncode}): {proc.stderr}"
    return json.loads(lines[-1])


# -- 2. mutual TLS ------------------------------------------------------------------------------------


@pytest.mark.timeout(240)
def test_mutual_tls_admits_trusted_client_certificates_and_refuses_others(tls_broker, pki):
    b = tls_broker({"listener.name.ssl.ssl.client.auth": "required",
                    "ssl.principal.mapping.rules": "RULE:^CN=([^,]+),OU=eng,.*$/$1@eng/L,DEFAULT"})
    topic = unique("mtls")
    create_topic(b.bootstrap, topic)

    # Without a certificate, or with one from an unknown CA: refused.
    ck_fails(b.ssl_bootstrap, ck_ssl(pki))
    ck_fails(b.ssl_bootstrap, ck_ssl(pki, "mallory"))
    bad = kafkajs(b.ssl_bootstrap, topic, pki, "mallory")
    assert "error" in bad, bad

    # alice (signed by the CA) is served, by every client, while mallory keeps being refused.
    assert ck_roundtrip(b.ssl_bootstrap, ck_ssl(pki, "alice"), topic, 10) == [f"ck-{i}" for i in range(10)]
    js = kafkajs(b.ssl_bootstrap, unique("mtlsjs"), pki, "alice")
    assert js.get("values") == [f"kafkajs-{i}" for i in range(5)], js
    from kafka import KafkaProducer
    kp = KafkaProducer(bootstrap_servers=b.ssl_bootstrap, security_protocol="SSL", ssl_cafile=str(pki / "ca.pem"),
                       ssl_certfile=str(pki / "alice.crt"), ssl_keyfile=str(pki / "alice.key"))
    assert kp.send(topic, b"kp", partition=0).get(timeout=30).offset == 10
    kp.close(timeout=10)
    done = subprocess.run(["kcat", "-b", b.ssl_bootstrap, "-X", "security.protocol=ssl",
                           "-X", f"ssl.ca.location={pki / 'ca.pem'}",
                           "-X", f"ssl.certificate.location={pki / 'alice.crt'}",
                           "-X", f"ssl.key.location={pki / 'alice.key'}",
                           "-C", "-t", topic, "-p", "0", "-o", "beginning", "-e", "-q"],
                          capture_output=True, text=True, timeout=CLIENT_TIMEOUT_S)
    assert done.returncode == 0 and done.stdout.split()[-1] == "kp", done.stderr
    ck_fails(b.ssl_bootstrap, ck_ssl(pki, "mallory"))
    assert b.running()
    # alice's subject CN=alice,OU=eng,O=strom became her principal through the mapping rule.
    log = b.log_path.read_text()
    assert "principal=User:alice@eng" in log, b.log_tail()
    assert "principal=User:CN=mallory" not in log


# -- 3. protocol mismatches and silent clients --------------------------------------------------------------


def test_plaintext_to_tls_and_tls_to_plaintext_fail_cleanly_and_silent_tls_clients_are_closed(tls_broker, pki):
    b = tls_broker({"connections.max.idle.ms": "2000"})
    # Plaintext Kafka spoken to the TLS port: the connection is closed, nothing is answered.
    with socket.create_connection(("127.0.0.1", b.ssl_port), timeout=10) as s:
        s.sendall(bytes.fromhex("0000000d00120000000000010003666f6f"))  # ApiVersions v0, client "foo"
        rest = b""
        while chunk := s.recv(100):
            rest += chunk
        assert not rest.startswith(b"\x00\x00"), rest  # never a Kafka response
    # TLS spoken to the plaintext port: the handshake fails, the connection is closed.
    ctx = ssl.create_default_context(cafile=str(pki / "ca.pem"))
    with socket.create_connection(("127.0.0.1", b.port), timeout=10) as raw:
        with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
            with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
                s.recv(1)
    # A client that opens the TLS port and says nothing is closed after connections.max.idle.ms.
    start = time.monotonic()
    with socket.create_connection(("127.0.0.1", b.ssl_port), timeout=15) as s:
        assert s.recv(1) == b""
    assert 1.5 < time.monotonic() - start < 10
    # Both listeners still serve.
    with kafka_wire.connect(b.host, b.port) as conn:
        conn.api_versions_v0()
    with ctx.wrap_socket(socket.create_connection(("127.0.0.1", b.ssl_port), timeout=10),
                         server_hostname="127.0.0.1") as s:
        s.sendall(bytes.fromhex("0000000d00120000000000010003666f6f"))
        size = int.from_bytes(s.recv(4), "big")
        assert 6 < size < 10_000
    log = b.log_path.read_text()
    assert "speaks plaintext to a TLS listener" in log, b.log_tail()
    assert "speaks TLS to a plaintext listener" in log, b.log_tail()
    assert "no TLS handshake within connections.max.idle.ms" in log, b.log_tail()


# -- 4. certificate reload without restart -------------------------------------------------------------


def peer_cn(port: int, pki: Path) -> str:
    ctx = ssl.create_default_context(cafile=str(pki / "ca.pem"))
    with ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=10),
                         server_hostname="127.0.0.1") as s:
        subject = dict(x[0] for x in s.getpeercert()["subject"])
        return subject["commonName"]


def alter_broker(bootstrap: str, key: str, value: str) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    resource = ConfigResource("BROKER", "1", incremental_configs=[
        ConfigEntry(key, value, incremental_operation=AlterConfigOpType.SET)])
    for f in admin.incremental_alter_configs([resource]).values():
        f.result(timeout=30)


def test_a_rotated_certificate_is_reloaded_by_alter_configs_without_restart(tls_broker, pki, tmp_path):
    keystore = tmp_path / "keystore.pem"
    shutil.copy(pki / "broker.pem", keystore)
    b = tls_broker({"listener.name.ssl.ssl.keystore.location": str(keystore)})
    assert peer_cn(b.ssl_port, pki) == "broker"
    held = ssl.create_default_context(cafile=str(pki / "ca.pem")).wrap_socket(
        socket.create_connection(("127.0.0.1", b.ssl_port), timeout=10), server_hostname="127.0.0.1")

    # A file that does not load is refused with INVALID_CONFIG; the broker keeps its certificate.
    (tmp_path / "broken.pem").write_text("not a key store\n")
    with pytest.raises(KafkaException) as refused:
        alter_broker(b.bootstrap, "listener.name.ssl.ssl.keystore.location", str(tmp_path / "broken.pem"))
    assert refused.value.args[0].code() == 40 and "SSLFactory" in refused.value.args[0].str(), refused.value
    assert peer_cn(b.ssl_port, pki) == "broker"

    # The same path, rotated: altering it to the same value reloads it.
    shutil.copy(pki / "broker-rotated.pem", keystore)
    assert peer_cn(b.ssl_port, pki) == "broker"  # not before the alter
    alter_broker(b.bootstrap, "listener.name.ssl.ssl.keystore.location", str(keystore))
    assert peer_cn(b.ssl_port, pki) == "broker-rotated"
    # The connection opened before keeps working.
    held.sendall(bytes.fromhex("0000000d00120000000000010003666f6f"))
    assert 6 < int.from_bytes(held.recv(4), "big") < 10_000
    held.close()
    # An encrypted key with its password.
    admin = AdminClient({"bootstrap.servers": b.bootstrap})
    resource = ConfigResource("BROKER", "1", incremental_configs=[
        ConfigEntry("listener.name.ssl.ssl.keystore.location", str(pki / "broker-enc.pem"),
                    incremental_operation=AlterConfigOpType.SET),
        ConfigEntry("listener.name.ssl.ssl.key.password", "wrong", incremental_operation=AlterConfigOpType.SET)])
    with pytest.raises(KafkaException):
        for f in admin.incremental_alter_configs([resource]).values():
            f.result(timeout=30)
    resource = ConfigResource("BROKER", "1", incremental_configs=[
        ConfigEntry("listener.name.ssl.ssl.keystore.location", str(pki / "broker-enc.pem"),
                    incremental_operation=AlterConfigOpType.SET),
        ConfigEntry("listener.name.ssl.ssl.key.password", "s3cret", incremental_operation=AlterConfigOpType.SET)])
    for f in admin.incremental_alter_configs([resource]).values():
        f.result(timeout=30)
    assert peer_cn(b.ssl_port, pki) == "broker"


def test_bad_key_stores_stop_start_up_with_a_message_naming_the_key(strom_bin, tmp_path, pki):
    cases = [
        ({"listener.name.ssl.ssl.keystore.location": str(tmp_path / "missing.pem")},
         "ssl.keystore.location"),
        ({"listener.name.ssl.ssl.keystore.type": "JKS"}, "ssl.keystore.type=JKS"),
        ({"listener.name.ssl.ssl.keystore.location": str(pki / "broker-enc.pem"),
          "listener.name.ssl.ssl.key.password": "wrong"}, "ssl.key.password"),
        ({"listener.name.ssl.ssl.client.auth": "required", "listener.name.ssl.ssl.truststore.location": ""},
         "ssl.client.auth=required needs ssl.truststore.location"),
        ({"ssl.cipher.suites": "TLS_RSA_WITH_RC4_128_MD5"}, "TLS_RSA_WITH_RC4_128_MD5"),
    ]
    for i, (overrides, expected) in enumerate(cases):
        b = TlsBroker(strom_bin, tmp_path / f"b{i}", pki, overrides)
        done = subprocess.run(b.command(), capture_output=True, text=True, timeout=30, cwd=b.data_dir.parent)
        assert done.returncode != 0, f"{overrides}: started"
        assert expected in done.stderr + done.stdout, f"{overrides}: {done.stderr}{done.stdout}"
    # The encrypted key with the right password starts.
    b = TlsBroker(strom_bin, tmp_path / "ok", pki, {"listener.name.ssl.ssl.keystore.location": str(pki / "broker-enc.pem"),
                                                     "listener.name.ssl.ssl.key.password": "s3cret"})
    try:
        b.start()
        assert peer_cn(b.ssl_port, pki) == "broker"
    finally:
        b.cleanup()


# -- 5. strom's CLI over TLS ---------------------------------------------------------------------------


def test_strom_cli_admin_produce_and_consume_over_mutual_tls(tls_broker, pki, strom_bin, tmp_path):
    b = tls_broker({"listener.name.ssl.ssl.client.auth": "required"})
    props = tmp_path / "client.properties"
    props.write_text(
        "security.protocol=SSL\n"
        "ssl.truststore.type=PEM\n"
        f"ssl.truststore.location={pki / 'ca.pem'}\n"
        "ssl.keystore.type=PEM\n"
        f"ssl.keystore.location={pki / 'alice.pem'}\n")
    topic = unique("cli")

    def strom(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
        return subprocess.run([str(strom_bin), *args, "--bootstrap-server", b.ssl_bootstrap,
                               "--command-config", str(props)], input=stdin, capture_output=True, text=True,
                              timeout=60)

    done = strom("topics", "create", "--topic", topic, "--partitions", "1")
    assert done.returncode == 0, done.stderr
    listed = strom("topics", "list")
    assert topic in listed.stdout.split(), listed.stderr
    done = strom("produce", "--topic", topic, stdin="one\ntwo\nthree\n")
    assert done.returncode == 0, done.stderr
    done = strom("consume", "--topic", topic, "--from-beginning", "--max-messages", "3")
    assert done.returncode == 0 and done.stdout.split() == ["one", "two", "three"], done.stderr
    # Without the client certificate the broker refuses the handshake; the CLI says so.
    props.write_text(
        f"security.protocol=SSL\nssl.truststore.type=PEM\nssl.truststore.location={pki / 'ca.pem'}\n")
    done = strom("topics", "list")
    assert done.returncode != 0, done.stdout
    assert any(w in done.stderr.lower() for w in ("tls", "certificate", "alert")), done.stderr


# -- 6. inter-broker replication over TLS ----------------------------------------------------------------


@pytest.mark.timeout(240)
def test_a_cluster_whose_inter_broker_listener_is_ssl_replicates_with_acks_all(strom_bin, tmp_path, pki, request):
    from conftest import BROKERS_KEY
    c = Cluster(strom_bin, tmp_path / "cluster", 3, {
        "inter.broker.listener.name": "INTERNAL",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,INTERNAL:SSL",
        "listener.name.internal.ssl.keystore.type": "PEM",
        "listener.name.internal.ssl.keystore.location": str(pki / "broker.pem"),
        "listener.name.internal.ssl.truststore.type": "PEM",
        "listener.name.internal.ssl.truststore.location": str(pki / "ca.pem"),
        "listener.name.internal.ssl.client.auth": "required",
    }, extra_listeners=("INTERNAL",))
    request.node.stash[BROKERS_KEY] = list(c.nodes.values())
    try:
        c.start_formatted()
        bootstrap = c.nodes[1].bootstrap
        topic = unique("isr")
        create_topic(bootstrap, topic, 1, 3)
        p = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
        errors = []
        for i in range(50):
            p.produce(topic, f"r{i}".encode(), on_delivery=lambda err, msg: errors.append(err))
        assert p.flush(60) == 0
        assert errors == [None] * 50, errors[:3]

        # Every replica has the 50 records: read each node's copy once it is leader-independent
        # (the high watermark moved to 50 only because the followers fetched over TLS).
        def isr() -> list[int]:
            md = AdminClient({"bootstrap.servers": bootstrap}).list_topics(topic, timeout=10)
            return sorted(md.topics[topic].partitions[0].isrs)
        wait_for(lambda: isr() == [1, 2, 3], 30, what="all three replicas in sync")
        internal_log = "".join(n.log_text() for n in c.nodes.values())
        assert "closing connection: TLS handshake failed" not in internal_log
    finally:
        c.cleanup()


# -- SASL_SSL: the SASL exchange inside TLS, with ACLs on the SASL principal -------------------------


SASL_JAAS = ('org.apache.kafka.common.security.plain.PlainLoginModule required '
             'username="admin" password="admin-secret" '
             'user_admin="admin-secret" user_alice="alice-secret";')


def test_sasl_ssl_authenticates_inside_tls_and_acls_apply_to_the_sasl_principal(strom_bin, tmp_path, pki, request):
    from conftest import BROKERS_KEY
    b = Broker(strom_bin, tmp_path / "sasl-ssl")
    request.node.stash[BROKERS_KEY] = [b]
    sasl_port = free_port()
    sasl_bootstrap = f"127.0.0.1:{sasl_port}"
    b.overrides.update({
        "listeners": f"PLAINTEXT://{b.bootstrap},SASL_SSL://{sasl_bootstrap}",
        "listener.name.sasl_ssl.ssl.keystore.type": "PEM",
        "listener.name.sasl_ssl.ssl.keystore.location": str(pki / "broker.pem"),
        "listener.name.sasl_ssl.ssl.truststore.type": "PEM",
        "listener.name.sasl_ssl.ssl.truststore.location": str(pki / "ca.pem"),
        "sasl.enabled.mechanisms": "PLAIN",
        "listener.name.sasl_ssl.plain.sasl.jaas.config": SASL_JAAS,
        "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        # The PLAINTEXT listener's anonymous clients (the test's readiness check) and admin are super users.
        "super.users": "User:admin;User:ANONYMOUS",
    })
    try:
        b.start()
        topic = unique("sasl-ssl")
        create_topic(b.bootstrap, topic)

        def conf(user: str, password: str) -> dict[str, str]:
            return {"security.protocol": "SASL_SSL", "ssl.ca.location": str(pki / "ca.pem"),
                    "sasl.mechanism": "PLAIN", "sasl.username": user, "sasl.password": password}

        assert ck_roundtrip(sasl_bootstrap, conf("admin", "admin-secret"), topic, 5) == [f"ck-{i}" for i in range(5)]
        # A wrong password over TLS fails; so does plain SASL to the TLS port.
        ck_fails(sasl_bootstrap, conf("alice", "wrong"))
        ck_fails(sasl_bootstrap, {"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "PLAIN",
                                  "sasl.username": "alice", "sasl.password": "alice-secret"})
        # alice authenticates but may not write until an ACL names her principal.
        p = Producer({"bootstrap.servers": sasl_bootstrap, "message.timeout.ms": 8000, **conf("alice", "alice-secret")})
        errors: list = []
        p.produce(topic, b"denied", partition=0, on_delivery=lambda err, msg: errors.append(err))
        p.flush(15)
        assert len(errors) == 1 and errors[0] is not None
        assert errors[0].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, errors[0]
        admin = AdminClient({"bootstrap.servers": sasl_bootstrap, **conf("admin", "admin-secret")})
        from confluent_kafka.admin import AclBinding, AclOperation, AclPermissionType, ResourcePatternType, ResourceType
        for op in (AclOperation.WRITE, AclOperation.READ):
            binding = AclBinding(ResourceType.TOPIC, topic, ResourcePatternType.LITERAL, "User:alice", "*", op,
                                 AclPermissionType.ALLOW)
            for f in admin.create_acls([binding]).values():
                f.result(timeout=30)
        assert ck_roundtrip(sasl_bootstrap, {**conf("alice", "alice-secret")}, topic, 3)[-3:] == \
            ["ck-0", "ck-1", "ck-2"]
    finally:
        b.cleanup()
