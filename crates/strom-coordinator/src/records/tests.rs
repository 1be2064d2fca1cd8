//! Round trips, Kafka's golden bytes and malformed input for every schema.

use bytes::Bytes;
use uuid::Uuid;

use super::*;

fn uuid(n: u8) -> Uuid {
    Uuid::from_bytes([n; 16])
}

fn offset_value() -> OffsetCommitValue {
    OffsetCommitValue {
        offset: 100,
        leader_epoch: 5,
        metadata: "m".into(),
        commit_timestamp: 1000,
        expire_timestamp: -1,
    }
}

fn member(id: &str, instance: Option<&str>) -> MemberMetadata {
    MemberMetadata {
        member_id: id.into(),
        group_instance_id: instance.map(Into::into),
        client_id: "client".into(),
        client_host: "/10.0.0.1".into(),
        rebalance_timeout: 300_000,
        session_timeout: 45_000,
        subscription: Bytes::from_static(b"\x00\x01sub"),
        assignment: Bytes::from_static(b"asg"),
    }
}

fn group_value() -> GroupMetadataValue {
    GroupMetadataValue {
        protocol_type: "consumer".into(),
        generation: 7,
        protocol: Some("range".into()),
        leader: Some("m1".into()),
        current_state_timestamp: 1_700_000_000_000,
        members: vec![member("m1", Some("i1")), member("m2", None)],
    }
}

fn all_keys() -> Vec<RecordKey> {
    vec![
        RecordKey::OffsetCommit {
            group: "g".into(),
            topic: "t".into(),
            partition: 3,
        },
        RecordKey::GroupMetadata { group: "g".into() },
        RecordKey::ConsumerGroupMetadata { group: "g".into() },
        RecordKey::ConsumerGroupPartitionMetadata { group: "g".into() },
        RecordKey::ConsumerGroupMemberMetadata {
            group: "g".into(),
            member_id: "m".into(),
        },
        RecordKey::ConsumerGroupTargetAssignmentMetadata { group: "g".into() },
        RecordKey::ConsumerGroupTargetAssignmentMember {
            group: "g".into(),
            member_id: "m".into(),
        },
        RecordKey::ConsumerGroupCurrentMemberAssignment {
            group: "grp".into(),
            member_id: "mem".into(),
        },
    ]
}

fn cg_metadata() -> ConsumerGroupMetadataValue {
    ConsumerGroupMetadataValue {
        epoch: 42,
        metadata_hash: 0x0102_0304_0506_0708,
        creation_time_ms: 1_700_000_000_000,
    }
}

fn cg_partition_metadata() -> ConsumerGroupPartitionMetadataValue {
    ConsumerGroupPartitionMetadataValue {
        topics: vec![
            TopicMetadata {
                topic_id: uuid(1),
                topic_name: "orders".into(),
                num_partitions: 3,
                partition_metadata: vec![
                    PartitionMetadata {
                        partition: 0,
                        racks: vec!["r1".into(), "r2".into()],
                    },
                    PartitionMetadata {
                        partition: 1,
                        racks: vec![],
                    },
                ],
            },
            TopicMetadata {
                topic_id: uuid(2),
                topic_name: "x".into(),
                num_partitions: 1,
                partition_metadata: vec![],
            },
        ],
    }
}

fn cg_member() -> ConsumerGroupMemberMetadataValue {
    ConsumerGroupMemberMetadataValue {
        instance_id: Some("inst".into()),
        rack_id: None,
        client_id: "c".into(),
        client_host: "/127.0.0.1".into(),
        subscribed_topic_names: vec!["a".into(), "b".into()],
        subscribed_topic_regex: Some("a.*".into()),
        rebalance_timeout_ms: 60_000,
        server_assignor: Some("uniform".into()),
        classic_member_metadata: Some(ClassicMemberMetadata {
            session_timeout_ms: 45_000,
            supported_protocols: vec![ClassicProtocol {
                name: "range".into(),
                metadata: Bytes::from_static(b"\x00\x00meta"),
            }],
        }),
    }
}

