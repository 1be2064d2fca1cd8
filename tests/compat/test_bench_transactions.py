"""scripts/bench-transactions' command line and the strom-bench runs it plans (no broker needed;
the benchmark itself runs against a broker with transactions, see its header)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "bench_transactions.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_transactions", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_transactions"] = module
    spec.loader.exec_module(module)
    return module


def flag(args: list[str], name: str) -> str:
    return args[args.index(name) + 1]


def test_the_default_plan_is_idempotent_two_transaction_lengths_both_isolation_levels_and_single_record_transactions(
        bench):
    runs = bench.plan(bench.parse_args([]), "127.0.0.1:9", "7")
    assert [r.name for r in runs] == [
        "produce idempotent acks=all",
        "produce transactional, 100 ms transactions",
        "produce transactional, 1000 ms transactions",
        "consume read_uncommitted (100 ms transactions)",
        "consume read_committed (100 ms transactions)",
        "produce one-record transactions acks=all",
    ]
    idem, t100, t1000, ru, rc, single = (r.args for r in runs)
    for produce in (idem, t100, t1000, single):
        assert produce[0] == "produce" and flag(produce, "--acks") == "all"
        assert flag(produce, "--bootstrap-servers") == "127.0.0.1:9"
    for throughput in (idem, t100, t1000, ru, rc):
        assert flag(throughput, "--records") == "1000000"
    assert flag(idem, "--record-size") == "100" and flag(idem, "--partitions") == "6"
    assert flag(idem, "--producer-props") == "enable.idempotence=true" and "--transactional-id" not in idem
    assert (flag(t100, "--transaction-ms"), flag(t1000, "--transaction-ms")) == ("100", "1000")
    assert flag(t100, "--transactional-id") != flag(t1000, "--transactional-id")
    assert len({flag(a, "--topic") for a in (idem, t100, t1000, single)}) == 4
    # Both consumers read the 100 ms topic, each with its isolation level.
    assert flag(ru, "--topic") == flag(rc, "--topic") == flag(t100, "--topic")
    assert (flag(ru, "--isolation-level"), flag(rc, "--isolation-level")) == ("read_uncommitted", "read_committed")
    assert runs[3].needs == runs[4].needs == runs[1].name
    assert (flag(single, "--records"), flag(single, "--transaction-records")) == ("5000", "1")


def test_options_change_the_plan(bench):
    args = bench.parse_args(["--records", "1000", "--record-size", "10", "--partitions", "2",
                             "--transaction-ms", "1000", "--transaction-ms", "20",
                             "--single-record-transactions", "0"])
    runs = bench.plan(args, "b:1", "7")
    assert [r.name for r in runs] == [
        "produce idempotent acks=all",
        "produce transactional, 20 ms transactions",
        "produce transactional, 1000 ms transactions",
        "consume read_uncommitted (20 ms transactions)",
        "consume read_committed (20 ms transactions)",
    ]
    assert all(flag(r.args, "--records") == "1000" for r in runs)
    assert flag(runs[0].args, "--record-size") == "10" and flag(runs[0].args, "--partitions") == "2"


@pytest.mark.parametrize("argv", [
    ["--records", "0"], ["--records", "x"], ["--transaction-ms", "0"], ["--single-record-transactions", "-1"],
    ["--override", "novalue"], ["--bootstrap-servers", "h:1", "--override", "a=b"], ["--unknown"],
])
def test_bad_arguments_exit_with_status_2(bench, argv, capsys):
    with pytest.raises(SystemExit) as exit_:
        bench.parse_args(argv)
    assert exit_.value.code == 2
    assert "error:" in capsys.readouterr().err


def test_a_failed_run_is_a_row_saying_so(bench):
    assert bench.row("x", {"error": "exit 1: init_transactions | timed out"}) == \
        "| x | failed: exit 1: init_transactions / timed out | | | | | | |"
    line = bench.row("t", {"records": 10, "records_per_sec": 5.0, "mb_per_sec": 0.001, "p99_ms": 3.0,
                           "transactions": 10, "transactions_per_sec": 5.0, "commit_p50_ms": 1.0,
                           "commit_p99_ms": 2.0, "broker_cpu_s_per_m": 0.5, "rss_mib": 80.0, "hwm_mib": 90.0})
    assert line == "| t | 10 | 5 | 0.00 | 3.00 | 5 (1.0 / 2.0) | 0.50 | 80 (90) |"
