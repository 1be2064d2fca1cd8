"""`strom produce` and `strom consume` (the console producer/consumer and kcat, over strom-client)
against a real broker, checked with librdkafka (confluent-kafka) on the same broker:

- keys land on the partition librdkafka's `murmur2_random` partitioner (Kafka's Java default)
  picks for them;
- what strom produces (keys, headers, partition, JSON input, compression) reads back the same in
  librdkafka, and what librdkafka produced prints in the console consumer's exact format;
- start positions (--from-beginning, --offset, --timestamp), stops (--max-messages, --exit-at-end,
  --timeout-ms), and --group commits that a second run continues from;
- failures exit 1 with one line saying what to fix.
"""

from __future__ import annotations

import json
import os
import subprocess
import time

import confluent_kafka as ck

from clients import (CLIENT_TIMEOUT_S, admin, assert_delivered, consume, create_topic, produce_all, producer,
                     unique)

CLI_S = 60.0


def strom(b, *args: str, stdin: str | None = None, ok: bool = True) -> subprocess.CompletedProcess:
    out = subprocess.run([str(b.binary), *args, "--bootstrap-server", b.bootstrap], input=stdin,
                         capture_output=True, text=True, timeout=CLI_S)
    if ok:
        assert out.returncode == 0, f"strom {' '.join(args)} exited {out.returncode}:\n{out.stdout}{out.stderr}"
    return out


def all_messages(bootstrap: str, topic: str, partitions: int) -> list[ck.Message]:
    out: list[ck.Message] = []
    for p in range(partitions):
        out.extend(consume(bootstrap, topic, partition=p))
    return out


def test_keys_go_to_the_partition_librdkafkas_murmur2_random_chooses(broker):
    ours, theirs = unique("keys-strom"), unique("keys-rdkafka")
    for t in (ours, theirs):
        create_topic(broker.bootstrap, t, partitions=7)
    keys = [f"key-{i}" for i in range(150)] + ["", "a", "ab", "abc", "ключ"]
    strom(broker, "produce", "--topic", ours, "--key-separator", ":",
          stdin="".join(f"{k}:v-{k}\n" for k in keys))
    p = producer(broker.bootstrap, partitioner="murmur2_random")
    assert_delivered(produce_all(p, theirs, [{"key": k.encode(), "value": f"v-{k}".encode()} for k in keys]))

    def placement(topic):
        return {m.key().decode(): (m.partition(), m.value().decode()) for m in all_messages(broker.bootstrap, topic, 7)}

    strom_placed, rdkafka_placed = placement(ours), placement(theirs)
    assert len(strom_placed) == len(keys)
    assert strom_placed == rdkafka_placed
    # The keys spread: a partitioner that ignored them would fail the comparison above anyway.
    assert len({part for part, _ in strom_placed.values()}) == 7


def test_produced_records_read_back_in_librdkafka_with_headers_partition_and_compression(broker):
    topic = unique("prod")
    create_topic(broker.bootstrap, topic, partitions=3)
    strom(broker, "produce", "--topic", topic, "--partition", "2", "--compression-type", "gzip",
          "--header", "source=cli", "--header", "n=1", stdin="one\ntwo\r\nthree\n")
    strom(broker, "produce", "--topic", topic, "--format", "json", stdin=(
        '{"key": "k1", "value": "v1", "partition": 1, "headers": {"h": "x"}, "timestamp": 1700000000123}\n'
        '\n'
        '{"key": "k2", "value": null, "partition": 1}\n'))
    strom(broker, "produce", "--topic", topic, "--format", "hex", "--partition", "0", "--key-separator", " ",
          stdin="00ff 0102\n")
    p2 = consume(broker.bootstrap, topic, partition=2)
    assert [m.value() for m in p2] == [b"one", b"two", b"three"]
    assert [m.offset() for m in p2] == [0, 1, 2]
    assert all(m.headers() == [("source", b"cli"), ("n", b"1")] for m in p2)
    assert all(m.key() is None for m in p2)
    p1 = consume(broker.bootstrap, topic, partition=1)
    assert [(m.key(), m.value()) for m in p1] == [(b"k1", b"v1"), (b"k2", None)]
    assert p1[0].headers() == [("h", b"x")]
    assert p1[0].timestamp() == (ck.TIMESTAMP_CREATE_TIME, 1700000000123)
    p0 = consume(broker.bootstrap, topic, partition=0)
    assert [(m.key(), m.value()) for m in p0] == [(b"\x00\xff", b"\x01\x02")]


