//! Raw properties to typed broker configuration, in one step (ripgrep's low-level args →
//! high-level args): every key must be in the table and every value valid, or start-up stops
//! with a message naming the key, where it was set and what is accepted. What comes out is
//! plain data the broker reads without further checks.
//!
//! Derived keys follow Kafka's precedence: `node.id` over `broker.id`; `log.dirs` over
//! `log.dir`; `log.roll.ms` over `log.roll.hours`; `log.retention.ms` over
//! `log.retention.minutes` over `log.retention.hours`; `log.flush.interval.ms` over
//! `log.flush.scheduler.interval.ms`. Each topic configuration's broker-wide default is
//! computed once here, through the same synonyms DescribeConfigs reports.
//!
//! Dynamic broker configurations (KIP-226, `dynamic_broker_config`) are two more layers on top
//! of the static ones: a key's value is this broker's dynamic value, else the cluster-wide
//! dynamic default, else server.properties / `--override`, else the table's default. The typed
//! fields are computed from that layered view by the same code for both.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::broker_defs::{BROKER_CONFIGS, REMOVED_KEYS};
use crate::def::{ConfigDef, Value};
use crate::describe::ConfigSource;
use crate::dynamic_broker_config::DynamicValue;
use crate::error::ConfigError;
use crate::kafka_catalogue::{kafka_broker_config, KAFKA_BROKER_CONFIGS};
use crate::listener::{self, Listener, SECURITY_PROTOCOLS};
use crate::listener_config::{listener_key, split_listener_key};
use crate::properties::{Origin, Properties};
use crate::quorum::{self, QuorumConfig};
use crate::sasl::SecurityConfig;
use crate::topic_config::{
    topic_config_def, CleanupPolicy, CompressionType, TimestampType, TopicConfig,
};
use crate::topic_defs::TOPIC_CONFIGS;

/// Host advertised for a listener bound to all interfaces when `advertised.listeners` is unset.
/// Kafka advertises the machine's canonical host name instead; Strom picks the address that
/// works for a client on the same machine, the common case for a single-node broker.
pub const WILDCARD_ADVERTISED_HOST: &str = "127.0.0.1";

/// The broker configuration definition for `name`, if Strom accepts the key: Strom's own
/// table first (it says what Strom acts on), else Kafka's catalogue (accepted, not acted on).
pub fn broker_config_def(name: &str) -> Option<&'static ConfigDef> {
    BROKER_CONFIGS
        .iter()
        .find(|d| d.name == name)
        .or_else(|| kafka_broker_config(name).map(|key| &key.def))
}

/// Every broker key Strom accepts, Strom's table then the rest of Kafka's catalogue, each once.
pub(crate) fn all_broker_config_defs() -> impl Iterator<Item = &'static ConfigDef> {
    BROKER_CONFIGS.iter().chain(
        KAFKA_BROKER_CONFIGS
            .iter()
            .map(|key| &key.def)
            .filter(|def| !BROKER_CONFIGS.iter().any(|d| d.name == def.name)),
    )
}

/// A key set in the properties, validated.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SetValue {
    pub raw: String,
    pub value: Value,
    pub origin: Origin,
}

/// How requests are authorized (Kafka's StandardAuthorizer settings).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuthorizationConfig {
    /// `authorizer.class.name` is StandardAuthorizer; otherwise nothing is checked.
    pub enabled: bool,
    /// `super.users`, each `Type:name`.
    pub super_users: Vec<String>,
    /// `allow.everyone.if.no.acl.found`.
    pub allow_everyone_if_no_acl_found: bool,
}

