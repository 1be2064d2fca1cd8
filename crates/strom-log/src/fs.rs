//! The file-system seam. Every byte the log reads or writes goes through [`FileSystem`] and
//! [`SegmentFile`], so tests can swap in [`crate::FaultyFileSystem`] and crash the log at
//! any write, tear a write, run out of space or fail an fsync.
//!
//! Files are append-only from the log's point of view: [`SegmentFile::append`] always writes
//! at the end, and reads are positional ([`SegmentFile::read_at`]) so readers share a handle
//! without a cursor and without `&mut`.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, IoSlice, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A name in a directory.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct DirEntry {
    /// File or directory name (not the full path). Names that are not UTF-8 are carried
    /// lossily; the log skips them as unparsable.
    pub name: String,
    /// Whether it is a directory.
    pub is_dir: bool,
}

/// Directory-level operations.
pub trait FileSystem: Send + Sync + fmt::Debug {
    /// Creates `path` and its parents.
    fn create_dir_all(&self, path: &Path) -> io::Result<()>;
    /// Lists `path`, in no particular order.
    fn read_dir(&self, path: &Path) -> io::Result<Vec<DirEntry>>;
    /// Opens an existing file for positional reads and appends.
    fn open(&self, path: &Path) -> io::Result<Arc<dyn SegmentFile>>;
    /// Creates a file, or truncates an existing one, for positional reads and appends.
    fn create(&self, path: &Path) -> io::Result<Arc<dyn SegmentFile>>;
    /// Renames a file or directory, replacing a file at `to`.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Removes a file.
    fn remove_file(&self, path: &Path) -> io::Result<()>;
    /// Removes a directory and everything in it.
    fn remove_dir_all(&self, path: &Path) -> io::Result<()>;
    /// Whether anything exists at `path`.
    fn exists(&self, path: &Path) -> io::Result<bool>;
    /// Makes creations, renames and removals inside directory `path` durable.
    fn sync_dir(&self, path: &Path) -> io::Result<()>;

    /// Reads a whole (small) file.
    fn read_file(&self, path: &Path) -> io::Result<Vec<u8>> {
        let file = self.open(path)?;
        let len = usize::try_from(file.len()?)
            .map_err(|_| io::Error::other("file too large to read whole"))?;
        let mut buf = vec![0u8; len];
        file.read_exact_at(&mut buf, 0)?;
        Ok(buf)
    }

    /// Replaces a (small) file atomically and durably: write `<path>.tmp`, fsync, rename
    /// over `path`, fsync the directory.
    fn write_file_atomic(&self, path: &Path, data: &[u8]) -> io::Result<()> {
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        let file = self.create(&tmp)?;
        file.append(&[IoSlice::new(data)])?;
        file.sync_data()?;
        drop(file);
        self.rename(&tmp, path)?;
        match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => self.sync_dir(parent),
            _ => Ok(()),
        }
    }
}