def test_keyless_records_stick_to_one_partition_per_batch(broker):
    topic = unique("sticky")
    create_topic(broker.bootstrap, topic, partitions=4)
    # One small input is one batch (linger.ms=5): every record on the same partition.
    strom(broker, "produce", "--topic", topic, stdin="".join(f"r{i}\n" for i in range(20)))
    msgs = all_messages(broker.bootstrap, topic, 4)
    assert sorted(m.value() for m in msgs) == sorted(f"r{i}".encode() for i in range(20))
    assert len({m.partition() for m in msgs}) == 1


def seed(broker, topic: str, partitions: int = 2) -> None:
    create_topic(broker.bootstrap, topic, partitions=partitions)
    p = producer(broker.bootstrap)
    assert_delivered(produce_all(p, topic, [
        {"partition": 0, "key": f"k{i}".encode(), "value": f"v{i}".encode(), "timestamp": 1_000_000 + i * 1000,
         "headers": [("h", b"x"), ("i", str(i).encode())] if i == 1 else None}
        for i in range(6)
    ] + [{"partition": 1, "value": b"p1"}]))


def test_consume_prints_the_console_consumers_format(broker):
    topic = unique("fmt")
    seed(broker, topic)
    out = strom(broker, "consume", "--topic", topic, "--partition", "0", "--from-beginning", "--exit-at-end",
                "--print-timestamp", "--print-partition", "--print-offset", "--print-headers", "--print-key")
    lines = out.stdout.splitlines()
    assert lines[0] == "CreateTime:1000000\tPartition:0\tOffset:0\tNO_HEADERS\tk0\tv0"
    assert lines[1] == "CreateTime:1001000\tPartition:0\tOffset:1\th:x,i:1\tk1\tv1"
    assert len(lines) == 6
    assert out.stderr.strip().endswith("Processed a total of 6 messages")
    plain = strom(broker, "consume", "--topic", topic, "--from-beginning", "--exit-at-end")
    assert sorted(plain.stdout.splitlines()) == sorted([f"v{i}" for i in range(6)] + ["p1"])
    js = strom(broker, "consume", "--topic", topic, "--partition", "0", "--offset", "1", "--max-messages", "1",
               "--format", "json")
    assert json.loads(js.stdout) == {"topic": topic, "partition": 0, "offset": 1, "timestamp": 1001000,
                                     "timestamp_type": "CreateTime", "key": "k1", "value": "v1",
                                     "headers": [{"key": "h", "value": "x"}, {"key": "i", "value": "1"}]}
    hx = strom(broker, "consume", "--topic", topic, "--partition", "1", "--from-beginning", "--exit-at-end",
               "--format", "hex", "--print-key")
    assert hx.stdout == "null\t7031\n"


def test_start_positions_and_stops(broker):
    topic = unique("start")
    seed(broker, topic)
    by_offset = strom(broker, "consume", "-t", topic, "-p", "0", "--offset", "3", "--max-messages", "2")
    assert by_offset.stdout.splitlines() == ["v3", "v4"]
    assert "Processed a total of 2 messages" in by_offset.stderr
    by_time = strom(broker, "consume", "-t", topic, "-p", "0", "--timestamp", "1970-01-01T00:16:44.500Z",
                    "--exit-at-end")
    assert by_time.stdout.splitlines() == ["v5"]  # 1004500 ms: the first record at or after is 1005000
    # The default start is the end: nothing printed, and --timeout-ms stops the wait.
    latest = strom(broker, "consume", "-t", topic, "--timeout-ms", "1500")
    assert latest.stdout == ""
    assert "Processed a total of 0 messages" in latest.stderr


def test_a_group_commits_what_it_printed_and_the_next_run_continues(broker):
    topic, group = unique("grp"), unique("g")
    seed(broker, topic)
    first = strom(broker, "consume", "-t", topic, "--group", group, "--from-beginning", "--max-messages", "3")
    assert len(first.stdout.splitlines()) == 3
    a = admin(broker.bootstrap)
    committed = a.list_consumer_group_offsets([ck.ConsumerGroupTopicPartitions(group)])[group].result(CLIENT_TIMEOUT_S)
    total = sum(tp.offset for tp in committed.topic_partitions if tp.offset >= 0)
    assert total == 3, [(tp.partition, tp.offset) for tp in committed.topic_partitions]
    rest = strom(broker, "consume", "-t", topic, "--group", group, "--exit-at-end")
    assert sorted(first.stdout.splitlines() + rest.stdout.splitlines()) == sorted(
        [f"v{i}" for i in range(6)] + ["p1"])


