"""A delaying TCP proxy between Kafka clients and brokers: it reads the clients' request frames and
holds chosen ones (EndTxn, Produce, ...) for a set time before passing them on, to replay the
delayed-commit scenario Jepsen found in Bufstream and Kafka (a client gives up on a slow EndTxn or
produce, goes on with its next transaction, and the old request reaches the broker afterwards).

One listener per broker (`DelayProxy.add(node_id, host, port)`). What a client sends on one
connection reaches the broker in the order sent: a held request holds the ones behind it too (a slow
network does the same), and requests a client sent before closing its connection are still
delivered, late, after it closed (that is the point: the broker sees the old request when the
client has moved on). Answers flow back unchanged, except Metadata and FindCoordinator answers,
whose broker addresses are rewritten to the proxy's listeners, so the clients keep talking through
the proxy after bootstrapping; brokers talk to each other directly (their advertised addresses are
theirs), so the nemesis's network faults still cut replication.

Frames: a 4-byte big-endian size, then the request header (api_key i16, api_version i16,
correlation_id i32, ...). Nothing else of a request is parsed.
"""

from __future__ import annotations

import random
import socket
import struct
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable

PRODUCE, METADATA, FIND_COORDINATOR, API_VERSIONS, END_TXN = 0, 3, 10, 18, 26
API_NAMES = {PRODUCE: "Produce", END_TXN: "EndTxn", METADATA: "Metadata", FIND_COORDINATOR: "FindCoordinator"}
# The first flexible (compact, tagged) version of each answer the proxy rewrites.
FLEXIBLE_FROM = {METADATA: 9, FIND_COORDINATOR: 3}
MAX_FRAME = 100 * 1024 * 1024


def read_exact(sock: socket.socket, n: int) -> bytes | None:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return bytes(buf)


def read_frame(sock: socket.socket) -> bytes | None:
    """One whole frame (size prefix included), or None at EOF."""
    head = read_exact(sock, 4)
    if head is None:
        return None
    (size,) = struct.unpack(">i", head)
    if size < 0 or size > MAX_FRAME:
        raise ValueError(f"frame size {size}")
    body = read_exact(sock, size)
    return None if body is None else head + body


class Cursor:
    """Reads Kafka's primitive types from a byte string, remembering where it is."""

    def __init__(self, data: bytes, pos: int = 0) -> None:
        self.data, self.pos = data, pos

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise ValueError("short answer")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def i16(self) -> int:
        return struct.unpack(">h", self.take(2))[0]

    def i32(self) -> int:
        return struct.unpack(">i", self.take(4))[0]

    def uvarint(self) -> int:
        shift = value = 0
        while True:
            b = self.take(1)[0]
            value |= (b & 0x7F) << shift
            if not b & 0x80:
                return value
            shift += 7

    def string(self, flexible: bool) -> str | None:
        n = self.uvarint() - 1 if flexible else self.i16()
        return None if n < 0 else self.take(n).decode()

    def skip_tags(self) -> None:
        for _ in range(self.uvarint()):
            self.uvarint()
            self.take(self.uvarint())


def uvarint(v: int) -> bytes:
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def string(s: str | None, flexible: bool) -> bytes:
    if s is None:
        return uvarint(0) if flexible else struct.pack(">h", -1)
    raw = s.encode()
    return (uvarint(len(raw) + 1) if flexible else struct.pack(">h", len(raw))) + raw


def rewrite_answer(api_key: int, version: int, frame: bytes, addresses: dict[int, tuple[str, int]]) -> bytes:
    """A Metadata or FindCoordinator answer with each broker's host and port replaced by
    `addresses[node_id]` (brokers not in it are left alone); any other frame unchanged."""
    if api_key not in FLEXIBLE_FROM:
        return frame
    flexible = version >= FLEXIBLE_FROM[api_key]
    r = Cursor(frame, 4)
    r.i32()  # correlation id
    if flexible:
        r.skip_tags()  # response header v1
    out = bytearray(frame[4:r.pos])

    def endpoint(node_id: int, host: str | None, port: int) -> bytes:
        host, port = addresses.get(node_id, (host, port))
        return string(host, flexible) + struct.pack(">i", port)

    if api_key == METADATA:
        start = r.pos
        if version >= 3:
            r.i32()  # throttle_time_ms
        out += frame[start:r.pos]
        count = r.uvarint() - 1 if flexible else r.i32()
        out += uvarint(count + 1) if flexible else struct.pack(">i", count)
        for _ in range(max(count, 0)):
            node_id = r.i32()
            host = r.string(flexible)
            port = r.i32()
            out += struct.pack(">i", node_id) + endpoint(node_id, host, port)
            start = r.pos
            if version >= 1:
                r.string(flexible)  # rack
            if flexible:
                r.skip_tags()
            out += frame[start:r.pos]
        out += frame[r.pos:]
    else:  # FindCoordinator
        start = r.pos
        if version >= 1:
            r.i32()  # throttle_time_ms
        if version < 4:
            r.i16()  # error_code
            if version >= 1:
                r.string(flexible)  # error_message
            out += frame[start:r.pos]
            node_id = r.i32()
            host = r.string(flexible)
            port = r.i32()
            out += struct.pack(">i", node_id) + endpoint(node_id, host, port) + frame[r.pos:]
        else:
            out += frame[start:r.pos]
            count = r.uvarint() - 1
            out += uvarint(count + 1)
            for _ in range(max(count, 0)):
                start = r.pos
                r.string(True)  # key
                out += frame[start:r.pos]
                node_id = r.i32()
                host = r.string(True)
                port = r.i32()
                out += struct.pack(">i", node_id) + endpoint(node_id, host, port)
                start = r.pos
                r.i16()  # error_code
                r.string(True)  # error_message
                r.skip_tags()
                out += frame[start:r.pos]
            out += frame[r.pos:]
    return struct.pack(">i", len(out)) + bytes(out)


