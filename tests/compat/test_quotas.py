"""Client quotas (issue #12): `strom quotas` (kafka-configs.sh --entity-type users|clients|ips) over
AlterClientQuotas / DescribeClientQuotas, Kafka's validations on the wire, and throttling as Kafka
does it (KIP-219): a librdkafka producer over producer_byte_rate is held to it while another client
keeps its throughput, a consumer over consumer_byte_rate likewise, request_percentage throttles a
client that sends too many requests, and every throttle is reported to the client.

Neither confluent-kafka (2.16) nor kafka-python (3.0) has a client-quota admin API, so quotas are
set with the CLI, and the API's errors are checked with a raw request.
"""

from __future__ import annotations

import json
import struct
import subprocess
import threading
import time

import confluent_kafka as ck

import kafka_wire as kw
from clients import create_topic, unique

CLI_S = 60.0
API_METADATA = 3
API_ALTER_CLIENT_QUOTAS = 49
INVALID_REQUEST = 42


def strom(b, *args: str, ok: bool = True) -> subprocess.CompletedProcess:
    out = subprocess.run([str(b.binary), *args, "--bootstrap-server", b.bootstrap],
                         capture_output=True, text=True, timeout=CLI_S)
    if ok:
        assert out.returncode == 0, f"strom {' '.join(args)} exited {out.returncode}:\n{out.stdout}{out.stderr}"
    return out


def described(b, *args: str) -> list[dict]:
    out = strom(b, "quotas", "describe", *args, "--output", "json")
    return sorted(json.loads(out.stdout), key=lambda e: sorted((k, v or "") for k, v in e["entity"].items()))


def set_quota(b, *entity: str, config: str) -> None:
    strom(b, "quotas", "set", *entity, "--add-config", config)


def test_quotas_are_set_described_removed_and_survive_a_restart(broker):
    set_quota(broker, "--entity-type", "users", "--entity-name", "alice", config="producer_byte_rate=1024")
    set_quota(broker, "--entity-type", "users", "--entity-default", config="consumer_byte_rate=2048")
    set_quota(broker, "--entity-type", "users", "--entity-name", "alice", "--entity-type", "clients",
              "--entity-name", "app", config="request_percentage=50.5,controller_mutation_rate=10")
    set_quota(broker, "--entity-type", "ips", "--entity-name", "10.1.2.3", config="connection_creation_rate=5")
    expected = [
        {"entity": {"ip": "10.1.2.3"}, "quotas": {"connection_creation_rate": 5.0}},
        {"entity": {"user": None}, "quotas": {"consumer_byte_rate": 2048.0}},
        {"entity": {"user": "alice"}, "quotas": {"producer_byte_rate": 1024.0}},
        {"entity": {"client-id": "app", "user": "alice"},
         "quotas": {"controller_mutation_rate": 10.0, "request_percentage": 50.5}},
    ]
    assert sorted(described(broker), key=json.dumps) == sorted(expected, key=json.dumps)
    # kafka-configs.sh --describe --entity-type users --entity-name alice: that entity only (strict).
    assert described(broker, "--entity-type", "users", "--entity-name", "alice") == [expected[2]]
    assert described(broker, "--entity-type", "users", "--entity-default") == [expected[1]]
    # Every user entity, named or default, but not the (user, client-id) one.
    assert [e["entity"] for e in described(broker, "--entity-type", "users")] == [{"user": None}, {"user": "alice"}]
    table = strom(broker, "quotas", "describe", "--entity-type", "users", "--entity-name", "alice").stdout
    assert table.splitlines() == ["ENTITY      QUOTA               VALUE", "user=alice  producer_byte_rate  1024"]

    broker.restart()  # the metadata log keeps them
    assert sorted(described(broker), key=json.dumps) == sorted(expected, key=json.dumps)

    strom(broker, "quotas", "remove", "--entity-type", "users", "--entity-name", "alice",
          "--delete-config", "producer_byte_rate")
    assert described(broker, "--entity-type", "users", "--entity-name", "alice") == []
    # validate-only changes nothing.
    strom(broker, "quotas", "set", "--entity-type", "clients", "--entity-name", "x",
          "--add-config", "producer_byte_rate=1", "--validate-only")
    assert described(broker, "--entity-type", "clients") == []


