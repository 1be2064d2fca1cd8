"""A consume-transform-produce processor with exactly-once semantics, run as a child process of
test_transactions.py (so a test can SIGKILL it mid-transaction, as a crashing application dies).

    python txn_processor.py CONFIG_JSON

CONFIG_JSON: {"bootstrap", "group", "input", "output", "transactional_id", "batch", "delay_s",
"session_timeout_ms"}. It joins `group` (classic protocol, read_committed) subscribed to `input`,
and for every batch it polls: begins a transaction, produces `out-<value>` to `output` keyed
`<input partition>:<input offset>`, adds the batch's next offsets to the transaction
(send_offsets_to_transaction with the consumer's group metadata, KIP-447) and commits. An
abortable error aborts and rewinds the consumer to the group's committed offsets; a fatal one
(fenced by a newer instance) exits 3. One JSON line per event on stdout:
    {"event": "ready"}                                  after init_transactions
    {"event": "assigned", "partitions": [..]}           after each rebalance
    {"event": "committed", "records": N}                after each committed transaction
    {"event": "aborted", "error": "..."}                after an abortable error
    {"event": "fatal", "error": "..."}                  then exit 3
"""

from __future__ import annotations

import json
import sys
import time

import confluent_kafka as ck

TIMEOUT_S = 30.0


def emit(**event) -> None:
    print(json.dumps(event), flush=True)


def rewind(consumer: ck.Consumer) -> None:
    """After an abort the consumer's positions are past records whose outputs were thrown away:
    go back to what the group has committed (the last committed transaction's offsets)."""
    assigned = consumer.assignment()
    if not assigned:
        return
    for tp in consumer.committed(assigned, timeout=TIMEOUT_S):
        offset = tp.offset if tp.offset >= 0 else ck.OFFSET_BEGINNING
        consumer.seek(ck.TopicPartition(tp.topic, tp.partition, offset))


def run(config: dict) -> int:
    consumer = ck.Consumer({
        "bootstrap.servers": config["bootstrap"],
        "group.id": config["group"],
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "isolation.level": "read_committed",
        "session.timeout.ms": config.get("session_timeout_ms", 6000),
        "heartbeat.interval.ms": 500,
        "fetch.wait.max.ms": 100,
    })
    producer = ck.Producer({
        "bootstrap.servers": config["bootstrap"],
        "transactional.id": config["transactional_id"],
        "linger.ms": 5,
    })
    producer.init_transactions(TIMEOUT_S)
    emit(event="ready")

    def on_assign(c, partitions):
        emit(event="assigned", partitions=sorted(tp.partition for tp in partitions))

    consumer.subscribe([config["input"]], on_assign=on_assign)
    output = config["output"]
    while True:
        batch = [m for m in consumer.consume(num_messages=config["batch"], timeout=0.2) if m.error() is None]
        if not batch:
            continue
        next_offsets: dict[tuple[str, int], int] = {}
        for m in batch:
            next_offsets[(m.topic(), m.partition())] = m.offset() + 1
        try:
            producer.begin_transaction()
            for m in batch:
                producer.produce(output, key=f"{m.partition()}:{m.offset()}".encode(), value=b"out-" + m.value())
            producer.send_offsets_to_transaction(
                [ck.TopicPartition(t, p, o) for (t, p), o in next_offsets.items()],
                consumer.consumer_group_metadata(), TIMEOUT_S)
            commit(producer)
            emit(event="committed", records=len(batch))
        except ck.KafkaException as e:
            err = e.args[0]
            if err.fatal() or not err.txn_requires_abort():
                emit(event="fatal", error=err.str(), code=err.code())
                return 3
            emit(event="aborted", error=err.str(), code=err.code())
            producer.abort_transaction(TIMEOUT_S)
            rewind(consumer)
        time.sleep(config.get("delay_s", 0.0))


def commit(producer: ck.Producer) -> None:
    """commit_transaction, retried while librdkafka calls its error retriable (as its docs ask)."""
    deadline = time.monotonic() + TIMEOUT_S
    while True:
        try:
            producer.commit_transaction(TIMEOUT_S)
            return
        except ck.KafkaException as e:
            if not e.args[0].retriable() or time.monotonic() > deadline:
                raise


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(f"usage: {sys.argv[0]} CONFIG_JSON")
    sys.exit(run(json.loads(sys.argv[1])))
