//! Why a record batch was refused, and the Kafka error code each reason maps to.
//!
//! Produce requests carry this crate's verdict back to the client as a per-partition error
//! code, so the mapping lives beside the enum in [`RecordsError::error_code`], the one place
//! that decides it.

use crate::Compression;

/// `CORRUPT_MESSAGE`: the batch framing or its CRC is wrong.
pub const CORRUPT_MESSAGE: i16 = 2;
/// `MESSAGE_TOO_LARGE`: the batch is larger than `max.message.bytes`.
pub const MESSAGE_TOO_LARGE: i16 = 10;
/// `UNSUPPORTED_FOR_MESSAGE_FORMAT`: a message set older than magic 2.
pub const UNSUPPORTED_FOR_MESSAGE_FORMAT: i16 = 43;
/// `INVALID_RECORD`: the batch frames correctly but its records break the format rules.
pub const INVALID_RECORD: i16 = 87;
/// `INVALID_TIMESTAMP`: a record's timestamp is outside what the topic accepts.
pub const INVALID_TIMESTAMP: i16 = 32;

/// A record batch that cannot be read or accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordsError {
    /// Fewer bytes than the fixed 61-byte v2 batch header.
    #[error(
        "record batch is {size} bytes, shorter than the 61-byte batch header; \
         the sender wrote a truncated batch"
    )]
    BatchTooShort {
        /// Bytes present.
        size: usize,
    },
    /// The buffer ends inside a batch. Fetch responses may legitimately end this way
    /// (the broker cut at `max_bytes`); anywhere else it means truncation.
    #[error(
        "partial record batch at byte {position}: {available} of {needed} bytes present \
         (the buffer was cut inside a batch)"
    )]
    PartialBatch {
        /// Where the partial batch starts in the buffer.
        position: usize,
        /// Bytes the batch needs; 0 when too little is present to read its length.
        needed: usize,
        /// Bytes present from `position` to the end of the buffer.
        available: usize,
    },
    /// `batchLength` does not describe the bytes present.
    #[error(
        "batchLength {batch_length} does not match the {size} bytes of the batch \
         (a v2 batch is batchLength + 12 bytes and at least 61); the batch is corrupt"
    )]
    InvalidBatchLength {
        /// The stored `batchLength` field.
        batch_length: i32,
        /// Bytes present for this batch.
        size: usize,
    },
    /// Magic byte other than 2.
    #[error(
        "message format magic {magic} is not supported: only record batch v2 (magic 2, \
         Kafka 0.11+) is accepted; upgrade the client or set its message format to v2"
    )]
    UnsupportedMagic {
        /// The magic byte found at offset 16.
        magic: i8,
    },
    /// Stored CRC32C differs from the one computed over attributes..end.
    #[error(
        "record batch CRC32C mismatch: stored {stored:#010x}, computed {computed:#010x}; \
         the batch was corrupted in transit or on disk"
    )]
    CrcMismatch {
        /// CRC stored at offset 17.
        stored: u32,
        /// CRC32C of bytes 21..end.
        computed: u32,
    },
    /// The batch exceeds `max.message.bytes`.
    #[error(
        "record batch is {size} bytes, larger than max.message.bytes {max}; raise the topic's \
         max.message.bytes or lower the producer's batch.size"
    )]
    MessageTooLarge {
        /// Batch size in bytes.
        size: usize,
        /// The configured limit.
        max: usize,
    },
    /// `recordsCount` disagrees with `lastOffsetDelta`, or is not positive.
    #[error(
        "record batch declares {records_count} records but lastOffsetDelta {last_offset_delta}; \
         a v2 batch from a producer holds lastOffsetDelta + 1 > 0 records"
    )]
    InvalidRecordCount {
        /// The `recordsCount` field.
        records_count: i32,
        /// The `lastOffsetDelta` field.
        last_offset_delta: i32,
    },
    /// A record's offset delta is not its index in the batch.
    #[error(
        "record {index} of the batch has offset delta {found}; producers number records 0..n-1"
    )]
    InvalidOffsetDelta {
        /// Index of the record in the batch.
        index: i32,
        /// The offset delta it carries.
        found: i32,
    },
    /// A record's varints or lengths do not fit the batch.
    #[error("malformed record {index} at byte {position} of the records section: {reason}")]
    InvalidRecord {
        /// Index of the record in the batch.
        index: i32,
        /// Byte position inside the (decompressed) records section.
        position: usize,
        /// What was wrong.
        reason: &'static str,
    },
    /// A CreateTime record timestamp outside `[now - message.timestamp.before.max.ms,
    /// now + message.timestamp.after.max.ms]` (Kafka's message, word for word).
    #[error("Timestamp {timestamp} of message with offset {offset} is out of range. The timestamp should be within [{low}, {high}]")]
    TimestampOutOfRange {
        /// Index of the record in the batch.
        index: i32,
        /// The record's offset as the producer numbered it (batch base offset + delta).
        offset: i64,
        /// The record's timestamp.
        timestamp: i64,
        /// `now - message.timestamp.before.max.ms`.
        low: i64,
        /// `now + message.timestamp.after.max.ms`.
        high: i64,
    },
    /// A producer set the LogAppendTime bit where the broker would not accept it: on a
    /// LogAppendTime topic, or with no timestamp on a CreateTime topic.
    #[error("Invalid timestamp type in message {index} of the batch. Producer should not set timestamp type to LogAppendTime.")]
    LogAppendTimeFromProducer {
        /// Index of the record in the batch.
        index: i32,
    },
    /// Compression codec id 5..7 in the attributes.
    #[error("unknown compression codec id {id} in the batch attributes (known: 0 none .. 4 zstd)")]
    UnknownCompression {
        /// Attribute bits 0..2.
        id: u8,
    },
    /// The compressed records section could not be decompressed.
    #[error("{codec} decompression of the records section failed: {reason}")]
    Decompression {
        /// Codec in use.
        codec: Compression,
        /// The codec library's message.
        reason: String,
    },
    /// Decompression would exceed the allowed output size.
    #[error(
        "{codec} records section decompresses to more than {limit} bytes; refused as a \
         possible decompression bomb (raise the limit if such batches are legitimate)"
    )]
    DecompressedTooLarge {
        /// Codec in use.
        codec: Compression,
        /// The output limit in bytes.
        limit: usize,
    },
    /// The codec library failed while compressing.
    #[error("{codec} compression failed: {reason}")]
    Compression {
        /// Codec in use.
        codec: Compression,
        /// The codec library's message.
        reason: String,
    },
    /// A control record whose key or marker value cannot be read.
    #[error("invalid control record: {reason}")]
    InvalidControlRecord {
        /// What is wrong with it.
        reason: String,
    },
}

