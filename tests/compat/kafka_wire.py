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

    def produce_v3(self, topic: str, partition: int, records: bytes, acks: int = -1,
                   timeout_ms: int = 30000, transactional_id: str | None = None) -> tuple[int, int]:
        """Produce v3 of already encoded record batches; (error_code, base_offset) of the partition."""
        body = (
            string(transactional_id) + i16(acks) + i32(timeout_ms)
            + array([string(topic) + array([i32(partition) + bytes_field(records)])])
        )
        r = Reader(self.request(API_PRODUCE, 3, body))
        for _ in range(r.i32()):
            name = r.string()
            for _ in range(r.i32()):
                index, error_code, base_offset, _log_append_time = r.i32(), r.i16(), r.i64(), r.i64()
                if (name, index) == (topic, partition):
                    return error_code, base_offset
        raise ProtocolError(f"produce response lacks {topic}-{partition}")


    def produce_v8(self, topic: str, partition: int, records: bytes, acks: int = -1,
                   timeout_ms: int = 30000) -> "ProducePartition":
        """Produce v8 (the first with KIP-467's record_errors and error_message) of encoded batches."""
        body = (
            string(None) + i16(acks) + i32(timeout_ms)
            + array([string(topic) + array([i32(partition) + bytes_field(records)])])
        )
        r = Reader(self.request(API_PRODUCE, 8, body))
        found = None
        for _ in range(r.i32()):
            name = r.string()
            for _ in range(r.i32()):
                p = ProducePartition(
                    index=r.i32(), error_code=r.i16(), base_offset=r.i64(), log_append_time_ms=r.i64(),
                    log_start_offset=r.i64(), record_errors=r.array(lambda r: (r.i32(), r.string())),
                    error_message=r.string(),
                )
                if (name, p.index) == (topic, partition):
                    found = p
        r.i32()  # throttle_time_ms
        if found is None:
            raise ProtocolError(f"produce response lacks {topic}-{partition}")
        return found


@dataclass
class ProducePartition:
    index: int
    error_code: int
    base_offset: int
    log_append_time_ms: int
    log_start_offset: int
    record_errors: list[tuple[int, str | None]]
    error_message: str | None


def connect(host: str, port: int, timeout_s: float = 10.0) -> Connection:
    sock = socket.create_connection((host, port), timeout=timeout_s)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return Connection(sock)



# -- consumer groups (appended: FindCoordinator, JoinGroup, SyncGroup, Heartbeat, LeaveGroup, ------------
# -- OffsetCommit, OffsetFetch, OffsetDelete) ---------------------------------------------------------
#
# The oldest versions Kafka 4 still serves (KIP-896), all non-flexible, laid out as in Kafka's
# FindCoordinatorRequest.json v1, JoinGroupRequest.json v2, SyncGroupRequest.json v1,
# HeartbeatRequest.json v1, LeaveGroupRequest.json v1, OffsetCommitRequest.json v2,
# OffsetFetchRequest.json v1 and OffsetDeleteRequest.json v0 (and their responses). JoinGroup v2
# predates KIP-394, so an empty member id joins at once instead of getting MEMBER_ID_REQUIRED.

API_OFFSET_COMMIT = 8
API_OFFSET_FETCH = 9
API_FIND_COORDINATOR = 10
API_JOIN_GROUP = 11
API_HEARTBEAT = 12
API_LEAVE_GROUP = 13
API_SYNC_GROUP = 14
API_DESCRIBE_GROUPS = 15
API_LIST_GROUPS = 16
API_DELETE_GROUPS = 42
API_OFFSET_DELETE = 47

ERROR_COORDINATOR_LOAD_IN_PROGRESS = 14
ERROR_COORDINATOR_NOT_AVAILABLE = 15
ERROR_NOT_COORDINATOR = 16
ERROR_ILLEGAL_GENERATION = 22
ERROR_UNKNOWN_MEMBER_ID = 25
ERROR_INVALID_SESSION_TIMEOUT = 26
ERROR_REBALANCE_IN_PROGRESS = 27
ERROR_NON_EMPTY_GROUP = 68
ERROR_GROUP_ID_NOT_FOUND = 69
ERROR_GROUP_SUBSCRIBED_TO_TOPIC = 86

COORDINATOR_KEY_GROUP = 0


