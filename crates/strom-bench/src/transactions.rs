//! Transactional produce runs: when to commit, and what committing cost.
//!
//! The sending loop asks [`TransactionClock::due`] after each record; a transaction commits once
//! it holds `--transaction-records` records or has been open `--transaction-ms`, whichever comes
//! first. Each `commit_transaction` (which first waits for every record of the transaction to be
//! delivered, then for the coordinator's EndTxn) is timed into its own histogram: with one-record
//! transactions and acks=all, commits per second is the figure of merit.

use std::time::{Duration, Instant};

use crate::cli::CommitEvery;
use crate::latency::{LatencyHistogram, LatencyPercentiles};

pub struct TransactionClock {
    every: CommitEvery,
    /// Records in the open transaction.
    records: u64,
    begun_at: Instant,
    committed: u64,
    commit_latency: LatencyHistogram,
}

impl TransactionClock {
    pub fn new(every: CommitEvery, now: Instant) -> TransactionClock {
        TransactionClock {
            every,
            records: 0,
            begun_at: now,
            committed: 0,
            commit_latency: LatencyHistogram::new(),
        }
    }

    /// A transaction began at `now` (the previous one, if any, committed).
    pub fn begun(&mut self, now: Instant) {
        self.records = 0;
        self.begun_at = now;
    }

    pub fn added_record(&mut self) {
        self.records += 1;
    }

    /// Records in the open transaction: an empty one is never committed.
    pub fn open_records(&self) -> u64 {
        self.records
    }

    /// Whether the open transaction should commit now.
    pub fn due(&self, now: Instant) -> bool {
        self.records > 0
            && (self.every.records.is_some_and(|n| self.records >= n)
                || self.every.ms.is_some_and(|ms| {
                    now.saturating_duration_since(self.begun_at) >= Duration::from_millis(ms)
                }))
    }

    pub fn committed(&mut self, took: Duration) {
        self.committed += 1;
        self.records = 0;
        self.commit_latency.record(took);
    }

    pub fn count(&self) -> u64 {
        self.committed
    }

    pub fn commit_percentiles(&self) -> Option<LatencyPercentiles> {
        self.commit_latency.percentiles()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every(records: Option<u64>, ms: Option<u64>) -> CommitEvery {
        CommitEvery { records, ms }
    }

    #[test]
    fn a_transaction_is_due_after_n_records() {
        let t0 = Instant::now();
        let mut clock = TransactionClock::new(every(Some(3), None), t0);
        for _ in 0..2 {
            clock.added_record();
            assert!(!clock.due(t0 + Duration::from_secs(3600)));
        }
        clock.added_record();
        assert!(clock.due(t0));
        clock.committed(Duration::from_millis(4));
        assert_eq!((clock.count(), clock.open_records()), (1, 0));
        assert!(!clock.due(t0));
    }

    #[test]
    fn a_transaction_is_due_after_t_ms_but_never_empty() {
        let t0 = Instant::now();
        let mut clock = TransactionClock::new(every(None, Some(100)), t0);
        assert!(
            !clock.due(t0 + Duration::from_millis(500)),
            "an empty transaction is not committed"
        );
        clock.added_record();
        assert!(!clock.due(t0 + Duration::from_millis(99)));
        assert!(clock.due(t0 + Duration::from_millis(100)));
        clock.committed(Duration::from_millis(1));
        clock.begun(t0 + Duration::from_millis(100));
        clock.added_record();
        assert!(!clock.due(t0 + Duration::from_millis(150)));
        assert!(clock.due(t0 + Duration::from_millis(200)));
    }

    #[test]
    fn records_or_time_whichever_comes_first() {
        let t0 = Instant::now();
        let mut clock = TransactionClock::new(every(Some(1000), Some(100)), t0);
        clock.added_record();
        assert!(clock.due(t0 + Duration::from_millis(100)));
        let mut clock = TransactionClock::new(every(Some(1), Some(100)), t0);
        clock.added_record();
        assert!(clock.due(t0));
    }

    #[test]
    fn commit_latency_is_kept_per_transaction() {
        let t0 = Instant::now();
        let mut clock = TransactionClock::new(every(Some(1), None), t0);
        assert!(clock.commit_percentiles().is_none());
        for ms in [1, 2, 3, 100] {
            clock.added_record();
            clock.committed(Duration::from_millis(ms));
        }
        let p = clock.commit_percentiles().expect("four commits");
        assert_eq!(clock.count(), 4);
        assert!((99.0..=101.0).contains(&p.max_ms), "{p:?}");
        assert!((1.9..=2.1).contains(&p.p50_ms), "{p:?}");
    }
}
