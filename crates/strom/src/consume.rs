//! `strom consume`: records of a topic to stdout, as
//! kafka-console-consumer.sh and `kcat -C` do, over strom-client's
//! consumer.
//!
//! Without `--group` the consumer reads the partitions itself (every
//! partition, or `--partition`); with `--group` it joins the consumer
//! group and commits what it printed on exit. It starts at the log end
//! (the console consumer's default), `--from-beginning`, `--offset` or
//! `--timestamp`, and stops after `--max-messages`, at the end of every
//! partition (`--exit-at-end`, kcat's `-e`), or after `--timeout-ms`
//! without a record.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use strom_client::{
    Consumer, ConsumerConfig, ConsumerRecord, IsolationLevel, StartOffset, TopicPartition,
};
use tokio::time::Instant;

use crate::admin_cli::{run_command, Connection};
use crate::produce::{command_config_pairs, millis, number, parse_pairs};

/// `auto.commit.interval.ms`'s default.
const COMMIT_INTERVAL: Duration = Duration::from_secs(5);

#[derive(Args)]
pub struct ConsumeArgs {
    #[command(flatten)]
    connection: Connection,
    /// The topic to read.
    #[arg(long, short = 't')]
    topic: String,
    /// Read only this partition.
    #[arg(long, short = 'p')]
    partition: Option<i32>,
    /// Join this consumer group (partitions assigned by the group, offsets committed).
    #[arg(long, short = 'g', conflicts_with = "partition")]
    group: Option<String>,
    /// Start at the earliest offset when there is no committed one.
    #[arg(long, conflicts_with_all = ["offset", "timestamp"])]
    from_beginning: bool,
    /// Where to start: earliest, latest, or an offset.
    #[arg(long, short = 'o', conflicts_with = "timestamp")]
    offset: Option<String>,
    /// Start at the first record at or after this time: milliseconds since the epoch or
    /// YYYY-MM-DDTHH:MM:SS[.sss][Z|±HH:MM] (UTC unless a zone is given).
    #[arg(long)]
    timestamp: Option<String>,
    /// Exit after this many records.
    #[arg(long, short = 'c')]
    max_messages: Option<u64>,
    /// Exit once every partition is read to its end (kcat's -e).
    #[arg(long, short = 'e')]
    exit_at_end: bool,
    /// Exit after this many milliseconds without a record.
    #[arg(long)]
    timeout_ms: Option<u64>,
    /// Output format: `text` (the console consumer's), `json` (an object per record), `hex`.
    #[arg(long, default_value = "text", value_parser = ["text", "json", "hex"])]
    format: String,
    /// Print the key before the value (text and hex formats).
    #[arg(long)]
    print_key: bool,
    /// Print `CreateTime:<ms>` (or LogAppendTime) first.
    #[arg(long)]
    print_timestamp: bool,
    /// Print `Partition:<n>`.
    #[arg(long)]
    print_partition: bool,
    /// Print `Offset:<n>`.
    #[arg(long)]
    print_offset: bool,
    /// Print the headers as `k1:v1,k2:v2` (`NO_HEADERS` when none).
    #[arg(long)]
    print_headers: bool,
    /// Separator between printed fields.
    #[arg(long, default_value = "\t", value_name = "SEP")]
    key_separator: String,
    /// The console consumer's formatter properties: print.key, print.timestamp, print.partition,
    /// print.offset, print.headers (=true) and key.separator.
    #[arg(
        long = "property",
        visible_alias = "formatter-property",
        value_name = "KEY=VALUE"
    )]
    formatter_properties: Vec<String>,
    /// A consumer config: KEY=VALUE (fetch.max.wait.ms, fetch.min.bytes,
    /// max.partition.fetch.bytes, session.timeout.ms, client.id; repeatable).
    #[arg(long = "consumer-property", short = 'X', value_name = "KEY=VALUE")]
    consumer_properties: Vec<String>,
    /// read_committed skips the records of aborted transactions and stops at
    /// the last stable offset; read_uncommitted (the default) reads everything.
    #[arg(long, value_name = "LEVEL", value_parser = ["read_uncommitted", "read_committed"])]
    isolation_level: Option<String>,
}

pub fn run(args: ConsumeArgs) -> ExitCode {
    run_command(consume(args))
}

