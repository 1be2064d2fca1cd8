//! The directory's `cleaner-offset-checkpoint`: written after every clean, read at open,
//! so that a clean after a restart (clean or crash) has a delete horizon and removes old
//! tombstones; dropped with deleted logs; a damaged file is ignored, never fatal.

use std::path::{Path, PathBuf};

use strom_records::Compression;

use crate::cleaner_tests::{config, kv, records};
use crate::*;

const DIR: &str = "/kafka";
const BIG_MAP: usize = 1 << 20;

fn tp() -> TopicPartition {
    TopicPartition::new("compacted", 0)
}

fn cleaner_file() -> PathBuf {
    Path::new(DIR).join(CLEANER_OFFSET_CHECKPOINT_FILE)
}

fn open_manager(fs: &FaultyFileSystem) -> LoadedLogs {
    LogManager::open(
        fs.shared(),
        vec![PathBuf::from(DIR)],
        &BrokerIdentity {
            node_id: 1,
            cluster_id: "4L6g3nShT-eMCtK--X86sw".into(),
        },
        &|_| config(),
        0,
    )
    .unwrap()
}

/// Records `u<from>` .. of unique keys (so segments stay full and are not merged), each
/// 1000 ms after the previous: `u<i>` at `2000 + 1000 i`.
fn append_unique(log: &mut Log, from: i64, n: i64) {
    for i in from..from + n {
        let key = format!("u{i}");
        log.append(
            kv(Compression::None, &[(&key, Some("x"))], 2_000 + 1_000 * i),
            0,
        )
        .unwrap();
    }
}

fn has_tombstone(log: &Log) -> bool {
    records(log)
        .iter()
        .any(|r| r.1.as_deref() == Some("gone") && r.2.is_none())
}

fn clean(log: &mut Log) -> CleanerStats {
    log.clean(i64::MAX, i64::MAX / 2, BIG_MAP, &mut |_| {})
        .unwrap()
}

fn file_text(fs: &FaultyFileSystem) -> String {
    String::from_utf8(fs.contents(&cleaner_file()).unwrap()).unwrap()
}

/// A managed log where key `gone` was written then deleted by a tombstone (timestamp
/// 1000), followed by 30 unique keys, cleaned once. The first clean has no clean section,
/// hence no delete horizon: the tombstone stays. Returns the manager, the log and where
/// the clean ended.
fn cleaned_once(fs: &FaultyFileSystem) -> (LogManager, Log, i64) {
    let loaded = open_manager(fs);
    let mut log = loaded.manager.create_log(&tp(), config(), 0).unwrap();
    log.append(kv(Compression::None, &[("gone", Some("old"))], 1_000), 0)
        .unwrap();
    log.append(kv(Compression::None, &[("gone", None)], 1_000), 0)
        .unwrap();
    append_unique(&mut log, 0, 30);
    let stats = clean(&mut log);
    assert_eq!(stats.tombstones_removed, 0);
    assert!(has_tombstone(&log));
    assert!(!records(&log).iter().any(|r| r.2.as_deref() == Some("old")));
    let end = log.cleaner_checkpoint();
    assert_eq!(stats.end_offset, end);
    assert!(end > 2);
    assert_eq!(file_text(fs), format!("0\n1\ncompacted 0 {end}\n"));
    (loaded.manager, log, end)
}

/// Reopens the directory, checks the log starts at the persisted checkpoint, appends
/// newer data and cleans: the tombstone, older than delete.retention.ms by the horizon of
/// the clean section, goes.
fn second_clean_removes_the_tombstone(fs: &FaultyFileSystem, checkpoint: i64) {
    let mut loaded = open_manager(fs);
    assert!(loaded.offline_dirs.is_empty());
    let mut log = loaded.logs.remove(&tp()).unwrap();
    assert_eq!(log.cleaner_checkpoint(), checkpoint);
    assert!(has_tombstone(&log));
    append_unique(&mut log, 100, 30);
    let status = log.cleaning_status(i64::MAX, i64::MAX / 2).unwrap();
    assert!(status.delete_horizon_ms.is_some());
    let stats = clean(&mut log);
    assert_eq!(stats.tombstones_removed, 1);
    assert!(!has_tombstone(&log));
    let end = log.cleaner_checkpoint();
    assert!(end > checkpoint);
    assert_eq!(file_text(fs), format!("0\n1\ncompacted 0 {end}\n"));
}

#[test]
fn the_cleaner_checkpoint_survives_a_clean_restart_and_old_tombstones_go_at_the_next_clean() {
    let fs = FaultyFileSystem::new();
    let (manager, log, checkpoint) = cleaned_once(&fs);
    manager.shutdown([log]).unwrap();
    second_clean_removes_the_tombstone(&fs, checkpoint);
}

#[test]
fn the_cleaner_checkpoint_survives_a_crash_and_old_tombstones_go_at_the_next_clean() {
    for mode in [
        CrashMode::LoseUnsynced,
        CrashMode::KeepUnsyncedPrefix(7),
        CrashMode::TearLastWrite { keep_bytes: 5 },
        CrashMode::ZeroUnsynced,
    ] {
        let fs = FaultyFileSystem::new();
        let (manager, log, checkpoint) = cleaned_once(&fs);
        drop(log);
        drop(manager);
        fs.crash(mode);
        second_clean_removes_the_tombstone(&fs, checkpoint);
    }
}

