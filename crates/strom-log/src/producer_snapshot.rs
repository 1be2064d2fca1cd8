//! Producer state snapshots, in Kafka's file format, so a partition directory moves
//! between Kafka and Strom with its idempotence state.
//!
//! `<offset, 20 digits>.snapshot` holds the producer state of the partition after every
//! batch below `offset` (Kafka's `ProducerSnapshot` message, version 1, big-endian):
//!
//! ```text
//! version                int16   1
//! crc                    uint32  CRC32C of every byte after this field
//! entries                int32   count, then per entry (46 bytes):
//!   producerId           int64
//!   epoch                int16
//!   lastSequence         int32   last sequence of the producer's newest batch
//!   lastOffset           int64   last offset of that batch (-1: no batch)
//!   offsetDelta          int32   lastOffset - firstOffset of that batch
//!   timestamp            int64   that batch's maxTimestamp (expiration counts from it)
//!   coordinatorEpoch     int32   -1 (no transactions yet)
//!   currentTxnFirstOffset int64  -1 (no transactions yet)
//! ```
//!
//! When, as in Kafka:
//! - written at every roll (named after the new segment's base offset) and at a clean
//!   close (named after the log end offset), durably (`.tmp`, fsync, rename);
//! - at open, snapshots whose offset is no segment's base offset are removed, except the
//!   newest one past the last segment's base offset (the clean-shutdown snapshot);
//!   snapshots above the log end offset or at or below the log start offset are removed;
//!   the newest remaining one is loaded and the log is replayed (batch headers only) from
//!   its offset. Beyond Kafka, the part of the active segment below the snapshot is read
//!   too: a snapshot keeps one batch per producer, and this gives the producers writing
//!   now up to five again, so any retry in flight across a restart is still recognised
//!   (Kafka answers OUT_OF_ORDER_SEQUENCE_NUMBER to a retry of all but the last). Opening
//!   thus reads the active segment's batch headers, whatever the snapshot. A snapshot that fails to decode or whose CRC does not match is removed
//!   with a warning and the next older one is tried; with none, the whole log is replayed
//!   and a snapshot is written at the log end offset so the next open is cheap;
//! - deleted with the segment whose base offset names it (retention, DeleteRecords).

use std::collections::BTreeSet;
use std::path::PathBuf;

use crate::error::LogError;
use crate::file_names::segment_path;
use crate::log::Log;
use crate::producer_state::{CompletedTxn, ProducerStateManager};
use crate::segment::LogSegment;

/// Suffix of producer state snapshot files.
pub const PRODUCER_SNAPSHOT_FILE_SUFFIX: &str = ".snapshot";

const VERSION: i16 = 1;
const CRC_OFFSET: usize = 2;
const ENTRIES_OFFSET: usize = CRC_OFFSET + 4;
const HEADER_BYTES: usize = ENTRIES_OFFSET + 4;
const ENTRY_BYTES: usize = 8 + 2 + 4 + 8 + 4 + 8 + 4 + 8;

/// One producer in a snapshot (Kafka's `ProducerSnapshot.ProducerEntry`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SnapshotEntry {
    pub producer_id: i64,
    pub epoch: i16,
    pub last_sequence: i32,
    pub last_offset: i64,
    pub offset_delta: i32,
    pub timestamp: i64,
    pub coordinator_epoch: i32,
    pub current_txn_first_offset: i64,
}

/// The bytes of a snapshot file holding `entries`.
pub(crate) fn encode(entries: &[SnapshotEntry]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_BYTES + entries.len() * ENTRY_BYTES);
    out.extend_from_slice(&VERSION.to_be_bytes());
    out.extend_from_slice(&[0; 4]);
    let count = i32::try_from(entries.len()).unwrap_or(i32::MAX);
    out.extend_from_slice(&count.to_be_bytes());
    for e in entries.iter().take(count as usize) {
        out.extend_from_slice(&e.producer_id.to_be_bytes());
        out.extend_from_slice(&e.epoch.to_be_bytes());
        out.extend_from_slice(&e.last_sequence.to_be_bytes());
        out.extend_from_slice(&e.last_offset.to_be_bytes());
        out.extend_from_slice(&e.offset_delta.to_be_bytes());
        out.extend_from_slice(&e.timestamp.to_be_bytes());
        out.extend_from_slice(&e.coordinator_epoch.to_be_bytes());
        out.extend_from_slice(&e.current_txn_first_offset.to_be_bytes());
    }
    let crc = crc32c::crc32c(&out[ENTRIES_OFFSET..]);
    out[CRC_OFFSET..ENTRIES_OFFSET].copy_from_slice(&crc.to_be_bytes());
    out
}

