//! A producer: records go into per-partition batches that a background task
//! sends to each partition's leader when they are full (`batch.size`) or
//! have waited `linger.ms`, retrying retriable failures until
//! `delivery.timeout.ms`.
//!
//! The three send modes of Kafka's producer: fire-and-forget (drop the
//! [`Delivery`]), synchronous ([`Producer::send_and_wait`]), asynchronous
//! (await the [`Delivery`] future later, or from another task).
//!
//! Partitions: a record's explicit partition, else murmur2 of its key
//! (Kafka's Java default, librdkafka's `murmur2_random`), else the topic's
//! sticky partition, which moves to another partition each time its batch
//! is sent (KIP-480).
//!
//! Idempotence (`enable.idempotence`, Kafka's default with `acks=all`):
//! one InitProducerId at start, and since the sender keeps at most one
//! request in flight per broker and one batch in flight per partition, a
//! batch's sequence numbers are fixed when it is built and a retry resends
//! the same bytes, which the broker deduplicates.
//!
//! A batch the topic refuses as too large (MESSAGE_TOO_LARGE,
//! RECORD_LIST_TOO_LARGE) is split in two and both halves are sent, down to
//! single records, as Kafka's producer splits, so only a record that is
//! too large by itself fails. Splitting keeps the batch's sequence range.
//! When a batch of an idempotent producer fails for good, the broker's
//! sequence for its partition no longer follows the producer's: as KIP-360,
//! the producer takes a new producer id once no batch with an unknown
//! outcome is left, and renumbers the batches not yet sent, so later
//! records are not refused with OUT_OF_ORDER_SEQUENCE_NUMBER.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use kafka_protocol::messages::*;
use strom_records::{BatchBuilder, Compression, Header, TimestampType};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tracing::debug;

use crate::admin_client::{cluster_metadata, str_bytes, AdminClient, AdminConfig};
use crate::cluster::{ClusterMetadata, TopicPartition};
use crate::connection::ConnectionConfig;
use crate::error::{Error, ErrorCode};
use crate::partitioner::partition_for_key;

/// NOT_ENOUGH_REPLICAS and friends are retriable in Kafka; these are the
/// ones after which the leader may have moved, so metadata is refreshed.
const REFRESH_METADATA_ON: &[i16] = &[3, 5, 6, 7, 13, 19, 20];
/// DUPLICATE_SEQUENCE_NUMBER: the batch was already written.
const DUPLICATE_SEQUENCE_NUMBER: i16 = 46;
/// MESSAGE_TOO_LARGE and RECORD_LIST_TOO_LARGE: a smaller batch may pass.
const SPLIT_ON: &[i16] = &[10, 18];

/// Producer settings, named after Kafka's producer configs.
#[derive(Debug, Clone)]
pub struct ProducerConfig {
    /// `bootstrap.servers`: one broker of the cluster.
    pub bootstrap_server: String,
    /// `client.id` and `request.timeout.ms` (default 30 s).
    pub connection: ConnectionConfig,
    /// `acks`: 0, 1 or -1 (`all`, the default).
    pub acks: i16,
    /// `batch.size` (default 16384 bytes).
    pub batch_size: usize,
    /// `linger.ms` (default 5 ms, Kafka 4's).
    pub linger: Duration,
    /// `compression.type` (default none).
    pub compression: Compression,
    /// `delivery.timeout.ms` (default 120 s): how long a record may take,
    /// retries included.
    pub delivery_timeout: Duration,
    /// `retries` (default 2147483647): attempts after the first.
    pub retries: u32,
    /// `retry.backoff.ms` (default 100 ms).
    pub retry_backoff: Duration,
    /// `enable.idempotence` (default true; needs `acks=all`).
    pub idempotence: bool,
    /// `allow.auto.create.topics` (default true): a topic the metadata
    /// request names may be created by a broker that allows it.
    pub allow_auto_create_topics: bool,
    /// `max.block.ms` (default 60 s): how long to wait for a topic's metadata.
    pub max_block: Duration,
}

