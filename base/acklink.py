"""One-tap acknowledgement links: signed for one alert, one recipient, one level.

A floor manager's phone has no password for the board; the link is the credential.
It is an itsdangerous token (HMAC-SHA1 over the payload with the deployment's
``escalation.ack_link_secret``, a salt of its own, and its signing time), so a changed
character fails, a link signed with another key fails, and one older than
``ack_link_max_h`` fails. What it names is checked against the open alert when it is
used (wallboard/ack.py): a link for a step that is no longer the open one, or one
already acknowledged, acknowledges nothing.
"""

from __future__ import annotations

from typing import TypedDict

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from base.config import EscalationConfig

__all__ = ["AckClaim", "LinkError", "ack_url", "read_link", "sign_link"]

_SALT = "callboard.ack-link.v1"


class AckClaim(TypedDict):
    alert_id: str
    queue: str
    recipient: str
    level: int


class LinkError(Exception):
    """A link that acknowledges nothing: its reason is shown on the page."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason  # "tampered" or "expired"


def _serializer(esc: EscalationConfig) -> URLSafeTimedSerializer:
    if not esc.ack_link_secret:
        raise LinkError("off")
    return URLSafeTimedSerializer(esc.ack_link_secret, salt=_SALT)


def sign_link(esc: EscalationConfig, claim: AckClaim) -> str:
    return _serializer(esc).dumps([claim["alert_id"], claim["queue"], claim["recipient"],
                                   claim["level"]])


def ack_url(esc: EscalationConfig, claim: AckClaim, lang: str = "zh") -> str | None:
    """The link a message carries (its page in the recipient's language); None when the
    board's public address is not set."""
    if not esc.public_url or not esc.ack_link_secret:
        return None
    return f"{esc.public_url.rstrip('/')}/ack/{sign_link(esc, claim)}?lang={lang}"


def read_link(esc: EscalationConfig, token: str) -> AckClaim:
    """What a link names, if this deployment signed it within ``ack_link_max_h``."""
    try:
        alert_id, queue, recipient, level = _serializer(esc).loads(
            token, max_age=int(esc.ack_link_max_h * 3600))
    except SignatureExpired as exc:
        raise LinkError("expired") from exc
    except (BadSignature, ValueError, TypeError) as exc:
        raise LinkError("tampered") from exc
    return {"alert_id": str(alert_id), "queue": str(queue), "recipient": str(recipient),
            "level": int(level)}