def alter_client_quotas_v0(conn, entity: list[tuple[str, str | None]], ops: list[tuple[str, float, bool]],
                           validate_only: bool = False) -> list[tuple[int, str | None]]:
    body = kw.array([
        kw.array([kw.string(t) + kw.string(n) for t, n in entity])
        + kw.array([kw.string(k) + struct.pack(">d", v) + kw.i8(int(remove)) for k, v, remove in ops])
    ]) + kw.i8(int(validate_only))
    r = kw.Reader(conn.request(API_ALTER_CLIENT_QUOTAS, 0, body))
    r.i32()  # throttle_time_ms

    def entry(r):
        code, message = r.i16(), r.string()
        r.array(lambda r: (r.string(), r.string()))
        return code, message
    return r.array(entry)


def test_alter_client_quotas_refuses_what_kafka_refuses(broker):
    cases = [
        ([("user", "a")], [("bogus", 1.0, False)], "Invalid configuration key bogus"),
        ([("user", "a")], [("producer_byte_rate", -5.0, False)], "Quota producer_byte_rate must be greater than 0"),
        ([("user", "a")], [("producer_byte_rate", 1.5, False)], "producer_byte_rate cannot be a fractional value."),
        ([("ip", "10.0.0.1")], [("producer_byte_rate", 1.0, False)], "Invalid configuration key producer_byte_rate"),
        ([("user", "a")], [("connection_creation_rate", 1.0, False)], "Invalid configuration key connection_creation_rate"),
        ([("ip", "nonsense!")], [("connection_creation_rate", 1.0, False)], "nonsense! is not a valid IP"),
        ([("user", "a"), ("ip", "10.0.0.1")], [("connection_creation_rate", 1.0, False)], "Invalid quota entity combination"),
        ([("group", "g")], [("producer_byte_rate", 1.0, False)], "Unhandled client quota entity type: group"),
    ]
    with kw.connect(broker.host, broker.port) as conn:
        for entity, ops, message in cases:
            [(code, got)] = alter_client_quotas_v0(conn, entity, ops)
            assert (code, (got or "")[:len(message)]) == (INVALID_REQUEST, message), (entity, ops, got)
        [(code, _)] = alter_client_quotas_v0(conn, [("user", "ok")], [("producer_byte_rate", 100.0, False)],
                                             validate_only=True)
        assert code == 0
    assert described(broker) == []


class Throttles:
    """librdkafka's throttle_cb: every throttle time a broker reported."""

    def __init__(self):
        self.ms: list[int] = []

    def __call__(self, event: ck.ThrottleEvent) -> None:
        self.ms.append(int(event.throttle_time * 1000))


