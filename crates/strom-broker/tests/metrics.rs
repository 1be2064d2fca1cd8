//! The Prometheus endpoint after a known workload: every count exact.

mod support;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use strom_broker::{Broker, BrokerOptions};
use strom_records::{BatchBuilder, Compression, TimestampType};
use support::{config, create_topic, fetch, produce, Client};

fn batch(n: usize, ts: i64) -> Bytes {
    let mut b = BatchBuilder::new(Compression::None, TimestampType::CreateTime);
    for i in 0..n {
        b.append(
            ts + i as i64,
            Some(format!("k{i}").as_bytes()),
            Some(format!("value-{i}").as_bytes()),
            &[],
        );
    }
    b.build(0)
}

/// GET `path`: the status code and the body.
async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let exchange = async {
        let mut s = TcpStream::connect(addr).await.unwrap();
        let req = format!("GET {path} HTTP/1.1\r\nHost: strom\r\nConnection: close\r\n\r\n");
        s.write_all(req.as_bytes()).await.unwrap();
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).await.unwrap();
        String::from_utf8(raw).unwrap()
    };
    let raw = tokio::time::timeout(Duration::from_secs(10), exchange)
        .await
        .expect("the metrics endpoint answers within 10 s");
    let status = raw
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = raw
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// Samples by `name{labels}` as written (labels in the order the broker writes them).
fn samples(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| {
            let (key, value) = l.rsplit_once(' ')?;
            Some((key.to_owned(), value.parse().ok()?))
        })
        .collect()
}

fn value(s: &BTreeMap<String, f64>, key: &str) -> f64 {
    *s.get(key)
        .unwrap_or_else(|| panic!("{key} missing from the scrape"))
}

