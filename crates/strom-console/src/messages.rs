//! The message browser: read a partition from an offset, a time, the
//! beginning or the newest records; show keys, values and headers as text,
//! JSON or hex; and produce a test record.

use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::Form;
use bytes::Bytes;
use serde::Deserialize;
use strom_client::{
    Consumer, ConsumerRecord, Header, Producer, ProducerRecord, StartOffset, TopicPartition,
};
use tokio::time::Instant;

use crate::error::ConsoleError;
use crate::format::{iso_time, parse_time, render, Format};
use crate::html::{enc, esc, notice, page, page_with_status, Nav, Table};
use crate::topics::parse_pairs;
use crate::Shared;

/// How long one browse may read before showing what it has.
const BROWSE_TIME: Duration = Duration::from_secs(3);
/// Records shown when the form does not say.
const DEFAULT_LIMIT: usize = 50;
/// Bytes one partition fetch may return (Kafka's max.partition.fetch.bytes default).
const FETCH_BYTES: i32 = 1_048_576;

#[derive(Deserialize, Default, Clone)]
pub struct BrowseQuery {
    #[serde(default)]
    partition: Option<String>,
    /// earliest, latest (the newest `limit` records), offset, timestamp.
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    offset: Option<String>,
    #[serde(default)]
    timestamp: Option<String>,
    #[serde(default)]
    limit: Option<String>,
    #[serde(default)]
    format: Option<String>,
}

/// A browse request, checked.
struct Browse {
    partition: i32,
    from: &'static str,
    start: StartOffset,
    limit: usize,
    format: Format,
}

fn parse_browse(q: &BrowseQuery, max_records: usize) -> Result<Browse, ConsoleError> {
    let number = |v: &Option<String>, what: &str| -> Result<Option<i64>, ConsoleError> {
        match v.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            None => Ok(None),
            Some(s) => s
                .parse()
                .map(Some)
                .map_err(|_| ConsoleError::Input(format!("{what} must be a number, not {s:?}"))),
        }
    };
    let partition = number(&q.partition, "partition")?.unwrap_or(0);
    let partition = i32::try_from(partition)
        .map_err(|_| ConsoleError::Input(format!("no partition {partition}")))?;
    let limit = number(&q.limit, "limit")?
        .unwrap_or(DEFAULT_LIMIT as i64)
        .clamp(1, max_records as i64) as usize;
    let (from, start) = match q.from.as_deref().unwrap_or("earliest") {
        "latest" => ("latest", StartOffset::Latest),
        "offset" => (
            "offset",
            StartOffset::Offset(
                number(&q.offset, "offset")?
                    .ok_or_else(|| ConsoleError::Input("give an offset to read from".into()))?,
            ),
        ),
        "timestamp" => {
            let text = q.timestamp.as_deref().unwrap_or("").trim();
            let ms = parse_time(text).ok_or_else(|| {
                ConsoleError::Input(format!(
                    "{text:?} is not a time: give milliseconds since the epoch or 2024-05-01T12:00:00 (UTC)"
                ))
            })?;
            ("timestamp", StartOffset::Timestamp(ms))
        }
        _ => ("earliest", StartOffset::Earliest),
    };
    Ok(Browse {
        partition,
        from,
        start,
        limit,
        format: Format::parse(q.format.as_deref().unwrap_or("text")),
    })
}

pub async fn browse(
    State(state): State<Shared>,
    Path(topic): Path<String>,
    Query(query): Query<BrowseQuery>,
) -> Response {
    let (status, body) = match browse_html(&state, &topic, &query).await {
        Ok(body) => (axum::http::StatusCode::OK, body),
        Err(e) => (
            e.status(),
            format!(
                "{}{}",
                e.html(),
                browse_form(&topic, &query, state.config.max_records)
            ),
        ),
    };
    let body = format!("{body}{}", produce_form(&topic, &ProduceForm::default()));
    page_with_status(status, &format!("Messages of {topic}"), Nav::Topics, &body)
}

