"""The replication benchmark behind scripts/bench-replication (see its header for what it measures)."""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "compat"))

import confluent_kafka as ck  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

from cluster import Cluster  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")


def log(msg: str) -> None:
    print(f"bench-replication: {msg}", file=sys.stderr, flush=True)


def cpu_seconds(c: Cluster) -> float:
    total = 0
    for n in c.nodes.values():
        if n.proc is None or n.proc.poll() is not None:
            continue
        stat = Path(f"/proc/{n.proc.pid}/stat").read_text()
        fields = stat[stat.rindex(")") + 2:].split()
        total += int(fields[11]) + int(fields[12])
    return total / CLK_TCK


def bench(bench_bin: Path, c: Cluster, args: list[str]) -> dict:
    before = cpu_seconds(c)
    out = subprocess.run([str(bench_bin), "--json", *args, "--bootstrap-servers", bootstrap(c)],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=900, check=True)
    result = json.loads(out.stdout.decode().strip().splitlines()[-1])
    result["broker_cpu_s"] = cpu_seconds(c) - before
    return result


def bootstrap(c: Cluster) -> str:
    return ",".join(n.bootstrap for n in c.nodes.values() if n.running())


def leader_of(c: Cluster, topic: str, partition: int = 0, via: int | None = None) -> int:
    ids = [via] if via else sorted(c.running_ids())
    for i in ids:
        md = c.try_metadata(i, [topic])
        if md and topic in md.topics:
            for p in md.topics[topic].partitions:
                if p.partition == partition and p.leader >= 0:
                    return p.leader
    return -1


def create(c: Cluster, topic: str, rf: int, partitions: int = 1) -> None:
    a = AdminClient({"bootstrap.servers": bootstrap(c)})
    for f in a.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=rf,
                                       config={"min.insync.replicas": "2" if rf >= 3 else "1"})]).values():
        f.result(30)
    deadline = time.monotonic() + 30
    while any(leader_of(c, topic, p) < 0 for p in range(partitions)):
        assert time.monotonic() < deadline, f"{topic} has no leaders"
        time.sleep(0.05)
    time.sleep(0.5)


def unavailability(c: Cluster, topic: str, action: str, window_s: float) -> float:
    """The longest stretch without an acknowledgement (acks=all, a send every 2 ms) in the
    `window_s` seconds after kill -9 / SIGTERM of the partition's leader: how long the partition
    was unavailable to producers."""
    leader = leader_of(c, topic)
    acked: list[float] = []
    others = [n.bootstrap for i, n in c.nodes.items() if i != leader and n.running()]
    p = ck.Producer({"bootstrap.servers": ",".join(others), "acks": "all", "linger.ms": 0,
                     "enable.idempotence": True, "message.timeout.ms": 60000,
                     "topic.metadata.refresh.interval.ms": 100, "retry.backoff.ms": 10,
                     "retry.backoff.max.ms": 50})
    for _ in range(20):
        p.produce(topic, b"warm", partition=0)
    p.flush(30)

    def cb(err, msg):
        if err is None:
            acked.append(time.monotonic())

    t0 = time.monotonic()
    if action == "kill":
        c.nodes[leader].kill9()
    else:
        c.nodes[leader].proc.send_signal(signal.SIGTERM)
    while time.monotonic() < t0 + window_s:
        p.produce(topic, b"x", partition=0, on_delivery=cb)
        p.poll(0.002)
    p.flush(60)
    if action == "term":
        c.nodes[leader].proc.wait(30)
    times = [t0] + sorted(t for t in acked if t >= t0) + [t0 + window_s]
    assert len(times) > 2, f"no acknowledgement within {window_s} s"
    return max(b - a for a, b in zip(times, times[1:]))


