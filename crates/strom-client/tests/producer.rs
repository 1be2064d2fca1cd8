//! `Producer` against a fake broker on 127.0.0.1:0 that records every
//! Produce request: records sent within `linger.ms` share one batch,
//! `batch.size` seals batches early, sequence numbers continue across
//! batches, and a retriable error resends the same batch (same sequence).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use strom_client::kafka_protocol;
use strom_client::{Producer, ProducerConfig, ProducerRecord};
use strom_records::RecordBatch;

const TOPIC: &str = "t";
const NOT_LEADER_OR_FOLLOWER: i16 = 6;
const MESSAGE_TOO_LARGE: i16 = 10;

/// One batch as the broker received it.
#[derive(Debug, Clone)]
struct Received {
    partition: i32,
    bytes: Bytes,
}

#[derive(Default)]
struct State {
    batches: Vec<Received>,
    /// Produce requests answered so far.
    requests: usize,
    /// Answer the first N Produce requests with NOT_LEADER_OR_FOLLOWER.
    fail_first: usize,
    /// Refuse batches larger than this with MESSAGE_TOO_LARGE, as a topic's
    /// max.message.bytes does.
    max_batch_bytes: Option<usize>,
    /// InitProducerId requests answered so far (ids 42, 43, ...).
    producer_ids: i64,
    next_offset: [i64; 2],
}

async fn serve(listener: TcpListener, state: Arc<Mutex<State>>) {
    let port = listener.local_addr().unwrap().port();
    loop {
        let Ok((s, _)) = listener.accept().await else {
            return;
        };
        tokio::spawn(connection(s, port, state.clone()));
    }
}

async fn connection(mut s: TcpStream, port: u16, state: Arc<Mutex<State>>) {
    loop {
        let Ok(size) = s.read_i32().await else { return };
        let mut buf = vec![0u8; size as usize];
        if s.read_exact(&mut buf).await.is_err() {
            return;
        }
        let mut buf = Bytes::from(buf);
        let api = ApiKey::try_from(i16::from_be_bytes([buf[0], buf[1]])).unwrap();
        let version = i16::from_be_bytes([buf[2], buf[3]]);
        let header = RequestHeader::decode(&mut buf, api.request_header_version(version)).unwrap();
        let mut body = BytesMut::new();
        match api {
            ApiKey::ApiVersions => {
                let mut resp = ApiVersionsResponse::default();
                for (key, min, max) in [
                    (ApiKey::ApiVersions, 0, 3),
                    (ApiKey::Metadata, 1, 12),
                    (ApiKey::Produce, 3, 12),
                    (ApiKey::InitProducerId, 0, 5),
                ] {
                    let mut k = api_versions_response::ApiVersion::default();
                    k.api_key = key as i16;
                    k.min_version = min;
                    k.max_version = max;
                    resp.api_keys.push(k);
                }
                resp.encode(&mut body, version).unwrap();
            }
            ApiKey::Metadata => {
                let mut resp = MetadataResponse::default();
                let mut b = metadata_response::MetadataResponseBroker::default();
                b.node_id = BrokerId(1);
                b.host = StrBytes::from_static_str("127.0.0.1");
                b.port = port.into();
                resp.brokers = vec![b];
                resp.controller_id = BrokerId(1);
                let mut t = metadata_response::MetadataResponseTopic::default();
                t.name = Some(TopicName(StrBytes::from_static_str(TOPIC)));
                for p in 0..2 {
                    let mut mp = metadata_response::MetadataResponsePartition::default();
                    mp.partition_index = p;
                    mp.leader_id = BrokerId(1);
                    mp.replica_nodes = vec![BrokerId(1)];
                    mp.isr_nodes = vec![BrokerId(1)];
                    t.partitions.push(mp);
                }
                resp.topics = vec![t];
                resp.encode(&mut body, version).unwrap();
            }
            ApiKey::InitProducerId => {
                let mut resp = InitProducerIdResponse::default();
                let mut st = state.lock().unwrap();
                resp.producer_id = ProducerId(42 + st.producer_ids);
                st.producer_ids += 1;
                drop(st);
                resp.producer_epoch = 3;
                resp.encode(&mut body, version).unwrap();
            }
            ApiKey::Produce => {
                let req = ProduceRequest::decode(&mut buf, version).unwrap();
                let mut resp = ProduceResponse::default();
                let mut st = state.lock().unwrap();
                st.requests += 1;
                let fail = st.requests <= st.fail_first;
                for t in req.topic_data {
                    let mut tr = produce_response::TopicProduceResponse::default();
                    tr.name = t.name.clone();
                    for p in t.partition_data {
                        let bytes = p.records.unwrap();
                        st.batches.push(Received {
                            partition: p.index,
                            bytes: bytes.clone(),
                        });
                        let mut pr = produce_response::PartitionProduceResponse::default();
                        pr.index = p.index;
                        pr.log_append_time_ms = -1;
                        if fail {
                            pr.error_code = NOT_LEADER_OR_FOLLOWER;
                            pr.base_offset = -1;
                        } else if st.max_batch_bytes.is_some_and(|max| bytes.len() > max) {
                            pr.error_code = MESSAGE_TOO_LARGE;
                            pr.base_offset = -1;
                        } else {
                            let count = RecordBatch::new(bytes).unwrap().records().unwrap().len();
                            pr.base_offset = st.next_offset[p.index as usize];
                            st.next_offset[p.index as usize] += count as i64;
                        }
                        tr.partition_responses.push(pr);
                    }
                    resp.responses.push(tr);
                }
                drop(st);
                resp.encode(&mut body, version).unwrap();
            }
            other => panic!("unexpected {other:?}"),
        }
        let mut frame = BytesMut::new();
        let mut rh = ResponseHeader::default();
        rh.correlation_id = header.correlation_id;
        rh.encode(&mut frame, api.response_header_version(version))
            .unwrap();
        frame.extend_from_slice(&body);
        let len = (frame.len() as i32).to_be_bytes();
        if s.write_all(&len).await.is_err() || s.write_all(&frame).await.is_err() {
            return;
        }
    }
}

