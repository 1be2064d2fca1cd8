//! Fetch: per partition, index lookup → file position → whole batches up to
//! the byte limits, never decoded; then, if fewer than `min_bytes` were
//! found, park until an append or `max_wait_ms`. The limits are the client's,
//! capped by `fetch.max.bytes`, so one Fetch reads at most that much (plus
//! KIP-74's one whole first batch) into memory whatever `max_bytes` says.
//!
//! Fetch sessions (KIP-227): this broker does not create sessions. A client
//! asking for one gets session id 0, which KIP-227 defines as "no session",
//! and keeps sending full fetch requests; a request naming a session id we
//! never handed out gets FETCH_SESSION_ID_NOT_FOUND.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::{ApiKey, FetchRequest, FetchResponse, TopicName};
use uuid::Uuid;

use crate::broker::BrokerState;
use crate::connection::Reply;
use crate::dispatch::encode;
use crate::partition::Partition;

const READ_COMMITTED: i8 = 1;

struct PlannedPartition {
    index: i32,
    fetch_offset: i64,
    max_bytes: usize,
    target: Result<Arc<Partition>, ResponseError>,
}

struct PlannedTopic {
    name: TopicName,
    topic_id: Uuid,
    partitions: Vec<PlannedPartition>,
}

struct Plan {
    version: i16,
    corr: i32,
    max_bytes: usize,
    min_bytes: usize,
    read_committed: bool,
    topics: Vec<PlannedTopic>,
}

pub(crate) fn handle(
    state: &Arc<BrokerState>,
    version: i16,
    corr: i32,
    req: FetchRequest,
) -> Reply {
    if req.session_id != 0 {
        let mut resp = FetchResponse::default();
        resp.error_code = ResponseError::FetchSessionIdNotFound.code();
        return encode(ApiKey::Fetch, version, corr, &resp);
    }
    // fetch.max.bytes caps what the client asks for, the request's and each
    // partition's limit alike (Kafka's ReplicaManager does the same); KIP-74's
    // first batch is still returned whole.
    let fetch_max_bytes =
        usize::try_from(state.effective_config().fetch_max_bytes).unwrap_or(usize::MAX);
    let requested_max_bytes = req.max_bytes.max(0) as usize;
    if requested_max_bytes > fetch_max_bytes {
        tracing::debug!(
            requested = requested_max_bytes,
            fetch_max_bytes,
            "fetch max_bytes capped at fetch.max.bytes"
        );
    }
    let image = state.image();
    let topics = req
        .topics
        .into_iter()
        .map(|t| {
            // v13+ names topics by id only.
            let resolved: Option<Arc<str>> = if version >= 13 {
                image
                    .topic_by_id(strom_metadata::TopicId::from_bytes(*t.topic_id.as_bytes()))
                    .map(|ti| Arc::from(ti.name.as_str()))
            } else {
                Some(Arc::from(&*t.topic.0))
            };
            let partitions =
                t.partitions
                    .into_iter()
                    .map(|p| {
                        let target = match &resolved {
                            None => Err(ResponseError::UnknownTopicId),
                            Some(name) => state
                                .replicas
                                .leader_partition(name, p.partition)
                                .and_then(|part| {
                                    check_leader_epoch(p.current_leader_epoch, part.leader_epoch())
                                        .map(|_| part)
                                }),
                        };
                        PlannedPartition {
                            index: p.partition,
                            fetch_offset: p.fetch_offset,
                            max_bytes: (p.partition_max_bytes.max(0) as usize).min(fetch_max_bytes),
                            target,
                        }
                    })
                    .collect();
            PlannedTopic {
                name: t.topic,
                topic_id: t.topic_id,
                partitions,
            }
        })
        .collect();
    let plan = Plan {
        version,
        corr,
        max_bytes: requested_max_bytes.min(fetch_max_bytes),
        min_bytes: req.min_bytes.max(0) as usize,
        read_committed: req.isolation_level == READ_COMMITTED,
        topics,
    };
    // Taken before reading: any append after this moves a high watermark,
    // which lets the long poll skip re-reading when nothing changed.
    let seen = plan.high_watermarks();
    let (resp, bytes, errors) = plan.read();
    let max_wait = Duration::from_millis(req.max_wait_ms.max(0) as u64);
    if bytes >= plan.min_bytes || errors || max_wait.is_zero() {
        return encode(ApiKey::Fetch, version, corr, &resp);
    }
    Reply::Later(Box::pin(
        async move { plan.wait_for_data(max_wait, seen).await },
    ))
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
                    Ok(partition) => {
                        let remaining = self.max_bytes.saturating_sub(total);
                        // KIP-74: the first partition with data returns at
                        // least one batch even past the limits.
                        let limit = p.max_bytes.min(remaining);
                        match partition.read(p.fetch_offset, limit, total == 0) {
                            Ok(read) => {
                                pd.high_watermark = read.high_watermark;
                                pd.last_stable_offset = read.high_watermark;
                                pd.log_start_offset = read.log_start_offset;
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

    fn watched(&self) -> impl Iterator<Item = &Arc<Partition>> {
        self.topics
            .iter()
            .flat_map(|t| t.partitions.iter())
            .filter_map(|p| p.target.as_ref().ok())
    }

    fn high_watermarks(&self) -> Vec<i64> {
        self.watched().map(|p| p.high_watermark()).collect()
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
                    return match encode(ApiKey::Fetch, self.version, self.corr, &resp) {
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
