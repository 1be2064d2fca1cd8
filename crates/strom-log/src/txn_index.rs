//! Aborted transactions, Kafka's `.txnindex`: one file per segment listing the
//! transactions aborted by a marker in that segment, so a read_committed fetch can tell
//! the consumer which producers' records to drop.
//!
//! ```text
//! <base offset>.txnindex, repeated, 34 bytes each, big-endian (Kafka's AbortedTxn):
//!   int16 version (0)
//!   int64 producerId
//!   int64 firstOffset        the transaction's first offset on this partition
//!   int64 lastOffset         the offset of its abort marker
//!   int64 lastStableOffset   the last stable offset once the marker was written
//! ```
//!
//! The entries are kept in memory too. A new abort is appended to its segment's file
//! (not fsynced, as Kafka's `TransactionIndex.append`); the file is fsynced when its
//! segment rolls and at a clean close. Truncation and compaction rewrite a file
//! atomically. The files go with their segments (retention, truncation); opening a log
//! reads them, drops entries past the recovered log end, and the replay of the batches
//! after the producer snapshot adds any abort a crash kept out of them (Kafka rebuilds
//! the index of recovered segments the same way): a lost entry can only be one of the
//! active segment, whose batches are replayed. A torn last entry is dropped; a damaged
//! file is reported and its entries are dropped.

use std::path::PathBuf;

use crate::error::LogError;
use crate::file_names::segment_path;
use crate::producer_state::CompletedTxn;
use crate::Log;

/// The transaction index file suffix.
pub const TXN_INDEX_FILE_SUFFIX: &str = ".txnindex";

/// Bytes per entry.
const ENTRY_BYTES: usize = 34;

/// One aborted transaction (Kafka's `AbortedTxn`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AbortedTxn {
    /// The producer whose records to drop.
    pub producer_id: i64,
    /// First offset of the transaction on this partition.
    pub first_offset: i64,
    /// The abort marker's offset.
    pub last_offset: i64,
    /// The last stable offset right after the marker.
    pub last_stable_offset: i64,
}

pub(crate) fn encode(entries: &[AbortedTxn]) -> Vec<u8> {
    let mut out = Vec::with_capacity(entries.len() * ENTRY_BYTES);
    for e in entries {
        out.extend_from_slice(&0i16.to_be_bytes());
        out.extend_from_slice(&e.producer_id.to_be_bytes());
        out.extend_from_slice(&e.first_offset.to_be_bytes());
        out.extend_from_slice(&e.last_offset.to_be_bytes());
        out.extend_from_slice(&e.last_stable_offset.to_be_bytes());
    }
    out
}

/// The entries of a file; a partial last entry (a write a crash tore) is left out.
pub(crate) fn decode(bytes: &[u8]) -> Result<Vec<AbortedTxn>, String> {
    let mut out = Vec::with_capacity(bytes.len() / ENTRY_BYTES);
    if bytes.len() % ENTRY_BYTES != 0 {
        tracing::warn!(
            bytes = bytes.len(),
            "a transaction index ends in a partial entry (a torn write); it is left out"
        );
    }
    for (i, chunk) in bytes.chunks_exact(ENTRY_BYTES).enumerate() {
        let i64_at = |at: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&chunk[at..at + 8]);
            i64::from_be_bytes(b)
        };
        let version = i16::from_be_bytes([chunk[0], chunk[1]]);
        if version != 0 {
            return Err(format!("entry {i} has version {version}, not 0"));
        }
        out.push(AbortedTxn {
            producer_id: i64_at(2),
            first_offset: i64_at(10),
            last_offset: i64_at(18),
            last_stable_offset: i64_at(26),
        });
    }
    Ok(out)
}

impl Log {
    pub(crate) fn txn_index_path(&self, base_offset: i64) -> PathBuf {
        segment_path(&self.dir, base_offset, TXN_INDEX_FILE_SUFFIX)
    }

    /// Base offset of the segment holding `offset`.
    fn segment_base_of(&self, offset: i64) -> i64 {
        let i = self
            .segments
            .partition_point(|s| s.base_offset() <= offset)
            .saturating_sub(1);
        self.segments[i].base_offset()
    }

