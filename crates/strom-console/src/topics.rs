//! Topics: the list with a search box and a create form, and one topic's
//! partitions (leader, replicas, ISR, log start and end, size on the
//! leader), configs, and delete.

use std::collections::BTreeMap;

use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Form;
use serde::Deserialize;
use strom_client::{ClusterMetadata, Consumer, ErrorCode, NewTopic, StartOffset, TopicPartition};

use crate::error::ConsoleError;
use crate::html::{enc, esc, notice, page, page_with_status, Nav, Table};
use crate::Shared;

#[derive(Deserialize, Default)]
pub struct ListQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    deleted: Option<String>,
}

pub async fn list(State(state): State<Shared>, Query(query): Query<ListQuery>) -> Response {
    let mut body = String::new();
    if let Some(name) = &query.deleted {
        body.push_str(&notice(&format!(
            "Deleted topic <strong>{}</strong>.",
            esc(name)
        )));
    }
    match render_list(&state, &query.q).await {
        Ok(html) => body.push_str(&html),
        Err(e) => body.push_str(&e.html()),
    }
    body.push_str(&create_form(&CreateForm::default()));
    page("Topics", Nav::Topics, &body)
}

async fn render_list(state: &Shared, q: &str) -> Result<String, ConsoleError> {
    let mut admin = state.admin().await?;
    let metadata = admin.metadata(None).await?;
    let needle = q.to_lowercase();
    let mut body = format!(
        "<form class=\"inline\" method=\"get\" action=\"/topics\" role=\"search\"><label>Search<input type=\"search\" name=\"q\" id=\"topic-search\" value=\"{}\" placeholder=\"part of a name\"></label><button type=\"submit\">Search</button></form>",
        esc(q)
    );
    let mut table = Table::new(
        "topics-table",
        &[
            "Topic",
            "Partitions",
            "Replication factor",
            "Under-replicated",
            "Offline",
            "Internal",
        ],
    );
    let mut shown = 0;
    for (name, t) in &metadata.topics {
        if t.error.is_some() || !name.to_lowercase().contains(&needle) {
            continue;
        }
        shown += 1;
        let rf = t
            .partitions
            .values()
            .map(|p| p.replicas.len())
            .max()
            .unwrap_or(0);
        let under = t
            .partitions
            .values()
            .filter(|p| p.isr.len() < p.replicas.len())
            .count();
        let offline = t.partitions.values().filter(|p| p.leader_id < 0).count();
        table.row(&[
            format!("<a href=\"/topics/{}\">{}</a>", enc(name), esc(name)),
            t.partitions.len().to_string(),
            rf.to_string(),
            under.to_string(),
            offline.to_string(),
            if t.is_internal { "yes" } else { "" }.to_owned(),
        ]);
    }
    body.push_str(&format!(
        "<p class=\"muted\" id=\"topic-count\">{shown} topic{}{}</p>",
        if shown == 1 { "" } else { "s" },
        if q.is_empty() {
            String::new()
        } else {
            format!(" matching “{}”", esc(q))
        }
    ));
    body.push_str(&table.finish());
    Ok(body)
}

#[derive(Deserialize, Default)]
pub struct CreateForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    partitions: String,
    #[serde(default)]
    replication_factor: String,
    /// `key=value` lines.
    #[serde(default)]
    configs: String,
}

fn create_form(f: &CreateForm) -> String {
    format!(
        "<h2>Create a topic</h2><form class=\"inline\" method=\"post\" action=\"/topics\" id=\"create-topic\">\
<label>Name<input name=\"name\" id=\"new-topic-name\" required maxlength=\"249\" value=\"{}\"></label>\
<label>Partitions<input name=\"partitions\" id=\"new-topic-partitions\" type=\"number\" min=\"1\" placeholder=\"broker default\" value=\"{}\"></label>\
<label>Replication factor<input name=\"replication_factor\" id=\"new-topic-rf\" type=\"number\" min=\"1\" placeholder=\"broker default\" value=\"{}\"></label>\
<label>Configs (key=value per line)<textarea name=\"configs\" id=\"new-topic-configs\" rows=\"2\" cols=\"30\" placeholder=\"retention.ms=86400000\">{}</textarea></label>\
<button type=\"submit\" id=\"create-topic-submit\">Create topic</button></form>",
        esc(&f.name),
        esc(&f.partitions),
        esc(&f.replication_factor),
        esc(&f.configs)
    )
}

