"""The Faust worker, wired: which agent, table, tasks and timer it runs, and on what.

All counting happens in core/pipeline.py. The pieces here only move records in and
results out, each in a module of its own, as Faust's examples split agents, tables,
timers and views:

- ``streams/agent.py``: the agent, each batch through its partitions' pipelines;
- ``streams/tables.py``: the checkpoint table; ``streams/shards.py`` restores and
  checkpoints each partition's pipeline (``streams/source.py`` re-reads the source);
- ``streams/sender.py``: dead letters and alerts to their topics, each alert once;
- ``streams/writer.py``: snapshots and history rows to Redis, as a task;
- ``streams/refresh.py``: the timer's jobs (broker, topics, recovery, quiet partitions,
  stalls, ladders on the wall clock);
- ``streams/status.py``: what /readyz and /metrics (``streams/metrics.py``) read.

After a restart or a rebalance a partition's pipeline is restored from its checkpoint
and the events topic is read again from the offset the checkpoint covers, so the state
is the one an uninterrupted run would have (docs/architecture.md).
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any

import faust

from base.assemble import broker_profile, pipeline_rules
from base.broker import BrokerProfile
from base.config import Settings
from base.health import HealthServer
from base.topics import TopicLayoutError, ensure_topics
from streams.agent import Counter
from streams.autocreate import forbid_auto_create
from streams.metrics import WorkerCollector
from streams.progress import Liveness
from streams.refresh import Refresh
from streams.sender import Sender
from streams.shards import Shards
from streams.status import WorkerStatus
from streams.tables import CheckpointTable
from streams.writer import Pending, SnapshotWriter, write_changes

__all__ = ["Worker", "build_worker", "create_app", "run_worker"]

log = logging.getLogger(__name__)


def _faust_app(settings: Settings, profile: BrokerProfile) -> faust.App:
    return faust.App(
        settings.app_id,
        broker=settings.broker_url,
        store="memory://",
        topic_partitions=settings.topic_partitions,
        topic_replication_factor=profile.replication_factor,
        producer_acks=-1,  # acks=all
        consumer_auto_offset_reset="earliest",
        topic_disable_leader=True,  # nothing here runs on the leader only; one topic less
        web_enabled=False,
        **profile.faust_options(),
    )


@dataclass
class Worker:
    """The worker's parts, for create_app to hand to Faust (and tests to reach)."""

    app: faust.App
    status: WorkerStatus
    shards: Shards
    writer: SnapshotWriter
    sender: Sender
    counter: Counter
    refresh: Refresh


