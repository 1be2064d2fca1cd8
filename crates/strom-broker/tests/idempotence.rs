//! Idempotent producers end to end: InitProducerId, and Produce answering
//! retries with their original offsets, sequence gaps with
//! OUT_OF_ORDER_SEQUENCE_NUMBER and fenced epochs with INVALID_PRODUCER_EPOCH.

mod support;

use std::collections::BTreeSet;

use bytes::Bytes;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

use strom_records::{BatchBuilder, Compression, RecordBatch, TimestampType};
use support::{start, Client};

/// The idempotent producer's view of the broker: one partition per topic,
/// acks=all.
impl Client {
    async fn init_producer_id(
        &mut self,
        version: i16,
        req: InitProducerIdRequest,
    ) -> InitProducerIdResponse {
        self.request(ApiKey::InitProducerId, version, &req).await
    }

    async fn new_producer(&mut self) -> (i64, i16) {
        let resp = self.init_producer_id(4, idempotent_init()).await;
        assert_eq!(resp.error_code, 0);
        (resp.producer_id.0, resp.producer_epoch)
    }

    async fn create_topic(&mut self, name: &str) {
        let resp = support::create_topic(self, name, 1, &[]).await;
        assert_eq!(resp.topics[0].error_code, 0);
    }

    async fn produce(
        &mut self,
        topic: &str,
        records: Bytes,
    ) -> produce_response::PartitionProduceResponse {
        support::produce(self, topic, 0, -1, records).await
    }

    /// Every (offset, value) of partition 0, and the high watermark.
    async fn values(&mut self, topic: &str) -> (Vec<(i64, String)>, i64) {
        let part = support::fetch(self, topic, 0, 0, 0, 0).await;
        assert_eq!(part.error_code, 0);
        let mut out = Vec::new();
        for batch in RecordBatch::iter(part.records.clone().unwrap_or_default()) {
            let batch = batch.unwrap();
            for r in batch.records().unwrap() {
                out.push((
                    r.offset(),
                    String::from_utf8(r.value.unwrap().to_vec()).unwrap(),
                ));
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
    let mut b =
        BatchBuilder::new(Compression::None, TimestampType::CreateTime).producer(pid, epoch, seq);
    // The wall clock: producer ids whose last batch is older than producer.id.expiration.ms
    // (by its timestamp) are forgotten, also when loaded at restart.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    for v in values {
        b.append(now, None, Some(v.as_bytes()), &[]);
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
    assert_eq!(
        c.init_producer_id(4, bump).await.error_code,
        42,
        "INVALID_REQUEST: id without epoch"
    );

    let mut txn = idempotent_init();
    txn.transactional_id = Some(TransactionalId(StrBytes::from_static_str("tx-1")));
    let resp = c.init_producer_id(4, txn.clone()).await;
    assert_eq!(
        (resp.error_code, resp.producer_id.0),
        (16, -1),
        "NOT_COORDINATOR: the transactional id's __transaction_state partition is not led here (the topic is created by FindCoordinator)"
    );
    txn.transactional_id = Some(TransactionalId(StrBytes::from_static_str("")));
    assert_eq!(c.init_producer_id(4, txn).await.error_code, 42);

    drop(c);
    broker.shutdown().await.unwrap();
    let broker = start(dir.path()).await;
    let mut c = Client::connect(&broker).await;
    for _ in 0..3 {
        let (id, _) = c.new_producer().await;
        assert!(
            id >= 1000,
            "after a restart ids come from a new block, got {id}"
        );
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
    assert_eq!(
        (retry.error_code, retry.base_offset),
        (0, 0),
        "a retry gets its original offset"
    );
    let (values, high_watermark) = c.values("idem").await;
    assert_eq!(
        values,
        vec![(0, "a".into()), (1, "b".into()), (2, "c".into())]
    );
    assert_eq!(
        high_watermark, 3,
        "a duplicate does not move the high watermark"
    );

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
    let values: Vec<String> = c
        .values("idem")
        .await
        .0
        .into_iter()
        .map(|(_, v)| v)
        .collect();
    assert_eq!(values, ["a", "b", "c", "d", "e"]);
    broker.shutdown().await.unwrap();
}
