//! Every broker configuration key Strom accepts, in one table.
//!
//! Names, types, defaults and valid ranges are Kafka 4.x's (`KafkaConfig`, `ServerLogConfigs`,
//! KIP-1030 for 4.0's changed minimums), except where a line says otherwise: Strom's defaults
//! let `strom server` run with no file at all (node.id 1, listener on 127.0.0.1:9092, data in
//! ./strom-data). Keys Kafka has but Strom does not act on yet are accepted and type-checked
//! (`acted_on: false`), so a Kafka `server.properties` loads unchanged and the broker can say
//! which settings have no effect. Strom's own keys start with `strom.`.
//!
//! `.dynamic()` marks the keys AlterConfigs may change at run time (KIP-226), Kafka's
//! `DynamicBrokerConfig.AllDynamicConfigs` as far as this table has them: the first broker
//! synonym of every topic configuration (`DynamicLogConfig`: `log.retention.ms` is dynamic,
//! `log.retention.hours` and `log.retention.minutes` are read-only, as are `log.roll.hours`,
//! `log.roll.jitter.hours` and `log.flush.scheduler.interval.ms`), `log.cleaner.threads`, the
//! thread pools (`num.io.threads`, `num.network.threads`, `num.replica.fetchers`,
//! `num.recovery.threads.per.data.dir`, `background.threads`) and the connection limits. Kafka
//! can also add listeners per broker (`listeners`, `listener.security.protocol.map`); Strom
//! binds its listeners at start-up only, so those stay read-only. None of these is per-broker
//! only, so each may be set as the cluster-wide default or for one broker.

use crate::def::{ConfigDef, ConfigType::*, Validity::*};
use crate::listener::SECURITY_PROTOCOLS;

const LONG_MAX: &str = "9223372036854775807";
const INT_MAX: &str = "2147483647";

pub(crate) const CLEANUP_POLICIES: &[&str] = &["compact", "delete"];
pub(crate) const TIMESTAMP_TYPES: &[&str] = &["CreateTime", "LogAppendTime"];
pub(crate) const COMPRESSION_TYPES: &[&str] =
    &["uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"];
const PROCESS_ROLES: &[&str] = &["broker", "controller"];

/// Kafka's default `listener.security.protocol.map`.
pub(crate) const DEFAULT_PROTOCOL_MAP: &str =
    "PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL";

