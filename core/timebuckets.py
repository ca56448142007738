"""Interval boundaries in the centre's local time: minutes, half hours, days.

All arithmetic is on UTC epoch milliseconds; the zone only decides where a
half hour or a day begins (a +05:45 zone starts half hours at :15 and :45 UTC).
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

__all__ = [
    "MINUTE_MS",
    "day_bounds",
    "half_hour_bounds",
    "interval_bounds",
    "iso",
    "minute_start",
]

MINUTE_MS = 60_000
HALF_HOUR_MS = 30 * MINUTE_MS


def minute_start(ms: int) -> int:
    return ms - ms % MINUTE_MS


def _offset_ms(ms: int, zone: ZoneInfo) -> int:
    offset = datetime.fromtimestamp(ms / 1000, UTC).astimezone(zone).utcoffset()
    return int(offset.total_seconds() * 1000) if offset else 0


def half_hour_bounds(ms: int, zone: ZoneInfo) -> tuple[int, int]:
    """[start, end) of the local half hour containing ``ms`` (B8: half-hour reporting)."""
    offset = _offset_ms(ms, zone)
    local = ms + offset
    start = local - local % HALF_HOUR_MS - offset
    return start, start + HALF_HOUR_MS


def day_bounds(ms: int, zone: ZoneInfo) -> tuple[int, int]:
    """[start, end) of the local calendar day containing ``ms``; 23 or 25 h across DST."""
    day = datetime.fromtimestamp(ms / 1000, UTC).astimezone(zone).date()
    start = datetime.combine(day, time(0), zone)
    end = datetime.combine(day + timedelta(days=1), time(0), zone)
    return int(start.timestamp() * 1000), int(end.timestamp() * 1000)


def month_bounds(ms: int, zone: ZoneInfo) -> tuple[int, int]:
    """[start, end) of the local calendar month containing ``ms`` (the manual's A-figures
    are monthly: "当月", lines 509-531)."""
    day = datetime.fromtimestamp(ms / 1000, UTC).astimezone(zone).date()
    first = day.replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    return (int(datetime.combine(first, time(0), zone).timestamp() * 1000),
            int(datetime.combine(following, time(0), zone).timestamp() * 1000))


def interval_bounds(ms: int, interval: str, zone: ZoneInfo) -> tuple[int, int]:
    """Bounds for a report interval name: ``30m``, ``1h``, ``day`` or ``month``."""
    if interval == "30m":
        return half_hour_bounds(ms, zone)
    if interval == "1h":
        start, _ = half_hour_bounds(ms, zone)
        local = datetime.fromtimestamp(start / 1000, UTC).astimezone(zone)
        if local.minute >= 30:
            start -= HALF_HOUR_MS
        return start, start + 2 * HALF_HOUR_MS
    if interval == "day":
        return day_bounds(ms, zone)
    if interval == "month":
        return month_bounds(ms, zone)
    raise ValueError(f"unknown interval {interval!r}; use 30m, 1h, day or month")


def iso(ms: int, zone: ZoneInfo) -> str:
    """ISO 8601 with the centre's offset, to the second when whole."""
    dt = datetime.fromtimestamp(ms / 1000, UTC).astimezone(zone)
    spec = "seconds" if ms % 1000 == 0 else "milliseconds"
    return dt.isoformat(timespec=spec)
