//! Opening a [`Log`]: read the directory, finish what a crash interrupted, check or recover
//! the segments.
//!
//! - `*.deleted` files were on their way out: removed. `*.cleaned` files are output of a
//!   compaction that never finished: removed. A `*.log.swap` is a finished compaction
//!   output (Kafka flushes it before naming it `.swap`): the segments it covers are removed
//!   and it takes its final name; its indexes are rebuilt. `*.tmp` files of atomic writes
//!   are removed. Index files without a `.log` are removed.
//! - After an unclean shutdown (`recover`), the active segment is recovered batch by batch:
//!   older segments were fsynced, indexes included, when they rolled.
//! - After a clean shutdown, indexes are loaded and sanity-checked (size a multiple of
//!   the entry size, increasing entries, last entry inside the segment); any that fail are
//!   rebuilt by recovering that segment. The active segment's tail is re-read from its
//!   last index entry to find the log end offset.
//! - The producer state is loaded from the newest usable `<offset>.snapshot` and the
//!   batch headers after it, once the segments are recovered (`producer_snapshot`).
//! - A recovered segment that had to be cut ends the log: any later segments are deleted,
//!   as Kafka does, since offsets after the cut cannot be trusted to continue.
//! - The log start offset is the larger of the first segment's base offset and the
//!   directory's `log-start-offset-checkpoint` entry (DeleteRecords inside a segment). If
//!   the log now ends below that entry (a crash lost an unflushed tail the deletion had
//!   covered), every segment is deleted and the log restarts empty at the checkpointed
//!   offset, as Kafka's `LogLoader` does: no record below an acknowledged log start offset
//!   may come back, and offsets are never reused.
//! - The leader epoch cache is read from `leader-epoch-checkpoint` and truncated to [log
//!   start offset, log end offset); a missing or damaged file is rebuilt from the batch
//!   headers (see `leader_epoch_cache`). The directory's `replication-offset-checkpoint`
//!   gives the checkpointed high watermark.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::config::LogConfig;
use crate::error::LogError;
use crate::file_names::{
    parse_segment_file_name, segment_path, FileKind, Leftover, INDEX_FILE_SUFFIX, LOG_FILE_SUFFIX,
    SWAP_FILE_SUFFIX, TIME_INDEX_FILE_SUFFIX, TMP_FILE_SUFFIX,
};
use crate::fs::FileSystem;
use crate::health::LogHealth;
use crate::leader_epoch_cache::LeaderEpochCache;
use crate::log::Log;
use crate::offset_checkpoint::DirCheckpoints;
use crate::producer_state::ProducerStateManager;
use crate::segment::LogSegment;

/// Files Kafka keeps in a partition directory that this log does not manage.
const KNOWN_OTHER_FILES: [&str; 2] = ["leader-epoch-checkpoint", "partition.metadata"];

impl Log {
    /// Opens (creating if needed) the log in `dir`. `recover` is true unless the log was
    /// closed cleanly (the log manager knows from its clean-shutdown marker).
    ///
    /// Opened this way, alone, the log reads and writes no `log-start-offset-checkpoint`
    /// and no `cleaner-offset-checkpoint`: a log start offset that DeleteRecords moved
    /// inside a segment is back at that segment's base offset after a restart, and the
    /// whole log is dirty again. The broker opens logs through [`crate::LogManager`], which
    /// shares its directory's checkpoints with them.
    pub fn open(
        fs: Arc<dyn FileSystem>,
        dir: PathBuf,
        config: LogConfig,
        recover: bool,
        now_ms: i64,
    ) -> Result<Log, LogError> {
        Log::open_with_checkpoint(fs, dir, config, recover, now_ms, None)
    }

