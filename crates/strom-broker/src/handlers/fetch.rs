//! Fetch: per partition, index lookup → file position → whole batches up to
//! the byte limits, never decoded; then, if fewer than `min_bytes` were
//! found, park until an append or `max_wait_ms`. The limits are the client's,
//! capped by `fetch.max.bytes`, so one Fetch reads at most that much (plus
//! KIP-74's one whole first batch) into memory whatever `max_bytes` says.
//! The response is encoded around the record bytes
//! (`strom_protocol::encode_fetch_response`): the buffers the log read are
//! pieces of the reply frame, written to the socket with `writev`, never
//! copied into the response.
//!
//! Fetch sessions (KIP-227, `fetch_session.rs`): the session cache decides
//! which partitions a Fetch reads (the request's, or every partition of its
//! incremental session) and, once read, which of them the response carries.
//! The long poll watches every partition read, so an append to any
//! partition of a session wakes it.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::fetch_response::{
    AbortedTransaction, FetchableTopicResponse, NodeEndpoint, PartitionData,
};
use kafka_protocol::messages::{BrokerId, FetchRequest, FetchResponse, ProducerId, TopicName};
use uuid::Uuid;

use strom_metadata::acl::AclOperation;

use crate::authz::Authz;
use crate::broker::BrokerState;
use crate::connection::Reply;
use crate::fetch_session::{
    FetchContext, PartitionOutcome, PartitionRequest, SessionPartition, SessionRequest,
    SessionTopic, INVALID_SESSION_ID,
};
use crate::partition::Partition;

const READ_COMMITTED: i8 = 1;

struct PlannedPartition {
    index: i32,
    request: PartitionRequest,
    max_bytes: usize,
    target: Result<Arc<Partition>, ResponseError>,
    /// The fetcher's history diverged from the leader's after this (epoch,
    /// end offset): answered instead of records (KIP-320 / KIP-595).
    diverging: Option<(i32, i64)>,
    /// KIP-392: the replica in the consumer's rack to read from instead.
    preferred_read_replica: Option<i32>,
    /// A follower fetch under `leader.replication.throttled.rate`.
    throttled: bool,
}

struct PlannedTopic {
    key: SessionTopic,
    name: TopicName,
    topic_id: Uuid,
    partitions: Vec<PlannedPartition>,
}

/// What the response does with the fetch session once read.
enum SessionStep {
    Sessionless,
    Full {
        privileged: bool,
        uses_topic_ids: bool,
    },
    Incremental {
        session_id: i32,
        expected_epoch: i32,
    },
}

struct Plan {
    version: i16,
    corr: i32,
    max_bytes: usize,
    min_bytes: usize,
    read_committed: bool,
    /// A follower's fetch: reads reach the log end, not the high watermark.
    from_follower: bool,
    state: Arc<BrokerState>,
    topics: Vec<PlannedTopic>,
    session: SessionStep,
    /// A consumer's client quotas, when any is set.
    quota: Option<crate::quota::FetchQuota>,
}

/// Everything planning one partition needs from the request as a whole.
struct PlanScope<'a> {
    state: &'a Arc<BrokerState>,
    image: &'a strom_metadata::MetadataImage,
    fetch_max_bytes: usize,
    replica_id: i32,
    from_follower: bool,
    consumer_may_read_followers: bool,
    client_rack: Option<String>,
    now: i64,
    /// Consumers need READ on the topic (followers are checked once, for
    /// CLUSTER_ACTION, before planning).
    authz: &'a Authz<'a>,
}

/// The request's partitions in request order, keyed as a session keys them.
fn request_partitions(
    version: i16,
    req: &FetchRequest,
) -> Vec<(SessionPartition, PartitionRequest)> {
    let mut out = Vec::new();
    for t in &req.topics {
        let topic = session_topic(version, &t.topic.0, t.topic_id);
        for p in &t.partitions {
            out.push((
                SessionPartition {
                    topic: topic.clone(),
                    partition: p.partition,
                },
                PartitionRequest {
                    fetch_offset: p.fetch_offset,
                    log_start_offset: p.log_start_offset,
                    max_bytes: p.partition_max_bytes,
                    current_leader_epoch: p.current_leader_epoch,
                    last_fetched_epoch: p.last_fetched_epoch,
                },
            ));
        }
    }
    out
}

