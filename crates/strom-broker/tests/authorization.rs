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

/// Retries while a coordinator is still loading (its internal topic is
/// created on first use) or a transaction is settling; at most 10 s.
macro_rules! ready {
    ($r:ident: $t:ty => $code:expr, $req:expr) => {{
        let mut tries = 0;
        loop {
            let $r: $t = $req;
            if !matches!($code, 14 | 15 | 16 | 51) || tries == 100 {
                break $r;
            }
            tries += 1;
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }};
}

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
    let (broker, admin) = authorized_broker(dir).await;
    let subject = Client::connect_from(&broker, SUBJECT.host.parse::<IpAddr>().unwrap()).await;
    (broker, admin, subject)
}

/// The broker of [`setup`] and its all-powerful client from 127.0.0.1.
async fn authorized_broker(dir: &std::path::Path) -> (Broker, Client) {
    let broker = Broker::start(BrokerOptions {
        config: config(
            dir,
            &[
                "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
                "allow.everyone.if.no.acl.found=true",
                "group.initial.rebalance.delay.ms=0",
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
    (broker, admin)
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
    coordinator(&mut admin, "g", 0).await;
    let resp: OffsetCommitResponse = ready!(resp: OffsetCommitResponse => resp.topics[0].partitions[0].error_code,
        subject.request(ApiKey::OffsetCommit, 8, &commit).await);
    assert_eq!(resp.topics[0].partitions[0].error_code, 0);
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
    let resp: DescribeAclsResponse = subject.request(ApiKey::DescribeAcls, 3, &all_acls()).await;
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
    assert_eq!(
        acl_count(&mut admin).await,
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

// ---------------------------------------------------------------------------
// The matrix: every API the broker advertises has a case below, and a new
// API without one fails `every_advertised_api_has_a_matrix_case`. All cases
// share one broker; each case's client connects from its own address
// (127.0.0.10, .11, ...), so what one case grants does not leak into the
// next. A case asks without the ACL (Kafka's error, nothing done), grants
// it, and asks again (done).

const ALTER: i8 = 7;
const CLUSTER_ACTION: i8 = 9;
const NOT_ATTEMPTED: i16 = 55;

struct Matrix {
    broker: Broker,
    admin: Client,
    next_host: u8,
}

/// One case's client and the address its ACLs name.
struct Who {
    c: Client,
    host: String,
}

impl Matrix {
    async fn who(&mut self) -> Who {
        let host = format!("127.0.0.{}", self.next_host);
        self.next_host += 1;
        let c = Client::connect_from(&self.broker, host.parse::<IpAddr>().unwrap()).await;
        Who { c, host }
    }

    async fn grant(&mut self, who: &Who, rt: i8, name: &str, op: i8) {
        create_acl(&mut self.admin, rt, name, SUBJECT.principal, &who.host, op).await;
    }

    async fn topic(&mut self, name: &str, records: usize) {
        let r = create_topic(&mut self.admin, name, 1, &[]).await;
        assert_eq!(r.topics[0].error_code, 0, "{name}");
        for _ in 0..records {
            assert_eq!(
                produce(&mut self.admin, name, 0, -1, batch())
                    .await
                    .error_code,
                0
            );
        }
    }
}

fn group(g: &str) -> GroupId {
    GroupId(s(g))
}

fn topic_name(t: &str) -> TopicName {
    TopicName(s(t))
}

fn txn(t: &str) -> TransactionalId {
    TransactionalId(s(t))
}

async fn api_versions(c: &mut Client) -> Vec<ApiKey> {
    let resp: ApiVersionsResponse = c
        .request(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default())
        .await;
    assert_eq!(resp.error_code, 0);
    resp.api_keys
        .iter()
        .map(|k| ApiKey::try_from(k.api_key).unwrap())
        .collect()
}

#[tokio::test]
async fn every_advertised_api_has_a_matrix_case() {
    let dir = tempfile::tempdir().unwrap();
    let (broker, admin) = authorized_broker(dir.path()).await;
    let mut m = Matrix {
        broker,
        admin,
        next_host: 10,
    };
    let apis = api_versions(&mut m.admin).await;
    assert!(apis.len() >= 50, "{apis:?}");
    for api in apis {
        case(api, &mut m).await;
    }
}

async fn case(api: ApiKey, m: &mut Matrix) {
    use ApiKey::*;
    match api {
        // Cases of their own above.
        Produce | Fetch | ListOffsets => {} // produce_fetch_list_offsets_need_write_read_describe_on_the_topic
        Metadata => {} // metadata_hides_denies_and_auto_creates_only_with_create
        CreateTopics | DeleteTopics => {} // topic_admin_needs_create_delete_alter_and_configs_rights
        JoinGroup | OffsetCommit | OffsetFetch | FindCoordinator => {} // groups_need_read_on_the_group_and_the_topic
        DescribeCluster | DescribeAcls | DeleteAcls | InitProducerId => {} // cluster_apis_and_transactional_ids
        ApiVersions | SaslHandshake | SaslAuthenticate => unauthenticated(api, m).await,
        OffsetForLeaderEpoch => offset_for_leader_epoch(m).await,
        CreatePartitions => create_partitions(m).await,
        DeleteRecords => delete_records(m).await,
        ElectLeaders => elect_leaders(m).await,
        AlterPartitionReassignments | ListPartitionReassignments => reassignments(m).await,
        DescribeTopicPartitions => describe_topic_partitions(m).await,
        DescribeQuorum | AddRaftVoter | RemoveRaftVoter => quorum(api, m).await,
        DescribeLogDirs => describe_log_dirs(m).await,
        SyncGroup | Heartbeat | LeaveGroup | DescribeGroups | ListGroups => {
            classic_group(api, m).await
        }
        DeleteGroups | OffsetDelete => group_deletion(api, m).await,
        ConsumerGroupHeartbeat | ConsumerGroupDescribe => consumer_group(api, m).await,
        DescribeConfigs | AlterConfigs | IncrementalAlterConfigs => configs(api, m).await,
        TxnOffsetCommit | AddOffsetsToTxn | EndTxn | AddPartitionsToTxn => {
            transaction(api, m).await
        }
        DescribeTransactions | ListTransactions => describe_transactions(api, m).await,
        WriteTxnMarkers => write_txn_markers(m).await,
        DescribeProducers => describe_producers(m).await,
        DescribeUserScramCredentials | AlterUserScramCredentials => scram(api, m).await,
        DescribeClientQuotas | AlterClientQuotas => client_quotas(api, m).await,
        CreateAcls => create_acls(m).await,
        other => panic!("{other:?} is advertised without an authorization matrix case"),
    }
}

/// APIs before authentication need no ACL: a client with none is answered
/// without an authorization error.
async fn unauthenticated(api: ApiKey, m: &mut Matrix) {
    let mut w = m.who().await;
    match api {
        ApiKey::ApiVersions => assert!(api_versions(&mut w.c).await.contains(&ApiKey::Produce)),
        ApiKey::SaslHandshake => {
            let r: SaslHandshakeResponse =
                w.c.request(
                    ApiKey::SaslHandshake,
                    1,
                    &SaslHandshakeRequest::default().with_mechanism(s("PLAIN")),
                )
                .await;
            // Outside a SASL listener's authentication, Kafka's KafkaApis answers
            // ILLEGAL_SASL_STATE.
            assert_eq!(r.error_code, 34, "ILLEGAL_SASL_STATE");
        }
        _ => {
            // SaslAuthenticate outside a SASL handshake: ILLEGAL_SASL_STATE
            // (34) or the connection is closed; never an ACL error.
            let req =
                SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from_static(b"\0u\0p"));
            let mut body = bytes::BytesMut::new();
            use kafka_protocol::protocol::Encodable;
            RequestHeader::default()
                .with_request_api_key(ApiKey::SaslAuthenticate as i16)
                .with_request_api_version(2)
                .with_correlation_id(1)
                .encode(
                    &mut body,
                    ApiKey::SaslAuthenticate.request_header_version(2),
                )
                .unwrap();
            req.encode(&mut body, 2).unwrap();
            let mut frame = (body.len() as i32).to_be_bytes().to_vec();
            frame.extend_from_slice(&body);
            w.c.send_raw(&frame).await;
            if let Some(mut resp) = w.c.read_frame().await {
                use kafka_protocol::protocol::Decodable;
                ResponseHeader::decode(
                    &mut resp,
                    ApiKey::SaslAuthenticate.response_header_version(2),
                )
                .unwrap();
                let r = SaslAuthenticateResponse::decode(&mut resp, 2).unwrap();
                assert_eq!(r.error_code, 34, "{r:?}");
            }
        }
    }
}

fn ofle_request(t: &str) -> OffsetForLeaderEpochRequest {
    use offset_for_leader_epoch_request::*;
    OffsetForLeaderEpochRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_topics(vec![OffsetForLeaderTopic::default()
            .with_topic(topic_name(t))
            .with_partitions(vec![OffsetForLeaderPartition::default()
                .with_partition(0)
                .with_current_leader_epoch(-1)
                .with_leader_epoch(0)])])
}

async fn offset_for_leader_epoch(m: &mut Matrix) {
    let mut w = m.who().await;
    let req = ofle_request("t");
    let r: OffsetForLeaderEpochResponse = w.c.request(ApiKey::OffsetForLeaderEpoch, 4, &req).await;
    assert_eq!(r.topics[0].partitions[0].error_code, TOPIC_DENIED);
    assert_eq!(r.topics[0].partitions[0].end_offset, -1);
    m.grant(&w, TOPIC, "t", DESCRIBE).await;
    let r: OffsetForLeaderEpochResponse = w.c.request(ApiKey::OffsetForLeaderEpoch, 4, &req).await;
    let p = &r.topics[0].partitions[0];
    assert_eq!(p.error_code, 0);
    assert!(p.end_offset >= 1, "{p:?}");
    // CLUSTER_ACTION alone covers every topic (Kafka's replicas).
    let mut w = m.who().await;
    m.grant(&w, CLUSTER, "kafka-cluster", CLUSTER_ACTION).await;
    let r: OffsetForLeaderEpochResponse = w.c.request(ApiKey::OffsetForLeaderEpoch, 4, &req).await;
    assert_eq!(r.topics[0].partitions[0].error_code, 0);
}

async fn partition_count(c: &mut Client, t: &str) -> usize {
    metadata(c, Some(&[t]), false).await.topics[0]
        .partitions
        .len()
}

async fn create_partitions(m: &mut Matrix) {
    m.topic("cp", 0).await;
    let mut w = m.who().await;
    let req = CreatePartitionsRequest::default()
        .with_timeout_ms(10_000)
        .with_topics(vec![
            create_partitions_request::CreatePartitionsTopic::default()
                .with_name(topic_name("cp"))
                .with_count(2)
                .with_assignments(None),
        ]);
    let r: CreatePartitionsResponse = w.c.request(ApiKey::CreatePartitions, 3, &req).await;
    assert_eq!(r.results[0].error_code, TOPIC_DENIED);
    assert_eq!(
        partition_count(&mut m.admin, "cp").await,
        1,
        "nothing was added"
    );
    m.grant(&w, TOPIC, "cp", ALTER).await;
    let r: CreatePartitionsResponse = w.c.request(ApiKey::CreatePartitions, 3, &req).await;
    assert_eq!(r.results[0].error_code, 0);
    assert_eq!(partition_count(&mut m.admin, "cp").await, 2);
}

async fn start_offset(c: &mut Client, topic: &str) -> i64 {
    let req = ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_topics(vec![list_offsets_request::ListOffsetsTopic::default()
            .with_name(topic_name(topic))
            .with_partitions(vec![
                list_offsets_request::ListOffsetsPartition::default()
                    .with_partition_index(0)
                    .with_timestamp(-2),
            ])]);
    let resp: ListOffsetsResponse = c.request(ApiKey::ListOffsets, 7, &req).await;
    resp.topics[0].partitions[0].offset
}

async fn delete_records(m: &mut Matrix) {
    m.topic("dr", 2).await;
    let mut w = m.who().await;
    use delete_records_request::*;
    let req = DeleteRecordsRequest::default()
        .with_timeout_ms(10_000)
        .with_topics(vec![DeleteRecordsTopic::default()
            .with_name(topic_name("dr"))
            .with_partitions(vec![DeleteRecordsPartition::default()
                .with_partition_index(0)
                .with_offset(1)])]);
    let r: DeleteRecordsResponse = w.c.request(ApiKey::DeleteRecords, 2, &req).await;
    assert_eq!(r.topics[0].partitions[0].error_code, TOPIC_DENIED);
    assert_eq!(
        start_offset(&mut m.admin, "dr").await,
        0,
        "nothing was deleted"
    );
    m.grant(&w, TOPIC, "dr", DELETE).await;
    let r: DeleteRecordsResponse = w.c.request(ApiKey::DeleteRecords, 2, &req).await;
    let p = &r.topics[0].partitions[0];
    assert_eq!((p.error_code, p.low_watermark), (0, 1));
    assert_eq!(start_offset(&mut m.admin, "dr").await, 1);
}

async fn elect_leaders(m: &mut Matrix) {
    let mut w = m.who().await;
    let req = ElectLeadersRequest::default()
        .with_election_type(0)
        .with_timeout_ms(10_000)
        .with_topic_partitions(Some(vec![elect_leaders_request::TopicPartitions::default(
        )
        .with_topic(topic_name("t"))
        .with_partitions(vec![0])]));
    for version in [0, 2] {
        let r: ElectLeadersResponse = w.c.request(ApiKey::ElectLeaders, version, &req).await;
        if version > 0 {
            assert_eq!(r.error_code, CLUSTER_DENIED);
        }
        let p = &r.replica_election_results[0].partition_result[0];
        assert_eq!(
            (p.partition_id, p.error_code),
            (0, CLUSTER_DENIED),
            "v{version}"
        );
    }
    m.grant(&w, CLUSTER, "kafka-cluster", ALTER).await;
    let r: ElectLeadersResponse = w.c.request(ApiKey::ElectLeaders, 2, &req).await;
    assert_eq!(r.error_code, 0);
    // The leader is already the preferred one.
    assert_eq!(
        r.replica_election_results[0].partition_result[0].error_code,
        84
    );
}

async fn reassignments(m: &mut Matrix) {
    let mut w = m.who().await;
    use alter_partition_reassignments_request::*;
    let alter = AlterPartitionReassignmentsRequest::default()
        .with_timeout_ms(10_000)
        .with_topics(vec![ReassignableTopic::default()
            .with_name(topic_name("t"))
            .with_partitions(vec![ReassignablePartition::default()
                .with_partition_index(0)
                .with_replicas(None)])]);
    let list = ListPartitionReassignmentsRequest::default()
        .with_timeout_ms(10_000)
        .with_topics(None);
    let r: AlterPartitionReassignmentsResponse =
        w.c.request(ApiKey::AlterPartitionReassignments, 0, &alter)
            .await;
    assert_eq!(r.error_code, CLUSTER_DENIED);
    let r: ListPartitionReassignmentsResponse =
        w.c.request(ApiKey::ListPartitionReassignments, 0, &list)
            .await;
    assert_eq!(r.error_code, CLUSTER_DENIED);
    m.grant(&w, CLUSTER, "kafka-cluster", DESCRIBE).await;
    let r: ListPartitionReassignmentsResponse =
        w.c.request(ApiKey::ListPartitionReassignments, 0, &list)
            .await;
    assert_eq!((r.error_code, r.topics.len()), (0, 0));
    let r: AlterPartitionReassignmentsResponse =
        w.c.request(ApiKey::AlterPartitionReassignments, 0, &alter)
            .await;
    assert_eq!(
        r.error_code, CLUSTER_DENIED,
        "DESCRIBE does not imply ALTER"
    );
    m.grant(&w, CLUSTER, "kafka-cluster", ALTER).await;
    let r: AlterPartitionReassignmentsResponse =
        w.c.request(ApiKey::AlterPartitionReassignments, 0, &alter)
            .await;
    assert_eq!(r.error_code, 0);
    // Nothing to cancel: NO_REASSIGNMENT_IN_PROGRESS.
    assert_eq!(r.responses[0].partitions[0].error_code, 85);
}

async fn describe_topic_partitions(m: &mut Matrix) {
    let mut w = m.who().await;
    let all = DescribeTopicPartitionsRequest::default().with_response_partition_limit(100);
    let named = all.clone().with_topics(vec![
        describe_topic_partitions_request::TopicRequest::default().with_name(topic_name("t")),
    ]);
    let r: DescribeTopicPartitionsResponse =
        w.c.request(ApiKey::DescribeTopicPartitions, 0, &all).await;
    assert!(r.topics.is_empty(), "{:?}", r.topics);
    let r: DescribeTopicPartitionsResponse =
        w.c.request(ApiKey::DescribeTopicPartitions, 0, &named)
            .await;
    assert_eq!(r.topics[0].error_code, TOPIC_DENIED);
    assert!(r.topics[0].partitions.is_empty());
    m.grant(&w, TOPIC, "t", DESCRIBE).await;
    let r: DescribeTopicPartitionsResponse =
        w.c.request(ApiKey::DescribeTopicPartitions, 0, &all).await;
    let names: Vec<_> = r
        .topics
        .iter()
        .map(|t| t.name.clone().unwrap().0.to_string())
        .collect();
    assert_eq!(names, vec!["t"]);
    assert_eq!(
        (r.topics[0].error_code, r.topics[0].partitions.len()),
        (0, 1)
    );
}

async fn quorum(api: ApiKey, m: &mut Matrix) {
    let mut w = m.who().await;
    match api {
        ApiKey::DescribeQuorum => {
            let req = DescribeQuorumRequest::default().with_topics(vec![
                describe_quorum_request::TopicData::default()
                    .with_topic_name(topic_name("__cluster_metadata"))
                    .with_partitions(vec![describe_quorum_request::PartitionData::default()]),
            ]);
            let r: DescribeQuorumResponse = w.c.request(api, 2, &req).await;
            assert_eq!(r.error_code, CLUSTER_DENIED);
            assert!(r.topics.is_empty());
            m.grant(&w, CLUSTER, "kafka-cluster", DESCRIBE).await;
            let r: DescribeQuorumResponse = w.c.request(api, 2, &req).await;
            assert_eq!(r.error_code, 0);
            assert_eq!(r.topics[0].partitions[0].error_code, 0);
        }
        ApiKey::AddRaftVoter => {
            let req = AddRaftVoterRequest::default()
                .with_timeout_ms(1000)
                .with_voter_id(7)
                .with_voter_directory_id(uuid::Uuid::from_u128(7));
            let r: AddRaftVoterResponse = w.c.request(api, 0, &req).await;
            assert_eq!(r.error_code, CLUSTER_DENIED);
            m.grant(&w, CLUSTER, "kafka-cluster", ALTER).await;
            let r: AddRaftVoterResponse = w.c.request(api, 0, &req).await;
            // Past authorization: node 7 has no listener to reach.
            assert!(!matches!(r.error_code, 0 | CLUSTER_DENIED), "{r:?}");
        }
        _ => {
            let req = RemoveRaftVoterRequest::default()
                .with_voter_id(7)
                .with_voter_directory_id(uuid::Uuid::from_u128(7));
            let r: RemoveRaftVoterResponse = w.c.request(api, 0, &req).await;
            assert_eq!(r.error_code, CLUSTER_DENIED);
            m.grant(&w, CLUSTER, "kafka-cluster", ALTER).await;
            let r: RemoveRaftVoterResponse = w.c.request(api, 0, &req).await;
            // Past authorization: 7 is not a voter.
            assert!(!matches!(r.error_code, 0 | CLUSTER_DENIED), "{r:?}");
        }
    }
}

async fn describe_log_dirs(m: &mut Matrix) {
    let mut w = m.who().await;
    let req = DescribeLogDirsRequest::default().with_topics(None);
    let r: DescribeLogDirsResponse = w.c.request(ApiKey::DescribeLogDirs, 4, &req).await;
    assert_eq!((r.error_code, r.results.len()), (CLUSTER_DENIED, 0));
    // Before v3 there is no error code: the answer is empty.
    let r: DescribeLogDirsResponse = w.c.request(ApiKey::DescribeLogDirs, 1, &req).await;
    assert_eq!(r.results.len(), 0);
    m.grant(&w, CLUSTER, "kafka-cluster", DESCRIBE).await;
    let r: DescribeLogDirsResponse = w.c.request(ApiKey::DescribeLogDirs, 4, &req).await;
    assert_eq!((r.error_code, r.results.len()), (0, 1));
    assert!(r.results[0].topics.iter().any(|t| t.name.0.as_str() == "t"));
}

fn join_request(g: &str, member: &str) -> JoinGroupRequest {
    JoinGroupRequest::default()
        .with_group_id(group(g))
        .with_session_timeout_ms(30_000)
        .with_rebalance_timeout_ms(30_000)
        .with_member_id(s(member))
        .with_protocol_type(s("consumer"))
        .with_protocols(vec![join_group_request::JoinGroupRequestProtocol::default(
        )
        .with_name(s("range"))
        .with_metadata(Bytes::new())])
}

/// Waits until the coordinator of a group (key type 0) or transactional id
/// (1) is up: its internal topic is created on first use.
async fn coordinator(c: &mut Client, key: &str, key_type: i8) {
    let req = FindCoordinatorRequest::default()
        .with_key(s(key))
        .with_key_type(key_type);
    let r: FindCoordinatorResponse = ready!(r: FindCoordinatorResponse => r.error_code, c.request(ApiKey::FindCoordinator, 3, &req).await);
    assert_eq!(r.error_code, 0, "{r:?}");
}

/// Joins `g` as its only member and syncs: (member id, generation).
async fn join(c: &mut Client, g: &str) -> (String, i32) {
    coordinator(c, g, 0).await;
    let r: JoinGroupResponse = ready!(r: JoinGroupResponse => r.error_code, c.request(ApiKey::JoinGroup, 5, &join_request(g, "")).await);
    assert_eq!(r.error_code, 79, "MEMBER_ID_REQUIRED");
    let r: JoinGroupResponse = c
        .request(ApiKey::JoinGroup, 5, &join_request(g, &r.member_id))
        .await;
    assert_eq!(r.error_code, 0);
    let member = r.member_id.to_string();
    let sync = sync_request(g, &member, r.generation_id);
    let s: SyncGroupResponse = c.request(ApiKey::SyncGroup, 5, &sync).await;
    assert_eq!(s.error_code, 0);
    (member, r.generation_id)
}

fn sync_request(g: &str, member: &str, generation: i32) -> SyncGroupRequest {
    SyncGroupRequest::default()
        .with_group_id(group(g))
        .with_generation_id(generation)
        .with_member_id(s(member))
        .with_protocol_type(Some(s("consumer")))
        .with_protocol_name(Some(s("range")))
        .with_assignments(vec![
            sync_group_request::SyncGroupRequestAssignment::default()
                .with_member_id(s(member))
                .with_assignment(Bytes::from_static(b"a")),
        ])
}

async fn describe_group(c: &mut Client, g: &str) -> describe_groups_response::DescribedGroup {
    let req = DescribeGroupsRequest::default()
        .with_groups(vec![group(g)])
        .with_include_authorized_operations(true);
    let r: DescribeGroupsResponse = c.request(ApiKey::DescribeGroups, 5, &req).await;
    r.groups[0].clone()
}

async fn listed_groups(c: &mut Client) -> Vec<String> {
    let r: ListGroupsResponse = c
        .request(ApiKey::ListGroups, 4, &ListGroupsRequest::default())
        .await;
    assert_eq!(r.error_code, 0);
    r.groups.iter().map(|g| g.group_id.0.to_string()).collect()
}

/// A member of the group (from 127.0.0.1) is there; the case's client
/// acts on its behalf without, then with, the ACL.
async fn classic_group(api: ApiKey, m: &mut Matrix) {
    let g = format!("classic-{api:?}");
    let (member, generation) = join(&mut m.admin, &g).await;
    let mut w = m.who().await;
    let one_member = |d: &describe_groups_response::DescribedGroup| {
        (d.error_code, d.group_state.to_string(), d.members.len())
    };
    match api {
        ApiKey::SyncGroup => {
            let req = sync_request(&g, &member, generation);
            let r: SyncGroupResponse = w.c.request(api, 5, &req).await;
            assert_eq!((r.error_code, r.assignment.len()), (GROUP_DENIED, 0));
            m.grant(&w, GROUP, &g, READ).await;
            let r: SyncGroupResponse = w.c.request(api, 5, &req).await;
            assert_eq!((r.error_code, &r.assignment[..]), (0, &b"a"[..]));
        }
        ApiKey::Heartbeat => {
            let req = HeartbeatRequest::default()
                .with_group_id(group(&g))
                .with_generation_id(generation)
                .with_member_id(s(&member));
            let r: HeartbeatResponse = w.c.request(api, 4, &req).await;
            assert_eq!(r.error_code, GROUP_DENIED);
            m.grant(&w, GROUP, &g, READ).await;
            let r: HeartbeatResponse = w.c.request(api, 4, &req).await;
            assert_eq!(r.error_code, 0);
        }
        ApiKey::LeaveGroup => {
            let req = LeaveGroupRequest::default()
                .with_group_id(group(&g))
                .with_members(vec![
                    leave_group_request::MemberIdentity::default().with_member_id(s(&member))
                ]);
            let r: LeaveGroupResponse = w.c.request(api, 5, &req).await;
            assert_eq!(r.error_code, GROUP_DENIED);
            let d = describe_group(&mut m.admin, &g).await;
            assert_eq!(one_member(&d), (0, "Stable".into(), 1), "nobody left");
            m.grant(&w, GROUP, &g, READ).await;
            let r: LeaveGroupResponse = w.c.request(api, 5, &req).await;
            assert_eq!((r.error_code, r.members[0].error_code), (0, 0));
            let d = describe_group(&mut m.admin, &g).await;
            assert_eq!(d.members.len(), 0);
        }
        ApiKey::DescribeGroups => {
            let d = describe_group(&mut w.c, &g).await;
            assert_eq!((d.error_code, d.members.len()), (GROUP_DENIED, 0));
            assert!(d.group_state.is_empty());
            m.grant(&w, GROUP, &g, DESCRIBE).await;
            let d = describe_group(&mut w.c, &g).await;
            assert_eq!(one_member(&d), (0, "Stable".into(), 1));
            assert_eq!(d.authorized_operations, 1 << DESCRIBE);
        }
        _ => {
            assert!(!listed_groups(&mut w.c).await.contains(&g));
            assert!(listed_groups(&mut m.admin).await.contains(&g));
            m.grant(&w, GROUP, &g, DESCRIBE).await;
            assert_eq!(listed_groups(&mut w.c).await, vec![g.clone()]);
            // DESCRIBE on the cluster lists every group.
            m.grant(&w, CLUSTER, "kafka-cluster", DESCRIBE).await;
            assert!(listed_groups(&mut w.c).await.len() > 1);
        }
    }
}

fn commit_request(g: &str, topics: &[&str]) -> OffsetCommitRequest {
    OffsetCommitRequest::default()
        .with_group_id(group(g))
        .with_generation_id_or_member_epoch(-1)
        .with_member_id(s(""))
        .with_topics(
            topics
                .iter()
                .map(|t| {
                    offset_commit_request::OffsetCommitRequestTopic::default()
                        .with_name(topic_name(t))
                        .with_partitions(vec![
                            offset_commit_request::OffsetCommitRequestPartition::default()
                                .with_partition_index(0)
                                .with_committed_offset(1),
                        ])
                })
                .collect(),
        )
}

/// The committed offsets of `g` on partition 0 of `topics` (-1: none).
async fn committed(c: &mut Client, g: &str, topics: &[&str]) -> Vec<i64> {
    let req = OffsetFetchRequest::default()
        .with_group_id(group(g))
        .with_require_stable(true)
        .with_topics(Some(
            topics
                .iter()
                .map(|t| {
                    offset_fetch_request::OffsetFetchRequestTopic::default()
                        .with_name(topic_name(t))
                        .with_partition_indexes(vec![0])
                })
                .collect(),
        ));
    let r: OffsetFetchResponse = ready!(r: OffsetFetchResponse => r.error_code, c.request(ApiKey::OffsetFetch, 7, &req).await);
    assert_eq!(r.error_code, 0);
    r.topics
        .iter()
        .map(|t| t.partitions[0].committed_offset)
        .collect()
}

async fn group_deletion(api: ApiKey, m: &mut Matrix) {
    let g = format!("offsets-{api:?}");
    coordinator(&mut m.admin, &g, 0).await;
    let r: OffsetCommitResponse = ready!(r: OffsetCommitResponse => r.topics[0].partitions[0].error_code,
        m.admin.request(ApiKey::OffsetCommit, 8, &commit_request(&g, &["t"])).await);
    assert_eq!(r.topics[0].partitions[0].error_code, 0);
    let mut w = m.who().await;
    if api == ApiKey::DeleteGroups {
        let req = DeleteGroupsRequest::default().with_groups_names(vec![group(&g)]);
        let r: DeleteGroupsResponse = w.c.request(api, 2, &req).await;
        assert_eq!(r.results[0].error_code, GROUP_DENIED);
        assert_eq!(committed(&mut m.admin, &g, &["t"]).await, vec![1]);
        m.grant(&w, GROUP, &g, DELETE).await;
        let r: DeleteGroupsResponse = w.c.request(api, 2, &req).await;
        assert_eq!(r.results[0].error_code, 0);
        assert_eq!(committed(&mut m.admin, &g, &["t"]).await, vec![-1]);
        return;
    }
    let req = OffsetDeleteRequest::default()
        .with_group_id(group(&g))
        .with_topics(vec![
            offset_delete_request::OffsetDeleteRequestTopic::default()
                .with_name(topic_name("t"))
                .with_partitions(vec![
                    offset_delete_request::OffsetDeleteRequestPartition::default()
                        .with_partition_index(0),
                ]),
        ]);
    let r: OffsetDeleteResponse = w.c.request(api, 0, &req).await;
    assert_eq!(r.error_code, GROUP_DENIED);
    m.grant(&w, GROUP, &g, DELETE).await;
    let r: OffsetDeleteResponse = w.c.request(api, 0, &req).await;
    assert_eq!(
        (r.error_code, r.topics[0].partitions[0].error_code),
        (0, TOPIC_DENIED),
        "the topic needs READ"
    );
    assert_eq!(committed(&mut m.admin, &g, &["t"]).await, vec![1]);
    m.grant(&w, TOPIC, "t", READ).await;
    let r: OffsetDeleteResponse = w.c.request(api, 0, &req).await;
    assert_eq!((r.error_code, r.topics[0].partitions[0].error_code), (0, 0));
    assert_eq!(committed(&mut m.admin, &g, &["t"]).await, vec![-1]);
}

fn cg_heartbeat(g: &str, topics: &[&str]) -> ConsumerGroupHeartbeatRequest {
    ConsumerGroupHeartbeatRequest::default()
        .with_group_id(group(g))
        .with_member_id(s(&uuid::Uuid::new_v4().to_string()))
        .with_member_epoch(0)
        .with_rebalance_timeout_ms(30_000)
        .with_subscribed_topic_names(Some(topics.iter().map(|t| topic_name(t)).collect()))
        .with_topic_partitions(Some(vec![]))
}

async fn cg_describe(c: &mut Client, g: &str) -> consumer_group_describe_response::DescribedGroup {
    let req = ConsumerGroupDescribeRequest::default().with_group_ids(vec![group(g)]);
    let r: ConsumerGroupDescribeResponse = c.request(ApiKey::ConsumerGroupDescribe, 0, &req).await;
    r.groups[0].clone()
}

async fn consumer_group(api: ApiKey, m: &mut Matrix) {
    let g = format!("kip848-{api:?}");
    coordinator(&mut m.admin, &g, 0).await;
    m.topic(&format!("{g}-topic"), 0).await;
    let t = format!("{g}-topic");
    let mut w = m.who().await;
    if api == ApiKey::ConsumerGroupHeartbeat {
        let req = cg_heartbeat(&g, &["t", &t]);
        let r: ConsumerGroupHeartbeatResponse = w.c.request(api, 1, &req).await;
        assert_eq!(r.error_code, GROUP_DENIED);
        m.grant(&w, GROUP, &g, READ).await;
        m.grant(&w, TOPIC, "t", DESCRIBE).await;
        // DESCRIBE on one subscribed topic of two is not enough.
        let r: ConsumerGroupHeartbeatResponse = w.c.request(api, 1, &req).await;
        assert_eq!(r.error_code, TOPIC_DENIED);
        assert_eq!(r.member_epoch, 0);
        assert_eq!(
            cg_describe(&mut m.admin, &g).await.error_code,
            69,
            "no group was made"
        );
        m.grant(&w, TOPIC, &t, DESCRIBE).await;
        let r: ConsumerGroupHeartbeatResponse = ready!(r: ConsumerGroupHeartbeatResponse => r.error_code, w.c.request(api, 1, &req).await);
        assert_eq!((r.error_code, r.member_epoch), (0, 1), "{r:?}");
        assert_eq!(cg_describe(&mut m.admin, &g).await.members.len(), 1);
        return;
    }
    // A member (from 127.0.0.1) holds partitions of `t` and of the group's topic.
    let r: ConsumerGroupHeartbeatResponse = ready!(r: ConsumerGroupHeartbeatResponse => r.error_code,
        m.admin.request(ApiKey::ConsumerGroupHeartbeat, 1, &cg_heartbeat(&g, &["t", &t])).await);
    assert_eq!(r.error_code, 0);
    let d = cg_describe(&mut w.c, &g).await;
    assert_eq!((d.error_code, d.members.len()), (GROUP_DENIED, 0));
    m.grant(&w, GROUP, &g, DESCRIBE).await;
    m.grant(&w, TOPIC, "t", DESCRIBE).await;
    // The assignment names a topic the client may not describe.
    let d = cg_describe(&mut w.c, &g).await;
    assert_eq!((d.error_code, d.members.len()), (TOPIC_DENIED, 0));
    m.grant(&w, TOPIC, &t, DESCRIBE).await;
    let d = cg_describe(&mut w.c, &g).await;
    assert_eq!((d.error_code, d.members.len()), (0, 1));
}

fn config_resource(rt: i8, name: &str) -> describe_configs_request::DescribeConfigsResource {
    describe_configs_request::DescribeConfigsResource::default()
        .with_resource_type(rt)
        .with_resource_name(s(name))
        .with_configuration_keys(None)
}

/// (resource type, name, key, value) the case alters: a topic, the broker
/// and a group.
const CONFIG_TARGETS: [(i8, &str, &str, &str, i16); 3] = [
    (2, "t", "retention.ms", "4321", TOPIC_DENIED),
    (4, "1", "log.cleaner.threads", "2", CLUSTER_DENIED),
    (
        32,
        "cfg-group",
        "consumer.session.timeout.ms",
        "50000",
        GROUP_DENIED,
    ),
];

/// The value of `key` on a resource (None: absent or denied).
async fn config_value(c: &mut Client, rt: i8, name: &str, key: &str) -> (i16, Option<String>) {
    let req = DescribeConfigsRequest::default().with_resources(vec![
        config_resource(rt, name).with_configuration_keys(Some(vec![s(key)]))
    ]);
    let r: DescribeConfigsResponse = c.request(ApiKey::DescribeConfigs, 4, &req).await;
    let res = &r.results[0];
    (
        res.error_code,
        res.configs
            .first()
            .and_then(|c| c.value.as_ref().map(|v| v.to_string())),
    )
}

/// AlterConfigs or IncrementalAlterConfigs of one key: the error code.
async fn alter_config(
    api: ApiKey,
    c: &mut Client,
    rt: i8,
    name: &str,
    key: &str,
    value: &str,
) -> i16 {
    if api == ApiKey::AlterConfigs {
        use alter_configs_request::*;
        let req =
            AlterConfigsRequest::default().with_resources(vec![AlterConfigsResource::default()
                .with_resource_type(rt)
                .with_resource_name(s(name))
                .with_configs(vec![AlterableConfig::default()
                    .with_name(s(key))
                    .with_value(Some(s(value)))])]);
        let r: AlterConfigsResponse = c.request(api, 2, &req).await;
        return r.responses[0].error_code;
    }
    use incremental_alter_configs_request::*;
    let req = IncrementalAlterConfigsRequest::default().with_resources(vec![
        AlterConfigsResource::default()
            .with_resource_type(rt)
            .with_resource_name(s(name))
            .with_configs(vec![AlterableConfig::default()
                .with_name(s(key))
                .with_config_operation(0)
                .with_value(Some(s(value)))]),
    ]);
    let r: IncrementalAlterConfigsResponse = c.request(api, 1, &req).await;
    r.responses[0].error_code
}

async fn configs(api: ApiKey, m: &mut Matrix) {
    let mut w = m.who().await;
    let acl_type = |rt: i8| match rt {
        2 => (TOPIC, "t"),
        32 => (GROUP, "cfg-group"),
        _ => (CLUSTER, "kafka-cluster"),
    };
    if api == ApiKey::DescribeConfigs {
        // One request, three resources: each answered on its own.
        let req = DescribeConfigsRequest::default().with_resources(
            CONFIG_TARGETS
                .iter()
                .map(|(rt, n, ..)| config_resource(*rt, n))
                .collect(),
        );
        let r: DescribeConfigsResponse = w.c.request(api, 4, &req).await;
        for (res, (.., code)) in r.results.iter().zip(CONFIG_TARGETS) {
            assert_eq!((res.error_code, res.configs.len()), (code, 0), "{res:?}");
        }
        let (rt, name) = acl_type(4);
        m.grant(&w, rt, name, DESCRIBE_CONFIGS).await;
        let r: DescribeConfigsResponse = w.c.request(api, 4, &req).await;
        let codes: Vec<i16> = r.results.iter().map(|x| x.error_code).collect();
        assert_eq!(codes, vec![TOPIC_DENIED, 0, GROUP_DENIED]);
        assert!(r.results[1].configs.len() > 10);
        return;
    }
    for (rt, name, key, value, code) in CONFIG_TARGETS {
        let before = config_value(&mut m.admin, rt, name, key).await;
        assert_eq!(
            alter_config(api, &mut w.c, rt, name, key, value).await,
            code,
            "{api:?} {rt} {name}"
        );
        assert_eq!(
            config_value(&mut m.admin, rt, name, key).await,
            before,
            "unchanged"
        );
        let (acl_rt, acl_name) = acl_type(rt);
        m.grant(&w, acl_rt, acl_name, ALTER_CONFIGS).await;
        assert_eq!(
            alter_config(api, &mut w.c, rt, name, key, value).await,
            0,
            "{api:?} {rt} {name}"
        );
        let after = config_value(&mut m.admin, rt, name, key).await;
        assert_eq!(after, (0, Some(value.to_owned())), "{api:?} {rt} {name}");
        // Put the value back for the other API's case.
        let undo = IncrementalAlterConfigsRequest::default().with_resources(vec![
            incremental_alter_configs_request::AlterConfigsResource::default()
                .with_resource_type(rt)
                .with_resource_name(s(name))
                .with_configs(vec![
                    incremental_alter_configs_request::AlterableConfig::default()
                        .with_name(s(key))
                        .with_config_operation(1),
                ]),
        ]);
        let r: IncrementalAlterConfigsResponse = m
            .admin
            .request(ApiKey::IncrementalAlterConfigs, 1, &undo)
            .await;
        assert_eq!(r.responses[0].error_code, 0);
    }
}

/// (producer id, epoch) of a transactional id, begun by `c`.
async fn init_producer(c: &mut Client, id: &str) -> (i64, i16) {
    coordinator(c, id, 1).await;
    let req = InitProducerIdRequest::default()
        .with_transactional_id(Some(txn(id)))
        .with_transaction_timeout_ms(60_000)
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1);
    let r: InitProducerIdResponse = ready!(r: InitProducerIdResponse => r.error_code, c.request(ApiKey::InitProducerId, 4, &req).await);
    assert_eq!(r.error_code, 0);
    (r.producer_id.0, r.producer_epoch)
}

fn add_partitions_v3(id: &str, pid: (i64, i16), topics: &[&str]) -> AddPartitionsToTxnRequest {
    AddPartitionsToTxnRequest::default()
        .with_v3_and_below_transactional_id(txn(id))
        .with_v3_and_below_producer_id(ProducerId(pid.0))
        .with_v3_and_below_producer_epoch(pid.1)
        .with_v3_and_below_topics(
            topics
                .iter()
                .map(|t| {
                    add_partitions_to_txn_request::AddPartitionsToTxnTopic::default()
                        .with_name(topic_name(t))
                        .with_partitions(vec![0])
                })
                .collect(),
        )
}

fn add_partitions_codes(r: &AddPartitionsToTxnResponse) -> Vec<i16> {
    r.results_by_topic_v3_and_below
        .iter()
        .map(|t| t.results_by_partition[0].partition_error_code)
        .collect()
}

/// The partitions of a transaction, as its coordinator describes them.
async fn txn_topics(c: &mut Client, id: &str) -> (String, Vec<String>) {
    let req = DescribeTransactionsRequest::default().with_transactional_ids(vec![txn(id)]);
    let r: DescribeTransactionsResponse = c.request(ApiKey::DescribeTransactions, 0, &req).await;
    let st = &r.transaction_states[0];
    assert_eq!(st.error_code, 0);
    let mut topics: Vec<String> = st.topics.iter().map(|t| t.topic.0.to_string()).collect();
    topics.sort();
    (st.transaction_state.to_string(), topics)
}

async fn transaction(api: ApiKey, m: &mut Matrix) {
    let id = format!("txn-{api:?}");
    let g = format!("txn-group-{api:?}");
    coordinator(&mut m.admin, &g, 0).await;
    let t2 = format!("txn-topic-{api:?}");
    m.topic(&t2, 0).await;
    let mut w = m.who().await;
    // The transaction is begun from 127.0.0.1; the case's client speaks for it.
    let pid = init_producer(&mut m.admin, &id).await;
    let end = EndTxnRequest::default()
        .with_transactional_id(txn(&id))
        .with_producer_id(ProducerId(pid.0))
        .with_producer_epoch(pid.1)
        .with_committed(true);
    let add_offsets = AddOffsetsToTxnRequest::default()
        .with_transactional_id(txn(&id))
        .with_producer_id(ProducerId(pid.0))
        .with_producer_epoch(pid.1)
        .with_group_id(group(&g));
    match api {
        ApiKey::AddPartitionsToTxn => {
            let req = add_partitions_v3(&id, pid, &["t", &t2]);
            let r: AddPartitionsToTxnResponse = w.c.request(api, 3, &req).await;
            assert_eq!(add_partitions_codes(&r), vec![TXN_DENIED, TXN_DENIED]);
            m.grant(&w, TXN_ID, &id, WRITE).await;
            m.grant(&w, TOPIC, "t", WRITE).await;
            let r: AddPartitionsToTxnResponse = w.c.request(api, 3, &req).await;
            assert_eq!(add_partitions_codes(&r), vec![NOT_ATTEMPTED, TOPIC_DENIED]);
            assert_eq!(txn_topics(&mut m.admin, &id).await.1, Vec::<String>::new());
            m.grant(&w, TOPIC, &t2, WRITE).await;
            let r: AddPartitionsToTxnResponse = w.c.request(api, 3, &req).await;
            assert_eq!(add_partitions_codes(&r), vec![0, 0]);
            assert_eq!(
                txn_topics(&mut m.admin, &id).await.1,
                vec!["t".to_owned(), t2.clone()]
            );
            // v4+ is the brokers' form: CLUSTER_ACTION.
            let v4 = AddPartitionsToTxnRequest::default().with_transactions(vec![
                add_partitions_to_txn_request::AddPartitionsToTxnTransaction::default()
                    .with_transactional_id(txn(&id))
                    .with_producer_id(ProducerId(pid.0))
                    .with_producer_epoch(pid.1)
                    .with_verify_only(true)
                    .with_topics(req.v3_and_below_topics.clone()),
            ]);
            let r: AddPartitionsToTxnResponse = w.c.request(api, 4, &v4).await;
            assert_eq!(
                (r.error_code, r.results_by_transaction.len()),
                (CLUSTER_DENIED, 0)
            );
            m.grant(&w, CLUSTER, "kafka-cluster", CLUSTER_ACTION).await;
            let r: AddPartitionsToTxnResponse = w.c.request(api, 4, &v4).await;
            assert_eq!(r.error_code, 0);
            let codes: Vec<i16> = r.results_by_transaction[0]
                .topic_results
                .iter()
                .map(|t| t.results_by_partition[0].partition_error_code)
                .collect();
            assert_eq!(codes, vec![0, 0], "both partitions are in the transaction");
        }
        ApiKey::AddOffsetsToTxn => {
            let r: AddOffsetsToTxnResponse = w.c.request(api, 3, &add_offsets).await;
            assert_eq!(r.error_code, TXN_DENIED);
            m.grant(&w, TXN_ID, &id, WRITE).await;
            let r: AddOffsetsToTxnResponse = w.c.request(api, 3, &add_offsets).await;
            assert_eq!(r.error_code, GROUP_DENIED);
            assert_eq!(txn_topics(&mut m.admin, &id).await.1, Vec::<String>::new());
            m.grant(&w, GROUP, &g, READ).await;
            let r: AddOffsetsToTxnResponse = ready!(r: AddOffsetsToTxnResponse => r.error_code, w.c.request(api, 3, &add_offsets).await);
            assert_eq!(r.error_code, 0);
            assert_eq!(
                txn_topics(&mut m.admin, &id).await.1,
                vec!["__consumer_offsets"]
            );
        }
        ApiKey::EndTxn => {
            let r: AddPartitionsToTxnResponse = m
                .admin
                .request(
                    ApiKey::AddPartitionsToTxn,
                    3,
                    &add_partitions_v3(&id, pid, &["t"]),
                )
                .await;
            assert_eq!(add_partitions_codes(&r), vec![0]);
            let r: EndTxnResponse = w.c.request(api, 4, &end).await;
            assert_eq!(r.error_code, TXN_DENIED);
            assert_eq!(txn_topics(&mut m.admin, &id).await.0, "Ongoing");
            m.grant(&w, TXN_ID, &id, WRITE).await;
            let r: EndTxnResponse = w.c.request(api, 4, &end).await;
            assert_eq!(r.error_code, 0);
            let (state, _) = txn_topics(&mut m.admin, &id).await;
            assert!(
                matches!(&state[..], "PrepareCommit" | "CompleteCommit"),
                "{state}"
            );
        }
        _ => {
            // TxnOffsetCommit: WRITE on the id, READ on the group, READ on
            // each topic; the readable topics are committed.
            let r: AddOffsetsToTxnResponse = ready!(r: AddOffsetsToTxnResponse => r.error_code, m.admin.request(ApiKey::AddOffsetsToTxn, 3, &add_offsets).await);
            assert_eq!(r.error_code, 0);
            let req = TxnOffsetCommitRequest::default()
                .with_transactional_id(txn(&id))
                .with_group_id(group(&g))
                .with_producer_id(ProducerId(pid.0))
                .with_producer_epoch(pid.1)
                .with_generation_id(-1)
                .with_member_id(s(""))
                .with_topics(
                    ["t", &t2]
                        .iter()
                        .map(|t| {
                            txn_offset_commit_request::TxnOffsetCommitRequestTopic::default()
                                .with_name(topic_name(t))
                                .with_partitions(vec![
                                    txn_offset_commit_request::TxnOffsetCommitRequestPartition::default()
                                        .with_partition_index(0)
                                        .with_committed_offset(1),
                                ])
                        })
                        .collect(),
                );
            let codes = |r: &TxnOffsetCommitResponse| -> Vec<(String, i16)> {
                let mut v: Vec<_> = r
                    .topics
                    .iter()
                    .map(|t| (t.name.0.to_string(), t.partitions[0].error_code))
                    .collect();
                v.sort();
                v
            };
            let r: TxnOffsetCommitResponse = w.c.request(api, 3, &req).await;
            assert_eq!(
                codes(&r),
                vec![("t".into(), TXN_DENIED), (t2.clone(), TXN_DENIED)]
            );
            m.grant(&w, TXN_ID, &id, WRITE).await;
            let r: TxnOffsetCommitResponse = w.c.request(api, 3, &req).await;
            assert_eq!(
                codes(&r),
                vec![("t".into(), GROUP_DENIED), (t2.clone(), GROUP_DENIED)]
            );
            m.grant(&w, GROUP, &g, READ).await;
            m.grant(&w, TOPIC, &t2, READ).await;
            let r: TxnOffsetCommitResponse = w.c.request(api, 3, &req).await;
            assert_eq!(codes(&r), vec![("t".into(), TOPIC_DENIED), (t2.clone(), 0)]);
            let r: EndTxnResponse = m.admin.request(ApiKey::EndTxn, 4, &end).await;
            assert_eq!(r.error_code, 0);
            // The offsets become visible once the markers are written.
            let mut offsets = Vec::new();
            for _ in 0..100 {
                offsets = committed(&mut m.admin, &g, &["t", &t2]).await;
                if offsets == [-1, 1] {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            assert_eq!(offsets, vec![-1, 1]);
        }
    }
}

async fn listed_transactions(c: &mut Client) -> Vec<String> {
    let req = ListTransactionsRequest::default().with_duration_filter(-1);
    let r: ListTransactionsResponse = c.request(ApiKey::ListTransactions, 1, &req).await;
    assert_eq!(r.error_code, 0);
    r.transaction_states
        .iter()
        .map(|t| t.transactional_id.0.to_string())
        .collect()
}

async fn describe_transactions(api: ApiKey, m: &mut Matrix) {
    let id = format!("described-{api:?}");
    let t2 = format!("described-topic-{api:?}");
    m.topic(&t2, 0).await;
    let pid = init_producer(&mut m.admin, &id).await;
    let r: AddPartitionsToTxnResponse = m
        .admin
        .request(
            ApiKey::AddPartitionsToTxn,
            3,
            &add_partitions_v3(&id, pid, &["t", &t2]),
        )
        .await;
    assert_eq!(add_partitions_codes(&r), vec![0, 0]);
    let mut w = m.who().await;
    if api == ApiKey::ListTransactions {
        assert!(listed_transactions(&mut m.admin).await.contains(&id));
        assert!(listed_transactions(&mut w.c).await.is_empty());
        m.grant(&w, TXN_ID, &id, DESCRIBE).await;
        assert_eq!(listed_transactions(&mut w.c).await, vec![id]);
        return;
    }
    let req = DescribeTransactionsRequest::default().with_transactional_ids(vec![txn(&id)]);
    let r: DescribeTransactionsResponse = w.c.request(api, 0, &req).await;
    let st = &r.transaction_states[0];
    assert_eq!((st.error_code, st.topics.len()), (TXN_DENIED, 0));
    m.grant(&w, TXN_ID, &id, DESCRIBE).await;
    m.grant(&w, TOPIC, &t2, DESCRIBE).await;
    let r: DescribeTransactionsResponse = w.c.request(api, 0, &req).await;
    let st = &r.transaction_states[0];
    let topics: Vec<_> = st.topics.iter().map(|t| t.topic.0.to_string()).collect();
    // `t` is left out: the client may not describe it.
    assert_eq!(
        (st.error_code, st.producer_id.0, topics),
        (0, pid.0, vec![t2])
    );
}

async fn end_offset_of(c: &mut Client, t: &str) -> i64 {
    end_offset(c, t).await.1
}

async fn write_txn_markers(m: &mut Matrix) {
    m.topic("markers", 0).await;
    let mut w = m.who().await;
    let req = WriteTxnMarkersRequest::default().with_markers(vec![
        write_txn_markers_request::WritableTxnMarker::default()
            .with_producer_id(ProducerId(4242))
            .with_producer_epoch(0)
            .with_transaction_result(false)
            .with_coordinator_epoch(0)
            .with_topics(vec![
                write_txn_markers_request::WritableTxnMarkerTopic::default()
                    .with_name(topic_name("markers"))
                    .with_partition_indexes(vec![0]),
            ]),
    ]);
    let code = |r: &WriteTxnMarkersResponse| r.markers[0].topics[0].partitions[0].error_code;
    let r: WriteTxnMarkersResponse = w.c.request(ApiKey::WriteTxnMarkers, 1, &req).await;
    assert_eq!(code(&r), CLUSTER_DENIED);
    assert_eq!(
        end_offset_of(&mut m.admin, "markers").await,
        0,
        "no marker was written"
    );
    m.grant(&w, CLUSTER, "kafka-cluster", CLUSTER_ACTION).await;
    let r: WriteTxnMarkersResponse = w.c.request(ApiKey::WriteTxnMarkers, 1, &req).await;
    assert_eq!(code(&r), 0);
    assert_eq!(end_offset_of(&mut m.admin, "markers").await, 1);
}

async fn describe_producers(m: &mut Matrix) {
    let mut w = m.who().await;
    let req = DescribeProducersRequest::default().with_topics(vec![
        describe_producers_request::TopicRequest::default()
            .with_name(topic_name("t"))
            .with_partition_indexes(vec![0]),
    ]);
    let r: DescribeProducersResponse = w.c.request(ApiKey::DescribeProducers, 0, &req).await;
    assert_eq!(r.topics[0].partitions[0].error_code, TOPIC_DENIED);
    m.grant(&w, TOPIC, "t", DESCRIBE).await;
    let r: DescribeProducersResponse = w.c.request(ApiKey::DescribeProducers, 0, &req).await;
    assert_eq!(
        r.topics[0].partitions[0].error_code, TOPIC_DENIED,
        "READ, not DESCRIBE"
    );
    m.grant(&w, TOPIC, "t", READ).await;
    let r: DescribeProducersResponse = w.c.request(ApiKey::DescribeProducers, 0, &req).await;
    assert_eq!(r.topics[0].partitions[0].error_code, 0);
}

async fn scram_users(c: &mut Client) -> (i16, Vec<String>) {
    let req = DescribeUserScramCredentialsRequest::default().with_users(None);
    let r: DescribeUserScramCredentialsResponse = c
        .request(ApiKey::DescribeUserScramCredentials, 0, &req)
        .await;
    (
        r.error_code,
        r.results.iter().map(|u| u.user.to_string()).collect(),
    )
}

async fn scram(api: ApiKey, m: &mut Matrix) {
    let mut w = m.who().await;
    let user = format!("user-{api:?}");
    let req = AlterUserScramCredentialsRequest::default().with_upsertions(vec![
        alter_user_scram_credentials_request::ScramCredentialUpsertion::default()
            .with_name(s(&user))
            .with_mechanism(1)
            .with_iterations(4096)
            .with_salt(Bytes::from_static(b"salt-salt-salt"))
            .with_salted_password(Bytes::from(vec![7u8; 32])),
    ]);
    if api == ApiKey::AlterUserScramCredentials {
        let r: AlterUserScramCredentialsResponse = w.c.request(api, 0, &req).await;
        assert_eq!(r.results[0].error_code, CLUSTER_DENIED);
        assert!(
            !scram_users(&mut m.admin).await.1.contains(&user),
            "nobody was added"
        );
        m.grant(&w, CLUSTER, "kafka-cluster", ALTER).await;
        let r: AlterUserScramCredentialsResponse = w.c.request(api, 0, &req).await;
        assert_eq!(r.results[0].error_code, 0);
        assert!(scram_users(&mut m.admin).await.1.contains(&user));
        return;
    }
    let r: AlterUserScramCredentialsResponse = m
        .admin
        .request(ApiKey::AlterUserScramCredentials, 0, &req)
        .await;
    assert_eq!(r.results[0].error_code, 0);
    assert_eq!(scram_users(&mut w.c).await, (CLUSTER_DENIED, vec![]));
    m.grant(&w, CLUSTER, "kafka-cluster", DESCRIBE).await;
    let (code, users) = scram_users(&mut w.c).await;
    assert_eq!(code, 0);
    assert!(users.contains(&user));
}

async fn quota_entries(c: &mut Client, user: &str) -> (i16, usize) {
    let req = DescribeClientQuotasRequest::default().with_components(vec![
        describe_client_quotas_request::ComponentData::default()
            .with_entity_type(s("user"))
            .with_match_type(0)
            .with_match(Some(s(user))),
    ]);
    let r: DescribeClientQuotasResponse = c.request(ApiKey::DescribeClientQuotas, 1, &req).await;
    (r.error_code, r.entries.map_or(0, |e| e.len()))
}

async fn client_quotas(api: ApiKey, m: &mut Matrix) {
    let mut w = m.who().await;
    let user = format!("quota-{api:?}");
    use alter_client_quotas_request::*;
    let req = AlterClientQuotasRequest::default().with_entries(vec![EntryData::default()
        .with_entity(vec![EntityData::default()
            .with_entity_type(s("user"))
            .with_entity_name(Some(s(&user)))])
        .with_ops(vec![OpData::default()
            .with_key(s("producer_byte_rate"))
            .with_value(1024.0)])]);
    if api == ApiKey::AlterClientQuotas {
        let r: AlterClientQuotasResponse = w.c.request(api, 1, &req).await;
        assert_eq!(r.entries[0].error_code, CLUSTER_DENIED);
        assert_eq!(
            quota_entries(&mut m.admin, &user).await,
            (0, 0),
            "nothing was set"
        );
        m.grant(&w, CLUSTER, "kafka-cluster", ALTER_CONFIGS).await;
        let r: AlterClientQuotasResponse = w.c.request(api, 1, &req).await;
        assert_eq!(r.entries[0].error_code, 0);
        assert_eq!(quota_entries(&mut m.admin, &user).await, (0, 1));
        return;
    }
    let r: AlterClientQuotasResponse = m.admin.request(ApiKey::AlterClientQuotas, 1, &req).await;
    assert_eq!(r.entries[0].error_code, 0);
    assert_eq!(quota_entries(&mut w.c, &user).await, (CLUSTER_DENIED, 0));
    m.grant(&w, CLUSTER, "kafka-cluster", DESCRIBE_CONFIGS)
        .await;
    assert_eq!(quota_entries(&mut w.c, &user).await, (0, 1));
}

/// A DescribeAcls filter that matches every ACL.
fn all_acls() -> DescribeAclsRequest {
    DescribeAclsRequest::default()
        .with_resource_type_filter(1)
        .with_resource_name_filter(None)
        .with_principal_filter(None)
        .with_host_filter(None)
        .with_pattern_type_filter(1)
        .with_operation(1)
        .with_permission_type(1)
}

/// How many ACLs there are.
async fn acl_count(c: &mut Client) -> usize {
    let r: DescribeAclsResponse = c.request(ApiKey::DescribeAcls, 3, &all_acls()).await;
    assert_eq!(r.error_code, 0);
    r.resources.iter().map(|x| x.acls.len()).sum()
}

async fn create_acls(m: &mut Matrix) {
    let mut w = m.who().await;
    let req = CreateAclsRequest::default().with_creations(vec![
        create_acls_request::AclCreation::default()
            .with_resource_type(TOPIC)
            .with_resource_name(s("acl-target"))
            .with_resource_pattern_type(3)
            .with_principal(s("User:someone"))
            .with_host(s("*"))
            .with_operation(READ)
            .with_permission_type(3),
    ]);
    let before = acl_count(&mut m.admin).await;
    let r: CreateAclsResponse = w.c.request(ApiKey::CreateAcls, 3, &req).await;
    assert_eq!(r.results[0].error_code, CLUSTER_DENIED);
    assert_eq!(acl_count(&mut m.admin).await, before, "no ACL was made");
    m.grant(&w, CLUSTER, "kafka-cluster", ALTER).await;
    let r: CreateAclsResponse = w.c.request(ApiKey::CreateAcls, 3, &req).await;
    assert_eq!(r.results[0].error_code, 0);
    assert_eq!(
        acl_count(&mut m.admin).await,
        before + 2,
        "the grant and the new ACL"
    );
}
