"""Runs one ladder per queue group over the engine's waiting changes; no I/O.

The worker, ``callboard alerts`` (offline) and the tests share it, so a replayed
log fires the same steps at the same event times as the live run did.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, cast
from zoneinfo import ZoneInfo

from core import kpi
from core.erlang import agents_needed
from core.forecast import Forecaster, ForecastRules
from core.ladder import Ladder, LadderRules, Step, Transition
from core.records import Alert, KpiFigures, Outlook, SeatsNeeded
from core.rules import QueueRules
from core.timebuckets import MINUTE_MS, iso, minute_start

__all__ = ["WARNING_RUNG", "LadderSet", "alert_doc", "seats_needed", "transition_docs"]

if TYPE_CHECKING:
    from core.engine import Engine

log = logging.getLogger(__name__)
_warned: set[str] = set()  # queues already reported as unconfigured, once per process


class LadderSet:
    """Every group's ladder and breach forecast (each one's ``state()`` goes into the
    pipeline's checkpoint).

    Every queue gets a ladder: one that is in no configured group (a queue the
    configuration does not name, e.g. an Asterisk queue) gets the default ladder
    as a group of its own, named after it, the first time it is seen.
    """

    def __init__(self, rules: LadderRules, zone: ZoneInfo, groups: dict[str, list[str]],
                 forecast: ForecastRules | None = None) -> None:
        self.rules = rules
        self.zone: ZoneInfo = zone
        self.forecast = forecast if forecast is not None and forecast.enabled else None
        self.groups = dict(groups)
        self.group_of: dict[str, list[str]] = {}
        for group, queues in self.groups.items():
            for queue in queues:
                self.group_of.setdefault(queue, []).append(group)
        self.ladders = {g: Ladder(self.rules, self.zone) for g in self.groups}
        self.forecasters = {g: self._forecaster() for g in self.groups} if self.forecast else {}
        self.waiting: dict[str, int] = {}  # per queue

    def _forecaster(self) -> Forecaster:
        assert self.forecast is not None
        return Forecaster(self.forecast)

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
        if self.forecast:
            self.forecasters[queue] = self._forecaster()

    def feed(self, signals: Iterable[tuple[str, int, str, Any]]) -> list[tuple[str, Transition]]:
        """The engine's signals in counting order (``BatchResult.signals``): callers
        waiting move the ladders, everything feeds the forecasts, whose minutes are
        judged as the log's time passes them."""
        out: list[tuple[str, Transition]] = []
        for queue, at_ms, kind, value in signals:
            if kind != "waiting" and not self.forecast:
                continue
            for group in self._groups_of(queue):
                forecaster = self.forecasters.get(group)
                if forecaster is not None:
                    out += self._judge_minutes(group, at_ms)
                    forecaster.signal(queue, at_ms, kind, value)
                if kind == "waiting":
                    self.waiting[queue] = value
                    total = sum(self.waiting.get(q, 0) for q in self.groups[group])
                    out += [(group, t) for t in self.ladders[group].observe(at_ms, total)]
        return out

    def advance(self, now_ms: int) -> list[tuple[str, Transition]]:
        out: list[tuple[str, Transition]] = []
        for group, ladder in self.ladders.items():
            if group in self.forecasters:
                out += self._judge_minutes(group, now_ms)
            out += [(group, t) for t in ladder.advance(now_ms)]
        return out

    def _judge_minutes(self, group: str, upto_ms: int) -> list[tuple[str, Transition]]:
        """Each minute boundary up to ``upto_ms``: the ladder's time runs to it, then the
        forecast is judged there (a warning, or its end)."""
        out: list[tuple[str, Transition]] = []
        forecaster = self.forecasters[group]
        ladder = self.ladders[group]
        for boundary in forecaster.close_minutes(upto_ms):
            out += [(group, t) for t in ladder.advance(boundary)]
            mode = ladder.mode if ladder.step else self.rules.mode_at(boundary, self.zone)
            first = self.rules.ladder(mode)[0]
            estimate = forecaster.estimate(boundary, ladder.runs.get(str(first.above)),
                                           first.above, first.for_s)
            change = forecaster.judge(estimate, boundary, surging=ladder.step > 0)
            if change is not None:
                doc = estimate.doc() if estimate is not None else None
                out.append((group, Transition(0, change, boundary, forecaster.total_waiting(),
                                              mode, WARNING_RUNG, doc)))
        return out

    def outlook(self, group: str) -> dict[str, Any] | None:
        """The group's latest estimate (None: none, or step 1 is in force)."""
        forecaster = self.forecasters.get(group)
        if forecaster is None or forecaster.last is None:
            return None
        return {**forecaster.last, "warning": forecaster.warning_ms is not None,
                "horizon_s": forecaster.rules.horizon_s}

    def state(self) -> dict[str, Any]:
        return {"ladders": {g: lad.state() for g, lad in self.ladders.items()},
                "forecasts": {g: f.state() for g, f in self.forecasters.items()},
                "waiting": dict(self.waiting)}

    def restore(self, state: Mapping[str, Any]) -> None:
        for group, saved in state.get("ladders", {}).items():
            if group not in self.ladders and group not in self.group_of:
                self._add_solo(group)  # an unconfigured queue's own ladder
            if group in self.ladders:
                self.ladders[group] = Ladder.restore(self.rules, self.zone, saved)
        if self.forecast:
            for group, saved in state.get("forecasts", {}).items():
                if group not in self.ladders and group not in self.group_of:
                    self._add_solo(group)
                if group in self.forecasters:
                    self.forecasters[group] = Forecaster.restore(self.forecast, saved)
        self.waiting.update(state.get("waiting", {}))


# The warning's own rung (step 0): what a floor manager does before the breach; the
# manual's step 1 (line 140) is the floating experts, so they are the ones to ready.
WARNING_RUNG = Step(
    "一级预警", "Step 1 likely soon",
    "预计即将触发一级：请流动专家组做好签入准备，召回小休/未就绪座席",
    "Step 1 is forecast: get the floating experts ready, bring agents back from breaks",
    "floating_experts", "group", 5, 300,
    out_zh="一级预警解除", out_en="Step 1 warning over")
_WARNING_OVER = ("风险已过：流动专家组无需签入，台席照常",
                 "The risk has passed: the floating experts need not sign in")


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
    if t.direction in ("up", "warn"):
        names = (rung.name_zh, rung.name_en, rung.action_zh, rung.action_en)
    elif t.direction == "warn_end":
        names = (rung.out_zh, rung.out_en, *_WARNING_OVER)
    else:
        names = rung.signed_out()
    doc: Alert = {
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
    if t.forecast is not None:
        doc["forecast"] = cast(Outlook, t.forecast)
    return doc


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
