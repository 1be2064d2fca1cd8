"""`strom transactions` (as kafka-transactions.sh) against a real broker and a real transactional
producer (confluent-kafka): list and describe an ongoing transaction and its producer, see it
complete, abort a transaction left open by its producer with `abort --start-offset` (an abort
marker from the partition leader: read_committed readers then skip its records and read on), and
the errors the tool reports (an unknown transactional id, find-hanging without a scope).

One broker; `__transaction_state` with one replica so its coordinator can start.
"""

from __future__ import annotations

import json
import subprocess
import time

import confluent_kafka as ck

from clients import CLIENT_TIMEOUT_S, consume, create_topic, unique, values, wait_for

CLI_S = 60.0
TXN_BROKER = {
    "transaction.state.log.replication.factor": "1",
    "transaction.state.log.min.isr": "1",
    "transaction.state.log.num.partitions": "2",
    "offsets.topic.replication.factor": "1",
}


def strom(b, *args: str, ok: bool = True):
    out = subprocess.run([str(b.binary), "transactions", *args, "--bootstrap-server", b.bootstrap],
                         capture_output=True, text=True, timeout=CLI_S)
    if ok:
        assert out.returncode == 0, f"strom transactions {' '.join(args)} exited {out.returncode}:\n" \
                                    f"{out.stdout}{out.stderr}"
    return out


def as_json(b, *args: str) -> dict:
    return json.loads(strom(b, *args, "--output", "json").stdout)


def txn_producer(bootstrap: str, transactional_id: str) -> ck.Producer:
    p = ck.Producer({"bootstrap.servers": bootstrap, "transactional.id": transactional_id, "linger.ms": 0,
                     "transaction.timeout.ms": 60000, "message.timeout.ms": 30000})
    p.init_transactions(CLIENT_TIMEOUT_S)
    return p


def produce_in_txn(p: ck.Producer, topic: str, vals: list[bytes]) -> list[int]:
    """Produce `vals` to partition 0 inside the open transaction; their offsets."""
    offsets: list[int] = []
    for v in vals:
        p.produce(topic, value=v, partition=0,
                  on_delivery=lambda err, msg: offsets.append(msg.offset()) if err is None else None)
    assert p.flush(CLIENT_TIMEOUT_S) == 0
    assert len(offsets) == len(vals), f"{len(offsets)} of {len(vals)} delivered"
    return sorted(offsets)


def test_list_describe_and_describe_producers_follow_a_transaction(broker_factory):
    b = broker_factory(TXN_BROKER)
    topic, tid = unique("txcli"), unique("tx")
    create_topic(b.bootstrap, topic, partitions=2)
    p = txn_producer(b.bootstrap, tid)
    p.begin_transaction()
    offsets = produce_in_txn(p, topic, [b"a", b"b"])
    assert offsets == [0, 1]

    listed = {t["transactionalId"]: t for t in as_json(b, "list")["transactions"]}
    assert tid in listed, listed
    assert listed[tid]["transactionState"] == "Ongoing"
    producer_id = listed[tid]["producerId"]
    assert producer_id >= 0

    d = as_json(b, "describe", "--transactional-id", tid)
    assert d["transactionalId"] == tid and d["producerId"] == producer_id
    assert d["transactionState"] == "Ongoing"
    assert d["topicPartitions"] == [f"{topic}-0"]
    assert d["transactionTimeoutMs"] == 60000
    assert d["currentTransactionStartTimeMs"] > 0 and d["transactionDurationMs"] >= 0

    producers = as_json(b, "describe-producers", "--topic", topic, "--partition", "0")["producers"]
    mine = [s for s in producers if s["producerId"] == producer_id]
    assert len(mine) == 1, producers
    assert mine[0]["currentTransactionStartOffset"] == 0
    assert mine[0]["lastSequence"] == 1

    # The table forms carry the same facts under Kafka's headers.
    table = strom(b, "describe", "--transactional-id", tid).stdout.splitlines()
    assert table[0].split() == ["CoordinatorId", "TransactionalId", "ProducerId", "ProducerEpoch", "TransactionState",
                                "TransactionTimeoutMs", "CurrentTransactionStartTimeMs", "TransactionDurationMs",
                                "TopicPartitions"]
    assert table[1].split()[1:3] == [tid, str(producer_id)]
    # Nothing hangs: the coordinator knows the transaction and its partition.
    hanging = as_json(b, "find-hanging", "--topic", topic, "--max-transaction-timeout", "0")
    assert [h for h in hanging["hangingTransactions"] if h["producerId"] == producer_id] == []

    p.commit_transaction(CLIENT_TIMEOUT_S)

    def completed() -> bool:
        return as_json(b, "describe", "--transactional-id", tid)["transactionState"] == "CompleteCommit"

    wait_for(completed, CLIENT_TIMEOUT_S, interval_s=0.2, what="CompleteCommit")
    d = as_json(b, "describe", "--transactional-id", tid)
    # Kafka keeps the ended transaction's start time (TransactionMetadata.prepareComplete keeps
    # txnStartTimestamp) and empties its partitions.
    assert d["topicPartitions"] == [] and d["producerId"] == producer_id
    producers = as_json(b, "describe-producers", "--topic", topic, "--partition", "0")["producers"]
    assert [s["currentTransactionStartOffset"] for s in producers if s["producerId"] == producer_id] == [None]
    assert values(consume(b.bootstrap, topic, isolation_level="read_committed")) == [b"a", b"b"]


