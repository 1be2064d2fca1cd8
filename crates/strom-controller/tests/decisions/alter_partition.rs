//! AlterPartition: a leader's ISR changes, with Kafka's error codes.

use strom_controller::decisions::{alter_partition, AlterPartitionItem};
use strom_controller::{AlterPartitionOutcome, AlteredPartition};
use strom_metadata::{MetadataImage, PartitionImage, TopicId};

use super::{applied, cluster, create, defaults, manual, then};

/// Brokers 1..=4 alive; topic `t` partition 0 on [1, 2, 3] led by 1 with
/// every replica in sync.
fn image() -> MetadataImage {
    let image = cluster(&[1, 2, 3, 4]);
    applied(&image, &create(&image, &[manual("t", &[(0, &[1, 2, 3])])]))
}

fn state(image: &MetadataImage) -> PartitionImage {
    image.topic("t").expect("t").partitions[&0].clone()
}

fn item(image: &MetadataImage, new_isr: &[i32]) -> AlterPartitionItem {
    let p = state(image);
    AlterPartitionItem {
        topic_id: image.topic("t").expect("t").topic_id,
        partition: 0,
        leader_epoch: p.leader_epoch,
        partition_epoch: p.partition_epoch,
        new_isr: new_isr.to_vec(),
    }
}

fn error_of(image: &MetadataImage, broker_id: i32, item: AlterPartitionItem) -> i16 {
    let epoch = image.broker(broker_id).map_or(-1, |b| b.epoch);
    let (outcomes, records) = alter_partition(image, broker_id, epoch, &[item]);
    assert!(records.is_empty(), "a refused change writes nothing");
    assert_eq!(outcomes.len(), 1);
    outcomes[0]
        .result
        .clone()
        .expect_err("the change is refused")
}

#[test]
fn a_shrink_bumps_the_partition_epoch_only_and_answers_the_new_state() {
    let image = image();
    let before = state(&image);
    let (outcomes, records) = alter_partition(&image, 1, 0, &[item(&image, &[1, 3])]);
    assert_eq!(records.len(), 1);
    let after = then(&image, &records);
    let p = state(&after);
    assert_eq!(p.isr, vec![1, 3]);
    assert_eq!(p.leader, 1);
    assert_eq!(p.leader_epoch, before.leader_epoch);
    assert_eq!(p.partition_epoch, before.partition_epoch + 1);
    assert_eq!(
        outcomes,
        vec![AlterPartitionOutcome {
            topic_id: after.topic("t").expect("t").topic_id,
            partition: 0,
            result: Ok(AlteredPartition {
                leader: 1,
                leader_epoch: before.leader_epoch,
                partition_epoch: before.partition_epoch + 1,
                isr: vec![1, 3],
            }),
        }]
    );
    // And back: the expansion is the next partition epoch.
    let (outcomes, records) = alter_partition(&after, 1, 0, &[item(&after, &[1, 3, 2])]);
    let again = then(&after, &records);
    assert_eq!(state(&again).isr, vec![1, 3, 2]);
    assert_eq!(state(&again).partition_epoch, before.partition_epoch + 2);
    assert!(outcomes[0].result.is_ok());
}

#[test]
fn an_unchanged_isr_answers_the_current_state_without_writing() {
    let image = image();
    let p = state(&image);
    let (outcomes, records) = alter_partition(&image, 1, 0, &[item(&image, &[1, 2, 3])]);
    assert!(records.is_empty());
    assert_eq!(
        outcomes[0].result,
        Ok(AlteredPartition {
            leader: 1,
            leader_epoch: p.leader_epoch,
            partition_epoch: p.partition_epoch,
            isr: vec![1, 2, 3],
        })
    );
}

#[test]
fn errors_are_kafkas() {
    let image = image();
    // A broker epoch that is not the registration's, or no registration.
    let (outcomes, records) = alter_partition(&image, 1, 7, &[item(&image, &[1, 2])]);
    assert_eq!((outcomes[0].result.clone(), records.len()), (Err(77), 0));
    let (outcomes, _) = alter_partition(&image, 9, 0, &[item(&image, &[1, 2])]);
    assert_eq!(outcomes[0].result, Err(77), "STALE_BROKER_EPOCH");
    // Unknown topic id, unknown partition.
    let unknown_topic = AlterPartitionItem {
        topic_id: TopicId::from_bytes([9; 16]),
        ..item(&image, &[1, 2])
    };
    assert_eq!(error_of(&image, 1, unknown_topic), 100, "UNKNOWN_TOPIC_ID");
    let unknown_partition = AlterPartitionItem {
        partition: 5,
        ..item(&image, &[1, 2])
    };
    assert_eq!(error_of(&image, 1, unknown_partition), 3);
    // The sender does not lead the partition.
    assert_eq!(
        error_of(&image, 2, item(&image, &[1, 2])),
        42,
        "INVALID_REQUEST"
    );
    // Epochs: older leader epoch, older partition epoch, newer ones.
    let after = then(
        &image,
        &alter_partition(&image, 1, 0, &[item(&image, &[1, 2])]).1,
    );
    let stale_partition_epoch = item(&image, &[1]);
    assert_eq!(
        error_of(&after, 1, stale_partition_epoch),
        95,
        "INVALID_UPDATE_VERSION"
    );
    let newer = AlterPartitionItem {
        leader_epoch: state(&after).leader_epoch + 1,
        ..item(&after, &[1])
    };
    assert_eq!(error_of(&after, 1, newer), 41, "NOT_CONTROLLER");
    // Bad ISRs: without the leader, with a non-replica, a broker twice.
    assert_eq!(error_of(&image, 1, item(&image, &[2, 3])), 42);
    assert_eq!(error_of(&image, 1, item(&image, &[1, 4])), 42);
    assert_eq!(error_of(&image, 1, item(&image, &[1, 2, 2])), 42);
}

#[test]
fn an_older_leader_epoch_is_fenced_leader_epoch() {
    let image = image();
    // Broker 1 is fenced: 2 leads at the next leader epoch, and 1 comes back.
    let fenced = then(
        &image,
        &strom_controller::decisions::fence_broker(&image, 1, &defaults()),
    );
    assert_eq!(state(&fenced).leader, 2);
    let old = item(&image, &[1, 2]);
    assert_eq!(error_of(&fenced, 2, old), 74, "FENCED_LEADER_EPOCH");
}

#[test]
fn adding_a_fenced_or_shutting_down_broker_is_ineligible_replica() {
    let image = image();
    // Replica 3 leaves the ISR, then its broker is fenced.
    let image = then(
        &image,
        &alter_partition(&image, 1, 0, &[item(&image, &[1, 2])]).1,
    );
    let image = then(
        &image,
        &strom_controller::decisions::fence_broker(&image, 3, &defaults()),
    );
    assert_eq!(
        error_of(&image, 1, item(&image, &[1, 2, 3])),
        107,
        "INELIGIBLE_REPLICA"
    );
}

#[test]
fn two_items_for_one_partition_cannot_both_pass_the_epoch_check() {
    let image = image();
    let (outcomes, records) = alter_partition(
        &image,
        1,
        0,
        &[item(&image, &[1, 2]), item(&image, &[1, 3])],
    );
    assert_eq!(records.len(), 1);
    assert!(outcomes[0].result.is_ok());
    assert_eq!(outcomes[1].result, Err(95));
    assert_eq!(state(&then(&image, &records)).isr, vec![1, 2]);
}
