"""A replay signs a quiet queue's ladder out as `callboard alerts` does: the same steps
at the same event times, whether it plays in small steps or jumps to the end."""

from __future__ import annotations

import json

import pytest

from core.pipeline import fold_file
from review.replay import Session
from tests.unit.core.test_pipeline import LIVE
from tests.unit.factories import at, call


def quiet_after_surge() -> list[bytes]:
    # As in test_pipeline: support surges at 10:00, is answered at 10:16 and goes quiet;
    # sales takes a call every 2 minutes until noon.
    support = [e for i in range(8)
               for e in call(f"s{i}", at(10, 0, i), answer_after_s=16 * 60 - i, queue="support")]
    sales = [e for i in range(60)
             for e in call(f"c{i}", at(10, 0) + i * 120_000, answer_after_s=5, queue="sales")]
    return [json.dumps(e).encode() for e in sorted(support + sales, key=lambda e: e["ts_ms"])]


def steps(alerts: list) -> list[tuple]:
    return [(a["queue"], a["direction"], a["step"], a["event_ms"]) for a in alerts]


@pytest.mark.parametrize("step_ms", [60_000, 2 * 3_600_000])
def test_a_replay_signs_out_a_quiet_queue_as_the_offline_reference_does(step_ms):
    lines = quiet_after_surge()
    _, reference = fold_file(LIVE, lines)
    session = Session(rules=LIVE, parts={0: lines}, warm_from_ms=at(0, 0))
    session.reset()
    at_ms = at(10, 0)
    while at_ms < at(12, 0):
        at_ms = min(at(12, 0), at_ms + step_ms)
        session.advance_to(at_ms)
    assert steps(session.alerts) == steps(reference.alerts)
    assert [s[1:3] for s in steps(session.alerts)][-3:] == [("down", 2), ("down", 1), ("down", 0)]
