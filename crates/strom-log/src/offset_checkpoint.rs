//! [`OffsetCheckpointFile`]: a per-log-directory file of one offset per partition, in
//! Kafka's `CheckpointFile` format. Two kinds exist ([`CheckpointKind`]):
//!
//! - `log-start-offset-checkpoint`: Kafka's record of log start offsets that the segments
//!   cannot tell. A log's start offset is normally its first segment's base offset, which
//!   the directory listing gives at open. DeleteRecords can move it inside a segment; that
//!   offset must survive a restart, or records a client deleted would be readable again.
//! - `cleaner-offset-checkpoint`: where the log cleaner's last clean of each compacted
//!   log ended (the first dirty offset; everything below it was cleaned). Without it the
//!   whole log is dirty again after a restart, and the first clean keeps every tombstone
//!   once more (no delete horizon without a clean section).
//! - `replication-offset-checkpoint`: each log's high watermark (Kafka's
//!   `ReplicaManager.HighWatermarkFilename`). Logs stage their value
//!   (`Log::checkpoint_high_watermark`) and the broker writes every directory's file at
//!   once every `replica.high.watermark.checkpoint.interval.ms` and at shutdown. A damaged
//!   file is ignored like the cleaner's: a high watermark read lower (or not at all) only
//!   delays what consumers see until the leader tells the replica its high watermark.
//!
//! Kafka keeps both in one file each per log directory, and so do we (format below, byte
//! for byte Kafka's `CheckpointFile`, so a Kafka operator finds what they expect).
//!
//! # Format
//!
//! ```text
//! ASCII text, every line ended by '\n', numbers in decimal:
//!   0                                 version
//!   <n>                               number of entries
//!   <topic> <partition> <offset>      n lines, fields separated by one space
//! ```
//! For example `0\n1\norders 3 1200\n`. Topic names cannot contain spaces (Kafka's legal
//! characters are `[a-zA-Z0-9._-]`). Only logs whose start offset is beyond their first
//! segment's base offset have a log start entry, as in Kafka; at open a log takes the
//! larger of its entry and its first base offset. Only cleaned logs have a cleaner entry;
//! at open a log takes it if it lies in [log start offset, log end offset], else starts
//! with nothing cleaned.
//!
//! # Durability
//!
//! Kafka writes the log start file every `log.flush.start.offset.checkpoint.interval.ms`
//! and relies on replication in between. We write it before DeleteRecords is answered
//! (and at clean shutdown), so an acknowledged deletion survives a crash of a single
//! broker. The cleaner file is written after every successful clean (Kafka: after every
//! clean too, `updateCheckpoints`), once the cleaned segments are durable. Each write
//! replaces the whole file atomically (`<file>.tmp`, fsync, rename, fsync of the
//! directory): a crash leaves the old file or the new one, and at worst a torn `.tmp`,
//! which the next open removes. A write that fails leaves the in-memory entries as they
//! were, so a later write by another partition never publishes an offset that was not
//! written.
//!
//! # A damaged file
//!
//! The policies differ on purpose ([`CheckpointKind::damage_is_fatal`]):
//! - a damaged log start file takes the directory offline: ignoring it could make records
//!   deleted by DeleteRecords readable again;
//! - a damaged cleaner file is ignored with a warning (every log of the directory starts
//!   with nothing cleaned, and the next clean replaces the file): losing a cleaner
//!   checkpoint is always safe, it only makes the next clean reread the log and keep its
//!   tombstones one clean longer. Taking the directory offline for it would trade a bit of
//!   cleaning work for unavailability. I/O errors reading either file are storage errors
//!   and still take the directory offline, as any other in the directory does.
//!
//! The logs of a directory share one [`OffsetCheckpointFile`] of each kind (behind an
//! `Arc`), each behind its own partition lock; the file is rewritten under this type's
//! mutex, so writes from different partitions never interleave. Rewriting the whole file
//! per change costs O(partitions in the directory) bytes, acceptable for DeleteRecords, an
//! administrative request, and for a clean, which rewrites whole segments; retention never
//! writes either file, since the segments it leaves tell the start and the cleaner
//! checkpoint is clamped at open.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::error::LogError;
use crate::file_names::TMP_FILE_SUFFIX;
use crate::fs::FileSystem;
use crate::topic_partition::TopicPartition;

