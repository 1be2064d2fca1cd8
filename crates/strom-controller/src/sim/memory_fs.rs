//! An in-memory [`FileSystem`] that crashes: what was not fsynced is lost.
//!
//! Files are inodes with two contents: what reads see, and what is durable
//! (as of the last sync of the file). Names are two maps: the live one,
//! and the durable one, which a sync of the directory brings up to date.
//! [`MemoryFileSystem::crash`] stops this instance (every later call fails
//! with EIO, as the I/O of a dead process would) and returns the disk a
//! restarted node finds: the durable names, each with its durable content
//! plus, for a file that was appended to since, a random prefix of the
//! unsynced bytes (a torn write).

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use rand::Rng;

use crate::raft::fs_util::{AppendFile, FileSystem};

#[derive(Debug, Default)]
struct Inode {
    data: Vec<u8>,
    synced: Synced,
}

/// The durable content of a file: the first bytes of what reads see while
/// the file has only been appended to since its last sync (so a sync of an
/// appended file costs nothing), else a copy.
#[derive(Debug)]
enum Synced {
    Prefix(usize),
    Copy(Vec<u8>),
}

impl Default for Synced {
    fn default() -> Synced {
        Synced::Prefix(0)
    }
}

impl Inode {
    fn sync(&mut self) {
        self.synced = Synced::Prefix(self.data.len());
    }

    /// Replaces the content (not synced).
    fn overwrite(&mut self, data: Vec<u8>) {
        if let Synced::Prefix(len) = self.synced {
            self.synced = Synced::Copy(self.data[..len.min(self.data.len())].to_vec());
        }
        self.data = data;
    }

    /// What a crash leaves: the durable content, and of unsynced appends a
    /// random prefix (or nothing).
    fn survivor(&self, rng: &mut impl Rng) -> Vec<u8> {
        match &self.synced {
            Synced::Copy(durable) => durable.clone(),
            Synced::Prefix(len) => {
                let len = (*len).min(self.data.len());
                let tail = self.data.len() - len;
                let torn = if tail > 0 && rng.gen_bool(0.5) {
                    rng.gen_range(0..=tail)
                } else {
                    0
                };
                self.data[..len + torn].to_vec()
            }
        }
    }
}

#[derive(Debug, Default)]
struct Disk {
    crashed: bool,
    next_inode: u64,
    inodes: BTreeMap<u64, Inode>,
    live: BTreeMap<PathBuf, u64>,
    durable: BTreeMap<PathBuf, u64>,
    dirs: BTreeSet<PathBuf>,
}

/// One node's metadata directory, in memory.
#[derive(Clone, Debug, Default)]
pub(crate) struct MemoryFileSystem {
    disk: Arc<Mutex<Disk>>,
}

fn not_found(path: &Path) -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, format!("{}", path.display()))
}

impl Disk {
    fn check(&self) -> io::Result<()> {
        if self.crashed {
            return Err(io::Error::other("EIO: the node has crashed"));
        }
        Ok(())
    }

    fn inode(&mut self, path: &Path) -> io::Result<&mut Inode> {
        let id = *self.live.get(path).ok_or_else(|| not_found(path))?;
        self.inodes.get_mut(&id).ok_or_else(|| not_found(path))
    }

    fn create(&mut self, path: &Path) -> u64 {
        let id = self.next_inode;
        self.next_inode += 1;
        self.inodes.insert(id, Inode::default());
        self.live.insert(path.to_path_buf(), id);
        id
    }
}

impl MemoryFileSystem {
    fn disk(&self) -> io::Result<MutexGuard<'_, Disk>> {
        let disk = self.disk.lock().unwrap_or_else(PoisonError::into_inner);
        disk.check()?;
        Ok(disk)
    }

    /// Stops this instance and returns what survives on the disk.
    pub(crate) fn crash(&self, rng: &mut impl Rng) -> MemoryFileSystem {
        let mut disk = self.disk.lock().unwrap_or_else(PoisonError::into_inner);
        disk.crashed = true;
        let mut survivor = Disk {
            dirs: disk.dirs.clone(),
            ..Disk::default()
        };
        for (path, id) in &disk.durable {
            let Some(inode) = disk.inodes.get(id) else {
                continue;
            };
            let new_id = survivor.create(path);
            let mut kept = Inode {
                data: inode.survivor(rng),
                synced: Synced::default(),
            };
            kept.sync();
            survivor.inodes.insert(new_id, kept);
            survivor.durable.insert(path.clone(), new_id);
        }
        MemoryFileSystem {
            disk: Arc::new(Mutex::new(survivor)),
        }
    }
}