fn tps() -> Vec<TopicPartitions> {
    vec![
        TopicPartitions {
            topic_id: uuid(7),
            partitions: vec![0, 2, 4],
        },
        TopicPartitions {
            topic_id: uuid(8),
            partitions: vec![],
        },
    ]
}

fn cg_current() -> ConsumerGroupCurrentMemberAssignmentValue {
    ConsumerGroupCurrentMemberAssignmentValue {
        member_epoch: 10,
        previous_member_epoch: 9,
        state: 1,
        assigned_partitions: tps(),
        partitions_pending_revocation: vec![TopicPartitions {
            topic_id: uuid(9),
            partitions: vec![1],
        }],
    }
}

/// Decodes with one value type, reporting only success.
type DecodesOk = fn(&[u8]) -> bool;

/// Every encoded value, with its decoder.
fn all_encoded() -> Vec<(Vec<u8>, DecodesOk)> {
    vec![
        (offset_value().encode(), |b| {
            OffsetCommitValue::decode(b).is_ok()
        }),
        (
            OffsetCommitValue {
                expire_timestamp: 5000,
                ..offset_value()
            }
            .encode(),
            |b| OffsetCommitValue::decode(b).is_ok(),
        ),
        (offset_value().encode_version(4), |b| {
            OffsetCommitValue::decode(b).is_ok()
        }),
        (group_value().encode(), |b| {
            GroupMetadataValue::decode(b).is_ok()
        }),
        (group_value().encode_version(0), |b| {
            GroupMetadataValue::decode(b).is_ok()
        }),
        (group_value().encode_version(4), |b| {
            GroupMetadataValue::decode(b).is_ok()
        }),
        (cg_metadata().encode(), |b| {
            ConsumerGroupMetadataValue::decode(b).is_ok()
        }),
        (cg_partition_metadata().encode(), |b| {
            ConsumerGroupPartitionMetadataValue::decode(b).is_ok()
        }),
        (cg_member().encode(), |b| {
            ConsumerGroupMemberMetadataValue::decode(b).is_ok()
        }),
        (
            ConsumerGroupTargetAssignmentMetadataValue {
                assignment_epoch: 3,
            }
            .encode(),
            |b| ConsumerGroupTargetAssignmentMetadataValue::decode(b).is_ok(),
        ),
        (
            ConsumerGroupTargetAssignmentMemberValue {
                topic_partitions: tps(),
            }
            .encode(),
            |b| ConsumerGroupTargetAssignmentMemberValue::decode(b).is_ok(),
        ),
        (cg_current().encode(), |b| {
            ConsumerGroupCurrentMemberAssignmentValue::decode(b).is_ok()
        }),
    ]
}

// -- keys ---------------------------------------------------------------

#[test]
fn key_round_trips() {
    for key in all_keys() {
        let bytes = key.encode();
        assert_eq!(
            RecordKey::decode(&bytes).unwrap(),
            Some(key.clone()),
            "{key:?}"
        );
        assert_eq!(i16::from_be_bytes([bytes[0], bytes[1]]), key.record_type());
    }
}

#[test]
fn key_group() {
    for key in all_keys() {
        assert!(key.group() == "g" || key.group() == "grp");
    }
}

#[test]
fn offset_commit_key_golden() {
    let key = RecordKey::OffsetCommit {
        group: "g".into(),
        topic: "t".into(),
        partition: 3,
    };
    let golden = [
        0x00, 0x01, // type 1
        0x00, 0x01, b'g', // group
        0x00, 0x01, b't', // topic
        0x00, 0x00, 0x00, 0x03, // partition
    ];
    assert_eq!(key.encode(), golden);
    assert_eq!(RecordKey::decode(&golden).unwrap(), Some(key.clone()));
    // Type 0 (legacy) decodes to the same key.
    let mut legacy = golden;
    legacy[1] = 0;
    assert_eq!(RecordKey::decode(&legacy).unwrap(), Some(key));
}

