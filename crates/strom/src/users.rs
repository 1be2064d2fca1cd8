//! `strom users scram set|list|delete`: SCRAM credentials as
//! `kafka-configs.sh --entity-type users --alter --add-config
//! 'SCRAM-SHA-256=[iterations=8192,password=alice-secret]'` manages them,
//! over AlterUserScramCredentials and DescribeUserScramCredentials. The
//! password is salted and iterated here; only the salted password is sent.

use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};
use strom_client::scram::ScramMechanism;
use strom_client::ScramUpsert;

use crate::admin_cli::{emit, run_command, Connection};
use crate::table::Table;

#[derive(Args)]
pub struct UsersArgs {
    #[command(flatten)]
    connection: Connection,
    #[command(subcommand)]
    command: UsersCommand,
}

#[derive(Subcommand)]
enum UsersCommand {
    /// SCRAM credentials (SCRAM-SHA-256, SCRAM-SHA-512).
    #[command(subcommand)]
    Scram(ScramCommand),
}

#[derive(Subcommand)]
enum ScramCommand {
    /// Set a user's credentials: --add-config 'SCRAM-SHA-256=[iterations=8192,password=secret]'
    /// (several mechanisms separated by commas), as kafka-configs.sh takes them.
    Set {
        #[arg(long)]
        user: String,
        #[arg(long, value_name = "MECHANISM=[iterations=N,password=P],...")]
        add_config: String,
    },
    /// List users and their mechanisms and iterations (all, or --user).
    List {
        #[arg(long)]
        user: Vec<String>,
    },
    /// Delete a user's credential for a mechanism (--delete-config SCRAM-SHA-256).
    Delete {
        #[arg(long)]
        user: String,
        #[arg(long, value_name = "MECHANISM,...")]
        delete_config: String,
    },
}

pub fn run(args: UsersArgs) -> ExitCode {
    run_command(scram(args))
}

fn mechanism(name: &str) -> Result<ScramMechanism, String> {
    ScramMechanism::from_name(name.trim())
        .ok_or_else(|| format!("unknown SCRAM mechanism {name:?}: SCRAM-SHA-256 or SCRAM-SHA-512"))
}

/// Parses `SCRAM-SHA-256=[iterations=8192,password=alice-secret],SCRAM-SHA-512=[password=x]`;
/// iterations default to 4096, as kafka-configs.sh's.
fn parse_add_config(user: &str, text: &str) -> Result<Vec<ScramUpsert>, String> {
    let mut out = Vec::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        let (name, after) = rest
            .split_once("=[")
            .ok_or_else(|| format!("expected MECHANISM=[...] in {rest:?}"))?;
        let (inner, after) = after
            .split_once(']')
            .ok_or_else(|| format!("no closing ']' after {name}=["))?;
        let m = mechanism(name)?;
        let mut iterations = strom_client::scram::MIN_ITERATIONS;
        let mut password = None;
        for kv in inner.split(',') {
            match kv.split_once('=') {
                Some(("iterations", v)) => {
                    iterations = v
                        .trim()
                        .parse()
                        .map_err(|_| format!("iterations must be a number, not {v:?}"))?
                }
                Some(("password", v)) => password = Some(v.to_owned()),
                _ => {
                    return Err(format!(
                        "unexpected {kv:?} in {name}=[...]: iterations=N,password=P"
                    ))
                }
            }
        }
        let password = password.ok_or_else(|| format!("{name}=[...] needs password=..."))?;
        if out.iter().any(|u: &ScramUpsert| u.mechanism == m) {
            return Err(format!("{name} is given twice"));
        }
        out.push(ScramUpsert {
            user: user.to_owned(),
            mechanism: m,
            iterations,
            password,
        });
        rest = after.trim_start_matches(',').trim();
    }
    if out.is_empty() {
        return Err("--add-config names no mechanism".into());
    }
    Ok(out)
}

