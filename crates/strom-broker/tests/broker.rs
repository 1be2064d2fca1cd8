//! In-process broker on 127.0.0.1:0, driven over real sockets with
//! kafka-protocol-encoded requests: the wire contract, end to end.

mod support;

use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable};

use strom_broker::{Broker, BrokerOptions};
use strom_records::{BatchBuilder, Compression, RecordBatch, TimestampType};
use support::{config, create_topic, fetch, produce, start, Client};

fn batch(values: &[&str], ts: i64) -> Bytes {
    let mut b = BatchBuilder::new(Compression::None, TimestampType::CreateTime);
    for (i, v) in values.iter().enumerate() {
        b.append(
            ts + i as i64,
            Some(format!("k{i}").as_bytes()),
            Some(v.as_bytes()),
            &[],
        );
    }
    b.build(0)
}

fn values_of(records: &Bytes) -> Vec<(i64, String)> {
    let mut out = Vec::new();
    let mut rest = records.clone();
    while rest.len() >= 12 {
        let len = 12 + i32::from_be_bytes([rest[8], rest[9], rest[10], rest[11]]) as usize;
        if rest.len() < len {
            break;
        }
        let b = RecordBatch::new(rest.split_to(len)).unwrap();
        for r in b.records().unwrap() {
            out.push((
                b.base_offset() + r.offset_delta as i64,
                String::from_utf8(r.value.unwrap().to_vec()).unwrap(),
            ));
        }
    }
    out
}

