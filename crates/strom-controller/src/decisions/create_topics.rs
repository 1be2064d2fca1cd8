//! CreateTopics, decided as Kafka's controller decides it
//! (`ControllerApis.createTopics` + `ReplicationControlManager.createTopics`):
//! the checks, their order and their messages are Kafka's, so clients and
//! scripts that match on them keep working.

use std::collections::{BTreeMap, HashMap, HashSet};

use rand::{Rng, RngCore};
use strom_metadata::{
    validate_topic_name, ConfigResource, MetadataImage, MetadataRecord, TopicId,
    CLUSTER_METADATA_TOPIC_NAME,
};

use super::placement::place_replicas;
use super::{config_value_too_large, MAX_CONFIG_VALUE_BYTES, MAX_RECORDS_PER_USER_OP};
use crate::error::ControllerError;

/// One topic of a CreateTopics request.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CreateTopic {
    pub name: String,
    /// -1 for the broker default (`num.partitions`).
    pub num_partitions: i32,
    /// -1 for the broker default (`default.replication.factor`).
    pub replication_factor: i16,
    /// Manual placement: (partition index, replica broker ids). When given,
    /// `num_partitions` and `replication_factor` must be -1.
    pub assignments: Vec<(i32, Vec<i32>)>,
    /// Topic config overrides.
    pub configs: BTreeMap<String, String>,
}

/// The result for one topic name.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CreateTopicOutcome {
    pub name: String,
    /// The new topic's id; `None` on error and in validate-only mode (no
    /// topic was created, so there is no id; Kafka sends the zero id).
    pub topic_id: Option<TopicId>,
    /// -1 on error, as Kafka answers.
    pub num_partitions: i32,
    /// -1 on error, as Kafka answers.
    pub replication_factor: i16,
    /// The topic's config overrides as created (empty on error), for the
    /// configs a CreateTopics v5+ response returns (KIP-525).
    pub configs: BTreeMap<String, String>,
    pub error: Option<ControllerError>,
}

impl CreateTopicOutcome {
    pub(crate) fn failed(name: &str, error: ControllerError) -> CreateTopicOutcome {
        CreateTopicOutcome {
            name: name.to_string(),
            topic_id: None,
            num_partitions: -1,
            replication_factor: -1,
            configs: BTreeMap::new(),
            error: Some(error),
        }
    }
}

/// The broker defaults that `-1` in a request stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ControllerDefaults {
    /// `num.partitions`
    pub num_partitions: i32,
    /// `default.replication.factor`
    pub default_replication_factor: i16,
    /// `unclean.leader.election.enable` in the controller's own
    /// configuration: what applies to a topic without an override when the
    /// cluster has no dynamic default either.
    pub unclean_leader_election_enable: bool,
    /// This controller's node id: its own dynamic broker configs come
    /// before the cluster-wide ones (as Kafka's `currentControllerConfig`).
    /// The driver sets it.
    pub controller_id: Option<i32>,
}

impl Default for ControllerDefaults {
    /// Kafka's defaults: one partition, one replica.
    fn default() -> Self {
        ControllerDefaults {
            num_partitions: 1,
            default_replication_factor: 1,
            unclean_leader_election_enable: false,
            controller_id: None,
        }
    }
}

/// Checks topic config overrides; `Err` carries the message for
/// `INVALID_CONFIG`.
pub type ValidateConfigs<'a> = &'a dyn Fn(&BTreeMap<String, String>) -> Result<(), String>;

/// Decides a CreateTopics request against `image`, with randomness from the
/// operating system. See [`create_topics_with_rng`].
pub fn create_topics(
    image: &MetadataImage,
    topics: &[CreateTopic],
    defaults: &ControllerDefaults,
    validate_configs: ValidateConfigs<'_>,
) -> Vec<(CreateTopicOutcome, Vec<MetadataRecord>)> {
    create_topics_with_rng(
        image,
        topics,
        defaults,
        validate_configs,
        &mut rand::thread_rng(),
    )
}

