//! ElectLeaders, the automatic leader rebalance and unclean elections.

use strom_controller::decisions::{
    alter_partition, broker_heartbeat, elect_leaderless_after_config, elect_leaders, fence_broker,
    leader_rebalance, AlterPartitionItem,
};
use strom_controller::{AlterConfigsOutcome, BrokerHeartbeat, ControllerDefaults, ElectionType};
use strom_metadata::{ConfigResource, MetadataImage, MetadataRecord, PartitionImage};

use super::{applied, cluster, create, defaults, manual, then};

fn state(image: &MetadataImage, partition: i32) -> PartitionImage {
    image.topic("t").expect("t").partitions[&partition].clone()
}

/// `t` with the given partitions (replica lists), brokers 1..=3 alive.
fn image(partitions: &[&[i32]]) -> MetadataImage {
    let image = cluster(&[1, 2, 3]);
    let assignments: Vec<(i32, &[i32])> = partitions
        .iter()
        .enumerate()
        .map(|(i, r)| (i as i32, *r))
        .collect();
    applied(&image, &create(&image, &[manual("t", &assignments)]))
}

fn fence(image: &MetadataImage, broker_id: i32) -> MetadataImage {
    then(image, &fence_broker(image, broker_id, &defaults()))
}

fn unfence(image: &MetadataImage, broker_id: i32, defaults: &ControllerDefaults) -> MetadataImage {
    let epoch = image.broker(broker_id).map_or(-1, |b| b.epoch);
    let hb = BrokerHeartbeat {
        broker_id,
        broker_epoch: epoch,
        current_metadata_offset: image.offset(),
        want_fence: false,
        want_shut_down: false,
    };
    let (_, records) = broker_heartbeat(image, &hb, defaults).expect("heartbeat");
    then(image, &records)
}

fn set_isr(image: &MetadataImage, partition: i32, isr: &[i32]) -> MetadataImage {
    let p = state(image, partition);
    let item = AlterPartitionItem {
        topic_id: image.topic("t").expect("t").topic_id,
        partition,
        leader_epoch: p.leader_epoch,
        partition_epoch: p.partition_epoch,
        new_isr: isr.to_vec(),
    };
    let epoch = image.broker(p.leader).map_or(-1, |b| b.epoch);
    let (outcomes, records) = alter_partition(image, p.leader, epoch, &[item]);
    assert!(outcomes[0].result.is_ok(), "{outcomes:?}");
    then(image, &records)
}

fn named(partitions: &[i32]) -> Option<Vec<(String, Vec<i32>)>> {
    Some(vec![("t".to_string(), partitions.to_vec())])
}

fn codes(outcomes: &[strom_controller::ElectLeadersOutcome]) -> Vec<(i32, i16)> {
    outcomes
        .iter()
        .map(|o| (o.partition, o.error_code))
        .collect()
}

#[test]
fn preferred_election_moves_leadership_back_to_the_first_replica() {
    let image = image(&[&[1, 2, 3], &[2, 3, 1]]);
    // 1 is fenced and comes back: partition 0 is led by 2 now.
    let image = unfence(&fence(&image, 1), 1, &defaults());
    assert_eq!(state(&image, 0).leader, 2);
    // 1 caught up again.
    let image = set_isr(&image, 0, &[2, 3, 1]);
    let before = state(&image, 0);
    let (outcomes, records) = elect_leaders(&image, ElectionType::Preferred, &named(&[0, 1, 9]));
    assert_eq!(codes(&outcomes), vec![(0, 0), (1, 84), (9, 3)]);
    let after = then(&image, &records);
    let p = state(&after, 0);
    assert_eq!(p.leader, 1);
    assert_eq!(p.leader_epoch, before.leader_epoch + 1);
    assert_eq!(p.partition_epoch, before.partition_epoch + 1);
    // Unknown topic.
    let (outcomes, _) = elect_leaders(
        &image,
        ElectionType::Preferred,
        &Some(vec![("nope".to_string(), vec![0])]),
    );
    assert_eq!(codes(&outcomes), vec![(0, 3)]);
}

#[test]
fn preferred_election_of_a_replica_out_of_sync_is_preferred_leader_not_available() {
    let image = image(&[&[1, 2, 3]]);
    let image = unfence(&fence(&image, 1), 1, &defaults());
    // 1 is alive but not back in the ISR.
    let (outcomes, records) = elect_leaders(&image, ElectionType::Preferred, &named(&[0]));
    assert_eq!(codes(&outcomes), vec![(0, 80)]);
    assert!(records.is_empty());
}

#[test]
fn electing_every_partition_leaves_out_those_that_need_none() {
    let image = image(&[&[1, 2, 3], &[2, 3, 1], &[3, 1, 2]]);
    let image = unfence(&fence(&image, 1), 1, &defaults());
    let image = set_isr(&image, 0, &[2, 3, 1]);
    let (outcomes, records) = elect_leaders(&image, ElectionType::Preferred, &None);
    assert_eq!(codes(&outcomes), vec![(0, 0)]);
    assert_eq!(records.len(), 1);
}

