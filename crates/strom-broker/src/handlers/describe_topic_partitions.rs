//! DescribeTopicPartitions (API 75, KIP-966): topics and their partitions, a
//! page at a time, as Kafka's `DescribeTopicPartitionsRequestHandler` and
//! `KRaftMetadataCache.getTopicMetadataForDescribeTopicResponse` answer it.
//!
//! Topics (the requested ones, or every topic for an empty list) at or after
//! the cursor's topic are described in name order, the cursor's topic from the
//! cursor's partition, until `min(response_partition_limit,
//! max.request.partition.size.limit)` partitions (at least 1) are described;
//! `next_cursor` then names the first partition left out. A requested topic
//! that does not exist is answered UNKNOWN_TOPIC_OR_PARTITION (or
//! INVALID_TOPIC_EXCEPTION for an illegal name); when every topic is asked for
//! there are none. A cursor whose topic is not in the requested list, or whose
//! partition is negative, is INVALID_REQUEST for every requested topic.
//! Strom has no eligible leader replicas (KIP-966 ELR is off in Kafka by
//! default too): both ELR lists are empty, as Kafka answers without ELR. With
//! no authorizer every topic operation is allowed, and Kafka then reports
//! every operation a topic supports.

use std::collections::BTreeSet;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_topic_partitions_response::{
    Cursor, DescribeTopicPartitionsResponsePartition, DescribeTopicPartitionsResponseTopic,
};
use kafka_protocol::messages::{
    BrokerId, DescribeTopicPartitionsRequest, DescribeTopicPartitionsResponse, TopicName,
};
use strom_metadata::{MetadataImage, TopicImage};
use uuid::Uuid;

use super::str_bytes;
use crate::broker::BrokerState;

/// Kafka's `AclEntry.supportedOperations(TOPIC)` as a bitfield: READ, WRITE,
/// CREATE, DELETE, ALTER, DESCRIBE, DESCRIBE_CONFIGS, ALTER_CONFIGS.
const TOPIC_OPERATIONS_WITHOUT_AUTHORIZER: i32 =
    (1 << 3) | (1 << 4) | (1 << 5) | (1 << 6) | (1 << 7) | (1 << 8) | (1 << 10) | (1 << 11);

pub(crate) fn handle(
    state: &BrokerState,
    req: DescribeTopicPartitionsRequest,
) -> DescribeTopicPartitionsResponse {
    let image = state.image();
    describe(
        &image,
        req,
        state.config.max_request_partition_size_limit,
        |topic, partition| state.replicas.is_offline(topic, partition),
        state.node_id,
    )
}

