"""The floor managers' console (/console on the board's server): open alerts, acknowledge.

HTTP Basic authentication against ``escalation.users_file`` (TOML, ``[users]
name = "<hash>"``, hashes made by ``callboard hash-password``). Without a users
file the console shows the open alerts and says that acknowledging is off.

Hardened against other sites and guessing (docs/escalation.md):
- an acknowledgement needs the page's CSRF token (Flask-WTF, signed into the
  session cookie) and, when the browser sends one, an Origin (or Referer) of
  this server: a page elsewhere cannot submit it with the user's credentials;
- after ``console_max_failures`` wrong passwords a user is locked out from that
  address for ``console_lockout_min`` (and from everywhere after four times that; an
  address for every user after ten times), the right password included; counted in
  Redis by Flask-Limiter so every board process and every guarded page agree, and
  only requests that offered credentials count;
- an unknown user costs a password check as a known one does, so response
  times do not tell which names exist.
"""

from __future__ import annotations

import functools
import json
import secrets
import time
import tomllib
from typing import Any, cast
from urllib.parse import urlsplit

import redis
from flask import Flask, Response, redirect, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_wtf.csrf import CSRFError, generate_csrf, validate_csrf
from werkzeug.security import check_password_hash, generate_password_hash

from base.alertstore import acknowledge, ticket_alerts
from base.config import Settings
from base.i18n import PAGES
from base.keys import RedisKeys
from wallboard.pages import REDIS_TIMEOUT_S, render_page

__all__ = ["NO_USERS", "ROLES", "Gate", "forged", "guard_supervisor", "register_console"]


# What each role may do, the lowest first (docs/operations.md#security): a viewer reads
# the supervisor page, /displays, the console and the replays; a supervisor also
# acknowledges alerts and starts and steers replays; an admin may do all of it.
ROLES = ("viewer", "supervisor", "admin")


def _users(settings: Settings) -> tuple[dict[str, str], dict[str, str]]:
    """(name -> password hash, name -> role). ``[users]`` takes ``name = "<hash>"`` (a
    supervisor, as before roles) or ``name = { password = "<hash>", role = "viewer" }``.
    A role that is not one of ROLES stops the board at start-up."""
    path = settings.escalation.users_file
    if path is None:
        return {}, {}
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    hashes, roles = {}, {}
    for name, entry in data.get("users", {}).items():
        if isinstance(entry, dict):
            role = str(entry.get("role", "supervisor"))
            if role not in ROLES or "password" not in entry:
                raise ValueError(f"{path}: users.{name}: give password and a role of "
                                 f"{', '.join(ROLES)} (got role {role!r})")
            hashes[str(name)], roles[str(name)] = str(entry["password"]), role
        else:
            hashes[str(name)], roles[str(name)] = str(entry), "supervisor"
    return hashes, roles


# Checked for an unknown user, so that a miss costs what a hit does.
_DUMMY_HASH = generate_password_hash(secrets.token_hex(16))


