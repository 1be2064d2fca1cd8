"""Just enough of the Kafka wire protocol to talk to the broker without a client library.

Clients hide what the wire tests need to see: exact error codes, how long a Fetch is parked,
what a malformed frame does to the connection, the order of pipelined responses, and the raw
record batches (to check a batch's compression codec as the broker serves it). Only old,
non-flexible request versions are encoded here (plus ApiVersions v3's flexible header), which
keeps this file small; field layouts follow Kafka's message specs (clients/src/main/resources/
common/message/*.json).
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass, field

API_PRODUCE = 0
API_FETCH = 1
API_LIST_OFFSETS = 2
API_METADATA = 3
API_API_VERSIONS = 18

ERROR_NONE = 0
ERROR_OFFSET_OUT_OF_RANGE = 1
ERROR_UNKNOWN_TOPIC_OR_PARTITION = 3
ERROR_LEADER_NOT_AVAILABLE = 5
ERROR_UNSUPPORTED_VERSION = 35

COMPRESSION_CODECS = {"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}


class ProtocolError(Exception):
    """The broker closed the connection or answered something this module cannot read."""


# -- encoding ----------------------------------------------------------------------------------------


def i8(v: int) -> bytes:
    return struct.pack(">b", v)


def i16(v: int) -> bytes:
    return struct.pack(">h", v)


def i32(v: int) -> bytes:
    return struct.pack(">i", v)


def i64(v: int) -> bytes:
    return struct.pack(">q", v)


def string(s: str | None) -> bytes:
    if s is None:
        return i16(-1)
    b = s.encode()
    return i16(len(b)) + b


def uvarint(v: int) -> bytes:
    out = bytearray()
    while True:
        byte = v & 0x7F
        v >>= 7
        if v:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def compact_string(s: str) -> bytes:
    b = s.encode()
    return uvarint(len(b) + 1) + b


def array(items: list[bytes] | None) -> bytes:
    if items is None:
        return i32(-1)
    return i32(len(items)) + b"".join(items)


def request_header(api_key: int, version: int, correlation_id: int, client_id: str = "strom-compat",
                   flexible: bool = False) -> bytes:
    header = i16(api_key) + i16(version) + i32(correlation_id) + string(client_id)
    if flexible:
        header += uvarint(0)  # empty tagged fields
    return header


def frame(payload: bytes) -> bytes:
    return i32(len(payload)) + payload


def request_frame(api_key: int, version: int, correlation_id: int, body: bytes, flexible: bool = False) -> bytes:
    return frame(request_header(api_key, version, correlation_id, flexible=flexible) + body)


# -- decoding ----------------------------------------------------------------------------------------


class Reader:
    def __init__(self, data: bytes):
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise ProtocolError(f"truncated response: need {n} bytes at {self.pos}, have {len(self.data)}")
        b = self.data[self.pos:self.pos + n]
        self.pos += n
        return b

    def i8(self) -> int:
        return struct.unpack(">b", self.take(1))[0]

    def i16(self) -> int:
        return struct.unpack(">h", self.take(2))[0]

    def i32(self) -> int:
        return struct.unpack(">i", self.take(4))[0]

    def i64(self) -> int:
        return struct.unpack(">q", self.take(8))[0]

    def string(self) -> str | None:
        n = self.i16()
        return None if n < 0 else self.take(n).decode()

    def bytes_(self) -> bytes | None:
        n = self.i32()
        return None if n < 0 else self.take(n)

    def array(self, item) -> list | None:
        n = self.i32()
        return None if n < 0 else [item(self) for _ in range(n)]

    def remaining(self) -> int:
        return len(self.data) - self.pos


# -- responses ---------------------------------------------------------------------------------------


@dataclass
class ApiVersions:
    error_code: int
    api_keys: dict[int, tuple[int, int]]


@dataclass
class MetadataPartition:
    error_code: int
    partition: int
    leader: int
    replicas: list[int]
    isr: list[int]


@dataclass
class MetadataTopic:
    error_code: int
    name: str
    partitions: list[MetadataPartition]


@dataclass
class Metadata:
    brokers: list[tuple[int, str, int]]
    cluster_id: str | None
    controller_id: int
    topics: dict[str, MetadataTopic]


@dataclass
class RecordBatchHeader:
    base_offset: int
    batch_length: int
    magic: int
    attributes: int
    last_offset_delta: int
    record_count: int

    @property
    def compression(self) -> int:
        return self.attributes & 0x07

    @property
    def timestamp_type(self) -> int:
        return (self.attributes >> 3) & 0x01


@dataclass
class FetchPartition:
    partition: int
    error_code: int
    high_watermark: int
    records: bytes | None
    batches: list[RecordBatchHeader] = field(default_factory=list)


def parse_api_versions_v0(body: bytes) -> ApiVersions:
    r = Reader(body)
    error_code = r.i16()
    keys = r.array(lambda r: (r.i16(), r.i16(), r.i16()))
    return ApiVersions(error_code, {k: (lo, hi) for k, lo, hi in keys or []})


def parse_metadata_v4(body: bytes) -> Metadata:
    r = Reader(body)
    r.i32()  # throttle_time_ms
    brokers = r.array(lambda r: (r.i32(), r.string(), r.i32(), r.string()))
    cluster_id = r.string()
    controller_id = r.i32()

    def partition(r: Reader) -> MetadataPartition:
        error_code, index, leader = r.i16(), r.i32(), r.i32()
        replicas = r.array(Reader.i32)
        isr = r.array(Reader.i32)
        return MetadataPartition(error_code, index, leader, replicas or [], isr or [])

    def topic(r: Reader) -> MetadataTopic:
        error_code, name = r.i16(), r.string()
        r.i8()  # is_internal
        return MetadataTopic(error_code, name, r.array(partition) or [])

    topics = r.array(topic) or []
    return Metadata([(b[0], b[1], b[2]) for b in brokers or []], cluster_id, controller_id,
                    {t.name: t for t in topics})


def parse_record_batches(records: bytes | None) -> list[RecordBatchHeader]:
    """Headers of the complete v2 batches in a Fetch response's records (a partial tail is allowed)."""
    out = []
    data = records or b""
    pos = 0
    while len(data) - pos >= 61:  # v2 batch header size
        base_offset, batch_length = struct.unpack_from(">qi", data, pos)
        if len(data) - pos < 12 + batch_length:
            break  # a truncated trailing batch, as the protocol allows
        magic = data[pos + 16]
        attributes, last_offset_delta = struct.unpack_from(">hi", data, pos + 21)
        record_count = struct.unpack_from(">i", data, pos + 57)[0]
        out.append(RecordBatchHeader(base_offset, batch_length, magic, attributes, last_offset_delta, record_count))
        pos += 12 + batch_length
    return out


