//! Every record of a batch that a topic refuses, by its index in the batch (KIP-467).
//!
//! Kafka's `LogValidator` checks each record of a produce batch for the topic's rules (a
//! key on compacted topics, the timestamp range of `message.timestamp.before/after.max.ms`,
//! no LogAppendTime from producers) and, if any fails, drops the whole batch and answers
//! with one `RecordError` per refused record: its index in the batch and why. A producer
//! then fails only those records and retries the others.
//!
//! The produce path's [`crate::validate_batch_with`] stops at the first problem and never
//! allocates; [`RecordBatch::invalid_records`] is the slower walk that lists them all. The
//! log runs it on compacted topics (which walk records anyway) and, elsewhere, only once
//! the fast check has refused a batch. Per record, a missing key is reported before a
//! timestamp problem, as in Kafka's `validateRecord`.

use bytes::Bytes;

use crate::layout::NO_TIMESTAMP;
use crate::record::parse_record;
use crate::{Compression, RecordBatch, RecordsError, TimestampRule, TimestampType};

/// Why one record is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordProblem {
    /// No key on a compacted topic (`INVALID_RECORD`).
    MissingKeyOnCompactedTopic,
    /// A CreateTime timestamp outside `[low, high]` (`INVALID_TIMESTAMP`).
    TimestampOutOfRange {
        /// `now - message.timestamp.before.max.ms`.
        low: i64,
        /// `now + message.timestamp.after.max.ms`.
        high: i64,
    },
    /// The producer set LogAppendTime where the topic does not take it (`INVALID_TIMESTAMP`).
    LogAppendTimeFromProducer,
}

/// One refused record: where it is in its batch, what Kafka's messages quote of it, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidRecord {
    /// Index of the record in its batch (the response's `batch_index`).
    pub index: i32,
    /// The record's offset as the producer numbered it (batch base offset + delta).
    pub offset: i64,
    /// The record's timestamp (the batch's `maxTimestamp` for LogAppendTime batches).
    pub timestamp: i64,
    /// Key length in bytes (0 for a null key).
    pub key_bytes: usize,
    /// Value length in bytes (0 for a null value).
    pub value_bytes: usize,
    /// Why it is refused.
    pub problem: RecordProblem,
}

impl InvalidRecord {
    /// Whether this is a timestamp problem (`INVALID_TIMESTAMP`) rather than
    /// `INVALID_RECORD`.
    pub fn is_timestamp_error(&self) -> bool {
        !matches!(self.problem, RecordProblem::MissingKeyOnCompactedTopic)
    }
}

impl RecordBatch {
    /// Every record this batch holds that a topic with these rules refuses, in index
    /// order; empty when all are accepted. `compacted` asks for a key on every record,
    /// `timestamps` applies Kafka's `validateTimestamp`. A compressed batch is decompressed
    /// once (bounded by [`crate::DEFAULT_MAX_DECOMPRESSED_BYTES`]); a malformed record is
    /// an error, as it would be in the produce path's validation.
    pub fn invalid_records(
        &self,
        compacted: bool,
        timestamps: Option<&TimestampRule>,
    ) -> Result<Vec<InvalidRecord>, RecordsError> {
        let section = self.records_section();
        let data = match self.compression()? {
            Compression::None => section,
            codec => {
                Bytes::from(codec.decompress(&section, crate::DEFAULT_MAX_DECOMPRESSED_BYTES)?)
            }
        };
        let log_append_time = self.timestamp_type() == TimestampType::LogAppendTime;
        let base_offset = self.base_offset();
        let base_timestamp = self.base_timestamp();
        let mut invalid = Vec::new();
        let mut pos = 0;
        for index in 0..self.records_count().max(0) {
            let raw = parse_record(&data, pos, index)?;
            pos = raw.end;
            let timestamp = if log_append_time {
                self.max_timestamp()
            } else {
                base_timestamp.wrapping_add(raw.timestamp_delta)
            };
            let problem = if compacted && raw.key.is_none() {
                Some(RecordProblem::MissingKeyOnCompactedTopic)
            } else {
                timestamps.and_then(|rule| timestamp_problem(rule, log_append_time, timestamp))
            };
            if let Some(problem) = problem {
                invalid.push(InvalidRecord {
                    index,
                    offset: base_offset.wrapping_add(i64::from(raw.offset_delta)),
                    timestamp,
                    key_bytes: raw.key.map_or(0, |k| k.len()),
                    value_bytes: raw.value.map_or(0, |v| v.len()),
                    problem,
                });
            }
        }
        Ok(invalid)
    }
}

/// Kafka's `validateTimestamp` for one record.
fn timestamp_problem(
    rule: &TimestampRule,
    log_append_time: bool,
    timestamp: i64,
) -> Option<RecordProblem> {
    if rule.timestamp_type == TimestampType::CreateTime && timestamp != NO_TIMESTAMP {
        (!rule.accepts(timestamp)).then_some(RecordProblem::TimestampOutOfRange {
            low: rule.now_ms.wrapping_sub(rule.before_max_ms),
            high: rule.now_ms.wrapping_add(rule.after_max_ms),
        })
    } else if log_append_time {
        Some(RecordProblem::LogAppendTimeFromProducer)
    } else {
        None
    }
}
