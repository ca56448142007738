"""Asterisk queue_log conversion: every verb, the messy cases, and a property test.

Expected events and KPIs are worked out by hand from the lines in each test.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from base.assemble import report_of_events
from base.config import Settings
from core import events as ev
from core import kpi
from producers.asterisk import Converter, agent_id, convert_lines

T0 = 1767578400  # 2026-01-05 10:00:00 +08:00


def lines(*rows: str) -> list[str]:
    return [row.replace("T+", "").strip() for row in rows]


def at(offset_s: int) -> int:
    return T0 + offset_s


def convert(rows: list[str]) -> tuple[list[dict], Converter]:
    conv = Converter()
    out = list(convert_lines(rows, conv))
    for event in out:
        ev.validate(event)  # every event is valid schema v1
    return out, conv


def day_row(events: list[dict], queue: str = "GEN") -> dict:
    rows = report_of_events(events, Settings(), "day")
    return next(r for r in rows if r["queue"] == queue)


@pytest.mark.parametrize(("member", "expected"), [
    ("Agent/1127", "1127"), ("Local/1127@from-queue/n", "1127"), ("SIP/1127", "1127"),
    ("PJSIP/1127-0000001a", "1127"), ("SIP/alice", "alice"), ("Alice Wong", "Alice Wong"),
    ("IAX2/trunk-5", "trunk-5"), ("  Local/2001@from-internal  ", "2001"),
])
def test_agent_names_and_interfaces_map_to_one_id(member, expected):
    assert agent_id(member) == expected


def test_a_day_of_every_call_verb_gives_the_hand_worked_kpis():
    rows = lines(
        f"{at(0)}|NONE|GEN|Local/1001@from-queue/n|ADDMEMBER|",
        f"{at(1)}|NONE|GEN|SIP/1002|ADDMEMBER|PAUSED",
        # c1: waits 8 s, rings 3 s, talks 120 s
        f"{at(10)}|c1|GEN|NONE|ENTERQUEUE||13800000001|1",
        f"{at(18)}|c1|GEN|Local/1001@from-queue/n|CONNECT|8|c1.1|3",
        f"{at(138)}|c1|GEN|Local/1001@from-queue/n|COMPLETECALLER|8|120|1",
        # c2 (old Asterisk: two ENTERQUEUE fields): waits 25 s, agent hangs up after 60 s
        f"{at(20)}|c2|GEN|NONE|ENTERQUEUE||13800000002",
        f"{at(45)}|c2|GEN|Agent/1002|CONNECT|25|c2.1|2",
        f"{at(105)}|c2|GEN|Agent/1002|COMPLETEAGENT|25|60|2",
        # c3: abandons after 40 s; c4 after 3 s (short); c5 times out at 300 s
        f"{at(30)}|c3|GEN|NONE|ENTERQUEUE||13800000003|3",
        f"{at(70)}|c3|GEN|NONE|ABANDON|1|3|40",
        f"{at(31)}|c4|GEN|NONE|ENTERQUEUE||13800000004|4",
        f"{at(34)}|c4|GEN|NONE|ABANDON|2|4|3",
        f"{at(32)}|c5|GEN|NONE|ENTERQUEUE||13800000005|5",
        f"{at(332)}|c5|GEN|NONE|EXITWITHTIMEOUT|1|5|300",
        # c6: leaves with a key after 12 s; c7: queue empty after 0 s
        f"{at(40)}|c6|GEN|NONE|ENTERQUEUE||13800000006|1",
        f"{at(52)}|c6|GEN|NONE|EXITWITHKEY|5|1|1|12",
        f"{at(41)}|c7|GEN|NONE|ENTERQUEUE||13800000007|1",
        f"{at(41)}|c7|GEN|NONE|EXITEMPTY|1|1|0",
        # c8: blind transfer after 30 s of talk; c9: attended transfer after 50 s
        f"{at(200)}|c8|GEN|NONE|ENTERQUEUE||13800000008|1",
        f"{at(205)}|c8|GEN|Local/1001@from-queue/n|CONNECT|5|c8.1|1",
        f"{at(235)}|c8|GEN|Local/1001@from-queue/n|BLINDTRANSFER|8000|from-internal|5|30|1",
        f"{at(210)}|c9|GEN|NONE|ENTERQUEUE||13800000009|1",
        f"{at(230)}|c9|GEN|Agent/1002|CONNECT|20|c9.1|4",
        f"{at(280)}|c9|GEN|Agent/1002|ATTENDEDTRANSFER|BRIDGE|c9.2|20|50|1",
        # agent states
        f"{at(300)}|NONE|GEN|SIP/1002|PAUSE|lunch",
        f"{at(400)}|NONE|GEN|SIP/1002|UNPAUSE|",
        f"{at(500)}|NONE|GEN|Local/1001@from-queue/n|REMOVEMEMBER|",
    )
    events, conv = convert(rows)
    assert conv.counts["rejected"] == 0
    assert conv.counts["converted"] == len(rows)
    row = day_row(events)
    # Offered 9; c4 (3 s) and c7 (0 s) are short abandons (<= 5 s) -> offered 7.
    assert (row["offered"], row["short_abandoned"]) == (7, 2)
    # Answered c1, c2, c8, c9; within 20 s: c1 (8), c8 (5), c9 (exactly 20).
    assert (row["answered"], row["answered_within_threshold"]) == (4, 3)
    assert row["service_level"] == pytest.approx(3 / 7)
    # Abandoned: c3 (40), c5 (timeout 300), c6 (key 12); c4 and c7 were short -> 3
    assert row["abandoned"] == 3
    assert row["avg_abandon_s"] == pytest.approx((40 + 300 + 12) / 3, abs=1e-3)
    assert row["asa_s"] == pytest.approx((8 + 25 + 5 + 20) / 4)
    assert (row["transferred"], row["handled"]) == (2, 4)
    assert row["avg_talk_s"] == pytest.approx((120 + 60 + 30 + 50) / 4)
    assert row["avg_rings"] == pytest.approx((1 + 1 + 1 + 1) / 4)  # 3, 2, 1, 4 s: one ring each
    reasons = sorted(e.get("reason", "") for e in events if e["type"] == "call.abandoned")
    assert reasons == ["", "", "exitempty", "exitwithkey", "exitwithtimeout"]
    paused = [e for e in events if e["type"] == "agent.state" and e["state"] == "not_ready"]
    assert [(p["agent_id"], p["reason"]) for p in paused] == [("1002", "lunch")]
    logins = {e["agent_id"]: e["state"] for e in events if e["type"] == "agent.login"}
    assert logins == {"1001": "available", "1002": "not_ready"}


def test_housekeeping_is_skipped_and_unknown_verbs_rejected():
    rows = lines(
        f"{at(0)}|NONE|NONE|NONE|QUEUESTART|",
        f"{at(1)}|NONE|NONE|NONE|CONFIGRELOAD|",
        f"{at(2)}|c1|NONE|NONE|DID|4008001234",
        f"{at(3)}|c1|GEN|SIP/1|RINGINUSE|",
        f"{at(4)}|c1|GEN|SIP/1|PENALTY|2",
        f"{at(5)}|c1|GEN|SIP/1|SYSCOMPAT|",
        f"{at(6)}|c1|GEN|SIP/1|AGENTDUMP|",
        f"{at(7)}|c1|GEN|SIP/1|TELEPORT|x",
    )
    events, conv = convert(rows)
    assert events == []
    assert (conv.counts["skipped"], conv.counts["rejected.unknown_verb"]) == (7, 1)
    assert conv.rejected_lines == [("unknown_verb", rows[-1])]


def test_messy_lines_are_repaired_or_rejected_and_always_counted():
    rows = [
        "",
        "   ",
        f"{at(0)}|c1|GEN|NONE|ENTERQUEUE||138|1",
        f"{at(0)}|c1|GEN|NONE|ENTERQUEUE||138|1",          # exact duplicate line
        f"{at(9)}|c2|GEN|SIP/7|CONNECT|9|c2.1|2",            # its ENTERQUEUE comes later
        f"{at(0)}|c2|GEN|NONE|ENTERQUEUE||139|1",           # out of order: sorted first
        f"{at(5)}|c1|GEN|SIP/7|CONNECT|5|c1.1|1",
        f"{at(50)}|c9|GEN|SIP/7|COMPLETECALLER|5|40|1",      # a call never seen: orphan
        "not-a-time|c1|GEN|NONE|ABANDON|1|1|1",
        f"{at(60)}|c1|GEN|SIP/7|COMPLETECALLER|5|5",        # truncated? 2 data fields: enough
        f"{at(70)}|c2|GEN|SIP/7|COMPL",                      # a last line cut short
    ]
    events, conv = convert(rows)
    counted = sum(conv.counts[k] for k in ("blank", "duplicate", "skipped", "converted",
                                           "rejected"))
    assert counted == conv.counts["lines"] == len(rows)
    assert conv.counts["blank"] == 2 and conv.counts["duplicate"] == 1
    assert conv.counts["reordered"] > 0
    assert conv.counts["rejected.orphan"] == 1
    assert conv.counts["rejected.bad_time"] == 1
    assert conv.counts["rejected.unknown_verb"] == 1  # "COMPL"
    row = day_row(events)
    assert (row["offered"], row["answered"], row["handled"]) == (2, 2, 1)
    assert conv.counts["open_calls_at_end"] == 1  # c2 was never completed: left open


def test_a_call_repaired_from_a_later_line_and_its_real_enterqueue_count_once():
    """Following a log that starts mid-call: the CONNECT repairs the offer; if the
    ENTERQUEUE is read later (a restart re-reading the file), it has the same id."""
    first = Converter()
    repaired = list(convert_lines([f"{at(9)}|c2|GEN|SIP/7|CONNECT|9|c2.1|2"], first, False))
    second = Converter()
    real = list(convert_lines([f"{at(0)}|c2|GEN|NONE|ENTERQUEUE||139|1"], second, False))
    offered = [e for e in repaired if e["type"] == "call.offered"]
    assert offered[0]["ts_ms"] == at(0) * 1000  # connect time - hold
    assert offered[0]["event_id"] == real[0]["event_id"]
    assert first.counts["repaired.missing_enterqueue"] == 1


def test_a_callid_that_enters_again_is_a_new_call_and_wait_mismatches_are_counted():
    rows = lines(
        f"{at(0)}|c1|GEN|NONE|ENTERQUEUE||138|1",
        f"{at(30)}|c1|GEN|NONE|EXITWITHTIMEOUT|1|1|30",
        f"{at(31)}|c1|BIZ|NONE|ENTERQUEUE||138|1",      # same uniqueid, another queue
        f"{at(40)}|c1|BIZ|SIP/9|CONNECT|2|c1.1|1",       # says 2 s, the lines say 9 s
        f"{at(100)}|c1|BIZ|SIP/9|COMPLETEAGENT|2|60|1",
    )
    events, conv = convert(rows)
    ids = sorted({e["call_id"] for e in events if "call_id" in e})
    assert ids == ["c1", "c1#2"]
    assert conv.counts["wait_mismatch"] == 1
    biz = day_row(events, "BIZ")
    assert (biz["offered"], biz["answered"], biz["asa_s"]) == (1, 1, 2.0)  # the field is used


def test_pause_all_and_logoff_apply_to_every_queue_of_the_agent():
    rows = lines(
        f"{at(0)}|NONE|GEN|Agent/5|AGENTLOGIN|SIP/5",
        f"{at(1)}|NONE|VIP|Agent/5|ADDMEMBER|",
        f"{at(2)}|NONE|NONE|Agent/5|PAUSEALL|training",
        f"{at(3)}|NONE|NONE|Agent/5|UNPAUSEALL|",
        f"{at(4)}|NONE|NONE|Agent/5|AGENTLOGOFF|SIP/5|4",
    )
    events, conv = convert(rows)
    states = [(e["type"], e["queue"], e.get("state")) for e in events]
    assert states == [
        ("agent.login", "GEN", "available"), ("agent.login", "VIP", "available"),
        ("agent.state", "GEN", "not_ready"), ("agent.state", "VIP", "not_ready"),
        ("agent.state", "GEN", "available"), ("agent.state", "VIP", "available"),
        ("agent.logout", "GEN", None), ("agent.logout", "VIP", None),
    ]
    assert len({e["event_id"] for e in events}) == len(events)


def test_abandon_while_ringing_keeps_the_ring_time_and_is_not_answered():
    rows = lines(
        f"{at(0)}|c1|GEN|NONE|ENTERQUEUE||138|1",
        f"{at(10)}|c1|GEN|SIP/3|RINGCANCELED|4000",
        f"{at(10)}|c1|GEN|NONE|ABANDON|1|1|10",
    )
    events, _ = convert(rows)
    abandoned = [e for e in events if e["type"] == "call.abandoned"]
    assert abandoned[0]["ring_ms"] == 4000 and abandoned[0]["wait_ms"] == 10_000
    c = kpi.new_counters()
    for e in events:
        kpi.fold(c, e, Settings().rule_book().rules_for("GEN").limits())
    # Queue time 10 - 4 = 6 s: it did queue; no rings are counted for an unanswered call.
    assert (c["abandoned"], c["answered"], c["queued"], c["rung"]) == (1, 0, 1, 0)


REAL_LINES = [
    f"{at(0)}|1366720340.1|GEN|NONE|ENTERQUEUE||13800000001|1",
    f"{at(8)}|1366720340.1|GEN|Local/1001@from-queue/n|CONNECT|8|1366720348.2|3",
    f"{at(128)}|1366720340.1|GEN|Local/1001@from-queue/n|COMPLETECALLER|8|120|1",
    f"{at(20)}|1366720360.3|GEN|NONE|ABANDON|1|3|40",
    f"{at(1)}|NONE|GEN|SIP/1002|ADDMEMBER|PAUSED",
    f"{at(300)}|NONE|GEN|SIP/1002|PAUSE|lunch",
]


@st.composite
def mutated(draw: st.DrawFn) -> str:
    line = draw(st.sampled_from(REAL_LINES))
    parts = line.split("|")
    op = draw(st.sampled_from(["drop", "dup", "replace", "cut", "junk"]))
    if op == "drop" and len(parts) > 1:
        del parts[draw(st.integers(0, len(parts) - 1))]
    elif op == "dup":
        parts.insert(draw(st.integers(0, len(parts))), draw(st.sampled_from(parts)))
    elif op == "replace":
        parts[draw(st.integers(0, len(parts) - 1))] = draw(st.text(max_size=12))
    elif op == "cut":
        return line[: draw(st.integers(0, len(line)))]
    else:
        return draw(st.text(max_size=80))
    return "|".join(parts)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(mutated(), st.sampled_from(REAL_LINES),
                          st.binary(max_size=60)), max_size=30))
def test_no_input_makes_the_converter_raise_and_every_line_is_accounted_for(rows):
    conv = Converter()
    out = []
    for raw in rows:
        out += conv.feed(raw)
    for event in out:
        ev.validate(event)
    counted = sum(conv.counts[k] for k in ("blank", "duplicate", "skipped", "converted",
                                           "rejected"))
    assert counted == conv.counts["lines"] == len(rows)
