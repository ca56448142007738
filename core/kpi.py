"""KPI counters and formulas (manual chapter 4; docs/kpis.md has each definition).

Windows hold only the additive counters below, never events; every KPI is
derived from counters at read time, so windows merge by addition (queues into
the centre, minutes into half hours and days, agents into their queue).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, MutableMapping
from dataclasses import dataclass

from core import events as ev
from core.records import AgentFigures, Event, KpiFigures

__all__ = [
    "AGENT_FIELDS",
    "AGENT_STATE_FIELD",
    "COUNTERS",
    "Counters",
    "Limits",
    "derive",
    "derive_agent",
    "fold",
    "merge",
    "merge_agents",
    "new_counters",
    "service_level",
]

Counters = dict[str, int]

# All additive except max_wait_ms, which merges by max.
COUNTERS: tuple[str, ...] = (
    "entered",            # call.offered: calls that reached the queue
    "blocked",            # call.blocked: busy signal, never queued (A1, B15)
    "answered",
    "answered_in_t",      # answered with wait <= SL threshold ("within T" includes T)
    "answered_in_limit",  # answered with wait <= answer_limit (A2: over 60 s is "not answered")
    "answered_late",      # answered with wait > answer_timeout (A3: later than 15 s)
    "wait_answered_ms",   # queue time of answered calls (B8)
    "queued",             # left the queue after waiting before any agent rang (B17)
    "queued_answered",    # of those, answered (B7)
    "queue_answered_ms",  # their wait before an agent rang (B7)
    "rung",               # answered calls whose ring time is known (B6)
    "rings",              # rings they heard, whole rings (B6)
    "abandoned",          # abandons longer than the short-abandon limit
    "abandoned_in_t",     # of those, abandoned with wait <= threshold
    "wait_abandoned_ms",  # time to abandon (B3)
    "short_abandoned",    # wait <= short_abandon_s; excluded from offered (B13)
    "max_wait_ms",        # longest queue time of a call that left the queue
    "ended",              # conversations finished (handled)
    "talk_ms",            # connected time excluding hold
    "held",               # conversations with some hold (B5)
    "hold_ms",            # B5
    "wrapped",            # after-call work finished
    "acw_ms",             # B2
    "transferred",        # B18
    "repeated",           # answered calls whose caller called again within the window (B16)
    # Agent time by state, split into the minutes it was spent in (B1, B10, B12, B14).
    "avail_ms",           # signed in, idle, ready for a call
    "busy_ms",            # on a call: talk + hold
    "acw_time_ms",        # in after-call work
    "not_ready_ms",       # signed in but not ready (break, meeting, ...)
    "scheduled_ms",       # planned agent time from the schedule; filled at read time
)

# Per agent, a list in this order (compact: one per agent per minute).
AGENT_FIELDS: tuple[str, ...] = (
    "avail_ms", "busy_ms", "acw_time_ms", "not_ready_ms",
    "answered", "ended", "talk_ms", "hold_ms", "wrapped", "acw_ms",
)
_AF = {name: i for i, name in enumerate(AGENT_FIELDS)}
# Which time counter an agent state accrues to; logged_out accrues nothing.
AGENT_STATE_FIELD = {
    "available": "avail_ms", "on_call": "busy_ms", "acw": "acw_time_ms",
    "not_ready": "not_ready_ms",
}


@dataclass(frozen=True)
class Limits:
    """A queue's thresholds in ms, fixed when an event is counted."""

    threshold_ms: int                 # B20's T
    short_abandon_ms: int             # B13; 0 turns the exclusion off
    answer_limit_ms: int = 60_000     # A2, line 510
    answer_timeout_ms: int = 15_000   # A3, line 513
    ring_cycle_ms: int = 5_000        # one ring; China's ringback is 1 s on, 4 s off


def new_counters() -> Counters:
    return dict.fromkeys(COUNTERS, 0)


def new_agent() -> list[int]:
    return [0] * len(AGENT_FIELDS)