#[test]
fn group_metadata_key_golden() {
    let key = RecordKey::GroupMetadata { group: "ab".into() };
    assert_eq!(key.encode(), [0x00, 0x02, 0x00, 0x02, b'a', b'b']);
}

#[test]
fn member_key_golden() {
    let key = RecordKey::ConsumerGroupCurrentMemberAssignment {
        group: "g".into(),
        member_id: "m".into(),
    };
    assert_eq!(
        key.encode(),
        [0x00, 0x08, 0x00, 0x01, b'g', 0x00, 0x01, b'm']
    );
}

#[test]
fn unknown_key_type_is_skipped() {
    for ty in [9i16, 10, 15, 16, 100, i16::MAX, -1, i16::MIN] {
        let mut buf = ty.to_be_bytes().to_vec();
        buf.extend_from_slice(&[0x00, 0x01, b'g']);
        assert_eq!(RecordKey::decode(&buf).unwrap(), None, "type {ty}");
        // Even with nothing after the type.
        assert_eq!(RecordKey::decode(&ty.to_be_bytes()).unwrap(), None);
    }
}

#[test]
fn key_errors() {
    assert_eq!(
        RecordKey::decode(&[0x00]).unwrap_err(),
        RecordError::MissingVersion {
            record: "record key"
        }
    );
    // Null group.
    let err = RecordKey::decode(&[0x00, 0x02, 0xff, 0xff]).unwrap_err();
    assert!(
        matches!(err, RecordError::UnexpectedNull { field: "group", .. }),
        "{err}"
    );
    // Negative length other than -1.
    let err = RecordKey::decode(&[0x00, 0x02, 0xff, 0xfe]).unwrap_err();
    assert!(
        matches!(err, RecordError::InvalidLength { length: -2, .. }),
        "{err}"
    );
    // Length past the end.
    let err = RecordKey::decode(&[0x00, 0x02, 0x00, 0x05, b'a']).unwrap_err();
    assert_eq!(
        err.to_string(),
        "GroupMetadataKey v2: truncated at field group"
    );
    // Bad UTF-8.
    let err = RecordKey::decode(&[0x00, 0x02, 0x00, 0x01, 0xff]).unwrap_err();
    assert!(matches!(err, RecordError::InvalidUtf8 { .. }), "{err}");
}

// -- OffsetCommitValue ----------------------------------------------------

#[test]
fn offset_commit_value_golden_v3() {
    let golden = [
        0x00, 0x03, // version 3
        0, 0, 0, 0, 0, 0, 0, 100, // offset
        0, 0, 0, 5, // leaderEpoch
        0x00, 0x01, b'm', // metadata
        0, 0, 0, 0, 0, 0, 0x03, 0xe8, // commitTimestamp 1000
    ];
    assert_eq!(offset_value().encode(), golden);
    assert_eq!(OffsetCommitValue::decode(&golden).unwrap(), offset_value());
}

#[test]
fn offset_commit_value_round_trips() {
    let v = offset_value();
    assert_eq!(OffsetCommitValue::decode(&v.encode()).unwrap(), v);
    // With an expire timestamp: version 1, which has no leader epoch.
    let v1 = OffsetCommitValue {
        expire_timestamp: 9000,
        ..offset_value()
    };
    let bytes = v1.encode();
    assert_eq!(&bytes[..2], &[0, 1]);
    assert_eq!(
        OffsetCommitValue::decode(&bytes).unwrap(),
        OffsetCommitValue {
            leader_epoch: -1,
            ..v1
        }
    );
    // Flexible version 4.
    assert_eq!(OffsetCommitValue::decode(&v.encode_version(4)).unwrap(), v);
    // Empty metadata.
    let empty = OffsetCommitValue {
        metadata: String::new(),
        ..offset_value()
    };
    assert_eq!(OffsetCommitValue::decode(&empty.encode()).unwrap(), empty);
}

