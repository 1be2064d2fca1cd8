//! One scrape: the counters the hot paths keep, and gauges read from the
//! broker's state at this moment, written under Kafka's names as the JMX
//! exporter's common rules (`kafka-2_0_0.yml`, Strimzi's) map its MBeans:
//! `kafka.server<type=BrokerTopicMetrics, name=BytesInPerSec, topic=t><>Count`
//! becomes `kafka_server_brokertopicmetrics_bytesin_total{topic="t"}`, a
//! `...<>Value` gauge `kafka_<domain>_<type>_<name>`. Request times are
//! Prometheus histograms (`_bucket`/`_sum`/`_count`; the `_count` is the
//! exporter's name too) rather than the exporter's fixed quantiles, so
//! `histogram_quantile` works across brokers. Consumer lag has no broker
//! MBean in Kafka; it takes kafka_exporter's names, which Kafka dashboards
//! read (`kafka_consumergroup_lag{consumergroup, topic, partition}`).

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::messages::ApiKey;
use strom_coordinator::api::Reply;

use super::text::{Kind, TextEncoder};
use super::{BrokerMetrics, Phase, TopicCounters, FETCH_FOLLOWER_SLOT};
use crate::broker::BrokerState;

/// A group coordinator shard that does not answer within this is left out of the scrape.
const SHARD_TIMEOUT: Duration = Duration::from_secs(2);

pub(crate) async fn render(metrics: &BrokerMetrics, state: Option<&Arc<BrokerState>>) -> String {
    let mut e = TextEncoder::default();
    topic_metrics(&mut e, metrics);
    request_metrics(&mut e, metrics);
    e.family(
        "kafka_log_logflushstats_logflushrateandtimems",
        Kind::Histogram,
        "Partition log fsyncs and their time in ms (LogFlushRateAndTimeMs)",
    );
    e.histogram(
        "kafka_log_logflushstats_logflushrateandtimems",
        &[],
        &metrics.log_flush.snapshot(),
    );
    if let Some(state) = state {
        quota_metrics(&mut e, state);
        replica_metrics(&mut e, state);
        controller_metrics(&mut e, state);
        group_metrics(&mut e, state).await;
    }
    e.finish()
}

/// Reads one of a topic's counters.
type CounterOf = fn(&TopicCounters) -> u64;

fn topic_metrics(e: &mut TextEncoder, metrics: &BrokerMetrics) {
    let topics = metrics.topics();
    // (name, help, counter, per topic too): Kafka keeps the replication
    // meters for all topics only.
    let families: [(&str, &str, CounterOf, bool); 7] = [
        (
            "kafka_server_brokertopicmetrics_messagesin_total",
            "Records appended by producers (MessagesInPerSec)",
            |c| c.messages_in.load(Ordering::Relaxed),
            true,
        ),
        (
            "kafka_server_brokertopicmetrics_bytesin_total",
            "Record batch bytes appended by producers (BytesInPerSec)",
            |c| c.bytes_in.load(Ordering::Relaxed),
            true,
        ),
        (
            "kafka_server_brokertopicmetrics_bytesout_total",
            "Record batch bytes sent to consumers, not followers (BytesOutPerSec)",
            |c| c.bytes_out.load(Ordering::Relaxed),
            true,
        ),
        (
            "kafka_server_brokertopicmetrics_totalproducerequests_total",
            "Partition appends by producers (TotalProduceRequestsPerSec)",
            |c| c.produce_requests.load(Ordering::Relaxed),
            true,
        ),
        (
            "kafka_server_brokertopicmetrics_totalfetchrequests_total",
            "Partition reads by consumers (TotalFetchRequestsPerSec)",
            |c| c.fetch_requests.load(Ordering::Relaxed),
            true,
        ),
        (
            "kafka_server_brokertopicmetrics_replicationbytesin_total",
            "Record batch bytes appended from partition leaders (ReplicationBytesInPerSec)",
            |c| c.replication_bytes_in.load(Ordering::Relaxed),
            false,
        ),
        (
            "kafka_server_brokertopicmetrics_replicationbytesout_total",
            "Record batch bytes sent to followers (ReplicationBytesOutPerSec)",
            |c| c.replication_bytes_out.load(Ordering::Relaxed),
            false,
        ),
    ];
    for (name, help, read, per_topic) in families {
        e.family(name, Kind::Counter, help);
        e.sample(name, &[], read(metrics.all_topics()) as f64);
        if per_topic {
            for (topic, m) in &topics {
                e.sample(name, &[("topic", topic)], read(m.counters()) as f64);
            }
        }
    }
}

/// Kafka's name for a request slot: the API key's name, Fetch split in two.
fn request_name(slot: usize) -> Option<String> {
    if slot == FETCH_FOLLOWER_SLOT {
        return Some("FetchFollower".into());
    }
    let api = ApiKey::try_from(i16::try_from(slot).ok()?).ok()?;
    Some(match api {
        ApiKey::Fetch => "FetchConsumer".into(),
        api => format!("{api:?}"),
    })
}

