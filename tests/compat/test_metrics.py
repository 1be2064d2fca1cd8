"""The Prometheus endpoint (`strom.metrics.listener`) and the health checks, against the built binary.

After a known workload from real clients (confluent-kafka produces and consumes, commits a group
offset), the scrape holds Kafka's names as the JMX exporter's usual rules write them, with values
that agree with the workload and with each other: records in, bytes in equal to the bytes on disk,
bytes out equal to what the consumer read, requests per API, partition and leader counts, lag.
/health/ready answers 503 until the broker has registered and been unfenced, then 200.
"""

from __future__ import annotations

import re
import time
import urllib.error
import urllib.request

import confluent_kafka as ck

from broker_process import free_port
from clients import assert_delivered, consume, create_topic, produce_all, producer, unique, wait_for
from cluster import Cluster
from test_cluster import ALL, TUNED, cluster_factory  # noqa: F401
from test_replication import partition_state, replicated_topic, send

HTTP_TIMEOUT_S = 5.0
SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)$')


def get(url: str) -> tuple[int, str]:
    """(status, body); a refused connection is status 0."""
    try:
        with urllib.request.urlopen(url, timeout=HTTP_TIMEOUT_S) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return 0, ""


def scrape(base: str) -> dict[tuple[str, frozenset], float]:
    """The samples of one scrape, checked against the text format's rules on the way: each family
    declared once with HELP and TYPE before its samples, a histogram's samples named _bucket (with
    `le`), _sum and _count, its buckets cumulative."""
    status, body = get(f"{base}/metrics")
    assert status == 200, f"/metrics answered {status}: {body[:500]}"
    out = {}
    types: dict[str, str] = {}
    last_bucket: dict[tuple[str, frozenset], float] = {}
    for line in body.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert name not in types, f"{name} declared twice"
            assert kind in ("counter", "gauge", "histogram"), line
            types[name] = kind
            continue
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        assert m, f"not Prometheus text: {line!r}"
        name = m.group(1)
        family = re.sub(r"_(bucket|sum|count)$", "", name) if name not in types else name
        assert family in types, f"{name} has no # TYPE line before it"
        if types[family] == "histogram":
            assert name != family, f"histogram {family} has a bare sample"
            if name.endswith("_bucket"):
                assert 'le="' in (m.group(2) or ""), line
                series = frozenset(x for x in re.findall(r'(\w+)="([^"]*)"', m.group(2)) if x[0] != "le")
                count = float(m.group(3))
                assert count >= last_bucket.get((family, series), 0), f"buckets not cumulative: {line}"
                last_bucket[(family, series)] = count
        labels = frozenset(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
        out[(m.group(1), labels)] = float(m.group(3))
    return out


def value(samples, name: str, **labels) -> float:
    key = (name, frozenset(labels.items()))
    assert key in samples, f"{name}{labels} missing; have {sorted(k for k in samples if k[0] == name)}"
    return samples[key]


def by_label(samples, name: str, label: str) -> dict[str, float]:
    return {dict(k[1])[label]: v for k, v in samples.items() if k[0] == name and label in dict(k[1])}


def test_scrape_after_producing_and_consuming_with_confluent_kafka(broker_factory):
    port = free_port()
    broker = broker_factory({"strom.metrics.listener": f"http://127.0.0.1:{port}"})
    base = f"http://127.0.0.1:{port}"
    assert get(f"{base}/health/live")[0] == 200
    assert get(f"{base}/health/ready") == (200, "ready\n")

    create_topic(broker.bootstrap, "metered", partitions=2)
    p = producer(broker.bootstrap, linger_ms=20)
    records = [{"value": f"record-{i:05d}".encode() * 4, "key": f"k{i}".encode(), "partition": i % 2}
               for i in range(2000)]
    assert_delivered(produce_all(p, "metered", records))
    consumed = consume(broker.bootstrap, "metered", partition=0)
    assert len(consumed) == 1000

    c = ck.Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "metered-readers",
                     "enable.auto.commit": False})
    try:
        c.commit(offsets=[ck.TopicPartition("metered", 0, 600)], asynchronous=False)
    finally:
        c.close()

    # Requests are counted once their response is written: wait for the scrape to settle.
    def settled():
        s = scrape(base)
        fetched = by_label(s, "kafka_server_brokertopicmetrics_bytesout_total", "topic").get("metered", 0)
        return s if fetched == value(s, "kafka_log_log_size", topic="metered", partition="0") else None
    s = wait_for(settled, 10, what="bytes out to reach partition 0's size")

    t = "metered"
    assert value(s, "kafka_server_brokertopicmetrics_messagesin_total", topic=t) == 2000
    sizes = by_label({k: v for k, v in s.items() if dict(k[1]).get("topic") == t}, "kafka_log_log_size", "partition")
    assert set(sizes) == {"0", "1"} and all(v > 0 for v in sizes.values())
    # Batches are stored as produced: bytes in is the log's size.
    assert value(s, "kafka_server_brokertopicmetrics_bytesin_total", topic=t) == sizes["0"] + sizes["1"]
    assert value(s, "kafka_server_brokertopicmetrics_messagesin_total") >= 2000  # all topics
    assert value(s, "kafka_log_log_logendoffset", topic=t, partition="0") == 1000
    assert value(s, "kafka_log_log_logendoffset", topic=t, partition="1") == 1000

    requests = by_label(s, "kafka_network_requestmetrics_requests_total", "request")
    for api in ("Produce", "FetchConsumer", "Metadata", "ApiVersions", "CreateTopics", "OffsetCommit",
                "FindCoordinator"):
        assert requests.get(api, 0) >= 1, f"no {api} counted: {requests}"
    produce_requests = sum(v for k, v in s.items()
                           if k[0] == "kafka_network_requestmetrics_requests_total" and ("request", "Produce") in k[1])
    for phase in ("totaltimems", "localtimems", "remotetimems", "requestqueuetimems", "responsequeuetimems",
                  "responsesendtimems"):
        assert value(s, f"kafka_network_requestmetrics_{phase}_count", request="Produce") == produce_requests
        assert value(s, f"kafka_network_requestmetrics_{phase}_bucket", request="Produce", le="+Inf") == produce_requests
    # The default acks=all waits for the fsync: that wait is remote time.
    assert value(s, "kafka_network_requestmetrics_remotetimems_sum", request="Produce") > 0
    assert value(s, "kafka_log_logflushstats_logflushrateandtimems_count") >= 1

    # Two topic partitions and __consumer_offsets' partitions, all led here.
    partitions = value(s, "kafka_server_replicamanager_partitioncount")
    assert partitions >= 3
    assert value(s, "kafka_server_replicamanager_leadercount") == partitions
    assert value(s, "kafka_server_replicamanager_underreplicatedpartitions") == 0
    assert value(s, "kafka_controller_kafkacontroller_activecontrollercount") == 1
    assert value(s, "kafka_controller_kafkacontroller_offlinepartitionscount") == 0
    assert value(s, "kafka_controller_kafkacontroller_globalpartitioncount") == partitions

    lag = dict(consumergroup="metered-readers", topic=t, partition="0")
    assert value(s, "kafka_consumergroup_current_offset", **lag) == 600
    assert value(s, "kafka_consumergroup_lag", **lag) == 400
    assert value(s, "kafka_coordinator_group_groupmetadatamanager_numgroups") >= 1
    assert value(s, "kafka_coordinator_group_groupmetadatamanager_numoffsets") >= 1


