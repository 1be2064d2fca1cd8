//! `OffsetCommitValue`: a group's committed offset for one partition.

use super::{versioned_reader, RecordError, Writer};

/// `OffsetCommitValue` (versions 0-4, flexible from 4).
///
/// ```text
/// int16  version
/// int64  offset
/// int32  leaderEpoch        v3+    (older versions: -1)
/// string metadata
/// int64  commitTimestamp
/// int64  expireTimestamp    v1 only (other versions: -1)
/// tagged fields             v4+    (none known; skipped)
/// ```
///
/// [`encode`](Self::encode) writes version 3, or version 1 when
/// `expire_timestamp != -1` (version 1 has no leader epoch, so it is lost,
/// as in Kafka).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetCommitValue {
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: String,
    pub commit_timestamp: i64,
    pub expire_timestamp: i64,
}

impl OffsetCommitValue {
    pub(super) const RECORD: &'static str = "OffsetCommitValue";

    /// Encodes as version 3 (version 1 if an expire timestamp is set).
    pub fn encode(&self) -> Vec<u8> {
        let version = if self.expire_timestamp != -1 { 1 } else { 3 };
        self.encode_version(version)
    }

    /// Encodes at `version` (clamped to 0..=4).
    pub(super) fn encode_version(&self, version: i16) -> Vec<u8> {
        let version = version.clamp(0, 4);
        let mut w = Writer::new(version, version >= 4);
        w.i64(self.offset);
        if version >= 3 {
            w.i32(self.leader_epoch);
        }
        w.string(&self.metadata);
        w.i64(self.commit_timestamp);
        if version == 1 {
            w.i64(self.expire_timestamp);
        }
        w.no_tagged_fields();
        w.finish()
    }

    /// Decodes any version 0-4.
    pub fn decode(buf: &[u8]) -> Result<Self, RecordError> {
        let mut r = versioned_reader(buf, Self::RECORD, 4, 4)?;
        let version = r.version();
        let offset = r.i64("offset")?;
        let leader_epoch = if version >= 3 {
            r.i32("leaderEpoch")?
        } else {
            -1
        };
        let metadata = r.string("metadata")?;
        let commit_timestamp = r.i64("commitTimestamp")?;
        let expire_timestamp = if version == 1 {
            r.i64("expireTimestamp")?
        } else {
            -1
        };
        r.skip_tagged_fields("_tagged_fields")?;
        Ok(OffsetCommitValue {
            offset,
            leader_epoch,
            metadata,
            commit_timestamp,
            expire_timestamp,
        })
    }
}
