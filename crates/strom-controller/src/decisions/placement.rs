//! Replica placement without racks, as Kafka's
//! `AdminUtils.assignReplicasToBrokersRackUnaware`: the first replica of each
//! partition goes round-robin over the brokers from a random start, and the
//! followers are shifted by an amount that grows each time the round-robin
//! wraps, so that leaders and followers both spread evenly.

use rand::{Rng, RngCore};

use crate::error::ControllerError;

/// Replica lists for partitions `start_partition..start_partition +
/// num_partitions`. `brokers` must be sorted and distinct. With
/// `fixed_start_index` the placement is deterministic (Kafka uses it when
/// adding partitions, so new partitions continue the existing pattern);
/// without it both the start and the shift come from `rng`.
pub fn place_replicas(
    brokers: &[i32],
    start_partition: i32,
    num_partitions: i32,
    replication_factor: i16,
    fixed_start_index: Option<usize>,
    rng: &mut dyn RngCore,
) -> Result<Vec<Vec<i32>>, ControllerError> {
    let Ok(replication_factor) = usize::try_from(replication_factor) else {
        return Err(non_positive(replication_factor));
    };
    if replication_factor == 0 {
        return Err(non_positive(0));
    }
    let broker_count = brokers.len();
    if replication_factor > broker_count {
        return Err(ControllerError::InvalidReplicationFactor(format!(
            "The target replication factor of {replication_factor} cannot be reached because only {broker_count} broker(s) are registered."
        )));
    }
    let start_index =
        fixed_start_index.unwrap_or_else(|| rng.gen_range(0..broker_count)) % broker_count;
    let mut replica_shift = fixed_start_index.unwrap_or_else(|| rng.gen_range(0..broker_count));
    let first_partition = usize::try_from(start_partition).unwrap_or(0);
    let count = usize::try_from(num_partitions).unwrap_or(0);
    let mut placement = Vec::with_capacity(count);
    for partition in first_partition..first_partition + count {
        if partition > 0 && partition % broker_count == 0 {
            replica_shift += 1;
        }
        let first = (partition + start_index) % broker_count;
        let mut replicas = Vec::with_capacity(replication_factor);
        replicas.push(brokers[first]);
        for j in 0..replication_factor - 1 {
            // broker_count > 1 here: replication_factor <= broker_count.
            let shift = 1 + (replica_shift + j) % (broker_count - 1);
            replicas.push(brokers[(first + shift) % broker_count]);
        }
        placement.push(replicas);
    }
    Ok(placement)
}

fn non_positive(replication_factor: impl std::fmt::Display) -> ControllerError {
    ControllerError::InvalidReplicationFactor(format!(
        "Invalid replication factor {replication_factor}: the replication factor must be positive."
    ))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use rand::rngs::StdRng;
    use rand::SeedableRng;

    use super::*;

    fn place(brokers: &[i32], partitions: i32, rf: i16, fixed: Option<usize>) -> Vec<Vec<i32>> {
        let mut rng = StdRng::seed_from_u64(7);
        place_replicas(brokers, 0, partitions, rf, fixed, &mut rng).unwrap_or_default()
    }

    #[test]
    fn matches_kafkas_rack_unaware_example() {
        // AdminUtils' documented example: 5 brokers, 10 partitions, 3
        // replicas, start index 0 (and so shift 0).
        let placement = place(&[0, 1, 2, 3, 4], 10, 3, Some(0));
        let expected: Vec<Vec<i32>> = vec![
            vec![0, 1, 2],
            vec![1, 2, 3],
            vec![2, 3, 4],
            vec![3, 4, 0],
            vec![4, 0, 1],
            vec![0, 2, 3],
            vec![1, 3, 4],
            vec![2, 4, 0],
            vec![3, 0, 1],
            vec![4, 1, 2],
        ];
        assert_eq!(placement, expected);
    }

    #[test]
    fn replicas_are_distinct_and_leaders_spread_evenly() {
        let brokers = [1, 2, 3, 4];
        let placement = place(&brokers, 40, 3, None);
        assert_eq!(placement.len(), 40);
        let mut leaders: BTreeMap<i32, usize> = BTreeMap::new();
        for replicas in &placement {
            assert_eq!(replicas.len(), 3);
            let mut sorted = replicas.clone();
            sorted.sort_unstable();
            sorted.dedup();
            assert_eq!(sorted.len(), 3, "{replicas:?}");
            *leaders.entry(replicas[0]).or_default() += 1;
        }
        assert!(leaders.values().all(|count| *count == 10), "{leaders:?}");
    }

    #[test]
    fn single_broker_gets_every_replica() {
        assert_eq!(place(&[7], 3, 1, None), vec![vec![7], vec![7], vec![7]]);
    }

    #[test]
    fn too_few_brokers_is_kafkas_error() {
        let mut rng = StdRng::seed_from_u64(1);
        let error = place_replicas(&[1], 0, 1, 3, None, &mut rng).err();
        assert_eq!(
            error,
            Some(ControllerError::InvalidReplicationFactor(
                "The target replication factor of 3 cannot be reached because only 1 broker(s) are registered."
                    .into()
            ))
        );
        let error = place_replicas(&[], 0, 1, 1, None, &mut rng).err();
        assert_eq!(error.map(|e| e.code()), Some(38));
    }

    #[test]
    fn non_positive_replication_factor_is_rejected() {
        let mut rng = StdRng::seed_from_u64(1);
        assert!(place_replicas(&[1], 0, 1, 0, None, &mut rng).is_err());
        assert!(place_replicas(&[1], 0, 1, -1, None, &mut rng).is_err());
    }
}
