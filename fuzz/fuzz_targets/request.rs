//! A request frame as the broker's dispatch sees it (after the 4-byte size prefix): the
//! preamble, the version check against what the broker advertises, the request header
//! and the body, for every advertised API at every advertised version. Decoding must
//! never panic; what decodes must re-encode at its version and decode to the same value
//! with no bytes left over.
#![no_main]

use std::fmt::Debug;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable};
use libfuzzer_sys::fuzz_target;
use strom_protocol::{decode_body, RequestPreamble};

// The broker's own table of advertised APIs and versions, compiled in here so the target
// follows it without the broker exporting it.
#[allow(dead_code)]
#[path = "../../crates/strom-broker/src/api_table.rs"]
mod api_table;

use api_table::{supported_range, PRODUCE_MIN_DECODED_VERSION};

fuzz_target!(|data: &[u8]| {
    let mut frame = Bytes::copy_from_slice(data);
    let Ok(preamble) = RequestPreamble::parse(&frame) else {
        return;
    };
    let Ok(api) = ApiKey::try_from(preamble.api_key) else {
        return;
    };
    let Some((min, max)) = supported_range(api) else {
        return;
    };
    let version = preamble.api_version;
    if version < min || version > max {
        return;
    }
    if api == ApiKey::Produce && version < PRODUCE_MIN_DECODED_VERSION {
        // Answered by a hand-written reader in the broker, not by the codec.
        return;
    }
    let header_version = api.request_header_version(version);
    let Ok(header) = preamble.decode_header(api, &mut frame) else {
        return;
    };
    round_trip(&header, header_version);
    let body = frame;
    match api {
        ApiKey::Produce => body_round_trip::<ProduceRequest>(api, version, body),
        ApiKey::Fetch => body_round_trip::<FetchRequest>(api, version, body),
        ApiKey::ListOffsets => body_round_trip::<ListOffsetsRequest>(api, version, body),
        ApiKey::Metadata => body_round_trip::<MetadataRequest>(api, version, body),
        ApiKey::FindCoordinator => body_round_trip::<FindCoordinatorRequest>(api, version, body),
        ApiKey::ApiVersions => body_round_trip::<ApiVersionsRequest>(api, version, body),
        ApiKey::CreateTopics => body_round_trip::<CreateTopicsRequest>(api, version, body),
        ApiKey::DeleteTopics => body_round_trip::<DeleteTopicsRequest>(api, version, body),
        ApiKey::DescribeConfigs => body_round_trip::<DescribeConfigsRequest>(api, version, body),
        ApiKey::CreatePartitions => body_round_trip::<CreatePartitionsRequest>(api, version, body),
        ApiKey::DescribeCluster => body_round_trip::<DescribeClusterRequest>(api, version, body),
        ApiKey::DescribeTopicPartitions => {
            body_round_trip::<DescribeTopicPartitionsRequest>(api, version, body)
        }
        ApiKey::DescribeQuorum => body_round_trip::<DescribeQuorumRequest>(api, version, body),
        ApiKey::OffsetForLeaderEpoch => {
            body_round_trip::<OffsetForLeaderEpochRequest>(api, version, body)
        }
        ApiKey::ElectLeaders => body_round_trip::<ElectLeadersRequest>(api, version, body),
        ApiKey::AlterPartitionReassignments => {
            body_round_trip::<AlterPartitionReassignmentsRequest>(api, version, body)
        }
        ApiKey::ListPartitionReassignments => {
            body_round_trip::<ListPartitionReassignmentsRequest>(api, version, body)
        }
        ApiKey::AddRaftVoter => body_round_trip::<AddRaftVoterRequest>(api, version, body),
        ApiKey::RemoveRaftVoter => body_round_trip::<RemoveRaftVoterRequest>(api, version, body),
        ApiKey::InitProducerId => body_round_trip::<InitProducerIdRequest>(api, version, body),
        ApiKey::JoinGroup => body_round_trip::<JoinGroupRequest>(api, version, body),
        ApiKey::SyncGroup => body_round_trip::<SyncGroupRequest>(api, version, body),
        ApiKey::Heartbeat => body_round_trip::<HeartbeatRequest>(api, version, body),
        ApiKey::LeaveGroup => body_round_trip::<LeaveGroupRequest>(api, version, body),
        ApiKey::OffsetCommit => body_round_trip::<OffsetCommitRequest>(api, version, body),
        ApiKey::OffsetFetch => body_round_trip::<OffsetFetchRequest>(api, version, body),
        ApiKey::DescribeGroups => body_round_trip::<DescribeGroupsRequest>(api, version, body),
        ApiKey::ListGroups => body_round_trip::<ListGroupsRequest>(api, version, body),
        ApiKey::DeleteGroups => body_round_trip::<DeleteGroupsRequest>(api, version, body),
        ApiKey::OffsetDelete => body_round_trip::<OffsetDeleteRequest>(api, version, body),
        ApiKey::DeleteRecords => body_round_trip::<DeleteRecordsRequest>(api, version, body),
        ApiKey::DescribeLogDirs => body_round_trip::<DescribeLogDirsRequest>(api, version, body),
        ApiKey::AlterConfigs => body_round_trip::<AlterConfigsRequest>(api, version, body),
        ApiKey::IncrementalAlterConfigs => {
            body_round_trip::<IncrementalAlterConfigsRequest>(api, version, body)
        }
        ApiKey::ConsumerGroupHeartbeat => {
            body_round_trip::<ConsumerGroupHeartbeatRequest>(api, version, body)
        }
        ApiKey::ConsumerGroupDescribe => {
            body_round_trip::<ConsumerGroupDescribeRequest>(api, version, body)
        }
        ApiKey::AddPartitionsToTxn => {
            body_round_trip::<AddPartitionsToTxnRequest>(api, version, body)
        }
        ApiKey::AddOffsetsToTxn => body_round_trip::<AddOffsetsToTxnRequest>(api, version, body),
        ApiKey::EndTxn => body_round_trip::<EndTxnRequest>(api, version, body),
        ApiKey::WriteTxnMarkers => body_round_trip::<WriteTxnMarkersRequest>(api, version, body),
        ApiKey::TxnOffsetCommit => body_round_trip::<TxnOffsetCommitRequest>(api, version, body),
        ApiKey::DescribeTransactions => {
            body_round_trip::<DescribeTransactionsRequest>(api, version, body)
        }
        ApiKey::ListTransactions => body_round_trip::<ListTransactionsRequest>(api, version, body),
        ApiKey::DescribeProducers => {
            body_round_trip::<DescribeProducersRequest>(api, version, body)
        }
        ApiKey::SaslHandshake => body_round_trip::<SaslHandshakeRequest>(api, version, body),
        ApiKey::SaslAuthenticate => body_round_trip::<SaslAuthenticateRequest>(api, version, body),
        ApiKey::DescribeUserScramCredentials => {
            body_round_trip::<DescribeUserScramCredentialsRequest>(api, version, body)
        }
        ApiKey::AlterUserScramCredentials => {
            body_round_trip::<AlterUserScramCredentialsRequest>(api, version, body)
        }
        ApiKey::DescribeClientQuotas => {
            body_round_trip::<DescribeClientQuotasRequest>(api, version, body)
        }
        ApiKey::AlterClientQuotas => {
            body_round_trip::<AlterClientQuotasRequest>(api, version, body)
        }
        ApiKey::CreateAcls => body_round_trip::<CreateAclsRequest>(api, version, body),
        ApiKey::DescribeAcls => body_round_trip::<DescribeAclsRequest>(api, version, body),
        ApiKey::DeleteAcls => body_round_trip::<DeleteAclsRequest>(api, version, body),
        // An advertised API this target does not decode is a gap in the target.
        other => panic!("advertised {other:?} has no decoder in the request fuzz target"),
    }
});

fn body_round_trip<T>(api: ApiKey, version: i16, mut body: Bytes)
where
    T: Decodable + Encodable + PartialEq + Debug,
{
    if let Ok(request) = decode_body::<T>(api, version, &mut body) {
        round_trip(&request, version);
    }
}

/// What decoded at `version` encodes at `version` and decodes back to itself, exactly.
fn round_trip<T>(value: &T, version: i16)
where
    T: Decodable + Encodable + PartialEq + Debug,
{
    let mut buf = BytesMut::new();
    value
        .encode(&mut buf, version)
        .expect("a decoded message encodes at its version");
    let first = buf.freeze();
    let mut encoded = first.clone();
    let again = T::decode(&mut encoded, version).expect("a re-encoded message decodes");
    if &again != value {
        // A float field holding NaN (AlterClientQuotas' values) is never equal
        // to itself: then the bytes must be, re-encoded.
        let mut twice = BytesMut::new();
        again
            .encode(&mut twice, version)
            .expect("a decoded message encodes at its version");
        assert_eq!(twice.freeze(), first, "decode(encode(x)) != x at v{version}");
    }
    assert!(
        encoded.is_empty(),
        "{} bytes left after decoding",
        encoded.len()
    );
}
