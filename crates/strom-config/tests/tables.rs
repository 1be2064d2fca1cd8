//! The configuration tables are consistent with themselves and render to Markdown.

use std::collections::BTreeSet;

use strom_config::{
    broker_config_def, broker_config_markdown, configuration_markdown, topic_config_def,
    topic_config_markdown, BROKER_CONFIGS, TOPIC_CONFIGS,
};

#[test]
fn names_are_unique_and_documented_in_one_line() {
    for table in [BROKER_CONFIGS, TOPIC_CONFIGS] {
        let names: BTreeSet<&str> = table.iter().map(|d| d.name).collect();
        assert_eq!(names.len(), table.len());
        for def in table {
            assert!(
                !def.doc.is_empty() && !def.doc.contains('\n'),
                "{}",
                def.name
            );
            assert!(def.doc.ends_with('.'), "{}", def.name);
        }
    }
}

#[test]
fn every_topic_synonym_is_a_broker_key_of_compatible_type() {
    // Kafka's topic-only keys: no broker key supplies their default.
    const TOPIC_ONLY: &[&str] = &[
        "follower.replication.throttled.replicas",
        "leader.replication.throttled.replicas",
    ];
    for def in TOPIC_CONFIGS {
        if TOPIC_ONLY.contains(&def.name) {
            assert!(
                def.synonyms.is_empty() && def.default.is_some(),
                "{}",
                def.name
            );
            continue;
        }
        assert!(
            !def.synonyms.is_empty(),
            "{} has no broker synonym",
            def.name
        );
        assert!(
            def.synonyms
                .iter()
                .any(|s| broker_config_def(s.name).is_some_and(|b| b.default.is_some())),
            "{}",
            def.name
        );
        for s in def.synonyms {
            let broker = broker_config_def(s.name)
                .unwrap_or_else(|| panic!("{} -> {} is not a broker key", def.name, s.name));
            let numeric = |t| {
                matches!(
                    t,
                    strom_config::ConfigType::Int | strom_config::ConfigType::Long
                )
            };
            assert!(
                broker.config_type == def.config_type
                    || (numeric(broker.config_type) && numeric(def.config_type)),
                "{}",
                s.name
            );
        }
        assert!(topic_config_def(def.name).is_some());
        assert!(
            broker_config_def(def.name).is_none() || def.synonyms[0].name == def.name,
            "{}",
            def.name
        );
    }
}

#[test]
fn strom_keys_are_the_only_acted_on_keys_kafka_lacks() {
    let strom: Vec<&str> = BROKER_CONFIGS
        .iter()
        .map(|d| d.name)
        .filter(|n| n.starts_with("strom."))
        .collect();
    assert_eq!(
        strom,
        vec![
            "strom.cluster.id",
            "strom.log.open.files.max",
            "strom.metrics.listener",
            "strom.acks.all.fsync"
        ]
    );
}

#[test]
fn markdown_has_one_row_per_key() {
    let broker = broker_config_markdown();
    let topic = topic_config_markdown();
    let rows = |text: &str| text.lines().filter(|l| l.starts_with("| `")).count();
    let catalogue_only = strom_config::KAFKA_BROKER_CONFIGS
        .iter()
        .filter(|k| !k.internal && !BROKER_CONFIGS.iter().any(|d| d.name == k.def.name))
        .count();
    assert_eq!(rows(&broker), BROKER_CONFIGS.len() + catalogue_only);
    assert!(
        broker.contains(
            "| `sasl.kerberos.min.time.before.relogin` | long | `60000` |  | no | per-broker | medium |"
        ),
        "{broker}"
    );
    assert_eq!(rows(&topic), TOPIC_CONFIGS.len());
    assert!(
        broker.contains(
            "| `log.segment.bytes` | int | `1073741824` bytes | [1048576,...] | yes | cluster-wide | high |"
        ),
        "{broker}"
    );
    assert!(
        broker.contains(
            "| `num.io.threads` | int | `8` threads | [1,...] | no | cluster-wide | high |"
        ),
        "{broker}"
    );
    assert!(
        broker
            .contains("| `log.retention.hours` | int | `168` hours |  | yes | read-only | high |"),
        "{broker}"
    );
    assert!(topic.contains("| `retention.ms` | long | `log.retention.ms`, `log.retention.minutes`, `log.retention.hours` |"), "{topic}");
    let whole = configuration_markdown();
    assert!(whole.starts_with("# Configuration\n"));
    assert!(whole.contains(&broker) && whole.contains(&topic));
    // Every row has the same number of cells as its header.
    for (table, columns) in [(&broker, 8), (&topic, 6)] {
        for line in table.lines().filter(|l| l.starts_with('|')) {
            let cells = line.replace("\\|", "").matches('|').count();
            assert_eq!(cells, columns + 1, "{line}");
        }
    }
}

/// Kafka's `DynamicLogConfig.ReconfigurableConfigs` is the first broker synonym of every topic
/// configuration; the other synonyms (`log.retention.hours`, ...) are read-only.
#[test]
fn the_first_broker_synonym_of_every_topic_config_is_dynamic_and_only_it() {
    for def in TOPIC_CONFIGS {
        assert!(!def.dynamic, "{}", def.name);
        for (i, s) in def.synonyms.iter().enumerate() {
            let broker = broker_config_def(s.name).unwrap();
            assert_eq!(broker.dynamic, i == 0, "{} -> {}", def.name, s.name);
        }
    }
}

/// docs/configuration.md is generated (`strom configs > docs/configuration.md`); a change to
/// the tables must regenerate it, or the documentation says what the broker does not.
#[test]
fn docs_configuration_md_is_current() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/configuration.md");
    let on_disk = std::fs::read_to_string(&path).unwrap();
    assert!(
        on_disk == configuration_markdown(),
        "{} is stale: run `cargo run -p strom -- configs > docs/configuration.md`",
        path.display()
    );
}
