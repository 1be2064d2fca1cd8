//! Incremental fetch sessions (KIP-227) on the wire: full fetches create
//! sessions, incremental ones add, update and forget partitions and are
//! answered with the changed partitions only; epochs, unknown sessions and
//! topic-id mismatches get Kafka's errors; the long poll wakes for any
//! partition of the session; sessions die with the broker.

mod support;

use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

use strom_broker::{Broker, BrokerOptions};
use strom_records::{BatchBuilder, Compression, TimestampType};
use support::{config, create_topic, produce, Client};

fn batch(value: &str) -> Bytes {
    let mut b = BatchBuilder::new(Compression::None, TimestampType::CreateTime);
    b.append(1_000, None, Some(value.as_bytes()), &[]);
    b.build(0)
}

/// How a request names a topic: by name (v12) or by id (v13+).
#[derive(Clone, Copy)]
enum T<'a> {
    Name(&'a str),
    Id(Uuid),
}

struct Fetch<'a> {
    version: i16,
    session_id: i32,
    epoch: i32,
    /// (topic, partition, fetch offset)
    partitions: Vec<(T<'a>, i32, i64)>,
    forgotten: Vec<(T<'a>, i32)>,
    max_wait_ms: i32,
}

impl<'a> Fetch<'a> {
    fn new(version: i16, session_id: i32, epoch: i32) -> Fetch<'a> {
        Fetch {
            version,
            session_id,
            epoch,
            partitions: Vec::new(),
            forgotten: Vec::new(),
            max_wait_ms: 0,
        }
    }
}

fn topic_fields(t: T<'_>) -> (TopicName, Uuid) {
    match t {
        T::Name(n) => (TopicName(StrBytes::from_string(n.into())), Uuid::nil()),
        T::Id(id) => (TopicName::default(), id),
    }
}

async fn fetch(c: &mut Client, f: &Fetch<'_>) -> FetchResponse {
    let mut req = FetchRequest::default();
    req.replica_id = BrokerId(-1);
    req.max_wait_ms = f.max_wait_ms;
    req.min_bytes = 1;
    req.max_bytes = 50 << 20;
    req.session_id = f.session_id;
    req.session_epoch = f.epoch;
    for &(t, partition, offset) in &f.partitions {
        let (name, id) = topic_fields(t);
        let mut fp = fetch_request::FetchPartition::default();
        fp.partition = partition;
        fp.fetch_offset = offset;
        fp.partition_max_bytes = 1 << 20;
        match req
            .topics
            .iter_mut()
            .find(|x| x.topic == name && x.topic_id == id)
        {
            Some(x) => x.partitions.push(fp),
            None => {
                let mut ft = fetch_request::FetchTopic::default();
                ft.topic = name;
                ft.topic_id = id;
                ft.partitions = vec![fp];
                req.topics.push(ft);
            }
        }
    }
    for &(t, partition) in &f.forgotten {
        let (name, id) = topic_fields(t);
        let mut ft = fetch_request::ForgottenTopic::default();
        ft.topic = name;
        ft.topic_id = id;
        ft.partitions = vec![partition];
        req.forgotten_topics_data.push(ft);
    }
    c.request(ApiKey::Fetch, f.version, &req).await
}

/// (partition, high watermark, record bytes) of each partition carried.
fn carried(resp: &FetchResponse) -> Vec<(i32, i64, usize)> {
    resp.responses
        .iter()
        .flat_map(|t| t.partitions.iter())
        .map(|p| {
            (
                p.partition_index,
                p.high_watermark,
                p.records.as_ref().map_or(0, Bytes::len),
            )
        })
        .collect()
}

