//! Broker heartbeats, fencing, unfencing and controlled shutdown: the
//! records each rule writes, their epochs, and the error codes.

use strom_controller::decisions::{broker_heartbeat, fence_broker, fence_brokers, register_broker};
use strom_controller::{BrokerHeartbeat, BrokerHeartbeatOutcome, ControllerError};
use strom_metadata::{BrokerRegistration, MetadataImage, MetadataRecord, TopicId};

use super::{applied, cluster, create, defaults, manual, racked_cluster, registration, then};

fn heartbeat(image: &MetadataImage, broker_id: i32) -> BrokerHeartbeat {
    BrokerHeartbeat {
        broker_id,
        broker_epoch: image.broker(broker_id).map_or(-1, |b| b.epoch),
        current_metadata_offset: image.offset(),
        want_fence: false,
        want_shut_down: false,
    }
}

fn outcome(is_caught_up: bool, is_fenced: bool, should_shut_down: bool) -> BrokerHeartbeatOutcome {
    BrokerHeartbeatOutcome {
        is_caught_up,
        is_fenced,
        should_shut_down,
    }
}

fn decide(
    image: &MetadataImage,
    hb: &BrokerHeartbeat,
) -> (BrokerHeartbeatOutcome, Vec<MetadataRecord>) {
    broker_heartbeat(image, hb, &defaults()).expect("the heartbeat is accepted")
}

/// Topic "t" with one partition per `(replicas, isr, leader)`, each at
/// leader epoch 3 and partition epoch 5.
fn with_partitions(image: &MetadataImage, partitions: &[(&[i32], &[i32], i32)]) -> MetadataImage {
    let first: Vec<i32> = partitions[0].0.to_vec();
    let assignment: Vec<(i32, &[i32])> = (0..partitions.len() as i32)
        .map(|p| (p, first.as_slice()))
        .collect();
    let image = applied(image, &create(image, &[manual("t", &assignment)]));
    let topic_id = topic_id(&image);
    let records: Vec<MetadataRecord> = partitions
        .iter()
        .enumerate()
        .map(|(p, (replicas, isr, leader))| MetadataRecord::Partition {
            topic_id,
            partition: p as i32,
            replicas: replicas.to_vec(),
            isr: isr.to_vec(),
            leader: *leader,
            leader_epoch: 3,
            partition_epoch: 5,
            adding_replicas: vec![],
            removing_replicas: vec![],
        })
        .collect();
    then(&image, &records)
}

fn topic_id(image: &MetadataImage) -> TopicId {
    image.topic("t").expect("topic t").topic_id
}

fn partition(
    image: &MetadataImage,
    partition: i32,
    isr: &[i32],
    leader: i32,
    leader_epoch: i32,
    partition_epoch: i32,
) -> MetadataRecord {
    let replicas = image.topic("t").expect("topic t").partitions[&partition]
        .replicas
        .clone();
    MetadataRecord::Partition {
        topic_id: topic_id(image),
        partition,
        replicas,
        isr: isr.to_vec(),
        leader,
        leader_epoch,
        partition_epoch,
        adding_replicas: vec![],
        removing_replicas: vec![],
    }
}

fn change(
    image: &MetadataImage,
    broker_id: i32,
    fenced: Option<bool>,
    in_controlled_shutdown: Option<bool>,
) -> MetadataRecord {
    MetadataRecord::BrokerRegistrationChange {
        broker_id,
        broker_epoch: image.broker(broker_id).map_or(-1, |b| b.epoch),
        fenced,
        in_controlled_shutdown,
    }
}

#[test]
fn a_heartbeat_from_an_unknown_broker_is_broker_id_not_registered() {
    let image = cluster(&[1]);
    let error = broker_heartbeat(&image, &heartbeat(&image, 9), &defaults()).err();
    assert_eq!(
        error,
        Some(ControllerError::BrokerIdNotRegistered(
            "Broker ID 9 is not currently registered".into()
        ))
    );
    assert_eq!(error.map(|e| e.code()), Some(102));
}

#[test]
fn a_heartbeat_with_another_epoch_is_stale_broker_epoch() {
    let image = cluster(&[1]);
    let registered = image.broker(1).map(|b| b.epoch);
    assert_eq!(registered, Some(0));
    let hb = BrokerHeartbeat {
        broker_epoch: 7,
        ..heartbeat(&image, 1)
    };
    let error = broker_heartbeat(&image, &hb, &defaults()).err();
    assert_eq!(
        error,
        Some(ControllerError::StaleBrokerEpoch(
            "Expected broker epoch 0, but got broker epoch 7".into()
        ))
    );
    assert_eq!(error.map(|e| e.code()), Some(77));
}

