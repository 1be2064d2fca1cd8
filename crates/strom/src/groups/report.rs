//! What `strom groups` prints, built from the admin client's answers by
//! pure functions (so formatting is tested without a broker).

use std::collections::{BTreeMap, BTreeSet};

use strom_client::{
    CommittedOffset, ConsumerGroupDescription, ErrorCode, GroupDescription, GroupListing,
    TopicPartition,
};
use strom_coordinator::consumer_protocol::Assignment;

use serde_json::{json, Value};

use super::failure::describe_code;
use crate::table::{or_dash, Table};

/// `strom groups list`: one line per group under a header.
pub fn group_list(groups: &[GroupListing]) -> String {
    let mut t = Table::with_header(&["GROUP", "TYPE", "PROTOCOL-TYPE", "STATE"]);
    for g in groups {
        t.row(vec![
            g.group_id.clone(),
            or_dash(g.group_type.as_deref()),
            or_dash(Some(&g.protocol_type)),
            or_dash(g.state.as_deref()),
        ]);
    }
    t.render()
}

/// `strom groups list --output json`: one object per group.
pub fn group_list_json(groups: &[GroupListing]) -> Value {
    Value::Array(
        groups
            .iter()
            .map(|g| {
                json!({
                    "group": g.group_id,
                    "type": g.group_type,
                    "protocol_type": g.protocol_type,
                    "state": g.state,
                })
            })
            .collect(),
    )
}

/// A Kafka error as scripts see it: its name, or null for none.
fn error_json(result: &Result<(), ErrorCode>) -> Value {
    match result {
        Ok(()) => Value::Null,
        Err(code) => Value::String(code.to_string()),
    }
}

/// `strom groups delete-offsets --output json`.
pub fn offset_deletions_json(results: &BTreeMap<TopicPartition, Result<(), ErrorCode>>) -> Value {
    Value::Array(
        results
            .iter()
            .map(|(tp, r)| json!({"topic": tp.topic, "partition": tp.partition, "error": error_json(r)}))
            .collect(),
    )
}

/// `strom groups delete --output json`: one group's entry.
pub fn group_deletion_json(group: &str, result: &Result<(), ErrorCode>) -> Value {
    json!({"group": group, "error": error_json(result)})
}

/// One line of `strom groups describe`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PartitionRow {
    /// `None` for a member with nothing assigned.
    pub partition: Option<TopicPartition>,
    pub current_offset: Option<i64>,
    pub log_end_offset: Option<i64>,
    pub consumer_id: Option<String>,
    pub host: Option<String>,
    pub client_id: Option<String>,
}

impl PartitionRow {
    /// Log end offset minus committed offset, when both are known.
    pub fn lag(&self) -> Option<i64> {
        Some(self.log_end_offset? - self.current_offset?)
    }
}

/// How the group is run, as the header of `strom groups describe` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupKind {
    /// A classic group (DescribeGroups), or a group only known by its
    /// offsets and its ListGroups entry.
    Classic {
        protocol_type: String,
        /// The chosen protocol: the assignor's name for consumer groups.
        protocol: String,
    },
    /// A KIP-848 consumer group (ConsumerGroupDescribe): the coordinator
    /// assigns the partitions.
    Consumer {
        assignor: String,
        group_epoch: i32,
        assignment_epoch: i32,
    },
}

/// `strom groups describe GROUP`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupReport {
    pub group_id: String,
    pub state: String,
    pub kind: GroupKind,
    /// `None` when the group could not be described (only its offsets).
    pub members: Option<usize>,
    pub rows: Vec<PartitionRow>,
    /// Assignments that could not be read, for stderr.
    pub warnings: Vec<String>,
}

