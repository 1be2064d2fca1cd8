//! The transaction admin calls against two scripted fake brokers on
//! 127.0.0.1:0 (nodes 1 and 2): which broker each request goes to
//! (ListTransactions to every broker, DescribeTransactions to the
//! coordinator FindCoordinator names, DescribeProducers to the partition
//! leader or the broker asked for, the abort's WriteTxnMarkers to the
//! leader) and what is made of the answers.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use strom_client::kafka_protocol::messages::*;
use strom_client::kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use strom_client::{AbortTransactionSpec, AdminClient, AdminConfig, TopicPartition};

const TOPIC: &str = "orders";
/// Node 2 leads partition 0, node 1 partition 1; node 2 coordinates
/// every transactional id.
const COORDINATOR: i32 = 2;
const NOT_COORDINATOR: i16 = 16;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_owned())
}

/// What the fake brokers were asked: (node, api key).
type Log = Arc<Mutex<Vec<(i32, ApiKey, Bytes)>>>;

struct Cluster {
    ports: [u16; 2],
    log: Log,
}

impl Cluster {
    async fn start() -> Cluster {
        let l1 = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let l2 = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let ports = [
            l1.local_addr().unwrap().port(),
            l2.local_addr().unwrap().port(),
        ];
        let log: Log = Arc::default();
        for (node, l) in [(1, l1), (2, l2)] {
            let log = log.clone();
            tokio::spawn(async move {
                while let Ok((conn, _)) = l.accept().await {
                    tokio::spawn(serve(node, ports, conn, log.clone()));
                }
            });
        }
        Cluster { ports, log }
    }

    async fn admin(&self) -> AdminClient {
        let mut config = AdminConfig::new(format!("127.0.0.1:{}", self.ports[0]));
        config.connection.request_timeout = Duration::from_secs(5);
        config.api_timeout = Duration::from_secs(5);
        config.retry_backoff = Duration::from_millis(10);
        AdminClient::connect(config).await.unwrap()
    }

    /// The nodes that were sent `api`, in order, with the request bodies.
    fn asked(&self, api: ApiKey) -> Vec<(i32, Bytes)> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, a, _)| *a == api)
            .map(|(n, _, b)| (*n, b.clone()))
            .collect()
    }
}

