"""The supervisor page's history: one row per queue and half hour, and per day.

Which rows a batch makes due is a domain decision, so it is taken here and not
by whoever stores the rows:

- a row is rewritten whenever a minute in it was counted (a late wrap-up changes
  a closed half hour), and so is every later one up to now (an agent's state
  change ends a span those rows showed open);
- the current half hour is rewritten on every write, so open agent time
  reaches it;
- every half hour gets a row, quiet ones too (a chart must not skip a night);
  after a restart or a jump of the event clock, the gap is filled, at most
  ``max_fill_ms`` back;
- a span reaching back before the minutes its pipeline has expired can no
  longer be summed: its row stays as it was written.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from core import kpi
from core.records import HistoryRow
from core.rules import QueueRules
from core.snapshot import window_figures
from core.state import MinuteKey
from core.timebuckets import day_bounds, half_hour_bounds

__all__ = ["HALF_HOURS", "DAYS", "HistoryCursor", "Span", "history_row"]

HALF_HOURS, DAYS = "intervals", "days"
MAX_FILL_MS = 2 * 86_400_000


@dataclass(frozen=True, order=True)
class Span:
    """One row's place: its kind (HALF_HOURS or DAYS), queue and start."""

    kind: str
    queue: str
    start_ms: int


class HistoryCursor:
    """Remembers, per queue, the newest half hour written, to fill gaps after it."""

    def __init__(self, zone: ZoneInfo, max_fill_ms: int = MAX_FILL_MS) -> None:
        self.zone = zone
        self.max_fill_ms = max_fill_ms
        self._last_half: dict[str, int] = {}

    def due(self, queues: Iterable[str], minutes: Iterable[MinuteKey], now_ms: int,
            expired_before: Callable[[str], int | None]) -> list[Span]:
        """The rows to (re)write, given the queues written and the minutes counted.

        ``queues`` are the queues counted here (wholly restored), each of which
        gets its current half hour and any gap; minutes of other queues are
        ignored. ``expired_before(queue)``: the first minute still kept, if any
        were expired.
        """
        zone = self.zone
        queues = set(queues)
        halves = {(q, half_hour_bounds(m, zone)[0]) for q, m in minutes if q in queues}
        current = half_hour_bounds(now_ms, zone)[0]
        for queue in sorted(queues):
            touched = [hh for q, hh in halves if q == queue]
            last = self._last_half.get(queue)
            if last is None and not touched:
                halves.add((queue, current))  # a tick before any event: no gap to fill
                continue
            # From the oldest half hour counted, or the last one written if older (the
            # first write of a process: never an empty row before the first data). A
            # half hour counted again rewrites every one after it too: an agent's state
            # change there ends a span that each later row showed open (its partition
            # read behind the others, a late event) and that no minute of theirs holds.
            start = min([*touched, current if last is None else last])
            start = max(start, current - self.max_fill_ms)
            while start <= current:
                halves.add((queue, start))
                start = half_hour_bounds(start, zone)[1]
            self._last_half[queue] = current
        days = {(q, day_bounds(start, zone)[0]) for q, start in halves}
        spans = [Span(HALF_HOURS, q, t) for q, t in halves] + [Span(DAYS, q, t) for q, t in days]
        return sorted(s for s in spans if s.start_ms >= (expired_before(s.queue) or s.start_ms))

    def end_of(self, span: Span) -> int:
        bounds = half_hour_bounds if span.kind == HALF_HOURS else day_bounds
        return bounds(span.start_ms, self.zone)[1]


def history_row(rules: QueueRules, start_ms: int, end_ms: int, counters: kpi.Counters,
                zone: ZoneInfo) -> HistoryRow:
    """A stored row: the window's figures and how its service level was computed."""
    return {"queue": rules.name, "sl_formula": rules.sl_formula,
            "sl_threshold_s": rules.sl_threshold_s,
            **window_figures(start_ms, end_ms, counters, rules, zone)}
