//! DescribeConfigs answers and TopicConfig resolution: sources, synonym order and values as
//! Kafka's ConfigHelper reports them.

use std::collections::BTreeMap;

use strom_config::{
    describe_broker_configs, describe_listener_configs, describe_topic_configs, BrokerConfig,
    ConfigEntry, ConfigSource, ConfigSynonym, ConfigType, Properties, TimestampType, TopicConfig,
    BROKER_CONFIGS, TOPIC_CONFIGS,
};

use ConfigSource::{DefaultConfig, DynamicTopicConfig, StaticBrokerConfig};

fn config(text: &str) -> BrokerConfig {
    BrokerConfig::from_properties(&Properties::parse(text).unwrap())
        .unwrap_or_else(|e| panic!("{e}"))
}

fn overrides(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
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

#[test]
fn source_codes_are_kafkas() {
    let codes: Vec<i8> = [
        ConfigSource::Unknown,
        ConfigSource::DynamicTopicConfig,
        ConfigSource::DynamicBrokerConfig,
        ConfigSource::DynamicDefaultBrokerConfig,
        ConfigSource::StaticBrokerConfig,
        ConfigSource::DefaultConfig,
        ConfigSource::DynamicBrokerLoggerConfig,
        ConfigSource::ClientMetricsConfig,
        ConfigSource::GroupConfig,
    ]
    .iter()
    .map(|s| s.code())
    .collect();
    assert_eq!(codes, vec![0, 1, 2, 3, 4, 5, 6, 7, 8]);
    let types: Vec<i8> = [
        ConfigType::Unknown,
        ConfigType::Boolean,
        ConfigType::String,
        ConfigType::Int,
        ConfigType::Short,
        ConfigType::Long,
        ConfigType::Double,
        ConfigType::List,
        ConfigType::Class,
        ConfigType::Password,
    ]
    .iter()
    .map(|t| t.code())
    .collect();
    assert_eq!(types, vec![0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
}

#[test]
fn a_broker_key_from_server_properties_is_static_and_an_untouched_one_default() {
    let c = config("num.partitions=3\n");
    let entries =
        describe_broker_configs(&c, Some(&keys(&["num.partitions", "num.io.threads"])), true);
    assert_eq!(entries.len(), 2);
    let partitions = only(&entries, "num.partitions");
    assert_eq!(partitions.value.as_deref(), Some("3"));
    assert_eq!(partitions.source, StaticBrokerConfig);
    assert_eq!(
        partitions.synonyms,
        vec![
            synonym("num.partitions", "3", StaticBrokerConfig),
            synonym("num.partitions", "1", DefaultConfig)
        ]
    );
    assert_eq!(partitions.config_type, ConfigType::Int);
    assert!(partitions.read_only && !partitions.is_sensitive);
    assert!(!partitions.documentation.is_empty());
    let threads = only(&entries, "num.io.threads");
    assert_eq!(threads.source, DefaultConfig);
    assert_eq!(
        threads.synonyms,
        vec![synonym("num.io.threads", "8", DefaultConfig)]
    );
}

#[test]
fn broker_values_are_printed_as_kafka_prints_them() {
    let c = config(
        "auto.create.topics.enable=TRUE\nlog.cleanup.policy = compact , delete\nnum.partitions= 3 ",
    );
    let entries = describe_broker_configs(&c, None, true);
    assert_eq!(
        only(&entries, "auto.create.topics.enable").value.as_deref(),
        Some("true")
    );
    assert_eq!(
        only(&entries, "log.cleanup.policy").value.as_deref(),
        Some("compact,delete")
    );
    let partitions = only(&entries, "num.partitions");
    assert_eq!(partitions.value.as_deref(), Some("3"));
    // Synonyms carry the value as written.
    assert_eq!(
        partitions.synonyms[0],
        synonym("num.partitions", "3 ", StaticBrokerConfig)
    );
}

#[test]
fn a_key_with_no_value_and_no_default_is_null_without_synonyms() {
    let c = config("log.roll.hours=24");
    let entries =
        describe_broker_configs(&c, Some(&keys(&["log.roll.ms", "log.roll.hours"])), true);
    let ms = only(&entries, "log.roll.ms");
    assert_eq!(ms.value, None);
    assert_eq!(ms.source, DefaultConfig);
    assert!(ms.synonyms.is_empty());
    let hours = only(&entries, "log.roll.hours");
    assert_eq!(hours.source, StaticBrokerConfig);
    assert_eq!(
        hours.synonyms,
        vec![
            synonym("log.roll.hours", "24", StaticBrokerConfig),
            synonym("log.roll.hours", "168", DefaultConfig)
        ]
    );
}

#[test]
fn a_broker_key_lists_the_synonyms_it_takes_precedence_over() {
    let c = config("log.retention.hours=100\nlog.retention.ms=5000");
    let entries = describe_broker_configs(&c, Some(&keys(&["log.retention.ms"])), true);
    assert_eq!(
        entries[0].synonyms,
        vec![
            synonym("log.retention.ms", "5000", StaticBrokerConfig),
            synonym("log.retention.hours", "100", StaticBrokerConfig),
            synonym("log.retention.hours", "168", DefaultConfig),
        ]
    );
}

#[test]
fn without_synonyms_requested_the_source_is_still_reported() {
    let c = config("num.partitions=3");
    let entries = describe_broker_configs(&c, Some(&keys(&["num.partitions"])), false);
    assert_eq!(entries[0].source, StaticBrokerConfig);
    assert!(entries[0].synonyms.is_empty());
}

#[test]
fn key_filters_select_known_keys_and_empty_means_all() {
    let c = BrokerConfig::default();
    let described = BROKER_CONFIGS.len()
        + strom_config::KAFKA_BROKER_CONFIGS
            .iter()
            .filter(|k| !k.internal && !BROKER_CONFIGS.iter().any(|d| d.name == k.def.name))
            .count();
    assert_eq!(describe_broker_configs(&c, None, false).len(), described);
    assert_eq!(
        describe_broker_configs(&c, Some(&[]), false).len(),
        described
    );
    let some = describe_broker_configs(&c, Some(&keys(&["node.id", "no.such.key"])), false);
    assert_eq!(
        some.iter().map(|e| e.name.as_str()).collect::<Vec<_>>(),
        vec!["node.id"]
    );
    let topic = describe_topic_configs(
        &c,
        &BTreeMap::new(),
        Some(&keys(&["segment.ms", "retention.hours"])),
        false,
    );
    assert_eq!(
        topic.iter().map(|e| e.name.as_str()).collect::<Vec<_>>(),
        vec!["segment.ms"]
    );
    assert_eq!(
        describe_topic_configs(&c, &BTreeMap::new(), None, false).len(),
        TOPIC_CONFIGS.len()
    );
}

#[test]
fn a_topic_override_comes_first_then_broker_synonyms_then_defaults() {
    let c = config("log.segment.bytes=2097152");
    let entries =
        describe_topic_configs(&c, &overrides(&[("segment.bytes", "4194304")]), None, true);
    let segment = only(&entries, "segment.bytes");
    assert_eq!(segment.value.as_deref(), Some("4194304"));
    assert_eq!(segment.source, DynamicTopicConfig);
    assert!(!segment.read_only);
    assert_eq!(
        segment.synonyms,
        vec![
            synonym("segment.bytes", "4194304", DynamicTopicConfig),
            synonym("log.segment.bytes", "2097152", StaticBrokerConfig),
            synonym("log.segment.bytes", "1073741824", DefaultConfig),
        ]
    );
}

#[test]
fn a_topic_key_without_override_takes_the_source_of_its_broker_synonym() {
    let c = config("log.segment.bytes=2097152\nlog.roll.ms=60000");
    let entries = describe_topic_configs(&c, &BTreeMap::new(), None, true);
    let segment = only(&entries, "segment.bytes");
    assert_eq!(segment.value.as_deref(), Some("2097152"));
    assert_eq!(segment.source, StaticBrokerConfig);
    let roll = only(&entries, "segment.ms");
    assert_eq!(roll.value.as_deref(), Some("60000"));
    assert_eq!(roll.source, StaticBrokerConfig);
    assert_eq!(
        roll.synonyms,
        vec![
            synonym("log.roll.ms", "60000", StaticBrokerConfig),
            synonym("log.roll.hours", "168", DefaultConfig)
        ]
    );
    let policy = only(&entries, "cleanup.policy");
    assert_eq!(policy.source, DefaultConfig);
    assert_eq!(policy.value.as_deref(), Some("delete"));
    assert_eq!(
        policy.synonyms,
        vec![synonym("log.cleanup.policy", "delete", DefaultConfig)]
    );
    assert_eq!(
        only(&entries, "max.message.bytes").synonyms,
        vec![synonym("message.max.bytes", "1048588", DefaultConfig)]
    );
}

/// Kafka drops synonyms listed before the first one named like the topic key's primary broker
/// synonym, so a value that only comes from `log.retention.hours` shows as DEFAULT_CONFIG.
#[test]
fn a_topic_value_from_a_secondary_synonym_is_reported_as_kafka_does() {
    let c = config("log.retention.hours=24\nlog.roll.hours=12");
    let entries = describe_topic_configs(&c, &BTreeMap::new(), None, true);
    let retention = only(&entries, "retention.ms");
    assert_eq!(retention.value.as_deref(), Some("86400000"));
    assert_eq!(retention.source, DefaultConfig);
    assert!(retention.synonyms.is_empty());
    let roll = only(&entries, "segment.ms");
    assert_eq!(roll.value.as_deref(), Some("43200000"));
    assert_eq!(roll.source, DefaultConfig);
    let flush = only(&entries, "flush.ms");
    assert_eq!(flush.value.as_deref(), Some("9223372036854775807"));
    assert!(flush.synonyms.is_empty());

    let with_override =
        describe_topic_configs(&c, &overrides(&[("retention.ms", "1000")]), None, true);
    assert_eq!(
        only(&with_override, "retention.ms").synonyms,
        vec![synonym("retention.ms", "1000", DynamicTopicConfig)]
    );
}

#[test]
fn invalid_or_unknown_topic_overrides_are_ignored_when_describing() {
    let c = BrokerConfig::default();
    let entries = describe_topic_configs(
        &c,
        &overrides(&[("segment.bytes", "abc"), ("retention.hours", "1")]),
        None,
        true,
    );
    let segment = only(&entries, "segment.bytes");
    assert_eq!(segment.value.as_deref(), Some("1073741824"));
    assert_eq!(segment.source, DefaultConfig);
    assert!(entries.iter().all(|e| e.name != "retention.hours"));
}

#[test]
fn topic_config_resolves_overrides_over_broker_values() {
    let c = config("log.segment.bytes=2097152\nlog.roll.hours=1\nlog.flush.interval.messages=100\nlog.message.timestamp.type=LogAppendTime");
    let defaults = TopicConfig::resolve(&c, &BTreeMap::new());
    assert_eq!(&defaults, c.topic_defaults());
    assert_eq!(defaults.segment_bytes, 2_097_152);
    assert_eq!(defaults.segment_ms, 3_600_000);
    assert_eq!(defaults.flush_messages, Some(100));
    assert_eq!(
        defaults.message_timestamp_type,
        TimestampType::LogAppendTime
    );

    let topic = TopicConfig::resolve(
        &c,
        &overrides(&[
            ("segment.bytes", "1048576"),
            ("segment.ms", "1000"),
            ("segment.jitter.ms", "10"),
            ("segment.index.bytes", "4096"),
            ("index.interval.bytes", "1"),
            ("max.message.bytes", "512"),
            ("flush.messages", "9223372036854775807"),
            ("flush.ms", "50"),
            ("message.timestamp.type", "CreateTime"),
            ("retention.ms", "-1"),
            ("retention.bytes", "1000"),
            ("cleanup.policy", "compact"),
            ("min.insync.replicas", "2"),
            ("preallocate", "true"),
            ("min.cleanable.dirty.ratio", "0.9"),
        ]),
    );
    assert_eq!(topic.segment_bytes, 1_048_576);
    assert_eq!(topic.segment_ms, 1000);
    assert_eq!(topic.segment_jitter_ms, 10);
    assert_eq!(topic.segment_index_bytes, 4096);
    assert_eq!(topic.index_interval_bytes, 1);
    assert_eq!(topic.max_message_bytes, 512);
    assert_eq!(topic.flush_messages, None);
    assert_eq!(topic.flush_ms, Some(50));
    assert_eq!(topic.message_timestamp_type, TimestampType::CreateTime);
    assert_eq!(topic.retention_ms, None);
    assert_eq!(topic.retention_bytes, Some(1000));
    assert!(topic.cleanup_policy.compact && !topic.cleanup_policy.delete);
    assert_eq!(topic.min_insync_replicas, 2);
    assert!(topic.preallocate);
    assert_eq!(topic.min_cleanable_dirty_ratio, 0.9);
}

#[test]
fn an_invalid_stored_override_falls_back_to_the_broker_value() {
    let c = BrokerConfig::default();
    let topic = TopicConfig::resolve(
        &c,
        &overrides(&[("segment.bytes", "10"), ("no.such.config", "1")]),
    );
    assert_eq!(topic.segment_bytes, 1_073_741_824);
}

#[test]
fn broker_derived_topic_values_match_kafkas_topic_defaults() {
    // With nothing set, every topic configuration equals Kafka's LogConfig default.
    let entries = describe_topic_configs(&BrokerConfig::default(), &BTreeMap::new(), None, false);
    for def in TOPIC_CONFIGS {
        let entry = only(&entries, def.name);
        assert_eq!(entry.value.as_deref(), def.default, "{}", def.name);
        assert_eq!(entry.config_type, def.config_type, "{}", def.name);
    }
}

#[test]
fn a_brokers_listener_keys_are_described_with_secrets_hidden() {
    let jaas = "org.apache.kafka.common.security.plain.PlainLoginModule required user_alice=\"b\";";
    let c = config(&format!(
        "listeners=SASL_PLAINTEXT://:9092,PLAINTEXT://:9093\n\
         listener.name.sasl_plaintext.sasl.enabled.mechanisms=PLAIN\n\
         listener.name.sasl_plaintext.plain.sasl.jaas.config={jaas}\n\
         max.connection.creation.rate=50\n\
         listener.name.plaintext.max.connection.creation.rate=7\n\
         listener.name.plaintext.ssl.key.password=secret"
    ));
    let all = describe_listener_configs(&c, None, true);
    let names: Vec<&str> = all.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(
        names,
        vec![
            "listener.name.plaintext.max.connection.creation.rate",
            "listener.name.plaintext.ssl.key.password",
            "listener.name.sasl_plaintext.plain.sasl.jaas.config",
            "listener.name.sasl_plaintext.sasl.enabled.mechanisms",
        ]
    );
    let rate = only(&all, "listener.name.plaintext.max.connection.creation.rate");
    assert_eq!(rate.value.as_deref(), Some("7"));
    assert_eq!(
        (rate.source, rate.read_only, rate.is_sensitive),
        (StaticBrokerConfig, true, false)
    );
    assert_eq!(rate.config_type, ConfigType::Int);
    // The prefixed name, then the base key at each level.
    assert_eq!(
        rate.synonyms,
        vec![
            synonym(
                "listener.name.plaintext.max.connection.creation.rate",
                "7",
                StaticBrokerConfig
            ),
            synonym("max.connection.creation.rate", "50", StaticBrokerConfig),
            synonym("max.connection.creation.rate", "2147483647", DefaultConfig),
        ]
    );
    for secret in [
        "listener.name.plaintext.ssl.key.password",
        "listener.name.sasl_plaintext.plain.sasl.jaas.config",
    ] {
        let e = only(&all, secret);
        assert_eq!(
            (e.value.as_deref(), e.is_sensitive),
            (None, true),
            "{secret}"
        );
        assert_eq!(e.config_type, ConfigType::Password, "{secret}");
        assert!(e.synonyms.iter().all(|s| s.value.is_none()), "{secret}");
    }
    let mechanisms = only(&all, "listener.name.sasl_plaintext.sasl.enabled.mechanisms");
    assert_eq!(mechanisms.value.as_deref(), Some("PLAIN"));
    // Asked by name; unknown names are left out.
    let one = describe_listener_configs(
        &c,
        Some(&keys(&[
            "listener.name.plaintext.max.connection.creation.rate",
            "nope",
        ])),
        false,
    );
    assert_eq!(one.len(), 1);
    assert!(one[0].synonyms.is_empty());
    // The broker's own description lists none of them.
    assert!(describe_broker_configs(&c, None, false)
        .iter()
        .all(|e| !e.name.starts_with("listener.name.")));
}
