//! `strom groups reset-offsets`: kafka-consumer-groups.sh --reset-offsets.
//! The new offsets are printed (GROUP, TOPIC, PARTITION, NEW-OFFSET) and,
//! with `--execute`, committed; without it nothing changes (`--dry-run`,
//! the default). Only a group without active members can be reset.
//! Offsets past either end of a partition are moved to that end, as Kafka
//! does.

use std::collections::BTreeMap;

use strom_client::{AdminClient, Consumer, ConsumerConfig, StartOffset, TopicPartition};

use super::failure::Failure;
use super::{emit, warn, TopicSelection};
use crate::table::Table;

/// Partitions per OffsetCommit; progress is printed between them.
const COMMIT_CHUNK: usize = 1000;

/// Where the offsets go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetSpec {
    Earliest,
    Latest,
    Current,
    Offset(i64),
    Shift(i64),
    Time(i64),
}

pub struct ResetRequest<'a> {
    pub group: &'a str,
    pub topics: &'a [TopicSelection],
    pub all_topics: bool,
    pub spec: ResetSpec,
    pub execute: bool,
    /// Print the new offsets as JSON (`--output json`).
    pub json: bool,
    pub bootstrap_server: &'a str,
    pub connection: strom_client::ConnectionConfig,
}

pub async fn reset_offsets(admin: &mut AdminClient, r: ResetRequest<'_>) -> Result<bool, Failure> {
    let described = admin.describe_groups(&[r.group.to_owned()]).await?;
    if let Some(d) = described.first() {
        let inactive = d.error.is_some() || matches!(d.state.as_str(), "Empty" | "Dead" | "");
        if !inactive {
            return Err(Failure(format!(
                "assignments can only be reset if the group '{}' is inactive, but the current state is {}; stop its consumers first",
                r.group, d.state
            )));
        }
    }
    let committed: BTreeMap<TopicPartition, i64> = admin
        .offset_fetch(r.group, None)
        .await?
        .into_iter()
        .filter_map(|(tp, c)| c.offset.map(|o| (tp, o)))
        .collect();
    let mut config = ConsumerConfig::new(r.bootstrap_server.to_owned());
    config.connection = r.connection.clone();
    let mut consumer = Consumer::connect(config).await?;
    // The partitions to reset.
    let mut partitions: Vec<TopicPartition> = Vec::new();
    if r.all_topics {
        partitions.extend(committed.keys().cloned());
    }
    for sel in r.topics {
        let all = consumer.partitions(&sel.topic).await?;
        match &sel.partitions {
            None => partitions.extend(
                all.iter()
                    .map(|&p| TopicPartition::new(sel.topic.clone(), p)),
            ),
            Some(ps) => {
                for &p in ps {
                    if !all.contains(&p) {
                        return Err(Failure(format!(
                            "topic {} has no partition {p} (it has {}); see `strom topics describe --topic {}`",
                            sel.topic,
                            all.len(),
                            sel.topic
                        )));
                    }
                    partitions.push(TopicPartition::new(sel.topic.clone(), p));
                }
            }
        }
    }
    partitions.sort();
    partitions.dedup();
    if partitions.is_empty() {
        return Err(Failure(format!(
            "nothing to reset: group {} has no committed offsets{}",
            r.group,
            if r.all_topics {
                ""
            } else {
                "; name topics with --topic or use --all-topics"
            }
        )));
    }
    let ends = |start: StartOffset| -> Vec<(TopicPartition, StartOffset)> {
        partitions.iter().map(|tp| (tp.clone(), start)).collect()
    };
    let earliest = consumer.list_offsets(&ends(StartOffset::Earliest)).await?;
    let latest = consumer.list_offsets(&ends(StartOffset::Latest)).await?;
    let at_time = match r.spec {
        ResetSpec::Time(t) => {
            consumer
                .list_offsets(&ends(StartOffset::Timestamp(t)))
                .await?
        }
        _ => BTreeMap::new(),
    };
    let mut targets: BTreeMap<TopicPartition, i64> = BTreeMap::new();
    for tp in &partitions {
        let (lo, hi) = (
            earliest.get(tp).copied().unwrap_or(0),
            latest.get(tp).copied().unwrap_or(0),
        );
        let wanted = match r.spec {
            ResetSpec::Earliest => lo,
            ResetSpec::Latest => hi,
            ResetSpec::Current => committed.get(tp).copied().unwrap_or(hi),
            ResetSpec::Offset(o) => o,
            ResetSpec::Time(_) => at_time.get(tp).copied().unwrap_or(hi),
            ResetSpec::Shift(n) => match committed.get(tp) {
                Some(&c) => c.saturating_add(n),
                None => {
                    return Err(Failure(format!(
                        "cannot shift the offset of {tp}: group {} has no committed offset for it; use --to-earliest, --to-latest or --to-offset",
                        r.group
                    )))
                }
            },
        };
        let clamped = wanted.clamp(lo, hi.max(lo));
        if clamped != wanted {
            warn(&format!(
                "New offset ({wanted}) is {} than the {} offset for {tp}; it is reset to {clamped}",
                if wanted < lo { "lower" } else { "higher" },
                if wanted < lo { "earliest" } else { "latest" },
            ));
        }
        targets.insert(tp.clone(), clamped);
    }
    let mut table = Table::with_header(&["GROUP", "TOPIC", "PARTITION", "NEW-OFFSET"]);
    for (tp, o) in &targets {
        table.row(vec![
            r.group.to_owned(),
            tp.topic.clone(),
            tp.partition.to_string(),
            o.to_string(),
        ]);
    }
    let rendered = if r.json {
        let rows: Vec<serde_json::Value> = targets
            .iter()
            .map(|(tp, o)| serde_json::json!({"group": r.group, "topic": tp.topic, "partition": tp.partition, "new_offset": o}))
            .collect();
        format!(
            "{}\n",
            serde_json::to_string_pretty(&rows).unwrap_or_default()
        )
    } else {
        table.render()
    };
    if !r.execute {
        emit(&rendered);
        return Ok(true);
    }
    let all: Vec<(TopicPartition, i64)> = targets.into_iter().collect();
    let chunks = all.chunks(COMMIT_CHUNK).count();
    let mut failures = Vec::new();
    let mut done = 0usize;
    for chunk in all.chunks(COMMIT_CHUNK) {
        let chunk: BTreeMap<TopicPartition, i64> = chunk.iter().cloned().collect();
        for (tp, result) in admin.commit_offsets(r.group, &chunk).await? {
            if let Err(code) = result {
                failures.push(format!("{tp}: {code}"));
            }
        }
        done += chunk.len();
        if chunks > 1 {
            warn(&format!("committed {done}/{} partitions", all.len()));
        }
    }
    emit(&rendered);
    if failures.is_empty() {
        Ok(true)
    } else {
        warn(&format!(
            "error: {} of {} offsets were not committed: {}",
            failures.len(),
            all.len(),
            failures.join(", ")
        ));
        Ok(false)
    }
}
