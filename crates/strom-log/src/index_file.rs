//! The machinery shared by the offset and time indexes: fixed-size big-endian entries
//! appended to a file, searched by binary search.
//!
//! Kafka memory-maps its index files; this crate forbids `unsafe`, so an index keeps its
//! newest entries (the "warm section", up to [`WARM_ENTRIES`], 8-12 KiB) in memory and
//! reads older entries with positional reads during the search. Consumers near the tail and
//! every append touch only memory; a lookup deep in an old segment costs about log2(n)
//! small reads, served by the page cache. Memory stays bounded however many segments exist.

use std::collections::VecDeque;
use std::fmt;
use std::io::{self, IoSlice};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::LogError;
use crate::fs::{FileSystem, SegmentFile};

/// Entries kept in memory per index.
pub(crate) const WARM_ENTRIES: usize = 1024;

/// One fixed-size entry.
pub(crate) trait IndexEntry: Copy + fmt::Debug + PartialEq {
    /// Bytes per entry on disk.
    const SIZE: usize;
    /// What the index is searched by (offset or timestamp); strictly increasing.
    fn key(&self) -> i64;
    /// Appends the on-disk form; `None` if the entry cannot be represented relative to
    /// `base_offset`.
    fn encode(&self, base_offset: i64, out: &mut Vec<u8>) -> Option<()>;
    /// Reads the on-disk form; `None` for values no writer produces.
    fn decode(base_offset: i64, buf: &[u8]) -> Option<Self>;
    /// Whether `self` may follow `prev` in the file.
    fn follows(&self, prev: &Self) -> bool;
}

/// An index file with its warm section.
pub(crate) struct IndexFile<E> {
    file: Arc<dyn SegmentFile>,
    path: PathBuf,
    base_offset: i64,
    entries: u64,
    max_entries: u64,
    warm: VecDeque<E>,
}

impl<E: IndexEntry> fmt::Debug for IndexFile<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IndexFile")
            .field("path", &self.path)
            .field("entries", &self.entries)
            .field("last", &self.last())
            .finish_non_exhaustive()
    }
}

impl<E: IndexEntry> IndexFile<E> {
    /// Creates an empty index, truncating any file at `path`.
    pub fn create(
        fs: &dyn FileSystem,
        path: &Path,
        base_offset: i64,
        max_index_bytes: u64,
    ) -> Result<Self, LogError> {
        let file = fs.create(path).map_err(|e| LogError::io(path, e))?;
        Ok(IndexFile {
            file,
            path: path.to_path_buf(),
            base_offset,
            entries: 0,
            max_entries: (max_index_bytes / E::SIZE as u64).max(1),
            warm: VecDeque::new(),
        })
    }