impl RecordsError {
    /// The Kafka error code a produce response carries for this error.
    pub fn error_code(&self) -> i16 {
        match self {
            RecordsError::UnsupportedMagic { magic } if *magic < 2 => {
                UNSUPPORTED_FOR_MESSAGE_FORMAT
            }
            RecordsError::MessageTooLarge { .. } => MESSAGE_TOO_LARGE,
            RecordsError::TimestampOutOfRange { .. }
            | RecordsError::LogAppendTimeFromProducer { .. } => INVALID_TIMESTAMP,
            RecordsError::InvalidRecordCount { .. }
            | RecordsError::InvalidOffsetDelta { .. }
            | RecordsError::InvalidRecord { .. } => INVALID_RECORD,
            RecordsError::BatchTooShort { .. }
            | RecordsError::PartialBatch { .. }
            | RecordsError::InvalidBatchLength { .. }
            | RecordsError::UnsupportedMagic { .. }
            | RecordsError::CrcMismatch { .. }
            | RecordsError::UnknownCompression { .. }
            | RecordsError::Decompression { .. }
            | RecordsError::DecompressedTooLarge { .. }
            | RecordsError::Compression { .. }
            | RecordsError::InvalidControlRecord { .. } => CORRUPT_MESSAGE,
        }
    }
}
