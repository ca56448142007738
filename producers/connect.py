"""Amazon Connect contact events and agent event stream records -> ACD event schema v1.
Pure: one JSON record in, events and counts out.

- Contact events (EventBridge ``Amazon Connect Contact Event``, or the bare ``detail``):
  each voice contact event carries the contact's timestamps so far, and every schema
  event they imply is made from it: QUEUED -> ``call.offered``; CONNECTED_TO_AGENT ->
  also ``call.answered``; DISCONNECTED -> also ``call.ended`` (talked to an agent) or
  ``call.abandoned`` (queued, never connected). EventBridge delivers at best effort
  and in no set order: a DISCONNECTED alone still tells the whole call, and the event
  ids (contact id and kind) make the same story told twice count once.
- Agent event stream records (Kinesis; LOGIN, LOGOUT, STATE_CHANGE, HEART_BEAT): the
  agent's status and voice contacts -> ``agent.login`` / ``agent.logout`` /
  ``agent.state`` in each inbound voice queue of its routing profile.

The queue is the queue's id (the last part of its ARN); names are display names, from
the settings. docs/connect.md records every mapping decision.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from core import events as ev
from core.records import Event

__all__ = ["Converter", "convert_records"]

SOURCE = "connect"
_MIN_MS, _MAX_MS = 946_684_800_000, 4_102_444_800_000  # 2000-2100, as the schema
_SEEN = 200_000
# Contacts an agent starts are not callers asking for a seat.
_NOT_QUEUE_DEMAND = frozenset({"OUTBOUND", "MONITOR"})
_ON_CALL = frozenset({"CONNECTED", "CONNECTED_ONHOLD"})


class _Bad(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _lower_keys(value: Any) -> Any:
    """Keys with their first letter in lower case, all the way down: the admin guide's
    own samples write ``AgentInfo`` / ``agentInfo`` and ``AgentArn`` / ``agentArn``."""
    if isinstance(value, dict):
        return {(k[:1].lower() + k[1:] if isinstance(k, str) else k): _lower_keys(v)
                for k, v in value.items()}
    if isinstance(value, list):
        return [_lower_keys(v) for v in value]
    return value


def _ms(value: Any) -> int:
    """An ISO 8601 UTC time (``2021-08-04T17:29:09.000Z``) in epoch ms."""
    if not isinstance(value, str) or not value:
        raise _Bad("missing_fields")
    try:
        ms = int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1000)
    except ValueError:
        raise _Bad("bad_time") from None
    if not _MIN_MS <= ms <= _MAX_MS:
        raise _Bad("bad_time")
    return ms


def _maybe_ms(value: Any) -> int | None:
    return _ms(value) if value else None


def _id_of(arn: Any) -> str:
    """The id an ARN ends with (``.../queue/<id>``, ``.../agent/<id>``)."""
    if not isinstance(arn, str) or not arn.strip():
        raise _Bad("missing_fields")
    return arn.rstrip("/").rsplit("/", 1)[-1][:128]


@dataclass
class Converter:
    counts: Counter[str] = field(default_factory=Counter)
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (reason, record text)
    _seen: dict[str, None] = field(default_factory=dict)

    def feed(self, record: Mapping[str, Any] | str | bytes) -> list[Event]:
        """One record: an EventBridge event, a bare contact event, or an agent event."""
        self.counts["records"] += 1
        try:
            doc = json.loads(record) if isinstance(record, str | bytes) else dict(record)
        except ValueError:
            return self._reject("not_json", record)
        if not isinstance(doc, dict):
            return self._reject("not_json", record)
        doc = _lower_keys(doc)
        kind = "contact" if "detail" in doc or "contactId" in doc else (
            "agent" if "agentARN" in doc else None)
        if kind is None:
            return self._reject("unknown_record", doc)
        try:
            out = self._contact(doc.get("detail", doc)) if kind == "contact" else self._agent(doc)
        except _Bad as bad:
            return self._reject(bad.reason, doc)
        if out is None:
            return []  # skipped, counted by the handler
        try:
            for event in out:
                ev.validate(event)
        except ev.EventError as exc:
            return self._reject(exc.reason, doc)
        fresh = [e for e in out if e["event_id"] not in self._seen]
        for event in fresh:
            self._seen[event["event_id"]] = None
            if len(self._seen) > _SEEN:
                del self._seen[next(iter(self._seen))]
        key = f"{kind}.{(doc.get('detail', doc).get('eventType') or '?')}"
        self.counts["duplicate" if out and not fresh else "converted"] += 1
        if fresh:
            self.counts[f"converted.{key}"] += 1
        return fresh

    def summary(self) -> dict[str, int]:
        return dict(sorted(self.counts.items()))

    # --------------------------------------------------------------- helpers
    def _reject(self, reason: str, record: Any) -> list[Event]:
        self.counts["rejected"] += 1
        self.counts[f"rejected.{reason}"] += 1
        text = record if isinstance(record, str) else (
            record.decode("utf-8", "replace") if isinstance(record, bytes)
            else json.dumps(record, ensure_ascii=False, default=str))
        self.rejected.append((reason, text[:500]))
        return []

    def _skip(self, why: str) -> None:
        self.counts["skipped"] += 1
        self.counts[f"skipped.{why}"] += 1

    def _event(self, etype: str, ts: int, queue: str, key: str, **fields: Any) -> Event:
        return ev.keyed("ac", SOURCE, etype, ts, queue, key, **fields)

    # -------------------------------------------------------------- contacts
    def _contact(self, d: Mapping[str, Any]) -> list[Event] | None:
        etype = str(d.get("eventType") or "")
        if etype not in ("INITIATED", "CONNECTED_TO_SYSTEM", "QUEUED", "CONNECTED_TO_AGENT",
                         "DISCONNECTED"):
            raise _Bad("unknown_event_type")
        if str(d.get("channel") or "").upper() != "VOICE":
            self._skip("not_voice")
            return None
        if str(d.get("initiationMethod") or "").upper() in _NOT_QUEUE_DEMAND:
            self._skip("agent_initiated")
            return None
        queue_info = d.get("queueInfo") or {}
        if etype in ("INITIATED", "CONNECTED_TO_SYSTEM") or not queue_info:
            self._skip("not_queued")  # in the flow, before any queue (or never queued)
            return None
        contact = d.get("contactId")
        if not isinstance(contact, str) or not contact:
            raise _Bad("missing_fields")
        queue = _id_of(queue_info.get("queueArn"))
        queued = _ms(queue_info.get("enqueueTimestamp"))
        agent_info = d.get("agentInfo") or {}
        connected = _maybe_ms(agent_info.get("connectedToAgentTimestamp"))
        ended = _maybe_ms(d.get("disconnectTimestamp")) if etype == "DISCONNECTED" else None
        if etype == "DISCONNECTED" and ended is None:
            raise _Bad("missing_fields")
        if any(t is not None and t < queued for t in (connected, ended)) or (
                connected is not None and ended is not None and ended < connected):
            raise _Bad("bad_time")
        out = [self._event(ev.CALL_OFFERED, queued, queue, f"{contact}|offered",
                           call_id=contact)]
        if connected is not None:
            agent = _id_of(agent_info.get("agentArn"))
            out.append(self._event(ev.CALL_ANSWERED, connected, queue, f"{contact}|answered",
                                   call_id=contact, agent_id=agent, offered_ms=queued,
                                   wait_ms=connected - queued))
            if ended is not None:
                # The contact event gives no hold time: talk is connected to disconnect.
                out.append(self._event(ev.CALL_ENDED, ended, queue, f"{contact}|ended",
                                       call_id=contact, agent_id=agent, offered_ms=queued,
                                       talk_ms=ended - connected, hold_ms=0))
        elif ended is not None:
            out.append(self._event(ev.CALL_ABANDONED, ended, queue, f"{contact}|abandoned",
                                   call_id=contact, offered_ms=queued, wait_ms=ended - queued))
        return out

    # ---------------------------------------------------------------- agents
    def _agent(self, doc: Mapping[str, Any]) -> list[Event] | None:
        etype = str(doc.get("eventType") or "")
        if etype not in ("LOGIN", "LOGOUT", "STATE_CHANGE", "HEART_BEAT"):
            raise _Bad("unknown_event_type")
        if etype == "HEART_BEAT":
            self._skip("heart_beat")  # no change; the next STATE_CHANGE says any
            return None
        agent = _id_of(doc.get("agentARN"))
        ts = _ms(doc.get("eventTimestamp"))
        event_id = str(doc.get("eventId") or "")
        if not event_id:
            raise _Bad("missing_fields")
        now = doc.get("currentAgentSnapshot") or {}
        before = doc.get("previousAgentSnapshot") or {}
        queues = _voice_queues(now) or _voice_queues(before)
        if not queues:
            self._skip("agent_of_no_voice_queue")
            return None
        state, reason = _state(now)
        was, _ = _state(before) if before else ("offline", None)
        if etype == "LOGOUT" or state == "offline":
            if was == "offline" and etype != "LOGOUT":
                self._skip("offline_still")
                return None
            etype_out, fields = ev.AGENT_LOGOUT, {}
        elif etype == "LOGIN" or was == "offline":
            etype_out, fields = ev.AGENT_LOGIN, {"state": state, "reason": reason}
        else:
            etype_out, fields = ev.AGENT_STATE, {"state": state, "reason": reason}
        return [self._event(etype_out, ts, q, f"{event_id}|{q}", agent_id=agent, **fields)
                for q in queues]


def _voice_queues(snapshot: Mapping[str, Any]) -> list[str]:
    """The inbound voice queues of the agent's routing profile (not its own agent
    queue, which the admin guide shows with no name)."""
    profile = (snapshot.get("configuration") or {}).get("routingProfile") or {}
    out = []
    for queue in profile.get("inboundQueues") or []:
        arn = queue.get("aRN") or queue.get("arn") or ""
        channels = [str(c).upper() for c in queue.get("channels") or []]
        if arn and "VOICE" in channels and "/queue/agent/" not in arn:
            out.append(_id_of(arn))
    return sorted(set(out))


def _state(snapshot: Mapping[str, Any]) -> tuple[str, str | None]:
    """(schema state or "offline", reason) from an agent snapshot: a voice contact
    connected or on hold is on call, one ended is after-call work; else the status:
    ROUTABLE (Available) available, OFFLINE offline, any custom status not ready."""
    for contact in snapshot.get("contacts") or []:
        if str(contact.get("channel") or "").upper() != "VOICE":
            continue
        if contact.get("state") in _ON_CALL:
            return "on_call", None
        if contact.get("state") == "ENDED":
            return "acw", None
    status = snapshot.get("agentStatus") or {}
    name = str(status.get("name") or "")
    kind = str(status.get("type") or "").upper()
    if kind == "OFFLINE" or name == "Offline":
        return "offline", None
    if kind == "ROUTABLE" or name == "Available":
        return "available", None
    return "not_ready", name[:128] or None


def convert_records(records: Iterable[Mapping[str, Any] | str | bytes],
                    converter: Converter | None = None) -> Iterator[Event]:
    conv = converter or Converter()
    for record in records:
        yield from conv.feed(record)
