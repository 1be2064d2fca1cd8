//! The metadata records: every change to topics, partitions, brokers and
//! configs is one of these, written to the metadata log by the controller and
//! replayed by everyone who needs the metadata. Names follow Kafka's KRaft
//! records (`TopicRecord`, `PartitionRecord`, `ConfigRecord`, ...), without
//! the `Record` suffix.
//!
//! The serde form is the on-disk form in the metadata log and snapshots, so
//! variants and fields may be added (with `#[serde(default)]`) but never
//! renamed or removed.

use serde::{Deserialize, Serialize};

use crate::acl::AclBinding;
use crate::client_quota::{ClientQuotaEntity, QuotaValue};
use crate::topic_id::TopicId;

/// One change to the cluster metadata.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MetadataRecord {
    /// A broker announces itself (Kafka's `RegisterBrokerRecord`). A new
    /// registration for the same id replaces the old one; the incarnation id
    /// tells one process lifetime from the next.
    RegisterBroker {
        broker_id: i32,
        incarnation_id: u128,
        listeners: Vec<BrokerEndpoint>,
        rack: Option<String>,
        /// A broker registers fenced and is unfenced once it has caught up
        /// with the metadata log (Kafka's `fenced`). Logs written before
        /// broker fencing existed registered brokers unfenced.
        #[serde(default)]
        fenced: bool,
        /// The registration's epoch: -1 in the log, where the epoch is the
        /// offset of the entry that holds the record (as Kafka's broker
        /// epoch); a snapshot writes the epoch it had.
        #[serde(default = "no_epoch")]
        broker_epoch: i64,
    },
    /// A registered broker is fenced or unfenced, or enters controlled
    /// shutdown (Kafka's `BrokerRegistrationChangeRecord`). Ignored unless
    /// `broker_epoch` is the current registration's, so a change decided for
    /// an earlier run of the broker cannot touch a later one.
    BrokerRegistrationChange {
        broker_id: i32,
        broker_epoch: i64,
        fenced: Option<bool>,
        in_controlled_shutdown: Option<bool>,
    },
    /// A broker is removed from the cluster (Kafka's
    /// `UnregisterBrokerRecord`, written by UnregisterBroker).
    UnregisterBroker { broker_id: i32, broker_epoch: i64 },
    /// A topic is created (Kafka's `TopicRecord`). Its partitions follow as
    /// `Partition` records.
    Topic { name: String, topic_id: TopicId },
    /// A partition's full state (Kafka's `PartitionRecord`); a later record
    /// for the same partition replaces it.
    Partition {
        topic_id: TopicId,
        partition: i32,
        replicas: Vec<i32>,
        isr: Vec<i32>,
        leader: i32,
        leader_epoch: i32,
        partition_epoch: i32,
        /// Replicas being added by a reassignment in progress (Kafka's
        /// `addingReplicas`), each also in `replicas`.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        adding_replicas: Vec<i32>,
        /// Replicas a reassignment in progress will remove (Kafka's
        /// `removingReplicas`), each also in `replicas`.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        removing_replicas: Vec<i32>,
    },
    /// A config override is set, or removed when `value` is `None` (Kafka's
    /// `ConfigRecord`).
    Config {
        resource: ConfigResource,
        name: String,
        value: Option<String>,
    },
    /// A topic is deleted, with its partitions and config overrides (Kafka's
    /// `RemoveTopicRecord`).
    RemoveTopic { topic_id: TopicId },
    /// A block of producer ids is handed to a broker (Kafka's
    /// `ProducerIdsRecord`): every id below `next_producer_id` is taken, so
    /// no id is ever issued twice, across restarts and brokers. A snapshot
    /// carries it with `broker_id` and `broker_epoch` -1, as Kafka's does.
    ProducerIds {
        broker_id: i32,
        /// The epoch of the broker's registration, -1 when not tracked
        /// (Strom does not track broker epochs yet).
        broker_epoch: i64,
        next_producer_id: i64,
    },
    /// A user's SCRAM credential for one mechanism is set (Kafka's
    /// `UserScramCredentialRecord`): what the server checks a proof with,
    /// never the password. Replaces an earlier one of the same user and
    /// mechanism.
    UserScramCredential {
        name: String,
        /// Kafka's `ScramMechanism` type: 1 = SCRAM-SHA-256, 2 = SCRAM-SHA-512.
        mechanism: i8,
        salt: Vec<u8>,
        stored_key: Vec<u8>,
        server_key: Vec<u8>,
        iterations: i32,
    },
    /// A user's SCRAM credential for one mechanism is removed (Kafka's
    /// `RemoveUserScramCredentialRecord`).
    RemoveUserScramCredential { name: String, mechanism: i8 },
    /// A client quota is set, or removed with `remove` (Kafka's
    /// `ClientQuotaRecord`): one key of one entity.
    ClientQuota {
        entity: ClientQuotaEntity,
        key: String,
        value: QuotaValue,
        remove: bool,
    },
    /// An ACL is created (Kafka's `AccessControlEntryRecord`), under an id
    /// the controller chose.
    AccessControlEntry { id: u128, acl: AclBinding },
    /// An ACL is deleted (Kafka's `RemoveAccessControlEntryRecord`).
    RemoveAccessControlEntry { id: u128 },
}

impl MetadataRecord {
    /// Kafka's name for the record type, for log lines and errors.
    pub fn kind(&self) -> &'static str {
        match self {
            MetadataRecord::RegisterBroker { .. } => "RegisterBrokerRecord",
            MetadataRecord::BrokerRegistrationChange { .. } => "BrokerRegistrationChangeRecord",
            MetadataRecord::UnregisterBroker { .. } => "UnregisterBrokerRecord",
            MetadataRecord::Topic { .. } => "TopicRecord",
            MetadataRecord::Partition { .. } => "PartitionRecord",
            MetadataRecord::Config { .. } => "ConfigRecord",
            MetadataRecord::RemoveTopic { .. } => "RemoveTopicRecord",
            MetadataRecord::ProducerIds { .. } => "ProducerIdsRecord",
            MetadataRecord::UserScramCredential { .. } => "UserScramCredentialRecord",
            MetadataRecord::RemoveUserScramCredential { .. } => "RemoveUserScramCredentialRecord",
            MetadataRecord::ClientQuota { .. } => "ClientQuotaRecord",
            MetadataRecord::AccessControlEntry { .. } => "AccessControlEntryRecord",
            MetadataRecord::RemoveAccessControlEntry { .. } => "RemoveAccessControlEntryRecord",
        }
    }
}

fn no_epoch() -> i64 {
    -1
}

/// One listener of a broker, as in `RegisterBrokerRecord.endPoints`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct BrokerEndpoint {
    /// The listener name, e.g. `PLAINTEXT`.
    pub name: String,
    pub host: String,
    pub port: u16,
    /// Kafka's security protocol name, e.g. `PLAINTEXT`, `SASL_SSL`.
    pub security_protocol: String,
}

/// What a config applies to (Kafka's `ConfigResource`: topic, broker and group types).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ConfigResource {
    /// A topic, by name.
    Topic(String),
    /// One broker, or with `None` the cluster-wide default for all brokers
    /// (Kafka's empty broker resource name).
    Broker(Option<i32>),
    /// A group (KIP-848 group configurations), by group id.
    Group(String),
}
