"""The transactions benchmark behind scripts/bench-transactions (see its header for what it measures).

`plan()` turns the command line into the strom-bench runs, so the argument handling is tested
without a broker (tests/compat/test_bench_transactions.py); `main()` starts one broker
(tests/compat/broker_process.py), runs the plan, samples the broker's CPU time and RSS around
each run, and prints a Markdown table. A failed run is a row saying so (and exit status 1); the
runs after it still happen.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "compat"))

CLK_TCK = os.sysconf("SC_CLK_TCK")
# One broker holds every replica of the internal topics (Kafka's defaults want 3, min ISR 2).
BROKER_OVERRIDES = {
    "transaction.state.log.replication.factor": "1",
    "transaction.state.log.min.isr": "1",
    "offsets.topic.replication.factor": "1",
}


@dataclass
class Run:
    name: str
    args: list[str]
    # The consume runs read the topic a produce run wrote: they need it to have succeeded.
    needs: str | None = None
    topic: str = ""
    extra: dict = field(default_factory=dict)


def parse_args(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="scripts/bench-transactions",
                                 description="Idempotent vs transactional produce, read_committed vs "
                                             "read_uncommitted consume, one-record transactions per second.")
    ap.add_argument("--binary", type=Path, default=ROOT / "target" / "release" / "strom")
    ap.add_argument("--bench", type=Path, default=ROOT / "target" / "release" / "strom-bench")
    ap.add_argument("--records", type=positive, default=1_000_000, help="records per throughput run")
    ap.add_argument("--record-size", type=positive, default=100)
    ap.add_argument("--partitions", type=positive, default=6)
    ap.add_argument("--transaction-ms", type=positive, action="append", metavar="MS",
                    help="a transactional run committing every MS ms (repeatable; default 100 and 1000)")
    ap.add_argument("--single-record-transactions", type=non_negative, default=5000, metavar="N",
                    help="one-record transactions (acks=all) for the transactions/s run; 0 skips it")
    ap.add_argument("--bootstrap-servers", help="an already running broker instead of starting one")
    ap.add_argument("--override", action="append", default=[], metavar="KEY=VALUE", type=key_value,
                    help="a broker config of the broker this script starts")
    ap.add_argument("--plan", action="store_true", help="print the strom-bench runs and exit")
    args = ap.parse_args(argv)
    if args.bootstrap_servers and args.override:
        ap.error("--override applies to the broker this script starts, not to --bootstrap-servers")
    args.transaction_ms = sorted(set(args.transaction_ms or [100, 1000]))
    return args


def positive(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def key_value(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key.strip(), value


def plan(args: argparse.Namespace, bootstrap: str, run_id: str) -> list[Run]:
    size = ["--records", str(args.records), "--record-size", str(args.record_size)]
    produce = ["produce", "--bootstrap-servers", bootstrap, "--partitions", str(args.partitions),
               "--create-topic", "--acks", "all", *size]
    runs = [Run("produce idempotent acks=all", [*produce, "--topic", f"txn-bench-{run_id}-idempotent",
                                                 "--producer-props", "enable.idempotence=true"],
                topic=f"txn-bench-{run_id}-idempotent")]
    for ms in args.transaction_ms:
        topic = f"txn-bench-{run_id}-txn-{ms}ms"
        runs.append(Run(f"produce transactional, {ms} ms transactions",
                        [*produce, "--topic", topic, "--transactional-id", f"txn-bench-{run_id}-{ms}",
                         "--transaction-ms", str(ms)], topic=topic))
    # Both isolation levels read the same transactional topic (the shortest transactions: the
    # most markers), with the same records.
    read_topic = runs[1].topic
    for level in ("read_uncommitted", "read_committed"):
        runs.append(Run(f"consume {level} ({args.transaction_ms[0]} ms transactions)",
                        ["consume", "--bootstrap-servers", bootstrap, "--topic", read_topic,
                         "--records", str(args.records), "--isolation-level", level,
                         "--group-id", f"txn-bench-{run_id}-{level}"],
                        needs=runs[1].name, topic=read_topic))
    if args.single_record_transactions:
        topic = f"txn-bench-{run_id}-single"
        runs.append(Run("produce one-record transactions acks=all",
                        ["produce", "--bootstrap-servers", bootstrap, "--partitions", str(args.partitions),
                         "--create-topic", "--acks", "all", "--records", str(args.single_record_transactions),
                         "--record-size", str(args.record_size), "--topic", topic,
                         "--transactional-id", f"txn-bench-{run_id}-single", "--transaction-records", "1",
                         "--linger-ms", "0"], topic=topic))
    return runs


def proc_stat(pid: int | None) -> tuple[float | None, int | None, int | None]:
    """CPU seconds (utime + stime), VmRSS and VmHWM (KiB) of the broker, or Nones."""
    if pid is None:
        return None, None, None
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None, None, None
    fields = stat[stat.rindex(")") + 2:].split()
    kib = {line.split(":")[0]: int(line.split()[1]) for line in status.splitlines()
           if line.startswith(("VmRSS:", "VmHWM:"))}
    return (int(fields[11]) + int(fields[12])) / CLK_TCK, kib.get("VmRSS"), kib.get("VmHWM")


def execute(bench: Path, run: Run, pid: int | None) -> dict:
    cpu_before, _, _ = proc_stat(pid)
    print(f"bench-transactions: === {run.name} ===", file=sys.stderr, flush=True)
    out = subprocess.run([str(bench), "--json", *run.args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         timeout=1800)
    sys.stderr.write(out.stderr.decode(errors="replace")[-2000:])
    if out.returncode != 0 or not out.stdout.strip():
        last = (out.stderr.decode(errors="replace").strip().splitlines() or ["(no output)"])[-1]
        return {"error": f"exit {out.returncode}: {last}"}
    result = json.loads(out.stdout.decode().strip().splitlines()[-1])
    cpu_after, rss, hwm = proc_stat(pid)
    if cpu_before is not None and cpu_after is not None and result.get("records"):
        result["broker_cpu_s_per_m"] = (cpu_after - cpu_before) / result["records"] * 1e6
    result["rss_mib"], result["hwm_mib"] = (rss or 0) / 1024, (hwm or 0) / 1024
    return result


def row(name: str, r: dict) -> str:
    if "error" in r:
        return f"| {name} | failed: {r['error'].replace('|', '/')} | | | | | | |"

    def num(key: str, digits: int) -> str:
        return f"{r[key]:.{digits}f}" if isinstance(r.get(key), (int, float)) else "-"

    txns = f"{num('transactions_per_sec', 0)} ({num('commit_p50_ms', 1)} / {num('commit_p99_ms', 1)})" \
        if "transactions" in r else "-"
    return (f"| {name} | {r['records']} | {num('records_per_sec', 0)} | {num('mb_per_sec', 2)} | "
            f"{num('p99_ms', 2)} | {txns} | {num('broker_cpu_s_per_m', 2)} | "
            f"{num('rss_mib', 0)} ({num('hwm_mib', 0)}) |")


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    run_id = str(int(time.time()))
    if args.plan:
        for r in plan(args, args.bootstrap_servers or "BOOTSTRAP", run_id):
            print(" ".join(["strom-bench", *r.args]))
        return 0
    from broker_process import Broker  # the broker helpers only when something runs

    for what, path in (("strom-bench", args.bench), *(() if args.bootstrap_servers else (("strom", args.binary),))):
        if not os.access(path, os.X_OK):
            print(f"bench-transactions: no {what} binary at {path}", file=sys.stderr)
            return 1

    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="strom-bench-txn-") as tmp:
        broker = None
        pid = None
        if args.bootstrap_servers:
            bootstrap = args.bootstrap_servers
        else:
            broker = Broker(args.binary, Path(tmp), {**BROKER_OVERRIDES, **dict(args.override)})
            broker.start()
            bootstrap, pid = broker.bootstrap, broker.proc.pid
        try:
            for r in plan(args, bootstrap, run_id):
                if r.needs and "error" in results.get(r.needs, {}):
                    results[r.name] = {"error": f"skipped: {r.needs} failed"}
                    continue
                results[r.name] = execute(args.bench, r, pid)
        finally:
            if broker is not None:
                broker.cleanup()
    print()
    print(f"{args.records} records of {args.record_size} bytes, {args.partitions} partitions, acks=all, one broker "
          f"({'at ' + args.bootstrap_servers if args.bootstrap_servers else 'started by this script'}); "
          f"{os.cpu_count()} cores shared by client and broker.")
    print()
    print("| run | records | records/s | MB/s | p99 ms | transactions/s (commit p50 / p99 ms) "
          "| broker CPU s / M records | broker RSS MiB (peak) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, r in results.items():
        print(row(name, r))
    return 1 if any("error" in r for r in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
