"""The Faust worker: feeds each partition's records to its pipeline, writes what comes out.

All counting happens in callboard/pipeline.py. This module only moves records
in and results out: dead letters and alerts to their topics, snapshots to
Redis, and each partition's whole state to the checkpoint table. After a
restart or a rebalance a partition's pipeline is restored from its checkpoint
and the events topic is read again from the offset the checkpoint covers, so
the state is the one an uninterrupted run would have (docs/architecture.md).
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import faust
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.client import AIOKafkaClient
from aiokafka.errors import KafkaError
from faust.types import TP

from base.assemble import pipeline_rules
from base.config import Settings
from base.topics import bootstrap_servers, layout_problem
from core.pipeline import FeedResult, Pipeline, PipelineRules, Record
from streams.autocreate import forbid_auto_create, recreate_topics
from streams.metrics import BATCH_SECONDS
from streams.source import read_partition
from streams.tables import CheckpointTable, load_checkpoint, save_checkpoint
from streams.writer import SnapshotWriter

__all__ = ["create_app", "run_worker"]

log = logging.getLogger(__name__)

# What docs/broker.md measured on the Tansu broker: group joins take half the
# session timeout, and a changelog's tail was lost on recovery unless every
# record is its own producer batch (Tansu's ListOffsets answers "base offset of
# the last batch + 1"). Production keeps Kafka's defaults.
LOCAL_BROKER_PROFILE: dict[str, Any] = {
    "broker_session_timeout": 3.0,
    "broker_heartbeat_interval": 0.5,
    "broker_rebalance_timeout": 3.0,
    "producer_max_batch_size": 1,
}
# In live mode a ladder's time follows the wall clock once its partition is
# read to the end, less this much for events still on their way.
_LIVE_GRACE_MS = 1000
_PUBLISH_PAUSE_S = 0.2


async def _nothing(_partition: int) -> None:
    return None


class BrokerProbe:
    """Asks the broker for its metadata, with a deadline. Faust keeps the last figures
    and retries quietly while the broker is away or hangs; the board must not show
    them as live meanwhile (a TCP connect alone would pass a frozen broker)."""

    def __init__(self, broker_url: str, timeout_s: float = 1.0) -> None:
        self.servers = bootstrap_servers(broker_url)
        self.timeout_s = timeout_s
        self.client: AIOKafkaClient | None = None
        self.topics: set[str] = set()  # the broker's topics, as of the last answer
        self._cluster: Any = None

    async def ok(self) -> bool:
        try:
            if self.client is None:
                client = AIOKafkaClient(bootstrap_servers=self.servers,
                                        request_timeout_ms=int(self.timeout_s * 1000))
                await asyncio.wait_for(client.bootstrap(), self.timeout_s)
                self.client = client
                cluster = client.cluster
            else:
                cluster = await asyncio.wait_for(self.client.fetch_all_metadata(),
                                                 self.timeout_s)
        except (KafkaError, OSError, TimeoutError) as exc:
            log.debug("broker probe failed: %r", exc)
            return False
        self.topics = set(cluster.topics())
        self._cluster = cluster
        return True

    def partitions(self, topic: str) -> int:
        found = self._cluster.partitions_for_topic(topic) if self._cluster else None
        return len(found or ())

    async def close(self) -> None:
        if self.client is not None:
            await self.client.close()


class _Pending:
    """Queues and minutes counted but not yet written to Redis."""

    def __init__(self) -> None:
        self.queues: set[str] = set()
        self.minutes: set[tuple[str, int]] = set()
        self.dirty = asyncio.Event()

    def add(self, result: FeedResult) -> None:
        if result.queues:
            self.queues |= result.queues
            self.minutes |= result.minutes
            self.dirty.set()


class Shards:
    """This worker's partitions: each one's pipeline, restored and brought up to date."""

    def __init__(self, settings: Settings, rules: PipelineRules, table: CheckpointTable) -> None:
        self.settings = settings
        self.rules = rules
        self.table = table
        self.pipelines: dict[int, Pipeline] = {}
        self._since_checkpoint: dict[int, tuple[int, float]] = {}  # records, monotonic time
        self._lock = asyncio.Lock()
        self.restores = 0  # partitions restored by this process (operators' figure)
        self._dropped: dict[int, int] = {}  # partition -> offset folded when it was revoked
        self.on_source_reset: Callable[[int], Awaitable[None]] = _nothing

    def __call__(self) -> dict[int, Pipeline]:
        return self.pipelines

    async def get(self, partition: int, on_result: Any) -> Pipeline:
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

    async def _restore(self, partition: int, on_result: Any) -> tuple[Pipeline, FeedResult]:
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
        reread = 0
        # Every minute the checkpoint holds is written again: it may hold changes the
        # killed process counted but never wrote to Redis (a later call marking an
        # earlier half hour's answer repeated, B16), which re-reading from after the
        # checkpoint would never touch again. The same rows as after a Redis loss.
        changed = FeedResult(queues=set(pipeline.queues()), minutes=set(pipeline.engine.buckets))
        async for records in read_partition(bootstrap_servers(self.settings.broker_url),
                                            self.settings.events_topic, partition, start):
            reread += len(records)
            result = pipeline.feed(records, self.wall_ms())
            changed.queues |= result.queues
            changed.minutes |= result.minutes
            result.queues, result.minutes = set(), set()
            await on_result(pipeline, result)  # dead letters and alerts go out now
        self._since_checkpoint[partition] = (reread, time.monotonic())
        before = self._dropped.pop(partition, None)
        if saved is None and before is not None and reread <= before:
            # No checkpoint, and the topic now holds fewer records than were counted
            # here: the broker came back empty (the local one keeps all in memory).
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


def _faust_app(settings: Settings) -> faust.App:
    local = settings.broker_profile == "local"
    if local:
        from streams.local_broker import apply_local_broker_fixes

        apply_local_broker_fixes()
    return faust.App(
        settings.app_id,
        broker=settings.broker_url,
        store="memory://",
        topic_partitions=settings.topic_partitions,
        topic_replication_factor=1 if local else settings.replication_factor,
        producer_acks=-1,  # acks=all
        consumer_auto_offset_reset="earliest",
        topic_disable_leader=True,  # nothing here runs on the leader only; one topic less
        web_enabled=False,
        **(LOCAL_BROKER_PROFILE if local else {}),
    )


class Worker:
    """The worker's moving parts; ``create_app`` hands its methods to Faust."""

    def __init__(self, settings: Settings, app: faust.App) -> None:
        self.settings = settings
        self.app = app

        def raw_topic(name: str, partitions: int) -> Any:
            return app.topic(name, key_serializer="raw", value_serializer="raw",
                             partitions=partitions)

        self.events_topic = raw_topic(settings.events_topic, settings.topic_partitions)
        self.dead_letters = raw_topic(settings.dead_letter_topic, 1)
        self.alerts_topic = raw_topic(settings.alerts_topic, 1)
        table = app.tables.add(CheckpointTable(  # type: ignore[arg-type]
            app, name="checkpoints-v2", default=None, partitions=settings.topic_partitions,
            key_type=str, help="each partition's whole pipeline state (core/pipeline.py)",
            beacon=app.tables.beacon,
        ))
        self.shards = Shards(settings, pipeline_rules(settings), table)  # type: ignore[arg-type]
        self.writer = SnapshotWriter(settings, self.shards, settings.load_schedule())
        self.shards.on_source_reset = self._read_from_start
        self.pending = _Pending()
        self.produced: set[str] = set()  # alert ids already on the alerts topic
        self.produced_loaded = asyncio.Event()
        self.stats: dict[str, int] = {}  # this process's own figures (restores, table sizes)
        self.probe = BrokerProbe(settings.broker_url)
        self.not_ready: str | None = "starting"  # why /readyz says 503, None when ready
        self._stalled: set[int] = set()  # partitions logged as stalled

    async def emit(self, pipeline: Pipeline, result: FeedResult) -> None:
        """Dead letters and alerts to their topics; snapshot work to the publisher."""
        seen = int(time.time() * 1000)
        for letter in result.dead:
            log.warning("dead-lettered event at %s[%s]@%s: %s: %s", self.settings.events_topic,
                        letter.record.partition, letter.record.offset, letter.reason,
                        letter.detail[:200])
            body = json.dumps(letter.doc(self.settings.events_topic, seen), ensure_ascii=False)
            await self.dead_letters.send(key=letter.reason.encode(), value=body.encode())
        for doc in result.alerts:
            await self.send_alert(doc)
        self.pending.add(result)

    async def send_alert(self, doc: dict[str, Any]) -> None:
        # A state re-read after a restart fires the same alerts again, with the
        # same ids: each goes to the topic once.
        await self.produced_loaded.wait()
        if doc["alert_id"] in self.produced:
            return
        self.produced.add(doc["alert_id"])
        await self.alerts_topic.send(key=doc["queue"].encode(),
                                     value=json.dumps(doc, ensure_ascii=False).encode())
        log.warning("surge ladder %s: step %s %s at %s (waiting %s)", doc["queue"],
                    doc["step"], doc["direction"], doc["event_time"], doc["waiting"])

    async def count(self, stream: faust.StreamT) -> None:
        """The agent: each batch's records, by partition, through their pipelines."""
        async for batch in stream.take_events(  # type: ignore[attr-defined]  # not in StreamT
            self.settings.batch_max_events, within=self.settings.batch_within_s
        ):
            started = time.monotonic()
            by_partition: dict[int, list[Record]] = {}
            for e in batch:
                by_partition.setdefault(e.message.partition, []).append(
                    Record(e.value or b"", e.message.partition, e.message.offset))
            wall = self.shards.wall_ms()
            for partition, records in by_partition.items():
                pipeline = await self.shards.get(partition, self.emit)
                await self.emit(pipeline, pipeline.feed(records, wall))
                self.shards.counted(partition, len(records))
            for partition in self.shards.checkpoint_due():
                self.stats["checkpoint_bytes"] = (
                    self.stats.get("checkpoint_bytes", 0) + self.shards.checkpoint(partition))
            BATCH_SECONDS.observe(time.monotonic() - started)

    async def _read_from_start(self, partition: int) -> None:
        # Faust still holds the old broker's positions and commits for the partition;
        # the new one numbers from 0.
        tp = TP(self.settings.events_topic, partition)
        consumer: Any = self.app.consumer
        consumer._committed_offset.pop(tp, None)  # noqa: SLF001  # no public reset
        await consumer.seek(tp, 0)

    async def publish(self) -> None:
        """Counting never waits for Redis: what changed is written as soon as the
        previous write is done, so under load one write covers many batches."""
        pending = self.pending
        while True:
            await pending.dirty.wait()
            pending.dirty.clear()
            queues, minutes = pending.queues, pending.minutes
            pending.queues, pending.minutes = set(), set()
            if not await self.writer.write(queues, dict(self.stats), minutes):
                pending.queues |= queues  # Redis is down: keep them for the next try
                pending.minutes |= minutes
            elif not pending.minutes:
                self.writer.expire()  # every counted minute has its row: old buckets may go
            # Under load, one write per pause covers many batches instead of
            # recomputing every window after each one (the board polls at 1 Hz).
            await asyncio.sleep(_PUBLISH_PAUSE_S)

    async def load_produced_alerts(self) -> None:
        try:
            self.produced.update(await _alert_ids(self.settings))
        except Exception:  # noqa: BLE001  # a failed read must not hold every alert back
            log.exception("could not read the alerts already sent: a step fired again after "
                          "this restart may be sent twice (the notifier sends each id once)")
        finally:
            self.produced_loaded.set()

    async def refresh(self) -> None:
        """Every snapshot interval: quiet partitions restored, ladders advanced on the
        wall clock, every queue written again (windows slide, the write says alive)."""
        if await self.probe.ok():
            if self.settings.events_topic not in self.probe.topics:
                await self._recreate_topics()
                return
            problem = layout_problem(self.settings.events_topic,
                                     self.probe.partitions(self.settings.events_topic),
                                     self.settings.topic_partitions)
            if problem:  # recreated by someone else's auto-creation: counting would be wrong
                if self.not_ready != problem:
                    log.error("cannot count: %s", problem)
                self.not_ready = problem
                return
            self.writer.source_ok_ms = int(time.time() * 1000)
        if self.settings.broker_profile == "local":
            from streams.local_broker import widen_fetch_wait

            widen_fetch_wait(self.app.consumer, self.settings.events_topic)
        if not self.app.tables.recovery.completed.is_set():  # type: ignore[attr-defined]
            self.not_ready = "recovering the checkpoint table"
            self.writer.progress.reset()  # no partition is read meanwhile; not a stall
            return  # half-recovered tables would show numbers that are too low
        assigned = {tp.partition for tp in self.app.consumer.assignment()
                    if tp.topic == self.settings.events_topic}
        try:
            for partition in sorted(assigned - set(self.shards.pipelines)):
                await self.shards.get(partition, self.emit)  # a quiet partition still shows
        except (KafkaError, OSError) as exc:
            # The broker is away: the restore is tried again next tick; meanwhile the
            # board shows the figures as not live (source_ok_ms stops).
            log.warning("cannot restore a quiet partition now (%r); trying again", exc)
            self.not_ready = f"restoring partitions: {exc!r}"[:200]
            return
        self.not_ready = None if assigned else "no partition of the events topic assigned"
        self._watch_progress()
        pipelines = self.shards().values()
        self.stats["restores"] = self.shards.restores
        self.stats["table.buckets"] = sum(len(p.engine.buckets) for p in pipelines)
        self.stats["table.live"] = sum(len(p.engine.live) for p in pipelines)
        self.stats["callers_indexed"] = sum(len(p.engine.callers) for p in pipelines)
        if self.settings.clock == "wall":
            await self._advance_ladders()
        self.pending.queues |= set(_all_queues(self.shards))
        self.pending.dirty.set()

    def _watch_progress(self) -> None:
        # A partition with records waiting that does not move is not live, whatever
        # stopped it (streams/progress.py): its queues' snapshots stop being fresh.
        now = int(time.time() * 1000)
        progress = self.writer.progress
        for partition, pipeline in list(self.shards.pipelines.items()):
            tp = TopicPartition(self.settings.events_topic, partition)
            highwater = self.app.consumer.highwater(tp)  # type: ignore[arg-type]
            progress.observe(partition, pipeline.offsets.get(partition, -1) + 1, highwater, now)
        stalled = progress.stalled(now, int(self.settings.stale_after_s * 1000))
        for partition in sorted(set(stalled) - self._stalled):
            seen = stalled[partition]
            log.error("partition %s of %s: %s records waiting, none counted for %.0f s (at "
                      "offset %s); its queues show as not live", partition,
                      self.settings.events_topic, seen.unread, (now - seen.ok_ms) / 1000,
                      seen.position)
        for partition in sorted(self._stalled - set(stalled)):
            log.warning("partition %s of %s is counted again", partition,
                        self.settings.events_topic)
        self._stalled = set(stalled)
        self.stats["partitions.stalled"] = len(stalled)

    async def _recreate_topics(self) -> None:
        # The broker answers but has no events topic: it came back empty (the local
        # one keeps everything in memory). Producers recreate it too; whoever is first
        # creates it right. The partitions it held are told apart on their restore.
        log.error("the broker has no topic %s: it lost its records; creating the topics "
                  "again", self.settings.events_topic)
        self.not_ready = "the broker lost the events topic"
        try:
            await recreate_topics(self.app, self.settings)
        except Exception as exc:  # noqa: BLE001  # kafka-python's and aiokafka's errors alike
            log.warning("cannot create the topics now (%r); trying again", exc)

    async def _advance_ladders(self) -> None:
        # Deadlines fall due while no event arrives (a stuck queue), but only
        # once the partition is read to its end: a lagging one is not "now".
        now = int(time.time() * 1000) - _LIVE_GRACE_MS
        for partition, pipeline in list(self.shards.pipelines.items()):
            tp = TopicPartition(self.settings.events_topic, partition)
            highwater = self.app.consumer.highwater(tp)  # type: ignore[arg-type]
            if highwater is not None and pipeline.offsets.get(partition, -1) + 1 >= highwater:
                for doc in pipeline.advance(now):
                    await self.send_alert(doc)

    async def revoked(self, app_: faust.App, revoked: Any, **_: Any) -> None:
        # Another worker may count these now; if they come back, they are
        # restored from their checkpoints and the source.
        gone = {tp.partition for tp in revoked if tp.topic == self.settings.events_topic}
        self.shards.drop(gone)
        self.writer.progress.forget(gone)

    async def close(self, app_: faust.App, **_: Any) -> None:
        await self.writer.close()
        await self.probe.close()