async fn start_broker(dir: &std::path::Path) -> Broker {
    Broker::start(BrokerOptions {
        config: config(dir, &[]),
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn incremental_fetches_carry_only_partitions_that_changed() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(dir.path()).await;
    let mut c = Client::connect(&broker).await;
    create_topic(&mut c, "s", 4, &[]).await;
    produce(&mut c, "s", 0, -1, batch("a")).await;
    let t = T::Name("s");

    let mut full = Fetch::new(12, 0, 0);
    full.partitions = (0..4).map(|p| (t, p, 0)).collect();
    let resp = fetch(&mut c, &full).await;
    assert_eq!(resp.error_code, 0);
    let session = resp.session_id;
    assert_ne!(session, 0, "a full fetch creates a session");
    let got = carried(&resp);
    assert_eq!(
        got.len(),
        4,
        "a full fetch answers every partition: {got:?}"
    );
    assert!(got[0].2 > 0 && got[0].1 == 1);

    // The consumer moved p0 on; nothing else changed: an empty response.
    let mut inc = Fetch::new(12, session, 1);
    inc.partitions = vec![(t, 0, 1)];
    let resp = fetch(&mut c, &inc).await;
    assert_eq!((resp.error_code, resp.session_id), (0, session));
    assert_eq!(carried(&resp), vec![]);

    // New records in p2, which the request does not name: only p2.
    produce(&mut c, "s", 2, -1, batch("b")).await;
    let resp = fetch(&mut c, &Fetch::new(12, session, 2)).await;
    let got = carried(&resp);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!((got[0].0, got[0].1), (2, 1));
    assert!(got[0].2 > 0);

    // The same epoch again is refused, and changes nothing.
    let resp = fetch(&mut c, &Fetch::new(12, session, 2)).await;
    assert_eq!(
        resp.error_code,
        ResponseError::InvalidFetchSessionEpoch.code()
    );
    assert!(resp.responses.is_empty());

    // Forget p1 (and move p2 on): records in p1 are no longer sent.
    let mut forget = Fetch::new(12, session, 3);
    forget.partitions = vec![(t, 2, 1)];
    forget.forgotten = vec![(t, 1)];
    let resp = fetch(&mut c, &forget).await;
    assert_eq!(carried(&resp), vec![]);
    produce(&mut c, "s", 1, -1, batch("c")).await;
    produce(&mut c, "s", 3, -1, batch("d")).await;
    let resp = fetch(&mut c, &Fetch::new(12, session, 4)).await;
    let got: Vec<i32> = carried(&resp).iter().map(|p| p.0).collect();
    assert_eq!(got, vec![3]);

    // An unknown session id; then epoch -1 closes the session.
    let resp = fetch(&mut c, &Fetch::new(12, session ^ 1, 5)).await;
    assert_eq!(
        resp.error_code,
        ResponseError::FetchSessionIdNotFound.code()
    );
    let mut close = Fetch::new(12, session, -1);
    close.partitions = vec![(t, 3, 1)];
    let resp = fetch(&mut c, &close).await;
    assert_eq!((resp.error_code, resp.session_id), (0, 0));
    assert_eq!(carried(&resp).len(), 1);
    let resp = fetch(&mut c, &Fetch::new(12, session, 5)).await;
    assert_eq!(
        resp.error_code,
        ResponseError::FetchSessionIdNotFound.code()
    );
    broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn sessions_by_topic_id_report_unknown_ids_and_refuse_topic_names() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(dir.path()).await;
    let mut c = Client::connect(&broker).await;
    let created = create_topic(&mut c, "ids", 2, &[]).await;
    let id = created.topics[0].topic_id;
    assert_ne!(id, Uuid::nil());
    let unknown = Uuid::from_u128(0x1234);

    let mut full = Fetch::new(13, 0, 0);
    full.partitions = vec![(T::Id(id), 0, 0), (T::Id(unknown), 0, 0)];
    let resp = fetch(&mut c, &full).await;
    let session = resp.session_id;
    assert_ne!(session, 0);
    let errors: Vec<(Uuid, i16)> = resp
        .responses
        .iter()
        .map(|t| (t.topic_id, t.partitions[0].error_code))
        .collect();
    assert_eq!(
        errors,
        vec![(id, 0), (unknown, ResponseError::UnknownTopicId.code())]
    );
    // An error is sent on every response until it goes away.
    let resp = fetch(&mut c, &Fetch::new(13, session, 1)).await;
    let topics: Vec<Uuid> = resp.responses.iter().map(|t| t.topic_id).collect();
    assert_eq!(topics, vec![unknown]);
    // A session by id continued by a request by name (v12) is refused.
    let resp = fetch(&mut c, &Fetch::new(12, session, 2)).await;
    assert_eq!(
        resp.error_code,
        ResponseError::FetchSessionTopicIdError.code()
    );
    broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn long_poll_of_an_incremental_fetch_wakes_for_any_partition_of_the_session() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(dir.path()).await;
    let mut c = Client::connect(&broker).await;
    create_topic(&mut c, "lp", 3, &[]).await;
    let t = T::Name("lp");
    let mut full = Fetch::new(12, 0, 0);
    full.partitions = (0..3).map(|p| (t, p, 0)).collect();
    let session = fetch(&mut c, &full).await.session_id;
    assert_ne!(session, 0);

    let started = Instant::now();
    let waiter = tokio::spawn(async move {
        let mut inc = Fetch::new(12, session, 1);
        inc.max_wait_ms = 10_000;
        fetch(&mut c, &inc).await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut producer = Client::connect(&broker).await;
    produce(&mut producer, "lp", 2, -1, batch("late")).await;
    let resp = tokio::time::timeout(Duration::from_secs(8), waiter)
        .await
        .expect("the long poll was not woken")
        .unwrap();
    let waited = started.elapsed();
    let got = carried(&resp);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!((got[0].0, got[0].1), (2, 1));
    assert!(
        waited < Duration::from_secs(5),
        "waited {waited:?}, not woken by the append"
    );
    broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn sessions_die_with_the_broker() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(dir.path()).await;
    let mut c = Client::connect(&broker).await;
    create_topic(&mut c, "r", 1, &[]).await;
    let mut full = Fetch::new(12, 0, 0);
    full.partitions = vec![(T::Name("r"), 0, 0)];
    let session = fetch(&mut c, &full).await.session_id;
    assert_ne!(session, 0);
    broker.shutdown().await.unwrap();

    let broker = start_broker(dir.path()).await;
    let mut c = Client::connect(&broker).await;
    let resp = fetch(&mut c, &Fetch::new(12, session, 1)).await;
    assert_eq!(
        resp.error_code,
        ResponseError::FetchSessionIdNotFound.code()
    );
    assert!(resp.responses.is_empty());
    // The client starts over with a full fetch.
    let resp = fetch(&mut c, &full).await;
    assert_eq!(resp.error_code, 0);
    assert_ne!(resp.session_id, 0);
    broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn no_sessions_when_the_cache_has_no_slots() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start(BrokerOptions {
        config: config(dir.path(), &["max.incremental.fetch.session.cache.slots=0"]),
    })
    .await
    .unwrap();
    let mut c = Client::connect(&broker).await;
    create_topic(&mut c, "z", 1, &[]).await;
    let mut full = Fetch::new(12, 0, 0);
    full.partitions = vec![(T::Name("z"), 0, 0)];
    let resp = fetch(&mut c, &full).await;
    assert_eq!((resp.error_code, resp.session_id), (0, 0));
    assert_eq!(carried(&resp).len(), 1);
    broker.shutdown().await.unwrap();
}
