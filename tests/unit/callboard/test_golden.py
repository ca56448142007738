"""`callboard report` and `callboard alerts` on a seeded day, byte for byte as the build
before the one-pipeline restructuring (54d0320) printed them.

Deliberate changes since (issue 10), each file written again for it and differing
from 54d0320's only there: step-down alerts name the rung signed out as a sign-out
("Quality staff sign out", not "... sign in": the six step-down alerts' names and
actions); report rows end with a ``still_waiting`` column (0 in every row of this
day, whose calls have all left the queue by its end). The breach warnings (issue 18)
are left out with ``--no-warnings``: the ladder's alerts are compared as they were."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from callboard.cli import cli

GOLDEN = Path(__file__).resolve().parents[2] / "golden"
DAY = ("simulate", "--seed", "5", "--duration", "24h", "--start", "2026-01-05T00:00",
       "--volume", "3")


@pytest.fixture(scope="module")
def day(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("golden") / "day.jsonl"
    result = CliRunner().invoke(cli, [*DAY, "--out", str(path)], env={"CALLBOARD_CONFIG": ""})
    assert result.exit_code == 0, result.output
    return path


@pytest.mark.parametrize(("args", "golden"), [
    (("report", "--interval", "1h"), "report-seed5-day-1h.json.gz"),
    # The breach warnings (issue 18) are new since: the ladder's own alerts are unchanged.
    (("alerts", "--no-warnings"), "alerts-seed5-day.json.gz"),
])
def test_offline_output_is_unchanged_byte_for_byte(day, args, golden):
    result = CliRunner().invoke(cli, [args[0], "--events", str(day), *args[1:]],
                                env={"CALLBOARD_CONFIG": ""})
    assert result.exit_code == 0, result.output
    want = gzip.decompress((GOLDEN / golden).read_bytes()).decode()
    assert result.stdout == want


def test_with_the_warnings_the_ladders_alerts_are_unchanged_and_each_warning_within_horizon(day):
    result = CliRunner().invoke(cli, ["alerts", "--events", str(day)],
                                env={"CALLBOARD_CONFIG": ""})
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    ladder = [r for r in rows if r["direction"] in ("up", "down")]
    want = json.loads(gzip.decompress((GOLDEN / "alerts-seed5-day.json.gz").read_bytes()))
    assert ladder == want
    warnings = [r for r in rows if r["direction"] in ("warn", "warn_end")]
    assert warnings and all(r["step"] == 0 for r in warnings)
    assert all(r["breach_in_s"] is not None and r["breach_in_s"] <= 600
               for r in warnings if r["direction"] == "warn")
