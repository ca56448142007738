"""How long a fetch may wait on the local broker, widened when a partition stops or crawls.

Tansu 0.6.0 (memory storage; read in its source, tansu-storage dynostore ``fetch``)
keeps each produced batch as one object and, on every fetch, lists every object of
the partition to find the offset asked for, giving up when the request's
``fetch_max_wait_ms`` has passed. Listing costs ~1.5 us per batch the partition holds
(60,000 one-record batches: 88 ms on a quiet machine), and the broker deletes nothing
(its retention is a no-op, DeleteRecords unimplemented). With the 20 ms the live
worker asks for (docs/broker.md: latency), a partition past ~33,000 batches got empty
answers for good while records waited: the 1-hour soak (bench/soak.py, 100 events/s)
stopped counting GEN's partition after 8 minutes and showed it as live. Measured at
that offset: 20 ms gave 0 records, 50 ms 2, 100 ms 7,701.

So a partition that has records waiting (high watermark above the position) and has
not moved for ``patience_s`` gets twice the wait, up to ``ceiling_ms``; so does one
that moves but stays ``far`` records or more behind for ``patience_s`` (a deep backlog
read a few records a fetch: a worker's first start on a 37,000-record partition
re-read it at ~40 records/s with 40 ms, and never looked stuck). The wait never
narrows again, since the log only grows. The wait costs nothing while records flow
(the broker answers on the first pass that finds some); it delays only the first
record after a quiet spell, by up to half the wait. Apache Kafka answers as soon as
it has data and never needs this.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable

__all__ = ["CEILING_MS", "FAR_BEHIND", "FetchWait"]

# ~3 million batches listed in time on a quiet machine: hours of a busy local stack.
# aiokafka's request timeout (40 s) stays far above it.
CEILING_MS = 5000
# Records behind that count as a backlog rather than live traffic: at 100 events/s a
# partition is a few dozen behind at most (bench/README.md, the soak).
FAR_BEHIND = 1000


class FetchWait:
    def __init__(self, start_ms: int, ceiling_ms: int = CEILING_MS, patience_s: float = 1.0,
                 far: int = FAR_BEHIND, clock: Callable[[], float] = time.monotonic) -> None:
        self.wait_ms = start_ms
        self.ceiling_ms = ceiling_ms
        self.patience_s = patience_s
        self.far = far
        self.clock = clock
        self._still: dict[Hashable, tuple[int, float]] = {}  # partition -> (position, since)

    def observe(self, partition: Hashable, position: int | None, highwater: int | None
                ) -> int | None:
        """One look at a partition; the new, wider wait when it is stuck or crawls
        through a backlog, else None."""
        if position is None or highwater is None or highwater <= position:
            self._still.pop(partition, None)  # caught up (or not fetched yet): not stuck
            return None
        now = self.clock()
        seen = self._still.get(partition)
        if seen is None:
            self._still[partition] = (position, now)
            return None
        since = seen[1]
        if seen[0] != position:
            if highwater - position < self.far:
                self._still[partition] = (position, now)  # moving with live traffic: fine
                return None
            self._still[partition] = (position, since)  # a backlog read slowly: runs on
        if now - since < self.patience_s or self.wait_ms >= self.ceiling_ms:
            return None
        self.wait_ms = min(self.ceiling_ms, self.wait_ms * 2)
        self._still[partition] = (position, now)  # give the new wait its own patience
        return self.wait_ms
