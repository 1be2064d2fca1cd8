//! Dynamic broker configuration (KIP-226): which keys may change, how changes are checked,
//! Kafka's precedence (topic override > this broker > cluster-wide default > server.properties >
//! default) in the typed configuration, and the sources and synonyms DescribeConfigs reports.

use std::collections::BTreeMap;
use std::path::Path;

use strom_config::{
    broker_config_def, describe_broker_configs, describe_default_broker_configs,
    describe_topic_configs, not_acted_on, validate_dynamic_broker_changes,
    validate_dynamic_broker_configs, validate_dynamic_broker_update, BrokerConfig, CleanupPolicy,
    CompressionType, ConfigEntry, ConfigError, ConfigSource, ConfigSynonym, Properties,
    TimestampType, TopicConfig, UpdateMode, BROKER_CONFIGS, INVALID_CONFIG, INVALID_REQUEST,
    KAFKA_BROKER_CONFIGS,
};

use ConfigSource::{
    DefaultConfig, DynamicBrokerConfig, DynamicDefaultBrokerConfig, DynamicTopicConfig,
    StaticBrokerConfig,
};

fn config(text: &str) -> BrokerConfig {
    BrokerConfig::from_properties(&Properties::parse(text).unwrap())
        .unwrap_or_else(|e| panic!("{e}"))
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn none() -> BTreeMap<String, String> {
    BTreeMap::new()
}

fn synonym(name: &str, value: &str, source: ConfigSource) -> ConfigSynonym {
    ConfigSynonym {
        name: name.into(),
        value: Some(value.into()),
        source,
    }
}

fn only<'a>(entries: &'a [ConfigEntry], name: &str) -> &'a ConfigEntry {
    entries
        .iter()
        .find(|e| e.name == name)
        .unwrap_or_else(|| panic!("no entry {name}"))
}

