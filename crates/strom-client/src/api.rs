//! Which request types this client sends, and the versions of each it can
//! build and read. The version used on a connection is the highest one in
//! both this table and the broker's ApiVersions answer.

use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable};

/// A request message with its API key and response type.
pub trait ApiRequest: Encodable {
    const API_KEY: ApiKey;
    type Response: Decodable;
}

macro_rules! api_requests {
    ($($key:ident: $req:ident => $resp:ident;)*) => {
        $(impl ApiRequest for $req {
            const API_KEY: ApiKey = ApiKey::$key;
            type Response = $resp;
        })*
    };
}

api_requests! {
    Produce: ProduceRequest => ProduceResponse;
    Fetch: FetchRequest => FetchResponse;
    OffsetForLeaderEpoch: OffsetForLeaderEpochRequest => OffsetForLeaderEpochResponse;
    ListOffsets: ListOffsetsRequest => ListOffsetsResponse;
    Metadata: MetadataRequest => MetadataResponse;
    OffsetCommit: OffsetCommitRequest => OffsetCommitResponse;
    OffsetFetch: OffsetFetchRequest => OffsetFetchResponse;
    FindCoordinator: FindCoordinatorRequest => FindCoordinatorResponse;
    JoinGroup: JoinGroupRequest => JoinGroupResponse;
    Heartbeat: HeartbeatRequest => HeartbeatResponse;
    LeaveGroup: LeaveGroupRequest => LeaveGroupResponse;
    SyncGroup: SyncGroupRequest => SyncGroupResponse;
    DescribeGroups: DescribeGroupsRequest => DescribeGroupsResponse;
    ListGroups: ListGroupsRequest => ListGroupsResponse;
    ApiVersions: ApiVersionsRequest => ApiVersionsResponse;
    CreateTopics: CreateTopicsRequest => CreateTopicsResponse;
    DeleteTopics: DeleteTopicsRequest => DeleteTopicsResponse;
    DescribeConfigs: DescribeConfigsRequest => DescribeConfigsResponse;
    DescribeLogDirs: DescribeLogDirsRequest => DescribeLogDirsResponse;
    DeleteGroups: DeleteGroupsRequest => DeleteGroupsResponse;
    OffsetDelete: OffsetDeleteRequest => OffsetDeleteResponse;
    ConsumerGroupHeartbeat: ConsumerGroupHeartbeatRequest => ConsumerGroupHeartbeatResponse;
    ConsumerGroupDescribe: ConsumerGroupDescribeRequest => ConsumerGroupDescribeResponse;
    DescribeQuorum: DescribeQuorumRequest => DescribeQuorumResponse;
    DescribeCluster: DescribeClusterRequest => DescribeClusterResponse;
    AddRaftVoter: AddRaftVoterRequest => AddRaftVoterResponse;
    RemoveRaftVoter: RemoveRaftVoterRequest => RemoveRaftVoterResponse;
    AddPartitionsToTxn: AddPartitionsToTxnRequest => AddPartitionsToTxnResponse;
    ElectLeaders: ElectLeadersRequest => ElectLeadersResponse;
    AlterPartitionReassignments: AlterPartitionReassignmentsRequest => AlterPartitionReassignmentsResponse;
    ListPartitionReassignments: ListPartitionReassignmentsRequest => ListPartitionReassignmentsResponse;
    ListTransactions: ListTransactionsRequest => ListTransactionsResponse;
    SaslHandshake: SaslHandshakeRequest => SaslHandshakeResponse;
    SaslAuthenticate: SaslAuthenticateRequest => SaslAuthenticateResponse;
    DescribeUserScramCredentials: DescribeUserScramCredentialsRequest => DescribeUserScramCredentialsResponse;
    AlterUserScramCredentials: AlterUserScramCredentialsRequest => AlterUserScramCredentialsResponse;
    DescribeTransactions: DescribeTransactionsRequest => DescribeTransactionsResponse;
    DescribeProducers: DescribeProducersRequest => DescribeProducersResponse;
    WriteTxnMarkers: WriteTxnMarkersRequest => WriteTxnMarkersResponse;
    InitProducerId: InitProducerIdRequest => InitProducerIdResponse;
    IncrementalAlterConfigs: IncrementalAlterConfigsRequest => IncrementalAlterConfigsResponse;
    DeleteRecords: DeleteRecordsRequest => DeleteRecordsResponse;
    DescribeClientQuotas: DescribeClientQuotasRequest => DescribeClientQuotasResponse;
    AlterClientQuotas: AlterClientQuotasRequest => AlterClientQuotasResponse;
    CreateAcls: CreateAclsRequest => CreateAclsResponse;
    DescribeAcls: DescribeAclsRequest => DescribeAclsResponse;
    DeleteAcls: DeleteAclsRequest => DeleteAclsResponse;
}

