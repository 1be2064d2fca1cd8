//! Replaying records into the image: every record type, the all-or-nothing
//! rule, determinism, and the snapshot round trip.

use strom_metadata::{
    BrokerEndpoint, ConfigResource, MetadataError, MetadataImage, MetadataRecord, TopicId,
};

fn id(n: u8) -> TopicId {
    let mut bytes = [0x40; 16];
    bytes[0] = n;
    TopicId::from_bytes(bytes)
}

fn broker(broker_id: i32) -> MetadataRecord {
    MetadataRecord::RegisterBroker {
        broker_id,
        incarnation_id: u128::MAX - 7,
        listeners: vec![BrokerEndpoint {
            name: "PLAINTEXT".into(),
            host: "localhost".into(),
            port: 9092,
            security_protocol: "PLAINTEXT".into(),
        }],
        rack: None,
        fenced: false,
        broker_epoch: -1,
    }
}

fn topic(name: &str, topic_id: TopicId) -> MetadataRecord {
    MetadataRecord::Topic {
        name: name.into(),
        topic_id,
    }
}

fn partition(topic_id: TopicId, partition: i32, replicas: &[i32]) -> MetadataRecord {
    MetadataRecord::Partition {
        topic_id,
        partition,
        replicas: replicas.to_vec(),
        isr: replicas.to_vec(),
        leader: replicas[0],
        leader_epoch: 0,
        partition_epoch: 0,
        adding_replicas: vec![],
        removing_replicas: vec![],
    }
}

fn topic_config(topic: &str, name: &str, value: Option<&str>) -> MetadataRecord {
    MetadataRecord::Config {
        resource: ConfigResource::Topic(topic.into()),
        name: name.into(),
        value: value.map(str::to_string),
    }
}

fn sample_records() -> Vec<MetadataRecord> {
    vec![
        broker(1),
        broker(2),
        topic("orders", id(1)),
        topic_config("orders", "retention.ms", Some("1000")),
        partition(id(1), 0, &[1, 2]),
        partition(id(1), 1, &[2, 1]),
        topic("payments", id(2)),
        partition(id(2), 0, &[1]),
        MetadataRecord::Config {
            resource: ConfigResource::Broker(None),
            name: "log.retention.ms".into(),
            value: Some("5".into()),
        },
        MetadataRecord::Config {
            resource: ConfigResource::Broker(Some(1)),
            name: "log.cleaner.threads".into(),
            value: Some("2".into()),
        },
        MetadataRecord::Config {
            resource: ConfigResource::Group("billing".into()),
            name: "consumer.heartbeat.interval.ms".into(),
            value: Some("7000".into()),
        },
        producer_ids(1, 1000),
    ]
}

fn producer_ids(broker_id: i32, next_producer_id: i64) -> MetadataRecord {
    MetadataRecord::ProducerIds {
        broker_id,
        broker_epoch: -1,
        next_producer_id,
    }
}

fn built() -> MetadataImage {
    MetadataImage::empty()
        .apply(&sample_records(), 7)
        .expect("sample records apply")
}

#[test]
fn group_configs_are_kept_per_group_and_deleted_key_by_key() {
    let image = built();
    assert_eq!(
        image
            .group_config("billing")
            .get("consumer.heartbeat.interval.ms")
            .map(String::as_str),
        Some("7000")
    );
    assert!(image.group_config("other").is_empty());
    // A snapshot carries them.
    let reloaded = MetadataImage::empty()
        .apply(&image.to_records(), 7)
        .unwrap();
    assert_eq!(reloaded.group_configs(), image.group_configs());
    let deleted = image
        .apply(
            &[MetadataRecord::Config {
                resource: ConfigResource::Group("billing".into()),
                name: "consumer.heartbeat.interval.ms".into(),
                value: None,
            }],
            8,
        )
        .unwrap();
    assert!(deleted.group_configs().is_empty());
}

