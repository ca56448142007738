"""Amazon Connect contact events and agent event stream records: the admin guide's own
samples, a session with the hand-worked figures, lost and repeated events, and
malformed records. Fixtures: tests/fixtures/connect/SOURCE.md."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from base.assemble import report_of_events
from base.config import Settings
from core import events as ev
from producers.connect import Converter, convert_records

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "connect"
T0 = 1767574800  # 2026-01-05 09:00:00 +08:00


def sample(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


def as_json(text: str) -> dict:
    """The guide's annotated samples as JSON: its // comments and trailing commas out."""
    text = re.sub(r"//[^\n]*", "", text)
    return json.loads(re.sub(r",(\s*[}\]])", r"\1", text))


def session() -> tuple[list[dict], Converter]:
    conv = Converter()
    out = list(convert_records(sample("session-2026-01-05.jsonl").splitlines(), conv))
    for event in out:
        ev.validate(event)
    return out, conv


def test_the_guides_connected_to_agent_sample_is_an_answered_call():
    conv = Converter()
    out = conv.feed(sample("contact-event-connected-to-agent.json"))
    assert [e["type"] for e in out] == [ev.CALL_OFFERED, ev.CALL_ANSWERED]
    answered = out[1]
    # Queued 17:29:04, connected 17:29:09: a 5 s wait; the queue and agent are the ids
    # their ARNs end with.
    assert answered["wait_ms"] == 5000
    assert answered["queue"] == "12345678-1234-1234-1234-123456789012"
    assert answered["agent_id"] == "12345678-1234-1234-1234-123456789012"
    assert answered["call_id"] == "11111111-1111-1111-1111-111111111111"


def test_the_guides_annotated_samples_are_not_json_and_are_rejected_as_such():
    conv = Converter()
    assert conv.feed(sample("contact-event-disconnected.json")) == []  # a trailing comma
    assert conv.feed(sample("agent-event-stream-heart-beat.json")) == []  # // comments
    assert conv.summary()["rejected.not_json"] == 2
    # The contact sample, its comma taken out, is what it says: an outbound call, no
    # caller asking for a seat. (The agent sample's braces do not balance as published:
    # taking out its comments does not make it JSON.)
    assert conv.feed(as_json(sample("contact-event-disconnected.json"))) == []
    assert conv.counts["skipped.agent_initiated"] == 1


def test_a_session_gives_the_hand_worked_figures():
    events, conv = session()
    counts = conv.summary()
    # 17 records: 13 converted, c1's QUEUED delivered twice, and skipped a chat, an
    # outbound call and a heartbeat.
    assert (counts["records"], counts["converted"], counts["duplicate"], counts["skipped"]) == (
        17, 13, 1, 3)
    row = next(r for r in report_of_events(events, Settings(), "day") if r["queue"] == "q-support")
    # c1 waits 10 s and talks 180 s; c2 abandons after 45 s; c3 (only its DISCONNECTED
    # arrived) waits 102 s and talks 120 s. Answered within 20 s: c1.
    assert (row["offered"], row["answered"], row["abandoned"]) == (3, 2, 1)
    assert row["answered_within_threshold"] == 1
    assert row["asa_s"] == pytest.approx((10 + 102) / 2)
    assert row["avg_abandon_s"] == pytest.approx(45)
    assert row["avg_talk_s"] == pytest.approx((180 + 120) / 2)
    agents = [(e["type"], e["ts_ms"] // 1000 - T0, e["agent_id"], e.get("state"), e.get("reason"))
              for e in events if e["type"].startswith("agent.")]
    assert agents == [
        ("agent.login", 0, "a1", "available", None),
        ("agent.login", 0, "a2", "not_ready", "Break"),  # a custom status
        ("agent.state", 70, "a1", "on_call", None),      # c1 connected
        ("agent.state", 250, "a1", "acw", None),         # c1 ended, still on the agent
        ("agent.state", 260, "a1", "available", None),
        ("agent.state", 300, "a2", "available", None),
        ("agent.logout", 600, "a2", None, None)]


def test_the_same_contact_told_again_or_in_another_order_counts_once():
    lines = sample("session-2026-01-05.jsonl").splitlines()
    once, _ = session()
    again = list(convert_records(list(reversed(lines)) + lines))  # reversed, then all again
    assert sorted(e["event_id"] for e in again) == sorted(e["event_id"] for e in once)


@pytest.mark.parametrize(("record", "reason"), [
    ("{", "not_json"),
    ('["a list"]', "not_json"),
    ('{"hello": 1}', "unknown_record"),
    ('{"detail": {"eventType": "EXPLODED", "channel": "VOICE"}}', "unknown_event_type"),
    ('{"detail": {"eventType": "QUEUED", "channel": "VOICE", "contactId": "x", '
     '"queueInfo": {"queueArn": "arn/queue/q", "enqueueTimestamp": "yesterday"}}}', "bad_time"),
    ('{"detail": {"eventType": "DISCONNECTED", "channel": "VOICE", "contactId": "x", '
     '"queueInfo": {"queueArn": "arn/queue/q", "enqueueTimestamp": "2026-01-05T01:00:00Z"}}}',
     "missing_fields"),
    ('{"detail": {"eventType": "QUEUED", "channel": "VOICE", "contactId": "x", '
     '"queueInfo": {"queueArn": "arn/queue/bad\\u202eq", "enqueueTimestamp": '
     '"2026-01-05T01:00:00Z"}}}', "bad_field"),
])
def test_a_malformed_record_is_rejected_with_its_reason_and_the_rest_flows(record, reason):
    conv = Converter()
    good = ('{"detail": {"eventType": "QUEUED", "channel": "VOICE", "contactId": "ok", '
            '"queueInfo": {"queueArn": "arn/queue/q", "enqueueTimestamp": "2026-01-05T01:00:00Z"}}}')
    assert conv.feed(record) == []
    assert [e["call_id"] for e in conv.feed(good)] == ["ok"]
    assert conv.counts[f"rejected.{reason}"] == 1 and conv.rejected[0][0] == reason
