//! The KIP-848 consumer group values (`ConsumerGroup*Value`, all version 0, flexible).

use bytes::Bytes;
use uuid::Uuid;

use super::{versioned_reader, Reader, RecordError, Writer};

/// Checks the version of a KIP-848 value (only version 0 exists) and returns
/// a flexible reader over its fields.
fn kip848_reader<'a>(buf: &'a [u8], record: &'static str) -> Result<Reader<'a>, RecordError> {
    versioned_reader(buf, record, 0, 0)
}

/// A topic id and partitions, the element of several KIP-848 values.
///
/// ```text
/// uuid    topicId
/// [int32] partitions
/// tagged fields
/// ```
///
/// Note: Kafka trunk (KIP-1251) adds a tagged `AssignmentEpochs` (tag 0) to
/// the `TopicPartitions` of `ConsumerGroupCurrentMemberAssignmentValue`; it
/// is skipped on decode and never written.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TopicPartitions {
    pub topic_id: Uuid,
    pub partitions: Vec<i32>,
}

/// Smallest flexible `TopicPartitions`: uuid, empty array, no tags.
const MIN_TOPIC_PARTITIONS: usize = 16 + 1 + 1;

fn read_topic_partitions(
    r: &mut Reader<'_>,
    field: &'static str,
) -> Result<Vec<TopicPartitions>, RecordError> {
    r.struct_array(field, MIN_TOPIC_PARTITIONS, |r| {
        let topic_id = r.uuid(field)?;
        let partitions = r.i32_array(field)?;
        r.skip_tagged_fields(field)?;
        Ok(TopicPartitions {
            topic_id,
            partitions,
        })
    })
}

fn write_topic_partitions(w: &mut Writer, v: &[TopicPartitions]) {
    w.struct_array(v, |w, tp| {
        w.uuid(&tp.topic_id);
        w.i32_array(&tp.partitions);
        w.no_tagged_fields();
    });
}

/// `ConsumerGroupMetadataValue` (type 3; version 0, flexible).
///
/// ```text
/// int16  version (0)
/// int32  epoch
/// tagged fields:
///   tag 0: int64 metadataHash     (KIP-1101, Kafka 4.1; default 0, written when != 0)
///   tag 1: int64 creationTimeMs   (KIP-1282, Kafka trunk; default -1, written when != -1)
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerGroupMetadataValue {
    /// The group epoch.
    pub epoch: i32,
    /// Hash of the metadata of all subscribed topics (0 = not computed).
    pub metadata_hash: i64,
    /// When the group was created, in ms since the epoch (-1 = unknown).
    pub creation_time_ms: i64,
}

impl Default for ConsumerGroupMetadataValue {
    fn default() -> Self {
        ConsumerGroupMetadataValue {
            epoch: 0,
            metadata_hash: 0,
            creation_time_ms: -1,
        }
    }
}

impl ConsumerGroupMetadataValue {
    pub(super) const RECORD: &'static str = "ConsumerGroupMetadataValue";

    /// Encodes as version 0.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new(0, true);
        w.i32(self.epoch);
        let mut tags = Vec::new();
        if self.metadata_hash != 0 {
            tags.push((0, self.metadata_hash.to_be_bytes().to_vec()));
        }
        if self.creation_time_ms != -1 {
            tags.push((1, self.creation_time_ms.to_be_bytes().to_vec()));
        }
        w.tagged_fields(&tags);
        w.finish()
    }

    /// Decodes version 0.
    pub fn decode(buf: &[u8]) -> Result<Self, RecordError> {
        let mut r = kip848_reader(buf, Self::RECORD)?;
        let mut value = ConsumerGroupMetadataValue {
            epoch: r.i32("epoch")?,
            ..Default::default()
        };
        r.tagged_fields("_tagged_fields", |r, tag, data| {
            match tag {
                0 => value.metadata_hash = r.sub(data).i64("metadataHash")?,
                1 => value.creation_time_ms = r.sub(data).i64("creationTimeMs")?,
                _ => {}
            }
            Ok(())
        })?;
        Ok(value)
    }
}

