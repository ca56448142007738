"""A call room calibrated to a real one, with the skills and surges real rooms have.

The figures come from a real centre's month: the Technion SEE lab's "Anonymous Bank"
(a small Israeli bank, February 1999, the records Brown et al. analyse in "Statistical
Analysis of a Telephone Call Center", JASA 2005), its 20 weekdays, as
``bench/technion.py --figures`` computes them: calls per weekday and how much days
vary (CV 0.112, four times Poisson's 0.026), each hour's share, six call types with
their shares and lognormal talk times (log mean and sd of the calls of 10 s and
more), the share of calls over in under 10 s, and the agents taking calls by hour.
tests/unit/producers/test_room.py checks that the room gives them back.

What the records do not say is the room's own choice, said here: the types make
three skill queues; agents sit in three groups, each signed in to two or three of
them and taking its own first; an agent's state changes are told on the queue of
the call in hand only, so the other queues go on showing them available while they
serve (as ACDs that report per skill do); breaks are told on every queue; callers'
patience is set so that the month's abandonment and answers within 10 s come out.
Same seed, same bytes.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from core import events as ev
from core.records import Event
from producers.simulator import SimQueue, Simulator, _Agent, _Call

__all__ = ["BANK_1999", "ROOMS", "CallType", "Group", "Room", "RoomSimulator", "Surge"]

HOUR_MS = 3_600_000
MIN_MS = 60_000
_BURST_CAP = 2.5
_LOG_10S = math.log(10)


def _untruncated(mean: float, sd: float, cut: float) -> tuple[float, float]:
    """The normal (mu, sigma) whose part above ``cut`` has this mean and sd: the month's
    figures are of the calls of 10 s and more only (fixed point of the truncated
    normal's moments, mean = mu + sigma*l, var = sigma^2 (1 + a*l - l^2))."""
    mu, sigma = mean, sd
    for _ in range(200):
        a = (cut - mu) / sigma
        tail = 0.5 * math.erfc(a / math.sqrt(2))
        lam = math.exp(-a * a / 2) / math.sqrt(2 * math.pi) / tail
        sigma = sd / math.sqrt(1 + a * lam - lam * lam)
        mu = mean - sigma * lam
    return mu, sigma


@dataclass(frozen=True)
class CallType:
    name: str
    queue: str
    share: float          # of the day's calls
    log_talk_mean: float  # of talk seconds, calls of 10 s and more
    log_talk_sd: float


@dataclass(frozen=True)
class Group:
    name: str
    skills: tuple[str, ...]  # queues, its own first
    share: float             # of the agents on the floor


@dataclass(frozen=True)
class Room:
    calls_per_day: float
    daily_cv: float
    hour_share: dict[int, float]
    types: tuple[CallType, ...]
    groups: tuple[Group, ...]
    agents_by_hour: dict[int, float]
    short_talk_share: float   # answered calls over in 1-9 s
    # Half hours vary more than Poisson given the day (the month's dispersion index of
    # half-hour counts, 3.67, with ~46 calls a half hour: (3.67 - 1) * 46 = (0.24 * 46)^2).
    half_hour_cv: float = 0.24
    # Fitted, not measured (the records say neither): agents on the floor per agent
    # taking calls in the month's hour, and callers' patience, a few with little
    # (exponential, quick_mean_s) and the rest with much (patience_mean_s); with them
    # the month's abandonment, its abandoners' wait and its answers within 10 s come
    # out within the test's tolerances (tests/unit/producers/test_room.py).
    staffing: float = 0.66
    patience_mean_s: float = 500.0
    quick_hang_up: float = 0.12
    quick_mean_s: float = 8.0
    break_chance: float = 0.04   # a break after a call
    scale: float = 1.0

    @property
    def queues(self) -> list[str]:
        return list(dict.fromkeys(t.queue for t in self.types))

    def sized(self, scale: float) -> Room:
        """The same room with ``scale`` times its calls and agents."""
        return Room(**{**self.__dict__, "scale": scale})


# bench/technion.py --figures data_anonymous_bank_february.txt (weekdays; hours of the
# bank's clock: open 07:00-24:00, the few calls at 00:00 and 06:00 left out).
BANK_1999 = Room(
    calls_per_day=1433.7,
    daily_cv=0.112,
    hour_share={7: 0.0274, 8: 0.065, 9: 0.0741, 10: 0.0846, 11: 0.0759, 12: 0.0636,
                13: 0.0708, 14: 0.0791, 15: 0.0772, 16: 0.0796, 17: 0.0588, 18: 0.0533,
                19: 0.045, 20: 0.04, 21: 0.0418, 22: 0.0354, 23: 0.0272},
    types=(CallType("PS", "BANK", 0.6401, 4.864, 0.883),    # regular banking
           CallType("PE", "BANK", 0.0038, 5.182, 1.002),    # stock exchange
           CallType("NW", "NEW", 0.2227, 4.277, 0.928),     # prospects
           CallType("NE", "NEW", 0.0908, 5.262, 0.974),     # stock exchange prospects
           CallType("TT", "TECH", 0.0341, 4.319, 1.233),    # left a message, called back
           CallType("IN", "TECH", 0.0085, 5.157, 1.064)),   # internet support
    groups=(Group("bank", ("BANK", "NEW"), 0.6), Group("sales", ("NEW", "BANK"), 0.3),
            Group("tech", ("TECH", "BANK", "NEW"), 0.1)),
    agents_by_hour={7: 4.0, 8: 7.5, 9: 8.2, 10: 8.7, 11: 8.7, 12: 8.7, 13: 9.5, 14: 9.4,
                    15: 9.8, 16: 8.2, 17: 6.7, 18: 6.8, 19: 6.5, 20: 6.4, 21: 5.9,
                    22: 4.5, 23: 3.8},
    short_talk_share=0.0676,
)


# By the name the setting simulate_room gives (base/config.py checks their queues).
ROOMS = {"bank-1999": BANK_1999}


@dataclass(frozen=True)
class Surge:
    """A stretch of one queue's day out of the ordinary: arrivals ``sudden`` (x factor at
    once), ``slow`` (up to x factor over ramp, held, down again) or ``burst`` (a short
    sudden), or ``agents`` of its own agents away: ``leave`` as the states say (not
    ready), ``hidden`` unsaid (serving another line, still shown available)."""
    shape: str
    queue: str
    start_ms: int
    end_ms: int
    factor: float = 1.0
    ramp_ms: int = 0
    agents: int = 0

    def arrivals(self, at_ms: int) -> float:
        if not self.start_ms <= at_ms < self.end_ms or not self.factor > 1:
            return 1.0
        if self.shape != "slow":
            return self.factor
        up = (at_ms - self.start_ms) / self.ramp_ms
        down = (self.end_ms - at_ms) / self.ramp_ms
        return 1 + (self.factor - 1) * min(1.0, up, down)


@dataclass
class _RoomAgent(_Agent):
    skills: tuple[str, ...] = ()
    group: str = ""
    away_until: int = 0
    hidden: bool = False


@dataclass
class _RoomCall(_Call):
    ctype: CallType | None = None


class RoomSimulator(Simulator):
    """One day (or any stretch) of ``room``, from ``start_ms``: every caller gone and every
    agent signed out at its end, as a room's day ends."""

    def __init__(self, *, room: Room = BANK_1999, surges: list[Surge] | None = None,
                 **kwargs: Any) -> None:
        self.room = room
        queues = [SimQueue(q, agents=0, peak_calls_per_hour=0) for q in room.queues]
        super().__init__(queues=queues, **kwargs)
        self.surges = surges or []
        # The day's level (gamma): with the half hours' own spread and Poisson's, the
        # days vary as the month's did.
        shape = 1 / max(1e-4, room.daily_cv ** 2 - 1 / (room.calls_per_day * room.scale)
                        - room.half_hour_cv ** 2 * sum(s * s for s in room.hour_share.values()) / 2)
        self.level = self.rng.gammavariate(shape, 1 / shape)
        self._floor: dict[str, list[_RoomAgent]] = {g.name: [] for g in room.groups}
        self._types = {q: [t for t in room.types if t.queue == q] for q in room.queues}
        self._talk = {t.name: _untruncated(t.log_talk_mean, t.log_talk_sd, _LOG_10S)
                      for t in room.types}
        self._half_hours: dict[int, float] = {}
        self._level_rng = random.Random(self.seed * 7907 + 3)

    # ----------------------------------------------------------------- public
    def events(self) -> Iterator[Event]:
        hour = datetime.fromtimestamp(self.start_ms / 1000, self.zone).replace(
            minute=0, second=0, microsecond=0)
        while int(hour.timestamp() * 1000) < self.end_ms:
            self._schedule(max(self.start_ms, int(hour.timestamp() * 1000)), "staff")
            hour += timedelta(hours=1)
        for queue in self.room.queues:
            self._schedule(self._next_arrival(self.queues[queue], self.start_ms), "arrival",
                           queue)
        for s in self.surges:
            if s.agents:
                self._schedule(s.start_ms, "surge", s)
        yield from self._run()
        for queue, calls in self._waiting.items():
            for call in calls:
                self._emit(ev.CALL_ABANDONED, self.end_ms, queue, call_id=call.call_id,
                           offered_ms=call.offered_ms, wait_ms=self.end_ms - call.offered_ms)
        for agents in self._floor.values():
            for agent in agents:
                if agent.state == "logged_out":  # still to come
                    continue
                for q in agent.skills:
                    self._emit(ev.AGENT_LOGOUT, self.end_ms, q, agent_id=agent.agent_id)
        yield from self._out
        self._out.clear()

    # -------------------------------------------------------------- arrivals
    def _rate_per_ms(self, queue: str, at_ms: int) -> float:
        hour = datetime.fromtimestamp(at_ms / 1000, self.zone).hour
        share = sum(t.share for t in self._types[queue])
        factor = max([1.0, *(s.arrivals(at_ms) for s in self.surges if s.queue == queue)])
        return (self.room.calls_per_day * self.room.scale * self.level * share
                * self._busiest(self.room.hour_share, hour) * factor * self._half_hour(at_ms)
                / HOUR_MS)

    def _busiest(self, by_hour: dict[int, float], hour: int) -> float:
        """The hour's figure; with ``flat``, the busiest hour's all day (demos)."""
        return max(by_hour.values()) if self.flat else by_hour.get(hour, 0.0)

    def _half_hour(self, at_ms: int) -> float:
        """The room's level in this half hour (gamma, mean 1), drawn when first needed
        from a generator of its own; capped at _BURST_CAP for the thinning."""
        slot = (at_ms - self.start_ms) // 1_800_000
        level = self._half_hours.get(slot)
        if level is None:
            shape = 1 / self.room.half_hour_cv ** 2
            # Drawn in order from the first half hour so the levels do not depend on
            # which queue asked first.
            for s in range(len(self._half_hours), slot + 1):
                self._half_hours[s] = min(_BURST_CAP,
                                          self._level_rng.gammavariate(shape, 1 / shape))
            level = self._half_hours[slot]
        return level

    def _next_arrival(self, queue: SimQueue, after_ms: int) -> int:
        # Thinning against the highest rate the queue can have.
        peak = (self.room.calls_per_day * self.room.scale * self.level
                * sum(t.share for t in self._types[queue.name])
                * max(self.room.hour_share.values()) * _BURST_CAP
                * max([1.0, *(s.factor for s in self.surges if s.queue == queue.name)])
                / HOUR_MS)
        at = after_ms
        while True:
            at += max(1, int(self.rng.expovariate(peak)))
            if at > self.end_ms or self.rng.random() * peak < self._rate_per_ms(queue.name, at):
                return at

    def _on_arrival(self, now: int, queue_name: str, transferred_from: str | None = None,
                    caller: str | None = None) -> None:
        self._schedule(self._next_arrival(self.queues[queue_name], now), "arrival", queue_name)
        kinds = self._types[queue_name]
        pick = self.rng.random() * sum(t.share for t in kinds)
        ctype = kinds[-1]
        for t in kinds:
            pick -= t.share
            if pick < 0:
                ctype = t
                break
        call = _RoomCall(f"c{self.seed}-{next(self._calls):07d}", queue_name, now,
                         self._caller(queue_name), ctype=ctype)
        if self.rng.random() < self.room.quick_hang_up:
            patience = int(self.rng.expovariate(1 / self.room.quick_mean_s) * 1000) + 1_000
        else:
            patience = int(self.rng.expovariate(1 / self.room.patience_mean_s) * 1000) + 1_000
        self._in_system += 1  # no trunk limit here; counted as the base class counts
        self._enqueue(now, call, patience)

    # --------------------------------------------------------------- staffing
    def _on_staff(self, now: int) -> None:
        hour = datetime.fromtimestamp(now / 1000, self.zone).hour
        wanted = (self._busiest(self.room.agents_by_hour, hour) * self.room.staffing
                  * self.room.scale)
        for group in self.room.groups:
            target = round(wanted * group.share)
            if wanted and group.share:
                target = max(1, target)  # every skill has somebody while the room is open
            floor = [a for a in self._floor[group.name] if not a.leaving]
            # At the start the floor is there within a minute or so; later, the hour's
            # newcomers come over its first ten minutes.
            stagger = 90_000 if now == self.start_ms else 10 * MIN_MS
            for _ in range(target - len(floor)):
                self._sign_in(now + self.rng.randint(0, stagger), group)
            for agent in floor[:max(0, len(floor) - target)]:  # the longest there go first
                agent.leaving = True
                if agent.state in ("available", "not_ready"):
                    self._sign_out(now + self.rng.randint(0, 10 * MIN_MS), agent)

    def _sign_in(self, at_ms: int, group: Group) -> None:
        agent = _RoomAgent(f"{group.name.upper()}-A{next(self._agent_numbers):03d}",
                           group.skills[0], skills=group.skills, group=group.name)
        self._floor[group.name].append(agent)
        self._schedule(at_ms, "sign_in", agent)

    def _on_sign_in(self, now: int, agent: _RoomAgent) -> None:
        if agent.leaving:
            self._floor[agent.group].remove(agent)
            return
        agent.state = "available"
        for q in agent.skills:
            self._emit(ev.AGENT_LOGIN, now, q, agent_id=agent.agent_id, state="available")
        self._take_next(now, agent)

    def _sign_out(self, at_ms: int, agent: _RoomAgent) -> None:
        agent.state = "going"  # taking no more calls
        self._schedule(at_ms, "sign_out", agent)

    def _on_sign_out(self, now: int, agent: _RoomAgent) -> None:
        if agent in self._floor[agent.group]:
            agent.state = "logged_out"
            self._floor[agent.group].remove(agent)
            for q in agent.skills:
                self._emit(ev.AGENT_LOGOUT, now, q, agent_id=agent.agent_id)

    def _on_surge(self, now: int, surge: Surge) -> None:
        own = [a for group in self.room.groups if group.skills[0] == surge.queue
               for a in self._floor[group.name] if a.state not in ("logged_out", "going")]
        for agent in own[:surge.agents]:
            agent.away_until = surge.end_ms
            agent.hidden = surge.shape == "hidden"
            if agent.state == "available":
                self._free(now, agent, None)

    # ---------------------------------------------------------------- serving
    def _dispatch(self, now: int, queue_name: str) -> None:
        waiting = self._waiting[queue_name]
        while waiting:
            idle = [a for agents in self._floor.values() for a in agents
                    if a.state == "available" and queue_name in a.skills]
            if not idle:
                return
            best = min(a.skills.index(queue_name) for a in idle)  # own skill first
            idle = [a for a in idle if a.skills.index(queue_name) == best]
            self._assign(now, idle[self.rng.randrange(len(idle))], waiting.popleft())

    def _take_next(self, now: int, agent: _RoomAgent) -> None:
        for q in agent.skills:
            if self._waiting[q]:
                self._assign(now, agent, self._waiting[q].popleft())
                return

    def _assign(self, now: int, agent: _RoomAgent, call: _Call) -> None:
        call.assigned = True
        call.assigned_ms = now
        agent.state = "on_call"
        agent.call = call
        self._schedule(now + self.rng.randint(1_000, 4_000), "answer", agent)

    def _on_answer(self, now: int, agent: _Agent) -> None:
        call = agent.call
        assert isinstance(call, _RoomCall) and call.ctype is not None
        self._emit(ev.AGENT_STATE, now, call.queue, agent_id=agent.agent_id, state="on_call")
        self._emit(ev.CALL_ANSWERED, now, call.queue, call_id=call.call_id,
                   agent_id=agent.agent_id, offered_ms=call.offered_ms,
                   wait_ms=now - call.offered_ms, ring_ms=now - call.assigned_ms)
        if self.rng.random() < self.room.short_talk_share:
            agent.talk_ms = self.rng.randint(1_000, 9_999)
        else:
            # The month's talk of 10 s and more: a lognormal cut at 10 s.
            mu, sigma = self._talk[call.ctype.name]
            while True:
                log_talk = self.rng.gauss(mu, sigma)
                if log_talk >= _LOG_10S:
                    break
            agent.talk_ms = int(math.exp(log_talk) * 1000)
        agent.hold_ms = 0
        self._schedule(now + agent.talk_ms, "hang_up", agent)

    def _on_hang_up(self, now: int, agent: _Agent) -> None:
        call = agent.call
        assert call is not None
        self._emit(ev.CALL_ENDED, now, call.queue, call_id=call.call_id,
                   agent_id=agent.agent_id, offered_ms=call.offered_ms,
                   talk_ms=agent.talk_ms, hold_ms=0)
        self._in_system -= 1
        # The records give no after-call work: a few seconds of it, on the call's queue.
        agent.state = "acw"
        agent.acw_start_ms = now
        self._emit(ev.AGENT_STATE, now, call.queue, agent_id=agent.agent_id, state="acw")
        self._schedule(now + self.rng.randint(2_000, 15_000), "wrap_up", agent)

    def _on_wrap_up(self, now: int, agent: _Agent) -> None:
        call = agent.call
        assert call is not None and isinstance(agent, _RoomAgent)
        self._emit(ev.CALL_WRAPPED_UP, now, call.queue, call_id=call.call_id,
                   agent_id=agent.agent_id, offered_ms=call.offered_ms,
                   acw_ms=now - agent.acw_start_ms)
        agent.call = None
        if agent.leaving:
            self._emit(ev.AGENT_STATE, now, call.queue, agent_id=agent.agent_id,
                       state="available")
            self._on_sign_out(now, agent)
            return
        if not agent.away_until > now and self.rng.random() < self.room.break_chance:
            agent.away_until = now + int(self.rng.lognormvariate(math.log(420), 0.4) * 1000)
            agent.hidden = False
        self._free(now, agent, call.queue)

    def _free(self, now: int, agent: _RoomAgent, queue: str | None) -> None:
        """After a call (on ``queue``) or when called away: back to the queues, or away."""
        if agent.away_until > now:
            agent.state = "not_ready"
            if agent.hidden:  # the ACD is not told: the call's queue sees them free
                if queue is not None:
                    self._emit(ev.AGENT_STATE, now, queue, agent_id=agent.agent_id,
                               state="available")
            else:
                for q in agent.skills:
                    self._emit(ev.AGENT_STATE, now, q, agent_id=agent.agent_id,
                               state="not_ready", reason="break")
            self._schedule(agent.away_until, "back", agent)
            return
        agent.state = "available"
        if queue is not None:
            self._emit(ev.AGENT_STATE, now, queue, agent_id=agent.agent_id, state="available")
        self._take_next(now, agent)

    def _on_back(self, now: int, agent: _RoomAgent) -> None:
        if agent.state != "not_ready":
            return
        if agent.leaving:
            self._on_sign_out(now, agent)
            return
        agent.state = "available"
        if not agent.hidden:
            for q in agent.skills:
                self._emit(ev.AGENT_STATE, now, q, agent_id=agent.agent_id, state="available")
        agent.hidden = False
        self._take_next(now, agent)
