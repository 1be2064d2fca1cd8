//! Control records: the key and value of Kafka's transaction markers
//! (`ControlRecordType` and `EndTransactionMarker`), and the one-record control batch a
//! partition leader writes to end a producer's transaction.
//!
//! ```text
//! key   (ControlRecordType):   int16 version (0)  int16 type (ABORT = 0, COMMIT = 1, ...)
//! value (EndTransactionMarker): int16 version (0)  int32 coordinatorEpoch
//! ```
//!
//! Parsing is Kafka's: a newer key or value version is read as version 0 (its fields are
//! a prefix), a negative version or too few bytes is an error, never a panic.

use bytes::Bytes;

use crate::layout::NO_SEQUENCE;
use crate::{BatchBuilder, Compression, RecordBatch, RecordsError, TimestampType};

/// Decompressed bytes a control batch may hold.
const MAX_CONTROL_BATCH_BYTES: usize = 64 * 1024;

/// The `type` of a control record's key (Kafka's `ControlRecordType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ControlRecordType {
    /// Ends a transaction by aborting it.
    Abort,
    /// Ends a transaction by committing it.
    Commit,
    /// Any other control record (KRaft's leader change, snapshot header, ...): not a
    /// transaction marker.
    Other(i16),
}

impl ControlRecordType {
    /// Kafka's type id.
    pub fn id(self) -> i16 {
        match self {
            ControlRecordType::Abort => 0,
            ControlRecordType::Commit => 1,
            ControlRecordType::Other(id) => id,
        }
    }

    /// The type of a control record's key (Kafka's `ControlRecordType.parse`).
    pub fn parse(key: &[u8]) -> Result<ControlRecordType, RecordsError> {
        let [v0, v1, t0, t1, ..] = *key else {
            return Err(invalid_control(format!(
                "control record key is {} bytes, fewer than the 4 of version and type",
                key.len()
            )));
        };
        let version = i16::from_be_bytes([v0, v1]);
        if version < 0 {
            return Err(invalid_control(format!(
                "control record key version {version} is negative"
            )));
        }
        Ok(match i16::from_be_bytes([t0, t1]) {
            0 => ControlRecordType::Abort,
            1 => ControlRecordType::Commit,
            other => ControlRecordType::Other(other),
        })
    }

    /// The key bytes (version 0).
    pub fn key(self) -> [u8; 4] {
        let [t0, t1] = self.id().to_be_bytes();
        [0, 0, t0, t1]
    }
}

/// A transaction marker (Kafka's `EndTransactionMarker`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EndTransactionMarker {
    /// Commit or abort.
    pub commit: bool,
    /// The epoch of the transaction coordinator that wrote it.
    pub coordinator_epoch: i32,
}

impl EndTransactionMarker {
    /// The value bytes (version 0).
    pub fn value(&self) -> [u8; 6] {
        let mut out = [0u8; 6];
        out[2..].copy_from_slice(&self.coordinator_epoch.to_be_bytes());
        out
    }

    /// The control type of its key.
    pub fn control_type(&self) -> ControlRecordType {
        if self.commit {
            ControlRecordType::Commit
        } else {
            ControlRecordType::Abort
        }
    }

    /// Reads a marker from a control record's key and value; `None` for a control
    /// record that is not a transaction marker.
    pub fn parse(
        key: Option<&[u8]>,
        value: Option<&[u8]>,
    ) -> Result<Option<EndTransactionMarker>, RecordsError> {
        let key = key.ok_or_else(|| invalid_control("control record without a key".into()))?;
        let commit = match ControlRecordType::parse(key)? {
            ControlRecordType::Commit => true,
            ControlRecordType::Abort => false,
            ControlRecordType::Other(_) => return Ok(None),
        };
        let value =
            value.ok_or_else(|| invalid_control("transaction marker without a value".into()))?;
        let [v0, v1, e0, e1, e2, e3, ..] = *value else {
            return Err(invalid_control(format!(
                "transaction marker value is {} bytes, fewer than the 6 of version 0",
                value.len()
            )));
        };
        let version = i16::from_be_bytes([v0, v1]);
        if version < 0 {
            return Err(invalid_control(format!(
                "transaction marker version {version} is negative"
            )));
        }
        Ok(Some(EndTransactionMarker {
            commit,
            coordinator_epoch: i32::from_be_bytes([e0, e1, e2, e3]),
        }))
    }

    /// The marker of a control batch: its first record, as Kafka reads it (`None` when
    /// the batch is not a control batch or its record is not a transaction marker).
    pub fn of_batch(batch: &RecordBatch) -> Result<Option<EndTransactionMarker>, RecordsError> {
        if !batch.header().is_control() {
            return Ok(None);
        }
        // A marker is one record of a few bytes: a control batch that decompresses to
        // more is not one, and must not cost memory to find out.
        let records = batch.records_with_limit(MAX_CONTROL_BATCH_BYTES)?;
        let Some(record) = records.first() else {
            return Err(invalid_control("control batch without a record".into()));
        };
        EndTransactionMarker::parse(record.key.as_deref(), record.value.as_deref())
    }

