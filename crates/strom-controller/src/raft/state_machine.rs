//! The quorum's state machine: the metadata image. Committed entries are
//! replayed into it and every new image is published on a watch channel,
//! before openraft answers the proposer, so whoever proposed a change sees it
//! in the image as soon as the proposal returns.
//!
//! The image itself is not written on every apply; snapshots are. After a
//! crash the image is the newest snapshot plus the committed entries after
//! it, which openraft replays.

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use openraft::storage::{RaftStateMachine, Snapshot};
use openraft::{AnyError, EntryPayload, OptionalSend, RaftSnapshotBuilder, StorageIOError};
use strom_metadata::{MetadataImage, MetadataRecord};
use tokio::sync::watch;

use super::fs_util::FileSystem;
use super::snapshot::{self, SnapshotFile};
use super::{
    ApplyResult, Entry, LogId, SnapshotMeta, Storage, StorageError, StoredMembership, TypeConfig,
};
use crate::error::StoreError;

/// Told of every change of a state machine, in order, before openraft
/// answers anyone about it: the simulation checks its invariants with it.
pub(crate) trait ApplyObserver: Send + Sync {
    /// The image now is a snapshot's: loaded at start, or installed from the
    /// leader.
    fn reset(&self, last_applied: Option<LogId>, image: &Arc<MetadataImage>);
    /// `entries` were applied, in order, and `image` is the result.
    fn applied(&self, entries: &[Entry], image: &Arc<MetadataImage>);
}

/// Applies one log entry to `image`: its records all or nothing (a batch
/// that does not fit is skipped as a whole, the same way on every replica,
/// and only advances the offset). Returns the new image and why the batch
/// was skipped, if it was.
pub(crate) fn apply_entry(image: &MetadataImage, entry: &Entry) -> (MetadataImage, Option<String>) {
    let offset = i64::try_from(entry.log_id.index).unwrap_or(i64::MAX);
    let records: &[MetadataRecord] = match &entry.payload {
        EntryPayload::Normal(batch) => &batch.records,
        EntryPayload::Membership(_) | EntryPayload::Blank => &[],
    };
    match image.apply(records, offset) {
        Ok(next) => (next, None),
        Err(error) => {
            tracing::error!("metadata log entry {offset} was not applied: {error}");
            let next = image.apply(&[], offset).unwrap_or_else(|_| image.clone());
            (next, Some(error.to_string()))
        }
    }
}

pub(crate) struct StateMachineStore {
    dir: PathBuf,
    fs: Arc<dyn FileSystem>,
    observer: Option<Arc<dyn ApplyObserver>>,
    image: Arc<MetadataImage>,
    last_applied: Option<LogId>,
    last_membership: StoredMembership,
    publisher: watch::Sender<Arc<MetadataImage>>,
}

impl StateMachineStore {
    /// The state machine as of the newest snapshot in `dir` (empty if none),
    /// publishing its images on `publisher`.
    pub(crate) fn open(
        storage: &Storage,
        dir: &Path,
        publisher: watch::Sender<Arc<MetadataImage>>,
    ) -> Result<StateMachineStore, StoreError> {
        let mut store = StateMachineStore {
            dir: dir.to_path_buf(),
            fs: storage.fs.clone(),
            observer: storage.observer.clone(),
            image: Arc::new(MetadataImage::empty()),
            last_applied: None,
            last_membership: StoredMembership::default(),
            publisher,
        };
        if let Some((path, file, _)) = snapshot::read_latest(&*store.fs, dir)? {
            store.image = Arc::new(file.image(&path)?);
            store.last_applied = file.meta.last_log_id;
            store.last_membership = file.meta.last_membership;
            tracing::info!(
                "loaded metadata snapshot {} at offset {} with {} topics",
                path.display(),
                store.image.offset(),
                store.image.topic_count()
            );
        }
        if let Some(observer) = &store.observer {
            observer.reset(store.last_applied, &store.image);
        }
        store.publisher.send_replace(store.image.clone());
        Ok(store)
    }

