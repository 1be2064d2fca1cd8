use std::collections::BTreeMap;

use proptest::prelude::*;

use super::*;

fn key(topic: &str, partition: i32) -> SessionPartition {
    SessionPartition {
        topic: SessionTopic::Name(Arc::from(topic)),
        partition,
    }
}

fn request(fetch_offset: i64) -> PartitionRequest {
    PartitionRequest {
        fetch_offset,
        log_start_offset: -1,
        max_bytes: 1 << 20,
        current_leader_epoch: -1,
        last_fetched_epoch: -1,
    }
}

fn outcome(high_watermark: i64, records_bytes: usize) -> PartitionOutcome {
    PartitionOutcome {
        records_bytes,
        high_watermark,
        log_start_offset: 0,
        error_code: 0,
        preferred_read_replica: false,
        diverging_epoch: false,
    }
}

const NO_LIMIT: &dyn Fn() -> usize = &|| usize::MAX;

fn incremental<'a>(
    session_id: i32,
    epoch: i32,
    fetch_data: &'a [(SessionPartition, PartitionRequest)],
    forgotten: &'a [SessionPartition],
) -> SessionRequest<'a> {
    SessionRequest {
        session_id,
        epoch,
        uses_topic_ids: false,
        privileged: false,
        fetch_data,
        forgotten,
        partition_limit: NO_LIMIT,
    }
}

/// A consumer session over `n` partitions of topic "t", all at high watermark 10.
fn session_of(cache: &FetchSessionCache, n: i32, privileged: bool, now: i64) -> i32 {
    let parts = (0..n)
        .map(|p| (key("t", p), request(0), outcome(10, 0)))
        .collect();
    cache.create_session(now, privileged, false, parts, usize::MAX)
}

#[test]
fn next_epoch_counts_up_wraps_to_one_and_stays_final() {
    assert_eq!(next_epoch(0), 1);
    assert_eq!(next_epoch(41), 42);
    assert_eq!(next_epoch(i32::MAX), 1);
    assert_eq!(next_epoch(-1), -1);
}

#[test]
fn incremental_fetch_needs_the_session_and_its_epoch() {
    let cache = FetchSessionCache::new(1000, EVICTION_MS, 7);
    let id = session_of(&cache, 3, false, 0);
    assert_ne!(id, INVALID_SESSION_ID);
    let ctx = cache.new_context(&incremental(id + 1, 1, &[], &[]), 1);
    assert!(matches!(
        ctx,
        FetchContext::SessionError(ResponseError::FetchSessionIdNotFound)
    ));
    let ctx = cache.new_context(&incremental(id, 2, &[], &[]), 1);
    assert!(matches!(
        ctx,
        FetchContext::SessionError(ResponseError::InvalidFetchSessionEpoch)
    ));
    let mut by_id = incremental(id, 1, &[], &[]);
    by_id.uses_topic_ids = true;
    assert!(matches!(
        cache.new_context(&by_id, 1),
        FetchContext::SessionError(ResponseError::FetchSessionTopicIdError)
    ));
    match cache.new_context(&incremental(id, 1, &[], &[]), 1) {
        FetchContext::Incremental {
            session_id,
            expected_epoch,
            partitions,
        } => {
            assert_eq!(session_id, id);
            assert_eq!(expected_epoch, 2);
            assert_eq!(partitions.len(), 3);
        }
        other => panic!("expected an incremental context, got {other:?}"),
    }
    // The same epoch again (a retried request) is refused: the session moved on.
    assert!(matches!(
        cache.new_context(&incremental(id, 1, &[], &[]), 2),
        FetchContext::SessionError(ResponseError::InvalidFetchSessionEpoch)
    ));
    // A session id outside every shard is not found rather than a panic.
    for bad in [-5, i32::MAX] {
        assert!(matches!(
            cache.new_context(&incremental(bad, 1, &[], &[]), 2),
            FetchContext::SessionError(ResponseError::FetchSessionIdNotFound)
        ));
    }
}

#[test]
fn full_or_final_epoch_fetch_closes_the_session_it_names() {
    let cache = FetchSessionCache::new(1000, EVICTION_MS, 7);
    let id = session_of(&cache, 2, false, 0);
    let mut full = incremental(id, INITIAL_EPOCH, &[], &[]);
    assert!(matches!(
        cache.new_context(&full, 1),
        FetchContext::Full { .. }
    ));
    assert_eq!(cache.size(), (0, 0));
    let id = session_of(&cache, 2, false, 0);
    full.session_id = id;
    full.epoch = FINAL_EPOCH;
    assert!(matches!(
        cache.new_context(&full, 1),
        FetchContext::Sessionless
    ));
    assert_eq!(cache.size(), (0, 0));
}

