//! CreateTopics outcomes.

use std::collections::BTreeMap;

use rand::rngs::StdRng;
use rand::SeedableRng;
use strom_controller::decisions::{create_topics, create_topics_with_rng};
use strom_controller::{ControllerDefaults, ControllerError, CreateTopic};
use strom_metadata::{ConfigResource, MetadataImage, MetadataRecord};

use super::{accept_all, applied, cluster, create, error_of, manual, topic};

#[test]
fn create_topic_writes_topic_config_and_partition_records() {
    let image = cluster(&[1, 2, 3]);
    let mut request = topic("orders", 6, 2);
    request.configs.insert("retention.ms".into(), "1000".into());
    let results = create(&image, &[request]);
    let (outcome, records) = &results[0];
    assert_eq!(outcome.error, None);
    assert_eq!((outcome.num_partitions, outcome.replication_factor), (6, 2));
    assert_eq!(
        outcome.configs.get("retention.ms").map(String::as_str),
        Some("1000")
    );
    let topic_id = outcome.topic_id.expect("a new topic has an id");
    assert!(!topic_id.is_reserved());
    assert_eq!(records.len(), 1 + 1 + 6);
    assert_eq!(
        records[0],
        MetadataRecord::Topic {
            name: "orders".into(),
            topic_id
        }
    );
    assert_eq!(
        records[1],
        MetadataRecord::Config {
            resource: ConfigResource::Topic("orders".into()),
            name: "retention.ms".into(),
            value: Some("1000".into()),
        }
    );
    let after = applied(&image, &results);
    let orders = after.topic("orders").expect("created");
    assert_eq!(orders.partitions.len(), 6);
    for partition in orders.partitions.values() {
        assert_eq!(partition.replicas.len(), 2);
        // A new partition is empty, so every live replica is in sync.
        assert_eq!(partition.isr, partition.replicas);
        assert_eq!(partition.leader, partition.replicas[0]);
        assert_eq!((partition.leader_epoch, partition.partition_epoch), (0, 0));
    }
    assert_eq!(after.topic_config("orders").len(), 1);
}

#[test]
fn minus_one_takes_the_broker_defaults() {
    let image = cluster(&[1, 2]);
    let defaults = ControllerDefaults {
        num_partitions: 3,
        default_replication_factor: 2,
        ..ControllerDefaults::default()
    };
    let mut rng = StdRng::seed_from_u64(1);
    let results = create_topics_with_rng(
        &image,
        &[topic("t", -1, -1)],
        &defaults,
        &accept_all,
        &mut rng,
    );
    assert_eq!(
        (results[0].0.num_partitions, results[0].0.replication_factor),
        (3, 2)
    );
}

#[test]
fn the_same_seed_decides_the_same_ids_and_placement() {
    let image = cluster(&[1, 2, 3, 4]);
    let request = [topic("a", 8, 3), topic("b", 8, 2)];
    assert_eq!(create(&image, &request), create(&image, &request));
}

#[test]
fn create_topics_without_a_seed_still_decides() {
    let image = cluster(&[1]);
    let results = create_topics(
        &image,
        &[topic("t", 1, 1)],
        &ControllerDefaults::default(),
        &accept_all,
    );
    assert_eq!(results[0].0.error, None);
}

#[test]
fn existing_topic_is_topic_already_exists() {
    let image = cluster(&[1]);
    let image = applied(&image, &create(&image, &[topic("orders", 1, 1)]));
    assert_eq!(
        error_of(&image, topic("orders", 1, 1)),
        (36, "Topic 'orders' already exists.".into())
    );
}

