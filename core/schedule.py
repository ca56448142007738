"""The staffing plan: planned agents per queue and local half hour (B1, B14).

CSV with a header ``queue,day,start,end,agents`` (docs/kpis.md#schedule):

- ``day``: ``*`` (every day), a weekday (``mon`` .. ``sun``) or a date
  (``2026-12-25``); a date beats a weekday, which beats ``*``;
- ``start``, ``end``: local ``HH:MM`` on half-hour boundaries, ``end`` may be ``24:00``;
- ``agents``: planned agents signed in for every half hour of ``[start, end)``.

Two rows of the same kind covering the same half hour are an error, so a
plan never means two things.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from core.timebuckets import half_hour_bounds

__all__ = ["Schedule", "ScheduleError", "load_schedule"]

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
COLUMNS = ("queue", "day", "start", "end", "agents")


class ScheduleError(ValueError):
    """The schedule file is wrong; the message names the file, line and column."""


@dataclass
class Schedule:
    zone: ZoneInfo
    # (queue, day key) -> {half-hour index of the local day: agents}; the day key
    # is a date, a weekday number or None for every day.
    plans: dict[tuple[str, date | int | None], dict[int, int]] = field(default_factory=dict)

    def planned(self, queue: str, at_ms: int) -> int | None:
        """Planned agents for the half hour holding ``at_ms``, or None if unplanned."""
        local = datetime.fromtimestamp(at_ms / 1000, UTC).astimezone(self.zone)
        slot = (local.hour * 60 + local.minute) // 30
        for key in (local.date(), local.weekday(), None):
            plan = self.plans.get((queue, key))
            if plan is not None and slot in plan:
                return plan[slot]
        return None

    def scheduled_ms(self, queue: str, start_ms: int, end_ms: int) -> int:
        """Planned agent-milliseconds in ``[start_ms, end_ms)``."""
        total = 0
        at = start_ms
        while at < end_ms:
            hh_start, hh_end = half_hour_bounds(at, self.zone)
            upto = min(hh_end, end_ms)
            agents = self.planned(queue, hh_start)
            if agents:
                total += agents * (upto - at)
            at = upto
        return total

    def queues(self) -> set[str]:
        return {q for q, _ in self.plans}


def _slot(text: str, where: str, end: bool) -> int:
    try:
        hours, minutes = (int(p) for p in text.strip().split(":"))
    except ValueError as exc:
        raise ScheduleError(f"{where}: {text!r} is not HH:MM") from exc
    if minutes not in (0, 30) or not 0 <= hours <= 24 or (hours == 24 and (minutes or not end)):
        raise ScheduleError(f"{where}: {text!r} is not on a half hour of the day")
    return (hours * 60 + minutes) // 30


def _day(text: str, where: str) -> date | int | None:
    value = text.strip().lower()
    if value == "*":
        return None
    if value in WEEKDAYS:
        return WEEKDAYS.index(value)
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise ScheduleError(f"{where}: {text!r} is not *, a weekday (mon-sun) or a date") from exc


def load_schedule(path: Path, zone: ZoneInfo) -> Schedule:
    """Read and check a schedule CSV; raises ScheduleError naming file, line and column."""
    schedule = Schedule(zone)
    try:
        handle = path.open(encoding="utf-8", newline="")
    except OSError as exc:
        raise ScheduleError(f"{path}: cannot read: {exc.strerror}") from exc
    with handle:
        reader = csv.DictReader(handle)
        missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ScheduleError(f"{path}: line 1: missing column(s) {', '.join(missing)}")
        for row in reader:
            line = reader.line_num
            queue = (row["queue"] or "").strip()
            if not queue:
                raise ScheduleError(f"{path}: line {line}, column queue: empty")
            day = _day(row["day"] or "", f"{path}: line {line}, column day")
            first = _slot(row["start"] or "", f"{path}: line {line}, column start", end=False)
            last = _slot(row["end"] or "", f"{path}: line {line}, column end", end=True)
            if last <= first:
                raise ScheduleError(f"{path}: line {line}, column end: must be after start")
            try:
                agents = int(row["agents"])
            except (TypeError, ValueError) as exc:
                raise ScheduleError(
                    f"{path}: line {line}, column agents: {row['agents']!r} is not a whole number"
                ) from exc
            if agents < 0:
                raise ScheduleError(f"{path}: line {line}, column agents: negative")
            plan = schedule.plans.setdefault((queue, day), {})
            for slot in range(first, last):
                if slot in plan:
                    raise ScheduleError(
                        f"{path}: line {line}: {queue} {row['day']} "
                        f"{_clock(slot)} is already planned by an earlier line")
                plan[slot] = agents
    return schedule


def _clock(slot: int) -> str:
    return (datetime(2000, 1, 1) + timedelta(minutes=30 * slot)).strftime("%H:%M")
