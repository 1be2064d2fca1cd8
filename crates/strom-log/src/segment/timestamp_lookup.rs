//! Timestamp lookups inside one segment (ListOffsets by timestamp and `MAX_TIMESTAMP`).
//!
//! Each takes the log start offset: after DeleteRecords the first segment may begin with
//! records below it, which exist on disk but are no longer part of the log, and no answer
//! may name them (Kafka's `LogSegment.findOffsetByTimestamp(timestamp, startingOffset)`).

use strom_records::Record;

use super::{FoundBatch, LogSegment};
use crate::error::LogError;

impl LogSegment {
    /// First record at or after `starting_offset` with timestamp >= `timestamp`:
    /// `(timestamp, offset)`.
    pub fn find_offset_by_timestamp(
        &self,
        timestamp: i64,
        starting_offset: i64,
    ) -> Result<Option<(i64, i64)>, LogError> {
        if self.max_timestamp < timestamp || self.next_offset <= starting_offset {
            return Ok(None);
        }
        let from_time_index = self
            .time_index
            .lower(timestamp)?
            .map_or(self.base_offset, |entry| entry.offset);
        let mut position = self
            .offset_index
            .floor(from_time_index.max(starting_offset))?
            .map_or(0, |e| u64::from(e.position));
        while let Some(found) = self.scan_from(position, |h| {
            h.max_timestamp() >= timestamp && h.last_offset() >= starting_offset
        })? {
            match self.records_of(&found)? {
                Some(records) => {
                    if let Some(r) = records
                        .iter()
                        .find(|r| r.timestamp() >= timestamp && r.offset() >= starting_offset)
                    {
                        return Ok(Some((r.timestamp(), r.offset())));
                    }
                }
                // Accepted without decompressing; answer at batch granularity.
                None => {
                    return Ok(Some((
                        found.header.max_timestamp(),
                        found.header.base_offset().max(starting_offset),
                    )))
                }
            }
            position = found.position + found.size;
        }
        Ok(None)
    }

    /// The record carrying this segment's largest timestamp (the first one, on ties):
    /// `(timestamp, offset)`. For a segment that starts at or after the log start offset.
    pub fn max_timestamp_and_offset(&self) -> Result<Option<(i64, i64)>, LogError> {
        if self.max_timestamp < 0 {
            return Ok(None);
        }
        let Some(found) = self.find_batch(self.offset_of_max_timestamp)? else {
            return Err(LogError::corrupt(
                &self.log_path,
                self.size,
                format!(
                    "no batch holds offset {} of the largest timestamp",
                    self.offset_of_max_timestamp
                ),
            ));
        };
        Ok(Some((
            self.max_timestamp,
            self.first_record_with(&found, self.max_timestamp, i64::MIN)?,
        )))
    }

    /// Like [`LogSegment::max_timestamp_and_offset`], counting only records at or after
    /// `starting_offset`: for the first segment after DeleteRecords cut into it. When the
    /// batch carrying the segment's recorded maximum lies wholly at or after
    /// `starting_offset`, that is the answer; otherwise the maximum may belong to a deleted
    /// record, and this scans the batch headers from `starting_offset` on, decoding only
    /// the batch straddling it and the winner.
    pub fn max_timestamp_from(&self, starting_offset: i64) -> Result<Option<(i64, i64)>, LogError> {
        if self.max_timestamp >= 0 && self.offset_of_max_timestamp >= starting_offset {
            let carrier = self.find_batch(self.offset_of_max_timestamp)?;
            if carrier.is_some_and(|b| b.header.base_offset() >= starting_offset) {
                return self.max_timestamp_and_offset();
            }
        }
        let Some(first) = self.find_batch(starting_offset)? else {
            return Ok(None);
        };
        // (timestamp, batch) of the best batch so far, and its exact offset when known.
        let mut best: Option<(i64, FoundBatch, Option<i64>)> = None;
        if first.header.base_offset() < starting_offset {
            let straddling = self.records_of(&first)?.and_then(|records| {
                records
                    .iter()
                    .filter(|r| r.offset() >= starting_offset)
                    // The first record on ties: keep the earlier one unless strictly larger.
                    .fold(None, |best: Option<&Record>, r| match best {
                        Some(b) if b.timestamp() >= r.timestamp() => Some(b),
                        _ => Some(r),
                    })
                    .map(|r| (r.timestamp(), r.offset()))
            });
            let (timestamp, offset) = straddling.unwrap_or((
                first.header.max_timestamp(),
                first.header.base_offset().max(starting_offset),
            ));
            best = Some((timestamp, first, Some(offset)));
        }
        let mut position = first.position;
        while position < self.size {
            let found = self.read_header(position)?;
            position += found.size;
            if found.header.base_offset() < starting_offset {
                continue;
            }
            let timestamp = found.header.max_timestamp();
            if best.as_ref().is_none_or(|(b, _, _)| timestamp > *b) {
                best = Some((timestamp, found, None));
            }
        }
        Ok(match best {
            Some((timestamp, _, _)) if timestamp < 0 => None,
            Some((timestamp, _, Some(offset))) => Some((timestamp, offset)),
            Some((timestamp, found, None)) => Some((
                timestamp,
                self.first_record_with(&found, timestamp, starting_offset)?,
            )),
            None => None,
        })
    }

    /// Offset of the first record of `found` at or after `starting_offset` carrying
    /// `timestamp`; the batch's first offset there if its records cannot be decoded.
    fn first_record_with(
        &self,
        found: &FoundBatch,
        timestamp: i64,
        starting_offset: i64,
    ) -> Result<i64, LogError> {
        let fallback = found.header.base_offset().max(starting_offset);
        Ok(self.records_of(found)?.map_or(fallback, |records| {
            records
                .iter()
                .find(|r| r.timestamp() == timestamp && r.offset() >= starting_offset)
                .map_or(fallback, Record::offset)
        }))
    }

    /// The records of a batch, or `None` (with a warning) if they cannot be decoded:
    /// batches are accepted without decompressing them, so a damaged compressed body can
    /// be in the log, and lookups then answer at batch granularity.
    fn records_of(&self, found: &FoundBatch) -> Result<Option<Vec<Record>>, LogError> {
        match self.read_batch(found)?.records() {
            Ok(records) => Ok(Some(records)),
            Err(e) => {
                tracing::warn!(file = %self.log_path.display(), position = found.position, error = %e, "cannot decode batch records for a timestamp lookup; answering with its base offset");
                Ok(None)
            }
        }
    }
}
