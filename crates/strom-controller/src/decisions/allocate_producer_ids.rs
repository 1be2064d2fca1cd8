//! Producer id blocks (Kafka's `AllocateProducerIds`, KIP-730): a broker
//! asks for a block of ids and issues them to idempotent producers without
//! asking again until the block is used up. The block is taken by a
//! `ProducerIds` record, so an id is never issued twice, whichever broker
//! asks and however often the cluster restarts.

use strom_metadata::{MetadataImage, MetadataRecord};

use crate::error::ControllerError;

/// How many ids Kafka hands out at a time (`ProducerIdsBlock.PRODUCER_ID_BLOCK_SIZE`).
pub const PRODUCER_ID_BLOCK_SIZE: u32 = 1000;

/// The largest block one request may take; it keeps a confused caller from
/// burning the id space.
pub const MAX_PRODUCER_ID_BLOCK_SIZE: u32 = 1_000_000;

/// Producer ids `first_producer_id .. first_producer_id + size`, owned by one
/// broker (Kafka's `ProducerIdsBlock`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ProducerIdsBlock {
    pub broker_id: i32,
    pub first_producer_id: i64,
    pub size: u32,
}

impl ProducerIdsBlock {
    /// The first id after the block.
    pub fn next_block_first_id(&self) -> i64 {
        self.first_producer_id + i64::from(self.size)
    }
}

/// The block for `broker_id` and the record that takes it. The broker must
/// be registered, as Kafka checks the broker's registration before handing
/// out ids.
pub fn allocate_producer_ids(
    image: &MetadataImage,
    broker_id: i32,
    count: u32,
) -> Result<(ProducerIdsBlock, Vec<MetadataRecord>), ControllerError> {
    if image.broker(broker_id).is_none() {
        return Err(ControllerError::BrokerIdNotRegistered(format!(
            "Broker {broker_id} is not registered; it must register before it asks for producer ids."
        )));
    }
    if count == 0 || count > MAX_PRODUCER_ID_BLOCK_SIZE {
        return Err(ControllerError::InvalidRequest(format!(
            "A producer id block must hold 1 to {MAX_PRODUCER_ID_BLOCK_SIZE} ids, not {count}."
        )));
    }
    let first_producer_id = image.next_producer_id();
    let Some(next_producer_id) = first_producer_id.checked_add(i64::from(count)) else {
        return Err(ControllerError::UnknownServerError(
            "Exhausted all producerIds as the next block's end producerId has exceeded the int64 type limit.".into(),
        ));
    };
    let block = ProducerIdsBlock {
        broker_id,
        first_producer_id,
        size: count,
    };
    let record = MetadataRecord::ProducerIds {
        broker_id,
        broker_epoch: -1,
        next_producer_id,
    };
    Ok((block, vec![record]))
}