async fn serve(node: i32, ports: [u16; 2], mut conn: TcpStream, log: Log) {
    loop {
        let Ok(size) = conn.read_i32().await else {
            return;
        };
        let mut frame = vec![0u8; size as usize];
        if conn.read_exact(&mut frame).await.is_err() {
            return;
        }
        let mut buf = Bytes::from(frame);
        let api = ApiKey::try_from(i16::from_be_bytes([buf[0], buf[1]])).unwrap();
        let version = i16::from_be_bytes([buf[2], buf[3]]);
        let header = RequestHeader::decode(&mut buf, api.request_header_version(version)).unwrap();
        log.lock().unwrap().push((node, api, buf.clone()));
        let mut body = BytesMut::new();
        match api {
            ApiKey::ApiVersions => {
                let mut resp = ApiVersionsResponse::default();
                for (key, min, max) in [
                    (ApiKey::ApiVersions, 0, 3),
                    (ApiKey::Metadata, 1, 12),
                    (ApiKey::FindCoordinator, 0, 6),
                    (ApiKey::ListTransactions, 0, 1),
                    (ApiKey::DescribeTransactions, 0, 0),
                    (ApiKey::DescribeProducers, 0, 0),
                    (ApiKey::WriteTxnMarkers, 1, 1),
                ] {
                    let mut k = api_versions_response::ApiVersion::default();
                    k.api_key = key as i16;
                    k.min_version = min;
                    k.max_version = max;
                    resp.api_keys.push(k);
                }
                let version = version.min(3);
                resp.encode(&mut body, version).unwrap();
            }
            ApiKey::Metadata => {
                let mut resp = MetadataResponse::default();
                for (id, port) in [(1, ports[0]), (2, ports[1])] {
                    let mut b = metadata_response::MetadataResponseBroker::default();
                    b.node_id = BrokerId(id);
                    b.host = s("127.0.0.1");
                    b.port = port.into();
                    resp.brokers.push(b);
                }
                let mut t = metadata_response::MetadataResponseTopic::default();
                t.name = Some(TopicName(s(TOPIC)));
                for (index, leader) in [(0, 2), (1, 1)] {
                    let mut p = metadata_response::MetadataResponsePartition::default();
                    p.partition_index = index;
                    p.leader_id = BrokerId(leader);
                    p.replica_nodes = vec![BrokerId(1), BrokerId(2)];
                    p.isr_nodes = vec![BrokerId(1), BrokerId(2)];
                    t.partitions.push(p);
                }
                resp.topics.push(t);
                resp.encode(&mut body, version).unwrap();
            }
            ApiKey::FindCoordinator => {
                let req = FindCoordinatorRequest::decode(&mut buf, version).unwrap();
                let mut resp = FindCoordinatorResponse::default();
                let mut c = find_coordinator_response::Coordinator::default();
                c.key = req
                    .coordinator_keys
                    .first()
                    .cloned()
                    .unwrap_or(req.key.clone());
                c.node_id = BrokerId(COORDINATOR);
                c.host = s("127.0.0.1");
                c.port = ports[1].into();
                if version >= 4 {
                    resp.coordinators.push(c);
                } else {
                    resp.node_id = c.node_id;
                    resp.host = c.host;
                    resp.port = c.port;
                }
                resp.encode(&mut body, version).unwrap();
            }
            ApiKey::ListTransactions => {
                let mut resp = ListTransactionsResponse::default();
                let mut t = list_transactions_response::TransactionState::default();
                t.transactional_id = TransactionalId(s(&format!("tx-of-{node}")));
                t.producer_id = ProducerId(100 + i64::from(node));
                t.transaction_state = s(if node == 1 {
                    "Ongoing"
                } else {
                    "CompleteCommit"
                });
                resp.transaction_states.push(t);
                resp.encode(&mut body, version).unwrap();
            }
            ApiKey::DescribeTransactions => {
                let req = DescribeTransactionsRequest::decode(&mut buf, version).unwrap();
                let mut resp = DescribeTransactionsResponse::default();
                for id in req.transactional_ids {
                    let mut t = describe_transactions_response::TransactionState::default();
                    t.transactional_id = id;
                    if node != COORDINATOR {
                        t.error_code = NOT_COORDINATOR;
                    } else {
                        t.transaction_state = s("Ongoing");
                        t.producer_id = ProducerId(7);
                        t.producer_epoch = 3;
                        t.transaction_timeout_ms = 60000;
                        t.transaction_start_time_ms = 1234;
                        let mut topic = describe_transactions_response::TopicData::default();
                        topic.topic = TopicName(s(TOPIC));
                        topic.partitions = vec![1, 0];
                        t.topics.push(topic);
                    }
                    resp.transaction_states.push(t);
                }
                resp.encode(&mut body, version).unwrap();
            }
            ApiKey::DescribeProducers => {
                let req = DescribeProducersRequest::decode(&mut buf, version).unwrap();
                let mut resp = DescribeProducersResponse::default();
                for t in req.topics {
                    let mut tr = describe_producers_response::TopicResponse::default();
                    tr.name = t.name;
                    for p in t.partition_indexes {
                        let mut pr = describe_producers_response::PartitionResponse::default();
                        pr.partition_index = p;
                        // The producer id says who answered.
                        let mut st = describe_producers_response::ProducerState::default();
                        st.producer_id = ProducerId(1000 * i64::from(node) + i64::from(p));
                        st.producer_epoch = 2;
                        st.last_sequence = 5;
                        st.last_timestamp = 99;
                        st.coordinator_epoch = -1;
                        st.current_txn_start_offset = 40;
                        pr.active_producers.push(st);
                        tr.partitions.push(pr);
                    }
                    resp.topics.push(tr);
                }
                resp.encode(&mut body, version).unwrap();
            }
            ApiKey::WriteTxnMarkers => {
                let req = WriteTxnMarkersRequest::decode(&mut buf, version).unwrap();
                let mut resp = WriteTxnMarkersResponse::default();
                for m in req.markers {
                    let mut mr = write_txn_markers_response::WritableTxnMarkerResult::default();
                    mr.producer_id = m.producer_id;
                    for t in m.topics {
                        let mut tr =
                            write_txn_markers_response::WritableTxnMarkerTopicResult::default();
                        tr.name = t.name;
                        for p in t.partition_indexes {
                            let mut pr = write_txn_markers_response::WritableTxnMarkerPartitionResult::default();
                            pr.partition_index = p;
                            tr.partitions.push(pr);
                        }
                        mr.topics.push(tr);
                    }
                    resp.markers.push(mr);
                }
                resp.encode(&mut body, version).unwrap();
            }
            other => panic!("the fake broker does not serve {other:?}"),
        }
        let mut out = BytesMut::new();
        out.put_i32(0);
        ResponseHeader::default()
            .with_correlation_id(header.correlation_id)
            .encode(&mut out, api.response_header_version(version))
            .unwrap();
        out.extend_from_slice(&body);
        let len = (out.len() - 4) as i32;
        (&mut out[..4]).put_i32(len);
        if conn.write_all(&out).await.is_err() {
            return;
        }
    }
}

