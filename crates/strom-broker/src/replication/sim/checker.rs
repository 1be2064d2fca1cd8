//! What the clients and the replicas did, and the invariants over it.
//!
//! During the run (the ISR check is in the simulation, which sees every
//! replica): every member of the controller's ISR durably holds what the
//! leader of that epoch counts as committed; at most one broker leads a partition in one leader
//! epoch; a leader's high watermark never moves backwards within its
//! epoch; an offset seen by a client (acknowledged to a producer or read by
//! a consumer) never shows two different values. After the run, once
//! everything is healed and the cluster has converged: every acknowledged
//! record is in the final leader's log at its acknowledged offset, below
//! the high watermark; everything a consumer read is there too; a record
//! refused with NOT_ENOUGH_REPLICAS was never written; every replica's log
//! is a prefix of the leader's.

use std::collections::BTreeMap;

use super::log::SimLog;

/// The outcome of one produce, as the producer saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Send {
    /// Acknowledged (acks=all) at this offset.
    Acked(i64),
    /// Refused before the append (NOT_ENOUGH_REPLICAS): never written.
    Refused,
    /// Timed out, lost, or failed after the append: may or may not be there.
    Indeterminate,
}

#[derive(Default)]
pub(super) struct Checker {
    /// (partition, leader epoch) to the broker that led it.
    leaders: BTreeMap<(i32, i32), i32>,
    /// (partition, leader epoch) to the highest HW that leader reached.
    high_watermarks: BTreeMap<(i32, i32), i64>,
    /// (partition, offset) to the value a client saw there, and how.
    seen: BTreeMap<(i32, i64), (u64, &'static str)>,
    /// (partition, value) to how its send ended.
    pub sends: BTreeMap<(i32, u64), Send>,
    /// (partition, offset, value) read by consumers.
    reads: BTreeMap<(i32, i64), u64>,
    pub violations: Vec<String>,
    /// An ISR member below the high watermark was reported (once a run).
    pub isr_gap_reported: bool,
    pub acked: usize,
    pub read_count: usize,
}

impl Checker {
    pub fn became_leader(&mut self, partition: i32, epoch: i32, broker: i32) {
        match self.leaders.insert((partition, epoch), broker) {
            Some(other) if other != broker => self.violations.push(format!(
                "partition {partition}: brokers {other} and {broker} both led leader epoch {epoch}"
            )),
            _ => {}
        }
    }

    pub fn leader_high_watermark(&mut self, partition: i32, epoch: i32, broker: i32, hw: i64) {
        let last = self.high_watermarks.entry((partition, epoch)).or_insert(hw);
        if hw < *last {
            self.violations.push(format!(
                "partition {partition}: the high watermark of leader {broker} moved back from {last} to {hw} in leader epoch {epoch}"
            ));
        }
        *last = (*last).max(hw);
    }

    fn saw(&mut self, partition: i32, offset: i64, value: u64, how: &'static str) {
        match self.seen.get(&(partition, offset)) {
            Some(&(v, first)) if v != value => self.violations.push(format!(
                "partition {partition} offset {offset}: {first} value {v}, then {how} value {value}"
            )),
            Some(_) => {}
            None => {
                self.seen.insert((partition, offset), (value, how));
            }
        }
    }

    pub fn sent(&mut self, partition: i32, value: u64, outcome: Send) {
        if let Send::Acked(offset) = outcome {
            self.acked += 1;
            self.saw(partition, offset, value, "acknowledged");
        }
        self.sends.insert((partition, value), outcome);
    }

    pub fn read(&mut self, partition: i32, offset: i64, value: u64) {
        self.read_count += 1;
        self.saw(partition, offset, value, "read");
        self.reads.insert((partition, offset), value);
    }

    /// The end-of-run checks of one partition against its final leader's
    /// log and high watermark, and every replica's log.
    pub fn check_final(
        &mut self,
        partition: i32,
        leader: i32,
        leader_log: &SimLog,
        high_watermark: i64,
        replicas: &[(i32, &SimLog)],
    ) {
        let start = leader_log.log_start_offset();
        let mut in_log: BTreeMap<u64, i64> = BTreeMap::new();
        for r in leader_log.records() {
            in_log.insert(r.value, r.offset);
        }
        for (&(p, value), outcome) in &self.sends {
            if p != partition {
                continue;
            }
            match *outcome {
                Send::Acked(offset) if offset >= start => {
                    let found = leader_log.get(offset).map(|r| r.value);
                    if found != Some(value) || offset >= high_watermark {
                        self.violations.push(format!(
                            "partition {partition}: value {value} acknowledged at offset {offset} is lost: leader {leader} has {found:?} there (high watermark {high_watermark})"
                        ));
                    }
                }
                Send::Refused => {
                    if let Some(offset) = in_log.get(&value) {
                        self.violations.push(format!(
                            "partition {partition}: value {value} refused with NOT_ENOUGH_REPLICAS is in the log at offset {offset}"
                        ));
                    }
                }
                _ => {}
            }
        }
        for (&(p, offset), &value) in &self.reads {
            if p != partition || offset < start {
                continue;
            }
            let found = leader_log.get(offset).map(|r| r.value);
            if found != Some(value) {
                self.violations.push(format!(
                    "partition {partition}: value {value} read at offset {offset} is not in the final log (leader {leader} has {found:?})"
                ));
            }
        }
        for (broker, log) in replicas {
            let from = log.log_start_offset().max(start);
            let to = log.log_end_offset();
            if to > leader_log.log_end_offset() {
                self.violations.push(format!(
                    "partition {partition}: replica {broker} ends at {to}, past leader {leader}'s end {}",
                    leader_log.log_end_offset()
                ));
            }
            for offset in from..to {
                let mine = log.get(offset);
                let theirs = leader_log.get(offset);
                if mine != theirs {
                    self.violations.push(format!(
                        "partition {partition}: replica {broker} has {mine:?} at offset {offset}, leader {leader} has {theirs:?}"
                    ));
                    break;
                }
            }
        }
    }
}
