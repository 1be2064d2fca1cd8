//! What can go wrong talking to a broker, and Kafka's error codes by name.
//!
//! Transport failures (connect, I/O, timeouts, undecodable frames) are
//! variants of [`Error`]. A Kafka error code that fails a whole request or a
//! whole group is [`Error::Kafka`]; per-partition and per-group outcomes of
//! requests that cover many of them are returned as values
//! (`Result<_, ErrorCode>`), never as a failure of the request.

use std::fmt;
use std::io;
use std::time::Duration;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::ApiKey;

/// A Kafka protocol error code (never 0: 0 means no error).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ErrorCode(pub i16);

impl ErrorCode {
    pub const UNKNOWN_SERVER_ERROR: ErrorCode = ErrorCode(-1);
    pub const UNKNOWN_TOPIC_OR_PARTITION: ErrorCode = ErrorCode(3);
    pub const LEADER_NOT_AVAILABLE: ErrorCode = ErrorCode(5);
    pub const COORDINATOR_LOAD_IN_PROGRESS: ErrorCode = ErrorCode(14);
    pub const COORDINATOR_NOT_AVAILABLE: ErrorCode = ErrorCode(15);
    pub const NOT_COORDINATOR: ErrorCode = ErrorCode(16);
    pub const UNSUPPORTED_SASL_MECHANISM: ErrorCode = ErrorCode(33);
    pub const UNSUPPORTED_VERSION: ErrorCode = ErrorCode(35);
    pub const SASL_AUTHENTICATION_FAILED: ErrorCode = ErrorCode(58);
    pub const NON_EMPTY_GROUP: ErrorCode = ErrorCode(68);
    pub const GROUP_ID_NOT_FOUND: ErrorCode = ErrorCode(69);
    pub const GROUP_SUBSCRIBED_TO_TOPIC: ErrorCode = ErrorCode(86);

    /// `None` for 0 (no error), the code otherwise.
    pub fn from_code(code: i16) -> Option<ErrorCode> {
        (code != 0).then_some(ErrorCode(code))
    }

    /// `Ok(())` for 0, `Err(code)` otherwise.
    pub fn check(code: i16) -> Result<(), ErrorCode> {
        match ErrorCode::from_code(code) {
            None => Ok(()),
            Some(e) => Err(e),
        }
    }

    /// Kafka's name for the code, as its tools print it: `NON_EMPTY_GROUP`.
    pub fn name(self) -> String {
        match ResponseError::try_from_code(self.0) {
            None => "NONE".to_owned(),
            Some(ResponseError::Unknown(code)) => format!("UNKNOWN_ERROR_CODE_{code}"),
            Some(e) => screaming_snake_case(&e.to_string()),
        }
    }

    /// Whether Kafka marks the error retriable.
    pub fn is_retriable(self) -> bool {
        ResponseError::try_from_code(self.0).is_some_and(|e| e.is_retriable())
    }

    /// The errors after which a request to a group's coordinator is worth
    /// repeating, after finding the coordinator again.
    pub fn is_coordinator_retriable(self) -> bool {
        matches!(
            self,
            ErrorCode::COORDINATOR_LOAD_IN_PROGRESS
                | ErrorCode::COORDINATOR_NOT_AVAILABLE
                | ErrorCode::NOT_COORDINATOR
        )
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// `NonEmptyGroup` → `NON_EMPTY_GROUP` (kafka-protocol names the variants
/// after Kafka's constants in camel case, without acronyms).
fn screaming_snake_case(camel: &str) -> String {
    let mut out = String::with_capacity(camel.len() + 8);
    for (i, c) in camel.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

/// Everything the client can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid broker address {addr:?}: expected HOST:PORT, e.g. 127.0.0.1:9092")]
    InvalidAddress { addr: String },

    #[error("could not connect to {addr}: {source}")]
    Connect {
        addr: String,
        #[source]
        source: io::Error,
    },

    #[error("connecting to {addr} timed out after {}", seconds(*.timeout))]
    ConnectTimeout { addr: String, timeout: Duration },

    #[error("connection to {addr} failed: {source}")]
    Io {
        addr: String,
        #[source]
        source: io::Error,
    },

    #[error("{addr} closed the connection")]
    Closed { addr: String },

    #[error("{api:?} request to {addr} timed out after {}", seconds(*.timeout))]
    Timeout {
        addr: String,
        api: ApiKey,
        timeout: Duration,
    },

    /// A request timed out or the framing broke earlier: the stream may hold
    /// a late answer, so the connection is not used again.
    #[error("the connection to {addr} is unusable after an earlier failure")]
    Broken { addr: String },

    #[error("{addr} does not support {api:?}")]
    UnsupportedApi { addr: String, api: ApiKey },

    #[error(
        "{addr} supports {api:?} versions {broker_min}-{broker_max}, \
         this client {client_min}-{client_max}"
    )]
    NoCommonVersion {
        addr: String,
        api: ApiKey,
        broker_min: i16,
        broker_max: i16,
        client_min: i16,
        client_max: i16,
    },

