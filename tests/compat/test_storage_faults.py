"""Storage faults under real clients: an acknowledgement is never a lie.

The broker runs with storage fault injection (STROM_FAULTS_CONTROL, STROM_FAULTS_SYNC_JOURNAL: see
crates/strom-log/src/fault_injection.rs) or on a real, small tmpfs. Each test checks the promise
end to end:

- a failed fsync: acks=all producers get errors, never success, from then on (a later fsync that
  succeeds proves nothing about the pages the failed one lost), the partition is reported offline,
  and after a restart every acknowledged record is there;
- power loss (every file cut back to what was fsynced): every acks=all record that was acknowledged,
  and every record a consumer was shown, is still there at the same offset; offsets are never
  reused for other records (Jepsen's "inconsistent offsets");
- a full disk: producers get KAFKA_STORAGE_ERROR, consumers keep reading what is durable, and after
  space is freed a restart brings the log back with every acknowledged record.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from pathlib import Path

import confluent_kafka as ck
import pytest

from clients import (
    admin, assert_delivered, consume, create_topic, kp_producer, produce_all, producer, wait_for,
)

KAFKA_STORAGE_ERROR = 56


def fault_env(tmp_path: Path) -> tuple[dict[str, str], Path, Path]:
    control = tmp_path / "faults"
    journal = tmp_path / "fsync-journal"
    control.write_text("")
    return ({"STROM_FAULTS_CONTROL": str(control), "STROM_FAULTS_SYNC_JOURNAL": str(journal)},
            control, journal)


def set_faults(control: Path, text: str) -> None:
    control.write_text(text)
    time.sleep(0.1)  # the broker re-reads the file at most every 20 ms


def partition_error(bootstrap: str, topic: str, partition: int) -> int:
    md = admin(bootstrap).list_topics(topic, timeout=10)
    err = md.topics[topic].partitions[partition].error
    return 0 if err is None else err.code()


def records(prefix: str, n: int, partition: int = 0) -> list[dict]:
    return [{"value": f"{prefix}-{i}".encode(), "partition": partition} for i in range(n)]


def offsets_and_values(messages) -> dict[int, bytes]:
    return {m.offset(): m.value() for m in messages}


def test_a_failed_fsync_fails_every_later_acks_all_produce_and_loses_nothing_acknowledged(
        broker_factory, tmp_path):
    env, control, _ = fault_env(tmp_path)
    broker = broker_factory(env=env)
    create_topic(broker.bootstrap, "fsyncfail", partitions=2)
    before = produce_all(producer(broker.bootstrap, acks="all"), "fsyncfail", records("ok", 200))
    assert_delivered(before)
    assert [d.offset for d in before] == list(range(200))

    # Only partition 0's files fail to fsync: partition 1 is in the same log directory, and Kafka
    # (and Strom) take the whole directory offline.
    set_faults(control, "fsync=eio\nmatch=fsyncfail-0\n")
    kp = kp_producer(broker.bootstrap, acks="all", retries=0)
    try:
        future = kp.send("fsyncfail", value=b"doomed", partition=0)
        with pytest.raises(Exception) as failed:
            future.get(timeout=30)
        assert type(failed.value).__name__ == "KafkaStorageError", repr(failed.value)
    finally:
        kp.close(timeout=1)
    # The disk "recovers"; the log stays offline, the other partition of the directory too:
    # Metadata reports both without a leader (KAFKA_STORAGE_ERROR), so clients cannot send.
    set_faults(control, "")
    assert partition_error(broker.bootstrap, "fsyncfail", 0) == KAFKA_STORAGE_ERROR
    assert partition_error(broker.bootstrap, "fsyncfail", 1) == KAFKA_STORAGE_ERROR
    # librdkafka with retries: never a success, whatever it retries.
    late = produce_all(producer(broker.bootstrap, acks="all", **{"message.timeout.ms": 3000}),
                       "fsyncfail", records("late", 20) + records("late", 20, partition=1))
    assert all(d.error is not None for d in late), [d for d in late if d.error is None][:3]

    broker.kill9()
    broker.start()
    got = offsets_and_values(consume(broker.bootstrap, "fsyncfail", partition=0))
    for d in before:
        if d.partition == 0:
            assert got.get(d.offset) == d.value, f"acknowledged offset {d.offset} lost or changed"
    # Writable again after the restart, continuing after whatever the log kept.
    more = produce_all(producer(broker.bootstrap, acks="all"), "fsyncfail", records("again", 5))
    assert_delivered(more)
    assert more[0].offset == max(got) + 1


def cut_to_fsynced(data_dir: Path, journal: Path, topic: str, torn_bytes: int = 0) -> int:
    """What a power loss leaves: every file of the topic's partitions cut to the length its last
    successful fsync covered (0 if never fsynced), plus up to `torn_bytes` of the unsynced tail of
    each `.log` file (a write torn mid-batch). Returns the bytes cut."""
    synced: dict[str, int] = {}
    if journal.exists():
        for line in journal.read_text().splitlines():
            length, path = line.split("\t", 1)
            synced[os.path.realpath(path)] = int(length)
    cut = 0
    for part_dir in data_dir.glob(f"{topic}-*"):
        for f in part_dir.iterdir():
            if f.suffix not in (".log", ".index", ".timeindex"):
                continue
            keep = synced.get(os.path.realpath(f), 0)
            size = f.stat().st_size
            if f.suffix == ".log":
                keep = min(size, keep + torn_bytes)
            if size > keep:
                with open(f, "r+b") as fh:
                    fh.truncate(keep)
                cut += size - keep
    return cut


def test_power_loss_keeps_every_acknowledged_and_every_consumed_record_at_its_offset(
        broker_factory, tmp_path):
    env, _, journal = fault_env(tmp_path)
    broker = broker_factory(env=env)
    create_topic(broker.bootstrap, "power", partitions=1)
    acked_all = produce_all(producer(broker.bootstrap, acks="all"), "power", records("all", 300))
    assert_delivered(acked_all)

    # acks=1 records: acknowledged from the page cache, as documented, so a power loss may take
    # them. But a consumer must not be shown them before they are durable.
    seen: dict[int, bytes] = {}
    stop = threading.Event()

    def read_along():
        c = ck.Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "power-reader",
                         "enable.auto.commit": False, "fetch.wait.max.ms": 10})
        try:
            c.assign([ck.TopicPartition("power", 0, 0)])
            while not stop.is_set():
                for m in c.consume(num_messages=1000, timeout=0.2):
                    if m.error() is None:
                        seen[m.offset()] = m.value()
        finally:
            c.close()

    reader = threading.Thread(target=read_along, daemon=True)
    reader.start()
    acked_one = produce_all(producer(broker.bootstrap, acks=1, **{"linger.ms": 0}), "power",
                            records("one", 300))
    assert_delivered(acked_one)
    wait_for(lambda: len(seen) >= 600, timeout_s=30, what="the consumer to read all 600 records")
    stop.set()
    reader.join(timeout=10)

    broker.kill9()
    # A torn write on top: 37 bytes of the first unsynced batch survive (less than a header).
    cut_to_fsynced(broker.data_dir, journal, "power", torn_bytes=37)
    broker.start()

    after = offsets_and_values(consume(broker.bootstrap, "power"))
    for d in acked_all:
        assert after.get(d.offset) == d.value, f"acks=all offset {d.offset} lost after power loss"
    changed = {o: (v, after.get(o)) for o, v in seen.items() if after.get(o) != v}
    assert not changed, f"{len(changed)} offsets a consumer read are gone or hold other records: " \
                        f"{sorted(changed.items())[:3]}"
    # Offsets continue after what survived; none is handed out twice.
    more = produce_all(producer(broker.bootstrap, acks="all"), "power", records("more", 3))
    assert_delivered(more)
    assert more[0].offset == max(after) + 1


@pytest.fixture
def small_tmpfs(tmp_path):
    """A 12 MiB tmpfs, unmounted at the end. Needs root (CI runs as root)."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=12m", "tmpfs", str(mnt)], check=True)
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_a_full_disk_refuses_produce_keeps_consumers_reading_and_recovers_after_restart(
        broker_factory, small_tmpfs):
    data = small_tmpfs / "data"
    broker = broker_factory({"log.dirs": str(data), "log.segment.bytes": str(1 << 20)})
    try:
        create_topic(broker.bootstrap, "full", partitions=1)
        value = os.urandom(8192)
        p = producer(broker.bootstrap, acks="all", **{"message.timeout.ms": 5000, "linger.ms": 1,
                                                     "batch.num.messages": 8})
        reports = produce_all(p, "full", [{"value": value, "partition": 0} for _ in range(2000)],
                              timeout_s=120)
        acked = [d for d in reports if d.error is None]
        failed = [d for d in reports if d.error is not None]
        assert failed, "2000 x 8 KiB fit on a 12 MiB disk?"
        assert len(acked) > 100, (len(acked), len(failed))
        offsets = sorted(d.offset for d in acked)
        assert offsets == list(range(len(acked))), "acknowledged offsets are not contiguous from 0"

        # The exact error, with no retries: KAFKA_STORAGE_ERROR.
        kp = kp_producer(broker.bootstrap, acks="all", retries=0)
        try:
            with pytest.raises(Exception) as refused:
                kp.send("full", value=b"x", partition=0).get(timeout=30)
            assert type(refused.value).__name__ == "KafkaStorageError", repr(refused.value)
        finally:
            kp.close(timeout=5)

        # Consumers still read every acknowledged record while the disk is full.
        got = consume(broker.bootstrap, "full", count=len(acked))
        assert [m.offset() for m in got] == offsets
        assert all(m.value() == value for m in got)

        # Free space (a bigger disk), restart: everything acknowledged is there, writes work.
        broker.kill9()
        subprocess.run(["mount", "-o", "remount,size=64m", str(small_tmpfs)], check=True)
        broker.start()
        got = consume(broker.bootstrap, "full")
        assert [m.offset() for m in got][:len(acked)] == offsets
        more = produce_all(producer(broker.bootstrap, acks="all"), "full", records("after", 3))
        assert_delivered(more)
        assert more[0].offset == got[-1].offset() + 1
    finally:
        broker.cleanup()


