//! The produce benchmark.
//!
//! Latency is per record, from enqueue (or, with `--rate`, from the scheduled send time) to its
//! delivery report. The start timestamp travels with the record as librdkafka's per-message
//! opaque (a pointer-sized integer, nanoseconds since the producer's clock origin), so there is
//! no per-record allocation and no shared table to index: the delivery callback reads the
//! timestamp straight from the report.
//!
//! A `ThreadedProducer` serves delivery reports on its own thread, so reports are timed as soon
//! as librdkafka has them rather than whenever the sending loop gets round to polling.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use parking_lot::{Condvar, Mutex};
use rdkafka::client::ClientContext;
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::error::KafkaError;
use rdkafka::producer::{
    BaseRecord, DeliveryResult, Producer, ProducerContext, PurgeConfig, ThreadedProducer,
};
use rdkafka::types::RDKafkaErrorCode;

use crate::cli::ProduceArgs;
use crate::client_log::{self, ErrorPrinter};
use crate::latency::LatencyHistogram;
use crate::pacer::Pacer;
use crate::payload::{Keys, Payload};
use crate::progress::Progress;
use crate::summary::{ProduceDetails, Summary, TransactionDetails};
use crate::topic;
use crate::transactions::TransactionClock;

/// How long the sending loop waits for the delivery-report thread to free queue space when
/// librdkafka's queue is full.
const QUEUE_FULL_BACKOFF: Duration = Duration::from_millis(1);
/// Extra time beyond `delivery.timeout.ms` to wait for the last reports before giving up.
const SETTLE_MARGIN: Duration = Duration::from_secs(5);
const PAYLOAD_SEED: u64 = 0x5712_0b3e_0c4a_11d7;

