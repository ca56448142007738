"""The board's server: one Flask application for the wall, the supervisor page, the
console and the replay page, served by waitress (or Flask's development server)."""

from __future__ import annotations

import logging
import re
from typing import Any

from dash import Dash

from base.config import Settings
from wallboard.wall import create_app

__all__ = ["build", "serve"]

log = logging.getLogger(__name__)


def build(settings: Settings) -> Dash:
    """The whole board application: /board, /supervisor/, /console, /replay."""
    from wallboard.ack import register_ack
    from wallboard.console import guard_supervisor, register_console
    from wallboard.displays import register_displays
    from wallboard.replay_page import register_review
    from wallboard.supervisor import create_supervisor

    app = create_app(settings)
    supervisor = create_supervisor(settings, app.server)
    gate = register_console(app.server, settings)
    register_review(app.server, settings, gate)
    register_displays(app.server, settings, gate.guarded, gate.user, gate.challenge,
                      signed_in=bool(gate.users))
    register_ack(app.server, settings, gate.guarded)
    guard_supervisor(app.server, gate)
    _harden(app.server, settings, _script_hashes(app, supervisor))
    return app


def _script_hashes(*apps: Dash) -> list[str]:
    """The CSP hashes of every script the pages carry inline: Dash's own (its renderer's
    start) and the walls' settings (wall.py), so no other inline script runs."""
    import base64
    import hashlib
    import re

    hashes = {h for app in apps for h in app.csp_hashes()}
    for app in apps:
        for body in re.findall(r"<script>(.*?)</script>", app.index_string, re.S):
            digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
            hashes.add(f"'sha256-{digest}'")
    return sorted(hashes)


# The walls' pages: /board and /board/<wall> (wallboard/assets/wall.js reads the name).
_WALL_PAGE = re.compile(r"/board(/[^/]+)?/?")


def _harden(server: Any, settings: Settings, script_hashes: list[str]) -> None:
    """What a browser is told on every answer, and whom to believe about the client."""
    from werkzeug.middleware.proxy_fix import ProxyFix

    hops = settings.board_trusted_proxies
    if hops:
        server.wsgi_app = ProxyFix(server.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)
    server.config.update(SESSION_COOKIE_SAMESITE="Lax", SESSION_COOKIE_HTTPONLY=True,
                         SESSION_COOKIE_SECURE=settings.board_cookie_secure)

    from dash.exceptions import DependencyException
    from flask import Response

    @server.errorhandler(DependencyException)
    def unknown_script(_error: Exception) -> Response:
        # Dash raises for a script path it does not serve: anyone's typo or probe, a 404,
        # never a 500 with a traceback in the log that operators alert on.
        return Response("not found", 404, {"Content-Type": "text/plain"})

    from limits.errors import StorageError
    from redis.exceptions import RedisError

    @server.errorhandler(RedisError)
    @server.errorhandler(StorageError)
    def redis_away(error: Exception) -> Response:
        # A guarded page's lockout counter, its alerts, its sessions: all in Redis. Said
        # plainly, not a 500 with a traceback; sign-in stays closed while the limiter
        # cannot count.
        log.warning("a page needs Redis, which did not answer: %r", error)
        return Response("503: the board's data store (Redis) is not answering; this page "
                        "needs it. 看板的数据存储（Redis）无响应，此页面暂不可用。", 503,
                        {"Content-Type": "text/plain; charset=utf-8", "Retry-After": "5"})

    @server.before_request
    def unknown_path() -> Response | None:
        # Dash answers every path under its base with its page (its own router reads
        # the path in the browser), so /healthz or /ack/..%2f.. got the board with a
        # 200. Only the pages the walls and the supervisor really have are pages.
        from flask import request

        rule = request.url_rule.rule if request.url_rule is not None else None
        if ((rule == "/<path:path>" and not _WALL_PAGE.fullmatch(request.path))
                or rule == "/supervisor/<path:path>"):
            return Response("not found", 404, {"Content-Type": "text/plain"})
        return None

    csp = "; ".join((
        "default-src 'self'", "script-src 'self' " + " ".join(script_hashes),
        "style-src 'self' 'unsafe-inline'", "img-src 'self' data: blob:",
        "font-src 'self' data:", "connect-src 'self'", "object-src 'none'",
        "base-uri 'none'", "form-action 'self'"))

    @server.after_request
    def headers(response: Any) -> Any:
        from flask import request

        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        # An acknowledgement link is a credential: never in a Referer elsewhere.
        response.headers.setdefault("Referrer-Policy", "same-origin")
        framed = request.path.startswith(("/board", "/assets", "/_dash"))
        if not framed:
            # Walls may be shown inside a signage player's frame; nothing else is.
            response.headers.setdefault("X-Frame-Options", "DENY")
        # Scripts only from the board itself and the inline ones it wrote: an injected
        # script, were a page ever to let one through, does not run. Styles may be
        # inline (Dash and plotly set them from script).
        response.headers.setdefault("Content-Security-Policy", csp + (
            "" if framed else "; frame-ancestors 'none'"))
        return response


def serve(settings: Settings, dev: bool = False) -> None:
    """Serve the board with waitress (one process, ``board_workers`` x ``board_threads``
    serving threads, no access log), or Flask's development server with ``dev``.

    waitress reads each request whole in its own I/O loop before a thread sees it, so a
    client that sends its headers slowly (or never) holds a socket, never a serving
    thread: gunicorn's threads, each handed a connection as its first byte arrived,
    were all held by 16 such clients and every wall lost its server. With the frames
    built ahead (wall.py), one process answers 200 displays in p99 37 ms (bench/README.md).
    """
    from wallboard.board_metrics import clean, enable_multiprocess, instrument, serve_metrics

    samples = enable_multiprocess()  # before anything imports prometheus-client
    app = build(settings)
    counting = instrument(app.server)
    # Dash registers the script paths it may serve while rendering a page: done here,
    # before the first display asks, every script is there (else it answers 404).
    with app.server.test_client() as client:
        for page in ("/board", "/supervisor/"):
            client.get(page)
    counting.set()  # from here on: the displays' requests only
    serve_metrics(settings, samples)
    log.info("board on http://%s:%s/board, supervisor page on /supervisor/ (%s)",
             settings.board_host, settings.board_port, "development server" if dev else
             f"waitress, {settings.board_workers * settings.board_threads} threads")
    if dev:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
        try:
            app.run(host=settings.board_host, port=settings.board_port, debug=False)
        finally:
            clean(samples)
        return
    import signal

    from waitress import serve as waitress_serve

    def stop(_signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt  # waitress closes its sockets; the samples are cleaned

    signal.signal(signal.SIGTERM, stop)
    try:
        # waitress reads every request whole in its own I/O loop before a thread sees it:
        # a client sending its headers slowly holds a socket, never a serving thread.
        waitress_serve(app.server, host=settings.board_host, port=settings.board_port,
                       threads=settings.board_workers * settings.board_threads,
                       # Walls, phones and slow or idle clients: sockets, not threads. A
                       # channel silent for a minute is closed (a wall asks every second).
                       connection_limit=settings.board_connection_limit, channel_timeout=60,
                       asyncore_use_poll=True,  # select() stops at 1,024 sockets
                       ident="callboard", expose_tracebacks=False, _quiet=True,
                       # Forwarded headers are ProxyFix's to believe (board_trusted_proxies),
                       # or to ignore: waitress would drop them before it could.
                       clear_untrusted_proxy_headers=False)
    except KeyboardInterrupt:
        pass
    clean(samples)
