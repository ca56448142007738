"""More agents never read worse: the estimate's key moments, computed by the same rules
as the recording's, move the right way as agents are added (no services: the report is
built from a file in memory)."""

from __future__ import annotations

import json

from base.config import Settings
from review.incident_report import build_incident_report, estimate_incident_report
from tests.unit.factories import at, call, event


def surge(tmp_path) -> str:
    # Two agents; 30 callers in 10 minutes from 10:00, each needing 4 minutes: a queue
    # builds, callers give up after 3 minutes, and it drains after 10:10.
    events = [event("agent.login", at(9, 55), agent_id=a) for a in ("A1", "A2")]
    for i in range(30):
        offered = at(10, 0) + i * 20_000
        events += call(f"s{i}", offered, abandon_after_s=180) if i % 3 == 0 else call(
            f"s{i}", offered, answer_after_s=60 + i, talk_s=240, acw_s=0,
            agent="A1" if i % 2 else "A2")
    path = tmp_path / "surge.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in sorted(events, key=lambda e: e["ts_ms"])))
    return str(path)


def test_each_agent_added_brings_recovery_no_later_and_the_breach_no_earlier(tmp_path):
    settings = Settings()
    report = build_incident_report(settings, surge(tmp_path), at(10, 0), at(11, 0))
    recovered, breach, abandoned = [], [], []
    for extra in range(0, 5):
        _, estimate = estimate_incident_report(settings, report, {"GEN": extra}, 0)
        moments = estimate["moments"]
        # None: never breached (the best there is), or not recovered (the worst).
        recovered.append(moments["recovered_ms"] if moments["first_breach_ms"] else 0)
        breach.append(moments["first_breach_ms"] or at(11, 0))
        abandoned.append(len(estimate["abandoned"]))
    assert all(r is not None for r in recovered), recovered
    assert recovered == sorted(recovered, reverse=True), recovered  # never later
    assert breach == sorted(breach), breach                          # never earlier
    assert abandoned == sorted(abandoned, reverse=True), abandoned   # never more
    assert abandoned[0] > abandoned[-1]  # and the agents do help
