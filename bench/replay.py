"""A 300-seat centre's day through `callboard replay`: the whole day at --speed max, and a
jump (the session recomputed from the day's start to a minute), into a real Redis.

    .venv/bin/python bench/replay.py [--volume 6]

The day is simulated (`callboard simulate --volume 6 --duration 24h`, ~94k events),
written to a file and replayed from it, as from the archive. Prints events/s and
seconds for the whole day (load, fold, one write of snapshots and every half-hour
row) and for a jump to 13:00; the issue's goals are under 15 s and under 2 s.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import time
from pathlib import Path

from common import local_services, print_machine  # bench/common.py, beside this script

from callboard import services
from callboard.config import load_settings
from callboard.replay import (
    ReplayWriter,
    Session,
    jump,
    load_source,
    run_replay,
    session_prefix,
)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--volume", type=float, default=6.0)
    args = parser.parse_args()
    print_machine()
    with local_services() as (broker, redis_url, logs):
        log = logs / "day.jsonl"
        subprocess.run(services.callboard_argv(
            "simulate", "--seed", "3", "--duration", "24h", "--start", "2026-01-05T00:00",
            "--volume", str(args.volume), "--out", str(log)), check=True, capture_output=True)
        events = sum(1 for _ in log.open("rb"))
        settings = load_settings(None, broker_url=broker, redis_url=redis_url)
        day0 = _ms(settings, "2026-01-05T00:00")
        end = _ms(settings, "2026-01-05T23:59:59")
        started = time.perf_counter()
        run_replay(settings, name="bench", source=str(log), from_ms=day0, to_ms=end, speed=None)
        whole = time.perf_counter() - started
        print(f"day: {events} events; --speed max, whole day: {whole:.1f} s "
              f"({events / whole:,.0f} events/s)")
        print(f"jump to 13:00: {_jump(settings, log, day0, end):.2f} s "
              "(recomputed from the day's start, snapshots and rows written)")


def _jump(settings, log: Path, day0: int, end: int) -> float:
    import redis

    from callboard.assemble import pipeline_rules

    parts = load_source(settings, str(log), day0, end)
    session = Session(pipeline_rules(settings, offline=True), parts, day0)
    prefix = session_prefix(settings, "bench-jump")
    replay_settings = settings.model_copy(update={"redis_prefix": prefix, "clock": "event"})
    client = redis.Redis.from_url(settings.redis_url, decode_responses=True)

    async def timed() -> float:
        writer = ReplayWriter(replay_settings, lambda: session.pipelines)
        started = time.perf_counter()
        await jump(session, writer, client, prefix, _ms(settings, "2026-01-05T13:00"))
        took = time.perf_counter() - started
        await writer.close()
        return took

    return asyncio.run(timed())


def _ms(settings, text: str) -> int:
    from datetime import datetime

    return int(datetime.fromisoformat(text).replace(tzinfo=settings.zone).timestamp() * 1000)


if __name__ == "__main__":
    main()
