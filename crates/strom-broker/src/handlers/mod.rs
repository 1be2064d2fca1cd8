//! One module per Kafka API key.

pub(crate) mod acls;
pub(crate) mod add_offsets_to_txn;
pub(crate) mod add_partitions_to_txn;
pub(crate) mod alter_client_quotas;
pub(crate) mod alter_configs;
pub(crate) mod alter_partition_reassignments;
pub(crate) mod api_versions;
pub(crate) mod consumer_group_describe;
pub(crate) mod consumer_group_heartbeat;
pub(crate) mod create_partitions;
pub(crate) mod create_topics;
pub(crate) mod delete_groups;
pub(crate) mod delete_records;
pub(crate) mod delete_topics;
pub(crate) mod describe_client_quotas;
pub(crate) mod describe_cluster;
pub(crate) mod describe_configs;
pub(crate) mod describe_groups;
pub(crate) mod describe_log_dirs;
pub(crate) mod describe_producers;
pub(crate) mod describe_quorum;
pub(crate) mod describe_topic_partitions;
pub(crate) mod describe_transactions;
pub(crate) mod elect_leaders;
pub(crate) mod end_txn;
pub(crate) mod fetch;
pub(crate) mod find_coordinator;
pub(crate) mod heartbeat;
pub(crate) mod init_producer_id;
pub(crate) mod join_group;
pub(crate) mod leave_group;
pub(crate) mod list_groups;
pub(crate) mod list_offsets;
pub(crate) mod list_partition_reassignments;
pub(crate) mod list_transactions;
pub(crate) mod metadata;
pub(crate) mod offset_commit;
pub(crate) mod offset_delete;
pub(crate) mod offset_fetch;
pub(crate) mod offset_for_leader_epoch;
pub(crate) mod produce;
pub(crate) mod raft_voters;
pub(crate) mod sync_group;
pub(crate) mod txn_offset_commit;
pub(crate) mod user_scram_credentials;
pub(crate) mod write_txn_markers;

use kafka_protocol::protocol::StrBytes;

pub(crate) fn str_bytes(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_owned())
}

pub(crate) fn opt_str_bytes(s: &Option<String>) -> Option<StrBytes> {
    s.as_deref().map(str_bytes)
}

pub(crate) fn string(s: &StrBytes) -> String {
    s.as_str().to_owned()
}

pub(crate) fn opt_string(s: &Option<StrBytes>) -> Option<String> {
    s.as_ref().map(string)
}

/// KIP-951: the leader a client should go to instead of this broker, from
/// the metadata: (leader id, leader epoch) of a partition with a live leader.
pub(crate) fn current_leader(
    image: &strom_metadata::MetadataImage,
    topic: &str,
    partition: i32,
) -> Option<(i32, i32)> {
    let p = image.topic(topic)?.partitions.get(&partition)?;
    let alive = image.broker(p.leader).is_some_and(|b| b.is_alive());
    (p.leader >= 0 && alive).then_some((p.leader, p.leader_epoch))
}

/// The endpoints on `listener` of the brokers named as current leaders
/// (KIP-951's `node_endpoints`), as (node id, host, port, rack).
pub(crate) fn leader_endpoints(
    state: &crate::broker::BrokerState,
    listener: &str,
    leaders: &std::collections::BTreeSet<i32>,
) -> Vec<crate::broker::BrokerEndpoint> {
    if leaders.is_empty() {
        return Vec::new();
    }
    state
        .brokers(listener)
        .into_iter()
        .filter(|b| leaders.contains(&b.node_id))
        .collect()
}
