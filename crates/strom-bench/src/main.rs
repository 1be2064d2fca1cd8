//! `strom-bench`: drives any Kafka-compatible broker with librdkafka and reports throughput and
//! delivery latency.
//!
//! It uses a stock C client on purpose: what it measures is what an unmodified application sees,
//! including the client's batching, compression and retries, so figures compare directly with the
//! same run against Apache Kafka. Flags use Kafka's words (`acks`, `linger.ms`, `batch.size`,
//! `compression.type`); anything else librdkafka understands goes through `--producer-props` /
//! `--consumer-props`.

mod cli;
mod client_log;
mod consume;
mod latency;
#[cfg(test)]
mod mock_cluster_tests;
mod pacer;
mod payload;
mod produce;
mod progress;
mod summary;
mod topic;
mod transactions;

use std::process::ExitCode;

use clap::Parser;

use cli::{Cli, Command};
use summary::Summary;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let json = cli.json;
    let result = match cli.command {
        Command::Produce(args) => produce::run(&args),
        Command::Consume(args) => consume::run(&args),
    };
    match result {
        Ok(summary) => {
            report(&summary, json);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("strom-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// With `--json`, stdout carries only the JSON line (so scripts can read it as it is) and the
/// human-readable line moves to stderr.
fn report(summary: &Summary, json: bool) {
    if json {
        eprintln!("{}", summary.human_line());
        println!("{}", summary.json_line());
    } else {
        println!("{}", summary.human_line());
    }
}
