//! `strom groups` (the built binary) against an in-process broker on
//! 127.0.0.1:0: a simple group that only commits offsets, a live classic
//! group with assignments, a KIP-848 consumer group, and a broker that is
//! not there.

use std::process::Output;
use std::time::Duration;

use bytes::Bytes;
use tokio::time::Instant;

use strom_broker::{Broker, BrokerOptions};
use strom_client::kafka_protocol::messages::*;
use strom_client::kafka_protocol::protocol::StrBytes;
use strom_client::{Connection, ConnectionConfig};
use strom_config::{BrokerConfig, Properties};
use strom_coordinator::consumer_protocol::{Assignment, Subscription};
use strom_records::{BatchBuilder, Compression, TimestampType};

const MEMBER_ID_REQUIRED: i16 = 79;

async fn start_broker(dir: &std::path::Path) -> Broker {
    let mut props = Properties::default();
    for o in [
        "listeners=PLAINTEXT://127.0.0.1:0".to_owned(),
        format!("log.dirs={}", dir.display()),
        "group.initial.rebalance.delay.ms=0".to_owned(),
        "offsets.topic.num.partitions=2".to_owned(),
        "group.consumer.heartbeat.interval.ms=500".to_owned(),
    ] {
        props.apply_override(&o).unwrap();
    }
    let config = BrokerConfig::from_properties(&props).unwrap();
    Broker::start(BrokerOptions { config }).await.unwrap()
}

/// Runs the strom binary and returns its output; the CLI's own timeouts
/// bound how long it can take.
async fn strom(args: &[&str]) -> Output {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_strom"))
            .args(&args)
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

/// `strom groups <args> --bootstrap-server addr`, which must succeed; its stdout.
async fn groups_ok(addr: &str, args: &[&str]) -> String {
    let out = groups(addr, args).await;
    assert!(
        out.status.success(),
        "strom groups {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

async fn groups(addr: &str, args: &[&str]) -> Output {
    let mut all = vec!["groups"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--bootstrap-server", addr, "--timeout-ms", "15000"]);
    strom(&all).await
}

/// The whitespace-separated cells of the table line starting with `first`.
fn rows<'a>(table: &'a str, first: &str) -> Vec<Vec<&'a str>> {
    table
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|cells| cells.first() == Some(&first))
        .collect()
}

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_owned())
}

/// Polls for a condition for at most 10 s.
struct Deadline {
    at: Instant,
    what: &'static str,
}

impl Deadline {
    fn new(what: &'static str) -> Deadline {
        Deadline {
            at: Instant::now() + Duration::from_secs(10),
            what,
        }
    }

