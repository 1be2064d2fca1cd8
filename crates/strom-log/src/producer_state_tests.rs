//! Producer expiration and producer state snapshots through [`Log`]: ids expire on the
//! injected clock, snapshots follow segments, and damaged snapshots are skipped.

use bytes::Bytes;
use strom_records::{BatchBuilder, Compression, TimestampType};

use crate::test_support::*;
use crate::*;

const DAY: i64 = 24 * 60 * 60 * 1000;
const T0: i64 = 1_700_000_000_000;

/// One record of producer `pid` at `epoch` and sequence `seq`, stamped `ts`.
fn idem_at(pid: i64, epoch: i16, seq: i32, ts: i64) -> Bytes {
    let mut b =
        BatchBuilder::new(Compression::None, TimestampType::CreateTime).producer(pid, epoch, seq);
    b.append(ts, None, Some(format!("p{pid}-{seq}").as_bytes()), &[]);
    b.build(0)
}

fn snapshot_offsets(fs: &FaultyFileSystem) -> Vec<i64> {
    let mut offsets: Vec<i64> = fs
        .file_paths()
        .iter()
        .filter_map(|p| {
            let name = p.file_name()?.to_str()?;
            name.strip_suffix(".snapshot")?.parse().ok()
        })
        .collect();
    offsets.sort_unstable();
    offsets
}

fn small_segments() -> LogConfig {
    LogConfig {
        segment_bytes: 300,
        ..LogConfig::default()
    }
}

#[test]
fn producers_expire_after_producer_id_expiration_ms_of_no_append() {
    let fs = FaultyFileSystem::new();
    let mut log = open(&fs, LogConfig::default(), false);
    log.append(idem_at(1, 0, 0, T0), T0).unwrap();
    log.append(idem_at(2, 0, 0, T0), T0).unwrap();
    log.append(idem_at(2, 0, 1, T0 + DAY / 2), T0 + DAY / 2)
        .unwrap();
    assert_eq!(log.remove_expired_producers(T0 + DAY - 1), 0);
    assert_eq!(log.remove_expired_producers(T0 + DAY), 1, "producer 1");
    assert_eq!(log.producer_count(), 1);
    // Forgotten, so its retry is written again and any sequence is accepted (KIP-360).
    let retry = log.append(idem_at(1, 0, 0, T0 + DAY), T0 + DAY).unwrap();
    assert!(!retry.duplicate);
    assert_eq!(
        log.remove_expired_producers(T0 + DAY + DAY / 2),
        1,
        "producer 2"
    );
    assert_eq!(log.producer_count(), 1);

    let config = LogConfig {
        producer_id_expiration_ms: 10,
        ..LogConfig::default()
    };
    log.update_config(config);
    assert_eq!(log.remove_expired_producers(T0 + DAY + 10), 1);
    assert_eq!(log.producer_count(), 0);
}

#[test]
fn expired_producers_are_not_loaded_from_a_snapshot() {
    let fs = FaultyFileSystem::new();
    let mut log = open(&fs, small_segments(), false);
    log.append(idem_at(1, 0, 0, T0), T0).unwrap();
    while log.segment_count() < 3 {
        log.append(batch(Compression::None, 1, T0 + DAY, 0), T0 + DAY)
            .unwrap();
    }
    log.close().unwrap();
    let log = Log::open(fs.shared(), dir(), small_segments(), false, T0 + DAY - 1).unwrap();
    assert_eq!(log.producer_count(), 1);
    drop(log);
    let log = Log::open(fs.shared(), dir(), small_segments(), false, T0 + DAY).unwrap();
    assert_eq!(log.producer_count(), 0);
}

