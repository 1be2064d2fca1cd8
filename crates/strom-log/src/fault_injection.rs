//! Storage faults injected into a running broker, for tests that drive the real binary with
//! real clients. **Not for production**: inert unless the environment asks for it, and the
//! broker logs a warning at start-up when it does.
//!
//! - `STROM_FAULTS_CONTROL=<file>`: the faults to inject are read from this file, re-read
//!   when it changes (checked at most every 20 ms), one `key=value` per line:
//!   - `fsync=eio`: `fdatasync` of data files and directories fails with EIO;
//!   - `write=enospc`: appends and file creations fail with ENOSPC;
//!   - `read=eio`: positional reads fail with EIO;
//!   - `match=<text>`: only paths containing `<text>` are affected (default: all).
//!
//!   An absent or empty file injects nothing.
//! - `STROM_FAULTS_SYNC_JOURNAL=<file>`: after every successful fsync of a file, a line
//!   `<length>\t<path>` is appended to this file. A test that kills the broker and truncates
//!   every file to its last journaled length (0 if none) reproduces what a power loss leaves:
//!   only fsynced data.

use std::io::{self, IoSlice, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use crate::fs::{DirEntry, FileSystem, SegmentFile, StdFileSystem};

/// The variable naming the control file.
pub const FAULTS_CONTROL_ENV: &str = "STROM_FAULTS_CONTROL";
/// The variable naming the fsync journal.
pub const SYNC_JOURNAL_ENV: &str = "STROM_FAULTS_SYNC_JOURNAL";

const RECHECK: Duration = Duration::from_millis(20);

/// The real file system, or, when the environment asks for fault injection, the real file
/// system with faults injected (see the module doc). The second value says which.
pub fn file_system_from_env() -> (Arc<dyn FileSystem>, bool) {
    let control = std::env::var_os(FAULTS_CONTROL_ENV).map(PathBuf::from);
    let journal = std::env::var_os(SYNC_JOURNAL_ENV).map(PathBuf::from);
    if control.is_none() && journal.is_none() {
        return (StdFileSystem::shared(), false);
    }
    let shared = Arc::new(Shared {
        control,
        journal,
        state: Mutex::new(ControlState::default()),
    });
    (Arc::new(FaultInjectingFileSystem { shared }), true)
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Faults {
    fail_sync: bool,
    enospc: bool,
    fail_read: bool,
    matching: Option<String>,
}

#[derive(Debug, Default)]
struct ControlState {
    checked: Option<Instant>,
    modified: Option<SystemTime>,
    faults: Faults,
}

#[derive(Debug)]
struct Shared {
    control: Option<PathBuf>,
    journal: Option<PathBuf>,
    state: Mutex<ControlState>,
}

impl Shared {
    fn faults(&self) -> Faults {
        let Some(control) = &self.control else {
            return Faults::default();
        };
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        if state
            .checked
            .is_some_and(|t| now.duration_since(t) < RECHECK)
        {
            return state.faults.clone();
        }
        state.checked = Some(now);
        let modified = std::fs::metadata(control).and_then(|m| m.modified()).ok();
        if modified != state.modified || modified.is_none() {
            state.modified = modified;
            state.faults = std::fs::read_to_string(control)
                .map(|text| parse(&text))
                .unwrap_or_default();
        }
        state.faults.clone()
    }

    fn applies(&self, path: &Path, pick: impl Fn(&Faults) -> bool) -> bool {
        let faults = self.faults();
        pick(&faults)
            && faults
                .matching
                .as_ref()
                .is_none_or(|m| path.to_string_lossy().contains(m.as_str()))
    }

    fn check_write(&self, path: &Path) -> io::Result<()> {
        if self.applies(path, |f| f.enospc) {
            return Err(io::Error::from(io::ErrorKind::StorageFull));
        }
        Ok(())
    }

    fn check_sync(&self, path: &Path) -> io::Result<()> {
        if self.applies(path, |f| f.fail_sync) {
            return Err(io::Error::other("injected fsync failure (EIO)"));
        }
        Ok(())
    }

    fn journal_sync(&self, path: &Path, len: u64) {
        let Some(journal) = &self.journal else { return };
        let line = format!("{len}\t{}\n", path.display());
        let written = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(journal)
            .and_then(|mut f| f.write_all(line.as_bytes()));
        if let Err(e) = written {
            tracing::error!(journal = %journal.display(), "could not write the fsync journal: {e}");
        }
    }
}

fn parse(text: &str) -> Faults {
    let mut faults = Faults::default();
    for line in text.lines().map(str::trim) {
        match line.split_once('=') {
            Some(("fsync", "eio")) => faults.fail_sync = true,
            Some(("write", "enospc")) => faults.enospc = true,
            Some(("read", "eio")) => faults.fail_read = true,
            Some(("match", m)) if !m.is_empty() => faults.matching = Some(m.to_owned()),
            _ => {}
        }
    }
    faults
}

/// [`StdFileSystem`] with the faults of a control file injected.
#[derive(Debug)]
struct FaultInjectingFileSystem {
    shared: Arc<Shared>,
}

impl FaultInjectingFileSystem {
    fn wrap(&self, path: &Path, inner: Arc<dyn SegmentFile>) -> Arc<dyn SegmentFile> {
        Arc::new(FaultInjectingFile {
            inner,
            path: path.to_path_buf(),
            shared: Arc::clone(&self.shared),
        })
    }
}

impl FileSystem for FaultInjectingFileSystem {
    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        StdFileSystem.create_dir_all(path)
    }

    fn read_dir(&self, path: &Path) -> io::Result<Vec<DirEntry>> {
        StdFileSystem.read_dir(path)
    }

    fn open(&self, path: &Path) -> io::Result<Arc<dyn SegmentFile>> {
        Ok(self.wrap(path, StdFileSystem.open(path)?))
    }

    fn create(&self, path: &Path) -> io::Result<Arc<dyn SegmentFile>> {
        self.shared.check_write(path)?;
        Ok(self.wrap(path, StdFileSystem.create(path)?))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        StdFileSystem.rename(from, to)
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        StdFileSystem.remove_file(path)
    }

    fn remove_dir_all(&self, path: &Path) -> io::Result<()> {
        StdFileSystem.remove_dir_all(path)
    }

    fn exists(&self, path: &Path) -> io::Result<bool> {
        StdFileSystem.exists(path)
    }

    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        self.shared.check_sync(path)?;
        StdFileSystem.sync_dir(path)
    }
}

