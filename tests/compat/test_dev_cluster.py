"""`strom dev-cluster`, `strom storage` and the start-up checks of meta.properties, with real processes.

dev-cluster runs with one node here (the multi-voter quorum is tested on its own); the test
goes through the printed bootstrap string with a real client, stops the cluster with SIGINT as
Ctrl-C would, checks that every node process is gone, and starts it again from the same
directory to find the same cluster and its data.
"""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from broker_process import free_port
from clients import assert_delivered, consume, create_topic, produce_all, producer, unique, values

START_DEADLINE_S = 60.0
STOP_DEADLINE_S = 45.0
BOOTSTRAP_LINE = re.compile(r"cluster (\S+) is up: bootstrap servers (\S+)")


def children_of(pid: int) -> list[int]:
    """Processes whose parent is `pid`, from /proc."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may hold spaces, so split after its closing parenthesis.
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[1]) == pid:
            out.append(int(entry))
    return out


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return state[state.rindex(")") + 2:].split()[0] != "Z"


class DevCluster:
    """One `strom dev-cluster` process; its stdout lines are collected by a thread."""

    def __init__(self, binary: Path, directory: Path, base_port: int, log_path: Path, nodes: int = 1):
        self.log_path = log_path
        self.lines: queue.Queue[str] = queue.Queue()
        self.stdout: list[str] = []
        self.log = open(log_path, "ab")
        self.proc = subprocess.Popen(
            [str(binary), "dev-cluster", "--nodes", str(nodes), "--dir", str(directory),
             "--base-port", str(base_port)],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self.log,
            env={**os.environ, "NO_COLOR": "1"}, start_new_session=True,
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            line = raw.decode(errors="replace").rstrip("\n")
            self.stdout.append(line)
            self.lines.put(line)

    def wait_up(self) -> tuple[str, str]:
        """(cluster id, bootstrap) from the line printed once every node listens."""
        deadline = time.monotonic() + START_DEADLINE_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"dev-cluster exited with {self.proc.returncode} before it was up\n{self.log_tail()}")
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                continue
            m = BOOTSTRAP_LINE.search(line)
            if m:
                return m.group(1), m.group(2)
        pytest.fail(f"dev-cluster printed no bootstrap servers within {START_DEADLINE_S}s\n{self.log_tail()}")

    def stop(self, sig: int) -> int:
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=STOP_DEADLINE_S)
        finally:
            self.log.close()

    def cleanup(self) -> None:
        if self.proc.poll() is None:
            for child in children_of(self.proc.pid):
                os.kill(child, signal.SIGKILL)
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=STOP_DEADLINE_S)
        if not self.log.closed:
            self.log.close()

    def log_tail(self, lines: int = 60) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


@pytest.fixture
def dev_clusters():
    started: list[DevCluster] = []
    yield started
    for c in started:
        c.cleanup()


def strom(binary: Path, *args: str, timeout_s: float = 30.0) -> subprocess.CompletedProcess:
    return subprocess.run([str(binary), *args], capture_output=True, text=True, timeout=timeout_s,
                          env={**os.environ, "NO_COLOR": "1"})


def test_dev_cluster_serves_clients_stops_on_sigint_and_restarts_from_its_directory(strom_bin, tmp_path, dev_clusters):
    base_port = free_port()
    directory = tmp_path / "cluster"
    log_path = tmp_path / "dev-cluster.log"

    first = DevCluster(strom_bin, directory, base_port, log_path)
    dev_clusters.append(first)
    cluster_id, bootstrap = first.wait_up()
    assert bootstrap == f"127.0.0.1:{base_port}"
    assert len(cluster_id) == 22
    # Each node serves its metrics and health on the port after its controller's.
    metrics_url = f"http://127.0.0.1:{base_port + 2}/metrics"
    deadline = time.monotonic() + 5
    while f"[dev-cluster] metrics: {metrics_url}" not in first.stdout and time.monotonic() < deadline:
        time.sleep(0.05)
    assert f"[dev-cluster] metrics: {metrics_url}" in first.stdout, first.stdout
    with urllib.request.urlopen(metrics_url, timeout=10) as r:
        assert "kafka_controller_kafkacontroller_activecontrollercount" in r.read().decode()

    topic = unique("dev-cluster")
    create_topic(bootstrap, topic)
    sent = [f"record-{i}".encode() for i in range(200)]
    reports = produce_all(producer(bootstrap, acks="all"), topic, [{"value": v} for v in sent])
    assert_delivered(reports)
    assert [d.offset for d in reports] == list(range(200))
    assert values(consume(bootstrap, topic)) == sent

    nodes = children_of(first.proc.pid)
    assert len(nodes) == 1, f"one strom server per node, found {nodes}"
    assert first.stop(signal.SIGINT) == 0, first.log_tail()
    assert not [p for p in nodes if alive(p)], f"node processes still running after dev-cluster exited: {nodes}"
    log = log_path.read_text(errors="replace")
    assert "[node 1] " in log, log[-2000:]
    assert "node 1 stopped" in log, log[-2000:]

    # What a user finds and can reuse: a readable server.properties and a formatted directory.
    properties = (directory / "node-1" / "server.properties").read_text()
    for line in ["process.roles=broker,controller", "node.id=1",
                 f"controller.quorum.voters=1@127.0.0.1:{base_port + 1}",
                 f"listeners=PLAINTEXT://127.0.0.1:{base_port},CONTROLLER://127.0.0.1:{base_port + 1}",
                 "controller.listener.names=CONTROLLER"]:
        assert line in properties.splitlines(), properties
    meta = (directory / "node-1" / "data" / "meta.properties").read_text()
    assert f"cluster.id={cluster_id}" in meta.splitlines() and "node.id=1" in meta.splitlines(), meta
    info = strom(strom_bin, "storage", "info", "--config", str(directory / "node-1" / "server.properties"))
    assert info.returncode == 0, info.stdout + info.stderr
    assert f"cluster.id={cluster_id}" in info.stdout, info.stdout

    second = DevCluster(strom_bin, directory, base_port, log_path)
    dev_clusters.append(second)
    again_id, again_bootstrap = second.wait_up()
    assert (again_id, again_bootstrap) == (cluster_id, bootstrap)
    assert values(consume(bootstrap, topic)) == sent
    assert second.stop(signal.SIGTERM) == 0, second.log_tail()


def test_a_node_that_dies_is_reported_and_makes_the_exit_status_non_zero(strom_bin, tmp_path, dev_clusters):
    base_port = free_port()
    cluster = DevCluster(strom_bin, tmp_path / "cluster", base_port, tmp_path / "dev-cluster.log")
    dev_clusters.append(cluster)
    cluster.wait_up()
    [node] = children_of(cluster.proc.pid)
    os.kill(node, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while "node 1 exited on its own" not in cluster.log_tail() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "node 1 exited on its own" in cluster.log_tail(), cluster.log_tail()
    # With no node left, dev-cluster ends by itself, and says the cluster failed.
    assert cluster.proc.wait(timeout=STOP_DEADLINE_S) != 0


def cluster_properties(path: Path, data: Path, node_id: int = 1) -> Path:
    port = free_port()
    path.write_text(
        "process.roles=broker,controller\n"
        f"node.id={node_id}\n"
        f"controller.quorum.voters=1@127.0.0.1:{port + 1},2@127.0.0.1:{port + 101},3@127.0.0.1:{port + 201}\n"
        f"listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{port + 1}\n"
        "controller.listener.names=CONTROLLER\n"
        f"log.dirs={data}\n"
    )
    return path


def test_storage_format_then_server_start_checks(strom_bin, tmp_path):
    data = tmp_path / "data"
    config = cluster_properties(tmp_path / "server.properties", data)

    # A node of a 3-voter cluster does not invent a cluster id of its own.
    refused = strom(strom_bin, "server", str(config))
    assert refused.returncode != 0
    assert "no `meta.properties` found in" in refused.stderr and "strom storage format" in refused.stderr, refused.stderr
    assert not (data / "__cluster_metadata-0").exists(), "the quorum must not start on an unformatted node"

    uuid = strom(strom_bin, "storage", "random-uuid")
    cluster_id = uuid.stdout.strip()
    assert uuid.returncode == 0 and re.fullmatch(r"[A-Za-z0-9_-]{22}", cluster_id), uuid.stdout

    formatted = strom(strom_bin, "storage", "format", "--cluster-id", cluster_id, "--config", str(config))
    assert formatted.returncode == 0, formatted.stderr
    assert f"Formatting metadata directory {data} with cluster.id {cluster_id}, node.id 1" in formatted.stdout
    meta = dict(line.split("=", 1) for line in (data / "meta.properties").read_text().splitlines()
                if "=" in line and not line.startswith("#"))
    assert (meta["version"], meta["node.id"], meta["cluster.id"]) == ("1", "1", cluster_id)
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", meta["directory.id"])

    again = strom(strom_bin, "storage", "format", "-t", cluster_id, "-c", str(config))
    assert again.returncode != 0 and "already formatted" in again.stderr and "--ignore-formatted" in again.stderr
    ignored = strom(strom_bin, "storage", "format", "-t", cluster_id, "-c", str(config), "--ignore-formatted")
    assert ignored.returncode == 0 and "All of the log directories are already formatted." in ignored.stdout

    other = strom(strom_bin, "storage", "random-uuid").stdout.strip()
    wrong = strom(strom_bin, "storage", "format", "-t", other, "-c", str(config), "--ignore-formatted")
    assert wrong.returncode != 0 and other in wrong.stderr and cluster_id in wrong.stderr, wrong.stderr

    # The same directory under another node id, or with strom.cluster.id naming another cluster,
    # refuses to start (single-node configurations, so nothing else stops them).
    port = free_port()
    single = ["server", "--override", f"listeners=PLAINTEXT://127.0.0.1:{port}", "--override", f"log.dirs={data}"]
    node = strom(strom_bin, *single, "--override", "node.id=2")
    assert node.returncode != 0 and "node.id=1" in node.stderr and "node.id=2" in node.stderr, node.stderr
    cluster = strom(strom_bin, *single, "--override", f"strom.cluster.id={other}")
    assert cluster.returncode != 0 and other in cluster.stderr and cluster_id in cluster.stderr, cluster.stderr
    assert str(data) in cluster.stderr