/// `key=value` lines (blank lines skipped).
pub fn parse_pairs(text: &str) -> Result<Vec<(String, String)>, ConsoleError> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| match l.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), v.trim().to_owned())),
            _ => Err(ConsoleError::Input(format!("{l:?} is not key=value"))),
        })
        .collect()
}

fn optional_number<T: std::str::FromStr>(
    text: &str,
    what: &str,
) -> Result<Option<T>, ConsoleError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    text.parse()
        .map(Some)
        .map_err(|_| ConsoleError::Input(format!("{what} must be a number, not {text:?}")))
}

pub async fn create(State(state): State<Shared>, Form(form): Form<CreateForm>) -> Response {
    match create_topic(&state, &form).await {
        Ok(()) => (
            StatusCode::SEE_OTHER,
            [(
                header::LOCATION,
                format!("/topics/{}?created=1", enc(form.name.trim())),
            )],
        )
            .into_response(),
        Err(e) => {
            let body = format!("{}{}", e.html(), create_form(&form));
            page_with_status(e.status(), "Topics", Nav::Topics, &body)
        }
    }
}

async fn create_topic(state: &Shared, form: &CreateForm) -> Result<(), ConsoleError> {
    let name = form.name.trim();
    if name.is_empty() {
        return Err(ConsoleError::Input("a topic needs a name".into()));
    }
    let topic = NewTopic {
        name: name.to_owned(),
        num_partitions: optional_number(&form.partitions, "Partitions")?.unwrap_or(-1),
        replication_factor: optional_number(&form.replication_factor, "Replication factor")?
            .unwrap_or(-1),
        assignment: BTreeMap::new(),
        configs: parse_pairs(&form.configs)?,
    };
    let mut admin = state.admin().await?;
    for r in admin.create_topics(&[topic]).await? {
        if let Some((code, message)) = r.error {
            return Err(ConsoleError::kafka("CreateTopics", code, message));
        }
    }
    Ok(())
}

#[derive(Deserialize, Default)]
pub struct DetailQuery {
    #[serde(default)]
    created: Option<String>,
}

pub async fn detail(
    State(state): State<Shared>,
    Path(topic): Path<String>,
    Query(query): Query<DetailQuery>,
) -> Response {
    let title = format!("Topic {topic}");
    match render_detail(&state, &topic).await {
        Ok(html) => {
            let mut body = String::new();
            if query.created.is_some() {
                body.push_str(&notice(&format!(
                    "Created topic <strong>{}</strong>.",
                    esc(&topic)
                )));
            }
            body.push_str(&html);
            page(&title, Nav::Topics, &body)
        }
        Err(e) => page_with_status(e.status(), &title, Nav::Topics, &e.html()),
    }
}

/// Log start and end offsets of `partitions`, and each one's size on its leader.
pub struct PartitionOffsets {
    pub start: BTreeMap<TopicPartition, i64>,
    pub end: BTreeMap<TopicPartition, i64>,
    pub size: BTreeMap<(String, i32), i64>,
}

