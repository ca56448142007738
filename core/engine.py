"""The counting engine: events in, per-minute counters and live queue state out.

Plain Python over two mutable mappings of typed records (core/state.py);
core/pipeline.py owns one engine per partition (the worker) or one for a
whole file (report, alerts):

- ``buckets``: (queue, minute start) -> ``MinuteBucket``. An event is counted in
  the minute its call was offered, and its id is kept in that same bucket as a
  12-byte BLAKE2b digest (ids are most of the state; two ids of one minute
  collide with odds near 1e-19 at 100,000 events a minute), so a producer's
  duplicate is never counted twice. A re-read of the source after a restart is
  guarded by offsets in the pipeline, not by these ids. Agent time is credited
  to the minutes in which it was spent, when the agent's next state change
  closes the span; open spans are added at read time. A bucket's ``callers``
  (keyed hashes, never numbers) feed the index from a caller to their latest
  call (B16), which is derived in memory.
- ``live``: queue -> ``LiveQueue``: calls waiting now, agents by state and the
  queue's newest event time; small, since it holds only what is true now.

A batch touches each key at most once (read, fold in memory, write back once).
Half hours, days and rolling windows are sums of minute buckets at read time.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from core import events as ev
from core import kpi
from core.records import Event
from core.rules import QueueRules
from core.state import (
    ABANDONED,
    ANSWERED,
    DIGEST_BYTES,
    LIFE_BLOCKED,
    LIFE_ENDED,
    LIFE_OFFERED,
    LIFE_TRANSFERRED,
    LIFE_WRAPPED,
    LOGGED_OUT,
    LiveQueue,
    MinuteBucket,
    MinuteKey,
)
from core.timebuckets import MINUTE_MS, day_bounds, half_hour_bounds, minute_start

__all__ = ["BatchResult", "Engine", "ROLLING_WINDOWS_MIN", "event_digest"]

ROLLING_WINDOWS_MIN = (15, 30, 60)
# Within one timestamp, apply events in the order a call lives them, so a batch
# that carries "offered" and "answered" of the same millisecond still nets to 0.
_RANK = {
    ev.AGENT_LOGIN: 0, ev.CALL_OFFERED: 1, ev.CALL_BLOCKED: 1, ev.CALL_ANSWERED: 2,
    ev.CALL_ABANDONED: 2, ev.AGENT_STATE: 3, ev.CALL_TRANSFERRED: 4, ev.CALL_ENDED: 5,
    ev.CALL_WRAPPED_UP: 6, ev.AGENT_LOGOUT: 7,
}
_LOGGED_OUT_KEEP_MS = 24 * 60 * MINUTE_MS
_OUTCOMES = (ev.CALL_ANSWERED, ev.CALL_ABANDONED)  # one per call: how it left the queue
_LIFE_BIT = {ev.CALL_OFFERED: LIFE_OFFERED, ev.CALL_BLOCKED: LIFE_BLOCKED,
             ev.CALL_ENDED: LIFE_ENDED, ev.CALL_WRAPPED_UP: LIFE_WRAPPED,
             ev.CALL_TRANSFERRED: LIFE_TRANSFERRED}
_CALL_TYPES = frozenset((*_LIFE_BIT, *_OUTCOMES))
_STEP_NAMES = ((LIFE_OFFERED, "offered"), (LIFE_BLOCKED, "blocked"), (LIFE_TRANSFERRED, "transferred"),
               (LIFE_ENDED, "ended"), (LIFE_WRAPPED, "wrapped up"))


def _state_text(bits: int, done: int | None) -> str:
    steps = [name for bit, name in _STEP_NAMES if bits & bit]
    if done is not None:
        steps.insert(1 if bits & LIFE_OFFERED else 0, "answered" if done == ANSWERED else "abandoned")
    return ", ".join(steps) or "not seen yet"


def lifecycle_problem(etype: str, bits: int, done: int | None, waiting: bool) -> str | None:
    """Why an event does not fit its call's life so far (``bits``: LIFE_* steps counted,
    ``done``: its outcome, ``waiting``: in the queue now), or None when it fits.

    offered -> (answered -> [transferred] -> ended -> wrapped up) | abandoned, or blocked
    (never queued). Each step at most once; after an abandon, no conversation. Steps may
    arrive out of order (an answer before its offer): only a repeat or a contradiction
    is refused, and the first in log order stands.
    """
    if etype == ev.CALL_OFFERED:
        if bits & LIFE_OFFERED or waiting:
            return "a second offer of the same call"
        if bits & LIFE_BLOCKED:
            return "an offer of a call that was blocked"
    elif etype == ev.CALL_BLOCKED:
        if bits & (LIFE_BLOCKED | LIFE_OFFERED) or done is not None:
            return "a block of a call that was already blocked or queued"
    elif etype in _OUTCOMES:
        if bits & LIFE_BLOCKED:
            return "an outcome of a call that was blocked"
        if etype == ev.CALL_ABANDONED and bits & (LIFE_ENDED | LIFE_WRAPPED | LIFE_TRANSFERRED):
            return "an abandon of a call an agent talked to"
    elif done == ABANDONED:
        return f"a {etype.removeprefix('call.')} event for a call that was abandoned"
    elif bits & _LIFE_BIT[etype]:
        return f"a second {etype.removeprefix('call.').replace('_', '-')} of the same call"
    return None


def event_digest(event_id: str) -> bytes:
    """The compact form an event id is remembered in, for duplicate detection."""
    return hashlib.blake2b(event_id.encode(), digest_size=DIGEST_BYTES).digest()


@dataclass
class BatchResult:
    """What one batch did; the worker turns it into metrics and dead letters."""

    applied: int = 0
    duplicates: int = 0
    late: list[Event] = field(default_factory=list)
    # Call events that do not fit their call's life, with (reason, detail): a second
    # outcome (conflicting_outcome), a second offer, end, wrap-up or transfer, a
    # conversation of an abandoned call (lifecycle). The first in log order stands.
    conflicting: list[tuple[Event, str, str]] = field(default_factory=list)
    lost_waiting: int = 0
    queues: set[str] = field(default_factory=set)
    minutes: set[tuple[str, int]] = field(default_factory=set)  # (queue, minute) written
    # (queue, event time, callers waiting) at each change, in event-time order per
    # queue: what the surge ladder runs on.
    waiting: list[tuple[str, int, int]] = field(default_factory=list)
    # (queue, event time, kind, value) in the order events were counted: what the
    # breach forecast runs on (core/forecast.py). Kinds (value): offered (1), abandoned
    # (wait ms), ended (talk + hold ms), acw (ms), agent ((agent id, state)), waiting
    # (callers).
    signals: list[tuple[str, int, str, Any]] = field(default_factory=list)


class Engine:
    """Folds validated events into the two stores and reads windows back."""

    def __init__(
        self,
        rules_for: Callable[[str], QueueRules],
        zone: ZoneInfo,
        *,
        retention_ms: int | None,
        max_wait_ms: int,
        repeat_window_ms: int = 24 * 3_600_000,
        caller_key: str = "callboard",
        scheduled_ms: Callable[[str, int, int], int] | None = None,
    ) -> None:
        self.rules_for = rules_for
        # (queue, caller hash) -> that caller's calls [(offered_ms, bucket key, call_id)]
        # and (queue, call_id) -> caller hash: derived from the buckets' callers,
        # rebuilt per queue after a restart or a rebalance.
        self.callers: dict[tuple[str, str], list[tuple[int, MinuteKey, str]]] = {}
        self.call_caller: dict[tuple[str, str], str] = {}
        self._indexed: set[str] = set()
        self.repeat_window_ms = repeat_window_ms
        self.caller_key = caller_key.encode()
        self.scheduled_ms = scheduled_ms
        self.zone = zone
        # The state: counters per (queue, minute), and each queue's live state. A
        # checkpoint is these two, whole (core/pipeline.py).
        self.buckets: dict[MinuteKey, MinuteBucket] = {}
        self.live: dict[str, LiveQueue] = {}
        self.retention_ms = retention_ms
        self.max_wait_ms = max_wait_ms
        self.clock_ms = 0  # newest event time seen: event time never goes back
        # Derived, never stored: sums of closed half hours, dropped when one of
        # their minutes is written. Rebuilt lazily after a restart.
        self._half_hours: dict[tuple[str, int], tuple[kpi.Counters, dict[str, list[int]]]] = {}
        self._hh_of_minute: dict[int, int] = {}
        # What the batch being applied changed: its minutes and queues are the
        # result's, and its queues' limits are read once.
        self._minutes: set[MinuteKey] = set()
        self._queues: set[str] = set()
        self._limits: dict[str, kpi.Limits] = {}
        # Windows summed since the last write, by (queue, start, end, now): a board
        # write and the history rows it makes due ask for the same half hour and
        # day (the rows for the whole span, the board up to now: the same sum).
        self._windows: dict[tuple[str, int, int, int],
                            tuple[kpi.Counters, dict[str, list[int]] | None]] = {}

    # ------------------------------------------------------------------ writes
    def apply(self, batch: Iterable[Event]) -> BatchResult:
        """Count a batch of validated events."""
        result = BatchResult()
        self._windows.clear()
        self._minutes, self._queues, self._limits = set(), set(), {}
        batch = list(batch)
        digests: dict[int, bytes] = {}  # id(event) -> its digest, computed once
        conflicting = self._conflicting(batch, digests)
        events = sorted(batch, key=lambda e: (e["ts_ms"], _RANK[e["type"]]))
        if not events:
            return result
        newest = max(self.clock_ms, events[-1]["ts_ms"])
        horizons = self._horizons(events)
        for event in events:
            misfit = conflicting.get(id(event))
            if misfit is not None:
                result.conflicting.append((event.copy(), *misfit))
                continue
            self._apply_one(event, horizons.get(event["queue"]), result, digests.get(id(event)))
        self._commit(result)
        self.clock_ms = newest
        return result

    def _conflicting(self, batch: list[Event], digests: dict[int, bytes]
                     ) -> dict[int, tuple[str, str]]:
        """Call events that do not fit their call's life (``lifecycle_problem``), in
        source order, so which one stands does not depend on how the records were
        batched: id(event) -> (reason, detail). A second outcome is
        ``conflicting_outcome`` (answered then abandoned, or answered twice under two
        event ids); any other misfit is ``lifecycle``. A producer's duplicate of an
        event that stands (the same event id) is not a misfit: it is counted once."""
        calls: dict[tuple[str, int, str], list[Any]] = {}  # [bits, done, {type: digest}]
        offered: set[tuple[str, str]] = set()  # offers accepted in this batch, any minute
        out: dict[int, tuple[str, str]] = {}
        for event in batch:
            etype = event["type"]
            if etype not in _CALL_TYPES:
                continue
            queue, call_id = event["queue"], event["call_id"]
            key = (queue, minute_start(ev.attribution_ms(event)), call_id)
            digest = digests[id(event)] = event_digest(event["event_id"])
            bucket = self.buckets.get(key[:2])
            if bucket is not None and digest in bucket.ids:
                continue  # counted already: a duplicate, not a second step
            known = calls.get(key)
            if known is None:
                known = calls[key] = [bucket.life.get(call_id, 0) if bucket else 0,
                                      bucket.done.get(call_id) if bucket else None, {}]
            bits, done, firsts = known
            if firsts.get(etype) == digest:
                continue  # the same event twice in one batch
            live = self.live.get(queue)
            waiting = etype == ev.CALL_OFFERED and (
                (queue, call_id) in offered or (live is not None and call_id in live.waiting))
            if etype in _OUTCOMES and done is not None:
                out[id(event)] = ("conflicting_outcome",
                                  f"call {call_id} already left the queue; the first outcome "
                                  f"stands, this {etype} is not counted")
                continue
            problem = lifecycle_problem(etype, bits, done, waiting)
            if problem is not None:
                out[id(event)] = ("lifecycle", f"call {call_id}: {problem} (it was "
                                  f"{_state_text(bits, done)}); not counted")
                continue
            firsts[etype] = digest
            if etype in _OUTCOMES:
                known[1] = ANSWERED if etype == ev.CALL_ANSWERED else ABANDONED
            else:
                known[0] = bits | _LIFE_BIT[etype]
                if etype == ev.CALL_OFFERED:
                    offered.add((queue, call_id))
        return out

    def _horizons(self, events: list[Event]) -> dict[str, int | None]:
        """Per queue, the oldest time still counted. Each queue's horizon follows its
        own newest event: one queue read far ahead of another must not expire the
        other's windows (a replay reads partitions unevenly)."""
        horizons: dict[str, int | None] = {}
        if self.retention_ms is None:
            return horizons
        for event in events:
            queue = event["queue"]
            known = horizons.get(queue)
            if known is None:
                state = self.live.get(queue)
                known = (state.newest_ms if state else 0) - self.retention_ms
            horizons[queue] = max(known, event["ts_ms"] - self.retention_ms)
        return horizons

    def _apply_one(self, event: Event, horizon: int | None, result: BatchResult,
                   digest: bytes | None = None) -> None:
        queue = event["queue"]
        at = ev.attribution_ms(event)
        if horizon is not None and at < horizon:
            result.late.append(event.copy())
            return
        bucket = self._bucket((queue, minute_start(at)))
        digest = digest or event_digest(event["event_id"])
        if digest in bucket.ids:
            result.duplicates += 1
            return
        bucket.ids.add(digest)
        etype = event["type"]
        bit = _LIFE_BIT.get(etype)
        if bit is not None:
            bucket.life[event["call_id"]] = bucket.life.get(event["call_id"], 0) | bit
        limits = self._limits.get(queue)
        if limits is None:
            limits = self._limits[queue] = self.rules_for(queue).limits()
        kpi.fold(bucket.counters, event, limits, bucket.agents)
        state = self.live.get(queue)
        if state is None:
            state = self.live[queue] = LiveQueue()
        self._queues.add(queue)
        if etype in ev.AGENT_TYPES:
            self._close_span(queue, state, event, horizon, self._bucket)
        elif etype == ev.CALL_OFFERED and event.get("caller"):
            self._note_caller(queue, event, bucket, self._existing_bucket)
        elif etype == ev.CALL_ANSWERED:
            self._note_answer(queue, event, bucket, self._existing_bucket)
        before = len(state.waiting)
        _update_live(state, bucket.done, event)
        at = event["ts_ms"]
        signal = _SIGNALS.get(etype)
        if signal is not None:
            result.signals.append((queue, at, signal, _signal_value(event, state)))
        if len(state.waiting) != before:
            result.waiting.append((queue, at, len(state.waiting)))
            result.signals.append((queue, at, "waiting", len(state.waiting)))
        result.applied += 1

    def _bucket(self, key: MinuteKey) -> MinuteBucket:
        """The minute's bucket, made if new, as changed by this batch."""
        bucket = self.buckets.get(key)
        if bucket is None:
            bucket = self.buckets[key] = MinuteBucket()
        self._minutes.add(key)
        return bucket

    def _existing_bucket(self, key: MinuteKey) -> MinuteBucket | None:
        return self._bucket(key) if key in self.buckets else None

    def _commit(self, result: BatchResult) -> None:
        """The batch's minutes and queues to the result; prune what is no longer true."""
        for key in self._minutes:
            self._forget_half_hour(key)
        result.minutes |= self._minutes
        for queue in self._queues:
            state = self.live[queue]
            lost = self._prune(state)
            if lost:
                result.lost_waiting += lost
                result.waiting.append((queue, state.newest_ms, len(state.waiting)))
                result.signals.append((queue, state.newest_ms, "waiting", len(state.waiting)))
        result.queues = set(self._queues)

    def _close_span(self, queue: str, state: LiveQueue, event: Event,
                    horizon: int | None, bucket_at: Callable[[MinuteKey], MinuteBucket]) -> None:
        """Credit the time since the agent's last state change to the minutes it covers."""
        current = state.agents.get(event["agent_id"])
        if current is None:
            return
        agent_state, since = current
        end = event["ts_ms"]
        if agent_state not in kpi.AGENT_STATE_FIELD or since >= end:
            return  # logged out, or an older change arriving late (ignored by the live state too)
        start = since if horizon is None else max(since, horizon)
        agent_id = event["agent_id"]
        while start < end:
            minute = minute_start(start)
            upto = min(minute + MINUTE_MS, end)
            bucket = bucket_at((queue, minute))
            agent = bucket.agents.get(agent_id)
            if agent is None:
                agent = bucket.agents[agent_id] = kpi.new_agent()
            kpi.add_agent_time(bucket.counters, agent, agent_state, upto - start)
            start = upto

    def caller_hash(self, caller: str) -> str:
        return hashlib.blake2b(caller.encode(), key=self.caller_key, digest_size=12).hexdigest()

    def _note_caller(self, queue: str, event: Event, own: MinuteBucket,
                     bucket_at: Callable[[MinuteKey], MinuteBucket | None]) -> None:
        """B16: a caller's call offered within the repeat window after one of their calls
        was answered makes that answered call unresolved (docs/kpis.md)."""
        if queue not in self._indexed:
            self._index_callers(queue)
        digest = self.caller_hash(event["caller"])
        offered, call_id = event["ts_ms"], event["call_id"]
        own.callers[call_id] = (digest, offered)
        own_key = (queue, minute_start(offered))
        calls = self.callers.setdefault((queue, digest), [])
        if all(c != call_id for _, _, c in calls):
            calls.append((offered, own_key, call_id))
        self.call_caller[(queue, call_id)] = digest
        for _, earlier_key, earlier in calls:
            if earlier != call_id:
                self._mark_repeated(earlier_key, earlier, offered, bucket_at)
        # Its own answer may have overtaken this offer: check it against later calls.
        self._check_answered(queue, digest, own_key, call_id, bucket_at)

    def _note_answer(self, queue: str, event: Event, own: MinuteBucket,
                     bucket_at: Callable[[MinuteKey], MinuteBucket | None]) -> None:
        own.answered_ms[event["call_id"]] = event["ts_ms"]
        if queue not in self._indexed:
            self._index_callers(queue)
        digest = self.call_caller.get((queue, event["call_id"]))
        if digest is not None:  # an answer that arrives after the caller called again
            key = (queue, minute_start(ev.attribution_ms(event)))
            self._check_answered(queue, digest, key, event["call_id"], bucket_at)

    def _check_answered(self, queue: str, digest: str, key: MinuteKey, call_id: str,
                        bucket_at: Callable[[MinuteKey], MinuteBucket | None]) -> None:
        for offered, _, other in self.callers.get((queue, digest), ()):
            if other != call_id:
                self._mark_repeated(key, call_id, offered, bucket_at)

    def _mark_repeated(self, key: MinuteKey, call_id: str, later_offered_ms: int,
                       bucket_at: Callable[[MinuteKey], MinuteBucket | None]) -> None:
        """The rule, in one place: answered at A, the caller calls again at A < t <= A + window."""
        bucket = bucket_at(key)  # None once expired
        if bucket is None or call_id in bucket.repeated:
            return
        answered = bucket.answered_ms.get(call_id)
        if answered is not None and answered < later_offered_ms <= answered + self.repeat_window_ms:
            bucket.repeated.add(call_id)
            bucket.counters["repeated"] += 1

    def _index_callers(self, queue: str) -> None:
        for bucket_key in [k for k in list(self.buckets.keys()) if k[0] == queue]:
            for call_id, (digest, offered) in self.buckets[bucket_key].callers.items():
                calls = self.callers.setdefault((queue, digest), [])
                if all(c != call_id for _, _, c in calls):
                    calls.append((offered, bucket_key, call_id))
                self.call_caller[(queue, call_id)] = digest
        self._indexed.add(queue)

    def _prune(self, state: LiveQueue) -> int:
        wm = state.newest_ms
        agents = state.agents
        for agent_id in [
            a for a, (s, t) in agents.items() if s == LOGGED_OUT and t < wm - _LOGGED_OUT_KEEP_MS
        ]:
            del agents[agent_id]
        waiting = state.waiting
        lost = [c for c, t in waiting.items() if t < wm - self.max_wait_ms]
        for call_id in lost:
            del waiting[call_id]
            state.callers.pop(call_id, None)
        return len(lost)

    def _forget_half_hour(self, key: MinuteKey) -> None:
        queue, minute = key
        start = self._hh_of_minute.get(minute)
        if start is None:
            start = half_hour_bounds(minute, self.zone)[0]
            self._hh_of_minute[minute] = start
        self._half_hours.pop((queue, start), None)

    def expire(self) -> int:
        """Delete minute buckets older than the retention; returns how many."""
        if self.retention_ms is None:
            return 0
        self._windows.clear()
        # Per queue, from the queue's own newest event (see apply).
        newest = {q: s.newest_ms for q, s in list(self.live.items()) if s}

        def older(queue: str, ms: int, keep_ms: int) -> bool:
            return queue in newest and ms < newest[queue] - keep_ms

        old = [k for k in list(self.buckets.keys()) if older(k[0], k[1], self.retention_ms)]
        for key in old:
            del self.buckets[key]
        if len(self._hh_of_minute) > 10_000:
            self._hh_of_minute.clear()
        self._half_hours = {k: v for k, v in self._half_hours.items()
                            if not older(k[0], k[1], self.retention_ms)}
        # A call matters to B16 until its answer (within max_wait of its offer) plus
        # the repeat window.
        keep_ms = self.repeat_window_ms + self.max_wait_ms
        for caller, calls in list(self.callers.items()):
            gone = [c for c in calls if older(caller[0], c[0], keep_ms)]
            for _, _, call_id in gone:
                self.call_caller.pop((caller[0], call_id), None)
            if len(gone) == len(calls):
                del self.callers[caller]
            elif gone:
                self.callers[caller] = [c for c in calls if c not in gone]
        return len(old)

    # ------------------------------------------------------------------- reads
    def now(self, wall_ms: int | None = None) -> int:
        """Event time, or the wall clock when it is ahead (live boards keep sliding)."""
        if not self.clock_ms:
            # After a restart the clock comes back with the recovered live state.
            self.clock_ms = max((s.newest_ms for s in self.live.values() if s), default=0)
        return self.clock_ms if wall_ms is None else max(self.clock_ms, wall_ms)

    def queues(self) -> list[str]:
        return sorted(self.live.keys())

    def counters_between(self, queue: str, start_ms: int, end_ms: int) -> kpi.Counters:
        """Stored counters of the minutes in [start_ms, end_ms): calls offered in them
        and agent time closed in them (no open spans, no schedule)."""
        return self._stored_between(queue, start_ms, end_ms)[0]

    def _stored_between(self, queue: str, start_ms: int, end_ms: int
                        ) -> tuple[kpi.Counters, dict[str, list[int]]]:
        parts = []
        agents = []
        minute = minute_start(start_ms)
        buckets = self.buckets
        while minute < end_ms:
            bucket = buckets.get((queue, minute))
            if bucket is not None:
                parts.append(bucket.counters)
                if bucket.agents:
                    agents.append(bucket.agents)
            minute += MINUTE_MS
        return kpi.merge(parts), kpi.merge_agents(agents)

    def _half_hour(self, queue: str, start_ms: int) -> tuple[kpi.Counters, dict[str, list[int]]]:
        cached = self._half_hours.get((queue, start_ms))
        if cached is None:
            cached = self._stored_between(queue, start_ms, start_ms + 30 * MINUTE_MS)
            self._half_hours[(queue, start_ms)] = cached
        return cached

    def window(self, queue: str, start_ms: int, end_ms: int, now_ms: int, *,
               with_agents: bool = False) -> tuple[kpi.Counters, dict[str, list[int]]]:
        """Everything a window's KPIs need, for the minutes in [start_ms, end_ms) as of now_ms.

        Calls offered in those minutes; agent time in [start, min(end, now)),
        including the spans still open now; the schedule's planned time for the
        same stretch. Closed half hours come from a cache, and so does the same
        window asked for again before the next write.
        """
        key = (queue, start_ms, end_ms, now_ms)
        known = self._windows.get(key)
        if known is not None and (known[1] is not None or not with_agents):
            return known[0], known[1] or {}
        total, merged = self._sum_window(queue, start_ms, end_ms, now_ms, with_agents)
        self._windows[key] = (total, merged if with_agents else None)
        return total, merged

    def _sum_window(self, queue: str, start_ms: int, end_ms: int, now_ms: int,
                    with_agents: bool) -> tuple[kpi.Counters, dict[str, list[int]]]:
        parts: list[kpi.Counters] = []
        agents: list[dict[str, list[int]]] = []
        at = minute_start(start_ms)
        # No minute after the queue's newest event (or now) holds anything: a
        # window reaching to the end of the day need not look at the rest of it.
        stored_end = min(end_ms, minute_start(max(now_ms, self.live_state(queue).newest_ms))
                         + MINUTE_MS)
        while at < stored_end:
            hh_start, hh_end = half_hour_bounds(at, self.zone)
            if at == hh_start and hh_end <= end_ms and hh_end <= minute_start(now_ms):
                counters, per_agent = self._half_hour(queue, hh_start)
                at = hh_end
            else:
                upto = min(hh_end, stored_end)
                counters, per_agent = self._stored_between(queue, at, upto)
                at = upto
            parts.append(counters)
            if with_agents:
                agents.append(per_agent)
        total = kpi.merge(parts)
        merged = kpi.merge_agents(agents) if with_agents else {}
        upto = min(end_ms, now_ms)
        for agent_id, (agent_state, since) in self.live_state(queue).agents.items():
            if agent_state not in kpi.AGENT_STATE_FIELD:
                continue
            open_ms = upto - max(since, start_ms)
            if open_ms > 0:
                agent = None
                if with_agents:
                    agent = merged.get(agent_id)
                    if agent is None:
                        agent = merged[agent_id] = kpi.new_agent()
                kpi.add_agent_time(total, agent, agent_state, open_ms)
        if self.scheduled_ms is not None and upto > start_ms:
            total["scheduled_ms"] = self.scheduled_ms(queue, start_ms, upto)
        return total, merged

    def windows(self, queue: str, now_ms: int,
                day_agents: dict[str, list[int]] | None = None,
                ) -> dict[str, tuple[int, int, kpi.Counters]]:
        """Each board window as (start_ms, end_ms, counters), for calls offered in it.

        ``day_agents``, when given, is filled with each agent's counters for the
        day, from the same pass over the day's minutes.
        """
        current_minute = minute_start(now_ms)
        next_minute = current_minute + MINUTE_MS
        out: dict[str, tuple[int, int, kpi.Counters]] = {}
        for minutes in ROLLING_WINDOWS_MIN:
            start = current_minute - (minutes - 1) * MINUTE_MS
            out[f"rolling_{minutes}"] = (
                now_ms - minutes * MINUTE_MS, now_ms,
                self.window(queue, start, next_minute, now_ms)[0],
            )
        hh_start, hh_end = half_hour_bounds(now_ms, self.zone)
        # The whole half hour and day, as their history rows: minutes after now hold
        # nothing but events up to max_future_s ahead, counted in both alike.
        out["interval"] = (hh_start, hh_end, self.window(queue, hh_start, hh_end, now_ms)[0])
        day_start, day_end = day_bounds(now_ms, self.zone)
        day, agents = self.window(queue, day_start, day_end, now_ms,
                                  with_agents=day_agents is not None)
        out["day"] = (day_start, day_end, day)
        if day_agents is not None:
            day_agents.update(agents)
        return out

    def live_state(self, queue: str) -> LiveQueue:
        return self.live.get(queue) or LiveQueue()


