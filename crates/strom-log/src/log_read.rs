//! The read side of [`Log`]: fetches, timestamp lookups (ListOffsets), largest timestamp
//! (ListOffsets `MAX_TIMESTAMP`, KIP-734). All take `&self`; files are read positionally.

use bytes::Bytes;

use crate::error::{LogError, ReadError};
use crate::log::Log;
use crate::segment::LogSegment;

/// Batches returned by [`Log::read`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadResult {
    /// Whole batches, as stored, possibly empty.
    pub records: Bytes,
    /// First offset in the log.
    pub log_start_offset: i64,
    /// Offset the next append gets.
    pub log_end_offset: i64,
    /// Offset after the last returned batch; the fetch offset when nothing was returned.
    pub next_fetch_offset: i64,
}

/// A record's offset and timestamp (ListOffsets answers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimestampOffset {
    /// The record's timestamp.
    pub timestamp: i64,
    /// The record's offset.
    pub offset: i64,
}

impl Log {
    /// The segment that holds `offset` (the last one starting at or before it).
    fn segment_index_for(&self, offset: i64) -> usize {
        self.segments
            .partition_point(|s| s.base_offset() <= offset)
            .saturating_sub(1)
    }

    /// Reads whole batches from the one holding `fetch_offset`, up to `max_bytes` (KIP-74:
    /// with `min_one_message`, a first batch larger than `max_bytes` is returned whole),
    /// and never a batch reaching `max_offset` (exclusive; the high watermark). Reads come
    /// from one segment, as in Kafka.
    pub fn read(
        &self,
        fetch_offset: i64,
        max_bytes: usize,
        min_one_message: bool,
        max_offset: i64,
    ) -> Result<ReadResult, ReadError> {
        self.read_unchecked(fetch_offset, max_bytes, min_one_message, max_offset)
            .map_err(|e| match e {
                ReadError::Storage(e) => ReadError::Storage(self.fail_read(e)),
                other => other,
            })
    }

    fn read_unchecked(
        &self,
        fetch_offset: i64,
        max_bytes: usize,
        min_one_message: bool,
        max_offset: i64,
    ) -> Result<ReadResult, ReadError> {
        self.check_readable()?;
        if fetch_offset < self.log_start_offset || fetch_offset > self.log_end_offset {
            return Err(ReadError::OffsetOutOfRange {
                log_start_offset: self.log_start_offset,
                log_end_offset: self.log_end_offset,
            });
        }
        let mut result = ReadResult {
            records: Bytes::new(),
            log_start_offset: self.log_start_offset,
            log_end_offset: self.log_end_offset,
            next_fetch_offset: fetch_offset,
        };
        let upper = max_offset.min(self.log_end_offset);
        if fetch_offset >= upper {
            return Ok(result);
        }
        for segment in &self.segments[self.segment_index_for(fetch_offset)..] {
            if segment.base_offset() >= upper {
                break;
            }
            if let Some((records, next)) =
                segment.read(fetch_offset, max_bytes, min_one_message, upper)?
            {
                result.records = records;
                result.next_fetch_offset = next;
                break;
            }
        }
        Ok(result)
    }

    /// The first record at or after the log start offset whose timestamp is >=
    /// `timestamp` (ListOffsets with a timestamp), or `None` if every such record is
    /// older. Looks across the whole log: the caller bounds the answer by the high
    /// watermark or last stable offset.
    pub fn offset_for_timestamp(
        &self,
        timestamp: i64,
    ) -> Result<Option<TimestampOffset>, LogError> {
        self.offset_for_timestamp_unchecked(timestamp)
            .map_err(|e| self.fail_read(e))
    }

    fn offset_for_timestamp_unchecked(
        &self,
        timestamp: i64,
    ) -> Result<Option<TimestampOffset>, LogError> {
        self.check_readable()?;
        let start = self.log_start_offset;
        for segment in &self.segments[self.segment_index_for(start)..] {
            if segment.max_timestamp() < timestamp {
                continue;
            }
            if let Some((timestamp, offset)) = segment.find_offset_by_timestamp(timestamp, start)? {
                return Ok(Some(TimestampOffset { timestamp, offset }));
            }
        }
        Ok(None)
    }

    /// The record with the largest timestamp at or after the log start offset (the first
    /// one, on ties), as ListOffsets `MAX_TIMESTAMP` answers; `None` when no record has a
    /// timestamp. Each segment tracks its largest timestamp and the batch carrying it; the
    /// record is found lazily here. A first segment that DeleteRecords cut into is
    /// scanned from the log start offset, since its maximum may have been deleted.
    pub fn max_timestamp_offset(&self) -> Result<Option<TimestampOffset>, LogError> {
        self.max_timestamp_offset_unchecked()
            .map_err(|e| self.fail_read(e))
    }

    fn max_timestamp_offset_unchecked(&self) -> Result<Option<TimestampOffset>, LogError> {
        self.check_readable()?;
        let start = self.log_start_offset;
        let first = self.segment_index_for(start);
        let mut best: Option<TimestampOffset> = None;
        let mut rest = &self.segments[first..];
        if let Some(segment) = rest.first().filter(|s| s.base_offset() < start) {
            best = segment
                .max_timestamp_from(start)?
                .map(|(timestamp, offset)| TimestampOffset { timestamp, offset });
            rest = &rest[1..];
        }
        let mut best_segment: Option<&LogSegment> = None;
        for segment in rest {
            let beats_best_segment =
                best_segment.is_none_or(|b| segment.max_timestamp() > b.max_timestamp());
            if segment.max_timestamp() >= 0 && beats_best_segment {
                best_segment = Some(segment);
            }
        }
        match best_segment {
            Some(segment) if best.is_none_or(|b| segment.max_timestamp() > b.timestamp) => {
                Ok(segment
                    .max_timestamp_and_offset()?
                    .map(|(timestamp, offset)| TimestampOffset { timestamp, offset }))
            }
            _ => Ok(best),
        }
    }
}
