//! Strom's async Rust client: it speaks Kafka's wire protocol to any
//! Kafka-compatible broker and knows nothing of Strom's broker crates.
//!
//! So far: [`Connection`] (frames, correlation ids, request headers, API
//! version negotiation, timeouts) and [`AdminClient`] (classic and KIP-848
//! consumer groups, committed offsets, log end offsets, metadata, topics
//! and their configs, leader elections, partition reassignments and
//! transactions: list, describe, producers, abort), a [`Producer`]
//! (partitioner, batching, compression, acks, retries, idempotence) and a
//! [`Consumer`] (assign, or a classic consumer group; commits).
//!
//! Messages are kafka-protocol's generated codecs, re-exported as
//! [`kafka_protocol`] so callers build requests with the same types.

mod acl_admin;
mod admin_client;
pub mod api;
mod cluster;
mod config_admin;
mod connection;
mod consumer;
mod error;
mod group;
pub mod http;
pub mod oauthbearer;
mod partition_admin;
pub mod partitioner;
mod producer;
mod quota_admin;
pub mod scram;
mod scram_admin;
pub mod tls;
mod topic_admin;
mod transaction_admin;

pub use acl_admin::{acl_names, AclFilterSpec, AclSpec};
pub use admin_client::{AdminClient, AdminConfig};
pub use api::ApiRequest;
pub use cluster::{
    BrokerAddress, ClusterMetadata, PartitionMetadata, TopicMetadata, TopicPartition,
};
pub use config_admin::{ConfigOp, ResourceType};
pub use connection::{Connection, ConnectionConfig, SaslCredentials};
pub use consumer::{
    range_assignment, Consumer, ConsumerConfig, ConsumerRecord, IsolationLevel, StartOffset,
};
pub use error::{Error, ErrorCode};
pub use group::{
    AssignedTopic, CommittedOffset, ConsumerGroupDescription, ConsumerMemberDescription,
    GroupDescription, GroupListing, MemberDescription,
};
pub use kafka_protocol;
pub use partition_admin::{ElectionType, PartitionReassignment, PartitionResult};
pub use producer::{Delivery, Producer, ProducerConfig, ProducerRecord, RecordMetadata};
pub use quota_admin::{QuotaEntity, QuotaFilter, QuotaMatch};
pub use scram_admin::{ScramUpsert, UserScramDescription};
pub use strom_records::{Compression, Header, TimestampType};
pub use topic_admin::{ConfigEntry, NewTopic, TopicResult};
pub use transaction_admin::{
    AbortTransactionSpec, Failure, ProducerState, TransactionDescription, TransactionListing,
};
