"""/replay on the board's server: the replay sessions, a form to start one, their
controls, and each one's incident report (docs/review.md).

Anyone who can see the board sees the list and watches a session; starting one,
moving it and building its report are for the console's users (the same sign-in,
CSRF token, Origin check and lockout: wallboard/console.py), because a replay and a
report each cost a CPU for seconds to minutes. A session runs as its own process
(``callboard replay``), so a board worker never computes one; at most
``_MAX_RUNNING`` play at once.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any, cast

import redis
from flask import Flask, Response, redirect, request, send_file
from flask_wtf.csrf import generate_csrf

from base.config import Settings
from base.keys import SESSION_NAME, RedisKeys, ReplaySession, replay_prefix
from wallboard.console import NO_USERS, Gate
from wallboard.pages import REDIS_TIMEOUT_S, render_page

__all__ = ["register_review"]

_MAX_RUNNING = 3
_SOURCES = ("archive", "kafka")  # no server paths from a web form
_SPEEDS = ("max", "1", "10", "60", "300")
_REPORT_TIMEOUT_S = 300


def register_review(server: Flask, settings: Settings, gate: Gate) -> None:
    client = redis.Redis.from_url(settings.redis_url, decode_responses=True,
                                  socket_timeout=REDIS_TIMEOUT_S,
                                  socket_connect_timeout=REDIS_TIMEOUT_S)
    keys = RedisKeys(settings.redis_prefix)

    def sessions() -> list[ReplaySession]:
        raw = cast(dict[str, str], client.hgetall(keys.replay_sessions))
        found = [cast(ReplaySession, json.loads(v)) for v in raw.values()]  # review/replay.py's
        # A session whose keys expired is gone from the list too.
        ttl_ms = settings.replay_ttl_h * 3_600_000
        now = time.time() * 1000
        return sorted((s for s in found if now - s.get("updated_ms", 0) < ttl_ms),
                      key=lambda s: -s.get("started_ms", 0))

    @server.get("/replay")
    @gate.guarded
    def listing() -> Any:
        name = gate.user() if gate.users else None
        if gate.users and name is None:
            return gate.challenge()
        can_act = name is not None and gate.may(name, "supervisor")
        return _page(settings, sessions(), name, generate_csrf() if can_act else "", _lang(),
                     can_act)

    @server.post("/replay/start")
    @gate.posted
    def start(_name: str) -> Any:
        form = request.form
        session, source, speed = form.get("session", ""), form.get("source", ""), \
            form.get("speed", "max")
        if not SESSION_NAME.fullmatch(session) or source not in _SOURCES or speed not in _SPEEDS:
            return Response("refused: session 1-40 of A-Z a-z 0-9 _ -; source archive or "
                            "kafka; speed one of " + ", ".join(_SPEEDS), 400)
        try:
            frm, to = _time(form.get("from", ""), settings), _time(form.get("to", ""), settings)
        except ValueError:
            return Response("refused: from and to are ISO 8601 times (2026-01-05T09:00)", 400)
        if to <= frm:
            return Response("refused: to must be after from", 400)
        if sum(s.get("status") in ("running", "paused") for s in sessions()) >= _MAX_RUNNING:
            return Response(f"refused: {_MAX_RUNNING} sessions are playing; wait or let one "
                            "finish", 429)
        # The replay reports itself in the sessions hash; its output goes to a log.
        log = Path(tempfile.gettempdir()) / f"callboard-replay-{session}.log"
        with log.open("ab") as out:
            subprocess.Popen(  # fixed argv, validated values
                [sys.executable, "-m", "callboard.cli", "replay", "--from", _iso(frm, settings),
                 "--to", _iso(to, settings), "--source", source, "--speed", speed,
                 "--session", session], stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True)
        return redirect(f"/replay?lang={_lang()}", code=303)

    @server.post("/replay/<session>/control")
    @gate.posted
    def control(_name: str, session: str) -> Any:
        if not SESSION_NAME.fullmatch(session):
            return Response("no such session", 404)
        key = RedisKeys(replay_prefix(settings.redis_prefix, session)).session_control
        action = request.form.get("action", "")
        if action in ("pause", "play"):
            client.hset(key, "paused", "1" if action == "pause" else "0")
        elif action == "speed" and request.form.get("speed", "") in _SPEEDS[1:]:
            client.hset(key, "speed", request.form["speed"])
        elif action == "jump":
            try:
                client.hset(key, "jump_ms", str(_time(request.form.get("at", ""), settings)))
            except ValueError:
                return Response("refused: jump to an ISO 8601 time", 400)
        else:
            return Response("refused: action pause, play, speed or jump", 400)
        return redirect(f"/replay?lang={_lang()}", code=303)

    @server.get("/replay/<session>/report")
    @gate.guarded
    def report(session: str) -> Any:
        if not gate.users:
            return Response(NO_USERS, 403)
        if gate.user() is None:
            return gate.challenge()
        state = next((s for s in sessions() if s.get("name") == session), None)
        if state is None or state.get("source") not in _SOURCES:
            return Response("no such session (or its source was a file on the server)", 404)
        lang = "en" if request.args.get("lang") == "en" else "zh"
        out = Path(tempfile.mkdtemp(prefix=f"callboard-report-{session}-"))
        done = subprocess.run(  # fixed argv, values from the session's own state
            [sys.executable, "-m", "callboard.cli", "incident-report",
             "--from", _iso(state["from_ms"], settings), "--to", _iso(state["to_ms"], settings),
             "--source", state["source"], "--out", str(out), "--lang", lang],
            capture_output=True, text=True, timeout=_REPORT_TIMEOUT_S)
        if done.returncode != 0:
            return Response(f"the report failed: {done.stderr[-500:]}", 500)
        return send_file(out / "report.html", as_attachment=True,
                         download_name=f"incident-{session}-{lang}.html")


def _time(text: str, settings: Settings) -> int:
    dt = datetime.fromisoformat(text)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=settings.zone)
    return int(dt.timestamp() * 1000)


def _iso(ms: int, settings: Settings) -> str:
    return datetime.fromtimestamp(ms / 1000, settings.zone).isoformat(timespec="milliseconds")


def _clock(ms: int | None, settings: Settings) -> str:
    if not ms:
        return ""
    return datetime.fromtimestamp(ms / 1000, settings.zone).strftime("%Y-%m-%d %H:%M:%S")


def _lang() -> str:
    """One language at a time on a phone: ?lang=en, else Chinese."""
    return "en" if request.args.get("lang") == "en" else "zh"


def _page(settings: Settings, sessions: list[ReplaySession], name: str | None, token: str,
          lang: str, can_act: bool = False) -> Response:
    return render_page("replay.html", name=name, token=token, sessions=sessions, lang=lang,
                       can_act=can_act,
                       sources=_SOURCES, speeds=_SPEEDS, no_users=NO_USERS,
                       clock=lambda ms: _clock(ms, settings))
