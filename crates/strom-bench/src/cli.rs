//! Command-line flags. Names follow Kafka's producer and consumer configs so a Kafka operator can
//! map each flag to the property it sets without reading this file.

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "strom-bench",
    version,
    about = "Benchmark a Kafka-compatible broker with librdkafka"
)]
pub struct Cli {
    /// Also print the summary as one JSON line on stdout (the human-readable line goes to stderr).
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Produce records and measure throughput and per-record delivery latency.
    Produce(ProduceArgs),
    /// Read a topic from the beginning of every partition and measure throughput.
    Consume(ConsumeArgs),
}

#[derive(Debug, Args)]
pub struct ProduceArgs {
    /// Broker address list, host:port[,host:port...] (`bootstrap.servers`).
    #[arg(long, default_value = "127.0.0.1:9092")]
    pub bootstrap_servers: String,
    #[arg(long, default_value = "bench")]
    pub topic: String,
    /// Partition count for --create-topic; the records themselves go to whatever partitions the
    /// topic has, spread by librdkafka's default partitioner.
    #[arg(long, default_value_t = 6)]
    pub partitions: i32,
    /// Replication factor for --create-topic.
    #[arg(long, default_value_t = 1)]
    pub replication_factor: i32,
    /// Create the topic first (an existing topic is accepted only if its partition count matches).
    #[arg(long)]
    pub create_topic: bool,
    /// Number of records to produce.
    #[arg(long, default_value_t = 1_000_000)]
    pub records: u64,
    /// Value size of each record in bytes.
    #[arg(long, default_value_t = 100)]
    pub record_size: usize,
    /// Key size in bytes; 0 sends records without a key.
    #[arg(long, default_value_t = 0)]
    pub key_size: usize,
    /// `acks`: 0 (no response), 1 (leader has it) or all (every in-sync replica has it).
    #[arg(long, value_enum, allow_hyphen_values = true, default_value_t = Acks::One)]
    pub acks: Acks,
    /// `compression.type`.
    #[arg(long, value_enum, default_value_t = Compression::None)]
    pub compression: Compression,
    /// Target send rate in records/s; 0 sends as fast as the client accepts. With a rate,
    /// latency is measured from each record's scheduled send time, so a stall shows up in the
    /// percentiles instead of silently slowing the sender (coordinated omission).
    #[arg(long, default_value_t = 0)]
    pub rate: u64,
    /// `linger.ms`.
    #[arg(long, default_value_t = 5)]
    pub linger_ms: u64,
    /// `batch.size` in bytes.
    #[arg(long, default_value_t = 1_000_000)]
    pub batch_size: u64,
    /// `delivery.timeout.ms`: a record not acknowledged within this fails the run.
    #[arg(long, default_value_t = 120_000)]
    pub delivery_timeout_ms: u64,
    /// Extra librdkafka producer properties, KEY=VALUE, applied last (e.g. enable.idempotence=true,
    /// debug=broker,protocol).
    #[arg(long = "producer-props", value_name = "KEY=VALUE", value_parser = parse_property)]
    pub producer_props: Vec<(String, String)>,
}

#[derive(Debug, Args)]
pub struct ConsumeArgs {
    /// Broker address list, host:port[,host:port...] (`bootstrap.servers`).
    #[arg(long, default_value = "127.0.0.1:9092")]
    pub bootstrap_servers: String,
    #[arg(long, default_value = "bench")]
    pub topic: String,
    /// Stop after this many records.
    #[arg(long, default_value_t = 1_000_000)]
    pub records: u64,
    /// `group.id`; only sent because librdkafka requires one. Offsets are never committed.
    #[arg(long, default_value = "strom-bench")]
    pub group_id: String,
    /// Give up when no record arrives for this long (the topic may hold fewer records than asked).
    #[arg(long, default_value_t = 30_000)]
    pub timeout_ms: u64,
    /// Extra librdkafka consumer properties, KEY=VALUE, applied last (e.g. fetch.max.bytes=...).
    #[arg(long = "consumer-props", value_name = "KEY=VALUE", value_parser = parse_property)]
    pub consumer_props: Vec<(String, String)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Acks {
    #[value(name = "0")]
    Zero,
    #[value(name = "1")]
    One,
    #[value(name = "all", alias = "-1")]
    All,
}

impl Acks {
    /// The value of librdkafka's `acks` property.
    pub fn as_config(self) -> &'static str {
        match self {
            Acks::Zero => "0",
            Acks::One => "1",
            Acks::All => "all",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Compression {
    None,
    Gzip,
    Snappy,
    Lz4,
    Zstd,
}

impl Compression {
    /// The value of librdkafka's `compression.type` property.
    pub fn as_config(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Snappy => "snappy",
            Compression::Lz4 => "lz4",
            Compression::Zstd => "zstd",
        }
    }
}

fn parse_property(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((key, value)) if !key.trim().is_empty() => {
            Ok((key.trim().to_owned(), value.to_owned()))
        }
        _ => Err(format!(
            "expected KEY=VALUE, e.g. enable.idempotence=true; got {s:?}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Cli {
        Cli::try_parse_from(std::iter::once("strom-bench").chain(args.iter().copied()))
            .expect("valid command line")
    }

    #[test]
    fn produce_flags_map_to_kafka_values() {
        let cli = parse(&[
            "--json",
            "produce",
            "--acks",
            "all",
            "--compression",
            "lz4",
            "--rate",
            "5000",
        ]);
        assert!(cli.json);
        let Command::Produce(args) = cli.command else {
            panic!("expected produce")
        };
        assert_eq!(args.acks.as_config(), "all");
        assert_eq!(args.compression.as_config(), "lz4");
        assert_eq!(args.rate, 5000);
        assert_eq!(args.partitions, 6);
        assert_eq!(args.record_size, 100);
    }

    #[test]
    fn acks_accepts_minus_one_as_all_and_rejects_two() {
        let Command::Produce(args) = parse(&["produce", "--acks", "-1"]).command else {
            panic!("expected produce")
        };
        assert_eq!(args.acks, Acks::All);
        assert!(Cli::try_parse_from(["strom-bench", "produce", "--acks", "2"]).is_err());
    }

    #[test]
    fn json_flag_is_accepted_after_the_subcommand() {
        let cli = parse(&["consume", "--records", "10", "--json"]);
        assert!(cli.json);
        let Command::Consume(args) = cli.command else {
            panic!("expected consume")
        };
        assert_eq!(args.records, 10);
    }

    #[test]
    fn extra_properties_split_on_the_first_equals_sign() {
        let Command::Produce(args) = parse(&[
            "produce",
            "--producer-props",
            "debug=broker,msg",
            "--producer-props",
            "a=b=c",
        ])
        .command
        else {
            panic!("expected produce")
        };
        assert_eq!(
            args.producer_props,
            vec![
                ("debug".into(), "broker,msg".into()),
                ("a".into(), "b=c".into())
            ]
        );
        assert!(
            Cli::try_parse_from(["strom-bench", "produce", "--producer-props", "novalue"]).is_err()
        );
    }
}
