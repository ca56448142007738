"""HMAC signatures for what callboard sends (alert webhooks) and receives (the ticket
intake): HMAC-SHA256 of ``"<timestamp>.<body>"``, as Stripe and Slack sign theirs, so a
call replayed later or by someone else fails the check."""

from __future__ import annotations

import hashlib
import hmac
import re

__all__ = ["sign", "verify"]


def sign(secret: str, timestamp: str, body: bytes) -> str:
    signed = timestamp.encode() + b"." + body
    return "sha256=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def verify(secret: str, timestamp: str, body: bytes, signature: str, now_s: float,
           max_age_s: float = 300) -> str | None:
    """Why the signature does not hold, or None when it does."""
    # Whole seconds in ASCII digits only: float() would take "nan" (never too old, as
    # abs(nan) > limit is false), "inf", "1e9" or other scripts' digits.
    if not re.fullmatch(r"[0-9]{1,12}", timestamp):
        return "the timestamp is not a whole number of seconds"
    age = now_s - int(timestamp)
    if abs(age) > max_age_s:
        return f"the timestamp is {age:.0f} s off (at most {max_age_s:.0f} s)"
    if not hmac.compare_digest(sign(secret, timestamp, body), signature):
        return "the signature does not match"
    return None
