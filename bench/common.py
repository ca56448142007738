"""What every bench script starts with: the machine it ran on, and its own broker and Redis."""

from __future__ import annotations

import os
import platform
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from callboard import services

__all__ = ["live_paced", "local_services", "print_machine"]


def print_machine() -> None:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text()
                .splitlines() if line.startswith("model name")), platform.processor())
    print(f"machine: {os.cpu_count()} cores, {cpu}, Python {platform.python_version()}")


@contextmanager
def local_services() -> Iterator[tuple[str, str, Path]]:
    """A Tansu broker and a redis-server on free ports: (broker URL, Redis URL, log folder)."""
    logs = Path(tempfile.mkdtemp(prefix="callboard-bench-"))
    bport, rport = services.free_port(), services.free_port()
    broker = services.start_broker(bport, logs / "broker.log")
    redis_server = services.start_redis(rport, logs / "redis", logs / "redis.log")
    try:
        yield f"kafka://127.0.0.1:{bport}", f"redis://127.0.0.1:{rport}/0", logs
    finally:
        services.stop(redis_server)
        services.stop(broker)


def live_paced(events: Sequence[dict[str, Any]], rate: float, start_ms: int
               ) -> Iterator[dict[str, Any]]:
    """Simulated events, their clock compressed to ``rate`` events/s and moved to now,
    each yielded at its wall time with ``ts_ms`` and ``offered_ms`` moved alike."""
    natural = len(events) / ((events[-1]["ts_ms"] - events[0]["ts_ms"]) / 1000)
    squeeze = rate / natural
    wall0 = time.time() * 1000 + 200
    for event in events:
        due_ms = wall0 + (event["ts_ms"] - start_ms) / squeeze
        pause = (due_ms - time.time() * 1000) / 1000
        if pause > 0:
            time.sleep(pause)
        moved = dict(event, ts_ms=int(due_ms))
        if "offered_ms" in moved:
            moved["offered_ms"] = int(wall0 + (moved["offered_ms"] - start_ms) / squeeze)
        yield moved
