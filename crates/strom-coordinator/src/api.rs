//! What the group coordinator is asked and what it answers, in plain Rust
//! types. The broker converts Kafka's wire structs to and from these, so the
//! state machine does not depend on request versions beyond the few flags
//! that change behaviour (`require_known_member_id`, ...).

use bytes::Bytes;

/// A Kafka error code (0 = none).
pub type ErrorCode = i16;

pub const NONE: ErrorCode = 0;

/// Identifies a request whose answer the shard gives later (a parked
/// JoinGroup or SyncGroup) or now; the driver maps it to the waiting caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ReplyId(pub u64);

#[derive(Debug, Clone)]
pub struct JoinGroupRequest {
    pub group_id: String,
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout_ms: i32,
    pub rebalance_timeout_ms: i32,
    pub protocol_type: String,
    /// (name, metadata) in the member's order of preference.
    pub protocols: Vec<(String, Bytes)>,
    /// JoinGroup v4+ (KIP-394): a member without an id first gets MEMBER_ID_REQUIRED.
    pub require_known_member_id: bool,
    /// JoinGroup v9+ (KIP-814): a static leader rejoining a stable group skips the assignment.
    pub supports_skip_assignment: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinGroupMember {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub metadata: Bytes,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct JoinGroupResponse {
    pub error_code: ErrorCode,
    pub generation_id: i32,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub leader: String,
    pub skip_assignment: bool,
    pub member_id: String,
    /// Filled for the leader only.
    pub members: Vec<JoinGroupMember>,
}

impl JoinGroupResponse {
    pub fn error(error_code: ErrorCode, member_id: &str) -> Self {
        JoinGroupResponse {
            error_code,
            generation_id: -1,
            member_id: member_id.to_owned(),
            ..Default::default()
        }
    }
}

#[derive(Debug, Clone)]
pub struct SyncGroupRequest {
    pub group_id: String,
    pub generation_id: i32,
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub assignments: Vec<(String, Bytes)>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SyncGroupResponse {
    pub error_code: ErrorCode,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub assignment: Bytes,
}

impl SyncGroupResponse {
    pub fn error(error_code: ErrorCode) -> Self {
        SyncGroupResponse {
            error_code,
            ..Default::default()
        }
    }
}

#[derive(Debug, Clone)]
pub struct HeartbeatRequest {
    pub group_id: String,
    pub generation_id: i32,
    pub member_id: String,
    pub group_instance_id: Option<String>,
}

#[derive(Debug, Clone)]
pub struct LeaveGroupRequest {
    pub group_id: String,
    /// (member_id, group_instance_id); v0-2 carry one member without an instance id.
    pub members: Vec<(String, Option<String>)>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LeaveGroupResponse {
    pub error_code: ErrorCode,
    /// (member_id, group_instance_id, error) in request order.
    pub members: Vec<(String, Option<String>, ErrorCode)>,
}

#[derive(Debug, Clone)]
pub struct OffsetCommitRequest {
    pub group_id: String,
    /// -1 for commits outside group management (admin clients, `assign()` consumers).
    pub generation_id_or_member_epoch: i32,
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub topics: Vec<OffsetCommitTopic>,
    /// OffsetCommit v9+ answers GROUP_ID_NOT_FOUND instead of ILLEGAL_GENERATION for a missing group.
    pub version: i16,
}

#[derive(Debug, Clone)]
pub struct OffsetCommitTopic {
    pub name: String,
    pub partitions: Vec<OffsetCommitPartition>,
}

#[derive(Debug, Clone)]
pub struct OffsetCommitPartition {
    pub partition_index: i32,
    pub committed_offset: i64,
    pub committed_leader_epoch: i32,
    pub committed_metadata: Option<String>,
    /// Set by the broker before the shard sees the request (an unknown topic, say);
    /// the shard then writes nothing for this partition and answers this code.
    pub precheck_error: ErrorCode,
}

/// TxnOffsetCommit (v0-5): offsets a transaction commits, pending until
/// the transaction's marker. Versions 0-2 carry no member fields
/// (`generation_id` -1, `member_id` empty).
#[derive(Debug, Clone)]
pub struct TxnOffsetCommitRequest {
    pub transactional_id: String,
    pub group_id: String,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub generation_id: i32,
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub topics: Vec<OffsetCommitTopic>,
}

/// (topic, [(partition, error)]) in request order.
pub type OffsetCommitResponse = Vec<(String, Vec<(i32, ErrorCode)>)>;

#[derive(Debug, Clone)]
pub struct OffsetFetchRequest {
    pub group_id: String,
    /// `None` = every partition the group has offsets for.
    pub topics: Option<Vec<(String, Vec<i32>)>>,
    /// KIP-848 (v9+): consumer group members identify themselves; empty / -1 otherwise.
    pub member_id: Option<String>,
    pub member_epoch: i32,
    /// OffsetFetch v7+ (KIP-447): partitions with pending transactional
    /// offsets answer UNSTABLE_OFFSET_COMMIT instead of the committed offset.
    pub require_stable: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetFetchPartition {
    pub partition_index: i32,
    pub committed_offset: i64,
    pub committed_leader_epoch: i32,
    pub metadata: Option<String>,
    pub error_code: ErrorCode,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OffsetFetchResponse {
    pub error_code: ErrorCode,
    pub topics: Vec<(String, Vec<OffsetFetchPartition>)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribedMember {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub member_metadata: Bytes,
    pub member_assignment: Bytes,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribedGroup {
    pub error_code: ErrorCode,
    pub error_message: Option<String>,
    pub group_id: String,
    pub group_state: String,
    pub protocol_type: String,
    pub protocol_data: String,
    pub members: Vec<DescribedMember>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedGroup {
    pub group_id: String,
    pub protocol_type: String,
    pub group_state: String,
    /// "classic" or "consumer" (ListGroups v5+, KIP-848).
    pub group_type: String,
}

#[derive(Debug, Clone)]
pub struct OffsetDeleteRequest {
    pub group_id: String,
    pub topics: Vec<(String, Vec<i32>)>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OffsetDeleteResponse {
    pub error_code: ErrorCode,
    pub topics: Vec<(String, Vec<(i32, ErrorCode)>)>,
}

/// A KIP-848 ConsumerGroupHeartbeat, already validated for shape by the broker.
#[derive(Debug, Clone)]
pub struct ConsumerHeartbeatRequest {
    pub group_id: String,
    pub member_id: String,
    pub member_epoch: i32,
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    pub rebalance_timeout_ms: i32,
    /// `None` = unchanged since the last heartbeat.
    pub subscribed_topic_names: Option<Vec<String>>,
    pub subscribed_topic_regex: Option<String>,
    pub server_assignor: Option<String>,
    /// `None` = unchanged; what the member says it owns.
    pub topic_partitions: Option<Vec<(uuid::Uuid, Vec<i32>)>>,
    pub client_id: String,
    pub client_host: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConsumerHeartbeatResponse {
    pub error_code: ErrorCode,
    pub error_message: Option<String>,
    pub member_id: Option<String>,
    pub member_epoch: i32,
    pub heartbeat_interval_ms: i32,
    /// `None` = no change to report.
    pub assignment: Option<Vec<(uuid::Uuid, Vec<i32>)>>,
}

/// A KIP-848 consumer group as ConsumerGroupDescribe shows it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConsumerGroupDescription {
    pub error_code: ErrorCode,
    pub error_message: Option<String>,
    pub group_id: String,
    pub group_state: String,
    pub group_epoch: i32,
    pub assignment_epoch: i32,
    pub assignor_name: String,
    pub members: Vec<ConsumerMemberDescription>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConsumerMemberDescription {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    pub member_epoch: i32,
    pub client_id: String,
    pub client_host: String,
    pub subscribed_topic_names: Vec<String>,
    pub subscribed_topic_regex: Option<String>,
    pub assignment: Vec<(uuid::Uuid, Vec<i32>)>,
    pub target_assignment: Vec<(uuid::Uuid, Vec<i32>)>,
}

/// Every answer the shard gives, matched to its request by `ReplyId`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    JoinGroup(JoinGroupResponse),
    SyncGroup(SyncGroupResponse),
    Heartbeat(ErrorCode),
    LeaveGroup(LeaveGroupResponse),
    OffsetCommit(OffsetCommitResponse),
    TxnOffsetCommit(OffsetCommitResponse),
    OffsetFetch(OffsetFetchResponse),
    DescribeGroups(Vec<DescribedGroup>),
    ListGroups(Vec<ListedGroup>),
    DeleteGroups(Vec<(String, ErrorCode)>),
    OffsetDelete(OffsetDeleteResponse),
    ConsumerGroupHeartbeat(ConsumerHeartbeatResponse),
    ConsumerGroupDescribe(Vec<ConsumerGroupDescription>),
}