/// The broker's configuration, validated and typed.
#[derive(Debug, Clone, PartialEq)]
pub struct BrokerConfig {
    /// `authorizer.class.name`, `super.users` and `allow.everyone.if.no.acl.found`.
    pub authorization: AuthorizationConfig,
    /// `node.id` (or its older name `broker.id`).
    pub node_id: i32,
    /// `broker.rack`.
    pub broker_rack: Option<String>,
    /// `strom.cluster.id`: the cluster id to format a new data directory with.
    pub cluster_id: Option<String>,
    /// `listeners`, in the order given; never empty.
    pub listeners: Vec<Listener>,
    /// `advertised.listeners`, or `listeners` with an all-interfaces host replaced by
    /// [`WILDCARD_ADVERTISED_HOST`]; never empty, never a wildcard host. A port of 0 (from a
    /// `listeners` port 0) means "the port the listener was bound to".
    pub advertised_listeners: Vec<Listener>,
    /// `log.dirs`, else `log.dir`; never empty.
    pub log_dirs: Vec<PathBuf>,
    pub num_partitions: i32,
    pub default_replication_factor: i16,
    pub auto_create_topics_enable: bool,
    pub delete_topic_enable: bool,
    /// `unclean.leader.election.enable` as server.properties sets it.
    pub unclean_leader_election_enable: bool,
    pub auto_leader_rebalance_enable: bool,
    pub leader_imbalance_check_interval_seconds: u64,
    pub leader_imbalance_per_broker_percentage: i32,
    pub socket_request_max_bytes: u64,
    pub message_max_bytes: u64,
    pub log_segment_bytes: u64,
    /// `log.roll.ms`, else `log.roll.hours` in ms.
    pub log_roll_ms: u64,
    /// `log.roll.jitter.ms`, else `log.roll.jitter.hours` in ms.
    pub log_roll_jitter_ms: u64,
    pub log_index_interval_bytes: u64,
    pub log_index_size_max_bytes: u64,
    /// `None`: never fsync because of a message count (Kafka's Long.MAX_VALUE).
    pub log_flush_interval_messages: Option<u64>,
    /// `log.flush.interval.ms`, else `log.flush.scheduler.interval.ms`; `None`: never by age.
    pub log_flush_interval_ms: Option<u64>,
    pub log_message_timestamp_type: TimestampType,
    /// `log.retention.ms`, else `.minutes`, else `.hours`, in ms; `None` (negative) = forever.
    pub log_retention_ms: Option<u64>,
    /// `None` (negative) = no size limit.
    pub log_retention_bytes: Option<u64>,
    pub log_cleanup_policy: CleanupPolicy,
    pub compression_type: CompressionType,
    pub min_insync_replicas: i32,
    /// `strom.metrics.listener`: where `/metrics` and `/health/*` are served; `None` = nowhere.
    pub metrics_listener: Option<Listener>,
    /// `strom.acks.all.fsync`: acks=all waits until the leader's log is fsynced.
    pub acks_all_fsync: bool,
    /// `strom.log.open.files.max`: segment files kept open at most; 0 = half the open
    /// files limit at start-up.
    pub log_open_files_max: u64,
    /// `num.recovery.threads.per.data.dir`: threads loading each log directory at start-up.
    pub num_recovery_threads_per_data_dir: usize,
    /// The group coordinator's keys (`offsets.*`, `group.*`).
    pub groups: GroupCoordinatorConfig,
    /// The transaction coordinator and `__transaction_state`.
    pub transactions: TransactionCoordinatorConfig,
    /// `log.retention.check.interval.ms`: how often segments past retention are deleted.
    pub log_retention_check_interval_ms: u64,
    /// `producer.id.expiration.ms`: a partition forgets a producer id whose last batch is
    /// older than this.
    pub producer_id_expiration_ms: i64,
    /// `producer.id.expiration.check.interval.ms`: how often partitions look for such ids.
    pub producer_id_expiration_check_interval_ms: u64,
    /// `transaction.partition.verification.enable` (KIP-890 part 1).
    pub transaction_partition_verification_enable: bool,
    /// `request.timeout.ms`: the broker's waits on other brokers and on the ISR for
    /// transaction markers.
    pub request_timeout_ms: u64,
    /// `replica.high.watermark.checkpoint.interval.ms`: how often each log directory's
    /// `replication-offset-checkpoint` is written.
    pub replica_high_watermark_checkpoint_interval_ms: u64,
    /// The log cleaner (`log.cleaner.*`).
    pub cleaner: CleanerConfig,
    /// Connection and request-memory limits of the socket server.
    pub connections: ConnectionLimits,
    /// `fetch.max.bytes`: the most record bytes one Fetch returns.
    pub fetch_max_bytes: u64,
    /// Client quota sampling: `quota.window.num` and `quota.window.size.seconds`.
    pub quota_window: QuotaWindow,
    /// `controller.quota.window.num` and `controller.quota.window.size.seconds`.
    pub controller_quota_window: QuotaWindow,
    /// `max.request.partition.size.limit`: the most partitions one DescribeTopicPartitions
    /// response describes.
    pub max_request_partition_size_limit: i32,
    /// `max.incremental.fetch.session.cache.slots`: the most fetch sessions kept.
    pub max_incremental_fetch_session_cache_slots: usize,
    /// The KRaft keys: roles, the controller quorum, its timers and the broker lifecycle's.
    pub quorum: QuorumConfig,
    /// Partition replication (`replica.*`).
    pub replication: ReplicationConfig,
    /// Each listener's security protocol and the SASL settings of SASL listeners.
    pub security: SecurityConfig,
    set: BTreeMap<&'static str, SetValue>,
    /// Dynamic values of the cluster-wide default (`Broker(None)`), valid and dynamic only.
    dynamic_default: BTreeMap<&'static str, DynamicValue>,
    /// Dynamic values of this broker (`Broker(Some(node_id))`), valid and dynamic only.
    dynamic_broker: BTreeMap<&'static str, DynamicValue>,
    topic_values: BTreeMap<&'static str, Value>,
    topic_defaults: TopicConfig,
    /// `listener.name.<l>.<key>` set in the properties, keyed by the full name.
    listener_set: BTreeMap<String, SetValue>,
    /// `listener.name.<l>.<key>` dynamic values of this broker, keyed by the full name.
    dynamic_listener: BTreeMap<String, DynamicValue>,
    /// The per-listener SASL keys of server.properties as written (read by
    /// `sasl::security_config`), for DescribeConfigs.
    sasl_listener_raw: RawSaslListenerKeys,
}

/// Per-listener SASL values as written. JAAS entries hold passwords, so `Debug` shows the
/// names only.
#[derive(Clone, PartialEq, Default)]
pub(crate) struct RawSaslListenerKeys(BTreeMap<String, String>);

impl std::fmt::Debug for RawSaslListenerKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

/// The fields checked at start-up against each other. Their keys are read-only, so dynamic
/// configuration never changes them and recomputing the rest cannot fail.
pub(crate) struct Identity {
    pub node_id: i32,
    pub listeners: Vec<Listener>,
    pub advertised_listeners: Vec<Listener>,
    pub quorum: QuorumConfig,
    pub security: SecurityConfig,
    pub sasl_listener_raw: RawSaslListenerKeys,
}

/// How followers copy the leader's log (`replica.*`).
#[derive(Debug, Clone, PartialEq)]
pub struct ReplicationConfig {
    /// `replica.lag.time.max.ms`.
    pub lag_time_max_ms: u64,
    /// `replica.fetch.wait.max.ms`.
    pub fetch_wait_max_ms: i32,
    /// `replica.fetch.min.bytes`.
    pub fetch_min_bytes: i32,
    /// `replica.fetch.max.bytes` (per partition).
    pub fetch_max_bytes: i32,
    /// `replica.fetch.response.max.bytes`.
    pub fetch_response_max_bytes: i32,
    /// `replica.fetch.backoff.ms`.
    pub fetch_backoff_ms: u64,
    /// `replica.socket.timeout.ms`.
    pub socket_timeout_ms: u64,
    /// `replica.high.watermark.checkpoint.interval.ms`.
    pub high_watermark_checkpoint_interval_ms: u64,
    /// `replica.selector.class` is the rack-aware selector (KIP-392).
    pub rack_aware_selector: bool,
    /// `leader.replication.throttled.rate` (bytes/s).
    pub leader_throttled_rate: u64,
    /// `follower.replication.throttled.rate` (bytes/s).
    pub follower_throttled_rate: u64,
}

/// The log cleaner's settings, Kafka's `log.cleaner.*` keys.
#[derive(Debug, Clone, PartialEq)]
pub struct CleanerConfig {
    pub enable: bool,
    pub threads: i32,
    pub backoff_ms: u64,
    pub dedupe_buffer_size: u64,
    pub io_max_bytes_per_second: f64,
}