/// Reads a snapshot file's bytes; the error says what is wrong with them.
pub(crate) fn decode(bytes: &[u8]) -> Result<Vec<SnapshotEntry>, String> {
    if bytes.len() < HEADER_BYTES {
        return Err(format!(
            "{} bytes, shorter than the {HEADER_BYTES}-byte header",
            bytes.len()
        ));
    }
    let version = i16::from_be_bytes([bytes[0], bytes[1]]);
    if version != VERSION {
        return Err(format!("unknown snapshot version {version}"));
    }
    let stored = u32::from_be_bytes(field(bytes, CRC_OFFSET));
    let computed = crc32c::crc32c(&bytes[ENTRIES_OFFSET..]);
    if stored != computed {
        return Err(format!(
            "CRC mismatch: stored {stored:#010x}, computed {computed:#010x}"
        ));
    }
    let count = i32::from_be_bytes(field(bytes, ENTRIES_OFFSET));
    let body = &bytes[HEADER_BYTES..];
    if usize::try_from(count)
        .ok()
        .and_then(|c| c.checked_mul(ENTRY_BYTES))
        != Some(body.len())
    {
        return Err(format!(
            "{count} entries do not fill the {} bytes after the header",
            body.len()
        ));
    }
    Ok(body
        .chunks_exact(ENTRY_BYTES)
        .map(|e| SnapshotEntry {
            producer_id: i64::from_be_bytes(field(e, 0)),
            epoch: i16::from_be_bytes(field(e, 8)),
            last_sequence: i32::from_be_bytes(field(e, 10)),
            last_offset: i64::from_be_bytes(field(e, 14)),
            offset_delta: i32::from_be_bytes(field(e, 22)),
            timestamp: i64::from_be_bytes(field(e, 26)),
            coordinator_epoch: i32::from_be_bytes(field(e, 34)),
            current_txn_first_offset: i64::from_be_bytes(field(e, 38)),
        })
        .collect())
}

/// `N` bytes at `at`; callers checked the length.
fn field<const N: usize>(bytes: &[u8], at: usize) -> [u8; N] {
    let mut out = [0; N];
    out.copy_from_slice(&bytes[at..at + N]);
    out
}

impl Log {
    pub(crate) fn producer_snapshot_path(&self, offset: i64) -> PathBuf {
        segment_path(&self.dir, offset, PRODUCER_SNAPSHOT_FILE_SUFFIX)
    }

    /// Writes the producer state at the log end offset, unless a snapshot of that offset
    /// exists (Kafka's `takeSnapshot`).
    pub(crate) fn take_producer_snapshot(&self) -> Result<(), LogError> {
        if self.log_end_offset == 0 && self.producer_state.producer_count() == 0 {
            // Nothing was ever written: there is nothing to replay, and an idle broker of
            // many partitions would pay two fsyncs each at every shutdown.
            return Ok(());
        }
        let path = self.producer_snapshot_path(self.log_end_offset);
        if self.fs.exists(&path).map_err(|e| LogError::io(&path, e))? {
            return Ok(());
        }
        let entries = self.producer_state.snapshot_entries();
        self.fs
            .write_file_atomic(&path, &encode(&entries))
            .map_err(|e| LogError::io(&path, e))?;
        tracing::debug!(file = %path.display(), producers = entries.len(), "wrote a producer state snapshot");
        Ok(())
    }

    /// Loads the producer state at open: the newest usable snapshot, then the batches
    /// after it (see the module docs). `snapshots` are the offsets of the snapshot files
    /// found in the directory.
    pub(crate) fn load_producer_state(
        &mut self,
        snapshots: BTreeSet<i64>,
        now_ms: i64,
    ) -> Result<(), LogError> {
        let bases: BTreeSet<i64> = self.segments.iter().map(|s| s.base_offset()).collect();
        let last_base = bases.last().copied().unwrap_or(0);
        let newest_stray = snapshots
            .iter()
            .rev()
            .find(|o| !bases.contains(o))
            .copied()
            .filter(|o| *o > last_base);
        let mut usable = Vec::new();
        for offset in snapshots {
            let stray = !bases.contains(&offset) && Some(offset) != newest_stray;
            if stray || offset > self.log_end_offset || offset <= self.log_start_offset {
                self.remove_producer_snapshot(offset, "a producer snapshot outside the log")?;
            } else {
                usable.push(offset);
            }
        }
        let expiration_ms = self.config.producer_id_expiration_ms;
        let mut loaded = None;
        while let Some(offset) = usable.pop() {
            let path = self.producer_snapshot_path(offset);
            let bytes = self
                .fs
                .read_file(&path)
                .map_err(|e| LogError::io(&path, e))?;
            match decode(&bytes) {
                Ok(entries) => {
                    self.producer_state =
                        ProducerStateManager::from_snapshot(&entries, now_ms, expiration_ms);
                    loaded = Some(offset);
                    break;
                }
                Err(reason) => {
                    tracing::warn!(file = %path.display(), %reason, "ignoring a damaged producer state snapshot; falling back to an older one or to the log");
                    self.remove_producer_snapshot(offset, "a damaged producer snapshot")?;
                }
            }
        }
        if loaded.is_none() {
            self.producer_state = ProducerStateManager::default();
        }
        let from = loaded.unwrap_or(self.log_start_offset);
        // A snapshot keeps one batch per producer. The part of the active segment below
        // it is replayed too, so the producers writing now (whose retries may be in
        // flight) get back up to five batches.
        let active_base = self.active().base_offset();
        let mut replayed = 0usize;
        if active_base < from {
            let mut recent = ProducerStateManager::default();
            replayed += replay(
                self.active(),
                active_base,
                from,
                &mut recent,
                &mut Vec::new(),
            )?;
            self.producer_state.adopt_recent_batches(recent);
        }
        let mut completed = Vec::new();
        for segment in self.segments.iter().filter(|s| s.next_offset() > from) {
            replayed += replay(
                segment,
                from,
                i64::MAX,
                &mut self.producer_state,
                &mut completed,
            )?;
        }
        // Aborts a crash kept out of the transaction index (Kafka rebuilds the index of
        // the segments it recovers).
        for (txn, last_stable_offset) in completed {
            self.record_completed_txn(&txn, last_stable_offset)?;
        }
        tracing::debug!(
            dir = %self.dir.display(),
            snapshot = ?loaded,
            batches_replayed = replayed,
            producers = self.producer_state.producer_count(),
            "producer state loaded"
        );
        if loaded.is_none() && self.segments.len() > 1 {
            self.take_producer_snapshot()?;
        }
        Ok(())
    }

