//! Partition replication on the broker: the leader's state machine
//! (`leader`), the fetchers that copy leaders' logs to followers
//! (`fetcher`), and the ISR changes leaders send to the controller (`isr`).

pub(crate) mod fetcher;
pub(crate) mod follower;
pub(crate) mod isr;
pub(crate) mod leader;
pub(crate) mod quota;
#[cfg(test)]
mod sim;
