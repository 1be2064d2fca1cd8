//! From a frame to a reply: preamble, version check, header, handler.

use std::sync::Arc;

use bytes::Bytes;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable};
use tracing::{debug, warn};

use strom_protocol::{decode_body, encode_response, RequestPreamble};

use crate::api_table::{supported_range, PRODUCE_MIN_DECODED_VERSION};
use crate::broker::BrokerState;
use crate::connection::Reply;
use crate::handlers;
use crate::session::Session;

/// `session` is the connection's: its listener (addresses in the answer are
/// given in its terms), address and principal. `follower_fetch` is set for a follower's
/// Fetch (Kafka's request metrics count it apart from consumers').
pub(crate) async fn dispatch(
    state: &Arc<BrokerState>,
    mut frame: Bytes,
    session: &mut Session,
    follower_fetch: &mut bool,
) -> Reply {
    // SASL: the exchange itself, and nothing else before it completes.
    if let Some(reply) = crate::sasl::intercept(state, &mut frame, session).await {
        return reply;
    }
    let session: &Session = session;
    let peer = session.peer.as_str();
    let listener = &*session.listener;
    let preamble = match RequestPreamble::parse(&frame) {
        Ok(p) => p,
        Err(e) => {
            warn!(peer, "closing connection: {e}");
            return Reply::Close;
        }
    };
    let Ok(api) = ApiKey::try_from(preamble.api_key) else {
        warn!(
            peer,
            api_key = preamble.api_key,
            "closing connection: unknown api key"
        );
        return Reply::Close;
    };
    let version = preamble.api_version;
    let corr = preamble.correlation_id;
    let Some((min, max)) = supported_range(api) else {
        warn!(
            peer,
            ?api,
            "closing connection: api not supported by this broker (not advertised in ApiVersions)"
        );
        return Reply::Close;
    };
    if version < min || version > max {
        if api == ApiKey::ApiVersions {
            // KIP-511: answer in v0 so any client can read which versions we speak.
            return encode(api, 0, corr, &handlers::api_versions::unsupported_version());
        }
        warn!(
            peer,
            ?api,
            version,
            "closing connection: unsupported version {version} (supported {min}..={max})"
        );
        return Reply::Close;
    }
    if api == ApiKey::Produce && version < PRODUCE_MIN_DECODED_VERSION {
        return handlers::produce::unsupported_old_version(version, corr, frame);
    }
    let header = match preamble.decode_header(api, &mut frame) {
        Ok(h) => h,
        Err(e) => {
            warn!(peer, "closing connection: {e}");
            return Reply::Close;
        }
    };
    debug!(peer, principal = %session.principal, ?api, version, corr, client_id = ?header.client_id, "request");
    let body = &mut frame;
    match api {
        ApiKey::Produce => match decode::<ProduceRequest>(api, version, body, peer) {
            Some(req) => handlers::produce::handle(state, version, corr, req, listener).await,
            None => Reply::Close,
        },
        ApiKey::Fetch => match decode::<FetchRequest>(api, version, body, peer) {
            Some(req) => {
                *follower_fetch = handlers::fetch::is_from_follower(version, &req);
                handlers::fetch::handle(state, version, corr, req, listener)
            }
            None => Reply::Close,
        },
        ApiKey::ApiVersions => {
            // An ApiVersions body a newer client encodes may not parse at our
            // version; the request carries nothing we need, so answer anyway.
            let _ = ApiVersionsRequest::decode(body, version);
            encode(api, version, corr, &handlers::api_versions::handle())
        }
        ApiKey::Metadata => {
            simple(api, version, corr, body, peer, |r| {
                handlers::metadata::handle(state, version, r, listener)
            })
            .await
        }
        ApiKey::ListOffsets => {
            simple(api, version, corr, body, peer, |r| async {
                handlers::list_offsets::handle(state, version, r)
            })
            .await
        }
        ApiKey::FindCoordinator => {
            simple(api, version, corr, body, peer, |r| {
                handlers::find_coordinator::handle(state, version, r, listener)
            })
            .await
        }
        ApiKey::CreateTopics => {
            simple(api, version, corr, body, peer, |r| {
                handlers::create_topics::handle(state, version, r)
            })
            .await
        }
        ApiKey::DeleteTopics => {
            simple(api, version, corr, body, peer, |r| {
                handlers::delete_topics::handle(state, version, r)
            })
            .await
        }
        ApiKey::ElectLeaders => {
            simple(api, version, corr, body, peer, |r| {
                handlers::elect_leaders::handle(state, version, r)
            })
            .await
        }
        ApiKey::AlterPartitionReassignments => {
            simple(api, version, corr, body, peer, |r| {
                handlers::alter_partition_reassignments::handle(state, r)
            })
            .await
        }
        ApiKey::ListPartitionReassignments => {
            simple(api, version, corr, body, peer, |r| {
                handlers::list_partition_reassignments::handle(state, r)
            })
            .await
        }
        ApiKey::CreatePartitions => {
            simple(api, version, corr, body, peer, |r| {
                handlers::create_partitions::handle(state, r)
            })
            .await
        }
        ApiKey::DescribeConfigs => {
            simple(api, version, corr, body, peer, |r| async {
                handlers::describe_configs::handle(state, r)
            })
            .await
        }
        ApiKey::InitProducerId => {
            simple(api, version, corr, body, peer, |r| {
                handlers::init_producer_id::handle(state, r)
            })
            .await
        }
        ApiKey::DescribeTopicPartitions => {
            simple(api, version, corr, body, peer, |r| async {
                handlers::describe_topic_partitions::handle(state, r)
            })
            .await
        }
        ApiKey::DescribeCluster => {
            simple(api, version, corr, body, peer, |r| async {
                handlers::describe_cluster::handle(state, r, listener)
            })
            .await
        }
        ApiKey::AddRaftVoter => {
            simple(api, version, corr, body, peer, |r| {
                handlers::raft_voters::add(state, r)
            })
            .await
        }
        ApiKey::RemoveRaftVoter => {
            simple(api, version, corr, body, peer, |r| {
                handlers::raft_voters::remove(state, r)
            })
            .await
        }
        ApiKey::DescribeQuorum => {
            simple(api, version, corr, body, peer, |r| {
                handlers::describe_quorum::handle(state, version, r)
            })
            .await
        }
        ApiKey::JoinGroup => {
            let client_id = header
                .client_id
                .as_ref()
                .map(|c| c.as_str().to_owned())
                .unwrap_or_default();
            let client_host = session.client_host();
            simple(api, version, corr, body, peer, |r| {
                handlers::join_group::handle(state, version, r, &client_id, &client_host)
            })
            .await
        }
        ApiKey::ConsumerGroupHeartbeat => {
            let client_id = header
                .client_id
                .as_ref()
                .map(|c| c.as_str().to_owned())
                .unwrap_or_default();
            let client_host = session.client_host();
            simple(api, version, corr, body, peer, |r| {
                handlers::consumer_group_heartbeat::handle(state, r, &client_id, &client_host)
            })
            .await
        }
        ApiKey::ConsumerGroupDescribe => {
            simple(api, version, corr, body, peer, |r| {
                handlers::consumer_group_describe::handle(state, r)
            })
            .await
        }
        ApiKey::AlterConfigs => {
            simple(api, version, corr, body, peer, |r| {
                handlers::alter_configs::handle_legacy(state, r)
            })
            .await
        }
        ApiKey::IncrementalAlterConfigs => {
            simple(api, version, corr, body, peer, |r| {
                handlers::alter_configs::handle_incremental(state, r)
            })
            .await
        }
        ApiKey::DeleteRecords => {
            simple(api, version, corr, body, peer, |r| async {
                handlers::delete_records::handle(state, r)
            })
            .await
        }
        ApiKey::OffsetForLeaderEpoch => {
            simple(api, version, corr, body, peer, |r| async {
                handlers::offset_for_leader_epoch::handle(state, r)
            })
            .await
        }
        ApiKey::WriteTxnMarkers => match decode::<WriteTxnMarkersRequest>(api, version, body, peer)
        {
            Some(req) => handlers::write_txn_markers::handle(state, version, corr, req),
            None => Reply::Close,
        },
        ApiKey::DescribeProducers => {
            simple(api, version, corr, body, peer, |r| async {
                handlers::describe_producers::handle(state, r)
            })
            .await
        }
        ApiKey::DescribeLogDirs => {
            simple(api, version, corr, body, peer, |r| async {
                handlers::describe_log_dirs::handle(state, r)
            })
            .await
        }
        ApiKey::SyncGroup => {
            simple(api, version, corr, body, peer, |r| {
                handlers::sync_group::handle(state, r)
            })
            .await
        }
        ApiKey::Heartbeat => {
            simple(api, version, corr, body, peer, |r| {
                handlers::heartbeat::handle(state, r)
            })
            .await
        }
        ApiKey::LeaveGroup => {
            simple(api, version, corr, body, peer, |r| {
                handlers::leave_group::handle(state, version, r)
            })
            .await
        }
        ApiKey::OffsetCommit => {
            simple(api, version, corr, body, peer, |r| {
                handlers::offset_commit::handle(state, version, r)
            })
            .await
        }
        ApiKey::TxnOffsetCommit => {
            simple(api, version, corr, body, peer, |r| {
                handlers::txn_offset_commit::handle(state, version, r)
            })
            .await
        }
        ApiKey::OffsetFetch => {
            simple(api, version, corr, body, peer, |r| {
                handlers::offset_fetch::handle(state, version, r)
            })
            .await
        }
        ApiKey::DescribeGroups => {
            simple(api, version, corr, body, peer, |r| {
                handlers::describe_groups::handle(state, version, r)
            })
            .await
        }
        ApiKey::ListGroups => {
            simple(api, version, corr, body, peer, |r| {
                handlers::list_groups::handle(state, r)
            })
            .await
        }
        ApiKey::DeleteGroups => {
            simple(api, version, corr, body, peer, |r| {
                handlers::delete_groups::handle(state, r)
            })
            .await
        }
        ApiKey::OffsetDelete => {
            simple(api, version, corr, body, peer, |r| {
                handlers::offset_delete::handle(state, r)
            })
            .await
        }
        ApiKey::AddPartitionsToTxn => {
            simple(api, version, corr, body, peer, |r| {
                handlers::add_partitions_to_txn::handle(state, version, r)
            })
            .await
        }
        ApiKey::AddOffsetsToTxn => {
            simple(api, version, corr, body, peer, |r| {
                handlers::add_offsets_to_txn::handle(state, r)
            })
            .await
        }
        ApiKey::EndTxn => {
            simple(api, version, corr, body, peer, |r| {
                handlers::end_txn::handle(state, version, r)
            })
            .await
        }
        ApiKey::DescribeTransactions => {
            simple(api, version, corr, body, peer, |r| {
                handlers::describe_transactions::handle(state, r)
            })
            .await
        }
        ApiKey::ListTransactions => {
            simple(api, version, corr, body, peer, |r| {
                handlers::list_transactions::handle(state, r)
            })
            .await
        }
        ApiKey::DescribeUserScramCredentials => {
            simple(api, version, corr, body, peer, |r| async {
                handlers::user_scram_credentials::describe(state, r)
            })
            .await
        }
        ApiKey::AlterUserScramCredentials => {
            simple(api, version, corr, body, peer, |r| {
                handlers::user_scram_credentials::alter(state, r)
            })
            .await
        }
        other => {
            warn!(peer, api = ?other, "closing connection: no handler");
            Reply::Close
        }
    }
}

fn decode<T: Decodable>(api: ApiKey, version: i16, body: &mut Bytes, peer: &str) -> Option<T> {
    match decode_body::<T>(api, version, body) {
        Ok(req) => Some(req),
        Err(e) => {
            warn!(peer, "closing connection: {e}");
            None
        }
    }
}

async fn simple<Req, Resp, F, Fut>(
    api: ApiKey,
    version: i16,
    corr: i32,
    body: &mut Bytes,
    peer: &str,
    handler: F,
) -> Reply
where
    Req: Decodable,
    Resp: Encodable,
    F: FnOnce(Req) -> Fut,
    Fut: std::future::Future<Output = Resp>,
{
    match decode::<Req>(api, version, body, peer) {
        Some(req) => encode(api, version, corr, &handler(req).await),
        None => Reply::Close,
    }
}

pub(crate) fn encode<T: Encodable>(api: ApiKey, version: i16, corr: i32, body: &T) -> Reply {
    match encode_response(api, version, corr, body) {
        Ok(frame) => Reply::Now(frame),
        Err(e) => {
            // A response we cannot encode is a broker bug; the client sees a
            // closed connection and retries, the log says what broke.
            tracing::error!("{e}");
            Reply::Close
        }
    }
}