fn session_topic(version: i16, name: &str, topic_id: Uuid) -> SessionTopic {
    // v13+ names topics by id only.
    if version >= 13 {
        SessionTopic::Id(topic_id)
    } else {
        SessionTopic::Name(Arc::from(name))
    }
}

fn forgotten_partitions(version: i16, req: &FetchRequest) -> Vec<SessionPartition> {
    req.forgotten_topics_data
        .iter()
        .flat_map(|t| {
            let topic = session_topic(version, &t.topic.0, t.topic_id);
            t.partitions.iter().map(move |&partition| SessionPartition {
                topic: topic.clone(),
                partition,
            })
        })
        .collect()
}

/// Partitions in the cluster: the most one session may hold.
fn cluster_partition_count(image: &strom_metadata::MetadataImage) -> usize {
    image.topics().map(|t| t.partitions.len()).sum()
}

pub(crate) fn handle(
    state: &Arc<BrokerState>,
    version: i16,
    corr: i32,
    req: FetchRequest,
    listener: &str,
    quota: Option<crate::quota::FetchQuota>,
    authz: &Authz<'_>,
) -> Reply {
    // fetch.max.bytes caps what the client asks for, the request's and each
    // partition's limit alike (Kafka's ReplicaManager does the same); KIP-74's
    // first batch is still returned whole.
    let mut fetch_max_bytes =
        usize::try_from(state.effective_config().fetch_max_bytes).unwrap_or(usize::MAX);
    // Under consumer_byte_rate, no more than the quota's windows hold
    // (Kafka's maxQuotaWindowBytes), so one response cannot earn a throttle
    // longer than the window.
    if let Some(limit) = quota.as_ref().and_then(|q| q.max_bytes(&state.quotas)) {
        fetch_max_bytes = fetch_max_bytes.min(limit);
    }
    let requested_max_bytes = req.max_bytes.max(0) as usize;
    if requested_max_bytes > fetch_max_bytes {
        tracing::debug!(
            requested = requested_max_bytes,
            fetch_max_bytes,
            "fetch max_bytes capped at fetch.max.bytes"
        );
    }
    let image = state.image();
    let replica_id = if version >= 15 {
        req.replica_state.replica_id.0
    } else {
        req.replica_id.0
    };
    let from_follower = is_from_follower(version, &req);
    let now = crate::broker::now_ms();
    if from_follower && !authz.cluster(AclOperation::ClusterAction) {
        let mut resp = FetchResponse::default();
        resp.error_code = ResponseError::ClusterAuthorizationFailed.code();
        return encode_fetch(version, corr, &resp);
    }

    let fetch_data = request_partitions(version, &req);
    let forgotten = forgotten_partitions(version, &req);
    let partition_limit = || cluster_partition_count(&image);
    let context = state.fetch_sessions.new_context(
        &SessionRequest {
            session_id: req.session_id,
            epoch: req.session_epoch,
            uses_topic_ids: version >= 13,
            privileged: from_follower,
            fetch_data: &fetch_data,
            forgotten: &forgotten,
            partition_limit: &partition_limit,
        },
        now,
    );
    let (partitions, session) = match context {
        FetchContext::SessionError(e) => {
            tracing::debug!(session_id = req.session_id, epoch = req.session_epoch, error = ?e, "fetch session error");
            let mut resp = FetchResponse::default();
            resp.error_code = e.code();
            return encode_fetch(version, corr, &resp);
        }
        FetchContext::Sessionless => (fetch_data, SessionStep::Sessionless),
        FetchContext::Full {
            privileged,
            uses_topic_ids,
        } => (
            fetch_data,
            SessionStep::Full {
                privileged,
                uses_topic_ids,
            },
        ),
        FetchContext::Incremental {
            session_id,
            expected_epoch,
            partitions,
        } => {
            tracing::debug!(
                session_id,
                epoch = req.session_epoch,
                named = fetch_data.len(),
                forgotten = forgotten.len(),
                session_partitions = partitions.len(),
                "incremental fetch"
            );
            (
                partitions,
                SessionStep::Incremental {
                    session_id,
                    expected_epoch,
                },
            )
        }
    };

    // KIP-392: consumers (v11+, which carry a rack) may read from followers,
    // and a rack-aware leader sends them to an in-sync replica in their rack.
    let consumer_may_read_followers = !from_follower && version >= 11;
    let client_rack = (consumer_may_read_followers
        && state.effective_config().replication.rack_aware_selector)
        .then(|| req.rack_id.as_str().to_owned())
        .filter(|r| !r.is_empty());
    let scope = PlanScope {
        state,
        image: &image,
        fetch_max_bytes,
        replica_id,
        from_follower,
        consumer_may_read_followers,
        client_rack,
        now,
        authz,
    };
    // Consecutive partitions of one topic make one response topic, as the
    // request (or the session's order) lists them.
    let mut topics: Vec<PlannedTopic> = Vec::new();
    for (key, request) in partitions {
        if topics.last().is_none_or(|t| t.key != key.topic) {
            topics.push(plan_topic(&scope, key.topic.clone()));
        }
        if let Some(t) = topics.last_mut() {
            let planned = plan_partition(&scope, t, key.partition, request);
            t.partitions.push(planned);
        }
    }
    let plan = Plan {
        version,
        corr,
        max_bytes: requested_max_bytes.min(fetch_max_bytes),
        min_bytes: req.min_bytes.max(0) as usize,
        read_committed: req.isolation_level == READ_COMMITTED,
        from_follower,
        state: state.clone(),
        topics,
        session,
        quota,
    };
    // Taken before reading: any append after this moves a high watermark,
    // which lets the long poll skip re-reading when nothing changed.
    let seen = plan.high_watermarks();
    let (mut resp, bytes, errors) = plan.read();
    if version >= 16 && errors {
        // KIP-951: NOT_LEADER_OR_FOLLOWER / FENCED_LEADER_EPOCH name the
        // current leader and its endpoint.
        let mut leaders = std::collections::BTreeSet::new();
        for t in &mut resp.responses {
            let Some(name) = image
                .topic_by_id(strom_metadata::TopicId::from_bytes(*t.topic_id.as_bytes()))
                .map(|ti| ti.name.clone())
            else {
                continue;
            };
            for pd in &mut t.partitions {
                let stale = pd.error_code == ResponseError::NotLeaderOrFollower.code()
                    || pd.error_code == ResponseError::FencedLeaderEpoch.code();
                if !stale {
                    continue;
                }
                if let Some((leader, epoch)) =
                    super::current_leader(&image, &name, pd.partition_index)
                {
                    pd.current_leader.leader_id = BrokerId(leader);
                    pd.current_leader.leader_epoch = epoch;
                    leaders.insert(leader);
                }
            }
        }
        resp.node_endpoints = super::leader_endpoints(state, listener, &leaders)
            .into_iter()
            .map(|b| {
                NodeEndpoint::default()
                    .with_node_id(BrokerId(b.node_id))
                    .with_host(super::str_bytes(&b.host))
                    .with_port(i32::from(b.port))
                    .with_rack(b.rack.as_deref().map(super::str_bytes))
            })
            .collect();
    }
    let max_wait = Duration::from_millis(req.max_wait_ms.max(0) as u64);
    if bytes >= plan.min_bytes || errors || max_wait.is_zero() {
        let resp = plan.finish(resp);
        return encode_fetch(version, corr, &resp);
    }
    Reply::Later(Box::pin(
        async move { plan.wait_for_data(max_wait, seen).await },
    ))
}

