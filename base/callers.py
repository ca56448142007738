"""A caller's number never leaves the edge in the clear.

Every producer (the simulator, the Asterisk converter and follower, the CRM export,
the ticket intake, a recorded log published) replaces an event's ``caller`` with a
keyed hash before anything is published or written, and keeps at most the last four
digits in ``caller_tail`` for the supervisor's drill-down. A wallboard never needs
the number: repeat callers (B16) are told apart by the hash, which is the same for
the same number under one deployment's key (``caller_hash_key``) and useless to
anyone without it. HMAC-SHA256, 128 bits kept, marked ``h1:`` so that hashing twice
changes nothing (a value with the mark is never a phone number).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from typing import Any

__all__ = ["HASHED", "caller_hash", "protect"]

HASHED = "h1:"
_KEEP = re.compile(r"[^0-9+*#A-Za-z]")  # spaces, dashes, dots, brackets: not the number


def caller_hash(number: str, key: str) -> str:
    """The number's keyed hash (already hashed: as it is)."""
    if number.startswith(HASHED):
        return number
    plain = _KEEP.sub("", number) or number
    digest = hmac.new(key.encode(), plain.encode(), hashlib.sha256).hexdigest()
    return HASHED + digest[:32]


def protect(event: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    """The event with its caller hashed and the last 4 digits kept apart; an event with
    no caller, or one already hashed, as it is."""
    number = event.get("caller")
    if not isinstance(number, str) or not number or number.startswith(HASHED):
        return event
    digits = re.sub(r"[^0-9]", "", number)
    out = {**event, "caller": caller_hash(number, key)}
    if digits:
        out["caller_tail"] = digits[-4:]
    else:
        out.pop("caller_tail", None)
    return out
