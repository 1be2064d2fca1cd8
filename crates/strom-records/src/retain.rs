//! Rewriting a batch with some of its records, for log compaction (Kafka's
//! `MemoryRecords.filterTo` / `buildRetainedRecordsInto`).
//!
//! What the rewritten batch keeps from the original, as Kafka does for magic 2:
//! - `baseOffset` and `lastOffsetDelta`: the batch still spans the original offsets, so a
//!   producer's last sequence (`baseSequence + lastOffsetDelta`) is unchanged and the
//!   producer is not told it is out of sequence after compaction; records keep their
//!   `offsetDelta`s, so their offsets do not change (the gaps are normal);
//! - the codec, the timestamp type, `baseTimestamp` and every record's `timestampDelta`
//!   (so every record's timestamp is unchanged), `partitionLeaderEpoch`, `producerId`,
//!   `producerEpoch`, `baseSequence` and the transactional, control and delete-horizon bits;
//! - each record's key, value and headers, byte for byte.
//!
//! `maxTimestamp` becomes the largest timestamp of the kept records (CreateTime) or stays
//! the append time (LogAppendTime); `recordsCount` and the CRC are recomputed.
//!
//! A batch with no record left is written as Kafka's `writeEmptyHeader` does: the 61-byte
//! header alone, `recordsCount` 0, codec none, `baseTimestamp` and `maxTimestamp` both the
//! original `maxTimestamp`. The log keeps such a batch only to remember a producer's last
//! sequence.

use bytes::{Bytes, BytesMut};

use crate::layout::*;
use crate::record::encode_record;
use crate::{Compression, Record, RecordBatch, RecordsError, TimestampType};

impl RecordBatch {
    /// The batch with its records section stored with `codec` (a topic's
    /// `compression.type` other than `producer`, as Kafka's `LogValidator` recompresses).
    /// The section is decompressed and compressed as a whole: records are not decoded, and
    /// every header field but the codec bits, the length and the CRC is kept. A control
    /// batch, or one already in `codec`, is returned as it is.
    pub fn recompressed(&self, codec: Compression) -> Result<Bytes, RecordsError> {
        let current = self.compression()?;
        let is_control = self.attributes() & CONTROL_FLAG_MASK != 0;
        if current == codec || is_control {
            return Ok(self.as_bytes().clone());
        }
        let section = self.records_section();
        let raw = match current {
            Compression::None => section.to_vec(),
            other => other.decompress(&section, crate::DEFAULT_MAX_DECOMPRESSED_BYTES)?,
        };
        let body = match codec {
            Compression::None => raw,
            other => other.compress(&raw)?,
        };
        let attributes = (self.attributes() & !COMPRESSION_CODEC_MASK) | i16::from(codec.id());
        Ok(self.with_body(attributes, &body, |_| {}))
    }

    /// The batch rewritten with only `retained` (records decoded from this batch, in
    /// order; see the module docs for what is kept).
    pub fn with_retained_records(&self, retained: &[Record]) -> Result<Bytes, RecordsError> {
        let codec = self.compression()?;
        let mut records = Vec::new();
        let mut max_timestamp = NO_TIMESTAMP;
        for r in retained {
            encode_record(
                &mut records,
                r.offset_delta,
                r.timestamp_delta,
                r.key.as_deref(),
                r.value.as_deref(),
                &r.headers,
            );
            max_timestamp = max_timestamp.max(r.timestamp());
        }
        let mut attributes = self.attributes();
        let (body, base_timestamp) = if retained.is_empty() {
            attributes &= !COMPRESSION_CODEC_MASK;
            max_timestamp = self.max_timestamp();
            (Vec::new(), self.max_timestamp())
        } else {
            let body = match codec {
                Compression::None => records,
                codec => codec.compress(&records)?,
            };
            (body, self.base_timestamp())
        };
        if self.timestamp_type() == TimestampType::LogAppendTime {
            max_timestamp = self.max_timestamp();
        }
        let count = i32::try_from(retained.len()).unwrap_or(i32::MAX);
        Ok(self.with_body(attributes, &body, |header| {
            header[BASE_TIMESTAMP_OFFSET..BASE_TIMESTAMP_OFFSET + 8]
                .copy_from_slice(&base_timestamp.to_be_bytes());
            header[MAX_TIMESTAMP_OFFSET..MAX_TIMESTAMP_OFFSET + 8]
                .copy_from_slice(&max_timestamp.to_be_bytes());
            header[RECORDS_COUNT_OFFSET..RECORDS_COUNT_OFFSET + 4]
                .copy_from_slice(&count.to_be_bytes());
        }))
    }