    async fn retry(&self) {
        assert!(
            Instant::now() < self.at,
            "gave up waiting for {}",
            self.what
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn create_topic(conn: &mut Connection, name: &str, partitions: i32) {
    let mut t = create_topics_request::CreatableTopic::default();
    t.name = TopicName(s(name));
    t.num_partitions = partitions;
    t.replication_factor = 1;
    let mut req = CreateTopicsRequest::default();
    req.topics = vec![t];
    req.timeout_ms = 10_000;
    let resp = conn.send(&req).await.unwrap();
    assert_eq!(
        resp.topics[0].error_code, 0,
        "{:?}",
        resp.topics[0].error_message
    );
}

async fn produce(conn: &mut Connection, topic: &str, partition: i32, count: usize) {
    let mut b = BatchBuilder::new(Compression::None, TimestampType::CreateTime);
    for i in 0..count {
        b.append(
            1_700_000_000_000 + i as i64,
            None,
            Some(format!("record-{i}").as_bytes()),
            &[],
        );
    }
    let records: Bytes = b.build(0);
    let mut pd = produce_request::PartitionProduceData::default();
    pd.index = partition;
    pd.records = Some(records);
    let mut td = produce_request::TopicProduceData::default();
    td.name = TopicName(s(topic));
    td.partition_data = vec![pd];
    let mut req = ProduceRequest::default();
    req.acks = -1;
    req.timeout_ms = 10_000;
    req.topic_data = vec![td];
    // The partition opens shortly after CreateTopics answers.
    let deadline = Deadline::new("a produce to succeed");
    while conn.send(&req).await.unwrap().responses[0].partition_responses[0].error_code != 0 {
        deadline.retry().await;
    }
}

/// Waits until the group's coordinator is loaded.
async fn wait_for_coordinator(conn: &mut Connection, group: &str) {
    let mut req = FindCoordinatorRequest::default();
    req.coordinator_keys = vec![s(group)];
    let deadline = Deadline::new("the group coordinator");
    while conn.send(&req).await.unwrap().coordinators[0].error_code != 0 {
        deadline.retry().await;
    }
}

/// OffsetCommit with the given generation and member (-1 and "" for a
/// simple group); asserts every partition was committed.
async fn commit(
    conn: &mut Connection,
    group: &str,
    generation: i32,
    member: &str,
    topic: &str,
    offsets: &[(i32, i64)],
) {
    let mut t = offset_commit_request::OffsetCommitRequestTopic::default();
    t.name = TopicName(s(topic));
    t.partitions = offsets
        .iter()
        .map(|&(p, o)| {
            let mut cp = offset_commit_request::OffsetCommitRequestPartition::default();
            cp.partition_index = p;
            cp.committed_offset = o;
            cp.committed_metadata = Some(s(""));
            cp
        })
        .collect();
    let mut req = OffsetCommitRequest::default();
    req.group_id = GroupId(s(group));
    req.generation_id_or_member_epoch = generation;
    req.member_id = s(member);
    req.topics = vec![t];
    let resp = conn.send(&req).await.unwrap();
    for p in &resp.topics[0].partitions {
        assert_eq!(
            p.error_code, 0,
            "committing {topic}-{} for {group}",
            p.partition_index
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_simple_group_is_described_listed_trimmed_and_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(dir.path()).await;
    let addr = broker.local_addr().to_string();
    let mut conn = Connection::connect(&addr, &ConnectionConfig::default())
        .await
        .unwrap();
    create_topic(&mut conn, "orders", 2).await;
    produce(&mut conn, "orders", 0, 3).await;
    produce(&mut conn, "orders", 1, 5).await;
    wait_for_coordinator(&mut conn, "audit").await;
    commit(&mut conn, "audit", -1, "", "orders", &[(0, 1), (1, 5)]).await;

    let described = groups_ok(&addr, &["describe", "audit"]).await;
    assert_eq!(
        rows(&described, "STATE"),
        vec![vec!["STATE", "Empty"]],
        "{described}"
    );
    assert_eq!(
        rows(&described, "MEMBERS"),
        vec![vec!["MEMBERS", "0"]],
        "{described}"
    );
    assert_eq!(
        rows(&described, "TOPIC"),
        vec![vec![
            "TOPIC",
            "PARTITION",
            "CURRENT-OFFSET",
            "LOG-END-OFFSET",
            "LAG",
            "CONSUMER-ID",
            "HOST",
            "CLIENT-ID"
        ]]
    );
    assert_eq!(
        rows(&described, "orders"),
        vec![
            vec!["orders", "0", "1", "3", "2", "-", "-", "-"],
            vec!["orders", "1", "5", "5", "0", "-", "-", "-"]
        ],
        "{described}"
    );

    let listed = groups_ok(&addr, &["list"]).await;
    assert_eq!(
        rows(&listed, "GROUP"),
        vec![vec!["GROUP", "TYPE", "PROTOCOL-TYPE", "STATE"]],
        "{listed}"
    );
    assert_eq!(
        rows(&listed, "audit"),
        vec![vec!["audit", "classic", "-", "Empty"]],
        "{listed}"
    );
    let empty_only = groups_ok(&addr, &["list", "--state", "empty"]).await;
    assert_eq!(rows(&empty_only, "audit").len(), 1, "{empty_only}");
    let stable_only = groups_ok(&addr, &["list", "--state", "Stable"]).await;
    assert!(rows(&stable_only, "audit").is_empty(), "{stable_only}");

    let trimmed = groups_ok(&addr, &["delete-offsets", "audit", "--topic", "orders:0"]).await;
    assert_eq!(
        rows(&trimmed, "orders"),
        vec![vec!["orders", "0", "Successful"]],
        "{trimmed}"
    );
    let described = groups_ok(&addr, &["describe", "audit"]).await;
    assert_eq!(
        rows(&described, "orders"),
        vec![vec!["orders", "1", "5", "5", "0", "-", "-", "-"]],
        "{described}"
    );

    let deleted = groups_ok(&addr, &["delete", "audit"]).await;
    assert_eq!(deleted, "Deletion of group audit succeeded\n");
    let listed = groups_ok(&addr, &["list"]).await;
    assert!(rows(&listed, "audit").is_empty(), "{listed}");
    let gone = groups(&addr, &["describe", "audit"]).await;
    assert_eq!(gone.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&gone.stderr),
        "error: consumer group 'audit' does not exist; `strom groups list` shows the groups there are\n"
    );
    let again = groups(&addr, &["delete", "audit"]).await;
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr)
        .starts_with("Deletion of group audit failed: GROUP_ID_NOT_FOUND"));

    drop(conn);
    broker.shutdown().await.unwrap();
}

/// JoinGroup until the group has formed; (generation, member id).
async fn join(conn: &mut Connection, group: &str, topic: &str) -> (i32, String) {
    let mut member_id = String::new();
    loop {
        let mut p = join_group_request::JoinGroupRequestProtocol::default();
        p.name = s("range");
        p.metadata = Bytes::from(
            Subscription {
                topics: vec![topic.to_owned()],
                ..Subscription::default()
            }
            .encode(3),
        );
        let mut req = JoinGroupRequest::default();
        req.group_id = GroupId(s(group));
        req.session_timeout_ms = 45_000;
        req.rebalance_timeout_ms = 30_000;
        req.member_id = s(&member_id);
        req.protocol_type = s("consumer");
        req.protocols = vec![p];
        let resp = conn.send(&req).await.unwrap();
        match resp.error_code {
            0 => return (resp.generation_id, resp.member_id.to_string()),
            MEMBER_ID_REQUIRED => member_id = resp.member_id.to_string(),
            code => panic!("JoinGroup failed with {code}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_group_shows_its_members_and_refuses_deletion() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(dir.path()).await;
    let addr = broker.local_addr().to_string();
    let mut conn = Connection::connect(&addr, &ConnectionConfig::default())
        .await
        .unwrap();
    create_topic(&mut conn, "payments", 2).await;
    produce(&mut conn, "payments", 0, 4).await;
    wait_for_coordinator(&mut conn, "billing").await;

    let member_config = ConnectionConfig {
        client_id: "billing-worker".to_owned(),
        ..ConnectionConfig::default()
    };
    let mut member = Connection::connect(&addr, &member_config).await.unwrap();
    let (generation, member_id) = join(&mut member, "billing", "payments").await;
    let mut a = sync_group_request::SyncGroupRequestAssignment::default();
    a.member_id = s(&member_id);
    a.assignment = Bytes::from(
        Assignment {
            assigned_partitions: vec![("payments".to_owned(), vec![0, 1])],
            user_data: None,
        }
        .encode(3),
    );
    let mut sync = SyncGroupRequest::default();
    sync.group_id = GroupId(s("billing"));
    sync.generation_id = generation;
    sync.member_id = s(&member_id);
    sync.protocol_type = Some(s("consumer"));
    sync.protocol_name = Some(s("range"));
    sync.assignments = vec![a];
    let resp = member.send(&sync).await.unwrap();
    assert_eq!(resp.error_code, 0);
    commit(
        &mut member,
        "billing",
        generation,
        &member_id,
        "payments",
        &[(0, 3)],
    )
    .await;

    let described = groups_ok(&addr, &["describe", "billing"]).await;
    assert_eq!(
        rows(&described, "STATE"),
        vec![vec!["STATE", "Stable"]],
        "{described}"
    );
    assert_eq!(
        rows(&described, "PROTOCOL"),
        vec![vec!["PROTOCOL", "range"]],
        "{described}"
    );
    assert_eq!(
        rows(&described, "MEMBERS"),
        vec![vec!["MEMBERS", "1"]],
        "{described}"
    );
    let payments = rows(&described, "payments");
    assert_eq!(payments.len(), 2, "{described}");
    let host = payments[0][6];
    assert!(host.contains("127.0.0.1"), "{described}");
    assert_eq!(
        payments[0],
        vec![
            "payments",
            "0",
            "3",
            "4",
            "1",
            &member_id,
            host,
            "billing-worker"
        ]
    );
    assert_eq!(
        payments[1],
        vec![
            "payments",
            "1",
            "-",
            "0",
            "-",
            &member_id,
            host,
            "billing-worker"
        ]
    );

    let stable = groups_ok(&addr, &["list", "--state", "stable"]).await;
    assert_eq!(
        rows(&stable, "billing"),
        vec![vec!["billing", "classic", "consumer", "Stable"]],
        "{stable}"
    );

    let refused = groups(&addr, &["delete", "billing"]).await;
    assert_eq!(refused.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&refused.stderr),
        "Deletion of group billing failed: NON_EMPTY_GROUP: the group has active members; stop them first\n"
    );
    let subscribed = groups(&addr, &["delete-offsets", "billing", "--topic", "payments"]).await;
    assert_eq!(subscribed.status.code(), Some(1));
    let table = String::from_utf8_lossy(&subscribed.stdout).into_owned();
    for row in rows(&table, "payments") {
        assert_eq!(
            row[2..4],
            ["Error:", "GROUP_SUBSCRIBED_TO_TOPIC:"],
            "{table}"
        );
    }

    drop((conn, member));
    broker.shutdown().await.unwrap();
}

/// A ConsumerGroupHeartbeat (KIP-848) of a member; the answer, which must
/// be free of errors.
async fn consumer_heartbeat(
    conn: &mut Connection,
    req: &ConsumerGroupHeartbeatRequest,
) -> ConsumerGroupHeartbeatResponse {
    let resp = conn.send(req).await.unwrap();
    assert_eq!(
        resp.error_code, 0,
        "ConsumerGroupHeartbeat: {:?}",
        resp.error_message
    );
    resp
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kip848_consumer_group_shows_its_members_epochs_and_lag() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(dir.path()).await;
    let addr = broker.local_addr().to_string();
    let mut conn = Connection::connect(&addr, &ConnectionConfig::default())
        .await
        .unwrap();
    create_topic(&mut conn, "events", 2).await;
    produce(&mut conn, "events", 0, 6).await;
    produce(&mut conn, "events", 1, 2).await;
    wait_for_coordinator(&mut conn, "analytics").await;

    let member_config = ConnectionConfig {
        client_id: "analytics-worker".to_owned(),
        ..ConnectionConfig::default()
    };
    let mut member = Connection::connect(&addr, &member_config).await.unwrap();
    // Joining: epoch 0, a subscription, nothing owned yet. (ConsumerGroupHeartbeat
    // v1 has the client choose its member id.)
    let mut join = ConsumerGroupHeartbeatRequest::default();
    join.group_id = GroupId(s("analytics"));
    join.member_id = s("0d4c1f6e-6a43-4a3e-9a55-3c1b2f7e8d90");
    join.member_epoch = 0;
    join.rebalance_timeout_ms = 30_000;
    join.subscribed_topic_names = Some(vec![TopicName(s("events"))]);
    join.topic_partitions = Some(vec![]);
    let joined = consumer_heartbeat(&mut member, &join).await;
    let member_id = joined.member_id.expect("a member id").to_string();
    let epoch = joined.member_epoch;
    assert!(epoch > 0, "member epoch {epoch}");
    assert_eq!(joined.heartbeat_interval_ms, 500);
    // The only member gets both partitions at once.
    let assignment = joined.assignment.expect("an assignment");
    assert_eq!(assignment.topic_partitions.len(), 1);
    let mut owned = assignment.topic_partitions[0].partitions.clone();
    owned.sort_unstable();
    assert_eq!(owned, vec![0, 1]);
    commit(
        &mut member,
        "analytics",
        epoch,
        &member_id,
        "events",
        &[(0, 4)],
    )
    .await;

    let described = groups_ok(&addr, &["describe", "analytics"]).await;
    let header = |name: &str| rows(&described, name);
    assert_eq!(
        header("STATE"),
        vec![vec!["STATE", "Stable"]],
        "{described}"
    );
    assert_eq!(
        header("TYPE"),
        vec![vec!["TYPE", "consumer"]],
        "{described}"
    );
    assert_eq!(
        header("ASSIGNOR"),
        vec![vec!["ASSIGNOR", "uniform"]],
        "{described}"
    );
    let epoch_cell = epoch.to_string();
    assert_eq!(
        header("GROUP-EPOCH"),
        vec![vec!["GROUP-EPOCH", epoch_cell.as_str()]],
        "{described}"
    );
    assert_eq!(
        header("ASSIGNMENT-EPOCH"),
        vec![vec!["ASSIGNMENT-EPOCH", epoch_cell.as_str()]],
        "{described}"
    );
    assert_eq!(header("MEMBERS"), vec![vec!["MEMBERS", "1"]], "{described}");
    assert!(header("PROTOCOL").is_empty(), "{described}");
    let events = rows(&described, "events");
    assert_eq!(events.len(), 2, "{described}");
    let host = events[0][6];
    assert!(host.contains("127.0.0.1"), "{described}");
    assert_eq!(
        events[0],
        vec![
            "events",
            "0",
            "4",
            "6",
            "2",
            &member_id,
            host,
            "analytics-worker"
        ]
    );
    assert_eq!(
        events[1],
        vec![
            "events",
            "1",
            "-",
            "2",
            "-",
            &member_id,
            host,
            "analytics-worker"
        ]
    );

    let listed = groups_ok(&addr, &["list"]).await;
    assert_eq!(
        rows(&listed, "analytics"),
        vec![vec!["analytics", "consumer", "consumer", "Stable"]],
        "{listed}"
    );
    let stable = groups_ok(&addr, &["list", "--state", "stable"]).await;
    assert_eq!(rows(&stable, "analytics").len(), 1, "{stable}");
    let refused = groups(&addr, &["delete", "analytics"]).await;
    assert_eq!(refused.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&refused.stderr),
        "Deletion of group analytics failed: NON_EMPTY_GROUP: the group has active members; stop them first\n"
    );

    // The member leaves: the group is empty, its offsets stay.
    let mut leave = ConsumerGroupHeartbeatRequest::default();
    leave.group_id = GroupId(s("analytics"));
    leave.member_id = s(&member_id);
    leave.member_epoch = -1;
    consumer_heartbeat(&mut member, &leave).await;
    let described = groups_ok(&addr, &["describe", "analytics"]).await;
    assert_eq!(
        rows(&described, "STATE"),
        vec![vec!["STATE", "Empty"]],
        "{described}"
    );
    assert_eq!(
        rows(&described, "TYPE"),
        vec![vec!["TYPE", "consumer"]],
        "{described}"
    );
    assert_eq!(
        rows(&described, "MEMBERS"),
        vec![vec!["MEMBERS", "0"]],
        "{described}"
    );
    assert_eq!(
        rows(&described, "events"),
        vec![vec!["events", "0", "4", "6", "2", "-", "-", "-"]],
        "{described}"
    );
    let deleted = groups_ok(&addr, &["delete", "analytics"]).await;
    assert_eq!(deleted, "Deletion of group analytics succeeded\n");
    let gone = groups(&addr, &["describe", "analytics"]).await;
    assert_eq!(gone.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&gone.stderr),
        "error: consumer group 'analytics' does not exist; `strom groups list` shows the groups there are\n"
    );

    drop((conn, member));
    broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn no_broker_means_one_line_on_stderr_and_exit_code_1() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let addr = format!("127.0.0.1:{port}");
    for args in [
        &["list"][..],
        &["describe", "g"],
        &["delete", "g"],
        &["delete-offsets", "g", "--topic", "t"],
    ] {
        let out = groups(&addr, args).await;
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(out.stdout.is_empty());
        assert_eq!(
            String::from_utf8_lossy(&out.stderr),
            format!(
                "error: could not connect to {addr}: connection refused; is a broker running there? \
                 Point --bootstrap-server at one\n"
            )
        );
    }
}

#[tokio::test]
async fn a_broker_that_never_answers_times_out_with_one_line() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    // Accepts, reads nothing, answers nothing.
    let silent = tokio::spawn(async move {
        let mut held = Vec::new();
        loop {
            let (socket, _) = listener.accept().await.unwrap();
            held.push(socket);
        }
    });
    let out = strom(&[
        "groups",
        "list",
        "--bootstrap-server",
        &addr,
        "--timeout-ms",
        "300",
    ])
    .await;
    silent.abort();
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!(
            "error: ApiVersions request to {addr} timed out after 300 ms; \
             check that the broker is up and reachable, or raise --timeout-ms\n"
        )
    );
}
