//! `strom perf produce|consume`: kafka-producer-perf-test.sh and
//! kafka-consumer-perf-test.sh over strom-client (not librdkafka), with
//! their output formats: a progress line every 5 seconds and a summary
//! with latency percentiles (produce), or the consumer tool's CSV line.

use std::collections::VecDeque;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use clap::{Args, Subcommand};
use strom_client::{Consumer, Delivery, Producer, ProducerRecord, StartOffset, TopicPartition};
use tokio::time::Instant;

use crate::admin_cli::{emit, run_command, Connection};
use crate::consume::consumer_config;
use crate::produce::producer_config;

const REPORT_INTERVAL: Duration = Duration::from_secs(5);
/// Deliveries awaited at most this far behind the last record sent.
const MAX_PENDING: usize = 100_000;

#[derive(Args)]
pub struct PerfArgs {
    #[command(flatten)]
    connection: Connection,
    #[command(subcommand)]
    command: PerfCommand,
}

#[derive(Subcommand)]
enum PerfCommand {
    /// Produce records as fast as allowed and report throughput and latency, as kafka-producer-perf-test.sh.
    Produce {
        #[arg(long, short = 't')]
        topic: String,
        /// How many records to send.
        #[arg(long)]
        num_records: u64,
        /// Bytes per record value.
        #[arg(long, default_value_t = 100)]
        record_size: usize,
        /// Records per second at most; -1 for no limit.
        #[arg(long, default_value_t = -1, allow_hyphen_values = true)]
        throughput: i64,
        /// Producer configs: KEY=VALUE (acks, linger.ms, batch.size, compression.type, ...).
        #[arg(long = "producer-props", value_name = "KEY=VALUE", num_args = 1..)]
        producer_props: Vec<String>,
    },
    /// Read records as fast as possible and report throughput, as kafka-consumer-perf-test.sh.
    Consume {
        #[arg(long, short = 't')]
        topic: String,
        /// How many records to read.
        #[arg(long)]
        messages: u64,
        /// Stop after this many milliseconds without a record.
        #[arg(long, default_value_t = 10_000)]
        timeout: u64,
        /// Start at the log end instead of the beginning.
        #[arg(long)]
        from_latest: bool,
        /// Leave out the header line.
        #[arg(long)]
        hide_header: bool,
        /// Consumer configs: KEY=VALUE (fetch.max.bytes, max.partition.fetch.bytes, ...).
        #[arg(long = "consumer-property", value_name = "KEY=VALUE")]
        consumer_props: Vec<String>,
    },
}

pub fn run(args: PerfArgs) -> ExitCode {
    run_command(perf(args))
}

async fn perf(args: PerfArgs) -> Result<ExitCode, String> {
    match args.command {
        PerfCommand::Produce {
            topic,
            num_records,
            record_size,
            throughput,
            producer_props,
        } => {
            let acks = producer_props
                .iter()
                .find_map(|p| p.strip_prefix("acks="))
                .unwrap_or("all")
                .to_owned();
            let compression = producer_props
                .iter()
                .find_map(|p| p.strip_prefix("compression.type="))
                .unwrap_or("none")
                .to_owned();
            let config = producer_config(&args.connection, &acks, &compression, &producer_props)?;
            produce(
                &args.connection,
                config,
                &topic,
                num_records,
                record_size,
                throughput,
            )
            .await
        }
        PerfCommand::Consume {
            topic,
            messages,
            timeout,
            from_latest,
            hide_header,
            consumer_props,
        } => {
            let config = consumer_config(&args.connection, None, &consumer_props)?;
            consume(
                config,
                &topic,
                messages,
                Duration::from_millis(timeout),
                from_latest,
                hide_header,
            )
            .await
        }
    }
}

/// Latencies and sizes of one reporting window or the whole run.
#[derive(Default)]
struct Stats {
    count: u64,
    bytes: u64,
    latency_sum_ms: f64,
    latency_max_ms: f64,
}

impl Stats {
    fn record(&mut self, bytes: usize, latency_ms: f64) {
        self.count += 1;
        self.bytes += bytes as u64;
        self.latency_sum_ms += latency_ms;
        self.latency_max_ms = self.latency_max_ms.max(latency_ms);
    }

    fn rates(&self, elapsed: Duration) -> (f64, f64, f64) {
        let secs = elapsed.as_secs_f64().max(1e-9);
        let per_sec = self.count as f64 / secs;
        let mb_per_sec = self.bytes as f64 / secs / (1024.0 * 1024.0);
        let avg = if self.count == 0 {
            0.0
        } else {
            self.latency_sum_ms / self.count as f64
        };
        (per_sec, mb_per_sec, avg)
    }
}

