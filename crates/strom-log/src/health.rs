//! What a storage failure leaves a log able to do.
//!
//! Two kinds of failure, told apart because they leave different promises standing:
//!
//! - **The disk is full** (`ENOSPC` / `EDQUOT` from a write). The write may have left a torn
//!   tail past the log end offset (files are opened for append), so the log takes no more
//!   writes; everything below the log end offset is intact and can still be read and
//!   fsynced. The log is [`LogHealth::ReadOnly`] until a restart, whose recovery cuts the
//!   torn tail. Producers get `KAFKA_STORAGE_ERROR`; consumers keep reading.
//! - **Anything else**: a failed fsync (the kernel may have dropped the dirty pages: a later
//!   fsync that succeeds proves nothing about them, PostgreSQL's "fsyncgate"), `EIO`, a
//!   failed rename. As in Kafka, the whole log directory goes offline
//!   ([`DirHealth::fail`]): every log in it refuses reads and writes, nothing above the last
//!   good fsync is ever reported durable, and the partitions are reported offline until an
//!   operator fixes the disk and restarts the broker.

use std::io;
use std::sync::OnceLock;

use crate::error::LogError;

/// What a log can still do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogHealth {
    /// Reads and writes work.
    Online,
    /// A write ran out of space: reads (and fsyncs of what was written) work, writes are
    /// refused until a restart.
    ReadOnly(String),
    /// A storage failure: nothing works until a restart.
    Offline(String),
}

impl LogHealth {
    /// Whether writes are refused.
    pub fn refuses_writes(&self) -> bool {
        !matches!(self, LogHealth::Online)
    }

    /// Whether reads are refused.
    pub fn refuses_reads(&self) -> bool {
        matches!(self, LogHealth::Offline(_))
    }
}

/// The health of one log directory, shared by its logs: the first storage failure of any
/// of them (other than a full disk) takes them all offline, as Kafka does with a log dir.
#[derive(Debug, Default)]
pub struct DirHealth {
    failed: OnceLock<String>,
}

impl DirHealth {
    /// Marks the directory failed; the first reason is kept.
    pub fn fail(&self, reason: impl Into<String>) {
        let _ = self.failed.set(reason.into());
    }

    /// Why the directory failed, if it did.
    pub fn failure(&self) -> Option<&str> {
        self.failed.get().map(String::as_str)
    }

    /// Whether the directory failed.
    pub fn is_failed(&self) -> bool {
        self.failed.get().is_some()
    }
}

/// Whether an I/O error means the disk (or the user's quota) is full.
pub(crate) fn is_disk_full(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded
    )
}

/// How a storage error leaves the log: full-disk write errors make it read-only, every
/// other failure (fsync failures included, whatever their errno) takes it offline.
pub(crate) fn health_after(error: &LogError) -> LogHealth {
    match error {
        LogError::Io { source, .. } if is_disk_full(source) => {
            LogHealth::ReadOnly(error.to_string())
        }
        _ => LogHealth::Offline(error.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_disk_leaves_reads_and_a_failed_fsync_leaves_nothing() {
        let full = LogError::io("/d/0.log", io::Error::from(io::ErrorKind::StorageFull));
        let eio = LogError::io("/d/0.log", io::Error::other("EIO"));
        let sync_full = LogError::sync("/d/0.log", io::Error::from(io::ErrorKind::StorageFull));
        let full = health_after(&full);
        assert!(full.refuses_writes() && !full.refuses_reads());
        for e in [eio, sync_full] {
            let h = health_after(&e);
            assert!(h.refuses_writes() && h.refuses_reads(), "{e}: {h:?}");
        }
    }

    #[test]
    fn a_directory_keeps_its_first_failure() {
        let dir = DirHealth::default();
        assert!(!dir.is_failed());
        dir.fail("first");
        dir.fail("second");
        assert_eq!(dir.failure(), Some("first"));
    }
}