    /// Opens an existing index and checks what can be checked cheaply: size a multiple of
    /// the entry size, the first entry and the warm section decodable and strictly
    /// increasing. `Ok(Err(reason))` means the index should be rebuilt.
    pub fn open_checked(
        fs: &dyn FileSystem,
        path: &Path,
        base_offset: i64,
        max_index_bytes: u64,
    ) -> Result<Result<Self, String>, LogError> {
        let file = match fs.open(path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Ok(Err("index file is missing".into()))
            }
            Err(e) => return Err(LogError::io(path, e)),
        };
        let len = file.len().map_err(|e| LogError::io(path, e))?;
        if len % E::SIZE as u64 != 0 {
            return Ok(Err(format!(
                "size {len} is not a multiple of the {}-byte entry size",
                E::SIZE
            )));
        }
        let entries = len / E::SIZE as u64;
        let warm_count = entries.min(WARM_ENTRIES as u64);
        let mut index = IndexFile {
            file,
            path: path.to_path_buf(),
            base_offset,
            entries,
            max_entries: (max_index_bytes / E::SIZE as u64).max(1),
            warm: VecDeque::with_capacity(warm_count as usize),
        };
        if entries == 0 {
            return Ok(Ok(index));
        }
        let mut buf = vec![0u8; warm_count as usize * E::SIZE];
        let warm_start = entries - warm_count;
        index
            .file
            .read_exact_at(&mut buf, warm_start * E::SIZE as u64)
            .map_err(|e| LogError::io(path, e))?;
        let mut prev = if warm_start > 0 {
            match index.read_entry(0)? {
                Some(first) => Some(first),
                None => return Ok(Err("entry 0 holds an impossible value".into())),
            }
        } else {
            None
        };
        for (i, chunk) in buf.chunks_exact(E::SIZE).enumerate() {
            let Some(entry) = E::decode(base_offset, chunk) else {
                return Ok(Err(format!(
                    "entry {} holds an impossible value",
                    warm_start + i as u64
                )));
            };
            if let Some(p) = prev {
                if !entry.follows(&p) {
                    return Ok(Err(format!(
                        "entry {} ({entry:?}) does not follow {p:?}",
                        warm_start + i as u64
                    )));
                }
            }
            prev = Some(entry);
            index.warm.push_back(entry);
        }
        Ok(Ok(index))
    }

    /// Appends an entry at the end of the file.
    pub fn append(&mut self, entry: E) -> Result<(), LogError> {
        if let Some(last) = self.last() {
            if !entry.follows(&last) {
                return Err(LogError::corrupt(
                    &self.path,
                    self.entries * E::SIZE as u64,
                    format!("index entry {entry:?} does not follow {last:?}; the index is out of step with its segment"),
                ));
            }
        }
        let mut buf = Vec::with_capacity(E::SIZE);
        entry.encode(self.base_offset, &mut buf).ok_or_else(|| {
            LogError::corrupt(
                &self.path,
                self.entries * E::SIZE as u64,
                format!(
                    "{entry:?} cannot be stored relative to base offset {}",
                    self.base_offset
                ),
            )
        })?;
        self.file
            .append(&[IoSlice::new(&buf)])
            .map_err(|e| LogError::io(&self.path, e))?;
        self.entries += 1;
        if self.warm.len() == WARM_ENTRIES {
            self.warm.pop_front();
        }
        self.warm.push_back(entry);
        Ok(())
    }

    /// Removes every entry.
    pub fn reset(&mut self) -> Result<(), LogError> {
        self.file
            .set_len(0)
            .map_err(|e| LogError::io(&self.path, e))?;
        self.entries = 0;
        self.warm.clear();
        Ok(())
    }

    /// Keeps only the entries before the first whose key is `>= key`, or, for entries
    /// that are not ordered by `key` alone, before the first failing `keep` (which must
    /// hold for a prefix). Reloads the warm section from the file.
    pub fn truncate_while(&mut self, keep: impl Fn(&E) -> bool) -> Result<(), LogError> {
        let keep_count = match self.find_last(&keep)? {
            None => 0,
            Some(last_kept) => {
                // Entries are unique per key, so the last kept entry's position is found by
                // its key, warm or cold.
                let key = last_kept.key();
                self.position_of_last_at_or_below(key)? + 1
            }
        };
        if keep_count == self.entries {
            return Ok(());
        }
        self.file
            .set_len(keep_count * E::SIZE as u64)
            .map_err(|e| LogError::io(&self.path, e))?;
        self.entries = keep_count;
        self.warm.clear();
        let warm_count = keep_count.min(WARM_ENTRIES as u64);
        for i in keep_count - warm_count..keep_count {
            let entry = self.read_entry(i)?.ok_or_else(|| {
                LogError::corrupt(&self.path, i * E::SIZE as u64, "index entry holds an impossible value; delete the index file to have it rebuilt")
            })?;
            self.warm.push_back(entry);
        }
        Ok(())
    }

    /// The position (entry number) of the last entry whose key is `<= key`; the entry must
    /// exist.
    fn position_of_last_at_or_below(&self, key: i64) -> Result<u64, LogError> {
        let (mut lo, mut hi) = (0u64, self.entries);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let entry = match self.warm_entry(mid) {
                Some(e) => e,
                None => self.read_entry(mid)?.ok_or_else(|| {
                    LogError::corrupt(&self.path, mid * E::SIZE as u64, "index entry holds an impossible value; delete the index file to have it rebuilt")
                })?,
            };
            if entry.key() <= key {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        Ok(lo.saturating_sub(1))
    }

    fn warm_entry(&self, i: u64) -> Option<E> {
        let warm_start = self.entries - self.warm.len() as u64;
        i.checked_sub(warm_start)
            .and_then(|j| self.warm.get(j as usize).copied())
    }

    pub fn last(&self) -> Option<E> {
        self.warm.back().copied()
    }

    pub fn len(&self) -> u64 {
        self.entries
    }

    pub fn is_full(&self) -> bool {
        self.entries >= self.max_entries
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn sync(&self) -> Result<(), LogError> {
        self.file
            .sync_data()
            .map_err(|e| LogError::sync(&self.path, e))
    }

    /// The last entry whose key is <= `key`.
    pub fn floor(&self, key: i64) -> Result<Option<E>, LogError> {
        self.find_last(|e| e.key() <= key)
    }

    /// The last entry whose key is < `key`.
    pub fn lower(&self, key: i64) -> Result<Option<E>, LogError> {
        self.find_last(|e| e.key() < key)
    }

    /// The last entry satisfying `pred`, which must hold for a prefix of the entries.
    fn find_last(&self, pred: impl Fn(&E) -> bool) -> Result<Option<E>, LogError> {
        let warm_start = self.entries - self.warm.len() as u64;
        match self.warm.front() {
            None => return Ok(None),
            Some(first) if pred(first) || warm_start == 0 => {
                let n = self.warm.partition_point(&pred);
                return Ok(n.checked_sub(1).map(|i| self.warm[i]));
            }
            Some(_) => {}
        }
        // Binary search over the cold part [0, warm_start).
        let (mut lo, mut hi) = (0u64, warm_start);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let entry = self.read_entry(mid)?.ok_or_else(|| {
                LogError::corrupt(&self.path, mid * E::SIZE as u64, "index entry holds an impossible value; delete the index file to have it rebuilt")
            })?;
            if pred(&entry) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        match lo.checked_sub(1) {
            Some(i) => self.read_entry(i),
            None => Ok(None),
        }
    }

    fn read_entry(&self, i: u64) -> Result<Option<E>, LogError> {
        let mut buf = [0u8; 16];
        let buf = &mut buf[..E::SIZE];
        self.file
            .read_exact_at(buf, i * E::SIZE as u64)
            .map_err(|e| LogError::io(&self.path, e))?;
        Ok(E::decode(self.base_offset, buf))
    }
}