/// Name of the log start offset checkpoint file in each log directory.
pub const LOG_START_OFFSET_CHECKPOINT_FILE: &str = "log-start-offset-checkpoint";
/// Name of the cleaner offset checkpoint file in each log directory.
pub const CLEANER_OFFSET_CHECKPOINT_FILE: &str = "cleaner-offset-checkpoint";
/// Name of the high watermark checkpoint file in each log directory (Kafka's
/// `ReplicaManager.HighWatermarkFilename`).
pub const HIGH_WATERMARK_CHECKPOINT_FILE: &str = "replication-offset-checkpoint";

/// The checkpoint format version Kafka writes and reads.
const VERSION: i32 = 0;

/// Which checkpoint file of a log directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CheckpointKind {
    /// `log-start-offset-checkpoint`.
    LogStartOffset,
    /// `cleaner-offset-checkpoint`.
    CleanerOffset,
    /// `replication-offset-checkpoint`.
    HighWatermark,
}

impl CheckpointKind {
    /// The file's name in the log directory.
    pub fn file_name(self) -> &'static str {
        match self {
            CheckpointKind::LogStartOffset => LOG_START_OFFSET_CHECKPOINT_FILE,
            CheckpointKind::CleanerOffset => CLEANER_OFFSET_CHECKPOINT_FILE,
            CheckpointKind::HighWatermark => HIGH_WATERMARK_CHECKPOINT_FILE,
        }
    }

    /// Whether a damaged file fails the load (and takes the directory offline) rather than
    /// being ignored; see the module docs.
    pub fn damage_is_fatal(self) -> bool {
        match self {
            CheckpointKind::LogStartOffset => true,
            CheckpointKind::CleanerOffset | CheckpointKind::HighWatermark => false,
        }
    }

    /// What removing a damaged file costs, for the error message.
    fn without_the_file(self) -> &'static str {
        match self {
            CheckpointKind::LogStartOffset => "log start offsets then fall back to each log's first segment, which may make records deleted by DeleteRecords readable again",
            CheckpointKind::CleanerOffset => "every log of the directory is then dirty again, which only costs the cleaner work",
            CheckpointKind::HighWatermark => "every log of the directory then starts with no checkpointed high watermark until its leader tells it one",
        }
    }
}

/// One checkpoint file of one log directory, as in memory and on disk.
#[derive(Debug)]
pub(crate) struct OffsetCheckpointFile {
    fs: Arc<dyn FileSystem>,
    path: PathBuf,
    /// What the file holds (the last successful write, or what was read at open).
    offsets: Mutex<BTreeMap<TopicPartition, i64>>,
    /// Changes recorded for the next [`OffsetCheckpointFile::write_staged`] (the high
    /// watermark file is written on a timer, not per change).
    staged: Mutex<BTreeMap<TopicPartition, Option<i64>>>,
}

