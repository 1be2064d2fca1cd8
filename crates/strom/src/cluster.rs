//! `strom cluster describe`: the cluster id, the controller clients are
//! given, and every registered broker with its endpoint, rack and state
//! (DescribeCluster v2 with fenced brokers, KIP-1073), on any
//! Kafka-compatible cluster.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};
use strom_client::{AdminClient, AdminConfig};

use crate::table::{or_dash, Table};

#[derive(Args)]
pub struct ClusterArgs {
    /// A broker of the cluster.
    #[arg(
        long,
        global = true,
        value_name = "HOST:PORT",
        default_value = "127.0.0.1:9092"
    )]
    bootstrap_server: String,
    /// `table` for people, `json` for scripts.
    #[arg(long, global = true, value_name = "FORMAT", default_value = "table", value_parser = ["table", "json"])]
    output: String,
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
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => return fail(&format!("cannot start the async runtime: {e}")),
    };
    let result = runtime.block_on(async {
        let mut config = AdminConfig::new(args.bootstrap_server.clone());
        config.api_timeout = Duration::from_secs(30);
        let mut admin = AdminClient::connect(config).await?;
        admin.describe_cluster(true).await
    });
    let resp = match result {
        Ok(resp) => resp,
        Err(e) => {
            return fail(&format!(
                "{e}; check that {} is a broker of the cluster",
                args.bootstrap_server
            ))
        }
    };
    let mut brokers: Vec<_> = resp.brokers.iter().collect();
    brokers.sort_by_key(|b| b.broker_id.0);
    let state = |fenced: bool| if fenced { "fenced" } else { "alive" };
    let text = if args.output == "json" {
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
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
    ExitCode::SUCCESS
}

fn fail(message: &str) -> ExitCode {
    let _ = writeln!(std::io::stderr(), "error: {message}");
    ExitCode::FAILURE
}
