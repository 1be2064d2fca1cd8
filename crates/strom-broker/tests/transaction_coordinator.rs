//! The transaction coordinator over the wire: FindCoordinator for a
//! transactional id, InitProducerId fencing, AddPartitionsToTxn (client and
//! verify-only forms), EndTxn v3 and v5, DescribeTransactions,
//! ListTransactions, the state surviving a restart (replayed from
//! `__transaction_state`), and transactions v2 (Produce v12, TxnOffsetCommit
//! v5) adding partitions without AddPartitionsToTxn/AddOffsetsToTxn.

mod support;

use std::time::{Duration, Instant};

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

use strom_broker::{Broker, BrokerOptions};
use support::Client;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_owned())
}

fn code(e: ResponseError) -> i16 {
    e.code()
}

async fn start(dir: &std::path::Path) -> Broker {
    Broker::start(BrokerOptions {
        config: support::config(dir, &["transaction.state.log.num.partitions=3"]),
    })
    .await
    .unwrap()
}

/// FindCoordinator(key type 1) until the coordinator is ready (bounded).
async fn wait_coordinator(c: &mut Client, id: &str) -> i32 {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut req = FindCoordinatorRequest::default();
        req.key_type = 1;
        req.coordinator_keys = vec![s(id)];
        let resp: FindCoordinatorResponse = c.request(ApiKey::FindCoordinator, 4, &req).await;
        let co = &resp.coordinators[0];
        if co.error_code == 0 {
            return co.node_id.0;
        }
        assert!(
            Instant::now() < deadline,
            "no coordinator: {}",
            co.error_code
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn init(c: &mut Client, id: &str, timeout_ms: i32) -> InitProducerIdResponse {
    let mut req = InitProducerIdRequest::default();
    req.transactional_id = Some(TransactionalId(s(id)));
    req.transaction_timeout_ms = timeout_ms;
    req.producer_id = ProducerId(-1);
    req.producer_epoch = -1;
    c.request(ApiKey::InitProducerId, 4, &req).await
}

async fn add(
    c: &mut Client,
    id: &str,
    pid: i64,
    epoch: i16,
    topic: &str,
    parts: &[i32],
) -> Vec<i16> {
    let mut t = add_partitions_to_txn_request::AddPartitionsToTxnTopic::default();
    t.name = TopicName(s(topic));
    t.partitions = parts.to_vec();
    let mut req = AddPartitionsToTxnRequest::default();
    req.v3_and_below_transactional_id = TransactionalId(s(id));
    req.v3_and_below_producer_id = ProducerId(pid);
    req.v3_and_below_producer_epoch = epoch;
    req.v3_and_below_topics = vec![t];
    let resp: AddPartitionsToTxnResponse = c.request(ApiKey::AddPartitionsToTxn, 3, &req).await;
    resp.results_by_topic_v3_and_below[0]
        .results_by_partition
        .iter()
        .map(|p| p.partition_error_code)
        .collect()
}

async fn verify(
    c: &mut Client,
    id: &str,
    pid: i64,
    epoch: i16,
    topic: &str,
    parts: &[i32],
) -> Vec<i16> {
    let mut t = add_partitions_to_txn_request::AddPartitionsToTxnTopic::default();
    t.name = TopicName(s(topic));
    t.partitions = parts.to_vec();
    let mut txn = add_partitions_to_txn_request::AddPartitionsToTxnTransaction::default();
    txn.transactional_id = TransactionalId(s(id));
    txn.producer_id = ProducerId(pid);
    txn.producer_epoch = epoch;
    txn.verify_only = true;
    txn.topics = vec![t];
    let mut req = AddPartitionsToTxnRequest::default();
    req.transactions = vec![txn];
    let resp: AddPartitionsToTxnResponse = c.request(ApiKey::AddPartitionsToTxn, 5, &req).await;
    resp.results_by_transaction[0].topic_results[0]
        .results_by_partition
        .iter()
        .map(|p| p.partition_error_code)
        .collect()
}

async fn end(
    c: &mut Client,
    version: i16,
    id: &str,
    pid: i64,
    epoch: i16,
    commit: bool,
) -> EndTxnResponse {
    let mut req = EndTxnRequest::default();
    req.transactional_id = TransactionalId(s(id));
    req.producer_id = ProducerId(pid);
    req.producer_epoch = epoch;
    req.committed = commit;
    c.request(ApiKey::EndTxn, version, &req).await
}

async fn describe(c: &mut Client, id: &str) -> describe_transactions_response::TransactionState {
    let mut req = DescribeTransactionsRequest::default();
    req.transactional_ids = vec![TransactionalId(s(id))];
    let mut resp: DescribeTransactionsResponse =
        c.request(ApiKey::DescribeTransactions, 0, &req).await;
    resp.transaction_states.remove(0)
}

async fn list(c: &mut Client, states: &[&str], pattern: Option<&str>) -> ListTransactionsResponse {
    let mut req = ListTransactionsRequest::default();
    req.state_filters = states.iter().map(|v| s(v)).collect();
    req.duration_filter = -1;
    req.transactional_id_pattern = pattern.map(s);
    c.request(ApiKey::ListTransactions, 2, &req).await
}

#[tokio::test]
async fn a_transaction_is_coordinated_fenced_described_and_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path()).await;
    let mut c = Client::connect(&broker).await;
    assert_eq!(wait_coordinator(&mut c, "txn-a").await, 1);
    let created = support::create_topic(&mut c, "t", 2, &[]).await;
    assert_eq!(created.topics[0].error_code, 0);

    let first = init(&mut c, "txn-a", 60_000).await;
    assert_eq!(first.error_code, 0);
    assert_eq!(first.producer_epoch, 0);
    let pid = first.producer_id.0;
    assert!(pid >= 0);
    let second = init(&mut c, "txn-a", 60_000).await;
    assert_eq!(
        (
            second.error_code,
            second.producer_id.0,
            second.producer_epoch
        ),
        (0, pid, 1)
    );
    assert_eq!(
        init(&mut c, "txn-a", 900_001).await.error_code,
        code(ResponseError::InvalidTransactionTimeout)
    );

    // The first instance is fenced; the second opens a transaction.
    assert_eq!(
        add(&mut c, "txn-a", pid, 0, "t", &[0]).await,
        vec![code(ResponseError::ProducerFenced)]
    );
    assert_eq!(
        add(&mut c, "txn-a", pid, 1, "missing", &[0]).await,
        vec![code(ResponseError::UnknownTopicOrPartition)]
    );
    assert_eq!(add(&mut c, "txn-a", pid, 1, "t", &[0]).await, vec![0]);

    // A partition leader verifies (KIP-890 part 1).
    assert_eq!(
        verify(&mut c, "txn-a", pid, 1, "t", &[0, 1]).await,
        vec![0, code(ResponseError::TransactionAbortable)]
    );
    assert_eq!(
        verify(&mut c, "txn-a", pid, 0, "t", &[0]).await,
        vec![code(ResponseError::ProducerFenced)]
    );

    let d = describe(&mut c, "txn-a").await;
    assert_eq!(d.error_code, 0);
    assert_eq!(d.transaction_state.as_str(), "Ongoing");
    assert_eq!(
        (d.producer_id.0, d.producer_epoch, d.transaction_timeout_ms),
        (pid, 1, 60_000)
    );
    assert_eq!(d.topics.len(), 1);
    assert_eq!(d.topics[0].partitions, vec![0]);
    assert_eq!(
        describe(&mut c, "nobody").await.error_code,
        code(ResponseError::TransactionalIdNotFound)
    );

    let ongoing = list(&mut c, &["Ongoing"], None).await;
    assert_eq!(ongoing.error_code, 0);
    let ids: Vec<&str> = ongoing
        .transaction_states
        .iter()
        .map(|t| t.transactional_id.0.as_str())
        .collect();
    assert_eq!(ids, vec!["txn-a"]);
    assert!(
        list(&mut c, &[], Some("txn-.*"))
            .await
            .transaction_states
            .len()
            == 1
    );
    assert!(
        list(&mut c, &[], Some("txn"))
            .await
            .transaction_states
            .is_empty(),
        "a pattern matches the whole id"
    );
    let unknown = list(&mut c, &["Bogus"], None).await;
    assert_eq!(unknown.unknown_state_filters.len(), 1);

    // Commit (transactions v1): the old epoch is fenced, the right one accepted.
    assert_eq!(
        end(&mut c, 3, "txn-a", pid, 0, true).await.error_code,
        code(ResponseError::ProducerFenced)
    );
    assert_eq!(end(&mut c, 3, "txn-a", pid, 1, true).await.error_code, 0);
    let state = describe(&mut c, "txn-a")
        .await
        .transaction_state
        .to_string();
    assert!(
        state == "PrepareCommit" || state == "CompleteCommit",
        "{state}"
    );

    // Transactions v2: EndTxn v5 returns the bumped epoch.
    let other = init(&mut c, "txn-b", 60_000).await;
    assert_eq!(other.error_code, 0);
    let (pid_b, epoch_b) = (other.producer_id.0, other.producer_epoch);
    assert_ne!(pid_b, pid);
    assert_eq!(
        add(&mut c, "txn-b", pid_b, epoch_b, "t", &[1]).await,
        vec![0]
    );
    let ended = end(&mut c, 5, "txn-b", pid_b, epoch_b, false).await;
    assert_eq!(
        (ended.error_code, ended.producer_id.0, ended.producer_epoch),
        (0, pid_b, epoch_b + 1)
    );

    drop(c);
    broker.shutdown().await.unwrap();
    let broker = start(dir.path()).await;
    let mut c = Client::connect(&broker).await;
    wait_coordinator(&mut c, "txn-a").await;
    wait_coordinator(&mut c, "txn-b").await;
    let d = describe(&mut c, "txn-a").await;
    assert_eq!(d.error_code, 0);
    assert_eq!((d.producer_id.0, d.producer_epoch), (pid, 1));
    let state = d.transaction_state.to_string();
    assert!(
        state == "PrepareCommit" || state == "CompleteCommit",
        "{state}"
    );
    let d = describe(&mut c, "txn-b").await;
    assert_eq!((d.producer_id.0, d.producer_epoch), (pid_b, epoch_b + 1));
    drop(c);
    broker.shutdown().await.unwrap();
}