pub fn consumer_config(
    connection: &Connection,
    group: Option<String>,
    properties: &[String],
) -> Result<ConsumerConfig, String> {
    let mut config = ConsumerConfig::new(connection.bootstrap_server.clone());
    config.connection.client_id = "strom-consumer".to_owned();
    config.group_id = group;
    let mut pairs = command_config_pairs(connection)?;
    pairs.extend(parse_pairs(properties, "--consumer-property")?);
    (config.connection.tls, config.connection.sasl) = crate::produce::client_security(&pairs)?;
    for (key, value) in pairs {
        let ms = || millis(&key, &value);
        match key.as_str() {
            "client.id" => config.connection.client_id = value.clone(),
            "request.timeout.ms" => config.connection.request_timeout = ms()?,
            "default.api.timeout.ms" => config.api_timeout = ms()?,
            "retry.backoff.ms" => config.retry_backoff = ms()?,
            "fetch.max.wait.ms" => config.fetch_max_wait = ms()?,
            "fetch.min.bytes" => config.fetch_min_bytes = number(&key, &value)?,
            "fetch.max.bytes" => config.fetch_max_bytes = number(&key, &value)?,
            "max.partition.fetch.bytes" => config.max_partition_fetch_bytes = number(&key, &value)?,
            "session.timeout.ms" => config.session_timeout = ms()?,
            "isolation.level" => {
                config.isolation_level = IsolationLevel::parse(&value).ok_or_else(|| {
                    format!(
                        "isolation.level must be read_uncommitted or read_committed, not {value:?}"
                    )
                })?
            }
            "heartbeat.interval.ms" => config.heartbeat_interval = ms()?,
            "max.poll.interval.ms" => config.max_poll_interval = ms()?,
            "auto.offset.reset" => {
                config.auto_offset_reset = match value.trim() {
                    "earliest" => StartOffset::Earliest,
                    "latest" => StartOffset::Latest,
                    other => {
                        return Err(format!(
                            "auto.offset.reset must be earliest or latest, not {other:?}"
                        ))
                    }
                }
            }
            _ => {}
        }
    }
    Ok(config)
}

fn start_offset(args: &ConsumeArgs) -> Result<StartOffset, String> {
    if args.from_beginning {
        return Ok(StartOffset::Earliest);
    }
    if let Some(t) = &args.timestamp {
        return parse_time(t).map(StartOffset::Timestamp);
    }
    match args.offset.as_deref() {
        None | Some("latest") => Ok(StartOffset::Latest),
        Some("earliest") | Some("beginning") => Ok(StartOffset::Earliest),
        Some(n) => match n.parse::<i64>() {
            Ok(o) if o >= 0 => Ok(StartOffset::Offset(o)),
            _ => Err(format!(
                "--offset {n:?}: expected earliest, latest or a non-negative offset"
            )),
        },
    }
}

/// Applies the console consumer's formatter properties to the flags.
fn apply_formatter_properties(args: &mut ConsumeArgs) -> Result<(), String> {
    for (k, v) in parse_pairs(&args.formatter_properties, "--property")? {
        let on = || crate::produce::boolean(&k, &v);
        match k.as_str() {
            "print.key" => args.print_key = on()?,
            "print.timestamp" => args.print_timestamp = on()?,
            "print.partition" => args.print_partition = on()?,
            "print.offset" => args.print_offset = on()?,
            "print.headers" => args.print_headers = on()?,
            "print.value" if on()? => {}
            "key.separator" => args.key_separator = v.clone(),
            other => {
                return Err(format!(
                    "--property {other}: strom consume reads print.key, print.timestamp, print.partition, print.offset, print.headers and key.separator"
                ))
            }
        }
    }
    Ok(())
}

