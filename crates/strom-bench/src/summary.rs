//! The result of a run: one human line in the style of Kafka's perf tools, and one flat JSON line
//! for scripts (every value a number or a string, so `scripts/bench` can read it without jq).
//!
//! MB means MiB (2^20 bytes), as in Kafka's `kafka-producer-perf-test`, so the figures compare.

use std::time::Duration;

use serde::Serialize;

use crate::latency::LatencyPercentiles;

const MIB: f64 = 1024.0 * 1024.0;

#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub mode: &'static str,
    pub topic: String,
    pub records: u64,
    /// Key and value bytes.
    pub bytes: u64,
    pub elapsed_s: f64,
    pub records_per_sec: f64,
    pub mb_per_sec: f64,
    #[serde(flatten)]
    pub produce: Option<ProduceDetails>,
    #[serde(flatten)]
    pub transactions: Option<TransactionDetails>,
    /// Consume only: the consumer's `isolation.level`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub isolation_level: Option<&'static str>,
    /// Consume only: from assigning partitions to the first record. A first Fetch that holds
    /// only empty partitions waits `fetch.wait.max.ms` (500 ms) before librdkafka asks for the
    /// rest, and that startup cost is in `elapsed_s`; this shows how much of it there was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_record_ms: Option<f64>,
}

/// What only a produce run has: its settings and the delivery latency.
#[derive(Debug, Clone, Serialize)]
pub struct ProduceDetails {
    pub acks: &'static str,
    pub compression: &'static str,
    pub record_size: usize,
    /// Target rate in records/s; 0 for unlimited.
    pub rate: u64,
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

impl ProduceDetails {
    pub fn new(
        acks: &'static str,
        compression: &'static str,
        record_size: usize,
        rate: u64,
        latency: LatencyPercentiles,
    ) -> Self {
        ProduceDetails {
            acks,
            compression,
            record_size,
            rate,
            mean_ms: latency.mean_ms,
            p50_ms: latency.p50_ms,
            p99_ms: latency.p99_ms,
            p999_ms: latency.p999_ms,
            max_ms: latency.max_ms,
        }
    }
}

/// What only a transactional produce run has: how many transactions committed, how fast, and
/// what each `commit_transaction` took (delivering the transaction's last records, then EndTxn).
#[derive(Debug, Clone, Serialize)]
pub struct TransactionDetails {
    pub transactions: u64,
    pub transactions_per_sec: f64,
    pub commit_p50_ms: f64,
    pub commit_p99_ms: f64,
    pub commit_max_ms: f64,
}

impl TransactionDetails {
    pub fn new(transactions: u64, elapsed: Duration, commit: LatencyPercentiles) -> Self {
        TransactionDetails {
            transactions,
            transactions_per_sec: transactions as f64 / elapsed.as_secs_f64().max(f64::EPSILON),
            commit_p50_ms: commit.p50_ms,
            commit_p99_ms: commit.p99_ms,
            commit_max_ms: commit.max_ms,
        }
    }
}

impl Summary {
    pub fn new(
        mode: &'static str,
        topic: &str,
        records: u64,
        bytes: u64,
        elapsed: Duration,
    ) -> Summary {
        let seconds = elapsed.as_secs_f64().max(f64::EPSILON);
        Summary {
            mode,
            topic: topic.to_owned(),
            records,
            bytes,
            elapsed_s: elapsed.as_secs_f64(),
            records_per_sec: records as f64 / seconds,
            mb_per_sec: bytes as f64 / MIB / seconds,
            produce: None,
            transactions: None,
            isolation_level: None,
            first_record_ms: None,
        }
    }

    pub fn with_produce(mut self, details: ProduceDetails) -> Summary {
        self.produce = Some(details);
        self
    }

    pub fn with_transactions(mut self, details: TransactionDetails) -> Summary {
        self.transactions = Some(details);
        self
    }

    pub fn with_isolation_level(mut self, level: &'static str) -> Summary {
        self.isolation_level = Some(level);
        self
    }

    pub fn with_first_record_after(mut self, after: Duration) -> Summary {
        self.first_record_ms = Some(after.as_secs_f64() * 1000.0);
        self
    }

    pub fn human_line(&self) -> String {
        let verb = if self.mode == "produce" {
            "sent"
        } else {
            "consumed"
        };
        let mut line = format!(
            "{} records {verb} in {:.2} s, {:.1} records/sec ({:.2} MB/sec)",
            self.records, self.elapsed_s, self.records_per_sec, self.mb_per_sec
        );
        if let Some(p) = &self.produce {
            line.push_str(&format!(
                ", {:.2} ms avg latency, {:.2} ms max latency, {:.2} ms 50th, {:.2} ms 99th, {:.2} ms 99.9th \
                 (acks={}, compression={}, {} byte records{})",
                p.mean_ms,
                p.max_ms,
                p.p50_ms,
                p.p99_ms,
                p.p999_ms,
                p.acks,
                p.compression,
                p.record_size,
                if p.rate > 0 { format!(", rate {} records/s", p.rate) } else { String::new() }
            ));
        }
        if let Some(t) = &self.transactions {
            line.push_str(&format!(
                ", {} transactions ({:.1}/sec), commit {:.2} ms 50th, {:.2} ms 99th, {:.2} ms max",
                t.transactions,
                t.transactions_per_sec,
                t.commit_p50_ms,
                t.commit_p99_ms,
                t.commit_max_ms
            ));
        }
        if let Some(level) = self.isolation_level {
            line.push_str(&format!(", {level}"));
        }
        if let Some(ms) = self.first_record_ms {
            line.push_str(&format!(", first record after {ms:.1} ms"));
        }
        line.push('.');
        line
    }