/// Whether a follower sent the fetch: v15+ names it in ReplicaState,
/// earlier versions in replica_id; consumers send -1.
pub(crate) fn is_from_follower(version: i16, req: &FetchRequest) -> bool {
    let replica_id = if version >= 15 {
        req.replica_state.replica_id.0
    } else {
        req.replica_id.0
    };
    replica_id >= 0
}

/// A response topic for `key`: its name and id from the metadata image.
fn plan_topic(scope: &PlanScope<'_>, key: SessionTopic) -> PlannedTopic {
    let (name, topic_id) = match &key {
        SessionTopic::Id(id) => (TopicName::default(), *id),
        SessionTopic::Name(name) => (
            TopicName(super::str_bytes(name)),
            scope
                .image
                .topic(name)
                .map(|ti| Uuid::from_bytes(ti.topic_id.to_bytes()))
                .unwrap_or_default(),
        ),
    };
    PlannedTopic {
        key,
        name,
        topic_id,
        partitions: Vec::new(),
    }
}

fn resolved_name(scope: &PlanScope<'_>, key: &SessionTopic) -> Option<Arc<str>> {
    match key {
        SessionTopic::Id(id) => scope
            .image
            .topic_by_id(strom_metadata::TopicId::from_bytes(*id.as_bytes()))
            .map(|ti| Arc::from(ti.name.as_str())),
        SessionTopic::Name(name) => Some(name.clone()),
    }
}

