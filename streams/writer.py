"""Hands snapshots to the board through Redis: one JSON value per queue, plus a notice.

Also stores the history the supervisor page charts: one row per queue and half
hour, and per day, in Redis hashes; which rows are due after a batch, and what
they hold, the core decides (core/history.py).
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

from base.config import Settings
from base.keys import RedisKeys, text
from core import kpi
from core.history import HALF_HOURS, HistoryCursor, history_row
from core.pipeline import FeedResult, Pipeline
from core.records import Snapshot
from core.schedule import Schedule
from core.snapshot import CENTRE, centre_snapshot
from streams.progress import Liveness

__all__ = ["Pending", "SnapshotWriter", "write_changes"]

log = logging.getLogger(__name__)
_EXPIRE_EVERY_S = 30  # expiry scans every key: every 30 s is plenty for minute buckets
_WRITE_PAUSE_S = 0.2


# Writes a snapshot unless the one stored is newer (a later as_of_ms) and was written
# recently (within ARGV[5] ms): during a rebalance two workers may both write a
# queue, and the board must not move backwards; a stale one (its writer gone, or a
# pipeline started again from earlier) may be replaced.
_SET_UNLESS_NEWER = """
local cur = redis.call('HGET', KEYS[2], ARGV[1])
if cur then
  local sep = string.find(cur, ':', 1, true)
  local as_of = tonumber(string.sub(cur, 1, sep - 1))
  local written = tonumber(string.sub(cur, sep + 1))
  if as_of > tonumber(ARGV[2]) and tonumber(ARGV[3]) - written < tonumber(ARGV[5]) then
    return 0
  end
