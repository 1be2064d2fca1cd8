//! [`LogManager`]: the broker's log directories (`log.dirs`) and the partitions in them.
//!
//! Each directory holds `meta.properties` (its identity), one `<topic>-<partition>`
//! directory per partition, `log-start-offset-checkpoint` (log start offsets DeleteRecords
//! set) and `cleaner-offset-checkpoint` (where each log's last clean ended), see
//! `offset_checkpoint` (the manager loads them and shares them with the directory's logs,
//! which write them), and, after a clean shutdown, the marker `.kafka_cleanshutdown`.
//! The marker lets the next start skip recovery; it is removed once the directory's logs
//! are loaded, so a crash from then on leads to recovery again. Directories named
//! `*-delete` are deletions a crash interrupted and are finished at start-up.
//!
//! The manager does not own the logs: the broker's partitions do, each behind its own
//! lock. `open` hands them out, `shutdown` takes them back to close them.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::config::LogConfig;
use crate::error::LogError;
use crate::fs::FileSystem;
use crate::handle_cache::{CachingFileSystem, HandleCache};
use crate::log::Log;
use crate::meta_properties::{new_kafka_uuid, MetaProperties};
use crate::offset_checkpoint::DirCheckpoints;
use crate::topic_partition::TopicPartition;

/// Marker written after every log in a directory closed cleanly.
pub const CLEAN_SHUTDOWN_FILE: &str = ".kafka_cleanshutdown";
/// Suffix of a partition directory being deleted.
pub const DELETE_DIR_SUFFIX: &str = "-delete";
const FUTURE_DIR_SUFFIX: &str = "-future";
const STRAY_DIR_SUFFIX: &str = "-stray";

/// Who this broker is, checked against each directory's `meta.properties`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerIdentity {
    /// `node.id`.
    pub node_id: i32,
    /// `cluster.id`.
    pub cluster_id: String,
}

/// One online log directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogDir {
    /// Its path.
    pub path: PathBuf,
    /// Its `directory.id`.
    pub directory_id: String,
}

/// What [`LogManager::open`] found.
#[derive(Debug)]
pub struct LoadedLogs {
    /// The manager, for creating, deleting and finally closing logs.
    pub manager: LogManager,
    /// Every partition found, loaded.
    pub logs: BTreeMap<TopicPartition, Log>,
    /// Directories that failed to load, with why; their partitions are not in `logs`.
    pub offline_dirs: Vec<(PathBuf, LogError)>,
}

/// The log directories of one broker.
#[derive(Debug)]
pub struct LogManager {
    fs: Arc<dyn FileSystem>,
    dirs: Vec<LogDir>,
    /// Partitions per online directory, for placing new ones.
    partition_counts: Mutex<HashMap<PathBuf, usize>>,
    /// Each online directory's checkpoint files.
    checkpoints: HashMap<PathBuf, DirCheckpoints>,
    /// Directories that failed to load at start-up.
    offline_at_start: Vec<PathBuf>,
    /// The segment file handles of every log opened here.
    handles: Arc<HandleCache>,
}

/// Segment files [`LogManager::open`] keeps open at most.
pub const DEFAULT_MAX_OPEN_FILES: usize = 1024;

/// How a [`LogManager`] uses the machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogManagerOptions {
    /// Segment files (`.log`, `.index`, `.timeindex`) of all logs kept open at most
    /// (`strom.log.open.files.max`).
    pub max_open_files: usize,
    /// Threads loading (and recovering) the logs of each directory at start-up (Kafka's
    /// `num.recovery.threads.per.data.dir`, default 2).
    pub recovery_threads_per_data_dir: usize,
}

impl Default for LogManagerOptions {
    fn default() -> Self {
        LogManagerOptions {
            max_open_files: DEFAULT_MAX_OPEN_FILES,
            recovery_threads_per_data_dir: 2,
        }
    }
}

/// The directory of the cluster metadata log (`__cluster_metadata-0`), which shares
/// `log.dirs` with partitions but is owned by the controller.
pub const METADATA_LOG_DIR_NAME: &str = "__cluster_metadata-0";

fn clean_shutdown_path(dir: &Path) -> PathBuf {
    dir.join(CLEAN_SHUTDOWN_FILE)
}

