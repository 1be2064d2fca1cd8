//! Random sequences of broker registrations, heartbeats (controlled
//! shutdown included), fencing, topic creation, leaders' ISR changes
//! (AlterPartition) and turning unclean leader election on and off, on one
//! to five brokers with racks, with the cluster's invariants checked after
//! every step: leaders are live ISR members or -1, ISRs are non-empty
//! subsets of the replicas, epochs never go back, the leader epoch grows
//! exactly when the leader changes and the partition epoch on every change,
//! a new leader comes from the previous ISR unless unclean elections are
//! on, every batch of decided records applies, fenced brokers lead
//! nothing, and new partitions span as many racks as they can.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::SeedableRng;
use strom_controller::decisions::{
    alter_partition, broker_heartbeat, create_topics_with_rng, elect_leaderless_after_config,
    fence_broker, fence_brokers, register_broker, AlterPartitionItem,
};
use strom_controller::{AlterConfigsOutcome, BrokerHeartbeat, ControllerDefaults, CreateTopic};
use strom_metadata::{
    BrokerRegistration, ConfigResource, MetadataImage, MetadataRecord, PartitionImage, TopicId,
};

use super::{accept_all, defaults, registration, topic};

const RACKS: [Option<&str>; 4] = [None, Some("a"), Some("b"), Some("c")];

#[derive(Clone, Debug)]
enum Op {
    Register {
        broker_id: i32,
        rack: usize,
        incarnation_id: u128,
    },
    Heartbeat {
        broker_id: i32,
        stale_epoch: bool,
        caught_up: bool,
        want_fence: bool,
        want_shut_down: bool,
    },
    /// The broker's session expired.
    Fence { broker_id: i32 },
    /// Several sessions expired together: one batch fences them all.
    FenceMany { broker_ids: Vec<i32> },
    /// A heartbeat from a broker that has caught up and wants to serve.
    Unfence { broker_id: i32 },
    /// Stands in for a leader's AlterPartition once followers catch up: the
    /// live replicas of the `n`th partition outside its ISR join it.
    CatchUp { n: usize },
    CreateTopic {
        partitions: i32,
        replication_factor: i16,
        seed: u64,
    },
    /// The leader of the `n`th partition proposes an ISR: itself and the
    /// replicas `mask` picks (live or not), at the epochs it has or, with
    /// `stale`, an older partition epoch.
    AlterIsr { n: usize, mask: u8, stale: bool },
    /// The cluster-wide `unclean.leader.election.enable` is set.
    Unclean { on: bool },
}

fn op(brokers: i32) -> impl Strategy<Value = Op> {
    let id = 0..brokers;
    prop_oneof![
        (id.clone(), 0..RACKS.len(), 1..3u128).prop_map(|(broker_id, rack, incarnation_id)| {
            Op::Register {
                broker_id,
                rack,
                incarnation_id,
            }
        }),
        (
            id.clone(),
            prop::bool::weighted(0.1),
            prop::bool::weighted(0.8),
            prop::bool::weighted(0.15),
            prop::bool::weighted(0.15)
        )
            .prop_map(
                |(broker_id, stale_epoch, caught_up, want_fence, want_shut_down)| {
                    Op::Heartbeat {
                        broker_id,
                        stale_epoch,
                        caught_up,
                        want_fence,
                        want_shut_down,
                    }
                }
            ),
        id.clone().prop_map(|broker_id| Op::Fence { broker_id }),
        prop::collection::vec(id.clone(), 2..4).prop_map(|broker_ids| Op::FenceMany { broker_ids }),
        (0..16usize).prop_map(|n| Op::CatchUp { n }),
        id.prop_map(|broker_id| Op::Unfence { broker_id }),
        (0..16usize, any::<u8>(), prop::bool::weighted(0.1))
            .prop_map(|(n, mask, stale)| Op::AlterIsr { n, mask, stale }),
        (0..16usize, any::<u8>(), prop::bool::weighted(0.1))
            .prop_map(|(n, mask, stale)| Op::AlterIsr { n, mask, stale }),
        prop::bool::weighted(0.3).prop_map(|on| Op::Unclean { on }),
        (1..5i32, 1..5i16, any::<u64>()).prop_map(|(partitions, replication_factor, seed)| {
            Op::CreateTopic {
                partitions,
                replication_factor,
                seed,
            }
        }),
    ]
}