#[test]
fn incremental_response_carries_only_changed_partitions() {
    let cache = FetchSessionCache::new(1000, EVICTION_MS, 7);
    let id = session_of(&cache, 4, false, 0);
    let FetchContext::Incremental { expected_epoch, .. } =
        cache.new_context(&incremental(id, 1, &[], &[]), 1)
    else {
        panic!("no incremental context");
    };
    let mut errored = outcome(10, 0);
    errored.error_code = ResponseError::NotLeaderOrFollower.code();
    let outcomes = [
        (key("t", 0), outcome(10, 0)),   // unchanged
        (key("t", 1), outcome(11, 0)),   // high watermark moved
        (key("t", 2), outcome(10, 100)), // records
        (key("t", 3), errored),
    ];
    let carried = cache
        .respond_incremental(id, expected_epoch, &outcomes)
        .unwrap();
    assert_eq!(carried, vec![false, true, true, true]);
    // Next time: the new high watermark is known, the error's partition is
    // sent again once healthy (its cached high watermark was reset), and the
    // partition that returned records now comes last.
    let FetchContext::Incremental {
        expected_epoch,
        partitions,
        ..
    } = cache.new_context(&incremental(id, 2, &[], &[]), 2)
    else {
        panic!("no incremental context");
    };
    let order: Vec<i32> = partitions.iter().map(|(k, _)| k.partition).collect();
    assert_eq!(order, vec![0, 1, 3, 2]);
    let outcomes = [
        (key("t", 0), outcome(10, 0)),
        (key("t", 1), outcome(11, 0)),
        (key("t", 3), outcome(10, 0)),
        (key("t", 2), outcome(10, 0)),
    ];
    let carried = cache
        .respond_incremental(id, expected_epoch, &outcomes)
        .unwrap();
    assert_eq!(carried, vec![false, false, true, false]);
    // A stale expected epoch (another fetch went by meanwhile) is refused.
    assert_eq!(
        cache.respond_incremental(id, expected_epoch - 1, &outcomes),
        Err(ResponseError::InvalidFetchSessionEpoch)
    );
}

#[test]
fn incremental_fetch_adds_updates_and_forgets_partitions() {
    let cache = FetchSessionCache::new(1000, EVICTION_MS, 7);
    let id = session_of(&cache, 2, false, 0);
    let named = [(key("t", 1), request(5)), (key("u", 0), request(0))];
    let forgotten = [key("t", 0), key("nope", 9)];
    let FetchContext::Incremental { partitions, .. } =
        cache.new_context(&incremental(id, 1, &named, &forgotten), 1)
    else {
        panic!("no incremental context");
    };
    assert_eq!(
        partitions,
        vec![(key("t", 1), request(5)), (key("u", 0), request(0))]
    );
    assert_eq!(cache.size(), (1, 2));
    // Forgetting the rest closes the session: answered without one.
    let forgotten = [key("t", 1), key("u", 0)];
    assert!(matches!(
        cache.new_context(&incremental(id, 2, &[], &forgotten), 2),
        FetchContext::Sessionless
    ));
    assert_eq!(cache.size(), (0, 0));
}

#[test]
fn sessions_never_hold_more_partitions_than_the_cluster_has() {
    let cache = FetchSessionCache::new(1000, EVICTION_MS, 7);
    let parts: Vec<_> = (0..5)
        .map(|p| (key("t", p), request(0), outcome(0, 0)))
        .collect();
    assert_eq!(
        cache.create_session(0, false, false, parts.clone(), 4),
        INVALID_SESSION_ID
    );
    let id = cache.create_session(0, false, false, parts, 5);
    assert_ne!(id, INVALID_SESSION_ID);
    let limit = || 5;
    let named = [(key("t", 5), request(0))];
    let mut req = incremental(id, 1, &named, &[]);
    req.partition_limit = &limit;
    assert!(matches!(
        cache.new_context(&req, 1),
        FetchContext::Sessionless
    ));
    assert_eq!(cache.size(), (0, 0));
}

/// One shard with two slots makes eviction visible.
fn small_cache() -> FetchSessionCache {
    FetchSessionCache::new(2 * SHARDS, EVICTION_MS, 3)
}

