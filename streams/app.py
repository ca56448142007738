"""The Faust worker: topics, tables, the counting agent and the snapshot timer."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
from typing import Any

import faust

from alerts.ladder import Ladder
from alerts.runner import LadderSet, transition_docs
from callboard.config import Settings
from callboard.engine import Engine
from streams.counting import BatchCounter, DeadLetter, RawEvent
from streams.publish import SnapshotWriter
from streams.tables import QueueKeyedTable

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


def _ladder_key(ladders: LadderSet, group: str) -> str:
    # The group's first queue leads the key, so its state lives on that queue's partition.
    return f"{ladders.groups[group][0]}|ladder|{group}"


class _Pending:
    """Queues and minutes counted but not yet written to Redis."""

    def __init__(self) -> None:
        self.queues: set[str] = set()
        self.minutes: set[tuple[str, int]] = set()
        self.dirty = asyncio.Event()


def create_app(settings: Settings) -> faust.App:
    local = settings.broker_profile == "local"
    if local:
        from streams.local_broker import apply_local_broker_fixes

        apply_local_broker_fixes()
    app = faust.App(
        settings.app_id,
        broker=settings.broker_url,
        store="memory://",
        topic_partitions=settings.topic_partitions,
        topic_replication_factor=1 if local else settings.replication_factor,
        producer_acks=-1,  # acks=all: a counted batch is committed only once its changelog is safe
        consumer_auto_offset_reset="earliest",
        web_enabled=False,
        **(LOCAL_BROKER_PROFILE if local else {}),
    )
    events_topic = app.topic(
        settings.events_topic, key_serializer="raw", value_serializer="raw",
        partitions=settings.topic_partitions,
    )
    dead_letters = app.topic(
        settings.dead_letter_topic, key_serializer="raw", value_serializer="raw",
        partitions=1,
    )
    partition_of: dict[str, int] = {}

    def table(name: str, help_text: str) -> QueueKeyedTable:
        return app.tables.add(  # type: ignore[return-value]  # add() returns its argument
            QueueKeyedTable(
                app, name=name, default=None, partitions=settings.topic_partitions,
                partition_of=partition_of, help=help_text, beacon=app.tables.beacon,
            )
        )

    buckets = table("buckets-v1", "per-queue per-minute KPI counters and counted event ids")
    live = table("live-v1", "per-queue calls waiting and agents by state")
    schedule = settings.load_schedule()
    engine = Engine(
        settings.rules_for, settings.zone, buckets, live,
        retention_ms=settings.bucket_retention_h * 3_600_000,
        max_wait_ms=int(settings.max_wait_h * 3_600_000),
        repeat_window_ms=int(settings.repeat_window_h * 3_600_000),
        caller_key=settings.caller_hash_key,
        scheduled_ms=schedule.scheduled_ms if schedule is not None else None,
    )
    ladder_table = table("ladders-v1", "per-group surge-ladder state (alerts/ladder.py)")
    ladders = LadderSet(settings)
    alerts_topic = app.topic(settings.alerts_topic, key_serializer="raw",
                             value_serializer="raw", partitions=1)
    writer = SnapshotWriter(settings, engine, schedule, ladders)

    async def send_dead_letter(letter: DeadLetter) -> None:
        await dead_letters.send(key=letter.key, value=letter.value)

    counter = BatchCounter(engine, partition_of, settings.events_topic, send_dead_letter)
    pending = _Pending()
    restored = [False]

    def restore_ladders() -> None:
        # After recovery: each group's ladder from its table, waiting from the live table.
        if restored[0]:
            return
        restored[0] = True
        for group in ladders.groups:
            state = ladder_table.get(_ladder_key(ladders, group))
            if state:
                ladders.ladders[group] = Ladder.restore(ladders.rules, settings.zone, state)
        for queue in engine.queues():
            ladders.waiting[queue] = len(engine.live_state(queue)["w"])

    async def run_ladders(waiting: list[tuple[str, int, int]], now_ms: int) -> None:
        """Waiting changes at their event times, then time moving on to ``now_ms``:
        deadlines in between fire at their own times, however batched. Step changes
        go to the alerts topic; each ladder that moved is changelogged."""
        restore_ladders()
        changed = ladders.feed(waiting) + ladders.advance(now_ms)
        for doc in transition_docs(settings, engine, ladders, changed):
            counter.stats[f"alerts.{doc['direction']}"] += 1
            await alerts_topic.send(key=doc["queue"].encode(),
                                    value=json.dumps(doc, ensure_ascii=False).encode())
            log.warning("surge ladder %s: step %s %s at %s (waiting %s)", doc["queue"],
                        doc["step"], doc["direction"], doc["event_time"], doc["waiting"])
        groups = {g for q, _, _ in waiting for g in ladders.group_of.get(q, ())}
        for group in groups | {g for g, _ in changed}:
            ladder_table[_ladder_key(ladders, group)] = ladders.ladders[group].state()

    @app.agent(events_topic, name=f"{settings.app_id}-count")
    async def count(stream: faust.StreamT) -> None:
        async for batch in stream.take_events(  # type: ignore[attr-defined]  # not in StreamT
            settings.batch_max_events, within=settings.batch_within_s
        ):
            raw = [RawEvent(e.value, e.message.partition, e.message.offset) for e in batch]
            result = await counter.handle(raw)
            if result.applied:
                await run_ladders(result.waiting, engine.clock_ms)
            if result.queues:
                pending.queues |= result.queues
                pending.minutes |= result.minutes
                pending.dirty.set()

    # Counting never waits for Redis: the publisher writes what changed as soon
    # as its previous write is done, so under load one write covers many batches.
    @app.task
    async def publish() -> None:
        while True:
            await pending.dirty.wait()
            pending.dirty.clear()
            queues, minutes = pending.queues, pending.minutes
            pending.queues, pending.minutes = set(), set()
            if not await writer.write(queues, dict(counter.stats), minutes):
                pending.queues |= queues  # Redis is down: keep them for the next try
                pending.minutes |= minutes

    last_expiry = [0.0]

    @app.timer(settings.snapshot_interval_s)
    async def refresh() -> None:
        if not app.tables.recovery.completed.is_set():  # type: ignore[attr-defined]
            return  # half-recovered tables would show numbers that are too low
        # Rolling windows and longest waits move with time, not only with events;
        # the write also proves to the board that the worker is alive.
        # Expiry scans every key: once per 30 s is plenty for minute buckets.
        if time.monotonic() - last_expiry[0] >= 30:
            last_expiry[0] = time.monotonic()
            counter.stats["expired_buckets"] += engine.expire()
        # Operators (and the week-long test) see that the tables stay bounded.
        counter.stats["table.buckets"] = len(buckets)
        counter.stats["table.live"] = len(live)
        counter.stats["callers_indexed"] = len(engine.callers)
        if settings.clock == "wall":
            # Deadlines fall due while no event arrives (a stuck queue); they
            # fire at their own time, so a replay of the log fires them identically.
            await run_ladders([], engine.now(int(time.time() * 1000)))
        await writer.write(engine.queues(), dict(counter.stats))

    @app.on_partitions_revoked.connect  # type: ignore[arg-type]  # mode's signal typing
    async def _revoked(app_: faust.App, revoked: Any, **_: Any) -> None:
        engine.forget_derived()  # another worker may count these queues now
        restored[0] = False  # ... and move their ladders: read them back from the table

    @app.on_before_shutdown.connect  # type: ignore[arg-type]  # mode's signal typing
    async def _close(app_: faust.App, **_: Any) -> None:
        await writer.close()

    return app


def run_worker(settings: Settings, loglevel: str = "info") -> None:
    """Run the worker in this process until SIGINT/SIGTERM."""
    from producers.topics import ensure_topics

    ensure_topics(settings)
    app = create_app(settings)
    sys.argv = ["callboard-worker", "worker", "--without-web", "--loglevel", loglevel]
    app.main()
