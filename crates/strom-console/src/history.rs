//! Throughput and consumer lag over the last minutes: a sampler asks the
//! cluster every `sample_interval` and keeps the last `history_samples`
//! samples; the charts read them as JSON.
//!
//! Throughput comes from the brokers' Prometheus endpoints when the console
//! was given them (`--metrics-url`: bytes in and out, Kafka's
//! BrokerTopicMetrics), else from offsets: records in is the growth of the
//! log end offsets of all partitions, records out the growth of all
//! groups' committed offsets. Lag is always the log end offset minus the
//! committed offset, per group and partition.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use strom_client::{AdminClient, TopicPartition};
use tokio::sync::watch;

use crate::http_get;
use crate::Shared;

/// Groups whose lag is sampled (the first by name; a console is for people).
const MAX_SAMPLED_GROUPS: usize = 200;
/// Partition series drawn on a group's lag chart, besides the total.
const MAX_LAG_SERIES: usize = 12;

const BYTES_IN: &str = "kafka_server_brokertopicmetrics_bytesin_total";
const BYTES_OUT: &str = "kafka_server_brokertopicmetrics_bytesout_total";

/// One sample of the cluster.
#[derive(Debug, Clone, Default)]
pub struct Sample {
    /// Unix seconds.
    pub at: f64,
    /// Counters whose growth is the throughput (records or bytes).
    pub in_total: Option<f64>,
    pub out_total: Option<f64>,
    /// Group → partition → lag.
    pub lag: BTreeMap<String, BTreeMap<TopicPartition, i64>>,
}

#[derive(Debug)]
pub struct History {
    capacity: usize,
    samples: VecDeque<Sample>,
    /// `bytes/s` with metrics endpoints, `records/s` from offsets.
    pub unit: &'static str,
    pub last_error: Option<String>,
}

impl History {
    pub fn new(capacity: usize) -> History {
        History {
            capacity: capacity.max(2),
            samples: VecDeque::new(),
            unit: "records/s",
            last_error: None,
        }
    }

    pub fn push(&mut self, sample: Sample) {
        if self.samples.len() == self.capacity {
            self.samples.pop_front();
        }
        self.samples.push_back(sample);
    }

    /// Rates in and out between consecutive samples: (time, in/s, out/s).
    /// A counter that went down (a broker restarted, a topic was deleted)
    /// counts as no traffic, not as negative traffic.
    pub fn throughput(&self) -> Vec<(f64, Option<f64>, Option<f64>)> {
        let rate = |a: Option<f64>, b: Option<f64>, dt: f64| match (a, b) {
            (Some(a), Some(b)) if dt > 0.0 => Some(((b - a) / dt).max(0.0)),
            _ => None,
        };
        self.samples
            .iter()
            .zip(self.samples.iter().skip(1))
            .map(|(a, b)| {
                let dt = b.at - a.at;
                (
                    b.at,
                    rate(a.in_total, b.in_total, dt),
                    rate(a.out_total, b.out_total, dt),
                )
            })
            .collect()
    }

