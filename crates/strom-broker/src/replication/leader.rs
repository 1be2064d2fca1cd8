//! The leader's view of one partition's replication, as a pure state
//! machine: which replicas are in sync, how far each follower has the log,
//! and where the high watermark stands. No clock, no I/O: the caller passes
//! the time and the leader's own log offsets, and sends the ISR changes this
//! proposes to the controller (AlterPartition), feeding the answers back.
//!
//! **The high watermark rule.** HW = the minimum, over the leader and every
//! member of the *maximal* ISR (the committed ISR plus members being added),
//! of how far that replica is known to hold the log: for the leader its
//! durable end (`strom.acks.all.fsync=true`: the flushed offset; otherwise
//! the log end), for a follower its last fetch offset, which is durable on it
//! in the same mode (a follower fsyncs what it appended before it fetches
//! again). Unlike Kafka, a follower that is lagging but still in the
//! committed ISR keeps holding the HW back until the controller has taken it
//! out: an acks=all record is acknowledged only once every replica that may
//! still be elected leader has it. The HW never moves backwards.
//!
//! **ISR changes.** A follower is out of sync when its log end differs from
//! the leader's and it has not caught up for `replica.lag.time.max.ms`
//! (Kafka's `lastCaughtUpTimeMs` rule). A follower joins once its fetch
//! offset reaches the HW and the start of the leader's epoch and its broker
//! is alive. One proposal is in flight at a time; until the controller
//! answers, the maximal ISR counts for the HW and the committed ISR for
//! `min.insync.replicas`. An answer applies to the proposal it answers
//! only: an answer to an earlier proposal (one the metadata overtook, whose
//! request the driver gave up on) neither clears the proposal in flight nor
//! lets the HW stop waiting for a member it adds.

use std::collections::BTreeMap;

/// How far one follower has the log, as the leader last saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct FollowerProgress {
    /// The offset the follower fetched from last: everything below it is on
    /// the follower. -1 until it fetches in this leader epoch.
    pub log_end_offset: i64,
    /// When it last fetched (ms).
    pub last_fetch_ms: i64,
    /// The leader's log end at that fetch.
    pub last_fetch_leader_end: i64,
    /// When it last had everything the leader had (ms).
    pub last_caught_up_ms: i64,
}

/// An ISR change for the controller (AlterPartition): the partition state
/// it was made against and the ISR it asks for. Answers name it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct IsrProposal {
    pub leader_epoch: i32,
    pub partition_epoch: i32,
    pub isr: Vec<i32>,
}

/// The leader's replication state of one partition.
#[derive(Clone, Debug)]
pub(crate) struct LeaderState {
    broker_id: i32,
    pub leader_epoch: i32,
    pub partition_epoch: i32,
    replicas: Vec<i32>,
    /// The ISR as the controller last committed it.
    isr: Vec<i32>,
    /// An ISR change sent to the controller and not answered yet.
    pending: Option<IsrProposal>,
    /// The request carrying `pending` got no answer that settles it: it is
    /// to be sent again.
    resend: bool,
    followers: BTreeMap<i32, FollowerProgress>,
    /// Where this leader's epoch starts in the log.
    epoch_start_offset: i64,
    high_watermark: i64,
}

/// The controller's answer to a proposed ISR change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum IsrAnswer {
    /// Committed: the partition's state now.
    Committed {
        leader_epoch: i32,
        partition_epoch: i32,
        isr: Vec<i32>,
    },
    /// Refused in a way that proves the controller did not apply it
    /// (INELIGIBLE_REPLICA, OPERATION_NOT_ATTEMPTED): the leader proposes
    /// again from its state then.
    Refused,
    /// No answer (a timeout, a lost connection, no controller), or an error
    /// that does not tell whether this request or an earlier attempt of the
    /// same proposal was applied (INVALID_UPDATE_VERSION after a commit
    /// whose answer was lost, for one): the proposal stays in flight, so
    /// the HW keeps waiting for members it adds, until the metadata
    /// overtakes it or an answer settles it; it is sent again meanwhile
    /// ([`LeaderState::unanswered_proposal`]). Kafka's leader does the same.
    Unknown,
}

/// Kafka's error codes that prove an AlterPartition item was not applied.
pub(crate) fn isr_refusal(code: i16) -> IsrAnswer {
    const OPERATION_NOT_ATTEMPTED: i16 = 55;
    const INELIGIBLE_REPLICA: i16 = 107;
    match code {
        OPERATION_NOT_ATTEMPTED | INELIGIBLE_REPLICA => IsrAnswer::Refused,
        _ => IsrAnswer::Unknown,
    }
}

