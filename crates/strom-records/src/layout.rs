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

pub(crate) fn be_i16(b: &[u8], at: usize) -> i16 {
    let mut a = [0u8; 2];
    a.copy_from_slice(&b[at..at + 2]);
    i16::from_be_bytes(a)
}

pub(crate) fn be_i32(b: &[u8], at: usize) -> i32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    i32::from_be_bytes(a)
}

pub(crate) fn be_i64(b: &[u8], at: usize) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    i64::from_be_bytes(a)
}

/// The header field reads of [`crate::RecordBatch`] (the batch in place) and
/// [`crate::BatchHeader`] (a patchable copy), written once so that both read every field at
/// the same place with the same meaning. Expands inside an `impl` whose type has
/// `fn header_bytes(&self) -> &[u8]` returning at least the 61 header bytes, in a module that
/// has `crate::layout::*`, `Compression`, `RecordsError` and `TimestampType` in scope. Each
/// read is a load from those bytes, with no copy of the header.
macro_rules! header_field_reads {
    () => {
        /// `baseOffset`: offset of the first record.
        pub fn base_offset(&self) -> i64 {
            be_i64(self.header_bytes(), BASE_OFFSET_OFFSET)
        }

        /// `batchLength`: bytes after this field.
        pub fn batch_length(&self) -> i32 {
            be_i32(self.header_bytes(), BATCH_LENGTH_OFFSET)
        }

        /// `partitionLeaderEpoch`.
        pub fn partition_leader_epoch(&self) -> i32 {
            be_i32(self.header_bytes(), PARTITION_LEADER_EPOCH_OFFSET)
        }

        /// `magic`.
        pub fn magic(&self) -> i8 {
            self.header_bytes()[MAGIC_OFFSET] as i8
        }

        /// `crc`: CRC32C of bytes 21..end as stored.
        pub fn crc(&self) -> u32 {
            be_i32(self.header_bytes(), CRC_OFFSET) as u32
        }

        /// `attributes`.
        pub fn attributes(&self) -> i16 {
            be_i16(self.header_bytes(), ATTRIBUTES_OFFSET)
        }

        /// Codec from attribute bits 0..2; ids 5..7 are an error.
        pub fn compression(&self) -> Result<Compression, RecordsError> {
            Compression::from_id((self.attributes() & COMPRESSION_CODEC_MASK) as u8)
        }

        /// Attribute bit 3.
        pub fn timestamp_type(&self) -> TimestampType {
            if self.attributes() & TIMESTAMP_TYPE_MASK != 0 {
                TimestampType::LogAppendTime
            } else {
                TimestampType::CreateTime
            }
        }

        /// Attribute bit 4.
        pub fn is_transactional(&self) -> bool {
            self.attributes() & TRANSACTIONAL_FLAG_MASK != 0
        }

        /// Attribute bit 5.
        pub fn is_control(&self) -> bool {
            self.attributes() & CONTROL_FLAG_MASK != 0
        }

        /// `lastOffsetDelta`.
        pub fn last_offset_delta(&self) -> i32 {
            be_i32(self.header_bytes(), LAST_OFFSET_DELTA_OFFSET)
        }

        /// `baseOffset + lastOffsetDelta`.
        pub fn last_offset(&self) -> i64 {
            self.base_offset()
                .saturating_add(i64::from(self.last_offset_delta()))
        }

        /// `baseTimestamp` (Kafka's `firstTimestamp`).
        pub fn base_timestamp(&self) -> i64 {
            be_i64(self.header_bytes(), BASE_TIMESTAMP_OFFSET)
        }

        /// `maxTimestamp`; for LogAppendTime, the broker's append time.
        pub fn max_timestamp(&self) -> i64 {
            be_i64(self.header_bytes(), MAX_TIMESTAMP_OFFSET)
        }

        /// `producerId`, -1 without idempotence.
        pub fn producer_id(&self) -> i64 {
            be_i64(self.header_bytes(), PRODUCER_ID_OFFSET)
        }

        /// `producerEpoch`.
        pub fn producer_epoch(&self) -> i16 {
            be_i16(self.header_bytes(), PRODUCER_EPOCH_OFFSET)
        }

        /// `baseSequence`.
        pub fn base_sequence(&self) -> i32 {
            be_i32(self.header_bytes(), BASE_SEQUENCE_OFFSET)
        }

        /// `recordsCount`.
        pub fn records_count(&self) -> i32 {
            be_i32(self.header_bytes(), RECORDS_COUNT_OFFSET)
        }
    };
}
pub(crate) use header_field_reads;
