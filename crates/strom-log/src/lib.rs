//! One partition's log: segment files of record batches, their offset and time indexes,
//! recovery after a crash, and the file-system seam that lets tests crash it.
//!
//! # On-disk layout
//!
//! ```text
//! <log.dir>/
//!   meta.properties                 identity of the directory (see meta_properties)
//!   .kafka_cleanshutdown            present only between a clean shutdown and the next start
//!   log-start-offset-checkpoint     log start offsets set by DeleteRecords (format in
//!                                   offset_checkpoint)
//!   cleaner-offset-checkpoint       where each compacted log's last clean ended (same
//!                                   format, see offset_checkpoint)
//!   replication-offset-checkpoint   each log's high watermark, written on the broker's
//!                                   timer and at shutdown (same format)
//!   <topic>-<partition>/            one per partition; the partition follows the LAST '-'
//!     leader-epoch-checkpoint         where each leader epoch starts (see
//!                                     leader_epoch_cache)
//!     00000000000000000000.log        segment: batches, base offset in the file name
//!     00000000000000000000.index      offset index of that segment
//!     00000000000000000000.timeindex  time index of that segment
//!     00000000000000368769.log        next segment, base offset 368769 (20 digits)
//!     00000000000000368769.snapshot   producer state after every batch below 368769
//!                                     (Kafka's format, see producer_snapshot)
//!     00000000000000368769.txnindex   transactions aborted by a marker in that segment
//!                                     (Kafka's 34-byte entries, see txn_index)
//!     ...
//!     00000000000000000000.log.deleted  a segment file being deleted (removed at open)
//!     00000000000000000000.log.cleaned  compaction output being written (removed at open)
//!     00000000000000000000.log.swap     finished compaction output replacing the segments
//!                                       from its base to its last offset (swapped in at open)
//!   <topic>-<partition>.<uuid>-delete/  a deletion in progress
//!   __cluster_metadata-0/           first log.dir only: the controller's metadata log
//!     initial-controllers             voters of a new dynamic quorum, written by
//!                                     `strom storage format` (see storage_format)
//! ```
//!
//! # `.log`: batches as received
//!
//! A segment file is record batches (v2, see `strom_records`) back to back, no framing
//! of its own, exactly as the producer sent them except for the 61-byte header patches
//! the broker makes: `baseOffset` (bytes 0..8), optionally `partitionLeaderEpoch`
//! (12..16), and for LogAppendTime topics the timestamp-type bit and `maxTimestamp` with a
//! recomputed CRC. Offsets increase strictly from batch to batch; the first batch's
//! `baseOffset` is at least the file's base offset, and every offset in the file is below
//! the next segment's base offset. A segment ends when it would pass `segment.bytes`, is
//! older than `segment.ms` (measured from its first batch's timestamp), when an index is
//! full, or when an offset would not fit a 4-byte relative offset.
//!
//! # `.index`: sparse offset index
//!
//! ```text
//! repeated, 8 bytes each, big-endian:
//!   int32 relativeOffset   last offset of a batch minus the segment base offset
//!   int32 position         byte position of that batch in the .log file
//! ```
//! One entry after every `index.interval.bytes` of appended data (the first batch of a
//! segment is never indexed: position 0 needs no entry). Both fields strictly increase.
//! The file has no preallocated tail: its size is 8 x entries.
//!
//! # `.timeindex`: sparse time index
//!
//! ```text
//! repeated, 12 bytes each, big-endian:
//!   int64 timestamp        largest batch maxTimestamp in the segment so far
//!   int32 relativeOffset   last offset of the batch carrying it, minus the base offset
//! ```
//! Written alongside offset index entries when the largest timestamp has grown, plus one
//! final entry when the segment stops being active. Timestamps strictly increase.
//!
//! # Durability
//!
//! Appends are written, not fsynced. Fsync happens when a segment rolls (its data and both
//! indexes), on `flush.messages`/`flush.ms`, on explicit flushes (group-committed by the
//! broker through [`PendingFlush`]), and on close. After an unclean shutdown the active
//! segment is re-read batch by batch: the first batch that is torn or fails its CRC ends
//! the log, the tail is cut, and the indexes are rebuilt.
//!
//! # Retention and DeleteRecords
//!
//! Whole leading segments are deleted, never part of one: by `retention.ms`,
//! `retention.bytes` and the log start offset, as Kafka decides (`retention`, pure
//! functions), when the broker calls [`Log::delete_old_segments`]; and by DeleteRecords,
//! [`Log::increase_log_start_offset`], which first moves the log start offset durably
//! (the directory's `log-start-offset-checkpoint`). A deleted segment's files are renamed
//! to `*.deleted`, then removed (see `log_retention`). Reads below the log start offset
//! answer `OFFSET_OUT_OF_RANGE`; timestamp lookups never name an offset below it.
//!
//! # Compaction
//!
//! For `cleanup.policy=compact` the broker calls [`Log::clean`]: the segments below the
//! first uncleanable offset are rewritten keeping the latest record of every key (and
//! tombstones until `delete.retention.ms`), offsets unchanged, each batch with its own
//! codec; the active segment is never touched. Compacted batches keep their `baseOffset`
//! and `lastOffsetDelta`, so they may hold fewer records than their offset span, even
//! none: recovery accepts such batches (`strom_records::validate_stored_batch`). The
//! output replaces the old segments through `.cleaned` and `.swap` files (see `cleaner`);
//! the rules are pure functions in `cleaner_decisions`.
//!
//! # Replication
//!
//! Each log keeps its leader epoch cache, where every leader epoch starts, in
//! `leader-epoch-checkpoint` (see `leader_epoch_cache`); it answers OffsetForLeaderEpoch
//! ([`Log::end_offset_for_epoch`]). A follower appends the leader's batches byte for byte
//! ([`Log::append_as_follower`]) and, after a leader change, truncates to the leader's
//! history ([`Log::truncate_to`], [`Log::truncate_fully_and_start_at`]); see
//! `log_replication` for the order of the steps and what a crash leaves.
//!
//! # Idempotent and transactional producers
//!
//! Each log keeps in memory the epoch and last five batches of every producer id it has
//! seen within `producer.id.expiration.ms`, to refuse out-of-order or fenced batches and
//! to answer retried batches with their original offsets instead of writing them twice
//! (see `producer_state`). It is snapshotted at every roll and clean close; opening a log
//! loads the newest snapshot and replays the batch headers after it (see
//! `producer_snapshot`). The state also holds each producer's ongoing transaction: its
//! first offset gives the first unstable offset (the last stable offset is the smaller
//! of it and the high watermark), and a marker written by
//! [`Log::append_txn_marker`] ends it; aborted transactions are listed per segment in
//! `.txnindex` files for read_committed fetches ([`Log::collect_aborted_transactions`]).
//! Compaction never passes the first unstable offset, drops the records of aborted
//! transactions, and keeps the markers.

