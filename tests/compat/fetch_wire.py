"""Fetch v7 on the wire: the oldest version with incremental fetch sessions (KIP-227), small enough
to write by hand. Used by test_fetch_sessions.py and scripts/fetch-session-bench.

A FetchSession mirrors what a client keeps per broker: the session id and next epoch, and the fetch
offset of each partition; `fetch()` sends a full fetch when there is no session, else an incremental
one naming only partitions whose offset moved (and `forget`), and advances offsets past returned
records, as Kafka's FetchSessionHandler does.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import kafka_wire as kw

API_FETCH = 1


@dataclass
class PartitionResult:
    error_code: int
    high_watermark: int
    log_start_offset: int
    records: bytes | None


@dataclass
class FetchResult:
    error_code: int
    session_id: int
    partitions: dict[tuple[str, int], PartitionResult]
    request_bytes: int
    response_bytes: int


def fetch_v7_body(session_id: int, epoch: int, partitions: dict[tuple[str, int], int],
                  forgotten: list[tuple[str, int]] = (), max_wait_ms: int = 0, min_bytes: int = 1,
                  max_bytes: int = 50 * 1024 * 1024, partition_max_bytes: int = 1024 * 1024) -> bytes:
    by_topic: dict[str, list[bytes]] = {}
    for (topic, p), offset in partitions.items():
        by_topic.setdefault(topic, []).append(kw.i32(p) + kw.i64(offset) + kw.i64(-1) + kw.i32(partition_max_bytes))
    forgotten_by_topic: dict[str, list[bytes]] = {}
    for topic, p in forgotten:
        forgotten_by_topic.setdefault(topic, []).append(kw.i32(p))
    return (
        kw.i32(-1) + kw.i32(max_wait_ms) + kw.i32(min_bytes) + kw.i32(max_bytes) + kw.i8(0)
        + kw.i32(session_id) + kw.i32(epoch)
        + kw.array([kw.string(t) + kw.array(ps) for t, ps in by_topic.items()])
        + kw.array([kw.string(t) + kw.array(ps) for t, ps in forgotten_by_topic.items()])
    )


def parse_fetch_v7(body: bytes) -> tuple[int, int, dict[tuple[str, int], PartitionResult]]:
    r = kw.Reader(body)
    r.i32()  # throttle_time_ms
    error_code, session_id = r.i16(), r.i32()
    out = {}
    for _ in range(r.i32()):
        topic = r.string()
        for _ in range(r.i32()):
            index, err, hw = r.i32(), r.i16(), r.i64()
            r.i64()  # last_stable_offset
            log_start = r.i64()
            r.array(lambda r: (r.i64(), r.i64()))  # aborted_transactions
            out[(topic, index)] = PartitionResult(err, hw, log_start, r.bytes_())
    return error_code, session_id, out


def fetch_v7(conn: kw.Connection, session_id: int, epoch: int, partitions: dict[tuple[str, int], int],
             forgotten: list[tuple[str, int]] = (), **kwargs) -> FetchResult:
    body = fetch_v7_body(session_id, epoch, partitions, forgotten, **kwargs)
    resp = conn.request(API_FETCH, 7, body)
    err, sid, parts = parse_fetch_v7(resp)
    # sizes as on the wire: frame length prefix + request header + body
    return FetchResult(err, sid, parts, 4 + 10 + len("strom-compat") + len(body), 4 + 4 + len(resp))


def next_offset(records: bytes | None, current: int) -> int:
    """The offset after the last record of the batches returned."""
    end = current
    for b in kw.parse_record_batches(records):
        end = max(end, b.base_offset + b.last_offset_delta + 1)
    return end


@dataclass
class FetchSession:
    """A client's side of one broker's fetch session."""
    offsets: dict[tuple[str, int], int]
    use_sessions: bool = True
    session_id: int = 0
    epoch: int = 0
    changed: set = field(default_factory=set)
    forget: list = field(default_factory=list)

    def fetch(self, conn: kw.Connection, **kwargs) -> FetchResult:
        if not self.use_sessions:
            res = fetch_v7(conn, 0, -1, self.offsets, **kwargs)
        elif self.session_id == 0:
            res = fetch_v7(conn, 0, 0, self.offsets, **kwargs)
        else:
            named = {tp: self.offsets[tp] for tp in self.changed}
            res = fetch_v7(conn, self.session_id, self.epoch, named, self.forget, **kwargs)
        self.changed = set()
        self.forget = []
        if res.error_code != 0:
            # FETCH_SESSION_ID_NOT_FOUND / INVALID_FETCH_SESSION_EPOCH: start over with a full fetch.
            self.session_id, self.epoch = 0, 0
            return res
        if self.use_sessions:
            if res.session_id == 0:
                self.session_id, self.epoch = 0, 0
            elif res.session_id != self.session_id:
                self.session_id, self.epoch = res.session_id, 1
            else:
                self.epoch += 1
        for tp, part in res.partitions.items():
            if part.error_code == 0 and part.records:
                new = next_offset(part.records, self.offsets[tp])
                if new != self.offsets[tp]:
                    self.offsets[tp] = new
                    self.changed.add(tp)
        return res

    def remove(self, tp: tuple[str, int]) -> None:
        del self.offsets[tp]
        self.changed.discard(tp)
        if self.session_id:
            self.forget.append(tp)
