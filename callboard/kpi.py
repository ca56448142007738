"""KPI counters and formulas (manual chapter 4; docs/kpis.md has each definition).

Windows hold only the additive counters below, never events; every KPI is
derived from counters at read time, so windows merge by addition (queues into
the centre, minutes into half hours and days).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from callboard import events as ev

__all__ = ["COUNTERS", "Counters", "derive", "fold", "merge", "new_counters"]

Counters = dict[str, int]

# All additive except max_wait_ms, which merges by max.
COUNTERS: tuple[str, ...] = (
    "entered",            # call.offered: calls that reached the queue
    "blocked",            # call.blocked: busy signal, never queued (B15)
    "answered",
    "answered_in_t",      # answered with wait <= threshold ("within T" includes T)
    "wait_answered_ms",   # queue time of answered calls (B7/B8)
    "abandoned",          # abandons longer than the short-abandon limit
    "abandoned_in_t",     # of those, abandoned with wait <= threshold
    "wait_abandoned_ms",  # time to abandon (B3)
    "short_abandoned",    # wait <= short_abandon_s; excluded from offered (B13)
    "max_wait_ms",        # longest queue time of a call that left the queue
    "ended",              # conversations finished
    "talk_ms",            # connected time excluding hold
    "hold_ms",            # B5
    "wrapped",            # after-call work finished
    "acw_ms",             # B2
    "transferred",        # B18
)


def new_counters() -> Counters:
    return dict.fromkeys(COUNTERS, 0)


def fold(c: Counters, event: Mapping[str, Any], threshold_ms: int, short_abandon_ms: int) -> None:
    """Add one validated event to a counter set, in place."""
    etype = event["type"]
    if etype == ev.CALL_OFFERED:
        c["entered"] += 1
    elif etype == ev.CALL_ANSWERED:
        _left_queue(c, event["wait_ms"], threshold_ms, "answered", "wait_answered_ms",
                    "answered_in_t")
    elif etype == ev.CALL_ABANDONED:
        wait = event["wait_ms"]
        # short_abandon 0 turns the exclusion off (issue 3); the limit itself is short.
        if short_abandon_ms > 0 and wait <= short_abandon_ms:
            c["short_abandoned"] += 1
            return
        _left_queue(c, wait, threshold_ms, "abandoned", "wait_abandoned_ms", "abandoned_in_t")
    elif etype == ev.CALL_ENDED:
        c["ended"] += 1
        c["talk_ms"] += event["talk_ms"]
        c["hold_ms"] += event["hold_ms"]
    elif etype == ev.CALL_WRAPPED_UP:
        c["wrapped"] += 1
        c["acw_ms"] += event["acw_ms"]
    elif etype == ev.CALL_TRANSFERRED:
        c["transferred"] += 1
    elif etype == ev.CALL_BLOCKED:
        c["blocked"] += 1


def _left_queue(c: Counters, wait: int, threshold_ms: int, count: str, total: str,
                within: str) -> None:
    """A call left the queue (answered or abandoned) after ``wait`` ms."""
    c[count] += 1
    c[total] += wait
    if wait <= threshold_ms:
        c[within] += 1
    if wait > c["max_wait_ms"]:
        c["max_wait_ms"] = wait


def merge(parts: Iterable[Mapping[str, int]]) -> Counters:
    """Sum counter sets (max for max_wait_ms)."""
    out = new_counters()
    for part in parts:
        for key in COUNTERS:
            value = part.get(key, 0)
            if key == "max_wait_ms":
                if value > out[key]:
                    out[key] = value
            else:
                out[key] += value
    return out


def _ratio(num: float, den: float) -> float | None:
    return round(num / den, 6) if den > 0 else None


def _secs(total_ms: float, count: int) -> float | None:
    return round(total_ms / count / 1000, 3) if count > 0 else None


def service_level(c: Mapping[str, int], formula: str) -> float | None:
    """Service level by the named formula; short abandons are already out of every term."""
    offered = c["entered"] - c["short_abandoned"]
    if formula == "offered":  # B20 (line 743): answered within T / calls that got in
        return _ratio(c["answered_in_t"], offered)
    if formula == "answered":
        return _ratio(c["answered_in_t"], c["answered"])
    if formula == "abandons_ignored":
        return _ratio(c["answered_in_t"], offered - c["abandoned_in_t"])
    if formula == "abandons_met":
        return _ratio(c["answered_in_t"] + c["abandoned_in_t"], offered)
    raise ValueError(f"unknown service-level formula {formula!r}")


def derive(c: Mapping[str, int], sl_formula: str = "offered") -> dict[str, Any]:
    """The report/board figures of one window, from its counters.

    ``None`` marks a figure that is undefined for the window (nothing to divide by),
    which the board shows as a dash rather than a misleading 0 or 100%.
    """
    offered = c["entered"] - c["short_abandoned"]
    avg_talk = _secs(c["talk_ms"], c["ended"])
    avg_hold = _secs(c["hold_ms"], c["ended"])
    avg_acw = _secs(c["acw_ms"], c["wrapped"])
    # B4 (line 570): talk + after-call work. Hold is part of the connected time,
    # so it is in too. Averages are added, not totals divided by calls, so that
    # calls whose wrap-up has not arrived yet do not pull AHT down.
    aht = None if avg_talk is None else round(avg_talk + (avg_hold or 0) + (avg_acw or 0), 3)
    return {
        "offered": offered,
        "answered": c["answered"],
        "abandoned": c["abandoned"],
        "short_abandoned": c["short_abandoned"],
        "answered_within_threshold": c["answered_in_t"],
        "abandoned_within_threshold": c["abandoned_in_t"],
        "blocked": c["blocked"],
        "transferred": c["transferred"],
        "handled": c["ended"],
        "service_level": service_level(c, sl_formula),
        "abandon_rate": _ratio(c["abandoned"], offered),
        "asa_s": _secs(c["wait_answered_ms"], c["answered"]),
        "avg_abandon_s": _secs(c["wait_abandoned_ms"], c["abandoned"]),
        "aht_s": aht,
        "avg_talk_s": avg_talk,
        "avg_hold_s": avg_hold,
        "avg_acw_s": avg_acw,
        "max_wait_s": round(c["max_wait_ms"] / 1000, 3),
    }
