//! Record keys: an int16 record type, then the key's fields (always non-flexible).

use super::{split_version, Reader, RecordError, Writer};

/// Record type of `LegacyOffsetCommitKey` (read only).
pub const LEGACY_OFFSET_COMMIT_KEY: i16 = 0;
/// Record type of `OffsetCommitKey`.
pub const OFFSET_COMMIT_KEY: i16 = 1;
/// Record type of `GroupMetadataKey`.
pub const GROUP_METADATA_KEY: i16 = 2;
/// Record type of `ConsumerGroupMetadataKey`.
pub const CONSUMER_GROUP_METADATA_KEY: i16 = 3;
/// Record type of `ConsumerGroupPartitionMetadataKey`.
pub const CONSUMER_GROUP_PARTITION_METADATA_KEY: i16 = 4;
/// Record type of `ConsumerGroupMemberMetadataKey`.
pub const CONSUMER_GROUP_MEMBER_METADATA_KEY: i16 = 5;
/// Record type of `ConsumerGroupTargetAssignmentMetadataKey`.
pub const CONSUMER_GROUP_TARGET_ASSIGNMENT_METADATA_KEY: i16 = 6;
/// Record type of `ConsumerGroupTargetAssignmentMemberKey`.
pub const CONSUMER_GROUP_TARGET_ASSIGNMENT_MEMBER_KEY: i16 = 7;
/// Record type of `ConsumerGroupCurrentMemberAssignmentKey`.
pub const CONSUMER_GROUP_CURRENT_MEMBER_ASSIGNMENT_KEY: i16 = 8;

/// The key of a `__consumer_offsets` record: an int16 record type, then the
/// key's fields as int16-length strings and big-endian integers (see the
/// module documentation for the table of types).
///
/// ```text
/// OffsetCommit:        int16 1 | string group | string topic | int32 partition
/// GroupMetadata:       int16 2 | string group
/// ConsumerGroup* (3..=8): int16 type | string groupId [| string memberId for 5, 7, 8]
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RecordKey {
    /// Types 0 and 1: the committed offset of one partition for a group.
    OffsetCommit {
        group: String,
        topic: String,
        partition: i32,
    },
    /// Type 2: a classic group's metadata (value: [`GroupMetadataValue`](super::GroupMetadataValue)).
    GroupMetadata { group: String },
    /// Type 3: value [`ConsumerGroupMetadataValue`](super::ConsumerGroupMetadataValue).
    ConsumerGroupMetadata { group: String },
    /// Type 4: value [`ConsumerGroupPartitionMetadataValue`](super::ConsumerGroupPartitionMetadataValue).
    ConsumerGroupPartitionMetadata { group: String },
    /// Type 5: value [`ConsumerGroupMemberMetadataValue`](super::ConsumerGroupMemberMetadataValue).
    ConsumerGroupMemberMetadata { group: String, member_id: String },
    /// Type 6: value [`ConsumerGroupTargetAssignmentMetadataValue`](super::ConsumerGroupTargetAssignmentMetadataValue).
    ConsumerGroupTargetAssignmentMetadata { group: String },
    /// Type 7: value [`ConsumerGroupTargetAssignmentMemberValue`](super::ConsumerGroupTargetAssignmentMemberValue).
    ConsumerGroupTargetAssignmentMember { group: String, member_id: String },
    /// Type 8: value [`ConsumerGroupCurrentMemberAssignmentValue`](super::ConsumerGroupCurrentMemberAssignmentValue).
    ConsumerGroupCurrentMemberAssignment { group: String, member_id: String },
}

impl RecordKey {
    /// The record type this key is written with (offset commits: 1).
    pub fn record_type(&self) -> i16 {
        match self {
            RecordKey::OffsetCommit { .. } => OFFSET_COMMIT_KEY,
            RecordKey::GroupMetadata { .. } => GROUP_METADATA_KEY,
            RecordKey::ConsumerGroupMetadata { .. } => CONSUMER_GROUP_METADATA_KEY,
            RecordKey::ConsumerGroupPartitionMetadata { .. } => {
                CONSUMER_GROUP_PARTITION_METADATA_KEY
            }
            RecordKey::ConsumerGroupMemberMetadata { .. } => CONSUMER_GROUP_MEMBER_METADATA_KEY,
            RecordKey::ConsumerGroupTargetAssignmentMetadata { .. } => {
                CONSUMER_GROUP_TARGET_ASSIGNMENT_METADATA_KEY
            }
            RecordKey::ConsumerGroupTargetAssignmentMember { .. } => {
                CONSUMER_GROUP_TARGET_ASSIGNMENT_MEMBER_KEY
            }
            RecordKey::ConsumerGroupCurrentMemberAssignment { .. } => {
                CONSUMER_GROUP_CURRENT_MEMBER_ASSIGNMENT_KEY
            }
        }
    }

