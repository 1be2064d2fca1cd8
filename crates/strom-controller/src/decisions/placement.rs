//! Replica placement over the live brokers, rack-aware, as Kafka's KRaft
//! `StripedReplicaPlacer` places them.
//!
//! Brokers are grouped by `broker.rack` (brokers without a rack form one "no
//! rack" group, ordered before the named racks). Each partition takes its
//! replicas from the racks in turn, starting one rack further than the
//! partition before, and within a rack from the brokers in turn; so a
//! partition spreads over as many racks as it can (min(replication factor,
//! racks)), and leaders and followers stripe over all brokers. Random start
//! offsets (from the caller's `rng`) keep topics from all starting on the
//! same broker, and after every round of as many partitions as there are
//! brokers the racks and brokers are shuffled so the same replica sets do
//! not repeat.
//!
//! Where this differs from Kafka, and why:
//! - Kafka also places followers on fenced brokers (only the leader must be
//!   unfenced). Strom places replicas only on live brokers (registered,
//!   unfenced, not in controlled shutdown): until partitions replicate, a
//!   replica on a broker that is away never gets data.
//! - Kafka takes a partition's leader from its rack's round cursor, which
//!   moves one broker per round whether or not the rack leads; with three
//!   racks of three brokers the rack leads every third round, its cursor
//!   has come round again, and the same three brokers lead every partition
//!   until the next shuffle. Here each rack also keeps a leader cursor that
//!   moves only when the rack leads, so every broker of a rack leads in
//!   turn. With one rack (no `broker.rack` set) both cursors move together
//!   and the placement is Kafka's.
//! - Kafka's round counter restarts at every shuffle, so a rack last used
//!   in round 0 can look exhausted after a shuffle and be passed over,
//!   putting two replicas on one rack; the rounds here never restart.

use std::collections::BTreeMap;

use rand::seq::SliceRandom;
use rand::{Rng, RngCore};
use strom_metadata::MetadataImage;

use crate::error::ControllerError;

/// Replica lists for `num_partitions` new partitions with
/// `replication_factor` replicas each, over the image's live brokers. The
/// first replica of each list is the partition's preferred leader.
pub fn place_replicas(
    image: &MetadataImage,
    num_partitions: i32,
    replication_factor: i16,
    rng: &mut dyn RngCore,
) -> Result<Vec<Vec<i32>>, ControllerError> {
    let live: Vec<(i32, Option<&str>)> = image
        .live_brokers()
        .map(|b| (b.broker_id, b.rack.as_deref()))
        .collect();
    let registered = image.brokers().count();
    let replication_factor = usize::try_from(replication_factor)
        .ok()
        .filter(|rf| *rf > 0)
        .ok_or_else(|| {
            ControllerError::InvalidReplicationFactor(format!(
                "Invalid replication factor {replication_factor}: the replication factor must be positive."
            ))
        })?;
    if live.is_empty() {
        return Err(ControllerError::InvalidReplicationFactor(
            "All brokers are currently fenced.".into(),
        ));
    }
    if replication_factor > live.len() {
        let message = if live.len() == registered {
            format!(
                "The target replication factor of {replication_factor} cannot be reached because only {registered} broker(s) are registered."
            )
        } else {
            // Kafka would use the fenced brokers as followers; Strom does
            // not, so say why the registered brokers are not enough.
            format!(
                "The target replication factor of {replication_factor} cannot be reached because only {} of the {registered} registered broker(s) are unfenced and not in controlled shutdown.",
                live.len()
            )
        };
        return Err(ControllerError::InvalidReplicationFactor(message));
    }
    let mut racks = RackList::new(&live, rng);
    let count = usize::try_from(num_partitions).unwrap_or(0);
    let mut placement = Vec::with_capacity(count);
    for _ in 0..count {
        placement.push(racks.place(replication_factor, rng)?);
    }
    Ok(placement)
}

/// The brokers of one rack, handed out in turn: each round starts one
/// broker further than the round before.
struct BrokerList {
    brokers: Vec<i32>,
    /// How many brokers this round has handed out.
    index: usize,
    /// Where in `brokers` this round started.
    offset: usize,
    /// The round `index` counts for.
    round: u64,
    /// The broker that leads the next partition this rack leads.
    leader: usize,
    /// The broker this round took as leader, which the round's followers
    /// pass over.
    round_leader: Option<i32>,
}

