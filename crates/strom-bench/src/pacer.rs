//! Fixed-rate send schedule for `--rate`.
//!
//! Record `i` is due at `i / rate` seconds after the start. The schedule is absolute rather than
//! "sleep 1/rate after each send", so time lost to a slow send is caught up instead of lowering
//! the rate, and the due time doubles as the latency origin (see `ProduceArgs::rate`).

use std::time::Duration;

#[derive(Debug, Clone, Copy)]
pub struct Pacer {
    records_per_sec: u64,
}

impl Pacer {
    /// `None` for 0, which means "as fast as possible".
    pub fn new(records_per_sec: u64) -> Option<Pacer> {
        (records_per_sec > 0).then_some(Pacer { records_per_sec })
    }

    /// When record `index` is due, measured from the start of the run.
    pub fn due_at(&self, index: u64) -> Duration {
        let nanos = u128::from(index) * 1_000_000_000 / u128::from(self.records_per_sec);
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }

    /// How long to wait before sending record `index`, given the time elapsed since the start;
    /// `None` when it is already due (or late).
    pub fn wait_before(&self, index: u64, elapsed: Duration) -> Option<Duration> {
        self.due_at(index)
            .checked_sub(elapsed)
            .filter(|wait| !wait.is_zero())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_rate_means_unlimited() {
        assert!(Pacer::new(0).is_none());
    }

    #[test]
    fn records_are_due_evenly_spaced() {
        let pacer = Pacer::new(1000).expect("non-zero rate");
        assert_eq!(pacer.due_at(0), Duration::ZERO);
        assert_eq!(pacer.due_at(1), Duration::from_millis(1));
        assert_eq!(pacer.due_at(1500), Duration::from_millis(1500));
    }

    #[test]
    fn a_sender_ahead_of_schedule_waits_and_one_behind_does_not() {
        let pacer = Pacer::new(100).expect("non-zero rate");
        assert_eq!(
            pacer.wait_before(10, Duration::from_millis(40)),
            Some(Duration::from_millis(60))
        );
        assert_eq!(pacer.wait_before(10, Duration::from_millis(100)), None);
        assert_eq!(pacer.wait_before(10, Duration::from_millis(250)), None);
    }

    #[test]
    fn huge_indexes_do_not_overflow() {
        let pacer = Pacer::new(1).expect("non-zero rate");
        assert_eq!(pacer.due_at(u64::MAX), Duration::from_nanos(u64::MAX));
    }
}