impl OffsetCheckpointFile {
    /// Reads `dir`'s checkpoint of `kind` (none yet: no entries) and removes a `.tmp` left
    /// by a write that a crash interrupted. A damaged file is an error if
    /// [`CheckpointKind::damage_is_fatal`], else it is ignored with a warning (no entries;
    /// the next write replaces it).
    pub fn load(
        fs: Arc<dyn FileSystem>,
        dir: &Path,
        kind: CheckpointKind,
    ) -> Result<Arc<Self>, LogError> {
        let name = kind.file_name();
        let path = dir.join(name);
        let tmp = dir.join(format!("{name}{TMP_FILE_SUFFIX}"));
        if fs.exists(&tmp).map_err(|e| LogError::io(&tmp, e))? {
            tracing::info!(file = %tmp.display(), "removing a temporary file of an interrupted checkpoint write");
            fs.remove_file(&tmp).map_err(|e| LogError::io(&tmp, e))?;
        }
        let offsets = if fs.exists(&path).map_err(|e| LogError::io(&path, e))? {
            let bytes = fs.read_file(&path).map_err(|e| LogError::io(&path, e))?;
            match parse(&bytes, &path, kind) {
                Ok(offsets) => offsets,
                Err(e) if !kind.damage_is_fatal() => {
                    tracing::warn!(file = %path.display(), error = %e, "ignoring a damaged checkpoint file; it is replaced at the next write");
                    BTreeMap::new()
                }
                Err(e) => return Err(e),
            }
        } else {
            BTreeMap::new()
        };
        Ok(Arc::new(OffsetCheckpointFile {
            fs,
            path,
            offsets: Mutex::new(offsets),
            staged: Mutex::default(),
        }))
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<TopicPartition, i64>> {
        self.offsets.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The checkpointed offset of `tp`.
    pub fn get(&self, tp: &TopicPartition) -> Option<i64> {
        self.lock().get(tp).copied()
    }

    /// The partitions with an entry.
    pub fn partitions(&self) -> Vec<TopicPartition> {
        self.lock().keys().cloned().collect()
    }

    /// Applies `changes` (`None` removes an entry) and writes the file durably, once; does
    /// nothing if they change nothing. On error the entries stay as they were.
    pub fn update(&self, changes: &[(TopicPartition, Option<i64>)]) -> Result<(), LogError> {
        let mut offsets = self.lock();
        let mut next = offsets.clone();
        for (tp, offset) in changes {
            match offset {
                Some(offset) => next.insert(tp.clone(), *offset),
                None => next.remove(tp),
            };
        }
        if next == *offsets {
            return Ok(());
        }
        self.fs
            .write_file_atomic(&self.path, encode(&next).as_bytes())
            .map_err(|e| LogError::io(&self.path, e))?;
        *offsets = next;
        Ok(())
    }

    /// Records a change for the next [`OffsetCheckpointFile::write_staged`]; a later
    /// change of the same partition replaces it.
    pub fn stage(&self, tp: TopicPartition, offset: Option<i64>) {
        let mut staged = self.staged.lock().unwrap_or_else(|e| e.into_inner());
        match staged.get_mut(&tp) {
            Some(slot) => *slot = offset,
            None => {
                staged.insert(tp, offset);
            }
        }
    }

    /// Writes the staged changes (if they change anything), durably, as one
    /// [`OffsetCheckpointFile::update`]. On error they stay staged, unless a newer change
    /// of the same partition was staged meanwhile.
    pub fn write_staged(&self) -> Result<(), LogError> {
        let changes: Vec<(TopicPartition, Option<i64>)> = {
            let mut staged = self.staged.lock().unwrap_or_else(|e| e.into_inner());
            std::mem::take(&mut *staged).into_iter().collect()
        };
        if changes.is_empty() {
            return Ok(());
        }
        let result = self.update(&changes);
        if result.is_err() {
            let mut staged = self.staged.lock().unwrap_or_else(|e| e.into_inner());
            for (tp, offset) in changes {
                staged.entry(tp).or_insert(offset);
            }
        }
        result
    }

    /// Drops the entries of partitions not in `present` (deleted by hand, or by a Kafka
    /// that wrote the file and then removed the directory): one would wrongly apply to a
    /// partition of the same name created later. Returns how many went.
    pub fn retain_only(&self, present: &[TopicPartition]) -> Result<usize, LogError> {
        let stale: Vec<_> = self
            .partitions()
            .into_iter()
            .filter(|tp| !present.contains(tp))
            .map(|tp| (tp, None))
            .collect();
        if !stale.is_empty() {
            self.update(&stale)?;
        }
        Ok(stale.len())
    }
}

/// The checkpoint files of one log directory, shared by its logs.
#[derive(Debug, Clone)]
pub(crate) struct DirCheckpoints {
    /// `log-start-offset-checkpoint`.
    pub log_start: Arc<OffsetCheckpointFile>,
    /// `cleaner-offset-checkpoint`.
    pub cleaner: Arc<OffsetCheckpointFile>,
    /// `replication-offset-checkpoint`.
    pub high_watermark: Arc<OffsetCheckpointFile>,
    /// Whether the directory failed (shared by its logs, as the files are).
    pub health: Arc<crate::health::DirHealth>,
}

impl DirCheckpoints {
    /// Loads both files of `dir` (see [`OffsetCheckpointFile::load`] for each one's
    /// policy on damage).
    pub fn load(fs: &Arc<dyn FileSystem>, dir: &Path) -> Result<DirCheckpoints, LogError> {
        Ok(DirCheckpoints {
            log_start: OffsetCheckpointFile::load(
                Arc::clone(fs),
                dir,
                CheckpointKind::LogStartOffset,
            )?,
            cleaner: OffsetCheckpointFile::load(
                Arc::clone(fs),
                dir,
                CheckpointKind::CleanerOffset,
            )?,
            high_watermark: OffsetCheckpointFile::load(
                Arc::clone(fs),
                dir,
                CheckpointKind::HighWatermark,
            )?,
            health: Arc::default(),
        })
    }
}

/// The file's bytes for `offsets`.
pub(crate) fn encode(offsets: &BTreeMap<TopicPartition, i64>) -> String {
    let mut out = format!("{VERSION}\n{}\n", offsets.len());
    for (tp, offset) in offsets {
        out.push_str(&format!("{} {} {offset}\n", tp.topic, tp.partition));
    }
    out
}

/// Parses the file strictly: the version, the count and every entry must be as Kafka
/// writes them.
pub(crate) fn parse(
    bytes: &[u8],
    path: &Path,
    kind: CheckpointKind,
) -> Result<BTreeMap<TopicPartition, i64>, LogError> {
    let bad = |position: usize, reason: String| {
        LogError::corrupt(
            path,
            position as u64,
            format!(
                "{reason}; if the file is damaged, remove it: {}",
                kind.without_the_file()
            ),
        )
    };
    let entries = checkpoint_entries(bytes, VERSION, false, &bad)?;
    let mut offsets = BTreeMap::new();
    for (at, line) in entries {
        let fields: Vec<&str> = line.split(' ').collect();
        let entry = match fields[..] {
            [topic, partition, offset] if crate::is_legal_topic_name(topic) => partition
                .parse::<i32>()
                .ok()
                .filter(|p| *p >= 0)
                .zip(offset.parse::<i64>().ok().filter(|o| *o >= 0))
                .map(|(partition, offset)| (TopicPartition::new(topic, partition), offset)),
            _ => None,
        };
        let Some((tp, offset)) = entry else {
            return Err(bad(
                at,
                format!("malformed entry {line:?}, expected \"<topic> <partition> <offset>\""),
            ));
        };
        if offsets.insert(tp, offset).is_some() {
            return Err(bad(at, format!("entry {line:?} names a partition twice")));
        }
    }
    Ok(offsets)
}

/// The framing every Kafka checkpoint file shares (this one, `leader-epoch-checkpoint`): a
/// version line, an entry count, exactly that many entry lines, each ending with a newline.
/// Returns the entry lines with their byte positions for the caller to parse; `bad` builds
/// the error for a position and a reason. `trim` accepts whitespace around the version and
/// the count, as Kafka's leader-epoch reader does.
pub(crate) fn checkpoint_entries<'a>(
    bytes: &'a [u8],
    version: i32,
    trim: bool,
    bad: &dyn Fn(usize, String) -> LogError,
) -> Result<Vec<(usize, &'a str)>, LogError> {
    let text =
        std::str::from_utf8(bytes).map_err(|e| bad(e.valid_up_to(), "not ASCII text".into()))?;
    if !text.is_empty() && !text.ends_with('\n') {
        return Err(bad(
            text.len(),
            "the last line does not end with a newline".into(),
        ));
    }
    let mut position = 0;
    let mut lines = text.lines().map(|line| {
        let at = position;
        position += line.len() + 1;
        (at, line)
    });
    let mut next_line = |what: &str| {
        lines
            .next()
            .ok_or_else(|| bad(text.len(), format!("the file ends before the {what}")))
    };
    let field = |s: &'a str| if trim { s.trim() } else { s };
    let (at, found) = next_line("version line")?;
    if field(found).parse::<i32>().ok() != Some(version) {
        return Err(bad(
            at,
            format!("unsupported version line {found:?}, expected {version}"),
        ));
    }
    let (at, count) = next_line("entry count")?;
    let count: usize = field(count)
        .parse()
        .map_err(|_| bad(at, format!("entry count {count:?} is not a number")))?;
    let mut entries = Vec::with_capacity(count.min(1 << 16));
    for i in 0..count {
        entries.push(next_line(&format!("entry {} of {count}", i + 1))?);
    }
    if let Some((at, line)) = lines.next() {
        return Err(bad(
            at,
            format!("line {line:?} after the {count} entries the file announces"),
        ));
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CrashMode, FaultyFileSystem};

    const KIND: CheckpointKind = CheckpointKind::LogStartOffset;

    fn tp(topic: &str, partition: i32) -> TopicPartition {
        TopicPartition::new(topic, partition)
    }

    #[test]
    fn entries_are_written_in_kafkas_format_and_read_back() {
        let offsets = BTreeMap::from([(tp("orders", 3), 1200), (tp("a.b-c_d", 0), 7)]);
        let text = encode(&offsets);
        assert_eq!(text, "0\n2\na.b-c_d 0 7\norders 3 1200\n");
        assert_eq!(
            parse(text.as_bytes(), Path::new("f"), KIND).unwrap(),
            offsets
        );
        assert_eq!(encode(&BTreeMap::new()), "0\n0\n");
        assert!(parse(b"0\n0\n", Path::new("f"), KIND).unwrap().is_empty());
    }

    #[test]
    fn damaged_files_are_errors_naming_the_file_never_a_panic() {
        for text in [
            "",
            "0",
            "1\n0\n",
            "0\nx\n",
            "0\n2\norders 0 5\n",
            "0\n1\norders 0\n",
            "0\n1\norders 0 5 6\n",
            "0\n1\norders -1 5\n",
            "0\n1\norders 0 -5\n",
            "0\n1\nor ders 0 5\n",
            "0\n1\norders 0 5",
            "0\n1\norders 0 5\nextra 0 1\n",
            "0\n2\norders 0 5\norders 0 6\n",
            "0\n1\norders 0 99999999999999999999\n",
        ] {
            match parse(
                text.as_bytes(),
                Path::new("/d/log-start-offset-checkpoint"),
                KIND,
            ) {
                Err(LogError::Corrupt { path, .. }) => {
                    assert_eq!(
                        path,
                        Path::new("/d/log-start-offset-checkpoint"),
                        "{text:?}"
                    )
                }
                other => panic!("{text:?} parsed as {other:?}"),
            }
        }
        assert!(parse(&[0xff, b'\n'], Path::new("f"), KIND).is_err());
    }

    #[test]
    fn updates_are_durable_and_a_failed_write_changes_nothing() {
        let fs = FaultyFileSystem::new();
        let dir = Path::new("/d");
        fs.create_dir_all(dir).unwrap();
        let checkpoint = OffsetCheckpointFile::load(fs.shared(), dir, KIND).unwrap();
        assert_eq!(checkpoint.get(&tp("orders", 0)), None);
        checkpoint
            .update(&[(tp("orders", 0), Some(10)), (tp("orders", 1), Some(20))])
            .unwrap();
        checkpoint.update(&[(tp("orders", 1), None)]).unwrap();
        let file = dir.join(LOG_START_OFFSET_CHECKPOINT_FILE);
        assert_eq!(fs.contents(&file).unwrap(), b"0\n1\norders 0 10\n");

        // No room for the new file: the write fails, memory and disk keep the old entry.
        fs.set_write_budget(Some(3));
        assert!(checkpoint.update(&[(tp("orders", 0), Some(30))]).is_err());
        assert_eq!(checkpoint.get(&tp("orders", 0)), Some(10));
        fs.set_write_budget(None);
        checkpoint.update(&[(tp("orders", 2), Some(5))]).unwrap();
        assert_eq!(
            fs.contents(&file).unwrap(),
            b"0\n2\norders 0 10\norders 2 5\n"
        );

        // The torn `.tmp` of the failed write is removed at the next load.
        fs.set_write_budget(Some(0));
        assert!(checkpoint.update(&[(tp("orders", 0), Some(40))]).is_err());
        fs.set_write_budget(None);
        let tmp = dir.join("log-start-offset-checkpoint.tmp");
        assert!(fs.exists(&tmp).unwrap());
        let reloaded = OffsetCheckpointFile::load(fs.shared(), dir, KIND).unwrap();
        assert!(!fs.exists(&tmp).unwrap());
        assert_eq!(reloaded.get(&tp("orders", 0)), Some(10));
        assert_eq!(reloaded.get(&tp("orders", 2)), Some(5));
    }

    #[test]
    fn a_damaged_cleaner_checkpoint_is_ignored_but_a_damaged_log_start_checkpoint_is_an_error() {
        let fs = FaultyFileSystem::new();
        let dir = Path::new("/d");
        fs.create_dir_all(dir).unwrap();
        for name in [
            LOG_START_OFFSET_CHECKPOINT_FILE,
            CLEANER_OFFSET_CHECKPOINT_FILE,
        ] {
            fs.put_file(&dir.join(name), b"0\n2\norders 0 5\n").unwrap();
        }
        let err = OffsetCheckpointFile::load(fs.shared(), dir, CheckpointKind::LogStartOffset)
            .unwrap_err();
        assert!(matches!(err, LogError::Corrupt { .. }), "{err}");
        let cleaner =
            OffsetCheckpointFile::load(fs.shared(), dir, CheckpointKind::CleanerOffset).unwrap();
        assert!(cleaner.partitions().is_empty());
        // The next write replaces the damaged file with a good one.
        cleaner.update(&[(tp("orders", 0), Some(9))]).unwrap();
        let file = dir.join(CLEANER_OFFSET_CHECKPOINT_FILE);
        assert_eq!(fs.contents(&file).unwrap(), b"0\n1\norders 0 9\n");
        let reloaded =
            OffsetCheckpointFile::load(fs.shared(), dir, CheckpointKind::CleanerOffset).unwrap();
        assert_eq!(reloaded.get(&tp("orders", 0)), Some(9));
    }

    #[test]
    fn a_torn_tmp_write_never_corrupts_the_previous_cleaner_checkpoint() {
        let old = b"0\n2\norders 0 10\norders 1 20\n";
        let new_len = encode(&BTreeMap::from([
            (tp("orders", 0), 12345),
            (tp("orders", 1), 20),
        ]))
        .len() as u64;
        let modes = [
            CrashMode::LoseUnsynced,
            CrashMode::KeepUnsyncedPrefix(5),
            CrashMode::TearLastWrite { keep_bytes: 3 },
            CrashMode::ZeroUnsynced,
        ];
        for budget in 0..new_len {
            for mode in modes {
                let fs = FaultyFileSystem::new();
                let dir = Path::new("/d");
                fs.create_dir_all(dir).unwrap();
                let kind = CheckpointKind::CleanerOffset;
                let checkpoint = OffsetCheckpointFile::load(fs.shared(), dir, kind).unwrap();
                checkpoint
                    .update(&[(tp("orders", 0), Some(10)), (tp("orders", 1), Some(20))])
                    .unwrap();
                // The new file's `.tmp` gets only `budget` bytes, then the power goes.
                fs.set_write_budget(Some(budget));
                assert!(checkpoint
                    .update(&[(tp("orders", 0), Some(12345))])
                    .is_err());
                assert_eq!(checkpoint.get(&tp("orders", 0)), Some(10));
                fs.crash(mode);
                fs.set_write_budget(None);
                let file = dir.join(CLEANER_OFFSET_CHECKPOINT_FILE);
                assert_eq!(fs.contents(&file).unwrap(), old, "{budget} {mode:?}");
                let reloaded = OffsetCheckpointFile::load(fs.shared(), dir, kind).unwrap();
                assert_eq!(
                    reloaded.get(&tp("orders", 0)),
                    Some(10),
                    "{budget} {mode:?}"
                );
                assert_eq!(reloaded.get(&tp("orders", 1)), Some(20));
                let tmp = dir.join(format!("{CLEANER_OFFSET_CHECKPOINT_FILE}.tmp"));
                assert!(!fs.exists(&tmp).unwrap());
            }
        }
    }
}