impl ProducerConfig {
    pub fn new(bootstrap_server: impl Into<String>) -> ProducerConfig {
        ProducerConfig {
            bootstrap_server: bootstrap_server.into(),
            connection: ConnectionConfig::default(),
            acks: -1,
            batch_size: 16384,
            linger: Duration::from_millis(5),
            compression: Compression::None,
            delivery_timeout: Duration::from_secs(120),
            retries: i32::MAX as u32,
            retry_backoff: Duration::from_millis(100),
            idempotence: true,
            allow_auto_create_topics: true,
            max_block: Duration::from_secs(60),
        }
    }
}

/// One record to send.
#[derive(Debug, Clone, Default)]
pub struct ProducerRecord {
    pub topic: String,
    /// `None`: chosen by the partitioner.
    pub partition: Option<i32>,
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    pub headers: Vec<Header>,
    /// Milliseconds since the epoch; `None`: now.
    pub timestamp: Option<i64>,
}

impl ProducerRecord {
    pub fn new(topic: impl Into<String>, value: impl Into<Bytes>) -> ProducerRecord {
        ProducerRecord {
            topic: topic.into(),
            value: Some(value.into()),
            ..ProducerRecord::default()
        }
    }
}

/// Where a record was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordMetadata {
    pub topic: String,
    pub partition: i32,
    /// -1 with `acks=0` (the broker does not say).
    pub offset: i64,
    /// The record's timestamp, or the broker's for LogAppendTime topics.
    pub timestamp: i64,
}

/// The outcome of one send: await it for the record's offset.
pub struct Delivery {
    rx: oneshot::Receiver<Result<RecordMetadata, Error>>,
}

impl Future for Delivery {
    type Output = Result<RecordMetadata, Error>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.rx).poll(cx).map(|r| match r {
            Ok(result) => result,
            Err(_) => Err(closed()),
        })
    }
}

fn closed() -> Error {
    Error::Kafka {
        api: ApiKey::Produce,
        code: ErrorCode::UNKNOWN_SERVER_ERROR,
        message: Some("the producer was closed before the record was sent".to_owned()),
    }
}

enum Command {
    Send(
        ProducerRecord,
        oneshot::Sender<Result<RecordMetadata, Error>>,
    ),
    Flush(oneshot::Sender<()>),
}

/// An async producer; clone-free, share it behind an `Arc` if needed.
pub struct Producer {
    tx: mpsc::Sender<Command>,
    task: tokio::task::JoinHandle<()>,
}

impl Producer {
    /// Connects to the bootstrap server and, for an idempotent producer,
    /// gets a producer id.
    pub async fn connect(config: ProducerConfig) -> Result<Producer, Error> {
        let mut admin_config = AdminConfig::new(config.bootstrap_server.clone());
        admin_config.connection = config.connection.clone();
        admin_config.retry_backoff = config.retry_backoff;
        let client = AdminClient::connect(admin_config).await?;
        let idempotent = config.idempotence && config.acks == -1;
        let mut sender = Sender {
            client,
            config,
            metadata: ClusterMetadata::default(),
            sticky: HashMap::new(),
            open: BTreeMap::new(),
            ready: Vec::new(),
            producer: None,
            sequences: HashMap::new(),
            needs_new_producer_id: false,
            rng: seed(),
        };
        if idempotent {
            sender.init_producer_id().await?;
        }
        let (tx, rx) = mpsc::channel(1024);
        let task = tokio::spawn(sender.run(rx));
        Ok(Producer { tx, task })
    }

    /// Queues `record`; the returned [`Delivery`] resolves once the broker
    /// acknowledged it (or it failed for good). Waits only when the queue
    /// is full.
    pub async fn send(&self, record: ProducerRecord) -> Delivery {
        let (tx, rx) = oneshot::channel();
        if let Err(mpsc::error::SendError(Command::Send(_, tx))) =
            self.tx.send(Command::Send(record, tx)).await
        {
            let _ = tx.send(Err(closed()));
        }
        Delivery { rx }
    }

    /// Sends `record` and waits for its acknowledgement.
    pub async fn send_and_wait(&self, record: ProducerRecord) -> Result<RecordMetadata, Error> {
        self.send(record).await.await
    }