    /// This batch's header with `attributes`, then `body` as the records section; `patch`
    /// edits other header fields; the length and the CRC are recomputed.
    fn with_body(&self, attributes: i16, body: &[u8], patch: impl FnOnce(&mut [u8])) -> Bytes {
        let size = RECORD_BATCH_OVERHEAD + body.len();
        let mut out = BytesMut::with_capacity(size);
        out.extend_from_slice(&self.as_bytes()[..RECORD_BATCH_OVERHEAD]);
        out[BATCH_LENGTH_OFFSET..BATCH_LENGTH_OFFSET + 4]
            .copy_from_slice(&((size - LOG_OVERHEAD) as i32).to_be_bytes());
        out[ATTRIBUTES_OFFSET..ATTRIBUTES_OFFSET + 2].copy_from_slice(&attributes.to_be_bytes());
        patch(&mut out[..]);
        out.extend_from_slice(body);
        let crc = crc32c::crc32c(&out[ATTRIBUTES_OFFSET..]);
        out[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
        out.freeze()
    }
}

#[cfg(test)]
mod tests {
    use crate::{BatchBuilder, Compression, Header, RecordBatch, TimestampType};

    fn sample(codec: Compression) -> RecordBatch {
        let mut b = BatchBuilder::new(codec, TimestampType::CreateTime)
            .producer(7, 2, 40)
            .partition_leader_epoch(5);
        for i in 0..5i64 {
            let h = [Header::new("h", Some(format!("{i}").as_bytes()))];
            b.append(1_000 + i, Some(format!("k{i}").as_bytes()), Some(b"v"), &h);
        }
        RecordBatch::new(b.build(100)).unwrap()
    }

    #[test]
    fn a_retained_batch_keeps_offsets_timestamps_codec_and_producer_fields() {
        for codec in [
            Compression::None,
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            let batch = sample(codec);
            let all = batch.records().unwrap();
            let kept: Vec<_> = all
                .iter()
                .filter(|r| r.offset() % 2 == 1)
                .cloned()
                .collect();
            let out = RecordBatch::new(batch.with_retained_records(&kept).unwrap()).unwrap();
            crate::validate_stored_batch(out.as_bytes()).unwrap();
            assert!(out.is_valid_crc());
            assert_eq!(out.compression().unwrap(), codec);
            assert_eq!(out.base_offset(), 100);
            assert_eq!(out.last_offset(), 104);
            assert_eq!(out.records_count(), 2);
            assert_eq!(
                (out.producer_id(), out.producer_epoch(), out.base_sequence()),
                (7, 2, 40)
            );
            assert_eq!(out.partition_leader_epoch(), 5);
            assert_eq!(out.max_timestamp(), 1_003);
            assert_eq!(out.records().unwrap(), kept);
        }
    }

    #[test]
    fn a_batch_with_nothing_retained_is_an_empty_uncompressed_header() {
        let batch = sample(Compression::Zstd);
        let out = RecordBatch::new(batch.with_retained_records(&[]).unwrap()).unwrap();
        assert_eq!(out.size_in_bytes(), 61);
        assert!(out.is_valid_crc());
        assert_eq!(out.compression().unwrap(), Compression::None);
        assert_eq!((out.base_offset(), out.last_offset()), (100, 104));
        assert_eq!(out.records_count(), 0);
        assert_eq!(out.base_sequence(), 40);
        assert!(out.records().unwrap().is_empty());
    }
}
