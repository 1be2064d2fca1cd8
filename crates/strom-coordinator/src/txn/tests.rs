use kafka_protocol::error::ResponseError;
use proptest::prelude::*;

use super::*;

const T0: i64 = 1_000_000;

fn shard() -> TxnShard {
    let mut s = TxnShard::new(TxnConfig::default());
    s.load_complete(T0);
    s
}

fn code(e: ResponseError) -> i16 {
    e.code()
}

fn tp(topic: &str, p: i32) -> (String, i32) {
    (topic.to_owned(), p)
}

/// Replays everything `s` wrote into a new shard: memory must equal the log.
fn reloaded(s: &mut TxnShard, log: &mut Vec<(bytes::Bytes, Option<bytes::Bytes>)>) -> TxnShard {
    log.extend(s.take_output().records);
    let mut r = TxnShard::new(TxnConfig::default());
    for (k, v) in log.iter() {
        r.replay(k, v.as_deref()).unwrap();
    }
    r
}

#[test]
fn init_producer_id_creates_the_id_at_epoch_zero_and_writes_it() {
    let mut s = shard();
    assert_eq!(s.init_producer_id("t", 60_000, None, 7, T0), Ok((7, 0)));
    let out = s.take_output();
    assert_eq!(out.records.len(), 1);
    let value = TransactionLogValue::decode(out.records[0].1.as_ref().unwrap()).unwrap();
    assert_eq!((value.producer_id, value.producer_epoch), (7, 0));
    assert_eq!(value.state, TxnState::Empty);
    assert_eq!(value.transaction_timeout_ms, 60_000);
    assert_eq!(
        records::decode_key(&out.records[0].0).unwrap().as_deref(),
        Some("t")
    );
}

#[test]
fn a_second_init_producer_id_bumps_the_epoch_and_fences_the_first() {
    let mut s = shard();
    assert_eq!(s.init_producer_id("t", 60_000, None, 7, T0), Ok((7, 0)));
    assert_eq!(s.init_producer_id("t", 60_000, None, 8, T0), Ok((7, 1)));
    assert_eq!(
        s.add_partitions("t", 7, 0, &[tp("a", 0)], 0, T0),
        code(ResponseError::ProducerFenced)
    );
    assert_eq!(
        s.end_txn("t", 7, 0, true, false, 9, T0),
        Err(code(ResponseError::ProducerFenced))
    );
    assert_eq!(s.add_partitions("t", 7, 1, &[tp("a", 0)], 0, T0), 0);
}

#[test]
fn transaction_timeout_above_the_maximum_is_refused() {
    let mut s = shard();
    assert_eq!(
        s.init_producer_id("t", 900_001, None, 7, T0),
        Err(code(ResponseError::InvalidTransactionTimeout))
    );
    assert_eq!(
        s.init_producer_id("t", 0, None, 7, T0),
        Err(code(ResponseError::InvalidTransactionTimeout))
    );
    assert_eq!(
        s.init_producer_id("", 1000, None, 7, T0),
        Err(code(ResponseError::InvalidRequest))
    );
    assert!(s.get("t").is_none());
}

#[test]
fn commit_goes_through_prepare_then_complete_and_sends_markers_to_every_partition() {
    let mut s = shard();
    s.init_producer_id("t", 60_000, None, 7, T0).unwrap();
    assert_eq!(
        s.add_partitions("t", 7, 0, &[tp("a", 0), tp("b", 1)], 0, T0),
        0
    );
    assert_eq!(s.get("t").unwrap().state, TxnState::Ongoing);
    s.take_output();
    assert_eq!(s.end_txn("t", 7, 0, true, false, 9, T0 + 5), Ok((7, 0)));
    let out = s.take_output();
    assert_eq!(out.records.len(), 1);
    assert_eq!(
        out.markers,
        vec![MarkerJob {
            transactional_id: "t".into(),
            producer_id: 7,
            producer_epoch: 0,
            commit: true,
            partitions: vec![tp("a", 0), tp("b", 1)],
        }]
    );
    assert_eq!(s.get("t").unwrap().state, TxnState::PrepareCommit);
    // While markers are in flight: a retry waits, the other outcome is invalid, adds wait.
    assert_eq!(
        s.end_txn("t", 7, 0, true, false, 9, T0),
        Err(code(ResponseError::ConcurrentTransactions))
    );
    assert_eq!(
        s.end_txn("t", 7, 0, false, false, 9, T0),
        Err(code(ResponseError::InvalidTxnState))
    );
    assert_eq!(
        s.add_partitions("t", 7, 0, &[tp("a", 0)], 0, T0),
        code(ResponseError::ConcurrentTransactions)
    );
    assert_eq!(
        s.init_producer_id("t", 60_000, None, 9, T0),
        Err(code(ResponseError::ConcurrentTransactions))
    );
    assert!(s.complete_markers("t", 7, 0, T0 + 6));
    let m = s.get("t").unwrap();
    assert_eq!(m.state, TxnState::CompleteCommit);
    assert!(m.partitions.is_empty());
    // A retried commit succeeds; an abort now is invalid.
    assert_eq!(s.end_txn("t", 7, 0, true, false, 9, T0), Ok((7, 0)));
    assert_eq!(
        s.end_txn("t", 7, 0, false, false, 9, T0),
        Err(code(ResponseError::InvalidTxnState))
    );
    // The next transaction starts from CompleteCommit.
    assert_eq!(s.add_partitions("t", 7, 0, &[tp("c", 0)], 0, T0 + 10), 0);
    assert_eq!(s.get("t").unwrap().start_timestamp_ms, T0 + 10);
}

