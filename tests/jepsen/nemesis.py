"""The nemesis: faults on a seeded schedule, each one logged (start and stop) in the history.

By default one fault at a time: wait 1-4 s, pick a fault kind among those enabled, start it, hold
it 3-8 s, stop it (heal); with --concurrency N up to N faults overlap (a new one starts 1-4 s after
the previous start while fewer than N are active; cut links are counted, so overlapping cuts heal
independently, and kill / pause pick among nodes no other fault has stopped). Every choice comes from the seeded generator; which node a fault hits also
depends on what the cluster reports at that moment (the leader of a partition, the active
controller), so two runs of a seed share a schedule of fault kinds and timings, not always of nodes.

  kill                kill -9 the leader of a random partition (Metadata), restart it when the fault ends
  pause               SIGSTOP a random broker, SIGCONT it when the fault ends
  partition           cut every link between a random minority of the brokers and the rest (iptables
                      in the namespaces; clients still reach everyone), heal when the fault ends
  isolate-controller  cut the active controller (DescribeQuorum) off from every other node, heal
  reassign            AlterPartitionReassignments of a random partition to a random replica list
                      (only when the brokers advertise API 45; no stop event: its answer is
                      recorded when it arrives, as an "answer" event)
  wipe                (opt-in) kill -9 the leader of a random partition and delete its logs of the
                      test's topic (a disk lost), restart it when the fault ends: acknowledged
                      writes survive only on other replicas
"""

from __future__ import annotations

import random
import shutil
import threading
import time

import kafka_wire as kw
from cluster import Cluster, ClusterFailed, _compact_items, _compact_string, _skip_tags
from history import History
from network import Network, NetworkFailed

FAULTS = ("kill", "pause", "partition", "isolate-controller", "reassign")
# Not in the default set: a fault no configuration survives without replication, kept to show that
# the harness and the checker see lost data end to end.
EXTRA_FAULTS = ("wipe",)
API_ALTER_PARTITION_REASSIGNMENTS = 45
REASSIGN_TIMEOUT_MS = 30000  # Kafka's admin client default for the request's TimeoutMs is 60000


def _compact_array(items: list[bytes]) -> bytes:
    return kw.uvarint(len(items) + 1) + b"".join(items)


def alter_partition_reassignments_request(topic: str, partition: int, replicas: list[int],
                                          timeout_ms: int = 30000) -> bytes:
    """AlterPartitionReassignments v0 (flexible) for one partition, as Kafka's
    AlterPartitionReassignmentsRequest.json lays it out: timeout, topics[name, partitions[index,
    replicas]], each struct with its (empty) tagged fields."""
    part = kw.i32(partition) + _compact_array([kw.i32(r) for r in replicas]) + kw.uvarint(0)
    return (kw.i32(timeout_ms) + _compact_array([kw.compact_string(topic) + _compact_array([part]) + kw.uvarint(0)])
            + kw.uvarint(0))


def parse_alter_partition_reassignments(body: bytes) -> tuple[int, list[int]]:
    """The response body after its v1 header: (top-level error, every partition's error)."""
    r = kw.Reader(body)
    _skip_tags(r)  # response header v1
    r.i32()  # throttle
    top_error = r.i16()
    _compact_string(r)

    def partition_result(r: kw.Reader) -> int:
        r.i32()
        code = r.i16()
        _compact_string(r)
        _skip_tags(r)
        return code

    def topic_result(r: kw.Reader) -> list[int]:
        _compact_string(r)
        codes = _compact_items(r, partition_result)
        _skip_tags(r)
        return codes

    codes = [c for t in _compact_items(r, topic_result) for c in t]
    _skip_tags(r)
    return top_error, codes


def alter_partition_reassignments(conn: kw.Connection, topic: str, partition: int, replicas: list[int]) -> int:
    """Ask for one partition's reassignment; its error code (the top-level one if that is set)."""
    body = alter_partition_reassignments_request(topic, partition, replicas, REASSIGN_TIMEOUT_MS)
    top, codes = parse_alter_partition_reassignments(
        conn.request(API_ALTER_PARTITION_REASSIGNMENTS, 0, body, flexible_header=True))
    return top if top != 0 or not codes else codes[0]


