"""Fixtures: a fresh `strom server` per test, always cleaned up; its log tail on every failure.

The binary comes from STROM_BIN (scripts/test sets it to the release build); without it, the
release build in target/ is used if present. A missing binary is an error, not a skip: this
suite exists to run against the real thing.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from broker_process import Broker

REPO_ROOT = Path(__file__).resolve().parents[2]
BROKERS_KEY = pytest.StashKey[list]()


@pytest.fixture(scope="session")
def strom_bin() -> Path:
    path = Path(os.environ.get("STROM_BIN") or REPO_ROOT / "target" / "release" / "strom").resolve()
    if not path.is_file() or not os.access(path, os.X_OK):
        pytest.fail(f"no strom binary at {path}: run `cargo build --release -p strom` or set STROM_BIN",
                    pytrace=False)
    return path


@pytest.fixture
def broker_factory(strom_bin, tmp_path, request):
    """start(overrides, env) -> a running Broker with its own port and log.dirs under the test's tmp dir."""
    brokers: list[Broker] = []
    request.node.stash[BROKERS_KEY] = brokers

    def start(overrides: dict[str, str] | None = None, env: dict[str, str] | None = None) -> Broker:
        b = Broker(strom_bin, tmp_path / f"broker{len(brokers)}", overrides, env)
        brokers.append(b)
        b.start()
        return b

    yield start
    for b in brokers:
        b.cleanup()


@pytest.fixture
def broker(broker_factory) -> Broker:
    """A broker with default settings: bootstrap, data_dir, stop(), kill9(), restart(), start()."""
    return broker_factory()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.failed:
        for b in item.stash.get(BROKERS_KEY, []):
            report.sections.append((f"strom broker log ({b.bootstrap})", b.log_tail()))
    return report