#[test]
fn without_the_checkpoint_file_the_first_clean_after_a_restart_keeps_the_tombstone() {
    // The control for the two tests above: the same history, the file lost.
    let fs = FaultyFileSystem::new();
    let (manager, log, _) = cleaned_once(&fs);
    manager.shutdown([log]).unwrap();
    fs.remove_file(&cleaner_file()).unwrap();
    let mut loaded = open_manager(&fs);
    let mut log = loaded.logs.remove(&tp()).unwrap();
    assert_eq!(log.cleaner_checkpoint(), log.log_start_offset());
    append_unique(&mut log, 100, 30);
    assert_eq!(clean(&mut log).tombstones_removed, 0);
    assert!(has_tombstone(&log));
}

#[test]
fn an_entry_outside_the_log_means_nothing_cleaned() {
    let fs = FaultyFileSystem::new();
    let (manager, log, _) = cleaned_once(&fs);
    let end = log.log_end_offset();
    manager.shutdown([log]).unwrap();
    fs.put_file(
        &cleaner_file(),
        format!("0\n1\ncompacted 0 {}\n", end + 1).as_bytes(),
    )
    .unwrap();
    let mut loaded = open_manager(&fs);
    let log = loaded.logs.remove(&tp()).unwrap();
    assert_eq!(log.cleaner_checkpoint(), log.log_start_offset());
}

#[test]
fn a_damaged_cleaner_checkpoint_is_ignored_and_the_log_stays_online() {
    for damage in [
        &b"0\n2\ncompacted 0 5\n"[..],
        b"garbage",
        b"0\n1\ncompacted 0 -3\n",
        b"",
    ] {
        let fs = FaultyFileSystem::new();
        let (manager, log, _) = cleaned_once(&fs);
        manager.shutdown([log]).unwrap();
        fs.put_file(&cleaner_file(), damage).unwrap();
        let mut loaded = open_manager(&fs);
        assert!(loaded.offline_dirs.is_empty(), "{damage:?}");
        assert_eq!(loaded.manager.log_dirs().len(), 1);
        let mut log = loaded.logs.remove(&tp()).unwrap();
        assert!(!log.is_offline());
        // Nothing counts as cleaned: safe, the next clean only rereads the log ...
        assert_eq!(log.cleaner_checkpoint(), log.log_start_offset());
        append_unique(&mut log, 100, 30);
        clean(&mut log);
        // ... and replaces the damaged file.
        let end = log.cleaner_checkpoint();
        assert_eq!(file_text(&fs), format!("0\n1\ncompacted 0 {end}\n"));
    }
    // Unlike a damaged log start offset checkpoint, which takes the directory offline.
    let fs = FaultyFileSystem::new();
    let (manager, log, _) = cleaned_once(&fs);
    manager.shutdown([log]).unwrap();
    fs.put_file(
        &Path::new(DIR).join(LOG_START_OFFSET_CHECKPOINT_FILE),
        b"garbage",
    )
    .unwrap();
    let err = LogManager::open(
        fs.shared(),
        vec![PathBuf::from(DIR)],
        &BrokerIdentity {
            node_id: 1,
            cluster_id: "4L6g3nShT-eMCtK--X86sw".into(),
        },
        &|_| config(),
        0,
    )
    .unwrap_err();
    assert!(matches!(err, LogError::NoLogDirs { .. }), "{err}");
}

#[test]
fn a_failed_checkpoint_write_after_a_clean_keeps_the_previous_checkpoint() {
    // Fail the n-th rename of the second clean, for every n until the clean succeeds with
    // its checkpoint written; crash; reopen. The file is always readable and holds the
    // first or the second clean's end; when only the checkpoint's own rename failed, the
    // clean succeeded and the log stayed online.
    let mut checkpoint_write_failed_alone = false;
    for n in 0.. {
        let fs = FaultyFileSystem::new();
        let (_manager, mut log, first) = cleaned_once(&fs);
        append_unique(&mut log, 100, 30);
        fs.fail_renames_after(Some(n));
        let result = log.clean(i64::MAX, i64::MAX / 2, BIG_MAP, &mut |_| {});
        fs.fail_renames_after(None);
        let second = log.cleaner_checkpoint();
        let on_disk = file_text(&fs);
        let written = on_disk == format!("0\n1\ncompacted 0 {second}\n");
        if result.is_ok() && !written {
            assert_eq!(on_disk, format!("0\n1\ncompacted 0 {first}\n"));
            assert!(!log.is_offline());
            checkpoint_write_failed_alone = true;
        }
        drop(log);
        fs.crash(CrashMode::LoseUnsynced);
        let mut loaded = open_manager(&fs);
        assert!(loaded.offline_dirs.is_empty());
        let log = loaded.logs.remove(&tp()).unwrap();
        let reopened = log.cleaner_checkpoint();
        assert!(
            reopened == first || (result.is_ok() && written && reopened == second),
            "n={n}: reopened at {reopened}, first {first}, second {second}"
        );
        if result.is_ok() && written {
            break;
        }
        assert!(n < 2_000, "the clean never succeeded");
    }
    assert!(checkpoint_write_failed_alone);
}

#[test]
fn deleting_a_log_drops_its_entry_and_open_prunes_entries_of_missing_partitions() {
    let fs = FaultyFileSystem::new();
    let (manager, log, _) = cleaned_once(&fs);
    manager.delete_log(log).unwrap();
    assert_eq!(file_text(&fs), "0\n0\n");

    let fs = FaultyFileSystem::new();
    let (manager, log, _) = cleaned_once(&fs);
    let dir = log.dir().to_path_buf();
    manager.shutdown([log]).unwrap();
    fs.remove_dir_all(&dir).unwrap();
    let loaded = open_manager(&fs);
    assert!(loaded.logs.is_empty());
    assert_eq!(file_text(&fs), "0\n0\n");
}