#[derive(Debug)]
struct FaultInjectingFile {
    inner: Arc<dyn SegmentFile>,
    path: PathBuf,
    shared: Arc<Shared>,
}

impl SegmentFile for FaultInjectingFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        if self.shared.applies(&self.path, |f| f.fail_read) {
            return Err(io::Error::other("injected read failure (EIO)"));
        }
        self.inner.read_at(buf, offset)
    }

    fn append(&self, bufs: &[IoSlice<'_>]) -> io::Result<()> {
        self.shared.check_write(&self.path)?;
        self.inner.append(bufs)
    }

    fn sync_data(&self) -> io::Result<()> {
        self.shared.check_sync(&self.path)?;
        // The length is taken before the sync: whatever it covers is durable after it.
        let len = self.inner.len()?;
        self.inner.sync_data()?;
        self.shared.journal_sync(&self.path, len);
        Ok(())
    }

    fn len(&self) -> io::Result<u64> {
        self.inner.len()
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        self.shared.check_write(&self.path)?;
        self.inner.set_len(len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_control_file_turns_faults_on_and_off_and_syncs_are_journaled() {
        let dir = tempfile::tempdir().unwrap();
        let control = dir.path().join("faults");
        let journal = dir.path().join("journal");
        let fs = FaultInjectingFileSystem {
            shared: Arc::new(Shared {
                control: Some(control.clone()),
                journal: Some(journal.clone()),
                state: Mutex::default(),
            }),
        };
        let path = dir.path().join("t-0.log");
        let file = fs.create(&path).unwrap();
        file.append(&[IoSlice::new(b"abc")]).unwrap();
        file.sync_data().unwrap();
        std::fs::write(&control, "fsync=eio\nwrite=enospc\nmatch=t-0\n").unwrap();
        std::thread::sleep(RECHECK * 2);
        assert!(file.sync_data().is_err());
        let err = file.append(&[IoSlice::new(b"d")]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::StorageFull);
        // Paths that do not match are untouched.
        let other = fs.create(&dir.path().join("u-0.log")).unwrap();
        other.append(&[IoSlice::new(b"x")]).unwrap();
        std::fs::write(&control, "").unwrap();
        std::thread::sleep(RECHECK * 2);
        file.append(&[IoSlice::new(b"d")]).unwrap();
        file.sync_data().unwrap();
        let text = std::fs::read_to_string(&journal).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            [
                format!("3\t{}", path.display()),
                format!("4\t{}", path.display())
            ]
        );
    }
}
