"""Backtest of the breach warning against the rules of thumb (issues #18 §5, #28 §3):
simulated days with surges of known shapes through the counting pipeline; every real
step-1 firing and every warning judged, the product's warning beside the rule "warn
when more than 5 callers have waited k minutes" for k = 1, 2, 3.

    .venv/bin/python bench/forecast.py [--days 12] [--sets sim,rooms,asterisk,afternoon]
                                       [--seed 1] [--jobs 2] [--margin 1.0] [--confirm 2]

The data sets (days in order through one pipeline per centre, so the forecast has the
earlier days' same half hours to blend in; ``sim``, ``asterisk`` and ``afternoon``
from producers/simulator.py, callers holding on 2.5 times its default as a public
hotline's do, every fourth day a 16-queue centre; ``rooms`` from producers/room.py):

- ``sim``: what the simulator alone gives, with 2-4 surges a day between 08:00 and
  20:00 of three shapes: ``sudden`` (arrivals 2.5-5x for 20-50 min), ``slow`` (a
  build to 2.5-4.5x over 30-60 min, 20 held, the same down) and ``leave`` (60-90% of
  a queue's agents not ready for 30-60 min, as the states say).
- ``rooms``: the room calibrated to a real centre's month, with skills
  (producers/room.py: agents signed in to two or three queues and shown free on one
  while serving another, days and half hours that vary more than Poisson, the
  month's lognormal talk and short handles), three times as many days as the other
  sets (its days are small) in three sizes: the bank's room as it was, 2.5 times it
  and, every fourth day, 6 times it; 2-4 surges a day: ``hidden`` (40-80% of a
  queue's own agents serve another line for 30-60 min while their state still says
  available), ``burst`` (arrivals 4-8x for 4-10 min), ``sudden`` and ``slow``. The
  room breaches on its own as the month did (14 step 1s in 20 weekdays at its own
  size without surges): those step 1s are ``other``.
- ``asterisk``: sudden surges and agents pausing (``leave``), as an Asterisk
  queue_log tells them (producers/asterisk_log.py, read back by the converter): no
  on-call or wrap-up state, so agents on a call look available.
- ``afternoon``: ordinary busy afternoons, 13:00-17:00 at a flat load of 0.70-0.85 per
  queue and no surge: how many warnings each method gives a queue in 4 hours that
  did not breach.

A step-1 firing (the ladder's "up" to step 1, at the exact event time) is *warned*
when a warning for its group went out in the 30 minutes before it and was still out
when it fired; its lead is the minutes between. A warning is *right* when step 1
fired for its group within the horizon (10 minutes) of it; "within 20" is printed
beside. A rule's warning goes out the moment more than 5 have waited k minutes and
ends when 5 or fewer wait or step 1 fires. The goals (issue #28): on every set no
rule dominates the warning (none has at least its recall, precision and lead, and
more of one); overall recall >= 80%, precision >= 60%, median lead >= 3 minutes.
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import statistics
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from common import print_machine  # bench/common.py, beside this script

from base.assemble import pipeline_rules
from base.config import load_settings
from core.pipeline import Pipeline
from core.records import Event, Record
from producers.asterisk import convert_lines
from producers.asterisk_log import queue_log_lines
from producers.room import BANK_1999, Room, RoomSimulator, Surge
from producers.simulator import SimQueue, Simulator, default_queues

ZONE = ZoneInfo("Asia/Shanghai")
DAY_MS = 86_400_000
MIN_MS = 60_000
HORIZON_MS = 10 * MIN_MS
LOOKBACK_MS = 30 * MIN_MS


class SurgeSimulator(Simulator):
    """The simulator with the day's surges: arrival multipliers and agents stepping away,
    said (not ready) or unsaid (serving another skill, still shown available)."""

    def __init__(self, surges: list[Surge], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._agent_numbers = itertools.count(kwargs["seed"] % 1000 * 1000 + 1)
        self.surges = surges
        self.peak = {q: max([1.0, *(s.factor for s in surges if s.queue == q)])
                     for q in self.queues}
        for s in surges:
            if s.shape in ("leave", "hidden"):
                self._schedule(s.start_ms, "leave", s)

    def events(self) -> Iterator[Event]:
        # A day ends with everyone signed out and nobody waiting, as a centre's does: the
        # next day's agents (new ids) are the only ones on the floor then.
        yield from super().events()
        for queue, calls in self._waiting.items():
            for call in calls:
                self._emit("call.abandoned", self.end_ms, queue, call_id=call.call_id,
                           offered_ms=call.offered_ms, wait_ms=self.end_ms - call.offered_ms)
        for agents in self._agents.values():
            for agent in agents:
                if agent.state != "logged_out":
                    self._emit("agent.logout", self.end_ms, agent.queue, agent_id=agent.agent_id)
        yield from self._out
        self._out.clear()

    def factor(self, queue: str, at_ms: int) -> float:
        return max([1.0, *(s.arrivals(at_ms) for s in self.surges if s.queue == queue)])

    def _next_arrival(self, queue: SimQueue, after_ms: int) -> int:
        peak = self.peak[queue.name]
        rate_per_ms = queue.peak_calls_per_hour * self.volume * peak / 3_600_000
        at = after_ms
        while True:
            at += max(1, int(self.rng.expovariate(rate_per_ms)))
            keep = self._profile(at) * self.factor(queue.name, at) / peak
            if at > self.end_ms or self.rng.random() < keep:
                return at

    def _on_leave(self, now: int, surge: Surge) -> None:
        agents = [a for a in self._agents[surge.queue] if a.state != "logged_out"]
        for agent in agents[:surge.agents]:
            agent.pause_until = surge.end_ms  # type: ignore[attr-defined]
            agent.hidden = surge.shape == "hidden"  # type: ignore[attr-defined]
            if agent.state == "available":
                self._ready(now, agent)

    def _ready(self, now: int, agent: Any) -> None:
        until = getattr(agent, "pause_until", 0)
        if until > now:
            if getattr(agent, "hidden", False):
                agent.state = "elsewhere"  # serving another skill: nothing is logged
            else:
                agent.state = "not_ready"
                self._emit("agent.state", now, agent.queue, agent_id=agent.agent_id,
                           state="not_ready", reason="meeting")
            self._schedule(until, "ready", agent)
            return
        super()._ready(now, agent)

    def _on_ready(self, now: int, agent: Any) -> None:
        if agent.state == "elsewhere" and agent.leaving:
            agent.state = "available"  # signs out from where the ACD thinks it is
        super()._on_ready(now, agent)


def centre(big: bool) -> list[SimQueue]:
    # Callers of a public hotline hold on for minutes, not the simulator's 90 s default.
    base = [replace(q, patience_mean_s=q.patience_mean_s * 2.5) for q in default_queues()]
    if not big:
        return base
    return [replace(base[i % 4], name=f"Q{i:02d}") for i in range(16)]


def afternoon_centre() -> list[SimQueue]:
    """Four queues at a flat load of 0.70-0.85: arrivals x (talk + wrap-up) / agents."""
    def q(name: str, agents: int, load: float, talk: float) -> SimQueue:
        return SimQueue(name, agents=agents, peak_calls_per_hour=load * agents * 3600 / (talk + 45),
                        talk_mean_s=talk, patience_mean_s=225)

    return [q("GEN", 18, 0.70, 180), q("BIZ", 8, 0.75, 240), q("EN", 6, 0.80, 210),
            q("VIP", 10, 0.85, 200)]


SHAPES = {"sim": ("sudden", "slow", "leave"), "rooms": ("hidden", "burst", "sudden", "slow"),
          "asterisk": ("sudden", "leave"), "afternoon": (), "bank": ()}


def day_surges(rng: random.Random, day_ms: int, queues: list[SimQueue],
               shapes: tuple[str, ...]) -> list[Surge]:
    out: list[Surge] = []
    for _ in range(rng.randint(2, 4) if shapes else 0):
        queue = rng.choice(queues)
        start = day_ms + rng.randint(8 * 60, 19 * 60) * MIN_MS
        shape = rng.choice(shapes)
        if shape == "sudden":
            out.append(Surge(shape, queue.name, start, start + rng.randint(20, 50) * MIN_MS,
                             factor=rng.uniform(2.5, 5.0)))
        elif shape == "burst":
            out.append(Surge(shape, queue.name, start, start + rng.randint(4, 10) * MIN_MS,
                             factor=rng.uniform(4.0, 8.0)))
        elif shape == "slow":
            ramp = rng.randint(30, 60) * MIN_MS
            out.append(Surge(shape, queue.name, start, start + 2 * ramp + 20 * MIN_MS,
                             factor=rng.uniform(2.5, 4.5), ramp_ms=ramp))
        else:  # leave (said) or hidden (unsaid)
            share = rng.uniform(0.6, 0.9) if shape == "leave" else rng.uniform(0.4, 0.8)
            out.append(Surge(shape, queue.name, start, start + rng.randint(30, 60) * MIN_MS,
                             agents=max(1, round(queue.agents * share))))
    return out


def room_queues(room: Room) -> list[SimQueue]:
    """The calibrated room's queues as day_surges reads them: the agents whose own skill
    each is, at the busiest hour."""
    peak = max(room.agents_by_hour.values()) * room.staffing * room.scale
    return [SimQueue(q, agents=max(1, round(peak * sum(g.share for g in room.groups
                                                        if g.skills[0] == q))),
                     peak_calls_per_hour=0) for q in room.queues]


def room_size(day: int, big: bool) -> float:
    """Several centre sizes: the bank's room as it was, 2.5 times it and 6 times it."""
    return 6.0 if big else (1.0, 2.5)[day % 2]


