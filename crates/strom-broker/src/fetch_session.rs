//! Incremental fetch sessions (KIP-227), as Kafka's `FetchSession.scala`:
//! `FetchManager.newContext` decides what a Fetch reads, and the context
//! decides what its response carries.
//!
//! A full fetch (epoch 0) names every partition; its response creates a
//! session holding each partition's request parameters (fetch offset, log
//! start offset, max bytes, leader epochs) and the high watermark and log
//! start offset last sent. An incremental fetch (the session's id and epoch)
//! names only partitions whose parameters changed and lists the ones to
//! forget; it reads every partition of the session, and its response carries
//! only partitions with records, a changed high watermark or log start
//! offset, an error, a preferred read replica or a diverging epoch. Epoch -1
//! fetches without a session, closing the one named.
//!
//! The cache is Kafka's `FetchSessionCache`: 8 shards
//! (`NumFetchSessionCacheShards`) of `max.incremental.fetch.session.cache.slots
//! / 8` sessions each, new sessions given to the shards in turn, session ids
//! random within their shard's range. When a shard is full, a new session
//! evicts one idle longer than 120 s (`MIN_INCREMENTAL_FETCH_SESSION_EVICTION_MS`,
//! a constant in Kafka, not a key), else the smallest evictable one if the new
//! one is worth at least as much (a follower's sessions are privileged; a
//! session younger than 120 s is evictable only by a privileged one, and a
//! privileged one of that age by none), else none is created and the client
//! keeps sending full fetches.
//!
//! Kafka bounds only the number of sessions. Here a session also never holds
//! more partitions than the cluster has (`partition_limit`): a full fetch
//! naming more creates no session, and an incremental fetch that would grow a
//! session past it closes the session (answered as a sessionless fetch of the
//! partitions it names, which clients take as "session closed"), so no client
//! makes the broker keep partitions of topics that do not exist, and the
//! whole cache holds at most slots × partitions of the cluster.
//!
//! Everything here is plain state under one lock per shard, taken briefly
//! and never across an await; time is passed in.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use uuid::Uuid;

pub(crate) const INVALID_SESSION_ID: i32 = 0;
pub(crate) const INITIAL_EPOCH: i32 = 0;
pub(crate) const FINAL_EPOCH: i32 = -1;
/// Kafka's `KafkaServer.MIN_INCREMENTAL_FETCH_SESSION_EVICTION_MS`.
pub(crate) const EVICTION_MS: i64 = 120_000;
/// Kafka's `KafkaBroker.NumFetchSessionCacheShards`.
pub(crate) const SHARDS: usize = 8;

/// The epoch after `prev` (Kafka's `FetchMetadata.nextEpoch`).
pub(crate) fn next_epoch(prev: i32) -> i32 {
    if prev < 0 {
        FINAL_EPOCH
    } else if prev == i32::MAX {
        1
    } else {
        prev + 1
    }
}

/// How a session names a topic: by id from v13, by name before.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum SessionTopic {
    Id(Uuid),
    Name(Arc<str>),
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct SessionPartition {
    pub topic: SessionTopic,
    pub partition: i32,
}

/// A partition's fetch parameters, as the request (or the session) gives them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PartitionRequest {
    pub fetch_offset: i64,
    /// The fetcher's own log start offset (followers).
    pub log_start_offset: i64,
    pub max_bytes: i32,
    pub current_leader_epoch: i32,
    pub last_fetched_epoch: i32,
}

/// What a response says about one partition, as far as the session cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PartitionOutcome {
    pub records_bytes: usize,
    pub high_watermark: i64,
    pub log_start_offset: i64,
    pub error_code: i16,
    pub preferred_read_replica: bool,
    pub diverging_epoch: bool,
}

#[derive(Clone, Debug)]
struct CachedPartition {
    request: PartitionRequest,
    /// The high watermark last sent (-1 after an error, so it is sent again).
    high_watermark: i64,
    /// This log's start offset last sent.
    local_log_start_offset: i64,
    /// Position in the session's order: partitions that returned records
    /// move to the end, so the next fetch reads the others first.
    order: u64,
}

