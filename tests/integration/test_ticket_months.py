"""Simulated ticket months against the pandas oracle (issue #21): pure computation, but a
month each (half a minute), so in the full suite rather than the fast unit loop."""

from __future__ import annotations

import subprocess
import sys

import pytest

from base.assemble import pipeline_rules
from base.config import Settings
from core.pipeline import fold_file
from core.report import ticket_rows
from tests import ticket_oracle


@pytest.mark.parametrize("start", ["2026-01-05T00:00", "2026-02-01T00:00"])
def test_simulated_months_equal_the_pandas_oracle(tmp_path, start):
    """February 2026 holds the Spring Festival (Feb 15-23) and its make-up Saturdays."""
    path = tmp_path / "month.jsonl"
    subprocess.run([sys.executable, "-m", "callboard.cli", "simulate", "--seed", "5",
                    "--start", start, "--duration", "31d", "--volume", "0.06", "--tickets",
                    "--out", str(path)], check=True, capture_output=True)
    with path.open("rb") as fh:
        pipeline, _ = fold_file(pipeline_rules(Settings(), offline=True), fh)
    rows = {(r["queue"], r["interval_start"][:7]): r for r in ticket_rows(pipeline, "month")}
    want = ticket_oracle.monthly(ticket_oracle.pd.read_json(path, lines=True))
    assert sorted(rows) == sorted(want) and len(want) >= 5
    level3 = sum(w["level3_complaints"] for (q, _), w in want.items() if q == "ALL")
    assert level3 > 0  # working days were exercised
    for key, figures_ in want.items():
        for name, value in figures_.items():
            got = rows[key][name]
            assert (got is None and value is None) or got == pytest.approx(value, abs=1e-6), (
                key, name, got, value)