def _settings(queues: list[SimQueue], margin: float, confirm: int) -> Any:
    settings = load_settings(None)
    settings = settings.model_copy(update={"escalation": settings.escalation.model_copy(
        update={"warn_margin": margin, "warn_confirm_min": confirm})})
    names = [{"name": q.name, "label_zh": q.name, "label_en": q.name} for q in queues]
    return settings.model_copy(update={"queues": [type(settings.queues[0])(**q) for q in names]})


def run_centre(args: tuple[str, int, list[int], bool, float, int]) -> dict[str, Any]:
    """Every day of one centre, in order, through one pipeline: firings, warnings, surges,
    and the waiting moments the rules of thumb read."""
    data, seed, days, big, margin, confirm = args
    queues = (afternoon_centre() if data == "afternoon" else room_queues(BANK_1999)
              if data == "rooms" else centre(big))
    pipeline = Pipeline(pipeline_rules(_settings(queues, margin, confirm), offline=True))
    rng = random.Random(seed)
    start0 = int(datetime(2026, 1, 5, tzinfo=ZONE).timestamp() * 1000)
    alerts: list[dict[str, Any]] = []
    surges: list[Surge] = []
    waits: list[tuple[str, int, int]] = []  # (queue, ms, callers waiting from then)
    events = 0
    for day in days:
        day_ms = start0 + day * DAY_MS
        afternoon = data == "afternoon"
        sim: Simulator
        if data == "rooms":
            room = BANK_1999.sized(room_size(day, big))
            todays = day_surges(rng, day_ms, room_queues(room), SHAPES[data])
            sim = RoomSimulator(room=room, surges=todays, seed=seed * 1000 + day,
                                start_ms=day_ms, duration_ms=DAY_MS, zone=ZONE)
        else:
            todays = day_surges(rng, day_ms, queues, SHAPES[data])
            sim = SurgeSimulator(todays, seed=seed * 1000 + day,
                                 start_ms=day_ms + (13 * 3_600_000 if afternoon else 0),
                                 duration_ms=4 * 3_600_000 if afternoon else DAY_MS, zone=ZONE,
                                 queues=queues, flat=afternoon)
        surges += todays
        day_events: Iterable[Event] = sim.events()
        if data == "asterisk":
            day_events = convert_lines(queue_log_lines(day_events))
        day_events = list(day_events)
        waits += waiting_moments(day_events)
        for chunk in range(0, len(day_events), 2000):
            batch = [Record(json.dumps(e).encode(), -1, -1)
                     for e in day_events[chunk:chunk + 2000]]
            alerts += pipeline.feed(batch).alerts
        alerts += pipeline.finish()
        events += len(day_events)
    return {"alerts": alerts, "surges": surges, "events": events, "waits": waits,
            "queue_hours": len(days) * len(queues) * (4 if data == "afternoon" else 24)}


