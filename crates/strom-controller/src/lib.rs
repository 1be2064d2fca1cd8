//! The metadata controller: decides topic, partition and broker changes and
//! writes them as records to the metadata log, which a Raft quorum
//! (openraft) orders and makes durable.
//!
//! Functional core, imperative shell: [`decisions`] are pure functions over
//! a [`strom_metadata::MetadataImage`]; [`Controller::start`] runs the quorum
//! and the single task that feeds it. The quorum has one voter by default,
//! so clustering later adds voters and a network transport without changing
//! how metadata flows.

mod bootstrap;
mod controller;
pub mod decisions;
mod error;
mod raft;
mod rpc;
mod security;
#[cfg(test)]
mod sim;

pub use bootstrap::{bootstrap_records_path, write_bootstrap_records, BOOTSTRAP_RECORDS_FILE};
pub use controller::{
    Controller, ControllerConfig, ControllerHandle, LeaderRebalance, TopicConfigValidator,
};
pub use decisions::{
    AlterConfigs, AlterConfigsOutcome, AlterPartitionItem, AlterPartitionOutcome, AlteredPartition,
    BrokerHeartbeat, BrokerHeartbeatOutcome, ClientQuotaAlteration, ClientQuotaOutcome,
    ControllerDefaults, CreatePartitions, CreatePartitionsOutcome, CreateTopic, CreateTopicOutcome,
    DeleteTopic, DeleteTopicOutcome, ElectLeadersOutcome, ElectLeadersTarget, ElectionType,
    OngoingReassignment, ProducerIdsBlock, ReassignPartition, ReassignPartitionOutcome, TopicRef,
    PRODUCER_ID_BLOCK_SIZE,
};
pub use decisions::{AlterScramOutcome, ScramDeletion, ScramUpsertion};
pub use error::{ControllerError, StartError, StoreError};
pub use rpc::{QuorumDescription, ReplicaProgress};
pub use security::{
    FixedQuorumTls, PlainCredentials, QuorumSasl, QuorumSecurity, QuorumTls, TlsAcceptor,
    TlsConnector,
};
