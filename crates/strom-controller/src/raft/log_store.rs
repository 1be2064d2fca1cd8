//! The durable Raft log of the metadata quorum, and the vote.
//!
//! Entries live in segment files named after the index of their first entry
//! (`00000000000000000000.log`), each a sequence of frames (see [`frame`])
//! whose payload is one openraft entry as JSON, indexes consecutive. A new
//! segment starts when the current one reaches `segment_bytes`, so purging
//! old entries can delete whole files; entries at or below the purge point
//! that share a file with newer ones stay on disk and are skipped on load.
//!
//! Appends are fsynced before openraft is told they are durable. All
//! entries after the purge point are also kept in memory: the metadata log
//! is small (a snapshot every few thousand entries lets the older ones go),
//! and reads then never touch the disk.
//!
//! Recovery reads every segment: a frame cut short, a zero-filled tail or a
//! bad checksum in the last frame of the newest segment is what a crash in
//! the middle of an append leaves, and is truncated away (those entries were
//! never acknowledged); any other damage stops the start with an error that
//! names the file and byte position.
//!
//! The I/O is synchronous and done under a mutex that is never held across
//! an await. Metadata writes are rare and small, and this keeps every write
//! ordered, which openraft requires of log storage.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::ops::RangeBounds;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{AnyError, OptionalSend, RaftLogReader, StorageIOError};

use super::frame::{self, FrameRead};
use super::fs_util::{self, file_names, remove_temporary_files, sync_dir, AppendFile, FileSystem};
use super::quorum_state::{self, QuorumState};
use super::{Entry, LogId, StorageError, TypeConfig, Vote};
use crate::error::StoreError;

const SEGMENT_SUFFIX: &str = ".log";

/// The log store; clones share the same files (openraft's log reader is a
/// clone).
#[derive(Clone)]
pub(crate) struct LogStore {
    files: Arc<Mutex<LogFiles>>,
}

struct LogFiles {
    fs: Arc<dyn FileSystem>,
    dir: PathBuf,
    segment_bytes: u64,
    state: QuorumState,
    /// Every entry after the purge point, by index.
    entries: BTreeMap<u64, StoredEntry>,
    /// Segments by the index they start at.
    segments: BTreeMap<u64, Segment>,
    /// Append handle of the last segment.
    active: Option<Box<dyn AppendFile>>,
}

struct StoredEntry {
    entry: Entry,
    /// The segment holding it, and where its frame starts.
    segment: u64,
    position: u64,
}

struct Segment {
    path: PathBuf,
    len: u64,
    /// The index the next entry written to this segment would have.
    next_index: u64,
}

impl LogStore {
    /// Opens (creating if needed) the log in `dir`, recovering from a crash.
    pub(crate) fn open(
        fs: Arc<dyn FileSystem>,
        dir: &Path,
        segment_bytes: u64,
    ) -> Result<LogStore, StoreError> {
        let files = LogFiles::open(fs, dir, segment_bytes.max(1))?;
        Ok(LogStore {
            files: Arc::new(Mutex::new(files)),
        })
    }

    /// The last purged log id, and the first and last index held.
    pub(crate) fn bounds(&self) -> (Option<LogId>, Option<u64>, Option<u64>) {
        let files = self.lock();
        let first = files.entries.keys().next().copied();
        let last = files.entries.keys().next_back().copied();
        (files.state.last_purged_log_id, first, last)
    }

