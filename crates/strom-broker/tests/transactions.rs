//! The partition leader's side of transactions over the wire: transactional
//! Produce, WriteTxnMarkers, read_committed Fetch (last stable offset and
//! aborted transactions), ListOffsets read_committed and DescribeProducers.
//! The transaction coordinator is not part of this test: markers are sent by
//! hand, as the coordinator would send them, and KIP-890 verification is
//! switched off except where its refusal is the point.

mod support;

use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

use strom_broker::{Broker, BrokerOptions};
use strom_records::{BatchBuilder, Compression, EndTransactionMarker, RecordBatch, TimestampType};
use support::Client;

const TOPIC: &str = "orders";

fn name(s: &str) -> TopicName {
    TopicName(StrBytes::from_string(s.into()))
}

async fn start(dir: &std::path::Path, extra: &[&str]) -> Broker {
    Broker::start(BrokerOptions {
        config: support::config(dir, extra),
    })
    .await
    .unwrap()
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// A transactional batch of `values` from producer `pid` at epoch 0.
fn txn_batch(pid: i64, seq: i32, values: &[&str]) -> Bytes {
    let mut b = BatchBuilder::new(Compression::None, TimestampType::CreateTime)
        .producer(pid, 0, seq)
        .transactional(true);
    for v in values {
        b.append(now(), None, Some(v.as_bytes()), &[]);
    }
    b.build(0)
}

fn plain_batch(values: &[&str]) -> Bytes {
    let mut b = BatchBuilder::new(Compression::None, TimestampType::CreateTime);
    for v in values {
        b.append(now(), None, Some(v.as_bytes()), &[]);
    }
    b.build(0)
}

async fn produce(
    c: &mut Client,
    transactional_id: Option<&str>,
    records: Bytes,
) -> produce_response::PartitionProduceResponse {
    let mut pd = produce_request::PartitionProduceData::default();
    pd.index = 0;
    pd.records = Some(records);
    let mut td = produce_request::TopicProduceData::default();
    td.name = name(TOPIC);
    td.partition_data = vec![pd];
    let mut req = ProduceRequest::default();
    req.transactional_id =
        transactional_id.map(|id| TransactionalId(StrBytes::from_string(id.into())));
    req.acks = -1;
    req.timeout_ms = 10_000;
    req.topic_data = vec![td];
    let resp: ProduceResponse = c.request(ApiKey::Produce, 9, &req).await;
    resp.responses[0].partition_responses[0].clone()
}

/// WriteTxnMarkers v1 for one producer on `partitions` of `topic`; the error codes.
async fn write_marker(
    c: &mut Client,
    topic: &str,
    partitions: &[i32],
    pid: i64,
    epoch: i16,
    coordinator_epoch: i32,
    commit: bool,
) -> Vec<i16> {
    let marker = write_txn_markers_request::WritableTxnMarker::default()
        .with_producer_id(ProducerId(pid))
        .with_producer_epoch(epoch)
        .with_transaction_result(commit)
        .with_coordinator_epoch(coordinator_epoch)
        .with_topics(vec![
            write_txn_markers_request::WritableTxnMarkerTopic::default()
                .with_name(name(topic))
                .with_partition_indexes(partitions.to_vec()),
        ]);
    let req = WriteTxnMarkersRequest::default().with_markers(vec![marker]);
    let resp: WriteTxnMarkersResponse = c.request(ApiKey::WriteTxnMarkers, 1, &req).await;
    assert_eq!(resp.markers.len(), 1);
    assert_eq!(resp.markers[0].producer_id.0, pid);
    resp.markers[0].topics[0]
        .partitions
        .iter()
        .map(|p| p.error_code)
        .collect()
}

/// Fetch v12 of partition 0 from `offset` with the isolation level.
async fn fetch(c: &mut Client, offset: i64, read_committed: bool) -> fetch_response::PartitionData {
    let mut fp = fetch_request::FetchPartition::default();
    fp.partition = 0;
    fp.fetch_offset = offset;
    fp.partition_max_bytes = 1 << 20;
    let mut ft = fetch_request::FetchTopic::default();
    ft.topic = name(TOPIC);
    ft.partitions = vec![fp];
    let mut req = FetchRequest::default();
    req.replica_id = BrokerId(-1);
    req.max_wait_ms = 0;
    req.min_bytes = 0;
    req.max_bytes = 50 << 20;
    req.session_epoch = -1;
    req.isolation_level = i8::from(read_committed);
    req.topics = vec![ft];
    let resp: FetchResponse = c.request(ApiKey::Fetch, 12, &req).await;
    resp.responses[0].partitions[0].clone()
}

/// (offset, value or "marker:<commit>") of every record in a fetch answer.
fn records(part: &fetch_response::PartitionData) -> Vec<(i64, String)> {
    let mut out = Vec::new();
    for batch in RecordBatch::iter(part.records.clone().unwrap_or_default()) {
        let batch = batch.unwrap();
        if let Some(marker) = EndTransactionMarker::of_batch(&batch).unwrap() {
            out.push((batch.base_offset(), format!("marker:{}", marker.commit)));
            continue;
        }
        for r in batch.records().unwrap() {
            out.push((
                r.offset(),
                String::from_utf8(r.value.unwrap().to_vec()).unwrap(),
            ));
        }
    }
    out
}

async fn list_latest(c: &mut Client, read_committed: bool) -> i64 {
    let p = list_offsets_request::ListOffsetsPartition::default()
        .with_partition_index(0)
        .with_timestamp(-1);
    let t = list_offsets_request::ListOffsetsTopic::default()
        .with_name(name(TOPIC))
        .with_partitions(vec![p]);
    let req = ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_isolation_level(i8::from(read_committed))
        .with_topics(vec![t]);
    let resp: ListOffsetsResponse = c.request(ApiKey::ListOffsets, 7, &req).await;
    let p = &resp.topics[0].partitions[0];
    assert_eq!(p.error_code, 0);
    p.offset
}

async fn describe_producers(c: &mut Client) -> describe_producers_response::PartitionResponse {
    let req = DescribeProducersRequest::default().with_topics(vec![
        describe_producers_request::TopicRequest::default()
            .with_name(name(TOPIC))
            .with_partition_indexes(vec![0]),
    ]);
    let resp: DescribeProducersResponse = c.request(ApiKey::DescribeProducers, 0, &req).await;
    resp.topics[0].partitions[0].clone()
}

#[tokio::test]
async fn read_committed_sees_committed_records_up_to_the_last_stable_offset() {
    tokio::time::timeout(Duration::from_secs(60), async {
        let dir = tempfile::tempdir().unwrap();
        let broker = start(
            dir.path(),
            &["transaction.partition.verification.enable=false"],
        )
        .await;
        let mut c = Client::connect(&broker).await;
        assert_eq!(
            support::create_topic(&mut c, TOPIC, 1, &[]).await.topics[0].error_code,
            0
        );

        assert_eq!(
            produce(&mut c, None, plain_batch(&["p0"]))
                .await
                .base_offset,
            0
        );
        let a = produce(&mut c, Some("tx-a"), txn_batch(7000, 0, &["a1", "a2"])).await;
        assert_eq!((a.error_code, a.base_offset), (0, 1));
        let b = produce(&mut c, Some("tx-b"), txn_batch(8000, 0, &["b1"])).await;
        assert_eq!((b.error_code, b.base_offset), (0, 3));
        assert_eq!(
            produce(&mut c, Some("tx-a"), txn_batch(7000, 2, &["a3"]))
                .await
                .base_offset,
            4
        );

        // Both transactions open: read_committed stops at the first one.
        let part = fetch(&mut c, 0, true).await;
        assert_eq!(part.error_code, 0);
        assert_eq!((part.high_watermark, part.last_stable_offset), (5, 1));
        assert_eq!(records(&part), vec![(0, "p0".to_string())]);
        assert_eq!(
            part.aborted_transactions.as_deref().map(<[_]>::len),
            Some(0)
        );
        let uncommitted = fetch(&mut c, 0, false).await;
        assert_eq!(records(&uncommitted).len(), 5);
        assert_eq!(
            uncommitted.last_stable_offset, 1,
            "filled for read_uncommitted too"
        );
        assert_eq!(list_latest(&mut c, true).await, 1);
        assert_eq!(list_latest(&mut c, false).await, 5);

        // Producer 7000 aborts: still held back by 8000's open transaction.
        assert_eq!(
            write_marker(&mut c, TOPIC, &[0], 7000, 0, 1, false).await,
            vec![0]
        );
        let part = fetch(&mut c, 0, true).await;
        assert_eq!((part.high_watermark, part.last_stable_offset), (6, 3));
        // Producer 8000 commits: everything is stable.
        assert_eq!(
            write_marker(&mut c, TOPIC, &[0], 8000, 0, 1, true).await,
            vec![0]
        );
        let part = fetch(&mut c, 0, true).await;
        assert_eq!((part.high_watermark, part.last_stable_offset), (7, 7));
        assert_eq!(
            records(&part),
            vec![
                (0, "p0".to_string()),
                (1, "a1".to_string()),
                (2, "a2".to_string()),
                (3, "b1".to_string()),
                (4, "a3".to_string()),
                (5, "marker:false".to_string()),
                (6, "marker:true".to_string()),
            ]
        );
        let aborted = part.aborted_transactions.clone().unwrap();
        assert_eq!(aborted.len(), 1);
        assert_eq!(
            (aborted[0].producer_id.0, aborted[0].first_offset),
            (7000, 1)
        );
        // From past the aborted transaction's marker, nothing is reported.
        assert_eq!(
            fetch(&mut c, 6, true)
                .await
                .aborted_transactions
                .unwrap()
                .len(),
            0
        );
        assert_eq!(list_latest(&mut c, true).await, 7);

        let producers = describe_producers(&mut c).await;
        assert_eq!(producers.error_code, 0);
        let mut active: Vec<_> = producers
            .active_producers
            .iter()
            .map(|p| {
                (
                    p.producer_id.0,
                    p.producer_epoch,
                    p.last_sequence,
                    p.coordinator_epoch,
                    p.current_txn_start_offset,
                )
            })
            .collect();
        active.sort();
        assert_eq!(active, vec![(7000, 0, 2, 1, -1), (8000, 0, 0, 1, -1)]);

        // After a restart the aborted transaction is still reported.
        drop(c);
        broker.shutdown().await.unwrap();
        let broker = start(
            dir.path(),
            &["transaction.partition.verification.enable=false"],
        )
        .await;
        let mut c = Client::connect(&broker).await;
        let part = fetch(&mut c, 0, true).await;
        assert_eq!(part.last_stable_offset, 7);
        assert_eq!(part.aborted_transactions.unwrap().len(), 1);
        drop(c);
        broker.shutdown().await.unwrap();
    })
    .await
    .expect("test timed out");
}

#[tokio::test]
async fn markers_are_refused_per_partition_as_kafka_refuses_them() {
    tokio::time::timeout(Duration::from_secs(60), async {
        let dir = tempfile::tempdir().unwrap();
        let broker = start(
            dir.path(),
            &["transaction.partition.verification.enable=false"],
        )
        .await;
        let mut c = Client::connect(&broker).await;
        assert_eq!(
            support::create_topic(&mut c, TOPIC, 1, &[]).await.topics[0].error_code,
            0
        );
        let first = produce(&mut c, Some("tx"), txn_batch(7000, 0, &["x"])).await;
        assert_eq!(first.error_code, 0);
        assert_eq!(
            write_marker(&mut c, TOPIC, &[0], 7000, 0, 5, false).await,
            vec![0]
        );
        assert_eq!(
            produce(&mut c, Some("tx"), txn_batch(7000, 1, &["y"]))
                .await
                .error_code,
            0
        );

        // A zombie coordinator, an old producer epoch, an unknown partition.
        assert_eq!(
            write_marker(&mut c, TOPIC, &[0, 9], 7000, 0, 4, true).await,
            vec![52, 3]
        );
        assert_eq!(
            write_marker(&mut c, "no-such-topic", &[0], 7000, 0, 5, true).await,
            vec![3]
        );
        let part = fetch(&mut c, 0, true).await;
        assert_eq!(
            part.last_stable_offset, 2,
            "the refused markers ended nothing"
        );

        // A non-transactional batch while the transaction is open.
        let mut idem =
            BatchBuilder::new(Compression::None, TimestampType::CreateTime).producer(7000, 0, 2);
        idem.append(now(), None, Some(b"z"), &[]);
        assert_eq!(
            produce(&mut c, Some("tx"), idem.build(0)).await.error_code,
            48
        );
        // A client may not write a marker itself.
        let forged = EndTransactionMarker {
            commit: true,
            coordinator_epoch: 5,
        }
        .batch(7000, 0, -1, now());
        assert_eq!(produce(&mut c, Some("tx"), forged).await.error_code, 87);
        // Transactional batches without a transactional id.
        assert_eq!(
            produce(&mut c, None, txn_batch(9000, 0, &["q"]))
                .await
                .error_code,
            53
        );

        // __consumer_offsets markers are the group coordinator's: until it
        // takes them, the transaction coordinator is told to retry.
        assert_eq!(
            write_marker(&mut c, "__consumer_offsets", &[0], 7000, 0, 5, true).await,
            vec![6]
        );
        assert_eq!(
            write_marker(&mut c, TOPIC, &[0], 7000, 0, 5, true).await,
            vec![0]
        );
        assert_eq!(fetch(&mut c, 0, true).await.last_stable_offset, 4);
        drop(c);
        broker.shutdown().await.unwrap();
    })
    .await
    .expect("test timed out");
}

#[tokio::test]
async fn an_unverified_transactional_batch_is_not_written() {
    tokio::time::timeout(Duration::from_secs(60), async {
        let dir = tempfile::tempdir().unwrap();
        // Verification on (Kafka's default) and no __transaction_state
        // topic: the coordinator cannot confirm, the producer retries.
        let broker = start(dir.path(), &[]).await;
        let mut c = Client::connect(&broker).await;
        assert_eq!(
            support::create_topic(&mut c, TOPIC, 1, &[]).await.topics[0].error_code,
            0
        );
        let resp = produce(&mut c, Some("tx"), txn_batch(7000, 0, &["x"])).await;
        assert_eq!(
            resp.error_code, 19,
            "NOT_ENOUGH_REPLICAS: {:?}",
            resp.error_message
        );
        assert_eq!(resp.base_offset, -1);
        let part = fetch(&mut c, 0, false).await;
        assert_eq!((part.high_watermark, records(&part).len()), (0, 0));
        // Non-transactional batches need no coordinator.
        assert_eq!(
            produce(&mut c, None, plain_batch(&["p"])).await.error_code,
            0
        );
        drop(c);
        broker.shutdown().await.unwrap();
    })
    .await
    .expect("test timed out");
}
