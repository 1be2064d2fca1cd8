//! Random sequences of broker registrations, heartbeats, fencing and topic
//! creation on one to five brokers with racks, with the cluster's
//! invariants checked after every step: leaders are live ISR members or -1,
//! ISRs are non-empty subsets of the replicas, epochs never go back, every
//! batch of decided records applies, fenced brokers lead nothing, and new
//! partitions span as many racks as they can.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::SeedableRng;
use strom_controller::decisions::{
    broker_heartbeat, create_topics_with_rng, fence_broker, fence_brokers, register_broker,
};
use strom_controller::{BrokerHeartbeat, ControllerDefaults, CreateTopic};
use strom_metadata::{BrokerRegistration, MetadataImage, MetadataRecord, TopicId};

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
    /// Stands in for replication (not built yet): the live replicas of
    /// the `n`th partition that are outside its ISR join it.
    CatchUp { n: usize },
    CreateTopic {
        partitions: i32,
        replication_factor: i16,
        seed: u64,
    },
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
    /// The highest (leader_epoch, partition_epoch) seen per partition.
    epochs: BTreeMap<(TopicId, i32), (i32, i32)>,
    topics: usize,
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
                let records = fence_broker(&self.image, *broker_id, &defaults());
                self.commit(&records)?;
                if self.image.broker(*broker_id).is_some() {
                    prop_assert!(self.image.broker(*broker_id).is_some_and(|b| b.fenced));
                }
            }
            Op::FenceMany { broker_ids } => {
                let records = fence_brokers(&self.image, broker_ids, &defaults());
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
        }
        Ok(())
    }

    fn heartbeat(&mut self, hb: &BrokerHeartbeat, valid: bool) -> Result<(), TestCaseError> {
        let decided = broker_heartbeat(&self.image, hb, &defaults());
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
        let again = broker_heartbeat(&self.image, hb, &defaults());
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
                let epochs = (partition.leader_epoch, partition.partition_epoch);
                if let Some(previous) = self.epochs.insert((topic.topic_id, *index), epochs) {
                    prop_assert!(
                        epochs.0 >= previous.0 && epochs.1 >= previous.1,
                        "{}: epochs went from {:?} to {:?}",
                        place,
                        previous,
                        epochs
                    );
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
            epochs: BTreeMap::new(),
            topics: 0,
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