def log_dirs(bootstrap: str) -> dict[str, dict]:
    """kafka-python's DescribeLogDirs: {log_dir: result dict}."""
    from clients import kp_admin
    client = kp_admin(bootstrap)
    try:
        [broker] = client.describe_log_dirs()
        return {d["log_dir"]: d for d in broker["log_dirs"]}
    finally:
        client.close()


def test_an_offline_log_dir_keeps_its_partitions_offline_and_they_come_back_intact(
        broker_factory, tmp_path):
    d1, d2 = tmp_path / "d1", tmp_path / "d2"
    broker = broker_factory({"log.dirs": f"{d1},{d2}"})
    create_topic(broker.bootstrap, "jbod", partitions=4)
    acked = produce_all(producer(broker.bootstrap, acks="all"), "jbod",
                        [r for p in range(4) for r in records(f"p{p}", 50, partition=p)])
    assert_delivered(acked)
    dirs = log_dirs(broker.bootstrap)
    assert set(dirs) == {str(d1), str(d2)}
    placed = {d: {p["partition_index"]: p["partition_size"] for t in r["topics"] for p in t["partitions"]}
              for d, r in dirs.items()}
    assert sorted(p for parts in placed.values() for p in parts) == [0, 1, 2, 3]
    assert all(size > 0 for parts in placed.values() for size in parts.values())
    in_d2 = sorted(placed[str(d2)])
    assert in_d2, "partitions are spread over both directories"

    # The second directory's disk "fails": it cannot be opened at start-up.
    assert broker.stop() == 0
    d2.rename(tmp_path / "d2.saved")
    d2.write_text("not a directory")
    broker.start()
    dirs = log_dirs(broker.bootstrap)
    assert dirs[str(d2)]["error_code"] == KAFKA_STORAGE_ERROR
    assert dirs[str(d1)]["error_code"] == 0
    for p in range(4):
        expected = KAFKA_STORAGE_ERROR if p in in_d2 else 0
        assert partition_error(broker.bootstrap, "jbod", p) == expected, p
    # Not re-created empty in the directory that works.
    assert sorted(x.name for x in d1.glob("jbod-*")) == sorted(f"jbod-{p}" for p in placed[str(d1)])
    online = sorted(placed[str(d1)])[0]
    more = produce_all(producer(broker.bootstrap, acks="all"), "jbod", records("more", 1, partition=online))
    assert_delivered(more)
    assert more[0].offset == 50

    # The disk is back: every partition is there with its records, offsets continuing.
    assert broker.stop() == 0
    d2.unlink()
    (tmp_path / "d2.saved").rename(d2)
    broker.start()
    for p in range(4):
        got = consume(broker.bootstrap, "jbod", partition=p)
        want = [d.value for d in acked if d.partition == p] + ([b"more-0"] if p == online else [])
        assert [m.value() for m in got] == want, p


