"""Plays a time-ordered event stream at a multiple of real time."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from typing import Any

__all__ = ["paced"]


def paced(events: Iterable[dict[str, Any]], speed: float) -> Iterator[dict[str, Any]]:
    """Yield each event when its event time, scaled by ``speed``, has come; 0 = no waiting."""
    wall0: float | None = None
    ts0 = 0
    for event in events:
        if speed > 0 and event.get("ts_ms"):  # an event without a time is sent at once
            if wall0 is None:
                wall0, ts0 = time.monotonic(), event["ts_ms"]
            due = wall0 + (event["ts_ms"] - ts0) / 1000 / speed
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        yield event