def fold(c: Counters, event: Event, limits: Limits,
         agents: MutableMapping[str, list[int]] | None = None) -> None:
    """Add one validated call event to a counter set (and its agent's), in place."""
    etype = event["type"]
    agent = None
    if agents is not None and "agent_id" in event and etype in ev.CALL_TYPES:
        agent = agents.get(event["agent_id"])
        if agent is None:
            agent = agents[event["agent_id"]] = new_agent()
    if etype == ev.CALL_OFFERED:
        c["entered"] += 1
    elif etype == ev.CALL_ANSWERED:
        wait = event["wait_ms"]
        _left_queue(c, event, limits.threshold_ms, "answered", "wait_answered_ms",
                    "answered_in_t")
        if wait <= limits.answer_limit_ms:
            c["answered_in_limit"] += 1
        if wait > limits.answer_timeout_ms:
            c["answered_late"] += 1
        ring = event.get("ring_ms")
        if ring is not None:
            c["rung"] += 1
            c["rings"] += math.ceil(ring / limits.ring_cycle_ms) if limits.ring_cycle_ms else 0
        queue_ms = _queue_time(event)
        if queue_ms > 0:
            c["queued_answered"] += 1
            c["queue_answered_ms"] += queue_ms
        if agent is not None:
            agent[_AF["answered"]] += 1
    elif etype == ev.CALL_ABANDONED:
        wait = event["wait_ms"]
        # short_abandon 0 turns the exclusion off; the limit itself counts as short.
        if limits.short_abandon_ms > 0 and wait <= limits.short_abandon_ms:
            c["short_abandoned"] += 1
            return
        _left_queue(c, event, limits.threshold_ms, "abandoned", "wait_abandoned_ms",
                    "abandoned_in_t")
    elif etype == ev.CALL_ENDED:
        c["ended"] += 1
        c["talk_ms"] += event["talk_ms"]
        c["hold_ms"] += event["hold_ms"]
        if event["hold_ms"] > 0:
            c["held"] += 1
        if agent is not None:
            agent[_AF["ended"]] += 1
            agent[_AF["talk_ms"]] += event["talk_ms"]
            agent[_AF["hold_ms"]] += event["hold_ms"]
    elif etype == ev.CALL_WRAPPED_UP:
        c["wrapped"] += 1
        c["acw_ms"] += event["acw_ms"]
        if agent is not None:
            agent[_AF["wrapped"]] += 1
            agent[_AF["acw_ms"]] += event["acw_ms"]
    elif etype == ev.CALL_TRANSFERRED:
        c["transferred"] += 1
    elif etype == ev.CALL_BLOCKED:
        c["blocked"] += 1


def _queue_time(event: Event) -> int:
    """Wait before an agent was rung: the wait less the ring time (0 rings if unknown)."""
    return max(0, event["wait_ms"] - (event.get("ring_ms") or 0))


def _left_queue(c: Counters, event: Event, threshold_ms: int, count: str,
                total: str, within: str) -> None:
    """A call left the queue (answered or abandoned)."""
    wait = event["wait_ms"]
    c[count] += 1
    c[total] += wait
    if wait <= threshold_ms:
        c[within] += 1
    if _queue_time(event) > 0:
        c["queued"] += 1
    if wait > c["max_wait_ms"]:
        c["max_wait_ms"] = wait


def add_agent_time(c: Counters, agent: list[int] | None, state: str, ms: int) -> None:
    """Credit ``ms`` spent in ``state`` to a counter set and the agent's list."""
    name = AGENT_STATE_FIELD.get(state)
    if name is None or ms <= 0:
        return
    c[name] += ms
    if agent is not None:
        agent[_AF[name]] += ms


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


def merge_agents(parts: Iterable[Mapping[str, list[int]]]) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for part in parts:
        for agent_id, values in part.items():
            mine = out.get(agent_id)
            if mine is None:
                out[agent_id] = list(values)
            else:
                for i, v in enumerate(values):
                    mine[i] += v
    return out


def _ratio(num: float, den: float) -> float | None:
    return round(num / den, 6) if den > 0 else None


def _secs(total_ms: float, count: int) -> float | None:
    return round(total_ms / count / 1000, 3) if count > 0 else None


def service_level(c: Mapping[str, int], formula: str) -> float | None:
    """Service level by the named formula; short abandons are already out of every term."""
    offered = c["entered"] - c["short_abandoned"]
    if formula == "offered":  # B20 (line 744): answered within T / calls that got in
        return _ratio(c["answered_in_t"], offered)
    if formula == "answered":
        return _ratio(c["answered_in_t"], c["answered"])
    if formula == "abandons_ignored":
        return _ratio(c["answered_in_t"], offered - c["abandoned_in_t"])
    if formula == "abandons_met":
        return _ratio(c["answered_in_t"] + c["abandoned_in_t"], offered)
    raise ValueError(f"unknown service-level formula {formula!r}")


def occupancy(busy_ms: int, acw_ms: int, avail_ms: int, includes_acw: bool) -> float | None:
    """B12 (line 647): (talk + hold) / (talk + hold + idle); optionally ACW counts as busy."""
    work = busy_ms + (acw_ms if includes_acw else 0)
    return _ratio(work, work + avail_ms)


def _aht(talk: float | None, hold_per_call: float | None, acw: float | None) -> float | None:
    # B4 (line 570): talk + after-call work. Hold is part of the connected time,
    # so it is in too. Averages are added, not totals divided by calls, so that
    # calls whose wrap-up has not arrived yet do not pull AHT down.
    return None if talk is None else round(talk + (hold_per_call or 0) + (acw or 0), 3)


