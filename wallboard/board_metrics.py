"""The board's Prometheus metrics, summed over the processes serving the board (one since
waitress; the multiprocess mode stays, harmless with one)
(docs/operations.md).

Each worker writes its samples to files in ``PROMETHEUS_MULTIPROC_DIR``
(prometheus-client's multiprocess mode); the master serves ``/metrics``,
``/healthz`` and ``/readyz`` on ``board_metrics_port`` from all of them.
prometheus-client reads that variable when it is first imported, so
``enable_multiprocess`` runs before anything imports it.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from flask import Flask, g, request

from base.config import Settings

__all__ = ["enable_multiprocess", "instrument", "serve_metrics"]

log = logging.getLogger(__name__)
_ENV = "PROMETHEUS_MULTIPROC_DIR"
# Paths whose latency an operator watches; any other is counted under "other".
_PATHS = ("/board/frame", "/_dash-update-component", "/board", "/displays", "/supervisor/",
          "/console", "/replay")
_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


def enable_multiprocess() -> Path:
    """A fresh directory for this board's samples (an operator's own is kept)."""
    given = os.environ.get(_ENV)
    if given:
        return Path(given)
    folder = Path(tempfile.mkdtemp(prefix="callboard-board-metrics-"))
    os.environ[_ENV] = str(folder)
    return folder


def instrument(server: Flask) -> threading.Event:
    """Every request's time, by path kind (a Dash callback is one request to
    /_dash-update-component), once the returned event is set."""
    from prometheus_client import Histogram

    counting = threading.Event()

    seconds = Histogram("callboard_board_request_seconds",
                        "Board requests (Dash callbacks: /_dash-update-component), seconds",
                        ["path", "status"], buckets=_BUCKETS)

    @server.before_request
    def _started() -> None:
        if counting.is_set():
            g.callboard_started = time.perf_counter()

    @server.after_request
    def _observed(response: Any) -> Any:
        started = g.get("callboard_started")
        if started is not None:
            path = request.path
            kind = next((p for p in _PATHS if path == p or path.startswith(p + "/")), "other")
            seconds.labels(kind, str(response.status_code // 100) + "xx").observe(
                time.perf_counter() - started)
        return response

    return counting


def serve_metrics(settings: Settings, folder: Path) -> None:
    """/metrics from every worker's samples, in this (the master) process."""
    if not settings.board_metrics_port:
        return
    from prometheus_client import CollectorRegistry
    from prometheus_client.multiprocess import MultiProcessCollector

    from base.health import HealthServer

    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(folder))
    try:
        HealthServer(settings.metrics_host, settings.board_metrics_port, lambda: None,
                     registry=registry).start()
    except OSError as exc:  # serving the displays matters more than being scraped
        log.error("metrics and health endpoints off: cannot listen on %s:%s (%s)",
                  settings.metrics_host, settings.board_metrics_port, exc)


def clean(folder: Path) -> None:
    if str(folder).startswith(tempfile.gettempdir()) and "callboard-board-metrics-" in str(folder):
        shutil.rmtree(folder, ignore_errors=True)