fn plan_partition(
    scope: &PlanScope<'_>,
    topic: &PlannedTopic,
    index: i32,
    request: PartitionRequest,
) -> PlannedPartition {
    let state = scope.state;
    let image = scope.image;
    let replica_id = scope.replica_id;
    let resolved = resolved_name(scope, &topic.key);
    let topic_id = match &resolved {
        Some(name) => image
            .topic(name)
            .map(|ti| Uuid::from_bytes(ti.topic_id.to_bytes()))
            .unwrap_or(topic.topic_id),
        None => topic.topic_id,
    };
    let is_alive = |id: i32| {
        image
            .broker(id)
            .is_some_and(strom_metadata::BrokerRegistration::is_alive)
    };
    let mut diverging = None;
    let mut preferred_read_replica = None;
    let throttled = scope.from_follower
        && state.replicas.leader_quota().is_limited()
        && resolved.as_deref().is_some_and(|name| {
            crate::replication::quota::is_throttled(
                image
                    .topic_config(name)
                    .get("leader.replication.throttled.replicas"),
                index,
                state.node_id,
            ) && !image
                .topic(name)
                .and_then(|ti| ti.partitions.get(&index))
                .is_some_and(|pi| pi.isr.contains(&replica_id))
        });
    let target = match &resolved {
        None => Err(ResponseError::UnknownTopicId),
        Some(name) if !scope.from_follower && !scope.authz.topic(AclOperation::Read, name) => {
            Err(ResponseError::TopicAuthorizationFailed)
        }
        Some(name) => if scope.consumer_may_read_followers {
            state.replicas.hosted_partition(name, index)
        } else {
            state.replicas.leader_partition(name, index)
        }
        .and_then(|part| {
            check_leader_epoch(request.current_leader_epoch, part.leader_epoch()).map(|_| part)
        })
        .and_then(|part| {
            diverging = diverged(&part, request.last_fetched_epoch, request.fetch_offset)?;
            if let Some(rack) = &scope.client_rack {
                if part.is_leader() {
                    preferred_read_replica =
                        read_replica_in_rack(image, name, index, rack, state.node_id);
                }
            }
            if scope.from_follower && diverging.is_none() {
                follower_fetched(
                    state,
                    &part,
                    topic_id,
                    replica_id,
                    request.fetch_offset,
                    scope.now,
                    &is_alive,
                )?;
            }
            Ok(part)
        }),
    };
    PlannedPartition {
        index,
        request,
        max_bytes: (request.max_bytes.max(0) as usize).min(scope.fetch_max_bytes),
        target,
        diverging,
        preferred_read_replica,
        throttled,
    }
}

/// Whether a fetcher's history diverged from this leader's: the last epoch
/// it has ends here before its fetch offset, or this log never had that
/// epoch (Kafka's check; `last_fetched_epoch` -1 skips it).
fn diverged(
    partition: &Partition,
    last_fetched_epoch: i32,
    fetch_offset: i64,
) -> Result<Option<(i32, i64)>, ResponseError> {
    if last_fetched_epoch < 0 {
        return Ok(None);
    }
    let (epoch, end) = partition
        .end_offset_for_epoch(last_fetched_epoch)
        .map_err(|e| {
            ResponseError::try_from_code(e.error_code())
                .unwrap_or(ResponseError::UnknownServerError)
        })?;
    Ok(crate::replication::follower::diverging_epoch(
        |_| (epoch, end),
        last_fetched_epoch,
        fetch_offset,
    ))
}