/// (api, lowest, highest) version this client implements. Bounds below the
/// codec's: OffsetFetch v1 cannot ask for all topics; Produce v13+,
/// Metadata v13+ and ListOffsets v10+ are left out until something needs
/// their additions (topic ids, timeouts).
pub const CLIENT_VERSIONS: &[(ApiKey, i16, i16)] = &[
    (ApiKey::Produce, 3, 12),
    // v12+: diverging epochs; v15+ carries a follower's id in ReplicaState.
    (ApiKey::Fetch, 12, 17),
    (ApiKey::OffsetForLeaderEpoch, 2, 4),
    (ApiKey::ListOffsets, 1, 9),
    (ApiKey::Metadata, 1, 12),
    (ApiKey::OffsetCommit, 2, 9),
    (ApiKey::OffsetFetch, 2, 9),
    (ApiKey::FindCoordinator, 0, 6),
    (ApiKey::JoinGroup, 0, 9),
    (ApiKey::Heartbeat, 0, 4),
    (ApiKey::LeaveGroup, 0, 5),
    (ApiKey::SyncGroup, 0, 5),
    (ApiKey::DescribeGroups, 0, 6),
    (ApiKey::ListGroups, 0, 5),
    (ApiKey::ApiVersions, 0, 4),
    (ApiKey::CreateTopics, 2, 7),
    (ApiKey::DeleteTopics, 1, 6),
    (ApiKey::DescribeConfigs, 1, 4),
    (ApiKey::DescribeLogDirs, 1, 4),
    (ApiKey::DeleteGroups, 0, 2),
    (ApiKey::OffsetDelete, 0, 0),
    (ApiKey::ConsumerGroupHeartbeat, 0, 1),
    (ApiKey::ConsumerGroupDescribe, 0, 1),
    (ApiKey::DescribeQuorum, 0, 2),
    (ApiKey::DescribeCluster, 0, 2),
    (ApiKey::AddRaftVoter, 0, 0),
    (ApiKey::RemoveRaftVoter, 0, 0),
    // Broker to broker: KIP-890 verification (v4+: `verify_only`).
    (ApiKey::AddPartitionsToTxn, 4, 5),
    (ApiKey::ElectLeaders, 0, 2),
    (ApiKey::AlterPartitionReassignments, 0, 0),
    (ApiKey::ListPartitionReassignments, 0, 0),
    // v1+: the duration filter (KIP-994); v2+: the transactional id pattern.
    (ApiKey::ListTransactions, 0, 2),
    (ApiKey::SaslHandshake, 1, 1),
    (ApiKey::SaslAuthenticate, 0, 2),
    (ApiKey::DescribeUserScramCredentials, 0, 0),
    (ApiKey::AlterUserScramCredentials, 0, 0),
    (ApiKey::DescribeTransactions, 0, 0),
    (ApiKey::DescribeProducers, 0, 0),
    // v0 was removed in Kafka 4.0; the codec has v1 only.
    (ApiKey::WriteTxnMarkers, 1, 1),
    // The idempotent producer's id and epoch (no transactional id).
    (ApiKey::InitProducerId, 0, 5),
    (ApiKey::IncrementalAlterConfigs, 0, 1),
    (ApiKey::DeleteRecords, 0, 2),
    (ApiKey::DescribeClientQuotas, 0, 1),
    (ApiKey::AlterClientQuotas, 0, 1),
    // Kafka 4 removed v0 of the ACL APIs.
    (ApiKey::CreateAcls, 1, 3),
    (ApiKey::DescribeAcls, 1, 3),
    (ApiKey::DeleteAcls, 1, 3),
];

/// The versions of `api` this client implements.
pub fn client_versions(api: ApiKey) -> Option<(i16, i16)> {
    CLIENT_VERSIONS
        .iter()
        .find(|(k, _, _)| *k == api)
        .map(|&(_, min, max)| (min, max))
}