#[test]
fn illegal_and_colliding_names_are_invalid_topic_exception() {
    let image = cluster(&[1]);
    let (code, message) = error_of(&image, topic("bad name", 1, 1));
    assert_eq!(code, 17);
    assert!(
        message.starts_with("Topic name is invalid: 'bad name' contains"),
        "{message}"
    );
    assert_eq!(error_of(&image, topic("", 1, 1)).0, 17);
    assert_eq!(error_of(&image, topic(&"x".repeat(250), 1, 1)).0, 17);

    let image = applied(&image, &create(&image, &[topic("a.b", 1, 1)]));
    assert_eq!(
        error_of(&image, topic("a_b", 1, 1)),
        (17, "Topic 'a_b' collides with existing topic: a.b".into())
    );
}

#[test]
fn the_metadata_topic_cannot_be_created() {
    let image = cluster(&[1]);
    assert_eq!(
        error_of(&image, topic("__cluster_metadata", 1, 1)),
        (
            42,
            "Creation of internal topic __cluster_metadata is prohibited.".into()
        )
    );
}

#[test]
fn non_positive_partition_counts_are_invalid_partitions() {
    let image = cluster(&[1]);
    let expected = (
        37,
        "Number of partitions was set to an invalid non-positive value.".to_string(),
    );
    assert_eq!(error_of(&image, topic("t", 0, 1)), expected);
    assert_eq!(error_of(&image, topic("t", -2, 1)), expected);
}

#[test]
fn bad_replication_factors_are_invalid_replication_factor() {
    let image = cluster(&[1]);
    let expected = (
        38,
        "Replication factor must be larger than 0, or -1 to use the default value.".to_string(),
    );
    assert_eq!(error_of(&image, topic("t", 1, 0)), expected);
    assert_eq!(error_of(&image, topic("t", 1, -2)), expected);
    assert_eq!(
        error_of(&image, topic("t", 1, 3)),
        (
            38,
            "Unable to replicate the partition 3 time(s): The target replication factor of 3 cannot be reached because only 1 broker(s) are registered."
                .into()
        )
    );
    assert_eq!(error_of(&MetadataImage::empty(), topic("t", 1, 1)).0, 38);
}

#[test]
fn manual_assignment_places_replicas_as_given() {
    let image = cluster(&[1, 2, 3]);
    let results = create(&image, &[manual("t", &[(1, &[3, 1]), (0, &[2, 3])])]);
    assert_eq!(
        (results[0].0.num_partitions, results[0].0.replication_factor),
        (2, 2)
    );
    let after = applied(&image, &results);
    let t = after.topic("t").expect("created");
    assert_eq!(t.partitions[&0].replicas, vec![2, 3]);
    assert_eq!(t.partitions[&1].replicas, vec![3, 1]);
    assert_eq!(t.partitions[&1].leader, 3);
}

#[test]
fn manual_assignment_with_counts_is_invalid_request() {
    let image = cluster(&[1]);
    let mut request = manual("t", &[(0, &[1])]);
    request.replication_factor = 1;
    assert_eq!(
        error_of(&image, request),
        (
            42,
            "A manual partition assignment was specified, but replication factor was not set to -1.".into()
        )
    );
    let mut request = manual("t", &[(0, &[1])]);
    request.num_partitions = 1;
    assert_eq!(
        error_of(&image, request),
        (
            42,
            "A manual partition assignment was specified, but numPartitions was not set to -1."
                .into()
        )
    );
}

#[test]
fn bad_manual_assignments_are_invalid_replica_assignment() {
    let image = cluster(&[1, 2, 3]);
    let cases: Vec<(CreateTopic, &str)> = vec![
        (
            manual("t", &[(0, &[1]), (0, &[2])]),
            "Found multiple manual partition assignments for partition 0",
        ),
        (
            manual("t", &[(0, &[])]),
            "The manual partition assignment includes an empty replica list.",
        ),
        (
            manual("t", &[(0, &[1, 9])]),
            "The manual partition assignment includes broker 9, but no such broker is registered.",
        ),
        (
            manual("t", &[(0, &[2, 1, 2])]),
            "The manual partition assignment includes the broker 2 more than once.",
        ),
        (
            manual("t", &[(0, &[1, 2]), (1, &[3])]),
            "The manual partition assignment includes a partition with 1 replica(s), but this is not consistent with previous partitions, which have 2 replica(s).",
        ),
        (
            manual("t", &[(0, &[1]), (2, &[2])]),
            "partitions should be a consecutive 0-based integer sequence",
        ),
        (
            manual("t", &[(1, &[1])]),
            "partitions should be a consecutive 0-based integer sequence",
        ),
    ];
    for (request, message) in cases {
        assert_eq!(error_of(&image, request), (39, message.to_string()));
    }
}