/// KIP-392's rack-aware selector: the in-sync, live replica in `rack` a
/// consumer should read from, when it is not this leader (the leader wins
/// when it is in that rack).
fn read_replica_in_rack(
    image: &strom_metadata::MetadataImage,
    topic: &str,
    partition: i32,
    rack: &str,
    node_id: i32,
) -> Option<i32> {
    let p = image.topic(topic)?.partitions.get(&partition)?;
    let in_rack = |id: i32| {
        image
            .broker(id)
            .is_some_and(|b| b.is_alive() && b.rack.as_deref() == Some(rack))
    };
    if in_rack(node_id) {
        return None;
    }
    p.replicas
        .iter()
        .copied()
        .find(|&r| r != node_id && p.isr.contains(&r) && in_rack(r))
}

/// Records a follower's fetch on the leader (which may move the high
/// watermark) and sends the ISR expansion it may lead to.
fn follower_fetched(
    state: &Arc<BrokerState>,
    partition: &Arc<Partition>,
    topic_id: Uuid,
    replica_id: i32,
    fetch_offset: i64,
    now: i64,
    is_alive: &dyn Fn(i32) -> bool,
) -> Result<(), ResponseError> {
    if fetch_offset > partition.log_end_offset() {
        // Past this log's end: the fetch is answered OFFSET_OUT_OF_RANGE and
        // says nothing about what the follower holds.
        return Ok(());
    }
    match partition.on_follower_fetch(replica_id, fetch_offset, now, is_alive) {
        Ok(Some(proposal)) => {
            state
                .replicas
                .isr_changes()
                .propose(partition.clone(), topic_id, proposal);
            Ok(())
        }
        Ok(None) => Ok(()),
        Err(e) => Err(ResponseError::try_from_code(e.error_code())
            .unwrap_or(ResponseError::NotLeaderOrFollower)),
    }
}

/// The response with each partition's record bytes as a piece of the
/// frame, shared with the log read rather than copied into the response.
fn encode_fetch(version: i16, corr: i32, resp: &FetchResponse) -> Reply {
    match strom_protocol::encode_fetch_response(version, corr, resp) {
        Ok(frame) => Reply::Now(frame),
        Err(e) => {
            // As `dispatch::encode`: a broker bug, the client sees a closed connection.
            tracing::error!("{e}");
            Reply::Close
        }
    }
}

/// What the fetch session compares of a partition's response.
fn outcome(pd: &PartitionData) -> PartitionOutcome {
    PartitionOutcome {
        records_bytes: pd.records.as_ref().map_or(0, Bytes::len),
        high_watermark: pd.high_watermark,
        log_start_offset: pd.log_start_offset,
        error_code: pd.error_code,
        preferred_read_replica: pd.preferred_read_replica.0 != -1,
        diverging_epoch: pd.diverging_epoch.epoch >= 0,
    }
}

fn check_leader_epoch(requested: i32, current: i32) -> Result<(), ResponseError> {
    if requested < 0 || requested == current {
        Ok(())
    } else if requested > current {
        Err(ResponseError::UnknownLeaderEpoch)
    } else {
        Err(ResponseError::FencedLeaderEpoch)
    }
}