    /// Writes the entries of the segment at `base` to its file (removing it when none).
    pub(crate) fn rewrite_txn_index(&self, base: i64) -> Result<(), LogError> {
        let next = self
            .segments
            .iter()
            .find(|s| s.base_offset() > base)
            .map_or(i64::MAX, |s| s.base_offset());
        let entries: Vec<AbortedTxn> = self
            .aborted_txns
            .iter()
            .filter(|t| (base..next).contains(&t.last_offset))
            .copied()
            .collect();
        let path = self.txn_index_path(base);
        if entries.is_empty() {
            return match self.fs.remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(LogError::io(&path, e)),
                _ => Ok(()),
            };
        }
        self.fs
            .write_file_atomic(&path, &encode(&entries))
            .map_err(|e| LogError::io(&path, e))
    }

    /// Records a completed transaction: an abort goes into the index of the segment
    /// holding its marker. `last_stable_offset` is Kafka's `lastStableOffset(txn)`.
    pub(crate) fn record_completed_txn(
        &mut self,
        txn: &CompletedTxn,
        last_stable_offset: i64,
    ) -> Result<(), LogError> {
        if !txn.is_aborted
            || self
                .aborted_txns
                .iter()
                .rev()
                .any(|t| t.last_offset == txn.last_offset)
        {
            return Ok(());
        }
        let entry = AbortedTxn {
            producer_id: txn.producer_id,
            first_offset: txn.first_offset,
            last_offset: txn.last_offset,
            last_stable_offset,
        };
        let at = self
            .aborted_txns
            .partition_point(|t| t.last_offset < entry.last_offset);
        self.aborted_txns.insert(at, entry);
        let base = self.segment_base_of(txn.last_offset);
        if at + 1 < self.aborted_txns.len() {
            // Not the newest entry (a replay filling a gap): keep the file in order.
            return self.rewrite_txn_index(base);
        }
        let path = self.txn_index_path(base);
        let file = match self.fs.open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                self.fs.create(&path).map_err(|e| LogError::io(&path, e))?
            }
            Err(e) => return Err(LogError::io(&path, e)),
        };
        file.append(&[std::io::IoSlice::new(&encode(&[entry]))])
            .map_err(|e| LogError::io(&path, e))?;
        if base == self.active().base_offset() {
            self.txn_index_unsynced = true;
        } else {
            file.sync_data().map_err(|e| LogError::sync(&path, e))?;
        }
        Ok(())
    }

    /// Fsyncs the active segment's transaction index if an append left it unsynced
    /// (at a roll and a clean close, with the segment's other files).
    pub(crate) fn sync_txn_index(&mut self) -> Result<(), LogError> {
        if !std::mem::take(&mut self.txn_index_unsynced) {
            return Ok(());
        }
        let path = self.txn_index_path(self.active().base_offset());
        match self.fs.open(&path) {
            Ok(file) => file.sync_data().map_err(|e| LogError::sync(&path, e)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(LogError::io(&path, e)),
        }
    }

    /// Reads the `.txnindex` of every segment (at open).
    pub(crate) fn load_txn_indexes(&mut self) -> Result<(), LogError> {
        let mut all = Vec::new();
        for segment in &self.segments {
            let path = self.txn_index_path(segment.base_offset());
            let bytes = match self.fs.read_file(&path) {
                Ok(bytes) => bytes,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(LogError::io(&path, e)),
            };
            match decode(&bytes) {
                Ok(entries) => all.extend(entries),
                Err(reason) => {
                    tracing::warn!(file = %path.display(), %reason, "ignoring a damaged transaction index: read_committed consumers may see the records of the aborted transactions it listed");
                }
            }
        }
        all.sort_by_key(|t| t.last_offset);
        all.dedup_by_key(|t| t.last_offset);
        self.aborted_txns = all;
        // Entries of markers a recovery cut away.
        self.truncate_txn_index(self.log_end_offset)
    }

    /// Drops the entries whose marker is at or after `offset` (truncation), rewriting
    /// the files of the segments that had some.
    pub(crate) fn truncate_txn_index(&mut self, offset: i64) -> Result<(), LogError> {
        let mut bases: Vec<i64> = self
            .aborted_txns
            .iter()
            .filter(|t| t.last_offset >= offset)
            .map(|t| self.segment_base_of(t.last_offset))
            .collect();
        bases.dedup();
        self.aborted_txns.retain(|t| t.last_offset < offset);
        for base in bases {
            self.rewrite_txn_index(base)?;
        }
        Ok(())
    }

    /// Forgets the entries of segments that are gone (retention).
    pub(crate) fn forget_txns_below(&mut self, first_base: i64) {
        self.aborted_txns.retain(|t| t.last_offset >= first_base);
    }

    /// The aborted transactions a read of `[start, upper)` must report (Kafka's
    /// `collectAbortedTransactions`): those whose marker is at or after `start` and
    /// whose first offset is below `upper`.
    pub fn collect_aborted_transactions(&self, start: i64, upper: i64) -> Vec<AbortedTxn> {
        let from = self.aborted_txns.partition_point(|t| t.last_offset < start);
        self.aborted_txns[from..]
            .iter()
            .filter(|t| t.first_offset < upper)
            .copied()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_kafkas_34_bytes_and_read_back() {
        let entries = [
            AbortedTxn {
                producer_id: 7,
                first_offset: 10,
                last_offset: 20,
                last_stable_offset: 21,
            },
            AbortedTxn {
                producer_id: -2,
                first_offset: i64::MAX,
                last_offset: 0,
                last_stable_offset: 5,
            },
        ];
        let bytes = encode(&entries);
        assert_eq!(bytes.len(), 68);
        assert_eq!(&bytes[..10], &[0, 0, 0, 0, 0, 0, 0, 0, 0, 7]);
        assert_eq!(decode(&bytes).unwrap(), entries);
        assert_eq!(
            decode(&bytes[..33]).unwrap(),
            vec![],
            "a torn entry is left out"
        );
        assert_eq!(decode(&bytes[..50]).unwrap(), entries[..1]);
        let mut bad = bytes.clone();
        bad[1] = 1;
        assert!(decode(&bad).unwrap_err().contains("version 1"));
    }
}
