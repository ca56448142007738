"""This worker's partitions: each one's pipeline, restored from its checkpoint and the
source, checkpointed on a cadence, dropped when the partition moves away."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import faust
from faust.types import TP

from base.broker import BacklogTuner
from base.config import Settings
from base.topics import bootstrap_servers
from core.pipeline import FeedResult, Pipeline, PipelineRules
from streams.source import read_partition
from streams.tables import CheckpointTable, load_checkpoint, save_checkpoint

__all__ = ["OnResult", "Shards", "read_from_start"]

log = logging.getLogger(__name__)

# What a restore hands on as it goes: dead letters and alerts at once, the queues and
# half hours it changed once the partition is whole.
OnResult = Callable[[Pipeline, FeedResult], Awaitable[None]]


class Shards:
    """Each partition's pipeline, restored and brought up to date on first use."""

    def __init__(self, settings: Settings, rules: PipelineRules, table: CheckpointTable,
                 tune_backlog: BacklogTuner,
                 on_source_reset: Callable[[int], Awaitable[None]]) -> None:
        self.settings = settings
        self.rules = rules
        self.table = table
        self.tune_backlog = tune_backlog
        self.on_source_reset = on_source_reset
        self.pipelines: dict[int, Pipeline] = {}
        self._since_checkpoint: dict[int, tuple[int, float]] = {}  # records, monotonic time
        self._lock = asyncio.Lock()
        self.restores = 0  # partitions restored by this process (operators' figure)
        self._dropped: dict[int, int] = {}  # partition -> offset folded when it was revoked

    def __call__(self) -> Mapping[int, Pipeline]:
        return self.pipelines

    async def get(self, partition: int, on_result: OnResult) -> Pipeline:
        pipeline = self.pipelines.get(partition)
        if pipeline is None:
            async with self._lock:
                pipeline = self.pipelines.get(partition)
                if pipeline is None:
                    pipeline, changed = await self._restore(partition, on_result)
                    self.pipelines[partition] = pipeline
                    # Only now, whole, do its queues and half hours go to the board.
                    await on_result(pipeline, changed)
        return pipeline

    async def _restore(self, partition: int, on_result: OnResult) -> tuple[Pipeline, FeedResult]:
        started = time.monotonic()
        saved = load_checkpoint(self.table, partition)
        pipeline = Pipeline(self.rules)
        if saved is not None:
            try:
                pipeline = Pipeline.decode(self.rules, saved[0])
            except (ValueError, KeyError) as exc:
                log.error("checkpoint of partition %s unreadable (%s): counting it again",
                          partition, exc)
        start = pipeline.offsets.get(partition, -1) + 1
        # Every minute the checkpoint holds is written again: it may hold changes the
        # killed process counted but never wrote to Redis (a later call marking an
        # earlier half hour's answer repeated, B16), which re-reading from after the
        # checkpoint would never touch again. The same rows as after a Redis loss.
        changed = FeedResult(queues=set(pipeline.queues()), minutes=set(pipeline.engine.buckets))
        reread, end = await self._read(pipeline, partition, start, changed, on_result)
        before = self._dropped.pop(partition, None)
        if saved is not None and end is not None and end < start:
            # The checkpoint covers more of the partition than the broker holds: it came
            # back empty (the local one keeps all in memory) while this worker kept the
            # checkpoint. Counting goes on from the checkpoint with what the broker holds
            # now, from its first record (event ids keep a re-sent event out).
            log.error("partition %s: the broker lost its records (the checkpoint covers up "
                      "to offset %s, it now holds %s): counting on from the checkpoint with "
                      "what it holds", partition, start - 1, end)
            pipeline.stats["source_resets"] += 1
            pipeline.offsets.pop(partition, None)
            reread, _ = await self._read(pipeline, partition, 0, changed, on_result)
            await self.on_source_reset(partition)
        elif saved is None and before is not None and reread <= before:
            # No checkpoint, and the topic now holds fewer records than were counted
            # here: the broker came back empty with the checkpoints.
            log.error("partition %s: the broker lost its records and the checkpoints "
                      "(counted up to offset %s here, it now holds %s): figures start again "
                      "from what it holds; what was counted before is not on the board",
                      partition, before, reread)
            pipeline.stats["source_resets"] += 1
            await self.on_source_reset(partition)
        log.info("partition %s: restored at offset %s, re-read %s records in %.1f s", partition,
                 start - 1, reread, time.monotonic() - started)
        self.restores += 1
        return pipeline, changed

    async def _read(self, pipeline: Pipeline, partition: int, start: int, changed: FeedResult,
                    on_result: OnResult) -> tuple[int, int | None]:
        """The partition from ``start`` to its end into ``pipeline``: (records read, the
        broker's end offset then, if it said)."""
        reread = 0
        ends: list[int] = []
        async for records in read_partition(bootstrap_servers(self.settings.broker_url),
                                            self.settings.events_topic, partition, start,
                                            self.tune_backlog, ends=ends):
            reread += len(records)
            result = pipeline.feed(records, self.wall_ms())
            changed.queues |= result.queues
            changed.minutes |= result.minutes
            result.queues, result.minutes = set(), set()
            await on_result(pipeline, result)  # dead letters and alerts go out now
        self._since_checkpoint[partition] = (reread, time.monotonic())
        return reread, ends[0] if ends else None

    def wall_ms(self) -> int | None:
        # The "future" check, live only: a compressed-time demo or a replay on the
        # event clock may legitimately run ahead of the wall clock.
        return int(time.time() * 1000) if self.settings.clock == "wall" else None

    def counted(self, partition: int, records: int) -> None:
        count, since = self._since_checkpoint.get(partition, (0, time.monotonic()))
        self._since_checkpoint[partition] = (count + records, since)

    def checkpoint_due(self) -> list[int]:
        now = time.monotonic()
        return [p for p, (count, since) in self._since_checkpoint.items()
                if p in self.pipelines and count and (
                    count >= self.settings.checkpoint_every_events
                    or now - since >= self.settings.checkpoint_every_s)]

    def checkpoint(self, partition: int) -> int:
        pipeline = self.pipelines[partition]
        written = save_checkpoint(self.table, partition, pipeline.encode(),
                                  pipeline.offsets.get(partition, -1))
        self._since_checkpoint[partition] = (0, time.monotonic())
        return written

    def drop(self, partitions: set[int]) -> None:
        for partition in partitions:
            pipeline = self.pipelines.pop(partition, None)
            if pipeline is not None:  # remembered, to tell a broker that lost them
                self._dropped[partition] = pipeline.offsets.get(partition, -1)
            self._since_checkpoint.pop(partition, None)

    def queues(self) -> list[str]:
        return sorted({q for p in self.pipelines.values() for q in p.queues()})


def read_from_start(app: faust.App, topic: str) -> Callable[[int], Awaitable[None]]:
    """What to do when the broker came back empty: Faust still holds the old broker's
    positions and commits for the partition; the new one numbers from 0."""

    async def reset(partition: int) -> None:
        tp = TP(topic, partition)
        consumer: Any = app.consumer
        # Faust has no public way to forget a committed offset.
        consumer._committed_offset.pop(tp, None)  # noqa: SLF001
        await consumer.seek(tp, 0)

    return reset