    fn lock(&self) -> MutexGuard<'_, LogFiles> {
        // A panic while holding the lock cannot leave the files half-changed
        // in a way recovery does not handle, so a poisoned lock is usable.
        self.files.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl LogFiles {
    fn open(
        fs: Arc<dyn FileSystem>,
        dir: &Path,
        segment_bytes: u64,
    ) -> Result<LogFiles, StoreError> {
        fs.create_dir_all(dir).map_err(|e| StoreError::io(dir, e))?;
        remove_temporary_files(&*fs, dir)?;
        let state = quorum_state::load(&*fs, dir)?;
        let purged = state.last_purged_log_id.map(|id| id.index);

        let mut segment_paths = BTreeMap::new();
        for name in file_names(&*fs, dir)? {
            let Some(stem) = name.strip_suffix(SEGMENT_SUFFIX) else {
                continue;
            };
            let path = dir.join(&name);
            let base = (stem.len() == 20)
                .then(|| stem.parse::<u64>().ok())
                .flatten()
                .ok_or_else(|| {
                    StoreError::corrupt(
                        &path,
                        0,
                        "this is not a metadata log segment name (20 digits, then .log); move the file out of the metadata directory",
                    )
                })?;
            segment_paths.insert(base, path);
        }

        let last_base = segment_paths.keys().next_back().copied();
        let mut files = LogFiles {
            fs,
            dir: dir.to_path_buf(),
            segment_bytes,
            state,
            entries: BTreeMap::new(),
            segments: BTreeMap::new(),
            active: None,
        };
        let mut expected: Option<u64> = None;
        for (base, path) in segment_paths {
            // Segments follow each other, except across purged entries.
            let follows = match expected {
                Some(next) => {
                    base == next || (base > next && purged.is_some_and(|p| base <= p + 1))
                }
                None => purged.map_or(base == 0, |p| base <= p + 1),
            };
            if !follows {
                let previous = expected.map_or("the start of the log".to_string(), |next| {
                    format!("entry {next}")
                });
                return Err(StoreError::corrupt(
                    &path,
                    0,
                    format!("the segment starts at entry {base}, but {previous} is missing"),
                ));
            }
            let segment = files.recover_segment(base, path, purged, Some(base) == last_base)?;
            expected = Some(segment.next_index);
            files.segments.insert(base, segment);
        }
        files.reopen_active()?;
        Ok(files)
    }

    /// Loads one segment's entries, truncating a torn tail if it is the last.
    fn recover_segment(
        &mut self,
        base: u64,
        path: PathBuf,
        purged: Option<u64>,
        is_last: bool,
    ) -> Result<Segment, StoreError> {
        let data = fs_util::read(&*self.fs, &path)?;
        let mut position = 0;
        let mut index = base;
        loop {
            match frame::read(&data, position) {
                FrameRead::Frame { payload, next } => {
                    let entry: Entry = serde_json::from_slice(payload).map_err(|e| {
                        StoreError::corrupt(
                            &path,
                            position as u64,
                            format!("a log entry does not decode: {e}"),
                        )
                    })?;
                    if entry.log_id.index != index {
                        return Err(StoreError::corrupt(
                            &path,
                            position as u64,
                            format!("expected entry {index}, found entry {}", entry.log_id.index),
                        ));
                    }
                    if purged.is_none_or(|p| index > p) {
                        let stored = StoredEntry {
                            entry,
                            segment: base,
                            position: position as u64,
                        };
                        self.entries.insert(index, stored);
                    }
                    index += 1;
                    position = next;
                }
                FrameRead::End => break,
                FrameRead::Incomplete(reason) if is_last => {
                    tracing::warn!(
                        "truncating {} at byte {position} (of {}): {reason}; this is what a crash during a metadata log append leaves behind",
                        path.display(),
                        data.len()
                    );
                    self.fs
                        .truncate(&path, position as u64)
                        .map_err(|e| StoreError::io(&path, e))?;
                    break;
                }
                FrameRead::Incomplete(reason) | FrameRead::Corrupt(reason) => {
                    return Err(StoreError::corrupt(&path, position as u64, reason));
                }
            }
        }
        Ok(Segment {
            path,
            len: position as u64,
            next_index: index,
        })
    }

    fn reopen_active(&mut self) -> Result<(), StoreError> {
        self.active = None;
        if let Some(segment) = self.segments.values().next_back() {
            let file = self
                .fs
                .open_append(&segment.path, false)
                .map_err(|e| StoreError::io(&segment.path, e))?;
            self.active = Some(file);
        }
        Ok(())
    }

    fn log_state(&self) -> LogState<TypeConfig> {
        let last_purged_log_id = self.state.last_purged_log_id;
        let last_log_id = self
            .entries
            .values()
            .next_back()
            .map(|stored| stored.entry.log_id)
            .or(last_purged_log_id);
        LogState {
            last_purged_log_id,
            last_log_id,
        }
    }

    fn save_vote(&mut self, vote: &Vote) -> Result<(), StoreError> {
        let mut state = self.state.clone();
        state.vote = Some(*vote);
        quorum_state::store(&*self.fs, &self.dir, &state)?;
        self.state = state;
        Ok(())
    }

    fn append(&mut self, entries: impl IntoIterator<Item = Entry>) -> Result<(), StoreError> {
        let mut unsynced = false;
        for entry in entries {
            let index = entry.log_id.index;
            let expected = self.log_state().last_log_id.map(|id| id.index + 1);
            if expected.is_some_and(|next| next != index) {
                return Err(StoreError::corrupt(
                    &self.dir,
                    0,
                    format!("appending entry {index} would leave a gap or overwrite: the log ends before entry {expected:?}"),
                ));
            }
            let roll = self
                .segments
                .values()
                .next_back()
                .is_none_or(|s| s.next_index != index || s.len >= self.segment_bytes);
            if roll {
                if unsynced {
                    self.sync_active()?;
                }
                self.roll(index)?;
            }
            let (Some((&base, segment)), Some(active)) =
                (self.segments.iter_mut().next_back(), self.active.as_mut())
            else {
                return Err(StoreError::corrupt(
                    &self.dir,
                    0,
                    "no segment is open for appending",
                ));
            };
            let json = serde_json::to_vec(&entry).map_err(|e| {
                StoreError::corrupt(
                    &segment.path,
                    segment.len,
                    format!("entry {index} does not encode: {e}"),
                )
            })?;
            let mut bytes = Vec::with_capacity(json.len() + frame::FRAME_HEADER_BYTES);
            frame::encode(&json, &mut bytes).ok_or_else(|| {
                StoreError::corrupt(
                    &segment.path,
                    segment.len,
                    format!("entry {index} is too large to store"),
                )
            })?;
            active
                .append(&bytes)
                .map_err(|e| StoreError::io(&segment.path, e))?;
            unsynced = true;
            let position = segment.len;
            segment.len += bytes.len() as u64;
            segment.next_index = index + 1;
            self.entries.insert(
                index,
                StoredEntry {
                    entry,
                    segment: base,
                    position,
                },
            );
        }
        if unsynced {
            self.sync_active()?;
        }
        Ok(())
    }

    fn sync_active(&mut self) -> Result<(), StoreError> {
        if let (Some(active), Some(segment)) =
            (self.active.as_mut(), self.segments.values().next_back())
        {
            active
                .sync()
                .map_err(|e| StoreError::io(&segment.path, e))?;
        }
        Ok(())
    }

    fn roll(&mut self, index: u64) -> Result<(), StoreError> {
        let path = self.dir.join(format!("{index:020}{SEGMENT_SUFFIX}"));
        let file = self
            .fs
            .open_append(&path, true)
            .map_err(|e| StoreError::io(&path, e))?;
        sync_dir(&*self.fs, &self.dir)?;
        self.segments.insert(
            index,
            Segment {
                path,
                len: 0,
                next_index: index,
            },
        );
        self.active = Some(file);
        Ok(())
    }

    /// Removes the entries from `index` on. Later segments go first, so a
    /// crash half-way leaves a log that still reads without gaps.
    fn truncate(&mut self, index: u64) -> Result<(), StoreError> {
        let Some(stored) = self.entries.get(&index) else {
            return Ok(());
        };
        let (base, position) = (stored.segment, stored.position);
        self.active = None;
        let later: Vec<u64> = self.segments.range(base + 1..).map(|(b, _)| *b).collect();
        for later_base in later.into_iter().rev() {
            if let Some(segment) = self.segments.remove(&later_base) {
                self.fs
                    .remove_file(&segment.path)
                    .map_err(|e| StoreError::io(&segment.path, e))?;
            }
        }
        if position == 0 {
            if let Some(segment) = self.segments.remove(&base) {
                self.fs
                    .remove_file(&segment.path)
                    .map_err(|e| StoreError::io(&segment.path, e))?;
            }
        } else if let Some(segment) = self.segments.get_mut(&base) {
            self.fs
                .truncate(&segment.path, position)
                .map_err(|e| StoreError::io(&segment.path, e))?;
            segment.len = position;
            segment.next_index = index;
        }
        sync_dir(&*self.fs, &self.dir)?;
        self.entries.split_off(&index);
        self.reopen_active()
    }

    /// Forgets the entries up to and including `log_id`: records the purge
    /// point durably first, then deletes the segments it covers entirely
    /// (never the last one, which takes the next appends).
    fn purge(&mut self, log_id: LogId) -> Result<(), StoreError> {
        if self
            .state
            .last_purged_log_id
            .is_some_and(|purged| purged.index >= log_id.index)
        {
            return Ok(());
        }
        let mut state = self.state.clone();
        state.last_purged_log_id = Some(log_id);
        quorum_state::store(&*self.fs, &self.dir, &state)?;
        self.state = state;
        self.entries = self.entries.split_off(&log_id.index.saturating_add(1));

        let last_base = self.segments.keys().next_back().copied();
        let covered: Vec<u64> = self
            .segments
            .iter()
            .filter(|(base, segment)| {
                Some(**base) != last_base && segment.next_index <= log_id.index + 1
            })
            .map(|(base, _)| *base)
            .collect();
        for base in &covered {
            if let Some(segment) = self.segments.remove(base) {
                self.fs
                    .remove_file(&segment.path)
                    .map_err(|e| StoreError::io(&segment.path, e))?;
            }
        }
        if !covered.is_empty() {
            sync_dir(&*self.fs, &self.dir)?;
        }
        Ok(())
    }
}

fn write_error(e: &StoreError) -> StorageError {
    StorageIOError::write_logs(AnyError::new(e)).into()
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError> {
        let files = self.lock();
        Ok(files
            .entries
            .range(range)
            .map(|(_, stored)| stored.entry.clone())
            .collect())
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        Ok(self.lock().log_state())
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), StorageError> {
        self.lock()
            .save_vote(vote)
            .map_err(|e| StorageIOError::write_vote(AnyError::new(&e)).into())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, StorageError> {
        Ok(self.lock().state.vote)
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        self.lock().append(entries).map_err(|e| write_error(&e))?;
        callback.log_io_completed(Ok(()));
        Ok(())
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        self.lock()
            .truncate(log_id.index)
            .map_err(|e| write_error(&e))
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        self.lock().purge(log_id).map_err(|e| write_error(&e))
    }
}

#[cfg(test)]
mod tests {
    use openraft::{CommittedLeaderId, EntryPayload};

    use std::fs;

    use super::*;
    use crate::raft::fs_util::RealFileSystem;
    use crate::raft::MetadataBatch;

    fn entry(index: u64) -> Entry {
        Entry {
            log_id: LogId::new(CommittedLeaderId::new(1, 0), index),
            payload: EntryPayload::Normal(MetadataBatch::default()),
        }
    }

    fn indexes(files: &LogFiles) -> Vec<u64> {
        files.entries.keys().copied().collect()
    }

    fn segment_files(dir: &Path) -> Vec<String> {
        file_names(&RealFileSystem, dir)
            .unwrap_or_default()
            .into_iter()
            .filter(|n| n.ends_with(SEGMENT_SUFFIX))
            .collect()
    }

    #[test]
    fn appended_entries_survive_reopening() -> Result<(), StoreError> {
        let dir = tempfile::tempdir().map_err(|e| StoreError::io("tempdir", e))?;
        let mut files = LogFiles::open(RealFileSystem::shared(), dir.path(), 1 << 20)?;
        files.append((0..5).map(entry))?;
        drop(files);
        let files = LogFiles::open(RealFileSystem::shared(), dir.path(), 1 << 20)?;
        assert_eq!(indexes(&files), vec![0, 1, 2, 3, 4]);
        assert_eq!(files.log_state().last_log_id.map(|id| id.index), Some(4));
        Ok(())
    }

    #[test]
    fn small_segments_roll_and_purge_deletes_covered_ones() -> Result<(), StoreError> {
        let dir = tempfile::tempdir().map_err(|e| StoreError::io("tempdir", e))?;
        let mut files = LogFiles::open(RealFileSystem::shared(), dir.path(), 1)?;
        files.append((0..4).map(entry))?;
        assert_eq!(segment_files(dir.path()).len(), 4);
        files.purge(entry(2).log_id)?;
        assert_eq!(indexes(&files), vec![3]);
        assert_eq!(segment_files(dir.path()), vec![format!("{:020}.log", 3)]);
        files.append((4..6).map(entry))?;
        drop(files);
        let files = LogFiles::open(RealFileSystem::shared(), dir.path(), 1)?;
        assert_eq!(indexes(&files), vec![3, 4, 5]);
        assert_eq!(
            files.log_state().last_purged_log_id.map(|id| id.index),
            Some(2)
        );
        Ok(())
    }

    #[test]
    fn purge_keeps_the_last_segment_and_skips_purged_entries_on_load() -> Result<(), StoreError> {
        let dir = tempfile::tempdir().map_err(|e| StoreError::io("tempdir", e))?;
        let mut files = LogFiles::open(RealFileSystem::shared(), dir.path(), 1 << 20)?;
        files.append((0..5).map(entry))?;
        files.purge(entry(4).log_id)?;
        assert!(indexes(&files).is_empty());
        assert_eq!(files.log_state().last_log_id.map(|id| id.index), Some(4));
        files.append([entry(5)])?;
        drop(files);
        let files = LogFiles::open(RealFileSystem::shared(), dir.path(), 1 << 20)?;
        assert_eq!(indexes(&files), vec![5]);
        Ok(())
    }

    #[test]
    fn truncate_removes_entries_across_segments() -> Result<(), StoreError> {
        let dir = tempfile::tempdir().map_err(|e| StoreError::io("tempdir", e))?;
        let mut files = LogFiles::open(RealFileSystem::shared(), dir.path(), 200)?;
        files.append((0..10).map(entry))?;
        let before = segment_files(dir.path()).len();
        assert!(before > 2, "{before} segments");
        files.truncate(3)?;
        assert_eq!(indexes(&files), vec![0, 1, 2]);
        files.append((3..5).map(entry))?;
        drop(files);
        let files = LogFiles::open(RealFileSystem::shared(), dir.path(), 200)?;
        assert_eq!(indexes(&files), vec![0, 1, 2, 3, 4]);
        Ok(())
    }

    #[test]
    fn appending_out_of_order_is_refused() -> Result<(), StoreError> {
        let dir = tempfile::tempdir().map_err(|e| StoreError::io("tempdir", e))?;
        let mut files = LogFiles::open(RealFileSystem::shared(), dir.path(), 1 << 20)?;
        files.append((0..2).map(entry))?;
        assert!(files.append([entry(5)]).is_err());
        assert!(files.append([entry(1)]).is_err());
        Ok(())
    }

    #[test]
    fn a_torn_tail_is_truncated_and_mid_file_damage_is_an_error() -> Result<(), StoreError> {
        let dir = tempfile::tempdir().map_err(|e| StoreError::io("tempdir", e))?;
        let mut files = LogFiles::open(RealFileSystem::shared(), dir.path(), 1 << 20)?;
        files.append((0..3).map(entry))?;
        drop(files);
        let path = dir.path().join(format!("{:020}.log", 0));
        let mut bytes = fs::read(&path).map_err(|e| StoreError::io(&path, e))?;
        let intact = bytes.len();
        bytes.extend_from_slice(&[0, 0, 1, 0, 1, 2, 3]);
        fs::write(&path, &bytes).map_err(|e| StoreError::io(&path, e))?;

        let files = LogFiles::open(RealFileSystem::shared(), dir.path(), 1 << 20)?;
        assert_eq!(indexes(&files), vec![0, 1, 2]);
        let len = fs::metadata(&path)
            .map_err(|e| StoreError::io(&path, e))?
            .len();
        assert_eq!(len, intact as u64);
        drop(files);

        // Damage the first frame's payload: not a torn write.
        bytes.truncate(intact);
        bytes[10] ^= 0x55;
        fs::write(&path, &bytes).map_err(|e| StoreError::io(&path, e))?;
        match LogFiles::open(RealFileSystem::shared(), dir.path(), 1 << 20) {
            Err(StoreError::Corrupt {
                path: named,
                position,
                ..
            }) => {
                assert_eq!(named, path);
                assert_eq!(position, 0);
            }
            Err(other) => panic!("expected corruption, got {other}"),
            Ok(_) => panic!("a damaged segment must not open"),
        }
        Ok(())
    }

    #[test]
    fn a_missing_segment_is_an_error() -> Result<(), StoreError> {
        let dir = tempfile::tempdir().map_err(|e| StoreError::io("tempdir", e))?;
        let mut files = LogFiles::open(RealFileSystem::shared(), dir.path(), 1)?;
        files.append((0..3).map(entry))?;
        drop(files);
        let middle = dir.path().join(format!("{:020}.log", 1));
        fs::remove_file(&middle).map_err(|e| StoreError::io(&middle, e))?;
        assert!(matches!(
            LogFiles::open(RealFileSystem::shared(), dir.path(), 1),
            Err(StoreError::Corrupt { .. })
        ));
        Ok(())
    }

    #[test]
    fn the_vote_survives_reopening() -> Result<(), StoreError> {
        let dir = tempfile::tempdir().map_err(|e| StoreError::io("tempdir", e))?;
        let mut files = LogFiles::open(RealFileSystem::shared(), dir.path(), 1 << 20)?;
        let vote = Vote::new_committed(3, 1);
        files.save_vote(&vote)?;
        drop(files);
        let files = LogFiles::open(RealFileSystem::shared(), dir.path(), 1 << 20)?;
        assert_eq!(files.state.vote, Some(vote));
        Ok(())
    }
}
