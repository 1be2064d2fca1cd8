//! The reassignment planner of `strom partitions reassign --generate`: a
//! balanced placement of every partition's replicas over a set of brokers
//! that moves as few replicas as it can.
//!
//! Topic by topic (so each topic is spread, not only the cluster's total):
//!
//! 1. **Keep.** Each broker's share of the topic is `replicas / brokers`,
//!    one more for the `replicas % brokers` brokers already holding most. A
//!    replica stays where it is if its broker is in the target set and below
//!    its share of the topic and of all topics, and, with racks, the
//!    partition does not then have more than `ceil(rf / racks)` replicas in
//!    that rack. Partitions are visited one replica position at a time, so
//!    the replicas over a share are dropped from different partitions.
//! 2. **Fill.** Each missing replica goes to the broker whose rack the
//!    partition uses least, then one below its share, then with the fewest
//!    replicas of the topic, then with the fewest over all topics planned so
//!    far, then the lowest id.
//! 3. **Even out.** While one broker holds two replicas of the topic more
//!    than another, a replica moves from the first to the second (where the
//!    rack rule allows): a partition can need a broker that is full.
//! 4. **Leaders.** The first replica (the preferred leader) stays first
//!    while its broker leads fewer than its share (`ceil(partitions /
//!    brokers)`) of the topic's and of all partitions; otherwise the partition's replica leading fewest
//!    comes first. Leadership then evens out the same way.
//!
//! Replicas that stay keep their relative order; new ones come after them.

use std::collections::{BTreeMap, BTreeSet};

/// A broker replicas may be placed on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broker {
    pub id: i32,
    pub rack: Option<String>,
}

/// (topic, partition) → replicas, first the preferred leader.
pub type Assignment = BTreeMap<(String, i32), Vec<i32>>;

/// Plans `current` over `brokers`: every partition keeps its replication
/// factor. With `rack_aware`, brokers must all have a rack or none.
pub fn plan(
    current: &Assignment,
    brokers: &[Broker],
    rack_aware: bool,
) -> Result<Assignment, String> {
    let ids: BTreeSet<i32> = brokers.iter().map(|b| b.id).collect();
    if ids.is_empty() {
        return Err("the broker list is empty".to_owned());
    }
    if ids.len() != brokers.len() {
        return Err("the broker list contains duplicate entries".to_owned());
    }
    let with_rack = brokers.iter().filter(|b| b.rack.is_some()).count();
    let racks: BTreeMap<i32, String> = if rack_aware && with_rack > 0 {
        if with_rack != brokers.len() {
            return Err("not all brokers have rack information; add --disable-rack-aware to plan without racks".to_owned());
        }
        brokers
            .iter()
            .filter_map(|b| b.rack.clone().map(|r| (b.id, r)))
            .collect()
    } else {
        BTreeMap::new()
    };
    let mut topics: BTreeMap<&str, Vec<(i32, &Vec<i32>)>> = BTreeMap::new();
    for ((topic, partition), replicas) in current {
        if replicas.is_empty() {
            return Err(format!("{topic}-{partition} has no replicas"));
        }
        if replicas.len() > ids.len() {
            return Err(format!(
                "{topic}-{partition} has {} replicas but only {} brokers are listed",
                replicas.len(),
                ids.len()
            ));
        }
        topics
            .entry(topic)
            .or_default()
            .push((*partition, replicas));
    }
    let replicas: usize = current.values().map(Vec::len).sum();
    let mut planner = Planner {
        ids: ids.iter().copied().collect(),
        replica_share: replicas.div_ceil(ids.len()),
        leader_share: current.len().div_ceil(ids.len()),
        racks,
        total_load: ids.iter().map(|&b| (b, 0)).collect(),
        total_leaders: ids.iter().map(|&b| (b, 0)).collect(),
    };
    let mut out = Assignment::new();
    for (topic, partitions) in topics {
        let planned = planner.topic(&partitions);
        for ((partition, _), replicas) in partitions.iter().zip(planned) {
            out.insert((topic.to_owned(), *partition), replicas);
        }
    }
    Ok(out)
}

