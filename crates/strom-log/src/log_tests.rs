//! Append, read, roll and timestamp lookups of [`Log`].

use bytes::Bytes;
use strom_records::{BatchBuilder, Compression, RecordBatch, TimestampType};

use crate::test_support::*;
use crate::*;

fn small_index_config() -> LogConfig {
    LogConfig {
        index_interval_bytes: 1,
        ..LogConfig::default()
    }
}

#[test]
fn appends_get_consecutive_offsets_and_read_back_byte_for_byte() {
    let fs = FaultyFileSystem::new();
    let mut log = open(&fs, LogConfig::default(), false);
    let a = batch(Compression::None, 3, 1_000, 1);
    let b = batch(Compression::Lz4, 2, 2_000, 2);
    let info = log.append(concat(&[a.clone(), b.clone()]), 5).unwrap();
    assert_eq!(
        info,
        AppendInfo {
            base_offset: 0,
            last_offset: 4,
            log_append_time_ms: -1,
            log_start_offset: 0,
            record_count: 5,
            max_timestamp: 2_001,
            duplicate: false,
        }
    );
    let info = log
        .append(batch(Compression::Zstd, 4, 3_000, 3), 6)
        .unwrap();
    assert_eq!((info.base_offset, info.last_offset), (5, 8));
    assert_eq!(log.log_end_offset(), 9);

    let result = log.read(0, 1 << 20, false, i64::MAX).unwrap();
    let batches: Vec<RecordBatch> = RecordBatch::iter(result.records.clone())
        .map(Result::unwrap)
        .collect();
    assert_eq!(batches.len(), 3);
    assert_eq!(result.next_fetch_offset, 9);
    // Only baseOffset differs from what the producer sent.
    assert_eq!(batches[0].as_bytes(), &a);
    assert_eq!(&batches[1].as_bytes()[8..], &b[8..]);
    assert_eq!(batches[1].base_offset(), 3);
    assert!(batches.iter().all(RecordBatch::is_valid_crc));
    let records = all_records(&log);
    assert_eq!(
        records.iter().map(|r| r.0).collect::<Vec<_>>(),
        (0..9).collect::<Vec<_>>()
    );
    assert_eq!(records[5].1, "v3-0");
    assert_eq!(log.size_bytes(), result.records.len() as u64);
}

#[test]
fn a_bad_batch_anywhere_in_the_request_writes_nothing() {
    let fs = FaultyFileSystem::new();
    let mut log = open(&fs, LogConfig::default(), false);
    log.append(batch(Compression::None, 1, 1, 0), 0).unwrap();
    let before = fs.contents(&seg_path(0, ".log")).unwrap();
    let good = batch(Compression::None, 2, 1, 1);
    let mut bad = batch(Compression::None, 2, 1, 2).to_vec();
    let last = bad.len() - 1;
    bad[last] ^= 0xff;
    let err = log
        .append(concat(&[good, Bytes::from(bad)]), 0)
        .unwrap_err();
    assert!(
        matches!(
            err,
            AppendError::InvalidRecords(strom_records::RecordsError::CrcMismatch { .. })
        ),
        "{err}"
    );
    assert_eq!(err.error_code(), 2);
    assert_eq!(fs.contents(&seg_path(0, ".log")).unwrap(), before);
    assert_eq!(log.log_end_offset(), 1);
    assert!(!log.is_offline());
}

#[test]
fn append_errors_carry_kafka_error_codes() {
    let fs = FaultyFileSystem::new();
    let config = LogConfig {
        max_message_bytes: 200,
        segment_bytes: 1_000,
        ..LogConfig::default()
    };
    let mut log = open(&fs, config, false);
    assert_eq!(
        log.append(Bytes::new(), 0).unwrap_err().error_code(),
        INVALID_RECORD
    );
    let big = batch(Compression::None, 20, 0, 0);
    assert_eq!(log.append(big, 0).unwrap_err().error_code(), 10);
    let small = batch(Compression::None, 1, 0, 0);
    let many: Vec<Bytes> = (0..20).map(|_| small.clone()).collect();
    let err = log.append(concat(&many), 0).unwrap_err();
    assert!(matches!(err, AppendError::RecordListTooLarge { .. }));
    assert_eq!(err.error_code(), RECORD_LIST_TOO_LARGE);
    let mut partial = small.to_vec();
    partial.truncate(partial.len() - 3);
    assert_eq!(
        log.append(concat(&[small.clone(), Bytes::from(partial)]), 0)
            .unwrap_err()
            .error_code(),
        2
    );
    assert_eq!(log.log_end_offset(), 0);
}