def test_a_producer_over_producer_byte_rate_is_held_to_it_while_another_keeps_its_throughput(broker):
    quota = 200_000  # bytes/s
    paced_rate = 600_000  # the unthrottled client's target, bytes/s
    topic = unique("quota")
    create_topic(broker.bootstrap, topic)
    set_quota(broker, "--entity-type", "clients", "--entity-name", "throttled", config=f"producer_byte_rate={quota}")
    value = b"x" * 1000
    # Kafka measures over 11 windows of 1 s and lets a client start with 10 windows' worth, so a
    # greedy client sends in waves, one per 11 s: the rate is compared over three of them.
    duration_s = 33.0
    acks: dict[str, list[tuple[float, int]]] = {"throttled": [], "free": []}
    throttles = Throttles()
    stop = threading.Event()

    def run(client_id: str, pace: float | None, **extra) -> None:
        # Small batches, so one request is a small part of a second's quota.
        p = ck.Producer({"bootstrap.servers": broker.bootstrap, "client.id": client_id, "linger.ms": 5,
                         "batch.size": 20_000, "acks": "all", "queue.buffering.max.kbytes": 1024, **extra})

        def delivered(err, msg):
            if err is None:
                acks[client_id].append((time.monotonic(), len(msg.value())))
        start = time.monotonic()
        sent = 0
        while not stop.is_set():
            if pace is not None and sent * len(value) > pace * (time.monotonic() - start):
                p.poll(0.005)
                continue
            try:
                p.produce(topic, value, on_delivery=delivered)
                sent += 1
            except BufferError:
                p.poll(0.01)
            p.poll(0)
        p.flush(30)

    def rate_over(client_id: str) -> float:
        first = acks[client_id][0][0]
        return sum(n for t, n in acks[client_id] if t < first + duration_s) / duration_s

    throttled = threading.Thread(target=run, args=("throttled", None), kwargs={"throttle_cb": throttles})
    free = threading.Thread(target=run, args=("free", paced_rate))
    throttled.start()
    free.start()
    time.sleep(duration_s + 2)
    stop.set()
    throttled.join(60)
    free.join(60)
    rate = rate_over("throttled")
    free_rate = rate_over("free")
    print(f"throttled {rate:.0f} B/s (quota {quota}), free {free_rate:.0f} B/s (target {paced_rate}), "
          f"{len(throttles.ms)} throttles, max {max(throttles.ms, default=0)} ms")
    assert abs(rate - quota) <= 0.10 * quota, f"throttled producer at {rate:.0f} B/s against a quota of {quota}"
    assert free_rate >= 0.9 * paced_rate, f"the client without a quota reached {free_rate:.0f} of {paced_rate} B/s"
    assert throttles.ms and max(throttles.ms) > 0, "no throttle time was reported to the producer"


def test_a_consumer_over_consumer_byte_rate_is_held_to_it(broker):
    quota = 100_000
    topic = unique("quota")
    create_topic(broker.bootstrap, topic)
    p = ck.Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 20})
    for _ in range(4000):
        p.produce(topic, b"y" * 1000)
    assert p.flush(30) == 0
    set_quota(broker, "--entity-type", "users", "--entity-name", "ANONYMOUS", "--entity-type", "clients",
              "--entity-name", "slow-reader", config=f"consumer_byte_rate={quota}")
    throttles = Throttles()
    c = ck.Consumer({"bootstrap.servers": broker.bootstrap, "group.id": unique("g"), "client.id": "slow-reader",
                     "auto.offset.reset": "earliest", "enable.auto.commit": False, "throttle_cb": throttles,
                     "fetch.wait.max.ms": 100, "max.partition.fetch.bytes": 50_000,
                     "fetch.max.bytes": 50_000, "message.max.bytes": 10_000})
    c.assign([ck.TopicPartition(topic, 0, ck.OFFSET_BEGINNING)])
    window_s = 10.5
    got = 0
    first = None
    give_up = time.monotonic() + 60
    try:
        while True:
            m = c.poll(0.2)
            now = time.monotonic()
            if first is not None and now - first >= window_s:
                break
            if m is None or m.error():
                assert first is not None or now < give_up, "nothing consumed"
                continue
            if first is None:
                first = now
            got += len(m.value())
        # Kafka measures the rate over at least 10 windows, so the first second may read 10
        # windows' worth; then the client is throttled until the rate over the window is the
        # quota again.
        print(f"consumed {got} bytes in {window_s} s (quota {quota} B/s), throttles {throttles.ms[:5]}")
        assert got <= 1.10 * quota * window_s, f"{got} bytes in {window_s} s over a quota of {quota} B/s"
        assert got >= 0.5 * quota * window_s, f"only {got} bytes in {window_s} s"
        assert got < 4_000_000, "the whole topic came through: nothing was throttled"
        assert throttles.ms and max(throttles.ms) > 0, "no throttle time was reported to the consumer"
    finally:
        c.close()


