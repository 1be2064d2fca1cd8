"""A cluster of `strom server` processes, each started from its own server.properties, as an operator would.

`Cluster` writes one property file per node (`process.roles=broker,controller`, `node.id`, the static
`controller.quorum.voters`, a client and a controller listener, `log.dirs`, optionally `broker.rack`
and any extra keys), formats every node with one cluster id (`strom storage format`), starts them,
and waits until each client port answers Metadata listing the expected brokers. A node can then be
killed (SIGKILL), paused (SIGSTOP / SIGCONT), stopped (SIGTERM) and started again.

The active controller is asked for, not guessed: DescribeQuorum (API key 55) through any broker
when the broker advertises it; otherwise each node's `quorum-state` file (the Raft vote it fsyncs:
a committed vote names the leader of its term) is read, and the leader of the highest committed
term that a majority of the running nodes agree on is taken. Every wait has a deadline.

Nodes may run inside network namespaces (test_cluster.py's partition test): a node's `netns`
prefixes its command with `ip netns exec`, and its `host` is its address on the bridge.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import struct
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import kafka_wire as kw

API_DESCRIBE_QUORUM = 55
API_DESCRIBE_CLUSTER = 60
METADATA_TOPIC = "__cluster_metadata"
START_DEADLINE_S = float(os.environ.get("STROM_CLUSTER_START_TIMEOUT", "60"))
STOP_DEADLINE_S = 30.0


class ClusterFailed(RuntimeError):
    """A node did not start, stop, or reach the state asked for; the message carries log tails."""


@dataclass
class BrokerInfo:
    node_id: int
    host: str
    port: int
    rack: str | None


@dataclass
class ClusterMetadata:
    """Metadata v4 as one broker answers it: live brokers, controller id, topics (kafka_wire's)."""
    brokers: dict[int, BrokerInfo]
    cluster_id: str | None
    controller_id: int
    topics: dict[str, kw.MetadataTopic]


def parse_metadata_v4(body: bytes) -> ClusterMetadata:
    """Metadata v4 as kafka_wire.parse_metadata_v4 reads it, keeping each broker's rack."""
    r = kw.Reader(body)
    r.i32()  # throttle_time_ms
    brokers = r.array(lambda r: BrokerInfo(r.i32(), r.string(), r.i32(), r.string())) or []
    cluster_id = r.string()
    controller_id = r.i32()

    def partition(r: kw.Reader) -> kw.MetadataPartition:
        error_code, index, leader = r.i16(), r.i32(), r.i32()
        return kw.MetadataPartition(error_code, index, leader, r.array(kw.Reader.i32) or [],
                                    r.array(kw.Reader.i32) or [])

    def topic(r: kw.Reader) -> kw.MetadataTopic:
        error_code, name = r.i16(), r.string()
        r.i8()  # is_internal
        return kw.MetadataTopic(error_code, name, r.array(partition) or [])

    topics = r.array(topic) or []
    return ClusterMetadata({b.node_id: b for b in brokers}, cluster_id, controller_id, {t.name: t for t in topics})


@dataclass
class QuorumInfo:
    """DescribeQuorum's partition of __cluster_metadata: leader, its epoch, voters and observers."""
    error_code: int
    leader_id: int
    leader_epoch: int
    high_watermark: int
    voters: list[int]
    observers: list[int]


def _compact_array(items: list[bytes]) -> bytes:
    return kw.uvarint(len(items) + 1) + b"".join(items)


def _read_uvarint(r: kw.Reader) -> int:
    shift = value = 0
    while True:
        byte = r.take(1)[0]
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value
        shift += 7


def _skip_tags(r: kw.Reader) -> None:
    for _ in range(_read_uvarint(r)):
        _read_uvarint(r)  # tag
        r.take(_read_uvarint(r))


def _compact_string(r: kw.Reader) -> str | None:
    n = _read_uvarint(r)
    return None if n == 0 else r.take(n - 1).decode()


def _compact_items(r: kw.Reader, item) -> list:
    n = _read_uvarint(r)
    return [] if n == 0 else [item(r) for _ in range(n - 1)]


def describe_quorum(conn: kw.Connection, version: int) -> QuorumInfo:
    """DescribeQuorum v0-v2 (flexible from v0) for __cluster_metadata-0."""
    body = (_compact_array([kw.compact_string(METADATA_TOPIC)
                            + _compact_array([kw.i32(0) + kw.uvarint(0)]) + kw.uvarint(0)])
            + kw.uvarint(0))
    r = kw.Reader(conn.request(API_DESCRIBE_QUORUM, version, body, flexible_header=True))
    _skip_tags(r)  # response header v1
    top_error = r.i16()
    if version >= 2:
        _compact_string(r)

    def replica(r: kw.Reader) -> int:
        replica_id = r.i32()
        if version >= 2:
            r.take(16)  # directory id
        r.i64()  # log end offset
        if version >= 1:
            r.i64(), r.i64()  # last fetch, last caught up
        _skip_tags(r)
        return replica_id

    def partition(r: kw.Reader) -> QuorumInfo:
        r.i32()  # partition index
        error_code = r.i16()
        if version >= 2:
            _compact_string(r)
        leader_id, leader_epoch, hw = r.i32(), r.i32(), r.i64()
        voters = _compact_items(r, replica)
        observers = _compact_items(r, replica)
        _skip_tags(r)
        return QuorumInfo(error_code, leader_id, leader_epoch, hw, voters, observers)

    def topic(r: kw.Reader) -> list[QuorumInfo]:
        _compact_string(r)
        parts = _compact_items(r, partition)
        _skip_tags(r)
        return parts

    topics = _compact_items(r, topic)
    if top_error != 0:
        return QuorumInfo(top_error, -1, -1, -1, [], [])
    [[info]] = topics
    return info


def describe_cluster_v0(conn: kw.Connection) -> tuple[int, int, dict[int, BrokerInfo]]:
    """DescribeCluster v0 (flexible): (error code, controller id, brokers)."""
    body = kw.i8(0) + kw.uvarint(0)  # include_cluster_authorized_operations=false, tags
    r = kw.Reader(conn.request(API_DESCRIBE_CLUSTER, 0, body, flexible_header=True))
    _skip_tags(r)
    r.i32()  # throttle
    error_code = r.i16()
    _compact_string(r)  # error message
    _compact_string(r)  # cluster id
    controller_id = r.i32()

    def broker(r: kw.Reader) -> BrokerInfo:
        b = BrokerInfo(r.i32(), _compact_string(r), r.i32(), _compact_string(r))
        _skip_tags(r)
        return b

    brokers = _compact_items(r, broker)
    return error_code, controller_id, {b.node_id: b for b in brokers}


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = map(int, Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
        return low, high
    except (OSError, ValueError):
        return 32768, 60999


def listen_port(taken: set[int]) -> int:
    """A free 127.0.0.1 port outside the ephemeral range. While a node is stopped, any outgoing
    connection on the machine (its peers reconnecting every few hundred ms, clients, other tests)
    may get its port in that range as a source port, and the node cannot listen again ("Address
    already in use"; seen once in a test that restarts two nodes after 30 s)."""
    low, high = _ephemeral_range()
    span = (10000, low) if low - 10000 >= 2000 else (high + 1, 65536)
    for _ in range(1000):
        port = random.randrange(*span)
        if port in taken:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        taken.add(port)
        return port
    raise ClusterFailed(f"no free port in {span}")


# -- one node --------------------------------------------------------------------------------------------


@dataclass
class Node:
    node_id: int
    host: str
    client_port: int
    controller_port: int
    workdir: Path
    rack: str | None = None
    netns: str | None = None
    properties: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen | None = None
    starts: int = 0
    stopped: bool = False  # SIGSTOPped

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.client_port}"

    @property
    def data_dir(self) -> Path:
        return self.workdir / "data"

    @property
    def config_path(self) -> Path:
        return self.workdir / "server.properties"

    @property
    def log_path(self) -> Path:
        return self.workdir / "server.log"

    def write_properties(self) -> None:
        """Writes `properties` to the node's server.properties (read at its next start)."""
        self.config_path.write_text("".join(f"{k}={v}\n" for k, v in self.properties.items()))

    def segment_bytes(self, topic: str, partition: int = 0) -> bytes:
        """Every segment file of one partition's log, concatenated (to look for record bytes)."""
        d = self.data_dir / f"{topic}-{partition}"
        return b"".join(p.read_bytes() for p in sorted(d.glob("*.log")))

    def prefix(self) -> list[str]:
        return ["ip", "netns", "exec", self.netns] if self.netns else []

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def launch(self, binary: Path) -> None:
        """Start the process (no waiting: a node of a cluster answers clients only once the quorum
        has a leader and the controller has unfenced it)."""
        if self.running():
            raise ClusterFailed(f"node {self.node_id} is already running")
        self.starts += 1
        self.stopped = False
        cmd = [*self.prefix(), str(binary), "server", str(self.config_path)]
        with open(self.log_path, "ab") as log:
            log.write(f"\n===== start #{self.starts}: {' '.join(cmd)}\n".encode())
            log.flush()
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                         cwd=self.workdir, env={**os.environ, "NO_COLOR": "1"},
                                         start_new_session=True)

    def signal(self, sig: int) -> None:
        if not self.running():
            raise ClusterFailed(f"node {self.node_id} is not running (signal {sig})\n{self.log_tail()}")
        self.proc.send_signal(sig)

    def kill9(self) -> None:
        if self.running():
            self.proc.kill()
            self.proc.wait(timeout=STOP_DEADLINE_S)
        self.stopped = False

    def sigstop(self) -> None:
        self.signal(signal.SIGSTOP)
        self.stopped = True

    def sigcont(self) -> None:
        self.signal(signal.SIGCONT)
        self.stopped = False

    def stop(self, deadline_s: float = STOP_DEADLINE_S) -> int:
        """SIGTERM (a controlled shutdown); the exit status, or ClusterFailed if it does not exit in time."""
        if not self.running():
            return self.proc.returncode if self.proc else 0
        if self.stopped:
            self.sigcont()
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=deadline_s)
        except subprocess.TimeoutExpired:
            self.kill9()
            raise ClusterFailed(f"node {self.node_id} ignored SIGTERM for {deadline_s}s\n{self.log_tail()}")

    def cleanup(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(timeout=STOP_DEADLINE_S)

    def connect(self, timeout_s: float = 2.0) -> kw.Connection:
        return kw.connect(self.host, self.client_port, timeout_s=timeout_s)

    def metadata(self, topics: list[str] | None = None, timeout_s: float = 5.0) -> ClusterMetadata:
        """Metadata v4 from this node (all topics by default; never auto-creates)."""
        body = kw.array(None if topics is None else [kw.string(t) for t in topics]) + kw.i8(0)
        with self.connect(timeout_s) as conn:
            return parse_metadata_v4(conn.request(kw.API_METADATA, 4, body))

    def api_versions(self) -> dict[int, tuple[int, int]]:
        with self.connect() as conn:
            return conn.api_versions_v0().api_keys

    def quorum_vote(self) -> tuple[int, int, bool] | None:
        """(term, voted-for node, committed) from this node's quorum-state file, if it has one."""
        path = self.data_dir / f"{METADATA_TOPIC}-0" / "quorum-state"
        try:
            raw = path.read_bytes()
        except OSError:
            return None
        if len(raw) < 8:
            return None
        (length,) = struct.unpack(">I", raw[:4])
        try:
            state = json.loads(raw[8:8 + length])
        except ValueError:
            return None  # caught mid-rewrite (it is replaced atomically, so unlikely)
        vote = state.get("vote")
        if not vote:
            return None
        leader = vote["leader_id"]
        return leader["term"], leader["node_id"], bool(vote.get("committed"))

    def rss_kib(self) -> int:
        """Resident memory of the running process (VmRSS), in KiB."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise ClusterFailed(f"no VmRSS for node {self.node_id}")

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = 40) -> str:
        tail = self.log_text().splitlines()[-lines:]
        return f"--- node {self.node_id}: last {len(tail)} lines of {self.log_path} ---\n" + "\n".join(tail)


# -- the cluster -----------------------------------------------------------------------------------------


class Cluster:
    """N combined broker+controller nodes (with `controllers`, nodes above that id are brokers only,
    following the quorum of the others). `overrides` go into every property file, `per_node[id]`
    into one; `hosts[id]` (default 127.0.0.1) and `netns[id]` place a node elsewhere.
    `extra_listeners` names listeners every node also serves (e.g. INTERNAL), each on a port of
    its own taken with the others'; map their security protocols through `overrides`."""

    def __init__(self, binary: Path, workdir: Path, size: int = 3, overrides: dict[str, str] | None = None,
                 per_node: dict[int, dict[str, str]] | None = None, racks: bool = True,
                 hosts: dict[int, str] | None = None, netns: dict[int, str] | None = None,
                 controllers: int | None = None, extra_listeners: tuple[str, ...] = ()):
        self.binary = Path(binary)
        self.workdir = workdir
        self.nodes: dict[int, Node] = {}
        ports: set[int] = set()

        def port() -> int:
            return listen_port(ports)

        for i in range(1, size + 1):
            host = (hosts or {}).get(i, "127.0.0.1")
            in_ns = (netns or {}).get(i)  # a namespace of its own: Kafka's usual ports
            node = Node(i, host, 9092 if in_ns else port(), 9093 if in_ns else port(),
                        workdir / f"node-{i}", rack=f"rack-{i}" if racks else None, netns=in_ns)
            node.workdir.mkdir(parents=True, exist_ok=True)
            self.nodes[i] = node
        controllers = controllers or size
        voters = ",".join(f"{n.node_id}@{n.host}:{n.controller_port}" for n in self.nodes.values()
                          if n.node_id <= controllers)
        for n in self.nodes.values():
            controller = n.node_id <= controllers
            n.properties = {
                "process.roles": "broker,controller" if controller else "broker",
                "node.id": str(n.node_id),
                "controller.quorum.voters": voters,
                "listeners": f"PLAINTEXT://{n.host}:{n.client_port}"
                             + (f",CONTROLLER://{n.host}:{n.controller_port}" if controller else "")
                             + "".join(f",{name}://{n.host}:{port()}" for name in extra_listeners),
                "controller.listener.names": "CONTROLLER",
                "log.dirs": str(n.data_dir),
                **({"broker.rack": n.rack} if n.rack else {}),
                **(overrides or {}),
                **(per_node or {}).get(n.node_id, {}),
            }
            n.write_properties()
        self.cluster_id: str | None = None

    # -- lifecycle ---------------------------------------------------------------------------------

    def strom(self, *args: str, timeout_s: float = 30.0) -> subprocess.CompletedProcess:
        return subprocess.run([str(self.binary), *args], capture_output=True, text=True, timeout=timeout_s,
                              env={**os.environ, "NO_COLOR": "1"})

    def format(self) -> str:
        uuid = self.strom("storage", "random-uuid")
        if uuid.returncode != 0:
            raise ClusterFailed(f"strom storage random-uuid failed: {uuid.stderr}")
        self.cluster_id = uuid.stdout.strip()
        for n in self.nodes.values():
            # `--cluster-id=ID`, not `--cluster-id ID`: an id that starts with "-" would be taken for an
            # option (test_cluster.py checks that random-uuid, as Kafka's, never prints one).
            done = self.strom("storage", "format", f"--cluster-id={self.cluster_id}", "--config", str(n.config_path))
            if done.returncode != 0:
                raise ClusterFailed(f"formatting node {n.node_id} failed: {done.stdout}{done.stderr}")
        return self.cluster_id

    def start(self, ids: list[int] | None = None, wait: bool = True) -> None:
        """Launch the nodes (all by default) together, then wait until each of them answers Metadata
        listing every running node."""
        ids = ids or list(self.nodes)
        for i in ids:
            self.nodes[i].launch(self.binary)
        if wait:
            for i in ids:
                self.wait_listed(i, self.running_ids())

    def start_formatted(self) -> None:
        self.format()
        self.start()

    def running_ids(self) -> set[int]:
        return {i for i, n in self.nodes.items() if n.running() and not n.stopped}

    def cleanup(self) -> None:
        for n in self.nodes.values():
            n.cleanup()

    # -- observing ---------------------------------------------------------------------------------

    def metadata(self, node_id: int, topics: list[str] | None = None) -> ClusterMetadata:
        return self.nodes[node_id].metadata(topics)

    def try_metadata(self, node_id: int, topics: list[str] | None = None) -> ClusterMetadata | None:
        try:
            return self.metadata(node_id, topics)
        except (OSError, kw.ProtocolError):
            return None

    def wait_listed(self, node_id: int, expected: set[int], timeout_s: float = START_DEADLINE_S) -> ClusterMetadata:
        """Wait until `node_id` answers Metadata listing exactly the brokers `expected`."""
        deadline = time.monotonic() + timeout_s
        last: object = None
        node = self.nodes[node_id]
        while time.monotonic() < deadline:
            if node.proc is not None and node.proc.poll() is not None:
                raise ClusterFailed(f"node {node_id} exited with {node.proc.returncode}\n{self.log_tails()}")
            md = self.try_metadata(node_id)
            if md is not None and set(md.brokers) == expected:
                return md
            last = sorted(md.brokers) if md is not None else "no answer"
            time.sleep(0.1)
        raise ClusterFailed(f"node {node_id} did not list brokers {sorted(expected)} within {timeout_s}s "
                            f"(last: {last})\n{self.log_tails()}")

    def describe_quorum(self, node_id: int) -> QuorumInfo | None:
        """DescribeQuorum through `node_id`, or None when it does not advertise the API (or does not answer)."""
        try:
            keys = self.nodes[node_id].api_versions()
            if API_DESCRIBE_QUORUM not in keys:
                return None
            low, high = keys[API_DESCRIBE_QUORUM]
            if low > 2:
                return None  # a version this module cannot read
            with self.nodes[node_id].connect(5.0) as conn:
                return describe_quorum(conn, min(high, 2))
        except (OSError, kw.ProtocolError):
            return None

    def active_controller(self, among: set[int] | None = None) -> int | None:
        """The active controller as the running nodes report it, or None if they do not agree yet.

        DescribeQuorum where advertised; otherwise the running nodes' quorum-state votes: the node
        named by the highest committed term that a majority of the voters hold."""
        among = among if among is not None else self.running_ids()
        for i in sorted(among):
            info = self.describe_quorum(i)
            if info is not None:
                if info.error_code == 0 and info.leader_id in among:
                    return info.leader_id
                return None
        votes = [v for v in (self.nodes[i].quorum_vote() for i in among) if v is not None and v[2]]
        if not votes:
            return None
        term, leader = max((t, node) for t, node, _ in votes)
        agreeing = sum(1 for t, node, _ in votes if (t, node) == (term, leader))
        if agreeing * 2 > len(self.nodes) and leader in among:
            return leader
        return None

    def wait_active_controller(self, among: set[int] | None = None, not_in: set[int] = frozenset(),
                               timeout_s: float = 30.0) -> int:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            leader = self.active_controller(among)
            if leader is not None and leader not in not_in:
                return leader
            time.sleep(0.1)
        raise ClusterFailed(f"no active controller among {sorted(among or self.running_ids())} "
                            f"(excluding {sorted(not_in)}) within {timeout_s}s\n{self.log_tails()}")

    def log_tails(self, lines: int = 25) -> str:
        return "\n".join(n.log_tail(lines) for n in self.nodes.values())
