//! Per-log settings, under Kafka's names and with Kafka's defaults (topic-level keys in
//! parentheses; broker-level keys are `log.`-prefixed where Kafka has them).

use strom_records::TimestampType;

/// Settings of one partition's log.
#[derive(Debug, Clone, PartialEq)]
pub struct LogConfig {
    /// `segment.bytes`: roll when the active segment would grow past this (default 1 GiB).
    /// Capped at `i32::MAX`, since index positions are 4-byte signed integers.
    pub segment_bytes: u64,
    /// `segment.ms`: roll when the active segment is older than this (default 7 days).
    pub segment_ms: i64,
    /// `segment.jitter.ms`: up to this much is subtracted from `segment_ms` per segment, so
    /// partitions created together do not all roll at once (default 0).
    pub segment_jitter_ms: i64,
    /// `segment.index.bytes`: roll when an index file reaches this size (default 10 MiB).
    pub segment_index_bytes: u64,
    /// `index.interval.bytes`: bytes appended between offset index entries (default 4096).
    pub index_interval_bytes: u64,
    /// `max.message.bytes`: largest batch accepted (default 1048588).
    pub max_message_bytes: u32,
    /// `flush.messages`: fsync after this many messages (default: never; rely on
    /// replication and the OS).
    pub flush_messages: Option<u64>,
    /// `flush.ms`: fsync when this long has passed since the last flush (default: never).
    pub flush_ms: Option<u64>,
    /// `message.timestamp.type` (default CreateTime).
    pub message_timestamp_type: TimestampType,
    /// `message.timestamp.before.max.ms`: on a CreateTime topic, a record whose timestamp
    /// is further than this in the past is refused with `INVALID_TIMESTAMP` (default
    /// `i64::MAX`: no limit).
    pub message_timestamp_before_max_ms: i64,
    /// `message.timestamp.after.max.ms`: the same for timestamps in the future (Kafka 4's
    /// default: one hour).
    pub message_timestamp_after_max_ms: i64,
    /// `retention.ms`: a segment whose largest timestamp is older than this is deleted by
    /// [`crate::Log::delete_old_segments`] (default 7 days). `None` (Kafka's -1, or any
    /// negative value) keeps segments forever. Kafka applies time and size retention only
    /// when `cleanup.policy` includes `delete`: for a compact-only topic pass `None` here
    /// and in `retention_bytes`.
    pub retention_ms: Option<i64>,
    /// `retention.bytes`: the oldest segments are deleted while the log without them is
    /// still at least this large. `None` (Kafka's -1, the default) means no size limit.
    pub retention_bytes: Option<u64>,
    /// `cleanup.policy` includes `compact` (default: only `delete`): the broker's cleaner
    /// calls [`crate::Log::clean`] for this log. The log itself does not look at it.
    pub compact: bool,
    /// `delete.retention.ms`: how long a tombstone (a record with a null value) stays after
    /// the segment holding it was compacted, so consumers reading from the start see the
    /// deletion (default 1 day). See `cleaner_decisions` for the exact rule.
    pub delete_retention_ms: i64,
    /// `min.compaction.lag.ms`: a record younger than this (by its segment's largest
    /// timestamp) is not compacted (default 0).
    pub min_compaction_lag_ms: i64,
    /// `max.compaction.lag.ms`: a dirty segment whose first batch is older than this makes
    /// the log due for cleaning whatever its dirty ratio (default `i64::MAX`: never).
    pub max_compaction_lag_ms: i64,
    /// `producer.id.expiration.ms` (a broker key): a producer whose newest batch is this
    /// old is forgotten by [`crate::Log::remove_expired_producers`] and not loaded from a
    /// snapshot (default one day).
    pub producer_id_expiration_ms: i64,
    /// `min.cleanable.dirty.ratio`: the log is due for cleaning when its dirty bytes are at
    /// least this share of its cleanable bytes (default 0.5).
    pub min_cleanable_dirty_ratio: f64,
    /// `compression.type`: the codec batches are stored with, recompressed on append when
    /// the producer used another; `None` (Kafka's `producer`, the default) keeps the
    /// producer's.
    pub compression: Option<strom_records::Compression>,
}

// `min_cleanable_dirty_ratio` is validated into 0..=1 by the config layer; it is never NaN.
impl Eq for LogConfig {}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            segment_bytes: 1024 * 1024 * 1024,
            segment_ms: 7 * 24 * 60 * 60 * 1000,
            segment_jitter_ms: 0,
            segment_index_bytes: 10 * 1024 * 1024,
            index_interval_bytes: 4096,
            max_message_bytes: 1024 * 1024 + 12,
            compression: None,
            flush_messages: None,
            flush_ms: None,
            message_timestamp_type: TimestampType::CreateTime,
            message_timestamp_before_max_ms: i64::MAX,
            message_timestamp_after_max_ms: 60 * 60 * 1000,
            retention_ms: Some(7 * 24 * 60 * 60 * 1000),
            retention_bytes: None,
            compact: false,
            delete_retention_ms: 24 * 60 * 60 * 1000,
            min_compaction_lag_ms: 0,
            max_compaction_lag_ms: i64::MAX,
            min_cleanable_dirty_ratio: 0.5,
            producer_id_expiration_ms: 24 * 60 * 60 * 1000,
        }
    }
}

impl LogConfig {
    /// `segment_bytes` as the log applies it.
    pub(crate) fn effective_segment_bytes(&self) -> u64 {
        self.segment_bytes.clamp(1, i32::MAX as u64)
    }
}