pub fn run(args: &ProduceArgs) -> anyhow::Result<Summary> {
    let transactions = args.transactions().map_err(anyhow::Error::msg)?;
    if args.create_topic {
        topic::create(
            &args.bootstrap_servers,
            &args.topic,
            args.partitions,
            args.replication_factor,
            &args.producer_props,
        )?;
    }
    let tracker = Arc::new(DeliveryTracker::new());
    let producer: ThreadedProducer<TrackingContext> = producer_config(args)
        .create_with_context(TrackingContext {
            tracker: Arc::clone(&tracker),
            errors: ErrorPrinter::default(),
        })
        .context("creating the producer (check --producer-props)")?;
    // Connects and caches the topic's metadata before the clock starts.
    let view =
        topic::wait_until_ready(producer.client(), &args.topic, None).with_context(|| {
            format!(
                "waiting for topic {:?} (pass --create-topic if it does not exist)",
                args.topic
            )
        })?;
    let txn_timeout = Duration::from_millis(args.transaction_timeout_ms);
    if let Some((id, every)) = transactions {
        producer
            .init_transactions(txn_timeout)
            .with_context(|| format!("init_transactions for transactional.id {id:?}"))?;
        eprintln!(
            "transactional.id {id:?}: committing every {} records / {} ms",
            every.records.map_or("-".into(), |n| n.to_string()),
            every.ms.map_or("-".into(), |ms| ms.to_string())
        );
    }
    eprintln!(
        "producing {} records of {} bytes to {:?} ({} partitions), acks={}, compression={}",
        args.records,
        args.record_size,
        args.topic,
        view.partitions.len(),
        args.acks.as_config(),
        args.compression.as_config()
    );

    let payload = Payload::new(args.record_size, PAYLOAD_SEED);
    let mut keys = (args.key_size > 0).then(|| Keys::new(args.key_size, PAYLOAD_SEED));
    let pacer = Pacer::new(args.rate);
    let progress = {
        let tracker = Arc::clone(&tracker);
        Progress::start("produce", args.records, move || tracker.settled())
    };

    let start = Instant::now();
    let mut clock = transactions.map(|(_, every)| TransactionClock::new(every, start));
    if clock.is_some() {
        producer.begin_transaction().context("begin_transaction")?;
    }
    let mut sent = 0u64;
    while sent < args.records && tracker.failed.load(Ordering::Relaxed) == 0 {
        if let Some(wait) = pacer.and_then(|p| p.wait_before(sent, start.elapsed())) {
            thread::sleep(wait);
        }
        let value = payload.value(sent);
        let key = keys.as_mut().map(|k| k.key(sent));
        loop {
            let origin = match pacer {
                Some(p) => tracker.nanos_since_origin_at(start + p.due_at(sent)),
                None => tracker.nanos_since_origin_at(Instant::now()),
            };
            let mut record = BaseRecord::with_opaque_to(&args.topic, origin).payload(value);
            if let Some(key) = key {
                record = record.key(key);
            }
            match producer.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    producer.poll(QUEUE_FULL_BACKOFF);
                }
                Err((e, _)) => bail!("enqueueing record {sent} failed: {e}"),
            }
        }
        sent += 1;
        if let Some(clock) = clock.as_mut() {
            clock.added_record();
            if clock.due(Instant::now()) {
                commit(&producer, clock, txn_timeout)?;
                if sent < args.records {
                    producer.begin_transaction().context("begin_transaction")?;
                    clock.begun(Instant::now());
                }
            }
        }
    }
    if let Some(clock) = clock.as_mut() {
        if clock.open_records() > 0 && tracker.failed.load(Ordering::SeqCst) == 0 {
            commit(&producer, clock, txn_timeout)?;
        }
    }

    if tracker.failed.load(Ordering::SeqCst) > 0 {
        // The run has failed; records still queued would only time out one by one.
        producer.purge(PurgeConfig::default().queue());
    }
    let settle_timeout = Duration::from_millis(args.delivery_timeout_ms) + SETTLE_MARGIN;
    let all_settled = tracker.wait_until_settled(sent, settle_timeout);
    let elapsed = start.elapsed();
    progress.finish();
    if let Some(error) = tracker.first_error.lock().take() {
        let failed = tracker.failed.load(Ordering::Relaxed);
        bail!("{failed} of {sent} records failed delivery; the first error: {error}");
    }
    if !all_settled {
        bail!(
            "only {} of {sent} records had a delivery report after {settle_timeout:?}; see librdkafka's messages above",
            tracker.settled()
        );
    }
    if let Err(e) = producer.flush(Duration::from_secs(10)) {
        eprintln!("strom-bench: flush after the last delivery report: {e}");
    }

    let latency = tracker
        .histogram
        .lock()
        .percentiles()
        .context("no delivery latency was recorded (zero records?)")?;
    let bytes = sent * (args.record_size + args.key_size) as u64;
    let details = ProduceDetails::new(
        args.acks.as_config(),
        args.compression.as_config(),
        args.record_size,
        args.rate,
        latency,
    );
    let summary = Summary::new("produce", &args.topic, sent, bytes, elapsed).with_produce(details);
    Ok(
        match clock
            .as_ref()
            .and_then(|c| Some((c.count(), c.commit_percentiles()?)))
        {
            Some((count, commit)) => {
                summary.with_transactions(TransactionDetails::new(count, elapsed, commit))
            }
            None => summary,
        },
    )
}

/// Commits the open transaction (librdkafka first delivers its records) and times it. A failed
/// commit ends the run: the benchmark measures transactions that work.
fn commit<C: ProducerContext>(
    producer: &ThreadedProducer<C>,
    clock: &mut TransactionClock,
    timeout: Duration,
) -> anyhow::Result<()> {
    let began = Instant::now();
    // rust-rdkafka's commit first flushes, and its flush polls the event queue
    // for up to 100 ms at a time while this producer's own thread serves the
    // delivery reports: the wait would cost ~100 ms per commit. Waiting here
    // for the records to be delivered lets that flush return at once.
    while producer.in_flight_count() > 0 && began.elapsed() < timeout {
        std::thread::sleep(Duration::from_micros(200));
    }
    producer.commit_transaction(timeout).with_context(|| {
        format!(
            "commit_transaction of transaction {} ({} records)",
            clock.count() + 1,
            clock.open_records()
        )
    })?;
    clock.committed(began.elapsed());
    Ok(())
}

