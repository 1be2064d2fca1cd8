"""SASL on a SASL_PLAINTEXT listener: PLAIN, SCRAM-SHA-256/512 and OAUTHBEARER with real clients
(confluent-kafka, kafka-python, kcat, kafkajs), the state machine before authentication, failures
that say nothing about whether a user exists, SCRAM credentials through the admin API and the CLI,
and KIP-368 session lifetimes with in-band re-authentication."""

from __future__ import annotations

import base64
import json
import os
import shutil
import struct
import subprocess
import time
from pathlib import Path

import confluent_kafka as ck
import pytest
from confluent_kafka.admin import (AdminClient, ScramCredentialInfo, ScramMechanism,
                                   UserScramCredentialDeletion, UserScramCredentialUpsertion)

import kafka_wire as kw
from broker_process import Broker
from clients import unique, wait_for

NODE_DIR = Path(__file__).resolve().parent / "node"

API_SASL_HANDSHAKE = 17
API_SASL_AUTHENTICATE = 36
API_METADATA = 3
UNSUPPORTED_SASL_MECHANISM = 33
ILLEGAL_SASL_STATE = 34
SASL_AUTHENTICATION_FAILED = 58

PLAIN_JAAS = ('org.apache.kafka.common.security.plain.PlainLoginModule required '
              'username="admin" password="admin-secret" '
              'user_admin="admin-secret" user_alice="alice-secret";')
MECHANISMS = "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512,OAUTHBEARER"
INVALID_PLAIN = "Authentication failed: Invalid username or password"


def sasl_broker(strom_bin: Path, workdir: Path, extra: dict[str, str] | None = None) -> Broker:
    b = Broker(strom_bin, workdir, {
        "listener.security.protocol.map": "SASL_PLAINTEXT:SASL_PLAINTEXT",
        "sasl.enabled.mechanisms": MECHANISMS,
        "listener.name.sasl_plaintext.plain.sasl.jaas.config": PLAIN_JAAS,
        "connection.failed.authentication.delay.ms": "300",
        **(extra or {}),
    })
    b.overrides["listeners"] = f"SASL_PLAINTEXT://{b.bootstrap}"
    b.start()
    return b


@pytest.fixture
def sbroker(strom_bin, tmp_path):
    b = sasl_broker(strom_bin, tmp_path / "sasl")
    yield b
    b.cleanup()


def ck_conf(b: Broker, mechanism: str, user: str, password: str, **extra) -> dict:
    return {"bootstrap.servers": b.bootstrap, "security.protocol": "SASL_PLAINTEXT",
            "sasl.mechanism": mechanism, "sasl.username": user, "sasl.password": password, **extra}


def ck_roundtrip(b: Broker, topic: str, conf: dict, n: int = 5) -> list[bytes]:
    p = ck.Producer({**conf, "linger.ms": 5, "message.timeout.ms": 20000})
    errors = []
    for i in range(n):
        p.produce(topic, f"{topic}-{i}".encode(), on_delivery=lambda e, m: e and errors.append(e))
    assert p.flush(30) == 0
    assert not errors, errors
    c = ck.Consumer({**conf, "group.id": unique("g"), "auto.offset.reset": "earliest",
                     "enable.partition.eof": True, "enable.auto.commit": False})
    try:
        c.assign([ck.TopicPartition(topic, 0, ck.OFFSET_BEGINNING)])
        out = []
        deadline = time.monotonic() + 30
        while len(out) < n and time.monotonic() < deadline:
            m = c.poll(1.0)
            if m is not None and m.error() is None:
                out.append(m.value())
        return out
    finally:
        c.close()


def ck_auth_error(conf: dict, timeout_s: float = 20.0) -> ck.KafkaError:
    """The error a confluent-kafka client reports when it cannot authenticate."""
    seen: list[ck.KafkaError] = []
    p = ck.Producer({**conf, "error_cb": seen.append})
    deadline = time.monotonic() + timeout_s
    while not any(e.code() == ck.KafkaError._AUTHENTICATION for e in seen) and time.monotonic() < deadline:
        p.poll(0.2)
    errs = [e for e in seen if e.code() == ck.KafkaError._AUTHENTICATION]
    assert errs, f"no authentication error in {timeout_s}s: {[e.str() for e in seen]}"
    return errs[0]


# -- raw wire ------------------------------------------------------------------------------------------------