#[test]
fn end_txn_without_a_transaction_is_invalid_txn_state() {
    let mut s = shard();
    s.init_producer_id("t", 60_000, None, 7, T0).unwrap();
    assert_eq!(
        s.end_txn("t", 7, 0, true, false, 9, T0),
        Err(code(ResponseError::InvalidTxnState))
    );
    assert_eq!(
        s.end_txn("u", 7, 0, true, false, 9, T0),
        Err(code(ResponseError::InvalidProducerIdMapping))
    );
    assert_eq!(
        s.end_txn("t", 8, 0, true, false, 9, T0),
        Err(code(ResponseError::InvalidProducerIdMapping))
    );
}

#[test]
fn add_partitions_with_an_unknown_id_or_producer_is_a_mapping_error() {
    let mut s = shard();
    assert_eq!(
        s.add_partitions("t", 7, 0, &[tp("a", 0)], 0, T0),
        code(ResponseError::InvalidProducerIdMapping)
    );
    s.init_producer_id("t", 60_000, None, 7, T0).unwrap();
    assert_eq!(
        s.add_partitions("t", 8, 0, &[tp("a", 0)], 0, T0),
        code(ResponseError::InvalidProducerIdMapping)
    );
    s.take_output();
    // Adding partitions already in the open transaction writes nothing.
    assert_eq!(s.add_partitions("t", 7, 0, &[tp("a", 0)], 0, T0), 0);
    assert_eq!(s.take_output().records.len(), 1);
    assert_eq!(s.add_partitions("t", 7, 0, &[tp("a", 0)], 0, T0), 0);
    assert!(s.take_output().records.is_empty());
}

#[test]
fn verify_only_answers_per_partition_and_writes_nothing() {
    let mut s = shard();
    s.init_producer_id("t", 60_000, None, 7, T0).unwrap();
    s.add_partitions("t", 7, 0, &[tp("a", 0)], 0, T0);
    s.take_output();
    assert_eq!(
        s.verify_partitions("t", 7, 0, &[tp("a", 0), tp("a", 1)]),
        vec![0, code(ResponseError::TransactionAbortable)]
    );
    assert_eq!(
        s.verify_partitions("t", 7, 1, &[tp("a", 0)]),
        vec![code(ResponseError::ProducerFenced)]
    );
    assert_eq!(
        s.verify_partitions("x", 7, 0, &[tp("a", 0)]),
        vec![code(ResponseError::InvalidProducerIdMapping)]
    );
    assert!(s.take_output().records.is_empty());
}