#[test]
fn offset_commit_value_old_versions() {
    // v0: offset, metadata, commitTimestamp.
    let v0 = [
        0x00, 0x00, 0, 0, 0, 0, 0, 0, 0, 7, 0x00, 0x02, b'h', b'i', 0, 0, 0, 0, 0, 0, 0, 9,
    ];
    assert_eq!(
        OffsetCommitValue::decode(&v0).unwrap(),
        OffsetCommitValue {
            offset: 7,
            leader_epoch: -1,
            metadata: "hi".into(),
            commit_timestamp: 9,
            expire_timestamp: -1,
        }
    );
    // v1: + expireTimestamp.
    let mut v1 = v0.to_vec();
    v1[1] = 1;
    v1.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 11]);
    assert_eq!(
        OffsetCommitValue::decode(&v1).unwrap(),
        OffsetCommitValue {
            offset: 7,
            leader_epoch: -1,
            metadata: "hi".into(),
            commit_timestamp: 9,
            expire_timestamp: 11,
        }
    );
    // v2: same layout as v0.
    let mut v2 = v0;
    v2[1] = 2;
    assert_eq!(OffsetCommitValue::decode(&v2).unwrap().offset, 7);
}

#[test]
fn offset_commit_value_v4_with_unknown_tagged_field() {
    let bytes = [
        0x00, 0x04, // version 4
        0, 0, 0, 0, 0, 0, 0, 100, // offset
        0, 0, 0, 5, // leaderEpoch
        0x02, b'm', // compact metadata
        0, 0, 0, 0, 0, 0, 0x03, 0xe8, // commitTimestamp
        0x02, // two tagged fields
        0x05, 0x03, 0xaa, 0xbb, 0xcc, // tag 5, 3 bytes
        0x81, 0x01, 0x00, // tag 129, empty
    ];
    assert_eq!(OffsetCommitValue::decode(&bytes).unwrap(), offset_value());
    assert_eq!(offset_value().encode_version(4), {
        let mut b = bytes[..bytes.len() - 9].to_vec();
        b.push(0);
        b
    });
}

#[test]
fn offset_commit_value_errors() {
    let err = OffsetCommitValue::decode(&[0x00, 0x05, 0, 0]).unwrap_err();
    assert_eq!(err.to_string(), "OffsetCommitValue: unsupported version 5");
    let err = OffsetCommitValue::decode(&[0xff, 0xff]).unwrap_err();
    assert!(matches!(
        err,
        RecordError::UnsupportedVersion { version: -1, .. }
    ));
    let golden = offset_value().encode();
    let err = OffsetCommitValue::decode(&golden[..16]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "OffsetCommitValue v3: truncated at field metadata"
    );
    // A varint that does not end.
    let mut v4 = offset_value().encode_version(4);
    v4.truncate(14);
    v4.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
    let err = OffsetCommitValue::decode(&v4).unwrap_err();
    assert!(
        matches!(
            err,
            RecordError::InvalidVarint {
                field: "metadata",
                ..
            }
        ),
        "{err}"
    );
}

// -- GroupMetadataValue ---------------------------------------------------

