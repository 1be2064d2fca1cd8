//! DescribeProducers (v0, KIP-664): the producers a partition leader
//! remembers, with their epoch, last sequence and timestamp, the coordinator
//! epoch of their last marker and the first offset of their ongoing
//! transaction (-1 for none), as `kafka-transactions.sh describe-producers`
//! shows them. Errors per partition: UNKNOWN_TOPIC_OR_PARTITION,
//! NOT_LEADER_OR_FOLLOWER, KAFKA_STORAGE_ERROR.

use kafka_protocol::messages::describe_producers_response::{
    PartitionResponse, ProducerState, TopicResponse,
};
use kafka_protocol::messages::{DescribeProducersRequest, DescribeProducersResponse, ProducerId};

use super::str_bytes;
use crate::broker::BrokerState;

pub(crate) fn handle(
    state: &BrokerState,
    req: DescribeProducersRequest,
) -> DescribeProducersResponse {
    let mut resp = DescribeProducersResponse::default();
    for topic in req.topics {
        let mut out = TopicResponse::default().with_name(topic.name.clone());
        for index in topic.partition_indexes {
            let mut pr = PartitionResponse::default().with_partition_index(index);
            let producers = state
                .replicas
                .leader_partition(&topic.name.0, index)
                .map_err(|e| (e.code(), None))
                .and_then(|p| {
                    p.producers()
                        .map_err(|e| (e.error_code(), Some(e.to_string())))
                });
            match producers {
                Ok(producers) => {
                    pr.active_producers = producers
                        .into_iter()
                        .map(|p| {
                            ProducerState::default()
                                .with_producer_id(ProducerId(p.producer_id))
                                .with_producer_epoch(i32::from(p.producer_epoch))
                                .with_last_sequence(p.last_sequence)
                                .with_last_timestamp(p.last_timestamp)
                                .with_coordinator_epoch(p.coordinator_epoch)
                                .with_current_txn_start_offset(p.current_txn_start_offset)
                        })
                        .collect();
                }
                Err((code, message)) => {
                    pr.error_code = code;
                    pr.error_message = message.as_deref().map(str_bytes);
                }
            }
            out.partitions.push(pr);
        }
        resp.topics.push(out);
    }
    resp
}
