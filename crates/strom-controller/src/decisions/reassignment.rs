//! Partition reassignment (AlterPartitionReassignments and
//! ListPartitionReassignments), decided as Kafka's
//! `ReplicationControlManager` with `PartitionReassignmentReplicas` and
//! `PartitionReassignmentRevert`.
//!
//! A reassignment to `target` first widens the partition: its replicas
//! become `target` followed by the current replicas not in it (the
//! `removing` ones), and `adding` names the target replicas that are new.
//! The new followers then catch up and their leader adds them to the ISR
//! (AlterPartition); the change that puts the last of them in the ISR
//! completes the reassignment: replicas = target, ISR = ISR ∩ target, and a
//! leader outside the target hands over to a target ISR member (leader
//! epoch + 1). A reassignment that only reorders or drops replicas already
//! in the ISR completes at once. Cancelling (no target) reverts to the
//! replicas before the reassignment; a revert that would leave no ISR
//! member needs an unclean election and is refused unless the topic
//! allows one.

use strom_metadata::{MetadataImage, MetadataRecord, PartitionImage, TopicImage};

use super::broker_lifecycle::{election_for, log_election};
use super::codes;
use super::create_topics::validate_manual_assignment;
use super::partition_change::{Election, PartitionChange};
use super::ControllerDefaults;

/// One partition of an AlterPartitionReassignments request.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ReassignPartition {
    pub topic: String,
    pub partition: i32,
    /// The target replicas, the first preferred; `None` cancels the
    /// reassignment in progress.
    pub replicas: Option<Vec<i32>>,
}

/// The answer for one partition: Kafka's error code (0 for none) and
/// message.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ReassignPartitionOutcome {
    pub topic: String,
    pub partition: i32,
    pub error_code: i16,
    pub error_message: Option<String>,
}

/// A reassignment in progress, as ListPartitionReassignments reports it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OngoingReassignment {
    pub topic: String,
    pub partition: i32,
    /// Every replica now: the target ones first, then those being removed.
    pub replicas: Vec<i32>,
    pub adding_replicas: Vec<i32>,
    pub removing_replicas: Vec<i32>,
}

/// Decides an AlterPartitionReassignments request: one outcome per item,
/// in order, and the `Partition` records of the accepted ones. Each item is
/// decided on the image the ones before it leave.
pub fn alter_partition_reassignments(
    image: &MetadataImage,
    items: &[ReassignPartition],
    defaults: &ControllerDefaults,
) -> (Vec<ReassignPartitionOutcome>, Vec<MetadataRecord>) {
    let mut working = image.clone();
    let mut records = Vec::new();
    let mut outcomes = Vec::with_capacity(items.len());
    for item in items {
        let decided = reassign_one(&working, item, defaults);
        let (error_code, error_message) = match decided {
            Ok(None) => (codes::NONE, None),
            Ok(Some(record)) => {
                match working.apply(
                    std::slice::from_ref(&record),
                    working.offset().saturating_add(1),
                ) {
                    Ok(next) => {
                        working = next;
                        records.push(record);
                        (codes::NONE, None)
                    }
                    Err(e) => (
                        codes::INVALID_REPLICA_ASSIGNMENT,
                        Some(format!("The reassignment does not fit the metadata: {e}")),
                    ),
                }
            }
            Err((code, message)) => (code, Some(message)),
        };
        outcomes.push(ReassignPartitionOutcome {
            topic: item.topic.clone(),
            partition: item.partition,
            error_code,
            error_message,
        });
    }
    (outcomes, records)
}

type Refusal = (i16, String);

fn reassign_one(
    image: &MetadataImage,
    item: &ReassignPartition,
    defaults: &ControllerDefaults,
) -> Result<Option<MetadataRecord>, Refusal> {
    let unknown = |message: String| (codes::UNKNOWN_TOPIC_OR_PARTITION, message);
    let topic = image
        .topic(&item.topic)
        .ok_or_else(|| unknown(format!("Unable to find a topic named {}.", item.topic)))?;
    let current = topic.partitions.get(&item.partition).ok_or_else(|| {
        unknown(format!(
            "Unable to find partition {}:{}.",
            item.topic, item.partition
        ))
    })?;
    let changed = match &item.replicas {
        None => cancel(image, topic, item.partition, current, defaults)?,
        Some(target) => change(image, topic, current, target, defaults)?,
    };
    Ok(changed.map(|changed| {
        log_election(topic, item.partition, &changed);
        changed.state.to_record(topic.topic_id, item.partition)
    }))
}