#[test]
fn group_metadata_value_golden_v3() {
    let v = GroupMetadataValue {
        protocol_type: "consumer".into(),
        generation: 1,
        protocol: Some("range".into()),
        leader: None,
        current_state_timestamp: 2,
        members: vec![MemberMetadata {
            member_id: "m".into(),
            group_instance_id: None,
            client_id: "c".into(),
            client_host: "h".into(),
            rebalance_timeout: 3,
            session_timeout: 4,
            subscription: Bytes::from_static(&[0xab]),
            assignment: Bytes::new(),
        }],
    };
    let mut golden = vec![0x00, 0x03]; // version
    golden.extend_from_slice(&[0x00, 0x08]);
    golden.extend_from_slice(b"consumer"); // protocolType
    golden.extend_from_slice(&[0, 0, 0, 1]); // generation
    golden.extend_from_slice(&[0x00, 0x05]);
    golden.extend_from_slice(b"range"); // protocol
    golden.extend_from_slice(&[0xff, 0xff]); // leader: null
    golden.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 2]); // currentStateTimestamp
    golden.extend_from_slice(&[0, 0, 0, 1]); // one member
    golden.extend_from_slice(&[0x00, 0x01, b'm']); // memberId
    golden.extend_from_slice(&[0xff, 0xff]); // groupInstanceId: null
    golden.extend_from_slice(&[0x00, 0x01, b'c']); // clientId
    golden.extend_from_slice(&[0x00, 0x01, b'h']); // clientHost
    golden.extend_from_slice(&[0, 0, 0, 3]); // rebalanceTimeout
    golden.extend_from_slice(&[0, 0, 0, 4]); // sessionTimeout
    golden.extend_from_slice(&[0, 0, 0, 1, 0xab]); // subscription
    golden.extend_from_slice(&[0, 0, 0, 0]); // assignment: empty
    assert_eq!(v.encode(), golden);
    assert_eq!(GroupMetadataValue::decode(&golden).unwrap(), v);
}

#[test]
fn group_metadata_value_round_trips() {
    let v = group_value();
    assert_eq!(GroupMetadataValue::decode(&v.encode()).unwrap(), v);
    assert_eq!(GroupMetadataValue::decode(&v.encode_version(4)).unwrap(), v);
    let empty = GroupMetadataValue {
        protocol_type: String::new(),
        generation: 0,
        protocol: None,
        leader: None,
        current_state_timestamp: -1,
        members: vec![],
    };
    assert_eq!(GroupMetadataValue::decode(&empty.encode()).unwrap(), empty);
}

#[test]
fn group_metadata_value_old_versions() {
    let v = group_value();
    // v0: no currentStateTimestamp, no groupInstanceId, no rebalanceTimeout
    // (defaults to the session timeout).
    let d0 = GroupMetadataValue::decode(&v.encode_version(0)).unwrap();
    assert_eq!(d0.current_state_timestamp, -1);
    assert!(d0.members.iter().all(|m| m.group_instance_id.is_none()));
    assert!(d0
        .members
        .iter()
        .all(|m| m.rebalance_timeout == m.session_timeout));
    assert_eq!(d0.members[0].subscription, v.members[0].subscription);
    // v1: rebalanceTimeout, still no timestamp.
    let d1 = GroupMetadataValue::decode(&v.encode_version(1)).unwrap();
    assert_eq!(d1.current_state_timestamp, -1);
    assert_eq!(d1.members[0].rebalance_timeout, 300_000);
    assert!(d1.members[0].group_instance_id.is_none());
    // v2: timestamp, still no groupInstanceId.
    let d2 = GroupMetadataValue::decode(&v.encode_version(2)).unwrap();
    assert_eq!(d2.current_state_timestamp, v.current_state_timestamp);
    assert!(d2.members[0].group_instance_id.is_none());
    assert_eq!(d2.members[1], v.members[1]);

    // A v0 record built by hand.
    let mut b = vec![0x00, 0x00];
    b.extend_from_slice(&[0x00, 0x01, b'p', 0, 0, 0, 2, 0xff, 0xff, 0xff, 0xff]);
    b.extend_from_slice(&[0, 0, 0, 1]);
    b.extend_from_slice(&[0x00, 0x01, b'm', 0x00, 0x01, b'c', 0x00, 0x01, b'h']);
    b.extend_from_slice(&[0, 0, 0, 9]); // sessionTimeout
    b.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0]);
    let d = GroupMetadataValue::decode(&b).unwrap();
    assert_eq!(d.protocol_type, "p");
    assert_eq!(d.generation, 2);
    assert_eq!(d.members[0].rebalance_timeout, 9);
    assert_eq!(d.members[0].session_timeout, 9);
}