#[test]
fn log_append_time_topics_stamp_every_batch_with_a_valid_crc() {
    let fs = FaultyFileSystem::new();
    let config = LogConfig {
        message_timestamp_type: TimestampType::LogAppendTime,
        ..LogConfig::default()
    };
    let mut log = open(&fs, config, false);
    let info = log
        .append(
            concat(&[
                batch(Compression::None, 2, 10, 0),
                batch(Compression::Gzip, 2, 10, 1),
            ]),
            777,
        )
        .unwrap();
    assert_eq!(info.log_append_time_ms, 777);
    assert_eq!(info.max_timestamp, 777);
    let result = log.read(0, 1 << 20, false, i64::MAX).unwrap();
    for batch in RecordBatch::iter(result.records) {
        let batch = batch.unwrap();
        assert!(batch.is_valid_crc());
        assert_eq!(batch.timestamp_type(), TimestampType::LogAppendTime);
        assert_eq!(batch.max_timestamp(), 777);
        assert!(batch
            .records()
            .unwrap()
            .iter()
            .all(|r| r.timestamp() == 777));
    }
}

#[test]
fn create_time_max_timestamp_is_taken_from_the_records() {
    let fs = FaultyFileSystem::new();
    let mut log = open(&fs, LogConfig::default(), false);
    // A producer that lies about maxTimestamp and sets the LogAppendTime bit.
    let honest = batch_with_timestamps(Compression::None, &[50, 90, 70]);
    let mut header = RecordBatch::new(honest.clone()).unwrap().header();
    header.set_max_timestamp(TimestampType::LogAppendTime, 5, &honest[61..]);
    let lying = concat(&[
        Bytes::copy_from_slice(header.as_bytes()),
        honest.slice(61..),
    ]);
    let info = log.append(lying, 0).unwrap();
    assert_eq!(info.max_timestamp, 90);
    let stored = RecordBatch::new(log.read(0, 1 << 20, false, i64::MAX).unwrap().records).unwrap();
    assert!(stored.is_valid_crc());
    assert_eq!(stored.max_timestamp(), 90);
    assert_eq!(stored.timestamp_type(), TimestampType::CreateTime);
}

#[test]
fn leaders_stamp_their_epoch() {
    let fs = FaultyFileSystem::new();
    let mut log = open(&fs, LogConfig::default(), false);
    log.append_as_leader(batch(Compression::Snappy, 2, 0, 0), 12, 0)
        .unwrap();
    let stored = RecordBatch::new(log.read(0, 1 << 20, false, i64::MAX).unwrap().records).unwrap();
    assert_eq!(stored.partition_leader_epoch(), 12);
    assert!(stored.is_valid_crc());
}

#[test]
fn fetch_offsets_outside_the_log_are_out_of_range_and_the_end_is_empty() {
    let fs = FaultyFileSystem::new();
    let mut log = open(&fs, LogConfig::default(), false);
    log.append(batch(Compression::None, 5, 0, 0), 0).unwrap();
    let err = log.read(6, 1 << 20, false, i64::MAX).unwrap_err();
    assert!(matches!(
        err,
        ReadError::OffsetOutOfRange {
            log_start_offset: 0,
            log_end_offset: 5
        }
    ));
    assert_eq!(err.error_code(), OFFSET_OUT_OF_RANGE);
    assert!(matches!(
        log.read(-1, 1 << 20, false, i64::MAX),
        Err(ReadError::OffsetOutOfRange { .. })
    ));
    let at_end = log.read(5, 1 << 20, true, i64::MAX).unwrap();
    assert!(at_end.records.is_empty());
    assert_eq!((at_end.next_fetch_offset, at_end.log_end_offset), (5, 5));
}