async fn consume(mut args: ConsumeArgs) -> Result<ExitCode, String> {
    apply_formatter_properties(&mut args)?;
    let start = start_offset(&args)?;
    let mut config = consumer_config(
        &args.connection,
        args.group.clone(),
        &args.consumer_properties,
    )?;
    if let Some(level) = args
        .isolation_level
        .as_deref()
        .and_then(IsolationLevel::parse)
    {
        config.isolation_level = level;
    }
    if args.group.is_some() {
        // With a group, the start applies where nothing is committed.
        config.auto_offset_reset = match start {
            StartOffset::Earliest => StartOffset::Earliest,
            _ => config.auto_offset_reset,
        };
    }
    let hint = |e: strom_client::Error| {
        format!(
            "{e}; check that {} is a broker of the cluster (--bootstrap-server or STROM_BOOTSTRAP) and that topic {} exists",
            args.connection.bootstrap_server, args.topic
        )
    };
    let mut consumer = Consumer::connect(config).await.map_err(hint)?;
    if args.group.is_some() {
        consumer
            .subscribe(std::slice::from_ref(&args.topic))
            .await
            .map_err(hint)?;
        if !matches!(start, StartOffset::Latest | StartOffset::Earliest) {
            // An explicit offset or time overrides the committed offsets.
            let starts: Vec<(TopicPartition, StartOffset)> = consumer
                .positions()
                .keys()
                .map(|tp| (tp.clone(), start))
                .collect();
            let resolved = consumer.list_offsets(&starts).await.map_err(hint)?;
            for (tp, o) in resolved {
                consumer.seek(&tp, o);
            }
        }
    } else {
        let partitions = match args.partition {
            Some(p) => {
                let all = consumer.partitions(&args.topic).await.map_err(hint)?;
                if !all.contains(&p) {
                    return Err(format!(
                        "topic {} has no partition {p} (it has {}); see `strom topics describe --topic {}`",
                        args.topic,
                        all.len(),
                        args.topic
                    ));
                }
                vec![p]
            }
            None => consumer.partitions(&args.topic).await.map_err(hint)?,
        };
        let assignment: Vec<(TopicPartition, StartOffset)> = partitions
            .into_iter()
            .map(|p| (TopicPartition::new(args.topic.clone(), p), start))
            .collect();
        consumer.assign(&assignment).await.map_err(hint)?;
    }
    let mut printed: u64 = 0;
    let mut last_record = Instant::now();
    let mut last_commit = Instant::now();
    let timeout = args.timeout_ms.map(Duration::from_millis);
    let stdout = std::io::stdout();
    let outcome: Result<(), String> = async {
        loop {
            if args.max_messages.is_some_and(|max| printed >= max) {
                break;
            }
            if args.exit_at_end && consumer.at_end().await.map_err(hint)? {
                break;
            }
            if timeout.is_some_and(|t| last_record.elapsed() >= t) {
                break;
            }
            let wait = timeout.map_or(Duration::from_millis(500), |t| {
                t.saturating_sub(last_record.elapsed())
                    .min(Duration::from_millis(500))
            });
            let records = consumer.poll(wait).await.map_err(hint)?;
            if !records.is_empty() {
                last_record = Instant::now();
            }
            let mut out = stdout.lock();
            for r in &records {
                if args.max_messages.is_some_and(|max| printed >= max) {
                    // Records past the limit are not consumed: rewind.
                    let tp = TopicPartition::new(r.topic.clone(), r.partition);
                    let pos = consumer.positions().get(&tp).copied().unwrap_or(r.offset);
                    if r.offset < pos {
                        consumer.seek(&tp, r.offset);
                    }
                    continue;
                }
                let line = format_record(r, &args);
                if out.write_all(line.as_bytes()).is_err() {
                    // stdout closed (`| head`): stop quietly.
                    return Ok(());
                }
                printed += 1;
            }
            let _ = out.flush();
            drop(out);
            if args.group.is_some() && last_commit.elapsed() >= COMMIT_INTERVAL {
                consumer.commit().await.map_err(hint)?;
                last_commit = Instant::now();
            }
        }
        Ok(())
    }
    .await;
    if args.group.is_some() {
        consumer.commit().await.map_err(hint)?;
        let _ = consumer.close().await;
    }
    outcome?;
    eprintln!("Processed a total of {printed} messages");
    Ok(ExitCode::SUCCESS)
}

fn format_record(r: &ConsumerRecord, args: &ConsumeArgs) -> String {
    match args.format.as_str() {
        "json" => {
            let text = |b: &Option<bytes::Bytes>| match b {
                None => serde_json::Value::Null,
                Some(b) => serde_json::Value::String(String::from_utf8_lossy(b).into_owned()),
            };
            let headers: Vec<serde_json::Value> = r
                .headers
                .iter()
                .map(|h| {
                    serde_json::json!({
                        "key": String::from_utf8_lossy(&h.key),
                        "value": text(&h.value),
                    })
                })
                .collect();
            let v = serde_json::json!({
                "topic": r.topic,
                "partition": r.partition,
                "offset": r.offset,
                "timestamp": r.timestamp,
                "timestamp_type": r.timestamp_type.name(),
                "key": text(&r.key),
                "value": text(&r.value),
                "headers": headers,
            });
            format!("{v}\n")
        }
        format => {
            let show = |b: &Option<bytes::Bytes>| match b {
                None => "null".to_owned(),
                Some(b) if format == "hex" => to_hex(b),
                Some(b) => String::from_utf8_lossy(b).into_owned(),
            };
            let sep = &args.key_separator;
            let mut fields = Vec::new();
            if args.print_timestamp {
                fields.push(format!("{}:{}", r.timestamp_type.name(), r.timestamp));
            }
            if args.print_partition {
                fields.push(format!("Partition:{}", r.partition));
            }
            if args.print_offset {
                fields.push(format!("Offset:{}", r.offset));
            }
            if args.print_headers {
                if r.headers.is_empty() {
                    fields.push("NO_HEADERS".to_owned());
                } else {
                    fields.push(
                        r.headers
                            .iter()
                            .map(|h| {
                                format!("{}:{}", String::from_utf8_lossy(&h.key), show(&h.value))
                            })
                            .collect::<Vec<_>>()
                            .join(","),
                    );
                }
            }
            if args.print_key {
                fields.push(show(&r.key));
            }
            fields.push(show(&r.value));
            let mut line = fields.join(sep);
            line.push('\n');
            line
        }
    }
}

