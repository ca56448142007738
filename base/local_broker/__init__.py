"""Every workaround for the local stack's broker (Tansu 0.6.0, memory storage), in one place.

``base.assemble.broker_profile`` hands out ``TansuProfile`` when ``broker_profile =
"local"``; nothing else in callboard names Tansu. What each workaround is for, as
measured and read in Tansu's source, is in docs/broker.md and in the modules here:

- ``patches``: three changes to aiokafka and Faust (leave a group at generation 0,
  commit offsets acknowledged twice, a short live fetch wait) and the live fetch
  wait that widens when a partition stops or crawls;
- ``fetch_wait``: the widening rule itself, plain Python;
- below: the Faust settings (fast group joins, one record per changelog batch), the
  producers' linger, and replication 1 on a single broker.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer

from base.broker import FaustOptions, KafkaProfile
from base.local_broker.fetch_wait import FetchWait
from base.local_broker.patches import LOCAL_FETCH_MAX_WAIT_MS, apply_local_broker_fixes, widen_fetch_wait

__all__ = ["LOCAL_FAUST_OPTIONS", "LOCAL_FETCH_MAX_WAIT_MS", "LOCAL_LINGER_MS", "TansuProfile"]

log = logging.getLogger(__name__)

# What docs/broker.md measured on the Tansu broker: group joins take half the
# session timeout, and a changelog's tail was lost on recovery unless every
# record is its own producer batch (Tansu's ListOffsets answers "base offset of
# the last batch + 1").
LOCAL_FAUST_OPTIONS: FaustOptions = {
    "broker_session_timeout": 3.0,
    "broker_heartbeat_interval": 0.5,
    "broker_rebalance_timeout": 3.0,
    "producer_max_batch_size": 1,
}
# Tansu keeps each produced batch as one object and lists every object of a
# partition on every fetch: a fetch costs ~1.5 us per batch the partition holds, for
# good (it deletes nothing). At live rates a 5 ms linger sends one record per batch;
# 100 ms puts the records of a tenth of a second in one batch, so the log a fetch
# walks grows several times slower (docs/broker.md). Added latency: at most 0.1 s,
# inside the board's one-second refresh.
LOCAL_LINGER_MS = 100
# A backlog read starts at 50 ms and widens after half a second without progress:
# a fixed 50 ms never got past ~33,000 records (fetch_wait.py).
_BACKLOG_START_MS = 50
_BACKLOG_PATIENCE_S = 0.5


class TansuProfile(KafkaProfile):
    """The local stack's single Tansu broker."""

    name = "local"

    def __init__(self) -> None:
        super().__init__(replication_factor=1)  # one broker
        self.live_wait = FetchWait(LOCAL_FETCH_MAX_WAIT_MS)

    def install(self) -> None:
        apply_local_broker_fixes(self.live_wait)

    def faust_options(self) -> FaustOptions:
        return LOCAL_FAUST_OPTIONS.copy()

    def producer_options(self) -> dict[str, object]:
        return {"linger_ms": LOCAL_LINGER_MS}

    def tune_live_fetches(self, consumer: object, topic: str) -> None:
        widen_fetch_wait(consumer, topic, self.live_wait)

    def backlog_tuner(self) -> Callable[[AIOKafkaConsumer, int, int, int | None], None]:
        wait = FetchWait(_BACKLOG_START_MS, patience_s=_BACKLOG_PATIENCE_S)

        def tune(consumer: AIOKafkaConsumer, partition: int, position: int,
                 target: int | None) -> None:
            if wait.observe(partition, position, target) is not None:
                log.warning("reading partition %s: at offset %s of %s and not keeping up; "
                            "fetches now wait up to %s ms", partition, position, target,
                            wait.wait_ms)
                # aiokafka has no public setter; the fetcher reads it for every request.
                consumer._fetcher._fetch_max_wait_ms = wait.wait_ms

        return tune
