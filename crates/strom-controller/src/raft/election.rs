//! When a voter campaigns.
//!
//! openraft draws a voter's election timeout once, when the node starts, and
//! checks it on its tick (every one and a half heartbeat intervals). Voters
//! started together tick in step, and two whose timeouts fall between the
//! same two ticks campaign in the same millisecond at every term, each
//! voting for itself and refusing the other, until their clocks drift apart:
//! a controller failover took 16 s with a 1 s election timeout. Raft's
//! liveness rests on a fresh random timeout at every campaign, which is how
//! Kafka's KRaft draws `controller.quorum.election.timeout.ms`. So openraft's
//! own election timer is off, and [`campaign_when_due`] decides:
//!
//! - A follower of a known leader campaigns when nothing came from that
//!   leader for the lease (twice the election timeout: until then the other
//!   voters refuse to vote, see openraft's `leader_lease`) plus a fresh draw
//!   between the election timeout and twice it.
//! - Any other voter that is not the leader (a candidate that did not win, a
//!   voter that granted its vote, one that never heard of a leader) campaigns
//!   a fresh draw after its last campaign, or after the last leader message
//!   or granted vote, whichever came later.
//! - A voter told by another that the other's log is longer waits twice
//!   the lease more before its next campaign, as openraft's own timer does.
//! - The only voter of its quorum campaigns at once.
//!
//! What counts as hearing from the leader is decided where peers' requests
//! are served ([`super::transport::dispatch`]): an AppendEntries or
//! InstallSnapshot this node accepted, or a vote it granted.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use openraft::{Raft, ServerState};
use rand::Rng;
use tokio::time::Instant;

use super::runtime::ElectionRng;
use super::TypeConfig;

/// What the election timer learns from peers' messages.
#[derive(Debug)]
pub(crate) struct ElectionClock {
    /// When this node last heard from a leader (or granted a vote).
    last_contact: Mutex<Instant>,
    /// A voter refused this node's vote request for holding a longer log.
    greater_log_seen: AtomicBool,
}

impl ElectionClock {
    pub(crate) fn new() -> ElectionClock {
        ElectionClock {
            last_contact: Mutex::new(Instant::now()),
            greater_log_seen: AtomicBool::new(false),
        }
    }

    /// A leader's message was accepted, or a candidate got this node's vote
    /// (which also ends a back-off for a shorter log: the next failover
    /// starts afresh).
    pub(crate) fn heard_from_leader(&self) {
        *self
            .last_contact
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Instant::now();
        self.greater_log_seen.store(false, Ordering::Relaxed);
    }

    /// A voter refused this node's vote request because its log is longer:
    /// that voter can win and this one cannot, so the next campaign here
    /// waits longer (openraft's `smaller_log_timeout`). Without it, a
    /// candidate that cannot win keeps taking each new term first, and the
    /// one that can is refused for having voted for itself in the same term.
    pub(crate) fn saw_greater_log(&self) {
        self.greater_log_seen.store(true, Ordering::Relaxed);
    }

    fn last_contact(&self) -> Instant {
        *self
            .last_contact
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// How long a voter waits without news before it campaigns: for a follower
/// of a known leader the lease and a draw, else a draw alone; the draw is
/// fresh each time, between `election_timeout` and twice it.
fn patience(election_timeout: Duration, follows_leader: bool) -> Duration {
    let min = election_timeout.as_millis().max(1) as u64;
    let draw = Duration::from_millis(ElectionRng.gen_range(min..2 * min));
    if follows_leader {
        lease(election_timeout) + draw
    } else {
        draw
    }
}

/// openraft's leader lease: a voter refuses votes for this long after it
/// last heard from its leader (`election_timeout_max`).
fn lease(election_timeout: Duration) -> Duration {
    2 * election_timeout
}

/// Campaigns for `raft`'s node whenever it is due (see the module's
/// documentation), until the Raft member stops.
pub(crate) async fn campaign_when_due(
    raft: Raft<TypeConfig>,
    clock: Arc<ElectionClock>,
    election_timeout: Duration,
) {
    let mut server = raft.server_metrics();
    // The timer runs from the later of the last campaign, the last vote
    // change, and the last word from a leader, as openraft's own does from
    // its vote's last change.
    let mut since = Instant::now();
    let mut vote = None;
    let mut due: Option<Instant> = None;
    let mut backed_off = false;
    loop {
        let (state, follows_leader, sole_voter) = {
            let m = server.borrow_and_update();
            if vote.as_ref() != Some(&m.vote) {
                vote = Some(m.vote);
                since = since.max(Instant::now());
                due = None;
            }
            let mut voters = m.membership_config.membership().voter_ids();
            let sole_voter = voters.next() == Some(m.id) && voters.next().is_none();
            let follows_leader = m.vote.is_committed() && m.current_leader != Some(m.id);
            (m.state, follows_leader, sole_voter)
        };
        match state {
            ServerState::Shutdown => return,
            ServerState::Leader | ServerState::Learner => {
                // Nothing to decide until that changes; a deposed leader
                // starts counting from when it stepped down.
                if server.changed().await.is_err() {
                    return;
                }
                since = Instant::now();
                due = None;
                continue;
            }
            ServerState::Follower | ServerState::Candidate => {}
        }
        let contact = clock.last_contact();
        if contact > since {
            since = contact;
            due = None;
            backed_off = false;
        }
        let deadline = if sole_voter {
            Instant::now()
        } else {
            *due.get_or_insert_with(|| since + patience(election_timeout, follows_leader))
        };
        // Biased, so that a seeded simulation replays: tokio's fair choice
        // between two ready branches is not seeded.
        tokio::select! {
            biased;
            () = tokio::time::sleep_until(deadline) => {}
            changed = server.changed() => {
                if changed.is_err() {
                    return;
                }
                continue;
            }
        }
        if clock.last_contact() > since {
            continue;
        }
        if !backed_off && clock.greater_log_seen.load(Ordering::Relaxed) {
            backed_off = true;
            due = Some(deadline + 2 * lease(election_timeout));
            continue;
        }
        clock.greater_log_seen.store(false, Ordering::Relaxed);
        backed_off = false;
        if raft.trigger().elect().await.is_err() {
            return;
        }
        since = Instant::now();
        due = None;
        if sole_voter {
            // It wins at once; if it could not (its disk failing), do not spin.
            tokio::time::sleep(election_timeout).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_follower_waits_out_the_lease_and_every_draw_is_fresh() {
        let timeout = Duration::from_millis(1000);
        let draws: Vec<Duration> = (0..200).map(|_| patience(timeout, false)).collect();
        assert!(
            draws.iter().all(|d| *d >= timeout && *d < 2 * timeout),
            "{draws:?}"
        );
        let distinct: std::collections::BTreeSet<_> = draws.iter().collect();
        assert!(
            distinct.len() > 100,
            "only {} distinct draws of 200",
            distinct.len()
        );
        for _ in 0..200 {
            let d = patience(timeout, true);
            assert!(d >= 3 * timeout && d < 4 * timeout, "{d:?}");
        }
    }
}