def test_ready_only_once_registered_and_unfenced(strom_bin, tmp_path):
    """A node of a two-voter quorum alone has no controller to register with: alive, not ready.
    Once its peer starts, the quorum elects a leader and both become ready."""
    ports = {1: free_port(), 2: free_port()}
    cluster = Cluster(strom_bin, tmp_path / "cluster", 2,
                      per_node={i: {"strom.metrics.listener": f"http://127.0.0.1:{p}"} for i, p in ports.items()})
    try:
        cluster.format()
        cluster.start([1], wait=False)
        base1 = f"http://127.0.0.1:{ports[1]}"
        wait_for(lambda: get(f"{base1}/health/live")[0] == 200, 30, what="node 1 to answer /health/live")
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            status, body = get(f"{base1}/health/ready")
            assert status == 503, f"ready without a quorum: {status} {body!r}"
            time.sleep(0.1)
        assert "not ready" in body
        # /metrics answers meanwhile, with the counters it has.
        assert get(f"{base1}/metrics")[0] == 200

        cluster.start([2], wait=False)
        for i, p in ports.items():
            wait_for(lambda: get(f"http://127.0.0.1:{p}/health/ready") == (200, "ready\n"), 60,
                     what=f"node {i} to be ready")
        s = scrape(base1)
        s2 = scrape(f"http://127.0.0.1:{ports[2]}")
        # Exactly one active controller between the two.
        assert (value(s, "kafka_controller_kafkacontroller_activecontrollercount")
                + value(s2, "kafka_controller_kafkacontroller_activecontrollercount")) == 1
    finally:
        cluster.cleanup()


