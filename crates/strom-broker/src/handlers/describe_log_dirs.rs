//! DescribeLogDirs: each log directory of this broker, with KAFKA_STORAGE_ERROR for one that is
//! offline (failed to load, or failed since), and the partitions in each online one with their
//! sizes. There are no future (moving) replicas, so `offset_lag` is 0 and `is_future_key`
//! false. Total and usable bytes of the volume are not measured: -1, Kafka's "unknown".

use std::collections::{BTreeMap, HashSet};

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_log_dirs_response::{
    DescribeLogDirsPartition, DescribeLogDirsResult, DescribeLogDirsTopic,
};
use kafka_protocol::messages::{DescribeLogDirsRequest, DescribeLogDirsResponse, TopicName};

use super::str_bytes;
use crate::broker::BrokerState;

pub(crate) fn handle(state: &BrokerState, req: DescribeLogDirsRequest) -> DescribeLogDirsResponse {
    // `None` asks for every partition.
    let wanted: Option<HashSet<(String, i32)>> = req.topics.map(|topics| {
        topics
            .into_iter()
            .flat_map(|t| {
                let name = t.topic.0.to_string();
                t.partitions.into_iter().map(move |p| (name.clone(), p))
            })
            .collect()
    });
    let mut resp = DescribeLogDirsResponse::default();
    for dir in state.replicas.log_dirs() {
        let mut result = DescribeLogDirsResult::default();
        result.log_dir = str_bytes(&dir.path.to_string_lossy());
        result.total_bytes = -1;
        result.usable_bytes = -1;
        if dir.offline {
            result.error_code = ResponseError::KafkaStorageError.code();
            resp.results.push(result);
            continue;
        }
        let mut topics: BTreeMap<&str, Vec<DescribeLogDirsPartition>> = BTreeMap::new();
        for (topic, index, size) in &dir.partitions {
            if let Some(w) = &wanted {
                if !w.contains(&(topic.to_string(), *index)) {
                    continue;
                }
            }
            let mut p = DescribeLogDirsPartition::default();
            p.partition_index = *index;
            p.partition_size = i64::try_from(*size).unwrap_or(i64::MAX);
            topics.entry(topic).or_default().push(p);
        }
        result.topics = topics
            .into_iter()
            .map(|(name, mut partitions)| {
                partitions.sort_by_key(|p| p.partition_index);
                let mut t = DescribeLogDirsTopic::default();
                t.name = TopicName(str_bytes(name));
                t.partitions = partitions;
                t
            })
            .collect();
        resp.results.push(result);
    }
    resp
}
