"""What the worker tells /readyz and /metrics. Its jobs update it; readers read only this."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from core.pipeline import Pipeline
from streams.progress import Liveness

__all__ = ["WorkerStatus"]


@dataclass
class WorkerStatus:
    pipelines: Callable[[], Mapping[int, Pipeline]]  # partition -> pipeline, held here now
    liveness: Liveness
    stale_after_ms: int
    restores: Callable[[], int]  # partitions restored by this process
    last_write_ms: Callable[[], int]  # wall ms of the last write that reached Redis, or 0
    not_ready: str | None = "starting"  # why /readyz says 503, None when ready
    stats: dict[str, int] = field(default_factory=dict)  # this process's own figures