#[test]
fn rejected_configs_are_invalid_config() {
    let image = cluster(&[1]);
    let mut request = topic("t", 1, 1);
    request
        .configs
        .insert("cleanup.policy".into(), "bogus".into());
    let validate = |configs: &BTreeMap<String, String>| match configs
        .get("cleanup.policy")
        .map(String::as_str)
    {
        Some("bogus") => Err("Invalid value bogus for configuration cleanup.policy".to_string()),
        _ => Ok(()),
    };
    let mut rng = StdRng::seed_from_u64(1);
    let results = create_topics_with_rng(
        &image,
        &[request],
        &ControllerDefaults::default(),
        &validate,
        &mut rng,
    );
    assert_eq!(
        results[0].0.error,
        Some(ControllerError::InvalidConfig(
            "Invalid value bogus for configuration cleanup.policy".into()
        ))
    );
    assert!(results[0].1.is_empty());
}

#[test]
fn a_name_given_twice_fails_once_and_the_others_succeed() {
    let image = cluster(&[1]);
    let results = create(
        &image,
        &[
            topic("dup", 1, 1),
            topic("ok", 1, 1),
            topic("dup", 2, 1),
            topic("dup", 3, 1),
        ],
    );
    let summary: Vec<(String, Option<i16>)> = results
        .iter()
        .map(|(o, _)| (o.name.clone(), o.error.as_ref().map(ControllerError::code)))
        .collect();
    assert_eq!(
        summary,
        vec![("dup".to_string(), Some(42)), ("ok".to_string(), None)]
    );
    assert_eq!(
        results[0].0.error.as_ref().map(ControllerError::message),
        Some("Duplicate topic name.")
    );
}

#[test]
fn topics_of_one_request_cannot_collide_with_each_other() {
    let image = cluster(&[1]);
    let results = create(&image, &[topic("a.b", 1, 1), topic("a_b", 1, 1)]);
    assert_eq!(results[0].0.error, None);
    assert_eq!(
        results[1].0.error.as_ref().map(ControllerError::code),
        Some(17)
    );
    applied(&image, &results);
}

#[test]
fn excessive_partitions_fail_the_whole_request() {
    let image = cluster(&[1]);
    let results = create(&image, &[topic("small", 1, 1), topic("huge", i32::MAX, 1)]);
    for (outcome, records) in &results {
        assert_eq!(
            outcome.error,
            Some(ControllerError::PolicyViolation(
                "Excessively large number of partitions per request.".into()
            ))
        );
        assert!(records.is_empty());
    }
    assert_eq!(results.len(), 2);
    assert_eq!(create(&image, &[topic("ok", 9_999, 1)])[0].0.error, None);
}

#[test]
fn empty_config_names_and_oversized_values_are_invalid_config() {
    let image = cluster(&[1]);
    let mut request = topic("t", 1, 1);
    request.configs.insert(String::new(), "x".into());
    assert_eq!(
        error_of(&image, request),
        (40, "Unknown topic config name: ".into())
    );
    let mut request = topic("t", 1, 1);
    request
        .configs
        .insert("retention.ms".into(), "9".repeat(40_000));
    assert_eq!(
        error_of(&image, request),
        (
            40,
            "The configuration value cannot be added because it exceeds the maximum value size of 32767 bytes."
                .into()
        )
    );
}
