"""What every bench script starts with: the machine it ran on, and its own broker and Redis."""

from __future__ import annotations

import os
import platform
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from callboard import services

__all__ = ["local_services", "print_machine"]


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