async fn delete_topic(c: &mut Client, name: &str) {
    let mut t = delete_topics_request::DeleteTopicState::default();
    t.name = Some(TopicName(s(name)));
    let mut req = DeleteTopicsRequest::default();
    req.topics = vec![t];
    req.timeout_ms = 10_000;
    let resp: DeleteTopicsResponse = c.request(ApiKey::DeleteTopics, 6, &req).await;
    assert_eq!(resp.responses[0].error_code, 0);
}

/// The marker sender skips partitions of deleted topics, as Kafka does, and
/// then writes CompleteCommit: the id is free for its next transaction.
#[tokio::test]
async fn markers_skip_a_deleted_topic_and_the_transaction_completes() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path()).await;
    let mut c = Client::connect(&broker).await;
    wait_coordinator(&mut c, "txn-gone").await;
    let created = support::create_topic(&mut c, "gone", 2, &[]).await;
    assert_eq!(created.topics[0].error_code, 0);
    let r = init(&mut c, "txn-gone", 60_000).await;
    assert_eq!(r.error_code, 0);
    let (pid, epoch) = (r.producer_id.0, r.producer_epoch);
    assert_eq!(
        add(&mut c, "txn-gone", pid, epoch, "gone", &[0, 1]).await,
        vec![0, 0]
    );
    delete_topic(&mut c, "gone").await;
    assert_eq!(
        end(&mut c, 3, "txn-gone", pid, epoch, true)
            .await
            .error_code,
        0
    );

    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let d = describe(&mut c, "txn-gone").await;
        assert_eq!(d.error_code, 0);
        if d.transaction_state.as_str() == "CompleteCommit" {
            assert!(
                d.topics.is_empty(),
                "a completed transaction holds no partitions"
            );
            assert_eq!((d.producer_id.0, d.producer_epoch), (pid, epoch));
            break;
        }
        assert_eq!(d.transaction_state.as_str(), "PrepareCommit");
        assert!(Instant::now() < deadline, "the transaction never completed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A retried commit is answered with success; the next transaction opens.
    assert_eq!(
        end(&mut c, 3, "txn-gone", pid, epoch, true)
            .await
            .error_code,
        0
    );
    assert_eq!(
        end(&mut c, 3, "txn-gone", pid, epoch, false)
            .await
            .error_code,
        code(ResponseError::InvalidTxnState)
    );
    let created = support::create_topic(&mut c, "next", 1, &[]).await;
    assert_eq!(created.topics[0].error_code, 0);
    assert_eq!(
        add(&mut c, "txn-gone", pid, epoch, "next", &[0]).await,
        vec![0]
    );
    drop(c);
    broker.shutdown().await.unwrap();
}

