"""Asterisk ``queue_log`` -> ACD event schema v1. Pure: lines in, events and counts out.

A line is ``epoch|callid|queuename|agent|EVENT|data1|data2|...`` (Asterisk's
``apps/app_queue.c``). docs/asterisk.md records every mapping decision; in
short:

- ENTERQUEUE -> ``call.offered``; CONNECT -> ``call.answered`` (+ agent on call);
  COMPLETECALLER/COMPLETEAGENT -> ``call.ended`` (+ agent available);
  ABANDON, EXITEMPTY, EXITWITHTIMEOUT, EXITWITHKEY -> ``call.abandoned`` (the
  verb kept in ``reason``); ATTENDEDTRANSFER/BLINDTRANSFER/TRANSFER ->
  ``call.transferred`` + ``call.ended``; ADDMEMBER/AGENTLOGIN -> ``agent.login``,
  REMOVEMEMBER/AGENTLOGOFF -> ``agent.logout``, PAUSE/UNPAUSE(ALL) -> ``agent.state``.
- Event ids come from the call id and the kind of event (or from the line, for
  agent events), so a line read twice, or an event repaired here and later
  seen for real, is the same event downstream and counts once.

Nothing here raises on input: every line is counted under exactly one kind
(``converted``, ``skipped``, ``duplicate``, ``blank`` or a ``rejected.<reason>``).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from core import events as ev
from core.records import Event

__all__ = ["Converter", "agent_id", "convert_lines"]

SOURCE = "asterisk"
# Lines Asterisk and FreePBX write that say nothing about calls or agents' states.
HOUSEKEEPING = frozenset({
    "QUEUESTART", "CONFIGRELOAD", "AGENTDUMP", "SYSCOMPAT", "PENALTY", "RINGINUSE", "DID",
    "INFO", "QUEUEEND",
})
# Fields each verb needs after the fixed five (older versions write fewer for ENTERQUEUE).
MIN_DATA = {
    "ENTERQUEUE": 0, "CONNECT": 1, "COMPLETECALLER": 2, "COMPLETEAGENT": 2, "ABANDON": 3,
    "EXITEMPTY": 3, "EXITWITHTIMEOUT": 3, "EXITWITHKEY": 4, "RINGNOANSWER": 0,
    "RINGCANCELED": 0, "ATTENDEDTRANSFER": 4, "BLINDTRANSFER": 4, "TRANSFER": 4,
    "ADDMEMBER": 0, "REMOVEMEMBER": 0, "PAUSE": 0, "UNPAUSE": 0, "PAUSEALL": 0,
    "UNPAUSEALL": 0, "AGENTLOGIN": 0, "AGENTLOGOFF": 0, "AGENTCALLBACKLOGIN": 0,
    "AGENTCALLBACKLOGOFF": 0,
}
_MIN_EPOCH, _MAX_EPOCH = 946_684_800, 4_102_444_800  # 2000-2100, as the schema
_TECH = re.compile(r"^(?:Agent|Local|SIP|PJSIP|IAX2|DAHDI|Zap|H323|Skinny|MGCP|USTM)/",
                   re.IGNORECASE)
_EXIT_REASONS = {"ABANDON": None, "EXITEMPTY": "exitempty",
                 "EXITWITHTIMEOUT": "exitwithtimeout", "EXITWITHKEY": "exitwithkey"}
_MAX_WAIT_FIELD_S = 24 * 3600
_CALL_VERBS = frozenset({
    "ENTERQUEUE", "CONNECT", "COMPLETECALLER", "COMPLETEAGENT", "ABANDON", "EXITEMPTY",
    "EXITWITHTIMEOUT", "EXITWITHKEY", "RINGNOANSWER", "RINGCANCELED", "ATTENDEDTRANSFER",
    "BLINDTRANSFER", "TRANSFER",
})
_SEEN_LINES = 200_000  # exact duplicate lines remembered


def agent_id(member: str) -> str:
    """One id per agent whatever the interface string.

    ``Agent/1127``, ``Local/1127@from-queue/n``, ``SIP/1127``,
    ``PJSIP/1127-0000001a`` -> ``1127``; ``SIP/alice`` -> ``alice``; a free-text
    member name (``Alice Wong``) is kept as written, trimmed.
    """
    name = member.strip()
    if not _TECH.match(name):
        return name[:128]
    rest = _TECH.sub("", name)
    rest = rest.split("@", 1)[0].split("/", 1)[0]
    if name.upper().startswith(("SIP/", "PJSIP/", "IAX2/", "DAHDI/")):
        rest = re.sub(r"-[0-9a-fA-F]{6,}$", "", rest)  # the channel's unique suffix
    return (rest or name)[:128]


def _usable(name: str) -> bool:
    return 0 < len(name) <= 120 and name.upper() != "NONE"


def _seconds(text: str, unit: int = 1) -> int | None:
    """A duration field (in seconds, or ms with ``unit=1000``), None unless 0..24 h."""
    try:
        value = int(text.strip())
    except ValueError:
        return None
    return value if 0 <= value <= _MAX_WAIT_FIELD_S * unit else None


@dataclass(frozen=True)
class _Line:
    """One queue_log line's fields, as the verb handlers read them."""

    verb: str
    ts: int
    callid: str
    queue: str
    agent: str | None
    data: list[str]
    line: str


