"""ApiVersions: what Strom advertises, pinned against a released Kafka 4.x broker's answer.

Clients read the broker's version from these ranges (kafka-python infers it from the highest
version of a few APIs; librdkafka and the Java client pick request versions from them), so a
range below Kafka's makes Strom look like an older Kafka and a range above it promises what no
Kafka does. KAFKA_4_1 is Apache Kafka 4.1.0's answer (as kafka-python 3.0.12 records it in
kafka/protocol/broker_version_data.py, checked below); every API Strom advertises has Kafka's
range unless listed in BEHIND_KAFKA_4_1 with the reason, and every Kafka API Strom leaves out is
listed in NOT_ADVERTISED. A change to either side shows here.
"""

from __future__ import annotations

import kafka_wire as kw

# Apache Kafka 4.1.0, ApiVersions from a broker: api key -> (min, max).
KAFKA_4_1 = {
    0: (0, 13), 1: (4, 18), 2: (1, 10), 3: (0, 13), 8: (2, 9), 9: (1, 9), 10: (0, 6), 11: (0, 9),
    12: (0, 4), 13: (0, 5), 14: (0, 5), 15: (0, 6), 16: (0, 5), 17: (0, 1), 18: (0, 4), 19: (2, 7),
    20: (1, 6), 21: (0, 2), 22: (0, 5), 23: (2, 4), 24: (0, 5), 25: (0, 4), 26: (0, 5), 27: (1, 1),
    28: (0, 5), 29: (1, 3), 30: (1, 3), 31: (1, 3), 32: (1, 4), 33: (0, 2), 34: (1, 2), 35: (1, 4),
    36: (0, 2), 37: (0, 3), 38: (1, 3), 39: (1, 2), 40: (1, 2), 41: (1, 3), 42: (0, 2), 43: (0, 2),
    44: (0, 1), 45: (0, 1), 46: (0, 0), 47: (0, 0), 48: (0, 1), 49: (0, 1), 50: (0, 0), 51: (0, 0),
    55: (0, 2), 57: (0, 2), 60: (0, 2), 61: (0, 0), 64: (0, 0), 65: (0, 0), 66: (0, 2), 68: (0, 1),
    69: (0, 1), 74: (0, 1), 75: (0, 0), 76: (1, 1), 77: (1, 1), 78: (1, 1), 79: (1, 1), 80: (0, 0),
    81: (0, 0), 83: (0, 0), 84: (0, 0), 85: (0, 0), 86: (0, 0), 87: (0, 0), 90: (0, 0), 91: (0, 0),
    92: (0, 0),
}

# Advertised below Kafka 4.1, each with why: api key -> (Strom's range, reason).
BEHIND_KAFKA_4_1 = {
    1: ((4, 17), "Fetch v18 belongs to the fetch-sessions work of issue #14 (kp-fetch)"),
    45: ((0, 0), "AlterPartitionReassignments v1 (KIP-860 allow_replication_factor_change) not implemented"),
}

# Kafka 4.1 APIs Strom does not advertise, each with why.
NOT_ADVERTISED = {
    34: "AlterReplicaLogDirs: moving replicas between log directories is not implemented",
    38: "CreateDelegationToken: security, issue #12",
    39: "RenewDelegationToken: security, issue #12",
    40: "ExpireDelegationToken: security, issue #12",
    41: "DescribeDelegationToken: security, issue #12",
    57: "UpdateFeatures: feature levels are fixed",
    64: "UnregisterBroker: not implemented",
    74: "ListConfigResources: configs work of issue #14 (kp-configs)",
    76: "ShareGroupHeartbeat: share groups (KIP-932) are not implemented",
    77: "ShareGroupDescribe: share groups (KIP-932) are not implemented",
    78: "ShareFetch: share groups (KIP-932) are not implemented",
    79: "ShareAcknowledge: share groups (KIP-932) are not implemented",
    83: "InitializeShareGroupState: share groups (KIP-932) are not implemented",
    84: "ReadShareGroupState: share groups (KIP-932) are not implemented",
    85: "WriteShareGroupState: share groups (KIP-932) are not implemented",
    86: "DeleteShareGroupState: share groups (KIP-932) are not implemented",
    87: "ReadShareGroupStateSummary: share groups (KIP-932) are not implemented",
    90: "DescribeShareGroupOffsets: share groups (KIP-932) are not implemented",
    91: "AlterShareGroupOffsets: share groups (KIP-932) are not implemented",
    92: "DeleteShareGroupOffsets: share groups (KIP-932) are not implemented",
}


def strom_api_versions(broker) -> dict[int, tuple[int, int]]:
    with kw.connect(broker.host, broker.port) as conn:
        answer = conn.api_versions_v0()
    assert answer.error_code == 0
    return answer.api_keys


def test_the_pinned_table_is_kafka_4_1_as_kafka_python_records_it():
    from kafka.protocol.broker_version_data import BROKER_API_VERSIONS
    assert {k: tuple(v) for k, v in BROKER_API_VERSIONS[(4, 1)].items()} == KAFKA_4_1


def test_advertised_ranges_are_kafka_4_1s_except_where_listed(broker):
    strom = strom_api_versions(broker)
    beyond_kafka = sorted(set(strom) - set(KAFKA_4_1))
    assert beyond_kafka == [], f"advertised but not in Kafka 4.1: {beyond_kafka}"
    assert sorted(set(KAFKA_4_1) - set(strom)) == sorted(NOT_ADVERTISED), "Kafka 4.1 APIs left out changed"
    expected = {k: BEHIND_KAFKA_4_1[k][0] if k in BEHIND_KAFKA_4_1 else v
                for k, v in KAFKA_4_1.items() if k not in NOT_ADVERTISED}
    differing = {k: (strom[k], expected[k]) for k in strom if strom[k] != expected[k]}
    assert differing == {}, f"api key: (advertised, expected): {differing}"


def test_kafka_python_infers_kafka_4_from_the_advertised_versions(broker):
    from kafka import KafkaAdminClient
    client = KafkaAdminClient(bootstrap_servers=broker.bootstrap, request_timeout_ms=30000)
    try:
        version = client.get_broker_version_data(1).broker_version
    finally:
        client.close()
    assert version >= (4, 0), version
    # Produce v13 is what tells Kafka 4.1 apart (kafka-python's infer_broker_version_from_api_versions).
    assert version == (4, 1), version
