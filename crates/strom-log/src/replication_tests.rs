//! The replication side of [`Log`]: follower appends, the leader epoch cache and its
//! file, truncation, and what a crash leaves of them.

use bytes::Bytes;
use strom_records::{BatchBuilder, Compression, RecordBatch, TimestampType};

use crate::test_support::*;
use crate::*;

const EPOCH_FILE: &str = "/data/orders-0/leader-epoch-checkpoint";

/// A batch of `n` records of producer `pid` at `epoch`, starting at sequence `seq`.
fn idem(pid: i64, epoch: i16, seq: i32, n: usize, tag: u32) -> Bytes {
    let mut b =
        BatchBuilder::new(Compression::None, TimestampType::CreateTime).producer(pid, epoch, seq);
    for i in 0..n {
        b.append(
            1_000 + i as i64,
            None,
            Some(format!("p{pid}-{tag}-{i}").as_bytes()),
            &[],
        );
    }
    b.build(0)
}

/// Everything in `log` from `from`, as the leader would send it to a follower.
fn fetch_all(log: &Log, from: i64) -> Bytes {
    let mut parts = Vec::new();
    let mut offset = from;
    while offset < log.log_end_offset() {
        let result = log.read(offset, usize::MAX / 2, true, i64::MAX).unwrap();
        assert!(!result.records.is_empty(), "no progress at {offset}");
        parts.push(result.records);
        offset = result.next_fetch_offset;
    }
    concat(&parts)
}

fn epoch_file(fs: &FaultyFileSystem) -> String {
    String::from_utf8(fs.contents(std::path::Path::new(EPOCH_FILE)).unwrap()).unwrap()
}

fn open_follower(fs: &FaultyFileSystem, config: LogConfig) -> Log {
    Log::open(
        fs.shared(),
        std::path::PathBuf::from("/follower/orders-0"),
        config,
        false,
        0,
    )
    .unwrap()
}

/// A leader with batches in epochs 0 (offsets 0..3), 2 (3..5) and 5 (5..9).
fn leader_with_three_epochs(fs: &FaultyFileSystem) -> Log {
    let mut leader = open(fs, LogConfig::default(), false);
    leader
        .append_as_leader(batch(Compression::None, 3, 1_000, 1), 0, 10)
        .unwrap();
    leader
        .append_as_leader(batch(Compression::Lz4, 2, 2_000, 2), 2, 11)
        .unwrap();
    leader
        .append_as_leader(batch(Compression::None, 1, 3_000, 3), 5, 12)
        .unwrap();
    leader
        .append_as_leader(batch(Compression::Zstd, 3, 4_000, 4), 5, 13)
        .unwrap();
    leader
}

#[test]
fn a_leader_records_where_each_of_its_epochs_starts_in_kafkas_file() {
    let fs = FaultyFileSystem::new();
    let mut leader = leader_with_three_epochs(&fs);
    assert_eq!(leader.epoch_entries(), [(0, 0), (2, 3), (5, 5)]);
    assert_eq!(leader.latest_epoch(), Some(5));
    assert_eq!(epoch_file(&fs), "0\n3\n0 0\n2 3\n5 5\n");
    // A new leader marks its epoch's start before appending; older epochs change nothing.
    leader.assign_epoch_start(7, 9).unwrap();
    leader.assign_epoch_start(6, 9).unwrap();
    leader.assign_epoch_start(7, 12).unwrap();
    assert_eq!(leader.epoch_entries(), [(0, 0), (2, 3), (5, 5), (7, 9)]);
    assert_eq!(epoch_file(&fs), "0\n4\n0 0\n2 3\n5 5\n7 9\n");
    assert_eq!(leader.end_offset_for_epoch(7), (7, 9));
    assert_eq!(leader.end_offset_for_epoch(5), (5, 9));
    assert_eq!(leader.end_offset_for_epoch(3), (2, 5));
    assert_eq!(leader.end_offset_for_epoch(8), (-1, -1));
    // Appends in the epoch it assigned add nothing.
    leader
        .append_as_leader(batch(Compression::None, 1, 5_000, 5), 7, 14)
        .unwrap();
    assert_eq!(leader.epoch_entries().len(), 4);
    assert_eq!(leader.end_offset_for_epoch(7), (7, 10));
    // The file survives a clean reopen as it is.
    leader.close().unwrap();
    let leader = open(&fs, LogConfig::default(), false);
    assert_eq!(leader.epoch_entries(), [(0, 0), (2, 3), (5, 5), (7, 9)]);
}