fn shard_ids(cache: &FetchSessionCache, shard: usize) -> Vec<i32> {
    let mut ids: Vec<i32> = cache.shards[shard]
        .lock()
        .sessions
        .keys()
        .copied()
        .collect();
    ids.sort_unstable();
    ids
}

#[test]
fn a_full_shard_evicts_only_as_kafka_does() {
    let cache = small_cache();
    // Round robin: sessions 0 and 8 land in shard 0, and so on.
    let mut in_shard0 = Vec::new();
    for i in 0..(2 * SHARDS) {
        let id = session_of(&cache, 5, false, 0);
        assert_ne!(id, INVALID_SESSION_ID);
        if i % SHARDS == 0 {
            in_shard0.push(id);
        }
    }
    in_shard0.sort_unstable();
    assert_eq!(shard_ids(&cache, 0), in_shard0);
    // Young consumer sessions are safe from another consumer, however big.
    assert_eq!(session_of(&cache, 100, false, 1), INVALID_SESSION_ID);
    // A follower's session evicts the smallest young consumer session.
    cache.next_shard.store(0, Ordering::Relaxed);
    let follower = session_of(&cache, 1, true, 2);
    assert_ne!(follower, INVALID_SESSION_ID);
    assert_eq!(shard_ids(&cache, 0).len(), 2);
    assert!(shard_ids(&cache, 0).contains(&follower));
    // Once older than the eviction time, a bigger consumer session evicts a
    // smaller old one, a smaller one does not.
    let later = EVICTION_MS + 10;
    // Keep both shard-0 sessions recently used, so neither is stale.
    for id in shard_ids(&cache, 0) {
        let epoch = cache.shards[0].lock().sessions[&id].epoch;
        let ctx = cache.new_context(&incremental(id, epoch, &[], &[]), later);
        assert!(matches!(ctx, FetchContext::Incremental { .. }));
    }
    cache.next_shard.store(0, Ordering::Relaxed);
    assert_eq!(session_of(&cache, 4, false, later), INVALID_SESSION_ID);
    cache.next_shard.store(0, Ordering::Relaxed);
    // The consumer session (5 partitions) is the least valuable: a
    // follower's sorts after every consumer's, whatever its size.
    let bigger = session_of(&cache, 6, false, later);
    assert_ne!(bigger, INVALID_SESSION_ID);
    let ids = shard_ids(&cache, 0);
    assert!(ids.contains(&follower) && ids.contains(&bigger), "{ids:?}");
    // A session unused for longer than the eviction time goes first, whatever its worth.
    let much_later = later + EVICTION_MS + 1;
    let epoch = cache.shards[0].lock().sessions[&bigger].epoch;
    cache.new_context(&incremental(bigger, epoch, &[], &[]), much_later);
    cache.next_shard.store(0, Ordering::Relaxed);
    let small = session_of(&cache, 1, false, much_later);
    assert_ne!(small, INVALID_SESSION_ID);
    let ids = shard_ids(&cache, 0);
    assert!(
        !ids.contains(&follower),
        "the idle follower session was evicted: {ids:?}"
    );
}

#[test]
fn zero_slots_create_no_sessions() {
    let cache = FetchSessionCache::new(0, EVICTION_MS, 1);
    assert_eq!(session_of(&cache, 1, true, 0), INVALID_SESSION_ID);
}

// ---- The model check: random clients against the cache.

