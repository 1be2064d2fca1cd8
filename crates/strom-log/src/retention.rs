//! Which segments retention deletes (Kafka's `UnifiedLog.deleteOldSegments`), as a pure
//! function of the segments' metadata, the settings and the time, so every rule is tested
//! without a disk. [`crate::Log::delete_old_segments`] gathers the input and carries the
//! decision out.
//!
//! Kafka runs three passes, in this order, each over what the previous left:
//! 1. `deleteLogStartOffsetBreachedSegments`: a segment goes when the next one starts at or
//!    below the log start offset (DeleteRecords moved the log start past all of it).
//! 2. `deleteRetentionSizeBreachedSegments`: with `retention.bytes` set and the log at least
//!    that large, the oldest segments go while the log without them still holds
//!    `retention.bytes`.
//! 3. `deleteRetentionMsBreachedSegments`: a segment goes when its largest timestamp is more
//!    than `retention.ms` before now.
//!
//! Each pass deletes leading segments only and stops at the first segment it keeps: a log
//! is a contiguous range of offsets, so deletion can only move its start. Whole segments
//! only; offsets inside a kept segment stay readable. Common to every pass (Kafka's
//! `deletableSegments`):
//! - a segment goes only if all its offsets are below the high watermark, so the log start
//!   offset never passes what consumers may read (and an unreplicated tail is never lost);
//! - an empty active segment never goes: it is where the next append lands;
//! - when every segment would go, the active one included (it is non-empty and breached by
//!   time, or `retention.bytes` is 0), the log must roll first so that one segment remains;
//!   the decision says so with [`RetentionDecision::roll_first`]. The log start offset then
//!   becomes the log end offset.

/// What retention looks at in one segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SegmentSummary {
    /// First offset the segment may hold (its file name).
    pub base_offset: i64,
    /// Bytes in the `.log` file.
    pub size_bytes: u64,
    /// Kafka's `LogSegment.largestTimestamp`: the largest batch `maxTimestamp` (the last
    /// time index entry of an inactive segment), or when no batch carries a timestamp, the
    /// time the segment was last written to.
    pub largest_timestamp_ms: i64,
}

/// Everything a retention decision depends on.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RetentionInput<'a> {
    /// Oldest first; the last is the active segment. Never empty.
    pub segments: &'a [SegmentSummary],
    pub log_start_offset: i64,
    pub log_end_offset: i64,
    /// Segments must end at or below it to be deleted.
    pub high_watermark: i64,
    /// `retention.ms`; `None` or negative: forever.
    pub retention_ms: Option<i64>,
    /// `retention.bytes`; `None`: unlimited.
    pub retention_bytes: Option<u64>,
    pub now_ms: i64,
}

/// How many leading segments to delete, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct RetentionDecision {
    /// Leading segments below the log start offset.
    pub by_log_start_offset: usize,
    /// The next ones, over `retention.bytes`.
    pub by_size: usize,
    /// The next ones, older than `retention.ms`.
    pub by_time: usize,
    /// Every segment goes, the active one included: roll first, then delete all but the
    /// new active segment.
    pub roll_first: bool,
}

impl RetentionDecision {
    /// How many leading segments go (with `roll_first`, all of them before the roll).
    pub fn segments_to_delete(&self) -> usize {
        self.by_log_start_offset + self.by_size + self.by_time
    }
}

/// Decides which leading segments retention deletes.
pub(crate) fn decide(input: &RetentionInput<'_>) -> RetentionDecision {
    let segments = input.segments;
    let mut decision = RetentionDecision {
        by_log_start_offset: deletable(input, 0, |_, next| {
            next.is_some_and(|n| n.base_offset <= input.log_start_offset)
        }),
        ..RetentionDecision::default()
    };
    let from = decision.segments_to_delete();
    decision.by_size = match input.retention_bytes {
        Some(limit) => {
            let total: u64 = segments[from..].iter().map(|s| s.size_bytes).sum();
            match total.checked_sub(limit) {
                Some(mut excess) => deletable(input, from, |segment, _| {
                    let fits = excess >= segment.size_bytes;
                    if fits {
                        excess -= segment.size_bytes;
                    }
                    fits
                }),
                None => 0,
            }
        }
        None => 0,
    };
    let from = decision.segments_to_delete();
    decision.by_time = match input.retention_ms {
        Some(limit) if limit >= 0 => deletable(input, from, |segment, _| {
            input.now_ms.saturating_sub(segment.largest_timestamp_ms) > limit
        }),
        _ => 0,
    };
    decision.roll_first = decision.segments_to_delete() == segments.len();
    decision
}

