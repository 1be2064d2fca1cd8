//! The pure controller decisions: each Kafka error outcome, its message, and
//! the records of the successes.

mod allocate_producer_ids;
mod alter_configs;
mod alter_partition;
mod broker_lifecycle;
mod brokers_and_errors;
mod create_partitions;
mod create_topics;
mod delete_topics;
mod elections;
mod lifecycle_model;
mod placement;
mod reassignment;

use std::collections::BTreeMap;

use rand::rngs::StdRng;
use rand::SeedableRng;
use strom_controller::decisions::create_topics_with_rng;
use strom_controller::{ControllerDefaults, CreateTopic, CreateTopicOutcome};
use strom_metadata::{BrokerRegistration, MetadataImage, MetadataRecord};

/// Kafka's controller defaults (unclean leader election off).
pub(crate) fn defaults() -> ControllerDefaults {
    ControllerDefaults::default()
}

pub(crate) fn registration(broker_id: i32) -> BrokerRegistration {
    BrokerRegistration {
        broker_id,
        incarnation_id: 1,
        listeners: vec![],
        rack: None,
        fenced: false,
        in_controlled_shutdown: false,
        epoch: -1,
    }
}

pub(crate) fn cluster(brokers: &[i32]) -> MetadataImage {
    let records: Vec<MetadataRecord> = brokers
        .iter()
        .map(|id| registration(*id).to_record())
        .collect();
    MetadataImage::empty()
        .apply(&records, 0)
        .expect("brokers register")
}

/// Brokers `(id, rack, fenced)`, registered in one entry at offset 0 (so
/// every broker epoch is 0).
pub(crate) fn racked_cluster(brokers: &[(i32, Option<&str>, bool)]) -> MetadataImage {
    let records: Vec<MetadataRecord> = brokers
        .iter()
        .map(|(id, rack, fenced)| {
            BrokerRegistration {
                rack: rack.map(str::to_string),
                fenced: *fenced,
                ..registration(*id)
            }
            .to_record()
        })
        .collect();
    MetadataImage::empty()
        .apply(&records, 0)
        .expect("brokers register")
}

/// The image after `records`, applied as the next entry.
pub(crate) fn then(image: &MetadataImage, records: &[MetadataRecord]) -> MetadataImage {
    image
        .apply(records, image.offset() + 1)
        .expect("decided records apply")
}

pub(crate) fn topic(name: &str, num_partitions: i32, replication_factor: i16) -> CreateTopic {
    CreateTopic {
        name: name.into(),
        num_partitions,
        replication_factor,
        assignments: vec![],
        configs: BTreeMap::new(),
    }
}

pub(crate) fn manual(name: &str, assignments: &[(i32, &[i32])]) -> CreateTopic {
    CreateTopic {
        assignments: assignments.iter().map(|(p, r)| (*p, r.to_vec())).collect(),
        ..topic(name, -1, -1)
    }
}

pub(crate) fn accept_all(_: &BTreeMap<String, String>) -> Result<(), String> {
    Ok(())
}

pub(crate) fn create(
    image: &MetadataImage,
    topics: &[CreateTopic],
) -> Vec<(CreateTopicOutcome, Vec<MetadataRecord>)> {
    let mut rng = StdRng::seed_from_u64(11);
    create_topics_with_rng(
        image,
        topics,
        &ControllerDefaults::default(),
        &accept_all,
        &mut rng,
    )
}

pub(crate) fn error_of(image: &MetadataImage, topic: CreateTopic) -> (i16, String) {
    let results = create(image, &[topic]);
    assert_eq!(results.len(), 1);
    let (outcome, records) = &results[0];
    assert!(records.is_empty(), "a failed topic writes nothing");
    assert_eq!(
        (
            outcome.num_partitions,
            outcome.replication_factor,
            outcome.topic_id
        ),
        (-1, -1, None)
    );
    let error = outcome.error.clone().expect("the topic should fail");
    (error.code(), error.message().to_string())
}

/// The image after the successful topics of `results`.
pub(crate) fn applied(
    image: &MetadataImage,
    results: &[(CreateTopicOutcome, Vec<MetadataRecord>)],
) -> MetadataImage {
    let records: Vec<MetadataRecord> = results.iter().flat_map(|(_, r)| r.clone()).collect();
    image
        .apply(&records, image.offset() + 1)
        .expect("decided records apply")
}
