//! From a frame to a reply: preamble, version check, header, handler.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable};
use tracing::{debug, warn};

use strom_protocol::{decode_body, encode_response, RequestPreamble};

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use strom_metadata::acl::{AclOperation, ResourceType, CLUSTER_RESOURCE_NAME};

use crate::api_table::{supported_range, PRODUCE_MIN_DECODED_VERSION};
use crate::authz::Authz;
use crate::authz_apis;
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
    let request_bytes = frame.len();
    let client_id = header.client_id.as_ref().map_or("", |c| c.as_str());
    let ctx = RequestContext {
        api,
        version,
        corr,
        peer,
        state,
        session,
        client_id,
    };
    let body = &mut frame;
    let authz = Authz::new(&state.config.authorization, state.image(), session);
    let authz = &authz;
    let group_denied = ResponseError::GroupAuthorizationFailed.code();
    let cluster_denied = ResponseError::ClusterAuthorizationFailed.code();
    let txn_denied = ResponseError::TransactionalIdAuthorizationFailed.code();
    match api {
        ApiKey::Produce => match decode::<ProduceRequest>(api, version, body, peer) {
            Some(req) => {
                let throttle_ms = ctx.produce_throttle_ms(request_bytes);
                let started = ctx.request_quota().then(Instant::now);
                let reply = handlers::produce::handle(
                    state,
                    version,
                    corr,
                    req,
                    listener,
                    throttle_ms,
                    authz,
                )
                .await;
                ctx.record_request_time_only(started);
                reply
            }
            None => Reply::Close,
        },
        ApiKey::Fetch => match decode::<FetchRequest>(api, version, body, peer) {
            Some(req) => {
                *follower_fetch = handlers::fetch::is_from_follower(version, &req);
                // Followers' fetches are replication, not a client's (Kafka
                // exempts them from client quotas).
                let quota = (!*follower_fetch).then(|| ctx.fetch_quota()).flatten();
                let started = quota
                    .as_ref()
                    .and_then(|_| ctx.request_quota().then(Instant::now));
                let reply =
                    handlers::fetch::handle(state, version, corr, req, listener, quota, authz);
                ctx.record_request_time_only(started);
                reply
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
            simple(&ctx, body, |r| {
                handlers::metadata::handle(state, version, r, listener, authz)
            })
            .await
        }
        ApiKey::ListOffsets => {
            simple(&ctx, body, |r| async {
                authz_apis::list_offsets(state, version, authz, r)
            })
            .await
        }
        ApiKey::FindCoordinator => {
            simple(&ctx, body, |r: FindCoordinatorRequest| async move {
                let resource = if r.key_type == 1 {
                    ResourceType::TransactionalId
                } else {
                    ResourceType::Group
                };
                let code = if r.key_type == 1 {
                    txn_denied
                } else {
                    group_denied
                };
                if version < 4 {
                    if !authz.allowed(AclOperation::Describe, resource, &r.key) {
                        return FindCoordinatorResponse::default()
                            .with_error_code(code)
                            .with_node_id(BrokerId(-1))
                            .with_port(-1);
                    }
                    return handlers::find_coordinator::handle(state, version, r, listener).await;
                }
                // v4+: each key on its own.
                let (keys, denied): (Vec<_>, Vec<_>) = r
                    .coordinator_keys
                    .iter()
                    .cloned()
                    .partition(|k| authz.allowed(AclOperation::Describe, resource, k));
                let mut resp = if keys.is_empty() {
                    FindCoordinatorResponse::default()
                } else {
                    let mut r = r;
                    r.coordinator_keys = keys;
                    handlers::find_coordinator::handle(state, version, r, listener).await
                };
                for key in denied {
                    resp.coordinators.push(
                        Coordinator::default()
                            .with_key(key)
                            .with_node_id(BrokerId(-1))
                            .with_port(-1)
                            .with_error_code(code),
                    );
                }
                resp
            })
            .await
        }
        ApiKey::CreateTopics => {
            let quota = crate::quota::MutationQuota {
                user: &session.principal.name,
                client_id,
                throttle: &session.throttle,
            };
            simple(&ctx, body, |r| {
                authz_apis::create_topics(state, version, authz, r, quota)
            })
            .await
        }
        ApiKey::DeleteTopics => {
            let quota = crate::quota::MutationQuota {
                user: &session.principal.name,
                client_id,
                throttle: &session.throttle,
            };
            simple(&ctx, body, |r| {
                authz_apis::delete_topics(state, version, authz, r, quota)
            })
            .await
        }
        ApiKey::ElectLeaders => {
            simple(&ctx, body, |r: ElectLeadersRequest| async move {
                if !authz.cluster(AclOperation::Alter) {
                    return authz_apis::elect_leaders_denied(version, &r);
                }
                handlers::elect_leaders::handle(state, version, r).await
            })
            .await
        }
        ApiKey::AlterPartitionReassignments => {
            simple(
                &ctx,
                body,
                |r: AlterPartitionReassignmentsRequest| async move {
                    if !authz.cluster(AclOperation::Alter) {
                        return AlterPartitionReassignmentsResponse::default()
                            .with_error_code(cluster_denied);
                    }
                    handlers::alter_partition_reassignments::handle(state, r).await
                },
            )
            .await
        }
        ApiKey::ListPartitionReassignments => {
            simple(
                &ctx,
                body,
                |r: ListPartitionReassignmentsRequest| async move {
                    if !authz.cluster(AclOperation::Describe) {
                        return ListPartitionReassignmentsResponse::default()
                            .with_error_code(cluster_denied);
                    }
                    handlers::list_partition_reassignments::handle(state, r).await
                },
            )
            .await
        }
        ApiKey::CreatePartitions => {
            let quota = crate::quota::MutationQuota {
                user: &session.principal.name,
                client_id,
                throttle: &session.throttle,
            };
            simple(&ctx, body, |r| {
                authz_apis::create_partitions(state, version, authz, r, quota)
            })
            .await
        }
        ApiKey::DescribeConfigs => {
            simple(&ctx, body, |r| async {
                let mut resp = handlers::describe_configs::handle(state, r);
                authz_apis::describe_configs_answer(authz, &mut resp);
                resp
            })
            .await
        }
        ApiKey::InitProducerId => {
            simple(&ctx, body, |r: InitProducerIdRequest| async move {
                let allowed = match &r.transactional_id {
                    Some(id) => authz.transactional_id(AclOperation::Write, &id.0),
                    None => {
                        authz.cluster(AclOperation::IdempotentWrite)
                            || authz.any_of_type(AclOperation::Write, ResourceType::Topic)
                    }
                };
                if !allowed {
                    let code = if r.transactional_id.is_some() {
                        txn_denied
                    } else {
                        cluster_denied
                    };
                    return InitProducerIdResponse::default()
                        .with_error_code(code)
                        .with_producer_id(ProducerId(-1))
                        .with_producer_epoch(-1);
                }
                handlers::init_producer_id::handle(state, r).await
            })
            .await
        }
        ApiKey::DescribeTopicPartitions => {
            simple(&ctx, body, |r: DescribeTopicPartitionsRequest| async {
                let named = !r.topics.is_empty();
                let mut resp = handlers::describe_topic_partitions::handle(state, r);
                authz_apis::describe_topic_partitions_answer(authz, named, &mut resp);
                resp
            })
            .await
        }
        ApiKey::DescribeCluster => {
            simple(&ctx, body, |r: DescribeClusterRequest| async move {
                if !authz.cluster(AclOperation::Describe) {
                    return DescribeClusterResponse::default()
                        .with_error_code(cluster_denied)
                        .with_controller_id(BrokerId(-1))
                        .with_cluster_authorized_operations(i32::MIN);
                }
                let include = r.include_cluster_authorized_operations;
                let mut resp = handlers::describe_cluster::handle(state, r, listener);
                if include {
                    resp.cluster_authorized_operations =
                        authz.operations(ResourceType::Cluster, CLUSTER_RESOURCE_NAME);
                }
                resp
            })
            .await
        }
        ApiKey::AddRaftVoter => {
            simple(&ctx, body, |r: AddRaftVoterRequest| async move {
                if !authz.cluster(AclOperation::Alter) {
                    return AddRaftVoterResponse::default().with_error_code(cluster_denied);
                }
                handlers::raft_voters::add(state, r).await
            })
            .await
        }
        ApiKey::RemoveRaftVoter => {
            simple(&ctx, body, |r: RemoveRaftVoterRequest| async move {
                if !authz.cluster(AclOperation::Alter) {
                    return RemoveRaftVoterResponse::default().with_error_code(cluster_denied);
                }
                handlers::raft_voters::remove(state, r).await
            })
            .await
        }
        ApiKey::DescribeQuorum => {
            simple(&ctx, body, |r: DescribeQuorumRequest| async move {
                if !authz.cluster(AclOperation::Describe) {
                    return DescribeQuorumResponse::default().with_error_code(cluster_denied);
                }
                handlers::describe_quorum::handle(state, version, r).await
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
            simple(&ctx, body, |r: JoinGroupRequest| async move {
                if !authz.group(AclOperation::Read, &r.group_id.0) {
                    return JoinGroupResponse::default()
                        .with_error_code(group_denied)
                        .with_generation_id(-1);
                }
                handlers::join_group::handle(state, version, r, &client_id, &client_host).await
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
            simple(&ctx, body, |r: ConsumerGroupHeartbeatRequest| async move {
                if let Some(denied) = authz_apis::consumer_group_heartbeat_denied(authz, &r) {
                    return denied;
                }
                handlers::consumer_group_heartbeat::handle(state, r, &client_id, &client_host).await
            })
            .await
        }
        ApiKey::ConsumerGroupDescribe => {
            simple(&ctx, body, |r: ConsumerGroupDescribeRequest| async move {
                let include = r.include_authorized_operations;
                let mut resp = handlers::consumer_group_describe::handle(state, r).await;
                authz_apis::consumer_group_describe_answer(authz, include, &mut resp);
                resp
            })
            .await
        }
        ApiKey::AlterConfigs => {
            simple(&ctx, body, |r| authz_apis::alter_configs(state, authz, r)).await
        }
        ApiKey::IncrementalAlterConfigs => {
            simple(&ctx, body, |r| {
                authz_apis::incremental_alter_configs(state, authz, r)
            })
            .await
        }
        ApiKey::DeleteRecords => {
            simple(&ctx, body, |r| async {
                authz_apis::delete_records(state, authz, r)
            })
            .await
        }
        ApiKey::OffsetForLeaderEpoch => {
            simple(&ctx, body, |r| async {
                authz_apis::offset_for_leader_epoch(state, authz, r)
            })
            .await
        }
        ApiKey::WriteTxnMarkers => match decode::<WriteTxnMarkersRequest>(api, version, body, peer)
        {
            Some(req) => match authz_apis::write_txn_markers_denied(authz, &req) {
                Some(denied) => encode(api, version, corr, &denied),
                None => handlers::write_txn_markers::handle(state, version, corr, req),
            },
            None => Reply::Close,
        },
        ApiKey::DescribeProducers => {
            simple(&ctx, body, |r| async {
                let mut resp = handlers::describe_producers::handle(state, r);
                authz_apis::describe_producers_answer(authz, &mut resp);
                resp
            })
            .await
        }
        ApiKey::DescribeLogDirs => {
            simple(&ctx, body, |r: DescribeLogDirsRequest| async move {
                if !authz.cluster(AclOperation::Describe) {
                    // Kafka answers an unauthorized DescribeLogDirs with nothing.
                    return DescribeLogDirsResponse::default().with_error_code(if version >= 3 {
                        cluster_denied
                    } else {
                        0
                    });
                }
                handlers::describe_log_dirs::handle(state, r)
            })
            .await
        }
        ApiKey::SyncGroup => {
            simple(&ctx, body, |r: SyncGroupRequest| async move {
                if !authz.group(AclOperation::Read, &r.group_id.0) {
                    return SyncGroupResponse::default().with_error_code(group_denied);
                }
                handlers::sync_group::handle(state, r).await
            })
            .await
        }
        ApiKey::Heartbeat => {
            simple(&ctx, body, |r: HeartbeatRequest| async move {
                if !authz.group(AclOperation::Read, &r.group_id.0) {
                    return HeartbeatResponse::default().with_error_code(group_denied);
                }
                handlers::heartbeat::handle(state, r).await
            })
            .await
        }
        ApiKey::LeaveGroup => {
            simple(&ctx, body, |r: LeaveGroupRequest| async move {
                if !authz.group(AclOperation::Read, &r.group_id.0) {
                    return LeaveGroupResponse::default().with_error_code(group_denied);
                }
                handlers::leave_group::handle(state, version, r).await
            })
            .await
        }
        ApiKey::OffsetCommit => {
            simple(&ctx, body, |r| {
                authz_apis::offset_commit(state, version, authz, r)
            })
            .await
        }
        ApiKey::TxnOffsetCommit => {
            simple(&ctx, body, |r| {
                authz_apis::txn_offset_commit(state, version, authz, r)
            })
            .await
        }
        ApiKey::OffsetFetch => {
            simple(&ctx, body, |r| {
                authz_apis::offset_fetch(state, version, authz, r)
            })
            .await
        }
        ApiKey::DescribeGroups => {
            simple(&ctx, body, |r: DescribeGroupsRequest| async move {
                let include = r.include_authorized_operations;
                let mut resp = handlers::describe_groups::handle(state, version, r).await;
                authz_apis::describe_groups_answer(authz, include, &mut resp);
                resp
            })
            .await
        }
        ApiKey::ListGroups => {
            simple(&ctx, body, |r: ListGroupsRequest| async move {
                let mut resp = handlers::list_groups::handle(state, r).await;
                if !authz.cluster(AclOperation::Describe) {
                    resp.groups
                        .retain(|g| authz.group(AclOperation::Describe, &g.group_id.0));
                }
                resp
            })
            .await
        }
        ApiKey::DeleteGroups => {
            simple(&ctx, body, |r| authz_apis::delete_groups(state, authz, r)).await
        }
        ApiKey::OffsetDelete => {
            simple(&ctx, body, |r| authz_apis::offset_delete(state, authz, r)).await
        }
        ApiKey::AddPartitionsToTxn => {
            simple(&ctx, body, |r: AddPartitionsToTxnRequest| async move {
                if let Some(denied) = authz_apis::add_partitions_to_txn_denied(version, authz, &r) {
                    return denied;
                }
                handlers::add_partitions_to_txn::handle(state, version, r).await
            })
            .await
        }
        ApiKey::AddOffsetsToTxn => {
            simple(&ctx, body, |r: AddOffsetsToTxnRequest| async move {
                if !authz.transactional_id(AclOperation::Write, &r.transactional_id.0) {
                    return AddOffsetsToTxnResponse::default().with_error_code(txn_denied);
                }
                if !authz.group(AclOperation::Read, &r.group_id.0) {
                    return AddOffsetsToTxnResponse::default().with_error_code(group_denied);
                }
                handlers::add_offsets_to_txn::handle(state, r).await
            })
            .await
        }
        ApiKey::EndTxn => {
            simple(&ctx, body, |r: EndTxnRequest| async move {
                if !authz.transactional_id(AclOperation::Write, &r.transactional_id.0) {
                    return EndTxnResponse::default()
                        .with_error_code(txn_denied)
                        .with_producer_id(ProducerId(-1))
                        .with_producer_epoch(-1);
                }
                handlers::end_txn::handle(state, version, r).await
            })
            .await
        }
        ApiKey::DescribeTransactions => {
            simple(&ctx, body, |r: DescribeTransactionsRequest| async move {
                let mut resp = handlers::describe_transactions::handle(state, r).await;
                authz_apis::describe_transactions_answer(authz, &mut resp);
                resp
            })
            .await
        }
        ApiKey::ListTransactions => {
            simple(&ctx, body, |r: ListTransactionsRequest| async move {
                let mut resp = handlers::list_transactions::handle(state, r).await;
                authz_apis::list_transactions_answer(authz, &mut resp);
                resp
            })
            .await
        }
        ApiKey::CreateAcls => simple(&ctx, body, |r| handlers::acls::create(state, authz, r)).await,
        ApiKey::DescribeAcls => {
            simple(&ctx, body, |r| async {
                handlers::acls::describe(state, authz, r)
            })
            .await
        }
        ApiKey::DeleteAcls => simple(&ctx, body, |r| handlers::acls::delete(state, authz, r)).await,
        ApiKey::DescribeUserScramCredentials => {
            simple(&ctx, body, |r| async {
                authz_apis::describe_user_scram_credentials(state, authz, r)
            })
            .await
        }
        ApiKey::AlterUserScramCredentials => {
            simple(&ctx, body, |r| {
                authz_apis::alter_user_scram_credentials(state, authz, r)
            })
            .await
        }
        ApiKey::DescribeClientQuotas => {
            simple(&ctx, body, |r| async {
                authz_apis::describe_client_quotas(state, authz, r)
            })
            .await
        }
        ApiKey::AlterClientQuotas => {
            simple(&ctx, body, |r| {
                authz_apis::alter_client_quotas(state, authz, r)
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

/// What a handler's answer needs of the request beyond its body.
pub(crate) struct RequestContext<'a> {
    pub api: ApiKey,
    pub version: i16,
    pub corr: i32,
    pub peer: &'a str,
    pub state: &'a Arc<BrokerState>,
    pub session: &'a Session,
    /// The header's client id ("" when null), for client quotas.
    pub client_id: &'a str,
}

impl RequestContext<'_> {
    /// Whether this request counts against `request_percentage`: only
    /// when some such quota is set (one atomic load otherwise).
    fn request_quota(&self) -> bool {
        self.state.quotas.request.enabled()
    }

    /// Records the request's handling time against `request_percentage`
    /// and answers the throttle time (0 when none applies), muting the
    /// connection for it.
    fn record_request_time(&self, started: Option<Instant>) -> i32 {
        let throttle = self.record_request_time_only(started);
        self.state.quotas.request.throttled(
            self.session.principal.name.as_str(),
            self.client_id,
            throttle,
        );
        self.session.throttle.mute_for(throttle);
        throttle
    }

    /// As `record_request_time`, for Produce and Fetch, whose answer is
    /// already on its way: their request quota was checked before handling
    /// (and reported), so this only counts the time for the next request.
    fn record_request_time_only(&self, started: Option<Instant>) -> i32 {
        let Some(started) = started else {
            return 0;
        };
        let quotas = &self.state.quotas.request;
        let user = self.session.principal.name.as_str();
        quotas.record_and_throttle_ms(
            user,
            self.client_id,
            crate::quota::nanos_to_percentage(started.elapsed().as_nanos()),
            crate::broker::now_ms(),
        )
    }

    /// Produce's throttle (Kafka's KafkaApis.handleProduceRequest): the
    /// request's bytes against `producer_byte_rate`, and whether the
    /// connection is already over `request_percentage`; the larger one is
    /// answered and mutes the connection.
    fn produce_throttle_ms(&self, request_bytes: usize) -> i32 {
        let quotas = &self.state.quotas;
        if !quotas.produce.enabled() && !quotas.request.enabled() {
            return 0;
        }
        let user = self.session.principal.name.as_str();
        let now = crate::broker::now_ms();
        let bandwidth =
            quotas
                .produce
                .record_and_throttle_ms(user, self.client_id, request_bytes as f64, now);
        let request = quotas
            .request
            .record_and_throttle_ms(user, self.client_id, 0.0, now);
        let throttle = bandwidth.max(request);
        if bandwidth >= request {
            quotas.produce.throttled(user, self.client_id, bandwidth);
        } else {
            quotas.request.throttled(user, self.client_id, request);
        }
        self.session.throttle.mute_for(throttle);
        throttle
    }

    /// The fetch's quota, when `consumer_byte_rate` or `request_percentage`
    /// is set: checked when the response is complete.
    fn fetch_quota(&self) -> Option<crate::quota::FetchQuota> {
        let quotas = &self.state.quotas;
        if !quotas.fetch.enabled() && !quotas.request.enabled() {
            return None;
        }
        Some(crate::quota::FetchQuota {
            user: self.session.principal.name.clone(),
            client_id: self.client_id.to_owned(),
            throttle: self.session.throttle.clone(),
        })
    }
}

async fn simple<Req, Resp, F, Fut>(ctx: &RequestContext<'_>, body: &mut Bytes, handler: F) -> Reply
where
    Req: Decodable,
    Resp: Encodable + crate::quota::ThrottleTime,
    F: FnOnce(Req) -> Fut,
    Fut: std::future::Future<Output = Resp>,
{
    match decode::<Req>(ctx.api, ctx.version, body, ctx.peer) {
        Some(req) => {
            // Responses without a throttle time are the brokers' own
            // (cluster actions), exempt from the request quota as in Kafka.
            let started = (ctx.request_quota() && Resp::HAS_THROTTLE_TIME).then(Instant::now);
            let mut resp = handler(req).await;
            let throttle = ctx.record_request_time(started);
            if throttle > 0 {
                // The larger of this and a throttle the handler set (a controller mutation's).
                resp.set_throttle_time_ms(throttle);
            }
            encode(ctx.api, ctx.version, ctx.corr, &resp)
        }
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
