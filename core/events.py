"""ACD event schema v1: the one shape every producer writes and every consumer reads.

Events are flat JSON objects. docs/events.md is the reference; this module is
the executable form of it. Validation is hand-written rather than a model
library because the worker runs it on every event and it must stay cheap.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import unicodedata
from collections.abc import Mapping
from typing import Any, cast

from core.records import Event

__all__ = [
    "AGENT_STATES",
    "AGENT_TYPES",
    "CALL_TYPES",
    "SCHEMA_VERSION",
    "TICKET_TYPES",
    "EventError",
    "MAX_EVENT_BYTES",
    "MAX_NESTING",
    "attribution_ms",
    "dumps",
    "keyed",
    "nested_deeper_than",
    "parse",
    "queue_name_problem",
    "validate",
]

SCHEMA_VERSION = 1

CALL_OFFERED = "call.offered"  # entered the ACD queue, asking for an agent
CALL_ANSWERED = "call.answered"  # an agent picked up
CALL_ABANDONED = "call.abandoned"  # the caller hung up before an answer
CALL_ENDED = "call.ended"  # the conversation ended (talk and hold time)
CALL_WRAPPED_UP = "call.wrapped_up"  # the agent finished after-call work for it
CALL_TRANSFERRED = "call.transferred"  # the agent passed it on
CALL_BLOCKED = "call.blocked"  # rejected before queueing: all trunks busy
AGENT_LOGIN = "agent.login"
AGENT_LOGOUT = "agent.logout"
AGENT_STATE = "agent.state"

AGENT_STATES = ("available", "on_call", "acw", "not_ready")
# Tickets and surveys (manual lines 501-531; core/tickets.py counts them).
TICKET_OPENED = "ticket.opened"
TICKET_REPLIED = "ticket.replied"
TICKET_RESOLVED = "ticket.resolved"
TICKET_REOPENED = "ticket.reopened"
SURVEY_ANSWERED = "survey.answered"
TICKET_KINDS = ("consultation", "complaint")

_COMMON = {"v": int, "event_id": str, "type": str, "ts_ms": int, "queue": str, "source": str}
# Fields each type must carry beyond the common ones. Every call event after
# "offered" repeats the call's offered time, so any single event can be put in
# the interval its call belongs to without a join (docs/events.md).
_REQUIRED: dict[str, dict[str, type]] = {
    CALL_OFFERED: {"call_id": str},
    CALL_BLOCKED: {"call_id": str},
    CALL_ANSWERED: {"call_id": str, "agent_id": str, "offered_ms": int, "wait_ms": int},
    CALL_ABANDONED: {"call_id": str, "offered_ms": int, "wait_ms": int},
    CALL_ENDED: {"call_id": str, "agent_id": str, "offered_ms": int, "talk_ms": int,
                 "hold_ms": int},
    CALL_WRAPPED_UP: {"call_id": str, "agent_id": str, "offered_ms": int, "acw_ms": int},
    CALL_TRANSFERRED: {"call_id": str, "agent_id": str, "offered_ms": int},
    AGENT_LOGIN: {"agent_id": str},
    AGENT_LOGOUT: {"agent_id": str},
    AGENT_STATE: {"agent_id": str, "state": str},
    TICKET_OPENED: {"ticket_id": str, "kind": str},
    TICKET_REOPENED: {"ticket_id": str, "repeat_of": str},
    TICKET_REPLIED: {"ticket_id": str},
    TICKET_RESOLVED: {"ticket_id": str},
    SURVEY_ANSWERED: {},
}
_OPTIONAL: dict[str, type] = {
    "to_queue": str, "reason": str, "caller": str, "ring_ms": int, "state": str,
    "ticket_id": str, "kind": str, "level": int, "promised_ms": int, "owner": str,
    "repeat_of": str, "score": int, "caller_tail": str,
}
_FLAGS = ("key_account", "cross_province", "satisfied")  # true or false, nothing else
# Every field the code reads from some type, with its kind: checked on every event
# that carries it, whatever its type, so an extra "wait_ms": [] on a call.offered
# is refused instead of reaching a comparison.
_KNOWN: dict[str, type] = {
    "wait_ms": int, "talk_ms": int, "hold_ms": int, "acw_ms": int, "offered_ms": int,
    "call_id": str, "agent_id": str,
}
_KINDS = {**_OPTIONAL, **_KNOWN}
# Ids and names: kept short and printable (they become keys, topic keys and HTML).
_IDS = frozenset(("event_id", "queue", "call_id", "agent_id", "source", "caller", "to_queue",
                  "reason", "ticket_id", "owner", "repeat_of"))
CALL_TYPES = frozenset(t for t in _REQUIRED if t.startswith("call."))
TICKET_TYPES = frozenset(t for t in _REQUIRED if t.startswith(("ticket.", "survey.")))
AGENT_TYPES = frozenset(t for t in _REQUIRED if t.startswith("agent."))
_DURATIONS = ("wait_ms", "talk_ms", "hold_ms", "acw_ms", "ring_ms")
# Plausible event times: 2000-01-01 .. 2100-01-01 UTC. Anything else is a unit
# mistake (seconds or microseconds instead of milliseconds).
_MIN_TS_MS = 946_684_800_000
_MAX_TS_MS = 4_102_444_800_000
_MAX_ID = 128
_TAIL = re.compile(r"[0-9]{1,4}")
# Ids become Redis keys, topic keys and HTML: a queue name is any printable name in
# any script (queue_name_problem), other ids may be anything printable but stay short.
# QUEUE_PATTERN is the plain ASCII form that Redis keys take as it is (base/keys.py).
QUEUE_PATTERN = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_QUEUE_MAX = 64
# Characters a queue name may not hold: they split keys ("|": minute keys), paths and
# URLs ("/", "\\", "?", "#", "%") or markup ("<", ">", "&", quotes, backtick).
_QUEUE_FORBIDDEN = frozenset('|/\\?#%<>&"\'`')
# Control characters (C0, DEL, C1) and the bidi controls that make "\u202egnp.exe" read
# as "exe.png" on a page: an id must show as what it is.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
# A real event is a few hundred bytes; anything this large is not one, and
# decoding it (or a deeply nested one) would cost the worker more than the event.
MAX_EVENT_BYTES = 16_384
MAX_NESTING = 8
# No duration is longer than a week, no hold longer than a day: bigger values are
# unit mistakes or garbage, and unbounded ints overflow JSON floats downstream.
_MAX_DURATION_MS = 7 * 86_400_000


class EventError(ValueError):
    """An event that cannot be used; ``reason`` is a short stable code for counting."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def parse(raw: bytes | str) -> Event:
    """Decode and validate one wire event; raises EventError, never anything else."""
    if len(raw) > MAX_EVENT_BYTES:
        raise EventError("too_large", f"{len(raw)} bytes, at most {MAX_EVENT_BYTES}")
    if _too_deep(raw):
        raise EventError("too_deep", f"nested deeper than {MAX_NESTING}")
    try:
        obj = json.loads(raw, parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise EventError("malformed_json", str(exc)[:200]) from exc
    if not isinstance(obj, dict):
        raise EventError("not_an_object", f"got {type(obj).__name__}")
    return validate(obj)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number an event may carry")


def _too_deep(raw: bytes | str) -> bool:
    return nested_deeper_than(raw, MAX_NESTING)


def nested_deeper_than(raw: bytes | str, limit: int) -> bool:
    """Bracket depth above ``limit``, counted without parsing (a parser would recurse
    into it first). Strings may hold brackets: then it over-counts, which only matters
    for documents nobody sends."""
    data = raw.encode() if isinstance(raw, str) else raw
    depth = 0
    for byte in data.translate(None, _NOT_BRACKETS):
        depth += 1 if byte in b"[{" else -1
        if depth > limit:
            return True
    return False


_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def queue_name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a queue's name, or None. Any script (家庭业务, 投诉处理专席,
    Ödeme): 1-64 characters, in NFC (the same name typed two ways is one queue),
    printable (no control, format or bidi characters, no line or paragraph
    separators), no space at either end and none of | / \\ ? # % < > & " ' `."""
    if not 0 < len(name) <= _QUEUE_MAX:
        return f"a queue name is 1-{_QUEUE_MAX} characters"
    if unicodedata.normalize("NFC", name) != name:
        return "a queue name must be in Unicode NFC"
    if name != name.strip():
        return "a queue name may not begin or end with a space"
    for ch in name:
        if ch in _QUEUE_FORBIDDEN:
            return f"a queue name may not hold {ch!r}"
        if unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"):
            return f"a queue name may not hold U+{ord(ch):04X} (not printable)"
    return None


