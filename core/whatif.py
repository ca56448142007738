"""What if there had been more agents: the recorded calls queued again, an estimate
(docs/review.md). Plain data in, events out: no I/O.

The model is the simulator's: one first-come-first-served queue per queue, each
agent serving one call at a time, a caller hanging up when their patience runs out.
Its inputs are what was recorded:

- arrivals: each call's offer time, in order;
- capacity: the agents who could take a call in each minute (available, on a call
  or wrapping up, as the recorded timeline counted them), plus ``extra`` from
  ``extra_from_ms``;
- handle time: each answered call's own talk + hold + wrap-up; a call that gave up
  but is now answered takes the queue's median handle time;
- patience: a caller who gave up waited exactly their patience; one who was
  answered would have waited at least as long as they did, and no longer is known,
  so they wait as long as it takes (with more agents, waits only get shorter).

Its output is the calls' events again, answered or abandoned at the new times,
for the same pipeline to count: service level, abandonment and the surge ladder of
the estimate come from the same code as the recorded ones.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from statistics import median
from typing import Any

from core import events as ev
from core.records import Event

__all__ = ["RecordedCall", "recorded_calls", "requeue"]

_MINUTE = 60_000


@dataclass(frozen=True, slots=True)
class RecordedCall:
    queue: str
    call_id: str
    offered_ms: int
    answered_ms: int | None      # None: it was abandoned (or still waiting at the end)
    abandoned_ms: int | None
    handle_ms: int | None        # talk + hold + wrap-up, when it was answered
    caller: str | None


def recorded_calls(events: Iterable[Mapping[str, Any]]) -> list[RecordedCall]:
    """Each call offered, with what became of it, from its recorded events."""
    offered: dict[tuple[str, str], Mapping[str, Any]] = {}
    answered: dict[tuple[str, str], int] = {}
    abandoned: dict[tuple[str, str], int] = {}
    handle: dict[tuple[str, str], int] = {}
    for e in events:
        key = (e.get("queue", ""), e.get("call_id", ""))
        etype = e["type"]
        if etype == ev.CALL_OFFERED:
            offered.setdefault(key, e)
        elif etype == ev.CALL_ANSWERED:
            answered.setdefault(key, e["ts_ms"])
        elif etype == ev.CALL_ABANDONED:
            abandoned.setdefault(key, e["ts_ms"])
        elif etype == ev.CALL_ENDED:
            handle[key] = handle.get(key, 0) + int(e.get("talk_ms", 0)) + int(e.get("hold_ms", 0))
        elif etype == "call.wrapped_up":
            handle[key] = handle.get(key, 0) + int(e.get("acw_ms", 0))
    calls = [RecordedCall(queue=q, call_id=c, offered_ms=e["ts_ms"],
                          answered_ms=answered.get((q, c)), abandoned_ms=abandoned.get((q, c)),
                          handle_ms=handle.get((q, c)), caller=e.get("caller"))
             for (q, c), e in offered.items()]
    return sorted(calls, key=lambda c: (c.offered_ms, c.queue, c.call_id))


def spread_agents(total: int, calls: Mapping[str, int]) -> dict[str, int]:
    """``total`` more agents shared among the queues in proportion to their calls (the
    largest remainders get the rest; ties by queue name): "+3" on four queues is 3
    agents, not 12. A queue with no call gets none unless no queue had any."""
    queues = sorted(calls)
    if not queues:
        return {}
    weights = {q: calls[q] for q in queues} if any(calls.values()) else dict.fromkeys(queues, 1)
    whole = sum(weights.values())
    shares = {q: total * weights[q] / whole for q in queues}
    out = {q: int(shares[q]) for q in queues}
    rest = total - sum(out.values())
    for q in sorted(queues, key=lambda q: (-(shares[q] - out[q]), q))[:rest]:
        out[q] += 1
    return out


def requeue(calls: list[RecordedCall], capacity: Callable[[str, int], int],
            extra: Mapping[str, int], extra_from_ms: int, until_ms: int) -> list[Event]:
    """The calls queued again with ``extra`` more agents per queue from ``extra_from_ms``:
    their events (offered, then answered or abandoned at the new times), in time order.

    ``capacity(queue, minute_ms)``: agents who could take a call in that minute, as
    recorded. A call neither answered nor given up by ``until_ms`` stays waiting.
    """
    out: list[Event] = []
    by_queue: dict[str, list[RecordedCall]] = {}
    for call in calls:
        by_queue.setdefault(call.queue, []).append(call)
    for queue, queued in by_queue.items():
        handles = [c.handle_ms for c in queued if c.handle_ms]
        typical = int(median(handles)) if handles else 180_000

        def servers(at_ms: int, queue: str = queue) -> int:
            minute = at_ms - at_ms % _MINUTE
            return capacity(queue, minute) + (extra.get(queue, 0) if at_ms >= extra_from_ms else 0)

        busy: list[int] = []  # when each busy agent is free again
        for call in queued:
            patience = (call.abandoned_ms - call.offered_ms if call.answered_ms is None
                        and call.abandoned_ms is not None else None)
            give_up = until_ms + 1 if patience is None else call.offered_ms + patience
            at = call.offered_ms
            served: int | None = None
            while at <= min(give_up, until_ms):
                while busy and busy[0] <= at:
                    heapq.heappop(busy)
                if len(busy) < servers(at):
                    served = at
                    break
                next_minute = at - at % _MINUTE + _MINUTE
                at = min(busy[0] if busy else next_minute, next_minute)
            out.append(_event(ev.CALL_OFFERED, call, call.offered_ms))
            if served is not None:
                heapq.heappush(busy, served + (call.handle_ms or typical))
                answer = _event(ev.CALL_ANSWERED, call, served)
                answer["agent_id"] = "estimate"
                answer["offered_ms"] = call.offered_ms
                answer["wait_ms"] = served - call.offered_ms
                out.append(answer)
            elif patience is not None and give_up <= until_ms:
                abandon = _event(ev.CALL_ABANDONED, call, give_up)
                abandon["offered_ms"] = call.offered_ms
                abandon["wait_ms"] = patience
                out.append(abandon)
    return sorted(out, key=lambda e: (e["ts_ms"], e["event_id"]))


def _event(etype: str, call: RecordedCall, ts_ms: int) -> Event:
    doc: Event = {"v": 1, "event_id": f"whatif-{call.queue}-{call.call_id}-{etype}",
                  "type": etype, "ts_ms": ts_ms, "queue": call.queue,
                  "call_id": call.call_id, "source": "what-if"}
    if etype == ev.CALL_OFFERED and call.caller:
        doc["caller"] = call.caller
    return doc