def create_app(settings: Settings) -> faust.App:
    forbid_auto_create()
    app = _faust_app(settings)
    worker = Worker(settings, app)
    _serve_health(settings, worker)
    app.agent(worker.events_topic, name=f"{settings.app_id}-count")(worker.count)
    app.task(worker.publish)
    app.task(worker.load_produced_alerts)
    app.timer(settings.snapshot_interval_s)(worker.refresh)
    app.on_partitions_revoked.connect(worker.revoked)  # type: ignore[arg-type]
    app.on_before_shutdown.connect(worker.close)  # type: ignore[arg-type]
    return app


def _all_queues(shards: Shards) -> list[str]:
    return sorted({q for p in shards().values() for q in p.queues()})


async def _alert_ids(settings: Settings) -> set[str]:
    """Ids of the alerts already on the alerts topic (few: step changes only)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers(settings.broker_url),
                                group_id=None, enable_auto_commit=False, fetch_max_wait_ms=50)
    ids: set[str] = set()
    await consumer.start()
    try:
        await consumer.topics()  # fetches the metadata partitions_for_topic reads
        partitions = consumer.partitions_for_topic(settings.alerts_topic) or {0}
        tps = [TopicPartition(settings.alerts_topic, p) for p in partitions]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        while True:
            batch = await consumer.getmany(*tps, timeout_ms=500)
            for messages in batch.values():
                for message in messages:
                    try:
                        ids.add(json.loads(message.value or b"{}")["alert_id"])
                    except (ValueError, KeyError, TypeError):
                        continue
            highwaters = [consumer.highwater(tp) for tp in tps]
            positions = [await consumer.position(tp) for tp in tps]
            if all(h is not None and p >= h for h, p in zip(highwaters, positions, strict=True)):
                return ids
    finally:
        await consumer.stop()


def run_worker(settings: Settings, loglevel: str = "info") -> None:
    """Run the worker in this process until SIGINT/SIGTERM."""
    from base.topics import TopicLayoutError, ensure_topics

    try:
        ensure_topics(settings, check=True)
    except TopicLayoutError as exc:
        raise SystemExit(f"callboard worker: {exc}") from None
    app = create_app(settings)
    sys.argv = ["callboard-worker", "worker", "--without-web", "--loglevel", loglevel]
    app.main()


def _serve_health(settings: Settings, worker: Worker) -> None:
    if not settings.worker_metrics_port:
        return
    from prometheus_client import REGISTRY

    from base.health import HealthServer
    from streams.metrics import WorkerCollector

    REGISTRY.register(WorkerCollector(worker))
    try:
        HealthServer(settings.metrics_host, settings.worker_metrics_port,
                     lambda: worker.not_ready).start()
    except OSError as exc:  # counting matters more than being scraped
        log.error("metrics and health endpoints off: cannot listen on %s:%s (%s)",
                  settings.metrics_host, settings.worker_metrics_port, exc)
