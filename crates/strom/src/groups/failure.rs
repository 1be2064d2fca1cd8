//! What `strom groups` prints when it fails: one line saying what went
//! wrong and what to do next.

use std::io::ErrorKind;

use strom_client::{Error, ErrorCode};

/// A failed command, as the line printed to stderr (after `error: `).
#[derive(Debug, PartialEq, Eq)]
pub struct Failure(pub String);

impl From<Error> for Failure {
    fn from(e: Error) -> Failure {
        Failure(explain(&e))
    }
}

pub fn group_not_found(group: &str) -> Failure {
    Failure(format!(
        "consumer group '{group}' does not exist; `strom groups list` shows the groups there are"
    ))
}

/// The error with a hint at what to do about it.
pub fn explain(e: &Error) -> String {
    match e {
        Error::Connect { addr, source } if source.kind() == ErrorKind::ConnectionRefused => {
            format!(
                "could not connect to {addr}: connection refused; is a broker running there? \
             Point --bootstrap-server at one"
            )
        }
        Error::Connect { .. } => format!("{e}; check the address and that the broker is reachable"),
        Error::ConnectTimeout { .. } | Error::Timeout { .. } => {
            format!("{e}; check that the broker is up and reachable, or raise --timeout-ms")
        }
        Error::InvalidAddress { .. } => e.to_string(),
        Error::Io { addr, .. } | Error::Closed { addr } | Error::Broken { addr } => {
            format!("{e}; check that {addr} is a Kafka listener, then retry")
        }
        Error::UnsupportedApi { .. }
        | Error::NoCommonVersion { .. }
        | Error::UnsupportedFeature { .. } => {
            format!("{e}; this broker is too old for this command")
        }
        Error::Kafka { code, .. } => match code_hint(*code) {
            Some(hint) => format!("{e}: {hint}"),
            None => e.to_string(),
        },
        Error::UnknownBroker { .. } => format!("{e}; the cluster is changing: retry in a moment"),
        Error::Encode { .. }
        | Error::Decode { .. }
        | Error::CorrelationMismatch { .. }
        | Error::FrameTooLarge { .. } => {
            format!("{e}; the broker answered something this client cannot read: please report it")
        }
    }
}

/// `CODE: hint` for a per-group or per-partition outcome.
pub fn describe_code(code: ErrorCode) -> String {
    match code_hint(code) {
        Some(hint) => format!("{code}: {hint}"),
        None => code.to_string(),
    }
}

/// What to do about the error codes group commands meet.
pub fn code_hint(code: ErrorCode) -> Option<&'static str> {
    Some(match code {
        ErrorCode::NON_EMPTY_GROUP => "the group has active members; stop them first",
        ErrorCode::GROUP_ID_NOT_FOUND => {
            "no such group; `strom groups list` shows the groups there are"
        }
        ErrorCode::GROUP_SUBSCRIBED_TO_TOPIC => {
            "the group's members consume this topic; stop them first"
        }
        ErrorCode::UNKNOWN_TOPIC_OR_PARTITION => "no such topic or partition",
        ErrorCode::COORDINATOR_LOAD_IN_PROGRESS
        | ErrorCode::COORDINATOR_NOT_AVAILABLE
        | ErrorCode::NOT_COORDINATOR => "the group coordinator is not ready; retry in a moment",
        ErrorCode(24) => "the group id is not valid",
        ErrorCode(30) => "not authorized for this group",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use strom_client::kafka_protocol::messages::ApiKey;

    #[test]
    fn connection_refused_says_where_and_what_to_do() {
        let e = Error::Connect {
            addr: "127.0.0.1:9092".into(),
            source: std::io::Error::from(ErrorKind::ConnectionRefused),
        };
        assert_eq!(
            explain(&e),
            "could not connect to 127.0.0.1:9092: connection refused; is a broker running there? \
             Point --bootstrap-server at one"
        );
    }

    #[test]
    fn timeouts_suggest_the_timeout_flag() {
        let e = Error::Timeout {
            addr: "h:1".into(),
            api: ApiKey::DescribeGroups,
            timeout: Duration::from_secs(30),
        };
        assert_eq!(
            explain(&e),
            "DescribeGroups request to h:1 timed out after 30 s; \
             check that the broker is up and reachable, or raise --timeout-ms"
        );
    }

    #[test]
    fn kafka_errors_carry_their_name_and_hint() {
        assert_eq!(
            describe_code(ErrorCode::NON_EMPTY_GROUP),
            "NON_EMPTY_GROUP: the group has active members; stop them first"
        );
        assert_eq!(describe_code(ErrorCode(7)), "REQUEST_TIMED_OUT");
        let e = Error::Kafka {
            api: ApiKey::FindCoordinator,
            code: ErrorCode::COORDINATOR_NOT_AVAILABLE,
            message: None,
        };
        assert_eq!(
            explain(&e),
            "FindCoordinator failed: COORDINATOR_NOT_AVAILABLE: the group coordinator is not ready; retry in a moment"
        );
    }
}