impl BrokerList {
    fn new(mut brokers: Vec<i32>, rng: &mut dyn RngCore) -> BrokerList {
        brokers.sort_unstable();
        let offset = rng.gen_range(0..brokers.len().max(1));
        // The first round moves the cursor on by one before using it, as
        // Kafka's does; the leader cursor starts where that lands.
        let leader = (offset + 1) % brokers.len().max(1);
        BrokerList {
            brokers,
            index: 0,
            offset,
            round: u64::MAX,
            leader,
            round_leader: None,
        }
    }

    fn start_round(&mut self, round: u64) {
        if self.round != round {
            self.round = round;
            self.index = 0;
            self.offset = (self.offset + 1) % self.brokers.len().max(1);
            self.round_leader = None;
        }
    }

    /// This round's leader from this rack; the rack has not handed out a
    /// broker this round yet.
    fn next_leader(&mut self, round: u64) -> Option<i32> {
        self.start_round(round);
        if self.index > 0 || self.brokers.is_empty() {
            return None;
        }
        let broker = self.brokers[self.leader % self.brokers.len()];
        self.leader = (self.leader + 1) % self.brokers.len();
        self.round_leader = Some(broker);
        Some(broker)
    }

    /// The next follower from this rack this round, if it has one left.
    fn next(&mut self, round: u64) -> Option<i32> {
        self.start_round(round);
        let len = self.brokers.len();
        while self.index < len {
            let broker = self.brokers[(self.index + self.offset) % len];
            self.index += 1;
            if Some(broker) != self.round_leader {
                return Some(broker);
            }
        }
        None
    }
}

/// The racks in turn (Kafka's `RackList`); one placement is one round.
struct RackList {
    /// Racks by name, `None` (no rack) first, then in name order until the
    /// first shuffle.
    racks: Vec<BrokerList>,
    broker_count: usize,
    /// Rounds since the last shuffle.
    since_shuffle: usize,
    /// Every round ever: what a rack's cursor resets on.
    round: u64,
    /// The rack the next partition's leader is taken from first.
    offset: usize,
}

impl RackList {
    fn new(brokers: &[(i32, Option<&str>)], rng: &mut dyn RngCore) -> RackList {
        let mut by_rack: BTreeMap<Option<&str>, Vec<i32>> = BTreeMap::new();
        for (broker_id, rack) in brokers {
            by_rack.entry(*rack).or_default().push(*broker_id);
        }
        let racks: Vec<BrokerList> = by_rack
            .into_values()
            .map(|brokers| BrokerList::new(brokers, rng))
            .collect();
        let offset = if racks.is_empty() {
            0
        } else {
            rng.gen_range(0..racks.len())
        };
        RackList {
            racks,
            broker_count: brokers.len(),
            since_shuffle: 0,
            round: 0,
            offset,
        }
    }

    /// One partition's replicas. `replication_factor` is at least 1 and at
    /// most the number of brokers.
    fn place(
        &mut self,
        replication_factor: usize,
        rng: &mut dyn RngCore,
    ) -> Result<Vec<i32>, ControllerError> {
        let rack_count = self.racks.len();
        if rack_count == 0 || replication_factor > self.broker_count {
            return Err(placement_failed());
        }
        // After as many partitions as there are brokers, every broker has
        // led once: shuffle so the next round does not repeat this one.
        if self.since_shuffle == self.broker_count && self.broker_count > 1 {
            self.racks.shuffle(rng);
            for rack in &mut self.racks {
                rack.brokers.shuffle(rng);
            }
            self.since_shuffle = 0;
        }
        if self.offset >= rack_count {
            self.offset = 0;
        }
        let round = self.round;
        let mut replicas = Vec::with_capacity(replication_factor);
        // The leader: from the rack at `offset`, or the next rack that still
        // has a broker this round.
        let mut leader_rack = None;
        for step in 0..rack_count {
            let rack = (self.offset + step) % rack_count;
            if let Some(broker) = self.racks[rack].next_leader(round) {
                replicas.push(broker);
                leader_rack = Some(rack);
                break;
            }
        }
        // The followers: the racks in turn from `offset`, passing over the
        // leader's rack once so the leader's rack comes last.
        let mut rack = self.offset;
        let mut skip = leader_rack;
        while replicas.len() < replication_factor {
            let mut found = None;
            // Within one turn of the racks (plus the skipped one) some rack
            // has a broker left, as there are at least as many brokers as
            // replicas.
            for _ in 0..=rack_count {
                let current = rack;
                rack = (rack + 1) % rack_count;
                if skip == Some(current) {
                    skip = None;
                    continue;
                }
                if let Some(broker) = self.racks[current].next(round) {
                    found = Some(broker);
                    break;
                }
            }
            match found {
                Some(broker) => replicas.push(broker),
                None => return Err(placement_failed()),
            }
        }
        if replicas.is_empty() {
            return Err(placement_failed());
        }
        self.round += 1;
        self.since_shuffle += 1;
        self.offset += 1;
        Ok(replicas)
    }
}