fn to_hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Milliseconds since the epoch, or `YYYY-MM-DDTHH:MM:SS[.sss][Z|±HH:MM]`
/// (UTC when no zone is given; `-`/`:` separators as Kafka's tools take them).
pub fn parse_time(text: &str) -> Result<i64, String> {
    let bad = || {
        format!("{text:?}: expected milliseconds since the epoch or YYYY-MM-DDTHH:MM:SS[.sss][Z|±HH:MM]")
    };
    if let Ok(ms) = text.trim().parse::<i64>() {
        return Ok(ms);
    }
    let t = text.trim();
    let (date, rest) = t.split_once('T').ok_or_else(bad)?;
    let mut d = date.split('-');
    let (y, mo, da) = (
        d.next()
            .and_then(|s| s.parse::<i64>().ok())
            .ok_or_else(bad)?,
        d.next()
            .and_then(|s| s.parse::<i64>().ok())
            .ok_or_else(bad)?,
        d.next()
            .and_then(|s| s.parse::<i64>().ok())
            .ok_or_else(bad)?,
    );
    if d.next().is_some() || !(1..=12).contains(&mo) || !(1..=31).contains(&da) {
        return Err(bad());
    }
    // Split the zone off the time.
    let (time, offset_minutes) = if let Some(stripped) = rest.strip_suffix('Z') {
        (stripped, 0)
    } else if let Some(at) = rest.rfind(['+', '-']) {
        let (time, zone) = rest.split_at(at);
        let sign = if zone.starts_with('-') { -1 } else { 1 };
        let zone = &zone[1..];
        let (zh, zm) = zone.split_once(':').unwrap_or((zone, "0"));
        let zh: i64 = zh.parse().map_err(|_| bad())?;
        let zm: i64 = zm.parse().map_err(|_| bad())?;
        (time, sign * (zh * 60 + zm))
    } else {
        (rest, 0)
    };
    let (hms, frac) = time.split_once('.').unwrap_or((time, "0"));
    let mut h = hms.split(':');
    let hour: i64 = h.next().and_then(|s| s.parse().ok()).ok_or_else(bad)?;
    let minute: i64 = h.next().and_then(|s| s.parse().ok()).ok_or_else(bad)?;
    let second: i64 = h
        .next()
        .map_or(Some(0), |s| s.parse().ok())
        .ok_or_else(bad)?;
    if h.next().is_some() || hour > 23 || minute > 59 || second > 60 {
        return Err(bad());
    }
    let frac = format!("{frac:0<3}");
    let millis: i64 = frac.get(..3).and_then(|s| s.parse().ok()).ok_or_else(bad)?;
    let days = days_from_civil(y, mo, da);
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset_minutes * 60;
    Ok(seconds * 1000 + millis)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_as_utc_milliseconds() {
        assert_eq!(parse_time("0").unwrap(), 0);
        assert_eq!(parse_time("1700000000123").unwrap(), 1_700_000_000_123);
        assert_eq!(parse_time("1970-01-01T00:00:00").unwrap(), 0);
        assert_eq!(
            parse_time("2023-11-14T22:13:20.123Z").unwrap(),
            1_700_000_000_123
        );
        assert_eq!(
            parse_time("2023-11-14T23:13:20.5+01:00").unwrap(),
            1_700_000_000_500
        );
        assert_eq!(
            parse_time("2000-02-29T12:00:00-02:30").unwrap(),
            951_834_600_000
        );
        assert!(parse_time("2023-13-01T00:00:00").is_err());
        assert!(parse_time("yesterday").is_err());
    }

    #[test]
    fn hex_is_two_lowercase_digits_per_byte() {
        assert_eq!(to_hex(&[0, 0xab, 0x10]), "00ab10");
    }
}