#[tokio::test]
async fn list_transactions_asks_every_broker() {
    let c = Cluster::start().await;
    let mut admin = c.admin().await;
    let listed = admin.list_transactions(&[], &[7], None).await.unwrap();
    let rows: Vec<(String, i32, i64, String)> = listed
        .into_iter()
        .map(|l| (l.transactional_id, l.coordinator_id, l.producer_id, l.state))
        .collect();
    assert_eq!(
        rows,
        [
            ("tx-of-1".to_owned(), 1, 101, "Ongoing".to_owned()),
            ("tx-of-2".to_owned(), 2, 102, "CompleteCommit".to_owned()),
        ]
    );
    let asked = c.asked(ApiKey::ListTransactions);
    assert_eq!(asked.iter().map(|(n, _)| *n).collect::<Vec<_>>(), [1, 2]);
    // The producer id filter went out.
    let mut body = asked[0].1.clone();
    let req = ListTransactionsRequest::decode(&mut body, 1).unwrap();
    assert_eq!(req.producer_id_filters, vec![ProducerId(7)]);
    assert_eq!(req.duration_filter, -1);
}

#[tokio::test]
async fn describe_transactions_asks_the_coordinator() {
    let c = Cluster::start().await;
    let mut admin = c.admin().await;
    let mut out = admin
        .describe_transactions(&["tx".to_owned()])
        .await
        .unwrap();
    let (id, result) = out.pop().unwrap();
    assert_eq!(id, "tx");
    let d = result.unwrap();
    assert_eq!(d.coordinator_id, COORDINATOR);
    assert_eq!((d.producer_id, d.producer_epoch), (7, 3));
    assert_eq!(d.transaction_start_time_ms, Some(1234));
    assert_eq!(
        d.topic_partitions,
        [TopicPartition::new(TOPIC, 0), TopicPartition::new(TOPIC, 1)]
    );
    let find = c.asked(ApiKey::FindCoordinator);
    assert_eq!(find.len(), 1);
    let mut body = find[0].1.clone();
    let version = 6; // the highest both sides know
    let req = FindCoordinatorRequest::decode(&mut body, version).unwrap();
    assert_eq!(req.key_type, 1, "a transactional id's coordinator");
    assert_eq!(
        c.asked(ApiKey::DescribeTransactions)
            .iter()
            .map(|(n, _)| *n)
            .collect::<Vec<_>>(),
        [COORDINATOR]
    );
}

#[tokio::test]
async fn describe_producers_asks_the_leader_or_the_broker_given() {
    let c = Cluster::start().await;
    let mut admin = c.admin().await;
    let both = [TopicPartition::new(TOPIC, 0), TopicPartition::new(TOPIC, 1)];
    let out = admin.describe_producers(&both, None).await.unwrap();
    let who: Vec<i64> = both
        .iter()
        .map(|tp| out[tp].as_ref().unwrap()[0].producer_id)
        .collect();
    assert_eq!(
        who,
        [2000, 1001],
        "partition 0 from node 2, partition 1 from node 1"
    );
    let p = &out[&both[0]].as_ref().unwrap()[0];
    assert_eq!(p.coordinator_epoch, None, "-1 is no coordinator epoch");
    assert_eq!(p.current_transaction_start_offset, Some(40));

    let out = admin.describe_producers(&both, Some(1)).await.unwrap();
    let who: Vec<i64> = both
        .iter()
        .map(|tp| out[tp].as_ref().unwrap()[0].producer_id)
        .collect();
    assert_eq!(who, [1000, 1001], "both from node 1, as asked");
    assert!(matches!(
        admin.describe_producers(&both, Some(9)).await,
        Err(strom_client::Error::UnknownBroker { node_id: 9 })
    ));
}

#[tokio::test]
async fn abort_sends_an_abort_marker_to_the_leader() {
    let c = Cluster::start().await;
    let mut admin = c.admin().await;
    let spec = AbortTransactionSpec {
        partition: TopicPartition::new(TOPIC, 0),
        producer_id: 55,
        producer_epoch: 4,
        coordinator_epoch: 6,
    };
    admin.abort_transaction(&spec).await.unwrap();
    let sent = c.asked(ApiKey::WriteTxnMarkers);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].0, 2, "node 2 leads partition 0");
    let mut body = sent[0].1.clone();
    let req = WriteTxnMarkersRequest::decode(&mut body, 1).unwrap();
    assert!(!body.has_remaining());
    let m = &req.markers[0];
    assert_eq!(
        (
            m.producer_id.0,
            m.producer_epoch,
            m.coordinator_epoch,
            m.transaction_result
        ),
        (55, 4, 6, false)
    );
    assert_eq!(m.topics[0].name.0.as_str(), TOPIC);
    assert_eq!(m.topics[0].partition_indexes, vec![0]);
}