def derive(c: Mapping[str, int], sl_formula: str = "offered",
           occupancy_includes_acw: bool = False) -> KpiFigures:
    """The report/board figures of one window, from its counters.

    ``None`` marks a figure that is undefined for the window (nothing to divide by),
    which the board shows as a dash rather than a misleading 0 or 100%.
    """
    offered = c["entered"] - c["short_abandoned"]
    attempts = c["entered"] + c["blocked"]
    avg_talk = _secs(c["talk_ms"], c["ended"])
    avg_acw = _secs(c["acw_ms"], c["wrapped"])
    signed_in = c["avail_ms"] + c["busy_ms"] + c["acw_time_ms"] + c["not_ready_ms"]
    ready = signed_in - c["not_ready_ms"]
    scheduled = c.get("scheduled_ms", 0)
    return {
        # B21 totals by type (line 757)
        "attempts": attempts,
        "offered": offered,
        "answered": c["answered"],
        "abandoned": c["abandoned"],
        "short_abandoned": c["short_abandoned"],
        "blocked": c["blocked"],
        "transferred": c["transferred"],
        "handled": c["ended"],
        "queued": c["queued"],
        "repeated": c["repeated"],
        "answered_within_threshold": c["answered_in_t"],
        "abandoned_within_threshold": c["abandoned_in_t"],
        # A1-A3 (lines 507-513)
        "connection_rate": _ratio(c["entered"], attempts),
        "answer_rate": _ratio(c["answered_in_limit"], offered),
        "answer_timeout_rate": _ratio(c["answered_late"], c["answered"]),
        # B-series
        "adherence": _ratio(ready, scheduled),                       # B1
        "avg_acw_s": avg_acw,                                        # B2
        "avg_abandon_s": _secs(c["wait_abandoned_ms"], c["abandoned"]),  # B3
        "aht_s": _aht(avg_talk, _secs(c["hold_ms"], c["ended"]), avg_acw),  # B4
        "avg_hold_s": _secs(c["hold_ms"], c["held"]),                # B5
        "avg_rings": round(c["rings"] / c["rung"], 3) if c["rung"] else None,  # B6
        "avg_queue_s": _secs(c["queue_answered_ms"], c["queued_answered"]),  # B7
        "asa_s": _secs(c["wait_answered_ms"], c["answered"]),        # B8
        "avg_talk_s": avg_talk,                                      # B9
        "calls_per_agent_hour": _ratio(c["ended"] * 3_600_000, signed_in),  # B10
        "occupancy": occupancy(c["busy_ms"], c["acw_time_ms"], c["avail_ms"],
                               occupancy_includes_acw),              # B12
        "abandon_rate": _ratio(c["abandoned"], offered),             # B13
        "attendance": _ratio(signed_in, scheduled),                  # B14
        "busy_rate": _ratio(c["blocked"], attempts),                 # B15
        "fcr": _ratio(c["answered"] - c["repeated"], c["answered"]),  # B16
        "queue_placement_rate": _ratio(c["queued"], offered),        # B17
        "transfer_rate": _ratio(c["transferred"], c["answered"]),    # B18
        "answered_rate": _ratio(c["answered"], offered),             # B19
        "service_level": service_level(c, sl_formula),               # B20
        # None, not 0, when no call left the queue: nobody waited 0 s.
        "max_wait_s": (round(c["max_wait_ms"] / 1000, 3)
                       if c["answered"] + c["abandoned"] else None),
        "signed_in_h": round(signed_in / 3_600_000, 4),
        "scheduled_h": round(scheduled / 3_600_000, 4),
    }


def derive_agent(values: list[int], occupancy_includes_acw: bool = False) -> AgentFigures:
    """One agent's figures (B2, B4, B9, B10, B12) from its counter list."""
    a = dict(zip(AGENT_FIELDS, values, strict=True))
    signed_in = a["avail_ms"] + a["busy_ms"] + a["acw_time_ms"] + a["not_ready_ms"]
    avg_talk = _secs(a["talk_ms"], a["ended"])
    avg_acw = _secs(a["acw_ms"], a["wrapped"])
    return {
        "answered": a["answered"],
        "handled": a["ended"],
        "avg_talk_s": avg_talk,
        "avg_acw_s": avg_acw,
        "aht_s": _aht(avg_talk, _secs(a["hold_ms"], a["ended"]), avg_acw),
        "calls_per_agent_hour": _ratio(a["ended"] * 3_600_000, signed_in),
        "occupancy": occupancy(a["busy_ms"], a["acw_time_ms"], a["avail_ms"],
                               occupancy_includes_acw),
        "signed_in_h": round(signed_in / 3_600_000, 4),
        "not_ready_h": round(a["not_ready_ms"] / 3_600_000, 4),
    }
