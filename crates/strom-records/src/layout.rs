//! Byte offsets of the v2 batch header fields (see the crate docs for the full layout), and
//! the attribute bits. Names follow Kafka's `DefaultRecordBatch`.

/// `baseOffset` (i64).
pub const BASE_OFFSET_OFFSET: usize = 0;
/// `batchLength` (i32): bytes after this field.
pub const BATCH_LENGTH_OFFSET: usize = 8;
/// `partitionLeaderEpoch` (i32).
pub const PARTITION_LEADER_EPOCH_OFFSET: usize = 12;
/// `magic` (i8).
pub const MAGIC_OFFSET: usize = 16;
/// `crc` (u32): CRC32C of bytes `ATTRIBUTES_OFFSET..`.
pub const CRC_OFFSET: usize = 17;
/// `attributes` (i16).
pub const ATTRIBUTES_OFFSET: usize = 21;
/// `lastOffsetDelta` (i32).
pub const LAST_OFFSET_DELTA_OFFSET: usize = 23;
/// `baseTimestamp` (i64).
pub const BASE_TIMESTAMP_OFFSET: usize = 27;
/// `maxTimestamp` (i64).
pub const MAX_TIMESTAMP_OFFSET: usize = 35;
/// `producerId` (i64).
pub const PRODUCER_ID_OFFSET: usize = 43;
/// `producerEpoch` (i16).
pub const PRODUCER_EPOCH_OFFSET: usize = 51;
/// `baseSequence` (i32).
pub const BASE_SEQUENCE_OFFSET: usize = 53;
/// `recordsCount` (i32).
pub const RECORDS_COUNT_OFFSET: usize = 57;
/// Size of the fixed header; records start here.
pub const RECORD_BATCH_OVERHEAD: usize = 61;
/// `baseOffset` + `batchLength`: the bytes not counted by `batchLength`.
pub const LOG_OVERHEAD: usize = 12;
/// The only supported magic.
pub const CURRENT_MAGIC: i8 = 2;

/// Attribute bits 0..2: compression codec.
pub const COMPRESSION_CODEC_MASK: i16 = 0x07;
/// Attribute bit 3: timestamp type (1 = LogAppendTime).
pub const TIMESTAMP_TYPE_MASK: i16 = 0x08;
/// Attribute bit 4: part of a transaction.
pub const TRANSACTIONAL_FLAG_MASK: i16 = 0x10;
/// Attribute bit 5: control batch (transaction markers).
pub const CONTROL_FLAG_MASK: i16 = 0x20;
/// Attribute bit 6: `baseTimestamp` holds the delete horizon (compaction, KIP-534).
pub const DELETE_HORIZON_FLAG_MASK: i16 = 0x40;

/// "No timestamp" in Kafka.
pub const NO_TIMESTAMP: i64 = -1;
/// "No producer id" in Kafka.
pub const NO_PRODUCER_ID: i64 = -1;
/// "No producer epoch" in Kafka.
pub const NO_PRODUCER_EPOCH: i16 = -1;
/// "No sequence" in Kafka.
pub const NO_SEQUENCE: i32 = -1;
/// "No partition leader epoch" in Kafka.
pub const NO_PARTITION_LEADER_EPOCH: i32 = -1;
