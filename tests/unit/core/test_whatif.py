"""More agents, the recorded calls queued again: worked by hand."""

from core.whatif import RecordedCall, recorded_calls, requeue, spread_agents

S = 1000


def calls() -> list[RecordedCall]:
    # One agent. A: 0 s, answered at once, handled 120 s. B: 30 s, gave up at 90 s
    # (patience 60 s). C: 60 s, answered at 120 s (when A was done), handled 60 s.
    return [RecordedCall("GEN", "A", 0, 0, None, 120 * S, None),
            RecordedCall("GEN", "B", 30 * S, None, 90 * S, None, None),
            RecordedCall("GEN", "C", 60 * S, 120 * S, None, 60 * S, None)]


def outcomes(events: list[dict]) -> dict[str, tuple[str, int]]:
    return {e["call_id"]: (e["type"], e["ts_ms"] // S) for e in events
            if e["type"] != "call.offered"}


def one_agent(queue: str, minute_ms: int) -> int:
    return 1


def test_with_no_extra_agent_the_recording_comes_back():
    got = outcomes(requeue(calls(), one_agent, {}, 0, 600 * S))
    assert got == {"A": ("call.answered", 0), "B": ("call.abandoned", 90),
                   "C": ("call.answered", 120)}


def test_one_more_agent_answers_the_caller_who_gave_up():
    # Two agents: B is answered on arrival and takes the median handle time (90 s), so
    # both agents are busy until 120 s and C still waits until then.
    got = outcomes(requeue(calls(), one_agent, {"GEN": 1}, 0, 600 * S))
    assert got == {"A": ("call.answered", 0), "B": ("call.answered", 30),
                   "C": ("call.answered", 120)}
    # Three agents: nobody waits.
    got = outcomes(requeue(calls(), one_agent, {"GEN": 2}, 0, 600 * S))
    assert got == {"A": ("call.answered", 0), "B": ("call.answered", 30),
                   "C": ("call.answered", 60)}


def test_extra_agents_only_from_their_minute():
    # One more agent from 60 s: B (30-90 s) now gets them at 60 s; C then waits for A.
    got = outcomes(requeue(calls(), one_agent, {"GEN": 1}, 60 * S, 600 * S))
    assert got == {"A": ("call.answered", 0), "B": ("call.answered", 60),
                   "C": ("call.answered", 120)}


def test_recorded_calls_read_from_events():
    events = [
        {"type": "call.offered", "queue": "GEN", "call_id": "x", "ts_ms": 0, "caller": "1"},
        {"type": "call.answered", "queue": "GEN", "call_id": "x", "ts_ms": 5000},
        {"type": "call.ended", "queue": "GEN", "call_id": "x", "ts_ms": 65000,
         "talk_ms": 50000, "hold_ms": 10000},
        {"type": "call.wrapped_up", "queue": "GEN", "call_id": "x", "ts_ms": 80000,
         "acw_ms": 15000},
        {"type": "call.offered", "queue": "GEN", "call_id": "y", "ts_ms": 1000},
        {"type": "call.abandoned", "queue": "GEN", "call_id": "y", "ts_ms": 31000},
    ]
    assert recorded_calls(events) == [
        RecordedCall("GEN", "x", 0, 5000, None, 75000, "1"),
        RecordedCall("GEN", "y", 1000, None, 31000, None, None)]


def test_n_more_agents_are_n_in_all_spread_by_calls():
    # 3 agents over four queues with 50, 30, 15 and 5 calls: shares 1.5, 0.9, 0.45, 0.15;
    # whole parts 1, 0, 0, 0, the two largest remainders (BIZ .9, GEN .5) get the rest.
    assert spread_agents(3, {"GEN": 50, "BIZ": 30, "EN": 15, "VIP": 5}) == {
        "BIZ": 1, "EN": 0, "GEN": 2, "VIP": 0}
    assert sum(spread_agents(7, {"A": 1, "B": 1, "C": 1}).values()) == 7
    assert spread_agents(2, {"A": 0, "B": 0}) == {"A": 1, "B": 1}  # no calls: evenly
    assert spread_agents(2, {}) == {}


def test_extra_agents_go_only_to_their_queue():
    other = [RecordedCall("BIZ", c.call_id, c.offered_ms, c.answered_ms, c.abandoned_ms,
                          c.handle_ms, c.caller) for c in calls()]
    got = outcomes(requeue(other, one_agent, {"GEN": 2}, 0, 600 * S))
    assert got["B"] == ("call.abandoned", 90)  # BIZ got none: as recorded
