//! Errors of the log. Storage failures ([`LogError`]) are fatal for the log directory, as in
//! Kafka: the broker takes the directory offline and answers `KAFKA_STORAGE_ERROR` for its
//! partitions. Validation failures are answers to the producer, per partition.

use std::io;
use std::path::PathBuf;

use strom_records::{RecordsError, INVALID_TIMESTAMP};

/// `OFFSET_OUT_OF_RANGE`.
pub const OFFSET_OUT_OF_RANGE: i16 = 1;
/// `RECORD_LIST_TOO_LARGE`.
pub const RECORD_LIST_TOO_LARGE: i16 = 18;
/// `INVALID_RECORD`.
pub const INVALID_RECORD: i16 = 87;
/// `KAFKA_STORAGE_ERROR`.
pub const KAFKA_STORAGE_ERROR: i16 = 56;
/// `OUT_OF_ORDER_SEQUENCE_NUMBER`.
pub const OUT_OF_ORDER_SEQUENCE_NUMBER: i16 = 45;
/// `INVALID_PRODUCER_EPOCH`.
pub const INVALID_PRODUCER_EPOCH: i16 = 47;
/// `INVALID_TXN_STATE`.
pub const INVALID_TXN_STATE: i16 = 48;
/// `TRANSACTION_COORDINATOR_FENCED`.
pub const TRANSACTION_COORDINATOR_FENCED: i16 = 52;
/// `UNKNOWN_SERVER_ERROR`.
pub const UNKNOWN_SERVER_ERROR: i16 = -1;

/// A storage failure: I/O, corruption that recovery cannot repair, or a misconfigured
/// directory. Always names the file.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// An I/O call failed.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// File or directory involved.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// An fsync failed. The kernel may have dropped the dirty pages, so nothing written
    /// since the last good fsync can be trusted to be on disk: the directory goes offline.
    #[error("fsync of {path} failed: {source}; data written since the last successful fsync may be lost, so the log directory is offline: check the disk, then restart the broker")]
    Sync {
        /// File or directory involved.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// Data that should be valid is not.
    #[error("corrupt {path} at byte {position}: {reason}")]
    Corrupt {
        /// File involved.
        path: PathBuf,
        /// Byte position in that file.
        position: u64,
        /// What is wrong.
        reason: String,
    },
    /// An earlier storage error took this log offline.
    #[error("log {dir} refuses this after an earlier storage error ({reason}); restart the broker once the disk is fixed or has space")]
    Offline {
        /// The partition directory.
        dir: PathBuf,
        /// The first error.
        reason: String,
    },
    /// `meta.properties` is unreadable or incomplete.
    #[error("invalid {path}: {reason}")]
    InvalidMetaProperties {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// `meta.properties` belongs to another node.
    #[error(
        "{path} says node.id={found}, but this broker is node.id={expected}; the log \
         directory belongs to another node: fix node.id or log.dirs (if you moved your data, \
         make sure the configured node.id matches; to make a new node, empty the directory \
         and run `strom storage format`)"
    )]
    NodeIdMismatch {
        /// The file.
        path: PathBuf,
        /// node.id in the file.
        found: i32,
        /// node.id configured.
        expected: i32,
    },
    /// `meta.properties` belongs to another cluster.
    #[error(
        "{path} says cluster.id={found}, but this broker is in cluster {expected}; the log \
         directory was formatted for another cluster: fix strom.cluster.id or log.dirs, or \
         empty the directory and run `strom storage format --cluster-id {expected}`"
    )]
    ClusterIdMismatch {
        /// The file.
        path: PathBuf,
        /// cluster.id in the file.
        found: String,
        /// cluster.id configured.
        expected: String,
    },
    /// Two log directories carry the same `directory.id`.
    #[error("log directories {first} and {second} both have directory.id {id}; one was copied from the other: reformat one of them")]
    DuplicateDirectoryId {
        /// One directory.
        first: PathBuf,
        /// The other.
        second: PathBuf,
        /// The shared id.
        id: String,
    },
    /// Two log directories of this node belong to different clusters.
    #[error(
        "{first} says cluster.id={first_id}, but {second} says cluster.id={second_id}; the log \
         directories of one node must belong to one cluster: fix log.dirs, or empty the one \
         that is wrong and run `strom storage format --cluster-id <id> --ignore-formatted`"
    )]
    ClusterIdsDiffer {
        /// One `meta.properties`.
        first: PathBuf,
        /// Its cluster.id.
        first_id: String,
        /// The other.
        second: PathBuf,
        /// Its cluster.id.
        second_id: String,
    },
    /// A node of a multi-node cluster found a log directory without `meta.properties`.
    #[error(
        "no `meta.properties` found in {dir} (have you run `strom storage format --cluster-id \
         <id> --config <server.properties>` to format the directory?); {why}, so every node \
         must be formatted with the same cluster id (`strom storage random-uuid` makes one) \
         before its first start"
    )]
    NotFormatted {
        /// The directory.
        dir: PathBuf,
        /// Why this node cannot format itself.
        why: String,
    },
    /// `strom storage format` found a directory already formatted.
    #[error(
        "log directory {dir} is already formatted. Use --ignore-formatted to ignore this \
         directory and format the others"
    )]
    AlreadyFormatted {
        /// The directory.
        dir: PathBuf,
    },
    /// `strom storage format` was given arguments that cannot work together.
    #[error("{0}")]
    InvalidFormat(String),
    /// Every configured log directory failed to load.
    #[error("no usable log directory: {summary}")]
    NoLogDirs {
        /// Why each failed.
        summary: String,
    },
}