/// One topic of a [`ConsumerGroupPartitionMetadataValue`].
///
/// ```text
/// uuid                topicId
/// string              topicName
/// int32               numPartitions
/// [PartitionMetadata] partitionMetadata   (deprecated by Kafka after 4.0; kept)
/// tagged fields
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicMetadata {
    pub topic_id: Uuid,
    pub topic_name: String,
    pub num_partitions: i32,
    pub partition_metadata: Vec<PartitionMetadata>,
}

/// Racks of one partition, in a [`TopicMetadata`].
///
/// ```text
/// int32    partition
/// [string] racks
/// tagged fields
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionMetadata {
    pub partition: i32,
    pub racks: Vec<String>,
}

/// `ConsumerGroupPartitionMetadataValue` (type 4; version 0, flexible): the
/// metadata of the topics the group subscribes to, as last seen. Kafka 4.1
/// (KIP-1101) stops writing it in favour of
/// [`ConsumerGroupMetadataValue::metadata_hash`] but still reads it.
///
/// ```text
/// int16           version (0)
/// [TopicMetadata] topics
/// tagged fields
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConsumerGroupPartitionMetadataValue {
    pub topics: Vec<TopicMetadata>,
}

impl ConsumerGroupPartitionMetadataValue {
    pub(super) const RECORD: &'static str = "ConsumerGroupPartitionMetadataValue";

    /// Encodes as version 0.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new(0, true);
        w.struct_array(&self.topics, |w, t| {
            w.uuid(&t.topic_id);
            w.string(&t.topic_name);
            w.i32(t.num_partitions);
            w.struct_array(&t.partition_metadata, |w, p| {
                w.i32(p.partition);
                w.string_array(&p.racks);
                w.no_tagged_fields();
            });
            w.no_tagged_fields();
        });
        w.no_tagged_fields();
        w.finish()
    }

    /// Decodes version 0.
    pub fn decode(buf: &[u8]) -> Result<Self, RecordError> {
        let mut r = kip848_reader(buf, Self::RECORD)?;
        // Smallest topic: uuid, empty name, int32, empty array, no tags.
        let topics = r.struct_array("topics", 16 + 1 + 4 + 1 + 1, |r| {
            let topic_id = r.uuid("topics.topicId")?;
            let topic_name = r.string("topics.topicName")?;
            let num_partitions = r.i32("topics.numPartitions")?;
            let partition_metadata =
                r.struct_array("topics.partitionMetadata", 4 + 1 + 1, |r| {
                    let partition = r.i32("topics.partitionMetadata.partition")?;
                    let racks = r.string_array("topics.partitionMetadata.racks")?;
                    r.skip_tagged_fields("topics.partitionMetadata._tagged_fields")?;
                    Ok(PartitionMetadata { partition, racks })
                })?;
            r.skip_tagged_fields("topics._tagged_fields")?;
            Ok(TopicMetadata {
                topic_id,
                topic_name,
                num_partitions,
                partition_metadata,
            })
        })?;
        r.skip_tagged_fields("_tagged_fields")?;
        Ok(ConsumerGroupPartitionMetadataValue { topics })
    }
}

/// The classic-protocol part of a KIP-848 member that joined with the
/// classic protocol (JoinGroup/SyncGroup) into a consumer group.
///
/// ```text
/// int32             sessionTimeoutMs
/// [ClassicProtocol] supportedProtocols
/// tagged fields
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClassicMemberMetadata {
    pub session_timeout_ms: i32,
    pub supported_protocols: Vec<ClassicProtocol>,
}

/// One protocol a classic member supports.
///
/// ```text
/// string name
/// bytes  metadata
/// tagged fields
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClassicProtocol {
    pub name: String,
    pub metadata: Bytes,
}

/// `ConsumerGroupMemberMetadataValue` (type 5; version 0, flexible).
///
/// ```text
/// int16           version (0)
/// nullable string instanceId
/// nullable string rackId
/// string          clientId
/// string          clientHost
/// [string]        subscribedTopicNames
/// nullable string subscribedTopicRegex
/// int32           rebalanceTimeoutMs      (default -1)
/// nullable string serverAssignor
/// tagged fields:
///   tag 0: nullable ClassicMemberMetadata (written when Some, as varint 1 + struct)
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerGroupMemberMetadataValue {
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub subscribed_topic_names: Vec<String>,
    pub subscribed_topic_regex: Option<String>,
    pub rebalance_timeout_ms: i32,
    pub server_assignor: Option<String>,
    pub classic_member_metadata: Option<ClassicMemberMetadata>,
}