/// How a quota rate is sampled (Kafka's `MetricConfig` of quota sensors):
/// `samples` windows of `window_seconds` each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotaWindow {
    pub samples: u32,
    pub window_seconds: u32,
}

/// The socket server's limits, Kafka's keys.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectionLimits {
    /// `max.connections`, across all listeners.
    pub max_connections: i32,
    /// `max.connection.creation.rate`, broker-wide (per-listener values:
    /// `BrokerConfig::listener_override`).
    pub max_connection_creation_rate: i32,
    /// `max.connections.per.ip`.
    pub max_connections_per_ip: i32,
    /// `max.connections.per.ip.overrides`, as written (host, limit).
    pub max_connections_per_ip_overrides: Vec<(String, i32)>,
    /// `connections.max.idle.ms`; `None` (negative) never closes idle connections.
    pub connections_max_idle_ms: Option<u64>,
    /// `queued.max.request.bytes` resolved: the request memory pool in bytes. Kafka's -1 and
    /// 0 (no pool) become twice `socket.request.max.bytes`, so memory for request bytes is
    /// always bounded.
    pub queued_max_request_bytes: u64,
}

/// Settings of the group coordinator and `__consumer_offsets`, Kafka's keys.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupCoordinatorConfig {
    pub offsets_topic_num_partitions: i32,
    pub offsets_topic_replication_factor: i32,
    pub offsets_topic_segment_bytes: i64,
    pub offsets_retention_ms: i64,
    pub offsets_retention_check_interval_ms: i64,
    pub offset_metadata_max_bytes: i32,
    pub initial_rebalance_delay_ms: i32,
    pub min_session_timeout_ms: i32,
    pub max_session_timeout_ms: i32,
    pub max_size: i32,
    pub consumer_session_timeout_ms: i32,
    pub consumer_heartbeat_interval_ms: i32,
    pub consumer_max_size: i32,
}

/// Settings of the transaction coordinator and `__transaction_state`, Kafka's keys.
#[derive(Debug, Clone, PartialEq)]
pub struct TransactionCoordinatorConfig {
    pub state_log_num_partitions: i32,
    pub state_log_replication_factor: i32,
    pub state_log_min_isr: i32,
    pub state_log_segment_bytes: i64,
    pub state_log_load_buffer_size: i32,
    pub max_timeout_ms: i32,
    pub transactional_id_expiration_ms: i64,
    pub abort_timed_out_transaction_cleanup_interval_ms: i64,
    pub remove_expired_transaction_cleanup_interval_ms: i64,
}

/// An Int-typed key (its range is checked against i32 on validation).
fn int_of(cfg: &Effective<'_>, name: &str) -> i32 {
    i32::try_from(cfg.int(name)).unwrap_or(i32::MAX)
}

impl Default for BrokerConfig {
    /// The configuration of `strom server` with no properties at all.
    fn default() -> BrokerConfig {
        BrokerConfig::from_properties(&Properties::new())
            .expect("invariant: the built-in defaults form a valid broker configuration")
    }
}

impl BrokerConfig {
    /// Validates every property and builds the typed configuration.
    pub fn from_properties(props: &Properties) -> Result<BrokerConfig, ConfigError> {
        let (set, listener_set) = validate_each(props)?;
        let no_dynamic = BTreeMap::new();
        let cfg = Effective {
            set: &set,
            dynamic_default: &no_dynamic,
            dynamic_broker: &no_dynamic,
        };
        let node_id = node_id(&cfg)?;
        let (listeners, protocols) = listeners(&cfg)?;
        let advertised_listeners = advertised_listeners(&cfg, &listeners)?;
        let quorum = quorum::quorum_config(&cfg, node_id, &listeners)?;
        let security = crate::sasl::security_config(props, &cfg, &listeners, protocols)?;
        let sasl_listener_raw = RawSaslListenerKeys(
            props
                .iter()
                .filter(|p| crate::sasl::is_sasl_listener_key(&p.key))
                .map(|p| (p.key.clone(), p.value.clone()))
                .collect(),
        );
        let identity = Identity {
            node_id,
            listeners,
            advertised_listeners,
            quorum,
            security,
            sasl_listener_raw,
        };
        let mut config = BrokerConfig::assemble(identity, set, BTreeMap::new(), BTreeMap::new());
        config.listener_set = listener_set;
        Ok(config)
    }

