"""The open alerts and their audit trail in Redis, shared by the notifier and the console."""

from __future__ import annotations

import json
import time
from typing import Any

import redis

from callboard.keys import RedisKeys

__all__ = ["acknowledge", "audit"]


def audit(client: redis.Redis, keys: RedisKeys, **fields: Any) -> None:
    entry = {k: "" if v is None else str(v) for k, v in fields.items()}
    entry["at_ms"] = str(int(time.time() * 1000))
    client.xadd(keys.alerts_audit, entry, maxlen=100_000, approximate=True)  # type: ignore[arg-type]


def acknowledge(client: redis.Redis, keys: RedisKeys, queue: str, user: str) -> bool:
    raw = client.hget(keys.alerts_open, queue)
    if not raw:
        return False
    alert = json.loads(raw)
    alert["acked_by"] = user
    alert["acked_ms"] = int(time.time() * 1000)
    client.hset(keys.alerts_open, queue, json.dumps(alert, ensure_ascii=False))
    audit(client, keys, what="acknowledged", queue=queue, step=alert["step"], user=user,
          after_s=round((alert["acked_ms"] - alert["notified_ms"]) / 1000, 1))
    return True
