//! The check of a batch read back from a segment file (log recovery), which is looser than
//! the produce path's [`crate::validate_batch`] in one way: log compaction rewrites batches
//! with some records removed but `baseOffset` and `lastOffsetDelta` kept (see
//! `RecordBatch::with_retained_records`), so a stored batch may hold fewer than
//! `lastOffsetDelta + 1` records, possibly none, with gaps between their offset deltas.
//!
//! Checks: framing, CRC32C, codec id, `0 <= recordsCount <= lastOffsetDelta + 1`, and for
//! uncompressed batches every record's varints and lengths, with offset deltas strictly
//! increasing and at most `lastOffsetDelta` (Kafka's recovery checks the CRC only).

use crate::layout::*;
use crate::record::parse_record;
use crate::{Compression, RecordsError};

/// Validates exactly one stored batch (`batch` must be its bytes, no more).
pub fn validate_stored_batch(batch: &[u8]) -> Result<(), RecordsError> {
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
    let stored = be_i32(batch, CRC_OFFSET) as u32;
    let computed = crc32c::crc32c(&batch[ATTRIBUTES_OFFSET..]);
    if stored != computed {
        return Err(RecordsError::CrcMismatch { stored, computed });
    }
    let attributes = be_i16(batch, ATTRIBUTES_OFFSET);
    let compression = Compression::from_id((attributes & COMPRESSION_CODEC_MASK) as u8)?;
    let records_count = be_i32(batch, RECORDS_COUNT_OFFSET);
    let last_offset_delta = be_i32(batch, LAST_OFFSET_DELTA_OFFSET);
    if records_count < 0
        || last_offset_delta < 0
        || i64::from(records_count) > i64::from(last_offset_delta) + 1
    {
        return Err(RecordsError::InvalidRecordCount {
            records_count,
            last_offset_delta,
        });
    }
    if compression != Compression::None {
        return Ok(());
    }
    let data = &batch[RECORD_BATCH_OVERHEAD..];
    let mut pos = 0;
    let mut previous = -1i32;
    for index in 0..records_count {
        let raw = parse_record(data, pos, index)?;
        if raw.offset_delta <= previous || raw.offset_delta > last_offset_delta {
            return Err(RecordsError::InvalidOffsetDelta {
                index,
                found: raw.offset_delta,
            });
        }
        previous = raw.offset_delta;
        pos = raw.end;
    }
    if pos != data.len() {
        return Err(RecordsError::InvalidRecord {
            index: records_count,
            position: pos,
            reason: "bytes left after the declared number of records",
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::validate_stored_batch;
    use crate::{BatchBuilder, Compression, RecordBatch, TimestampType};

    #[test]
    fn compacted_batches_with_gaps_or_no_records_are_valid_stored_batches() {
        let mut b = BatchBuilder::new(Compression::None, TimestampType::CreateTime);
        for i in 0..4 {
            b.append(i, Some(b"k"), Some(b"v"), &[]);
        }
        let batch = RecordBatch::new(b.build(10)).unwrap();
        let records = batch.records().unwrap();
        validate_stored_batch(batch.as_bytes()).unwrap();
        let gaps = batch
            .with_retained_records(&[records[1].clone(), records[3].clone()])
            .unwrap();
        validate_stored_batch(&gaps).unwrap();
        assert!(crate::validate_batch(&gaps, usize::MAX).is_err());
        validate_stored_batch(&batch.with_retained_records(&[]).unwrap()).unwrap();
        let mut torn = gaps.to_vec();
        torn[70] ^= 1;
        assert!(validate_stored_batch(&torn).is_err());
    }
}