/// The placer ran out of brokers although there were enough: a broken
/// invariant of the placer, answered as an error rather than a panic.
fn placement_failed() -> ControllerError {
    ControllerError::UnknownServerError(
        "The replica placer ran out of brokers before placing every replica.".into(),
    )
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use rand::rngs::StdRng;
    use rand::SeedableRng;

    use super::*;

    fn place(brokers: &[(i32, Option<&str>)], partitions: usize, rf: usize) -> Vec<Vec<i32>> {
        let mut rng = StdRng::seed_from_u64(7);
        let mut racks = RackList::new(brokers, &mut rng);
        (0..partitions)
            .map(|_| racks.place(rf, &mut rng).expect("enough brokers"))
            .collect()
    }

    #[test]
    fn without_racks_leaders_and_replicas_spread_evenly() {
        let brokers: Vec<(i32, Option<&str>)> = (1..=4).map(|id| (id, None)).collect();
        let placement = place(&brokers, 40, 3);
        let mut leaders: BTreeMap<i32, usize> = BTreeMap::new();
        let mut replicas: BTreeMap<i32, usize> = BTreeMap::new();
        for partition in &placement {
            let distinct: BTreeSet<i32> = partition.iter().copied().collect();
            assert_eq!(distinct.len(), 3, "{partition:?}");
            *leaders.entry(partition[0]).or_default() += 1;
            for broker in partition {
                *replicas.entry(*broker).or_default() += 1;
            }
        }
        assert_eq!(leaders.values().copied().collect::<Vec<_>>(), [10; 4]);
        assert_eq!(replicas.values().copied().collect::<Vec<_>>(), [30; 4]);
    }

    #[test]
    fn replicas_stripe_over_racks() {
        // Kafka's example: racks A, B, C of three brokers each; every
        // partition has one replica per rack and leaders go round the racks.
        let brokers: Vec<(i32, Option<&str>)> = (0..9)
            .map(|id| (id, Some(["a", "b", "c"][id as usize / 3])))
            .collect();
        let rack_of = |id: i32| id / 3;
        let placement = place(&brokers, 9, 3);
        let mut leaders: BTreeMap<i32, usize> = BTreeMap::new();
        for (i, partition) in placement.iter().enumerate() {
            let racks: BTreeSet<i32> = partition.iter().map(|id| rack_of(*id)).collect();
            assert_eq!(racks.len(), 3, "{partition:?}");
            if i > 0 {
                assert_eq!(
                    rack_of(partition[0]),
                    (rack_of(placement[i - 1][0]) + 1) % 3,
                    "leaders go round the racks: {placement:?}"
                );
            }
            *leaders.entry(partition[0]).or_default() += 1;
        }
        assert_eq!(leaders.len(), 9, "every broker leads once: {placement:?}");
    }

    #[test]
    fn brokers_without_a_rack_form_one_group() {
        let brokers = [(1, None), (2, None), (3, Some("a"))];
        for partition in place(&brokers, 12, 2) {
            assert!(partition.contains(&3), "{partition:?}");
        }
    }

    #[test]
    fn uneven_racks_still_use_every_rack() {
        let brokers = [
            (1, Some("a")),
            (2, Some("a")),
            (3, Some("a")),
            (4, Some("b")),
        ];
        for partition in place(&brokers, 20, 3) {
            assert!(partition.contains(&4), "{partition:?}");
            let distinct: BTreeSet<i32> = partition.iter().copied().collect();
            assert_eq!(distinct.len(), 3, "{partition:?}");
        }
    }

    #[test]
    fn a_single_broker_gets_every_replica() {
        assert_eq!(place(&[(7, None)], 3, 1), vec![vec![7], vec![7], vec![7]]);
    }
}
