//! DescribeTransactions (api key 65): the state of transactional ids whose
//! coordinator is this broker (others get NOT_COORDINATOR, as in Kafka).

use std::collections::BTreeMap;

use kafka_protocol::messages::describe_transactions_response::{TopicData, TransactionState};
use kafka_protocol::messages::{
    DescribeTransactionsRequest, DescribeTransactionsResponse, ProducerId, TopicName,
};

use super::str_bytes;
use crate::broker::BrokerState;

pub(crate) async fn handle(
    state: &BrokerState,
    req: DescribeTransactionsRequest,
) -> DescribeTransactionsResponse {
    let mut resp = DescribeTransactionsResponse::default();
    for tid in req.transactional_ids {
        let mut ts = TransactionState::default();
        ts.producer_id = ProducerId(-1);
        ts.producer_epoch = -1;
        ts.transaction_start_time_ms = -1;
        let id = tid.0.to_string();
        ts.transactional_id = tid;
        let index = state.txns.partition_for(&id);
        match state
            .txns
            .call(index, move |shard, _| shard.describe(&id))
            .await
        {
            Ok(Ok(d)) => {
                ts.transaction_state = str_bytes(d.state.name());
                ts.transaction_timeout_ms = d.timeout_ms;
                ts.transaction_start_time_ms = d.start_timestamp_ms;
                ts.producer_id = ProducerId(d.producer_id);
                ts.producer_epoch = d.producer_epoch;
                let mut topics: BTreeMap<String, Vec<i32>> = BTreeMap::new();
                for (t, p) in d.partitions {
                    topics.entry(t).or_default().push(p);
                }
                ts.topics = topics
                    .into_iter()
                    .map(|(t, ps)| {
                        let mut td = TopicData::default();
                        td.topic = TopicName(str_bytes(&t));
                        td.partitions = ps;
                        td
                    })
                    .collect();
            }
            Ok(Err(code)) | Err(code) => ts.error_code = code,
        }
        resp.transaction_states.push(ts);
    }
    resp
}
