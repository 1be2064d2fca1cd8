//! Replication throttles (Kafka's `ReplicationQuotaManager`): a byte rate
//! over a short sliding window, and which partitions it applies to.
//!
//! A reassignment lists the replicas to throttle in the topic configs
//! `leader.replication.throttled.replicas` (on the leader: partition:broker
//! entries naming this leader) and `follower.replication.throttled.replicas`
//! (on the follower: entries naming this follower), or `*` for all; the
//! rates are the broker configs `leader.replication.throttled.rate` and
//! `follower.replication.throttled.rate`. Only replicas outside the ISR are
//! throttled, so a throttle never slows the acknowledgement of writes.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use parking_lot::Mutex;

/// Two one-second windows: the rate is the bytes of the previous whole
/// window plus the current one's share, per second.
const WINDOW_MS: u64 = 1000;

pub(crate) struct ReplicationQuota {
    /// Bytes per second; `u64::MAX` is no limit.
    limit: AtomicU64,
    start: Instant,
    windows: Mutex<Windows>,
}

#[derive(Default)]
struct Windows {
    /// Index of the current window (ms since start / WINDOW_MS).
    current: u64,
    current_bytes: u64,
    previous_bytes: u64,
}

impl ReplicationQuota {
    pub fn new() -> ReplicationQuota {
        ReplicationQuota {
            limit: AtomicU64::new(u64::MAX),
            start: Instant::now(),
            windows: Mutex::new(Windows::default()),
        }
    }

    pub fn set_limit(&self, bytes_per_second: u64) {
        self.limit.store(bytes_per_second, Ordering::Release);
    }

    pub fn is_limited(&self) -> bool {
        self.limit.load(Ordering::Acquire) != u64::MAX
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Bytes sent (or fetched) for throttled replicas.
    pub fn record(&self, bytes: u64) {
        self.record_at(bytes, self.now_ms());
    }

    /// Whether throttled replicas must wait: the rate over the window has
    /// reached the limit.
    pub fn exceeded(&self) -> bool {
        self.exceeded_at(self.now_ms())
    }

    fn roll(w: &mut Windows, now_ms: u64) {
        let index = now_ms / WINDOW_MS;
        if index == w.current {
            return;
        }
        w.previous_bytes = if index == w.current + 1 {
            w.current_bytes
        } else {
            0
        };
        w.current_bytes = 0;
        w.current = index;
    }

    fn record_at(&self, bytes: u64, now_ms: u64) {
        let mut w = self.windows.lock();
        Self::roll(&mut w, now_ms);
        w.current_bytes = w.current_bytes.saturating_add(bytes);
    }

    fn exceeded_at(&self, now_ms: u64) -> bool {
        let limit = self.limit.load(Ordering::Acquire);
        if limit == u64::MAX {
            return false;
        }
        let mut w = self.windows.lock();
        Self::roll(&mut w, now_ms);
        // The previous window counts for the part of it still inside the
        // last second.
        let into = now_ms % WINDOW_MS;
        let previous_share = w.previous_bytes.saturating_mul(WINDOW_MS - into) / WINDOW_MS;
        w.current_bytes.saturating_add(previous_share) >= limit
    }
}

/// Whether a topic config value of `*.replication.throttled.replicas` names
/// (`partition`, `broker`).
pub(crate) fn is_throttled(value: Option<&String>, partition: i32, broker: i32) -> bool {
    let Some(value) = value else { return false };
    let value = value.trim();
    if value == "*" {
        return true;
    }
    value.split(',').any(|entry| {
        entry.split_once(':').is_some_and(|(p, b)| {
            p.trim().parse::<i32>() == Ok(partition) && b.trim().parse::<i32>() == Ok(broker)
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_is_measured_over_the_last_second() {
        let q = ReplicationQuota::new();
        q.set_limit(1000);
        q.record_at(600, 100);
        assert!(!q.exceeded_at(200));
        q.record_at(400, 900);
        assert!(q.exceeded_at(950));
        // Half a second into the next window, half of the last one still counts.
        assert!(!q.exceeded_at(1500));
        q.record_at(500, 1500);
        assert!(q.exceeded_at(1500));
        // Two windows later nothing counts.
        assert!(!q.exceeded_at(3100));
    }

    #[test]
    fn no_limit_is_never_exceeded() {
        let q = ReplicationQuota::new();
        q.record_at(u64::MAX, 0);
        assert!(!q.exceeded_at(0));
        assert!(!q.is_limited());
    }

    #[test]
    fn throttled_replicas_are_named_by_partition_and_broker_or_star() {
        let list = Some("0:1, 1:2,2:3".to_string());
        assert!(is_throttled(list.as_ref(), 1, 2));
        assert!(!is_throttled(list.as_ref(), 1, 3));
        assert!(is_throttled(Some(&"*".to_string()), 7, 9));
        assert!(!is_throttled(Some(&String::new()), 0, 1));
        assert!(!is_throttled(None, 0, 1));
    }
}
