//! Retention and DeleteRecords on a real [`Log`] with tiny segments: what is deleted, what
//! stays readable, which files go, and what a restart keeps.

use std::path::{Path, PathBuf};

use strom_records::Compression;

use crate::test_support::*;
use crate::*;

/// Tiny segments, no retention unless a test sets it.
fn config() -> LogConfig {
    LogConfig {
        segment_bytes: 300,
        index_interval_bytes: 1,
        retention_ms: None,
        retention_bytes: None,
        ..LogConfig::default()
    }
}

/// Batch `i` holds offsets `2i` and `2i+1`, with timestamps `1000 i` and `1000 i + 1`.
fn append_batches(log: &mut Log, count: u32) {
    for i in 0..count {
        log.append(batch(Compression::None, 2, i64::from(i) * 1_000, i), 0)
            .unwrap();
    }
}

fn populated(fs: &FaultyFileSystem, config: LogConfig) -> (Log, Vec<(i64, String)>) {
    let mut log = open(fs, config, false);
    append_batches(&mut log, 20);
    let records = all_records(&log);
    assert!(log.segment_count() > 5, "the tests need many segments");
    (log, records)
}

fn segment_files(fs: &FaultyFileSystem, base: i64) -> Vec<PathBuf> {
    let prefix = segment_file_name(base, "");
    fs.file_paths()
        .into_iter()
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(&prefix))
        })
        .collect()
}

fn deleted_files(fs: &FaultyFileSystem) -> Vec<PathBuf> {
    fs.file_paths()
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with(".deleted"))
        .collect()
}

/// The log from `start` on, and nothing below it.
fn assert_starts_at(log: &Log, start: i64, records: &[(i64, String)]) {
    assert_eq!(log.log_start_offset(), start);
    let err = log.read(start - 1, 1 << 20, true, i64::MAX).unwrap_err();
    assert_eq!(err.error_code(), OFFSET_OUT_OF_RANGE);
    let expected: Vec<_> = records
        .iter()
        .filter(|(o, _)| *o >= start)
        .cloned()
        .collect();
    assert_eq!(all_records(log), expected);
}

#[test]
fn time_retention_deletes_old_segments_and_the_log_starts_at_the_first_kept() {
    let fs = FaultyFileSystem::new();
    let (mut log, records) = populated(
        &fs,
        LogConfig {
            retention_ms: Some(5_000),
            ..config()
        },
    );
    let bases = log.segment_base_offsets();
    // At 12000, batches up to 6 (largest timestamp 6001) are more than 5000 ms old; the
    // segment holding offset 14 (batch 7) is the first one kept.
    let first_kept = *bases.iter().rev().find(|b| **b <= 14).unwrap();
    let deleted = bases.iter().take_while(|b| **b < first_kept).count();
    assert_eq!(log.delete_old_segments(i64::MAX, 12_000).unwrap(), deleted);
    assert!(deleted > 0);
    assert_eq!(log.segment_base_offsets(), bases[deleted..]);
    assert_starts_at(&log, first_kept, &records);
    for base in &bases[..deleted] {
        assert_eq!(segment_files(&fs, *base), Vec::<PathBuf>::new());
    }
    assert_eq!(deleted_files(&fs), Vec::<PathBuf>::new());
    assert_eq!(log.delete_old_segments(i64::MAX, 12_000).unwrap(), 0);
}

#[test]
fn size_retention_keeps_at_least_retention_bytes() {
    let fs = FaultyFileSystem::new();
    let (mut log, records) = populated(
        &fs,
        LogConfig {
            retention_bytes: Some(700),
            ..config()
        },
    );
    let deleted = log.delete_old_segments(i64::MAX, 0).unwrap();
    assert!(deleted > 0);
    assert!(log.size_bytes() >= 700);
    let first = log.segment_base_offsets()[0];
    let first_size = log
        .read(first, usize::MAX, true, i64::MAX)
        .unwrap()
        .records
        .len() as u64;
    assert!(
        log.size_bytes() - first_size < 700,
        "one more could have gone"
    );
    assert_starts_at(&log, first, &records);
}

#[test]
fn no_retention_keeps_every_segment() {
    let fs = FaultyFileSystem::new();
    let (mut log, records) = populated(&fs, config());
    assert_eq!(log.delete_old_segments(i64::MAX, i64::MAX).unwrap(), 0);
    assert_eq!(all_records(&log), records);
}

