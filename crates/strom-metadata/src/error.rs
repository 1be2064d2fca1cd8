//! Errors of the metadata model. A record that does not fit the image is an
//! error value, never a panic: records come from disk, and a damaged or
//! foreign metadata log must produce a message, not a crash.

use thiserror::Error;

use crate::topic_id::TopicId;

/// A topic name that Kafka would reject; `message` is Kafka's text.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[error("{message}")]
pub struct InvalidTopicName {
    pub message: String,
}

/// Text that is not Kafka's base64 form of a topic id.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[error("'{input}' is not a topic id: expected 22 characters of URL-safe base64, as printed by kafka-topics.sh")]
pub struct TopicIdParseError {
    pub input: String,
}

/// A record that cannot be applied to the image. `index` is the record's
/// position in the batch passed to [`crate::MetadataImage::apply`]; the image
/// is left unchanged.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum MetadataError {
    #[error("metadata offset {offset} does not follow the image's offset {image_offset}; records must be applied in log order")]
    OffsetNotIncreasing { offset: i64, image_offset: i64 },

    #[error("metadata record {index}: {reason}")]
    InvalidTopicName {
        index: usize,
        reason: InvalidTopicName,
    },

    #[error("metadata record {index}: topic id {topic_id} is reserved and cannot name a topic")]
    ReservedTopicId { index: usize, topic_id: TopicId },

    #[error("metadata record {index}: topic '{name}' already exists")]
    DuplicateTopicName { index: usize, name: String },

    #[error("metadata record {index}: topic id {topic_id} already names topic '{existing}'")]
    DuplicateTopicId {
        index: usize,
        topic_id: TopicId,
        existing: String,
    },

    #[error("metadata record {index}: no topic has id {topic_id}")]
    UnknownTopicId { index: usize, topic_id: TopicId },

    #[error("metadata record {index}: no ACL has id {id:032x}")]
    UnknownAcl { index: usize, id: u128 },

    #[error("metadata record {index}: invalid ACL: {reason}")]
    InvalidAcl { index: usize, reason: String },

    #[error("metadata record {index}: no topic is named '{name}'")]
    UnknownTopic { index: usize, name: String },

    #[error(
        "metadata record {index}: partition {partition} of topic {topic_id} is invalid: {reason}"
    )]
    InvalidPartition {
        index: usize,
        topic_id: TopicId,
        partition: i32,
        reason: String,
    },

    #[error("metadata record {index}: broker id {broker_id} is negative")]
    InvalidBrokerId { index: usize, broker_id: i32 },

    #[error("metadata record {index}: a config name must not be empty")]
    EmptyConfigName { index: usize },

    #[error("metadata record {index}: next producer id {next_producer_id} does not pass the current {current}; producer ids must never be handed out twice")]
    ProducerIdNotIncreasing {
        index: usize,
        next_producer_id: i64,
        current: i64,
    },
}
