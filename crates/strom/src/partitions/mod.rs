//! `strom partitions reassign`: move partition replicas between brokers, as
//! `kafka-reassign-partitions.sh` does, on any Kafka-compatible cluster
//! (AlterPartitionReassignments, ListPartitionReassignments, Metadata,
//! DescribeCluster).
//!
//! `--generate` plans a balanced assignment with the fewest moves
//! ([`plan`]); `--execute` starts one from Kafka's JSON file and prints the
//! current assignment for rollback; `--verify` says per partition whether
//! it is done; `--cancel` stops the reassignments of a file; `--list` shows
//! those in progress. `--execute` and `--verify` can `--wait` for the end,
//! printing how many partitions are done and how many bytes each adding
//! replica still lacks against its leader (DescribeLogDirs of both).

pub mod json;
pub mod plan;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{ArgGroup, Args, Subcommand};
use serde_json::{json, Value};
use strom_client::{AdminClient, PartitionReassignment};

use crate::admin_cli::{emit, run_command, Connection};
use plan::{Assignment, Broker};

/// Each request may retry for this long.
const API_TIMEOUT: Duration = Duration::from_secs(30);
/// How often `--wait` asks.
const POLL: Duration = Duration::from_millis(500);
/// How long `--wait` accepts a finished reassignment whose replicas the
/// bootstrap broker's metadata does not show yet.
const METADATA_SLACK: Duration = Duration::from_secs(10);

const EXISTING: &str = "Cannot execute because there is an existing partition assignment. Use --additional to override this and create a new partition assignment in addition to the existing one.";

#[derive(Args)]
pub struct PartitionsArgs {
    #[command(flatten)]
    connection: Connection,
    #[command(subcommand)]
    command: PartitionsCommand,
}

#[derive(Subcommand)]
enum PartitionsCommand {
    /// Plan, start, verify, cancel and list partition reassignments, as
    /// kafka-reassign-partitions.sh.
    Reassign(ReassignArgs),
}

#[derive(Args)]
#[command(group(ArgGroup::new("action").required(true).args(["generate", "execute", "verify", "cancel", "list"])))]
struct ReassignArgs {
    /// Plan a balanced assignment of the topics of --topics-to-move-json-file
    /// over --broker-list (or of every topic, with --add-broker or
    /// --remove-broker) that moves as few replicas as it can.
    #[arg(long)]
    generate: bool,
    /// Start the reassignment of --reassignment-json-file.
    #[arg(long)]
    execute: bool,
    /// Say per partition of --reassignment-json-file whether its reassignment is done.
    #[arg(long)]
    verify: bool,
    /// Cancel the reassignments in progress of --reassignment-json-file's partitions.
    #[arg(long)]
    cancel: bool,
    /// List the reassignments in progress.
    #[arg(long)]
    list: bool,
    /// {"version":1,"topics":[{"topic":"foo"}]}
    #[arg(long, value_name = "FILE")]
    topics_to_move_json_file: Option<PathBuf>,
    /// The brokers to place replicas on: 1,2,3
    #[arg(long, value_name = "ID,ID...", value_delimiter = ',')]
    broker_list: Vec<i32>,
    /// Plan every topic over the registered brokers and this (new) one.
    #[arg(long, value_name = "ID", conflicts_with_all = ["remove_broker", "topics_to_move_json_file", "broker_list"])]
    add_broker: Option<i32>,
    /// Plan every topic over the registered brokers except this one.
    #[arg(long, value_name = "ID", conflicts_with_all = ["topics_to_move_json_file", "broker_list"])]
    remove_broker: Option<i32>,
    /// Plan without looking at broker.rack.
    #[arg(long)]
    disable_rack_aware: bool,
    /// {"version":1,"partitions":[{"topic":"foo","partition":0,"replicas":[1,2]}]}
    #[arg(long, value_name = "FILE")]
    reassignment_json_file: Option<PathBuf>,
    /// Start even though other reassignments are in progress.
    #[arg(long)]
    additional: bool,
    /// With --execute or --verify: wait until every partition is done,
    /// showing progress.
    #[arg(long)]
    wait: bool,
    /// With --wait: give up (exit 1) after this long.
    #[arg(long, value_name = "MS")]
    timeout: Option<u64>,
}

