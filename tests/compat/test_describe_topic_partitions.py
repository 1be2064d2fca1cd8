"""DescribeTopicPartitions (API 75, KIP-966) through kafka-python's admin client.

The answer is topics in name order, a page of at most response_partition_limit partitions (capped
by the broker's max.request.partition.size.limit, default 2000), and a next_cursor naming the
first partition left out; the client passes it back to get the next page. kafka-python's
integration suite calls this (test_describe_topic_partitions and ..._pagination).
"""

from __future__ import annotations

from clients import create_topic, kp_admin, unique

UNKNOWN_TOPIC_OR_PARTITION = 3


def pages(admin, topics: list[str], limit: int) -> list[list[tuple[str, list[int]]]]:
    """Every page from the start: [(topic, partition indexes)] per page."""
    out = []
    cursor = None
    for _ in range(20):
        answer = admin.describe_topic_partitions(topics, response_partition_limit=limit, cursor=cursor)
        assert all(t["error_code"] == 0 for t in answer["topics"]), answer
        out.append([(t["name"], [p["partition_index"] for p in t["partitions"]]) for t in answer["topics"]])
        cursor = answer["next_cursor"]
        if cursor is None:
            return out
    raise AssertionError(f"no last page after 20: {out}")


def test_pages_follow_the_cursor_across_and_within_topics(broker):
    prefix = unique("dtp")
    a, b, c = f"{prefix}-a", f"{prefix}-b", f"{prefix}-c"
    for name, partitions in ((c, 4), (a, 3), (b, 2)):
        create_topic(broker.bootstrap, name, partitions=partitions)
    admin = kp_admin(broker.bootstrap)
    try:
        # Limit 2 over a(3) b(2) c(4), asked for out of order.
        assert pages(admin, [c, a, b], 2) == [
            [(a, [0, 1])],
            [(a, [2]), (b, [0])],
            [(b, [1]), (c, [0])],
            [(c, [1, 2])],
            [(c, [3])],
        ]
        # One page holds everything by default.
        assert pages(admin, [b, c, a], 2000) == [[(a, [0, 1, 2]), (b, [0, 1]), (c, [0, 1, 2, 3])]]
        # A page that ends with a topic's last partition points at the next topic.
        first = admin.describe_topic_partitions([a, b], response_partition_limit=3)
        assert first["next_cursor"] == {"topic_name": b, "partition_index": 0}, first
        # Every partition of a single-broker topic: led by broker 1, in sync, nothing offline,
        # no eligible leader replicas.
        topic = first["topics"][0]
        assert topic["name"] == a and not topic["is_internal"] and topic["topic_id"] is not None
        for p in topic["partitions"]:
            assert (p["error_code"], p["leader_id"], p["replica_nodes"], p["isr_nodes"], p["offline_replicas"]) \
                == (0, 1, [1], [1], []), p
            assert p["leader_epoch"] >= 0, p
            assert not p["eligible_leader_replicas"] and not p["last_known_elr"], p
    finally:
        admin.close()


def test_every_topic_is_described_when_none_is_named_and_missing_ones_get_an_error(broker):
    prefix = unique("dtp-all")
    names = [f"{prefix}-{i}" for i in range(3)]
    for name in names:
        create_topic(broker.bootstrap, name, partitions=2)
    admin = kp_admin(broker.bootstrap)
    try:
        # Three partitions a page: the middle topic is split across two pages.
        listed = pages(admin, [], 3)
        ours = [page for page in listed if any(name.startswith(prefix) for name, _ in page)]
        assert ours == [
            [(names[0], [0, 1]), (names[1], [0])],
            [(names[1], [1]), (names[2], [0, 1])],
        ], listed
        all_names = [name for page in listed for name, _ in page]
        assert all_names == sorted(all_names), all_names
        missing = f"{prefix}-missing"
        answer = admin.describe_topic_partitions([missing, names[0]])
        by_name = {t["name"]: t for t in answer["topics"]}
        assert by_name[missing]["error_code"] == UNKNOWN_TOPIC_OR_PARTITION, answer
        assert by_name[missing]["partitions"] == [], answer
        assert [p["partition_index"] for p in by_name[names[0]]["partitions"]] == [0, 1]
    finally:
        admin.close()