def test_abort_by_start_offset_ends_an_open_transaction(broker_factory):
    b = broker_factory(TXN_BROKER)
    topic, tid = unique("txabort"), unique("tx")
    create_topic(b.bootstrap, topic)
    p = txn_producer(b.bootstrap, tid)
    p.begin_transaction()
    offsets = produce_in_txn(p, topic, [b"stuck-1", b"stuck-2"])
    start = offsets[0]

    # While open, read_committed stops before it (the last stable offset).
    assert consume(b.bootstrap, topic, isolation_level="read_committed") == []

    wrong = strom(b, "abort", "--topic", topic, "--partition", "0", "--start-offset", str(start + 1), ok=False)
    assert wrong.returncode == 1
    assert f"Could not find any open transactions starting at offset {start + 1}" in wrong.stderr

    out = as_json(b, "abort", "--topic", topic, "--partition", "0", "--start-offset", str(start))
    assert out["aborted"] is True and out["partition"] == 0

    producers = as_json(b, "describe-producers", "--topic", topic, "--partition", "0")["producers"]
    assert all(s["currentTransactionStartOffset"] is None for s in producers), producers
    # The aborted records are skipped by read_committed readers, and what follows is read.
    plain = ck.Producer({"bootstrap.servers": b.bootstrap, "linger.ms": 0})
    plain.produce(topic, value=b"after", partition=0)
    assert plain.flush(CLIENT_TIMEOUT_S) == 0
    assert values(consume(b.bootstrap, topic, isolation_level="read_committed")) == [b"after"]
    # librdkafka reads read_committed unless told otherwise.
    assert values(consume(b.bootstrap, topic, isolation_level="read_uncommitted")) == [b"stuck-1", b"stuck-2", b"after"]


def test_errors_are_reported(broker_factory):
    b = broker_factory(TXN_BROKER)
    out = strom(b, "describe", "--transactional-id", unique("nobody"), ok=False)
    assert out.returncode == 1
    assert "TRANSACTIONAL_ID_NOT_FOUND" in out.stderr
    out = strom(b, "find-hanging", ok=False)
    assert out.returncode == 1
    assert "requires either --topic or --broker-id" in out.stderr
    out = strom(b, "abort", "--topic", "t", "--partition", "0", ok=False)
    assert out.returncode == 1
    assert "either with --start-offset" in out.stderr
    started = time.monotonic()
    listed = as_json(b, "list")
    assert listed == {"transactions": []}
    assert time.monotonic() - started < CLI_S


def test_strom_consume_read_committed_skips_aborted_records_and_stops_at_the_last_stable_offset(broker_factory):
    b = broker_factory(TXN_BROKER)
    topic = unique("txrc")
    create_topic(b.bootstrap, topic, partitions=1)
    p = txn_producer(b.bootstrap, unique("tx"))
    for vals, commit in (([b"c1", b"c2"], True), ([b"a1", b"a2"], False), ([b"c3"], True)):
        p.begin_transaction()
        produce_in_txn(p, topic, vals)
        if commit:
            p.commit_transaction(CLIENT_TIMEOUT_S)
        else:
            p.abort_transaction(CLIENT_TIMEOUT_S)
    # An open transaction: read_committed stops before it, read_uncommitted reads it.
    p.begin_transaction()
    produce_in_txn(p, topic, [b"open"])

    def consume_cli(*extra: str) -> list[str]:
        out = subprocess.run([str(b.binary), "consume", "--topic", topic, "--from-beginning", "--exit-at-end",
                              "--timeout-ms", "20000", *extra, "--bootstrap-server", b.bootstrap],
                             capture_output=True, text=True, timeout=CLI_S)
        assert out.returncode == 0, out.stderr
        return out.stdout.splitlines()

    assert consume_cli("--isolation-level", "read_committed") == ["c1", "c2", "c3"]
    assert consume_cli("--consumer-property", "isolation.level=read_committed") == ["c1", "c2", "c3"]
    assert consume_cli() == ["c1", "c2", "a1", "a2", "c3", "open"]
    p.commit_transaction(CLIENT_TIMEOUT_S)
    assert consume_cli("--isolation-level", "read_committed") == ["c1", "c2", "c3", "open"]
