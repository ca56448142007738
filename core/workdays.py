"""Deadlines in clock time and in working days (the manual's complaint time limits).

Manual lines 502-506: a complaint is resolved and answered within 2 hours (level 1),
48 hours (level 2), 4 working days (level 3) or 7 working days (level 4), counted from
its acceptance. Which days are working days is the calendar's business (weekends,
public holidays, China's make-up working days): it comes in as a function, so this
module stays free of any calendar package (base/calendar.py builds it).

Working days are counted as working time: the clock runs only on working days, so a
complaint accepted on Friday at 15:00 with 4 working days is due on Thursday at 15:00
(Saturday and Sunday do not count), and one accepted on a Saturday starts counting at
00:00 on Monday and is due at 24:00 on Thursday.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

__all__ = ["IsWorkingDay", "due_ms", "working_ms_between"]

IsWorkingDay = Callable[[date], bool]
_DAY_MS = 86_400_000
_MAX_DAYS = 400  # a limit is at most days long; a calendar with no working day is wrong


def _local(ms: int, zone: ZoneInfo) -> datetime:
    return datetime.fromtimestamp(ms / 1000, zone)


def _midnight_after(moment: datetime) -> datetime:
    """The next local midnight (zone-aware: a day may be 23 or 25 hours long)."""
    day = moment.date() + timedelta(days=1)
    return datetime(day.year, day.month, day.day, tzinfo=moment.tzinfo)


def due_ms(start_ms: int, limit_ms: int, *, working_days: bool, zone: ZoneInfo,
           is_working_day: IsWorkingDay) -> int:
    """When something started at ``start_ms`` is due after ``limit_ms`` of clock time,
    or of working time when ``working_days`` (whole days of 24 h each)."""
    if not working_days:
        return start_ms + limit_ms
    left = limit_ms
    moment = _local(start_ms, zone)
    for _ in range(_MAX_DAYS + limit_ms // _DAY_MS):
        end = _midnight_after(moment)
        span = int((end.timestamp() - moment.timestamp()) * 1000)
        if is_working_day(moment.date()):
            if left <= span:
                return int(moment.timestamp() * 1000) + left
            left -= span
        moment = end
    raise ValueError(f"no working day within {_MAX_DAYS} days of {_local(start_ms, zone)}")


def working_ms_between(start_ms: int, end_ms: int, *, zone: ZoneInfo,
                       is_working_day: IsWorkingDay) -> int:
    """Working time from ``start_ms`` to ``end_ms`` (0 if the end is not after the start)."""
    total = 0
    moment = _local(start_ms, zone)
    end = _local(end_ms, zone)
    while moment < end:
        stop = min(_midnight_after(moment), end)
        if is_working_day(moment.date()):
            total += int((stop.timestamp() - moment.timestamp()) * 1000)
        moment = stop
    return total
