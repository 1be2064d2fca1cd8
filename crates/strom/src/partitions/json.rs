//! The JSON files of kafka-reassign-partitions.sh and
//! kafka-leader-election.sh, read and written in Kafka's formats:
//!
//! - topics to move: `{"version":1,"topics":[{"topic":"foo"}]}`
//! - a reassignment: `{"version":1,"partitions":[{"topic":"foo","partition":0,"replicas":[1,2],"log_dirs":["any","any"]}]}`
//! - partitions to elect: `{"partitions":[{"topic":"foo","partition":1}]}`

use std::collections::BTreeSet;

use serde_json::Value;

use super::plan::Assignment;

/// The only `log_dirs` entry Strom takes: the broker picks the directory.
const ANY_LOG_DIR: &str = "any";

fn parse(text: &str) -> Result<Value, String> {
    serde_json::from_str(text).map_err(|e| format!("the input is not valid JSON: {e}"))
}

fn version(doc: &Value) -> Result<(), String> {
    match doc.get("version") {
        None => Ok(()),
        Some(v) if v.as_i64() == Some(1) => Ok(()),
        Some(v) => Err(format!(
            "version {v} is not supported; the format is version 1"
        )),
    }
}

fn field<'a>(item: &'a Value, name: &str, what: &str) -> Result<&'a Value, String> {
    item.get(name)
        .ok_or_else(|| format!("{what} has no \"{name}\" field: {item}"))
}

fn string(item: &Value, name: &str, what: &str) -> Result<String, String> {
    field(item, name, what)?
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("\"{name}\" of {what} is not a string: {item}"))
}

fn int(value: &Value, what: &str) -> Result<i32, String> {
    value
        .as_i64()
        .and_then(|v| i32::try_from(v).ok())
        .ok_or_else(|| format!("{what} is not a 32-bit integer: {value}"))
}

fn array<'a>(doc: &'a Value, name: &str) -> Result<&'a Vec<Value>, String> {
    doc.get(name)
        .ok_or_else(|| format!("the JSON has no \"{name}\" field"))?
        .as_array()
        .ok_or_else(|| format!("\"{name}\" is not an array"))
}

/// The topics of a `--topics-to-move-json-file`, without duplicates.
pub fn topics_to_move(text: &str) -> Result<Vec<String>, String> {
    let doc = parse(text)?;
    version(&doc)?;
    let mut topics = Vec::new();
    for item in array(&doc, "topics")? {
        let topic = string(item, "topic", "a topic")?;
        if topics.contains(&topic) {
            return Err(format!("the list of topics to move contains {topic} twice"));
        }
        topics.push(topic);
    }
    if topics.is_empty() {
        return Err("the list of topics to move is empty".to_owned());
    }
    Ok(topics)
}

/// The target replicas of a `--reassignment-json-file`, checked as Kafka
/// checks them: not empty, each partition once, no broker twice in one
/// partition, `log_dirs` (if given) one per replica.
pub fn reassignment(text: &str) -> Result<Assignment, String> {
    let doc = parse(text)?;
    version(&doc)?;
    let mut out = Assignment::new();
    let partitions = array(&doc, "partitions")?;
    if partitions.is_empty() {
        return Err("the partition reassignment list is empty".to_owned());
    }
    for item in partitions {
        let topic = string(item, "topic", "a partition")?;
        let partition = int(field(item, "partition", "a partition")?, "\"partition\"")?;
        let replicas = field(item, "replicas", "a partition")?
            .as_array()
            .ok_or_else(|| format!("\"replicas\" of {topic}-{partition} is not an array"))?
            .iter()
            .map(|r| int(r, "a replica"))
            .collect::<Result<Vec<i32>, String>>()?;
        if replicas.is_empty() {
            return Err(format!("the replica list of {topic}-{partition} is empty"));
        }
        if replicas.iter().collect::<BTreeSet<_>>().len() != replicas.len() {
            return Err(format!(
                "the replica list of {topic}-{partition} contains duplicate entries: {replicas:?}"
            ));
        }
        if let Some(dirs) = item.get("log_dirs") {
            let dirs = dirs
                .as_array()
                .ok_or_else(|| format!("\"log_dirs\" of {topic}-{partition} is not an array"))?;
            if dirs.len() != replicas.len() {
                return Err(format!(
                    "{topic}-{partition} has {} log_dirs for {} replicas",
                    dirs.len(),
                    replicas.len()
                ));
            }
            if dirs.iter().any(|d| d.as_str() != Some(ANY_LOG_DIR)) {
                return Err(format!(
                    "{topic}-{partition} names log directories; moving replicas between a broker's directories is not supported, use \"any\""
                ));
            }
        }
        if out.insert((topic.clone(), partition), replicas).is_some() {
            return Err(format!(
                "the reassignment contains {topic}-{partition} twice"
            ));
        }
    }
    Ok(out)
}