/// The highest version in both ranges.
pub fn highest_common(client: (i16, i16), broker: (i16, i16)) -> Option<i16> {
    let high = client.1.min(broker.1);
    (high >= client.0.max(broker.0)).then_some(high)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::protocol::Message;

    #[test]
    fn client_ranges_are_within_what_the_codec_encodes() {
        fn codec(api: ApiKey) -> (i16, i16) {
            let r = match api {
                ApiKey::Produce => ProduceRequest::VERSIONS,
                ApiKey::Fetch => FetchRequest::VERSIONS,
                ApiKey::OffsetForLeaderEpoch => OffsetForLeaderEpochRequest::VERSIONS,
                ApiKey::ListOffsets => ListOffsetsRequest::VERSIONS,
                ApiKey::Metadata => MetadataRequest::VERSIONS,
                ApiKey::OffsetCommit => OffsetCommitRequest::VERSIONS,
                ApiKey::OffsetFetch => OffsetFetchRequest::VERSIONS,
                ApiKey::FindCoordinator => FindCoordinatorRequest::VERSIONS,
                ApiKey::JoinGroup => JoinGroupRequest::VERSIONS,
                ApiKey::Heartbeat => HeartbeatRequest::VERSIONS,
                ApiKey::LeaveGroup => LeaveGroupRequest::VERSIONS,
                ApiKey::SyncGroup => SyncGroupRequest::VERSIONS,
                ApiKey::DescribeGroups => DescribeGroupsRequest::VERSIONS,
                ApiKey::ListGroups => ListGroupsRequest::VERSIONS,
                ApiKey::ApiVersions => ApiVersionsRequest::VERSIONS,
                ApiKey::CreateTopics => CreateTopicsRequest::VERSIONS,
                ApiKey::DeleteTopics => DeleteTopicsRequest::VERSIONS,
                ApiKey::DescribeConfigs => DescribeConfigsRequest::VERSIONS,
                ApiKey::DescribeLogDirs => DescribeLogDirsRequest::VERSIONS,
                ApiKey::DeleteGroups => DeleteGroupsRequest::VERSIONS,
                ApiKey::OffsetDelete => OffsetDeleteRequest::VERSIONS,
                ApiKey::ConsumerGroupHeartbeat => ConsumerGroupHeartbeatRequest::VERSIONS,
                ApiKey::ConsumerGroupDescribe => ConsumerGroupDescribeRequest::VERSIONS,
                ApiKey::DescribeQuorum => DescribeQuorumRequest::VERSIONS,
                ApiKey::DescribeCluster => DescribeClusterRequest::VERSIONS,
                ApiKey::AddRaftVoter => AddRaftVoterRequest::VERSIONS,
                ApiKey::RemoveRaftVoter => RemoveRaftVoterRequest::VERSIONS,
                ApiKey::AddPartitionsToTxn => AddPartitionsToTxnRequest::VERSIONS,
                ApiKey::ElectLeaders => ElectLeadersRequest::VERSIONS,
                ApiKey::AlterPartitionReassignments => AlterPartitionReassignmentsRequest::VERSIONS,
                ApiKey::ListPartitionReassignments => ListPartitionReassignmentsRequest::VERSIONS,
                ApiKey::ListTransactions => ListTransactionsRequest::VERSIONS,
                ApiKey::SaslHandshake => SaslHandshakeRequest::VERSIONS,
                ApiKey::SaslAuthenticate => SaslAuthenticateRequest::VERSIONS,
                ApiKey::DescribeUserScramCredentials => {
                    DescribeUserScramCredentialsRequest::VERSIONS
                }
                ApiKey::AlterUserScramCredentials => AlterUserScramCredentialsRequest::VERSIONS,
                ApiKey::DescribeTransactions => DescribeTransactionsRequest::VERSIONS,
                ApiKey::DescribeProducers => DescribeProducersRequest::VERSIONS,
                ApiKey::WriteTxnMarkers => WriteTxnMarkersRequest::VERSIONS,
                ApiKey::InitProducerId => InitProducerIdRequest::VERSIONS,
                ApiKey::IncrementalAlterConfigs => IncrementalAlterConfigsRequest::VERSIONS,
                ApiKey::DeleteRecords => DeleteRecordsRequest::VERSIONS,
                ApiKey::DescribeClientQuotas => DescribeClientQuotasRequest::VERSIONS,
                ApiKey::AlterClientQuotas => AlterClientQuotasRequest::VERSIONS,
                ApiKey::CreateAcls => CreateAclsRequest::VERSIONS,
                ApiKey::DescribeAcls => DescribeAclsRequest::VERSIONS,
                ApiKey::DeleteAcls => DeleteAclsRequest::VERSIONS,
                other => panic!("no codec range listed for {other:?}"),
            };
            (r.min, r.max)
        }
        for &(api, min, max) in CLIENT_VERSIONS {
            let (cmin, cmax) = codec(api);
            assert!(
                cmin <= min && max <= cmax,
                "{api:?} {min}..={max}, codec {cmin}..={cmax}"
            );
        }
    }

    #[test]
    fn the_highest_version_both_support_is_chosen() {
        assert_eq!(highest_common((0, 5), (0, 3)), Some(3));
        assert_eq!(highest_common((2, 9), (1, 9)), Some(9));
        assert_eq!(highest_common((4, 5), (0, 3)), None);
        assert_eq!(highest_common((0, 2), (3, 6)), None);
        assert_eq!(highest_common((0, 0), (0, 0)), Some(0));
    }
}