#[test]
fn a_fenced_broker_is_unfenced_once_caught_up_with_its_registration() {
    let image = racked_cluster(&[(1, None, true)]);
    let image = then(&image, &[]);
    let epoch = image.broker(1).map_or(-1, |b| b.epoch);

    let behind = BrokerHeartbeat {
        current_metadata_offset: epoch - 1,
        ..heartbeat(&image, 1)
    };
    assert_eq!(
        decide(&image, &behind),
        (outcome(false, true, false), vec![])
    );

    let staying = BrokerHeartbeat {
        want_fence: true,
        ..heartbeat(&image, 1)
    };
    assert_eq!(
        decide(&image, &staying),
        (outcome(true, true, false), vec![])
    );

    let caught_up = BrokerHeartbeat {
        current_metadata_offset: epoch,
        ..heartbeat(&image, 1)
    };
    let (answer, records) = decide(&image, &caught_up);
    assert_eq!(answer, outcome(true, false, false));
    assert_eq!(records, vec![change(&image, 1, Some(false), None)]);
    let image = then(&image, &records);
    assert_eq!(image.live_brokers().count(), 1);

    // Once unfenced, a heartbeat that asks for nothing writes nothing.
    assert_eq!(
        decide(&image, &heartbeat(&image, 1)),
        (outcome(true, false, false), vec![])
    );
}

#[test]
fn unfencing_elects_leaders_of_the_leaderless_partitions_it_is_a_replica_of() {
    let image = cluster(&[1, 2]);
    let image = with_partitions(
        &image,
        &[
            (&[1, 2], &[2], -1), // leaderless, 2 in the ISR
            (&[1, 2], &[1], -1), // leaderless, 2 not in the ISR, 1 alive
            (&[2, 1], &[2], 2),  // led already
        ],
    );
    let image = then(&image, &fence_broker(&image, 2, &defaults()));
    assert!(image.broker(2).is_some_and(|b| b.fenced));
    let (answer, records) = decide(&image, &heartbeat(&image, 2));
    assert_eq!(answer, outcome(true, false, false));
    // Fencing left partition 2 leaderless with 2 as its last ISR member;
    // partition 1 gets its live ISR member (as Kafka, unfencing runs the
    // election of every leaderless partition).
    assert_eq!(
        records,
        vec![
            change(&image, 2, Some(false), None),
            partition(&image, 0, &[2], 2, 4, 6),
            partition(&image, 1, &[1], 1, 4, 6),
            partition(&image, 2, &[2], 2, 5, 7),
        ]
    );
    let image = then(&image, &records);
    let t = image.topic("t").expect("t");
    assert_eq!(t.partitions[&1].leader, 1);
}

#[test]
fn fencing_moves_leadership_and_shrinks_the_isr_but_never_empties_it() {
    let image = cluster(&[1, 2, 3]);
    let image = with_partitions(
        &image,
        &[
            (&[1, 2, 3], &[1, 2, 3], 1), // led by 1: 2 takes over
            (&[2, 1, 3], &[2, 1], 2),    // 1 a follower in the ISR
            (&[1, 2], &[1], 1),          // 1 the last ISR member
            (&[2, 3], &[2, 3], 2),       // 1 not a replica
            (&[3, 1], &[3], 3),          // 1 a replica outside the ISR
        ],
    );
    let records = fence_broker(&image, 1, &defaults());
    assert_eq!(
        records,
        vec![
            partition(&image, 0, &[2, 3], 2, 4, 6),
            partition(&image, 1, &[2], 2, 3, 6),
            partition(&image, 2, &[1], -1, 4, 6),
            change(&image, 1, Some(true), None),
        ]
    );
    let after = then(&image, &records);
    assert!(after.broker(1).is_some_and(|b| b.fenced));
    // Fencing again, or fencing a broker that is not registered, writes
    // nothing.
    assert_eq!(fence_broker(&after, 1, &defaults()), vec![]);
    assert_eq!(fence_broker(&after, 9, &defaults()), vec![]);
}

#[test]
fn the_new_leader_is_the_first_live_isr_member_in_replica_order() {
    let image = cluster(&[1, 2, 3, 4]);
    let image = with_partitions(&image, &[(&[1, 2, 3, 4], &[1, 4, 3], 1)]);
    // 3 comes before 4 in replica order; 2 is not in the ISR.
    assert_eq!(
        fence_broker(&image, 1, &defaults())[0],
        partition(&image, 0, &[4, 3], 3, 4, 6)
    );
    // With 3 fenced, 4 is the only live ISR member left.
    let image = then(&image, &fence_broker(&image, 3, &defaults()));
    assert_eq!(
        fence_broker(&image, 1, &defaults())[0],
        partition(&image, 0, &[4], 4, 4, 7)
    );
}

#[test]
fn want_fence_fences_an_unfenced_broker() {
    let image = cluster(&[1, 2]);
    let image = with_partitions(&image, &[(&[1, 2], &[1, 2], 1)]);
    let hb = BrokerHeartbeat {
        want_fence: true,
        ..heartbeat(&image, 1)
    };
    let (answer, records) = decide(&image, &hb);
    assert_eq!(answer, outcome(true, true, false));
    assert_eq!(records, fence_broker(&image, 1, &defaults()));
    assert_eq!(
        records,
        vec![
            partition(&image, 0, &[2], 2, 4, 6),
            change(&image, 1, Some(true), None),
        ]
    );
}

