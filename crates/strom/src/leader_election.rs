//! `strom leader-election`: elect partition leaders (ElectLeaders), as
//! `kafka-leader-election.sh` does, on any Kafka-compatible cluster.
//! `preferred` moves leadership back to each partition's first replica if it
//! is in sync; `unclean` gives partitions without a leader one from outside
//! the ISR (records only the old leader had are lost).

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{ArgGroup, Args, ValueEnum};
use serde_json::{json, Value};
use strom_client::{ElectionType, ErrorCode};

use crate::admin_cli::{emit, run_command, Connection};
use crate::partitions::json;
use crate::table::Table;

/// Kafka's ELECTION_NOT_NEEDED: the partition already has the leader asked for.
const ELECTION_NOT_NEEDED: ErrorCode = ErrorCode(84);

#[derive(Args)]
#[command(group(ArgGroup::new("which").required(true).args(["topic", "all_topic_partitions", "path_to_json_file"])))]
pub struct LeaderElectionArgs {
    #[command(flatten)]
    connection: Connection,
    /// preferred: the first replica leads again if it is in sync; unclean:
    /// leaderless partitions get a leader even from outside the ISR.
    #[arg(long, value_enum)]
    election_type: Kind,
    /// A topic (with --partition).
    #[arg(long, requires = "partition")]
    topic: Option<String>,
    /// The partition of --topic.
    #[arg(long, requires = "topic")]
    partition: Option<i32>,
    /// Every partition that needs the election.
    #[arg(long)]
    all_topic_partitions: bool,
    /// {"partitions":[{"topic":"foo","partition":1}]}
    #[arg(long, value_name = "FILE")]
    path_to_json_file: Option<PathBuf>,
}

#[derive(Clone, Copy, ValueEnum)]
enum Kind {
    Preferred,
    Unclean,
}

pub fn run(args: LeaderElectionArgs) -> ExitCode {
    run_command(elect(args))
}

async fn elect(args: LeaderElectionArgs) -> Result<ExitCode, String> {
    let partitions: Option<BTreeSet<(String, i32)>> =
        match (&args.path_to_json_file, &args.topic, args.partition) {
            (Some(path), _, _) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                Some(json::election_partitions(&text)?)
            }
            (None, Some(topic), Some(partition)) => {
                Some(BTreeSet::from([(topic.clone(), partition)]))
            }
            _ => None,
        };
    let (kind, name) = match args.election_type {
        Kind::Preferred => (ElectionType::Preferred, "PREFERRED"),
        Kind::Unclean => (ElectionType::Unclean, "UNCLEAN"),
    };
    let named: Option<Vec<(String, Vec<i32>)>> = partitions.as_ref().map(|set| {
        let mut out: Vec<(String, Vec<i32>)> = Vec::new();
        for (topic, partition) in set {
            match out.last_mut() {
                Some((t, ps)) if t == topic => ps.push(*partition),
                _ => out.push((topic.clone(), vec![*partition])),
            }
        }
        out
    });
    let mut admin = args.connection.client(Duration::from_secs(30)).await?;
    let mut results = admin
        .elect_leaders(kind, named.as_deref())
        .await
        .map_err(|e| format!("the leader election failed: {e}"))?;
    results.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
    let outcome = |r: &strom_client::PartitionResult| -> (&'static str, String) {
        match &r.error {
            None => ("elected", String::new()),
            Some((code, _)) if *code == ELECTION_NOT_NEEDED => ("already elected", String::new()),
            Some((code, message)) => (
                "failed",
                format!(
                    "{code}{}",
                    message
                        .as_deref()
                        .map(|m| format!(": {m}"))
                        .unwrap_or_default()
                ),
            ),
        }
    };
    let failed = results.iter().filter(|r| outcome(r).0 == "failed").count();
    let text = if args.connection.json() {
        let items: Vec<Value> = results
            .iter()
            .map(|r| {
                let (state, error) = outcome(r);
                json!({
                    "topic": r.topic,
                    "partition": r.partition,
                    "outcome": state,
                    "error": if error.is_empty() { Value::Null } else { Value::String(error) },
                })
            })
            .collect();
        format!("{}\n", json!({ "electionType": name, "partitions": items }))
    } else if results.is_empty() {
        format!(
            "No partition needed a {} leader election.\n",
            name.to_lowercase()
        )
    } else {
        let mut table = Table::with_header(&["TOPIC", "PARTITION", "OUTCOME", "ERROR"]);
        for r in &results {
            let (state, error) = outcome(r);
            table.row(vec![
                r.topic.clone(),
                r.partition.to_string(),
                state.to_owned(),
                error,
            ]);
        }
        table.render()
    };
    emit(&text);
    if failed > 0 {
        return Err(format!(
            "{failed} of {} partition{} could not be elected ({name}); for a preferred election the first replica must be alive and in the ISR",
            results.len(),
            if results.len() == 1 { "" } else { "s" }
        ));
    }
    Ok(ExitCode::SUCCESS)
}