/// Every broker configuration key, in the order the generated documentation lists them.
#[rustfmt::skip]
pub static BROKER_CONFIGS: &[ConfigDef] = &[
    // ---- Server basics
    ConfigDef::new("node.id", Int, Some("1"), AtLeast(0), "", true,
        "The id of this node. Kafka requires it; Strom defaults to 1 for a single-node start."),
    ConfigDef::new("broker.id", Int, None, AtLeast(0), "", true,
        "Older name of node.id; if both are set they must agree."),
    ConfigDef::new("broker.rack", String, None, Any, "", true,
        "Rack of this broker, reported to clients in metadata responses."),
    ConfigDef::new("process.roles", List, None, ListOf(PROCESS_ROLES), "", false,
        "KRaft roles of this node; Strom always runs broker and controller in one process."),
    ConfigDef::new("controller.quorum.voters", List, Some(""), QuorumVoters, "", false,
        "Static controller quorum as id@host:port; Strom runs a single-voter quorum."),
    ConfigDef::new("controller.quorum.bootstrap.servers", List, Some(""), HostPorts, "", false,
        "Controller endpoints used to discover the quorum (dynamic quorum)."),
    ConfigDef::new("controller.listener.names", List, None, Any, "", true,
        "Names of the listeners used by the controller; the broker serves clients on the first other listener."),
    ConfigDef::new("strom.cluster.id", String, None, ClusterId, "", true,
        "Strom: cluster id for a new data directory (otherwise one is generated); must match an existing one."),
    // ---- Socket server
    ConfigDef::new("listeners", String, Some("PLAINTEXT://127.0.0.1:9092"), Listeners, "", true,
        "Where the broker listens, as NAME://host:port; empty host = all interfaces. Kafka's default is PLAINTEXT://:9092."),
    ConfigDef::new("advertised.listeners", String, None, Listeners, "", true,
        "What the broker tells clients to connect to; defaults to listeners with an all-interfaces host replaced by 127.0.0.1."),
    ConfigDef::new("listener.security.protocol.map", String, Some(DEFAULT_PROTOCOL_MAP), ProtocolMap, "", true,
        "Security protocol of each listener name; Strom serves PLAINTEXT only and refuses to start on any other."),
    ConfigDef::new("inter.broker.listener.name", String, None, Any, "", false,
        "Listener brokers use to talk to each other."),
    ConfigDef::new("security.inter.broker.protocol", String, Some("PLAINTEXT"), OneOf(SECURITY_PROTOCOLS), "", false,
        "Security protocol brokers use to talk to each other."),
    ConfigDef::new("num.network.threads", Int, Some("3"), AtLeast(1), "threads", false,
        "Threads receiving requests from and sending responses to the network.").dynamic(),
    ConfigDef::new("num.io.threads", Int, Some("8"), AtLeast(1), "threads", false,
        "Threads processing requests.").dynamic(),
    ConfigDef::new("background.threads", Int, Some("10"), AtLeast(1), "threads", false,
        "Threads for background tasks.").dynamic(),
    ConfigDef::new("queued.max.requests", Int, Some("500"), AtLeast(1), "requests", false,
        "Requests queued for the I/O threads before network threads stop reading."),
    ConfigDef::new("queued.max.request.bytes", Long, Some("-1"), Any, "bytes", true,
        "Memory pool for the bytes of requests being read, across all connections, charged as bytes arrive; when it is exhausted connections stop reading until requests in progress are handled. Kafka's -1 means no pool; in Strom -1 means a pool of twice socket.request.max.bytes (see ARCHITECTURE.md)."),
    ConfigDef::new("socket.send.buffer.bytes", Int, Some("102400"), Any, "bytes", false,
        "SO_SNDBUF of server sockets; -1 uses the operating system default."),
    ConfigDef::new("socket.receive.buffer.bytes", Int, Some("102400"), Any, "bytes", false,
        "SO_RCVBUF of server sockets; -1 uses the operating system default."),
    ConfigDef::new("socket.request.max.bytes", Int, Some("104857600"), AtLeast(1), "bytes", true,
        "Largest request the broker accepts; a larger size prefix closes the connection."),
    ConfigDef::new("socket.listen.backlog.size", Int, Some("50"), AtLeast(1), "connections", false,
        "Backlog of pending connections on each listening socket."),
    ConfigDef::new("max.connections", Int, Some(INT_MAX), AtLeast(0), "connections", true,
        "Most connections the broker holds at once, across listeners; beyond it the broker stops accepting until one closes.").dynamic(),
    ConfigDef::new("max.connections.per.ip", Int, Some(INT_MAX), AtLeast(0), "connections", true,
        "Most connections the broker holds from one IP address; a connection beyond it is closed at once.").dynamic(),
    ConfigDef::new("max.connections.per.ip.overrides", String, Some(""), HostCounts, "", true,
        "Per-IP exceptions to max.connections.per.ip, as host:count,... (hosts are IP addresses or names resolved when the value is read).").dynamic(),
    ConfigDef::new("connections.max.idle.ms", Long, Some("600000"), Any, "ms", true,
        "Connections with no request and no reply pending for this long are closed; -1 never closes them."),
    ConfigDef::new("fetch.max.bytes", Int, Some("57671680"), AtLeast(1024), "bytes", true,
        "Most record bytes one Fetch returns (caps the request's max_bytes and each partition's partition_max_bytes); the first batch is returned whole even if larger (KIP-74)."),
    // ---- Topics
    ConfigDef::new("num.partitions", Int, Some("1"), AtLeast(1), "partitions", true,
        "Partitions of a topic created without a partition count (or auto-created)."),
    ConfigDef::new("default.replication.factor", Int, Some("1"), Range(1, 32767), "replicas", true,
        "Replication factor of a topic created without one (or auto-created)."),
    ConfigDef::new("auto.create.topics.enable", Boolean, Some("true"), Any, "", true,
        "Create a topic when a client asks for metadata of one that does not exist."),
    ConfigDef::new("delete.topic.enable", Boolean, Some("true"), Any, "", true,
        "Allow deleting topics; when false DeleteTopics fails."),
    ConfigDef::new("auto.leader.rebalance.enable", Boolean, Some("true"), Any, "", false,
        "Move partition leadership back to preferred replicas in the background."),
    ConfigDef::new("min.insync.replicas", Int, Some("1"), AtLeast(1), "replicas", true,
        "Replicas that must have a write before acks=all succeeds.").dynamic(),
    ConfigDef::new("unclean.leader.election.enable", Boolean, Some("false"), Any, "", false,
        "Allow a replica outside the ISR to become leader, losing data.").dynamic(),
    ConfigDef::new("compression.type", String, Some("producer"), OneOf(COMPRESSION_TYPES), "", false,
        "Compression of stored batches; producer keeps what the producer sent.").dynamic(),
    ConfigDef::new("message.max.bytes", Int, Some("1048588"), AtLeast(0), "bytes", true,
        "Largest record batch a topic accepts (topic config max.message.bytes).").dynamic(),
    // ---- Log basics
    ConfigDef::new("log.dirs", List, None, NonEmptyDistinctList, "", true,
        "Directories holding the partition logs; if unset, log.dir is used."),
    ConfigDef::new("log.dir", List, Some("./strom-data"), NonEmptyDistinctList, "", true,
        "Directory holding the partition logs when log.dirs is unset. Kafka's default is /tmp/kafka-logs."),
    ConfigDef::new("metadata.log.dir", String, None, Any, "", false,
        "Directory of the cluster metadata log; Strom keeps it in the first log directory."),
    ConfigDef::new("num.recovery.threads.per.data.dir", Int, Some("2"), AtLeast(1), "threads", false,
        "Threads per log directory for recovery at start-up and flushing at shutdown.").dynamic(),
    ConfigDef::new("log.segment.bytes", Int, Some("1073741824"), AtLeast(1_048_576), "bytes", true,
        "Largest size of one log segment file (topic config segment.bytes).").dynamic(),
    ConfigDef::new("log.roll.ms", Long, None, AtLeast(1), "ms", true,
        "Roll a new segment after this long even if not full; if unset, log.roll.hours is used.").dynamic(),
    ConfigDef::new("log.roll.hours", Int, Some("168"), AtLeast(1), "hours", true,
        "Roll a new segment after this many hours; log.roll.ms takes precedence."),
    ConfigDef::new("log.roll.jitter.ms", Long, None, AtLeast(0), "ms", true,
        "Most random jitter subtracted from the roll time; if unset, log.roll.jitter.hours is used.").dynamic(),
    ConfigDef::new("log.roll.jitter.hours", Int, Some("0"), AtLeast(0), "hours", true,
        "Most random jitter subtracted from the roll time; log.roll.jitter.ms takes precedence."),
    ConfigDef::new("log.index.interval.bytes", Int, Some("4096"), AtLeast(0), "bytes", true,
        "Bytes of log between two offset index entries.").dynamic(),
    ConfigDef::new("log.index.size.max.bytes", Int, Some("10485760"), AtLeast(4), "bytes", true,
        "Largest size of an offset or time index file.").dynamic(),
    ConfigDef::new("log.preallocate", Boolean, Some("false"), Any, "", false,
        "Preallocate segment files at their full size.").dynamic(),
    ConfigDef::new("log.message.timestamp.type", String, Some("CreateTime"), OneOf(TIMESTAMP_TYPES), "", true,
        "Whether record timestamps are the producer's (CreateTime) or the broker's append time (LogAppendTime).").dynamic(),
    ConfigDef::new("log.message.timestamp.before.max.ms", Long, Some(LONG_MAX), AtLeast(0), "ms", true,
        "With CreateTime, a record whose timestamp is further than this in the past fails its produce with INVALID_TIMESTAMP (compressed batches: their first and largest timestamps are checked).").dynamic(),
    ConfigDef::new("log.message.timestamp.after.max.ms", Long, Some("3600000"), AtLeast(0), "ms", true,
        "With CreateTime, a record whose timestamp is further than this in the future fails its produce with INVALID_TIMESTAMP (compressed batches: their first and largest timestamps are checked).").dynamic(),
    // ---- Flush policy
    ConfigDef::new("log.flush.interval.messages", Long, Some(LONG_MAX), AtLeast(1), "messages", true,
        "fsync a partition after this many messages; the default never forces a flush.").dynamic(),
    ConfigDef::new("log.flush.interval.ms", Long, None, AtLeast(0), "ms", true,
        "fsync a partition when its oldest unflushed message is this old; if unset, log.flush.scheduler.interval.ms is used.").dynamic(),
    ConfigDef::new("log.flush.scheduler.interval.ms", Long, Some(LONG_MAX), AtLeast(0), "ms", true,
        "Fallback for log.flush.interval.ms; the default never forces a flush."),
    ConfigDef::new("log.flush.offset.checkpoint.interval.ms", Int, Some("60000"), AtLeast(0), "ms", false,
        "How often the recovery point is checkpointed."),
    ConfigDef::new("strom.acks.all.fsync", Boolean, Some("true"), Any, "", true,
        "Strom: an acks=all produce is answered only after the leader's log is fsynced."),
    // ---- Retention and cleaning
    ConfigDef::new("log.retention.ms", Long, None, Any, "ms", true,
        "Delete segments older than this; -1 keeps them forever; if unset, log.retention.minutes is used.").dynamic(),
    ConfigDef::new("log.retention.minutes", Int, None, Any, "minutes", true,
        "Delete segments older than this; if unset, log.retention.hours is used."),
    ConfigDef::new("log.retention.hours", Int, Some("168"), Any, "hours", true,
        "Delete segments older than this; log.retention.ms and log.retention.minutes take precedence."),
    ConfigDef::new("log.retention.bytes", Long, Some("-1"), Any, "bytes", true,
        "Delete old segments while a partition is larger than this; -1 means no size limit.").dynamic(),
    ConfigDef::new("log.retention.check.interval.ms", Long, Some("300000"), AtLeast(1), "ms", true,
        "How often logs are checked for segments to delete."),
    ConfigDef::new("log.cleanup.policy", List, Some("delete"), ListOf(CLEANUP_POLICIES), "", true,
        "What happens to old segments: delete, compact, or both.").dynamic(),
    ConfigDef::new("log.segment.delete.delay.ms", Long, Some("60000"), AtLeast(0), "ms", false,
        "Wait this long before removing a deleted segment's files.").dynamic(),
    ConfigDef::new("log.cleaner.enable", Boolean, Some("true"), Any, "", true,
        "Run the log cleaner (needed for compacted topics)."),
    ConfigDef::new("log.cleaner.threads", Int, Some("1"), AtLeast(0), "threads", true,
        "Threads compacting logs.").dynamic(),
    ConfigDef::new("log.cleaner.backoff.ms", Long, Some("15000"), AtLeast(0), "ms", true,
        "How long the log cleaner sleeps when no log needs cleaning."),
    ConfigDef::new("log.cleaner.dedupe.buffer.size", Long, Some("134217728"), AtLeast(1), "bytes", true,
        "Memory for the cleaner's key map across cleaner threads; a larger dirty section is cleaned in several passes.").dynamic(),
    ConfigDef::new("log.cleaner.io.max.bytes.per.second", Double, Some("1.7976931348623157E308"), Any, "bytes/s", true,
        "Cap on the cleaner's read plus write rate.").dynamic(),
    ConfigDef::new("log.cleaner.delete.retention.ms", Long, Some("86400000"), AtLeast(0), "ms", true,
        "How long tombstones stay in a compacted log.").dynamic(),
    ConfigDef::new("log.cleaner.min.compaction.lag.ms", Long, Some("0"), AtLeast(0), "ms", true,
        "Youngest a message may be and still be compacted.").dynamic(),
    ConfigDef::new("log.cleaner.max.compaction.lag.ms", Long, Some(LONG_MAX), AtLeast(1), "ms", true,
        "Oldest a message may get before it must be eligible for compaction.").dynamic(),
    ConfigDef::new("log.cleaner.min.cleanable.ratio", Double, Some("0.5"), Between(0.0, 1.0), "", true,
        "Dirty ratio above which a log is compacted.").dynamic(),
    // ---- Replication and internal topics
    ConfigDef::new("num.replica.fetchers", Int, Some("1"), AtLeast(1), "threads", false,
        "Fetcher threads per source broker for replication.").dynamic(),
    ConfigDef::new("replica.lag.time.max.ms", Long, Some("30000"), Any, "ms", false,
        "A follower that has not caught up for this long leaves the ISR."),
    ConfigDef::new("offsets.topic.replication.factor", Short, Some("3"), AtLeast(1), "replicas", true,
        "Replication factor of __consumer_offsets (capped at the number of brokers when the topic is created)."),
    ConfigDef::new("offsets.topic.num.partitions", Int, Some("50"), AtLeast(1), "partitions", true,
        "Partitions of __consumer_offsets, created on the first FindCoordinator; each partition is one group coordinator shard."),
    ConfigDef::new("offsets.topic.segment.bytes", Int, Some("104857600"), AtLeast(1), "bytes", true,
        "segment.bytes of __consumer_offsets."),
    ConfigDef::new("offsets.retention.minutes", Int, Some("10080"), AtLeast(1), "minutes", true,
        "How long committed offsets of an empty group (or, for a group that only stores offsets, each offset after its commit) are kept."),
    ConfigDef::new("offsets.retention.check.interval.ms", Long, Some("600000"), AtLeast(1), "ms", true,
        "How often the group coordinator looks for expired offsets."),
    ConfigDef::new("offset.metadata.max.bytes", Int, Some("4096"), AtLeast(0), "bytes", true,
        "Longest metadata string an offset commit may carry (longer: OFFSET_METADATA_TOO_LARGE)."),
    ConfigDef::new("producer.id.expiration.ms", Int, Some("86400000"), AtLeast(1), "ms", true,
        "A producer id with no append to a partition for this long (by its last batch's timestamp) is forgotten by that partition; a retry after that is not recognised as a duplicate.").dynamic(),
    ConfigDef::new("producer.id.expiration.check.interval.ms", Int, Some("600000"), AtLeast(1), "ms", true,
        "How often partitions forget producer ids past producer.id.expiration.ms."),
    ConfigDef::new("transaction.state.log.replication.factor", Short, Some("3"), AtLeast(1), "replicas", false,
        "Replication factor of __transaction_state."),
    ConfigDef::new("transaction.state.log.min.isr", Int, Some("2"), AtLeast(1), "replicas", false,
        "min.insync.replicas of __transaction_state."),
    ConfigDef::new("transaction.state.log.num.partitions", Int, Some("50"), AtLeast(1), "partitions", false,
        "Partitions of __transaction_state."),
    ConfigDef::new("share.coordinator.state.topic.replication.factor", Short, Some("3"), AtLeast(1), "replicas", false,
        "Replication factor of __share_group_state."),
    ConfigDef::new("share.coordinator.state.topic.min.isr", Short, Some("2"), AtLeast(1), "replicas", false,
        "min.insync.replicas of __share_group_state."),
    // ---- Group coordinator
    ConfigDef::new("group.initial.rebalance.delay.ms", Int, Some("3000"), AtLeast(0), "ms", true,
        "How long the group coordinator waits for more members before the first rebalance of an empty classic group."),
    ConfigDef::new("group.min.session.timeout.ms", Int, Some("6000"), AtLeast(0), "ms", true,
        "Shortest session.timeout.ms a classic group member may ask for (shorter: INVALID_SESSION_TIMEOUT)."),
    ConfigDef::new("group.max.session.timeout.ms", Int, Some("1800000"), AtLeast(0), "ms", true,
        "Longest session.timeout.ms a classic group member may ask for."),
    ConfigDef::new("group.max.size", Int, Some(INT_MAX), AtLeast(1), "members", true,
        "Most members a classic group may have (more: GROUP_MAX_SIZE_REACHED)."),
    ConfigDef::new("group.consumer.session.timeout.ms", Int, Some("45000"), AtLeast(1), "ms", true,
        "Session timeout of KIP-848 consumer group members: silent longer, a member is removed."),
    ConfigDef::new("group.consumer.heartbeat.interval.ms", Int, Some("5000"), AtLeast(1), "ms", true,
        "How often KIP-848 consumer group members are told to heartbeat."),
    ConfigDef::new("group.consumer.max.size", Int, Some(INT_MAX), AtLeast(1), "members", true,
        "Most members a KIP-848 consumer group may have (more: GROUP_MAX_SIZE_REACHED)."),
];

/// Keys Kafka removed or Strom will never take, with what to do instead.
#[rustfmt::skip]
pub(crate) static REMOVED_KEYS: &[(&str, &str)] = &[
    ("zookeeper.connect", "Kafka 4 and Strom run without ZooKeeper: remove it and use process.roles/node.id (KRaft)"),
    ("zookeeper.connection.timeout.ms", "Kafka 4 and Strom run without ZooKeeper: remove it"),
    ("zookeeper.session.timeout.ms", "Kafka 4 and Strom run without ZooKeeper: remove it"),
    ("zookeeper.set.acl", "Kafka 4 and Strom run without ZooKeeper: remove it"),
    ("log.message.format.version", "removed in Kafka 4.0 (only record batch v2 is written): remove it"),
    ("inter.broker.protocol.version", "removed in Kafka 4.0 (KRaft uses metadata.version): remove it"),
    ("log.message.timestamp.difference.max.ms", "removed in Kafka 4.0: use log.message.timestamp.before.max.ms and log.message.timestamp.after.max.ms"),
];