fn keys(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

fn invalid(changes: &[(&str, &str)]) -> ConfigError {
    match validate_dynamic_broker_configs(&map(changes)) {
        Ok(()) => panic!("expected {changes:?} to be refused"),
        Err(e) => e,
    }
}

// ---- Which keys are dynamic

#[test]
fn only_kafkas_dynamic_broker_keys_are_dynamic() {
    let dynamic: Vec<&str> = BROKER_CONFIGS
        .iter()
        .filter(|d| d.dynamic)
        .map(|d| d.name)
        .collect();
    assert_eq!(
        dynamic,
        vec![
            "num.network.threads",
            "num.io.threads",
            "background.threads",
            "max.connections",
            "max.connection.creation.rate",
            "max.connections.per.ip",
            "max.connections.per.ip.overrides",
            // The listener SSL keys (per broker, with a listener prefix for the stores).
            "ssl.keystore.type",
            "ssl.keystore.location",
            "ssl.keystore.certificate.chain",
            "ssl.keystore.key",
            "ssl.keystore.password",
            "ssl.key.password",
            "ssl.truststore.type",
            "ssl.truststore.location",
            "ssl.truststore.certificates",
            "ssl.client.auth",
            "ssl.enabled.protocols",
            "ssl.cipher.suites",
            "ssl.endpoint.identification.algorithm",
            "min.insync.replicas",
            "unclean.leader.election.enable",
            "compression.type",
            "message.max.bytes",
            "num.recovery.threads.per.data.dir",
            "log.segment.bytes",
            "log.roll.ms",
            "log.roll.jitter.ms",
            "log.index.interval.bytes",
            "log.index.size.max.bytes",
            "log.preallocate",
            "log.message.timestamp.type",
            "log.message.timestamp.before.max.ms",
            "log.message.timestamp.after.max.ms",
            "log.flush.interval.messages",
            "log.flush.interval.ms",
            "log.retention.ms",
            "log.retention.bytes",
            "log.cleanup.policy",
            "log.segment.delete.delay.ms",
            "log.cleaner.threads",
            "log.cleaner.dedupe.buffer.size",
            "log.cleaner.io.max.bytes.per.second",
            "log.cleaner.delete.retention.ms",
            "log.cleaner.min.compaction.lag.ms",
            "log.cleaner.max.compaction.lag.ms",
            "log.cleaner.min.cleanable.ratio",
            "num.replica.fetchers",
            "leader.replication.throttled.rate",
            "follower.replication.throttled.rate",
            "producer.id.expiration.ms",
            "transaction.partition.verification.enable",
        ]
    );
    for read_only in [
        "node.id",
        "log.dirs",
        "listeners",
        "advertised.listeners",
        "process.roles",
        "num.partitions",
        "log.retention.hours",
        "log.roll.hours",
        "log.flush.scheduler.interval.ms",
        "strom.acks.all.fsync",
    ] {
        let def = BROKER_CONFIGS.iter().find(|d| d.name == read_only).unwrap();
        assert!(!def.dynamic, "{read_only}");
    }
}

// ---- Validation of changes

#[test]
fn valid_dynamic_changes_pass() {
    validate_dynamic_broker_configs(&none()).unwrap();
    validate_dynamic_broker_configs(&map(&[
        ("log.retention.ms", "-1"),
        ("log.segment.bytes", "1048576"),
        ("log.cleanup.policy", "compact,delete"),
        ("log.cleaner.min.cleanable.ratio", "0.1"),
        ("min.insync.replicas", "2"),
        ("message.max.bytes", "2000000"),
    ]))
    .unwrap();
}

#[test]
fn dynamic_keys_strom_does_not_act_on_are_accepted_and_named_for_the_log() {
    for key in KAFKA_BROKER_CONFIGS
        .iter()
        .filter(|k| k.update == UpdateMode::ClusterWide)
        .filter(|k| broker_config_def(k.def.name).is_some_and(|d| !d.acted_on && d.dynamic))
    {
        let Some(value) = key.def.default else {
            continue;
        };
        let changes: BTreeMap<String, Option<String>> = [
            (key.def.name.to_owned(), Some(value.to_owned())),
            ("log.retention.ms".to_owned(), Some("1000".to_owned())),
        ]
        .into();
        validate_dynamic_broker_update(&changes, false)
            .unwrap_or_else(|e| panic!("{}: {e}", key.def.name));
        assert_eq!(not_acted_on(&changes), vec![key.def.name.to_owned()]);
    }
    let changes: BTreeMap<String, Option<String>> = [
        ("num.io.threads".to_owned(), Some("16".to_owned())),
        ("background.threads".to_owned(), Some("4".to_owned())),
    ]
    .into();
    validate_dynamic_broker_changes(&changes).unwrap();
    assert_eq!(
        not_acted_on(&changes),
        vec!["background.threads", "num.io.threads"]
    );
    // A deletion is never reported, and compression.type is acted on (recompressed on produce).
    let delete: BTreeMap<String, Option<String>> = [("num.io.threads".to_owned(), None)].into();
    assert!(not_acted_on(&delete).is_empty());
    let acted: BTreeMap<String, Option<String>> =
        [("compression.type".to_owned(), Some("zstd".to_owned()))].into();
    validate_dynamic_broker_changes(&acted).unwrap();
    assert!(not_acted_on(&acted).is_empty());
}

#[test]
fn kafka_keys_strom_does_not_know_itself_follow_kafkas_update_modes() {
    let one = |k: &str, v: &str| -> BTreeMap<String, Option<String>> {
        [(k.to_owned(), Some(v.to_owned()))].into()
    };
    // librdkafka's AlterConfigs test sets this on one broker: per-broker, so accepted there...
    let relogin = one("sasl.kerberos.min.time.before.relogin", "58000");
    validate_dynamic_broker_update(&relogin, true).unwrap();
    assert_eq!(
        not_acted_on(&relogin),
        vec!["sasl.kerberos.min.time.before.relogin"]
    );
    // ...but not as the cluster-wide default, with Kafka's message and INVALID_REQUEST.
    let err = validate_dynamic_broker_update(&relogin, false).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Cannot update these configs at default cluster level, broker id must be specified: \
         Set(sasl.kerberos.min.time.before.relogin)"
    );
    assert_eq!(err.kafka_error_code(), INVALID_REQUEST);
    // Its type is checked: a LONG.
    let err =
        validate_dynamic_broker_update(&one("sasl.kerberos.min.time.before.relogin", "soon"), true)
            .unwrap_err();
    assert_eq!(
        err.to_string(),
        "Invalid value soon for configuration sasl.kerberos.min.time.before.relogin: Not a number of type LONG"
    );
    assert_eq!(err.kafka_error_code(), INVALID_REQUEST);
    // A read-only Kafka key Strom does not act on: Kafka's INVALID_REQUEST.
    let err = validate_dynamic_broker_update(
        &[
            (
                "sasl.server.max.receive.size".to_owned(),
                Some("1".to_owned()),
            ),
            ("authorizer.class.name".to_owned(), Some("x".to_owned())),
        ]
        .into(),
        true,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "Cannot update these configs dynamically: Set(authorizer.class.name, sasl.server.max.receive.size)"
    );
    assert_eq!(err.kafka_error_code(), INVALID_REQUEST);
    // Keystores only with a listener prefix.
    let err =
        validate_dynamic_broker_update(&one("ssl.keystore.location", "/k"), true).unwrap_err();
    assert_eq!(
        err.to_string(),
        "These security configs can be dynamically updated only per-listener using the listener prefix: \
         Set(ssl.keystore.location)"
    );
    assert_eq!(err.kafka_error_code(), INVALID_REQUEST);
    // A range from Kafka's validator: remote.log.manager.copy.max.bytes.per.second >= 1.
    let err = validate_dynamic_broker_update(
        &one("remote.log.manager.copy.max.bytes.per.second", "0"),
        false,
    )
    .unwrap_err();
    assert_eq!(err.kafka_error_code(), INVALID_REQUEST);
    assert!(
        err.to_string().contains("Value must be at least 1"),
        "{err}"
    );
    // Not Kafka's at all: refused as before.
    let err = validate_dynamic_broker_update(&one("no.such.key", "1"), true).unwrap_err();
    assert_eq!(err.kafka_error_code(), INVALID_CONFIG);
}