impl FileSystem for MemoryFileSystem {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        let mut disk = self.disk()?;
        for ancestor in dir.ancestors() {
            disk.dirs.insert(ancestor.to_path_buf());
        }
        Ok(())
    }

    fn file_names(&self, dir: &Path) -> io::Result<Vec<String>> {
        let disk = self.disk()?;
        if !disk.dirs.contains(dir) {
            return Err(not_found(dir));
        }
        Ok(disk
            .live
            .keys()
            .filter(|path| path.parent() == Some(dir))
            .filter_map(|path| path.file_name()?.to_str().map(str::to_string))
            .collect())
    }

    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        Ok(self.disk()?.inode(path)?.data.clone())
    }

    fn write_file(&self, path: &Path, bytes: &[u8]) -> io::Result<()> {
        let mut disk = self.disk()?;
        if !disk.live.contains_key(path) {
            disk.create(path);
        }
        disk.inode(path)?.overwrite(bytes.to_vec());
        Ok(())
    }

    fn sync_file(&self, path: &Path) -> io::Result<()> {
        let mut disk = self.disk()?;
        disk.inode(path)?.sync();
        Ok(())
    }

    fn open_append(&self, path: &Path, create_new: bool) -> io::Result<Box<dyn AppendFile>> {
        let mut disk = self.disk()?;
        let id = match (disk.live.get(path).copied(), create_new) {
            (Some(_), true) => {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    format!("{}", path.display()),
                ))
            }
            (Some(id), false) => id,
            (None, true) => disk.create(path),
            (None, false) => return Err(not_found(path)),
        };
        Ok(Box::new(MemoryAppendFile {
            fs: self.clone(),
            inode: id,
        }))
    }

    fn truncate(&self, path: &Path, len: u64) -> io::Result<()> {
        let mut disk = self.disk()?;
        let inode = disk.inode(path)?;
        let mut data = inode.data.clone();
        data.resize(len as usize, 0);
        inode.overwrite(data);
        inode.sync();
        Ok(())
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut disk = self.disk()?;
        let id = disk.live.remove(from).ok_or_else(|| not_found(from))?;
        disk.live.insert(to.to_path_buf(), id);
        Ok(())
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        let mut disk = self.disk()?;
        disk.live
            .remove(path)
            .map(|_| ())
            .ok_or_else(|| not_found(path))
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        let mut disk = self.disk()?;
        let in_dir = |path: &PathBuf| path.parent() == Some(dir);
        disk.durable.retain(|path, _| !in_dir(path));
        let live: Vec<(PathBuf, u64)> = disk
            .live
            .iter()
            .filter(|(path, _)| in_dir(path))
            .map(|(path, id)| (path.clone(), *id))
            .collect();
        disk.durable.extend(live);
        Ok(())
    }
}

struct MemoryAppendFile {
    fs: MemoryFileSystem,
    inode: u64,
}

impl MemoryAppendFile {
    fn with<T>(&self, f: impl FnOnce(&mut Inode) -> T) -> io::Result<T> {
        let mut disk = self.fs.disk()?;
        let inode = disk
            .inodes
            .get_mut(&self.inode)
            .ok_or_else(|| io::Error::other("the file is gone"))?;
        Ok(f(inode))
    }
}

impl AppendFile for MemoryAppendFile {
    fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.with(|inode| inode.data.extend_from_slice(bytes))
    }

    fn sync(&mut self) -> io::Result<()> {
        self.with(Inode::sync)
    }
}

#[cfg(test)]
mod tests {
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    use super::*;

    fn dir() -> PathBuf {
        PathBuf::from("/meta")
    }

    #[test]
    fn a_crash_keeps_synced_files_and_forgets_unsynced_names() -> io::Result<()> {
        let fs = MemoryFileSystem::default();
        fs.create_dir_all(&dir())?;
        fs.write_file(&dir().join("a"), b"synced")?;
        fs.sync_file(&dir().join("a"))?;
        fs.sync_dir(&dir())?;
        fs.write_file(&dir().join("b"), b"never in the directory")?;
        fs.sync_file(&dir().join("b"))?;
        fs.write_file(&dir().join("a"), b"overwritten, unsynced")?;

        let after = fs.crash(&mut StdRng::seed_from_u64(1));
        assert_eq!(after.file_names(&dir())?, vec!["a".to_string()]);
        assert_eq!(after.read(&dir().join("a"))?, b"synced");
        assert!(
            fs.read(&dir().join("a")).is_err(),
            "the crashed instance is dead"
        );
        Ok(())
    }

    #[test]
    fn a_crash_keeps_a_prefix_of_unsynced_appends_and_unsynced_renames_are_undone() -> io::Result<()>
    {
        let mut kept_tails = BTreeSet::new();
        for seed in 0..32 {
            let fs = MemoryFileSystem::default();
            fs.create_dir_all(&dir())?;
            let mut log = fs.open_append(&dir().join("log"), true)?;
            fs.sync_dir(&dir())?;
            log.append(b"0123")?;
            log.sync()?;
            log.append(b"456789")?;
            fs.rename(&dir().join("log"), &dir().join("renamed"))?;

            let after = fs.crash(&mut StdRng::seed_from_u64(seed));
            assert_eq!(after.file_names(&dir())?, vec!["log".to_string()]);
            let data = after.read(&dir().join("log"))?;
            assert!(data.starts_with(b"0123") && b"0123456789".starts_with(&data));
            kept_tails.insert(data.len());
        }
        assert!(kept_tails.contains(&4), "{kept_tails:?}");
        assert!(
            kept_tails.len() > 2,
            "torn tails of several lengths: {kept_tails:?}"
        );
        Ok(())
    }
}