    /// The last log entry reflected in the image.
    pub(crate) fn last_applied(&self) -> Option<LogId> {
        self.last_applied
    }

    fn replace(&mut self, image: MetadataImage, meta: &SnapshotMeta) {
        self.image = Arc::new(image);
        self.last_applied = meta.last_log_id;
        self.last_membership = meta.last_membership.clone();
        if let Some(observer) = &self.observer {
            observer.reset(self.last_applied, &self.image);
        }
        self.publisher.send_replace(self.image.clone());
    }
}

/// Builds a snapshot from a copy of the state machine taken when openraft
/// asked for it, so applying can go on meanwhile.
pub(crate) struct SnapshotBuilder {
    dir: PathBuf,
    fs: Arc<dyn FileSystem>,
    image: Arc<MetadataImage>,
    meta: SnapshotMeta,
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError> {
        let file = SnapshotFile {
            meta: self.meta.clone(),
            records: self.image.to_records(),
        };
        let written = file.encode().and_then(|bytes| {
            let path = snapshot::write(&*self.fs, &self.dir, &file, &bytes)?;
            Ok((path, bytes))
        });
        let (path, bytes) = written.map_err(|e| {
            StorageIOError::write_snapshot(Some(self.meta.signature()), AnyError::new(&e))
        })?;
        tracing::info!("wrote metadata snapshot {}", path.display());
        Ok(Snapshot {
            meta: self.meta.clone(),
            snapshot: Box::new(Cursor::new(bytes)),
        })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachineStore {
    type SnapshotBuilder = SnapshotBuilder;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), StorageError> {
        Ok((self.last_applied, self.last_membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<ApplyResult>, StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut image = MetadataImage::clone(&self.image);
        let mut results = Vec::new();
        let mut observed = Vec::new();
        for entry in entries {
            if let EntryPayload::Membership(membership) = &entry.payload {
                self.last_membership =
                    StoredMembership::new(Some(entry.log_id), membership.clone());
            }
            let (next, error) = apply_entry(&image, &entry);
            image = next;
            self.last_applied = Some(entry.log_id);
            results.push(ApplyResult {
                offset: image.offset(),
                error,
            });
            if self.observer.is_some() {
                observed.push(entry);
            }
        }
        self.image = Arc::new(image);
        if let Some(observer) = &self.observer {
            observer.applied(&observed, &self.image);
        }
        self.publisher.send_replace(self.image.clone());
        Ok(results)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        let meta = SnapshotMeta {
            last_log_id: self.last_applied,
            last_membership: self.last_membership.clone(),
            snapshot_id: String::new(),
        };
        let snapshot_id = SnapshotFile::stem(&meta);
        SnapshotBuilder {
            dir: self.dir.clone(),
            fs: self.fs.clone(),
            image: self.image.clone(),
            meta: SnapshotMeta {
                snapshot_id,
                ..meta
            },
        }
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError> {
        let bytes = snapshot.into_inner();
        let installed =
            SnapshotFile::decode(Path::new("the received snapshot"), &bytes).and_then(|file| {
                if file.meta.last_log_id != meta.last_log_id {
                    return Err(StoreError::corrupt(
                        "the received snapshot",
                        0,
                        format!(
                            "it covers {:?}, not {:?}",
                            file.meta.last_log_id, meta.last_log_id
                        ),
                    ));
                }
                let image = file.image(Path::new("the received snapshot"))?;
                snapshot::write(&*self.fs, &self.dir, &file, &bytes)?;
                Ok(image)
            });
        let image = installed.map_err(|e| {
            StorageIOError::write_snapshot(Some(meta.signature()), AnyError::new(&e))
        })?;
        self.replace(image, meta);
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, StorageError> {
        let latest = snapshot::read_latest(&*self.fs, &self.dir)
            .map_err(|e| StorageIOError::read_snapshot(None, AnyError::new(&e)))?;
        Ok(latest.map(|(_, file, bytes)| Snapshot {
            meta: file.meta,
            snapshot: Box::new(Cursor::new(bytes)),
        }))
    }
}
