"""A Jepsen-style fault test of a Strom cluster: real processes, real clients, a nemesis, a checker.

    scripts/jepsen --brokers 3 --seconds 60 --seed 1 --nemesis kill,pause,partition,isolate-controller,reassign

1. N brokers (combined broker+controller, tests/compat/cluster.py), each in its own network
   namespace on one bridge (network.py), with tuned failure-detection timers.
2. A topic with replication factor 3 and min.insync.replicas=2; producers and consumers
   (workload.py) record every send and poll in the history.
3. The nemesis (nemesis.py) runs its seeded schedule for --seconds.
4. Producers stop (every send gets an outcome); everything is healed and restarted; the run waits
   until every node lists every broker and every partition has a leader (and, for a while, until
   every ISR is full); consumers run on until they reach the high watermark; then the final read
   of every partition from its start to its high watermark.
5. checker.py reads the history; the report is printed and written to --out with the history
   (history.jsonl), the report (report.json, report.txt) and every node's server.log.

Exit status: 0 when every anomaly count is 0, 1 when some is not or a broker exited by itself, 2
when the run itself failed (the cluster did not start or heal, the final read did not complete, no
write was acknowledged); the --out directory is kept either way, node data directories only on
failure (or with --keep-data).
Every wait is bounded; brokers, namespaces and iptables rules are removed on exit, on an exception,
on Ctrl-C and on SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT / "tests" / "compat"))

import confluent_kafka as ck  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

from checker import check  # noqa: E402
from cluster import Cluster, ClusterFailed  # noqa: E402
from history import History  # noqa: E402
from nemesis import EXTRA_FAULTS, FAULTS, Nemesis  # noqa: E402
from network import Network, NetworkFailed, remove_stale, unavailable  # noqa: E402
from workload import ConsumerWorker, ProducerWorker, Workload, final_read, high_watermarks  # noqa: E402
import kafka_wire as kw  # noqa: E402
from delay_proxy import END_TXN, PRODUCE, DelayProxy, DelayRule  # noqa: E402
from txn_checker import check_txn  # noqa: E402
from txn_workload import CtpWorker, ReadCommittedConsumer, TxnProducerWorker, TxnWorkload  # noqa: E402

# Failure detection in seconds rather than Kafka's defaults (2000 / 9000 / 1000 ms), so a 60 s run
# sees several failovers; consumer groups start at once on a small __consumer_offsets.
CLUSTER_CONFIG = {
    "broker.heartbeat.interval.ms": "500",
    "broker.session.timeout.ms": "3000",
    "controller.quorum.election.timeout.ms": "500",
    "group.initial.rebalance.delay.ms": "0",
    "offsets.topic.num.partitions": "6",
}
# The transactional workload's: a small __transaction_state, and transactions that time out (a
# producer killed mid-transaction) aborted within seconds rather than Kafka's 10 s check.
TXN_CLUSTER_CONFIG = {
    "transaction.state.log.num.partitions": "6",
    "transaction.abort.timed.out.transaction.cleanup.interval.ms": "1000",
}
# What a broker must advertise for the transactional workload (InitProducerId, AddPartitionsToTxn,
# AddOffsetsToTxn, EndTxn, WriteTxnMarkers, TxnOffsetCommit).
TXN_APIS = {22: "InitProducerId", 24: "AddPartitionsToTxn", 25: "AddOffsetsToTxn", 26: "EndTxn",
            27: "WriteTxnMarkers", 28: "TxnOffsetCommit"}
TOPIC = "jepsen"
REPLICATION_FACTOR = 3
HEAL_TIMEOUT_S = 90.0
ISR_GRACE_S = 20.0  # how long a healed cluster is given to fill every ISR before the final read anyway
STARTUP_ISR_GRACE_S = 5.0  # a new topic's ISR is full at once where partitions replicate
CATCH_UP_TIMEOUT_S = 30.0
FINAL_READ_TIMEOUT_S = 60.0


class RunFailed(RuntimeError):
    pass


class NoTransactions(RunFailed):
    """The brokers do not serve transactions (the transactional workload cannot run)."""


def parse_args(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="scripts/jepsen", description=__doc__.split("\n\n")[0])
    ap.add_argument("--brokers", type=int, choices=(3, 5), default=3)
    ap.add_argument("--seconds", type=float, default=60.0, help="length of the nemesis phase")
    ap.add_argument("--seed", type=int, default=None, help="seed of the schedule and the workload (random if absent)")
    ap.add_argument("--nemesis", default=",".join(FAULTS),
                    help=f"comma-separated subset of {','.join(FAULTS + EXTRA_FAULTS)}, or 'none' "
                         f"(default: all but {','.join(EXTRA_FAULTS)})")
    ap.add_argument("--concurrency", type=int, default=1, help="how many faults may overlap (default 1)")
    ap.add_argument("--out", type=Path, default=None, help="directory for the history and report "
                    "(default target/jepsen/seed-<S>-<time>)")
    ap.add_argument("--workload", choices=("queue", "txn"), default="queue",
                    help="queue: idempotent producers and consumers (checker.py); txn: transactional "
                         "producers, consume-transform-produce and read_committed consumers (txn_checker.py)")
    ap.add_argument("--if-transactions", action="store_true",
                    help="txn: exit 3 (skipped) instead of 2 when the brokers do not serve transactions")
    ap.add_argument("--abort-ratio", type=float, default=0.2, help="txn: share of transactions aborted on purpose")
    ap.add_argument("--ctp-workers", type=int, default=2, help="txn: consume-transform-produce workers")
    ap.add_argument("--delay-endtxn", type=float, default=0.0, metavar="S",
                    help="hold EndTxn requests this long in a proxy between clients and brokers (0: no proxy)")
    ap.add_argument("--delay-produce", type=float, default=0.0, metavar="S",
                    help="hold Produce requests this long in the proxy")
    ap.add_argument("--delay-probability", type=float, default=0.2,
                    help="the share of EndTxn / Produce requests the proxy holds (default 0.2)")
    ap.add_argument("--partitions", type=int, default=4)
    ap.add_argument("--producers", type=int, default=3, help="idempotent acks=all producers")
    ap.add_argument("--assign-consumers", type=int, default=1)
    ap.add_argument("--group-consumers", type=int, default=2)
    ap.add_argument("--min-insync-replicas", type=int, default=2,
                    help="the topic's min.insync.replicas (1 lets acks=all succeed on a leader alone)")
    ap.add_argument("--rate", type=float, default=50.0, help="records per second per producer")
    ap.add_argument("--client-debug", default="", help="librdkafka debug contexts for every client "
                    "(e.g. msg,protocol), logged to clients.log")
    ap.add_argument("--binary", type=Path, default=Path(os.environ.get("STROM_BIN") or ROOT / "target/release/strom"))
    ap.add_argument("--check", type=Path, default=None, metavar="HISTORY",
                    help="only check an existing history.jsonl (no cluster): print the report, exit 0 or 1")
    ap.add_argument("--cleanup", action="store_true",
                    help="only remove the namespaces and bridges of runs that were killed (SIGKILL) and exit")
    ap.add_argument("--keep-data", action="store_true", help="keep node data directories after a passing run")
    args = ap.parse_args(argv)
    faults = [] if args.nemesis in ("", "none") else [f.strip() for f in args.nemesis.split(",") if f.strip()]
    unknown = [f for f in faults if f not in FAULTS + EXTRA_FAULTS]
    if unknown:
        ap.error(f"unknown nemesis {unknown}; choose among {', '.join(FAULTS + EXTRA_FAULTS)}")
    args.faults = list(dict.fromkeys(faults))
    if args.seed is None:
        args.seed = random.randrange(1, 1 << 31)
    if args.out is None:
        args.out = ROOT / "target" / "jepsen" / f"seed-{args.seed}-{time.strftime('%Y%m%d-%H%M%S')}"
    if args.seconds <= 0 or args.partitions < 1 or args.rate <= 0 or args.concurrency < 1:
        ap.error("--seconds, --partitions, --rate and --concurrency must be positive")
    if args.delay_endtxn < 0 or args.delay_produce < 0 or not 0 <= args.delay_probability <= 1:
        ap.error("--delay-endtxn and --delay-produce must be >= 0, --delay-probability within [0, 1]")
    return args


def checker_for(events: list[dict]):
    """The transactional checker for a history with transactions, else the queue checker."""
    txn = any(e.get("type") == "txn" or (e.get("type") == "run" and e.get("workload") == "txn") for e in events)
    return check_txn if txn else check


def txn_config(binary: Path) -> dict[str, str]:
    """TXN_CLUSTER_CONFIG's keys the binary knows (`strom configs`): an unknown key stops a broker's
    start-up, and a broker without transactions is told so by missing_txn_apis, more clearly."""
    try:
        listed = subprocess.run([str(binary), "configs"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        listed = ""
    return {k: v for k, v in TXN_CLUSTER_CONFIG.items() if f"`{k}`" in listed or f"| {k} " in listed}


def missing_txn_apis(c: Cluster) -> list[str]:
    """The transactional APIs the first node that answers ApiVersions does not advertise."""
    for n in c.nodes.values():
        try:
            with kw.connect(n.host, n.client_port, timeout_s=5.0) as conn:
                versions = conn.api_versions_v0().api_keys
        except (OSError, kw.ProtocolError):
            continue
        return [name for key, name in TXN_APIS.items() if key not in versions]
    raise RunFailed("no node answers ApiVersions")


def on_signal(signum, _frame):
    raise KeyboardInterrupt(f"signal {signum}")


def log(h: History | None, text: str) -> None:
    stamp = f"[{h.now():7.1f}s] " if h is not None else ""
    print(f"{stamp}{text}", flush=True)


def create_topic(bootstrap: str, partitions: int, min_insync_replicas: int) -> None:
    client = AdminClient({"bootstrap.servers": bootstrap})
    futures = client.create_topics([NewTopic(TOPIC, partitions, REPLICATION_FACTOR,
                                             config={"min.insync.replicas": str(min_insync_replicas)})],
                                   operation_timeout=30, request_timeout=35)
    try:
        futures[TOPIC].result(timeout=45)
    except ck.KafkaException as e:
        raise RunFailed(f"creating {TOPIC}: {e}") from e


def cluster_state(c: Cluster, partitions: int) -> tuple[bool, bool, str]:
    """(every node lists every broker and every partition has a leader, every ISR is full, why not)."""
    expected = set(c.nodes)
    isr_full = True
    for i in sorted(c.nodes):
        md = c.try_metadata(i, [TOPIC])
        if md is None:
            return False, False, f"node {i} does not answer Metadata"
        if set(md.brokers) != expected:
            return False, False, f"node {i} lists brokers {sorted(md.brokers)}"
        t = md.topics.get(TOPIC)
        if t is None or t.error_code != 0 or len(t.partitions) != partitions:
            return False, False, f"node {i}: topic {TOPIC} not fully known"
        for p in t.partitions:
            if p.error_code != 0 or p.leader < 0:
                return False, False, f"node {i}: partition {p.partition} leader {p.leader} error {p.error_code}"
            isr_full = isr_full and set(p.isr) == set(p.replicas)
    if c.active_controller() is None:
        return False, False, "no agreed active controller"
    return True, isr_full, "" if isr_full else "some ISR is not full"


def wait_healthy(c: Cluster, h: History, partitions: int, isr_grace_s: float = ISR_GRACE_S) -> dict:
    t0 = time.monotonic()
    deadline = t0 + HEAL_TIMEOUT_S
    up_since = None
    why = ""
    while time.monotonic() < deadline:
        for n in c.nodes.values():
            if n.proc is not None and n.proc.poll() is not None:
                raise RunFailed(f"node {n.node_id} exited with {n.proc.returncode} while healing\n{n.log_tail()}")
        up, isr_full, why = cluster_state(c, partitions)
        if up:
            up_since = up_since or time.monotonic()
            if isr_full or time.monotonic() - up_since >= isr_grace_s:
                result = {"healthy": True, "isr_full": isr_full, "seconds": round(time.monotonic() - t0, 2)}
                h.add("healthy", **result)
                return result
        else:
            up_since = None
        time.sleep(0.25)
    raise RunFailed(f"the cluster did not heal within {HEAL_TIMEOUT_S}s: {why}\n{c.log_tails()}")


def wait_caught_up(w: Workload, consumers: list[ConsumerWorker], h: History) -> dict:
    """Until every assign consumer, and the group as a whole, has polled up to each high watermark."""
    marks = {p: hw for p, (_, hw) in high_watermarks(w).items()}
    deadline = time.monotonic() + CATCH_UP_TIMEOUT_S

    def behind() -> list[str]:
        out = []
        group: dict[int, int] = {}
        for c in consumers:
            pos = c.positions()
            if c.subscribe:
                for p, o in pos.items():
                    group[p] = max(group.get(p, -1), o)
            else:
                out += [f"{c.name}:{p}" for p, hw in marks.items() if pos.get(p, -1) < hw - 1]
        if any(c.subscribe for c in consumers):
            out += [f"group:{p}" for p, hw in marks.items() if group.get(p, -1) < hw - 1]
        return out

    while behind() and time.monotonic() < deadline:
        time.sleep(0.25)
    left = behind()
    h.add("caught-up", high_watermarks=marks, behind=left)
    return {"behind": left, "high_watermarks": marks}


def unavailability(events: list[dict]) -> list[dict]:
    """For each kill (or wipe) of a partition's leader: seconds from the kill to the next acknowledged
    write to that partition (the failover as a producer sees it; pre-replication, the restart)."""
    acks = [(e["time"], e["partition"]) for e in events if e["type"] == "send" and e["status"] == "ok"]
    out = []
    for f in events:
        if f["type"] == "nemesis" and f.get("action") == "start" and f.get("fault") in ("kill", "wipe") \
                and f.get("was_leader", True):
            later = [t for t, p in acks if p == f["partition"] and t > f["time"]]
            out.append({"fault": f["fault"], "node": f["node"], "partition": f["partition"], "at": f["time"],
                        "first_ack_after_s": round(min(later) - f["time"], 2) if later else None})
    return out


def client_logger(path: Path) -> logging.Logger:
    """librdkafka's log lines go to a file: on stderr they would bury the run's own progress lines."""
    logger = logging.getLogger("jepsen.clients")
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    logger.addHandler(handler)
    return logger


def rss_mib(c: Cluster) -> dict[int, float]:
    out = {}
    for i, n in c.nodes.items():
        try:
            out[i] = round(n.rss_kib() / 1024, 1)
        except (ClusterFailed, OSError, AttributeError):
            pass
    return out


def run(args: argparse.Namespace) -> int:
    reason = unavailable()
    if reason:
        print(f"scripts/jepsen: {reason}", file=sys.stderr)
        return 2
    if not args.binary.is_file():
        print(f"scripts/jepsen: no strom binary at {args.binary} (cargo build --release -p strom, or STROM_BIN)",
              file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    h = History(args.out / "history.jsonl")
    settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    h.add("run", **settings)
    log(h, f"seed {args.seed}: {args.brokers} brokers, {args.seconds:.0f}s of {args.faults or 'no faults'}; "
           f"history in {args.out}")
    net = Network(list(range(1, args.brokers + 1)))
    c: Cluster | None = None
    nemesis: Nemesis | None = None
    producers: list = []  # ProducerWorker, or TxnProducerWorker and CtpWorker
    consumers: list = []  # ConsumerWorker, or ReadCommittedConsumer
    proxy: DelayProxy | None = None
    txn = args.workload == "txn"
    summary: dict = {"seed": args.seed, "brokers": args.brokers, "seconds": args.seconds, "nemesis": args.faults}
    status = 2
    try:
        t0 = time.monotonic()
        net.create()
        c = Cluster(args.binary, args.out / "cluster", args.brokers,
                    {**CLUSTER_CONFIG, **(txn_config(args.binary) if txn else {})}, hosts=net.ips,
                    netns=net.namespaces)
        c.start_formatted()
        bootstrap = ",".join(n.bootstrap for n in c.nodes.values())
        if txn:
            missing = missing_txn_apis(c)
            if missing:
                raise NoTransactions(f"the brokers do not serve transactions (no {', '.join(missing)} in ApiVersions): "
                                "the transactional workload needs them")
        create_topic(bootstrap, args.partitions, args.min_insync_replicas)
        wait_healthy(c, h, args.partitions, isr_grace_s=STARTUP_ISR_GRACE_S)
        summary["startup_s"] = round(time.monotonic() - t0, 1)
        log(h, f"cluster up on {net.prefix}.0/24 in {summary['startup_s']}s; topic {TOPIC}: "
               f"{args.partitions} partitions, RF {REPLICATION_FACTOR}, min.insync.replicas {args.min_insync_replicas}")

        client_bootstrap = bootstrap
        if args.delay_endtxn > 0 or args.delay_produce > 0:
            rules = ([DelayRule(END_TXN, args.delay_endtxn, args.delay_probability)] if args.delay_endtxn > 0 else []) \
                + ([DelayRule(PRODUCE, args.delay_produce, args.delay_probability)] if args.delay_produce > 0 else [])
            proxy = DelayProxy(rules, seed=args.seed, on_delay=lambda d: h.add("delayed", **d))
            for i, n in sorted(c.nodes.items()):
                proxy.add(i, n.host, n.client_port)
            client_bootstrap = proxy.bootstrap()
            log(h, f"clients go through the delaying proxy at {client_bootstrap}: "
                   + ", ".join(f"{r.seconds}s on {r.probability:.0%} of api {r.api_key}" for r in rules))
        common = dict(rate=args.rate, group=f"jepsen-{args.seed}", client_debug=args.client_debug,
                      logger=client_logger(args.out / "clients.log"))
        if txn:
            w = TxnWorkload(client_bootstrap, TOPIC, args.partitions, h, args.seed, abort_ratio=args.abort_ratio,
                            **common)
            producers = ([TxnProducerWorker(w, f"t{i}") for i in range(1, args.producers + 1)]
                         + [CtpWorker(w, f"x{i}") for i in range(1, args.ctp_workers + 1)])
            consumers = [ReadCommittedConsumer(w, f"r{i}") for i in range(1, args.assign_consumers + 1)]
        else:
            w = Workload(client_bootstrap, TOPIC, args.partitions, h, args.seed, **common)
            producers = [ProducerWorker(w, f"p{i}") for i in range(1, args.producers + 1)]
            consumers = ([ConsumerWorker(w, f"a{i}", subscribe=False) for i in range(1, args.assign_consumers + 1)]
                         + [ConsumerWorker(w, f"g{i}", subscribe=True) for i in range(1, args.group_consumers + 1)])
        for worker in producers + consumers:
            worker.start()

        nemesis = Nemesis(c, net, h, TOPIC, args.partitions, args.faults, args.seed)
        t1 = time.monotonic()
        summary["faults"] = nemesis.run(args.seconds, args.concurrency)
        remaining = args.seconds - (time.monotonic() - t1)
        if remaining > 0:
            time.sleep(remaining)
        summary["rss_mib_end_of_faults"] = rss_mib(c)
        log(h, f"nemesis done: {summary['faults']} faults; stopping producers")

        for p in producers:
            p.stop.set()
        drain_s = w.message_timeout_ms / 1000 + 20
        if txn:
            drain_s = max(drain_s, 3 * w.api_timeout_s + 20)  # end_transaction's bound
        for p in producers:
            p.join(timeout=drain_s)
        stuck = [p.name for p in producers if p.is_alive()]
        if stuck:
            raise RunFailed(f"producers {stuck} did not drain")

        t2 = time.monotonic()
        nemesis.heal_all()
        h.add("nemesis", action="heal-all")
        summary["heal"] = wait_healthy(c, h, args.partitions)
        log(h, f"healed in {time.monotonic() - t2:.1f}s (every ISR full: {summary['heal']['isr_full']})")
        summary["catch_up"] = wait_caught_up(w, consumers, h)["behind"]
        for cw in consumers:
            cw.stop.set()
        for cw in consumers:
            cw.join(timeout=20)
        summary["final_read"] = final = final_read(w, FINAL_READ_TIMEOUT_S,
                                                   "read_committed" if txn else "read_uncommitted")
        summary["rss_mib_end"] = rss_mib(c)
        incomplete = [p for p, o in final.items() if not o["complete"]]
        log(h, "final read: " + ", ".join(f"p{p} {o['records']}/{o['high_watermark']}" for p, o in final.items()))
        if incomplete:
            raise RunFailed(f"the final read did not reach the high watermark of partitions {incomplete}")
        status = None
    except KeyboardInterrupt as e:
        summary["error"] = f"interrupted ({e})"
        print(f"\ninterrupted: cleaning up ({e})", file=sys.stderr)
    except (RunFailed, ClusterFailed, NetworkFailed, ck.KafkaException, OSError) as e:
        summary["error"] = str(e)
        print(f"\nrun failed: {e}", file=sys.stderr)
    finally:
        for worker in producers + consumers:
            worker.stop.set()
        if proxy is not None:
            summary["delay_proxy"] = proxy.stats()
            proxy.close()
        if c is not None:
            c.cleanup()
        net.remove()
        h.add("end", **{k: v for k, v in summary.items() if k == "error"})
        h.close()

    if txn and args.if_transactions and str(summary.get("error", "")).startswith("the brokers do not serve"):
        text = f"SKIPPED: {summary['error']}"
        print(f"\n{text}")
        (args.out / "report.txt").write_text(text + "\n")
        (args.out / "report.json").write_text(json.dumps({"run": summary, "exit_status": 3}, indent=2) + "\n")
        return 3
    events = History.load(args.out / "history.jsonl")
    report = checker_for(events)(events)
    summary["elapsed_s"] = round(h.now(), 1)
    summary["events"] = dict(sorted(Counter(e["type"] for e in events).items()))
    summary["client_errors"] = dict(Counter(e["error"].split(" ")[0] for e in events
                                            if e["type"] in ("client-error", "consumer-error")).most_common(10))
    summary["unavailability"] = unavailability(events)
    crashes = nemesis.crashes if nemesis is not None else []
    nothing_checked = status is None and report.stats.get("acked", report.stats.get("committed", 0)) == 0
    if nothing_checked:
        status = 2
        summary["error"] = ("no transaction committed" if txn else "no write was acknowledged") + \
            ": the run checked nothing"
    text = report.render(verdict=status is None)
    if nothing_checked:
        text += f"\n\nNOTHING CHECKED: {summary['error']}"
    elif status is not None:
        text += ("\n\nPARTIAL: the run did not complete, so the history has no (complete) final read and "
                 "the " + ("lost-write, torn-txn and poll-skip" if txn else "lost-write, poll-skip and unseen")
                 + " counts above are not meaningful"
                 f"\nthe run failed: {summary.get('error', '')[:2000]}")
    else:
        status = 0 if report.valid and not crashes else 1
    if crashes:
        text += f"\nCRASHED: {len(crashes)} broker exit(s) the nemesis did not cause: {crashes}"
    print()
    print(text)
    (args.out / "report.txt").write_text(text + "\n")
    (args.out / "report.json").write_text(json.dumps({**report.to_json(), "run": summary, "exit_status": status},
                                                     indent=2, default=str) + "\n")
    if status == 0 and not args.keep_data and c is not None:
        for n in c.nodes.values():
            shutil.rmtree(n.data_dir, ignore_errors=True)
    print(f"\nseed {args.seed}: exit {status}; history and report in {args.out}")
    return status


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    if args.cleanup:
        removed = remove_stale()
        print(f"removed: {', '.join(removed) or 'nothing'}")
        return 0
    if args.check is not None:
        events = History.load(args.check)
        report = checker_for(events)(events)
        print(report.render())
        return 0 if report.valid else 1
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)
    return run(args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