@functools.lru_cache(maxsize=4096)
def _queue_name(value: str) -> tuple[str, str | None]:
    """A queue name in NFC, and what is wrong with it: asked for every event, of a few
    names (its character check was a tenth of a replay's fold)."""
    value = unicodedata.normalize("NFC", value)
    return value, queue_name_problem(value)


def validate(obj: Mapping[str, Any]) -> Event:
    """Check an event against schema v1 (the JSON edge: anything in) and return it as an
    Event, a plain dict."""
    version = obj.get("v")
    if version != SCHEMA_VERSION:
        raise EventError("unknown_version", f"v={version!r}, this build reads v1")
    etype = obj.get("type")
    required = _REQUIRED.get(etype) if isinstance(etype, str) else None
    if required is None:
        raise EventError("unknown_type", f"type={etype!r}")
    for fields in (_COMMON, required):
        for name, kind in fields.items():
            value = obj.get(name)
            if value is None:
                raise EventError("missing_field", f"{etype} needs {name!r}")
            # bool is an int subclass; True is never a valid duration or time.
            if not isinstance(value, kind) or isinstance(value, bool):
                raise EventError("bad_field", f"{name!r} must be {kind.__name__}")
    # The fields the event carries, each checked once (an event has a few of the many
    # fields the schema knows; asking for each known one was a tenth of a replay's fold).
    for name, value in obj.items():
        if name in _FLAGS and not isinstance(value, bool):
            raise EventError("bad_field", f"{name!r} must be true or false")
        if value is None:
            continue
        known = _KINDS.get(name)
        if known is not None and (not isinstance(value, known) or isinstance(value, bool)):
            raise EventError("bad_field", f"{name!r} must be {known.__name__}")
        if name in _IDS and isinstance(value, str) and (
                not 0 < len(value) <= _MAX_ID or _CONTROL.search(value)):
            raise EventError("bad_field", f"{name!r} must be 1-{_MAX_ID} printable characters")
    tail = obj.get("caller_tail")
    if tail is not None and not _TAIL.fullmatch(tail):
        raise EventError("bad_field", "'caller_tail' must be 1-4 digits (no more of a number)")
    normal: dict[str, str] = {}
    for name in ("queue", "to_queue"):
        value = obj.get(name)
        if value is None:
            continue
        value, problem = _queue_name(value)
        if problem:
            raise EventError("bad_field", f"{name!r}: {problem}")
        normal[name] = value
    ts = obj["ts_ms"]
    if not _MIN_TS_MS <= ts <= _MAX_TS_MS:
        raise EventError("bad_time", f"ts_ms={ts} is not epoch milliseconds in 2000-2100")
    for name in _DURATIONS:
        value = obj.get(name)
        if value is not None and not 0 <= value <= _MAX_DURATION_MS:
            raise EventError("bad_field", f"{name!r}={value!r:.40} is not 0 ms to 7 days")
    offered = obj.get("offered_ms")
    if offered is not None and not _MIN_TS_MS <= offered <= ts:
        raise EventError("bad_time", f"offered_ms={offered} is after ts_ms={ts} or implausible")
    state = obj.get("state")
    if etype in AGENT_TYPES and state is not None and state not in AGENT_STATES:
        raise EventError("bad_field", f"state={state!r}, expected one of {AGENT_STATES}")
    if etype in TICKET_TYPES:
        _check_ticket(etype, obj)
    return cast(Event, {**obj, **normal})  # checked field by field above


