//! Consumer groups: the list; one group's members, assignments and lag
//! per partition (with a chart of lag over time); and resetting its
//! offsets with kafka-consumer-groups.sh's options, as a dry run first.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::response::Response;
use axum::Form;
use serde::Deserialize;
use strom_client::{AdminClient, Consumer, StartOffset, TopicPartition};

use crate::error::ConsoleError;
use crate::format::parse_time;
use crate::html::{enc, esc, notice, page, page_with_status, Nav, Table};
use crate::Shared;

pub async fn list(State(state): State<Shared>) -> Response {
    let body = match render_list(&state).await {
        Ok(b) => b,
        Err(e) => e.html(),
    };
    page("Consumer groups", Nav::Groups, &body)
}

async fn render_list(state: &Shared) -> Result<String, ConsoleError> {
    let mut admin = state.admin().await?;
    let mut groups = admin.list_groups(&[]).await?;
    groups.sort_by(|a, b| a.group_id.cmp(&b.group_id));
    let lags: BTreeMap<String, i64> = {
        let h = state.history.lock().unwrap_or_else(|e| e.into_inner());
        h.latest_total_lags()
    };
    let mut table = Table::new(
        "groups-table",
        &[
            "Group",
            "State",
            "Type",
            "Protocol type",
            "Lag (last sample)",
        ],
    );
    for g in &groups {
        table.row(&[
            format!(
                "<a href=\"/groups/{}\">{}</a>",
                enc(&g.group_id),
                esc(&g.group_id)
            ),
            esc(g.state.as_deref().unwrap_or("")),
            esc(g.group_type.as_deref().unwrap_or("")),
            esc(&g.protocol_type),
            lags.get(&g.group_id)
                .map(|l| l.to_string())
                .unwrap_or_else(|| "-".into()),
        ]);
    }
    Ok(format!(
        "<p class=\"muted\" id=\"group-count\">{} group{}</p>{}",
        groups.len(),
        if groups.len() == 1 { "" } else { "s" },
        table.finish()
    ))
}

/// One partition of a group: its committed offset, the log end, the lag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionLag {
    pub committed: Option<i64>,
    pub log_end: Option<i64>,
}

impl PartitionLag {
    pub fn lag(&self) -> Option<i64> {
        match (self.committed, self.log_end) {
            (Some(c), Some(e)) => Some((e - c).max(0)),
            _ => None,
        }
    }
}

/// A member as the page shows it.
struct Member {
    member_id: String,
    client_id: String,
    host: String,
    assignment: Vec<TopicPartition>,
}

pub async fn detail(State(state): State<Shared>, Path(group): Path<String>) -> Response {
    let title = format!("Group {group}");
    match render_detail(&state, &group, None).await {
        Ok(body) => page(&title, Nav::Groups, &body),
        Err(e) => page_with_status(e.status(), &title, Nav::Groups, &e.html()),
    }
}