/// Each member's assigned partitions (index into `desc.members`). Only
/// groups of protocol type `consumer` carry ConsumerProtocolAssignments.
pub fn assignments(desc: &GroupDescription) -> (Vec<(usize, Vec<TopicPartition>)>, Vec<String>) {
    let mut out = Vec::new();
    let mut warnings = Vec::new();
    if desc.protocol_type != "consumer" {
        return (out, warnings);
    }
    for (i, m) in desc.members.iter().enumerate() {
        match Assignment::decode(&m.assignment) {
            Ok(a) => {
                let partitions = a
                    .assigned_partitions
                    .into_iter()
                    .flat_map(|(topic, ps)| {
                        ps.into_iter()
                            .map(move |p| TopicPartition::new(topic.clone(), p))
                    })
                    .collect();
                out.push((i, partitions));
            }
            Err(e) => warnings.push(format!(
                "member {}: cannot read its assignment: {e}",
                m.member_id
            )),
        }
    }
    (out, warnings)
}

/// Each consumer group member's current assignment (index into
/// `desc.members`); partitions of topics the broker could not name are
/// left out with a warning.
pub fn consumer_assignments(
    desc: &ConsumerGroupDescription,
) -> (Vec<(usize, Vec<TopicPartition>)>, Vec<String>) {
    let mut out = Vec::new();
    let mut warnings = Vec::new();
    for (i, m) in desc.members.iter().enumerate() {
        let mut partitions = Vec::new();
        for t in &m.assignment {
            if t.topic_name.is_empty() {
                let ps: Vec<String> = t.partitions.iter().map(i32::to_string).collect();
                warnings.push(format!(
                    "member {}: owns partitions {} of topic id {}, which the broker did not name (deleted?)",
                    m.member_id,
                    ps.join(","),
                    t.topic_id_string()
                ));
                continue;
            }
            partitions.extend(
                t.partitions
                    .iter()
                    .map(|&p| TopicPartition::new(t.topic_name.clone(), p)),
            );
        }
        partitions.sort();
        partitions.dedup();
        out.push((i, partitions));
    }
    (out, warnings)
}

/// Every partition the group has a committed offset for or is assigned.
pub fn partitions_of(
    desc: &GroupDescription,
    committed: &BTreeMap<TopicPartition, CommittedOffset>,
) -> Vec<TopicPartition> {
    union_of(committed, assignments(desc).0)
}

/// Every partition the consumer group has a committed offset for or owns.
pub fn consumer_partitions_of(
    desc: &ConsumerGroupDescription,
    committed: &BTreeMap<TopicPartition, CommittedOffset>,
) -> Vec<TopicPartition> {
    union_of(committed, consumer_assignments(desc).0)
}

fn union_of(
    committed: &BTreeMap<TopicPartition, CommittedOffset>,
    assigned: Vec<(usize, Vec<TopicPartition>)>,
) -> Vec<TopicPartition> {
    let mut all: BTreeSet<TopicPartition> = committed.keys().cloned().collect();
    for (_, ps) in assigned {
        all.extend(ps);
    }
    all.into_iter().collect()
}

/// Who a member is, as the table names it.
struct Owner<'a> {
    member_id: &'a str,
    host: &'a str,
    client_id: &'a str,
}