class Nemesis:
    def __init__(self, cluster: Cluster, network: Network, history: History, topic: str, partitions: int,
                 faults: list[str], seed: int) -> None:
        self.c, self.net, self.h = cluster, network, history
        self.topic, self.partitions = topic, partitions
        self.faults = faults
        self.rng = random.Random(f"nemesis-{seed}")
        self.killed: set[int] = set()
        self.paused: set[int] = set()
        self.crashes: list[dict] = []

    # -- what the cluster says ---------------------------------------------------------------------

    def live(self) -> list[int]:
        return sorted(self.c.running_ids())

    def leaders(self) -> dict[int, int]:
        for i in self.live():
            md = self.c.try_metadata(i, [self.topic])
            if md is not None and self.topic in md.topics and md.topics[self.topic].error_code == 0:
                return {p.partition: p.leader for p in md.topics[self.topic].partitions}
        return {}

    def supports_reassignment(self) -> bool:
        for i in self.live():
            try:
                versions = self.c.nodes[i].api_versions().get(API_ALTER_PARTITION_REASSIGNMENTS)
                return versions is not None and versions[0] == 0  # v0 is what this module sends
            except (OSError, kw.ProtocolError):
                continue
        return False

    # -- faults --------------------------------------------------------------------------------------

    def start(self, fault: str) -> dict | None:
        """Start one fault; what stop() needs to end it, or None when there was nothing to do."""
        live = self.live()
        if fault == "kill":
            partition = self.rng.randrange(self.partitions)
            leader = self.leaders().get(partition, -1)
            node = leader if leader in live else self.rng.choice(live)
            self.c.nodes[node].kill9()
            self.killed.add(node)
            return {"fault": fault, "node": node, "partition": partition, "was_leader": leader == node}
        if fault == "wipe":
            partition = self.rng.randrange(self.partitions)
            leader = self.leaders().get(partition, -1)
            node = leader if leader in live else self.rng.choice(live)
            self.c.nodes[node].kill9()
            self.killed.add(node)
            wiped = sorted(d.name for d in self.c.nodes[node].data_dir.glob(f"{self.topic}-*"))
            for name in wiped:
                shutil.rmtree(self.c.nodes[node].data_dir / name)
            return {"fault": fault, "node": node, "partition": partition, "wiped": wiped}
        if fault == "pause":
            node = self.rng.choice(live)
            self.c.nodes[node].sigstop()
            self.paused.add(node)
            return {"fault": fault, "node": node}
        if fault == "partition":
            nodes = sorted(self.c.nodes)
            side = set(self.rng.sample(nodes, self.rng.randint(1, (len(nodes) - 1) // 2)))
            links = self.net.partition(side)
            return {"fault": fault, "minority": sorted(side), "majority": sorted(set(nodes) - side), "links": links}
        if fault == "isolate-controller":
            controller = self.c.active_controller()
            if controller is None:
                return None
            return {"fault": fault, "node": controller, "links": self.net.isolate(controller)}
        if fault == "reassign":
            partition = self.rng.randrange(self.partitions)
            replicas = self.rng.sample(sorted(self.c.nodes), 3)
            via = self.rng.choice(live)
            # The answer may take the request's whole timeout (no quorum): it is awaited in a thread
            # and recorded when it comes, so the schedule (other faults' ends) never waits for it.
            threading.Thread(target=self.reassign, args=(partition, replicas, via), daemon=True).start()
            return {"fault": fault, "partition": partition, "replicas": replicas, "via": via, "instant": True}
        raise ValueError(f"unknown fault {fault}")

    def reassign(self, partition: int, replicas: list[int], via: int) -> None:
        try:
            with self.c.nodes[via].connect(REASSIGN_TIMEOUT_MS / 1000 + 5) as conn:
                code = alter_partition_reassignments(conn, self.topic, partition, replicas)
            self.h.add("nemesis", action="answer", fault="reassign", partition=partition, replicas=replicas,
                       via=via, error_code=code)
        except (OSError, kw.ProtocolError) as e:
            self.h.add("nemesis", action="answer", fault="reassign", partition=partition, replicas=replicas,
                       via=via, error=repr(e))

    def stop(self, started: dict) -> None:
        fault = started["fault"]
        if fault in ("kill", "wipe"):
            self.c.nodes[started["node"]].launch(self.c.binary)
            self.killed.discard(started["node"])
        elif fault == "pause":
            node = self.c.nodes[started["node"]]
            if node.running():
                node.sigcont()
            self.paused.discard(started["node"])
        elif fault in ("partition", "isolate-controller"):
            for a, b in started["links"]:
                self.net.uncut(a, b)

    def check_crashes(self) -> None:
        """Record every node that exited without the nemesis killing it (a broker bug), once per exit."""
        for i, node in self.c.nodes.items():
            if i in self.killed or node.proc is None or node.proc.poll() is None:
                continue
            if any(c["node"] == i and c["start"] == node.starts for c in self.crashes):
                continue
            crash = {"node": i, "start": node.starts, "exit_status": node.proc.returncode}
            self.crashes.append(crash)
            self.h.add("crash", **crash, log_tail=node.log_tail(30))
            print(f"[{self.h.now():7.1f}s] node {i} exited by itself with {node.proc.returncode}", flush=True)

    def heal_all(self) -> None:
        """Undo every fault: links healed, paused nodes resumed, killed (or crashed) nodes restarted."""
        self.check_crashes()
        self.net.heal_all()
        for i, node in self.c.nodes.items():
            if node.running() and node.stopped:
                node.sigcont()
            if not node.running():
                node.launch(self.c.binary)
        self.killed.clear()
        self.paused.clear()

    # -- the schedule --------------------------------------------------------------------------------

    def run(self, seconds: float, concurrency: int = 1) -> int:
        """Faults until `seconds` have passed, at most `concurrency` at a time; the number started.

        Each fault's wait (after the previous start, or after a slot frees), hold and kind are drawn
        together, before its targets; with concurrency 1 a fault starts `wait` after the previous
        one stopped."""
        faults = list(self.faults)
        if "reassign" in faults and not self.supports_reassignment():
            self.h.add("nemesis", action="skip", fault="reassign",
                       reason="the brokers do not advertise AlterPartitionReassignments (API 45)")
            faults.remove("reassign")
        if not faults:
            return 0
        end = time.monotonic() + seconds
        active: list[tuple[float, dict]] = []  # (when to stop it, what start() returned)
        started_count = 0

        def draw() -> tuple[float, float, str]:
            return self.rng.uniform(1.0, 4.0), self.rng.uniform(3.0, 8.0), self.rng.choice(faults)

        wait, hold, fault = draw()
        next_start: float | None = time.monotonic() + wait
        while True:
            now = time.monotonic()
            for stop_at, started in [a for a in active if a[0] <= now or now >= end]:
                active.remove((stop_at, started))
                self.end_fault(started)
                if next_start is None:
                    next_start = time.monotonic() + wait
            if now >= end:
                break
            if next_start is not None and now >= next_start:
                self.check_crashes()
                started = self.begin_fault(fault)
                if started is not None:
                    started_count += 1
                    if not started.get("instant"):
                        active.append((time.monotonic() + hold, started))
                wait, hold, fault = draw()
                next_start = time.monotonic() + wait if len(active) < concurrency else None
            time.sleep(0.05)
        return started_count

    def begin_fault(self, fault: str) -> dict | None:
        try:
            started = self.start(fault)
        except (ClusterFailed, NetworkFailed, OSError, kw.ProtocolError, IndexError) as e:
            self.h.add("nemesis", action="error", fault=fault, error=repr(e))
            return None
        if started is None:
            self.h.add("nemesis", action="skip", fault=fault, reason="no target (no agreed controller)")
            return None
        self.h.add("nemesis", action="start", **started)
        print(f"[{self.h.now():7.1f}s] nemesis start {started}", flush=True)
        return started

    def end_fault(self, started: dict) -> None:
        try:
            self.stop(started)
            self.h.add("nemesis", action="stop", **started)
        except (ClusterFailed, NetworkFailed, OSError) as e:
            self.h.add("nemesis", action="error", fault=started["fault"], error=f"stopping: {e!r}")