async fn render_detail(
    state: &Shared,
    group: &str,
    before: Option<String>,
) -> Result<String, ConsoleError> {
    let mut admin = state.admin().await?;
    let listing = admin
        .list_groups(&[])
        .await?
        .into_iter()
        .find(|g| g.group_id == group);
    let is_consumer_protocol = listing
        .as_ref()
        .and_then(|l| l.group_type.as_deref())
        .is_some_and(|t| t == "consumer");
    let (group_state, protocol, members) = if is_consumer_protocol {
        let d = admin
            .consumer_group_describe(&[group.to_owned()])
            .await?
            .into_iter()
            .next();
        match d {
            Some(d) if d.error.is_none() => (
                d.state,
                format!("consumer (KIP-848), assignor {}", d.assignor_name),
                d.members
                    .into_iter()
                    .map(|m| Member {
                        member_id: m.member_id,
                        client_id: m.client_id,
                        host: m.client_host,
                        assignment: m
                            .assignment
                            .iter()
                            .flat_map(|t| {
                                t.partitions
                                    .iter()
                                    .map(move |&p| TopicPartition::new(t.topic_name.clone(), p))
                            })
                            .collect(),
                    })
                    .collect(),
            ),
            Some(d) => {
                return Err(ConsoleError::kafka(
                    "ConsumerGroupDescribe",
                    d.error
                        .unwrap_or(strom_client::ErrorCode::UNKNOWN_SERVER_ERROR),
                    d.error_message,
                ))
            }
            None => (String::new(), String::new(), Vec::new()),
        }
    } else {
        let d = admin
            .describe_groups(&[group.to_owned()])
            .await?
            .into_iter()
            .next();
        match d {
            Some(d) => {
                if let Some(code) = d.error {
                    return Err(ConsoleError::kafka("DescribeGroups", code, d.error_message));
                }
                (
                    d.state,
                    format!("classic, {} {}", d.protocol_type, d.protocol),
                    d.members
                        .into_iter()
                        .map(|m| Member {
                            assignment: decode_assignment(&m.assignment).unwrap_or_default(),
                            member_id: m.member_id,
                            client_id: m.client_id,
                            host: m.client_host,
                        })
                        .collect(),
                )
            }
            None => (String::new(), String::new(), Vec::new()),
        }
    };
    let lags = group_lag(&mut admin, group).await?;
    if listing.is_none() && lags.is_empty() {
        return Err(ConsoleError::kafka(
            format!("group {group}"),
            strom_client::ErrorCode::GROUP_ID_NOT_FOUND,
            None,
        ));
    }
    let total: i64 = lags.values().filter_map(PartitionLag::lag).sum();
    let mut body = before.unwrap_or_default();
    body.push_str(&format!(
        "<div class=\"cards\"><div class=\"card\"><div class=\"label\">State</div><div class=\"value\" id=\"group-state\">{}</div></div>\
<div class=\"card\"><div class=\"label\">Members</div><div class=\"value\" id=\"group-members\">{}</div></div>\
<div class=\"card{}\"><div class=\"label\">Total lag</div><div class=\"value\" id=\"group-lag\">{total}</div></div></div>\
<p class=\"muted\">Protocol: {}</p>",
        esc(&group_state),
        members.len(),
        if total > 0 { " bad" } else { "" },
        esc(&protocol)
    ));
    body.push_str("<h2>Members</h2>");
    let mut owner: BTreeMap<TopicPartition, String> = BTreeMap::new();
    let mut table = Table::new(
        "members-table",
        &["Member id", "Client id", "Host", "Assigned partitions"],
    );
    for m in &members {
        for tp in &m.assignment {
            owner.insert(tp.clone(), m.client_id.clone());
        }
        table.row(&[
            esc(&m.member_id),
            esc(&m.client_id),
            esc(&m.host),
            esc(&m
                .assignment
                .iter()
                .map(|tp| tp.to_string())
                .collect::<Vec<_>>()
                .join(", ")),
        ]);
    }
    body.push_str(&table.finish());
    body.push_str("<h2>Lag per partition</h2>");
    let mut table = Table::new(
        "lag-table",
        &[
            "Topic",
            "Partition",
            "Committed offset",
            "Log end offset",
            "Lag",
            "Owner",
        ],
    );
    let opt = |v: Option<i64>| v.map(|v| v.to_string()).unwrap_or_else(|| "-".into());
    for (tp, l) in &lags {
        table.row(&[
            format!(
                "<a href=\"/topics/{}\">{}</a>",
                enc(&tp.topic),
                esc(&tp.topic)
            ),
            tp.partition.to_string(),
            opt(l.committed),
            opt(l.log_end),
            opt(l.lag()),
            esc(owner.get(tp).map(String::as_str).unwrap_or("")),
        ]);
    }
    body.push_str(&table.finish());
    body.push_str(&format!(
        "<h2>Lag over time</h2><div class=\"chart\" id=\"lag-chart\" data-src=\"/api/groups/{}/lag\" data-title=\"Lag (records)\" data-refresh-ms=\"{}\"><span class=\"muted\">The chart needs JavaScript; the table above has the current lag.</span></div>",
        enc(group),
        state.config.sample_interval.as_millis()
    ));
    body.push_str(&reset_form(group, &ResetForm::default()));
    Ok(body)
}

