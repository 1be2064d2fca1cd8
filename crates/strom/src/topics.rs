//! `strom topics create|list|describe|delete`, as `kafka-topics.sh` does, on
//! any Kafka-compatible cluster (Metadata, CreateTopics, DeleteTopics,
//! DescribeConfigs, DescribeCluster, ListPartitionReassignments).
//!
//! `--topic` of list, describe and delete is Kafka's include list: a regular
//! expression matching whole names, `,` meaning "or". Describe's filters
//! are kafka-topics.sh's: `--under-replicated-partitions` (fewer in-sync
//! replicas than replicas, not counting replicas a reassignment is adding),
//! `--unavailable-partitions` (no leader, or the leader is not a live
//! broker), `--under-min-isr-partitions` (no leader, or fewer in-sync
//! replicas than `min.insync.replicas`) and `--at-min-isr-partitions`
//! (exactly `min.insync.replicas` in sync); with one of them only matching
//! partitions are shown, without the topic lines.

use std::collections::{BTreeMap, BTreeSet};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};
use regex::Regex;
use serde_json::{json, Value};
use strom_client::{AdminClient, ConfigEntry, ErrorCode, NewTopic, PartitionReassignment};

use crate::admin_cli::{emit, run_command, Connection};
use crate::table::Table;

const API_TIMEOUT: Duration = Duration::from_secs(30);
const TOPIC_ALREADY_EXISTS: ErrorCode = ErrorCode(36);
const MIN_INSYNC_REPLICAS: &str = "min.insync.replicas";

#[derive(Args)]
pub struct TopicsArgs {
    #[command(flatten)]
    connection: Connection,
    #[command(subcommand)]
    command: TopicsCommand,
}

#[derive(Subcommand)]
enum TopicsCommand {
    /// Create a topic: a partition count and replication factor (the
    /// broker's num.partitions and default.replication.factor when left
    /// out), or an explicit --replica-assignment.
    Create {
        #[arg(long)]
        topic: String,
        #[arg(long, value_name = "N")]
        partitions: Option<i32>,
        #[arg(long, value_name = "N")]
        replication_factor: Option<i32>,
        /// Replicas per partition, partitions separated by commas, replicas
        /// by colons (the first is the preferred leader): 1:2,2:3,3:1
        #[arg(long, value_name = "B:B,B:B...", conflicts_with_all = ["partitions", "replication_factor"])]
        replica_assignment: Option<String>,
        /// A topic configuration: --config min.insync.replicas=2 (repeatable).
        #[arg(long = "config", value_name = "KEY=VALUE")]
        configs: Vec<String>,
        /// Succeed if the topic exists already.
        #[arg(long)]
        if_not_exists: bool,
    },
    /// List topic names.
    List {
        /// Only topics matching this regular expression.
        #[arg(long)]
        topic: Option<String>,
        /// Leave out internal topics (__consumer_offsets, ...).
        #[arg(long)]
        exclude_internal: bool,
    },
    /// Per topic its id, partition count, replication factor and non-default
    /// configs; per partition its leader, replicas, in-sync replicas and
    /// offline replicas.
    Describe {
        /// Only topics matching this regular expression.
        #[arg(long)]
        topic: Option<String>,
        #[arg(long)]
        exclude_internal: bool,
        /// Succeed if no topic matches --topic.
        #[arg(long)]
        if_exists: bool,
        /// Only partitions with fewer in-sync replicas than replicas.
        #[arg(long)]
        under_replicated_partitions: bool,
        /// Only partitions without a leader or whose leader is not a live broker.
        #[arg(long)]
        unavailable_partitions: bool,
        /// Only partitions with fewer in-sync replicas than min.insync.replicas.
        #[arg(long)]
        under_min_isr_partitions: bool,
        /// Only partitions with exactly min.insync.replicas in-sync replicas.
        #[arg(long)]
        at_min_isr_partitions: bool,
    },
    /// Delete topics.
    Delete {
        /// The topics (a regular expression).
        #[arg(long)]
        topic: String,
        /// Succeed if no topic matches.
        #[arg(long)]
        if_exists: bool,
    },
}

