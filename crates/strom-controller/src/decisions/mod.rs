//! Controller decisions: pure functions from the current metadata image and
//! a request to an answer plus the records that carry it out. Nothing here
//! awaits or touches a file; randomness comes in as an argument. The driver
//! (`controller.rs`) writes the records through the quorum.

mod acls;
mod allocate_producer_ids;
mod alter_client_quotas;
mod alter_configs;
mod alter_partition;
mod broker_lifecycle;
mod create_partitions;
mod create_topics;
mod delete_topics;
mod elect_leaders;
mod partition_change;
mod placement;
mod reassignment;
mod register_broker;
mod scram;

/// Kafka error codes that decisions answer per partition as numbers (the
/// replication APIs' results are codes, not [`crate::ControllerError`]s).
pub mod codes {
    pub const UNKNOWN_SERVER_ERROR: i16 = -1;
    pub const NONE: i16 = 0;
    pub const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
    pub const NOT_CONTROLLER: i16 = 41;
    pub const INVALID_REQUEST: i16 = 42;
    pub const INVALID_REPLICA_ASSIGNMENT: i16 = 39;
    pub const OPERATION_NOT_ATTEMPTED: i16 = 55;
    pub const FENCED_LEADER_EPOCH: i16 = 74;
    pub const STALE_BROKER_EPOCH: i16 = 77;
    pub const PREFERRED_LEADER_NOT_AVAILABLE: i16 = 80;
    pub const ELIGIBLE_LEADERS_NOT_AVAILABLE: i16 = 83;
    pub const ELECTION_NOT_NEEDED: i16 = 84;
    pub const NO_REASSIGNMENT_IN_PROGRESS: i16 = 85;
    pub const INVALID_UPDATE_VERSION: i16 = 95;
    pub const UNKNOWN_TOPIC_ID: i16 = 100;
    pub const INELIGIBLE_REPLICA: i16 = 107;
    pub const NEW_LEADER_ELECTED: i16 = 108;
}

pub use acls::{create_acls, delete_acls};
pub use allocate_producer_ids::{
    allocate_producer_ids, ProducerIdsBlock, MAX_PRODUCER_ID_BLOCK_SIZE, PRODUCER_ID_BLOCK_SIZE,
};
pub use alter_client_quotas::{
    alter_client_quotas, validate_quota_value, ClientQuotaAlteration, ClientQuotaOutcome,
};
pub use alter_configs::{alter_configs, AlterConfigs, AlterConfigsOutcome};
pub use alter_partition::{
    alter_partition, alter_partition_with, AlterPartitionItem, AlterPartitionOutcome,
    AlteredPartition,
};
pub use broker_lifecycle::{
    broker_heartbeat, elect_leaderless_after_config, fence_broker, fence_brokers, BrokerHeartbeat,
    BrokerHeartbeatOutcome,
};
pub use create_partitions::{create_partitions, CreatePartitions, CreatePartitionsOutcome};
pub use create_topics::{
    create_topics, create_topics_with_rng, ControllerDefaults, CreateTopic, CreateTopicOutcome,
    ValidateConfigs,
};
pub use delete_topics::{delete_topics, DeleteTopic, DeleteTopicOutcome, TopicRef};
pub use elect_leaders::{
    elect_leaders, leader_rebalance, ElectLeadersOutcome, ElectLeadersTarget, ElectionType,
    MAX_ELECTIONS_PER_IMBALANCE,
};
pub use placement::place_replicas;
pub use reassignment::{
    alter_partition_reassignments, list_partition_reassignments, OngoingReassignment,
    ReassignPartition, ReassignPartitionOutcome,
};
pub use register_broker::register_broker;
pub use scram::{
    alter_scram_credentials, AlterScramOutcome, ScramDeletion, ScramUpsertion,
    SCRAM_MAX_ITERATIONS, SCRAM_MIN_ITERATIONS,
};

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
