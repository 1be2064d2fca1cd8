//! The KIP-848 consumer group protocol.

use crate::api::*;
use crate::group_shard::GroupShard;
use crate::records::{RecordError, RecordKey};

impl GroupShard {
    pub(crate) fn replay_consumer_group(
        &mut self,
        _key: RecordKey,
        _value: Option<&[u8]>,
        _now_ms: i64,
    ) -> Result<(), RecordError> {
        Ok(())
    }

    pub(crate) fn consumer_groups_loaded(&mut self, _now_ms: i64) {}

    pub(crate) fn on_consumer_session_expired(
        &mut self,
        _group: &str,
        _member_id: &str,
        _now_ms: i64,
    ) {
    }

    pub(crate) fn on_consumer_rebalance_expired(
        &mut self,
        _group: &str,
        _member_id: &str,
        _now_ms: i64,
    ) {
    }

    /// `None` if `group_id` is not a consumer group.
    pub(crate) fn delete_consumer_group(
        &mut self,
        group_id: &str,
        _now_ms: i64,
    ) -> Option<ErrorCode> {
        let group = self.consumer_groups.get(group_id)?;
        if !group.is_empty() {
            return Some(kafka_protocol::error::ResponseError::NonEmptyGroup.code());
        }
        self.consumer_groups.remove(group_id);
        Some(NONE)
    }

    pub(crate) fn validate_consumer_offset_commit(
        &self,
        _req: &OffsetCommitRequest,
    ) -> Result<(), ErrorCode> {
        Ok(())
    }

    pub(crate) fn validate_consumer_offset_fetch(
        &self,
        _req: &OffsetFetchRequest,
    ) -> Option<ErrorCode> {
        None
    }
}
