"""Runs a Python client's own integration suite against a Strom broker (the contract of scripts/client-suites).

Used by tests/client-suites/kafka-python/run; written so another Python suite can share it.
Each runner describes its suite with a `Suite` and calls `main(suite)`, which:

1. makes (once) a venv under the cache directory with the pinned packages of
   tests/client-suites/python-requirements.txt, installed with --no-deps so nothing unpinned comes in
   (a stamp holds the file's hash: a second run installs nothing);
2. gets the suite's sources (`Suite.prepare`: an sdist from PyPI checked against a pinned sha256, or a
   directory in this repository);
3. starts one broker (tests/compat/broker_process.py) on a free port with a fresh data directory;
4. runs pytest in the venv with a per-test bound (pytest-timeout) and a junit-xml report, the tests the
   expectation file marks `skip` deselected, `--ci` narrowing the run to the suite's `ci` file;
5. turns the junit report into `$CACHE/results/<suite>.tsv` (`<test id>\\t<passed|failed|skipped>\\t<s>`),
   compares it with the suite's `expected` file, prints
   `SUITE <name>: N passed, N failed, N skipped (N unexpected)` and then each unexpected result, and
   exits 0 iff nothing was unexpected.

A test id is pytest's node id relative to the suite's test directory, e.g.
`test_admin_integration.py::test_create_describe_delete_acls`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
REQUIREMENTS = HERE / "python-requirements.txt"
sys.path.insert(0, str(ROOT / "tests" / "compat"))

from broker_process import Broker, BrokerFailed  # noqa: E402

DOWNLOAD_TIMEOUT_S = 120
PIP_TIMEOUT_S = 600


# How many more runs a `retry_on_failure` test gets while it keeps failing.
RETRIES = 2

@dataclass
class Suite:
    name: str
    # (cache dir) -> directory pytest runs in (its rootdir: the suite's conftest imports resolve there)
    prepare: Callable[[Path], Path]
    # test directory, relative to the rootdir; test ids are relative to it
    test_dir: str
    # (broker) -> environment that points the suite at the broker
    env: Callable[[Broker], dict[str, str]]
    # per-test bound, seconds (pytest-timeout)
    test_timeout_s: int = 120
    # bound on the whole pytest run, seconds, full and --ci
    run_timeout_s: int = 3600
    ci_run_timeout_s: int = 300
    # broker config overrides; `{bootstrap}` in a value stands for the broker's host:port
    broker_overrides: dict[str, str] = field(default_factory=dict)
    # test id -> why: tests whose failure is a known client-side race, run again (up to RETRIES more
    # times, on the same broker) while they fail; a later pass counts as passed and is printed as retried
    retry_on_failure: dict[str, str] = field(default_factory=dict)
    pytest_args: list[str] = field(default_factory=list)


def cache_dir() -> Path:
    return Path(os.environ.get("STROM_SUITES_CACHE") or ROOT / "target" / "client-suites").resolve()


def log(msg: str) -> None:
    print(f"--> {msg}", flush=True)


# -- sources -----------------------------------------------------------------------------------------


def pypi_sdist(cache: Path, project: str, version: str, sha256: str) -> Path:
    """The unpacked sdist of `project==version` under cache/src, fetched once from PyPI.

    The pinned sha256 must match both PyPI's JSON for that release and the downloaded bytes."""
    dest = cache / "src" / f"{project}-{version}"
    stamp = dest / ".strom-sha256"
    if stamp.is_file() and stamp.read_text().strip() == sha256:
        return dest
    json_url = f"https://pypi.org/pypi/{project}/json"
    with urllib.request.urlopen(json_url, timeout=DOWNLOAD_TIMEOUT_S) as resp:
        meta = json.load(resp)
    sdists = [f for f in meta["releases"].get(version, []) if f["packagetype"] == "sdist"]
    if len(sdists) != 1:
        raise SystemExit(f"{project} {version}: expected one sdist on PyPI, found {len(sdists)}")
    sdist = sdists[0]
    if sdist["digests"]["sha256"] != sha256:
        raise SystemExit(f"{project} {version}: PyPI lists sha256 {sdist['digests']['sha256']}, "
                         f"pinned {sha256}")
    log(f"{project} {version}: downloading {sdist['filename']}")
    with urllib.request.urlopen(urllib.parse.urljoin(json_url, sdist["url"]),
                                timeout=DOWNLOAD_TIMEOUT_S) as resp:
        data = resp.read()
    got = hashlib.sha256(data).hexdigest()
    if got != sha256:
        raise SystemExit(f"{project} {version}: downloaded sdist has sha256 {got}, pinned {sha256}")
    tmp = dest.with_name(dest.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    archive = tmp / sdist["filename"]
    archive.write_bytes(data)
    with tarfile.open(archive) as tar:
        if hasattr(tarfile, "data_filter"):  # Python >= 3.11.4: refuse links and paths out of tmp
            tar.extractall(tmp, filter="data")
        else:
            for member in tar.getmembers():
                if not (member.isfile() or member.isdir()) or member.name.startswith("/") \
                        or ".." in Path(member.name).parts:
                    raise SystemExit(f"{project} {version}: unexpected sdist member {member.name}")
            tar.extractall(tmp)
    archive.unlink()
    (top,) = [p for p in tmp.iterdir() if p.is_dir()]
    shutil.rmtree(dest, ignore_errors=True)
    top.rename(dest)
    shutil.rmtree(tmp)
    stamp.write_text(sha256 + "\n")
    return dest


def venv(cache: Path) -> Path:
    """The suites' venv's python, with python-requirements.txt installed (once per change of the file)."""
    env_dir = cache / "python-venv"
    python = env_dir / "bin" / "python"
    want = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    stamp = env_dir / ".strom-requirements.sha256"
    if python.exists() and stamp.is_file() and stamp.read_text().strip() == want:
        return python
    log(f"python venv: installing {REQUIREMENTS.relative_to(ROOT)} into {env_dir}")
    shutil.rmtree(env_dir, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(env_dir)], check=True, timeout=PIP_TIMEOUT_S)
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                    "--no-deps", "-r", str(REQUIREMENTS)], check=True, timeout=PIP_TIMEOUT_S)
    stamp.write_text(want + "\n")
    return python