    /// Sends every queued record now and waits until all have an outcome.
    pub async fn flush(&self) {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Command::Flush(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }

    /// Flushes and stops the background task.
    pub async fn close(self) {
        self.flush().await;
        drop(self.tx);
        let _ = self.task.await;
    }
}

/// One record waiting for its outcome, kept until then so its batch can be
/// split or rebuilt (the key and value are shared, not copied).
struct Waiter {
    tx: oneshot::Sender<Result<RecordMetadata, Error>>,
    timestamp: i64,
    key: Option<Bytes>,
    value: Option<Bytes>,
    headers: Vec<Header>,
}

struct OpenBatch {
    builder: BatchBuilder,
    waiters: Vec<Waiter>,
    created: Instant,
}

struct ReadyBatch {
    tp: TopicPartition,
    bytes: Bytes,
    waiters: Vec<Waiter>,
    created: Instant,
    attempts: u32,
    /// (producer id, epoch, base sequence) the batch was built with.
    stamp: Option<(i64, i16, i32)>,
}

impl ReadyBatch {
    /// Rebuilds the batch's bytes from its records with `stamp` (producer
    /// id, epoch and base sequence), as a new batch not sent yet.
    fn rebuild(
        &mut self,
        compression: Compression,
        stamp: Option<(i64, i16, i32)>,
    ) -> Result<(), strom_records::RecordsError> {
        let mut builder = BatchBuilder::new(compression, TimestampType::CreateTime);
        for w in &self.waiters {
            builder.append(
                w.timestamp,
                w.key.as_deref(),
                w.value.as_deref(),
                &w.headers,
            );
        }
        if let Some((id, epoch, sequence)) = stamp {
            builder = builder.producer(id, epoch, sequence);
        }
        self.bytes = builder.try_build(0)?;
        self.stamp = stamp;
        self.attempts = 0;
        Ok(())
    }
}

struct Sender {
    client: AdminClient,
    config: ProducerConfig,
    metadata: ClusterMetadata,
    /// topic → its current sticky partition for keyless records.
    sticky: HashMap<String, i32>,
    open: BTreeMap<TopicPartition, OpenBatch>,
    ready: Vec<ReadyBatch>,
    /// (producer id, epoch) of an idempotent producer.
    producer: Option<(i64, i16)>,
    /// Next sequence number per partition.
    sequences: HashMap<TopicPartition, i32>,
    /// A batch of the idempotent producer failed for good: take a new
    /// producer id before sending more (KIP-360).
    needs_new_producer_id: bool,
    rng: u64,
}

impl Sender {
    async fn run(mut self, mut rx: mpsc::Receiver<Command>) {
        loop {
            let linger_deadline = self
                .open
                .values()
                .map(|b| b.created + self.config.linger)
                .min();
            let command = match linger_deadline {
                Some(deadline) => tokio::select! {
                    c = rx.recv() => c,
                    _ = tokio::time::sleep_until(deadline) => {
                        self.seal_lingered(false);
                        self.send_ready().await;
                        continue;
                    }
                },
                None => rx.recv().await,
            };
            match command {
                None => {
                    self.seal_lingered(true);
                    self.send_ready().await;
                    return;
                }
                Some(Command::Send(record, tx)) => {
                    self.append(record, tx).await;
                    if !self.ready.is_empty() {
                        self.send_ready().await;
                    }
                }
                Some(Command::Flush(done)) => {
                    self.seal_lingered(true);
                    self.send_ready().await;
                    let _ = done.send(());
                }
            }
        }
    }

    async fn init_producer_id(&mut self) -> Result<(), Error> {
        let bootstrap = self.config.bootstrap_server.clone();
        let deadline = Instant::now() + self.config.max_block;
        loop {
            let resp = self
                .client
                .send(&bootstrap, |_| {
                    let mut req = InitProducerIdRequest::default();
                    req.transactional_id = None;
                    req.transaction_timeout_ms = i32::MAX;
                    req.producer_id = ProducerId(-1);
                    req.producer_epoch = -1;
                    Ok(req)
                })
                .await?;
            match ErrorCode::from_code(resp.error_code) {
                None => {
                    self.producer = Some((resp.producer_id.0, resp.producer_epoch));
                    return Ok(());
                }
                Some(code) if code.is_retriable() && Instant::now() < deadline => {
                    tokio::time::sleep(self.config.retry_backoff).await;
                }
                Some(code) => {
                    return Err(Error::Kafka {
                        api: ApiKey::InitProducerId,
                        code,
                        message: None,
                    })
                }
            }
        }
    }

