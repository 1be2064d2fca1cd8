"""kcat (Debian's, librdkafka 2.0.2) as an operator would use it: -L, -P, -C, -f, -J, -K, -H, -Z.

An older librdkafka than confluent-kafka's, so it also checks the broker's version negotiation with
a client that knows fewer API versions.
"""

from __future__ import annotations

import json

from clients import assert_delivered, consume, create_topic, kcat, kcat_json_lines, produce_all, producer


def header_pairs(flat: list) -> list[tuple[str, str | None]]:
    """kcat -J writes headers as a flat [name, value, name, value, ...] array."""
    return list(zip(flat[0::2], flat[1::2]))


def test_metadata_listing_as_json(broker):
    create_topic(broker.bootstrap, "kc-meta", partitions=2)
    md = json.loads(kcat(broker.bootstrap, "-L", "-J").stdout)
    assert md["brokers"] == [{"id": broker.node_id, "name": broker.bootstrap}]
    assert md["controllerid"] == broker.node_id
    topics = {t["topic"]: t for t in md["topics"]}
    assert "kc-meta" in topics and "error" not in topics["kc-meta"]
    parts = sorted(topics["kc-meta"]["partitions"], key=lambda p: p["partition"])
    assert [(p["partition"], p["leader"], p["replicas"], p["isrs"]) for p in parts] == [
        (i, broker.node_id, [{"id": broker.node_id}], [{"id": broker.node_id}]) for i in range(2)]


def test_metadata_listing_of_one_topic(broker):
    create_topic(broker.bootstrap, "kc-one", partitions=3)
    out = kcat(broker.bootstrap, "-L", "-t", "kc-one").stdout.decode()
    assert 'topic "kc-one" with 3 partitions:' in out, out
    for i in range(3):
        assert f"partition {i}, leader {broker.node_id}, replicas: {broker.node_id}, isrs: {broker.node_id}" in out


def test_produce_keys_and_headers_then_consume_as_json(broker):
    create_topic(broker.bootstrap, "kc-json")
    kcat(broker.bootstrap, "-P", "-t", "kc-json", "-p", "0", "-K", ":", "-H", "h=1", "-H", "h=2", "-H", "other=x",
         stdin=b"k1:first\nk2:second\n:keyless\n")
    rows = kcat_json_lines(kcat(broker.bootstrap, "-C", "-t", "kc-json", "-o", "beginning", "-e", "-J").stdout)
    assert [(r["partition"], r["offset"], r["key"], r["payload"]) for r in rows] == [
        (0, 0, "k1", "first"), (0, 1, "k2", "second"), (0, 2, "", "keyless")]
    for r in rows:
        assert header_pairs(r["headers"]) == [("h", "1"), ("h", "2"), ("other", "x")]
        assert r["tstype"] == "create" and r["broker"] == broker.node_id
    # The same records through librdkafka's Python binding.
    got = consume(broker.bootstrap, "kc-json")
    assert [(m.key(), m.value(), m.headers()) for m in got][0] == (
        b"k1", b"first", [("h", b"1"), ("h", b"2"), ("other", b"x")])


def test_format_string_output(broker):
    create_topic(broker.bootstrap, "kc-fmt", partitions=2)
    assert_delivered(produce_all(producer(broker.bootstrap), "kc-fmt", [
        {"key": b"a", "value": b"alpha", "partition": 1, "timestamp": 1_600_000_000_123, "headers": [("x", b"y")]},
    ]))
    out = kcat(broker.bootstrap, "-C", "-t", "kc-fmt", "-p", "1", "-o", "beginning", "-e",
               "-f", "%t|%p|%o|%k|%K|%s|%S|%T|%h\\n").stdout.decode()
    assert out == "kc-fmt|1|0|a|1|alpha|5|1600000000123|x=y\n"


def test_null_values_with_dash_z(broker):
    create_topic(broker.bootstrap, "kc-null")
    kcat(broker.bootstrap, "-P", "-t", "kc-null", "-p", "0", "-K", ":", "-Z", stdin=b"k1:v1\nk2:\nk3:v3\n")
    got = consume(broker.bootstrap, "kc-null")
    assert [(m.key(), m.value()) for m in got] == [(b"k1", b"v1"), (b"k2", None), (b"k3", b"v3")]
    out = kcat(broker.bootstrap, "-C", "-t", "kc-null", "-o", "beginning", "-e", "-Z", "-f", "%k=%s;%S\\n").stdout
    assert out.decode().splitlines() == ["k1=v1;2", "k2=NULL;-1", "k3=v3;2"]


def test_consume_from_absolute_relative_and_counted_offsets(broker):
    create_topic(broker.bootstrap, "kc-offsets")
    kcat(broker.bootstrap, "-P", "-t", "kc-offsets", "-p", "0", stdin=b"".join(b"m%d\n" % i for i in range(10)))

    def read(*args: str) -> list[str]:
        return kcat(broker.bootstrap, "-C", "-t", "kc-offsets", "-p", "0", "-e", "-f", "%o:%s\\n",
                    *args).stdout.decode().splitlines()

    assert read("-o", "beginning") == [f"{i}:m{i}" for i in range(10)]
    assert read("-o", "7") == ["7:m7", "8:m8", "9:m9"]
    assert read("-o", "-2") == ["8:m8", "9:m9"]
    assert read("-o", "end") == []
    assert read("-o", "2", "-c", "3") == ["2:m2", "3:m3", "4:m4"]


def test_consume_every_partition_to_the_end(broker):
    create_topic(broker.bootstrap, "kc-all", partitions=3)
    reports = produce_all(producer(broker.bootstrap), "kc-all",
                          [{"value": f"v{i}".encode(), "partition": i % 3} for i in range(30)])
    assert_delivered(reports)
    rows = kcat_json_lines(kcat(broker.bootstrap, "-C", "-t", "kc-all", "-o", "beginning", "-e", "-J").stdout)
    assert sorted((r["partition"], r["offset"], r["payload"]) for r in rows) == sorted(
        (d.partition, d.offset, d.value.decode()) for d in reports)


def test_produce_from_a_file_as_one_message(broker, tmp_path):
    create_topic(broker.bootstrap, "kc-file")
    blob = bytes(range(256)) * 400  # binary, with newlines inside
    path = tmp_path / "blob.bin"
    path.write_bytes(blob)
    kcat(broker.bootstrap, "-P", "-t", "kc-file", "-p", "0", str(path))
    got = consume(broker.bootstrap, "kc-file")
    assert [m.value() for m in got] == [blob]
