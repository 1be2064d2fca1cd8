"""A client cannot take the broker down: connection limits, idle connections, request memory,
fetch size and decoded request size, each measured against the broker's memory.

Memory is read from /proc/<pid>/status: VmRSS (resident now), VmHWM (peak resident) and VmData
(address space reserved for heap and anonymous mappings, which an up-front reservation of a
declared size shows even before its pages are touched). Each bound is stated next to its test;
the figures are printed (run with -s to see them).

Raw sockets (kafka_wire) speak for attackers that real clients cannot express; confluent-kafka
checks that the broker still serves a real client meanwhile.
"""

from __future__ import annotations

import os
import resource
import socket
import struct
import threading
import time
from pathlib import Path

import pytest

import kafka_wire as kw
from clients import (CLIENT_TIMEOUT_S, assert_delivered, consume, create_topic, produce_all, producer,
                     unique, values, wait_for)
from test_alter_configs import alter_cluster_default

MIB = 1024 * 1024
SET = 0  # IncrementalAlterConfigs operation


def mem(pid: int) -> dict[str, int]:
    """VmRSS, VmHWM, VmData of a process, in bytes."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM", "VmData"):
            out[key] = int(rest.split()[0]) * 1024
    return out


def reset_peak(pid: int) -> None:
    """Resets VmHWM to the current RSS (Linux: write 5 to clear_refs)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def open_fds(pid: int) -> int:
    return len(list(Path(f"/proc/{pid}/fd").iterdir()))


def host_port(broker) -> tuple[str, int]:
    host, port = broker.bootstrap.rsplit(":", 1)
    return host, int(port)


def raw_socket(broker, source_ip: str = "127.0.0.1", timeout_s: float = 10.0) -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout_s)
    s.bind((source_ip, 0))
    s.connect(host_port(broker))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def answers_api_versions(s: socket.socket, timeout_s: float) -> bool:
    """Sends ApiVersions v0 and reports whether a well-formed answer arrives within timeout_s.
    False if nothing arrives in time; raises if the broker closed the connection."""
    conn = kw.Connection(s)
    s.settimeout(timeout_s)
    try:
        parsed = kw.parse_api_versions_v0(conn.request(kw.API_API_VERSIONS, 0, b""))
    except (socket.timeout, TimeoutError):
        return False
    return parsed.error_code == 0


def roundtrip_with_real_client(bootstrap: str, n: int = 20) -> None:
    topic = unique("alive")
    create_topic(bootstrap, topic)
    reports = produce_all(producer(bootstrap), topic, [{"value": f"v{i}".encode()} for i in range(n)])
    assert_delivered(reports)
    assert values(consume(bootstrap, topic, count=n)) == [f"v{i}".encode() for i in range(n)]


def closed_by_broker(s: socket.socket, timeout_s: float) -> bool:
    """True if the broker closes the connection within timeout_s, False if it stays open
    (silent) that long; answering bytes is an error here."""
    try:
        return kw.Connection(s).closed_by_peer(timeout_s)
    except (socket.timeout, TimeoutError):
        return False


# -- idle connections ------------------------------------------------------------------------------


IDLE_CONNECTIONS = 10_000
# 10,000 connections, each a task, a socket and a read buffer of 1 KiB: bounded by 64 MiB.
IDLE_RSS_BOUND = 64 * MIB


