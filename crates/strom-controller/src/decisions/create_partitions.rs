//! CreatePartitions: adding partitions to a topic, never removing them
//! (Kafka's `ReplicationControlManager.createPartitions`). New partitions keep
//! the topic's replication factor.

use std::collections::{HashMap, HashSet};

use rand::RngCore;
use strom_metadata::{MetadataImage, MetadataRecord};

use super::create_topics::{
    new_partition_record, require_a_live_replica, validate_manual_assignment,
};
use super::placement::place_replicas;
use super::MAX_RECORDS_PER_USER_OP;
use crate::error::ControllerError;

/// One topic of a CreatePartitions request.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CreatePartitions {
    pub name: String,
    /// The new total number of partitions.
    pub count: i32,
    /// Replicas for each new partition, in partition order; `None` to let
    /// the controller place them.
    pub assignments: Option<Vec<Vec<i32>>>,
}

/// The result for one topic name.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CreatePartitionsOutcome {
    pub name: String,
    pub error: Option<ControllerError>,
}

/// Decides a CreatePartitions request against `image`: one outcome per
/// distinct topic name, in the order names first appear, each with the
/// records of its new partitions.
pub fn create_partitions(
    image: &MetadataImage,
    topics: &[CreatePartitions],
    rng: &mut dyn RngCore,
) -> Vec<(CreatePartitionsOutcome, Vec<MetadataRecord>)> {
    let mut occurrences: HashMap<&str, usize> = HashMap::new();
    for topic in topics {
        *occurrences.entry(topic.name.as_str()).or_default() += 1;
    }
    let mut seen = HashSet::new();
    let mut records_so_far: u64 = 0;
    let mut results = Vec::new();
    for topic in topics.iter().filter(|t| seen.insert(t.name.as_str())) {
        let decided = if occurrences.get(topic.name.as_str()).is_some_and(|n| *n > 1) {
            Err(ControllerError::InvalidRequest(
                "Duplicate topic name.".into(),
            ))
        } else {
            add_partitions(image, topic, records_so_far, rng)
        };
        let (error, records) = match decided {
            Ok(records) => (None, records),
            Err(error) => (Some(error), Vec::new()),
        };
        records_so_far += records.len() as u64;
        let outcome = CreatePartitionsOutcome {
            name: topic.name.clone(),
            error,
        };
        results.push((outcome, records));
    }
    results
}

fn add_partitions(
    image: &MetadataImage,
    request: &CreatePartitions,
    records_so_far: u64,
    rng: &mut dyn RngCore,
) -> Result<Vec<MetadataRecord>, ControllerError> {
    let Some(topic) = image.topic(&request.name) else {
        return Err(ControllerError::UnknownTopicOrPartition(
            "This server does not host this topic-partition.".into(),
        ));
    };
    let current = topic.partitions.len();
    let requested = usize::try_from(request.count).unwrap_or(0);
    if request.count >= 0 && requested == current {
        return Err(ControllerError::InvalidPartitions(format!(
            "Topic already has {current} partition(s)."
        )));
    }
    if request.count < 0 || requested < current {
        return Err(ControllerError::InvalidPartitions(format!(
            "The topic {} currently has {current} partition(s); {} would not be an increase.",
            request.name, request.count
        )));
    }
    let additional = requested - current;
    if records_so_far + additional as u64 > MAX_RECORDS_PER_USER_OP {
        return Err(ControllerError::PolicyViolation(
            "Excessively large number of partitions per request.".into(),
        ));
    }
    if let Some(assignments) = &request.assignments {
        if assignments.len() != additional {
            return Err(ControllerError::InvalidReplicaAssignment(format!(
                "Attempted to add {additional} additional partition(s), but only {} assignment(s) were specified.",
                assignments.len()
            )));
        }
    }
    let Some(first) = topic.partitions.values().next() else {
        return Err(ControllerError::UnknownServerError(format!(
            "Invalid state: topic {} appears to have no partitions.",
            request.name
        )));
    };
    let replication_factor = first.replicas.len();
    let start_partition = i32::try_from(current).unwrap_or(i32::MAX);
    let replicas = match &request.assignments {
        Some(assignments) => {
            for (replicas, partition) in assignments.iter().zip(start_partition..) {
                validate_manual_assignment(image, replicas, Some(replication_factor))?;
                require_a_live_replica(image, replicas, partition)?;
            }
            assignments.clone()
        }
        None => {
            // As Kafka's KRaft controller: the new partitions are placed as
            // a new topic's would be, and the placer's error is the answer
            // as it is (CreateTopics prefixes it, CreatePartitions does not).
            let count = i32::try_from(additional).unwrap_or(i32::MAX);
            let factor = i16::try_from(replication_factor).unwrap_or(i16::MAX);
            place_replicas(image, count, factor, rng)?
        }
    };
    Ok(replicas
        .into_iter()
        .zip(start_partition..)
        .map(|(replicas, partition)| {
            new_partition_record(image, topic.topic_id, partition, replicas)
        })
        .collect())
}