impl Default for ConsumerGroupMemberMetadataValue {
    fn default() -> Self {
        ConsumerGroupMemberMetadataValue {
            instance_id: None,
            rack_id: None,
            client_id: String::new(),
            client_host: String::new(),
            subscribed_topic_names: Vec::new(),
            subscribed_topic_regex: None,
            rebalance_timeout_ms: -1,
            server_assignor: None,
            classic_member_metadata: None,
        }
    }
}

impl ConsumerGroupMemberMetadataValue {
    pub(super) const RECORD: &'static str = "ConsumerGroupMemberMetadataValue";

    /// Encodes as version 0.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new(0, true);
        w.nullable_string(self.instance_id.as_deref());
        w.nullable_string(self.rack_id.as_deref());
        w.string(&self.client_id);
        w.string(&self.client_host);
        w.string_array(&self.subscribed_topic_names);
        w.nullable_string(self.subscribed_topic_regex.as_deref());
        w.i32(self.rebalance_timeout_ms);
        w.nullable_string(self.server_assignor.as_deref());
        let mut tags = Vec::new();
        if let Some(classic) = &self.classic_member_metadata {
            let mut t = Writer::nested(true);
            t.uvarint(1); // non-null marker of a tagged nullable struct
            t.i32(classic.session_timeout_ms);
            t.struct_array(&classic.supported_protocols, |w, p| {
                w.string(&p.name);
                w.bytes(&p.metadata);
                w.no_tagged_fields();
            });
            t.no_tagged_fields();
            tags.push((0, t.finish()));
        }
        w.tagged_fields(&tags);
        w.finish()
    }

    /// Decodes version 0.
    pub fn decode(buf: &[u8]) -> Result<Self, RecordError> {
        let mut r = kip848_reader(buf, Self::RECORD)?;
        let mut value = ConsumerGroupMemberMetadataValue {
            instance_id: r.nullable_string("instanceId")?,
            rack_id: r.nullable_string("rackId")?,
            client_id: r.string("clientId")?,
            client_host: r.string("clientHost")?,
            subscribed_topic_names: r.string_array("subscribedTopicNames")?,
            subscribed_topic_regex: r.nullable_string("subscribedTopicRegex")?,
            rebalance_timeout_ms: r.i32("rebalanceTimeoutMs")?,
            server_assignor: r.nullable_string("serverAssignor")?,
            classic_member_metadata: None,
        };
        r.tagged_fields("_tagged_fields", |r, tag, data| {
            if tag == 0 {
                value.classic_member_metadata = read_classic_member_metadata(&mut r.sub(data))?;
            }
            Ok(())
        })?;
        Ok(value)
    }
}

fn read_classic_member_metadata(
    r: &mut Reader<'_>,
) -> Result<Option<ClassicMemberMetadata>, RecordError> {
    if r.uvarint("classicMemberMetadata")? == 0 {
        return Ok(None);
    }
    let session_timeout_ms = r.i32("classicMemberMetadata.sessionTimeoutMs")?;
    let supported_protocols =
        r.struct_array("classicMemberMetadata.supportedProtocols", 1 + 1 + 1, |r| {
            let name = r.string("classicMemberMetadata.supportedProtocols.name")?;
            let metadata = r.bytes("classicMemberMetadata.supportedProtocols.metadata")?;
            r.skip_tagged_fields("classicMemberMetadata.supportedProtocols._tagged_fields")?;
            Ok(ClassicProtocol { name, metadata })
        })?;
    r.skip_tagged_fields("classicMemberMetadata._tagged_fields")?;
    Ok(Some(ClassicMemberMetadata {
        session_timeout_ms,
        supported_protocols,
    }))
}

