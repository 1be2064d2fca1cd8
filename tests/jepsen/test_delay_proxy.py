"""The delaying proxy on its own, against a fake broker: held requests arrive late and in order, a
request sent before the client hung up still arrives, answers come back, and Metadata and
FindCoordinator answers name the proxy's listeners instead of the brokers. Every wait is bounded."""

from __future__ import annotations

import socket
import struct
import threading
import time

import pytest

from delay_proxy import (END_TXN, FIND_COORDINATOR, METADATA, PRODUCE, Cursor, DelayProxy, DelayRule,
                         read_frame, rewrite_answer, string, uvarint, wait_for)

HOLD_S = 0.4


class FakeBroker:
    """Accepts connections; records (arrival time, api key, correlation id) of every request and
    answers each with a frame holding its correlation id and b"ok"."""

    def __init__(self) -> None:
        self.srv = socket.socket()
        self.srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.srv.bind(("127.0.0.1", 0))
        self.srv.listen(8)
        self.srv.settimeout(0.2)
        self.port = self.srv.getsockname()[1]
        self.received: list[tuple[float, int, int]] = []
        self.stop = threading.Event()
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.srv.accept()
            except (socket.timeout, OSError):
                continue
            threading.Thread(target=self.handle, args=(conn,), daemon=True).start()

    def handle(self, conn: socket.socket) -> None:
        conn.settimeout(10)
        with conn:
            while True:
                try:
                    frame = read_frame(conn)
                except OSError:
                    return
                if frame is None:
                    return
                api_key, _version, correlation_id = struct.unpack(">hhi", frame[4:12])
                self.received.append((time.monotonic(), api_key, correlation_id))
                body = struct.pack(">i", correlation_id) + b"ok"
                try:
                    conn.sendall(struct.pack(">i", len(body)) + body)
                except OSError:
                    pass

    def close(self) -> None:
        self.stop.set()
        self.srv.close()


def request(api_key: int, correlation_id: int, version: int = 0) -> bytes:
    body = struct.pack(">hhi", api_key, version, correlation_id) + string("client", False) + b"payload"
    return struct.pack(">i", len(body)) + body


@pytest.fixture
def broker():
    b = FakeBroker()
    yield b
    b.close()


def connect_through(proxy: DelayProxy, broker: FakeBroker, rules=None) -> socket.socket:
    host, port = proxy.add(1, "127.0.0.1", broker.port)
    s = socket.create_connection((host, port), timeout=5)
    s.settimeout(5)
    return s


def test_held_requests_arrive_late_and_in_order(broker):
    proxy = DelayProxy([DelayRule(END_TXN, HOLD_S)])
    try:
        s = connect_through(proxy, broker)
        t0 = time.monotonic()
        s.sendall(request(METADATA, 1) + request(END_TXN, 2) + request(PRODUCE, 3))
        answers = [struct.unpack(">i", read_frame(s)[4:8])[0] for _ in range(3)]
        assert answers == [1, 2, 3]
        assert [(k, c) for _, k, c in broker.received] == [(METADATA, 1), (END_TXN, 2), (PRODUCE, 3)]
        arrival = {c: t - t0 for t, _, c in broker.received}
        assert arrival[1] < HOLD_S / 2, "Metadata is not held"
        assert arrival[2] >= HOLD_S * 0.9, "EndTxn is held"
        assert arrival[3] >= arrival[2], "what follows a held request waits behind it"
        assert proxy.stats() == {"delayed": {"EndTxn": 1},
                                 "forwarded": {"Produce": 1, "Metadata": 1, "EndTxn": 1}}
        s.close()
    finally:
        proxy.close()


def test_a_request_sent_before_the_client_hung_up_still_arrives(broker):
    seen: list[dict] = []
    proxy = DelayProxy([DelayRule(PRODUCE, HOLD_S), DelayRule(END_TXN, HOLD_S)], on_delay=seen.append)
    try:
        s = connect_through(proxy, broker)
        t0 = time.monotonic()
        s.sendall(request(PRODUCE, 7, version=9))
        s.close()  # the client gives up at once
        assert wait_for(lambda: len(broker.received) == 1, 5.0), "the held Produce never reached the broker"
        arrived, api_key, correlation_id = broker.received[0]
        assert (api_key, correlation_id) == (PRODUCE, 7)
        assert arrived - t0 >= HOLD_S * 0.9
        assert seen == [{"api": "Produce", "api_key": PRODUCE, "correlation_id": 7, "seconds": HOLD_S}]
    finally:
        proxy.close()


