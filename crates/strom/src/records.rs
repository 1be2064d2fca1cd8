//! `strom records delete`: kafka-delete-records.sh over DeleteRecords. The
//! offsets come in Kafka's JSON file:
//! `{"partitions": [{"topic": "t", "partition": 0, "offset": 3}], "version": 1}`
//! (offset -1: up to the high watermark).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};
use strom_client::TopicPartition;

use crate::admin_cli::{emit, run_command, Connection};

#[derive(Args)]
pub struct RecordsArgs {
    #[command(flatten)]
    connection: Connection,
    #[command(subcommand)]
    command: RecordsCommand,
}

#[derive(Subcommand)]
enum RecordsCommand {
    /// Delete the records before the given offsets (the log start moves up).
    Delete {
        /// Kafka's offsets file: {"partitions":[{"topic":"t","partition":0,"offset":3}],"version":1}
        #[arg(long, value_name = "FILE")]
        offset_json_file: PathBuf,
    },
}

pub fn run(args: RecordsArgs) -> ExitCode {
    run_command(delete(args))
}

fn parse_offsets(text: &str) -> Result<BTreeMap<TopicPartition, i64>, String> {
    let v: serde_json::Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let partitions = v
        .get("partitions")
        .and_then(|p| p.as_array())
        .ok_or_else(|| "expected {\"partitions\": [...]}".to_owned())?;
    let mut out = BTreeMap::new();
    for (i, p) in partitions.iter().enumerate() {
        let topic = p.get("topic").and_then(|t| t.as_str());
        let partition = p.get("partition").and_then(|t| t.as_i64());
        let offset = p.get("offset").and_then(|t| t.as_i64());
        match (topic, partition, offset) {
            (Some(t), Some(part), Some(o)) if i32::try_from(part).is_ok() && o >= -1 => {
                let tp = TopicPartition::new(t, part as i32);
                if out.insert(tp.clone(), o).is_some() {
                    return Err(format!("partition {tp} is listed twice"));
                }
            }
            _ => {
                return Err(format!(
                    "partitions[{i}]: expected {{\"topic\": string, \"partition\": int, \"offset\": int >= -1}}"
                ))
            }
        }
    }
    if out.is_empty() {
        return Err("the file lists no partitions".to_owned());
    }
    Ok(out)
}

async fn delete(args: RecordsArgs) -> Result<ExitCode, String> {
    let RecordsCommand::Delete { offset_json_file } = &args.command;
    let text = std::fs::read_to_string(offset_json_file)
        .map_err(|e| format!("reading {}: {e}", offset_json_file.display()))?;
    let offsets =
        parse_offsets(&text).map_err(|e| format!("{}: {e}", offset_json_file.display()))?;
    let mut admin = args.connection.client(Duration::from_secs(60)).await?;
    let results = admin
        .delete_records(&offsets)
        .await
        .map_err(|e| format!("{e}; check that the topics exist"))?;
    let mut failed = 0;
    let text = if args.connection.json() {
        let items: Vec<serde_json::Value> = results
            .iter()
            .map(|(tp, r)| match r {
                Ok(lw) => serde_json::json!({"topic": tp.topic, "partition": tp.partition, "low_watermark": lw}),
                Err(code) => {
                    failed += 1;
                    serde_json::json!({"topic": tp.topic, "partition": tp.partition, "error": code.name()})
                }
            })
            .collect();
        format!("{}\n", serde_json::Value::Array(items))
    } else {
        let mut t =
            "Executing records delete operation\nRecords delete operation completed:\n".to_owned();
        for (tp, r) in &results {
            match r {
                Ok(lw) => t.push_str(&format!("partition: {tp}\tlow_watermark: {lw}\n")),
                Err(code) => {
                    failed += 1;
                    t.push_str(&format!("partition: {tp}\terror: {code}\n"));
                }
            }
        }
        t
    };
    emit(&text);
    if failed > 0 {
        return Err(format!(
            "{failed} of {} partitions failed (OFFSET_OUT_OF_RANGE: the offset is past the high watermark)",
            results.len()
        ));
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kafkas_offsets_file_parses_and_bad_entries_are_named() {
        let o = parse_offsets(
            r#"{"partitions":[{"topic":"t","partition":1,"offset":3},{"topic":"t","partition":0,"offset":-1}],"version":1}"#,
        )
        .unwrap();
        assert_eq!(o[&TopicPartition::new("t", 1)], 3);
        assert_eq!(o[&TopicPartition::new("t", 0)], -1);
        assert!(
            parse_offsets(r#"{"partitions":[{"topic":"t","partition":0}]}"#)
                .unwrap_err()
                .starts_with("partitions[0]")
        );
        assert!(parse_offsets(r#"{"partitions":[]}"#).is_err());
        assert!(parse_offsets(
            r#"{"partitions":[{"topic":"t","partition":0,"offset":1},{"topic":"t","partition":0,"offset":2}]}"#
        )
        .unwrap_err()
        .contains("twice"));
    }
}