pub fn run(args: PartitionsArgs) -> ExitCode {
    let PartitionsCommand::Reassign(reassign) = args.command;
    let connection = args.connection;
    run_command(async move { reassign_command(&connection, reassign).await })
}

fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

async fn reassign_command(connection: &Connection, args: ReassignArgs) -> Result<ExitCode, String> {
    if args.wait && !(args.execute || args.verify) {
        return Err("--wait goes with --execute or --verify".to_owned());
    }
    if args.timeout.is_some() && !args.wait {
        return Err("--timeout goes with --wait".to_owned());
    }
    let file = |what: &str| -> Result<String, String> {
        match &args.reassignment_json_file {
            Some(path) => read(path),
            None => Err(format!("{what} needs --reassignment-json-file")),
        }
    };
    if args.generate {
        let request = match (args.add_broker, args.remove_broker) {
            (Some(id), _) => Generate::AddBroker(id),
            (None, Some(id)) => Generate::RemoveBroker(id),
            (None, None) => {
                let Some(path) = &args.topics_to_move_json_file else {
                    return Err("--generate needs --topics-to-move-json-file and --broker-list, or --add-broker / --remove-broker".to_owned());
                };
                if args.broker_list.is_empty() {
                    return Err("--generate needs --broker-list (1,2,3)".to_owned());
                }
                Generate::Topics(
                    json::topics_to_move(&read(path)?)?,
                    args.broker_list.clone(),
                )
            }
        };
        let mut admin = connection.client(API_TIMEOUT).await?;
        return generate(
            &mut admin,
            connection.json(),
            request,
            !args.disable_rack_aware,
        )
        .await;
    }
    if args.list {
        let mut admin = connection.client(API_TIMEOUT).await?;
        return list(&mut admin, connection.json()).await;
    }
    let deadline = args
        .timeout
        .map(|ms| Instant::now() + Duration::from_millis(ms));
    if args.execute {
        let targets = json::reassignment(&file("--execute")?)?;
        let mut admin = connection.client(API_TIMEOUT).await?;
        let code = execute(&mut admin, connection.json(), &targets, args.additional).await?;
        if args.wait && code == ExitCode::SUCCESS {
            return wait(&mut admin, connection.json(), &targets, deadline).await;
        }
        return Ok(code);
    }
    if args.verify {
        let targets = json::reassignment(&file("--verify")?)?;
        let mut admin = connection.client(API_TIMEOUT).await?;
        if args.wait {
            return wait(&mut admin, connection.json(), &targets, deadline).await;
        }
        let states = status(&mut admin, &targets).await?;
        emit(&status_text(&states, connection.json()));
        return Ok(ExitCode::SUCCESS);
    }
    let targets = json::reassignment(&file("--cancel")?)?;
    let mut admin = connection.client(API_TIMEOUT).await?;
    cancel(&mut admin, connection.json(), &targets).await
}

fn kafka_error(what: &str, e: strom_client::Error) -> String {
    format!("{what}: {e}")
}

/// Partitions by topic, as the reassignment requests name them.
fn by_topic<'a>(keys: impl Iterator<Item = &'a (String, i32)>) -> Vec<(String, Vec<i32>)> {
    let mut out: BTreeMap<String, Vec<i32>> = BTreeMap::new();
    for (topic, partition) in keys {
        out.entry(topic.clone()).or_default().push(*partition);
    }
    out.into_iter().collect()
}

