//! AddPartitionsToTxn (api key 24). v0-3: a producer adds partitions to its
//! transaction; every partition gets the same error (or
//! OPERATION_NOT_ATTEMPTED beside a failed one). v4+: a broker batches
//! transactions; `verify_only` is KIP-890 part 1 (a partition leader checks
//! that the partition is in the open transaction before appending), without
//! it the partitions are added for a transactions-v2 producer (KIP-890 part 2).

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use kafka_protocol::messages::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnResult, AddPartitionsToTxnTopicResult,
};
use kafka_protocol::messages::{AddPartitionsToTxnRequest, AddPartitionsToTxnResponse};

use crate::broker::BrokerState;

pub(crate) async fn handle(
    state: &BrokerState,
    version: i16,
    req: AddPartitionsToTxnRequest,
) -> AddPartitionsToTxnResponse {
    let mut resp = AddPartitionsToTxnResponse::default();
    if version <= 3 {
        let partitions = flatten(&req.v3_and_below_topics);
        let id = req.v3_and_below_transactional_id.0.to_string();
        let code = add(
            state,
            id,
            req.v3_and_below_producer_id.0,
            req.v3_and_below_producer_epoch,
            partitions.clone(),
            false,
            0,
        )
        .await;
        resp.results_by_topic_v3_and_below = results(&req.v3_and_below_topics, &code);
        return resp;
    }
    for txn in req.transactions {
        let partitions = flatten(&txn.topics);
        let id = txn.transactional_id.0.to_string();
        let codes = add(
            state,
            id,
            txn.producer_id.0,
            txn.producer_epoch,
            partitions,
            txn.verify_only,
            // Kafka: a request above v4 comes from a leader serving a
            // transactions-v2 producer.
            if version > 4 { 2 } else { 0 },
        )
        .await;
        let mut r = AddPartitionsToTxnResult::default();
        r.topic_results = results(&txn.topics, &codes);
        r.transactional_id = txn.transactional_id;
        resp.results_by_transaction.push(r);
    }
    resp
}

fn flatten(topics: &[AddPartitionsToTxnTopic]) -> Vec<(String, i32)> {
    topics
        .iter()
        .flat_map(|t| t.partitions.iter().map(|p| (t.name.0.to_string(), *p)))
        .collect()
}

/// One code per partition, in the order of `flatten`.
fn results(
    topics: &[AddPartitionsToTxnTopic],
    codes: &[i16],
) -> Vec<AddPartitionsToTxnTopicResult> {
    let mut codes = codes.iter().copied();
    topics
        .iter()
        .map(|t| {
            let mut tr = AddPartitionsToTxnTopicResult::default();
            tr.name = t.name.clone();
            tr.results_by_partition = t
                .partitions
                .iter()
                .map(|p| {
                    let mut pr = AddPartitionsToTxnPartitionResult::default();
                    pr.partition_index = *p;
                    pr.partition_error_code = codes.next().unwrap_or(0);
                    pr
                })
                .collect();
            tr
        })
        .collect()
}

async fn add(
    state: &BrokerState,
    id: String,
    producer_id: i64,
    producer_epoch: i16,
    partitions: Vec<(String, i32)>,
    verify_only: bool,
    client_transaction_version: i16,
) -> Vec<i16> {
    let n = partitions.len();
    if id.is_empty() {
        return vec![ResponseError::InvalidRequest.code(); n];
    }
    // Kafka: partitions of unknown topics fail with UNKNOWN_TOPIC_OR_PARTITION
    // and the others with OPERATION_NOT_ATTEMPTED, nothing is added.
    if !verify_only {
        let image = state.image();
        let unknown: Vec<bool> = partitions
            .iter()
            .map(|(t, p)| {
                image
                    .topic(t)
                    .is_none_or(|topic| !topic.partitions.contains_key(p))
            })
            .collect();
        if unknown.iter().any(|u| *u) {
            return unknown
                .into_iter()
                .map(|u| {
                    if u {
                        ResponseError::UnknownTopicOrPartition.code()
                    } else {
                        ResponseError::OperationNotAttempted.code()
                    }
                })
                .collect();
        }
    }
    let index = state.txns.partition_for(&id);
    let result = state
        .txns
        .call(index, move |shard, now| {
            if verify_only {
                shard.verify_partitions(&id, producer_id, producer_epoch, &partitions)
            } else {
                let code = shard.add_partitions(
                    &id,
                    producer_id,
                    producer_epoch,
                    &partitions,
                    client_transaction_version,
                    now,
                );
                vec![code; partitions.len()]
            }
        })
        .await;
    match result {
        Ok(codes) => codes,
        Err(code) => vec![code; n],
    }
}