/// Decides a CreateTopics request against `image`: one outcome per distinct
/// topic name, in the order names first appear, each with the records that
/// create it (none on error). The records of all outcomes, concatenated,
/// form one atomic metadata log entry.
///
/// Topics are decided in order against the image as changed by the topics
/// before them, so a request cannot create two topics whose names collide.
/// `rng` picks topic ids and the placement start.
pub fn create_topics_with_rng(
    image: &MetadataImage,
    topics: &[CreateTopic],
    defaults: &ControllerDefaults,
    validate_configs: ValidateConfigs<'_>,
    rng: &mut dyn RngCore,
) -> Vec<(CreateTopicOutcome, Vec<MetadataRecord>)> {
    let mut occurrences: HashMap<&str, usize> = HashMap::new();
    for topic in topics {
        *occurrences.entry(topic.name.as_str()).or_default() += 1;
    }
    let is_duplicate = |name: &str| occurrences.get(name).is_some_and(|n| *n > 1);
    let mut seen = HashSet::new();
    let distinct: Vec<&CreateTopic> = topics
        .iter()
        .filter(|t| seen.insert(t.name.as_str()))
        .collect();

    let unique: Vec<&CreateTopic> = distinct
        .iter()
        .copied()
        .filter(|t| !is_duplicate(&t.name))
        .collect();
    if requested_partitions(&unique, defaults)
        > MAX_RECORDS_PER_USER_OP.saturating_sub(unique.len() as u64)
    {
        // Kafka fails the whole request; every topic gets the error.
        let error = ControllerError::PolicyViolation(
            "Excessively large number of partitions per request.".into(),
        );
        return distinct
            .iter()
            .map(|t| {
                (
                    CreateTopicOutcome::failed(&t.name, error.clone()),
                    Vec::new(),
                )
            })
            .collect();
    }

    let mut working = image.clone();
    let mut results = Vec::with_capacity(distinct.len());
    for topic in distinct {
        if is_duplicate(&topic.name) {
            let error = ControllerError::InvalidRequest("Duplicate topic name.".into());
            results.push((CreateTopicOutcome::failed(&topic.name, error), Vec::new()));
            continue;
        }
        let decided = create_topic(&working, topic, defaults, validate_configs, rng).and_then(
            |(outcome, records)| {
                let next = working
                    .apply(&records, working.offset().saturating_add(1))
                    .map_err(|e| {
                        ControllerError::UnknownServerError(format!(
                            "The controller produced an invalid record: {e}"
                        ))
                    })?;
                working = next;
                Ok((outcome, records))
            },
        );
        results.push(match decided {
            Ok(success) => success,
            Err(error) => (CreateTopicOutcome::failed(&topic.name, error), Vec::new()),
        });
    }
    results
}

/// The partitions a request asks for, as `validateTotalNumberOfPartitions`
/// counts them.
fn requested_partitions(topics: &[&CreateTopic], defaults: &ControllerDefaults) -> u64 {
    topics
        .iter()
        .map(|t| {
            if !t.assignments.is_empty() {
                t.assignments.len() as u64
            } else if t.num_partitions == -1 {
                u64::try_from(defaults.num_partitions).unwrap_or(0)
            } else {
                u64::try_from(t.num_partitions).unwrap_or(0)
            }
        })
        .sum()
}

