//! Server-side assignors of KIP-848 consumer groups: `uniform` (the
//! default: balanced and sticky) and `range` (per topic, contiguous ranges,
//! so co-partitioned topics line up), as Kafka names them.

use std::collections::{BTreeMap, BTreeSet};

use uuid::Uuid;

use crate::consumer_group::Assignment;

pub(crate) const ASSIGNORS: &[&str] = &["uniform", "range"];

/// What an assignor sees: each member's subscribed topics (resolved to
/// ids and partition counts) and its current target, for stickiness.
pub(crate) struct AssignmentSpec<'a> {
    /// member id → (topic id, partition count) of every subscribed topic that exists.
    pub subscriptions: BTreeMap<&'a str, Vec<(Uuid, i32)>>,
    pub current: &'a BTreeMap<String, Assignment>,
}

pub(crate) fn assign(assignor: &str, spec: &AssignmentSpec<'_>) -> BTreeMap<String, Assignment> {
    match assignor {
        "range" => range(spec),
        _ => uniform(spec),
    }
}

/// Every partition goes to one subscribed member; counts differ by at most
/// one among members with the same subscriptions; a partition stays with
/// its current owner when that keeps the balance.
fn uniform(spec: &AssignmentSpec<'_>) -> BTreeMap<String, Assignment> {
    let mut out: BTreeMap<String, Assignment> = spec
        .subscriptions
        .keys()
        .map(|m| (m.to_string(), Assignment::new()))
        .collect();
    let mut counts: BTreeMap<&str, usize> = spec.subscriptions.keys().map(|m| (*m, 0)).collect();
    // Every partition with the members that may take it.
    let mut partitions: BTreeMap<(Uuid, i32), Vec<&str>> = BTreeMap::new();
    for (member, topics) in &spec.subscriptions {
        for (topic, n) in topics {
            for p in 0..*n {
                partitions.entry((*topic, p)).or_default().push(member);
            }
        }
    }
    let total = partitions.len();
    let members = spec.subscriptions.len().max(1);
    let quota = total.div_ceil(members);
    // Keep current owners up to the quota.
    let mut unassigned: Vec<(Uuid, i32)> = Vec::new();
    for (&(topic, p), eligible) in &partitions {
        let owner = eligible.iter().find(|m| {
            spec.current
                .get(**m)
                .is_some_and(|a| a.get(&topic).is_some_and(|ps| ps.contains(&p)))
        });
        match owner {
            Some(m) if counts[*m] < quota => {
                *counts.get_mut(*m).expect("member counted") += 1;
                out.get_mut(*m)
                    .expect("member listed")
                    .entry(topic)
                    .or_default()
                    .insert(p);
            }
            _ => unassigned.push((topic, p)),
        }
    }
    // The rest to the eligible member with the fewest partitions.
    for (topic, p) in unassigned {
        let eligible = &partitions[&(topic, p)];
        let Some(m) = eligible.iter().min_by_key(|m| (counts[**m], **m)) else {
            continue;
        };
        *counts.get_mut(*m).expect("member counted") += 1;
        out.get_mut(*m)
            .expect("member listed")
            .entry(topic)
            .or_default()
            .insert(p);
    }
    out
}

/// Per topic, the subscribed members in member-id order take contiguous
/// ranges; the first `partitions % members` get one more.
fn range(spec: &AssignmentSpec<'_>) -> BTreeMap<String, Assignment> {
    let mut out: BTreeMap<String, Assignment> = spec
        .subscriptions
        .keys()
        .map(|m| (m.to_string(), Assignment::new()))
        .collect();
    let mut by_topic: BTreeMap<(Uuid, i32), BTreeSet<&str>> = BTreeMap::new();
    for (member, topics) in &spec.subscriptions {
        for &(topic, n) in topics {
            by_topic.entry((topic, n)).or_default().insert(member);
        }
    }
    for ((topic, n), members) in by_topic {
        let count = members.len() as i32;
        let (base, extra) = (n / count, n % count);
        let mut next = 0;
        for (i, m) in members.into_iter().enumerate() {
            let take = base + i32::from((i as i32) < extra);
            let ps: BTreeSet<i32> = (next..next + take).collect();
            next += take;
            if !ps.is_empty() {
                out.get_mut(m).expect("member listed").insert(topic, ps);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec_of<'a>(
        subs: &[(&'a str, Vec<(Uuid, i32)>)],
        current: &'a BTreeMap<String, Assignment>,
    ) -> AssignmentSpec<'a> {
        AssignmentSpec {
            subscriptions: subs.iter().cloned().collect(),
            current,
        }
    }

    fn count(a: &Assignment) -> usize {
        a.values().map(|p| p.len()).sum()
    }

    #[test]
    fn uniform_balances_and_covers_every_partition_once() {
        let t = Uuid::from_u128(1);
        let none = BTreeMap::new();
        let spec = spec_of(
            &[
                ("a", vec![(t, 7)]),
                ("b", vec![(t, 7)]),
                ("c", vec![(t, 7)]),
            ],
            &none,
        );
        let out = uniform(&spec);
        let counts: Vec<usize> = out.values().map(count).collect();
        assert_eq!(counts.iter().sum::<usize>(), 7);
        assert!(
            counts.iter().max().unwrap() - counts.iter().min().unwrap() <= 1,
            "{counts:?}"
        );
        let mut all: Vec<i32> = out.values().flat_map(|a| a[&t].iter().copied()).collect();
        all.sort();
        assert_eq!(all, (0..7).collect::<Vec<_>>());
    }

    #[test]
    fn uniform_keeps_partitions_with_their_owner_when_a_member_joins() {
        let t = Uuid::from_u128(1);
        let none = BTreeMap::new();
        let first = uniform(&spec_of(&[("a", vec![(t, 6)]), ("b", vec![(t, 6)])], &none));
        let second = uniform(&spec_of(
            &[
                ("a", vec![(t, 6)]),
                ("b", vec![(t, 6)]),
                ("c", vec![(t, 6)]),
            ],
            &first,
        ));
        for m in ["a", "b"] {
            let kept = second[m][&t]
                .iter()
                .filter(|p| first[m][&t].contains(p))
                .count();
            assert_eq!(kept, 2, "{m} keeps two of its three partitions");
        }
        assert_eq!(count(&second["c"]), 2);
    }

    #[test]
    fn range_gives_contiguous_ranges_per_topic() {
        let (t1, t2) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let none = BTreeMap::new();
        let out = range(&spec_of(
            &[("a", vec![(t1, 5), (t2, 2)]), ("b", vec![(t1, 5)])],
            &none,
        ));
        assert_eq!(out["a"][&t1], BTreeSet::from([0, 1, 2]));
        assert_eq!(out["b"][&t1], BTreeSet::from([3, 4]));
        assert_eq!(out["a"][&t2], BTreeSet::from([0, 1]));
        assert!(!out["b"].contains_key(&t2));
    }
}
