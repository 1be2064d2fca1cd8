//! Property test of replication at the log level: three replicas of one partition, random
//! leader appends, elections (clean or not: any replica may become leader, with a new
//! epoch starting at its log end), follower fetches of random sizes and clean restarts.
//! A follower that saw an election reconciles first, as Kafka's fetcher does with
//! OffsetForLeaderEpoch (KIP-279): it asks the leader where its own latest epoch ends,
//! and truncates there (or, when the leader answers with an older epoch, where that epoch
//! ends in its own log, whichever is lower). Checked after every fetch: the follower's log
//! is a byte-for-byte prefix of the leader's, and its epoch entries are the leader's
//! entries below its log end.

use std::path::PathBuf;

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use strom_log::{FaultyFileSystem, Log, LogConfig};
use strom_records::{BatchBuilder, Compression, TimestampType};

const REPLICAS: usize = 3;

#[derive(Debug, Clone)]
enum Op {
    /// The leader appends this many batches of 1..4 records.
    Append(u8),
    /// This replica becomes leader in a new epoch.
    Elect(usize),
    /// This replica (if a follower) reconciles if needed and fetches this many reads.
    Fetch(usize, u8),
    /// This replica closes and reopens its log.
    Restart(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (1u8..4).prop_map(Op::Append),
        1 => (0..REPLICAS).prop_map(Op::Elect),
        4 => (0..REPLICAS, 1u8..4).prop_map(|(r, n)| Op::Fetch(r, n)),
        1 => (0..REPLICAS).prop_map(Op::Restart),
    ]
}

fn config() -> LogConfig {
    LogConfig {
        segment_bytes: 400,
        index_interval_bytes: 64,
        ..LogConfig::default()
    }
}

fn dir(replica: usize) -> PathBuf {
    PathBuf::from(format!("/broker{replica}/orders-0"))
}

fn open(fs: &FaultyFileSystem, replica: usize) -> Log {
    Log::open(fs.shared(), dir(replica), config(), false, 0).unwrap()
}

fn batch(records: usize, tag: usize) -> Bytes {
    let mut b = BatchBuilder::new(Compression::None, TimestampType::CreateTime);
    for i in 0..records {
        b.append(
            1_000 + tag as i64,
            None,
            Some(format!("r{tag}-{i}").as_bytes()),
            &[],
        );
    }
    b.build(0)
}

/// The whole log as a leader would send it.
fn contents(log: &Log) -> Bytes {
    let mut out = BytesMut::new();
    let mut offset = log.log_start_offset();
    while offset < log.log_end_offset() {
        let read = log.read(offset, 1 << 20, true, i64::MAX).unwrap();
        assert!(!read.records.is_empty(), "no progress at {offset}");
        out.extend_from_slice(&read.records);
        offset = read.next_fetch_offset;
    }
    out.freeze()
}

/// Kafka's follower truncation after an election (KIP-279, `AbstractFetcherThread`'s
/// `getOffsetTruncationState`), against the leader's cache: ask where our latest epoch
/// ends; if the leader answers with an epoch we have, truncate to the lower of the two
/// ends of it and stop; if with one we lack, truncate to where our epochs below it end
/// and ask again.
fn reconcile(follower: &mut Log, leader: &Log) {
    for _ in 0..64 {
        let Some(epoch) = follower.latest_epoch() else {
            // Nothing stamped with an epoch: nothing a leader could disagree with.
            return;
        };
        let end = follower.log_end_offset();
        let (leader_epoch, leader_end) = leader.end_offset_for_epoch(epoch);
        if leader_epoch < 0 {
            // The leader knows no epoch at or below ours.
            follower
                .truncate_to(leader.log_start_offset().min(end))
                .unwrap();
            return;
        }
        let (own_epoch, own_end) = follower.end_offset_for_epoch(leader_epoch);
        if own_epoch == leader_epoch {
            follower
                .truncate_to(own_end.min(leader_end).min(end))
                .unwrap();
            return;
        }
        follower.truncate_to(own_end.min(end)).unwrap();
        if own_epoch < 0 {
            return;
        }
    }
    panic!("reconciliation did not converge");
}