fn scenario() -> impl Strategy<Value = (i32, Vec<Op>)> {
    (1..=5i32).prop_flat_map(|brokers| (Just(brokers), prop::collection::vec(op(brokers), 1..60)))
}

struct Model {
    image: MetadataImage,
    /// Each partition as the previous step left it.
    previous: BTreeMap<(TopicId, i32), PartitionImage>,
    topics: usize,
    /// Whether the cluster-wide default allows unclean elections.
    unclean: bool,
}

impl Model {
    /// Applies one batch of decided records as the next metadata log entry.
    fn commit(&mut self, records: &[MetadataRecord]) -> Result<(), TestCaseError> {
        let next = self.image.apply(records, self.image.offset() + 1);
        prop_assert!(
            next.is_ok(),
            "decided records do not apply: {next:?}\n{records:?}"
        );
        if let Ok(next) = next {
            self.image = next;
        }
        Ok(())
    }

    fn step(&mut self, op: &Op) -> Result<(), TestCaseError> {
        match op {
            Op::Register {
                broker_id,
                rack,
                incarnation_id,
            } => {
                let registration = BrokerRegistration {
                    incarnation_id: *incarnation_id,
                    rack: RACKS[*rack].map(str::to_string),
                    ..registration(*broker_id)
                };
                let records = register_broker(&self.image, &registration);
                prop_assert!(records.is_ok(), "{records:?}");
                self.commit(&records.unwrap_or_default())?;
            }
            Op::Heartbeat {
                broker_id,
                stale_epoch,
                caught_up,
                want_fence,
                want_shut_down,
            } => {
                let registered = self.image.broker(*broker_id).map(|b| b.epoch);
                let epoch = registered.unwrap_or(-1);
                let hb = BrokerHeartbeat {
                    broker_id: *broker_id,
                    broker_epoch: if *stale_epoch { epoch - 1 } else { epoch },
                    current_metadata_offset: if *caught_up {
                        self.image.offset()
                    } else {
                        epoch - 1
                    },
                    want_fence: *want_fence,
                    want_shut_down: *want_shut_down,
                };
                self.heartbeat(&hb, registered.is_some() && !*stale_epoch)?;
            }
            Op::Fence { broker_id } => {
                let records = fence_broker(&self.image, *broker_id, &self.defaults());
                self.commit(&records)?;
                if self.image.broker(*broker_id).is_some() {
                    prop_assert!(self.image.broker(*broker_id).is_some_and(|b| b.fenced));
                }
            }
            Op::FenceMany { broker_ids } => {
                let records = fence_brokers(&self.image, broker_ids, &self.defaults());
                self.commit(&records)?;
                for broker_id in broker_ids {
                    if let Some(broker) = self.image.broker(*broker_id) {
                        prop_assert!(broker.fenced, "broker {} is not fenced", broker_id);
                    }
                }
            }
            Op::CatchUp { n } => {
                let partitions: Vec<(TopicId, i32)> = self
                    .image
                    .topics()
                    .flat_map(|t| t.partitions.keys().map(move |p| (t.topic_id, *p)))
                    .collect();
                if partitions.is_empty() {
                    return Ok(());
                }
                let (topic_id, index) = partitions[n % partitions.len()];
                let Some(partition) = self
                    .image
                    .topic_by_id(topic_id)
                    .and_then(|t| t.partitions.get(&index))
                else {
                    return Ok(());
                };
                // Only a leader widens the ISR (AlterPartition); a leaderless
                // partition waits for the controller's election instead.
                if partition.leader == -1 {
                    return Ok(());
                }
                let mut isr = partition.isr.clone();
                for id in &partition.replicas {
                    let alive = self.image.broker(*id).is_some_and(|b| b.is_alive());
                    if alive && !isr.contains(id) {
                        isr.push(*id);
                    }
                }
                if isr != partition.isr {
                    let record = MetadataRecord::Partition {
                        topic_id,
                        partition: index,
                        replicas: partition.replicas.clone(),
                        isr,
                        leader: partition.leader,
                        leader_epoch: partition.leader_epoch,
                        partition_epoch: partition.partition_epoch + 1,
                        adding_replicas: vec![],
                        removing_replicas: vec![],
                    };
                    self.commit(&[record])?;
                }
            }
            Op::Unfence { broker_id } => {
                let Some(epoch) = self.image.broker(*broker_id).map(|b| b.epoch) else {
                    return Ok(());
                };
                let hb = BrokerHeartbeat {
                    broker_id: *broker_id,
                    broker_epoch: epoch,
                    current_metadata_offset: self.image.offset(),
                    want_fence: false,
                    want_shut_down: false,
                };
                self.heartbeat(&hb, true)?;
            }
            Op::CreateTopic {
                partitions,
                replication_factor,
                seed,
            } => self.create_topic(*partitions, *replication_factor, *seed)?,
            Op::AlterIsr { n, mask, stale } => self.alter_isr(*n, *mask, *stale)?,
            Op::Unclean { on } => {
                let records = vec![MetadataRecord::Config {
                    resource: ConfigResource::Broker(None),
                    name: "unclean.leader.election.enable".into(),
                    value: Some(on.to_string()),
                }];
                let outcome = AlterConfigsOutcome {
                    resource: ConfigResource::Broker(None),
                    error: None,
                };
                let mut decided = vec![(outcome, records)];
                elect_leaderless_after_config(&self.image, &mut decided, &defaults());
                self.unclean = *on;
                self.commit(&decided[0].1)?;
                if *on {
                    // No partition is left leaderless with a live replica.
                    for topic in self.image.topics() {
                        for (index, p) in &topic.partitions {
                            let live_replica = p
                                .replicas
                                .iter()
                                .any(|id| self.image.broker(*id).is_some_and(|b| b.is_alive()));
                            prop_assert!(
                                p.leader != -1 || !live_replica,
                                "{}-{index} is leaderless with a live replica: {p:?}",
                                topic.name
                            );
                        }
                    }
                }
            }
        }
        Ok(())
    }