#[test]
fn init_producer_id_during_a_transaction_fences_and_aborts_it() {
    let mut s = shard();
    s.init_producer_id("t", 60_000, None, 7, T0).unwrap();
    s.add_partitions("t", 7, 0, &[tp("a", 0)], 0, T0);
    s.take_output();
    assert_eq!(
        s.init_producer_id("t", 60_000, None, 8, T0),
        Err(code(ResponseError::ConcurrentTransactions))
    );
    let out = s.take_output();
    assert_eq!(out.markers.len(), 1);
    assert!(!out.markers[0].commit);
    assert_eq!(out.markers[0].producer_epoch, 1);
    let written = TransactionLogValue::decode(out.records[0].1.as_ref().unwrap()).unwrap();
    assert_eq!(written.state, TxnState::PrepareAbort);
    assert_eq!(written.producer_epoch, 1);
    // The old producer cannot commit: its transaction is being aborted
    // (Kafka answers INVALID_TXN_STATE here, as the fence follows
    // transactions v2 rules, for which epoch 0 is a retry of the bumped
    // end); it cannot add partitions either.
    assert_eq!(
        s.end_txn("t", 7, 0, true, false, 9, T0),
        Err(code(ResponseError::InvalidTxnState))
    );
    assert_eq!(
        s.add_partitions("t", 7, 0, &[tp("b", 0)], 0, T0),
        code(ResponseError::ProducerFenced)
    );
    assert_eq!(
        s.init_producer_id("t", 60_000, None, 8, T0),
        Err(code(ResponseError::ConcurrentTransactions))
    );
    assert!(s.complete_markers("t", 7, 1, T0));
    assert_eq!(s.get("t").unwrap().state, TxnState::CompleteAbort);
    assert_eq!(s.init_producer_id("t", 60_000, None, 8, T0), Ok((7, 2)));
}

#[test]
fn kip_360_recovery_with_the_current_epoch_bumps_and_a_retry_gets_the_same_answer() {
    let mut s = shard();
    s.init_producer_id("t", 60_000, None, 7, T0).unwrap();
    assert_eq!(
        s.init_producer_id("t", 60_000, Some((7, 0)), 8, T0),
        Ok((7, 1))
    );
    // The answer was lost; the producer retries with its old epoch.
    assert_eq!(
        s.init_producer_id("t", 60_000, Some((7, 0)), 8, T0),
        Ok((7, 1))
    );
    assert_eq!(
        s.init_producer_id("t", 60_000, Some((7, 5)), 8, T0),
        Err(code(ResponseError::ProducerFenced))
    );
    assert_eq!(
        s.init_producer_id("t", 60_000, Some((99, 1)), 8, T0),
        Err(code(ResponseError::ProducerFenced))
    );
}

#[test]
fn an_exhausted_epoch_moves_the_producer_to_a_new_id() {
    let mut s = shard();
    s.init_producer_id("t", 60_000, None, 7, T0).unwrap();
    s.txns_mut_for_test("t").producer_epoch = i16::MAX - 1;
    assert_eq!(s.init_producer_id("t", 60_000, None, 8, T0), Ok((8, 0)));
    let m = s.get("t").unwrap();
    assert_eq!(m.previous_producer_id, 7);
}

#[test]
fn transactions_v2_end_bumps_the_epoch_and_fences_the_earlier_transaction() {
    let mut s = shard();
    s.init_producer_id("t", 60_000, None, 7, T0).unwrap();
    assert_eq!(s.add_partitions("t", 7, 0, &[tp("a", 0)], 2, T0), 0);
    assert_eq!(s.end_txn("t", 7, 0, true, true, 9, T0), Ok((7, 1)));
    let out = s.take_output();
    assert_eq!(
        out.markers[0].producer_epoch, 1,
        "markers carry the bumped epoch"
    );
    // A retry of the same EndTxn with the old epoch waits, then succeeds.
    assert_eq!(
        s.end_txn("t", 7, 0, true, true, 9, T0),
        Err(code(ResponseError::ConcurrentTransactions))
    );
    assert!(s.complete_markers("t", 7, 1, T0));
    assert_eq!(s.end_txn("t", 7, 0, true, true, 9, T0), Ok((7, 1)));
    // A late request of the earlier transaction (epoch 0) is fenced.
    assert_eq!(
        s.add_partitions("t", 7, 0, &[tp("a", 0)], 2, T0),
        code(ResponseError::ProducerFenced)
    );
    assert_eq!(s.add_partitions("t", 7, 1, &[tp("a", 0)], 2, T0), 0);
    // An abort of the next one bumps again.
    assert_eq!(s.end_txn("t", 7, 1, false, true, 9, T0), Ok((7, 2)));
}

#[test]
fn transactions_v2_with_an_exhausted_epoch_rotates_the_producer_id_at_completion() {
    let mut s = shard();
    s.init_producer_id("t", 60_000, None, 7, T0).unwrap();
    s.txns_mut_for_test("t").producer_epoch = i16::MAX - 1;
    s.add_partitions("t", 7, i16::MAX - 1, &[tp("a", 0)], 2, T0);
    assert_eq!(
        s.end_txn("t", 7, i16::MAX - 1, true, true, 9, T0),
        Ok((9, 0))
    );
    assert!(s.complete_markers("t", 7, i16::MAX, T0));
    let m = s.get("t").unwrap();
    assert_eq!(
        (m.producer_id, m.producer_epoch, m.previous_producer_id),
        (9, 0, 7)
    );
    // The retry with the old id is recognised.
    assert_eq!(
        s.end_txn("t", 7, i16::MAX - 1, true, true, 10, T0),
        Ok((9, 0))
    );
}