impl LogError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: io::Error) -> LogError {
        LogError::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn sync(path: impl Into<PathBuf>, source: io::Error) -> LogError {
        LogError::Sync {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn corrupt(
        path: impl Into<PathBuf>,
        position: u64,
        reason: impl Into<String>,
    ) -> LogError {
        LogError::Corrupt {
            path: path.into(),
            position,
            reason: reason.into(),
        }
    }

    /// The Kafka error code for a partition whose log failed this way.
    pub fn error_code(&self) -> i16 {
        KAFKA_STORAGE_ERROR
    }
}

/// Why an append was refused.
#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    /// A batch failed validation; nothing was written.
    #[error("invalid record batch: {0}")]
    InvalidRecords(#[from] RecordsError),
    /// The request carried no batch.
    #[error("produce request carried no record batch for this partition")]
    EmptyRecords,
    /// Records of a batch the topic refuses (Kafka's `RecordValidationException`, KIP-467):
    /// keyless records on a compacted topic, timestamps out of range, LogAppendTime from
    /// a producer. Nothing of the batch is written.
    #[error("{}", .0.message)]
    RecordValidation(RecordValidation),
    /// The batches together exceed what one segment may hold.
    #[error("{size} bytes of batches in one append exceed segment.bytes {segment_bytes}; raise segment.bytes or send smaller requests")]
    RecordListTooLarge {
        /// Bytes in the append.
        size: u64,
        /// The limit.
        segment_bytes: u64,
    },
    /// An idempotent producer wrote with an epoch older than one the partition has
    /// seen: a newer instance of the producer fenced it.
    #[error("producer {producer_id} wrote with epoch {epoch}, older than its current epoch {current_epoch}; a newer producer instance has fenced this one")]
    InvalidProducerEpoch {
        /// The batch's producerId.
        producer_id: i64,
        /// The batch's producerEpoch.
        epoch: i16,
        /// The newest epoch written for that producer.
        current_epoch: i16,
    },
    /// An idempotent producer's batch does not continue its sequence: a batch before it
    /// is missing.
    #[error("out of order sequence number for producer {producer_id} at epoch {epoch}: the batch starts at sequence {base_sequence}, {}", expected_sequence(.last_sequence))]
    OutOfOrderSequence {
        /// The batch's producerId.
        producer_id: i64,
        /// The batch's producerEpoch.
        epoch: i16,
        /// The batch's baseSequence.
        base_sequence: i32,
        /// The last sequence written at this epoch; `None` when the batch opens a new
        /// epoch (which must start at 0).
        last_sequence: Option<i32>,
    },
    /// A non-transactional batch from a producer inside a transaction, or a
    /// transactional batch the coordinator did not verify (Kafka's
    /// `InvalidTxnStateException`).
    #[error("producer {producer_id}: {reason}")]
    InvalidTxnState {
        /// The batch's producerId.
        producer_id: i64,
        /// What is wrong.
        reason: String,
    },
    /// A transaction marker from a coordinator older than the one that wrote the
    /// producer's last marker (Kafka's `TransactionCoordinatorFencedException`).
    #[error("transaction marker of producer {producer_id} from coordinator epoch {coordinator_epoch} (a zombie coordinator); the current coordinator epoch is {current}")]
    TransactionCoordinatorFenced {
        /// The producer whose transaction the marker ends.
        producer_id: i64,
        /// The marker's coordinator epoch.
        coordinator_epoch: i32,
        /// The coordinator epoch of the producer's last marker.
        current: i32,
    },
    /// A client sent a control batch (Kafka: "Clients are not allowed to write control
    /// records").
    #[error("clients are not allowed to write control records")]
    ControlBatchFromClient,
    /// A follower append whose batch starts below where the log (or the batch before it)
    /// ends: the leader's batches do not continue this replica's log (Kafka's
    /// `UnexpectedAppendOffsetException` / `OffsetsOutOfOrderException`).
    #[error("follower append out of order: a batch starts at offset {found}, but the log continues at offset {expected}; truncate the replica to the leader's history before fetching")]
    UnexpectedAppendOffset {
        /// The smallest base offset the batch could have had.
        expected: i64,
        /// Its base offset.
        found: i64,
    },
    /// The disk failed; the log is offline.
    #[error(transparent)]
    Storage(#[from] LogError),
}

fn expected_sequence(last_sequence: &Option<i32>) -> String {
    match last_sequence {
        Some(last) => format!(
            "expected sequence {}",
            crate::producer_state::increment_sequence(*last, 1)
        ),
        None => "but a new producer epoch must start at sequence 0".to_string(),
    }
}

impl AppendError {
    /// For a refusal caused by records of the batch, the response's `record_errors`
    /// (index in the batch and message) and `error_message`.
    pub fn record_errors(&self) -> Option<&RecordValidation> {
        match self {
            AppendError::RecordValidation(v) => Some(v),
            _ => None,
        }
    }

    /// The Kafka error code for the produce response.
    pub fn error_code(&self) -> i16 {
        match self {
            AppendError::InvalidRecords(e) => e.error_code(),
            AppendError::EmptyRecords => INVALID_RECORD,
            AppendError::RecordValidation(v) => v.error_code,
            AppendError::RecordListTooLarge { .. } => RECORD_LIST_TOO_LARGE,
            AppendError::InvalidProducerEpoch { .. } => INVALID_PRODUCER_EPOCH,
            AppendError::OutOfOrderSequence { .. } => OUT_OF_ORDER_SEQUENCE_NUMBER,
            AppendError::InvalidTxnState { .. } => INVALID_TXN_STATE,
            AppendError::TransactionCoordinatorFenced { .. } => TRANSACTION_COORDINATOR_FENCED,
            AppendError::ControlBatchFromClient => INVALID_RECORD,
            AppendError::UnexpectedAppendOffset { .. } => UNKNOWN_SERVER_ERROR,
            AppendError::Storage(e) => e.error_code(),
        }
    }
}

/// The records of one batch a topic refuses, as Kafka's `LogValidator` reports them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordValidation {
    /// `INVALID_TIMESTAMP` when any record's timestamp is refused, else `INVALID_RECORD`.
    pub error_code: i16,
    /// (index in the batch, Kafka's message for that record), in index order.
    pub record_errors: Vec<(i32, String)>,
    /// The partition's `error_message`, Kafka's `RecordValidationException` message.
    pub message: String,
}

impl RecordValidation {
    /// Kafka's record errors and messages for `invalid` (not empty), records of a batch
    /// of `topic_partition` (`topic-partition`, as Kafka prints a `TopicPartition`).
    pub fn new(
        topic_partition: &str,
        invalid: &[strom_records::InvalidRecord],
    ) -> RecordValidation {
        use strom_records::RecordProblem;
        let record_errors: Vec<(i32, String)> = invalid
            .iter()
            .map(|r| {
                let message = match r.problem {
                    RecordProblem::MissingKeyOnCompactedTopic => format!(
                        "Compacted topic cannot accept message without key in topic partition {topic_partition}"
                    ),
                    RecordProblem::TimestampOutOfRange { low, high } => format!(
                        "Timestamp {} of message with offset {} is out of range. The timestamp should be within [{low}, {high}]",
                        r.timestamp, r.offset
                    ),
                    RecordProblem::LogAppendTimeFromProducer => format!(
                        "Invalid timestamp type in message DefaultRecord(offset={}, timestamp={}, key={} bytes, value={} bytes). Producer should not set timestamp type to LogAppendTime.",
                        r.offset, r.timestamp, r.key_bytes, r.value_bytes
                    ),
                };
                (r.index, message)
            })
            .collect();
        if invalid.iter().any(|r| r.is_timestamp_error()) {
            return RecordValidation {
                error_code: INVALID_TIMESTAMP,
                record_errors,
                message: "One or more records have been rejected due to invalid timestamp"
                    .to_string(),
            };
        }
        // Java's List.toString of the first three RecordErrors.
        let shown: Vec<String> = record_errors
            .iter()
            .take(3)
            .map(|(index, message)| format!("RecordError(batchIndex={index}, message='{message}')"))
            .collect();
        let message = format!(
            "One or more records have been rejected due to {} record errors in total, and only showing the first three errors at most: [{}]",
            record_errors.len(),
            shown.join(", ")
        );
        RecordValidation {
            error_code: INVALID_RECORD,
            record_errors,
            message,
        }
    }
}

/// Why a read was refused.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The offset is outside `[log_start_offset, log_end_offset]`.
    #[error(
        "fetch offset out of range: the log holds offsets {log_start_offset} to {log_end_offset}"
    )]
    OffsetOutOfRange {
        /// First offset still in the log.
        log_start_offset: i64,
        /// Offset the next append gets.
        log_end_offset: i64,
    },
    /// The disk failed; the log is offline.
    #[error(transparent)]
    Storage(#[from] LogError),
}

