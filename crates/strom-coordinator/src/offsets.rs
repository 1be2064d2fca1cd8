//! Committed offsets: OffsetCommit, OffsetFetch, OffsetDelete and expiry
//! (`offsets.retention.minutes`).

use std::collections::HashSet;

use kafka_protocol::error::ResponseError;

use crate::api::*;
use crate::classic_group::ClassicGroupState as State;
use crate::group_shard::GroupShard;
use crate::records::OffsetCommitValue;

impl GroupShard {
    pub fn offset_commit(&mut self, reply_to: ReplyId, req: OffsetCommitRequest, now_ms: i64) {
        let group_error = match self.validate_offset_commit(&req, now_ms) {
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
                    self.write_offset(
                        &req.group_id,
                        &topic.name,
                        p.partition_index,
                        Some(value),
                        now_ms,
                    );
                    NONE
                };
                partitions.push((p.partition_index, error));
            }
            response.push((topic.name.clone(), partitions));
        }
        self.reply(reply_to, Reply::OffsetCommit(response));
    }

    /// Kafka's checks, in Kafka's order: who may commit for which generation.
    fn validate_offset_commit(
        &mut self,
        req: &OffsetCommitRequest,
        now_ms: i64,
    ) -> Result<(), ErrorCode> {
        if req.group_id.is_empty() {
            return Err(ResponseError::InvalidGroupId.code());
        }
        if self.consumer_groups.contains_key(&req.group_id) {
            return self.validate_consumer_offset_commit(req);
        }
        if !self.groups.contains_key(&req.group_id) {
            if req.generation_id_or_member_epoch < 0 {
                // An admin client or a consumer using assign(): a "simple" group.
                self.groups.insert(
                    req.group_id.clone(),
                    crate::classic_group::ClassicGroup::new(req.group_id.clone(), now_ms),
                );
                return Ok(());
            }
            return Err(if req.version >= 9 {
                ResponseError::GroupIdNotFound.code()
            } else {
                ResponseError::IllegalGeneration.code()
            });
        }
        let group = &self.groups[&req.group_id];
        if group.is(State::Dead) {
            return Err(ResponseError::CoordinatorNotAvailable.code());
        }
        if req.generation_id_or_member_epoch < 0 && group.is(State::Empty) {
            return Ok(());
        }
        if req.generation_id_or_member_epoch >= 0
            || !req.member_id.is_empty()
            || req.group_instance_id.is_some()
        {
            if let Some(instance) = &req.group_instance_id {
                if let Some(known) = group.static_members.get(instance) {
                    if *known != req.member_id {
                        return Err(ResponseError::FencedInstanceId.code());
                    }
                }
            }
            if !group.members.contains_key(&req.member_id) {
                return Err(ResponseError::UnknownMemberId.code());
            }
            if req.generation_id_or_member_epoch != group.generation_id {
                return Err(ResponseError::IllegalGeneration.code());
            }
        } else if !group.is(State::Empty) {
            return Err(ResponseError::UnknownMemberId.code());
        }
        if group.is(State::CompletingRebalance) {
            // The member has its generation but not yet its assignment.
            return Err(ResponseError::RebalanceInProgress.code());
        }
        Ok(())
    }

    pub fn offset_fetch(&mut self, reply_to: ReplyId, req: OffsetFetchRequest) {
        let response = self.fetch_offsets(&req);
        self.reply(reply_to, Reply::OffsetFetch(response));
    }

    fn fetch_offsets(&self, req: &OffsetFetchRequest) -> OffsetFetchResponse {
        if let Some(error) = self.validate_consumer_offset_fetch(req) {
            return OffsetFetchResponse {
                error_code: error,
                topics: Vec::new(),
            };
        }
        let committed = self.offsets.get(&req.group_id);
        let lookup = |topic: &str, partition: i32| -> OffsetFetchPartition {
            if req.require_stable && self.has_pending_txn_offset(&req.group_id, topic, partition) {
                // KIP-447: the consumer retries until the transaction ends.
                return OffsetFetchPartition {
                    partition_index: partition,
                    committed_offset: -1,
                    committed_leader_epoch: -1,
                    metadata: Some(String::new()),
                    error_code: ResponseError::UnstableOffsetCommit.code(),
                };
            }
            match committed
                .and_then(|o| o.get(&(topic.to_owned(), partition)))
                .map(|s| &s.value)
            {
                Some(v) => OffsetFetchPartition {
                    partition_index: partition,
                    committed_offset: v.offset,
                    committed_leader_epoch: v.leader_epoch,
                    metadata: Some(v.metadata.clone()),
                    error_code: NONE,
                },
                None => OffsetFetchPartition {
                    partition_index: partition,
                    committed_offset: -1,
                    committed_leader_epoch: -1,
                    metadata: Some(String::new()),
                    error_code: NONE,
                },
            }
        };
        let topics = match &req.topics {
            Some(topics) => topics
                .iter()
                .map(|(name, partitions)| {
                    (
                        name.clone(),
                        partitions.iter().map(|&p| lookup(name, p)).collect(),
                    )
                })
                .collect(),
            None => {
                let mut out: Vec<(String, Vec<OffsetFetchPartition>)> = Vec::new();
                for (topic, partition) in committed
                    .map(|o| o.keys().cloned().collect::<Vec<_>>())
                    .unwrap_or_default()
                {
                    let entry = lookup(&topic, partition);
                    match out.last_mut() {
                        Some((t, ps)) if *t == topic => ps.push(entry),
                        _ => out.push((topic, vec![entry])),
                    }
                }
                out
            }
        };
        OffsetFetchResponse {
            error_code: NONE,
            topics,
        }
    }

    pub fn offset_delete(&mut self, reply_to: ReplyId, req: OffsetDeleteRequest, now_ms: i64) {
        let response = self.try_offset_delete(&req, now_ms);
        self.reply(reply_to, Reply::OffsetDelete(response));
    }

    fn try_offset_delete(
        &mut self,
        req: &OffsetDeleteRequest,
        now_ms: i64,
    ) -> OffsetDeleteResponse {
        let subscribed: Option<HashSet<String>> =
            if let Some(group) = self.groups.get(&req.group_id) {
                if group.is(State::Dead) {
                    return OffsetDeleteResponse {
                        error_code: ResponseError::GroupIdNotFound.code(),
                        topics: Vec::new(),
                    };
                }
                if group.members.is_empty() {
                    Some(HashSet::new())
                } else {
                    match group.subscribed_topics() {
                        Some(topics) => Some(topics),
                        // A non-consumer group with members: nothing is known about
                        // what it reads, so nothing may be deleted (Kafka's NON_EMPTY_GROUP).
                        None => {
                            return OffsetDeleteResponse {
                                error_code: ResponseError::NonEmptyGroup.code(),
                                topics: Vec::new(),
                            }
                        }
                    }
                }
            } else if let Some(group) = self.consumer_groups.get(&req.group_id) {
                Some(group.subscribed_topic_names())
            } else {
                return OffsetDeleteResponse {
                    error_code: ResponseError::GroupIdNotFound.code(),
                    topics: Vec::new(),
                };
            };
        let subscribed = subscribed.unwrap_or_default();
        let mut topics = Vec::new();
        for (topic, partitions) in &req.topics {
            let mut results = Vec::new();
            for &p in partitions {
                if subscribed.contains(topic) {
                    results.push((p, ResponseError::GroupSubscribedToTopic.code()));
                    continue;
                }
                // Pending transactional offsets go too, as in Kafka.
                let present = self
                    .offsets
                    .get(&req.group_id)
                    .map(|o| o.contains_key(&(topic.clone(), p)))
                    .unwrap_or(false)
                    || self.has_pending_txn_offset(&req.group_id, topic, p);
                if present {
                    self.write_offset(&req.group_id, topic, p, None, now_ms);
                }
                results.push((p, NONE));
            }
            topics.push((topic.clone(), results));
        }
        OffsetDeleteResponse {
            error_code: NONE,
            topics,
        }
    }

    /// Drops offsets older than `offsets.retention.minutes`: all of a
    /// consumer group's once it has been empty that long, or, for groups
    /// that only store offsets, each one that long after its commit. A group
    /// left with no members and no offsets is deleted.
    pub(crate) fn expire_offsets(&mut self, now_ms: i64) {
        let retention = self.config.offsets_retention_ms;
        let mut expired: Vec<(String, String, i32)> = Vec::new();
        for (group_id, offsets) in &self.offsets {
            let classic = self.groups.get(group_id);
            if self
                .consumer_groups
                .get(group_id)
                .is_some_and(|g| !g.is_empty())
            {
                continue;
            }
            if classic.is_some_and(|g| !g.members.is_empty()) {
                continue;
            }
            let empty_since = classic
                .filter(|g| g.protocol_type.is_some())
                .map(|g| g.state_timestamp_ms);
            for ((topic, partition), v) in offsets {
                let base = empty_since.unwrap_or(v.value.commit_timestamp);
                // An offset whose partition has pending transactional offsets
                // waits for the transaction, as in Kafka.
                if now_ms - base >= retention
                    && !self.has_pending_txn_offset(group_id, topic, *partition)
                {
                    expired.push((group_id.clone(), topic.clone(), *partition));
                }
            }
        }
        let touched: HashSet<String> = expired.iter().map(|(g, _, _)| g.clone()).collect();
        for (group, topic, partition) in expired {
            self.write_offset(&group, &topic, partition, None, now_ms);
        }
        for group_id in touched {
            let deletable = self
                .groups
                .get(&group_id)
                .is_some_and(|g| g.is(State::Empty) && g.members.is_empty())
                && !self.has_offsets(&group_id)
                && !self.open_txns_by_group.contains_key(&group_id);
            if deletable {
                tracing::info!(group = %group_id, "committed offsets expired; deleting the empty group");
                self.groups.remove(&group_id);
                self.timers.cancel_group(&group_id);
                self.write_group_tombstone(&group_id);
            }
        }
    }
}