def test_probability_zero_holds_nothing(broker):
    proxy = DelayProxy([DelayRule(PRODUCE, 5.0, probability=0.0)])
    try:
        s = connect_through(proxy, broker)
        t0 = time.monotonic()
        s.sendall(request(PRODUCE, 1))
        read_frame(s)
        assert time.monotonic() - t0 < 2.0
        assert proxy.stats()["delayed"] == {}
        s.close()
    finally:
        proxy.close()


def metadata_answer(version: int, brokers: list[tuple[int, str, int, str | None]], rest: bytes) -> bytes:
    flexible = version >= 9
    body = struct.pack(">i", 42) + (uvarint(0) if flexible else b"")
    if version >= 3:
        body += struct.pack(">i", 0)
    body += uvarint(len(brokers) + 1) if flexible else struct.pack(">i", len(brokers))
    for node_id, host, port, rack in brokers:
        body += struct.pack(">i", node_id) + string(host, flexible) + struct.pack(">i", port)
        if version >= 1:
            body += string(rack, flexible)
        if flexible:
            body += uvarint(0)
    body += rest
    return struct.pack(">i", len(body)) + body


def brokers_of(frame: bytes, version: int) -> list[tuple[int, str, int]]:
    flexible = version >= 9
    r = Cursor(frame, 8)
    if flexible:
        r.skip_tags()
    if version >= 3:
        r.i32()
    n = r.uvarint() - 1 if flexible else r.i32()
    out = []
    for _ in range(n):
        node_id, host, port = r.i32(), r.string(flexible), r.i32()
        if version >= 1:
            r.string(flexible)
        if flexible:
            r.skip_tags()
        out.append((node_id, host, port))
    return out


@pytest.mark.parametrize("version", [1, 4, 9, 12])
def test_metadata_answers_name_the_proxy(version):
    rest = b"\x00\x01TOPICS-AND-MORE"
    frame = metadata_answer(version, [(1, "10.0.0.1", 9092, "r1"), (2, "10.0.0.2", 9092, None),
                                      (3, "10.0.0.3", 9092, "r3")], rest)
    out = rewrite_answer(METADATA, version, frame, {1: ("127.0.0.1", 4001), 2: ("127.0.0.1", 4002)})
    assert brokers_of(out, version) == [(1, "127.0.0.1", 4001), (2, "127.0.0.1", 4002), (3, "10.0.0.3", 9092)]
    assert out.endswith(rest)
    assert struct.unpack(">i", out[:4])[0] == len(out) - 4
    assert rewrite_answer(PRODUCE, 9, frame, {1: ("h", 1)}) == frame


def test_find_coordinator_answers_name_the_proxy():
    # v2: throttle, error, message, node, host, port.
    body = (struct.pack(">iih", 9, 0, 0) + string(None, False) + struct.pack(">i", 2) + string("10.0.0.2", False)
            + struct.pack(">i", 9092))
    out = rewrite_answer(FIND_COORDINATOR, 2, struct.pack(">i", len(body)) + body, {2: ("127.0.0.1", 4002)})
    r = Cursor(out, 8)
    assert (r.i32(), r.i16(), r.string(False), r.i32(), r.string(False), r.i32()) == (0, 0, None, 2, "127.0.0.1", 4002)
    # v4: throttle, coordinators [key, node, host, port, error, message, tags], tags.
    body = (struct.pack(">i", 9) + uvarint(0) + struct.pack(">i", 0) + uvarint(2) + string("txn-1", True)
            + struct.pack(">i", 3) + string("10.0.0.3", True) + struct.pack(">i", 9092) + struct.pack(">h", 0)
            + string(None, True) + uvarint(0) + uvarint(0))
    out = rewrite_answer(FIND_COORDINATOR, 4, struct.pack(">i", len(body)) + body, {3: ("127.0.0.1", 4003)})
    r = Cursor(out, 8)
    r.skip_tags()
    r.i32()
    assert r.uvarint() == 2
    assert (r.string(True), r.i32(), r.string(True), r.i32(), r.i16()) == ("txn-1", 3, "127.0.0.1", 4003, 0)
    assert struct.unpack(">i", out[:4])[0] == len(out) - 4


def test_an_unreachable_broker_closes_the_clients_connection():
    dead = socket.socket()
    dead.bind(("127.0.0.1", 0))
    port = dead.getsockname()[1]
    dead.close()  # nothing listens there now
    proxy = DelayProxy([])
    try:
        host, proxy_port = proxy.add(1, "127.0.0.1", port)
        s = socket.create_connection((host, proxy_port), timeout=5)
        s.settimeout(8)
        assert s.recv(1) == b"", "the proxy closes the connection it cannot forward"
        s.close()
    finally:
        proxy.close()
