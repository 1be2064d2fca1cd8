"""What every client suite's runner and scripts/client-suites share: the expectation file, the results
file, and the comparison of the two (the contract is in tests/client-suites/README.md).

Standard library only, so a runner can import it before any venv exists:

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    import suites
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUTCOMES = ("passed", "failed", "skipped")


def cache_dir() -> Path:
    """`$STROM_SUITES_CACHE`, else `<repo>/target/client-suites`: downloads, builds, work dirs, results."""
    return Path(os.environ.get("STROM_SUITES_CACHE") or ROOT / "target" / "client-suites")


def results_path(suite: str) -> Path:
    return cache_dir() / "results" / f"{suite}.tsv"


@dataclass
class Expectation:
    verdict: str  # pass | fail | skip
    reason: str
    line: int


def read_expected(path: Path) -> dict[str, Expectation]:
    """`pass <id>`, `fail <id>  # reason`, `skip <id>  # reason`; blank lines and `#` comments allowed.
    A `fail` or `skip` without a reason, an unknown verdict or a test listed twice is an error."""
    expected: dict[str, Expectation] = {}
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        text, _, reason = raw.partition("#")
        words = text.split()
        if not words:
            continue
        if len(words) != 2 or words[0] not in ("pass", "fail", "skip"):
            raise ValueError(f"{path}:{number}: expected `pass|fail|skip <test id>`, got {raw!r}")
        verdict, test_id = words
        if verdict != "pass" and not reason.strip():
            raise ValueError(f"{path}:{number}: `{verdict} {test_id}` needs a `# reason`")
        if test_id in expected:
            raise ValueError(f"{path}:{number}: {test_id} is already listed on line {expected[test_id].line}")
        expected[test_id] = Expectation(verdict, reason.strip(), number)
    return expected


def read_results(path: Path) -> list[tuple[str, str, float]]:
    """`<test id>\\t<passed|failed|skipped>\\t<seconds>` lines, in the order the tests ran."""
    results = []
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        if not raw.strip():
            continue
        parts = raw.split("\t")
        if len(parts) != 3 or parts[1] not in OUTCOMES:
            raise ValueError(f"{path}:{number}: expected `<id>\\t<passed|failed|skipped>\\t<seconds>`, got {raw!r}")
        results.append((parts[0], parts[1], float(parts[2])))
    return results


def write_results(path: Path, results: list[tuple[str, str, float]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tsv.tmp")
    tmp.write_text("".join(f"{tid}\t{outcome}\t{seconds:.1f}\n" for tid, outcome, seconds in results))
    tmp.replace(path)


@dataclass
class Comparison:
    suite: str
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    expected_failures: int = 0
    unexpected: list[str] = field(default_factory=list)

    def summary_line(self) -> str:
        return (f"SUITE {self.suite}: {self.passed} passed, {self.failed} failed, {self.skipped} skipped "
                f"({len(self.unexpected)} unexpected)")


def compare(suite: str, results: list[tuple[str, str, float]], expected: dict[str, Expectation]) -> Comparison:
    """Unexpected: a `pass` test that failed, a `fail` test that passed, a test not listed. A `pass` test
    that was skipped is unexpected too (it no longer tests anything); a listed test that did not run
    (outside the CI subset) is not."""
    c = Comparison(suite)
    for test_id, outcome, seconds in results:
        if outcome == "passed":
            c.passed += 1
        elif outcome == "failed":
            c.failed += 1
        else:
            c.skipped += 1
        exp = expected.get(test_id)
        if exp is None:
            c.unexpected.append(f"{test_id}: {outcome} ({seconds:.1f}s), not listed in the expectation file")
        elif exp.verdict == "pass" and outcome != "passed":
            c.unexpected.append(f"{test_id}: {outcome} ({seconds:.1f}s), expected to pass")
        elif exp.verdict == "fail" and outcome == "passed":
            c.unexpected.append(f"{test_id}: passed ({seconds:.1f}s), expected to fail ({exp.reason}): "
                                "flip it to `pass`")
        elif exp.verdict == "fail" and outcome == "failed":
            c.expected_failures += 1
    return c