#[test]
fn an_unknown_broker_key_is_an_invalid_config() {
    let err = invalid(&[("log.segment.bytes", "1048576"), ("no.such.config", "1")]);
    assert_eq!(err.to_string(), "unknown broker config no.such.config");
    assert_eq!(err.kafka_error_code(), INVALID_CONFIG);
    assert_eq!(err.key(), Some("no.such.config"));
    // A topic configuration is not a broker configuration.
    assert_eq!(
        invalid(&[("retention.ms", "1000")]).to_string(),
        "unknown broker config retention.ms"
    );
    // Unknown keys are reported before read-only ones.
    assert!(matches!(
        invalid(&[("node.id", "2"), ("zzz", "1")]),
        ConfigError::UnknownBrokerConfig { .. }
    ));
}

#[test]
fn read_only_keys_cannot_be_updated_dynamically() {
    let err = invalid(&[
        ("node.id", "2"),
        ("log.segment.bytes", "1048576"),
        ("log.dirs", "/var/lib/strom"),
    ]);
    assert_eq!(
        err.to_string(),
        "Cannot update these configs dynamically: Set(log.dirs, node.id)"
    );
    assert_eq!(err.kafka_error_code(), INVALID_REQUEST);
    assert_eq!(err.key(), Some("log.dirs"));
    for key in [
        "listeners",
        "process.roles",
        "log.retention.hours",
        "log.roll.hours",
    ] {
        let err = invalid(&[(key, "1")]);
        assert_eq!(
            err.to_string(),
            format!("Cannot update these configs dynamically: Set({key})")
        );
    }
    // Read-only keys are reported before bad values.
    assert!(matches!(
        invalid(&[("node.id", "x"), ("log.segment.bytes", "14")]),
        ConfigError::NotDynamicBrokerConfig { .. }
    ));
}

