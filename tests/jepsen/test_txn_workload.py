"""How the transactional workload classifies a transaction's end (no broker: a scripted producer)."""

from __future__ import annotations

import confluent_kafka as ck

from history import History
from txn_workload import end_transaction


def failure(retriable=False, abortable=False, fatal=False) -> ck.KafkaException:
    return ck.KafkaException(ck.KafkaError(ck.KafkaError._TIMED_OUT if retriable else ck.KafkaError._STATE,
                                           "scripted", fatal=fatal, retriable=retriable,
                                           txn_requires_abort=abortable))


class Scripted:
    """commit_transaction / abort_transaction raise the scripted failures in turn, then return."""

    def __init__(self, commits=(), aborts=()):
        self.commits, self.aborts = list(commits), list(aborts)
        self.calls: list[str] = []

    def commit_transaction(self, _timeout):
        self.calls.append("commit")
        if self.commits:
            raise self.commits.pop(0)

    def abort_transaction(self, _timeout):
        self.calls.append("abort")
        if self.aborts:
            raise self.aborts.pop(0)


def end(tmp_path, p: Scripted, commit: bool) -> tuple[tuple[str, str | None], list[dict]]:
    h = History(tmp_path / "h.jsonl")
    out = end_transaction(h, p, "t1.0:0", commit, 1.0)
    h.close()
    return out, History.load(tmp_path / "h.jsonl")


def test_a_commit_that_returns_is_committed_and_marked_before_the_call(tmp_path):
    (outcome, error), events = end(tmp_path, Scripted(), commit=True)
    assert (outcome, error) == ("commit", None)
    assert [e["type"] for e in events] == ["txn-commit"] and events[0]["txn"] == "t1.0:0"


def test_a_retriable_commit_failure_is_retried(tmp_path):
    p = Scripted(commits=[failure(retriable=True)])
    (outcome, _), _ = end(tmp_path, p, commit=True)
    assert outcome == "commit" and p.calls == ["commit", "commit"]


def test_a_commit_that_requires_an_abort_is_aborted(tmp_path):
    p = Scripted(commits=[failure(abortable=True)])
    (outcome, error), _ = end(tmp_path, p, commit=True)
    assert outcome == "abort" and "scripted" in error and p.calls == ["commit", "abort"]


def test_a_fatal_commit_failure_is_indeterminate(tmp_path):
    p = Scripted(commits=[failure(fatal=True)])
    (outcome, _), _ = end(tmp_path, p, commit=True)
    assert outcome == "info" and p.calls == ["commit"]


def test_aborts(tmp_path):
    (outcome, _), events = end(tmp_path, Scripted(), commit=False)
    assert outcome == "abort" and events == []
    p = Scripted(aborts=[failure(retriable=True)])
    assert end(tmp_path, p, commit=False)[0][0] == "abort" and p.calls == ["abort", "abort"]
    p = Scripted(aborts=[failure(fatal=True)])
    assert end(tmp_path, p, commit=False)[0][0] == "info"
