"""Tickets and surveys (A4-A7): working-day deadlines, the figures on hand-worked cases,
bad rows refused with their reasons, and simulated months against a pandas oracle."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from base.assemble import pipeline_rules
from base.calendar import working_days
from base.config import Settings, TicketConfig
from core.events import EventError, parse
from core.pipeline import fold_file
from core.report import ticket_rows
from core.tickets import TicketBook, TicketRules, figures
from core.workdays import due_ms, working_ms_between
from tests import ticket_oracle

ZONE = ZoneInfo("Asia/Shanghai")

H = 3_600_000
CN = working_days(TicketConfig())


def ms(*args: int) -> int:
    return int(datetime(*args, tzinfo=ZONE).timestamp() * 1000)


def weekdays(day: date) -> bool:
    return day.weekday() < 5


def test_working_days_skip_the_weekend_and_start_after_a_day_off():
    # Friday 2026-01-09 15:00 + 4 working days: Thursday 15:00 (line 505).
    assert due_ms(ms(2026, 1, 9, 15), 4 * 24 * H, working_days=True, zone=ZONE,
                  is_working_day=weekdays) == ms(2026, 1, 15, 15)
    # Saturday: counting starts Monday 00:00, due at the end of Thursday.
    assert due_ms(ms(2026, 1, 10, 11), 4 * 24 * H, working_days=True, zone=ZONE,
                  is_working_day=weekdays) == ms(2026, 1, 16, 0)
    # Clock time for levels 1 and 2 (lines 503-504), weekend or not.
    assert due_ms(ms(2026, 1, 10, 11), 2 * H, working_days=False, zone=ZONE,
                  is_working_day=weekdays) == ms(2026, 1, 10, 13)
    assert working_ms_between(ms(2026, 1, 9, 15), ms(2026, 1, 12, 3), zone=ZONE,
                              is_working_day=weekdays) == 12 * H


def test_the_spring_festival_2026_and_its_make_up_saturday():
    # China's calendar (holidays package): Feb 15-23 off, Saturday Feb 14 a working day.
    assert CN(date(2026, 2, 14)) and not CN(date(2026, 2, 16)) and not CN(date(2026, 2, 23))
    # Friday Feb 13 10:00 + 4 working days: 14 h (Fri) + 24 (Sat, made up) + 24 (Tue 24)
    # + 24 (Wed 25) + 10 h of Thursday Feb 26.
    assert due_ms(ms(2026, 2, 13, 10), 4 * 24 * H, working_days=True, zone=ZONE,
                  is_working_day=CN) == ms(2026, 2, 26, 10)


def test_an_override_file_makes_a_centres_own_days(tmp_path):
    path = tmp_path / "days.toml"
    path.write_text('working = ["2026-01-10"]\noff = ["2026-01-12"]\n')
    own = working_days(TicketConfig(calendar_file=path))
    assert own(date(2026, 1, 10)) and not own(date(2026, 1, 12)) and own(date(2026, 1, 13))


def event(etype: str, ts: int, **fields) -> dict:
    return {"v": 1, "event_id": f"{etype}-{fields.get('ticket_id')}-{ts}", "type": etype,
            "ts_ms": ts, "queue": "GEN", "source": "t", **fields}


def test_the_figures_on_a_hand_worked_month():
    book = TicketBook(TicketRules(ZONE, weekdays))
    t0 = ms(2026, 1, 5, 9)  # a Monday
    refused = book.apply([parse(json.dumps(e)) for e in [
        event("ticket.opened", t0, ticket_id="c1", kind="consultation"),
        event("ticket.replied", t0 + 3 * H, ticket_id="c1"),  # in 24 h
        event("ticket.opened", t0, ticket_id="c2", kind="consultation"),
        event("ticket.replied", t0 + 30 * H, ticket_id="c2"),  # late
        event("ticket.opened", t0, ticket_id="p1", kind="complaint", level=1, key_account=True),
        event("ticket.resolved", t0 + H, ticket_id="p1"),  # in 2 h (line 503)
        event("ticket.opened", t0, ticket_id="p2", kind="complaint", level=1),
        event("ticket.resolved", t0 + 3 * H, ticket_id="p2"),  # late
        event("ticket.reopened", t0 + 4 * H, ticket_id="p3", repeat_of="p2"),
        event("survey.answered", t0 + 5 * H, ticket_id="p1", score=5),
        event("survey.answered", t0 + 5 * H, ticket_id="p2", satisfied=False),
        event("survey.answered", t0 + 4 * H, ticket_id="c1", satisfied=True),
        event("ticket.opened", t0, ticket_id="c1", kind="consultation"),  # a duplicate
    ]])
    assert refused == [] and book.duplicates == 1
    got = figures(book.tickets.values(), ms(2026, 1, 1), ms(2026, 2, 1), t0 + 40 * H)
    assert (got["consultations"], got["consultation_reply_rate"],
            got["consultation_on_time_reply_rate"]) == (2, 1.0, 0.5)
    # Complaints: p1, p2 and the repeat p3 (level 1 like p2, open 36 h: overdue).
    assert got["complaints"] == 3 and got["level1_complaints"] == 3
    assert got["level1_on_time_rate"] == pytest.approx(1 / 3, abs=1e-6)
    assert got["level1_overdue"] == 1
    assert got["repeat_complaint_rate"] == 0.5  # 1 / (3 - 1), line 522
    assert got["complaint_satisfaction"] == pytest.approx(1 / 3, abs=1e-6)  # of all (line 527)
    assert got["complaint_satisfaction_of_surveyed"] == 0.5
    assert got["key_account_complaint_satisfaction"] == 1.0
    assert got["consultation_satisfaction"] == 0.5


@pytest.mark.parametrize(("fields", "reason"), [
    ({"type": "ticket.opened", "ticket_id": "x", "kind": "complaint", "level": 5}, "bad_field"),
    ({"type": "ticket.opened", "ticket_id": "x", "kind": "complaint"}, "missing_field"),
    ({"type": "ticket.opened", "kind": "consultation"}, "missing_field"),
    ({"type": "ticket.opened", "ticket_id": "x", "kind": "praise"}, "bad_field"),
    ({"type": "survey.answered", "ticket_id": "x"}, "missing_field"),
    ({"type": "survey.answered", "ticket_id": "x", "satisfied": "yes"}, "bad_field"),
])
def test_bad_ticket_rows_are_refused_with_their_reason(fields, reason):
    with pytest.raises(EventError) as caught:
        parse(json.dumps({"v": 1, "event_id": "e", "ts_ms": ms(2026, 1, 5, 9), "queue": "GEN",
                          "source": "t", **fields}))
    assert caught.value.reason == reason


def test_a_bad_row_is_dead_lettered_and_the_rest_of_the_file_counted():
    t0 = ms(2026, 1, 5, 9)
    lines = [json.dumps(e).encode() for e in [
        event("ticket.opened", t0, ticket_id="a", kind="complaint", level=9),  # unknown level
        event("ticket.opened", t0, ticket_id="b", kind="complaint", level=2),
        event("ticket.replied", t0 - H, ticket_id="b"),  # a reply before the opening
        {**event("ticket.replied", t0 + H), "ticket_id": None},  # no ticket id
        event("ticket.replied", t0 + H, ticket_id="nobody"),
        event("ticket.resolved", t0 + 2 * H, ticket_id="b"),
    ]]
    pipeline, result = fold_file(pipeline_rules(Settings(), offline=True), lines)
    assert sorted(d.reason for d in result.dead) == [
        "bad_field", "bad_time", "missing_field", "unknown_ticket"]
    assert pipeline.stats["tickets_counted"] == 2
    ticket = pipeline.tickets.tickets["b"]
    assert ticket.resolved_ms == t0 + 2 * H and ticket.replied_ms == t0 + 2 * H


def test_a_checkpoint_carries_the_tickets():
    from core.pipeline import Pipeline

    rules = pipeline_rules(Settings(), offline=True)
    t0 = ms(2026, 1, 5, 9)
    pipeline, _ = fold_file(rules, [json.dumps(event(
        "ticket.opened", t0, ticket_id="b", kind="complaint", level=3)).encode()])
    again = Pipeline.decode(rules, pipeline.encode())
    assert again.tickets.tickets == pipeline.tickets.tickets


@pytest.mark.parametrize("start", ["2026-01-05T00:00", "2026-02-01T00:00"])
def test_simulated_months_equal_the_pandas_oracle(tmp_path, start):
    """February 2026 holds the Spring Festival (Feb 15-23) and its make-up Saturdays."""
    path = tmp_path / "month.jsonl"
    subprocess.run([sys.executable, "-m", "callboard.cli", "simulate", "--seed", "5",
                    "--start", start, "--duration", "31d", "--volume", "0.06", "--tickets",
                    "--out", str(path)], check=True, capture_output=True)
    with path.open("rb") as fh:
        pipeline, _ = fold_file(pipeline_rules(Settings(), offline=True), fh)
    rows = {(r["queue"], r["interval_start"][:7]): r for r in ticket_rows(pipeline, "month")}
    want = ticket_oracle.monthly(ticket_oracle.pd.read_json(path, lines=True))
    assert sorted(rows) == sorted(want) and len(want) >= 5
    level3 = sum(w["level3_complaints"] for (q, _), w in want.items() if q == "ALL")
    assert level3 > 0  # working days were exercised
    for key, figures_ in want.items():
        for name, value in figures_.items():
            got = rows[key][name]
            assert (got is None and value is None) or got == pytest.approx(value, abs=1e-6), (
                key, name, got, value)