impl LogManager {
    /// Opens every directory in `dirs`: checks or writes `meta.properties`, finishes
    /// interrupted deletions, and loads each partition with the config `config_for` gives
    /// its topic. A directory that fails to load is reported in
    /// [`LoadedLogs::offline_dirs`]; it is an error only if none loads, if a directory
    /// belongs to another node or cluster, or if a partition appears twice.
    ///
    /// With the default [`LogManagerOptions`]; see [`LogManager::open_with`].
    pub fn open(
        fs: Arc<dyn FileSystem>,
        dirs: Vec<PathBuf>,
        identity: &BrokerIdentity,
        config_for: &(dyn Fn(&TopicPartition) -> LogConfig + Sync),
        now_ms: i64,
    ) -> Result<LoadedLogs, LogError> {
        LogManager::open_with(
            fs,
            dirs,
            identity,
            config_for,
            now_ms,
            LogManagerOptions::default(),
        )
    }

    /// [`LogManager::open`] with every log's segment files (`.log`, `.index`,
    /// `.timeindex`) sharing one [`HandleCache`] of `options.max_open_files` handles
    /// (files open on use and close when idle, so handles follow activity, not the
    /// partition count), and each directory loaded by
    /// `options.recovery_threads_per_data_dir` threads.
    pub fn open_with(
        fs: Arc<dyn FileSystem>,
        dirs: Vec<PathBuf>,
        identity: &BrokerIdentity,
        config_for: &(dyn Fn(&TopicPartition) -> LogConfig + Sync),
        now_ms: i64,
        options: LogManagerOptions,
    ) -> Result<LoadedLogs, LogError> {
        let threads = options.recovery_threads_per_data_dir.max(1);
        let caching = CachingFileSystem::new(fs, options.max_open_files);
        let handles = Arc::clone(caching.cache());
        let fs: Arc<dyn FileSystem> = caching;
        let mut online = Vec::new();
        let mut offline_dirs = Vec::new();
        let mut logs: BTreeMap<TopicPartition, Log> = BTreeMap::new();
        let mut counts = HashMap::new();
        let mut checkpoints = HashMap::new();
        let mut seen_ids: HashMap<String, PathBuf> = HashMap::new();
        for dir in dirs {
            let meta = match prepare_dir(fs.as_ref(), &dir, identity) {
                Ok(meta) => meta,
                Err(e @ (LogError::NodeIdMismatch { .. } | LogError::ClusterIdMismatch { .. })) => {
                    return Err(e)
                }
                Err(e) => {
                    tracing::error!(dir = %dir.display(), error = %e, "log directory is offline");
                    offline_dirs.push((dir, e));
                    continue;
                }
            };
            let directory_id = meta.directory_id.clone().unwrap_or_default();
            if let Some(first) = seen_ids.insert(directory_id.clone(), dir.clone()) {
                return Err(LogError::DuplicateDirectoryId {
                    first,
                    second: dir,
                    id: directory_id,
                });
            }
            match load_dir(&fs, &dir, config_for, now_ms, threads) {
                Ok((checkpoint, loaded)) => {
                    counts.insert(dir.clone(), loaded.len());
                    checkpoints.insert(dir.clone(), checkpoint);
                    for (tp, log) in loaded {
                        if let Some(other) = logs.get(&tp) {
                            return Err(LogError::corrupt(
                                log.dir(),
                                0,
                                format!(
                                    "partition {tp} is also in {}; remove one copy",
                                    other.dir().display()
                                ),
                            ));
                        }
                        logs.insert(tp, log);
                    }
                    online.push(LogDir {
                        path: dir,
                        directory_id,
                    });
                }
                Err(e) => {
                    tracing::error!(dir = %dir.display(), error = %e, "log directory is offline");
                    offline_dirs.push((dir, e));
                }
            }
        }
        if online.is_empty() {
            let summary = if offline_dirs.is_empty() {
                "log.dirs is empty".to_string()
            } else {
                offline_dirs
                    .iter()
                    .map(|(d, e)| format!("{}: {e}", d.display()))
                    .collect::<Vec<_>>()
                    .join("; ")
            };
            return Err(LogError::NoLogDirs { summary });
        }
        Ok(LoadedLogs {
            manager: LogManager {
                fs,
                handles,
                dirs: online,
                partition_counts: Mutex::new(counts),
                checkpoints,
                offline_at_start: offline_dirs.iter().map(|(d, _)| d.clone()).collect(),
            },
            logs,
            offline_dirs,
        })
    }

    /// The segment file handle cache shared by the logs.
    pub fn handle_cache(&self) -> &Arc<HandleCache> {
        &self.handles
    }

