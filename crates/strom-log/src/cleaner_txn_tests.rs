//! Compaction of logs with transactions: which transaction markers survive one and two
//! cleans (Kafka's rule: a marker whose transaction has no batch left gets a delete
//! horizon of `now + delete.retention.ms` and goes in a clean after it), and the aborted
//! transaction index following what remains, across reopens.

use bytes::Bytes;
use strom_records::{BatchBuilder, Compression, RecordBatch, TimestampType};

use crate::cleaner::delete_horizon_of;
use crate::cleaner_tests::{batches, config};
use crate::test_support::open;
use crate::*;

const MAP: usize = 1 << 20;
/// `config()`'s delete.retention.ms.
const RETENTION: i64 = 1_000;

/// A batch of one keyed record: transactional, idempotent or plain.
fn kv(pid: i64, epoch: i16, seq: i32, txn: bool, key: &str, value: &str) -> Bytes {
    let mut b = BatchBuilder::new(Compression::None, TimestampType::CreateTime);
    if pid >= 0 {
        b = b.producer(pid, epoch, seq).transactional(txn);
    }
    b.append(1, Some(key.as_bytes()), Some(value.as_bytes()), &[]);
    b.build(0)
}

fn plain(log: &mut Log, key: &str) -> i64 {
    log.append(kv(-1, -1, -1, false, key, "v"), 1)
        .unwrap()
        .base_offset
}

/// Records with keys of their own until the log rolls at least twice more, so what came
/// before is in inactive segments and a clean has something dirty.
fn fill(log: &mut Log) {
    let segments = log.segment_count();
    while log.segment_count() < segments + 2 {
        let key = format!("u{}", log.log_end_offset());
        plain(log, &key);
    }
}

fn marker(log: &mut Log, pid: i64, epoch: i16, commit: bool, bumped: bool) -> i64 {
    log.append_txn_marker(pid, epoch, 1, commit, bumped, 0, 5_000)
        .unwrap()
        .base_offset
}

fn clean(log: &mut Log, now: i64) -> CleanerStats {
    log.clean(i64::MAX, now, MAP, &mut |_| {}).unwrap()
}

/// Base offsets of the batches below `below`, control batches marked.
fn offsets(log: &Log, below: i64) -> Vec<(i64, bool)> {
    batches(log)
        .iter()
        .filter(|b| b.base_offset() < below)
        .map(|b| (b.base_offset(), b.is_control()))
        .collect()
}

fn batch_at(log: &Log, offset: i64) -> RecordBatch {
    batches(log)
        .into_iter()
        .find(|b| b.base_offset() == offset)
        .unwrap_or_else(|| panic!("no batch at {offset}"))
}

fn aborted(pid: i64, first: i64, last: i64, lso: i64) -> AbortedTxn {
    AbortedTxn {
        producer_id: pid,
        first_offset: first,
        last_offset: last,
        last_stable_offset: lso,
    }
}

fn reopen(fs: &FaultyFileSystem, log: Log) -> Log {
    log.close().unwrap();
    open(fs, config(), false)
}

