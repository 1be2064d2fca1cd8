"""The history checker: Jepsen's Kafka anomaly classes over one recorded history.

Pure functions over a list of events (dicts, as history.jsonl holds them, in the order they were
recorded); no I/O, no clients. The events it reads:

  send       {"type": "send", "process": "p1.0", "seq": 7, "value": "p1-7", "partition": 2,
              "status": "ok" | "fail" | "info", "offset": 41 | None, "error": None | "..."}
             One per produce() call, written when its outcome is known. `process` is one producer
             instance (its id and incarnation); `seq` is the order of its produce() calls. "ok" is an
             acknowledged send at `offset`; "fail" a definite failure (the record was never written);
             "info" an indeterminate one (it may or may not have been written: a timeout, a purge
             of a request in flight, a fatal producer error). An "ok" may come without an offset
             (librdkafka acknowledges records of a timed-out request implicitly when a later batch
             of the partition succeeds, and then knows no offset): such a send is checked by value
             only (lost-write: not anywhere in its partition in the final read).
  poll       {"type": "poll", "consumer": "c1", "partition": 2, "offset": 41, "value": "p1-7"}
             One per record a consumer received, in the order it received them.
  reset      {"type": "reset", "consumer": "c1", "partitions": [0, 2] | None, "reason": "..."}
             The consumer's position in these partitions (None: all) was set by something other than
             reading on: an assign, a rebalance (revoke/assign/lost), a seek, a restart.
  final      {"type": "final", "partition": 2, "offset": 41, "value": "p1-7"}
             The final read after healing: every partition from its start to its high watermark.
Other event types (nemesis faults, errors, notes) are carried in the history and ignored here.

The anomaly classes (every count must be 0 for a pass):
  lost-write           an acknowledged send whose offset the final read does not show with its value
                       (without an offset: whose value the final read does not show at all)
  inconsistent-offsets an offset of a partition seen with two different values (acks, polls, final read)
  duplicate            a value seen at two different offsets (acks, polls, final read)
  nonmonotonic-send    a producer's acknowledged offsets in a partition not increasing in send order
  nonmonotonic-poll    a consumer reading an offset at or below the one it read before in that
                       partition, with no reset in between
  poll-skip            a consumer jumping over offsets that the final read shows exist, with no
                       reset in between
  G1a                  aborted read: a value whose send definitely failed, read by anyone
  unseen               an acknowledged value that no consumer ever polled, though consumers ran on
                       after healing until they reached the high watermark (the final read does
                       not count: a value it shows but no consumer saw was skipped by consumers,
                       one it does not show is a lost write as well)
  phantom-read         a value read (polled or in the final read) that no producer ever sent: a
                       corrupted or invented record (not one of Jepsen's classes; a record nobody
                       wrote is never a correct read)
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Iterable

ANOMALIES = (
    "lost-write",
    "inconsistent-offsets",
    "duplicate",
    "nonmonotonic-send",
    "nonmonotonic-poll",
    "poll-skip",
    "G1a",
    "unseen",
    "phantom-read",
)
EXAMPLES_KEPT = 8


@dataclass
class Anomaly:
    count: int = 0
    examples: list[dict] = field(default_factory=list)

    def add(self, example: dict) -> None:
        self.count += 1
        if len(self.examples) < EXAMPLES_KEPT:
            self.examples.append(example)


@dataclass
class Report:
    anomalies: dict[str, Anomaly]
    stats: dict[str, int]

    @property
    def valid(self) -> bool:
        return all(a.count == 0 for a in self.anomalies.values())

    def counts(self) -> dict[str, int]:
        return {name: a.count for name, a in self.anomalies.items()}

    def to_json(self) -> dict:
        return {
            "valid": self.valid,
            "counts": self.counts(),
            "stats": self.stats,
            "examples": {name: a.examples for name, a in self.anomalies.items() if a.examples},
        }

    def render(self, examples_per_class: int = 3, verdict: bool = True) -> str:
        lines = [f"{'anomaly':<22} {'count':>7}"]
        lines += [f"{name:<22} {a.count:>7}" for name, a in self.anomalies.items()]
        lines.append("")
        lines.append("history: " + ", ".join(f"{k} {v}" for k, v in self.stats.items()))
        for name, a in self.anomalies.items():
            if a.examples:
                lines.append("")
                lines.append(f"{name} (first {min(examples_per_class, len(a.examples))} of {a.count}):")
                lines += [f"  {ex}" for ex in a.examples[:examples_per_class]]
        if verdict:
            lines.append("")
            lines.append("VALID: every anomaly count is 0" if self.valid else "INVALID: anomalies found")
        return "\n".join(lines)


def check(history: Iterable[dict]) -> Report:
    events = list(history)
    anomalies = {name: Anomaly() for name in ANOMALIES}
    sends = [e for e in events if e.get("type") == "send"]
    polls = [e for e in events if e.get("type") == "poll"]
    finals = [e for e in events if e.get("type") == "final"]
    acked_anywhere = [e for e in sends if e["status"] == "ok"]
    acked = [e for e in acked_anywhere if e.get("offset") is not None]  # the position-based checks' input

    # What the final read shows at each offset (a value read twice there with two values is an
    # inconsistency, counted below with every other observation).
    final_at: dict[tuple[int, int], str] = {}
    for e in finals:
        final_at.setdefault((e["partition"], e["offset"]), e["value"])

    # Every observation of (partition, offset) -> value: acks, polls, the final read.
    seen_at: dict[tuple[int, int], dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    positions: dict[str, dict[tuple[int, int], list[str]]] = defaultdict(lambda: defaultdict(list))

    def observe(partition: int, offset: int, value: str, source: str) -> None:
        seen_at[(partition, offset)][value].append(source)
        positions[value][(partition, offset)].append(source)

    for e in acked:
        observe(e["partition"], e["offset"], e["value"], f"ack by {e['process']}")
    for e in polls:
        observe(e["partition"], e["offset"], e["value"], f"poll by {e['consumer']}")
    for e in finals:
        observe(e["partition"], e["offset"], e["value"], "final read")

    # lost-write: acknowledged at an offset the final read does not show with that value.
    final_values = {(e["partition"], e["value"]) for e in finals}
    for e in acked_anywhere:
        at = (e["partition"], e["offset"])
        lost = (final_at.get(at) != e["value"] if e.get("offset") is not None
                else (e["partition"], e["value"]) not in final_values)
        if lost:
            anomalies["lost-write"].add({
                "value": e["value"], "partition": at[0], "offset": at[1], "process": e["process"],
                "final_value": final_at.get(at),
            })

    # inconsistent-offsets: one offset, several values.
    for (partition, offset), by_value in sorted(seen_at.items()):
        if len(by_value) > 1:
            anomalies["inconsistent-offsets"].add({
                "partition": partition, "offset": offset,
                "values": {v: sorted(set(src)) for v, src in by_value.items()},
            })

    # duplicate: one value, several offsets.
    for value, where in sorted(positions.items()):
        if len(where) > 1:
            anomalies["duplicate"].add({
                "value": value,
                "at": {f"{p}:{o}": sorted(set(src)) for (p, o), src in sorted(where.items())},
            })

    # nonmonotonic-send: per producer instance and partition, acked offsets in send order.
    by_process: dict[tuple[str, int], list[dict]] = defaultdict(list)
    for e in acked:
        by_process[(e["process"], e["partition"])].append(e)
    for (process, partition), es in sorted(by_process.items()):
        es.sort(key=lambda e: e["seq"])
        for before, after in zip(es, es[1:]):
            if after["offset"] <= before["offset"]:
                anomalies["nonmonotonic-send"].add({
                    "process": process, "partition": partition,
                    "before": {"seq": before["seq"], "value": before["value"], "offset": before["offset"]},
                    "after": {"seq": after["seq"], "value": after["value"], "offset": after["offset"]},
                })

    # nonmonotonic-poll and poll-skip: per consumer and partition, in recorded order, between resets.
    final_offsets: dict[int, set[int]] = defaultdict(set)
    for partition, offset in final_at:
        final_offsets[partition].add(offset)
    last: dict[str, dict[int, dict]] = defaultdict(dict)
    for e in events:
        kind = e.get("type")
        if kind == "reset":
            if e.get("partitions") is None:
                last[e["consumer"]].clear()
            else:
                for p in e["partitions"]:
                    last[e["consumer"]].pop(p, None)
        elif kind == "poll":
            partition, offset = e["partition"], e["offset"]
            before = last[e["consumer"]].get(partition)
            if before is not None:
                if offset <= before["offset"]:
                    anomalies["nonmonotonic-poll"].add({
                        "consumer": e["consumer"], "partition": partition,
                        "before": {"offset": before["offset"], "value": before["value"]},
                        "after": {"offset": offset, "value": e["value"]},
                    })
                elif offset > before["offset"] + 1:
                    skipped = [o for o in range(before["offset"] + 1, offset) if o in final_offsets[partition]]
                    if skipped:
                        anomalies["poll-skip"].add({
                            "consumer": e["consumer"], "partition": partition,
                            "from": before["offset"], "to": offset,
                            "skipped": skipped[:10], "skipped_count": len(skipped),
                        })
            last[e["consumer"]][partition] = e

    # G1a: a definitely failed send, read anyway.
    read_values: dict[str, list[tuple[int, int, str]]] = defaultdict(list)
    for e in polls:
        read_values[e["value"]].append((e["partition"], e["offset"], e["consumer"]))
    for e in finals:
        read_values[e["value"]].append((e["partition"], e["offset"], "final read"))
    for e in sends:
        if e["status"] == "fail" and e["value"] in read_values:
            anomalies["G1a"].add({
                "value": e["value"], "error": e.get("error"),
                "read_at": [f"{p}:{o} by {who}" for p, o, who in read_values[e["value"]][:5]],
            })

    # unseen: acknowledged, never polled.
    polled = {e["value"] for e in polls}
    for e in acked_anywhere:
        if e["value"] not in polled:
            anomalies["unseen"].add({"value": e["value"], "partition": e["partition"], "offset": e["offset"]})

    # phantom-read: read, never sent.
    sent = {e["value"] for e in sends}
    for value, where in sorted(read_values.items()):
        if value not in sent:
            anomalies["phantom-read"].add({"value": value, "read_at": [f"{p}:{o} by {who}" for p, o, who in where[:5]]})

    stats = {
        "sends": len(sends),
        "acked": len(acked_anywhere),
        "acked_without_offset": len(acked_anywhere) - len(acked),
        "failed": sum(1 for e in sends if e["status"] == "fail"),
        "indeterminate": sum(1 for e in sends if e["status"] == "info"),
        "polls": len(polls),
        "final_records": len(finals),
        "resets": sum(1 for e in events if e.get("type") == "reset"),
        "faults": sum(1 for e in events if e.get("type") == "nemesis" and e.get("action") == "start"),
    }
    return Report(anomalies, stats)