    /// Each group's total lag in the newest sample.
    pub fn latest_total_lags(&self) -> BTreeMap<String, i64> {
        self.samples
            .back()
            .map(|s| {
                s.lag
                    .iter()
                    .map(|(g, l)| (g.clone(), l.values().sum()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// A group's lag over time: the times, the total, and the partitions
    /// with the most lag now (at most [`MAX_LAG_SERIES`]).
    pub fn lag(&self, group: &str) -> Value {
        let latest = self.samples.iter().rev().find_map(|s| s.lag.get(group));
        let mut partitions: Vec<(&TopicPartition, i64)> = latest
            .map(|l| l.iter().map(|(tp, lag)| (tp, *lag)).collect())
            .unwrap_or_default();
        partitions.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        partitions.truncate(MAX_LAG_SERIES);
        let t: Vec<f64> = self.samples.iter().map(|s| s.at).collect();
        let total: Vec<Option<i64>> = self
            .samples
            .iter()
            .map(|s| s.lag.get(group).map(|l| l.values().sum()))
            .collect();
        let mut series = vec![json!({"label": "total lag", "values": total})];
        for (tp, _) in partitions {
            let values: Vec<Option<i64>> = self
                .samples
                .iter()
                .map(|s| s.lag.get(group).and_then(|l| l.get(tp)).copied())
                .collect();
            series.push(json!({"label": tp.to_string(), "values": values}));
        }
        json!({"t": t, "unit": "records", "series": series})
    }
}

pub async fn throughput_json(State(state): State<Shared>) -> Response {
    let history = state.history.lock().unwrap_or_else(|e| e.into_inner());
    let points = history.throughput();
    let (label_in, label_out) = if history.unit == "bytes/s" {
        ("bytes in/s", "bytes out/s")
    } else {
        ("records in/s", "records consumed/s")
    };
    Json(json!({
        "t": points.iter().map(|p| p.0).collect::<Vec<_>>(),
        "unit": history.unit,
        "series": [
            {"label": label_in, "values": points.iter().map(|p| p.1).collect::<Vec<_>>()},
            {"label": label_out, "values": points.iter().map(|p| p.2).collect::<Vec<_>>()},
        ],
        "error": history.last_error,
    }))
    .into_response()
}

pub async fn lag_json(State(state): State<Shared>, Path(group): Path<String>) -> Response {
    let history = state.history.lock().unwrap_or_else(|e| e.into_inner());
    Json(history.lag(&group)).into_response()
}

/// Samples until `stop` turns true.
pub async fn run_sampler(state: Shared, mut stop: watch::Receiver<bool>) {
    let interval = state.config.sample_interval.max(Duration::from_millis(100));
    let mut admin: Option<AdminClient> = None;
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            _ = ticker.tick() => {}
        }
        // One sample may not outlast a few intervals, whatever the cluster does.
        let bound = (interval * 3).max(Duration::from_secs(10));
        let result = tokio::time::timeout(bound, sample(&state, &mut admin)).await;
        let mut history = state.history.lock().unwrap_or_else(|e| e.into_inner());
        match result {
            Ok(Ok(s)) => {
                history.unit = if state.config.metrics_urls.is_empty() {
                    "records/s"
                } else {
                    "bytes/s"
                };
                history.last_error = None;
                history.push(s);
            }
            Ok(Err(e)) => {
                admin = None;
                history.last_error = Some(e);
            }
            Err(_) => {
                admin = None;
                history.last_error = Some(format!(
                    "sampling the cluster took longer than {} s",
                    bound.as_secs()
                ));
            }
        }
    }
}

async fn sample(state: &Shared, admin: &mut Option<AdminClient>) -> Result<Sample, String> {
    if admin.is_none() {
        *admin = Some(
            AdminClient::connect(state.config.admin.clone())
                .await
                .map_err(|e| e.to_string())?,
        );
    }
    let Some(client) = admin.as_mut() else {
        return Err("no admin client".to_owned());
    };
    let at = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64();
    let metadata = client.metadata(None).await.map_err(|e| e.to_string())?;
    let partitions: Vec<TopicPartition> = metadata
        .topics
        .iter()
        .filter(|(_, t)| t.error.is_none())
        .flat_map(|(name, t)| {
            t.partitions
                .keys()
                .map(move |&p| TopicPartition::new(name.clone(), p))
        })
        .collect();
    let ends: BTreeMap<TopicPartition, i64> = client
        .list_offsets_latest(&partitions)
        .await
        .map_err(|e| e.to_string())?
        .into_iter()
        .filter_map(|(tp, r)| r.ok().map(|o| (tp, o)))
        .collect();
    let mut s = Sample {
        at,
        ..Sample::default()
    };
    let mut committed_total = 0i64;
    let mut groups = client.list_groups(&[]).await.map_err(|e| e.to_string())?;
    groups.sort_by(|a, b| a.group_id.cmp(&b.group_id));
    for g in groups.iter().take(MAX_SAMPLED_GROUPS) {
        // A group that went away between the listing and now has no lag.
        let Ok(committed) = client.offset_fetch(&g.group_id, None).await else {
            continue;
        };
        let mut lags = BTreeMap::new();
        for (tp, c) in committed {
            let (Some(offset), Some(&end)) = (c.offset, ends.get(&tp)) else {
                continue;
            };
            committed_total = committed_total.saturating_add(offset);
            lags.insert(tp, (end - offset).max(0));
        }
        s.lag.insert(g.group_id.clone(), lags);
    }
    if state.config.metrics_urls.is_empty() {
        s.in_total = Some(ends.values().map(|&o| o as f64).sum());
        s.out_total = Some(committed_total as f64);
    } else {
        let (mut bytes_in, mut bytes_out) = (None, None);
        for url in &state.config.metrics_urls {
            let page = http_get::get(url).await?;
            if let Some(v) = http_get::counter(&page, BYTES_IN) {
                *bytes_in.get_or_insert(0.0) += v;
            }
            if let Some(v) = http_get::counter(&page, BYTES_OUT) {
                *bytes_out.get_or_insert(0.0) += v;
            }
        }
        s.in_total = bytes_in;
        s.out_total = bytes_out;
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(at: f64, total_in: f64, total_out: f64) -> Sample {
        Sample {
            at,
            in_total: Some(total_in),
            out_total: Some(total_out),
            lag: BTreeMap::new(),
        }
    }

    #[test]
    fn throughput_is_the_growth_per_second_and_never_negative() {
        let mut h = History::new(3);
        h.push(sample(10.0, 100.0, 0.0));
        h.push(sample(12.0, 300.0, 50.0));
        h.push(sample(14.0, 200.0, 50.0));
        assert_eq!(
            h.throughput(),
            vec![
                (12.0, Some(100.0), Some(25.0)),
                (14.0, Some(0.0), Some(0.0))
            ]
        );
        // The oldest sample falls out once the history is full.
        h.push(sample(16.0, 260.0, 60.0));
        assert_eq!(h.throughput().len(), 2);
        assert_eq!(h.throughput()[1], (16.0, Some(30.0), Some(5.0)));
    }

    #[test]
    fn lag_series_are_the_total_and_the_most_lagging_partitions() {
        let mut h = History::new(10);
        for (at, lag0, lag1) in [(1.0, 5, 1), (2.0, 3, 0)] {
            let mut s = sample(at, 0.0, 0.0);
            s.lag.insert(
                "g".into(),
                [
                    (TopicPartition::new("t", 0), lag0),
                    (TopicPartition::new("t", 1), lag1),
                ]
                .into_iter()
                .collect(),
            );
            h.push(s);
        }
        let v = h.lag("g");
        assert_eq!(v["t"], json!([1.0, 2.0]));
        assert_eq!(v["series"][0]["values"], json!([6, 3]));
        assert_eq!(v["series"][1]["label"], "t-0");
        assert_eq!(v["series"][1]["values"], json!([5, 3]));
        assert_eq!(h.lag("other")["series"][0]["values"], json!([null, null]));
    }
}