    /// Metadata of `topics`, asking the bootstrap server (and letting it
    /// create topics when the config allows).
    async fn refresh_metadata(&mut self, topics: &[String]) -> Result<(), Error> {
        let bootstrap = self.config.bootstrap_server.clone();
        let auto_create = self.config.allow_auto_create_topics;
        let resp = self
            .client
            .send(&bootstrap, |version| {
                let mut req = MetadataRequest::default();
                req.topics = Some(
                    topics
                        .iter()
                        .map(|t| {
                            let mut topic = metadata_request::MetadataRequestTopic::default();
                            topic.name = Some(TopicName(str_bytes(t)));
                            topic
                        })
                        .collect(),
                );
                if version >= 4 {
                    req.allow_auto_topic_creation = auto_create;
                }
                Ok(req)
            })
            .await?;
        let fresh = cluster_metadata(resp);
        self.metadata.brokers = fresh.brokers;
        self.metadata.cluster_id = fresh.cluster_id;
        self.metadata.topics.extend(fresh.topics);
        Ok(())
    }

    /// The topic's partition count, waiting up to `max.block.ms` for it to
    /// have partitions with leaders.
    async fn partition_count(&mut self, topic: &str) -> Result<i32, Error> {
        let deadline = Instant::now() + self.config.max_block;
        loop {
            if let Some(t) = self.metadata.topics.get(topic) {
                if t.error.is_none() && !t.partitions.is_empty() {
                    return Ok(t.partitions.len() as i32);
                }
            }
            self.refresh_metadata(&[topic.to_owned()]).await?;
            if let Some(t) = self.metadata.topics.get(topic) {
                if t.error.is_none() && !t.partitions.is_empty() {
                    return Ok(t.partitions.len() as i32);
                }
                let code = t.error.unwrap_or(ErrorCode::LEADER_NOT_AVAILABLE);
                if Instant::now() >= deadline
                    || (!code.is_retriable() && code != ErrorCode::UNKNOWN_TOPIC_OR_PARTITION)
                {
                    return Err(Error::Kafka {
                        api: ApiKey::Metadata,
                        code,
                        message: Some(format!("topic {topic} after {:?}", self.config.max_block)),
                    });
                }
            }
            tokio::time::sleep(self.config.retry_backoff).await;
        }
    }

