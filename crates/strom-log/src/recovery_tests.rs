//! Reopening, recovery of damaged files, leftovers, flushing and storage failures.

use std::path::Path;

use strom_records::Compression;

use crate::test_support::*;
use crate::*;

/// A log of 30 batches of 2 records over several segments, every batch indexed.
fn populated(fs: &FaultyFileSystem) -> (LogConfig, Vec<(i64, String)>) {
    let config = LogConfig {
        segment_bytes: 1_000,
        index_interval_bytes: 1,
        ..LogConfig::default()
    };
    let mut log = open(fs, config.clone(), false);
    for i in 0..30 {
        log.append(batch(Compression::None, 2, 1_000 + i, i as u32), 0)
            .unwrap();
    }
    let records = all_records(&log);
    log.close().unwrap();
    (config, records)
}

fn active_base(fs: &FaultyFileSystem, config: &LogConfig) -> i64 {
    let log = open(fs, config.clone(), false);
    *log.segment_base_offsets().last().unwrap()
}

#[test]
fn a_clean_reopen_keeps_everything_and_appends_continue() {
    let fs = FaultyFileSystem::new();
    let (config, records) = populated(&fs);
    let indexes_before: Vec<_> = fs
        .file_paths()
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "index"))
        .map(|p| fs.contents(p))
        .collect();
    let mut log = open(&fs, config, false);
    assert_eq!(all_records(&log), records);
    assert_eq!(log.log_end_offset(), 60);
    let indexes_after: Vec<_> = fs
        .file_paths()
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "index"))
        .map(|p| fs.contents(p))
        .collect();
    assert_eq!(
        indexes_before, indexes_after,
        "clean open must not rebuild indexes"
    );
    assert_eq!(
        log.append(batch(Compression::None, 1, 0, 99), 0)
            .unwrap()
            .base_offset,
        60
    );
}

#[test]
fn recovery_cuts_a_torn_batch_at_the_end() {
    let fs = FaultyFileSystem::new();
    let (config, records) = populated(&fs);
    let base = active_base(&fs, &config);
    let path = seg_path(base, ".log");
    let len = fs.file_len(&path).unwrap();
    fs.truncate(&path, len - 5).unwrap();
    let mut log = open(&fs, config, true);
    assert_eq!(log.log_end_offset(), 58);
    assert_eq!(all_records(&log), records[..58]);
    assert!(
        fs.file_len(&path).unwrap() < len - 5,
        "the partial batch is cut from the file"
    );
    assert_eq!(
        log.append(batch(Compression::None, 1, 0, 99), 0)
            .unwrap()
            .base_offset,
        58
    );
}

#[test]
fn recovery_cuts_a_garbage_tail() {
    let fs = FaultyFileSystem::new();
    let (config, records) = populated(&fs);
    let base = active_base(&fs, &config);
    let path = seg_path(base, ".log");
    let len = fs.file_len(&path).unwrap();
    fs.corrupt(&path, len, &[0x5a; 300]).unwrap();
    let log = open(&fs, config, true);
    assert_eq!(all_records(&log), records);
    assert_eq!(fs.file_len(&path), Some(len));
}

#[test]
fn recovery_cuts_at_a_batch_that_fails_its_crc() {
    let fs = FaultyFileSystem::new();
    let (config, records) = populated(&fs);
    let base = active_base(&fs, &config);
    let path = seg_path(base, ".log");
    let (first_size, second_size) = {
        let log = open(&fs, config.clone(), false);
        let size_at = |o| log.read(o, 1, true, i64::MAX).unwrap().records.len() as u64;
        (size_at(base), size_at(base + 2))
    };
    // Flip a byte in the value of the second batch of the active segment.
    fs.corrupt(&path, first_size + second_size - 2, b"#")
        .unwrap();
    let log = open(&fs, config, true);
    assert_eq!(log.log_end_offset(), base + 2);
    assert_eq!(all_records(&log), records[..(base + 2) as usize]);
    assert_eq!(fs.file_len(&path), Some(first_size));
}

