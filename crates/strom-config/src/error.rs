//! Every way configuration can be wrong, worded for the person who has to fix it.
//!
//! Broker configuration errors stop start-up, so they name the key, where it was set (file and
//! line, or `--override`) and what would have been accepted. Topic configuration errors travel
//! back to a Kafka client in CreateTopics/AlterConfigs responses, so they use Kafka's own
//! wording ("Unknown topic config name: ...", "Invalid value ... for configuration ...") and map
//! to Kafka's INVALID_CONFIG error code. Dynamic broker configuration errors (AlterConfigs on a
//! broker resource, KIP-226) use Kafka's wording too; Kafka answers a read-only key or a bad
//! value there with INVALID_REQUEST (its `ConfigAdminManager` wraps the `ConfigException`, see
//! KAFKA-13609), and [`ConfigError::kafka_error_code`] does the same.

use std::path::PathBuf;

use crate::properties::Origin;

/// Kafka's error code INVALID_CONFIG.
pub const INVALID_CONFIG: i16 = 40;

/// Kafka's error code INVALID_REQUEST.
pub const INVALID_REQUEST: i16 = 42;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The properties file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The properties text itself is malformed (for example a bad `\uXXXX` escape).
    #[error("{origin}: {message}")]
    Syntax { origin: Origin, message: String },

    /// An `--override` argument that is not `KEY=VALUE`.
    #[error("--override '{argument}': expected KEY=VALUE, for example --override log.dirs=/var/lib/strom")]
    MalformedOverride { argument: String },

    /// A key that is not in the configuration table.
    #[error("{origin}: {key}: not a configuration key Strom knows; {hint}")]
    UnknownKey {
        key: String,
        origin: Origin,
        hint: String,
    },

    /// A known key with a value of the wrong type or outside its valid range.
    #[error("{origin}: {key}: expected {expected}, got '{value}'")]
    InvalidValue {
        key: String,
        value: String,
        expected: String,
        origin: Origin,
    },

    /// Values that are each valid but do not make sense together.
    #[error("{}{key}: {message}", origin_prefix(origin.as_ref()))]
    Conflict {
        key: String,
        origin: Option<Origin>,
        message: String,
    },

    /// A topic configuration name Kafka does not define (Kafka's wording).
    #[error("Unknown topic config name: {name}")]
    UnknownTopicConfig { name: String },

    /// A topic configuration value Kafka would reject (Kafka's wording).
    #[error("Invalid value {value} for configuration {name}: {reason}")]
    InvalidTopicConfig {
        name: String,
        value: String,
        reason: String,
    },

    /// Topic configuration values that contradict each other (Kafka's wording).
    #[error("conflict topic config setting {name} ({value}) > {other_name} ({other_value})")]
    TopicConfigConflict {
        name: String,
        value: String,
        other_name: String,
        other_value: String,
    },

    /// A dynamic broker configuration update names a key Strom does not know.
    #[error("unknown broker config {name}")]
    UnknownBrokerConfig { name: String },

    /// A dynamic broker configuration update names keys that are read-only (Kafka's wording;
    /// the names are sorted).
    #[error("Cannot update these configs dynamically: Set({})", names.join(", "))]
    NotDynamicBrokerConfig { names: Vec<String> },

    /// A group configuration Kafka's `GroupConfig.validate` would reject (its wording).
    #[error("{message}")]
    InvalidGroupConfig { message: String },

    /// SSL keystore and truststore keys set without a listener prefix (Kafka's wording).
    #[error("These security configs can be dynamically updated only per-listener using the listener prefix: Set({})", names.join(", "))]
    ListenerPrefixOnlyBrokerConfig { names: Vec<String> },

    /// Per-broker keys set as the cluster-wide default (Kafka's wording).
    #[error("Cannot update these configs at default cluster level, broker id must be specified: Set({})", names.join(", "))]
    PerBrokerOnlyConfig { names: Vec<String> },

    /// A dynamic broker configuration value Kafka would reject (Kafka's wording).
    #[error("Invalid value {value} for configuration {name}: {reason}")]
    InvalidDynamicBrokerConfig {
        name: String,
        value: String,
        reason: String,
    },
}

fn origin_prefix(origin: Option<&Origin>) -> String {
    origin.map(|o| format!("{o}: ")).unwrap_or_default()
}

impl ConfigError {
    /// The configuration key the error is about, when there is one.
    pub fn key(&self) -> Option<&str> {
        match self {
            ConfigError::UnknownKey { key, .. }
            | ConfigError::InvalidValue { key, .. }
            | ConfigError::Conflict { key, .. } => Some(key),
            ConfigError::UnknownTopicConfig { name }
            | ConfigError::InvalidTopicConfig { name, .. }
            | ConfigError::TopicConfigConflict { name, .. }
            | ConfigError::UnknownBrokerConfig { name }
            | ConfigError::InvalidDynamicBrokerConfig { name, .. } => Some(name),
            ConfigError::NotDynamicBrokerConfig { names }
            | ConfigError::ListenerPrefixOnlyBrokerConfig { names }
            | ConfigError::PerBrokerOnlyConfig { names } => names.first().map(String::as_str),
            ConfigError::Io { .. }
            | ConfigError::Syntax { .. }
            | ConfigError::MalformedOverride { .. }
            | ConfigError::InvalidGroupConfig { .. } => None,
        }
    }

    /// The Kafka error code a client should see when this error answers a request
    /// (CreateTopics, AlterConfigs, IncrementalAlterConfigs): INVALID_REQUEST for a read-only
    /// or invalid dynamic broker configuration, as Kafka answers, else INVALID_CONFIG.
    pub fn kafka_error_code(&self) -> i16 {
        match self {
            ConfigError::NotDynamicBrokerConfig { .. }
            | ConfigError::ListenerPrefixOnlyBrokerConfig { .. }
            | ConfigError::PerBrokerOnlyConfig { .. }
            | ConfigError::InvalidDynamicBrokerConfig { .. } => INVALID_REQUEST,
            _ => INVALID_CONFIG,
        }
    }
}