impl CachedPartition {
    /// Kafka's `CachedPartition.maybeUpdateResponseData`.
    fn must_respond(&mut self, out: &PartitionOutcome, update: bool) -> bool {
        let mut must = out.records_bytes > 0;
        if self.high_watermark != out.high_watermark {
            must = true;
            if update {
                self.high_watermark = out.high_watermark;
            }
        }
        if self.local_log_start_offset != out.log_start_offset {
            must = true;
            if update {
                self.local_log_start_offset = out.log_start_offset;
            }
        }
        if out.preferred_read_replica || out.diverging_epoch {
            must = true;
        }
        if out.error_code != 0 {
            must = true;
            if update {
                self.high_watermark = -1;
            }
        }
        must
    }
}

/// One session: its partitions in fetch order.
#[derive(Debug)]
pub(crate) struct FetchSession {
    id: i32,
    privileged: bool,
    uses_topic_ids: bool,
    creation_ms: i64,
    last_used_ms: i64,
    epoch: i32,
    /// The size the shard's eviction sets were keyed with.
    cached_size: usize,
    partitions: HashMap<SessionPartition, CachedPartition>,
    order: BTreeMap<u64, SessionPartition>,
    next_order: u64,
}

impl FetchSession {
    fn new(id: i32, privileged: bool, uses_topic_ids: bool, now: i64) -> FetchSession {
        FetchSession {
            id,
            privileged,
            uses_topic_ids,
            creation_ms: now,
            last_used_ms: now,
            epoch: next_epoch(INITIAL_EPOCH),
            cached_size: 0,
            partitions: HashMap::new(),
            order: BTreeMap::new(),
            next_order: 0,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.partitions.len()
    }

    /// The partitions and their parameters, in fetch order.
    pub(crate) fn partitions(&self) -> Vec<(SessionPartition, PartitionRequest)> {
        self.order
            .values()
            .filter_map(|k| self.partitions.get(k).map(|c| (k.clone(), c.request)))
            .collect()
    }

    fn push(&mut self, key: SessionPartition, mut cached: CachedPartition) {
        cached.order = self.next_order;
        self.next_order += 1;
        self.order.insert(cached.order, key.clone());
        if let Some(old) = self.partitions.insert(key, cached) {
            self.order.remove(&old.order);
        }
    }

    fn move_to_end(&mut self, key: &SessionPartition) {
        if let Some(cached) = self.partitions.get_mut(key) {
            self.order.remove(&cached.order);
            cached.order = self.next_order;
            self.next_order += 1;
            self.order.insert(cached.order, key.clone());
        }
    }

    fn remove(&mut self, key: &SessionPartition) -> bool {
        match self.partitions.remove(key) {
            Some(old) => {
                self.order.remove(&old.order);
                true
            }
            None => false,
        }
    }

    /// Kafka's `FetchSession.update`: named partitions are added or get
    /// their new parameters, then forgotten ones are removed.
    fn update(
        &mut self,
        fetch_data: &[(SessionPartition, PartitionRequest)],
        forgotten: &[SessionPartition],
    ) {
        for (key, request) in fetch_data {
            match self.partitions.get_mut(key) {
                Some(cached) => cached.request = *request,
                None => self.push(
                    key.clone(),
                    CachedPartition {
                        request: *request,
                        high_watermark: -1,
                        local_log_start_offset: -1,
                        order: 0,
                    },
                ),
            }
        }
        for key in forgotten {
            self.remove(key);
        }
    }

    fn evictable_key(&self) -> (bool, usize, i32) {
        (self.privileged, self.cached_size, self.id)
    }
}

/// One shard of the cache (Kafka's `FetchSessionCacheShard`).
#[derive(Debug)]
pub(crate) struct Shard {
    max_entries: usize,
    eviction_ms: i64,
    /// Session ids of this shard: `id_low..id_high`.
    id_low: i32,
    id_high: i32,
    sessions: HashMap<i32, FetchSession>,
    /// (last used, id), oldest first.
    last_used: BTreeSet<(i64, i32)>,
    /// (privileged, size, id) of sessions any new session may evict.
    evictable_by_all: BTreeSet<(bool, usize, i32)>,
    /// ... and of those only a privileged (follower) session may evict.
    evictable_by_privileged: BTreeSet<(bool, usize, i32)>,
    num_partitions: usize,
    rng: u64,
}

impl Shard {
    pub(crate) fn new(
        max_entries: usize,
        eviction_ms: i64,
        id_low: i32,
        id_high: i32,
        seed: u64,
    ) -> Shard {
        Shard {
            max_entries,
            eviction_ms,
            id_low: id_low.max(1),
            id_high,
            sessions: HashMap::new(),
            last_used: BTreeSet::new(),
            evictable_by_all: BTreeSet::new(),
            evictable_by_privileged: BTreeSet::new(),
            num_partitions: 0,
            rng: seed | 1,
        }
    }