#[test]
fn a_committed_transaction_whose_records_are_superseded_loses_its_marker_after_the_horizon() {
    let fs = FaultyFileSystem::new();
    let mut log = open(&fs, config(), false);
    assert_eq!(
        log.append(kv(7, 0, 0, true, "k", "txn"), 1)
            .unwrap()
            .base_offset,
        0
    );
    assert_eq!(marker(&mut log, 7, 0, true, false), 1);
    // The producer's newest batch (idempotent, after its transaction) supersedes it.
    assert_eq!(
        log.append(kv(7, 0, 1, false, "k", "new"), 1)
            .unwrap()
            .base_offset,
        2
    );
    fill(&mut log);
    let end = log.log_end_offset();

    let stats = clean(&mut log, 10_000);
    assert_eq!(
        (stats.marker_horizons_set, stats.markers_removed),
        (1, 0),
        "{stats:?}"
    );
    let mut expected: Vec<(i64, bool)> = vec![(1, true)];
    expected.extend((2..end).map(|o| (o, false)));
    assert_eq!(offsets(&log, end), expected, "after one clean");
    let m = batch_at(&log, 1);
    assert_eq!(delete_horizon_of(&m), Some(10_000 + RETENTION));
    assert!(m.is_valid_crc() && m.is_transactional());
    let record = &m.records().unwrap()[0];
    assert_eq!(record.timestamp(), 5_000, "the marker's timestamp is kept");
    assert_eq!(m.max_timestamp(), 5_000);
    assert_eq!(
        EndTransactionMarkerView::of(&m),
        Some(true),
        "still a commit marker"
    );

    // Reopened, the horizon is still there; the next clean after it removes the marker.
    let mut log = reopen(&fs, log);
    fill(&mut log);
    let end2 = log.log_end_offset();
    let stats = clean(&mut log, 10_000 + RETENTION);
    assert_eq!(
        (stats.marker_horizons_set, stats.markers_removed),
        (0, 1),
        "{stats:?}"
    );
    let expected: Vec<(i64, bool)> = (2..end2).map(|o| (o, false)).collect();
    assert_eq!(offsets(&log, end2), expected, "after two cleans");
    let log = reopen(&fs, log);
    assert_eq!(offsets(&log, end2), expected, "after a reopen");
    assert_eq!(log.first_unstable_offset(), None);
}

#[test]
fn a_marker_stays_until_its_horizon_has_passed() {
    let fs = FaultyFileSystem::new();
    let mut log = open(&fs, config(), false);
    log.append(kv(7, 0, 0, true, "k", "txn"), 1).unwrap(); // 0
    marker(&mut log, 7, 0, true, false); // 1
    log.append(kv(7, 0, 1, false, "k", "new"), 1).unwrap(); // 2
    fill(&mut log);
    clean(&mut log, 10_000);
    // A clean before the horizon keeps it, horizon unchanged.
    fill(&mut log);
    let stats = clean(&mut log, 10_000 + RETENTION - 1);
    assert_eq!(
        (stats.marker_horizons_set, stats.markers_removed),
        (0, 0),
        "{stats:?}"
    );
    assert_eq!(offsets(&log, 3), vec![(1, true), (2, false)]);
    assert_eq!(
        delete_horizon_of(&batch_at(&log, 1)),
        Some(10_000 + RETENTION)
    );
    fill(&mut log);
    let stats = clean(&mut log, 10_000 + RETENTION);
    assert_eq!(stats.markers_removed, 1, "{stats:?}");
    assert_eq!(offsets(&log, 3), vec![(2, false)]);
}

#[test]
fn an_aborted_transactions_marker_goes_after_its_records_and_the_horizon() {
    let fs = FaultyFileSystem::new();
    let mut log = open(&fs, config(), false);
    assert_eq!(plain(&mut log, "k"), 0);
    log.append(kv(8, 0, 0, true, "k", "aborted"), 1).unwrap(); // 1
    assert_eq!(marker(&mut log, 8, 0, false, false), 2);
    // The producer goes on, so the aborted batch is not its newest.
    assert_eq!(
        log.append(kv(8, 0, 1, false, "y", "after"), 1)
            .unwrap()
            .base_offset,
        3
    );
    fill(&mut log);
    let end = log.log_end_offset();
    assert_eq!(
        log.collect_aborted_transactions(0, i64::MAX),
        vec![aborted(8, 1, 2, 3)]
    );

    let stats = clean(&mut log, 10_000);
    assert_eq!(stats.records_aborted_removed, 1, "{stats:?}");
    assert_eq!(
        (stats.marker_horizons_set, stats.markers_removed),
        (1, 0),
        "{stats:?}"
    );
    let mut expected = vec![(0, false), (2, true)];
    expected.extend((3..end).map(|o| (o, false)));
    assert_eq!(offsets(&log, end), expected, "after one clean");
    // No aborted record is left: the index entry goes with them, the marker waits.
    assert_eq!(log.collect_aborted_transactions(0, i64::MAX), vec![]);
    let mut log = reopen(&fs, log);
    assert_eq!(offsets(&log, end), expected, "after a reopen");
    assert_eq!(log.collect_aborted_transactions(0, i64::MAX), vec![]);
    assert_eq!(log.first_unstable_offset(), None);

    fill(&mut log);
    let end2 = log.log_end_offset();
    let stats = clean(&mut log, 10_000 + RETENTION);
    assert_eq!(stats.markers_removed, 1, "{stats:?}");
    let mut expected = vec![(0, false)];
    expected.extend((3..end2).map(|o| (o, false)));
    assert_eq!(offsets(&log, end2), expected, "after two cleans");
    let log = reopen(&fs, log);
    assert_eq!(offsets(&log, end2), expected, "after a reopen");
    assert_eq!(log.collect_aborted_transactions(0, i64::MAX), vec![]);
    assert_eq!(log.first_unstable_offset(), None);
    // The committed value was never superseded by the aborted one.
    assert_eq!(
        batch_at(&log, 0).records().unwrap()[0].value.as_deref(),
        Some(&b"v"[..])
    );
}

