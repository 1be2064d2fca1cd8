//! `strom quotas set|describe|remove`: client quotas as kafka-configs.sh
//! manages them (`--entity-type users|clients|ips --entity-name X
//! --alter --add-config producer_byte_rate=1024`), over
//! DescribeClientQuotas and AlterClientQuotas.

use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};
use strom_client::{QuotaEntity, QuotaFilter, QuotaMatch};

use crate::admin_cli::{emit, run_command, Connection};
use crate::table::Table;

#[derive(Args)]
pub struct QuotasArgs {
    #[command(flatten)]
    connection: Connection,
    #[command(subcommand)]
    command: QuotasCommand,
}

/// The entity, as kafka-configs.sh names it: types and names pair up in
/// order; a type without a name is its default with `--entity-default`
/// (for `describe`: every entity of that type).
#[derive(Args, Clone)]
struct EntityArgs {
    /// users, clients or ips (Kafka's entity types; user, client-id, ip also do).
    #[arg(long, value_name = "TYPE", required = true)]
    entity_type: Vec<String>,
    /// The entity's name; `<default>` is the type's default.
    #[arg(long, value_name = "NAME")]
    entity_name: Vec<String>,
    /// The types left without a name are their default entity.
    #[arg(long)]
    entity_default: bool,
}

#[derive(Subcommand)]
enum QuotasCommand {
    /// Set quotas: --add-config producer_byte_rate=1048576,consumer_byte_rate=2097152
    Set {
        #[command(flatten)]
        entity: EntityArgs,
        /// key=value,... of producer_byte_rate, consumer_byte_rate,
        /// request_percentage, controller_mutation_rate (users, clients) or
        /// connection_creation_rate (ips).
        #[arg(long, value_name = "K=V,...", required = true)]
        add_config: String,
        /// Check the change without making it.
        #[arg(long)]
        validate_only: bool,
    },
    /// Remove quotas: --delete-config producer_byte_rate,consumer_byte_rate
    Remove {
        #[command(flatten)]
        entity: EntityArgs,
        #[arg(long, value_name = "K,...", required = true)]
        delete_config: String,
    },
    /// The quotas of matching entities (all of them without --entity-type).
    Describe {
        /// users, clients or ips; repeat for (user, client-id) entities.
        #[arg(long, value_name = "TYPE")]
        entity_type: Vec<String>,
        #[arg(long, value_name = "NAME")]
        entity_name: Vec<String>,
        #[arg(long)]
        entity_default: bool,
    },
}

pub fn run(args: QuotasArgs) -> ExitCode {
    run_command(execute(args))
}

/// Kafka's entity type for kafka-configs.sh's plural names.
fn entity_type(name: &str) -> Result<&'static str, String> {
    match name {
        "users" | "user" => Ok("user"),
        "clients" | "client-id" | "client" => Ok("client-id"),
        "ips" | "ip" => Ok("ip"),
        other => Err(format!(
            "--entity-type {other:?}: client quotas are on users, clients or ips"
        )),
    }
}

/// An entity type with its name: `None` for any, `Some(None)` for the default.
type TypedName = (&'static str, Option<Option<String>>);

/// Pairs types with names; a missing name is the default (`set`,
/// `remove`) or any (`describe`).
fn pairs(
    types: &[String],
    names: &[String],
    entity_default: bool,
) -> Result<Vec<TypedName>, String> {
    if names.len() > types.len() {
        return Err("more --entity-name than --entity-type".into());
    }
    let mut out = Vec::new();
    for (i, t) in types.iter().enumerate() {
        let t = entity_type(t)?;
        if out.iter().any(|(o, _)| *o == t) {
            return Err(format!("entity type {t} named twice"));
        }
        let name = match names.get(i) {
            Some(n) if n == "<default>" => Some(None),
            Some(n) => Some(Some(n.clone())),
            None if entity_default => Some(None),
            None => None,
        };
        out.push((t, name));
    }
    Ok(out)
}

fn entity_of(args: &EntityArgs) -> Result<QuotaEntity, String> {
    pairs(&args.entity_type, &args.entity_name, args.entity_default)?
        .into_iter()
        .map(|(t, name)| match name {
            Some(name) => Ok((t.to_owned(), name)),
            None => Err(format!(
                "--entity-type {t} needs an --entity-name or --entity-default"
            )),
        })
        .collect()
}

fn parse_values(text: &str) -> Result<Vec<(String, Option<f64>)>, String> {
    text.split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|kv| {
            let (k, v) = kv
                .split_once('=')
                .ok_or_else(|| format!("{kv:?}: expected key=value"))?;
            let v: f64 = v
                .trim()
                .parse()
                .map_err(|_| format!("{k}: {v:?} is not a number"))?;
            Ok((k.trim().to_owned(), Some(v)))
        })
        .collect()
}

