"""Partition leadership and reassignment through real admin clients, against a cluster of real
`strom server` processes (cluster.py).

- ElectLeaders (API 43) through confluent-kafka's `AdminClient.elect_leaders`: preferred and unclean
  elections, ELECTION_NOT_NEEDED, PREFERRED_LEADER_NOT_AVAILABLE, UNKNOWN_TOPIC_OR_PARTITION.
- AlterPartitionReassignments / ListPartitionReassignments (API 45 / 46) through kafka-python's
  `KafkaAdminClient`: a reorder that completes at once, a move to a stopped broker that stays in
  progress, its cancellation, and Kafka's errors.
- `unclean.leader.election.enable`: off, a partition whose only in-sync replica is down stays
  leaderless when another replica returns; turned on for the topic, that replica leads at once.

Each test asserts the error codes and the metadata every node then serves (replicas, ISR, leader).
The scenarios are chosen so that follower replication cannot change their outcome: a replica that
must stay out of the ISR has no live leader to copy from.
"""

from __future__ import annotations

import confluent_kafka as ck
import kafka
import kafka.errors as kerr
import pytest
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, NewTopic

from cluster import Cluster
from clients import CLIENT_TIMEOUT_S, unique, wait_for
from conftest import BROKERS_KEY

TUNED = {
    "broker.heartbeat.interval.ms": "500",
    "broker.session.timeout.ms": "3000",
    "controller.quorum.election.timeout.ms": "500",
}


@pytest.fixture
def cluster_factory(strom_bin, tmp_path, request):
    """start(size, controllers) -> a formatted, running Cluster; every node killed on teardown, every
    node's log tail attached to a failure."""
    clusters: list[Cluster] = []
    request.node.stash[BROKERS_KEY] = []

    def start(size: int = 3, controllers: int | None = None) -> Cluster:
        c = Cluster(strom_bin, tmp_path / f"cluster{len(clusters)}", size, TUNED, controllers=controllers)
        clusters.append(c)
        request.node.stash[BROKERS_KEY].extend(c.nodes.values())
        c.start_formatted()
        return c

    yield start
    for c in clusters:
        c.cleanup()


def create_placed(bootstrap: str, assignments: dict[str, list[int]]) -> None:
    """One-partition topics with the given replicas, through confluent-kafka's AdminClient."""
    client = AdminClient({"bootstrap.servers": bootstrap})
    futures = client.create_topics([NewTopic(name, num_partitions=1, replica_assignment=[replicas])
                                    for name, replicas in assignments.items()],
                                   operation_timeout=CLIENT_TIMEOUT_S, request_timeout=CLIENT_TIMEOUT_S)
    for name, f in futures.items():
        assert f.result(timeout=CLIENT_TIMEOUT_S) is None, name


def partition0(c: Cluster, node_id: int, topic: str) -> tuple[int, list[int], list[int]]:
    """(leader, replicas, isr) of topic-0 as node_id's Metadata serves it."""
    [p] = c.metadata(node_id, [topic]).topics[topic].partitions
    return p.leader, list(p.replicas), list(p.isr)


def wait_state(c: Cluster, nodes: set[int], topic: str, expected: tuple[int, list[int], list[int]]) -> None:
    def agree() -> bool:
        try:
            return all(partition0(c, i, topic) == expected for i in nodes)
        except (OSError, KeyError, ValueError):
            return False
    wait_for(agree, CLIENT_TIMEOUT_S, interval_s=0.1,
             what=f"{topic}-0 as (leader, replicas, isr) = {expected} on nodes {sorted(nodes)}")


