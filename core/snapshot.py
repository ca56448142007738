"""Board snapshots: what the worker hands the wallboard, per queue and for the centre.

A snapshot is a JSON document carrying the event time it is valid for
(``as_of_ms``) and, once written, the wall time it was written
(``written_ms``): the board shows the age of every figure from these.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from zoneinfo import ZoneInfo

from core import kpi
from core.engine import Engine
from core.escalation import seats_needed
from core.records import AgentDay, Agents, Drill, RulesDoc, Snapshot, TicketsNow, Window
from core.rules import QueueRules
from core.state import LOGGED_OUT, LiveQueue
from core.timebuckets import iso

__all__ = ["CENTRE", "SNAPSHOT_SCHEMA", "centre_snapshot", "centre_tickets", "queue_snapshot",
           "window_figures"]

SNAPSHOT_SCHEMA = 1
CENTRE = "ALL"
AGENT_COLUMNS = ("available", "on_call", "acw", "not_ready")
WINDOW_NAMES = ("interval", "rolling_15", "rolling_30", "rolling_60", "day")


def window_figures(
    start_ms: int, end_ms: int, counters: Mapping[str, int], rules: QueueRules, zone: ZoneInfo
) -> Window:
    return {
        "start": iso(start_ms, zone),
        "end": iso(end_ms, zone),
        "start_ms": start_ms,
        "end_ms": end_ms,
        "counters": dict(counters),
        **kpi.derive(counters, rules.sl_formula, rules.occupancy_includes_acw),
    }


def _rules_doc(rules: QueueRules) -> RulesDoc:
    return {
        "label_zh": rules.label_zh,
        "label_en": rules.label_en,
        "vip": rules.vip,
        "sl_formula": rules.sl_formula,
        "sl_threshold_s": rules.sl_threshold_s,
        "sl_target": rules.sl_target,
        "short_abandon_s": rules.short_abandon_s,
        "abandon_target": rules.abandon_target,
        "asa_target_s": rules.asa_target_s,
        "answer_limit_s": rules.answer_limit_s,
        "answer_timeout_s": rules.answer_timeout_s,
        "occupancy_includes_acw": rules.occupancy_includes_acw,
        "targets": {k: {"min": t.min, "max": t.max} for k, t in rules.targets.items()},
    }


def _agents(counts: list[int], planned: int | None) -> Agents:
    """Agents by state (AGENT_COLUMNS' order), signed in, planned for this half hour,
    and B14 now: agents signed in / agents planned."""
    available, on_call, acw, not_ready = counts
    logged_in = sum(counts)
    return {"available": available, "on_call": on_call, "acw": acw, "not_ready": not_ready,
            "logged_in": logged_in, "planned": planned,
            "attendance": round(logged_in / planned, 6) if planned else None}


def queue_snapshot(engine: Engine, rules: QueueRules, now_ms: int,
                   planned: Callable[[str, int], int | None] | None = None) -> Snapshot:
    """The live figures, every window and each agent's day of one queue at ``now_ms``."""
    state = engine.live_state(rules.name)
    waiting = state.waiting
    oldest = min(waiting.values()) if waiting else None
    by_state = Counter(agent_state for agent_state, _since in state.agents.values())
    per_agent: dict[str, list[int]] = {}
    windows = {
        name: window_figures(start, end, counters, rules, engine.zone)
        for name, (start, end, counters) in engine.windows(rules.name, now_ms, per_agent).items()
    }
    planned_now = planned(rules.name, now_ms) if planned is not None else None
    agents = _agents([by_state[c] for c in AGENT_COLUMNS], planned_now)
    states = state.agents
    agent_rows: dict[str, AgentDay] = {
        agent_id: {
            "state": states[agent_id][0] if agent_id in states else "logged_out",
            "since_ms": states[agent_id][1] if agent_id in states else None,
            **kpi.derive_agent(values, rules.occupancy_includes_acw),
        }
        for agent_id, values in sorted(per_agent.items())
    }
    for agent_id, (agent_state, since) in states.items():
        if agent_id not in agent_rows and agent_state != "logged_out":
            agent_rows[agent_id] = {"state": agent_state, "since_ms": since,
                                    **kpi.derive_agent(kpi.new_agent())}
    return {
        "schema": SNAPSHOT_SCHEMA,
        "queue": rules.name,
        **_rules_doc(rules),
        "as_of_ms": now_ms,
        "as_of": iso(now_ms, engine.zone),
        "last_event_ms": state.newest_ms or None,
        "now": {
            "waiting": len(waiting),
            "oldest_offered_ms": oldest,
            "longest_wait_s": round(max(0, now_ms - oldest) / 1000, 3) if oldest else 0.0,
            "agents": agents,
            # Seats needed now (Erlang C on the rolling 15 minutes) against agents signed in.
            "seats_needed": seats_needed(windows["rolling_15"], rules.sl_threshold_s,
                                         rules.sl_target, windows["day"].get("aht_s")),
        },
        "windows": windows,
        "agents_day": agent_rows,
    }


def centre_snapshot(
    parts: Sequence[Snapshot], centre_rules: QueueRules, now_ms: int, zone: ZoneInfo
) -> Snapshot:
    """The whole centre: sums of the queue snapshots' counters, KPIs recomputed.

    Ratios are never averaged across queues: they are derived again from the
    summed counters, so the centre SL weighs every call the same.
    Agents are people: one signed in to several queues counts once, in the state
    it was last told on any of them (docs/kpis.md, the centre).
    """
    counts = [0] * len(AGENT_COLUMNS)
    planned: int | None = None
    waiting = 0
    oldest: int | None = None
    for part in parts:
        now = part["now"]
        waiting += now["waiting"]
        if now["oldest_offered_ms"] is not None:
            candidate = now["oldest_offered_ms"]
            oldest = candidate if oldest is None else min(oldest, candidate)
        part_planned = now["agents"].get("planned")
        if part_planned is not None:
            planned = (planned or 0) + part_planned
    for i, n in enumerate(_people(parts)):
        counts[i] += n
    agents = _agents(counts, planned)
    windows: dict[str, Window] = {}
    for name in WINDOW_NAMES:
        present = [p["windows"][name] for p in parts if name in p.get("windows", {})]
        if not present:
            continue
        counters = kpi.merge(w["counters"] for w in present)
        windows[name] = window_figures(
            present[0]["start_ms"], present[0]["end_ms"], counters, centre_rules, zone
        )
    # The centre needs what its queues need: each queue is sized for its own calls.
    needs = [p["now"].get("seats_needed") for p in parts]
    tickets = centre_tickets(parts)
    snap: Snapshot = {
        "schema": SNAPSHOT_SCHEMA,
        "queue": CENTRE,
        **_rules_doc(centre_rules),
        "label_zh": "全中心",
        "label_en": "Whole centre",
        "as_of_ms": now_ms,
        "as_of": iso(now_ms, zone),
        "queues": sorted(p["queue"] for p in parts),
        "now": {
            "waiting": waiting,
            "oldest_offered_ms": oldest,
            "longest_wait_s": round(max(0, now_ms - oldest) / 1000, 3) if oldest else 0.0,
            "agents": agents,
            "seats_needed": ({"agents": sum(n["agents"] for n in needs if n)}
                             if any(needs) else None),
        },
        "windows": windows,
        "last_event_ms": max((p.get("last_event_ms") or 0 for p in parts), default=0),
    }
    if tickets is not None:
        snap["now"]["tickets"] = tickets
    return snap


def _people(parts: Sequence[Snapshot]) -> list[int]:
    """Agents by state (AGENT_COLUMNS' order), each person once. An ACD that reports per
    skill tells a state change on the queue of the call in hand, so an agent serving one
    queue still shows available on the others: the newest change on any queue is the
    truth. A snapshot without its agents' rows (written before they were kept) adds
    its counts as they are."""
    counts = [0] * len(AGENT_COLUMNS)
    latest: dict[str, tuple[int, str]] = {}
    for part in parts:
        rows = part.get("agents_day")
        if rows is None:
            a = part["now"]["agents"]
            mine = (a["available"], a["on_call"], a["acw"], a["not_ready"])
            counts = [c + m for c, m in zip(counts, mine, strict=True)]
            continue
        for agent_id, row in rows.items():
            since = row.get("since_ms")
            if row["state"] in AGENT_COLUMNS and since is not None and (
                    agent_id not in latest or since > latest[agent_id][0]):
                latest[agent_id] = (since, row["state"])
    told = Counter(agent_state for _since, agent_state in latest.values())
    return [c + told[col] for c, col in zip(counts, AGENT_COLUMNS, strict=True)]


def centre_tickets(parts: Sequence[Snapshot]) -> TicketsNow | None:
    """The centre's open tickets: its queues' summed, the first due of all of them next;
    None when no queue ever had one."""
    found = [t for p in parts if (t := p["now"].get("tickets")) is not None]
    if not found:
        return None
    opened: dict[str, int] = {}
    for t in found:
        for kind, n in t["open"].items():
            opened[kind] = opened.get(kind, 0) + n
    due = [t["next_due"] for t in found if t["next_due"] is not None]
    return {"open": opened, "due_soon": sum(t["due_soon"] for t in found),
            "overdue": sum(t["overdue"] for t in found),
            "next_due": min(due, key=lambda d: (d["due_ms"], d["ticket_id"])) if due else None}


def drill_doc(queue: str, live: LiveQueue, now_ms: int) -> Drill:
    """The supervisor's drill-down of one queue at ``now_ms`` (event time): callers
    waiting, longest first (position 1 is answered next: the queue is first come, first
    served), agents signed in by state, and the last calls abandoned, newest first."""
    waiting = sorted(live.waiting.items(), key=lambda item: (item[1], item[0]))
    return {
        "queue": queue, "as_of_ms": now_ms,
        "waiting": [{"position": i, "call_id": call_id,
                     "wait_s": max(0.0, (now_ms - offered) / 1000),
                     "caller": live.callers.get(call_id, "")}
                    for i, (call_id, offered) in enumerate(waiting, start=1)],
        "agents": sorted(({"agent_id": agent_id, "state": state, "since_ms": since}
                          for agent_id, (state, since) in live.agents.items()
                          if state != LOGGED_OUT),
                         key=lambda a: (a["state"], a["since_ms"], a["agent_id"])),
        "abandoned": [{"call_id": call_id, "abandoned_ms": at,
                       "wait_s": None if waited is None else waited / 1000, "caller": caller}
                      for at, call_id, waited, caller in reversed(live.abandoned)],
    }
