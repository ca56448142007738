"""Hands snapshots to the board through Redis: one JSON value per queue, plus a notice."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Iterable, Mapping
from typing import Any, cast

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from callboard.config import Settings
from callboard.engine import Engine
from callboard.keys import RedisKeys, text
from callboard.snapshot import CENTRE, centre_snapshot, queue_snapshot

__all__ = ["SnapshotWriter"]

log = logging.getLogger(__name__)


class SnapshotWriter:
    """Writes queue and centre snapshots; a Redis outage is logged and retried next tick."""

    def __init__(self, settings: Settings, engine: Engine) -> None:
        self.settings = settings
        self.engine = engine
        self.keys = RedisKeys(settings.redis_prefix)
        self.redis = aioredis.from_url(
            settings.redis_url, socket_timeout=2, socket_connect_timeout=2,
            health_check_interval=10, decode_responses=True,
        )
        # The agent (after a batch) and the timer both write; one at a time, so
        # the centre is always summed from the queue snapshots just written.
        self._lock = asyncio.Lock()

    def now_ms(self) -> int:
        wall = int(time.time() * 1000) if self.settings.clock == "wall" else None
        return self.engine.now(wall)

    async def write(self, queues: Iterable[str], stats: dict[str, int] | None = None) -> bool:
        async with self._lock:
            return await self._write(queues, stats)

    async def _write(self, queues: Iterable[str], stats: dict[str, int] | None) -> bool:
        now = self.now_ms()
        written = int(time.time() * 1000)
        snaps = []
        for queue in queues:
            snap = queue_snapshot(self.engine, self.settings.rules_for(queue), now)
            snap["written_ms"] = written
            snap["last_event_ms"] = self.engine.live_state(queue)["wm"] or None
            snaps.append(snap)
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for snap in snaps:
                    pipe.set(self.keys.snapshot(snap["queue"]), _dumps(snap))
                if snaps:
                    pipe.sadd(self.keys.queues, *[s["queue"] for s in snaps])
                pipe.set(self.keys.heartbeat, written)
                if stats:
                    pipe.hset(self.keys.stats, mapping=cast(Mapping[Any, Any], stats))
                await pipe.execute()
            centre = await self._centre(snaps, now, written)
            async with self.redis.pipeline(transaction=False) as pipe:
                if centre is not None:
                    pipe.set(self.keys.snapshot(CENTRE), _dumps(centre))
                for snap in snaps:
                    pipe.publish(self.keys.changes, snap["queue"])
                pipe.publish(self.keys.changes, CENTRE)
                await pipe.execute()
        except (RedisError, OSError) as exc:
            log.warning("redis write failed (%s), will retry on the next tick", exc)
            return False
        return True

    async def _centre(self, own: list[dict[str, Any]], now: int, written: int
                      ) -> dict[str, Any] | None:
        # The centre sums every queue's snapshot, not only this worker's, so
        # several workers sharing partitions agree on it; the ones just written
        # here are used as they are, the others read back from Redis.
        mine = {s["queue"]: s for s in own}
        members = {text(n) for n in await self.redis.smembers(self.keys.queues)}
        others = sorted(members - set(mine) - {CENTRE})
        raw = await self.redis.mget([self.keys.snapshot(n) for n in others]) if others else []
        parts = [*mine.values(), *(json.loads(r) for r in raw if r)]
        if not parts:
            return None
        parts.sort(key=lambda p: p["queue"])
        centre = centre_snapshot(parts, self.settings.rules_for(CENTRE), now, self.settings.zone)
        centre["written_ms"] = written
        centre["last_event_ms"] = max((p.get("last_event_ms") or 0 for p in parts), default=0)
        return centre

    async def close(self) -> None:
        await self.redis.aclose()


def _dumps(doc: Any) -> str:
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":"))
