"""strom-client's OAUTHBEARER login. The `strom` CLI configured as Kafka's Java client is, in a
`--command-config` file: Kafka's default unsecured login (OAuthBearerLoginModule options) against
a broker with the unsecured validator, and the OAuth client credentials grant (KIP-768,
OAuthBearerLoginCallbackHandler) against a token endpoint served by the test, whose signed JWTs
the broker checks against the endpoint's JWKS; refused logins exit 1 and say why. And brokers
between themselves (`sasl.mechanism.inter.broker.protocol=OAUTHBEARER`): a three-node cluster
replicates a real client's acks=all records over an OAUTHBEARER inter-broker listener."""

from __future__ import annotations

import base64
import subprocess
from pathlib import Path
from urllib.parse import parse_qs

import pytest

from clients import unique
from cluster import Cluster
from test_oauthbearer import JwksServer, Key, oauth_broker
from test_quorum_security import replicate_acks_all
from test_sasl import sasl_broker

CLI_S = 60
LOGIN_MODULE = "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule"
LOGIN_HANDLER = "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginCallbackHandler"


def strom(b, cfg: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(b.binary), *args, "--bootstrap-server", b.bootstrap, "--command-config", str(cfg)],
                          input=stdin, capture_output=True, text=True, timeout=CLI_S)


def ok(out: subprocess.CompletedProcess) -> str:
    assert out.returncode == 0, f"exit {out.returncode}:\n{out.stdout}{out.stderr}"
    return out.stdout


def roundtrip(b, cfg: Path, topic: str) -> list[str]:
    ok(strom(b, cfg, "topics", "create", "--topic", topic, "--partitions", "1"))
    ok(strom(b, cfg, "produce", "--topic", topic, stdin="one\ntwo\nthree\n"))
    out = ok(strom(b, cfg, "consume", "--topic", topic, "--from-beginning", "--exit-at-end"))
    return out.split()


def test_unsecured_login_from_the_jaas_options(strom_bin, tmp_path):
    b = sasl_broker(strom_bin, tmp_path / "b")
    try:
        cfg = tmp_path / "client.properties"
        cfg.write_text(
            "security.protocol=SASL_PLAINTEXT\n"
            "sasl.mechanism=OAUTHBEARER\n"
            f"sasl.jaas.config={LOGIN_MODULE} required unsecuredLoginStringClaim_sub=\"alice\" "
            "unsecuredLoginLifetimeSeconds=\"600\";\n")
        topic = unique("cli-oauth")
        assert roundtrip(b, cfg, topic) == ["one", "two", "three"]
        assert topic in ok(strom(b, cfg, "topics", "list")).split()

        # No principal: the CLI says what to add before it connects.
        cfg.write_text(cfg.read_text().replace('unsecuredLoginStringClaim_sub="alice"', ""))
        out = strom(b, cfg, "topics", "list")
        assert out.returncode == 1 and "unsecuredLoginStringClaim_sub" in out.stderr, out.stderr
        # The principal claim renamed, and a token the broker refuses (no "sub"): its JSON reason.
        cfg.write_text(
            "security.protocol=SASL_PLAINTEXT\nsasl.mechanism=OAUTHBEARER\n"
            f"sasl.jaas.config={LOGIN_MODULE} required unsecuredLoginPrincipalClaimName=\"user\" "
            "unsecuredLoginStringClaim_user=\"alice\";\n")
        out = strom(b, cfg, "topics", "list")
        assert out.returncode == 1, out
        assert "SASL_AUTHENTICATION_FAILED" in out.stderr and "invalid_token" in out.stderr, out.stderr
    finally:
        b.cleanup()


def test_client_credentials_grant_against_a_token_endpoint(strom_bin, tmp_path):
    server = JwksServer()
    key = Key(tmp_path, "k1")
    server.keys = [key]
    b = oauth_broker(strom_bin, tmp_path / "b", server.url)
    try:
        server.token_fn = lambda: key.token("svc-cli")
        cfg = tmp_path / "client.properties"
        cfg.write_text(
            "security.protocol=SASL_PLAINTEXT\n"
            "sasl.mechanism=OAUTHBEARER\n"
            f"sasl.login.callback.handler.class={LOGIN_HANDLER}\n"
            f"sasl.oauthbearer.token.endpoint.url={server.token_url}\n"
            f"sasl.jaas.config={LOGIN_MODULE} required clientId=\"svc-cli\" clientSecret=\"s3cret:x\" "
            "scope=\"kafka write\";\n")
        topic = unique("cli-oidc")
        assert roundtrip(b, cfg, topic) == ["one", "two", "three"]
        # The grant as RFC 6749 has it: form fields, and the id and secret in basic authentication.
        form = parse_qs(server.token_requests[0])
        assert form == {"grant_type": ["client_credentials"], "scope": ["kafka write"]}, form
        assert server.token_auth[0] == "Basic " + base64.b64encode(b"svc-cli:s3cret:x").decode()
        # One command reuses its token across its connections.
        before = len(server.token_requests)
        ok(strom(b, cfg, "topics", "describe", "--topic", topic))
        assert len(server.token_requests) - before == 1

        # An expired token from the endpoint is refused by the broker: exit 1 with the reason.
        server.token_fn = lambda: key.token("svc-cli", lifetime_s=-60)
        out = strom(b, cfg, "topics", "list")
        assert out.returncode == 1 and "SASL_AUTHENTICATION_FAILED" in out.stderr, out.stderr
        # The endpoint refusing the client: its answer is in the message.
        server.token_status = 401
        out = strom(b, cfg, "topics", "list")
        assert out.returncode == 1 and "401" in out.stderr and "invalid_client" in out.stderr, out.stderr
        # The endpoint URL without Kafka's login handler: refused rather than sent unsigned.
        cfg.write_text(cfg.read_text().replace(f"sasl.login.callback.handler.class={LOGIN_HANDLER}\n", ""))
        out = strom(b, cfg, "topics", "list")
        assert out.returncode == 1 and "sasl.login.callback.handler.class" in out.stderr, out.stderr
    finally:
        b.cleanup()
        server.close()


@pytest.mark.timeout(300)
def test_brokers_replicate_over_an_oauthbearer_inter_broker_listener(strom_bin, tmp_path, request):
    from conftest import BROKERS_KEY
    jaas = f'{LOGIN_MODULE} required unsecuredLoginStringClaim_sub="broker";'
    c = Cluster(strom_bin, tmp_path / "cluster", 3, {
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,INTERNAL:SASL_PLAINTEXT",
        "inter.broker.listener.name": "INTERNAL",
        "sasl.mechanism.inter.broker.protocol": "OAUTHBEARER",
        "listener.name.internal.sasl.enabled.mechanisms": "OAUTHBEARER",
        "listener.name.internal.oauthbearer.sasl.jaas.config": jaas,
    }, extra_listeners=("INTERNAL",))
    request.node.stash[BROKERS_KEY] = list(c.nodes.values())
    try:
        c.start_formatted()
        replicate_acks_all(c, unique("ib-oauth"), 30)
        logs = "".join(n.log_text() for n in c.nodes.values())
        assert "inter-broker OAUTHBEARER" not in logs, logs[-3000:]
    finally:
        c.cleanup()
