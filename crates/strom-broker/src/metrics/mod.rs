//! The broker's metrics, served in Prometheus text format on
//! `strom.metrics.listener` with Kafka's names (see `scrape`).
//!
//! The hot path only adds to atomics it already holds: a partition carries
//! its topic's [`TopicMetrics`] (resolved once, when the partition is
//! opened), a connection records each request's phases into the slot of its
//! API key (an array index). Everything else (partition counts, log sizes,
//! group counts, lag) is read from the broker's state when scraped, so it
//! costs nothing between scrapes.

pub(crate) mod histogram;
pub(crate) mod http;
pub(crate) mod scrape;
pub(crate) mod text;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use histogram::Histogram;

/// Kafka's BrokerTopicMetrics meters we keep, for one topic or all topics.
#[derive(Default)]
pub(crate) struct TopicCounters {
    pub messages_in: AtomicU64,
    pub bytes_in: AtomicU64,
    pub bytes_out: AtomicU64,
    pub produce_requests: AtomicU64,
    pub fetch_requests: AtomicU64,
    /// Record bytes appended from leaders (`ReplicationBytesInPerSec`; all
    /// topics only, as Kafka keeps it).
    pub replication_bytes_in: AtomicU64,
    /// Record bytes sent to followers (`ReplicationBytesOutPerSec`; all topics only).
    pub replication_bytes_out: AtomicU64,
}

/// One topic's counters and the all-topics ones; both move together, as
/// Kafka's topic meter and its all-topics meter do.
pub(crate) struct TopicMetrics {
    topic: TopicCounters,
    all: Arc<TopicCounters>,
    /// The broker's `LogFlushRateAndTimeMs`, for this topic's partitions' fsyncs.
    pub log_flush: Arc<Histogram>,
}