def handshake(conn: kw.Connection, mechanism: str, version: int = 1) -> tuple[int, list[str]]:
    r = kw.Reader(conn.request(API_SASL_HANDSHAKE, version, kw.string(mechanism)))
    code = r.i16()
    mechanisms = r.array(lambda rr: rr.string())
    return code, mechanisms


def authenticate(conn: kw.Connection, token: bytes, version: int = 1) -> tuple[int, str | None, bytes, int]:
    r = kw.Reader(conn.request(API_SASL_AUTHENTICATE, version, kw.bytes_field(token)))
    code = r.i16()
    message = r.string()
    auth = r.bytes_() or b""
    lifetime = r.i64() if version >= 1 else 0
    return code, message, auth, lifetime


def plain_login(b: Broker, user: str, password: str, version: int = 1):
    conn = kw.connect(b.host, b.port)
    assert handshake(conn, "PLAIN")[0] == 0
    return conn, authenticate(conn, f"\0{user}\0{password}".encode(), version)


def unsecured_jwt(claims: dict) -> str:
    enc = lambda d: base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()
    return f"{enc({'alg': 'none'})}.{enc(claims)}."


# -- tests ----------------------------------------------------------------------------------------------------


def test_plain_with_every_client(sbroker):
    topic = unique("plain")
    conf = ck_conf(sbroker, "PLAIN", "alice", "alice-secret")
    assert ck_roundtrip(sbroker, topic, conf) == [f"{topic}-{i}".encode() for i in range(5)]

    from kafka import KafkaConsumer, KafkaProducer, TopicPartition
    kp = dict(bootstrap_servers=sbroker.bootstrap, security_protocol="SASL_PLAINTEXT",
              sasl_mechanism="PLAIN", sasl_plain_username="alice", sasl_plain_password="alice-secret")
    p = KafkaProducer(enable_idempotence=False, **kp)
    p.send(topic, b"from-kafka-python").get(timeout=30)
    p.close()
    c = KafkaConsumer(group_id=None, enable_auto_commit=False, **kp)
    c.assign([TopicPartition(topic, 0)])
    c.seek(TopicPartition(topic, 0), 5)
    got = []
    deadline = time.monotonic() + 30
    while not got and time.monotonic() < deadline:
        for recs in c.poll(timeout_ms=500).values():
            got.extend(r.value for r in recs)
    c.close()
    assert got == [b"from-kafka-python"]

    kcat = shutil.which("kcat")
    sasl = ["-X", "security.protocol=SASL_PLAINTEXT", "-X", "sasl.mechanism=PLAIN",
            "-X", "sasl.username=alice", "-X", "sasl.password=alice-secret"]
    subprocess.run([kcat, "-b", sbroker.bootstrap, *sasl, "-P", "-t", topic, "-p", "0"],
                   input=b"from-kcat\n", check=True, timeout=60, capture_output=True)
    out = subprocess.run([kcat, "-b", sbroker.bootstrap, *sasl, "-C", "-t", topic, "-p", "0",
                          "-o", "6", "-c", "1", "-e"], check=True, timeout=60, capture_output=True)
    assert out.stdout.strip() == b"from-kcat"


def test_plain_refuses_wrong_password_and_unknown_user_alike(sbroker):
    """The known peer bug: PLAIN accepting any password. Both failures carry one message, come
    after connection.failed.authentication.delay.ms, and close only their own connection."""
    good, (code, _, _, _) = plain_login(sbroker, "alice", "alice-secret")
    assert code == 0
    t0 = time.monotonic()
    wrong, (code_w, msg_w, _, _) = plain_login(sbroker, "alice", "alice-secreT")
    elapsed = time.monotonic() - t0
    unknown, (code_u, msg_u, _, _) = plain_login(sbroker, "nobody", "alice-secret")
    assert (code_w, code_u) == (SASL_AUTHENTICATION_FAILED, SASL_AUTHENTICATION_FAILED)
    assert msg_w == msg_u == INVALID_PLAIN
    assert elapsed >= 0.25, f"failure answered after {elapsed:.3f}s, delay is 300 ms"
    assert wrong.closed_by_peer(5) and unknown.closed_by_peer(5)
    # The broker's own login options are not users; an empty password is refused.
    for user, pw in [("admin", "wrong"), ("alice", "")]:
        conn, (code, _, _, _) = plain_login(sbroker, user, pw)
        assert code == SASL_AUTHENTICATION_FAILED
        conn.close()
    # The authenticated connection still works.
    good.metadata_v4([], False)
    good.close()
    err = ck_auth_error(ck_conf(sbroker, "PLAIN", "alice", "nope"))
    assert INVALID_PLAIN in err.str()


