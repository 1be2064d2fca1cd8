//! OffsetForLeaderEpoch (KIP-101, KIP-320): where a leader epoch ends in the
//! leader's log, from its leader-epoch cache. Consumers use it to detect a
//! log truncated under them after a failover (librdkafka and the Java client
//! validate their position with it); Kafka's followers use it to truncate.
//! Answered by the leader only, after checking the asker's view of the
//! current leader epoch.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::offset_for_leader_epoch_response::{
    EpochEndOffset, OffsetForLeaderTopicResult,
};
use kafka_protocol::messages::{OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse};

use crate::broker::BrokerState;

pub(crate) fn handle(
    state: &BrokerState,
    req: OffsetForLeaderEpochRequest,
) -> OffsetForLeaderEpochResponse {
    let mut resp = OffsetForLeaderEpochResponse::default();
    for t in req.topics {
        let mut out = OffsetForLeaderTopicResult::default();
        out.topic = t.topic.clone();
        for p in t.partitions {
            let mut pr = EpochEndOffset::default();
            pr.partition = p.partition;
            pr.leader_epoch = -1;
            pr.end_offset = -1;
            match end_offset(
                state,
                &t.topic.0,
                p.partition,
                p.current_leader_epoch,
                p.leader_epoch,
            ) {
                Ok((epoch, end)) => {
                    pr.leader_epoch = epoch;
                    pr.end_offset = end;
                }
                Err(e) => pr.error_code = e.code(),
            }
            out.partitions.push(pr);
        }
        resp.topics.push(out);
    }
    resp
}

fn end_offset(
    state: &BrokerState,
    topic: &str,
    partition: i32,
    current_leader_epoch: i32,
    leader_epoch: i32,
) -> Result<(i32, i64), ResponseError> {
    let part = state.replicas.leader_partition(topic, partition)?;
    let current = part.leader_epoch();
    if current_leader_epoch >= 0 && current_leader_epoch != current {
        return Err(if current_leader_epoch > current {
            ResponseError::UnknownLeaderEpoch
        } else {
            ResponseError::FencedLeaderEpoch
        });
    }
    part.end_offset_for_epoch(leader_epoch).map_err(|e| {
        ResponseError::try_from_code(e.error_code()).unwrap_or(ResponseError::UnknownServerError)
    })
}
