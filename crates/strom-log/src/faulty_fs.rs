//! [`FaultyFileSystem`]: an in-memory file system that models what survives a crash, for
//! crash tests here and in the broker (the redb `crash_consistency` approach).
//!
//! Model: every file has its current contents and its durable contents. `sync_data` makes
//! the current contents durable. Metadata operations (create, rename, remove, truncation by
//! `create`) are durable at once, as though every directory were fsynced. A crash rewrites
//! each file according to a [`CrashMode`] and invalidates every handle opened before it,
//! so a test cannot keep writing through a pre-crash handle by accident.
//!
//! Faults that do not need a crash: a write budget (ENOSPC after N more bytes, with the
//! write that crosses it partially applied, as a real short write), failing fsyncs,
//! failing renames or removals after N more succeed (to stop a multi-step operation such
//! as a segment deletion between any two steps), and direct edits of a file's durable
//! bytes (garbage, truncation) to test recovery.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, IoSlice};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::fs::{DirEntry, FileSystem, SegmentFile};

/// What unsynced data looks like after a simulated crash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrashMode {
    /// Every write not yet fsynced is lost.
    LoseUnsynced,
    /// Of each file's unsynced bytes (from the first byte that differs from the durable
    /// contents), the first `n` survive: a write torn at byte `n`.
    KeepUnsyncedPrefix(u64),
    /// The most recent write keeps only its first `keep_bytes` bytes (unless it was
    /// fsynced); every other write, synced or not, survives. Tears exactly the last write.
    TearLastWrite {
        /// Bytes of the last write that reach the disk.
        keep_bytes: u64,
    },
    /// Unsynced regions keep their length but read as zeros (file size updated, data
    /// blocks never written: what ext4 can show after a crash).
    ZeroUnsynced,
}

#[derive(Debug, Default)]
struct Inode {
    current: Vec<u8>,
    durable: Vec<u8>,
}

#[derive(Debug, Default)]
struct State {
    dirs: BTreeSet<PathBuf>,
    files: BTreeMap<PathBuf, usize>,
    inodes: Vec<Inode>,
    generation: u64,
    write_budget: Option<u64>,
    fail_sync: bool,
    sync_count: u64,
    /// Inode, start and length of the most recent append.
    last_write: Option<(usize, u64, u64)>,
    /// Renames that may still succeed; then they fail.
    rename_budget: Option<u64>,
    /// File removals that may still succeed; then they fail.
    remove_budget: Option<u64>,
}

/// Spends one unit of an operation budget, or fails the operation.
fn spend(budget: &mut Option<u64>, what: &str, path: &Path) -> io::Result<()> {
    match budget {
        Some(0) => Err(io::Error::other(format!(
            "{}: {what} failed (simulated EIO)",
            path.display()
        ))),
        Some(n) => {
            *n -= 1;
            Ok(())
        }
        None => Ok(()),
    }
}

impl State {
    fn parent_exists(&self, path: &Path) -> bool {
        match path.parent() {
            // The root always exists.
            Some(p) if !p.as_os_str().is_empty() && p.parent().is_some() => self.dirs.contains(p),
            _ => true,
        }
    }
}

fn not_found(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("{}: no such file or directory", path.display()),
    )
}

/// In-memory file system with injectable faults. Cloning shares the same files.
#[derive(Debug, Clone, Default)]
pub struct FaultyFileSystem {
    state: Arc<Mutex<State>>,
}

impl FaultyFileSystem {
    /// An empty file system.
    pub fn new() -> FaultyFileSystem {
        FaultyFileSystem::default()
    }

