"""`strom storage format --add-scram`, as Kafka's `kafka-storage.sh format --add-scram`: credentials
given at format time are in the metadata at the first start, so confluent-kafka and kcat
authenticate with SCRAM-SHA-256 and SCRAM-SHA-512 without any user ever created over the wire;
a wrong password is refused; wrong syntax gets Kafka's message and formats nothing.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from broker_process import Broker, free_port
from clients import unique
from test_sasl import ck_auth_error, ck_roundtrip

MECHANISMS = "SCRAM-SHA-256,SCRAM-SHA-512"


def strom(binary: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(binary), *args], capture_output=True, text=True, timeout=60)


def properties_file(b: Broker, path: Path) -> Path:
    path.write_text("".join(f"{k}={v}\n" for k, v in b.overrides.items()))
    return path


def test_add_scram_credentials_authenticate_from_the_first_start(strom_bin, tmp_path, request):
    from conftest import BROKERS_KEY
    b = Broker(strom_bin, tmp_path / "scram")
    request.node.stash[BROKERS_KEY] = [b]
    sasl_port = free_port()
    sasl_bootstrap = f"127.0.0.1:{sasl_port}"
    b.overrides.update({
        "listeners": f"PLAINTEXT://{b.bootstrap},SASL_PLAINTEXT://{sasl_bootstrap}",
        "sasl.enabled.mechanisms": MECHANISMS,
    })
    config = properties_file(b, tmp_path / "server.properties")
    cluster_id = strom(strom_bin, "storage", "random-uuid").stdout.strip()

    # Wrong syntax: Kafka's message, exit status 1, nothing formatted.
    bad = strom(strom_bin, "storage", "format", f"--cluster-id={cluster_id}", "--config", str(config),
                "--add-scram", "SCRAM-SHA-256=[name=alice]")
    assert bad.returncode != 0
    assert "You must supply one of 'password' or 'saltedpassword' to add-scram" in bad.stderr, bad.stderr
    bad = strom(strom_bin, "storage", "format", f"--cluster-id={cluster_id}", "--config", str(config),
                "--add-scram", "SCRAM-SHA-1=[name=alice,password=x]")
    assert "The add-scram mechanism SCRAM-SHA-1 is not supported." in bad.stderr, bad.stderr
    assert not (b.data_dir / "meta.properties").exists()

    done = strom(strom_bin, "storage", "format", f"--cluster-id={cluster_id}", "--config", str(config),
                 "--add-scram", "SCRAM-SHA-256=[name=alice,password=alice-secret]",
                 "-S", "SCRAM-SHA-512=[name=bob,password=\"bob-secret\",iterations=8192]")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Wrote 2 SCRAM credential(s)" in done.stdout, done.stdout
    try:
        b.start()

        def conf(mechanism: str, user: str, password: str) -> dict:
            return {"bootstrap.servers": sasl_bootstrap, "security.protocol": "SASL_PLAINTEXT",
                    "sasl.mechanism": mechanism, "sasl.username": user, "sasl.password": password}

        topic = unique("bootstrap-scram")
        got = ck_roundtrip(b, topic, conf("SCRAM-SHA-256", "alice", "alice-secret"), n=5)
        assert got == [f"{topic}-{i}".encode() for i in range(5)]
        topic512 = unique("bootstrap-scram-512")
        assert len(ck_roundtrip(b, topic512, conf("SCRAM-SHA-512", "bob", "bob-secret"), n=3)) == 3
        # A wrong password, and a user under the other mechanism, are refused.
        ck_auth_error(conf("SCRAM-SHA-256", "alice", "wrong"))
        ck_auth_error(conf("SCRAM-SHA-256", "bob", "bob-secret"))
        # kcat reads what confluent-kafka wrote, as bob over SCRAM-SHA-512.
        assert shutil.which("kcat"), "kcat is not installed"
        out = subprocess.run(["kcat", "-b", sasl_bootstrap, "-C", "-t", topic, "-o", "beginning", "-e", "-q",
                              "-X", "security.protocol=SASL_PLAINTEXT", "-X", "sasl.mechanism=SCRAM-SHA-512",
                              "-X", "sasl.username=bob", "-X", "sasl.password=bob-secret"],
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        assert out.stdout.split() == [f"{topic}-{i}" for i in range(5)]
        assert "wrote the bootstrap records" in (b.log_path.read_text())
        # A restart does not write them again (the metadata is no longer new).
        b.restart()
        assert b.log_path.read_text().count("wrote the bootstrap records") == 1
        assert len(ck_roundtrip(b, unique("after-restart"), conf("SCRAM-SHA-256", "alice", "alice-secret"), n=1)) == 1
    finally:
        b.cleanup()
