//! Transactions through [`Log`]: transactional batches, markers, the first unstable
//! offset, the aborted transaction index, and all of them surviving reopen, crash,
//! truncation, retention and the follower path.

use bytes::Bytes;
use proptest::prelude::*;
use strom_records::{BatchBuilder, Compression, TimestampType};

use crate::test_support::*;
use crate::*;

/// A transactional batch of `n` records of producer `pid` at `epoch` from sequence `seq`.
fn txn(pid: i64, epoch: i16, seq: i32, n: usize) -> Bytes {
    let mut b = BatchBuilder::new(Compression::None, TimestampType::CreateTime)
        .producer(pid, epoch, seq)
        .transactional(true);
    for i in 0..n {
        b.append(
            1_000,
            None,
            Some(format!("p{pid}-{seq}-{i}").as_bytes()),
            &[],
        );
    }
    b.build(0)
}

fn idem(pid: i64, epoch: i16, seq: i32) -> Bytes {
    let mut b =
        BatchBuilder::new(Compression::None, TimestampType::CreateTime).producer(pid, epoch, seq);
    b.append(1_000, None, Some(b"idem"), &[]);
    b.build(0)
}

fn marker(log: &mut Log, pid: i64, epoch: i16, coordinator_epoch: i32, commit: bool) -> i64 {
    log.append_txn_marker(pid, epoch, coordinator_epoch, commit, false, 0, 5_000)
        .unwrap()
        .base_offset
}

fn aborted(pid: i64, first: i64, last: i64, lso: i64) -> AbortedTxn {
    AbortedTxn {
        producer_id: pid,
        first_offset: first,
        last_offset: last,
        last_stable_offset: lso,
    }
}

#[test]
fn a_transaction_is_unstable_until_its_marker_and_an_abort_is_indexed() {
    let fs = FaultyFileSystem::new();
    let mut log = open(&fs, LogConfig::default(), false);
    log.append(batch(Compression::None, 2, 0, 0), 0).unwrap(); // 0..1
    assert_eq!(log.first_unstable_offset(), None);
    log.append(txn(7, 1, 0, 2), 0).unwrap(); // 2..3
    log.append(txn(8, 0, 0, 1), 0).unwrap(); // 4
    log.append(txn(7, 1, 2, 1), 0).unwrap(); // 5: same transaction
    assert_eq!(log.first_unstable_offset(), Some(2));

    // A non-transactional batch inside the producer's transaction.
    let err = log.append(idem(7, 1, 3), 0).unwrap_err();
    assert_eq!(err.error_code(), INVALID_TXN_STATE, "{err}");

    assert_eq!(marker(&mut log, 7, 1, 3, false), 6);
    assert_eq!(
        log.first_unstable_offset(),
        Some(4),
        "producer 8 is still open"
    );
    assert_eq!(
        log.collect_aborted_transactions(0, 100),
        // The last stable offset after the abort is producer 8's first offset.
        vec![aborted(7, 2, 6, 4)]
    );
    assert_eq!(marker(&mut log, 8, 0, 3, true), 7);
    assert_eq!(log.first_unstable_offset(), None);
    assert_eq!(
        log.collect_aborted_transactions(0, 100).len(),
        1,
        "a commit is not indexed"
    );
    // Kafka's bounds: the marker at or after the start, the first offset below the upper.
    assert!(log.collect_aborted_transactions(7, 100).is_empty());
    assert!(log.collect_aborted_transactions(0, 2).is_empty());
    assert_eq!(log.collect_aborted_transactions(6, 3).len(), 1);

    // After its marker the producer writes idempotently again.
    assert_eq!(log.append(idem(7, 1, 3), 0).unwrap().base_offset, 8);
    let producers = log.producers();
    assert_eq!(producers.len(), 2);
    assert_eq!(
        (
            producers[0].producer_id,
            producers[0].coordinator_epoch,
            producers[0].current_txn_start_offset,
            producers[0].last_sequence
        ),
        (7, 3, -1, 3)
    );
    let index = fs.read_file(&seg_path(0, ".txnindex")).unwrap();
    assert_eq!(index.len(), 34, "one entry of Kafka's 34 bytes");
}

