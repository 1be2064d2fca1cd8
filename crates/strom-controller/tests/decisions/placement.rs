//! Where CreateTopics and CreatePartitions put replicas: live brokers only,
//! over racks, and the ISR and leader a new partition starts with.

use std::collections::{BTreeMap, BTreeSet};

use rand::rngs::StdRng;
use rand::SeedableRng;
use strom_controller::decisions::{create_partitions, place_replicas};
use strom_controller::{ControllerError, CreatePartitions};
use strom_metadata::MetadataImage;

use super::{applied, create, error_of, manual, racked_cluster, topic};

fn placed(image: &MetadataImage, partitions: i32, rf: i16, seed: u64) -> Vec<Vec<i32>> {
    let mut rng = StdRng::seed_from_u64(seed);
    place_replicas(image, partitions, rf, &mut rng).expect("placement succeeds")
}

#[test]
fn replicas_go_only_to_live_brokers() {
    let image = racked_cluster(&[(1, None, false), (2, None, true), (3, None, false)]);
    let image = super::then(
        &image,
        &[strom_metadata::MetadataRecord::BrokerRegistrationChange {
            broker_id: 3,
            broker_epoch: 0,
            fenced: None,
            in_controlled_shutdown: Some(true),
        }],
    );
    for seed in 0..20 {
        for replicas in placed(&image, 6, 1, seed) {
            assert_eq!(replicas, vec![1], "seed {seed}");
        }
    }
}

#[test]
fn too_few_live_brokers_is_invalid_replication_factor() {
    let all_live = racked_cluster(&[(1, None, false), (2, None, false)]);
    assert_eq!(
        error_of(&all_live, topic("t", 1, 3)),
        (
            38,
            "Unable to replicate the partition 3 time(s): The target replication factor of 3 cannot be reached because only 2 broker(s) are registered."
                .into()
        )
    );
    let one_fenced = racked_cluster(&[(1, None, false), (2, None, true), (3, None, false)]);
    assert_eq!(
        error_of(&one_fenced, topic("t", 1, 3)),
        (
            38,
            "Unable to replicate the partition 3 time(s): The target replication factor of 3 cannot be reached because only 2 of the 3 registered broker(s) are unfenced and not in controlled shutdown."
                .into()
        )
    );
    let all_fenced = racked_cluster(&[(1, None, true), (2, None, true)]);
    assert_eq!(
        error_of(&all_fenced, topic("t", 1, 1)),
        (
            38,
            "Unable to replicate the partition 1 time(s): All brokers are currently fenced.".into()
        )
    );
    assert_eq!(
        error_of(&MetadataImage::empty(), topic("t", 1, 1)),
        (
            38,
            "Unable to replicate the partition 1 time(s): All brokers are currently fenced.".into()
        )
    );
}

#[test]
fn a_new_partitions_isr_is_every_live_replica() {
    let image = racked_cluster(&[(1, None, false), (2, None, false), (3, None, false)]);
    let after = applied(&image, &create(&image, &[topic("t", 6, 3)]));
    for (index, partition) in &after.topic("t").expect("created").partitions {
        assert_eq!(partition.replicas.len(), 3, "partition {index}");
        assert_eq!(partition.leader, partition.replicas[0], "partition {index}");
        assert_eq!(partition.isr, partition.replicas, "partition {index}");
    }
}

#[test]
fn a_manual_assignment_is_led_by_its_first_live_replica() {
    let image = racked_cluster(&[(1, None, true), (2, None, false), (3, None, false)]);
    let after = applied(&image, &create(&image, &[manual("t", &[(0, &[1, 3, 2])])]));
    let partition = &after.topic("t").expect("created").partitions[&0];
    assert_eq!(partition.replicas, vec![1, 3, 2]);
    // The fenced replica stays out of the ISR until it catches up.
    assert_eq!((partition.leader, partition.isr.clone()), (3, vec![3, 2]));
}