fn producer_config(args: &ProduceArgs) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", &args.bootstrap_servers)
        .set("acks", args.acks.as_config())
        .set("compression.type", args.compression.as_config())
        .set("linger.ms", args.linger_ms.to_string())
        .set("batch.size", args.batch_size.to_string())
        .set("delivery.timeout.ms", args.delivery_timeout_ms.to_string())
        .set_log_level(client_log::log_level_for(&args.producer_props));
    if let Some(id) = &args.transactional_id {
        // librdkafka refuses a delivery timeout above the transaction timeout.
        config
            .set("transactional.id", id)
            .set(
                "transaction.timeout.ms",
                args.transaction_timeout_ms.to_string(),
            )
            .set(
                "delivery.timeout.ms",
                args.delivery_timeout_ms
                    .min(args.transaction_timeout_ms)
                    .to_string(),
            );
    }
    for (key, value) in &args.producer_props {
        config.set(key, value);
    }
    config
}

/// Delivery outcomes shared between the delivery-report thread, the progress thread and the
/// sending loop.
struct DeliveryTracker {
    /// Origin of the nanosecond timestamps carried in each record's opaque.
    origin: Instant,
    histogram: Mutex<LatencyHistogram>,
    delivered: AtomicU64,
    failed: AtomicU64,
    first_error: Mutex<Option<String>>,
    /// Settled count the sending loop is waiting for; `u64::MAX` while it is still sending.
    settle_target: AtomicU64,
    settle_lock: Mutex<()>,
    settled_signal: Condvar,
}

impl DeliveryTracker {
    fn new() -> DeliveryTracker {
        DeliveryTracker {
            origin: Instant::now(),
            histogram: Mutex::new(LatencyHistogram::new()),
            delivered: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            first_error: Mutex::new(None),
            settle_target: AtomicU64::new(u64::MAX),
            settle_lock: Mutex::new(()),
            settled_signal: Condvar::new(),
        }
    }

    fn nanos_since_origin_at(&self, at: Instant) -> usize {
        usize::try_from(at.saturating_duration_since(self.origin).as_nanos()).unwrap_or(usize::MAX)
    }

    /// Records that got a delivery report, successful or not.
    fn settled(&self) -> u64 {
        self.delivered.load(Ordering::SeqCst) + self.failed.load(Ordering::SeqCst)
    }

    fn on_delivery(&self, result: Result<(), String>, origin_nanos: usize) {
        match result {
            Ok(()) => {
                let now = self.origin.elapsed();
                let sent_at = Duration::from_nanos(origin_nanos as u64);
                self.histogram.lock().record(now.saturating_sub(sent_at));
                self.delivered.fetch_add(1, Ordering::SeqCst);
            }
            Err(error) => {
                self.first_error.lock().get_or_insert(error);
                self.failed.fetch_add(1, Ordering::SeqCst);
            }
        }
        // SeqCst on both sides: either this load sees the target, or the waiter's check (which
        // follows its store of the target) sees the increment above.
        if self.settled() >= self.settle_target.load(Ordering::SeqCst) {
            let _guard = self.settle_lock.lock();
            self.settled_signal.notify_all();
        }
    }

    /// Waits until `sent` records have a delivery report; false on timeout.
    fn wait_until_settled(&self, sent: u64, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        self.settle_target.store(sent, Ordering::SeqCst);
        let mut guard = self.settle_lock.lock();
        while self.settled() < sent {
            if self
                .settled_signal
                .wait_until(&mut guard, deadline)
                .timed_out()
            {
                return self.settled() >= sent;
            }
        }
        true
    }
}

/// The producer's context: forwards delivery reports to the tracker and librdkafka's logs to
/// stderr.
struct TrackingContext {
    tracker: Arc<DeliveryTracker>,
    errors: ErrorPrinter,
}

impl ClientContext for TrackingContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        client_log::print_log(level, fac, log_message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self.errors.print(&error, reason);
    }
}

impl ProducerContext for TrackingContext {
    type DeliveryOpaque = usize;