    /// The log directories that loaded at start-up (see [`LogManager::dir_failed`] for
    /// those that failed since).
    pub fn log_dirs(&self) -> &[LogDir] {
        &self.dirs
    }

    /// Whether a storage error took `dir` offline since start-up.
    pub fn dir_failed(&self, dir: &Path) -> bool {
        self.checkpoints
            .get(dir)
            .is_some_and(|c| c.health.is_failed())
    }

    /// The directories that failed to load at start-up.
    pub fn offline_at_start(&self) -> &[PathBuf] {
        &self.offline_at_start
    }

    /// Whether any configured log directory is offline: failed to load at start-up, or
    /// failed since. While one is, a partition whose log is not found may be in it, and
    /// must not be created afresh elsewhere (its offsets would restart).
    pub fn any_dir_offline(&self) -> bool {
        !self.offline_at_start.is_empty() || self.dirs.iter().any(|d| self.dir_failed(&d.path))
    }

    fn counts(&self) -> std::sync::MutexGuard<'_, HashMap<PathBuf, usize>> {
        self.partition_counts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// Creates the log of a partition in the directory holding the fewest partitions, or
    /// opens it where it already exists.
    pub fn create_log(
        &self,
        tp: &TopicPartition,
        config: LogConfig,
        now_ms: i64,
    ) -> Result<Log, LogError> {
        let name = tp.dir_name();
        for dir in &self.dirs {
            let path = dir.path.join(&name);
            if self.fs.exists(&path).map_err(|e| LogError::io(&path, e))? {
                return self.open_log(dir, path, config, now_ms);
            }
        }
        let mut counts = self.counts();
        let dir = self
            .dirs
            .iter()
            .filter(|d| !self.dir_failed(&d.path))
            .min_by_key(|d| counts.get(&d.path).copied().unwrap_or(0))
            .ok_or_else(|| LogError::NoLogDirs {
                summary: "every log directory is offline".into(),
            })?;
        let log = self.open_log(dir, dir.path.join(&name), config, now_ms)?;
        self.fs
            .sync_dir(&dir.path)
            .map_err(|e| LogError::io(&dir.path, e))?;
        *counts.entry(dir.path.clone()).or_default() += 1;
        Ok(log)
    }

    fn open_log(
        &self,
        dir: &LogDir,
        path: PathBuf,
        config: LogConfig,
        now_ms: i64,
    ) -> Result<Log, LogError> {
        let checkpoint = self.checkpoints.get(&dir.path).cloned();
        Log::open_with_checkpoint(Arc::clone(&self.fs), path, config, true, now_ms, checkpoint)
    }

    /// Deletes a partition's log (and its log start offset and cleaner offset checkpoint
    /// entries).
    pub fn delete_log(&self, log: Log) -> Result<(), LogError> {
        let parent = log.dir().parent().map(Path::to_path_buf);
        log.delete()?;
        if let Some(parent) = parent {
            if let Some(n) = self.counts().get_mut(&parent) {
                *n = n.saturating_sub(1);
            }
        }
        Ok(())
    }