pub fn run(args: TopicsArgs) -> ExitCode {
    let connection = args.connection;
    run_command(async move {
        match args.command {
            TopicsCommand::Create {
                topic,
                partitions,
                replication_factor,
                replica_assignment,
                configs,
                if_not_exists,
            } => {
                let new = new_topic(
                    topic,
                    partitions,
                    replication_factor,
                    replica_assignment,
                    &configs,
                )?;
                let mut admin = connection.client(API_TIMEOUT).await?;
                create(&mut admin, connection.json(), new, if_not_exists).await
            }
            TopicsCommand::List {
                topic,
                exclude_internal,
            } => {
                let filter = include_list(topic.as_deref())?;
                let mut admin = connection.client(API_TIMEOUT).await?;
                let names = matching(&mut admin, filter.as_ref(), exclude_internal).await?;
                emit(&if connection.json() {
                    format!("{}\n", json!({ "topics": names }))
                } else {
                    names.iter().map(|n| format!("{n}\n")).collect()
                });
                Ok(ExitCode::SUCCESS)
            }
            TopicsCommand::Describe {
                topic,
                exclude_internal,
                if_exists,
                under_replicated_partitions,
                unavailable_partitions,
                under_min_isr_partitions,
                at_min_isr_partitions,
            } => {
                let filter = include_list(topic.as_deref())?;
                let filters = Filters {
                    under_replicated: under_replicated_partitions,
                    unavailable: unavailable_partitions,
                    under_min_isr: under_min_isr_partitions,
                    at_min_isr: at_min_isr_partitions,
                };
                let mut admin = connection.client(API_TIMEOUT).await?;
                let names = matching(&mut admin, filter.as_ref(), exclude_internal).await?;
                if names.is_empty() && topic.is_some() && !if_exists {
                    return Err(format!(
                        "topic '{}' does not exist as expected",
                        topic.unwrap_or_default()
                    ));
                }
                describe(&mut admin, connection.json(), &names, &filters).await
            }
            TopicsCommand::Delete { topic, if_exists } => {
                let filter = include_list(Some(&topic))?;
                let mut admin = connection.client(API_TIMEOUT).await?;
                let names = matching(&mut admin, filter.as_ref(), false).await?;
                if names.is_empty() {
                    if if_exists {
                        return Ok(ExitCode::SUCCESS);
                    }
                    return Err(format!("topic '{topic}' does not exist as expected"));
                }
                delete(&mut admin, connection.json(), &names).await
            }
        }
    })
}

/// Kafka's include list: a regular expression over whole names, where `,`
/// also means "or" and surrounding quotes are dropped.
fn include_list(pattern: Option<&str>) -> Result<Option<Regex>, String> {
    let Some(pattern) = pattern else {
        return Ok(None);
    };
    let cleaned = pattern
        .trim()
        .replace(',', "|")
        .trim_matches(|c| c == '"' || c == '\'')
        .to_owned();
    Regex::new(&format!("^(?:{cleaned})$"))
        .map(Some)
        .map_err(|e| format!("--topic {pattern:?} is not a valid regular expression: {e}"))
}

/// Sorted names of the topics matching `filter`.
async fn matching(
    admin: &mut AdminClient,
    filter: Option<&Regex>,
    exclude_internal: bool,
) -> Result<Vec<String>, String> {
    let md = admin
        .metadata(None)
        .await
        .map_err(|e| format!("cannot read the cluster metadata: {e}"))?;
    Ok(md
        .topics
        .iter()
        .filter(|(name, t)| {
            t.error.is_none()
                && !(exclude_internal && t.is_internal)
                && filter.is_none_or(|re| re.is_match(name))
        })
        .map(|(name, _)| name.clone())
        .collect())
}

/// `--replica-assignment 1:2,2:3`: partition i gets the i-th list.
fn parse_replica_assignment(text: &str) -> Result<BTreeMap<i32, Vec<i32>>, String> {
    let mut out = BTreeMap::new();
    for (i, part) in text.split(',').enumerate() {
        let replicas = part
            .split(':')
            .map(|b| b.trim().parse::<i32>())
            .collect::<Result<Vec<i32>, _>>()
            .map_err(|_| {
                format!(
                    "--replica-assignment: {part:?} is not a list of broker ids separated by ':'"
                )
            })?;
        if replicas.iter().collect::<BTreeSet<_>>().len() != replicas.len() {
            return Err(format!(
                "partition replica lists may not contain duplicate entries: {part}"
            ));
        }
        if let Some(first) = out.get(&0).map(Vec::len) {
            if first != replicas.len() {
                return Err(format!(
                    "partition {i} has different replication factor: {part}"
                ));
            }
        }
        out.insert(i as i32, replicas);
    }
    Ok(out)
}

