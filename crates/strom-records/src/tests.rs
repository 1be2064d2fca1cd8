//! Round trips through the builder and the view, validation failures one by one, and the
//! header rewrites of the append path.

use bytes::{Bytes, BytesMut};

use crate::layout::*;
use crate::*;

const CODECS: [Compression; 5] = [
    Compression::None,
    Compression::Gzip,
    Compression::Snappy,
    Compression::Lz4,
    Compression::Zstd,
];

fn batch_of(compression: Compression, n: usize, value_len: usize) -> Bytes {
    let mut b = BatchBuilder::new(compression, TimestampType::CreateTime);
    for i in 0..n {
        let value = vec![b'a' + (i % 26) as u8; value_len];
        b.append(
            1_000 + i as i64,
            Some(format!("k{i}").as_bytes()),
            Some(&value),
            &[],
        );
    }
    b.build(0)
}

/// Rewrites a field and fixes the CRC, to reach checks that come after the CRC.
fn patch(batch: &Bytes, at: usize, bytes: &[u8]) -> Bytes {
    let mut b = BytesMut::from(&batch[..]);
    b[at..at + bytes.len()].copy_from_slice(bytes);
    let crc = crc32c::crc32c(&b[ATTRIBUTES_OFFSET..]);
    b[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
    b.freeze()
}

#[test]
fn builder_and_view_round_trip_with_every_codec() {
    for codec in CODECS {
        let mut b = BatchBuilder::new(codec, TimestampType::CreateTime)
            .producer(42, 3, 17)
            .partition_leader_epoch(9);
        b.append(
            5_000,
            Some(b"key-0"),
            Some(b"value-0"),
            &[
                Header::new("h", Some(b"1")),
                Header::new("h", Some(b"2")),
                Header::new("n", None),
            ],
        );
        b.append(4_990, None, None, &[]);
        b.append(5_010, Some(b""), Some(&[7u8; 3000]), &[]);
        let bytes = b.build(100);
        let batch = RecordBatch::new(bytes.clone()).unwrap();
        assert_eq!(batch.base_offset(), 100, "{codec}");
        assert_eq!(batch.batch_length() as usize + 12, bytes.len());
        assert_eq!(batch.partition_leader_epoch(), 9);
        assert_eq!(batch.magic(), 2);
        assert!(batch.is_valid_crc(), "{codec}");
        assert_eq!(batch.compression().unwrap(), codec);
        assert_eq!(batch.timestamp_type(), TimestampType::CreateTime);
        assert!(!batch.is_transactional() && !batch.is_control());
        assert_eq!(batch.last_offset_delta(), 2);
        assert_eq!(batch.last_offset(), 102);
        assert_eq!(batch.base_timestamp(), 5_000);
        assert_eq!(batch.max_timestamp(), 5_010);
        assert_eq!(
            (
                batch.producer_id(),
                batch.producer_epoch(),
                batch.base_sequence()
            ),
            (42, 3, 17)
        );
        assert_eq!(batch.records_count(), 3);
        batch.validate(1 << 20).unwrap();

        let records = batch.records().unwrap();
        assert_eq!(records.len(), 3);
        assert_eq!(records[0].offset(), 100);
        assert_eq!(records[0].timestamp(), 5_000);
        assert_eq!(records[0].key.as_deref(), Some(&b"key-0"[..]));
        assert_eq!(records[0].value.as_deref(), Some(&b"value-0"[..]));
        // Duplicate header keys survive, in order.
        let headers: Vec<_> = records[0]
            .headers
            .iter()
            .map(|h| (h.key_str().unwrap(), h.value.as_deref()))
            .collect();
        assert_eq!(
            headers,
            [("h", Some(&b"1"[..])), ("h", Some(&b"2"[..])), ("n", None)]
        );
        assert_eq!(records[1].offset(), 101);
        assert_eq!(records[1].timestamp(), 4_990);
        assert_eq!(records[1].timestamp_delta, -10);
        assert_eq!(
            (records[1].key.clone(), records[1].value.clone()),
            (None, None)
        );
        assert_eq!(records[2].key.as_deref(), Some(&b""[..]));
        assert_eq!(records[2].value.as_deref().map(<[u8]>::len), Some(3000));
    }
}

#[test]
fn producer_defaults_are_minus_one() {
    let batch = RecordBatch::new(batch_of(Compression::None, 1, 1)).unwrap();
    assert_eq!(batch.producer_id(), -1);
    assert_eq!(batch.producer_epoch(), -1);
    assert_eq!(batch.base_sequence(), -1);
    assert_eq!(batch.partition_leader_epoch(), -1);
}

#[test]
fn flags_are_set_in_the_attributes() {
    let mut b = BatchBuilder::new(Compression::Lz4, TimestampType::LogAppendTime)
        .transactional(true)
        .control(true);
    b.append(1, None, Some(b"x"), &[]);
    let batch = RecordBatch::new(b.build(0)).unwrap();
    assert_eq!(batch.attributes(), 3 | 0x08 | 0x10 | 0x20);
    assert!(batch.is_transactional() && batch.is_control());
    assert_eq!(batch.timestamp_type(), TimestampType::LogAppendTime);
}

#[test]
fn log_append_time_records_read_the_batch_max_timestamp() {
    let bytes = batch_of(Compression::None, 3, 10);
    let batch = RecordBatch::new(bytes.clone()).unwrap();
    let mut header = batch.header();
    header.set_max_timestamp(
        TimestampType::LogAppendTime,
        99_999,
        &bytes[RECORD_BATCH_OVERHEAD..],
    );
    let mut patched = BytesMut::from(&header.as_bytes()[..]);
    patched.extend_from_slice(&bytes[RECORD_BATCH_OVERHEAD..]);
    let patched = RecordBatch::new(patched.freeze()).unwrap();
    assert!(patched.is_valid_crc());
    assert_eq!(patched.timestamp_type(), TimestampType::LogAppendTime);
    assert_eq!(patched.max_timestamp(), 99_999);
    assert!(patched
        .records()
        .unwrap()
        .iter()
        .all(|r| r.timestamp() == 99_999));
}

#[test]
fn offset_and_epoch_rewrites_keep_the_crc_valid() {
    let bytes = batch_of(Compression::Zstd, 4, 10);
    let mut header = RecordBatch::new(bytes.clone()).unwrap().header();
    header.set_base_offset(1_000_000);
    header.set_partition_leader_epoch(7);
    let mut patched = BytesMut::from(&header.as_bytes()[..]);
    patched.extend_from_slice(&bytes[RECORD_BATCH_OVERHEAD..]);
    let batch = RecordBatch::new(patched.freeze()).unwrap();
    assert!(batch.is_valid_crc());
    assert_eq!(batch.base_offset(), 1_000_000);
    assert_eq!(batch.partition_leader_epoch(), 7);
    assert_eq!(batch.records().unwrap()[3].offset(), 1_000_003);
}

#[test]
fn batches_split_a_buffer_and_report_a_partial_tail_distinctly() {
    let a = batch_of(Compression::None, 2, 5);
    let b = batch_of(Compression::Gzip, 3, 5);
    let mut buf = BytesMut::new();
    buf.extend_from_slice(&a);
    buf.extend_from_slice(&b);
    buf.extend_from_slice(&a[..30]);
    let items: Vec<_> = RecordBatch::iter(buf.freeze()).collect();
    assert_eq!(items.len(), 3);
    assert_eq!(items[0].as_ref().unwrap().as_bytes(), &a);
    assert_eq!(items[1].as_ref().unwrap().as_bytes(), &b);
    assert_eq!(
        items[2].as_ref().unwrap_err(),
        &RecordsError::PartialBatch {
            position: a.len() + b.len(),
            needed: a.len(),
            available: 30
        }
    );
}

#[test]
fn batches_stop_after_a_corrupt_length() {
    let a = batch_of(Compression::None, 1, 5);
    let mut buf = BytesMut::from(&a[..]);
    buf.extend_from_slice(&a);
    let second = a.len();
    buf[second + 8..second + 12].copy_from_slice(&3i32.to_be_bytes());
    buf.extend_from_slice(&a);
    let items: Vec<_> = RecordBatch::iter(buf.freeze()).collect();
    assert_eq!(items.len(), 2);
    assert!(matches!(
        items[1],
        Err(RecordsError::InvalidBatchLength {
            batch_length: 3,
            ..
        })
    ));
}

#[test]
fn view_refuses_wrong_sizes() {
    let a = batch_of(Compression::None, 1, 5);
    assert_eq!(
        RecordBatch::new(a.slice(..40)).unwrap_err(),
        RecordsError::BatchTooShort { size: 40 }
    );
    assert!(matches!(
        RecordBatch::new(a.slice(..a.len() - 1)).unwrap_err(),
        RecordsError::InvalidBatchLength { .. }
    ));
    let mut longer = BytesMut::from(&a[..]);
    longer.extend_from_slice(&[0]);
    assert!(matches!(
        RecordBatch::new(longer.freeze()).unwrap_err(),
        RecordsError::InvalidBatchLength { .. }
    ));
}

#[test]
fn validation_accepts_every_codec() {
    for codec in CODECS {
        let bytes = batch_of(codec, 100, 100);
        let summary = validate_batch(&bytes, 1 << 20).unwrap();
        assert_eq!(summary.records_count, 100);
        assert_eq!(summary.last_offset_delta, 99);
        assert_eq!(summary.compression, codec);
        assert_eq!(summary.max_timestamp, 1_099);
        let expected = (codec == Compression::None).then_some(1_099);
        assert_eq!(summary.records_max_timestamp, expected, "{codec}");
    }
}

#[test]
fn validation_rejects_a_short_batch_as_corrupt() {
    let bytes = batch_of(Compression::None, 1, 1);
    let err = validate_batch(&bytes[..10], 1 << 20).unwrap_err();
    assert_eq!(err, RecordsError::BatchTooShort { size: 10 });
    assert_eq!(err.error_code(), CORRUPT_MESSAGE);
    let err = validate_batch(&bytes[..50], 1 << 20).unwrap_err();
    assert_eq!(err, RecordsError::BatchTooShort { size: 50 });
}

#[test]
fn validation_rejects_old_magic_as_unsupported_for_message_format() {
    for magic in [0u8, 1] {
        let mut legacy = vec![0u8; 40];
        legacy[16] = magic;
        let err = validate_batch(&legacy, 1 << 20).unwrap_err();
        assert_eq!(err, RecordsError::UnsupportedMagic { magic: magic as i8 });
        assert_eq!(err.error_code(), UNSUPPORTED_FOR_MESSAGE_FORMAT);
    }
    let bytes = batch_of(Compression::None, 1, 1);
    let err = validate_batch(&patch(&bytes, MAGIC_OFFSET, &[3]), 1 << 20).unwrap_err();
    assert_eq!(err, RecordsError::UnsupportedMagic { magic: 3 });
    assert_eq!(err.error_code(), CORRUPT_MESSAGE);
}

#[test]
fn validation_rejects_an_inconsistent_batch_length() {
    let bytes = batch_of(Compression::None, 1, 1);
    let bad = patch(
        &bytes,
        BATCH_LENGTH_OFFSET,
        &(bytes.len() as i32).to_be_bytes(),
    );
    let err = validate_batch(&bad, 1 << 20).unwrap_err();
    assert!(matches!(err, RecordsError::InvalidBatchLength { .. }));
    assert_eq!(err.error_code(), CORRUPT_MESSAGE);
}

#[test]
fn validation_rejects_a_batch_above_max_message_bytes() {
    let bytes = batch_of(Compression::None, 10, 100);
    let err = validate_batch(&bytes, bytes.len() - 1).unwrap_err();
    assert_eq!(
        err,
        RecordsError::MessageTooLarge {
            size: bytes.len(),
            max: bytes.len() - 1
        }
    );
    assert_eq!(err.error_code(), MESSAGE_TOO_LARGE);
    validate_batch(&bytes, bytes.len()).unwrap();
}

#[test]
fn validation_rejects_a_flipped_bit_by_crc() {
    let bytes = batch_of(Compression::Snappy, 10, 100);
    let mut bad = BytesMut::from(&bytes[..]);
    let last = bad.len() - 1;
    bad[last] ^= 0x01;
    let err = validate_batch(&bad, 1 << 20).unwrap_err();
    assert!(matches!(err, RecordsError::CrcMismatch { .. }));
    assert_eq!(err.error_code(), CORRUPT_MESSAGE);
}

#[test]
fn validation_rejects_an_unknown_codec() {
    let bytes = batch_of(Compression::None, 1, 1);
    let err = validate_batch(&patch(&bytes, ATTRIBUTES_OFFSET, &[0, 6]), 1 << 20).unwrap_err();
    assert_eq!(err, RecordsError::UnknownCompression { id: 6 });
}

#[test]
fn validation_rejects_record_counts_that_disagree_with_offsets() {
    let bytes = batch_of(Compression::Gzip, 3, 1);
    let cases = [
        patch(&bytes, RECORDS_COUNT_OFFSET, &4i32.to_be_bytes()),
        patch(&bytes, LAST_OFFSET_DELTA_OFFSET, &1i32.to_be_bytes()),
        patch(
            &patch(&bytes, RECORDS_COUNT_OFFSET, &0i32.to_be_bytes()),
            LAST_OFFSET_DELTA_OFFSET,
            &(-1i32).to_be_bytes(),
        ),
    ];
    for bad in cases {
        let err = validate_batch(&bad, 1 << 20).unwrap_err();
        assert!(
            matches!(err, RecordsError::InvalidRecordCount { .. }),
            "{err}"
        );
        assert_eq!(err.error_code(), INVALID_RECORD);
    }
}

#[test]
fn validation_rejects_offset_deltas_out_of_sequence() {
    let mut b = BatchBuilder::new(Compression::None, TimestampType::CreateTime);
    b.append(1, None, Some(b"a"), &[]);
    b.append(1, None, Some(b"b"), &[]);
    let bytes = b.build(0);
    // Record 1 starts after record 0; its offset delta is the 4th byte of that record
    // (length, attributes, timestamp delta 0, offset delta).
    let first_len = 1 + bytes[RECORD_BATCH_OVERHEAD] as usize / 2;
    let at = RECORD_BATCH_OVERHEAD + first_len + 3;
    assert_eq!(bytes[at], 2, "zig-zag 1");
    let err = validate_batch(&patch(&bytes, at, &[4]), 1 << 20).unwrap_err();
    assert_eq!(err, RecordsError::InvalidOffsetDelta { index: 1, found: 2 });
    assert_eq!(err.error_code(), INVALID_RECORD);
}

#[test]
fn validation_rejects_record_lengths_that_do_not_fit() {
    let bytes = batch_of(Compression::None, 2, 10);
    // First record's length varint claims more than the batch holds.
    let err = validate_batch(&patch(&bytes, RECORD_BATCH_OVERHEAD, &[0x7e]), 1 << 20).unwrap_err();
    assert!(
        matches!(err, RecordsError::InvalidRecord { index: 0, .. }),
        "{err}"
    );
    assert_eq!(err.error_code(), INVALID_RECORD);
    // Key length larger than the record.
    let err =
        validate_batch(&patch(&bytes, RECORD_BATCH_OVERHEAD + 4, &[0x40]), 1 << 20).unwrap_err();
    assert!(
        matches!(err, RecordsError::InvalidRecord { index: 0, .. }),
        "{err}"
    );
}

#[test]
fn validation_rejects_trailing_bytes_after_the_records() {
    let bytes = batch_of(Compression::None, 1, 1);
    let mut longer = BytesMut::from(&bytes[..]);
    longer.extend_from_slice(&[0, 0]);
    let new_len = (longer.len() - LOG_OVERHEAD) as i32;
    let bad = patch(
        &longer.freeze(),
        BATCH_LENGTH_OFFSET,
        &new_len.to_be_bytes(),
    );
    let err = validate_batch(&bad, 1 << 20).unwrap_err();
    assert!(
        matches!(err, RecordsError::InvalidRecord { index: 1, .. }),
        "{err}"
    );
}

#[test]
fn decoding_a_corrupt_compressed_section_is_an_error() {
    let bytes = batch_of(Compression::Zstd, 5, 10);
    let len = bytes.len();
    let bad = patch(&bytes, len - 8, &[0xff; 8]);
    let batch = RecordBatch::new(bad).unwrap();
    assert!(batch.records().is_err());
}

#[test]
fn decompression_bombs_are_refused_when_decoding() {
    let bytes = batch_of(Compression::Gzip, 100, 10_000);
    let batch = RecordBatch::new(bytes).unwrap();
    assert!(matches!(
        batch.records_with_limit(100_000),
        Err(RecordsError::DecompressedTooLarge { limit: 100_000, .. })
    ));
    assert_eq!(batch.records_with_limit(2_000_000).unwrap().len(), 100);
}

#[test]
fn a_batch_written_by_librdkafka_style_raw_snappy_decodes() {
    let mut plain = BatchBuilder::new(Compression::None, TimestampType::CreateTime);
    plain.append(7, Some(b"k"), Some(b"v"), &[]);
    let plain = plain.build(0);
    let raw = snap::raw::Encoder::new()
        .compress_vec(&plain[RECORD_BATCH_OVERHEAD..])
        .unwrap();
    let mut header = RecordBatch::new(plain.clone()).unwrap().header();
    let mut bytes = BytesMut::from(&header.as_bytes()[..]);
    bytes.extend_from_slice(&raw);
    let batch_length = (bytes.len() - LOG_OVERHEAD) as i32;
    bytes[BATCH_LENGTH_OFFSET..BATCH_LENGTH_OFFSET + 4]
        .copy_from_slice(&batch_length.to_be_bytes());
    bytes[ATTRIBUTES_OFFSET..ATTRIBUTES_OFFSET + 2].copy_from_slice(&2i16.to_be_bytes());
    header = BatchHeader::parse(&bytes).unwrap();
    header.update_crc(&raw);
    bytes[..RECORD_BATCH_OVERHEAD].copy_from_slice(header.as_bytes());
    let batch = RecordBatch::new(bytes.freeze()).unwrap();
    validate_batch(batch.as_bytes(), 1 << 20).unwrap();
    let records = batch.records().unwrap();
    assert_eq!(records[0].value.as_deref(), Some(&b"v"[..]));
}

/// xorshift64*: deterministic mutations without a dependency.
fn next(state: &mut u64) -> u64 {
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    state.wrapping_mul(0x2545_f491_4f6c_dd1d)
}

#[test]
fn mutated_batches_never_panic() {
    let mut state = 0x5eed_u64;
    for codec in CODECS {
        let mut b = BatchBuilder::new(codec, TimestampType::CreateTime);
        for i in 0..5u8 {
            b.append(
                i64::from(i),
                Some(&[i; 3]),
                Some(&[i; 40]),
                &[Header::new("h", Some(&[i]))],
            );
        }
        let original = b.build(0);
        for _ in 0..2_000 {
            let mut bytes = original.to_vec();
            for _ in 0..1 + next(&mut state) % 4 {
                let at = (next(&mut state) % bytes.len() as u64) as usize;
                bytes[at] = next(&mut state) as u8;
            }
            if next(&mut state) % 5 == 1 {
                bytes.truncate((next(&mut state) % bytes.len() as u64) as usize);
            }
            // Keep the CRC valid half the time so mutations reach the record parser.
            if bytes.len() >= RECORD_BATCH_OVERHEAD && next(&mut state) & 1 == 1 {
                let crc = crc32c::crc32c(&bytes[ATTRIBUTES_OFFSET..]);
                bytes[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
            }
            let bytes = Bytes::from(bytes);
            let _ = validate_batch(&bytes, 1 << 20);
            for batch in RecordBatch::iter(bytes.clone()).flatten() {
                let _ = batch.records_with_limit(1 << 20);
            }
            if let Ok(batch) = RecordBatch::new(bytes) {
                let _ = batch.records_with_limit(1 << 20);
            }
        }
    }
}

#[test]
fn first_record_without_a_key_is_found_in_plain_and_compressed_batches() {
    for codec in [Compression::None, Compression::Gzip, Compression::Zstd] {
        let mut b = BatchBuilder::new(codec, TimestampType::CreateTime);
        b.append(1, Some(b"k0"), Some(b"v"), &[]);
        b.append(2, Some(b"k1"), None, &[]);
        b.append(3, None, Some(b"orphan"), &[]);
        let batch = RecordBatch::new(b.build(0)).unwrap();
        assert_eq!(
            batch.first_record_without_key().unwrap(),
            Some(2),
            "{codec:?}"
        );
        let mut keyed = BatchBuilder::new(codec, TimestampType::CreateTime);
        keyed.append(1, Some(b"k"), None, &[]);
        assert_eq!(
            RecordBatch::new(keyed.build(0))
                .unwrap()
                .first_record_without_key()
                .unwrap(),
            None
        );
    }
}

fn batch_with_timestamps(compression: Compression, timestamps: &[i64]) -> Bytes {
    let mut b = BatchBuilder::new(compression, TimestampType::CreateTime);
    for (i, &ts) in timestamps.iter().enumerate() {
        b.append(ts, Some(format!("k{i}").as_bytes()), Some(b"v"), &[]);
    }
    b.build(0)
}

fn rule(now_ms: i64, before_max_ms: i64, after_max_ms: i64) -> TimestampRule {
    TimestampRule {
        timestamp_type: TimestampType::CreateTime,
        now_ms,
        before_max_ms,
        after_max_ms,
    }
}

#[test]
fn record_timestamps_outside_before_and_after_max_are_invalid_timestamp() {
    let now = 1_000_000;
    let batch = batch_with_timestamps(Compression::None, &[now, now - 100, now + 50]);
    assert!(validate_batch_with(&batch, usize::MAX, Some(&rule(now, 100, 50))).is_ok());
    // Record 1 is 101 ms in the past: Kafka's message names it and the window.
    let err = validate_batch_with(&batch, usize::MAX, Some(&rule(now, 99, 50))).unwrap_err();
    assert_eq!(err.error_code(), 32);
    assert_eq!(
        err.to_string(),
        "Timestamp 999900 of message with offset 1 is out of range. The timestamp should be within [999901, 1000050]"
    );
    // Record 2 is 50 ms in the future.
    let err = validate_batch_with(&batch, usize::MAX, Some(&rule(now, 100, 49))).unwrap_err();
    assert!(
        matches!(err, RecordsError::TimestampOutOfRange { index: 2, offset: 2, timestamp, .. } if timestamp == now + 50),
        "{err:?}"
    );
    // No rule, or a LogAppendTime topic: nothing is checked.
    assert!(validate_batch(&batch, usize::MAX).is_ok());
    let log_append = TimestampRule {
        timestamp_type: TimestampType::LogAppendTime,
        ..rule(now, 0, 0)
    };
    assert!(validate_batch_with(&batch, usize::MAX, Some(&log_append)).is_ok());
}

#[test]
fn a_record_without_timestamp_is_not_checked_and_defaults_allow_any_past() {
    let now = 1_000_000_000;
    let batch = batch_with_timestamps(Compression::None, &[NO_TIMESTAMP, 0, now + 3_600_000]);
    let defaults = rule(now, i64::MAX, 3_600_000);
    assert!(validate_batch_with(&batch, usize::MAX, Some(&defaults)).is_ok());
    let future = batch_with_timestamps(Compression::None, &[now + 3_600_001]);
    assert_eq!(
        validate_batch_with(&future, usize::MAX, Some(&defaults))
            .unwrap_err()
            .error_code(),
        32
    );
    // Java's wrapping arithmetic: a timestamp of i64::MIN is "in the future" by a
    // wrapped difference, and refused.
    let extreme = batch_with_timestamps(Compression::None, &[i64::MIN]);
    assert!(validate_batch_with(&extreme, usize::MAX, Some(&defaults)).is_err());
}

#[test]
fn a_malformed_record_wins_over_an_earlier_bad_timestamp() {
    let now = 1_000_000;
    let batch = batch_with_timestamps(Compression::None, &[0, now]);
    // Cut one byte off the last record and fix the lengths and CRC: a framing error.
    let mut b = BytesMut::from(&batch[..batch.len() - 1]);
    let len = (b.len() - LOG_OVERHEAD) as i32;
    b[BATCH_LENGTH_OFFSET..BATCH_LENGTH_OFFSET + 4].copy_from_slice(&len.to_be_bytes());
    let crc = crc32c::crc32c(&b[ATTRIBUTES_OFFSET..]);
    b[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
    let err = validate_batch_with(&b, usize::MAX, Some(&rule(now, 10, 10))).unwrap_err();
    assert_eq!(err.error_code(), INVALID_RECORD, "{err}");
}

#[test]
fn compressed_batches_are_checked_by_their_first_and_largest_timestamps() {
    let now = 1_000_000;
    for codec in CODECS.into_iter().filter(|c| *c != Compression::None) {
        let ok = batch_with_timestamps(codec, &[now - 10, now + 10]);
        assert!(validate_batch_with(&ok, usize::MAX, Some(&rule(now, 10, 10))).is_ok());
        let old_first = batch_with_timestamps(codec, &[now - 11, now]);
        let err =
            validate_batch_with(&old_first, usize::MAX, Some(&rule(now, 10, 10))).unwrap_err();
        assert!(
            matches!(err, RecordsError::TimestampOutOfRange { index: 0, .. }),
            "{codec:?}: {err:?}"
        );
        let future_max = batch_with_timestamps(codec, &[now, now + 11, now]);
        let err =
            validate_batch_with(&future_max, usize::MAX, Some(&rule(now, 10, 10))).unwrap_err();
        assert!(
            matches!(err, RecordsError::TimestampOutOfRange { index: 2, timestamp, .. } if timestamp == now + 11),
            "{codec:?}: {err:?}"
        );
    }
}

#[test]
fn the_log_append_time_bit_from_a_producer_follows_kafka() {
    let now = 1_000_000;
    let mut b = BatchBuilder::new(Compression::None, TimestampType::LogAppendTime);
    b.append(now, Some(b"k"), Some(b"v"), &[]);
    let batch = b.build(0);
    let max_ts = i64::from_be_bytes(
        batch[MAX_TIMESTAMP_OFFSET..MAX_TIMESTAMP_OFFSET + 8]
            .try_into()
            .unwrap(),
    );
    // On a LogAppendTime topic: always refused.
    let log_append = TimestampRule {
        timestamp_type: TimestampType::LogAppendTime,
        ..rule(now, i64::MAX, i64::MAX)
    };
    let err = validate_batch_with(&batch, usize::MAX, Some(&log_append)).unwrap_err();
    assert_eq!(err.error_code(), 32);
    assert!(err
        .to_string()
        .contains("Producer should not set timestamp type to LogAppendTime"));
    // On a CreateTime topic: the records carry maxTimestamp, which is range-checked.
    let window = rule(max_ts, 0, 0);
    assert!(validate_batch_with(&batch, usize::MAX, Some(&window)).is_ok());
    let shifted = rule(max_ts + 1, 0, 0);
    assert_eq!(
        validate_batch_with(&batch, usize::MAX, Some(&shifted))
            .unwrap_err()
            .error_code(),
        32
    );
    let no_ts = patch(&batch, MAX_TIMESTAMP_OFFSET, &NO_TIMESTAMP.to_be_bytes());
    assert!(matches!(
        validate_batch_with(&no_ts, usize::MAX, Some(&window)),
        Err(RecordsError::LogAppendTimeFromProducer { index: 0 })
    ));
}

#[test]
fn recompression_keeps_every_record_and_header_field_and_changes_only_the_codec() {
    let codecs = [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ];
    for from in codecs {
        let mut b = BatchBuilder::new(from, TimestampType::CreateTime).producer(42, 3, 100);
        for i in 0..30 {
            let value = vec![b'a' + (i % 26) as u8; 200];
            b.append(
                1_000 + i as i64,
                Some(format!("k{i}").as_bytes()),
                Some(&value),
                &[],
            );
        }
        let original = RecordBatch::new(b.build(7)).unwrap();
        for to in codecs {
            let stored = RecordBatch::new(original.recompressed(to).unwrap()).unwrap();
            stored.validate(1 << 20).unwrap();
            assert_eq!(stored.compression().unwrap(), to, "{from} -> {to}");
            assert_eq!(stored.records().unwrap(), original.records().unwrap());
            assert_eq!(
                (
                    stored.base_offset(),
                    stored.last_offset(),
                    stored.producer_id()
                ),
                (
                    original.base_offset(),
                    original.last_offset(),
                    original.producer_id()
                )
            );
            assert_eq!(
                (
                    stored.producer_epoch(),
                    stored.base_sequence(),
                    stored.max_timestamp()
                ),
                (
                    original.producer_epoch(),
                    original.base_sequence(),
                    original.max_timestamp()
                )
            );
            if from == to {
                assert_eq!(stored.as_bytes(), original.as_bytes());
            }
        }
    }
}

#[test]
fn invalid_records_lists_every_refused_record_in_plain_and_compressed_batches() {
    use crate::{InvalidRecord, RecordProblem, TimestampRule};
    let now = 1_000_000;
    let rule = TimestampRule {
        timestamp_type: TimestampType::CreateTime,
        now_ms: now,
        before_max_ms: 100,
        after_max_ms: 100,
    };
    for codec in [Compression::None, Compression::Snappy, Compression::Zstd] {
        let mut b = BatchBuilder::new(codec, TimestampType::CreateTime);
        b.append(now, Some(b"k0"), Some(b"v0"), &[]);
        b.append(now, None, Some(b"v1"), &[]);
        b.append(now + 101, Some(b"k2"), None, &[]);
        b.append(now - 101, None, Some(b"v3"), &[]);
        let batch = RecordBatch::new(b.build(40)).unwrap();
        let range = RecordProblem::TimestampOutOfRange {
            low: now - 100,
            high: now + 100,
        };
        let record = |index: i32, timestamp: i64, key_bytes, value_bytes, problem| InvalidRecord {
            index,
            offset: 40 + i64::from(index),
            timestamp,
            key_bytes,
            value_bytes,
            problem,
        };
        assert_eq!(
            batch.invalid_records(true, Some(&rule)).unwrap(),
            vec![
                record(1, now, 0, 2, RecordProblem::MissingKeyOnCompactedTopic),
                record(2, now + 101, 2, 0, range),
                record(
                    3,
                    now - 101,
                    0,
                    2,
                    RecordProblem::MissingKeyOnCompactedTopic
                ),
            ],
            "{codec:?}"
        );
        assert_eq!(
            batch.invalid_records(false, Some(&rule)).unwrap(),
            vec![
                record(2, now + 101, 2, 0, range),
                record(3, now - 101, 0, 2, range)
            ],
            "{codec:?}"
        );
        assert_eq!(
            batch.invalid_records(false, None).unwrap(),
            vec![],
            "{codec:?}"
        );
    }
}