fn show_entity(entity: &QuotaEntity) -> String {
    entity
        .iter()
        .map(|(t, n)| format!("{t}={}", n.as_deref().unwrap_or("<default>")))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A value as Kafka prints it: integral values without a fraction.
fn show_value(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

async fn execute(args: QuotasArgs) -> Result<ExitCode, String> {
    let mut admin = args.connection.client(Duration::from_secs(60)).await?;
    let json = args.connection.json();
    match args.command {
        QuotasCommand::Set {
            entity,
            add_config,
            validate_only,
        } => {
            let entity = entity_of(&entity)?;
            let ops = parse_values(&add_config)?;
            if ops.is_empty() {
                return Err("--add-config names no quota".into());
            }
            admin
                .alter_client_quotas(&entity, &ops, validate_only)
                .await
                .map_err(|e| e.to_string())?;
            if !json {
                emit(&format!(
                    "{} quotas of {}.\n",
                    if validate_only {
                        "Validated"
                    } else {
                        "Updated"
                    },
                    show_entity(&entity)
                ));
            }
        }
        QuotasCommand::Remove {
            entity,
            delete_config,
        } => {
            let entity = entity_of(&entity)?;
            let ops: Vec<(String, Option<f64>)> = delete_config
                .split(',')
                .map(str::trim)
                .filter(|k| !k.is_empty())
                .map(|k| (k.to_owned(), None))
                .collect();
            admin
                .alter_client_quotas(&entity, &ops, false)
                .await
                .map_err(|e| e.to_string())?;
            if !json {
                emit(&format!("Removed quotas of {}.\n", show_entity(&entity)));
            }
        }
        QuotasCommand::Describe {
            entity_type,
            entity_name,
            entity_default,
        } => {
            let filter = QuotaFilter {
                components: pairs(&entity_type, &entity_name, entity_default)?
                    .into_iter()
                    .map(|(t, name)| {
                        let m = match name {
                            Some(Some(n)) => QuotaMatch::Exact(n),
                            Some(None) => QuotaMatch::Default,
                            None => QuotaMatch::Any,
                        };
                        (t.to_owned(), m)
                    })
                    .collect(),
                // kafka-configs.sh asks for exactly the types named.
                strict: !entity_type.is_empty(),
            };
            let mut entries = admin
                .describe_client_quotas(&filter)
                .await
                .map_err(|e| e.to_string())?;
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            let text = if json {
                let items: Vec<serde_json::Value> = entries
                    .iter()
                    .map(|(entity, values)| {
                        let entity: serde_json::Map<String, serde_json::Value> = entity
                            .iter()
                            .map(|(t, n)| (t.clone(), serde_json::json!(n)))
                            .collect();
                        let values: serde_json::Map<String, serde_json::Value> = values
                            .iter()
                            .map(|(k, v)| (k.clone(), serde_json::json!(v)))
                            .collect();
                        serde_json::json!({"entity": entity, "quotas": values})
                    })
                    .collect();
                format!("{}\n", serde_json::Value::Array(items))
            } else {
                let mut t = Table::with_header(&["ENTITY", "QUOTA", "VALUE"]);
                for (entity, values) in &entries {
                    let mut values = values.clone();
                    values.sort_by(|a, b| a.0.cmp(&b.0));
                    for (k, v) in values {
                        t.row(vec![show_entity(entity), k, show_value(v)]);
                    }
                }
                t.render()
            };
            emit(&text);
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kafka_configs_entity_flags_pair_up_in_order() {
        let types = vec!["users".to_owned(), "clients".to_owned()];
        let e = entity_of(&EntityArgs {
            entity_type: types.clone(),
            entity_name: vec!["alice".into()],
            entity_default: true,
        })
        .unwrap();
        assert_eq!(
            e,
            vec![
                ("user".to_owned(), Some("alice".to_owned())),
                ("client-id".to_owned(), None)
            ]
        );
        assert!(entity_of(&EntityArgs {
            entity_type: types,
            entity_name: vec!["alice".into()],
            entity_default: false,
        })
        .is_err());
        assert!(entity_type("groups").is_err());
        assert_eq!(
            parse_values("producer_byte_rate=1024, request_percentage=50.5").unwrap(),
            vec![
                ("producer_byte_rate".to_owned(), Some(1024.0)),
                ("request_percentage".to_owned(), Some(50.5))
            ]
        );
        assert_eq!(show_value(1024.0), "1024");
        assert_eq!(show_value(0.5), "0.5");
    }
}
