//! What the admin commands over the wire (`strom cluster`,
//! `strom metadata-quorum`, `strom topics`, `strom leader-election`,
//! `strom partitions`) share: the connection and output flags, the runtime,
//! and the one-line failure on stderr.

use std::future::Future;
use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use strom_client::{AdminClient, AdminConfig, Error};

/// `--bootstrap-server`, `--command-config` and `--output`, as the
/// kafka-*.sh tools take them.
#[derive(Args)]
pub struct Connection {
    /// A broker of the cluster.
    #[arg(
        long,
        global = true,
        value_name = "HOST:PORT",
        env = "STROM_BOOTSTRAP",
        default_value = "127.0.0.1:9092"
    )]
    pub bootstrap_server: String,
    /// Admin client properties (client.id, request.timeout.ms,
    /// default.api.timeout.ms, retry.backoff.ms, security.protocol=SSL with
    /// ssl.truststore.* / ssl.keystore.*), as the kafka-*.sh tools take them.
    #[arg(long, global = true, value_name = "FILE")]
    pub command_config: Option<std::path::PathBuf>,
    /// `table` for people, `json` for scripts.
    #[arg(long, global = true, value_name = "FORMAT", default_value = "table", value_parser = ["table", "json"])]
    pub output: String,
}

impl Connection {
    pub fn json(&self) -> bool {
        self.output == "json"
    }

    /// An admin client of the bootstrap server, retrying for `api_timeout`
    /// (or the command config's `default.api.timeout.ms`).
    pub async fn admin(&self, api_timeout: Duration) -> Result<AdminClient, Error> {
        let config = match self.admin_config(api_timeout) {
            Ok(config) => config,
            Err(message) => {
                return Err(Error::Io {
                    addr: self.bootstrap_server.clone(),
                    source: std::io::Error::new(std::io::ErrorKind::InvalidInput, message),
                })
            }
        };
        AdminClient::connect(config).await
    }

    /// The admin client's settings: the defaults, then the command config.
    pub fn admin_config(&self, api_timeout: Duration) -> Result<AdminConfig, String> {
        let mut config = AdminConfig::new(self.bootstrap_server.clone());
        config.api_timeout = api_timeout;
        let mut request_timeout = None;
        if let Some(path) = &self.command_config {
            let props = strom_config::Properties::load(path)
                .map_err(|e| format!("reading --command-config {}: {e}", path.display()))?;
            let pairs: Vec<(String, String)> = props
                .iter()
                .map(|p| (p.key.clone(), p.value.clone()))
                .collect();
            (config.connection.tls, config.connection.sasl) =
                crate::produce::client_security(&pairs)
                    .map_err(|e| format!("{}: {e}", path.display()))?;
            for p in props.iter() {
                let ms = || {
                    p.value
                        .trim()
                        .parse::<u64>()
                        .map(Duration::from_millis)
                        .map_err(|_| {
                            format!(
                                "{}: {} must be a number of milliseconds, not {:?}",
                                path.display(),
                                p.key,
                                p.value
                            )
                        })
                };
                match p.key.as_str() {
                    "client.id" => config.connection.client_id = p.value.clone(),
                    "request.timeout.ms" => request_timeout = Some(ms()?),
                    "default.api.timeout.ms" => config.api_timeout = ms()?,
                    "retry.backoff.ms" => config.retry_backoff = ms()?,
                    // bootstrap.servers is --bootstrap-server's; other keys
                    // (metrics, buffers) change nothing for one admin call.
                    _ => {}
                }
            }
        }
        // One request may take the whole operation (AddRaftVoter waits for
        // the new voter to catch up), so it gets a little longer.
        config.connection.request_timeout = request_timeout.unwrap_or(
            config
                .connection
                .request_timeout
                .max(config.api_timeout + Duration::from_secs(10)),
        );
        Ok(config)
    }
}

impl Connection {
    /// An admin client for the commands that report failures as one line:
    /// the message says what to check.
    pub async fn client(&self, api_timeout: Duration) -> Result<AdminClient, String> {
        let config = self.admin_config(api_timeout)?;
        AdminClient::connect(config).await.map_err(|e| {
            format!(
                "{e}; check that {} is a broker of the cluster (--bootstrap-server or STROM_BOOTSTRAP)",
                self.bootstrap_server
            )
        })
    }
}

/// Runs a command that prints its own output: `Err` is printed as the one
/// failure line (exit code 1).
pub fn run_command<F: Future<Output = Result<ExitCode, String>>>(work: F) -> ExitCode {
    match block_on(work) {
        Err(code) => code,
        Ok(Ok(code)) => code,
        Ok(Err(message)) => fail(&message),
    }
}

/// Runs `work` on a current-thread runtime; `Err` is the exit code of a
/// runtime that would not start (already reported).
pub fn block_on<F: Future>(work: F) -> Result<F::Output, ExitCode> {
    match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => Ok(runtime.block_on(work)),
        Err(e) => Err(fail(&format!("cannot start the async runtime: {e}"))),
    }
}

/// Prints `error: <message>` on stderr; exit code 1.
pub fn fail(message: &str) -> ExitCode {
    let _ = writeln!(std::io::stderr(), "error: {message}");
    ExitCode::FAILURE
}

/// Writes to stdout; a closed stdout (`| head`) is not worth a panic.
pub fn emit(text: &str) {
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
}
