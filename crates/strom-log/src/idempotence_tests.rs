//! Idempotent producers through [`Log`]: duplicates, fencing, sequence gaps, and the
//! producer state surviving a reopen and a crash.

use bytes::Bytes;
use strom_records::{BatchBuilder, Compression, TimestampType};

use crate::test_support::*;
use crate::*;

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

fn code(result: Result<AppendInfo, AppendError>) -> i16 {
    match result {
        Ok(_) => 0,
        Err(e) => e.error_code(),
    }
}

#[test]
fn a_retried_batch_is_answered_with_its_original_offsets_and_written_once() {
    let fs = FaultyFileSystem::new();
    let mut log = open(&fs, LogConfig::default(), false);
    log.append(batch(Compression::None, 2, 0, 9), 0).unwrap();
    let first = log.append(idem(7, 0, 0, 3, 0), 0).unwrap();
    assert_eq!(
        (first.base_offset, first.last_offset, first.duplicate),
        (2, 4, false)
    );
    let second = log.append(idem(7, 0, 3, 2, 1), 0).unwrap();
    assert_eq!(second.base_offset, 5);
    let size = log.size_bytes();

    let retry = log.append(idem(7, 0, 0, 3, 0), 0).unwrap();
    assert!(retry.duplicate);
    assert_eq!(
        (retry.base_offset, retry.last_offset, retry.record_count),
        (2, 4, 0)
    );
    assert_eq!(retry.max_timestamp, 1_002);
    let retry = log.append(idem(7, 0, 3, 2, 1), 0).unwrap();
    assert_eq!((retry.base_offset, retry.duplicate), (5, true));
    assert_eq!(log.size_bytes(), size, "a duplicate writes nothing");
    assert_eq!(log.log_end_offset(), 7);
    assert_eq!(all_records(&log).len(), 7);

    let next = log.append(idem(7, 0, 5, 1, 2), 0).unwrap();
    assert_eq!((next.base_offset, next.duplicate), (7, false));
}

#[test]
fn gaps_fenced_epochs_and_client_control_batches_are_refused_and_write_nothing() {
    let fs = FaultyFileSystem::new();
    let mut log = open(&fs, LogConfig::default(), false);
    log.append(idem(7, 3, 0, 2, 0), 0).unwrap();
    let size = log.size_bytes();

    let gap = log.append(idem(7, 3, 5, 1, 1), 0).unwrap_err();
    assert_eq!(gap.error_code(), OUT_OF_ORDER_SEQUENCE_NUMBER);
    assert!(gap.to_string().contains("expected sequence 2"), "{gap}");
    assert_eq!(
        code(log.append(idem(7, 2, 2, 1, 1), 0)),
        INVALID_PRODUCER_EPOCH
    );
    assert_eq!(
        code(log.append(idem(7, 4, 1, 1, 1), 0)),
        OUT_OF_ORDER_SEQUENCE_NUMBER
    );

    // Markers are the leader's to write: a client's control batch is refused.
    let marker = strom_records::EndTransactionMarker {
        commit: true,
        coordinator_epoch: 0,
    }
    .batch(8, 0, 0, 1);
    assert_eq!(code(log.append(marker, 0)), INVALID_RECORD);

    // A good batch before a bad one in the same append is not written either.
    let mixed = concat(&[idem(9, 0, 0, 1, 0), idem(7, 3, 9, 1, 1)]);
    assert_eq!(code(log.append(mixed, 0)), OUT_OF_ORDER_SEQUENCE_NUMBER);
    assert_eq!(log.size_bytes(), size);
    assert_eq!(log.log_end_offset(), 2);
    assert_eq!(
        log.producer_count(),
        1,
        "refused appends leave no producer behind"
    );

    // A bumped epoch starts over at sequence 0 (KIP-360), after which the old one is fenced.
    assert_eq!(log.append(idem(7, 4, 0, 1, 2), 0).unwrap().base_offset, 2);
    assert_eq!(
        code(log.append(idem(7, 3, 2, 1, 3), 0)),
        INVALID_PRODUCER_EPOCH
    );
}

