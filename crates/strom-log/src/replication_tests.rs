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
    let result = log.read(from, usize::MAX / 2, true, i64::MAX).unwrap();
    result.records
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

#[test]
fn truncating_at_the_log_end_drops_an_epoch_that_holds_no_record() {
    // A replica became leader in epoch 7 at its log end, appended nothing, and
    // follows a leader whose history has no epoch 7: told to truncate to its
    // own end, it must lose the entry, or it fetches with epoch 7 forever.
    let fs = FaultyFileSystem::new();
    let mut log = leader_with_three_epochs(&fs);
    log.assign_epoch_start(7, 9).unwrap();
    assert_eq!(log.latest_epoch(), Some(7));
    log.truncate_to(9).unwrap();
    assert_eq!(log.log_end_offset(), 9);
    assert_eq!(log.epoch_entries(), [(0, 0), (2, 3), (5, 5)]);
    assert_eq!(log.latest_epoch(), Some(5));
    assert_eq!(log.end_offset_for_epoch(5), (5, 9));
    assert_eq!(epoch_file(&fs), "0\n3\n0 0\n2 3\n5 5\n");
    // Past the end, nothing changes.
    log.truncate_to(20).unwrap();
    assert_eq!(log.epoch_entries(), [(0, 0), (2, 3), (5, 5)]);
}