    fn alter_isr(&mut self, n: usize, mask: u8, stale: bool) -> Result<(), TestCaseError> {
        let partitions: Vec<(TopicId, i32, PartitionImage)> = self
            .image
            .topics()
            .flat_map(|t| {
                t.partitions
                    .iter()
                    .map(move |(p, s)| (t.topic_id, *p, s.clone()))
            })
            .filter(|(_, _, s)| s.leader != -1)
            .collect();
        if partitions.is_empty() {
            return Ok(());
        }
        let (topic_id, partition, state) = partitions[n % partitions.len()].clone();
        let mut isr = vec![state.leader];
        for (i, id) in state.replicas.iter().enumerate() {
            if mask & (1 << i) != 0 && *id != state.leader {
                isr.push(*id);
            }
        }
        let item = AlterPartitionItem {
            topic_id,
            partition,
            leader_epoch: state.leader_epoch,
            partition_epoch: state.partition_epoch - i32::from(stale),
            new_isr: isr.clone(),
        };
        let epoch = self.image.broker(state.leader).map_or(-1, |b| b.epoch);
        let (outcomes, records) = alter_partition(&self.image, state.leader, epoch, &[item]);
        prop_assert_eq!(outcomes.len(), 1);
        let ineligible = isr
            .iter()
            .any(|id| !self.image.broker(*id).is_some_and(|b| b.is_alive()));
        let expected = if stale {
            Err(95)
        } else if ineligible {
            Err(107)
        } else {
            Ok(())
        };
        prop_assert_eq!(outcomes[0].result.clone().map(|_| ()), expected);
        prop_assert_eq!(records.is_empty(), expected.is_err() || isr == state.isr);
        self.commit(&records)?;
        if let Ok(answer) = &outcomes[0].result {
            let now = &self.image.topic_by_id(topic_id).expect("topic").partitions[&partition];
            prop_assert_eq!(&answer.isr, &isr);
            prop_assert_eq!(&now.isr, &isr);
            prop_assert_eq!(now.leader, state.leader);
            prop_assert_eq!(answer.leader_epoch, state.leader_epoch);
        }
        Ok(())
    }

