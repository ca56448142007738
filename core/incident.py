"""An incident's key moments, computed from its minute timeline and its events, never
drawn by hand (docs/review.md). Plain data in, plain data out: no I/O.

The incident is the surge the manual's ladder watches (hotline manual line 140, "more
than 5 callers waiting"): it starts at the first minute more callers wait than the
threshold and ends at the first minute after its peak when no more than the threshold
wait again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from core import events as ev
from core.records import AbandonedCall, Event, KeyMoments

__all__ = ["Minute", "abandoned_calls", "key_moments", "not_ready_by_reason"]


@dataclass(frozen=True, slots=True)
class Minute:
    """One queue (or the centre) at one minute of the timeline."""

    at_ms: int
    waiting: int
    longest_wait_s: float
    available: int
    on_call: int
    acw: int
    not_ready: int
    seats_needed: int | None
    staffed: int


def key_moments(timeline: Sequence[Minute], threshold: int, hold_ms: int = 0,
                surge_for_ms: int = 300_000) -> KeyMoments:
    """First breach, peak waiting, peak longest wait and recovery, in event time (ms).

    ``threshold``: more callers waiting than this is a breach. Recovered: the first
    minute after the peak from which waiting stayed at or below the threshold for
    ``hold_ms`` (the ladder's sign-out period, manual lines 146-147: a one-minute dip
    is not a recovery). ``surge_ms``: the centre-level step-1 moment, the first minute at
    which more than ``threshold`` had been waiting, minute by minute, for ``surge_for_ms``
    (the ladder's step 1, manual line 140, read on the whole centre). A moment that did
    not happen is None (no breach: nothing else either; no recovery confirmed before
    the end: None).
    """
    breach = next((m for m in timeline if m.waiting > threshold), None)
    if breach is None:
        return {"first_breach_ms": None, "peak_waiting": None, "peak_waiting_ms": None,
                "peak_longest_wait_s": None, "peak_longest_wait_ms": None,
                "recovered_ms": None, "recovery_s": None, "surge_ms": None}
    after = [m for m in timeline if m.at_ms >= breach.at_ms]
    peak = max(after, key=lambda m: (m.waiting, -m.at_ms))  # the first minute at the peak
    longest = max(after, key=lambda m: (m.longest_wait_s, -m.at_ms))
    end_ms = timeline[-1].at_ms

    def held(start: Minute) -> bool:
        if start.at_ms + hold_ms > end_ms:
            return False  # the range ends before the hold does: not confirmed
        return all(m.waiting <= threshold for m in after
                   if start.at_ms <= m.at_ms <= start.at_ms + hold_ms)

    recovered = next((m for m in after if m.at_ms > peak.at_ms and m.waiting <= threshold
                      and held(m)), None)
    return {
        "first_breach_ms": breach.at_ms,
        "peak_waiting": peak.waiting, "peak_waiting_ms": peak.at_ms,
        "peak_longest_wait_s": longest.longest_wait_s, "peak_longest_wait_ms": longest.at_ms,
        "recovered_ms": recovered.at_ms if recovered else None,
        "surge_ms": next((m.at_ms for m in after if m.at_ms - surge_for_ms >= breach.at_ms
                          and all(x.waiting > threshold for x in after
                                  if m.at_ms - surge_for_ms <= x.at_ms <= m.at_ms)), None),
        "recovery_s": (recovered.at_ms - breach.at_ms) / 1000 if recovered else None,
    }


def abandoned_calls(events: Iterable[Event], start_ms: int, end_ms: int,
                    short_abandon_s: Callable[[str], int] = lambda _queue: 0
                    ) -> list[AbandonedCall]:
    """Every call abandoned in [start_ms, end_ms], in time order, with how long it waited;
    ``short`` marks an abandon within its queue's short-abandon limit (B13: left out of
    offered and of the abandonment rate, so a reader can tell why the rate is lower)."""
    rows: list[AbandonedCall] = [
        {"queue": e["queue"], "call_id": e["call_id"], "abandoned_ms": e["ts_ms"],
         "wait_s": round(e["wait_ms"] / 1000, 1),
         # As core.kpi counts it: a wait at or under the limit; a limit of 0 turns it off.
         "short": 0 < short_abandon_s(e["queue"]) * 1000 and e["wait_ms"] <= short_abandon_s(
             e["queue"]) * 1000}
        for e in events if e["type"] == ev.CALL_ABANDONED and start_ms <= e["ts_ms"] <= end_ms]
    return sorted(rows, key=lambda r: (r["abandoned_ms"], r["queue"], r["call_id"]))


def not_ready_by_reason(events: Iterable[Event], start_ms: int, end_ms: int
                        ) -> dict[str, float]:
    """Agent seconds spent not ready in [start_ms, end_ms), by reason ("" when none given).

    An agent's not-ready spell runs from its ``agent.state`` not_ready event to that
    agent's next event in the same queue (a state change, a logout); one still open at
    the end counts to the end.
    """
    open_spells: dict[tuple[str, str], tuple[int, str]] = {}
    seconds: dict[str, float] = {}

    def close(key: tuple[str, str], at_ms: int) -> None:
        since, reason = open_spells.pop(key)
        overlap = min(at_ms, end_ms) - max(since, start_ms)
        if overlap > 0:
            seconds[reason] = seconds.get(reason, 0.0) + overlap / 1000

    for e in sorted((e for e in events if e["type"] in ev.AGENT_TYPES),
                    key=lambda e: e["ts_ms"]):
        key = (e["queue"], e["agent_id"])
        if key in open_spells:
            close(key, e["ts_ms"])
        if e["type"] == ev.AGENT_STATE and e.get("state") == "not_ready":
            open_spells[key] = (e["ts_ms"], str(e.get("reason") or ""))
    for key in list(open_spells):
        close(key, end_ms)
    return dict(sorted(seconds.items()))
