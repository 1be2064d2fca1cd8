"""The operator's commands for replication, run as an operator runs them against a three-node cluster of
real `strom server` processes: `strom topics` (create with a replication factor, a replica assignment and
configs; describe with ISR, offline replicas and kafka-topics.sh's four filters, before and after a kill -9),
`strom leader-election` (a preferred leader that returned leads again) and `strom partitions reassign`
(a plan from brokers {1,2} to {2,3}, executed and verified while a producer writes, every record still
readable afterwards).

Nodes are combined broker+controller (cluster.py) with TUNED timers (3 s session), so a killed broker is
fenced in seconds; each node is its own rack.
"""

from __future__ import annotations

import json
import threading
import time

import confluent_kafka as ck

from cluster import Cluster
from clients import CLIENT_TIMEOUT_S, consume, unique, values, wait_for
from test_cluster import TUNED, cluster_factory  # noqa: F401

FENCE_S = 20.0  # a killed broker is fenced within the 3 s session, plus slack for a loaded machine
CLI_S = 60.0
# No automatic preferred-leader elections while a test checks who leads.
NO_REBALANCE = {**TUNED, "auto.leader.rebalance.enable": "false"}


def strom(c: Cluster, via: int, *args: str, ok: bool = True, timeout_s: float = CLI_S):
    out = c.strom(*args, "--bootstrap-server", c.nodes[via].bootstrap, timeout_s=timeout_s)
    if ok:
        assert out.returncode == 0, f"strom {' '.join(args)} exited {out.returncode}:\n{out.stdout}{out.stderr}"
    return out


def describe(c: Cluster, via: int, *args: str) -> dict:
    """`strom topics describe --output json`: {topic: {..., "partitions": {index: partition}}}."""
    out = strom(c, via, "topics", "describe", "--output", "json", *args)
    doc = json.loads(out.stdout)
    return {t["name"]: {**t, "partitions": {p["partition"]: p for p in t["partitions"]}} for t in doc["topics"]}


def filtered(c: Cluster, via: int, flag: str, topics: list[str]) -> set[tuple[str, int]]:
    """The (topic, partition)s of `topics` that describe shows with `flag`."""
    shown = describe(c, via, flag)
    return {(t, p) for t, d in shown.items() if t in topics for p in d["partitions"]}


def wait_isr(c: Cluster, via: int, topic: str, want: dict[int, set[int]], timeout_s: float = CLIENT_TIMEOUT_S):
    def ok() -> bool:
        d = describe(c, via, "--topic", topic).get(topic)
        return d is not None and all(set(d["partitions"][p]["isr"]) == isr for p, isr in want.items())

    wait_for(ok, timeout_s, interval_s=0.3, what=f"{topic} ISR {want}")