    /// This file system as the log's seam.
    pub fn shared(&self) -> Arc<dyn FileSystem> {
        Arc::new(self.clone())
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panicking test thread must not hide the state from the others.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Simulates a power loss: files are rewritten per `mode`, all handles go stale.
    pub fn crash(&self, mode: CrashMode) {
        let mut s = self.lock();
        let last_write = s.last_write.take();
        let live: BTreeSet<usize> = s.files.values().copied().collect();
        for (id, inode) in s.inodes.iter_mut().enumerate() {
            if !live.contains(&id) {
                *inode = Inode::default();
                continue;
            }
            let common = inode
                .current
                .iter()
                .zip(&inode.durable)
                .take_while(|(a, b)| a == b)
                .count();
            match mode {
                CrashMode::LoseUnsynced => inode.current = inode.durable.clone(),
                CrashMode::KeepUnsyncedPrefix(n) => {
                    let keep = (common as u64)
                        .saturating_add(n)
                        .min(inode.current.len() as u64);
                    inode.current.truncate(keep as usize);
                }
                CrashMode::TearLastWrite { keep_bytes } => {
                    if let Some((last, start, len)) = last_write {
                        if last == id {
                            // A write already fsynced cannot be torn.
                            let end = (start + keep_bytes.min(len)).max(inode.durable.len() as u64);
                            if (inode.current.len() as u64) > end {
                                inode.current.truncate(end as usize);
                            }
                        }
                    }
                }
                CrashMode::ZeroUnsynced => {
                    for b in &mut inode.current[common..] {
                        *b = 0;
                    }
                }
            }
            inode.durable = inode.current.clone();
        }
        s.generation += 1;
    }

    /// After `bytes` more bytes are appended (to any file), appends fail with
    /// `StorageFull` (ENOSPC); the append that crosses the limit writes what fits. `None`
    /// removes the limit.
    pub fn set_write_budget(&self, bytes: Option<u64>) {
        self.lock().write_budget = bytes;
    }

    /// After `n` more successful renames, `rename` fails with an I/O error (changing
    /// nothing). `None` removes the limit.
    pub fn fail_renames_after(&self, n: Option<u64>) {
        self.lock().rename_budget = n;
    }

    /// After `n` more successful removals, `remove_file` fails with an I/O error (changing
    /// nothing). `None` removes the limit.
    pub fn fail_removals_after(&self, n: Option<u64>) {
        self.lock().remove_budget = n;
    }

    /// Makes every `sync_data` fail with an I/O error (nothing becomes durable).
    pub fn set_fail_sync(&self, fail: bool) {
        self.lock().fail_sync = fail;
    }

    /// Successful `sync_data` calls so far.
    pub fn sync_count(&self) -> u64 {
        self.lock().sync_count
    }

    /// Current contents of a file.
    pub fn contents(&self, path: &Path) -> Option<Vec<u8>> {
        let s = self.lock();
        let id = *s.files.get(path)?;
        Some(s.inodes[id].current.clone())
    }

    /// Length of a file.
    pub fn file_len(&self, path: &Path) -> Option<u64> {
        self.contents(path).map(|c| c.len() as u64)
    }

    /// Every file path, sorted.
    pub fn file_paths(&self) -> Vec<PathBuf> {
        self.lock().files.keys().cloned().collect()
    }

    /// Overwrites (or extends) a file at `position` with `bytes`, durably: disk corruption.
    pub fn corrupt(&self, path: &Path, position: u64, bytes: &[u8]) -> io::Result<()> {
        let mut s = self.lock();
        let id = *s.files.get(path).ok_or_else(|| not_found(path))?;
        let inode = &mut s.inodes[id];
        let start = position as usize;
        if inode.current.len() < start + bytes.len() {
            inode.current.resize(start + bytes.len(), 0);
        }
        inode.current[start..start + bytes.len()].copy_from_slice(bytes);
        inode.durable = inode.current.clone();
        Ok(())
    }

    /// Truncates a file durably, as a lost tail would.
    pub fn truncate(&self, path: &Path, len: u64) -> io::Result<()> {
        let mut s = self.lock();
        let id = *s.files.get(path).ok_or_else(|| not_found(path))?;
        let inode = &mut s.inodes[id];
        inode.current.truncate(len as usize);
        inode.durable = inode.current.clone();
        Ok(())
    }

    /// Creates (or replaces) a file with `bytes`, durably.
    pub fn put_file(&self, path: &Path, bytes: &[u8]) -> io::Result<()> {
        let file = self.create(path)?;
        file.append(&[IoSlice::new(bytes)])?;
        file.sync_data()
    }
}

impl FileSystem for FaultyFileSystem {
    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        let mut s = self.lock();
        for ancestor in path.ancestors() {
            if ancestor.as_os_str().is_empty() {
                break;
            }
            if s.files.contains_key(ancestor) {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    format!("{} is a file", ancestor.display()),
                ));
            }
            s.dirs.insert(ancestor.to_path_buf());
        }
        Ok(())
    }

    fn read_dir(&self, path: &Path) -> io::Result<Vec<DirEntry>> {
        let s = self.lock();
        if !s.dirs.contains(path) {
            return Err(not_found(path));
        }
        let child = |p: &Path| p.parent() == Some(path);
        let name = |p: &Path| {
            p.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        };
        let mut out: Vec<DirEntry> = s
            .dirs
            .iter()
            .filter(|p| child(p))
            .map(|p| DirEntry {
                name: name(p),
                is_dir: true,
            })
            .collect();
        out.extend(s.files.keys().filter(|p| child(p)).map(|p| DirEntry {
            name: name(p),
            is_dir: false,
        }));
        Ok(out)
    }

    fn open(&self, path: &Path) -> io::Result<Arc<dyn SegmentFile>> {
        let s = self.lock();
        let inode = *s.files.get(path).ok_or_else(|| not_found(path))?;
        Ok(Arc::new(FaultyFile {
            fs: self.clone(),
            inode,
            generation: s.generation,
            path: path.to_path_buf(),
        }))
    }

    fn create(&self, path: &Path) -> io::Result<Arc<dyn SegmentFile>> {
        let mut s = self.lock();
        if !s.parent_exists(path) {
            return Err(not_found(path.parent().unwrap_or(path)));
        }
        if s.dirs.contains(path) {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{} is a directory", path.display()),
            ));
        }
        let inode = match s.files.get(path) {
            Some(&id) => {
                s.inodes[id] = Inode::default();
                id
            }
            None => {
                s.inodes.push(Inode::default());
                let id = s.inodes.len() - 1;
                s.files.insert(path.to_path_buf(), id);
                id
            }
        };
        Ok(Arc::new(FaultyFile {
            fs: self.clone(),
            inode,
            generation: s.generation,
            path: path.to_path_buf(),
        }))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut s = self.lock();
        if !s.parent_exists(to) {
            return Err(not_found(to));
        }
        if s.files.contains_key(from) || s.dirs.contains(from) {
            spend(&mut s.rename_budget, "rename", from)?;
        }
        if let Some(id) = s.files.remove(from) {
            s.files.insert(to.to_path_buf(), id);
            return Ok(());
        }
        if !s.dirs.contains(from) {
            return Err(not_found(from));
        }
        if s.dirs.contains(to) || s.files.contains_key(to) {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{} exists", to.display()),
            ));
        }
        let moved_dirs: Vec<PathBuf> = s
            .dirs
            .iter()
            .filter(|d| d.starts_with(from))
            .cloned()
            .collect();
        for d in moved_dirs {
            s.dirs.remove(&d);
            let rest = d
                .strip_prefix(from)
                .map(Path::to_path_buf)
                .unwrap_or_default();
            s.dirs.insert(to.join(rest));
        }
        let moved_files: Vec<PathBuf> = s
            .files
            .keys()
            .filter(|f| f.starts_with(from))
            .cloned()
            .collect();
        for f in moved_files {
            if let Some(id) = s.files.remove(&f) {
                let rest = f
                    .strip_prefix(from)
                    .map(Path::to_path_buf)
                    .unwrap_or_default();
                s.files.insert(to.join(rest), id);
            }
        }
        Ok(())
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        let mut s = self.lock();
        if !s.files.contains_key(path) {
            return Err(not_found(path));
        }
        spend(&mut s.remove_budget, "remove", path)?;
        s.files.remove(path);
        Ok(())
    }

    fn remove_dir_all(&self, path: &Path) -> io::Result<()> {
        let mut s = self.lock();
        if !s.dirs.contains(path) {
            return Err(not_found(path));
        }
        s.dirs.retain(|d| !d.starts_with(path));
        s.files.retain(|f, _| !f.starts_with(path));
        Ok(())
    }

    fn exists(&self, path: &Path) -> io::Result<bool> {
        let s = self.lock();
        Ok(s.dirs.contains(path) || s.files.contains_key(path))
    }

    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        if self.lock().dirs.contains(path) {
            Ok(())
        } else {
            Err(not_found(path))
        }
    }
}