#[test]
fn empty_image_has_offset_minus_one_and_nothing_in_it() {
    let image = MetadataImage::default();
    assert_eq!(image.offset(), -1);
    assert_eq!(image.topic_count(), 0);
    assert_eq!(image.brokers().count(), 0);
    assert!(image.topic_config("orders").is_empty());
    assert_eq!(image.next_producer_id(), 0);
}

#[test]
fn producer_ids_records_advance_the_next_producer_id() {
    let image = built();
    assert_eq!(image.next_producer_id(), 1000);
    let image = image
        .apply(&[producer_ids(2, 2000), producer_ids(1, 3000)], 8)
        .expect("increasing blocks apply");
    assert_eq!(image.next_producer_id(), 3000);
}

#[test]
fn a_producer_ids_record_that_does_not_advance_is_refused() {
    let image = built();
    for next in [1000, 999, -5] {
        let err = image
            .apply(&[producer_ids(1, next)], 8)
            .expect_err("handing ids out twice must fail");
        assert_eq!(
            err,
            MetadataError::ProducerIdNotIncreasing {
                index: 0,
                next_producer_id: next,
                current: 1000
            }
        );
    }
    let err = image
        .apply(&[producer_ids(-2, 5000)], 8)
        .expect_err("a negative broker id other than -1 fails");
    assert_eq!(
        err,
        MetadataError::InvalidBrokerId {
            index: 0,
            broker_id: -2
        }
    );
    assert_eq!(image.next_producer_id(), 1000);
}

#[test]
fn replay_builds_topics_partitions_brokers_and_configs() {
    let image = built();
    assert_eq!(image.offset(), 7);
    let orders = image.topic("orders").expect("orders exists");
    assert_eq!(orders.topic_id, id(1));
    assert_eq!(orders.partitions.len(), 2);
    assert_eq!(orders.partitions[&1].replicas, vec![2, 1]);
    assert_eq!(orders.partitions[&1].leader, 2);
    assert_eq!(
        image.topic_by_id(id(2)).map(|t| t.name.as_str()),
        Some("payments")
    );
    let names: Vec<_> = image.topics().map(|t| t.name.clone()).collect();
    assert_eq!(names, vec!["orders", "payments"]);
    let brokers: Vec<_> = image.brokers().map(|b| b.broker_id).collect();
    assert_eq!(brokers, vec![1, 2]);
    assert_eq!(
        image.broker(1).map(|b| b.incarnation_id),
        Some(u128::MAX - 7)
    );
    assert_eq!(
        image
            .topic_config("orders")
            .get("retention.ms")
            .map(String::as_str),
        Some("1000")
    );
    assert_eq!(
        image
            .broker_config(None)
            .get("log.retention.ms")
            .map(String::as_str),
        Some("5")
    );
    assert_eq!(image.broker_config(Some(1)).len(), 1);
    assert!(image.broker_config(Some(2)).is_empty());
}

#[test]
fn replay_is_deterministic_and_leaves_the_old_image_alone() {
    let base = built();
    let delta = vec![topic("clicks", id(3)), partition(id(3), 0, &[2])];
    let a = base.apply(&delta, 8).expect("delta applies");
    let b = base.apply(&delta, 8).expect("delta applies");
    assert_eq!(a, b);
    assert!(base.topic("clicks").is_none());
    assert_eq!(base.offset(), 7);
    assert!(a.topic("clicks").is_some());
}

#[test]
fn later_partition_record_replaces_the_partition() {
    let image = built()
        .apply(
            &[MetadataRecord::Partition {
                topic_id: id(1),
                partition: 0,
                replicas: vec![1, 2],
                isr: vec![2],
                leader: 2,
                leader_epoch: 1,
                partition_epoch: 1,
                adding_replicas: vec![],
                removing_replicas: vec![],
            }],
            8,
        )
        .expect("partition change applies");
    let p0 = &image.topic("orders").expect("orders").partitions[&0];
    assert_eq!(
        (p0.leader, p0.leader_epoch, p0.isr.clone()),
        (2, 1, vec![2])
    );
}

#[test]
fn config_with_no_value_deletes_the_override() {
    let image = built()
        .apply(&[topic_config("orders", "retention.ms", None)], 8)
        .expect("config delete applies");
    assert!(image.topic_config("orders").is_empty());
}

