//! `message.timestamp.before.max.ms` / `message.timestamp.after.max.ms` through [`Log`]:
//! refused before anything is written, and no roll forced by raised timestamps.

use strom_records::Compression;

use crate::test_support::*;
use crate::*;

const NOW: i64 = 1_700_000_000_000;
const DAY: i64 = 24 * 60 * 60 * 1000;

#[test]
fn a_timestamp_further_in_the_past_than_before_max_ms_is_refused_and_nothing_is_written() {
    let fs = FaultyFileSystem::new();
    let config = LogConfig {
        message_timestamp_before_max_ms: 1_000,
        ..LogConfig::default()
    };
    let mut log = open(&fs, config, false);
    log.append(batch(Compression::None, 1, NOW, 0), NOW)
        .unwrap();
    let size = log.size_bytes();
    // One good batch and one whose second record is 1001 ms old: the whole append fails.
    let request = concat(&[
        batch(Compression::None, 1, NOW, 1),
        batch_with_timestamps(Compression::None, &[NOW, NOW - 1_001]),
    ]);
    let err = log.append(request, NOW).unwrap_err();
    assert_eq!(err.error_code(), 32, "{err}");
    assert!(
        err.to_string().contains(&format!(
            "Timestamp {} of message with offset 1 is out of range. The timestamp should be within [{}, {}]",
            NOW - 1_001,
            NOW - 1_000,
            NOW + 3_600_000
        )),
        "{err}"
    );
    let (index, message, summary) = err.record_error().unwrap();
    assert_eq!(
        (index, summary),
        (
            1,
            "One or more records have been rejected due to invalid timestamp"
        )
    );
    assert!(message.starts_with(&format!("Timestamp {}", NOW - 1_001)));
    assert_eq!((log.log_end_offset(), log.size_bytes()), (1, size));
    log.append(
        batch_with_timestamps(Compression::None, &[NOW - 1_000]),
        NOW,
    )
    .unwrap();
    assert_eq!(log.log_end_offset(), 2);
}

#[test]
fn a_timestamp_further_in_the_future_than_after_max_ms_is_refused_with_the_default_of_one_hour() {
    let fs = FaultyFileSystem::new();
    let mut log = open(&fs, LogConfig::default(), false);
    for codec in [Compression::None, Compression::Lz4] {
        let err = log
            .append(batch(codec, 3, NOW + 3_600_000 - 1, 0), NOW)
            .unwrap_err();
        assert_eq!(err.error_code(), 32, "{codec:?}: {err}");
        log.append(batch(codec, 1, NOW + 3_600_000, 0), NOW)
            .unwrap();
    }
    assert_eq!(log.log_end_offset(), 2);
    // The default before.max.ms (no limit) accepts any past timestamp.
    log.append(batch(Compression::None, 1, 0, 0), NOW).unwrap();
    assert_eq!(log.log_end_offset(), 3);
}

#[test]
fn log_append_time_topics_do_not_check_record_timestamps() {
    let fs = FaultyFileSystem::new();
    let config = LogConfig {
        message_timestamp_type: strom_records::TimestampType::LogAppendTime,
        message_timestamp_before_max_ms: 0,
        message_timestamp_after_max_ms: 0,
        ..LogConfig::default()
    };
    let mut log = open(&fs, config, false);
    let info = log
        .append(batch(Compression::None, 2, NOW + DAY, 0), NOW)
        .unwrap();
    assert_eq!((info.last_offset, info.log_append_time_ms), (1, NOW));
}

#[test]
fn raised_timestamps_cannot_force_a_roll_on_every_produce() {
    // A producer that adds segment.ms to its timestamps on every request would roll the
    // active segment each time (time-based rolling follows record timestamps, as in
    // Kafka). after.max.ms bounds how far ahead it can go, so at most one roll happens
    // until the clock itself has moved segment.ms on.
    let fs = FaultyFileSystem::new();
    let config = LogConfig {
        segment_ms: DAY,
        ..LogConfig::default()
    };
    let mut log = open(&fs, config, false);
    log.append(batch(Compression::None, 1, NOW, 0), NOW)
        .unwrap();
    let mut refused = 0;
    for i in 1..=50 {
        match log.append(batch(Compression::None, 1, NOW + i * (DAY + 1), 0), NOW) {
            Ok(_) => {}
            Err(e) => {
                assert_eq!(e.error_code(), 32, "{e}");
                refused += 1;
            }
        }
    }
    assert_eq!(refused, 50);
    assert_eq!(log.segment_count(), 1);
}