def test_replicated_partition_metrics_follow_the_isr(cluster_factory):
    """Three nodes, a topic with three replicas: the leader counts its followers' fetches as
    FetchFollower and not as bytes out, only the leader counts messages in, and once a follower dies
    the leader reports the partition under-replicated."""
    ports = {i: free_port() for i in ALL}
    c = cluster_factory({**TUNED},
                        per_node={i: {"strom.metrics.listener": f"http://127.0.0.1:{p}"} for i, p in ports.items()})
    base = {i: f"http://127.0.0.1:{p}" for i, p in ports.items()}
    topic = unique("metered-rf3")
    replicated_topic(c, topic, min_insync=1)
    assert_delivered(send(c, 1, topic, "r", 100))  # acks=all: every replica has them
    leader = partition_state(c, 1, topic).leader
    followers = ALL - {leader}

    s = scrape(base[leader])
    assert by_label(s, "kafka_network_requestmetrics_requests_total", "request").get("FetchFollower", 0) >= 1
    assert value(s, "kafka_server_brokertopicmetrics_messagesin_total", topic=topic) == 100
    assert by_label(s, "kafka_server_brokertopicmetrics_bytesout_total", "topic").get(topic, 0) == 0, \
        "followers' fetches are replication, not bytes out"
    assert value(s, "kafka_server_replicamanager_underreplicatedpartitions") == 0
    # Replication bytes (all topics only, as Kafka): the leader sent each follower at least the
    # topic's whole log, and each follower appended at least that much from leaders.
    size = value(s, "kafka_log_log_size", topic=topic, partition="0")
    assert size > 100 * 10
    assert value(s, "kafka_server_brokertopicmetrics_replicationbytesout_total") >= 2 * size
    for f in followers:
        fs = scrape(base[f])
        assert by_label(fs, "kafka_server_brokertopicmetrics_messagesin_total", "topic").get(topic, 0) == 0
        assert value(fs, "kafka_log_log_logendoffset", topic=topic, partition="0") == 100
        assert value(fs, "kafka_server_brokertopicmetrics_replicationbytesin_total") >= size
        assert value(fs, "kafka_server_replicamanager_underreplicatedpartitions") == 0
    active = [i for i in ALL if value(scrape(base[i]), "kafka_controller_kafkacontroller_activecontrollercount") == 1]
    assert len(active) == 1, active

    c.nodes[min(followers)].kill9()
    wait_for(lambda: value(scrape(base[leader]), "kafka_server_replicamanager_underreplicatedpartitions") == 1,
             30, interval_s=0.2, what="the leader to report its partition under-replicated")
