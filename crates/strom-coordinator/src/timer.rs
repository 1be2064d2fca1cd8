//! Deadlines a shard waits on, keyed so that re-arming replaces the old one.
//!
//! The shard never sleeps: the driver asks for `next_deadline`, waits until
//! then (or for the next request), and calls `GroupShard::tick(now)`, which
//! pops what has expired. Tests move `now` by hand.

use std::collections::{BTreeSet, HashMap};

/// What a deadline is for.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum TimerKey {
    /// A member's session: no heartbeat, join or sync before it removes the member.
    Heartbeat { group: String, member_id: String },
    /// A member id handed out with MEMBER_ID_REQUIRED that was never used to rejoin.
    PendingMember { group: String, member_id: String },
    /// The end of a classic group's join phase (initial delay or rebalance timeout).
    Join { group: String },
    /// Members that got a JoinGroup answer but never sent SyncGroup are removed then.
    Sync { group: String },
    /// Periodic expiry of committed offsets (`offsets.retention.check.interval.ms`).
    OffsetExpiry,
    /// A KIP-848 member's session.
    ConsumerSession { group: String, member_id: String },
    /// A KIP-848 member that must revoke partitions before this deadline.
    ConsumerRebalance { group: String, member_id: String },
}

#[derive(Debug, Default)]
pub(crate) struct Timers {
    by_deadline: BTreeSet<(i64, TimerKey)>,
    deadlines: HashMap<TimerKey, i64>,
}

impl Timers {
    /// Arms `key` at `deadline_ms`, replacing an earlier arming of the same key.
    pub fn schedule(&mut self, key: TimerKey, deadline_ms: i64) {
        if let Some(old) = self.deadlines.insert(key.clone(), deadline_ms) {
            self.by_deadline.remove(&(old, key.clone()));
        }
        self.by_deadline.insert((deadline_ms, key));
    }

    pub fn cancel(&mut self, key: &TimerKey) {
        if let Some(old) = self.deadlines.remove(key) {
            self.by_deadline.remove(&(old, key.clone()));
        }
    }

    #[cfg(test)]
    pub fn is_scheduled(&self, key: &TimerKey) -> bool {
        self.deadlines.contains_key(key)
    }

    pub fn next_deadline(&self) -> Option<i64> {
        self.by_deadline.first().map(|(d, _)| *d)
    }

    /// Removes and returns the earliest key due at `now_ms`, if any.
    pub fn pop_expired(&mut self, now_ms: i64) -> Option<TimerKey> {
        let (deadline, _) = self.by_deadline.first()?;
        if *deadline > now_ms {
            return None;
        }
        let (_, key) = self.by_deadline.pop_first()?;
        self.deadlines.remove(&key);
        Some(key)
    }

    /// Cancels every timer of `group`.
    pub fn cancel_group(&mut self, group: &str) {
        let keys: Vec<TimerKey> = self
            .deadlines
            .keys()
            .filter(|k| k.group() == Some(group))
            .cloned()
            .collect();
        for k in keys {
            self.cancel(&k);
        }
    }
}

impl TimerKey {
    fn group(&self) -> Option<&str> {
        match self {
            TimerKey::Heartbeat { group, .. }
            | TimerKey::PendingMember { group, .. }
            | TimerKey::Join { group }
            | TimerKey::Sync { group }
            | TimerKey::ConsumerSession { group, .. }
            | TimerKey::ConsumerRebalance { group, .. } => Some(group),
            TimerKey::OffsetExpiry => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hb(m: &str) -> TimerKey {
        TimerKey::Heartbeat {
            group: "g".into(),
            member_id: m.into(),
        }
    }

    #[test]
    fn rescheduling_a_key_replaces_its_deadline() {
        let mut t = Timers::default();
        t.schedule(hb("a"), 100);
        t.schedule(hb("a"), 300);
        t.schedule(hb("b"), 200);
        assert_eq!(t.next_deadline(), Some(200));
        assert_eq!(t.pop_expired(250), Some(hb("b")));
        assert_eq!(t.pop_expired(250), None);
        assert_eq!(t.pop_expired(300), Some(hb("a")));
        assert_eq!(t.next_deadline(), None);
    }

    #[test]
    fn cancelling_a_group_leaves_other_groups_and_global_timers() {
        let mut t = Timers::default();
        t.schedule(hb("a"), 1);
        t.schedule(
            TimerKey::Join {
                group: "other".into(),
            },
            2,
        );
        t.schedule(TimerKey::OffsetExpiry, 3);
        t.cancel_group("g");
        assert!(!t.is_scheduled(&hb("a")));
        assert_eq!(
            t.pop_expired(10),
            Some(TimerKey::Join {
                group: "other".into()
            })
        );
        assert_eq!(t.pop_expired(10), Some(TimerKey::OffsetExpiry));
    }
}