/// Kafka's `deletableSegments`: from `from` on, counts the segments that `predicate` (given
/// the segment and the one after it) and the rules common to every pass let go, stopping
/// at the first that stays. The predicate runs only for segments that may go at all, since
/// the size pass counts down as it accepts.
fn deletable(
    input: &RetentionInput<'_>,
    from: usize,
    mut predicate: impl FnMut(&SegmentSummary, Option<&SegmentSummary>) -> bool,
) -> usize {
    let segments = input.segments;
    let mut i = from;
    while let Some(segment) = segments.get(i) {
        let next = segments.get(i + 1);
        let end_offset = next.map_or(input.log_end_offset, |n| n.base_offset);
        let empty_active = next.is_none() && segment.size_bytes == 0;
        if empty_active || input.high_watermark < end_offset || !predicate(segment, next) {
            break;
        }
        i += 1;
    }
    i - from
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY_MS: i64 = 24 * 60 * 60 * 1000;
    const NOW: i64 = 100 * DAY_MS;

    /// Segments of `sizes` bytes, 100 offsets each, with the given largest timestamps.
    fn segments(sizes: &[u64], timestamps: &[i64]) -> Vec<SegmentSummary> {
        sizes
            .iter()
            .zip(timestamps)
            .enumerate()
            .map(|(i, (&size_bytes, &ts))| SegmentSummary {
                base_offset: i as i64 * 100,
                size_bytes,
                largest_timestamp_ms: ts,
            })
            .collect()
    }

    fn input(segments: &[SegmentSummary]) -> RetentionInput<'_> {
        let last = segments.last().unwrap();
        let log_end_offset = if last.size_bytes == 0 {
            last.base_offset
        } else {
            last.base_offset + 100
        };
        RetentionInput {
            segments,
            log_start_offset: segments[0].base_offset,
            log_end_offset,
            high_watermark: log_end_offset,
            retention_ms: None,
            retention_bytes: None,
            now_ms: NOW,
        }
    }

    fn old() -> i64 {
        NOW - 30 * DAY_MS
    }

    #[test]
    fn forever_keeps_every_segment_however_old_or_large() {
        let segs = segments(&[1000, 1000, 1000], &[0, 0, 0]);
        assert_eq!(decide(&input(&segs)), RetentionDecision::default());
        let negative = RetentionInput {
            retention_ms: Some(-1),
            ..input(&segs)
        };
        assert_eq!(decide(&negative).segments_to_delete(), 0);
    }

    #[test]
    fn time_breached_segments_go_up_to_the_first_recent_one() {
        // The third segment is recent: the fourth, old again, stays behind it.
        let segs = segments(&[10, 10, 10, 10, 10], &[old(), old(), NOW, old(), NOW]);
        let decision = decide(&RetentionInput {
            retention_ms: Some(7 * DAY_MS),
            ..input(&segs)
        });
        assert_eq!(
            decision,
            RetentionDecision {
                by_time: 2,
                ..RetentionDecision::default()
            }
        );
    }

    #[test]
    fn a_segment_exactly_retention_ms_old_stays() {
        let segs = segments(&[10, 10], &[NOW - 1000, NOW]);
        let at = |retention_ms| {
            decide(&RetentionInput {
                retention_ms: Some(retention_ms),
                ..input(&segs)
            })
            .by_time
        };
        assert_eq!(at(1000), 0);
        assert_eq!(at(999), 1);
    }

    #[test]
    fn size_breached_segments_go_while_the_rest_still_holds_retention_bytes() {
        let segs = segments(&[100, 100, 100, 50], &[NOW; 4]);
        let by_size = |retention_bytes| {
            decide(&RetentionInput {
                retention_bytes: Some(retention_bytes),
                ..input(&segs)
            })
            .by_size
        };
        // 350 bytes: dropping the first leaves 250 >= 200; dropping the second would leave
        // 150 < 200.
        assert_eq!(by_size(200), 1);
        assert_eq!(by_size(150), 2);
        assert_eq!(by_size(50), 3);
        assert_eq!(by_size(350), 0);
        assert_eq!(by_size(10_000), 0);
    }

    #[test]
    fn the_active_segment_stays_unless_it_is_breached_and_non_empty() {
        // Everything is old, but the active segment is empty: it stays, no roll.
        let segs = segments(&[10, 10, 0], &[old(), old(), -1]);
        let decision = decide(&RetentionInput {
            retention_ms: Some(DAY_MS),
            ..input(&segs)
        });
        assert_eq!((decision.by_time, decision.roll_first), (2, false));

        // A recent active segment stays.
        let segs = segments(&[10, 10, 10], &[old(), old(), NOW]);
        let decision = decide(&RetentionInput {
            retention_ms: Some(DAY_MS),
            ..input(&segs)
        });
        assert_eq!((decision.by_time, decision.roll_first), (2, false));

        // An old, non-empty active segment goes too, after a roll.
        let segs = segments(&[10, 10, 10], &[old(), old(), old()]);
        let decision = decide(&RetentionInput {
            retention_ms: Some(DAY_MS),
            ..input(&segs)
        });
        assert_eq!((decision.by_time, decision.roll_first), (3, true));
    }

    #[test]
    fn retention_bytes_zero_rolls_and_deletes_everything_as_kafka_does() {
        let segs = segments(&[10, 10], &[NOW, NOW]);
        let decision = decide(&RetentionInput {
            retention_bytes: Some(0),
            ..input(&segs)
        });
        assert_eq!((decision.by_size, decision.roll_first), (2, true));
    }

    #[test]
    fn segments_below_the_log_start_offset_go_whatever_the_retention() {
        let segs = segments(&[10, 10, 10, 10], &[NOW; 4]);
        let by_log_start = |log_start_offset| {
            decide(&RetentionInput {
                log_start_offset,
                ..input(&segs)
            })
        };
        assert_eq!(by_log_start(0).segments_to_delete(), 0);
        assert_eq!(by_log_start(99).segments_to_delete(), 0);
        assert_eq!(by_log_start(100).by_log_start_offset, 1);
        assert_eq!(by_log_start(250).by_log_start_offset, 2);
        // The active segment has no next segment: it is never below the log start.
        let all = by_log_start(400);
        assert_eq!((all.by_log_start_offset, all.roll_first), (3, false));
    }

    #[test]
    fn nothing_at_or_above_the_high_watermark_goes() {
        let segs = segments(&[10, 10, 10, 10], &[old(); 4]);
        let with_hw = |high_watermark| {
            decide(&RetentionInput {
                high_watermark,
                retention_ms: Some(DAY_MS),
                ..input(&segs)
            })
        };
        assert_eq!(with_hw(99).segments_to_delete(), 0);
        assert_eq!(with_hw(100).segments_to_delete(), 1);
        assert_eq!(with_hw(399).segments_to_delete(), 3);
        let all = with_hw(400);
        assert_eq!((all.segments_to_delete(), all.roll_first), (4, true));
    }

    #[test]
    fn the_passes_run_in_kafkas_order_each_over_what_is_left() {
        // Log start deletes the first; size (250 bytes from the second on, limit 150) the
        // second; time the third (old) but not the fourth (recent).
        let segs = segments(&[1000, 100, 50, 50, 50], &[NOW, NOW, old(), NOW, NOW]);
        let decision = decide(&RetentionInput {
            log_start_offset: 150,
            retention_bytes: Some(150),
            retention_ms: Some(DAY_MS),
            ..input(&segs)
        });
        assert_eq!(
            decision,
            RetentionDecision {
                by_log_start_offset: 1,
                by_size: 1,
                by_time: 1,
                roll_first: false,
            }
        );
    }

    #[test]
    fn timestamps_far_in_the_past_do_not_overflow() {
        let segs = segments(&[10, 10], &[i64::MIN, NOW]);
        let decision = decide(&RetentionInput {
            retention_ms: Some(i64::MAX),
            now_ms: i64::MAX,
            ..input(&segs)
        });
        assert_eq!(decision.by_time, 0);
    }
}