    /// Computes every other field from the layered values; cannot fail.
    pub(crate) fn assemble(
        identity: Identity,
        set: BTreeMap<&'static str, SetValue>,
        dynamic_default: BTreeMap<&'static str, DynamicValue>,
        dynamic_broker: BTreeMap<&'static str, DynamicValue>,
    ) -> BrokerConfig {
        let cfg = Effective {
            set: &set,
            dynamic_default: &dynamic_default,
            dynamic_broker: &dynamic_broker,
        };
        let topic_values = topic_values_from_broker(&cfg);
        let topic_defaults = TopicConfig::from_lookup(|name| topic_values.get(name));
        let log_dirs = cfg
            .list("log.dirs")
            .or_else(|| cfg.list("log.dir"))
            .unwrap_or_default()
            .into_iter()
            .map(PathBuf::from)
            .collect();
        let broker_rack = cfg.string("broker.rack");
        let cluster_id = cfg.string("strom.cluster.id");
        let num_partitions = i32::try_from(cfg.int("num.partitions")).unwrap_or(1);
        let default_replication_factor =
            i16::try_from(cfg.int("default.replication.factor")).unwrap_or(1);
        let auto_create_topics_enable = cfg.boolean("auto.create.topics.enable");
        let delete_topic_enable = cfg.boolean("delete.topic.enable");
        let unclean_leader_election_enable = cfg.boolean("unclean.leader.election.enable");
        let auto_leader_rebalance_enable = cfg.boolean("auto.leader.rebalance.enable");
        let leader_imbalance_check_interval_seconds =
            u64::try_from(cfg.int("leader.imbalance.check.interval.seconds")).unwrap_or(300);
        let leader_imbalance_per_broker_percentage =
            i32::try_from(cfg.int("leader.imbalance.per.broker.percentage")).unwrap_or(10);
        let socket_request_max_bytes =
            u64::try_from(cfg.int("socket.request.max.bytes")).unwrap_or(0);
        let acks_all_fsync = cfg.boolean("strom.acks.all.fsync");
        let metrics_listener = cfg
            .string("strom.metrics.listener")
            .and_then(|s| crate::listener::parse_http_listener(&s).ok().flatten());
        let log_open_files_max = u64::try_from(cfg.int("strom.log.open.files.max")).unwrap_or(0);
        let num_recovery_threads_per_data_dir =
            usize::try_from(cfg.int("num.recovery.threads.per.data.dir")).unwrap_or(2);
        let log_retention_check_interval_ms =
            u64::try_from(cfg.int("log.retention.check.interval.ms")).unwrap_or(300_000);
        let producer_id_expiration_ms = cfg.int("producer.id.expiration.ms");
        let producer_id_expiration_check_interval_ms =
            u64::try_from(cfg.int("producer.id.expiration.check.interval.ms")).unwrap_or(600_000);
        let replica_high_watermark_checkpoint_interval_ms =
            u64::try_from(cfg.int("replica.high.watermark.checkpoint.interval.ms"))
                .unwrap_or(5_000);
        let transaction_partition_verification_enable =
            cfg.boolean("transaction.partition.verification.enable");
        let request_timeout_ms = u64::try_from(cfg.int("request.timeout.ms")).unwrap_or(30_000);
        let cleaner = CleanerConfig {
            enable: cfg.boolean("log.cleaner.enable"),
            threads: int_of(&cfg, "log.cleaner.threads"),
            backoff_ms: u64::try_from(cfg.int("log.cleaner.backoff.ms")).unwrap_or(15_000),
            dedupe_buffer_size: u64::try_from(cfg.int("log.cleaner.dedupe.buffer.size"))
                .unwrap_or(134_217_728),
            io_max_bytes_per_second: cfg.double("log.cleaner.io.max.bytes.per.second"),
        };
        let groups = GroupCoordinatorConfig {
            offsets_topic_num_partitions: int_of(&cfg, "offsets.topic.num.partitions"),
            offsets_topic_replication_factor: int_of(&cfg, "offsets.topic.replication.factor"),
            offsets_topic_segment_bytes: cfg.int("offsets.topic.segment.bytes"),
            offsets_retention_ms: cfg.int("offsets.retention.minutes").saturating_mul(60_000),
            offsets_retention_check_interval_ms: cfg.int("offsets.retention.check.interval.ms"),
            offset_metadata_max_bytes: int_of(&cfg, "offset.metadata.max.bytes"),
            initial_rebalance_delay_ms: int_of(&cfg, "group.initial.rebalance.delay.ms"),
            min_session_timeout_ms: int_of(&cfg, "group.min.session.timeout.ms"),
            max_session_timeout_ms: int_of(&cfg, "group.max.session.timeout.ms"),
            max_size: int_of(&cfg, "group.max.size"),
            consumer_session_timeout_ms: int_of(&cfg, "group.consumer.session.timeout.ms"),
            consumer_heartbeat_interval_ms: int_of(&cfg, "group.consumer.heartbeat.interval.ms"),
            consumer_max_size: int_of(&cfg, "group.consumer.max.size"),
        };
        let transactions = TransactionCoordinatorConfig {
            state_log_num_partitions: int_of(&cfg, "transaction.state.log.num.partitions"),
            state_log_replication_factor: int_of(&cfg, "transaction.state.log.replication.factor"),
            state_log_min_isr: int_of(&cfg, "transaction.state.log.min.isr"),
            state_log_segment_bytes: cfg.int("transaction.state.log.segment.bytes"),
            state_log_load_buffer_size: int_of(&cfg, "transaction.state.log.load.buffer.size"),
            max_timeout_ms: int_of(&cfg, "transaction.max.timeout.ms"),
            transactional_id_expiration_ms: cfg.int("transactional.id.expiration.ms"),
            abort_timed_out_transaction_cleanup_interval_ms: cfg
                .int("transaction.abort.timed.out.transaction.cleanup.interval.ms"),
            remove_expired_transaction_cleanup_interval_ms: cfg
                .int("transaction.remove.expired.transaction.cleanup.interval.ms"),
        };
        let queued_max_request_bytes = match cfg.int("queued.max.request.bytes") {
            n if n <= 0 => socket_request_max_bytes.saturating_mul(2),
            n => n as u64,
        };
        let connections = ConnectionLimits {
            max_connections: int_of(&cfg, "max.connections"),
            max_connection_creation_rate: int_of(&cfg, "max.connection.creation.rate"),
            max_connections_per_ip: int_of(&cfg, "max.connections.per.ip"),
            max_connections_per_ip_overrides: cfg
                .string("max.connections.per.ip.overrides")
                .and_then(|s| crate::def::parse_host_counts(&s).ok())
                .unwrap_or_default(),
            connections_max_idle_ms: u64::try_from(cfg.int("connections.max.idle.ms")).ok(),
            queued_max_request_bytes,
        };
        let fetch_max_bytes = u64::try_from(cfg.int("fetch.max.bytes")).unwrap_or(57_671_680);
        let max_incremental_fetch_session_cache_slots =
            usize::try_from(cfg.int("max.incremental.fetch.session.cache.slots")).unwrap_or(1000);
        let replication = ReplicationConfig {
            lag_time_max_ms: u64::try_from(cfg.int("replica.lag.time.max.ms")).unwrap_or(30_000),
            fetch_wait_max_ms: int_of(&cfg, "replica.fetch.wait.max.ms"),
            fetch_min_bytes: int_of(&cfg, "replica.fetch.min.bytes"),
            fetch_max_bytes: int_of(&cfg, "replica.fetch.max.bytes"),
            fetch_response_max_bytes: int_of(&cfg, "replica.fetch.response.max.bytes"),
            fetch_backoff_ms: u64::try_from(cfg.int("replica.fetch.backoff.ms")).unwrap_or(1000),
            socket_timeout_ms: u64::try_from(cfg.int("replica.socket.timeout.ms"))
                .unwrap_or(30_000),
            high_watermark_checkpoint_interval_ms: u64::try_from(
                cfg.int("replica.high.watermark.checkpoint.interval.ms"),
            )
            .unwrap_or(5000),
            leader_throttled_rate: u64::try_from(cfg.int("leader.replication.throttled.rate"))
                .unwrap_or(u64::MAX),
            follower_throttled_rate: u64::try_from(cfg.int("follower.replication.throttled.rate"))
                .unwrap_or(u64::MAX),
            rack_aware_selector: cfg.string("replica.selector.class").as_deref()
                == Some(crate::broker_defs::RACK_AWARE_REPLICA_SELECTOR),
        };
        let authorization = AuthorizationConfig {
            enabled: cfg.string("authorizer.class.name").as_deref()
                == Some(crate::broker_defs::STANDARD_AUTHORIZER),
            super_users: cfg
                .string("super.users")
                .unwrap_or_default()
                .split(';')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(str::to_owned)
                .collect(),
            allow_everyone_if_no_acl_found: cfg.boolean("allow.everyone.if.no.acl.found"),
        };
        BrokerConfig {
            authorization,
            replication,
            node_id: identity.node_id,
            broker_rack,
            cluster_id,
            listeners: identity.listeners,
            advertised_listeners: identity.advertised_listeners,
            quorum: identity.quorum,
            security: identity.security,
            sasl_listener_raw: identity.sasl_listener_raw,
            log_dirs,
            num_partitions,
            default_replication_factor,
            auto_create_topics_enable,
            delete_topic_enable,
            unclean_leader_election_enable,
            auto_leader_rebalance_enable,
            leader_imbalance_check_interval_seconds,
            leader_imbalance_per_broker_percentage,
            socket_request_max_bytes,
            log_retention_check_interval_ms,
            producer_id_expiration_ms,
            producer_id_expiration_check_interval_ms,
            transaction_partition_verification_enable,
            request_timeout_ms,
            replica_high_watermark_checkpoint_interval_ms,
            cleaner,
            connections,
            fetch_max_bytes,
            quota_window: QuotaWindow {
                samples: int_of(&cfg, "quota.window.num").max(1) as u32,
                window_seconds: int_of(&cfg, "quota.window.size.seconds").max(1) as u32,
            },
            controller_quota_window: QuotaWindow {
                samples: int_of(&cfg, "controller.quota.window.num").max(1) as u32,
                window_seconds: int_of(&cfg, "controller.quota.window.size.seconds").max(1) as u32,
            },
            max_request_partition_size_limit: i32::try_from(
                cfg.int("max.request.partition.size.limit"),
            )
            .unwrap_or(2000),
            max_incremental_fetch_session_cache_slots,
            message_max_bytes: topic_defaults.max_message_bytes,
            log_segment_bytes: topic_defaults.segment_bytes,
            log_roll_ms: topic_defaults.segment_ms,
            log_roll_jitter_ms: topic_defaults.segment_jitter_ms,
            log_index_interval_bytes: topic_defaults.index_interval_bytes,
            log_index_size_max_bytes: topic_defaults.segment_index_bytes,
            log_flush_interval_messages: topic_defaults.flush_messages,
            log_flush_interval_ms: topic_defaults.flush_ms,
            log_message_timestamp_type: topic_defaults.message_timestamp_type,
            log_retention_ms: topic_defaults.retention_ms,
            log_retention_bytes: topic_defaults.retention_bytes,
            log_cleanup_policy: topic_defaults.cleanup_policy,
            compression_type: topic_defaults.compression_type,
            min_insync_replicas: topic_defaults.min_insync_replicas,
            acks_all_fsync,
            metrics_listener,
            log_open_files_max,
            num_recovery_threads_per_data_dir,
            groups,
            transactions,
            set,
            dynamic_default,
            dynamic_broker,
            topic_values,
            topic_defaults,
            listener_set: BTreeMap::new(),
            dynamic_listener: BTreeMap::new(),
        }
    }

