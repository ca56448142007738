"""Offline KPI report from an event file, through the same engine as the worker."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO
from zoneinfo import ZoneInfo

from core import kpi
from core.events import EventError, parse
from core.pipeline import Pipeline
from core.records import Event, ReportRow
from core.rules import QueueRules
from core.snapshot import CENTRE
from core.tickets import figures as ticket_figures
from core.timebuckets import MINUTE_MS, interval_bounds, iso

__all__ = ["AGENT_ROW_KEYS", "ROW_KEYS", "ReportInput", "read_events", "report_rows",
           "ticket_rows", "write_report"]

INTERVALS = ("30m", "1h", "day", "month", "all")
# Every figure kpi.derive gives, after the columns that say how they were computed.
ROW_KEYS = (
    "queue", "interval_start", "interval_end", "sl_formula", "sl_threshold_s",
    "short_abandon_s", "answer_limit_s", "answer_timeout_s", "occupancy_includes_acw",
    *kpi.derive(kpi.new_counters()),
    "still_waiting",  # calls offered in the interval still waiting when the file ends
)


@dataclass
class ReportInput:
    """Valid events of a file and what was set aside, by reason."""

    events: list[Event] = field(default_factory=list)
    rejected: Counter[str] = field(default_factory=Counter)
    lines: int = 0


def read_events(lines: Iterable[str | bytes]) -> ReportInput:
    """Parse JSON lines; a bad line is counted by reason, never fatal."""
    out = ReportInput()
    for line in lines:
        if not line.strip():
            continue
        out.lines += 1
        try:
            out.events.append(parse(line))
        except EventError as exc:
            out.rejected[exc.reason] += 1
    return out


AGENT_ROW_KEYS = (
    "queue", "agent_id", "interval_start", "interval_end",
    *kpi.derive_agent(kpi.new_agent()),
)


def report_rows(pipeline: Pipeline, interval: str, by_agent: bool = False) -> list[dict]:
    """One row per queue per interval, plus centre rows (queue "ALL").

    Every interval from the first to the last one that holds a call is listed,
    empty ones included, so a chart of the rows has no silent gaps. With
    ``by_agent``: one row per queue, agent and interval the agent worked in
    instead (keys AGENT_ROW_KEYS).
    """
    if interval not in INTERVALS:
        raise ValueError(f"interval must be one of {', '.join(INTERVALS)}")
    rules = pipeline.rules
    engine = pipeline.engine
    zone = rules.zone
    now = engine.clock_ms  # agent spans still open at the end of the file end here
    keys = list(engine.buckets)
    if not keys:
        return []
    minutes = [minute for _, minute in keys]
    first, last = min(minutes), max(minutes) + MINUTE_MS
    counted = {queue for queue, _ in keys}
    configured = [q for q in rules.queue_order if q in counted]
    seen = sorted(counted - set(configured))
    queues = configured + seen
    spans = list(_spans(first, last, interval, zone))
    waiting = {q: sorted(engine.live_state(q).waiting.values()) for q in queues}
    rows: list[ReportRow] = []
    for start, end in spans:
        per_queue = []
        still = 0
        for queue in queues:
            counters, agents = engine.window(queue, start, end, now, with_agents=by_agent)
            per_queue.append(counters)
            if by_agent:
                acw = rules.rule_book.rules_for(queue).occupancy_includes_acw
                rows += [{"queue": queue, "agent_id": agent_id,
                          "interval_start": iso(start, zone), "interval_end": iso(end, zone),
                          **kpi.derive_agent(values, acw)}
                         for agent_id, values in sorted(agents.items())]
            else:
                waiting_here = sum(1 for t in waiting[queue] if start <= t < end)
                still += waiting_here
                rows.append(_row(rules.rule_book.rules_for(queue), start, end, counters, zone,
                                 waiting_here))
        if not by_agent:
            rows.append(_row(rules.rule_book.rules_for(CENTRE), start, end, kpi.merge(per_queue), zone,
                             still))
    return rows


def ticket_rows(pipeline: Pipeline, interval: str) -> list[dict]:
    """A4-A7 per queue and interval (the interval a ticket was opened in), then the
    centre; as of the newest ticket event (core/tickets.py)."""
    tickets = list(pipeline.tickets.tickets.values())
    if not tickets:
        return []
    zone = pipeline.rules.zone
    first = min(t.opened_ms for t in tickets)
    now = max(max(v for v in (t.opened_ms, t.replied_ms, t.resolved_ms) if v is not None)
              for t in tickets)
    queues = sorted({t.queue for t in tickets})
    rows = []
    for start, end in _spans(first, now + 1, interval, zone):
        for queue in [*queues, CENTRE]:
            mine = tickets if queue == CENTRE else [t for t in tickets if t.queue == queue]
            rows.append({"queue": queue, "interval_start": iso(start, zone),
                         "interval_end": iso(end, zone),
                         **ticket_figures(mine, start, end, now)})
    return rows


def _spans(first: int, last: int, interval: str, zone: ZoneInfo) -> Iterator[tuple[int, int]]:
    if interval == "all":
        yield first, last
        return
    start, end = interval_bounds(first, interval, zone)
    while start < last:
        yield start, end
        start, end = interval_bounds(end, interval, zone)


def _row(rules: QueueRules, start: int, end: int, counters: kpi.Counters, zone: ZoneInfo,
         still_waiting: int) -> ReportRow:
    queue = rules.name
    figures = kpi.derive(counters, rules.sl_formula, rules.occupancy_includes_acw)
    row: ReportRow = {
        "queue": queue,
        "interval_start": iso(start, zone),
        "interval_end": iso(end, zone),
        "sl_formula": rules.sl_formula,
        "sl_threshold_s": rules.sl_threshold_s,
        "short_abandon_s": rules.short_abandon_s,
        "answer_limit_s": rules.answer_limit_s,
        "answer_timeout_s": rules.answer_timeout_s,
        "occupancy_includes_acw": rules.occupancy_includes_acw,
    }
    row.update(figures)
    row["still_waiting"] = still_waiting
    return {k: row[k] for k in ROW_KEYS}


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> object:
    """A CSV cell a spreadsheet will not run: text that would start a formula gets a
    leading ``'`` (OWASP's advice for CSV injection). Numbers are left as numbers."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def write_report(rows: list[ReportRow], fmt: str, out: IO[str],
                 keys: tuple[str, ...] = ROW_KEYS) -> None:
    if fmt == "json":
        json.dump(rows, out, ensure_ascii=False, indent=1)
        out.write("\n")
    elif fmt == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=keys, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: "" if v is None else safe_cell(v) for k, v in row.items()})
        out.write(buffer.getvalue())
    else:
        raise ValueError("format must be json or csv")
