"""The broker against hostile or unusual bytes on a raw socket.

Kafka closes a connection whose frame is larger than socket.request.max.bytes (100 MiB) or whose
header does not parse, answers an ApiVersions request of an unknown version with
UNSUPPORTED_VERSION in the v0 format (the fallback every client relies on to negotiate), and
answers pipelined requests on one connection strictly in order. None of it may take the broker
down: after each test a new connection must still be served.
"""

from __future__ import annotations

import random
import socket

import pytest

import kafka_wire as kw

REPLY_DEADLINE_S = 10.0


def assert_broker_still_serves(broker) -> None:
    assert broker.running(), f"the broker process died\n{broker.log_tail()}"
    with kw.connect(broker.host, broker.port) as conn:
        versions = conn.api_versions_v0()
    assert versions.error_code == kw.ERROR_NONE
    assert kw.API_API_VERSIONS in versions.api_keys


def closed_or_answered(conn: kw.Connection) -> str:
    """'closed' if the broker closes the connection, 'answered' if it sends bytes; fails on a hang."""
    try:
        return "closed" if conn.closed_by_peer(REPLY_DEADLINE_S) else "answered"
    except socket.timeout:
        pytest.fail(f"the broker neither answered nor closed the connection within {REPLY_DEADLINE_S}s")


@pytest.mark.parametrize("length", [2**31 - 1, 2**31 - 2**20, -1, -(2**31)],
                         ids=["2GiB", "2GiB-1MiB", "minus1", "int32-min"])
def test_frame_with_an_absurd_length_prefix_is_refused_and_the_broker_keeps_serving(broker, length):
    with kw.connect(broker.host, broker.port) as conn:
        conn.send_raw(kw.i32(length) + b"\x00\x12\x00\x00\x00\x00\x00\x01")
        assert closed_or_answered(conn) == "closed"
    assert_broker_still_serves(broker)


@pytest.mark.parametrize("size", [1, 7, 64, 4096])
def test_garbage_body_gets_an_error_or_a_close_not_a_crash(broker, size):
    rng = random.Random(size)  # reproducible garbage
    body = bytes(rng.getrandbits(8) for _ in range(size))
    with kw.connect(broker.host, broker.port) as conn:
        conn.send_raw(kw.frame(body))
        closed_or_answered(conn)
    assert_broker_still_serves(broker)


def test_header_claiming_more_bytes_than_the_frame_holds_is_not_a_crash(broker):
    # A valid api key and version whose client_id length points past the end of the frame.
    header = kw.i16(kw.API_API_VERSIONS) + kw.i16(0) + kw.i32(7) + kw.i16(5000) + b"abc"
    with kw.connect(broker.host, broker.port) as conn:
        conn.send_raw(kw.frame(header))
        closed_or_answered(conn)
    assert_broker_still_serves(broker)


def test_connection_closed_mid_frame_does_not_disturb_the_broker(broker):
    with kw.connect(broker.host, broker.port) as conn:
        conn.send_raw(kw.i32(100) + b"\x00\x12\x00\x00")  # 8 of the promised 100 bytes, then gone
    assert_broker_still_serves(broker)


def test_api_versions_of_an_unsupported_version_answers_unsupported_version_in_v0_format(broker):
    # As a future client would send it: ApiVersions v127 with a flexible (v2) request header and a
    # v3-style body. Kafka replies with a v0 body: error 35 plus the ApiVersions range it supports,
    # so the client can retry with a version both sides know.
    body = kw.compact_string("strom-compat") + kw.compact_string("1.0") + kw.uvarint(0)
    with kw.connect(broker.host, broker.port) as conn:
        conn.send_raw(kw.request_frame(kw.API_API_VERSIONS, 127, 4242, body, flexible=True))
        correlation_id, resp = conn.recv_frame()
    assert correlation_id == 4242
    r = kw.Reader(resp)
    error_code = r.i16()
    api_keys = r.array(lambda r: (r.i16(), r.i16(), r.i16()))
    assert error_code == kw.ERROR_UNSUPPORTED_VERSION
    assert r.remaining() == 0, f"{r.remaining()} bytes after the v0 body: the response is not in v0 format"
    ranges = {k: (lo, hi) for k, lo, hi in api_keys or []}
    assert kw.API_API_VERSIONS in ranges, f"ApiVersions missing from the fallback list {ranges}"
    lo, hi = ranges[kw.API_API_VERSIONS]
    assert lo == 0 and hi >= 3, f"ApiVersions advertised {lo}..{hi}; clients need 0 and 3"


