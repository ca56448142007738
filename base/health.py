"""Prometheus metrics and health endpoints for callboard's long-running processes.

Each process (worker, notifier) serves, on its own ``*_metrics_port``:

- ``/metrics``: prometheus-client's text format (docs/operations.md lists every
  metric and what to alert on);
- ``/healthz``: 200 while the process runs its loop;
- ``/readyz``: 200 once it does its job (the worker: every assigned partition
  restored), 503 with the reason before.

A small threaded HTTP server in a daemon thread: it never waits on the process's
event loop, so a busy or stuck loop still answers (and says so through
``/readyz``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest

__all__ = ["HealthServer"]

log = logging.getLogger(__name__)

Readiness = Callable[[], str | None]  # None: ready; else why not


class HealthServer:
    """Serves /metrics, /healthz and /readyz on ``host:port`` until the process ends."""

    def __init__(self, host: str, port: int, ready: Readiness,
                 registry: CollectorRegistry = REGISTRY) -> None:
        handler = _handler(ready, registry)
        self.server = ThreadingHTTPServer((host, port), handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True,
                                       name="health")

    def start(self) -> HealthServer:
        self.thread.start()
        log.info("metrics and health on http://%s:%s/metrics, /healthz, /readyz",
                 self.server.server_address[0], self.port)
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _handler(ready: Readiness, registry: CollectorRegistry) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._send(200, generate_latest(registry), CONTENT_TYPE_LATEST)
            elif path == "/healthz":
                self._send(200, b"ok\n")
            elif path == "/readyz":
                try:
                    why = ready()
                except Exception as exc:  # noqa: BLE001  # a failing check is "not ready"
                    why = f"readiness check failed: {exc!r}"
                self._send(200, b"ready\n") if why is None else self._send(
                    503, f"not ready: {why}\n".encode())
            else:
                self._send(404, b"not found\n")

        def _send(self, code: int, body: bytes, kind: str = "text/plain; charset=utf-8"
                  ) -> None:
            self.send_response(code)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: object) -> None:
            pass  # scraped every few seconds: no line per request

    return Handler