# -- expectations ------------------------------------------------------------------------------------


def read_expected(path: Path) -> dict[str, tuple[str, str]]:
    """test id -> (pass|fail|skip, reason)."""
    out: dict[str, tuple[str, str]] = {}
    for n, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        body, _, reason = line.partition("  #")
        verdict, _, test_id = body.strip().partition(" ")
        test_id = test_id.strip()
        if verdict not in ("pass", "fail", "skip") or not test_id:
            raise SystemExit(f"{path}:{n}: expected `pass|fail|skip <test id>`, got {raw!r}")
        if verdict != "pass" and not reason.strip():
            raise SystemExit(f"{path}:{n}: a `{verdict}` line needs `  # reason`")
        if test_id in out:
            raise SystemExit(f"{path}:{n}: {test_id} listed twice")
        out[test_id] = (verdict, reason.strip())
    return out


def read_ci(path: Path) -> list[str]:
    """The CI subset: test ids or id prefixes (a file, a file::test), one a line."""
    return [line.split("#", 1)[0].strip() for line in path.read_text().splitlines()
            if line.split("#", 1)[0].strip()]


def in_ci(test_id: str, ci: list[str]) -> bool:
    return any(test_id == c or test_id.startswith(c + "::") or test_id.startswith(c + "[")
               or (c.endswith("/") and test_id.startswith(c)) for c in ci)


# -- junit -> results ----------------------------------------------------------------------------------


