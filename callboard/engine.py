"""The counting engine: events in, per-minute counters and live queue state out.

Plain Python over two mutable mappings, so the Faust worker runs it on its
tables and ``callboard report`` and the tests run it on dicts:

- ``buckets``: ``"QUEUE|minute_start_ms"`` ->
  ``{"c": counters, "ids": {event_id: 1}, "done": {call_id: 1}}``.
  An event is counted in the minute its call was offered, and its id is kept in
  that same value, so a counter and the record that it was counted change in
  one write: a replayed or duplicated event can never be counted twice, and no
  crash can separate the two. ``done`` lists the calls of that minute that have
  left the queue, so an "offered" that arrives after its own answer does not
  leave a phantom caller waiting.
- ``live``: ``"QUEUE"`` -> calls waiting now, agents by state and the queue's
  newest event time; small, since it holds only what is true now.

A batch touches each key at most once (read, fold in memory, write back once).
Half hours, days and rolling windows are sums of minute buckets at read time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from callboard import events as ev
from callboard import kpi
from callboard.config import QueueRules
from callboard.timebuckets import MINUTE_MS, day_bounds, half_hour_bounds, minute_start

__all__ = ["BatchResult", "Engine", "ROLLING_WINDOWS_MIN"]

ROLLING_WINDOWS_MIN = (15, 30, 60)
# Within one timestamp, apply events in the order a call lives them, so a batch
# that carries "offered" and "answered" of the same millisecond still nets to 0.
_RANK = {
    ev.AGENT_LOGIN: 0, ev.CALL_OFFERED: 1, ev.CALL_BLOCKED: 1, ev.CALL_ANSWERED: 2,
    ev.CALL_ABANDONED: 2, ev.AGENT_STATE: 3, ev.CALL_TRANSFERRED: 4, ev.CALL_ENDED: 5,
    ev.CALL_WRAPPED_UP: 6, ev.AGENT_LOGOUT: 7,
}
_LOGGED_OUT_KEEP_MS = 24 * 60 * MINUTE_MS


@dataclass
class BatchResult:
    """What one batch did; the worker turns it into metrics and dead letters."""

    applied: int = 0
    duplicates: int = 0
    late: list[dict[str, Any]] = field(default_factory=list)
    lost_waiting: int = 0
    queues: set[str] = field(default_factory=set)


def _new_live() -> dict[str, Any]:
    return {"w": {}, "agents": {}, "wm": 0}


class Engine:
    """Folds validated events into the two stores and reads windows back."""

    def __init__(
        self,
        rules_for: Callable[[str], QueueRules],
        zone: ZoneInfo,
        buckets: MutableMapping[str, Any],
        live: MutableMapping[str, Any],
        *,
        retention_ms: int | None,
        max_wait_ms: int,
    ) -> None:
        self.rules_for = rules_for
        self.zone = zone
        self.buckets = buckets
        self.live = live
        self.retention_ms = retention_ms
        self.max_wait_ms = max_wait_ms
        self.clock_ms = 0  # newest event time seen: event time never goes back
        # Derived, never stored: sums of closed half hours, dropped when one of
        # their minutes is written. Rebuilt lazily after a restart.
        self._half_hours: dict[tuple[str, int], kpi.Counters] = {}
        self._hh_of_minute: dict[int, int] = {}

    # ------------------------------------------------------------------ writes
    def apply(self, batch: Iterable[Mapping[str, Any]]) -> BatchResult:
        """Count a batch of validated events; every touched key is written once."""
        result = BatchResult()
        events = sorted(batch, key=lambda e: (e["ts_ms"], _RANK[e["type"]]))
        if not events:
            return result
        newest = max(self.clock_ms, events[-1]["ts_ms"])
        horizon = newest - self.retention_ms if self.retention_ms is not None else None
        buckets: dict[str, dict[str, Any]] = {}
        lives: dict[str, dict[str, Any]] = {}
        thresholds: dict[str, tuple[int, int]] = {}
        for event in events:
            queue = event["queue"]
            at = ev.attribution_ms(event)
            if horizon is not None and at < horizon:
                result.late.append(dict(event))
                continue
            key = f"{queue}|{minute_start(at)}"
            bucket = buckets.get(key)
            if bucket is None:
                bucket = self.buckets.get(key) or {"c": kpi.new_counters(), "ids": {}, "done": {}}
                buckets[key] = bucket
            ids = bucket["ids"]
            if event["event_id"] in ids:
                result.duplicates += 1
                continue
            ids[event["event_id"]] = 1
            limits = thresholds.get(queue)
            if limits is None:
                rules = self.rules_for(queue)
                limits = (rules.sl_threshold_s * 1000, rules.short_abandon_s * 1000)
                thresholds[queue] = limits
            kpi.fold(bucket["c"], event, *limits)
            state = lives.get(queue)
            if state is None:
                state = self.live.get(queue) or _new_live()
                lives[queue] = state
            _update_live(state, bucket["done"], event)
            result.applied += 1
        for key, bucket in buckets.items():
            self.buckets[key] = bucket
            self._forget_half_hour(key)
        for queue, state in lives.items():
            result.lost_waiting += self._prune(state)
            self.live[queue] = state
        result.queues = set(lives)
        self.clock_ms = newest
        return result

    def _prune(self, state: dict[str, Any]) -> int:
        wm = state["wm"]
        agents = state["agents"]
        for agent_id in [
            a for a, (s, t) in agents.items() if s == "logged_out" and t < wm - _LOGGED_OUT_KEEP_MS
        ]:
            del agents[agent_id]
        waiting = state["w"]
        lost = [c for c, t in waiting.items() if t < wm - self.max_wait_ms]
        for call_id in lost:
            del waiting[call_id]
        return len(lost)

    def _forget_half_hour(self, key: str) -> None:
        queue, _, minute = key.rpartition("|")
        start = self._hh_of_minute.get(int(minute))
        if start is None:
            start = half_hour_bounds(int(minute), self.zone)[0]
            self._hh_of_minute[int(minute)] = start
        self._half_hours.pop((queue, start), None)

    def expire(self) -> int:
        """Delete minute buckets older than the retention; returns how many."""
        if self.retention_ms is None:
            return 0
        horizon = self.clock_ms - self.retention_ms
        old = [k for k in list(self.buckets.keys()) if int(k.rpartition("|")[2]) < horizon]
        for key in old:
            del self.buckets[key]
        if len(self._hh_of_minute) > 10_000:
            self._hh_of_minute.clear()
        self._half_hours = {k: v for k, v in self._half_hours.items() if k[1] >= horizon}
        return len(old)

    # ------------------------------------------------------------------- reads
    def now(self, wall_ms: int | None = None) -> int:
        """Event time, or the wall clock when it is ahead (live boards keep sliding)."""
        if not self.clock_ms:
            # After a restart the clock comes back with the recovered live state.
            self.clock_ms = max((s["wm"] for s in self.live.values() if s), default=0)
        return self.clock_ms if wall_ms is None else max(self.clock_ms, wall_ms)

    def queues(self) -> list[str]:
        return sorted(self.live.keys())

    def counters_between(self, queue: str, start_ms: int, end_ms: int) -> kpi.Counters:
        """Counters of calls offered in [start_ms, end_ms), by whole minutes."""
        parts = []
        minute = minute_start(start_ms)
        while minute < end_ms:
            bucket = self.buckets.get(f"{queue}|{minute}")
            if bucket is not None:
                parts.append(bucket["c"])
            minute += MINUTE_MS
        return kpi.merge(parts)

    def _half_hour(self, queue: str, start_ms: int) -> kpi.Counters:
        cached = self._half_hours.get((queue, start_ms))
        if cached is None:
            cached = self.counters_between(queue, start_ms, start_ms + 30 * MINUTE_MS)
            self._half_hours[(queue, start_ms)] = cached
        return cached

    def windows(self, queue: str, now_ms: int) -> dict[str, tuple[int, int, kpi.Counters]]:
        """Each board window as (start_ms, end_ms, counters), for calls offered in it."""
        current_minute = minute_start(now_ms)
        out: dict[str, tuple[int, int, kpi.Counters]] = {}
        for minutes in ROLLING_WINDOWS_MIN:
            start = current_minute - (minutes - 1) * MINUTE_MS
            out[f"rolling_{minutes}"] = (
                now_ms - minutes * MINUTE_MS, now_ms,
                self.counters_between(queue, start, current_minute + MINUTE_MS),
            )
        hh_start, hh_end = half_hour_bounds(now_ms, self.zone)
        current = self.counters_between(queue, hh_start, current_minute + MINUTE_MS)
        out["interval"] = (hh_start, hh_end, current)
        day_start, day_end = day_bounds(now_ms, self.zone)
        closed = []
        start = day_start
        while start < hh_start:
            closed.append(self._half_hour(queue, start))
            start += 30 * MINUTE_MS
        out["day"] = (day_start, day_end, kpi.merge([*closed, current]))
        return out

    def live_state(self, queue: str) -> Mapping[str, Any]:
        return self.live.get(queue) or _new_live()


def _update_live(state: dict[str, Any], done: dict[str, int], event: Mapping[str, Any]) -> None:
    etype = event["type"]
    ts = event["ts_ms"]
    if ts > state["wm"]:
        state["wm"] = ts
    if etype == ev.CALL_OFFERED:
        call_id = event["call_id"]
        # An answer or abandon that overtook its own "offered" must not leave
        # a phantom caller waiting forever.
        if call_id not in done:
            state["w"][call_id] = ts
    elif etype in (ev.CALL_ANSWERED, ev.CALL_ABANDONED):
        state["w"].pop(event["call_id"], None)
        done[event["call_id"]] = 1
    elif etype in ev.AGENT_TYPES:
        agents = state["agents"]
        agent_id = event["agent_id"]
        current = agents.get(agent_id)
        if current is not None and current[1] > ts:
            return  # an older state change arriving late changes nothing
        if etype == ev.AGENT_LOGOUT:
            agents[agent_id] = ["logged_out", ts]
        elif etype == ev.AGENT_LOGIN:
            agents[agent_id] = [event.get("state") or "available", ts]
        else:
            agents[agent_id] = [event["state"], ts]
