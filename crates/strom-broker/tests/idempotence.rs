//! Idempotent producers end to end: InitProducerId, and Produce answering
//! retries with their original offsets, sequence gaps with
//! OUT_OF_ORDER_SEQUENCE_NUMBER and fenced epochs with INVALID_PRODUCER_EPOCH.

use std::collections::BTreeSet;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use strom_broker::{Broker, BrokerOptions};
use strom_config::{BrokerConfig, Properties};
use strom_records::{BatchBuilder, Compression, RecordBatch, TimestampType};

fn config(dir: &std::path::Path) -> BrokerConfig {
    let mut props = Properties::default();
    props.apply_override("listeners=PLAINTEXT://127.0.0.1:0").unwrap();
    props.apply_override(&format!("log.dirs={}", dir.display())).unwrap();
    BrokerConfig::from_properties(&props).unwrap()
}

async fn start(dir: &std::path::Path) -> Broker {
    Broker::start(BrokerOptions { config: config(dir) }).await.unwrap()
}

struct Client {
    stream: TcpStream,
    corr: i32,
}

impl Client {
    async fn connect(broker: &Broker) -> Client {
        Client { stream: TcpStream::connect(broker.local_addr()).await.unwrap(), corr: 0 }
    }

    async fn request<Req: Encodable, Resp: Decodable>(&mut self, api: ApiKey, version: i16, req: &Req) -> Resp {
        self.corr += 1;
        let header = RequestHeader::default()
            .with_request_api_key(api as i16)
            .with_request_api_version(version)
            .with_correlation_id(self.corr)
            .with_client_id(Some(StrBytes::from_static_str("strom-test")));
        let mut body = BytesMut::new();
        header.encode(&mut body, api.request_header_version(version)).unwrap();
        req.encode(&mut body, version).unwrap();
        let mut frame = BytesMut::new();
        frame.put_i32(body.len() as i32);
        frame.extend_from_slice(&body);
        self.stream.write_all(&frame).await.unwrap();
        let mut len = [0u8; 4];
        tokio::time::timeout(Duration::from_secs(10), self.stream.read_exact(&mut len)).await.unwrap().unwrap();
        let mut buf = vec![0u8; i32::from_be_bytes(len) as usize];
        self.stream.read_exact(&mut buf).await.unwrap();
        let mut resp = Bytes::from(buf);
        let header = ResponseHeader::decode(&mut resp, api.response_header_version(version)).unwrap();
        assert_eq!(header.correlation_id, self.corr);
        Resp::decode(&mut resp, version).unwrap()
    }

    async fn init_producer_id(&mut self, version: i16, req: InitProducerIdRequest) -> InitProducerIdResponse {
        self.request(ApiKey::InitProducerId, version, &req).await
    }

    async fn new_producer(&mut self) -> (i64, i16) {
        let resp = self.init_producer_id(4, idempotent_init()).await;
        assert_eq!(resp.error_code, 0);
        (resp.producer_id.0, resp.producer_epoch)
    }

    async fn create_topic(&mut self, name: &str) {
        let mut t = create_topics_request::CreatableTopic::default();
        t.name = TopicName(StrBytes::from_string(name.into()));
        t.num_partitions = 1;
        t.replication_factor = 1;
        let mut req = CreateTopicsRequest::default();
        req.topics = vec![t];
        req.timeout_ms = 10_000;
        let resp: CreateTopicsResponse = self.request(ApiKey::CreateTopics, 7, &req).await;
        assert_eq!(resp.topics[0].error_code, 0);
    }

    async fn produce(&mut self, topic: &str, records: Bytes) -> produce_response::PartitionProduceResponse {
        let mut pd = produce_request::PartitionProduceData::default();
        pd.records = Some(records);
        let mut td = produce_request::TopicProduceData::default();
        td.name = TopicName(StrBytes::from_string(topic.into()));
        td.partition_data = vec![pd];
        let mut req = ProduceRequest::default();
        req.acks = -1;
        req.timeout_ms = 10_000;
        req.topic_data = vec![td];
        let resp: ProduceResponse = self.request(ApiKey::Produce, 9, &req).await;
        resp.responses[0].partition_responses[0].clone()
    }

    /// Every (offset, value) of partition 0, and the high watermark.
    async fn values(&mut self, topic: &str) -> (Vec<(i64, String)>, i64) {
        let mut fp = fetch_request::FetchPartition::default();
        fp.partition_max_bytes = 1 << 20;
        let mut ft = fetch_request::FetchTopic::default();
        ft.topic = TopicName(StrBytes::from_string(topic.into()));
        ft.partitions = vec![fp];
        let mut req = FetchRequest::default();
        req.replica_id = BrokerId(-1);
        req.max_bytes = 50 << 20;
        req.session_epoch = -1;
        req.topics = vec![ft];
        let resp: FetchResponse = self.request(ApiKey::Fetch, 12, &req).await;
        let part = &resp.responses[0].partitions[0];
        assert_eq!(part.error_code, 0);
        let mut out = Vec::new();
        for batch in RecordBatch::iter(part.records.clone().unwrap_or_default()) {
            let batch = batch.unwrap();
            for r in batch.records().unwrap() {
                out.push((r.offset(), String::from_utf8(r.value.unwrap().to_vec()).unwrap()));
            }
        }
        (out, part.high_watermark)
    }
}