def test_nothing_but_sasl_before_authentication(sbroker):
    # ApiVersions is served, Metadata closes the connection without an answer.
    with kw.connect(sbroker.host, sbroker.port) as conn:
        versions = conn.api_versions_v0()
        assert versions.error_code == 0
        ranges = versions.api_keys
        assert ranges[API_SASL_HANDSHAKE] == (0, 1) and ranges[API_SASL_AUTHENTICATE] == (0, 2)
        conn.send_raw(kw.request_frame(API_METADATA, 4, 99, kw.array([]) + kw.i8(0)))
        assert conn.closed_by_peer(5)
    # After the handshake, only SaslAuthenticate.
    with kw.connect(sbroker.host, sbroker.port) as conn:
        assert handshake(conn, "PLAIN")[0] == 0
        conn.send_raw(kw.request_frame(API_METADATA, 4, 99, kw.array([]) + kw.i8(0)))
        assert conn.closed_by_peer(5)
    # A mechanism not enabled: UNSUPPORTED_SASL_MECHANISM with the enabled list, then close.
    with kw.connect(sbroker.host, sbroker.port) as conn:
        code, mechanisms = handshake(conn, "GSSAPI")
        assert code == UNSUPPORTED_SASL_MECHANISM
        assert mechanisms == MECHANISMS.split(",")
        assert conn.closed_by_peer(5)
    # A v0 handshake is followed by bare tokens (no SaslAuthenticate header).
    with kw.connect(sbroker.host, sbroker.port) as conn:
        assert handshake(conn, "PLAIN", version=0)[0] == 0
        conn.send_raw(kw.frame(b"\0alice\0alice-secret"))
        assert struct.unpack(">i", conn.recv_exact(4))[0] == 0
        assert conn.metadata_v4([], False).brokers
    with kw.connect(sbroker.host, sbroker.port) as conn:
        assert handshake(conn, "PLAIN", version=0)[0] == 0
        conn.send_raw(kw.frame(b"\0alice\0bad"))
        assert conn.closed_by_peer(5)
    # SASL requests on an authenticated connection: ILLEGAL_SASL_STATE.
    conn, (code, _, _, _) = plain_login(sbroker, "alice", "alice-secret", version=0)
    assert code == 0
    assert handshake(conn, "PLAIN")[0] == ILLEGAL_SASL_STATE
    conn.close()


def test_requests_before_authentication_are_bounded_by_sasl_server_max_receive_size(sbroker):
    """An unauthenticated client cannot make the broker buffer a large request: a size prefix
    above sasl.server.max.receive.size (512 KiB) closes the connection before the body is read;
    after authentication the usual limit (socket.request.max.bytes) applies."""
    with kw.connect(sbroker.host, sbroker.port) as conn:
        conn.send_raw(struct.pack(">i", 524_289))
        assert conn.closed_by_peer(5)
    # Also after a handshake, before SaslAuthenticate.
    with kw.connect(sbroker.host, sbroker.port) as conn:
        assert handshake(conn, "PLAIN")[0] == 0
        conn.send_raw(struct.pack(">i", 600_000) + b"\0" * 1000)
        assert conn.closed_by_peer(5)
    assert "before authentication (sasl.server.max.receive.size)" in sbroker.log_path.read_text()
    # Authenticated, a 900 KB record is produced as on any listener.
    topic = unique("big")
    p = ck.Producer({**ck_conf(sbroker, "PLAIN", "alice", "alice-secret"), "message.max.bytes": 2_000_000})
    delivered: list = []
    p.produce(topic, b"x" * 900_000, on_delivery=lambda e, m: delivered.append((e, m.offset() if m else None)))
    assert p.flush(30) == 0
    assert delivered == [(None, 0)], delivered


def admin_client(b: Broker) -> AdminClient:
    return AdminClient(ck_conf(b, "PLAIN", "admin", "admin-secret"))


