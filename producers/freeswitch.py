"""FreeSWITCH ``mod_callcenter`` events -> ACD event schema v1. Pure: one event's headers
in, events and counts out; ``parse_dump`` reads a recorded plain-text event dump.

mod_callcenter announces every caller and agent change as ``CUSTOM callcenter::info``
events over the event socket, told apart by ``CC-Action``. docs/freeswitch.md records
every mapping decision; in short:

- member-queue-start -> ``call.offered``; bridge-agent-start -> ``call.answered`` (+ the
  agent on call); bridge-agent-end -> ``call.ended``; member-queue-end with
  ``CC-Cause: Cancel`` -> ``call.abandoned`` (``CC-Cancel-Reason`` kept as ``reason``);
- agent-status-change (Logged Out / Available / On Break) and agent-state-change
  (Waiting / Idle) -> ``agent.login`` / ``agent.logout`` / ``agent.state`` in every queue
  the agent serves (its tiers: given, or learnt from the calls it is offered);
- agent-offering, bridge-agent-fail, members-count, and member-queue-end with
  ``CC-Cause: Terminated`` say nothing the schema counts: skipped, and counted.

Event ids come from the member's UUID and the action (an agent's: its name, the action,
the value and the event's own time), so an event seen again after a reconnect is the
same event downstream and counts once.

Nothing here raises on input: every event is counted under exactly one kind
(``converted``, ``skipped.<why>``, ``duplicate`` or ``rejected.<reason>``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from core import events as ev
from core.records import Event

__all__ = ["Converter", "convert_events", "parse_dump", "tiers_of"]

SOURCE = "freeswitch"
SUBCLASS = "callcenter::info"
_MIN_EPOCH, _MAX_EPOCH = 946_684_800, 4_102_444_800  # 2000-2100, as the schema
_SEEN = 200_000  # event ids remembered, to drop one seen again
# Actions that change nothing the schema counts (the call stays queued after a failed
# offer; the queue's size is derived from the calls themselves).
_SKIPPED = frozenset({"agent-offering", "bridge-agent-fail", "members-count"})
# An agent's status says whether it takes calls at all; its state, what it does now.
_STATUS_OUT = "Logged Out"
_STATUS_BREAK = "On Break"
_STATUS_IN = frozenset({"Available", "Available (On Demand)"})


@dataclass
class _Call:
    queue: str
    offered_ms: int
    agent: str | None = None
    answered_ms: int | None = None


@dataclass
class Converter:
    """Stateful: the calls in the queues and each agent's queues and status."""

    tiers: dict[str, set[str]] = field(default_factory=dict)  # agent -> queues it serves
    calls: dict[str, _Call] = field(default_factory=dict)  # by CC-Member-UUID
    status: dict[str, str] = field(default_factory=dict)  # agent -> CC-Agent-Status
    counts: Counter[str] = field(default_factory=Counter)
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (reason, event text)
    _seen: dict[str, None] = field(default_factory=dict)

    def feed(self, headers: Mapping[str, str]) -> list[Event]:
        """One event's headers (names as FreeSWITCH writes them, values decoded)."""
        self.counts["received"] += 1
        if headers.get("Event-Subclass") != SUBCLASS:
            return self._skip("not_callcenter")
        action = headers.get("CC-Action", "")
        agent, queue = headers.get("CC-Agent", "").strip(), headers.get("CC-Queue", "").strip()
        if agent and queue:  # offered, bridged or failed: the agent serves this queue
            self._serve(agent, queue)
        handler = _HANDLERS.get(action)
        if handler is None:
            if action in _SKIPPED:
                return self._skip(action)
            return self._reject("unknown_action", headers)
        try:
            out = getattr(self, handler)(headers)
        except _Bad as bad:
            return self._reject(bad.reason, headers)
        try:
            for event in out:
                ev.validate(event)  # a backstop: nothing invalid leaves this module
        except ev.EventError as exc:
            return self._reject(exc.reason, headers)
        fresh = [e for e in out if e["event_id"] not in self._seen]
        for event in fresh:
            self._remember(event["event_id"])
        if out and not fresh:
            self.counts["duplicate"] += 1  # seen already (a reconnect replays some)
        elif fresh:
            self.counts["converted"] += 1
            self.counts[f"converted.{action}"] += 1
        return fresh

    def summary(self) -> dict[str, int]:
        return dict(sorted(self.counts.items()))

    # --------------------------------------------------------------- helpers
    def _remember(self, event_id: str) -> None:
        self._seen[event_id] = None
        if len(self._seen) > _SEEN:
            del self._seen[next(iter(self._seen))]

    def _reject(self, reason: str, headers: Mapping[str, str]) -> list[Event]:
        self.counts["rejected"] += 1
        self.counts[f"rejected.{reason}"] += 1
        self.rejected.append((reason, _text(headers)))
        return []

    def _skip(self, why: str) -> list[Event]:
        self.counts["skipped"] += 1
        self.counts[f"skipped.{why}"] += 1
        return []

    def _event(self, etype: str, ts: int, queue: str, key: str, **fields: Any) -> Event:
        return ev.keyed("fs", SOURCE, etype, ts, queue, key, **fields)

    def _known(self, member: str, queue: str, joined_ms: int, out: list[Event]) -> _Call:
        """The call, or one repaired from this event when its member-queue-start was not
        seen (a session that starts mid-call): offered when it joined, with the id the
        real start would have had, so both count once."""
        call = self.calls.get(member)
        if call is None:
            call = self.calls[member] = _Call(queue, joined_ms)
            self.counts["repaired.missing_member_queue_start"] += 1
            out.append(self._event(ev.CALL_OFFERED, joined_ms, queue,
                                   f"{member}|member-queue-start", call_id=member))
        return call

    def _serve(self, agent: str, queue: str) -> None:
        self.tiers.setdefault(agent, set()).add(queue)

    # --------------------------------------------------------------- actions
    def _queue_start(self, h: Mapping[str, str]) -> list[Event]:
        member, queue = _need(h, "CC-Member-UUID"), _need(h, "CC-Queue")
        ts = _event_ms(h)
        caller = h.get("CC-Member-CID-Number", "").strip() or None
        self.calls.setdefault(member, _Call(queue, ts))
        return [self._event(ev.CALL_OFFERED, ts, queue, f"{member}|member-queue-start",
                            call_id=member, caller=caller)]

    def _bridge_start(self, h: Mapping[str, str]) -> list[Event]:
        member, queue, agent = (_need(h, k) for k in ("CC-Member-UUID", "CC-Queue", "CC-Agent"))
        answered = _seconds(h, "CC-Agent-Answered-Time")
        joined = _seconds(h, "CC-Member-Joined-Time")
        called = _optional_seconds(h, "CC-Agent-Called-Time")
        if answered < joined:
            raise _Bad("bad_time")
        self._serve(agent, queue)
        out: list[Event] = []
        call = self._known(member, queue, joined, out)
        call.agent, call.answered_ms = agent, answered
        ring = answered - called if called is not None and joined <= called <= answered else None
        out.append(self._event(ev.AGENT_STATE, answered, queue, f"{member}|{agent}|on_call",
                               agent_id=agent, state="on_call"))
        out.append(self._event(ev.CALL_ANSWERED, answered, queue, f"{member}|bridge-agent-start",
                               call_id=member, agent_id=agent, offered_ms=call.offered_ms,
                               wait_ms=answered - call.offered_ms, ring_ms=ring))
        return out

    def _bridge_end(self, h: Mapping[str, str]) -> list[Event]:
        member, queue, agent = (_need(h, k) for k in ("CC-Member-UUID", "CC-Queue", "CC-Agent"))
        answered = _seconds(h, "CC-Agent-Answered-Time")
        ended = _seconds(h, "CC-Bridge-Terminated-Time")
        joined = _seconds(h, "CC-Member-Joined-Time")
        if not joined <= answered <= ended:
            raise _Bad("bad_time")
        out: list[Event] = []
        call = self._known(member, queue, joined, out)
        if call.answered_ms is None:  # its bridge-agent-start was not seen
            out.extend(self._bridge_start(h))
        # mod_callcenter does not report hold time, nor wrap-up (docs/freeswitch.md).
        out.append(self._event(ev.CALL_ENDED, ended, queue, f"{member}|bridge-agent-end",
                               call_id=member, agent_id=agent, offered_ms=call.offered_ms,
                               talk_ms=ended - answered, hold_ms=0))
        self.calls.pop(member, None)
        return out

    def _queue_end(self, h: Mapping[str, str]) -> list[Event]:
        member, queue = _need(h, "CC-Member-UUID"), _need(h, "CC-Queue")
        cause = h.get("CC-Cause", "")
        if cause == "Terminated":
            self.calls.pop(member, None)  # talked to an agent: bridge-agent-end said so
            self.counts["skipped"] += 1
            self.counts["skipped.member-queue-end.Terminated"] += 1
            return []
        if cause != "Cancel":
            raise _Bad("bad_field")
        left = _seconds(h, "CC-Member-Leaving-Time")
        joined = _seconds(h, "CC-Member-Joined-Time")
        if left < joined:
            raise _Bad("bad_time")
        out: list[Event] = []
        call = self._known(member, queue, joined, out)
        if call.answered_ms is not None:
            raise _Bad("orphan")  # answered, then a cancel: the first outcome stands
        reason = h.get("CC-Cancel-Reason", "NONE").strip().lower()
        out.append(self._event(ev.CALL_ABANDONED, left, queue, f"{member}|member-queue-end",
                               call_id=member, offered_ms=call.offered_ms,
                               wait_ms=left - call.offered_ms,
                               reason=None if reason in ("", "none") else reason[:128]))
        self.calls.pop(member, None)
        return out

    def _agent_status(self, h: Mapping[str, str]) -> list[Event]:
        agent, status = _need(h, "CC-Agent"), _need(h, "CC-Agent-Status")
        ts = _event_ms(h)
        before = self.status.get(agent)
        self.status[agent] = status
        queues = sorted(self.tiers.get(agent, ()))
        if not queues:
            return self._skip("agent_of_no_known_queue")
        key = f"{agent}|status|{status}|{ts}"
        if status == _STATUS_OUT:
            etype, fields = ev.AGENT_LOGOUT, {}
        elif status in _STATUS_IN or status == _STATUS_BREAK:
            state = "available" if status in _STATUS_IN else "not_ready"
            reason = "on_break" if status == _STATUS_BREAK else None
            signed_in = before is not None and before != _STATUS_OUT
            etype = ev.AGENT_STATE if signed_in else ev.AGENT_LOGIN
            fields = {"state": state, "reason": reason}
        else:
            raise _Bad("bad_field")
        return [self._event(etype, ts, q, f"{key}|{q}", agent_id=agent, **fields)
                for q in queues]

    def _agent_state(self, h: Mapping[str, str]) -> list[Event]:
        agent, state = _need(h, "CC-Agent"), _need(h, "CC-Agent-State")
        if state in ("Receiving", "In a queue call", "Reserved"):
            # Ringing (the call is still queued) or on the call bridge-agent-start told.
            return self._skip(f"agent_state.{state}")
        ts = _event_ms(h)
        if state == "Waiting":
            status = self.status.get(agent)
            mapped = "not_ready" if status == _STATUS_BREAK else "available"
        elif state == "Idle":
            mapped = "not_ready"
        else:
            raise _Bad("bad_field")
        queues = sorted(self.tiers.get(agent, ()))
        if not queues:
            return self._skip("agent_of_no_known_queue")
        return [self._event(ev.AGENT_STATE, ts, q, f"{agent}|state|{state}|{ts}|{q}",
                            agent_id=agent, state=mapped,
                            reason="idle" if state == "Idle" else None)
                for q in queues]