async fn scram(args: UsersArgs) -> Result<ExitCode, String> {
    let UsersCommand::Scram(command) = &args.command;
    let mut admin = args.connection.client(Duration::from_secs(60)).await?;
    let json = args.connection.json();
    match command {
        ScramCommand::Set { user, add_config } => {
            let upserts = parse_add_config(user, add_config)?;
            // Kafka takes one alteration per user and request.
            for u in &upserts {
                let results = admin
                    .alter_user_scram_credentials(std::slice::from_ref(u), &[])
                    .await
                    .map_err(|e| e.to_string())?;
                report(&results, json)?;
            }
            if !json {
                emit(&format!("Completed updating config for user {user}.\n"));
            }
        }
        ScramCommand::Delete {
            user,
            delete_config,
        } => {
            for name in delete_config.split(',') {
                let m = mechanism(name)?;
                let results = admin
                    .alter_user_scram_credentials(&[], &[(user.clone(), m)])
                    .await
                    .map_err(|e| e.to_string())?;
                report(&results, json)?;
            }
            if !json {
                emit(&format!("Completed updating config for user {user}.\n"));
            }
        }
        ScramCommand::List { user } => {
            let described = admin
                .describe_user_scram_credentials(user)
                .await
                .map_err(|e| e.to_string())?;
            let name = |t: i8| {
                ScramMechanism::from_type(t)
                    .map(|m| m.name().to_owned())
                    .unwrap_or_else(|| format!("UNKNOWN({t})"))
            };
            let mut failed = Vec::new();
            if json {
                let items: Vec<serde_json::Value> = described
                    .iter()
                    .map(|(u, r)| match r {
                        Ok(infos) => serde_json::json!({"user": u, "credentials": infos.iter().map(|(m, i)| serde_json::json!({"mechanism": name(*m), "iterations": i})).collect::<Vec<_>>()}),
                        Err((code, message)) => {
                            failed.push(u.clone());
                            serde_json::json!({"user": u, "error": code.name(), "message": message})
                        }
                    })
                    .collect();
                emit(&format!("{}\n", serde_json::Value::Array(items)));
            } else {
                let mut t = Table::with_header(&["USER", "MECHANISM", "ITERATIONS"]);
                for (u, r) in &described {
                    match r {
                        Ok(infos) => {
                            for (m, i) in infos {
                                t.row(vec![u.clone(), name(*m), i.to_string()]);
                            }
                        }
                        Err((code, message)) => {
                            failed.push(u.clone());
                            t.row(vec![
                                u.clone(),
                                format!(
                                    "error: {code}{}",
                                    message
                                        .as_deref()
                                        .map(|m| format!(" ({m})"))
                                        .unwrap_or_default()
                                ),
                                "-".into(),
                            ]);
                        }
                    }
                }
                emit(&t.render());
            }
            if !failed.is_empty() {
                return Err(format!("no SCRAM credentials for {}", failed.join(", ")));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

type AlterResults = [(
    String,
    Result<(), (strom_client::ErrorCode, Option<String>)>,
)];

fn report(results: &AlterResults, json: bool) -> Result<(), String> {
    for (user, r) in results {
        if let Err((code, message)) = r {
            return Err(format!(
                "user {user}: {code}{}",
                message
                    .as_deref()
                    .map(|m| format!(" ({m})"))
                    .unwrap_or_default()
            ));
        }
        if json {
            emit(&format!(
                "{}\n",
                serde_json::json!({"user": user, "error": null})
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kafka_configs_add_config_syntax() {
        let u = parse_add_config(
            "alice",
            "SCRAM-SHA-256=[iterations=8192,password=alice-secret],SCRAM-SHA-512=[password=p,w]",
        );
        assert!(
            u.is_err(),
            "a comma inside password is not Kafka's syntax either"
        );
        let u = parse_add_config(
            "alice",
            "SCRAM-SHA-256=[iterations=8192,password=alice-secret],SCRAM-SHA-512=[password=pw]",
        )
        .unwrap();
        assert_eq!(u.len(), 2);
        assert_eq!(u[0].mechanism, ScramMechanism::Sha256);
        assert_eq!(u[0].iterations, 8192);
        assert_eq!(u[0].password, "alice-secret");
        assert_eq!(u[1].iterations, 4096);
        assert!(parse_add_config("a", "SCRAM-SHA-1=[password=x]").is_err());
        assert!(parse_add_config("a", "SCRAM-SHA-256=[iterations=x,password=y]").is_err());
        assert!(parse_add_config("a", "SCRAM-SHA-256=[iterations=4096]").is_err());
        assert!(parse_add_config("a", "").is_err());
    }
}