fn request_metrics(e: &mut TextEncoder, metrics: &BrokerMetrics) {
    let used: Vec<(String, &super::RequestMetrics)> = metrics
        .requests()
        .filter(|(_, m)| m.phase(Phase::Total).count() > 0)
        .filter_map(|(slot, m)| Some((request_name(slot)?, m)))
        .collect();
    let name = "kafka_network_requestmetrics_requests_total";
    e.family(
        name,
        Kind::Counter,
        "Requests answered, per API and version (RequestsPerSec)",
    );
    for (request, m) in &used {
        for version in 0..super::VERSIONS {
            let n = m.requests(version);
            if n > 0 {
                let version = version.to_string();
                e.sample(
                    name,
                    &[("request", request), ("version", &version)],
                    n as f64,
                );
            }
        }
    }
    for phase in Phase::ALL {
        e.family(
            phase.metric(),
            Kind::Histogram,
            &format!("Request time in ms, phase {phase:?} (RequestMetrics)"),
        );
        for (request, m) in &used {
            e.histogram(
                phase.metric(),
                &[("request", request)],
                &m.phase(phase).snapshot(),
            );
        }
    }
}

/// Client quota sensors, as the JMX exporter maps Kafka's
/// `kafka.server<type=Produce|Fetch|Request, user=u, client-id=c>`
/// attributes: `byte-rate` (`request-time` for Request) as a gauge, and the
/// throttle time given as a counter of ms (Kafka's `throttle-time` is its
/// average over the window). Only clients under a quota have sensors.
fn quota_metrics(e: &mut TextEncoder, state: &BrokerState) {
    let now = crate::broker::now_ms();
    let kinds = [
        ("produce", "byte_rate", &state.quotas.produce),
        ("fetch", "byte_rate", &state.quotas.fetch),
        ("request", "request_time", &state.quotas.request),
    ];
    for (kind, rate_name, manager) in kinds {
        let sensors = manager.totals(now);
        if sensors.is_empty() {
            continue;
        }
        let rate = format!("kafka_server_{kind}_{rate_name}");
        e.family(
            &rate,
            Kind::Gauge,
            &format!(
                "Rate of {} under client quotas, per user and client id",
                manager.key
            ),
        );
        for (user, client_id, value, _) in &sensors {
            e.sample(&rate, &[("user", user), ("client_id", client_id)], *value);
        }
        let throttle = format!("kafka_server_{kind}_throttle_time_ms_total");
        e.family(
            &throttle,
            Kind::Counter,
            &format!("Throttle time given for {}, in ms", manager.key),
        );
        for (user, client_id, _, ms) in &sensors {
            e.sample(
                &throttle,
                &[("user", user), ("client_id", client_id)],
                *ms as f64,
            );
        }
    }
}

fn gauge(e: &mut TextEncoder, name: &str, help: &str, value: f64) {
    e.family(name, Kind::Gauge, help);
    e.sample(name, &[], value);
}

fn replica_metrics(e: &mut TextEncoder, state: &BrokerState) {
    let image = state.image();
    let mut partitions = state.replicas.all_partitions();
    partitions.sort_by(|a, b| (&a.topic, a.index).cmp(&(&b.topic, b.index)));
    let leaders: Vec<_> = partitions.iter().filter(|p| p.is_leader()).collect();
    let under_replicated = leaders
        .iter()
        .filter(|p| {
            image
                .topic(&p.topic)
                .and_then(|t| t.partitions.get(&p.index))
                .is_some_and(|pi| pi.isr.len() < pi.replicas.len())
        })
        .count();
    gauge(
        e,
        "kafka_server_replicamanager_partitioncount",
        "Partitions hosted by this broker (PartitionCount)",
        partitions.len() as f64,
    );
    gauge(
        e,
        "kafka_server_replicamanager_leadercount",
        "Partitions this broker leads (LeaderCount)",
        leaders.len() as f64,
    );
    gauge(
        e,
        "kafka_server_replicamanager_underreplicatedpartitions",
        "Partitions led here whose ISR is smaller than their replica set (UnderReplicatedPartitions)",
        under_replicated as f64,
    );
    gauge(
        e,
        "kafka_server_replicamanager_offlinereplicacount",
        "Hosted partitions whose log is offline after a storage failure (OfflineReplicaCount)",
        partitions.iter().filter(|p| p.is_offline()).count() as f64,
    );
    let per_partition: [(&str, &str); 3] = [
        (
            "kafka_log_log_size",
            "Bytes of the partition's log on disk (Log Size)",
        ),
        (
            "kafka_log_log_logendoffset",
            "The partition's log end offset (LogEndOffset)",
        ),
        (
            "kafka_log_log_logstartoffset",
            "The partition's log start offset (LogStartOffset)",
        ),
    ];
    let rows: Vec<(&Arc<crate::partition::Partition>, String, [f64; 3])> = partitions
        .iter()
        .filter_map(|p| {
            let (_, size) = p.dir_and_size()?;
            Some((
                p,
                p.index.to_string(),
                [
                    size as f64,
                    p.log_end_offset() as f64,
                    p.log_start_offset() as f64,
                ],
            ))
        })
        .collect();
    for (i, (name, help)) in per_partition.iter().enumerate() {
        e.family(name, Kind::Gauge, help);
        for (p, index, values) in &rows {
            e.sample(
                name,
                &[("topic", &p.topic), ("partition", index)],
                values[i],
            );
        }
    }
}