pub async fn partition_offsets(
    state: &Shared,
    metadata: &ClusterMetadata,
    topic: &str,
) -> Result<PartitionOffsets, ConsoleError> {
    let Some(t) = metadata.topics.get(topic) else {
        return Err(ConsoleError::kafka(
            format!("topic {topic}"),
            ErrorCode::UNKNOWN_TOPIC_OR_PARTITION,
            None,
        ));
    };
    let tps: Vec<TopicPartition> = t
        .partitions
        .keys()
        .map(|&p| TopicPartition::new(topic, p))
        .collect();
    let mut consumer = Consumer::connect(state.consumer_config()).await?;
    let ask = |s: StartOffset| -> Vec<(TopicPartition, StartOffset)> {
        tps.iter().map(|tp| (tp.clone(), s)).collect()
    };
    let start = consumer.list_offsets(&ask(StartOffset::Earliest)).await?;
    let end = consumer.list_offsets(&ask(StartOffset::Latest)).await?;
    let mut by_leader: BTreeMap<i32, Vec<i32>> = BTreeMap::new();
    for (&p, pm) in &t.partitions {
        by_leader.entry(pm.leader_id).or_default().push(p);
    }
    let mut size = BTreeMap::new();
    let mut admin = state.admin().await?;
    for (leader, ps) in by_leader {
        let Some(broker) = metadata.brokers.get(&leader) else {
            continue;
        };
        // Sizes are a nicety: a broker without DescribeLogDirs leaves them blank.
        if let Ok(sizes) = admin
            .replica_sizes(broker, &[(topic.to_owned(), ps.clone())])
            .await
        {
            for ((t, p), bytes) in sizes {
                if ps.contains(&p) {
                    size.insert((t, p), bytes);
                }
            }
        }
    }
    Ok(PartitionOffsets { start, end, size })
}

async fn render_detail(state: &Shared, topic: &str) -> Result<String, ConsoleError> {
    let mut admin = state.admin().await?;
    let metadata = admin.metadata(Some(&[topic.to_owned()])).await?;
    let t = match metadata.topics.get(topic) {
        Some(t) if t.error.is_none() => t,
        other => {
            return Err(ConsoleError::kafka(
                format!("topic {topic}"),
                other
                    .and_then(|t| t.error)
                    .unwrap_or(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION),
                None,
            ))
        }
    };
    let offsets = partition_offsets(state, &metadata, topic).await?;
    let ids = |v: &[i32]| {
        v.iter()
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut body = format!(
        "<p><a href=\"/topics/{0}/messages\" id=\"browse-link\">Browse messages</a> · topic id <code>{1}</code></p><h2>Partitions</h2>",
        enc(topic),
        t.topic_id.iter().map(|b| format!("{b:02x}")).collect::<String>()
    );
    let mut table = Table::new(
        "partitions-table",
        &[
            "Partition",
            "Leader",
            "Replicas",
            "ISR",
            "Offline replicas",
            "Log start offset",
            "Log end offset",
            "Records",
            "Size on leader (bytes)",
        ],
    );
    let mut total_records = 0i64;
    let mut total_bytes = 0i64;
    for (&p, pm) in &t.partitions {
        let tp = TopicPartition::new(topic, p);
        let start = offsets.start.get(&tp).copied();
        let end = offsets.end.get(&tp).copied();
        let records = match (start, end) {
            (Some(s), Some(e)) => Some(e - s),
            _ => None,
        };
        total_records += records.unwrap_or(0);
        let size = offsets.size.get(&(topic.to_owned(), p)).copied();
        total_bytes += size.unwrap_or(0);
        let opt = |v: Option<i64>| v.map(|v| v.to_string()).unwrap_or_else(|| "-".into());
        table.row(&[
            format!(
                "<a href=\"/topics/{}/messages?partition={p}\">{p}</a>",
                enc(topic)
            ),
            if pm.leader_id < 0 {
                "<strong class=\"bad\">none</strong>".to_owned()
            } else {
                pm.leader_id.to_string()
            },
            ids(&pm.replicas),
            ids(&pm.isr),
            ids(&pm.offline_replicas),
            opt(start),
            opt(end),
            opt(records),
            opt(size),
        ]);
    }
    body.push_str(&table.finish());
    body.push_str(&format!(
        "<p class=\"muted\" id=\"topic-totals\">{} partitions, {total_records} records, {total_bytes} bytes on the leaders.</p>",
        t.partitions.len()
    ));
    body.push_str("<h2>Configs</h2>");
    let configs = admin.describe_topic_configs(&[topic.to_owned()]).await?;
    match configs.get(topic) {
        Some(Ok(entries)) => {
            let mut table = Table::new("configs-table", &["Name", "Value", "Source"]);
            let mut entries = entries.clone();
            // Values someone set come first, then Kafka's defaults.
            entries.sort_by(|a, b| (a.is_default(), &a.name).cmp(&(b.is_default(), &b.name)));
            for c in &entries {
                let value = if c.is_sensitive {
                    "(sensitive)".to_owned()
                } else {
                    c.value.clone().unwrap_or_else(|| "null".to_owned())
                };
                table.row(&[
                    esc(&c.name),
                    esc(&value),
                    config_source(c.source).to_owned(),
                ]);
            }
            body.push_str(&table.finish());
        }
        Some(Err(code)) => {
            body.push_str(&ConsoleError::kafka("DescribeConfigs", *code, None).html())
        }
        None => body.push_str("<p class=\"muted\">No configs were returned.</p>"),
    }
    body.push_str(&format!(
        "<h2>Delete</h2><form class=\"inline\" method=\"post\" action=\"/topics/{}/delete\" id=\"delete-topic\" onsubmit=\"return confirm('Delete this topic and all its records?')\"><label>Type the topic name to confirm<input name=\"confirm\" id=\"delete-confirm\" required></label><button class=\"danger\" type=\"submit\" id=\"delete-topic-submit\">Delete topic</button></form>",
        enc(topic)
    ));
    Ok(body)
}

/// Kafka's ConfigSource names.
fn config_source(source: i8) -> &'static str {
    match source {
        1 => "DYNAMIC_TOPIC_CONFIG",
        2 => "DYNAMIC_BROKER_CONFIG",
        3 => "DYNAMIC_DEFAULT_BROKER_CONFIG",
        4 => "STATIC_BROKER_CONFIG",
        5 => "DEFAULT_CONFIG",
        6 => "DYNAMIC_BROKER_LOGGER_CONFIG",
        7 => "CLIENT_METRICS_CONFIG",
        8 => "GROUP_CONFIG",
        _ => "UNKNOWN",
    }
}