    /// [`Log::open`] for a log of a log directory whose checkpoint files are
    /// `checkpoints`.
    pub(crate) fn open_with_checkpoint(
        fs: Arc<dyn FileSystem>,
        dir: PathBuf,
        config: LogConfig,
        recover: bool,
        now_ms: i64,
        checkpoints: Option<DirCheckpoints>,
    ) -> Result<Log, LogError> {
        let (checkpoint, cleaner_offsets, high_watermarks, dir_health) = match checkpoints {
            Some(c) => (
                Some(c.log_start),
                Some(c.cleaner),
                Some(c.high_watermark),
                Some(c.health),
            ),
            None => (None, None, None, None),
        };
        fs.create_dir_all(&dir).map_err(|e| LogError::io(&dir, e))?;
        let mut log = Log {
            fs,
            dir,
            config,
            segments: Vec::new(),
            log_start_offset: 0,
            log_end_offset: 0,
            flushed_offset: 0,
            last_flush_ms: now_ms,
            health: LogHealth::Online,
            dir_health,
            producer_state: ProducerStateManager::default(),
            checkpoint,
            cleaner_offsets,
            cleaner_checkpoint: 0,
            epoch_cache: LeaderEpochCache::default(),
            high_watermarks,
            checkpointed_high_watermark: None,
            aborted_txns: Vec::new(),
            txn_index_unsynced: false,
        };
        let (bases, snapshots) = log.clean_directory()?;
        log.load_segments(&bases, recover, now_ms)?;
        let checkpointed = match (&log.checkpoint, log.topic_partition()) {
            (Some(checkpoint), Some(tp)) => checkpoint.get(&tp),
            _ => None,
        };
        if let (Some(start), Some(last)) = (checkpointed, log.segments.last()) {
            if last.next_offset() < start {
                tracing::warn!(
                    dir = %log.dir.display(),
                    log_end_offset = last.next_offset(),
                    log_start_offset = start,
                    "the log ends below its checkpointed log start offset; deleting every segment and restarting the log empty there"
                );
                let segments = std::mem::take(&mut log.segments);
                log.remove_segment_files(&segments)?;
            }
        }
        if log.segments.is_empty() {
            let base = checkpointed.unwrap_or(0);
            let segment = LogSegment::create(
                log.fs.as_ref(),
                &log.dir,
                base,
                &log.config,
                now_ms,
                log.roll_jitter_ms(base),
            )?;
            log.fs
                .sync_dir(&log.dir)
                .map_err(|e| LogError::io(&log.dir, e))?;
            log.segments.push(segment);
        }
        log.log_start_offset = log.segments[0]
            .base_offset()
            .max(checkpointed.unwrap_or(i64::MIN));
        log.log_end_offset = log.active().next_offset();
        if recover {
            // After a crash of the process (not of the machine) the recovered tail may sit
            // in the page cache only: make it durable before calling it flushed, or a power
            // loss later could take back records consumers were already shown.
            log.active().sync_all()?;
        }
        log.flushed_offset = log.log_end_offset;
        log.cleaner_checkpoint = log.checkpointed_cleaner_offset();
        log.load_txn_indexes()?;
        log.load_producer_state(snapshots, now_ms)?;
        log.load_epoch_cache()?;
        log.load_checkpointed_high_watermark();
        tracing::debug!(
            dir = %log.dir.display(),
            segments = log.segments.len(),
            log_start_offset = log.log_start_offset,
            log_end_offset = log.log_end_offset,
            "log loaded"
        );
        Ok(log)
    }

    /// The first dirty offset the directory's `cleaner-offset-checkpoint` gives, if it lies
    /// in [log start offset, log end offset]; else nothing is cleaned (the log start
    /// offset). An entry outside cannot describe this log (a crash lost a tail, the log was
    /// recreated, or retention passed it) and the cleaner would ignore it anyway.
    fn checkpointed_cleaner_offset(&self) -> i64 {
        let entry = match (&self.cleaner_offsets, self.topic_partition()) {
            (Some(checkpoint), Some(tp)) => checkpoint.get(&tp),
            _ => None,
        };
        match entry {
            Some(offset) if (self.log_start_offset..=self.log_end_offset).contains(&offset) => {
                offset
            }
            Some(offset) => {
                tracing::info!(
                    dir = %self.dir.display(),
                    cleaner_checkpoint = offset,
                    log_start_offset = self.log_start_offset,
                    log_end_offset = self.log_end_offset,
                    "the cleaner checkpoint is outside the log; the whole log is dirty"
                );
                self.log_start_offset
            }
            None => self.log_start_offset,
        }
    }

    fn remove(&self, path: &Path, why: &str) -> Result<(), LogError> {
        tracing::info!(file = %path.display(), "removing {why}");
        match self.fs.remove_file(path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(LogError::io(path, e)),
            _ => Ok(()),
        }
    }

