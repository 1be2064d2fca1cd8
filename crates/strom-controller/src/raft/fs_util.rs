//! File operations with the durability the quorum needs, through a narrow
//! seam: [`FileSystem`] is every operation the metadata directory's stores
//! use. [`RealFileSystem`] (std::fs) is the default; the simulation
//! substitutes an in-memory one that forgets what was not fsynced when a
//! node crashes.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;
use std::sync::Arc;

use crate::error::StoreError;

/// Suffix of files being written; a crash may leave one behind, and
/// [`remove_temporary_files`] clears them on start.
pub(crate) const TEMPORARY_SUFFIX: &str = ".tmp";

/// The file operations of the metadata directory. A write is durable only
/// once the file is synced ([`AppendFile::sync`], [`FileSystem::write_file`]
/// then [`FileSystem::sync_file`]); a creation, rename or removal only once
/// its directory is synced ([`FileSystem::sync_dir`]).
pub(crate) trait FileSystem: Send + Sync + fmt::Debug + 'static {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()>;
    /// The names of the regular files in `dir`, sorted.
    fn file_names(&self, dir: &Path) -> io::Result<Vec<String>>;
    /// A whole file; `ErrorKind::NotFound` if it does not exist.
    fn read(&self, path: &Path) -> io::Result<Vec<u8>>;
    /// Creates or truncates `path` and writes `bytes` (not synced).
    fn write_file(&self, path: &Path, bytes: &[u8]) -> io::Result<()>;
    /// Makes the content of `path` durable.
    fn sync_file(&self, path: &Path) -> io::Result<()>;
    /// Opens `path` for appending; with `create_new` it must not exist.
    fn open_append(&self, path: &Path, create_new: bool) -> io::Result<Box<dyn AppendFile>>;
    /// Cuts `path` to `len` bytes and makes that durable.
    fn truncate(&self, path: &Path, len: u64) -> io::Result<()>;
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    fn remove_file(&self, path: &Path) -> io::Result<()>;
    /// Makes creations, renames and removals in `dir` durable.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
}

/// A file open for appending.
pub(crate) trait AppendFile: Send + Sync {
    fn append(&mut self, bytes: &[u8]) -> io::Result<()>;
    /// Makes everything appended so far durable.
    fn sync(&mut self) -> io::Result<()>;
}

/// The operating system's file system.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct RealFileSystem;

impl RealFileSystem {
    pub(crate) fn shared() -> Arc<dyn FileSystem> {
        Arc::new(RealFileSystem)
    }
}

impl FileSystem for RealFileSystem {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        fs::create_dir_all(dir)
    }

    fn file_names(&self, dir: &Path) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in fs::read_dir(dir)? {
            let entry = entry?;
            if let (true, Some(name)) = (entry.file_type()?.is_file(), entry.file_name().to_str()) {
                names.push(name.to_string());
            }
        }
        names.sort();
        Ok(names)
    }

    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        fs::read(path)
    }

    fn write_file(&self, path: &Path, bytes: &[u8]) -> io::Result<()> {
        OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)?
            .write_all(bytes)
    }

    fn sync_file(&self, path: &Path) -> io::Result<()> {
        OpenOptions::new().write(true).open(path)?.sync_all()
    }

    fn open_append(&self, path: &Path, create_new: bool) -> io::Result<Box<dyn AppendFile>> {
        let file = OpenOptions::new()
            .append(true)
            .create_new(create_new)
            .open(path)?;
        Ok(Box::new(RealAppendFile(file)))
    }

    fn truncate(&self, path: &Path, len: u64) -> io::Result<()> {
        let file = OpenOptions::new().write(true).open(path)?;
        file.set_len(len)?;
        file.sync_all()
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        fs::rename(from, to)
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        fs::remove_file(path)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        File::open(dir)?.sync_all()
    }
}

struct RealAppendFile(File);

impl AppendFile for RealAppendFile {
    fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.0.write_all(bytes)
    }

    fn sync(&mut self) -> io::Result<()> {
        self.0.sync_data()
    }
}

/// Makes a rename, creation or deletion in `dir` durable.
pub(crate) fn sync_dir(fs: &dyn FileSystem, dir: &Path) -> Result<(), StoreError> {
    fs.sync_dir(dir).map_err(|e| StoreError::io(dir, e))
}

/// Replaces `dir/name` with `bytes` so that after a crash the file holds
/// either the old or the new content: write a temporary file, fsync it,
/// rename it over the old one, fsync the directory.
pub(crate) fn write_atomically(
    fs: &dyn FileSystem,
    dir: &Path,
    name: &str,
    bytes: &[u8],
) -> Result<(), StoreError> {
    let temporary = dir.join(format!("{name}{TEMPORARY_SUFFIX}"));
    let path = dir.join(name);
    fs.write_file(&temporary, bytes)
        .and_then(|()| fs.sync_file(&temporary))
        .map_err(|e| StoreError::io(&temporary, e))?;
    fs.rename(&temporary, &path)
        .map_err(|e| StoreError::io(&path, e))?;
    sync_dir(fs, dir)
}

/// Deletes what interrupted [`write_atomically`] calls left behind.
pub(crate) fn remove_temporary_files(fs: &dyn FileSystem, dir: &Path) -> Result<(), StoreError> {
    for name in file_names(fs, dir)? {
        if name.ends_with(TEMPORARY_SUFFIX) {
            let path = dir.join(&name);
            fs.remove_file(&path)
                .map_err(|e| StoreError::io(&path, e))?;
        }
    }
    Ok(())
}

/// The names of the regular files in `dir`, sorted.
pub(crate) fn file_names(fs: &dyn FileSystem, dir: &Path) -> Result<Vec<String>, StoreError> {
    fs.file_names(dir).map_err(|e| StoreError::io(dir, e))
}

/// A whole file.
pub(crate) fn read(fs: &dyn FileSystem, path: &Path) -> Result<Vec<u8>, StoreError> {
    fs.read(path).map_err(|e| StoreError::io(path, e))
}
