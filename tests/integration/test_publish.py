"""The worker's snapshot writer against a real redis-server: two writers of one queue
(a rebalance) never move the board backwards."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from callboard.assemble import pipeline_rules
from callboard.config import load_settings
from callboard.core.pipeline import Pipeline
from streams.publish import SnapshotWriter
from tests.integration.conftest import wait_until
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
