"""What the board pages read: the worker's snapshots and counters in Redis, and the assets."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Generic, TypeVar, cast

import redis

from base.config import Settings
from base.keys import SESSION_NAME, RedisKeys, ReplaySession, replay_prefix, text
from core.records import Snapshot
from core.snapshot import CENTRE

__all__ = ["ASSETS", "Read", "Readers", "SnapshotReader", "session_from_query", "sources_down"]

# One read of Redis: snapshots in board order, and the worker's stats.
Read = tuple[list[Snapshot], dict[str, int]]

ASSETS = Path(__file__).parent / "assets"


class SnapshotReader:
    """One Redis connection pool per board process; one round trip per read.

    A read gives up after a quarter of the refresh period, so a Redis that hangs
    (frozen, overloaded) is reported by the board's own answer ("cannot read the
    data store") within the tick, instead of the browser waiting past it and
    blaming the board's server.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.keys = RedisKeys(settings.redis_prefix)
        timeout = max(0.1, settings.board_refresh_ms / 4000)
        # One connection per serving thread at most; a thread beyond waits for one
        # (never "Too many connections" answered as an empty board).
        pool = redis.BlockingConnectionPool.from_url(
            settings.redis_url, max_connections=settings.board_threads + 2, timeout=timeout,
            socket_timeout=timeout, socket_connect_timeout=timeout, decode_responses=True)
        self.client = redis.Redis(connection_pool=pool)
        # Every display polls once per refresh period; one read per half period
        # serves all of them (200 displays cost Redis what 2 do).
        self._max_age_s = settings.board_refresh_ms / 2000
        self._cached: tuple[float, Read] | None = None
        self._lock = threading.Lock()

    def read(self, max_age_s: float | None = None) -> Read:
        """Snapshots in board order (centre first, then configured queues), and worker
        stats; shared by every display this process serves for half a refresh period
        (or ``max_age_s``)."""
        with self._lock:
            cached = self._cached
            limit = self._max_age_s if max_age_s is None else max_age_s
            if cached is not None and time.monotonic() - cached[0] < limit:
                return cached[1]
            fresh = self._read()  # an error is raised to every waiting display alike
            self._cached = (time.monotonic(), fresh)
            return fresh

    def _read(self) -> Read:
        configured = [CENTRE, *(q.name for q in self.settings.queues)]
        with self.client.pipeline(transaction=False) as pipe:
            pipe.smembers(self.keys.queues)
            pipe.mget([self.keys.snapshot(n) for n in configured])
            pipe.hgetall(self.keys.stats)
            pipe.hgetall(self.keys.sources)
            members, raw, stats, sources = pipe.execute()
        others = sorted({text(n) for n in members} - set(configured))
        if others:  # queues the configuration does not name: a second, rarer trip
            raw = [*raw, *self.client.mget([self.keys.snapshot(n) for n in others])]
        snaps = [cast(Snapshot, json.loads(r)) for r in raw if r]  # the worker's, as written
        counts = {text(k): int(v) for k, v in stats.items()}
        counts.update(sources_down(sources, int(time.time() * 1000)))
        return snaps, counts



# A live ingest says its source's state every 2 s (producers/esl.py): one silent for
# longer has stopped (killed, or cut off from Redis), its source with it.
SOURCE_SILENT_MS = 10_000


def sources_down(sources: dict[bytes | str, bytes | str], now_ms: int) -> dict[str, int]:
    """``source_down.<name>`` -> since when (ms), for each ACD source that is
    disconnected, or whose ingest has gone silent; read with the worker's counters."""
    down: dict[str, int] = {}
    for name, raw in sources.items():
        try:
            doc = json.loads(raw)
            up, since, checked = bool(doc["up"]), int(doc["since_ms"]), int(doc["checked_ms"])
        except (ValueError, KeyError, TypeError):
            continue
        if not up:
            down[f"source_down.{text(name)}"] = since
        elif now_ms - checked > SOURCE_SILENT_MS:
            down[f"source_down.{text(name)}"] = checked
    return down


def session_from_query(search: str | None) -> str | None:
    """``?session=NAME`` -> NAME when it is a possible session name, else None (live)."""
    from urllib.parse import parse_qs

    values = parse_qs((search or "").lstrip("?")).get("session", [])
    return values[0] if values and SESSION_NAME.fullmatch(values[0]) else None


R = TypeVar("R", bound=SnapshotReader)


class Readers(Generic[R]):
    """The live reader and one per replay session being watched (a few at a time)."""

    def __init__(self, settings: Settings, live: R, keep: int = 8) -> None:
        self.settings = settings
        self.live = live
        self.kind = type(live)  # the board's reader, or the supervisor's with history
        self.keep = keep
        self._sessions: dict[str, R] = {}
        self._lock = threading.Lock()

    def get(self, session: str | None) -> R:
        if session is None:
            return self.live
        with self._lock:
            reader = self._sessions.pop(session, None)
            if reader is None:
                prefix = replay_prefix(self.settings.redis_prefix, session)
                reader = self.kind(self.settings.model_copy(update={"redis_prefix": prefix}))
                if len(self._sessions) >= self.keep:  # the least recently watched goes
                    self._sessions.pop(next(iter(self._sessions))).client.close()
            self._sessions[session] = reader  # most recent last
            return reader

    def replay(self, session: str | None) -> ReplaySession | None:
        """The watched session's state; None when live. A session Redis does not list
        is "missing"; a failed read leaves the page's own read to report Redis."""
        if session is None:
            return None
        try:
            raw = self.live.client.hget(self.live.keys.replay_sessions, session)
        except (redis.RedisError, OSError):
            return {"name": session, "status": "running"}
        return cast(ReplaySession, json.loads(raw)) if raw else {"name": session, "status": "missing"}
