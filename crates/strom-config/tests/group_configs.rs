//! Group configurations (KIP-848): Kafka 4.0's five keys, validated as `GroupConfig.validate`
//! does against the broker's bounds, described with the broker key as synonym.

use std::collections::BTreeMap;

use strom_config::{
    consumer_group_timeouts, describe_group_configs, group_config_defs, validate_group_configs,
    BrokerConfig, ConfigSource, ConfigSynonym, Properties, INVALID_CONFIG,
};

fn broker(text: &str) -> BrokerConfig {
    BrokerConfig::from_properties(&Properties::parse(text).unwrap()).unwrap()
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn error(configs: &[(&str, &str)], broker_config: &BrokerConfig) -> String {
    let err = validate_group_configs(&map(configs), broker_config).unwrap_err();
    assert_eq!(err.kafka_error_code(), INVALID_CONFIG, "{err}");
    err.to_string()
}

#[test]
fn kafka_4_0s_keys_with_their_defaults() {
    let names: Vec<&str> = group_config_defs().map(|d| d.name).collect();
    assert_eq!(
        names,
        [
            "consumer.heartbeat.interval.ms",
            "consumer.session.timeout.ms",
            "share.heartbeat.interval.ms",
            "share.session.timeout.ms",
            "share.record.lock.duration.ms",
        ]
    );
    validate_group_configs(&map(&[]), &BrokerConfig::default()).unwrap();
}

#[test]
fn values_are_checked_against_the_brokers_bounds_with_kafkas_messages() {
    let b = BrokerConfig::default(); // session 45000..=60000, heartbeat 5000..=15000
    validate_group_configs(
        &map(&[
            ("consumer.session.timeout.ms", "60000"),
            ("consumer.heartbeat.interval.ms", "5000"),
        ]),
        &b,
    )
    .unwrap();
    assert_eq!(
        error(&[("consumer.session.timeout.ms", "44999")], &b),
        "consumer.session.timeout.ms must be greater than or equal to group.consumer.min.session.timeout.ms"
    );
    assert_eq!(
        error(&[("consumer.session.timeout.ms", "60001")], &b),
        "consumer.session.timeout.ms must be less than or equal to group.consumer.max.session.timeout.ms"
    );
    assert_eq!(
        error(&[("consumer.heartbeat.interval.ms", "16000")], &b),
        "consumer.heartbeat.interval.ms must be less than or equal to group.consumer.max.heartbeat.interval.ms"
    );
    assert_eq!(
        error(&[("share.record.lock.duration.ms", "999")], &b),
        "Invalid value 999 for configuration share.record.lock.duration.ms: Value must be at least 1000"
    );
    assert_eq!(
        error(&[("consumer.heartbeat.interval.ms", "soon")], &b),
        "Invalid value soon for configuration consumer.heartbeat.interval.ms: Not a number of type INT"
    );
    assert_eq!(
        error(&[("session.timeout.ms", "45000")], &b),
        "Unknown group config name: session.timeout.ms"
    );
    // The bounds are the broker's: lowering its minimum admits a shorter session.
    let lenient = broker(
        "group.consumer.min.session.timeout.ms=1000\ngroup.consumer.min.heartbeat.interval.ms=100\n",
    );
    validate_group_configs(
        &map(&[
            ("consumer.session.timeout.ms", "2000"),
            ("consumer.heartbeat.interval.ms", "200"),
        ]),
        &lenient,
    )
    .unwrap();
}

#[test]
fn a_group_uses_its_overrides_else_the_brokers_values() {
    let b = broker("group.consumer.session.timeout.ms=50000\n");
    assert_eq!(consumer_group_timeouts(&map(&[]), &b), (50000, 5000));
    assert_eq!(
        consumer_group_timeouts(&map(&[("consumer.heartbeat.interval.ms", "7000")]), &b),
        (50000, 7000)
    );
}

#[test]
fn describe_reports_group_config_and_the_broker_key_as_synonym() {
    let b = broker("group.consumer.heartbeat.interval.ms=6000\n");
    let entries = describe_group_configs(
        &b,
        &map(&[("consumer.session.timeout.ms", "50000")]),
        None,
        true,
    );
    assert_eq!(entries.len(), 5);
    let session = entries
        .iter()
        .find(|e| e.name == "consumer.session.timeout.ms")
        .unwrap();
    assert_eq!(session.value.as_deref(), Some("50000"));
    assert_eq!(session.source, ConfigSource::GroupConfig);
    assert_eq!(
        session.synonyms,
        vec![
            ConfigSynonym {
                name: "consumer.session.timeout.ms".into(),
                value: Some("50000".into()),
                source: ConfigSource::GroupConfig,
            },
            ConfigSynonym {
                name: "group.consumer.session.timeout.ms".into(),
                value: Some("45000".into()),
                source: ConfigSource::DefaultConfig,
            },
        ]
    );
    let heartbeat = entries
        .iter()
        .find(|e| e.name == "consumer.heartbeat.interval.ms")
        .unwrap();
    assert_eq!(heartbeat.value.as_deref(), Some("6000"));
    assert_eq!(heartbeat.source, ConfigSource::DefaultConfig);
    assert_eq!(
        heartbeat.synonyms[0].source,
        ConfigSource::StaticBrokerConfig
    );
    let only = describe_group_configs(
        &b,
        &map(&[]),
        Some(&["share.session.timeout.ms".to_owned()]),
        false,
    );
    assert_eq!(only.len(), 1);
    assert!(only[0].synonyms.is_empty());
}