    /// The fields only server.properties sets, to rebuild the rest on top of.
    pub(crate) fn identity(&self) -> Identity {
        Identity {
            node_id: self.node_id,
            listeners: self.listeners.clone(),
            advertised_listeners: self.advertised_listeners.clone(),
            quorum: self.quorum.clone(),
            security: self.security.clone(),
            sasl_listener_raw: self.sasl_listener_raw.clone(),
        }
    }

    /// The `listener.name.<l>.<key>` values of server.properties.
    pub(crate) fn static_listener_values(&self) -> &BTreeMap<String, SetValue> {
        &self.listener_set
    }

    /// Every `listener.name.<l>.<key>` this broker has, as written: (name, this broker's
    /// dynamic value, the server.properties value), by name.
    pub(crate) fn listener_entries(&self) -> Vec<(String, Option<String>, Option<String>)> {
        let mut names: std::collections::BTreeSet<&String> = self.listener_set.keys().collect();
        names.extend(self.dynamic_listener.keys());
        names.extend(self.sasl_listener_raw.0.keys());
        names
            .into_iter()
            .map(|n| {
                let dynamic = self.dynamic_listener.get(n).map(|v| v.raw.clone());
                let stat = self
                    .listener_set
                    .get(n)
                    .map(|v| v.raw.clone())
                    .or_else(|| self.sasl_listener_raw.0.get(n).cloned());
                (n.clone(), dynamic, stat)
            })
            .collect()
    }

    /// Replaces the per-listener layers (after [`BrokerConfig::assemble`]).
    pub(crate) fn set_listener_layers(
        &mut self,
        listener_set: BTreeMap<String, SetValue>,
        dynamic_listener: BTreeMap<String, DynamicValue>,
    ) {
        self.listener_set = listener_set;
        self.dynamic_listener = dynamic_listener;
    }

