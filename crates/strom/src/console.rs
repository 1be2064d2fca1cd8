//! `strom console`: the web console, served by this process as a client of
//! the cluster at --bootstrap-server (see crates/strom-console).

use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use strom_console::{Console, ConsoleConfig};

use crate::admin_cli::{block_on, fail, Connection};

#[derive(Args)]
pub struct ConsoleArgs {
    /// A broker of the cluster.
    #[arg(
        long,
        value_name = "HOST:PORT",
        env = "STROM_BOOTSTRAP",
        default_value = "127.0.0.1:9092"
    )]
    bootstrap_server: String,
    /// Client properties (client.id, request.timeout.ms,
    /// default.api.timeout.ms, retry.backoff.ms; security settings once the
    /// client has them), as the kafka-*.sh tools take them.
    #[arg(long, value_name = "FILE")]
    command_config: Option<std::path::PathBuf>,
    /// Where the console listens. Keep it on a loopback address: there is
    /// no login page, so whoever reaches it acts with the console's client
    /// identity (--command-config).
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:9080")]
    listen: String,
    /// A broker's Prometheus endpoint (strom.metrics.listener), e.g.
    /// http://127.0.0.1:9644/metrics; repeat for each broker. Throughput
    /// then comes from bytes in/out; without it, from offsets.
    #[arg(long = "metrics-url", value_name = "URL")]
    metrics_urls: Vec<String>,
    /// How often throughput and consumer lag are sampled.
    #[arg(long, value_name = "MS", default_value_t = 5000)]
    sample_interval_ms: u64,
    /// Samples kept for the charts (180 × 5 s = the last 15 minutes).
    #[arg(long, value_name = "N", default_value_t = 180)]
    history_samples: usize,
    /// The most records one browse of the message browser reads.
    #[arg(long, value_name = "N", default_value_t = 500)]
    max_records: usize,
    /// The most bytes of each key, value and header the browser shows.
    #[arg(long, value_name = "BYTES", default_value_t = 4096)]
    max_value_bytes: usize,
}

pub fn run(args: ConsoleArgs) -> ExitCode {
    let connection = Connection {
        bootstrap_server: args.bootstrap_server,
        command_config: args.command_config,
        output: "table".to_owned(),
    };
    let admin = match connection.admin_config(Duration::from_secs(30)) {
        Ok(c) => c,
        Err(message) => return fail(&message),
    };
    if let Some(bad) = args.metrics_urls.iter().find(|u| !u.starts_with("http://")) {
        return fail(&format!(
            "--metrics-url {bad}: give the broker's metrics endpoint as http://HOST:PORT/metrics"
        ));
    }
    let mut config = ConsoleConfig::new(admin);
    config.metrics_urls = args.metrics_urls;
    config.sample_interval = Duration::from_millis(args.sample_interval_ms.max(100));
    config.history_samples = args.history_samples.max(2);
    config.max_records = args.max_records.max(1);
    config.max_value_bytes = args.max_value_bytes.max(16);
    let listen = args.listen;
    let outcome = block_on(async move {
        let listener = tokio::net::TcpListener::bind(&listen)
            .await
            .map_err(|e| format!("cannot listen on {listen}: {e}; pick another --listen"))?;
        let console = Console::start(config, listener)
            .await
            .map_err(|e| format!("cannot start the console: {e}"))?;
        eprintln!("strom console: http://{}/", console.local_addr());
        crate::wait_for_signal()
            .await
            .map_err(|e| format!("waiting for a signal: {e}"))?;
        console.shutdown().await;
        Ok::<(), String>(())
    });
    match outcome {
        Err(code) => code,
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(message)) => fail(&message),
    }
}
