"""This worker's partitions: each one's pipeline, restored from its checkpoint and the
source, checkpointed on a cadence, dropped when the partition moves away."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping

from base.broker import BacklogTuner
from base.config import Settings
from base.local_broker.carried import Saved, read_checkpoint_file, write_checkpoint_file
from base.topics import bootstrap_servers, topic_id
from core.pipeline import FeedResult, Pipeline, PipelineRules
from core.records import Record
from streams.source import read_partition
from streams.tables import CheckpointTable, load_checkpoint, save_checkpoint

__all__ = ["BrokerLost", "OnResult", "Shards"]

log = logging.getLogger(__name__)

# What a restore hands on as it goes: dead letters and alerts at once, the queues and
# half hours it changed once the partition is whole.
OnResult = Callable[[Pipeline, FeedResult], Awaitable[None]]


class BrokerLost(Exception):
    """The broker holds another events topic than the one counted (it came back empty):
    a broker change is a restart, so the worker stops, to be started again by whoever
    supervises it and go on from its checkpoints."""


class Shards:
    """Each partition's pipeline, restored and brought up to date on first use."""

    def __init__(self, settings: Settings, rules: PipelineRules, table: CheckpointTable,
                 tune_backlog: BacklogTuner,
                 flush: Callable[[], Awaitable[None]] | None = None) -> None:
        self.settings = settings
        self.rules = rules
        self.table = table
        self.tune_backlog = tune_backlog
        self.flush = flush or _nothing
        self.pipelines: dict[int, Pipeline] = {}
        self._since_checkpoint: dict[int, tuple[int, float]] = {}  # records, monotonic time
        self._lock = asyncio.Lock()
        self.restores = 0  # partitions restored by this process (operators' figure)
        # The events topic's id each pipeline counted from (base/local_broker/carried.py).
        self.sources: dict[int, str | None] = {}
        self.counted_from: str | None = None  # the topic id this process counts

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

    async def source_id(self) -> str | None:
        """The events topic's id now; None when the broker does not say."""
        try:
            return await asyncio.to_thread(topic_id, self.settings, self.settings.events_topic)
        except Exception as exc:  # noqa: BLE001  # kafka-python's errors; the id is a help
            log.warning("cannot learn the events topic's id (%r)", exc)
            return None

    async def check_source(self) -> None:
        """Raises BrokerLost when the events topic is not the one this process counted
        from. Asked on each assignment: a broker that came back empty makes the group
        rebalance; in the same process, the consumer would go on at the old topic's
        offsets and skip the new one's first records as counted."""
        if self.counted_from is None:
            return
        try:
            now = await asyncio.to_thread(topic_id, self.settings, self.settings.events_topic,
                                          "none")
        except Exception as exc:  # noqa: BLE001  # kafka-python's errors: not proven lost
            log.warning("cannot learn the events topic's id (%r)", exc)
            return
        if now is not None and now != self.counted_from:
            raise BrokerLost(f"the events topic is {'gone' if now == 'none' else 'a new one'} "
                             f"(id {now}, counted from {self.counted_from}): the broker lost "
                             "its records")

    def _saved(self, partition: int, source: str | None) -> Saved | None:
        """The checkpoint to go on from: the furthest one of this topic, else the newest
        one of any (the broker's changelog, or the file the local stack keeps beside it)."""
        found = [c for c in (load_checkpoint(self.table, partition),
                             read_checkpoint_file(self.settings.checkpoint_dir, partition))
                 if c is not None]
        same = [c for c in found if source is not None and c.source == source]
        if same:
            return max(same, key=lambda c: c.offset)
        return max(found, key=lambda c: c.saved_ms, default=None)

    async def _restore(self, partition: int, on_result: OnResult) -> tuple[Pipeline, FeedResult]:
        started = time.monotonic()
        source = await self.source_id()
        # On the local stack, whose broker is replaced by rolls: without the id, a
        # checkpoint of a gone topic would look like this one's.
        for _ in range(3 if self.settings.checkpoint_dir is not None else 0):
            if source is not None:
                break
            await asyncio.sleep(1.0)
            source = await self.source_id()
        saved = self._saved(partition, source)
        pipeline = Pipeline(self.rules)
        if saved is not None:
            try:
                pipeline = Pipeline.decode(self.rules, saved.blob)
            except (ValueError, KeyError) as exc:
                log.error("checkpoint of partition %s unreadable (%s): counting it again",
                          partition, exc)
        self.sources[partition] = source
        self.counted_from = self.counted_from or source
        # Every minute the checkpoint holds is written again: it may hold changes the
        # killed process counted but never wrote to Redis (a later call marking an
        # earlier half hour's answer repeated, B16), which re-reading from after the
        # checkpoint would never touch again. The same rows as after a Redis loss.
        changed = FeedResult(queues=set(pipeline.queues()), minutes=set(pipeline.engine.buckets))
        start = pipeline.offsets.get(partition, -1) + 1
        gone = None  # why the checkpoint's offsets mean nothing in the topic held now
        if saved is not None and None not in (source, saved.source) and saved.source != source:
            gone = f"the events topic is a new one (id {source}; the checkpoint counted {saved.source})"
        else:
            reread, end = await self._read(pipeline, partition, start, changed, on_result)
            if saved is not None and end is not None and end < start:
                gone = f"the broker lost its records (it holds {end})"
        if gone:
            # The local stack rolled its broker, or a broker came back empty while this
            # worker kept the checkpoint: counting goes on from the checkpoint with all the
            # topic holds now, from its first record (event ids keep a re-sent event out).
            log.warning("partition %s: %s: counting on from the checkpoint at offset %s with "
                        "all the topic holds", partition, gone, start - 1)
            pipeline.stats["source_resets"] += 1
            pipeline.offsets.pop(partition, None)
            reread, _ = await self._read(pipeline, partition, 0, changed, on_result)
            self._since_checkpoint[partition] = (max(reread, 1), 0.0)  # due at once
        self._log_restored(partition, start - 1, reread, started)
        return pipeline, changed

    async def fill_gap(self, pipeline: Pipeline, partition: int, records: list[Record],
                       on_result: OnResult) -> int:
        """Records the consumer skipped, read from the broker before ``records`` are fed;
        returns how many were read (0: no gap, the usual case).

        The pipeline's offset moves only as records are fed, so a batch that starts past
        it (or has a hole) means the consumer's position jumped (Faust's seek to committed
        offsets once put a partition at 256 while its pipeline had counted to 216,
        docs/broker.md). Fed as they were, the records between would be skipped for
        good; read here, they are counted in order, and the jump is logged and counted."""
        start = expected = pipeline.offsets.get(partition, -1) + 1
        for record in records:
            if record.offset > expected:
                break
            expected = max(expected, record.offset + 1)
        else:
            return 0
        changed = FeedResult()
        count, since = self._since_checkpoint.get(partition, (0, time.monotonic()))
        reread, _ = await self._read(pipeline, partition, start, changed, on_result)
        self._since_checkpoint[partition] = (count + reread, since)
        await on_result(pipeline, changed)
        pipeline.stats["gaps_filled"] += 1
        pipeline.stats["gap_records"] += reread
        log.warning("partition %s: the consumer skipped from offset %s to %s; read %s records "
                    "from the broker to count them in order", partition, expected, record.offset,
                    reread)
        return reread

    def _log_restored(self, partition: int, offset: int, reread: int, started: float) -> None:
        log.info("partition %s: restored at offset %s, re-read %s records in %.1f s", partition,
                 offset, reread, time.monotonic() - started)
        self.restores += 1

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

    async def checkpoint(self, partition: int) -> int:
        """The partition's state to the changelog and, on the local stack, to its file
        (what its records raised, alerts and dead letters, on the broker first)."""
        if self.settings.checkpoint_dir is not None:
            await self.flush()
        pipeline = self.pipelines[partition]
        blob, offset = pipeline.encode(), pipeline.offsets.get(partition, -1)
        source = self.sources.get(partition)
        written = save_checkpoint(self.table, partition, blob, offset, source)
        if self.settings.checkpoint_dir is not None:
            write_checkpoint_file(self.settings.checkpoint_dir, partition, blob, offset, source)
        self._since_checkpoint[partition] = (0, time.monotonic())
        return written

    async def carry_out(self, within_s: float = 5.0, on_result: OnResult | None = None) -> None:
        """Every partition's state to its file (the local stack only), so that the next
        start goes on from here: on the way out, and when the broker stops answering (the
        stack then starts this worker again on a new one). With ``on_result`` (a stop),
        each partition is first read to the broker's end: the roll pauses the producers
        and stops the workers, and what a file covers is all the new broker need not
        hold (callboard/roll.py). A file is written only once what its records raised is
        on the broker, else a restart from it would never raise it (a dead broker keeps
        the flush from ending, and the file stays at the last checkpoint)."""
        if self.settings.checkpoint_dir is None or not self.pipelines:
            return
        if on_result is not None:
            await self._read_to_end(on_result)
        try:
            await asyncio.wait_for(self.flush(), within_s)
        except (TimeoutError, Exception) as exc:  # noqa: BLE001  # the broker's errors alike
            log.warning("not carrying the partitions' state out: the alerts are not on the "
                        "broker (%r)", exc)
            return
        for partition, pipeline in self.pipelines.items():
            write_checkpoint_file(self.settings.checkpoint_dir, partition, pipeline.encode(),
                                  pipeline.offsets.get(partition, -1), self.sources.get(partition))
        log.info("partitions %s carried out to their files", sorted(self.pipelines))

    async def _read_to_end(self, on_result: OnResult) -> None:
        """Each partition held, read on to the broker's end; on the first failure (the
        broker is away) the rest are left as counted."""
        for partition, pipeline in list(self.pipelines.items()):
            changed = FeedResult()
            try:
                await self._read(pipeline, partition, pipeline.offsets.get(partition, -1) + 1,
                                 changed, on_result)
                await on_result(pipeline, changed)
            except Exception as exc:  # noqa: BLE001  # the broker's errors: carry out what is held
                log.warning("partition %s: not read to its end on the way out (%r); carrying "
                            "out what is counted", partition, exc)
                return

    def drop(self, partitions: set[int]) -> None:
        for partition in partitions:
            self.pipelines.pop(partition, None)
            self._since_checkpoint.pop(partition, None)
            self.sources.pop(partition, None)

    def queues(self) -> list[str]:
        return sorted({q for p in self.pipelines.values() for q in p.queues()})


async def _nothing() -> None:
    return None
