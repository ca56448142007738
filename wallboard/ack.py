"""The one-tap acknowledgement page (/ack/<link>), for the phone a floor manager carries.

The link (base/acklink.py) is the credential: signed for one alert, one recipient and
one level, it opens a page with what happened, the queue's figures now, who else was
told, and one button. The button is a POST carrying the page's CSRF token (Flask-WTF,
as on the console) and the same link; it acknowledges the open alert only while that
alert is still the one the link names and nobody has acknowledged it. Otherwise the
page says why: someone else acknowledged (who, when), the alert moved on or closed,
the link is expired or not one of ours.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, cast
from zoneinfo import ZoneInfo

import redis
from flask import Flask, Response, redirect, request
from flask_wtf.csrf import generate_csrf

from base.acklink import AckClaim, LinkError, read_link
from base.alertstore import OpenAlert, acknowledge, find_ticket_alert
from base.config import Settings
from base.i18n import lang_from_query
from base.keys import RedisKeys
from core.records import Snapshot
from wallboard.console import forged
from wallboard.pages import REDIS_TIMEOUT_S, render_page

__all__ = ["register_ack"]


def register_ack(server: Flask, settings: Settings, guarded: Any) -> None:
    """``guarded``: the console's lockout, so that guessing links is throttled too."""
    client = redis.Redis.from_url(settings.redis_url, decode_responses=True,
                                  socket_timeout=REDIS_TIMEOUT_S,
                                  socket_connect_timeout=REDIS_TIMEOUT_S)
    keys = RedisKeys(settings.redis_prefix)
    esc = settings.escalation

    def lang() -> str:
        return lang_from_query("?" + request.query_string.decode(errors="replace"))

    def claim_of(token: str) -> AckClaim | Response:
        try:
            return read_link(esc, token)
        except LinkError as exc:
            return render_page("ack.html", lang=lang(), state=f"link_{exc.reason}", alert=None,
                               claim=None, now=None, told=[], token="", link=token, status=403)

    @server.get("/ack/<token>")
    @guarded
    def ack_page(token: str) -> Response:
        claim = claim_of(token)
        if isinstance(claim, Response):
            return claim
        return _page(client, keys, claim, token, lang(), generate_csrf(), settings.zone)

    @server.post("/ack/<token>")
    @guarded
    def ack_post(token: str) -> Any:
        claim = claim_of(token)
        if isinstance(claim, Response):
            return claim
        refused = forged()
        if refused is not None:
            return refused
        ticket = find_ticket_alert(client, keys, claim["alert_id"])
        if ticket is not None and "ticket" in ticket:  # a complaint's alert: its own record
            acknowledge(client, keys, ticket["ticket"]["ticket_id"], claim["recipient"],
                        alert_id=claim["alert_id"], via=f"link (level {claim['level']})",
                        hash_key=keys.alerts_tickets)
        else:
            acknowledge(client, keys, claim["queue"], claim["recipient"],
                        alert_id=claim["alert_id"], via=f"link (level {claim['level']})")
        return redirect(f"/ack/{token}?lang={lang()}", code=303)


def _page(client: redis.Redis, keys: RedisKeys, claim: AckClaim, token: str, lang: str,
          csrf: str, zone: ZoneInfo) -> Response:
    if claim["alert_id"].startswith("ticket:"):  # core.tickets.ticket_alert's ids
        alert = find_ticket_alert(client, keys, claim["alert_id"])
        if alert is None:  # acknowledged long ago, or overtaken by the overdue alert
            return render_page("ack.html", lang=lang, state="ack_ticket_gone", alert=None,
                               claim=claim, now=None, told=[], token=csrf, link=token)
    else:
        raw = client.hget(keys.alerts_open, claim["queue"])
        alert = cast(OpenAlert, json.loads(cast(str, raw))) if raw else None
    if alert is None or alert.get("last_alert_id") != claim["alert_id"]:
        state = "moved" if alert is not None else "closed"
    else:
        state = "acked" if alert.get("acked_by") else "open"
    snap_raw = client.get(keys.snapshot(claim["queue"]))
    now = cast(Snapshot, json.loads(cast(str, snap_raw))) if snap_raw else None
    # Who was told about this alert: the audit trail's deliveries of it.
    entries = cast(list[tuple[str, dict[str, str]]], client.xrevrange(keys.alerts_audit, count=500))
    told = sorted({(f.get("recipient", ""), _service(f.get("channel", ""))) for _, f in entries
                   if f.get("what") == "notified" and f.get("alert_id") == claim["alert_id"]})
    acked_ms = alert.get("acked_ms") if alert else None
    acked_at = (datetime.fromtimestamp(acked_ms / 1000, zone).strftime("%H:%M:%S")
                if acked_ms else "")
    return render_page("ack.html", lang=lang, state=state, alert=alert, claim=claim, now=now,
                       told=told, token=csrf, link=token, acked_at=acked_at)


def _service(channel: str) -> str:
    """"apprise:dingtalk:0" -> "dingtalk"; "webhook", "email" as they are."""
    return channel.split(":")[1] if channel.startswith("apprise:") else channel
