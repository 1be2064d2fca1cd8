//! Metadata snapshots: the image as of one log entry, so that restart loads
//! it instead of replaying the whole log, and the log before it can be
//! purged.
//!
//! A snapshot file is named `<end offset>-<term>.checkpoint` like Kafka's
//! metadata snapshots: the end offset (20 digits) is the index after the last
//! entry it covers, the term (10 digits) that entry's leader term. It holds
//! one frame (see [`super::frame`]) whose JSON payload is the openraft
//! snapshot meta plus the records that rebuild the image
//! ([`MetadataImage::to_records`]), so loading a snapshot is the same replay
//! as following the log. Only the newest snapshot is kept.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use strom_metadata::{MetadataImage, MetadataRecord};

use super::frame::{self, FrameRead};
use super::fs_util::{self, file_names, write_atomically, FileSystem};
use super::SnapshotMeta;
use crate::error::StoreError;

const SNAPSHOT_SUFFIX: &str = ".checkpoint";

/// The content of a snapshot file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SnapshotFile {
    pub meta: SnapshotMeta,
    pub records: Vec<MetadataRecord>,
}

impl SnapshotFile {
    /// (end offset, term): what the file name says, and the order of
    /// snapshots.
    fn key(meta: &SnapshotMeta) -> (u64, u64) {
        let end_offset = meta.last_log_id.map_or(0, |id| id.index + 1);
        let term = meta.last_log_id.map_or(0, |id| id.leader_id.term);
        (end_offset, term)
    }

    /// The file stem, also used as openraft's snapshot id.
    pub(crate) fn stem(meta: &SnapshotMeta) -> String {
        let (end_offset, term) = SnapshotFile::key(meta);
        format!("{end_offset:020}-{term:010}")
    }

    pub(crate) fn file_name(&self) -> String {
        format!("{}{SNAPSHOT_SUFFIX}", SnapshotFile::stem(&self.meta))
    }

    pub(crate) fn encode(&self) -> Result<Vec<u8>, StoreError> {
        let json = serde_json::to_vec(self).map_err(|e| {
            StoreError::corrupt(
                self.file_name(),
                0,
                format!("the snapshot does not encode: {e}"),
            )
        })?;
        let mut bytes = Vec::with_capacity(json.len() + frame::FRAME_HEADER_BYTES);
        frame::encode(&json, &mut bytes).ok_or_else(|| {
            StoreError::corrupt(self.file_name(), 0, "the snapshot is too large to store")
        })?;
        Ok(bytes)
    }

    /// Decodes the bytes of a snapshot; `path` names them in errors.
    pub(crate) fn decode(path: &Path, bytes: &[u8]) -> Result<SnapshotFile, StoreError> {
        match frame::read(bytes, 0) {
            FrameRead::Frame { payload, next } if next == bytes.len() => {
                serde_json::from_slice(payload).map_err(|e| {
                    StoreError::corrupt(
                        path,
                        frame::FRAME_HEADER_BYTES as u64,
                        format!("the snapshot does not decode: {e}"),
                    )
                })
            }
            FrameRead::Frame { next, .. } => Err(StoreError::corrupt(
                path,
                next as u64,
                "unexpected bytes after the snapshot",
            )),
            FrameRead::End => Err(StoreError::corrupt(path, 0, "the snapshot file is empty")),
            FrameRead::Incomplete(reason) | FrameRead::Corrupt(reason) => {
                Err(StoreError::corrupt(path, 0, reason))
            }
        }
    }

    /// The image the snapshot describes.
    pub(crate) fn image(&self, path: &Path) -> Result<MetadataImage, StoreError> {
        let Some(last) = self.meta.last_log_id else {
            if self.records.is_empty() {
                return Ok(MetadataImage::empty());
            }
            return Err(StoreError::corrupt(
                path,
                0,
                "a snapshot of no log entry holds records",
            ));
        };
        let offset = i64::try_from(last.index).map_err(|_| {
            StoreError::corrupt(path, 0, format!("log index {} is out of range", last.index))
        })?;
        MetadataImage::empty()
            .apply(&self.records, offset)
            .map_err(|e| {
                StoreError::corrupt(
                    path,
                    0,
                    format!("the snapshot's records do not replay: {e}"),
                )
            })
    }
}

/// Durably writes `bytes` (the encoded `file`) into `dir`, then deletes the
/// snapshots it supersedes.
pub(crate) fn write(
    fs: &dyn FileSystem,
    dir: &Path,
    file: &SnapshotFile,
    bytes: &[u8],
) -> Result<PathBuf, StoreError> {
    let name = file.file_name();
    write_atomically(fs, dir, &name, bytes)?;
    let written = SnapshotFile::key(&file.meta);
    for other in snapshot_files(fs, dir)? {
        if other.key < written {
            let path = dir.join(&other.name);
            fs.remove_file(&path)
                .map_err(|e| StoreError::io(&path, e))?;
        }
    }
    Ok(dir.join(name))
}

/// The newest snapshot in `dir`, decoded, with its bytes.
pub(crate) fn read_latest(
    fs: &dyn FileSystem,
    dir: &Path,
) -> Result<Option<(PathBuf, SnapshotFile, Vec<u8>)>, StoreError> {
    let Some(newest) = snapshot_files(fs, dir)?.into_iter().next_back() else {
        return Ok(None);
    };
    let path = dir.join(newest.name);
    let bytes = fs_util::read(fs, &path)?;
    let file = SnapshotFile::decode(&path, &bytes)?;
    if file.file_name()
        != path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
    {
        return Err(StoreError::corrupt(
            &path,
            0,
            format!("the snapshot's content is for {}", file.file_name()),
        ));
    }
    Ok(Some((path, file, bytes)))
}

struct SnapshotName {
    name: String,
    /// (end offset, term): the order of snapshots.
    key: (u64, u64),
}

/// The snapshot files in `dir`, oldest first.
fn snapshot_files(fs: &dyn FileSystem, dir: &Path) -> Result<Vec<SnapshotName>, StoreError> {
    let mut found = Vec::new();
    for name in file_names(fs, dir)? {
        let Some(stem) = name.strip_suffix(SNAPSHOT_SUFFIX) else {
            continue;
        };
        let parsed = stem
            .split_once('-')
            .and_then(|(end, term)| Some((end.parse::<u64>().ok()?, term.parse::<u64>().ok()?)));
        let Some(key) = parsed.filter(|_| stem.len() > 20 && stem.as_bytes()[20] == b'-') else {
            return Err(StoreError::corrupt(
                dir.join(&name),
                0,
                "this is not a metadata snapshot name (<end offset>-<term>.checkpoint); move the file out of the metadata directory",
            ));
        };
        found.push(SnapshotName { name, key });
    }
    found.sort_by_key(|f| f.key);
    Ok(found)
}
