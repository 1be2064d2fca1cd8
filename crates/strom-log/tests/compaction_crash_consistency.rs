//! Crash consistency of log compaction through `FaultyFileSystem`: stop a clean at every
//! rename, removal, fsync and written byte, crash in several ways, reopen, and check that
//! the log reads back as a valid compaction of what was appended:
//! - offsets strictly increase, every batch has a valid CRC, and every record is the
//!   record appended at that offset (nothing invented, no offset twice);
//! - every key's latest record is there, and so is everything in the active segment;
//! - no `.cleaned`, `.swap` or `.deleted` file is left, and nothing panics;
//! - cleaning again gives exactly the compaction an uninterrupted clean gives.

use std::collections::BTreeMap;
use std::path::PathBuf;

use strom_log::{CrashMode, FaultyFileSystem, Log, LogConfig};
use strom_records::{BatchBuilder, Compression, RecordBatch, TimestampType};

const RECORDS: i64 = 60;
const KEYS: i64 = 7;

fn config() -> LogConfig {
    LogConfig {
        segment_bytes: 400,
        index_interval_bytes: 100,
        retention_ms: None,
        compact: true,
        min_cleanable_dirty_ratio: 0.0,
        ..LogConfig::default()
    }
}

fn dir() -> PathBuf {
    PathBuf::from("/kafka/orders-0")
}

type Rec = (i64, Option<Vec<u8>>, Option<Vec<u8>>);

/// Record `i`: key `k<i % KEYS>`, value `v<i>`, except that every 11th is a tombstone.
fn record(i: i64) -> Rec {
    let value = (i % 11 != 10).then(|| format!("v{i}").into_bytes());
    (i, Some(format!("k{}", i % KEYS).into_bytes()), value)
}

fn populated() -> (FaultyFileSystem, Log) {
    let fs = FaultyFileSystem::new();
    let mut log = Log::open(fs.shared(), dir(), config(), false, 0).unwrap();
    for i in 0..RECORDS {
        let (_, key, value) = record(i);
        let codec = if i % 2 == 0 {
            Compression::None
        } else {
            Compression::Lz4
        };
        let mut b = BatchBuilder::new(codec, TimestampType::CreateTime);
        b.append(i, key.as_deref(), value.as_deref(), &[]);
        log.append(b.build(0), 0).unwrap();
    }
    log.flush().unwrap();
    assert!(log.segment_count() > 5, "the test needs many segments");
    (fs, log)
}

fn records(log: &Log, context: &str) -> Vec<Rec> {
    let mut out = Vec::new();
    let mut offset = log.log_start_offset();
    let mut last = -1;
    while offset < log.log_end_offset() {
        let read = log
            .read(offset, 1 << 20, true, i64::MAX)
            .unwrap_or_else(|e| panic!("{context}: read at {offset}: {e}"));
        assert!(
            !read.records.is_empty(),
            "{context}: empty read at {offset}"
        );
        for batch in RecordBatch::iter(read.records) {
            let batch = batch.unwrap_or_else(|e| panic!("{context}: {e}"));
            assert!(
                batch.is_valid_crc(),
                "{context}: CRC at {}",
                batch.base_offset()
            );
            for r in batch.records().unwrap() {
                assert!(
                    r.offset() > last,
                    "{context}: offset {} after {last}",
                    r.offset()
                );
                last = r.offset();
                out.push((
                    r.offset(),
                    r.key.map(|k| k.to_vec()),
                    r.value.map(|v| v.to_vec()),
                ));
            }
        }
        offset = read.next_fetch_offset;
    }
    out
}

fn check_valid_compaction(fs: &FaultyFileSystem, log: &Log, active_base: i64, context: &str) {
    assert_eq!(log.log_end_offset(), RECORDS, "{context}: log end offset");
    assert_eq!(log.log_start_offset(), 0, "{context}: log start offset");
    let got = records(log, context);
    for r in &got {
        assert_eq!(
            *r,
            record(r.0),
            "{context}: not the record appended at {}",
            r.0
        );
    }
    let present: BTreeMap<i64, ()> = got.iter().map(|r| (r.0, ())).collect();
    let mut latest = BTreeMap::new();
    for i in 0..RECORDS {
        latest.insert(record(i).1, i);
    }
    for (key, offset) in latest {
        assert!(
            present.contains_key(&offset),
            "{context}: the latest record of {key:?} (offset {offset}) is lost"
        );
    }
    for offset in active_base..RECORDS {
        assert!(
            present.contains_key(&offset),
            "{context}: active record {offset} lost"
        );
    }
    let leftovers: Vec<PathBuf> = fs
        .file_paths()
        .into_iter()
        .filter(|p| {
            let n = p.to_string_lossy();
            n.ends_with(".cleaned") || n.ends_with(".swap") || n.ends_with(".deleted")
        })
        .collect();
    assert_eq!(leftovers, Vec::<PathBuf>::new(), "{context}: leftovers");
}