#[tokio::test]
async fn produce_fetch_and_restart_keep_every_record_at_its_offset() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path()).await;
    let mut c = Client::connect(&broker).await;

    let created = create_topic(&mut c, "orders", 3, &[]).await;
    assert_eq!(
        created.topics[0].error_code, 0,
        "{:?}",
        created.topics[0].error_message
    );
    assert_eq!(created.topics[0].num_partitions, 3);
    let again = create_topic(&mut c, "orders", 3, &[]).await;
    assert_eq!(again.topics[0].error_code, 36, "TOPIC_ALREADY_EXISTS");

    let r1 = produce(&mut c, "orders", 1, 1, batch(&["a", "b", "c"], 1_000)).await;
    assert_eq!((r1.error_code, r1.base_offset), (0, 0));
    let r2 = produce(&mut c, "orders", 1, -1, batch(&["d", "e"], 2_000)).await;
    assert_eq!((r2.error_code, r2.base_offset), (0, 3));

    let got = fetch(&mut c, "orders", 1, 0, 0, 1).await;
    assert_eq!(got.error_code, 0);
    assert_eq!(got.high_watermark, 5);
    let expect: Vec<(i64, String)> = ["a", "b", "c", "d", "e"]
        .iter()
        .enumerate()
        .map(|(i, v)| (i as i64, v.to_string()))
        .collect();
    assert_eq!(values_of(got.records.as_ref().unwrap()), expect);

    let from3 = fetch(&mut c, "orders", 1, 3, 0, 1).await;
    let vals = values_of(from3.records.as_ref().unwrap());
    assert_eq!(
        vals.first().map(|v| v.0),
        Some(3),
        "fetch at 3 starts with the batch holding offset 3"
    );

    let past = fetch(&mut c, "orders", 1, 6, 0, 1).await;
    assert_eq!(past.error_code, 1, "OFFSET_OUT_OF_RANGE");

    drop(c);
    broker.shutdown().await.unwrap();
    let broker = start(dir.path()).await;
    let mut c = Client::connect(&broker).await;
    let got = fetch(&mut c, "orders", 1, 0, 0, 1).await;
    assert_eq!(values_of(got.records.as_ref().unwrap()), expect);
    let r3 = produce(&mut c, "orders", 1, 1, batch(&["f"], 3_000)).await;
    assert_eq!(r3.base_offset, 5);
    broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn long_poll_returns_as_soon_as_data_arrives() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path()).await;
    let mut c = Client::connect(&broker).await;
    create_topic(&mut c, "poll", 1, &[]).await;
    let mut producer = Client::connect(&broker).await;
    let started = std::time::Instant::now();
    let waiter = tokio::spawn(async move { fetch(&mut c, "poll", 0, 0, 10_000, 1).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    produce(&mut producer, "poll", 0, 1, batch(&["late"], 5)).await;
    let got = waiter.await.unwrap();
    let waited = started.elapsed();
    assert_eq!(
        values_of(got.records.as_ref().unwrap()),
        vec![(0, "late".to_string())]
    );
    assert!(
        waited < Duration::from_secs(5),
        "fetch waited {waited:?}, not woken by the append"
    );
    broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn bad_frames_close_only_their_connection() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path()).await;

    let mut huge = Client::connect(&broker).await;
    huge.send_raw(&0x7fff_fff0i32.to_be_bytes()).await;
    assert!(
        huge.read_frame().await.is_none(),
        "oversized frame must close the connection"
    );

    let mut unknown = Client::connect(&broker).await;
    unknown
        .send_raw(&[0, 0, 0, 8, 0x7f, 0x00, 0, 0, 0, 0, 0, 1])
        .await;
    assert!(
        unknown.read_frame().await.is_none(),
        "unknown api key must close the connection"
    );

    // ApiVersions v127: UNSUPPORTED_VERSION, answered in v0 with our ranges.
    let mut old = Client::connect(&broker).await;
    old.send_raw(&[0, 0, 0, 10, 0, 18, 0, 127, 0, 0, 0, 9, 0xff, 0xff])
        .await;
    let mut resp = old.read_frame().await.expect("an answer");
    assert_eq!(resp.get_i32(), 9);
    let body = ApiVersionsResponse::decode(&mut resp, 0).unwrap();
    assert_eq!(body.error_code, 35);
    let produce = body.api_keys.iter().find(|k| k.api_key == 0).unwrap();
    assert_eq!((produce.min_version, produce.max_version), (0, 13));

    // The broker still serves.
    let mut c = Client::connect(&broker).await;
    let md: MetadataResponse = c
        .request(ApiKey::Metadata, 12, &MetadataRequest::default())
        .await;
    assert_eq!(md.brokers.len(), 1);
    broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn pipelined_requests_are_answered_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path()).await;
    let mut c = Client::connect(&broker).await;
    create_topic(&mut c, "p", 1, &[]).await;
    let mut frames = BytesMut::new();
    for corr in 100..150 {
        let header = RequestHeader::default()
            .with_request_api_key(ApiKey::Metadata as i16)
            .with_request_api_version(9)
            .with_correlation_id(corr);
        let mut body = BytesMut::new();
        header
            .encode(&mut body, ApiKey::Metadata.request_header_version(9))
            .unwrap();
        MetadataRequest::default().encode(&mut body, 9).unwrap();
        frames.put_i32(body.len() as i32);
        frames.extend_from_slice(&body);
    }
    c.send_raw(&frames).await;
    for corr in 100..150 {
        let mut resp = c.read_frame().await.unwrap();
        let h =
            ResponseHeader::decode(&mut resp, ApiKey::Metadata.response_header_version(9)).unwrap();
        assert_eq!(h.correlation_id, corr);
    }
    broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn log_append_time_topics_stamp_the_broker_clock() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path()).await;
    let mut c = Client::connect(&broker).await;
    let created = create_topic(
        &mut c,
        "lat",
        1,
        &[("message.timestamp.type", "LogAppendTime")],
    )
    .await;
    assert_eq!(created.topics[0].error_code, 0);
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let r = produce(&mut c, "lat", 0, 1, batch(&["x"], 42)).await;
    assert!(
        r.log_append_time_ms >= before,
        "log_append_time {} < {before}",
        r.log_append_time_ms
    );
    // acks=1 answers from the page cache; consumers see the record once the
    // background fsync moves the high watermark (the long poll waits for it).
    let got = fetch(&mut c, "lat", 0, 0, 5000, 1).await;
    let b = RecordBatch::new(got.records.unwrap()).unwrap();
    assert_eq!(b.timestamp_type(), TimestampType::LogAppendTime);
    assert_eq!(b.max_timestamp(), r.log_append_time_ms);

    let bad = create_topic(&mut c, "bad", 1, &[("no.such.config", "1")]).await;
    assert_eq!(bad.topics[0].error_code, 40, "INVALID_CONFIG");
    broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn each_listener_answers_metadata_with_its_own_advertised_endpoints() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(
        dir.path(),
        &[
            "listeners=PLAINTEXT://127.0.0.1:0,EXTERNAL://127.0.0.1:0,CONTROLLER://127.0.0.1:0",
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,EXTERNAL:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "controller.listener.names=CONTROLLER",
        ],
    );
    let broker = Broker::start(BrokerOptions { config }).await.unwrap();
    assert!(
        broker.listener_addr("CONTROLLER").is_none(),
        "controller listeners are not served to clients"
    );
    for name in ["PLAINTEXT", "EXTERNAL"] {
        let addr = broker.listener_addr(name).unwrap();
        let mut c = Client::connect_to(addr).await;
        let md: MetadataResponse = c
            .request(ApiKey::Metadata, 12, &MetadataRequest::default())
            .await;
        assert_eq!(md.brokers.len(), 1);
        assert_eq!(
            md.brokers[0].port,
            addr.port() as i32,
            "{name} clients must be told the {name} port"
        );
    }
    broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn acks_all_needs_min_insync_replicas_in_sync() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path()).await;
    let mut c = Client::connect(&broker).await;
    let created = create_topic(&mut c, "minisr", 1, &[("min.insync.replicas", "2")]).await;
    assert_eq!(created.topics[0].error_code, 0);
    // One broker, one in-sync replica: acks=all is refused before anything is written.
    let r = produce(&mut c, "minisr", 0, -1, batch(&["a"], 1)).await;
    assert_eq!(r.error_code, 19, "NOT_ENOUGH_REPLICAS");
    // acks=1 does not wait for replicas, as in Kafka.
    let r = produce(&mut c, "minisr", 0, 1, batch(&["b"], 2)).await;
    assert_eq!((r.error_code, r.base_offset), (0, 0));
    broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn acks_1_records_become_visible_once_fsynced() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path()).await;
    let mut c = Client::connect(&broker).await;
    assert_eq!(
        create_topic(&mut c, "vis", 1, &[]).await.topics[0].error_code,
        0
    );
    for i in 0..20 {
        let r = produce(&mut c, "vis", 0, 1, batch(&["x"], i)).await;
        assert_eq!((r.error_code, r.base_offset), (0, i));
    }
    // The background group-commit fsync moves the high watermark to the end; a long poll
    // wakes up for it.
    let mut offset = 0;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while offset < 20 {
        assert!(
            std::time::Instant::now() < deadline,
            "only {offset} of 20 records visible"
        );
        let got = fetch(&mut c, "vis", 0, offset, 1000, 1).await;
        assert_eq!(got.error_code, 0);
        for b in RecordBatch::iter(got.records.unwrap_or_default()) {
            offset = b.unwrap().next_offset();
        }
        assert!(offset <= got.high_watermark);
    }
    broker.shutdown().await.unwrap();
}