def test_create_and_describe_show_the_isr_and_the_filters_follow_a_kill(cluster_factory):
    c = cluster_factory(NO_REBALANCE)
    t2, t3, pair, lone = unique("min2"), unique("min3"), unique("pair"), unique("lone")

    out = strom(c, 1, "topics", "create", "--topic", t2, "--partitions", "2", "--replication-factor", "3",
                "--config", "min.insync.replicas=2")
    assert out.stdout == f"Created topic {t2}.\n"
    strom(c, 1, "topics", "create", "--topic", t3, "--partitions", "1", "--replication-factor", "3",
          "--config", "min.insync.replicas=3")
    strom(c, 1, "topics", "create", "--topic", pair, "--replica-assignment", "1:2,2:3")
    strom(c, 1, "topics", "create", "--topic", lone, "--replica-assignment", "3")
    again = strom(c, 1, "topics", "create", "--topic", pair, "--partitions", "1", ok=False)
    assert again.returncode == 1 and "TOPIC_ALREADY_EXISTS" in again.stderr and "--if-not-exists" in again.stderr
    strom(c, 1, "topics", "create", "--topic", pair, "--partitions", "1", "--if-not-exists")

    listed = strom(c, 2, "topics", "list").stdout.splitlines()
    assert {t2, t3, pair, lone} <= set(listed) and listed == sorted(listed)
    wait_isr(c, 1, t2, {0: {1, 2, 3}, 1: {1, 2, 3}})
    wait_isr(c, 1, t3, {0: {1, 2, 3}})
    wait_isr(c, 1, pair, {0: {1, 2}, 1: {2, 3}})

    d = describe(c, 2, "--topic", f"{t2},{pair}")
    assert set(d) == {t2, pair}, "--topic is an include list"
    assert d[t2]["partitionCount"] == 2 and d[t2]["replicationFactor"] == 3
    assert d[t2]["configs"] == {"min.insync.replicas": "2"} and d[t2]["minInSyncReplicas"] == 2
    assert len(d[t2]["topicId"]) == 22
    assert sorted(d[t2]["partitions"][0]["replicas"]) == [1, 2, 3] and d[t2]["partitions"][0]["offlineReplicas"] == []
    assert d[pair]["partitions"][0]["replicas"] == [1, 2] and d[pair]["partitions"][1]["replicas"] == [2, 3]
    assert d[pair]["configs"] == {}
    text = strom(c, 2, "topics", "describe", "--topic", t2).stdout
    assert "min.insync.replicas=2" in text and d[t2]["topicId"] in text
    rows = [line.split() for line in text.splitlines() if line.startswith(f"{t2} ") and len(line.split()) == 6]
    assert [r[1] for r in rows] == ["0", "1"] and all(sorted(r[4].split(",")) == ["1", "2", "3"] for r in rows), text

    mine = [t2, t3, pair, lone]
    assert filtered(c, 1, "--under-replicated-partitions", mine) == set()
    assert filtered(c, 1, "--unavailable-partitions", mine) == set()
    assert filtered(c, 1, "--under-min-isr-partitions", mine) == set()
    # All 3 in sync is at t3's min.insync.replicas=3; min.insync.replicas defaults to 1, so a single
    # replica is at it too.
    assert filtered(c, 1, "--at-min-isr-partitions", mine) == {(t3, 0), (lone, 0)}

    c.nodes[3].kill9()
    wait_isr(c, 1, t2, {0: {1, 2}, 1: {1, 2}}, timeout_s=FENCE_S)
    wait_isr(c, 1, t3, {0: {1, 2}}, timeout_s=FENCE_S)
    wait_isr(c, 1, pair, {1: {2}}, timeout_s=FENCE_S)

    d = describe(c, 1, "--topic", f"{t2}|{lone}")
    assert d[t2]["partitions"][0]["offlineReplicas"] == [3]
    assert d[lone]["partitions"][0]["leader"] is None
    # The last member of an ISR stays in it (it has the data): the lone partition is not
    # under-replicated, but has no leader.
    assert d[lone]["partitions"][0]["isr"] == [3]
    assert filtered(c, 1, "--under-replicated-partitions", mine) == {(t2, 0), (t2, 1), (t3, 0), (pair, 1)}
    assert filtered(c, 1, "--unavailable-partitions", mine) == {(lone, 0)}
    # 2 in sync is below t3's 3; a partition without a leader counts as under min ISR.
    assert filtered(c, 1, "--under-min-isr-partitions", mine) == {(t3, 0), (lone, 0)}
    assert filtered(c, 1, "--at-min-isr-partitions", mine) == {(t2, 0), (t2, 1), (pair, 1), (lone, 0)}
    table = strom(c, 1, "topics", "describe", "--unavailable-partitions", "--topic", lone).stdout
    assert "TOPIC-ID" not in table, "with a filter there are no topic lines"
    [row] = [line.split() for line in table.splitlines() if line.startswith(lone)]
    assert row[:6] == [lone, "0", "none", "3", "3", "3"], table

    out = strom(c, 1, "topics", "delete", "--topic", pair)
    assert out.stdout == f"Deleted topic {pair}.\n"
    wait_for(lambda: pair not in strom(c, 1, "topics", "list").stdout.split(), CLIENT_TIMEOUT_S,
             what="the deleted topic gone from the list")
    missing = strom(c, 1, "topics", "describe", "--topic", pair, ok=False)
    assert missing.returncode == 1 and "does not exist" in missing.stderr
    strom(c, 1, "topics", "delete", "--topic", pair, "--if-exists")


