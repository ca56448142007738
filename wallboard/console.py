"""The floor managers' console (/console on the board's server): open alerts, acknowledge.

HTTP Basic authentication against ``escalation.users_file`` (TOML, ``[users]
name = "<hash>"``, hashes made by ``callboard hash-password``). Without a users
file the console shows alerts but refuses acknowledgements.
"""

from __future__ import annotations

import html
import json
import time
import tomllib
from typing import Any, cast

import redis
from flask import Flask, Response, redirect, request
from werkzeug.security import check_password_hash

from callboard.alertstore import acknowledge
from callboard.config import Settings
from callboard.keys import RedisKeys

__all__ = ["register_console"]


def _users(settings: Settings) -> dict[str, str]:
    path = settings.escalation.users_file
    if path is None:
        return {}
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    return {str(k): str(v) for k, v in data.get("users", {}).items()}


def register_console(server: Flask, settings: Settings) -> None:
    client = redis.Redis.from_url(settings.redis_url, decode_responses=True, socket_timeout=2)
    keys = RedisKeys(settings.redis_prefix)
    users = _users(settings)

    def user() -> str | None:
        auth = request.authorization
        if auth is None or not auth.username or auth.username not in users:
            return None
        return auth.username if check_password_hash(users[auth.username], auth.password or "") \
            else None

    def challenge() -> Response:
        return Response("authentication required", 401,
                        {"WWW-Authenticate": 'Basic realm="callboard console"'})

    @server.get("/console")
    def console() -> Any:
        name = user()
        if name is None:
            return challenge()
        opened = cast(dict[str, str], client.hgetall(keys.alerts_open))
        alerts = [json.loads(v) for v in opened.values()]
        rows = []
        for a in sorted(alerts, key=lambda a: a["queue"]):
            acked = (f"{html.escape(a['acked_by'])}" if a.get("acked_by") else
                     f'<form method="post" action="/console/ack/{html.escape(a["queue"])}">'
                     '<button>确认 / Acknowledge</button></form>')
            rung = a["rung"]
            rows.append(
                f'<tr id="open-{html.escape(a["queue"])}"><td>{html.escape(a["queue"])}</td>'
                f'<td>{a["step"]}</td><td>{html.escape(rung["name_zh"])}<br>'
                f'{html.escape(rung["name_en"])}</td><td>{html.escape(rung["action_zh"])}<br>'
                f'{html.escape(rung["action_en"])}</td><td>{a["waiting"]}</td>'
                f'<td>{html.escape(a["event_time"])}</td><td>{a["level"]}</td><td>{acked}</td></tr>')
        trail = cast(list[tuple[str, dict[str, str]]], client.xrevrange(keys.alerts_audit, count=30))
        audit_rows = "".join(
            f"<tr><td>{time.strftime('%H:%M:%S', time.localtime(int(f['at_ms']) / 1000))}</td>"
            f"<td>{html.escape(' '.join(f'{k}={v}' for k, v in f.items() if k != 'at_ms' and v))}"
            "</td></tr>" for _, f in trail)
        page = f"""<!doctype html><html><head><meta charset="utf-8">
<meta http-equiv="refresh" content="5"><title>callboard console</title>
<link rel="stylesheet" href="/assets/board.css"></head><body class="console">
<h1>升级告警 / Open escalations <small>{html.escape(name)}</small></h1>
<table class="kpi-table"><tr><th>队列 Queue</th><th>步 Step</th><th>名称 Step name</th>
<th>措施 Action</th><th>排队 Waiting</th><th>时间 Since</th><th>级别 Level</th>
<th>确认 Ack</th></tr>{''.join(rows) or '<tr><td colspan="8">—</td></tr>'}</table>
<h2>审计记录 / Audit trail</h2><table class="kpi-table">{audit_rows}</table></body></html>"""
        return Response(page, 200, {"Content-Type": "text/html; charset=utf-8"})

    @server.post("/console/ack/<queue>")
    def ack(queue: str) -> Any:
        name = user()
        if name is None:
            return challenge()
        if not acknowledge(client, keys, queue, name):
            return Response("no open alert for that queue", 404)
        return redirect("/console", code=303)
