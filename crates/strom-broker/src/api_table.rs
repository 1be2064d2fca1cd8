//! What this broker advertises in ApiVersions: only APIs that really work,
//! with the version ranges the handlers implement.

use kafka_protocol::messages::ApiKey;

/// (api, min version, max version). Produce is advertised from v0 as Kafka 4
/// does: librdkafka (up to 2.11, Debian's kcat included) disables
/// compression when Produce's advertised minimum is above 0. Requests at
/// v0-v2 are answered with UNSUPPORTED_VERSION, as Kafka 4 does. The ranges
/// are Kafka 4.1's where Strom implements the API (tests/compat/test_api_versions.py
/// pins them).
pub(crate) const SUPPORTED_APIS: &[(ApiKey, i16, i16)] = &[
    // v13 names topics by id (KIP-516, Kafka 4.1).
    (ApiKey::Produce, 0, 13),
    (ApiKey::Fetch, 4, 17),
    // v10 adds timeout_ms (KIP-1075), which bounds lookups in remote
    // (tiered) storage; without tiered storage every answer is immediate.
    (ApiKey::ListOffsets, 1, 10),
    // v13 adds a top-level error code, for REBOOTSTRAP_REQUIRED (KIP-1102),
    // which a broker without rebootstrap triggers never sends.
    (ApiKey::Metadata, 0, 13),
    // KIP-320: clients detect truncation after a failover. Kafka 4 removed v0-v1.
    (ApiKey::OffsetForLeaderEpoch, 2, 4),
    (ApiKey::FindCoordinator, 0, 6),
    (ApiKey::ApiVersions, 0, 4),
    (ApiKey::CreateTopics, 2, 7),
    (ApiKey::DeleteTopics, 1, 6),
    (ApiKey::DescribeConfigs, 1, 4),
    (ApiKey::CreatePartitions, 0, 3),
    // Partition leadership and reassignment, decided by the active controller.
    (ApiKey::ElectLeaders, 0, 2),
    (ApiKey::AlterPartitionReassignments, 0, 0),
    (ApiKey::ListPartitionReassignments, 0, 0),
    (ApiKey::DescribeCluster, 0, 2),
    // KIP-966: topics and partitions a page at a time (max.request.partition.size.limit).
    (ApiKey::DescribeTopicPartitions, 0, 0),
    // The controller quorum (kafka-metadata-quorum.sh), asked of the active controller.
    (ApiKey::DescribeQuorum, 0, 2),
    // KIP-853: change the controller quorum's voters at runtime.
    (ApiKey::AddRaftVoter, 0, 0),
    (ApiKey::RemoveRaftVoter, 0, 0),
    (ApiKey::InitProducerId, 0, 5),
    // The classic group protocol from v0: librdkafka enables its balanced
    // consumer only when JoinGroup, SyncGroup, Heartbeat and LeaveGroup v0,
    // OffsetCommit v1-2 and OffsetFetch v1 overlap the broker's ranges.
    (ApiKey::JoinGroup, 0, 9),
    (ApiKey::SyncGroup, 0, 5),
    (ApiKey::Heartbeat, 0, 4),
    (ApiKey::LeaveGroup, 0, 5),
    (ApiKey::OffsetCommit, 2, 9),
    (ApiKey::OffsetFetch, 1, 9),
    (ApiKey::DescribeGroups, 0, 6),
    (ApiKey::ListGroups, 0, 5),
    (ApiKey::DeleteGroups, 0, 2),
    (ApiKey::OffsetDelete, 0, 0),
    // Transactional offsets (KIP-98; member checks from v3, KIP-447); a v5
    // request also adds the group's partition to the transaction (KIP-890
    // part 2, in place of AddOffsetsToTxn).
    (ApiKey::TxnOffsetCommit, 0, 5),
    (ApiKey::DeleteRecords, 0, 2),
    // Kafka 4 removed v0.
    (ApiKey::DescribeLogDirs, 1, 4),
    // Topic configs and dynamic broker configs (KIP-226).
    (ApiKey::AlterConfigs, 0, 2),
    (ApiKey::IncrementalAlterConfigs, 0, 1),
    // KIP-848 consumer groups (server-side assignors uniform and range).
    (ApiKey::ConsumerGroupHeartbeat, 0, 1),
    (ApiKey::ConsumerGroupDescribe, 0, 1),
    // Transactions, the partition leader's side: markers from the transaction
    // coordinator, and the producers a partition remembers (KIP-664).
    (ApiKey::WriteTxnMarkers, 1, 1),
    (ApiKey::DescribeProducers, 0, 0),
    // The transaction coordinator. AddPartitionsToTxn v4+ is the batched
    // broker form (KIP-890 verification); EndTxn v5 is transactions v2.
    (ApiKey::AddPartitionsToTxn, 0, 5),
    (ApiKey::AddOffsetsToTxn, 0, 4),
    (ApiKey::EndTxn, 0, 5),
    (ApiKey::DescribeTransactions, 0, 0),
    (ApiKey::ListTransactions, 0, 2),
    // SASL (`sasl/`): v0 of the handshake is followed by bare tokens;
    // SaslAuthenticate v1 adds the session lifetime (KIP-368).
    (ApiKey::SaslHandshake, 0, 1),
    (ApiKey::SaslAuthenticate, 0, 2),
    // SCRAM credentials in the metadata log (KIP-554).
    (ApiKey::DescribeUserScramCredentials, 0, 0),
    (ApiKey::AlterUserScramCredentials, 0, 0),
    // Client quotas (KIP-546), stored in the metadata log.
    (ApiKey::DescribeClientQuotas, 0, 1),
    (ApiKey::AlterClientQuotas, 0, 1),
    // ACLs for the built-in authorizer (Kafka 4 removed v0).
    (ApiKey::CreateAcls, 1, 3),
    (ApiKey::DescribeAcls, 1, 3),
    (ApiKey::DeleteAcls, 1, 3),
];