#[test]
fn batches_of_one_producer_in_one_append_must_follow_each_other() {
    let fs = FaultyFileSystem::new();
    let mut log = open(&fs, LogConfig::default(), false);
    let info = log
        .append(concat(&[idem(7, 0, 0, 2, 0), idem(7, 0, 2, 2, 1)]), 0)
        .unwrap();
    assert_eq!((info.base_offset, info.last_offset), (0, 3));
    assert!(log.append(idem(7, 0, 2, 2, 1), 0).unwrap().duplicate);
    let twice = concat(&[idem(7, 0, 4, 1, 2), idem(7, 0, 4, 1, 2)]);
    assert_eq!(code(log.append(twice, 0)), OUT_OF_ORDER_SEQUENCE_NUMBER);
    assert_eq!(log.log_end_offset(), 4);
}

#[test]
fn sequences_continue_across_the_wrap_at_i32_max() {
    let fs = FaultyFileSystem::new();
    let mut log = open(&fs, LogConfig::default(), false);
    // Sequences MAX-1, MAX, 0.
    log.append(idem(7, 0, i32::MAX - 1, 3, 0), 0).unwrap();
    assert_eq!(
        code(log.append(idem(7, 0, 2, 1, 1), 0)),
        OUT_OF_ORDER_SEQUENCE_NUMBER
    );
    assert_eq!(code(log.append(idem(7, 0, 1, 1, 1), 0)), 0);
    assert!(
        log.append(idem(7, 0, i32::MAX - 1, 3, 0), 0)
            .unwrap()
            .duplicate
    );
}

#[test]
fn a_duplicate_on_a_log_append_time_topic_reports_the_original_append_time() {
    let fs = FaultyFileSystem::new();
    let config = LogConfig {
        message_timestamp_type: TimestampType::LogAppendTime,
        ..LogConfig::default()
    };
    let mut log = open(&fs, config, false);
    let first = log.append(idem(7, 0, 0, 1, 0), 5_000).unwrap();
    assert_eq!(first.log_append_time_ms, 5_000);
    let retry = log.append(idem(7, 0, 0, 1, 0), 9_000).unwrap();
    assert_eq!((retry.duplicate, retry.log_append_time_ms), (true, 5_000));
}

#[test]
fn duplicates_are_still_detected_after_a_clean_reopen() {
    let fs = FaultyFileSystem::new();
    let mut log = open(&fs, LogConfig::default(), false);
    log.append(idem(7, 0, 0, 2, 0), 0).unwrap();
    log.append(idem(8, 2, 10, 1, 0), 0).unwrap();
    log.append(idem(7, 0, 2, 2, 1), 0).unwrap();
    log.close().unwrap();

    let mut log = open(&fs, LogConfig::default(), false);
    assert_eq!(log.producer_count(), 2);
    let retry = log.append(idem(7, 0, 0, 2, 0), 0).unwrap();
    assert_eq!((retry.duplicate, retry.base_offset), (true, 0));
    assert!(log.append(idem(8, 2, 10, 1, 0), 0).unwrap().duplicate);
    assert_eq!(
        code(log.append(idem(8, 1, 11, 1, 1), 0)),
        INVALID_PRODUCER_EPOCH
    );
    assert_eq!(
        code(log.append(idem(7, 0, 7, 1, 2), 0)),
        OUT_OF_ORDER_SEQUENCE_NUMBER
    );
    assert_eq!(log.append(idem(7, 0, 4, 1, 2), 0).unwrap().base_offset, 5);
}

#[test]
fn after_a_crash_durable_batches_are_duplicates_and_lost_ones_are_written_again() {
    let fs = FaultyFileSystem::new();
    let mut log = open(&fs, LogConfig::default(), false);
    log.append(idem(7, 0, 0, 2, 0), 0).unwrap();
    log.flush().unwrap();
    log.append(idem(7, 0, 2, 2, 1), 0).unwrap();
    drop(log);
    fs.crash(CrashMode::LoseUnsynced);

    let mut log = open(&fs, LogConfig::default(), true);
    assert_eq!(log.log_end_offset(), 2);
    let retry = log.append(idem(7, 0, 0, 2, 0), 0).unwrap();
    assert_eq!((retry.duplicate, retry.base_offset), (true, 0));
    // The batch the crash lost is not in the log, so its retry is written, once.
    let lost = log.append(idem(7, 0, 2, 2, 1), 0).unwrap();
    assert_eq!((lost.duplicate, lost.base_offset), (false, 2));
    assert!(log.append(idem(7, 0, 2, 2, 1), 0).unwrap().duplicate);
    let values: Vec<String> = all_records(&log).into_iter().map(|(_, v)| v).collect();
    assert_eq!(values, ["p7-0-0", "p7-0-1", "p7-1-0", "p7-1-1"]);
}

