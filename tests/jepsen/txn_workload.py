"""The transactional workload (`run.py --workload txn`), read by txn_checker.py.

Transactional producers `t<i>` (confluent-kafka, `transactional.id` jepsen-t<i>, the same id across
incarnations so a replaced instance fences the old one): each transaction writes 1-4 unique values
`t<i>-<n>` to seeded partitions, then commits (or, with probability `abort_ratio`, aborts). Every
transaction is recorded when its outcome is known to the client: "commit" when commit_transaction()
returned, "abort" when abort_transaction() returned, "info" otherwise (a timeout or a fatal error:
it may have committed). A `txn-commit` event is written just before commit_transaction() is called.

Consume-transform-produce workers `x<i>` (one group, read_committed, offsets committed in the
transaction with send_offsets_to_transaction): each transaction polls a batch, writes
`x<i>-<n>:<source>` for every `t` value it read, and commits. The reads of the transaction are part
of its `txn` event. After an abort, or a rebalance, the worker goes back to the group's committed
offsets (a `reset`).

Read-committed consumers `r<i>` assign every partition from the beginning and record every record
with the consume() call (`batch`) it came in.

The final read is read_committed too (workload.final_read with `isolation.level`).

Every wait is bounded; workers are daemon threads.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass

import confluent_kafka as ck

from workload import Workload, error_text

READ_BATCH = 10000  # read_committed consumers: a consume() call rarely fills this (see G1b)
CTP_BATCH = 50


@dataclass
class TxnWorkload(Workload):
    abort_ratio: float = 0.2
    txn_timeout_ms: int = 10000
    api_timeout_s: float = 15.0

    def producer_config(self, transactional_id: str, on_error) -> dict:
        return {**self.client_config(), "transactional.id": transactional_id, "acks": "all",
                "enable.idempotence": True, "linger.ms": 2, "transaction.timeout.ms": self.txn_timeout_ms,
                "message.timeout.ms": min(self.message_timeout_ms, self.txn_timeout_ms), "request.timeout.ms": 5000,
                "retry.backoff.ms": 100, "retry.backoff.max.ms": 1000, "socket.connection.setup.timeout.ms": 5000,
                "topic.metadata.refresh.interval.ms": 2000, "error_cb": on_error}


def poll_events(p: ck.Producer, fatal: list[str]) -> None:
    """Serves the producer's callbacks. poll() raises the producer's fatal error (e.g. _FENCED after
    the coordinator aborted a timed-out transaction with an epoch bump): that ends this instance, and
    the worker starts a new one, as an application would."""
    try:
        p.poll(0)
    except ck.KafkaException as e:
        fatal.append(error_text(e.args[0]))


def end_transaction(h, p: ck.Producer, txn: str, commit: bool, timeout_s: float) -> tuple[str, str | None]:
    """Commits (or aborts) the open transaction: ("commit" | "abort" | "info", error). A retriable
    error is retried (bounded); one that requires an abort is aborted; anything else is unknown."""
    error = None
    deadline = time.monotonic() + 3 * timeout_s
    if commit:
        h.add("txn-commit", txn=txn)
        while time.monotonic() < deadline:
            try:
                p.commit_transaction(timeout_s)
                return "commit", None
            except ck.KafkaException as e:
                err = e.args[0]
                error = error_text(err)
                if err.retriable():
                    continue
                if err.txn_requires_abort():
                    break  # the commit failed for sure: abort below
                return "info", error
        else:
            return "info", error or "commit timed out"
    while time.monotonic() < deadline:
        try:
            p.abort_transaction(timeout_s)
            return "abort", error
        except ck.KafkaException as e:
            err = e.args[0]
            error = error_text(err)
            if not err.retriable():
                return "info", error
    return "info", error or "abort timed out"


class TxnProducerWorker(threading.Thread):
    def __init__(self, w: TxnWorkload, name: str) -> None:
        super().__init__(name=name, daemon=True)
        self.w = w
        self.rng = random.Random(f"{w.seed}-{name}")
        self.stop = threading.Event()
        self.sent = 0

    def run(self) -> None:
        h, n, incarnation, t = self.w.history, 0, 0, 0
        while not self.stop.is_set():
            process = f"{self.name}.{incarnation}"
            fatal: list[str] = []

            def on_error(err: ck.KafkaError) -> None:
                h.add("client-error", process=process, error=error_text(err), fatal=err.fatal())
                if err.fatal():
                    fatal.append(error_text(err))

            p = ck.Producer(self.w.producer_config(f"jepsen-{self.name}", on_error))
            try:
                p.init_transactions(self.w.api_timeout_s)
                h.add("producer-start", process=process)
            except ck.KafkaException as e:
                h.add("producer-stop", process=process, fatal=[error_text(e.args[0])])
                incarnation += 1
                self.stop.wait(1.0)
                continue
            while not self.stop.is_set() and not fatal:
                txn = f"{process}:{t}"
                t += 1
                writes: list[dict] = []
                offsets: dict[int, int] = {}

                def report(i: int):
                    def cb(err, msg) -> None:
                        if err is None:
                            offsets[i] = msg.offset()
                    return cb
                outcome, error = "info", None
                try:
                    p.begin_transaction()
                    for i in range(self.rng.randint(1, 4)):
                        value, partition = f"{self.name}-{n}", self.rng.randrange(self.w.partitions)
                        n += 1
                        writes.append({"partition": partition, "value": value, "offset": None})
                        p.produce(self.w.topic, value=value.encode(), partition=partition, on_delivery=report(i))
                        self.sent += 1
                    commit = self.rng.random() >= self.w.abort_ratio
                    outcome, error = end_transaction(h, p, txn, commit, self.w.api_timeout_s)
                except ck.KafkaException as e:
                    err = e.args[0]
                    error = error_text(err)
                    if err.txn_requires_abort():
                        outcome, error2 = end_transaction(h, p, txn, False, self.w.api_timeout_s)
                        error = error2 or error
                    if err.fatal():
                        fatal.append(error)
                except BufferError as e:
                    error = str(e)
                    outcome, _ = end_transaction(h, p, txn, False, self.w.api_timeout_s)
                poll_events(p, fatal)
                for i, wr in enumerate(writes):
                    wr["offset"] = offsets.get(i)
                h.add("txn", process=process, txn=txn, outcome=outcome, writes=writes, reads=[], error=error)
                if outcome == "info":
                    fatal.append(error or "unknown outcome")  # a new instance fences whatever is left
                self.stop.wait(1.0 / self.w.rate)
            try:
                p.flush(1.0)
            except Exception:
                pass
            h.add("producer-stop", process=process, fatal=fatal[:1])
            incarnation += 1
            self.stop.wait(1.0)


class ReadCommittedConsumer(threading.Thread):
    def __init__(self, w: TxnWorkload, name: str) -> None:
        super().__init__(name=name, daemon=True)
        self.w = w
        self.subscribe = False  # run.wait_caught_up reads positions() of assign consumers
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.position: dict[int, int] = {}
        self.polled = 0

    def run(self) -> None:
        h = self.w.history
        conf = {**self.w.client_config(), "auto.offset.reset": "earliest", "isolation.level": "read_committed",
                "enable.partition.eof": True, "fetch.wait.max.ms": 100, "check.crcs": True,
                "group.id": f"{self.w.group}-{self.name}-unused", "enable.auto.commit": False,
                "topic.metadata.refresh.interval.ms": 2000, "socket.connection.setup.timeout.ms": 5000,
                "error_cb": lambda err: h.add("client-error", consumer=self.name, error=error_text(err),
                                              fatal=err.fatal())}
        c = ck.Consumer(conf)
        batch = 0
        try:
            c.assign([ck.TopicPartition(self.w.topic, p, ck.OFFSET_BEGINNING) for p in range(self.w.partitions)])
            h.add("reset", consumer=self.name, reason="assign", partitions=None)
            while not self.stop.is_set():
                msgs = c.consume(num_messages=READ_BATCH, timeout=0.5)
                batch += 1
                full = len(msgs) >= READ_BATCH
                for m in msgs:
                    err = m.error()
                    if err is not None and err.code() == ck.KafkaError._PARTITION_EOF:
                        # At the end (the last stable offset): caught up to one before it, though
                        # the last offsets may be markers no consumer ever receives.
                        with self.lock:
                            self.position[m.partition()] = max(self.position.get(m.partition(), -1), m.offset() - 1)
                        continue
                    if err is not None:
                        h.add("consumer-error", consumer=self.name, partition=m.partition(), error=error_text(err))
                        continue
                    h.add("poll", consumer=self.name, partition=m.partition(), offset=m.offset(),
                          value=m.value().decode(errors="replace") if m.value() is not None else None,
                          batch=batch, full=full)
                    with self.lock:
                        self.polled += 1
                        self.position[m.partition()] = max(self.position.get(m.partition(), -1), m.offset())
        except Exception as e:
            h.add("consumer-error", consumer=self.name, partition=None, error=f"consumer thread died: {e!r}")
        finally:
            try:
                c.close()
            except Exception:
                pass

    def positions(self) -> dict[int, int]:
        with self.lock:
            return dict(self.position)


class CtpWorker(threading.Thread):
    """Consume-transform-produce, exactly once: reads the topic in a group, writes a transform of
    every producer value it read, commits its offsets in the same transaction."""

    def __init__(self, w: TxnWorkload, name: str) -> None:
        super().__init__(name=name, daemon=True)
        self.w = w
        self.rng = random.Random(f"{w.seed}-{name}")
        self.stop = threading.Event()
        self.sent = 0

    def rewind(self, c: ck.Consumer, reason: str) -> None:
        """Back to the group's committed offsets (what an aborted transaction read is read again)."""
        assignment = c.assignment()
        if not assignment:
            return
        committed = c.committed(assignment, timeout=self.w.api_timeout_s)
        for tp in committed:
            c.seek(ck.TopicPartition(tp.topic, tp.partition, tp.offset if tp.offset >= 0 else ck.OFFSET_BEGINNING))
        self.w.history.add("reset", consumer=self.name, reason=reason, partitions=sorted(tp.partition for tp in committed))

    def run(self) -> None:
        h, n, incarnation, t = self.w.history, 0, 0, 0
        while not self.stop.is_set():
            process = f"{self.name}.{incarnation}"
            fatal: list[str] = []

            def on_error(err: ck.KafkaError) -> None:
                h.add("client-error", process=process, error=error_text(err), fatal=err.fatal())
                if err.fatal():
                    fatal.append(error_text(err))

            def reset(reason: str):
                return lambda _c, parts: h.add("reset", consumer=self.name, reason=reason,
                                               partitions=sorted(tp.partition for tp in parts))

            p = ck.Producer(self.w.producer_config(f"jepsen-{self.name}", on_error))
            c = ck.Consumer({**self.w.client_config(), "group.id": f"{self.w.group}-ctp", "auto.offset.reset": "earliest",
                             "isolation.level": "read_committed", "enable.auto.commit": False,
                             "enable.partition.eof": False, "fetch.wait.max.ms": 100, "session.timeout.ms": 10000,
                             "heartbeat.interval.ms": 1000, "topic.metadata.refresh.interval.ms": 2000,
                             "socket.connection.setup.timeout.ms": 5000})
            try:
                p.init_transactions(self.w.api_timeout_s)
                c.subscribe([self.w.topic], on_assign=reset("assign"), on_revoke=reset("revoke"), on_lost=reset("lost"))
                h.add("producer-start", process=process)
                while not self.stop.is_set() and not fatal:
                    msgs = [m for m in c.consume(num_messages=CTP_BATCH, timeout=0.5) if m.error() is None]
                    if not msgs:
                        continue
                    txn = f"{process}:{t}"
                    t += 1
                    reads = [{"partition": m.partition(), "offset": m.offset(),
                              "value": m.value().decode(errors="replace") if m.value() is not None else None}
                             for m in msgs]
                    writes: list[dict] = []
                    offsets: dict[int, int] = {}
                    outcome, error = "info", None
                    try:
                        p.begin_transaction()
                        for r in reads:
                            if r["value"] is None or not r["value"].startswith("t"):
                                continue
                            value = f"{self.name}-{n}:{r['value']}"
                            n += 1
                            i = len(writes)
                            writes.append({"partition": self.rng.randrange(self.w.partitions), "value": value,
                                           "offset": None})
                            p.produce(self.w.topic, value=value.encode(), partition=writes[-1]["partition"],
                                      on_delivery=lambda err, msg, i=i: offsets.__setitem__(i, msg.offset())
                                      if err is None else None)
                            self.sent += 1
                        p.send_offsets_to_transaction(c.position(c.assignment()), c.consumer_group_metadata(),
                                                      self.w.api_timeout_s)
                        outcome, error = end_transaction(h, p, txn, True, self.w.api_timeout_s)
                    except ck.KafkaException as e:
                        err = e.args[0]
                        error = error_text(err)
                        if err.txn_requires_abort():
                            outcome, _ = end_transaction(h, p, txn, False, self.w.api_timeout_s)
                        if err.fatal():
                            fatal.append(error)
                    poll_events(p, fatal)
                    for i, wr in enumerate(writes):
                        wr["offset"] = offsets.get(i)
                    h.add("txn", process=process, txn=txn, outcome=outcome, writes=writes, reads=reads, error=error)
                    if outcome == "abort":
                        self.rewind(c, "abort")
                    elif outcome == "info":
                        fatal.append(error or "unknown outcome")
            except (ck.KafkaException, RuntimeError) as e:
                fatal.append(str(e))
            finally:
                h.add("producer-stop", process=process, fatal=fatal[:1])
                try:
                    c.close()
                except Exception:
                    pass
                h.add("reset", consumer=self.name, reason="restart", partitions=None)
            incarnation += 1
            self.stop.wait(1.0)
