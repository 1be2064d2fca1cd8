//! Delivery latency histogram.
//!
//! Values are recorded in microseconds with three significant digits (HdrHistogram), so p99.9 of a
//! million samples costs a fixed ~100 KiB no matter how many records a run sends, and recording
//! never allocates.

use std::time::Duration;

use hdrhistogram::Histogram;

/// Latencies above this are clamped to it; a record that takes an hour is a failed run anyway.
const HIGHEST_TRACKABLE_MICROS: u64 = 3_600_000_000;
const SIGNIFICANT_DIGITS: u8 = 3;

pub struct LatencyHistogram {
    micros: Histogram<u64>,
}

/// Percentiles of a finished run, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LatencyPercentiles {
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

impl LatencyHistogram {
    pub fn new() -> Self {
        let micros = Histogram::new_with_bounds(1, HIGHEST_TRACKABLE_MICROS, SIGNIFICANT_DIGITS)
            .expect("bounds are constants that satisfy HdrHistogram's rules (low >= 1, high >= 2 * low, digits <= 5)");
        LatencyHistogram { micros }
    }

    pub fn record(&mut self, latency: Duration) {
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.micros.saturating_record(micros.max(1));
    }

    #[cfg(test)]
    pub fn len(&self) -> u64 {
        self.micros.len()
    }

    /// `None` when nothing was recorded (acks=0 still gets delivery reports, but a run may fail
    /// before the first one).
    pub fn percentiles(&self) -> Option<LatencyPercentiles> {
        if self.micros.is_empty() {
            return None;
        }
        let ms = |micros: u64| micros as f64 / 1000.0;
        Some(LatencyPercentiles {
            mean_ms: self.micros.mean() / 1000.0,
            p50_ms: ms(self.micros.value_at_quantile(0.50)),
            p99_ms: ms(self.micros.value_at_quantile(0.99)),
            p999_ms: ms(self.micros.value_at_quantile(0.999)),
            max_ms: ms(self.micros.max()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(actual: f64, expected: f64) -> bool {
        (actual - expected).abs() <= expected * 0.001 + 0.001
    }

    #[test]
    fn percentiles_of_a_uniform_spread_land_on_the_expected_values() {
        let mut histogram = LatencyHistogram::new();
        for ms in 1..=1000u64 {
            histogram.record(Duration::from_millis(ms));
        }
        let p = histogram.percentiles().expect("recorded samples");
        assert_eq!(histogram.len(), 1000);
        assert!(close(p.p50_ms, 500.0), "p50 {}", p.p50_ms);
        assert!(close(p.p99_ms, 990.0), "p99 {}", p.p99_ms);
        assert!(close(p.p999_ms, 999.0), "p99.9 {}", p.p999_ms);
        assert!(close(p.max_ms, 1000.0), "max {}", p.max_ms);
        assert!(close(p.mean_ms, 500.5), "mean {}", p.mean_ms);
    }

    #[test]
    fn an_empty_histogram_has_no_percentiles() {
        assert_eq!(LatencyHistogram::new().percentiles(), None);
    }

    #[test]
    fn sub_microsecond_and_huge_latencies_are_clamped_not_dropped() {
        let mut histogram = LatencyHistogram::new();
        histogram.record(Duration::from_nanos(10));
        histogram.record(Duration::from_secs(10 * 3600));
        assert_eq!(histogram.len(), 2);
        let p = histogram.percentiles().expect("recorded samples");
        assert!(p.max_ms >= 3_600_000.0 * 0.999, "max {}", p.max_ms);
    }
}
