"""Runs one ladder per queue group over the engine's waiting changes; no I/O.

The worker, ``callboard alerts`` (offline) and the tests share it, so a replayed
log fires the same steps at the same event times as the live run did.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from core import kpi
from core.erlang import agents_needed
from core.ladder import Ladder, LadderRules, Transition
from core.records import Alert, KpiFigures, SeatsNeeded
from core.rules import QueueRules
from core.timebuckets import MINUTE_MS, iso, minute_start

__all__ = ["LadderSet", "alert_doc", "seats_needed", "transition_docs"]

if TYPE_CHECKING:
    from core.engine import Engine

log = logging.getLogger(__name__)
_warned: set[str] = set()  # queues already reported as unconfigured, once per process


class LadderSet:
    """Every group's ladder (each one's ``state()`` goes into the pipeline's checkpoint).

    Every queue gets a ladder: one that is in no configured group (a queue the
    configuration does not name, e.g. an Asterisk queue) gets the default ladder
    as a group of its own, named after it, the first time it has callers waiting.
    """

    def __init__(self, rules: LadderRules, zone: ZoneInfo, groups: dict[str, list[str]]) -> None:
        self.rules = rules
        self.zone: ZoneInfo = zone
        self.groups = dict(groups)
        self.group_of: dict[str, list[str]] = {}
        for group, queues in self.groups.items():
            for queue in queues:
                self.group_of.setdefault(queue, []).append(group)
        self.ladders = {g: Ladder(self.rules, self.zone) for g in self.groups}
        self.waiting: dict[str, int] = {}  # per queue; the worker refills it from its live table

    def _groups_of(self, queue: str) -> list[str]:
        groups = self.group_of.get(queue)
        if groups is None:
            if queue not in _warned:
                _warned.add(queue)
                log.warning("queue %s is in no escalation group: it gets the default surge "
                            "ladder on its own (configure it under [escalation] groups)", queue)
            self._add_solo(queue)
            groups = self.group_of[queue]
        return groups

    def _add_solo(self, queue: str) -> None:
        self.groups[queue] = [queue]
        self.group_of[queue] = [queue]
        self.ladders[queue] = Ladder(self.rules, self.zone)

    def feed(self, changes: Iterable[tuple[str, int, int]]) -> list[tuple[str, Transition]]:
        out: list[tuple[str, Transition]] = []
        for queue, at_ms, count in changes:
            self.waiting[queue] = count
            for group in self._groups_of(queue):
                total = sum(self.waiting.get(q, 0) for q in self.groups[group])
                out += [(group, t) for t in self.ladders[group].observe(at_ms, total)]
        return out

    def advance(self, now_ms: int) -> list[tuple[str, Transition]]:
        return [(g, t) for g, ladder in self.ladders.items() for t in ladder.advance(now_ms)]

    def state(self) -> dict[str, Any]:
        return {"ladders": {g: lad.state() for g, lad in self.ladders.items()},
                "waiting": dict(self.waiting)}

    def restore(self, state: Mapping[str, Any]) -> None:
        for group, saved in state.get("ladders", {}).items():
            if group not in self.ladders and group not in self.group_of:
                self._add_solo(group)  # an unconfigured queue's own ladder
            if group in self.ladders:
                self.ladders[group] = Ladder.restore(self.rules, self.zone, saved)
        self.waiting.update(state.get("waiting", {}))


def seats_needed(figures: KpiFigures, threshold_s: float, target: float,
                 fallback_aht_s: float | None = None) -> SeatsNeeded | None:
    """Agents needed now (Erlang C) from a window's offered calls and AHT (the
    rolling 15 minutes), or None when there is no traffic to size for."""
    offered = figures.get("offered") or 0
    aht = figures.get("aht_s") or fallback_aht_s
    if not offered or not aht:
        return None
    result = agents_needed(offered, 900, aht, threshold_s, target)
    return {"agents": result.agents, "service_level": round(result.service_level, 4),
            "asa_s": round(result.asa_s, 1), "calls_15min": offered, "aht_s": aht}


def alert_doc(group: str, t: Transition, zone: ZoneInfo,
              seats: SeatsNeeded | None = None, staffed: int | None = None) -> Alert:
    """The alert event (topic alerts.v1, Redis): what changed, why, and what to do."""
    rung = t.rung
    names = ((rung.name_zh, rung.name_en, rung.action_zh, rung.action_en)
             if t.direction == "up" else rung.signed_out())
    return {
        "alert_id": f"{group}:{t.at_ms}:{t.direction}:{t.step}",
        "queue": group,
        "step": t.step,
        "direction": t.direction,
        "event_time": iso(t.at_ms, zone),
        "event_ms": t.at_ms,
        "waiting": t.waiting,
        "mode": t.mode,
        # Up: the rung signed in; down: the rung signed out, worded as a sign-out.
        "rung": {"name_zh": names[0], "name_en": names[1], "action_zh": names[2],
                 "action_en": names[3], "staff_group": rung.staff_group, "seats": rung.seats},
        "seats_needed": seats if rung.needs_seats_figure and t.direction == "up" else None,
        "staffed": staffed,
    }


def group_figures(engine: Engine, queues: list[str], at_ms: int) -> KpiFigures:
    """The rolling 15 minutes before ``at_ms`` of a group's queues, KPIs derived."""
    start = minute_start(at_ms) - 14 * MINUTE_MS
    parts = [engine.window(q, start, minute_start(at_ms) + MINUTE_MS, at_ms)[0] for q in queues]
    return kpi.derive(kpi.merge(parts))


def transition_docs(rules_for: Callable[[str], QueueRules], engine: Engine, ladders: LadderSet,
                    transitions: list[tuple[str, Transition]]) -> list[Alert]:
    """Alert documents for transitions, with seats needed for the steps that ask for it."""
    docs = []
    for group, t in transitions:
        queues = ladders.groups[group]
        seats = staffed = None
        if t.rung.needs_seats_figure and t.direction == "up":
            rules = rules_for(queues[0])
            figures = group_figures(engine, queues, t.at_ms)
            seats = seats_needed(figures, rules.sl_threshold_s, rules.sl_target)
            staffed = sum(
                1 for q in queues for s, _ in engine.live_state(q).agents.values()
                if s != "logged_out")
        docs.append(alert_doc(group, t, ladders.zone, seats, staffed))
    return docs
