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
    assert_eq!(
        err.to_string(),
        "One or more records have been rejected due to invalid timestamp"
    );
    let refused = err.record_errors().unwrap();
    assert_eq!(
        refused.record_errors,
        vec![(
            1,
            format!(
                "Timestamp {} of message with offset 1 is out of range. The timestamp should be within [{}, {}]",
                NOW - 1_001,
                NOW - 1_000,
                NOW + 3_600_000
            )
        )]
    );
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

#[test]
fn every_refused_record_of_a_batch_is_listed_with_a_missing_key_before_its_timestamp() {
    for codec in [Compression::None, Compression::Gzip] {
        let fs = FaultyFileSystem::new();
        let config = LogConfig {
            compact: true,
            message_timestamp_before_max_ms: 1_000,
            ..LogConfig::default()
        };
        let mut log = open(&fs, config, false);
        let old = NOW - 5_000;
        let mut b =
            strom_records::BatchBuilder::new(codec, strom_records::TimestampType::CreateTime);
        b.append(NOW, Some(b"k0"), Some(b"v"), &[]);
        b.append(NOW, None, Some(b"no key"), &[]);
        b.append(old, Some(b"k2"), Some(b"old"), &[]);
        b.append(old, None, Some(b"both"), &[]);
        b.append(NOW, Some(b"k4"), Some(b"v"), &[]);
        let err = log.append(b.build(0), NOW).unwrap_err();
        // Any timestamp error makes the partition's error INVALID_TIMESTAMP, as in Kafka.
        assert_eq!(err.error_code(), 32, "{codec:?}: {err}");
        let refused = err.record_errors().unwrap();
        let no_key = format!(
            "Compacted topic cannot accept message without key in topic partition {}",
            dir().file_name().unwrap().to_string_lossy()
        );
        let too_old = format!(
            "Timestamp {old} of message with offset 2 is out of range. The timestamp should be within [{}, {}]",
            NOW - 1_000,
            NOW + 3_600_000
        );
        assert_eq!(
            refused.record_errors,
            vec![(1, no_key.clone()), (2, too_old), (3, no_key)],
            "{codec:?}"
        );
        assert_eq!(
            refused.message,
            "One or more records have been rejected due to invalid timestamp"
        );
        assert_eq!(log.log_end_offset(), 0, "{codec:?}: nothing written");
    }
}

#[test]
fn keyless_records_alone_are_invalid_record_with_the_first_three_in_the_message() {
    let fs = FaultyFileSystem::new();
    let config = LogConfig {
        compact: true,
        ..LogConfig::default()
    };
    let mut log = open(&fs, config, false);
    let mut b = strom_records::BatchBuilder::new(
        Compression::Lz4,
        strom_records::TimestampType::CreateTime,
    );
    for i in 0..10u8 {
        let key = [b'k', i];
        b.append(NOW, (i % 3 != 0).then_some(&key[..]), Some(b"v"), &[]);
    }
    let err = log.append(b.build(0), NOW).unwrap_err();
    assert_eq!(err.error_code(), 87, "{err}");
    let refused = err.record_errors().unwrap();
    let indexes: Vec<i32> = refused.record_errors.iter().map(|(i, _)| *i).collect();
    assert_eq!(indexes, vec![0, 3, 6, 9]);
    let message = &refused.record_errors[0].1;
    assert_eq!(
        refused.message,
        format!(
            "One or more records have been rejected due to 4 record errors in total, and only showing the first three errors at most: [RecordError(batchIndex=0, message='{message}'), RecordError(batchIndex=3, message='{message}'), RecordError(batchIndex=6, message='{message}')]"
        )
    );
    assert_eq!(err.to_string(), refused.message);
}

#[test]
fn a_log_append_time_topic_refuses_every_record_of_a_producer_log_append_time_batch() {
    let fs = FaultyFileSystem::new();
    let config = LogConfig {
        message_timestamp_type: strom_records::TimestampType::LogAppendTime,
        ..LogConfig::default()
    };
    let mut log = open(&fs, config, false);
    let mut b = strom_records::BatchBuilder::new(
        Compression::None,
        strom_records::TimestampType::LogAppendTime,
    );
    b.append(NOW, Some(b"key"), Some(b"value"), &[]);
    b.append(NOW, None, Some(b"v"), &[]);
    let err = log.append(b.build(0), NOW).unwrap_err();
    assert_eq!(err.error_code(), 32, "{err}");
    let refused = err.record_errors().unwrap();
    assert_eq!(refused.record_errors.len(), 2);
    assert_eq!(
        refused.record_errors[0].1,
        format!("Invalid timestamp type in message DefaultRecord(offset=0, timestamp={NOW}, key=3 bytes, value=5 bytes). Producer should not set timestamp type to LogAppendTime.")
    );
    assert_eq!(refused.record_errors[1].0, 1);
}