impl Plan {
    /// One pass over the partitions: the response, its record bytes, and
    /// whether any partition failed (an error answers at once).
    fn read(&self) -> (FetchResponse, usize, bool) {
        let mut resp = FetchResponse::default();
        let mut total = 0usize;
        let mut errors = false;
        for t in &self.topics {
            let mut out = FetchableTopicResponse::default();
            out.topic = t.name.clone();
            out.topic_id = t.topic_id;
            for p in &t.partitions {
                let mut pd = PartitionData::default();
                pd.partition_index = p.index;
                pd.high_watermark = -1;
                pd.last_stable_offset = -1;
                pd.log_start_offset = -1;
                pd.records = Some(Bytes::new());
                if self.read_committed {
                    pd.aborted_transactions = Some(Vec::new());
                }
                match &p.target {
                    Err(e) => {
                        pd.error_code = e.code();
                        errors = true;
                    }
                    Ok(partition) if p.preferred_read_replica.is_some() => {
                        pd.preferred_read_replica =
                            BrokerId(p.preferred_read_replica.unwrap_or(-1));
                        pd.high_watermark = partition.high_watermark();
                        pd.last_stable_offset = partition.last_stable_offset();
                        pd.log_start_offset = partition.log_start_offset();
                        // Answered at once: the consumer goes to that replica.
                        errors = true;
                    }
                    Ok(partition) if p.diverging.is_some() => {
                        let (epoch, end_offset) = p.diverging.unwrap_or((-1, -1));
                        pd.diverging_epoch.epoch = epoch;
                        pd.diverging_epoch.end_offset = end_offset;
                        // Answered at once: the fetcher truncates first.
                        errors = true;
                        pd.high_watermark = partition.high_watermark();
                        pd.last_stable_offset = partition.last_stable_offset();
                        pd.log_start_offset = partition.log_start_offset();
                    }
                    Ok(partition)
                        if p.throttled && self.state.replicas.leader_quota().exceeded() =>
                    {
                        // Over leader.replication.throttled.rate: nothing this time.
                        pd.high_watermark = partition.high_watermark();
                        pd.last_stable_offset = partition.last_stable_offset();
                        pd.log_start_offset = partition.log_start_offset();
                    }
                    Ok(partition) => {
                        let remaining = self.max_bytes.saturating_sub(total);
                        // KIP-74: the first partition with data returns at
                        // least one batch even past the limits.
                        let limit = p.max_bytes.min(remaining);
                        match partition.read_with_isolation(
                            p.request.fetch_offset,
                            limit,
                            total == 0,
                            self.from_follower,
                            self.read_committed,
                        ) {
                            Ok(read) => {
                                if p.throttled {
                                    self.state
                                        .replicas
                                        .leader_quota()
                                        .record(read.records.len() as u64);
                                }
                                pd.high_watermark = read.high_watermark;
                                pd.last_stable_offset = read.last_stable_offset;
                                pd.log_start_offset = read.log_start_offset;
                                if self.read_committed {
                                    pd.aborted_transactions = Some(
                                        read.aborted_transactions
                                            .iter()
                                            .map(|t| {
                                                AbortedTransaction::default()
                                                    .with_producer_id(ProducerId(t.producer_id))
                                                    .with_first_offset(t.first_offset)
                                            })
                                            .collect(),
                                    );
                                }
                                total += read.records.len();
                                pd.records = Some(read.records);
                            }
                            Err(e) => {
                                pd.error_code = e.error_code();
                                errors = true;
                            }
                        }
                    }
                }
                out.partitions.push(pd);
            }
            resp.responses.push(out);
        }
        (resp, total, errors)
    }

    /// The response as the fetch session has it: a full fetch's creates
    /// the session, an incremental fetch's carries only what changed. Done
    /// once, on the response that is sent.
    fn finish(&self, mut resp: FetchResponse) -> FetchResponse {
        if let Some(throttled) = self.over_quota(&resp) {
            return throttled;
        }
        // The response as read lines up with the plan, topic by topic and
        // partition by partition; count it before the session trims it.
        for (t, out) in self.topics.iter().zip(&resp.responses) {
            for (p, pd) in t.partitions.iter().zip(&out.partitions) {
                if let Ok(partition) = &p.target {
                    let bytes = pd.records.as_ref().map_or(0, |r| r.len()) as u64;
                    if self.from_follower {
                        partition.metrics.replicated_out(bytes);
                    } else {
                        partition.metrics.fetched(bytes);
                    }
                }
            }
        }
        let outcomes = self
            .topics
            .iter()
            .zip(&resp.responses)
            .flat_map(|(t, out)| {
                t.partitions.iter().zip(&out.partitions).map(|(p, pd)| {
                    (
                        SessionPartition {
                            topic: t.key.clone(),
                            partition: p.index,
                        },
                        p.request,
                        outcome(pd),
                    )
                })
            });
        match self.session {
            SessionStep::Sessionless => resp.session_id = INVALID_SESSION_ID,
            SessionStep::Full {
                privileged,
                uses_topic_ids,
            } => {
                let limit = cluster_partition_count(&self.state.image());
                let partitions: Vec<_> = outcomes.collect();
                let count = partitions.len();
                resp.session_id = self.state.fetch_sessions.create_session(
                    crate::broker::now_ms(),
                    privileged,
                    uses_topic_ids,
                    partitions,
                    limit,
                );
                tracing::debug!(
                    session_id = resp.session_id,
                    partitions = count,
                    privileged,
                    "full fetch"
                );
            }
            SessionStep::Incremental {
                session_id,
                expected_epoch,
            } => {
                let outcomes: Vec<_> = outcomes.map(|(key, _, out)| (key, out)).collect();
                match self.state.fetch_sessions.respond_incremental(
                    session_id,
                    expected_epoch,
                    &outcomes,
                ) {
                    Ok(carried) => {
                        let mut carried = carried.into_iter();
                        for t in &mut resp.responses {
                            t.partitions.retain(|_| carried.next().unwrap_or(true));
                        }
                        resp.responses.retain(|t| !t.partitions.is_empty());
                        resp.session_id = session_id;
                    }
                    Err(e) => {
                        tracing::debug!(session_id, error = ?e, "fetch session changed during the fetch");
                        let mut err = FetchResponse::default();
                        err.error_code = e.code();
                        if e == ResponseError::InvalidFetchSessionEpoch {
                            err.session_id = session_id;
                        }
                        return err;
                    }
                }
            }
        }
        resp
    }

