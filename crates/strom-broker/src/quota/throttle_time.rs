//! Which responses carry `throttle_time_ms` (most do; the brokers' own
//! requests' do not), so a request quota can set it on any of them.

use kafka_protocol::messages::*;

/// A response that may tell the client how long it is throttled.
pub(crate) trait ThrottleTime {
    const HAS_THROTTLE_TIME: bool;
    /// Sets the throttle time, keeping a larger one already set.
    fn set_throttle_time_ms(&mut self, throttle_ms: i32);
}

macro_rules! with_throttle_time {
    ($($t:ty),* $(,)?) => {$(
        impl ThrottleTime for $t {
            const HAS_THROTTLE_TIME: bool = true;
            fn set_throttle_time_ms(&mut self, throttle_ms: i32) {
                self.throttle_time_ms = self.throttle_time_ms.max(throttle_ms);
            }
        }
    )*};
}

macro_rules! without_throttle_time {
    ($($t:ty),* $(,)?) => {$(
        impl ThrottleTime for $t {
            const HAS_THROTTLE_TIME: bool = false;
            fn set_throttle_time_ms(&mut self, _throttle_ms: i32) {}
        }
    )*};
}

with_throttle_time!(
    AddOffsetsToTxnResponse,
    AddPartitionsToTxnResponse,
    AddRaftVoterResponse,
    AllocateProducerIdsResponse,
    AlterClientQuotasResponse,
    AlterConfigsResponse,
    AlterPartitionReassignmentsResponse,
    AlterPartitionResponse,
    AlterReplicaLogDirsResponse,
    AlterShareGroupOffsetsResponse,
    AlterUserScramCredentialsResponse,
    ApiVersionsResponse,
    AssignReplicasToDirsResponse,
    BrokerHeartbeatResponse,
    BrokerRegistrationResponse,
    ConsumerGroupDescribeResponse,
    ConsumerGroupHeartbeatResponse,
    ControllerRegistrationResponse,
    CreateAclsResponse,
    CreateDelegationTokenResponse,
    CreatePartitionsResponse,
    CreateTopicsResponse,
    DeleteAclsResponse,
    DeleteGroupsResponse,
    DeleteRecordsResponse,
    DeleteShareGroupOffsetsResponse,
    DeleteTopicsResponse,
    DescribeAclsResponse,
    DescribeClientQuotasResponse,
    DescribeClusterResponse,
    DescribeConfigsResponse,
    DescribeDelegationTokenResponse,
    DescribeGroupsResponse,
    DescribeLogDirsResponse,
    DescribeProducersResponse,
    DescribeShareGroupOffsetsResponse,
    DescribeTopicPartitionsResponse,
    DescribeTransactionsResponse,
    DescribeUserScramCredentialsResponse,
    ElectLeadersResponse,
    EndTxnResponse,
    ExpireDelegationTokenResponse,
    FetchSnapshotResponse,
    FindCoordinatorResponse,
    GetTelemetrySubscriptionsResponse,
    HeartbeatResponse,
    IncrementalAlterConfigsResponse,
    InitProducerIdResponse,
    JoinGroupResponse,
    LeaveGroupResponse,
    ListConfigResourcesResponse,
    ListGroupsResponse,
    ListOffsetsResponse,
    ListPartitionReassignmentsResponse,
    ListTransactionsResponse,
    MetadataResponse,
    OffsetCommitResponse,
    OffsetDeleteResponse,
    OffsetFetchResponse,
    OffsetForLeaderEpochResponse,
    PushTelemetryResponse,
    RemoveRaftVoterResponse,
    RenewDelegationTokenResponse,
    ShareAcknowledgeResponse,
    ShareFetchResponse,
    ShareGroupDescribeResponse,
    ShareGroupHeartbeatResponse,
    SyncGroupResponse,
    TxnOffsetCommitResponse,
    UnregisterBrokerResponse,
    UpdateFeaturesResponse,
    UpdateRaftVoterResponse,
);

without_throttle_time!(DescribeQuorumResponse, WriteTxnMarkersResponse);