#[test]
fn a_clean_open_still_notices_a_torn_active_segment() {
    let fs = FaultyFileSystem::new();
    let (config, records) = populated(&fs);
    let base = active_base(&fs, &config);
    let path = seg_path(base, ".log");
    let len = fs.file_len(&path).unwrap();
    fs.truncate(&path, len - 1).unwrap();
    let log = open(&fs, config, false);
    assert_eq!(log.log_end_offset(), 58);
    assert_eq!(all_records(&log), records[..58]);
}

#[test]
fn a_truncated_index_is_rebuilt() {
    let fs = FaultyFileSystem::new();
    let (config, records) = populated(&fs);
    let path = seg_path(0, ".index");
    let original = fs.contents(&path).unwrap();
    assert!(original.len() >= 16);
    fs.truncate(&path, original.len() as u64 - 3).unwrap();
    let log = open(&fs, config, false);
    assert_eq!(fs.contents(&path).unwrap(), original);
    assert_eq!(all_records(&log), records);
}

#[test]
fn an_index_pointing_past_the_log_is_rebuilt() {
    let fs = FaultyFileSystem::new();
    let (config, records) = populated(&fs);
    for base in [0, active_base(&fs, &config)] {
        let path = seg_path(base, ".index");
        let original = fs.contents(&path).unwrap();
        let last = original.len() as u64 - 8;
        let relative = u32::from_be_bytes(
            original[last as usize..last as usize + 4]
                .try_into()
                .unwrap(),
        );
        let mut entry = (relative + 1).to_be_bytes().to_vec();
        entry.extend(1_000_000u32.to_be_bytes());
        fs.corrupt(&path, last, &entry).unwrap();
        let log = open(&fs, config.clone(), false);
        assert_eq!(fs.contents(&path).unwrap(), original, "segment {base}");
        assert_eq!(all_records(&log), records);
    }
}

#[test]
fn a_missing_time_index_is_rebuilt_and_timestamp_lookups_work() {
    let fs = FaultyFileSystem::new();
    let (config, _records) = populated(&fs);
    let path = seg_path(0, ".timeindex");
    let original = fs.contents(&path).unwrap();
    fs.remove_file(&path).unwrap();
    let log = open(&fs, config, false);
    assert_eq!(fs.contents(&path).unwrap(), original);
    assert_eq!(
        log.offset_for_timestamp(1_005).unwrap(),
        Some(TimestampOffset {
            timestamp: 1_005,
            offset: 9
        })
    );
}

#[test]
fn corruption_inside_an_older_segment_ends_the_log_there() {
    let fs = FaultyFileSystem::new();
    let (config, records) = populated(&fs);
    let bases = open(&fs, config.clone(), false).segment_base_offsets();
    assert!(bases.len() >= 3);
    // Damage segment 0's index so it is rebuilt, and its data so the rebuild cuts it.
    fs.truncate(&seg_path(0, ".index"), 3).unwrap();
    let batch_size = batch(Compression::None, 2, 0, 0).len() as u64;
    fs.corrupt(&seg_path(0, ".log"), 3 * batch_size - 1, b"#")
        .unwrap();
    let log = open(&fs, config, false);
    assert_eq!(log.segment_base_offsets(), [0]);
    assert_eq!(log.log_end_offset(), 4);
    assert_eq!(all_records(&log), records[..4]);
    assert!(fs.contents(&seg_path(bases[1], ".log")).is_none());
}

#[test]
fn leftover_files_are_finished_and_strays_skipped() {
    let fs = FaultyFileSystem::new();
    let (config, records) = populated(&fs);
    let d = dir();
    for name in [
        "00000000000000000099.log.deleted",
        "00000000000000000099.log.cleaned",
        "00000000000000000099.index.swap",
        "partition.metadata.tmp",
        "00000000000000000777.index",
    ] {
        fs.put_file(&d.join(name), b"junk").unwrap();
    }
    fs.put_file(&d.join("notes.txt"), b"keep me").unwrap();
    fs.put_file(&d.join("leader-epoch-checkpoint"), b"0\n0\n")
        .unwrap();
    let log = open(&fs, config, false);
    assert_eq!(all_records(&log), records);
    let mut names: Vec<String> = fs
        .read_dir(&d)
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .filter(|n| !n.ends_with("index") && !n.ends_with(".log") && !n.ends_with(".snapshot"))
        .collect();
    names.sort();
    assert_eq!(names, ["leader-epoch-checkpoint", "notes.txt"]);
}