class Gate:
    """Who may change something from the board's server (acknowledge, start a replay):
    a user of the users file, through a same-origin POST carrying the page's CSRF
    token, within the lockout limits."""

    def __init__(self, server: Flask, settings: Settings) -> None:
        self.users, self.roles = _users(settings)
        esc = settings.escalation
        server.config["SECRET_KEY"] = esc.console_secret_key or secrets.token_hex(32)
        server.config["WTF_CSRF_TIME_LIMIT"] = 8 * 3600  # a shift with the console open
        # A Redis that does not answer must not hold a serving thread for long (the
        # walls share them); the limiter then fails closed: no sign-in it cannot count
        # (wallboard/server.py answers 503).
        self.limiter = Limiter(get_remote_address, app=server, storage_uri=settings.redis_url,
                               key_prefix=f"{settings.redis_prefix}:console-limits",
                               strategy="fixed-window", swallow_errors=False,
                               # limits hands these to redis-py (floats; typed str | int)
                               storage_options=cast(dict[str, str | int], {
                                   "socket_timeout": REDIS_TIMEOUT_S,
                                   "socket_connect_timeout": REDIS_TIMEOUT_S}))
        self.max_failures, self.window_min = esc.console_max_failures, esc.console_lockout_min

    def user(self) -> str | None:
        auth = request.authorization
        if auth is None or not auth.username:
            return None
        known = self.users.get(auth.username)
        ok = check_password_hash(known or _DUMMY_HASH, auth.password or "")
        return auth.username if known is not None and ok else None

    def may(self, name: str | None, role: str) -> bool:
        """Whether the signed-in ``name`` holds ``role`` or a higher one."""
        held = self.roles.get(name or "")
        return held is not None and ROLES.index(held) >= ROLES.index(role)

    def reader(self) -> Response | None:
        """None when this request may read a signed-in page (any role; or no users file,
        where the pages stay open read-only); else the sign-in challenge."""
        if not self.users or self.user() is not None:
            return None
        return self.challenge()

    @staticmethod
    def challenge() -> Response:
        return Response("authentication required", 401,
                        {"WWW-Authenticate": 'Basic realm="callboard console"'})

    def guarded(self, view: Any) -> Any:
        """Wrong passwords lock out, across every guarded page alike (one counter per
        key, whatever the page): the user from that address after
        ``console_max_failures``, the user from anywhere after four times that (one
        account guessed from many addresses), the address for any user after ten times
        that (many accounts sprayed from one address). Only a request that offered
        credentials and failed counts: a browser's first, anonymous visit is answered
        with the sign-in challenge and never counts, so nobody can lock everyone out."""
        esc_max, window = self.max_failures, self.window_min

        def failed(response: Response) -> bool:
            auth = request.authorization
            return response.status_code == 401 and auth is not None and bool(auth.username)

        def offered() -> str | None:
            auth = request.authorization
            return auth.username if auth is not None and auth.username else None

        def pair_key() -> str:
            name = offered()
            return f"pair:{name}@{get_remote_address()}" if name else "anonymous"

        def user_key() -> str:
            name = offered()
            return f"user:{name}" if name else "anonymous"

        def address_key() -> str:
            return f"address:{get_remote_address()}" if offered() else "anonymous"

        for scope, key, times in (("signin-pair", pair_key, esc_max),
                                  ("signin-user", user_key, 4 * esc_max),
                                  ("signin-address", address_key, 10 * esc_max)):
            view = self.limiter.shared_limit(f"{times} per {window} minutes", scope=scope,
                                             key_func=key, deduct_when=failed)(view)
        return view

    def posted(self, view: Any) -> Any:
        """A POST view, called with who makes it (``view(name, **url_args)``) once
        ``post_user`` lets it through; the refusal otherwise."""
        @functools.wraps(view)
        def checked(**url_args: Any) -> Any:
            name = self.post_user()
            if isinstance(name, Response):
                return name
            return view(name, **url_args)

        return self.guarded(checked)

    def post_user(self) -> str | Response:
        """Who makes this POST (signed in as a supervisor or admin, same origin, valid
        token), or the refusal."""
        if not self.users:
            return Response(NO_USERS, 403)
        name = self.user()
        if name is None:
            return self.challenge()
        if not self.may(name, "supervisor"):
            return Response("refused: a viewer may look, not act (role supervisor needed)", 403)
        return forged() or name


def forged() -> Response | None:
    """The refusal of a POST another site could have made (its Origin, or no valid CSRF
    token of this page's), or None when it is this server's own page posting."""
    if not _same_origin():
        return Response("cross-site request refused", 403)
    try:
        validate_csrf(request.form.get("csrf_token", ""))
    except CSRFError as exc:
        return Response(f"refused: {exc.description}", 403)
    except Exception as exc:  # noqa: BLE001  # flask-wtf raises ValidationError too
        return Response(f"refused: {exc}", 403)
    return None