/// Kafka's `changePartitionReassignment`.
fn change(
    image: &MetadataImage,
    topic: &TopicImage,
    current: &PartitionImage,
    target: &[i32],
    defaults: &ControllerDefaults,
) -> Result<Option<super::partition_change::Changed>, Refusal> {
    validate_manual_assignment(image, target, None)
        .map_err(|e| (codes::INVALID_REPLICA_ASSIGNMENT, e.message().to_string()))?;
    let mut removing: Vec<i32> = current
        .replicas
        .iter()
        .copied()
        .filter(|id| !target.contains(id))
        .collect();
    removing.sort_unstable();
    let mut adding: Vec<i32> = target
        .iter()
        .copied()
        .filter(|id| !current.replicas.contains(id))
        .collect();
    adding.sort_unstable();
    let mut replicas = target.to_vec();
    replicas.extend(&removing);
    let election = election_for(image, &topic.name, defaults);
    Ok(PartitionChange::new(current)
        .replicas(replicas)
        .adding(adding)
        .removing(removing)
        .election(election)
        .build(image))
}

/// Kafka's `cancelPartitionReassignment` with `PartitionReassignmentRevert`.
fn cancel(
    image: &MetadataImage,
    topic: &TopicImage,
    partition: i32,
    current: &PartitionImage,
    defaults: &ControllerDefaults,
) -> Result<Option<super::partition_change::Changed>, Refusal> {
    if !current.is_reassigning() {
        return Err((
            codes::NO_REASSIGNMENT_IN_PROGRESS,
            "No partition reassignment is in progress.".to_string(),
        ));
    }
    let replicas = current.original_replicas();
    let mut isr: Vec<i32> = current
        .isr
        .iter()
        .copied()
        .filter(|id| !current.adding_replicas.contains(id))
        .collect();
    let election = election_for(image, &topic.name, defaults);
    if isr.is_empty() {
        // Every ISR member was being added: going back means trusting a
        // replica that may lack records.
        if election != Election::Unclean {
            return Err((
                codes::INVALID_REPLICA_ASSIGNMENT,
                format!(
                    "Unable to revert partition assignment for {}:{partition} because it would require an unclean leader election.",
                    topic.name
                ),
            ));
        }
        if let Some(first) = replicas.first() {
            isr.push(*first);
        }
    }
    Ok(PartitionChange::new(current)
        .isr(isr)
        .replicas(replicas)
        .adding(Vec::new())
        .removing(Vec::new())
        .election(election)
        .build(image))
}

/// The reassignments in progress: of every partition when `topics` is
/// `None`, else of the named partitions (unknown topics and partitions, and
/// partitions not being reassigned, are left out, as in Kafka).
pub fn list_partition_reassignments(
    image: &MetadataImage,
    topics: Option<&[(String, Vec<i32>)]>,
) -> Vec<OngoingReassignment> {
    let ongoing = |topic: &TopicImage, partition: i32| {
        let state = topic.partitions.get(&partition)?;
        state.is_reassigning().then(|| OngoingReassignment {
            topic: topic.name.clone(),
            partition,
            replicas: state.replicas.clone(),
            adding_replicas: state.adding_replicas.clone(),
            removing_replicas: state.removing_replicas.clone(),
        })
    };
    match topics {
        None => image
            .topics()
            .flat_map(|topic| {
                topic
                    .partitions
                    .keys()
                    .filter_map(move |p| ongoing(topic, *p))
            })
            .collect(),
        Some(topics) => topics
            .iter()
            .filter_map(|(name, partitions)| Some((image.topic(name)?, partitions)))
            .flat_map(|(topic, partitions)| {
                partitions.iter().filter_map(move |p| ongoing(topic, *p))
            })
            .collect(),
    }
}