#[test]
fn markers_of_transactions_with_batches_left_stay() {
    let fs = FaultyFileSystem::new();
    let mut log = open(&fs, config(), false);
    // Producer 7: a committed transaction whose record is still the latest of its key.
    log.append(kv(7, 0, 0, true, "a", "1"), 1).unwrap(); // 0
    marker(&mut log, 7, 0, true, false); // 1
    log.append(kv(7, 0, 1, false, "b", "1"), 1).unwrap(); // 2
                                                          // Producer 9: an aborted transaction whose batch is the producer's newest, kept empty
                                                          // so its sequence survives; the marker and the index entry stay with it.
    log.append(kv(9, 0, 0, true, "c", "aborted"), 1).unwrap(); // 3
    marker(&mut log, 9, 0, false, false); // 4
                                          // Producer 10 (transaction version 2): its record is superseded, but its marker, with
                                          // the bumped epoch, is the producer's last entry and keeps its epoch.
    log.append(kv(10, 0, 0, true, "d", "txn"), 1).unwrap(); // 5
    marker(&mut log, 10, 1, true, true); // 6
    plain(&mut log, "d"); // 7
    fill(&mut log);
    let end = log.log_end_offset();
    let expected_aborts = vec![aborted(9, 3, 4, 5)];
    assert_eq!(
        log.collect_aborted_transactions(0, i64::MAX),
        expected_aborts
    );

    let stats = clean(&mut log, 10_000);
    assert_eq!(
        (stats.marker_horizons_set, stats.markers_removed),
        (1, 0),
        "{stats:?}"
    );
    let mut expected = vec![
        (0, false),
        (1, true),
        (2, false),
        (3, false),
        (4, true),
        (6, true),
    ];
    expected.extend((7..end).map(|o| (o, false)));
    assert_eq!(offsets(&log, end), expected, "after one clean");
    assert_eq!(batch_at(&log, 3).records_count(), 0);
    assert_eq!(delete_horizon_of(&batch_at(&log, 1)), None);
    assert_eq!(delete_horizon_of(&batch_at(&log, 4)), None);
    assert_eq!(
        delete_horizon_of(&batch_at(&log, 6)),
        Some(10_000 + RETENTION)
    );
    assert_eq!(
        log.collect_aborted_transactions(0, i64::MAX),
        expected_aborts
    );

    let mut log = reopen(&fs, log);
    fill(&mut log);
    let end2 = log.log_end_offset();
    let stats = clean(&mut log, 1_000_000);
    assert_eq!(
        (stats.marker_horizons_set, stats.markers_removed),
        (0, 0),
        "{stats:?}"
    );
    let mut expected = expected[..6].to_vec();
    expected.extend((7..end2).map(|o| (o, false)));
    assert_eq!(offsets(&log, end2), expected, "after two cleans");
    let log = reopen(&fs, log);
    assert_eq!(offsets(&log, end2), expected, "after a reopen");
    assert_eq!(
        log.collect_aborted_transactions(0, i64::MAX),
        expected_aborts
    );
    assert_eq!(log.first_unstable_offset(), None);
}

