//! The overview: cluster id, controller, brokers, topic and partition
//! counts, under-replicated and offline partitions, and throughput.

use axum::extract::State;
use axum::response::Response;

use crate::error::ConsoleError;
use crate::html::{esc, page, Nav, Table};
use crate::Shared;

/// What the overview counts, from one Metadata response.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub topics: usize,
    pub internal_topics: usize,
    pub partitions: usize,
    /// Fewer in-sync replicas than replicas.
    pub under_replicated: usize,
    /// No leader.
    pub offline: usize,
}

pub fn counts(metadata: &strom_client::ClusterMetadata) -> Counts {
    let mut c = Counts::default();
    for t in metadata.topics.values().filter(|t| t.error.is_none()) {
        if t.is_internal {
            c.internal_topics += 1;
        } else {
            c.topics += 1;
        }
        for p in t.partitions.values() {
            c.partitions += 1;
            if p.isr.len() < p.replicas.len() {
                c.under_replicated += 1;
            }
            if p.leader_id < 0 {
                c.offline += 1;
            }
        }
    }
    c
}

pub async fn show(State(state): State<Shared>) -> Response {
    let body = match render(&state).await {
        Ok(body) => body,
        Err(e) => e.html(),
    };
    page("Overview", Nav::Overview, &body)
}

async fn render(state: &Shared) -> Result<String, ConsoleError> {
    let mut admin = state.admin().await?;
    let metadata = admin.metadata(None).await?;
    let c = counts(&metadata);
    let card = |id: &str, label: &str, value: usize, bad: bool| {
        format!(
            "<div class=\"card{}\" id=\"{id}\"><div class=\"label\">{label}</div><div class=\"value\">{value}</div></div>",
            if bad && value > 0 { " bad" } else { "" }
        )
    };
    let mut body = format!(
        "<p>Cluster <code id=\"cluster-id\">{}</code> · controller <strong id=\"controller\">{}</strong> · bootstrap {}</p><div class=\"cards\">",
        esc(metadata.cluster_id.as_deref().unwrap_or("(unknown)")),
        metadata.controller_id,
        esc(&state.config.admin.bootstrap_server),
    );
    body.push_str(&card("brokers", "Brokers", metadata.brokers.len(), false));
    body.push_str(&card("topics", "Topics", c.topics, false));
    body.push_str(&card(
        "partitions",
        "Partitions (with internal topics)",
        c.partitions,
        false,
    ));
    body.push_str(&card(
        "under-replicated",
        "Under-replicated partitions",
        c.under_replicated,
        true,
    ));
    body.push_str(&card("offline", "Offline partitions", c.offline, true));
    body.push_str("</div>");
    let (source, unit) = if state.config.metrics_urls.is_empty() {
        (
            "computed from log end offsets (in) and committed offsets (consumed)",
            "records/s",
        )
    } else {
        ("from the brokers' metrics endpoints", "bytes/s")
    };
    let (last_error, samples) = {
        let h = state.history.lock().unwrap_or_else(|e| e.into_inner());
        (h.last_error.clone(), h.throughput())
    };
    body.push_str(&format!(
        "<h2>Throughput ({unit}, last {} minutes)</h2><p class=\"muted\">Sampled every {} s, {source}.</p>",
        (state.config.sample_interval.as_secs_f64() * state.config.history_samples as f64 / 60.0)
            .round(),
        state.config.sample_interval.as_secs_f64(),
    ));
    if let Some(e) = last_error {
        body.push_str(&format!(
            "<div class=\"error\">Sampling failed: {}</div>",
            esc(&e)
        ));
    }
    body.push_str(&format!(
        "<div class=\"chart\" id=\"throughput-chart\" data-src=\"/api/throughput\" data-title=\"Throughput\" data-refresh-ms=\"{}\">",
        state.config.sample_interval.as_millis()
    ));
    match samples.last() {
        Some((_, i, o)) => body.push_str(&format!(
            "<noscript>Latest: in {} {unit}, out {} {unit}.</noscript>",
            i.map(|v| format!("{v:.1}")).unwrap_or_else(|| "?".into()),
            o.map(|v| format!("{v:.1}")).unwrap_or_else(|| "?".into()),
        )),
        None => body.push_str("<span class=\"muted\">Collecting samples…</span>"),
    }
    body.push_str("</div><h2>Brokers</h2>");
    let mut table = Table::new("brokers-table", &["Id", "Host", "Port", "Role"]);
    for b in metadata.brokers.values() {
        table.row(&[
            b.node_id.to_string(),
            esc(&b.host),
            b.port.to_string(),
            if b.node_id == metadata.controller_id {
                "controller".to_owned()
            } else {
                String::new()
            },
        ]);
    }
    body.push_str(&table.finish());
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use strom_client::{ClusterMetadata, PartitionMetadata, TopicMetadata};

    #[test]
    fn counts_find_under_replicated_and_offline_partitions() {
        let mut m = ClusterMetadata::default();
        let mut t = TopicMetadata::default();
        let p = |leader: i32, replicas: Vec<i32>, isr: Vec<i32>| PartitionMetadata {
            leader_id: leader,
            replicas,
            isr,
            ..PartitionMetadata::default()
        };
        t.partitions.insert(0, p(1, vec![1, 2], vec![1, 2]));
        t.partitions.insert(1, p(1, vec![1, 2], vec![1]));
        t.partitions.insert(2, p(-1, vec![2], vec![]));
        m.topics.insert("t".into(), t);
        let internal = TopicMetadata {
            is_internal: true,
            ..TopicMetadata::default()
        };
        m.topics.insert("__consumer_offsets".into(), internal);
        assert_eq!(
            counts(&m),
            Counts {
                topics: 1,
                internal_topics: 1,
                partitions: 3,
                under_replicated: 2,
                offline: 1
            }
        );
    }
}
