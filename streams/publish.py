"""Hands snapshots to the board through Redis: one JSON value per queue, plus a notice.

Also keeps the history the supervisor page charts: one row per queue and half
hour, and per day, in Redis hashes. A row is rewritten whenever an event lands
in it (a late wrap-up changes a closed half hour), and the current and previous
half hours are rewritten on every tick so open agent time reaches them.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import Any, cast

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from callboard.config import Settings
from callboard.core import kpi
from callboard.core.pipeline import Pipeline
from callboard.core.schedule import Schedule
from callboard.core.snapshot import CENTRE, centre_snapshot, window_figures
from callboard.core.timebuckets import day_bounds, half_hour_bounds
from callboard.keys import RedisKeys, text

__all__ = ["SnapshotWriter"]

log = logging.getLogger(__name__)
_MAX_FILL_MS = 2 * 86_400_000  # quiet half hours filled in after a gap, at most
_EXPIRE_EVERY_S = 30  # expiry scans every key: every 30 s is plenty for minute buckets


class SnapshotWriter:
    """Writes queue and centre snapshots; a Redis outage is logged and retried next tick."""

    def __init__(self, settings: Settings, shards: Callable[[], Mapping[int, Pipeline]],
                 schedule: Schedule | None = None) -> None:
        self.settings = settings
        self.shards = shards  # partition -> the pipeline counting its queues
        self.schedule = schedule
        self._trimmed_hour = 0
        self._last_half: dict[str, int] = {}  # per queue, the newest half hour written
        self._expired_before: dict[str, int] = {}  # per queue, minutes before it are gone
        self._last_expiry = 0.0
        self.keys = RedisKeys(settings.redis_prefix)
        self.redis = aioredis.from_url(
            settings.redis_url, socket_timeout=2, socket_connect_timeout=2,
            health_check_interval=10, decode_responses=True,
        )
        # The agent (after a batch) and the timer both write; one at a time, so
        # the centre is always summed from the queue snapshots just written.
        self._lock = asyncio.Lock()

    def now_ms(self) -> int:
        clock = max((p.engine.now() for p in self.shards().values()), default=0)
        return max(clock, int(time.time() * 1000)) if self.settings.clock == "wall" else clock

    def _owner(self, queue: str) -> Pipeline | None:
        for pipeline in self.shards().values():
            if queue in pipeline.engine.live:
                return pipeline
        return None

    async def write(self, queues: Iterable[str], stats: dict[str, int] | None = None,
                    minutes: Iterable[tuple[str, int]] = ()) -> bool:
        async with self._lock:
            queues = list(queues)
            ok = await self._write(queues, stats)
            if ok:
                ok = await self._write_history(queues, minutes)
            return ok

    async def _write(self, queues: Iterable[str], stats: dict[str, int] | None) -> bool:
        now = self.now_ms()
        written = int(time.time() * 1000)
        planned = self.schedule.planned if self.schedule is not None else None
        snaps = []
        for queue in queues:
            owner = self._owner(queue)
            if owner is None:
                continue  # its partition moved to another worker
            snap = owner.snapshot(queue, now, planned)
            snap["written_ms"] = written
            snaps.append(snap)
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for snap in snaps:
                    pipe.set(self.keys.snapshot(snap["queue"]), _dumps(snap))
                if snaps:
                    pipe.sadd(self.keys.queues, *[s["queue"] for s in snaps])
                pipe.set(self.keys.heartbeat, written)
                for partition, pipeline in self.shards().items():
                    if pipeline.stats:
                        pipe.hset(self.keys.shard_stats(partition),
                                  mapping=cast(Mapping[Any, Any], dict(pipeline.stats)))
                        pipe.sadd(self.keys.shards, str(partition))
                await pipe.execute()
            await self._write_stats(stats or {})
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

    async def _write_stats(self, worker: dict[str, int]) -> None:
        # Counted with the records, so they survive restarts: the totals are the
        # sums of every partition's counters, whichever worker counts it now.
        shards = sorted(text(p) for p in await self.redis.smembers(self.keys.shards))
        totals: Counter[str] = Counter()
        async with self.redis.pipeline(transaction=False) as pipe:
            for partition in shards:
                pipe.hgetall(self.keys.shard_stats(int(partition)))
            for reply in await pipe.execute():
                totals.update({text(k): int(v) for k, v in reply.items()})
        totals.update(worker)
        if totals:
            await self.redis.hset(self.keys.stats, mapping=cast(Mapping[Any, Any], dict(totals)))

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
        return centre

    async def _write_history(self, queues: list[str], minutes: Iterable[tuple[str, int]]
                             ) -> bool:
        now = self.now_ms()
        zone = self.settings.zone
        halves: set[tuple[str, int]] = set()
        for queue, minute in minutes:
            halves.add((queue, half_hour_bounds(minute, zone)[0]))
        current = half_hour_bounds(now, zone)[0]
        for queue in queues:
            if self._owner(queue) is None:
                continue  # not (or no longer, or not yet wholly) counted here
            # Every half hour gets a row, quiet ones too (a chart must not skip a
            # night); after a restart, or a jump of the event clock, fill the gap.
            start = self._last_half.get(queue)
            if start is None:
                # First write of this process: from the oldest half hour these
                # events touched (never an empty row before the first data).
                touched = [hh for q, hh in halves if q == queue]
                if not touched:
                    halves.add((queue, current))  # a tick before any event: no gap to fill
                    continue
                start = min([*touched, current])
            start = max(start, current - _MAX_FILL_MS)
            while start <= current:
                halves.add((queue, start))
                start = half_hour_bounds(start, zone)[1]
            self._last_half[queue] = current
        days = {(q, day_bounds(start, zone)[0]) for q, start in halves}
        # A span reaching back past the minutes expired so far can no longer be
        # summed: its row stays as it was written while its minutes were kept.
        halves = {(q, t) for q, t in halves if t >= self._expired_before.get(q, t)}
        days = {(q, t) for q, t in days if t >= self._expired_before.get(q, t)}
        rows: list[tuple[str, str, int, dict[str, Any]]] = []
        for kind, spans, end_of in (("intervals", halves, half_hour_bounds),
                                    ("days", days, day_bounds)):
            for queue, start in sorted(spans):
                row = self._row(queue, start, end_of(start, zone)[1], now)
                if row is not None:
                    rows.append((kind, queue, start, row))
        if not rows:
            return True
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for kind, queue, start, row in rows:
                    pipe.hset(self._history_key(kind, queue), str(start), _dumps(row))
                await pipe.execute()
            await self._centre_history({(kind, start) for kind, _, start, _ in rows}, now)
            await self._trim(now)
        except (RedisError, OSError) as exc:
            log.warning("redis history write failed (%s), will retry on the next tick", exc)
            return False
        return True

    def expire(self) -> None:
        """Drop minute buckets past the retention. The worker calls it only when the
        rows of every minute counted so far are written (a fast replay crosses the
        retention in seconds); rows before the cut are left as they were written."""
        if time.monotonic() - self._last_expiry < _EXPIRE_EVERY_S:
            return
        self._last_expiry = time.monotonic()
        retention_ms = self.settings.bucket_retention_h * 3_600_000
        for pipeline in self.shards().values():
            for queue in pipeline.queues():
                clock = pipeline.queue_clock(queue)
                if clock:
                    self._expired_before[queue] = clock - retention_ms
            pipeline.expire()

    def _history_key(self, kind: str, queue: str) -> str:
        return self.keys.intervals(queue) if kind == "intervals" else self.keys.days(queue)

    def _row(self, queue: str, start: int, end: int, now: int) -> dict[str, Any] | None:
        rules = self.settings.rules_for(queue)
        owner = self._owner(queue)
        if owner is None:
            return None
        counters, _ = owner.engine.window(queue, start, end, now)
        return {"queue": queue, "sl_formula": rules.sl_formula,
                "sl_threshold_s": rules.sl_threshold_s,
                **window_figures(start, end, counters, rules, self.settings.zone)}

    async def _centre_history(self, spans: set[tuple[str, int]], now: int) -> None:
        # Summed from every queue's row in Redis, as the centre snapshot is, so
        # several workers agree on it.
        members = sorted({text(n) for n in await self.redis.smembers(self.keys.queues)} - {CENTRE})
        if not members:
            return
        spans_list = sorted(spans)
        async with self.redis.pipeline(transaction=False) as pipe:
            for kind, start in spans_list:
                for queue in members:
                    pipe.hget(self._history_key(kind, queue), str(start))
            replies = await pipe.execute()
        rules = self.settings.rules_for(CENTRE)
        async with self.redis.pipeline(transaction=False) as pipe:
            for i, (kind, start) in enumerate(spans_list):
                parts = [json.loads(r) for r in replies[i * len(members):(i + 1) * len(members)]
                         if r]
                if not parts:
                    continue
                counters = kpi.merge(p["counters"] for p in parts)
                row = {"queue": CENTRE, "sl_formula": rules.sl_formula,
                       "sl_threshold_s": rules.sl_threshold_s,
                       **window_figures(start, parts[0]["end_ms"], counters, rules,
                                        self.settings.zone)}
                pipe.hset(self._history_key(kind, CENTRE), str(start), _dumps(row))
            await pipe.execute()

    async def _trim(self, now: int) -> None:
        hour = now // 3_600_000
        if hour == self._trimmed_hour:
            return
        self._trimmed_hour = hour
        horizon = now - self.settings.history_days * 86_400_000
        members = {text(n) for n in await self.redis.smembers(self.keys.queues)} | {CENTRE}
        for queue in members:
            for key in (self.keys.intervals(queue), self.keys.days(queue)):
                old = [f for f in await self.redis.hkeys(key) if int(text(f)) < horizon]
                if old:
                    await self.redis.hdel(key, *old)

    async def close(self) -> None:
        await self.redis.aclose()


def _dumps(doc: Any) -> str:
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":"))
