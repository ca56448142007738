"""Plays a time-ordered event stream at a multiple of real time."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from typing import Protocol, TypeVar

__all__ = ["Timed", "paced"]


class Timed(Protocol):
    """Anything with an event time: an Event, or a raw line with the time read from it."""

    def get(self, key: str, /) -> object: ...


T = TypeVar("T", bound=Timed)


def paced(events: Iterable[T], speed: float) -> Iterator[T]:
    """Yield each event when its event time (``ts_ms``), scaled by ``speed``, has come;
    0 = no waiting."""
    wall0: float | None = None
    ts0 = 0
    for event in events:
        ts = event.get("ts_ms")
        if speed > 0 and isinstance(ts, int) and ts:  # an event without a time is sent at once
            if wall0 is None:
                wall0, ts0 = time.monotonic(), ts
            due = wall0 + (ts - ts0) / 1000 / speed
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        yield event