def metadata_v4_throttle(conn) -> int:
    body = kw.array([]) + kw.i8(0)
    return struct.unpack(">i", conn.request(API_METADATA, 4, body)[:4])[0]


def test_request_percentage_throttles_a_client_that_asks_too_much(broker):
    # 0.01% of one thread: 100 µs of handling per second, a few requests.
    set_quota(broker, "--entity-type", "clients", "--entity-name", "strom-compat", config="request_percentage=0.01")
    with kw.connect(broker.host, broker.port) as conn:
        deadline = time.monotonic() + 20
        throttle = 0
        while throttle == 0 and time.monotonic() < deadline:
            throttle = metadata_v4_throttle(conn)
        assert throttle > 0, "request_percentage never throttled"
        # Kafka's request quota throttles at most one window (quota.window.size.seconds).
        assert throttle <= 1000, throttle
        # The connection is muted for that long (KIP-219): the next answer waits.
        started = time.monotonic()
        metadata_v4_throttle(conn)
        assert time.monotonic() - started >= throttle / 1000 * 0.9
    # Another client id is not throttled.
    strom(broker, "quotas", "remove", "--entity-type", "clients", "--entity-name", "strom-compat",
          "--delete-config", "request_percentage")
    with kw.connect(broker.host, broker.port) as conn:
        assert all(metadata_v4_throttle(conn) == 0 for _ in range(200))


def test_create_topics_over_controller_mutation_rate_is_refused_with_throttling_quota_exceeded(broker, caplog):
    from kafka.admin import NewTopic
    from kafka.errors import ThrottlingQuotaExceededError

    from clients import kp_admin
    # 1 partition/s: the bucket holds 11 (quota.window.num x 1 s); 10-partition topics take it below 0.
    set_quota(broker, "--entity-type", "clients", "--entity-default", config="controller_mutation_rate=1")
    a = kp_admin(broker.bootstrap)
    try:
        names = [unique("mut") for _ in range(3)]
        resp = a.create_topics([NewTopic(n, 10, 1) for n in names], raise_errors=False)
        errors = {t["name"]: t["error_code"] for t in resp["topics"]}
        # The first two fit (11 tokens, then 1 left: a strict quota, CreateTopics v6+, admits while
        # the bucket is >= 0); the third finds it below 0 and is refused, not created.
        assert [errors[n] for n in names] == [0, 0, ThrottlingQuotaExceededError.errno]
        # (kafka-python pauses its connection for the throttle time: ask with librdkafka.)
        from clients import topic_names
        created = topic_names(broker.bootstrap)
        assert names[0] in created and names[1] in created and names[2] not in created
        # kafka-python logs the throttle time it was given (and backs off for it).
        assert any("CreateTopicsResponse throttled by broker" in r.getMessage() for r in caplog.records)
    finally:
        a.close()


def test_connections_over_an_ips_connection_creation_rate_are_closed(broker):
    import socket
    set_quota(broker, "--entity-type", "ips", "--entity-name", "127.0.0.1", config="connection_creation_rate=1")

    def served(source: str) -> bool:
        sock = socket.create_connection((broker.host, broker.port), timeout=10, source_address=(source, 0))
        with kw.Connection(sock) as conn:
            try:
                return conn.api_versions_v0().error_code == 0
            except (kw.ProtocolError, OSError):
                return False

    # 1/s measured over at least 10 windows: about 10 connections at once, then each waits a
    # throttle time (at most a window) and is closed unanswered.
    results = [served("127.0.0.1") for _ in range(14)]
    assert 8 <= sum(results) <= 10, results
    assert results[-1] is False
    # Another address has no quota.
    assert all(served("127.0.0.2") for _ in range(12))