/// The group's committed offsets and the log end of each of those
/// partitions.
async fn group_lag(
    admin: &mut AdminClient,
    group: &str,
) -> Result<BTreeMap<TopicPartition, PartitionLag>, ConsoleError> {
    let committed = match admin.offset_fetch(group, None).await {
        Ok(c) => c,
        Err(e) if e.kafka_code() == Some(strom_client::ErrorCode::GROUP_ID_NOT_FOUND) => {
            BTreeMap::new()
        }
        Err(e) => return Err(e.into()),
    };
    let partitions: Vec<TopicPartition> = committed.keys().cloned().collect();
    let ends = admin.list_offsets_latest(&partitions).await?;
    Ok(committed
        .into_iter()
        .map(|(tp, c)| {
            let log_end = ends.get(&tp).and_then(|r| r.as_ref().ok().copied());
            (
                tp,
                PartitionLag {
                    committed: c.offset,
                    log_end,
                },
            )
        })
        .collect())
}

/// The partitions of a ConsumerProtocolAssignment (any version: the
/// fields the console reads come first in all of them). `None` for bytes
/// that are not one.
pub fn decode_assignment(bytes: &[u8]) -> Option<Vec<TopicPartition>> {
    struct Reader<'a>(&'a [u8]);
    impl Reader<'_> {
        fn take(&mut self, n: usize) -> Option<&[u8]> {
            if self.0.len() < n {
                return None;
            }
            let (a, b) = self.0.split_at(n);
            self.0 = b;
            Some(a)
        }
        fn i16(&mut self) -> Option<i16> {
            self.take(2).map(|b| i16::from_be_bytes([b[0], b[1]]))
        }
        fn i32(&mut self) -> Option<i32> {
            self.take(4)
                .map(|b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        }
    }
    if bytes.is_empty() {
        return Some(Vec::new());
    }
    let mut r = Reader(bytes);
    r.i16()?;
    let topics = r.i32()?;
    let mut out = Vec::new();
    for _ in 0..topics.max(0) {
        let len = usize::try_from(r.i16()?).ok()?;
        let topic = String::from_utf8_lossy(r.take(len)?).into_owned();
        let n = r.i32()?;
        // Each partition takes 4 bytes: a count larger than what is left is a lie.
        if n < 0 || n as usize > r.0.len() / 4 {
            return None;
        }
        for _ in 0..n {
            out.push(TopicPartition::new(topic.clone(), r.i32()?));
        }
    }
    Some(out)
}

#[derive(Deserialize, Default)]
pub struct ResetForm {
    /// A topic, or empty for every partition with a committed offset.
    #[serde(default)]
    topic: String,
    /// to-earliest, to-latest, to-offset, shift-by, to-datetime.
    #[serde(default)]
    spec: String,
    #[serde(default)]
    value: String,
    /// `dry-run` or `execute`.
    #[serde(default)]
    mode: String,
}

fn reset_form(group: &str, f: &ResetForm) -> String {
    let sel = |v: &str| if f.spec == v { " selected" } else { "" };
    format!(
        "<h2>Reset offsets</h2><p class=\"muted\">As kafka-consumer-groups.sh --reset-offsets: only a group without active members can be reset; offsets past either end of a partition move to that end. Dry run shows the new offsets without committing them.</p>\
<form class=\"inline\" method=\"post\" action=\"/groups/{}/reset\" id=\"reset-form\">\
<label>Topic (empty: all with committed offsets)<input name=\"topic\" id=\"reset-topic\" value=\"{}\"></label>\
<label>Reset<select name=\"spec\" id=\"reset-spec\"><option value=\"to-earliest\"{}>--to-earliest</option><option value=\"to-latest\"{}>--to-latest</option><option value=\"to-offset\"{}>--to-offset</option><option value=\"shift-by\"{}>--shift-by</option><option value=\"to-datetime\"{}>--to-datetime (UTC)</option></select></label>\
<label>Offset, shift or time<input name=\"value\" id=\"reset-value\" value=\"{}\"></label>\
<button type=\"submit\" name=\"mode\" value=\"dry-run\" class=\"secondary\" id=\"reset-dry-run\">Dry run</button>\
<button type=\"submit\" name=\"mode\" value=\"execute\" class=\"danger\" id=\"reset-execute\">Execute</button></form>",
        enc(group),
        esc(&f.topic),
        sel("to-earliest"),
        sel("to-latest"),
        sel("to-offset"),
        sel("shift-by"),
        sel("to-datetime"),
        esc(&f.value),
    )
}

/// Where offsets go, as kafka-consumer-groups.sh's options say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetSpec {
    Earliest,
    Latest,
    Offset(i64),
    Shift(i64),
    Time(i64),
}