#[test]
fn old_end_txn_keeps_the_epoch() {
    let mut s = shard();
    s.init_producer_id("t", 60_000, None, 7, T0).unwrap();
    s.add_partitions("t", 7, 0, &[tp("a", 0)], 0, T0);
    assert_eq!(s.end_txn("t", 7, 0, false, false, 9, T0), Ok((7, 0)));
    assert!(s.complete_markers("t", 7, 0, T0));
    assert_eq!(s.add_partitions("t", 7, 0, &[tp("a", 0)], 0, T0), 0);
}

#[test]
fn a_stalled_transaction_is_aborted_with_an_epoch_bump_after_its_timeout() {
    let mut s = shard();
    s.init_producer_id("t", 1_000, None, 7, T0).unwrap();
    s.add_partitions("t", 7, 0, &[tp("a", 0)], 0, T0);
    s.take_output();
    s.tick(T0 + 9_999);
    assert_eq!(
        s.get("t").unwrap().state,
        TxnState::Ongoing,
        "not due before the check interval"
    );
    s.tick(T0 + 10_000);
    let out = s.take_output();
    assert_eq!(out.markers.len(), 1);
    assert!(!out.markers[0].commit);
    let m = s.get("t").unwrap();
    assert_eq!((m.state, m.producer_epoch), (TxnState::PrepareAbort, 1));
    assert_eq!(
        s.add_partitions("t", 7, 1, &[tp("a", 0)], 0, T0),
        code(ResponseError::ConcurrentTransactions)
    );
    assert!(s.complete_markers("t", 7, 1, T0));
    assert_eq!(
        s.add_partitions("t", 7, 0, &[tp("a", 0)], 0, T0),
        code(ResponseError::ProducerFenced)
    );
}

#[test]
fn idle_transactional_ids_expire_with_a_tombstone() {
    let mut s = shard();
    s.init_producer_id("idle", 60_000, None, 7, T0).unwrap();
    s.init_producer_id("open", 60_000, None, 8, T0).unwrap();
    s.add_partitions("open", 8, 0, &[tp("a", 0)], 0, T0);
    s.take_output();
    let week = 604_800_000;
    assert_eq!(s.expire_ids(T0 + week - 1), 0);
    assert_eq!(s.expire_ids(T0 + week), 1);
    let out = s.take_output();
    assert_eq!(out.records.len(), 1);
    assert!(out.records[0].1.is_none());
    assert!(s.get("idle").is_none());
    assert!(s.get("open").is_some());
    assert_eq!(
        s.describe("idle"),
        Err(code(ResponseError::TransactionalIdNotFound))
    );
}

#[test]
fn replay_rebuilds_every_id_and_prepare_states_resend_their_markers() {
    let mut s = shard();
    let mut log = Vec::new();
    s.init_producer_id("a", 60_000, None, 1, T0).unwrap();
    s.init_producer_id("b", 60_000, None, 2, T0).unwrap();
    s.init_producer_id("gone", 60_000, None, 3, T0).unwrap();
    s.add_partitions("a", 1, 0, &[tp("x", 0), tp("y", 2)], 0, T0);
    s.add_partitions("b", 2, 0, &[tp("x", 1)], 2, T0);
    s.end_txn("b", 2, 0, true, true, 9, T0).unwrap();
    s.expire_ids(T0 + 604_800_000 + 1);
    let mut r = reloaded(&mut s, &mut log);
    assert!(r.get("gone").is_none());
    let a = r.get("a").unwrap();
    assert_eq!(a.state, TxnState::Ongoing);
    assert_eq!(a.partitions.len(), 2);
    let b = r.get("b").unwrap();
    assert_eq!(
        (b.state, b.producer_epoch, b.client_transaction_version),
        (TxnState::PrepareCommit, 1, 2)
    );
    r.load_complete(T0);
    let markers = r.take_output().markers;
    assert_eq!(markers.len(), 1);
    assert_eq!(
        (markers[0].transactional_id.as_str(), markers[0].commit),
        ("b", true)
    );
    assert_eq!(markers[0].partitions, vec![tp("x", 1)]);
}