#[test]
fn invalid_dynamic_values_are_explained_in_kafkas_words() {
    let cases = [
        ("log.segment.bytes", "14", "Value must be at least 1048576"),
        ("log.segment.bytes", "abc", "Not a number of type INT"),
        (
            "message.max.bytes",
            "4294967296",
            "Not a number of type INT",
        ),
        ("num.io.threads", "0", "Value must be at least 1"),
        (
            "log.preallocate",
            "yes",
            "Expected value to be either true or false",
        ),
        (
            "log.cleanup.policy",
            "delete,archive",
            "String must be one of: compact, delete",
        ),
        (
            "log.message.timestamp.type",
            "createtime",
            "String must be one of: CreateTime, LogAppendTime",
        ),
        (
            "log.cleaner.min.cleanable.ratio",
            "2",
            "Value must be no more than 1.0",
        ),
    ];
    for (key, value, reason) in cases {
        let err = invalid(&[(key, value)]);
        assert_eq!(
            err.to_string(),
            format!("Invalid value {value} for configuration {key}: {reason}")
        );
        assert_eq!(err.kafka_error_code(), INVALID_REQUEST, "{key}");
        assert_eq!(err.key(), Some(key));
    }
}

// ---- The effective configuration

#[test]
fn with_empty_dynamic_maps_the_config_is_unchanged() {
    let fixture = Properties::load(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/server.properties"),
    )
    .unwrap();
    for c in [
        BrokerConfig::default(),
        BrokerConfig::from_properties(&fixture).unwrap(),
        config("log.retention.hours=24\nlog.segment.bytes=2097152\nnum.io.threads=4"),
    ] {
        let same = c.with_dynamic(&none(), &none());
        assert_eq!(same, c);
        assert_eq!(
            describe_broker_configs(&same, None, true),
            describe_broker_configs(&c, None, true)
        );
        let overrides = map(&[("retention.ms", "1000")]);
        assert_eq!(
            describe_topic_configs(&same, &overrides, None, true),
            describe_topic_configs(&c, &overrides, None, true)
        );
        assert!(describe_default_broker_configs(&same, None, true).is_empty());
    }
}

#[test]
fn a_topic_default_follows_kafkas_precedence() {
    let static_only = config("log.retention.ms=1000");
    let cluster = map(&[("log.retention.ms", "2000")]);
    let broker = map(&[("log.retention.ms", "3000")]);
    let topic = map(&[("retention.ms", "4000")]);
    let retention = |c: &BrokerConfig, overrides: &BTreeMap<String, String>| {
        TopicConfig::resolve(c, overrides).retention_ms
    };

    assert_eq!(retention(&static_only, &none()), Some(1000));
    let with_default = static_only.with_dynamic(&cluster, &none());
    assert_eq!(retention(&with_default, &none()), Some(2000));
    assert_eq!(with_default.log_retention_ms, Some(2000));
    assert_eq!(with_default.topic_defaults().retention_ms, Some(2000));
    let with_broker = static_only.with_dynamic(&cluster, &broker);
    assert_eq!(retention(&with_broker, &none()), Some(3000));
    assert_eq!(with_broker.log_retention_ms, Some(3000));
    assert_eq!(retention(&with_broker, &topic), Some(4000));
    // This broker's value needs no cluster-wide default under it.
    assert_eq!(
        retention(&static_only.with_dynamic(&none(), &broker), &none()),
        Some(3000)
    );
    // -1 keeps segments forever, dynamically too.
    let forever = static_only.with_dynamic(&map(&[("log.retention.ms", "-1")]), &none());
    assert_eq!(forever.log_retention_ms, None);
}

#[test]
fn a_dynamic_value_outranks_a_static_value_of_any_synonym() {
    let c = config("log.retention.hours=1\nlog.roll.hours=2\nlog.flush.scheduler.interval.ms=50");
    let dynamic = c.with_dynamic(
        &map(&[
            ("log.retention.ms", "5000"),
            ("log.roll.ms", "600000"),
            ("log.flush.interval.ms", "70"),
        ]),
        &none(),
    );
    assert_eq!(dynamic.log_retention_ms, Some(5000));
    assert_eq!(dynamic.log_roll_ms, 600_000);
    assert_eq!(dynamic.log_flush_interval_ms, Some(70));
    assert_eq!(c.log_retention_ms, Some(3_600_000));
}

