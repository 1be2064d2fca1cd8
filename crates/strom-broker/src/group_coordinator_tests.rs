//! Transactional offsets through a running broker: TxnOffsetCommit over the
//! wire, markers through WriteTxnMarkers and straight through
//! `GroupCoordinator::complete_transaction` (as that handler calls it), OffsetFetch with and without
//! `require_stable`, and a restart that replays pending offsets and markers.

use std::path::Path;
use std::time::Duration;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

#[path = "../tests/support/mod.rs"]
mod support;

use support::Client;

use crate::{Broker, BrokerOptions};

const GROUP: &str = "txn-group";
const TOPIC: &str = "input";
const PRODUCER: i64 = 4242;
const UNSTABLE: i16 = 88; // UNSTABLE_OFFSET_COMMIT

/// Without KIP-890 verification: these tests have no transaction coordinator.
async fn start(dir: &Path) -> Broker {
    start_with(dir, "transaction.partition.verification.enable=false").await
}

async fn start_with(dir: &Path, verification: &str) -> Broker {
    let config = support::config(
        dir,
        &[
            "offsets.topic.num.partitions=1",
            "offsets.topic.replication.factor=1",
            verification,
        ],
    );
    Broker::start(BrokerOptions { config }).await.unwrap()
}

/// FindCoordinator until the group's shard is loaded (it creates
/// `__consumer_offsets` the first time).
async fn wait_coordinator(c: &mut Client) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let mut req = FindCoordinatorRequest::default();
        req.key = StrBytes::from_static_str(GROUP);
        req.key_type = 0;
        let resp: FindCoordinatorResponse = c.request(ApiKey::FindCoordinator, 3, &req).await;
        if resp.error_code == 0 {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no coordinator: error {}",
            resp.error_code
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn txn_commit(c: &mut Client, version: i16, epoch: i16, offset: i64) -> i16 {
    let mut p = txn_offset_commit_request::TxnOffsetCommitRequestPartition::default();
    p.partition_index = 0;
    p.committed_offset = offset;
    p.committed_leader_epoch = -1;
    p.committed_metadata = Some(StrBytes::from_static_str("m"));
    let mut t = txn_offset_commit_request::TxnOffsetCommitRequestTopic::default();
    t.name = TopicName(StrBytes::from_static_str(TOPIC));
    t.partitions = vec![p];
    let mut req = TxnOffsetCommitRequest::default();
    req.transactional_id = TransactionalId(StrBytes::from_static_str("tx"));
    req.group_id = GroupId(StrBytes::from_static_str(GROUP));
    req.producer_id = ProducerId(PRODUCER);
    req.producer_epoch = epoch;
    req.generation_id = -1;
    req.topics = vec![t];
    let resp: TxnOffsetCommitResponse = c.request(ApiKey::TxnOffsetCommit, version, &req).await;
    assert_eq!(resp.topics.len(), 1);
    resp.topics[0].partitions[0].error_code
}

/// (error, committed offset) of partition 0 (OffsetFetch v7).
async fn fetch(c: &mut Client, require_stable: bool) -> (i16, i64) {
    let mut t = offset_fetch_request::OffsetFetchRequestTopic::default();
    t.name = TopicName(StrBytes::from_static_str(TOPIC));
    t.partition_indexes = vec![0];
    let mut req = OffsetFetchRequest::default();
    req.group_id = GroupId(StrBytes::from_static_str(GROUP));
    req.topics = Some(vec![t]);
    req.require_stable = require_stable;
    let resp: OffsetFetchResponse = c.request(ApiKey::OffsetFetch, 7, &req).await;
    assert_eq!(resp.error_code, 0);
    let p = &resp.topics[0].partitions[0];
    (p.error_code, p.committed_offset)
}

/// (last stable offset, log end offset) of `__consumer_offsets`-0.
fn stable_and_end(broker: &Broker) -> (i64, i64) {
    let shards = broker.state().groups.shards.lock();
    let p = &shards.get(&0).expect("the shard of partition 0").partition;
    (p.last_stable_offset(), p.log_end_offset())
}

async fn marker(broker: &Broker, epoch: i16, commit: bool) -> Result<(), i16> {
    broker
        .state()
        .groups
        .complete_transaction(0, PRODUCER, epoch, 0, commit)
        .await
}

/// The same marker as the transaction coordinator sends it: WriteTxnMarkers v1.
async fn wire_marker(c: &mut Client, epoch: i16, commit: bool) -> i16 {
    let mut topic = write_txn_markers_request::WritableTxnMarkerTopic::default();
    topic.name = TopicName(StrBytes::from_static_str("__consumer_offsets"));
    topic.partition_indexes = vec![0];
    let mut marker = write_txn_markers_request::WritableTxnMarker::default();
    marker.producer_id = ProducerId(PRODUCER);
    marker.producer_epoch = epoch;
    marker.transaction_result = commit;
    marker.coordinator_epoch = 0;
    marker.topics = vec![topic];
    let mut req = WriteTxnMarkersRequest::default();
    req.markers = vec![marker];
    let resp: WriteTxnMarkersResponse = c.request(ApiKey::WriteTxnMarkers, 1, &req).await;
    resp.markers[0].topics[0].partitions[0].error_code
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn txn_offsets_are_pending_until_the_marker_and_survive_a_restart() {
    tokio::time::timeout(Duration::from_secs(120), async {
        let dir = tempfile::tempdir().unwrap();
        let broker = start(dir.path()).await;
        let mut c = Client::connect(&broker).await;
        assert_eq!(
            support::create_topic(&mut c, TOPIC, 1, &[]).await.topics[0].error_code,
            0
        );
        wait_coordinator(&mut c).await;

        // A committed transaction.
        let (_, first) = stable_and_end(&broker);
        assert_eq!(txn_commit(&mut c, 3, 0, 100).await, 0);
        assert_eq!(
            fetch(&mut c, false).await,
            (0, -1),
            "invisible while pending"
        );
        assert_eq!(fetch(&mut c, true).await, (UNSTABLE, -1));
        assert_eq!(
            stable_and_end(&broker),
            (first, first + 1),
            "the transactional batch holds the last stable offset"
        );
        marker(&broker, 0, true).await.unwrap();
        assert_eq!(fetch(&mut c, true).await, (0, 100));
        assert_eq!(
            stable_and_end(&broker),
            (first + 2, first + 2),
            "the marker ends it"
        );

        // An aborted one (v0: no member fields), the producer's sequence continues.
        assert_eq!(txn_commit(&mut c, 0, 0, 200).await, 0);
        assert_eq!(fetch(&mut c, true).await, (UNSTABLE, -1));
        // This one over the wire, as the transaction coordinator sends it.
        assert_eq!(wire_marker(&mut c, 0, false).await, 0);
        assert_eq!(fetch(&mut c, true).await, (0, 100));

        // A marker of an older epoch is fenced by the log.
        assert_eq!(txn_commit(&mut c, 4, 1, 300).await, 0);
        assert_eq!(
            marker(&broker, 0, true).await,
            Err(ResponseError::InvalidProducerEpoch.code())
        );
        assert_eq!(fetch(&mut c, true).await, (UNSTABLE, -1));
        // And so is a TxnOffsetCommit of the old epoch.
        assert_eq!(
            txn_commit(&mut c, 4, 0, 400).await,
            ResponseError::InvalidProducerEpoch.code()
        );
        // The refused commit was undone in memory without a reload: the shard
        // answers at once and the epoch-1 offset is still the pending one.
        assert_eq!(fetch(&mut c, true).await, (UNSTABLE, -1));
        assert!(broker.state().groups.is_loaded(0));

        // Restart with the epoch-1 transaction open: it is pending again.
        drop(c);
        broker.shutdown().await.unwrap();
        let broker = start(dir.path()).await;
        let mut c = Client::connect(&broker).await;
        wait_coordinator(&mut c).await;
        assert_eq!(fetch(&mut c, false).await, (0, 100));
        assert_eq!(fetch(&mut c, true).await, (UNSTABLE, -1));
        marker(&broker, 1, true).await.unwrap();
        assert_eq!(fetch(&mut c, true).await, (0, 300));

        // The marker replays too.
        drop(c);
        broker.shutdown().await.unwrap();
        let broker = start(dir.path()).await;
        let mut c = Client::connect(&broker).await;
        wait_coordinator(&mut c).await;
        assert_eq!(fetch(&mut c, true).await, (0, 300));
        drop(c);
        broker.shutdown().await.unwrap();
    })
    .await
    .expect("the test finishes within its time bound");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_marker_for_a_partition_this_broker_does_not_coordinate_is_not_leader() {
    tokio::time::timeout(Duration::from_secs(60), async {
        let dir = tempfile::tempdir().unwrap();
        let broker = start(dir.path()).await;
        assert_eq!(
            broker
                .state()
                .groups
                .complete_transaction(7, PRODUCER, 0, 0, true)
                .await,
            Err(ResponseError::NotLeaderOrFollower.code())
        );
        broker.shutdown().await.unwrap();
    })
    .await
    .expect("the test finishes within its time bound");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_of_transactions_ends_with_the_last_committed_offset() {
    tokio::time::timeout(Duration::from_secs(120), async {
        let dir = tempfile::tempdir().unwrap();
        let broker = start(dir.path()).await;
        let mut c = Client::connect(&broker).await;
        assert_eq!(
            support::create_topic(&mut c, TOPIC, 1, &[]).await.topics[0].error_code,
            0
        );
        wait_coordinator(&mut c).await;
        let rounds = 200;
        let started = std::time::Instant::now();
        for i in 0..rounds {
            assert_eq!(txn_commit(&mut c, 4, 0, i).await, 0);
            // Every third transaction aborts.
            marker(&broker, 0, i % 3 != 2).await.unwrap();
        }
        let elapsed = started.elapsed();
        eprintln!(
            "{rounds} TxnOffsetCommit + marker rounds in {elapsed:?} ({:?} each)",
            elapsed / rounds as u32
        );
        // The last round (199, 199 % 3 == 1) committed.
        assert_eq!(fetch(&mut c, true).await, (0, rounds - 1));
        let (stable, end) = stable_and_end(&broker);
        assert_eq!(stable, end, "no transaction left open");
        assert_eq!(end, 2 * rounds, "one batch and one marker per round");
        drop(c);
        broker.shutdown().await.unwrap();
    })
    .await
    .expect("the test finishes within its time bound");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_verification_a_txn_commit_no_coordinator_confirmed_writes_nothing() {
    tokio::time::timeout(Duration::from_secs(60), async {
        let dir = tempfile::tempdir().unwrap();
        let broker = start_with(dir.path(), "transaction.partition.verification.enable=true").await;
        let mut c = Client::connect(&broker).await;
        assert_eq!(
            support::create_topic(&mut c, TOPIC, 1, &[]).await.topics[0].error_code,
            0
        );
        wait_coordinator(&mut c).await;
        let before = stable_and_end(&broker);
        // No transaction coordinator can confirm the partition: retriable.
        assert_eq!(
            txn_commit(&mut c, 4, 0, 100).await,
            ResponseError::CoordinatorNotAvailable.code()
        );
        assert_eq!(fetch(&mut c, true).await, (0, -1), "nothing pending");
        assert_eq!(stable_and_end(&broker), before, "nothing written");
        drop(c);
        broker.shutdown().await.unwrap();
    })
    .await
    .expect("the test finishes within its time bound");
}
