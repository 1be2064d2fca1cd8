//! [`HandleCache`]: a bound on the file handles a broker's logs hold open.
//!
//! Each segment has three files (`.log`, `.index`, `.timeindex`). Holding them open for
//! every segment of every partition makes the handle count follow the partition count
//! (5,000 partitions: 15,000 handles, past the common `ulimit -n 1024`), whatever the
//! traffic. Kafka memory-maps indexes and keeps every segment open; we do not: the
//! [`LogManager`](crate::LogManager) wraps its file system in a [`CachingFileSystem`],
//! whose files ([`CachedFile`]) open their real handle on first use and give it back when
//! the cache needs room, so handles follow activity.
//!
//! Eviction is CLOCK (second chance), an approximation of least-recently-used whose hit
//! path touches no shared state: a use of an open file locks only that file's slot (an
//! uncontended mutex, no syscall, no allocation) and sets its `referenced` bit. Only an
//! open takes the cache lock, registers the file on the clock, and, when more than
//! `capacity` files are open, sweeps the hand: files used since the last sweep lose
//! their bit and stay; the first one not used is closed.
//!
//! Closing a handle loses nothing: writes went to the kernel already, a later fsync
//! through a new handle makes them durable (fsync is per inode), and since Linux 4.16 a
//! writeback error nobody has seen is reported to the next fsync even through a handle
//! opened after the error. An operation in flight keeps its handle (an `Arc`) until it
//! ends, so the bound can be passed by the number of concurrent operations, never more.
//!
//! When an open fails with EMFILE/ENFILE (other parts of the process hold handles too),
//! the cache closes half of its files and tries once more before reporting the error.

use std::io::{self, IoSlice};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use crate::fs::{DirEntry, FileSystem, SegmentFile};

