//! AddOffsetsToTxn (api key 25): adds the group's `__consumer_offsets`
//! partition to the transaction, so its TxnOffsetCommit is committed or
//! aborted with it (markers go to that partition too).

use kafka_protocol::messages::{AddOffsetsToTxnRequest, AddOffsetsToTxnResponse};

use strom_coordinator::CONSUMER_OFFSETS_TOPIC;

use crate::broker::BrokerState;

pub(crate) async fn handle(
    state: &BrokerState,
    req: AddOffsetsToTxnRequest,
) -> AddOffsetsToTxnResponse {
    let mut resp = AddOffsetsToTxnResponse::default();
    let id = req.transactional_id.0.to_string();
    let offsets_partition = state.groups.partition_for(req.group_id.0.as_str());
    let (pid, epoch) = (req.producer_id.0, req.producer_epoch);
    let index = state.txns.partition_for(&id);
    resp.error_code = match state
        .txns
        .call(index, move |shard, now| {
            shard.add_partitions(
                &id,
                pid,
                epoch,
                &[(CONSUMER_OFFSETS_TOPIC.to_owned(), offsets_partition)],
                0,
                now,
            )
        })
        .await
    {
        Ok(code) | Err(code) => code,
    };
    resp
}