#[test]
fn a_swap_file_replaces_the_segments_it_covers() {
    let fs = FaultyFileSystem::new();
    let (config, _records) = populated(&fs);
    let bases = open(&fs, config.clone(), false).segment_base_offsets();
    // A "compacted" replacement for the first two segments: one batch per original segment.
    let mut compacted = Vec::new();
    for (i, base) in bases[..2].iter().enumerate() {
        let mut b = batch(Compression::None, 1, 0, 500 + i as u32).to_vec();
        b[..8].copy_from_slice(&base.to_be_bytes());
        compacted.extend(b);
    }
    // Offsets stop at bases[1], so only segment 0 is replaced ... make it reach bases[2] - 1.
    let mut last = batch(Compression::None, 1, 0, 502).to_vec();
    last[..8].copy_from_slice(&(bases[2] - 1).to_be_bytes());
    compacted.extend(last);
    fs.put_file(&seg_path(0, ".log.swap"), &compacted).unwrap();
    let log = open(&fs, config, false);
    assert_eq!(
        log.segment_base_offsets(),
        [[0].as_slice(), &bases[2..]].concat()
    );
    let first = all_records(&log);
    assert_eq!(first[0], (0, "v500-0".to_string()));
    assert_eq!(first[1], (bases[1], "v501-0".to_string()));
    assert_eq!(first[2], (bases[2] - 1, "v502-0".to_string()));
    assert!(fs.contents(&seg_path(0, ".log.swap")).is_none());
    assert!(fs.contents(&seg_path(bases[1], ".log")).is_none());
}

#[test]
fn a_directory_that_is_a_file_is_a_clear_error() {
    let fs = FaultyFileSystem::new();
    fs.create_dir_all(Path::new("/data")).unwrap();
    fs.put_file(&dir(), b"oops").unwrap();
    let err = Log::open(fs.shared(), dir(), LogConfig::default(), true, 0).unwrap_err();
    assert!(err.to_string().contains(DIR), "{err}");
}

#[test]
fn prepare_flush_is_free_when_nothing_is_dirty() {
    let fs = FaultyFileSystem::new();
    let mut log = open(&fs, LogConfig::default(), false);
    let syncs = fs.sync_count();
    let pending = log.prepare_flush().unwrap();
    assert!(pending.is_empty());
    assert_eq!(pending.sync().unwrap(), 0);
    assert_eq!(fs.sync_count(), syncs);
    log.append(batch(Compression::None, 3, 0, 0), 0).unwrap();
    let pending = log.prepare_flush().unwrap();
    assert!(!pending.is_empty());
    assert_eq!(pending.end_offset(), 3);
    // More appends between prepare and mark do not count as flushed.
    log.append(batch(Compression::None, 2, 0, 1), 0).unwrap();
    log.complete_flush(pending.sync()).unwrap();
    assert_eq!(fs.sync_count(), syncs + 1);
    assert_eq!(log.flushed_offset(), 3);
    log.flush().unwrap();
    assert_eq!(log.flushed_offset(), 5);
}

#[test]
fn flushed_data_survives_a_crash_and_unflushed_data_may_not() {
    let fs = FaultyFileSystem::new();
    let mut log = open(&fs, LogConfig::default(), false);
    log.append(batch(Compression::None, 3, 0, 0), 0).unwrap();
    log.flush().unwrap();
    log.append(batch(Compression::None, 3, 0, 1), 0).unwrap();
    drop(log);
    fs.crash(CrashMode::LoseUnsynced);
    let log = open(&fs, LogConfig::default(), true);
    assert_eq!(log.log_end_offset(), 3);
}