/// Linux's EMFILE (per-process limit) and ENFILE (system-wide limit).
const EMFILE: i32 = 24;
const ENFILE: i32 = 23;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The open files of a [`CachingFileSystem`], at most `capacity` of them (see the module
/// docs).
#[derive(Debug)]
pub struct HandleCache {
    capacity: usize,
    clock: Mutex<Clock>,
    opens: AtomicU64,
    evictions: AtomicU64,
}

/// Files holding a real handle, in clock order. A file dropped while open leaves a dead
/// entry (its handle is closed by the drop); sweeps remove those first, so the ring
/// never holds more than `capacity + 1` entries.
#[derive(Debug, Default)]
struct Clock {
    ring: Vec<Weak<CachedFile>>,
    hand: usize,
}

impl HandleCache {
    /// A cache that keeps at most `capacity` files open (at least 1).
    pub fn new(capacity: usize) -> Arc<HandleCache> {
        Arc::new(HandleCache {
            capacity: capacity.max(1),
            clock: Mutex::new(Clock::default()),
            opens: AtomicU64::new(0),
            evictions: AtomicU64::new(0),
        })
    }

    /// The bound.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Files holding a handle now.
    pub fn open_files(&self) -> usize {
        lock(&self.clock)
            .ring
            .iter()
            .filter(|f| f.strong_count() > 0)
            .count()
    }

    /// Handles opened so far (first opens and re-opens after eviction).
    pub fn opens(&self) -> u64 {
        self.opens.load(Ordering::Relaxed)
    }

    /// Handles closed to make room so far.
    pub fn evictions(&self) -> u64 {
        self.evictions.load(Ordering::Relaxed)
    }

    /// Puts `file`, which just got its handle, on the clock and closes others while more
    /// than `capacity` are open.
    fn register(&self, file: &Arc<CachedFile>) {
        self.opens.fetch_add(1, Ordering::Relaxed);
        let mut victims = Vec::new();
        {
            let mut clock = lock(&self.clock);
            clock.ring.push(Arc::downgrade(file));
            self.sweep(&mut clock, self.capacity, Some(file), &mut victims);
        }
        // Dropped outside the clock lock: the last reference to a file may go here.
        drop(victims);
    }

    /// Closes files until at most `target` are open, never `keep` (the file being
    /// opened). Gives up after two full turns (every other file busy in an operation).
    /// Upgraded files go to `victims`, to be dropped after the clock lock is released.
    fn sweep(
        &self,
        clock: &mut Clock,
        target: usize,
        keep: Option<&Arc<CachedFile>>,
        victims: &mut Vec<Arc<CachedFile>>,
    ) {
        let mut budget = clock.ring.len() * 2 + 1;
        while clock.ring.len() > target && budget > 0 {
            budget -= 1;
            if clock.hand >= clock.ring.len() {
                clock.hand = 0;
            }
            let hand = clock.hand;
            let Some(file) = clock.ring[hand].upgrade() else {
                clock.ring.swap_remove(hand);
                continue;
            };
            if keep.is_some_and(|k| Arc::ptr_eq(k, &file))
                || file.referenced.swap(false, Ordering::Relaxed)
            {
                clock.hand += 1;
                victims.push(file);
                continue;
            }
            // Never wait for a file under the clock lock: a busy file is in use anyway.
            if let Ok(mut handle) = file.handle.try_lock() {
                *handle = None;
                drop(handle);
                clock.ring.swap_remove(hand);
                self.evictions.fetch_add(1, Ordering::Relaxed);
            } else {
                clock.hand += 1;
            }
            victims.push(file);
        }
    }

    /// Closes files until one more can open without passing `capacity`: called before an
    /// open, so the bound holds at every moment, not only after the open.
    fn make_room(&self) {
        let mut victims = Vec::new();
        {
            let mut clock = lock(&self.clock);
            self.sweep(&mut clock, self.capacity - 1, None, &mut victims);
        }
        drop(victims);
    }

    /// Closes about half of the open files, after the process ran out of handles.
    fn shed(&self) {
        let mut victims = Vec::new();
        {
            let mut clock = lock(&self.clock);
            let target = clock.ring.len() / 2;
            self.sweep(&mut clock, target, None, &mut victims);
        }
        drop(victims);
    }
}

/// A [`FileSystem`] whose files hold their handle only while the [`HandleCache`] keeps
/// them (see the module docs). Everything else passes through.
#[derive(Debug)]
pub struct CachingFileSystem {
    inner: Arc<dyn FileSystem>,
    cache: Arc<HandleCache>,
}

impl CachingFileSystem {
    /// Wraps `inner`, keeping at most `capacity` files open.
    pub fn new(inner: Arc<dyn FileSystem>, capacity: usize) -> Arc<CachingFileSystem> {
        Arc::new(CachingFileSystem {
            inner,
            cache: HandleCache::new(capacity),
        })
    }

    /// The cache, for its counters.
    pub fn cache(&self) -> &Arc<HandleCache> {
        &self.cache
    }

    fn wrap(&self, path: &Path, handle: Arc<dyn SegmentFile>) -> Arc<dyn SegmentFile> {
        let file = Arc::new(CachedFile {
            path: path.to_path_buf(),
            fs: Arc::clone(&self.inner),
            cache: Arc::clone(&self.cache),
            handle: Mutex::new(Some(handle)),
            referenced: AtomicBool::new(true),
        });
        self.cache.register(&file);
        Arc::new(CachedFileRef(file))
    }
}

/// Makes room, runs `open`, and once more after shedding half the cache if the process
/// is out of handles.
fn open_retrying(
    cache: &HandleCache,
    open: impl Fn() -> io::Result<Arc<dyn SegmentFile>>,
) -> io::Result<Arc<dyn SegmentFile>> {
    cache.make_room();
    match open() {
        Err(e) if matches!(e.raw_os_error(), Some(EMFILE | ENFILE)) => {
            tracing::warn!(
                open = cache.open_files(),
                capacity = cache.capacity,
                "out of file handles; closing idle segment files (raise the open files limit or lower strom.log.open.files.max)"
            );
            cache.shed();
            open()
        }
        other => other,
    }
}

impl FileSystem for CachingFileSystem {
    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        self.inner.create_dir_all(path)
    }

    fn read_dir(&self, path: &Path) -> io::Result<Vec<DirEntry>> {
        self.inner.read_dir(path)
    }

    fn open(&self, path: &Path) -> io::Result<Arc<dyn SegmentFile>> {
        let handle = open_retrying(&self.cache, || self.inner.open(path))?;
        Ok(self.wrap(path, handle))
    }

    fn create(&self, path: &Path) -> io::Result<Arc<dyn SegmentFile>> {
        let handle = open_retrying(&self.cache, || self.inner.create(path))?;
        Ok(self.wrap(path, handle))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.inner.rename(from, to)
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        self.inner.remove_file(path)
    }

    fn remove_dir_all(&self, path: &Path) -> io::Result<()> {
        self.inner.remove_dir_all(path)
    }

    fn exists(&self, path: &Path) -> io::Result<bool> {
        self.inner.exists(path)
    }

    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        self.inner.sync_dir(path)
    }

    fn read_file(&self, path: &Path) -> io::Result<Vec<u8>> {
        // Whole small files (checkpoints, meta.properties) need no cache entry.
        self.inner.read_file(path)
    }

    fn write_file_atomic(&self, path: &Path, data: &[u8]) -> io::Result<()> {
        self.inner.write_file_atomic(path, data)
    }
}