#[test]
fn a_follower_stores_the_leaders_batches_byte_for_byte() {
    let fs = FaultyFileSystem::new();
    let leader = leader_with_three_epochs(&fs);
    let sent = fetch_all(&leader, 0);
    let mut follower = open_follower(&fs, LogConfig::default());
    // Two fetches: the first three batches, then the rest.
    let batches: Vec<RecordBatch> = RecordBatch::iter(sent.clone())
        .map(Result::unwrap)
        .collect();
    assert_eq!(batches.len(), 4);
    let first = concat(&[
        batches[0].as_bytes().clone(),
        batches[1].as_bytes().clone(),
        batches[2].as_bytes().clone(),
    ]);
    let info = follower.append_as_follower_at(first, 20).unwrap();
    assert_eq!(
        (info.base_offset, info.last_offset, info.record_count),
        (0, 5, 6)
    );
    assert!(!info.duplicate);
    let info = follower
        .append_as_follower_at(batches[3].as_bytes().clone(), 21)
        .unwrap();
    assert_eq!(
        (info.base_offset, info.last_offset, info.record_count),
        (6, 8, 3)
    );
    assert_eq!(info.max_timestamp, 4_002);
    assert_eq!(follower.log_end_offset(), 9);
    assert_eq!(
        fetch_all(&follower, 0),
        sent,
        "the follower's bytes are the leader's"
    );
    assert_eq!(follower.epoch_entries(), [(0, 0), (2, 3), (5, 5)]);
    assert_eq!(
        fs.contents(std::path::Path::new(
            "/follower/orders-0/leader-epoch-checkpoint"
        ))
        .unwrap(),
        b"0\n3\n0 0\n2 3\n5 5\n"
    );
    // An empty fetch appends nothing.
    let info = follower.append_as_follower_at(Bytes::new(), 22).unwrap();
    assert_eq!(info.record_count, 0);
    assert_eq!(follower.log_end_offset(), 9);
}

#[test]
fn a_follower_refuses_batches_that_do_not_continue_its_log() {
    let fs = FaultyFileSystem::new();
    let leader = leader_with_three_epochs(&fs);
    let batches: Vec<RecordBatch> = RecordBatch::iter(fetch_all(&leader, 0))
        .map(Result::unwrap)
        .collect();
    let mut follower = open_follower(&fs, LogConfig::default());
    follower
        .append_as_follower_at(batches[0].as_bytes().clone(), 0)
        .unwrap();
    // The same batch again: it starts below the log end offset.
    let err = follower
        .append_as_follower_at(batches[0].as_bytes().clone(), 0)
        .unwrap_err();
    assert!(
        matches!(
            err,
            AppendError::UnexpectedAppendOffset {
                expected: 3,
                found: 0
            }
        ),
        "{err}"
    );
    // Batches out of order inside one append: nothing is written.
    let swapped = concat(&[batches[2].as_bytes().clone(), batches[1].as_bytes().clone()]);
    let err = follower.append_as_follower_at(swapped, 0).unwrap_err();
    assert!(
        matches!(
            err,
            AppendError::UnexpectedAppendOffset {
                expected: 6,
                found: 3
            }
        ),
        "{err}"
    );
    // A damaged batch: nothing is written either.
    let mut bad = batches[1].as_bytes().to_vec();
    let last = bad.len() - 1;
    bad[last] ^= 0xff;
    let err = follower
        .append_as_follower_at(
            concat(&[batches[1].as_bytes().clone(), Bytes::from(bad)]),
            0,
        )
        .unwrap_err();
    assert!(matches!(err, AppendError::InvalidRecords(_)), "{err}");
    assert_eq!(follower.log_end_offset(), 3);
    assert_eq!(follower.epoch_entries(), [(0, 0)]);
}

/// A log of single-record batches 0..n in epoch `epoch_of(offset)`, rolled every
/// `per_segment` batches.
fn log_of(fs: &FaultyFileSystem, n: i64, per_segment: i64, epoch_of: impl Fn(i64) -> i32) -> Log {
    let mut log = open(fs, LogConfig::default(), false);
    for i in 0..n {
        if i > 0 && i % per_segment == 0 {
            log.roll(i).unwrap();
        }
        log.append_as_leader(
            batch(Compression::None, 1, 1_000 + i, i as u32),
            epoch_of(i),
            i,
        )
        .unwrap();
    }
    log
}