def test_failures_exit_1_with_what_to_fix(broker):
    missing = strom(broker, "consume", "--topic", unique("nope"), "--exit-at-end", ok=False)
    assert missing.returncode == 1
    assert missing.stderr.startswith("error: ")
    assert "UNKNOWN_TOPIC_OR_PARTITION" in missing.stderr and "exists" in missing.stderr
    topic = unique("bad")
    create_topic(broker.bootstrap, topic, partitions=1)
    no_sep = strom(broker, "produce", "--topic", topic, "--key-separator", ":", stdin="k:v\nno separator\n", ok=False)
    assert no_sep.returncode == 1
    assert "line 2: no key separator" in no_sep.stderr
    bad_partition = strom(broker, "produce", "--topic", topic, "--partition", "5", stdin="x\n", ok=False)
    assert bad_partition.returncode == 1
    assert "1 of 1 records were not written" in bad_partition.stderr
    assert "the topic has 1 partitions" in bad_partition.stderr
    # The record before the bad line was written: the console producer sends line by line.
    assert [m.value() for m in consume(broker.bootstrap, topic)] == [b"v"]


def test_a_batch_too_large_for_the_topic_is_split_and_only_the_big_record_fails(broker):
    """As Kafka's producer: a batch refused with MESSAGE_TOO_LARGE is split until only the record
    that is too large by itself fails; the idempotent producer then takes a new producer id
    (KIP-360), so the records after it are written in order, not refused as out of sequence."""
    topic = unique("split")
    create_topic(broker.bootstrap, topic, partitions=1, config={"max.message.bytes": "300"})
    lines = ["a", "x" * 1000, "b", "c", "d"]
    out = strom(broker, "produce", "--topic", topic, stdin="\n".join(lines) + "\n", ok=False)
    assert out.returncode == 1
    assert "1 of 5 records were not written" in out.stderr, out.stderr
    assert "MESSAGE_TOO_LARGE" in out.stderr, out.stderr
    got = consume(broker.bootstrap, topic)
    assert [(m.offset(), m.value()) for m in got] == [(0, b"a"), (1, b"b"), (2, b"c"), (3, b"d")]
    # A second run with the same topic: nothing is out of sequence.
    strom(broker, "produce", "--topic", topic, stdin="e\nf\n")
    assert [m.value() for m in consume(broker.bootstrap, topic)][-2:] == [b"e", b"f"]


def test_offsets_prints_kafka_get_offsets_lines(broker):
    topic = unique("offs")
    seed(broker, topic)
    assert strom(broker, "offsets", "--topic", topic).stdout == f"{topic}:0:6\n{topic}:1:1\n"
    assert strom(broker, "offsets", "--topic", topic, "--time", "-2").stdout == f"{topic}:0:0\n{topic}:1:0\n"
    assert strom(broker, "offsets", "--topic", topic, "--partitions", "0", "--time", "1002500").stdout == \
        f"{topic}:0:3\n"
    js = json.loads(strom(broker, "offsets", "--topic", topic, "--partitions", "1", "--output", "json").stdout)
    assert js == [{"topic": topic, "partition": 1, "offset": 1}]
    bad = strom(broker, "offsets", "--topic", topic, "--partitions", "9", ok=False)
    assert bad.returncode == 1 and "no partition 9" in bad.stderr


def committed_offsets(bootstrap: str, group: str) -> dict[int, int]:
    a = admin(bootstrap)
    res = a.list_consumer_group_offsets([ck.ConsumerGroupTopicPartitions(group)])[group].result(CLIENT_TIMEOUT_S)
    return {tp.partition: tp.offset for tp in res.topic_partitions}