def bytes_field(b: bytes | None) -> bytes:
    """Kafka's (nullable) bytes: int32 length, then the bytes; -1 for null."""
    if b is None:
        return i32(-1)
    return i32(len(b)) + b


def send_request(conn: "Connection", api_key: int, version: int, body: bytes) -> int:
    """Send one request without waiting for its answer (a JoinGroup may be parked for a while);
    returns its correlation id for recv_response()."""
    cid = conn.next_correlation_id
    conn.next_correlation_id += 1
    conn.send_raw(request_frame(api_key, version, cid, body))
    return cid


def recv_response(conn: "Connection", correlation_id: int) -> bytes:
    got, body = conn.recv_frame()
    if got != correlation_id:
        raise ProtocolError(f"response correlation id {got}, expected {correlation_id}")
    return body


# ConsumerProtocolSubscription / ConsumerProtocolAssignment v0: the "consumer" protocol's metadata
# and assignment bytes, which the broker stores and hands back without interpreting (except to
# learn the subscribed topics, for OffsetDelete).

def consumer_subscription_v0(topics: list[str], user_data: bytes | None = None) -> bytes:
    return i16(0) + array([string(t) for t in topics]) + bytes_field(user_data)


def consumer_assignment_v0(assignment: dict[str, list[int]], user_data: bytes | None = None) -> bytes:
    return (i16(0) + array([string(t) + array([i32(p) for p in parts]) for t, parts in assignment.items()])
            + bytes_field(user_data))


def parse_consumer_assignment(data: bytes) -> dict[str, list[int]]:
    """Assigned partitions per topic of a ConsumerProtocolAssignment (any version: v1+ only append)."""
    if not data:
        return {}
    r = Reader(data)
    r.i16()  # version
    return {t: parts for t, parts in r.array(lambda r: (r.string(), r.array(Reader.i32) or [])) or []}


@dataclass
class Coordinator:
    error_code: int
    error_message: str | None
    node_id: int
    host: str
    port: int


@dataclass
class JoinGroupResult:
    error_code: int
    generation_id: int
    protocol_name: str | None
    leader: str
    member_id: str
    members: list[tuple[str, bytes]]  # (member id, protocol metadata); empty for followers


@dataclass
class OffsetFetchPartition:
    committed_offset: int
    metadata: str | None
    error_code: int


def find_coordinator_v1(conn: "Connection", key: str, key_type: int = COORDINATOR_KEY_GROUP) -> Coordinator:
    r = Reader(conn.request(API_FIND_COORDINATOR, 1, string(key) + i8(key_type)))
    r.i32()  # throttle_time_ms
    return Coordinator(r.i16(), r.string(), r.i32(), r.string(), r.i32())


def join_group_v2_body(group_id: str, member_id: str, protocols: list[tuple[str, bytes]],
                       session_timeout_ms: int = 30000, rebalance_timeout_ms: int = 30000,
                       protocol_type: str = "consumer") -> bytes:
    return (string(group_id) + i32(session_timeout_ms) + i32(rebalance_timeout_ms) + string(member_id)
            + string(protocol_type) + array([string(name) + bytes_field(meta) for name, meta in protocols]))


def parse_join_group_v2(body: bytes) -> JoinGroupResult:
    r = Reader(body)
    r.i32()  # throttle_time_ms
    error_code, generation_id, protocol_name, leader, member_id = r.i16(), r.i32(), r.string(), r.string(), r.string()
    members = r.array(lambda r: (r.string(), r.bytes_() or b"")) or []
    return JoinGroupResult(error_code, generation_id, protocol_name, leader, member_id, members)


def join_group_v2(conn: "Connection", group_id: str, member_id: str, protocols: list[tuple[str, bytes]],
                  **kw) -> JoinGroupResult:
    return parse_join_group_v2(conn.request(API_JOIN_GROUP, 2, join_group_v2_body(group_id, member_id, protocols, **kw)))


def sync_group_v1_body(group_id: str, generation_id: int, member_id: str,
                       assignments: dict[str, bytes] | None = None) -> bytes:
    return (string(group_id) + i32(generation_id) + string(member_id)
            + array([string(m) + bytes_field(a) for m, a in (assignments or {}).items()]))


def parse_sync_group_v1(body: bytes) -> tuple[int, bytes]:
    """(error_code, this member's assignment bytes)."""
    r = Reader(body)
    r.i32()  # throttle_time_ms
    return r.i16(), r.bytes_() or b""