    fn heartbeat(&mut self, hb: &BrokerHeartbeat, valid: bool) -> Result<(), TestCaseError> {
        let decided = broker_heartbeat(&self.image, hb, &self.defaults());
        if !valid {
            let expected = if self.image.broker(hb.broker_id).is_some() {
                77
            } else {
                102
            };
            prop_assert_eq!(decided.map_err(|e| e.code()).err(), Some(expected));
            return Ok(());
        }
        prop_assert!(decided.is_ok(), "{decided:?}");
        let Ok((outcome, records)) = decided else {
            return Ok(());
        };
        let before = self.image.clone();
        self.commit(&records)?;
        let broker = self.image.broker(hb.broker_id);
        prop_assert_eq!(broker.map(|b| b.fenced), Some(outcome.is_fenced));
        prop_assert_eq!(
            outcome.is_caught_up,
            hb.current_metadata_offset >= before.broker(hb.broker_id).map_or(0, |b| b.epoch)
        );
        if outcome.should_shut_down {
            prop_assert!(outcome.is_fenced);
            prop_assert!(
                hb.want_shut_down
                    || before
                        .broker(hb.broker_id)
                        .is_some_and(|b| b.in_controlled_shutdown)
            );
        }
        // A heartbeat that changes nothing writes nothing: deciding the
        // same heartbeat again on the new image is a no-op, unless it moves
        // a controlled shutdown on, or ended one without asking to shut
        // down (then, fenced, it asks to be unfenced).
        let again = broker_heartbeat(&self.image, hb, &self.defaults());
        prop_assert!(again.is_ok());
        if let Ok((again_outcome, again_records)) = again {
            let in_controlled_shutdown = self
                .image
                .broker(hb.broker_id)
                .is_some_and(|b| b.in_controlled_shutdown && !b.fenced);
            let ended_without_asking = outcome.should_shut_down && !hb.want_shut_down;
            if !in_controlled_shutdown && !ended_without_asking {
                prop_assert_eq!(again_records, Vec::<MetadataRecord>::new());
                prop_assert_eq!(again_outcome, outcome);
            }
        }
        Ok(())
    }

    fn create_topic(
        &mut self,
        partitions: i32,
        replication_factor: i16,
        seed: u64,
    ) -> Result<(), TestCaseError> {
        let name = format!("t{}", self.topics);
        self.topics += 1;
        let request: CreateTopic = topic(&name, partitions, replication_factor);
        let mut rng = StdRng::seed_from_u64(seed);
        let mut results = create_topics_with_rng(
            &self.image,
            &[request],
            &ControllerDefaults::default(),
            &accept_all,
            &mut rng,
        );
        prop_assert_eq!(results.len(), 1);
        let (outcome, records) = results.remove(0);
        let live: Vec<(i32, Option<String>)> = self
            .image
            .live_brokers()
            .map(|b| (b.broker_id, b.rack.clone()))
            .collect();
        let rf = usize::try_from(replication_factor).unwrap_or(0);
        if live.len() < rf {
            prop_assert_eq!(outcome.error.map(|e| e.code()), Some(38));
            prop_assert!(records.is_empty());
            return Ok(());
        }
        prop_assert_eq!(outcome.error, None);
        self.commit(&records)?;
        let racks_of: BTreeMap<i32, Option<String>> = live.into_iter().collect();
        let live_racks: BTreeSet<&Option<String>> = racks_of.values().collect();
        let created = self.image.topic(&name);
        prop_assert!(created.is_some());
        for (index, partition) in created.map(|t| &t.partitions).into_iter().flatten() {
            prop_assert_eq!(partition.replicas.len(), rf);
            prop_assert_eq!(partition.leader, partition.replicas[0]);
            prop_assert_eq!(&partition.isr, &partition.replicas);
            let racks: BTreeSet<&Option<String>> = partition
                .replicas
                .iter()
                .filter_map(|id| racks_of.get(id))
                .collect();
            prop_assert_eq!(
                racks.len(),
                rf.min(live_racks.len()),
                "partition {} on {:?} with live racks {:?}",
                index,
                partition.replicas,
                racks_of
            );
        }
        Ok(())
    }