fn create_topic(
    image: &MetadataImage,
    topic: &CreateTopic,
    defaults: &ControllerDefaults,
    validate_configs: ValidateConfigs<'_>,
    rng: &mut dyn RngCore,
) -> Result<(CreateTopicOutcome, Vec<MetadataRecord>), ControllerError> {
    let name = topic.name.as_str();
    if name == CLUSTER_METADATA_TOPIC_NAME {
        return Err(ControllerError::InvalidRequest(format!(
            "Creation of internal topic {CLUSTER_METADATA_TOPIC_NAME} is prohibited."
        )));
    }
    validate_topic_name(name).map_err(|e| ControllerError::InvalidTopicException(e.message))?;
    if image.topic(name).is_some() {
        return Err(ControllerError::TopicAlreadyExists(format!(
            "Topic '{name}' already exists."
        )));
    }
    if let Some(existing) = image.colliding_topic(name) {
        return Err(ControllerError::InvalidTopicException(format!(
            "Topic '{name}' collides with existing topic: {existing}"
        )));
    }
    if topic.configs.contains_key("") {
        return Err(ControllerError::InvalidConfig(
            "Unknown topic config name: ".into(),
        ));
    }
    if topic
        .configs
        .values()
        .any(|v| v.len() > MAX_CONFIG_VALUE_BYTES)
    {
        return Err(config_value_too_large());
    }
    validate_configs(&topic.configs).map_err(ControllerError::InvalidConfig)?;

    let replicas = if topic.assignments.is_empty() {
        placed_replicas(image, topic, defaults, rng)?
    } else {
        manual_replicas(image, topic)?
    };

    let mut topic_id = TopicId::random(|| rng.gen());
    while image.topic_by_id(topic_id).is_some() {
        topic_id = TopicId::random(|| rng.gen());
    }
    let mut records = Vec::with_capacity(1 + topic.configs.len() + replicas.len());
    records.push(MetadataRecord::Topic {
        name: name.to_string(),
        topic_id,
    });
    records.extend(
        topic
            .configs
            .iter()
            .map(|(key, value)| MetadataRecord::Config {
                resource: ConfigResource::Topic(name.to_string()),
                name: key.clone(),
                value: Some(value.clone()),
            }),
    );
    let replication_factor = replicas.first().map_or(0, Vec::len);
    let num_partitions = replicas.len();
    records.extend(
        replicas
            .into_iter()
            .enumerate()
            .map(|(partition, replicas)| {
                let partition = i32::try_from(partition).unwrap_or(i32::MAX);
                new_partition_record(image, topic_id, partition, replicas)
            }),
    );
    let outcome = CreateTopicOutcome {
        name: name.to_string(),
        topic_id: Some(topic_id),
        num_partitions: i32::try_from(num_partitions).unwrap_or(i32::MAX),
        replication_factor: i16::try_from(replication_factor).unwrap_or(i16::MAX),
        configs: topic.configs.clone(),
        error: None,
    };
    Ok((outcome, records))
}

fn placed_replicas(
    image: &MetadataImage,
    topic: &CreateTopic,
    defaults: &ControllerDefaults,
    rng: &mut dyn RngCore,
) -> Result<Vec<Vec<i32>>, ControllerError> {
    if topic.replication_factor < -1 || topic.replication_factor == 0 {
        return Err(ControllerError::InvalidReplicationFactor(
            "Replication factor must be larger than 0, or -1 to use the default value.".into(),
        ));
    }
    if topic.num_partitions < -1 || topic.num_partitions == 0 {
        return Err(ControllerError::InvalidPartitions(
            "Number of partitions was set to an invalid non-positive value.".into(),
        ));
    }
    let num_partitions = if topic.num_partitions == -1 {
        defaults.num_partitions
    } else {
        topic.num_partitions
    };
    let replication_factor = if topic.replication_factor == -1 {
        defaults.default_replication_factor
    } else {
        topic.replication_factor
    };
    if num_partitions <= 0 {
        return Err(ControllerError::InvalidPartitions(
            "Number of partitions was set to an invalid non-positive value.".into(),
        ));
    }
    place_replicas(image, num_partitions, replication_factor, rng).map_err(|e| match e {
        ControllerError::InvalidReplicationFactor(message) => {
            ControllerError::InvalidReplicationFactor(format!(
                "Unable to replicate the partition {replication_factor} time(s): {message}"
            ))
        }
        other => other,
    })
}