/// The partitions of a leader election `--path-to-json-file`.
pub fn election_partitions(text: &str) -> Result<BTreeSet<(String, i32)>, String> {
    let doc = parse(text)?;
    let mut out = BTreeSet::new();
    for item in array(&doc, "partitions")? {
        let topic = string(item, "topic", "a partition")?;
        let partition = int(field(item, "partition", "a partition")?, "\"partition\"")?;
        if !out.insert((topic.clone(), partition)) {
            return Err(format!(
                "the election data contains {topic}-{partition} twice"
            ));
        }
    }
    Ok(out)
}

/// An assignment as Kafka's tools print it: one line, partitions in order,
/// `log_dirs` all "any".
pub fn format_assignment(assignment: &Assignment) -> String {
    let partitions: Vec<String> = assignment
        .iter()
        .map(|((topic, partition), replicas)| {
            let ids: Vec<String> = replicas.iter().map(i32::to_string).collect();
            let dirs = vec![format!("\"{ANY_LOG_DIR}\""); replicas.len()];
            format!(
                "{{\"topic\":{},\"partition\":{partition},\"replicas\":[{}],\"log_dirs\":[{}]}}",
                Value::String(topic.clone()),
                ids.join(","),
                dirs.join(",")
            )
        })
        .collect();
    format!(
        "{{\"version\":1,\"partitions\":[{}]}}",
        partitions.join(",")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reassignments_round_trip_in_kafkas_format() {
        let text = r#"{"version":1,"partitions":[{"topic":"b","partition":1,"replicas":[2,3],"log_dirs":["any","any"]},{"topic":"a","partition":0,"replicas":[3]}]}"#;
        let a = reassignment(text).unwrap();
        assert_eq!(a[&("a".to_owned(), 0)], vec![3]);
        assert_eq!(a[&("b".to_owned(), 1)], vec![2, 3]);
        assert_eq!(
            format_assignment(&a),
            r#"{"version":1,"partitions":[{"topic":"a","partition":0,"replicas":[3],"log_dirs":["any"]},{"topic":"b","partition":1,"replicas":[2,3],"log_dirs":["any","any"]}]}"#
        );
        assert_eq!(reassignment(&format_assignment(&a)).unwrap(), a);
    }

    #[test]
    fn bad_reassignments_are_refused_with_the_reason() {
        let cases = [
            ("{", "not valid JSON"),
            (r#"{"version":2,"partitions":[]}"#, "version 2"),
            (r#"{"version":1,"partitions":[]}"#, "is empty"),
            (
                r#"{"partitions":[{"topic":"a","partition":0,"replicas":[]}]}"#,
                "replica list of a-0 is empty",
            ),
            (
                r#"{"partitions":[{"topic":"a","partition":0,"replicas":[1,1]}]}"#,
                "duplicate",
            ),
            (
                r#"{"partitions":[{"topic":"a","partition":0,"replicas":[1]},{"topic":"a","partition":0,"replicas":[2]}]}"#,
                "a-0 twice",
            ),
            (
                r#"{"partitions":[{"topic":"a","partition":0,"replicas":[1],"log_dirs":["/d"]}]}"#,
                "\"any\"",
            ),
            (
                r#"{"partitions":[{"topic":"a","partition":0,"replicas":[1,2],"log_dirs":["any"]}]}"#,
                "1 log_dirs for 2",
            ),
            (
                r#"{"partitions":[{"topic":"a","replicas":[1]}]}"#,
                "no \"partition\"",
            ),
            (
                r#"{"partitions":[{"topic":"a","partition":"x","replicas":[1]}]}"#,
                "not a 32-bit integer",
            ),
        ];
        for (text, expected) in cases {
            let err = reassignment(text).unwrap_err();
            assert!(err.contains(expected), "{text}: {err}");
        }
    }

    #[test]
    fn topics_to_move_and_election_partitions() {
        assert_eq!(
            topics_to_move(r#"{"version":1,"topics":[{"topic":"a"},{"topic":"b"}]}"#).unwrap(),
            vec!["a".to_owned(), "b".to_owned()]
        );
        assert!(topics_to_move(r#"{"topics":[{"topic":"a"},{"topic":"a"}]}"#).is_err());
        assert!(topics_to_move(r#"{"topics":[]}"#).is_err());
        let p = election_partitions(
            r#"{"partitions":[{"topic":"a","partition":1},{"topic":"b","partition":0}]}"#,
        )
        .unwrap();
        assert_eq!(p.len(), 2);
        assert!(p.contains(&("a".to_owned(), 1)));
        assert!(election_partitions(
            r#"{"partitions":[{"topic":"a","partition":1},{"topic":"a","partition":1}]}"#
        )
        .is_err());
        assert!(election_partitions(r#"{"topics":[]}"#).is_err());
    }
}