end
redis.call('SET', KEYS[1], ARGV[4])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2] .. ':' .. ARGV[3])
return 1
"""


class SnapshotWriter:
    """Writes queue and centre snapshots; a Redis outage is logged and retried next tick."""

    def __init__(self, settings: Settings, shards: Callable[[], Mapping[int, Pipeline]],
                 schedule: Schedule | None = None, liveness: Liveness | None = None) -> None:
        self.settings = settings
        self.shards = shards  # partition -> the pipeline counting its queues
        self.schedule = schedule
        self._trimmed_hour = 0
        self.cursor = HistoryCursor(settings.zone)
        self.centre_rules = settings.rule_book().rules_for(CENTRE)
        # The worker's last contact with the broker and each partition's progress (its
        # jobs feed them); every snapshot carries the result, so the board can tell live
        # from merely written, and a partition stuck with records waiting from live.
        self.liveness = liveness if liveness is not None else Liveness(int(time.time() * 1000))
        self.last_write_ms = 0  # wall ms of the last write that reached Redis
        self._history_lost = False  # the last write found no history epoch (Redis empty)
        self._last_expiry = 0.0
        self.keys = RedisKeys(settings.redis_prefix)
        self.redis = aioredis.from_url(
            settings.redis_url, socket_timeout=2, socket_connect_timeout=2,
            health_check_interval=10, decode_responses=True,
        )
        self._set_unless_newer = self.redis.register_script(_SET_UNLESS_NEWER)
        # The agent (after a batch) and the timer both write; one at a time, so
        # the centre is always summed from the queue snapshots just written.
        self._lock = asyncio.Lock()

    def now_ms(self) -> int:
        clock = max((p.engine.now() for p in self.shards().values()), default=0)
        return max(clock, int(time.time() * 1000)) if self.settings.clock == "wall" else clock

    def _owner(self, queue: str) -> Pipeline | None:
        owned = self._owned(queue)
        return owned[1] if owned is not None else None

    def _owned(self, queue: str) -> tuple[int, Pipeline] | None:
        for partition, pipeline in self.shards().items():
            if queue in pipeline.engine.live:
                return partition, pipeline
        return None

    async def write(self, queues: Iterable[str], stats: dict[str, int] | None = None,
                    minutes: Iterable[tuple[str, int]] = ()) -> bool:
        async with self._lock:
            queues = list(queues)
            # One "now" for the snapshots and the rows: the engine sums a window
            # once per write, and the board's half hour and day are the rows'.
            now = self.now_ms()
            minutes = set(minutes)
            ok = await self._write(queues, stats, now)
            if not ok:
                return False
            lost = self._history_lost
            first = not self.last_write_ms
            if lost:
                # A Redis that came back empty (or a first start): every half hour and
                # day still kept in the worker's state is written again.
                minutes = {*minutes, *(key for p in self.shards().values()
                                       for key in list(p.engine.buckets))}
                self.cursor = HistoryCursor(self.settings.zone)
            ok = await self._write_history(queues, minutes, now)
            if ok:
                self.last_write_ms = int(time.time() * 1000)
            if ok and lost:
                # On this writer's first write (a start, a fresh replay session) that is
                # the normal way in; later, Redis lost them: worth an operator's look.
                log.log(logging.INFO if first else logging.WARNING,
                        "history rows %s from the worker's state (%d minutes)",
                        "written" if first else "rebuilt (Redis had lost them)", len(minutes))
                await self.redis.set(self.keys.history_epoch, now)
            return ok

    async def _write(self, queues: Iterable[str], stats: dict[str, int] | None, now: int
                     ) -> bool:
        written = int(time.time() * 1000)
        planned = self.schedule.planned if self.schedule is not None else None
        stalled = self.liveness.progress.stalled(written, int(self.settings.stale_after_s * 1000))
        snaps, drills = [], []
        for queue in queues:
            owned = self._owned(queue)
            if owned is None:
                continue  # its partition moved to another worker
            partition, owner = owned
            snap = owner.snapshot(queue, now, planned)
            snap["written_ms"] = written
            snap["source_ok_ms"] = self.liveness.source_ok_ms(partition)
            if partition in stalled:
                snap["unread"] = stalled[partition].unread  # the board says why
            snaps.append(snap)
            drills.append(owner.drill(queue, now))
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for snap in snaps:
                    await self._store(pipe, snap)
                for drill in drills:  # read by the supervisor page only, never by a wall
                    pipe.set(self.keys.drill(drill["queue"]), _dumps(drill),
                             ex=int(max(60, 10 * self.settings.stale_after_s)))
                if snaps:
                    pipe.sadd(self.keys.queues, *[s["queue"] for s in snaps])
                pipe.set(self.keys.heartbeat, written)
                for partition, pipeline in self.shards().items():
                    if pipeline.stats:
                        pipe.hset(self.keys.shard_stats(partition),
                                  mapping=cast(Mapping[Any, Any], dict(pipeline.stats)))
                        pipe.sadd(self.keys.shards, str(partition))
                # In the same round trip: are the history rows still there?
                pipe.exists(self.keys.history_epoch)
                self._history_lost = not (await pipe.execute())[-1]
            await self._write_stats(stats or {})
            centre = await self._centre(snaps, now, written)
            async with self.redis.pipeline(transaction=False) as pipe:
                if centre is not None:
                    await self._store(pipe, centre)
                for snap in snaps:
                    pipe.publish(self.keys.changes, snap["queue"])
                pipe.publish(self.keys.changes, CENTRE)
                await pipe.execute()
        except (RedisError, OSError) as exc:
            log.warning("redis write failed (%s), will retry on the next tick", exc)
            return False
        return True

    async def _store(self, pipe: Any, snap: Snapshot) -> None:
        queue = snap["queue"]
        await self._set_unless_newer(
            keys=[self.keys.snapshot(queue), self.keys.snapshot_meta],
            args=[queue, snap["as_of_ms"], snap["written_ms"], _dumps(snap),
                  int(self.settings.stale_after_s * 1000)],
            client=pipe)

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

    async def _centre(self, own: list[Snapshot], now: int, written: int
                      ) -> Snapshot | None:
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
        centre = centre_snapshot(parts, self.centre_rules, now, self.settings.zone)
        centre["written_ms"] = written
        centre["source_ok_ms"] = min(p.get("source_ok_ms", written) for p in parts)
        unread = [p["unread"] for p in parts if p.get("unread")]
        if unread:
            centre["unread"] = max(unread)  # queues of one partition share its count
        return centre

    async def _write_history(self, queues: list[str], minutes: Iterable[tuple[str, int]],
                             now: int) -> bool:
        # Which rows are due is the core's decision (core/history.py);
        # only queues counted here, wholly restored, have rows written.
        minutes = list(minutes)
        owners = {q: p for q in {*queues, *(q for q, _ in minutes)}
                  if (p := self._owner(q)) is not None}

        def kept_from(queue: str) -> int | None:
            return owners[queue].kept_from(queue)

        rows = [(span, owners[span.queue].history_row(span, self.cursor.end_of(span), now))
                for span in self.cursor.due(owners, minutes, now, kept_from)]
        if not rows:
            return True
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for span, row in rows:
                    pipe.hset(self._history_key(span.kind, span.queue), str(span.start_ms),
                              _dumps(row))
                await pipe.execute()
            await self._centre_history({(span.kind, span.start_ms) for span, _ in rows})
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
        for pipeline in self.shards().values():
            pipeline.expire()

    def _history_key(self, kind: str, queue: str) -> str:
        return self.keys.intervals(queue) if kind == HALF_HOURS else self.keys.days(queue)

    async def _centre_history(self, spans: set[tuple[str, int]]) -> None:
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
        rules = self.centre_rules
        async with self.redis.pipeline(transaction=False) as pipe:
            for i, (kind, start) in enumerate(spans_list):
                parts = [json.loads(r) for r in replies[i * len(members):(i + 1) * len(members)]
                         if r]
                if not parts:
                    continue
                counters = kpi.merge(p["counters"] for p in parts)
                row = history_row(rules, start, parts[0]["end_ms"], counters, self.settings.zone)
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


class Pending:
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

    def touch(self, queues: Iterable[str]) -> None:
        """Write these again (windows slide; the write says the worker is alive)."""
        self.queues |= set(queues)
        self.dirty.set()


async def write_changes(pending: Pending, writer: SnapshotWriter, stats: dict[str, int]) -> None:
    """A Faust task. Counting never waits for Redis: what changed is written as soon as
    the previous write is done, so under load one write covers many batches."""
    while True:
        await pending.dirty.wait()
        pending.dirty.clear()
        queues, minutes = pending.queues, pending.minutes
        pending.queues, pending.minutes = set(), set()
        if not await writer.write(queues, dict(stats), minutes):
            pending.queues |= queues  # Redis is down: keep them for the next try
            pending.minutes |= minutes
        elif not pending.minutes:
            writer.expire()  # every counted minute has its row: old buckets may go
        # Under load, one write per pause covers many batches instead of
        # recomputing every window after each one (the board polls at 1 Hz).
        await asyncio.sleep(_WRITE_PAUSE_S)
