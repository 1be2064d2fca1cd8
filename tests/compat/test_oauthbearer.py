"""OAUTHBEARER with signed JWTs (KIP-768): a SASL listener with Kafka's
OAuthBearerValidatorCallbackHandler checks each token's signature against a JWKS (a file, or
an HTTP endpoint served by the test) and its claims, with real clients (confluent-kafka's
oauth_cb and librdkafka's built-in OIDC client credentials flow, kafkajs'
oauthBearerProvider) and hand-made tokens on the wire. Keys are made by `openssl` here."""

from __future__ import annotations

import base64
import http.server
import json
import shutil
import subprocess
import threading
import time
from pathlib import Path

import confluent_kafka as ck
import pytest

import kafka_wire as kw
from broker_process import Broker, BrokerFailed
from clients import unique, wait_for
from test_sasl import (NODE_DIR, SASL_AUTHENTICATION_FAILED, authenticate, ck_roundtrip, handshake,
                       unsecured_jwt)
from test_tls import pki  # noqa: F401  (the module-scoped CA and certificates fixture)

VALIDATOR = "org.apache.kafka.common.security.oauthbearer.OAuthBearerValidatorCallbackHandler"
ISSUER = "https://idp.test"
AUDIENCE = "kafka"
ALLOWED_ENV = "STROM_SASL_OAUTHBEARER_ALLOWED_URLS"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Key:
    """A key pair made by openssl, its JWK, and tokens signed with it."""

    def __init__(self, workdir: Path, kid: str, kind: str = "RSA"):
        self.kid = kid
        self.kind = kind
        self.path = workdir / f"{kid}.pem"
        if kind == "RSA":
            subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
                            "-out", str(self.path)], check=True, capture_output=True)
            modulus = subprocess.run(["openssl", "rsa", "-in", str(self.path), "-noout", "-modulus"],
                                     check=True, capture_output=True, text=True).stdout.strip().split("=")[1]
            self.jwk = {"kty": "RSA", "kid": kid, "use": "sig", "n": b64(bytes.fromhex(modulus)), "e": "AQAB"}
        else:
            subprocess.run(["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", str(self.path)],
                           check=True, capture_output=True)
            der = subprocess.run(["openssl", "ec", "-in", str(self.path), "-pubout", "-outform", "DER"],
                                 check=True, capture_output=True).stdout
            point = der[-65:]
            assert point[0] == 4
            self.jwk = {"kty": "EC", "kid": kid, "crv": "P-256", "x": b64(point[1:33]), "y": b64(point[33:])}

    def token(self, sub: str = "alice", lifetime_s: int = 600, header: dict | None = None, **claims) -> str:
        now = int(time.time())
        body = {"sub": sub, "iss": ISSUER, "aud": AUDIENCE, "iat": now - 5, "exp": now + lifetime_s, **claims}
        body = {k: v for k, v in body.items() if v is not None}
        alg = "RS256" if self.kind == "RSA" else "ES256"
        head = {"alg": alg, "kid": self.kid, "typ": "JWT", **(header or {})}
        signing_input = f"{b64(json.dumps(head).encode())}.{b64(json.dumps(body).encode())}"
        sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", str(self.path)], input=signing_input.encode(),
                             check=True, capture_output=True).stdout
        if self.kind == "EC":
            sig = der_to_raw(sig, 32)
        return f"{signing_input}.{b64(sig)}"


def der_to_raw(der: bytes, size: int) -> bytes:
    """An ECDSA signature from openssl (DER SEQUENCE of two INTEGERs) as JWS wants it: r || s."""
    assert der[0] == 0x30
    i = 2 if der[1] < 0x80 else 3
    out = b""
    for _ in range(2):
        assert der[i] == 0x02
        n = der[i + 1]
        out += der[i + 2:i + 2 + n].lstrip(b"\0").rjust(size, b"\0")
        i += 2 + n
    return out


def jwks_doc(*keys: Key) -> bytes:
    return json.dumps({"keys": [k.jwk for k in keys]}).encode()