fn names<'a>(keys: impl Iterator<Item = &'a (String, i32)>) -> String {
    keys.map(|(t, p)| format!("{t}-{p}"))
        .collect::<Vec<_>>()
        .join(",")
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// The replicas of every partition of `topics` (`None`: every topic).
async fn assignment_of(
    admin: &mut AdminClient,
    topics: Option<&[String]>,
) -> Result<Assignment, String> {
    let md = admin
        .metadata(topics)
        .await
        .map_err(|e| kafka_error("cannot read the cluster metadata", e))?;
    if let Some(topics) = topics {
        for t in topics {
            match md.topics.get(t) {
                Some(m) if m.error.is_none() => {}
                _ => return Err(format!("topic {t} does not exist")),
            }
        }
    }
    let mut out = Assignment::new();
    for (name, topic) in &md.topics {
        if topic.error.is_some() {
            continue;
        }
        for (index, p) in &topic.partitions {
            out.insert((name.clone(), *index), p.replicas.clone());
        }
    }
    Ok(out)
}

/// Registered brokers (fenced ones too) with their racks.
async fn brokers(admin: &mut AdminClient) -> Result<Vec<(Broker, bool)>, String> {
    let resp = admin
        .describe_cluster(true)
        .await
        .map_err(|e| kafka_error("cannot describe the cluster", e))?;
    let mut out: Vec<(Broker, bool)> = resp
        .brokers
        .iter()
        .map(|b| {
            (
                Broker {
                    id: b.broker_id.0,
                    rack: b.rack.as_ref().map(|r| r.to_string()),
                },
                b.is_fenced,
            )
        })
        .collect();
    out.sort_by_key(|(b, _)| b.id);
    Ok(out)
}

enum Generate {
    Topics(Vec<String>, Vec<i32>),
    AddBroker(i32),
    RemoveBroker(i32),
}

async fn generate(
    admin: &mut AdminClient,
    json_out: bool,
    request: Generate,
    rack_aware: bool,
) -> Result<ExitCode, String> {
    let registered = brokers(admin).await?;
    let known = |id: i32| registered.iter().find(|(b, _)| b.id == id);
    let (topics, targets): (Option<Vec<String>>, Vec<Broker>) = match request {
        Generate::Topics(topics, list) => {
            let mut targets = Vec::new();
            for id in list {
                match known(id) {
                    Some((b, _)) if !targets.contains(b) => targets.push(b.clone()),
                    Some(_) => return Err(format!("the broker list contains {id} twice")),
                    None => {
                        return Err(format!(
                            "unknown broker id {id}: it is not registered with the cluster"
                        ))
                    }
                }
            }
            (Some(topics), targets)
        }
        Generate::AddBroker(id) => {
            if known(id).is_none() {
                return Err(format!(
                    "broker {id} is not registered with the cluster; start it first (with its own node.id), then plan"
                ));
            }
            (None, registered.iter().map(|(b, _)| b.clone()).collect())
        }
        Generate::RemoveBroker(id) => (
            None,
            registered
                .iter()
                .filter(|(b, _)| b.id != id)
                .map(|(b, _)| b.clone())
                .collect(),
        ),
    };
    let fenced: Vec<String> = registered
        .iter()
        .filter(|(b, fenced)| *fenced && targets.contains(b))
        .map(|(b, _)| b.id.to_string())
        .collect();
    if !fenced.is_empty() {
        eprintln!(
            "warning: broker{} {} {} fenced (not running); replicas planned there stay offline until it returns",
            plural(fenced.len()),
            fenced.join(","),
            if fenced.len() == 1 { "is" } else { "are" }
        );
    }
    let current = assignment_of(admin, topics.as_deref()).await?;
    let proposed = plan::plan(&current, &targets, rack_aware)?;
    let changed: Assignment = proposed
        .iter()
        .filter(|(k, v)| current.get(*k) != Some(*v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let (replica_moves, leader_moves) = plan::moves(&current, &proposed);
    let text = if json_out {
        let parse = |a: &Assignment| -> Value {
            serde_json::from_str(&json::format_assignment(a)).unwrap_or(Value::Null)
        };
        format!(
            "{}\n",
            json!({
                "current": parse(&current),
                "proposed": parse(&changed),
                "replicaMoves": replica_moves,
                "leaderChanges": leader_moves,
            })
        )
    } else {
        let summary = if changed.is_empty() {
            "The assignment is already balanced: nothing to move.".to_owned()
        } else {
            format!(
                "{} partition{} change: {replica_moves} replica{} move{}, {leader_moves} preferred leader{} change{}.",
                changed.len(),
                plural(changed.len()),
                plural(replica_moves),
                if replica_moves == 1 { "s" } else { "" },
                plural(leader_moves),
                if leader_moves == 1 { "s" } else { "" },
            )
        };
        format!(
            "Current partition replica assignment\n{}\n\nProposed partition reassignment configuration\n{}\n\n{summary}\n",
            json::format_assignment(&current),
            json::format_assignment(&changed),
        )
    };
    emit(&text);
    Ok(ExitCode::SUCCESS)
}

async fn list(admin: &mut AdminClient, json_out: bool) -> Result<ExitCode, String> {
    let mut ongoing = admin
        .list_partition_reassignments(None)
        .await
        .map_err(|e| kafka_error("cannot list the reassignments", e))?;
    ongoing.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
    let text = if json_out {
        let items: Vec<Value> = ongoing
            .iter()
            .map(|r| {
                json!({
                    "topic": r.topic,
                    "partition": r.partition,
                    "replicas": r.replicas,
                    "addingReplicas": r.adding_replicas,
                    "removingReplicas": r.removing_replicas,
                })
            })
            .collect();
        format!("{}\n", json!({ "reassignments": items }))
    } else if ongoing.is_empty() {
        "No partition reassignments found.\n".to_owned()
    } else {
        let ids = |v: &[i32]| v.iter().map(i32::to_string).collect::<Vec<_>>().join(",");
        let mut out = "Current partition reassignments:\n".to_owned();
        for r in &ongoing {
            out.push_str(&format!(
                "{}-{}: replicas: {}.",
                r.topic,
                r.partition,
                ids(&r.replicas)
            ));
            if !r.adding_replicas.is_empty() {
                out.push_str(&format!(" adding: {}.", ids(&r.adding_replicas)));
            }
            if !r.removing_replicas.is_empty() {
                out.push_str(&format!(" removing: {}.", ids(&r.removing_replicas)));
            }
            out.push('\n');
        }
        out
    };
    emit(&text);
    Ok(ExitCode::SUCCESS)
}

async fn execute(
    admin: &mut AdminClient,
    json_out: bool,
    targets: &Assignment,
    additional: bool,
) -> Result<ExitCode, String> {
    let ongoing = admin
        .list_partition_reassignments(None)
        .await
        .map_err(|e| kafka_error("cannot list the reassignments in progress", e))?;
    if !additional && !ongoing.is_empty() {
        return Err(EXISTING.to_owned());
    }
    let registered: BTreeSet<i32> = brokers(admin).await?.iter().map(|(b, _)| b.id).collect();
    if let Some(unknown) = targets.values().flatten().find(|b| !registered.contains(b)) {
        return Err(format!(
            "unknown broker id {unknown}: it is not registered with the cluster"
        ));
    }
    let topics: Vec<String> = targets
        .keys()
        .map(|(t, _)| t.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let all = assignment_of(admin, Some(&topics)).await?;
    let mut current = Assignment::new();
    for key in targets.keys() {
        match all.get(key) {
            Some(r) => {
                current.insert(key.clone(), r.clone());
            }
            None => return Err(format!("unable to find partition: {}-{}", key.0, key.1)),
        }
    }
    let request: Vec<(String, i32, Option<Vec<i32>>)> = targets
        .iter()
        .map(|((t, p), r)| (t.clone(), *p, Some(r.clone())))
        .collect();
    let results = admin
        .alter_partition_reassignments(&request)
        .await
        .map_err(|e| kafka_error("cannot start the reassignment", e))?;
    let failed: Vec<String> = results
        .iter()
        .filter_map(|r| {
            r.error.as_ref().map(|(code, message)| {
                format!(
                    "{}-{}: {code}{}",
                    r.topic,
                    r.partition,
                    message
                        .as_deref()
                        .map(|m| format!(" ({m})"))
                        .unwrap_or_default()
                )
            })
        })
        .collect();
    let rollback = json::format_assignment(&current);
    if json_out {
        let started: Vec<String> = results
            .iter()
            .filter(|r| r.error.is_none())
            .map(|r| format!("{}-{}", r.topic, r.partition))
            .collect();
        let current: Value = serde_json::from_str(&rollback).unwrap_or(Value::Null);
        emit(&format!(
            "{}\n",
            json!({ "current": current, "started": started, "errors": failed })
        ));
    } else {
        emit(&format!(
            "Current partition replica assignment\n\n{rollback}\n\nSave this to use as the --reassignment-json-file option during rollback\n"
        ));
    }
    if !failed.is_empty() {
        return Err(format!(
            "error reassigning partition(s):\n{}",
            failed.join("\n")
        ));
    }
    if !json_out {
        emit(&format!(
            "Successfully started partition reassignment{} for {}\n",
            plural(targets.len()),
            names(targets.keys())
        ));
    }
    Ok(ExitCode::SUCCESS)
}

/// One partition of a reassignment file, as --verify sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    Done,
    InProgress(PartitionReassignment),
    /// No reassignment in progress, but the replicas are not the target's.
    Differs(Vec<i32>),
}

async fn status(
    admin: &mut AdminClient,
    targets: &Assignment,
) -> Result<Vec<((String, i32), Vec<i32>, State)>, String> {
    let named = by_topic(targets.keys());
    let ongoing = admin
        .list_partition_reassignments(Some(&named))
        .await
        .map_err(|e| kafka_error("cannot list the reassignments", e))?;
    let topics: Vec<String> = named.iter().map(|(t, _)| t.clone()).collect();
    let current = assignment_of(admin, Some(&topics)).await?;
    let mut out = Vec::new();
    for (key, target) in targets {
        let state = match ongoing
            .iter()
            .find(|r| r.topic == key.0 && r.partition == key.1)
        {
            Some(r) => State::InProgress(r.clone()),
            None => match current.get(key) {
                Some(replicas) if replicas == target => State::Done,
                Some(replicas) => State::Differs(replicas.clone()),
                None => return Err(format!("unable to find partition: {}-{}", key.0, key.1)),
            },
        };
        out.push((key.clone(), target.clone(), state));
    }
    Ok(out)
}

fn ids(v: &[i32]) -> String {
    v.iter().map(i32::to_string).collect::<Vec<_>>().join(",")
}

fn status_text(states: &[((String, i32), Vec<i32>, State)], json_out: bool) -> String {
    let done = states.iter().filter(|(_, _, s)| *s == State::Done).count();
    if json_out {
        let items: Vec<Value> = states
            .iter()
            .map(|((t, p), target, s)| {
                let (state, replicas, adding) = match s {
                    State::Done => ("done", target.clone(), vec![]),
                    State::InProgress(r) => {
                        ("in_progress", r.replicas.clone(), r.adding_replicas.clone())
                    }
                    State::Differs(r) => ("differs", r.clone(), vec![]),
                };
                json!({
                    "topic": t,
                    "partition": p,
                    "state": state,
                    "replicas": replicas,
                    "targetReplicas": target,
                    "addingReplicas": adding,
                })
            })
            .collect();
        return format!(
            "{}\n",
            json!({ "done": done == states.len(), "partitions": items })
        );
    }
    let mut out = "Status of partition reassignment:\n".to_owned();
    for ((t, p), target, s) in states {
        match s {
            State::Done => out.push_str(&format!("Reassignment of partition {t}-{p} is completed.\n")),
            State::InProgress(_) => {
                out.push_str(&format!("Reassignment of partition {t}-{p} is still in progress.\n"))
            }
            State::Differs(replicas) => out.push_str(&format!(
                "There is no active reassignment of partition {t}-{p}, but replica set is {} rather than {}.\n",
                ids(replicas),
                ids(target)
            )),
        }
    }
    if done == 1 && states.len() == 1 {
        out.push_str("The partition reassignment is complete.\n");
    } else if done == states.len() {
        out.push_str(&format!(
            "All {done} partition reassignments are complete.\n"
        ));
    } else {
        out.push_str(&format!("{done}/{} partitions done.\n", states.len()));
    }
    out
}

/// Polls until every partition is done, printing progress when it changes.
async fn wait(
    admin: &mut AdminClient,
    json_out: bool,
    targets: &Assignment,
    deadline: Option<Instant>,
) -> Result<ExitCode, String> {
    let start = Instant::now();
    let mut last_line = String::new();
    let mut differs_since: Option<Instant> = None;
    loop {
        let states = status(admin, targets).await?;
        let done = states.iter().filter(|(_, _, s)| *s == State::Done).count();
        if done == states.len() {
            emit(&status_text(&states, json_out));
            return Ok(ExitCode::SUCCESS);
        }
        let only_differs = states
            .iter()
            .all(|(_, _, s)| matches!(s, State::Done | State::Differs(_)));
        differs_since = match (only_differs, differs_since) {
            (false, _) => None,
            (true, None) => Some(Instant::now()),
            (true, since) => since,
        };
        if differs_since.is_some_and(|t| t.elapsed() > METADATA_SLACK) {
            emit(&status_text(&states, json_out));
            return Err("no reassignment is in progress, but some partitions do not have their target replicas; run --execute again or check the file".to_owned());
        }
        if !json_out {
            let lags = adding_lag(admin, &states).await;
            let adding: Vec<String> = states
                .iter()
                .filter_map(|((t, p), _, s)| match s {
                    State::InProgress(r) if !r.adding_replicas.is_empty() => {
                        let lag: Vec<String> = r
                            .adding_replicas
                            .iter()
                            .filter_map(|b| {
                                let bytes = lags.get(&(t.clone(), *p, *b))?;
                                Some(format!("{b}: {} behind", human_bytes(*bytes)))
                            })
                            .collect();
                        Some(format!(
                            "{t}-{p} adding {}{}",
                            ids(&r.adding_replicas),
                            if lag.is_empty() {
                                String::new()
                            } else {
                                format!(" ({})", lag.join(", "))
                            }
                        ))
                    }
                    _ => None,
                })
                .collect();
            let line = format!(
                "{done}/{} partitions done{}",
                states.len(),
                if adding.is_empty() {
                    String::new()
                } else {
                    format!("; {}", adding.join(", "))
                }
            );
            if line != last_line {
                emit(&format!("[{:>4}s] {line}\n", start.elapsed().as_secs()));
                last_line = line;
            }
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            emit(&status_text(&states, json_out));
            return Err(format!(
                "{}/{} partitions still in progress after --timeout; the reassignment goes on: run --verify later",
                states.len() - done,
                states.len()
            ));
        }
        tokio::time::sleep(POLL).await;
    }
}

/// How many bytes each adding replica lacks against its leader's replica,
/// from DescribeLogDirs of the brokers involved: (topic, partition, adding
/// broker) → bytes. Best effort: what cannot be asked is left out.
async fn adding_lag(
    admin: &mut AdminClient,
    states: &[((String, i32), Vec<i32>, State)],
) -> BTreeMap<(String, i32, i32), i64> {
    let moving: Vec<&PartitionReassignment> = states
        .iter()
        .filter_map(|(_, _, s)| match s {
            State::InProgress(r) if !r.adding_replicas.is_empty() => Some(r),
            _ => None,
        })
        .collect();
    let mut out = BTreeMap::new();
    if moving.is_empty() {
        return out;
    }
    let topics: Vec<String> = moving
        .iter()
        .map(|r| r.topic.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let Ok(md) = admin.metadata(Some(&topics)).await else {
        return out;
    };
    let leader = |r: &PartitionReassignment| {
        md.topics
            .get(&r.topic)
            .and_then(|t| t.partitions.get(&r.partition))
            .map(|p| p.leader_id)
            .filter(|l| *l >= 0)
    };
    let named = by_topic(
        moving
            .iter()
            .map(|r| (r.topic.clone(), r.partition))
            .collect::<Vec<_>>()
            .iter(),
    );
    let mut involved: BTreeSet<i32> = BTreeSet::new();
    for r in &moving {
        involved.extend(r.adding_replicas.iter().copied());
        involved.extend(leader(r));
    }
    let mut sizes: BTreeMap<i32, BTreeMap<(String, i32), i64>> = BTreeMap::new();
    for id in involved {
        let Some(address) = md.brokers.get(&id) else {
            continue;
        };
        if let Ok(s) = admin.replica_sizes(address, &named).await {
            sizes.insert(id, s);
        }
    }
    for r in &moving {
        let key = (r.topic.clone(), r.partition);
        let Some(full) = leader(r).and_then(|l| sizes.get(&l)?.get(&key).copied()) else {
            continue;
        };
        for b in &r.adding_replicas {
            let have = sizes.get(b).and_then(|s| s.get(&key).copied()).unwrap_or(0);
            out.insert((r.topic.clone(), r.partition, *b), (full - have).max(0));
        }
    }
    out
}

fn human_bytes(bytes: i64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

async fn cancel(
    admin: &mut AdminClient,
    json_out: bool,
    targets: &Assignment,
) -> Result<ExitCode, String> {
    let named = by_topic(targets.keys());
    let ongoing = admin
        .list_partition_reassignments(Some(&named))
        .await
        .map_err(|e| kafka_error("cannot list the reassignments", e))?;
    let active: BTreeSet<(String, i32)> = ongoing
        .iter()
        .map(|r| (r.topic.clone(), r.partition))
        .filter(|k| targets.contains_key(k))
        .collect();
    if active.is_empty() {
        emit(if json_out {
            "{\"cancelled\":[]}\n"
        } else {
            "None of the specified partition reassignments are active.\n"
        });
        return Ok(ExitCode::SUCCESS);
    }
    let request: Vec<(String, i32, Option<Vec<i32>>)> =
        active.iter().map(|(t, p)| (t.clone(), *p, None)).collect();
    let results = admin
        .alter_partition_reassignments(&request)
        .await
        .map_err(|e| kafka_error("cannot cancel the reassignments", e))?;
    let failed: Vec<String> = results
        .iter()
        .filter_map(|r| {
            r.error
                .as_ref()
                .map(|(code, _)| format!("{}-{}: {code}", r.topic, r.partition))
        })
        .collect();
    if !failed.is_empty() {
        return Err(format!(
            "error cancelling partition reassignment{} for:\n{}",
            plural(failed.len()),
            failed.join("\n")
        ));
    }
    if json_out {
        let cancelled: Vec<String> = active.iter().map(|(t, p)| format!("{t}-{p}")).collect();
        emit(&format!("{}\n", json!({ "cancelled": cancelled })));
    } else {
        emit(&format!(
            "Successfully cancelled partition reassignment{} for: {}\n",
            plural(active.len()),
            names(active.iter())
        ));
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_people_read_them() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(5 << 20), "5.0 MiB");
        assert_eq!(human_bytes(3 << 40), "3072.0 GiB");
    }

    #[test]
    fn verify_says_per_partition_whether_it_is_done_and_when_all_are() {
        let key = |p: i32| ("t".to_owned(), p);
        let moving = PartitionReassignment {
            topic: "t".into(),
            partition: 1,
            replicas: vec![2, 3, 1],
            adding_replicas: vec![3],
            removing_replicas: vec![1],
        };
        let states = vec![
            (key(0), vec![2, 3], State::Done),
            (key(1), vec![2, 3], State::InProgress(moving)),
            (key(2), vec![2, 3], State::Differs(vec![1, 2])),
        ];
        assert_eq!(
            status_text(&states, false),
            "Status of partition reassignment:\n\
             Reassignment of partition t-0 is completed.\n\
             Reassignment of partition t-1 is still in progress.\n\
             There is no active reassignment of partition t-2, but replica set is 1,2 rather than 2,3.\n\
             1/3 partitions done.\n"
        );
        let doc: Value = serde_json::from_str(&status_text(&states, true)).unwrap();
        assert_eq!(doc["done"], false);
        assert_eq!(doc["partitions"][1]["state"], "in_progress");
        assert_eq!(doc["partitions"][1]["addingReplicas"], json!([3]));
        assert_eq!(doc["partitions"][2]["state"], "differs");

        let done = vec![(key(0), vec![2, 3], State::Done)];
        assert!(status_text(&done, false).ends_with("The partition reassignment is complete.\n"));
    }
}
