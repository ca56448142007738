"""The /displays registry is written by anonymous wall pages (issue #30 §3): a flood of
made-up displays with huge parameters must not fill Redis. Against a real redis-server."""

from __future__ import annotations

import json

import pytest
import redis

from base.config import Settings
from base.keys import RedisKeys
from wallboard.displays import DisplayRegistry

pytestmark = pytest.mark.integration

NOW = 1_767_578_400_000
HUGE = "9" * 100_000


def _registry(stack, **limits) -> tuple[DisplayRegistry, redis.Redis, str]:
    settings = Settings(redis_url=stack.env["CALLBOARD_REDIS_URL"],
                        redis_prefix=f"cb-{stack.app_id}", **limits)
    client = redis.Redis.from_url(settings.redis_url, decode_responses=True)
    return (DisplayRegistry(settings, client, flush_s=0.0), client,
            RedisKeys(settings.redis_prefix).displays)


def _report(wall: str, addr: str, **fields) -> dict:
    return {"wall": wall, "lang": "zh", "session": None, "w": "1920", "h": "1080",
            "since": str(NOW - 60_000), "addr": addr, "agent": "kiosk", **fields}


def test_a_flood_from_one_address_is_bounded_in_count_and_size(stack):
    registry, client, key = _registry(stack, displays_max=50, displays_per_address=3)
    before = client.memory_usage(key) or 0
    for n in range(150):  # 150 made-up displays, every field 100 KB, from one address
        registry.seen(f"flood-{n:06d}", _report("board", "10.0.0.9", w=HUGE, h=HUGE,
                                                 since=HUGE, agent=HUGE), NOW + n)
    held = client.hgetall(key)
    assert sorted(held) == ["flood-000000", "flood-000001", "flood-000002"]
    for doc in map(json.loads, held.values()):
        assert doc["w"] is None and doc["h"] is None and doc["since"] is None
        assert len(doc["agent"]) == 120
    assert (client.memory_usage(key) or 0) - before < 5_000  # not 15 MB
    # A display already listed keeps reporting from that address.
    registry.seen("flood-000001", _report("board", "10.0.0.9"), NOW + 500)
    assert json.loads(client.hget(key, "flood-000001"))["w"] == 1920


def test_only_configured_walls_are_listed_and_the_longest_silent_go_first(stack):
    registry, client, key = _registry(stack, displays_max=5, displays_per_address=3)
    registry.seen("nowall-0001", _report("x" * 1000, "10.0.0.1"), NOW)
    assert client.hlen(key) == 0
    for n in range(8):  # eight real walls, one per address, one a second
        registry.seen(f"wall-{n:07d}", _report("board", f"10.0.1.{n}"), NOW + n * 1000)
    assert sorted(client.hgetall(key)) == [f"wall-{n:07d}" for n in range(3, 8)]