fn new_topic(
    name: String,
    partitions: Option<i32>,
    replication_factor: Option<i32>,
    replica_assignment: Option<String>,
    configs: &[String],
) -> Result<NewTopic, String> {
    if partitions.is_some_and(|p| p < 1) {
        return Err("the partitions must be greater than 0".to_owned());
    }
    if replication_factor.is_some_and(|rf| !(1..=i16::MAX as i32).contains(&rf)) {
        return Err(format!(
            "the replication factor must be between 1 and {} inclusive",
            i16::MAX
        ));
    }
    let configs = configs
        .iter()
        .map(|c| match c.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), v.to_owned())),
            _ => Err(format!("--config {c:?} is not KEY=VALUE")),
        })
        .collect::<Result<Vec<_>, String>>()?;
    let assignment = match &replica_assignment {
        Some(text) => parse_replica_assignment(text)?,
        None => BTreeMap::new(),
    };
    let explicit = !assignment.is_empty();
    Ok(NewTopic {
        name,
        num_partitions: if explicit {
            -1
        } else {
            partitions.unwrap_or(-1)
        },
        replication_factor: if explicit {
            -1
        } else {
            replication_factor.map_or(-1, |rf| rf as i16)
        },
        assignment,
        configs,
    })
}

async fn create(
    admin: &mut AdminClient,
    json_out: bool,
    topic: NewTopic,
    if_not_exists: bool,
) -> Result<ExitCode, String> {
    if topic.name.contains('.') || topic.name.contains('_') {
        eprintln!("WARNING: Due to limitations in metric names, topics with a period ('.') or underscore ('_') could collide. To avoid issues it is best to use either, but not both.");
    }
    let results = admin
        .create_topics(std::slice::from_ref(&topic))
        .await
        .map_err(|e| format!("cannot create topic {}: {e}", topic.name))?;
    let error = results
        .iter()
        .find(|r| r.name == topic.name)
        .and_then(|r| r.error.clone());
    match error {
        None => {}
        Some((code, _)) if code == TOPIC_ALREADY_EXISTS && if_not_exists => {}
        Some((code, message)) => {
            let hint = match code.0 {
                36 => "; add --if-not-exists to accept an existing topic",
                37 => "; --partitions must be at least 1",
                38 => "; the replication factor cannot be above the number of live brokers (see `strom cluster describe`)",
                39 => "; every partition needs the same number of distinct, registered brokers",
                40 => "; see `strom configs` for the topic configuration keys and their values",
                _ => "",
            };
            return Err(format!(
                "cannot create topic {}: {code}{}{hint}",
                topic.name,
                message.map(|m| format!(" ({m})")).unwrap_or_default()
            ));
        }
    }
    emit(&if json_out {
        format!("{}\n", json!({ "created": topic.name }))
    } else {
        format!("Created topic {}.\n", topic.name)
    });
    Ok(ExitCode::SUCCESS)
}

async fn delete(
    admin: &mut AdminClient,
    json_out: bool,
    names: &[String],
) -> Result<ExitCode, String> {
    let results = admin
        .delete_topics(names)
        .await
        .map_err(|e| format!("cannot delete topics: {e}"))?;
    let failed: Vec<String> = results
        .iter()
        .filter_map(|r| {
            r.error.as_ref().map(|(code, message)| {
                format!(
                    "{}: {code}{}",
                    r.name,
                    message
                        .as_deref()
                        .map(|m| format!(" ({m})"))
                        .unwrap_or_default()
                )
            })
        })
        .collect();
    let deleted: Vec<&str> = results
        .iter()
        .filter(|r| r.error.is_none())
        .map(|r| r.name.as_str())
        .collect();
    emit(&if json_out {
        format!("{}\n", json!({ "deleted": deleted, "errors": failed }))
    } else {
        deleted
            .iter()
            .map(|n| format!("Deleted topic {n}.\n"))
            .collect()
    });
    if !failed.is_empty() {
        return Err(format!("cannot delete {}", failed.join("; ")));
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, Default, Clone, Copy)]
struct Filters {
    under_replicated: bool,
    unavailable: bool,
    under_min_isr: bool,
    at_min_isr: bool,
}

