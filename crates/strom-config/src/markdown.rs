//! The configuration tables rendered as Markdown, so docs/configuration.md is generated from the
//! same definitions that validate the configuration and can never disagree with them.

use std::fmt::Write as _;

use crate::broker_config::all_broker_config_defs;
use crate::def::{ConfigDef, ConfigType, Validity};
use crate::kafka_catalogue::{kafka_broker_config, Importance, UpdateMode};
use crate::topic_defs::TOPIC_CONFIGS;

/// The whole configuration reference: broker keys, then topic keys.
pub fn configuration_markdown() -> String {
    let mut out = String::new();
    out.push_str("# Configuration\n\n");
    out.push_str(
        "Strom reads Kafka's `server.properties` (`strom server server.properties`, plus \
         `--override key=value`). Keys are Kafka's; Strom's own keys start with `strom.`. \
         Every key of Kafka 4's broker configuration is listed and accepted, validated by its \
         type and range; an unknown key or an invalid value stops start-up with a message \
         naming the key. Keys marked \"no\" under *Acted on* are accepted so a Kafka \
         configuration loads unchanged, but have no effect; the broker logs one line naming \
         those that are set (\"accepted, not used by Strom\"). Keys whose *Update mode* is \
         cluster-wide may also be changed at run time (KIP-226), for the whole cluster \
         (`kafka-configs.sh --entity-type brokers --entity-default`) or one broker \
         (`--entity-name ID`); per-broker keys for one broker only. A broker's own value wins \
         over the cluster-wide one, which wins over server.properties. Changing a key Strom \
         does not act on is stored and described back, as in Kafka, and logged.\n\n",
    );
    out.push_str(&broker_config_markdown());
    out.push('\n');
    out.push_str(&topic_config_markdown());
    out
}

/// The broker configuration table.
pub fn broker_config_markdown() -> String {
    let mut out = String::from("## Broker configuration\n\n");
    out.push_str(
        "| Key | Type | Default | Valid values | Acted on | Update mode | Importance | Description |\n",
    );
    out.push_str("|---|---|---|---|---|---|---|---|\n");
    for def in all_broker_config_defs() {
        let kafka = kafka_broker_config(def.name);
        if kafka.is_some_and(|k| k.internal) && !def.acted_on {
            continue;
        }
        let update = match (def.dynamic, kafka.map(|k| k.update)) {
            (false, _) => "read-only",
            (true, Some(UpdateMode::PerBroker)) => "per-broker",
            (true, _) => "cluster-wide",
        };
        let importance = match kafka.map(|k| k.importance) {
            Some(Importance::High) => "high",
            Some(Importance::Medium) => "medium",
            Some(Importance::Low) => "low",
            None => "",
        };
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {} | {} | {} | {} | {} |",
            def.name,
            type_name(def.config_type),
            default_cell(def),
            cell(&valid_values(def)),
            if def.acted_on { "yes" } else { "no" },
            update,
            importance,
            cell(def.doc)
        );
    }
    out
}

/// The topic configuration table, with the broker keys that supply each default.
pub fn topic_config_markdown() -> String {
    let mut out = String::from("## Topic configuration\n\n");
    out.push_str(
        "A topic's value is its own setting (CreateTopics, AlterConfigs) if it has one, else the first \
         broker key in *Broker default from* that has a value.\n\n",
    );
    out.push_str("| Key | Type | Broker default from | Valid values | Acted on | Description |\n");
    out.push_str("|---|---|---|---|---|---|\n");
    for def in TOPIC_CONFIGS {
        let synonyms: Vec<String> = def
            .synonyms
            .iter()
            .map(|s| format!("`{}`", s.name))
            .collect();
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {} | {} | {} |",
            def.name,
            type_name(def.config_type),
            synonyms.join(", "),
            cell(&valid_values(def)),
            if def.acted_on { "yes" } else { "no" },
            cell(def.doc)
        );
    }
    out
}

fn type_name(t: ConfigType) -> String {
    t.kafka_name().to_ascii_lowercase()
}

fn default_cell(def: &ConfigDef) -> String {
    match def.default {
        None => "null".to_owned(),
        Some("") => "\"\"".to_owned(),
        Some(d) if def.unit.is_empty() => format!("`{}`", cell(d)),
        Some(d) => format!("`{}` {}", cell(d), def.unit),
    }
}

fn valid_values(def: &ConfigDef) -> String {
    match def.validity {
        Validity::Any if def.config_type == ConfigType::Boolean => "true, false".to_owned(),
        Validity::Any => String::new(),
        Validity::AtLeast(min) => format!("[{min},...]"),
        Validity::Range(min, max) => format!("[{min},...,{max}]"),
        Validity::Between(min, max) => {
            format!(
                "[{},...,{}]",
                crate::def::format_double(min),
                crate::def::format_double(max)
            )
        }
        Validity::OneOf(allowed) | Validity::ListOf(allowed) => allowed.join(", "),
        _ => def.expected(),
    }
}

/// Table cells cannot hold `|` or line breaks.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}
