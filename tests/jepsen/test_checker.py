"""The checker on small synthetic histories: for each anomaly class, a history that has exactly that
anomaly (every other count 0) and a near-identical one that does not have it."""

from __future__ import annotations

import json

import pytest

from checker import ANOMALIES, check


def send(seq: int, offset: int | None, status: str = "ok", partition: int = 0, process: str = "p1.0",
         value: str | None = None, error: str | None = None) -> dict:
    return {"type": "send", "process": process, "seq": seq, "value": value or f"p1-{seq}", "partition": partition,
            "status": status, "offset": offset if status == "ok" else None, "error": error}


def poll(offset: int, value: str, consumer: str = "c1", partition: int = 0) -> dict:
    return {"type": "poll", "consumer": consumer, "partition": partition, "offset": offset, "value": value}


def reset(consumer: str = "c1", partitions: list[int] | None = None, reason: str = "assign") -> dict:
    return {"type": "reset", "consumer": consumer, "partitions": partitions, "reason": reason}


def final(offset: int, value: str, partition: int = 0) -> dict:
    return {"type": "final", "partition": partition, "offset": offset, "value": value}


def clean(n: int = 4) -> list[dict]:
    """p1 writes p1-0..p1-{n-1} at offsets 0..n-1 of partition 0; c1 polls them all; the final read
    shows them all. A nemesis event and a note ride along (the checker ignores them)."""
    return ([{"type": "nemesis", "fault": "kill", "action": "start", "node": 2}]
            + [send(i, i) for i in range(n)]
            + [reset()] + [poll(i, f"p1-{i}") for i in range(n)]
            + [{"type": "note", "text": "healed"}]
            + [final(i, f"p1-{i}") for i in range(n)])


def counts(history: list[dict]) -> dict[str, int]:
    # Through JSON, as the runner writes and a later re-check reads the history.
    return check([json.loads(json.dumps(e)) for e in history]).counts()


def only(anomaly: str, count: int = 1) -> dict[str, int]:
    return {name: (count if name == anomaly else 0) for name in ANOMALIES}


NONE = {name: 0 for name in ANOMALIES}


def test_a_clean_history_is_valid():
    report = check(clean())
    assert report.valid
    assert report.counts() == NONE
    assert report.stats["acked"] == 4 and report.stats["polls"] == 4 and report.stats["final_records"] == 4
    assert report.stats["faults"] == 1
    assert "VALID" in report.render()
    assert "VALID" not in report.render(verdict=False)


def test_lost_write_an_acked_offset_missing_from_the_final_read():
    history = [e for e in clean() if not (e["type"] == "final" and e["offset"] == 3)]
    assert counts(history) == only("lost-write")
    [example] = check(history).anomalies["lost-write"].examples
    assert example == {"value": "p1-3", "partition": 0, "offset": 3, "process": "p1.0", "final_value": None}
    assert not check(history).valid and "INVALID" in check(history).render()
    assert counts(clean()) == NONE


def test_an_ack_without_an_offset_is_checked_by_value():
    # p1-4 was acknowledged without an offset (a duplicate's answer): found anywhere in its partition
    # it is fine, and it takes part in no position check.
    found = clean() + [send(4, None, status="ok"), poll(4, "p1-4"), final(4, "p1-4")]
    assert counts(found) == NONE
    assert check(found).stats["acked_without_offset"] == 1
    missing = clean() + [send(4, None, status="ok"), poll(4, "p1-4")]
    assert counts(missing) == only("lost-write")
    assert check(missing).anomalies["lost-write"].examples[0]["offset"] is None
    elsewhere = clean() + [send(4, None, status="ok"), poll(0, "p1-4", partition=1), final(0, "p1-4", partition=1)]
    assert counts(elsewhere) == only("lost-write")


