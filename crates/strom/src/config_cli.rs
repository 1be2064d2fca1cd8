//! `strom configs describe|alter`: configurations of topics, brokers, the
//! cluster-wide broker default and groups, as kafka-configs.sh
//! (`--entity-type`, `--entity-name`, `--entity-default`, `--add-config
//! k=v,k2=[a,b]`, `--delete-config k,k2`), over DescribeConfigs and
//! IncrementalAlterConfigs. Without a subcommand, `strom configs` prints
//! every key Strom understands as Markdown.

use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};
use strom_client::{ConfigEntry, ConfigOp, ResourceType};

use crate::admin_cli::{emit, run_command, Connection};

#[derive(Args)]
pub struct ConfigsArgs {
    #[command(subcommand)]
    command: Option<ConfigsCommand>,
}

#[derive(Subcommand)]
enum ConfigsCommand {
    /// Show an entity's configurations: those set on it (dynamic ones), or --all.
    Describe {
        #[command(flatten)]
        entity: Entity,
        /// Every configuration, defaults included.
        #[arg(long)]
        all: bool,
        #[command(flatten)]
        connection: Connection,
    },
    /// Set (--add-config) and remove (--delete-config) an entity's configurations.
    Alter {
        #[command(flatten)]
        entity: Entity,
        /// KEY=VALUE pairs, comma-separated; a value with commas in square brackets: k=[a,b].
        #[arg(long, value_name = "K=V,...")]
        add_config: Option<String>,
        /// Keys to remove, comma-separated (back to the default).
        #[arg(long, value_name = "K,...", value_delimiter = ',')]
        delete_config: Vec<String>,
        #[command(flatten)]
        connection: Connection,
    },
}

#[derive(Args)]
struct Entity {
    /// topics, brokers, broker-loggers or groups.
    #[arg(long, value_parser = ["topics", "brokers", "broker-loggers", "groups"])]
    entity_type: String,
    /// The topic, broker id or group.
    #[arg(long, conflicts_with = "entity_default")]
    entity_name: Option<String>,
    /// The cluster-wide default of every broker (with --entity-type brokers).
    #[arg(long)]
    entity_default: bool,
}

impl Entity {
    fn resolve(&self) -> Result<(ResourceType, String, String), String> {
        let resource = match self.entity_type.as_str() {
            "topics" => ResourceType::Topic,
            "brokers" => ResourceType::Broker,
            "broker-loggers" => ResourceType::BrokerLogger,
            _ => ResourceType::Group,
        };
        match (&self.entity_name, self.entity_default, resource) {
            (None, true, ResourceType::Broker) => Ok((
                resource,
                String::new(),
                "default config for brokers in the cluster".to_owned(),
            )),
            (None, true, _) => Err(format!(
                "--entity-default is for --entity-type brokers, not {}",
                self.entity_type
            )),
            (Some(name), _, _) if !name.is_empty() => {
                let kind = match resource {
                    ResourceType::Topic => "topic",
                    ResourceType::Broker => "broker",
                    ResourceType::BrokerLogger => "broker-logger",
                    ResourceType::Group => "group",
                };
                Ok((resource, name.clone(), format!("{kind} {name}")))
            }
            _ => Err(
                "name the entity with --entity-name (or --entity-default for brokers)".to_owned(),
            ),
        }
    }
}

pub fn run(args: ConfigsArgs) -> ExitCode {
    match args.command {
        None => {
            emit(&strom_config::configuration_markdown());
            ExitCode::SUCCESS
        }
        Some(command) => run_command(execute(command)),
    }
}

/// Kafka's ConfigSource names, as kafka-configs.sh prints them.
fn source_name(source: i8) -> &'static str {
    match source {
        1 => "DYNAMIC_TOPIC_CONFIG",
        2 => "DYNAMIC_BROKER_CONFIG",
        3 => "DYNAMIC_DEFAULT_BROKER_CONFIG",
        4 => "STATIC_BROKER_CONFIG",
        5 => "DEFAULT_CONFIG",
        6 => "DYNAMIC_BROKER_LOGGER_CONFIG",
        7 => "CLIENT_METRICS_CONFIG",
        8 => "DYNAMIC_GROUP_CONFIG",
        _ => "UNKNOWN",
    }
}

/// The source of values set on the entity itself.
fn own_source(resource: ResourceType, name: &str) -> i8 {
    match resource {
        ResourceType::Topic => 1,
        ResourceType::Broker if name.is_empty() => 3,
        ResourceType::Broker => 2,
        ResourceType::BrokerLogger => 6,
        ResourceType::Group => 8,
    }
}

