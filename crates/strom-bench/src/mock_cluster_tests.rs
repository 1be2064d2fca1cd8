//! Whole runs against librdkafka's built-in mock cluster: real sockets on 127.0.0.1 and the real
//! Kafka protocol, no external broker. The mock has no CreateTopics, so topics are made through
//! its own API and `--create-topic` is left to `scripts/bench` against a real broker.

use clap::Parser;
use rdkafka::mocking::MockCluster;
use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};

use crate::cli::{Cli, Command, ConsumeArgs, ProduceArgs};
use crate::{consume, produce};

fn produce_args(bootstrap: &str, extra: &[&str]) -> ProduceArgs {
    let argv = ["strom-bench", "produce", "--bootstrap-servers", bootstrap];
    match Cli::try_parse_from(argv.into_iter().chain(extra.iter().copied()))
        .expect("valid command line")
        .command
    {
        Command::Produce(args) => args,
        Command::Consume(_) => panic!("expected produce"),
    }
}

fn consume_args(bootstrap: &str, extra: &[&str]) -> ConsumeArgs {
    let argv = ["strom-bench", "consume", "--bootstrap-servers", bootstrap];
    match Cli::try_parse_from(argv.into_iter().chain(extra.iter().copied()))
        .expect("valid command line")
        .command
    {
        Command::Consume(args) => args,
        Command::Produce(_) => panic!("expected consume"),
    }
}

#[test]
fn records_produced_to_every_partition_are_all_consumed_back() {
    let cluster = MockCluster::new(1).expect("mock cluster");
    cluster.create_topic("bench", 6, 1).expect("mock topic");
    let bootstrap = cluster.bootstrap_servers();

    let produced = produce::run(&produce_args(
        &bootstrap,
        &[
            "--topic",
            "bench",
            "--records",
            "3000",
            "--record-size",
            "50",
        ],
    ))
    .expect("produce run");
    assert_eq!(produced.records, 3000);
    assert_eq!(produced.bytes, 3000 * 50);
    let latency = produced.produce.as_ref().expect("produce details");
    assert!(
        latency.p50_ms > 0.0
            && latency.p50_ms <= latency.p99_ms
            && latency.p99_ms <= latency.max_ms,
        "{latency:?}"
    );

    let consumed = consume::run(&consume_args(
        &bootstrap,
        &["--topic", "bench", "--records", "3000"],
    ))
    .expect("consume run");
    assert_eq!(consumed.records, 3000);
    assert_eq!(consumed.bytes, 3000 * 50);
    assert!(consumed.produce.is_none());
}

#[test]
fn keyed_compressed_rate_limited_records_take_at_least_the_scheduled_time() {
    let cluster = MockCluster::new(1).expect("mock cluster");
    cluster.create_topic("keyed", 3, 1).expect("mock topic");
    let bootstrap = cluster.bootstrap_servers();
    let args = [
        "--topic",
        "keyed",
        "--records",
        "200",
        "--key-size",
        "16",
        "--acks",
        "all",
        "--compression",
        "lz4",
        "--rate",
        "1000",
    ];

    let produced = produce::run(&produce_args(&bootstrap, &args)).expect("produce run");

    assert_eq!(produced.records, 200);
    assert_eq!(produced.bytes, 200 * (100 + 16));
    // Record 199 is due 199 ms after the start.
    assert!(
        produced.elapsed_s >= 0.199,
        "elapsed {}",
        produced.elapsed_s
    );
    assert_eq!(produced.produce.as_ref().map(|p| p.rate), Some(1000));
}

#[test]
fn a_delivery_error_fails_the_run_with_the_brokers_error() {
    let cluster = MockCluster::new(1).expect("mock cluster");
    cluster.create_topic("denied", 1, 1).expect("mock topic");
    let denied = RDKafkaRespErr::RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED;
    cluster.request_errors(RDKafkaApiKey::Produce, &[denied; 10]);

    let result = produce::run(&produce_args(
        &cluster.bootstrap_servers(),
        &["--topic", "denied", "--records", "100"],
    ));

    let error = format!(
        "{:#}",
        result.expect_err("the broker refuses every produce")
    );
    assert!(error.contains("failed delivery"), "{error}");
    assert!(error.contains("Topic authorization failed"), "{error}");
}

