//! The follower's and the leader's rules for comparing two histories of a
//! partition's log, as pure functions over "where does epoch e end in this
//! log" (Kafka's `LeaderEpochFileCache.endOffsetFor`, (-1, -1) when unknown).
//!
//! Leader epochs are unique to one leader, and a leader only appends, so two
//! logs that hold the same epoch at the same offset hold the same records up
//! to there. A follower fetches with the epoch of the last batch it holds;
//! the leader answers with a diverging epoch when that epoch ends earlier in
//! its own log (or never existed there); the follower truncates to where
//! both agree and fetches again. After that, the follower's log is a prefix
//! of the leader's.

/// The leader's check of a fetch: `Some((epoch, end))` to answer as the
/// diverging epoch, `None` when the fetcher's log is a prefix of the
/// leader's up to `fetch_offset`. `last_fetched_epoch` -1 skips the check.
pub(crate) fn diverging_epoch(
    leader_end_for: impl Fn(i32) -> (i32, i64),
    last_fetched_epoch: i32,
    fetch_offset: i64,
) -> Option<(i32, i64)> {
    if last_fetched_epoch < 0 {
        return None;
    }
    let (epoch, end) = leader_end_for(last_fetched_epoch);
    (epoch < last_fetched_epoch || end < fetch_offset).then_some((epoch, end))
}

/// Where a follower truncates when the leader says its history diverged
/// after (`epoch`, `end_offset`): the end of that epoch in both logs, or
/// when the follower never had that epoch, the end of its own floor epoch
/// (a next fetch narrows it further). Never below the log start.
pub(crate) fn truncation_offset(
    local_end_for: impl Fn(i32) -> (i32, i64),
    log_start_offset: i64,
    log_end_offset: i64,
    epoch: i32,
    end_offset: i64,
) -> i64 {
    let to = if epoch < 0 {
        end_offset.min(log_end_offset)
    } else {
        match local_end_for(epoch) {
            (_, local_end) if local_end >= 0 => local_end.min(end_offset),
            _ => end_offset.min(log_end_offset),
        }
    };
    to.clamp(log_start_offset, log_end_offset.max(log_start_offset))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Kafka's endOffsetFor over (epoch, start) entries and a log end.
    fn end_for(entries: &[(i32, i64)], leo: i64) -> impl Fn(i32) -> (i32, i64) + '_ {
        move |requested| {
            let Some(&(latest, _)) = entries.last() else {
                return (-1, -1);
            };
            if requested == latest {
                return (latest, leo);
            }
            let Some(higher) = entries.iter().find(|(e, _)| *e > requested) else {
                return (-1, -1);
            };
            match entries.iter().rev().find(|(e, _)| *e <= requested) {
                Some(&(floor, _)) => (floor, higher.1),
                None => (requested, higher.1),
            }
        }
    }

    #[test]
    fn a_follower_on_the_leaders_history_does_not_diverge() {
        let leader = [(1, 0), (3, 50)];
        assert_eq!(diverging_epoch(end_for(&leader, 80), 3, 70), None);
        assert_eq!(diverging_epoch(end_for(&leader, 80), 1, 50), None);
        assert_eq!(diverging_epoch(end_for(&leader, 80), -1, 70), None);
    }

    #[test]
    fn a_follower_with_records_the_leader_never_committed_diverges() {
        // The follower has epoch 1 up to 60; the leader's epoch 1 ended at 50.
        let leader = [(1, 0), (3, 50)];
        assert_eq!(diverging_epoch(end_for(&leader, 80), 1, 60), Some((1, 50)));
        // An epoch the leader never had (2): its floor, 1, ends at 50.
        assert_eq!(diverging_epoch(end_for(&leader, 80), 2, 55), Some((1, 50)));
        let follower = [(1, 0), (2, 52)];
        assert_eq!(truncation_offset(end_for(&follower, 55), 0, 55, 1, 50), 50);
    }

    #[test]
    fn truncation_stays_within_the_log() {
        let follower = [(4, 100)];
        assert_eq!(
            truncation_offset(end_for(&follower, 120), 100, 120, 2, 90),
            100
        );
        assert_eq!(
            truncation_offset(end_for(&follower, 120), 100, 120, -1, 200),
            120
        );
    }
}