#[test]
fn an_old_active_segment_is_rolled_first_then_deleted_and_appends_continue() {
    let fs = FaultyFileSystem::new();
    let (mut log, records) = populated(
        &fs,
        LogConfig {
            retention_ms: Some(1_000),
            ..config()
        },
    );
    let count = log.segment_count();
    let end = log.log_end_offset();
    assert_eq!(log.delete_old_segments(end, 1_000_000).unwrap(), count);
    assert_eq!(log.segment_base_offsets(), [end]);
    assert_eq!((log.log_start_offset(), log.size_bytes()), (end, 0));
    assert_starts_at(&log, end, &records);
    // The new active segment is empty: it stays however old the clock says.
    assert_eq!(log.delete_old_segments(end, i64::MAX).unwrap(), 0);
    let info = log
        .append(batch(Compression::None, 1, 2_000_000, 99), 0)
        .unwrap();
    assert_eq!((info.base_offset, info.log_start_offset), (end, end));
}

#[test]
fn retention_never_deletes_at_or_above_the_high_watermark() {
    let fs = FaultyFileSystem::new();
    let (mut log, records) = populated(
        &fs,
        LogConfig {
            retention_ms: Some(1_000),
            ..config()
        },
    );
    let bases = log.segment_base_offsets();
    assert_eq!(log.delete_old_segments(0, 1_000_000).unwrap(), 0);
    assert_eq!(log.delete_old_segments(bases[2] - 1, 1_000_000).unwrap(), 1);
    assert_eq!(log.delete_old_segments(bases[3], 1_000_000).unwrap(), 2);
    assert_starts_at(&log, bases[3], &records);
}

#[test]
fn a_segment_without_timestamps_ages_from_its_last_write() {
    let fs = FaultyFileSystem::new();
    let mut log = open(
        &fs,
        LogConfig {
            retention_ms: Some(1_000),
            ..config()
        },
        false,
    );
    log.append(batch_with_timestamps(Compression::None, &[-1]), 10_000)
        .unwrap();
    log.roll(10_000).unwrap();
    log.append(batch_with_timestamps(Compression::None, &[-1]), 50_000)
        .unwrap();
    assert_eq!(log.delete_old_segments(i64::MAX, 11_000).unwrap(), 0);
    assert_eq!(log.delete_old_segments(i64::MAX, 11_001).unwrap(), 1);
    assert_eq!(log.log_start_offset(), 1);
}

#[test]
fn delete_records_moves_the_log_start_offset_and_deletes_the_segments_below_it() {
    let fs = FaultyFileSystem::new();
    let (mut log, records) = populated(&fs, config());
    let bases = log.segment_base_offsets();
    let target = bases[2] + 1;
    let hw = log.log_end_offset();
    assert_eq!(log.increase_log_start_offset(target, hw).unwrap(), target);
    assert_starts_at(&log, target, &records);
    assert_eq!(log.segment_base_offsets(), bases[2..]);
    for base in &bases[..2] {
        assert_eq!(segment_files(&fs, *base), Vec::<PathBuf>::new());
    }
    // Reading at the log start returns the whole batch holding it, as Kafka does.
    let read = log.read(target, 1 << 20, true, i64::MAX).unwrap();
    assert_eq!(read.log_start_offset, target);
    assert!(!read.records.is_empty());
    // Appends report the new log start offset.
    let info = log.append(batch(Compression::None, 1, 0, 99), 0).unwrap();
    assert_eq!(info.log_start_offset, target);
}

#[test]
fn delete_records_refuses_offsets_above_the_high_watermark_and_never_moves_back() {
    let fs = FaultyFileSystem::new();
    let (mut log, records) = populated(&fs, config());
    let end = log.log_end_offset();
    let hw = end - 4;
    for bad in [hw + 1, -2, i64::MIN] {
        let err = log.increase_log_start_offset(bad, hw).unwrap_err();
        assert!(
            matches!(err, DeleteRecordsError::OffsetOutOfRange { .. }),
            "{err}"
        );
        assert_eq!(err.error_code(), OFFSET_OUT_OF_RANGE);
    }
    // A high watermark past the log end is bounded by it.
    let err = log
        .increase_log_start_offset(end + 1, i64::MAX)
        .unwrap_err();
    assert_eq!(err.error_code(), OFFSET_OUT_OF_RANGE);
    assert_eq!(log.log_start_offset(), 0);
    // -1 means the high watermark.
    assert_eq!(log.increase_log_start_offset(-1, hw).unwrap(), hw);
    assert_eq!(log.increase_log_start_offset(3, hw).unwrap(), hw);
    assert_eq!(log.increase_log_start_offset(hw, hw).unwrap(), hw);
    assert_starts_at(&log, hw, &records);
    assert!(!log.is_offline());
}

