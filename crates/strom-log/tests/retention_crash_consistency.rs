//! Crash consistency of segment deletion and DeleteRecords through `FaultyFileSystem`: stop
//! the operation at every rename, removal and checkpoint byte, crash in several ways,
//! reopen through the log manager, and check that
//! - the reopened log is a contiguous suffix of what was appended, every record from its
//!   log start offset on readable, nothing below it;
//! - an acknowledged DeleteRecords offset is never lost, and the log start offset is
//!   never beyond what was asked for (an unacknowledged request may or may not have
//!   taken effect, as with any storage system);
//! - no `.deleted` or `.tmp` file is left behind, and nothing panics.

use std::path::{Path, PathBuf};

use strom_log::{
    BrokerIdentity, CrashMode, FaultyFileSystem, Log, LogConfig, LogManager, TopicPartition,
    LOG_START_OFFSET_CHECKPOINT_FILE, OFFSET_OUT_OF_RANGE,
};
use strom_records::{BatchBuilder, Compression, RecordBatch, TimestampType};

const BATCHES: i64 = 30;

fn config() -> LogConfig {
    LogConfig {
        segment_bytes: 400,
        index_interval_bytes: 100,
        retention_ms: Some(10_000),
        retention_bytes: None,
        ..LogConfig::default()
    }
}

fn tp() -> TopicPartition {
    TopicPartition::new("orders", 0)
}

fn open(fs: &FaultyFileSystem) -> (LogManager, Log) {
    let identity = BrokerIdentity {
        node_id: 0,
        cluster_id: "c".into(),
    };
    let mut loaded = LogManager::open(
        fs.shared(),
        vec![PathBuf::from("/kafka")],
        &identity,
        &|_| config(),
        0,
    )
    .unwrap_or_else(|e| panic!("reopen failed: {e}"));
    let log = match loaded.logs.remove(&tp()) {
        Some(log) => log,
        None => loaded.manager.create_log(&tp(), config(), 0).unwrap(),
    };
    (loaded.manager, log)
}

/// Batch `i` holds offsets `2i`, `2i+1`, valued `v<i>-0`, `v<i>-1`, at time `1000 i`.
fn populated() -> (FaultyFileSystem, LogManager, Log) {
    let fs = FaultyFileSystem::new();
    let (manager, mut log) = open(&fs);
    for i in 0..BATCHES {
        let mut b = BatchBuilder::new(Compression::None, TimestampType::CreateTime);
        for j in 0..2 {
            b.append(i * 1_000, None, Some(format!("v{i}-{j}").as_bytes()), &[]);
        }
        log.append(b.build(0), 0).unwrap();
    }
    log.flush().unwrap();
    assert!(log.segment_count() > 5, "the test needs many segments");
    (fs, manager, log)
}

fn expected_value(offset: i64) -> String {
    format!("v{}-{}", offset / 2, offset % 2)
}

/// Checks the invariants every reopened log must satisfy.
fn check(fs: &FaultyFileSystem, log: &Log, context: &str) {
    let start = log.log_start_offset();
    assert_eq!(
        log.log_end_offset(),
        2 * BATCHES,
        "{context}: log end offset"
    );
    assert!(
        log.segment_base_offsets()[0] <= start,
        "{context}: the first segment starts after the log start offset"
    );
    if start > 0 {
        let err = log.read(start - 1, 1 << 20, true, i64::MAX).unwrap_err();
        assert_eq!(err.error_code(), OFFSET_OUT_OF_RANGE, "{context}");
    }
    let mut offset = start;
    let mut next_expected = start;
    while offset < log.log_end_offset() {
        let read = log
            .read(offset, 1_000, true, i64::MAX)
            .unwrap_or_else(|e| panic!("{context}: read at {offset}: {e}"));
        assert!(
            !read.records.is_empty(),
            "{context}: empty read at {offset}"
        );
        for batch in RecordBatch::iter(read.records) {
            for r in batch.unwrap().records().unwrap() {
                if r.offset() < start {
                    continue;
                }
                assert_eq!(r.offset(), next_expected, "{context}: gap in the log");
                let offset = r.offset();
                let value = String::from_utf8(r.value.unwrap().to_vec()).unwrap();
                assert_eq!(value, expected_value(offset), "{context}");
                next_expected += 1;
            }
        }
        offset = read.next_fetch_offset;
    }
    assert_eq!(next_expected, 2 * BATCHES, "{context}: the log ends early");
    if let Some(first) = log.offset_for_timestamp(0).unwrap() {
        assert_eq!(
            first.offset, start,
            "{context}: timestamp lookup below the start"
        );
    }
    let leftovers: Vec<PathBuf> = fs
        .file_paths()
        .into_iter()
        .filter(|p| {
            let name = p.to_string_lossy();
            name.ends_with(".deleted") || name.ends_with(".tmp")
        })
        .collect();
    assert_eq!(leftovers, Vec::<PathBuf>::new(), "{context}: leftovers");
}

const MODES: [CrashMode; 4] = [
    CrashMode::LoseUnsynced,
    CrashMode::KeepUnsyncedPrefix(5),
    CrashMode::TearLastWrite { keep_bytes: 3 },
    CrashMode::ZeroUnsynced,
];

#[derive(Debug, Clone, Copy)]
enum Fault {
    RenamesAfter(u64),
    RemovalsAfter(u64),
    WriteBudget(u64),
    FailSync,
}