impl LeaderState {
    /// Becoming leader at `leader_epoch`. Followers in the ISR count as just
    /// caught up (as in Kafka), so none is dropped before it had a chance to
    /// fetch; `high_watermark` carries the replica's HW from before.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        broker_id: i32,
        leader_epoch: i32,
        partition_epoch: i32,
        replicas: Vec<i32>,
        isr: Vec<i32>,
        epoch_start_offset: i64,
        high_watermark: i64,
        now_ms: i64,
    ) -> LeaderState {
        let followers = replicas
            .iter()
            .filter(|&&r| r != broker_id)
            .map(|&r| {
                (
                    r,
                    FollowerProgress {
                        log_end_offset: -1,
                        last_fetch_ms: now_ms,
                        last_fetch_leader_end: -1,
                        last_caught_up_ms: if isr.contains(&r) { now_ms } else { -1 },
                    },
                )
            })
            .collect();
        LeaderState {
            broker_id,
            leader_epoch,
            partition_epoch,
            replicas,
            isr,
            pending: None,
            resend: false,
            followers,
            epoch_start_offset,
            high_watermark,
        }
    }

    /// A new partition state from the metadata in the same leader epoch (an
    /// ISR change committed, a reassignment step). A pending proposal that
    /// the new partition epoch overtook is dropped.
    pub fn update(&mut self, partition_epoch: i32, replicas: Vec<i32>, isr: Vec<i32>, now_ms: i64) {
        if partition_epoch < self.partition_epoch {
            return;
        }
        if partition_epoch > self.partition_epoch {
            self.pending = None;
            self.resend = false;
        }
        self.partition_epoch = partition_epoch;
        for &r in &replicas {
            if r != self.broker_id {
                self.followers.entry(r).or_insert(FollowerProgress {
                    log_end_offset: -1,
                    last_fetch_ms: now_ms,
                    last_fetch_leader_end: -1,
                    last_caught_up_ms: -1,
                });
            }
        }
        self.followers.retain(|r, _| replicas.contains(r));
        self.replicas = replicas;
        self.isr = isr;
    }

    pub fn high_watermark(&self) -> i64 {
        self.high_watermark
    }

    /// The committed ISR.
    pub fn isr(&self) -> &[i32] {
        &self.isr
    }

    #[cfg(test)]
    pub fn replicas(&self) -> &[i32] {
        &self.replicas
    }

    /// The committed ISR plus members being added: what the HW waits for.
    pub fn maximal_isr(&self) -> Vec<i32> {
        let mut out = self.isr.clone();
        if let Some(pending) = &self.pending {
            for r in &pending.isr {
                if !out.contains(r) {
                    out.push(*r);
                }
            }
        }
        out
    }

    #[cfg(test)]
    pub fn has_pending_change(&self) -> bool {
        self.pending.is_some()
    }

    #[cfg(test)]
    pub fn follower(&self, replica: i32) -> Option<&FollowerProgress> {
        self.followers.get(&replica)
    }

    /// A follower fetched from `fetch_offset` at `now_ms`, while the
    /// leader's log ended at `leader_end`. False if it is not a replica.
    pub fn on_follower_fetch(
        &mut self,
        replica: i32,
        fetch_offset: i64,
        leader_end: i64,
        now_ms: i64,
    ) -> bool {
        let Some(f) = self.followers.get_mut(&replica) else {
            return false;
        };
        if fetch_offset >= leader_end {
            f.last_caught_up_ms = f.last_caught_up_ms.max(now_ms);
        } else if fetch_offset >= f.last_fetch_leader_end && f.last_fetch_leader_end >= 0 {
            f.last_caught_up_ms = f.last_caught_up_ms.max(f.last_fetch_ms);
        }
        f.log_end_offset = fetch_offset;
        f.last_fetch_leader_end = leader_end;
        f.last_fetch_ms = now_ms;
        true
    }

    /// Moves the HW to what every member of the maximal ISR holds, given the
    /// leader's own durable end; true if it moved.
    pub fn advance_high_watermark(&mut self, leader_durable_end: i64) -> bool {
        let mut candidate = leader_durable_end;
        for r in self.maximal_isr() {
            if r == self.broker_id {
                continue;
            }
            let held = self.followers.get(&r).map_or(-1, |f| f.log_end_offset);
            candidate = candidate.min(held);
        }
        if candidate > self.high_watermark {
            self.high_watermark = candidate;
            true
        } else {
            false
        }
    }

    /// The ISR to propose if a follower should join it now: not in the ISR,
    /// alive, caught up to the HW and to the start of this epoch. `None`
    /// while another proposal is in flight.
    pub fn expansion(&self, is_alive: impl Fn(i32) -> bool) -> Option<Vec<i32>> {
        if self.pending.is_some() {
            return None;
        }
        let joining: Vec<i32> = self
            .followers
            .iter()
            .filter(|(r, f)| {
                !self.isr.contains(r)
                    && f.log_end_offset >= 0
                    && f.log_end_offset >= self.high_watermark
                    && f.log_end_offset >= self.epoch_start_offset
                    && is_alive(**r)
            })
            .map(|(r, _)| *r)
            .collect();
        if joining.is_empty() {
            return None;
        }
        let mut isr = self.isr.clone();
        isr.extend(joining);
        Some(isr)
    }

    /// The ISR to propose if followers fell out of sync: a member whose log
    /// end is not the leader's and that has not caught up within `lag_ms`.
    /// `None` while another proposal is in flight. The leader always stays.
    pub fn shrink(&self, leader_end: i64, now_ms: i64, lag_ms: u64) -> Option<Vec<i32>> {
        if self.pending.is_some() {
            return None;
        }
        let lag = i64::try_from(lag_ms).unwrap_or(i64::MAX);
        let out_of_sync = |r: &i32| {
            *r != self.broker_id
                && self.followers.get(r).is_some_and(|f| {
                    f.log_end_offset != leader_end
                        && now_ms.saturating_sub(f.last_caught_up_ms) > lag
                })
        };
        if !self.isr.iter().any(out_of_sync) {
            return None;
        }
        Some(
            self.isr
                .iter()
                .copied()
                .filter(|r| !out_of_sync(r))
                .collect(),
        )
    }

    /// A proposal of `isr` is sent to the controller, made against the
    /// current partition state: what its answer will name.
    pub fn proposed(&mut self, isr: Vec<i32>) -> IsrProposal {
        let proposal = IsrProposal {
            leader_epoch: self.leader_epoch,
            partition_epoch: self.partition_epoch,
            isr,
        };
        self.pending = Some(proposal.clone());
        self.resend = false;
        proposal
    }

    /// The proposal in flight whose request got no settling answer, to send
    /// again (once per such answer).
    pub fn unanswered_proposal(&mut self) -> Option<IsrProposal> {
        if !self.resend {
            return None;
        }
        self.resend = false;
        self.pending.clone()
    }

    /// The controller answered `proposal` (or the request carrying it
    /// failed). A committed state newer than this leader's applies whatever
    /// it answers, and overtakes the proposal in flight as a newer
    /// partition epoch from the metadata does (the controller refuses a
    /// proposal made against an older one). Otherwise only an answer to the
    /// proposal in flight counts (one to an earlier proposal is stale): a
    /// commit or a refusal ends it, an unknown outcome keeps it in flight
    /// and asks for it to be sent again.
    pub fn answered(&mut self, proposal: &IsrProposal, answer: IsrAnswer) {
        if self.pending.as_ref() != Some(proposal) {
            if let IsrAnswer::Committed {
                leader_epoch,
                partition_epoch,
                isr,
            } = answer
            {
                if leader_epoch == self.leader_epoch && partition_epoch > self.partition_epoch {
                    self.update_from_commit(partition_epoch, isr);
                }
            }
            return;
        }
        match answer {
            IsrAnswer::Committed {
                leader_epoch,
                partition_epoch,
                isr,
            } => {
                if leader_epoch == self.leader_epoch && partition_epoch > self.partition_epoch {
                    self.update_from_commit(partition_epoch, isr);
                }
                self.pending = None;
                self.resend = false;
            }
            IsrAnswer::Refused => {
                self.pending = None;
                self.resend = false;
            }
            IsrAnswer::Unknown => self.resend = true,
        }
    }

    fn update_from_commit(&mut self, partition_epoch: i32, isr: Vec<i32>) {
        self.partition_epoch = partition_epoch;
        self.isr = isr;
        self.pending = None;
        self.resend = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leader(isr: &[i32]) -> LeaderState {
        LeaderState::new(1, 5, 10, vec![1, 2, 3], isr.to_vec(), 100, 100, 0)
    }

    #[test]
    fn the_high_watermark_waits_for_every_isr_member() {
        let mut s = leader(&[1, 2, 3]);
        assert!(!s.advance_high_watermark(150), "no follower has fetched");
        s.on_follower_fetch(2, 150, 150, 10);
        assert!(!s.advance_high_watermark(150), "3 has not fetched");
        s.on_follower_fetch(3, 120, 150, 10);
        assert!(s.advance_high_watermark(150));
        assert_eq!(s.high_watermark(), 120);
        // The leader's own durable end bounds it too.
        s.on_follower_fetch(3, 150, 150, 20);
        assert!(s.advance_high_watermark(140));
        assert_eq!(s.high_watermark(), 140);
    }

    #[test]
    fn the_high_watermark_never_moves_backwards() {
        let mut s = leader(&[1, 2]);
        s.on_follower_fetch(2, 150, 150, 10);
        assert!(s.advance_high_watermark(150));
        s.on_follower_fetch(2, 130, 150, 20);
        assert!(!s.advance_high_watermark(150));
        assert_eq!(s.high_watermark(), 150);
    }

    #[test]
    fn a_lagging_member_holds_the_high_watermark_until_it_is_removed() {
        let mut s = leader(&[1, 2, 3]);
        s.on_follower_fetch(2, 200, 200, 10);
        s.on_follower_fetch(3, 100, 200, 10);
        s.advance_high_watermark(200);
        assert_eq!(s.high_watermark(), 100);
        // 3 lags past replica.lag.time.max.ms: proposed out, still counted.
        let isr = s.shrink(200, 40_000, 30_000).expect("3 is out of sync");
        assert_eq!(isr, vec![1, 2]);
        let proposal = s.proposed(isr);
        assert!(!s.advance_high_watermark(200));
        s.answered(
            &proposal,
            IsrAnswer::Committed {
                leader_epoch: 5,
                partition_epoch: 11,
                isr: vec![1, 2],
            },
        );
        assert!(s.advance_high_watermark(200));
        assert_eq!(s.high_watermark(), 200);
        assert_eq!(s.isr(), &[1, 2]);
    }

    #[test]
    fn a_follower_that_keeps_up_stays_in_sync() {
        let mut s = leader(&[1, 2]);
        // Fetches every 10 s, each time reaching where the leader ended at
        // the previous fetch: caught up as of that previous fetch.
        let mut end = 100;
        for i in 1..10 {
            s.on_follower_fetch(2, end, end + 50, i * 10_000);
            end += 50;
        }
        assert_eq!(s.shrink(end, 100_000, 30_000), None);
        // Then it stops fetching.
        assert_eq!(s.shrink(end, 150_000, 30_000), Some(vec![1]));
    }

    #[test]
    fn a_follower_at_the_log_end_is_never_out_of_sync() {
        let mut s = leader(&[1, 2]);
        s.on_follower_fetch(2, 300, 300, 0);
        assert_eq!(s.shrink(300, 1_000_000, 30_000), None);
    }

    #[test]
    fn a_follower_joins_once_caught_up_to_the_high_watermark_and_the_epoch_start() {
        let mut s = leader(&[1]);
        assert!(s.advance_high_watermark(180));
        assert_eq!(s.high_watermark(), 180);
        s.on_follower_fetch(2, 170, 200, 10);
        assert_eq!(s.expansion(|_| true), None);
        s.on_follower_fetch(2, 180, 200, 20);
        assert_eq!(s.expansion(|_| false), None, "a fenced broker never joins");
        assert_eq!(s.expansion(|_| true), Some(vec![1, 2]));
        let proposal = s.proposed(vec![1, 2]);
        assert_eq!(s.expansion(|_| true), None, "one proposal at a time");
        // While the expansion is pending, the HW already waits for it.
        assert!(!s.advance_high_watermark(200));
        s.answered(&proposal, IsrAnswer::Refused);
        assert_eq!(s.isr(), &[1]);
        assert!(!s.has_pending_change());
    }

    #[test]
    fn an_answer_from_an_older_epoch_does_not_apply() {
        let mut s = leader(&[1, 2]);
        let proposal = s.proposed(vec![1]);
        s.answered(
            &proposal,
            IsrAnswer::Committed {
                leader_epoch: 4,
                partition_epoch: 12,
                isr: vec![1],
            },
        );
        assert_eq!(s.isr(), &[1, 2]);
        assert!(!s.has_pending_change());
    }

    #[test]
    fn metadata_updates_replace_the_isr_and_drop_overtaken_proposals() {
        let mut s = leader(&[1, 2, 3]);
        s.proposed(vec![1, 2]);
        s.update(11, vec![1, 2, 3, 4], vec![1, 2, 3], 50);
        assert!(!s.has_pending_change());
        assert!(s.follower(4).is_some());
        s.update(12, vec![1, 2], vec![1, 2], 60);
        assert!(s.follower(3).is_none());
        assert_eq!(s.replicas(), &[1, 2]);
    }

    #[test]
    fn an_answer_to_an_earlier_proposal_leaves_the_one_in_flight() {
        // The shrink to [1, 2] is committed but its answer is slow; the
        // metadata brings it first, and follower 3 catches up again.
        let mut s = leader(&[1, 2, 3]);
        let shrink = s.proposed(vec![1, 2]);
        s.update(11, vec![1, 2, 3], vec![1, 2], 10);
        s.on_follower_fetch(2, 100, 100, 20);
        s.on_follower_fetch(3, 100, 100, 20);
        let expansion = s.proposed(s.expansion(|_| true).expect("3 is back"));
        assert_eq!(expansion.isr, vec![1, 2, 3]);
        // The shrink's request times out: stale, it must not end the
        // expansion, or the HW would stop waiting for 3 while the
        // controller may still add it.
        s.answered(&shrink, IsrAnswer::Refused);
        assert!(s.has_pending_change());
        s.on_follower_fetch(2, 150, 150, 30);
        s.advance_high_watermark(150);
        assert_eq!(s.high_watermark(), 100, "3 still holds the HW back");
        // Nor does a late commit of the shrink, which is not newer.
        s.answered(
            &shrink,
            IsrAnswer::Committed {
                leader_epoch: 5,
                partition_epoch: 11,
                isr: vec![1, 2],
            },
        );
        assert!(s.has_pending_change());
        // The expansion's own answer ends it.
        s.answered(
            &expansion,
            IsrAnswer::Committed {
                leader_epoch: 5,
                partition_epoch: 12,
                isr: vec![1, 2, 3],
            },
        );
        assert!(!s.has_pending_change());
        assert_eq!(s.isr(), &[1, 2, 3]);
    }

    #[test]
    fn a_newer_committed_state_overtakes_the_proposal_in_flight() {
        let mut s = leader(&[1, 2, 3]);
        let first = s.proposed(vec![1, 2]);
        s.update(11, vec![1, 2, 3], vec![1, 2], 10);
        let second = s.proposed(vec![1]);
        // The first proposal's commit arrives after the metadata moved on
        // twice more (partition epoch 13): that state applies, and the
        // second proposal, made against 11, is refused by the controller.
        s.answered(
            &first,
            IsrAnswer::Committed {
                leader_epoch: 5,
                partition_epoch: 13,
                isr: vec![1, 3],
            },
        );
        assert!(!s.has_pending_change());
        assert_eq!(s.isr(), &[1, 3]);
        assert_eq!(second.partition_epoch, 11);
    }

    #[test]
    fn an_unanswered_expansion_keeps_holding_the_high_watermark_and_is_sent_again() {
        // The expansion to [1, 2, 3] may have been committed though its
        // request timed out: the controller may elect 3 from now on, so the
        // HW must keep waiting for 3.
        let mut s = leader(&[1, 2]);
        s.on_follower_fetch(2, 100, 100, 10);
        s.on_follower_fetch(3, 100, 100, 10);
        let expansion = s.proposed(s.expansion(|_| true).expect("3 caught up"));
        s.answered(&expansion, IsrAnswer::Unknown);
        assert!(s.has_pending_change());
        s.on_follower_fetch(2, 180, 180, 20);
        s.advance_high_watermark(180);
        assert_eq!(s.high_watermark(), 100, "3 still holds the HW back");
        assert_eq!(s.shrink(180, 20, 30_000), None, "one proposal at a time");
        // Sent again, once per unsettled answer.
        assert_eq!(s.unanswered_proposal(), Some(expansion.clone()));
        assert_eq!(s.unanswered_proposal(), None);
        // The first attempt had been applied: the retry is refused as made
        // against an old partition epoch, which settles nothing either...
        s.answered(&expansion, isr_refusal(108));
        assert!(s.has_pending_change());
        // ...until the metadata shows the commit.
        s.update(11, vec![1, 2, 3], vec![1, 2, 3], 30);
        assert!(!s.has_pending_change());
        assert_eq!(s.unanswered_proposal(), None);
        assert_eq!(s.isr(), &[1, 2, 3]);
    }

    #[test]
    fn strangers_are_not_tracked() {
        let mut s = leader(&[1, 2, 3]);
        assert!(!s.on_follower_fetch(9, 100, 100, 0));
    }
}