def junit_results(xml_path: Path, rootdir: Path, test_dir: str) -> dict[str, tuple[str, float]]:
    """test id -> (passed|failed|skipped, seconds) from pytest's junit-xml report."""
    results: dict[str, tuple[str, float]] = {}
    rank = {"passed": 0, "skipped": 1, "failed": 2}
    prefix = test_dir.rstrip("/") + "/"
    for case in ET.parse(xml_path).getroot().iter("testcase"):
        classname, name = case.get("classname", ""), case.get("name", "")
        parts = classname.split(".")
        # classname is the module's dotted path, then any class names: find the module's file.
        path, rest = None, []
        for i in range(len(parts), 0, -1):
            candidate = "/".join(parts[:i]) + ".py"
            if (rootdir / candidate).is_file():
                path, rest = candidate, parts[i:]
                break
        if path is None:
            path, rest = "/".join(parts) + ".py", []
        if path.startswith(prefix):
            path = path[len(prefix):]
        test_id = "::".join([path, *rest, name])
        if case.find("failure") is not None or case.find("error") is not None:
            outcome = "failed"
        elif case.find("skipped") is not None:
            outcome = "skipped"
        else:
            outcome = "passed"
        seconds = float(case.get("time") or 0)
        if test_id in results:  # a teardown error is reported as a second case: the worse wins
            old, old_s = results[test_id]
            outcome = max(old, outcome, key=rank.__getitem__)
            seconds = max(seconds, old_s)
        results[test_id] = (outcome, seconds)
    return results


def compare(results: dict[str, tuple[str, float]], expected: dict[str, tuple[str, str]],
            selected: Callable[[str], bool]) -> list[str]:
    """Every unexpected result, one line each."""
    unexpected = []
    for test_id, (outcome, _) in sorted(results.items()):
        verdict, reason = expected.get(test_id, (None, ""))
        if verdict is None:
            unexpected.append(f"{test_id}: {outcome}, not listed in expected")
        elif verdict == "pass" and outcome != "passed":
            unexpected.append(f"{test_id}: {outcome}, expected to pass")
        elif verdict == "fail" and outcome == "passed":
            unexpected.append(f"{test_id}: passed, expected to fail ({reason})")
    for test_id, (verdict, _) in sorted(expected.items()):
        if verdict == "pass" and test_id not in results and selected(test_id):
            unexpected.append(f"{test_id}: did not run, expected to pass")
    return unexpected