#[test]
fn a_manual_assignment_needs_a_live_broker_per_partition() {
    let image = racked_cluster(&[(1, None, true), (2, None, true), (3, None, false)]);
    assert_eq!(
        error_of(&image, manual("t", &[(0, &[3, 1]), (1, &[1, 2])])),
        (
            39,
            "All brokers specified in the manual partition assignment for partition 1 are fenced or in controlled shutdown."
                .into()
        )
    );
    // A fenced broker is still registered: it may hold a replica.
    assert_eq!(
        create(&image, &[manual("t", &[(0, &[1, 3])])])[0].0.error,
        None
    );
}

#[test]
fn create_partitions_places_on_live_brokers_and_checks_manual_ones() {
    let image = racked_cluster(&[(1, None, false), (2, None, false), (3, None, true)]);
    let image = applied(&image, &create(&image, &[topic("t", 1, 2)]));
    let mut rng = StdRng::seed_from_u64(5);
    let grow = CreatePartitions {
        name: "t".into(),
        count: 7,
        assignments: None,
    };
    let results = create_partitions(&image, &[grow], &mut rng);
    assert_eq!(results[0].0.error, None);
    let after = super::then(&image, &results[0].1);
    let t = after.topic("t").expect("t");
    assert_eq!(t.partitions.len(), 7);
    for partition in t.partitions.values() {
        let replicas: BTreeSet<i32> = partition.replicas.iter().copied().collect();
        assert_eq!(replicas, BTreeSet::from([1, 2]));
        assert_eq!(partition.isr, partition.replicas);
    }

    let too_many = CreatePartitions {
        name: "t".into(),
        count: 2,
        assignments: None,
    };
    let one_live = racked_cluster(&[(1, None, false), (2, None, true)]);
    let one_live = applied(
        &one_live,
        &create(&one_live, &[manual("t", &[(0, &[1, 2])])]),
    );
    assert_eq!(
        create_partitions(&one_live, &[too_many], &mut rng)[0].0.error,
        Some(ControllerError::InvalidReplicationFactor(
            "The target replication factor of 2 cannot be reached because only 1 of the 2 registered broker(s) are unfenced and not in controlled shutdown."
                .into()
        ))
    );
    let fenced_only = CreatePartitions {
        name: "t".into(),
        count: 2,
        assignments: Some(vec![vec![2, 1]]),
    };
    let image = racked_cluster(&[(1, None, true), (2, None, true), (3, None, false)]);
    let image = applied(&image, &create(&image, &[manual("t", &[(0, &[3, 1])])]));
    assert_eq!(
        create_partitions(&image, &[fenced_only], &mut rng)[0].0.error,
        Some(ControllerError::InvalidReplicaAssignment(
            "All brokers specified in the manual partition assignment for partition 1 are fenced or in controlled shutdown."
                .into()
        ))
    );
}

#[test]
fn replicas_spread_over_racks_and_leaders_over_brokers() {
    let brokers: Vec<(i32, Option<&str>, bool)> = (0..6)
        .map(|id| (id, Some(["east", "west", "north"][id as usize % 3]), false))
        .collect();
    let image = racked_cluster(&brokers);
    for seed in 0..10 {
        let placement = placed(&image, 60, 2, seed);
        let mut leaders: BTreeMap<i32, usize> = BTreeMap::new();
        for replicas in &placement {
            assert_ne!(
                replicas[0] % 3,
                replicas[1] % 3,
                "seed {seed}: {replicas:?}"
            );
            *leaders.entry(replicas[0]).or_default() += 1;
        }
        assert_eq!(
            leaders.values().copied().collect::<Vec<_>>(),
            vec![10; 6],
            "seed {seed}: {placement:?}"
        );
    }
}

#[test]
fn the_same_seed_places_the_same_way() {
    let image = racked_cluster(&[
        (1, Some("a"), false),
        (2, Some("b"), false),
        (3, None, false),
        (4, Some("a"), false),
    ]);
    assert_eq!(placed(&image, 12, 3, 9), placed(&image, 12, 3, 9));
}