def sync_group_v1(conn: "Connection", group_id: str, generation_id: int, member_id: str,
                  assignments: dict[str, bytes] | None = None) -> tuple[int, bytes]:
    return parse_sync_group_v1(conn.request(API_SYNC_GROUP, 1,
                                            sync_group_v1_body(group_id, generation_id, member_id, assignments)))


def heartbeat_v1(conn: "Connection", group_id: str, generation_id: int, member_id: str) -> int:
    r = Reader(conn.request(API_HEARTBEAT, 1, string(group_id) + i32(generation_id) + string(member_id)))
    r.i32()  # throttle_time_ms
    return r.i16()


def leave_group_v1(conn: "Connection", group_id: str, member_id: str) -> int:
    r = Reader(conn.request(API_LEAVE_GROUP, 1, string(group_id) + string(member_id)))
    r.i32()  # throttle_time_ms
    return r.i16()


def offset_commit_v2_body(group_id: str, generation_id: int, member_id: str,
                          offsets: dict[str, dict[int, tuple[int, str | None]]],
                          retention_time_ms: int = -1) -> bytes:
    """offsets: {topic: {partition: (offset, metadata)}}."""
    topics = [string(t) + array([i32(p) + i64(off) + string(meta) for p, (off, meta) in parts.items()])
              for t, parts in offsets.items()]
    return string(group_id) + i32(generation_id) + string(member_id) + i64(retention_time_ms) + array(topics)


def parse_offset_commit_v2(body: bytes) -> dict[tuple[str, int], int]:
    """{(topic, partition): error_code} (v2 has no throttle time: that came in v3)."""
    r = Reader(body)
    out = {}
    for _ in range(r.i32()):
        topic = r.string()
        for _ in range(r.i32()):
            index = r.i32()
            out[(topic, index)] = r.i16()
    return out


def offset_commit_v2(conn: "Connection", group_id: str, generation_id: int, member_id: str,
                     offsets: dict[str, dict[int, tuple[int, str | None]]]) -> dict[tuple[str, int], int]:
    return parse_offset_commit_v2(conn.request(API_OFFSET_COMMIT, 2,
                                               offset_commit_v2_body(group_id, generation_id, member_id, offsets)))


def offset_fetch_v1_body(group_id: str, partitions: dict[str, list[int]]) -> bytes:
    return string(group_id) + array([string(t) + array([i32(p) for p in parts]) for t, parts in partitions.items()])


def parse_offset_fetch_v1(body: bytes) -> dict[tuple[str, int], OffsetFetchPartition]:
    """{(topic, partition): (committed_offset, metadata, error_code)}; -1 means nothing committed."""
    r = Reader(body)
    out = {}
    for _ in range(r.i32()):
        topic = r.string()
        for _ in range(r.i32()):
            index, offset, metadata, error_code = r.i32(), r.i64(), r.string(), r.i16()
            out[(topic, index)] = OffsetFetchPartition(offset, metadata, error_code)
    return out


def offset_fetch_v1(conn: "Connection", group_id: str,
                    partitions: dict[str, list[int]]) -> dict[tuple[str, int], OffsetFetchPartition]:
    return parse_offset_fetch_v1(conn.request(API_OFFSET_FETCH, 1, offset_fetch_v1_body(group_id, partitions)))


def offset_delete_v0_body(group_id: str, partitions: dict[str, list[int]]) -> bytes:
    return string(group_id) + array([string(t) + array([i32(p) for p in parts]) for t, parts in partitions.items()])


def parse_offset_delete_v0(body: bytes) -> tuple[int, dict[tuple[str, int], int]]:
    """(top-level error_code, {(topic, partition): error_code})."""
    r = Reader(body)
    error_code = r.i16()
    r.i32()  # throttle_time_ms
    out = {}
    for _ in range(r.i32()):
        topic = r.string()
        for _ in range(r.i32()):
            index = r.i32()
            out[(topic, index)] = r.i16()
    return error_code, out


def offset_delete_v0(conn: "Connection", group_id: str,
                     partitions: dict[str, list[int]]) -> tuple[int, dict[tuple[str, int], int]]:
    return parse_offset_delete_v0(conn.request(API_OFFSET_DELETE, 0, offset_delete_v0_body(group_id, partitions)))