@dataclass
class _Call:
    call_id: str       # our id (the callid, with "#n" when Asterisk reuses it)
    queue: str
    offered_ms: int
    caller: str | None = None
    agent: str | None = None
    wait_ms: int | None = None
    ring_ms: int | None = None  # from RINGCANCELED, for an abandon while ringing
    answered: bool = False


@dataclass
class Converter:
    """Stateful: the calls in progress and the agents' queues, between lines."""

    calls: dict[str, _Call] = field(default_factory=dict)   # by Asterisk callid
    ended: dict[str, int] = field(default_factory=dict)     # callid -> times it ended
    members: dict[str, set[str]] = field(default_factory=dict)  # agent -> queues
    counts: Counter[str] = field(default_factory=Counter)
    rejected_lines: list[tuple[str, str]] = field(default_factory=list)  # for dead letters
    _seen: dict[str, None] = field(default_factory=dict)

    # ----------------------------------------------------------------- input
    def feed(self, raw: str | bytes) -> list[Event]:
        """One line (without or with its newline) -> the events it makes."""
        if isinstance(raw, bytes):
            line = raw.decode("utf-8", errors="replace")
        else:
            line = raw
        line = line.rstrip("\r\n")
        self.counts["lines"] += 1
        if not line.strip():
            self.counts["blank"] += 1
            return []
        if line in self._seen:
            self.counts["duplicate"] += 1
            return []
        self._remember(line)
        parts = line.split("|")
        if len(parts) < 5:
            return self._reject("truncated", line)
        epoch_text, callid, queue, member, verb = (p.strip() for p in parts[:5])
        data = parts[5:]
        try:
            epoch = float(epoch_text)
        except ValueError:
            return self._reject("bad_time", line)
        if not _MIN_EPOCH <= epoch <= _MAX_EPOCH:
            return self._reject("bad_time", line)
        verb = verb.upper()
        if verb in HOUSEKEEPING:
            return self._skip(verb)
        if verb not in MIN_DATA:
            return self._reject("unknown_verb", line)
        if len(data) < MIN_DATA[verb]:
            return self._reject("missing_fields", line)
        ts = int(round(epoch * 1000))
        if verb in _CALL_VERBS and not (_usable(callid) and _usable(queue)):
            return self._reject("bad_field", line)
        out = self._convert(verb, ts, callid, queue, member, data, line)
        if out is None:
            return []  # skipped or rejected, and counted as such by the handler
        try:
            for event in out:
                ev.validate(event)  # a backstop: nothing invalid leaves this module
        except ev.EventError:
            return self._reject("bad_field", line)
        self.counts["converted"] += 1
        self.counts[f"converted.{verb}"] += 1
        return out

    def finish(self) -> None:
        """End of a file: calls still in the queue stay open (never invented outcomes)."""
        self.counts["open_calls_at_end"] = len(self.calls)

    def summary(self) -> dict[str, int]:
        return dict(sorted(self.counts.items()))

    def state(self) -> dict[str, Any]:
        """What a follower must keep across a restart (JSON-able)."""
        return {
            "calls": {cid: vars(c) for cid, c in self.calls.items()},
            "ended": self.ended,
            "members": {a: sorted(q) for a, q in self.members.items()},
            "counts": dict(self.counts),
        }

    @classmethod
    def restore(cls, state: dict[str, Any]) -> Converter:
        conv = cls()
        conv.calls = {cid: _Call(**c) for cid, c in state.get("calls", {}).items()}
        conv.ended = dict(state.get("ended", {}))
        conv.members = {a: set(q) for a, q in state.get("members", {}).items()}
        conv.counts.update(state.get("counts", {}))
        return conv

    # --------------------------------------------------------------- helpers
    def _remember(self, line: str) -> None:
        self._seen[line] = None
        if len(self._seen) > _SEEN_LINES:
            del self._seen[next(iter(self._seen))]

    def _reject(self, reason: str, line: str) -> list[Event]:
        self.counts["rejected"] += 1
        self.counts[f"rejected.{reason}"] += 1
        self.rejected_lines.append((reason, line))
        return []

    def _skip(self, kind: str) -> list[Event]:
        self.counts["skipped"] += 1
        self.counts[f"skipped.{kind}"] += 1
        return []

    def _event(self, etype: str, ts: int, queue: str, key: str, **fields: Any) -> Event:
        return ev.keyed("ast", SOURCE, etype, ts, queue[:128], key, **fields)

    def _call_key(self, call: _Call, kind: str) -> str:
        return f"{call.call_id}|{kind}"

    def _agent_event(self, etype: str, ts: int, queue: str, agent: str, line: str,
                     n: int = 0, **fields: Any) -> Event:
        return self._event(etype, ts, queue, f"line|{line}|{n}", agent_id=agent, **fields)

    def _open(self, callid: str, queue: str, ts: int, caller: str | None) -> _Call:
        reused = self.ended.get(callid, 0)
        call_id = callid if not reused else f"{callid}#{reused + 1}"
        call = _Call(call_id[:128], queue, ts, caller)
        self.calls[callid] = call
        return call

    def _close(self, callid: str) -> None:
        self.calls.pop(callid, None)
        self.ended[callid] = self.ended.get(callid, 0) + 1
        if len(self.ended) > _SEEN_LINES:
            del self.ended[next(iter(self.ended))]

    def _known(self, callid: str, queue: str, ts: int, wait_ms: int | None,
               out: list[Event]) -> _Call:
        """The call, or one repaired from this line when its ENTERQUEUE was not seen
        (the file starts mid-call): offered at ts - wait, with the id the real
        ENTERQUEUE would have had, so both count once."""
        call = self.calls.get(callid)
        if call is None:
            offered = ts - (wait_ms or 0)
            call = self._open(callid, queue, offered, None)
            self.counts["repaired.missing_enterqueue"] += 1
            out.append(self._event(ev.CALL_OFFERED, offered, queue,
                                   self._call_key(call, "offered"), call_id=call.call_id))
        return call

    # ---------------------------------------------------------------- verbs
    def _convert(self, verb: str, ts: int, callid: str, queue: str, member: str,
                 data: list[str], line: str) -> list[Event] | None:
        agent = agent_id(member) if member and member.upper() != "NONE" else None
        q = _Line(verb, ts, callid, queue, agent or None, data, line)
        if verb in _EXIT_REASONS:
            return self._exit(q)
        handler = _CALL_HANDLERS.get(verb)
        if handler is not None:
            return getattr(self, handler)(q)
        if q.agent is None:
            return self._reject("bad_field", line) or None
        return self._agent_verb(verb, ts, queue, q.agent, data, line)

    def _enter(self, q: _Line) -> list[Event] | None:
        if q.callid in self.calls:
            # Seen already (repaired from a later line, or a line out of order).
            self._skip("late_enterqueue")
            return None
        given = q.data[1].strip() if len(q.data) > 1 else ""
        caller = given if given and given.lower() not in ("unknown", "anonymous") else None
        call = self._open(q.callid, q.queue, q.ts, caller)
        return [self._event(ev.CALL_OFFERED, q.ts, q.queue, self._call_key(call, "offered"),
                            call_id=call.call_id, caller=caller)]

    def _connect(self, q: _Line) -> list[Event] | None:
        hold = _seconds(q.data[0])
        if hold is None or q.agent is None:
            return self._reject("bad_field", q.line) or None
        out: list[Event] = []
        call = self._known(q.callid, q.queue, q.ts, hold * 1000, out)
        if call.answered:
            self._skip("duplicate_connect")
            return None
        self._check_wait(call, q.ts, hold)
        ring = _seconds(q.data[2]) if len(q.data) > 2 else None
        call.answered, call.agent, call.wait_ms = True, q.agent, hold * 1000
        out.append(self._agent_event(ev.AGENT_STATE, q.ts, q.queue, q.agent, q.line, 1,
                                     state="on_call"))
        out.append(self._event(ev.CALL_ANSWERED, q.ts, q.queue, self._call_key(call, "answered"),
                               call_id=call.call_id, agent_id=q.agent,
                               offered_ms=min(call.offered_ms, q.ts), wait_ms=hold * 1000,
                               ring_ms=None if ring is None else ring * 1000))
        return out

    def _complete(self, q: _Line) -> list[Event] | None:
        """COMPLETECALLER/-AGENT and the transfers: the conversation is over."""
        talk = _seconds(q.data[1] if q.verb.startswith("COMPLETE") else q.data[3])
        if talk is None:
            return self._reject("bad_field", q.line) or None
        call = self.calls.get(q.callid)
        if call is None or not call.answered:
            return self._reject("orphan", q.line) or None
        agent = call.agent or q.agent
        if agent is None:
            return self._reject("bad_field", q.line) or None
        out: list[Event] = []
        offered = min(call.offered_ms, q.ts)
        if q.verb.endswith("TRANSFER"):
            # BLINDTRANSFER and TRANSFER name the extension; ATTENDEDTRANSFER the method.
            target = q.data[0].strip() or None if q.verb != "ATTENDEDTRANSFER" else None
            out.append(self._event(ev.CALL_TRANSFERRED, q.ts, call.queue,
                                   self._call_key(call, "transferred"),
                                   call_id=call.call_id, agent_id=agent, offered_ms=offered,
                                   to_queue=target[:128] if target else None))
        # queue_log's call time is the whole connected time; hold is not logged.
        out.append(self._event(ev.CALL_ENDED, q.ts, call.queue, self._call_key(call, "ended"),
                               call_id=call.call_id, agent_id=agent, offered_ms=offered,
                               talk_ms=talk * 1000, hold_ms=0))
        out.append(self._agent_event(ev.AGENT_STATE, q.ts, call.queue, agent, q.line, 1,
                                     state="available"))
        self._close(q.callid)
        return out

    def _exit(self, q: _Line) -> list[Event] | None:
        """The caller left the queue unanswered (hung up, timed out, pressed a key...)."""
        wait = _seconds(q.data[-1] if q.verb != "EXITWITHKEY" else q.data[3])
        if wait is None:
            return self._reject("bad_field", q.line) or None
        out: list[Event] = []
        call = self._known(q.callid, q.queue, q.ts, wait * 1000, out)
        if call.answered:
            return self._reject("orphan", q.line) or None
        self._check_wait(call, q.ts, wait)
        out.append(self._event(ev.CALL_ABANDONED, q.ts, call.queue,
                               self._call_key(call, "abandoned"), call_id=call.call_id,
                               offered_ms=min(call.offered_ms, q.ts), wait_ms=wait * 1000,
                               ring_ms=call.ring_ms, reason=_EXIT_REASONS[q.verb]))
        self._close(q.callid)
        return out

    def _ring_canceled(self, q: _Line) -> None:
        ringing = self.calls.get(q.callid)
        ring = _seconds(q.data[0], unit=1000) if q.data else None  # logged in ms
        if ringing is not None and ring is not None:
            ringing.ring_ms = ring  # the caller hung up while this agent's phone rang
        self._skip("RINGCANCELED")

    def _ring_no_answer(self, q: _Line) -> None:
        self._skip("RINGNOANSWER")  # the call stays queued; nothing to count

    def _agent_verb(self, verb: str, ts: int, queue: str, agent: str, data: list[str],
                    line: str) -> list[Event] | None:
        if verb in ("ADDMEMBER", "AGENTLOGIN", "AGENTCALLBACKLOGIN"):
            if not queue or queue.upper() == "NONE":
                return self._reject("bad_field", line) or None
            self.members.setdefault(agent, set()).add(queue)
            paused = bool(data) and data[0].strip().upper() == "PAUSED"
            return [self._agent_event(ev.AGENT_LOGIN, ts, queue, agent, line,
                                      state="not_ready" if paused else "available")]
        if verb in ("REMOVEMEMBER", "AGENTLOGOFF", "AGENTCALLBACKLOGOFF"):
            queues = self._queues_of(agent, queue)
            if not queues:
                return self._skip("logoff_of_unknown_agent") or None
            for q in queues:
                self.members.get(agent, set()).discard(q)
            return [self._agent_event(ev.AGENT_LOGOUT, ts, q, agent, line, i)
                    for i, q in enumerate(queues)]
        state = "not_ready" if verb.startswith("PAUSE") else "available"
        reason = data[0].strip() or None if data and state == "not_ready" else None
        if not self._queues_of(agent, queue):
            return self._skip("pause_of_unknown_agent") or None
        return [self._agent_event(ev.AGENT_STATE, ts, q, agent, line, i, state=state,
                                  reason=reason[:128] if reason else None)
                for i, q in enumerate(self._queues_of(agent, queue))]

    def _queues_of(self, agent: str, queue: str) -> list[str]:
        """PAUSEALL and AGENTLOGOFF name no queue ("NONE"): every queue the agent is in."""
        if queue and queue.upper() != "NONE":
            return [queue]
        return sorted(self.members.get(agent, set()))

    def _check_wait(self, call: _Call, ts: int, field_s: int) -> None:
        """The data field is Asterisk's own measure; the line times are whole seconds.
        More than 2 s apart is counted (the field is still used)."""
        if abs((ts - call.offered_ms) / 1000 - field_s) > 2:
            self.counts["wait_mismatch"] += 1