def test_a_preferred_election_gives_leadership_back_to_the_returned_first_replica(cluster_factory):
    c = cluster_factory(NO_REBALANCE)
    topic = unique("elect")
    strom(c, 1, "topics", "create", "--topic", topic, "--replica-assignment", "3:1:2,1:2:3")
    wait_isr(c, 1, topic, {0: {1, 2, 3}, 1: {1, 2, 3}})
    assert describe(c, 1, "--topic", topic)[topic]["partitions"][0]["leader"] == 3

    c.nodes[3].kill9()
    wait_isr(c, 1, topic, {0: {1, 2}}, timeout_s=FENCE_S)
    assert describe(c, 1, "--topic", topic)[topic]["partitions"][0]["leader"] == 1
    # Broker 3 is down: a preferred election of partition 0 cannot succeed.
    down = strom(c, 1, "leader-election", "--election-type", "preferred", "--topic", topic, "--partition", "0",
                 ok=False)
    assert down.returncode == 1 and "failed" in down.stdout and "could not be elected" in down.stderr, down

    c.start([3])
    wait_isr(c, 1, topic, {0: {1, 2, 3}})
    assert describe(c, 1, "--topic", topic)[topic]["partitions"][0]["leader"] == 1, "no election happened yet"

    out = strom(c, 2, "leader-election", "--election-type", "preferred", "--topic", topic, "--partition", "0")
    [row] = [line.split() for line in out.stdout.splitlines() if line.startswith(topic)]
    assert row == [topic, "0", "elected"], out.stdout
    wait_for(lambda: describe(c, 1, "--topic", topic)[topic]["partitions"][0]["leader"] == 3, CLIENT_TIMEOUT_S,
             what="broker 3 leading partition 0 again")

    # Partition 1 already has its preferred leader; a JSON file names both.
    path = c.workdir / "elect.json"
    path.write_text(json.dumps({"partitions": [{"topic": topic, "partition": 0}, {"topic": topic, "partition": 1}]}))
    out = strom(c, 1, "leader-election", "--election-type", "preferred", "--path-to-json-file", str(path),
                "--output", "json")
    outcomes = {p["partition"]: p["outcome"] for p in json.loads(out.stdout)["partitions"]}
    assert outcomes == {0: "already elected", 1: "already elected"}
    unknown = strom(c, 1, "leader-election", "--election-type", "preferred", "--topic", unique("nope"),
                    "--partition", "0", ok=False)
    assert unknown.returncode == 1 and "UNKNOWN_TOPIC_OR_PARTITION" in unknown.stdout, unknown


class Writer(threading.Thread):
    """Produces numbered records with acks=all to every partition until stopped; keeps the delivery reports."""

    def __init__(self, bootstrap: str, topic: str, partitions: int):
        super().__init__(daemon=True)
        self.topic, self.partitions = topic, partitions
        self.producer = ck.Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5,
                                     "enable.idempotence": True, "message.timeout.ms": 60000})
        self.stop = threading.Event()
        self.delivered: dict[int, list[tuple[int, bytes]]] = {p: [] for p in range(partitions)}
        self.errors: list[str] = []
        self.sent = 0

    def report(self, err, msg) -> None:
        if err is not None:
            self.errors.append(err.str())
        else:
            self.delivered[msg.partition()].append((msg.offset(), msg.value()))

    def run(self) -> None:
        while not self.stop.is_set():
            for p in range(self.partitions):
                self.producer.produce(self.topic, f"r-{self.sent}".encode(), partition=p, on_delivery=self.report)
                self.sent += 1
            self.producer.poll(0)
            time.sleep(0.002)
        self.producer.flush(60)