def test_ten_thousand_idle_connections_cost_bounded_memory_and_a_real_client_is_served(broker):
    # This process holds the other end of every connection.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < IDLE_CONNECTIONS + 500:
        if hard < IDLE_CONNECTIONS + 500:
            pytest.skip(f"the hard open file limit ({hard}) is below {IDLE_CONNECTIONS + 500}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    pid = broker.proc.pid
    before = mem(pid)
    socks = []
    try:
        for _ in range(IDLE_CONNECTIONS):
            socks.append(raw_socket(broker))
        # Every connection accepted and serving (a connection's task owns one fd each).
        wait_for(lambda: open_fds(pid) >= IDLE_CONNECTIONS, 60, what=f"{IDLE_CONNECTIONS} accepted connections")
        # Half of them start a request (4 bytes of a prefix, nothing after): still idle-sized.
        for s in socks[::2]:
            s.sendall(struct.pack(">i", 1000))
        roundtrip_with_real_client(broker.bootstrap)
        # The oldest connection is still served.
        assert answers_api_versions(socks[1], 10)
        after = mem(pid)
        grown = after["VmRSS"] - before["VmRSS"]
        print(f"\n{IDLE_CONNECTIONS} idle connections: RSS {before['VmRSS'] / MIB:.1f} -> "
              f"{after['VmRSS'] / MIB:.1f} MiB (+{grown / MIB:.1f} MiB, "
              f"{grown / IDLE_CONNECTIONS / 1024:.1f} KiB per connection)")
        assert grown < IDLE_RSS_BOUND, f"{IDLE_CONNECTIONS} idle connections took {grown / MIB:.1f} MiB"
    finally:
        for s in socks:
            s.close()


def test_idle_connections_are_closed_after_connections_max_idle_ms(broker_factory):
    broker = broker_factory({"connections.max.idle.ms": "1000"})
    idle = raw_socket(broker)
    assert answers_api_versions(idle, 10)
    started = time.monotonic()
    assert closed_by_broker(idle, 15), "the idle connection was not closed"
    elapsed = time.monotonic() - started
    assert 0.9 <= elapsed < 10, f"closed after {elapsed:.2f}s with connections.max.idle.ms=1000"
    # A connection waiting on a long poll longer than the idle time is not idle.
    topic = unique("idle")
    create_topic(broker.bootstrap, topic)
    with kw.connect(*host_port(broker)) as conn:
        t0 = time.monotonic()
        part = conn.fetch_v4(topic, 0, 0, max_wait_ms=2500, min_bytes=1)
        assert part.error_code == 0 and part.records in (b"", None)
        assert time.monotonic() - t0 >= 2.0
    assert "idle for connections.max.idle.ms" in broker.log_path.read_text()
    idle.close()


# -- connection limits -----------------------------------------------------------------------------


def test_max_connections_stops_accepting_and_changes_dynamically(broker):
    alter_cluster_default(broker.bootstrap, "max.connections", "2", SET)
    # The admin connection that made the change may still be closing: wait until two fit.
    first = raw_socket(broker)
    assert answers_api_versions(first, 10)
    second = raw_socket(broker)
    assert answers_api_versions(second, 10), "the second of max.connections=2 is served"
    third = raw_socket(broker)  # completes in the listen backlog, not accepted
    assert not answers_api_versions(third, 1.5), "a third connection was served with max.connections=2"
    first.close()
    assert answers_api_versions(third, 10), "closing a connection lets the waiting one in"
    # Raise the limit (the freed slot carries the admin request), then five more fit at once.
    second.close()
    alter_cluster_default(broker.bootstrap, "max.connections", "8", SET)
    more = [raw_socket(broker) for _ in range(5)]
    try:
        for s in more:
            assert answers_api_versions(s, 10), "raising max.connections did not let connections in"
    finally:
        for s in more + [third]:
            s.close()
    assert "max.connections reached" in broker.log_path.read_text()


def test_max_connections_per_ip_and_overrides_close_the_excess_at_once(broker_factory):
    broker = broker_factory({"max.connections.per.ip": "3", "max.connections.per.ip.overrides": "127.0.0.2:5"})
    held = []
    try:
        for _ in range(3):
            s = raw_socket(broker, "127.0.0.3")
            held.append(s)
            assert answers_api_versions(s, 10)
        extra = raw_socket(broker, "127.0.0.3")
        assert closed_by_broker(extra, 10), "a fourth connection from 127.0.0.3 stayed open"
        for _ in range(5):
            s = raw_socket(broker, "127.0.0.2")
            held.append(s)
            assert answers_api_versions(s, 10), "127.0.0.2 may have 5 (override)"
        extra = raw_socket(broker, "127.0.0.2")
        assert closed_by_broker(extra, 10), "a sixth connection from 127.0.0.2 stayed open"
        # Dynamic: per IP 3 -> 4 lets a fourth in from 127.0.0.3.
        alter_cluster_default(broker.bootstrap, "max.connections.per.ip", "4", SET)
        fourth = raw_socket(broker, "127.0.0.3")
        held.append(fourth)
        assert answers_api_versions(fourth, 10)
    finally:
        for s in held:
            s.close()
    assert "max.connections.per.ip" in broker.log_path.read_text()


# -- request memory ----------------------------------------------------------------------------------


STALLED_FRAMES = 50
# 50 connections each declaring a 100 MiB request and sending 10 bytes: the broker holds
# what arrived, not what was declared. Bounds: RSS +32 MiB, reserved address space +1 GiB
# (an up-front reservation of the declared size would be 50 x 100 MiB = 5000 MiB).
STALLED_RSS_BOUND = 32 * MIB
STALLED_VMDATA_BOUND = 1024 * MIB


def test_stalled_100_mib_frames_cost_what_was_sent(broker):
    pid = broker.proc.pid
    before = mem(pid)
    socks = []
    try:
        for _ in range(STALLED_FRAMES):
            s = raw_socket(broker)
            s.sendall(struct.pack(">i", 100 * MIB - 1) + b"\x00\x03\x00\x00" + b"\x00" * 6)
            socks.append(s)
        wait_for(lambda: open_fds(pid) >= STALLED_FRAMES, 30, what="accepted connections")
        roundtrip_with_real_client(broker.bootstrap)
        after = mem(pid)
        rss = after["VmRSS"] - before["VmRSS"]
        data = after["VmData"] - before["VmData"]
        print(f"\n{STALLED_FRAMES} stalled 100 MiB frames: RSS +{rss / MIB:.1f} MiB, VmData +{data / MIB:.1f} MiB")
        assert rss < STALLED_RSS_BOUND
        assert data < STALLED_VMDATA_BOUND, f"reserved {data / MIB:.0f} MiB for {STALLED_FRAMES * 10} bytes received"
    finally:
        for s in socks:
            s.close()


POOL_BYTES = 24 * MIB
PARTIAL_FRAME = 16 * MIB
PARTIAL_SENT = 15 * MIB
PARTIAL_CONNECTIONS = 8


def test_partial_frames_are_bounded_by_queued_max_request_bytes(broker_factory):
    """8 connections each send 15 MiB of a 16 MiB request and stop. Buffers are charged to the
    24 MiB pool as they grow and one request may overdraw it by at most one request (16 MiB):
    the broker holds at most 40 MiB (plus what the allocator keeps of the buffers' doubling
    steps), not 8 x 15 = 120 MiB as without the pool. Bound: RSS +80 MiB."""
    broker = broker_factory({"queued.max.request.bytes": str(POOL_BYTES)})
    pid = broker.proc.pid
    before = mem(pid)
    socks = [raw_socket(broker, timeout_s=5) for _ in range(PARTIAL_CONNECTIONS)]
    sent = [0] * PARTIAL_CONNECTIONS

    def send(i: int) -> None:
        s = socks[i]
        data = struct.pack(">i", PARTIAL_FRAME) + b"\x00\x12\x00\x00\x00\x00\x00\x01" + b"x" * (PARTIAL_SENT - 8)
        view = memoryview(data)
        try:
            while view:
                n = s.send(view[:256 * 1024])
                view = view[n:]
                sent[i] += n
        except (socket.timeout, TimeoutError, OSError):
            pass  # the broker stopped reading: back-pressure

    threads = [threading.Thread(target=send, args=(i,)) for i in range(PARTIAL_CONNECTIONS)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        fully_sent = sum(1 for n in sent if n >= PARTIAL_SENT)
        after = mem(pid)
        grown = after["VmRSS"] - before["VmRSS"]
        print(f"\npool {POOL_BYTES / MIB:.0f} MiB, {PARTIAL_CONNECTIONS} x {PARTIAL_SENT / MIB:.0f} MiB partial "
              f"requests ({fully_sent} fully sent): RSS +{grown / MIB:.1f} MiB")
        assert grown < 80 * MIB, f"{grown / MIB:.1f} MiB held for partial requests with a {POOL_BYTES / MIB:.0f} MiB pool"
        # Connections that do not fit wait; nobody is failed.
        for s in socks:
            assert not closed_by_broker(s, 0.2)
        assert "request memory pool exhausted" in broker.log_path.read_text()
    finally:
        for s in socks:
            s.close()
    # Closing the connections returns their memory: a real client is served again.
    roundtrip_with_real_client(broker.bootstrap)


# -- fetch size ------------------------------------------------------------------------------------


FETCH_TOPIC_BYTES = 256 * MIB
FETCH_MAX_BYTES = 55 * MIB  # Kafka's default fetch.max.bytes
# A Fetch for 2 GiB of a 256 MiB partition reads at most fetch.max.bytes: the response plus the
# read buffer are about 2 x 55 MiB. Bound: peak RSS +160 MiB over the RSS before the fetch.
FETCH_PEAK_BOUND = 160 * MIB


def test_a_fetch_asking_for_2_gib_gets_at_most_fetch_max_bytes(broker):
    topic = unique("bigfetch")
    create_topic(broker.bootstrap, topic)
    value = b"z" * (512 * 1024)
    p = producer(broker.bootstrap, linger_ms=20, batch_size=1_000_000, compression_type="none")
    reports = produce_all(p, topic, ({"value": value} for _ in range(FETCH_TOPIC_BYTES // len(value))),
                          timeout_s=120)
    assert_delivered(reports)
    pid = broker.proc.pid
    reset_peak(pid)
    before = mem(pid)
    with kw.connect(*host_port(broker), timeout_s=60) as conn:
        part = conn.fetch_v4(topic, 0, 0, max_bytes=2**31 - 1, partition_max_bytes=2**31 - 1)
    after = mem(pid)
    got = len(part.records or b"")
    peak = after["VmHWM"] - before["VmRSS"]
    print(f"\nFetch max_bytes=2 GiB on {FETCH_TOPIC_BYTES / MIB:.0f} MiB: {got / MIB:.1f} MiB returned, "
          f"{len(part.batches)} batches; peak RSS {after['VmHWM'] / MIB:.1f} MiB (+{peak / MIB:.1f} over before)")
    assert part.error_code == 0
    assert got <= FETCH_MAX_BYTES, f"{got} bytes returned, fetch.max.bytes is {FETCH_MAX_BYTES}"
    # Whole batches only, from offset 0, contiguous, and as many as fit (the next one would not).
    assert part.batches and part.batches[0].base_offset == 0
    assert sum(12 + b.batch_length for b in part.batches) == got
    for a, b in zip(part.batches, part.batches[1:]):
        assert b.base_offset == a.base_offset + a.last_offset_delta + 1
    assert got > FETCH_MAX_BYTES - 2 * MIB, f"only {got} bytes returned"
    assert peak < FETCH_PEAK_BOUND, f"peak RSS grew {peak / MIB:.1f} MiB for one fetch"


def test_kip74_first_batch_is_returned_whole_past_partition_max_bytes(broker):
    topic = unique("kip74")
    create_topic(broker.bootstrap, topic)
    assert_delivered(produce_all(producer(broker.bootstrap), topic, [{"value": b"q" * 100_000}]))
    with kw.connect(*host_port(broker)) as conn:
        part = conn.fetch_v4(topic, 0, 0, max_bytes=1024, partition_max_bytes=1024)
    assert part.error_code == 0
    assert len(part.batches) == 1 and part.batches[0].base_offset == 0
    assert len(part.records) > 100_000


# -- decoded size ----------------------------------------------------------------------------------


HOSTILE_TOPICS = 5_500_000  # 18 bytes each on the wire: a ~95 MiB Metadata v12 request
# Decoded without a budget, 5.5 million 72-byte topic structs are ~380 MiB on top of the 95 MiB
# frame. With the decode budget the request fails before allocating them. Bound: peak RSS +200 MiB
# (the frame itself is 95 MiB).
HOSTILE_PEAK_BOUND = 200 * MIB


def test_a_request_that_decodes_far_larger_than_its_wire_size_is_refused(broker):
    pid = broker.proc.pid
    reset_peak(pid)
    before = mem(pid)
    # Metadata v12: compact array of topics, each: topic_id (16 zero bytes), null name (0), no tags (0).
    body = kw.uvarint(HOSTILE_TOPICS + 1) + bytes(18 * HOSTILE_TOPICS) + b"\x01\x00\x00"
    frame = kw.request_frame(kw.API_METADATA, 12, 7, body, flexible=True)
    assert len(frame) < 100 * MIB
    with kw.connect(*host_port(broker), timeout_s=60) as conn:
        conn.send_raw(frame)
        conn.sock.settimeout(60)
        try:
            data = conn.sock.recv(4)
        except ConnectionResetError:
            data = b""
    after = mem(pid)
    peak = after["VmHWM"] - before["VmRSS"]
    print(f"\nhostile Metadata of {HOSTILE_TOPICS} empty topics ({len(frame) / MIB:.0f} MiB): "
          f"peak RSS +{peak / MIB:.1f} MiB")
    assert data == b"", "the broker answered a request that decodes past its budget"
    assert peak < HOSTILE_PEAK_BOUND, f"peak RSS grew {peak / MIB:.1f} MiB"
    assert "budget" in broker.log_path.read_text()
    roundtrip_with_real_client(broker.bootstrap)


# -- file handles ----------------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_the_soft_open_file_limit_is_raised_to_the_hard_limit_at_start(broker_factory):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard <= 1024:
        pytest.skip(f"the hard limit ({hard}) leaves nothing to raise")
    resource.setrlimit(resource.RLIMIT_NOFILE, (1024, hard))
    try:
        broker = broker_factory()
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert resource.prlimit(broker.proc.pid, resource.RLIMIT_NOFILE) == (hard, hard)
    assert f"open_files={hard} was=1024" in broker.log_path.read_text()


def test_running_out_of_file_handles_neither_kills_nor_spins_the_accept_loop(broker):
    pid = broker.proc.pid
    in_use = open_fds(pid)
    resource.prlimit(pid, resource.RLIMIT_NOFILE, (in_use + 20, in_use + 20))
    socks = []
    try:
        for _ in range(60):  # 40 more than the broker can accept: they wait in the backlog
            socks.append(raw_socket(broker))
        wait_for(lambda: "accept failed" in broker.log_path.read_text(), 10, what="an accept failure")
        before = cpu_seconds(pid)
        time.sleep(2)
        spent = cpu_seconds(pid) - before
        assert spent < 0.5, f"the broker used {spent:.2f}s of CPU in 2s while out of file handles"
        assert broker.running()
        for s in socks[:50]:
            s.close()
        # Handles are back: the connections that waited in the backlog are served.
        assert answers_api_versions(socks[-1], 10)
    finally:
        for s in socks:
            s.close()
    # One line per burst of failures (a burst may end and start again as handles come back one
    # by one), not one per retry: 2 s of retries every 50 ms would be 40 lines.
    assert 1 <= broker.log_path.read_text().count("accept failed") <= 5