/// The answer from `image`; `offline_here(topic, partition)` says whether this
/// broker's replica is in a failed log directory.
fn describe(
    image: &MetadataImage,
    req: DescribeTopicPartitionsRequest,
    max_partitions_config: i32,
    offline_here: impl Fn(&str, i32) -> bool,
    node_id: i32,
) -> DescribeTopicPartitionsResponse {
    let mut resp = DescribeTopicPartitionsResponse::default();
    let fetch_all = req.topics.is_empty();
    let cursor = req.cursor.as_ref();
    let cursor_topic = cursor.map_or("", |c| c.topic_name.0.as_str());
    // Sorted and without duplicates, as Kafka's set of names.
    let topics: BTreeSet<String> = if fetch_all {
        image
            .topics()
            .filter(|t| t.name.as_str() >= cursor_topic)
            .map(|t| t.name.clone())
            .collect()
    } else {
        req.topics
            .iter()
            .map(|t| t.name.0.to_string())
            .filter(|name| name.as_str() >= cursor_topic)
            .collect()
    };
    let cursor_invalid = cursor.is_some_and(|c| {
        c.partition_index < 0 || (!fetch_all && !topics.contains(c.topic_name.0.as_str()))
    });
    if cursor_invalid {
        resp.topics = req
            .topics
            .iter()
            .map(|t| {
                DescribeTopicPartitionsResponseTopic::default()
                    .with_name(Some(t.name.clone()))
                    .with_error_code(ResponseError::InvalidRequest.code())
                    .with_topic_authorized_operations(i32::MIN)
            })
            .collect();
        return resp;
    }
    let mut remaining = i64::from(
        req.response_partition_limit
            .min(max_partitions_config)
            .max(1),
    );
    for name in topics {
        if remaining == 0 {
            // Every partition of the topics before is described; go on from
            // this one (which may not exist).
            resp.next_cursor = Some(cursor_at(&name, 0));
            break;
        }
        let Some(topic) = image.topic(&name) else {
            if !fetch_all {
                let code = if strom_metadata::validate_topic_name(&name).is_err() {
                    ResponseError::InvalidTopicException.code()
                } else {
                    ResponseError::UnknownTopicOrPartition.code()
                };
                resp.topics.push(
                    DescribeTopicPartitionsResponseTopic::default()
                        .with_error_code(code)
                        .with_name(Some(TopicName(str_bytes(&name))))
                        .with_is_internal(strom_metadata::is_internal_topic(&name))
                        .with_topic_authorized_operations(TOPIC_OPERATIONS_WITHOUT_AUTHORIZER),
                );
            }
            continue;
        };
        let start = if name == cursor_topic {
            cursor.map_or(0, |c| c.partition_index)
        } else {
            0
        };
        let count = topic.partitions.len() as i64;
        let upper = count.min(i64::from(start) + remaining);
        let mut out = DescribeTopicPartitionsResponseTopic::default()
            .with_name(Some(TopicName(str_bytes(&name))))
            .with_topic_id(Uuid::from_bytes(topic.topic_id.to_bytes()))
            .with_is_internal(strom_metadata::is_internal_topic(&name))
            .with_topic_authorized_operations(TOPIC_OPERATIONS_WITHOUT_AUTHORIZER);
        for index in i64::from(start)..upper {
            let index = index as i32;
            if let Some(p) = partition(image, topic, index, &offline_here, node_id) {
                out.partitions.push(p);
            }
        }
        remaining -= out.partitions.len() as i64;
        resp.topics.push(out);
        if upper < count {
            resp.next_cursor = Some(cursor_at(&name, upper as i32));
            break;
        }
    }
    resp
}

fn cursor_at(topic: &str, partition_index: i32) -> Cursor {
    Cursor::default()
        .with_topic_name(TopicName(str_bytes(topic)))
        .with_partition_index(partition_index)
}

