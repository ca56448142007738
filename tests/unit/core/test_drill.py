"""The supervisor's drill-down of a queue, from the engine's live state: callers waiting
in the order they are answered, numbers masked, the last 50 abandoned calls."""

from __future__ import annotations

from core.engine import mask_caller
from core.snapshot import drill_doc
from core.state import LiveQueue
from tests.unit.core.test_engine import engine
from tests.unit.factories import at, call, event


def test_callers_waiting_are_listed_first_come_first_with_their_wait_and_last_4_digits():
    e = engine()
    e.apply([*call("c2", at(10, 0, 30), caller="13800138002"),
             *call("c1", at(10, 0, 0), caller="13800138001"),
             *call("c3", at(10, 1, 0))])  # no number from the ACD
    drill = drill_doc("GEN", e.live_state("GEN"), at(10, 2, 0))
    assert [(w["position"], w["call_id"], w["wait_s"], w["caller"]) for w in drill["waiting"]] == [
        (1, "c1", 120.0, "••••8001"), (2, "c2", 90.0, "••••8002"), (3, "c3", 60.0, "")]


def test_a_number_is_never_shown_whole():
    assert mask_caller("13800138001") == "••••8001"
    assert mask_caller("8001") == "••••"  # an extension: nothing of it
    assert mask_caller("") == "••••"


def test_an_abandoned_call_leaves_the_waiting_list_for_the_abandoned_one_with_its_wait():
    e = engine()
    e.apply([*call("c1", at(10, 0, 0), caller="13800138001", abandon_after_s=45),
             *call("c2", at(10, 0, 10), answer_after_s=5, talk_s=60)])
    drill = drill_doc("GEN", e.live_state("GEN"), at(10, 5, 0))
    assert drill["waiting"] == []
    assert drill["abandoned"] == [{"call_id": "c1", "abandoned_ms": at(10, 0, 45),
                                   "wait_s": 45.0, "caller": "••••8001"}]


def test_the_last_50_abandoned_are_kept_newest_first_even_when_one_arrives_late():
    e = engine()
    events = [ev for i in range(60) for ev in call(f"c{i:02d}", at(10, 0, i), abandon_after_s=10)]
    late = [ev for ev in events if ev["call_id"] == "c59"]
    e.apply([ev for ev in events if ev["call_id"] != "c59"])
    e.apply(late)
    e.apply(events[:2])  # a replayed offer and abandon: counted once
    kept = drill_doc("GEN", e.live_state("GEN"), at(11, 0, 0))["abandoned"]
    assert len(kept) == 50
    assert [a["call_id"] for a in kept] == [f"c{i:02d}" for i in range(59, 9, -1)]


def test_agents_signed_in_with_their_state_and_since_logged_out_left_out():
    e = engine()
    e.apply([event("agent.login", at(9, 0), agent_id="A1", state="available"),
             event("agent.login", at(9, 0), agent_id="A2", state="available"),
             event("agent.state", at(9, 30), agent_id="A2", state="not_ready"),
             event("agent.logout", at(9, 45), agent_id="A1")])
    drill = drill_doc("GEN", e.live_state("GEN"), at(10, 0))
    assert drill["agents"] == [{"agent_id": "A2", "state": "not_ready", "since_ms": at(9, 30)}]


def test_a_live_state_from_before_the_drill_down_reads_as_none_yet():
    old = LiveQueue.from_doc({"waiting": {"c1": 5}, "agents": {}, "newest_ms": 5})
    assert old.callers == {} and old.abandoned == []
    assert LiveQueue.from_doc(old.to_doc()) == old
