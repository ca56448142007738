"""When each partition of the events topic was last counted up to date.

A broker that answers and a worker that writes do not make the figures live: the
1-hour soak found one partition no longer read (records waiting, position frozen)
while the worker went on writing its queues' snapshots with fresh times, so the
board showed GEN as live with its last event 13 minutes old (bench/README.md). The
cause there was the local broker; a stuck fetch, a paused partition or a wedged
stream on Apache Kafka would look the same. So the worker keeps, per partition,
when it was last caught up (counted to the high watermark) or seen moving; a
partition that has records waiting and has not moved since then stops its queues'
``source_ok_ms``, and the board marks them stale with the reason.

Plain Python: the worker feeds it positions and high watermarks it read from its
consumer.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["Liveness", "PartitionProgress", "Progress"]


@dataclass(frozen=True, slots=True)
class Progress:
    position: int  # the next offset to count
    highwater: int | None  # the broker's high watermark, None before the first fetch
    ok_ms: int  # wall ms the partition was last caught up or seen moving

    @property
    def unread(self) -> int:
        return max(0, self.highwater - self.position) if self.highwater is not None else 0


class PartitionProgress:
    def __init__(self) -> None:
        self._seen: dict[int, Progress] = {}

    def observe(self, partition: int, position: int, highwater: int | None, now_ms: int
                ) -> None:
        """One look at a partition: ``position`` is the next offset to count."""
        seen = self._seen.get(partition)
        caught_up = highwater is not None and position >= highwater
        if caught_up or seen is None or seen.position != position:
            ok_ms = now_ms  # counted to the end, first seen, or moving
        else:
            ok_ms = seen.ok_ms
        self._seen[partition] = Progress(position, highwater, ok_ms)

    def ok_ms(self, partition: int) -> int | None:
        seen = self._seen.get(partition)
        return seen.ok_ms if seen is not None else None

    def seen(self) -> dict[int, Progress]:
        return dict(self._seen)

    def stalled(self, now_ms: int, after_ms: int) -> dict[int, Progress]:
        """Partitions with records waiting that have not moved for more than ``after_ms``."""
        return {p: s for p, s in self._seen.items()
                if s.unread and now_ms - s.ok_ms > after_ms}

    def reset(self) -> None:
        """Start every clock again: the worker was recovering its tables, when no
        partition is read (and the board already says it is not ready)."""
        self._seen.clear()

    def forget(self, partitions: Iterable[int]) -> None:
        """Partitions this worker no longer counts (revoked)."""
        for partition in partitions:
            self._seen.pop(partition, None)


class Liveness:
    """How fresh the worker's input is: when the broker last answered its probe, and
    each partition's progress. Every snapshot is stamped from it (``source_ok_ms``)."""

    def __init__(self, now_ms: int) -> None:
        self.broker_ok_ms = now_ms
        self.progress = PartitionProgress()

    def broker_answered(self, now_ms: int) -> None:
        self.broker_ok_ms = now_ms

    def source_ok_ms(self, partition: int) -> int:
        """The earlier of the broker's last answer and the partition's last progress."""
        counted_ok = self.progress.ok_ms(partition)
        return self.broker_ok_ms if counted_ok is None else min(self.broker_ok_ms, counted_ok)
