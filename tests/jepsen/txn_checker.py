"""The transactional checker: Jepsen's transactional Kafka anomaly classes over one recorded history.

Pure functions over a list of events (dicts, as history.jsonl holds them, in the order they were
recorded: the position of an event in the list is its time order). The events it reads:

  txn         {"type": "txn", "process": "t1.0", "txn": "t1.0:7", "outcome": "commit" | "abort" | "info",
               "writes": [{"partition": 2, "value": "t1-31", "offset": 40 | None}, ...],
               "reads": [{"partition": 1, "offset": 12, "value": "t2-4"}, ...], "error": None | "..."}
               One per transaction, written when the client knows its outcome: "commit" when
               commit_transaction() returned, "abort" when abort_transaction() returned (its writes
               must never be read), "info" when the outcome is unknown (a timeout, a fatal producer
               error: it may or may not have committed). `writes` are the transaction's sends in send
               order (offset as the delivery report gave it, None when unknown); `reads` what a
               consume-transform-produce transaction polled (in poll order) before it committed.
  txn-commit  {"type": "txn-commit", "txn": "t1.0:7"}
               Written just before the client calls commit_transaction(): no read_committed reader
               may see the transaction's writes before this point of the history.
  poll        {"type": "poll", "consumer": "r1", "partition": 2, "offset": 41, "value": "t1-31",
               "batch": 17, "full": False}
               One per record a read_committed consumer received, in the order it received them;
               `batch` numbers the consume() calls of that consumer (records of one call share it),
               `full` says the call returned as many records as it asked for.
  reset       {"type": "reset", "consumer": "r1", "partitions": [0, 2] | None, "reason": "..."}
               The consumer's position in these partitions (None: all) was set by something other
               than reading on (assign, rebalance, seek after an abort, restart).
  final       {"type": "final", "partition": 2, "offset": 41, "value": "t1-31"}
               The final read_committed read after healing: every partition from its start to its
               high watermark.
Values are unique: `t<i>-<n>` written by transactional producers, `x<i>-<n>:<source>` written by
consume-transform-produce workers for the value `<source>` they read. Other event types are ignored.

The anomaly classes (every count must be 0 for a pass):
  G1a                  aborted read: a value of an aborted transaction read by anyone (counted once
                       per value)
  G1b                  intermediate read: one consume() call returned a write of transaction T to a
                       partition but not T's next write there, though no other transaction wrote
                       in between (so no last stable offset can have lain between the two: an open
                       transaction between them would hold read_committed back rightly) and the
                       batch was not full (poll events of a full batch carry "full": true)
  G1c                  circular information flow: a cycle of write-read dependencies (T2 read what T1
                       wrote, ..., T1 read what Tn wrote) between two or more transactions; counted
                       once per strongly connected component of the write-read graph
  lost-write           a write of a committed transaction that the final read does not show (at its
                       offset when the delivery report gave one, anywhere in its partition otherwise)
  precommitted-read    a poll of a value before its transaction's commit was requested (before its
                       txn-commit event, or with none at all, the transaction not being aborted)
  torn-txn             a transaction some of whose writes the final read shows and some not
  int-poll-skip        within one transaction's reads of a partition, consecutive offsets that jump
                       over an offset the final read shows
  int-nonmonotonic-poll within one transaction's reads of a partition, an offset at or below the
                       previous one
  poll-skip            a consumer's polls of a partition jumping over an offset the final read shows,
                       with no reset in between (read_committed skips aborted records and markers, and
                       the final read shows neither)
  nonmonotonic-poll    a consumer reading an offset at or below the one it read before in that
                       partition, with no reset in between
  duplicate            a value at two different offsets (polls, final read, delivery reports of
                       committed transactions)
  ctp-duplicate        consume-transform-produce exactly-once: a source value with more than one
                       transformed value in the final read
  phantom-read         a value read (polled or in the final read) that no transaction wrote
"""

from __future__ import annotations

from collections import defaultdict
from typing import Iterable

from checker import Anomaly, Report

TXN_ANOMALIES = (
    "G1a",
    "G1b",
    "G1c",
    "lost-write",
    "precommitted-read",
    "torn-txn",
    "int-poll-skip",
    "int-nonmonotonic-poll",
    "poll-skip",
    "nonmonotonic-poll",
    "duplicate",
    "ctp-duplicate",
    "phantom-read",
)


def source_of(value: str | None) -> str | None:
    """The source value of a consume-transform-produce output `x<i>-<n>:<source>`, or None."""
    if value is None or not value.startswith("x") or ":" not in value:
        return None
    return value.split(":", 1)[1]


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components, iteratively (histories can be long)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.get(root, ()))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                out.append(sorted(component))
    return out