mod cleaner;
mod cleaner_decisions;
mod config;
mod error;
mod fault_injection;
#[cfg(any(test, feature = "testing"))]
mod faulty_fs;
mod file_names;
mod flush;
mod fs;
mod handle_cache;
mod health;
mod index_file;
mod leader_epoch_cache;
mod log;
mod log_loader;
mod log_manager;
mod log_read;
mod log_replication;
mod log_retention;
mod meta_properties;
mod offset_checkpoint;
mod offset_index;
mod offset_map;
mod producer_snapshot;
mod producer_state;
mod retention;
mod segment;
mod storage_format;
mod time_index;
mod topic_partition;
mod txn_index;

pub use cleaner::CleanerStats;
pub use cleaner_decisions::CleaningStatus;
pub use config::LogConfig;
pub use error::{
    AppendError, DeleteRecordsError, LogError, ReadError, RecordValidation, INVALID_PRODUCER_EPOCH,
    INVALID_RECORD, INVALID_TXN_STATE, KAFKA_STORAGE_ERROR, OFFSET_OUT_OF_RANGE,
    OUT_OF_ORDER_SEQUENCE_NUMBER, RECORD_LIST_TOO_LARGE, TRANSACTION_COORDINATOR_FENCED,
    UNKNOWN_SERVER_ERROR,
};
pub use fault_injection::{file_system_from_env, FAULTS_CONTROL_ENV, SYNC_JOURNAL_ENV};
#[cfg(any(test, feature = "testing"))]
pub use faulty_fs::{CrashMode, FaultyFileSystem};
pub use file_names::segment_file_name;
pub use flush::PendingFlush;
pub use fs::{DirEntry, FileSystem, SegmentFile, StdFileSystem, StdSegmentFile};
pub use handle_cache::{CachingFileSystem, HandleCache};
pub use health::{DirHealth, LogHealth};
pub use leader_epoch_cache::{
    LEADER_EPOCH_CHECKPOINT_FILE, UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET,
};
pub use log::{AppendInfo, Log};
pub use log_manager::{
    BrokerIdentity, LoadedLogs, LogDir, LogManager, LogManagerOptions, CLEAN_SHUTDOWN_FILE,
    DEFAULT_MAX_OPEN_FILES, DELETE_DIR_SUFFIX, METADATA_LOG_DIR_NAME,
};
pub use log_read::{ReadResult, TimestampOffset};
pub use meta_properties::{new_kafka_uuid, MetaProperties, META_PROPERTIES_FILE};
pub use offset_checkpoint::{
    CLEANER_OFFSET_CHECKPOINT_FILE, HIGH_WATERMARK_CHECKPOINT_FILE,
    LOG_START_OFFSET_CHECKPOINT_FILE,
};
pub use producer_state::ProducerDescription;
pub use storage_format::{
    check_formatted, format_log_dirs, is_kafka_uuid, read_meta_properties, storage_info,
    FormatOutcome, FormatRequest, InitialController, InitialControllers, StorageInfo,
    INITIAL_CONTROLLERS_FILE,
};
pub use topic_partition::{is_legal_topic_name, TopicPartition};
pub use txn_index::{AbortedTxn, TXN_INDEX_FILE_SUFFIX};

#[cfg(test)]
mod cleaner_checkpoint_tests;
#[cfg(test)]
mod cleaner_tests;
#[cfg(test)]
mod cleaner_txn_tests;
#[cfg(test)]
mod idempotence_tests;
#[cfg(test)]
mod log_manager_tests;
#[cfg(test)]
mod log_tests;
#[cfg(test)]
mod producer_state_tests;
#[cfg(test)]
mod recovery_tests;
#[cfg(test)]
mod replication_tests;
#[cfg(test)]
mod retention_tests;
#[cfg(test)]
mod test_support;
#[cfg(test)]
mod timestamp_tests;
#[cfg(test)]
mod transaction_tests;
