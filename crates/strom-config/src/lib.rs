//! Kafka's configuration, for Strom.
//!
//! A Kafka operator's `server.properties` should work unchanged and mean the same thing, so
//! this crate speaks Kafka's key names, types, defaults, ranges and precedence rules, and
//! answers DescribeConfigs the way Kafka does. It works in one step, as ripgrep turns low-level
//! arguments into high-level ones: [`Properties`] holds the raw text (with file and line for
//! every entry), [`BrokerConfig::from_properties`] validates all of it and produces typed
//! configuration, or stops with an error naming the key and what it accepts.
//!
//! Every key is defined once, in a table ([`BROKER_CONFIGS`], [`TOPIC_CONFIGS`]): its type,
//! default, valid values, one line of documentation, whether Strom acts on it yet, and whether
//! it may change at run time. The same table drives validation, typed config, DescribeConfigs
//! and the generated reference ([`configuration_markdown`]).
//!
//! Dynamic broker configuration (KIP-226) comes from the metadata image:
//! [`validate_dynamic_broker_configs`] checks a change before it is stored, and
//! [`BrokerConfig::with_dynamic`] layers the stored cluster-wide defaults and this broker's
//! values over the static configuration, with Kafka's precedence and DescribeConfigs sources.
//!
//! ```
//! use strom_config::{BrokerConfig, Properties};
//!
//! let mut props = Properties::parse("log.retention.hours=24\nlog.segment.bytes=1048576\n")?;
//! props.apply_override("node.id=3")?;
//! let config = BrokerConfig::from_properties(&props)?;
//! assert_eq!(config.node_id, 3);
//! assert_eq!(config.log_retention_ms, Some(24 * 3_600_000));
//! assert_eq!(config.log_segment_bytes, 1_048_576);
//! # Ok::<(), strom_config::ConfigError>(())
//! ```

mod broker_config;
mod broker_defs;
mod def;
mod describe;
mod dynamic_broker_config;
mod error;
mod group_config;
mod jaas;
mod kafka_catalogue;
mod listener;
mod listener_config;
mod markdown;
mod properties;
mod quorum;
mod sasl;
mod ssl_principal;
mod topic_config;
mod topic_defs;

pub use broker_config::{
    broker_config_def, AuthorizationConfig, BrokerConfig, CleanerConfig, ConnectionLimits,
    GroupCoordinatorConfig, QuotaWindow, ReplicationConfig, TransactionCoordinatorConfig,
    WILDCARD_ADVERTISED_HOST,
};
pub use broker_defs::{BROKER_CONFIGS, STANDARD_AUTHORIZER};
pub use def::{parse_host_counts, ConfigDef, ConfigType, Conversion, Synonym, Validity};
pub use describe::{
    describe_broker_configs, describe_default_broker_configs, describe_listener_configs,
    describe_topic_configs, ConfigEntry, ConfigSource, ConfigSynonym,
};
pub use dynamic_broker_config::{
    not_acted_on, validate_dynamic_broker_changes, validate_dynamic_broker_configs,
    validate_dynamic_broker_update,
};
pub use error::{ConfigError, INVALID_CONFIG, INVALID_REQUEST};
pub use group_config::{
    consumer_group_timeouts, describe_group_configs, group_config_def, group_config_defs,
    validate_group_configs,
};
pub use jaas::{
    parse_jaas_config, JaasEntry, OAUTHBEARER_LOGIN_MODULE, PLAIN_LOGIN_MODULE, SCRAM_LOGIN_MODULE,
};
pub use kafka_catalogue::{
    kafka_broker_config, Importance, KafkaConfigKey, UpdateMode, KAFKA_BROKER_CONFIGS,
};
pub use listener::Listener;
pub use listener_config::{
    config_def_for, listener_key, listener_overridable, split_listener_key, LISTENER_PREFIX,
};
pub use markdown::{broker_config_markdown, configuration_markdown, topic_config_markdown};
pub use properties::{Origin, Properties, Property};
pub use quorum::{ProcessRoles, QuorumConfig, QuorumVoter};
pub use sasl::{
    OAuthBearerConfig, OAuthBearerValidator, SaslListenerConfig, SecurityConfig,
    OAUTHBEARER_UNSECURED_VALIDATOR_CLASS, OAUTHBEARER_VALIDATOR_CLASS, SUPPORTED_MECHANISMS,
};
pub use ssl_principal::SslPrincipalMapper;
pub use topic_config::{
    topic_config_def, validate_topic_configs, CleanupPolicy, CompressionType, TimestampType,
    TopicConfig,
};
pub use topic_defs::TOPIC_CONFIGS;