def run_real(args: tuple[str, float, int]) -> dict[str, Any]:
    """A real centre's month (bench/technion.py) through one pipeline, as `callboard
    alerts` runs it; no surges are known, so every firing is "other"."""
    path, margin, confirm = args
    import technion  # bench/technion.py, beside this script

    with open(path, encoding="latin-1") as fh:
        month = technion.events(list(technion.calls(fh)))
    queues = [SimQueue(q, agents=1, peak_calls_per_hour=1) for q in technion.QUEUES]
    settings = _settings(queues, margin, confirm).model_copy(update={"timezone": "Asia/Jerusalem"})
    pipeline = Pipeline(pipeline_rules(settings, offline=True))
    alerts: list[dict[str, Any]] = []
    for chunk in range(0, len(month), 2000):
        alerts += pipeline.feed([Record(json.dumps(e).encode(), -1, -1)
                                 for e in month[chunk:chunk + 2000]]).alerts
    alerts += pipeline.finish()
    return {"alerts": alerts, "surges": [], "events": len(month),
            "waits": waiting_moments(month), "queue_hours": 0}


def waiting_moments(events: list[Event]) -> list[tuple[str, int, int]]:
    """Each queue's callers waiting, at every change: offered in, answered or abandoned out
    (as the wall counts them, from the events themselves rather than the engine)."""
    waiting: dict[str, set[str]] = defaultdict(set)
    out = []
    for e in sorted(events, key=lambda e: e["ts_ms"]):
        calls = waiting[e["queue"]]
        before = len(calls)
        if e["type"] == "call.offered":
            calls.add(e["call_id"])
        elif e["type"] in ("call.answered", "call.abandoned"):
            calls.discard(e["call_id"])
        if len(calls) != before:
            out.append((e["queue"], e["ts_ms"], len(calls)))
    return out