    /// Over `consumer_byte_rate` or `request_percentage`, the answer is
    /// Kafka's throttled response: no partitions, the throttle time, and
    /// the fetch session untouched (the client fetches the same offsets
    /// again once the throttle time has passed).
    fn over_quota(&self, resp: &FetchResponse) -> Option<FetchResponse> {
        let quota = self.quota.as_ref()?;
        let bytes: usize = resp
            .responses
            .iter()
            .flat_map(|t| &t.partitions)
            .map(|p| p.records.as_ref().map_or(0, Bytes::len))
            .sum();
        let throttle = quota.throttle_ms(&self.state.quotas, bytes);
        if throttle <= 0 {
            return None;
        }
        let mut throttled = FetchResponse::default();
        throttled.throttle_time_ms = throttle;
        throttled.session_id = match self.session {
            SessionStep::Incremental { session_id, .. } => session_id,
            _ => INVALID_SESSION_ID,
        };
        Some(throttled)
    }

    fn watched(&self) -> impl Iterator<Item = &Arc<Partition>> {
        self.topics
            .iter()
            .flat_map(|t| t.partitions.iter())
            .filter_map(|p| p.target.as_ref().ok())
    }

    /// Where each watched partition's readable data ends: the high
    /// watermark for consumers, the log end for followers.
    fn high_watermarks(&self) -> Vec<i64> {
        self.watched()
            .map(|p| {
                if self.from_follower {
                    p.log_end_offset()
                } else {
                    p.high_watermark()
                }
            })
            .collect()
    }

    /// Parks until `min_bytes` are there or `max_wait` passed. `seen` holds
    /// the high watermarks from before the read that found too little.
    async fn wait_for_data(
        self,
        max_wait: Duration,
        seen: Vec<i64>,
    ) -> Option<strom_protocol::ResponseFrame> {
        let deadline = tokio::time::Instant::now() + max_wait;
        let mut unchanged_since_last_read = Some(seen);
        loop {
            // Register for wake-ups before looking, so an append between the
            // look and the wait is not missed.
            let notified: Vec<_> = self.watched().map(|p| Box::pin(p.data_arrived())).collect();
            let skip_read = unchanged_since_last_read
                .take()
                .is_some_and(|seen| seen == self.high_watermarks());
            if !skip_read {
                let (resp, bytes, errors) = self.read();
                if bytes >= self.min_bytes || errors || tokio::time::Instant::now() >= deadline {
                    let resp = self.finish(resp);
                    return match encode_fetch(self.version, self.corr, &resp) {
                        Reply::Now(frame) => Some(frame),
                        _ => None,
                    };
                }
            }
            let any_append = async {
                if notified.is_empty() {
                    std::future::pending::<()>().await;
                }
                futures_util::future::select_all(notified).await;
            };
            tokio::select! {
                _ = any_append => {}
                _ = tokio::time::sleep_until(deadline) => {}
            }
        }
    }
}
