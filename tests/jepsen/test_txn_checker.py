"""The transactional checker on small synthetic histories: for each anomaly class, a history that has
exactly that anomaly (every other count 0, unless the class implies another, said where it does) and
the clean history it was made from, which has none."""

from __future__ import annotations

import json

from txn_checker import TXN_ANOMALIES, check_txn, strongly_connected


def w(partition: int, value: str, offset: int | None) -> dict:
    return {"partition": partition, "value": value, "offset": offset}


def txn(tid: str, outcome: str, writes: list[dict], reads: list[dict] | None = None) -> dict:
    return {"type": "txn", "process": tid.split(":")[0], "txn": tid, "outcome": outcome, "writes": writes,
            "reads": reads or [], "error": None}


def commit(tid: str) -> dict:
    return {"type": "txn-commit", "txn": tid}


def poll(partition: int, offset: int, value: str, consumer: str = "r1", batch: int = 0) -> dict:
    return {"type": "poll", "consumer": consumer, "partition": partition, "offset": offset, "value": value,
            "batch": batch}


def final(partition: int, offset: int, value: str) -> dict:
    return {"type": "final", "partition": partition, "offset": offset, "value": value}


def reset(consumer: str = "r1", partitions: list[int] | None = None) -> dict:
    return {"type": "reset", "consumer": consumer, "partitions": partitions, "reason": "assign"}


def clean() -> list[dict]:
    """Partition 0: t1-0 @0, t1-1 @1, (marker @2), t2-0 @3 aborted, (marker @4), x1-0:t1-0 @5, (marker @6).
    Partition 1: t1-2 @0, (marker @1).
    T1 = t1.0:0 commits writes to both partitions; T2 = t2.0:0 aborts; X = x1.0:0 reads t1-0 and
    writes its transform. r1 reads everything committed, in one batch per transaction."""
    return [
        reset(),
        commit("t1.0:0"),
        txn("t1.0:0", "commit", [w(0, "t1-0", 0), w(0, "t1-1", 1), w(1, "t1-2", 0)]),
        txn("t2.0:0", "abort", [w(0, "t2-0", 3)]),
        poll(0, 0, "t1-0", batch=1), poll(0, 1, "t1-1", batch=1), poll(1, 0, "t1-2", batch=1),
        commit("x1.0:0"),
        txn("x1.0:0", "commit", [w(0, "x1-0:t1-0", 5)], reads=[{"partition": 0, "offset": 0, "value": "t1-0"}]),
        poll(0, 5, "x1-0:t1-0", batch=2),
        {"type": "nemesis", "action": "start", "fault": "pause"},
        final(0, 0, "t1-0"), final(0, 1, "t1-1"), final(0, 5, "x1-0:t1-0"), final(1, 0, "t1-2"),
    ]


def counts(history: list[dict]) -> dict[str, int]:
    return check_txn([json.loads(json.dumps(e)) for e in history]).counts()


def only(**expected: int) -> dict[str, int]:
    names = {k.replace("_", "-"): v for k, v in expected.items()}
    fixed = {"G1a": "G1a", "G1b": "G1b", "G1c": "G1c"}
    names = {fixed.get(k, k): v for k, v in names.items()}
    assert set(names) <= set(TXN_ANOMALIES), names
    return {name: names.get(name, 0) for name in TXN_ANOMALIES}


def replace(history: list[dict], old: dict, *new: dict) -> list[dict]:
    i = history.index(old)
    return history[:i] + list(new) + history[i + 1:]


def test_the_clean_history_is_valid():
    report = check_txn(clean())
    assert report.counts() == only()
    assert report.valid
    assert report.stats["txns"] == 3 and report.stats["committed"] == 2 and report.stats["aborted"] == 1
    assert report.stats["ctp_txns"] == 1 and report.stats["polls"] == 4 and report.stats["final_records"] == 4
    assert report.stats["faults"] == 1


def test_g1a_aborted_read():
    h = clean()
    h.insert(h.index(final(0, 0, "t1-0")), poll(0, 3, "t2-0", consumer="r2", batch=3))  # r2 reads the aborted write
    # Counted once per value, though the final read shows it too.
    h2 = h + [final(0, 3, "t2-0")]
    h2.remove(final(0, 5, "x1-0:t1-0"))
    h2.append(final(0, 5, "x1-0:t1-0"))
    assert counts(h) == only(G1a=1)
    # Once the final read shows offset 3, r1's step from 1 to 5 jumped over it as well.
    assert counts(h2) == only(G1a=1, poll_skip=1)