async fn execute(command: ConfigsCommand) -> Result<ExitCode, String> {
    match command {
        ConfigsCommand::Describe {
            entity,
            all,
            connection,
        } => {
            let (resource, name, what) = entity.resolve()?;
            let mut admin = connection.client(Duration::from_secs(30)).await?;
            let entries = admin
                .describe_configs(resource, &name)
                .await
                .map_err(|e| format!("{e}; check that the {what} exists"))?;
            let own = own_source(resource, &name);
            let shown: Vec<&ConfigEntry> =
                entries.iter().filter(|c| all || c.source == own).collect();
            if connection.json() {
                let items: Vec<serde_json::Value> = shown
                    .iter()
                    .map(|c| {
                        serde_json::json!({
                            "name": c.name,
                            "value": c.value,
                            "source": source_name(c.source),
                            "sensitive": c.is_sensitive,
                            "read_only": c.read_only,
                        })
                    })
                    .collect();
                emit(&format!("{}\n", serde_json::Value::Array(items)));
            } else {
                let header = match (all, name.is_empty()) {
                    (true, _) => format!("All configs for {what} are:\n"),
                    (false, true) => "Default configs for brokers in the cluster are:\n".to_owned(),
                    (false, false) => format!("Dynamic configs for {what} are:\n"),
                };
                let mut text = header;
                for c in shown {
                    let value = if c.is_sensitive {
                        "null".to_owned()
                    } else {
                        c.value.clone().unwrap_or_else(|| "null".to_owned())
                    };
                    text.push_str(&format!(
                        "  {}={} sensitive={} synonyms={{{}:{}={}}}\n",
                        c.name,
                        value,
                        c.is_sensitive,
                        source_name(c.source),
                        c.name,
                        value
                    ));
                }
                emit(&text);
            }
            Ok(ExitCode::SUCCESS)
        }
        ConfigsCommand::Alter {
            entity,
            add_config,
            delete_config,
            connection,
        } => {
            let (resource, name, what) = entity.resolve()?;
            let mut ops = Vec::new();
            if let Some(add) = &add_config {
                for (k, v) in parse_add_config(add)? {
                    ops.push(ConfigOp::Set(k, v));
                }
            }
            for k in delete_config {
                let k = k.trim();
                if !k.is_empty() {
                    ops.push(ConfigOp::Delete(k.to_owned()));
                }
            }
            if ops.is_empty() {
                return Err(
                    "nothing to change: give --add-config and/or --delete-config".to_owned(),
                );
            }
            let mut admin = connection.client(Duration::from_secs(30)).await?;
            admin
                .alter_configs(resource, &name, &ops)
                .await
                .map_err(|e| format!("{e}; nothing was changed for {what}"))?;
            if name.is_empty() {
                emit("Completed updating default config for brokers in the cluster.\n");
            } else {
                emit(&format!("Completed updating config for {what}.\n"));
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `k=v,k2=[a,b]` as kafka-configs.sh reads it: commas inside square
/// brackets belong to the value, and the brackets are dropped.
fn parse_add_config(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut items = Vec::new();
    let mut current = String::new();
    let mut depth = 0usize;
    for c in text.chars() {
        match c {
            '[' => depth += 1,
            ']' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                items.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    items.push(current);
    items
        .into_iter()
        .filter(|i| !i.trim().is_empty())
        .map(|item| {
            let (k, v) = item
                .split_once('=')
                .ok_or_else(|| format!("--add-config {item:?}: expected KEY=VALUE"))?;
            let v = v.trim();
            let v = v
                .strip_prefix('[')
                .and_then(|v| v.strip_suffix(']'))
                .unwrap_or(v);
            Ok((k.trim().to_owned(), v.to_owned()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_config_keeps_bracketed_commas_in_the_value() {
        assert_eq!(
            parse_add_config("retention.ms=1000,cleanup.policy=[compact,delete]").unwrap(),
            vec![
                ("retention.ms".to_owned(), "1000".to_owned()),
                ("cleanup.policy".to_owned(), "compact,delete".to_owned())
            ]
        );
        assert!(parse_add_config("novalue").is_err());
        assert_eq!(
            parse_add_config("a=").unwrap(),
            vec![("a".to_owned(), String::new())]
        );
    }
}
