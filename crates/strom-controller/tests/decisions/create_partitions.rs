//! CreatePartitions outcomes.

use rand::rngs::StdRng;
use rand::SeedableRng;
use strom_controller::decisions::create_partitions;
use strom_controller::{ControllerError, CreatePartitions};
use strom_metadata::{MetadataImage, MetadataRecord};

use super::{applied, cluster, create, topic};

fn add(
    image: &MetadataImage,
    request: CreatePartitions,
) -> (Option<ControllerError>, Vec<MetadataRecord>) {
    let mut rng = StdRng::seed_from_u64(3);
    let mut results = create_partitions(image, &[request], &mut rng);
    assert_eq!(results.len(), 1);
    let (outcome, records) = results.remove(0);
    (outcome.error, records)
}

fn grow(name: &str, count: i32) -> CreatePartitions {
    CreatePartitions {
        name: name.into(),
        count,
        assignments: None,
    }
}

#[test]
fn create_partitions_adds_partitions_with_the_same_replication_factor() {
    let image = cluster(&[1, 2, 3]);
    let image = applied(&image, &create(&image, &[topic("t", 2, 2)]));
    let (error, records) = add(&image, grow("t", 5));
    assert_eq!(error, None);
    assert_eq!(records.len(), 3);
    let after = image
        .apply(&records, image.offset() + 1)
        .expect("new partitions apply");
    let t = after.topic("t").expect("t");
    assert_eq!(
        t.partitions.keys().copied().collect::<Vec<_>>(),
        vec![0, 1, 2, 3, 4]
    );
    assert!(t.partitions.values().all(|p| p.replicas.len() == 2));
}

#[test]
fn create_partitions_only_increases() {
    let image = cluster(&[1]);
    let image = applied(&image, &create(&image, &[topic("t", 3, 1)]));
    assert_eq!(
        add(&image, grow("t", 3)).0,
        Some(ControllerError::InvalidPartitions(
            "Topic already has 3 partition(s).".into()
        ))
    );
    assert_eq!(
        add(&image, grow("t", 2)).0,
        Some(ControllerError::InvalidPartitions(
            "The topic t currently has 3 partition(s); 2 would not be an increase.".into()
        ))
    );
    assert_eq!(add(&image, grow("t", -1)).0.map(|e| e.code()), Some(37));
    assert_eq!(
        add(&image, grow("missing", 4)).0,
        Some(ControllerError::UnknownTopicOrPartition(
            "This server does not host this topic-partition.".into()
        ))
    );
    assert_eq!(
        add(&image, grow("t", i32::MAX)).0.map(|e| e.code()),
        Some(44)
    );
}

#[test]
fn create_partitions_checks_manual_assignments() {
    let image = cluster(&[1, 2]);
    let image = applied(&image, &create(&image, &[topic("t", 1, 2)]));
    let with = |assignments: Vec<Vec<i32>>| CreatePartitions {
        name: "t".into(),
        count: 3,
        assignments: Some(assignments),
    };
    assert_eq!(
        add(&image, with(vec![vec![1, 2]])).0,
        Some(ControllerError::InvalidReplicaAssignment(
            "Attempted to add 2 additional partition(s), but only 1 assignment(s) were specified."
                .into()
        ))
    );
    assert_eq!(
        add(&image, with(vec![vec![1, 2], vec![2]]))
            .0
            .map(|e| e.code()),
        Some(39)
    );
    assert_eq!(
        add(&image, with(vec![vec![1, 2], vec![2, 5]]))
            .0
            .map(|e| e.code()),
        Some(39)
    );
    let (error, records) = add(&image, with(vec![vec![2, 1], vec![1, 2]]));
    assert_eq!(error, None);
    let after = image.apply(&records, image.offset() + 1).expect("applies");
    assert_eq!(
        after.topic("t").map(|t| t.partitions[&1].replicas.clone()),
        Some(vec![2, 1])
    );
}

#[test]
fn create_partitions_with_a_name_twice_is_invalid_request() {
    let image = cluster(&[1]);
    let image = applied(&image, &create(&image, &[topic("t", 1, 1)]));
    let mut rng = StdRng::seed_from_u64(3);
    let results = create_partitions(&image, &[grow("t", 2), grow("t", 3)], &mut rng);
    assert_eq!(results.len(), 1);
    assert_eq!(
        results[0].0.error,
        Some(ControllerError::InvalidRequest(
            "Duplicate topic name.".into()
        ))
    );
}
