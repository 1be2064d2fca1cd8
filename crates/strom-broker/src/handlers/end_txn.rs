//! EndTxn (api key 26): commit or abort. v5 is transactions v2 (KIP-890
//! part 2): the coordinator bumps the epoch and returns the producer id and
//! epoch to use next, so a late request of this transaction is fenced.
//! v0-4 keep the epoch, as Kafka's transactions v1.

use kafka_protocol::messages::{EndTxnRequest, EndTxnResponse, ProducerId};

use crate::broker::BrokerState;

pub(crate) async fn handle(
    state: &BrokerState,
    version: i16,
    req: EndTxnRequest,
) -> EndTxnResponse {
    let mut resp = EndTxnResponse::default();
    resp.producer_id = ProducerId(-1);
    resp.producer_epoch = -1;
    let id = req.transactional_id.0.to_string();
    let epoch_bump = version >= 5;
    // An id for a producer whose epoch runs out at this end (v5 only).
    let fresh = if epoch_bump {
        match state.txns.fresh_producer_id_if_needed(state, &id).await {
            Ok(id) => id,
            Err(code) => {
                resp.error_code = code;
                return resp;
            }
        }
    } else {
        -1
    };
    let (pid, epoch, commit) = (req.producer_id.0, req.producer_epoch, req.committed);
    let index = state.txns.partition_for(&id);
    match state
        .txns
        .call(index, move |shard, now| {
            shard.end_txn(&id, pid, epoch, commit, epoch_bump, fresh, now)
        })
        .await
    {
        Ok(Ok((pid, epoch))) => {
            resp.producer_id = ProducerId(pid);
            resp.producer_epoch = epoch;
        }
        Ok(Err(code)) | Err(code) => resp.error_code = code,
    }
    resp
}
