//! Kafka record batches, format v2 (magic 2), as bytes on the wire and on disk.
//!
//! The broker keeps batches opaque: it validates the header, CRC and (when uncompressed) the
//! record framing, patches offsets into a copy of the header, and writes the rest of the
//! producer's bytes untouched. Decoding individual records is for the features that need it
//! (timestamp lookups, compaction, coordinators), and always bounds decompression.
//!
//! # Record batch layout (all integers big-endian)
//!
//! ```text
//! offset size field                 notes
//!      0    8 baseOffset            offset of the first record; assigned by the broker
//!      8    4 batchLength           bytes after this field (whole batch = batchLength + 12)
//!     12    4 partitionLeaderEpoch  set by the broker; not covered by the CRC
//!     16    1 magic                 2 (v0/v1 message sets also have magic at byte 16)
//!     17    4 crc                   CRC32C (Castagnoli) of bytes 21..end
//!     21    2 attributes            bits 0-2 codec (0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd)
//!                                   bit 3 timestamp type (0 CreateTime, 1 LogAppendTime)
//!                                   bit 4 transactional, bit 5 control,
//!                                   bit 6 delete horizon set (baseTimestamp is the horizon)
//!     23    4 lastOffsetDelta       offset of the last record minus baseOffset
//!     27    8 baseTimestamp         timestamp of the first record (Java: firstTimestamp)
//!     35    8 maxTimestamp          largest record timestamp, or the LogAppendTime
//!     43    8 producerId            -1 when not idempotent
//!     51    2 producerEpoch         -1 when not idempotent
//!     53    4 baseSequence          -1 when not idempotent
//!     57    4 recordsCount          number of records
//!     61    - records               recordsCount records, compressed as one block when
//!                                   the codec is not none
//! ```
//!
//! # Record layout (varint = zig-zag varint, as protobuf)
//!
//! ```text
//! length          varint   bytes after this field
//! attributes      int8     unused, 0
//! timestampDelta  varlong  from baseTimestamp
//! offsetDelta     varint   from baseOffset; producers write 0..n-1
//! keyLength       varint   -1 for a null key
//! key             bytes
//! valueLength     varint   -1 for a null value
//! value           bytes
//! headersCount    varint
//!   headerKeyLength   varint (>= 0)
//!   headerKey         bytes (UTF-8 by convention)
//!   headerValueLength varint, -1 for null
//!   headerValue       bytes
//! ```
//!
//! For LogAppendTime batches every record's timestamp is the batch's `maxTimestamp`; the
//! deltas are left as the producer wrote them.

mod batch;
mod batch_header;
mod builder;
mod compression;
mod control;
mod error;
mod invalid_records;
pub mod layout;
mod record;
mod retain;
mod validate;
mod validate_stored;
pub mod varint;

pub use batch::{Batches, RecordBatch, TimestampType};
pub use batch_header::BatchHeader;
pub use builder::BatchBuilder;
pub use compression::{Compression, DEFAULT_MAX_DECOMPRESSED_BYTES};
pub use control::{ControlRecordType, EndTransactionMarker};
pub use error::{
    RecordsError, CORRUPT_MESSAGE, INVALID_RECORD, INVALID_TIMESTAMP, MESSAGE_TOO_LARGE,
    UNSUPPORTED_FOR_MESSAGE_FORMAT,
};
pub use invalid_records::{InvalidRecord, RecordProblem};
pub use record::{Header, Record};
pub use validate::{validate_batch, validate_batch_with, BatchSummary, TimestampRule};
pub use validate_stored::validate_stored_batch;

#[cfg(test)]
mod tests;