ABANDONED_KEPT = 50  # the supervisor's drill-down lists the last 50


def mask_caller(number: str, tail: str | None = None) -> str:
    """A caller as the drill-down shows it: the last 4 digits, the rest hidden (a
    supervisor needs to tell callers apart, not to call them back from a screen). The
    producers send the number hashed with its tail apart (base/callers.py); a number in
    the clear (an older recording) is cut here."""
    if tail:
        return "••••" + tail[-4:]
    if number.startswith("h1:"):
        return "••••"
    return "••••" + number[-4:] if len(number) > 4 else "••••"


_SIGNALS = {ev.CALL_OFFERED: "offered", ev.CALL_ANSWERED: "answered",
            ev.CALL_ABANDONED: "abandoned", ev.CALL_ENDED: "ended",
            ev.CALL_WRAPPED_UP: "acw", ev.AGENT_LOGIN: "agent", ev.AGENT_LOGOUT: "agent",
            ev.AGENT_STATE: "agent"}


def _signal_value(event: Event, state: LiveQueue) -> Any:
    etype = event["type"]
    if etype == ev.CALL_ENDED:
        return event["talk_ms"] + event["hold_ms"]
    if etype == ev.CALL_WRAPPED_UP:
        return event["acw_ms"]
    if etype == ev.CALL_ABANDONED:
        return event["wait_ms"]
    if etype in ev.AGENT_TYPES:
        agent_id = event["agent_id"]
        return (agent_id, state.agents[agent_id][0])  # as the live state has it now
    return 1