#[test]
fn consuming_more_records_than_the_topic_holds_gives_up_after_the_idle_timeout() {
    let cluster = MockCluster::new(1).expect("mock cluster");
    cluster.create_topic("short", 2, 1).expect("mock topic");
    let bootstrap = cluster.bootstrap_servers();
    produce::run(&produce_args(
        &bootstrap,
        &["--topic", "short", "--records", "10"],
    ))
    .expect("produce run");

    let result = consume::run(&consume_args(
        &bootstrap,
        &[
            "--topic",
            "short",
            "--records",
            "11",
            "--timeout-ms",
            "1000",
        ],
    ));

    let error = format!("{:#}", result.expect_err("only 10 records exist"));
    assert!(error.contains("after 10 of 11 records"), "{error}");
}

#[test]
fn a_transactional_run_commits_every_n_records_and_reports_its_transactions() {
    let cluster = MockCluster::new(1).expect("mock cluster");
    cluster.create_topic("txn", 3, 1).expect("mock topic");
    let bootstrap = cluster.bootstrap_servers();

    let produced = produce::run(&produce_args(
        &bootstrap,
        &[
            "--topic",
            "txn",
            "--records",
            "1050",
            "--acks",
            "all",
            "--transactional-id",
            "bench-txn",
            "--transaction-records",
            "100",
        ],
    ))
    .expect("transactional produce run");

    assert_eq!(produced.records, 1050);
    let txns = produced.transactions.as_ref().expect("transaction details");
    // Ten full transactions and the last 50 records in an eleventh.
    assert_eq!(txns.transactions, 11);
    assert!(
        txns.commit_p50_ms > 0.0 && txns.commit_p50_ms <= txns.commit_max_ms,
        "{txns:?}"
    );
    // (The mock writes no markers and ignores the isolation level: this checks the flag's path.)
    let consumed = consume::run(&consume_args(
        &bootstrap,
        &[
            "--topic",
            "txn",
            "--records",
            "1050",
            "--isolation-level",
            "read_committed",
        ],
    ))
    .expect("consume run");
    assert_eq!(consumed.records, 1050);
    assert_eq!(consumed.isolation_level, Some("read_committed"));
}

#[test]
fn a_transactional_run_by_time_commits_no_more_often_than_asked() {
    let cluster = MockCluster::new(1).expect("mock cluster");
    cluster.create_topic("txn-time", 1, 1).expect("mock topic");

    let produced = produce::run(&produce_args(
        &cluster.bootstrap_servers(),
        &[
            "--topic",
            "txn-time",
            "--records",
            "300",
            "--rate",
            "1000",
            "--acks",
            "all",
            "--transactional-id",
            "bench-txn-time",
            "--transaction-ms",
            "50",
        ],
    ))
    .expect("transactional produce run");

    let txns = produced.transactions.as_ref().expect("transaction details");
    let most = (produced.elapsed_s * 1000.0 / 50.0).floor() as u64 + 1;
    assert!(
        (2..=most).contains(&txns.transactions),
        "{} transactions in {} s of 50 ms transactions",
        txns.transactions,
        produced.elapsed_s
    );
}

#[test]
fn a_failed_commit_fails_the_run() {
    let cluster = MockCluster::new(1).expect("mock cluster");
    cluster
        .create_topic("txn-denied", 1, 1)
        .expect("mock topic");
    let denied = RDKafkaRespErr::RD_KAFKA_RESP_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED;
    cluster.request_errors(RDKafkaApiKey::EndTxn, &[denied; 5]);

    let result = produce::run(&produce_args(
        &cluster.bootstrap_servers(),
        &[
            "--topic",
            "txn-denied",
            "--records",
            "20",
            "--acks",
            "all",
            "--transactional-id",
            "bench-txn-denied",
            "--transaction-records",
            "10",
            "--transaction-timeout-ms",
            "10000",
        ],
    ));

    let error = format!("{:#}", result.expect_err("the coordinator refuses EndTxn"));
    assert!(
        error.contains("commit_transaction of transaction 1"),
        "{error}"
    );
}
