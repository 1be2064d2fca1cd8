//! Topic name rules, as Kafka's `org.apache.kafka.common.internals.Topic`.
//!
//! A topic name becomes a directory name (`<topic>-<partition>`) and part of
//! metric names, which is why the character set is narrow and why names that
//! differ only in '.' versus '_' may not coexist: metric reporters replace
//! '.' with '_', so `a.b` and `a_b` would report into the same metrics.

use crate::error::InvalidTopicName;

/// The longest topic name Kafka accepts (`Topic.MAX_NAME_LENGTH`).
pub const MAX_TOPIC_NAME_LENGTH: usize = 249;

/// Kafka's group coordinator topic.
pub const GROUP_METADATA_TOPIC_NAME: &str = "__consumer_offsets";

/// Kafka's transaction coordinator topic.
pub const TRANSACTION_STATE_TOPIC_NAME: &str = "__transaction_state";

/// The metadata log's own name; clients may never create it.
pub const CLUSTER_METADATA_TOPIC_NAME: &str = "__cluster_metadata";

/// Checks a topic name as `Topic.validate` does, with Kafka's messages
/// ("Topic name is invalid: ...").
pub fn validate_topic_name(name: &str) -> Result<(), InvalidTopicName> {
    let reason = if name.is_empty() {
        "the empty string is not allowed".to_string()
    } else if name == "." {
        "'.' is not allowed".to_string()
    } else if name == ".." {
        "'..' is not allowed".to_string()
    } else if name.encode_utf16().count() > MAX_TOPIC_NAME_LENGTH {
        // Java counts UTF-16 units; for the legal ASCII names it is the same.
        format!(
            "the length of '{name}' is longer than the max allowed length {MAX_TOPIC_NAME_LENGTH}"
        )
    } else if !name.bytes().all(is_legal_byte) {
        format!("'{name}' contains one or more characters other than ASCII alphanumerics, '.', '_' and '-'")
    } else {
        return Ok(());
    };
    Err(InvalidTopicName {
        message: format!("Topic name is invalid: {reason}"),
    })
}

fn is_legal_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-'
}

/// `true` for Kafka's internal topics (`Topic.isInternal`).
pub fn is_internal_topic(name: &str) -> bool {
    name == GROUP_METADATA_TOPIC_NAME
        || name == TRANSACTION_STATE_TOPIC_NAME
        || name == CLUSTER_METADATA_TOPIC_NAME
}

/// `true` if the name contains '.' or '_', the characters that may collide.
pub fn has_collision_chars(name: &str) -> bool {
    name.contains(['.', '_'])
}

/// The name with '.' replaced by '_' (`Topic.unifyCollisionChars`); two
/// names collide when their unified forms are equal.
pub fn unify_collision_chars(name: &str) -> String {
    name.replace('.', "_")
}

/// `true` if the two names collide in metric names (`Topic.hasCollision`).
pub fn topic_names_collide(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).all(|(x, y)| unify(x) == unify(y))
}

fn unify(b: u8) -> u8 {
    if b == b'.' {
        b'_'
    } else {
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(name: &str) -> String {
        validate_topic_name(name)
            .err()
            .map(|e| e.message)
            .unwrap_or_default()
    }

    #[test]
    fn legal_names_pass() {
        for name in [
            "a",
            "orders",
            "Orders.v1_x-2",
            "__consumer_offsets",
            &"x".repeat(249),
        ] {
            assert_eq!(validate_topic_name(name), Ok(()), "{name}");
        }
    }

    #[test]
    fn illegal_names_get_kafkas_messages() {
        assert_eq!(
            message(""),
            "Topic name is invalid: the empty string is not allowed"
        );
        assert_eq!(message("."), "Topic name is invalid: '.' is not allowed");
        assert_eq!(message(".."), "Topic name is invalid: '..' is not allowed");
        let long = "x".repeat(250);
        assert_eq!(
            message(&long),
            format!("Topic name is invalid: the length of '{long}' is longer than the max allowed length 249")
        );
        assert_eq!(
            message("a b"),
            "Topic name is invalid: 'a b' contains one or more characters other than ASCII alphanumerics, '.', '_' and '-'"
        );
        assert!(validate_topic_name("caf\u{e9}").is_err());
        assert!(validate_topic_name("a/b").is_err());
    }

    #[test]
    fn dot_and_underscore_collide() {
        assert!(topic_names_collide("a.b", "a_b"));
        assert!(topic_names_collide("a.b_c", "a_b.c"));
        assert!(!topic_names_collide("a.b", "a-b"));
        assert!(!topic_names_collide("a.b", "a.bc"));
        assert!(has_collision_chars("a.b"));
        assert!(!has_collision_chars("a-b"));
        assert_eq!(unify_collision_chars("a.b_c"), "a_b_c");
    }

    #[test]
    fn internal_topics_are_known() {
        assert!(is_internal_topic("__consumer_offsets"));
        assert!(is_internal_topic("__transaction_state"));
        assert!(!is_internal_topic("orders"));
    }
}
