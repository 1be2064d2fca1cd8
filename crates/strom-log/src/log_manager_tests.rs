//! [`LogManager`]: directory identity, discovery of partitions, clean shutdown marker.

use std::path::{Path, PathBuf};

use strom_records::Compression;

use crate::test_support::batch;
use crate::*;

fn identity() -> BrokerIdentity {
    BrokerIdentity {
        node_id: 1,
        cluster_id: "4L6g3nShT-eMCtK--X86sw".into(),
    }
}

fn dirs() -> Vec<PathBuf> {
    vec![PathBuf::from("/d1"), PathBuf::from("/d2")]
}

fn open_manager(fs: &FaultyFileSystem) -> LoadedLogs {
    LogManager::open(
        fs.shared(),
        dirs(),
        &identity(),
        &|_| LogConfig::default(),
        0,
    )
    .unwrap()
}

#[test]
fn a_fresh_start_writes_meta_properties_in_every_directory() {
    let fs = FaultyFileSystem::new();
    let loaded = open_manager(&fs);
    assert!(loaded.logs.is_empty() && loaded.offline_dirs.is_empty());
    let ids: Vec<_> = loaded
        .manager
        .log_dirs()
        .iter()
        .map(|d| d.directory_id.clone())
        .collect();
    assert_eq!(ids.len(), 2);
    assert_ne!(ids[0], ids[1]);
    for (dir, id) in dirs().iter().zip(&ids) {
        let text =
            String::from_utf8(fs.contents(&dir.join(META_PROPERTIES_FILE)).unwrap()).unwrap();
        let meta = MetaProperties::parse(&text, Path::new("m")).unwrap();
        assert_eq!(
            (meta.version, meta.node_id, meta.directory_id.as_ref()),
            (1, 1, Some(id))
        );
    }
    // The ids are stable across restarts.
    let again = open_manager(&fs);
    assert_eq!(
        again
            .manager
            .log_dirs()
            .iter()
            .map(|d| d.directory_id.clone())
            .collect::<Vec<_>>(),
        ids
    );
}

