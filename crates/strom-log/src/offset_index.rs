//! The offset index (`<base offset>.index`): maps offsets to byte positions in the segment.
//!
//! ```text
//! entry (8 bytes, big-endian), one per index.interval.bytes of appended batches:
//!   0  4  relativeOffset  last offset of the indexed batch minus the segment's base offset
//!   4  4  position        byte position of that batch in the .log file
//! ```
//!
//! Entries are sparse and strictly increasing in both fields. To find offset `o`, take the
//! last entry with `relativeOffset <= o - base`, start at its position (or at 0 when there
//! is none) and read batch headers forward until one ends at or after `o`. The file holds
//! exactly its entries, no preallocated tail (Kafka trims its mmap'd file on close to the
//! same result), so its size divided by 8 is the entry count.

use crate::index_file::{IndexEntry, IndexFile};

/// An offset index entry, with the offset made absolute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OffsetPosition {
    pub offset: i64,
    pub position: u32,
}

impl IndexEntry for OffsetPosition {
    const SIZE: usize = 8;

    fn key(&self) -> i64 {
        self.offset
    }

    fn encode(&self, base_offset: i64, out: &mut Vec<u8>) -> Option<()> {
        let relative = i32::try_from(self.offset.checked_sub(base_offset)?)
            .ok()
            .filter(|r| *r >= 0)?;
        let position = i32::try_from(self.position).ok()?;
        out.extend_from_slice(&relative.to_be_bytes());
        out.extend_from_slice(&position.to_be_bytes());
        Some(())
    }

    fn decode(base_offset: i64, buf: &[u8]) -> Option<Self> {
        let relative = i32::from_be_bytes(buf.get(0..4)?.try_into().ok()?);
        let position = i32::from_be_bytes(buf.get(4..8)?.try_into().ok()?);
        if relative < 0 || position < 0 {
            return None;
        }
        Some(OffsetPosition {
            offset: base_offset.checked_add(i64::from(relative))?,
            position: position as u32,
        })
    }

    fn follows(&self, prev: &Self) -> bool {
        self.offset > prev.offset && self.position > prev.position
    }
}

pub(crate) type OffsetIndex = IndexFile<OffsetPosition>;

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::fs::FileSystem;
    use crate::index_file::WARM_ENTRIES;
    use crate::FaultyFileSystem;

    fn index_with(n: u64) -> (FaultyFileSystem, OffsetIndex) {
        let fs = FaultyFileSystem::new();
        fs.create_dir_all(Path::new("/p")).unwrap();
        let mut index = OffsetIndex::create(&fs, Path::new("/p/0.index"), 1000, 1 << 20).unwrap();
        for i in 0..n {
            index
                .append(OffsetPosition {
                    offset: 1000 + 10 * i as i64 + 9,
                    position: (100 * i) as u32,
                })
                .unwrap();
        }
        (fs, index)
    }

    #[test]
    fn lookups_find_the_last_entry_at_or_below_the_target() {
        // Enough entries that the search crosses from the file into the warm section.
        let n = WARM_ENTRIES as u64 * 3;
        let (fs, index) = index_with(n);
        assert_eq!(index.floor(999).unwrap(), None);
        assert_eq!(index.floor(1008).unwrap(), None);
        for i in [
            0,
            1,
            5,
            WARM_ENTRIES as u64,
            2 * WARM_ENTRIES as u64 - 1,
            n - 1,
        ] {
            let exact = 1000 + 10 * i as i64 + 9;
            let expected = OffsetPosition {
                offset: exact,
                position: (100 * i) as u32,
            };
            assert_eq!(index.floor(exact).unwrap(), Some(expected));
            assert_eq!(index.floor(exact + 5).unwrap(), Some(expected));
        }
        assert_eq!(fs.file_len(Path::new("/p/0.index")), Some(n * 8));
        // Reopened, the same answers come from disk.
        let reopened = OffsetIndex::open_checked(&fs, Path::new("/p/0.index"), 1000, 1 << 20)
            .unwrap()
            .unwrap();
        assert_eq!(reopened.len(), n);
        assert_eq!(
            reopened.floor(1000 + 10 * 7 + 9).unwrap().unwrap().position,
            700
        );
        assert_eq!(reopened.last(), index.last());
    }

    #[test]
    fn entries_are_big_endian_relative_offset_then_position() {
        let (fs, _index) = index_with(2);
        let bytes = fs.contents(Path::new("/p/0.index")).unwrap();
        assert_eq!(bytes, [0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 19, 0, 0, 0, 100]);
    }

    #[test]
    fn index_is_full_at_segment_index_bytes() {
        let fs = FaultyFileSystem::new();
        fs.create_dir_all(Path::new("/p")).unwrap();
        let mut index = OffsetIndex::create(&fs, Path::new("/p/0.index"), 0, 24).unwrap();
        for i in 0..3 {
            assert!(!index.is_full());
            index
                .append(OffsetPosition {
                    offset: i,
                    position: i as u32 * 10 + 1,
                })
                .unwrap();
        }
        assert!(index.is_full());
    }

    #[test]
    fn out_of_order_appends_are_refused() {
        let (_fs, mut index) = index_with(3);
        let last = index.last().unwrap();
        assert!(index.append(last).is_err());
    }

    #[test]
    fn damaged_files_are_reported_for_rebuild() {
        let (fs, _index) = index_with(4);
        let path = Path::new("/p/0.index");
        fs.truncate(path, 29).unwrap();
        let problem = OffsetIndex::open_checked(&fs, path, 1000, 1 << 20)
            .unwrap()
            .unwrap_err();
        assert!(problem.contains("multiple"), "{problem}");
        fs.truncate(path, 24).unwrap();
        fs.corrupt(path, 16, &[0, 0, 0, 1, 0, 0, 0, 5]).unwrap();
        let problem = OffsetIndex::open_checked(&fs, path, 1000, 1 << 20)
            .unwrap()
            .unwrap_err();
        assert!(problem.contains("does not follow"), "{problem}");
        fs.corrupt(path, 16, &[0xff, 0, 0, 1, 0, 0, 0, 5]).unwrap();
        let problem = OffsetIndex::open_checked(&fs, path, 1000, 1 << 20)
            .unwrap()
            .unwrap_err();
        assert!(problem.contains("impossible"), "{problem}");
        let missing = OffsetIndex::open_checked(&fs, Path::new("/p/none.index"), 0, 1 << 20)
            .unwrap()
            .unwrap_err();
        assert!(missing.contains("missing"));
    }
}