def test_api_versions_v3_with_flexible_header_lists_the_supported_apis(broker):
    # librdkafka's first request on every connection.
    body = kw.compact_string("strom-compat") + kw.compact_string("1.0") + kw.uvarint(0)
    with kw.connect(broker.host, broker.port) as conn:
        conn.send_raw(kw.request_frame(kw.API_API_VERSIONS, 3, 99, body, flexible=True))
        correlation_id, resp = conn.recv_frame()
    assert correlation_id == 99
    r = kw.Reader(resp)
    assert r.i16() == kw.ERROR_NONE
    count = r.take(1)[0] - 1  # compact array length (fits one byte for < 127 APIs)
    keys = {}
    for _ in range(count):
        key, lo, hi = r.i16(), r.i16(), r.i16()
        assert r.take(1) == b"\x00", "per-entry tagged fields"
        keys[key] = (lo, hi)
    for api in (kw.API_PRODUCE, kw.API_FETCH, kw.API_LIST_OFFSETS, kw.API_METADATA, kw.API_API_VERSIONS):
        assert api in keys, f"api key {api} not advertised: {sorted(keys)}"
        assert keys[api][0] <= keys[api][1]


def test_unknown_api_key_gets_a_closed_connection_or_an_error_never_a_hang(broker):
    with kw.connect(broker.host, broker.port) as conn:
        conn.send_raw(kw.request_frame(32000, 0, 5, b""))
        outcome = closed_or_answered(conn)
        if outcome == "answered":
            conn.sock.settimeout(REPLY_DEADLINE_S)
            # closed_by_peer consumed the first byte of the size prefix
            rest = conn.recv_exact(3)
            size = int.from_bytes(rest, "big")
            payload = conn.recv_exact(size)
            assert payload[:4] == kw.i32(5), "the answer must carry the request's correlation id"
            assert len(payload) >= 6 and payload[4:6] != b"\x00\x00", "an unknown api key cannot succeed"
    assert_broker_still_serves(broker)


def test_pipelined_requests_are_answered_in_order_by_correlation_id(broker):
    rng = random.Random(7)
    ids = rng.sample(range(1, 1_000_000), 50)
    frames = []
    for i, cid in enumerate(ids):
        if i % 2 == 0:
            frames.append(kw.request_frame(kw.API_API_VERSIONS, 0, cid, b""))
        else:
            frames.append(kw.request_frame(kw.API_METADATA, 1, cid, kw.array(None)))
    with kw.connect(broker.host, broker.port) as conn:
        conn.send_raw(b"".join(frames))  # all 50 before reading anything
        answers = [conn.recv_frame() for _ in ids]
    assert [cid for cid, _ in answers] == ids
    for i, (_, body) in enumerate(answers):
        if i % 2 == 0:
            assert kw.parse_api_versions_v0(body).error_code == kw.ERROR_NONE
        else:
            r = kw.Reader(body)
            brokers = r.array(lambda r: (r.i32(), r.string(), r.i32(), r.string()))
            assert [b[0] for b in brokers] == [broker.node_id]


def test_many_connections_at_once_are_all_served(broker):
    conns = [kw.connect(broker.host, broker.port) for _ in range(50)]
    try:
        for c in conns:
            c.send_raw(kw.request_frame(kw.API_API_VERSIONS, 0, 1, b""))
        for c in conns:
            cid, body = c.recv_frame()
            assert cid == 1 and kw.parse_api_versions_v0(body).error_code == kw.ERROR_NONE
    finally:
        for c in conns:
            c.close()
