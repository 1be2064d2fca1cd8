//! controller_mutation_rate (KIP-599) on CreateTopics, DeleteTopics and
//! CreatePartitions: partitions created or deleted count as mutations,
//! charged only for what the controller accepts (Kafka's controller
//! validates a topic before it charges it). Versions that know
//! THROTTLING_QUOTA_EXCEEDED (CreateTopics v6+, DeleteTopics v5+,
//! CreatePartitions v3+) refuse a topic once the bucket is below 0; older
//! ones are served and throttled.
//!
//! The quota is 1 mutation/s for every client id; the bucket holds
//! quota x quota.window.num x quota.window.size.seconds = 11 tokens, and
//! refills 1 a second (the test runs well within a second per step). A
//! throttled connection is muted for the throttle time (KIP-219), so each
//! request goes on a connection of its own; the quota is the client id's.

mod support;

use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use strom_broker::Broker;
use support::{create_topic, Client};

const THROTTLED: i16 = 89;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_owned())
}

async fn set_rate(c: &mut Client, rate: f64) {
    use alter_client_quotas_request::*;
    let req = AlterClientQuotasRequest::default().with_entries(vec![EntryData::default()
        .with_entity(vec![EntityData::default()
            .with_entity_type(s("client-id"))
            .with_entity_name(None)])
        .with_ops(vec![OpData::default()
            .with_key(s("controller_mutation_rate"))
            .with_value(rate)])]);
    let r: AlterClientQuotasResponse = c.request(ApiKey::AlterClientQuotas, 1, &req).await;
    assert_eq!(r.entries[0].error_code, 0);
}

async fn partitions(b: &Broker, topic: &str) -> Option<usize> {
    let req = MetadataRequest::default()
        .with_allow_auto_topic_creation(false)
        .with_topics(Some(vec![metadata_request::MetadataRequestTopic::default(
        )
        .with_name(Some(TopicName(s(topic))))]));
    let r: MetadataResponse = Client::connect(b)
        .await
        .request(ApiKey::Metadata, 12, &req)
        .await;
    (r.topics[0].error_code == 0).then(|| r.topics[0].partitions.len())
}

async fn delete(b: &Broker, version: i16, topic: &str) -> (i16, i32) {
    // v0-5 name topics in topic_names, v6 in topics.
    let req = if version >= 6 {
        DeleteTopicsRequest::default()
            .with_topics(vec![delete_topics_request::DeleteTopicState::default()
                .with_name(Some(TopicName(s(topic))))])
    } else {
        DeleteTopicsRequest::default().with_topic_names(vec![TopicName(s(topic))])
    }
    .with_timeout_ms(10_000);
    let r: DeleteTopicsResponse = Client::connect(b)
        .await
        .request(ApiKey::DeleteTopics, version, &req)
        .await;
    (r.responses[0].error_code, r.throttle_time_ms)
}

async fn add_partitions(b: &Broker, version: i16, topic: &str, count: i32) -> (i16, i32) {
    let req = CreatePartitionsRequest::default()
        .with_timeout_ms(10_000)
        .with_topics(vec![
            create_partitions_request::CreatePartitionsTopic::default()
                .with_name(TopicName(s(topic)))
                .with_count(count)
                .with_assignments(None),
        ]);
    let r: CreatePartitionsResponse = Client::connect(b)
        .await
        .request(ApiKey::CreatePartitions, version, &req)
        .await;
    (r.results[0].error_code, r.throttle_time_ms)
}

#[tokio::test]
async fn mutations_are_charged_only_when_valid_and_refused_over_the_rate() {
    let dir = tempfile::tempdir().unwrap();
    let broker = support::start(dir.path()).await;
    let mut c = Client::connect(&broker).await;
    assert_eq!(
        create_topic(&mut c, "t", 1, &[]).await.topics[0].error_code,
        0
    );
    set_rate(&mut c, 1.0).await;

    // Invalid requests cost nothing: 5 x 10 partitions would empty the bucket.
    for _ in 0..5 {
        let r = create_topic(&mut Client::connect(&broker).await, "t", 10, &[]).await;
        assert_eq!(r.topics[0].error_code, 36, "TOPIC_ALREADY_EXISTS");
        assert_eq!(
            add_partitions(&broker, 3, "t", 1).await.0,
            37,
            "INVALID_PARTITIONS"
        );
        assert_eq!(
            delete(&broker, 6, "missing").await.0,
            3,
            "UNKNOWN_TOPIC_OR_PARTITION"
        );
    }
    // 11 tokens: 10 partitions fit, then 10 more (the bucket is still >= 0)
    // take it to -9.
    for name in ["a", "b"] {
        let r = create_topic(&mut Client::connect(&broker).await, name, 10, &[]).await;
        assert_eq!(
            (r.topics[0].error_code, r.throttle_time_ms),
            (0, 0),
            "{name}"
        );
    }
    let r = create_topic(&mut Client::connect(&broker).await, "c", 10, &[]).await;
    assert_eq!(r.topics[0].error_code, THROTTLED);
    assert!(r.throttle_time_ms > 0, "{}", r.throttle_time_ms);
    assert_eq!(partitions(&broker, "c").await, None, "not created");

    let (code, throttle) = delete(&broker, 6, "a").await;
    assert_eq!(code, THROTTLED);
    assert!(throttle > 0);
    assert_eq!(partitions(&broker, "a").await, Some(10), "not deleted");
    let (code, throttle) = add_partitions(&broker, 3, "t", 3).await;
    assert_eq!(code, THROTTLED);
    assert!(throttle > 0);
    assert_eq!(
        partitions(&broker, "t").await,
        Some(1),
        "no partition added"
    );

    // Versions before strict mode are served, and throttled.
    let (code, throttle) = add_partitions(&broker, 2, "t", 3).await;
    assert_eq!(code, 0);
    assert!(throttle > 0);
    assert_eq!(partitions(&broker, "t").await, Some(3));
    let (code, throttle) = delete(&broker, 4, "a").await;
    assert_eq!(code, 0);
    assert!(throttle > 0);
    assert_eq!(partitions(&broker, "a").await, None);
}