def rule_alerts(waits: list[tuple[str, int, int]], minutes: int) -> list[dict[str, Any]]:
    """The rule "warn when more than 5 have waited ``minutes``": a warning the moment a run
    above 5 is that old, ended when 5 or fewer wait (step 1 ends it too, in ``judge``)."""
    out: list[dict[str, Any]] = []
    since: dict[str, int | None] = {}
    out_since: dict[str, bool] = {}
    for queue, at, n in sorted(waits, key=lambda w: w[1]):
        start = since.get(queue)
        if start is not None and not out_since.get(queue) and at >= start + minutes * MIN_MS:
            out.append({"queue": queue, "event_ms": start + minutes * MIN_MS, "direction": "warn"})
            out_since[queue] = True
        if n > 5 and start is None:
            since[queue] = at
        elif n <= 5 and start is not None:
            since[queue] = None
            if out_since.pop(queue, False):
                out.append({"queue": queue, "event_ms": at, "direction": "warn_end"})
    return out


def judge(alerts: list[dict[str, Any]], surges: list[Surge]) -> dict[str, dict[str, list]]:
    fires = [(a["queue"], a["event_ms"]) for a in alerts
             if a["direction"] == "up" and a["step"] == 1]
    warnings: dict[str, list[list[int | None]]] = defaultdict(list)  # group -> [start, end]
    for a in sorted(alerts, key=lambda a: a["event_ms"]):
        if a["direction"] == "warn":
            warnings[a["queue"]].append([a["event_ms"], None])
        elif a["direction"] == "warn_end" and warnings[a["queue"]]:
            warnings[a["queue"]][-1][1] = a["event_ms"]
        elif a["direction"] == "up" and a["step"] == 1 and warnings[a["queue"]]:
            last = warnings[a["queue"]][-1]
            if last[1] is None:
                last[1] = a["event_ms"]  # step 1 ends the warning

    def shape_of(queue: str, at: int) -> str:
        for s in surges:
            if s.queue == queue and s.start_ms <= at <= s.end_ms + LOOKBACK_MS:
                return s.shape
        return "other"

    out: dict[str, dict[str, list]] = defaultdict(lambda: {"leads": [], "missed": [],
                                                           "right": [], "wrong": [],
                                                           "right20": []})
    for queue, at in fires:
        shape = shape_of(queue, at)
        warned = [w for w, end in warnings[queue]
                  if at - LOOKBACK_MS <= w <= at and (end is None or end >= at)]
        if warned:
            out[shape]["leads"].append((at - min(warned)) / MIN_MS)
        else:
            out[shape]["missed"].append(at)
    for queue, spans in warnings.items():
        for w, _ in spans:
            shape = shape_of(queue, w)
            if any(q == queue and w <= at <= w + HORIZON_MS for q, at in fires):
                out[shape]["right"].append(w)
            else:
                out[shape]["wrong"].append(w)
            if any(q == queue and w <= at <= w + 2 * HORIZON_MS for q, at in fires):
                out[shape]["right20"].append(w)
    return out


def figures(r: dict[str, list]) -> tuple[int, int, float | None, int, float | None,
                                         float | None, float | None]:
    """(fires, warned, recall, warnings, precision, precision within 20, median lead)."""
    fires = len(r["leads"]) + len(r["missed"])
    warns = len(r["right"]) + len(r["wrong"])
    return (fires, len(r["leads"]), len(r["leads"]) / fires if fires else None, warns,
            len(r["right"]) / warns if warns else None,
            len(r["right20"]) / warns if warns else None,
            statistics.median(r["leads"]) if r["leads"] else None)


def line(name: str, r: dict[str, list]) -> str:
    fires, warned, recall, warns, precision, p20, median = figures(r)

    def pct(x: float | None) -> str:
        return f"{x:6.0%}" if x is not None else "     -"

    lead = f"{median:5.2f}" if median is not None else "    -"
    return (f"{name:10} {fires:6} {warned:6} {pct(recall)} {warns:6} {pct(precision)} "
            f"{pct(p20)}   {lead}")


