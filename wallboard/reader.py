"""What the board pages read: the worker's snapshots and counters in Redis, and the assets."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import redis

from callboard.config import Settings
from callboard.core.snapshot import CENTRE
from callboard.keys import RedisKeys, text

__all__ = ["ASSETS", "SnapshotReader"]

ASSETS = Path(__file__).parent / "assets"


class SnapshotReader:
    """One Redis connection pool per board process; reads every snapshot in one MGET."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.keys = RedisKeys(settings.redis_prefix)
        self.client = redis.Redis.from_url(
            settings.redis_url, socket_timeout=1, socket_connect_timeout=1, decode_responses=True
        )

    def read(self) -> tuple[list[dict[str, Any]], dict[str, int]]:
        """Snapshots in board order (centre first, then configured queues), and worker stats."""
        names = {text(n) for n in self.client.smembers(self.keys.queues)}
        configured = [q.name for q in self.settings.queues]
        order = [CENTRE, *configured, *sorted(names - set(configured))]
        raw = self.client.mget([self.keys.snapshot(n) for n in order])
        snaps = [json.loads(r) for r in raw if r]
        stats = {text(k): int(v) for k, v in self.client.hgetall(self.keys.stats).items()}
        return snaps, stats