def test_g1b_intermediate_read():
    # r1's batch stops after t1-0: the partition's next write of T1 (t1-1) came in the next batch.
    h = replace(clean(), poll(0, 1, "t1-1", batch=1), poll(0, 1, "t1-1", batch=9))
    assert counts(h) == only(G1b=1)
    # A full batch may stop anywhere.
    h = replace(clean(), poll(0, 1, "t1-1", batch=1), poll(0, 1, "t1-1", batch=9))
    h = [dict(e, full=True) if e.get("batch") == 1 else e for e in h]
    assert counts(h) == only()
    # Another transaction wrote between T1's two writes (T5 at offset 1, T1's second write at 2):
    # while T5 was open the last stable offset lay between them, so stopping there is right.
    h = [dict(e, offset=2) if e.get("value") == "t1-1" and e["type"] in ("poll", "final") else e for e in clean()]
    h = replace(h, txn("t1.0:0", "commit", [w(0, "t1-0", 0), w(0, "t1-1", 1), w(1, "t1-2", 0)]),
                txn("t1.0:0", "commit", [w(0, "t1-0", 0), w(0, "t1-1", 2), w(1, "t1-2", 0)]),
                txn("t5.0:0", "info", [w(0, "t5-0", 1)]))
    h = [dict(e, batch=9) if e.get("value") == "t1-1" and e["type"] == "poll" else e for e in h]
    assert counts(h) == only()
    # Stopping after T1's last write to partition 0 is not intermediate, whatever partition 1 does.
    h = replace(clean(), poll(1, 0, "t1-2", batch=1), poll(1, 0, "t1-2", batch=9))
    assert counts(h) == only()


def test_g1c_cycle_of_write_read_dependencies():
    # X1 reads Y1's write and Y1 reads X1's write: each saw the other's output, a cycle of two.
    h = clean() + [
        commit("x1.0:1"), commit("x2.0:0"),
        txn("x1.0:1", "commit", [w(2, "x1-1:t1-1", 0)], reads=[{"partition": 2, "offset": 1, "value": "x2-0:t1-2"}]),
        txn("x2.0:0", "commit", [w(2, "x2-0:t1-2", 1)], reads=[{"partition": 2, "offset": 0, "value": "x1-1:t1-1"}]),
        final(2, 0, "x1-1:t1-1"), final(2, 1, "x2-0:t1-2"),
    ]
    # A cycle of write-read edges needs a read before a commit: X1 read X2's write before X2's
    # commit was requested, so the same history has one precommitted read.
    assert counts(h) == only(G1c=1, precommitted_read=1)
    # X2 commits first, then X1 reads its output: a dependency, no cycle.
    h = clean() + [
        commit("x2.0:0"), txn("x2.0:0", "commit", [w(2, "x2-0:t1-2", 1)]),
        commit("x1.0:1"),
        txn("x1.0:1", "commit", [w(2, "x1-1:t1-1", 0)], reads=[{"partition": 2, "offset": 1, "value": "x2-0:t1-2"}]),
        final(2, 0, "x1-1:t1-1"), final(2, 1, "x2-0:t1-2"),
    ]
    assert counts(h) == only()