def oauth_broker(strom_bin: Path, workdir: Path, url: str, extra: dict[str, str] | None = None,
                 allowed: str | None = None) -> Broker:
    b = Broker(strom_bin, workdir, {
        "listener.security.protocol.map": "SASL_PLAINTEXT:SASL_PLAINTEXT",
        "sasl.enabled.mechanisms": "OAUTHBEARER",
        f"listener.name.sasl_plaintext.oauthbearer.sasl.server.callback.handler.class": VALIDATOR,
        "listener.name.sasl_plaintext.sasl.oauthbearer.jwks.endpoint.url": url,
        "sasl.oauthbearer.expected.audience": AUDIENCE,
        "sasl.oauthbearer.expected.issuer": ISSUER,
        "sasl.oauthbearer.jwks.endpoint.retry.backoff.ms": "100",
        "sasl.oauthbearer.jwks.endpoint.retry.backoff.max.ms": "500",
        "connection.failed.authentication.delay.ms": "100",
        **(extra or {}),
    }, env={ALLOWED_ENV: url if allowed is None else allowed})
    b.overrides["listeners"] = f"SASL_PLAINTEXT://{b.bootstrap}"
    b.start()
    return b


def wire_login(b: Broker, token: str) -> tuple[int, str | None, int]:
    """OAUTHBEARER on the wire: (error code, message, session lifetime). A refused token gets
    Kafka's JSON challenge first, then SASL_AUTHENTICATION_FAILED after the client's %x01."""
    with kw.connect(b.host, b.port) as conn:
        assert handshake(conn, "OAUTHBEARER")[0] == 0
        code, message, challenge, lifetime = authenticate(conn, f"n,,\x01auth=Bearer {token}\x01\x01".encode())
        if code == 0 and challenge:
            assert json.loads(challenge) == {"status": "invalid_token"}, challenge
            code, message, _, _ = authenticate(conn, b"\x01")
            assert conn.closed_by_peer(5)
        return code, message, lifetime


def ck_oauth_conf(b: Broker, token_fn) -> dict:
    return {"bootstrap.servers": b.bootstrap, "security.protocol": "SASL_PLAINTEXT",
            "sasl.mechanism": "OAUTHBEARER", "oauth_cb": lambda _cfg: (token_fn(), time.time() + 600)}


class JwksServer:
    """A JWKS (and OAuth token) endpoint on 127.0.0.1, in a thread: GET /jwks serves `keys`
    (or `status` when it is not 200); POST /token hands out `token_fn()` for the client
    credentials grant (or refuses with `token_status`), keeping each request's form and
    Authorization header. Counts the JWKS fetches."""

    def __init__(self, tls_dir: Path | None = None):
        self.keys: list[Key] = []
        self.status = 200
        self.fetches = 0
        self.token_requests: list[str] = []
        self.token_auth: list[str] = []
        self.token_status = 200
        self.token_fn = None
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send(self, status: int, body: bytes):
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                outer.fetches += 1
                if outer.status != 200:
                    self._send(outer.status, b'{"error": "unavailable"}')
                else:
                    self._send(200, jwks_doc(*outer.keys))

            def do_POST(self):
                length = int(self.headers.get("Content-Length", "0"))
                outer.token_requests.append(self.rfile.read(length).decode())
                outer.token_auth.append(self.headers.get("Authorization", ""))
                if outer.token_status != 200:
                    self._send(outer.token_status, b'{"error": "invalid_client"}')
                    return
                self._send(200, json.dumps({"access_token": outer.token_fn(), "token_type": "bearer",
                                            "expires_in": 600}).encode())

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        scheme = "http"
        if tls_dir is not None:
            import ssl
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(str(tls_dir / "broker.crt"), str(tls_dir / "broker.key"))
            self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
            scheme = "https"
        self.url = f"{scheme}://127.0.0.1:{self.httpd.server_address[1]}/jwks"
        self.token_url = f"{scheme}://127.0.0.1:{self.httpd.server_address[1]}/token"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def jwks_server():
    s = JwksServer()
    yield s
    s.close()


