//! Log compaction through the log: what stays, what goes, what is never touched.

use std::collections::BTreeMap;

use bytes::Bytes;
use strom_records::{BatchBuilder, Compression, RecordBatch, TimestampType};

use crate::test_support::{open, seg_path};
use crate::{FaultyFileSystem, Log, LogConfig};

const BIG_MAP: usize = 1 << 20;

pub(crate) fn config() -> LogConfig {
    LogConfig {
        segment_bytes: 400,
        index_interval_bytes: 100,
        retention_ms: None,
        compact: true,
        delete_retention_ms: 1_000,
        min_cleanable_dirty_ratio: 0.0,
        ..LogConfig::default()
    }
}

/// (offset, key, value, timestamp) of every record, checking offsets strictly increase.
pub(crate) type Rec = (i64, Option<String>, Option<String>, i64);

fn text(b: Option<Bytes>) -> Option<String> {
    b.map(|b| String::from_utf8(b.to_vec()).unwrap())
}

pub(crate) fn records(log: &Log) -> Vec<Rec> {
    batches(log)
        .into_iter()
        .flat_map(|b| b.records().unwrap())
        .map(|r| {
            (
                r.offset(),
                text(r.key.clone()),
                text(r.value.clone()),
                r.timestamp(),
            )
        })
        .collect()
}

pub(crate) fn batches(log: &Log) -> Vec<RecordBatch> {
    let mut out: Vec<RecordBatch> = Vec::new();
    let mut offset = log.log_start_offset();
    let mut last = -1;
    while offset < log.log_end_offset() {
        let read = log.read(offset, 1 << 20, true, i64::MAX).unwrap();
        if read.records.is_empty() {
            // Only empty trailing space in a segment: move to the next segment.
            let next = log
                .segment_base_offsets()
                .into_iter()
                .find(|b| *b > offset)
                .expect("a read found nothing before the log end");
            offset = next;
            continue;
        }
        for batch in RecordBatch::iter(read.records.clone()) {
            let batch = batch.unwrap();
            assert!(batch.is_valid_crc());
            strom_records::validate_stored_batch(batch.as_bytes()).unwrap();
            for r in batch.records().unwrap() {
                assert!(
                    r.offset() > last,
                    "offsets must increase: {} after {last}",
                    r.offset()
                );
                last = r.offset();
            }
            out.push(batch);
        }
        offset = read.next_fetch_offset;
    }
    out
}

pub(crate) fn kv(codec: Compression, records: &[(&str, Option<&str>)], ts: i64) -> Bytes {
    let mut b = BatchBuilder::new(codec, TimestampType::CreateTime);
    for (k, v) in records {
        b.append(ts, Some(k.as_bytes()), v.map(str::as_bytes), &[]);
    }
    b.build(0)
}

/// `n` single-record batches, key `k<i % keys>`, value `v<i>`, timestamp `i`.
fn populated(fs: &FaultyFileSystem, n: i64, keys: i64) -> Log {
    let mut log = open(fs, config(), false);
    for i in 0..n {
        let key = format!("k{}", i % keys);
        let value = format!("v{i}");
        log.append(kv(Compression::None, &[(&key, Some(&value))], i), i)
            .unwrap();
    }
    log
}

/// What a full compaction below `boundary` leaves of `original`: below it the latest
/// record per key (tombstones kept), from it on everything.
fn compacted(original: &[Rec], boundary: i64) -> Vec<Rec> {
    let mut latest: BTreeMap<&Option<String>, i64> = BTreeMap::new();
    for r in original.iter().filter(|r| r.0 < boundary) {
        latest.insert(&r.1, r.0);
    }
    original
        .iter()
        .filter(|r| r.0 >= boundary || latest[&r.1] == r.0)
        .cloned()
        .collect()
}

fn clean(log: &mut Log, now: i64) -> crate::CleanerStats {
    log.clean(i64::MAX, now, BIG_MAP, &mut |_| {}).unwrap()
}