def parse_fetch_v4(body: bytes) -> dict[tuple[str, int], FetchPartition]:
    r = Reader(body)
    r.i32()  # throttle_time_ms
    out = {}
    for _ in range(r.i32()):
        topic = r.string()
        for _ in range(r.i32()):
            index, error_code, hw = r.i32(), r.i16(), r.i64()
            r.i64()  # last_stable_offset
            r.array(lambda r: (r.i64(), r.i64()))  # aborted_transactions
            records = r.bytes_()
            out[(topic, index)] = FetchPartition(index, error_code, hw, records, parse_record_batches(records))
    return out


# -- a connection --------------------------------------------------------------------------------------


class Connection:
    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.next_correlation_id = 1

    def __enter__(self) -> "Connection":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def recv_exact(self, n: int) -> bytes:
        buf = bytearray()
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise ProtocolError(f"connection closed by the broker after {len(buf)} of {n} bytes")
            buf += chunk
        return bytes(buf)

    def recv_frame(self) -> tuple[int, bytes]:
        """One response: (correlation_id, body after a v0 response header)."""
        size = struct.unpack(">i", self.recv_exact(4))[0]
        if size < 4 or size > 256 * 1024 * 1024:
            raise ProtocolError(f"implausible response size {size}")
        payload = self.recv_exact(size)
        return struct.unpack(">i", payload[:4])[0], payload[4:]

    def closed_by_peer(self, timeout_s: float) -> bool:
        """True when the broker closes (EOF or reset) within timeout_s; False if it answered bytes."""
        self.sock.settimeout(timeout_s)
        try:
            return self.sock.recv(1) == b""
        except ConnectionResetError:
            return True

    def request(self, api_key: int, version: int, body: bytes, flexible_header: bool = False) -> bytes:
        cid = self.next_correlation_id
        self.next_correlation_id += 1
        self.send_raw(request_frame(api_key, version, cid, body, flexible=flexible_header))
        got, resp = self.recv_frame()
        if got != cid:
            raise ProtocolError(f"response correlation id {got}, expected {cid}")
        return resp

    # -- typed requests ---------------------------------------------------------------------------

    def api_versions_v0(self) -> ApiVersions:
        return parse_api_versions_v0(self.request(API_API_VERSIONS, 0, b""))

    def metadata_v4(self, topics: list[str] | None, allow_auto_topic_creation: bool) -> Metadata:
        body = array(None if topics is None else [string(t) for t in topics]) + i8(int(allow_auto_topic_creation))
        return parse_metadata_v4(self.request(API_METADATA, 4, body))

    def list_offsets_v1(self, topic: str, partition: int, timestamp: int) -> tuple[int, int, int]:
        """(error_code, timestamp, offset) for one partition; timestamp -1 = latest, -2 = earliest."""
        body = i32(-1) + array([string(topic) + array([i32(partition) + i64(timestamp)])])
        r = Reader(self.request(API_LIST_OFFSETS, 1, body))
        for _ in range(r.i32()):
            name = r.string()
            for _ in range(r.i32()):
                index, error_code, ts, offset = r.i32(), r.i16(), r.i64(), r.i64()
                if (name, index) == (topic, partition):
                    return error_code, ts, offset
        raise ProtocolError(f"list offsets response lacks {topic}-{partition}")

    def fetch_v4(self, topic: str, partition: int, offset: int, max_wait_ms: int = 0, min_bytes: int = 1,
                 max_bytes: int = 50 * 1024 * 1024, partition_max_bytes: int = 1024 * 1024) -> FetchPartition:
        body = (
            i32(-1) + i32(max_wait_ms) + i32(min_bytes) + i32(max_bytes) + i8(0)
            + array([string(topic) + array([i32(partition) + i64(offset) + i32(partition_max_bytes)])])
        )
        parts = parse_fetch_v4(self.request(API_FETCH, 4, body))
        if (topic, partition) not in parts:
            raise ProtocolError(f"fetch response lacks {topic}-{partition}: {sorted(parts)}")
        return parts[(topic, partition)]


def connect(host: str, port: int, timeout_s: float = 10.0) -> Connection:
    sock = socket.create_connection((host, port), timeout=timeout_s)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return Connection(sock)

