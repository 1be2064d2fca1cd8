//! `strom offsets`: each partition's offset at a time, as
//! kafka-get-offsets.sh prints it (`topic:partition:offset`): the log end
//! (`--time latest`, the default), the log start (`earliest`), or the first
//! offset whose timestamp is at or after a time.

use std::process::ExitCode;

use clap::Args;
use strom_client::{Consumer, StartOffset, TopicPartition};

use crate::admin_cli::{emit, run_command, Connection};
use crate::consume::{consumer_config, parse_time};

#[derive(Args)]
pub struct OffsetsArgs {
    #[command(flatten)]
    connection: Connection,
    /// The topic (default: every topic but the internal ones).
    #[arg(long, short = 't')]
    topic: Option<String>,
    /// Only these partitions: a comma-separated list, e.g. 0,2.
    #[arg(long, value_delimiter = ',')]
    partitions: Vec<i32>,
    /// latest (-1), earliest (-2), or a time: milliseconds since the epoch or
    /// YYYY-MM-DDTHH:MM:SS[.sss][Z|±HH:MM].
    #[arg(long, default_value = "latest", allow_hyphen_values = true)]
    time: String,
}

pub fn run(args: OffsetsArgs) -> ExitCode {
    run_command(offsets(args))
}

async fn offsets(args: OffsetsArgs) -> Result<ExitCode, String> {
    let start = match args.time.as_str() {
        "latest" | "-1" => StartOffset::Latest,
        "earliest" | "-2" => StartOffset::Earliest,
        t => StartOffset::Timestamp(parse_time(t)?),
    };
    let hint = |e: strom_client::Error| {
        format!(
            "{e}; check that {} is a broker of the cluster (--bootstrap-server or STROM_BOOTSTRAP) and that the topic exists",
            args.connection.bootstrap_server
        )
    };
    let topics: Vec<String> = match &args.topic {
        Some(t) => vec![t.clone()],
        None => {
            let mut admin = args
                .connection
                .client(std::time::Duration::from_secs(30))
                .await?;
            let metadata = admin.metadata(None).await.map_err(hint)?;
            metadata
                .topics
                .iter()
                .filter(|(_, t)| !t.is_internal && t.error.is_none())
                .map(|(name, _)| name.clone())
                .collect()
        }
    };
    let config = consumer_config(&args.connection, None, &[])?;
    let mut consumer = Consumer::connect(config).await.map_err(hint)?;
    let mut wanted = Vec::new();
    for topic in &topics {
        for p in consumer.partitions(topic).await.map_err(hint)? {
            if args.partitions.is_empty() || args.partitions.contains(&p) {
                wanted.push((TopicPartition::new(topic.clone(), p), start));
            }
        }
    }
    for p in &args.partitions {
        if !wanted.iter().any(|(tp, _)| tp.partition == *p) {
            return Err(format!(
                "no partition {p} in {}; see `strom topics describe`",
                topics.join(", ")
            ));
        }
    }
    let offsets = consumer.list_offsets(&wanted).await.map_err(hint)?;
    let text = if args.connection.json() {
        let items: Vec<serde_json::Value> = offsets
            .iter()
            .map(|(tp, o)| serde_json::json!({"topic": tp.topic, "partition": tp.partition, "offset": o}))
            .collect();
        format!("{}\n", serde_json::Value::Array(items))
    } else {
        offsets
            .iter()
            .map(|(tp, o)| format!("{}:{}:{o}\n", tp.topic, tp.partition))
            .collect()
    };
    emit(&text);
    Ok(ExitCode::SUCCESS)
}