#[test]
fn group_metadata_value_huge_member_count_is_rejected() {
    let mut b = GroupMetadataValue {
        members: vec![],
        ..group_value()
    }
    .encode();
    let n = b.len();
    b[n - 4..].copy_from_slice(&i32::MAX.to_be_bytes());
    let err = GroupMetadataValue::decode(&b).unwrap_err();
    assert!(
        matches!(
            err,
            RecordError::InvalidLength {
                field: "members",
                ..
            }
        ),
        "{err}"
    );
    b[n - 4..].copy_from_slice(&(-1i32).to_be_bytes());
    let err = GroupMetadataValue::decode(&b).unwrap_err();
    assert!(
        matches!(
            err,
            RecordError::UnexpectedNull {
                field: "members",
                ..
            }
        ),
        "{err}"
    );
}

// -- KIP-848 values -------------------------------------------------------

#[test]
fn consumer_group_metadata_value() {
    let v = cg_metadata();
    assert_eq!(ConsumerGroupMetadataValue::decode(&v.encode()).unwrap(), v);
    let plain = ConsumerGroupMetadataValue {
        epoch: 5,
        ..Default::default()
    };
    // No tagged fields written at their defaults.
    assert_eq!(plain.encode(), [0, 0, 0, 0, 0, 5, 0]);
    assert_eq!(
        ConsumerGroupMetadataValue::decode(&plain.encode()).unwrap(),
        plain
    );
    // metadataHash as tag 0.
    let hashed = ConsumerGroupMetadataValue {
        epoch: 5,
        metadata_hash: 1,
        ..Default::default()
    };
    assert_eq!(
        hashed.encode(),
        [0, 0, 0, 0, 0, 5, 1, 0, 8, 0, 0, 0, 0, 0, 0, 0, 1]
    );
    // A known tag with too few bytes is an error, not a panic.
    let err = ConsumerGroupMetadataValue::decode(&[0, 0, 0, 0, 0, 5, 1, 0, 2, 0, 1]).unwrap_err();
    assert!(
        matches!(
            err,
            RecordError::Truncated {
                field: "metadataHash",
                ..
            }
        ),
        "{err}"
    );
    // Version 1 does not exist.
    let err = ConsumerGroupMetadataValue::decode(&[0, 1, 0, 0, 0, 5, 0]).unwrap_err();
    assert!(matches!(
        err,
        RecordError::UnsupportedVersion { version: 1, .. }
    ));
}

#[test]
fn consumer_group_partition_metadata_value() {
    let v = cg_partition_metadata();
    assert_eq!(
        ConsumerGroupPartitionMetadataValue::decode(&v.encode()).unwrap(),
        v
    );
    let empty = ConsumerGroupPartitionMetadataValue::default();
    assert_eq!(empty.encode(), [0, 0, 1, 0]);
    assert_eq!(
        ConsumerGroupPartitionMetadataValue::decode(&empty.encode()).unwrap(),
        empty
    );
}

#[test]
fn consumer_group_member_metadata_value() {
    let v = cg_member();
    assert_eq!(
        ConsumerGroupMemberMetadataValue::decode(&v.encode()).unwrap(),
        v
    );
    let plain = ConsumerGroupMemberMetadataValue {
        classic_member_metadata: None,
        ..cg_member()
    };
    assert_eq!(
        ConsumerGroupMemberMetadataValue::decode(&plain.encode()).unwrap(),
        plain
    );
    let d = ConsumerGroupMemberMetadataValue::default();
    assert_eq!(
        ConsumerGroupMemberMetadataValue::decode(&d.encode()).unwrap(),
        d
    );
}