const MODES: [CrashMode; 4] = [
    CrashMode::LoseUnsynced,
    CrashMode::KeepUnsyncedPrefix(7),
    CrashMode::TearLastWrite { keep_bytes: 5 },
    CrashMode::ZeroUnsynced,
];

#[derive(Debug, Clone, Copy)]
enum Fault {
    RenamesAfter(u64),
    RemovalsAfter(u64),
    WriteBudget(u64),
    /// Fsync and every removal failing: the clean cannot remove its own `.cleaned`
    /// output, so the loader must.
    FailSyncAndRemovals,
    FailSync,
    /// No fault: crash right after a successful clean.
    None,
}

fn inject(fs: &FaultyFileSystem, fault: Fault) {
    match fault {
        Fault::RenamesAfter(n) => fs.fail_renames_after(Some(n)),
        Fault::RemovalsAfter(n) => fs.fail_removals_after(Some(n)),
        Fault::WriteBudget(n) => fs.set_write_budget(Some(n)),
        Fault::FailSyncAndRemovals => {
            fs.set_fail_sync(true);
            fs.fail_removals_after(Some(0));
        }
        Fault::FailSync => fs.set_fail_sync(true),
        Fault::None => {}
    }
}

fn clear(fs: &FaultyFileSystem) {
    fs.fail_renames_after(None);
    fs.fail_removals_after(None);
    fs.set_write_budget(None);
    fs.set_fail_sync(false);
}

fn clean(log: &mut Log) -> Result<strom_log::CleanerStats, strom_log::LogError> {
    log.clean(i64::MAX, 1_000, 1 << 20, &mut |_| {})
}

#[test]
fn a_crash_at_any_step_of_a_clean_reopens_to_a_valid_compaction() {
    let (_fs, mut reference) = populated();
    let active_base = *reference.segment_base_offsets().last().unwrap();
    let stats = clean(&mut reference).unwrap();
    let planned = records(&reference, "reference");
    assert!(planned.len() < RECORDS as usize);
    let groups = stats.segments_written;

    let mut faults = vec![Fault::FailSync, Fault::FailSyncAndRemovals, Fault::None];
    for n in 0..(groups * 6 + 2) {
        faults.push(Fault::RenamesAfter(n));
    }
    for n in 0..(stats.segments_cleaned * 3 + 2) {
        faults.push(Fault::RemovalsAfter(n));
    }
    let written = stats.bytes_written + 64 * groups;
    let mut n = 0;
    while n < written {
        faults.push(Fault::WriteBudget(n));
        n += 23;
    }
    let mut outcomes = std::collections::BTreeSet::new();
    // Which kinds of leftovers the crashes left for the loader.
    let mut leftovers_seen = std::collections::BTreeSet::new();
    for fault in faults {
        for mode in MODES {
            let context = format!("{fault:?}, {mode:?}");
            let (fs, mut log) = populated();
            inject(&fs, fault);
            let result = clean(&mut log);
            assert_eq!(result.is_err(), log.is_offline(), "{context}: {result:?}");
            outcomes.insert(result.is_err());
            drop(log);
            fs.crash(mode);
            clear(&fs);
            for path in fs.file_paths() {
                let name = path.to_string_lossy();
                for suffix in [".log.cleaned", ".log.swap", ".log.deleted"] {
                    if name.ends_with(suffix) {
                        leftovers_seen.insert(suffix);
                    }
                }
            }

            let mut log = Log::open(fs.shared(), dir(), config(), true, 0)
                .unwrap_or_else(|e| panic!("{context}: reopen failed: {e}"));
            check_valid_compaction(&fs, &log, active_base, &context);
            if result.is_ok() {
                assert_eq!(records(&log, &context), planned, "{context}");
            }
            // The next clean finishes the job.
            clean(&mut log).unwrap_or_else(|e| panic!("{context}: clean after reopen: {e}"));
            check_valid_compaction(&fs, &log, active_base, &context);
            assert_eq!(
                records(&log, &context),
                planned,
                "{context}: after cleaning again"
            );
            drop(log);
            let log = Log::open(fs.shared(), dir(), config(), true, 0).unwrap();
            assert_eq!(
                records(&log, &context),
                planned,
                "{context}: reopened again"
            );
        }
    }
    assert_eq!(outcomes.into_iter().collect::<Vec<_>>(), [false, true]);
    assert_eq!(
        leftovers_seen.into_iter().collect::<Vec<_>>(),
        [".log.cleaned", ".log.deleted", ".log.swap"]
    );
}