/// A handle into [`FaultyFileSystem`].
#[derive(Debug)]
struct FaultyFile {
    fs: FaultyFileSystem,
    inode: usize,
    generation: u64,
    path: PathBuf,
}

impl FaultyFile {
    fn state(&self) -> io::Result<MutexGuard<'_, State>> {
        let s = self.fs.lock();
        if s.generation != self.generation {
            return Err(io::Error::other(format!(
                "{}: handle opened before a simulated crash",
                self.path.display()
            )));
        }
        Ok(s)
    }
}

impl SegmentFile for FaultyFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let s = self.state()?;
        let data = &s.inodes[self.inode].current;
        let Ok(start) = usize::try_from(offset) else {
            return Ok(0);
        };
        if start >= data.len() {
            return Ok(0);
        }
        let n = buf.len().min(data.len() - start);
        buf[..n].copy_from_slice(&data[start..start + n]);
        Ok(n)
    }

    fn append(&self, bufs: &[IoSlice<'_>]) -> io::Result<()> {
        let mut s = self.state()?;
        let total: u64 = bufs.iter().map(|b| b.len() as u64).sum();
        let allowed = s.write_budget.map_or(total, |budget| budget.min(total));
        let start = s.inodes[self.inode].current.len() as u64;
        let mut left = allowed as usize;
        for b in bufs {
            let n = left.min(b.len());
            s.inodes[self.inode].current.extend_from_slice(&b[..n]);
            left -= n;
        }
        s.last_write = Some((self.inode, start, allowed));
        if let Some(budget) = s.write_budget.as_mut() {
            *budget -= allowed;
        }
        if allowed < total {
            return Err(io::Error::new(
                io::ErrorKind::StorageFull,
                format!(
                    "{}: no space left on device (simulated)",
                    self.path.display()
                ),
            ));
        }
        Ok(())
    }

    fn sync_data(&self) -> io::Result<()> {
        let mut s = self.state()?;
        if s.fail_sync {
            return Err(io::Error::other(format!(
                "{}: fsync failed (simulated EIO)",
                self.path.display()
            )));
        }
        let inode = &mut s.inodes[self.inode];
        inode.durable = inode.current.clone();
        s.sync_count += 1;
        Ok(())
    }

    fn len(&self) -> io::Result<u64> {
        Ok(self.state()?.inodes[self.inode].current.len() as u64)
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        let mut s = self.state()?;
        let len = usize::try_from(len).map_err(io::Error::other)?;
        s.inodes[self.inode].current.resize(len, 0);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> (FaultyFileSystem, PathBuf, Arc<dyn SegmentFile>) {
        let fs = FaultyFileSystem::new();
        fs.create_dir_all(Path::new("/d")).unwrap();
        let path = PathBuf::from("/d/f");
        let f = fs.create(&path).unwrap();
        f.append(&[IoSlice::new(b"synced")]).unwrap();
        f.sync_data().unwrap();
        f.append(&[IoSlice::new(b"-one"), IoSlice::new(b"-two")])
            .unwrap();
        (fs, path, f)
    }

    #[test]
    fn crash_loses_unsynced_writes_and_stales_handles() {
        let (fs, path, f) = setup();
        fs.crash(CrashMode::LoseUnsynced);
        assert_eq!(fs.contents(&path).unwrap(), b"synced");
        assert!(f.len().is_err());
        assert_eq!(fs.open(&path).unwrap().len().unwrap(), 6);
    }

    #[test]
    fn crash_can_keep_a_torn_prefix() {
        let (fs, path, _f) = setup();
        fs.crash(CrashMode::KeepUnsyncedPrefix(3));
        assert_eq!(fs.contents(&path).unwrap(), b"synced-on");
    }

    #[test]
    fn crash_can_tear_only_the_last_write() {
        let (fs, path, f) = setup();
        f.append(&[IoSlice::new(b"-three")]).unwrap();
        fs.crash(CrashMode::TearLastWrite { keep_bytes: 2 });
        assert_eq!(fs.contents(&path).unwrap(), b"synced-one-two-t");
    }

    #[test]
    fn crash_can_zero_unsynced_data() {
        let (fs, path, _f) = setup();
        fs.crash(CrashMode::ZeroUnsynced);
        let mut expected = b"synced".to_vec();
        expected.extend([0u8; 8]);
        assert_eq!(fs.contents(&path).unwrap(), expected);
    }

    #[test]
    fn write_budget_gives_enospc_after_a_partial_write() {
        let (fs, path, f) = setup();
        fs.set_write_budget(Some(3));
        let err = f.append(&[IoSlice::new(b"abcdef")]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::StorageFull);
        assert_eq!(fs.contents(&path).unwrap(), b"synced-one-twoabc");
        assert!(f.append(&[IoSlice::new(b"x")]).is_err());
        fs.set_write_budget(None);
        f.append(&[IoSlice::new(b"x")]).unwrap();
    }

    #[test]
    fn failing_fsync_makes_nothing_durable() {
        let (fs, path, f) = setup();
        fs.set_fail_sync(true);
        assert!(f.sync_data().is_err());
        fs.crash(CrashMode::LoseUnsynced);
        assert_eq!(fs.contents(&path).unwrap(), b"synced");
    }

    #[test]
    fn renames_and_removals_fail_once_their_budget_is_spent() {
        let (fs, path, _f) = setup();
        let other = PathBuf::from("/d/g");
        fs.fail_renames_after(Some(1));
        fs.rename(&path, &other).unwrap();
        assert!(fs.rename(&other, &path).is_err());
        assert!(fs.exists(&other).unwrap());
        fs.fail_renames_after(None);
        fs.fail_removals_after(Some(0));
        assert!(fs.remove_file(&other).is_err());
        assert!(fs.exists(&other).unwrap());
        fs.fail_removals_after(None);
        fs.remove_file(&other).unwrap();
        assert!(!fs.exists(&other).unwrap());
    }

    #[test]
    fn directories_rename_and_remove_with_their_files() {
        let (fs, _path, _f) = setup();
        fs.rename(Path::new("/d"), Path::new("/e")).unwrap();
        assert!(fs.exists(Path::new("/e/f")).unwrap());
        assert!(!fs.exists(Path::new("/d/f")).unwrap());
        assert_eq!(
            fs.read_dir(Path::new("/e")).unwrap(),
            vec![DirEntry {
                name: "f".into(),
                is_dir: false
            }]
        );
        fs.remove_dir_all(Path::new("/e")).unwrap();
        assert!(!fs.exists(Path::new("/e/f")).unwrap());
        assert!(fs.create(Path::new("/e/g")).is_err());
    }
}