/// An open file: positional reads, appends at the end, fsync.
pub trait SegmentFile: Send + Sync + fmt::Debug {
    /// Reads up to `buf.len()` bytes at `offset`; returns how many were read (0 at the end).
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize>;
    /// Writes all of `bufs`, in order, at the end of the file. On error, any prefix of the
    /// data may have been written.
    fn append(&self, bufs: &[IoSlice<'_>]) -> io::Result<()>;
    /// Makes the file's data durable (`fdatasync`).
    fn sync_data(&self) -> io::Result<()>;
    /// Current length.
    fn len(&self) -> io::Result<u64>;
    /// Truncates or extends (with zeros) to `len` bytes.
    fn set_len(&self, len: u64) -> io::Result<()>;

    /// Whether the file is empty.
    fn is_empty(&self) -> io::Result<bool> {
        Ok(self.len()? == 0)
    }

    /// Fills `buf` from `offset`, or fails with `UnexpectedEof`.
    fn read_exact_at(&self, mut buf: &mut [u8], mut offset: u64) -> io::Result<()> {
        while !buf.is_empty() {
            match self.read_at(buf, offset) {
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!("file ends before byte {}", offset + buf.len() as u64),
                    ))
                }
                Ok(n) => {
                    buf = &mut buf[n..];
                    offset += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// The real file system.
#[derive(Debug, Default, Clone, Copy)]
pub struct StdFileSystem;

impl StdFileSystem {
    /// The real file system, shareable.
    pub fn shared() -> Arc<dyn FileSystem> {
        Arc::new(StdFileSystem)
    }
}

impl FileSystem for StdFileSystem {
    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        std::fs::create_dir_all(path)
    }

    fn read_dir(&self, path: &Path) -> io::Result<Vec<DirEntry>> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(path)? {
            let entry = entry?;
            out.push(DirEntry {
                name: entry.file_name().to_string_lossy().into_owned(),
                is_dir: entry.file_type()?.is_dir(),
            });
        }
        Ok(out)
    }

    fn open(&self, path: &Path) -> io::Result<Arc<dyn SegmentFile>> {
        let file = OpenOptions::new().read(true).append(true).open(path)?;
        Ok(Arc::new(StdSegmentFile { file }))
    }

    fn create(&self, path: &Path) -> io::Result<Arc<dyn SegmentFile>> {
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)?;
        file.set_len(0)?;
        Ok(Arc::new(StdSegmentFile { file }))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::rename(from, to)
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_file(path)
    }

    fn remove_dir_all(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_dir_all(path)
    }

    fn exists(&self, path: &Path) -> io::Result<bool> {
        path.try_exists()
    }

    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        // Directories can be opened read-only and fsynced on Unix; elsewhere this is a no-op.
        #[cfg(unix)]
        {
            File::open(path)?.sync_all()
        }
        #[cfg(not(unix))]
        {
            let _ = path;
            Ok(())
        }
    }
}

/// A real file opened for positional reads and appends.
#[derive(Debug)]
pub struct StdSegmentFile {
    file: File,
}

impl SegmentFile for StdSegmentFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        #[cfg(unix)]
        {
            std::os::unix::fs::FileExt::read_at(&self.file, buf, offset)
        }
        #[cfg(windows)]
        {
            std::os::windows::fs::FileExt::seek_read(&self.file, buf, offset)
        }
    }

    fn append(&self, bufs: &[IoSlice<'_>]) -> io::Result<()> {
        let mut owned: Vec<IoSlice<'_>> = bufs.to_vec();
        let mut slices: &mut [IoSlice<'_>] = &mut owned;
        // Skip leading empty slices so a zero-length write is not mistaken for WriteZero.
        IoSlice::advance_slices(&mut slices, 0);
        while !slices.is_empty() {
            match (&self.file).write_vectored(slices) {
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::WriteZero,
                        "write returned 0 bytes",
                    ))
                }
                Ok(n) => IoSlice::advance_slices(&mut slices, n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    fn sync_data(&self) -> io::Result<()> {
        self.file.sync_data()
    }

    fn len(&self) -> io::Result<u64> {
        Ok(self.file.metadata()?.len())
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        self.file.set_len(len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn std_files_append_vectored_and_read_positionally() {
        let dir = tempfile::tempdir().unwrap();
        let fs = StdFileSystem;
        let path = dir.path().join("a.log");
        let f = fs.create(&path).unwrap();
        f.append(&[
            IoSlice::new(b""),
            IoSlice::new(b"hello "),
            IoSlice::new(b"world"),
        ])
        .unwrap();
        assert_eq!(f.len().unwrap(), 11);
        let mut buf = [0u8; 5];
        f.read_exact_at(&mut buf, 6).unwrap();
        assert_eq!(&buf, b"world");
        f.set_len(5).unwrap();
        f.append(&[IoSlice::new(b"!")]).unwrap();
        assert_eq!(fs.read_file(&path).unwrap(), b"hello!");
        let err = f.read_exact_at(&mut buf, 3).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
        fs.write_file_atomic(&dir.path().join("meta"), b"x=1")
            .unwrap();
        assert_eq!(fs.read_file(&dir.path().join("meta")).unwrap(), b"x=1");
        assert!(!fs.exists(&dir.path().join("meta.tmp")).unwrap());
    }
}