def fsync_latency(directory: Path, rounds: int = 200) -> tuple[float, float]:
    """p50 and p99 (ms) of an fsync after a 100 kB write in `directory`: acks=all with fsync on
    waits for one on the leader and one on each follower, so RF=3's share of RF=1 depends on it
    (0.66M vs 1.76M records/s with a slow disk, 1.1-1.3M vs 1.2-1.5M with a 0.1 ms fsync)."""
    path = directory / "fsync-probe"
    fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
    samples = []
    try:
        for _ in range(rounds):
            os.write(fd, b"x" * 100_000)
            t0 = time.perf_counter()
            os.fsync(fd)
            samples.append((time.perf_counter() - t0) * 1e3)
    finally:
        os.close(fd)
        path.unlink()
    samples.sort()
    return samples[len(samples) // 2], samples[int(len(samples) * 0.99) - 1]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", type=Path, required=True)
    ap.add_argument("--bench", type=Path, required=True)
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--record-size", type=int, default=100)
    ap.add_argument("--partitions", type=int, default=6)
    ap.add_argument("--skip-throughput", action="store_true")
    ap.add_argument("--skip-failover", action="store_true")
    ap.add_argument("--override", action="append", default=[], metavar="KEY=VALUE",
                    help="a broker config for every node of the throughput cluster")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="strom-bench-repl-") as tmp:
        fsync_p50, fsync_p99 = fsync_latency(Path(tmp))
        log(f"fsync of the data directory's disk: p50 {fsync_p50:.2f} ms, p99 {fsync_p99:.2f} ms")
        overrides = {"group.initial.rebalance.delay.ms": "0",
                     **dict(o.split("=", 1) for o in args.override)}
        c = Cluster(args.binary, Path(tmp) / "tp", 3, overrides)
        try:
            c.start_formatted()
            if not args.skip_throughput:
                common = ["--records", str(args.records), "--record-size", str(args.record_size),
                          "--partitions", str(args.partitions), "--create-topic", "--acks", "all"]
                for rf in (1, 3):
                    r = bench(args.bench, c, ["produce", "--topic", f"rf{rf}", "--replication-factor", str(rf),
                                              *common])
                    rows.append((f"RF={rf} acks=all, full speed", r))
                    log(f"RF={rf}: {r['records_per_sec']:.0f} records/s, p99 {r['p99_ms']} ms")
                    half = max(1, int(r["records_per_sec"] / 2))
                    # The same (warm) topic: a new one's first second of leader
                    # elections and metadata would dominate a short run's p99.
                    h = bench(args.bench, c, ["produce", "--topic", f"rf{rf}", "--replication-factor", str(rf),
                                              *common, "--rate", str(half)])
                    rows.append((f"RF={rf} acks=all at {half} records/s", h))
                    log(f"RF={rf} half: p99 {h['p99_ms']} ms")
        finally:
            c.cleanup()
        failover = {}
        for timers, overrides in [] if args.skip_failover else (("default", {}),
                                  ("tuned", {"broker.heartbeat.interval.ms": "100",
                                             "broker.session.timeout.ms": "600",
                                             "controller.quorum.election.timeout.ms": "500"})):
            c = Cluster(args.binary, Path(tmp) / f"fo-{timers}", 3, overrides)
            try:
                c.start_formatted()
                create(c, "failover", 3)
                window = 25.0 if timers == "default" else 5.0
                failover[(timers, "kill -9")] = unavailability(c, "failover", "kill", window)
                log(f"{timers}: kill -9 of the leader -> {failover[(timers, 'kill -9')]:.3f} s")
                c.start([i for i in c.nodes if not c.nodes[i].running()])
                deadline = time.monotonic() + 60
                while True:
                    md = c.try_metadata(min(c.running_ids()), ["failover"])
                    if md and sorted(md.topics["failover"].partitions[0].isr) == [1, 2, 3]:
                        break
                    assert time.monotonic() < deadline, "the ISR did not fill again"
                    time.sleep(0.1)
                failover[(timers, "SIGTERM")] = unavailability(c, "failover", "term", window)
                log(f"{timers}: SIGTERM of the leader -> {failover[(timers, 'SIGTERM')]:.3f} s")
            finally:
                c.cleanup()
    print()
    print(f"fsync after a 100 kB write on the data directory's disk: p50 {fsync_p50:.2f} ms, "
          f"p99 {fsync_p99:.2f} ms")
    print()
    if rows:
        print("| run | records/s | MB/s | p50 ms | p99 ms | brokers' CPU s per 1M records |")
        print("|---|---:|---:|---:|---:|---:|")
        for name, r in rows:
            per_m = r["broker_cpu_s"] / r["records"] * 1e6
            print(f"| {name} | {r['records_per_sec']:.0f} | {r['mb_per_sec']:.1f} | {r['p50_ms']} | "
                  f"{r['p99_ms']} | {per_m:.2f} |")
        print()
    if not failover:
        return 0
    print("| timers | leader stopped by | longest stretch without an acks=all acknowledgement (s) |")
    print("|---|---|---:|")
    for (timers, how), s in failover.items():
        print(f"| {timers} | {how} | {s:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
