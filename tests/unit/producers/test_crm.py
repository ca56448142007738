"""A CRM's ticket export as events: a column map, words in Chinese, bad rows set aside
with their reasons and the rest counted (issue #21 §3)."""

from __future__ import annotations

import json
from zoneinfo import ZoneInfo

from base.assemble import pipeline_rules
from base.config import Settings
from core.pipeline import fold_file
from producers.crm import CrmRows

ZONE = ZoneInfo("Asia/Shanghai")
COLUMNS = {"ticket_id": "工单号", "kind": "类型", "level": "级别", "opened_at": "受理时间",
           "replied_at": "回复时间", "resolved_at": "解决时间", "owner": "受理人",
           "score": "评分", "queue": "队列"}
EXPORT = """工单号,类型,级别,受理时间,回复时间,解决时间,受理人,评分,队列
T1,投诉,1,2026-01-05 10:00,,2026-01-05 11:30,A1,5,GEN
T2,咨询,,2026-01-05 10:05,2026-01-05 12:00,,A2,,GEN
,投诉,1,2026-01-05 10:10,,,A3,,GEN
T4,投诉,9,2026-01-05 10:15,,,A4,,GEN
T5,投诉,2,2026-01-05 10:20,2026-01-05 09:00,,A5,,GEN
T6,投诉,2,yesterday,,,A6,,GEN
"""


def test_a_csv_export_with_its_own_column_names_becomes_ticket_events():
    rows = CrmRows(COLUMNS, ZONE, "GEN")
    events = [e for line in EXPORT.encode().splitlines(keepends=True)
              for e in rows.feed_csv(line)]
    t1 = [e for e in events if e["ticket_id"] == "T1"]
    assert [e["type"] for e in t1] == ["ticket.opened", "ticket.resolved", "survey.answered"]
    assert t1[0]["kind"] == "complaint" and t1[0]["level"] == 1 and t1[0]["owner"] == "A1"
    assert t1[2]["score"] == 5 and t1[2]["ts_ms"] == t1[1]["ts_ms"]  # no survey time: last
    assert {e["event_id"] for e in t1} == {"crm:T1:ticket.opened", "crm:T1:ticket.resolved",
                                            "crm:T1:survey.answered"}
    # No ticket id, no time: set aside here, with the reason.
    assert [(r[0], r[1].split(" (")[0].split(":")[0]) for r in rows.rejected] == [
        ("missing_field", "no ticket id"), ("bad_time", "column '受理时间'")]
    # The rest goes to the worker, which refuses a level 9 and a reply before the
    # opening, and counts the others.
    lines = [json.dumps(e).encode() for e in events]
    pipeline, result = fold_file(pipeline_rules(Settings(), offline=True), lines)
    assert sorted(d.reason for d in result.dead) == ["bad_field", "bad_time"]
    assert set(pipeline.tickets.tickets) == {"T1", "T2", "T5"}
    assert pipeline.tickets.tickets["T1"].satisfied is True


def test_the_same_row_exported_again_with_more_filled_in_counts_once():
    first = CrmRows({}, ZONE, "GEN")
    again = [json.dumps(e).encode() for line in (
        b"ticket_id,kind,level,opened_at,resolved_at\n",
        b"T9,complaint,1,2026-01-05T10:00:00+08:00,\n",
        b"T9,complaint,1,2026-01-05T10:00:00+08:00,2026-01-05T10:40:00+08:00\n")
        for e in first.feed_csv(line)]
    pipeline, _ = fold_file(pipeline_rules(Settings(), offline=True), again)
    assert pipeline.tickets.duplicates == 1
    assert pipeline.tickets.tickets["T9"].resolved_ms is not None
