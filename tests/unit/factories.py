"""Builders for hand-written schema-v1 events."""

from __future__ import annotations

import itertools
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")
_ids = itertools.count(1)


def at(hh: int, mm: int, ss: float = 0, day: int = 5) -> int:
    """Epoch ms of 2026-01-<day> hh:mm:ss in Shanghai."""
    whole = int(ss)
    dt = datetime(2026, 1, day, hh, mm, whole, tzinfo=SHANGHAI)
    return int(dt.timestamp() * 1000) + int(round((ss - whole) * 1000))


def event(etype: str, ts_ms: int, queue: str = "GEN", **fields: Any) -> dict[str, Any]:
    base = {"v": 1, "event_id": f"t-{next(_ids)}", "type": etype, "ts_ms": ts_ms,
            "queue": queue, "source": "test"}
    base.update(fields)
    return base


def call(call_id: str, offered_ms: int, *, queue: str = "GEN", answer_after_s: float | None = None,
         abandon_after_s: float | None = None, talk_s: float | None = None, hold_s: float = 0,
         acw_s: float | None = None, agent: str = "A1", ring_s: float | None = None,
         caller: str | None = None) -> list[dict[str, Any]]:
    """The events of one call's life, in order."""
    offered = event("call.offered", offered_ms, queue, call_id=call_id)
    if caller is not None:
        offered["caller"] = caller
    out = [offered]
    ring = {} if ring_s is None else {"ring_ms": int(ring_s * 1000)}
    if answer_after_s is not None:
        answered = offered_ms + int(answer_after_s * 1000)
        out.append(event("call.answered", answered, queue, call_id=call_id, agent_id=agent,
                         offered_ms=offered_ms, wait_ms=int(answer_after_s * 1000), **ring))
        if talk_s is not None:
            ended = answered + int((talk_s + hold_s) * 1000)
            out.append(event("call.ended", ended, queue, call_id=call_id, agent_id=agent,
                             offered_ms=offered_ms, talk_ms=int(talk_s * 1000),
                             hold_ms=int(hold_s * 1000)))
            if acw_s is not None:
                out.append(event("call.wrapped_up", ended + int(acw_s * 1000), queue,
                                 call_id=call_id, agent_id=agent, offered_ms=offered_ms,
                                 acw_ms=int(acw_s * 1000)))
    elif abandon_after_s is not None:
        out.append(event("call.abandoned", offered_ms + int(abandon_after_s * 1000), queue,
                         call_id=call_id, offered_ms=offered_ms,
                         wait_ms=int(abandon_after_s * 1000), **ring))
    return out
