"""A warning before the breach: when will step 1's condition hold? (docs/escalation.md#warning)

Step 1 of the manual's ladder (lines 139-141) signs in when more than 5 callers
have been waiting for 5 minutes. The ladder only reacts; this module looks
ahead, per ladder group, once a minute of the log's own time:

1. **Arrivals** for the next 30 minutes, per minute: the recent minutes smoothed
   with Holt's linear method (level and a damped trend, so a slow build is seen
   as one), blended with the same half hours on earlier days (the group's own
   arrivals, kept here for ``history_days``), scaled by how today's last half
   hour compares with those days. The blend leans on the recent minutes near
   now and on the earlier days further out.
2. **Service**: what the queue was seen to get. While callers wait, every agent
   who can take one of them does, so the answers in the minutes of the wait under
   way in which callers waited throughout are the queue's real capacity, whatever
   the agent states promise (agents signed in who serve another skill, work another
   line or let calls ring). The staffed agents (available, talking, wrapping up)
   over the AHT of the last 30 minutes' calls stand in where nobody waits, and
   wherever the answers do not contradict them. Nobody staffed and nothing answered
   lately is no capacity at all, with or without an AHT. Callers give up at the rate
   observed per caller-minute of waiting in the last 15.
3. **Queue**: a fluid model, dq/dt = arrivals - capacity - abandon rate * q,
   from the callers waiting now, never below the steady-state queue Erlang C
   gives for the moment's arrivals and agents (random arrivals keep a queue
   even below capacity).
4. **Breach**: with more than the level waiting now, the chance that they stay
   above it until step 1 is due (``holds``: the queue as a Brownian motion with the
   spread of its arrivals and departures, and no drift: early in a run the
   forecast's drift ranks runs worse than their height does); otherwise the first moment
   the projected queue has been above step 1's level for step 1's period, where
   "above" asks the fluid queue to clear the level by ``margin`` standard deviations
   of its random swing. The same with arrivals a spread higher and lower gives the
   earliest and latest estimate.

No I/O and no clock of its own: the same log gives the same estimates and the
same warnings, live, in replay and in ``callboard alerts`` (core/escalation.py
feeds it, in log order, beside the ladder).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from core.erlang import erlang_c
from core.timebuckets import HALF_HOUR_MS, MINUTE_MS

__all__ = ["Estimate", "ForecastRules", "Forecaster", "Projection", "arrival_rates",
           "project", "steady_queue"]

_DAY_MS = 86_400_000
_PRODUCTIVE = ("available", "on_call", "acw")  # states in which an agent takes calls
_STEP_S = 15.0          # the fluid model's time step
_RECENT_MIN = 30        # closed minutes kept (AHT over 30, abandons over 15)
# Hang-ups this soon are misdials (manual line 655: 1-5 s), not callers running out of
# patience: they leave whatever the queue, so they do not count in the abandon rate.
_MISDIAL_MS = 10_000
_ALPHA, _BETA, _PHI = 0.25, 0.08, 0.9  # Holt: level, trend, trend damping per minute
_LATELY_MIN = 5  # answers this recent show somebody can take calls, whatever the states
_FULL_MS = 55_000  # a minute with callers waiting this long of it measures the service
# Answers short of the states' promise by this many Poisson standard deviations
# contradict it (bench/forecast.py: at 1 a busy afternoon gave 0.6 false warnings per
# queue and 4 hours, at 2 0.08).
_CONTRA_SD = 2.0
# A run above step 1's level under way: the chance it holds to step 1 that makes the
# central estimate, and the earliest and latest (bench/forecast.py chose 0.5 on the
# real month: recall 79% against 64% at 0.65, the same precision; the latest, which
# warns at once when it is within the horizon, 0.6 on the calibrated room: 64% right,
# lead 3.06 min, against 66% and 2.64 at 0.7).
_HOLD_CENTRAL, _HOLD_EARLY, _HOLD_LATE = 0.5, 0.3, 0.6
# Only the shape of Erlang C's steady queue needs a handling time; before any call has
# ended it takes the low end of the manual's AHT target (B4, line 572: 3-10 minutes).
_DEFAULT_AHT_MIN = 3.0
# A closed minute: offered, abandoned, ended, handle ms, waiting area (caller-ms),
# answered, waiting time (ms with anyone waiting).
_FIELDS = 7


@dataclass(frozen=True)
class ForecastRules:
    """How far ahead, and when a warning is raised and cleared (settings: escalation.warn_*)."""

    enabled: bool = True
    horizon_s: int = 600        # warn when step 1 is estimated within this
    clear_margin_s: int = 300   # the risk has passed once the estimate is beyond horizon + this ...
    clear_after_s: int = 300    # ... at every minute for this long (no warning flickers)
    cooldown_s: int = 900       # after a warning ends, no new one for the group within this
    lookahead_s: int = 1800     # how far the projection runs
    history_days: int = 7       # earlier days whose same half hour is blended in
    spread: float = 0.1         # model error added to the arrivals' Poisson spread
    margin: float = 1.0         # standard deviations the queue must clear the level by
    confirm: int = 2            # minutes in a row the estimate must be within the horizon


@dataclass(frozen=True)
class Projection:
    """One run of the fluid model: when the condition holds (None: not within the lookahead)."""

    breach_ms: int | None
    peak: float


def steady_queue(arrivals_per_min: float, agents: int, aht_min: float,
                 abandon_per_min: float) -> float:
    """Mean callers waiting in steady state (Erlang C: P(wait) * rho / (1 - rho)); with
    callers giving up, never more than arrivals / abandon rate (each leaves at that rate)."""
    if arrivals_per_min <= 0 or aht_min <= 0:
        return 0.0
    traffic = arrivals_per_min * aht_min
    if agents <= traffic:
        mean = math.inf
    else:
        rho = traffic / agents
        mean = erlang_c(agents, traffic) * rho / (1 - rho)
    if abandon_per_min > 0:
        mean = min(mean, arrivals_per_min / abandon_per_min)
    return mean


def _pull(rate: float, agents: float, aht_min: float, abandon_per_min: float
          ) -> tuple[float, float]:
    """(steady-state queue, rate per minute at which the queue relaxes to it); (0, 0) at
    or above capacity, where the fluid model alone moves the queue. Erlang C counts
    whole agents: a fraction of one adds nothing to its steady queue."""
    whole = math.floor(agents + 1e-9)
    if rate <= 0 or aht_min <= 0 or whole <= 0 or rate * aht_min >= whole:
        return 0.0, 0.0
    rho = rate * aht_min / whole
    return (steady_queue(rate, whole, aht_min, abandon_per_min),
            whole * (1 - math.sqrt(rho)) ** 2 / aht_min)


def project(now_ms: int, waiting: int, above_since_ms: int | None, rates: list[float],
            agents: float, aht_min: float, abandon_per_min: float, above: int, for_s: int,
            margin: float = 0.0) -> Projection:
    """The fluid model over ``rates`` (arrivals per minute, one per minute ahead).

    ``agents``: the servers the queue really has, capacity times AHT (a fraction where
    the answers say it gets part of its agents' time).
    ``above_since_ms``: when waiting went above ``above`` (None: it is not above now).
    The condition is "more than ``above`` waiting for ``for_s``"; the fluid queue counts
    as above once it is at least ``above`` + 0.5 (the nearest whole caller is above)."""
    level = above + 0.5
    capacity = agents / aht_min if aht_min > 0 else 0.0
    q = float(waiting)
    since = above_since_ms if waiting > above else None
    peak = q
    steps_per_min = int(60 / _STEP_S)
    dt = _STEP_S / 60
    # Below capacity the queue drifts to its steady state (Erlang C) no faster than a
    # queue relaxes there, which slows to a crawl as the load nears capacity
    # (relaxation time ~ AHT / (N (1 - sqrt(rho))^2)); at or above capacity the fluid's
    # own growth is the queue.
    pulls = [_pull(r, agents, aht_min, abandon_per_min) for r in rates]
    # Calls come and go at random: a queue whose mean sits just above the level dips under
    # it within minutes, and each dip starts the period again. The mean must clear the
    # level by ``margin`` standard deviations of its fluctuation (an Ornstein-Uhlenbeck
    # queue: variance (arrivals + services) / (2 * restoring rate)). With nobody to answer,
    # a caller above the level leaves only by hanging up: no swing to allow for.
    margins = [min(10.0, margin * math.sqrt((r + capacity) / (2 * max(abandon_per_min, 0.1))))
               if capacity > 0 else 0.0 for r in rates]
    if since is None and all(r < capacity and f < level for r, (f, _) in zip(rates, pulls,
                                                                          strict=True)):
        return Projection(None, peak)  # never above: the queue only drifts to a low floor
    # The period runs while the projected queue stays clear of the level by the margin;
    # a queue above now counts from when it really went above.
    period_ms = for_s * 1000
    for i in range(len(rates) * steps_per_min):
        t = now_ms + int(i * _STEP_S * 1000)
        if since is not None and t - since >= period_ms:
            return Projection(since + period_ms, peak)
        rate = rates[i // steps_per_min]
        floor, pull = pulls[i // steps_per_min]
        fluid = max(0.0, q + (rate - capacity - abandon_per_min * q) * dt)
        q = q + (floor - q) * min(1.0, pull * dt) if q < floor else max(fluid, floor)
        peak = max(peak, q)
        if q >= level + margins[i // steps_per_min]:
            since = since if since is not None else now_ms + int((i + 1) * _STEP_S * 1000)
        else:
            since = None
    end = now_ms + len(rates) * MINUTE_MS
    if since is not None and end - since >= period_ms:
        return Projection(since + period_ms, peak)
    return Projection(None, peak)


def holds(distance: float, arrivals: float, capacity: float, abandons: float,
          minutes: float) -> float:
    """The chance that a queue ``distance`` callers above a level stays above it for
    ``minutes``: the queue as a Brownian motion with the drift arrivals - capacity -
    abandons and the variance rate arrivals + capacity + abandons (per minute), whose
    minimum over the time stays above zero:

        P = Phi((x + d t) / sqrt(v t)) - exp(-2 d x / v) Phi((-x + d t) / sqrt(v t)).
    """
    if minutes <= 0:
        return 1.0
    drift = arrivals - capacity - abandons
    var = max(1e-9, arrivals + capacity + abandons)
    spread = math.sqrt(var * minutes)

    def phi(z: float) -> float:
        return 0.5 * (1 + math.erf(z / math.sqrt(2)))

    tail = -2 * drift * distance / var
    second = 0.0 if tail > 700 else math.exp(tail) * phi((-distance + drift * minutes) / spread)
    return max(0.0, min(1.0, phi((distance + drift * minutes) / spread) - second))


def arrival_rates(level: float, trend: float, minutes: int, history: list[float | None],
                  day_factor: float | None) -> list[float]:
    """Arrivals per minute for each of ``minutes`` ahead: Holt's damped trend from
    ``level``/``trend``, blended with ``history`` (the earlier days' rate for that
    minute, None where there is none) times ``day_factor``."""
    out = []
    damped = 0.0
    for k in range(1, minutes + 1):
        damped += _PHI ** k
        recent = max(0.0, level + trend * damped)
        past = history[k - 1] if k - 1 < len(history) else None
        if past is None or day_factor is None:
            out.append(recent)
            continue
        weight = max(0.3, 0.8 - k / 60)  # near now the recent minutes know best
        out.append(weight * recent + (1 - weight) * past * day_factor)
    return out


@dataclass(frozen=True)
class Estimate:
    """One evaluation, for the group's snapshot and its warning."""

    at_ms: int
    breach_ms: int | None     # central estimate
    early_ms: int | None      # arrivals a spread higher
    late_ms: int | None       # arrivals a spread lower
    arrivals_per_min: float   # the next 10 minutes' mean
    capacity_per_min: float
    agents: int               # staffed (available, talking, wrapping up)
    aht_s: float | None
    answered_per_min: float | None = None  # in minutes callers waited throughout (last 15)
    above_now: bool = False   # more than step 1's level are waiting at ``at_ms``

    def doc(self) -> dict[str, Any]:
        def inn(ms: int | None) -> int | None:
            return None if ms is None else max(0, round((ms - self.at_ms) / 1000))

        return {"at_ms": self.at_ms, "breach_ms": self.breach_ms,
                "breach_in_s": inn(self.breach_ms), "early_in_s": inn(self.early_ms),
                "late_in_s": inn(self.late_ms),
                "arrivals_per_min": round(self.arrivals_per_min, 2),
                "capacity_per_min": round(self.capacity_per_min, 2), "agents": self.agents,
                "aht_s": None if self.aht_s is None else round(self.aht_s, 1),
                "answered_per_min": (None if self.answered_per_min is None
                                     else round(self.answered_per_min, 2))}


class Forecaster:
    """One ladder group's inputs, folded in log order, and its warning state.

    Fed with ``signal`` (arrivals, abandons, handled calls, callers waiting, agents)
    at event time; ``close_minutes`` closes every minute up to a boundary. All of it
    is in ``state()``, so a restored worker estimates exactly as one that never stopped.
    """

    def __init__(self, rules: ForecastRules) -> None:
        self.rules = rules
        self.minute_ms = 0                 # start of the open minute (0: nothing yet)
        self.cur: list[float] = [0] * _FIELDS  # the open minute, as _FIELDS says
        self.recent: list[list[float]] = []  # closed minutes, oldest first, as ``cur``
        self.level: float | None = None    # Holt level and trend (arrivals per minute)
        self.trend = 0.0
        self.history: dict[str, int] = {}  # half hour start -> arrivals
        self.waiting: dict[str, int] = {}  # per queue of the group
        self.agents: dict[str, dict[str, str]] = {}  # queue -> agent -> state
        self.waiting_ms = 0                # since when the group's waiting is as it is
        self.signal_ms = 0                 # the last input's time
        self.aht_ms: float | None = None
        self.warning_ms: int | None = None  # a warning is out since
        self.ended_ms: int | None = None    # the last warning ended at
        self.passed_ms: int | None = None   # the risk of the warning out has passed since
        self.pending = 0                    # minutes in a row within the horizon, no warning out
        self._rates: dict[int, float | None] = {}  # half hour -> _history_rate, this minute
        self.last: dict[str, Any] | None = None

    # ---------------------------------------------------------------- inputs
    def total_waiting(self) -> int:
        return sum(self.waiting.values())

    def staffed(self) -> int:
        return sum(1 for agents in self.agents.values() for s in agents.values()
                   if s in _PRODUCTIVE)

    def signal(self, queue: str, at_ms: int, kind: str, value: Any) -> None:
        """One input at ``at_ms`` (already closed up to its minute by the caller)."""
        if not self.minute_ms:
            self.minute_ms = at_ms - at_ms % MINUTE_MS
            self.waiting_ms = at_ms
        at_ms = max(at_ms, self.waiting_ms)  # a late event counts as now
        self.signal_ms = at_ms
        if kind == "waiting":
            self._wait_until(at_ms)
            self.waiting[queue] = int(value)
        elif kind == "answered":
            self.cur[5] += 1
        elif kind == "offered":
            self.cur[0] += 1
        elif kind == "abandoned" and int(value) >= _MISDIAL_MS:
            self.cur[1] += 1
        elif kind == "ended":
            self.cur[2] += 1
            self.cur[3] += int(value)
        elif kind == "acw":
            self.cur[3] += int(value)
        elif kind == "agent":
            agent_id, state = value
            if state == "logged_out":
                self.agents.get(queue, {}).pop(agent_id, None)
            else:
                self.agents.setdefault(queue, {})[agent_id] = state

    def close_minutes(self, upto_ms: int) -> list[int]:
        """Close every minute that ends at or before ``upto_ms``; returns their ends (the
        boundaries at which to evaluate).

        Minute by minute, whether the caller asks every second (live) or once after a
        silence (a file): both must come to the same state. Only a silence so long that
        nothing is left to forecast from (the smoothed arrivals have decayed to exactly
        zero and every earlier day the blend reads is inside it) is crossed in one go,
        with the empty half hours it spans recorded as the walk would have."""
        ends: list[int] = []
        if not self.minute_ms:
            return ends
        dead_after = self.signal_ms + (self.rules.history_days + 1) * _DAY_MS
        while self.minute_ms + MINUTE_MS <= upto_ms:
            last = upto_ms - upto_ms % MINUTE_MS - MINUTE_MS  # the last minute to close
            if (self.minute_ms > dead_after and last > self.minute_ms
                    and self.level == 0.0 and self.trend == 0.0):
                keep_from = max(self.minute_ms, last - (self.rules.history_days + 1) * _DAY_MS)
                for half in range(keep_from - keep_from % HALF_HOUR_MS, last + 1, HALF_HOUR_MS):
                    self.history.setdefault(str(half), 0)
                self.minute_ms = last
                self.waiting_ms = max(self.waiting_ms, last)
            ends.append(self._close_one())
        return ends

    def _wait_until(self, at_ms: int) -> None:
        """Credit the time since the last change of waiting to the open minute."""
        span = max(0, at_ms - max(self.waiting_ms, self.minute_ms))
        waiting = self.total_waiting()
        self.cur[4] += waiting * span
        if waiting:
            self.cur[6] += span
        self.waiting_ms = max(self.waiting_ms, at_ms)

    def _close_one(self) -> int:
        end = self.minute_ms + MINUTE_MS
        self._wait_until(end)
        self._fold_minute(self.minute_ms, self.cur)
        self.cur = [0] * _FIELDS
        self.minute_ms = end
        return end

    def _fold_minute(self, start_ms: int, minute: list[float]) -> None:
        offered = minute[0]
        if self.level is None:
            self.level, self.trend = float(offered), 0.0
        else:
            level = _ALPHA * offered + (1 - _ALPHA) * (self.level + _PHI * self.trend)
            self.trend = _BETA * (level - self.level) + (1 - _BETA) * _PHI * self.trend
            self.level = level
            if abs(level) < 1e-9 and abs(self.trend) < 1e-9:
                # Decayed to nothing (floats would creep on in subnormals for ever): zero,
                # so a long silence can be crossed at once (close_minutes).
                self.level = self.trend = 0.0
        half = str(start_ms - start_ms % HALF_HOUR_MS)
        self.history[half] = self.history.get(half, 0) + int(offered)
        self._rates.clear()
        self.recent.append(list(minute))
        del self.recent[:-_RECENT_MIN]
        if minute[2]:
            ended = sum(m[2] for m in self.recent)
            self.aht_ms = sum(m[3] for m in self.recent) / ended
        oldest = start_ms - (self.rules.history_days + 1) * _DAY_MS
        if len(self.history) > (self.rules.history_days + 2) * 48:
            self.history = {k: v for k, v in self.history.items() if int(k) >= oldest}

    # ------------------------------------------------------------ estimating
    def _history_rate(self, at_ms: int) -> float | None:
        """Arrivals per minute in the half hour holding ``at_ms`` on the earlier days seen
        (remembered until the next minute is folded: one estimate asks for each of its
        half hours thirty times)."""
        half = at_ms - at_ms % HALF_HOUR_MS
        if half in self._rates:
            return self._rates[half]
        seen = [self.history[k] for d in range(1, self.rules.history_days + 1)
                if (k := str(half - d * _DAY_MS)) in self.history]
        rate = self._rates[half] = sum(seen) / len(seen) / 30 if seen else None
        return rate

    def _day_factor(self, now_ms: int) -> float | None:
        """Today's last 30 minutes against the earlier days' same 30 minutes."""
        if len(self.recent) < _RECENT_MIN:
            return None
        past = [self._history_rate(now_ms - (m + 1) * MINUTE_MS) for m in range(_RECENT_MIN)]
        if any(p is None for p in past):
            return None
        expected = sum(p for p in past if p is not None)
        if expected < 3:  # too few calls on the earlier days to scale by
            return None
        return min(3.0, max(0.33, sum(m[0] for m in self.recent) / expected))

    def capacity(self, judged_min: int = 5) -> tuple[float | None, float | None]:
        """(calls per minute the group can take, answers per minute seen while callers
        waited); None where there is nothing to go on.

        The minutes of the wait under way (up to 15, back to the last moment nobody
        waited) measure the service; a wait that has ended says nothing of the next,
        whose agents may be back. Only minutes in which somebody waited throughout count: a caller
        who waits a few seconds while an idle agent's phone rings is answered at once, and
        counting those seconds would make every ring look like great capacity. The agent
        states' promise stands until those minutes contradict it: fewer answers than it
        gives by more than twice their Poisson spread. Minutes picked because the queue
        stayed up are the ones with few answers, so a shortfall within the spread is the
        queue's luck, not its agents. Nor do fewer than ``judged_min`` such minutes judge
        them (step 1's period, when the estimate asks): in a real room answers stall for a
        minute or three while every agent is on a long call, and come back (bench/forecast.py:
        on the real month, answers judged after 1 minute gave 39 warnings of which 11 were
        right, after 5 minutes 22 of which 11; over all sets 51% right against 63%, the
        same step 1s warned)."""
        full: list[list[float]] = []
        if self.total_waiting():  # the minutes of this wait, back to when nobody waited
            for minute in reversed(self.recent[-15:]):
                if minute[6] < _FULL_MS:
                    break
                full.append(minute)
        taken = sum(m[5] for m in full)
        seen = taken / len(full) if full else None
        staffed = self.staffed()
        if not staffed and not any(m[5] for m in self.recent[-_LATELY_MIN:]):
            return 0.0, seen  # nobody can take a call
        promised = staffed / (self.aht_ms / MINUTE_MS) if staffed and self.aht_ms else None
        if seen is None:
            return promised, seen
        if promised is None:
            return seen, seen
        if len(full) < judged_min:
            return promised, seen
        expected = promised * len(full)
        return (seen if taken < expected - _CONTRA_SD * math.sqrt(expected) else promised), seen

    def estimate(self, now_ms: int, above_since_ms: int | None, above: int, for_s: int
                 ) -> Estimate | None:
        """Step 1's moment as seen at ``now_ms`` (a minute boundary): None while there is
        nothing to go on yet (no arrivals seen, or no capacity to reckon with)."""
        capacity, seen = self.capacity(max(1, for_s // 60))
        if self.level is None or capacity is None:
            return None
        minutes = self.rules.lookahead_s // 60
        history = [self._history_rate(now_ms + k * MINUTE_MS) for k in range(minutes)]
        rates = arrival_rates(self.level, self.trend, minutes, history, self._day_factor(now_ms))
        recent = self.recent[-15:]
        area_min = sum(m[4] for m in recent) / MINUTE_MS
        abandon = sum(m[1] for m in recent) / area_min if area_min >= 1 else 0.0
        aht_s = None if self.aht_ms is None else self.aht_ms / 1000
        aht_min = self.aht_ms / MINUTE_MS if self.aht_ms else _DEFAULT_AHT_MIN
        servers = capacity * aht_min
        staffed = self.staffed()
        waiting = self.total_waiting()
        soon = rates[:10] or [0.0]
        mean = sum(soon) / len(soon)
        # Poisson spread of 10 minutes' arrivals, plus the model's own error.
        spread = min(0.6, 1 / math.sqrt(max(1.0, mean * 10)) + self.rules.spread)
        top = max(rates, default=0.0) * (1 + spread)
        none = Estimate(now_ms, None, None, None, mean, capacity, staffed, aht_s, seen)
        if not capacity and waiting + sum(rates) * (1 + spread) < above + 0.5:
            return none  # nobody answers, yet even every arrival would not pass the level
        if (waiting <= above and top < capacity and top * aht_min < math.floor(servers + 1e-9)
                and steady_queue(top, math.floor(servers + 1e-9), aht_min, abandon) < above + 0.5):
            # Below capacity with a low steady queue at the highest arrivals: no run can
            # pass the level (what ``project`` finds too, without its steps; the steady
            # queue only grows with the arrivals).
            return none

        if waiting > above and above_since_ms is not None:
            # A run under way: will it hold until step 1's period is up?
            due = above_since_ms + for_s * 1000
            left_min = max(0.0, (due - now_ms) / MINUTE_MS)
            ahead = rates[:max(1, math.ceil(left_min))]
            # From the run's height and its swing, without the forecast's drift: early
            # in a run that drift (arrivals to come less a capacity the states may
            # overstate) told the runs that held from those that ended worse than the
            # height alone (bench/README.md: 0.5-2.5 minutes into runs, the chance with
            # the drift 0.66 of pairs ranked right, without it 0.73, in the calibrated
            # room; 0.68 and 0.72 in the real month). holds() with arrivals equal to
            # capacity: no drift, the same variance.
            swing = (sum(ahead) / len(ahead) + capacity + abandon * waiting) / 2
            chance = holds(waiting - (above + 0.5), swing, swing, 0.0, left_min)
            if chance >= _HOLD_CENTRAL:
                return Estimate(now_ms, due, due if chance >= _HOLD_EARLY else None,
                                due if chance >= _HOLD_LATE else None, mean, capacity,
                                staffed, aht_s, seen, above_now=True)

        def run(scale: float) -> int | None:
            return project(now_ms, waiting, above_since_ms, [r * scale for r in rates], servers,
                           aht_min, abandon, above, for_s, self.rules.margin).breach_ms

        central = run(1.0)
        if central is None:  # the spread is said of an estimate, not of none
            return none
        return Estimate(now_ms, central, run(1 + spread), run(1 - spread), mean, capacity,
                        staffed, aht_s, seen, above_now=waiting > above)

    def judge(self, estimate: Estimate | None, now_ms: int, surging: bool) -> str | None:
        """The warning's change at ``now_ms``: "warn", "warn_end", or None.

        Step 1 in force ends a warning without a message (its own alert says more)."""
        self.last = None if estimate is None or surging else estimate.doc()
        breach = None if estimate is None else estimate.breach_ms
        if self.warning_ms is not None:
            if breach is not None and breach - now_ms <= (self.rules.horizon_s
                                                           + self.rules.clear_margin_s) * 1000:
                self.passed_ms = None
            elif self.passed_ms is None:
                self.passed_ms = now_ms
            if surging or (self.passed_ms is not None
                           and now_ms - self.passed_ms >= self.rules.clear_after_s * 1000):
                self.warning_ms = self.passed_ms = None
                self.ended_ms = now_ms
                return None if surging else "warn_end"
            return None
        if surging or breach is None or breach - now_ms > self.rules.horizon_s * 1000:
            self.pending = 0
            return None
        self.pending += 1
        # The estimate must hold at this many minutes in a row, unless the callers are
        # above the level already and even arrivals a spread lower breach in time.
        sure = (estimate is not None and estimate.above_now and estimate.late_ms is not None
                and estimate.late_ms - now_ms <= self.rules.horizon_s * 1000)
        if self.pending < self.rules.confirm and not sure:
            return None
        if self.ended_ms is not None and now_ms - self.ended_ms < self.rules.cooldown_s * 1000:
            return None
        self.warning_ms = now_ms
        self.pending = 0
        return "warn"

    # ----------------------------------------------------------- persistence
    def state(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in _STATE}

    @classmethod
    def restore(cls, rules: ForecastRules, state: dict[str, Any]) -> Forecaster:
        forecaster = cls(rules)
        for key in _STATE:
            if key in state:
                setattr(forecaster, key, state[key])
        # A checkpoint written before the answers were kept has shorter minutes.
        forecaster.cur = _widen(forecaster.cur)
        forecaster.recent = [_widen(m) for m in forecaster.recent]
        return forecaster


def _widen(minute: list[float]) -> list[float]:
    return list(minute) + [0] * (_FIELDS - len(minute))


_STATE = ("minute_ms", "cur", "recent", "level", "trend", "history", "waiting", "agents",
          "waiting_ms", "signal_ms", "aht_ms", "warning_ms", "ended_ms", "passed_ms", "pending", "last")