    /// A request needs a feature the negotiated version lacks.
    #[error("{addr} cannot {what}: that needs {api:?} v{needed}, it supports up to v{version}")]
    UnsupportedFeature {
        addr: String,
        api: ApiKey,
        what: &'static str,
        needed: i16,
        version: i16,
    },

    #[error("could not encode {api:?} v{version}: {message}")]
    Encode {
        api: ApiKey,
        version: i16,
        message: String,
    },

    #[error("could not decode the {api:?} v{version} answer from {addr}: {message}")]
    Decode {
        addr: String,
        api: ApiKey,
        version: i16,
        message: String,
    },

    #[error("{addr} answered correlation id {got}, expected {expected}")]
    CorrelationMismatch {
        addr: String,
        expected: i32,
        got: i32,
    },

    #[error("{addr} sent a frame of {size} bytes; the limit is {max}")]
    FrameTooLarge { addr: String, size: i64, max: usize },

    /// The request (or the group it named) failed as a whole with a Kafka
    /// error code.
    #[error("{api:?} failed: {code}{}", .message.as_deref().map(|m| format!(" ({m})")).unwrap_or_default())]
    Kafka {
        api: ApiKey,
        code: ErrorCode,
        message: Option<String>,
    },

    #[error("broker {node_id} is not in the cluster metadata")]
    UnknownBroker { node_id: i32 },
}

impl Error {
    /// The Kafka error code, for [`Error::Kafka`].
    pub fn kafka_code(&self) -> Option<ErrorCode> {
        match self {
            Error::Kafka { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// Whether this error leaves the connection it happened on unusable.
    pub(crate) fn breaks_connection(&self) -> bool {
        matches!(
            self,
            Error::Io { .. }
                | Error::Closed { .. }
                | Error::Timeout { .. }
                | Error::Broken { .. }
                | Error::CorrelationMismatch { .. }
                | Error::FrameTooLarge { .. }
        )
    }
}

fn seconds(d: Duration) -> String {
    let ms = d.as_millis();
    if ms % 1000 == 0 {
        format!("{} s", ms / 1000)
    } else {
        format!("{ms} ms")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_print_with_kafkas_names() {
        assert_eq!(ErrorCode::NON_EMPTY_GROUP.name(), "NON_EMPTY_GROUP");
        assert_eq!(ErrorCode::GROUP_ID_NOT_FOUND.name(), "GROUP_ID_NOT_FOUND");
        assert_eq!(ErrorCode(3).name(), "UNKNOWN_TOPIC_OR_PARTITION");
        assert_eq!(ErrorCode(-1).name(), "UNKNOWN_SERVER_ERROR");
        assert_eq!(ErrorCode(86).to_string(), "GROUP_SUBSCRIBED_TO_TOPIC");
        assert_eq!(ErrorCode(9999).name(), "UNKNOWN_ERROR_CODE_9999");
        assert_eq!(ErrorCode::from_code(0), None);
        assert!(ErrorCode::COORDINATOR_LOAD_IN_PROGRESS.is_retriable());
        assert!(!ErrorCode::NON_EMPTY_GROUP.is_retriable());
    }

    #[test]
    fn messages_name_what_failed() {
        let e = Error::Timeout {
            addr: "127.0.0.1:9092".into(),
            api: ApiKey::ListGroups,
            timeout: Duration::from_secs(30),
        };
        assert_eq!(
            e.to_string(),
            "ListGroups request to 127.0.0.1:9092 timed out after 30 s"
        );
        let e = Error::Kafka {
            api: ApiKey::DeleteGroups,
            code: ErrorCode::NON_EMPTY_GROUP,
            message: None,
        };
        assert_eq!(e.to_string(), "DeleteGroups failed: NON_EMPTY_GROUP");
        let e = Error::Kafka {
            api: ApiKey::FindCoordinator,
            code: ErrorCode::COORDINATOR_NOT_AVAILABLE,
            message: Some("loading".into()),
        };
        assert_eq!(
            e.to_string(),
            "FindCoordinator failed: COORDINATOR_NOT_AVAILABLE (loading)"
        );
    }
}
