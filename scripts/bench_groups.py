"""Consumer-group benchmark: rebalance times, commit throughput, broker CPU and memory.

Run through scripts/bench-groups. Starts its own `strom server` (a temp log.dirs, a free
127.0.0.1 port, group.initial.rebalance.delay.ms=0), drives it with confluent-kafka (librdkafka)
and prints progress lines, then Markdown tables:

(a) classic groups: 6 members subscribing to a 60-partition topic (6000 records pre-produced),
    with librdkafka's default assignor (range) and with cooperative-sticky. The time runs from the
    moment all 6 consumers have subscribed until every member has a non-empty assignment, the
    assignments are disjoint and cover the 60 partitions, and every member has received at least
    one record. Each run uses a fresh group; repeated --runs times (median, max).
(b) the same with KIP-848 groups (group.protocol=consumer, server assignor uniform), with the
    broker's group.consumer.heartbeat.interval.ms at its default (5000) and at 500. The broker
    key is static, so the broker is stopped (SIGTERM) and started again on the same log.dirs with
    the 500 ms override for that part.
(c) commit throughput, classic group, one consumer (enable.auto.commit=false) on a 6-partition
    topic of 200,000 small records: poll one message, commit(message, asynchronous=False), for
    10 s (commits/s); then commit(message, asynchronous=True) after every poll for 10 s, counting
    the acknowledgements delivered to on_commit (acknowledged commits/s).
(d) broker CPU seconds (utime+stime, /proc/PID/stat) per part and in total, and peak RSS
    (VmHWM, /proc/PID/status) of each broker process.

Every wait has a deadline; the whole run is bounded by --deadline seconds.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "compat"))

import confluent_kafka as ck  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

from broker_process import Broker  # noqa: E402

STARTED = time.monotonic()
CLK_TCK = os.sysconf("SC_CLK_TCK")


class Interrupted(Exception):
    pass


def progress(msg: str) -> None:
    print(f"[{time.monotonic() - STARTED:6.1f}s] {msg}", flush=True)


def quiet_error(err: ck.KafkaError) -> None:
    # Disconnects while a broker stops are expected; anything else goes to stderr.
    if err.code() not in (ck.KafkaError._TRANSPORT, ck.KafkaError._ALL_BROKERS_DOWN):
        print(f"client error: {err.str()}", file=sys.stderr, flush=True)


# -- broker resources --------------------------------------------------------------------------------


def user_sys_seconds(pid: int) -> tuple[float, float]:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) / CLK_TCK, int(fields[12]) / CLK_TCK  # utime, stime (fields 14 and 15)


def cpu_seconds(pid: int) -> float:
    return sum(user_sys_seconds(pid))


def status_kib(pid: int, key: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise KeyError(key)


@dataclass
class BrokerRun:
    """One broker process, from start to SIGTERM."""
    label: str
    broker: Broker
    pid: int = 0
    cpu_total: float = 0.0
    cpu_user: float = 0.0
    cpu_sys: float = 0.0
    hwm_kib: int = 0
    phases: list[tuple[str, float]] = field(default_factory=list)
    finished: bool = False

    def __post_init__(self):
        self.pid = self.broker.proc.pid

    def cpu(self) -> float:
        return cpu_seconds(self.pid)

    def finish(self) -> None:
        """Read the totals while the process still exists, then stop it with SIGTERM."""
        self.cpu_user, self.cpu_sys = user_sys_seconds(self.pid)
        self.cpu_total = self.cpu_user + self.cpu_sys
        self.hwm_kib = status_kib(self.pid, "VmHWM")
        self.finished = True
        status = self.broker.stop()
        if status != 0:
            raise RuntimeError(f"broker exited with status {status} after SIGTERM\n{self.broker.log_tail()}")


class Phase:
    """Broker CPU seconds spent between enter and exit, recorded on the BrokerRun."""

    def __init__(self, run: BrokerRun, name: str):
        self.run, self.name = run, name

    def __enter__(self):
        self.start = self.run.cpu()
        return self

    def __exit__(self, *exc):
        self.cpu_s = self.run.cpu() - self.start
        self.run.phases.append((self.name, self.cpu_s))
        return False


# -- setup -----------------------------------------------------------------------------------------


def create_topic(bootstrap: str, name: str, partitions: int) -> None:
    client = AdminClient({"bootstrap.servers": bootstrap})
    client.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)],
                         operation_timeout=30, request_timeout=30)[name].result(timeout=30)
    deadline = time.monotonic() + 30
    while True:
        t = client.list_topics(timeout=30).topics.get(name)
        if t is not None and t.error is None and sum(1 for p in t.partitions.values() if p.leader >= 0) == partitions:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"{name}: {partitions} partitions with leaders not in metadata after 30 s")
        time.sleep(0.05)


def produce(bootstrap: str, topic: str, partitions: int, count: int, size: int) -> None:
    p = ck.Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, "batch.size": 1000000,
                     "error_cb": quiet_error})
    failed = []

    def on_delivery(err, _msg):
        if err is not None:
            failed.append(err.str())

    value = b"x" * size
    for i in range(count):
        while True:
            try:
                p.produce(topic, value=value, partition=i % partitions, on_delivery=on_delivery)
                break
            except BufferError:
                p.poll(0.05)
        if i % 1000 == 0:
            p.poll(0)
    left = p.flush(60)
    if left or failed:
        raise RuntimeError(f"{topic}: {left} records undelivered, {len(failed)} failed ({failed[:3]})")


# -- (a), (b): rebalance time ----------------------------------------------------------------------------


class GroupMember(threading.Thread):
    """One subscribed consumer polled on its own thread (librdkafka releases the GIL while polling);
    after every poll it publishes its assignment and whether it has received a record."""

    def __init__(self, consumer: ck.Consumer, name: str):
        super().__init__(name=name, daemon=True)
        self.consumer = consumer
        self.stop = threading.Event()
        self.assignment: frozenset[int] = frozenset()
        self.records = 0
        self.errors: list[str] = []
        self.closed = threading.Event()

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                for m in self.consumer.consume(num_messages=500, timeout=0.02):
                    if m.error() is None:
                        self.records += 1
                    elif m.error().code() != ck.KafkaError._PARTITION_EOF:
                        self.errors.append(m.error().str())
                self.assignment = frozenset(tp.partition for tp in self.consumer.assignment())
        except Exception as e:  # noqa: BLE001 - reported by the main thread
            self.errors.append(repr(e))
        finally:
            try:
                self.consumer.close()
            finally:
                self.closed.set()


def rebalance_once(bootstrap: str, topic: str, partitions: int, members: int, conf: dict,
                   timeout_s: float) -> float | None:
    """Seconds from 'all subscribed' until the group is complete (see the module doc); None on timeout."""
    group = f"bench-{os.urandom(4).hex()}"
    consumers = [ck.Consumer({"bootstrap.servers": bootstrap, "group.id": group, "client.id": f"member-{i}",
                              "enable.auto.commit": False, "auto.offset.reset": "earliest",
                              "error_cb": quiet_error, **conf}) for i in range(members)]
    threads = [GroupMember(c, f"member-{i}") for i, c in enumerate(consumers)]
    for c in consumers:
        c.subscribe([topic])
    t0 = time.monotonic()
    for t in threads:
        t.start()
    every = frozenset(range(partitions))
    elapsed = None
    try:
        deadline = t0 + timeout_s
        while time.monotonic() < deadline:
            snap = [(t.assignment, t.records) for t in threads]
            sets = [a for a, _ in snap]
            if (all(sets) and sum(len(a) for a in sets) == partitions and frozenset().union(*sets) == every
                    and all(n > 0 for _, n in snap)):
                elapsed = time.monotonic() - t0
                break
            time.sleep(0.002)
        errors = [e for t in threads for e in t.errors]
        if errors:
            raise RuntimeError(f"consumer errors: {errors[:3]}")
    finally:
        for t in threads:
            t.stop.set()
        for t in threads:
            t.join(60)
        if any(t.is_alive() for t in threads):
            raise RuntimeError("consumers did not close within 60 s")
    return elapsed


@dataclass
class RebalanceResult:
    label: str
    runs: list[float | None]
    broker_cpu_s: float

    def cells(self) -> tuple[str, str, str]:
        done = [r for r in self.runs if r is not None]
        shown = ", ".join("timeout" if r is None else f"{r:.2f}" for r in self.runs)
        if len(done) < len(self.runs):
            return shown, "–", "–"
        return shown, f"{statistics.median(done):.2f}", f"{max(done):.2f}"


def rebalance_series(run: BrokerRun, label: str, bootstrap: str, topic: str, conf: dict, repeats: int,
                     timeout_s: float, check_deadline) -> RebalanceResult:
    times: list[float | None] = []
    with Phase(run, label) as phase:
        for i in range(repeats):
            check_deadline(timeout_s + 30)
            t = rebalance_once(bootstrap, topic, 60, 6, conf, timeout_s)
            times.append(t)
            progress(f"  {label} run {i + 1}/{repeats}: " + ("timeout" if t is None else f"{t:.2f} s"))
    return RebalanceResult(label, times, phase.cpu_s)


# -- (c): commit throughput ----------------------------------------------------------------------------


@dataclass
class CommitResult:
    label: str
    rate: float
    detail: str
    broker_cpu_s: float = 0.0


def wait_first_message(c: ck.Consumer, timeout_s: float = 60) -> ck.Message:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        m = c.poll(0.5)
        if m is not None and m.error() is None:
            return m
    raise RuntimeError("no record within 60 s of subscribing")


def commit_sync(bootstrap: str, topic: str, seconds: float) -> CommitResult:
    c = ck.Consumer({"bootstrap.servers": bootstrap, "group.id": f"bench-commit-sync-{os.urandom(4).hex()}",
                     "enable.auto.commit": False, "auto.offset.reset": "earliest", "error_cb": quiet_error})
    try:
        c.subscribe([topic])
        m = wait_first_message(c)
        c.commit(message=m, asynchronous=False)
        latencies: list[float] = []
        polled_empty = 0
        start = time.monotonic()
        end = start + seconds
        while time.monotonic() < end:
            m = c.poll(1.0)
            if m is None:
                polled_empty += 1
                continue
            if m.error() is not None:
                raise RuntimeError(f"consumer error: {m.error().str()}")
            t = time.monotonic()
            c.commit(message=m, asynchronous=False)
            latencies.append(time.monotonic() - t)
        elapsed = time.monotonic() - start
    finally:
        c.close()
    latencies.sort()
    n = len(latencies)
    p50, p99 = latencies[n // 2] * 1000, latencies[min(n - 1, int(n * 0.99))] * 1000
    mean = sum(latencies) / n * 1000
    detail = (f"{n:,} commits in {elapsed:.1f} s; commit() mean {mean:.2f} ms, p50 {p50:.2f} ms, "
              f"p99 {p99:.2f} ms, max {latencies[-1] * 1000:.1f} ms")
    if polled_empty:
        detail += f"; {polled_empty} empty polls"
    return CommitResult("commit(asynchronous=False) after every message", n / elapsed, detail)


def commit_async(bootstrap: str, topic: str, seconds: float) -> CommitResult:
    """The application loop as written (poll one message, commit it asynchronously, repeat) issues
    commits much faster than they are acknowledged, so the broker works through a queue for the
    whole window: acknowledgements within the window / its length is its asynchronous commit
    throughput. Then up to 15 s more for the queue to drain, and close()."""
    acked = [0]
    failures: list[tuple[float, str]] = []
    t_start = [0.0]

    def on_commit(err, _partitions):
        if err is None:
            acked[0] += 1
        else:
            failures.append((time.monotonic() - t_start[0], err.str()))

    c = ck.Consumer({"bootstrap.servers": bootstrap, "group.id": f"bench-commit-async-{os.urandom(4).hex()}",
                     "enable.auto.commit": False, "auto.offset.reset": "earliest", "on_commit": on_commit,
                     "error_cb": quiet_error})
    closed = False
    try:
        c.subscribe([topic])
        m = wait_first_message(c)
        c.commit(message=m, asynchronous=False)
        acked[0] = 0
        issued = 0
        last_issue = 0.0
        start = t_start[0] = time.monotonic()
        end = start + seconds
        while time.monotonic() < end:
            m = c.poll(0.1)  # also serves on_commit
            if m is None:
                continue
            if m.error() is not None:
                raise RuntimeError(f"consumer error: {m.error().str()}")
            c.commit(message=m, asynchronous=True)
            issued += 1
            last_issue = time.monotonic() - start
        elapsed = time.monotonic() - start
        in_window, failed_in_window = acked[0], len(failures)
        drain_deadline = time.monotonic() + 15
        while acked[0] + len(failures) < issued and time.monotonic() < drain_deadline:
            c.poll(0.1)
        drained_s = time.monotonic() - start - elapsed
        after_drain, failed_after_drain = acked[0], len(failures)
        closing = time.monotonic()
        c.close()
        closed = True
        close_s = time.monotonic() - closing
    finally:
        if not closed:
            c.close()
    left = issued - after_drain - failed_after_drain
    ran_out = f" (all there were: the last at {last_issue:.1f} s)" if last_issue < seconds * 0.9 else ""
    detail = (f"{issued:,} issued{ran_out}, "
              f"{in_window:,} acknowledged in {elapsed:.1f} s; {after_drain - in_window:,} more in the next "
              f"{drained_s:.1f} s ({(after_drain - in_window) / max(drained_s, 1e-9):,.0f}/s); "
              f"{failed_after_drain} failed before close(); {left:,} still unacknowledged at close(), "
              f"which took {close_s:.1f} s ({len(failures) - failed_after_drain:,} failed during it")
    if len(failures) > failed_after_drain:
        detail += f": {failures[failed_after_drain][1]}"
    detail += ")"
    if failed_after_drain:
        detail += f"; first failure at {failures[0][0]:.1f} s: {failures[0][1]}"
    progress(f"  async: {in_window:,} acks in the window, {failed_in_window} failures in it")
    return CommitResult("commit(asynchronous=True) after every message (acks via on_commit)", in_window / elapsed,
                        detail)


# -- main ------------------------------------------------------------------------------------------------


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--binary", default=os.environ.get("STROM_BIN") or str(REPO / "target" / "release" / "strom"))
    ap.add_argument("--runs", type=int, default=3, help="rebalances per configuration")
    ap.add_argument("--commit-seconds", type=float, default=10.0)
    ap.add_argument("--commit-records", type=int, default=200_000)
    ap.add_argument("--rebalance-timeout", type=float, default=60.0, help="per rebalance run")
    ap.add_argument("--deadline", type=float, default=280.0, help="seconds for the whole run")
    args = ap.parse_args()

    def on_signal(signum, _frame):
        raise Interrupted(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    def check_deadline(needed_s: float) -> None:
        left = args.deadline - (time.monotonic() - STARTED)
        if left < needed_s:
            raise Interrupted(f"only {left:.0f} s left of the {args.deadline:.0f} s budget, {needed_s:.0f} s needed")

    workdir = Path(tempfile.mkdtemp(prefix="strom-bench-groups."))
    overrides = {"group.initial.rebalance.delay.ms": "0"}
    runs: list[BrokerRun] = []
    rebalances: list[RebalanceResult] = []
    commits: list[CommitResult] = []
    failed = None
    try:
        progress(f"broker: {args.binary}, data in {workdir}, "
                 f"librdkafka {ck.libversion()[0]}, confluent-kafka {ck.version()[0]}")
        broker = Broker(Path(args.binary), workdir, overrides)
        broker.start()
        run = BrokerRun("1st: group.consumer.heartbeat.interval.ms default (5000)", broker)
        runs.append(run)
        b = broker.bootstrap
        progress(f"broker pid {run.pid} on {b} ({', '.join(f'{k}={v}' for k, v in overrides.items())})")

        with Phase(run, f"setup: topics, 6,000 + {args.commit_records:,} records"):
            create_topic(b, "rebalance-60", 60)
            produce(b, "rebalance-60", 60, 6000, 100)
            progress("produced 6,000 records of 100 bytes to rebalance-60 (60 partitions)")
            create_topic(b, "commits-6", 6)
            produce(b, "commits-6", 6, args.commit_records, 10)
            progress(f"produced {args.commit_records:,} records of 10 bytes to commits-6 (6 partitions)")

        series = [
            ("classic, range (librdkafka default)", {}),
            ("classic, cooperative-sticky", {"partition.assignment.strategy": "cooperative-sticky"}),
            ("KIP-848, uniform, broker heartbeat 5000 ms", {"group.protocol": "consumer"}),
        ]
        for label, conf in series:
            progress(f"rebalance: {label}")
            rebalances.append(rebalance_series(run, label, b, "rebalance-60", conf, args.runs,
                                               args.rebalance_timeout, check_deadline))

        for fn in (commit_sync, commit_async):
            check_deadline(args.commit_seconds + 40)
            progress(f"commits: {fn.__name__.replace('_', ' ')} for {args.commit_seconds:.0f} s")
            with Phase(run, fn.__name__) as phase:
                result = fn(b, "commits-6", args.commit_seconds)
            result.broker_cpu_s = phase.cpu_s
            commits.append(result)
            progress(f"  {result.rate:,.0f}/s ({result.detail})")

        run.finish()
        progress(f"broker stopped (SIGTERM): {run.cpu_total:.2f} CPU s, peak RSS {run.hwm_kib / 1024:.1f} MiB")

        check_deadline(args.runs * 20 + 30)
        # The same broker (port, log.dirs: topics and records are kept) with the short heartbeat.
        broker.overrides["group.consumer.heartbeat.interval.ms"] = "500"
        broker.start()
        run2 = BrokerRun("2nd: group.consumer.heartbeat.interval.ms=500", broker)
        runs.append(run2)
        progress(f"broker restarted with group.consumer.heartbeat.interval.ms=500: pid {run2.pid} on {b}")
        label = "KIP-848, uniform, broker heartbeat 500 ms"
        progress(f"rebalance: {label}")
        rebalances.append(rebalance_series(run2, label, b, "rebalance-60",
                                           {"group.protocol": "consumer"}, args.runs, args.rebalance_timeout,
                                           check_deadline))
        run2.finish()
        progress(f"broker stopped (SIGTERM): {run2.cpu_total:.2f} CPU s, peak RSS {run2.hwm_kib / 1024:.1f} MiB")
    except (Interrupted, Exception) as e:  # noqa: BLE001 - report what was measured, then fail
        failed = e
        progress(f"FAILED: {e!r}")
    finally:
        for r in runs:
            if not r.finished and r.broker.running():
                try:
                    r.finish()
                except Exception as e:  # noqa: BLE001 - the run has failed already, or fails now
                    failed = failed or e
            r.broker.cleanup()
        log_tail = runs[-1].broker.log_tail(30) if (failed and runs) else ""
        shutil.rmtree(workdir, ignore_errors=True)

    total = time.monotonic() - STARTED
    print()
    print(f"### Rebalance: 6 members, 60 partitions, 6,000 records pre-produced ({args.runs} runs each)")
    print()
    print("| group | runs (s) | median s | max s | broker CPU s (all runs) |")
    print("|---|---|---:|---:|---:|")
    for r in rebalances:
        shown, med, mx = r.cells()
        print(f"| {r.label} | {shown} | {med} | {mx} | {r.broker_cpu_s:.2f} |")
    print()
    print(f"### Commits: one consumer, 6 partitions, one commit per polled message, {args.commit_seconds:.0f} s each")
    print()
    print("| mode | commits/s | detail | broker CPU s |")
    print("|---|---:|---|---:|")
    for c in commits:
        print(f"| {c.label} | {c.rate:,.0f} | {c.detail} | {c.broker_cpu_s:.2f} |")
    print()
    print("### Broker")
    print()
    print("| broker process | CPU s (user + sys) | peak RSS MiB (VmHWM) | CPU s by part |")
    print("|---|---:|---:|---|")
    for r in runs:
        parts = "; ".join(f"{name} {cpu:.2f}" for name, cpu in r.phases)
        print(f"| {r.label} | {r.cpu_total:.2f} ({r.cpu_user:.2f} + {r.cpu_sys:.2f}) | {r.hwm_kib / 1024:.1f} "
              f"| {parts} |")
    if runs:
        user, sys_ = sum(r.cpu_user for r in runs), sum(r.cpu_sys for r in runs)
        print(f"| total | {user + sys_:.2f} ({user:.2f} + {sys_:.2f}) | {max(r.hwm_kib for r in runs) / 1024:.1f} | |")
    print()
    print(f"wall time {total:.0f} s")
    if failed is not None:
        print(f"\nbench-groups FAILED: {failed!r}\n{log_tail}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
