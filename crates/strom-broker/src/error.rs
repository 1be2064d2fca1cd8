use std::path::PathBuf;

use thiserror::Error;

/// Errors that stop the broker from starting or running. Per-request
/// failures are Kafka error codes in responses, never this type.
#[derive(Debug, Error)]
pub enum BrokerError {
    #[error(
        "cannot listen on {addr}: {source}; is another broker running there? change `listeners`"
    )]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error("log directory {dir}: {source}")]
    LogDir {
        dir: PathBuf,
        source: strom_log::LogError,
    },
    #[error("cannot create log directory {dir}: {source}; check `log.dirs` and its permissions")]
    CreateDir {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("metadata quorum: {0}")]
    Controller(String),
    #[error("listeners: {0}")]
    Listener(String),
    #[error("TLS: {0}")]
    Tls(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}