    fn random_id(&mut self) -> i32 {
        loop {
            // xorshift64*: ids need only be unpredictable enough not to
            // collide across clients, not secret (Kafka uses ThreadLocalRandom).
            self.rng ^= self.rng >> 12;
            self.rng ^= self.rng << 25;
            self.rng ^= self.rng >> 27;
            let r = self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D);
            let span = u64::try_from(self.id_high - self.id_low)
                .unwrap_or(1)
                .max(1);
            let id = self.id_low + i32::try_from(r % span).unwrap_or(0);
            if id != INVALID_SESSION_ID && !self.sessions.contains_key(&id) {
                return id;
            }
        }
    }

    /// Kafka's `maybeCreateSession`: the new session's id, or
    /// INVALID_SESSION_ID when the shard is full and nothing may be evicted.
    pub(crate) fn maybe_create(
        &mut self,
        now: i64,
        privileged: bool,
        uses_topic_ids: bool,
        partitions: Vec<(SessionPartition, PartitionRequest, PartitionOutcome)>,
    ) -> i32 {
        let size = partitions.len();
        if self.sessions.len() >= self.max_entries && !self.try_evict(privileged, size, now) {
            return INVALID_SESSION_ID;
        }
        let id = self.random_id();
        let mut session = FetchSession::new(id, privileged, uses_topic_ids, now);
        for (key, request, out) in partitions {
            session.push(
                key,
                CachedPartition {
                    request,
                    high_watermark: out.high_watermark,
                    local_log_start_offset: out.log_start_offset,
                    order: 0,
                },
            );
        }
        session.cached_size = session.len();
        self.num_partitions += session.cached_size;
        self.sessions.insert(id, session);
        self.index(id, now);
        id
    }

    /// Kafka's `tryEvict`: a stale session first, else the least valuable
    /// evictable one if it is worth no more than (privileged, size).
    fn try_evict(&mut self, privileged: bool, size: usize, now: i64) -> bool {
        let Some(&(last_used, id)) = self.last_used.first() else {
            return false;
        };
        if now - last_used > self.eviction_ms {
            self.remove(id);
            return true;
        }
        let set = if privileged {
            &self.evictable_by_privileged
        } else {
            &self.evictable_by_all
        };
        match set.first().copied() {
            Some(first) if (privileged, size, 0) >= first => {
                self.remove(first.2);
                true
            }
            _ => false,
        }
    }

    /// Puts a session in the last-used and eviction sets at `now`
    /// (Kafka's `touch`, after taking it out of them).
    fn index(&mut self, id: i32, now: i64) {
        let Some(s) = self.sessions.get_mut(&id) else {
            return;
        };
        s.last_used_ms = now;
        self.num_partitions = self.num_partitions - s.cached_size + s.len();
        s.cached_size = s.len();
        let key = s.evictable_key();
        let old_enough = now - s.creation_ms > self.eviction_ms;
        self.last_used.insert((now, id));
        if !s.privileged || old_enough {
            self.evictable_by_privileged.insert(key);
        }
        if old_enough {
            self.evictable_by_all.insert(key);
        }
    }

