//! A patchable copy of a batch's 61-byte header, for the append path.
//!
//! The log assigns offsets and epochs by writing a patched header followed by the body taken
//! untouched from the request buffer, so the body is never copied. `baseOffset` and
//! `partitionLeaderEpoch` lie before the CRC's range (it covers attributes onward), so they
//! change freely. Changing `attributes` or `maxTimestamp` (LogAppendTime) invalidates the
//! CRC; it is recomputed by chaining the patched header bytes with the untouched body
//! (`crc32c_append`), again without a copy.

use crate::layout::*;
use crate::{Compression, RecordsError, TimestampType};

/// The first 61 bytes of a batch, owned and patchable.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    bytes: [u8; RECORD_BATCH_OVERHEAD],
}

impl BatchHeader {
    /// Wraps a header copy.
    pub fn from_array(bytes: [u8; RECORD_BATCH_OVERHEAD]) -> BatchHeader {
        BatchHeader { bytes }
    }

    /// Copies the header from the start of `buf`.
    pub fn parse(buf: &[u8]) -> Result<BatchHeader, RecordsError> {
        let head = buf
            .get(..RECORD_BATCH_OVERHEAD)
            .ok_or(RecordsError::BatchTooShort { size: buf.len() })?;
        let mut bytes = [0u8; RECORD_BATCH_OVERHEAD];
        bytes.copy_from_slice(head);
        Ok(BatchHeader { bytes })
    }

    /// The header bytes, ready to write.
    pub fn as_bytes(&self) -> &[u8; RECORD_BATCH_OVERHEAD] {
        &self.bytes
    }

    header_field_reads!();

    fn header_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Whole batch size (`batchLength + 12`), or `None` when `batchLength` is negative or
    /// shorter than a header.
    pub fn size_in_bytes(&self) -> Option<usize> {
        usize::try_from(self.batch_length())
            .ok()
            .map(|len| len + LOG_OVERHEAD)
            .filter(|size| *size >= RECORD_BATCH_OVERHEAD)
    }

    /// Sets `baseOffset` (bytes 0..8). Outside the CRC's range: the CRC stays valid.
    pub fn set_base_offset(&mut self, base_offset: i64) {
        self.bytes[BASE_OFFSET_OFFSET..BASE_OFFSET_OFFSET + 8]
            .copy_from_slice(&base_offset.to_be_bytes());
    }

    /// Sets `partitionLeaderEpoch` (bytes 12..16). Outside the CRC's range.
    pub fn set_partition_leader_epoch(&mut self, epoch: i32) {
        self.bytes[PARTITION_LEADER_EPOCH_OFFSET..PARTITION_LEADER_EPOCH_OFFSET + 4]
            .copy_from_slice(&epoch.to_be_bytes());
    }

    /// Sets the timestamp type bit and `maxTimestamp`, then recomputes the CRC over this
    /// header and `body` (the batch's bytes from offset 61, unchanged).
    ///
    /// For LogAppendTime `max_timestamp` is the append time; for CreateTime it corrects a
    /// `maxTimestamp` that disagrees with the records.
    pub fn set_max_timestamp(
        &mut self,
        timestamp_type: TimestampType,
        max_timestamp: i64,
        body: &[u8],
    ) {
        let mut attributes = self.attributes() & !TIMESTAMP_TYPE_MASK;
        if timestamp_type == TimestampType::LogAppendTime {
            attributes |= TIMESTAMP_TYPE_MASK;
        }
        self.bytes[ATTRIBUTES_OFFSET..ATTRIBUTES_OFFSET + 2]
            .copy_from_slice(&attributes.to_be_bytes());
        self.bytes[MAX_TIMESTAMP_OFFSET..MAX_TIMESTAMP_OFFSET + 8]
            .copy_from_slice(&max_timestamp.to_be_bytes());
        self.update_crc(body);
    }

    /// Recomputes the CRC over this header's attributes..end followed by `body`.
    pub fn update_crc(&mut self, body: &[u8]) {
        let crc = crc32c::crc32c_append(crc32c::crc32c(&self.bytes[ATTRIBUTES_OFFSET..]), body);
        self.bytes[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
    }
}

impl std::fmt::Debug for BatchHeader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchHeader")
            .field("base_offset", &self.base_offset())
            .field("batch_length", &self.batch_length())
            .field("magic", &self.magic())
            .field("last_offset_delta", &self.last_offset_delta())
            .field("max_timestamp", &self.max_timestamp())
            .finish_non_exhaustive()
    }
}
