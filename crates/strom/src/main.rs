//! The `strom` binary.

mod acls;
mod admin_cli;
mod cluster;
mod config_cli;
mod console;
mod consume;
mod dev_cluster;
mod groups;
mod leader_election;
mod metadata_quorum;
mod offsets;
mod partitions;
mod perf;
mod produce;
mod quotas;
mod records;
mod storage;
mod storage_scram;
mod table;
mod topics;
mod transactions;
mod users;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tracing::{error, info, warn};
use tracing_subscriber::EnvFilter;

use strom_broker::{Broker, BrokerOptions};
use strom_config::{BrokerConfig, Properties};

#[derive(Parser)]
#[command(
    name = "strom",
    version,
    about = "A Kafka-compatible streaming platform"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a broker (with its controller). With no arguments: 127.0.0.1:9092, data in ./strom-data.
    Server {
        /// A Kafka server.properties file.
        properties: Option<PathBuf>,
        /// Override a property, as kafka-server-start.sh does: --override log.dirs=/var/lib/strom
        #[arg(long = "override", value_name = "KEY=VALUE")]
        overrides: Vec<String>,
    },
    /// Describe and alter configurations of topics, brokers, the cluster default and groups, as
    /// kafka-configs.sh; without a subcommand, print every configuration key Strom understands, as Markdown.
    Configs(config_cli::ConfigsArgs),
    /// List, describe and delete consumer groups and their offsets, on any Kafka-compatible cluster.
    Groups(groups::GroupsArgs),
    /// Format and inspect log directories before a node's first start, as kafka-storage.sh.
    Storage(storage::StorageArgs),
    /// Run a cluster of several nodes on this machine, for development.
    DevCluster(dev_cluster::DevClusterArgs),
    /// Write records from stdin to a topic, as kafka-console-producer.sh and kcat -P.
    Produce(produce::ProduceArgs),
    /// Print a topic's records, as kafka-console-consumer.sh and kcat -C.
    Consume(consume::ConsumeArgs),
    /// Each partition's log start or end offset, or its offset at a time, as kafka-get-offsets.sh.
    Offsets(offsets::OffsetsArgs),
    /// Print a shell completion script: `strom completions bash > /etc/bash_completion.d/strom`.
    Completions {
        /// bash, zsh or fish.
        #[arg(value_parser = ["bash", "zsh", "fish"])]
        shell: String,
    },
    /// Measure produce or consume throughput and latency, as kafka-producer-perf-test.sh and
    /// kafka-consumer-perf-test.sh (over strom's Rust client).
    Perf(perf::PerfArgs),
    /// Delete the records before given offsets, as kafka-delete-records.sh.
    Records(records::RecordsArgs),
    /// SCRAM credentials, as kafka-configs.sh --entity-type users.
    Users(users::UsersArgs),
    /// Add, list and remove ACLs, as kafka-acls.sh (--allow-principal, --operation, --topic,
    /// --group, --cluster, --transactional-id, --producer, --consumer).
    Acls(acls::AclsArgs),
    /// Describe the controller quorum, as kafka-metadata-quorum.sh.
    MetadataQuorum(metadata_quorum::MetadataQuorumArgs),
    /// Describe the cluster: its id, controller and brokers with their state.
    Cluster(cluster::ClusterArgs),
    /// Create, list, describe and delete topics, as kafka-topics.sh.
    Topics(topics::TopicsArgs),
    /// Elect partition leaders (preferred or unclean), as kafka-leader-election.sh.
    LeaderElection(leader_election::LeaderElectionArgs),
    /// Move partition replicas between brokers, as kafka-reassign-partitions.sh.
    Partitions(partitions::PartitionsArgs),
    /// List, describe and abort transactions, describe producers and find hanging transactions, as kafka-transactions.sh.
    Transactions(transactions::TransactionsArgs),
    /// Serve the web console (topics, messages, groups, brokers) for any Kafka-compatible cluster,
    /// as Redpanda Console and Kafka UI do: `strom console --bootstrap-server HOST:PORT`.
    Console(console::ConsoleArgs),
    /// Set, describe and remove client quotas (users, client ids, IPs), as kafka-configs.sh
    /// --entity-type users|clients|ips.
    Quotas(quotas::QuotasArgs),
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| EnvFilter::new("info,openraft=off")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Server {
            properties,
            overrides,
        } => run_server(properties, overrides),
        Command::Configs(args) => return config_cli::run(args),
        // Prints its own one-line errors instead of a log line.
        Command::Groups(args) => return groups::run(args),
        Command::Storage(args) => return storage::run(args),
        Command::DevCluster(args) => return dev_cluster::run(args),
        Command::MetadataQuorum(args) => return metadata_quorum::run(args),
        Command::Cluster(args) => return cluster::run(args),
        Command::Topics(args) => return topics::run(args),
        Command::LeaderElection(args) => return leader_election::run(args),
        Command::Partitions(args) => return partitions::run(args),
        Command::Transactions(args) => return transactions::run(args),
        Command::Quotas(args) => return quotas::run(args),
        Command::Produce(args) => return produce::run(args),
        Command::Offsets(args) => return offsets::run(args),
        Command::Records(args) => return records::run(args),
        Command::Users(args) => return users::run(args),
        Command::Acls(args) => return acls::run(args),
        Command::Perf(args) => return perf::run(args),
        Command::Completions { shell } => {
            print_completions(&shell);
            Ok(())
        }
        Command::Consume(args) => return consume::run(args),
        Command::Console(args) => return console::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error!("{e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The completion script of `shell` for every subcommand and flag, from
/// the same clap definitions the parser uses.
fn print_completions(shell: &str) {
    use clap::CommandFactory;
    use clap_complete::Shell;
    let shell = match shell {
        "zsh" => Shell::Zsh,
        "fish" => Shell::Fish,
        _ => Shell::Bash,
    };
    let mut command = Cli::command();
    clap_complete::generate(shell, &mut command, "strom", &mut std::io::stdout());
}

pub(crate) fn load_config(
    properties: Option<PathBuf>,
    overrides: Vec<String>,
) -> anyhow::Result<BrokerConfig> {
    let mut props = match &properties {
        Some(path) => {
            Properties::load(path).with_context(|| format!("reading {}", path.display()))?
        }
        None => Properties::default(),
    };
    for o in &overrides {
        props.apply_override(o).context("--override")?;
    }
    Ok(BrokerConfig::from_properties(&props)?)
}

fn run_server(properties: Option<PathBuf>, overrides: Vec<String>) -> anyhow::Result<()> {
    let config = load_config(properties, overrides)?;
    raise_open_file_limit();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("strom")
        .build()?;
    runtime.block_on(async move {
        if !config.quorum.roles.broker {
            // process.roles=controller: a voter of the quorum, no broker.
            let node = strom_broker::ControllerNode::start(config).await?;
            wait_for_signal().await?;
            info!("signal received, shutting down");
            node.shutdown().await?;
            return anyhow::Ok(());
        }
        let broker = Broker::start(BrokerOptions { config }).await?;
        wait_for_signal().await?;
        info!("signal received, shutting down");
        broker.shutdown().await?;
        anyhow::Ok(())
    })
}

/// Raises the soft RLIMIT_NOFILE to the hard limit, as Go's runtime and many servers do:
/// every connection and every partition's segment files take a file handle, and the common
/// default soft limit of 1024 runs out long before memory does.
fn raise_open_file_limit() {
    let before = rlimit::Resource::NOFILE.get().map(|(soft, _)| soft).ok();
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => info!(
            open_files = limit,
            was = before.unwrap_or(limit),
            "open file limit (RLIMIT_NOFILE) raised to the hard limit"
        ),
        Err(e) => warn!("could not raise the open file limit (RLIMIT_NOFILE): {e}"),
    }
}

pub(crate) async fn wait_for_signal() -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    Ok(())
}