    /// Handles leftovers and returns the base offsets of the segments to open and the
    /// offsets of the producer state snapshots.
    fn clean_directory(&self) -> Result<(Vec<i64>, BTreeSet<i64>), LogError> {
        let entries = self
            .fs
            .read_dir(&self.dir)
            .map_err(|e| LogError::io(&self.dir, e))?;
        let mut logs = BTreeSet::new();
        let mut indexes: BTreeMap<i64, Vec<PathBuf>> = BTreeMap::new();
        let mut swaps = Vec::new();
        let mut snapshots = BTreeSet::new();
        for entry in entries {
            let path = self.dir.join(&entry.name);
            if entry.is_dir {
                tracing::warn!(path = %path.display(), "skipping a directory inside a partition directory");
                continue;
            }
            match parse_segment_file_name(&entry.name) {
                Some((_, FileKind::KafkaOther, _)) => {}
                Some((_, _, Leftover::Deleted)) => {
                    self.remove(&path, "a file left scheduled for deletion")?
                }
                Some((_, _, Leftover::Cleaned)) => {
                    self.remove(&path, "output of an unfinished compaction")?
                }
                Some((base, FileKind::Log, Leftover::Swap)) => swaps.push(base),
                Some((offset, FileKind::ProducerSnapshot, Leftover::None)) => {
                    snapshots.insert(offset);
                }
                Some((_, FileKind::ProducerSnapshot, _)) => {
                    self.remove(&path, "a producer snapshot left by a segment operation")?
                }
                Some((_, _, Leftover::Swap)) => {
                    self.remove(&path, "a swap index (it is rebuilt)")?
                }
                Some((base, FileKind::Log, Leftover::None)) => {
                    logs.insert(base);
                }
                Some((base, _, Leftover::None)) => indexes.entry(base).or_default().push(path),
                None if entry.name.ends_with(TMP_FILE_SUFFIX) => {
                    self.remove(&path, "a temporary file of an interrupted write")?
                }
                None if KNOWN_OTHER_FILES.contains(&entry.name.as_str()) => {}
                None => {
                    tracing::warn!(file = %path.display(), "skipping a file whose name is not a segment file name")
                }
            }
        }
        swaps.sort_unstable();
        for base in swaps {
            self.complete_swap(base, &mut logs)?;
            indexes.remove(&base);
        }
        for (base, paths) in indexes {
            if !logs.contains(&base) {
                for path in paths {
                    self.remove(&path, "an index without its segment")?;
                }
            }
        }
        Ok((logs.into_iter().collect(), snapshots))
    }

    /// Replaces the segments a compaction output covers with it.
    fn complete_swap(&self, base: i64, logs: &mut BTreeSet<i64>) -> Result<(), LogError> {
        let swap_path = segment_path(
            &self.dir,
            base,
            &format!("{LOG_FILE_SUFFIX}{SWAP_FILE_SUFFIX}"),
        );
        let final_path = segment_path(&self.dir, base, LOG_FILE_SUFFIX);
        let file = self
            .fs
            .open(&swap_path)
            .map_err(|e| LogError::io(&swap_path, e))?;
        let next_offset = crate::segment::scan_next_offset(file.as_ref(), &swap_path, base)?;
        let covered: Vec<i64> = logs
            .range(base..next_offset.max(base + 1))
            .copied()
            .collect();
        for old in covered {
            for suffix in [LOG_FILE_SUFFIX, INDEX_FILE_SUFFIX, TIME_INDEX_FILE_SUFFIX] {
                self.remove(
                    &segment_path(&self.dir, old, suffix),
                    "a segment replaced by a compaction swap file",
                )?;
            }
            logs.remove(&old);
        }
        self.fs
            .rename(&swap_path, &final_path)
            .map_err(|e| LogError::io(&swap_path, e))?;
        self.fs
            .sync_dir(&self.dir)
            .map_err(|e| LogError::io(&self.dir, e))?;
        tracing::info!(file = %final_path.display(), next_offset, "completed an interrupted segment swap");
        logs.insert(base);
        Ok(())
    }

    fn load_segments(&mut self, bases: &[i64], recover: bool, now_ms: i64) -> Result<(), LogError> {
        for (i, &base) in bases.iter().enumerate() {
            let next_base = bases.get(i + 1).copied();
            let jitter = self.roll_jitter_ms(base);
            let (mut segment, problem) = LogSegment::open(
                self.fs.as_ref(),
                &self.dir,
                base,
                &self.config,
                now_ms,
                jitter,
            )?;
            let is_active = next_base.is_none();
            let problem = match (problem, next_base) {
                (Some(p), _) => Some(p),
                (None, Some(next)) => segment.check_inactive(next),
                (None, None) if recover => None,
                (None, None) => segment.load_active_tail()?,
            };
            let mut cut = 0;
            if is_active && recover {
                cut = segment.recover(None)?;
            } else if let Some(problem) = problem {
                tracing::warn!(file = %segment.log_path().display(), %problem, "rebuilding the indexes of a segment");
                cut = segment.recover(next_base)?;
            }
            self.segments.push(segment);
            if cut > 0 && !is_active {
                self.delete_segments_after(bases, i)?;
                break;
            }
        }
        Ok(())
    }

    /// Deletes every segment after `bases[i]` (its tail was cut by recovery).
    fn delete_segments_after(&self, bases: &[i64], i: usize) -> Result<(), LogError> {
        for &base in &bases[i + 1..] {
            for suffix in [LOG_FILE_SUFFIX, INDEX_FILE_SUFFIX, TIME_INDEX_FILE_SUFFIX] {
                let path = segment_path(&self.dir, base, suffix);
                if self.fs.exists(&path).map_err(|e| LogError::io(&path, e))? {
                    tracing::warn!(file = %path.display(), "deleting a segment that follows a segment cut by recovery");
                    self.fs
                        .remove_file(&path)
                        .map_err(|e| LogError::io(&path, e))?;
                }
            }
        }
        self.fs
            .sync_dir(&self.dir)
            .map_err(|e| LogError::io(&self.dir, e))
    }
}
