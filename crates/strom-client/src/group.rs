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