#[test]
fn another_node_id_is_refused_with_a_clear_error() {
    let fs = FaultyFileSystem::new();
    drop(open_manager(&fs));
    let other = BrokerIdentity {
        node_id: 2,
        ..identity()
    };
    let err =
        LogManager::open(fs.shared(), dirs(), &other, &|_| LogConfig::default(), 0).unwrap_err();
    assert!(
        matches!(
            err,
            LogError::NodeIdMismatch {
                found: 1,
                expected: 2,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("/d1/meta.properties"));
    let other = BrokerIdentity {
        cluster_id: "other".into(),
        ..identity()
    };
    let err =
        LogManager::open(fs.shared(), dirs(), &other, &|_| LogConfig::default(), 0).unwrap_err();
    assert!(matches!(err, LogError::ClusterIdMismatch { .. }), "{err}");
}

#[test]
fn logs_are_created_in_the_emptiest_directory_and_found_again_after_a_restart() {
    let fs = FaultyFileSystem::new();
    let loaded = open_manager(&fs);
    let manager = loaded.manager;
    let topics = [
        TopicPartition::new("a-b.c", 0),
        TopicPartition::new("a-b.c", 1),
        TopicPartition::new("x", 7),
    ];
    let mut logs = Vec::new();
    for tp in &topics {
        let mut log = manager.create_log(tp, LogConfig::default(), 0).unwrap();
        log.append(batch(Compression::None, 2, 0, 0), 0).unwrap();
        logs.push(log);
    }
    let parents: Vec<_> = logs
        .iter()
        .map(|l| l.dir().parent().unwrap().to_path_buf())
        .collect();
    assert_eq!(
        parents,
        [
            PathBuf::from("/d1"),
            PathBuf::from("/d2"),
            PathBuf::from("/d1")
        ]
    );
    manager.shutdown(logs).unwrap();
    assert!(fs.contents(Path::new("/d1/.kafka_cleanshutdown")).is_some());
    assert!(fs.contents(Path::new("/d2/.kafka_cleanshutdown")).is_some());

    let loaded = open_manager(&fs);
    assert_eq!(loaded.logs.keys().cloned().collect::<Vec<_>>(), topics);
    assert!(loaded.logs.values().all(|l| l.log_end_offset() == 2));
    // The marker is consumed at start-up: a crash from now on means recovery.
    assert!(fs.contents(Path::new("/d1/.kafka_cleanshutdown")).is_none());
}

#[test]
fn without_the_marker_logs_are_recovered() {
    let fs = FaultyFileSystem::new();
    let loaded = open_manager(&fs);
    let tp = TopicPartition::new("t", 0);
    let mut log = loaded
        .manager
        .create_log(&tp, LogConfig::default(), 0)
        .unwrap();
    log.append(batch(Compression::None, 2, 0, 0), 0).unwrap();
    log.append(batch(Compression::None, 2, 0, 1), 0).unwrap();
    log.flush().unwrap();
    let log_file = log.dir().join(segment_file_name(0, ".log"));
    drop(log);
    // Tear the second batch: only recovery finds it, as the index says nothing about it.
    let len = fs.file_len(&log_file).unwrap();
    fs.truncate(&log_file, len - 4).unwrap();
    let loaded = open_manager(&fs);
    assert_eq!(loaded.logs[&tp].log_end_offset(), 2);
}

#[test]
fn interrupted_deletions_are_finished_and_strays_skipped() {
    let fs = FaultyFileSystem::new();
    drop(open_manager(&fs));
    fs.create_dir_all(Path::new("/d1/t-0.0123abcd-delete"))
        .unwrap();
    fs.put_file(
        Path::new("/d1/t-0.0123abcd-delete/00000000000000000000.log"),
        b"",
    )
    .unwrap();
    fs.create_dir_all(Path::new("/d1/lost+found")).unwrap();
    fs.create_dir_all(Path::new("/d2/t-1-future")).unwrap();
    let loaded = open_manager(&fs);
    assert!(loaded.logs.is_empty());
    assert!(!fs.exists(Path::new("/d1/t-0.0123abcd-delete")).unwrap());
    assert!(fs.exists(Path::new("/d1/lost+found")).unwrap());
}

#[test]
fn delete_log_removes_the_partition() {
    let fs = FaultyFileSystem::new();
    let loaded = open_manager(&fs);
    let tp = TopicPartition::new("gone", 0);
    let log = loaded
        .manager
        .create_log(&tp, LogConfig::default(), 0)
        .unwrap();
    loaded.manager.delete_log(log).unwrap();
    assert!(!fs.exists(Path::new("/d1/gone-0")).unwrap());
    let again = open_manager(&fs);
    assert!(again.logs.is_empty());
}

#[test]
fn a_broken_directory_goes_offline_and_the_others_load() {
    let fs = FaultyFileSystem::new();
    drop(open_manager(&fs));
    fs.put_file(Path::new("/d2/meta.properties"), b"version=1\nnode.id=1\n")
        .unwrap();
    let loaded = open_manager(&fs);
    assert_eq!(loaded.manager.log_dirs().len(), 1);
    assert_eq!(loaded.offline_dirs.len(), 1);
    assert!(loaded.offline_dirs[0]
        .1
        .to_string()
        .contains("cluster.id is missing"));
}

#[test]
fn when_every_directory_fails_open_fails() {
    let fs = FaultyFileSystem::new();
    fs.put_file(Path::new("/d1"), b"not a dir").unwrap();
    let err = LogManager::open(
        fs.shared(),
        vec![PathBuf::from("/d1")],
        &identity(),
        &|_| LogConfig::default(),
        0,
    )
    .unwrap_err();
    assert!(matches!(err, LogError::NoLogDirs { .. }), "{err}");
    assert!(err.to_string().contains("/d1"), "{err}");
}

#[test]
fn a_failed_fsync_takes_every_log_of_its_directory_offline_and_new_logs_go_elsewhere() {
    let fs = FaultyFileSystem::new();
    let loaded = open_manager(&fs);
    let manager = loaded.manager;
    assert!(!manager.any_dir_offline());
    // Two partitions land in /d1 and /d2 (fewest partitions first); a third in /d1.
    let mut a = manager
        .create_log(&TopicPartition::new("t", 0), LogConfig::default(), 0)
        .unwrap();
    let mut b = manager
        .create_log(&TopicPartition::new("t", 1), LogConfig::default(), 0)
        .unwrap();
    let mut c = manager
        .create_log(&TopicPartition::new("t", 2), LogConfig::default(), 0)
        .unwrap();
    let d1 = a.dir().parent().unwrap().to_path_buf();
    assert_eq!(c.dir().parent().unwrap(), d1);
    assert_ne!(b.dir().parent().unwrap(), d1);
    for log in [&mut a, &mut b, &mut c] {
        log.append(batch(Compression::None, 2, 0, 0), 0).unwrap();
    }
    fs.set_fail_sync(true);
    assert!(a.flush().is_err());
    fs.set_fail_sync(false);
    // Every log of /d1 is offline, reads included; /d2 is untouched.
    assert!(manager.dir_failed(&d1) && manager.any_dir_offline());
    assert!(matches!(c.health(), LogHealth::Offline(_)));
    assert!(c.read(0, 1 << 20, true, i64::MAX).is_err());
    assert!(c.append(batch(Compression::None, 1, 0, 1), 0).is_err());
    assert!(c.flush().is_err());
    assert_eq!(b.health(), LogHealth::Online);
    b.append(batch(Compression::None, 1, 0, 1), 0).unwrap();
    b.flush().unwrap();
    // A new partition is placed in the directory that still works.
    let d = manager
        .create_log(&TopicPartition::new("t", 3), LogConfig::default(), 0)
        .unwrap();
    assert_eq!(d.dir().parent(), b.dir().parent());
}

#[test]
fn high_watermarks_are_checkpointed_per_directory_in_kafkas_format_and_read_back_clamped() {
    let fs = FaultyFileSystem::new();
    let loaded = open_manager(&fs);
    let manager = loaded.manager;
    let tps = [
        TopicPartition::new("orders", 0),
        TopicPartition::new("orders", 1),
        TopicPartition::new("audit", 0),
    ];
    let mut logs: Vec<Log> = tps
        .iter()
        .map(|tp| manager.create_log(tp, LogConfig::default(), 0).unwrap())
        .collect();
    for log in &mut logs {
        log.append(batch(Compression::None, 10, 1_000, 1), 0)
            .unwrap();
    }
    logs[0].checkpoint_high_watermark(4);
    logs[1].checkpoint_high_watermark(10);
    // Nothing is written until the broker's timer asks.
    let file_of = |log: &Log| {
        log.dir()
            .parent()
            .unwrap()
            .join(HIGH_WATERMARK_CHECKPOINT_FILE)
    };
    assert!(!fs.exists(&file_of(&logs[0])).unwrap());
    manager.write_high_watermark_checkpoints().unwrap();
    logs[0].checkpoint_high_watermark(7);
    logs[2].checkpoint_high_watermark(9);
    manager.write_high_watermark_checkpoints().unwrap();
    let mut texts: Vec<String> = dirs()
        .iter()
        .filter_map(|d| fs.contents(&d.join(HIGH_WATERMARK_CHECKPOINT_FILE)))
        .map(|b| String::from_utf8(b).unwrap())
        .collect();
    texts.sort();
    // Two logs in one directory, one in the other (the manager balances by count).
    let mut expected = vec![];
    let mut by_dir: std::collections::BTreeMap<PathBuf, Vec<(String, i64)>> = Default::default();
    for (log, hw) in logs.iter().zip([7, 10, 9]) {
        let tp = log.topic_partition().unwrap();
        by_dir
            .entry(file_of(log))
            .or_default()
            .push((format!("{} {}", tp.topic, tp.partition), hw));
    }
    for entries in by_dir.values_mut() {
        entries.sort();
        let mut text = format!("0\n{}\n", entries.len());
        for (name, hw) in entries.iter() {
            text.push_str(&format!("{name} {hw}\n"));
        }
        expected.push(text);
    }
    expected.sort();
    assert_eq!(texts, expected);
    // A high watermark past the log end (a crash lost the tail) reads back clamped.
    logs[1].checkpoint_high_watermark(25);
    manager.shutdown(logs).unwrap();
    let again = open_manager(&fs);
    let hw = |tp: &TopicPartition| again.logs[tp].checkpointed_high_watermark();
    assert_eq!(hw(&tps[0]), Some(7));
    assert_eq!(hw(&tps[1]), Some(10));
    assert_eq!(hw(&tps[2]), Some(9));
    // Deleting a log removes its entry at once.
    let mut again = again;
    let log = again.logs.remove(&tps[2]).unwrap();
    let file = file_of(&log);
    again.manager.delete_log(log).unwrap();
    let text = String::from_utf8(fs.contents(&file).unwrap()).unwrap();
    assert!(!text.contains("audit"), "{text}");
}

#[test]
fn a_damaged_high_watermark_checkpoint_is_ignored_and_a_failed_write_takes_the_directory_offline() {
    let fs = FaultyFileSystem::new();
    let loaded = open_manager(&fs);
    let tp = TopicPartition::new("orders", 0);
    let log = loaded
        .manager
        .create_log(&tp, LogConfig::default(), 0)
        .unwrap();
    let parent = log.dir().parent().unwrap().to_path_buf();
    loaded.manager.shutdown([log]).unwrap();
    fs.put_file(
        &parent.join(HIGH_WATERMARK_CHECKPOINT_FILE),
        b"0\n3\norders 0 1\n",
    )
    .unwrap();
    let loaded = open_manager(&fs);
    assert_eq!(loaded.logs[&tp].checkpointed_high_watermark(), None);
    assert!(loaded.offline_dirs.is_empty());
    loaded.logs[&tp].checkpoint_high_watermark(0);
    fs.set_write_budget(Some(0));
    assert!(loaded.manager.write_high_watermark_checkpoints().is_err());
    fs.set_write_budget(None);
    assert!(loaded.manager.dir_failed(&parent));
    assert!(loaded.logs[&tp].is_offline());
}