def _same_origin() -> bool:
    # Browsers send Origin on a cross-site POST; Referer where they do not.
    claimed = request.headers.get("Origin") or request.headers.get("Referer")
    if not claimed:
        return True  # no browser claim to check (the CSRF token still is)
    parts = urlsplit(claimed)
    return f"{parts.scheme}://{parts.netloc}" == request.host_url.rstrip("/")


def register_console(server: Flask, settings: Settings) -> Gate:
    client = redis.Redis.from_url(settings.redis_url, decode_responses=True,
                                  socket_timeout=REDIS_TIMEOUT_S,
                                  socket_connect_timeout=REDIS_TIMEOUT_S)
    keys = RedisKeys(settings.redis_prefix)
    gate = Gate(server, settings)

    @server.get("/console")
    @gate.guarded
    def console() -> Any:
        lang = "en" if request.args.get("lang") == "en" else "zh"  # one at a time, zh first
        if not gate.users:
            return _page(client, keys, None, "", lang)
        name = gate.user()
        if name is None:
            return gate.challenge()
        can_act = gate.may(name, "supervisor")
        return _page(client, keys, name, generate_csrf() if can_act else "", lang, can_act)

    @server.post("/console/ack-ticket/<ticket_id>")
    @gate.posted
    def ack_ticket(name: str, ticket_id: str) -> Any:
        if acknowledge(client, keys, ticket_id, name, hash_key=keys.alerts_tickets) == "none":
            return Response("no alert for that complaint", 404)
        return redirect(f"/console?lang={'en' if request.args.get('lang') == 'en' else 'zh'}",
                        code=303)

    @server.post("/console/ack/<queue>")
    @gate.posted
    def ack(name: str, queue: str) -> Any:
        if acknowledge(client, keys, queue, name) == "none":
            return Response("no open alert for that queue", 404)
        return redirect(f"/console?lang={'en' if request.args.get('lang') == 'en' else 'zh'}",
                        code=303)

    return gate


NO_USERS = f"{PAGES('no_users', 'en')} ({PAGES('no_users', 'zh')})"


def guard_supervisor(server: Flask, gate: Gate) -> None:
    """The supervisor page and every one of its callbacks and drill-downs behind the
    sign-in, on the server (hiding the page would leave its callbacks open: they return
    every agent, the callers waiting and ticket owners). Its scripts and styles stay
    public: they hold no data."""
    if not gate.users:
        return  # no users file: every page open read-only, as the console is
    public = ("/supervisor/_dash-component-suites/", "/supervisor/assets/",
              "/supervisor/_favicon")
    for rule in list(server.url_map.iter_rules()):
        if not rule.rule.startswith("/supervisor/") or rule.rule.startswith(public):
            continue
        view = server.view_functions[rule.endpoint]

        def checked(*args: Any, _view: Any = view, **kwargs: Any) -> Any:
            return gate.reader() or _view(*args, **kwargs)

        server.view_functions[rule.endpoint] = gate.guarded(functools.wraps(view)(checked))


def _page(client: redis.Redis, keys: RedisKeys, name: str | None, token: str, lang: str,
          can_act: bool = False) -> Response:
    """The open alerts and the audit trail; acknowledge buttons when someone is signed in."""
    opened = cast(dict[str, str], client.hgetall(keys.alerts_open))
    alerts = sorted((json.loads(v) for v in opened.values()), key=lambda a: a["queue"])
    entries = cast(list[tuple[str, dict[str, str]]], client.xrevrange(keys.alerts_audit, count=30))
    trail = [(time.strftime("%H:%M:%S", time.localtime(int(f["at_ms"]) / 1000)),
              " ".join(f"{k}={v}" for k, v in f.items() if k != "at_ms" and v))
             for _, f in entries]
    return render_page("console.html", name=name, token=token, alerts=alerts, trail=trail,
                       lang=lang, can_act=can_act, tickets=ticket_alerts(client, keys))
