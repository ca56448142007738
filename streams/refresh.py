"""The worker's timer: every snapshot interval, its jobs in order. Each job is a small
function of its own; ``Refresh.tick`` stops at the first that says counting cannot go on
(no topic, wrong layout, tables recovering, broker away)."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

import faust
from aiokafka import TopicPartition
from aiokafka.errors import KafkaError

from base.broker import BrokerProfile
from base.config import Settings
from base.topics import layout_problem
from core.pipeline import Pipeline
from core.records import Alert
from streams.probe import BrokerProbe
from streams.shards import BrokerLost, OnResult, Shards
from streams.status import WorkerStatus
from streams.writer import Pending

__all__ = ["Refresh"]

log = logging.getLogger(__name__)

# In live mode a ladder's time follows the wall clock once its partition is
# read to the end, less this much for events still on their way.
_LIVE_GRACE_MS = 1000

SendAlert = Callable[[Alert], Awaitable[None]]


class Refresh:
    """Quiet partitions restored, ladders advanced on the wall clock, every queue
    written again (windows slide, the write says alive)."""

    def __init__(self, settings: Settings, app: faust.App, profile: BrokerProfile,
                 shards: Shards, status: WorkerStatus, pending: Pending,
                 on_result: OnResult, send_alert: SendAlert,
                 clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.clock = clock
        self.app = app
        self.profile = profile
        self.shards = shards
        self.status = status
        self.pending = pending
        self.on_result = on_result
        self.send_alert = send_alert
        self.probe = BrokerProbe(settings.broker_url)
        self._stalled: set[int] = set()  # partitions logged as stalled
        self._answered = False  # the broker answered this tick's probe
        self._seen: set[str] = set()  # the topics it has held

    async def tick(self) -> None:
        answered = self._answered
        if not await self.check_broker():
            return
        if answered and not self._answered:
            # The broker stopped answering: if it died, the stack starts this worker
            # again on an empty one, and what it counted since its last checkpoint would
            # be gone with it. To the files now, while the worker still holds it (the
            # alerts it raised permitting: Shards.carry_out).
            await self.shards.carry_out(within_s=1.0)
        self.profile.tune_live_fetches(self.app.consumer, self.settings.events_topic)
        if not self.tables_recovered():
            return
        assigned = self.assigned()
        if self._answered:
            if not await self.restore_quiet(assigned):
                return
        elif assigned - set(self.shards.pipelines):
            self.status.not_ready = "restoring partitions: the broker does not answer"
            return
        self.status.not_ready = None if assigned else "no partition of the events topic assigned"
        self.watch_progress(assigned)
        self.count_state()
        await self.checkpoint_due()
        if self.settings.clock == "wall":
            await self.advance_ladders(assigned)
        self.pending.touch(self.shards.queues())

    async def check_broker(self) -> bool:
        """The broker answers with the events topic as configured; False stops the tick.
        A broker that does not answer does not stop it: the snapshots then go on
        carrying the last answer's time, and the board shows them stale. A broker that
        answers without the topics came back empty: a broker change is a restart
        (docs/broker.md), so the worker stops, and whoever supervises it (``callboard
        up``, compose) starts it again to go on from its checkpoints."""
        self._answered = await self.probe.ok()
        if not self._answered:
            return True
        topic = self.settings.events_topic
        names = {topic} | {t.changelog_topic.get_topic_name() for t in self.app.tables.values()}
        # Faust makes the changelog as it starts: missing before it was ever seen is not
        # yet there, missing after is lost.
        lost = sorted((names & self._seen) - self.probe.topics)
        self._seen |= names & self.probe.topics
        if lost:
            log.error("the broker has no topic %s: it lost its records; stopping, to be "
                      "started again on it from the checkpoints", ", ".join(lost))
            self.status.not_ready = "the broker lost its records"
            await self.app.crash(BrokerLost(f"the broker has no topic {', '.join(lost)}"))
            return False
        if names - self._seen:
            return False
        problem = layout_problem(topic, self.probe.partitions(topic), self.settings.topic_partitions)
        if problem:  # recreated by someone else's auto-creation: counting would be wrong
            if self.status.not_ready != problem:
                log.error("cannot count: %s", problem)
            self.status.not_ready = problem
            return False
        self.status.liveness.broker_answered(int(self.clock() * 1000))
        return True

    def tables_recovered(self) -> bool:
        # Half-recovered tables would show numbers that are too low.
        if self.app.tables.recovery.completed.is_set():  # type: ignore[attr-defined]  # not in faust's TableManagerT
            return True
        self.status.not_ready = "recovering the checkpoint table"
        self.status.liveness.progress.reset()  # no partition is read meanwhile; not a stall
        return False

    def assigned(self) -> set[int]:
        return {tp.partition for tp in self.app.consumer.assignment()
                if tp.topic == self.settings.events_topic}

    async def restore_quiet(self, assigned: set[int]) -> bool:
        """A partition with no event yet still shows its queues: restored here."""
        try:
            for partition in sorted(assigned - set(self.shards.pipelines)):
                await self.shards.get(partition, self.on_result)
        except (KafkaError, OSError) as exc:
            # The broker is away: the restore is tried again next tick; meanwhile the
            # board shows the figures as not live (source_ok_ms stops).
            log.warning("cannot restore a quiet partition now (%r); trying again", exc)
            self.status.not_ready = f"restoring partitions: {exc!r}"[:200]
            return False
        return True

    def _highwater(self, partition: int) -> int | None:
        """The partition's high watermark, None when unknown or no longer assigned here.

        A rebalance can take a partition away at any moment (Faust's consumer runs in
        a thread of its own), and aiokafka asserts the partition is assigned (a second
        worker joining takes some away)."""
        tp = TopicPartition(self.settings.events_topic, partition)
        try:
            return self.app.consumer.highwater(tp)
        except AssertionError:
            return None

    def _held(self, assigned: set[int]) -> list[tuple[int, Pipeline]]:
        """The pipelines of the partitions still assigned here; the others wait for the
        revoke handler to drop them."""
        return [(p, pipeline) for p, pipeline in list(self.shards.pipelines.items())
                if p in assigned]

    def watch_progress(self, assigned: set[int]) -> None:
        # A partition with records waiting that does not move is not live, whatever
        # stopped it (streams/progress.py): its queues' snapshots stop being fresh.
        now = int(self.clock() * 1000)
        progress = self.status.liveness.progress
        for partition, pipeline in self._held(assigned):
            progress.observe(partition, _next_offset(pipeline, partition),
                             self._highwater(partition), now)
        stalled = progress.stalled(now, self.status.stale_after_ms)
        topic = self.settings.events_topic
        for partition in sorted(set(stalled) - self._stalled):
            seen = stalled[partition]
            log.error("partition %s of %s: %s records waiting, none counted for %.0f s (at "
                      "offset %s); its queues show as not live", partition, topic,
                      seen.unread, (now - seen.ok_ms) / 1000, seen.position)
        for partition in sorted(self._stalled - set(stalled)):
            log.warning("partition %s of %s is counted again", partition, topic)
        self._stalled = set(stalled)
        self.status.stats["partitions.stalled"] = len(stalled)

    def count_state(self) -> None:
        pipelines = self.shards.pipelines.values()
        stats = self.status.stats
        stats["restores"] = self.shards.restores
        stats["table.buckets"] = sum(len(p.engine.buckets) for p in pipelines)
        stats["table.live"] = sum(len(p.engine.live) for p in pipelines)
        stats["callers_indexed"] = sum(len(p.engine.callers) for p in pipelines)

    async def checkpoint_due(self) -> None:
        # The agent checkpoints after a batch; a partition that went quiet (or was just
        # restored from another topic's checkpoint) is checkpointed here.
        for partition in self.shards.checkpoint_due():
            await self.shards.checkpoint(partition)

    async def advance_ladders(self, assigned: set[int]) -> None:
        # Deadlines fall due while no event arrives (a stuck queue), but only
        # once the partition is read to its end: a lagging one is not "now".
        now = int(self.clock() * 1000) - _LIVE_GRACE_MS
        for partition, pipeline in self._held(assigned):
            highwater = self._highwater(partition)
            if highwater is not None and _next_offset(pipeline, partition) >= highwater:
                for doc in pipeline.advance(now):
                    await self.send_alert(doc)

    async def close(self) -> None:
        await self.probe.close()


def _next_offset(pipeline: Pipeline, partition: int) -> int:
    return pipeline.offsets.get(partition, -1) + 1
