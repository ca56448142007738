"""A 300-seat centre's day through `callboard replay`: the whole day at --speed max, and a
jump (the session recomputed from the day's start to a minute), into a real Redis.

    .venv/bin/python bench/replay.py [--volume 6]

The day is simulated (`callboard simulate --volume 6 --duration 24h`, ~94k events),
written to a file and replayed from it, as from the archive. Prints events/s and
seconds for the whole day (load, fold, one write of snapshots and every half-hour
row); then jumps: forward from 00:00 to 13:00 in a fresh session (three times, the median
printed), and back from
the day's end to 13:00 and to 23:30 in a played one (restored from its half-hour
checkpoints). The issue's goals: the day under 15 s, a jump under 2 s.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import time
from pathlib import Path

from common import local_services, print_machine  # bench/common.py, beside this script

from base.config import load_settings
from callboard import services
from review.replay import (
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
        for label, seconds in _jumps(settings, log, day0, end).items():
            print(f"jump {label}: {seconds:.2f} s")


def _jumps(settings, log: Path, day0: int, end: int) -> dict[str, float]:
    """Seconds for jumps, each with the session's keys brought to the minute: forward
    from 00:00 to 13:00 in a fresh session; then, in a session played to the day's end
    (a checkpoint each half hour, as a paced session takes them), back to 13:00 and
    back to 23:30."""
    import redis

    from base.assemble import pipeline_rules
    from review.replay import _CHECKPOINT_EVERY_MS

    parts = load_source(settings, str(log), day0, end)
    client = redis.Redis.from_url(settings.redis_url, decode_responses=True)
    session = Session(pipeline_rules(settings, offline=True), parts, day0,
                      checkpoint_every_ms=_CHECKPOINT_EVERY_MS)
    prefix = session_prefix(settings, "bench-jump")
    writer_settings = settings.model_copy(update={"redis_prefix": prefix, "clock": "event"})
    took: dict[str, float] = {}

    async def timed(label: str, writer: ReplayWriter, at: int) -> None:
        started = time.perf_counter()
        await jump(session, writer, client, at)
        took[label] = time.perf_counter() - started

    async def run() -> None:
        writer = ReplayWriter(writer_settings, lambda: session.pipelines)
        # Three fresh sessions: this machine's own spread is some tenths of a second.
        forward = []
        for _ in range(3):
            fresh = Session(session.rules, parts, day0, checkpoint_every_ms=_CHECKPOINT_EVERY_MS)
            fresh.reset()
            fresh.advance_to(day0)
            started = time.perf_counter()
            await jump(fresh, ReplayWriter(writer_settings, lambda f=fresh: f.pipelines), client,
                       _ms(settings, "2026-01-05T13:00"))
            forward.append(time.perf_counter() - started)
        session.reset()
        session.advance_to(day0)
        await jump(session, writer, client, _ms(settings, "2026-01-05T13:00"))
        took["forward 00:00 -> 13:00, fresh session (median of 3)"] = sorted(forward)[1]
        print(f"forward jumps: {', '.join(f'{t:.2f}' for t in forward)} s")
        for at in range(session.at_ms, end, 5 * 60_000):  # played on, checkpoints taken
            session.advance_to(at)
        await jump(session, writer, client, end)
        await timed("back 23:59 -> 13:00, played session", writer,
                    _ms(settings, "2026-01-05T13:00"))
        await jump(session, writer, client, end)
        await timed("back 23:59 -> 23:30, played session", writer,
                    _ms(settings, "2026-01-05T23:30"))
        await writer.close()

    asyncio.run(run())
    return took


def _ms(settings, text: str) -> int:
    from datetime import datetime

    return int(datetime.fromisoformat(text).replace(tzinfo=settings.zone).timestamp() * 1000)


if __name__ == "__main__":
    main()
