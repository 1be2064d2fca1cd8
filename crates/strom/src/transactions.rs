//! `strom transactions list|describe|describe-producers|abort|find-hanging`,
//! as `kafka-transactions.sh` does, on any Kafka-compatible cluster
//! (ListTransactions, FindCoordinator, DescribeTransactions,
//! DescribeProducers, WriteTxnMarkers, Metadata).
//!
//! `abort` ends a hanging transaction on one partition with an abort marker
//! written by its leader, as Admin.abortTransaction does: the producer is
//! found by the transaction's `--start-offset` (DescribeProducers), or given
//! whole (`--producer-id`, `--producer-epoch`, `--coordinator-epoch`).
//! `find-hanging` lists the open transactions of a topic, a partition or a
//! broker's replicas that have run longer than `--max-transaction-timeout`
//! minutes and that their coordinator does not know of (no transactional id
//! for the producer, or a transaction that does not include the partition):
//! the ones only `abort` can end.

use std::collections::{BTreeMap, BTreeSet};
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::{Args, Subcommand};
use serde_json::{json, Value};
use strom_client::{
    AbortTransactionSpec, AdminClient, ErrorCode, ProducerState, TopicPartition,
    TransactionDescription, TransactionListing,
};

use crate::admin_cli::{emit, run_command, Connection};
use crate::table::Table;

const API_TIMEOUT: Duration = Duration::from_secs(30);
/// Kafka's TRANSACTIONAL_ID_NOT_FOUND.
const TRANSACTIONAL_ID_NOT_FOUND: ErrorCode = ErrorCode(105);

#[derive(Args)]
pub struct TransactionsArgs {
    #[command(flatten)]
    connection: Connection,
    #[command(subcommand)]
    command: TransactionsCommand,
}

#[derive(Subcommand, Debug, PartialEq, Eq)]
enum TransactionsCommand {
    /// List transactions (every broker's, each the coordinator of its ids).
    List {
        /// Only transactions running longer than this many milliseconds
        /// (below 0: all).
        #[arg(long, value_name = "MS", allow_negative_numbers = true)]
        duration_filter: Option<i64>,
    },
    /// Describe the state of an active transactional id.
    Describe {
        #[arg(long)]
        transactional_id: String,
    },
    /// Describe the states of active producers for a topic partition.
    DescribeProducers {
        /// Ask this broker's replica instead of the leader.
        #[arg(long)]
        broker_id: Option<i32>,
        #[arg(long)]
        topic: String,
        #[arg(long)]
        partition: i32,
    },
    /// Abort a hanging transaction (requires administrative privileges).
    Abort {
        #[arg(long)]
        topic: String,
        #[arg(long)]
        partition: i32,
        /// The start offset of the transaction to abort (brokers on 3.0 and
        /// above).
        #[arg(long, conflicts_with_all = ["producer_id", "producer_epoch", "coordinator_epoch"])]
        start_offset: Option<i64>,
        /// The producer id (older brokers: with --producer-epoch and
        /// --coordinator-epoch).
        #[arg(long)]
        producer_id: Option<i64>,
        #[arg(long)]
        producer_epoch: Option<i16>,
        #[arg(long, allow_negative_numbers = true)]
        coordinator_epoch: Option<i32>,
    },
    /// Find hanging transactions.
    FindHanging {
        /// The broker whose replicas to search.
        #[arg(long)]
        broker_id: Option<i32>,
        /// The maximum transaction timeout in minutes: only transactions open
        /// longer than this are candidates.
        #[arg(long, value_name = "MINUTES", default_value_t = 15)]
        max_transaction_timeout: i32,
        /// The topic to search (required with --partition).
        #[arg(long)]
        topic: Option<String>,
        #[arg(long)]
        partition: Option<i32>,
    },
}