    /// The static values, to rebuild the configuration with other dynamic layers.
    pub(crate) fn static_values(&self) -> &BTreeMap<&'static str, SetValue> {
        &self.set
    }

    /// Keys that were set but that Strom does not act on yet, in table order, so the broker
    /// can warn that they are accepted without effect.
    pub fn inert_keys(&self) -> Vec<&'static str> {
        all_broker_config_defs()
            .filter(|d| !d.acted_on && self.set.contains_key(d.name))
            .map(|d| d.name)
            .collect()
    }

    /// The value of a key as it was written in server.properties or `--override`, if it was.
    pub fn raw(&self, key: &str) -> Option<&str> {
        self.set.get(key).map(|s| s.raw.as_str())
    }

    /// Where a key was set, if it was.
    pub fn origin_of(&self, key: &str) -> Option<&Origin> {
        self.set.get(key).map(|s| &s.origin)
    }

    /// Whether a key was set (in the file or by an override) rather than defaulted.
    pub fn is_set(&self, key: &str) -> bool {
        self.set.contains_key(key)
    }

    /// The dynamic value of a key as stored (this broker's, else the cluster-wide default's)
    /// and which of the two it is, if [`BrokerConfig::with_dynamic`] applied one.
    pub fn dynamic_value(&self, key: &str) -> Option<(&str, ConfigSource)> {
        [
            ConfigSource::DynamicBrokerConfig,
            ConfigSource::DynamicDefaultBrokerConfig,
        ]
        .into_iter()
        .find_map(|source| self.raw_at(key, source).map(|raw| (raw, source)))
    }

    /// The configuration of a topic without overrides.
    pub fn topic_defaults(&self) -> &TopicConfig {
        &self.topic_defaults
    }

    /// The value of a broker key as written at one level of precedence: this broker's dynamic
    /// value, the cluster-wide dynamic default, or server.properties. `None` for other sources.
    pub(crate) fn raw_at(&self, key: &str, source: ConfigSource) -> Option<&str> {
        match source {
            ConfigSource::DynamicBrokerConfig => {
                self.dynamic_broker.get(key).map(|d| d.raw.as_str())
            }
            ConfigSource::DynamicDefaultBrokerConfig => {
                self.dynamic_default.get(key).map(|d| d.raw.as_str())
            }
            ConfigSource::StaticBrokerConfig => self.set.get(key).map(|s| s.raw.as_str()),
            _ => None,
        }
    }

    /// The cluster-wide dynamic default of a key, parsed.
    pub(crate) fn dynamic_default_value(&self, key: &str) -> Option<&Value> {
        self.dynamic_default.get(key).map(|d| &d.value)
    }

    /// The effective value of a broker key: dynamic, else static, else the table's default.
    pub(crate) fn broker_value(&self, key: &str) -> Option<Value> {
        Effective {
            set: &self.set,
            dynamic_default: &self.dynamic_default,
            dynamic_broker: &self.dynamic_broker,
        }
        .value(key)
    }

    /// The value of `key` for connections of `listener`, as text: Kafka's
    /// `listener.name.<listener>.<key>` (this broker's dynamic value, else server.properties),
    /// else the unprefixed key's effective value; `None` when neither is set nor defaulted.
    pub fn listener_value(&self, listener: &str, key: &str) -> Option<String> {
        let prefixed = listener_key(listener, key);
        if let Some(v) = self.dynamic_listener.get(&prefixed) {
            return Some(v.raw.clone());
        }
        if let Some(v) = self.listener_set.get(&prefixed) {
            return Some(v.raw.clone());
        }
        self.broker_value(key).map(|v| v.to_kafka_string())
    }

    /// `listener.name.<listener>.<key>` alone (this broker's dynamic value, else
    /// server.properties), without falling back to `<key>`: for limits Kafka keeps apart
    /// per listener and broker-wide (`max.connection.creation.rate`).
    pub fn listener_override(&self, listener: &str, key: &str) -> Option<String> {
        let prefixed = listener_key(listener, key);
        self.dynamic_listener
            .get(&prefixed)
            .map(|v| v.raw.clone())
            .or_else(|| self.listener_set.get(&prefixed).map(|v| v.raw.clone()))
    }

    /// Whether `key` is set (not defaulted) for `listener`, with or without the prefix.
    pub fn listener_value_is_set(&self, listener: &str, key: &str) -> bool {
        let prefixed = listener_key(listener, key);
        self.dynamic_listener.contains_key(&prefixed)
            || self.listener_set.contains_key(&prefixed)
            || self.set.contains_key(key)
            || self.dynamic_broker.contains_key(key)
            || self.dynamic_default.contains_key(key)
    }

    /// The security protocol of a listener (`PLAINTEXT`, `SSL`, `SASL_PLAINTEXT`,
    /// `SASL_SSL`): from `listener.security.protocol.map`, else the listener's own name when it
    /// is a protocol, else PLAINTEXT for a controller listener. Checked at start-up, so a
    /// listener of this configuration always has one.
    pub fn listener_security_protocol(&self, listener: &str) -> &'static str {
        let cfg = Effective {
            set: &self.set,
            dynamic_default: &self.dynamic_default,
            dynamic_broker: &self.dynamic_broker,
        };
        security_protocol_of(&cfg, &listener.to_ascii_uppercase())
            .ok()
            .flatten()
            .unwrap_or("PLAINTEXT")
    }

    /// The broker-wide value of a topic configuration, after synonyms and conversion.
    pub(crate) fn topic_value(&self, topic_key: &str) -> Option<&Value> {
        self.topic_values.get(topic_key)
    }
}

/// Checks every key against the table and parses every value; the first problem, in the order
/// the properties were given, is the error.
#[allow(clippy::type_complexity)]
fn validate_each(
    props: &Properties,
) -> Result<(BTreeMap<&'static str, SetValue>, BTreeMap<String, SetValue>), ConfigError> {
    let mut set = BTreeMap::new();
    let mut listener_set = BTreeMap::new();
    for p in props.iter() {
        if crate::sasl::is_sasl_listener_key(&p.key) {
            // Read per listener by `sasl::security_config`.
            continue;
        }
        if let Some((listener, key)) = split_listener_key(&p.key) {
            let def = broker_config_def(key).ok_or_else(|| ConfigError::UnknownKey {
                key: p.key.clone(),
                origin: p.origin.clone(),
                hint: format!("{key} is not a key Strom knows"),
            })?;
            if listener != listener.to_ascii_lowercase() {
                return Err(ConfigError::UnknownKey {
                    key: p.key.clone(),
                    origin: p.origin.clone(),
                    hint: format!(
                        "write the listener name in lower case: {}",
                        listener_key(listener, key)
                    ),
                });
            }
            let value = def
                .parse(&p.value)
                .map_err(|problem| ConfigError::InvalidValue {
                    key: p.key.clone(),
                    value: p.value.clone(),
                    expected: def.expected_for(&problem),
                    origin: p.origin.clone(),
                })?;
            listener_set.insert(
                p.key.clone(),
                SetValue {
                    raw: p.value.clone(),
                    value,
                    origin: p.origin.clone(),
                },
            );
            continue;
        }
        let def = broker_config_def(&p.key).ok_or_else(|| ConfigError::UnknownKey {
            key: p.key.clone(),
            origin: p.origin.clone(),
            hint: unknown_key_hint(&p.key),
        })?;
        let value = def
            .parse(&p.value)
            .map_err(|problem| ConfigError::InvalidValue {
                key: p.key.clone(),
                value: p.value.clone(),
                expected: def.expected_for(&problem),
                origin: p.origin.clone(),
            })?;
        set.insert(
            def.name,
            SetValue {
                raw: p.value.clone(),
                value,
                origin: p.origin.clone(),
            },
        );
    }
    Ok((set, listener_set))
}