def test_groups_reset_offsets_dry_run_execute_shift_and_datetime(broker):
    topic, group = unique("reset"), unique("g")
    seed(broker, topic)
    strom(broker, "consume", "-t", topic, "--group", group, "--from-beginning", "--exit-at-end")
    assert committed_offsets(broker.bootstrap, group) == {0: 6, 1: 1}
    dry = strom(broker, "groups", "reset-offsets", group, "--topic", topic, "--to-earliest")
    assert dry.stdout.splitlines() == [
        f"GROUP{' ' * (len(group) - 3)}TOPIC{' ' * (len(topic) - 3)}PARTITION  NEW-OFFSET",
        f"{group}  {topic}  0          0",
        f"{group}  {topic}  1          0",
    ]
    assert "No action will be performed" in dry.stderr
    assert committed_offsets(broker.bootstrap, group) == {0: 6, 1: 1}  # a dry run changes nothing
    strom(broker, "groups", "reset-offsets", group, "--topic", f"{topic}:0", "--shift-by", "-2", "--execute")
    assert committed_offsets(broker.bootstrap, group) == {0: 4, 1: 1}
    # Past the start: moved to the earliest offset, with a warning.
    shifted = strom(broker, "groups", "reset-offsets", group, "--all-topics", "--shift-by", "-10", "--execute")
    assert committed_offsets(broker.bootstrap, group) == {0: 0, 1: 0}
    assert "lower than the earliest offset" in shifted.stderr
    strom(broker, "groups", "reset-offsets", group, "--topic", f"{topic}:0", "--to-datetime",
          "1970-01-01T00:16:42Z", "--execute")
    assert committed_offsets(broker.bootstrap, group)[0] == 2  # 1002000 ms is record 2's timestamp
    strom(broker, "groups", "reset-offsets", group, "--all-topics", "--to-offset", "5", "--execute")
    assert committed_offsets(broker.bootstrap, group) == {0: 5, 1: 1}  # partition 1 ends at 1
    # The consumer continues where the reset put it.
    rest = strom(broker, "consume", "-t", topic, "--group", group, "--exit-at-end")
    assert rest.stdout.splitlines() == ["v5"]


def test_reset_offsets_refuses_an_active_group(broker):
    topic, group = unique("busy"), unique("g")
    seed(broker, topic)
    c = ck.Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group, "auto.offset.reset": "earliest",
                     "session.timeout.ms": 10000})
    try:
        c.subscribe([topic])
        deadline = time.monotonic() + CLIENT_TIMEOUT_S
        while not c.assignment():
            assert time.monotonic() < deadline, "the consumer never got partitions"
            c.poll(0.2)
        out = strom(broker, "groups", "reset-offsets", group, "--all-topics", "--to-earliest", "--execute", ok=False)
        assert out.returncode == 1
        assert "can only be reset if the group" in out.stderr and "Stable" in out.stderr
    finally:
        c.close()


def test_completions_name_every_subcommand(broker):
    for shell in ("bash", "zsh", "fish"):
        out = subprocess.run([str(broker.binary), "completions", shell], capture_output=True, text=True, timeout=CLI_S)
        assert out.returncode == 0
        for sub in ("produce", "consume", "offsets", "reset-offsets", "topics"):
            assert sub in out.stdout, f"{shell}: {sub} missing"
    bad = subprocess.run([str(broker.binary), "completions", "tcsh"], capture_output=True, text=True, timeout=CLI_S)
    assert bad.returncode == 2


def test_perf_produce_and_consume_report_in_kafkas_formats(broker):
    import re
    topic = unique("perf")
    create_topic(broker.bootstrap, topic, partitions=3)
    out = strom(broker, "perf", "produce", "--topic", topic, "--num-records", "5000", "--record-size", "50",
                "--producer-props", "linger.ms=2", "batch.size=4096")
    summary = out.stdout.splitlines()[-1]
    assert re.fullmatch(r"5000 records sent, [0-9.]+ records/sec \([0-9.]+ MB/sec\), [0-9.]+ ms avg latency, "
                        r"[0-9.]+ ms max latency, \d+ ms 50th, \d+ ms 95th, \d+ ms 99th, \d+ ms 99\.9th\.", summary), summary
    ends = strom(broker, "offsets", "--topic", topic).stdout.splitlines()
    assert sum(int(line.rsplit(":", 1)[1]) for line in ends) == 5000
    assert all(len(m.value()) == 50 for m in consume(broker.bootstrap, topic, partition=0))
    c = strom(broker, "perf", "consume", "--topic", topic, "--messages", "5000")
    header, row = c.stdout.splitlines()
    assert header.startswith("start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg")
    fields = [f.strip() for f in row.split(",")]
    assert fields[4] == "5000" and float(fields[2]) == round(5000 * 50 / 1048576, 4)
    short = strom(broker, "perf", "consume", "--topic", topic, "--messages", "6000", "--timeout", "1000", ok=False)
    assert short.returncode == 1 and "read 5000 of 6000 records" in short.stderr