    /// The control batch Kafka's `MemoryRecords.withEndTransactionMarker` builds: one
    /// record, transactional and control bits set, no sequence, CreateTime `timestamp`.
    pub fn batch(
        &self,
        producer_id: i64,
        producer_epoch: i16,
        partition_leader_epoch: i32,
        timestamp: i64,
    ) -> Bytes {
        let mut builder = BatchBuilder::new(Compression::None, TimestampType::CreateTime)
            .producer(producer_id, producer_epoch, NO_SEQUENCE)
            .transactional(true)
            .control(true)
            .partition_leader_epoch(partition_leader_epoch);
        builder.append(
            timestamp,
            Some(&self.control_type().key()),
            Some(&self.value()),
            &[],
        );
        builder.build(0)
    }
}

fn invalid_control(reason: String) -> RecordsError {
    RecordsError::InvalidControlRecord { reason }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_marker_batch_reads_back_as_written() {
        for commit in [true, false] {
            let marker = EndTransactionMarker {
                commit,
                coordinator_epoch: 7,
            };
            let batch = RecordBatch::new(marker.batch(42, 3, 5, 1_000)).unwrap();
            let header = batch.header();
            assert!(header.is_control() && header.is_transactional());
            assert_eq!((header.producer_id(), header.producer_epoch()), (42, 3));
            assert_eq!(header.base_sequence(), -1);
            assert_eq!(header.partition_leader_epoch(), 5);
            assert!(batch.is_valid_crc());
            assert_eq!(
                EndTransactionMarker::of_batch(&batch).unwrap(),
                Some(marker)
            );
        }
    }

    #[test]
    fn kafkas_encoding_of_a_commit_marker() {
        let marker = EndTransactionMarker {
            commit: true,
            coordinator_epoch: 0x0102_0304,
        };
        assert_eq!(marker.control_type().key(), [0, 0, 0, 1]);
        assert_eq!(marker.value(), [0, 0, 1, 2, 3, 4]);
    }

    #[test]
    fn newer_versions_read_as_version_zero_and_short_or_negative_ones_are_errors() {
        assert_eq!(
            EndTransactionMarker::parse(Some(&[0, 1, 0, 0, 9]), Some(&[0, 3, 0, 0, 0, 9, 1, 2]))
                .unwrap(),
            Some(EndTransactionMarker {
                commit: false,
                coordinator_epoch: 9
            })
        );
        assert_eq!(
            EndTransactionMarker::parse(Some(&[0, 0, 0, 3]), None).unwrap(),
            None,
            "a snapshot header is not a marker"
        );
        for (key, value) in [
            (None, Some(&[0u8, 0, 0, 0, 0, 1][..])),
            (Some(&[0u8, 0, 0][..]), Some(&[0u8, 0, 0, 0, 0, 1][..])),
            (
                Some(&[0xff, 0xff, 0, 1][..]),
                Some(&[0u8, 0, 0, 0, 0, 1][..]),
            ),
            (Some(&[0, 0, 0, 1][..]), Some(&[0u8, 0, 0, 0, 0][..])),
            (Some(&[0, 0, 0, 1][..]), Some(&[0xff, 0, 0, 0, 0, 0][..])),
            (Some(&[0, 0, 0, 1][..]), None),
        ] {
            let err = EndTransactionMarker::parse(key, value).unwrap_err();
            assert_eq!(err.error_code(), crate::CORRUPT_MESSAGE, "{err}");
        }
    }

    /// Any key and value, and any damaged marker batch, parse to a marker, to none or
    /// to an error: never a panic (they come from the network and the disk).
    #[test]
    fn damaged_markers_never_panic() {
        for len in 0..10usize {
            for fill in [0u8, 0x7f, 0x80, 0xff] {
                let bytes = vec![fill; len];
                for (key, value) in [
                    (Some(&bytes[..]), Some(&bytes[..])),
                    (Some(&[0, 0, 0, 1][..]), Some(&bytes[..])),
                    (Some(&bytes[..]), None),
                    (None, Some(&bytes[..])),
                ] {
                    let _ = EndTransactionMarker::parse(key, value);
                }
            }
        }
        let good = EndTransactionMarker {
            commit: true,
            coordinator_epoch: 1,
        }
        .batch(1, 0, 0, 0);
        for at in 0..good.len() {
            for pattern in [0x01u8, 0x5a, 0xff] {
                let mut bytes = good.to_vec();
                bytes[at] ^= pattern;
                if let Ok(batch) = RecordBatch::new(Bytes::from(bytes)) {
                    let _ = EndTransactionMarker::of_batch(&batch);
                }
            }
        }
    }
}
