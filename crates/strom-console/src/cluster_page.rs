//! Brokers and the controller quorum: DescribeCluster (with fenced
//! brokers, KIP-1073) and DescribeQuorum, as `strom cluster describe` and
//! `strom metadata-quorum describe` show them.

use axum::extract::State;
use axum::response::Response;
use strom_client::ErrorCode;

use crate::error::ConsoleError;
use crate::format::iso_time;
use crate::html::{esc, page, Nav, Table};
use crate::Shared;

pub async fn show(State(state): State<Shared>) -> Response {
    let mut body = String::new();
    match state.admin().await {
        Err(e) => body.push_str(&e.html()),
        Ok(mut admin) => {
            body.push_str("<h2>Brokers</h2>");
            match admin.describe_cluster(true).await {
                Ok(resp) => {
                    body.push_str(&format!(
                        "<p>Cluster <code>{}</code> · controller (as clients see it) <strong id=\"describe-controller\">{}</strong></p>",
                        esc(&resp.cluster_id),
                        resp.controller_id.0
                    ));
                    let mut brokers: Vec<_> = resp.brokers.iter().collect();
                    brokers.sort_by_key(|b| b.broker_id.0);
                    let mut table =
                        Table::new("cluster-brokers", &["Id", "Endpoint", "Rack", "State"]);
                    for b in brokers {
                        table.row(&[
                            b.broker_id.0.to_string(),
                            esc(&format!("{}:{}", b.host, b.port)),
                            esc(b.rack.as_deref().unwrap_or("-")),
                            if b.is_fenced {
                                "<strong class=\"bad\">fenced</strong>".to_owned()
                            } else {
                                "alive".to_owned()
                            },
                        ]);
                    }
                    body.push_str(&table.finish());
                }
                Err(e) => body.push_str(&ConsoleError::from(e).html()),
            }
            body.push_str("<h2>Controller quorum</h2>");
            match admin.describe_quorum().await {
                Ok(resp) => body.push_str(&quorum_html(&resp)),
                Err(e) => body.push_str(&ConsoleError::from(e).html()),
            }
        }
    }
    page("Brokers & quorum", Nav::Cluster, &body)
}

fn quorum_html(resp: &strom_client::kafka_protocol::messages::DescribeQuorumResponse) -> String {
    if let Some(code) = ErrorCode::from_code(resp.error_code) {
        return ConsoleError::kafka(
            "DescribeQuorum",
            code,
            resp.error_message.as_ref().map(|m| m.to_string()),
        )
        .html();
    }
    let Some(p) = resp.topics.first().and_then(|t| t.partitions.first()) else {
        return "<p class=\"muted\">The quorum reported no partition.</p>".to_owned();
    };
    if let Some(code) = ErrorCode::from_code(p.error_code) {
        return ConsoleError::kafka(
            "DescribeQuorum",
            code,
            p.error_message.as_ref().map(|m| m.to_string()),
        )
        .html();
    }
    let mut out = format!(
        "<p>Leader <strong id=\"quorum-leader\">{}</strong> · epoch <strong id=\"quorum-epoch\">{}</strong> · high watermark <strong id=\"quorum-hw\">{}</strong></p>",
        p.leader_id.0, p.leader_epoch, p.high_watermark
    );
    let time = |ms: i64| if ms < 0 { "-".to_owned() } else { iso_time(ms) };
    let mut table = Table::new(
        "quorum-replicas",
        &[
            "Node",
            "Role",
            "Log end offset",
            "Lag",
            "Last fetch",
            "Last caught up",
        ],
    );
    let rows = p
        .current_voters
        .iter()
        .map(|r| (r, true))
        .chain(p.observers.iter().map(|r| (r, false)));
    for (r, voter) in rows {
        let role = if r.replica_id == p.leader_id {
            "leader"
        } else if voter {
            "follower (voter)"
        } else {
            "observer"
        };
        table.row(&[
            r.replica_id.0.to_string(),
            role.to_owned(),
            r.log_end_offset.to_string(),
            (p.high_watermark - r.log_end_offset).max(0).to_string(),
            time(r.last_fetch_timestamp),
            time(r.last_caught_up_timestamp),
        ]);
    }
    out.push_str(&table.finish());
    out
}
