//! [`TopicPartition`] and the `<topic>-<partition>` directory names Kafka uses for logs.

use std::fmt;

/// A topic name and partition index.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicPartition {
    /// Topic name.
    pub topic: String,
    /// Partition index.
    pub partition: i32,
}

impl TopicPartition {
    /// A topic partition.
    pub fn new(topic: impl Into<String>, partition: i32) -> TopicPartition {
        TopicPartition {
            topic: topic.into(),
            partition,
        }
    }

    /// The log directory name: `<topic>-<partition>`.
    pub fn dir_name(&self) -> String {
        format!("{}-{}", self.topic, self.partition)
    }

    /// Parses a log directory name. Topic names may contain '-' and '.', so the partition
    /// is what follows the last '-'. Names with a suffix (`-delete`, `-future`, `-stray`)
    /// and illegal topic names give `None`.
    pub fn from_dir_name(name: &str) -> Option<TopicPartition> {
        let (topic, partition) = name.rsplit_once('-')?;
        if partition.is_empty() || !partition.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let partition: i32 = partition.parse().ok()?;
        if !is_legal_topic_name(topic) {
            return None;
        }
        Some(TopicPartition::new(topic, partition))
    }
}

impl fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.topic, self.partition)
    }
}

/// Kafka's rule: 1..=249 characters of `[a-zA-Z0-9._-]`, not `.` or `..`.
pub fn is_legal_topic_name(topic: &str) -> bool {
    !topic.is_empty()
        && topic.len() <= 249
        && topic != "."
        && topic != ".."
        && topic
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dir_names_split_on_the_last_dash() {
        let tp = TopicPartition::from_dir_name("my-topic.v2-17").unwrap();
        assert_eq!(tp, TopicPartition::new("my-topic.v2", 17));
        assert_eq!(tp.dir_name(), "my-topic.v2-17");
        assert_eq!(
            TopicPartition::from_dir_name("__consumer_offsets-49")
                .unwrap()
                .partition,
            49
        );
    }

    #[test]
    fn suffixed_and_illegal_dir_names_are_rejected() {
        for name in [
            "t-0.abc123-delete",
            "t-0.abc-future",
            "t",
            "t-",
            "-3",
            "t-x",
            "bad topic-0",
            "t-99999999999",
        ] {
            assert_eq!(TopicPartition::from_dir_name(name), None, "{name}");
        }
    }
}