    fn unindex(&mut self, id: i32) {
        if let Some(s) = self.sessions.get(&id) {
            let key = s.evictable_key();
            self.last_used.remove(&(s.last_used_ms, id));
            self.evictable_by_all.remove(&key);
            self.evictable_by_privileged.remove(&key);
        }
    }

    fn touch(&mut self, id: i32, now: i64) {
        self.unindex(id);
        self.index(id, now);
    }

    pub(crate) fn remove(&mut self, id: i32) -> bool {
        self.unindex(id);
        match self.sessions.remove(&id) {
            Some(s) => {
                self.num_partitions -= s.cached_size;
                true
            }
            None => false,
        }
    }
}

/// What one Fetch reads, decided before reading.
#[derive(Debug)]
pub(crate) enum FetchContext {
    /// Answer this top-level error with no partitions.
    SessionError(ResponseError),
    /// Read the request's partitions; the response has session id 0.
    Sessionless,
    /// Read the request's partitions; the response creates a session if
    /// the cache has room.
    Full {
        privileged: bool,
        uses_topic_ids: bool,
    },
    /// Read the session's partitions; the response carries the changed ones.
    Incremental {
        session_id: i32,
        /// The session's epoch once this fetch is answered.
        expected_epoch: i32,
        partitions: Vec<(SessionPartition, PartitionRequest)>,
    },
}

/// The request's side of a fetch, as the session cache needs it.
pub(crate) struct SessionRequest<'a> {
    pub session_id: i32,
    pub epoch: i32,
    /// v13+ (topics by id).
    pub uses_topic_ids: bool,
    /// A follower's fetch.
    pub privileged: bool,
    pub fetch_data: &'a [(SessionPartition, PartitionRequest)],
    pub forgotten: &'a [SessionPartition],
    /// Most partitions a session may hold (the cluster's partition count),
    /// asked only when a session grows.
    pub partition_limit: &'a dyn Fn() -> usize,
}

/// The broker's fetch sessions: Kafka's `FetchManager` over its sharded cache.
#[derive(Debug)]
pub(crate) struct FetchSessionCache {
    shards: Vec<parking_lot::Mutex<Shard>>,
    id_range: i32,
    next_shard: AtomicUsize,
}

impl FetchSessionCache {
    /// `max_sessions`: `max.incremental.fetch.session.cache.slots`.
    pub(crate) fn new(max_sessions: usize, eviction_ms: i64, seed: u64) -> FetchSessionCache {
        let id_range = i32::MAX / SHARDS as i32;
        let shards = (0..SHARDS)
            .map(|n| {
                let n_i32 = n as i32;
                parking_lot::Mutex::new(Shard::new(
                    max_sessions / SHARDS,
                    eviction_ms,
                    n_i32 * id_range,
                    (n_i32 + 1) * id_range,
                    seed.wrapping_add(n as u64)
                        .wrapping_mul(0x9E37_79B9_7F4A_7C15),
                ))
            })
            .collect();
        FetchSessionCache {
            shards,
            id_range,
            next_shard: AtomicUsize::new(0),
        }
    }

    fn shard_of(&self, session_id: i32) -> Option<&parking_lot::Mutex<Shard>> {
        if session_id <= 0 {
            return None;
        }
        self.shards.get((session_id / self.id_range) as usize)
    }

    /// Sessions held and partitions cached, across shards.
    #[cfg(test)]
    pub(crate) fn size(&self) -> (usize, usize) {
        self.shards.iter().fold((0, 0), |(s, p), shard| {
            let shard = shard.lock();
            (s + shard.sessions.len(), p + shard.num_partitions)
        })
    }