#[test]
fn consumer_group_member_metadata_value_golden() {
    let v = ConsumerGroupMemberMetadataValue {
        instance_id: None,
        rack_id: Some("r".into()),
        client_id: "c".into(),
        client_host: "h".into(),
        subscribed_topic_names: vec!["t".into()],
        subscribed_topic_regex: None,
        rebalance_timeout_ms: 1,
        server_assignor: None,
        classic_member_metadata: Some(ClassicMemberMetadata {
            session_timeout_ms: 2,
            supported_protocols: vec![ClassicProtocol {
                name: "p".into(),
                metadata: Bytes::from_static(&[0xee]),
            }],
        }),
    };
    let golden = [
        0x00, 0x00, // version
        0x00, // instanceId: null
        0x02, b'r', // rackId
        0x02, b'c', // clientId
        0x02, b'h', // clientHost
        0x02, 0x02, b't', // subscribedTopicNames
        0x00, // subscribedTopicRegex: null
        0, 0, 0, 1,    // rebalanceTimeoutMs
        0x00, // serverAssignor: null
        0x01, // one tagged field
        0x00, 0x0c, // tag 0, 12 bytes
        0x01, // non-null
        0, 0, 0, 2,    // sessionTimeoutMs
        0x02, // one protocol
        0x02, b'p', 0x02, 0xee, 0x00, // name, metadata, no tags
        0x00, // ClassicMemberMetadata: no tags
    ];
    assert_eq!(v.encode(), golden);
    assert_eq!(
        ConsumerGroupMemberMetadataValue::decode(&golden).unwrap(),
        v
    );
    // A null marker in the tagged field reads as None.
    let null_classic = [&golden[..18], &[0x01, 0x00, 0x01, 0x00]].concat();
    assert_eq!(
        ConsumerGroupMemberMetadataValue::decode(&null_classic)
            .unwrap()
            .classic_member_metadata,
        None
    );
}

#[test]
fn consumer_group_target_assignment_values() {
    let m = ConsumerGroupTargetAssignmentMetadataValue {
        assignment_epoch: 12,
    };
    assert_eq!(m.encode(), [0, 0, 0, 0, 0, 12, 0]);
    assert_eq!(
        ConsumerGroupTargetAssignmentMetadataValue::decode(&m.encode()).unwrap(),
        m
    );
    let v = ConsumerGroupTargetAssignmentMemberValue {
        topic_partitions: tps(),
    };
    assert_eq!(
        ConsumerGroupTargetAssignmentMemberValue::decode(&v.encode()).unwrap(),
        v
    );
    let golden = ConsumerGroupTargetAssignmentMemberValue {
        topic_partitions: vec![TopicPartitions {
            topic_id: uuid(0xaa),
            partitions: vec![1],
        }],
    }
    .encode();
    let mut expected = vec![0, 0, 0x02];
    expected.extend_from_slice(&[0xaa; 16]);
    expected.extend_from_slice(&[0x02, 0, 0, 0, 1, 0x00, 0x00]);
    assert_eq!(golden, expected);
}

#[test]
fn consumer_group_current_member_assignment_value() {
    let v = cg_current();
    assert_eq!(
        ConsumerGroupCurrentMemberAssignmentValue::decode(&v.encode()).unwrap(),
        v
    );
    let d = ConsumerGroupCurrentMemberAssignmentValue::default();
    assert_eq!(
        ConsumerGroupCurrentMemberAssignmentValue::decode(&d.encode()).unwrap(),
        d
    );
}

#[test]
fn kip1251_assignment_epochs_tag_is_skipped() {
    // A TopicPartitions carrying the trunk-only tagged AssignmentEpochs.
    let mut b = vec![0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0x00, 0x02];
    b.extend_from_slice(&[0x11; 16]);
    b.extend_from_slice(&[0x02, 0, 0, 0, 3]); // partitions [3]
    b.extend_from_slice(&[0x01, 0x00, 0x05, 0x02, 0, 0, 0, 1]); // tag 0: [1]
    b.extend_from_slice(&[0x01, 0x00]); // pending revocation: none; no tags
    let v = ConsumerGroupCurrentMemberAssignmentValue::decode(&b).unwrap();
    assert_eq!(
        v.assigned_partitions,
        vec![TopicPartitions {
            topic_id: uuid(0x11),
            partitions: vec![3],
        }]
    );
}

// -- robustness -----------------------------------------------------------

