//! The authorization matrix: for each API, a client without the ACL it
//! needs gets Kafka's error and changes nothing; given the ACL, the same
//! request succeeds. Clients differ by host (127.0.0.1, which holds every
//! right, and 127.0.0.2, the client under test) until SASL gives them
//! names: `Subject` is the parameter, and only its ACLs' host and
//! principal change when it becomes a SASL user.

mod support;

use std::net::IpAddr;

use bytes::Bytes;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use strom_broker::{Broker, BrokerOptions};
use strom_records::{BatchBuilder, Compression, TimestampType};
use support::{config, create_topic, fetch, produce, Client};

const TOPIC_DENIED: i16 = 29;
const GROUP_DENIED: i16 = 30;
const CLUSTER_DENIED: i16 = 31;
const TXN_DENIED: i16 = 53;

/// Who the client under test is, as ACLs name it.
struct Subject {
    principal: &'static str,
    host: &'static str,
}

const SUBJECT: Subject = Subject {
    principal: "User:ANONYMOUS",
    host: "127.0.0.2",
};

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_owned())
}

fn batch() -> Bytes {
    let mut b = BatchBuilder::new(Compression::None, TimestampType::CreateTime);
    b.append(1, Some(b"k"), Some(b"v"), &[]);
    b.build(0)
}

async fn create_acl(
    admin: &mut Client,
    resource_type: i8,
    name: &str,
    principal: &str,
    host: &str,
    operation: i8,
) {
    let c = create_acls_request::AclCreation::default()
        .with_resource_type(resource_type)
        .with_resource_name(s(name))
        .with_resource_pattern_type(3)
        .with_principal(s(principal))
        .with_host(s(host))
        .with_operation(operation)
        .with_permission_type(3);
    let resp: CreateAclsResponse = admin
        .request(
            ApiKey::CreateAcls,
            3,
            &CreateAclsRequest::default().with_creations(vec![c]),
        )
        .await;
    assert_eq!(resp.results[0].error_code, 0, "{:?}", resp.results[0]);
}

const TOPIC: i8 = 2;
const GROUP: i8 = 3;
const CLUSTER: i8 = 4;
const TXN_ID: i8 = 5;
const ALL: i8 = 2;
const READ: i8 = 3;
const WRITE: i8 = 4;
const CREATE: i8 = 5;
const DELETE: i8 = 6;
const DESCRIBE: i8 = 8;
const DESCRIBE_CONFIGS: i8 = 10;
const ALTER_CONFIGS: i8 = 11;

/// A broker with the authorizer on where 127.0.0.1 may do everything (on
/// every resource type, so every resource has an ACL and the subject has
/// none), topic `t` exists and holds one record.
async fn setup(dir: &std::path::Path) -> (Broker, Client, Client) {
    let broker = Broker::start(BrokerOptions {
        config: config(
            dir,
            &[
                "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
                "allow.everyone.if.no.acl.found=true",
            ],
        ),
    })
    .await
    .unwrap();
    let mut admin = Client::connect(&broker).await;
    for rt in [CLUSTER, TOPIC, GROUP, TXN_ID] {
        let name = if rt == CLUSTER { "kafka-cluster" } else { "*" };
        create_acl(&mut admin, rt, name, "User:ANONYMOUS", "127.0.0.1", ALL).await;
    }
    assert_eq!(
        create_topic(&mut admin, "t", 1, &[]).await.topics[0].error_code,
        0
    );
    assert_eq!(produce(&mut admin, "t", 0, -1, batch()).await.error_code, 0);
    let subject = Client::connect_from(&broker, SUBJECT.host.parse::<IpAddr>().unwrap()).await;
    (broker, admin, subject)
}

async fn grant(admin: &mut Client, rt: i8, name: &str, op: i8) {
    create_acl(admin, rt, name, SUBJECT.principal, SUBJECT.host, op).await;
}

async fn end_offset(c: &mut Client, topic: &str) -> (i16, i64) {
    let req = ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_topics(vec![list_offsets_request::ListOffsetsTopic::default()
            .with_name(TopicName(s(topic)))
            .with_partitions(vec![
                list_offsets_request::ListOffsetsPartition::default()
                    .with_partition_index(0)
                    .with_timestamp(-1),
            ])]);
    let resp: ListOffsetsResponse = c.request(ApiKey::ListOffsets, 7, &req).await;
    let p = &resp.topics[0].partitions[0];
    (p.error_code, p.offset)
}