#[test]
fn reads_stop_before_the_high_watermark() {
    let fs = FaultyFileSystem::new();
    let mut log = open(&fs, LogConfig::default(), false);
    for i in 0..3 {
        log.append(batch(Compression::None, 2, 0, i), 0).unwrap();
    }
    let result = log.read(0, 1 << 20, true, 4).unwrap();
    let batches: Vec<_> = RecordBatch::iter(result.records)
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        batches
            .iter()
            .map(RecordBatch::base_offset)
            .collect::<Vec<_>>(),
        [0, 2]
    );
    assert_eq!(result.next_fetch_offset, 4);
    // A high watermark inside a batch excludes that batch.
    let result = log.read(0, 1 << 20, true, 3).unwrap();
    assert_eq!(RecordBatch::iter(result.records).count(), 1);
    assert!(log.read(4, 1 << 20, true, 4).unwrap().records.is_empty());
    assert!(log.read(2, 1 << 20, true, 3).unwrap().records.is_empty());
}

#[test]
fn max_bytes_cuts_at_batch_boundaries_and_min_one_message_returns_one_large_batch() {
    let fs = FaultyFileSystem::new();
    let mut log = open(&fs, LogConfig::default(), false);
    let b = batch(Compression::None, 4, 0, 0);
    let size = b.len();
    for _ in 0..3 {
        log.append(b.clone(), 0).unwrap();
    }
    let result = log.read(0, 2 * size + size / 2, false, i64::MAX).unwrap();
    assert_eq!(result.records.len(), 2 * size);
    assert_eq!(result.next_fetch_offset, 8);
    // KIP-74: a first batch larger than max_bytes comes back whole with min_one_message ...
    let result = log.read(4, 10, true, i64::MAX).unwrap();
    assert_eq!(result.records.len(), size);
    assert_eq!(RecordBatch::new(result.records).unwrap().base_offset(), 4);
    // ... and not at all without it.
    let result = log.read(4, 10, false, i64::MAX).unwrap();
    assert!(result.records.is_empty());
    assert_eq!(result.next_fetch_offset, 4);
}

#[test]
fn a_fetch_inside_a_batch_returns_the_whole_batch() {
    let fs = FaultyFileSystem::new();
    let mut log = open(&fs, LogConfig::default(), false);
    log.append(batch(Compression::None, 5, 0, 0), 0).unwrap();
    log.append(batch(Compression::None, 5, 0, 1), 0).unwrap();
    let result = log.read(7, 1 << 20, false, i64::MAX).unwrap();
    let batch = RecordBatch::new(result.records).unwrap();
    assert_eq!((batch.base_offset(), batch.last_offset()), (5, 9));
}

#[test]
fn index_lookups_find_every_offset_across_segments() {
    let fs = FaultyFileSystem::new();
    let config = LogConfig {
        segment_bytes: 2_000,
        ..small_index_config()
    };
    let mut log = open(&fs, config, false);
    let mut expected_batches = Vec::new();
    for i in 0..120u32 {
        let n = 1 + (i % 4) as usize;
        let info = log.append(batch(Compression::None, n, 0, i), 0).unwrap();
        expected_batches.push((info.base_offset, info.last_offset));
    }
    assert!(log.segment_count() > 3, "segments: {}", log.segment_count());
    assert!(log.segments.iter().all(|s| s.offset_index_entries() > 0));
    for (base, last) in &expected_batches {
        for offset in *base..=*last {
            let result = log.read(offset, 1, true, i64::MAX).unwrap();
            let batch = RecordBatch::new(result.records).unwrap();
            assert_eq!(
                (batch.base_offset(), batch.last_offset()),
                (*base, *last),
                "fetch {offset}"
            );
        }
    }
    // A read at the end of a segment moves on to the next.
    let second = log.segment_base_offsets()[1];
    let result = log.read(second, 1 << 20, false, i64::MAX).unwrap();
    assert_eq!(
        RecordBatch::iter(result.records)
            .next()
            .unwrap()
            .unwrap()
            .base_offset(),
        second
    );
}

#[test]
fn segments_roll_when_segment_bytes_would_be_exceeded() {
    let fs = FaultyFileSystem::new();
    let b = batch(Compression::None, 3, 0, 0);
    let config = LogConfig {
        segment_bytes: 2 * b.len() as u64,
        ..LogConfig::default()
    };
    let mut log = open(&fs, config, false);
    for _ in 0..5 {
        log.append(b.clone(), 0).unwrap();
    }
    assert_eq!(log.segment_base_offsets(), [0, 6, 12]);
    assert!(fs.contents(&seg_path(6, ".log")).is_some());
    // Rolled segments are durable, and so is everything before the active one.
    assert_eq!(log.flushed_offset(), 12);
    assert_eq!(all_records(&log).len(), 15);
}