#[test]
fn dynamic_values_recompute_every_typed_field() {
    let c = config("node.id=3\nlisteners=PLAINTEXT://:19092\nnum.partitions=4");
    let d = c.with_dynamic(
        &map(&[
            ("message.max.bytes", "2000000"),
            ("log.segment.bytes", "2097152"),
            ("log.roll.ms", "60000"),
            ("log.roll.jitter.ms", "5"),
            ("log.index.interval.bytes", "100"),
            ("log.index.size.max.bytes", "4096"),
            ("log.flush.interval.messages", "10"),
            ("log.flush.interval.ms", "1000"),
            ("log.message.timestamp.type", "LogAppendTime"),
            ("log.retention.bytes", "1000"),
            ("log.cleanup.policy", "compact"),
            ("compression.type", "gzip"),
            ("min.insync.replicas", "2"),
            ("log.preallocate", "true"),
            ("unclean.leader.election.enable", "true"),
        ]),
        &map(&[("compression.type", "zstd")]),
    );
    assert_eq!(d.message_max_bytes, 2_000_000);
    assert_eq!(d.log_segment_bytes, 2_097_152);
    assert_eq!(d.log_roll_ms, 60_000);
    assert_eq!(d.log_roll_jitter_ms, 5);
    assert_eq!(d.log_index_interval_bytes, 100);
    assert_eq!(d.log_index_size_max_bytes, 4096);
    assert_eq!(d.log_flush_interval_messages, Some(10));
    assert_eq!(d.log_flush_interval_ms, Some(1000));
    assert_eq!(d.log_message_timestamp_type, TimestampType::LogAppendTime);
    assert_eq!(d.log_retention_bytes, Some(1000));
    assert_eq!(
        d.log_cleanup_policy,
        CleanupPolicy {
            delete: false,
            compact: true
        }
    );
    assert_eq!(d.compression_type, CompressionType::Zstd);
    assert_eq!(d.min_insync_replicas, 2);
    let topic = d.topic_defaults();
    assert_eq!(topic.max_message_bytes, 2_000_000);
    assert!(topic.preallocate && topic.unclean_leader_election_enable);
    assert_eq!(topic, &TopicConfig::resolve(&d, &none()));
    // What only server.properties sets stays as it was.
    assert_eq!(d.node_id, 3);
    assert_eq!(d.listeners, c.listeners);
    assert_eq!(d.advertised_listeners, c.advertised_listeners);
    assert_eq!(d.log_dirs, c.log_dirs);
    assert_eq!(d.num_partitions, 4);
    assert_eq!(d.groups, c.groups);
    assert_eq!(d.raw("num.partitions"), Some("4"));
    assert_eq!(d.inert_keys(), c.inert_keys());
    assert_eq!(
        d.dynamic_value("compression.type"),
        Some(("zstd", DynamicBrokerConfig))
    );
    assert_eq!(
        d.dynamic_value("log.segment.bytes"),
        Some(("2097152", DynamicDefaultBrokerConfig))
    );
    assert_eq!(d.dynamic_value("num.partitions"), None);
}

#[test]
fn stored_values_that_are_unknown_read_only_or_invalid_are_ignored() {
    let c = config("log.segment.bytes=2097152");
    let stored = map(&[
        ("no.such.config", "1"),
        ("node.id", "9"),
        ("log.dirs", "/elsewhere"),
        ("num.partitions", "5"),
        ("log.retention.hours", "1"),
        ("log.segment.bytes", "abc"),
    ]);
    assert_eq!(c.with_dynamic(&stored, &stored), c);
    let mut mixed = stored.clone();
    mixed.insert("message.max.bytes".into(), "4096".into());
    let d = c.with_dynamic(&none(), &mixed);
    assert_eq!(d.message_max_bytes, 4096);
    assert_eq!(d.log_segment_bytes, 2_097_152);
    assert_eq!(d.node_id, c.node_id);
}

#[test]
fn with_dynamic_replaces_earlier_dynamic_values() {
    let c = config("log.retention.ms=1000");
    let once = c.with_dynamic(&map(&[("log.retention.ms", "2000")]), &none());
    let again = once.with_dynamic(&none(), &map(&[("log.segment.bytes", "2097152")]));
    assert_eq!(again.log_retention_ms, Some(1000));
    assert_eq!(again.log_segment_bytes, 2_097_152);
    assert_eq!(again.with_dynamic(&none(), &none()), c);
}