fn offsets(log: &Log) -> Vec<i64> {
    all_records(log).into_iter().map(|r| r.0).collect()
}

#[test]
fn truncation_at_a_segment_boundary_deletes_the_segments_above() {
    let fs = FaultyFileSystem::new();
    let mut log = log_of(&fs, 30, 10, |o| (o / 5) as i32);
    assert_eq!(log.segment_base_offsets(), [0, 10, 20]);
    log.truncate_to(20).unwrap();
    assert_eq!(log.log_end_offset(), 20);
    assert_eq!(log.segment_base_offsets(), [0, 10, 20]);
    assert_eq!(offsets(&log), (0..20).collect::<Vec<_>>());
    log.truncate_to(10).unwrap();
    assert_eq!(log.segment_base_offsets(), [0, 10]);
    assert!(!fs.exists(&seg_path(20, ".log")).unwrap());
    assert!(!fs.exists(&seg_path(20, ".index")).unwrap());
    assert_eq!(log.log_end_offset(), 10);
    assert_eq!(log.epoch_entries(), [(0, 0), (1, 5)]);
    assert_eq!(epoch_file(&fs), "0\n2\n0 0\n1 5\n");
    // The log takes appends again where it now ends, and reopens the same.
    log.append_as_leader(batch(Compression::None, 2, 9_000, 99), 9, 50)
        .unwrap();
    assert_eq!(log.epoch_entries(), [(0, 0), (1, 5), (9, 10)]);
    log.close().unwrap();
    let log = open(&fs, LogConfig::default(), false);
    assert_eq!(offsets(&log), (0..12).collect::<Vec<_>>());
    assert_eq!(log.epoch_entries(), [(0, 0), (1, 5), (9, 10)]);
}

#[test]
fn truncation_inside_a_segment_cuts_it_and_its_indexes() {
    let fs = FaultyFileSystem::new();
    let config = LogConfig {
        index_interval_bytes: 1,
        ..LogConfig::default()
    };
    let mut log = Log::open(fs.shared(), dir(), config.clone(), false, 0).unwrap();
    for i in 0..20 {
        log.append_as_leader(batch(Compression::None, 1, 1_000 + i, i as u32), 3, i)
            .unwrap();
    }
    log.append_as_leader(batch(Compression::None, 5, 5_000, 77), 4, 30)
        .unwrap();
    let index_before = fs.contents(&seg_path(0, ".index")).unwrap().len();
    // 22 falls inside the last batch (20..24): the whole batch goes.
    log.truncate_to(22).unwrap();
    assert_eq!(log.log_end_offset(), 20);
    assert_eq!(log.epoch_entries(), [(3, 0)]);
    log.truncate_to(13).unwrap();
    assert_eq!(log.log_end_offset(), 13);
    assert_eq!(offsets(&log), (0..13).collect::<Vec<_>>());
    let index_after = fs.contents(&seg_path(0, ".index")).unwrap().len();
    assert!(index_after < index_before, "{index_after} < {index_before}");
    // Every index entry left points below the cut (the first batch is never indexed).
    assert_eq!(index_after, 12 * 8);
    // Timestamp lookups see only what is left.
    assert_eq!(
        log.offset_for_timestamp(1_012).unwrap().map(|t| t.offset),
        Some(12)
    );
    assert_eq!(log.offset_for_timestamp(1_013).unwrap(), None);
    // Appends continue at 13; a clean reopen agrees with the indexes as they are.
    log.append_as_leader(batch(Compression::None, 1, 2_000, 1), 4, 40)
        .unwrap();
    log.close().unwrap();
    let log = Log::open(fs.shared(), dir(), config, false, 0).unwrap();
    assert_eq!(offsets(&log), (0..14).collect::<Vec<_>>());
    assert_eq!(log.epoch_entries(), [(3, 0), (4, 13)]);
}

#[test]
fn truncation_below_the_flushed_offset_lowers_it() {
    let fs = FaultyFileSystem::new();
    let mut log = log_of(&fs, 12, 100, |_| 0);
    log.flush().unwrap();
    assert_eq!(log.flushed_offset(), 12);
    log.truncate_to(4).unwrap();
    assert_eq!(log.flushed_offset(), 4);
    assert_eq!(log.log_end_offset(), 4);
    // Truncating at or past the end changes nothing.
    log.truncate_to(4).unwrap();
    log.truncate_to(100).unwrap();
    assert_eq!(log.log_end_offset(), 4);
}