async fn metadata(c: &mut Client, topics: Option<&[&str]>, auto: bool) -> MetadataResponse {
    let req = MetadataRequest::default()
        .with_topics(topics.map(|ts| {
            ts.iter()
                .map(|t| {
                    metadata_request::MetadataRequestTopic::default()
                        .with_name(Some(TopicName(s(t))))
                })
                .collect()
        }))
        .with_allow_auto_topic_creation(auto)
        .with_include_topic_authorized_operations(true);
    c.request(ApiKey::Metadata, 12, &req).await
}

#[tokio::test]
async fn produce_fetch_list_offsets_need_write_read_describe_on_the_topic() {
    let dir = tempfile::tempdir().unwrap();
    let (_broker, mut admin, mut subject) = setup(dir.path()).await;

    assert_eq!(
        produce(&mut subject, "t", 0, -1, batch()).await.error_code,
        TOPIC_DENIED
    );
    assert_eq!(
        end_offset(&mut admin, "t").await,
        (0, 1),
        "nothing was appended"
    );
    assert_eq!(
        fetch(&mut subject, "t", 0, 0, 0, 1).await.error_code,
        TOPIC_DENIED
    );
    assert_eq!(end_offset(&mut subject, "t").await.0, TOPIC_DENIED);

    grant(&mut admin, TOPIC, "t", WRITE).await;
    let p = produce(&mut subject, "t", 0, -1, batch()).await;
    assert_eq!((p.error_code, p.base_offset), (0, 1));
    // WRITE implies DESCRIBE, not READ.
    assert_eq!(end_offset(&mut subject, "t").await, (0, 2));
    assert_eq!(
        fetch(&mut subject, "t", 0, 0, 0, 1).await.error_code,
        TOPIC_DENIED
    );
    grant(&mut admin, TOPIC, "t", READ).await;
    let f = fetch(&mut subject, "t", 0, 0, 0, 1).await;
    assert_eq!((f.error_code, f.high_watermark), (0, 2));
}

#[tokio::test]
async fn metadata_hides_denies_and_auto_creates_only_with_create() {
    let dir = tempfile::tempdir().unwrap();
    let (_broker, mut admin, mut subject) = setup(dir.path()).await;

    let all = metadata(&mut subject, None, false).await;
    assert!(
        all.topics.is_empty(),
        "no DESCRIBE: the topic is not listed"
    );
    let named = metadata(&mut subject, Some(&["t", "auto"]), true).await;
    let codes: Vec<i16> = named.topics.iter().map(|t| t.error_code).collect();
    assert_eq!(codes, vec![TOPIC_DENIED, TOPIC_DENIED]);
    let seen = metadata(&mut admin, Some(&["auto"]), false).await;
    assert_eq!(
        seen.topics[0].error_code, 3,
        "the denied auto-creation created nothing"
    );

    grant(&mut admin, TOPIC, "auto", DESCRIBE).await;
    let still = metadata(&mut subject, Some(&["auto"]), true).await;
    assert_eq!(
        still.topics[0].error_code, TOPIC_DENIED,
        "DESCRIBE alone does not create"
    );
    grant(&mut admin, TOPIC, "auto", CREATE).await;
    let created = metadata(&mut subject, Some(&["auto"]), true).await;
    assert!(
        matches!(created.topics[0].error_code, 0 | 5),
        "{:?}",
        created.topics[0]
    );

    grant(&mut admin, TOPIC, "t", READ).await;
    let listed = metadata(&mut subject, None, false).await;
    let t = listed
        .topics
        .iter()
        .find(|x| x.name.as_ref().unwrap().0.as_str() == "t")
        .unwrap();
    // READ (3) and the DESCRIBE (8) it implies.
    assert_eq!(t.topic_authorized_operations, (1 << READ) | (1 << DESCRIBE));
}