// ---- transactions v2 (KIP-890 part 2), as a Java 4 producer speaks it ----

const TV2_TOPIC: &str = "tv2";

/// A transactional batch of `values` from `pid` at `epoch`, from sequence `seq`.
fn txn_batch(pid: i64, epoch: i16, seq: i32, values: &[&str]) -> bytes::Bytes {
    let mut b = strom_records::BatchBuilder::new(
        strom_records::Compression::None,
        strom_records::TimestampType::CreateTime,
    )
    .producer(pid, epoch, seq)
    .transactional(true);
    for v in values {
        b.append(1_700_000_000_000, None, Some(v.as_bytes()), &[]);
    }
    b.build(0)
}

/// Produce v12 (a transactions-v2 producer: no AddPartitionsToTxn before it)
/// to partition 0; its error code.
async fn produce_v12(c: &mut Client, id: &str, records: bytes::Bytes) -> i16 {
    let mut pd = produce_request::PartitionProduceData::default();
    pd.index = 0;
    pd.records = Some(records);
    let mut td = produce_request::TopicProduceData::default();
    td.name = TopicName(s(TV2_TOPIC));
    td.partition_data = vec![pd];
    let mut req = ProduceRequest::default();
    req.transactional_id = Some(TransactionalId(s(id)));
    req.acks = -1;
    req.timeout_ms = 10_000;
    req.topic_data = vec![td];
    let resp: ProduceResponse = c.request(ApiKey::Produce, 12, &req).await;
    resp.responses[0].partition_responses[0].error_code
}