def test_a_group_shared_with_librdkafka_splits_the_partitions_by_range(broker):
    import threading
    topic, group = unique("shared"), unique("g")
    create_topic(broker.bootstrap, topic, partitions=4)
    p = producer(broker.bootstrap)
    assert_delivered(produce_all(p, topic, [{"partition": i % 4, "value": f"p{i % 4}-{i}".encode()}
                                            for i in range(40)]))
    c = ck.Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group, "auto.offset.reset": "earliest",
                     "enable.auto.commit": False, "partition.assignment.strategy": "range",
                     "session.timeout.ms": 10000, "heartbeat.interval.ms": 500})
    assignments: list[set[int]] = []
    stop = threading.Event()

    def run():
        while not stop.is_set():
            c.poll(0.1)
            now = {tp.partition for tp in c.assignment()}
            if not assignments or assignments[-1] != now:
                assignments.append(now)

    c.subscribe([topic])
    t = threading.Thread(target=run, daemon=True)
    t.start()
    try:
        deadline = time.monotonic() + CLIENT_TIMEOUT_S
        while not assignments or assignments[-1] != {0, 1, 2, 3}:
            assert time.monotonic() < deadline, f"librdkafka never got every partition: {assignments}"
            time.sleep(0.1)
        out = strom(broker, "consume", "-t", topic, "--group", group, "--from-beginning", "--timeout-ms", "4000",
                    "--print-partition")
    finally:
        stop.set()
        t.join(10)
        c.close()
    printed = [line.split("\t") for line in out.stdout.splitlines()]
    ours = {int(part.removeprefix("Partition:")) for part, _ in printed}
    assert len(ours) == 2, printed
    # Every record of strom's partitions, none of the others.
    assert sorted(v for _, v in printed) == sorted(f"p{i % 4}-{i}" for i in range(40) if i % 4 in ours)
    # librdkafka held exactly the other two meanwhile.
    assert {0, 1, 2, 3} - ours in assignments, assignments


def test_the_console_tools_property_flags_work_too(broker):
    topic = unique("props")
    create_topic(broker.bootstrap, topic, partitions=1)
    strom(broker, "produce", "--topic", topic, "--property", "parse.key=true", "--property", "key.separator=|",
          stdin="a|1\nb|2\n")
    out = strom(broker, "consume", "--topic", topic, "--from-beginning", "--max-messages", "2",
                "--property", "print.key=true", "--property", "print.offset=true", "--property", "key.separator=,")
    assert out.stdout == "Offset:0,a,1\nOffset:1,b,2\n"
    bad = strom(broker, "consume", "--topic", topic, "--property", "print.everything=true", ok=False)
    assert bad.returncode == 1 and "print.everything" in bad.stderr


def test_groups_output_json_for_scripts_and_strom_bootstrap(broker):
    topic, group = unique("gjson"), unique("g")
    seed(broker, topic)
    strom(broker, "consume", "-t", topic, "--group", group, "--from-beginning", "--exit-at-end")
    listed = json.loads(strom(broker, "groups", "list", "--output", "json").stdout)
    mine = [g for g in listed if g["group"] == group]
    assert len(mine) == 1 and mine[0]["state"] == "Empty", listed
    described = json.loads(strom(broker, "groups", "describe", group, "--output", "json").stdout)
    assert described["group"] == group and described["state"] == "Empty"
    assert described["members"] == 0
    rows = {p["partition"]: p for p in described["partitions"]}
    assert {p: (r["topic"], r["current_offset"], r["log_end_offset"], r["lag"]) for p, r in rows.items()} == \
        {0: (topic, 6, 6, 0), 1: (topic, 1, 1, 0)}
    reset = json.loads(strom(broker, "groups", "reset-offsets", group, "--topic", f"{topic}:0", "--shift-by", "-2",
                             "--execute", "--output", "json").stdout)
    assert reset == [{"group": group, "topic": topic, "partition": 0, "new_offset": 4}]
    described = json.loads(strom(broker, "groups", "describe", group, "--output", "json").stdout)
    assert {p["partition"]: p["lag"] for p in described["partitions"]} == {0: 2, 1: 0}
    deleted = json.loads(strom(broker, "groups", "delete-offsets", group, "--topic", f"{topic}:1",
                               "--output", "json").stdout)
    assert deleted == [{"topic": topic, "partition": 1, "error": None}]
    # STROM_BOOTSTRAP names the cluster when --bootstrap-server is not given.
    env = {**os.environ, "STROM_BOOTSTRAP": broker.bootstrap}
    out = subprocess.run([str(broker.binary), "groups", "delete", group, "--output", "json"], env=env,
                         capture_output=True, text=True, timeout=CLI_S)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == [{"group": group, "error": None}]
    missing = json.loads(strom(broker, "groups", "list", "--output", "json").stdout)
    assert group not in [g["group"] for g in missing]
