"""`strom metadata-quorum describe` over DescribeQuorum (API 55), against a single node:
the node is the leader and only voter, and the high watermark grows as metadata is written."""

import json
import subprocess

from confluent_kafka.admin import AdminClient, NewTopic


def describe(strom_bin, bootstrap, *args):
    out = subprocess.run(
        [str(strom_bin), "metadata-quorum", "--bootstrap-server", bootstrap, "describe", *args],
        capture_output=True, text=True, timeout=60,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_status_and_replication_of_a_single_node_quorum(broker, strom_bin):
    status = json.loads(describe(strom_bin, broker.bootstrap, "--status", "--output", "json"))
    assert status["leaderId"] == 1
    assert [v["id"] for v in status["voters"]] == [1]
    assert status["observers"] == []
    before = status["highWatermark"]
    assert before > 0

    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic("quorum-grows", 1, 1)])["quorum-grows"].result(30)
    after = json.loads(describe(strom_bin, broker.bootstrap, "--status", "--output", "json"))
    assert after["highWatermark"] > before
    assert after["leaderEpoch"] == status["leaderEpoch"]

    text = describe(strom_bin, broker.bootstrap, "--status")
    assert "LeaderId:               1" in text
    rows = describe(strom_bin, broker.bootstrap, "--replication").strip().splitlines()
    assert rows[0].split() == ["NodeId", "LogEndOffset", "Lag", "LastFetchTimestamp",
                               "LastCaughtUpTimestamp", "Status"]
    assert rows[1].split()[0] == "1" and rows[1].split()[-1] == "Leader"


def test_an_unreachable_bootstrap_server_is_a_clear_error(strom_bin):
    out = subprocess.run(
        [str(strom_bin), "metadata-quorum", "--bootstrap-server", "127.0.0.1:1", "describe", "--status"],
        capture_output=True, text=True, timeout=60,
    )
    assert out.returncode == 1
    assert "error:" in out.stderr and "127.0.0.1:1" in out.stderr


def test_describe_cluster_asking_brokers_for_controllers_is_refused_as_kafka_does(broker):
    import kafka_wire as kw
    from cluster import _skip_tags

    def describe(endpoint_type):
        # DescribeCluster v1: include_cluster_authorized_operations, endpoint_type, tags.
        with kw.connect(broker.host, broker.port, timeout_s=5.0) as conn:
            r = kw.Reader(conn.request(60, 1, kw.i8(0) + kw.i8(endpoint_type) + kw.uvarint(0),
                                       flexible_header=True))
            _skip_tags(r)  # response header tags
            r.i32()  # throttle
            return r.i16()

    assert describe(1) == 0
    assert describe(2) == 115, "UNSUPPORTED_ENDPOINT_TYPE"