    fn next_random(&mut self) -> u64 {
        // xorshift64*: good enough to spread sticky partitions.
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A new sticky partition for `topic`, different from the last one when
    /// there is a choice; partitions with a leader are preferred.
    fn move_sticky(&mut self, topic: &str, count: i32) -> i32 {
        let previous = self.sticky.get(topic).copied();
        let available: Vec<i32> = self
            .metadata
            .topics
            .get(topic)
            .map(|t| {
                t.partitions
                    .iter()
                    .filter(|(_, p)| p.leader_id >= 0)
                    .map(|(&i, _)| i)
                    .collect()
            })
            .unwrap_or_default();
        let candidates: Vec<i32> = if available.is_empty() {
            (0..count).collect()
        } else {
            available
        };
        let choices: Vec<i32> = candidates
            .iter()
            .copied()
            .filter(|&p| Some(p) != previous || candidates.len() == 1)
            .collect();
        let pick = choices[(self.next_random() % choices.len() as u64) as usize];
        self.sticky.insert(topic.to_owned(), pick);
        pick
    }

    async fn append(
        &mut self,
        record: ProducerRecord,
        tx: oneshot::Sender<Result<RecordMetadata, Error>>,
    ) {
        let count = match self.partition_count(&record.topic).await {
            Ok(c) => c,
            Err(e) => {
                let _ = tx.send(Err(e));
                return;
            }
        };
        let partition = match (record.partition, &record.key) {
            (Some(p), _) if p < 0 || p >= count => {
                let _ = tx.send(Err(Error::Kafka {
                    api: ApiKey::Produce,
                    code: ErrorCode::UNKNOWN_TOPIC_OR_PARTITION,
                    message: Some(format!(
                        "partition {p} of {}: the topic has {count} partitions",
                        record.topic
                    )),
                }));
                return;
            }
            (Some(p), _) => p,
            (None, Some(key)) => partition_for_key(key, count),
            (None, None) => match self.sticky.get(&record.topic) {
                Some(&p) if p < count => p,
                _ => self.move_sticky(&record.topic, count),
            },
        };
        let tp = TopicPartition::new(record.topic.clone(), partition);
        let timestamp = record.timestamp.unwrap_or_else(now_ms);
        let compression = self.config.compression;
        let batch = self.open.entry(tp.clone()).or_insert_with(|| OpenBatch {
            builder: BatchBuilder::new(compression, TimestampType::CreateTime),
            waiters: Vec::new(),
            created: Instant::now(),
        });
        batch.builder.append(
            timestamp,
            record.key.as_deref(),
            record.value.as_deref(),
            &record.headers,
        );
        batch.waiters.push(Waiter {
            tx,
            timestamp,
            key: record.key,
            value: record.value,
            headers: record.headers,
        });
        if batch.builder.uncompressed_size() >= self.config.batch_size {
            if let Some(batch) = self.open.remove(&tp) {
                self.seal(tp, batch);
            }
        }
    }

    /// Moves batches that waited `linger.ms` (or all, for a flush) to the
    /// ready list.
    fn seal_lingered(&mut self, all: bool) {
        let now = Instant::now();
        let due: Vec<TopicPartition> = self
            .open
            .iter()
            .filter(|(_, b)| all || b.created + self.config.linger <= now)
            .map(|(tp, _)| tp.clone())
            .collect();
        for tp in due {
            if let Some(batch) = self.open.remove(&tp) {
                self.seal(tp, batch);
            }
        }
    }

    fn seal(&mut self, tp: TopicPartition, batch: OpenBatch) {
        if self.sticky.get(&tp.topic) == Some(&tp.partition) {
            let count = self
                .metadata
                .topics
                .get(&tp.topic)
                .map_or(1, |t| t.partitions.len() as i32);
            self.move_sticky(&tp.topic, count);
        }
        let mut builder = batch.builder;
        let stamp = self.next_stamp(&tp, batch.waiters.len());
        if let Some((id, epoch, sequence)) = stamp {
            builder = builder.producer(id, epoch, sequence);
        }
        match builder.try_build(0) {
            Ok(bytes) => self.ready.push(ReadyBatch {
                tp,
                bytes,
                waiters: batch.waiters,
                created: batch.created,
                attempts: 0,
                stamp,
            }),
            Err(e) => {
                for Waiter { tx, .. } in batch.waiters {
                    let _ = tx.send(Err(Error::Kafka {
                        api: ApiKey::Produce,
                        code: ErrorCode::UNKNOWN_SERVER_ERROR,
                        message: Some(format!("building the batch: {e}")),
                    }));
                }
            }
        }
    }

    /// The (producer id, epoch, base sequence) of the next batch of `tp`
    /// holding `count` records, for an idempotent producer.
    fn next_stamp(&mut self, tp: &TopicPartition, count: usize) -> Option<(i64, i16, i32)> {
        let (id, epoch) = self.producer?;
        let sequence = self.sequences.entry(tp.clone()).or_insert(0);
        let base = *sequence;
        *sequence = sequence.wrapping_add(count as i32) & i32::MAX;
        Some((id, epoch, base))
    }

    /// KIP-360 for an idempotent producer: once no batch with an unknown
    /// outcome is left (none has been sent), takes a new producer id and
    /// renumbers every ready batch from sequence 0 per partition.
    async fn renew_producer_id_if_needed(&mut self) {
        if !self.needs_new_producer_id || self.ready.iter().any(|b| b.attempts > 0) {
            return;
        }
        self.needs_new_producer_id = false;
        if let Err(e) = self.init_producer_id().await {
            debug!(error = %e, "InitProducerId after a failed batch failed");
            for batch in std::mem::take(&mut self.ready) {
                fail(
                    batch,
                    ErrorCode::UNKNOWN_SERVER_ERROR,
                    Some(format!(
                        "a batch before failed, and a new producer id could not be had: {e}"
                    )),
                );
            }
            self.needs_new_producer_id = true;
            return;
        }
        debug!(producer = ?self.producer, "new producer id after a failed batch");
        self.sequences.clear();
        let compression = self.config.compression;
        for mut batch in std::mem::take(&mut self.ready) {
            let stamp = self.next_stamp(&batch.tp, batch.waiters.len());
            match batch.rebuild(compression, stamp) {
                Ok(()) => self.ready.push(batch),
                Err(e) => fail(
                    batch,
                    ErrorCode::UNKNOWN_SERVER_ERROR,
                    Some(format!("building the batch: {e}")),
                ),
            }
        }
    }

    /// Splits a batch refused as too large into two, keeping its sequence
    /// range; the batch back for a batch of one record (it fails).
    fn split(&self, mut left: ReadyBatch) -> Result<[ReadyBatch; 2], Box<ReadyBatch>> {
        if left.waiters.len() < 2 {
            return Err(Box::new(left));
        }
        let mid = left.waiters.len() / 2;
        let mut right = ReadyBatch {
            tp: left.tp.clone(),
            bytes: Bytes::new(),
            waiters: left.waiters.split_off(mid),
            created: left.created,
            attempts: 0,
            stamp: None,
        };
        let stamp = left.stamp;
        let right_stamp = stamp
            .map(|(id, epoch, sequence)| (id, epoch, sequence.wrapping_add(mid as i32) & i32::MAX));
        let compression = self.config.compression;
        if left.rebuild(compression, stamp).is_err()
            || right.rebuild(compression, right_stamp).is_err()
        {
            // A codec cannot fail on an in-memory buffer; if it did, the
            // records fail with the original error.
            left.waiters.append(&mut right.waiters);
            return Err(Box::new(left));
        }
        Ok([left, right])
    }

    /// Sends every ready batch, one request per leader and one batch per
    /// partition at a time, retrying what may succeed later until each
    /// batch's delivery timeout.
    async fn send_ready(&mut self) {
        while !self.ready.is_empty() {
            self.renew_producer_id_if_needed().await;
            let batches = std::mem::take(&mut self.ready);
            let mut by_leader: BTreeMap<String, Vec<ReadyBatch>> = BTreeMap::new();
            let mut retry = Vec::new();
            // Later batches of a partition with one in this round, and, while
            // a new producer id is due, every batch not sent yet.
            let mut deferred = Vec::new();
            let mut in_round = std::collections::HashSet::new();
            let mut refresh = false;
            for batch in batches {
                if (self.needs_new_producer_id && batch.attempts == 0)
                    || !in_round.insert(batch.tp.clone())
                {
                    deferred.push(batch);
                    continue;
                }
                match self.metadata.leader(&batch.tp) {
                    Ok(leader) => by_leader.entry(leader.addr()).or_default().push(batch),
                    Err(code) => {
                        refresh = true;
                        retry.push((batch, code, None));
                    }
                }
            }
            for (addr, batches) in by_leader {
                match self.produce(&addr, &batches).await {
                    Ok(results) => {
                        for (batch, result) in batches.into_iter().zip(results) {
                            match result {
                                Ok((base_offset, append_time)) => {
                                    complete(batch, base_offset, append_time)
                                }
                                Err((code, message)) => {
                                    if REFRESH_METADATA_ON.contains(&code.0) {
                                        refresh = true;
                                    }
                                    retry.push((batch, code, message));
                                }
                            }
                        }
                    }
                    Err(e) => {
                        debug!(%addr, error = %e, "produce request failed");
                        refresh = true;
                        for batch in batches {
                            retry.push((
                                batch,
                                ErrorCode(7), // REQUEST_TIMED_OUT / network
                                Some(e.to_string()),
                            ));
                        }
                    }
                }
            }
            let mut backoff = false;
            for (mut batch, code, message) in retry {
                if SPLIT_ON.contains(&code.0) {
                    match self.split(batch) {
                        Ok(halves) => {
                            debug!(tp = %halves[0].tp, records = halves[0].waiters.len() + halves[1].waiters.len(), "batch too large: split in two");
                            self.ready.extend(halves);
                            continue;
                        }
                        Err(single) => batch = *single,
                    }
                }
                batch.attempts += 1;
                let expired = batch.created.elapsed() >= self.config.delivery_timeout;
                let retriable = code.is_retriable() || code.0 == 7;
                if !retriable || expired || batch.attempts > self.config.retries {
                    if batch.stamp.is_some() {
                        self.needs_new_producer_id = true;
                    }
                    fail(batch, code, message);
                } else {
                    backoff = true;
                    self.ready.push(batch);
                }
            }
            // Retried and split batches go before the later ones of their
            // partitions.
            self.ready.extend(deferred);
            if self.ready.is_empty() {
                if self.needs_new_producer_id {
                    // Before the next batches are sent.
                    self.renew_producer_id_if_needed().await;
                }
                return;
            }
            if !backoff {
                continue;
            }
            tokio::time::sleep(self.config.retry_backoff).await;
            if refresh {
                let topics: Vec<String> = self
                    .ready
                    .iter()
                    .map(|b| b.tp.topic.clone())
                    .collect::<std::collections::BTreeSet<_>>()
                    .into_iter()
                    .collect();
                if let Err(e) = self.refresh_metadata(&topics).await {
                    debug!(error = %e, "metadata refresh failed");
                }
            }
        }
    }

    /// One Produce request; per batch (in order) its base offset and
    /// log-append time, or the error.
    #[allow(clippy::type_complexity)]
    async fn produce(
        &mut self,
        addr: &str,
        batches: &[ReadyBatch],
    ) -> Result<Vec<Result<(i64, i64), (ErrorCode, Option<String>)>>, Error> {
        let mut topics: BTreeMap<&str, Vec<&ReadyBatch>> = BTreeMap::new();
        for b in batches {
            topics.entry(b.tp.topic.as_str()).or_default().push(b);
        }
        let mut req = ProduceRequest::default();
        req.acks = self.config.acks;
        req.timeout_ms = self
            .config
            .connection
            .request_timeout
            .as_millis()
            .min(i32::MAX as u128) as i32;
        req.topic_data = topics
            .iter()
            .map(|(name, bs)| {
                let mut t = produce_request::TopicProduceData::default();
                t.name = TopicName(str_bytes(name));
                t.partition_data = bs
                    .iter()
                    .map(|b| {
                        let mut p = produce_request::PartitionProduceData::default();
                        p.index = b.tp.partition;
                        p.records = Some(b.bytes.clone());
                        p
                    })
                    .collect();
                t
            })
            .collect();
        let conn = self.client.connection(addr).await?;
        if self.config.acks == 0 {
            conn.send_oneway(&req).await?;
            return Ok(batches.iter().map(|_| Ok((-1, -1))).collect());
        }
        let resp = conn.send(&req).await?;
        let mut answers: HashMap<(String, i32), &produce_response::PartitionProduceResponse> =
            HashMap::new();
        for t in &resp.responses {
            for p in &t.partition_responses {
                answers.insert((t.name.0.to_string(), p.index), p);
            }
        }
        Ok(batches
            .iter()
            .map(|b| {
                match answers.get(&(b.tp.topic.clone(), b.tp.partition)) {
                    None => Err((
                        ErrorCode::UNKNOWN_SERVER_ERROR,
                        Some("the answer has no entry for the partition".to_owned()),
                    )),
                    // Already written by an earlier attempt: Kafka's
                    // producer treats it as success.
                    Some(p) if p.error_code == DUPLICATE_SEQUENCE_NUMBER => {
                        Ok((p.base_offset, p.log_append_time_ms))
                    }
                    Some(p) => match ErrorCode::from_code(p.error_code) {
                        None => Ok((p.base_offset, p.log_append_time_ms)),
                        Some(code) => Err((code, p.error_message.as_ref().map(|m| m.to_string()))),
                    },
                }
            })
            .collect())
    }
}

fn complete(batch: ReadyBatch, base_offset: i64, log_append_time: i64) {
    for (i, Waiter { tx, timestamp, .. }) in batch.waiters.into_iter().enumerate() {
        let _ = tx.send(Ok(RecordMetadata {
            topic: batch.tp.topic.clone(),
            partition: batch.tp.partition,
            offset: if base_offset < 0 {
                -1
            } else {
                base_offset + i as i64
            },
            timestamp: if log_append_time >= 0 {
                log_append_time
            } else {
                timestamp
            },
        }));
    }
}

fn fail(batch: ReadyBatch, code: ErrorCode, message: Option<String>) {
    let message = Some(format!(
        "{}{}",
        batch.tp,
        message.map(|m| format!(": {m}")).unwrap_or_default()
    ));
    for Waiter { tx, .. } in batch.waiters {
        let _ = tx.send(Err(Error::Kafka {
            api: ApiKey::Produce,
            code,
            message: message.clone(),
        }));
    }
}

pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn seed() -> u64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    (nanos ^ u64::from(std::process::id()).rotate_left(32)) | 1
}