#[derive(Deserialize, Default)]
pub struct DeleteForm {
    #[serde(default)]
    confirm: String,
}

pub async fn delete(
    State(state): State<Shared>,
    Path(topic): Path<String>,
    Form(form): Form<DeleteForm>,
) -> Response {
    let result = async {
        if form.confirm.trim() != topic {
            return Err(ConsoleError::Input(format!(
                "type the topic's name ({topic}) to confirm its deletion"
            )));
        }
        let mut admin = state.admin().await?;
        for r in admin.delete_topics(std::slice::from_ref(&topic)).await? {
            if let Some((code, message)) = r.error {
                return Err(ConsoleError::kafka("DeleteTopics", code, message));
            }
        }
        Ok(())
    }
    .await;
    match result {
        Ok(()) => (
            StatusCode::SEE_OTHER,
            [(header::LOCATION, format!("/topics?deleted={}", enc(&topic)))],
        )
            .into_response(),
        Err(e) => page_with_status(
            e.status(),
            &format!("Topic {topic}"),
            Nav::Topics,
            &e.html(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_lines_are_key_value_pairs() {
        assert_eq!(
            parse_pairs("retention.ms=1000\n\n cleanup.policy = compact \n").unwrap(),
            vec![
                ("retention.ms".to_owned(), "1000".to_owned()),
                ("cleanup.policy".to_owned(), "compact".to_owned())
            ]
        );
        assert!(parse_pairs("nonsense").is_err());
        assert!(parse_pairs("=x").is_err());
    }
}