#[test]
fn controlled_shutdown_moves_leadership_first_then_fences() {
    let image = cluster(&[1, 2]);
    let image = with_partitions(&image, &[(&[1, 2], &[1, 2], 1), (&[1, 2], &[1], 1)]);
    let shutting_down = |image: &MetadataImage| BrokerHeartbeat {
        want_shut_down: true,
        ..heartbeat(image, 1)
    };

    let (answer, records) = decide(&image, &shutting_down(&image));
    assert_eq!(answer, outcome(true, false, false));
    assert_eq!(
        records,
        vec![
            change(&image, 1, None, Some(true)),
            partition(&image, 0, &[2], 2, 4, 6),
            partition(&image, 1, &[1], -1, 4, 6),
        ]
    );
    let image = then(&image, &records);
    let broker = image.broker(1).expect("registered");
    assert!(broker.in_controlled_shutdown && !broker.fenced && !broker.is_alive());

    // It leads nothing now: the next heartbeat fences it and lets it go.
    let (answer, records) = decide(&image, &shutting_down(&image));
    assert_eq!(answer, outcome(true, true, true));
    assert_eq!(records, vec![change(&image, 1, Some(true), None)]);
    let image = then(&image, &records);

    // Fenced, it may keep asking: the answer stands and nothing is written.
    assert_eq!(
        decide(&image, &shutting_down(&image)),
        (outcome(true, true, true), vec![])
    );
}

#[test]
fn shutting_down_while_leading_nothing_is_immediate() {
    let image = cluster(&[1, 2]);
    let image = with_partitions(&image, &[(&[2, 1], &[2, 1], 2)]);
    let hb = BrokerHeartbeat {
        want_shut_down: true,
        ..heartbeat(&image, 1)
    };
    let (answer, records) = decide(&image, &hb);
    assert_eq!(answer, outcome(true, true, true));
    assert_eq!(
        records,
        vec![
            partition(&image, 0, &[2], 2, 3, 6),
            change(&image, 1, Some(true), None),
        ]
    );

    // A fenced broker asking to shut down may go at once.
    let fenced = racked_cluster(&[(1, None, true)]);
    let hb = BrokerHeartbeat {
        want_shut_down: true,
        current_metadata_offset: -1,
        ..heartbeat(&fenced, 1)
    };
    assert_eq!(decide(&fenced, &hb), (outcome(false, true, true), vec![]));
}

#[test]
fn a_restarted_broker_registers_fenced_and_gives_up_leadership() {
    let image = cluster(&[1, 2]);
    let image = with_partitions(&image, &[(&[1, 2], &[1, 2], 1), (&[1, 2], &[1], 1)]);
    let restarted = BrokerRegistration {
        incarnation_id: 2,
        ..registration(1)
    };
    let records = register_broker(&image, &restarted).expect("registers");
    assert_eq!(
        records,
        vec![
            partition(&image, 0, &[2], 2, 4, 6),
            partition(&image, 1, &[1], -1, 4, 6),
            restarted.to_new_record(),
        ]
    );
    let image = then(&image, &records);
    let broker = image.broker(1).expect("registered");
    assert!(broker.fenced);
    assert_eq!(broker.epoch, image.offset());

    // Caught up, it is unfenced and leads the partition only it has.
    let (answer, records) = decide(&image, &heartbeat(&image, 1));
    assert_eq!(answer, outcome(true, false, false));
    assert_eq!(
        records,
        vec![
            change(&image, 1, Some(false), None),
            partition(&image, 1, &[1], 1, 5, 7),
        ]
    );
}

#[test]
fn brokers_fenced_together_are_decided_one_after_the_other() {
    let image = cluster(&[1, 2, 3]);
    let image = with_partitions(&image, &[(&[1, 2, 3], &[1, 2, 3], 1)]);
    let records = fence_brokers(&image, &[1, 2, 9], &defaults());
    let after = then(&image, &records);
    // Deciding both against the same image would make 2, fenced in the
    // same batch, the leader.
    let naive: Vec<MetadataRecord> = [1, 2]
        .iter()
        .flat_map(|id| fence_broker(&image, *id, &defaults()))
        .collect();
    let naive_leader = then(&image, &naive)
        .topic("t")
        .map(|t| t.partitions[&0].leader);
    assert_eq!(naive_leader, Some(1));
    let partition = &after.topic("t").expect("t").partitions[&0];
    assert_eq!((partition.leader, partition.isr.clone()), (3, vec![3]));
    assert_eq!((partition.leader_epoch, partition.partition_epoch), (5, 7));
    assert!(after.broker(1).is_some_and(|b| b.fenced));
    assert!(after.broker(2).is_some_and(|b| b.fenced));
}
