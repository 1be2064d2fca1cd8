//! Controller decisions: pure functions from the current metadata image and
//! a request to an answer plus the records that carry it out. Nothing here
//! awaits or touches a file; randomness comes in as an argument. The driver
//! (`controller.rs`) writes the records through the quorum.

mod allocate_producer_ids;
mod alter_configs;
mod broker_lifecycle;
mod create_partitions;
mod create_topics;
mod delete_topics;
mod placement;
mod register_broker;

pub use allocate_producer_ids::{
    allocate_producer_ids, ProducerIdsBlock, MAX_PRODUCER_ID_BLOCK_SIZE, PRODUCER_ID_BLOCK_SIZE,
};
pub use alter_configs::{alter_configs, AlterConfigs, AlterConfigsOutcome};
pub use broker_lifecycle::{
    broker_heartbeat, fence_broker, fence_brokers, BrokerHeartbeat, BrokerHeartbeatOutcome,
};
pub use create_partitions::{create_partitions, CreatePartitions, CreatePartitionsOutcome};
pub use create_topics::{
    create_topics, create_topics_with_rng, ControllerDefaults, CreateTopic, CreateTopicOutcome,
    ValidateConfigs,
};
pub use delete_topics::{delete_topics, DeleteTopic, DeleteTopicOutcome, TopicRef};
pub use placement::place_replicas;
pub use register_broker::register_broker;

/// The most records one request may produce (Kafka's
/// `MAX_RECORDS_PER_USER_OP`); it bounds what a client can make the
/// controller allocate and write in one go.
pub const MAX_RECORDS_PER_USER_OP: u64 = 10_000;

/// The longest config value Kafka stores (a 16-bit length field).
pub const MAX_CONFIG_VALUE_BYTES: usize = i16::MAX as usize;

/// Kafka's answer to a config value over [`MAX_CONFIG_VALUE_BYTES`].
pub(crate) fn config_value_too_large() -> crate::error::ControllerError {
    crate::error::ControllerError::InvalidConfig(format!(
        "The configuration value cannot be added because it exceeds the maximum value size of {MAX_CONFIG_VALUE_BYTES} bytes."
    ))
}