def broker_peak_rss_mib(broker: Broker) -> str:
    """The broker process's peak resident set (VmHWM), for the figures; '?' where /proc cannot tell."""
    try:
        for line in Path(f"/proc/{broker.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return str(int(line.split()[1]) // 1024)
    except (OSError, AttributeError, ValueError):
        pass
    return "?"


# -- main ---------------------------------------------------------------------------------------------


def main(suite: Suite) -> int:
    parser = argparse.ArgumentParser(description=f"Run {suite.name}'s integration suite against Strom.")
    parser.add_argument("--ci", action="store_true", help="only the CI subset (the suite's `ci` file)")
    parser.add_argument("pytest_args", nargs="*", help="extra pytest arguments (after --), e.g. -k NAME")
    args = parser.parse_args()

    suite_dir = HERE / suite.name
    expected = read_expected(suite_dir / "expected")
    ci = read_ci(suite_dir / "ci") if args.ci else None
    strom_bin = Path(os.environ.get("STROM_BIN") or ROOT / "target" / "release" / "strom").resolve()
    if not os.access(strom_bin, os.X_OK):
        raise SystemExit(f"no strom binary at {strom_bin}: build it (cargo build -p strom --release) "
                         f"or set STROM_BIN")

    cache = cache_dir()
    python = venv(cache)
    rootdir = suite.prepare(cache)
    results_dir = cache / "results"
    results_dir.mkdir(parents=True, exist_ok=True)
    work = cache / "work" / suite.name
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    junit = work / "junit.xml"

    def selected(test_id: str) -> bool:
        # extra pytest arguments (-k, say) make a partial run: only what ran is compared
        return not args.pytest_args and (ci is None or in_ci(test_id, ci))

    prefix = suite.test_dir.rstrip("/") + "/"
    targets = [prefix + c for c in ci] if ci is not None else [suite.test_dir]
    skips = [t for t, (v, _) in expected.items() if v == "skip"]
    cmd = [str(python), "-m", "pytest", *targets, "-p", "no:cacheprovider", "-q", "-rN",
           f"--timeout={suite.test_timeout_s}",
           # signal, not thread: the thread method ends the whole run at the first timeout, junit and all
           "--timeout-method=signal", f"--junitxml={junit}", "-o", "junit_family=xunit2",
           "-o", "junit_logging=no", f"--rootdir={rootdir}",
           *[f"--deselect={prefix}{t}" for t in skips], *suite.pytest_args, *args.pytest_args]

    def run_pytest(argv: list[str], log_name: str, timeout_s: int) -> int | None:
        with open(work / log_name, "wb") as out:
            try:
                return subprocess.run(argv, cwd=rootdir, env=env, stdout=out, stderr=subprocess.STDOUT,
                                      timeout=timeout_s, check=False).returncode
            except subprocess.TimeoutExpired:
                log(f"{suite.name}: pytest exceeded {timeout_s}s and was stopped")
                return None

    broker = Broker(strom_bin, work)
    broker.overrides.update({k: v.replace("{bootstrap}", broker.bootstrap)
                             for k, v in suite.broker_overrides.items()})
    started = time.monotonic()
    results: dict[str, tuple[str, float]] = {}
    retried: list[str] = []
    status: int | None = None
    try:
        broker.start()
        log(f"{suite.name}: broker {broker.bootstrap} ({strom_bin}), log {broker.log_path}")
        env = {**os.environ, **suite.env(broker), "PYTHONDONTWRITEBYTECODE": "1"}
        run_timeout = suite.ci_run_timeout_s if ci is not None else suite.run_timeout_s
        status = run_pytest(cmd, "pytest.log", run_timeout)
        results = junit_results(junit, rootdir, suite.test_dir) if junit.is_file() else {}
        retry = [t for t, (outcome, _) in results.items()
                 if outcome == "failed" and t in suite.retry_on_failure]
        # Up to RETRIES more runs of those that keep failing.
        for attempt in range(1, RETRIES + 1):
            if not retry:
                break
            retry_junit = work / f"junit-retry-{attempt}.xml"
            retry_cmd = [a for a in cmd if not a.startswith("--junitxml=") and a not in targets]
            run_pytest([*retry_cmd, f"--junitxml={retry_junit}", *[prefix + t for t in retry]],
                       f"pytest-retry-{attempt}.log", run_timeout)
            again = junit_results(retry_junit, rootdir, suite.test_dir) if retry_junit.is_file() else {}
            for t in list(retry):
                if again.get(t, ("failed", 0.0))[0] == "passed":
                    retried.append(t)
                    results[t] = ("passed", results[t][1] + again[t][1])
                    retry.remove(t)
        peak_rss = broker_peak_rss_mib(broker)
    except BrokerFailed as e:
        print(e, file=sys.stderr)
        return 2
    finally:
        broker.cleanup()
    elapsed = time.monotonic() - started

    for t in skips:
        if selected(t):
            results.setdefault(t, ("skipped", 0.0))
    with open(results_dir / f"{suite.name}.tsv", "w") as f:
        for test_id, (outcome, seconds) in sorted(results.items()):
            f.write(f"{test_id}\t{outcome}\t{seconds:.2f}\n")
    unexpected = compare(results, expected, selected)
    if not junit.is_file():
        unexpected.insert(0, f"pytest wrote no junit report (see {work / 'pytest.log'})")
    if status not in (0, 1):  # 0: all passed, 1: some failed; anything else ran nothing or broke off
        reason = "was stopped at the run's bound" if status is None else f"exited with status {status}"
        unexpected.insert(0, f"pytest {reason} (see {work / 'pytest.log'})")
    counts = {o: sum(1 for r, _ in results.values() if r == o) for o in ("passed", "failed", "skipped")}
    log(f"{suite.name}: {elapsed:.0f}s, broker peak RSS {peak_rss} MiB; pytest output in {work / 'pytest.log'}, "
        f"results in {results_dir / (suite.name + '.tsv')}")
    print(f"SUITE {suite.name}: {counts['passed']} passed, {counts['failed']} failed, "
          f"{counts['skipped']} skipped ({len(unexpected)} unexpected)")
    for line in unexpected:
        print(f"  unexpected {suite.name} {line}")
    for t in retried:
        print(f"  retried {suite.name} {t}: failed, then passed on a later run "
              f"({suite.retry_on_failure[t]})")
    return 0 if not unexpected else 1
