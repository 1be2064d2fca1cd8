"""Fetch sessions on vs off (KIP-227): one consumer of many partitions, few of them changing.

Starts a broker from --binary (a temp log.dirs, a free port), creates one topic of --partitions
partitions, then for each mode runs --fetches Fetch v7 requests from a raw client
(tests/compat/fetch_wire.py) with max_wait_ms 0; before every --every-th fetch it produces one
record to each of --changing partitions. Mode "sessions": a full fetch, then incremental ones naming
only partitions whose offset moved. Mode "sessionless": every fetch names every partition (epoch
-1, what librdkafka and kafkajs send). Prints per mode: request and response bytes per fetch,
broker CPU (utime+stime from /proc) per fetch, fetches per second, and records read.

Usage: .venv/bin/python scripts/bench_fetch_sessions.py --binary target/release/strom
       [--partitions 500] [--changing 5] [--every 10] [--fetches 3000]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "compat"))

import confluent_kafka as ck  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

import kafka_wire as kw  # noqa: E402
from broker_process import Broker  # noqa: E402
from fetch_wire import FetchSession  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def run_mode(broker: Broker, producer: ck.Producer, topic: str, args, use_sessions: bool) -> dict:
    client = FetchSession({(topic, p): 0 for p in range(args.partitions)}, use_sessions=use_sessions)
    # Start at the end, so only the records produced during the run come back.
    with kw.connect(broker.host, broker.port) as conn:
        first = client.fetch(conn)
        for tp, part in first.partitions.items():
            client.offsets[tp] = part.high_watermark
            client.changed.add(tp)
        if use_sessions:
            client.fetch(conn)  # sends the new offsets once
        req_bytes = resp_bytes = records = 0
        changing = list(range(args.changing))
        cpu0, t0 = cpu_s(broker.proc.pid), time.monotonic()
        for i in range(args.fetches):
            if i % args.every == 0:
                for p in changing:
                    producer.produce(topic, value=b"x" * 100, partition=p)
                producer.flush(10)
            res = client.fetch(conn)
            assert res.error_code == 0, res.error_code
            req_bytes += res.request_bytes
            resp_bytes += res.response_bytes
            records += sum(b.record_count for part in res.partitions.values()
                           for b in kw.parse_record_batches(part.records))
        elapsed, cpu = time.monotonic() - t0, cpu_s(broker.proc.pid) - cpu0
        # Outside the measurement: the last records may reach the high watermark after the last fetch.
        expected = args.changing * len(range(0, args.fetches, args.every))
        drain_until = time.monotonic() + 10
        while records < expected and time.monotonic() < drain_until:
            res = client.fetch(conn, max_wait_ms=100)
            records += sum(b.record_count for part in res.partitions.values()
                           for b in kw.parse_record_batches(part.records))
        assert records == expected, f"read {records} of {expected} records"
    return {"mode": "sessions" if use_sessions else "sessionless", "req": req_bytes / args.fetches,
            "resp": resp_bytes / args.fetches, "cpu_us": cpu / args.fetches * 1e6,
            "rate": args.fetches / elapsed, "records": records, "rss": rss_kib(broker.proc.pid)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    ap.add_argument("--partitions", type=int, default=500)
    ap.add_argument("--changing", type=int, default=5)
    ap.add_argument("--every", type=int, default=10)
    ap.add_argument("--fetches", type=int, default=3000)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        broker = Broker(Path(args.binary), Path(tmp))
        broker.start()
        try:
            topic = "bench-fetch-sessions"
            admin = AdminClient({"bootstrap.servers": broker.bootstrap})
            admin.create_topics([NewTopic(topic, num_partitions=args.partitions, replication_factor=1)])[topic].result(60)
            producer = ck.Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 0, "acks": 1})
            results = []
            for _ in range(args.rounds):
                for use_sessions in (False, True):
                    results.append(run_mode(broker, producer, topic, args, use_sessions))
            print(f"| mode | request B/fetch | response B/fetch | broker CPU µs/fetch | fetches/s | records | RSS KiB |")
            print("|---|---|---|---|---|---|---|")
            producer.flush(10)
            del producer
            for r in results:
                print(f"| {r['mode']} | {r['req']:.0f} | {r['resp']:.0f} | {r['cpu_us']:.0f} | {r['rate']:.0f} "
                      f"| {r['records']} | {r['rss']} |")
        finally:
            broker.stop()


if __name__ == "__main__":
    main()