impl ReadError {
    /// The Kafka error code for the fetch response.
    pub fn error_code(&self) -> i16 {
        match self {
            ReadError::OffsetOutOfRange { .. } => OFFSET_OUT_OF_RANGE,
            ReadError::Storage(e) => e.error_code(),
        }
    }
}

/// Why DeleteRecords ([`crate::Log::increase_log_start_offset`]) was refused.
#[derive(Debug, thiserror::Error)]
pub enum DeleteRecordsError {
    /// The offset is negative (other than -1) or above the high watermark: records that
    /// consumers cannot read yet cannot be deleted.
    #[error("DeleteRecords offset {offset} is out of range: it must be between 0 and the high watermark {high_watermark}, or -1 for the high watermark (the log starts at {log_start_offset})")]
    OffsetOutOfRange {
        /// The offset asked for.
        offset: i64,
        /// First offset in the log.
        log_start_offset: i64,
        /// The high watermark the caller gave (at most the log end offset).
        high_watermark: i64,
    },
    /// The disk failed; the log is offline.
    #[error(transparent)]
    Storage(#[from] LogError),
}

impl DeleteRecordsError {
    /// The Kafka error code for the DeleteRecords response.
    pub fn error_code(&self) -> i16 {
        match self {
            DeleteRecordsError::OffsetOutOfRange { .. } => OFFSET_OUT_OF_RANGE,
            DeleteRecordsError::Storage(e) => e.error_code(),
        }
    }
}