#[tokio::test]
async fn topic_admin_needs_create_delete_alter_and_configs_rights() {
    let dir = tempfile::tempdir().unwrap();
    let (_broker, mut admin, mut subject) = setup(dir.path()).await;

    assert_eq!(
        create_topic(&mut subject, "new", 1, &[]).await.topics[0].error_code,
        TOPIC_DENIED
    );
    assert_eq!(
        metadata(&mut admin, Some(&["new"]), false).await.topics[0].error_code,
        3
    );

    let del = DeleteTopicsRequest::default()
        .with_topic_names(vec![TopicName(s("t"))])
        .with_timeout_ms(10_000);
    let resp: DeleteTopicsResponse = subject.request(ApiKey::DeleteTopics, 5, &del).await;
    assert_eq!(resp.responses[0].error_code, TOPIC_DENIED);
    assert_eq!(
        metadata(&mut admin, Some(&["t"]), false).await.topics[0].error_code,
        0
    );

    let alter = IncrementalAlterConfigsRequest::default().with_resources(vec![
        incremental_alter_configs_request::AlterConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(s("t"))
            .with_configs(vec![
                incremental_alter_configs_request::AlterableConfig::default()
                    .with_name(s("retention.ms"))
                    .with_config_operation(0)
                    .with_value(Some(s("1234"))),
            ]),
    ]);
    let resp: IncrementalAlterConfigsResponse = subject
        .request(ApiKey::IncrementalAlterConfigs, 1, &alter)
        .await;
    assert_eq!(resp.responses[0].error_code, TOPIC_DENIED);
    let describe = DescribeConfigsRequest::default().with_resources(vec![
        describe_configs_request::DescribeConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(s("t"))
            .with_configuration_keys(Some(vec![s("retention.ms")])),
    ]);
    let resp: DescribeConfigsResponse =
        subject.request(ApiKey::DescribeConfigs, 4, &describe).await;
    assert_eq!(resp.results[0].error_code, TOPIC_DENIED);
    assert!(resp.results[0].configs.is_empty());
    let resp: DescribeConfigsResponse = admin.request(ApiKey::DescribeConfigs, 4, &describe).await;
    assert_eq!(
        resp.results[0].configs[0].value.as_ref().unwrap().as_str(),
        "604800000"
    );

    grant(&mut admin, TOPIC, "t", ALTER_CONFIGS).await;
    let resp: IncrementalAlterConfigsResponse = subject
        .request(ApiKey::IncrementalAlterConfigs, 1, &alter)
        .await;
    assert_eq!(resp.responses[0].error_code, 0);
    // ALTER_CONFIGS implies DESCRIBE_CONFIGS.
    let resp: DescribeConfigsResponse =
        subject.request(ApiKey::DescribeConfigs, 4, &describe).await;
    assert_eq!(
        resp.results[0].configs[0].value.as_ref().unwrap().as_str(),
        "1234"
    );
    let _ = DESCRIBE_CONFIGS;
    grant(&mut admin, CLUSTER, "kafka-cluster", CREATE).await;
    assert_eq!(
        create_topic(&mut subject, "new", 1, &[]).await.topics[0].error_code,
        0
    );
    grant(&mut admin, TOPIC, "t", DELETE).await;
    let resp: DeleteTopicsResponse = subject.request(ApiKey::DeleteTopics, 5, &del).await;
    assert_eq!(resp.responses[0].error_code, 0);
}