    /// The controller's election settings as the image has them.
    fn defaults(&self) -> ControllerDefaults {
        defaults()
    }

    /// Epochs only grow: the leader epoch exactly when the leader changes,
    /// the partition epoch on every change. A new leader was in the ISR
    /// before, unless an unclean election made it (then it leads alone).
    fn check_change(
        &self,
        place: &str,
        previous: &PartitionImage,
        now: &PartitionImage,
    ) -> Result<(), TestCaseError> {
        if previous == now {
            return Ok(());
        }
        prop_assert!(
            now.partition_epoch > previous.partition_epoch,
            "{}: changed from {:?} to {:?} without a partition epoch bump",
            place,
            previous,
            now
        );
        if now.leader == previous.leader {
            prop_assert_eq!(
                now.leader_epoch,
                previous.leader_epoch,
                "{}: the leader epoch moved without a leader change",
                place
            );
        } else {
            prop_assert!(
                now.leader_epoch > previous.leader_epoch,
                "{}: the leader changed from {} to {} at leader epoch {} -> {}",
                place,
                previous.leader,
                now.leader,
                previous.leader_epoch,
                now.leader_epoch
            );
            if now.leader != -1 && !previous.isr.contains(&now.leader) {
                prop_assert!(
                    self.unclean && now.isr == vec![now.leader],
                    "{}: {} was elected from outside the ISR {:?}",
                    place,
                    now.leader,
                    previous.isr
                );
            }
        }
        Ok(())
    }

    fn check_invariants(&mut self) -> Result<(), TestCaseError> {
        for topic in self.image.topics() {
            for (index, partition) in &topic.partitions {
                let place = format!("{}-{index}", topic.name);
                prop_assert!(!partition.isr.is_empty(), "{place}: empty ISR");
                prop_assert!(
                    partition
                        .isr
                        .iter()
                        .all(|id| partition.replicas.contains(id)),
                    "{}: ISR {:?} not within replicas {:?}",
                    place,
                    partition.isr,
                    partition.replicas
                );
                if partition.leader != -1 {
                    prop_assert!(
                        partition.isr.contains(&partition.leader),
                        "{}: leader {} outside the ISR {:?}",
                        place,
                        partition.leader,
                        partition.isr
                    );
                    let alive = self
                        .image
                        .broker(partition.leader)
                        .is_some_and(|b| b.is_alive());
                    prop_assert!(alive, "{}: leader {} is not alive", place, partition.leader);
                }
                let key = (topic.topic_id, *index);
                if let Some(previous) = self.previous.insert(key, partition.clone()) {
                    self.check_change(&place, &previous, partition)?;
                }
            }
        }
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn cluster_invariants_hold_after_every_step((brokers, ops) in scenario()) {
        let mut model = Model {
            image: MetadataImage::empty(),
            previous: BTreeMap::new(),
            topics: 0,
            unclean: false,
        };
        // Every broker starts registered, as a cluster does.
        for broker_id in 0..brokers {
            model.step(&Op::Register { broker_id, rack: broker_id as usize % RACKS.len(), incarnation_id: 1 })?;
        }
        for op in &ops {
            model.step(op)?;
            model.check_invariants()?;
        }
    }
}
