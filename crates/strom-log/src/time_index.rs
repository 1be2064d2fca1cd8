//! The time index (`<base offset>.timeindex`): maps timestamps to offsets.
//!
//! ```text
//! entry (12 bytes, big-endian):
//!   0  8  timestamp       largest batch maxTimestamp in the segment so far
//!   8  4  relativeOffset  last offset of the batch carrying it, minus the base offset
//! ```
//!
//! An entry is added alongside an offset index entry, and only when the segment's largest
//! timestamp has grown, so timestamps strictly increase and offsets never decrease. When a
//! segment stops being active (roll, close) one last entry records its final largest
//! timestamp, so the last entry of an inactive segment is its maximum.
//!
//! Because entry `(t, o)` means "every batch up to the one ending at `o` has timestamps
//! <= t", the first record with timestamp >= `target` lies after the last entry with
//! `t < target`; the search starts at that entry's batch (through the offset index) and
//! reads batch headers forward. (Kafka searches from the last entry with `t <= target`,
//! which can skip an earlier record carrying exactly `target`.)

use crate::index_file::{IndexEntry, IndexFile};

/// A time index entry, with the offset made absolute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TimestampOffsetEntry {
    pub timestamp: i64,
    pub offset: i64,
}

impl IndexEntry for TimestampOffsetEntry {
    const SIZE: usize = 12;

    fn key(&self) -> i64 {
        self.timestamp
    }

    fn encode(&self, base_offset: i64, out: &mut Vec<u8>) -> Option<()> {
        let relative = i32::try_from(self.offset.checked_sub(base_offset)?)
            .ok()
            .filter(|r| *r >= 0)?;
        out.extend_from_slice(&self.timestamp.to_be_bytes());
        out.extend_from_slice(&relative.to_be_bytes());
        Some(())
    }

    fn decode(base_offset: i64, buf: &[u8]) -> Option<Self> {
        let timestamp = i64::from_be_bytes(buf.get(0..8)?.try_into().ok()?);
        let relative = i32::from_be_bytes(buf.get(8..12)?.try_into().ok()?);
        if relative < 0 || timestamp < 0 {
            return None;
        }
        Some(TimestampOffsetEntry {
            timestamp,
            offset: base_offset.checked_add(i64::from(relative))?,
        })
    }

    fn follows(&self, prev: &Self) -> bool {
        self.timestamp > prev.timestamp && self.offset >= prev.offset
    }
}

pub(crate) type TimeIndex = IndexFile<TimestampOffsetEntry>;

impl TimeIndex {
    /// Appends `(timestamp, offset)` if `timestamp` is larger than the last entry's.
    pub fn maybe_append(&mut self, timestamp: i64, offset: i64) -> Result<(), crate::LogError> {
        if timestamp >= 0 && self.last().is_none_or(|last| timestamp > last.timestamp) {
            self.append(TimestampOffsetEntry { timestamp, offset })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::fs::FileSystem;
    use crate::FaultyFileSystem;

    #[test]
    fn entries_are_added_only_when_the_timestamp_grows_and_searched_strictly_below() {
        let fs = FaultyFileSystem::new();
        fs.create_dir_all(Path::new("/p")).unwrap();
        let mut index = TimeIndex::create(&fs, Path::new("/p/0.timeindex"), 100, 1 << 20).unwrap();
        index.maybe_append(1_000, 104).unwrap();
        index.maybe_append(1_000, 110).unwrap();
        index.maybe_append(900, 115).unwrap();
        index.maybe_append(2_000, 120).unwrap();
        index.maybe_append(-1, 125).unwrap();
        assert_eq!(index.len(), 2);
        assert_eq!(index.lower(1_000).unwrap(), None);
        assert_eq!(
            index.lower(1_001).unwrap(),
            Some(TimestampOffsetEntry {
                timestamp: 1_000,
                offset: 104
            })
        );
        assert_eq!(
            index.lower(5_000).unwrap(),
            Some(TimestampOffsetEntry {
                timestamp: 2_000,
                offset: 120
            })
        );
        let bytes = fs.contents(Path::new("/p/0.timeindex")).unwrap();
        assert_eq!(&bytes[..12], &[0, 0, 0, 0, 0, 0, 0x03, 0xe8, 0, 0, 0, 4]);
    }
}