fn browse_form(topic: &str, q: &BrowseQuery, max_records: usize) -> String {
    let sel = |v: &str, current: &str| if v == current { " selected" } else { "" };
    let from = q.from.as_deref().unwrap_or("earliest");
    let format = q.format.as_deref().unwrap_or("text");
    let opt = |v: &Option<String>| esc(v.as_deref().unwrap_or(""));
    format!(
        "<p><a href=\"/topics/{0}\">← topic {1}</a></p>\
<form class=\"inline\" method=\"get\" action=\"/topics/{0}/messages\" id=\"browse-form\">\
<label>Partition<input name=\"partition\" id=\"browse-partition\" type=\"number\" min=\"0\" value=\"{2}\"></label>\
<label>From<select name=\"from\" id=\"browse-from\"><option value=\"earliest\"{3}>beginning</option><option value=\"latest\"{4}>newest records</option><option value=\"offset\"{5}>offset</option><option value=\"timestamp\"{6}>time</option></select></label>\
<label>Offset<input name=\"offset\" id=\"browse-offset\" type=\"number\" min=\"0\" value=\"{7}\"></label>\
<label>Time (UTC, or ms)<input name=\"timestamp\" id=\"browse-timestamp\" placeholder=\"2024-05-01T12:00:00\" value=\"{8}\"></label>\
<label>Records (max {9})<input name=\"limit\" id=\"browse-limit\" type=\"number\" min=\"1\" max=\"{9}\" value=\"{10}\"></label>\
<label>Show as<select name=\"format\" id=\"browse-format\"><option value=\"text\"{11}>text</option><option value=\"json\"{12}>JSON</option><option value=\"hex\"{13}>hex</option></select></label>\
<button type=\"submit\" id=\"browse-submit\">Read</button></form>",
        enc(topic),
        esc(topic),
        esc(q.partition.as_deref().unwrap_or("0")),
        sel("earliest", from),
        sel("latest", from),
        sel("offset", from),
        sel("timestamp", from),
        opt(&q.offset),
        opt(&q.timestamp),
        max_records,
        esc(q.limit.as_deref().unwrap_or(&DEFAULT_LIMIT.to_string())),
        sel("text", format),
        sel("json", format),
        sel("hex", format),
    )
}

async fn browse_html(state: &Shared, topic: &str, q: &BrowseQuery) -> Result<String, ConsoleError> {
    let mut body = browse_form(topic, q, state.config.max_records);
    let b = parse_browse(q, state.config.max_records)?;
    let records = read(state, topic, &b).await?;
    let max = state.config.max_value_bytes;
    body.push_str(&format!(
        "<p class=\"muted\" id=\"record-count\">{} record{} from partition {} (from {}, at most {}; values cut at {} bytes).</p>",
        records.len(),
        if records.len() == 1 { "" } else { "s" },
        b.partition,
        b.from,
        b.limit,
        max
    ));
    let mut table = Table::new(
        "records-table",
        &["Offset", "Timestamp", "Key", "Value", "Headers"],
    );
    for r in &records {
        let headers = r
            .headers
            .iter()
            .map(|h| {
                format!(
                    "<div class=\"header\"><strong>{}</strong>: {}</div>",
                    esc(&String::from_utf8_lossy(&h.key[..h.key.len().min(max)])),
                    render(h.value.as_deref(), b.format, max)
                )
            })
            .collect::<String>();
        table.row(&[
            r.offset.to_string(),
            format!(
                "<span title=\"{} ({:?})\">{}</span>",
                r.timestamp,
                r.timestamp_type,
                iso_time(r.timestamp)
            ),
            render(r.key.as_deref(), b.format, max),
            render(r.value.as_deref(), b.format, max),
            headers,
        ]);
    }
    body.push_str(&table.finish());
    if let Some(last) = records.last() {
        body.push_str(&format!(
            "<p><a id=\"next-page\" href=\"/topics/{}/messages?partition={}&amp;from=offset&amp;offset={}&amp;limit={}&amp;format={}\">Next records →</a></p>",
            enc(topic),
            b.partition,
            last.offset + 1,
            b.limit,
            b.format.name()
        ));
    }
    Ok(body)
}