/// How many replicas change broker between two assignments (replicas
/// added to a partition), and how many partitions change preferred leader.
pub fn moves(current: &Assignment, proposed: &Assignment) -> (usize, usize) {
    let mut replicas = 0;
    let mut leaders = 0;
    for (key, new) in proposed {
        let old = current.get(key).map_or(&[][..], |v| v.as_slice());
        replicas += new.iter().filter(|b| !old.contains(b)).count();
        if old.first() != new.first() {
            leaders += 1;
        }
    }
    (replicas, leaders)
}

struct Planner {
    ids: Vec<i32>,
    /// Empty when racks are not taken into account.
    racks: BTreeMap<i32, String>,
    /// Each broker's share of all replicas and of all preferred leaderships.
    replica_share: usize,
    leader_share: usize,
    /// Replicas and preferred leaderships per broker over the topics planned so far.
    total_load: BTreeMap<i32, usize>,
    total_leaders: BTreeMap<i32, usize>,
}

impl Planner {
    fn rack_count(&self) -> usize {
        self.racks.values().collect::<BTreeSet<_>>().len()
    }

    /// How many of `replicas` are in broker `b`'s rack (0 without racks).
    fn in_rack(&self, replicas: &[i32], b: i32) -> usize {
        match self.racks.get(&b) {
            None => 0,
            Some(rack) => replicas
                .iter()
                .filter(|r| self.racks.get(r) == Some(rack))
                .count(),
        }
    }

    /// At most this many replicas of a partition with `rf` replicas per rack.
    fn per_rack(&self, rf: usize) -> usize {
        match self.rack_count() {
            0 => usize::MAX,
            racks => rf.div_ceil(racks),
        }
    }

