"""The Faust agent: each batch's records, by partition, through their pipelines."""

from __future__ import annotations

import time

import faust

from core.pipeline import FeedResult, Pipeline
from core.records import Record
from streams.metrics import BATCH_SECONDS
from streams.sender import Sender
from streams.shards import Shards
from streams.status import WorkerStatus
from streams.writer import Pending

__all__ = ["Counter"]


class Counter:
    def __init__(self, shards: Shards, sender: Sender, pending: Pending, status: WorkerStatus,
                 batch_max_events: int, batch_within_s: float) -> None:
        self.shards = shards
        self.sender = sender
        self.pending = pending
        self.status = status
        self.batch_max_events = batch_max_events
        self.batch_within_s = batch_within_s

    async def emit(self, pipeline: Pipeline, result: FeedResult) -> None:
        """Dead letters and alerts to their topics; snapshot work to the writer."""
        for letter in result.dead:
            await self.sender.dead_letter(letter)
        for doc in result.alerts:
            await self.sender.send_alert(doc)
        self.pending.add(result)

    async def count(self, stream: faust.StreamT) -> None:
        """The agent's body, handed to ``app.agent``."""
        batches = stream.take_events(  # type: ignore[attr-defined]  # faust's StreamT omits it
            self.batch_max_events, within=self.batch_within_s)
        async for batch in batches:
            started = time.monotonic()
            by_partition: dict[int, list[Record]] = {}
            for e in batch:
                by_partition.setdefault(e.message.partition, []).append(
                    Record(e.value or b"", e.message.partition, e.message.offset))
            wall = self.shards.wall_ms()
            for partition, records in by_partition.items():
                pipeline = await self.shards.get(partition, self.emit)
                await self.shards.fill_gap(pipeline, partition, records, self.emit)
                await self.emit(pipeline, pipeline.feed(records, wall))
                self.shards.counted(partition, len(records))
            for partition in self.shards.checkpoint_due():
                stats = self.status.stats
                stats["checkpoint_bytes"] = (
                    stats.get("checkpoint_bytes", 0) + await self.shards.checkpoint(partition))
            BATCH_SECONDS.observe(time.monotonic() - started)