#[test]
fn no_truncated_record_comes_back_after_a_crash() {
    for mode in [
        CrashMode::LoseUnsynced,
        CrashMode::KeepUnsyncedPrefix(7),
        CrashMode::TearLastWrite { keep_bytes: 3 },
        CrashMode::ZeroUnsynced,
    ] {
        for target in [0, 3, 10, 15, 27] {
            let fs = FaultyFileSystem::new();
            let mut log = log_of(&fs, 30, 10, |o| (o / 4) as i32);
            log.flush().unwrap();
            log.truncate_to(target).unwrap();
            fs.crash(mode);
            let log = open(&fs, LogConfig::default(), true);
            assert_eq!(log.log_end_offset(), target, "{mode:?} {target}");
            assert_eq!(offsets(&log), (0..target).collect::<Vec<_>>(), "{mode:?}");
            let epochs: Vec<(i32, i64)> = (0..target)
                .filter(|o| o % 4 == 0)
                .map(|o| ((o / 4) as i32, o))
                .collect();
            assert_eq!(log.epoch_entries(), epochs, "{mode:?} {target}");
        }
    }
}

#[test]
fn a_crash_at_any_step_of_a_truncation_reopens_to_a_prefix_of_the_log() {
    // Fail the n-th rename or removal of the truncation, crash, reopen: the log is a
    // prefix of what it was, at least as long as the truncation asked, and consistent.
    for budget in 0..12 {
        for renames in [true, false] {
            let fs = FaultyFileSystem::new();
            let mut log = log_of(&fs, 30, 10, |o| (o / 4) as i32);
            log.flush().unwrap();
            if renames {
                fs.fail_renames_after(Some(budget));
            } else {
                fs.fail_removals_after(Some(budget));
            }
            let result = log.truncate_to(5);
            fs.fail_renames_after(None);
            fs.fail_removals_after(None);
            drop(log);
            fs.crash(CrashMode::LoseUnsynced);
            let log = open(&fs, LogConfig::default(), true);
            let end = log.log_end_offset();
            if result.is_ok() {
                assert_eq!(end, 5, "{budget} {renames}");
            }
            assert!(end >= 5, "{budget} {renames}: {end}");
            assert_eq!(offsets(&log), (0..end).collect::<Vec<_>>());
            let epochs: Vec<(i32, i64)> = (0..end)
                .filter(|o| o % 4 == 0)
                .map(|o| ((o / 4) as i32, o))
                .collect();
            assert_eq!(log.epoch_entries(), epochs, "{budget} {renames}");
        }
    }
}

#[test]
fn after_truncation_a_retried_batch_is_written_again_not_taken_for_a_duplicate() {
    let fs = FaultyFileSystem::new();
    let mut log = open(&fs, LogConfig::default(), false);
    log.append_as_leader(idem(7, 0, 0, 2, 0), 1, 0).unwrap();
    log.roll(1).unwrap();
    log.append_as_leader(idem(7, 0, 2, 2, 1), 1, 2).unwrap();
    log.append_as_leader(idem(7, 0, 4, 2, 2), 1, 3).unwrap();
    // A new leader's history ends at offset 4: the batch of sequences 4..5 goes.
    log.truncate_to(4).unwrap();
    // Its retry is new data, at offset 4, not a duplicate answered with offsets 4..5 of a
    // batch that no longer exists.
    let info = log.append_as_leader(idem(7, 0, 4, 2, 3), 2, 4).unwrap();
    assert!(!info.duplicate);
    assert_eq!((info.base_offset, info.last_offset), (4, 5));
    // Sequences 2..3 are still in the log: their retry is a duplicate.
    let info = log.append_as_leader(idem(7, 0, 2, 2, 1), 2, 5).unwrap();
    assert!(info.duplicate);
    assert_eq!(info.base_offset, 2);
    // Truncating into the first segment goes back to the snapshot below it.
    log.truncate_to(2).unwrap();
    let err = log.append_as_leader(idem(7, 0, 4, 2, 4), 2, 6).unwrap_err();
    assert_eq!(err.error_code(), OUT_OF_ORDER_SEQUENCE_NUMBER, "{err}");
    let info = log.append_as_leader(idem(7, 0, 2, 2, 5), 2, 7).unwrap();
    assert!(!info.duplicate);
    assert_eq!(info.base_offset, 2);
    assert_eq!(
        all_records(&log).last().map(|r| r.1.clone()),
        Some("p7-5-1".to_string())
    );
}

