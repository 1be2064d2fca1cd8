//! KIP-848 consumer groups (ConsumerGroupHeartbeat): the server assigns
//! partitions. This file holds the group data; the protocol is in
//! `consumer.rs`.

use std::collections::{BTreeMap, HashSet};

/// A KIP-848 consumer group.
#[derive(Debug, Clone)]
pub(crate) struct ConsumerGroup {
    pub group_id: String,
    pub members: BTreeMap<String, ConsumerMember>,
}

#[derive(Debug, Clone)]
pub(crate) struct ConsumerMember {
    pub subscribed_topic_names: Vec<String>,
}

impl ConsumerGroup {
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    pub fn state_name(&self) -> &'static str {
        if self.members.is_empty() {
            "Empty"
        } else {
            "Stable"
        }
    }

    pub fn subscribed_topic_names(&self) -> HashSet<String> {
        self.members
            .values()
            .flat_map(|m| m.subscribed_topic_names.iter().cloned())
            .collect()
    }
}