#[test]
fn markers_check_the_producer_epoch_and_fence_stale_coordinators() {
    let fs = FaultyFileSystem::new();
    let mut log = open(&fs, LogConfig::default(), false);
    log.append(txn(7, 4, 0, 1), 0).unwrap();
    let stale = log
        .append_txn_marker(7, 3, 5, true, false, 0, 1)
        .unwrap_err();
    assert_eq!(stale.error_code(), INVALID_PRODUCER_EPOCH, "{stale}");
    // Transaction version 2: the marker must carry a bumped epoch.
    let same = log
        .append_txn_marker(7, 4, 5, true, true, 0, 1)
        .unwrap_err();
    assert_eq!(same.error_code(), INVALID_PRODUCER_EPOCH);
    assert_eq!(log.log_end_offset(), 1, "refused markers write nothing");

    log.append_txn_marker(7, 5, 5, false, true, 0, 1).unwrap();
    assert_eq!(log.first_unstable_offset(), None);
    // The bumped epoch starts its sequences at 0.
    log.append(txn(7, 5, 0, 1), 0).unwrap();
    let fenced = log
        .append_txn_marker(7, 5, 4, true, false, 0, 1)
        .unwrap_err();
    assert_eq!(
        fenced.error_code(),
        TRANSACTION_COORDINATOR_FENCED,
        "{fenced}"
    );
    assert_eq!(log.first_unstable_offset(), Some(2));
    // A marker for a producer that wrote nothing here ends nothing, indexes nothing.
    log.append_txn_marker(99, 0, 1, false, false, 0, 1).unwrap();
    assert_eq!(
        log.collect_aborted_transactions(0, 100),
        vec![aborted(7, 0, 1, 2)]
    );
}

#[test]
fn open_transactions_and_aborts_survive_a_clean_reopen_and_a_crash() {
    for crash in [false, true] {
        let fs = FaultyFileSystem::new();
        let config = LogConfig {
            segment_bytes: 400,
            ..LogConfig::default()
        };
        let mut log = open(&fs, config.clone(), false);
        for i in 0..6 {
            log.append(txn(i, 0, 0, 2), 0).unwrap();
            if i % 2 == 0 {
                marker(&mut log, i, 0, 1, i % 4 == 0);
            }
        }
        log.append(txn(0, 0, 2, 1), 0).unwrap();
        let unstable = log.first_unstable_offset();
        let aborted_before = log.collect_aborted_transactions(0, i64::MAX);
        assert!(log.segment_count() > 2, "the test needs rolled segments");
        assert_eq!(aborted_before.len(), 1);
        if crash {
            log.flush().unwrap();
            drop(log);
            fs.crash(CrashMode::LoseUnsynced);
        } else {
            log.close().unwrap();
        }
        let mut log = open(&fs, config.clone(), crash);
        assert_eq!(log.first_unstable_offset(), unstable, "crash={crash}");
        assert_eq!(
            log.collect_aborted_transactions(0, i64::MAX),
            aborted_before,
            "crash={crash}"
        );
        // Producer 1's transaction is still open: its marker still ends it.
        marker(&mut log, 1, 0, 1, false);
        marker(&mut log, 3, 0, 1, true);
        marker(&mut log, 5, 0, 1, true);
        marker(&mut log, 0, 0, 1, true);
        assert_eq!(log.first_unstable_offset(), None);
        assert_eq!(log.collect_aborted_transactions(0, i64::MAX).len(), 2);
    }
}

#[test]
fn recovery_rebuilds_an_abort_the_crash_kept_out_of_the_index() {
    for remove_index in [false, true] {
        recovery_rebuilds_an_abort(remove_index);
    }
}

/// The index append is not fsynced (as Kafka's): a crash loses it, or the file goes.
fn recovery_rebuilds_an_abort(remove_index: bool) {
    let fs = FaultyFileSystem::new();
    let mut log = open(&fs, LogConfig::default(), false);
    log.append(txn(7, 0, 0, 2), 0).unwrap();
    log.append(txn(8, 0, 0, 1), 0).unwrap();
    marker(&mut log, 7, 0, 1, false);
    let before = log.collect_aborted_transactions(0, 100);
    assert_eq!(before, vec![aborted(7, 0, 3, 2)]);
    log.flush().unwrap();
    drop(log);
    if remove_index {
        fs.remove_file(&seg_path(0, ".txnindex")).unwrap();
    }
    fs.crash(CrashMode::LoseUnsynced);
    assert!(
        fs.read_file(&seg_path(0, ".txnindex"))
            .map_or(true, |b| b.is_empty()),
        "the crash took the unsynced entry"
    );
    let log = open(&fs, LogConfig::default(), true);
    assert_eq!(log.collect_aborted_transactions(0, 100), before);
    assert_eq!(log.first_unstable_offset(), Some(2));
    assert_eq!(fs.read_file(&seg_path(0, ".txnindex")).unwrap().len(), 34);
}

#[test]
fn a_producer_inside_a_transaction_never_expires() {
    let fs = FaultyFileSystem::new();
    let config = LogConfig {
        producer_id_expiration_ms: 1_000,
        ..LogConfig::default()
    };
    let mut log = open(&fs, config, false);
    log.append(txn(7, 0, 0, 1), 0).unwrap();
    log.append(idem(8, 0, 0), 0).unwrap();
    assert_eq!(log.remove_expired_producers(1_000_000), 1);
    assert_eq!(log.producer_count(), 1);
    assert_eq!(log.first_unstable_offset(), Some(0));
}

