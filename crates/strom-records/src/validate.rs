//! The produce path's check of one batch: everything a broker must know before it writes the
//! bytes to disk, without decompressing and without allocating per record.
//!
//! Checks, in order: framing (magic at byte 16 is read first, since v0/v1 message sets can
//! be shorter than a v2 header), `batchLength`, the `max.message.bytes` limit, CRC32C,
//! codec id, `recordsCount == lastOffsetDelta + 1 > 0`, and for uncompressed batches every
//! record's varints and lengths, with offset deltas numbered 0..n-1. Compressed batches
//! are trusted past the header, as the hot path must not decompress them.
//!
//! With a [`TimestampRule`], record timestamps are checked as Kafka's
//! `LogValidator.validateTimestamp` does (KIP-937): on a CreateTime topic every record
//! timestamp other than -1 must lie in `[now - message.timestamp.before.max.ms, now +
//! message.timestamp.after.max.ms]`, and a producer may set the LogAppendTime bit only on a
//! CreateTime topic with a real timestamp (its records then carry the batch's
//! `maxTimestamp`). Uncompressed batches are checked record by record in the same walk
//! that checks their framing; a framing error anywhere wins over a timestamp error, as in
//! Kafka, which collects timestamp errors but throws on a malformed record. Compressed
//! batches are checked by their header's `baseTimestamp` (the first record's) and
//! `maxTimestamp` (the largest, which is what the broker indexes and rolls by), since the
//! hot path does not decompress: a record in the middle of a compressed batch with a
//! timestamp below both is not seen, where Kafka would refuse it.

use crate::layout::*;
use crate::record::parse_record;
use crate::{Compression, RecordsError, TimestampType};

/// What the produce path learns while validating a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchSummary {
    /// Whole batch size in bytes.
    pub size_in_bytes: usize,
    /// `recordsCount`.
    pub records_count: i32,
    /// `lastOffsetDelta`.
    pub last_offset_delta: i32,
    /// Codec.
    pub compression: Compression,
    /// Timestamp type as the producer set it.
    pub timestamp_type: TimestampType,
    /// `baseTimestamp` as stored.
    pub base_timestamp: i64,
    /// `maxTimestamp` as stored.
    pub max_timestamp: i64,
    /// The largest record timestamp, computed while walking an uncompressed batch (`None`
    /// for compressed batches, whose records are not read). Kafka rewrites `maxTimestamp`
    /// to this for CreateTime topics.
    pub records_max_timestamp: Option<i64>,
    /// `producerId`.
    pub producer_id: i64,
    /// `producerEpoch`.
    pub producer_epoch: i16,
    /// `baseSequence`.
    pub base_sequence: i32,
    /// Attribute bit 4.
    pub is_transactional: bool,
    /// Attribute bit 5.
    pub is_control: bool,
}

/// The record timestamps a topic accepts on produce (Kafka's `validateTimestamp`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimestampRule {
    /// The topic's `message.timestamp.type`.
    pub timestamp_type: TimestampType,
    /// The broker's clock.
    pub now_ms: i64,
    /// `message.timestamp.before.max.ms` (Kafka's default `Long.MAX_VALUE`: no limit).
    pub before_max_ms: i64,
    /// `message.timestamp.after.max.ms` (default one hour).
    pub after_max_ms: i64,
}

impl TimestampRule {
    /// Kafka's `recordHasInvalidTimestamp`, with Java's wrapping arithmetic.
    pub(crate) fn accepts(&self, timestamp: i64) -> bool {
        let diff = self.now_ms.wrapping_sub(timestamp);
        !(diff > self.before_max_ms || diff.wrapping_neg() > self.after_max_ms)
    }

    fn check(&self, index: i32, offset: i64, timestamp: i64) -> Result<(), RecordsError> {
        if timestamp == NO_TIMESTAMP || self.accepts(timestamp) {
            return Ok(());
        }
        Err(RecordsError::TimestampOutOfRange {
            index,
            offset,
            timestamp,
            low: self.now_ms.wrapping_sub(self.before_max_ms),
            high: self.now_ms.wrapping_add(self.after_max_ms),
        })
    }
}

/// Validates exactly one batch (`batch` must be its bytes, no more) for appending.
pub fn validate_batch(
    batch: &[u8],
    max_message_bytes: usize,
) -> Result<BatchSummary, RecordsError> {
    validate_batch_with(batch, max_message_bytes, None)
}