#[test]
fn a_follower_after_truncation_takes_the_leaders_producer_state_without_checks() {
    let fs = FaultyFileSystem::new();
    let mut leader = open(&fs, LogConfig::default(), false);
    leader.append_as_leader(idem(9, 0, 0, 3, 0), 1, 0).unwrap();
    leader.append_as_leader(idem(9, 1, 0, 1, 1), 2, 0).unwrap();
    let mut follower = open_follower(&fs, LogConfig::default());
    follower
        .append_as_follower_at(fetch_all(&leader, 0), 0)
        .unwrap();
    assert_eq!(follower.producer_count(), 1);
    // As leader, the follower now fences epoch 0 of that producer.
    let err = follower
        .append_as_leader(idem(9, 0, 3, 1, 2), 3, 0)
        .unwrap_err();
    assert_eq!(err.error_code(), INVALID_PRODUCER_EPOCH, "{err}");
    // Truncated back below the epoch-1 batch, epoch 0 is current again.
    follower.truncate_to(3).unwrap();
    let info = follower
        .append_as_leader(idem(9, 0, 3, 1, 2), 3, 0)
        .unwrap();
    assert_eq!(info.base_offset, 3);
}

#[test]
fn truncate_fully_and_start_at_empties_the_log_durably() {
    let fs = FaultyFileSystem::new();
    let mut log = log_of(&fs, 25, 10, |o| (o / 10) as i32);
    log.truncate_fully_and_start_at(500).unwrap();
    assert_eq!(
        (
            log.log_start_offset(),
            log.log_end_offset(),
            log.flushed_offset()
        ),
        (500, 500, 500)
    );
    assert_eq!(log.segment_base_offsets(), [500]);
    assert!(log.epoch_entries().is_empty());
    assert_eq!(log.producer_count(), 0);
    assert_eq!(epoch_file(&fs), "0\n0\n");
    let info = log
        .append_as_follower_at(
            {
                let mut b = BatchBuilder::new(Compression::None, TimestampType::CreateTime)
                    .partition_leader_epoch(6);
                b.append(1, None, Some(b"x"), &[]);
                b.build(500)
            },
            0,
        )
        .unwrap();
    assert_eq!(info.base_offset, 500);
    assert_eq!(log.epoch_entries(), [(6, 500)]);
    drop(log);
    fs.crash(CrashMode::LoseUnsynced);
    let log = open(&fs, LogConfig::default(), true);
    assert_eq!(log.log_start_offset(), 500);
    assert!(log.log_end_offset() == 500 || log.log_end_offset() == 501);
    // A truncation below the first segment is a full truncation.
    let fs = FaultyFileSystem::new();
    let mut log = log_of(&fs, 5, 10, |_| 0);
    log.truncate_fully_and_start_at(100).unwrap();
    log.append_as_follower_at(
        {
            let mut b = BatchBuilder::new(Compression::None, TimestampType::CreateTime);
            b.append(1, None, Some(b"x"), &[]);
            b.build(100)
        },
        0,
    )
    .unwrap();
    log.truncate_to(50).unwrap();
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (50, 50));
}

#[test]
fn a_missing_epoch_file_is_rebuilt_from_the_batches_and_a_damaged_one_too() {
    for damage in [
        None,
        Some(&b"0\n2\n5 0\n"[..]),
        Some(&b"garbage"[..]),
        Some(&b"0\n2\n3 9\n1 2\n"[..]),
    ] {
        let fs = FaultyFileSystem::new();
        let log = log_of(&fs, 12, 5, |o| if o < 3 { -1 } else { (o / 4) as i32 * 2 });
        log.close().unwrap();
        let path = std::path::Path::new(EPOCH_FILE);
        match damage {
            None => fs.remove_file(path).unwrap(),
            Some(bytes) => fs.put_file(path, bytes).unwrap(),
        }
        let log = open(&fs, LogConfig::default(), false);
        // Epoch -1 (offsets 0..2) is skipped; 0 starts at 3, 2 at 4, 4 at 8.
        assert_eq!(log.epoch_entries(), [(0, 3), (2, 4), (4, 8)], "{damage:?}");
        assert_eq!(epoch_file(&fs), "0\n3\n0 3\n2 4\n4 8\n");
    }
}

