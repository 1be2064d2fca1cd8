//! The record schemas of `__transaction_state`, byte for byte as Kafka writes
//! them (apache/kafka `transaction-coordinator/src/main/resources/common/message/
//! TransactionLog{Key,Value}.json`). Primitive encodings are those of
//! `crate::records` (see its module documentation).
//!
//! Key (`TransactionLogKey`, version 0, never flexible):
//!
//! | bytes | field                                   |
//! |-------|-----------------------------------------|
//! | 2     | int16 key version = 0                   |
//! | 2 + n | TransactionalId: string (int16 length)  |
//!
//! Value (`TransactionLogValue`, version 0 non-flexible, version 1 flexible):
//!
//! | field                            | type                                   |
//! |----------------------------------|----------------------------------------|
//! | version                          | int16 (0 or 1)                         |
//! | ProducerId                       | int64                                  |
//! | ProducerEpoch                    | int16                                  |
//! | TransactionTimeoutMs             | int32                                  |
//! | TransactionStatus                | int8 (the state's id, see `TxnState`)  |
//! | TransactionPartitions            | nullable array of {Topic: string, PartitionIds: [int32]} (+ tagged fields in v1) |
//! | TransactionLastUpdateTimestampMs | int64                                  |
//! | TransactionStartTimestampMs      | int64                                  |
//! | tagged fields (v1 only)          | 0: PreviousProducerId int64 (default -1), 1: NextProducerId int64 (default -1), 2: ClientTransactionVersion int16 (default 0) |
//!
//! A null value (tombstone) removes the transactional id. Tagged fields at
//! their default are not written, as Kafka's generator does; unknown tags
//! are skipped, so records of a newer broker load.

use crate::records::{split_version, versioned_reader, RecordError, Writer};

use super::metadata::TxnState;

/// The decoded value of a `__transaction_state` record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionLogValue {
    pub producer_id: i64,
    pub previous_producer_id: i64,
    pub next_producer_id: i64,
    pub producer_epoch: i16,
    pub transaction_timeout_ms: i32,
    pub state: TxnState,
    /// (topic, partitions), in the order written.
    pub partitions: Vec<(String, Vec<i32>)>,
    pub last_update_timestamp_ms: i64,
    pub start_timestamp_ms: i64,
    pub client_transaction_version: i16,
}

const KEY: &str = "TransactionLogKey";
const VALUE: &str = "TransactionLogValue";

pub fn encode_key(transactional_id: &str) -> Vec<u8> {
    let mut w = Writer::new(0, false);
    w.string(transactional_id);
    w.finish()
}

/// The transactional id of a key; `Ok(None)` for a key version this broker
/// does not know (skipped at replay, as Kafka does).
pub fn decode_key(buf: &[u8]) -> Result<Option<String>, RecordError> {
    let (version, rest) = split_version(buf, KEY)?;
    if version != 0 {
        return Ok(None);
    }
    let mut r = crate::records::Reader::new(rest, KEY, version, false);
    Ok(Some(r.string("TransactionalId")?))
}

impl TransactionLogValue {
    /// Encodes in `version` 0 or 1 (1 when the `transaction.version` in use is
    /// at least 1, as Kafka 4 writes it).
    pub fn encode(&self, version: i16) -> Vec<u8> {
        let flexible = version >= 1;
        let mut w = Writer::new(if flexible { 1 } else { 0 }, flexible);
        w.i64(self.producer_id);
        w.i16(self.producer_epoch);
        w.i32(self.transaction_timeout_ms);
        w.i8(self.state.id());
        w.struct_array(&self.partitions, |w, (topic, ids)| {
            w.string(topic);
            w.i32_array(ids);
            w.no_tagged_fields();
        });
        w.i64(self.last_update_timestamp_ms);
        w.i64(self.start_timestamp_ms);
        if flexible {
            let mut tags = Vec::new();
            let int64 = |v: i64| v.to_be_bytes().to_vec();
            if self.previous_producer_id != -1 {
                tags.push((0, int64(self.previous_producer_id)));
            }
            if self.next_producer_id != -1 {
                tags.push((1, int64(self.next_producer_id)));
            }
            if self.client_transaction_version != 0 {
                tags.push((2, self.client_transaction_version.to_be_bytes().to_vec()));
            }
            w.tagged_fields(&tags);
        }
        w.finish()
    }

    pub fn decode(buf: &[u8]) -> Result<Self, RecordError> {
        let mut r = versioned_reader(buf, VALUE, 1, 1)?;
        let producer_id = r.i64("ProducerId")?;
        let producer_epoch = r.i16("ProducerEpoch")?;
        let transaction_timeout_ms = r.i32("TransactionTimeoutMs")?;
        let status = r.i8("TransactionStatus")?;
        let state = TxnState::from_id(status).ok_or(RecordError::InvalidLength {
            record: VALUE,
            version: r.version(),
            field: "TransactionStatus",
            length: i64::from(status),
        })?;
        let partitions = match r.long_len("TransactionPartitions")? {
            None => Vec::new(),
            Some(n) => {
                let mut out = Vec::with_capacity(n.min(1024));
                for _ in 0..n {
                    let topic = r.string("Topic")?;
                    let ids = r.i32_array("PartitionIds")?;
                    r.skip_tagged_fields("TransactionPartitions")?;
                    out.push((topic, ids));
                }
                out
            }
        };
        let last_update_timestamp_ms = r.i64("TransactionLastUpdateTimestampMs")?;
        let start_timestamp_ms = r.i64("TransactionStartTimestampMs")?;
        let mut value = TransactionLogValue {
            producer_id,
            previous_producer_id: -1,
            next_producer_id: -1,
            producer_epoch,
            transaction_timeout_ms,
            state,
            partitions,
            last_update_timestamp_ms,
            start_timestamp_ms,
            client_transaction_version: 0,
        };
        let mut previous = -1;
        let mut next = -1;
        let mut tv = 0;
        r.tagged_fields("_tagged_fields", |r, tag, data| {
            let mut sub = r.sub(data);
            match tag {
                0 => previous = sub.i64("PreviousProducerId")?,
                1 => next = sub.i64("NextProducerId")?,
                2 => tv = sub.i16("ClientTransactionVersion")?,
                _ => {}
            }
            Ok(())
        })?;
        value.previous_producer_id = previous;
        value.next_producer_id = next;
        value.client_transaction_version = tv;
        Ok(value)
    }
}