def build_worker(settings: Settings, exit_grace_s: float | None = None) -> Worker:
    """The worker's parts on a Faust app. ``exit_grace_s``: when the process is the
    worker's own, it ends this long after the stop hook if the Kafka client has not."""
    profile = broker_profile(settings)
    profile.install()
    app = _faust_app(settings, profile)

    def raw_topic(name: str, partitions: int) -> Any:
        return app.topic(name, key_serializer="raw", value_serializer="raw",
                         partitions=partitions)

    table = CheckpointTable(
        app, name="checkpoints-v2", default=None, partitions=settings.topic_partitions,
        key_type=str, help="each partition's whole pipeline state (core/pipeline.py)",
        beacon=app.tables.beacon,
    )
    app.tables.add(table)
    async def flush() -> None:
        await app.producer.flush()

    shards = Shards(settings, pipeline_rules(settings), table, profile.backlog_tuner(), flush)
    liveness = Liveness(int(time.time() * 1000))
    writer = SnapshotWriter(settings, shards, settings.load_schedule(), liveness)
    status = WorkerStatus(pipelines=shards, liveness=liveness,
                          stale_after_ms=int(settings.stale_after_s * 1000),
                          restores=lambda: shards.restores,
                          last_write_ms=lambda: writer.last_write_ms)
    sender = Sender(settings, raw_topic(settings.alerts_topic, 1),
                    raw_topic(settings.dead_letter_topic, 1))
    pending = Pending()
    counter = Counter(shards, sender, pending, status, settings.batch_max_events,
                      settings.batch_within_s)
    refresh = Refresh(settings, app, profile, shards, status, pending, counter.emit,
                      sender.send_alert)
    worker = Worker(app, status, shards, writer, sender, counter, refresh)

    events = raw_topic(settings.events_topic, settings.topic_partitions)
    app.agent(events, name=f"{settings.app_id}-count")(counter.count)

    async def write_loop() -> None:
        await write_changes(pending, writer, status.stats)

    app.task(write_loop)
    app.task(sender.load_produced)
    app.timer(settings.snapshot_interval_s)(refresh.tick)

    async def revoked(app_: faust.App, revoked: Any, **_: Any) -> None:
        # Another worker may count these now; if they come back, they are
        # restored from their checkpoints and the source.
        gone = {tp.partition for tp in revoked if tp.topic == settings.events_topic}
        shards.drop(gone)
        liveness.progress.forget(gone)

    async def assigned(app_: faust.App, assigned: Any, **_: Any) -> None:
        await shards.check_source()  # raised, Faust stops the worker

    async def close(app_: faust.App, **_: Any) -> None:
        # The consumer has stopped and the agent finished its batch: each partition is
        # read to its end and goes out with it (a roll, a broker that died, Ctrl-C).
        await shards.carry_out(on_result=counter.emit)
        await writer.close()
        await refresh.close()
        # Everything of ours is out; the Kafka client's own stop can hang on a connection
        # to a broker that died (aiokafka's consumer thread), and the supervisor would
        # wait for it before starting this worker again on the new broker.
        if exit_grace_s is not None:
            _exit_unless_gone(exit_grace_s, 1 if app_.crash_reason else 0)

    app.on_partitions_revoked.connect(revoked)  # type: ignore[arg-type]  # faust's signal typing wants a bound sender
    app.on_partitions_assigned.connect(assigned)  # type: ignore[arg-type]  # likewise
    app.on_before_shutdown.connect(close)  # type: ignore[arg-type]  # likewise
    return worker


_EXIT_GRACE_S = 5.0  # a clean stop takes 1-2 s after the shutdown hook


def _exit_unless_gone(after_s: float, code: int) -> None:
    def leave() -> None:
        log.warning("the Kafka client did not stop within %.0f s of the rest: exiting "
                    "without it", after_s)
        logging.shutdown()
        os._exit(code)

    timer = threading.Timer(after_s, leave)
    timer.daemon = True
    timer.start()


def create_app(settings: Settings, exit_grace_s: float | None = None) -> faust.App:
    forbid_auto_create()
    worker = build_worker(settings, exit_grace_s)
    _serve_health(settings, worker.status)
    return worker.app


def run_worker(settings: Settings, loglevel: str = "info") -> None:
    """Run the worker in this process until SIGINT/SIGTERM."""
    try:
        ensure_topics(settings, check=True)
    except TopicLayoutError as exc:
        raise SystemExit(f"callboard worker: {exc}") from None
    app = create_app(settings, _EXIT_GRACE_S)  # this process is the worker's alone
    sys.argv = ["callboard-worker", "worker", "--without-web", "--loglevel", loglevel]
    app.main()


def _serve_health(settings: Settings, status: WorkerStatus) -> None:
    if not settings.worker_metrics_port:
        return
    from prometheus_client import REGISTRY

    REGISTRY.register(WorkerCollector(status))
    try:
        HealthServer(settings.metrics_host, settings.worker_metrics_port,
                     lambda: status.not_ready).start()
    except OSError as exc:  # counting matters more than being scraped
        log.error("metrics and health endpoints off: cannot listen on %s:%s (%s)",
                  settings.metrics_host, settings.worker_metrics_port, exc)