fn unknown_key_hint(key: &str) -> String {
    if let Some((_, hint)) = REMOVED_KEYS.iter().find(|(name, _)| *name == key) {
        return (*hint).to_owned();
    }
    if let Some(topic) = topic_config_def(key) {
        let broker_names: Vec<&str> = topic.synonyms.iter().map(|s| s.name).collect();
        return format!(
            "it is a topic configuration; set it per topic, or the broker-wide default with {}",
            broker_names.join(" or ")
        );
    }
    let known = all_broker_config_defs().map(|d| d.name);
    if let Some(close) = known
        .min_by_key(|name| edit_distance(key, name))
        .filter(|name| {
            let distance = edit_distance(key, name);
            distance <= 2 || distance * 5 <= key.len()
        })
    {
        return format!("did you mean {close}?");
    }
    if key.starts_with("strom.") {
        let own: Vec<&str> = BROKER_CONFIGS
            .iter()
            .map(|d| d.name)
            .filter(|n| n.starts_with("strom."))
            .collect();
        return format!("Strom's own keys are {}", own.join(", "));
    }
    "`strom configs` lists every key Strom accepts".to_owned()
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(ca != *cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

/// Effective broker values, Kafka's precedence: this broker's dynamic value, else the
/// cluster-wide dynamic default, else set in the properties, else the table's default.
///
/// Kafka's `overrideProps` also drops the static synonyms of a dynamic key (a dynamic
/// `log.roll.ms` removes a static `log.roll.hours`). Only the first synonym of each group is
/// dynamic, and it outranks the rest anyway, so the effective values are the same; Strom keeps
/// describing the static synonym with the value it was set to.
pub(crate) struct Effective<'a> {
    set: &'a BTreeMap<&'static str, SetValue>,
    dynamic_default: &'a BTreeMap<&'static str, DynamicValue>,
    dynamic_broker: &'a BTreeMap<&'static str, DynamicValue>,
}

impl Effective<'_> {
    fn value(&self, name: &str) -> Option<Value> {
        let dynamic = self
            .dynamic_broker
            .get(name)
            .or_else(|| self.dynamic_default.get(name))
            .map(|d| &d.value);
        match dynamic.or_else(|| self.set.get(name).map(|s| &s.value)) {
            Some(value) => Some(value.clone()),
            None => broker_config_def(name).and_then(ConfigDef::default_value),
        }
    }

    pub(crate) fn int(&self, name: &str) -> i64 {
        self.value(name).and_then(|v| v.as_int()).unwrap_or(0)
    }

    pub(crate) fn double(&self, name: &str) -> f64 {
        self.value(name)
            .and_then(|v| v.as_double())
            .unwrap_or(f64::MAX)
    }

    pub(crate) fn boolean(&self, name: &str) -> bool {
        self.value(name).and_then(|v| v.as_bool()).unwrap_or(false)
    }

    pub(crate) fn string(&self, name: &str) -> Option<String> {
        self.value(name).and_then(|v| v.as_str().map(str::to_owned))
    }

    pub(crate) fn list(&self, name: &str) -> Option<Vec<String>> {
        self.value(name)
            .and_then(|v| v.as_list().map(<[String]>::to_vec))
    }

    fn origin(&self, name: &str) -> Option<Origin> {
        self.set.get(name).map(|s| s.origin.clone())
    }

    pub(crate) fn conflict(&self, key: &str, message: String) -> ConfigError {
        ConfigError::Conflict {
            key: key.to_owned(),
            origin: self.origin(key),
            message,
        }
    }
}

fn node_id(cfg: &Effective<'_>) -> Result<i32, ConfigError> {
    let node = cfg.set.get("node.id").and_then(|s| s.value.as_int());
    let broker = cfg.set.get("broker.id").and_then(|s| s.value.as_int());
    let id = match (node, broker) {
        (Some(node), Some(broker)) if node != broker => {
            return Err(cfg.conflict(
                "broker.id",
                format!("{broker} disagrees with node.id {node}; remove broker.id (node.id is its KRaft name)"),
            ))
        }
        (Some(id), _) | (None, Some(id)) => id,
        (None, None) => cfg.int("node.id"),
    };
    i32::try_from(id)
        .map_err(|_| cfg.conflict("node.id", format!("{id} does not fit a 32-bit node id")))
}

type ProtocolMap = BTreeMap<String, String>;

fn listeners(cfg: &Effective<'_>) -> Result<(Vec<Listener>, ProtocolMap), ConfigError> {
    let text = cfg.string("listeners").unwrap_or_default();
    let listeners = listener::parse_endpoints(&text).map_err(|e| cfg.conflict("listeners", e))?;
    if listeners.is_empty() {
        return Err(cfg.conflict(
            "listeners",
            "at least one listener is needed, for example PLAINTEXT://:9092".into(),
        ));
    }
    for (i, a) in listeners.iter().enumerate() {
        for b in &listeners[..i] {
            if a.name == b.name {
                return Err(cfg.conflict(
                    "listeners",
                    format!(
                        "listener name {} is used twice; each listener needs its own name",
                        a.name
                    ),
                ));
            }
            let same_interface = a.host == b.host || a.is_wildcard() || b.is_wildcard();
            if a.port != 0 && a.port == b.port && same_interface {
                return Err(cfg.conflict(
                    "listeners",
                    format!("{a} and {b} use the same port; each listener needs its own port"),
                ));
            }
        }
    }
    let protocols = check_security_protocols(cfg, &listeners)?;
    if let Some(rules) = cfg.string("ssl.principal.mapping.rules") {
        crate::ssl_principal::SslPrincipalMapper::parse(&rules)
            .map_err(|e| cfg.conflict("ssl.principal.mapping.rules", e))?;
    }
    Ok((listeners, protocols))
}

