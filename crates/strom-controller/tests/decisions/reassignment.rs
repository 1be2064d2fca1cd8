//! Partition reassignment: start, completion through AlterPartition,
//! cancel, listing, and Kafka's errors.

use strom_controller::decisions::{
    alter_partition, alter_partition_reassignments, fence_broker, list_partition_reassignments,
    AlterPartitionItem,
};
use strom_controller::{OngoingReassignment, ReassignPartition};
use strom_metadata::{ConfigResource, MetadataImage, MetadataRecord, PartitionImage};

use super::{applied, cluster, create, defaults, manual, then};

/// Brokers 1..=5 alive; `t` partition 0 on [1, 2, 3] led by 1, all in sync.
fn image() -> MetadataImage {
    let image = cluster(&[1, 2, 3, 4, 5]);
    applied(&image, &create(&image, &[manual("t", &[(0, &[1, 2, 3])])]))
}

fn state(image: &MetadataImage) -> PartitionImage {
    image.topic("t").expect("t").partitions[&0].clone()
}

fn reassign(image: &MetadataImage, replicas: Option<&[i32]>) -> (i16, MetadataImage) {
    let item = ReassignPartition {
        topic: "t".into(),
        partition: 0,
        replicas: replicas.map(<[i32]>::to_vec),
    };
    let (outcomes, records) = alter_partition_reassignments(image, &[item], &defaults());
    assert_eq!(outcomes.len(), 1);
    if outcomes[0].error_code != 0 {
        assert!(records.is_empty(), "a refused reassignment writes nothing");
        assert!(outcomes[0].error_message.is_some());
    }
    (outcomes[0].error_code, then(image, &records))
}

/// The leader's ISR change to `isr`.
fn set_isr(image: &MetadataImage, isr: &[i32]) -> MetadataImage {
    let p = state(image);
    let item = AlterPartitionItem {
        topic_id: image.topic("t").expect("t").topic_id,
        partition: 0,
        leader_epoch: p.leader_epoch,
        partition_epoch: p.partition_epoch,
        new_isr: isr.to_vec(),
    };
    let leader = p.leader;
    let epoch = image.broker(leader).map_or(-1, |b| b.epoch);
    let (outcomes, records) = alter_partition(image, leader, epoch, &[item]);
    assert!(
        outcomes[0].result.is_ok() || outcomes[0].result == Err(108),
        "{outcomes:?}"
    );
    then(image, &records)
}

#[test]
fn a_reassignment_widens_the_replicas_then_completes_when_the_new_ones_are_in_sync() {
    let image = image();
    let before = state(&image);
    let (code, image) = reassign(&image, Some(&[4, 5, 1]));
    assert_eq!(code, 0);
    let p = state(&image);
    assert_eq!(p.replicas, vec![4, 5, 1, 2, 3]);
    assert_eq!(p.adding_replicas, vec![4, 5]);
    assert_eq!(p.removing_replicas, vec![2, 3]);
    assert_eq!((p.leader, p.isr.clone()), (1, vec![1, 2, 3]));
    assert_eq!(p.leader_epoch, before.leader_epoch, "no replica left yet");
    assert_eq!(p.partition_epoch, before.partition_epoch + 1);
    assert_eq!(
        list_partition_reassignments(&image, None),
        vec![OngoingReassignment {
            topic: "t".into(),
            partition: 0,
            replicas: vec![4, 5, 1, 2, 3],
            adding_replicas: vec![4, 5],
            removing_replicas: vec![2, 3],
        }]
    );
    // 4 catches up: still reassigning.
    let image = set_isr(&image, &[1, 2, 3, 4]);
    assert!(state(&image).is_reassigning());
    // 5 catches up: the change completes it.
    let image = set_isr(&image, &[1, 2, 3, 4, 5]);
    let p = state(&image);
    assert_eq!(p.replicas, vec![4, 5, 1]);
    assert_eq!(p.isr, vec![1, 4, 5]);
    assert!(!p.is_reassigning());
    assert_eq!(p.leader, 1, "the leader is in the target: it stays");
    assert_eq!(p.leader_epoch, before.leader_epoch + 1, "replicas left");
    assert_eq!(list_partition_reassignments(&image, None), vec![]);
}

