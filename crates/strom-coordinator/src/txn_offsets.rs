//! Transactional offsets (KIP-98, KIP-447): TxnOffsetCommit and the end of
//! a transaction.
//!
//! A TxnOffsetCommit writes ordinary offset records, but in a transactional
//! batch of the producer: they are *pending* for that producer, invisible to
//! OffsetFetch, until the transaction coordinator writes the producer's
//! marker into this partition. A commit marker makes them the committed
//! offsets, except where an offset record written later (a plain
//! OffsetCommit) already holds a newer one; an abort marker drops them.
//! Loading replays the same way: records of a transactional batch are
//! pending until the marker of that producer is replayed
//! (Kafka's `OffsetMetadataManager`).

use std::collections::BTreeSet;

use kafka_protocol::error::ResponseError;

use crate::api::*;
use crate::classic_group::{ClassicGroup, ClassicGroupState as State};
use crate::group_shard::GroupShard;
use crate::group_shard::OffsetsByGroup;
use crate::records::OffsetCommitValue;

/// A producer's pending offsets before a TxnOffsetCommit (see
/// [`GroupShard::save_transaction`]).
#[derive(Debug, Clone)]
pub struct SavedTransaction {
    producer_id: i64,
    pending: Option<OffsetsByGroup>,
}

impl GroupShard {
    /// TxnOffsetCommit: the records it leaves in the output belong to the
    /// transaction of `req.producer_id`; the driver writes them as one
    /// transactional batch with the producer's id and epoch, apart from the
    /// records of other requests.
    pub fn txn_offset_commit(
        &mut self,
        reply_to: ReplyId,
        req: TxnOffsetCommitRequest,
        now_ms: i64,
    ) {
        let group_error = match self.validate_txn_offset_commit(&req, now_ms) {
            Ok(()) => NONE,
            Err(e) => e,
        };
        let mut response = Vec::with_capacity(req.topics.len());
        for topic in &req.topics {
            let mut partitions = Vec::with_capacity(topic.partitions.len());
            for p in &topic.partitions {
                let error = if group_error != NONE {
                    group_error
                } else if p.precheck_error != NONE {
                    p.precheck_error
                } else if p.committed_metadata.as_ref().map(|m| m.len()).unwrap_or(0)
                    > self.config.offset_metadata_max_bytes
                {
                    ResponseError::OffsetMetadataTooLarge.code()
                } else {
                    let value = OffsetCommitValue {
                        offset: p.committed_offset,
                        leader_epoch: p.committed_leader_epoch,
                        metadata: p.committed_metadata.clone().unwrap_or_default(),
                        commit_timestamp: now_ms,
                        expire_timestamp: -1,
                    };
                    self.write_offset_record(
                        &req.group_id,
                        &topic.name,
                        p.partition_index,
                        Some(value),
                        Some(req.producer_id),
                        now_ms,
                    );
                    NONE
                };
                partitions.push((p.partition_index, error));
            }
            response.push((topic.name.clone(), partitions));
        }
        self.reply(reply_to, Reply::TxnOffsetCommit(response));
    }

    /// Kafka's checks for a transactional commit (KIP-447 from v3): a group
    /// member commits for its current generation; v0-2 (generation -1, no
    /// member id) commit for any group without consumer-protocol members.
    /// Unlike OffsetCommit, a group without member fields may be non-empty
    /// and a group completing a rebalance accepts the commit.
    fn validate_txn_offset_commit(
        &mut self,
        req: &TxnOffsetCommitRequest,
        now_ms: i64,
    ) -> Result<(), ErrorCode> {
        if req.group_id.is_empty() {
            return Err(ResponseError::InvalidGroupId.code());
        }
        if let Some(group) = self.consumer_groups.get(&req.group_id) {
            if req.generation_id < 0 && group.members.is_empty() {
                return Ok(());
            }
            let Some(member) = group.members.get(&req.member_id) else {
                return Err(ResponseError::UnknownMemberId.code());
            };
            // Kafka answers a stale member epoch with ILLEGAL_GENERATION here.
            if req.generation_id != member.member_epoch {
                return Err(ResponseError::IllegalGeneration.code());
            }
            return Ok(());
        }
        let Some(group) = self.groups.get(&req.group_id) else {
            if req.generation_id < 0 {
                // A producer committing for a consumer using assign(): a "simple" group.
                self.groups.insert(
                    req.group_id.clone(),
                    ClassicGroup::new(req.group_id.clone(), now_ms),
                );
                return Ok(());
            }
            return Err(ResponseError::IllegalGeneration.code());
        };
        if group.is(State::Dead) {
            return Err(ResponseError::CoordinatorNotAvailable.code());
        }
        if req.generation_id < 0 && group.is(State::Empty) {
            return Ok(());
        }
        if req.generation_id >= 0 || !req.member_id.is_empty() || req.group_instance_id.is_some() {
            match &req.group_instance_id {
                Some(instance) => match group.static_members.get(instance) {
                    None => return Err(ResponseError::UnknownMemberId.code()),
                    Some(known) if *known != req.member_id => {
                        return Err(ResponseError::FencedInstanceId.code())
                    }
                    Some(_) => {}
                },
                None => {
                    if !group.members.contains_key(&req.member_id) {
                        return Err(ResponseError::UnknownMemberId.code());
                    }
                }
            }
            if req.generation_id != group.generation_id {
                return Err(ResponseError::IllegalGeneration.code());
            }
        }
        Ok(())
    }