#[test]
fn compaction_keeps_exactly_the_latest_value_per_key_at_unchanged_offsets() {
    let fs = FaultyFileSystem::new();
    let mut log = populated(&fs, 80, 7);
    let original = records(&log);
    let segments_before = log.segment_count();
    assert!(segments_before > 5);
    let active_base = *log.segment_base_offsets().last().unwrap();
    let mut io_bytes = 0;
    let stats = log
        .clean(i64::MAX, 1_000, BIG_MAP, &mut |n| io_bytes += n)
        .unwrap();
    assert_eq!(records(&log), compacted(&original, active_base));
    assert_eq!(stats.end_offset, active_base);
    assert_eq!(log.cleaner_checkpoint(), active_base);
    // Groups are sized by their input, as Kafka's: full segments stay one each.
    assert!(log.segment_count() <= segments_before);
    assert_eq!(log.log_end_offset(), 80);
    assert_eq!(log.log_start_offset(), 0);
    assert_eq!(stats.records_read, active_base as u64);
    assert_eq!(stats.records_kept, 7);
    assert_eq!(stats.records_removed(), active_base as u64 - 7);
    assert_eq!(io_bytes as u64, stats.bytes_read + stats.bytes_written);
    assert!(stats.bytes_written < stats.bytes_read);
    // Nothing is dirty now; a second clean changes nothing.
    let status = log.cleaning_status(i64::MAX, 1_000).unwrap();
    assert_eq!(status.dirty_bytes, 0);
    assert!(!status.due);
    let again = clean(&mut log, 1_000);
    assert_eq!(again.segments_cleaned, 0);
    assert_eq!(records(&log), compacted(&original, active_base));
    // Appends go on after the active segment as before; the next clean merges the
    // small compacted segments.
    for i in 80..160 {
        log.append(
            kv(
                Compression::None,
                &[(&format!("k{}", i % 7), Some("new"))],
                i,
            ),
            i,
        )
        .unwrap();
    }
    let before_merge = log.segment_count();
    let original = records(&log);
    let active_base = *log.segment_base_offsets().last().unwrap();
    clean(&mut log, 1_000);
    assert_eq!(records(&log), compacted(&original, active_base));
    assert!(log.segment_count() < before_merge);
}