pub fn run(args: TransactionsArgs) -> ExitCode {
    let connection = args.connection;
    run_command(async move {
        let json = connection.json();
        let text = match args.command {
            TransactionsCommand::List { duration_filter } => {
                let mut admin = connection.client(API_TIMEOUT).await?;
                let listings = admin
                    .list_transactions(&[], &[], duration_filter)
                    .await
                    .map_err(|e| format!("Failed to list transactions: {e}"))?;
                render_list(&listings, json)
            }
            TransactionsCommand::Describe { transactional_id } => {
                let mut admin = connection.client(API_TIMEOUT).await?;
                let fail = |e: String| {
                    format!("Failed to describe transaction state of transactional-id `{transactional_id}`: {e}")
                };
                let mut results = admin
                    .describe_transactions(std::slice::from_ref(&transactional_id))
                    .await
                    .map_err(|e| fail(e.to_string()))?;
                let description = match results.pop() {
                    Some((_, Ok(d))) => d,
                    Some((_, Err((code, message)))) => return Err(fail(failure(code, message))),
                    None => return Err(fail("no answer".to_owned())),
                };
                render_describe(&description, now_ms(), json)
            }
            TransactionsCommand::DescribeProducers {
                broker_id,
                topic,
                partition,
            } => {
                let tp = TopicPartition::new(topic, partition);
                let on = match broker_id {
                    Some(id) => format!("broker {id}"),
                    None => "leader".to_owned(),
                };
                let fail = |e: String| {
                    format!("Failed to describe producers for partition {tp} on {on}: {e}")
                };
                let mut admin = connection.client(API_TIMEOUT).await?;
                let producers = producers_of(&mut admin, &tp, broker_id)
                    .await
                    .map_err(fail)?;
                render_producers(&producers, json)
            }
            TransactionsCommand::Abort {
                topic,
                partition,
                start_offset,
                producer_id,
                producer_epoch,
                coordinator_epoch,
            } => {
                let tp = TopicPartition::new(topic, partition);
                let target =
                    abort_target(start_offset, producer_id, producer_epoch, coordinator_epoch)?;
                let mut admin = connection.client(API_TIMEOUT).await?;
                let spec = match target {
                    AbortTarget::Producer {
                        producer_id,
                        producer_epoch,
                        coordinator_epoch,
                    } => AbortTransactionSpec {
                        partition: tp.clone(),
                        producer_id,
                        producer_epoch,
                        coordinator_epoch,
                    },
                    AbortTarget::StartOffset(offset) => {
                        let producers = producers_of(&mut admin, &tp, None).await.map_err(|e| {
                            format!("Failed to validate producer state for partition {tp}: {e}")
                        })?;
                        spec_for_start_offset(&tp, offset, &producers)?
                    }
                };
                admin.abort_transaction(&spec).await.map_err(|e| {
                    format!("Failed to abort transaction {}: {e}", spec_text(&spec))
                })?;
                render_aborted(&spec, json)
            }
            TransactionsCommand::FindHanging {
                broker_id,
                max_transaction_timeout,
                topic,
                partition,
            } => {
                let scope = Scope::new(broker_id, topic, partition)?;
                let mut admin = connection.client(API_TIMEOUT).await?;
                let hanging = find_hanging(
                    &mut admin,
                    &scope,
                    i64::from(max_transaction_timeout) * 60_000,
                )
                .await?;
                render_hanging(&hanging, now_ms(), json)
            }
        };
        emit(&text);
        Ok(ExitCode::SUCCESS)
    })
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn failure(code: ErrorCode, message: Option<String>) -> String {
    match message {
        Some(m) if !m.is_empty() => format!("{code}: {m}"),
        _ => code.to_string(),
    }
}

async fn producers_of(
    admin: &mut AdminClient,
    tp: &TopicPartition,
    broker_id: Option<i32>,
) -> Result<Vec<ProducerState>, String> {
    let mut results = admin
        .describe_producers(std::slice::from_ref(tp), broker_id)
        .await
        .map_err(|e| e.to_string())?;
    match results.remove(tp) {
        Some(Ok(producers)) => Ok(producers),
        Some(Err((code, message))) => Err(failure(code, message)),
        None => Err("no answer".to_owned()),
    }
}

/// How `abort` names the transaction.
#[derive(Debug, PartialEq, Eq)]
enum AbortTarget {
    StartOffset(i64),
    Producer {
        producer_id: i64,
        producer_epoch: i16,
        coordinator_epoch: i32,
    },
}

/// kafka-transactions.sh's rules: --start-offset alone, or --producer-id
/// with --producer-epoch and --coordinator-epoch (a negative coordinator
/// epoch counts as 0).
fn abort_target(
    start_offset: Option<i64>,
    producer_id: Option<i64>,
    producer_epoch: Option<i16>,
    coordinator_epoch: Option<i32>,
) -> Result<AbortTarget, String> {
    match (start_offset, producer_id) {
        (Some(offset), _) => Ok(AbortTarget::StartOffset(offset)),
        (None, None) => Err(
            "The transaction to abort must be identified either with --start-offset \
             (for brokers on 3.0 or above) or with --producer-id, --producer-epoch, and \
             --coordinator-epoch (for older brokers)"
                .to_owned(),
        ),
        (None, Some(producer_id)) => {
            let producer_epoch =
                producer_epoch.ok_or("Missing required argument --producer-epoch")?;
            let coordinator_epoch =
                coordinator_epoch.ok_or("Missing required argument --coordinator-epoch")?;
            Ok(AbortTarget::Producer {
                producer_id,
                producer_epoch,
                coordinator_epoch: coordinator_epoch.max(0),
            })
        }
    }
}

/// The producer whose open transaction on `tp` starts at `offset`.
fn spec_for_start_offset(
    tp: &TopicPartition,
    offset: i64,
    producers: &[ProducerState],
) -> Result<AbortTransactionSpec, String> {
    let p = producers
        .iter()
        .find(|p| p.current_transaction_start_offset == Some(offset))
        .ok_or_else(|| {
            format!("Could not find any open transactions starting at offset {offset} on partition {tp}")
        })?;
    let producer_epoch = i16::try_from(p.producer_epoch).map_err(|_| {
        format!(
            "producer {} has epoch {} out of range",
            p.producer_id, p.producer_epoch
        )
    })?;
    Ok(AbortTransactionSpec {
        partition: tp.clone(),
        producer_id: p.producer_id,
        producer_epoch,
        coordinator_epoch: p.coordinator_epoch.unwrap_or(0),
    })
}

fn spec_text(spec: &AbortTransactionSpec) -> String {
    format!(
        "AbortTransactionSpec(topicPartition={}, producerId={}, producerEpoch={}, coordinatorEpoch={})",
        spec.partition, spec.producer_id, spec.producer_epoch, spec.coordinator_epoch
    )
}

/// What `find-hanging` searches.
#[derive(Debug, PartialEq, Eq)]
struct Scope {
    broker_id: Option<i32>,
    topic: Option<String>,
    partition: Option<i32>,
}

impl Scope {
    fn new(
        broker_id: Option<i32>,
        topic: Option<String>,
        partition: Option<i32>,
    ) -> Result<Scope, String> {
        if topic.is_none() && broker_id.is_none() {
            return Err(
                "The `find-hanging` command requires either --topic or --broker-id to limit \
                 the scope of the search"
                    .to_owned(),
            );
        }
        if partition.is_some() && topic.is_none() {
            return Err("The --partition argument requires --topic to be provided".to_owned());
        }
        Ok(Scope {
            broker_id,
            topic,
            partition,
        })
    }
}

/// An open transaction of one producer on one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
struct OpenTransaction {
    partition: TopicPartition,
    producer: ProducerState,
}

async fn find_hanging(
    admin: &mut AdminClient,
    scope: &Scope,
    max_transaction_timeout_ms: i64,
) -> Result<Vec<OpenTransaction>, String> {
    // The partitions to search.
    let partitions: Vec<TopicPartition> = match (&scope.topic, scope.partition) {
        (Some(topic), Some(p)) => vec![TopicPartition::new(topic.clone(), p)],
        (topic, _) => {
            let names = topic.as_ref().map(|t| vec![t.clone()]);
            let metadata = admin
                .metadata(names.as_deref())
                .await
                .map_err(|e| format!("Failed to describe topics: {e}"))?;
            let mut out = Vec::new();
            for (name, t) in &metadata.topics {
                if let Some(code) = t.error {
                    return Err(format!("Failed to describe topic {name}: {code}"));
                }
                for (index, p) in &t.partitions {
                    if scope.broker_id.is_none_or(|b| p.replicas.contains(&b)) {
                        out.push(TopicPartition::new(name.clone(), *index));
                    }
                }
            }
            out
        }
    };
    // Open transactions older than the timeout.
    let states = admin
        .describe_producers(&partitions, scope.broker_id)
        .await
        .map_err(|e| {
            format!(
                "Failed to describe producers for {} partitions on broker {}: {e}",
                partitions.len(),
                scope
                    .broker_id
                    .map_or("(leaders)".to_owned(), |b| b.to_string())
            )
        })?;
    let now = now_ms();
    let mut candidates = Vec::new();
    for (tp, result) in states {
        let producers = result.map_err(|(code, message)| {
            format!(
                "Failed to describe producers for partition {tp}: {}",
                failure(code, message)
            )
        })?;
        candidates.extend(
            open_longer_than(&producers, now, max_transaction_timeout_ms)
                .into_iter()
                .map(|producer| OpenTransaction {
                    partition: tp.clone(),
                    producer,
                }),
        );
    }
    if candidates.is_empty() {
        return Ok(candidates);
    }
    // What their coordinators know of them.
    let producer_ids: Vec<i64> = candidates
        .iter()
        .map(|c| c.producer.producer_id)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let listings = admin
        .list_transactions(&[], &producer_ids, None)
        .await
        .map_err(|e| {
            format!(
                "Failed to list transactions for {} producers: {e}",
                producer_ids.len()
            )
        })?;
    let ids: BTreeMap<i64, String> = listings
        .into_iter()
        .filter(|l| producer_ids.contains(&l.producer_id))
        .map(|l| (l.producer_id, l.transactional_id))
        .collect();
    let wanted: Vec<String> = ids
        .values()
        .cloned()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut descriptions = BTreeMap::new();
    for (id, result) in admin
        .describe_transactions(&wanted)
        .await
        .map_err(|e| format!("Failed to describe {} transactions: {e}", wanted.len()))?
    {
        match result {
            Ok(d) => {
                descriptions.insert(id, Some(d));
            }
            Err((code, _)) if code == TRANSACTIONAL_ID_NOT_FOUND => {
                descriptions.insert(id, None);
            }
            Err((code, message)) => {
                return Err(format!(
                    "Failed to describe {} transactions: {}",
                    wanted.len(),
                    failure(code, message)
                ))
            }
        }
    }
    Ok(hanging(candidates, &ids, &descriptions))
}

/// The producers with a transaction open longer than `max_ms` (measured
/// from their last write, as Kafka's tool does).
fn open_longer_than(producers: &[ProducerState], now_ms: i64, max_ms: i64) -> Vec<ProducerState> {
    producers
        .iter()
        .filter(|p| {
            p.current_transaction_start_offset.is_some()
                && now_ms.saturating_sub(p.last_timestamp) > max_ms
        })
        .cloned()
        .collect()
}

/// The candidates no coordinator accounts for: no transactional id for the
/// producer, an id its coordinator does not know, or a transaction that does
/// not include the partition.
fn hanging(
    candidates: Vec<OpenTransaction>,
    ids: &BTreeMap<i64, String>,
    descriptions: &BTreeMap<String, Option<TransactionDescription>>,
) -> Vec<OpenTransaction> {
    candidates
        .into_iter()
        .filter(|c| {
            match ids
                .get(&c.producer.producer_id)
                .and_then(|id| descriptions.get(id))
            {
                None | Some(None) => true,
                Some(Some(d)) => !d.topic_partitions.contains(&c.partition),
            }
        })
        .collect()
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map_or("None".to_owned(), |v| v.to_string())
}

fn render_list(listings: &[TransactionListing], json: bool) -> String {
    if json {
        let items: Vec<Value> = listings
            .iter()
            .map(|l| {
                json!({
                    "transactionalId": l.transactional_id,
                    "coordinator": l.coordinator_id,
                    "producerId": l.producer_id,
                    "transactionState": l.state,
                })
            })
            .collect();
        return format!("{}\n", json!({ "transactions": items }));
    }
    let mut t = Table::with_header(&[
        "TransactionalId",
        "Coordinator",
        "ProducerId",
        "TransactionState",
    ]);
    for l in listings {
        t.row(vec![
            l.transactional_id.clone(),
            l.coordinator_id.to_string(),
            l.producer_id.to_string(),
            l.state.clone(),
        ]);
    }
    t.render()
}

fn render_describe(d: &TransactionDescription, now_ms: i64, json: bool) -> String {
    let duration = d.transaction_start_time_ms.map(|s| now_ms - s);
    let partitions: Vec<String> = d.topic_partitions.iter().map(|tp| tp.to_string()).collect();
    if json {
        return format!(
            "{}\n",
            json!({
                "coordinatorId": d.coordinator_id,
                "transactionalId": d.transactional_id,
                "producerId": d.producer_id,
                "producerEpoch": d.producer_epoch,
                "transactionState": d.state,
                "transactionTimeoutMs": d.transaction_timeout_ms,
                "currentTransactionStartTimeMs": d.transaction_start_time_ms,
                "transactionDurationMs": duration,
                "topicPartitions": partitions,
            })
        );
    }
    let mut t = Table::with_header(&[
        "CoordinatorId",
        "TransactionalId",
        "ProducerId",
        "ProducerEpoch",
        "TransactionState",
        "TransactionTimeoutMs",
        "CurrentTransactionStartTimeMs",
        "TransactionDurationMs",
        "TopicPartitions",
    ]);
    t.row(vec![
        d.coordinator_id.to_string(),
        d.transactional_id.clone(),
        d.producer_id.to_string(),
        d.producer_epoch.to_string(),
        d.state.clone(),
        d.transaction_timeout_ms.to_string(),
        opt(d.transaction_start_time_ms),
        opt(duration),
        partitions.join(","),
    ]);
    t.render()
}

fn render_producers(producers: &[ProducerState], json: bool) -> String {
    if json {
        let items: Vec<Value> = producers
            .iter()
            .map(|p| {
                json!({
                    "producerId": p.producer_id,
                    "producerEpoch": p.producer_epoch,
                    "latestCoordinatorEpoch": p.coordinator_epoch.unwrap_or(-1),
                    "lastSequence": p.last_sequence,
                    "lastTimestamp": p.last_timestamp,
                    "currentTransactionStartOffset": p.current_transaction_start_offset,
                })
            })
            .collect();
        return format!("{}\n", json!({ "producers": items }));
    }
    let mut t = Table::with_header(&[
        "ProducerId",
        "ProducerEpoch",
        "LatestCoordinatorEpoch",
        "LastSequence",
        "LastTimestamp",
        "CurrentTransactionStartOffset",
    ]);
    for p in producers {
        t.row(vec![
            p.producer_id.to_string(),
            p.producer_epoch.to_string(),
            p.coordinator_epoch.unwrap_or(-1).to_string(),
            p.last_sequence.to_string(),
            p.last_timestamp.to_string(),
            opt(p.current_transaction_start_offset),
        ]);
    }
    t.render()
}

fn render_aborted(spec: &AbortTransactionSpec, json: bool) -> String {
    if json {
        return format!(
            "{}\n",
            json!({
                "topic": spec.partition.topic,
                "partition": spec.partition.partition,
                "producerId": spec.producer_id,
                "producerEpoch": spec.producer_epoch,
                "coordinatorEpoch": spec.coordinator_epoch,
                "aborted": true,
            })
        );
    }
    format!(
        "Aborted the transaction of producer {} (epoch {}) on {}.\n",
        spec.producer_id, spec.producer_epoch, spec.partition
    )
}

fn render_hanging(hanging: &[OpenTransaction], now_ms: i64, json: bool) -> String {
    let minutes = |p: &ProducerState| now_ms.saturating_sub(p.last_timestamp) / 60_000;
    if json {
        let items: Vec<Value> = hanging
            .iter()
            .map(|h| {
                json!({
                    "topic": h.partition.topic,
                    "partition": h.partition.partition,
                    "producerId": h.producer.producer_id,
                    "producerEpoch": h.producer.producer_epoch,
                    "coordinatorEpoch": h.producer.coordinator_epoch.unwrap_or(-1),
                    "startOffset": h.producer.current_transaction_start_offset.unwrap_or(-1),
                    "lastTimestamp": h.producer.last_timestamp,
                    "durationMinutes": minutes(&h.producer),
                })
            })
            .collect();
        return format!("{}\n", json!({ "hangingTransactions": items }));
    }
    let mut t = Table::with_header(&[
        "Topic",
        "Partition",
        "ProducerId",
        "ProducerEpoch",
        "CoordinatorEpoch",
        "StartOffset",
        "LastTimestamp",
        "Duration(min)",
    ]);
    for h in hanging {
        t.row(vec![
            h.partition.topic.clone(),
            h.partition.partition.to_string(),
            h.producer.producer_id.to_string(),
            h.producer.producer_epoch.to_string(),
            h.producer.coordinator_epoch.unwrap_or(-1).to_string(),
            h.producer
                .current_transaction_start_offset
                .unwrap_or(-1)
                .to_string(),
            h.producer.last_timestamp.to_string(),
            minutes(&h.producer).to_string(),
        ]);
    }
    t.render()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: TransactionsArgs,
    }

    fn parse(args: &[&str]) -> Result<(TransactionsCommand, String, bool), String> {
        let argv = std::iter::once("strom-transactions").chain(args.iter().copied());
        Cli::try_parse_from(argv)
            .map(|c| {
                let json = c.args.connection.json();
                (c.args.command, c.args.connection.bootstrap_server, json)
            })
            .map_err(|e| e.to_string())
    }

    #[test]
    fn the_options_are_kafka_transactions_sh() {
        let (cmd, bootstrap, json) = parse(&[
            "--bootstrap-server",
            "h:9",
            "describe",
            "--transactional-id",
            "tx-1",
        ])
        .unwrap();
        assert_eq!(bootstrap, "h:9");
        assert!(!json);
        assert_eq!(
            cmd,
            TransactionsCommand::Describe {
                transactional_id: "tx-1".into()
            }
        );
        let (cmd, _, json) =
            parse(&["list", "--duration-filter", "-1", "--output", "json"]).unwrap();
        assert!(json);
        assert_eq!(
            cmd,
            TransactionsCommand::List {
                duration_filter: Some(-1)
            }
        );
        let (cmd, _, _) = parse(&[
            "describe-producers",
            "--topic",
            "t",
            "--partition",
            "2",
            "--broker-id",
            "3",
        ])
        .unwrap();
        assert_eq!(
            cmd,
            TransactionsCommand::DescribeProducers {
                broker_id: Some(3),
                topic: "t".into(),
                partition: 2
            }
        );
        let (cmd, _, _) = parse(&["find-hanging", "--broker-id", "1"]).unwrap();
        assert_eq!(
            cmd,
            TransactionsCommand::FindHanging {
                broker_id: Some(1),
                max_transaction_timeout: 15,
                topic: None,
                partition: None
            }
        );
        let (cmd, _, _) = parse(&[
            "abort",
            "--topic",
            "t",
            "--partition",
            "0",
            "--producer-id",
            "5",
            "--producer-epoch",
            "2",
            "--coordinator-epoch",
            "-1",
        ])
        .unwrap();
        assert_eq!(
            cmd,
            TransactionsCommand::Abort {
                topic: "t".into(),
                partition: 0,
                start_offset: None,
                producer_id: Some(5),
                producer_epoch: Some(2),
                coordinator_epoch: Some(-1)
            }
        );
    }

    #[test]
    fn required_and_conflicting_options_are_refused() {
        assert!(
            parse(&["describe"]).is_err(),
            "--transactional-id is required"
        );
        assert!(parse(&["describe-producers", "--topic", "t"]).is_err());
        assert!(parse(&["abort", "--partition", "0", "--start-offset", "1"]).is_err());
        let e = parse(&[
            "abort",
            "--topic",
            "t",
            "--partition",
            "0",
            "--start-offset",
            "1",
            "--producer-id",
            "5",
        ])
        .unwrap_err();
        assert!(e.contains("cannot be used with"), "{e}");
        assert!(parse(&["list", "--output", "yaml"]).is_err());
        assert!(parse(&["frobnicate"]).is_err());
    }

    #[test]
    fn abort_names_the_transaction_by_start_offset_or_whole_producer() {
        assert_eq!(
            abort_target(Some(42), None, None, None),
            Ok(AbortTarget::StartOffset(42))
        );
        assert!(abort_target(None, None, None, None)
            .unwrap_err()
            .contains("either with --start-offset"));
        assert_eq!(
            abort_target(None, Some(5), None, Some(1)).unwrap_err(),
            "Missing required argument --producer-epoch"
        );
        assert_eq!(
            abort_target(None, Some(5), Some(2), None).unwrap_err(),
            "Missing required argument --coordinator-epoch"
        );
        assert_eq!(
            abort_target(None, Some(5), Some(2), Some(-3)),
            Ok(AbortTarget::Producer {
                producer_id: 5,
                producer_epoch: 2,
                coordinator_epoch: 0
            })
        );
    }

    fn producer(id: i64, start: Option<i64>, last_timestamp: i64) -> ProducerState {
        ProducerState {
            producer_id: id,
            producer_epoch: 3,
            last_sequence: 9,
            last_timestamp,
            coordinator_epoch: Some(1),
            current_transaction_start_offset: start,
        }
    }

    #[test]
    fn the_start_offset_finds_the_producer_of_that_open_transaction() {
        let tp = TopicPartition::new("t", 0);
        let producers = [
            producer(7, None, 0),
            producer(8, Some(40), 0),
            producer(9, Some(12), 0),
        ];
        let spec = spec_for_start_offset(&tp, 12, &producers).unwrap();
        assert_eq!(
            (
                spec.producer_id,
                spec.producer_epoch,
                spec.coordinator_epoch
            ),
            (9, 3, 1)
        );
        assert_eq!(
            spec_for_start_offset(&tp, 13, &producers).unwrap_err(),
            "Could not find any open transactions starting at offset 13 on partition t-0"
        );
        let mut unknown_epoch = producer(9, Some(12), 0);
        unknown_epoch.coordinator_epoch = None;
        assert_eq!(
            spec_for_start_offset(&tp, 12, &[unknown_epoch])
                .unwrap()
                .coordinator_epoch,
            0
        );
    }

    #[test]
    fn find_hanging_needs_a_topic_or_a_broker() {
        assert!(Scope::new(None, None, None)
            .unwrap_err()
            .contains("--topic or --broker-id"));
        assert_eq!(
            Scope::new(Some(1), None, Some(0)).unwrap_err(),
            "The --partition argument requires --topic to be provided"
        );
        assert!(Scope::new(Some(1), None, None).is_ok());
        assert!(Scope::new(None, Some("t".into()), Some(0)).is_ok());
    }

    fn description(id: &str, partitions: &[(&str, i32)]) -> TransactionDescription {
        TransactionDescription {
            coordinator_id: 1,
            transactional_id: id.into(),
            state: "Ongoing".into(),
            producer_id: 0,
            producer_epoch: 0,
            transaction_timeout_ms: 60000,
            transaction_start_time_ms: Some(1),
            topic_partitions: partitions
                .iter()
                .map(|(t, p)| TopicPartition::new(*t, *p))
                .collect(),
        }
    }

    #[test]
    fn hanging_transactions_are_the_ones_no_coordinator_accounts_for() {
        let now = 100 * 60_000;
        let producers = [
            producer(1, Some(5), now - 20 * 60_000), // open 20 min
            producer(2, Some(6), now - 5 * 60_000),  // open 5 min: not a candidate
            producer(3, None, 0),                    // no open transaction
            producer(4, Some(7), now - 30 * 60_000),
            producer(5, Some(8), now - 30 * 60_000),
            producer(6, Some(9), now - 30 * 60_000),
        ];
        let open = open_longer_than(&producers, now, 15 * 60_000);
        assert_eq!(
            open.iter().map(|p| p.producer_id).collect::<Vec<_>>(),
            [1, 4, 5, 6]
        );
        let tp = TopicPartition::new("t", 0);
        let candidates: Vec<OpenTransaction> = open
            .into_iter()
            .map(|producer| OpenTransaction {
                partition: tp.clone(),
                producer,
            })
            .collect();
        // 1: no transactional id; 4: its coordinator has the partition in the
        // transaction (not hanging); 5: the transaction lacks the partition;
        // 6: the id is unknown to its coordinator.
        let ids = BTreeMap::from([
            (4, "a".to_owned()),
            (5, "b".to_owned()),
            (6, "c".to_owned()),
        ]);
        let descriptions = BTreeMap::from([
            ("a".to_owned(), Some(description("a", &[("t", 0)]))),
            ("b".to_owned(), Some(description("b", &[("t", 1)]))),
            ("c".to_owned(), None),
        ]);
        let found = hanging(candidates, &ids, &descriptions);
        assert_eq!(
            found
                .iter()
                .map(|h| h.producer.producer_id)
                .collect::<Vec<_>>(),
            [1, 5, 6]
        );
        assert_eq!(
            render_hanging(&found[..1], now, false),
            "Topic  Partition  ProducerId  ProducerEpoch  CoordinatorEpoch  StartOffset  LastTimestamp  Duration(min)\n\
             t      0          1           3              1                 5            4800000        20\n"
        );
        let v: Value = serde_json::from_str(&render_hanging(&found, now, true)).unwrap();
        assert_eq!(v["hangingTransactions"].as_array().unwrap().len(), 3);
        assert_eq!(v["hangingTransactions"][2]["producerId"], 6);
        assert_eq!(v["hangingTransactions"][2]["startOffset"], 9);
        assert_eq!(v["hangingTransactions"][2]["durationMinutes"], 30);
    }

    #[test]
    fn list_prints_kafkas_columns_or_json() {
        let listings = [
            TransactionListing {
                transactional_id: "orders-tx".into(),
                coordinator_id: 1,
                producer_id: 1000,
                state: "Ongoing".into(),
            },
            TransactionListing {
                transactional_id: "b".into(),
                coordinator_id: 2,
                producer_id: 7,
                state: "CompleteCommit".into(),
            },
        ];
        assert_eq!(
            render_list(&listings, false),
            "TransactionalId  Coordinator  ProducerId  TransactionState\n\
             orders-tx        1            1000        Ongoing\n\
             b                2            7           CompleteCommit\n"
        );
        assert_eq!(
            render_list(&[], false),
            "TransactionalId  Coordinator  ProducerId  TransactionState\n"
        );
        let v: Value = serde_json::from_str(&render_list(&listings, true)).unwrap();
        assert_eq!(
            v["transactions"][1],
            json!({"transactionalId": "b", "coordinator": 2, "producerId": 7,
                   "transactionState": "CompleteCommit"})
        );
    }

    #[test]
    fn describe_prints_the_duration_or_none() {
        let mut d = description("tx", &[("b", 1), ("a", 0)]);
        d.transaction_start_time_ms = Some(1_000);
        d.producer_id = 42;
        d.producer_epoch = 3;
        let text = render_describe(&d, 4_500, false);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        let cells: Vec<&str> = lines[1].split_whitespace().collect();
        assert_eq!(
            cells,
            ["1", "tx", "42", "3", "Ongoing", "60000", "1000", "3500", "b-1,a-0"]
        );
        d.transaction_start_time_ms = None;
        d.state = "Empty".into();
        d.topic_partitions.clear();
        let text = render_describe(&d, 4_500, false);
        let cells: Vec<&str> = text.lines().nth(1).unwrap().split_whitespace().collect();
        assert_eq!(
            cells,
            ["1", "tx", "42", "3", "Empty", "60000", "None", "None"]
        );
        let v: Value = serde_json::from_str(&render_describe(&d, 4_500, true)).unwrap();
        assert_eq!(v["transactionDurationMs"], Value::Null);
        assert_eq!(v["producerId"], 42);
        assert_eq!(v["topicPartitions"], json!([]));
    }

    #[test]
    fn describe_producers_prints_none_for_no_open_transaction() {
        let mut p = producer(9, None, 1234);
        p.coordinator_epoch = None;
        assert_eq!(
            render_producers(&[producer(8, Some(40), 99), p], false),
            "ProducerId  ProducerEpoch  LatestCoordinatorEpoch  LastSequence  LastTimestamp  CurrentTransactionStartOffset\n\
             8           3              1                       9             99             40\n\
             9           3              -1                      9             1234           None\n"
        );
        let v: Value =
            serde_json::from_str(&render_producers(&[producer(8, None, 1)], true)).unwrap();
        assert_eq!(
            v["producers"][0]["currentTransactionStartOffset"],
            Value::Null
        );
        assert_eq!(v["producers"][0]["latestCoordinatorEpoch"], 1);
    }

    #[test]
    fn abort_reports_what_it_aborted() {
        let spec = AbortTransactionSpec {
            partition: TopicPartition::new("t", 2),
            producer_id: 5,
            producer_epoch: 1,
            coordinator_epoch: 0,
        };
        assert_eq!(
            render_aborted(&spec, false),
            "Aborted the transaction of producer 5 (epoch 1) on t-2.\n"
        );
        let v: Value = serde_json::from_str(&render_aborted(&spec, true)).unwrap();
        assert_eq!(v["aborted"], true);
        assert_eq!(v["partition"], 2);
        assert!(spec_text(&spec).contains("producerId=5"));
    }
}