    /// Removes the snapshot named after `offset`, if there is one.
    pub(crate) fn remove_producer_snapshot(&self, offset: i64, why: &str) -> Result<(), LogError> {
        let path = self.producer_snapshot_path(offset);
        match self.fs.remove_file(&path) {
            Ok(()) => {
                tracing::info!(file = %path.display(), "removed {why}");
                Ok(())
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(LogError::io(&path, e)),
        }
    }
}

/// Loads the headers of `segment`'s batches whose last offset is in `[from, below)` into
/// `state`; returns how many.
fn replay(
    segment: &LogSegment,
    from: i64,
    below: i64,
    state: &mut ProducerStateManager,
    completed: &mut Vec<(CompletedTxn, i64)>,
) -> Result<usize, LogError> {
    let mut count = 0;
    let result = segment.for_each_batch_with_marker(|header, marker| {
        if (from..below).contains(&header.last_offset()) {
            if let Some(done) = state.load(header, marker) {
                completed.push(done);
            }
            count += 1;
        }
    });
    match result {
        Ok(()) => Ok(count),
        // The state is a cache of what the log says: a damaged older segment (reads of it
        // will report the damage) costs duplicate detection for the producers it named,
        // not the partition.
        Err(error @ LogError::Corrupt { .. }) => {
            tracing::warn!(%error, "producer state rebuilt without the rest of a damaged segment");
            Ok(count)
        }
        Err(error) => Err(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(producer_id: i64) -> SnapshotEntry {
        SnapshotEntry {
            producer_id,
            epoch: 3,
            last_sequence: 41,
            last_offset: 1_000 + (producer_id & 0xff),
            offset_delta: 4,
            timestamp: 1_700_000_000_000,
            coordinator_epoch: -1,
            current_txn_first_offset: -1,
        }
    }

    #[test]
    fn snapshots_round_trip_in_kafkas_layout() {
        let entries = vec![entry(1), entry(i64::MAX)];
        let bytes = encode(&entries);
        assert_eq!(bytes.len(), 10 + 2 * 46);
        assert_eq!(&bytes[..2], &[0, 1], "version 1");
        assert_eq!(&bytes[6..10], &[0, 0, 0, 2], "entry count");
        assert_eq!(&bytes[10..18], &1i64.to_be_bytes(), "first producer id");
        assert_eq!(
            u32::from_be_bytes(field(&bytes, 2)),
            crc32c::crc32c(&bytes[6..])
        );
        assert_eq!(decode(&bytes).unwrap(), entries);
        assert_eq!(decode(&encode(&[])).unwrap(), vec![]);
    }

    #[test]
    fn damaged_snapshots_are_errors_never_panics() {
        let bytes = encode(&[entry(1), entry(2)]);
        for len in 0..bytes.len() {
            assert!(decode(&bytes[..len]).is_err(), "cut at {len}");
        }
        for i in 0..bytes.len() {
            let mut flipped = bytes.clone();
            flipped[i] ^= 0x10;
            assert!(decode(&flipped).is_err(), "bit flipped in byte {i}");
        }
        // A count that claims more entries than there are bytes, with a valid CRC.
        let mut lying = bytes.clone();
        lying[6..10].copy_from_slice(&i32::MAX.to_be_bytes());
        let crc = crc32c::crc32c(&lying[6..]);
        lying[2..6].copy_from_slice(&crc.to_be_bytes());
        assert!(decode(&lying).unwrap_err().contains("entries do not fill"));
        let mut version = bytes;
        version[1] = 2;
        assert!(decode(&version).unwrap_err().contains("version 2"));
    }
}