/// A file of a [`CachingFileSystem`]: opened again (never created again) when used after
/// the cache closed it. Its path must stay valid while it may be used: a segment file is
/// renamed only on its way out (retention, compaction), and is opened anew under its new
/// name if it is used again.
#[derive(Debug)]
struct CachedFile {
    path: PathBuf,
    fs: Arc<dyn FileSystem>,
    cache: Arc<HandleCache>,
    handle: Mutex<Option<Arc<dyn SegmentFile>>>,
    /// Used since the clock hand last passed.
    referenced: AtomicBool,
}

impl CachedFile {
    /// The real handle, opening it if the cache closed it. Holding this file's lock
    /// while opening makes concurrent users of a closed file share one open.
    fn handle(self: &Arc<Self>) -> io::Result<Arc<dyn SegmentFile>> {
        self.referenced.store(true, Ordering::Relaxed);
        let mut slot = lock(&self.handle);
        if let Some(handle) = slot.as_ref() {
            return Ok(Arc::clone(handle));
        }
        let handle = open_retrying(&self.cache, || self.fs.open(&self.path))?;
        *slot = Some(Arc::clone(&handle));
        drop(slot);
        self.cache.register(self);
        Ok(handle)
    }
}

/// What [`CachingFileSystem`] hands out. The clock holds weak references to the
/// [`CachedFile`] inside; dropping this closes the handle.
#[derive(Debug)]
struct CachedFileRef(Arc<CachedFile>);