#[test]
fn value_round_trips_in_both_versions_and_v1_keeps_tagged_fields() {
    let v = TransactionLogValue {
        producer_id: 5,
        previous_producer_id: 4,
        next_producer_id: 6,
        producer_epoch: 3,
        transaction_timeout_ms: 1000,
        state: TxnState::PrepareCommit,
        partitions: vec![("t".into(), vec![0, 2])],
        last_update_timestamp_ms: 11,
        start_timestamp_ms: 10,
        client_transaction_version: 2,
    };
    assert_eq!(TransactionLogValue::decode(&v.encode(1)).unwrap(), v);
    let v0 = TransactionLogValue::decode(&v.encode(0)).unwrap();
    assert_eq!(v0.previous_producer_id, -1);
    assert_eq!(v0.client_transaction_version, 0);
    assert_eq!(v0.partitions, v.partitions);
    // Kafka's v0 bytes for a value with no partitions.
    let empty = TransactionLogValue {
        partitions: vec![],
        state: TxnState::Empty,
        ..v.clone()
    };
    let bytes = empty.encode(0);
    assert_eq!(&bytes[..2], &[0, 0]);
    assert_eq!(bytes.len(), 2 + 8 + 2 + 4 + 1 + 4 + 8 + 8);
    for cut in 0..bytes.len() {
        assert!(TransactionLogValue::decode(&bytes[..cut]).is_err());
    }
}

#[test]
fn describe_and_list_filter_by_state_producer_duration_and_id() {
    let mut s = shard();
    s.init_producer_id("a", 60_000, None, 1, T0).unwrap();
    s.init_producer_id("b", 60_000, None, 2, T0).unwrap();
    s.add_partitions("b", 2, 0, &[tp("x", 0)], 0, T0);
    let d = s.describe("b").unwrap();
    assert_eq!(
        (d.state, d.producer_id, d.start_timestamp_ms),
        (TxnState::Ongoing, 2, T0)
    );
    assert_eq!(d.partitions, vec![tp("x", 0)]);
    let all = |_: &str| true;
    let f = |states: &'static [TxnState], pids: &'static [i64], duration_ms: i64| ListFilter {
        states,
        producer_ids: pids,
        duration_ms,
        transactional_id: &all,
    };
    assert_eq!(s.list(&f(&[], &[], -1), T0).len(), 2);
    assert_eq!(
        s.list(&f(&[TxnState::Ongoing], &[], -1), T0),
        vec![("b".into(), 2, TxnState::Ongoing)]
    );
    assert_eq!(s.list(&f(&[], &[1], -1), T0)[0].0, "a");
    assert!(s
        .list(&f(&[TxnState::Ongoing], &[], 500), T0 + 500)
        .is_empty());
    assert_eq!(
        s.list(&f(&[TxnState::Ongoing], &[], 500), T0 + 501).len(),
        1
    );
    let only_a = |id: &str| id == "a";
    let by_id = ListFilter {
        states: &[],
        producer_ids: &[],
        duration_ms: -1,
        transactional_id: &only_a,
    };
    assert_eq!(s.list(&by_id, T0).len(), 1);
}