def test_inconsistent_offsets_one_offset_two_values():
    # c2 read another value at offset 2: p9-0, sent by p9 with an unknown outcome (so no phantom),
    # and seen nowhere else (so no duplicate).
    bad = clean() + [send(0, None, status="info", process="p9.0", value="p9-0"),
                     reset("c2"), poll(0, "p1-0", "c2"), poll(1, "p1-1", "c2"), poll(2, "p9-0", "c2"),
                     poll(3, "p1-3", "c2")]
    assert counts(bad) == only("inconsistent-offsets")
    [example] = check(bad).anomalies["inconsistent-offsets"].examples
    assert example["partition"] == 0 and example["offset"] == 2
    assert set(example["values"]) == {"p1-2", "p9-0"}
    good = clean() + [reset("c2")] + [poll(i, f"p1-{i}", "c2") for i in range(4)]
    assert counts(good) == NONE


def test_inconsistent_offsets_the_same_offset_in_two_partitions_is_not_one():
    history = clean() + [send(0, 0, partition=1, process="p2.0", value="p2-0"), poll(0, "p2-0", partition=1),
                         final(0, "p2-0", partition=1)]
    assert counts(history) == NONE


def test_duplicate_one_value_at_two_offsets():
    # The log holds p1-1 twice (a retry the broker did not deduplicate).
    bad = clean() + [poll(4, "p1-1"), final(4, "p1-1")]
    assert counts(bad) == only("duplicate")
    [example] = check(bad).anomalies["duplicate"].examples
    assert example["value"] == "p1-1" and set(example["at"]) == {"0:1", "0:4"}
    good = clean() + [send(4, 4), poll(4, "p1-4"), final(4, "p1-4")]
    assert counts(good) == NONE


def test_nonmonotonic_send_acked_offsets_going_backwards_in_send_order():
    # p1's third send (seq 2) got offset 3, its fourth (seq 3) offset 2; the log agrees.
    bad = ([send(0, 0), send(1, 1), send(2, 3), send(3, 2)] + [reset()]
           + [poll(0, "p1-0"), poll(1, "p1-1"), poll(2, "p1-3"), poll(3, "p1-2")]
           + [final(0, "p1-0"), final(1, "p1-1"), final(2, "p1-3"), final(3, "p1-2")])
    assert counts(bad) == only("nonmonotonic-send")
    [example] = check(bad).anomalies["nonmonotonic-send"].examples
    assert example["before"]["offset"] == 3 and example["after"]["offset"] == 2
    # The same offsets from two producers interleaving is fine: order is per producer.
    good = ([send(0, 0), send(1, 1), send(2, 3), send(0, 2, process="p2.0", value="p2-0")] + [reset()]
            + [poll(0, "p1-0"), poll(1, "p1-1"), poll(2, "p2-0"), poll(3, "p1-2")]
            + [final(0, "p1-0"), final(1, "p1-1"), final(2, "p2-0"), final(3, "p1-2")])
    assert counts(good) == NONE


def test_nonmonotonic_poll_reading_backwards_without_a_reset():
    polls = [poll(0, "p1-0"), poll(1, "p1-1"), poll(2, "p1-2")]
    again = [poll(1, "p1-1"), poll(2, "p1-2"), poll(3, "p1-3")]
    base = [send(i, i) for i in range(4)] + [final(i, f"p1-{i}") for i in range(4)]
    bad = base + [reset()] + polls + again
    assert counts(bad) == only("nonmonotonic-poll")
    [example] = check(bad).anomalies["nonmonotonic-poll"].examples
    assert example["before"]["offset"] == 2 and example["after"]["offset"] == 1
    # A rebalance of that partition in between makes the re-read legitimate; a reset of another
    # partition does not.
    assert counts(base + [reset()] + polls + [reset(partitions=[0], reason="assign")] + again) == NONE
    assert counts(base + [reset()] + polls + [reset(partitions=[1])] + again) == only("nonmonotonic-poll")
    # Another consumer's position is its own.
    assert counts(base + [reset()] + polls + [reset("c2")] + [poll(1, "p1-1", "c2"), poll(3, "p1-3")]) == NONE


