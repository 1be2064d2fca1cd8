"""Every client over SASL_SSL with every SASL mechanism: kcat, confluent-kafka, kafka-python and
kafkajs authenticate with PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 and OAUTHBEARER (Kafka's unsecured
tokens) inside TLS, produce with acks=all and read back; the StandardAuthorizer then proves each
mechanism gave the right principal: each user may only use topics of its own prefix.

One broker serves the module: a PLAINTEXT listener (readiness, and the super user that creates
topics, SCRAM users and ACLs) beside a SASL_SSL listener; certificates are made with openssl.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import (AclBinding, AclOperation, AclPermissionType, AdminClient, NewTopic,
                                   ResourcePatternType, ResourceType, ScramCredentialInfo, ScramMechanism,
                                   UserScramCredentialUpsertion)

from broker_process import Broker, free_port
from clients import unique
from test_tls import make_ca, make_cert

NODE_DIR = Path(__file__).resolve().parent / "node"
TIMEOUT_S = 60
PLAIN_JAAS = ('org.apache.kafka.common.security.plain.PlainLoginModule required '
              'user_pat="pat-secret";')
# The user each mechanism authenticates as, and its password (OAUTHBEARER: the token's subject).
USERS = {"PLAIN": ("pat", "pat-secret"), "SCRAM-SHA-256": ("sam", "sam-secret"),
         "SCRAM-SHA-512": ("sara", "sara-secret"), "OAUTHBEARER": ("olivia", None)}
CLIENTS = ["confluent-kafka", "kcat", "kafka-python", "kafkajs"]


def unsecured_jwt(subject: str) -> str:
    enc = lambda d: base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()
    now = int(time.time())
    return f"{enc({'alg': 'none'})}.{enc({'sub': subject, 'iat': now, 'exp': now + 3600})}."


class Env:
    def __init__(self, broker: Broker, sasl_bootstrap: str, ca: Path):
        self.broker = broker
        self.sasl_bootstrap = sasl_bootstrap
        self.ca = ca

    def admin(self) -> AdminClient:
        return AdminClient({"bootstrap.servers": self.broker.bootstrap})

    def create_topic(self, topic: str) -> None:
        admin = self.admin()  # kept alive until the futures resolve
        for f in admin.create_topics([NewTopic(topic, 1, 1)]).values():
            f.result(timeout=30)

    def librdkafka(self, mechanism: str) -> dict[str, str]:
        user, password = USERS[mechanism]
        conf = {"security.protocol": "SASL_SSL", "ssl.ca.location": str(self.ca), "sasl.mechanism": mechanism}
        if mechanism == "OAUTHBEARER":
            conf.update({"enable.sasl.oauthbearer.unsecure.jwt": "true",
                         "sasl.oauthbearer.config": f"principal={user} lifeSeconds=3600"})
        else:
            conf.update({"sasl.username": user, "sasl.password": password})
        return conf


@pytest.fixture(scope="module")
def env(strom_bin, tmp_path_factory):
    assert shutil.which("openssl"), "openssl is not installed"
    pki = tmp_path_factory.mktemp("matrix-pki")
    make_ca(pki, "ca", "Strom Matrix CA")
    make_cert(pki, "broker", "/O=strom/CN=broker", "ca", server=True)
    b = Broker(strom_bin, tmp_path_factory.mktemp("matrix-broker"))
    sasl_bootstrap = f"127.0.0.1:{free_port()}"
    b.overrides.update({
        "listeners": f"PLAINTEXT://{b.bootstrap},SASL_SSL://{sasl_bootstrap}",
        "listener.name.sasl_ssl.ssl.keystore.type": "PEM",
        "listener.name.sasl_ssl.ssl.keystore.location": str(pki / "broker.pem"),
        "listener.name.sasl_ssl.sasl.enabled.mechanisms": ",".join(USERS),
        "listener.name.sasl_ssl.plain.sasl.jaas.config": PLAIN_JAAS,
        "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        # The PLAINTEXT listener's anonymous clients (readiness, the set-up below) are super users.
        "super.users": "User:ANONYMOUS",
    })
    b.start()
    try:
        e = Env(b, sasl_bootstrap, pki / "ca.pem")
        admin = e.admin()
        for mechanism, scram in (("SCRAM-SHA-256", ScramMechanism.SCRAM_SHA_256),
                                 ("SCRAM-SHA-512", ScramMechanism.SCRAM_SHA_512)):
            user, password = USERS[mechanism]
            admin.alter_user_scram_credentials([UserScramCredentialUpsertion(
                user, ScramCredentialInfo(scram, 4096), password.encode())])[user].result(30)
        acls = []
        for user, _ in USERS.values():
            acls.append(AclBinding(ResourceType.TOPIC, f"{user}-", ResourcePatternType.PREFIXED, f"User:{user}",
                                   "*", AclOperation.ALL, AclPermissionType.ALLOW))
            acls.append(AclBinding(ResourceType.GROUP, f"g-{user}-", ResourcePatternType.PREFIXED, f"User:{user}",
                                   "*", AclOperation.ALL, AclPermissionType.ALLOW))
        for f in admin.create_acls(acls).values():
            f.result(timeout=30)
        yield e
    finally:
        b.cleanup()


def roundtrip_confluent_kafka(env: Env, mechanism: str, topic: str) -> list[str]:
    env.create_topic(topic)
    conf = env.librdkafka(mechanism)
    p = Producer({"bootstrap.servers": env.sasl_bootstrap, "acks": "all", **conf})
    delivered: list = []
    for i in range(3):
        p.produce(topic, f"v{i}".encode(), partition=0, on_delivery=lambda err, msg: delivered.append(err))
    assert p.flush(30) == 0
    assert delivered == [None] * 3, delivered
    c = Consumer({"bootstrap.servers": env.sasl_bootstrap, "group.id": f"g-{topic}",
                  "enable.auto.commit": False, **conf})
    c.assign([TopicPartition(topic, 0, 0)])
    values: list[str] = []
    deadline = time.monotonic() + 30
    while len(values) < 3 and time.monotonic() < deadline:
        m = c.poll(0.5)
        if m is not None and m.error() is None:
            values.append(m.value().decode())
    c.close()
    return values


def roundtrip_kcat(env: Env, mechanism: str, topic: str) -> list[str]:
    env.create_topic(topic)
    props = [arg for key, value in env.librdkafka(mechanism).items() for arg in ("-X", f"{key}={value}")]
    produced = subprocess.run(["kcat", "-b", env.sasl_bootstrap, *props, "-X", "acks=all", "-P", "-t", topic,
                               "-p", "0"], input="v0\nv1\nv2\n", capture_output=True, text=True, timeout=TIMEOUT_S)
    assert produced.returncode == 0, produced.stderr
    consumed = subprocess.run(["kcat", "-b", env.sasl_bootstrap, *props, "-C", "-t", topic, "-p", "0",
                               "-o", "beginning", "-c", "3", "-e", "-q"],
                              capture_output=True, text=True, timeout=TIMEOUT_S)
    assert consumed.returncode == 0, consumed.stderr
    return consumed.stdout.split()


def roundtrip_kafka_python(env: Env, mechanism: str, topic: str) -> list[str]:
    from kafka import KafkaConsumer, KafkaProducer
    from kafka import TopicPartition as KpTopicPartition
    from kafka.net.sasl.oauth import AbstractTokenProvider

    env.create_topic(topic)
    user, password = USERS[mechanism]
    conf = dict(bootstrap_servers=env.sasl_bootstrap, security_protocol="SASL_SSL", ssl_cafile=str(env.ca),
                sasl_mechanism=mechanism)
    if mechanism == "OAUTHBEARER":
        class Unsecured(AbstractTokenProvider):
            def token(self):
                return unsecured_jwt(user)
        conf["sasl_oauth_token_provider"] = Unsecured()
    else:
        conf.update(sasl_plain_username=user, sasl_plain_password=password)
    p = KafkaProducer(acks="all", enable_idempotence=False, **conf)
    for i in range(3):
        p.send(topic, f"v{i}".encode(), partition=0).get(timeout=30)
    p.close(timeout=10)
    c = KafkaConsumer(group_id=None, enable_auto_commit=False, **conf)
    tp = KpTopicPartition(topic, 0)
    c.assign([tp])
    c.seek(tp, 0)
    values: list[str] = []
    deadline = time.monotonic() + 30
    while len(values) < 3 and time.monotonic() < deadline:
        for records in c.poll(timeout_ms=500).values():
            values.extend(r.value.decode() for r in records)
    c.close()
    return values


def roundtrip_kafkajs(env: Env, mechanism: str, topic: str) -> list[str]:
    node = shutil.which("node")
    assert node and (NODE_DIR / "node_modules" / "kafkajs").is_dir(), "kafkajs is not installed"
    user, password = USERS[mechanism]
    # OAUTHBEARER: the token stands where the password goes.
    secret = unsecured_jwt(user) if mechanism == "OAUTHBEARER" else password
    out = subprocess.run([node, str(NODE_DIR / "sasl_roundtrip.js"), env.sasl_bootstrap, mechanism.lower(), user,
                          secret, topic, str(env.ca)], capture_output=True, text=True, timeout=90)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result.get("produced") == 3, (result, out.stderr[-2000:])
    return result["consumed"]


ROUNDTRIPS = {"confluent-kafka": roundtrip_confluent_kafka, "kcat": roundtrip_kcat,
              "kafka-python": roundtrip_kafka_python, "kafkajs": roundtrip_kafkajs}


@pytest.mark.parametrize("mechanism", list(USERS))
@pytest.mark.parametrize("client", CLIENTS)
def test_every_client_with_every_mechanism_over_sasl_ssl(env, client, mechanism):
    user, _ = USERS[mechanism]
    # The topic carries the user's prefix: only the principal this mechanism names may use it.
    topic = unique(f"{user}-{client}")
    assert ROUNDTRIPS[client](env, mechanism, topic) == ["v0", "v1", "v2"]


@pytest.mark.parametrize("mechanism", list(USERS))
def test_each_mechanisms_principal_is_denied_another_users_topic(env, mechanism):
    other = next(u for m, (u, _) in USERS.items() if m != mechanism)
    topic = unique(f"{other}-denied")
    env.create_topic(topic)
    p = Producer({"bootstrap.servers": env.sasl_bootstrap, "message.timeout.ms": 8000,
                  **env.librdkafka(mechanism)})
    errors: list = []
    p.produce(topic, b"x", partition=0, on_delivery=lambda err, msg: errors.append(err))
    p.flush(20)
    assert len(errors) == 1 and errors[0] is not None, errors
    assert errors[0].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, errors[0]
    # Nothing was appended.
    low, high = Consumer({"bootstrap.servers": env.broker.bootstrap, "group.id": "probe"}).get_watermark_offsets(
        TopicPartition(topic, 0), timeout=10)
    assert (low, high) == (0, 0)