def test_scram_credentials_and_clients(sbroker, strom_bin, tmp_path):
    admin = admin_client(sbroker)
    futures = admin.alter_user_scram_credentials([
        UserScramCredentialUpsertion("alice", ScramCredentialInfo(ScramMechanism.SCRAM_SHA_256, 8192), b"alice-scram"),
        UserScramCredentialUpsertion("bob", ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 4096), b"bob-scram"),
        UserScramCredentialUpsertion("few", ScramCredentialInfo(ScramMechanism.SCRAM_SHA_256, 1000), b"x"),
        UserScramCredentialDeletion("ghost", ScramMechanism.SCRAM_SHA_256),
    ])
    futures["alice"].result(30)
    futures["bob"].result(30)
    with pytest.raises(ck.KafkaException) as few:
        futures["few"].result(30)
    assert few.value.args[0].code() == ck.KafkaError.UNACCEPTABLE_CREDENTIAL
    with pytest.raises(ck.KafkaException) as ghost:
        futures["ghost"].result(30)
    assert ghost.value.args[0].code() == ck.KafkaError.RESOURCE_NOT_FOUND

    described = {u: f.result(30) for u, f in admin.describe_user_scram_credentials(["alice", "bob"]).items()}
    infos = {u: [(i.mechanism, i.iterations) for i in d.scram_credential_infos] for u, d in described.items()}
    assert infos == {"alice": [(ScramMechanism.SCRAM_SHA_256, 8192)], "bob": [(ScramMechanism.SCRAM_SHA_512, 4096)]}

    topic = unique("scram")
    assert len(ck_roundtrip(sbroker, topic, ck_conf(sbroker, "SCRAM-SHA-256", "alice", "alice-scram"))) == 5
    assert len(ck_roundtrip(sbroker, topic + "b", ck_conf(sbroker, "SCRAM-SHA-512", "bob", "bob-scram"))) == 5

    from kafka import KafkaProducer
    p = KafkaProducer(bootstrap_servers=sbroker.bootstrap, security_protocol="SASL_PLAINTEXT",
                      sasl_mechanism="SCRAM-SHA-512", sasl_plain_username="bob",
                      sasl_plain_password="bob-scram", enable_idempotence=False)
    md = p.send(topic, b"kp").get(timeout=30)
    assert md.offset == 5
    p.close()
    out = subprocess.run([shutil.which("kcat"), "-b", sbroker.bootstrap, "-X", "security.protocol=SASL_PLAINTEXT",
                          "-X", "sasl.mechanism=SCRAM-SHA-256", "-X", "sasl.username=alice",
                          "-X", "sasl.password=alice-scram", "-C", "-t", topic, "-p", "0", "-o", "5",
                          "-c", "1", "-e"], timeout=60, capture_output=True)
    assert out.returncode == 0 and out.stdout.strip() == b"kp", out.stderr

    # Wrong password, unknown user, and a mechanism the user has no credential for fail alike.
    def broker_message(m: str, u: str, pw: str) -> str:
        text = ck_auth_error(ck_conf(sbroker, m, u, pw)).str()
        return text.split("SASL authentication error: ", 1)[1].split(" (after ", 1)[0]
    expected = "Authentication failed during authentication due to invalid credentials with SASL mechanism {}"
    assert broker_message("SCRAM-SHA-256", "alice", "wrong") == expected.format("SCRAM-SHA-256")
    assert broker_message("SCRAM-SHA-256", "nobody", "x") == expected.format("SCRAM-SHA-256")
    assert broker_message("SCRAM-SHA-512", "alice", "alice-scram") == expected.format("SCRAM-SHA-512")

    # Credentials are metadata: they survive a restart.
    sbroker.restart()
    assert len(ck_roundtrip(sbroker, topic, ck_conf(sbroker, "SCRAM-SHA-256", "alice", "alice-scram"), n=1)) == 1


def test_users_scram_cli(sbroker, strom_bin, tmp_path):
    cfg = tmp_path / "admin.properties"
    cfg.write_text("security.protocol=SASL_PLAINTEXT\nsasl.mechanism=PLAIN\n"
                   'sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required '
                   'username="admin" password="admin-secret";\n')
    run = lambda *a: subprocess.run([str(strom_bin), "users", "scram", *a, "--bootstrap-server", sbroker.bootstrap,
                                     "--command-config", str(cfg)], capture_output=True, timeout=60, text=True)
    r = run("set", "--user", "carol", "--add-config",
            "SCRAM-SHA-256=[iterations=8192,password=carol-secret],SCRAM-SHA-512=[password=carol-512]")
    assert r.returncode == 0, r.stderr
    r = run("list", "--output", "json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == [{"user": "carol", "credentials": [
        {"mechanism": "SCRAM-SHA-256", "iterations": 8192}, {"mechanism": "SCRAM-SHA-512", "iterations": 4096}]}]
    assert len(ck_roundtrip(sbroker, unique("cli"), ck_conf(sbroker, "SCRAM-SHA-512", "carol", "carol-512"), n=1)) == 1
    # The CLI itself authenticates with SCRAM too.
    cfg.write_text("security.protocol=SASL_PLAINTEXT\nsasl.mechanism=SCRAM-SHA-256\n"
                   'sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required '
                   'username="carol" password="carol-secret";\n')
    r = run("delete", "--user", "carol", "--delete-config", "SCRAM-SHA-512")
    assert r.returncode == 0, r.stderr
    r = run("list")
    assert r.returncode == 0, r.stderr
    assert "SCRAM-SHA-512" not in r.stdout and "SCRAM-SHA-256" in r.stdout
    r = run("set", "--user", "dave", "--add-config", "SCRAM-SHA-256=[iterations=100,password=x]")
    assert r.returncode == 1 and "UNACCEPTABLE_CREDENTIAL" in r.stderr, r.stderr
    # A wrong password in the command config fails the command.
    cfg.write_text(cfg.read_text().replace("carol-secret", "wrong"))
    r = run("list")
    assert r.returncode == 1 and "SASL_AUTHENTICATION_FAILED" in r.stderr, r.stderr