pub fn parse_spec(spec: &str, value: &str) -> Result<ResetSpec, ConsoleError> {
    let value = value.trim();
    let number = || {
        value
            .parse::<i64>()
            .map_err(|_| ConsoleError::Input(format!("--{spec} needs a number, not {value:?}")))
    };
    match spec {
        "to-earliest" => Ok(ResetSpec::Earliest),
        "to-latest" => Ok(ResetSpec::Latest),
        "to-offset" => Ok(ResetSpec::Offset(number()?)),
        "shift-by" => Ok(ResetSpec::Shift(number()?)),
        "to-datetime" => parse_time(value).map(ResetSpec::Time).ok_or_else(|| {
            ConsoleError::Input(format!(
                "--to-datetime needs a time such as 2024-05-01T12:00:00 (UTC), not {value:?}"
            ))
        }),
        other => Err(ConsoleError::Input(format!(
            "unknown reset option {other:?}"
        ))),
    }
}

/// The new offset of one partition: the spec's, moved inside the log.
pub fn target(
    spec: ResetSpec,
    committed: Option<i64>,
    start: i64,
    end: i64,
    at_time: Option<i64>,
) -> Result<i64, String> {
    let wanted = match spec {
        ResetSpec::Earliest => start,
        ResetSpec::Latest => end,
        ResetSpec::Offset(o) => o,
        ResetSpec::Time(_) => at_time.unwrap_or(end),
        ResetSpec::Shift(n) => committed
            .ok_or("no committed offset to shift; use --to-earliest, --to-latest or --to-offset")?
            .saturating_add(n),
    };
    Ok(wanted.clamp(start, end.max(start)))
}

pub async fn reset(
    State(state): State<Shared>,
    Path(group): Path<String>,
    Form(form): Form<ResetForm>,
) -> Response {
    let title = format!("Group {group}");
    let outcome = reset_offsets(&state, &group, &form).await;
    let before = match outcome {
        Ok(html) => html,
        Err(e) => e.html(),
    };
    match render_detail(&state, &group, Some(before.clone())).await {
        Ok(body) => page(&title, Nav::Groups, &body),
        Err(e) => page_with_status(
            e.status(),
            &title,
            Nav::Groups,
            &format!("{before}{}", e.html()),
        ),
    }
}