#[derive(Clone, Debug)]
enum Op {
    /// A full fetch of these partitions (epoch 0, closing any session).
    Full {
        client: usize,
        parts: Vec<i32>,
        privileged: bool,
    },
    /// An incremental fetch naming `update` (new offset) and forgetting `forget`.
    Incremental {
        client: usize,
        update: Vec<i32>,
        forget: Vec<i32>,
        grow_hw: bool,
    },
    /// A sessionless fetch (epoch -1) closing the client's session.
    Close {
        client: usize,
    },
    Advance {
        ms: i64,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let parts = proptest::collection::vec(0..8i32, 0..8);
    prop_oneof![
        (0..6usize, parts.clone(), any::<bool>()).prop_map(|(client, parts, privileged)| {
            Op::Full {
                client,
                parts,
                privileged,
            }
        }),
        (0..6usize, parts.clone(), parts, any::<bool>()).prop_map(
            |(client, update, forget, grow_hw)| Op::Incremental {
                client,
                update,
                forget,
                grow_hw
            }
        ),
        (0..6usize).prop_map(|client| Op::Close { client }),
        (0..200_000i64).prop_map(|ms| Op::Advance { ms }),
    ]
}

#[derive(Clone, Debug, Default)]
struct Client {
    session: Option<(i32, i32)>,
    partitions: BTreeMap<SessionPartition, PartitionRequest>,
    privileged: bool,
    /// The high watermark the last response carried.
    hw: i64,
}

#[derive(Clone, Debug)]
struct Seen {
    shard: usize,
    privileged: bool,
    size: usize,
    creation_ms: i64,
    last_used_ms: i64,
}

fn snapshot(cache: &FetchSessionCache) -> BTreeMap<i32, Seen> {
    let mut out = BTreeMap::new();
    for (n, shard) in cache.shards.iter().enumerate() {
        for s in shard.lock().sessions.values() {
            out.insert(
                s.id,
                Seen {
                    shard: n,
                    privileged: s.privileged,
                    size: s.len(),
                    creation_ms: s.creation_ms,
                    last_used_ms: s.last_used_ms,
                },
            );
        }
    }
    out
}

/// Kafka's eviction rule written out plainly: the session a new one of
/// (privileged, size) evicts from a full shard, if any.
fn expected_victim(
    before: &BTreeMap<i32, Seen>,
    shard: usize,
    privileged: bool,
    size: usize,
    now: i64,
) -> Option<i32> {
    let in_shard: Vec<(&i32, &Seen)> = before.iter().filter(|(_, s)| s.shard == shard).collect();
    let (&oldest, seen) = in_shard
        .iter()
        .min_by_key(|(id, s)| (s.last_used_ms, **id))?;
    if now - seen.last_used_ms > EVICTION_MS {
        return Some(oldest);
    }
    in_shard
        .iter()
        .filter(|(_, s)| {
            // Kafka files a session as old when it is touched, not later.
            let old = s.last_used_ms - s.creation_ms > EVICTION_MS;
            old || (privileged && !s.privileged)
        })
        .map(|(id, s)| (s.privileged, s.size, **id))
        .min()
        // Kafka compares the new session's key with id 0: an equal
        // (privileged, size) does not evict.
        .filter(|&key| (privileged, size, 0) >= key)
        .map(|(_, _, id)| id)
}

const SLOTS_PER_SHARD: usize = 1;
const LIMIT: usize = 6;

fn check_invariants(cache: &FetchSessionCache) {
    let mut total = 0;
    for shard in &cache.shards {
        let shard = shard.lock();
        assert!(shard.sessions.len() <= SLOTS_PER_SHARD);
        let sum: usize = shard.sessions.values().map(FetchSession::len).sum();
        assert_eq!(shard.num_partitions, sum, "partition count drifted");
        assert_eq!(shard.last_used.len(), shard.sessions.len());
        for s in shard.sessions.values() {
            assert!(s.len() <= LIMIT && s.len() > 0);
            assert_eq!(s.order.len(), s.len());
        }
        total += sum;
    }
    assert!(total <= SLOTS_PER_SHARD * SHARDS * LIMIT);
}

fn run(ops: Vec<Op>) {
    let cache = FetchSessionCache::new(SLOTS_PER_SHARD * SHARDS, EVICTION_MS, 11);
    let mut clients = vec![Client::default(); 6];
    let mut now = 0i64;
    let mut hw = 0i64;
    let limit = || LIMIT;
    for op in ops {
        match op {
            Op::Advance { ms } => now += ms,
            Op::Close { client } => {
                let c = &mut clients[client];
                let id = c.session.map_or(0, |s| s.0);
                let req = SessionRequest {
                    session_id: id,
                    epoch: FINAL_EPOCH,
                    uses_topic_ids: false,
                    privileged: c.privileged,
                    fetch_data: &[],
                    forgotten: &[],
                    partition_limit: &limit,
                };
                assert!(matches!(
                    cache.new_context(&req, now),
                    FetchContext::Sessionless
                ));
                if id != 0 {
                    assert!(!snapshot(&cache).contains_key(&id));
                }
                *c = Client::default();
            }
            Op::Full {
                client,
                parts,
                privileged,
            } => {
                let c = &mut clients[client];
                let data: Vec<_> = parts.iter().map(|&p| (key("t", p), request(0))).collect();
                let req = SessionRequest {
                    session_id: c.session.map_or(0, |s| s.0),
                    epoch: INITIAL_EPOCH,
                    uses_topic_ids: false,
                    privileged,
                    fetch_data: &data,
                    forgotten: &[],
                    partition_limit: &limit,
                };
                assert!(matches!(
                    cache.new_context(&req, now),
                    FetchContext::Full { .. }
                ));
                let before = snapshot(&cache);
                let shard = cache.next_shard.load(Ordering::Relaxed) % SHARDS;
                let outcomes = data
                    .iter()
                    .map(|(k, r)| (k.clone(), *r, outcome(hw, 0)))
                    .collect();
                let id = cache.create_session(now, privileged, false, outcomes, LIMIT);
                let after = snapshot(&cache);
                let unique: BTreeMap<_, _> = data.iter().cloned().collect();
                let evicted: Vec<i32> = before
                    .keys()
                    .filter(|id| !after.contains_key(id))
                    .copied()
                    .collect();
                if unique.is_empty() || unique.len() > LIMIT {
                    assert_eq!(id, INVALID_SESSION_ID);
                    assert!(evicted.is_empty());
                } else {
                    let full =
                        before.values().filter(|s| s.shard == shard).count() >= SLOTS_PER_SHARD;
                    let victim = if full {
                        expected_victim(&before, shard, privileged, unique.len(), now)
                    } else {
                        None
                    };
                    assert_eq!(evicted, victim.into_iter().collect::<Vec<_>>());
                    assert_eq!(id != INVALID_SESSION_ID, !full || victim.is_some());
                }
                *c = Client {
                    session: (id != INVALID_SESSION_ID).then_some((id, 1)),
                    partitions: unique,
                    privileged,
                    hw,
                };
            }
            Op::Incremental {
                client,
                update,
                forget,
                grow_hw,
            } => {
                let c = &mut clients[client];
                let Some((id, epoch)) = c.session else {
                    continue;
                };
                let data: Vec<_> = update
                    .iter()
                    .map(|&p| (key("t", p), request(i64::from(p) + now)))
                    .collect();
                let forgotten: Vec<_> = forget.iter().map(|&p| key("t", p)).collect();
                let req = SessionRequest {
                    session_id: id,
                    epoch,
                    uses_topic_ids: false,
                    privileged: c.privileged,
                    fetch_data: &data,
                    forgotten: &forgotten,
                    partition_limit: &limit,
                };
                let mut expected = c.partitions.clone();
                for (k, r) in &data {
                    expected.insert(k.clone(), *r);
                }
                for k in &forgotten {
                    expected.remove(k);
                }
                let alive = snapshot(&cache).contains_key(&id);
                match cache.new_context(&req, now) {
                    FetchContext::SessionError(e) => {
                        assert!(!alive, "live session {id} refused: {e:?}");
                        assert_eq!(e, ResponseError::FetchSessionIdNotFound);
                        *c = Client::default();
                    }
                    FetchContext::Sessionless => {
                        assert!(alive);
                        assert!(
                            expected.is_empty()
                                || (expected.len() > LIMIT && expected.len() > c.partitions.len())
                        );
                        assert!(!snapshot(&cache).contains_key(&id));
                        *c = Client::default();
                    }
                    FetchContext::Incremental {
                        session_id,
                        expected_epoch,
                        partitions,
                    } => {
                        assert!(alive);
                        assert_eq!(session_id, id);
                        // The broker's view of the session is the client's.
                        let broker: BTreeMap<_, _> = partitions.iter().cloned().collect();
                        assert_eq!(broker.len(), partitions.len());
                        assert_eq!(broker, expected);
                        if grow_hw {
                            hw += 1;
                        }
                        let outcomes: Vec<_> = partitions
                            .iter()
                            .map(|(k, _)| (k.clone(), outcome(hw, 0)))
                            .collect();
                        let carried = cache
                            .respond_incremental(id, expected_epoch, &outcomes)
                            .unwrap();
                        // Unchanged partitions are left out, changed ones
                        // (new or a moved high watermark) are carried.
                        for ((k, _), carried) in partitions.iter().zip(carried) {
                            let new = !c.partitions.contains_key(k);
                            if hw != c.hw || new {
                                assert!(carried, "{k:?} changed but was left out");
                            } else {
                                assert!(!carried, "{k:?} unchanged but was carried");
                            }
                        }
                        c.session = Some((id, expected_epoch));
                        c.partitions = expected;
                        c.hw = hw;
                    }
                    FetchContext::Full { .. } => panic!("incremental request became full"),
                }
            }
        }
        check_invariants(&cache);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]
    #[test]
    fn sessions_follow_their_clients_and_kafkas_eviction_rule(
        ops in proptest::collection::vec(op(), 1..60)
    ) {
        run(ops);
    }
}