async fn fake_broker(fail_first: usize) -> (String, Arc<Mutex<State>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let state = Arc::new(Mutex::new(State {
        fail_first,
        ..State::default()
    }));
    tokio::spawn(serve(listener, state.clone()));
    (addr, state)
}

fn record(partition: i32, value: &str) -> ProducerRecord {
    ProducerRecord {
        topic: TOPIC.to_owned(),
        partition: Some(partition),
        value: Some(Bytes::copy_from_slice(value.as_bytes())),
        ..ProducerRecord::default()
    }
}

fn summary(b: &Received) -> (i32, i64, i16, i32, Vec<String>) {
    let batch = RecordBatch::new(b.bytes.clone()).unwrap();
    let values = batch
        .records()
        .unwrap()
        .iter()
        .map(|r| String::from_utf8(r.value.clone().unwrap().to_vec()).unwrap())
        .collect();
    (
        b.partition,
        batch.producer_id(),
        batch.producer_epoch(),
        batch.base_sequence(),
        values,
    )
}

#[tokio::test]
async fn records_within_linger_share_a_batch_and_sequences_continue() {
    tokio::time::timeout(Duration::from_secs(20), async {
        let (addr, state) = fake_broker(0).await;
        let mut config = ProducerConfig::new(addr);
        config.linger = Duration::from_millis(100);
        let producer = Producer::connect(config).await.unwrap();
        let mut deliveries = Vec::new();
        for i in 0..5 {
            deliveries.push(producer.send(record(1, &format!("a{i}"))).await);
        }
        for (i, d) in deliveries.into_iter().enumerate() {
            let md = d.await.unwrap();
            assert_eq!((md.partition, md.offset), (1, i as i64));
        }
        let md = producer.send_and_wait(record(1, "b0")).await.unwrap();
        assert_eq!(md.offset, 5);
        producer.close().await;
        let st = state.lock().unwrap();
        let got: Vec<_> = st.batches.iter().map(summary).collect();
        assert_eq!(
            got,
            vec![
                (
                    1,
                    42,
                    3,
                    0,
                    vec!["a0", "a1", "a2", "a3", "a4"]
                        .into_iter()
                        .map(String::from)
                        .collect()
                ),
                (1, 42, 3, 5, vec!["b0".to_owned()]),
            ]
        );
    })
    .await
    .expect("timed out");
}

