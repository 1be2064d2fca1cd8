//! `strom cluster describe`: the cluster id, the controller clients are
//! given, and every registered broker with its endpoint, rack and state
//! (DescribeCluster v2 with fenced brokers, KIP-1073), on any
//! Kafka-compatible cluster.

use std::process::ExitCode;
use std::time::Duration;

use crate::admin_cli::{block_on, emit, fail, Connection};
use crate::table::{or_dash, Table};
use clap::{Args, Subcommand};

#[derive(Args)]
pub struct ClusterArgs {
    #[command(flatten)]
    connection: Connection,
    #[command(subcommand)]
    command: ClusterCommand,
}

#[derive(Subcommand)]
enum ClusterCommand {
    /// Cluster id, controller, and every broker with its state (alive or fenced).
    Describe,
}

pub fn run(args: ClusterArgs) -> ExitCode {
    let ClusterCommand::Describe = args.command;
    let result = block_on(async {
        let mut admin = args.connection.admin(Duration::from_secs(30)).await?;
        admin.describe_cluster(true).await
    });
    let resp = match result {
        Err(code) => return code,
        Ok(Ok(resp)) => resp,
        Ok(Err(e)) => {
            return fail(&format!(
                "{e}; check that {} is a broker of the cluster",
                args.connection.bootstrap_server
            ))
        }
    };
    let mut brokers: Vec<_> = resp.brokers.iter().collect();
    brokers.sort_by_key(|b| b.broker_id.0);
    let state = |fenced: bool| if fenced { "fenced" } else { "alive" };
    let text = if args.connection.json() {
        let items: Vec<String> = brokers
            .iter()
            .map(|b| {
                format!(
                    "{{\"id\":{},\"host\":\"{}\",\"port\":{},\"rack\":{},\"state\":\"{}\"}}",
                    b.broker_id.0,
                    b.host,
                    b.port,
                    b.rack
                        .as_ref()
                        .map_or("null".to_string(), |r| format!("\"{r}\"")),
                    state(b.is_fenced)
                )
            })
            .collect();
        format!(
            "{{\"clusterId\":\"{}\",\"controllerId\":{},\"brokers\":[{}]}}\n",
            resp.cluster_id,
            resp.controller_id.0,
            items.join(",")
        )
    } else {
        let mut table = Table::with_header(&["BrokerId", "Endpoint", "Rack", "State"]);
        for b in &brokers {
            table.row(vec![
                b.broker_id.0.to_string(),
                format!("{}:{}", b.host, b.port),
                or_dash(b.rack.as_ref()),
                state(b.is_fenced).to_string(),
            ]);
        }
        let mut out = format!(
            "ClusterId:     {}\nControllerId:  {}\n\n",
            resp.cluster_id, resp.controller_id.0
        );
        out.push_str(&table.render());
        out
    };
    emit(&text);
    ExitCode::SUCCESS
}