#[test]
fn the_first_unstable_offset_is_never_below_the_log_start_offset() {
    let fs = FaultyFileSystem::new();
    let mut log = open(&fs, LogConfig::default(), false);
    log.append(txn(7, 0, 0, 2), 0).unwrap(); // 0..1
    log.append(batch(Compression::None, 3, 0, 0), 0).unwrap(); // 2..4
    assert_eq!(log.first_unstable_offset(), Some(0));
    log.increase_log_start_offset(3, 5).unwrap();
    assert_eq!(log.first_unstable_offset(), Some(3));
    marker(&mut log, 7, 0, 1, false);
    assert_eq!(log.first_unstable_offset(), None);
}

#[test]
fn truncation_takes_back_markers_and_their_aborts() {
    let fs = FaultyFileSystem::new();
    let mut log = open(&fs, LogConfig::default(), false);
    log.append(txn(7, 0, 0, 2), 0).unwrap(); // 0..1
    marker(&mut log, 7, 0, 1, false); // 2
    log.append(txn(8, 0, 0, 1), 0).unwrap(); // 3
    marker(&mut log, 8, 0, 1, false); // 4
    assert_eq!(log.collect_aborted_transactions(0, 10).len(), 2);
    log.truncate_to(4).unwrap();
    assert_eq!(
        log.collect_aborted_transactions(0, 10),
        vec![aborted(7, 0, 2, 3)]
    );
    assert_eq!(
        log.first_unstable_offset(),
        Some(3),
        "producer 8 is open again"
    );
    log.truncate_to(2).unwrap();
    assert_eq!(log.log_end_offset(), 2);
    assert!(log.collect_aborted_transactions(0, 10).is_empty());
    assert!(!fs.exists(&seg_path(0, ".txnindex")).unwrap());
    assert_eq!(log.first_unstable_offset(), Some(0));
    log.truncate_fully_and_start_at(50).unwrap();
    assert_eq!(log.first_unstable_offset(), None);
}

#[test]
fn a_follower_applies_the_leaders_markers() {
    let leader_fs = FaultyFileSystem::new();
    let mut leader = open(&leader_fs, LogConfig::default(), false);
    leader.append_as_leader(txn(7, 0, 0, 2), 1, 0).unwrap();
    leader
        .append_txn_marker(7, 0, 3, false, false, 1, 0)
        .unwrap();
    leader.append_as_leader(txn(8, 0, 0, 1), 1, 0).unwrap();
    let records = leader.read(0, 1 << 20, true, i64::MAX).unwrap().records;

    let fs = FaultyFileSystem::new();
    let mut follower = open(&fs, LogConfig::default(), false);
    follower.append_as_follower(records).unwrap();
    assert_eq!(follower.first_unstable_offset(), Some(3));
    assert_eq!(
        follower.collect_aborted_transactions(0, 10),
        leader.collect_aborted_transactions(0, 10)
    );
    assert_eq!(follower.collect_aborted_transactions(0, 10).len(), 1);
}

#[test]
fn retention_deletes_the_index_with_its_segment() {
    let fs = FaultyFileSystem::new();
    let config = LogConfig {
        segment_bytes: 300,
        retention_bytes: Some(1),
        ..LogConfig::default()
    };
    let mut log = open(&fs, config, false);
    log.append(txn(7, 0, 0, 2), 0).unwrap();
    marker(&mut log, 7, 0, 1, false);
    for i in 0..6 {
        log.append(batch(Compression::None, 2, 0, i), 0).unwrap();
    }
    assert!(fs.exists(&seg_path(0, ".txnindex")).unwrap());
    let end = log.log_end_offset();
    assert!(log.delete_old_segments(end, 0).unwrap() > 0);
    assert!(!fs.exists(&seg_path(0, ".txnindex")).unwrap());
    assert!(log.collect_aborted_transactions(0, end).is_empty());
}

