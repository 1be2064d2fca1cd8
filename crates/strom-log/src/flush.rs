//! [`PendingFlush`]: an fsync taken out of the log, for group commit.
//!
//! The broker acknowledges `acks=all` produce requests only once their data is durable.
//! Syncing while holding the partition's `&mut Log` would serialize every producer behind
//! the disk; instead the broker captures a `PendingFlush` under the lock, syncs it outside
//! (one fsync covers every append before the capture), and records the result with
//! [`crate::Log::complete_flush`].

use std::path::PathBuf;
use std::sync::Arc;

use crate::error::LogError;
use crate::fs::SegmentFile;

/// Files to fsync and the offset that will be durable once they are.
#[derive(Debug)]
#[must_use = "a PendingFlush does nothing until synced"]
pub struct PendingFlush {
    end_offset: i64,
    files: Vec<(PathBuf, Arc<dyn SegmentFile>)>,
}

impl PendingFlush {
    pub(crate) fn new(
        end_offset: i64,
        files: Vec<(PathBuf, Arc<dyn SegmentFile>)>,
    ) -> PendingFlush {
        PendingFlush { end_offset, files }
    }

    pub(crate) fn nothing(flushed_offset: i64) -> PendingFlush {
        PendingFlush {
            end_offset: flushed_offset,
            files: Vec::new(),
        }
    }

    /// Whether syncing would do nothing.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// Offset below which everything is durable after a successful sync.
    pub fn end_offset(&self) -> i64 {
        self.end_offset
    }

    /// Fsyncs; returns the offset now flushed up to (exclusive). An error means the log
    /// directory failed and must be taken offline.
    pub fn sync(self) -> Result<i64, LogError> {
        for (path, file) in &self.files {
            file.sync_data().map_err(|e| LogError::sync(path, e))?;
        }
        Ok(self.end_offset)
    }
}