/// Lowest Produce version the handler decodes; below it the answer is
/// UNSUPPORTED_VERSION.
pub(crate) const PRODUCE_MIN_DECODED_VERSION: i16 = 3;

pub(crate) fn supported_range(api: ApiKey) -> Option<(i16, i16)> {
    SUPPORTED_APIS
        .iter()
        .find(|(k, _, _)| *k == api)
        .map(|&(_, min, max)| (min, max))
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::protocol::Message;

    #[test]
    fn advertised_ranges_are_within_what_the_codec_can_decode() {
        use kafka_protocol::messages::*;
        fn codec(api: ApiKey) -> (i16, i16) {
            let r = match api {
                ApiKey::Produce => ProduceRequest::VERSIONS,
                ApiKey::Fetch => FetchRequest::VERSIONS,
                ApiKey::ListOffsets => ListOffsetsRequest::VERSIONS,
                ApiKey::Metadata => MetadataRequest::VERSIONS,
                ApiKey::OffsetForLeaderEpoch => OffsetForLeaderEpochRequest::VERSIONS,
                ApiKey::FindCoordinator => FindCoordinatorRequest::VERSIONS,
                ApiKey::ApiVersions => ApiVersionsRequest::VERSIONS,
                ApiKey::CreateTopics => CreateTopicsRequest::VERSIONS,
                ApiKey::DeleteTopics => DeleteTopicsRequest::VERSIONS,
                ApiKey::DescribeConfigs => DescribeConfigsRequest::VERSIONS,
                ApiKey::CreatePartitions => CreatePartitionsRequest::VERSIONS,
                ApiKey::ElectLeaders => ElectLeadersRequest::VERSIONS,
                ApiKey::AlterPartitionReassignments => AlterPartitionReassignmentsRequest::VERSIONS,
                ApiKey::ListPartitionReassignments => ListPartitionReassignmentsRequest::VERSIONS,
                ApiKey::DescribeCluster => DescribeClusterRequest::VERSIONS,
                ApiKey::DescribeTopicPartitions => DescribeTopicPartitionsRequest::VERSIONS,
                ApiKey::DescribeQuorum => DescribeQuorumRequest::VERSIONS,
                ApiKey::AddRaftVoter => AddRaftVoterRequest::VERSIONS,
                ApiKey::RemoveRaftVoter => RemoveRaftVoterRequest::VERSIONS,
                ApiKey::InitProducerId => InitProducerIdRequest::VERSIONS,
                ApiKey::JoinGroup => JoinGroupRequest::VERSIONS,
                ApiKey::SyncGroup => SyncGroupRequest::VERSIONS,
                ApiKey::Heartbeat => HeartbeatRequest::VERSIONS,
                ApiKey::LeaveGroup => LeaveGroupRequest::VERSIONS,
                ApiKey::OffsetCommit => OffsetCommitRequest::VERSIONS,
                ApiKey::OffsetFetch => OffsetFetchRequest::VERSIONS,
                ApiKey::DescribeGroups => DescribeGroupsRequest::VERSIONS,
                ApiKey::ListGroups => ListGroupsRequest::VERSIONS,
                ApiKey::DeleteGroups => DeleteGroupsRequest::VERSIONS,
                ApiKey::OffsetDelete => OffsetDeleteRequest::VERSIONS,
                ApiKey::TxnOffsetCommit => TxnOffsetCommitRequest::VERSIONS,
                ApiKey::ConsumerGroupHeartbeat => ConsumerGroupHeartbeatRequest::VERSIONS,
                ApiKey::AlterConfigs => AlterConfigsRequest::VERSIONS,
                ApiKey::DeleteRecords => DeleteRecordsRequest::VERSIONS,
                ApiKey::DescribeLogDirs => DescribeLogDirsRequest::VERSIONS,
                ApiKey::IncrementalAlterConfigs => IncrementalAlterConfigsRequest::VERSIONS,
                ApiKey::ConsumerGroupDescribe => ConsumerGroupDescribeRequest::VERSIONS,
                ApiKey::WriteTxnMarkers => WriteTxnMarkersRequest::VERSIONS,
                ApiKey::DescribeProducers => DescribeProducersRequest::VERSIONS,
                ApiKey::AddPartitionsToTxn => AddPartitionsToTxnRequest::VERSIONS,
                ApiKey::AddOffsetsToTxn => AddOffsetsToTxnRequest::VERSIONS,
                ApiKey::EndTxn => EndTxnRequest::VERSIONS,
                ApiKey::DescribeTransactions => DescribeTransactionsRequest::VERSIONS,
                ApiKey::ListTransactions => ListTransactionsRequest::VERSIONS,
                ApiKey::SaslHandshake => SaslHandshakeRequest::VERSIONS,
                ApiKey::SaslAuthenticate => SaslAuthenticateRequest::VERSIONS,
                ApiKey::DescribeUserScramCredentials => {
                    DescribeUserScramCredentialsRequest::VERSIONS
                }
                ApiKey::AlterUserScramCredentials => AlterUserScramCredentialsRequest::VERSIONS,
                ApiKey::DescribeClientQuotas => DescribeClientQuotasRequest::VERSIONS,
                ApiKey::AlterClientQuotas => AlterClientQuotasRequest::VERSIONS,
                ApiKey::CreateAcls => CreateAclsRequest::VERSIONS,
                ApiKey::DescribeAcls => DescribeAclsRequest::VERSIONS,
                ApiKey::DeleteAcls => DeleteAclsRequest::VERSIONS,
                other => panic!("no codec range listed for {other:?}"),
            };
            (r.min, r.max)
        }
        for &(api, min, max) in SUPPORTED_APIS {
            let (cmin, cmax) = codec(api);
            let min = if api == ApiKey::Produce {
                PRODUCE_MIN_DECODED_VERSION
            } else {
                min
            };
            assert!(
                cmin <= min && max <= cmax,
                "{api:?} advertised {min}..={max}, codec {cmin}..={cmax}"
            );
        }
    }
}