def test_oauthbearer_unsecured_tokens(sbroker):
    conf = {"bootstrap.servers": sbroker.bootstrap, "security.protocol": "SASL_PLAINTEXT",
            "sasl.mechanism": "OAUTHBEARER", "enable.sasl.oauthbearer.unsecure.jwt": True,
            "sasl.oauthbearer.config": "principal=alice lifeSeconds=600"}
    assert len(ck_roundtrip(sbroker, unique("oauth"), conf, n=3)) == 3
    now = int(time.time())
    for claims in [{"sub": "alice", "exp": now - 10, "iat": now - 100},  # expired
                   {"sub": "alice", "iat": now},  # no exp
                   {"exp": now + 60}]:  # no sub
        with kw.connect(sbroker.host, sbroker.port) as conn:
            assert handshake(conn, "OAUTHBEARER")[0] == 0
            token = f"n,,\x01auth=Bearer {unsecured_jwt(claims)}\x01\x01".encode()
            code, _, challenge, _ = authenticate(conn, token)
            assert code == 0 and json.loads(challenge) == {"status": "invalid_token"}
            code, message, _, _ = authenticate(conn, b"\x01")
            assert code == SASL_AUTHENTICATION_FAILED and json.loads(message)["status"] == "invalid_token"
            assert conn.closed_by_peer(5)
    # A good token: the session ends with the token (KIP-368 lifetime from exp).
    with kw.connect(sbroker.host, sbroker.port) as conn:
        assert handshake(conn, "OAUTHBEARER")[0] == 0
        token = f"n,,\x01auth=Bearer {unsecured_jwt({'sub': 'alice', 'exp': now + 60})}\x01\x01".encode()
        code, _, _, lifetime = authenticate(conn, token)
        assert code == 0 and 50_000 < lifetime <= 60_000


def test_session_lifetime_and_reauthentication(strom_bin, tmp_path):
    b = sasl_broker(strom_bin, tmp_path / "reauth", {"connections.max.reauth.ms": "1500"})
    try:
        conn, (code, _, _, lifetime) = plain_login(b, "alice", "alice-secret")
        assert code == 0 and lifetime == 1500
        # v0 SaslAuthenticate has no lifetime field; the session still expires.
        old, (code, _, _, _) = plain_login(b, "alice", "alice-secret", version=0)
        assert code == 0
        time.sleep(1.0)
        # In-band re-authentication, same principal: a new lifetime.
        assert handshake(conn, "PLAIN")[0] == 0
        code, _, _, lifetime = authenticate(conn, b"\0alice\0alice-secret")
        assert code == 0 and lifetime == 1500
        time.sleep(0.8)
        assert conn.metadata_v4([], False).brokers  # 1.8 s after the first login: alive
        # The expired one is closed on its next request.
        old.send_raw(kw.request_frame(API_METADATA, 4, 7, kw.array([]) + kw.i8(0)))
        assert old.closed_by_peer(5)
        # Re-authenticating as someone else fails and closes.
        assert handshake(conn, "PLAIN")[0] == 0
        code, message, _, _ = authenticate(conn, b"\0admin\0admin-secret")
        assert code == SASL_AUTHENTICATION_FAILED and "Cannot change principals" in message
        assert conn.closed_by_peer(5)
        # librdkafka re-authenticates on its own: a producer outlives several lifetimes.
        p = ck.Producer({**ck_conf(b, "PLAIN", "alice", "alice-secret"), "linger.ms": 0})
        topic = unique("reauth")
        errors = []
        deadline = time.monotonic() + 5
        sent = 0
        while time.monotonic() < deadline:
            p.produce(topic, b"x", on_delivery=lambda e, m: e and errors.append(e))
            sent += 1
            p.flush(10)
            time.sleep(0.2)
        assert not errors and sent >= 20
        # So does strom-client (`strom perf produce` for about 4 s, three lifetimes): no session
        # of its expires, and every record is written.
        cfg = tmp_path / "alice.properties"
        cfg.write_text("security.protocol=SASL_PLAINTEXT\nsasl.mechanism=PLAIN\n"
                       "sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required "
                       'username="alice" password="alice-secret";\n')
        perf_topic = unique("reauth-perf")
        cli = lambda *a: subprocess.run([str(strom_bin), *a, "--bootstrap-server", b.bootstrap,
                                         "--command-config", str(cfg)], capture_output=True, text=True, timeout=60)
        out = cli("topics", "create", "--topic", perf_topic, "--partitions", "1")
        assert out.returncode == 0, out.stderr
        expiries = lambda: b.log_path.read_text(errors="replace").count("expired without re-authentication")
        before = expiries()
        out = cli("perf", "produce", "--topic", perf_topic, "--num-records", "40", "--throughput", "10")
        assert out.returncode == 0, out.stdout + out.stderr
        assert out.stdout.splitlines()[-1].startswith("40 records sent, "), out.stdout
        assert expiries() == before, "a strom-client session expired instead of re-authenticating"
    finally:
        b.cleanup()


