//! `GroupMetadataValue`: a classic group, written at the end of each rebalance.

use bytes::Bytes;

use super::{versioned_reader, RecordError, Writer};

/// `GroupMetadataValue` (versions 0-4, flexible from 4): a classic group.
///
/// ```text
/// int16            version
/// string           protocolType
/// int32            generation
/// nullable string  protocol
/// nullable string  leader
/// int64            currentStateTimestamp   v2+ (older versions: -1)
/// [MemberMetadata] members
/// tagged fields                            v4+ (none known; skipped)
/// ```
///
/// [`encode`](Self::encode) writes version 3.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMetadataValue {
    pub protocol_type: String,
    pub generation: i32,
    pub protocol: Option<String>,
    pub leader: Option<String>,
    pub current_state_timestamp: i64,
    pub members: Vec<MemberMetadata>,
}

/// One member of a [`GroupMetadataValue`].
///
/// ```text
/// string          memberId
/// nullable string groupInstanceId   v3+ (older versions: null)
/// string          clientId
/// string          clientHost
/// int32           rebalanceTimeout  v1+ (v0: the session timeout)
/// int32           sessionTimeout
/// bytes           subscription      (the JoinGroup protocol metadata)
/// bytes           assignment        (the SyncGroup assignment)
/// tagged fields                     v4+ (none known; skipped)
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberMetadata {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub rebalance_timeout: i32,
    pub session_timeout: i32,
    pub subscription: Bytes,
    pub assignment: Bytes,
}

impl GroupMetadataValue {
    pub(super) const RECORD: &'static str = "GroupMetadataValue";

    /// Encodes as version 3.
    pub fn encode(&self) -> Vec<u8> {
        self.encode_version(3)
    }

    /// Encodes at `version` (clamped to 0..=4).
    pub(super) fn encode_version(&self, version: i16) -> Vec<u8> {
        let version = version.clamp(0, 4);
        let mut w = Writer::new(version, version >= 4);
        w.string(&self.protocol_type);
        w.i32(self.generation);
        w.nullable_string(self.protocol.as_deref());
        w.nullable_string(self.leader.as_deref());
        if version >= 2 {
            w.i64(self.current_state_timestamp);
        }
        w.struct_array(&self.members, |w, m| {
            w.string(&m.member_id);
            if version >= 3 {
                w.nullable_string(m.group_instance_id.as_deref());
            }
            w.string(&m.client_id);
            w.string(&m.client_host);
            if version >= 1 {
                w.i32(m.rebalance_timeout);
            }
            w.i32(m.session_timeout);
            w.bytes(&m.subscription);
            w.bytes(&m.assignment);
            w.no_tagged_fields();
        });
        w.no_tagged_fields();
        w.finish()
    }

    /// Decodes any version 0-4.
    pub fn decode(buf: &[u8]) -> Result<Self, RecordError> {
        let mut r = versioned_reader(buf, Self::RECORD, 4, 4)?;
        let version = r.version();
        let protocol_type = r.string("protocolType")?;
        let generation = r.i32("generation")?;
        let protocol = r.nullable_string("protocol")?;
        let leader = r.nullable_string("leader")?;
        let current_state_timestamp = if version >= 2 {
            r.i64("currentStateTimestamp")?
        } else {
            -1
        };
        // A lower bound on a member's size: 3 empty strings, the session
        // timeout, 2 empty byte strings (and, flexible, a tag count).
        let min_member = if version >= 4 {
            3 + 4 + 2 + 1
        } else {
            6 + 4 + 8
        };
        let members = r.struct_array("members", min_member, |r| {
            let member_id = r.string("members.memberId")?;
            let group_instance_id = if version >= 3 {
                r.nullable_string("members.groupInstanceId")?
            } else {
                None
            };
            let client_id = r.string("members.clientId")?;
            let client_host = r.string("members.clientHost")?;
            let rebalance_timeout = if version >= 1 {
                Some(r.i32("members.rebalanceTimeout")?)
            } else {
                None
            };
            let session_timeout = r.i32("members.sessionTimeout")?;
            let subscription = r.bytes("members.subscription")?;
            let assignment = r.bytes("members.assignment")?;
            r.skip_tagged_fields("members._tagged_fields")?;
            Ok(MemberMetadata {
                member_id,
                group_instance_id,
                client_id,
                client_host,
                rebalance_timeout: rebalance_timeout.unwrap_or(session_timeout),
                session_timeout,
                subscription,
                assignment,
            })
        })?;
        r.skip_tagged_fields("_tagged_fields")?;
        Ok(GroupMetadataValue {
            protocol_type,
            generation,
            protocol,
            leader,
            current_state_timestamp,
            members,
        })
    }
}
