//! [`BatchBuilder`]: writes v2 batches the way Kafka's `MemoryRecordsBuilder` does, for
//! tests, clients, and broker-written batches (markers, coordinator records).

use bytes::{BufMut, Bytes, BytesMut};

use crate::layout::*;
use crate::record::{encode_record, Header};
use crate::{Compression, RecordsError, TimestampType};

/// Accumulates records and builds one batch.
#[derive(Debug, Clone)]
pub struct BatchBuilder {
    compression: Compression,
    timestamp_type: TimestampType,
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
    partition_leader_epoch: i32,
    is_transactional: bool,
    is_control: bool,
    records: Vec<u8>,
    count: i32,
    base_timestamp: Option<i64>,
    max_timestamp: i64,
}

impl BatchBuilder {
    /// An empty batch without a producer id (-1 id, epoch and sequence).
    pub fn new(compression: Compression, timestamp_type: TimestampType) -> BatchBuilder {
        BatchBuilder {
            compression,
            timestamp_type,
            producer_id: NO_PRODUCER_ID,
            producer_epoch: NO_PRODUCER_EPOCH,
            base_sequence: NO_SEQUENCE,
            partition_leader_epoch: NO_PARTITION_LEADER_EPOCH,
            is_transactional: false,
            is_control: false,
            records: Vec::new(),
            count: 0,
            base_timestamp: None,
            max_timestamp: NO_TIMESTAMP,
        }
    }

    /// Sets `producerId`, `producerEpoch` and `baseSequence` (idempotent producers).
    pub fn producer(
        mut self,
        producer_id: i64,
        producer_epoch: i16,
        base_sequence: i32,
    ) -> BatchBuilder {
        self.producer_id = producer_id;
        self.producer_epoch = producer_epoch;
        self.base_sequence = base_sequence;
        self
    }

    /// Sets attribute bit 4.
    pub fn transactional(mut self, is_transactional: bool) -> BatchBuilder {
        self.is_transactional = is_transactional;
        self
    }

    /// Sets attribute bit 5.
    pub fn control(mut self, is_control: bool) -> BatchBuilder {
        self.is_control = is_control;
        self
    }

    /// Sets `partitionLeaderEpoch`.
    pub fn partition_leader_epoch(mut self, epoch: i32) -> BatchBuilder {
        self.partition_leader_epoch = epoch;
        self
    }

    /// Appends a record. The first record's timestamp becomes `baseTimestamp`.
    pub fn append(
        &mut self,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[Header],
    ) -> &mut BatchBuilder {
        let base_timestamp = *self.base_timestamp.get_or_insert(timestamp);
        encode_record(
            &mut self.records,
            self.count,
            timestamp.wrapping_sub(base_timestamp),
            key,
            value,
            headers,
        );
        self.count += 1;
        self.max_timestamp = self.max_timestamp.max(timestamp);
        self
    }

    /// Records appended so far.
    pub fn len(&self) -> usize {
        self.count as usize
    }

    /// Whether nothing was appended.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Uncompressed size the batch would have.
    pub fn uncompressed_size(&self) -> usize {
        RECORD_BATCH_OVERHEAD + self.records.len()
    }

    /// Builds the batch with `baseOffset = base_offset` and a valid CRC.
    ///
    /// # Panics
    /// Only if a codec fails on an in-memory buffer, which none of them do: use
    /// [`BatchBuilder::try_build`] to get the error instead.
    pub fn build(self, base_offset: i64) -> Bytes {
        let compression = self.compression;
        match self.try_build(base_offset) {
            Ok(bytes) => bytes,
            Err(e) => {
                panic!("{compression} compression of an in-memory buffer cannot fail, yet: {e}")
            }
        }
    }

    /// Builds the batch, reporting a codec failure as an error.
    pub fn try_build(self, base_offset: i64) -> Result<Bytes, RecordsError> {
        let body = match self.compression {
            Compression::None => self.records,
            codec => codec.compress(&self.records)?,
        };
        let mut attributes = i16::from(self.compression.id());
        if self.timestamp_type == TimestampType::LogAppendTime {
            attributes |= TIMESTAMP_TYPE_MASK;
        }
        if self.is_transactional {
            attributes |= TRANSACTIONAL_FLAG_MASK;
        }
        if self.is_control {
            attributes |= CONTROL_FLAG_MASK;
        }
        let size = RECORD_BATCH_OVERHEAD + body.len();
        let mut out = BytesMut::with_capacity(size);
        out.put_i64(base_offset);
        out.put_i32((size - LOG_OVERHEAD) as i32);
        out.put_i32(self.partition_leader_epoch);
        out.put_i8(CURRENT_MAGIC);
        out.put_u32(0);
        out.put_i16(attributes);
        out.put_i32(self.count - 1);
        out.put_i64(self.base_timestamp.unwrap_or(NO_TIMESTAMP));
        out.put_i64(self.max_timestamp);
        out.put_i64(self.producer_id);
        out.put_i16(self.producer_epoch);
        out.put_i32(self.base_sequence);
        out.put_i32(self.count);
        out.extend_from_slice(&body);
        let crc = crc32c::crc32c(&out[ATTRIBUTES_OFFSET..]);
        out[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
        Ok(out.freeze())
    }
}