/// Strom serves PLAINTEXT, SSL (TLS), SASL_PLAINTEXT and SASL_SSL listeners, controller
/// listeners included (the quorum transport does TLS and SASL PLAIN). A controller listener
/// this node does not serve (a broker-only node's) is in the map too: its protocol says how
/// the node dials the controllers.
fn check_security_protocols(
    cfg: &Effective<'_>,
    listeners: &[Listener],
) -> Result<ProtocolMap, ConfigError> {
    let mut protocols = ProtocolMap::new();
    for l in listeners {
        match security_protocol_of(cfg, &l.name)? {
            Some(p @ ("PLAINTEXT" | "SSL" | "SASL_PLAINTEXT" | "SASL_SSL")) => {
                protocols.insert(l.name.clone(), p.to_owned());
            }
            Some(other) => {
                return Err(cfg.conflict(
                    "listeners",
                    format!("listener {} uses security protocol {other}, which Strom does not serve; map it to PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL in listener.security.protocol.map", l.name),
                ))
            }
            None => {
                return Err(cfg.conflict(
                    "listeners",
                    format!("listener {} has no security protocol; add {}:PLAINTEXT (or {}:SSL) to listener.security.protocol.map", l.name, l.name, l.name),
                ))
            }
        }
    }
    for name in controller_names(cfg) {
        if protocols.contains_key(&name) {
            continue;
        }
        match security_protocol_of(cfg, &name)? {
            Some(p @ ("PLAINTEXT" | "SSL" | "SASL_PLAINTEXT" | "SASL_SSL")) => {
                protocols.insert(name, p.to_owned());
            }
            other => {
                return Err(cfg.conflict(
                    "listener.security.protocol.map",
                    format!("controller listener {name} uses security protocol {}, which Strom cannot speak; map it to PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL", other.unwrap_or("(none)")),
                ))
            }
        }
    }
    Ok(protocols)
}

pub(crate) fn controller_names(cfg: &Effective<'_>) -> Vec<String> {
    cfg.list("controller.listener.names")
        .unwrap_or_default()
        .iter()
        .map(|n| n.to_ascii_uppercase())
        .collect()
}

/// A listener's security protocol (see [`BrokerConfig::listener_security_protocol`]).
fn security_protocol_of(
    cfg: &Effective<'_>,
    name: &str,
) -> Result<Option<&'static str>, ConfigError> {
    let map_text = cfg
        .string("listener.security.protocol.map")
        .unwrap_or_default();
    let map = listener::parse_protocol_map(&map_text)
        .map_err(|e| cfg.conflict("listener.security.protocol.map", e))?;
    let mapped = map
        .iter()
        .find(|(n, _)| n == name)
        .and_then(|(_, p)| SECURITY_PROTOCOLS.iter().copied().find(|s| s == p));
    Ok(mapped
        .or_else(|| SECURITY_PROTOCOLS.iter().copied().find(|p| *p == name))
        .or_else(|| {
            controller_names(cfg)
                .contains(&name.to_owned())
                .then_some("PLAINTEXT")
        }))
}

fn advertised_listeners(
    cfg: &Effective<'_>,
    listeners: &[Listener],
) -> Result<Vec<Listener>, ConfigError> {
    let key = "advertised.listeners";
    let Some(text) = cfg.string(key) else {
        return Ok(listeners
            .iter()
            .map(advertise_wildcard_as_loopback)
            .collect());
    };
    let advertised = listener::parse_endpoints(&text).map_err(|e| cfg.conflict(key, e))?;
    if advertised.is_empty() {
        return Err(cfg.conflict(
            key,
            "is empty; remove it to advertise the listeners, or name at least one".into(),
        ));
    }
    for a in &advertised {
        if matches!(a.host.as_str(), "0.0.0.0" | "::") {
            return Err(cfg.conflict(
                key,
                format!("{a} uses the non-routable meta-address {}; advertise an address clients can reach", a.host),
            ));
        }
        if !listeners.iter().any(|l| l.name == a.name) {
            return Err(cfg.conflict(
                key,
                format!(
                    "listener {} is not in listeners; advertise only listeners the broker has",
                    a.name
                ),
            ));
        }
    }
    Ok(advertised
        .iter()
        .map(advertise_wildcard_as_loopback)
        .collect())
}

fn advertise_wildcard_as_loopback(l: &Listener) -> Listener {
    if l.is_wildcard() {
        Listener {
            host: WILDCARD_ADVERTISED_HOST.to_owned(),
            ..l.clone()
        }
    } else {
        l.clone()
    }
}

/// For each topic configuration, the first broker synonym with a value, converted; Kafka's
/// `extractLogConfigMap`. Kafka turns any negative retention time into -1 (forever).
fn topic_values_from_broker(cfg: &Effective<'_>) -> BTreeMap<&'static str, Value> {
    let mut values = BTreeMap::new();
    for def in TOPIC_CONFIGS {
        let from_synonym = def.synonyms.iter().find_map(|s| {
            cfg.value(s.name).map(|v| match v {
                Value::Int(n) => Value::Int(s.conversion.apply(n)),
                other => other,
            })
        });
        let value = match (def.name, from_synonym.or_else(|| def.default_value())) {
            ("retention.ms", Some(Value::Int(n))) if n < 0 => Some(Value::Int(-1)),
            (_, value) => value,
        };
        if let Some(value) = value {
            values.insert(def.name, value);
        }
    }
    values
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_counts_single_character_edits() {
        assert_eq!(edit_distance("log.segment.bytes", "log.segment.bytes"), 0);
        assert_eq!(edit_distance("log.segmnt.bytes", "log.segment.bytes"), 1);
        assert_eq!(edit_distance("abc", ""), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn every_topic_configuration_has_a_broker_wide_value() {
        let config = BrokerConfig::default();
        for def in TOPIC_CONFIGS {
            let value = config
                .topic_value(def.name)
                .unwrap_or_else(|| panic!("{} has no broker value", def.name));
            assert_eq!(
                def.parse(&value.to_kafka_string()).as_ref(),
                Ok(value),
                "{}",
                def.name
            );
        }
    }
}
