"""The worker's snapshot writer against a real redis-server: two writers of one queue
(a rebalance) never move the board backwards."""

from __future__ import annotations

import asyncio
import json
import re
import time

import pytest

from base.assemble import pipeline_rules
from base.config import load_settings
from core.pipeline import Pipeline
from streams.writer import SnapshotWriter
from tests.integration.helpers import wait_until
from tests.unit.factories import at, call

pytestmark = pytest.mark.integration


def test_an_older_snapshot_never_replaces_a_newer_one_while_its_writer_is_live(redis_url):
    settings = load_settings(None, redis_url=redis_url, redis_prefix=f"pub:{time.time_ns()}",
                             clock="event", stale_after_s=30)
    new = Pipeline(pipeline_rules(settings))
    new.feed_events(call("a", at(10, 0), answer_after_s=5) + call("b", at(10, 7),
                                                                 answer_after_s=5))
    old = Pipeline(pipeline_rules(settings))  # a worker still on 10:00, losing the queue
    old.feed_events(call("a", at(10, 0), answer_after_s=5))

    async def write(pipeline: Pipeline) -> dict:
        writer = SnapshotWriter(settings, lambda: {0: pipeline})
        assert await writer.write(["GEN"], {})
        raw = await writer.redis.get(writer.keys.snapshot("GEN"))
        await writer.close()
        return json.loads(raw)

    newer = asyncio.run(write(new))
    assert newer["as_of_ms"] == at(10, 7, 5)
    kept = asyncio.run(write(old))
    assert kept["as_of_ms"] == at(10, 7, 5)  # the older write was refused
    assert kept["windows"]["day"]["offered"] == 2
    # Once the newer one is stale (its writer gone for stale_after_s), a pipeline
    # started again from earlier may write.
    settings_short = settings.model_copy(update={"stale_after_s": 0.001})
    wait_until(lambda: time.time() * 1000 - newer["written_ms"] > 1, 5,
               "the newer snapshot to be older than stale_after_s (1 ms)")

    async def write_short() -> int:
        writer = SnapshotWriter(settings_short, lambda: {0: old})
        assert await writer.write(["GEN"], {})
        raw = await writer.redis.get(writer.keys.snapshot("GEN"))
        await writer.close()
        return json.loads(raw)["as_of_ms"]

    assert asyncio.run(write_short()) == at(10, 0, 5)


def test_history_rows_come_back_after_redis_restarts_empty(tmp_path, logs_dir):
    from callboard import services

    port = services.free_port()
    own = services.start_redis(port, tmp_path / "redis", logs_dir / f"redis-{port}.log")
    settings = load_settings(None, redis_url=f"redis://127.0.0.1:{port}/0",
                             redis_prefix="restart", clock="event")
    pipeline = Pipeline(pipeline_rules(settings))
    counted = pipeline.feed_events(call("a", at(9, 10), answer_after_s=5)
                                   + call("b", at(9, 40), answer_after_s=5)
                                   + call("c", at(10, 20), answer_after_s=5))

    async def write(minutes) -> dict[str, dict]:
        writer = SnapshotWriter(settings, lambda: {0: pipeline})
        assert await writer.write(["GEN"], {}, minutes)
        rows = await writer.redis.hgetall(writer.keys.intervals("GEN"))
        await writer.close()
        return {k: json.loads(v) for k, v in rows.items()}

    try:
        before = asyncio.run(write(counted.minutes))
        assert sorted(int(k) for k in before) == [at(9, 0), at(9, 30), at(10, 0)]
        services.stop(own)
        own = services.start_redis(port, tmp_path / "redis", logs_dir / f"redis-{port}b.log")
        after = asyncio.run(write(set()))  # a tick: nothing new counted
        assert after == before
    finally:
        services.stop(own)


def test_a_partition_stuck_with_records_waiting_shows_its_queues_stale_and_why(redis_url):
    # The soak's fault (bench/README.md): one partition no longer read while the worker
    # went on writing its queues with fresh times. Its progress is fed here as the
    # worker feeds it; the snapshots and the board are the real ones.
    from wallboard.reader import SnapshotReader
    from wallboard.wall import board_view

    settings = load_settings(None, redis_url=redis_url, redis_prefix=f"stall:{time.time_ns()}",
                             clock="event", stale_after_s=10)
    gen = Pipeline(pipeline_rules(settings))
    gen.feed_events(call("a", at(10, 0), answer_after_s=5))
    vip = Pipeline(pipeline_rules(settings))
    vip.feed_events(call("b", at(10, 0), queue="VIP", answer_after_s=5))
    minute_ago = int(time.time() * 1000) - 60_000

    async def write(vip_position: int) -> tuple[dict[str, dict], int]:
        writer = SnapshotWriter(settings, lambda: {0: gen, 1: vip})
        now = int(time.time() * 1000)
        writer.liveness.progress.observe(0, 7, 7, minute_ago)
        writer.liveness.progress.observe(0, 7, 7, now)  # caught up all along
        writer.liveness.progress.observe(1, 40, 40, minute_ago)  # caught up a minute ago...
        writer.liveness.progress.observe(1, vip_position, 95, now)  # ...then 55 records came
        assert await writer.write(["GEN", "VIP"], {})
        snaps = {q: json.loads(await writer.redis.get(writer.keys.snapshot(q)))
                 for q in ("GEN", "VIP", "ALL")}
        source_ok = writer.liveness.broker_ok_ms
        await writer.close()
        return snaps, source_ok

    def banner() -> str:
        reader = SnapshotReader(settings)
        return str(board_view(reader, settings, "en", int(time.time() * 1000)).text("banner"))

    snaps, source_ok = asyncio.run(write(vip_position=40))  # none of them read
    assert snaps["GEN"]["source_ok_ms"] == source_ok and "unread" not in snaps["GEN"]
    assert snaps["VIP"]["source_ok_ms"] == minute_ago and snaps["VIP"]["unread"] == 55
    assert snaps["ALL"]["source_ok_ms"] == minute_ago and snaps["ALL"]["unread"] == 55
    assert re.search(r"counting stalled for 6\d s: events are waiting unread", banner())

    snaps, source_ok = asyncio.run(write(vip_position=41))  # it moves again
    assert snaps["VIP"]["source_ok_ms"] == source_ok and "unread" not in snaps["VIP"]
    assert banner() == ""


def test_history_written_on_a_first_start_is_news_only_when_redis_lost_it_later(redis_url, caplog):
    import logging

    settings = load_settings(None, redis_url=redis_url, redis_prefix=f"pub:{time.time_ns()}",
                             clock="event")
    pipeline = Pipeline(pipeline_rules(settings))
    result = pipeline.feed_events(call("a", at(10, 0), answer_after_s=5))

    async def run() -> None:
        writer = SnapshotWriter(settings, lambda: {0: pipeline})
        assert await writer.write(["GEN"], {}, result.minutes)  # a fresh start: normal
        await writer.redis.delete(writer.keys.history_epoch)   # Redis loses them later
        assert await writer.write(["GEN"], {}, result.minutes)
        await writer.close()

    with caplog.at_level(logging.INFO, logger="streams.writer"):
        asyncio.run(run())
    said = [(r.levelname, r.getMessage()) for r in caplog.records
            if "history rows" in r.getMessage()]
    assert said == [
        ("INFO", "history rows written from the worker's state (1 minutes)"),
        ("WARNING", "history rows rebuilt (Redis had lost them) from the worker's state (1 minutes)")]
