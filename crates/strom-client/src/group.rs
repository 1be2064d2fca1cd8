//! Consumer groups as the admin client reports them.

use bytes::Bytes;

use crate::error::ErrorCode;

/// One group from ListGroups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupListing {
    pub group_id: String,
    /// `consumer` for consumer groups; empty for groups that only commit
    /// offsets.
    pub protocol_type: String,
    /// `Empty`, `Stable`, ...; `None` from brokers older than ListGroups v4.
    pub state: Option<String>,
    /// `classic` or `consumer`; `None` from brokers older than ListGroups v5.
    pub group_type: Option<String>,
}

/// One group from DescribeGroups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupDescription {
    pub group_id: String,
    /// GROUP_ID_NOT_FOUND for an unknown group (DescribeGroups v6+; older
    /// versions answer state `Dead` instead).
    pub error: Option<ErrorCode>,
    pub error_message: Option<String>,
    pub state: String,
    pub protocol_type: String,
    /// The chosen protocol: the assignor's name for consumer groups.
    pub protocol: String,
    pub members: Vec<MemberDescription>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberDescription {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    /// The member's protocol metadata (for consumers, a
    /// ConsumerProtocolSubscription).
    pub metadata: Bytes,
    /// The member's assignment (for consumers, a ConsumerProtocolAssignment);
    /// empty while the group rebalances.
    pub assignment: Bytes,
}

/// A committed offset from OffsetFetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedOffset {
    /// `None` where the broker answered -1 (no offset).
    pub offset: Option<i64>,
    pub leader_epoch: Option<i32>,
    pub metadata: Option<String>,
    pub error: Option<ErrorCode>,
}

/// One group from ConsumerGroupDescribe: a consumer group of KIP-848's
/// protocol (`group.protocol=consumer`), whose assignment the coordinator
/// computes. DescribeGroups does not describe these groups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerGroupDescription {
    pub group_id: String,
    /// GROUP_ID_NOT_FOUND for an unknown group and for a classic group.
    pub error: Option<ErrorCode>,
    pub error_message: Option<String>,
    /// `Empty`, `Assigning`, `Reconciling`, `Stable`, `Dead`.
    pub state: String,
    /// Bumped whenever membership, subscriptions or subscribed topics change.
    pub group_epoch: i32,
    /// The group epoch the current target assignment was computed at.
    pub assignment_epoch: i32,
    /// The server-side assignor (`uniform`, `range`, ...).
    pub assignor_name: String,
    pub members: Vec<ConsumerMemberDescription>,
}

/// A member of a [`ConsumerGroupDescription`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerMemberDescription {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    pub member_epoch: i32,
    pub client_id: String,
    pub client_host: String,
    pub subscribed_topic_names: Vec<String>,
    pub subscribed_topic_regex: Option<String>,
    /// The partitions the member owns now.
    pub assignment: Vec<AssignedTopic>,
    /// The partitions the coordinator wants it to own once it has
    /// reconciled.
    pub target_assignment: Vec<AssignedTopic>,
}

/// Some partitions of one topic, in a consumer group member's assignment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssignedTopic {
    /// The topic id (a UUID) as 16 bytes.
    pub topic_id: [u8; 16],
    /// Empty when the broker could not name the topic (deleted meanwhile).
    pub topic_name: String,
    pub partitions: Vec<i32>,
}

impl AssignedTopic {
    /// The topic id in the 8-4-4-4-12 hex form.
    pub fn topic_id_string(&self) -> String {
        let hex: String = self.topic_id.iter().map(|b| format!("{b:02x}")).collect();
        format!(
            "{}-{}-{}-{}-{}",
            &hex[0..8],
            &hex[8..12],
            &hex[12..16],
            &hex[16..20],
            &hex[20..32]
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_ids_print_as_uuids() {
        let t = AssignedTopic {
            topic_id: [
                0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab,
                0xcd, 0xef,
            ],
            topic_name: String::new(),
            partitions: vec![0],
        };
        assert_eq!(t.topic_id_string(), "12345678-9abc-def0-0123-456789abcdef");
    }
}