    /// Kafka's `FetchManager.newContext`.
    pub(crate) fn new_context(&self, req: &SessionRequest<'_>, now: i64) -> FetchContext {
        if req.epoch == INITIAL_EPOCH || req.epoch == FINAL_EPOCH {
            // A full fetch closes the session it names.
            if let Some(shard) = self.shard_of(req.session_id) {
                shard.lock().remove(req.session_id);
            }
            return if req.epoch == FINAL_EPOCH {
                FetchContext::Sessionless
            } else {
                FetchContext::Full {
                    privileged: req.privileged,
                    uses_topic_ids: req.uses_topic_ids,
                }
            };
        }
        let Some(shard) = self.shard_of(req.session_id) else {
            return FetchContext::SessionError(ResponseError::FetchSessionIdNotFound);
        };
        let mut shard = shard.lock();
        let Some(session) = shard.sessions.get_mut(&req.session_id) else {
            return FetchContext::SessionError(ResponseError::FetchSessionIdNotFound);
        };
        if session.epoch != req.epoch {
            return FetchContext::SessionError(ResponseError::InvalidFetchSessionEpoch);
        }
        if session.uses_topic_ids != req.uses_topic_ids {
            return FetchContext::SessionError(ResponseError::FetchSessionTopicIdError);
        }
        let before = session.len();
        session.update(req.fetch_data, req.forgotten);
        let grew = session.len() > before;
        if session.len() == 0 || (grew && session.len() > (req.partition_limit)()) {
            shard.remove(req.session_id);
            return FetchContext::Sessionless;
        }
        session.epoch = next_epoch(session.epoch);
        let expected_epoch = session.epoch;
        let partitions = session.partitions();
        shard.touch(req.session_id, now);
        FetchContext::Incremental {
            session_id: req.session_id,
            expected_epoch,
            partitions,
        }
    }

    /// The session a full fetch's response creates: its id, or
    /// INVALID_SESSION_ID (no room, or more partitions than `partition_limit`).
    pub(crate) fn create_session(
        &self,
        now: i64,
        privileged: bool,
        uses_topic_ids: bool,
        partitions: Vec<(SessionPartition, PartitionRequest, PartitionOutcome)>,
        partition_limit: usize,
    ) -> i32 {
        // A request naming a partition twice is one cached partition.
        let mut unique: Vec<(SessionPartition, PartitionRequest, PartitionOutcome)> =
            Vec::with_capacity(partitions.len());
        let mut seen: HashMap<SessionPartition, usize> = HashMap::new();
        for (key, request, out) in partitions {
            match seen.get(&key) {
                Some(&i) => unique[i] = (key, request, out),
                None => {
                    seen.insert(key.clone(), unique.len());
                    unique.push((key, request, out));
                }
            }
        }
        if unique.is_empty() || unique.len() > partition_limit {
            return INVALID_SESSION_ID;
        }
        let n = self.next_shard.fetch_add(1, Ordering::Relaxed) % self.shards.len();
        self.shards[n]
            .lock()
            .maybe_create(now, privileged, uses_topic_ids, unique)
    }

    /// Kafka's `IncrementalFetchContext.updateAndGenerateResponseData`: for
    /// each partition read, whether the response carries it (updating what
    /// the session last sent); an error when the session moved on or went
    /// away since the fetch began.
    pub(crate) fn respond_incremental(
        &self,
        session_id: i32,
        expected_epoch: i32,
        outcomes: &[(SessionPartition, PartitionOutcome)],
    ) -> Result<Vec<bool>, ResponseError> {
        let shard = self
            .shard_of(session_id)
            .ok_or(ResponseError::FetchSessionIdNotFound)?;
        let mut shard = shard.lock();
        let session = shard
            .sessions
            .get_mut(&session_id)
            .ok_or(ResponseError::FetchSessionIdNotFound)?;
        if session.epoch != expected_epoch {
            return Err(ResponseError::InvalidFetchSessionEpoch);
        }
        let mut carried = Vec::with_capacity(outcomes.len());
        for (key, out) in outcomes {
            let must = session
                .partitions
                .get_mut(key)
                .is_some_and(|c| c.must_respond(out, true));
            if must && out.records_bytes > 0 {
                session.move_to_end(key);
            }
            carried.push(must);
        }
        Ok(carried)
    }
}

#[cfg(test)]
#[path = "fetch_session_tests.rs"]
mod tests;
