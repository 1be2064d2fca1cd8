//! A Prometheus histogram of durations on atomics: one counter per bucket,
//! the sum in microseconds. Recording is a bucket search over a dozen
//! constants and three relaxed adds; no lock, no allocation.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds in milliseconds, Kafka's unit for request and flush times
/// (`TotalTimeMs`, `LogFlushRateAndTimeMs`).
pub(crate) const BUCKETS_MS: [f64; 14] = [
    0.5, 1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0,
];

/// The bucket bounds in microseconds, for the comparison on the hot path.
const BUCKETS_US: [u64; 14] = [
    500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000,
    2_500_000, 5_000_000, 10_000_000,
];

#[derive(Default)]
pub(crate) struct Histogram {
    /// Observations per bucket (not cumulative); the last one is +Inf.
    buckets: [AtomicU64; BUCKETS_US.len() + 1],
    sum_us: AtomicU64,
    count: AtomicU64,
}

/// A histogram's values at one moment, buckets cumulative as Prometheus wants them.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct HistogramSnapshot {
    /// (upper bound in ms, observations at or below it); the last is +Inf.
    pub cumulative: Vec<(f64, u64)>,
    pub sum_ms: f64,
    pub count: u64,
}

impl Histogram {
    pub fn observe(&self, elapsed: Duration) {
        let us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        let bucket = BUCKETS_US
            .iter()
            .position(|&bound| us <= bound)
            .unwrap_or(BUCKETS_US.len());
        self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        self.sum_us.fetch_add(us, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    pub fn snapshot(&self) -> HistogramSnapshot {
        let mut running = 0;
        let mut cumulative = Vec::with_capacity(self.buckets.len());
        for (i, bucket) in self.buckets.iter().enumerate() {
            running += bucket.load(Ordering::Relaxed);
            let bound = BUCKETS_MS.get(i).copied().unwrap_or(f64::INFINITY);
            cumulative.push((bound, running));
        }
        HistogramSnapshot {
            // The +Inf bucket is the count, so the two always agree in one scrape.
            count: running,
            cumulative,
            sum_ms: self.sum_us.load(Ordering::Relaxed) as f64 / 1000.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observations_land_in_the_first_bucket_at_or_above_them() {
        let h = Histogram::default();
        h.observe(Duration::from_micros(300)); // <= 0.5 ms
        h.observe(Duration::from_micros(1_000)); // <= 1 ms, on the bound
        h.observe(Duration::from_millis(7)); // <= 10 ms
        h.observe(Duration::from_secs(60)); // +Inf
        let s = h.snapshot();
        assert_eq!(s.count, 4);
        assert_eq!(s.cumulative[0], (0.5, 1));
        assert_eq!(s.cumulative[1], (1.0, 2));
        assert_eq!(s.cumulative[3], (5.0, 2));
        assert_eq!(s.cumulative[4], (10.0, 3));
        assert_eq!(s.cumulative[13], (10000.0, 3));
        assert_eq!(s.cumulative[14].1, 4);
        assert!(s.cumulative[14].0.is_infinite());
        assert!((s.sum_ms - (0.3 + 1.0 + 7.0 + 60_000.0)).abs() < 1e-9);
    }
}