def test_jwks_file_real_clients_bad_tokens_and_rotation(strom_bin, tmp_path):
    k1 = Key(tmp_path, "k1")
    ec = Key(tmp_path, "ec1", kind="EC")
    other = Key(tmp_path, "k1-impostor")
    jwks = tmp_path / "jwks.json"
    jwks.write_bytes(jwks_doc(k1, ec))
    b = oauth_broker(strom_bin, tmp_path / "b", f"file://{jwks}")
    try:
        # confluent-kafka's oauth_cb with a signed token: produce and consume.
        topic = unique("oauth")
        good = ck_oauth_conf(b, lambda: k1.token("alice"))
        assert ck_roundtrip(b, topic, good, n=3) == [f"{topic}-{i}".encode() for i in range(3)]
        # An open producer that stays connected through the bad attempts below.
        p = ck.Producer({**good, "linger.ms": 0})
        p.produce(topic, b"before")
        assert p.flush(20) == 0

        # ES256 on the wire; the session lives as long as the token (KIP-368).
        code, _, lifetime = wire_login(b, ec.token("bob", lifetime_s=60))
        assert code == 0 and 50_000 < lifetime <= 60_000
        # Refused: expired (beyond the 30 s skew), signed by another key under k1's kid, unsigned,
        # wrong audience, wrong issuer, no iat, an HMAC token, an unknown kid.
        impostor = other.token("alice", header={"kid": "k1"})
        bad = {
            "expired": k1.token("alice", lifetime_s=-60),
            "other key": impostor,
            "unsigned": unsecured_jwt({"sub": "alice", "exp": int(time.time()) + 60, "iat": int(time.time())}),
            "audience": k1.token("alice", aud="someone-else"),
            "issuer": k1.token("alice", iss="https://evil.test"),
            "no iat": k1.token("alice", iat=None),
            "hs256": k1.token("alice", header={"alg": "HS256"}),
            "unknown kid": k1.token("alice", header={"kid": "nope"}),
        }
        for name, token in bad.items():
            code, message, _ = wire_login(b, token)
            assert code == SASL_AUTHENTICATION_FAILED, name
            assert json.loads(message) == {"status": "invalid_token"}, (name, message)
        # The broker's log says why, and never echoes a token.
        log = b.log_path.read_text(errors="replace")
        for reason in ["expired", "bad signature", "alg none", "wrong audience", "wrong issuer", "no iat claim",
                       "shared secret", "no key with the token's kid nope"]:
            assert reason in log, reason
        for token in bad.values():
            assert token not in log
            assert token.split(".")[2] == "" or token.split(".")[2] not in log

        # The good client is unaffected.
        p.produce(topic, b"after")
        assert p.flush(20) == 0

        # confluent-kafka with a refused token reports an authentication error.
        seen: list[ck.KafkaError] = []
        badp = ck.Producer({**ck_oauth_conf(b, lambda: impostor), "error_cb": seen.append})
        wait_for(lambda: (badp.poll(0.2), any(e.code() == ck.KafkaError._AUTHENTICATION for e in seen))[1],
                 timeout_s=20, what="authentication error")

        # Rotation: a new kid added to the file is picked up without a restart.
        k2 = Key(tmp_path, "k2")
        assert wire_login(b, k2.token("carol"))[0] == SASL_AUTHENTICATION_FAILED
        jwks.write_bytes(jwks_doc(k1, ec, k2))
        wait_for(lambda: wire_login(b, k2.token("carol"))[0] == 0, timeout_s=15, what="k2 accepted")
        # ... and k1, removed from the file, is no longer accepted.
        jwks.write_bytes(jwks_doc(k2))
        wait_for(lambda: wire_login(b, k1.token("alice"))[0] == SASL_AUTHENTICATION_FAILED, timeout_s=15,
                 what="k1 refused")

        # kafkajs' oauthBearerProvider.
        node = shutil.which("node")
        assert node and (NODE_DIR / "node_modules" / "kafkajs").is_dir()
        out = subprocess.run([node, str(NODE_DIR / "sasl_roundtrip.js"), b.bootstrap, "oauthbearer", "-",
                              k2.token("dave"), unique("oauthjs")], capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stdout + out.stderr
        assert json.loads(out.stdout.strip().splitlines()[-1]) == {"produced": 3, "consumed": ["v0", "v1", "v2"]}
        out = subprocess.run([node, str(NODE_DIR / "sasl_roundtrip.js"), b.bootstrap, "oauthbearer", "-",
                              k1.token("dave"), unique("oauthjs")], capture_output=True, text=True, timeout=120)
        # kafkajs does not answer the JSON challenge with %x01 (nor would it against Kafka): its
        # next request closes the connection, and it gives up.
        assert out.returncode == 1, out.stdout + out.stderr
        assert "error" in json.loads(out.stdout.strip().splitlines()[-1])
    finally:
        b.cleanup()


def test_jwks_over_http_recovers_and_refreshes_on_unknown_kid(strom_bin, tmp_path, jwks_server):
    k1 = Key(tmp_path, "k1")
    jwks_server.status = 503
    b = oauth_broker(strom_bin, tmp_path / "b", jwks_server.url)
    try:
        # The endpoint fails: the broker starts, refuses tokens and says why.
        code, _, _ = wire_login(b, k1.token())
        assert code == SASL_AUTHENTICATION_FAILED
        wait_for(lambda: "cannot load the JWKS: HTTP status HTTP/1.0 503" in b.log_path.read_text(errors="replace"), timeout_s=10,
                 what="the fetch failure logged")
        # It comes back: a retry (backoff 100 ms .. 500 ms) loads the keys.
        jwks_server.keys = [k1]
        jwks_server.status = 200
        wait_for(lambda: wire_login(b, k1.token())[0] == 0, timeout_s=15, what="k1 accepted")
        topic = unique("oauthhttp")
        assert ck_roundtrip(b, topic, ck_oauth_conf(b, lambda: k1.token("alice")), n=2) == \
            [f"{topic}-{i}".encode() for i in range(2)]

        # A token with a new kid makes the broker fetch again (refresh.ms is an hour here).
        k2 = Key(tmp_path, "k2")
        jwks_server.keys = [k1, k2]
        wait_for(lambda: wire_login(b, k2.token("erin"))[0] == 0, timeout_s=15, what="k2 accepted")
        # Unknown kids do not make it fetch at will: one early fetch per kid a minute.
        before = jwks_server.fetches
        for _ in range(10):
            assert wire_login(b, k1.token(header={"kid": "ghost"}))[0] == SASL_AUTHENTICATION_FAILED
        time.sleep(0.5)
        assert jwks_server.fetches - before <= 1, jwks_server.fetches - before

        # librdkafka's own OIDC client credentials flow against the test's token endpoint.
        jwks_server.token_fn = lambda: k2.token("svc-client")
        conf = {"bootstrap.servers": b.bootstrap, "security.protocol": "SASL_PLAINTEXT",
                "sasl.mechanism": "OAUTHBEARER", "sasl.oauthbearer.method": "oidc",
                "sasl.oauthbearer.client.id": "svc-client", "sasl.oauthbearer.client.secret": "s3cret",
                "sasl.oauthbearer.token.endpoint.url": jwks_server.token_url}
        topic = unique("oidc")
        assert ck_roundtrip(b, topic, conf, n=2) == [f"{topic}-{i}".encode() for i in range(2)]
        assert any("grant_type=client_credentials" in r for r in jwks_server.token_requests)
    finally:
        b.cleanup()


def test_startup_checks(strom_bin, tmp_path):
    jwks = tmp_path / "jwks.json"
    jwks.write_bytes(jwks_doc(Key(tmp_path, "k1")))
    url = f"file://{jwks}"
    # Not in the allowed URLs (Kafka 4 allows none by default): no start.
    with pytest.raises(BrokerFailed, match=ALLOWED_ENV):
        oauth_broker(strom_bin, tmp_path / "a", url, allowed="")
    # An unknown handler class: no start, and the message names the accepted ones.
    with pytest.raises(BrokerFailed, match="OAuthBearerValidatorCallbackHandler or"):
        oauth_broker(strom_bin, tmp_path / "c", url, extra={
            "listener.name.sasl_plaintext.oauthbearer.sasl.server.callback.handler.class": "com.example.Mine"})
    # Only the JWKS URL (Kafka would run its unsecured validator): every token is refused,
    # unsigned ones included.
    k1 = Key(tmp_path, "k1b")
    b = Broker(strom_bin, tmp_path / "d", {
        "listener.security.protocol.map": "SASL_PLAINTEXT:SASL_PLAINTEXT",
        "sasl.enabled.mechanisms": "OAUTHBEARER",
        "sasl.oauthbearer.jwks.endpoint.url": url,
        "connection.failed.authentication.delay.ms": "100",
    })
    b.overrides["listeners"] = f"SASL_PLAINTEXT://{b.bootstrap}"
    b.start()
    try:
        now = int(time.time())
        assert wire_login(b, unsecured_jwt({"sub": "a", "exp": now + 60, "iat": now}))[0] == SASL_AUTHENTICATION_FAILED
        assert wire_login(b, k1.token())[0] == SASL_AUTHENTICATION_FAILED
        assert "Strom refuses every OAUTHBEARER token on this listener" in b.log_path.read_text(errors="replace")
        # Before authentication a frame may be at most sasl.server.max.receive.size (512 KiB):
        # a token of 600 KB closes the connection; the same message under the limit is answered.
        for size, closed in [(600_000, True), (400_000, False)]:
            with kw.connect(b.host, b.port) as conn:
                assert handshake(conn, "OAUTHBEARER")[0] == 0
                token = b"n,,\x01auth=Bearer " + b"a" * size + b"\x01\x01"
                frame = kw.request_frame(36, 1, 9, kw.bytes_field(token))
                # Only the start of a frame that is too large: the size prefix is what counts.
                conn.send_raw(frame[:100] if closed else frame)
                assert conn.closed_by_peer(5) is closed, size
    finally:
        b.cleanup()


def test_jwks_over_https_trusts_the_listener_truststore(strom_bin, tmp_path, pki):  # noqa: F811
    server = JwksServer(tls_dir=pki)
    k1 = Key(tmp_path, "k1")
    server.keys = [k1]
    try:
        trusting = {"listener.name.sasl_plaintext.ssl.truststore.type": "PEM",
                    "listener.name.sasl_plaintext.ssl.truststore.location": str(pki / "ca.pem")}
        b = oauth_broker(strom_bin, tmp_path / "b", server.url, extra=trusting)
        try:
            wait_for(lambda: wire_login(b, k1.token())[0] == 0, timeout_s=15, what="k1 accepted over https")
            topic = unique("oauthtls")
            assert ck_roundtrip(b, topic, ck_oauth_conf(b, lambda: k1.token("alice")), n=2) == \
                [f"{topic}-{i}".encode() for i in range(2)]
        finally:
            b.cleanup()
        # A trust store without the endpoint's CA: the broker starts, refuses, and says why.
        rogue = {**trusting, "listener.name.sasl_plaintext.ssl.truststore.location": str(pki / "rogue-ca.pem")}
        b = oauth_broker(strom_bin, tmp_path / "c", server.url, extra=rogue)
        try:
            wait_for(lambda: "cannot load the JWKS: TLS handshake" in b.log_path.read_text(errors="replace"),
                     timeout_s=10, what="the TLS failure logged")
            assert wire_login(b, k1.token())[0] == SASL_AUTHENTICATION_FAILED
        finally:
            b.cleanup()
    finally:
        server.close()