/// Up to `b.limit` records of the partition, read for at most
/// [`BROWSE_TIME`].
async fn read(
    state: &Shared,
    topic: &str,
    b: &Browse,
) -> Result<Vec<ConsumerRecord>, ConsoleError> {
    let mut config = state.consumer_config();
    config.max_partition_fetch_bytes = FETCH_BYTES;
    config.fetch_max_bytes = FETCH_BYTES;
    config.fetch_max_wait = Duration::from_millis(200);
    let mut consumer = Consumer::connect(config).await?;
    let tp = TopicPartition::new(topic, b.partition);
    let partitions = consumer.partitions(topic).await?;
    if !partitions.contains(&b.partition) {
        return Err(ConsoleError::kafka(
            format!("partition {tp}"),
            strom_client::ErrorCode::UNKNOWN_TOPIC_OR_PARTITION,
            Some(format!("{topic} has {} partitions", partitions.len())),
        ));
    }
    let start = match b.start {
        StartOffset::Latest => {
            let ask = |s| vec![(tp.clone(), s)];
            let lo = consumer.list_offsets(&ask(StartOffset::Earliest)).await?;
            let hi = consumer.list_offsets(&ask(StartOffset::Latest)).await?;
            let (lo, hi) = (
                lo.get(&tp).copied().unwrap_or(0),
                hi.get(&tp).copied().unwrap_or(0),
            );
            StartOffset::Offset((hi - b.limit as i64).max(lo))
        }
        other => other,
    };
    consumer.assign(&[(tp.clone(), start)]).await?;
    let deadline = Instant::now() + BROWSE_TIME;
    let mut records = Vec::new();
    while records.len() < b.limit {
        if consumer.at_end().await? {
            break;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        let batch = consumer.poll(left.min(Duration::from_millis(500))).await?;
        records.extend(batch.into_iter().filter(|r| r.partition == b.partition));
    }
    records.truncate(b.limit);
    Ok(records)
}

#[derive(Deserialize, Default)]
pub struct ProduceForm {
    #[serde(default)]
    partition: String,
    #[serde(default)]
    key: String,
    #[serde(default)]
    value: String,
    /// `key=value` lines.
    #[serde(default)]
    headers: String,
}

fn produce_form(topic: &str, f: &ProduceForm) -> String {
    format!(
        "<h2>Produce a test record</h2><form class=\"inline\" method=\"post\" action=\"/topics/{}/messages\" id=\"produce-form\">\
<label>Partition<input name=\"partition\" id=\"produce-partition\" type=\"number\" min=\"0\" placeholder=\"by key\" value=\"{}\"></label>\
<label>Key<input name=\"key\" id=\"produce-key\" value=\"{}\"></label>\
<label>Value<textarea name=\"value\" id=\"produce-value\" rows=\"2\" cols=\"40\">{}</textarea></label>\
<label>Headers (key=value per line)<textarea name=\"headers\" id=\"produce-headers\" rows=\"2\" cols=\"24\">{}</textarea></label>\
<button type=\"submit\" id=\"produce-submit\">Produce</button></form>",
        enc(topic),
        esc(&f.partition),
        esc(&f.key),
        esc(&f.value),
        esc(&f.headers)
    )
}

pub async fn produce(
    State(state): State<Shared>,
    Path(topic): Path<String>,
    Form(form): Form<ProduceForm>,
) -> Response {
    let title = format!("Messages of {topic}");
    match produce_one(&state, &topic, &form).await {
        Ok((partition, offset)) => {
            let q = BrowseQuery {
                partition: Some(partition.to_string()),
                from: Some("offset".into()),
                offset: Some(offset.to_string()),
                ..BrowseQuery::default()
            };
            let mut body = notice(&format!(
                "Produced to <strong id=\"produced-at\">{}-{partition}</strong> at offset <strong id=\"produced-offset\">{offset}</strong>.",
                esc(&topic)
            ));
            match browse_html(&state, &topic, &q).await {
                Ok(html) => body.push_str(&html),
                Err(e) => body.push_str(&e.html()),
            }
            body.push_str(&produce_form(&topic, &ProduceForm::default()));
            page(&title, Nav::Topics, &body)
        }
        Err(e) => {
            let body = format!("{}{}", e.html(), produce_form(&topic, &form));
            page_with_status(e.status(), &title, Nav::Topics, &body)
        }
    }
}

async fn produce_one(
    state: &Shared,
    topic: &str,
    form: &ProduceForm,
) -> Result<(i32, i64), ConsoleError> {
    let partition =
        match form.partition.trim() {
            "" => None,
            p => Some(p.parse::<i32>().map_err(|_| {
                ConsoleError::Input(format!("partition must be a number, not {p:?}"))
            })?),
        };
    let headers = parse_pairs(&form.headers)?
        .into_iter()
        .map(|(k, v)| Header {
            key: Bytes::from(k),
            value: Some(Bytes::from(v)),
        })
        .collect();
    let mut config = state.producer_config();
    // A test record goes to an existing topic only, and fails fast.
    config.allow_auto_create_topics = false;
    config.max_block = Duration::from_secs(10);
    config.delivery_timeout = Duration::from_secs(15);
    config.linger = Duration::ZERO;
    let producer = Producer::connect(config).await?;
    let record = ProducerRecord {
        topic: topic.to_owned(),
        partition,
        key: (!form.key.is_empty()).then(|| Bytes::from(form.key.clone())),
        value: Some(Bytes::from(form.value.clone())),
        headers,
        timestamp: None,
    };
    let result = producer.send_and_wait(record).await;
    producer.close().await;
    let meta = result?;
    Ok((meta.partition, meta.offset))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn browse_queries_are_checked_and_bounded() {
        let q = BrowseQuery {
            limit: Some("100000".into()),
            ..BrowseQuery::default()
        };
        let b = parse_browse(&q, 500).unwrap();
        assert_eq!((b.partition, b.limit, b.from), (0, 500, "earliest"));
        let q = BrowseQuery {
            from: Some("timestamp".into()),
            timestamp: Some("2024-05-01T12:00".into()),
            ..BrowseQuery::default()
        };
        assert_eq!(
            parse_browse(&q, 500).unwrap().start,
            StartOffset::Timestamp(1_714_564_800_000)
        );
        let q = BrowseQuery {
            from: Some("offset".into()),
            ..BrowseQuery::default()
        };
        assert!(parse_browse(&q, 500).is_err());
        let q = BrowseQuery {
            partition: Some("x".into()),
            ..BrowseQuery::default()
        };
        assert!(parse_browse(&q, 500).is_err());
    }
}