fn idempotent_init() -> InitProducerIdRequest {
    let mut req = InitProducerIdRequest::default();
    req.transactional_id = None;
    req.transaction_timeout_ms = 60_000;
    req.producer_id = ProducerId(-1);
    req.producer_epoch = -1;
    req
}

fn batch(pid: i64, epoch: i16, seq: i32, values: &[&str]) -> Bytes {
    let mut b = BatchBuilder::new(Compression::None, TimestampType::CreateTime).producer(pid, epoch, seq);
    for v in values {
        b.append(1_000, None, Some(v.as_bytes()), &[]);
    }
    b.build(0)
}

#[tokio::test]
async fn init_producer_id_gives_distinct_ids_across_calls_and_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path()).await;
    let mut c = Client::connect(&broker).await;
    let mut ids = BTreeSet::new();
    for version in [0, 2, 3, 4, 5] {
        let (id, epoch) = c.new_producer().await;
        assert_eq!(epoch, 0);
        assert!(ids.insert(id), "id {id} issued twice");
        let resp = c.init_producer_id(version, idempotent_init()).await;
        assert_eq!((resp.error_code, resp.producer_epoch), (0, 0), "v{version}");
        assert!(ids.insert(resp.producer_id.0));
    }
    // KIP-360 fields for an idempotent producer: Kafka hands out a new id at epoch 0.
    let mut bump = idempotent_init();
    bump.producer_id = ProducerId(*ids.first().unwrap());
    bump.producer_epoch = 0;
    let resp = c.init_producer_id(4, bump.clone()).await;
    assert_eq!((resp.error_code, resp.producer_epoch), (0, 0));
    assert!(ids.insert(resp.producer_id.0));
    bump.producer_epoch = -1;
    assert_eq!(c.init_producer_id(4, bump).await.error_code, 42, "INVALID_REQUEST: id without epoch");

    let mut txn = idempotent_init();
    txn.transactional_id = Some(TransactionalId(StrBytes::from_static_str("tx-1")));
    let resp = c.init_producer_id(4, txn.clone()).await;
    assert_eq!((resp.error_code, resp.producer_id.0), (15, -1), "COORDINATOR_NOT_AVAILABLE");
    txn.transactional_id = Some(TransactionalId(StrBytes::from_static_str("")));
    assert_eq!(c.init_producer_id(4, txn).await.error_code, 42);

    drop(c);
    broker.shutdown().await.unwrap();
    let broker = start(dir.path()).await;
    let mut c = Client::connect(&broker).await;
    for _ in 0..3 {
        let (id, _) = c.new_producer().await;
        assert!(id >= 1000, "after a restart ids come from a new block, got {id}");
        assert!(ids.insert(id), "id {id} issued again after a restart");
    }
    broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn retries_are_answered_with_the_original_offset_and_stored_once() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path()).await;
    let mut c = Client::connect(&broker).await;
    c.create_topic("idem").await;
    let (pid, epoch) = c.new_producer().await;

    let first = c.produce("idem", batch(pid, epoch, 0, &["a", "b"])).await;
    assert_eq!((first.error_code, first.base_offset), (0, 0));
    let second = c.produce("idem", batch(pid, epoch, 2, &["c"])).await;
    assert_eq!((second.error_code, second.base_offset), (0, 2));
    let retry = c.produce("idem", batch(pid, epoch, 0, &["a", "b"])).await;
    assert_eq!((retry.error_code, retry.base_offset), (0, 0), "a retry gets its original offset");
    let (values, high_watermark) = c.values("idem").await;
    assert_eq!(values, vec![(0, "a".into()), (1, "b".into()), (2, "c".into())]);
    assert_eq!(high_watermark, 3, "a duplicate does not move the high watermark");

    let gap = c.produce("idem", batch(pid, epoch, 5, &["x"])).await;
    assert_eq!(gap.error_code, 45, "OUT_OF_ORDER_SEQUENCE_NUMBER");
    assert!(gap.error_message.is_some());
    // The producer bumps its epoch itself (KIP-360) and starts at sequence 0.
    let bumped = c.produce("idem", batch(pid, epoch + 1, 0, &["d"])).await;
    assert_eq!((bumped.error_code, bumped.base_offset), (0, 3));
    let fenced = c.produce("idem", batch(pid, epoch, 3, &["y"])).await;
    assert_eq!(fenced.error_code, 47, "INVALID_PRODUCER_EPOCH");
    assert_eq!(c.values("idem").await.0.len(), 4);

    // The producer state is rebuilt from the log at restart.
    drop(c);
    broker.shutdown().await.unwrap();
    let broker = start(dir.path()).await;
    let mut c = Client::connect(&broker).await;
    let retry = c.produce("idem", batch(pid, epoch + 1, 0, &["d"])).await;
    assert_eq!((retry.error_code, retry.base_offset), (0, 3));
    let fenced = c.produce("idem", batch(pid, epoch, 3, &["y"])).await;
    assert_eq!(fenced.error_code, 47);
    let next = c.produce("idem", batch(pid, epoch + 1, 1, &["e"])).await;
    assert_eq!((next.error_code, next.base_offset), (0, 4));
    let values: Vec<String> = c.values("idem").await.0.into_iter().map(|(_, v)| v).collect();
    assert_eq!(values, ["a", "b", "c", "d", "e"]);
    broker.shutdown().await.unwrap();
}
