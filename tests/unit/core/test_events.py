"""Schema v1 validation: every way an event can be unusable has its own reason."""

import json

import pytest

from callboard.core import events as ev
from tests.unit.factories import at, call, event


def test_a_whole_call_validates():
    for e in call("c1", at(10, 0), answer_after_s=12, talk_s=60, hold_s=5, acw_s=20):
        assert ev.parse(json.dumps(e)) == e


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{not json", "malformed_json"),
        (b"\xff\xfe", "malformed_json"),
        (b"[1, 2]", "not_an_object"),
        (b'{"v": 2, "type": "call.offered"}', "unknown_version"),
    ],
)
def test_undecodable(raw, reason):
    with pytest.raises(ev.EventError) as info:
        ev.parse(raw)
    assert info.value.reason == reason


def _broken(**changes):
    e = event("call.answered", at(10, 0, 30), call_id="c", agent_id="a",
              offered_ms=at(10, 0), wait_ms=30_000)
    for key, value in changes.items():
        if value is None:
            e.pop(key)
        else:
            e[key] = value
    return e


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"type": "call.teleported"}, "unknown_type"),
        ({"wait_ms": None}, "missing_field"),
        ({"event_id": None}, "missing_field"),
        ({"wait_ms": "30"}, "bad_field"),
        ({"wait_ms": True}, "bad_field"),
        ({"wait_ms": -1}, "bad_field"),
        ({"queue": ""}, "bad_field"),
        ({"event_id": "x" * 129}, "bad_field"),
        ({"ts_ms": 1_767_578_400}, "bad_time"),  # seconds, not milliseconds
        ({"offered_ms": at(10, 1)}, "bad_time"),  # offered after the answer
    ],
)
def test_invalid_fields(changes, reason):
    with pytest.raises(ev.EventError) as info:
        ev.validate(_broken(**changes))
    assert info.value.reason == reason


def test_agent_state_must_be_known():
    with pytest.raises(ev.EventError) as info:
        ev.validate(event("agent.state", at(9, 0), agent_id="a", state="sleeping"))
    assert info.value.reason == "bad_field"


def test_attribution_is_the_offered_time():
    answered = _broken()
    assert ev.attribution_ms(answered) == at(10, 0)
    offered = event("call.offered", at(11, 0), call_id="c")
    assert ev.attribution_ms(offered) == at(11, 0)


def test_wire_form_is_canonical():
    e = event("call.offered", at(10, 0), call_id="c")
    assert ev.dumps(e) == ev.dumps(dict(reversed(list(e.items()))))
    assert b" " not in ev.dumps(e)
