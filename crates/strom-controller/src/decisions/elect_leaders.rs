//! ElectLeaders (preferred and unclean elections asked for by an admin)
//! and the automatic leader rebalance, decided as Kafka's controller
//! decides them (`ReplicationControlManager.electLeaders`; the rebalance
//! follows the per-broker imbalance rule of Kafka's
//! `auto.leader.rebalance.enable` / `leader.imbalance.per.broker.percentage`).

use strom_metadata::{MetadataImage, MetadataRecord, PartitionImage, TopicImage};

use super::broker_lifecycle::log_election;
use super::codes;
use super::partition_change::{is_alive, Election, PartitionChange};
use super::MAX_RECORDS_PER_USER_OP;

/// The most preferred-leader elections one rebalance round writes (Kafka's
/// `maxElectionsPerImbalance`); the next round does the rest.
pub const MAX_ELECTIONS_PER_IMBALANCE: usize = 1000;

/// Kafka's `ElectionType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ElectionType {
    /// Make the first replica the leader if it is a live ISR member (0).
    Preferred,
    /// Give a leaderless partition a leader, from outside the ISR if no
    /// ISR member is alive (1).
    Unclean,
}

impl ElectionType {
    /// The wire value's type, or `None` for an unknown one.
    pub fn from_wire(value: i8) -> Option<ElectionType> {
        match value {
            0 => Some(ElectionType::Preferred),
            1 => Some(ElectionType::Unclean),
            _ => None,
        }
    }
}

/// Which partitions an ElectLeaders request names: `None` for every
/// partition.
pub type ElectLeadersTarget = Option<Vec<(String, Vec<i32>)>>;

/// The answer for one partition: Kafka's error code (0 for none) and
/// message.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ElectLeadersOutcome {
    pub topic: String,
    pub partition: i32,
    pub error_code: i16,
    pub error_message: Option<String>,
}

/// Decides an ElectLeaders request: one outcome per named partition (for
/// every partition, only those where an election was needed, as Kafka
/// answers a request without topics) and the records of the elections.
pub fn elect_leaders(
    image: &MetadataImage,
    election_type: ElectionType,
    partitions: &ElectLeadersTarget,
) -> (Vec<ElectLeadersOutcome>, Vec<MetadataRecord>) {
    let mut records = Vec::new();
    let mut outcomes = Vec::new();
    let decide = |topic: &str, partition: i32, records: &mut Vec<MetadataRecord>| {
        let (error_code, error_message) = if records.len() as u64 >= MAX_RECORDS_PER_USER_OP {
            (
                    codes::OPERATION_NOT_ATTEMPTED,
                    Some(format!(
                        "The request elects more than {MAX_RECORDS_PER_USER_OP} leaders; ask again for the rest."
                    )),
                )
        } else {
            match elect_one(image, topic, partition, election_type) {
                Ok(record) => {
                    records.push(record);
                    (codes::NONE, None)
                }
                Err((code, message)) => (code, message),
            }
        };
        ElectLeadersOutcome {
            topic: topic.to_string(),
            partition,
            error_code,
            error_message,
        }
    };
    match partitions {
        None => {
            for topic in image.topics() {
                for partition in topic.partitions.keys() {
                    let outcome = decide(&topic.name, *partition, &mut records);
                    if outcome.error_code != codes::ELECTION_NOT_NEEDED {
                        outcomes.push(outcome);
                    }
                }
            }
        }
        Some(named) => {
            for (topic, partitions) in named {
                for partition in partitions {
                    outcomes.push(decide(topic, *partition, &mut records));
                }
            }
        }
    }
    (outcomes, records)
}

fn elect_one(
    image: &MetadataImage,
    topic_name: &str,
    partition: i32,
    election_type: ElectionType,
) -> Result<MetadataRecord, (i16, Option<String>)> {
    let unknown = |message: String| (codes::UNKNOWN_TOPIC_OR_PARTITION, Some(message));
    let topic = image
        .topic(topic_name)
        .ok_or_else(|| unknown(format!("No such topic as {topic_name}")))?;
    let state = topic
        .partitions
        .get(&partition)
        .ok_or_else(|| unknown(format!("No such partition as {topic_name}-{partition}")))?;
    let not_needed = match election_type {
        ElectionType::Preferred => state.replicas.first() == Some(&state.leader),
        ElectionType::Unclean => state.leader != -1,
    };
    if not_needed {
        return Err((codes::ELECTION_NOT_NEEDED, None));
    }
    let election = match election_type {
        ElectionType::Preferred => Election::Preferred,
        ElectionType::Unclean => Election::Unclean,
    };
    match PartitionChange::new(state).election(election).build(image) {
        Some(changed) => {
            log_election(topic, partition, &changed);
            Ok(changed.state.to_record(topic.topic_id, partition))
        }
        None => Err(match election_type {
            ElectionType::Preferred => (codes::PREFERRED_LEADER_NOT_AVAILABLE, None),
            ElectionType::Unclean => (codes::ELIGIBLE_LEADERS_NOT_AVAILABLE, None),
        }),
    }
}

/// One round of the automatic leader rebalance: for every broker whose
/// share of partitions it is preferred for but does not lead is above
/// `imbalance_percentage`, leadership of those partitions goes back to it
/// where it is alive and in the ISR (partitions being reassigned are left
/// alone). At most [`MAX_ELECTIONS_PER_IMBALANCE`] elections.
pub fn leader_rebalance(image: &MetadataImage, imbalance_percentage: i32) -> Vec<MetadataRecord> {
    use std::collections::BTreeMap;
    // Per preferred broker: partitions it is preferred for, and those it
    // does not lead.
    type NotLed<'a> = Vec<(&'a TopicImage, i32, &'a PartitionImage)>;
    let mut preferred: BTreeMap<i32, (usize, NotLed<'_>)> = BTreeMap::new();
    for topic in image.topics() {
        for (partition, state) in &topic.partitions {
            let Some(first) = state.replicas.first().copied() else {
                continue;
            };
            let entry = preferred.entry(first).or_default();
            entry.0 += 1;
            if state.leader != first {
                entry.1.push((topic, *partition, state));
            }
        }
    }
    let mut records = Vec::new();
    for (broker_id, (total, not_led)) in preferred {
        if not_led.is_empty() || !is_alive(image, broker_id) {
            continue;
        }
        // ratio > percentage / 100, in integers.
        let over =
            (not_led.len() as u128) * 100 > (total as u128) * (imbalance_percentage.max(0) as u128);
        if !over {
            continue;
        }
        tracing::info!(
            broker_id,
            not_led = not_led.len(),
            preferred_for = total,
            "broker {broker_id} leads too few of the partitions it is preferred for (leader.imbalance.per.broker.percentage={imbalance_percentage}): moving their leadership back"
        );
        for (topic, partition, state) in not_led {
            if records.len() >= MAX_ELECTIONS_PER_IMBALANCE {
                return records;
            }
            if state.is_reassigning() || !state.isr.contains(&broker_id) {
                continue;
            }
            if let Some(changed) = PartitionChange::new(state)
                .election(Election::Preferred)
                .build(image)
            {
                records.push(changed.state.to_record(topic.topic_id, partition));
            }
        }
    }
    records
}
