//! What the admin commands over the wire (`strom cluster`,
//! `strom metadata-quorum`) share: the connection and output flags, the
//! runtime, and the one-line failure on stderr.

use std::future::Future;
use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use strom_client::{AdminClient, AdminConfig, Error};

/// `--bootstrap-server` and `--output`, as the kafka-*.sh tools take them.
#[derive(Args)]
pub struct Connection {
    /// A broker of the cluster.
    #[arg(
        long,
        global = true,
        value_name = "HOST:PORT",
        default_value = "127.0.0.1:9092"
    )]
    pub bootstrap_server: String,
    /// `table` for people, `json` for scripts.
    #[arg(long, global = true, value_name = "FORMAT", default_value = "table", value_parser = ["table", "json"])]
    pub output: String,
}

impl Connection {
    pub fn json(&self) -> bool {
        self.output == "json"
    }

    /// An admin client of the bootstrap server, retrying for `api_timeout`.
    pub async fn admin(&self, api_timeout: Duration) -> Result<AdminClient, Error> {
        let mut config = AdminConfig::new(self.bootstrap_server.clone());
        config.api_timeout = api_timeout;
        // One request may take the whole operation (AddRaftVoter waits for
        // the new voter to catch up), so it gets a little longer.
        config.connection.request_timeout = config
            .connection
            .request_timeout
            .max(api_timeout + Duration::from_secs(10));
        AdminClient::connect(config).await
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