@dataclass
class DelayRule:
    """Hold requests of `api_key` for `seconds`, each with probability `probability`."""
    api_key: int
    seconds: float
    probability: float = 1.0


@dataclass
class DelayProxy:
    rules: list[DelayRule]
    seed: int = 0
    listen_host: str = "127.0.0.1"
    on_delay: Callable[[dict], None] | None = None  # called for each held request (e.g. History.add)
    delayed: Counter = field(default_factory=Counter)
    forwarded: Counter = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.lock = threading.Lock()
        self.listeners: dict[int, socket.socket] = {}
        self.addresses: dict[int, tuple[str, int]] = {}  # node id -> the proxy's listener for it
        self.stopped = threading.Event()
        self.sockets: set[socket.socket] = set()

    def add(self, node_id: int, host: str, port: int, listen_port: int = 0) -> tuple[str, int]:
        """A listener forwarding to broker `node_id` at host:port; returns its address."""
        srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind((self.listen_host, listen_port))
        srv.listen(64)
        srv.settimeout(0.2)
        self.listeners[node_id] = srv
        self.addresses[node_id] = srv.getsockname()[:2]
        threading.Thread(target=self._accept, args=(srv, (host, port)), daemon=True,
                         name=f"proxy-accept-{node_id}").start()
        return self.addresses[node_id]

    def bootstrap(self) -> str:
        return ",".join(f"{h}:{p}" for h, p in self.addresses.values())

    def close(self) -> None:
        self.stopped.set()
        for s in list(self.listeners.values()) + list(self.sockets):
            try:
                s.close()
            except OSError:
                pass

    def hold_for(self, api_key: int) -> float:
        with self.lock:
            for rule in self.rules:
                if rule.api_key == api_key and self.rng.random() < rule.probability:
                    return rule.seconds
        return 0.0

    def stats(self) -> dict:
        with self.lock:
            return {"delayed": {API_NAMES.get(k, str(k)): v for k, v in sorted(self.delayed.items())},
                    "forwarded": {API_NAMES.get(k, str(k)): v for k, v in sorted(self.forwarded.items())}}

    # -- connections -------------------------------------------------------------------------------

    def _accept(self, srv: socket.socket, target: tuple[str, int]) -> None:
        while not self.stopped.is_set():
            try:
                client, _ = srv.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            # Connecting to a paused or cut-off broker takes time: not in the accept loop.
            threading.Thread(target=self._connect, args=(client, target), daemon=True).start()

    def _connect(self, client: socket.socket, target: tuple[str, int]) -> None:
        try:
            upstream = socket.create_connection(target, timeout=5.0)
        except OSError:
            client.close()  # the client sees the broker unreachable, as it would without the proxy
            return
        upstream.settimeout(None)
        client.settimeout(None)
        with self.lock:
            self.sockets.update((client, upstream))
        inflight: dict[int, tuple[int, int]] = {}  # correlation id -> (api key, version)
        threading.Thread(target=self._requests, args=(client, upstream, inflight), daemon=True).start()
        threading.Thread(target=self._answers, args=(upstream, client, inflight), daemon=True).start()

    def _requests(self, client: socket.socket, upstream: socket.socket, inflight: dict) -> None:
        """Client to broker, frame by frame, in order; held frames hold the ones behind them. What
        the client sent before it closed is still delivered."""
        try:
            while not self.stopped.is_set():
                frame = read_frame(client)
                if frame is None:
                    break
                api_key, version, correlation_id = struct.unpack(">hhi", frame[4:12])
                inflight[correlation_id] = (api_key, version)
                hold = self.hold_for(api_key)
                if hold > 0:
                    with self.lock:
                        self.delayed[api_key] += 1
                    if self.on_delay is not None:
                        self.on_delay({"api": API_NAMES.get(api_key, str(api_key)), "api_key": api_key,
                                       "correlation_id": correlation_id, "seconds": hold})
                    self.stopped.wait(hold)
                with self.lock:
                    self.forwarded[api_key] += 1
                upstream.sendall(frame)
        except (OSError, ValueError, struct.error):
            pass
        finally:
            try:
                upstream.shutdown(socket.SHUT_WR)  # the broker answers what it got, then sees EOF
            except OSError:
                pass

    def _answers(self, upstream: socket.socket, client: socket.socket, inflight: dict) -> None:
        try:
            while not self.stopped.is_set():
                frame = read_frame(upstream)
                if frame is None:
                    break
                (correlation_id,) = struct.unpack(">i", frame[4:8])
                api_key, version = inflight.pop(correlation_id, (-1, -1))
                try:
                    frame = rewrite_answer(api_key, version, frame, self.addresses)
                except (ValueError, UnicodeDecodeError, struct.error):
                    pass  # an answer the proxy cannot read goes through as it is
                try:
                    client.sendall(frame)
                except OSError:
                    pass  # the client is gone; keep draining the broker's answers
        except (OSError, ValueError):
            pass
        finally:
            for s in (client, upstream):
                try:
                    s.close()
                except OSError:
                    pass
            with self.lock:
                self.sockets.discard(client)
                self.sockets.discard(upstream)


def wait_for(predicate: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()