#[test]
fn timestamp_lookups_never_answer_below_the_log_start_offset() {
    let fs = FaultyFileSystem::new();
    let mut log = open(&fs, LogConfig::default(), false);
    // One segment: offsets 0,1 | 2,3 | 4,5; the largest timestamp is at offset 0.
    for ts in [[100, 5], [6, 7], [8, 9]] {
        log.append(batch_with_timestamps(Compression::None, &ts), 0)
            .unwrap();
    }
    let at = |timestamp, offset| Some(TimestampOffset { timestamp, offset });
    assert_eq!(log.max_timestamp_offset().unwrap(), at(100, 0));
    assert_eq!(log.offset_for_timestamp(0).unwrap(), at(100, 0));

    log.increase_log_start_offset(1, 6).unwrap();
    assert_eq!(log.offset_for_timestamp(0).unwrap(), at(5, 1));
    assert_eq!(log.offset_for_timestamp(6).unwrap(), at(6, 2));
    // The deleted record held the maximum; the straddling batch's kept record does not.
    assert_eq!(log.max_timestamp_offset().unwrap(), at(9, 5));

    log.increase_log_start_offset(5, 6).unwrap();
    assert_eq!(log.offset_for_timestamp(0).unwrap(), at(9, 5));
    assert_eq!(log.max_timestamp_offset().unwrap(), at(9, 5));
    log.increase_log_start_offset(6, 6).unwrap();
    assert_eq!(log.offset_for_timestamp(0).unwrap(), None);
    assert_eq!(log.max_timestamp_offset().unwrap(), None);

    // The maximum after the log start offset: found without a scan, the same answer.
    let fs = FaultyFileSystem::new();
    let mut log = open(&fs, LogConfig::default(), false);
    for ts in [[5, 6], [100, 100], [8, 9]] {
        log.append(batch_with_timestamps(Compression::None, &ts), 0)
            .unwrap();
    }
    log.increase_log_start_offset(1, 6).unwrap();
    assert_eq!(log.max_timestamp_offset().unwrap(), at(100, 2));
}

#[test]
fn timestamp_lookups_start_at_the_first_segment_left_by_retention() {
    let fs = FaultyFileSystem::new();
    let (mut log, _) = populated(
        &fs,
        LogConfig {
            retention_bytes: Some(700),
            ..config()
        },
    );
    let biggest = log.max_timestamp_offset().unwrap();
    log.delete_old_segments(i64::MAX, 0).unwrap();
    let start = log.log_start_offset();
    assert!(start > 0);
    // Batch i holds offsets 2i, 2i+1 with timestamps 1000 i, 1000 i + 1.
    let first = log.offset_for_timestamp(0).unwrap().unwrap();
    assert_eq!((first.offset, first.timestamp), (start, start / 2 * 1_000));
    assert_eq!(log.max_timestamp_offset().unwrap(), biggest);
}

fn identity() -> BrokerIdentity {
    BrokerIdentity {
        node_id: 1,
        cluster_id: "c".into(),
    }
}

fn open_manager(fs: &FaultyFileSystem) -> LoadedLogs {
    LogManager::open(
        fs.shared(),
        vec![PathBuf::from("/data")],
        &identity(),
        &|_| config(),
        0,
    )
    .unwrap()
}

fn checkpoint_text(fs: &FaultyFileSystem) -> String {
    let path = Path::new("/data").join(LOG_START_OFFSET_CHECKPOINT_FILE);
    String::from_utf8(fs.contents(&path).unwrap_or_default()).unwrap()
}

/// A managed `orders-0` (the test support's directory) with 20 batches, flushed.
fn managed(fs: &FaultyFileSystem) -> (LogManager, Log, Vec<(i64, String)>) {
    let loaded = open_manager(fs);
    let tp = TopicPartition::new("orders", 0);
    let mut log = loaded.manager.create_log(&tp, config(), 0).unwrap();
    assert_eq!(log.dir(), dir());
    append_batches(&mut log, 20);
    log.flush().unwrap();
    let records = all_records(&log);
    (loaded.manager, log, records)
}

fn reopened(fs: &FaultyFileSystem) -> (LogManager, Log) {
    let mut loaded = open_manager(fs);
    let log = loaded
        .logs
        .remove(&TopicPartition::new("orders", 0))
        .unwrap();
    (loaded.manager, log)
}