// ---- DescribeConfigs

#[test]
fn a_dynamic_broker_key_lists_every_level_as_a_synonym() {
    let c = config("log.retention.ms=1000\nlog.retention.hours=100\nnum.partitions=3")
        .with_dynamic(
            &map(&[("log.retention.ms", "2000")]),
            &map(&[("log.retention.ms", "3000")]),
        );
    let entries = describe_broker_configs(&c, None, true);
    let ms = only(&entries, "log.retention.ms");
    assert_eq!(ms.value.as_deref(), Some("3000"));
    assert_eq!(ms.source, DynamicBrokerConfig);
    assert!(!ms.read_only);
    assert_eq!(
        ms.synonyms,
        vec![
            synonym("log.retention.ms", "3000", DynamicBrokerConfig),
            synonym("log.retention.ms", "2000", DynamicDefaultBrokerConfig),
            synonym("log.retention.ms", "1000", StaticBrokerConfig),
            synonym("log.retention.hours", "100", StaticBrokerConfig),
            synonym("log.retention.hours", "168", DefaultConfig),
        ]
    );
    // A secondary synonym is read-only and lists only itself, as in Kafka.
    let hours = only(&entries, "log.retention.hours");
    assert_eq!(hours.value.as_deref(), Some("100"));
    assert_eq!(hours.source, StaticBrokerConfig);
    assert!(hours.read_only);
    assert_eq!(
        hours.synonyms,
        vec![
            synonym("log.retention.hours", "100", StaticBrokerConfig),
            synonym("log.retention.hours", "168", DefaultConfig),
        ]
    );
    let partitions = only(&entries, "num.partitions");
    assert!(partitions.read_only);
    assert_eq!(partitions.source, StaticBrokerConfig);
    // Every entry is read-only exactly when its key is not dynamic.
    for e in &entries {
        let def = broker_config_def(&e.name).unwrap();
        assert_eq!(e.read_only, !def.dynamic, "{}", e.name);
    }
}

#[test]
fn a_key_set_only_as_the_cluster_default_reports_that_source() {
    let c = BrokerConfig::default().with_dynamic(
        &map(&[
            ("num.io.threads", "16"),
            ("log.cleanup.policy", "compact , delete"),
        ]),
        &none(),
    );
    let entries = describe_broker_configs(
        &c,
        Some(&keys(&["num.io.threads", "log.cleanup.policy"])),
        true,
    );
    let threads = only(&entries, "num.io.threads");
    assert_eq!(threads.value.as_deref(), Some("16"));
    assert_eq!(threads.source, DynamicDefaultBrokerConfig);
    assert_eq!(
        threads.synonyms,
        vec![
            synonym("num.io.threads", "16", DynamicDefaultBrokerConfig),
            synonym("num.io.threads", "8", DefaultConfig),
        ]
    );
    // Values print as Kafka prints them; synonyms carry the value as stored.
    let policy = only(&entries, "log.cleanup.policy");
    assert_eq!(policy.value.as_deref(), Some("compact,delete"));
    assert_eq!(
        policy.synonyms[0],
        synonym(
            "log.cleanup.policy",
            "compact , delete",
            DynamicDefaultBrokerConfig
        )
    );
    // Without synonyms requested the source is still reported.
    let bare = describe_broker_configs(&c, Some(&keys(&["num.io.threads"])), false);
    assert_eq!(bare[0].source, DynamicDefaultBrokerConfig);
    assert!(bare[0].synonyms.is_empty());
}