#[test]
fn remove_topic_drops_partitions_configs_and_id() {
    let image = built()
        .apply(&[MetadataRecord::RemoveTopic { topic_id: id(1) }], 8)
        .expect("remove applies");
    assert!(image.topic("orders").is_none());
    assert!(image.topic_by_id(id(1)).is_none());
    assert!(image.topic_config("orders").is_empty());
    // The name can be used again, with a new id.
    let again = image
        .apply(&[topic("orders", id(9)), partition(id(9), 0, &[1])], 9)
        .expect("re-create applies");
    assert_eq!(again.topic("orders").map(|t| t.topic_id), Some(id(9)));
}

#[test]
fn a_broker_registering_again_replaces_its_registration() {
    let image = built()
        .apply(
            &[MetadataRecord::RegisterBroker {
                broker_id: 1,
                incarnation_id: 42,
                listeners: vec![],
                rack: Some("r1".into()),
                fenced: true,
                broker_epoch: -1,
            }],
            8,
        )
        .expect("re-registration applies");
    let b = image.broker(1).expect("broker 1");
    assert_eq!((b.incarnation_id, b.rack.as_deref()), (42, Some("r1")));
    assert_eq!(
        (b.fenced, b.epoch),
        (true, 8),
        "epoch is the entry's offset"
    );
    assert_eq!(image.brokers().count(), 2);
    assert_eq!(
        image
            .live_brokers()
            .map(|b| b.broker_id)
            .collect::<Vec<_>>(),
        vec![2],
        "a fenced broker is not alive"
    );
}

#[test]
fn registration_changes_apply_only_to_the_epoch_they_name() {
    let image = built()
        .apply(
            &[MetadataRecord::RegisterBroker {
                broker_id: 1,
                incarnation_id: 42,
                listeners: vec![],
                rack: None,
                fenced: true,
                broker_epoch: -1,
            }],
            8,
        )
        .expect("registration applies");
    let stale = MetadataRecord::BrokerRegistrationChange {
        broker_id: 1,
        broker_epoch: 7,
        fenced: Some(false),
        in_controlled_shutdown: None,
    };
    let image = image.apply(&[stale], 9).expect("a stale change applies");
    assert!(
        image.broker(1).expect("broker 1").fenced,
        "stale epoch ignored"
    );
    let unfence = MetadataRecord::BrokerRegistrationChange {
        broker_id: 1,
        broker_epoch: 8,
        fenced: Some(false),
        in_controlled_shutdown: None,
    };
    let image = image.apply(&[unfence], 10).expect("unfence applies");
    assert!(image.broker(1).expect("broker 1").is_alive());
    let shutting = MetadataRecord::BrokerRegistrationChange {
        broker_id: 1,
        broker_epoch: 8,
        fenced: None,
        in_controlled_shutdown: Some(true),
    };
    let image = image.apply(&[shutting], 11).expect("shutdown applies");
    let b = image.broker(1).expect("broker 1");
    assert!(!b.fenced && b.in_controlled_shutdown && !b.is_alive());
    // A snapshot keeps fencing, shutdown and the epoch.
    let rebuilt = MetadataImage::empty()
        .apply(&image.to_records(), 11)
        .expect("snapshot records apply");
    assert_eq!(rebuilt.broker(1), image.broker(1));
    let gone = image
        .apply(
            &[MetadataRecord::UnregisterBroker {
                broker_id: 1,
                broker_epoch: 8,
            }],
            12,
        )
        .expect("unregister applies");
    assert!(gone.broker(1).is_none());
}