class _Bad(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# Each action and the Converter method that maps it.
_HANDLERS: dict[str, str] = {
    "member-queue-start": "_queue_start",
    "bridge-agent-start": "_bridge_start",
    "bridge-agent-end": "_bridge_end",
    "member-queue-end": "_queue_end",
    "agent-status-change": "_agent_status",
    "agent-state-change": "_agent_state",
}


def _need(h: Mapping[str, str], name: str) -> str:
    value = h.get(name, "").strip()
    if not value:
        raise _Bad("missing_fields")
    return value


def _epoch_ms(value: float) -> int:
    if not _MIN_EPOCH <= value <= _MAX_EPOCH:
        raise _Bad("bad_time")
    return int(round(value * 1000))


def _seconds(h: Mapping[str, str], name: str) -> int:
    """A CC-*-Time header: whole epoch seconds, in ms."""
    try:
        return _epoch_ms(float(_need(h, name)))
    except ValueError:
        raise _Bad("bad_time") from None


def _optional_seconds(h: Mapping[str, str], name: str) -> int | None:
    return _seconds(h, name) if h.get(name, "").strip() not in ("", "0") else None


def _event_ms(h: Mapping[str, str]) -> int:
    """The moment FreeSWITCH raised the event: Event-Date-Timestamp, in microseconds."""
    try:
        return _epoch_ms(int(_need(h, "Event-Date-Timestamp")) / 1_000_000)
    except ValueError:
        raise _Bad("bad_time") from None


def _text(headers: Mapping[str, str]) -> str:
    return "; ".join(f"{k}: {v}" for k, v in headers.items())[:500]


def parse_dump(lines: Iterable[str | bytes]) -> Iterator[dict[str, str]]:
    """Events from a plain-text dump, as ``fs_cli`` (``/event plain ...``) or an ESL
    client prints them: ``Name: value`` header lines (values URL-encoded on the wire,
    decoded here), one blank line between events. Lines without a ``: `` (``RECV
    EVENT``) and the socket's own framing blocks (only ``Content-Length`` and
    ``Content-Type``) are left out."""
    block: dict[str, str] = {}
    for raw in [*lines, ""]:
        line = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
        line = line.rstrip("\r\n")
        if line.startswith("#"):
            continue  # a note in a kept dump (FreeSWITCH names no header so)
        if line.strip():
            name, sep, value = line.partition(": ")
            if sep:
                block[name.strip()] = unquote(value.strip())
            continue
        if block and set(block) - {"Content-Length", "Content-Type", "Reply-Text"}:
            yield block
        block = {}


def tiers_of(events: Iterable[Mapping[str, str]]) -> dict[str, set[str]]:
    """Each agent's queues, as the events that name both say (a recorded session read
    whole: an agent's status at the start names no queue)."""
    tiers: dict[str, set[str]] = {}
    for h in events:
        agent, queue = h.get("CC-Agent", "").strip(), h.get("CC-Queue", "").strip()
        if agent and queue:
            tiers.setdefault(agent, set()).add(queue)
    return tiers


def convert_events(events: Iterable[Mapping[str, str]], converter: Converter | None = None
                   ) -> Iterator[Event]:
    """A recorded session, whole: the agents' queues learnt from all of it first."""
    conv = converter or Converter()
    events = list(events)
    for agent, queues in tiers_of(events).items():
        conv.tiers.setdefault(agent, set()).update(queues)
    for headers in events:
        yield from conv.feed(headers)
    conv.counts["open_calls_at_end"] = len(conv.calls)