/// The read_committed end (the last stable offset) of partition 0.
async fn last_stable_offset(c: &mut Client) -> i64 {
    let p = list_offsets_request::ListOffsetsPartition::default()
        .with_partition_index(0)
        .with_timestamp(-1);
    let t = list_offsets_request::ListOffsetsTopic::default()
        .with_name(TopicName(s(TV2_TOPIC)))
        .with_partitions(vec![p]);
    let req = ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_isolation_level(1)
        .with_topics(vec![t]);
    let resp: ListOffsetsResponse = c.request(ApiKey::ListOffsets, 7, &req).await;
    resp.topics[0].partitions[0].offset
}

/// Waits (bounded) until the last stable offset is `want`: markers are written
/// after EndTxn is answered.
async fn wait_last_stable_offset(c: &mut Client, want: i64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let lso = last_stable_offset(c).await;
        if lso == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "last stable offset {lso}, want {want}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn transactions_v2_bump_the_epoch_so_a_delayed_end_or_produce_cannot_touch_the_next_transaction(
) {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path()).await;
    let mut c = Client::connect(&broker).await;
    let versions: ApiVersionsResponse = c
        .request(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default())
        .await;
    let finalized: Vec<(String, i16)> = versions
        .finalized_features
        .iter()
        .map(|f| (f.name.to_string(), f.max_version_level))
        .collect();
    assert_eq!(finalized, vec![("transaction.version".to_owned(), 2)]);
    let id = "txn-v2";
    wait_coordinator(&mut c, id).await;
    let created = support::create_topic(&mut c, TV2_TOPIC, 1, &[]).await;
    assert_eq!(created.topics[0].error_code, 0);
    let first = init(&mut c, id, 60_000).await;
    assert_eq!(first.error_code, 0);
    let (pid, e0) = (first.producer_id.0, first.producer_epoch);

    // Transaction 1: the leader adds the partition itself (no AddPartitionsToTxn).
    assert_eq!(
        produce_v12(&mut c, id, txn_batch(pid, e0, 0, &["a1", "a2"])).await,
        0
    );
    assert_eq!(
        describe(&mut c, id).await.transaction_state.as_str(),
        "Ongoing"
    );
    let ended = end(&mut c, 5, id, pid, e0, true).await;
    assert_eq!(ended.error_code, 0);
    assert_eq!((ended.producer_id.0, ended.producer_epoch), (pid, e0 + 1));
    let e1 = ended.producer_epoch;
    wait_last_stable_offset(&mut c, 3).await; // a1, a2, the commit marker

    // Transaction 2 at the bumped epoch, sequences from 0 again.
    assert_eq!(
        produce_v12(&mut c, id, txn_batch(pid, e1, 0, &["b1"])).await,
        0
    );
    // The delayed EndTxn of transaction 1 arrives now: fenced, and it ends nothing.
    let late = end(&mut c, 5, id, pid, e0, true).await;
    assert!(
        [
            code(ResponseError::ProducerFenced),
            code(ResponseError::InvalidProducerEpoch)
        ]
        .contains(&late.error_code),
        "a delayed EndTxn of the earlier transaction got {}",
        late.error_code
    );
    let d = describe(&mut c, id).await;
    assert_eq!(
        (d.transaction_state.as_str(), d.producer_epoch),
        ("Ongoing", e1)
    );
    // A delayed produce of transaction 1 is refused too.
    assert_eq!(
        produce_v12(&mut c, id, txn_batch(pid, e0, 2, &["a3"])).await,
        code(ResponseError::InvalidProducerEpoch)
    );
    assert_eq!(
        last_stable_offset(&mut c).await,
        3,
        "transaction 2 is still open"
    );

    // Transaction 2 aborts; its record stays invisible to read_committed.
    let aborted = end(&mut c, 5, id, pid, e1, false).await;
    assert_eq!((aborted.error_code, aborted.producer_epoch), (0, e1 + 1));
    wait_last_stable_offset(&mut c, 5).await; // b1, the abort marker
    assert_eq!(
        describe(&mut c, id).await.transaction_state.as_str(),
        "CompleteAbort"
    );
    drop(c);
    broker.shutdown().await.unwrap();
}