#[test]
fn snapshots_are_written_at_each_roll_and_at_close_and_go_with_their_segments() {
    let fs = FaultyFileSystem::new();
    let config = LogConfig {
        retention_bytes: Some(1),
        ..small_segments()
    };
    let mut log = open(&fs, config.clone(), false);
    let mut seq = 0;
    while log.segment_count() < 4 {
        log.append(idem_at(7, 0, seq, T0), T0).unwrap();
        seq += 1;
    }
    let bases = log.segment_base_offsets();
    assert_eq!(snapshot_offsets(&fs), bases[1..], "one per roll");
    let snapshot = fs.contents(&seg_path(bases[1], ".snapshot")).unwrap();
    assert_eq!(&snapshot[..2], &[0, 1], "Kafka's version 1");
    assert_eq!(snapshot.len(), 10 + 46, "one producer");

    // Retention deletes the three inactive segments and their snapshots.
    let deleted = log.delete_old_segments(log.log_end_offset(), T0).unwrap();
    assert_eq!(deleted, 3);
    assert_eq!(snapshot_offsets(&fs), [bases[3]]);
    let end = log.log_end_offset();
    log.close().unwrap();
    assert_eq!(snapshot_offsets(&fs), [bases[3], end]);
    // The log start offset is the active base now: its snapshot goes at open, and the
    // clean-shutdown one is loaded.
    let mut log = open(&fs, config, false);
    assert_eq!(snapshot_offsets(&fs), [end]);
    assert!(
        log.append(idem_at(7, 0, seq - 1, T0), T0)
            .unwrap()
            .duplicate
    );
}

#[test]
fn a_damaged_snapshot_is_skipped_for_an_older_one_with_a_warning_never_a_panic() {
    let fs = FaultyFileSystem::new();
    let config = small_segments();
    let mut log = open(&fs, config.clone(), false);
    log.append(idem_at(1, 0, 0, T0), T0).unwrap();
    let mut seq = 0;
    while log.segment_count() < 4 {
        log.append(idem_at(2, 0, seq, T0), T0).unwrap();
        seq += 1;
    }
    log.close().unwrap();
    // The newest snapshot (the clean-shutdown one) is damaged; the older ones from the
    // rolls still carry producer 1.
    let newest = seg_path(*snapshot_offsets(&fs).last().unwrap(), ".snapshot");
    fs.corrupt(&newest, 12, &[0xde, 0xad]).unwrap();
    let mut log = open(&fs, config.clone(), false);
    assert!(
        fs.contents(&newest).is_none(),
        "the damaged snapshot is removed"
    );
    assert!(log.append(idem_at(1, 0, 0, T0), T0).unwrap().duplicate);
    assert!(
        log.append(idem_at(2, 0, seq - 1, T0), T0)
            .unwrap()
            .duplicate
    );
    drop(log);

    // Every snapshot damaged in every way: the log is replayed instead.
    for offset in snapshot_offsets(&fs) {
        let path = seg_path(offset, ".snapshot");
        let len = fs.contents(&path).unwrap().len();
        fs.put_file(&path, &vec![0xff; len / 2]).unwrap();
    }
    let mut log = open(&fs, config, false);
    assert!(log.append(idem_at(1, 0, 0, T0), T0).unwrap().duplicate);
    assert_eq!(log.producer_count(), 2);
}

#[test]
fn snapshots_past_the_log_end_are_removed_after_a_crash_cut_the_log() {
    let fs = FaultyFileSystem::new();
    let config = small_segments();
    let mut log = open(&fs, config.clone(), false);
    let mut seq = 0;
    while log.segment_count() < 3 {
        log.append(idem_at(7, 0, seq, T0), T0).unwrap();
        seq += 1;
    }
    let end = log.log_end_offset();
    log.close().unwrap();
    // A stray snapshot beyond the log end (as if the log had been longer).
    fs.put_file(&seg_path(end + 100, ".snapshot"), b"x")
        .unwrap();
    fs.put_file(&seg_path(end + 1, ".snapshot.deleted"), b"x")
        .unwrap();
    let log = open(&fs, config, true);
    let offsets = snapshot_offsets(&fs);
    assert!(offsets.iter().all(|o| *o <= end), "{offsets:?}");
    assert!(fs
        .contents(&seg_path(end + 1, ".snapshot.deleted"))
        .is_none());
    assert_eq!(log.producer_count(), 1);
}

#[test]
fn a_log_never_written_closes_without_a_snapshot() {
    let fs = FaultyFileSystem::new();
    let log = open(&fs, LogConfig::default(), false);
    let syncs = fs.sync_count();
    log.close().unwrap();
    assert!(snapshot_offsets(&fs).is_empty());
    assert_eq!(
        fs.sync_count(),
        syncs,
        "an idle empty log costs no fsync at close"
    );
    // Once written, a close snapshots at the log end.
    let mut log = open(&fs, LogConfig::default(), false);
    log.append(idem_at(7, 0, 0, 1), 1).unwrap();
    log.close().unwrap();
    assert_eq!(snapshot_offsets(&fs), vec![1]);
}