async fn reset_offsets(
    state: &Shared,
    group: &str,
    form: &ResetForm,
) -> Result<String, ConsoleError> {
    let spec = parse_spec(&form.spec, &form.value)?;
    let execute = form.mode == "execute";
    let mut admin = state.admin().await?;
    if let Some(d) = admin.describe_groups(&[group.to_owned()]).await?.first() {
        let inactive = d.error.is_some() || matches!(d.state.as_str(), "Empty" | "Dead" | "");
        if !inactive {
            return Err(ConsoleError::kafka(
                format!("group {group}"),
                strom_client::ErrorCode::NON_EMPTY_GROUP,
                Some(format!(
                    "offsets can only be reset while the group is inactive, and it is {}",
                    d.state
                )),
            ));
        }
    }
    let committed: BTreeMap<TopicPartition, i64> = match admin.offset_fetch(group, None).await {
        Ok(c) => c
            .into_iter()
            .filter_map(|(tp, c)| c.offset.map(|o| (tp, o)))
            .collect(),
        Err(e) if e.kafka_code() == Some(strom_client::ErrorCode::GROUP_ID_NOT_FOUND) => {
            BTreeMap::new()
        }
        Err(e) => return Err(e.into()),
    };
    let mut consumer = Consumer::connect(state.consumer_config()).await?;
    let topic = form.topic.trim();
    let partitions: Vec<TopicPartition> = if topic.is_empty() {
        committed.keys().cloned().collect()
    } else {
        consumer
            .partitions(topic)
            .await?
            .into_iter()
            .map(|p| TopicPartition::new(topic, p))
            .collect()
    };
    if partitions.is_empty() {
        return Err(ConsoleError::Input(format!(
            "nothing to reset: group {group} has no committed offsets; name a topic"
        )));
    }
    let ask = |s: StartOffset| -> Vec<(TopicPartition, StartOffset)> {
        partitions.iter().map(|tp| (tp.clone(), s)).collect()
    };
    let starts = consumer.list_offsets(&ask(StartOffset::Earliest)).await?;
    let ends = consumer.list_offsets(&ask(StartOffset::Latest)).await?;
    let at_time = match spec {
        ResetSpec::Time(t) => {
            consumer
                .list_offsets(&ask(StartOffset::Timestamp(t)))
                .await?
        }
        _ => BTreeMap::new(),
    };
    let mut targets = BTreeMap::new();
    for tp in &partitions {
        let new = target(
            spec,
            committed.get(tp).copied(),
            starts.get(tp).copied().unwrap_or(0),
            ends.get(tp).copied().unwrap_or(0),
            at_time.get(tp).copied(),
        )
        .map_err(|m| ConsoleError::Input(format!("{tp}: {m}")))?;
        targets.insert(tp.clone(), new);
    }
    let results = if execute {
        Some(admin.commit_offsets(group, &targets).await?)
    } else {
        None
    };
    let mut table = Table::new(
        "reset-table",
        &[
            "Topic",
            "Partition",
            "Current offset",
            "New offset",
            "Result",
        ],
    );
    let mut failed = 0;
    for (tp, new) in &targets {
        let result = match results.as_ref().and_then(|r| r.get(tp)) {
            None => "dry run".to_owned(),
            Some(Ok(())) => "committed".to_owned(),
            Some(Err(code)) => {
                failed += 1;
                code.name()
            }
        };
        table.row(&[
            esc(&tp.topic),
            tp.partition.to_string(),
            committed
                .get(tp)
                .map(|c| c.to_string())
                .unwrap_or_else(|| "-".into()),
            new.to_string(),
            result,
        ]);
    }
    let head = if !execute {
        format!(
            "Dry run: these are the offsets <strong id=\"reset-outcome\">{}</strong> would get (nothing was committed).",
            esc(group)
        )
    } else if failed == 0 {
        format!(
            "Reset <span id=\"reset-outcome\">{} partition{}</span> of {}.",
            targets.len(),
            if targets.len() == 1 { "" } else { "s" },
            esc(group)
        )
    } else {
        format!("{failed} of {} offsets were not committed.", targets.len())
    };
    Ok(format!("{}{}", notice(&head), table.finish()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assignments_decode_and_lies_are_refused() {
        // version 1, one topic "ab" with partitions 0 and 3, no user data.
        let mut b = vec![0, 1, 0, 0, 0, 1, 0, 2, b'a', b'b', 0, 0, 0, 2];
        b.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 3, 0xff, 0xff, 0xff, 0xff]);
        assert_eq!(
            decode_assignment(&b),
            Some(vec![
                TopicPartition::new("ab", 0),
                TopicPartition::new("ab", 3)
            ])
        );
        assert_eq!(decode_assignment(&[]), Some(vec![]));
        assert_eq!(decode_assignment(&[0, 1, 0, 0, 0, 1, 0, 2, b'a']), None);
        assert_eq!(
            decode_assignment(&[0, 1, 0, 0, 0, 1, 0, 1, b'a', 0x7f, 0, 0, 0]),
            None
        );
    }

    #[test]
    fn reset_targets_follow_kafkas_options_and_stay_inside_the_log() {
        assert_eq!(target(ResetSpec::Earliest, Some(5), 2, 10, None), Ok(2));
        assert_eq!(target(ResetSpec::Latest, Some(5), 2, 10, None), Ok(10));
        assert_eq!(target(ResetSpec::Offset(50), Some(5), 2, 10, None), Ok(10));
        assert_eq!(target(ResetSpec::Offset(0), None, 2, 10, None), Ok(2));
        assert_eq!(target(ResetSpec::Shift(-2), Some(5), 2, 10, None), Ok(3));
        assert_eq!(target(ResetSpec::Shift(-9), Some(5), 2, 10, None), Ok(2));
        assert!(target(ResetSpec::Shift(1), None, 2, 10, None).is_err());
        assert_eq!(target(ResetSpec::Time(1), Some(5), 2, 10, Some(7)), Ok(7));
        assert_eq!(target(ResetSpec::Time(1), Some(5), 2, 10, None), Ok(10));
        assert_eq!(parse_spec("shift-by", "-3").unwrap(), ResetSpec::Shift(-3));
        assert!(parse_spec("to-offset", "x").is_err());
        assert!(parse_spec("to-nowhere", "").is_err());
    }
}