/// Fetch responses are written as pieces (fields around each partition's
/// record bytes) with vectored writes that the socket takes in parts: every
/// byte arrives, in order, and replies stay in request order behind them.
#[tokio::test]
async fn large_fetches_pipelined_with_other_requests_arrive_whole_and_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path()).await;
    let mut c = Client::connect(&broker).await;
    create_topic(&mut c, "big", 4, &[]).await;
    // 4 partitions × 12 batches × 400 records of ~100 bytes: ~2 MB, far more
    // than a loopback socket buffer takes at once.
    let mut expected = vec![Vec::new(); 4];
    for p in 0..4i32 {
        for b in 0..12 {
            let values: Vec<String> = (0..400)
                .map(|i| format!("p{p}-b{b}-r{i:04}-{}", "x".repeat(84)))
                .collect();
            let refs: Vec<&str> = values.iter().map(String::as_str).collect();
            let r = produce(&mut c, "big", p, -1, batch(&refs, 1_000)).await;
            assert_eq!(r.error_code, 0);
            for (i, v) in values.into_iter().enumerate() {
                expected[p as usize].push((r.base_offset + i as i64, v));
            }
        }
    }

    let fetch_all = |version: i16| {
        let mut ft = fetch_request::FetchTopic::default();
        ft.topic = TopicName(kafka_protocol::protocol::StrBytes::from_static_str("big"));
        ft.partitions = (0..4)
            .map(|p| {
                let mut fp = fetch_request::FetchPartition::default();
                fp.partition = p;
                fp.partition_max_bytes = 8 << 20;
                if version >= 9 {
                    fp.current_leader_epoch = -1;
                }
                fp
            })
            .collect();
        let mut req = FetchRequest::default();
        req.replica_id = BrokerId(-1);
        req.max_wait_ms = 0;
        req.min_bytes = 1;
        req.max_bytes = 50 << 20;
        if version >= 7 {
            req.session_epoch = -1;
        }
        req.topics = vec![ft];
        req
    };
    // Fetch v4 (non-flexible), Metadata, Fetch v12 (flexible), Metadata, in
    // one write; nothing is read until all are sent.
    let requests: Vec<(ApiKey, i16, i32)> = vec![
        (ApiKey::Fetch, 4, 201),
        (ApiKey::Metadata, 9, 202),
        (ApiKey::Fetch, 12, 203),
        (ApiKey::Metadata, 9, 204),
    ];
    let mut frames = BytesMut::new();
    for &(api, version, corr) in &requests {
        let mut body = BytesMut::new();
        RequestHeader::default()
            .with_request_api_key(api as i16)
            .with_request_api_version(version)
            .with_correlation_id(corr)
            .encode(&mut body, api.request_header_version(version))
            .unwrap();
        match api {
            ApiKey::Fetch => fetch_all(version).encode(&mut body, version).unwrap(),
            _ => MetadataRequest::default()
                .encode(&mut body, version)
                .unwrap(),
        }
        frames.put_i32(body.len() as i32);
        frames.extend_from_slice(&body);
    }
    c.send_raw(&frames).await;
    // Let the broker fill the socket and wait on it before anything is read.
    tokio::time::sleep(Duration::from_millis(200)).await;
    for &(api, version, corr) in &requests {
        // read_frame bounds the wait for a size prefix only, not for the body.
        let mut resp = tokio::time::timeout(Duration::from_secs(30), c.read_frame())
            .await
            .expect("a whole reply within 30 s")
            .expect("a reply");
        let h = ResponseHeader::decode(&mut resp, api.response_header_version(version)).unwrap();
        assert_eq!(h.correlation_id, corr, "replies in request order");
        if api != ApiKey::Fetch {
            MetadataResponse::decode(&mut resp, version).unwrap();
            continue;
        }
        let fetched = FetchResponse::decode(&mut resp, version).unwrap();
        assert!(
            resp.is_empty(),
            "v{version}: {} bytes after the response",
            resp.len()
        );
        let partitions = &fetched.responses[0].partitions;
        assert_eq!(partitions.len(), 4);
        for pd in partitions {
            assert_eq!(pd.error_code, 0);
            let got = values_of(pd.records.as_ref().unwrap());
            assert!(
                got == expected[pd.partition_index as usize],
                "v{version} partition {}: {} records, expected {}",
                pd.partition_index,
                got.len(),
                expected[pd.partition_index as usize].len()
            );
        }
    }
    broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn produce_v13_names_topics_by_id_and_refuses_unknown_ids() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path()).await;
    let mut c = Client::connect(&broker).await;
    let created = create_topic(&mut c, "by-id", 1, &[]).await;
    let topic_id = created.topics[0].topic_id;
    assert!(!topic_id.is_nil());
    let request = |id: uuid::Uuid, values: &[&str]| {
        let mut pd = produce_request::PartitionProduceData::default();
        pd.index = 0;
        pd.records = Some(batch(values, 1_000));
        let mut td = produce_request::TopicProduceData::default();
        td.topic_id = id;
        td.partition_data = vec![pd];
        let mut req = ProduceRequest::default();
        req.acks = -1;
        req.timeout_ms = 10_000;
        req.topic_data = vec![td];
        req
    };
    let resp: ProduceResponse = c
        .request(ApiKey::Produce, 13, &request(topic_id, &["a", "b"]))
        .await;
    assert_eq!(resp.responses[0].topic_id, topic_id);
    let p = &resp.responses[0].partition_responses[0];
    assert_eq!((p.error_code, p.base_offset), (0, 0));
    let unknown = uuid::Uuid::from_u128(0x1234);
    let resp: ProduceResponse = c
        .request(ApiKey::Produce, 13, &request(unknown, &["lost"]))
        .await;
    assert_eq!(resp.responses[0].topic_id, unknown);
    assert_eq!(
        resp.responses[0].partition_responses[0].error_code, 100,
        "UNKNOWN_TOPIC_ID"
    );
    let got = fetch(&mut c, "by-id", 0, 0, 0, 1).await;
    assert_eq!(
        values_of(&got.records.unwrap()),
        vec![(0, "a".to_string()), (1, "b".to_string())]
    );
    broker.shutdown().await.unwrap();
}
