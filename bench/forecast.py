"""Backtest of the breach warning (issue #18 §5): simulated days with surges of known
shapes through the counting pipeline; every real step-1 firing and every warning judged.

    .venv/bin/python bench/forecast.py [--days 30] [--seed 1] [--jobs 2] [--margin 1.0] [--confirm 2]

Each day is a simulated centre (producers/simulator.py) with 2-4 surges at random
times between 08:00 and 20:00, each of one shape:

- ``sudden``: arrivals jump to 2.5-5x for 20-50 minutes;
- ``slow``: arrivals build linearly to 2.5-4.5x over 30-60 minutes, hold 20, fall;
- ``leave``: 60-90% of a queue's agents go not-ready for 30-60 minutes;

every fourth day is a 16-queue centre. Callers wait 2.5-5 minutes on average
before giving up (2.5 times the simulator's default: a public hotline's callers
hold on). Days run in order through one pipeline per centre, so the forecast has
the earlier days' same half hours to blend in.

A step-1 firing (the ladder's "up" to step 1, at the exact event time) is
*warned* when a warning for its group went out in the 30 minutes before it and
was still out when it fired; its lead is the minutes between. A warning is
*right* when step 1 fired for its group within the horizon (10 minutes) of it;
"within 20" is printed beside. A firing belongs to the surge on its queue
that was under way or ended less than 30 minutes before, else to "other" (a
busy hour's own randomness). Prints recall, precision, median and 10th-percentile
lead per shape and in all. The issue's goals: recall >= 80%, precision >= 70%,
median lead >= 5 minutes.
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import statistics
import time
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from common import print_machine  # bench/common.py, beside this script

from base.assemble import pipeline_rules
from base.config import load_settings
from core.pipeline import Pipeline
from core.records import Event, Record
from producers.simulator import SimQueue, Simulator, default_queues

ZONE = ZoneInfo("Asia/Shanghai")
DAY_MS = 86_400_000
MIN_MS = 60_000
HORIZON_MS = 10 * MIN_MS
LOOKBACK_MS = 30 * MIN_MS


@dataclass(frozen=True)
class Surge:
    shape: str
    queue: str
    start_ms: int
    end_ms: int          # arrivals back to normal / agents back
    factor: float = 1.0  # peak arrivals multiplier
    ramp_ms: int = 0     # slow: the build-up (and the fall) takes this long
    agents: int = 0      # leave: how many go not-ready


class SurgeSimulator(Simulator):
    """The simulator with the day's surges: arrival multipliers and agents stepping away."""

    def __init__(self, surges: list[Surge], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._agent_numbers = itertools.count(kwargs["seed"] % 1000 * 1000 + 1)
        self.surges = surges
        self.peak = {q: max([1.0, *(s.factor for s in surges if s.queue == q)])
                     for q in self.queues}
        for s in surges:
            if s.shape == "leave":
                self._schedule(s.start_ms, "leave", s)

    def events(self) -> Iterator[Event]:
        # A day ends with everyone signed out, as a centre's does: the next day's agents
        # (new ids) are the only ones on the floor then.
        yield from super().events()
        for agents in self._agents.values():
            for agent in agents:
                if agent.state != "logged_out":
                    self._emit("agent.logout", self.end_ms, agent.queue, agent_id=agent.agent_id)
        yield from self._out
        self._out.clear()

    def factor(self, queue: str, at_ms: int) -> float:
        f = 1.0
        for s in self.surges:
            if s.queue != queue or not s.start_ms <= at_ms < s.end_ms or s.shape == "leave":
                continue
            if s.shape == "sudden":
                f = max(f, s.factor)
            else:  # slow: up over ramp, hold, down over ramp
                up = (at_ms - s.start_ms) / s.ramp_ms
                down = (s.end_ms - at_ms) / s.ramp_ms
                f = max(f, 1 + (s.factor - 1) * min(1.0, up, down))
        return f

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
            if agent.state == "available":
                self._ready(now, agent)

    def _ready(self, now: int, agent: Any) -> None:
        until = getattr(agent, "pause_until", 0)
        if until > now:
            agent.state = "not_ready"
            self._emit("agent.state", now, agent.queue, agent_id=agent.agent_id,
                       state="not_ready", reason="meeting")
            self._schedule(until, "ready", agent)
            return
        super()._ready(now, agent)


def centre(big: bool) -> list[SimQueue]:
    # Callers of a public hotline hold on for minutes, not the simulator's 90 s default.
    base = [replace(q, patience_mean_s=q.patience_mean_s * 2.5) for q in default_queues()]
    if not big:
        return base
    return [replace(base[i % 4], name=f"Q{i:02d}") for i in range(16)]


def day_surges(rng: random.Random, day_ms: int, queues: list[SimQueue]) -> list[Surge]:
    out = []
    for _ in range(rng.randint(2, 4)):
        queue = rng.choice(queues)
        start = day_ms + rng.randint(8 * 60, 19 * 60) * MIN_MS
        shape = rng.choice(("sudden", "slow", "leave"))
        if shape == "sudden":
            out.append(Surge(shape, queue.name, start, start + rng.randint(20, 50) * MIN_MS,
                             factor=rng.uniform(2.5, 5.0)))
        elif shape == "slow":
            ramp = rng.randint(30, 60) * MIN_MS
            out.append(Surge(shape, queue.name, start, start + 2 * ramp + 20 * MIN_MS,
                             factor=rng.uniform(2.5, 4.5), ramp_ms=ramp))
        else:
            out.append(Surge(shape, queue.name, start, start + rng.randint(30, 60) * MIN_MS,
                             agents=max(1, round(queue.agents * rng.uniform(0.6, 0.9)))))
    return out


def run_centre(args: tuple[int, list[int], bool, float, int]) -> dict[str, Any]:
    """Every day of one centre, in order, through one pipeline: firings, warnings, surges."""
    seed, days, big, margin, confirm = args
    settings = load_settings(None)
    settings = settings.model_copy(update={"escalation": settings.escalation.model_copy(
        update={"warn_margin": margin, "warn_confirm_min": confirm})})
    if big:
        queues = [{"name": q.name, "label_zh": q.name, "label_en": q.name} for q in centre(True)]
        settings = settings.model_copy(update={"queues": [
            type(settings.queues[0])(**q) for q in queues]})
    pipeline = Pipeline(pipeline_rules(settings, offline=True))
    rng = random.Random(seed)
    start0 = int(datetime(2026, 1, 5, tzinfo=ZONE).timestamp() * 1000)
    alerts: list[dict[str, Any]] = []
    surges: list[Surge] = []
    events = 0
    for day in days:
        day_ms = start0 + day * DAY_MS
        todays = day_surges(rng, day_ms, centre(big))
        surges += todays
        sim = SurgeSimulator(todays, seed=seed * 1000 + day, start_ms=day_ms, duration_ms=DAY_MS,
                             zone=ZONE, queues=centre(big))
        batch: list[Record] = []
        for event in sim.events():
            batch.append(Record(json.dumps(event).encode(), -1, -1))
            if len(batch) >= 2000:
                alerts += pipeline.feed(batch).alerts
                events += len(batch)
                batch = []
        alerts += pipeline.feed(batch).alerts + pipeline.finish()
        events += len(batch)
    return {"alerts": alerts, "surges": surges, "events": events}


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


def line(name: str, r: dict[str, list]) -> str:
    fires = len(r["leads"]) + len(r["missed"])
    warns = len(r["right"]) + len(r["wrong"])
    leads = sorted(r["leads"])
    recall = f"{len(leads) / fires:6.0%}" if fires else "     -"
    precision = f"{len(r['right']) / warns:6.0%}" if warns else "     -"
    p20 = f"{len(r['right20']) / warns:6.0%}" if warns else "     -"
    median = f"{statistics.median(leads):5.1f}" if leads else "    -"
    p10 = f"{leads[max(0, int(len(leads) * 0.1) - 0)]:5.1f}" if leads else "    -"
    if len(leads) >= 10:
        p10 = f"{statistics.quantiles(leads, n=10)[0]:5.1f}"
    return (f"{name:8} {fires:6} {len(leads):6} {recall} {warns:6} {precision} {p20}"
            f"   {median}  {p10}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--margin", type=float, default=1.0, help="escalation.warn_margin")
    parser.add_argument("--confirm", type=int, default=2, help="escalation.warn_confirm_min")
    args = parser.parse_args()
    print_machine()
    started = time.monotonic()
    small = [d for d in range(args.days) if d % 4 != 3]
    big = [d for d in range(args.days) if d % 4 == 3]
    work = [(args.seed, small, False, args.margin, args.confirm),
            (args.seed + 1, big, True, args.margin, args.confirm)]
    with ProcessPoolExecutor(args.jobs) as pool:
        results = list(pool.map(run_centre, work))
    alerts = [a for r in results for a in r["alerts"]]
    surges = [s for r in results for s in r["surges"]]
    events = sum(r["events"] for r in results)
    print(f"warn_margin {args.margin}, confirm {args.confirm}, horizon 10 min; "
          f"{args.days} days ({len(small)} of 4 queues, {len(big)} of 16), "
          f"{len(surges)} surges, {events} events, "
          f"{time.monotonic() - started:.0f} s")
    by_shape = judge(alerts, surges)
    print(f"{'shape':8} {'fires':>6} {'warned':>6} {'recall':>6} {'warns':>6} {'prec.':>6} "
          f"{'in 20':>6}   {'lead median':>5} {'p10 (min)':>5}")
    total: dict[str, list] = {"leads": [], "missed": [], "right": [], "wrong": [], "right20": []}
    for shape in ("sudden", "slow", "leave", "other"):
        r = by_shape.get(shape)
        if r is None:
            continue
        print(line(shape, r))
        for k in total:
            total[k] += r[k]
    print(line("all", total))


if __name__ == "__main__":
    main()