/// Kafka's window line: `%d records sent, %.1f records/sec (%.2f MB/sec),
/// %.1f ms avg latency, %.1f ms max latency.`
fn window_line(s: &Stats, elapsed: Duration) -> String {
    let (per_sec, mb, avg) = s.rates(elapsed);
    format!(
        "{} records sent, {per_sec:.1} records/sec ({mb:.2} MB/sec), {avg:.1} ms avg latency, {:.1} ms max latency.\n",
        s.count, s.latency_max_ms
    )
}

/// Kafka's summary line, with the 50th, 95th, 99th and 99.9th percentiles.
fn summary_line(s: &Stats, elapsed: Duration, latencies: &mut [u32]) -> String {
    let (per_sec, mb, avg) = s.rates(elapsed);
    latencies.sort_unstable();
    let pct = |p: f64| -> u32 {
        if latencies.is_empty() {
            return 0;
        }
        let i = ((p * latencies.len() as f64) as usize).min(latencies.len() - 1);
        latencies[i]
    };
    format!(
        "{} records sent, {per_sec:.6} records/sec ({mb:.2} MB/sec), {avg:.2} ms avg latency, {:.2} ms max latency, {} ms 50th, {} ms 95th, {} ms 99th, {} ms 99.9th.\n",
        s.count,
        s.latency_max_ms,
        pct(0.5),
        pct(0.95),
        pct(0.99),
        pct(0.999)
    )
}

async fn produce(
    connection: &Connection,
    config: strom_client::ProducerConfig,
    topic: &str,
    num_records: u64,
    record_size: usize,
    throughput: i64,
) -> Result<ExitCode, String> {
    let producer = Producer::connect(config).await.map_err(|e| {
        format!(
            "{e}; check that {} is a broker of the cluster (--bootstrap-server or STROM_BOOTSTRAP)",
            connection.bootstrap_server
        )
    })?;
    // Kafka's tool sends random uppercase letters; a fixed pattern of them
    // compresses the same way (badly enough to be honest).
    let payload = Bytes::from(
        (0..record_size)
            .map(|i| b'A' + ((i * 7 + i / 26) % 26) as u8)
            .collect::<Vec<u8>>(),
    );
    let start = Instant::now();
    let mut total = Stats::default();
    let mut window = Stats::default();
    let mut window_start = start;
    let mut latencies: Vec<u32> = Vec::with_capacity(num_records.min(10_000_000) as usize);
    let mut pending: VecDeque<(Instant, Delivery)> = VecDeque::new();
    let mut first_error: Option<String> = None;
    let mut errors = 0u64;
    let mut settle = |sent_at: Instant,
                      result: Result<strom_client::RecordMetadata, strom_client::Error>,
                      total: &mut Stats,
                      window: &mut Stats,
                      latencies: &mut Vec<u32>| {
        match result {
            Ok(_) => {
                let ms = sent_at.elapsed().as_secs_f64() * 1000.0;
                total.record(record_size, ms);
                window.record(record_size, ms);
                latencies.push(ms as u32);
            }
            Err(e) => {
                errors += 1;
                if first_error.is_none() {
                    first_error = Some(e.to_string());
                }
            }
        }
    };
    for i in 0..num_records {
        if throughput > 0 {
            let due = start + Duration::from_secs_f64(i as f64 / throughput as f64);
            if due > Instant::now() {
                tokio::time::sleep_until(due).await;
            }
        }
        let record = ProducerRecord {
            topic: topic.to_owned(),
            value: Some(payload.clone()),
            ..ProducerRecord::default()
        };
        let sent_at = Instant::now();
        pending.push_back((sent_at, producer.send(record).await));
        while pending.len() > MAX_PENDING {
            if let Some((t, d)) = pending.pop_front() {
                settle(t, d.await, &mut total, &mut window, &mut latencies);
            }
        }
        // Settle what is already acknowledged, so latencies are measured
        // close to when acknowledgements arrive.
        while pending.len() > 1 {
            let Some((_, front)) = pending.front_mut() else {
                break;
            };
            match futures_poll_now(front) {
                None => break,
                Some(result) => {
                    if let Some((t, _)) = pending.pop_front() {
                        settle(t, result, &mut total, &mut window, &mut latencies);
                    }
                }
            }
        }
        if window_start.elapsed() >= REPORT_INTERVAL {
            emit(&window_line(&window, window_start.elapsed()));
            window = Stats::default();
            window_start = Instant::now();
        }
    }
    producer.flush().await;
    for (t, d) in pending {
        settle(t, d.await, &mut total, &mut window, &mut latencies);
    }
    let elapsed = start.elapsed();
    producer.close().await;
    emit(&summary_line(&total, elapsed, &mut latencies));
    match first_error {
        None => Ok(ExitCode::SUCCESS),
        Some(e) => Err(format!(
            "{errors} of {num_records} records failed; the first: {e}"
        )),
    }
}

