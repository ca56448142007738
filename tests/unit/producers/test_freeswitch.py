"""FreeSWITCH mod_callcenter conversion: the vendor's own examples, a recorded session
with the hand-worked figures, events seen twice, and malformed frames.

Expected events and KPIs are worked out by hand from the fixtures (tests/fixtures/
freeswitch/SOURCE.md says where each came from)."""

from __future__ import annotations

from pathlib import Path

import pytest

from base.assemble import report_of_events
from base.config import Settings
from core import events as ev
from core.pipeline import Pipeline
from core.records import Record
from producers.freeswitch import Converter, convert_events, parse_dump, tiers_of

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "freeswitch"
T0 = 1767574800  # 2026-01-05 09:00:00 +08:00, the session's start
SUPPORT, HOME = "support@default", "家庭业务@default"


def session() -> tuple[list[dict], Converter]:
    conv = Converter()
    lines = (FIXTURES / "session-2026-01-05.txt").read_text(encoding="utf-8").splitlines()
    out = list(convert_events(parse_dump(lines), conv))
    for event in out:
        ev.validate(event)
    return out, conv


def day_row(events: list[dict], queue: str) -> dict:
    return next(r for r in report_of_events(events, Settings(), "day") if r["queue"] == queue)


def test_the_vendors_examples_are_each_counted_and_none_invented():
    """The documentation's ten examples carry toy times (CC-Member-Joined-Time 9000, in
    1970) and no Event-Date-Timestamp: each one is rejected for its time (or for the
    missing timestamp) or skipped for what it is, with its reason; no event is made up
    from them."""
    conv = Converter()
    text = (FIXTURES / "mod_callcenter_examples.txt").read_text(encoding="utf-8")
    blocks = list(parse_dump(text.splitlines()))
    assert len(blocks) == 10
    assert list(convert_events(blocks, conv)) == []
    counts = conv.summary()
    # agent-status-change and member-queue-start need Event-Date-Timestamp; the bridge
    # start and end and member-queue-end (Cancel) carry 1970 times.
    assert (counts["rejected.missing_fields"], counts["rejected.bad_time"]) == (2, 3)
    assert {k: v for k, v in counts.items() if k.startswith("skipped.")} == {
        "skipped.agent_state.Receiving": 1, "skipped.agent-offering": 1,
        "skipped.bridge-agent-fail": 1, "skipped.members-count": 1,
        "skipped.member-queue-end.Terminated": 1}
    assert counts["received"] == 10 == counts["rejected"] + counts["skipped"]
    assert all("CC-Action" in text for _, text in conv.rejected)


def test_a_recorded_session_gives_the_hand_worked_figures():
    events, conv = session()
    counts = conv.summary()
    # 23 events: 17 converted, 6 skipped (members-count, agent-offering, Receiving,
    # In a queue call, member-queue-end Terminated, bridge-agent-fail), none rejected.
    assert (counts["received"], counts["converted"], counts["skipped"]) == (23, 17, 6)
    assert counts.get("rejected", 0) == 0
    support = day_row(events, SUPPORT)
    # A waits 10 s (ring 5 s) and talks 180 s; B abandons after 45 s; C waits 102 s and
    # talks 120 s. Answered within 20 s: A only.
    assert (support["offered"], support["answered"], support["abandoned"]) == (3, 2, 1)
    assert support["answered_within_threshold"] == 1
    assert support["asa_s"] == pytest.approx((10 + 102) / 2)
    assert support["avg_abandon_s"] == pytest.approx(45)
    assert support["avg_talk_s"] == pytest.approx((180 + 120) / 2)
    home = day_row(events, HOME)  # the queue named in Chinese: D times out after 20 s
    assert (home["offered"], home["answered"], home["abandoned"]) == (1, 0, 1)
    assert home["avg_abandon_s"] == pytest.approx(20)
    reasons = {e["call_id"]: e.get("reason") for e in events if e["type"] == ev.CALL_ABANDONED}
    assert reasons == {"b7f0c1e2-0002": "break_out", "d7f0c1e2-0004": "timeout"}
    answered = {e["call_id"]: e.get("ring_ms") for e in events if e["type"] == ev.CALL_ANSWERED}
    assert answered == {"a7f0c1e2-0001": 5000, "c7f0c1e2-0003": 1000}


