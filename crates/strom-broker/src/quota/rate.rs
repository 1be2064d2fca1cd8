//! A rate over sampled windows, as Kafka's `Rate` over a `WindowedSum`
//! (`SampledStat`): the quota decisions depend on its exact arithmetic,
//! so it follows Kafka's step by step.
//!
//! Values are summed into samples of `window_ms`; `samples + 1` samples are
//! kept (one for the window that overlaps the oldest). A sample with no
//! event for `samples × window_ms` is reset. The rate is the sum of the
//! samples over the time they cover, counted as at least `samples - 1` full
//! windows, so a first burst is not divided by a tiny elapsed time.

use strom_config::QuotaWindow;

#[derive(Clone, Copy, Debug)]
struct Sample {
    start_ms: i64,
    last_event_ms: i64,
    value: f64,
}

impl Sample {
    fn new(now_ms: i64) -> Self {
        Sample {
            start_ms: now_ms,
            last_event_ms: now_ms,
            value: 0.0,
        }
    }
}

/// Kafka's `Rate` (per second) over a `WindowedSum`.
#[derive(Clone, Debug, Default)]
pub(crate) struct SampledRate {
    samples: Vec<Sample>,
    current: usize,
}

fn window_ms(config: QuotaWindow) -> i64 {
    i64::from(config.window_seconds) * 1000
}

impl SampledRate {
    /// Adds `value` at `now_ms` (Kafka's `SampledStat.record`).
    pub(crate) fn record(&mut self, config: QuotaWindow, value: f64, now_ms: i64) {
        if self.samples.is_empty() {
            self.samples.push(Sample::new(now_ms));
        }
        if now_ms - self.samples[self.current].start_ms >= window_ms(config) {
            // Advance to the next sample, reusing the oldest slot.
            let max_samples = config.samples as usize + 1;
            self.current = (self.current + 1) % max_samples;
            if self.current >= self.samples.len() {
                self.samples.push(Sample::new(now_ms));
            } else {
                self.samples[self.current] = Sample::new(now_ms);
            }
        }
        let sample = &mut self.samples[self.current];
        sample.value += value;
        sample.last_event_ms = now_ms;
    }

    /// Resets samples with no event in the whole monitored window.
    fn purge_obsolete(&mut self, config: QuotaWindow, now_ms: i64) {
        let expire_age = i64::from(config.samples) * window_ms(config);
        for sample in &mut self.samples {
            if now_ms - sample.last_event_ms >= expire_age {
                *sample = Sample::new(now_ms);
            }
        }
    }

    /// The time the rate is taken over, in ms (Kafka's `Rate.windowSize`).
    pub(crate) fn window_size_ms(&mut self, config: QuotaWindow, now_ms: i64) -> i64 {
        self.purge_obsolete(config, now_ms);
        if self.samples.is_empty() {
            self.samples.push(Sample::new(now_ms));
        }
        let oldest = self
            .samples
            .iter()
            .map(|s| s.start_ms)
            .min()
            .unwrap_or(now_ms);
        let window = window_ms(config);
        let mut elapsed = now_ms - oldest;
        let full_windows = elapsed / window;
        let min_full_windows = i64::from(config.samples) - 1;
        if full_windows < min_full_windows {
            elapsed += (min_full_windows - full_windows) * window;
        }
        elapsed.max(1)
    }

    /// The rate per second at `now_ms` (Kafka's `Rate.measure`).
    pub(crate) fn measure(&mut self, config: QuotaWindow, now_ms: i64) -> f64 {
        self.purge_obsolete(config, now_ms);
        let total: f64 = self.samples.iter().map(|s| s.value).sum();
        total / (self.window_size_ms(config, now_ms) as f64 / 1000.0)
    }

    /// Records `value` and answers the throttle time in ms when the rate is
    /// then above `bound` (Kafka's `Sensor.record` with quota checks and
    /// `QuotaUtils.throttleTime`): the delay X that brings the observed rate
    /// O back to the bound T over the window W, O·W/(W+X) = T.
    pub(crate) fn record_and_throttle_ms(
        &mut self,
        config: QuotaWindow,
        value: f64,
        bound: f64,
        now_ms: i64,
    ) -> i64 {
        self.record(config, value, now_ms);
        let observed = self.measure(config, now_ms);
        if observed <= bound {
            return 0;
        }
        throttle_time_ms(observed, bound, self.window_size_ms(config, now_ms))
    }
}

/// Kafka's `QuotaUtils.throttleTime`: (O - T) / T × W, rounded.
pub(crate) fn throttle_time_ms(observed: f64, bound: f64, window_size_ms: i64) -> i64 {
    let ms = (observed - bound) / bound * window_size_ms as f64;
    if ms.is_finite() {
        ms.round().clamp(0.0, i32::MAX as f64) as i64
    } else {
        i64::from(i32::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const KAFKA_DEFAULT: QuotaWindow = QuotaWindow {
        samples: 11,
        window_seconds: 1,
    };

    #[test]
    fn a_first_burst_is_spread_over_the_minimum_window() {
        let mut rate = SampledRate::default();
        rate.record(KAFKA_DEFAULT, 10_000.0, 0);
        // 10 full windows at least: 10,000 bytes over 10 s.
        assert_eq!(rate.window_size_ms(KAFKA_DEFAULT, 0), 10_000);
        assert!((rate.measure(KAFKA_DEFAULT, 0) - 1000.0).abs() < 1e-9);
    }

    #[test]
    fn throttle_brings_the_rate_back_to_the_bound() {
        // 20,000 bytes at t=0 against 1,000 B/s: O = 2,000 B/s over 10 s,
        // so X = (2000 - 1000) / 1000 × 10 s = 10 s.
        let mut rate = SampledRate::default();
        let throttle = rate.record_and_throttle_ms(KAFKA_DEFAULT, 20_000.0, 1000.0, 0);
        assert_eq!(throttle, 10_000);
        // Kafka's formula assumes the window stretches by the wait; the
        // sample is forgotten instead once it is 11 windows old.
        assert_eq!(rate.measure(KAFKA_DEFAULT, 11_000), 0.0);
    }

    #[test]
    fn samples_older_than_the_window_are_forgotten() {
        let mut rate = SampledRate::default();
        rate.record(KAFKA_DEFAULT, 50_000.0, 0);
        // 11 s later nothing of it counts.
        assert_eq!(rate.measure(KAFKA_DEFAULT, 11_000), 0.0);
    }

    proptest! {
        /// The throttle never goes negative and is 0 under the bound.
        #[test]
        fn throttle_is_zero_iff_within_the_bound(observed in 0.0f64..1e9, bound in 1.0f64..1e9, window in 1i64..100_000) {
            let t = throttle_time_ms(observed, bound, window);
            prop_assert!(t >= 0);
            if observed <= bound { prop_assert_eq!(t, 0); }
        }
    }
}