/// The delivery's outcome if it is already known, without waiting.
fn futures_poll_now(
    d: &mut Delivery,
) -> Option<Result<strom_client::RecordMetadata, strom_client::Error>> {
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    match std::future::Future::poll(std::pin::Pin::new(d), &mut cx) {
        std::task::Poll::Ready(r) => Some(r),
        std::task::Poll::Pending => None,
    }
}

async fn consume(
    config: strom_client::ConsumerConfig,
    topic: &str,
    messages: u64,
    timeout: Duration,
    from_latest: bool,
    hide_header: bool,
) -> Result<ExitCode, String> {
    let start_wall = SystemTime::now();
    let start = Instant::now();
    let bootstrap = config.bootstrap_server.clone();
    let hint = |e: strom_client::Error| {
        format!(
            "{e}; check that {bootstrap} is a broker of the cluster and that topic {topic} exists"
        )
    };
    let mut consumer = Consumer::connect(config).await.map_err(hint)?;
    let partitions = consumer.partitions(topic).await.map_err(hint)?;
    let from = if from_latest {
        StartOffset::Latest
    } else {
        StartOffset::Earliest
    };
    let assignment: Vec<(TopicPartition, StartOffset)> = partitions
        .into_iter()
        .map(|p| (TopicPartition::new(topic, p), from))
        .collect();
    consumer.assign(&assignment).await.map_err(hint)?;
    let fetch_start = Instant::now();
    let mut count = 0u64;
    let mut bytes = 0u64;
    let mut last_record = Instant::now();
    while count < messages && last_record.elapsed() < timeout {
        let records = consumer
            .poll(Duration::from_millis(500))
            .await
            .map_err(hint)?;
        if !records.is_empty() {
            last_record = Instant::now();
        }
        for r in records {
            if count >= messages {
                break;
            }
            count += 1;
            bytes += r.value.as_ref().map_or(0, |v| v.len()) as u64
                + r.key.as_ref().map_or(0, |k| k.len()) as u64;
        }
    }
    let end_wall = SystemTime::now();
    let total = start.elapsed().as_secs_f64().max(1e-9);
    let fetch = fetch_start.elapsed().as_secs_f64().max(1e-9);
    let mb = bytes as f64 / (1024.0 * 1024.0);
    let mut out = String::new();
    if !hide_header {
        out.push_str("start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec\n");
    }
    out.push_str(&format!(
        "{}, {}, {mb:.4}, {:.4}, {count}, {:.4}, {}, {}, {:.4}, {:.4}\n",
        wall_time(start_wall),
        wall_time(end_wall),
        mb / total,
        count as f64 / total,
        (fetch_start - start).as_millis(),
        (fetch * 1000.0) as u64,
        mb / fetch,
        count as f64 / fetch,
    ));
    emit(&out);
    if count < messages {
        return Err(format!(
            "read {count} of {messages} records: none arrived for {} ms (--timeout); the topic may hold fewer",
            timeout.as_millis()
        ));
    }
    Ok(ExitCode::SUCCESS)
}

/// `yyyy-MM-dd HH:mm:ss:SSS` in UTC, the consumer perf tool's date format.
fn wall_time(t: SystemTime) -> String {
    let ms = t
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let (days, rem) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}:{:03}",
        rem / 3_600_000,
        rem / 60_000 % 60,
        rem / 1000 % 60,
        rem % 1000
    )
}

/// Howard Hinnant's civil_from_days.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_follow_kafkas_perf_tool_formats() {
        let mut s = Stats::default();
        s.record(100, 2.0);
        s.record(100, 4.0);
        assert_eq!(
            window_line(&s, Duration::from_secs(1)),
            "2 records sent, 2.0 records/sec (0.00 MB/sec), 3.0 ms avg latency, 4.0 ms max latency.\n"
        );
        let mut lat = vec![4, 2];
        assert_eq!(
            summary_line(&s, Duration::from_secs(2), &mut lat),
            "2 records sent, 1.000000 records/sec (0.00 MB/sec), 3.00 ms avg latency, 4.00 ms max latency, 4 ms 50th, 4 ms 95th, 4 ms 99th, 4 ms 99.9th.\n"
        );
    }

    #[test]
    fn wall_times_print_in_the_consumer_tools_format() {
        assert_eq!(wall_time(UNIX_EPOCH), "1970-01-01 00:00:00:000");
        assert_eq!(
            wall_time(UNIX_EPOCH + Duration::from_millis(1_700_000_000_123)),
            "2023-11-14 22:13:20:123"
        );
    }
}
