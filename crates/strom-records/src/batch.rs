//! [`RecordBatch`], a zero-copy view over one v2 batch, and [`Batches`], which splits a
//! buffer of concatenated batches (a produce request's records, a segment file slice, a fetch
//! response) without copying.

use std::fmt;
use std::str::FromStr;

use bytes::Bytes;

use crate::layout::*;
use crate::record::{decode_records, Record};
use crate::{Compression, RecordsError, DEFAULT_MAX_DECOMPRESSED_BYTES};

/// Which clock the batch's timestamps come from: attribute bit 3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TimestampType {
    /// Set by the producer (bit 3 clear).
    #[default]
    CreateTime,
    /// Set by the broker when appending (bit 3 set); every record reads the batch's
    /// `maxTimestamp`.
    LogAppendTime,
}

impl TimestampType {
    /// Kafka's `message.timestamp.type` value.
    pub fn name(self) -> &'static str {
        match self {
            TimestampType::CreateTime => "CreateTime",
            TimestampType::LogAppendTime => "LogAppendTime",
        }
    }
}

impl fmt::Display for TimestampType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for TimestampType {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "CreateTime" => Ok(TimestampType::CreateTime),
            "LogAppendTime" => Ok(TimestampType::LogAppendTime),
            other => Err(format!(
                "unknown message.timestamp.type '{other}': expected CreateTime or LogAppendTime"
            )),
        }
    }
}

/// Checks the framing of the batch at the start of `buf` and returns its size in bytes.
///
/// Looks at the magic byte before the 61-byte minimum because v0/v1 message sets share
/// offsets 0..17 with v2 and can be shorter than a v2 header.
pub(crate) fn frame_size(buf: &[u8], position: usize) -> Result<usize, RecordsError> {
    let available = buf.len();
    if available < MAGIC_OFFSET + 1 {
        return Err(RecordsError::PartialBatch {
            position,
            needed: 0,
            available,
        });
    }
    let magic = buf[MAGIC_OFFSET] as i8;
    if magic != CURRENT_MAGIC {
        return Err(RecordsError::UnsupportedMagic { magic });
    }
    let batch_length = be_i32(buf, BATCH_LENGTH_OFFSET);
    let size = usize::try_from(batch_length)
        .ok()
        .and_then(|len| len.checked_add(LOG_OVERHEAD))
        .filter(|size| *size >= RECORD_BATCH_OVERHEAD)
        .ok_or(RecordsError::InvalidBatchLength {
            batch_length,
            size: available,
        })?;
    if available < size {
        return Err(RecordsError::PartialBatch {
            position,
            needed: size,
            available,
        });
    }
    Ok(size)
}

/// A zero-copy view over exactly one record batch (magic 2).
///
/// Construction checks the framing only (length and magic), so every accessor is infallible;
/// [`RecordBatch::validate`] checks the rest.
#[derive(Clone, PartialEq, Eq)]
pub struct RecordBatch {
    bytes: Bytes,
}

impl RecordBatch {
    /// Wraps `bytes`, which must hold exactly one v2 batch.
    pub fn new(bytes: Bytes) -> Result<RecordBatch, RecordsError> {
        let size = match frame_size(&bytes, 0) {
            Ok(size) => size,
            Err(RecordsError::PartialBatch { .. }) if bytes.len() < RECORD_BATCH_OVERHEAD => {
                return Err(RecordsError::BatchTooShort { size: bytes.len() })
            }
            Err(RecordsError::PartialBatch { .. }) => {
                return Err(RecordsError::InvalidBatchLength {
                    batch_length: be_i32(&bytes, BATCH_LENGTH_OFFSET),
                    size: bytes.len(),
                })
            }
            Err(e) => return Err(e),
        };
        if size != bytes.len() {
            return Err(RecordsError::InvalidBatchLength {
                batch_length: be_i32(&bytes, BATCH_LENGTH_OFFSET),
                size: bytes.len(),
            });
        }
        Ok(RecordBatch { bytes })
    }

    /// Splits a buffer of concatenated batches.
    pub fn iter(bytes: Bytes) -> Batches {
        Batches::new(bytes)
    }

    /// The batch's bytes, exactly as stored.
    pub fn as_bytes(&self) -> &Bytes {
        &self.bytes
    }

    /// Gives back the underlying buffer.
    pub fn into_bytes(self) -> Bytes {
        self.bytes
    }

    /// Total size including the 12-byte offset + length prefix.
    pub fn size_in_bytes(&self) -> usize {
        self.bytes.len()
    }

    header_field_reads!();

    fn header_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// CRC32C computed over attributes..end.
    pub fn compute_crc(&self) -> u32 {
        crc32c::crc32c(&self.bytes[ATTRIBUTES_OFFSET..])
    }

    /// Whether the stored CRC matches the contents.
    pub fn is_valid_crc(&self) -> bool {
        self.crc() == self.compute_crc()
    }