def elect(bootstrap: str, election: ck.ElectionType, partitions: list[tuple[str, int]]) -> dict[tuple[str, int], int]:
    """ElectLeaders through confluent-kafka: {(topic, partition): Kafka error code, 0 for success}."""
    client = AdminClient({"bootstrap.servers": bootstrap})
    # confluent-kafka 2.16 refuses timeout keyword arguments here (a TypeError in its C binding).
    future = client.elect_leaders(election, [ck.TopicPartition(t, p) for t, p in partitions])
    out = {}
    for tp, error in future.result(timeout=CLIENT_TIMEOUT_S + 5).items():
        # Each value is None or a KafkaError (a KafkaException in older versions).
        if isinstance(error, ck.KafkaException):
            error = error.args[0]
        out[(tp.topic, tp.partition)] = 0 if error is None else error.code()
    return out


def kp_admin(bootstrap: str) -> kafka.KafkaAdminClient:
    return kafka.KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=int(CLIENT_TIMEOUT_S * 1000))


def reassign(admin: kafka.KafkaAdminClient, targets: dict[tuple[str, int], list[int] | None]) -> dict[tuple[str, int], int]:
    """AlterPartitionReassignments through kafka-python: {(topic, partition): error code, 0 for none}."""
    result = admin.alter_partition_reassignments(
        {kafka.TopicPartition(t, p): replicas for (t, p), replicas in targets.items()})
    return {(tp.topic, tp.partition): 0 if err is None else err.errno for tp, err in result.items()}


def ongoing(admin: kafka.KafkaAdminClient) -> dict[tuple[str, int], tuple[list[int], list[int], list[int]]]:
    """ListPartitionReassignments (all) through kafka-python: {(topic, partition): (replicas, adding, removing)}."""
    return {(tp.topic, tp.partition): (r["replicas"], r["adding_replicas"], r["removing_replicas"])
            for tp, r in admin.list_partition_reassignments().items()}


def test_preferred_election_after_a_reorder_and_kafkas_errors(cluster_factory):
    c = cluster_factory()
    nodes = set(c.nodes)
    topic = unique("elect")
    b = c.nodes[2].bootstrap
    create_placed(b, {topic: [1, 2, 3]})
    # A new partition is empty: every replica is in sync from the start.
    wait_state(c, nodes, topic, (1, [1, 2, 3], [1, 2, 3]))

    # The preferred replica leads already; a led partition needs no unclean election; no partition 5.
    assert elect(b, ck.ElectionType.PREFERRED, [(topic, 0), (topic, 5)]) == {
        (topic, 0): ck.KafkaError.ELECTION_NOT_NEEDED, (topic, 5): ck.KafkaError.UNKNOWN_TOPIC_OR_PART}
    assert elect(b, ck.ElectionType.UNCLEAN, [(topic, 0)]) == {(topic, 0): ck.KafkaError.ELECTION_NOT_NEEDED}

    admin = kp_admin(c.nodes[3].bootstrap)
    try:
        # Reordering replicas that are all in sync completes at once; the leader stays.
        assert reassign(admin, {(topic, 0): [2, 1, 3]}) == {(topic, 0): 0}
        wait_state(c, nodes, topic, (1, [2, 1, 3], [1, 2, 3]))
        assert ongoing(admin) == {}
        # Nothing to cancel; bad targets are INVALID_REPLICA_ASSIGNMENT; unknown topics are unknown.
        assert reassign(admin, {(topic, 0): None}) == {(topic, 0): kerr.NoReassignmentInProgressError.errno}
        bad = kerr.InvalidReplicationAssignmentError.errno
        assert bad == 39
        assert reassign(admin, {(topic, 0): [1, 1]}) == {(topic, 0): bad}
        assert reassign(admin, {(topic, 0): [1, 9]}) == {(topic, 0): bad}
        # (An empty list is refused by kafka-python itself; the controller's answer, 39, is unit-tested.)
        assert reassign(admin, {("no-such-topic", 0): [1]}) == {("no-such-topic", 0): 3}
    finally:
        admin.close()
    wait_state(c, nodes, topic, (1, [2, 1, 3], [1, 2, 3]))

    # Now the preferred replica, 2, is in the ISR and does not lead: the election moves leadership.
    assert elect(c.nodes[1].bootstrap, ck.ElectionType.PREFERRED, [(topic, 0)]) == {(topic, 0): 0}
    wait_state(c, nodes, topic, (2, [2, 1, 3], [1, 2, 3]))