    /// The producer's transaction ended in this partition: its marker is in
    /// the log (live, after the driver appended it; at load, when replayed).
    /// Commit: each pending offset becomes the committed one unless a later
    /// offset record already holds the partition; abort: they are dropped.
    /// A marker of a producer with nothing pending changes nothing.
    pub fn complete_transaction(&mut self, producer_id: i64, commit: bool, _now_ms: i64) {
        let Some(pending) = self.pending_txn_offsets.remove(&producer_id) else {
            return;
        };
        for group in pending.keys() {
            if let Some(open) = self.open_txns_by_group.get_mut(group) {
                open.remove(&producer_id);
                if open.is_empty() {
                    self.open_txns_by_group.remove(group);
                }
            }
        }
        if !commit {
            return;
        }
        for (group, offsets) in pending {
            for (key, stored) in offsets {
                let committed = self.offsets.entry(group.clone()).or_default();
                let newer = committed
                    .get(&key)
                    .is_some_and(|c| c.record_order > stored.record_order);
                if newer {
                    tracing::debug!(
                        group = %group,
                        topic = %key.0,
                        partition = key.1,
                        producer_id,
                        "a later offset commit keeps its offset over the transaction's"
                    );
                    continue;
                }
                committed.insert(key, stored);
            }
            if self.offsets.get(&group).is_some_and(|o| o.is_empty()) {
                self.offsets.remove(&group);
            }
        }
    }

    /// The producer's pending offsets as they are, for the driver to put
    /// back with [`restore_transaction`](Self::restore_transaction) if the
    /// records of a TxnOffsetCommit could not be appended.
    pub fn save_transaction(&self, producer_id: i64) -> SavedTransaction {
        SavedTransaction {
            producer_id,
            pending: self.pending_txn_offsets.get(&producer_id).cloned(),
        }
    }

    /// Puts back what [`save_transaction`](Self::save_transaction) saw: the
    /// TxnOffsetCommit decided since then was not written.
    pub fn restore_transaction(&mut self, saved: SavedTransaction) {
        let producer_id = saved.producer_id;
        for (group, open) in self.open_txns_by_group.iter_mut() {
            let had = saved
                .pending
                .as_ref()
                .is_some_and(|p| p.contains_key(group));
            if !had {
                open.remove(&producer_id);
            }
        }
        self.open_txns_by_group.retain(|_, open| !open.is_empty());
        match saved.pending {
            Some(pending) => {
                self.pending_txn_offsets.insert(producer_id, pending);
            }
            None => {
                self.pending_txn_offsets.remove(&producer_id);
            }
        }
    }

    /// True if an ongoing transaction wrote an offset for this partition.
    pub(crate) fn has_pending_txn_offset(&self, group: &str, topic: &str, partition: i32) -> bool {
        let Some(open) = self.open_txns_by_group.get(group) else {
            return false;
        };
        let key = (topic.to_owned(), partition);
        open.iter().any(|producer_id| {
            self.pending_txn_offsets
                .get(producer_id)
                .and_then(|p| p.get(group))
                .is_some_and(|o| o.contains_key(&key))
        })
    }

    /// Partitions of the group with pending transactional offsets.
    pub(crate) fn pending_partitions(&self, group: &str) -> BTreeSet<(String, i32)> {
        let mut keys = BTreeSet::new();
        for producer_id in self.open_txns_by_group.get(group).into_iter().flatten() {
            if let Some(offsets) = self
                .pending_txn_offsets
                .get(producer_id)
                .and_then(|p| p.get(group))
            {
                keys.extend(offsets.keys().cloned());
            }
        }
        keys
    }

    /// Producers with pending transactional offsets in this shard, for tests
    /// and diagnostics.
    pub fn open_transactions(&self) -> Vec<i64> {
        let mut v: Vec<i64> = self.pending_txn_offsets.keys().copied().collect();
        v.sort_unstable();
        v
    }
}
