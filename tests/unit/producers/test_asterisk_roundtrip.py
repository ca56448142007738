"""The simulator's calls written as a queue_log and read back give the same KPIs.

queue_log has whole seconds, no hold time inside a call, no after-call work and
no blocked calls, so the original events are first brought to what Asterisk
would have measured (below, written from Asterisk's rules, not from the
converter): every time floored to its second, waits and talk as differences of
those seconds, hold folded into talk. Then every call KPI must be equal.
"""

from __future__ import annotations

import pytest

from base.assemble import report_of_events
from base.config import Settings
from producers.asterisk import Converter, convert_lines
from producers.asterisk_log import queue_log_lines
from producers.simulator import Simulator
from tests.unit.factories import at

KEYS = ("offered", "answered", "abandoned", "short_abandoned", "answered_within_threshold",
        "abandoned_within_threshold", "transferred", "handled", "repeated", "service_level",
        "abandon_rate", "answered_rate", "answer_rate", "answer_timeout_rate", "asa_s",
        "avg_abandon_s", "avg_talk_s", "transfer_rate", "fcr", "max_wait_s")


def as_asterisk_measures(events: list[dict]) -> list[dict]:
    offered_s: dict[str, int] = {}
    answered_s: dict[str, int] = {}
    out = []
    for e in events:
        e = dict(e)
        sec = e["ts_ms"] // 1000
        if e["type"] in ("call.blocked", "call.wrapped_up"):
            continue  # never in a queue_log
        if e["type"].startswith("agent.") and e.get("state") in ("on_call", "acw"):
            continue
        e["ts_ms"] = sec * 1000
        call = e.get("call_id")
        if e["type"] == "call.offered":
            offered_s[call] = sec
        if "offered_ms" in e:
            e["offered_ms"] = offered_s[call] * 1000
        if e["type"] in ("call.answered", "call.abandoned"):
            e["wait_ms"] = (sec - offered_s[call]) * 1000
            e.pop("ring_ms", None)
        if e["type"] == "call.answered":
            answered_s[call] = sec
        if e["type"] == "call.ended":
            e["talk_ms"], e["hold_ms"] = (sec - answered_s[call]) * 1000, 0
        out.append(e)
    return out


def test_simulated_calls_survive_a_round_trip_through_queue_log():
    settings = Settings()
    sim = Simulator(seed=8, start_ms=at(7, 0), duration_ms=6 * 3_600_000, zone=settings.zone,
                    trunks=25)
    events = list(sim.events())
    log = list(queue_log_lines(events))
    conv = Converter()
    back = list(convert_lines(log, conv))
    assert conv.counts["rejected"] == 0 and conv.counts["converted"] == len(log)
    want = report_of_events(as_asterisk_measures(events), settings, "30m")
    got = report_of_events(back, settings, "30m")
    assert [(r["queue"], r["interval_start"]) for r in got] == [
        (r["queue"], r["interval_start"]) for r in want]
    for g, w in zip(got, want, strict=True):
        for key in KEYS:
            assert g[key] == (pytest.approx(w[key]) if w[key] is not None else None), (
                g["queue"], g["interval_start"], key)
    total = next(r for r in report_of_events(back, settings, "all") if r["queue"] == "ALL")
    assert total["answered"] > 1000 and total["abandoned"] > 20 and total["transferred"] > 10
    assert total["repeated"] > 0