def _check_ticket(etype: str, obj: Mapping[str, Any]) -> None:
    """What a ticket or survey event must say beyond its fields' kinds (docs/events.md)."""
    kind, level = obj.get("kind"), obj.get("level")
    if etype == TICKET_OPENED and kind not in TICKET_KINDS:
        raise EventError("bad_field", f"kind={kind!r}, expected one of {TICKET_KINDS}")
    if level is not None and not 1 <= level <= 4:
        raise EventError("bad_field", f"level={level!r:.20}, expected 1-4 (manual lines 503-506)")
    if etype == TICKET_OPENED and kind == "complaint" and level is None:
        raise EventError("missing_field", "a complaint needs its 'level' (1-4)")
    promised = obj.get("promised_ms")
    if promised is not None and not obj["ts_ms"] <= promised <= _MAX_TS_MS:
        raise EventError("bad_time", f"promised_ms={promised} is before ts_ms or implausible")
    if etype == SURVEY_ANSWERED:
        if obj.get("ticket_id") is None and obj.get("call_id") is None:
            raise EventError("missing_field", "a survey needs 'ticket_id' or 'call_id'")
        score = obj.get("score")
        if obj.get("satisfied") is None and score is None:
            raise EventError("missing_field", "a survey needs 'satisfied' or 'score'")
        if score is not None and not 0 <= score <= 10:
            raise EventError("bad_field", f"score={score!r:.20}, expected 0-10")


def attribution_ms(event: Event) -> int:
    """The time an event is counted at: its call's offered time, else its own time.

    A call belongs to the interval in which it was offered (docs/kpis.md), so
    an answer at 10:30:05 for a call offered at 10:29:50 counts in 10:00-10:30.
    """
    offered = event.get("offered_ms")
    return int(offered) if offered is not None else int(event["ts_ms"])


def keyed(id_prefix: str, source: str, etype: str, ts_ms: int, queue: str, key: str,
          **fields: Any) -> Event:
    """An ACD converter's event, its id a digest of ``key`` (the call and the kind of
    event, say): the same story told twice is the same event and counts once. Fields
    given as None are left out; the worker validates the rest."""
    digest = hashlib.blake2b(key.encode(), digest_size=12).hexdigest()
    event = {"v": SCHEMA_VERSION, "event_id": f"{id_prefix}-{digest}", "type": etype,
             "ts_ms": ts_ms, "queue": queue, "source": source}
    event.update({k: v for k, v in fields.items() if v is not None})
    return cast(Event, event)


def dumps(event: Mapping[str, object]) -> bytes:
    """Canonical wire form: compact JSON, keys sorted, UTF-8."""
    return json.dumps(event, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode()