/// One row per partition with a committed offset or an owner, sorted, then
/// one row per member that owns nothing.
fn table_rows(
    owners: &[(Owner<'_>, &[TopicPartition])],
    committed: &BTreeMap<TopicPartition, CommittedOffset>,
    log_end: &BTreeMap<TopicPartition, Result<i64, ErrorCode>>,
) -> Vec<PartitionRow> {
    let row = |tp: &TopicPartition| PartitionRow {
        partition: Some(tp.clone()),
        current_offset: committed.get(tp).and_then(|c| c.offset),
        log_end_offset: log_end.get(tp).and_then(|r| r.as_ref().ok().copied()),
        ..PartitionRow::default()
    };
    let mut rows: BTreeMap<TopicPartition, PartitionRow> =
        committed.keys().map(|tp| (tp.clone(), row(tp))).collect();
    let mut idle_members = Vec::new();
    for (owner, partitions) in owners {
        let member = |r: &mut PartitionRow| {
            r.consumer_id = Some(owner.member_id.to_owned());
            r.host = Some(owner.host.to_owned());
            r.client_id = Some(owner.client_id.to_owned());
        };
        if partitions.is_empty() {
            let mut r = PartitionRow::default();
            member(&mut r);
            idle_members.push(r);
        }
        for tp in partitions.iter() {
            member(rows.entry(tp.clone()).or_insert_with(|| row(tp)));
        }
    }
    let mut rows: Vec<PartitionRow> = rows.into_values().collect();
    idle_members.sort_by(|a, b| a.consumer_id.cmp(&b.consumer_id));
    rows.extend(idle_members);
    rows
}

impl GroupReport {
    /// A classic group, from DescribeGroups.
    pub fn build(
        desc: &GroupDescription,
        committed: &BTreeMap<TopicPartition, CommittedOffset>,
        log_end: &BTreeMap<TopicPartition, Result<i64, ErrorCode>>,
    ) -> GroupReport {
        let (assigned, warnings) = assignments(desc);
        let owners: Vec<(Owner<'_>, &[TopicPartition])> = assigned
            .iter()
            .map(|(i, ps)| {
                let m = &desc.members[*i];
                let owner = Owner {
                    member_id: &m.member_id,
                    host: &m.client_host,
                    client_id: &m.client_id,
                };
                (owner, ps.as_slice())
            })
            .collect();
        GroupReport {
            group_id: desc.group_id.clone(),
            state: desc.state.clone(),
            kind: GroupKind::Classic {
                protocol_type: desc.protocol_type.clone(),
                protocol: desc.protocol.clone(),
            },
            members: Some(desc.members.len()),
            rows: table_rows(&owners, committed, log_end),
            warnings,
        }
    }

    /// A KIP-848 consumer group, from ConsumerGroupDescribe: each member's
    /// current assignment (not its target).
    pub fn build_consumer(
        desc: &ConsumerGroupDescription,
        committed: &BTreeMap<TopicPartition, CommittedOffset>,
        log_end: &BTreeMap<TopicPartition, Result<i64, ErrorCode>>,
    ) -> GroupReport {
        let (assigned, warnings) = consumer_assignments(desc);
        let owners: Vec<(Owner<'_>, &[TopicPartition])> = assigned
            .iter()
            .map(|(i, ps)| {
                let m = &desc.members[*i];
                let owner = Owner {
                    member_id: &m.member_id,
                    host: &m.client_host,
                    client_id: &m.client_id,
                };
                (owner, ps.as_slice())
            })
            .collect();
        GroupReport {
            group_id: desc.group_id.clone(),
            state: desc.state.clone(),
            kind: GroupKind::Consumer {
                assignor: desc.assignor_name.clone(),
                group_epoch: desc.group_epoch,
                assignment_epoch: desc.assignment_epoch,
            },
            members: Some(desc.members.len()),
            rows: table_rows(&owners, committed, log_end),
            warnings,
        }
    }

    /// `strom groups describe --output json`: the same facts as the table,
    /// with null where the table shows a dash.
    pub fn to_json(&self) -> Value {
        let kind = match &self.kind {
            GroupKind::Classic {
                protocol_type,
                protocol,
            } => json!({"type": "classic", "protocol_type": protocol_type, "protocol": protocol}),
            GroupKind::Consumer {
                assignor,
                group_epoch,
                assignment_epoch,
            } => json!({
                "type": "consumer",
                "assignor": assignor,
                "group_epoch": group_epoch,
                "assignment_epoch": assignment_epoch,
            }),
        };
        let partitions: Vec<Value> = self
            .rows
            .iter()
            .map(|r| {
                json!({
                    "topic": r.partition.as_ref().map(|tp| &tp.topic),
                    "partition": r.partition.as_ref().map(|tp| tp.partition),
                    "current_offset": r.current_offset,
                    "log_end_offset": r.log_end_offset,
                    "lag": r.lag(),
                    "consumer_id": r.consumer_id,
                    "host": r.host,
                    "client_id": r.client_id,
                })
            })
            .collect();
        json!({
            "group": self.group_id,
            "state": self.state,
            "kind": kind,
            "members": self.members,
            "partitions": partitions,
            "warnings": self.warnings,
        })
    }

    pub fn render(&self) -> String {
        let mut head = Table::default();
        head.row(vec!["GROUP".into(), self.group_id.clone()]);
        head.row(vec!["STATE".into(), or_dash(Some(&self.state))]);
        match &self.kind {
            GroupKind::Classic {
                protocol_type,
                protocol,
            } => {
                head.row(vec!["PROTOCOL-TYPE".into(), or_dash(Some(protocol_type))]);
                head.row(vec!["PROTOCOL".into(), or_dash(Some(protocol))]);
            }
            GroupKind::Consumer {
                assignor,
                group_epoch,
                assignment_epoch,
            } => {
                head.row(vec!["TYPE".into(), "consumer".into()]);
                head.row(vec!["ASSIGNOR".into(), or_dash(Some(assignor))]);
                head.row(vec!["GROUP-EPOCH".into(), group_epoch.to_string()]);
                head.row(vec![
                    "ASSIGNMENT-EPOCH".into(),
                    assignment_epoch.to_string(),
                ]);
            }
        }
        head.row(vec!["MEMBERS".into(), or_dash(self.members)]);
        let mut out = head.render();
        out.push('\n');
        if self.rows.is_empty() {
            out.push_str("The group has no committed offsets and no assigned partitions.\n");
            return out;
        }
        let mut t = Table::with_header(&[
            "TOPIC",
            "PARTITION",
            "CURRENT-OFFSET",
            "LOG-END-OFFSET",
            "LAG",
            "CONSUMER-ID",
            "HOST",
            "CLIENT-ID",
        ]);
        for r in &self.rows {
            t.row(vec![
                or_dash(r.partition.as_ref().map(|tp| &tp.topic)),
                or_dash(r.partition.as_ref().map(|tp| tp.partition)),
                or_dash(r.current_offset),
                or_dash(r.log_end_offset),
                or_dash(r.lag()),
                or_dash(r.consumer_id.as_deref()),
                or_dash(r.host.as_deref()),
                or_dash(r.client_id.as_deref()),
            ]);
        }
        out.push_str(&t.render());
        out
    }
}

/// `strom groups delete-offsets`: one line per partition.
pub fn offset_deletions(results: &BTreeMap<TopicPartition, Result<(), ErrorCode>>) -> String {
    let mut t = Table::with_header(&["TOPIC", "PARTITION", "STATUS"]);
    for (tp, r) in results {
        let status = match r {
            Ok(()) => "Successful".to_owned(),
            Err(code) => format!("Error: {}", describe_code(*code)),
        };
        t.row(vec![tp.topic.clone(), tp.partition.to_string(), status]);
    }
    t.render()
}

/// `strom groups delete`: the line for one group.
pub fn group_deletion(group: &str, result: &Result<(), ErrorCode>) -> String {
    match result {
        Ok(()) => format!("Deletion of group {group} succeeded"),
        Err(code) => format!("Deletion of group {group} failed: {}", describe_code(*code)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use strom_client::{AssignedTopic, ConsumerMemberDescription, MemberDescription};

    fn committed(offset: i64) -> CommittedOffset {
        CommittedOffset {
            offset: Some(offset),
            leader_epoch: None,
            metadata: Some(String::new()),
            error: None,
        }
    }

    fn member(id: &str, assignment: &[(&str, &[i32])]) -> MemberDescription {
        let a = Assignment {
            assigned_partitions: assignment
                .iter()
                .map(|(t, ps)| (t.to_string(), ps.to_vec()))
                .collect(),
            user_data: None,
        };
        MemberDescription {
            member_id: id.into(),
            group_instance_id: None,
            client_id: format!("client-{id}"),
            client_host: "/10.0.0.7".into(),
            metadata: Bytes::new(),
            assignment: Bytes::from(a.encode(3)),
        }
    }

    fn group(
        state: &str,
        protocol_type: &str,
        members: Vec<MemberDescription>,
    ) -> GroupDescription {
        GroupDescription {
            group_id: "audit".into(),
            error: None,
            error_message: None,
            state: state.into(),
            protocol_type: protocol_type.into(),
            protocol: if members.is_empty() {
                String::new()
            } else {
                "range".into()
            },
            members,
        }
    }

    #[test]
    fn list_prints_one_aligned_line_per_group() {
        let groups = vec![
            GroupListing {
                group_id: "audit".into(),
                protocol_type: String::new(),
                state: Some("Empty".into()),
                group_type: Some("classic".into()),
            },
            GroupListing {
                group_id: "billing-consumers".into(),
                protocol_type: "consumer".into(),
                state: Some("Stable".into()),
                group_type: Some("classic".into()),
            },
            GroupListing {
                group_id: "old".into(),
                protocol_type: "consumer".into(),
                state: None,
                group_type: None,
            },
        ];
        assert_eq!(
            group_list(&groups),
            "GROUP              TYPE     PROTOCOL-TYPE  STATE\n\
             audit              classic  -              Empty\n\
             billing-consumers  classic  consumer       Stable\n\
             old                -        consumer       -\n"
        );
        assert_eq!(group_list(&[]), "GROUP  TYPE  PROTOCOL-TYPE  STATE\n");
    }

    #[test]
    fn describe_an_empty_group_with_committed_offsets() {
        let desc = group("Empty", "", vec![]);
        let mut offsets = BTreeMap::new();
        offsets.insert(TopicPartition::new("orders", 0), committed(1));
        offsets.insert(TopicPartition::new("orders", 1), committed(5));
        offsets.insert(TopicPartition::new("gone", 0), committed(9));
        let mut leo = BTreeMap::new();
        leo.insert(TopicPartition::new("orders", 0), Ok(3));
        leo.insert(TopicPartition::new("orders", 1), Ok(5));
        leo.insert(
            TopicPartition::new("gone", 0),
            Err(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION),
        );
        let report = GroupReport::build(&desc, &offsets, &leo);
        assert_eq!(
            report.render(),
            "GROUP          audit\n\
             STATE          Empty\n\
             PROTOCOL-TYPE  -\n\
             PROTOCOL       -\n\
             MEMBERS        0\n\
             \n\
             TOPIC   PARTITION  CURRENT-OFFSET  LOG-END-OFFSET  LAG  CONSUMER-ID  HOST  CLIENT-ID\n\
             gone    0          9               -               -    -            -     -\n\
             orders  0          1               3               2    -            -     -\n\
             orders  1          5               5               0    -            -     -\n"
        );
    }

    #[test]
    fn describe_a_stable_group_shows_who_owns_each_partition() {
        let desc = group(
            "Stable",
            "consumer",
            vec![
                member("m-2", &[("orders", &[1]), ("audit-log", &[0])]),
                member("m-1", &[("orders", &[0])]),
                member("m-3", &[]),
            ],
        );
        let mut offsets = BTreeMap::new();
        offsets.insert(TopicPartition::new("orders", 0), committed(10));
        // Partition 2 is no longer assigned but still has an offset.
        offsets.insert(TopicPartition::new("orders", 2), committed(4));
        let mut leo = BTreeMap::new();
        for (p, end) in [(0, 12), (1, 7), (2, 4)] {
            leo.insert(TopicPartition::new("orders", p), Ok(end));
        }
        leo.insert(TopicPartition::new("audit-log", 0), Ok(0));
        assert_eq!(
            partitions_of(&desc, &offsets),
            vec![
                TopicPartition::new("audit-log", 0),
                TopicPartition::new("orders", 0),
                TopicPartition::new("orders", 1),
                TopicPartition::new("orders", 2),
            ]
        );
        let report = GroupReport::build(&desc, &offsets, &leo);
        assert!(report.warnings.is_empty());
        assert_eq!(
            report.render(),
            "GROUP          audit\n\
             STATE          Stable\n\
             PROTOCOL-TYPE  consumer\n\
             PROTOCOL       range\n\
             MEMBERS        3\n\
             \n\
             TOPIC      PARTITION  CURRENT-OFFSET  LOG-END-OFFSET  LAG  CONSUMER-ID  HOST       CLIENT-ID\n\
             audit-log  0          -               0               -    m-2          /10.0.0.7  client-m-2\n\
             orders     0          10              12              2    m-1          /10.0.0.7  client-m-1\n\
             orders     1          -               7               -    m-2          /10.0.0.7  client-m-2\n\
             orders     2          4               4               0    -            -          -\n\
             -          -          -               -               -    m-3          /10.0.0.7  client-m-3\n"
        );
    }

    #[test]
    fn undecodable_assignments_are_warnings_not_failures() {
        let mut bad = member("m-1", &[]);
        bad.assignment = Bytes::from_static(&[0, 0, 0x7f]);
        let desc = group("Stable", "consumer", vec![bad]);
        let report = GroupReport::build(&desc, &BTreeMap::new(), &BTreeMap::new());
        assert_eq!(report.warnings.len(), 1);
        assert!(
            report.warnings[0].starts_with("member m-1: cannot read its assignment"),
            "{:?}",
            report.warnings
        );
        assert!(report.render().ends_with(
            "MEMBERS        1\n\nThe group has no committed offsets and no assigned partitions.\n"
        ));
    }

    #[test]
    fn non_consumer_protocols_are_not_decoded() {
        let mut m = member("m-1", &[("orders", &[0])]);
        m.assignment = Bytes::from_static(b"connect-specific");
        let desc = group("Stable", "connect", vec![m]);
        let (assigned, warnings) = assignments(&desc);
        assert!(assigned.is_empty() && warnings.is_empty());
    }

    fn assigned(topics: &[(&str, &[i32])]) -> Vec<AssignedTopic> {
        topics
            .iter()
            .enumerate()
            .map(|(i, (t, ps))| AssignedTopic {
                topic_id: [i as u8 + 1; 16],
                topic_name: t.to_string(),
                partitions: ps.to_vec(),
            })
            .collect()
    }

    fn consumer_member(
        id: &str,
        assignment: &[(&str, &[i32])],
        target: &[(&str, &[i32])],
    ) -> ConsumerMemberDescription {
        ConsumerMemberDescription {
            member_id: id.into(),
            instance_id: None,
            rack_id: None,
            member_epoch: 7,
            client_id: format!("client-{id}"),
            client_host: "/10.0.0.8".into(),
            subscribed_topic_names: vec!["orders".into(), "audit-log".into()],
            subscribed_topic_regex: None,
            assignment: assigned(assignment),
            target_assignment: assigned(target),
        }
    }

    fn consumer_group(
        state: &str,
        members: Vec<ConsumerMemberDescription>,
    ) -> ConsumerGroupDescription {
        ConsumerGroupDescription {
            group_id: "payments".into(),
            error: None,
            error_message: None,
            state: state.into(),
            group_epoch: 8,
            assignment_epoch: 7,
            assignor_name: "uniform".into(),
            members,
        }
    }

    #[test]
    fn describe_a_consumer_group_shows_epochs_and_who_owns_each_partition() {
        let desc = consumer_group(
            "Reconciling",
            vec![
                consumer_member(
                    "m-2",
                    &[("orders", &[1]), ("audit-log", &[0])],
                    &[("orders", &[1])],
                ),
                consumer_member("m-1", &[("orders", &[0])], &[("orders", &[0])]),
                // Its target is not what it owns yet: no rows for the target.
                consumer_member("m-3", &[], &[("audit-log", &[0])]),
            ],
        );
        let mut offsets = BTreeMap::new();
        offsets.insert(TopicPartition::new("orders", 0), committed(10));
        // Partition 2 is owned by no one but still has an offset.
        offsets.insert(TopicPartition::new("orders", 2), committed(4));
        let mut leo = BTreeMap::new();
        for (p, end) in [(0, 12), (1, 7), (2, 4)] {
            leo.insert(TopicPartition::new("orders", p), Ok(end));
        }
        leo.insert(TopicPartition::new("audit-log", 0), Ok(0));
        assert_eq!(
            consumer_partitions_of(&desc, &offsets),
            vec![
                TopicPartition::new("audit-log", 0),
                TopicPartition::new("orders", 0),
                TopicPartition::new("orders", 1),
                TopicPartition::new("orders", 2),
            ]
        );
        let report = GroupReport::build_consumer(&desc, &offsets, &leo);
        assert!(report.warnings.is_empty(), "{:?}", report.warnings);
        assert_eq!(
            report.render(),
            "GROUP             payments\n\
             STATE             Reconciling\n\
             TYPE              consumer\n\
             ASSIGNOR          uniform\n\
             GROUP-EPOCH       8\n\
             ASSIGNMENT-EPOCH  7\n\
             MEMBERS           3\n\
             \n\
             TOPIC      PARTITION  CURRENT-OFFSET  LOG-END-OFFSET  LAG  CONSUMER-ID  HOST       CLIENT-ID\n\
             audit-log  0          -               0               -    m-2          /10.0.0.8  client-m-2\n\
             orders     0          10              12              2    m-1          /10.0.0.8  client-m-1\n\
             orders     1          -               7               -    m-2          /10.0.0.8  client-m-2\n\
             orders     2          4               4               0    -            -          -\n\
             -          -          -               -               -    m-3          /10.0.0.8  client-m-3\n"
        );
    }

    #[test]
    fn an_empty_consumer_group_with_offsets_lists_them_without_owners() {
        let mut desc = consumer_group("Empty", vec![]);
        desc.assignor_name = String::new();
        let mut offsets = BTreeMap::new();
        offsets.insert(TopicPartition::new("orders", 0), committed(3));
        let mut leo = BTreeMap::new();
        leo.insert(TopicPartition::new("orders", 0), Ok(5));
        let report = GroupReport::build_consumer(&desc, &offsets, &leo);
        assert_eq!(
            report.render(),
            "GROUP             payments\n\
             STATE             Empty\n\
             TYPE              consumer\n\
             ASSIGNOR          -\n\
             GROUP-EPOCH       8\n\
             ASSIGNMENT-EPOCH  7\n\
             MEMBERS           0\n\
             \n\
             TOPIC   PARTITION  CURRENT-OFFSET  LOG-END-OFFSET  LAG  CONSUMER-ID  HOST  CLIENT-ID\n\
             orders  0          3               5               2    -            -     -\n"
        );
        let nothing = GroupReport::build_consumer(&desc, &BTreeMap::new(), &BTreeMap::new());
        assert!(nothing.render().ends_with(
            "MEMBERS           0\n\nThe group has no committed offsets and no assigned partitions.\n"
        ));
    }

    #[test]
    fn partitions_of_unnamed_topics_are_warnings_not_rows() {
        let mut m = consumer_member("m-1", &[("orders", &[1, 0])], &[]);
        m.assignment.push(AssignedTopic {
            topic_id: [0xab; 16],
            topic_name: String::new(),
            partitions: vec![0, 2],
        });
        let desc = consumer_group("Stable", vec![m]);
        let (assigned, warnings) = consumer_assignments(&desc);
        assert_eq!(
            assigned,
            vec![(
                0,
                vec![
                    TopicPartition::new("orders", 0),
                    TopicPartition::new("orders", 1)
                ]
            )]
        );
        assert_eq!(
            warnings,
            vec![
                "member m-1: owns partitions 0,2 of topic id abababab-abab-abab-abab-abababababab, \
                 which the broker did not name (deleted?)"
                    .to_owned()
            ]
        );
        let report = GroupReport::build_consumer(&desc, &BTreeMap::new(), &BTreeMap::new());
        assert_eq!(report.warnings, warnings);
        assert_eq!(report.rows.len(), 2);
    }

    #[test]
    fn deletions_report_each_outcome() {
        assert_eq!(
            group_deletion("audit", &Ok(())),
            "Deletion of group audit succeeded"
        );
        assert_eq!(
            group_deletion("live", &Err(ErrorCode::NON_EMPTY_GROUP)),
            "Deletion of group live failed: NON_EMPTY_GROUP: the group has active members; stop them first"
        );
        let mut results = BTreeMap::new();
        results.insert(TopicPartition::new("orders", 0), Ok(()));
        results.insert(
            TopicPartition::new("orders", 1),
            Err(ErrorCode::GROUP_SUBSCRIBED_TO_TOPIC),
        );
        assert_eq!(
            offset_deletions(&results),
            "TOPIC   PARTITION  STATUS\n\
             orders  0          Successful\n\
             orders  1          Error: GROUP_SUBSCRIBED_TO_TOPIC: the group's members consume this topic; stop them first\n"
        );
    }
}