def convert_lines(lines: Iterable[str | bytes], converter: Converter | None = None,
                  reorder: bool = True) -> Iterator[Event]:
    """A whole file: lines sorted by time first (stable), so a log written out of
    order still tells each call's story in order; then every line converted."""
    conv = converter or Converter()
    items = list(lines)
    if reorder:
        keyed = []
        for i, raw in enumerate(items):
            text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
            head = text.split("|", 1)[0].strip()
            try:
                key = float(head)
            except ValueError:
                key = float("-inf")  # bad lines keep their place at the front; rejected anyway
            keyed.append((key, i, raw))
        ordered = [raw for _, _, raw in sorted(keyed, key=lambda k: (k[0], k[1]))]
        conv.counts["reordered"] += sum(1 for a, b in zip(ordered, items, strict=True)
                                        if a is not b)
        items = ordered
    for raw in items:
        yield from conv.feed(raw)
    conv.finish()


# The call verbs and the Converter method each one goes to.
_CALL_HANDLERS: dict[str, str] = {
    "ENTERQUEUE": "_enter",
    "CONNECT": "_connect",
    "COMPLETECALLER": "_complete",
    "COMPLETEAGENT": "_complete",
    "ATTENDEDTRANSFER": "_complete",
    "BLINDTRANSFER": "_complete",
    "TRANSFER": "_complete",
    "RINGCANCELED": "_ring_canceled",
    "RINGNOANSWER": "_ring_no_answer",
}
