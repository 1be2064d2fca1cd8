"""The workload: producers writing unique values, consumers polling them, and the final read.

Producers. `p<i>`: confluent-kafka with `enable.idempotence=true`, `acks=all`, librdkafka's retries
(until `message.timeout.ms`). Each writes `p<i>-<n>` to a partition drawn from its seeded
generator, at a fixed rate, and records every send when its outcome is known: "ok" with the
acknowledged offset, "fail" when the record was definitely not written, "info" when it may have
been. Definite failures are rare by design: librdkafka retries every broker refusal until the
message times out, and a timeout is indeterminate. A producer instance that hits a fatal error is
replaced by a new one (a new `process` name: order is only promised within one instance).

Why no producer without idempotence: librdkafka resends records it wrongly judges unsent. When a
broker drops out of Metadata (a paused broker is fenced, and Metadata lists live brokers only, as
Kafka's KRaft brokers do) it destroys that broker's handle and re-queues the requests in flight on
it as "not persisted" (its debug log: "Broker handle destroyed without termination (actions
Refresh,MsgNotPersisted)"), though they sit in the broker's socket buffer and are appended when it
resumes. Without idempotence that is a duplicate the client made, and a refusal of the resent copy
would look like a definite failure of a record that was written; with idempotence the broker must
discard the second copy, which is exactly what the duplicate check checks.

Consumers. `a<i>` assign every partition from the beginning and never commit; `g<i>` subscribe as
one group (auto commit), and record every assignment, revocation and loss as a reset.

Every wait here is bounded; workers are daemon threads, so a stuck client cannot keep the runner
alive after its deadline.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from dataclasses import dataclass

import confluent_kafka as ck

from history import History

E = ck.KafkaError
# Failures that mean "not written": errors that are not retried, raised before the record could
# reach a log (librdkafka retries everything else until message.timeout.ms, and an earlier attempt
# may have been written).
NOT_WRITTEN = {E.MSG_SIZE_TOO_LARGE, E.INVALID_RECORD, E.INVALID_MSG, E.RECORD_LIST_TOO_LARGE,
               E._UNKNOWN_PARTITION, E._UNKNOWN_TOPIC}


@dataclass
class Workload:
    bootstrap: str
    topic: str
    partitions: int
    history: History
    seed: int
    rate: float = 50.0  # records per second per producer
    message_timeout_ms: int = 20000
    group: str = "jepsen"
    client_debug: str = ""  # librdkafka `debug` contexts for every client (e.g. "msg,protocol")
    logger: logging.Logger | None = None  # librdkafka's log lines (clients.log), instead of stderr

    def client_config(self) -> dict:
        conf: dict = {"bootstrap.servers": self.bootstrap}
        if self.logger is not None:
            conf["logger"] = self.logger
        if self.client_debug:
            conf["debug"] = self.client_debug
        return conf


def error_text(err: ck.KafkaError) -> str:
    return f"{err.name()} ({err.code()}): {err.str()}"


class ProducerWorker(threading.Thread):
    def __init__(self, w: Workload, name: str) -> None:
        super().__init__(name=name, daemon=True)
        self.w = w
        self.rng = random.Random(f"{w.seed}-{name}")
        self.stop = threading.Event()
        self.sent = 0

    def config(self, on_error) -> dict:
        conf = {**self.w.client_config(), "acks": "all", "linger.ms": 2,
                "message.timeout.ms": self.w.message_timeout_ms, "request.timeout.ms": 5000,
                "retry.backoff.ms": 100, "retry.backoff.max.ms": 1000, "socket.connection.setup.timeout.ms": 5000,
                "topic.metadata.refresh.interval.ms": 2000, "enable.idempotence": True, "error_cb": on_error}
        return conf

    @staticmethod
    def status(err: ck.KafkaError) -> str:
        return "fail" if err.code() in NOT_WRITTEN and not err.fatal() else "info"

    def run(self) -> None:
        h, n, incarnation = self.w.history, 0, 0
        while not self.stop.is_set():
            process = f"{self.name}.{incarnation}"
            pending: dict[int, tuple[str, int]] = {}
            fatal: list[str] = []

            def on_error(err: ck.KafkaError) -> None:
                h.add("client-error", process=process, error=error_text(err), fatal=err.fatal())
                if err.fatal():
                    fatal.append(error_text(err))

            def on_delivery(seq: int):
                def cb(err, msg) -> None:
                    value, partition = pending.pop(seq)
                    if err is None:
                        h.add("send", process=process, seq=seq, value=value, partition=partition, status="ok",
                              offset=msg.offset(), error=None)
                    else:
                        h.add("send", process=process, seq=seq, value=value, partition=partition,
                              status=self.status(err), offset=None, error=error_text(err))
                        if err.fatal():
                            fatal.append(error_text(err))
                return cb

            p = ck.Producer(self.config(on_error))
            h.add("producer-start", process=process)
            next_at = time.monotonic()
            while not self.stop.is_set() and not fatal:
                value, partition = f"{self.name}-{n}", self.rng.randrange(self.w.partitions)
                pending[n] = (value, partition)
                try:
                    p.produce(self.w.topic, value=value.encode(), partition=partition, on_delivery=on_delivery(n))
                except BufferError:
                    pending.pop(n)
                    p.poll(0.1)
                    continue
                except ck.KafkaException as e:  # a fatal producer refuses new records
                    pending.pop(n)
                    fatal.append(str(e))
                    break
                n += 1
                self.sent += 1
                next_at += 1.0 / self.w.rate
                if time.monotonic() - next_at > 1.0:  # do not burst to catch up after a stall
                    next_at = time.monotonic()
                p.poll(0)
                while (wait := next_at - time.monotonic()) > 0 and not self.stop.is_set():
                    p.poll(wait)  # returns early when it serves a delivery report
            # Drain: what is still queued or in flight gets its report, or is indeterminate.
            p.flush(0 if fatal else self.w.message_timeout_ms / 1000 + 5)
            p.purge(in_queue=True, in_flight=True)
            p.poll(1.0)
            for seq, (value, partition) in sorted(pending.items()):
                h.add("send", process=process, seq=seq, value=value, partition=partition, status="info",
                      offset=None, error="no delivery report")
            h.add("producer-stop", process=process, fatal=fatal[:1])
            incarnation += 1
            self.stop.wait(1.0)  # a broker that fences every new producer at once is not spun on


class ConsumerWorker(threading.Thread):
    def __init__(self, w: Workload, name: str, subscribe: bool) -> None:
        super().__init__(name=name, daemon=True)
        self.w, self.subscribe = w, subscribe
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.position: dict[int, int] = {}  # the highest offset polled per partition
        self.polled = 0

    def run(self) -> None:
        h = self.w.history
        conf = {**self.w.client_config(), "auto.offset.reset": "earliest",
                "enable.partition.eof": False, "fetch.wait.max.ms": 100, "check.crcs": True,
                "topic.metadata.refresh.interval.ms": 2000, "socket.connection.setup.timeout.ms": 5000,
                "error_cb": lambda err: h.add("client-error", consumer=self.name, error=error_text(err),
                                              fatal=err.fatal())}
        if self.subscribe:
            conf.update({"group.id": self.w.group, "enable.auto.commit": True, "auto.commit.interval.ms": 1000,
                         "session.timeout.ms": 10000, "heartbeat.interval.ms": 1000})
        else:
            conf.update({"group.id": f"{self.w.group}-{self.name}-unused", "enable.auto.commit": False})
        c = ck.Consumer(conf)
        try:
            if self.subscribe:
                def reset(reason: str):
                    return lambda _c, parts: h.add("reset", consumer=self.name, reason=reason,
                                                   partitions=sorted(tp.partition for tp in parts))
                c.subscribe([self.w.topic], on_assign=reset("assign"), on_revoke=reset("revoke"),
                            on_lost=reset("lost"))
            else:
                c.assign([ck.TopicPartition(self.w.topic, p, ck.OFFSET_BEGINNING) for p in range(self.w.partitions)])
                h.add("reset", consumer=self.name, reason="assign", partitions=None)
            while not self.stop.is_set():
                for m in c.consume(num_messages=500, timeout=0.5):
                    err = m.error()
                    if err is not None:
                        h.add("consumer-error", consumer=self.name, partition=m.partition(), error=error_text(err))
                        continue
                    h.add("poll", consumer=self.name, partition=m.partition(), offset=m.offset(),
                          value=m.value().decode(errors="replace") if m.value() is not None else None)
                    with self.lock:
                        self.polled += 1
                        if m.offset() > self.position.get(m.partition(), -1):
                            self.position[m.partition()] = m.offset()
        except Exception as e:  # recorded, so a dead consumer shows in the history and the report
            h.add("consumer-error", consumer=self.name, partition=None, error=f"consumer thread died: {e!r}")
        finally:
            try:
                c.close()
            except Exception:
                pass

    def positions(self) -> dict[int, int]:
        with self.lock:
            return dict(self.position)


def high_watermarks(w: Workload, timeout_s: float = 10.0) -> dict[int, tuple[int, int]]:
    """(log start, high watermark) per partition, from the leaders (ListOffsets)."""
    c = ck.Consumer({**w.client_config(), "group.id": "jepsen-watermarks", "enable.auto.commit": False})
    try:
        return {p: c.get_watermark_offsets(ck.TopicPartition(w.topic, p), timeout=timeout_s, cached=False)
                for p in range(w.partitions)}
    finally:
        c.close()


def final_read(w: Workload, timeout_s: float, isolation_level: str = "read_uncommitted") -> dict[int, dict]:
    """Read every partition from its start to its high watermark, recording each record as a final
    event; returns per partition {log_start, high_watermark, records, complete}. With
    read_committed a partition is complete only at its high watermark (its end of partition comes
    at the last stable offset first, while a transaction is open)."""
    h = w.history
    marks = high_watermarks(w)
    c = ck.Consumer({**w.client_config(), "group.id": "jepsen-final", "enable.auto.commit": False,
                     "enable.partition.eof": True, "auto.offset.reset": "error", "fetch.wait.max.ms": 100,
                     "check.crcs": True, "isolation.level": isolation_level})
    out = {p: {"log_start": marks[p][0], "high_watermark": marks[p][1], "records": 0, "complete": marks[p][1] <= marks[p][0]}
           for p in range(w.partitions)}
    try:
        c.assign([ck.TopicPartition(w.topic, p, ck.OFFSET_BEGINNING) for p in range(w.partitions)])
        deadline = time.monotonic() + timeout_s
        while not all(o["complete"] for o in out.values()) and time.monotonic() < deadline:
            for m in c.consume(num_messages=1000, timeout=0.5):
                p, err = m.partition(), m.error()
                if err is not None:
                    if err.code() == E._PARTITION_EOF:
                        if m.offset() >= out[p]["high_watermark"]:
                            out[p]["complete"] = True
                    else:
                        h.add("final-error", partition=p, error=error_text(err))
                    continue
                if m.offset() >= out[p]["high_watermark"]:
                    out[p]["complete"] = True
                    continue
                h.add("final", partition=p, offset=m.offset(),
                      value=m.value().decode(errors="replace") if m.value() is not None else None)
                out[p]["records"] += 1
                if m.offset() >= out[p]["high_watermark"] - 1:
                    out[p]["complete"] = True
    finally:
        c.close()
    for p, o in out.items():
        h.add("final-end", partition=p, **o)
    return out
