//! Coordinators whose state lives in an internal, compacted topic.
//!
//! The group coordinator keeps consumer groups and their committed offsets
//! in `__consumer_offsets`. Each partition of that topic is one *shard*: a
//! plain state machine (`GroupShard`) that takes a request and `now` and
//! returns what to do: records to append, replies to send (some of them
//! parked until a rebalance completes), timers to arm. It never does I/O and
//! never awaits; a driver in the broker appends the records, and only once
//! they are in the log sends the replies. Loading a shard after a restart or
//! a leadership change replays the partition's records through the same
//! `replay` entry point.

pub mod api;
mod assignor;
mod classic;
mod classic_group;
mod consumer;
mod consumer_group;
pub mod consumer_protocol;
mod group_shard;
mod offsets;
pub mod records;
mod timer;
pub mod txn;
mod txn_offsets;
mod wire;

pub use classic_group::ClassicGroupState;
pub use group_shard::{GroupConfig, GroupShard, Output, TopicMetadata};
pub use txn_offsets::SavedTransaction;

/// The `__consumer_offsets` partition that coordinates `group_id`: Kafka's
/// `Utils.abs(groupId.hashCode()) % offsets.topic.num.partitions`, with
/// Java's String hash over UTF-16 code units, so groups land where Kafka puts
/// them (a cluster migrated from Kafka finds its offsets). Kafka's
/// `Utils.abs` is `Math.abs` except that `Integer.MIN_VALUE` maps to 0;
/// masking the sign bit instead would move every group with a negative hash.
pub fn partition_for(group_id: &str, num_partitions: i32) -> i32 {
    let mut h: i32 = 0;
    for unit in group_id.encode_utf16() {
        h = h.wrapping_mul(31).wrapping_add(i32::from(unit));
    }
    h.checked_abs().unwrap_or(0) % num_partitions.max(1)
}

/// The internal topic's name.
pub const CONSUMER_OFFSETS_TOPIC: &str = "__consumer_offsets";

#[cfg(test)]
mod tests;

#[cfg(test)]
mod consumer_tests;
#[cfg(test)]
mod txn_tests;
