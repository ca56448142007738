"""The board's server: one Flask application for the wall, the supervisor page, the
console and the replay page, served by gunicorn (or Flask's development server)."""

from __future__ import annotations

import logging
from typing import Any

from dash import Dash
from gunicorn.app.base import BaseApplication

from base.config import Settings
from wallboard.wall import create_app

__all__ = ["build", "serve"]

log = logging.getLogger(__name__)


def build(settings: Settings) -> Dash:
    """The whole board application: /board, /supervisor/, /console, /replay."""
    from wallboard.ack import register_ack
    from wallboard.console import register_console
    from wallboard.displays import register_displays
    from wallboard.replay_page import register_review
    from wallboard.supervisor import create_supervisor

    app = create_app(settings)
    create_supervisor(settings, app.server)
    gate = register_console(app.server, settings)
    register_review(app.server, settings, gate)
    register_displays(app.server, settings, gate.guarded, gate.user, gate.challenge,
                      signed_in=bool(gate.users))
    register_ack(app.server, settings, gate.guarded)
    _harden(app.server, settings)
    return app


def _harden(server: Any, settings: Settings) -> None:
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

    @server.after_request
    def headers(response: Any) -> Any:
        from flask import request

        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        # An acknowledgement link is a credential: never in a Referer elsewhere.
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if not request.path.startswith(("/board", "/assets", "/_dash")):
            # Walls may be shown inside a signage player's frame; nothing else is.
            response.headers.setdefault("X-Frame-Options", "DENY")
        return response


def serve(settings: Settings, dev: bool = False) -> None:
    """Serve the board with gunicorn (``board_workers`` processes of ``board_threads``
    threads, no access log), or Flask's development server with ``dev``."""
    from wallboard.board_metrics import clean, enable_multiprocess, instrument, serve_metrics

    samples = enable_multiprocess()  # before anything imports prometheus-client
    app = build(settings)
    counting = instrument(app.server)
    # Dash registers the script paths it may serve while rendering a page; done
    # here, before gunicorn forks, every worker can serve every script (else a
    # worker asked for a script before it rendered a page answers 500).
    with app.server.test_client() as client:
        for page in ("/board", "/supervisor/"):
            client.get(page)
    counting.set()  # from here on: the displays' requests only
    serve_metrics(settings, samples)
    log.info("board on http://%s:%s/board, supervisor page on /supervisor/ (%s)",
             settings.board_host, settings.board_port, "development server" if dev else
             f"gunicorn, {settings.board_workers} workers x {settings.board_threads} threads")
    if dev:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
        try:
            app.run(host=settings.board_host, port=settings.board_port, debug=False)
        finally:
            clean(samples)
        return
    _Gunicorn(app.server, {
        "bind": f"{settings.board_host}:{settings.board_port}",
        "workers": settings.board_workers,
        "threads": settings.board_threads,
        "worker_class": "gthread",
        "preload_app": True,  # one app (and one console secret) forked into every worker
        "accesslog": None,
        "errorlog": "-",
        "loglevel": "warning",
        "timeout": 30,
        "graceful_timeout": 10,
        # A worker that ends leaves its files; its live gauges must not be summed.
        "child_exit": _child_exit,
    }).run()
    clean(samples)


def _child_exit(_server: Any, worker: Any) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


class _Gunicorn(BaseApplication):
    """gunicorn's documented way to serve an application object from Python."""

    def __init__(self, application: Any, options: dict[str, object]) -> None:
        self.application = application  # not "wsgi": BaseApplication has a method of that name
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        return self.application
