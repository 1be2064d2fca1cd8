"""The nemesis's own wire request, byte by byte against Kafka's AlterPartitionReassignments v0 schema
(flexible: compact arrays and strings are length + 1, every struct ends with its tagged fields)."""

from __future__ import annotations

import struct

from nemesis import alter_partition_reassignments_request, parse_alter_partition_reassignments


def test_the_reassignment_request_is_laid_out_as_kafkas_v0():
    body = alter_partition_reassignments_request("jepsen", 2, [3, 1, 2], timeout_ms=30000)
    assert body == (struct.pack(">i", 30000)
                    + b"\x02" + b"\x07jepsen"  # one topic; its name, length + 1
                    + b"\x02" + struct.pack(">i", 2)  # one partition, index 2
                    + b"\x04" + struct.pack(">iii", 3, 1, 2)  # three replicas
                    + b"\x00"  # partition tags
                    + b"\x00"  # topic tags
                    + b"\x00")  # request tags


def test_the_reassignment_response_gives_top_level_and_partition_errors():
    def response(top: int, partition_error: int) -> bytes:
        return (b"\x00"  # response header tags
                + struct.pack(">ih", 0, top) + b"\x00"  # throttle, error, null message
                + b"\x02" + b"\x07jepsen"
                + b"\x02" + struct.pack(">ih", 2, partition_error) + b"\x00" + b"\x00"  # index, error, msg, tags
                + b"\x00"  # topic tags
                + b"\x00")  # response tags

    assert parse_alter_partition_reassignments(response(0, 0)) == (0, [0])
    assert parse_alter_partition_reassignments(response(0, 39)) == (0, [39])  # INVALID_REPLICA_ASSIGNMENT
    assert parse_alter_partition_reassignments(response(41, 0)) == (41, [0])  # NOT_CONTROLLER