fn inject(fs: &FaultyFileSystem, fault: Fault) {
    match fault {
        Fault::RenamesAfter(n) => fs.fail_renames_after(Some(n)),
        Fault::RemovalsAfter(n) => fs.fail_removals_after(Some(n)),
        Fault::WriteBudget(n) => fs.set_write_budget(Some(n)),
        Fault::FailSync => fs.set_fail_sync(true),
    }
}

fn clear(fs: &FaultyFileSystem) {
    fs.fail_renames_after(None);
    fs.fail_removals_after(None);
    fs.set_write_budget(None);
    fs.set_fail_sync(false);
}

/// Where retention at `now` takes the log start offset when nothing fails.
fn planned_retention_start(now: i64) -> i64 {
    let (_fs, _manager, mut log) = populated();
    log.delete_old_segments(i64::MAX, now).unwrap();
    log.log_start_offset()
}

#[test]
fn a_crash_at_any_step_of_segment_deletion_reopens_to_a_consistent_log() {
    let now = 25_000;
    let planned = planned_retention_start(now);
    assert!(planned > 0);
    let mut faults = Vec::new();
    for n in 0..40 {
        faults.push(Fault::RenamesAfter(n));
        faults.push(Fault::RemovalsAfter(n));
    }
    // (failed, and the log start moved anyway) outcomes seen.
    let mut outcomes = std::collections::BTreeSet::new();
    for fault in faults {
        for mode in MODES {
            let context = format!("{fault:?}, {mode:?}");
            let (fs, manager, mut log) = populated();
            inject(&fs, fault);
            let result = log.delete_old_segments(i64::MAX, now);
            assert_eq!(result.is_err(), log.is_offline(), "{context}");
            drop((manager, log));
            fs.crash(mode);
            clear(&fs);

            let (_manager, mut log) = open(&fs);
            check(&fs, &log, &context);
            let start = log.log_start_offset();
            assert!(
                start <= planned,
                "{context}: log start {start} beyond {planned}"
            );
            if result.is_ok() {
                assert_eq!(start, planned, "{context}");
            }
            outcomes.insert((result.is_err(), start > 0));
            // Retention finishes the job after the restart.
            log.delete_old_segments(i64::MAX, now).unwrap();
            assert_eq!(log.log_start_offset(), planned, "{context}");
            check(&fs, &log, &format!("{context}, after retention again"));
        }
    }
    // Crashes before any rename, after some, and no failure at all all happened.
    assert_eq!(
        outcomes.into_iter().collect::<Vec<_>>(),
        [(false, true), (true, false), (true, true)]
    );
}

#[test]
fn a_crash_during_delete_records_never_loses_an_acknowledged_log_start_nor_exposes_deleted_records()
{
    let checkpoint = Path::new("/kafka").join(LOG_START_OFFSET_CHECKPOINT_FILE);
    let mut faults = vec![Fault::FailSync];
    for n in 0..12 {
        faults.push(Fault::RenamesAfter(n));
        faults.push(Fault::RemovalsAfter(n));
    }
    // Tear the checkpoint's temporary file at every byte.
    for n in 0..20 {
        faults.push(Fault::WriteBudget(n));
    }
    // (failed, took effect) outcomes seen.
    let mut outcomes = std::collections::BTreeSet::new();
    for fault in faults {
        for mode in MODES {
            let context = format!("{fault:?}, {mode:?}");
            let (fs, manager, mut log) = populated();
            let bases = log.segment_base_offsets();
            let hw = log.log_end_offset();
            // An acknowledged deletion inside the second segment, then a second request
            // into the fifth, which the fault interrupts somewhere.
            let acknowledged = bases[1] + 1;
            assert_eq!(
                log.increase_log_start_offset(acknowledged, hw).unwrap(),
                acknowledged
            );
            let asked = bases[4] + 1;
            inject(&fs, fault);
            let result = log.increase_log_start_offset(asked, hw);
            assert_eq!(result.is_err(), log.is_offline(), "{context}");
            if let Ok(start) = &result {
                assert_eq!(*start, asked, "{context}");
            }
            drop((manager, log));
            fs.crash(mode);
            clear(&fs);

            let (manager, log) = open(&fs);
            check(&fs, &log, &context);
            let start = log.log_start_offset();
            if result.is_ok() {
                assert_eq!(
                    start, asked,
                    "{context}: an acknowledged log start was lost"
                );
            } else {
                assert!(
                    start == acknowledged || start == asked,
                    "{context}: log start {start}, expected {acknowledged} or {asked}"
                );
            }
            outcomes.insert((result.is_err(), start == asked));
            // The checkpoint written at shutdown reads back.
            manager.shutdown([log]).unwrap();
            let text = String::from_utf8(fs.contents(&checkpoint).unwrap()).unwrap();
            assert_eq!(text, format!("0\n1\norders 0 {start}\n"), "{context}");
            let (_manager, log) = open(&fs);
            assert_eq!(log.log_start_offset(), start, "{context}");
        }
    }
    // Failures before the checkpoint was replaced, failures after it (while deleting
    // segments), and success all happened.
    assert_eq!(
        outcomes.into_iter().collect::<Vec<_>>(),
        [(false, true), (true, false), (true, true)]
    );
}