#[test]
fn maybe_flush_follows_flush_messages_and_flush_ms() {
    let fs = FaultyFileSystem::new();
    let config = LogConfig {
        flush_messages: Some(5),
        ..LogConfig::default()
    };
    let mut log = open(&fs, config, false);
    log.append(batch(Compression::None, 4, 0, 0), 0).unwrap();
    log.maybe_flush(0).unwrap();
    assert_eq!(log.flushed_offset(), 0);
    log.append(batch(Compression::None, 1, 0, 1), 0).unwrap();
    log.maybe_flush(0).unwrap();
    assert_eq!(log.flushed_offset(), 5);

    let fs = FaultyFileSystem::new();
    let config = LogConfig {
        flush_ms: Some(100),
        ..LogConfig::default()
    };
    let mut log = open(&fs, config, false);
    log.append(batch(Compression::None, 1, 0, 0), 0).unwrap();
    log.maybe_flush(99).unwrap();
    assert_eq!(log.flushed_offset(), 0);
    log.maybe_flush(100).unwrap();
    assert_eq!(log.flushed_offset(), 1);
}

#[test]
fn running_out_of_space_stops_writes_keeps_reads_and_loses_nothing_acknowledged() {
    let fs = FaultyFileSystem::new();
    let mut log = open(&fs, LogConfig::default(), false);
    log.append(batch(Compression::None, 2, 0, 0), 0).unwrap();
    fs.set_write_budget(Some(20));
    let err = log
        .append(batch(Compression::None, 2, 0, 1), 0)
        .unwrap_err();
    assert_eq!(err.error_code(), KAFKA_STORAGE_ERROR);
    assert!(log.is_offline());
    fs.set_write_budget(None);
    let err = log
        .append(batch(Compression::None, 2, 0, 2), 0)
        .unwrap_err();
    assert!(
        matches!(err, AppendError::Storage(LogError::Offline { .. })),
        "{err}"
    );
    assert!(matches!(log.health(), LogHealth::ReadOnly(_)));
    // What was written before the disk filled is still read (up to the log end offset,
    // never the torn bytes past it) and can still be made durable.
    assert_eq!(log.log_end_offset(), 2);
    let read = log.read(0, 1 << 20, true, i64::MAX).unwrap();
    assert_eq!(read.next_fetch_offset, 2);
    log.flush().unwrap();
    assert_eq!(log.flushed_offset(), 2);
    drop(log);
    let mut log = open(&fs, LogConfig::default(), true);
    assert_eq!(all_records(&log).len(), 2);
    assert_eq!(
        log.append(batch(Compression::None, 1, 0, 3), 0)
            .unwrap()
            .base_offset,
        2
    );
}

#[test]
fn a_failed_fsync_takes_the_log_offline() {
    let fs = FaultyFileSystem::new();
    let mut log = open(&fs, LogConfig::default(), false);
    log.append(batch(Compression::None, 2, 0, 0), 0).unwrap();
    fs.set_fail_sync(true);
    let err = log.flush().unwrap_err();
    assert!(err.to_string().contains("fsync failed"), "{err}");
    assert!(log.is_offline());
    assert!(matches!(log.health(), LogHealth::Offline(_)));
    assert_eq!(log.flushed_offset(), 0);
    // The disk recovers, but no later fsync may vouch for the pages the failed one lost:
    // the log stays offline, reads included, and the flushed offset never moves.
    fs.set_fail_sync(false);
    assert!(log.flush().is_err());
    assert!(log.prepare_flush().is_err());
    assert!(log.read(0, 1 << 20, true, i64::MAX).is_err());
    assert!(log.append(batch(Compression::None, 1, 0, 1), 0).is_err());
    assert_eq!(log.flushed_offset(), 0);
}