def test_strongly_connected_components():
    comps = strongly_connected({"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"e"}})
    assert sorted(map(tuple, comps)) == [("a", "b", "c"), ("d",), ("e",)]
    # A long chain does not recurse.
    chain = {str(i): {str(i + 1)} for i in range(20000)}
    assert len(strongly_connected(chain)) == 20001  # 0..20000


def test_lost_write_of_a_committed_transaction():
    # The final read lost t1-1 (partition 0 offset 1): a lost write, and T1 is now torn.
    h = [e for e in clean() if e != final(0, 1, "t1-1")]
    h.remove(poll(0, 1, "t1-1", batch=1))
    h.insert(h.index(poll(1, 0, "t1-2", batch=1)), poll(0, 1, "t1-1", batch=1))
    assert counts(h) == only(lost_write=1, torn_txn=1)
    # A committed write at another offset than its delivery report said is lost too (and torn).
    h = replace(clean(), txn("t1.0:0", "commit", [w(0, "t1-0", 0), w(0, "t1-1", 1), w(1, "t1-2", 0)]),
                txn("t1.0:0", "commit", [w(0, "t1-0", 0), w(0, "t1-1", 2), w(1, "t1-2", 0)]))
    assert counts(h)["lost-write"] == 1
    # An indeterminate transaction's writes may be missing, all together.
    h = replace(clean(), txn("t2.0:0", "abort", [w(0, "t2-0", 3)]), txn("t2.0:0", "info", [w(0, "t2-0", 3)]))
    assert counts(h) == only()


def test_precommitted_read():
    # r1 polls T1's writes before T1's commit was even requested.
    h = clean()
    h.remove(commit("t1.0:0"))
    h.insert(h.index(poll(1, 0, "t1-2", batch=1)) + 1, commit("t1.0:0"))
    assert counts(h) == only(precommitted_read=3)
    # X read t1-0 before T1's commit: one precommitted read (by the transaction X).
    h = clean()
    h.remove(commit("t1.0:0"))
    h.remove(poll(0, 0, "t1-0", batch=1))
    h.remove(poll(0, 1, "t1-1", batch=1))
    h.remove(poll(1, 0, "t1-2", batch=1))
    h.append(commit("t1.0:0"))
    assert counts(h) == only(precommitted_read=1)


def test_torn_transaction():
    # T3 is indeterminate; the final read shows one of its two writes.
    h = clean() + [txn("t3.0:0", "info", [w(1, "t3-0", 2), w(2, "t3-1", 0)]), final(1, 2, "t3-0")]
    assert counts(h) == only(torn_txn=1)
    h = clean() + [txn("t3.0:0", "info", [w(1, "t3-0", 2), w(2, "t3-1", 0)]), final(1, 2, "t3-0"),
                   final(2, 0, "t3-1")]
    assert counts(h) == only()


def test_int_poll_skip_and_int_nonmonotonic_poll():
    reads = [{"partition": 0, "offset": 0, "value": "t1-0"}, {"partition": 0, "offset": 5, "value": "x1-0:t1-0"}]
    # X2 reads offset 0 then 5 of partition 0: it skipped t1-1 at offset 1 (3 is aborted, 2 and 4 markers).
    h = clean() + [commit("x2.0:0"), txn("x2.0:0", "commit", [], reads=reads)]
    assert counts(h) == only(int_poll_skip=1)
    # Offsets 1 then 5: what lies between is an aborted record and markers, not a skip.
    ok = [{"partition": 0, "offset": 1, "value": "t1-1"}, {"partition": 0, "offset": 5, "value": "x1-0:t1-0"}]
    assert counts(clean() + [commit("x2.0:0"), txn("x2.0:0", "commit", [], reads=ok)]) == only()
    back = [{"partition": 0, "offset": 1, "value": "t1-1"}, {"partition": 0, "offset": 0, "value": "t1-0"}]
    h = clean() + [commit("x2.0:0"), txn("x2.0:0", "commit", [], reads=back)]
    assert counts(h) == only(int_nonmonotonic_poll=1)


def test_poll_skip_and_nonmonotonic_poll_across_polls():
    # T3 and T4 commit one write each to partition 1 (offsets 2 and 4); r1 reads p1:0, then p1:4.
    more = [commit("t3.0:0"), txn("t3.0:0", "commit", [w(1, "t3-0", 2)]),
            commit("t4.0:0"), txn("t4.0:0", "commit", [w(1, "t4-0", 4)])]
    h = clean() + more + [poll(1, 4, "t4-0", batch=8), final(1, 2, "t3-0"), final(1, 4, "t4-0")]
    assert counts(h) == only(poll_skip=1)
    h = clean() + more + [poll(1, 2, "t3-0", batch=8), poll(1, 4, "t4-0", batch=9), final(1, 2, "t3-0"),
                          final(1, 4, "t4-0")]
    assert counts(h) == only()
    # r1 reads partition 0 again from the start without a reset: nonmonotonic; with one: fine.
    again = [poll(0, 0, "t1-0", batch=5), poll(0, 1, "t1-1", batch=5)]
    assert counts(clean() + again) == only(nonmonotonic_poll=1)
    assert counts(clean() + [reset(partitions=[0])] + again) == only()


def test_duplicate_and_ctp_duplicate():
    # t1-0 twice in partition 0 (the final read shows it at 0 and again at 7).
    h = clean() + [final(0, 7, "t1-0")]
    assert counts(h) == only(duplicate=1)
    # t1-0 transformed twice, by two committed transactions (x1-0 and x1-1): a ctp duplicate.
    h = clean() + [commit("x1.0:1"),
                   txn("x1.0:1", "commit", [w(1, "x1-1:t1-0", 2)], reads=[{"partition": 0, "offset": 0,
                                                                           "value": "t1-0"}]),
                   final(1, 2, "x1-1:t1-0")]
    assert counts(h) == only(ctp_duplicate=1)
    # A second transform that was aborted is not visible: no duplicate.
    h = clean() + [txn("x1.0:1", "abort", [w(1, "x1-1:t1-0", 2)], reads=[{"partition": 0, "offset": 0,
                                                                          "value": "t1-0"}])]
    assert counts(h) == only()


def test_phantom_read():
    h = clean() + [final(1, 5, "t9-9")]
    assert counts(h) == only(phantom_read=1)


def test_report_renders_and_serializes():
    report = check_txn(clean() + [final(1, 5, "t9-9")])
    text = report.render()
    assert "phantom-read" in text and "INVALID" in text
    assert json.loads(json.dumps(report.to_json()))["counts"]["phantom-read"] == 1
