"""Erlang C: how many agents a queue needs now (docs/escalation.md#seats-needed).

For calls arriving at random (Poisson) at rate lambda with mean handling time
AHT, the traffic is A = lambda * AHT erlangs. With N > A agents:

    P(wait)  = C(N, A) = N * B / (N - A * (1 - B)),  B = Erlang B(N, A) (by recursion)
    SL(T)    = 1 - P(wait) * exp(-(N - A) * T / AHT)
    ASA      = P(wait) * AHT / (N - A)
    occupancy = A / N

Erlang B by its recursion B(0) = 1, B(k) = A B(k-1) / (k + A B(k-1)) never forms
A^N / N!, so it stays exact for hundreds of agents.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

__all__ = ["Staffing", "agents_needed", "erlang_c", "staffing"]

_MAX_AGENTS = 10_000


@dataclass(frozen=True)
class Staffing:
    agents: int
    service_level: float
    asa_s: float
    occupancy: float
    wait_probability: float
    traffic_erlangs: float

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


def erlang_c(agents: int, traffic: float) -> float:
    """Probability that a call has to wait; 1.0 when the agents cannot keep up."""
    if traffic <= 0:
        return 0.0
    if agents <= traffic:
        return 1.0
    b = 1.0
    for k in range(1, agents + 1):
        b = traffic * b / (k + traffic * b)
    return agents * b / (agents - traffic * (1 - b))


def staffing(agents: int, calls: float, interval_s: float, aht_s: float, target_s: float
             ) -> Staffing:
    traffic = calls * aht_s / interval_s
    pw = erlang_c(agents, traffic)
    if agents <= traffic:
        return Staffing(agents, 0.0, math.inf, 1.0, 1.0, traffic)
    sl = 1 - pw * math.exp(-(agents - traffic) * target_s / aht_s)
    asa = pw * aht_s / (agents - traffic)
    return Staffing(agents, sl, asa, traffic / agents if agents else 0.0, pw, traffic)


def agents_needed(calls: float, interval_s: float, aht_s: float, target_s: float,
                  service_level: float) -> Staffing:
    """The fewest agents whose expected service level reaches ``service_level``."""
    if interval_s <= 0 or aht_s <= 0:
        raise ValueError("interval and AHT must be positive")
    if not 0 < service_level < 1:
        raise ValueError("service level must be between 0 and 1")
    traffic = calls * aht_s / interval_s
    agents = max(1, math.floor(traffic) + 1)
    while agents < _MAX_AGENTS:
        result = staffing(agents, calls, interval_s, aht_s, target_s)
        if result.service_level >= service_level:
            return result
        agents += 1
    raise ValueError("more than 10,000 agents: check the inputs")