#[tokio::test]
async fn a_scrape_after_a_known_workload_counts_it_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start(BrokerOptions {
        config: config(dir.path(), &["strom.metrics.listener=http://127.0.0.1:0"]),
    })
    .await
    .unwrap();
    let addr = broker
        .metrics_addr()
        .expect("the metrics listener is bound");
    assert_eq!(get(addr, "/health/live").await.0, 200);
    assert_eq!(get(addr, "/health/ready").await, (200, "ready\n".into()));

    let mut c = Client::connect(&broker).await;
    let created = create_topic(&mut c, "orders", 2, &[]).await;
    assert_eq!(created.topics[0].error_code, 0);
    // 10 records in 3 batches on partition 0, 4 in one on partition 1.
    let batches = [
        (0, batch(3, 1_000)),
        (0, batch(2, 2_000)),
        (0, batch(5, 3_000)),
        (1, batch(4, 4_000)),
    ];
    let mut bytes_in = [0u64; 2];
    for (partition, b) in &batches {
        bytes_in[*partition as usize] += b.len() as u64;
        // acks=all: answered once fsynced, so readable at once.
        let r = produce(&mut c, "orders", *partition, -1, b.clone()).await;
        assert_eq!(r.error_code, 0);
    }
    let read = fetch(&mut c, "orders", 0, 0, 0, 1).await;
    let bytes_out = read.records.as_ref().map_or(0, |r| r.len()) as f64;
    assert_eq!(
        bytes_out as u64, bytes_in[0],
        "the fetch returns partition 0's batches whole"
    );

    // A request is counted once its response is written, which may come
    // just after the client read it: poll for the last one.
    let deadline = Instant::now() + Duration::from_secs(10);
    let s = loop {
        let (status, body) = get(addr, "/metrics").await;
        assert_eq!(status, 200);
        let s = samples(&body);
        let fetches = s.get(
            "kafka_network_requestmetrics_requests_total{request=\"FetchConsumer\",version=\"12\"}",
        );
        if fetches == Some(&1.0) {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "the fetch was never counted:\n{body}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };

    let t = "{topic=\"orders\"}";
    assert_eq!(
        value(&s, "kafka_server_brokertopicmetrics_messagesin_total"),
        14.0
    );
    assert_eq!(
        value(
            &s,
            &format!("kafka_server_brokertopicmetrics_messagesin_total{t}")
        ),
        14.0
    );
    let total_in = (bytes_in[0] + bytes_in[1]) as f64;
    assert_eq!(
        value(&s, "kafka_server_brokertopicmetrics_bytesin_total"),
        total_in
    );
    assert_eq!(
        value(
            &s,
            &format!("kafka_server_brokertopicmetrics_bytesin_total{t}")
        ),
        total_in
    );
    assert_eq!(
        value(
            &s,
            &format!("kafka_server_brokertopicmetrics_bytesout_total{t}")
        ),
        bytes_out
    );
    assert_eq!(
        value(&s, "kafka_server_brokertopicmetrics_bytesout_total"),
        bytes_out
    );
    assert_eq!(
        value(
            &s,
            &format!("kafka_server_brokertopicmetrics_totalproducerequests_total{t}")
        ),
        4.0
    );

    let req = |name: &str, version: i16| {
        value(&s, &format!("kafka_network_requestmetrics_requests_total{{request=\"{name}\",version=\"{version}\"}}"))
    };
    assert_eq!(req("Produce", 9), 4.0);
    assert_eq!(req("CreateTopics", 7), 1.0);
    assert_eq!(req("FetchConsumer", 12), 1.0);
    assert!(
        !s.keys().any(|k| k.contains("request=\"Metadata\"")),
        "no Metadata request was sent"
    );
    for phase in [
        "totaltimems",
        "requestqueuetimems",
        "localtimems",
        "remotetimems",
        "responsequeuetimems",
        "responsesendtimems",
    ] {
        assert_eq!(
            value(
                &s,
                &format!("kafka_network_requestmetrics_{phase}_count{{request=\"Produce\"}}")
            ),
            4.0,
            "{phase}"
        );
        assert_eq!(
            value(&s, &format!("kafka_network_requestmetrics_{phase}_bucket{{request=\"Produce\",le=\"+Inf\"}}")),
            4.0,
            "{phase}"
        );
    }

    assert_eq!(value(&s, "kafka_server_replicamanager_partitioncount"), 2.0);
    assert_eq!(value(&s, "kafka_server_replicamanager_leadercount"), 2.0);
    assert_eq!(
        value(&s, "kafka_server_replicamanager_underreplicatedpartitions"),
        0.0
    );
    assert_eq!(
        value(&s, "kafka_controller_kafkacontroller_activecontrollercount"),
        1.0
    );
    assert_eq!(
        value(
            &s,
            "kafka_controller_kafkacontroller_offlinepartitionscount"
        ),
        0.0
    );
    assert_eq!(
        value(&s, "kafka_controller_kafkacontroller_globalpartitioncount"),
        2.0
    );
    let p = |i: i32| format!("{{topic=\"orders\",partition=\"{i}\"}}");
    assert_eq!(
        value(&s, &format!("kafka_log_log_size{}", p(0))),
        bytes_in[0] as f64
    );
    assert_eq!(
        value(&s, &format!("kafka_log_log_size{}", p(1))),
        bytes_in[1] as f64
    );
    assert_eq!(
        value(&s, &format!("kafka_log_log_logendoffset{}", p(0))),
        10.0
    );
    assert_eq!(
        value(&s, &format!("kafka_log_log_logendoffset{}", p(1))),
        4.0
    );
    assert_eq!(
        value(&s, "kafka_coordinator_group_groupmetadatamanager_numgroups"),
        0.0
    );
    // Each acks=all produce waited for an fsync of its partition.
    let flushes = value(&s, "kafka_log_logflushstats_logflushrateandtimems_count");
    assert!((1.0..=4.0).contains(&flushes), "{flushes} flushes");
    assert!(
        value(
            &s,
            "kafka_network_requestmetrics_remotetimems_sum{request=\"Produce\"}"
        ) > 0.0
    );

    drop(c);
    broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn without_a_metrics_listener_nothing_is_served() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start(BrokerOptions {
        config: config(dir.path(), &[]),
    })
    .await
    .unwrap();
    assert_eq!(broker.metrics_addr(), None);
    broker.shutdown().await.unwrap();
}

/// FindCoordinator until the group's shard is loaded (the first one creates `__consumer_offsets`).
async fn wait_coordinator(c: &mut Client, group: &str) {
    use kafka_protocol::messages::*;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut req = FindCoordinatorRequest::default();
        req.key = kafka_protocol::protocol::StrBytes::from_string(group.into());
        let resp: FindCoordinatorResponse = c.request(ApiKey::FindCoordinator, 3, &req).await;
        if resp.error_code == 0 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no coordinator: error {}",
            resp.error_code
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn consumer_lag_is_the_high_watermark_minus_the_committed_offset() {
    use kafka_protocol::messages::*;
    use kafka_protocol::protocol::StrBytes;
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start(BrokerOptions {
        config: config(
            dir.path(),
            &[
                "strom.metrics.listener=http://127.0.0.1:0",
                "offsets.topic.num.partitions=1",
            ],
        ),
    })
    .await
    .unwrap();
    let addr = broker.metrics_addr().unwrap();
    let mut c = Client::connect(&broker).await;
    assert_eq!(
        create_topic(&mut c, "orders", 1, &[]).await.topics[0].error_code,
        0
    );
    let r = produce(&mut c, "orders", 0, -1, batch(10, 1_000)).await;
    assert_eq!(r.error_code, 0);
    wait_coordinator(&mut c, "billing").await;

    // A standalone consumer's commit (no generation): offset 4 of 10.
    let mut p = offset_commit_request::OffsetCommitRequestPartition::default();
    p.partition_index = 0;
    p.committed_offset = 4;
    let mut t = offset_commit_request::OffsetCommitRequestTopic::default();
    t.name = TopicName(StrBytes::from_static_str("orders"));
    t.partitions = vec![p];
    let mut req = OffsetCommitRequest::default();
    req.group_id = GroupId(StrBytes::from_static_str("billing"));
    req.generation_id_or_member_epoch = -1;
    req.topics = vec![t];
    let resp: OffsetCommitResponse = c.request(ApiKey::OffsetCommit, 8, &req).await;
    assert_eq!(resp.topics[0].partitions[0].error_code, 0);

    let (status, body) = get(addr, "/metrics").await;
    assert_eq!(status, 200);
    let s = samples(&body);
    let labels = "{consumergroup=\"billing\",topic=\"orders\",partition=\"0\"}";
    assert_eq!(
        value(&s, &format!("kafka_consumergroup_current_offset{labels}")),
        4.0,
        "{body}"
    );
    assert_eq!(value(&s, &format!("kafka_consumergroup_lag{labels}")), 6.0);
    assert_eq!(
        value(&s, "kafka_coordinator_group_groupmetadatamanager_numgroups"),
        1.0
    );
    assert_eq!(
        value(
            &s,
            "kafka_coordinator_group_groupmetadatamanager_numgroupsempty"
        ),
        1.0
    );
    assert_eq!(
        value(
            &s,
            "kafka_coordinator_group_groupmetadatamanager_numoffsets"
        ),
        1.0
    );
    // __consumer_offsets' partition is hosted and led here too.
    assert_eq!(value(&s, "kafka_server_replicamanager_partitioncount"), 2.0);

    drop(c);
    broker.shutdown().await.unwrap();
}