// ---- TxnOffsetCommit v5: the group coordinator adds its partition ----

const TV2_GROUP: &str = "tv2-group";
const CONSUMER_OFFSETS: &str = "__consumer_offsets";
const UNSTABLE_OFFSET_COMMIT: i16 = 88;

/// One `__consumer_offsets` partition, so the group's partition is 0.
async fn start_with_offsets(dir: &std::path::Path) -> Broker {
    Broker::start(BrokerOptions {
        config: support::config(
            dir,
            &[
                "transaction.state.log.num.partitions=3",
                "offsets.topic.num.partitions=1",
                "offsets.topic.replication.factor=1",
            ],
        ),
    })
    .await
    .unwrap()
}

/// FindCoordinator(key type 0) until the group's shard is loaded (bounded).
async fn wait_group_coordinator(c: &mut Client, group: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut req = FindCoordinatorRequest::default();
        req.key_type = 0;
        req.coordinator_keys = vec![s(group)];
        let resp: FindCoordinatorResponse = c.request(ApiKey::FindCoordinator, 4, &req).await;
        let co = &resp.coordinators[0];
        if co.error_code == 0 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no group coordinator: {}",
            co.error_code
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// TxnOffsetCommit of `offset` for partition 0 of the topic, as a Java
/// producer commits for a consumer using assign() (a simple group):
/// generation -1, empty member id. Its error code.
async fn txn_offset_commit(
    c: &mut Client,
    version: i16,
    id: &str,
    pid: i64,
    epoch: i16,
    offset: i64,
) -> i16 {
    let p = txn_offset_commit_request::TxnOffsetCommitRequestPartition::default()
        .with_partition_index(0)
        .with_committed_offset(offset)
        .with_committed_leader_epoch(-1)
        .with_committed_metadata(Some(s("")));
    let t = txn_offset_commit_request::TxnOffsetCommitRequestTopic::default()
        .with_name(TopicName(s(TV2_TOPIC)))
        .with_partitions(vec![p]);
    let req = TxnOffsetCommitRequest::default()
        .with_transactional_id(TransactionalId(s(id)))
        .with_group_id(GroupId(s(TV2_GROUP)))
        .with_producer_id(ProducerId(pid))
        .with_producer_epoch(epoch)
        .with_generation_id(-1)
        .with_member_id(s(""))
        .with_group_instance_id(None)
        .with_topics(vec![t]);
    let resp: TxnOffsetCommitResponse = c.request(ApiKey::TxnOffsetCommit, version, &req).await;
    assert_eq!(resp.topics.len(), 1);
    assert_eq!(resp.topics[0].partitions.len(), 1);
    resp.topics[0].partitions[0].error_code
}

/// OffsetFetch (`version` >= 8: the groups form) with `require_stable` of
/// partition 0 of the topic for the group: (partition error, committed offset).
async fn stable_offset(c: &mut Client, version: i16) -> (i16, i64) {
    let t = offset_fetch_request::OffsetFetchRequestTopics::default()
        .with_name(TopicName(s(TV2_TOPIC)))
        .with_partition_indexes(vec![0]);
    let g = offset_fetch_request::OffsetFetchRequestGroup::default()
        .with_group_id(GroupId(s(TV2_GROUP)))
        .with_member_id(None)
        .with_member_epoch(-1)
        .with_topics(Some(vec![t]));
    let req = OffsetFetchRequest::default()
        .with_groups(vec![g])
        .with_require_stable(true);
    let resp: OffsetFetchResponse = c.request(ApiKey::OffsetFetch, version, &req).await;
    assert_eq!(resp.groups.len(), 1);
    let g = &resp.groups[0];
    assert_eq!(g.error_code, 0, "group error");
    let p = &g.topics[0].partitions[0];
    (p.error_code, p.committed_offset)
}

/// Waits (bounded) until the stable committed offset is `want`; the offset
/// seen meanwhile is only ever `allowed` (or pending).
async fn wait_stable_offset(c: &mut Client, version: i16, want: i64, allowed: &[i64]) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (error, offset) = stable_offset(c, version).await;
        if error == 0 && offset == want {
            return;
        }
        assert!(
            error == UNSTABLE_OFFSET_COMMIT || (error == 0 && allowed.contains(&offset)),
            "OffsetFetch answered error {error}, offset {offset} (want {want})"
        );
        assert!(
            Instant::now() < deadline,
            "the stable offset is still error {error} offset {offset}, want {want}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The partitions DescribeTransactions shows in the transaction, sorted.
async fn txn_partitions(c: &mut Client, id: &str) -> Vec<(String, i32)> {
    let d = describe(c, id).await;
    assert_eq!(d.error_code, 0);
    let mut v: Vec<(String, i32)> = d
        .topics
        .iter()
        .flat_map(|t| t.partitions.iter().map(|p| (t.topic.to_string(), *p)))
        .collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactions_v2_commit_a_groups_offsets_without_add_offsets_to_txn() {
    tokio::time::timeout(Duration::from_secs(120), async {
        let dir = tempfile::tempdir().unwrap();
        let broker = start_with_offsets(dir.path()).await;
        let mut c = Client::connect(&broker).await;
        let versions: ApiVersionsResponse = c
            .request(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default())
            .await;
        let max = |key: ApiKey| {
            versions
                .api_keys
                .iter()
                .find(|k| k.api_key == key as i16)
                .map(|k| k.max_version)
                .expect("advertised")
        };
        assert_eq!(max(ApiKey::TxnOffsetCommit), 5);
        // The highest OffsetFetch served (the groups form is v8+).
        let fetch_version = max(ApiKey::OffsetFetch);
        assert!(fetch_version >= 8, "OffsetFetch up to v{fetch_version}");

        let id = "txn-v2-offsets";
        wait_coordinator(&mut c, id).await;
        wait_group_coordinator(&mut c, TV2_GROUP).await;
        let created = support::create_topic(&mut c, TV2_TOPIC, 1, &[]).await;
        assert_eq!(created.topics[0].error_code, 0);
        assert_eq!(stable_offset(&mut c, fetch_version).await, (0, -1));
        let first = init(&mut c, id, 60_000).await;
        assert_eq!(first.error_code, 0);
        let (pid, e0) = (first.producer_id.0, first.producer_epoch);

        // Transaction 1 (commit): no AddPartitionsToTxn, no AddOffsetsToTxn.
        assert_eq!(
            produce_v12(&mut c, id, txn_batch(pid, e0, 0, &["a1", "a2"])).await,
            0
        );
        assert_eq!(txn_offset_commit(&mut c, 5, id, pid, e0, 2).await, 0);
        assert_eq!(
            txn_partitions(&mut c, id).await,
            vec![(CONSUMER_OFFSETS.to_owned(), 0), (TV2_TOPIC.to_owned(), 0)],
            "the group coordinator added its partition to the transaction"
        );
        assert_eq!(
            describe(&mut c, id).await.transaction_state.as_str(),
            "Ongoing"
        );
        assert_eq!(
            stable_offset(&mut c, fetch_version).await.0,
            UNSTABLE_OFFSET_COMMIT,
            "the offset is pending until the marker"
        );
        let ended = end(&mut c, 5, id, pid, e0, true).await;
        assert_eq!((ended.error_code, ended.producer_epoch), (0, e0 + 1));
        let e1 = ended.producer_epoch;
        wait_stable_offset(&mut c, fetch_version, 2, &[-1]).await;

        // Transaction 2 (abort) at the bumped epoch: its offset never shows.
        assert_eq!(
            produce_v12(&mut c, id, txn_batch(pid, e1, 0, &["b1"])).await,
            0
        );
        assert_eq!(txn_offset_commit(&mut c, 5, id, pid, e1, 3).await, 0);
        assert_eq!(
            txn_partitions(&mut c, id).await,
            vec![(CONSUMER_OFFSETS.to_owned(), 0), (TV2_TOPIC.to_owned(), 0)]
        );
        assert_eq!(
            stable_offset(&mut c, fetch_version).await.0,
            UNSTABLE_OFFSET_COMMIT
        );
        let aborted = end(&mut c, 5, id, pid, e1, false).await;
        assert_eq!((aborted.error_code, aborted.producer_epoch), (0, e1 + 1));
        // CompleteAbort is written only after every marker.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let (error, offset) = stable_offset(&mut c, fetch_version).await;
            assert!(
                error == UNSTABLE_OFFSET_COMMIT || (error, offset) == (0, 2),
                "the aborted offset showed: error {error}, offset {offset}"
            );
            let state = describe(&mut c, id).await.transaction_state.to_string();
            if state == "CompleteAbort" {
                break;
            }
            assert_eq!(state, "PrepareAbort");
            assert!(Instant::now() < deadline, "the abort never completed");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(
            stable_offset(&mut c, fetch_version).await,
            (0, 2),
            "the earlier committed offset, not the aborted one"
        );

        // A transactions-v1 producer (TxnOffsetCommit v4) that skipped
        // AddOffsetsToTxn is refused by the verification, and writes nothing.
        let v1 = "txn-v1-offsets";
        wait_coordinator(&mut c, v1).await;
        let other = init(&mut c, v1, 60_000).await;
        assert_eq!(other.error_code, 0);
        let (pid1, epoch1) = (other.producer_id.0, other.producer_epoch);
        assert_eq!(
            add(&mut c, v1, pid1, epoch1, TV2_TOPIC, &[0]).await,
            vec![0]
        );
        assert_eq!(
            txn_offset_commit(&mut c, 4, v1, pid1, epoch1, 7).await,
            code(ResponseError::TransactionAbortable)
        );
        // A client before v4 does not know TRANSACTION_ABORTABLE: Kafka's
        // AddPartitionsToTxnManager answers it INVALID_TXN_STATE.
        assert_eq!(
            txn_offset_commit(&mut c, 3, v1, pid1, epoch1, 7).await,
            code(ResponseError::InvalidTxnState)
        );
        assert_eq!(
            txn_partitions(&mut c, v1).await,
            vec![(TV2_TOPIC.to_owned(), 0)],
            "v4 does not add the group's partition"
        );
        assert_eq!(
            stable_offset(&mut c, fetch_version).await,
            (0, 2),
            "nothing pending"
        );
        drop(c);
        broker.shutdown().await.unwrap();
    })
    .await
    .expect("the test finishes within its time bound");
}
