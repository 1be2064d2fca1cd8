//! Errors of the controller.
//!
//! [`ControllerError`] is an answer to a client, per topic, with Kafka's
//! error code and a message the client prints; it is never a reason to stop.
//! [`StartError`] is why the quorum could not start (a damaged or unreadable
//! metadata directory, mostly); it names the file and says what to do.
//! [`StoreError`] is a failed read or write of the metadata log, snapshot or
//! quorum state; once the quorum runs, such a failure stops it (openraft turns
//! storage errors into a fatal state), because continuing could lose
//! committed metadata.

use std::path::PathBuf;

use thiserror::Error;

/// A controller decision that did not succeed, as Kafka reports it. Each
/// variant carries the message sent to the client in `error_message`.
#[derive(Clone, Debug, PartialEq, Eq, Error, serde::Serialize, serde::Deserialize)]
pub enum ControllerError {
    /// `UNKNOWN_SERVER_ERROR` (-1): the controller failed in a way the client
    /// cannot fix (a storage failure, for instance).
    #[error("{0}")]
    UnknownServerError(String),
    /// `UNKNOWN_TOPIC_OR_PARTITION` (3).
    #[error("{0}")]
    UnknownTopicOrPartition(String),
    /// `INVALID_TOPIC_EXCEPTION` (17): an illegal or colliding topic name.
    #[error("{0}")]
    InvalidTopicException(String),
    /// `TOPIC_ALREADY_EXISTS` (36).
    #[error("{0}")]
    TopicAlreadyExists(String),
    /// `INVALID_PARTITIONS` (37).
    #[error("{0}")]
    InvalidPartitions(String),
    /// `INVALID_REPLICATION_FACTOR` (38).
    #[error("{0}")]
    InvalidReplicationFactor(String),
    /// `INVALID_REPLICA_ASSIGNMENT` (39).
    #[error("{0}")]
    InvalidReplicaAssignment(String),
    /// `INVALID_CONFIG` (40).
    #[error("{0}")]
    InvalidConfig(String),
    /// `NOT_CONTROLLER` (41): the quorum is not running here (shut down, or
    /// leadership moved); clients retry.
    #[error("{0}")]
    NotController(String),
    /// `INVALID_REQUEST` (42).
    #[error("{0}")]
    InvalidRequest(String),
    /// `POLICY_VIOLATION` (44).
    #[error("{0}")]
    PolicyViolation(String),
    /// `UNKNOWN_TOPIC_ID` (100).
    #[error("{0}")]
    UnknownTopicId(String),
    /// `STALE_BROKER_EPOCH` (77): a broker request carries an epoch that is
    /// not its current registration's (an earlier run of the broker).
    #[error("{0}")]
    StaleBrokerEpoch(String),
    /// `BROKER_ID_NOT_REGISTERED` (102).
    #[error("{0}")]
    BrokerIdNotRegistered(String),
    /// `DUPLICATE_VOTER` (126): AddRaftVoter of a node that already votes.
    #[error("{0}")]
    DuplicateVoter(String),
    /// `VOTER_NOT_FOUND` (127): RemoveRaftVoter of a node that does not vote.
    #[error("{0}")]
    VoterNotFound(String),
    /// `REQUEST_TIMED_OUT` (7): no active controller committed the change in
    /// time (a majority of the quorum is unreachable, say). The change may
    /// still be committed later.
    #[error("{0}")]
    RequestTimedOut(String),
    /// `KAFKA_STORAGE_ERROR` (56): the broker could not create or open a
    /// partition's log.
    #[error("{0}")]
    KafkaStorageError(String),
}

impl ControllerError {
    /// Kafka's error code.
    pub fn code(&self) -> i16 {
        match self {
            ControllerError::UnknownServerError(_) => -1,
            ControllerError::UnknownTopicOrPartition(_) => 3,
            ControllerError::InvalidTopicException(_) => 17,
            ControllerError::TopicAlreadyExists(_) => 36,
            ControllerError::InvalidPartitions(_) => 37,
            ControllerError::InvalidReplicationFactor(_) => 38,
            ControllerError::InvalidReplicaAssignment(_) => 39,
            ControllerError::InvalidConfig(_) => 40,
            ControllerError::NotController(_) => 41,
            ControllerError::InvalidRequest(_) => 42,
            ControllerError::PolicyViolation(_) => 44,
            ControllerError::UnknownTopicId(_) => 100,
            ControllerError::StaleBrokerEpoch(_) => 77,
            ControllerError::BrokerIdNotRegistered(_) => 102,
            ControllerError::KafkaStorageError(_) => 56,
            ControllerError::RequestTimedOut(_) => 7,
            ControllerError::DuplicateVoter(_) => 126,
            ControllerError::VoterNotFound(_) => 127,
        }
    }