    /// The offset after this batch.
    pub fn next_offset(&self) -> i64 {
        self.last_offset().saturating_add(1)
    }

    /// The records section (compressed when the codec is not none).
    pub fn records_section(&self) -> Bytes {
        self.bytes.slice(RECORD_BATCH_OVERHEAD..)
    }

    /// The first 61 bytes as a patchable copy.
    pub fn header(&self) -> crate::BatchHeader {
        let mut header = [0u8; RECORD_BATCH_OVERHEAD];
        header.copy_from_slice(&self.bytes[..RECORD_BATCH_OVERHEAD]);
        crate::BatchHeader::from_array(header)
    }

    /// Checks the batch as the produce path does; see [`crate::validate_batch`].
    pub fn validate(&self, max_message_bytes: usize) -> Result<crate::BatchSummary, RecordsError> {
        crate::validate_batch(&self.bytes, max_message_bytes)
    }

    /// [`RecordBatch::validate`], also checking record timestamps; see
    /// [`crate::validate_batch_with`].
    pub fn validate_with(
        &self,
        max_message_bytes: usize,
        timestamps: Option<&crate::TimestampRule>,
    ) -> Result<crate::BatchSummary, RecordsError> {
        crate::validate_batch_with(&self.bytes, max_message_bytes, timestamps)
    }

    /// Decodes every record, decompressing with [`DEFAULT_MAX_DECOMPRESSED_BYTES`] as bound.
    pub fn records(&self) -> Result<Vec<Record>, RecordsError> {
        self.records_with_limit(DEFAULT_MAX_DECOMPRESSED_BYTES)
    }

    /// Decodes every record; a records section that decompresses to more than
    /// `max_decompressed_bytes` is refused.
    ///
    /// Keys, values and headers of an uncompressed batch are slices of this batch's buffer.
    pub fn records_with_limit(
        &self,
        max_decompressed_bytes: usize,
    ) -> Result<Vec<Record>, RecordsError> {
        let codec = self.compression()?;
        let section = self.records_section();
        let data = match codec {
            Compression::None => section,
            codec => Bytes::from(codec.decompress(&section, max_decompressed_bytes)?),
        };
        let log_append_time = match self.timestamp_type() {
            TimestampType::LogAppendTime => Some(self.max_timestamp()),
            TimestampType::CreateTime => None,
        };
        decode_records(
            data,
            self.records_count(),
            self.base_offset(),
            self.base_timestamp(),
            log_append_time,
        )
    }
}

impl RecordBatch {
    /// Index of the first record without a key, if any (compacted topics
    /// refuse those). Walks the records in place, without building them; a
    /// compressed batch is decompressed once.
    pub fn first_record_without_key(&self) -> Result<Option<usize>, RecordsError> {
        let codec = self.compression()?;
        let section = self.records_section();
        let data = match codec {
            Compression::None => section,
            codec => Bytes::from(codec.decompress(&section, DEFAULT_MAX_DECOMPRESSED_BYTES)?),
        };
        let mut pos = 0;
        for index in 0..self.records_count().max(0) {
            let raw = crate::record::parse_record(&data, pos, index)?;
            if raw.key.is_none() {
                return Ok(Some(index as usize));
            }
            pos = raw.end;
        }
        Ok(None)
    }
}

impl fmt::Debug for RecordBatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecordBatch")
            .field("base_offset", &self.base_offset())
            .field("last_offset_delta", &self.last_offset_delta())
            .field("size", &self.bytes.len())
            .field("attributes", &self.attributes())
            .field("max_timestamp", &self.max_timestamp())
            .field("producer_id", &self.producer_id())
            .finish_non_exhaustive()
    }
}

/// Iterator over the batches of a buffer. After an error it yields nothing more.
///
/// A buffer that ends inside a batch yields [`RecordsError::PartialBatch`] last: fetch
/// responses may end that way and a consumer ignores it, while a produce request or a
/// segment file treat it as truncation.
#[derive(Debug, Clone)]
pub struct Batches {
    buf: Bytes,
    pos: usize,
    done: bool,
}

impl Batches {
    /// Starts at the beginning of `buf`.
    pub fn new(buf: Bytes) -> Batches {
        Batches {
            buf,
            pos: 0,
            done: false,
        }
    }

    /// Byte position of the next batch in the buffer.
    pub fn position(&self) -> usize {
        self.pos
    }
}

impl Iterator for Batches {
    type Item = Result<RecordBatch, RecordsError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done || self.pos >= self.buf.len() {
            return None;
        }
        match frame_size(&self.buf[self.pos..], self.pos) {
            Ok(size) => {
                let batch = RecordBatch {
                    bytes: self.buf.slice(self.pos..self.pos + size),
                };
                self.pos += size;
                Some(Ok(batch))
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

impl std::iter::FusedIterator for Batches {}
