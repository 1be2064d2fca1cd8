//! What every broker test needs: a broker on 127.0.0.1:0 over a temporary
//! log dir, and a client that speaks the wire protocol through
//! kafka-protocol's codecs, so the tests exercise real frames.

// Each test file is its own crate and uses a different part of this module.
#![allow(dead_code)]

use std::path::Path;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use strom_broker::{Broker, BrokerOptions};
use strom_config::{BrokerConfig, Properties};

/// One listener on an ephemeral port, logs in `dir`, plus `extra` overrides.
pub fn config(dir: &Path, extra: &[&str]) -> BrokerConfig {
    let mut props = Properties::default();
    props
        .apply_override("listeners=PLAINTEXT://127.0.0.1:0")
        .unwrap();
    props
        .apply_override(&format!("log.dirs={}", dir.display()))
        .unwrap();
    for e in extra {
        props.apply_override(e).unwrap();
    }
    BrokerConfig::from_properties(&props).unwrap()
}

/// A broker with the default test config over `dir`.
pub async fn start(dir: &Path) -> Broker {
    Broker::start(BrokerOptions {
        config: config(dir, &[]),
    })
    .await
    .unwrap()
}

pub struct Client {
    stream: TcpStream,
    corr: i32,
}

impl Client {
    pub async fn connect(broker: &Broker) -> Client {
        Client::connect_to(broker.local_addr()).await
    }

    pub async fn connect_to(addr: std::net::SocketAddr) -> Client {
        Client {
            stream: TcpStream::connect(addr).await.unwrap(),
            corr: 0,
        }
    }

    /// A connection from `source` (e.g. 127.0.0.2): host-based ACLs tell
    /// it apart from one from 127.0.0.1.
    pub async fn connect_from(broker: &Broker, source: std::net::IpAddr) -> Client {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(std::net::SocketAddr::new(source, 0)).unwrap();
        Client {
            stream: socket.connect(broker.local_addr()).await.unwrap(),
            corr: 0,
        }
    }

    pub async fn send_raw(&mut self, frame: &[u8]) {
        self.stream.write_all(frame).await.unwrap();
    }

    /// Sends one request and decodes its answer, checking the correlation id.
    pub async fn request<Req: Encodable, Resp: Decodable>(
        &mut self,
        api: ApiKey,
        version: i16,
        req: &Req,
    ) -> Resp {
        self.corr += 1;
        let header = RequestHeader::default()
            .with_request_api_key(api as i16)
            .with_request_api_version(version)
            .with_correlation_id(self.corr)
            .with_client_id(Some(StrBytes::from_static_str("strom-test")));
        let mut body = BytesMut::new();
        header
            .encode(&mut body, api.request_header_version(version))
            .unwrap();
        req.encode(&mut body, version).unwrap();
        let mut frame = BytesMut::new();
        frame.put_i32(body.len() as i32);
        frame.extend_from_slice(&body);
        self.stream.write_all(&frame).await.unwrap();
        let mut resp = self.read_frame().await.expect("connection closed");
        let header =
            ResponseHeader::decode(&mut resp, api.response_header_version(version)).unwrap();
        assert_eq!(header.correlation_id, self.corr);
        Resp::decode(&mut resp, version).unwrap()
    }

    /// The next response frame without its size prefix; `None` once the
    /// broker has closed the connection (or after 10 s of silence).
    pub async fn read_frame(&mut self) -> Option<Bytes> {
        let mut len = [0u8; 4];
        tokio::time::timeout(Duration::from_secs(10), self.stream.read_exact(&mut len))
            .await
            .ok()?
            .ok()?;
        let mut buf = vec![0u8; i32::from_be_bytes(len) as usize];
        self.stream.read_exact(&mut buf).await.ok()?;
        Some(Bytes::from(buf))
    }
}

pub async fn create_topic(
    c: &mut Client,
    name: &str,
    partitions: i32,
    configs: &[(&str, &str)],
) -> CreateTopicsResponse {
    let mut t = create_topics_request::CreatableTopic::default();
    t.name = TopicName(StrBytes::from_string(name.into()));
    t.num_partitions = partitions;
    t.replication_factor = 1;
    t.configs = configs
        .iter()
        .map(|(k, v)| {
            let mut c = create_topics_request::CreatableTopicConfig::default();
            c.name = StrBytes::from_string((*k).into());
            c.value = Some(StrBytes::from_string((*v).into()));
            c
        })
        .collect();
    let mut req = CreateTopicsRequest::default();
    req.topics = vec![t];
    req.timeout_ms = 10_000;
    c.request(ApiKey::CreateTopics, 7, &req).await
}

pub async fn produce(
    c: &mut Client,
    topic: &str,
    partition: i32,
    acks: i16,
    records: Bytes,
) -> produce_response::PartitionProduceResponse {
    let mut pd = produce_request::PartitionProduceData::default();
    pd.index = partition;
    pd.records = Some(records);
    let mut td = produce_request::TopicProduceData::default();
    td.name = TopicName(StrBytes::from_string(topic.into()));
    td.partition_data = vec![pd];
    let mut req = ProduceRequest::default();
    req.acks = acks;
    req.timeout_ms = 10_000;
    req.topic_data = vec![td];
    let resp: ProduceResponse = c.request(ApiKey::Produce, 9, &req).await;
    resp.responses[0].partition_responses[0].clone()
}

pub async fn fetch(
    c: &mut Client,
    topic: &str,
    partition: i32,
    offset: i64,
    max_wait_ms: i32,
    min_bytes: i32,
) -> fetch_response::PartitionData {
    let mut fp = fetch_request::FetchPartition::default();
    fp.partition = partition;
    fp.fetch_offset = offset;
    fp.partition_max_bytes = 1 << 20;
    let mut ft = fetch_request::FetchTopic::default();
    ft.topic = TopicName(StrBytes::from_string(topic.into()));
    ft.partitions = vec![fp];
    let mut req = FetchRequest::default();
    req.replica_id = BrokerId(-1);
    req.max_wait_ms = max_wait_ms;
    req.min_bytes = min_bytes;
    req.max_bytes = 50 << 20;
    req.session_epoch = -1;
    req.topics = vec![ft];
    let resp: FetchResponse = c.request(ApiKey::Fetch, 12, &req).await;
    resp.responses[0].partitions[0].clone()
}