#[test]
fn a_compacted_log_reopens_with_or_without_recovery_to_the_same_records() {
    let fs = FaultyFileSystem::new();
    let mut log = populated(&fs, 60, 5);
    clean(&mut log, 1_000);
    let after = records(&log);
    let bases = log.segment_base_offsets();
    log.close().unwrap();
    for recover in [false, true] {
        let log = open(&fs, config(), recover);
        assert_eq!(records(&log), after, "recover={recover}");
        assert_eq!(log.segment_base_offsets(), bases);
        assert_eq!(log.log_end_offset(), 60);
    }
    // Recovering every segment (all indexes lost) also keeps them: compacted batches
    // with gaps are valid stored batches.
    for base in &bases {
        fs.truncate(&seg_path(*base, ".index"), 3).unwrap();
    }
    let log = open(&fs, config(), true);
    assert_eq!(records(&log), after);
    let leftovers: Vec<_> = fs
        .file_paths()
        .into_iter()
        .filter(|p| {
            let n = p.to_string_lossy();
            n.ends_with(".cleaned") || n.ends_with(".swap") || n.ends_with(".deleted")
        })
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn the_active_segment_is_never_touched() {
    let fs = FaultyFileSystem::new();
    let mut log = populated(&fs, 40, 3);
    let active = *log.segment_base_offsets().last().unwrap();
    let before = fs.contents(&seg_path(active, ".log")).unwrap();
    assert!(!before.is_empty());
    clean(&mut log, 1_000);
    assert_eq!(fs.contents(&seg_path(active, ".log")).unwrap(), before);
    assert_eq!(*log.segment_base_offsets().last().unwrap(), active);
    // The active segment still holds duplicates of keys cleaned below it.
    let in_active: Vec<_> = records(&log)
        .into_iter()
        .filter(|r| r.0 >= active)
        .collect();
    assert!(in_active.len() > 1);
}

#[test]
fn nothing_at_or_above_the_high_watermark_is_cleaned() {
    let fs = FaultyFileSystem::new();
    let mut log = populated(&fs, 60, 4);
    let original = records(&log);
    let stats = log.clean(20, 1_000, BIG_MAP, &mut |_| {}).unwrap();
    assert_eq!(stats.end_offset, 20);
    assert_eq!(records(&log), compacted(&original, 20));
}

#[test]
fn tombstones_disappear_only_after_delete_retention_ms() {
    let fs = FaultyFileSystem::new();
    let mut log = open(&fs, config(), false);
    log.append(kv(Compression::None, &[("gone", Some("old"))], 1_000), 0)
        .unwrap();
    log.append(kv(Compression::None, &[("gone", None)], 1_000), 0)
        .unwrap();
    let tombstone_offset = 1;
    let has_tombstone = |log: &Log| {
        records(log)
            .iter()
            .any(|r| r.0 == tombstone_offset && r.2.is_none())
    };
    let mut ts = 1_000;
    let mut removed_at_horizon = None;
    for round in 0..40 {
        // Filler with advancing time, each round a few segments' worth.
        for i in 0..6 {
            ts += 100;
            let key = format!("f{}", i % 3);
            log.append(kv(Compression::None, &[(&key, Some("x"))], ts), 0)
                .unwrap();
        }
        let status = log.cleaning_status(i64::MAX, ts).unwrap();
        clean(&mut log, ts);
        assert!(
            !records(&log).iter().any(|r| r.2.as_deref() == Some("old")),
            "the value the tombstone deletes goes at the first clean"
        );
        if !has_tombstone(&log) {
            removed_at_horizon = Some((round, status.delete_horizon_ms));
            break;
        }
        // Kafka's rule: never removed while no horizon reaches past its timestamp.
        assert!(round > 0 || status.delete_horizon_ms.is_none());
    }
    let (round, horizon) = removed_at_horizon.expect("the tombstone must go eventually");
    assert!(
        round >= 1,
        "a tombstone survives the clean that first compacts it"
    );
    let horizon = horizon.expect("a tombstone goes only with a delete horizon");
    // The tombstone's timestamp (1000) + delete.retention.ms (1000) <= the newest cleaned
    // data's timestamp, i.e. the horizon reached the tombstone's segment.
    assert!(horizon >= 1_000, "removed at horizon {horizon}");
}

#[test]
fn a_tombstone_is_kept_while_its_segment_is_newer_than_the_horizon() {
    let fs = FaultyFileSystem::new();
    let mut log = open(
        &fs,
        LogConfig {
            delete_retention_ms: 1_000_000,
            ..config()
        },
        false,
    );
    log.append(kv(Compression::None, &[("gone", None)], 10), 0)
        .unwrap();
    for i in 0..60 {
        log.append(
            kv(
                Compression::None,
                &[(&format!("f{}", i % 3), Some("x"))],
                10 + i,
            ),
            0,
        )
        .unwrap();
        if i % 10 == 9 {
            clean(&mut log, 0);
        }
    }
    assert!(records(&log).iter().any(|r| r.0 == 0 && r.2.is_none()));
}

#[test]
fn min_compaction_lag_protects_young_records() {
    let fs = FaultyFileSystem::new();
    let mut log = open(
        &fs,
        LogConfig {
            min_compaction_lag_ms: 10_000,
            ..config()
        },
        false,
    );
    // Old records at ts 0, young ones at ts 95_000; now is 100_000.
    for i in 0..30 {
        log.append(
            kv(
                Compression::None,
                &[(&format!("k{}", i % 3), Some("old"))],
                0,
            ),
            0,
        )
        .unwrap();
    }
    log.roll(0).unwrap();
    let young_base = log.log_end_offset();
    for i in 0..30 {
        log.append(
            kv(
                Compression::None,
                &[(&format!("k{}", i % 3), Some("young"))],
                95_000,
            ),
            0,
        )
        .unwrap();
    }
    let original = records(&log);
    let status = log.cleaning_status(i64::MAX, 100_000).unwrap();
    assert_eq!(status.first_uncleanable_offset, young_base);
    let stats = clean(&mut log, 100_000);
    assert_eq!(stats.end_offset, young_base);
    assert_eq!(records(&log), compacted(&original, young_base));
    // Once they are old enough, they are compacted too.
    log.roll(0).unwrap();
    let end = log.log_end_offset();
    clean(&mut log, 200_000);
    assert_eq!(records(&log), compacted(&original, end));
    assert_eq!(records(&log).len(), 3);
}

#[test]
fn compressed_batches_are_rewritten_with_their_own_codec() {
    for codec in [
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ] {
        let fs = FaultyFileSystem::new();
        let mut log = open(
            &fs,
            LogConfig {
                segment_bytes: 1_000,
                ..config()
            },
            false,
        );
        for i in 0..40 {
            let values: Vec<String> = (0..4).map(|j| format!("v{i}-{j}")).collect();
            let recs: Vec<(String, Option<&str>)> = (0..4)
                .map(|j| {
                    (
                        format!("k{}", (i * 4 + j) % 9),
                        Some(values[j as usize].as_str()),
                    )
                })
                .collect();
            let recs: Vec<(&str, Option<&str>)> =
                recs.iter().map(|(k, v)| (k.as_str(), *v)).collect();
            log.append(kv(codec, &recs, i), 0).unwrap();
        }
        let original = records(&log);
        let active = *log.segment_base_offsets().last().unwrap();
        clean(&mut log, 1_000);
        assert_eq!(records(&log), compacted(&original, active), "{codec}");
        let out = batches(&log);
        assert!(
            out.iter().any(|b| b.records_count() < 4),
            "{codec}: nothing was filtered"
        );
        for b in out {
            assert_eq!(b.compression().unwrap(), codec);
        }
    }
}

#[test]
fn a_full_offset_map_cleans_part_and_a_second_pass_completes() {
    let fs = FaultyFileSystem::new();
    let mut log = populated(&fs, 120, 30);
    let original = records(&log);
    let active = *log.segment_base_offsets().last().unwrap();
    // Room for ten 2- or 3-byte keys.
    let small = 10 * (crate::offset_map::ENTRY_OVERHEAD_BYTES + 3);
    let first = log.clean(i64::MAX, 1_000, small, &mut |_| {}).unwrap();
    assert!(first.offset_map_full);
    assert!(first.end_offset > 0 && first.end_offset < active);
    assert_eq!(
        records(&log),
        compacted_partially(&original, first.end_offset, active)
    );
    let mut passes = 1;
    while log.cleaner_checkpoint() < active {
        let stats = log.clean(i64::MAX, 1_000, small, &mut |_| {}).unwrap();
        assert!(stats.end_offset > stats.first_dirty_offset, "no progress");
        passes += 1;
        assert!(passes < 50);
    }
    assert!(passes >= 2);
    assert_eq!(records(&log), compacted(&original, active));
}

/// A clean whose map covered `[0, end)` only: records from `end` on all stay.
fn compacted_partially(original: &[Rec], end: i64, _active: i64) -> Vec<Rec> {
    compacted(original, end)
}

#[test]
fn offset_for_timestamp_is_still_right_after_compaction() {
    let fs = FaultyFileSystem::new();
    let mut log = populated(&fs, 80, 6);
    clean(&mut log, 1_000);
    let remaining = records(&log);
    for t in [-1, 0, 1, 5, 37, 50, 73, 79, 80, 1_000] {
        let expected = remaining.iter().find(|r| r.3 >= t).map(|r| (r.3, r.0));
        let found = log
            .offset_for_timestamp(t)
            .unwrap()
            .map(|f| (f.timestamp, f.offset));
        assert_eq!(found, expected, "timestamp {t}");
    }
}

#[test]
fn records_without_keys_are_removed() {
    let fs = FaultyFileSystem::new();
    // Keyless records get in only while the topic is not compacted (appends to a
    // compacted log refuse them); the policy changes afterwards.
    let mut log = open(
        &fs,
        LogConfig {
            compact: false,
            ..config()
        },
        false,
    );
    for i in 0..20 {
        let mut b = BatchBuilder::new(Compression::None, TimestampType::CreateTime);
        b.append(i, None, Some(b"no key"), &[]);
        b.append(i, Some(format!("k{i}").as_bytes()), Some(b"keyed"), &[]);
        log.append(b.build(0), 0).unwrap();
    }
    log.update_config(config());
    let active = *log.segment_base_offsets().last().unwrap();
    let stats = clean(&mut log, 1_000);
    assert_eq!(stats.records_without_key, active as u64 / 2);
    assert!(records(&log).iter().all(|r| r.0 >= active || r.1.is_some()));
}

#[test]
fn a_producers_newest_batch_stays_as_an_empty_batch() {
    let fs = FaultyFileSystem::new();
    let mut log = open(&fs, config(), false);
    // Producer 9's only batch is superseded entirely by later plain records.
    let mut b = BatchBuilder::new(Compression::None, TimestampType::CreateTime).producer(9, 0, 0);
    b.append(0, Some(b"a"), Some(b"1"), &[]);
    b.append(0, Some(b"b"), Some(b"1"), &[]);
    log.append(b.build(0), 0).unwrap();
    for i in 0..20 {
        let key = if i % 2 == 0 { "a" } else { "b" };
        log.append(kv(Compression::None, &[(key, Some("2"))], i), 0)
            .unwrap();
    }
    let stats = clean(&mut log, 1_000);
    assert_eq!(stats.empty_batches_kept, 1);
    let first = &batches(&log)[0];
    assert_eq!((first.base_offset(), first.last_offset()), (0, 1));
    assert_eq!(first.records_count(), 0);
    assert_eq!((first.producer_id(), first.base_sequence()), (9, 0));
    // The producer's next batch is still in sequence.
    let mut next =
        BatchBuilder::new(Compression::None, TimestampType::CreateTime).producer(9, 0, 2);
    next.append(0, Some(b"c"), Some(b"1"), &[]);
    assert!(!log.append(next.build(0), 0).unwrap().duplicate);
}

#[test]
fn a_corrupt_batch_fails_the_clean_and_leaves_the_log_online_and_unchanged() {
    let fs = FaultyFileSystem::new();
    let mut log = populated(&fs, 40, 4);
    let segments = log.segment_count();
    // An unknown codec id in the first batch: it cannot be decoded.
    let path = seg_path(0, ".log");
    let attributes = fs.contents(&path).unwrap()[22];
    fs.corrupt(&path, 22, &[attributes | 0x07]).unwrap();
    let err = log
        .clean(i64::MAX, 1_000, BIG_MAP, &mut |_| {})
        .unwrap_err();
    assert!(matches!(err, crate::LogError::Corrupt { .. }), "{err}");
    assert!(!log.is_offline());
    assert_eq!(log.segment_count(), segments);
    assert!(fs
        .file_paths()
        .iter()
        .all(|p| !p.to_string_lossy().ends_with(".cleaned")));
}

#[test]
fn a_compacted_log_refuses_records_without_a_key_and_writes_nothing() {
    let fs = FaultyFileSystem::new();
    let mut log = open(&fs, config(), false);
    let mut b = BatchBuilder::new(Compression::Lz4, TimestampType::CreateTime);
    b.append(0, Some(b"k"), Some(b"v"), &[]);
    b.append(0, None, Some(b"no key"), &[]);
    let err = log.append(b.build(0), 0).unwrap_err();
    let refused = err.record_errors().expect("per-record errors");
    assert_eq!(refused.record_errors.len(), 1, "{err}");
    assert_eq!(refused.record_errors[0].0, 1, "{err}");
    assert_eq!(err.error_code(), 87, "INVALID_RECORD");
    assert_eq!(log.log_end_offset(), 0);
}