#[test]
fn a_topic_value_inherited_from_a_dynamic_key_reports_its_dynamic_source() {
    let static_only = config("log.retention.ms=1000");
    let cluster = map(&[("log.retention.ms", "2000")]);
    let broker = map(&[
        ("log.retention.ms", "3000"),
        ("log.segment.bytes", "2097152"),
    ]);
    let topic = map(&[("retention.ms", "4000")]);

    let c = static_only.with_dynamic(&cluster, &broker);
    let overridden = describe_topic_configs(&c, &topic, None, true);
    let retention = only(&overridden, "retention.ms");
    assert_eq!(retention.value.as_deref(), Some("4000"));
    assert_eq!(retention.source, DynamicTopicConfig);
    assert_eq!(
        retention.synonyms,
        vec![
            synonym("retention.ms", "4000", DynamicTopicConfig),
            synonym("log.retention.ms", "3000", DynamicBrokerConfig),
            synonym("log.retention.ms", "2000", DynamicDefaultBrokerConfig),
            synonym("log.retention.ms", "1000", StaticBrokerConfig),
            synonym("log.retention.hours", "168", DefaultConfig),
        ]
    );

    let inherited = describe_topic_configs(&c, &none(), None, true);
    let retention = only(&inherited, "retention.ms");
    assert_eq!(retention.value.as_deref(), Some("3000"));
    assert_eq!(retention.source, DynamicBrokerConfig);
    assert_eq!(
        retention.synonyms[0],
        synonym("log.retention.ms", "3000", DynamicBrokerConfig)
    );
    let segment = only(&inherited, "segment.bytes");
    assert_eq!(segment.value.as_deref(), Some("2097152"));
    assert_eq!(
        segment.synonyms,
        vec![
            synonym("log.segment.bytes", "2097152", DynamicBrokerConfig),
            synonym("log.segment.bytes", "1073741824", DefaultConfig),
        ]
    );

    let cluster_only = static_only.with_dynamic(&cluster, &none());
    let entries = describe_topic_configs(&cluster_only, &none(), None, true);
    let retention = only(&entries, "retention.ms");
    assert_eq!(retention.value.as_deref(), Some("2000"));
    assert_eq!(retention.source, DynamicDefaultBrokerConfig);
    assert_eq!(
        retention.synonyms,
        vec![
            synonym("log.retention.ms", "2000", DynamicDefaultBrokerConfig),
            synonym("log.retention.ms", "1000", StaticBrokerConfig),
            synonym("log.retention.hours", "168", DefaultConfig),
        ]
    );
}

#[test]
fn describing_the_cluster_default_lists_only_its_keys() {
    let c = config("log.retention.hours=100").with_dynamic(
        &map(&[("log.retention.ms", "2000"), ("num.io.threads", "16")]),
        &map(&[
            ("log.retention.ms", "3000"),
            ("log.segment.bytes", "2097152"),
        ]),
    );
    let entries = describe_default_broker_configs(&c, None, true);
    assert_eq!(
        entries.iter().map(|e| e.name.as_str()).collect::<Vec<_>>(),
        vec!["num.io.threads", "log.retention.ms"]
    );
    let ms = only(&entries, "log.retention.ms");
    assert_eq!(ms.value.as_deref(), Some("2000"));
    assert_eq!(ms.source, DynamicDefaultBrokerConfig);
    assert!(!ms.read_only);
    // This broker's own value is not part of the cluster-wide answer.
    assert_eq!(
        ms.synonyms,
        vec![
            synonym("log.retention.ms", "2000", DynamicDefaultBrokerConfig),
            synonym("log.retention.hours", "100", StaticBrokerConfig),
            synonym("log.retention.hours", "168", DefaultConfig),
        ]
    );
    let some = describe_default_broker_configs(
        &c,
        Some(&keys(&["log.retention.ms", "log.segment.bytes"])),
        false,
    );
    assert_eq!(
        some.iter().map(|e| e.name.as_str()).collect::<Vec<_>>(),
        vec!["log.retention.ms"]
    );
    assert!(some[0].synonyms.is_empty());
}

#[test]
fn deleting_a_key_checks_only_that_it_is_known_and_dynamic() {
    use strom_config::validate_dynamic_broker_changes;
    let delete = |k: &str| std::collections::BTreeMap::from([(k.to_string(), None)]);
    assert!(validate_dynamic_broker_changes(&delete("log.retention.ms")).is_ok());
    assert_eq!(
        validate_dynamic_broker_changes(&delete("log.dirs"))
            .unwrap_err()
            .kafka_error_code(),
        42
    );
    assert_eq!(
        validate_dynamic_broker_changes(&delete("no.such.key"))
            .unwrap_err()
            .kafka_error_code(),
        40
    );
}
