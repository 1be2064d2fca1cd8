"""Cost of SCRAM-SHA-512 logins on a broker, and a connect storm (not a test: run by hand).

    python tests/compat/bench_sasl.py STROM_BIN [CONNECTIONS]

Starts a broker with a SASL_PLAINTEXT listener, creates a SCRAM-SHA-512 user through
AlterUserScramCredentials (over PLAIN), then (1) logs in CONNECTIONS times one after the other
and (2) opens CONNECTIONS connections at once from 8 threads, each completing a SCRAM-SHA-512
login, while another connection times Metadata requests. The client's PBKDF2 is computed once
(the salt does not change), so the figures are the broker's side and the network. Prints wall
time per login, broker CPU per login (from /proc), and the Metadata latencies during the storm.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import kafka_wire as kw  # noqa: E402
from broker_process import Broker  # noqa: E402
from test_sasl import sasl_broker, handshake, authenticate  # noqa: E402

from confluent_kafka.admin import (AdminClient, ScramCredentialInfo, ScramMechanism,  # noqa: E402
                                   UserScramCredentialUpsertion)

SALTED: dict[bytes, bytes] = {}


def scram_login(b: Broker, user: str, password: str) -> kw.Connection:
    conn = kw.connect(b.host, b.port)
    assert handshake(conn, "SCRAM-SHA-512")[0] == 0
    cnonce = base64.b64encode(os.urandom(18)).decode().replace("+", "a").replace("/", "b")
    first_bare = f"n={user},r={cnonce}"
    code, _, server_first, _ = authenticate(conn, f"n,,{first_bare}".encode())
    assert code == 0, code
    attrs = dict(kv.split("=", 1) for kv in server_first.decode().split(","))
    salt = base64.b64decode(attrs["s"])
    if salt not in SALTED:
        SALTED[salt] = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, int(attrs["i"]))
    salted = SALTED[salt]
    client_key = hmac.new(salted, b"Client Key", "sha512").digest()
    stored = hashlib.sha512(client_key).digest()
    without_proof = f"c=biws,r={attrs['r']}"
    auth_message = f"{first_bare},{server_first.decode()},{without_proof}".encode()
    sig = hmac.new(stored, auth_message, "sha512").digest()
    proof = bytes(a ^ b for a, b in zip(client_key, sig))
    code, message, _, _ = authenticate(conn, f"{without_proof},p={base64.b64encode(proof).decode()}".encode())
    assert code == 0, message
    return conn


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    binary = Path(sys.argv[1])
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    with tempfile.TemporaryDirectory() as tmp:
        b = sasl_broker(binary, Path(tmp))
        try:
            admin = AdminClient({"bootstrap.servers": b.bootstrap, "security.protocol": "SASL_PLAINTEXT",
                                 "sasl.mechanism": "PLAIN", "sasl.username": "admin", "sasl.password": "admin-secret"})
            admin.alter_user_scram_credentials([UserScramCredentialUpsertion(
                "bench", ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 4096), b"bench-secret")])["bench"].result(30)
            scram_login(b, "bench", "bench-secret").close()  # the client's PBKDF2, once
            pid = b.proc.pid
            cpu0, t0 = cpu_s(pid), time.monotonic()
            for _ in range(n):
                scram_login(b, "bench", "bench-secret").close()
            wall, cpu = time.monotonic() - t0, cpu_s(pid) - cpu0
            print(f"sequential: {n} SCRAM-SHA-512 logins in {wall:.2f}s: {1000 * wall / n:.3f} ms wall, "
                  f"{1000 * cpu / n:.3f} ms broker CPU per login")

            probe = scram_login(b, "bench", "bench-secret")
            latencies: list[float] = []
            stop = threading.Event()

            def prober():
                while not stop.is_set():
                    s = time.monotonic()
                    probe.metadata_v4([], False)
                    latencies.append(time.monotonic() - s)
                    time.sleep(0.01)

            conns: list[kw.Connection] = []
            lock = threading.Lock()

            def storm(k: int):
                for _ in range(k):
                    c = scram_login(b, "bench", "bench-secret")
                    with lock:
                        conns.append(c)

            pt = threading.Thread(target=prober)
            pt.start()
            cpu0, t0 = cpu_s(pid), time.monotonic()
            threads = [threading.Thread(target=storm, args=(n // 8,)) for _ in range(8)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            wall, cpu = time.monotonic() - t0, cpu_s(pid) - cpu0
            stop.set()
            pt.join()
            latencies.sort()
            p = lambda q: 1000 * latencies[min(len(latencies) - 1, int(q * len(latencies)))]
            print(f"storm: {len(conns)} connections authenticated at once (8 threads) in {wall:.2f}s, "
                  f"{1000 * cpu / len(conns):.3f} ms broker CPU per login; Metadata on another connection "
                  f"meanwhile: {len(latencies)} requests, p50 {p(0.5):.2f} ms, p99 {p(0.99):.2f} ms, "
                  f"max {1000 * latencies[-1]:.2f} ms")
            assert all(c.metadata_v4([], False).brokers for c in conns[:50])
            for c in conns:
                c.close()
        finally:
            b.cleanup()


if __name__ == "__main__":
    main()
