//! The `quorum-state` file: the vote (who this node voted for in which term,
//! and whether that vote is committed) and how far the log has been purged.
//! Raft is only safe if a vote, once given, survives a crash, so the file is
//! rewritten atomically and fsynced before the vote takes effect. (Kafka
//! keeps its vote in a file of the same name.)

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::frame::{self, FrameRead};
use super::fs_util::{write_atomically, FileSystem};
use super::{LogId, Vote};
use crate::error::StoreError;

pub(crate) const QUORUM_STATE_FILE: &str = "quorum-state";

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct QuorumState {
    pub vote: Option<Vote>,
    /// Entries up to and including this id are gone from the log; a snapshot
    /// holds their effect.
    pub last_purged_log_id: Option<LogId>,
}

/// The stored state, or the default when the file does not exist yet.
pub(crate) fn load(fs: &dyn FileSystem, dir: &Path) -> Result<QuorumState, StoreError> {
    let path = dir.join(QUORUM_STATE_FILE);
    let bytes = match fs.read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(QuorumState::default()),
        Err(e) => return Err(StoreError::io(&path, e)),
    };
    match frame::read(&bytes, 0) {
        FrameRead::Frame { payload, next } if next == bytes.len() => {
            serde_json::from_slice(payload).map_err(|e| {
                StoreError::corrupt(&path, 8, format!("the quorum state does not decode: {e}"))
            })
        }
        FrameRead::Frame { .. } => Err(StoreError::corrupt(
            &path,
            0,
            "unexpected bytes after the quorum state",
        )),
        FrameRead::End => Err(StoreError::corrupt(&path, 0, "the file is empty")),
        FrameRead::Incomplete(reason) | FrameRead::Corrupt(reason) => {
            Err(StoreError::corrupt(&path, 0, reason))
        }
    }
}

/// Durably replaces the stored state.
pub(crate) fn store(
    fs: &dyn FileSystem,
    dir: &Path,
    state: &QuorumState,
) -> Result<(), StoreError> {
    let path = dir.join(QUORUM_STATE_FILE);
    let json = serde_json::to_vec(state).map_err(|e| {
        StoreError::corrupt(&path, 0, format!("the quorum state does not encode: {e}"))
    })?;
    let mut bytes = Vec::with_capacity(json.len() + frame::FRAME_HEADER_BYTES);
    frame::encode(&json, &mut bytes)
        .ok_or_else(|| StoreError::corrupt(&path, 0, "the quorum state is too large to frame"))?;
    write_atomically(fs, dir, QUORUM_STATE_FILE, &bytes)
}