#[test]
fn no_marker_at_or_past_the_first_unstable_offset_is_touched() {
    let fs = FaultyFileSystem::new();
    let mut log = open(&fs, config(), false);
    // Producer 7's transaction (version 2) is superseded below the first unstable
    // offset, but its marker comes after producer 5's open transaction.
    log.append(kv(7, 0, 0, true, "k", "txn"), 1).unwrap(); // 0
    plain(&mut log, "k"); // 1
    log.append(kv(5, 0, 0, true, "o", "open"), 1).unwrap(); // 2: never decided
    marker(&mut log, 7, 1, true, true); // 3
                                        // Producer 7 writes on, so the marker is not its last entry.
    log.append(kv(7, 1, 0, false, "z", "1"), 1).unwrap(); // 4
    fill(&mut log);
    assert_eq!(log.first_unstable_offset(), Some(2));
    for now in [10_000, 1_000_000] {
        let stats = clean(&mut log, now);
        assert!(stats.end_offset <= 2, "{stats:?}");
        assert_eq!(
            (stats.marker_horizons_set, stats.markers_removed),
            (0, 0),
            "{stats:?}"
        );
        assert_eq!(
            offsets(&log, 5),
            vec![(1, false), (2, false), (3, true), (4, false)]
        );
        assert_eq!(delete_horizon_of(&batch_at(&log, 3)), None);
        fill(&mut log);
    }
}

#[test]
fn repeated_transactions_on_the_same_key_stay_bounded() {
    // As TxnOffsetCommit does on `__consumer_offsets`: one producer (transaction version
    // 2, an epoch per transaction) commits the same key again and again.
    let fs = FaultyFileSystem::new();
    let mut log = open(&fs, config(), false);
    for i in 0..30i16 {
        let value = format!("t{i}");
        let at = log.append(kv(7, i, 0, true, "k", &value), 1).unwrap();
        assert_eq!(at.base_offset, 2 * i64::from(i));
        assert_eq!(marker(&mut log, 7, i + 1, true, true), 2 * i64::from(i) + 1);
    }
    fill(&mut log);
    let end = log.log_end_offset();
    let stats = clean(&mut log, 10_000);
    assert_eq!(
        (stats.marker_horizons_set, stats.markers_removed),
        (29, 0),
        "{stats:?}"
    );
    let mut expected: Vec<(i64, bool)> = (0..29).map(|i| (2 * i + 1, true)).collect();
    expected.extend([(58, false), (59, true)]);
    expected.extend((60..end).map(|o| (o, false)));
    assert_eq!(offsets(&log, end), expected, "after one clean");

    fill(&mut log);
    let end2 = log.log_end_offset();
    let stats = clean(&mut log, 10_000 + RETENTION);
    assert_eq!(
        (stats.marker_horizons_set, stats.markers_removed),
        (0, 29),
        "{stats:?}"
    );
    let mut expected = vec![(58, false), (59, true)];
    expected.extend((60..end2).map(|o| (o, false)));
    assert_eq!(offsets(&log, end2), expected, "after two cleans");
    assert_eq!(delete_horizon_of(&batch_at(&log, 59)), None);
    // A reopen with recovery (indexes and producer state rebuilt) gives the same log,
    // nothing unstable, and the producer's epoch back.
    drop(log);
    let mut log = open(&fs, config(), true);
    assert_eq!(offsets(&log, end2), expected, "after a recovering reopen");
    assert_eq!(log.first_unstable_offset(), None);
    assert!(log.append(kv(7, 29, 0, true, "k", "stale"), 1).is_err());
    log.append(kv(7, 30, 0, true, "k", "next"), 1).unwrap();
}

/// Whether a batch is a commit (`Some(true)`) or abort marker.
struct EndTransactionMarkerView;