fn manual_replicas(
    image: &MetadataImage,
    topic: &CreateTopic,
) -> Result<Vec<Vec<i32>>, ControllerError> {
    if topic.replication_factor != -1 {
        return Err(ControllerError::InvalidRequest(
            "A manual partition assignment was specified, but replication factor was not set to -1.".into(),
        ));
    }
    if topic.num_partitions != -1 {
        return Err(ControllerError::InvalidRequest(
            "A manual partition assignment was specified, but numPartitions was not set to -1."
                .into(),
        ));
    }
    let mut by_partition: BTreeMap<i32, Vec<i32>> = BTreeMap::new();
    let mut replication_factor = None;
    for (partition, replicas) in &topic.assignments {
        if by_partition.contains_key(partition) {
            return Err(ControllerError::InvalidReplicaAssignment(format!(
                "Found multiple manual partition assignments for partition {partition}"
            )));
        }
        validate_manual_assignment(image, replicas, replication_factor)?;
        require_a_live_replica(image, replicas, *partition)?;
        replication_factor = Some(replicas.len());
        by_partition.insert(*partition, replicas.clone());
    }
    let consecutive = by_partition
        .keys()
        .enumerate()
        .all(|(i, partition)| usize::try_from(*partition).is_ok_and(|p| p == i));
    if !consecutive {
        return Err(ControllerError::InvalidReplicaAssignment(
            "partitions should be a consecutive 0-based integer sequence".into(),
        ));
    }
    Ok(by_partition.into_values().collect())
}

/// Kafka's `validateManualPartitionAssignment`, also used when adding
/// partitions.
pub(crate) fn validate_manual_assignment(
    image: &MetadataImage,
    replicas: &[i32],
    replication_factor: Option<usize>,
) -> Result<(), ControllerError> {
    if replicas.is_empty() {
        return Err(ControllerError::InvalidReplicaAssignment(
            "The manual partition assignment includes an empty replica list.".into(),
        ));
    }
    let mut sorted = replicas.to_vec();
    sorted.sort_unstable();
    let mut previous = None;
    for broker_id in sorted {
        if image.broker(broker_id).is_none() {
            return Err(ControllerError::InvalidReplicaAssignment(format!(
                "The manual partition assignment includes broker {broker_id}, but no such broker is registered."
            )));
        }
        if previous == Some(broker_id) {
            return Err(ControllerError::InvalidReplicaAssignment(format!(
                "The manual partition assignment includes the broker {broker_id} more than once."
            )));
        }
        previous = Some(broker_id);
    }
    if let Some(expected) = replication_factor.filter(|rf| *rf != replicas.len()) {
        return Err(ControllerError::InvalidReplicaAssignment(format!(
            "The manual partition assignment includes a partition with {} replica(s), but this is not consistent with previous partitions, which have {expected} replica(s).",
            replicas.len()
        )));
    }
    Ok(())
}

/// Kafka's answer when no replica of a manually placed partition could lead
/// it: every broker named is fenced or in controlled shutdown.
pub(crate) fn require_a_live_replica(
    image: &MetadataImage,
    replicas: &[i32],
    partition: i32,
) -> Result<(), ControllerError> {
    if replicas
        .iter()
        .any(|id| image.broker(*id).is_some_and(|b| b.is_alive()))
    {
        return Ok(());
    }
    Err(ControllerError::InvalidReplicaAssignment(format!(
        "All brokers specified in the manual partition assignment for partition {partition} are fenced or in controlled shutdown."
    )))
}

/// The record of a new partition on `replicas`.
///
/// As Kafka's: every live replica (unfenced, not shutting down) is in the
/// ISR, since a new partition is empty and every replica holds all of it;
/// the first of them, in replica order, leads (the placer puts a live
/// broker first; a manual assignment may not). A fenced replica stays out
/// of the ISR and joins it once it has caught up, like any follower.
pub(crate) fn new_partition_record(
    image: &MetadataImage,
    topic_id: TopicId,
    partition: i32,
    replicas: Vec<i32>,
) -> MetadataRecord {
    let isr: Vec<i32> = replicas
        .iter()
        .copied()
        .filter(|id| image.broker(*id).is_some_and(|b| b.is_alive()))
        .collect();
    let leader = isr.first().copied().unwrap_or(-1);
    MetadataRecord::Partition {
        topic_id,
        partition,
        replicas,
        isr,
        leader,
        leader_epoch: 0,
        partition_epoch: 0,
        adding_replicas: vec![],
        removing_replicas: vec![],
    }
}
