"""A discrete-event call-centre simulator that emits schema-v1 ACD events.

Per queue: Poisson arrivals whose rate follows a time-of-day profile (thinning),
lognormal talk, hold and after-call work, caller patience (abandons, including
1-5 s misdials), dedicated agents who log in, take not-ready breaks, end their
shift and are replaced, transfers to another queue, and a centre-wide trunk
limit that blocks calls when every line is busy. Same seed and start, same
events, byte for byte.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, cast
from zoneinfo import ZoneInfo

from base.config import Settings
from core import events as ev
from core.records import Event

__all__ = ["SimQueue", "Simulator", "configured_queues", "default_queues"]

# Share of the peak arrival rate by local hour: a hotline's double hump.
HOURLY_PROFILE = (
    0.05, 0.03, 0.02, 0.02, 0.03, 0.05, 0.12, 0.35, 0.75, 1.00, 1.00, 0.90,
    0.65, 0.75, 0.95, 1.00, 0.90, 0.70, 0.50, 0.40, 0.30, 0.20, 0.12, 0.08,
)
NOT_READY_REASONS = ("break", "meeting", "training", "lunch")


@dataclass(frozen=True)
class SimQueue:
    name: str
    agents: int
    peak_calls_per_hour: float
    talk_mean_s: float = 180.0
    acw_mean_s: float = 45.0
    patience_mean_s: float = 90.0
    hold_share: float = 0.15
    transfer_share: float = 0.03


def default_queues() -> list[SimQueue]:
    return [
        SimQueue("GEN", agents=18, peak_calls_per_hour=240),
        SimQueue("BIZ", agents=8, peak_calls_per_hour=80, talk_mean_s=240),
        SimQueue("EN", agents=4, peak_calls_per_hour=40, talk_mean_s=210, patience_mean_s=120),
        SimQueue("VIP", agents=6, peak_calls_per_hour=70, talk_mean_s=200, patience_mean_s=60),
    ]


# A configured queue the simulator has no default for: a mid-sized skill group.
_OTHER = SimQueue("", agents=8, peak_calls_per_hour=80)


def configured_queues(settings: Settings) -> list[SimQueue]:
    """The configured centre's queues, in order, each played as its ``simulate`` settings
    say; what they leave unset comes from today's four (GEN, BIZ, EN, VIP) by name, or a
    mid-sized queue for any other name."""
    defaults = {q.name: q for q in default_queues()}
    out = []
    for queue in settings.queues:
        base = replace(defaults.get(queue.name, _OTHER), name=queue.name)
        asked = {k: v for k, v in queue.simulate.model_dump().items() if v is not None}
        out.append(replace(base, **asked))
    return out


@dataclass
class _Call:
    call_id: str
    queue: str
    offered_ms: int
    caller: str = ""
    assigned: bool = False
    assigned_ms: int = 0
    gone: bool = False


@dataclass
class _Agent:
    agent_id: str
    queue: str
    state: str = "logged_out"
    shift_end_ms: int = 0
    leaving: bool = False
    call: _Call | None = None
    talk_ms: int = 0
    hold_ms: int = 0
    acw_start_ms: int = 0


@dataclass(order=True)
class _Due:
    at_ms: int
    seq: int
    kind: str = field(compare=False)
    args: tuple[Any, ...] = field(compare=False, default=())


class Simulator:
    """Generates events between ``start_ms`` and ``start_ms + duration_ms``, in time order."""

    def __init__(
        self,
        *,
        seed: int,
        start_ms: int,
        duration_ms: int,
        zone: ZoneInfo,
        queues: list[SimQueue] | None = None,
        trunks: int = 60,
        volume: float = 1.0,
        flat: bool = False,
        source: str = "sim",
        tickets: bool = False,
    ) -> None:
        self.rng = random.Random(seed)
        self.seed = seed
        self.start_ms = start_ms
        self.end_ms = start_ms + duration_ms
        self.zone = zone
        self.queues = {q.name: q for q in (queues or default_queues())}
        self.trunks = trunks
        self.volume = volume
        self.flat = flat  # every hour at the peak rate (demos, benchmarks)
        self.source = source
        self._heap: list[_Due] = []
        self._seq = itertools.count()
        self._ids = itertools.count(1)
        self._calls = itertools.count(1)
        self._agent_numbers = itertools.count(1)
        self._waiting: dict[str, deque[_Call]] = {q: deque() for q in self.queues}
        self._agents: dict[str, list[_Agent]] = {q: [] for q in self.queues}
        self._in_system = 0
        self._out: list[Event] = []
        # Recent callers per queue: some call back (B16's repeat calls).
        self._recent_callers: dict[str, deque[str]] = {q: deque(maxlen=400) for q in self.queues}
        # Tickets and surveys (opt-in), from a generator of their own so that the calls
        # of a seed stay the same bytes with or without them.
        self.tickets = tickets
        self._ticket_rng = random.Random(seed * 7919 + 17)
        self._ticket_numbers = itertools.count(1)

    # ----------------------------------------------------------------- public
    def events(self) -> Iterator[Event]:
        for queue in self.queues.values():
            for _ in range(queue.agents):
                # Agents on the floor at the start are part-way through staggered shifts.
                self._hire(queue.name, self.start_ms + self.rng.randint(0, 90_000),
                           shift_ms=self.rng.randint(1_800_000, 8 * 3_600_000))
            self._schedule(self._next_arrival(queue, self.start_ms), "arrival", queue.name)
        yield from self._run()

    def _run(self) -> Iterator[Event]:
        while self._heap:
            due = heapq.heappop(self._heap)
            if due.at_ms > self.end_ms:
                break
            getattr(self, f"_on_{due.kind}")(due.at_ms, *due.args)
            yield from self._out
            self._out.clear()

    # -------------------------------------------------------------- plumbing
    def _schedule(self, at_ms: int, kind: str, *args: Any) -> None:
        heapq.heappush(self._heap, _Due(at_ms, next(self._seq), kind, args))

    def _emit(self, etype: str, ts_ms: int, queue: str, **fields: Any) -> None:
        ticket = etype in ev.TICKET_TYPES
        event = {
            "v": ev.SCHEMA_VERSION,
            "event_id": (f"sim{self.seed}-t{next(self._ticket_numbers):09d}" if ticket
                         else f"sim{self.seed}-{next(self._ids):09d}"),
            "type": etype,
            "ts_ms": ts_ms,
            "queue": queue,
            "source": self.source,
        }
        event.update({k: v for k, v in fields.items() if v is not None})
        # The fields are the schema's, by name at each call here (tests validate them).
        self._out.append(cast(Event, event))

    def _lognormal_ms(self, mean_s: float, sigma: float = 0.6) -> int:
        mu = math.log(mean_s) - sigma * sigma / 2  # so the mean is mean_s
        return max(1_000, int(self.rng.lognormvariate(mu, sigma) * 1000))

    def _profile(self, at_ms: int) -> float:
        if self.flat:
            return 1.0
        hour = datetime.fromtimestamp(at_ms / 1000, self.zone).hour
        return HOURLY_PROFILE[hour]

    def _next_arrival(self, queue: SimQueue, after_ms: int) -> int:
        # Thinning (Lewis-Shedler): candidates at the peak rate, kept with the
        # profile's share, give a Poisson process with the profile's rate.
        rate_per_ms = queue.peak_calls_per_hour * self.volume / 3_600_000
        at = after_ms
        while True:
            at += max(1, int(self.rng.expovariate(rate_per_ms)))
            if at > self.end_ms or self.rng.random() < self._profile(at):
                return at

    # ------------------------------------------------------------- handlers
    def _hire(self, queue: str, at_ms: int, shift_ms: int | None = None) -> None:
        agent = _Agent(f"{queue}-A{next(self._agent_numbers):03d}", queue)
        if shift_ms is None:
            shift_ms = self.rng.randint(4 * 3_600_000, 9 * 3_600_000)
        agent.shift_end_ms = at_ms + shift_ms
        self._agents[queue].append(agent)
        self._schedule(at_ms, "login", agent)

    def _on_login(self, now: int, agent: _Agent) -> None:
        agent.state = "available"
        self._emit(ev.AGENT_LOGIN, now, agent.queue, agent_id=agent.agent_id, state="available")
        self._schedule(agent.shift_end_ms, "shift_end", agent)
        self._dispatch(now, agent.queue)

    def _on_shift_end(self, now: int, agent: _Agent) -> None:
        agent.leaving = True
        if agent.state in ("available", "not_ready"):
            self._logout(now, agent)

    def _logout(self, now: int, agent: _Agent) -> None:
        agent.state = "logged_out"
        self._agents[agent.queue].remove(agent)
        self._emit(ev.AGENT_LOGOUT, now, agent.queue, agent_id=agent.agent_id)
        self._hire(agent.queue, now + self.rng.randint(30_000, 240_000))

    def _caller(self, queue_name: str) -> str:
        recent = self._recent_callers[queue_name]
        if recent and self.rng.random() < 0.12:
            return recent[self.rng.randrange(len(recent))]
        caller = f"1{self.rng.randrange(10**10):010d}"
        recent.append(caller)
        return caller

    def _on_arrival(self, now: int, queue_name: str, transferred_from: str | None = None,
                    caller: str | None = None) -> None:
        queue = self.queues[queue_name]
        if transferred_from is None:
            self._schedule(self._next_arrival(queue, now), "arrival", queue_name)
        call_id = f"c{self.seed}-{next(self._calls):07d}"
        if self._in_system >= self.trunks:
            self._emit(ev.CALL_BLOCKED, now, queue_name, call_id=call_id)
            return
        self._in_system += 1
        caller = caller or self._caller(queue_name)
        if self.rng.random() < 0.05:  # misdials: hang up within 1-5 s (manual line 655)
            patience = self.rng.randint(500, 5_000)
        else:
            patience = int(self.rng.expovariate(1 / queue.patience_mean_s) * 1000) + 1_000
        self._enqueue(now, _Call(call_id, queue_name, now, caller), patience)

    def _enqueue(self, now: int, call: _Call, patience_ms: int) -> None:
        """The call offered and waiting; its caller gives up after ``patience_ms``."""
        self._emit(ev.CALL_OFFERED, now, call.queue, call_id=call.call_id, caller=call.caller)
        self._waiting[call.queue].append(call)
        self._schedule(now + patience_ms, "patience", call)
        self._dispatch(now, call.queue)

    def _on_patience(self, now: int, call: _Call) -> None:
        if call.assigned or call.gone:
            return
        call.gone = True
        self._waiting[call.queue].remove(call)
        self._in_system -= 1
        self._emit(ev.CALL_ABANDONED, now, call.queue, call_id=call.call_id,
                   offered_ms=call.offered_ms, wait_ms=now - call.offered_ms)

    def _dispatch(self, now: int, queue_name: str) -> None:
        waiting = self._waiting[queue_name]
        idle = [a for a in self._agents[queue_name] if a.state == "available"]
        while waiting and idle:
            # Longest-idle first would need idle times; a random pick spreads the load.
            agent = idle.pop(self.rng.randrange(len(idle)))
            call = waiting.popleft()
            call.assigned = True
            call.assigned_ms = now
            agent.state = "on_call"
            agent.call = call
            ring = self.rng.randint(2_000, 8_000)
            self._schedule(now + ring, "answer", agent)

    def _on_answer(self, now: int, agent: _Agent) -> None:
        call = agent.call
        assert call is not None
        self._emit(ev.AGENT_STATE, now, agent.queue, agent_id=agent.agent_id, state="on_call")
        self._emit(ev.CALL_ANSWERED, now, call.queue, call_id=call.call_id,
                   agent_id=agent.agent_id, offered_ms=call.offered_ms,
                   wait_ms=now - call.offered_ms, ring_ms=now - call.assigned_ms)
        queue = self.queues[agent.queue]
        agent.talk_ms = self._lognormal_ms(queue.talk_mean_s)
        agent.hold_ms = (
            self._lognormal_ms(40, 0.5) if self.rng.random() < queue.hold_share else 0
        )
        self._schedule(now + agent.talk_ms + agent.hold_ms, "hang_up", agent)

    def _on_hang_up(self, now: int, agent: _Agent) -> None:
        call = agent.call
        assert call is not None
        queue = self.queues[agent.queue]
        others = sorted(q for q in self.queues if q != call.queue)
        if others and self.rng.random() < queue.transfer_share:
            target = self.rng.choice(others)
            self._emit(ev.CALL_TRANSFERRED, now, call.queue, call_id=call.call_id,
                       agent_id=agent.agent_id, offered_ms=call.offered_ms, to_queue=target)
            self._schedule(now, "arrival", target, call.queue, call.caller)
        self._emit(ev.CALL_ENDED, now, call.queue, call_id=call.call_id,
                   agent_id=agent.agent_id, offered_ms=call.offered_ms,
                   talk_ms=agent.talk_ms, hold_ms=agent.hold_ms)
        self._in_system -= 1
        agent.state = "acw"
        agent.acw_start_ms = now
        self._emit(ev.AGENT_STATE, now, agent.queue, agent_id=agent.agent_id, state="acw")
        self._schedule(now + self._lognormal_ms(queue.acw_mean_s, 0.5), "wrap_up", agent)

    def _on_wrap_up(self, now: int, agent: _Agent) -> None:
        call = agent.call
        assert call is not None
        self._emit(ev.CALL_WRAPPED_UP, now, call.queue, call_id=call.call_id,
                   agent_id=agent.agent_id, offered_ms=call.offered_ms,
                   acw_ms=now - agent.acw_start_ms)
        agent.call = None
        if self.tickets:
            self._maybe_ticket(now, call, agent)
        if agent.leaving:
            self._logout(now, agent)
            return
        if self.rng.random() < 0.03:
            agent.state = "not_ready"
            reason = self.rng.choice(NOT_READY_REASONS)
            self._emit(ev.AGENT_STATE, now, agent.queue, agent_id=agent.agent_id,
                       state="not_ready", reason=reason)
            self._schedule(now + self._lognormal_ms(480, 0.4), "ready", agent)
            return
        self._ready(now, agent)

    # ---------------------------------------------------------------- tickets
    # A share of calls leave a ticket (manual lines 501-531): consultations replied to
    # within a day, complaints of levels 1-4 resolved mostly in time, some late, some
    # repeated by the customer, a survey on most of them.
    _LEVELS = ((1, 0.6, 5_400_000), (2, 0.25, 30 * 3_600_000),
               (3, 0.1, 3 * 86_400_000), (4, 0.05, 5 * 86_400_000))  # level, share, typical ms

    def _maybe_ticket(self, now: int, call: _Call, agent: _Agent) -> None:
        rng = self._ticket_rng
        if rng.random() >= 0.15:
            return
        ticket_id = f"T{self.seed}-{call.call_id}"
        fields: dict[str, Any] = {"ticket_id": ticket_id, "call_id": call.call_id,
                                  "owner": agent.agent_id, "caller": call.caller or None}
        if rng.random() < 0.65:
            self._emit(ev.TICKET_OPENED, now, call.queue, kind="consultation", **fields)
            late = rng.random() < 0.04
            delay = int(rng.uniform(25, 40) * 3_600_000) if late else int(
                rng.uniform(0.05, 20) * 3_600_000)
            self._schedule(now + delay, "ticket_done", call.queue, ticket_id, "replied",
                           not late)
            return
        pick, level, typical = rng.random(), 4, self._LEVELS[-1][2]
        for lvl, share, usual in self._LEVELS:
            pick -= share
            if pick < 0:
                level, typical = lvl, usual
                break
        self._emit(ev.TICKET_OPENED, now, call.queue, kind="complaint", level=level,
                   key_account=rng.random() < 0.1 or None, **fields)
        late = rng.random() < 0.08
        delay = int(typical * (rng.uniform(1.6, 2.5) if late else rng.uniform(0.1, 0.9)))
        self._schedule(now + delay, "ticket_done", call.queue, ticket_id, "resolved", not late)

    def _on_ticket_done(self, now: int, queue: str, ticket_id: str, how: str,
                        in_time: bool) -> None:
        rng = self._ticket_rng
        etype = ev.TICKET_REPLIED if how == "replied" else ev.TICKET_RESOLVED
        self._emit(etype, now, queue, ticket_id=ticket_id)
        satisfied = rng.random() < (0.95 if in_time else 0.55)
        if rng.random() < 0.7:  # surveyed a little later, by SMS
            at = now + rng.randint(60_000, 3_600_000)
            if rng.random() < 0.5:
                self._schedule(at, "survey", queue, ticket_id, {"satisfied": satisfied})
            else:
                score = rng.randint(4, 5) if satisfied else rng.randint(1, 3)
                self._schedule(at, "survey", queue, ticket_id, {"score": score})
        if how == "resolved" and not satisfied and rng.random() < 0.3:
            self._schedule(now + rng.randint(600_000, 86_400_000), "repeat", queue, ticket_id)

    def _on_survey(self, now: int, queue: str, ticket_id: str, answer: dict[str, Any]) -> None:
        self._emit(ev.SURVEY_ANSWERED, now, queue, ticket_id=ticket_id, **answer)

    def _on_repeat(self, now: int, queue: str, first: str) -> None:
        ticket_id = f"{first}-R{next(self._ticket_numbers)}"
        self._emit(ev.TICKET_REOPENED, now, queue, ticket_id=ticket_id, repeat_of=first)
        self._schedule(now + int(self._ticket_rng.uniform(0.2, 1.0) * 3_600_000),
                       "ticket_done", queue, ticket_id, "resolved", True)

    def _on_ready(self, now: int, agent: _Agent) -> None:
        if agent.state == "logged_out":
            return  # the shift ended during the break
        if agent.leaving:
            self._logout(now, agent)
            return
        self._ready(now, agent)

    def _ready(self, now: int, agent: _Agent) -> None:
        agent.state = "available"
        self._emit(ev.AGENT_STATE, now, agent.queue, agent_id=agent.agent_id, state="available")
        self._dispatch(now, agent.queue)