#[test]
fn entries_past_the_log_end_are_dropped_at_open() {
    let fs = FaultyFileSystem::new();
    let mut log = log_of(&fs, 10, 100, |_| 1);
    log.flush().unwrap();
    // A leader assigns its epoch at the log end, then appends; the crash loses the append.
    log.assign_epoch_start(3, 10).unwrap();
    log.append_as_leader(batch(Compression::None, 2, 5, 5), 3, 0)
        .unwrap();
    drop(log);
    fs.crash(CrashMode::LoseUnsynced);
    let log = open(&fs, LogConfig::default(), true);
    assert_eq!(log.log_end_offset(), 10);
    assert_eq!(log.epoch_entries(), [(1, 0)]);
    assert_eq!(epoch_file(&fs), "0\n1\n1 0\n");
}

#[test]
fn delete_records_and_retention_move_the_first_epoch_entry_to_the_log_start() {
    let fs = FaultyFileSystem::new();
    let mut log = log_of(&fs, 30, 10, |o| (o / 7) as i32);
    assert_eq!(log.epoch_entries()[..3], [(0, 0), (1, 7), (2, 14)]);
    log.increase_log_start_offset(9, 30).unwrap();
    assert_eq!(log.epoch_entries()[..2], [(1, 9), (2, 14)]);
    assert!(
        epoch_file(&fs).starts_with("0\n4\n1 9\n2 14\n"),
        "{}",
        epoch_file(&fs)
    );
    log.increase_log_start_offset(21, 30).unwrap();
    assert_eq!(log.segment_base_offsets(), [20]);
    assert_eq!(log.epoch_entries(), [(3, 21), (4, 28)]);
}

#[test]
fn a_batch_larger_than_a_segment_is_still_taken_from_the_leader() {
    let fs = FaultyFileSystem::new();
    let leader = leader_with_three_epochs(&fs);
    let sent = fetch_all(&leader, 0);
    let config = LogConfig {
        segment_bytes: 100,
        ..LogConfig::default()
    };
    let mut follower = open_follower(&fs, config.clone());
    let info = follower.append_as_follower_at(sent.clone(), 0).unwrap();
    assert_eq!(info.last_offset, 8);
    // One batch per segment: each is larger than segment.bytes.
    assert_eq!(follower.segment_base_offsets(), [0, 3, 5, 6]);
    assert_eq!(fetch_all(&follower, 0), sent);
    follower.close().unwrap();
    let follower = Log::open(
        fs.shared(),
        std::path::PathBuf::from("/follower/orders-0"),
        config,
        false,
        0,
    )
    .unwrap();
    assert_eq!(fetch_all(&follower, 0), sent);
    assert_eq!(follower.epoch_entries(), [(0, 0), (2, 3), (5, 5)]);
}

#[test]
fn a_follower_takes_a_batch_far_past_its_empty_segment_and_gaps_between_batches() {
    let fs = FaultyFileSystem::new();
    let mut follower = open_follower(&fs, LogConfig::default());
    let far = 3_000_000_000i64;
    let leader_batch = |base: i64, epoch: i32| {
        let mut b = BatchBuilder::new(Compression::None, TimestampType::CreateTime)
            .partition_leader_epoch(epoch);
        b.append(1, None, Some(b"x"), &[]);
        b.append(2, None, Some(b"y"), &[]);
        b.build(base)
    };
    // Offsets 0..3e9 were compacted away on the leader: the empty segment at 0 cannot
    // index them (4-byte relative offsets), so the log starts a segment at the batch.
    let info = follower
        .append_as_follower_at(
            concat(&[leader_batch(far, 1), leader_batch(far + 10, 2)]),
            0,
        )
        .unwrap();
    assert_eq!(
        (info.base_offset, info.last_offset, info.record_count),
        (far, far + 11, 4)
    );
    assert_eq!(follower.segment_base_offsets(), [far]);
    assert_eq!(follower.log_start_offset(), far);
    assert_eq!(follower.epoch_entries(), [(1, far), (2, far + 10)]);
    // The gap far+2..far+10 reads as the next batch.
    let read = follower.read(far + 5, 1 << 20, true, i64::MAX).unwrap();
    assert_eq!(
        RecordBatch::iter(read.records)
            .next()
            .unwrap()
            .unwrap()
            .base_offset(),
        far + 10
    );
    follower.close().unwrap();
    let follower = open_follower(&fs, LogConfig::default());
    assert_eq!(
        (follower.log_start_offset(), follower.log_end_offset()),
        (far, far + 12)
    );
}