    /// Kafka's name for the error code, e.g. `TOPIC_ALREADY_EXISTS`.
    pub fn name(&self) -> &'static str {
        match self {
            ControllerError::UnknownServerError(_) => "UNKNOWN_SERVER_ERROR",
            ControllerError::UnknownTopicOrPartition(_) => "UNKNOWN_TOPIC_OR_PARTITION",
            ControllerError::InvalidTopicException(_) => "INVALID_TOPIC_EXCEPTION",
            ControllerError::TopicAlreadyExists(_) => "TOPIC_ALREADY_EXISTS",
            ControllerError::InvalidPartitions(_) => "INVALID_PARTITIONS",
            ControllerError::InvalidReplicationFactor(_) => "INVALID_REPLICATION_FACTOR",
            ControllerError::InvalidReplicaAssignment(_) => "INVALID_REPLICA_ASSIGNMENT",
            ControllerError::InvalidConfig(_) => "INVALID_CONFIG",
            ControllerError::NotController(_) => "NOT_CONTROLLER",
            ControllerError::InvalidRequest(_) => "INVALID_REQUEST",
            ControllerError::PolicyViolation(_) => "POLICY_VIOLATION",
            ControllerError::UnknownTopicId(_) => "UNKNOWN_TOPIC_ID",
            ControllerError::StaleBrokerEpoch(_) => "STALE_BROKER_EPOCH",
            ControllerError::BrokerIdNotRegistered(_) => "BROKER_ID_NOT_REGISTERED",
            ControllerError::KafkaStorageError(_) => "KAFKA_STORAGE_ERROR",
            ControllerError::RequestTimedOut(_) => "REQUEST_TIMED_OUT",
            ControllerError::DuplicateVoter(_) => "DUPLICATE_VOTER",
            ControllerError::VoterNotFound(_) => "VOTER_NOT_FOUND",
        }
    }

    /// The message for the response's `error_message`.
    pub fn message(&self) -> &str {
        match self {
            ControllerError::UnknownServerError(m)
            | ControllerError::UnknownTopicOrPartition(m)
            | ControllerError::InvalidTopicException(m)
            | ControllerError::TopicAlreadyExists(m)
            | ControllerError::InvalidPartitions(m)
            | ControllerError::InvalidReplicationFactor(m)
            | ControllerError::InvalidReplicaAssignment(m)
            | ControllerError::InvalidConfig(m)
            | ControllerError::NotController(m)
            | ControllerError::InvalidRequest(m)
            | ControllerError::PolicyViolation(m)
            | ControllerError::UnknownTopicId(m)
            | ControllerError::StaleBrokerEpoch(m)
            | ControllerError::BrokerIdNotRegistered(m)
            | ControllerError::KafkaStorageError(m)
            | ControllerError::RequestTimedOut(m)
            | ControllerError::DuplicateVoter(m)
            | ControllerError::VoterNotFound(m) => m,
        }
    }
}

/// A failed read or write in the metadata directory.
#[derive(Debug, Error)]
pub enum StoreError {
    #[error("I/O error on {path}: {source}; check that the metadata directory is writable and the disk is healthy")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is corrupt at byte {position}: {reason}; the metadata directory is damaged: restore it from a backup, or if this node's metadata may be lost, move the directory away and start again")]
    Corrupt {
        path: PathBuf,
        position: u64,
        reason: String,
    },
}

impl StoreError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> StoreError {
        StoreError::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn corrupt(
        path: impl Into<PathBuf>,
        position: u64,
        reason: impl Into<String>,
    ) -> StoreError {
        StoreError::Corrupt {
            path: path.into(),
            position,
            reason: reason.into(),
        }
    }
}

/// Why [`crate::Controller::start`] failed.
#[derive(Debug, Error)]
pub enum StartError {
    #[error("invalid controller configuration: {0}")]
    InvalidConfig(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the metadata quorum failed to start: {0}")]
    Raft(String),
    #[error("the metadata quorum did not become ready within {timeout_ms} ms: {reason}")]
    Timeout { timeout_ms: u128, reason: String },
}