#[derive(Debug, Clone)]
enum Op {
    Txn(i64),
    Plain,
    Marker(i64, bool),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..4i64).prop_map(Op::Txn),
        Just(Op::Plain),
        ((0..4i64), any::<bool>()).prop_map(|(p, c)| Op::Marker(p, c)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// The first unstable offset and the aborted list follow a model of Kafka's rules,
    /// and a reopen (clean or after a crash) gives back the same.
    #[test]
    fn first_unstable_offset_and_aborts_follow_the_model(ops in prop::collection::vec(op(), 1..40), crash in any::<bool>()) {
        let fs = FaultyFileSystem::new();
        let config = LogConfig { segment_bytes: 500, ..LogConfig::default() };
        let mut log = open(&fs, config.clone(), false);
        let mut open_txns: std::collections::BTreeMap<i64, i64> = Default::default(); // pid -> first
        let mut seqs = [0i32; 4];
        let mut expected_aborts = Vec::new();
        for op in &ops {
            let offset = log.log_end_offset();
            match *op {
                Op::Txn(pid) => {
                    log.append(txn(pid, 0, seqs[pid as usize], 1), 0).unwrap();
                    seqs[pid as usize] += 1;
                    open_txns.entry(pid).or_insert(offset);
                }
                Op::Plain => { log.append(batch(Compression::None, 1, 0, 1), 0).unwrap(); }
                Op::Marker(pid, commit) => {
                    let lso = open_txns.iter().filter(|(p, _)| **p != pid).map(|(_, f)| *f).min().unwrap_or(offset + 1);
                    marker(&mut log, pid, 0, 0, commit);
                    if let Some(first) = open_txns.remove(&pid) {
                        if !commit { expected_aborts.push(aborted(pid, first, offset, lso)); }
                    }
                }
            }
            prop_assert_eq!(log.first_unstable_offset(), open_txns.values().min().copied());
        }
        prop_assert_eq!(log.collect_aborted_transactions(0, i64::MAX), expected_aborts.clone());
        if crash {
            log.flush().unwrap();
            drop(log);
            fs.crash(CrashMode::LoseUnsynced);
        } else {
            log.close().unwrap();
        }
        let log = open(&fs, config, crash);
        prop_assert_eq!(log.first_unstable_offset(), open_txns.values().min().copied());
        prop_assert_eq!(log.collect_aborted_transactions(0, i64::MAX), expected_aborts);
    }
}

/// A transactional batch of one keyed record.
fn txn_kv(pid: i64, seq: i32, key: &str, value: &str) -> Bytes {
    let mut b = BatchBuilder::new(Compression::None, TimestampType::CreateTime)
        .producer(pid, 0, seq)
        .transactional(true);
    b.append(1, Some(key.as_bytes()), Some(value.as_bytes()), &[]);
    b.build(0)
}

#[test]
fn compaction_drops_aborted_records_and_stops_at_the_first_unstable_offset() {
    let fs = FaultyFileSystem::new();
    let config = crate::cleaner_tests::config();
    let mut log = open(&fs, config.clone(), false);
    log.append(
        crate::cleaner_tests::kv(Compression::None, &[("k", Some("committed"))], 1),
        1,
    )
    .unwrap(); // 0
    log.append(txn_kv(7, 0, "k", "aborted"), 1).unwrap(); // 1
    marker(&mut log, 7, 0, 1, false); // 2
    let plain = |log: &mut Log, n: usize| {
        for i in 0..n {
            let key = format!("x{}", i % 3);
            log.append(
                crate::cleaner_tests::kv(Compression::None, &[(&key, Some("v"))], 1),
                1,
            )
            .unwrap();
        }
    };
    plain(&mut log, 15); // 3..17
    log.append(txn_kv(9, 0, "k", "open"), 1).unwrap(); // 18: never decided
    plain(&mut log, 15);
    assert_eq!(log.first_unstable_offset(), Some(18));
    let stats = log.clean(i64::MAX, 10_000, 1 << 20, &mut |_| {}).unwrap();
    assert_eq!(stats.records_aborted_removed, 1, "{stats:?}");
    assert!(
        stats.end_offset <= 18,
        "cleaned past the first unstable offset: {stats:?}"
    );
    let values: Vec<(i64, Option<String>)> = crate::cleaner_tests::records(&log)
        .into_iter()
        .filter(|r| r.1.as_deref() == Some("k"))
        .map(|r| (r.0, r.2))
        .collect();
    assert_eq!(
        values,
        vec![
            // The aborted record went and never superseded the committed one; the open
            // transaction's record is beyond the first unstable offset, untouched.
            (0, Some("committed".into())),
            (18, Some("open".into())),
        ]
    );
    // The aborted batch is producer 7's newest, kept empty for its sequence: its
    // transaction still has a batch, so the marker and the index entry stay, across a reopen.
    assert_eq!(
        log.collect_aborted_transactions(0, 10),
        vec![aborted(7, 1, 2, 3)]
    );
    log.close().unwrap();
    let log = open(&fs, config, false);
    assert_eq!(
        log.collect_aborted_transactions(0, 10),
        vec![aborted(7, 1, 2, 3)]
    );
    assert_eq!(log.first_unstable_offset(), Some(18));
}
