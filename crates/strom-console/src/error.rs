//! What a page shows when the cluster says no: Kafka's error name, the
//! broker's message, and what to do about it.

use strom_client::{Error, ErrorCode};

use crate::html::esc;

/// A failure of one page's work.
#[derive(Debug)]
pub enum ConsoleError {
    /// The cluster answered with a Kafka error code.
    Kafka {
        /// What was being done: "CreateTopics", "topic orders-0", ...
        what: String,
        code: ErrorCode,
        message: Option<String>,
    },
    /// The cluster could not be reached or did not answer.
    Transport(String),
    /// A form or query the console cannot use.
    Input(String),
}

impl From<Error> for ConsoleError {
    fn from(e: Error) -> ConsoleError {
        match e {
            Error::Kafka { api, code, message } => ConsoleError::Kafka {
                what: format!("{api:?}"),
                code,
                message,
            },
            other => ConsoleError::Transport(other.to_string()),
        }
    }
}

impl ConsoleError {
    pub fn kafka(
        what: impl Into<String>,
        code: ErrorCode,
        message: Option<String>,
    ) -> ConsoleError {
        ConsoleError::Kafka {
            what: what.into(),
            code,
            message,
        }
    }

    /// The HTTP status of a page that failed with this error.
    pub fn status(&self) -> axum::http::StatusCode {
        use axum::http::StatusCode;
        match self {
            ConsoleError::Transport(_) => StatusCode::BAD_GATEWAY,
            ConsoleError::Input(_) => StatusCode::BAD_REQUEST,
            ConsoleError::Kafka { code, .. } if matches!(code.0, 3 | 69) => StatusCode::NOT_FOUND,
            ConsoleError::Kafka { .. } => StatusCode::CONFLICT,
        }
    }

    /// The error as an HTML block (everything escaped).
    pub fn html(&self) -> String {
        match self {
            ConsoleError::Kafka {
                what,
                code,
                message,
            } => format!(
                "<div class=\"error\" role=\"alert\"><strong class=\"error-name\">{}</strong> from {}{}<p>{}</p></div>",
                esc(&code.name()),
                esc(what),
                message
                    .as_deref()
                    .filter(|m| !m.is_empty())
                    .map(|m| format!(": {}", esc(m)))
                    .unwrap_or_default(),
                esc(hint(*code)),
            ),
            ConsoleError::Transport(message) => format!(
                "<div class=\"error\" role=\"alert\"><strong class=\"error-name\">NETWORK_EXCEPTION</strong>: {}<p>Check that the cluster is running and that --bootstrap-server names one of its brokers (and --command-config its security settings).</p></div>",
                esc(message)
            ),
            ConsoleError::Input(message) => format!(
                "<div class=\"error\" role=\"alert\"><strong class=\"error-name\">INVALID_REQUEST</strong>: {}</div>",
                esc(message)
            ),
        }
    }
}

/// What to do about an error, by Kafka's code.
pub fn hint(code: ErrorCode) -> &'static str {
    match code.0 {
        -1 => "The broker failed unexpectedly; its log says why.",
        1 => "The offset is outside the partition's log; read from the log start or end offset shown on the topic page.",
        3 => "The topic or partition does not exist (or was just deleted); check the name on the Topics page.",
        5 | 6 => "The partition has no leader right now (a broker is down or an election is running); retry in a moment and check the Cluster page.",
        7 => "The broker did not answer in time; retry, and check the broker's load.",
        10 => "The record is larger than the topic's max.message.bytes; send a smaller record or raise that config.",
        14..=16 => "The group coordinator is loading or moving; retry in a moment.",
        17 => "Topic names use only letters, digits, '.', '_' and '-', up to 249 characters, and are not '.' or '..'.",
        19 | 20 => "Not enough in-sync replicas for acks=all; check the Cluster page for brokers that are down, or the topic's min.insync.replicas.",
        25 => "The group's member id is unknown (it left or timed out); the consumer rejoins on its next poll.",
        29 => "The principal may not access this topic; grant it an ACL (Read, Write or Describe on the topic).",
        30 => "The principal may not access this group; grant it an ACL on the group.",
        31 => "The principal may not perform this on the cluster; grant it an ACL on the cluster.",
        35 => "The broker does not support this request at a version the console speaks; upgrade the broker.",
        36 => "A topic of that name already exists; pick another name or open the existing topic.",
        37 => "The partition count must be at least 1.",
        38 => "The replication factor must be at least 1 and at most the number of live brokers.",
        40 => "A config name or value was refused; check the name and its allowed values in docs/configuration.md.",
        41 => "This broker is not the controller; retry (the console's client finds the controller itself).",
        44 => "A create-topic policy refused the request; see the message for which rule.",
        68 => "The group still has active members; stop its consumers first (offsets of an active group cannot be reset, nor the group deleted).",
        69 => "The group does not exist (it has no members and no committed offsets).",
        73 => "Topic deletion is disabled on the brokers (delete.topic.enable=false).",
        58 | 33 | 34 => "The client's SASL settings were refused; check --command-config.",
        _ => "See Kafka's documentation of this error code.",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kafka_errors_show_the_name_the_message_escaped_and_a_hint() {
        let e = ConsoleError::kafka(
            "CreateTopics",
            ErrorCode(36),
            Some("Topic '<b>' already exists.".into()),
        );
        let html = e.html();
        assert!(html.contains("TOPIC_ALREADY_EXISTS"), "{html}");
        assert!(
            html.contains("Topic &#39;&lt;b&gt;&#39; already exists."),
            "{html}"
        );
        assert!(html.contains("pick another name"), "{html}");
    }
}