#[derive(Debug, Clone)]
enum Op {
    Init {
        id: u8,
        expected: Option<i16>,
    },
    Add {
        id: u8,
        epoch_delta: i16,
        partition: i32,
        v2: bool,
    },
    End {
        id: u8,
        epoch_delta: i16,
        commit: bool,
        v2: bool,
    },
    Complete {
        id: u8,
    },
    Tick {
        advance_ms: i64,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let id = 0u8..3;
    prop_oneof![
        (id.clone(), proptest::option::of(-1i16..3))
            .prop_map(|(id, expected)| Op::Init { id, expected }),
        (id.clone(), -1i16..2, 0i32..3, any::<bool>()).prop_map(
            |(id, epoch_delta, partition, v2)| Op::Add {
                id,
                epoch_delta,
                partition,
                v2
            }
        ),
        (id.clone(), -1i16..2, any::<bool>(), any::<bool>()).prop_map(
            |(id, epoch_delta, commit, v2)| Op::End {
                id,
                epoch_delta,
                commit,
                v2
            }
        ),
        id.prop_map(|id| Op::Complete { id }),
        (0i64..20_000).prop_map(|advance_ms| Op::Tick { advance_ms }),
    ]
}

proptest! {
    /// Over random sequences: producer (id, epoch) pairs only grow; a request
    /// with a fenced epoch never succeeds; at most one transaction per id is
    /// open and its markers are asked for exactly once per prepare; the
    /// state replayed from the written records equals the state in memory.
    #[test]
    fn random_operations_keep_the_invariants(ops in proptest::collection::vec(op(), 1..60)) {
        let mut s = shard();
        let mut log = Vec::new();
        let mut now = T0;
        let mut next_pid = 100i64;
        let mut high: std::collections::HashMap<String, (i64, i16)> = Default::default();
        let mut pending_markers: std::collections::HashMap<String, MarkerJob> = Default::default();
        for op in ops {
            let before = |s: &TxnShard, id: &str| s.get(id).map(|m| (m.producer_id, m.producer_epoch));
            match op {
                Op::Init { id, expected } => {
                    let id = format!("t{id}");
                    let exp = expected.and_then(|d| before(&s, &id).map(|(p, e)| (p, e.saturating_add(d))));
                    next_pid += 1;
                    let _ = s.init_producer_id(&id, 5_000, exp, next_pid, now);
                }
                Op::Add { id, epoch_delta, partition, v2 } => {
                    let id = format!("t{id}");
                    if let Some((pid, epoch)) = before(&s, &id) {
                        let e = epoch.saturating_add(epoch_delta);
                        let r = s.add_partitions(&id, pid, e, &[("x".into(), partition)], if v2 { 2 } else { 0 }, now);
                        if e != epoch { prop_assert_ne!(r, 0, "a fenced epoch succeeded"); }
                    }
                }
                Op::End { id, epoch_delta, commit, v2 } => {
                    let id = format!("t{id}");
                    if let Some((pid, epoch)) = before(&s, &id) {
                        let state = s.get(&id).map(|m| m.state);
                        let e = epoch.saturating_add(epoch_delta);
                        next_pid += 1;
                        let r = s.end_txn(&id, pid, e, commit, v2, next_pid, now);
                        if e > epoch { prop_assert!(r.is_err(), "a future epoch succeeded"); }
                        if e < epoch && state == Some(TxnState::Ongoing) {
                            prop_assert!(r.is_err(), "a fenced epoch ended a transaction");
                        }
                    }
                }
                Op::Complete { id } => {
                    let id = format!("t{id}");
                    if let Some(job) = pending_markers.remove(&id) {
                        prop_assert!(s.complete_markers(&id, job.producer_id, job.producer_epoch, now));
                    }
                }
                Op::Tick { advance_ms } => {
                    now += advance_ms;
                    s.tick(now);
                }
            }
            let out = s.take_output();
            for job in out.markers {
                prop_assert!(!pending_markers.contains_key(&job.transactional_id), "two open transactions for one id");
                pending_markers.insert(job.transactional_id.clone(), job);
            }
            log.extend(out.records);
            for id in ["t0", "t1", "t2"] {
                if let Some(m) = s.get(id) {
                    let now_pe = (m.producer_id, m.producer_epoch);
                    if let Some(prev) = high.get(id) {
                        prop_assert!(now_pe >= *prev || now_pe.0 > prev.0 || m.producer_id != prev.0, "epoch went down: {prev:?} -> {now_pe:?}");
                        if now_pe.0 == prev.0 { prop_assert!(now_pe.1 >= prev.1, "epoch went down"); }
                    }
                    high.insert(id.to_owned(), now_pe);
                    prop_assert_eq!(m.state.is_prepare(), pending_markers.contains_key(id));
                }
            }
        }
        let mut r = TxnShard::new(TxnConfig::default());
        for (k, v) in &log {
            r.replay(k, v.as_deref()).unwrap();
        }
        for id in ["t0", "t1", "t2"] {
            let (a, b) = (s.get(id), r.get(id));
            prop_assert_eq!(a.is_some(), b.is_some());
            if let (Some(a), Some(b)) = (a, b) {
                prop_assert_eq!((a.producer_id, a.producer_epoch, a.state, &a.partitions), (b.producer_id, b.producer_epoch, b.state, &b.partitions));
            }
        }
    }
}

proptest! {
    /// Bytes from disk never panic the decoder; a record that decodes
    /// re-encodes to a record that decodes to the same value.
    #[test]
    fn arbitrary_record_bytes_decode_or_fail_cleanly(bytes in proptest::collection::vec(any::<u8>(), 0..96)) {
        let _ = records::decode_key(&bytes);
        if let Ok(v) = TransactionLogValue::decode(&bytes) {
            prop_assert_eq!(TransactionLogValue::decode(&v.encode(1)).unwrap(), v);
        }
    }
}