    /// The group this record belongs to.
    pub fn group(&self) -> &str {
        match self {
            RecordKey::OffsetCommit { group, .. }
            | RecordKey::GroupMetadata { group }
            | RecordKey::ConsumerGroupMetadata { group }
            | RecordKey::ConsumerGroupPartitionMetadata { group }
            | RecordKey::ConsumerGroupMemberMetadata { group, .. }
            | RecordKey::ConsumerGroupTargetAssignmentMetadata { group }
            | RecordKey::ConsumerGroupTargetAssignmentMember { group, .. }
            | RecordKey::ConsumerGroupCurrentMemberAssignment { group, .. } => group,
        }
    }

    /// Encodes the key (non-flexible; offset commits as type 1).
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new(self.record_type(), false);
        match self {
            RecordKey::OffsetCommit {
                group,
                topic,
                partition,
            } => {
                w.string(group);
                w.string(topic);
                w.i32(*partition);
            }
            RecordKey::GroupMetadata { group }
            | RecordKey::ConsumerGroupMetadata { group }
            | RecordKey::ConsumerGroupPartitionMetadata { group }
            | RecordKey::ConsumerGroupTargetAssignmentMetadata { group } => w.string(group),
            RecordKey::ConsumerGroupMemberMetadata { group, member_id }
            | RecordKey::ConsumerGroupTargetAssignmentMember { group, member_id }
            | RecordKey::ConsumerGroupCurrentMemberAssignment { group, member_id } => {
                w.string(group);
                w.string(member_id);
            }
        }
        w.finish()
    }

    /// Decodes a key. `Ok(None)` means a record type this module does not
    /// know (share groups, streams groups, future types): skip the record.
    pub fn decode(buf: &[u8]) -> Result<Option<RecordKey>, RecordError> {
        let (ty, rest) = split_version(buf, "record key")?;
        let record = match ty {
            LEGACY_OFFSET_COMMIT_KEY => "LegacyOffsetCommitKey",
            OFFSET_COMMIT_KEY => "OffsetCommitKey",
            GROUP_METADATA_KEY => "GroupMetadataKey",
            CONSUMER_GROUP_METADATA_KEY => "ConsumerGroupMetadataKey",
            CONSUMER_GROUP_PARTITION_METADATA_KEY => "ConsumerGroupPartitionMetadataKey",
            CONSUMER_GROUP_MEMBER_METADATA_KEY => "ConsumerGroupMemberMetadataKey",
            CONSUMER_GROUP_TARGET_ASSIGNMENT_METADATA_KEY => {
                "ConsumerGroupTargetAssignmentMetadataKey"
            }
            CONSUMER_GROUP_TARGET_ASSIGNMENT_MEMBER_KEY => "ConsumerGroupTargetAssignmentMemberKey",
            CONSUMER_GROUP_CURRENT_MEMBER_ASSIGNMENT_KEY => {
                "ConsumerGroupCurrentMemberAssignmentKey"
            }
            _ => return Ok(None),
        };
        let mut r = Reader::new(rest, record, ty, false);
        let key = match ty {
            LEGACY_OFFSET_COMMIT_KEY | OFFSET_COMMIT_KEY => RecordKey::OffsetCommit {
                group: r.string("group")?,
                topic: r.string("topic")?,
                partition: r.i32("partition")?,
            },
            GROUP_METADATA_KEY => RecordKey::GroupMetadata {
                group: r.string("group")?,
            },
            CONSUMER_GROUP_METADATA_KEY => RecordKey::ConsumerGroupMetadata {
                group: r.string("groupId")?,
            },
            CONSUMER_GROUP_PARTITION_METADATA_KEY => RecordKey::ConsumerGroupPartitionMetadata {
                group: r.string("groupId")?,
            },
            CONSUMER_GROUP_MEMBER_METADATA_KEY => RecordKey::ConsumerGroupMemberMetadata {
                group: r.string("groupId")?,
                member_id: r.string("memberId")?,
            },
            CONSUMER_GROUP_TARGET_ASSIGNMENT_METADATA_KEY => {
                RecordKey::ConsumerGroupTargetAssignmentMetadata {
                    group: r.string("groupId")?,
                }
            }
            CONSUMER_GROUP_TARGET_ASSIGNMENT_MEMBER_KEY => {
                RecordKey::ConsumerGroupTargetAssignmentMember {
                    group: r.string("groupId")?,
                    member_id: r.string("memberId")?,
                }
            }
            _ => RecordKey::ConsumerGroupCurrentMemberAssignment {
                group: r.string("groupId")?,
                member_id: r.string("memberId")?,
            },
        };
        Ok(Some(key))
    }
}