def test_a_reassignment_from_brokers_1_2_to_2_3_while_producing_keeps_every_record(cluster_factory):
    c = cluster_factory(TUNED)
    topic = unique("move")
    strom(c, 1, "topics", "create", "--topic", topic, "--replica-assignment", "1:2,2:1")
    wait_isr(c, 1, topic, {0: {1, 2}, 1: {1, 2}})
    writer = Writer(c.nodes[2].bootstrap, topic, 2)
    writer.start()
    try:
        wait_for(lambda: sum(len(v) for v in writer.delivered.values()) >= 500, CLIENT_TIMEOUT_S,
                 what="500 records delivered before the reassignment")

        to_move = c.workdir / "topics.json"
        to_move.write_text(json.dumps({"version": 1, "topics": [{"topic": topic}]}))
        plan = json.loads(strom(c, 1, "partitions", "reassign", "--generate", "--topics-to-move-json-file",
                                str(to_move), "--broker-list", "2,3", "--output", "json").stdout)
        current = {p["partition"]: p["replicas"] for p in plan["current"]["partitions"]}
        assert current == {0: [1, 2], 1: [2, 1]}
        proposed = {p["partition"]: p["replicas"] for p in plan["proposed"]["partitions"]}
        assert {p: set(r) for p, r in proposed.items()} == {0: {2, 3}, 1: {2, 3}}
        assert plan["replicaMoves"] == 2, "broker 2 keeps its replicas: only broker 1's two move to 3"
        assert sorted(r[0] for r in proposed.values()) == [2, 3], "one preferred leader each"

        target = c.workdir / "reassign.json"
        target.write_text(json.dumps(plan["proposed"]))
        t0 = time.monotonic()
        out = strom(c, 1, "partitions", "reassign", "--execute", "--reassignment-json-file", str(target))
        assert f"Successfully started partition reassignments for {topic}-0,{topic}-1" in out.stdout
        rollback = json.loads(out.stdout.split("Current partition replica assignment\n\n")[1].split("\n")[0])
        assert {p["partition"]: p["replicas"] for p in rollback["partitions"]} == current
        out = strom(c, 1, "partitions", "reassign", "--verify", "--reassignment-json-file", str(target),
                    "--wait", "--timeout", "90000", timeout_s=120)
        elapsed = time.monotonic() - t0
        print(f"\nreassignment of 2 partitions {{1,2}} -> {{2,3}} under load done in {elapsed:.2f}s")
        assert f"Reassignment of partition {topic}-0 is completed." in out.stdout
        assert f"Reassignment of partition {topic}-1 is completed." in out.stdout
        assert "All 2 partition reassignments are complete." in out.stdout
        # Keep writing a little on the new replica set.
        during = sum(len(v) for v in writer.delivered.values())
        wait_for(lambda: sum(len(v) for v in writer.delivered.values()) >= during + 200, CLIENT_TIMEOUT_S,
                 what="200 more records after the reassignment")
    finally:
        writer.stop.set()
        writer.join(90)
    assert not writer.is_alive(), "the producer did not finish flushing"
    assert writer.errors == [], writer.errors[:3]
    assert sum(len(v) for v in writer.delivered.values()) == writer.sent

    assert strom(c, 3, "partitions", "reassign", "--list").stdout == "No partition reassignments found.\n"
    cancel = strom(c, 3, "partitions", "reassign", "--cancel", "--reassignment-json-file", str(target))
    assert cancel.stdout == "None of the specified partition reassignments are active.\n"
    wait_isr(c, 3, topic, {0: {2, 3}, 1: {2, 3}})
    d = describe(c, 3, "--topic", topic)[topic]
    assert {p: set(v["replicas"]) for p, v in d["partitions"].items()} == {0: {2, 3}, 1: {2, 3}}

    # Taking broker 3 out again: every topic is planned over brokers 1 and 2, and only broker 3's
    # replicas move (the records read below come from wherever the cluster then has them).
    plan = json.loads(strom(c, 1, "partitions", "reassign", "--generate", "--remove-broker", "3",
                            "--output", "json").stdout)
    proposed = {(p["topic"], p["partition"]): p["replicas"] for p in plan["proposed"]["partitions"]}
    assert {k for k in proposed if k[0] == topic} == {(topic, 0), (topic, 1)}
    assert all(set(proposed[(topic, p)]) == {1, 2} for p in (0, 1)), proposed
    assert plan["replicaMoves"] == 2

    # Every acknowledged record, in offset order, read back from the new replica set (broker 1 holds
    # no replica any more; the client asks broker 3 for metadata and reads from the leader).
    for p, delivered in writer.delivered.items():
        delivered.sort()
        assert [o for o, _ in delivered] == list(range(len(delivered))), f"partition {p}: offsets not dense"
        got = values(consume(c.nodes[3].bootstrap, topic, p))
        assert got == [v for _, v in delivered], f"partition {p}: {len(got)} read, {len(delivered)} delivered"