#[tokio::test]
async fn groups_need_read_on_the_group_and_the_topic() {
    let dir = tempfile::tempdir().unwrap();
    let (_broker, mut admin, mut subject) = setup(dir.path()).await;
    let join = JoinGroupRequest::default()
        .with_group_id(GroupId(s("g")))
        .with_session_timeout_ms(10_000)
        .with_rebalance_timeout_ms(10_000)
        .with_member_id(s(""))
        .with_protocol_type(s("consumer"))
        .with_protocols(vec![join_group_request::JoinGroupRequestProtocol::default(
        )
        .with_name(s("range"))
        .with_metadata(Bytes::new())]);
    let resp: JoinGroupResponse = subject.request(ApiKey::JoinGroup, 5, &join).await;
    assert_eq!(resp.error_code, GROUP_DENIED);
    let commit = OffsetCommitRequest::default()
        .with_group_id(GroupId(s("g")))
        .with_generation_id_or_member_epoch(-1)
        .with_member_id(s(""))
        .with_topics(vec![
            offset_commit_request::OffsetCommitRequestTopic::default()
                .with_name(TopicName(s("t")))
                .with_partitions(vec![
                    offset_commit_request::OffsetCommitRequestPartition::default()
                        .with_partition_index(0)
                        .with_committed_offset(1),
                ]),
        ]);
    let resp: OffsetCommitResponse = subject.request(ApiKey::OffsetCommit, 8, &commit).await;
    assert_eq!(resp.topics[0].partitions[0].error_code, GROUP_DENIED);
    let fc = FindCoordinatorRequest::default().with_key(s("g"));
    let resp: FindCoordinatorResponse = subject.request(ApiKey::FindCoordinator, 3, &fc).await;
    assert_eq!(resp.error_code, GROUP_DENIED);

    grant(&mut admin, GROUP, "g", READ).await;
    let resp: OffsetCommitResponse = subject.request(ApiKey::OffsetCommit, 8, &commit).await;
    assert_eq!(
        resp.topics[0].partitions[0].error_code, TOPIC_DENIED,
        "the topic needs READ too"
    );
    let fetch_offsets = OffsetFetchRequest::default()
        .with_group_id(GroupId(s("g")))
        .with_topics(Some(vec![
            offset_fetch_request::OffsetFetchRequestTopic::default()
                .with_name(TopicName(s("t")))
                .with_partition_indexes(vec![0]),
        ]));
    let resp: OffsetFetchResponse = admin.request(ApiKey::OffsetFetch, 7, &fetch_offsets).await;
    assert_eq!(
        resp.topics[0].partitions[0].committed_offset, -1,
        "nothing was committed"
    );
    grant(&mut admin, TOPIC, "t", READ).await;
    // The group's coordinator comes up with __consumer_offsets (created on first use).
    let _: FindCoordinatorResponse = admin.request(ApiKey::FindCoordinator, 3, &fc).await;
    let mut code = -1;
    for _ in 0..100 {
        let resp: OffsetCommitResponse = subject.request(ApiKey::OffsetCommit, 8, &commit).await;
        code = resp.topics[0].partitions[0].error_code;
        if !matches!(code, 14..=16) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(code, 0);
    let resp: OffsetFetchResponse = subject
        .request(ApiKey::OffsetFetch, 7, &fetch_offsets)
        .await;
    assert_eq!(resp.topics[0].partitions[0].committed_offset, 1);
}

#[tokio::test]
async fn cluster_apis_and_transactional_ids() {
    let dir = tempfile::tempdir().unwrap();
    let (_broker, mut admin, mut subject) = setup(dir.path()).await;
    let resp: DescribeClusterResponse = subject
        .request(
            ApiKey::DescribeCluster,
            1,
            &DescribeClusterRequest::default(),
        )
        .await;
    assert_eq!(resp.error_code, CLUSTER_DENIED);
    let resp: DescribeAclsResponse = subject
        .request(
            ApiKey::DescribeAcls,
            3,
            &DescribeAclsRequest::default()
                .with_resource_type_filter(1)
                .with_resource_name_filter(None)
                .with_principal_filter(None)
                .with_host_filter(None)
                .with_pattern_type_filter(1)
                .with_operation(1)
                .with_permission_type(1),
        )
        .await;
    assert_eq!(resp.error_code, CLUSTER_DENIED);
    let resp: DeleteAclsResponse = subject
        .request(
            ApiKey::DeleteAcls,
            3,
            &DeleteAclsRequest::default().with_filters(vec![
                delete_acls_request::DeleteAclsFilter::default()
                    .with_resource_type_filter(1)
                    .with_resource_name_filter(None)
                    .with_principal_filter(None)
                    .with_host_filter(None)
                    .with_pattern_type_filter(1)
                    .with_operation(1)
                    .with_permission_type(1),
            ]),
        )
        .await;
    assert_eq!(resp.filter_results[0].error_code, CLUSTER_DENIED);
    let resp: DescribeAclsResponse = admin
        .request(
            ApiKey::DescribeAcls,
            3,
            &DescribeAclsRequest::default()
                .with_resource_type_filter(1)
                .with_resource_name_filter(None)
                .with_principal_filter(None)
                .with_host_filter(None)
                .with_pattern_type_filter(1)
                .with_operation(1)
                .with_permission_type(1),
        )
        .await;
    assert_eq!(
        resp.resources.len(),
        4,
        "the denied DeleteAcls removed nothing"
    );

    let init = InitProducerIdRequest::default()
        .with_transactional_id(Some(TransactionalId(s("tx"))))
        .with_transaction_timeout_ms(10_000)
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1);
    let resp: InitProducerIdResponse = subject.request(ApiKey::InitProducerId, 4, &init).await;
    assert_eq!(resp.error_code, TXN_DENIED);
    let idempotent = InitProducerIdRequest::default()
        .with_transactional_id(None)
        .with_transaction_timeout_ms(10_000)
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1);
    let resp: InitProducerIdResponse = subject
        .request(ApiKey::InitProducerId, 4, &idempotent)
        .await;
    assert_eq!(resp.error_code, CLUSTER_DENIED);
    // WRITE on any topic is enough for an idempotent producer.
    grant(&mut admin, TOPIC, "t", WRITE).await;
    let resp: InitProducerIdResponse = subject
        .request(ApiKey::InitProducerId, 4, &idempotent)
        .await;
    assert_eq!(resp.error_code, 0);

    grant(&mut admin, CLUSTER, "kafka-cluster", DESCRIBE).await;
    let resp: DescribeClusterResponse = subject
        .request(
            ApiKey::DescribeCluster,
            1,
            &DescribeClusterRequest::default().with_include_cluster_authorized_operations(true),
        )
        .await;
    assert_eq!(resp.error_code, 0);
    assert_eq!(resp.cluster_authorized_operations, 1 << DESCRIBE);
}