#[test]
fn the_log_start_offset_survives_a_clean_restart_and_a_crash() {
    let fs = FaultyFileSystem::new();
    let (manager, mut log, records) = managed(&fs);
    let target = log.segment_base_offsets()[3] + 1;
    log.increase_log_start_offset(target, log.log_end_offset())
        .unwrap();
    assert_eq!(checkpoint_text(&fs), format!("0\n1\norders 0 {target}\n"));

    manager.shutdown([log]).unwrap();
    let (manager, log) = reopened(&fs);
    assert_starts_at(&log, target, &records);

    drop((manager, log));
    fs.crash(CrashMode::LoseUnsynced);
    let (_manager, log) = reopened(&fs);
    assert_starts_at(&log, target, &records);
}

#[test]
fn retention_needs_no_checkpoint_and_shutdown_drops_entries_the_segments_tell() {
    let fs = FaultyFileSystem::new();
    let (manager, mut log, records) = managed(&fs);
    let bases = log.segment_base_offsets();
    log.increase_log_start_offset(bases[1] + 1, i64::MAX)
        .unwrap();
    log.update_config(LogConfig {
        retention_bytes: Some(700),
        ..config()
    });
    assert!(log.delete_old_segments(i64::MAX, 0).unwrap() > 1);
    let start = log.log_start_offset();
    assert_eq!(start, log.segment_base_offsets()[0]);
    drop(log);
    fs.crash(CrashMode::LoseUnsynced);
    let (manager2, log) = reopened(&fs);
    drop(manager);
    assert_starts_at(&log, start, &records);
    manager2.shutdown([log]).unwrap();
    assert_eq!(checkpoint_text(&fs), "0\n0\n");
}

#[test]
fn a_deleted_partition_leaves_no_checkpoint_entry_for_a_new_one_of_the_same_name() {
    let fs = FaultyFileSystem::new();
    let (manager, mut log, _) = managed(&fs);
    log.increase_log_start_offset(7, i64::MAX).unwrap();
    manager.delete_log(log).unwrap();
    assert_eq!(checkpoint_text(&fs), "0\n0\n");
    let tp = TopicPartition::new("orders", 0);
    let log = manager.create_log(&tp, config(), 0).unwrap();
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (0, 0));
}

#[test]
fn checkpoint_entries_of_partitions_that_are_gone_are_dropped_at_open() {
    let fs = FaultyFileSystem::new();
    drop(open_manager(&fs));
    let path = Path::new("/data").join(LOG_START_OFFSET_CHECKPOINT_FILE);
    fs.put_file(&path, b"0\n1\norders 0 7\n").unwrap();
    let loaded = open_manager(&fs);
    assert_eq!(checkpoint_text(&fs), "0\n0\n");
    let log = loaded
        .manager
        .create_log(&TopicPartition::new("orders", 0), config(), 0)
        .unwrap();
    assert_eq!(log.log_start_offset(), 0);
}

#[test]
fn a_damaged_checkpoint_takes_its_directory_offline_with_a_clear_error() {
    let fs = FaultyFileSystem::new();
    let (manager, log, _) = managed(&fs);
    manager.shutdown([log]).unwrap();
    let path = Path::new("/data").join(LOG_START_OFFSET_CHECKPOINT_FILE);
    fs.put_file(&path, b"0\n3\norders 0 7\n").unwrap();
    let err = LogManager::open(
        fs.shared(),
        vec![PathBuf::from("/data")],
        &identity(),
        &|_| config(),
        0,
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("log-start-offset-checkpoint"),
        "{err}"
    );
}

#[test]
fn a_log_that_ends_below_its_checkpointed_start_restarts_empty_there() {
    let fs = FaultyFileSystem::new();
    let (manager, mut log, _) = managed(&fs);
    let flushed_end = log.log_end_offset();
    // Appended but never flushed; DeleteRecords covers it (the high watermark says so).
    append_batches(&mut log, 3);
    let end = log.log_end_offset();
    assert_eq!(log.increase_log_start_offset(-1, end).unwrap(), end);
    drop((manager, log));
    fs.crash(CrashMode::LoseUnsynced);

    let (_manager, mut log) = reopened(&fs);
    assert!(end > flushed_end);
    assert_eq!(log.segment_base_offsets(), [end]);
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (end, end));
    assert_eq!(deleted_files(&fs), Vec::<PathBuf>::new());
    let info = log.append(batch(Compression::None, 1, 0, 99), 0).unwrap();
    assert_eq!(info.base_offset, end);
}