impl Filters {
    fn any(&self) -> bool {
        self.under_replicated || self.unavailable || self.under_min_isr || self.at_min_isr
    }
}

/// One partition as describe shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Partition {
    index: i32,
    /// `None`: no leader.
    leader: Option<i32>,
    replicas: Vec<i32>,
    isr: Vec<i32>,
    offline: Vec<i32>,
    reassignment: Option<PartitionReassignment>,
}

impl Partition {
    /// The replication factor, not counting replicas a reassignment adds.
    fn replication_factor(&self) -> usize {
        match &self.reassignment {
            Some(r) if !r.adding_replicas.is_empty() || !r.removing_replicas.is_empty() => {
                r.replicas.len().saturating_sub(r.adding_replicas.len())
            }
            _ => self.replicas.len(),
        }
    }

    /// kafka-topics.sh's filters, in its words.
    fn shown(&self, f: &Filters, live: &BTreeSet<i32>, min_isr: usize) -> bool {
        if !f.any() {
            return true;
        }
        let under_replicated = self.replication_factor() > self.isr.len();
        let unavailable = self.leader.is_none_or(|l| !live.contains(&l));
        let under_min_isr = self.leader.is_none() || self.isr.len() < min_isr;
        let at_min_isr = self.isr.len() == min_isr;
        (f.under_replicated && under_replicated)
            || (f.unavailable && unavailable)
            || (f.under_min_isr && under_min_isr)
            || (f.at_min_isr && at_min_isr)
    }
}

fn ids(v: &[i32]) -> String {
    v.iter().map(i32::to_string).collect::<Vec<_>>().join(",")
}