def check_txn(history: Iterable[dict]) -> Report:
    events = list(history)
    anomalies = {name: Anomaly() for name in TXN_ANOMALIES}
    txns = [e for e in events if e.get("type") == "txn"]
    polls = [(i, e) for i, e in enumerate(events) if e.get("type") == "poll"]
    finals = [e for e in events if e.get("type") == "final"]
    commit_requested = {e["txn"]: i for i, e in enumerate(events) if e.get("type") == "txn-commit"}

    by_id = {t["txn"]: t for t in txns}
    writer: dict[str, str] = {}  # value -> transaction id
    for t in txns:
        for w in t["writes"]:
            writer[w["value"]] = t["txn"]

    final_at: dict[tuple[int, int], str] = {}
    final_where: dict[tuple[int, str], int] = {}
    for e in finals:
        final_at.setdefault((e["partition"], e["offset"]), e["value"])
        final_where.setdefault((e["partition"], e["value"]), e["offset"])
    final_offsets: dict[int, set[int]] = defaultdict(set)
    for partition, offset in final_at:
        final_offsets[partition].add(offset)

    # Every read: polls, the reads of consume-transform-produce transactions, the final read.
    reads: dict[str, list[str]] = defaultdict(list)
    for _, e in polls:
        reads[e["value"]].append(f"{e['partition']}:{e['offset']} by {e['consumer']}")
    for t in txns:
        for r in t.get("reads", ()):
            reads[r["value"]].append(f"{r['partition']}:{r['offset']} by {t['txn']}")
    for e in finals:
        reads[e["value"]].append(f"{e['partition']}:{e['offset']} by final read")

    # G1a: aborted writes read by anyone.
    for t in txns:
        if t["outcome"] != "abort":
            continue
        for w in t["writes"]:
            if w["value"] in reads:
                anomalies["G1a"].add({"txn": t["txn"], "value": w["value"], "read_at": reads[w["value"]][:5]})

    # G1b: a consume() call that stopped inside a transaction's writes to a partition, where nothing
    # could have held the rest back: no other transaction wrote between the read write and the next
    # one of the same transaction (else the last stable offset may have lain in between, and
    # read_committed rightly stops there), and the batch was not full.
    located: dict[str, tuple[int, int]] = {}  # value -> (partition, offset)
    for t in txns:
        for w in t["writes"]:
            if w.get("offset") is not None:
                located.setdefault(w["value"], (w["partition"], w["offset"]))
    for e in finals:
        located.setdefault(e["value"], (e["partition"], e["offset"]))
    for _, e in polls:
        located.setdefault(e["value"], (e["partition"], e["offset"]))
    others_at: dict[int, list[tuple[int, str]]] = defaultdict(list)  # partition -> (offset, txn), sorted
    for value, (partition, offset) in located.items():
        if value in writer:
            others_at[partition].append((offset, writer[value]))
    for partition in others_at:
        others_at[partition].sort()
    writes_in: dict[tuple[str, int], list[str]] = defaultdict(list)  # (txn, partition) -> values in order
    for t in txns:
        for w in t["writes"]:
            writes_in[(t["txn"], w["partition"])].append(w["value"])

    def interleaved(txn: str, partition: int, low: int, high: int) -> bool:
        return any(low < o < high and other != txn for o, other in others_at[partition])

    batches: dict[tuple[str, int], list[dict]] = defaultdict(list)
    for _, e in polls:
        batches[(e["consumer"], e.get("batch", -1))].append(e)
    for (consumer, batch), es in batches.items():
        if any(e.get("full") for e in es):
            continue
        seen = {(e["partition"], e["value"]) for e in es}
        flagged: set[tuple[str, int]] = set()
        for e in es:
            txn = writer.get(e["value"])
            if txn is None or (txn, e["partition"]) in flagged:
                continue
            values = writes_in[(txn, e["partition"])]
            later = values[values.index(e["value"]) + 1:]
            if not later or (e["partition"], later[0]) in seen:
                continue
            nxt = located.get(later[0])
            if nxt is None or nxt[0] != e["partition"] or interleaved(txn, e["partition"], e["offset"], nxt[1]):
                continue
            flagged.add((txn, e["partition"]))
            anomalies["G1b"].add({"consumer": consumer, "batch": batch, "txn": txn, "partition": e["partition"],
                                  "read": e["value"], "not_read": later[:5]})

    # G1c: cycles of write-read dependencies between transactions.
    graph: dict[str, set[str]] = defaultdict(set)
    for t in txns:
        for r in t.get("reads", ()):
            w = writer.get(r["value"])
            if w is not None and w != t["txn"]:
                graph[w].add(t["txn"])
    for component in strongly_connected(graph):
        if len(component) > 1:
            anomalies["G1c"].add({"cycle": component[:10], "size": len(component)})

    # lost-write and torn-txn: the final read against each transaction's writes.
    for t in txns:
        visible, invisible = [], []
        for w in t["writes"]:
            at = final_where.get((w["partition"], w["value"]))
            shown = at is not None and (w.get("offset") is None or at == w["offset"])
            (visible if shown else invisible).append(w["value"])
            if t["outcome"] == "commit" and not shown:
                anomalies["lost-write"].add({"txn": t["txn"], "value": w["value"], "partition": w["partition"],
                                             "offset": w.get("offset"),
                                             "final_value": final_at.get((w["partition"], w.get("offset")))})
        if visible and invisible:
            anomalies["torn-txn"].add({"txn": t["txn"], "outcome": t["outcome"], "visible": visible[:5],
                                       "invisible": invisible[:5]})

    # precommitted-read: polled (or read by a transaction) before the commit was requested.
    flagged_values: set[str] = set()

    def precommitted(at: int, value: str, who: str, partition: int, offset: int) -> None:
        txn = writer.get(value)
        if txn is None or value in flagged_values or by_id[txn]["outcome"] == "abort":
            return  # unknown: phantom-read; aborted: G1a
        requested = commit_requested.get(txn)
        if requested is None or at < requested:
            flagged_values.add(value)
            anomalies["precommitted-read"].add({"value": value, "txn": txn, "by": who,
                                                "at": f"{partition}:{offset}",
                                                "commit_requested": requested is not None})

    for i, e in polls:
        precommitted(i, e["value"], e["consumer"], e["partition"], e["offset"])
    for i, e in enumerate(events):
        if e.get("type") == "txn":
            for r in e.get("reads", ()):
                # The reads happened before the txn event was written: its commit request bounds them.
                at = commit_requested.get(e["txn"], i)
                precommitted(at, r["value"], e["txn"], r["partition"], r["offset"])

    # int-poll-skip and int-nonmonotonic-poll: within one transaction's reads.
    for t in txns:
        last: dict[int, dict] = {}
        for r in t.get("reads", ()):
            before = last.get(r["partition"])
            if before is not None:
                if r["offset"] <= before["offset"]:
                    anomalies["int-nonmonotonic-poll"].add({"txn": t["txn"], "partition": r["partition"],
                                                            "before": before["offset"], "after": r["offset"]})
                else:
                    skipped = [o for o in range(before["offset"] + 1, r["offset"])
                               if o in final_offsets[r["partition"]]]
                    if skipped:
                        anomalies["int-poll-skip"].add({"txn": t["txn"], "partition": r["partition"],
                                                        "from": before["offset"], "to": r["offset"],
                                                        "skipped": skipped[:10]})
            last[r["partition"]] = r

    # poll-skip and nonmonotonic-poll: per consumer and partition, between resets.
    positions: dict[str, dict[int, dict]] = defaultdict(dict)
    for e in events:
        kind = e.get("type")
        if kind == "reset":
            if e.get("partitions") is None:
                positions[e["consumer"]].clear()
            else:
                for p in e["partitions"]:
                    positions[e["consumer"]].pop(p, None)
        elif kind == "poll":
            partition, offset = e["partition"], e["offset"]
            before = positions[e["consumer"]].get(partition)
            if before is not None:
                if offset <= before["offset"]:
                    anomalies["nonmonotonic-poll"].add({"consumer": e["consumer"], "partition": partition,
                                                        "before": before["offset"], "after": offset})
                else:
                    skipped = [o for o in range(before["offset"] + 1, offset) if o in final_offsets[partition]]
                    if skipped:
                        anomalies["poll-skip"].add({"consumer": e["consumer"], "partition": partition,
                                                    "from": before["offset"], "to": offset,
                                                    "skipped": skipped[:10], "skipped_count": len(skipped)})
            positions[e["consumer"]][partition] = e

    # duplicate: one value at several offsets.
    where: dict[str, set[tuple[int, int]]] = defaultdict(set)
    for _, e in polls:
        where[e["value"]].add((e["partition"], e["offset"]))
    for e in finals:
        where[e["value"]].add((e["partition"], e["offset"]))
    for t in txns:
        if t["outcome"] == "commit":
            for w in t["writes"]:
                if w.get("offset") is not None:
                    where[w["value"]].add((w["partition"], w["offset"]))
    for value, at in sorted(where.items()):
        if len(at) > 1:
            anomalies["duplicate"].add({"value": value, "at": [f"{p}:{o}" for p, o in sorted(at)]})

    # ctp-duplicate: a source transformed more than once in the final read.
    outputs: dict[str, list[str]] = defaultdict(list)
    for e in finals:
        src = source_of(e["value"])
        if src is not None:
            outputs[src].append(e["value"])
    for src, outs in sorted(outputs.items()):
        if len(outs) > 1:
            anomalies["ctp-duplicate"].add({"source": src, "outputs": outs[:5], "count": len(outs)})

    # phantom-read: read, never written.
    for value, at in sorted(reads.items()):
        if value not in writer:
            anomalies["phantom-read"].add({"value": value, "read_at": at[:5]})

    stats = {
        "txns": len(txns),
        "committed": sum(1 for t in txns if t["outcome"] == "commit"),
        "aborted": sum(1 for t in txns if t["outcome"] == "abort"),
        "indeterminate": sum(1 for t in txns if t["outcome"] == "info"),
        "writes": sum(len(t["writes"]) for t in txns),
        "ctp_txns": sum(1 for t in txns if t.get("reads")),
        "polls": len(polls),
        "final_records": len(finals),
        "resets": sum(1 for e in events if e.get("type") == "reset"),
        "faults": sum(1 for e in events if e.get("type") == "nemesis" and e.get("action") == "start"),
        "delayed_requests": sum(1 for e in events if e.get("type") == "delayed"),
    }
    return Report(anomalies, stats)