def test_flush_messages_fsyncs_before_an_acks_1_answer(broker_factory, tmp_path):
    # With strom.acks.all.fsync=false nothing else fsyncs: only flush.messages=1 can make these
    # records survive a power loss right after their acknowledgement.
    env, _, journal = fault_env(tmp_path)
    broker = broker_factory({"strom.acks.all.fsync": "false"}, env=env)
    create_topic(broker.bootstrap, "flushed", config={"flush.messages": "1"})
    p = producer(broker.bootstrap, acks=1, **{"linger.ms": 0})
    acked = []
    for i in range(20):
        [d] = produce_all(p, "flushed", [{"value": f"r{i}".encode()}])
        assert d.error is None, d.error
        acked.append(d)
    broker.kill9()  # at once: no timer gets a chance to flush
    cut_to_fsynced(broker.data_dir, journal, "flushed")
    broker.start()
    got = offsets_and_values(consume(broker.bootstrap, "flushed"))
    assert {d.offset: d.value for d in acked} == got


def test_a_read_error_takes_the_log_dir_offline_and_a_restart_serves_every_record(
        broker_factory, tmp_path):
    env, control, _ = fault_env(tmp_path)
    broker = broker_factory(env=env)
    create_topic(broker.bootstrap, "eio")
    acked = produce_all(producer(broker.bootstrap, acks="all"), "eio", records("r", 50))
    assert_delivered(acked)
    set_faults(control, "read=eio\nmatch=eio-0\n")
    # Clients treat KAFKA_STORAGE_ERROR on fetch as retriable: nothing is delivered, nothing wrong.
    with pytest.raises(AssertionError, match="consumed 0 of 50"):
        consume(broker.bootstrap, "eio", count=50, timeout_s=3)
    # As in Kafka, an I/O error takes the directory offline, until a restart on a good disk.
    set_faults(control, "")
    assert partition_error(broker.bootstrap, "eio", 0) == KAFKA_STORAGE_ERROR
    broker.kill9()
    broker.start()
    got = consume(broker.bootstrap, "eio", count=50)
    assert [(m.offset(), m.value()) for m in got] == [(d.offset, d.value) for d in acked]