    pub fn json_line(&self) -> String {
        // Only strings, numbers and a flattened struct: serialization cannot fail, but a broken
        // line is still better than a panic at the end of a long run.
        serde_json::to_string(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn latency() -> LatencyPercentiles {
        LatencyPercentiles {
            mean_ms: 2.0,
            p50_ms: 1.5,
            p99_ms: 9.0,
            p999_ms: 20.0,
            max_ms: 31.25,
        }
    }

    #[test]
    fn throughput_is_records_and_mebibytes_per_second() {
        let summary = Summary::new(
            "consume",
            "bench",
            1_000_000,
            100 * 1024 * 1024,
            Duration::from_secs(2),
        );
        assert_eq!(summary.records_per_sec, 500_000.0);
        assert_eq!(summary.mb_per_sec, 50.0);
    }

    #[test]
    fn produce_json_is_one_flat_line_with_the_latency_fields() {
        let summary = Summary::new(
            "produce",
            "bench",
            1000,
            100_000,
            Duration::from_millis(500),
        )
        .with_produce(ProduceDetails::new("all", "lz4", 100, 0, latency()));
        let line = summary.json_line();
        assert!(!line.contains('\n'));
        let value: serde_json::Value = serde_json::from_str(&line).expect("valid JSON");
        assert_eq!(value["mode"], "produce");
        assert_eq!(value["records"], 1000);
        assert_eq!(value["records_per_sec"], 2000.0);
        assert_eq!(value["acks"], "all");
        assert_eq!(value["p50_ms"], 1.5);
        assert_eq!(value["p99_ms"], 9.0);
        assert_eq!(value["p999_ms"], 20.0);
        assert_eq!(value["max_ms"], 31.25);
    }

    #[test]
    fn consume_json_has_no_latency_fields_but_the_first_record_time() {
        let summary = Summary::new("consume", "bench", 10, 1000, Duration::from_secs(1))
            .with_first_record_after(Duration::from_millis(502));
        let value: serde_json::Value =
            serde_json::from_str(&summary.json_line()).expect("valid JSON");
        assert_eq!(value["mode"], "consume");
        assert!(value.get("p99_ms").is_none());
        assert_eq!(value["first_record_ms"], 502.0);
        assert!(
            summary
                .human_line()
                .ends_with(", first record after 502.0 ms."),
            "{}",
            summary.human_line()
        );
    }

    #[test]
    fn a_transactional_run_reports_its_transactions_and_commit_latency() {
        let summary = Summary::new("produce", "bench", 1000, 100_000, Duration::from_secs(2))
            .with_produce(ProduceDetails::new("all", "none", 100, 0, latency()))
            .with_transactions(TransactionDetails::new(
                500,
                Duration::from_secs(2),
                latency(),
            ));
        let value: serde_json::Value =
            serde_json::from_str(&summary.json_line()).expect("valid JSON");
        assert_eq!(value["transactions"], 500);
        assert_eq!(value["transactions_per_sec"], 250.0);
        assert_eq!(value["commit_p50_ms"], 1.5);
        assert_eq!(value["commit_p99_ms"], 9.0);
        assert!(
            summary.human_line().ends_with(
                ", 500 transactions (250.0/sec), commit 1.50 ms 50th, 9.00 ms 99th, 31.25 ms max."
            ),
            "{}",
            summary.human_line()
        );
        let plain = Summary::new("produce", "bench", 1, 1, Duration::from_secs(1));
        assert!(
            serde_json::from_str::<serde_json::Value>(&plain.json_line())
                .expect("JSON")
                .get("transactions")
                .is_none()
        );
    }

    #[test]
    fn a_consume_run_names_its_isolation_level() {
        let summary = Summary::new("consume", "bench", 10, 1000, Duration::from_secs(1))
            .with_isolation_level("read_committed");
        let value: serde_json::Value =
            serde_json::from_str(&summary.json_line()).expect("valid JSON");
        assert_eq!(value["isolation_level"], "read_committed");
        assert!(
            summary.human_line().ends_with(", read_committed."),
            "{}",
            summary.human_line()
        );
    }

    #[test]
    fn the_human_line_reads_like_kafkas_perf_test() {
        let summary = Summary::new("produce", "bench", 1000, 100_000, Duration::from_secs(1))
            .with_produce(ProduceDetails::new("1", "none", 100, 500, latency()));
        assert_eq!(
            summary.human_line(),
            "1000 records sent in 1.00 s, 1000.0 records/sec (0.10 MB/sec), 2.00 ms avg latency, 31.25 ms max latency, \
             1.50 ms 50th, 9.00 ms 99th, 20.00 ms 99.9th (acks=1, compression=none, 100 byte records, rate 500 records/s)."
        );
    }
}