#[test]
fn segments_roll_when_older_than_segment_ms_by_record_timestamps() {
    let fs = FaultyFileSystem::new();
    let config = LogConfig {
        segment_ms: 1_000,
        ..LogConfig::default()
    };
    let mut log = open(&fs, config, false);
    log.append(batch(Compression::None, 1, 10_000, 0), 0)
        .unwrap();
    log.append(batch(Compression::None, 1, 11_000, 1), 0)
        .unwrap();
    assert_eq!(log.segment_count(), 1);
    log.append(batch(Compression::None, 1, 11_001, 2), 0)
        .unwrap();
    assert_eq!(log.segment_base_offsets(), [0, 2]);
}

#[test]
fn segments_without_timestamps_roll_by_creation_time() {
    let fs = FaultyFileSystem::new();
    let config = LogConfig {
        segment_ms: 1_000,
        ..LogConfig::default()
    };
    let mut log = open(&fs, config, false);
    log.append(batch_with_timestamps(Compression::None, &[-1]), 0)
        .unwrap();
    log.append(batch_with_timestamps(Compression::None, &[-1]), 1_000)
        .unwrap();
    assert_eq!(log.segment_count(), 1);
    log.append(batch_with_timestamps(Compression::None, &[-1]), 1_001)
        .unwrap();
    assert_eq!(log.segment_count(), 2);
}

#[test]
fn segment_jitter_shortens_segment_ms_deterministically() {
    let fs = FaultyFileSystem::new();
    let config = LogConfig {
        segment_ms: 1_000,
        segment_jitter_ms: 500,
        ..LogConfig::default()
    };
    let log = open(&fs, config, false);
    let jitter = log.roll_jitter_ms(0);
    assert!((0..500).contains(&jitter));
    assert_eq!(jitter, log.roll_jitter_ms(0));
}

#[test]
fn segments_roll_when_an_index_is_full() {
    let fs = FaultyFileSystem::new();
    // 24 bytes hold 3 offset entries but only 2 time entries: the time index fills first.
    let config = LogConfig {
        segment_index_bytes: 24,
        ..small_index_config()
    };
    let mut log = open(&fs, config, false);
    for i in 0..4 {
        log.append(batch(Compression::None, 1, i, i as u32), 0)
            .unwrap();
    }
    // Batch 0 is unindexed, batches 1 and 2 fill the time index, batch 3 rolls.
    assert_eq!(log.segment_base_offsets(), [0, 3]);
    assert_eq!(log.segments[0].offset_index_entries(), 2);
}

#[test]
fn segments_roll_before_a_relative_offset_would_overflow() {
    let fs = FaultyFileSystem::new();
    let log = {
        let mut log = open(&fs, LogConfig::default(), false);
        log.append(batch(Compression::None, 1, 0, 0), 0).unwrap();
        log
    };
    let segment = log.active();
    let config = LogConfig::default();
    assert!(!segment.should_roll(&config, 10, 0, i64::from(i32::MAX), 0));
    assert!(segment.should_roll(&config, 10, 0, i64::from(i32::MAX) + 1, 0));
}

#[test]
fn offset_for_timestamp_finds_the_first_record_at_or_after_it() {
    let fs = FaultyFileSystem::new();
    let config = LogConfig {
        segment_bytes: 1_500,
        ..small_index_config()
    };
    let mut log = open(&fs, config, false);
    let mut all = Vec::new();
    let codecs = [Compression::None, Compression::Gzip, Compression::Zstd];
    for i in 0..40i64 {
        // Timestamps wander: mostly rising, sometimes back in time, with duplicates.
        let ts: Vec<i64> = (0..3)
            .map(|j| 1_000 + i * 10 + ((i * 7 + j * 13) % 25) - 12)
            .collect();
        let info = log
            .append(batch_with_timestamps(codecs[(i % 3) as usize], &ts), 0)
            .unwrap();
        for (j, t) in ts.iter().enumerate() {
            all.push((info.base_offset + j as i64, *t));
        }
    }
    assert!(log.segment_count() > 2);
    for target in (900..1_500).step_by(3) {
        let expected = all
            .iter()
            .find(|(_, t)| *t >= target)
            .map(|(o, t)| TimestampOffset {
                timestamp: *t,
                offset: *o,
            });
        assert_eq!(
            log.offset_for_timestamp(target).unwrap(),
            expected,
            "target {target}"
        );
    }
}