def test_kafkajs_plain_and_scram(sbroker):
    node = shutil.which("node")
    assert node and (NODE_DIR / "node_modules" / "kafkajs").is_dir()
    admin = admin_client(sbroker)
    admin.alter_user_scram_credentials([UserScramCredentialUpsertion(
        "erin", ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 4096), b"erin-secret")])["erin"].result(30)
    for mechanism, user, pw in [("plain", "alice", "alice-secret"), ("scram-sha-512", "erin", "erin-secret")]:
        topic = unique("kjs")
        out = subprocess.run([node, str(NODE_DIR / "sasl_roundtrip.js"), sbroker.bootstrap, mechanism, user, pw, topic],
                             capture_output=True, timeout=90, text=True)
        result = json.loads(out.stdout.strip().splitlines()[-1])
        assert result == {"produced": 3, "consumed": ["v0", "v1", "v2"]}, (result, out.stderr[-2000:])
    out = subprocess.run([node, str(NODE_DIR / "sasl_roundtrip.js"), sbroker.bootstrap, "scram-sha-512", "erin",
                          "wrong", unique("kjs")], capture_output=True, timeout=90, text=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert out.returncode == 1 and "SASL" in result["error"], result


def test_three_brokers_replicate_over_sasl(strom_bin, tmp_path):
    """Replica fetchers authenticate to leaders on a SASL_PLAINTEXT inter-broker listener with
    sasl.mechanism.inter.broker.protocol and the listener's login module username/password."""
    from cluster import Cluster
    jaas = ('org.apache.kafka.common.security.plain.PlainLoginModule required username="broker" '
            'password="broker-secret" user_broker="broker-secret" user_alice="alice-secret";')
    c = Cluster(strom_bin, tmp_path / "cluster", size=3, overrides={
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,INTERNAL:SASL_PLAINTEXT",
        "inter.broker.listener.name": "INTERNAL",
        "sasl.enabled.mechanisms": "PLAIN",
        "sasl.mechanism.inter.broker.protocol": "PLAIN",
        "listener.name.internal.plain.sasl.jaas.config": jaas,
    }, extra_listeners=("INTERNAL",))
    try:
        c.start_formatted()
        bootstrap = c.nodes[1].bootstrap
        admin = AdminClient({"bootstrap.servers": bootstrap})
        topic = unique("repl")
        admin.create_topics([ck.admin.NewTopic(topic, 1, 3)])[topic].result(30)
        p = ck.Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5})
        errors = []
        for i in range(100):
            p.produce(topic, str(i).encode(), on_delivery=lambda e, m: e and errors.append(e))
        assert p.flush(60) == 0 and not errors, errors

        def full_isr():
            md = admin.list_topics(topic, timeout=10).topics[topic].partitions[0]
            return len(md.isrs) == 3
        wait_for(full_isr, 60, what="ISR of 3 over the SASL inter-broker listener")
        logs = "".join(n.log_text() for n in c.nodes.values())
        assert "principal=User:broker" in logs
    finally:
        c.cleanup()