    /// Writes every online log directory's `replication-offset-checkpoint` with the high
    /// watermarks its logs recorded ([`Log::checkpoint_high_watermark`]) since the last
    /// write; a directory with no change is not written. Call it every
    /// `replica.high.watermark.checkpoint.interval.ms` (and [`LogManager::shutdown`] does
    /// at the end). A failed write takes that directory offline, as Kafka does; the
    /// others are still written, and the first error is returned.
    pub fn write_high_watermark_checkpoints(&self) -> Result<(), LogError> {
        let mut first_error = None;
        for dir in &self.dirs {
            let Some(checkpoints) = self.checkpoints.get(&dir.path) else {
                continue;
            };
            if checkpoints.health.is_failed() {
                continue;
            }
            if let Err(e) = checkpoints.high_watermark.write_staged() {
                tracing::error!(dir = %dir.path.display(), error = %e, "writing the high watermark checkpoint failed: the log directory goes offline");
                checkpoints.health.fail(e.to_string());
                first_error.get_or_insert(e);
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Closes every log, brings each directory's log start offset checkpoint up to date
    /// (one write per directory, with an entry for each log whose start is beyond its
    /// first segment, as Kafka writes it) and high watermark checkpoint (the high
    /// watermarks recorded since the last write) and, in each directory whose logs all closed and
    /// whose checkpoint was written, writes the clean shutdown marker. Returns the first
    /// error after trying every log.
    pub fn shutdown(self, logs: impl IntoIterator<Item = Log>) -> Result<(), LogError> {
        let mut failed_dirs = Vec::new();
        let mut first_error = None;
        let mut starts: HashMap<PathBuf, Vec<(TopicPartition, Option<i64>)>> = HashMap::new();
        for log in logs {
            let parent = log.dir().parent().map(Path::to_path_buf);
            if let (Some(parent), Some(tp)) = (&parent, log.topic_partition()) {
                let start = log.log_start_offset();
                let entry = (start > log.first_segment_base_offset()).then_some(start);
                starts.entry(parent.clone()).or_default().push((tp, entry));
            }
            if let Err(e) = log.close() {
                tracing::error!(error = %e, "closing a log failed; its directory will be recovered at the next start");
                failed_dirs.extend(parent);
                first_error.get_or_insert(e);
            }
        }
        for dir in &self.dirs {
            if let Some(checkpoint) = self.checkpoints.get(&dir.path) {
                if let Err(e) = checkpoint.high_watermark.write_staged() {
                    tracing::error!(error = %e, "writing the high watermark checkpoint failed; the directory will be recovered at the next start");
                    failed_dirs.push(dir.path.clone());
                    first_error.get_or_insert(e);
                }
            }
            if let (Some(checkpoint), Some(changes)) =
                (self.checkpoints.get(&dir.path), starts.get(&dir.path))
            {
                if let Err(e) = checkpoint.log_start.update(changes) {
                    tracing::error!(error = %e, "writing the log start offset checkpoint failed; the directory will be recovered at the next start");
                    failed_dirs.push(dir.path.clone());
                    first_error.get_or_insert(e);
                }
            }
            if failed_dirs.contains(&dir.path) {
                continue;
            }
            let marker = clean_shutdown_path(&dir.path);
            if let Err(e) = self
                .fs
                .write_file_atomic(&marker, b"{\"version\":0,\"brokerEpoch\":-1}")
            {
                first_error.get_or_insert(LogError::io(&marker, e));
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// Creates the directory if needed and checks or writes its `meta.properties`.
fn prepare_dir(
    fs: &dyn FileSystem,
    dir: &Path,
    identity: &BrokerIdentity,
) -> Result<MetaProperties, LogError> {
    fs.create_dir_all(dir).map_err(|e| LogError::io(dir, e))?;
    let path = MetaProperties::path_in(dir);
    let existing = if fs.exists(&path).map_err(|e| LogError::io(&path, e))? {
        let bytes = fs.read_file(&path).map_err(|e| LogError::io(&path, e))?;
        let text = String::from_utf8(bytes).map_err(|_| LogError::InvalidMetaProperties {
            path: path.clone(),
            reason: "not UTF-8 text".into(),
        })?;
        Some(MetaProperties::parse(&text, &path)?)
    } else {
        None
    };
    let meta = match existing {
        Some(meta) => {
            if meta.node_id != identity.node_id {
                return Err(LogError::NodeIdMismatch {
                    path,
                    found: meta.node_id,
                    expected: identity.node_id,
                });
            }
            if meta.cluster_id != identity.cluster_id {
                return Err(LogError::ClusterIdMismatch {
                    path,
                    found: meta.cluster_id,
                    expected: identity.cluster_id.clone(),
                });
            }
            if meta.directory_id.is_some() {
                return Ok(meta);
            }
            MetaProperties {
                directory_id: Some(new_kafka_uuid()),
                ..meta
            }
        }
        None => MetaProperties {
            version: 1,
            node_id: identity.node_id,
            cluster_id: identity.cluster_id.clone(),
            directory_id: Some(new_kafka_uuid()),
        },
    };
    fs.write_file_atomic(&path, meta.to_properties().as_bytes())
        .map_err(|e| LogError::io(&path, e))?;
    Ok(meta)
}

/// Loads the checkpoint files and every partition directory in `dir`.
fn load_dir(
    fs: &Arc<dyn FileSystem>,
    dir: &Path,
    config_for: &(dyn Fn(&TopicPartition) -> LogConfig + Sync),
    now_ms: i64,
    threads: usize,
) -> Result<(DirCheckpoints, Vec<(TopicPartition, Log)>), LogError> {
    let checkpoints = DirCheckpoints::load(fs, dir)?;
    let marker = clean_shutdown_path(dir);
    let clean = fs.exists(&marker).map_err(|e| LogError::io(&marker, e))?;
    let mut partitions = Vec::new();
    for entry in fs.read_dir(dir).map_err(|e| LogError::io(dir, e))? {
        let path = dir.join(&entry.name);
        if !entry.is_dir {
            continue;
        }
        if entry.name.ends_with(DELETE_DIR_SUFFIX) {
            tracing::info!(dir = %path.display(), "finishing an interrupted partition deletion");
            fs.remove_dir_all(&path)
                .map_err(|e| LogError::io(&path, e))?;
            continue;
        }
        if entry.name == METADATA_LOG_DIR_NAME {
            // The controller's Raft log lives here (as in Kafka's KRaft mode) in its own
            // format; it is not a partition of record batches.
            continue;
        }
        if entry.name.ends_with(FUTURE_DIR_SUFFIX) || entry.name.ends_with(STRAY_DIR_SUFFIX) {
            tracing::warn!(dir = %path.display(), "skipping a future or stray replica directory");
            continue;
        }
        match TopicPartition::from_dir_name(&entry.name) {
            Some(tp) => partitions.push((tp, path)),
            None => {
                tracing::warn!(dir = %path.display(), "skipping a directory whose name is not <topic>-<partition>")
            }
        }
    }
    partitions.sort();
    let total = partitions.len();
    let started = Instant::now();
    tracing::info!(dir = %dir.display(), partitions = total, recovery = !clean, threads, "loading logs");
    let step = (total / 10).max(1);
    let next = AtomicUsize::new(0);
    let loaded = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    // Each thread takes the next partition until none is left or one failed (the
    // directory goes offline then, so the rest need not load).
    let load_some = || -> Result<Vec<(usize, Log)>, LogError> {
        let mut mine = Vec::new();
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some((tp, path)) = partitions.get(i) else {
                return Ok(mine);
            };
            if failed.load(Ordering::Relaxed) {
                return Ok(mine);
            }
            let log = Log::open_with_checkpoint(
                Arc::clone(fs),
                path.clone(),
                config_for(tp),
                !clean,
                now_ms,
                Some(checkpoints.clone()),
            )
            .inspect_err(|_| failed.store(true, Ordering::Relaxed))?;
            mine.push((i, log));
            let done = loaded.fetch_add(1, Ordering::Relaxed) + 1;
            if done % step == 0 || done == total {
                tracing::info!(dir = %dir.display(), loaded = done, total, elapsed_ms = started.elapsed().as_millis() as u64, "loading logs");
            }
        }
    };
    let threads = threads.clamp(1, total.max(1));
    let results: Vec<Result<Vec<(usize, Log)>, LogError>> = if threads == 1 {
        vec![load_some()]
    } else {
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..threads).map(|_| scope.spawn(load_some)).collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        Err(LogError::corrupt(dir, 0, "a log loading thread panicked"))
                    })
                })
                .collect()
        })
    };
    let mut indexed = Vec::with_capacity(total);
    for result in results {
        indexed.extend(result?);
    }
    indexed.sort_unstable_by_key(|(i, _)| *i);
    let logs: Vec<(TopicPartition, Log)> = indexed
        .into_iter()
        .map(|(i, log)| (partitions[i].0.clone(), log))
        .collect();
    // Entries of partitions no longer here (deleted by hand, or by a Kafka that wrote the
    // file and then removed the directory): one would wrongly apply to a partition of the
    // same name created later.
    // A failed write of the log start file takes the directory offline (the file would
    // keep an entry that must not apply); of the cleaner file it is only a warning (a
    // stale cleaner entry is clamped into the log, and at worst skips deduplicating
    // records below it against each other once).
    let present: Vec<TopicPartition> = logs.iter().map(|(tp, _)| tp.clone()).collect();
    let dropped = checkpoints.log_start.retain_only(&present)?;
    if dropped > 0 {
        tracing::info!(dir = %dir.display(), partitions = dropped, "dropped log start offset checkpoint entries of partitions not in the directory");
    }
    match checkpoints.cleaner.retain_only(&present) {
        Ok(0) => {}
        Ok(dropped) => {
            tracing::info!(dir = %dir.display(), partitions = dropped, "dropped cleaner offset checkpoint entries of partitions not in the directory")
        }
        Err(e) => {
            tracing::warn!(dir = %dir.display(), error = %e, "could not drop cleaner offset checkpoint entries of partitions not in the directory")
        }
    }
    if clean {
        fs.remove_file(&marker)
            .map_err(|e| LogError::io(&marker, e))?;
        fs.sync_dir(dir).map_err(|e| LogError::io(dir, e))?;
    }
    Ok((checkpoints, logs))
}