impl TopicMetrics {
    /// A client's append: `messages` records in `bytes` of batches.
    pub fn produced(&self, messages: u64, bytes: u64) {
        for c in [&self.topic, &*self.all] {
            c.messages_in.fetch_add(messages, Ordering::Relaxed);
            c.bytes_in.fetch_add(bytes, Ordering::Relaxed);
            c.produce_requests.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Record bytes sent to a consumer (followers' fetches are replication, not bytes out).
    pub fn fetched(&self, bytes: u64) {
        for c in [&self.topic, &*self.all] {
            c.bytes_out.fetch_add(bytes, Ordering::Relaxed);
            c.fetch_requests.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Record bytes appended from the leader, as a follower.
    pub fn replicated_in(&self, bytes: u64) {
        self.all
            .replication_bytes_in
            .fetch_add(bytes, Ordering::Relaxed);
    }

    /// Record bytes sent to a follower.
    pub fn replicated_out(&self, bytes: u64) {
        self.all
            .replication_bytes_out
            .fetch_add(bytes, Ordering::Relaxed);
    }

    pub fn counters(&self) -> &TopicCounters {
        &self.topic
    }
}

/// Kafka's request phases (RequestMetrics), in milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// `TotalTimeMs`: from the request's last byte read to the response's last byte written.
    Total,
    /// `RequestQueueTimeMs`: read until handled (Strom handles a request as soon as it is read).
    RequestQueue,
    /// `LocalTimeMs`: the handler's own work.
    Local,
    /// `RemoteTimeMs`: waiting on others: replication and fsync for acks=all, data for a long-poll fetch, coordinators.
    Remote,
    /// `ResponseQueueTimeMs`: a ready response waiting behind earlier responses of its connection.
    ResponseQueue,
    /// `ResponseSendTimeMs`: writing the response to the socket.
    ResponseSend,
}

impl Phase {
    pub const ALL: [Phase; 6] = [
        Phase::Total,
        Phase::RequestQueue,
        Phase::Local,
        Phase::Remote,
        Phase::ResponseQueue,
        Phase::ResponseSend,
    ];

    /// The metric name as the JMX exporter writes Kafka's (`TotalTimeMs` → `totaltimems`).
    pub fn metric(self) -> &'static str {
        match self {
            Phase::Total => "kafka_network_requestmetrics_totaltimems",
            Phase::RequestQueue => "kafka_network_requestmetrics_requestqueuetimems",
            Phase::Local => "kafka_network_requestmetrics_localtimems",
            Phase::Remote => "kafka_network_requestmetrics_remotetimems",
            Phase::ResponseQueue => "kafka_network_requestmetrics_responsequeuetimems",
            Phase::ResponseSend => "kafka_network_requestmetrics_responsesendtimems",
        }
    }
}

/// Request versions counted apart (Kafka tags RequestsPerSec with the version).
const VERSIONS: usize = 20;
/// API keys are below this; one more slot holds follower fetches.
const API_SLOTS: usize = 128;
/// Kafka counts a follower's Fetch as `FetchFollower`, a consumer's as `FetchConsumer`.
pub(crate) const FETCH_FOLLOWER_SLOT: usize = API_SLOTS;

#[derive(Default)]
pub(crate) struct RequestMetrics {
    requests: [AtomicU64; VERSIONS],
    phases: [Histogram; 6],
}

impl RequestMetrics {
    pub fn requests(&self, version: usize) -> u64 {
        self.requests[version.min(VERSIONS - 1)].load(Ordering::Relaxed)
    }

    pub fn phase(&self, phase: Phase) -> &Histogram {
        &self.phases[phase as usize]
    }
}

/// When a request went through each step on its connection.
#[derive(Clone, Copy)]
pub(crate) struct RequestTiming {
    /// The slot of its API key ([`FETCH_FOLLOWER_SLOT`] for a follower's Fetch); `None` when not measured.
    pub slot: Option<usize>,
    pub version: i16,
    pub received: Instant,
    pub dispatched: Instant,
    pub handled: Instant,
}

/// Everything the hot paths count into; shared by the broker's parts.
pub(crate) struct BrokerMetrics {
    /// Whether request phases are timed (`strom.metrics.listener` set):
    /// without an endpoint nobody reads them, and the clock reads are saved.
    timing: AtomicBool,
    all_topics: Arc<TopicCounters>,
    topics: parking_lot::Mutex<HashMap<Arc<str>, Arc<TopicMetrics>>>,
    requests: Vec<RequestMetrics>,
    /// `LogFlushRateAndTimeMs`: every fsync of a partition log.
    pub log_flush: Arc<Histogram>,
}

impl Default for BrokerMetrics {
    fn default() -> Self {
        BrokerMetrics {
            timing: AtomicBool::new(false),
            all_topics: Arc::default(),
            topics: parking_lot::Mutex::default(),
            requests: (0..=API_SLOTS).map(|_| RequestMetrics::default()).collect(),
            log_flush: Arc::default(),
        }
    }
}

impl BrokerMetrics {
    pub fn set_timing(&self, on: bool) {
        self.timing.store(on, Ordering::Relaxed);
    }

    pub fn timing(&self) -> bool {
        self.timing.load(Ordering::Relaxed)
    }

    /// The counters of `topic`, created on first use. Called when a
    /// partition is opened, never per request.
    pub fn topic(&self, topic: &Arc<str>) -> Arc<TopicMetrics> {
        self.topics
            .lock()
            .entry(topic.clone())
            .or_insert_with(|| {
                Arc::new(TopicMetrics {
                    topic: TopicCounters::default(),
                    all: self.all_topics.clone(),
                    log_flush: self.log_flush.clone(),
                })
            })
            .clone()
    }

    pub fn all_topics(&self) -> &TopicCounters {
        &self.all_topics
    }

    /// Topics with their counters, sorted; a topic no partition here holds
    /// any more (deleted, moved away) is forgotten, as Kafka removes its meters.
    pub fn topics(&self) -> Vec<(Arc<str>, Arc<TopicMetrics>)> {
        let mut topics = self.topics.lock();
        topics.retain(|_, m| Arc::strong_count(m) > 1);
        let mut out: Vec<_> = topics
            .iter()
            .map(|(name, m)| (name.clone(), m.clone()))
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// Slots with their request metrics; the slot is the API key, or [`FETCH_FOLLOWER_SLOT`].
    pub fn requests(&self) -> impl Iterator<Item = (usize, &RequestMetrics)> {
        self.requests.iter().enumerate()
    }

    /// A request's response went out (or, with acks=0, there was none).
    pub fn request_done(
        &self,
        timing: &RequestTiming,
        picked_up: Instant,
        ready: Instant,
        sent: Instant,
    ) {
        let Some(slot) = timing.slot else { return };
        let Some(m) = self.requests.get(slot) else {
            return;
        };
        let version = usize::try_from(timing.version)
            .unwrap_or(0)
            .min(VERSIONS - 1);
        m.requests[version].fetch_add(1, Ordering::Relaxed);
        let between = |from: Instant, to: Instant| to.saturating_duration_since(from);
        // A reply completing later starts its wait when the writer reaches it
        // (its future runs from there): waiting behind earlier replies is the
        // response queue, the future's own wait the remote time.
        let queue_end = picked_up.max(timing.handled);
        let phases: [Duration; 6] = [
            between(timing.received, sent),
            between(timing.received, timing.dispatched),
            between(timing.dispatched, timing.handled),
            between(queue_end, ready),
            between(timing.handled, queue_end),
            between(ready, sent),
        ];
        for (histogram, elapsed) in m.phases.iter().zip(phases) {
            histogram.observe(elapsed);
        }
    }
}

/// What `/health/ready` answers: the broker has loaded its logs, registered
/// with the controller and been unfenced, and is serving clients.
#[derive(Default)]
pub(crate) struct Health {
    serving: AtomicBool,
    stopping: AtomicBool,
}

impl Health {
    pub fn set_serving(&self) {
        self.serving.store(true, Ordering::Release);
    }

    pub fn set_stopping(&self) {
        self.stopping.store(true, Ordering::Release);
    }

    pub fn serving(&self) -> bool {
        self.serving.load(Ordering::Acquire) && !self.stopping.load(Ordering::Acquire)
    }
}