    fn topic(&mut self, partitions: &[(i32, &Vec<i32>)]) -> Vec<Vec<i32>> {
        let n = self.ids.len();
        let total: usize = partitions.iter().map(|(_, r)| r.len()).sum();
        // The topic's replicas split as evenly as they can be: `total % n`
        // brokers take one more, those already holding the most.
        let (floor, extra) = (total / n, total % n);
        let mut held: BTreeMap<i32, usize> = self.ids.iter().map(|&b| (b, 0)).collect();
        for (_, replicas) in partitions {
            for r in replicas.iter() {
                if let Some(h) = held.get_mut(r) {
                    *h += 1;
                }
            }
        }
        let mut by_held = self.ids.clone();
        by_held.sort_by_key(|b| (std::cmp::Reverse(held[b]), self.total_load[b], *b));
        let cap: BTreeMap<i32, usize> = by_held
            .iter()
            .enumerate()
            .map(|(i, &b)| (b, floor + usize::from(i < extra)))
            .collect();
        let mut load: BTreeMap<i32, usize> = self.ids.iter().map(|&b| (b, 0)).collect();

        // 1. Keep, one replica position at a time over all partitions, so
        //    that replicas over a broker's share are dropped from different
        //    partitions (a partition losing all its replicas could need
        //    brokers that are full).
        let mut kept: Vec<Vec<(usize, i32)>> = vec![Vec::new(); partitions.len()];
        let max_rf = partitions.iter().map(|(_, r)| r.len()).max().unwrap_or(0);
        for position in 0..max_rf {
            for ((_, replicas), kept) in partitions.iter().zip(kept.iter_mut()) {
                let Some(&r) = replicas.get(position) else {
                    continue;
                };
                let so_far: Vec<i32> = kept.iter().map(|(_, b)| *b).collect();
                let fits = load
                    .get(&r)
                    .is_some_and(|&l| l < cap[&r] && self.total_load[&r] + l < self.replica_share)
                    && !so_far.contains(&r)
                    && self.in_rack(&so_far, r) < self.per_rack(replicas.len());
                if fits {
                    kept.push((position, r));
                    *load.entry(r).or_default() += 1;
                }
            }
        }
        let mut planned: Vec<Vec<i32>> = kept
            .into_iter()
            .map(|mut k| {
                k.sort();
                k.into_iter().map(|(_, b)| b).collect()
            })
            .collect();
        // 2. Fill.
        for ((_, replicas), new) in partitions.iter().zip(planned.iter_mut()) {
            while new.len() < replicas.len() {
                let best = self
                    .ids
                    .iter()
                    .copied()
                    .filter(|b| !new.contains(b))
                    .min_by_key(|&b| {
                        (
                            self.in_rack(new, b),
                            load[&b] >= cap[&b]
                                || self.total_load[&b] + load[&b] >= self.replica_share,
                            load[&b],
                            self.total_load[&b],
                            b,
                        )
                    });
                let Some(b) = best else { break };
                new.push(b);
                *load.entry(b).or_default() += 1;
            }
        }
        // 3. Even out: each move lowers the sum of squared loads, so this ends.
        'even: loop {
            let mut by_load: Vec<i32> = self.ids.clone();
            by_load.sort_by_key(|b| (load[b], std::cmp::Reverse(self.total_load[b]), *b));
            for &hi in by_load.iter().rev() {
                for &lo in &by_load {
                    if load[&hi] < load[&lo] + 2 {
                        break;
                    }
                    let target = planned.iter().position(|p| {
                        p.contains(&hi) && !p.contains(&lo) && {
                            let rest: Vec<i32> = p.iter().copied().filter(|&r| r != hi).collect();
                            self.in_rack(&rest, lo) < self.per_rack(p.len())
                        }
                    });
                    if let Some(i) = target {
                        for r in planned[i].iter_mut() {
                            if *r == hi {
                                *r = lo;
                            }
                        }
                        *load.entry(hi).or_default() -= 1;
                        *load.entry(lo).or_default() += 1;
                        continue 'even;
                    }
                }
            }
            break;
        }
        // 4. Leaders.
        let leader_share = partitions.len().div_ceil(n);
        let mut leads: BTreeMap<i32, usize> = self.ids.iter().map(|&b| (b, 0)).collect();
        // Preferred leaders that can stay, first, so that choosing a leader
        // for another partition never takes their place.
        let mut chosen: Vec<Option<i32>> = vec![None; planned.len()];
        for (((_, replicas), new), chosen) in partitions.iter().zip(&planned).zip(chosen.iter_mut())
        {
            let preferred = replicas[0];
            if new.contains(&preferred)
                && leads[&preferred] < leader_share
                && self.total_leaders[&preferred] + leads[&preferred] < self.leader_share
            {
                *chosen = Some(preferred);
                *leads.entry(preferred).or_default() += 1;
            }
        }
        let mut leader: Vec<i32> = Vec::with_capacity(planned.len());
        for (new, chosen) in planned.iter().zip(chosen) {
            let l = match chosen {
                Some(l) => l,
                None => match new
                    .iter()
                    .copied()
                    .min_by_key(|b| (leads[b], self.total_leaders[b], *b))
                {
                    Some(l) => {
                        *leads.entry(l).or_default() += 1;
                        l
                    }
                    // No replica at all (fewer brokers than replicas is
                    // refused before planning): nothing to put first.
                    None => -1,
                },
            };
            leader.push(l);
        }
        'leaders: loop {
            let mut by_leads: Vec<i32> = self.ids.clone();
            by_leads.sort_by_key(|b| (leads[b], *b));
            for &hi in by_leads.iter().rev() {
                for &lo in &by_leads {
                    if leads[&hi] < leads[&lo] + 2 {
                        break;
                    }
                    let target =
                        (0..planned.len()).find(|&i| leader[i] == hi && planned[i].contains(&lo));
                    if let Some(i) = target {
                        leader[i] = lo;
                        *leads.entry(hi).or_default() -= 1;
                        *leads.entry(lo).or_default() += 1;
                        continue 'leaders;
                    }
                }
            }
            break;
        }
        for (new, &l) in planned.iter_mut().zip(&leader) {
            if l >= 0 {
                new.retain(|&r| r != l);
                new.insert(0, l);
                *self.total_leaders.entry(l).or_default() += 1;
            }
            for r in new.iter() {
                *self.total_load.entry(*r).or_default() += 1;
            }
        }
        planned
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn brokers(ids: &[i32]) -> Vec<Broker> {
        ids.iter().map(|&id| Broker { id, rack: None }).collect()
    }

    fn racked(ids: &[(i32, &str)]) -> Vec<Broker> {
        ids.iter()
            .map(|&(id, rack)| Broker {
                id,
                rack: Some(rack.to_owned()),
            })
            .collect()
    }

    fn assignment(topic: &str, parts: &[&[i32]]) -> Assignment {
        parts
            .iter()
            .enumerate()
            .map(|(i, r)| ((topic.to_owned(), i as i32), r.to_vec()))
            .collect()
    }

    /// Replicas per broker, and preferred leaderships per broker.
    fn loads(a: &Assignment) -> (BTreeMap<i32, usize>, BTreeMap<i32, usize>) {
        let mut replicas = BTreeMap::new();
        let mut leaders = BTreeMap::new();
        for r in a.values() {
            for b in r {
                *replicas.entry(*b).or_insert(0) += 1;
            }
            *leaders.entry(r[0]).or_insert(0) += 1;
        }
        (replicas, leaders)
    }

    fn spread(m: &BTreeMap<i32, usize>, ids: &[i32]) -> usize {
        let counts: Vec<usize> = ids.iter().map(|b| m.get(b).copied().unwrap_or(0)).collect();
        counts.iter().max().unwrap() - counts.iter().min().unwrap()
    }

    fn assert_valid(current: &Assignment, proposed: &Assignment, ids: &[i32]) {
        assert_eq!(current.len(), proposed.len());
        for (key, r) in proposed {
            assert_eq!(
                r.len(),
                current[key].len(),
                "{key:?} changed replication factor"
            );
            let unique: BTreeSet<_> = r.iter().collect();
            assert_eq!(unique.len(), r.len(), "{key:?} has a broker twice: {r:?}");
            assert!(
                r.iter().all(|b| ids.contains(b)),
                "{key:?} on an unlisted broker: {r:?}"
            );
        }
    }

    #[test]
    fn a_new_topic_layout_is_spread_evenly_with_balanced_leaders() {
        // Everything on broker 1 (rf 1), planned over three brokers.
        let current = assignment("t", &[&[1], &[1], &[1], &[1], &[1], &[1]]);
        let proposed = plan(&current, &brokers(&[1, 2, 3]), true).unwrap();
        assert_valid(&current, &proposed, &[1, 2, 3]);
        let (replicas, leaders) = loads(&proposed);
        assert_eq!(replicas, BTreeMap::from([(1, 2), (2, 2), (3, 2)]));
        assert_eq!(leaders, replicas);
        // Only what had to leave broker 1 moved.
        assert_eq!(moves(&current, &proposed).0, 4);
    }

    #[test]
    fn adding_a_broker_moves_only_its_share() {
        // 6 partitions, rf 2, perfectly balanced over 1,2,3 (4 replicas and 2 leaders each).
        let current = assignment("t", &[&[1, 2], &[2, 3], &[3, 1], &[1, 3], &[2, 1], &[3, 2]]);
        let proposed = plan(&current, &brokers(&[1, 2, 3, 4]), true).unwrap();
        assert_valid(&current, &proposed, &[1, 2, 3, 4]);
        let (replicas, leaders) = loads(&proposed);
        assert_eq!(replicas, BTreeMap::from([(1, 3), (2, 3), (3, 3), (4, 3)]));
        assert!(spread(&leaders, &[1, 2, 3, 4]) <= 1, "leaders {leaders:?}");
        // 12 replicas over 4 brokers: broker 4 gets 3, and nothing else moves.
        assert_eq!(moves(&current, &proposed).0, 3);
    }

    #[test]
    fn removing_a_broker_moves_only_its_replicas() {
        let current = assignment("t", &[&[1, 2], &[2, 3], &[3, 1], &[1, 3], &[2, 1], &[3, 2]]);
        let proposed = plan(&current, &brokers(&[1, 2]), true).unwrap();
        assert_valid(&current, &proposed, &[1, 2]);
        let (replicas, leaders) = loads(&proposed);
        assert_eq!(replicas, BTreeMap::from([(1, 6), (2, 6)]));
        assert_eq!(leaders, BTreeMap::from([(1, 3), (2, 3)]));
        // Broker 3 held 4 replicas; exactly those move.
        assert_eq!(moves(&current, &proposed).0, 4);
        // Replicas on 1 and 2 stayed in their partitions.
        for (key, old) in &current {
            for b in old.iter().filter(|b| **b != 3) {
                assert!(proposed[key].contains(b), "{key:?} lost broker {b}");
            }
        }
    }

    #[test]
    fn a_balanced_assignment_is_left_as_it_is() {
        let current = assignment("t", &[&[1, 2], &[2, 3], &[3, 1], &[1, 3], &[2, 1], &[3, 2]]);
        let proposed = plan(&current, &brokers(&[1, 2, 3]), true).unwrap();
        assert_eq!(proposed, current);
        assert_eq!(moves(&current, &proposed), (0, 0));
    }

    #[test]
    fn moving_from_brokers_1_2_to_2_3_keeps_broker_2() {
        let current = assignment("t", &[&[1, 2], &[2, 1]]);
        let proposed = plan(&current, &brokers(&[2, 3]), true).unwrap();
        assert_valid(&current, &proposed, &[2, 3]);
        for r in proposed.values() {
            assert_eq!(
                r.iter().copied().collect::<BTreeSet<_>>(),
                BTreeSet::from([2, 3])
            );
        }
        assert_eq!(moves(&current, &proposed).0, 2);
        let (_, leaders) = loads(&proposed);
        assert_eq!(leaders, BTreeMap::from([(2, 1), (3, 1)]));
        // Partition 1 keeps its preferred leader.
        assert_eq!(proposed[&("t".to_owned(), 1)][0], 2);
    }

    #[test]
    fn an_uneven_start_is_evened_out() {
        // Broker 1 and 2 hold everything; broker 3 nothing. Keeping up to
        // the share (4) on both leaves 3 with 4 too: 12 replicas, 4 each.
        let current = assignment("t", &[&[1, 2], &[1, 2], &[1, 2], &[1, 2], &[1, 2], &[1, 2]]);
        let proposed = plan(&current, &brokers(&[1, 2, 3]), true).unwrap();
        assert_valid(&current, &proposed, &[1, 2, 3]);
        let (replicas, leaders) = loads(&proposed);
        assert_eq!(replicas, BTreeMap::from([(1, 4), (2, 4), (3, 4)]));
        assert_eq!(leaders, BTreeMap::from([(1, 2), (2, 2), (3, 2)]));
        assert_eq!(moves(&current, &proposed).0, 4);

        // 3 partitions of rf 2 over 4 brokers: keeping 2 on each of 1,2,3
        // would starve 4; evening out gives 2,2,1,1 in some order.
        let current = assignment("u", &[&[1, 2], &[2, 3], &[3, 1]]);
        let proposed = plan(&current, &brokers(&[1, 2, 3, 4]), true).unwrap();
        let (replicas, _) = loads(&proposed);
        assert!(spread(&replicas, &[1, 2, 3, 4]) <= 1, "{replicas:?}");
        assert_eq!(moves(&current, &proposed).0, 1);
    }

    #[test]
    fn racks_get_one_replica_each_where_they_can() {
        // Racks a = {1, 2}, b = {3, 4}; everything starts in rack a.
        let current = assignment("t", &[&[1, 2], &[2, 1], &[1, 2], &[2, 1]]);
        let brokers = racked(&[(1, "a"), (2, "a"), (3, "b"), (4, "b")]);
        let proposed = plan(&current, &brokers, true).unwrap();
        assert_valid(&current, &proposed, &[1, 2, 3, 4]);
        let rack = |b: i32| if b <= 2 { 'a' } else { 'b' };
        for (key, r) in &proposed {
            let racks: BTreeSet<char> = r.iter().map(|&b| rack(b)).collect();
            assert_eq!(
                racks.len(),
                2,
                "{key:?} {r:?} is not spread over both racks"
            );
        }
        let (replicas, leaders) = loads(&proposed);
        assert_eq!(replicas, BTreeMap::from([(1, 2), (2, 2), (3, 2), (4, 2)]));
        assert!(spread(&leaders, &[1, 2, 3, 4]) <= 1, "leaders {leaders:?}");
        assert_eq!(moves(&current, &proposed).0, 4);

        // Without rack awareness the same start is already balanced enough
        // to keep on 1 and 2 what fits their share.
        let flat = plan(&current, &brokers, false).unwrap();
        let (replicas, _) = loads(&flat);
        assert_eq!(replicas, BTreeMap::from([(1, 2), (2, 2), (3, 2), (4, 2)]));
    }

    #[test]
    fn some_brokers_without_a_rack_are_refused_unless_racks_are_ignored() {
        let current = assignment("t", &[&[1]]);
        let mut list = racked(&[(1, "a"), (2, "b")]);
        list.push(Broker { id: 3, rack: None });
        let err = plan(&current, &list, true).unwrap_err();
        assert!(err.contains("--disable-rack-aware"), "{err}");
        assert!(plan(&current, &list, false).is_ok());
    }

    #[test]
    fn impossible_plans_are_refused() {
        let current = assignment("t", &[&[1, 2, 3]]);
        let err = plan(&current, &brokers(&[1, 2]), true).unwrap_err();
        assert!(
            err.contains("t-0 has 3 replicas but only 2 brokers"),
            "{err}"
        );
        assert!(plan(&current, &brokers(&[]), true).is_err());
        assert!(plan(&current, &brokers(&[1, 1, 2]), true).is_err());
        let empty = assignment("t", &[&[]]);
        assert!(plan(&empty, &brokers(&[1]), true).is_err());
    }

    #[test]
    fn several_topics_share_the_brokers_evenly() {
        // Three single-partition topics, rf 1, all on broker 1.
        let mut current = Assignment::new();
        for t in ["a", "b", "c"] {
            current.extend(assignment(t, &[&[1]]));
        }
        let proposed = plan(&current, &brokers(&[1, 2, 3]), true).unwrap();
        let (replicas, _) = loads(&proposed);
        // Topic a keeps broker 1; the others go where the total is lowest.
        assert_eq!(replicas, BTreeMap::from([(1, 1), (2, 1), (3, 1)]));
    }

    #[test]
    fn random_layouts_come_out_valid_and_even_per_topic() {
        // xorshift: deterministic, no dependency.
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n) as i32
        };
        let mut planned = 0;
        for case in 0..300 {
            let brokers_now = 1 + next(6); // brokers 1..=brokers_now hold the replicas now
            let target: Vec<i32> = (1 + next(3)..=2 + next(6)).collect(); // the brokers to plan over
            let rf = 1 + next(3);
            if rf > brokers_now || rf as usize > target.len() {
                continue;
            }
            let mut current = Assignment::new();
            for topic in 0..1 + next(3) {
                for p in 0..1 + next(8) {
                    let mut r: Vec<i32> = Vec::new();
                    while r.len() < rf as usize {
                        let b = 1 + next(brokers_now as u64);
                        if !r.contains(&b) {
                            r.push(b);
                        }
                    }
                    current.insert((format!("t{topic}"), p), r);
                }
            }
            let proposed = plan(&current, &brokers(&target), true).unwrap();
            assert_valid(&current, &proposed, &target);
            for topic in 0..3 {
                let of_topic: Assignment = proposed
                    .iter()
                    .filter(|((t, _), _)| *t == format!("t{topic}"))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                if of_topic.is_empty() {
                    continue;
                }
                let (replicas, _) = loads(&of_topic);
                assert!(
                    spread(&replicas, &target) <= 1,
                    "case {case}: t{topic} over {target:?}: {replicas:?} from {current:?}"
                );
            }
            // Planning the plan again moves nothing.
            let again = plan(&proposed, &brokers(&target), true).unwrap();
            assert_eq!(
                moves(&proposed, &again).0,
                0,
                "case {case}: {proposed:?} -> {again:?}"
            );
            planned += 1;
        }
        assert!(planned > 100, "only {planned} of 300 cases were plannable");
    }
}
