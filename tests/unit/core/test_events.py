"""Schema v1 validation: every way an event can be unusable has its own reason."""

import json

import pytest

from core import events as ev
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


# The decoder fuzzed: whatever bytes arrive, parse() returns a valid event or raises
# EventError with a reason, and the pipeline sets each bad record aside, counted, and
# never raises. (bench/fuzz.py runs a million of these and prints the reasons.)
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner,
                                                                 max_size=5),
    max_leaves=20)


def _event_like(draw_fields: dict) -> bytes:
    import json as _json

    base = {"v": 1, "event_id": "f-1", "type": "call.offered", "ts_ms": 1_767_578_400_000,
            "queue": "GEN", "source": "fuzz", "call_id": "c1"}
    base.update(draw_fields)
    return _json.dumps(base, allow_nan=True).encode()


@settings(max_examples=400, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(
    st.binary(max_size=300),
    st.dictionaries(st.sampled_from(["v", "event_id", "type", "ts_ms", "queue", "call_id",
                                     "wait_ms", "offered_ms", "agent_id", "state", "caller",
                                     "talk_ms", "extra"]), _JSONISH, max_size=6)
    .map(_event_like)))
def test_no_input_crashes_the_decoder_or_the_pipeline(raw):
    from base.assemble import pipeline_rules
    from base.config import Settings
    from core.events import EventError, parse
    from core.pipeline import Pipeline
    from core.records import Record

    try:
        event = parse(raw)
    except EventError as exc:
        assert exc.reason  # every reject names its reason
        event = None
    pipeline = Pipeline(pipeline_rules(Settings()))
    result = pipeline.feed([Record(raw, 0, 0)], wall_ms=1_767_578_400_000)
    assert result.counted + len(result.dead) + pipeline.stats["duplicates"] == 1
    assert (event is None) == (len(result.dead) == 1) or result.dead[0].reason in (
        "future", "late", "conflicting_outcome")
    pipeline.snapshot("GEN", 1_767_578_460_000)  # and the figures can still be read


def test_a_field_of_the_wrong_kind_is_refused_on_any_event_type():
    # Found by the fuzz test: a list where a duration goes, on a type that does not
    # need the field, reached a comparison and raised TypeError.
    import json as _json

    from core.events import EventError, parse

    base = {"v": 1, "event_id": "e", "type": "call.offered", "ts_ms": 1_767_578_400_000,
            "queue": "GEN", "source": "t", "call_id": "c"}
    for extra in ({"wait_ms": []}, {"offered_ms": "x"}, {"agent_id": ["a"]}):
        with pytest.raises(EventError) as caught:
            parse(_json.dumps({**base, **extra}).encode())
        assert caught.value.reason == "bad_field"


def test_an_id_with_a_bidi_override_is_rejected_not_shown_reversed():
    import pytest

    from core.events import EventError, parse

    for sneaky in ("\u202egnp.exe", "A1\u2066x", "A1\u200f", "A1\x85"):
        doc = {"v": 1, "event_id": "e1", "type": "agent.login", "ts_ms": 1_767_578_400_000,
               "queue": "GEN", "source": "t", "agent_id": sneaky, "state": "available"}
        with pytest.raises(EventError) as error:
            parse(json.dumps(doc).encode())
        assert error.value.reason == "bad_field" and "agent_id" in str(error.value)


def test_a_session_name_is_letters_digits_dash_and_underscore_only():
    from base.keys import SESSION_NAME

    assert SESSION_NAME.fullmatch("incident-2026_01")
    for bad in ("..", "a.b", "a/b", ""):
        assert not SESSION_NAME.fullmatch(bad)
