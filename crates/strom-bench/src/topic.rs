//! Topic creation and metadata checks, before any record is timed.
//!
//! Waiting until every partition has a leader keeps the broker's topic creation out of the
//! latency figures: otherwise the first records would measure how fast partitions come up.

use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::{Client, ClientContext};
use rdkafka::config::ClientConfig;
use rdkafka::metadata::Metadata;
use rdkafka::types::RDKafkaErrorCode;

use crate::client_log::LoggingContext;

/// How long the broker may take to create a topic and elect its leaders.
const TOPIC_READY_TIMEOUT: Duration = Duration::from_secs(30);
const METADATA_TIMEOUT: Duration = Duration::from_secs(10);
const METADATA_POLL_INTERVAL: Duration = Duration::from_millis(100);

/// What the benchmark needs to know about one topic, taken out of librdkafka's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicView {
    pub error: Option<RDKafkaErrorCode>,
    pub partitions: Vec<PartitionView>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionView {
    pub id: i32,
    pub leader: i32,
    pub error: Option<RDKafkaErrorCode>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Readiness {
    Ready,
    /// Worth asking again: the broker is still creating the topic or electing leaders.
    NotYet(String),
}

impl TopicView {
    pub fn from_metadata(metadata: &Metadata, topic: &str) -> Option<TopicView> {
        let found = metadata.topics().iter().find(|t| t.name() == topic)?;
        Some(TopicView {
            error: found.error().map(RDKafkaErrorCode::from),
            partitions: found
                .partitions()
                .iter()
                .map(|p| PartitionView {
                    id: p.id(),
                    leader: p.leader(),
                    error: p.error().map(RDKafkaErrorCode::from),
                })
                .collect(),
        })
    }

    /// Ready once the topic has `expected_partitions` partitions (any count when `None`), each
    /// with a leader.
    pub fn readiness(&self, expected_partitions: Option<i32>) -> Readiness {
        if let Some(error) = self.error {
            return Readiness::NotYet(format!("topic error: {error}"));
        }
        if self.partitions.is_empty() {
            return Readiness::NotYet("no partitions yet".into());
        }
        if let Some(expected) = expected_partitions {
            if self.partitions.len() != usize::try_from(expected).unwrap_or(0) {
                return Readiness::NotYet(format!(
                    "{} of {expected} partitions",
                    self.partitions.len()
                ));
            }
        }
        if let Some(p) = self
            .partitions
            .iter()
            .find(|p| p.leader < 0 || p.error.is_some())
        {
            let why = p
                .error
                .map_or_else(|| "no leader".to_owned(), |e| e.to_string());
            return Readiness::NotYet(format!("partition {}: {why}", p.id));
        }
        Readiness::Ready
    }
}

/// Whether a client property is about the connection (security), and so applies to the admin
/// client that creates the topic as well as to the producer it was given for.
fn is_connection_property(key: &str) -> bool {
    ["security.", "ssl.", "sasl."]
        .iter()
        .any(|prefix| key.starts_with(prefix))
}

/// Creates the topic; an existing topic is fine only with the same partition count. Of
/// `client_props`, the security ones (`security.*`, `ssl.*`, `sasl.*`) apply to the admin client.
pub fn create(
    bootstrap_servers: &str,
    topic: &str,
    partitions: i32,
    replication_factor: i32,
    client_props: &[(String, String)],
) -> anyhow::Result<()> {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", bootstrap_servers);
    for (key, value) in client_props {
        if is_connection_property(key) {
            config.set(key, value);
        }
    }
    let admin: AdminClient<LoggingContext> = config
        .create_with_context(LoggingContext::default())
        .context("creating the admin client")?;
    let new_topic = NewTopic::new(
        topic,
        partitions,
        TopicReplication::Fixed(replication_factor),
    );
    let options = AdminOptions::new()
        .operation_timeout(Some(TOPIC_READY_TIMEOUT))
        .request_timeout(Some(TOPIC_READY_TIMEOUT));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the runtime for the admin client")?;
    let results = runtime
        .block_on(admin.create_topics([&new_topic], &options))
        .with_context(|| format!("CreateTopics for {topic:?} at {bootstrap_servers}"))?;
    for result in results {
        match result {
            Ok(_) => eprintln!("created topic {topic:?} with {partitions} partitions"),
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {
                let existing = fetch_topic(admin.inner(), topic)?;
                if existing.partitions.len() != usize::try_from(partitions).unwrap_or(0) {
                    bail!(
                        "topic {topic:?} already exists with {} partitions, not {partitions}; delete it, \
                         pick another --topic, or pass --partitions {}",
                        existing.partitions.len(),
                        existing.partitions.len()
                    );
                }
                eprintln!("topic {topic:?} already exists with {partitions} partitions; using it");
            }
            Err((name, code)) => bail!("creating topic {name:?} failed: {code}"),
        }
    }
    wait_until_ready(admin.inner(), topic, Some(partitions))?;
    Ok(())
}

/// Fetches the topic's metadata once; a topic the broker does not report is an error.
pub fn fetch_topic<C: ClientContext>(client: &Client<C>, topic: &str) -> anyhow::Result<TopicView> {
    let metadata = client
        .fetch_metadata(Some(topic), METADATA_TIMEOUT)
        .context("fetching metadata (is the broker at --bootstrap-servers running?)")?;
    TopicView::from_metadata(&metadata, topic)
        .with_context(|| format!("the broker's metadata does not mention topic {topic:?}"))
}

/// Polls metadata until the topic is ready, for at most `TOPIC_READY_TIMEOUT`.
pub fn wait_until_ready<C: ClientContext>(
    client: &Client<C>,
    topic: &str,
    expected_partitions: Option<i32>,
) -> anyhow::Result<TopicView> {
    let deadline = Instant::now() + TOPIC_READY_TIMEOUT;
    loop {
        let view = fetch_topic(client, topic)?;
        let why = match view.readiness(expected_partitions) {
            Readiness::Ready => return Ok(view),
            Readiness::NotYet(why) => why,
        };
        if Instant::now() >= deadline {
            bail!("topic {topic:?} not ready after {TOPIC_READY_TIMEOUT:?}: {why}");
        }
        thread::sleep(METADATA_POLL_INTERVAL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn partition(id: i32, leader: i32) -> PartitionView {
        PartitionView {
            id,
            leader,
            error: None,
        }
    }

    #[test]
    fn only_security_properties_reach_the_admin_client() {
        assert!(is_connection_property("security.protocol"));
        assert!(is_connection_property("sasl.mechanism"));
        assert!(is_connection_property("ssl.ca.location"));
        assert!(!is_connection_property("linger.ms"));
        assert!(!is_connection_property("acks"));
    }

    #[test]
    fn a_topic_with_a_leader_for_every_partition_is_ready() {
        let view = TopicView {
            error: None,
            partitions: vec![partition(0, 1), partition(1, 1)],
        };
        assert_eq!(view.readiness(Some(2)), Readiness::Ready);
        assert_eq!(view.readiness(None), Readiness::Ready);
    }

    #[test]
    fn a_partition_without_a_leader_is_not_ready() {
        let view = TopicView {
            error: None,
            partitions: vec![partition(0, 1), partition(1, -1)],
        };
        assert_eq!(
            view.readiness(Some(2)),
            Readiness::NotYet("partition 1: no leader".into())
        );
    }

    #[test]
    fn fewer_partitions_than_expected_is_not_ready() {
        let view = TopicView {
            error: None,
            partitions: vec![partition(0, 1)],
        };
        assert_eq!(
            view.readiness(Some(6)),
            Readiness::NotYet("1 of 6 partitions".into())
        );
    }

    #[test]
    fn a_topic_level_error_is_not_ready() {
        let view = TopicView {
            error: Some(RDKafkaErrorCode::UnknownTopicOrPartition),
            partitions: vec![],
        };
        let Readiness::NotYet(why) = view.readiness(None) else {
            panic!("expected NotYet")
        };
        assert!(why.contains("Unknown topic or partition"), "{why}");
    }

    #[test]
    fn a_partition_error_is_reported_with_its_id() {
        let mut p = partition(3, 1);
        p.error = Some(RDKafkaErrorCode::LeaderNotAvailable);
        let view = TopicView {
            error: None,
            partitions: vec![p],
        };
        let Readiness::NotYet(why) = view.readiness(None) else {
            panic!("expected NotYet")
        };
        assert!(why.starts_with("partition 3: "), "{why}");
    }
}