def _note_abandoned(state: LiveQueue, entry: list[Any]) -> None:
    kept = state.abandoned
    kept.append(entry)
    if len(kept) > 1 and kept[-2][0] > entry[0]:  # an abandon that arrived late
        kept.sort(key=lambda a: (a[0], a[1]))
    del kept[:-ABANDONED_KEPT]


def _update_live(state: LiveQueue, done: dict[str, int], event: Event) -> None:
    etype = event["type"]
    ts = event["ts_ms"]
    if ts > state.newest_ms:
        state.newest_ms = ts
    if etype == ev.CALL_OFFERED:
        call_id = event["call_id"]
        # An answer or abandon that overtook its own "offered" must not leave
        # a phantom caller waiting forever.
        if call_id not in done:
            state.waiting[call_id] = ts
            if event.get("caller"):
                state.callers[call_id] = mask_caller(event["caller"], event.get("caller_tail"))
    elif etype in (ev.CALL_ANSWERED, ev.CALL_ABANDONED):
        call_id = event["call_id"]
        offered = state.waiting.pop(call_id, None)
        caller = state.callers.pop(call_id, "")
        done[call_id] = ANSWERED if etype == ev.CALL_ANSWERED else ABANDONED
        if etype == ev.CALL_ABANDONED:
            # The ACD's own wait when it gives one, else from the "offered" seen here.
            waited = event.get("wait_ms")
            if waited is None and offered is not None:
                waited = ts - offered
            _note_abandoned(state, [ts, call_id, waited, caller])
    elif etype in ev.AGENT_TYPES:
        agents = state.agents
        agent_id = event["agent_id"]
        current = agents.get(agent_id)
        if current is not None and current[1] > ts:
            return  # an older state change arriving late changes nothing
        if etype == ev.AGENT_LOGOUT:
            agents[agent_id] = [LOGGED_OUT, ts]
        elif etype == ev.AGENT_LOGIN:
            agents[agent_id] = [event.get("state") or "available", ts]
        else:
            agents[agent_id] = [event["state"], ts]