fn run(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let fs = FaultyFileSystem::new();
    let mut logs: Vec<Option<Log>> = (0..REPLICAS).map(|r| Some(open(&fs, r))).collect();
    let mut leader = 0usize;
    let mut epoch = 0i32;
    let mut needs_reconcile = [false; REPLICAS];
    logs[leader]
        .as_mut()
        .unwrap()
        .assign_epoch_start(epoch, 0)
        .unwrap();
    let mut tag = 0usize;
    for op in ops {
        match op {
            Op::Append(n) => {
                let log = logs[leader].as_mut().unwrap();
                for _ in 0..n {
                    tag += 1;
                    log.append_as_leader(batch(1 + tag % 3, tag), epoch, 0)
                        .unwrap();
                }
            }
            Op::Elect(replica) => {
                epoch += 1;
                leader = replica;
                let log = logs[leader].as_mut().unwrap();
                let end = log.log_end_offset();
                log.assign_epoch_start(epoch, end).unwrap();
                for (r, flag) in needs_reconcile.iter_mut().enumerate() {
                    *flag = r != leader;
                }
                needs_reconcile[leader] = false;
            }
            Op::Fetch(replica, reads) => {
                if replica == leader {
                    continue;
                }
                let mut follower = logs[replica].take().unwrap();
                let leader_log = logs[leader].as_ref().unwrap();
                if needs_reconcile[replica] {
                    reconcile(&mut follower, leader_log);
                    needs_reconcile[replica] = false;
                }
                for _ in 0..reads {
                    let offset = follower.log_end_offset();
                    if offset >= leader_log.log_end_offset() {
                        break;
                    }
                    let read = leader_log.read(offset, 700, true, i64::MAX).unwrap();
                    follower.append_as_follower_at(read.records, 0).unwrap();
                }
                let theirs = contents(leader_log);
                let ours = contents(&follower);
                prop_assert!(
                    theirs.starts_with(&ours),
                    "replica {replica} ({} bytes, end {}) is not a prefix of leader {leader} ({} bytes, end {})",
                    ours.len(),
                    follower.log_end_offset(),
                    theirs.len(),
                    leader_log.log_end_offset()
                );
                let end = follower.log_end_offset();
                let expected: Vec<(i32, i64)> = leader_log
                    .epoch_entries()
                    .into_iter()
                    .filter(|(_, start)| *start < end)
                    .collect();
                prop_assert_eq!(follower.epoch_entries(), expected);
                logs[replica] = Some(follower);
            }
            Op::Restart(replica) => {
                let log = logs[replica].take().unwrap();
                let entries = log.epoch_entries();
                let end = log.log_end_offset();
                log.close().unwrap();
                let log = open(&fs, replica);
                prop_assert_eq!(log.log_end_offset(), end);
                // Entries at the log end (a leader's epoch with nothing written yet) are
                // dropped at open, as Kafka's loader does; a leader re-assigns its epoch.
                let kept: Vec<(i32, i64)> = entries.into_iter().filter(|(_, s)| *s < end).collect();
                prop_assert_eq!(log.epoch_entries(), kept);
                logs[replica] = Some(log);
                if replica == leader {
                    let log = logs[replica].as_mut().unwrap();
                    let end = log.log_end_offset();
                    log.assign_epoch_start(epoch, end).unwrap();
                }
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn a_follower_that_truncates_to_the_leaders_epoch_end_is_a_prefix_of_the_leader(
        ops in proptest::collection::vec(op(), 1..80)
    ) {
        run(ops)?;
    }
}

#[test]
fn the_prefix_check_catches_a_follower_that_skips_reconciliation() {
    // Replica 1 copies epoch 0, then replica 0 (leader) writes more in epoch 0 that
    // replica 1 never sees; replica 1 becomes leader in epoch 1 and writes; replica 0,
    // fetching without truncating first, would diverge: its log is no prefix.
    let fs = FaultyFileSystem::new();
    let mut a = open(&fs, 0);
    let mut b = open(&fs, 1);
    a.assign_epoch_start(0, 0).unwrap();
    a.append_as_leader(batch(2, 1), 0, 0).unwrap();
    b.append_as_follower_at(contents(&a), 0).unwrap();
    a.append_as_leader(batch(2, 2), 0, 0).unwrap();
    b.assign_epoch_start(1, 2).unwrap();
    b.append_as_leader(batch(3, 3), 1, 0).unwrap();
    assert!(!contents(&b).starts_with(&contents(&a)));
    // With reconciliation, replica 0 truncates to offset 2 and catches up.
    reconcile(&mut a, &b);
    assert_eq!(a.log_end_offset(), 2);
    let read = b.read(2, 1 << 20, true, i64::MAX).unwrap();
    a.append_as_follower_at(read.records, 0).unwrap();
    assert_eq!(contents(&a), contents(&b));
    assert_eq!(a.epoch_entries(), [(0, 0), (1, 2)]);
}