def test_poll_skip_jumping_over_an_offset_the_final_read_shows():
    base = [send(i, i) for i in range(4)] + [final(i, f"p1-{i}") for i in range(4)]
    # c1 read 0, 1, 3; c2 read everything, so no value is unseen.
    others = [reset("c2")] + [poll(i, f"p1-{i}", "c2") for i in range(4)]
    bad = base + others + [reset(), poll(0, "p1-0"), poll(1, "p1-1"), poll(3, "p1-3")]
    assert counts(bad) == only("poll-skip")
    [example] = check(bad).anomalies["poll-skip"].examples
    assert (example["from"], example["to"], example["skipped"]) == (1, 3, [2])
    # A seek in between is no skip.
    assert counts(base + others + [reset(), poll(0, "p1-0"), poll(1, "p1-1"), reset(reason="seek"),
                                   poll(3, "p1-3")]) == NONE
    # A gap that holds no record in the final read (as a control record's offset would) is no skip.
    gap = ([send(0, 0), send(1, 1), send(2, 3)] + [reset(), poll(0, "p1-0"), poll(1, "p1-1"), poll(3, "p1-2")]
           + [final(0, "p1-0"), final(1, "p1-1"), final(3, "p1-2")])
    assert counts(gap) == NONE


def test_g1a_a_definitely_failed_send_is_read():
    def history(status: str) -> list[dict]:
        return clean() + [send(4, None, status=status, error="MSG_SIZE_TOO_LARGE"), poll(4, "p1-4"),
                          final(4, "p1-4")]

    assert counts(history("fail")) == only("G1a")
    [example] = check(history("fail")).anomalies["G1a"].examples
    assert example["value"] == "p1-4" and example["read_at"] == ["0:4 by c1", "0:4 by final read"]
    # An indeterminate send (a timeout) may have been written: reading it is no anomaly.
    assert counts(history("info")) == NONE
    # A failed send nobody reads is what "failed" means.
    assert counts(clean() + [send(4, None, status="fail")]) == NONE


def test_unseen_an_acked_value_no_consumer_polled():
    # The final read shows p1-4 at its offset, but c1 was moved past it by a rebalance.
    bad = clean() + [send(4, 4), send(5, 5), reset(reason="assign"), poll(5, "p1-5"), final(4, "p1-4"),
                     final(5, "p1-5")]
    assert counts(bad) == only("unseen")
    [example] = check(bad).anomalies["unseen"].examples
    assert example == {"value": "p1-4", "partition": 0, "offset": 4}
    good = clean() + [send(4, 4), send(5, 5), poll(4, "p1-4"), poll(5, "p1-5"), final(4, "p1-4"),
                      final(5, "p1-5")]
    assert counts(good) == NONE


def test_a_lost_write_nobody_read_counts_as_lost_and_unseen_and_examples_are_bounded():
    history = [send(i, i) for i in range(20)] + [reset()] + [final(i, f"p1-{i}") for i in range(5)] \
        + [poll(i, f"p1-{i}") for i in range(5)]
    report = check(history)
    assert report.counts() == {**NONE, "lost-write": 15, "unseen": 15}
    assert len(report.anomalies["lost-write"].examples) == 8
    assert "lost-write (first 3 of 15)" in report.render()


def test_phantom_read_a_value_nobody_sent():
    # The final read shows a record at offset 4 that no producer sent (p1 sent p1-4 with an unknown
    # outcome; the log holds p1-4x).
    bad = clean() + [send(4, None, status="info"), final(4, "p1-4x"), poll(4, "p1-4x")]
    assert counts(bad) == only("phantom-read")
    [example] = check(bad).anomalies["phantom-read"].examples
    assert example == {"value": "p1-4x", "read_at": ["0:4 by c1", "0:4 by final read"]}
    assert counts(clean() + [send(4, None, status="info"), final(4, "p1-4"), poll(4, "p1-4")]) == NONE


@pytest.mark.parametrize("anomaly", ANOMALIES)
def test_every_anomaly_class_has_a_test(anomaly):
    tests = [name for name in globals() if name.startswith("test_")]
    word = anomaly.lower().replace("-", "_")
    assert any(word in name for name in tests), f"no test names {anomaly}"
