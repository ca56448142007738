"""Tickets and surveys (A4-A7): working-day deadlines, the figures on hand-worked cases,
bad rows refused with their reasons, and simulated months against a pandas oracle."""

from __future__ import annotations

import json
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from base.assemble import pipeline_rules
from base.calendar import working_days
from base.config import Settings, TicketConfig
from core.events import EventError, parse
from core.pipeline import fold_file
from core.tickets import TicketBook, TicketRules, figures
from core.workdays import due_ms, working_ms_between

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


def test_a_level_1_complaint_is_due_soon_at_1_5_hours_and_overdue_past_2():
    """Issue 21: at 75% of its limit (line 503: 2 h) a complaint is due soon; past it,
    overdue; resolved, it is no longer open."""
    book = TicketBook(TicketRules(ZONE, weekdays))
    t0 = ms(2026, 1, 5, 9)
    book.apply([parse(json.dumps(event("ticket.opened", t0, ticket_id="p", kind="complaint",
                                       level=1, owner="a7")))])
    assert book.status("GEN", t0 + 89 * 60_000)["due_soon"] == 0
    at_90 = book.status("GEN", t0 + 90 * 60_000)
    assert (at_90["open"]["level1"], at_90["due_soon"], at_90["overdue"]) == (1, 1, 0)
    assert at_90["next_due"] == {"ticket_id": "p", "kind": "complaint", "level": 1,
                                 "due_ms": t0 + 2 * H, "owner": "a7"}
    late = book.status("GEN", t0 + 2 * H + 1)
    assert (late["due_soon"], late["overdue"]) == (0, 1)
    book.apply([parse(json.dumps(event("ticket.resolved", t0 + 3 * H, ticket_id="p")))])
    done = book.status("GEN", t0 + 3 * H)
    assert done["open"]["level1"] == 0 and done["next_due"] is None
    assert book.status("BIZ", t0) is None


def test_a_level_3_complaint_uses_its_working_time():
    book = TicketBook(TicketRules(ZONE, weekdays))
    friday = ms(2026, 1, 9, 12)
    book.apply([parse(json.dumps(event("ticket.opened", friday, ticket_id="x",
                                       kind="complaint", level=3)))])
    ticket = book.tickets["x"]
    # Friday noon to Monday noon: 12 h + 12 h of working time, of 96 h.
    assert book.share_used(ticket, ms(2026, 1, 12, 12)) == pytest.approx(0.25)
    assert book.status("GEN", ms(2026, 1, 14, 12))["due_soon"] == 1  # 72 of 96 h


def test_a_complaint_alerts_once_at_75_percent_and_once_past_its_limit_through_the_pipeline():
    """Issue 21 (6): a level-1 complaint at 1.5 h tells its team lead, past 2 h the duty
    manager; each once, at the ticket's own moment whatever the batching; resolved, no
    more. The calls move the log's clock."""
    from tests.unit.factories import call

    t0 = ms(2026, 1, 5, 9)
    events = [*call("a", t0, answer_after_s=5), event("ticket.opened", t0 + 60_000,
              ticket_id="T-1", kind="complaint", level=1, owner="A1", call_id="a"),
              *call("b", t0 + 92 * 60_000, answer_after_s=5),
              *call("c", t0 + 125 * 60_000, answer_after_s=5),
              event("ticket.resolved", t0 + 130 * 60_000, ticket_id="T-1"),
              *call("d", t0 + 300 * 60_000, answer_after_s=5)]
    lines = [json.dumps(e).encode() for e in events]
    rules = pipeline_rules(Settings(), offline=True)
    whole, result = fold_file(rules, lines)
    raised = [(a["direction"], a["event_ms"], a["ticket"]["owner"]) for a in result.alerts
              if a["direction"].startswith("ticket")]
    assert raised == [("ticket_due", t0 + 60_000 + 90 * 60_000, "A1"),
                      ("ticket_overdue", t0 + 60_000 + 120 * 60_000, "A1")]
    # One record at a time: the same alerts, at the same moments.
    from core.pipeline import Pipeline
    from core.records import Record

    single = Pipeline(rules)
    one_by_one = []
    for line in lines:
        one_by_one += single.feed([Record(line)]).alerts
    one_by_one += single.finish()
    assert [(a["alert_id"], a["event_ms"]) for a in one_by_one if "ticket" in a] == [
        (a["alert_id"], a["event_ms"]) for a in result.alerts if "ticket" in a]
