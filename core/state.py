"""The engine's stored records, typed, and the one codec for their keys.

Two kinds of record make up a shard's state (core/engine.py):

- ``MinuteBucket``, keyed by ``MinuteKey`` (queue, minute start in ms): what was
  counted for calls offered in that minute and agent time spent in it;
- ``LiveQueue``, keyed by queue name: what is true now (callers waiting, agents
  by state, the queue's newest event time).

Keys are tuples in memory; ``minute_key_text``/``parse_minute_key`` are the only
place they become text (the checkpoint document).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

from core import kpi

__all__ = ["ABANDONED", "ANSWERED", "DIGEST_BYTES", "LiveQueue", "MinuteBucket", "MinuteKey",
           "minute_key_text", "parse_minute_key"]

MinuteKey = tuple[str, int]  # (queue, minute start ms)

DIGEST_BYTES = 12  # an event id is remembered as this many bytes of BLAKE2b
ANSWERED, ABANDONED = 2, 1  # how a call left the queue (MinuteBucket.done)
# A call's other lifecycle steps (MinuteBucket.life), one bit each.
LIFE_OFFERED, LIFE_BLOCKED, LIFE_ENDED, LIFE_WRAPPED, LIFE_TRANSFERRED = 1, 2, 4, 8, 16
LOGGED_OUT = "logged_out"


def minute_key_text(key: MinuteKey) -> str:
    return f"{key[0]}|{key[1]}"


def parse_minute_key(text: str) -> MinuteKey:
    # Queue names cannot hold "|" (events.QUEUE_PATTERN), so the last one splits.
    queue, _, minute = text.rpartition("|")
    return queue, int(minute)


@dataclass(slots=True)
class MinuteBucket:
    """Calls offered in one queue's minute, and agent time spent in it.

    ``ids``: digests of the events counted here (a producer's duplicate is seen
    in the bucket its call belongs to). ``done``: calls of this minute that have
    left the queue (ANSWERED / ABANDONED), so an "offered" arriving after its own
    answer leaves no phantom caller. ``agents``: each agent's counters
    (kpi.AGENT_FIELDS). ``repeated``: answered calls already found repeated (B16).
    ``callers``: each call offered here with a caller -> (keyed hash of the caller,
    offered ms), from which the repeat-caller index is rebuilt after a restart. ``answered_ms``:
    when each answered call of this minute was answered (B16 counts from it).
    """

    counters: kpi.Counters = field(default_factory=kpi.new_counters)
    ids: set[bytes] = field(default_factory=set)
    done: dict[str, int] = field(default_factory=dict)
    # Each call's lifecycle steps counted here (LIFE_* bits): a second offer, end,
    # wrap-up or transfer of a call is not counted again (core/engine.py).
    life: dict[str, int] = field(default_factory=dict)
    agents: dict[str, list[int]] = field(default_factory=dict)
    repeated: set[str] = field(default_factory=set)
    callers: dict[str, tuple[str, int]] = field(default_factory=dict)  # call id -> (hash, ms)
    answered_ms: dict[str, int] = field(default_factory=dict)

    def to_doc(self) -> dict[str, Any]:
        return {
            "counters": self.counters,
            "ids": base64.b64encode(b"".join(sorted(self.ids))).decode(),
            "done": self.done,
            "life": self.life,
            "agents": self.agents,
            "repeated": sorted(self.repeated),
            "callers": {c: list(v) for c, v in self.callers.items()},
            "answered_ms": self.answered_ms,
        }

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> MinuteBucket:
        raw = base64.b64decode(doc["ids"])
        return cls(
            counters={**kpi.new_counters(), **doc["counters"]},
            ids={raw[i:i + DIGEST_BYTES] for i in range(0, len(raw), DIGEST_BYTES)},
            done=dict(doc["done"]),
            life=dict(doc.get("life", {})),  # older checkpoints have no call lifecycles
            agents={a: list(v) for a, v in doc["agents"].items()},
            repeated=set(doc["repeated"]),
            callers={c: (h, int(t)) for c, (h, t) in doc["callers"].items()},
            answered_ms=dict(doc["answered_ms"]),
        )


@dataclass(slots=True)
class LiveQueue:
    """What is true of one queue now: callers waiting (call id -> offered ms), agents
    (agent id -> [state, since ms]) and the newest event time seen for the queue; for
    the supervisor's drill-down, the waiting callers' numbers masked to their last
    digits, and the last calls abandoned ([abandoned ms, call id, waited ms or None,
    masked number]), oldest first."""

    waiting: dict[str, int] = field(default_factory=dict)
    agents: dict[str, list[Any]] = field(default_factory=dict)
    newest_ms: int = 0
    callers: dict[str, str] = field(default_factory=dict)
    abandoned: list[list[Any]] = field(default_factory=list)

    def to_doc(self) -> dict[str, Any]:
        return {"waiting": self.waiting, "agents": self.agents, "newest_ms": self.newest_ms,
                "callers": self.callers, "abandoned": self.abandoned}

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> LiveQueue:
        # Older checkpoints have neither callers nor abandoned calls.
        return cls(waiting=dict(doc["waiting"]),
                   agents={a: list(v) for a, v in doc["agents"].items()},
                   newest_ms=int(doc["newest_ms"]),
                   callers=dict(doc.get("callers", {})),
                   abandoned=[list(a) for a in doc.get("abandoned", [])])