#[test]
fn a_failed_fsync_in_a_group_commit_takes_the_log_offline() {
    let fs = FaultyFileSystem::new();
    let mut log = open(&fs, LogConfig::default(), false);
    log.append(batch(Compression::None, 2, 0, 0), 0).unwrap();
    let pending = log.prepare_flush().unwrap();
    fs.set_fail_sync(true);
    let result = pending.sync();
    fs.set_fail_sync(false);
    assert!(log.complete_flush(result).is_err());
    assert_eq!(log.flushed_offset(), 0);
    assert!(matches!(log.health(), LogHealth::Offline(_)));
    assert!(log.prepare_flush().is_err());
}

#[test]
fn delete_renames_then_removes_the_directory() {
    let fs = FaultyFileSystem::new();
    let mut log = open(&fs, LogConfig::default(), false);
    log.append(batch(Compression::None, 2, 0, 0), 0).unwrap();
    log.delete().unwrap();
    assert!(!fs.exists(&dir()).unwrap());
    assert!(fs.read_dir(Path::new("/data")).unwrap().is_empty());
}

#[test]
fn the_real_file_system_round_trips_a_log() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("events-3");
    let config = LogConfig {
        segment_bytes: 1_000,
        ..LogConfig::default()
    };
    let mut log = Log::open(
        StdFileSystem::shared(),
        path.clone(),
        config.clone(),
        false,
        0,
    )
    .unwrap();
    for i in 0..20 {
        log.append(batch(Compression::Snappy, 3, i, i as u32), 0)
            .unwrap();
    }
    log.flush().unwrap();
    let records = all_records(&log);
    assert_eq!(
        log.topic_partition(),
        Some(TopicPartition::new("events", 3))
    );
    log.close().unwrap();
    let log = Log::open(StdFileSystem::shared(), path.clone(), config, false, 0).unwrap();
    assert!(log.segment_count() > 1);
    assert_eq!(all_records(&log), records);
    log.delete().unwrap();
    assert!(!path.exists());
}

#[test]
fn randomly_damaged_files_give_errors_or_a_shorter_log_never_a_panic() {
    let pristine = FaultyFileSystem::new();
    let (config, records) = populated(&pristine);
    let files: Vec<_> = pristine.file_paths();
    let active_log = seg_path(active_base(&pristine, &config), ".log");
    let mut state = 0xdead_beef_u64;
    let mut next = || {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x2545_f491_4f6c_dd1d)
    };
    for round in 0..300 {
        let fs = FaultyFileSystem::new();
        for path in &files {
            fs.create_dir_all(path.parent().unwrap()).unwrap();
            fs.put_file(path, &pristine.contents(path).unwrap())
                .unwrap();
        }
        let victim = &files[(next() % files.len() as u64) as usize];
        let len = fs.file_len(victim).unwrap().max(1);
        match next() % 3 {
            0 => fs.truncate(victim, next() % len).unwrap(),
            1 => fs
                .corrupt(victim, next() % len, &next().to_be_bytes())
                .unwrap(),
            _ => fs.corrupt(victim, len, &next().to_le_bytes()).unwrap(),
        }
        let recover = round % 2 == 0;
        if let Ok(log) = Log::open(fs.shared(), dir(), config.clone(), recover, 0) {
            // Whatever loaded must read back as a prefix of the original records, or fail
            // with an error; never panic.
            let mut offset = log.log_start_offset();
            let mut seen = Vec::new();
            while offset < log.log_end_offset() {
                let Ok(result) = log.read(offset, 500, true, i64::MAX) else {
                    break;
                };
                if result.records.is_empty() {
                    break;
                }
                for batch in strom_records::RecordBatch::iter(result.records.clone()).flatten() {
                    for r in batch.records().unwrap_or_default() {
                        if r.offset() >= offset {
                            seen.push((
                                r.offset(),
                                String::from_utf8_lossy(r.value.as_deref().unwrap_or_default())
                                    .into_owned(),
                            ));
                        }
                    }
                }
                offset = result.next_fetch_offset;
            }
            // Damage inside an inactive segment goes unnoticed until read, as in Kafka
            // (consumers check CRCs); damage to the active segment is cut by recovery.
            if recover && *victim == active_log {
                assert_eq!(
                    seen,
                    records[..seen.len()],
                    "round {round}: {}",
                    victim.display()
                );
            }
        }
    }
}