#[test]
fn invalid_records_are_errors_and_change_nothing() {
    let base = built();
    type Expected = fn(&MetadataError) -> bool;
    let cases: Vec<(Vec<MetadataRecord>, Expected)> = vec![
        (vec![partition(id(9), 0, &[1])], |e| {
            matches!(e, MetadataError::UnknownTopicId { index: 0, .. })
        }),
        (
            vec![
                topic("new", id(5)),
                MetadataRecord::RemoveTopic { topic_id: id(8) },
            ],
            |e| matches!(e, MetadataError::UnknownTopicId { index: 1, .. }),
        ),
        (vec![topic("orders", id(5))], |e| {
            matches!(e, MetadataError::DuplicateTopicName { .. })
        }),
        (vec![topic("other", id(1))], |e| {
            matches!(e, MetadataError::DuplicateTopicId { .. })
        }),
        (vec![topic("zero", TopicId::ZERO)], |e| {
            matches!(e, MetadataError::ReservedTopicId { .. })
        }),
        (vec![topic("a b", id(5))], |e| {
            matches!(e, MetadataError::InvalidTopicName { .. })
        }),
        (vec![topic_config("nope", "retention.ms", Some("1"))], |e| {
            matches!(e, MetadataError::UnknownTopic { .. })
        }),
        (vec![topic_config("orders", "", Some("1"))], |e| {
            matches!(e, MetadataError::EmptyConfigName { .. })
        }),
        (vec![broker(-3)], |e| {
            matches!(e, MetadataError::InvalidBrokerId { .. })
        }),
        (vec![partition(id(1), -1, &[1])], |e| {
            matches!(e, MetadataError::InvalidPartition { .. })
        }),
        (vec![partition(id(1), 5, &[1, 1])], |e| {
            matches!(e, MetadataError::InvalidPartition { .. })
        }),
        (
            vec![MetadataRecord::Partition {
                topic_id: id(1),
                partition: 5,
                replicas: vec![1],
                isr: vec![2],
                leader: 1,
                leader_epoch: 0,
                partition_epoch: 0,
                adding_replicas: vec![],
                removing_replicas: vec![],
            }],
            |e| matches!(e, MetadataError::InvalidPartition { .. }),
        ),
        (
            vec![MetadataRecord::Partition {
                topic_id: id(1),
                partition: 5,
                replicas: vec![],
                isr: vec![],
                leader: -1,
                leader_epoch: 0,
                partition_epoch: 0,
                adding_replicas: vec![],
                removing_replicas: vec![],
            }],
            |e| matches!(e, MetadataError::InvalidPartition { .. }),
        ),
    ];
    for (records, expected) in cases {
        match base.apply(&records, 8) {
            Err(error) => assert!(expected(&error), "{records:?} gave {error:?}"),
            Ok(_) => panic!("{records:?} should not apply"),
        }
    }
    // The batch with a valid first record left nothing behind either.
    assert!(base.topic("new").is_none());
}

#[test]
fn offsets_must_increase() {
    let base = built();
    assert_eq!(
        base.apply(&[], 7),
        Err(MetadataError::OffsetNotIncreasing {
            offset: 7,
            image_offset: 7
        })
    );
    assert_eq!(base.apply(&[], 9).map(|i| i.offset()), Ok(9));
}

#[test]
fn to_records_rebuilds_the_same_image() {
    let image = built()
        .apply(&[MetadataRecord::RemoveTopic { topic_id: id(2) }], 8)
        .expect("remove applies");
    let rebuilt = MetadataImage::empty()
        .apply(&image.to_records(), 8)
        .expect("snapshot records apply");
    assert_eq!(rebuilt, image);
    assert_eq!(rebuilt.next_producer_id(), 1000);
}

#[test]
fn colliding_topic_finds_dot_underscore_twins() {
    let image = built()
        .apply(&[topic("a.b", id(4)), partition(id(4), 0, &[1])], 8)
        .expect("applies");
    assert_eq!(image.colliding_topic("a_b"), Some("a.b"));
    assert_eq!(image.colliding_topic("a.b"), None);
    assert_eq!(image.colliding_topic("a-b"), None);
}

#[test]
fn records_round_trip_through_json() {
    for record in sample_records() {
        let json = serde_json::to_string(&record).expect("serializes");
        let back: MetadataRecord = serde_json::from_str(&json).expect("deserializes");
        assert_eq!(back, record, "{json}");
    }
}