#[test]
fn max_timestamp_offset_names_the_first_record_with_the_largest_timestamp() {
    let fs = FaultyFileSystem::new();
    let config = LogConfig {
        segment_bytes: 200,
        ..LogConfig::default()
    };
    let mut log = open(&fs, config.clone(), false);
    assert_eq!(log.max_timestamp_offset().unwrap(), None);
    log.append(batch_with_timestamps(Compression::None, &[5, 6]), 0)
        .unwrap();
    log.append(batch_with_timestamps(Compression::Lz4, &[7, 50, 9, 50]), 0)
        .unwrap();
    log.append(batch_with_timestamps(Compression::None, &[10, 50]), 0)
        .unwrap();
    log.append(batch_with_timestamps(Compression::None, &[11]), 0)
        .unwrap();
    assert!(log.segment_count() > 1);
    let expected = Some(TimestampOffset {
        timestamp: 50,
        offset: 3,
    });
    assert_eq!(log.max_timestamp_offset().unwrap(), expected);
    log.close().unwrap();
    let log = open(&fs, config.clone(), false);
    assert_eq!(log.max_timestamp_offset().unwrap(), expected);
    drop(log);
    let log = open(&fs, config, true);
    assert_eq!(log.max_timestamp_offset().unwrap(), expected);
}

#[test]
fn max_timestamp_offset_of_a_log_append_time_batch_is_its_first_record() {
    let fs = FaultyFileSystem::new();
    let config = LogConfig {
        message_timestamp_type: TimestampType::LogAppendTime,
        ..LogConfig::default()
    };
    let mut log = open(&fs, config, false);
    log.append(batch(Compression::None, 3, 0, 0), 100).unwrap();
    log.append(batch(Compression::Gzip, 3, 0, 1), 200).unwrap();
    log.append(batch(Compression::None, 3, 0, 2), 150).unwrap();
    assert_eq!(
        log.max_timestamp_offset().unwrap(),
        Some(TimestampOffset {
            timestamp: 200,
            offset: 3
        })
    );
    assert_eq!(
        log.offset_for_timestamp(101).unwrap(),
        Some(TimestampOffset {
            timestamp: 200,
            offset: 3
        })
    );
}

#[test]
fn offset_for_timestamp_falls_back_to_the_batch_when_records_cannot_be_decoded() {
    let fs = FaultyFileSystem::new();
    let mut log = open(&fs, LogConfig::default(), false);
    // A zstd batch whose compressed body is garbage passes validation (not decompressed).
    let mut b = BatchBuilder::new(Compression::Zstd, TimestampType::CreateTime);
    b.append(500, None, Some(b"x"), &[]);
    let good = b.build(0);
    let mut header = RecordBatch::new(good.clone()).unwrap().header();
    let garbage = vec![0xabu8; good.len() - 61];
    header.update_crc(&garbage);
    log.append(
        concat(&[
            Bytes::copy_from_slice(header.as_bytes()),
            Bytes::from(garbage),
        ]),
        0,
    )
    .unwrap();
    assert_eq!(
        log.offset_for_timestamp(400).unwrap(),
        Some(TimestampOffset {
            timestamp: 500,
            offset: 0
        })
    );
}

#[test]
fn logs_are_shared_between_threads_for_reading() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Log>();
    assert_send_sync::<PendingFlush>();
    assert_send_sync::<LogManager>();

    let fs = FaultyFileSystem::new();
    let mut log = open(
        &fs,
        LogConfig {
            segment_bytes: 1_000,
            ..LogConfig::default()
        },
        false,
    );
    for i in 0..50 {
        log.append(batch(Compression::None, 2, 0, i), 0).unwrap();
    }
    let expected = all_records(&log);
    let log = &log;
    std::thread::scope(|s| {
        let readers: Vec<_> = (0..4).map(|_| s.spawn(move || all_records(log))).collect();
        for reader in readers {
            assert_eq!(reader.join().unwrap(), expected);
        }
    });
}
