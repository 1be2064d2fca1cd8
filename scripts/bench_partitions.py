"""The many-partitions benchmark behind scripts/bench-partitions (see its header for what it measures)."""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "compat"))

import confluent_kafka as ck  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

import kafka_wire  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")


def log(msg: str) -> None:
    print(f"bench-partitions: {msg}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Deadline:
    def __init__(self, seconds: float):
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        left = self.end - time.monotonic()
        if left <= 0:
            raise SystemExit("bench-partitions: deadline passed")
        return left


class BrokerProc:
    def __init__(self, binary: str, workdir: Path, overrides: list[str] | None = None):
        self.binary = binary
        self.overrides = overrides or []
        self.data = workdir / "data"
        self.log_path = workdir / "broker.log"
        self.port = free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def start(self) -> float:
        """Starts the broker; returns the exec time (monotonic)."""
        cmd = [self.binary, "server", "--override", f"log.dirs={self.data}",
               "--override", f"listeners=PLAINTEXT://{self.bootstrap}"]
        for kv in self.overrides:
            cmd += ["--override", kv]
        t0 = time.monotonic()
        with open(self.log_path, "ab") as out:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                         start_new_session=True, env={**os.environ, "NO_COLOR": "1"})
        return t0

    def wait_answering(self, deadline: Deadline) -> None:
        while True:
            deadline.left()
            if self.proc.poll() is not None:
                tail = self.log_path.read_text(errors="replace").splitlines()[-15:]
                raise SystemExit(f"broker exited with {self.proc.returncode}:\n" + "\n".join(tail))
            try:
                with kafka_wire.connect("127.0.0.1", self.port, timeout_s=5.0) as conn:
                    conn.api_versions_v0()
                return
            except (OSError, kafka_wire.ProtocolError):
                time.sleep(0.02)

    def led_partitions(self) -> int:
        with kafka_wire.connect("127.0.0.1", self.port, timeout_s=60.0) as conn:
            md = conn.metadata_v4(None, False)
        topics = md.topics.values() if isinstance(md.topics, dict) else md.topics
        return sum(1 for t in topics if t.error_code == 0
                   for p in t.partitions if p.error_code == 0 and p.leader >= 0)

    def wait_serving(self, partitions: int, deadline: Deadline) -> None:
        self.wait_answering(deadline)
        while self.led_partitions() < partitions:
            deadline.left()
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=300)

    def kill9(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=60)

    def rss_mib(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def fds(self) -> int:
        return len(os.listdir(f"/proc/{self.proc.pid}/fd"))

    def cpu_s(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK


def topic_of(i: int, per_topic: int) -> tuple[str, int]:
    return f"p{i // per_topic:05d}", i % per_topic


def create(broker: BrokerProc, partitions: int, per_topic: int, batch: int, deadline: Deadline) -> float:
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    topics = [f"p{t:05d}" for t in range((partitions + per_topic - 1) // per_topic)]
    t0 = time.monotonic()
    made = 0
    for start in range(0, len(topics), batch):
        names = topics[start:start + batch]
        new = [NewTopic(n, min(per_topic, partitions - (start + k) * per_topic), 1) for k, n in enumerate(names)]
        futures = admin.create_topics(new, operation_timeout=300, request_timeout=min(600, deadline.left()))
        for name, f in futures.items():
            f.result(timeout=deadline.left())
        made += sum(t.num_partitions for t in new)
        log(f"created {made}/{partitions} partitions in {time.monotonic() - t0:.1f} s, RSS {broker.rss_mib():.0f} MiB")
    return time.monotonic() - t0


def cpu_share(broker: BrokerProc, seconds: float) -> float:
    c0, t0 = broker.cpu_s(), time.monotonic()
    time.sleep(seconds)
    return (broker.cpu_s() - c0) / (time.monotonic() - t0)


def traffic(broker: BrokerProc, count: int, per_topic: int, seconds: int, acks: str,
            deadline: Deadline) -> dict:
    p = ck.Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 100, "acks": acks,
                     "queue.buffering.max.messages": 1_000_000, "message.timeout.ms": 60000})
    delivered = errors = 0

    def on_delivery(err, msg):
        nonlocal delivered, errors
        if err is None:
            delivered += 1
        else:
            errors += 1

    targets = [topic_of(i, per_topic) for i in range(count)]
    warmup = 3
    cpu0 = t_measure = None
    sent = 0
    start = time.monotonic()
    for second in range(seconds + warmup):
        deadline.left()
        if second == warmup:
            cpu0, t_measure = broker.cpu_s(), time.monotonic()
        tick = start + second
        for topic, part in targets:
            p.produce(topic, value=b"x" * 100, partition=part, on_delivery=on_delivery)
            sent += 1
            if sent % 1000 == 0:
                p.poll(0)
        while time.monotonic() < tick + 1:
            p.poll(0.05)
    share = (broker.cpu_s() - cpu0) / (time.monotonic() - t_measure)
    p.flush(60)
    return {"cpu": share, "sent": sent, "delivered": delivered, "errors": errors,
            "rate": count}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    ap.add_argument("--partitions", type=int, default=100_000)
    ap.add_argument("--per-topic", type=int, default=1000)
    ap.add_argument("--batch", type=int, default=5)
    ap.add_argument("--traffic-partitions", type=int, default=10_000)
    ap.add_argument("--traffic-seconds", type=int, default=30)
    ap.add_argument("--idle-seconds", type=int, default=20)
    ap.add_argument("--deadline", type=float, default=1500)
    ap.add_argument("--override", action="append", default=[],
                    help="key=value passed to the broker, e.g. strom.acks.all.fsync=false")
    args = ap.parse_args()
    deadline = Deadline(args.deadline)
    workdir = Path(tempfile.mkdtemp(prefix="strom-partitions."))
    broker = BrokerProc(args.binary, workdir, args.override)
    rows: list[tuple[str, str]] = []
    try:
        broker.start()
        broker.wait_answering(deadline)
        rss0 = broker.rss_mib()
        took = create(broker, args.partitions, args.per_topic, args.batch, deadline)
        rows.append(("partitions (RF=1)", f"{args.partitions:,} in {args.partitions // args.per_topic} topics"))
        rows.append(("create time", f"{took:.1f} s ({args.partitions / took:,.0f} partitions/s)"))
        rows.append(("RSS empty broker", f"{rss0:.0f} MiB"))
        idle_cpu = cpu_share(broker, args.idle_seconds)
        rows.append(("RSS idle, after creation", f"{broker.rss_mib():.0f} MiB"))
        rows.append(("open fds idle", f"{broker.fds():,}"))
        rows.append(("CPU idle", f"{idle_cpu * 100:.1f}% of one core"))
        log(f"idle: RSS {broker.rss_mib():.0f} MiB, CPU {idle_cpu * 100:.1f}%")
        for kind in ("clean", "unclean"):
            if kind == "clean":
                broker.stop()
            else:
                broker.kill9()
            t0 = broker.start()
            broker.wait_answering(deadline)
            answering = time.monotonic() - t0
            broker.wait_serving(args.partitions, deadline)
            serving = time.monotonic() - t0
            rows.append((f"{kind} restart: first answer / all partitions led",
                         f"{answering:.2f} s / {serving:.2f} s"))
            rows.append((f"RSS after {kind} restart", f"{broker.rss_mib():.0f} MiB"))
            log(f"{kind} restart: serving after {serving:.2f} s, RSS {broker.rss_mib():.0f} MiB")
        n = min(args.traffic_partitions, args.partitions)
        for acks in ("1", "all"):
            log(f"traffic: {n} partitions x 1 record/s for {args.traffic_seconds} s, acks={acks}")
            t = traffic(broker, n, args.per_topic, args.traffic_seconds, acks, deadline)
            rows.append((f"CPU, {n:,} partitions x 1 record/s, acks={acks}",
                         f"{t['cpu'] * 100:.1f}% of one core ({t['delivered']:,}/{t['sent']:,} delivered, "
                         f"{t['errors']} errors)"))
        rows.append(("RSS after traffic", f"{broker.rss_mib():.0f} MiB"))
        rows.append(("open fds after traffic", f"{broker.fds():,}"))
        broker.stop()
    finally:
        broker.kill9()
        print()
        print("| measure | value |")
        print("|---|---|")
        for k, v in rows:
            print(f"| {k} | {v} |")
        if os.environ.get("KEEP_DATA"):
            log(f"data kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