fn partition(
    image: &MetadataImage,
    topic: &TopicImage,
    index: i32,
    offline_here: &impl Fn(&str, i32) -> bool,
    node_id: i32,
) -> Option<DescribeTopicPartitionsResponsePartition> {
    let p = topic.partitions.get(&index)?;
    let ids = |v: &[i32]| v.iter().map(|&r| BrokerId(r)).collect::<Vec<_>>();
    // Kafka's getOfflineReplicas: replicas on brokers that are gone, fenced,
    // or whose log directory for the partition failed.
    let offline: Vec<BrokerId> = p
        .replicas
        .iter()
        .filter(|&&r| {
            !image.broker(r).is_some_and(|b| b.is_alive())
                || (r == node_id && offline_here(&topic.name, index))
        })
        .map(|&r| BrokerId(r))
        .collect();
    // A leader that is not registered has no endpoint: no leader (-1).
    let leader = if p.leader >= 0 && image.broker(p.leader).is_some() {
        p.leader
    } else {
        -1
    };
    Some(
        DescribeTopicPartitionsResponsePartition::default()
            .with_partition_index(index)
            .with_leader_id(BrokerId(leader))
            .with_leader_epoch(p.leader_epoch)
            .with_replica_nodes(ids(&p.replicas))
            .with_isr_nodes(ids(&p.isr))
            .with_eligible_leader_replicas(Some(Vec::new()))
            .with_last_known_elr(Some(Vec::new()))
            .with_offline_replicas(offline),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::describe_topic_partitions_request::{
        Cursor as RequestCursor, TopicRequest,
    };
    use strom_metadata::{BrokerEndpoint, MetadataRecord, TopicId};

    /// Broker 1 alive; topics `a` (3 partitions), `b` (2), `c` (4), and the
    /// internal `__consumer_offsets` (1); b-1's replica 2 is not registered.
    fn image() -> MetadataImage {
        let mut records = vec![MetadataRecord::RegisterBroker {
            broker_id: 1,
            incarnation_id: 1,
            listeners: vec![BrokerEndpoint {
                name: "PLAINTEXT".into(),
                host: "localhost".into(),
                port: 9092,
                security_protocol: "PLAINTEXT".into(),
            }],
            rack: None,
            fenced: false,
            broker_epoch: -1,
        }];
        for (i, (name, partitions)) in [("c", 4), ("a", 3), ("__consumer_offsets", 1), ("b", 2)]
            .into_iter()
            .enumerate()
        {
            let topic_id = TopicId::from_bytes([i as u8 + 1; 16]);
            records.push(MetadataRecord::Topic {
                name: name.into(),
                topic_id,
            });
            for partition in 0..partitions {
                let replicas = if (name, partition) == ("b", 1) {
                    vec![1, 2]
                } else {
                    vec![1]
                };
                records.push(MetadataRecord::Partition {
                    topic_id,
                    partition,
                    replicas,
                    isr: vec![1],
                    leader: 1,
                    leader_epoch: 7,
                    partition_epoch: 0,
                    adding_replicas: vec![],
                    removing_replicas: vec![],
                });
            }
        }
        MetadataImage::empty().apply(&records, 0).unwrap()
    }

    fn request(
        topics: &[&str],
        limit: i32,
        cursor: Option<(&str, i32)>,
    ) -> DescribeTopicPartitionsRequest {
        DescribeTopicPartitionsRequest::default()
            .with_topics(
                topics
                    .iter()
                    .map(|t| TopicRequest::default().with_name(TopicName(str_bytes(t))))
                    .collect(),
            )
            .with_response_partition_limit(limit)
            .with_cursor(cursor.map(|(t, p)| {
                RequestCursor::default()
                    .with_topic_name(TopicName(str_bytes(t)))
                    .with_partition_index(p)
            }))
    }

    fn run(
        req: DescribeTopicPartitionsRequest,
        config_limit: i32,
    ) -> DescribeTopicPartitionsResponse {
        describe(&image(), req, config_limit, |_, _| false, 1)
    }

    /// (topic, error, partition indexes).
    type TopicSummary = (String, i16, Vec<i32>);

    /// Each topic's summary and the next cursor.
    fn summary(
        resp: &DescribeTopicPartitionsResponse,
    ) -> (Vec<TopicSummary>, Option<(String, i32)>) {
        (
            resp.topics
                .iter()
                .map(|t| {
                    (
                        t.name.as_ref().unwrap().0.to_string(),
                        t.error_code,
                        t.partitions.iter().map(|p| p.partition_index).collect(),
                    )
                })
                .collect(),
            resp.next_cursor
                .as_ref()
                .map(|c| (c.topic_name.0.to_string(), c.partition_index)),
        )
    }

    fn t(name: &str, partitions: &[i32]) -> TopicSummary {
        (name.to_string(), 0, partitions.to_vec())
    }

    #[test]
    fn every_topic_is_described_in_name_order_with_internal_topics_marked() {
        let resp = run(request(&[], 2000, None), 2000);
        assert_eq!(
            summary(&resp),
            (
                vec![
                    t("__consumer_offsets", &[0]),
                    t("a", &[0, 1, 2]),
                    t("b", &[0, 1]),
                    t("c", &[0, 1, 2, 3]),
                ],
                None
            )
        );
        assert!(resp.topics[0].is_internal);
        assert!(!resp.topics[1].is_internal);
        assert_eq!(resp.topics[1].topic_id, Uuid::from_bytes([2; 16]));
        assert_eq!(resp.topics[1].topic_authorized_operations, 3576);
        let b1 = &resp.topics[2].partitions[1];
        assert_eq!(b1.leader_id, BrokerId(1));
        assert_eq!(b1.leader_epoch, 7);
        assert_eq!(b1.replica_nodes, vec![BrokerId(1), BrokerId(2)]);
        assert_eq!(b1.isr_nodes, vec![BrokerId(1)]);
        assert_eq!(b1.offline_replicas, vec![BrokerId(2)]);
        assert_eq!(b1.eligible_leader_replicas, Some(vec![]));
        assert_eq!(b1.last_known_elr, Some(vec![]));
    }

    #[test]
    fn pages_follow_the_cursor_across_and_within_topics() {
        // Limit 2 over a(3) b(2) c(4): a0 a1 | a2 b0 | b1 c0 | c1 c2 | c3.
        let mut cursor = None;
        let mut pages = Vec::new();
        loop {
            let c = cursor
                .as_ref()
                .map(|(t, p): &(String, i32)| (t.as_str(), *p));
            let resp = run(request(&["c", "a", "b"], 2, c), 2000);
            let (topics, next) = summary(&resp);
            pages.push(topics);
            match next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        assert_eq!(
            pages,
            vec![
                vec![t("a", &[0, 1])],
                vec![t("a", &[2]), t("b", &[0])],
                vec![t("b", &[1]), t("c", &[0])],
                vec![t("c", &[1, 2])],
                vec![t("c", &[3])],
            ]
        );
    }

    #[test]
    fn a_topic_whose_partitions_exactly_fill_the_page_leaves_the_cursor_at_the_next_topic() {
        let resp = run(request(&["a", "b"], 3, None), 2000);
        assert_eq!(
            summary(&resp),
            (vec![t("a", &[0, 1, 2])], Some(("b".to_string(), 0)))
        );
    }

    #[test]
    fn the_broker_limit_caps_the_request_and_the_limit_is_at_least_one() {
        let resp = run(request(&["c"], 2000, None), 3);
        assert_eq!(
            summary(&resp),
            (vec![t("c", &[0, 1, 2])], Some(("c".to_string(), 3)))
        );
        let resp = run(request(&["c"], 0, None), 2000);
        assert_eq!(
            summary(&resp),
            (vec![t("c", &[0])], Some(("c".to_string(), 1)))
        );
    }

    #[test]
    fn missing_and_illegal_topics_get_errors_but_are_left_out_when_all_are_asked_for() {
        let resp = run(request(&["nope", "a", "bad/name"], 2000, None), 2000);
        assert_eq!(
            summary(&resp).0,
            vec![
                t("a", &[0, 1, 2]),
                ("bad/name".to_string(), 17, vec![]),
                ("nope".to_string(), 3, vec![]),
            ]
        );
        assert_eq!(resp.topics[2].topic_id, Uuid::nil());
    }

    #[test]
    fn a_cursor_outside_the_requested_topics_or_negative_is_an_invalid_request() {
        let resp = run(request(&["a", "b"], 2000, Some(("c", 0))), 2000);
        assert_eq!(
            summary(&resp),
            (
                vec![("a".to_string(), 42, vec![]), ("b".to_string(), 42, vec![])],
                None
            )
        );
        let resp = run(request(&["a"], 2000, Some(("a", -1))), 2000);
        assert_eq!(summary(&resp).0, vec![("a".to_string(), 42, vec![])]);
    }

    #[test]
    fn a_cursor_past_the_last_partition_describes_the_topic_without_partitions() {
        let resp = run(request(&[], 2000, Some(("b", 5))), 2000);
        assert_eq!(
            summary(&resp),
            (vec![t("b", &[]), t("c", &[0, 1, 2, 3])], None)
        );
    }
}
