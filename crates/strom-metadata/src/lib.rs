//! Cluster metadata as data: the records the controller writes to the
//! metadata log, and the immutable image that replaying them builds.
//!
//! This crate is the functional core of metadata handling. It does no I/O and
//! never awaits, so the same replay runs in the controller (to decide), in the
//! broker (to serve), on restart (from a snapshot plus the log tail) and in
//! tests, and all of them agree because replay is deterministic. Durability
//! and ordering live in `strom-controller`.

pub mod acl;
mod client_quota;
mod error;
mod image;
mod record;
mod topic_id;
mod topic_name;

pub use client_quota::{
    ClientQuotaEntity, ClientQuotas, QuotaValue, QUOTA_ENTITY_CLIENT_ID, QUOTA_ENTITY_IP,
    QUOTA_ENTITY_USER,
};
pub use error::{InvalidTopicName, MetadataError, TopicIdParseError};
pub use image::{
    BrokerRegistration, MetadataImage, PartitionImage, ScramCredentialImage, TopicImage,
};
pub use record::{BrokerEndpoint, ConfigResource, MetadataRecord};
pub use topic_id::TopicId;
pub use topic_name::{
    has_collision_chars, is_internal_topic, topic_names_collide, unify_collision_chars,
    validate_topic_name, CLUSTER_METADATA_TOPIC_NAME, GROUP_METADATA_TOPIC_NAME,
    MAX_TOPIC_NAME_LENGTH, TRANSACTION_STATE_TOPIC_NAME,
};