async fn describe(
    admin: &mut AdminClient,
    json_out: bool,
    names: &[String],
    filters: &Filters,
) -> Result<ExitCode, String> {
    let md = admin
        .metadata(Some(names))
        .await
        .map_err(|e| format!("cannot read the cluster metadata: {e}"))?;
    let configs = if names.is_empty() {
        BTreeMap::new()
    } else {
        admin
            .describe_topic_configs(names)
            .await
            .map_err(|e| format!("cannot describe the topics' configs: {e}"))?
    };
    let cluster = admin
        .describe_cluster(true)
        .await
        .map_err(|e| format!("cannot describe the cluster: {e}"))?;
    let live: BTreeSet<i32> = cluster
        .brokers
        .iter()
        .filter(|b| !b.is_fenced)
        .map(|b| b.broker_id.0)
        .collect();
    // Brokers that cannot list reassignments have none to show (as kafka-topics.sh).
    let named: Vec<(String, Vec<i32>)> = md
        .topics
        .iter()
        .map(|(n, t)| (n.clone(), t.partitions.keys().copied().collect()))
        .collect();
    let reassignments: Vec<PartitionReassignment> = if named.is_empty() {
        Vec::new()
    } else {
        admin
            .list_partition_reassignments(Some(&named))
            .await
            .unwrap_or_default()
    };

    let mut topics_out: Vec<Value> = Vec::new();
    let mut header = Table::with_header(&[
        "TOPIC",
        "TOPIC-ID",
        "PARTITIONS",
        "REPLICATION-FACTOR",
        "CONFIGS",
    ]);
    let mut rows: Vec<(String, Partition)> = Vec::new();
    for name in names {
        let Some(topic) = md.topics.get(name).filter(|t| t.error.is_none()) else {
            continue;
        };
        let entries: &[ConfigEntry] = match configs.get(name) {
            Some(Ok(entries)) => entries,
            _ => &[],
        };
        let overrides: Vec<(String, String)> = entries
            .iter()
            .filter(|e| !e.is_default())
            .map(|e| (e.name.clone(), e.value.clone().unwrap_or_default()))
            .collect();
        let min_isr = entries
            .iter()
            .find(|e| e.name == MIN_INSYNC_REPLICAS)
            .and_then(|e| e.value.as_deref()?.parse::<usize>().ok())
            .unwrap_or(1);
        let partitions: Vec<Partition> = topic
            .partitions
            .iter()
            .map(|(&index, p)| Partition {
                index,
                leader: (p.leader_id >= 0).then_some(p.leader_id),
                replicas: p.replicas.clone(),
                isr: p.isr.clone(),
                offline: p.offline_replicas.clone(),
                reassignment: reassignments
                    .iter()
                    .find(|r| r.topic == *name && r.partition == index)
                    .cloned(),
            })
            .collect();
        let shown: Vec<Partition> = partitions
            .iter()
            .filter(|p| p.shown(filters, &live, min_isr))
            .cloned()
            .collect();
        let topic_id = (topic.topic_id != [0; 16])
            .then(|| strom_metadata::TopicId::from_bytes(topic.topic_id).to_string());
        let rf = partitions.first().map_or(0, Partition::replication_factor);
        if json_out {
            if filters.any() && shown.is_empty() {
                continue;
            }
            let parts: Vec<Value> = shown
                .iter()
                .map(|p| {
                    let (adding, removing) =
                        p.reassignment.as_ref().map_or((vec![], vec![]), |r| {
                            (r.adding_replicas.clone(), r.removing_replicas.clone())
                        });
                    json!({
                        "partition": p.index,
                        "leader": p.leader,
                        "replicas": p.replicas,
                        "isr": p.isr,
                        "offlineReplicas": p.offline,
                        "addingReplicas": adding,
                        "removingReplicas": removing,
                    })
                })
                .collect();
            let configs: serde_json::Map<String, Value> = overrides
                .iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect();
            topics_out.push(json!({
                "name": name,
                "topicId": topic_id,
                "partitionCount": partitions.len(),
                "replicationFactor": rf,
                "internal": topic.is_internal,
                "configs": configs,
                "minInSyncReplicas": min_isr,
                "partitions": parts,
            }));
        } else {
            header.row(vec![
                name.clone(),
                topic_id.unwrap_or_else(|| "-".to_owned()),
                partitions.len().to_string(),
                rf.to_string(),
                if overrides.is_empty() {
                    "-".to_owned()
                } else {
                    overrides
                        .iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect::<Vec<_>>()
                        .join(",")
                },
            ]);
            rows.extend(shown.into_iter().map(|p| (name.clone(), p)));
        }
    }
    if json_out {
        emit(&format!("{}\n", json!({ "topics": topics_out })));
        return Ok(ExitCode::SUCCESS);
    }
    let moving = rows.iter().any(|(_, p)| p.reassignment.is_some());
    let mut columns = vec!["TOPIC", "PARTITION", "LEADER", "REPLICAS", "ISR", "OFFLINE"];
    if moving {
        columns.extend(["ADDING", "REMOVING"]);
    }
    let mut table = Table::with_header(&columns);
    let dash = |v: &[i32]| if v.is_empty() { "-".to_owned() } else { ids(v) };
    for (name, p) in &rows {
        let mut row = vec![
            name.clone(),
            p.index.to_string(),
            p.leader.map_or("none".to_owned(), |l| l.to_string()),
            dash(&p.replicas),
            dash(&p.isr),
            dash(&p.offline),
        ];
        if moving {
            let (adding, removing) = p.reassignment.as_ref().map_or((vec![], vec![]), |r| {
                (r.adding_replicas.clone(), r.removing_replicas.clone())
            });
            row.push(dash(&adding));
            row.push(dash(&removing));
        }
        table.row(row);
    }
    let mut out = String::new();
    if !filters.any() {
        out.push_str(&header.render());
        out.push('\n');
    }
    if !rows.is_empty() || !filters.any() {
        out.push_str(&table.render());
    }
    emit(&out);
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn partition(leader: Option<i32>, replicas: &[i32], isr: &[i32]) -> Partition {
        Partition {
            index: 0,
            leader,
            replicas: replicas.to_vec(),
            isr: isr.to_vec(),
            offline: vec![],
            reassignment: None,
        }
    }

    fn only(f: &str) -> Filters {
        Filters {
            under_replicated: f == "under-replicated",
            unavailable: f == "unavailable",
            under_min_isr: f == "under-min-isr",
            at_min_isr: f == "at-min-isr",
        }
    }

    #[test]
    fn the_filters_are_kafka_topics_definitions() {
        let live = BTreeSet::from([1, 2]);
        let healthy = partition(Some(1), &[1, 2, 3], &[1, 2, 3]);
        let shrunk = partition(Some(1), &[1, 2, 3], &[1, 2]);
        let dead_leader = partition(Some(3), &[3, 1, 2], &[3]);
        let leaderless = partition(None, &[1, 2, 3], &[]);
        let min_isr = 2;
        let shows = |p: &Partition, f: &str| p.shown(&only(f), &live, min_isr);

        assert!(!shows(&healthy, "under-replicated"));
        assert!(shows(&shrunk, "under-replicated"));
        assert!(shows(&leaderless, "under-replicated"));

        assert!(!shows(&healthy, "unavailable"));
        assert!(!shows(&shrunk, "unavailable"));
        assert!(
            shows(&dead_leader, "unavailable"),
            "the leader is not a live broker"
        );
        assert!(shows(&leaderless, "unavailable"));

        assert!(!shows(&healthy, "under-min-isr"));
        assert!(
            !shows(&shrunk, "under-min-isr"),
            "2 in sync is min.insync.replicas, not below"
        );
        assert!(shows(&dead_leader, "under-min-isr"));
        assert!(
            shows(&leaderless, "under-min-isr"),
            "no leader counts as under min ISR"
        );

        assert!(!shows(&healthy, "at-min-isr"));
        assert!(shows(&shrunk, "at-min-isr"));
        assert!(!shows(&dead_leader, "at-min-isr"));

        // No filter: everything.
        assert!(leaderless.shown(&Filters::default(), &live, min_isr));
    }

    #[test]
    fn replicas_a_reassignment_adds_are_not_missing_from_the_isr() {
        let mut p = partition(Some(1), &[1, 2, 3], &[1, 2]);
        p.reassignment = Some(PartitionReassignment {
            topic: "t".into(),
            partition: 0,
            replicas: vec![1, 2, 3],
            adding_replicas: vec![3],
            removing_replicas: vec![1],
        });
        assert_eq!(p.replication_factor(), 2);
        assert!(!p.shown(&only("under-replicated"), &BTreeSet::from([1, 2, 3]), 1));
    }

    #[test]
    fn replica_assignments_as_kafka_topics_takes_them() {
        let a = parse_replica_assignment("1:2, 2:3 ,3:1").unwrap();
        assert_eq!(
            a,
            BTreeMap::from([(0, vec![1, 2]), (1, vec![2, 3]), (2, vec![3, 1])])
        );
        assert!(parse_replica_assignment("1:1")
            .unwrap_err()
            .contains("duplicate"));
        assert!(parse_replica_assignment("1:2,3")
            .unwrap_err()
            .contains("partition 1 has different replication factor"));
        assert!(parse_replica_assignment("1:x").is_err());
        let t = new_topic("t".into(), None, None, Some("1:2".into()), &["a=b".into()]).unwrap();
        assert_eq!((t.num_partitions, t.replication_factor), (-1, -1));
        assert_eq!(t.configs, vec![("a".to_owned(), "b".to_owned())]);
        assert!(new_topic("t".into(), Some(0), None, None, &[]).is_err());
        assert!(new_topic("t".into(), None, Some(0), None, &[]).is_err());
        assert!(new_topic("t".into(), None, None, None, &["novalue".into()]).is_err());
    }

    #[test]
    fn topic_patterns_are_kafkas_include_lists() {
        let re = include_list(Some("orders,pay.*")).unwrap().unwrap();
        assert!(re.is_match("orders"));
        assert!(re.is_match("payments"));
        assert!(!re.is_match("orders-eu"), "whole names only");
        let quoted = include_list(Some("'a'")).unwrap().unwrap();
        assert!(quoted.is_match("a"));
        assert!(include_list(Some("(")).is_err());
        assert!(include_list(None).unwrap().is_none());
    }
}
