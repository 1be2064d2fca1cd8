//! File operations with the durability the quorum needs.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::Path;

use crate::error::StoreError;

/// Suffix of files being written; a crash may leave one behind, and
/// [`remove_temporary_files`] clears them on start.
pub(crate) const TEMPORARY_SUFFIX: &str = ".tmp";

/// Makes a rename, creation or deletion in `dir` durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| StoreError::io(dir, e))
}

/// Replaces `dir/name` with `bytes` so that after a crash the file holds
/// either the old or the new content: write a temporary file, fsync it,
/// rename it over the old one, fsync the directory.
pub(crate) fn write_atomically(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), StoreError> {
    let temporary = dir.join(format!("{name}{TEMPORARY_SUFFIX}"));
    let path = dir.join(name);
    let written = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&temporary)
        .and_then(|mut file| {
            file.write_all(bytes)?;
            file.sync_all()
        });
    written.map_err(|e| StoreError::io(&temporary, e))?;
    fs::rename(&temporary, &path).map_err(|e| StoreError::io(&path, e))?;
    sync_dir(dir)
}

/// Deletes what interrupted [`write_atomically`] calls left behind.
pub(crate) fn remove_temporary_files(dir: &Path) -> Result<(), StoreError> {
    for name in file_names(dir)? {
        if name.ends_with(TEMPORARY_SUFFIX) {
            let path = dir.join(&name);
            fs::remove_file(&path).map_err(|e| StoreError::io(&path, e))?;
        }
    }
    Ok(())
}

/// The names of the regular files in `dir`.
pub(crate) fn file_names(dir: &Path) -> Result<Vec<String>, StoreError> {
    let mut names = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| StoreError::io(dir, e))? {
        let entry = entry.map_err(|e| StoreError::io(dir, e))?;
        let is_file = entry
            .file_type()
            .map_err(|e| StoreError::io(entry.path(), e))?
            .is_file();
        if let (true, Some(name)) = (is_file, entry.file_name().to_str()) {
            names.push(name.to_string());
        }
    }
    names.sort();
    Ok(names)
}