impl EndTransactionMarkerView {
    fn of(batch: &RecordBatch) -> Option<bool> {
        strom_records::EndTransactionMarker::of_batch(batch)
            .unwrap()
            .map(|m| m.control_type() == strom_records::ControlRecordType::Commit)
    }
}

mod model {
    use std::collections::{BTreeMap, HashMap};

    use proptest::prelude::*;

    use super::*;

    #[derive(Debug, Clone)]
    pub enum Op {
        /// A transactional record of producer `.0` with key `.1`.
        Txn(i64, u8),
        /// Producer `.0` ends its transaction: commit?, bumped epoch (version 2)?
        End(i64, bool, bool),
        Plain(u8),
        /// A clean, the clock moved on by `.0`.
        Clean(i64),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (0..3i64, 0..3u8).prop_map(|(p, k)| Op::Txn(p, k)),
            2 => (0..3i64, any::<bool>(), any::<bool>()).prop_map(|(p, c, b)| Op::End(p, c, b)),
            3 => (0..3u8).prop_map(Op::Plain),
            1 => (0..2_000i64).prop_map(Op::Clean),
        ]
    }

    #[derive(Default)]
    struct Producer {
        epoch: i16,
        seq: i32,
        /// (offset, key, value) of the open transaction.
        open: Option<Vec<(i64, String, String)>>,
    }

    /// What the log holds, walked batch by batch.
    struct Walk {
        /// key -> value of the latest committed (or plain) record.
        committed: BTreeMap<String, String>,
        /// Markers whose transaction has no batch left.
        empty_markers: usize,
    }

    /// Checks the structural invariants and returns what read_committed sees.
    fn walk(log: &Log, open: &HashMap<i64, i64>) -> Walk {
        let all = batches(log);
        let aborts: Vec<i64> = log
            .collect_aborted_transactions(0, i64::MAX)
            .iter()
            .map(|t| t.last_offset)
            .collect();
        // Transactional batches seen per producer since its last marker.
        let mut pending: HashMap<i64, Vec<&RecordBatch>> = HashMap::new();
        let mut latest: BTreeMap<String, (i64, String)> = BTreeMap::new();
        let mut empty_markers = 0;
        let mut markers = Vec::new();
        let take = |latest: &mut BTreeMap<String, (i64, String)>, b: &RecordBatch| {
            for r in b.records().unwrap() {
                let offset = r.offset();
                let key = String::from_utf8(r.key.unwrap().to_vec()).unwrap();
                let value = String::from_utf8(r.value.unwrap().to_vec()).unwrap();
                if key.starts_with('u') {
                    continue; // `fill`'s records
                }
                let newer = latest.get(&key).is_none_or(|(o, _)| *o < offset);
                if newer {
                    latest.insert(key, (offset, value));
                }
            }
        };
        for b in &all {
            if b.is_control() {
                let commit = EndTransactionMarkerView::of(b).unwrap();
                markers.push(b.base_offset());
                let txn = pending.remove(&b.producer_id()).unwrap_or_default();
                if txn.is_empty() {
                    empty_markers += 1;
                } else if !commit {
                    assert!(
                        aborts.contains(&b.base_offset()),
                        "abort at {} with batches left has no index entry",
                        b.base_offset()
                    );
                }
                if commit {
                    for t in txn {
                        take(&mut latest, t);
                    }
                }
            } else if b.is_transactional() {
                pending.entry(b.producer_id()).or_default().push(b);
            } else {
                take(&mut latest, b);
            }
        }
        for (pid, txn) in pending {
            for b in txn {
                let first = open.get(&pid).copied();
                assert!(
                    first.is_some_and(|f| b.base_offset() >= f),
                    "a batch of producer {pid} at {} has lost its marker",
                    b.base_offset()
                );
            }
        }
        for a in aborts {
            assert!(
                markers.contains(&a),
                "index entry of a removed marker at {a}"
            );
        }
        Walk {
            committed: latest.into_iter().map(|(k, (_, v))| (k, v)).collect(),
            empty_markers,
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        /// Any history of transactions, plain records and cleans: no transactional batch
        /// loses its marker, every abort with batches left is indexed, read_committed sees
        /// the model's latest committed value per key, and once every producer has moved
        /// on, cleans past the horizon leave at most one empty-transaction marker per
        /// producer (its last entry).
        #[test]
        fn markers_follow_the_model(ops in prop::collection::vec(op(), 1..60)) {
            let fs = FaultyFileSystem::new();
            let mut log = open(&fs, config(), false);
            let mut producers: HashMap<i64, Producer> = HashMap::new();
            let mut model: BTreeMap<String, (i64, String)> = BTreeMap::new();
            let mut now = 10_000;
            let mut n = 0;
            let commit_into = |model: &mut BTreeMap<String, (i64, String)>, o: i64, k: String, v: String| {
                if model.get(&k).is_none_or(|(at, _)| *at < o) {
                    model.insert(k, (o, v));
                }
            };
            let open_txns = |producers: &HashMap<i64, Producer>| -> HashMap<i64, i64> {
                producers
                    .iter()
                    .filter_map(|(p, s)| s.open.as_ref().map(|t| (*p, t[0].0)))
                    .collect()
            };
            for op in ops {
                n += 1;
                match op {
                    Op::Txn(pid, k) => {
                        let p = producers.entry(pid).or_default();
                        let key = format!("k{k}");
                        let value = format!("v{n}");
                        let at = log
                            .append(kv(pid, p.epoch, p.seq, true, &key, &value), 1)
                            .unwrap()
                            .base_offset;
                        p.seq += 1;
                        p.open.get_or_insert_with(Vec::new).push((at, key, value));
                    }
                    Op::End(pid, commit, bumped) => {
                        let p = producers.entry(pid).or_default();
                        let Some(txn) = p.open.take() else { continue };
                        let epoch = if bumped { p.epoch + 1 } else { p.epoch };
                        marker(&mut log, pid, epoch, commit, bumped);
                        if bumped {
                            (p.epoch, p.seq) = (epoch, 0);
                        }
                        if commit {
                            for (o, k, v) in txn {
                                commit_into(&mut model, o, k, v);
                            }
                        }
                    }
                    Op::Plain(k) => {
                        let key = format!("k{k}");
                        let value = format!("v{n}");
                        let at = log.append(kv(-1, -1, -1, false, &key, &value), 1).unwrap().base_offset;
                        commit_into(&mut model, at, key, value);
                    }
                    Op::Clean(advance) => {
                        now += advance;
                        clean(&mut log, now);
                        let seen = walk(&log, &open_txns(&producers));
                        let expected: BTreeMap<String, String> =
                            model.iter().map(|(k, (_, v))| (k.clone(), v.clone())).collect();
                        prop_assert_eq!(seen.committed, expected);
                    }
                }
            }
            // Every producer ends its transaction and writes once more, idempotently, so
            // only a version-2 producer's last marker is its last entry.
            for (pid, p) in producers.iter_mut() {
                if let Some(txn) = p.open.take() {
                    marker(&mut log, *pid, p.epoch, true, false);
                    for (o, k, v) in txn {
                        commit_into(&mut model, o, k, v);
                    }
                }
            }
            for _ in 0..3 {
                fill(&mut log);
                now += 2 * RETENTION;
                clean(&mut log, now);
            }
            let expected: BTreeMap<String, String> =
                model.iter().map(|(k, (_, v))| (k.clone(), v.clone())).collect();
            let seen = walk(&log, &HashMap::new());
            prop_assert_eq!(&seen.committed, &expected);
            prop_assert!(seen.empty_markers <= producers.len(), "{} empty-transaction markers", seen.empty_markers);
            let log = reopen(&fs, log);
            prop_assert_eq!(log.first_unstable_offset(), None);
            prop_assert_eq!(walk(&log, &HashMap::new()).committed, expected);
        }
    }
}