def test_reassignment_to_a_stopped_broker_stays_in_progress_until_cancelled_and_unclean_elections(cluster_factory):
    # Controllers 1-3 keep their quorum while brokers 4 and 5 stop and start.
    c = cluster_factory(size=5, controllers=3)
    moved, unclean, config = unique("moved"), unique("unclean"), unique("config")
    b = c.nodes[1].bootstrap
    create_placed(b, {moved: [4, 1], unclean: [4, 5], config: [4, 5]})
    for t, replicas in {moved: [4, 1], unclean: [4, 5], config: [4, 5]}.items():
        wait_state(c, set(c.nodes), t, (4, replicas, replicas))

    # Broker 5 stops (controlled shutdown): it leaves the ISRs it was in.
    c.nodes[5].stop()
    up = {1, 2, 3, 4}
    for t in (unclean, config):
        wait_state(c, up, t, (4, [4, 5], [4]))

    admin = kp_admin(c.nodes[2].bootstrap)
    try:
        # Moving `moved` from 4 to the stopped broker 5: accepted (5 is registered), and in progress
        # while 5 cannot catch up.
        assert reassign(admin, {(moved, 0): [5, 1]}) == {(moved, 0): 0}
        assert ongoing(admin) == {(moved, 0): ([5, 1, 4], [5], [4])}
        wait_state(c, up, moved, (4, [5, 1, 4], [4, 1]))
        # Cancelled: the added replica goes.
        assert reassign(admin, {(moved, 0): None}) == {(moved, 0): 0}
        assert ongoing(admin) == {}
        wait_state(c, up, moved, (4, [1, 4], [4, 1]))
    finally:
        admin.close()

    # Broker 4, the last in-sync replica of both topics, stops: they have no leader.
    c.nodes[4].stop()
    up = {1, 2, 3}
    for t in (unclean, config):
        wait_state(c, up, t, (-1, [4, 5], [4]))
    # Broker 5 returns. Unclean elections are off: the partitions stay leaderless (5 may lack records).
    c.start([5])
    up = {1, 2, 3, 5}
    for t in (unclean, config):
        wait_state(c, up, t, (-1, [4, 5], [4]))

    # The preferred replica, 4, is down; an unclean election makes 5 the leader, alone in the ISR.
    assert elect(b, ck.ElectionType.PREFERRED, [(unclean, 0)]) == {
        (unclean, 0): ck.KafkaError.PREFERRED_LEADER_NOT_AVAILABLE}
    assert elect(b, ck.ElectionType.UNCLEAN, [(unclean, 0)]) == {(unclean, 0): 0}
    wait_state(c, up, unclean, (5, [4, 5], [5]))

    # Turning unclean.leader.election.enable on for the other topic elects 5 there at once.
    client = AdminClient({"bootstrap.servers": c.nodes[3].bootstrap})
    resource = ConfigResource(ConfigResource.Type.TOPIC, config, incremental_configs=[
        ConfigEntry("unclean.leader.election.enable", "true", incremental_operation=AlterConfigOpType.SET)])
    for f in client.incremental_alter_configs([resource]).values():
        assert f.result(timeout=CLIENT_TIMEOUT_S) is None
    wait_state(c, up, config, (5, [4, 5], [5]))
    # Each unclean election is logged as one that may lose records.
    wait_for(lambda: sum(n.log_text().count("unclean leader election") for n in c.nodes.values()) >= 2,
             10.0, what="a WARN line per unclean election")
    rss = {i: n.rss_kib() // 1024 for i, n in c.nodes.items() if n.running()}
    print(f"\nresident memory of the running nodes: {rss} MiB")
    assert all(m < 256 for m in rss.values()), rss
