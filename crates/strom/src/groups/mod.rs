//! `strom groups`: list, describe and delete consumer groups and their
//! committed offsets on any Kafka-compatible cluster, as
//! `kafka-consumer-groups.sh` does.
//!
//! Output goes to stdout; failures go to stderr as one line saying what to
//! do next, with exit code 1.

mod failure;
mod report;
mod reset;

use std::collections::BTreeMap;
use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};

use strom_client::{
    AdminClient, CommittedOffset, ConnectionConfig, ConsumerGroupDescription, Error, ErrorCode,
    GroupDescription, TopicPartition,
};

use crate::admin_cli::Connection;
use failure::{group_not_found, Failure};
use report::GroupReport;

#[derive(Args)]
pub struct GroupsArgs {
    #[command(flatten)]
    connection: Connection,
    /// Limit for each request, and for retrying while a coordinator loads.
    #[arg(long, global = true, value_name = "MS", default_value_t = 30_000)]
    timeout_ms: u64,
    #[command(subcommand)]
    command: GroupsCommand,
}

#[derive(Subcommand)]
enum GroupsCommand {
    /// List groups: id, type, protocol type and state.
    List {
        /// Only groups in these states (Empty, Stable, PreparingRebalance, ...).
        #[arg(long, value_name = "STATE[,STATE...]", value_delimiter = ',')]
        state: Vec<String>,
    },
    /// Show a group's state and members, and per partition its committed
    /// offset, log end offset, lag and owner. Classic groups come from
    /// DescribeGroups, KIP-848 consumer groups from ConsumerGroupDescribe.
    Describe { group: String },
    /// Delete groups without active members, with their committed offsets.
    Delete {
        #[arg(required = true, value_name = "GROUP")]
        groups: Vec<String>,
    },
    /// Delete a group's committed offsets of topics or single partitions.
    DeleteOffsets {
        group: String,
        /// A topic (all its partitions) or some of its partitions: orders:0,2
        #[arg(long = "topic", required = true, value_name = "TOPIC[:P,P...]", value_parser = parse_topic_partitions)]
        topics: Vec<TopicSelection>,
    },
    /// Move a group's committed offsets (the group must have no active
    /// members): prints the new offsets; commits them only with --execute.
    #[command(group(clap::ArgGroup::new("spec").required(true).args(["to_earliest", "to_latest", "to_current", "to_offset", "shift_by", "to_datetime"])))]
    #[command(group(clap::ArgGroup::new("scope").required(true).args(["topics", "all_topics"])))]
    ResetOffsets {
        group: String,
        /// A topic (all its partitions) or some of its partitions: orders:0,2 (repeatable).
        #[arg(long = "topic", value_name = "TOPIC[:P,P...]", value_parser = parse_topic_partitions)]
        topics: Vec<TopicSelection>,
        /// Every partition the group has a committed offset for.
        #[arg(long)]
        all_topics: bool,
        /// To the log start offset.
        #[arg(long)]
        to_earliest: bool,
        /// To the log end offset.
        #[arg(long)]
        to_latest: bool,
        /// To the committed offset (the log end where there is none).
        #[arg(long)]
        to_current: bool,
        /// To this offset.
        #[arg(long, value_name = "OFFSET")]
        to_offset: Option<i64>,
        /// By this many (negative: back) from the committed offset.
        #[arg(long, value_name = "N", allow_hyphen_values = true)]
        shift_by: Option<i64>,
        /// To the first offset at or after this time: YYYY-MM-DDTHH:MM:SS[.sss][Z|±HH:MM] or ms.
        #[arg(long, value_name = "TIME")]
        to_datetime: Option<String>,
        /// Only print the new offsets (the default).
        #[arg(long, conflicts_with = "execute")]
        dry_run: bool,
        /// Commit the new offsets.
        #[arg(long)]
        execute: bool,
    },
}

/// A topic with all (`None`) or some of its partitions.
#[derive(Debug, Clone, PartialEq, Eq)]
struct TopicSelection {
    topic: String,
    partitions: Option<Vec<i32>>,
}

fn parse_topic_partitions(s: &str) -> Result<TopicSelection, String> {
    let (topic, partitions) = match s.split_once(':') {
        None => (s, None),
        Some((topic, list)) => {
            let partitions = list
                .split(',')
                .map(|p| p.trim().parse::<i32>().ok().filter(|p| *p >= 0))
                .collect::<Option<Vec<i32>>>()
                .ok_or_else(|| {
                    format!("partitions must be numbers separated by commas, as in {topic}:0,2")
                })?;
            (topic, Some(partitions))
        }
    };
    if topic.is_empty() {
        return Err("the topic name is empty".to_owned());
    }
    Ok(TopicSelection {
        topic: topic.to_owned(),
        partitions,
    })
}