#[test]
fn a_torn_tail_is_not_remembered_as_written() {
    let fs = FaultyFileSystem::new();
    let mut log = open(&fs, LogConfig::default(), false);
    log.append(idem(7, 0, 0, 1, 0), 0).unwrap();
    log.append(idem(7, 0, 1, 3, 1), 0).unwrap();
    drop(log);
    fs.crash(CrashMode::TearLastWrite { keep_bytes: 70 });

    let mut log = open(&fs, LogConfig::default(), true);
    assert_eq!(log.log_end_offset(), 1);
    let retry = log.append(idem(7, 0, 1, 3, 1), 0).unwrap();
    assert_eq!((retry.duplicate, retry.base_offset), (false, 1));
}

/// Producer 1 writes once, in the first segment; producer 2 then fills `segments` more.
fn producer_one_far_back(fs: &FaultyFileSystem, config: &LogConfig, segments: usize) -> i32 {
    let mut log = open(fs, config.clone(), false);
    log.append(idem(1, 0, 0, 1, 0), 0).unwrap();
    let mut seq = 0;
    while log.segment_count() < segments {
        log.append(idem(2, 0, seq, 1, seq as u32), 0).unwrap();
        seq += 1;
    }
    log.append(idem(2, 0, seq, 1, seq as u32), 0).unwrap();
    log.flush().unwrap();
    seq
}

#[test]
fn a_producer_whose_last_batch_is_many_segments_back_still_deduplicates_after_a_restart() {
    let fs = FaultyFileSystem::new();
    let config = LogConfig {
        segment_bytes: 300,
        ..LogConfig::default()
    };
    let seq = producer_one_far_back(&fs, &config, 12);
    // Unclean: no close, so the roll snapshots carry producer 1.
    fs.crash(CrashMode::LoseUnsynced);
    let mut log = open(&fs, config, true);
    assert_eq!(log.producer_count(), 2);
    let end = log.log_end_offset();
    let retry = log.append(idem(1, 0, 0, 1, 0), 0).unwrap();
    assert_eq!((retry.duplicate, retry.base_offset), (true, 0));
    assert_eq!(
        code(log.append(idem(1, 0, 5, 1, 1), 0)),
        OUT_OF_ORDER_SEQUENCE_NUMBER
    );
    assert!(
        log.append(idem(2, 0, seq, 1, seq as u32), 0)
            .unwrap()
            .duplicate
    );
    assert_eq!(
        code(log.append(idem(2, 0, seq + 2, 1, 0), 0)),
        OUT_OF_ORDER_SEQUENCE_NUMBER
    );
    assert_eq!(log.log_end_offset(), end, "nothing was written twice");
}

#[test]
fn the_open_replays_only_the_segments_after_the_snapshot() {
    let fs = FaultyFileSystem::new();
    let config = LogConfig {
        segment_bytes: 300,
        ..LogConfig::default()
    };
    producer_one_far_back(&fs, &config, 6);
    let log = open(&fs, config.clone(), false);
    let bases = log.segment_base_offsets();
    log.close().unwrap();
    // Damage every older segment's data: a replay of them would lose producer 1 (the
    // loader skips what it cannot read), so finding it proves the snapshot was used.
    for base in &bases[..bases.len() - 1] {
        let path = seg_path(*base, ".log");
        let len = fs.contents(&path).unwrap().len();
        fs.put_file(&path, &vec![0xff; len]).unwrap();
    }
    let mut log = open(&fs, config, false);
    assert!(log.append(idem(1, 0, 0, 1, 0), 0).unwrap().duplicate);
}
