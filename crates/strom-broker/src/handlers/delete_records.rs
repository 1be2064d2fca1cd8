//! DeleteRecords: moves each partition's log start offset forward (the
//! `low_watermark` in the answer); records below it are no longer served and
//! the segments entirely below it are deleted. Refused with POLICY_VIOLATION
//! on topics whose `cleanup.policy` lacks `delete`, as Kafka does.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use kafka_protocol::messages::{DeleteRecordsRequest, DeleteRecordsResponse};

use strom_config::TopicConfig;

use crate::broker::BrokerState;

pub(crate) fn handle(state: &BrokerState, req: DeleteRecordsRequest) -> DeleteRecordsResponse {
    let image = state.image();
    let config = state.effective_config();
    let mut resp = DeleteRecordsResponse::default();
    for topic in req.topics {
        let mut out = DeleteRecordsTopicResult::default();
        out.name = topic.name.clone();
        let deletable = TopicConfig::resolve(&config, image.topic_config(&topic.name.0))
            .cleanup_policy
            .delete;
        for p in topic.partitions {
            let mut r = DeleteRecordsPartitionResult::default();
            r.partition_index = p.partition_index;
            r.low_watermark = -1;
            match state
                .replicas
                .leader_partition(&topic.name.0, p.partition_index)
            {
                Err(e) => r.error_code = e.code(),
                Ok(_) if !deletable => r.error_code = ResponseError::PolicyViolation.code(),
                Ok(partition) => match partition.delete_records(p.offset) {
                    Ok(low) => {
                        r.low_watermark = low;
                        tracing::info!(topic = %partition.topic, partition = partition.index, log_start_offset = low, "records deleted");
                    }
                    Err(e) => {
                        r.error_code = e.error_code();
                        if e.is_storage_error() {
                            tracing::error!(topic = %partition.topic, partition = partition.index, "delete records failed: {e}");
                        }
                    }
                },
            }
            out.partitions.push(r);
        }
        resp.topics.push(out);
    }
    resp
}