/// [`validate_batch`], also checking record timestamps against `timestamps`.
pub fn validate_batch_with(
    batch: &[u8],
    max_message_bytes: usize,
    timestamps: Option<&TimestampRule>,
) -> Result<BatchSummary, RecordsError> {
    let size = batch.len();
    if size <= MAGIC_OFFSET {
        return Err(RecordsError::BatchTooShort { size });
    }
    let magic = batch[MAGIC_OFFSET] as i8;
    if magic != CURRENT_MAGIC {
        return Err(RecordsError::UnsupportedMagic { magic });
    }
    if size < RECORD_BATCH_OVERHEAD {
        return Err(RecordsError::BatchTooShort { size });
    }
    let batch_length = be_i32(batch, BATCH_LENGTH_OFFSET);
    if usize::try_from(batch_length)
        .ok()
        .and_then(|l| l.checked_add(LOG_OVERHEAD))
        != Some(size)
    {
        return Err(RecordsError::InvalidBatchLength { batch_length, size });
    }
    if size > max_message_bytes {
        return Err(RecordsError::MessageTooLarge {
            size,
            max: max_message_bytes,
        });
    }
    let stored = be_i32(batch, CRC_OFFSET) as u32;
    let computed = crc32c::crc32c(&batch[ATTRIBUTES_OFFSET..]);
    if stored != computed {
        return Err(RecordsError::CrcMismatch { stored, computed });
    }
    let attributes = be_i16(batch, ATTRIBUTES_OFFSET);
    let compression = Compression::from_id((attributes & COMPRESSION_CODEC_MASK) as u8)?;
    let records_count = be_i32(batch, RECORDS_COUNT_OFFSET);
    let last_offset_delta = be_i32(batch, LAST_OFFSET_DELTA_OFFSET);
    if records_count <= 0 || i64::from(records_count) != i64::from(last_offset_delta) + 1 {
        return Err(RecordsError::InvalidRecordCount {
            records_count,
            last_offset_delta,
        });
    }
    let base_timestamp = be_i64(batch, BASE_TIMESTAMP_OFFSET);
    let max_timestamp = be_i64(batch, MAX_TIMESTAMP_OFFSET);
    let base_offset = be_i64(batch, BASE_OFFSET_OFFSET);
    let log_append_time = attributes & TIMESTAMP_TYPE_MASK != 0;
    // The rule the record walk applies; header-level checks are done here.
    let mut record_rule = None;
    match timestamps {
        Some(rule) if log_append_time => {
            // Every record's timestamp is the batch's maxTimestamp: Kafka reports the
            // first record.
            if rule.timestamp_type == TimestampType::CreateTime && max_timestamp != NO_TIMESTAMP {
                rule.check(0, base_offset, max_timestamp)?;
            } else {
                return Err(RecordsError::LogAppendTimeFromProducer { index: 0 });
            }
        }
        Some(rule) if rule.timestamp_type == TimestampType::CreateTime => {
            if compression == Compression::None {
                record_rule = Some(rule);
            } else {
                rule.check(0, base_offset, base_timestamp)?;
                rule.check(
                    last_offset_delta,
                    base_offset.wrapping_add(i64::from(last_offset_delta)),
                    max_timestamp,
                )?;
            }
        }
        _ => {}
    }
    let records_max_timestamp = if compression == Compression::None {
        Some(walk_records(
            &batch[RECORD_BATCH_OVERHEAD..],
            records_count,
            base_timestamp,
            base_offset,
            record_rule,
        )?)
    } else {
        None
    };
    Ok(BatchSummary {
        size_in_bytes: size,
        records_count,
        last_offset_delta,
        compression,
        timestamp_type: if log_append_time {
            TimestampType::LogAppendTime
        } else {
            TimestampType::CreateTime
        },
        base_timestamp,
        max_timestamp,
        records_max_timestamp,
        producer_id: be_i64(batch, PRODUCER_ID_OFFSET),
        producer_epoch: be_i16(batch, PRODUCER_EPOCH_OFFSET),
        base_sequence: be_i32(batch, BASE_SEQUENCE_OFFSET),
        is_transactional: attributes & TRANSACTIONAL_FLAG_MASK != 0,
        is_control: attributes & CONTROL_FLAG_MASK != 0,
    })
}

/// Walks an uncompressed records section; returns the largest record timestamp. With a
/// `rule`, the first record timestamp it refuses is the error, once the whole section is
/// known to be well formed.
fn walk_records(
    data: &[u8],
    count: i32,
    base_timestamp: i64,
    base_offset: i64,
    rule: Option<&TimestampRule>,
) -> Result<i64, RecordsError> {
    let mut pos = 0;
    let mut max_timestamp = NO_TIMESTAMP;
    let mut timestamp_error = None;
    for index in 0..count {
        let raw = parse_record(data, pos, index)?;
        if raw.offset_delta != index {
            return Err(RecordsError::InvalidOffsetDelta {
                index,
                found: raw.offset_delta,
            });
        }
        let timestamp = base_timestamp.wrapping_add(raw.timestamp_delta);
        max_timestamp = max_timestamp.max(timestamp);
        if let (Some(rule), None) = (rule, &timestamp_error) {
            if let Err(e) = rule.check(index, base_offset.wrapping_add(i64::from(index)), timestamp)
            {
                timestamp_error = Some(e);
            }
        }
        pos = raw.end;
    }
    if pos != data.len() {
        return Err(RecordsError::InvalidRecord {
            index: count,
            position: pos,
            reason: "bytes left after the declared number of records",
        });
    }
    match timestamp_error {
        Some(e) => Err(e),
        None => Ok(max_timestamp),
    }
}