#[test]
fn a_leader_outside_the_target_hands_over_when_the_reassignment_completes() {
    let image = image();
    let (code, image) = reassign(&image, Some(&[2, 3]));
    // Only removals, all the rest in sync: it completes at once.
    assert_eq!(code, 0);
    let p = state(&image);
    assert_eq!(
        (p.replicas.clone(), p.isr.clone()),
        (vec![2, 3], vec![2, 3])
    );
    assert_eq!(p.leader, 2);
    assert!(!p.is_reassigning());
}

#[test]
fn a_reorder_completes_at_once_without_a_leader_change() {
    let image = image();
    let before = state(&image);
    let (code, image) = reassign(&image, Some(&[3, 2, 1]));
    assert_eq!(code, 0);
    let p = state(&image);
    assert_eq!(p.replicas, vec![3, 2, 1]);
    assert_eq!((p.leader, p.leader_epoch), (1, before.leader_epoch));
}

#[test]
fn cancelling_reverts_to_the_original_replicas() {
    let image = image();
    let (_, image) = reassign(&image, Some(&[4, 5, 1]));
    let image = set_isr(&image, &[1, 2, 3, 4]);
    let (code, image) = reassign(&image, None);
    assert_eq!(code, 0);
    let p = state(&image);
    assert_eq!(p.replicas, vec![1, 2, 3]);
    assert_eq!(p.isr, vec![1, 2, 3]);
    assert!(!p.is_reassigning());
    assert_eq!(p.leader, 1);
    // Nothing left to cancel.
    assert_eq!(reassign(&image, None).0, 85, "NO_REASSIGNMENT_IN_PROGRESS");
}

#[test]
fn a_revert_that_needs_an_unclean_election_is_refused_unless_the_topic_allows_it() {
    let image = image();
    let (_, image) = reassign(&image, Some(&[4, 5]));
    // 4 and 5 catch up while 1, 2, 3 leave the ISR one by one: with 4 in
    // the ISR and 1 fenced, 4 leads.
    let image = set_isr(&image, &[1, 4]);
    let image = then(&image, &fence_broker(&image, 1, &defaults()));
    let p = state(&image);
    assert_eq!((p.leader, p.isr.clone()), (4, vec![4]));
    assert!(p.is_reassigning());
    assert_eq!(reassign(&image, None).0, 39, "INVALID_REPLICA_ASSIGNMENT");
    let allowed = then(
        &image,
        &[MetadataRecord::Config {
            resource: ConfigResource::Topic("t".into()),
            name: "unclean.leader.election.enable".into(),
            value: Some("true".into()),
        }],
    );
    let (code, reverted) = reassign(&allowed, None);
    assert_eq!(code, 0);
    let p = state(&reverted);
    assert_eq!(p.replicas, vec![1, 2, 3]);
    // 1 is fenced: 2, the first live replica, leads alone (uncleanly).
    assert_eq!((p.leader, p.isr.clone()), (2, vec![2]));
}

#[test]
fn errors_are_kafkas() {
    let image = image();
    assert_eq!(reassign(&image, Some(&[])).0, 39, "empty");
    assert_eq!(reassign(&image, Some(&[1, 1])).0, 39, "duplicate");
    assert_eq!(reassign(&image, Some(&[1, 9])).0, 39, "unknown broker");
    let unknown = |topic: &str, partition: i32| {
        let item = ReassignPartition {
            topic: topic.into(),
            partition,
            replicas: Some(vec![1]),
        };
        alter_partition_reassignments(&image, &[item], &defaults()).0[0].error_code
    };
    assert_eq!(unknown("nope", 0), 3);
    assert_eq!(unknown("t", 4), 3);
}

#[test]
fn listing_named_partitions_leaves_out_those_not_reassigning() {
    let image = cluster(&[1, 2, 3]);
    let image = applied(
        &image,
        &create(&image, &[manual("t", &[(0, &[1, 2]), (1, &[2, 3])])]),
    );
    let item = ReassignPartition {
        topic: "t".into(),
        partition: 1,
        replicas: Some(vec![1, 3]),
    };
    let image = then(
        &image,
        &alter_partition_reassignments(&image, &[item], &defaults()).1,
    );
    let named = [
        ("t".to_string(), vec![0, 1, 7]),
        ("nope".to_string(), vec![0]),
    ];
    let listed = list_partition_reassignments(&image, Some(&named));
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (listed[0].partition, listed[0].replicas.clone()),
        (1, vec![1, 3, 2])
    );
}
