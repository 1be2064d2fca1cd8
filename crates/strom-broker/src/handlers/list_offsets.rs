//! ListOffsets: earliest (-2), latest (-1), max timestamp (-3, KIP-734),
//! earliest local (-4, same as earliest without tiered storage), latest
//! tiered (-5: no tiered storage, so -1 as Kafka answers), or the first
//! offset whose timestamp is at or after the given one (time index).
//! read_committed (isolation level 1, v2+) answers the last stable offset
//! for latest and bounds timestamp lookups by it, as Kafka's
//! `lastFetchableOffset`.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};

use crate::broker::BrokerState;

const LATEST: i64 = -1;
const EARLIEST: i64 = -2;
const MAX_TIMESTAMP: i64 = -3;
const EARLIEST_LOCAL: i64 = -4;
const LATEST_TIERED: i64 = -5;

pub(crate) fn handle(
    state: &BrokerState,
    version: i16,
    req: ListOffsetsRequest,
) -> ListOffsetsResponse {
    let mut resp = ListOffsetsResponse::default();
    // A follower (replica id >= 0) asks for the log end, a consumer for what
    // it may read, as in Kafka.
    let from_replica = req.replica_id.0 >= 0;
    let read_committed = req.isolation_level == 1;
    for t in req.topics {
        let mut out = ListOffsetsTopicResponse::default();
        out.name = t.name.clone();
        for p in t.partitions {
            let mut pr = ListOffsetsPartitionResponse::default();
            pr.partition_index = p.partition_index;
            pr.timestamp = -1;
            pr.offset = -1;
            pr.leader_epoch = -1;
            let partition = match state
                .replicas
                .leader_partition(&t.name.0, p.partition_index)
            {
                Ok(part) => part,
                Err(e) => {
                    pr.error_code = e.code();
                    out.partitions.push(pr);
                    continue;
                }
            };
            let epoch = partition.leader_epoch();
            // leader_epoch exists from v4; older versions must leave it at its default.
            let reported_epoch = if version >= 4 { epoch } else { -1 };
            if p.current_leader_epoch >= 0 && p.current_leader_epoch != epoch {
                pr.error_code = if p.current_leader_epoch > epoch {
                    ResponseError::UnknownLeaderEpoch.code()
                } else {
                    ResponseError::FencedLeaderEpoch.code()
                };
                out.partitions.push(pr);
                continue;
            }
            let last_fetchable = if from_replica {
                partition.log_end_offset()
            } else if read_committed {
                partition.last_stable_offset()
            } else {
                partition.high_watermark()
            };
            match p.timestamp {
                LATEST => {
                    pr.offset = last_fetchable;
                    pr.leader_epoch = reported_epoch;
                }
                EARLIEST | EARLIEST_LOCAL => {
                    pr.offset = partition.log_start_offset();
                    pr.leader_epoch = reported_epoch;
                }
                LATEST_TIERED => {}
                // As Kafka: a lookup that lands at or above the high watermark
                // (the last stable offset for read_committed: records
                // consumers cannot read yet) finds nothing.
                MAX_TIMESTAMP => match partition.max_timestamp_offset() {
                    Ok(Some(found)) if found.offset < last_fetchable => {
                        pr.offset = found.offset;
                        pr.timestamp = found.timestamp;
                        pr.leader_epoch = reported_epoch;
                    }
                    Ok(_) => {}
                    Err(e) => pr.error_code = storage_error(&partition.topic, p.partition_index, e),
                },
                ts if ts >= 0 => match partition.offset_for_timestamp(ts) {
                    Ok(Some(found)) if found.offset < last_fetchable => {
                        pr.offset = found.offset;
                        pr.timestamp = found.timestamp;
                        pr.leader_epoch = reported_epoch;
                    }
                    Ok(_) => {}
                    Err(e) => pr.error_code = storage_error(&partition.topic, p.partition_index, e),
                },
                _ => pr.error_code = ResponseError::InvalidRequest.code(),
            }
            out.partitions.push(pr);
        }
        resp.topics.push(out);
    }
    resp
}

fn storage_error(topic: &str, partition: i32, e: crate::partition::PartitionError) -> i16 {
    if e.is_storage_error() {
        tracing::error!(
            topic,
            partition,
            "reading the log for ListOffsets failed: {e}"
        );
    }
    e.error_code()
}