impl SegmentFile for CachedFileRef {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        self.0.handle()?.read_at(buf, offset)
    }

    fn append(&self, bufs: &[IoSlice<'_>]) -> io::Result<()> {
        self.0.handle()?.append(bufs)
    }

    fn sync_data(&self) -> io::Result<()> {
        self.0.handle()?.sync_data()
    }

    fn len(&self) -> io::Result<u64> {
        self.0.handle()?.len()
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        self.0.handle()?.set_len(len)
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        // One handle for the whole loop.
        self.0.handle()?.read_exact_at(buf, offset)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::atomic::AtomicI64;

    use strom_records::Compression;

    use super::*;
    use crate::test_support::{all_records, batch};
    use crate::{
        BrokerIdentity, FaultyFileSystem, LogConfig, LogManager, LogManagerOptions, TopicPartition,
    };

    /// Counts the real handles alive (opened and not yet dropped) and every open, and can
    /// refuse opens with EMFILE past a limit, as a process at its `ulimit -n` does.
    #[derive(Debug)]
    struct CountingFileSystem {
        inner: Arc<dyn FileSystem>,
        live: Arc<AtomicI64>,
        max_live: Arc<AtomicI64>,
        opens: AtomicU64,
        emfile_at: Option<i64>,
        /// fsyncs of `.log`, `.index` and `.timeindex` files.
        segment_syncs: Arc<AtomicU64>,
        /// Handles of segment files alive now, and at most (other files, such as producer
        /// snapshots written whole, do not go through the cache).
        live_segments: Arc<AtomicI64>,
        max_live_segments: Arc<AtomicI64>,
    }

    #[derive(Debug)]
    struct CountedFile {
        inner: Arc<dyn SegmentFile>,
        live: Arc<AtomicI64>,
        is_segment_file: bool,
        segment_syncs: Arc<AtomicU64>,
        live_segments: Arc<AtomicI64>,
    }

    impl Drop for CountedFile {
        fn drop(&mut self) {
            self.live.fetch_sub(1, Ordering::SeqCst);
            if self.is_segment_file {
                self.live_segments.fetch_sub(1, Ordering::SeqCst);
            }
        }
    }

    impl SegmentFile for CountedFile {
        fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
            self.inner.read_at(buf, offset)
        }
        fn append(&self, bufs: &[IoSlice<'_>]) -> io::Result<()> {
            self.inner.append(bufs)
        }
        fn sync_data(&self) -> io::Result<()> {
            if self.is_segment_file {
                self.segment_syncs.fetch_add(1, Ordering::SeqCst);
            }
            self.inner.sync_data()
        }
        fn len(&self) -> io::Result<u64> {
            self.inner.len()
        }
        fn set_len(&self, len: u64) -> io::Result<()> {
            self.inner.set_len(len)
        }
    }

    impl CountingFileSystem {
        fn new(inner: Arc<dyn FileSystem>, emfile_at: Option<i64>) -> Arc<CountingFileSystem> {
            Arc::new(CountingFileSystem {
                inner,
                live: Arc::new(AtomicI64::new(0)),
                max_live: Arc::new(AtomicI64::new(0)),
                opens: AtomicU64::new(0),
                emfile_at,
                segment_syncs: Arc::new(AtomicU64::new(0)),
                live_segments: Arc::new(AtomicI64::new(0)),
                max_live_segments: Arc::new(AtomicI64::new(0)),
            })
        }

        fn live(&self) -> i64 {
            self.live.load(Ordering::SeqCst)
        }

        fn max_live(&self) -> i64 {
            self.max_live.load(Ordering::SeqCst)
        }

        fn opens(&self) -> u64 {
            self.opens.load(Ordering::SeqCst)
        }

        fn live_segments(&self) -> i64 {
            self.live_segments.load(Ordering::SeqCst)
        }

        fn max_live_segments(&self) -> i64 {
            self.max_live_segments.load(Ordering::SeqCst)
        }

        fn segment_syncs(&self) -> u64 {
            self.segment_syncs.load(Ordering::SeqCst)
        }

        fn count(
            &self,
            path: &Path,
            file: io::Result<Arc<dyn SegmentFile>>,
        ) -> io::Result<Arc<dyn SegmentFile>> {
            let inner = file?;
            let name = path.to_string_lossy();
            let is_segment_file = [".log", ".index", ".timeindex"]
                .iter()
                .any(|suffix| name.ends_with(suffix));
            self.opens.fetch_add(1, Ordering::SeqCst);
            let live = self.live.fetch_add(1, Ordering::SeqCst) + 1;
            self.max_live.fetch_max(live, Ordering::SeqCst);
            if is_segment_file {
                let live = self.live_segments.fetch_add(1, Ordering::SeqCst) + 1;
                self.max_live_segments.fetch_max(live, Ordering::SeqCst);
            }
            Ok(Arc::new(CountedFile {
                inner,
                live: Arc::clone(&self.live),
                is_segment_file,
                segment_syncs: Arc::clone(&self.segment_syncs),
                live_segments: Arc::clone(&self.live_segments),
            }))
        }

        fn check_limit(&self) -> io::Result<()> {
            match self.emfile_at {
                Some(limit) if self.live() >= limit => Err(io::Error::from_raw_os_error(EMFILE)),
                _ => Ok(()),
            }
        }
    }

    impl FileSystem for CountingFileSystem {
        fn create_dir_all(&self, path: &Path) -> io::Result<()> {
            self.inner.create_dir_all(path)
        }
        fn read_dir(&self, path: &Path) -> io::Result<Vec<DirEntry>> {
            self.inner.read_dir(path)
        }
        fn open(&self, path: &Path) -> io::Result<Arc<dyn SegmentFile>> {
            self.check_limit()?;
            self.count(path, self.inner.open(path))
        }
        fn create(&self, path: &Path) -> io::Result<Arc<dyn SegmentFile>> {
            self.check_limit()?;
            self.count(path, self.inner.create(path))
        }
        fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
            self.inner.rename(from, to)
        }
        fn remove_file(&self, path: &Path) -> io::Result<()> {
            self.inner.remove_file(path)
        }
        fn remove_dir_all(&self, path: &Path) -> io::Result<()> {
            self.inner.remove_dir_all(path)
        }
        fn exists(&self, path: &Path) -> io::Result<bool> {
            self.inner.exists(path)
        }
        fn sync_dir(&self, path: &Path) -> io::Result<()> {
            self.inner.sync_dir(path)
        }
    }

    fn identity() -> BrokerIdentity {
        BrokerIdentity {
            node_id: 1,
            cluster_id: "4L6g3nShT-eMCtK--X86sw".into(),
        }
    }

    /// Small segments, so every partition has several.
    fn small_segments() -> LogConfig {
        LogConfig {
            segment_bytes: 400,
            index_interval_bytes: 1,
            ..LogConfig::default()
        }
    }

    #[test]
    fn many_partitions_with_many_segments_never_hold_more_handles_than_the_cache_allows() {
        let faulty = FaultyFileSystem::new();
        let counting = CountingFileSystem::new(faulty.shared(), None);
        let loaded = LogManager::open_with(
            counting.clone(),
            vec![PathBuf::from("/d")],
            &identity(),
            &|_| small_segments(),
            0,
            LogManagerOptions {
                max_open_files: 8,
                recovery_threads_per_data_dir: 2,
            },
        )
        .unwrap();
        let manager = loaded.manager;
        let mut logs = BTreeMap::new();
        for p in 0..40 {
            let tp = TopicPartition::new("t".to_string(), p);
            logs.insert(
                tp.clone(),
                manager.create_log(&tp, small_segments(), 0).unwrap(),
            );
        }
        // Every partition gets appends in turn, so each append may find its file closed.
        for round in 0..20u32 {
            for log in logs.values_mut() {
                log.append(
                    batch(Compression::None, 2, 1_000 + i64::from(round), round),
                    1,
                )
                .unwrap();
                assert!(
                    counting.live_segments() <= 8,
                    "{} handles open",
                    counting.live_segments()
                );
            }
        }
        assert!(
            counting.max_live_segments() <= 8,
            "peak of {} handles",
            counting.max_live_segments()
        );
        let segments: usize = logs.values().map(|l| l.segment_count()).sum();
        assert!(segments >= 40 * 4, "only {segments} segments");
        // Reads reopen the closed files of old segments and see every record.
        for log in logs.values() {
            let records = all_records(log);
            assert_eq!(records.len(), 40);
            assert_eq!(records[0], (0, "v0-0".to_string()));
            assert_eq!(records[39], (39, "v19-1".to_string()));
        }
        assert!(
            counting.max_live_segments() <= 8,
            "peak of {} handles",
            counting.max_live_segments()
        );
        assert!(manager.handle_cache().evictions() > 0);
        assert_eq!(manager.handle_cache().capacity(), 8);
        // A clean shutdown and a restart with a smaller cache read the same records.
        manager
            .shutdown(std::mem::take(&mut logs).into_values())
            .unwrap();
        assert_eq!(
            counting.live_segments(),
            0,
            "handles left open after shutdown"
        );
        let loaded = LogManager::open_with(
            counting.clone(),
            vec![PathBuf::from("/d")],
            &identity(),
            &|_| small_segments(),
            0,
            LogManagerOptions {
                max_open_files: 3,
                recovery_threads_per_data_dir: 2,
            },
        )
        .unwrap();
        assert_eq!(loaded.logs.len(), 40);
        assert!(
            counting.live_segments() <= 3,
            "{} handles open after loading",
            counting.live_segments()
        );
        for log in loaded.logs.values() {
            assert_eq!(all_records(log).len(), 40);
            assert_eq!(log.log_end_offset(), 40);
        }
        assert!(counting.live_segments() <= 3);
    }

    #[test]
    fn a_clean_shutdown_fsyncs_only_the_logs_that_were_written() {
        let faulty = FaultyFileSystem::new();
        let counting = CountingFileSystem::new(faulty.shared(), None);
        let open = || {
            LogManager::open(
                counting.clone(),
                vec![PathBuf::from("/d")],
                &identity(),
                &|_| LogConfig::default(),
                0,
            )
            .unwrap()
        };
        let loaded = open();
        let mut logs = Vec::new();
        for p in 0..50 {
            let tp = TopicPartition::new("idle".to_string(), p);
            logs.push(
                loaded
                    .manager
                    .create_log(&tp, LogConfig::default(), 0)
                    .unwrap(),
            );
        }
        logs[7]
            .append(batch(Compression::None, 3, 1_000, 0), 1)
            .unwrap();
        let before = counting.segment_syncs();
        loaded.manager.shutdown(logs).unwrap();
        // The written log's three segment files; the 49 idle logs' cost nothing (147
        // fsyncs more before).
        assert_eq!(counting.segment_syncs() - before, 3);
        // The next start trusts the clean shutdown and finds the records.
        let again = open();
        let tp = TopicPartition::new("idle".to_string(), 7);
        assert_eq!(again.logs[&tp].log_end_offset(), 3);
        assert_eq!(all_records(&again.logs[&tp]).len(), 3);
        // Dropped without a shutdown: the next start recovers every log, and only the one
        // with data is synced: after recovery, and at close for its final time index
        // entry. Recovering the 49 empty logs writes nothing.
        drop(again);
        let before = counting.segment_syncs();
        let recovered = open();
        assert_eq!(counting.segment_syncs() - before, 3);
        let logs: Vec<_> = recovered.logs.into_values().collect();
        recovered.manager.shutdown(logs).unwrap();
        assert_eq!(counting.segment_syncs() - before, 3 + 3);
    }

    #[test]
    fn an_evicted_file_reopens_with_its_data_and_appends_go_on_at_its_end() {
        let faulty = FaultyFileSystem::new();
        let counting = CountingFileSystem::new(faulty.shared(), None);
        let fs = CachingFileSystem::new(counting.clone(), 1);
        fs.create_dir_all(Path::new("/p")).unwrap();
        let a = fs.create(Path::new("/p/a")).unwrap();
        a.append(&[IoSlice::new(b"hello")]).unwrap();
        let b = fs.create(Path::new("/p/b")).unwrap();
        // Opening b closed a: one handle at a time.
        assert_eq!(counting.live(), 1);
        assert_eq!(fs.cache().evictions(), 1);
        let mut buf = [0u8; 5];
        a.read_exact_at(&mut buf, 0).unwrap();
        assert_eq!(&buf, b"hello");
        assert_eq!(counting.live(), 1);
        // Reopened, not re-created: the data stays, and appends go after it.
        a.append(&[IoSlice::new(b" world")]).unwrap();
        a.sync_data().unwrap();
        b.append(&[IoSlice::new(b"b")]).unwrap();
        assert_eq!(faulty.contents(Path::new("/p/a")).unwrap(), b"hello world");
        assert_eq!(a.len().unwrap(), 11);
        assert_eq!(counting.opens(), 2 + 3);
        drop(a);
        drop(b);
        assert_eq!(counting.live(), 0);
        assert_eq!(fs.cache().open_files(), 0);
    }

    #[test]
    fn using_an_open_file_opens_nothing() {
        let faulty = FaultyFileSystem::new();
        let counting = CountingFileSystem::new(faulty.shared(), None);
        let fs = CachingFileSystem::new(counting.clone(), 4);
        fs.create_dir_all(Path::new("/p")).unwrap();
        let a = fs.create(Path::new("/p/a")).unwrap();
        for _ in 0..1000 {
            a.append(&[IoSlice::new(b"x")]).unwrap();
        }
        assert_eq!(a.len().unwrap(), 1000);
        assert_eq!((counting.opens(), fs.cache().opens()), (1, 1));
    }

    #[test]
    fn files_used_since_the_last_sweep_stay_open_and_an_idle_one_closes() {
        let faulty = FaultyFileSystem::new();
        let fs = CachingFileSystem::new(faulty.shared(), 3);
        fs.create_dir_all(Path::new("/p")).unwrap();
        let files: Vec<_> = (0..3)
            .map(|i| fs.create(&PathBuf::from(format!("/p/{i}"))).unwrap())
            .collect();
        // Every file is fresh: the sweep for a fourth clears their bits and closes the
        // oldest, 0.
        let hot = fs.create(Path::new("/p/hot")).unwrap();
        assert_eq!(fs.cache().evictions(), 1);
        // 1 is used again, 2 is not: a fifth file closes 2.
        files[1].append(&[IoSlice::new(b"1")]).unwrap();
        let _new = fs.create(Path::new("/p/new")).unwrap();
        assert_eq!(fs.cache().open_files(), 3);
        let opens = fs.cache().opens();
        files[1].len().unwrap();
        hot.len().unwrap();
        assert_eq!(fs.cache().opens(), opens, "1 and hot should still be open");
        files[2].len().unwrap();
        assert_eq!(fs.cache().opens(), opens + 1, "2 should have been closed");
    }

    #[test]
    fn running_out_of_handles_closes_idle_files_and_retries() {
        let faulty = FaultyFileSystem::new();
        // The process can hold 4 handles, the cache would allow 100.
        let counting = CountingFileSystem::new(faulty.shared(), Some(4));
        let fs = CachingFileSystem::new(counting.clone(), 100);
        fs.create_dir_all(Path::new("/p")).unwrap();
        let files: Vec<_> = (0..10)
            .map(|i| fs.create(&PathBuf::from(format!("/p/{i}"))).unwrap())
            .collect();
        for (i, f) in files.iter().enumerate() {
            f.append(&[IoSlice::new(&[i as u8])]).unwrap();
        }
        assert!(counting.max_live() <= 4);
        for (i, f) in files.iter().enumerate() {
            let mut b = [0u8; 1];
            f.read_exact_at(&mut b, 0).unwrap();
            assert_eq!(b[0], i as u8);
        }
    }
}