def _agents_at(events: list[dict], at_s: int) -> dict:
    """The agents as the board shows them at T0 + at_s: the events up to then."""
    pipeline = Pipeline(_rules())
    upto = [e for e in events if e["ts_ms"] <= (T0 + at_s) * 1000]
    pipeline.feed([Record(ev.dumps(e), 0, i) for i, e in enumerate(upto)])
    return pipeline.snapshot(SUPPORT, (T0 + at_s) * 1000)["now"]["agents"]


def _rules():
    from base.assemble import pipeline_rules

    return pipeline_rules(Settings(), offline=True)


def test_agents_by_state_follow_status_and_state():
    events, _ = session()
    # 1000 signs in Available and takes A (70-250 s); 1001 signs in On Break (its queue
    # learnt from the call it failed to answer).
    early = _agents_at(events, 100)
    assert (early["on_call"], early["not_ready"], early["available"]) == (1, 1, 0)
    # At 400 s: 1000 idle after C (not ready), 1001 available since 300 s.
    late = _agents_at(events, 400)
    assert (late["on_call"], late["not_ready"], late["available"]) == (0, 1, 1)
    # At 700 s 1001 has logged out.
    gone = _agents_at(events, 700)
    assert (gone["logged_in"], gone["not_ready"], gone["available"]) == (1, 1, 0)


def test_events_seen_again_after_a_reconnect_count_once():
    """A reconnect can replay the events around the drop: the same member UUID and
    action give the same event id, and the converter passes each once."""
    blocks = list(parse_dump((FIXTURES / "session-2026-01-05.txt").read_text(
        encoding="utf-8").splitlines()))
    conv = Converter(tiers=tiers_of(blocks))  # live: the tier list asked at connect
    first = list(convert_events(blocks[:12], conv))
    again = list(convert_events(blocks[8:], conv))  # 4 events seen twice
    once, _ = session()
    assert sorted(e["event_id"] for e in first + again) == sorted(e["event_id"] for e in once)
    assert day_row(first + again, SUPPORT)["offered"] == 3


@pytest.mark.parametrize(("headers", "reason"), [
    ({"CC-Action": "member-queue-start", "CC-Queue": SUPPORT}, "missing_fields"),
    ({"CC-Action": "member-queue-start", "CC-Queue": SUPPORT, "CC-Member-UUID": "x",
      "Event-Date-Timestamp": "soon"}, "bad_time"),
    ({"CC-Action": "member-queue-end", "CC-Queue": SUPPORT, "CC-Member-UUID": "x",
      "CC-Cause": "Vanished"}, "bad_field"),
    ({"CC-Action": "queue-exploded"}, "unknown_action"),
    ({"CC-Action": "member-queue-start", "CC-Queue": "bad\u202equeue", "CC-Member-UUID": "x",
      "Event-Date-Timestamp": str(T0 * 1_000_000)}, "bad_field"),
])
def test_a_malformed_event_is_rejected_with_its_reason_and_the_rest_flows(headers, reason):
    conv = Converter()
    bad = {"Event-Name": "CUSTOM", "Event-Subclass": "callcenter::info", **headers}
    good = {"Event-Name": "CUSTOM", "Event-Subclass": "callcenter::info",
            "CC-Action": "member-queue-start", "CC-Queue": SUPPORT, "CC-Member-UUID": "ok",
            "Event-Date-Timestamp": str(T0 * 1_000_000)}
    assert conv.feed(bad) == []
    assert [e["call_id"] for e in conv.feed(good)] == ["ok"]
    assert conv.counts[f"rejected.{reason}"] == 1 and conv.rejected[0][0] == reason


def test_a_dump_with_socket_framing_and_notes_yields_only_events():
    lines = ["# kept from fs_cli", "Content-Length: 120", "Content-Type: text/event-plain", "",
             "Event-Name: CUSTOM", "Event-Subclass: callcenter%3A%3Ainfo",
             "CC-Queue: %E5%AE%B6%E5%BA%AD%E4%B8%9A%E5%8A%A1%40default", ""]
    assert list(parse_dump(lines)) == [{"Event-Name": "CUSTOM",
                                        "Event-Subclass": "callcenter::info",
                                        "CC-Queue": HOME}]