fn controller_metrics(e: &mut TextEncoder, state: &BrokerState) {
    // As in Kafka, the cluster-wide counts come from the active controller
    // only (0 elsewhere), so summing over nodes counts each partition once.
    let active = state.controller.active_controller() == Some(state.node_id);
    let image = state.image();
    let (mut partitions, mut offline) = (0usize, 0usize);
    for t in image.topics() {
        partitions += t.partitions.len();
        offline += t.partitions.values().filter(|p| p.leader < 0).count();
    }
    let only_active = |n: usize| if active { n as f64 } else { 0.0 };
    gauge(
        e,
        "kafka_controller_kafkacontroller_activecontrollercount",
        "1 on the active controller, 0 elsewhere (ActiveControllerCount)",
        only_active(1),
    );
    gauge(
        e,
        "kafka_controller_kafkacontroller_offlinepartitionscount",
        "Partitions without a leader, on the active controller (OfflinePartitionsCount)",
        only_active(offline),
    );
    gauge(
        e,
        "kafka_controller_kafkacontroller_globaltopiccount",
        "Topics in the cluster, on the active controller (GlobalTopicCount)",
        only_active(image.topic_count()),
    );
    gauge(
        e,
        "kafka_controller_kafkacontroller_globalpartitioncount",
        "Partitions in the cluster, on the active controller (GlobalPartitionCount)",
        only_active(partitions),
    );
}

/// Group counts per state and committed offsets, from every coordinator
/// shard this broker leads; lag against the partitions hosted here.
async fn group_metrics(e: &mut TextEncoder, state: &BrokerState) {
    let calls = state.groups.loaded_partitions().into_iter().map(|index| {
        let (tx, rx) = tokio::sync::oneshot::channel();
        async move {
            let call = state.groups.call_partition(
                index,
                Box::new(move |shard, reply, _| {
                    let _ = tx.send(shard.committed_offsets());
                    shard.list_groups(reply, &[], &[]);
                }),
            );
            match tokio::time::timeout(SHARD_TIMEOUT, call).await {
                Ok(Ok(Reply::ListGroups(groups))) => Some((groups, rx.await.unwrap_or_default())),
                _ => None,
            }
        }
    });
    let mut groups = Vec::new();
    let mut offsets = Vec::new();
    for (g, o) in futures_util::future::join_all(calls)
        .await
        .into_iter()
        .flatten()
    {
        groups.extend(g);
        offsets.extend(o);
    }
    let mut by_state: BTreeMap<&str, usize> = BTreeMap::new();
    for g in &groups {
        *by_state.entry(g.group_state.as_str()).or_default() += 1;
    }
    gauge(
        e,
        "kafka_coordinator_group_groupmetadatamanager_numgroups",
        "Groups coordinated here (NumGroups)",
        groups.len() as f64,
    );
    for (state_name, metric) in [
        ("PreparingRebalance", "numgroupspreparingrebalance"),
        ("CompletingRebalance", "numgroupscompletingrebalance"),
        ("Stable", "numgroupsstable"),
        ("Dead", "numgroupsdead"),
        ("Empty", "numgroupsempty"),
    ] {
        gauge(
            e,
            &format!("kafka_coordinator_group_groupmetadatamanager_{metric}"),
            &format!("Groups coordinated here in state {state_name}"),
            by_state.get(state_name).copied().unwrap_or(0) as f64,
        );
    }
    gauge(
        e,
        "kafka_coordinator_group_groupmetadatamanager_numoffsets",
        "Committed offsets held here (NumOffsets)",
        offsets.len() as f64,
    );
    offsets.sort();
    let current = "kafka_consumergroup_current_offset";
    e.family(
        current,
        Kind::Gauge,
        "A group's committed offset per partition (kafka_exporter's name)",
    );
    for (group, topic, partition, offset) in &offsets {
        let partition = partition.to_string();
        e.sample(
            current,
            &[
                ("consumergroup", group),
                ("topic", topic),
                ("partition", &partition),
            ],
            *offset as f64,
        );
    }
    let lag = "kafka_consumergroup_lag";
    e.family(
        lag,
        Kind::Gauge,
        "High watermark minus committed offset, for partitions hosted on this broker (kafka_exporter's name)",
    );
    for (group, topic, partition, offset) in &offsets {
        let Ok(p) = state.replicas.hosted_partition(topic, *partition) else {
            continue;
        };
        let value = (p.high_watermark() - offset).max(0);
        let partition = partition.to_string();
        e.sample(
            lag,
            &[
                ("consumergroup", group),
                ("topic", topic),
                ("partition", &partition),
            ],
            value as f64,
        );
    }
}
