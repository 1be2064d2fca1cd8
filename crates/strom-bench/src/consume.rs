//! The consume benchmark.
//!
//! Partitions are assigned by hand from `OFFSET_BEGINNING` and offsets are never committed, so
//! the run needs only Metadata, ListOffsets and Fetch from the broker, not the group protocol.
//! librdkafka still insists on a `group.id`; it is set and left unused.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};

use crate::cli::ConsumeArgs;
use crate::client_log::{self, LoggingContext};
use crate::progress::Progress;
use crate::summary::Summary;
use crate::topic;

const POLL_TIMEOUT: Duration = Duration::from_millis(100);
const FETCH_QUEUE_BACKOFF_MS: &str = "1";

pub fn run(args: &ConsumeArgs) -> anyhow::Result<Summary> {
    let consumer: BaseConsumer<LoggingContext> = consumer_config(args)
        .create_with_context(LoggingContext::default())
        .context("creating the consumer (check --consumer-props)")?;
    let view = topic::wait_until_ready(consumer.client(), &args.topic, None)
        .with_context(|| format!("waiting for topic {:?} (produce to it first)", args.topic))?;
    let mut assignment = TopicPartitionList::new();
    for partition in &view.partitions {
        assignment
            .add_partition_offset(&args.topic, partition.id, Offset::Beginning)
            .context("building the partition assignment")?;
    }
    consumer
        .assign(&assignment)
        .context("assigning partitions")?;
    eprintln!(
        "consuming {} records from {:?} ({} partitions), {}",
        args.records,
        args.topic,
        view.partitions.len(),
        args.isolation_level.as_config()
    );

    let consumed = Arc::new(AtomicU64::new(0));
    let progress = {
        let consumed = Arc::clone(&consumed);
        Progress::start("consume", args.records, move || {
            consumed.load(Ordering::Relaxed)
        })
    };
    let idle_timeout = Duration::from_millis(args.timeout_ms);
    let start = Instant::now();
    let mut last_record = start;
    let mut first_record = None;
    let mut records = 0u64;
    let mut bytes = 0u64;
    while records < args.records {
        match consumer.poll(POLL_TIMEOUT) {
            Some(Ok(message)) => {
                records += 1;
                bytes += (message.payload_len() + message.key().map_or(0, <[u8]>::len)) as u64;
                consumed.store(records, Ordering::Relaxed);
                last_record = Instant::now();
                first_record.get_or_insert(last_record);
            }
            Some(Err(e)) => bail!("consuming failed after {records} records: {e}"),
            None if last_record.elapsed() >= idle_timeout => bail!(
                "no record for {idle_timeout:?} after {records} of {} records; the topic may hold fewer \
                 (see librdkafka's messages above if not)",
                args.records
            ),
            None => {}
        }
    }
    let elapsed = start.elapsed();
    progress.finish();
    let summary = Summary::new("consume", &args.topic, records, bytes, elapsed)
        .with_isolation_level(args.isolation_level.as_config());
    Ok(match first_record {
        Some(first) => summary.with_first_record_after(first.duration_since(start)),
        None => summary,
    })
}

fn consumer_config(args: &ConsumeArgs) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", &args.bootstrap_servers)
        .set("group.id", &args.group_id)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        // librdkafka pauses fetching for fetch.queue.backoff.ms (default 1000) whenever its
        // prefetch queue (queued.min.messages) is full, i.e. whenever this loop is briefly
        // behind. That idles the run for whole seconds and measures the client's backoff rather
        // than the broker (1M records: 1.7 s with the default, 0.7 s with 1 ms).
        .set("fetch.queue.backoff.ms", FETCH_QUEUE_BACKOFF_MS)
        // Always explicit: librdkafka's default (read_committed) is not Kafka's (read_uncommitted).
        .set("isolation.level", args.isolation_level.as_config())
        .set_log_level(client_log::log_level_for(&args.consumer_props));
    for (key, value) in &args.consumer_props {
        config.set(key, value);
    }
    config
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    use crate::cli::{Cli, Command};

    #[test]
    fn the_consumer_never_commits_and_extra_props_apply() {
        let argv = [
            "strom-bench",
            "consume",
            "--consumer-props",
            "fetch.max.bytes=1048576",
        ];
        let Command::Consume(args) = Cli::try_parse_from(argv)
            .expect("valid command line")
            .command
        else {
            panic!("expected consume")
        };
        let config = consumer_config(&args);
        assert_eq!(config.get("enable.auto.commit"), Some("false"));
        assert_eq!(config.get("enable.auto.offset.store"), Some("false"));
        assert_eq!(config.get("group.id"), Some("strom-bench"));
        assert_eq!(config.get("fetch.queue.backoff.ms"), Some("1"));
        assert_eq!(config.get("fetch.max.bytes"), Some("1048576"));
        assert_eq!(config.get("isolation.level"), Some("read_uncommitted"));
    }
}