#[test]
fn unclean_election_gives_a_leaderless_partition_a_live_replica() {
    let image = image(&[&[1, 2], &[2, 3]]);
    // 2 leaves the ISR of partition 0, then 1 is fenced: leaderless.
    let image = set_isr(&image, 0, &[1]);
    let image = fence(&image, 1);
    assert_eq!(state(&image, 0).leader, -1);
    let before = state(&image, 0);
    let (outcomes, records) = elect_leaders(&image, ElectionType::Unclean, &named(&[0, 1]));
    // Partition 1 has a leader: no election needed.
    assert_eq!(codes(&outcomes), vec![(0, 0), (1, 84)]);
    let after = then(&image, &records);
    let p = state(&after, 0);
    assert_eq!((p.leader, p.isr.clone()), (2, vec![2]));
    assert_eq!(p.leader_epoch, before.leader_epoch + 1);
    // With no live replica at all: ELIGIBLE_LEADERS_NOT_AVAILABLE.
    let none_alive = fence(&fence(&image, 2), 3);
    let (outcomes, records) = elect_leaders(&none_alive, ElectionType::Unclean, &named(&[0]));
    assert_eq!((codes(&outcomes), records.len()), (vec![(0, 83)], 0));
}

#[test]
fn unclean_leader_election_enable_elects_on_fencing_unfencing_and_when_turned_on() {
    let unclean = ControllerDefaults {
        unclean_leader_election_enable: true,
        ..ControllerDefaults::default()
    };
    let image = image(&[&[1, 2]]);
    let image = set_isr(&image, 0, &[1]);
    // Fencing the last ISR member: with the controller's default on, 2
    // takes over at once, alone in the ISR.
    let fenced = then(&image, &fence_broker(&image, 1, &unclean));
    let p = state(&fenced, 0);
    assert_eq!((p.leader, p.isr.clone()), (2, vec![2]));
    // Off: leaderless.
    let leaderless = fence(&image, 1);
    assert_eq!(state(&leaderless, 0).leader, -1);
    // Then a replica's broker unfencing with unclean elections on.
    let down = fence(&leaderless, 2);
    let back = unfence(&down, 2, &unclean);
    assert_eq!(
        (state(&back, 0).leader, state(&back, 0).isr.clone()),
        (2, vec![2])
    );
    let back_clean = unfence(&down, 2, &defaults());
    assert_eq!(state(&back_clean, 0).leader, -1);
    // Turning the topic config on elects at once.
    let turn_on = vec![MetadataRecord::Config {
        resource: ConfigResource::Topic("t".into()),
        name: "unclean.leader.election.enable".into(),
        value: Some("true".into()),
    }];
    let outcome = AlterConfigsOutcome {
        resource: ConfigResource::Topic("t".into()),
        error: None,
    };
    let mut decided = vec![(outcome, turn_on)];
    elect_leaderless_after_config(&leaderless, &mut decided, &defaults());
    let records = decided[0].1.clone();
    assert_eq!(records.len(), 2, "{records:?}");
    let after = then(&leaderless, &records);
    assert_eq!(
        (state(&after, 0).leader, state(&after, 0).isr.clone()),
        (2, vec![2])
    );
}

#[test]
fn the_rebalance_moves_leadership_of_brokers_over_the_imbalance_ratio() {
    // 1 is preferred for partitions 0 and 1; 2 for partition 2.
    let image = image(&[&[1, 2], &[1, 3], &[2, 1]]);
    let image = unfence(&fence(&image, 1), 1, &defaults());
    // 1 leads nothing now; it catches up on partition 0 only.
    let image = set_isr(&image, 0, &[2, 1]);
    assert_eq!(state(&image, 0).leader, 2);
    assert_eq!(state(&image, 1).leader, 3);
    // 1 is preferred for 2 partitions and leads none: 100% > 10%.
    let records = leader_rebalance(&image, 10);
    let after = then(&image, &records);
    assert_eq!(state(&after, 0).leader, 1, "back to its preferred replica");
    assert_eq!(state(&after, 1).leader, 3, "1 is not in this ISR");
    assert_eq!(records.len(), 1);
    // At 100% no broker is over the ratio.
    assert_eq!(leader_rebalance(&image, 100), vec![]);
    // Balanced: nothing to do.
    assert_eq!(leader_rebalance(&after, 10).len(), 0);
}

#[test]
fn unclean_leader_election_enable_is_the_topics_then_the_controllers_then_the_clusters() {
    let image = image(&[&[1, 2]]);
    let image = set_isr(&image, 0, &[1]);
    let config = |resource: ConfigResource, value: &str| MetadataRecord::Config {
        resource,
        name: "unclean.leader.election.enable".into(),
        value: Some(value.into()),
    };
    let controller_3 = ControllerDefaults {
        controller_id: Some(3),
        ..ControllerDefaults::default()
    };
    let leader_after_fencing = |records: &[MetadataRecord]| {
        let image = then(&image, records);
        let fenced = then(&image, &fence_broker(&image, 1, &controller_3));
        state(&fenced, 0).leader
    };
    // The cluster-wide default on: unclean.
    assert_eq!(
        leader_after_fencing(&[config(ConfigResource::Broker(None), "true")]),
        2
    );
    // The active controller's own config off beats the cluster's on.
    assert_eq!(
        leader_after_fencing(&[
            config(ConfigResource::Broker(None), "true"),
            config(ConfigResource::Broker(Some(3)), "false"),
        ]),
        -1
    );
    // Another broker's config does not count.
    assert_eq!(
        leader_after_fencing(&[config(ConfigResource::Broker(Some(2)), "true")]),
        -1
    );
    // The topic's own config beats them all.
    assert_eq!(
        leader_after_fencing(&[
            config(ConfigResource::Broker(Some(3)), "true"),
            config(ConfigResource::Topic("t".into()), "false"),
        ]),
        -1
    );
    assert_eq!(
        leader_after_fencing(&[config(ConfigResource::Topic("t".into()), "true")]),
        2
    );
}
