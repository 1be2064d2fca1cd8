//! AlterPartition: a partition leader proposes a new ISR (a follower fell
//! behind, or caught up), decided as Kafka's
//! `ReplicationControlManager.alterPartition` decides it.
//!
//! The leader names the leader and partition epochs it knows; the change
//! applies only to exactly that registration, so a leader that missed a
//! change (a new leader was elected, another ISR change went in) is told
//! so and retries from the new state. An accepted change keeps the leader
//! and its epoch, bumps the partition epoch, and completes a reassignment
//! whose new replicas are all in the new ISR.

use strom_metadata::{MetadataImage, MetadataRecord, PartitionImage, TopicId};

use super::codes;
use super::partition_change::{Election, PartitionChange};
use super::{ControllerDefaults, MAX_RECORDS_PER_USER_OP};

/// One partition's proposed ISR (Kafka's `AlterPartitionRequest`
/// `PartitionData`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AlterPartitionItem {
    pub topic_id: TopicId,
    pub partition: i32,
    /// The leader epoch the sender leads at.
    pub leader_epoch: i32,
    /// The partition epoch of the registration the sender last saw.
    pub partition_epoch: i32,
    pub new_isr: Vec<i32>,
}

/// The partition as it is after the request (Kafka's response fields).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AlteredPartition {
    pub leader: i32,
    pub leader_epoch: i32,
    pub partition_epoch: i32,
    pub isr: Vec<i32>,
}

/// The answer for one item: the partition's state, or a Kafka error code.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AlterPartitionOutcome {
    pub topic_id: TopicId,
    pub partition: i32,
    pub result: Result<AlteredPartition, i16>,
}

/// Decides an AlterPartition request from `broker_id` at `broker_epoch`:
/// one outcome per item, in order, and the `Partition` records of the
/// accepted changes.
///
/// Errors, per item, as Kafka's controller answers them:
/// `STALE_BROKER_EPOCH` for every item when the sender is not registered at
/// `broker_epoch`; `UNKNOWN_TOPIC_ID`; `UNKNOWN_TOPIC_OR_PARTITION`;
/// `NOT_CONTROLLER` when the sender knows a newer epoch than this image
/// (this controller is behind: the sender retries, finding the active
/// one); `FENCED_LEADER_EPOCH` for an older leader epoch; `INVALID_REQUEST`
/// when the sender does not lead the partition, or the ISR leaves out the
/// leader, names a non-replica or names a broker twice;
/// `INVALID_UPDATE_VERSION` for an older partition epoch;
/// `INELIGIBLE_REPLICA` when the ISR names a broker that is not
/// registered, fenced or shutting down; `NEW_LEADER_ELECTED` when the
/// change completed a reassignment that moved leadership away from the
/// sender (the change is written).
pub fn alter_partition(
    image: &MetadataImage,
    broker_id: i32,
    broker_epoch: i64,
    items: &[AlterPartitionItem],
) -> (Vec<AlterPartitionOutcome>, Vec<MetadataRecord>) {
    alter_partition_with(
        image,
        broker_id,
        broker_epoch,
        items,
        &ControllerDefaults::default(),
    )
}

/// [`alter_partition`] with the controller's defaults (for
/// `unclean.leader.election.enable`).
pub fn alter_partition_with(
    image: &MetadataImage,
    broker_id: i32,
    broker_epoch: i64,
    items: &[AlterPartitionItem],
    defaults: &ControllerDefaults,
) -> (Vec<AlterPartitionOutcome>, Vec<MetadataRecord>) {
    let stale = image
        .broker(broker_id)
        .is_none_or(|b| b.epoch != broker_epoch);
    let mut working = image.clone();
    let mut records = Vec::new();
    let mut outcomes = Vec::with_capacity(items.len());
    for item in items {
        let result = if stale {
            Err(codes::STALE_BROKER_EPOCH)
        } else if records.len() as u64 >= MAX_RECORDS_PER_USER_OP {
            // One metadata entry holds at most this many records; the
            // leader asks again for the rest.
            Err(codes::OPERATION_NOT_ATTEMPTED)
        } else {
            match alter_one(&working, broker_id, item, defaults) {
                Ok((state, None)) => Ok(state),
                // Each item is decided on the image its predecessors
                // leave, so two items for one partition cannot both pass
                // the epoch check.
                Ok((state, Some(record))) => match working.apply(
                    std::slice::from_ref(&record),
                    working.offset().saturating_add(1),
                ) {
                    Ok(next) => {
                        working = next;
                        records.push(record);
                        Ok(state)
                    }
                    // A decided change that does not apply is a bug; the
                    // leader retries rather than believe it.
                    Err(_) => Err(codes::UNKNOWN_SERVER_ERROR),
                },
                Err(code) => Err(code),
            }
        };
        let result = match result {
            Ok(state) if state.leader != broker_id => Err(codes::NEW_LEADER_ELECTED),
            Ok(state) => Ok(AlteredPartition {
                leader: state.leader,
                leader_epoch: state.leader_epoch,
                partition_epoch: state.partition_epoch,
                isr: state.isr,
            }),
            Err(code) => Err(code),
        };
        outcomes.push(AlterPartitionOutcome {
            topic_id: item.topic_id,
            partition: item.partition,
            result,
        });
    }
    (outcomes, records)
}

/// One item: the partition's state after it, and the record if it changed.
fn alter_one(
    image: &MetadataImage,
    broker_id: i32,
    item: &AlterPartitionItem,
    defaults: &ControllerDefaults,
) -> Result<(PartitionImage, Option<MetadataRecord>), i16> {
    let topic = image
        .topic_by_id(item.topic_id)
        .ok_or(codes::UNKNOWN_TOPIC_ID)?;
    let current = topic
        .partitions
        .get(&item.partition)
        .ok_or(codes::UNKNOWN_TOPIC_OR_PARTITION)?;
    if item.leader_epoch > current.leader_epoch || item.partition_epoch > current.partition_epoch {
        return Err(codes::NOT_CONTROLLER);
    }
    if item.leader_epoch < current.leader_epoch {
        return Err(codes::FENCED_LEADER_EPOCH);
    }
    if broker_id != current.leader {
        return Err(codes::INVALID_REQUEST);
    }
    if item.partition_epoch < current.partition_epoch {
        return Err(codes::INVALID_UPDATE_VERSION);
    }
    let isr = &item.new_isr;
    let duplicate = isr.iter().enumerate().any(|(i, id)| isr[..i].contains(id));
    if duplicate
        || !isr.iter().all(|id| current.replicas.contains(id))
        || !isr.contains(&current.leader)
    {
        return Err(codes::INVALID_REQUEST);
    }
    if isr
        .iter()
        .any(|id| image.broker(*id).is_none_or(|b| !b.is_alive()))
    {
        return Err(codes::INELIGIBLE_REPLICA);
    }
    let election = super::broker_lifecycle::election_for(image, &topic.name, defaults);
    let changed = PartitionChange::new(current)
        .isr(isr.clone())
        .election(if election == Election::Unclean {
            Election::Unclean
        } else {
            Election::Online
        })
        .build(image);
    match changed {
        None => Ok((current.clone(), None)),
        Some(changed) => {
            if current.is_reassigning() && !changed.state.is_reassigning() {
                tracing::info!(
                    topic = %topic.name,
                    partition = item.partition,
                    replicas = ?changed.state.replicas,
                    "an ISR change from broker {broker_id} completed the reassignment of {}-{}",
                    topic.name,
                    item.partition
                );
            }
            let record = changed.state.to_record(topic.topic_id, item.partition);
            Ok((changed.state, Some(record)))
        }
    }
}