#[tokio::test]
async fn batch_size_seals_batches_before_linger() {
    tokio::time::timeout(Duration::from_secs(20), async {
        let (addr, state) = fake_broker(0).await;
        let mut config = ProducerConfig::new(addr);
        // A long linger: only batch.size can send these in time.
        config.linger = Duration::from_secs(10);
        config.batch_size = 200;
        let producer = Producer::connect(config).await.unwrap();
        let value = "x".repeat(50);
        let started = std::time::Instant::now();
        let mut deliveries = Vec::new();
        for _ in 0..8 {
            deliveries.push(producer.send(record(0, &value)).await);
        }
        // The first batches are sent without waiting for linger.ms.
        let first = deliveries.remove(0).await.unwrap();
        assert_eq!(first.offset, 0);
        assert!(started.elapsed() < Duration::from_secs(5));
        producer.flush().await;
        for d in deliveries {
            d.await.unwrap();
        }
        let st = state.lock().unwrap();
        let got: Vec<_> = st.batches.iter().map(summary).collect();
        assert!(got.len() >= 2, "{got:?}");
        assert_eq!(got.iter().map(|b| b.4.len()).sum::<usize>(), 8);
        // Sequences follow the record counts of the batches before.
        let mut expected_seq = 0;
        for b in &got {
            assert_eq!(b.3, expected_seq);
            expected_seq += b.4.len() as i32;
        }
        for b in &st.batches {
            assert!(b.bytes.len() < 200 + 80, "batch of {} bytes", b.bytes.len());
        }
    })
    .await
    .expect("timed out");
}

#[tokio::test]
async fn a_retriable_error_resends_the_same_batch() {
    tokio::time::timeout(Duration::from_secs(20), async {
        let (addr, state) = fake_broker(2).await;
        let mut config = ProducerConfig::new(addr);
        config.retry_backoff = Duration::from_millis(10);
        let producer = Producer::connect(config).await.unwrap();
        let md = producer.send_and_wait(record(0, "r")).await.unwrap();
        assert_eq!(md.offset, 0);
        producer.close().await;
        let st = state.lock().unwrap();
        assert_eq!(st.requests, 3);
        assert_eq!(st.batches.len(), 3);
        assert!(st.batches.iter().all(|b| b.bytes == st.batches[0].bytes));
        assert_eq!(summary(&st.batches[0]).3, 0);
    })
    .await
    .expect("timed out");
}

#[tokio::test]
async fn retries_stop_at_the_configured_count() {
    tokio::time::timeout(Duration::from_secs(20), async {
        let (addr, state) = fake_broker(usize::MAX).await;
        let mut config = ProducerConfig::new(addr);
        config.retry_backoff = Duration::from_millis(10);
        config.retries = 2;
        let producer = Producer::connect(config).await.unwrap();
        let err = producer.send_and_wait(record(0, "r")).await.unwrap_err();
        assert_eq!(err.kafka_code().map(|c| c.0), Some(NOT_LEADER_OR_FOLLOWER));
        producer.close().await;
        assert_eq!(state.lock().unwrap().requests, 3);
    })
    .await
    .expect("timed out");
}

#[tokio::test]
async fn a_batch_too_large_is_split_and_a_failed_batch_renews_the_producer_id() {
    tokio::time::timeout(Duration::from_secs(20), async {
        let (addr, state) = fake_broker(0).await;
        state.lock().unwrap().max_batch_bytes = Some(150);
        let mut config = ProducerConfig::new(addr);
        config.linger = Duration::from_millis(100);
        let producer = Producer::connect(config).await.unwrap();
        let big = "x".repeat(200);
        let mut deliveries = Vec::new();
        for value in ["a", big.as_str(), "b", "c"] {
            deliveries.push(producer.send(record(0, value)).await);
        }
        let mut outcomes = Vec::new();
        for d in deliveries {
            outcomes.push(d.await.map(|md| md.offset).map_err(|e| e.to_string()));
        }
        assert_eq!(outcomes[0], Ok(0));
        assert!(
            outcomes[1]
                .as_ref()
                .is_err_and(|e| e.contains("MESSAGE_TOO_LARGE")),
            "{:?}",
            outcomes[1]
        );
        assert_eq!(&outcomes[2..], &[Ok(1), Ok(2)]);
        // Later records continue under the new producer id.
        assert_eq!(
            producer.send_and_wait(record(0, "d")).await.unwrap().offset,
            3
        );
        producer.close().await;
        let st = state.lock().unwrap();
        let got: Vec<_> = st
            .batches
            .iter()
            .map(summary)
            .map(|(p, id, epoch, seq, values)| {
                let short: Vec<String> = values.into_iter().map(|v| v[..1].to_owned()).collect();
                (p, id, epoch, seq, short.join(""))
            })
            .collect();
        let expected: Vec<(i32, i64, i16, i32, String)> = [
            // Refused whole, then split in halves keeping the sequence range.
            (42, 0, "axbc"),
            (42, 0, "ax"),
            (42, 0, "a"),
            (42, 1, "x"),
            // x failed for good: a new producer id, and b c renumbered from 0.
            (43, 0, "bc"),
            (43, 2, "d"),
        ]
        .into_iter()
        .map(|(id, seq, v)| (0, id, 3, seq, v.to_owned()))
        .collect();
        assert_eq!(got, expected);
    })
    .await
    .expect("timed out");
}