/// Runs one `strom groups` command and prints its outcome.
pub fn run(args: GroupsArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => return fail(&Failure(format!("cannot start the async runtime: {e}"))),
    };
    match runtime.block_on(execute(args)) {
        Ok(true) => ExitCode::SUCCESS,
        // Per-group or per-partition failures, already printed.
        Ok(false) => ExitCode::FAILURE,
        Err(f) => fail(&f),
    }
}

fn fail(f: &Failure) -> ExitCode {
    let _ = writeln!(std::io::stderr(), "error: {}", f.0);
    ExitCode::FAILURE
}

/// Writes to stdout; a closed stdout (`| head`) is not worth a panic.
fn emit(text: &str) {
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
}

/// Pretty JSON and a newline, for `--output json`.
fn emit_json(value: &serde_json::Value) {
    let text = serde_json::to_string_pretty(value).unwrap_or_default();
    emit(&format!("{text}\n"));
}

fn warn(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// `Ok(false)` when some groups or partitions failed (and were reported).
async fn execute(args: GroupsArgs) -> Result<bool, Failure> {
    let timeout = Duration::from_millis(args.timeout_ms.max(1));
    let json = args.connection.json();
    let mut config = args.connection.admin_config(timeout).map_err(Failure)?;
    if config.connection.client_id == ConnectionConfig::default().client_id {
        config.connection.client_id = "strom-groups".to_owned();
    }
    config.connection.request_timeout = timeout;
    // Validate arguments before connecting.
    let states = match &args.command {
        GroupsCommand::List { state } => canonical_states(state)?,
        _ => Vec::new(),
    };
    let connection = config.connection.clone();
    let bootstrap = config.bootstrap_server.clone();
    let mut admin = AdminClient::connect(config).await?;
    match args.command {
        GroupsCommand::ResetOffsets {
            group,
            topics,
            all_topics,
            to_earliest,
            to_latest,
            to_current: _,
            to_offset,
            shift_by,
            to_datetime,
            dry_run,
            execute,
        } => {
            let spec = if to_earliest {
                reset::ResetSpec::Earliest
            } else if to_latest {
                reset::ResetSpec::Latest
            } else if let Some(o) = to_offset {
                reset::ResetSpec::Offset(o)
            } else if let Some(n) = shift_by {
                reset::ResetSpec::Shift(n)
            } else if let Some(t) = &to_datetime {
                reset::ResetSpec::Time(crate::consume::parse_time(t).map_err(Failure)?)
            } else {
                reset::ResetSpec::Current
            };
            if !dry_run && !execute {
                warn("WARN: No action will be performed as the --execute option is missing; add --dry-run to keep this behaviour explicitly in scripts.");
            }
            reset::reset_offsets(
                &mut admin,
                reset::ResetRequest {
                    group: &group,
                    topics: &topics,
                    all_topics,
                    spec,
                    execute,
                    json,
                    bootstrap_server: &bootstrap,
                    connection,
                },
            )
            .await
        }
        GroupsCommand::List { .. } => list(&mut admin, &states, json).await,
        GroupsCommand::Describe { group } => describe(&mut admin, &group, json).await,
        GroupsCommand::Delete { groups } => delete(&mut admin, &groups, json).await,
        GroupsCommand::DeleteOffsets { group, topics } => {
            delete_offsets(&mut admin, &group, &topics, json).await
        }
    }
}

/// Kafka's group states; `--state` takes them in any case.
const STATES: &[&str] = &[
    "Empty",
    "Stable",
    "PreparingRebalance",
    "CompletingRebalance",
    "Assigning",
    "Reconciling",
    "Dead",
];

fn canonical_states(given: &[String]) -> Result<Vec<String>, Failure> {
    given
        .iter()
        .map(|s| {
            STATES
                .iter()
                .find(|k| k.eq_ignore_ascii_case(s.trim()))
                .map(|k| k.to_string())
                .ok_or_else(|| {
                    Failure(format!(
                        "unknown group state {s:?}; use one of {}",
                        STATES.join(", ")
                    ))
                })
        })
        .collect()
}

async fn list(admin: &mut AdminClient, states: &[String], json: bool) -> Result<bool, Failure> {
    let mut groups = admin.list_groups(states).await?;
    // Brokers filter already; this keeps the output right if one did not.
    if !states.is_empty() {
        groups.retain(|g| {
            g.state
                .as_deref()
                .is_some_and(|s| states.iter().any(|w| w.eq_ignore_ascii_case(s)))
        });
    }
    if json {
        emit_json(&report::group_list_json(&groups));
    } else {
        emit(&report::group_list(&groups));
    }
    Ok(true)
}

async fn describe(admin: &mut AdminClient, group: &str, json: bool) -> Result<bool, Failure> {
    let described = admin.describe_groups(&[group.to_owned()]).await?;
    let desc = described
        .into_iter()
        .next()
        .ok_or_else(|| group_not_found(group))?;
    let described_ok = desc.error.is_none() && !(desc.state == "Dead" && desc.members.is_empty());
    if !described_ok {
        // Not a classic group: perhaps a KIP-848 consumer group.
        if let Some(consumer) = describe_consumer_group(admin, group).await? {
            return describe_consumer(admin, &consumer, json).await;
        }
    }
    let committed = committed_offsets(admin, group).await?;
    if !described_ok && committed.is_empty() {
        return match desc.error {
            None | Some(ErrorCode::GROUP_ID_NOT_FOUND) => Err(group_not_found(group)),
            Some(code) => Err(Failure(format!(
                "DescribeGroups failed: {}",
                failure::describe_code(code)
            ))),
        };
    }
    let desc = if described_ok {
        desc
    } else {
        offsets_only(admin, desc).await?
    };
    let partitions = report::partitions_of(&desc, &committed);
    let log_end = admin.list_offsets_latest(&partitions).await?;
    let mut report = GroupReport::build(&desc, &committed, &log_end);
    if !described_ok {
        report.members = None;
    }
    print_report(&report, json);
    Ok(true)
}

/// The group's committed offsets; none for a group the coordinator does
/// not know.
async fn committed_offsets(
    admin: &mut AdminClient,
    group: &str,
) -> Result<BTreeMap<TopicPartition, CommittedOffset>, Failure> {
    match admin.offset_fetch(group, None).await {
        Ok(c) => Ok(c),
        Err(e) if e.kafka_code() == Some(ErrorCode::GROUP_ID_NOT_FOUND) => Ok(BTreeMap::new()),
        Err(e) => Err(e.into()),
    }
}

fn print_report(report: &GroupReport, json: bool) {
    for w in &report.warnings {
        warn(&format!("warning: {w}"));
    }
    if json {
        emit_json(&report.to_json());
    } else {
        emit(&report.render());
    }
}

/// The group as ConsumerGroupDescribe describes it; `None` when it is no
/// KIP-848 consumer group (GROUP_ID_NOT_FOUND) or the coordinator does not
/// support ConsumerGroupDescribe.
async fn describe_consumer_group(
    admin: &mut AdminClient,
    group: &str,
) -> Result<Option<ConsumerGroupDescription>, Failure> {
    let described = match admin.consumer_group_describe(&[group.to_owned()]).await {
        Ok(d) => d,
        Err(Error::UnsupportedApi { .. } | Error::NoCommonVersion { .. }) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let Some(desc) = described.into_iter().next() else {
        return Ok(None);
    };
    match desc.error {
        None => Ok(Some(desc)),
        Some(ErrorCode::GROUP_ID_NOT_FOUND) => Ok(None),
        Some(code) => Err(Failure(format!(
            "ConsumerGroupDescribe failed: {}",
            failure::describe_code(code)
        ))),
    }
}

/// `describe` of a KIP-848 consumer group: its members' current
/// assignments with the group's committed offsets and lag.
async fn describe_consumer(
    admin: &mut AdminClient,
    desc: &ConsumerGroupDescription,
    json: bool,
) -> Result<bool, Failure> {
    let committed = committed_offsets(admin, &desc.group_id).await?;
    let partitions = report::consumer_partitions_of(desc, &committed);
    let log_end = admin.list_offsets_latest(&partitions).await?;
    print_report(
        &GroupReport::build_consumer(desc, &committed, &log_end),
        json,
    );
    Ok(true)
}

/// A group with offsets that neither DescribeGroups nor ConsumerGroupDescribe
/// describes (a KIP-848 consumer group on a coordinator without
/// ConsumerGroupDescribe): its state and protocol type from ListGroups.
async fn offsets_only(
    admin: &mut AdminClient,
    desc: GroupDescription,
) -> Result<GroupDescription, Failure> {
    if let Some(m) = &desc.error_message {
        warn(&format!("warning: members unknown: {m}"));
    }
    let listed = admin
        .list_groups(&[])
        .await?
        .into_iter()
        .find(|g| g.group_id == desc.group_id);
    Ok(GroupDescription {
        error: None,
        state: listed
            .as_ref()
            .and_then(|g| g.state.clone())
            .unwrap_or_default(),
        protocol_type: listed.map(|g| g.protocol_type).unwrap_or_default(),
        protocol: String::new(),
        members: Vec::new(),
        ..desc
    })
}

async fn delete(admin: &mut AdminClient, groups: &[String], json: bool) -> Result<bool, Failure> {
    let mut all_ok = true;
    let mut entries = Vec::new();
    for (group, result) in admin.delete_groups(groups).await? {
        let line = report::group_deletion(&group, &result);
        if json {
            all_ok &= result.is_ok();
            entries.push(report::group_deletion_json(&group, &result));
        } else if result.is_ok() {
            emit(&format!("{line}\n"));
        } else {
            all_ok = false;
            warn(&line);
        }
    }
    if json {
        emit_json(&serde_json::Value::Array(entries));
    }
    Ok(all_ok)
}

async fn delete_offsets(
    admin: &mut AdminClient,
    group: &str,
    topics: &[TopicSelection],
    json: bool,
) -> Result<bool, Failure> {
    let whole: Vec<String> = topics
        .iter()
        .filter(|t| t.partitions.is_none())
        .map(|t| t.topic.clone())
        .collect();
    let metadata = if whole.is_empty() {
        None
    } else {
        Some(admin.metadata(Some(&whole)).await?)
    };
    let mut request: BTreeMap<String, Vec<i32>> = BTreeMap::new();
    for t in topics {
        let partitions = match (&t.partitions, &metadata) {
            (Some(ps), _) => ps.clone(),
            (None, Some(m)) => match m.topics.get(&t.topic) {
                Some(meta) if meta.error.is_none() => meta.partitions.keys().copied().collect(),
                _ => return Err(Failure(format!("topic '{}' does not exist; name its partitions as {}:0,1 to delete offsets of a deleted topic", t.topic, t.topic))),
            },
            (None, None) => Vec::new(),
        };
        let entry = request.entry(t.topic.clone()).or_default();
        entry.extend(partitions);
        entry.sort_unstable();
        entry.dedup();
    }
    let request: Vec<(String, Vec<i32>)> = request.into_iter().collect();
    let results = match admin.delete_offsets(group, &request).await {
        Ok(r) => r,
        Err(e) if e.kafka_code() == Some(ErrorCode::GROUP_ID_NOT_FOUND) => {
            return Err(group_not_found(group))
        }
        Err(e) => return Err(e.into()),
    };
    // Partitions the broker did not mention were not deleted.
    let mut results = results;
    for (topic, partitions) in &request {
        for p in partitions {
            results
                .entry(TopicPartition::new(topic.clone(), *p))
                .or_insert(Err(ErrorCode::UNKNOWN_SERVER_ERROR));
        }
    }
    if json {
        emit_json(&report::offset_deletions_json(&results));
    } else {
        emit(&report::offset_deletions(&results));
    }
    Ok(results.values().all(Result::is_ok))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_arguments_name_a_topic_or_some_partitions() {
        assert_eq!(
            parse_topic_partitions("orders"),
            Ok(TopicSelection {
                topic: "orders".into(),
                partitions: None
            })
        );
        assert_eq!(
            parse_topic_partitions("orders:0,2"),
            Ok(TopicSelection {
                topic: "orders".into(),
                partitions: Some(vec![0, 2])
            })
        );
        assert!(parse_topic_partitions("orders:").is_err());
        assert!(parse_topic_partitions("orders:a").is_err());
        assert!(parse_topic_partitions("orders:-1").is_err());
        assert!(parse_topic_partitions(":0").is_err());
    }

    #[test]
    fn states_are_matched_without_regard_to_case() {
        let given = vec!["empty".to_owned(), "STABLE".to_owned()];
        assert_eq!(
            canonical_states(&given),
            Ok(vec!["Empty".to_owned(), "Stable".to_owned()])
        );
        let err = canonical_states(&["Sleeping".to_owned()]).unwrap_err();
        assert!(
            err.0
                .starts_with("unknown group state \"Sleeping\"; use one of Empty, Stable"),
            "{}",
            err.0
        );
    }
}