#[test]
fn every_truncation_is_an_error() {
    for key in all_keys() {
        let bytes = key.encode();
        for n in 0..bytes.len() {
            assert!(RecordKey::decode(&bytes[..n]).is_err(), "{key:?} at {n}");
        }
    }
    for (i, (bytes, ok)) in all_encoded().into_iter().enumerate() {
        assert!(ok(&bytes), "value {i} decodes whole");
        for n in 0..bytes.len() {
            assert!(!ok(&bytes[..n]), "value {i} truncated at {n} decoded");
        }
    }
}

/// A small deterministic PRNG (xorshift) so the fuzz tests need no deps.
struct Rng(u64);
impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn decode_everything(b: &[u8]) {
    let _ = RecordKey::decode(b);
    let _ = OffsetCommitValue::decode(b);
    let _ = GroupMetadataValue::decode(b);
    let _ = ConsumerGroupMetadataValue::decode(b);
    let _ = ConsumerGroupPartitionMetadataValue::decode(b);
    let _ = ConsumerGroupMemberMetadataValue::decode(b);
    let _ = ConsumerGroupTargetAssignmentMetadataValue::decode(b);
    let _ = ConsumerGroupTargetAssignmentMemberValue::decode(b);
    let _ = ConsumerGroupCurrentMemberAssignmentValue::decode(b);
}

#[test]
fn random_and_mutated_inputs_never_panic() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for _ in 0..20_000 {
        let len = (rng.next_u64() % 64) as usize;
        let mut b: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
        // Keep the version/type small sometimes so field decoding runs.
        if b.len() >= 2 && rng.next_u64() % 2 == 0 {
            b[0] = 0;
            b[1] = (rng.next_u64() % 10) as u8;
        }
        decode_everything(&b);
    }
    let seeds: Vec<Vec<u8>> = all_encoded()
        .into_iter()
        .map(|(b, _)| b)
        .chain(all_keys().iter().map(RecordKey::encode))
        .collect();
    for seed in &seeds {
        for _ in 0..2_000 {
            let mut b = seed.clone();
            for _ in 0..=(rng.next_u64() % 3) {
                let i = (rng.next_u64() as usize) % b.len();
                b[i] = rng.next_u64() as u8;
            }
            decode_everything(&b);
        }
    }
}

#[test]
fn oversized_strings_are_truncated_on_encode() {
    let long = "é".repeat(20_000); // 40_000 bytes
    let key = RecordKey::GroupMetadata { group: long };
    let decoded = RecordKey::decode(&key.encode()).unwrap().unwrap();
    assert_eq!(decoded.group().len(), MAX_STRING_LEN - 1); // char boundary
                                                           // And a compact string over the limit is rejected on decode.
    let mut b = vec![0, 0];
    b.extend_from_slice(&[0x81, 0x80, 0x02]); // varint 32769 => length 32768
    b.extend(std::iter::repeat_n(b'a', 32_768));
    let err = ConsumerGroupMemberMetadataValue::decode(&b).unwrap_err();
    assert!(
        matches!(
            err,
            RecordError::InvalidLength {
                field: "instanceId",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn varints() {
    let mut w = Writer::nested(true);
    for v in [0u32, 1, 127, 128, 300, 16_383, 16_384, u32::MAX] {
        w.uvarint(v);
    }
    let bytes = w.finish();
    let mut r = Reader::new(&bytes, "test", 0, true);
    for v in [0u32, 1, 127, 128, 300, 16_383, 16_384, u32::MAX] {
        assert_eq!(r.uvarint("v").unwrap(), v);
    }
    // 2^32 does not fit.
    let mut r = Reader::new(&[0x80, 0x80, 0x80, 0x80, 0x10], "test", 0, true);
    assert!(matches!(
        r.uvarint("v"),
        Err(RecordError::InvalidVarint { .. })
    ));
    let mut r = Reader::new(&[0x80, 0x80], "test", 0, true);
    assert!(matches!(r.uvarint("v"), Err(RecordError::Truncated { .. })));
}