/// `ConsumerGroupTargetAssignmentMetadataValue` (type 6; version 0, flexible).
///
/// ```text
/// int16 version (0)
/// int32 assignmentEpoch
/// tagged fields
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConsumerGroupTargetAssignmentMetadataValue {
    pub assignment_epoch: i32,
}

impl ConsumerGroupTargetAssignmentMetadataValue {
    pub(super) const RECORD: &'static str = "ConsumerGroupTargetAssignmentMetadataValue";

    /// Encodes as version 0.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new(0, true);
        w.i32(self.assignment_epoch);
        w.no_tagged_fields();
        w.finish()
    }

    /// Decodes version 0.
    pub fn decode(buf: &[u8]) -> Result<Self, RecordError> {
        let mut r = kip848_reader(buf, Self::RECORD)?;
        let assignment_epoch = r.i32("assignmentEpoch")?;
        r.skip_tagged_fields("_tagged_fields")?;
        Ok(ConsumerGroupTargetAssignmentMetadataValue { assignment_epoch })
    }
}

/// `ConsumerGroupTargetAssignmentMemberValue` (type 7; version 0, flexible).
///
/// ```text
/// int16             version (0)
/// [TopicPartitions] topicPartitions
/// tagged fields
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConsumerGroupTargetAssignmentMemberValue {
    pub topic_partitions: Vec<TopicPartitions>,
}

impl ConsumerGroupTargetAssignmentMemberValue {
    pub(super) const RECORD: &'static str = "ConsumerGroupTargetAssignmentMemberValue";

    /// Encodes as version 0.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new(0, true);
        write_topic_partitions(&mut w, &self.topic_partitions);
        w.no_tagged_fields();
        w.finish()
    }

    /// Decodes version 0.
    pub fn decode(buf: &[u8]) -> Result<Self, RecordError> {
        let mut r = kip848_reader(buf, Self::RECORD)?;
        let topic_partitions = read_topic_partitions(&mut r, "topicPartitions")?;
        r.skip_tagged_fields("_tagged_fields")?;
        Ok(ConsumerGroupTargetAssignmentMemberValue { topic_partitions })
    }
}

/// `ConsumerGroupCurrentMemberAssignmentValue` (type 8; version 0, flexible).
///
/// ```text
/// int16             version (0)
/// int32             memberEpoch
/// int32             previousMemberEpoch
/// int8              state          (Kafka's MemberState: 0 stable, 1 unrevoked
///                                   partitions, 2 unreleased partitions, 127 unknown)
/// [TopicPartitions] assignedPartitions
/// [TopicPartitions] partitionsPendingRevocation
/// tagged fields
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConsumerGroupCurrentMemberAssignmentValue {
    pub member_epoch: i32,
    pub previous_member_epoch: i32,
    pub state: i8,
    pub assigned_partitions: Vec<TopicPartitions>,
    pub partitions_pending_revocation: Vec<TopicPartitions>,
}

impl ConsumerGroupCurrentMemberAssignmentValue {
    pub(super) const RECORD: &'static str = "ConsumerGroupCurrentMemberAssignmentValue";

    /// Encodes as version 0.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new(0, true);
        w.i32(self.member_epoch);
        w.i32(self.previous_member_epoch);
        w.i8(self.state);
        write_topic_partitions(&mut w, &self.assigned_partitions);
        write_topic_partitions(&mut w, &self.partitions_pending_revocation);
        w.no_tagged_fields();
        w.finish()
    }

    /// Decodes version 0.
    pub fn decode(buf: &[u8]) -> Result<Self, RecordError> {
        let mut r = kip848_reader(buf, Self::RECORD)?;
        let member_epoch = r.i32("memberEpoch")?;
        let previous_member_epoch = r.i32("previousMemberEpoch")?;
        let state = r.i8("state")?;
        let assigned_partitions = read_topic_partitions(&mut r, "assignedPartitions")?;
        let partitions_pending_revocation =
            read_topic_partitions(&mut r, "partitionsPendingRevocation")?;
        r.skip_tagged_fields("_tagged_fields")?;
        Ok(ConsumerGroupCurrentMemberAssignmentValue {
            member_epoch,
            previous_member_epoch,
            state,
            assigned_partitions,
            partitions_pending_revocation,
        })
    }
}