def total(by_shape: dict[str, dict[str, list]]) -> dict[str, list]:
    out: dict[str, list] = {"leads": [], "missed": [], "right": [], "wrong": [], "right20": []}
    for r in by_shape.values():
        for k in out:
            out[k] += r[k]
    return out


def dominates(rule: dict[str, list], warning: dict[str, list]) -> bool:
    """At least the warning's recall, precision and median lead, and more of one."""
    a, b = figures(rule), figures(warning)
    pairs = [(a[i] or 0.0, b[i] or 0.0) for i in (2, 4, 6)]
    return all(x >= y for x, y in pairs) and any(x > y for x, y in pairs)


HEAD = (f"{'':10} {'fires':>6} {'warned':>6} {'recall':>6} {'warns':>6} {'prec.':>6} "
        f"{'in 20':>6}   {'lead median (min)':>5}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--days", type=int, default=12, help="days per data set")
    parser.add_argument("--sets", default="sim,rooms,asterisk,afternoon")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--margin", type=float, default=1.0, help="escalation.warn_margin")
    parser.add_argument("--confirm", type=int, default=2, help="escalation.warn_confirm_min")
    parser.add_argument("--bank", action="append", default=[], metavar="MONTH.txt",
                        help="a month of the Technion SEE lab's Anonymous Bank records "
                             "(bench/technion.py): a real centre's data set, 'bank'")
    args = parser.parse_args()
    print_machine()
    started = time.monotonic()
    sets = [s for s in args.sets.split(",") if s]
    work = []
    for data in sets:
        if data == "afternoon":
            work.append((data, args.seed + 7, list(range(args.days * 2)), False, args.margin,
                         args.confirm))
            continue
        days = args.days * (3 if data == "rooms" else 1)  # the room's days are small
        work.append((data, args.seed, [d for d in range(days) if d % 4 != 3], False,
                     args.margin, args.confirm))
        work.append((data, args.seed + 1, [d for d in range(days) if d % 4 == 3], True,
                     args.margin, args.confirm))
    with ProcessPoolExecutor(args.jobs) as pool:
        real = [pool.submit(run_real, (path, args.margin, args.confirm)) for path in args.bank]
        results = list(pool.map(run_centre, work))
        results += [r.result() for r in real]
    if args.bank:
        sets.append("bank")
        work += [("bank", 0, [], False, args.margin, args.confirm)] * len(args.bank)
    print(f"warn_margin {args.margin}, confirm {args.confirm}, horizon 10 min; "
          f"{args.days} days a set, {sum(r['events'] for r in results)} events, "
          f"{time.monotonic() - started:.0f} s")
    overall: dict[str, dict[str, list]] = {}
    for data in sets:
        mine = [r for r, w in zip(results, work, strict=True) if w[0] == data]
        alerts = [a for r in mine for a in r["alerts"]]
        surges = [s for r in mine for s in r["surges"]]
        waits = [w for r in mine for w in r["waits"]]
        steps = [a for a in alerts if a["direction"] == "up"]
        methods = {"warning": judge(alerts, surges)}
        for k in (1, 2, 3):
            methods[f"rule {k} min"] = judge(rule_alerts(waits, k) + steps, surges)
        print(f"\n[{data}] {len(surges)} surges, {sum(r['events'] for r in mine)} events")
        if data == "afternoon":
            hours = sum(r["queue_hours"] for r in mine)
            print(f"{'':10} {'breaches':>8} {'warnings':>8} {'per queue and 4 h':>18}")
            for name, by_shape in methods.items():
                t = total(by_shape)
                warns = len(t["right"]) + len(t["wrong"])
                print(f"{name:10} {len(t['leads']) + len(t['missed']):8} {warns:8} "
                      f"{warns / hours * 4:18.2f}")
            continue
        print(HEAD)
        for shape in (*SHAPES[data], "other"):
            if shape in methods["warning"]:
                print(line(shape, methods["warning"][shape]))
        for name, by_shape in methods.items():
            print(line(name, total(by_shape)))
            for k, v in total(by_shape).items():
                overall.setdefault(name, {"leads": [], "missed": [], "right": [], "wrong": [],
                                          "right20": []})[k] += v
        beaten = [n for n in methods if n != "warning"
                  and dominates(total(methods[n]), total(methods["warning"]))]
        print("dominated by: " + (", ".join(beaten) if beaten else "none"))
    if overall:
        print("\n[all surge sets]")
        print(HEAD)
        for name, r in overall.items():
            print(line(name, r))


if __name__ == "__main__":
    main()
