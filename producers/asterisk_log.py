"""Schema-v1 events -> Asterisk ``queue_log`` lines (``callboard simulate --format
asterisk-queue-log``), written as Asterisk 13+ writes them: whole seconds,
hold time = connect second - enter second, agents as ``Local/<id>@from-queue/n``.

What queue_log cannot say is left out: blocked calls (they never reach the
queue), hold time (inside the call time), after-call work and the on-call /
wrap-up states (Asterisk logs no line for them).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from core import events as ev

__all__ = ["queue_log_lines"]


def _member(agent: str) -> str:
    return f"Local/{agent}@from-queue/n"


def queue_log_lines(events: Iterable[Mapping[str, Any]]) -> Iterator[str]:
    entered: dict[str, int] = {}   # call_id -> enter second
    waited: dict[str, int] = {}    # call_id -> hold seconds
    answered_at: dict[str, int] = {}  # call_id -> connect second
    paused: set[tuple[str, str]] = set()
    transferred: dict[str, str] = {}  # call_id -> target
    for e in events:
        sec = e["ts_ms"] // 1000
        etype, queue = e["type"], e["queue"]
        call = e.get("call_id", "NONE")
        if etype == ev.CALL_OFFERED:
            entered[call] = sec
            yield f"{sec}|{call}|{queue}|NONE|ENTERQUEUE||{e.get('caller', '')}|1"
        elif etype == ev.CALL_ANSWERED:
            hold = sec - entered.get(call, e["offered_ms"] // 1000)
            waited[call] = hold
            answered_at[call] = sec
            ring = (e.get("ring_ms") or 0) // 1000
            yield f"{sec}|{call}|{queue}|{_member(e['agent_id'])}|CONNECT|{hold}|{call}.1|{ring}"
        elif etype == ev.CALL_ABANDONED:
            wait = sec - entered.pop(call, e["offered_ms"] // 1000)
            yield f"{sec}|{call}|{queue}|NONE|ABANDON|1|1|{wait}"
        elif etype == ev.CALL_TRANSFERRED:
            # Asterisk writes one BLINDTRANSFER line instead of COMPLETEAGENT.
            transferred[call] = e.get("to_queue") or ""
        elif etype == ev.CALL_ENDED:
            # Asterisk's call time: seconds from connect to hang-up, hold included.
            talk = sec - answered_at.pop(call, sec)
            hold = waited.pop(call, 0)
            entered.pop(call, None)
            member = _member(e["agent_id"])
            if call in transferred:
                target = transferred.pop(call)
                yield (f"{sec}|{call}|{queue}|{member}|BLINDTRANSFER|{target}|from-internal|"
                       f"{hold}|{talk}|1")
            else:
                yield f"{sec}|{call}|{queue}|{member}|COMPLETEAGENT|{hold}|{talk}|1"
        elif etype == ev.AGENT_LOGIN:
            flag = "PAUSED" if e.get("state") == "not_ready" else ""
            yield f"{sec}|NONE|{queue}|{_member(e['agent_id'])}|ADDMEMBER|{flag}"
        elif etype == ev.AGENT_LOGOUT:
            paused.discard((queue, e["agent_id"]))
            yield f"{sec}|NONE|{queue}|{_member(e['agent_id'])}|REMOVEMEMBER|"
        elif etype == ev.AGENT_STATE:
            key = (queue, e["agent_id"])
            if e["state"] == "not_ready":
                paused.add(key)
                yield f"{sec}|NONE|{queue}|{_member(e['agent_id'])}|PAUSE|{e.get('reason', '')}"
            elif e["state"] == "available" and key in paused:
                paused.discard(key)
                yield f"{sec}|NONE|{queue}|{_member(e['agent_id'])}|UNPAUSE|"
