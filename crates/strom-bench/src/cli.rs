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
    /// `transactional.id`: produce in transactions (which needs acks=all), committing every
    /// --transaction-records records and/or every --transaction-ms milliseconds.
    #[arg(long)]
    pub transactional_id: Option<String>,
    /// With --transactional-id: commit once a transaction holds this many records.
    #[arg(long, requires = "transactional_id", value_parser = clap::value_parser!(u64).range(1..))]
    pub transaction_records: Option<u64>,
    /// With --transactional-id: commit once a transaction has been open this long (checked
    /// between records, so the last record before the deadline still joins it).
    #[arg(long, requires = "transactional_id", value_parser = clap::value_parser!(u64).range(1..))]
    pub transaction_ms: Option<u64>,
    /// With --transactional-id: `transaction.timeout.ms`.
    #[arg(long, requires = "transactional_id", default_value_t = 60_000)]
    pub transaction_timeout_ms: u64,
}

/// When a transactional run commits: after `records` records or `ms` milliseconds, whichever
/// comes first (either may be absent, not both).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommitEvery {
    pub records: Option<u64>,
    pub ms: Option<u64>,
}

impl ProduceArgs {
    /// The transactional settings, checked against the rest of the command line: `None` for a
    /// plain (or idempotent, through --producer-props) run.
    pub fn transactions(&self) -> Result<Option<(&str, CommitEvery)>, String> {
        let Some(id) = self.transactional_id.as_deref() else {
            return Ok(None);
        };
        if id.is_empty() {
            return Err("--transactional-id must not be empty".into());
        }
        if self.acks != Acks::All {
            return Err(format!(
                "--transactional-id needs --acks all (a transactional producer is idempotent), not {}",
                self.acks.as_config()
            ));
        }
        let every = CommitEvery {
            records: self.transaction_records,
            ms: self.transaction_ms,
        };
        if every.records.is_none() && every.ms.is_none() {
            return Err(
                "--transactional-id needs --transaction-records N and/or --transaction-ms T (when to commit)"
                    .into(),
            );
        }
        Ok(Some((id, every)))
    }
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
    /// `isolation.level`: read_committed stops at the last stable offset and drops aborted
    /// records; read_uncommitted (Kafka's default, not librdkafka's) reads up to the high watermark.
    #[arg(long, value_enum, default_value_t = IsolationLevel::ReadUncommitted)]
    pub isolation_level: IsolationLevel,
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
pub enum IsolationLevel {
    #[value(name = "read_uncommitted")]
    ReadUncommitted,
    #[value(name = "read_committed")]
    ReadCommitted,
}

impl IsolationLevel {
    /// The value of librdkafka's (and Kafka's) `isolation.level` property.
    pub fn as_config(self) -> &'static str {
        match self {
            IsolationLevel::ReadUncommitted => "read_uncommitted",
            IsolationLevel::ReadCommitted => "read_committed",
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

    fn produce(args: &[&str]) -> ProduceArgs {
        match parse(
            &std::iter::once("produce")
                .chain(args.iter().copied())
                .collect::<Vec<_>>(),
        )
        .command
        {
            Command::Produce(args) => args,
            Command::Consume(_) => panic!("expected produce"),
        }
    }

    #[test]
    fn a_plain_run_has_no_transactions() {
        assert_eq!(produce(&[]).transactions(), Ok(None));
    }

    #[test]
    fn transactions_commit_every_n_records_or_t_ms_or_both() {
        let args = produce(&[
            "--transactional-id",
            "t1",
            "--acks",
            "all",
            "--transaction-records",
            "1000",
        ]);
        assert_eq!(
            args.transactions(),
            Ok(Some((
                "t1",
                CommitEvery {
                    records: Some(1000),
                    ms: None
                }
            )))
        );
        let args = produce(&[
            "--transactional-id",
            "t1",
            "--acks",
            "-1",
            "--transaction-ms",
            "100",
        ]);
        assert_eq!(
            args.transactions(),
            Ok(Some((
                "t1",
                CommitEvery {
                    records: None,
                    ms: Some(100)
                }
            )))
        );
        let args = produce(&[
            "--transactional-id",
            "t1",
            "--acks",
            "all",
            "--transaction-ms",
            "1000",
            "--transaction-records",
            "1",
        ]);
        assert_eq!(
            args.transactions(),
            Ok(Some((
                "t1",
                CommitEvery {
                    records: Some(1),
                    ms: Some(1000)
                }
            )))
        );
        assert_eq!(args.transaction_timeout_ms, 60_000);
    }

    #[test]
    fn transactions_need_acks_all_and_a_commit_interval() {
        let err = produce(&["--transactional-id", "t1", "--transaction-records", "10"])
            .transactions()
            .expect_err("acks=1 is the default");
        assert!(err.contains("--acks all"), "{err}");
        let err = produce(&["--transactional-id", "t1", "--acks", "all"])
            .transactions()
            .expect_err("no commit interval");
        assert!(err.contains("--transaction-records"), "{err}");
        let err = produce(&[
            "--transactional-id",
            "",
            "--acks",
            "all",
            "--transaction-ms",
            "5",
        ])
        .transactions()
        .expect_err("empty id");
        assert!(err.contains("empty"), "{err}");
    }

    #[test]
    fn commit_intervals_need_a_transactional_id_and_must_be_positive() {
        for args in [
            &["produce", "--transaction-records", "10"][..],
            &["produce", "--transaction-ms", "100"],
            &["produce", "--transaction-timeout-ms", "100"],
            &[
                "produce",
                "--transactional-id",
                "t",
                "--transaction-records",
                "0",
            ],
            &[
                "produce",
                "--transactional-id",
                "t",
                "--transaction-ms",
                "0",
            ],
        ] {
            assert!(
                Cli::try_parse_from(std::iter::once("strom-bench").chain(args.iter().copied()))
                    .is_err(),
                "{args:?} was accepted"
            );
        }
    }

    #[test]
    fn isolation_level_defaults_to_kafkas_read_uncommitted() {
        let Command::Consume(args) = parse(&["consume"]).command else {
            panic!("expected consume")
        };
        assert_eq!(args.isolation_level.as_config(), "read_uncommitted");
        let Command::Consume(args) =
            parse(&["consume", "--isolation-level", "read_committed"]).command
        else {
            panic!("expected consume")
        };
        assert_eq!(args.isolation_level, IsolationLevel::ReadCommitted);
        assert!(
            Cli::try_parse_from(["strom-bench", "consume", "--isolation-level", "committed"])
                .is_err()
        );
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