    fn delivery(&self, delivery_result: &DeliveryResult<'_>, origin_nanos: usize) {
        let result = match delivery_result {
            Ok(_) => Ok(()),
            Err((error, _)) => Err(error.to_string()),
        };
        self.tracker.on_delivery(result, origin_nanos);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    use crate::cli::{Cli, Command};

    fn produce_args(extra: &[&str]) -> ProduceArgs {
        let argv = ["strom-bench", "produce"]
            .into_iter()
            .chain(extra.iter().copied());
        match Cli::try_parse_from(argv)
            .expect("valid command line")
            .command
        {
            Command::Produce(args) => args,
            Command::Consume(_) => panic!("expected produce"),
        }
    }

    #[test]
    fn flags_become_librdkafka_properties_and_extra_props_win() {
        let args = produce_args(&[
            "--acks",
            "all",
            "--compression",
            "zstd",
            "--linger-ms",
            "20",
            "--producer-props",
            "linger.ms=0",
        ]);
        let config = producer_config(&args);
        assert_eq!(config.get("acks"), Some("all"));
        assert_eq!(config.get("compression.type"), Some("zstd"));
        assert_eq!(config.get("batch.size"), Some("1000000"));
        assert_eq!(config.get("linger.ms"), Some("0"));
        assert_eq!(config.get("bootstrap.servers"), Some("127.0.0.1:9092"));
    }

    #[test]
    fn a_transactional_run_sets_the_id_and_keeps_delivery_within_the_transaction_timeout() {
        let args = produce_args(&[
            "--acks",
            "all",
            "--transactional-id",
            "bench-txn",
            "--transaction-ms",
            "100",
            "--transaction-timeout-ms",
            "10000",
        ]);
        let config = producer_config(&args);
        assert_eq!(config.get("transactional.id"), Some("bench-txn"));
        assert_eq!(config.get("transaction.timeout.ms"), Some("10000"));
        assert_eq!(config.get("delivery.timeout.ms"), Some("10000"));
        let plain = producer_config(&produce_args(&[]));
        assert_eq!(plain.get("transactional.id"), None);
        assert_eq!(plain.get("delivery.timeout.ms"), Some("120000"));
    }

    #[test]
    fn a_transactional_run_without_acks_all_fails_before_connecting() {
        let args = produce_args(&[
            "--bootstrap-servers",
            "127.0.0.1:1",
            "--transactional-id",
            "t",
            "--transaction-records",
            "10",
        ]);
        let err = run(&args).expect_err("acks=1 with a transactional id");
        assert!(err.to_string().contains("--acks all"), "{err:#}");
    }

    #[test]
    fn a_delivered_record_is_timed_from_its_origin() {
        let tracker = DeliveryTracker::new();
        tracker.on_delivery(Ok(()), 0);
        assert_eq!(tracker.delivered.load(Ordering::SeqCst), 1);
        assert_eq!(tracker.histogram.lock().len(), 1);
    }

    #[test]
    fn the_first_delivery_error_is_kept() {
        let tracker = DeliveryTracker::new();
        tracker.on_delivery(Err("Message timed out".into()), 0);
        tracker.on_delivery(Err("Broker: Not leader".into()), 0);
        assert_eq!(tracker.failed.load(Ordering::SeqCst), 2);
        assert_eq!(
            tracker.first_error.lock().as_deref(),
            Some("Message timed out")
        );
        assert_eq!(tracker.histogram.lock().len(), 0);
    }

    #[test]
    fn waiting_for_reports_already_received_returns_at_once() {
        let tracker = DeliveryTracker::new();
        tracker.on_delivery(Ok(()), 0);
        tracker.on_delivery(Err("x".into()), 0);
        assert!(tracker.wait_until_settled(2, Duration::ZERO));
        assert!(!tracker.wait_until_settled(3, Duration::ZERO));
    }

    #[test]
    fn a_waiter_is_woken_by_the_last_report_from_another_thread() {
        let tracker = Arc::new(DeliveryTracker::new());
        let reporter = {
            let tracker = Arc::clone(&tracker);
            thread::spawn(move || {
                for _ in 0..1000 {
                    tracker.on_delivery(Ok(()), 0);
                }
            })
        };
        assert!(tracker.wait_until_settled(1000, Duration::from_secs(60)));
        reporter.join().expect("reporter thread");
        assert_eq!(tracker.settled(), 1000);
    }
}
