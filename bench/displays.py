"""Many wall displays on one board server: how long each refresh takes, how many fall
behind, what they are sent.

    .venv/bin/python bench/displays.py [--displays 50,100,200] [--seconds 60]
                                       [--queues 40] [--wall /board/agents]

A worker on the wall clock counts live simulated traffic on its own Tansu broker and
redis-server; `callboard board` serves it as in production (waitress, the configured
workers and threads). Each display is what a browser on `/board?lang=en` does
(assets/wall.js): every `board_refresh_ms` it asks `/board/frame`, saying which frame
it holds, and keeps the name of the frame it is answered.
The displays start at random phases, like screens switched on at different times.

Prints, per number of displays: refreshes answered, their p50/p95/p99 time, the share
that took longer than the refresh period (a display falling behind), errors, answers
that said the data store could not be read, the share that carried tiles (their
markup, or the figures that moved) and the bytes per answer. The load itself
runs on the same 2 cores, so the figures are an upper bound on the server's share.
With ``--queues N`` the centre is N queues of 8 agents each (simulated as configured,
``[queues.simulate]``); ``--wall`` is the page the displays show (``/board``, or
``/board/agents``: a tile per agent). Measures; asserts nothing (tests/integration
holds the behaviour).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import socket
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import aiohttp
import redis
from common import print_machine  # bench/common.py, beside this script

from base.config import load_settings
from base.keys import RedisKeys
from callboard import services
from core.snapshot import CENTRE

ROOT = Path(__file__).resolve().parents[1]


class Display:
    """What one browser on the wall does (assets/wall.js): asks for the frame, saying
    which one it holds, and keeps the name of the one it is answered."""

    def __init__(self, path: str) -> None:
        parts = [p for p in path.split("/") if p]
        self.wall = parts[1] if len(parts) == 2 else ""
        self.id = uuid.uuid4().hex[:16]
        self.held: str | None = None

    def params(self) -> dict[str, str]:
        asked = {"wall": self.wall, "display": self.id, "lang": "en", "w": "1920", "h": "1080"}
        return {**asked, "since": self.held} if self.held else asked



_VERSION = re.compile(rb'"v":"([0-9a-f]+)"')


async def _display(session: aiohttp.ClientSession, url: str, display: Display,
                   period_s: float, until: float, results: list[tuple[float, int, str]]
                   ) -> None:
    await asyncio.sleep(random.uniform(0, period_s))
    next_at = time.monotonic()
    while time.monotonic() < until:
        started = time.monotonic()
        try:
            async with session.get(url, params=display.params()) as reply:
                raw = await reply.read()
                status = reply.status
            took = time.monotonic() - started
            if status == 200:
                # What a browser would do with it is the browser's cost: only the
                # frame's name is read here, so the load takes little of the 2 cores.
                version = _VERSION.search(raw)
                display.held = version.group(1).decode() if version else display.held
                said = ("redis" if b"cannot read the data store" in raw else
                        "full" if b'"full":true' in raw else
                        "tiles" if b'"html":' in raw or b'"slots":' in raw else "ok")
            else:
                said = f"http {status}"
            results.append((took, len(raw), said))
        except (TimeoutError, aiohttp.ClientError) as exc:
            results.append((time.monotonic() - started, 0, type(exc).__name__))
        # The browser asks on its clock, whatever the answer took (wall.js skips a
        # tick while an answer is outstanding; this asks again at once, the worse case).
        next_at += period_s
        await asyncio.sleep(max(0.0, next_at - time.monotonic()))


async def _load(url: str, displays: int, seconds: float, period_s: float, path: str
                ) -> list[tuple[float, int, str]]:
    results: list[tuple[float, int, str]] = []
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        until = time.monotonic() + seconds
        await asyncio.gather(*(
            _display(session, url, Display(path), period_s, until, results)
            for _ in range(displays)))
    return results


def _report(displays: int, seconds: float, period_s: float,
            results: list[tuple[float, int, str]]) -> None:
    answered = ("ok", "tiles", "full", "redis")
    times = sorted(t for t, _, said in results if said in answered)
    if not times:
        print(f"{displays} displays: no answer at all ({len(results)} attempts)")
        return
    cuts = statistics.quantiles(times, n=100)
    behind = sum(1 for t in times if t > period_s)
    errors = sum(1 for _, _, said in results if said not in answered)
    redis_down = sum(1 for _, _, said in results if said == "redis")
    with_tiles = sum(1 for _, _, said in results if said in ("tiles", "full"))
    full = sum(1 for _, _, said in results if said == "full")
    sent = [size for _, size, said in results if said in ("ok", "tiles", "full")]
    print(f"{displays:>4} displays, {seconds:.0f} s: {len(times)} answers "
          f"({len(times) / seconds:.0f}/s of {displays / period_s:.0f}/s asked); "
          f"p50 {cuts[49] * 1000:.0f} ms, p95 {cuts[94] * 1000:.0f} ms, "
          f"p99 {cuts[98] * 1000:.0f} ms; slower than the refresh "
          f"{100 * behind / len(times):.1f}%; errors {errors}; 'cannot read' {redis_down}; "
          f"carrying tiles {100 * with_tiles / len(times):.0f}% "
          f"(everything {100 * full / len(times):.0f}%); "
          f"{statistics.mean(sent) / 1024:.1f} KB per answer")


def _served(url: str) -> dict[str, float]:
    """The board's own histogram of /board/frame answers: bucket bound -> count so far."""
    import urllib.request

    with urllib.request.urlopen(url, timeout=10) as reply:
        text = reply.read().decode()
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("callboard_board_request_seconds_bucket") and 'path="/board/frame"' in line:
            bound = re.search(r'le="([^"]+)"', line)
            if bound:
                out[bound.group(1)] = out.get(bound.group(1), 0.0) + float(line.rsplit(" ", 1)[1])
    return out


def _report_served(before: dict[str, float], after: dict[str, float]) -> None:
    """The server's share: the time from the request reaching Flask to its answer
    (not the wait for a thread, nor the load's own delays), as histogram bounds."""
    counts = sorted(((float(b), after[b] - before.get(b, 0.0)) for b in after),
                    key=lambda item: item[0])
    total = counts[-1][1] if counts else 0
    if not total:
        print("      the board's own timing: none recorded")
        return

    def bound(share: float) -> str:
        return next(f"<= {b * 1000:g} ms" for b, n in counts if n >= share * total)

    print(f"      in the board itself ({total:.0f} answers): p50 {bound(0.5)}, "
          f"p95 {bound(0.95)}, p99 {bound(0.99)}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--displays", default="50,100,200")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--queues", type=int, default=0, help="N queues of 8 agents (0: the default four)")
    parser.add_argument("--wall", default="/board", help="the page: /board or /board/agents")
    parser.add_argument("--slow", type=int, default=0,
                        help="also hold this many connections that send half their headers "
                        "and then nothing (slow clients), through every row")
    args = parser.parse_args()
    print_machine()
    logs = Path(tempfile.mkdtemp(prefix="callboard-displays-"))
    bport, rport, board_port, metrics_port = (services.free_port() for _ in range(4))
    broker = services.start_broker(bport, logs / "broker.log")
    redis_server = services.start_redis(rport, logs / "redis", logs / "redis.log")
    run = uuid.uuid4().hex[:6]
    env = dict(os.environ, CALLBOARD_BROKER_URL=f"kafka://127.0.0.1:{bport}",
               CALLBOARD_REDIS_URL=f"redis://127.0.0.1:{rport}/0",
               CALLBOARD_BROKER_PROFILE="local", CALLBOARD_CLOCK="wall",
               CALLBOARD_APP_ID=f"displays-{run}", CALLBOARD_BOARD_PORT=str(board_port),
               CALLBOARD_WORKER_METRICS_PORT="0", CALLBOARD_BOARD_METRICS_PORT=str(metrics_port),
               PYTHONUNBUFFERED="1")
    env.pop("CALLBOARD_CONFIG", None)
    config = None
    if args.queues:
        config = logs / "callboard.toml"
        config.write_text("".join(
            f'[[queues]]\nname = "Q{i:02d}"\n[queues.simulate]\nagents = 8\n'
            f'peak_calls_per_hour = 60\n' for i in range(args.queues))
            + '[[walls]]\nname = "agents"\nkind = "agents"\n')
        env["CALLBOARD_CONFIG"] = str(config)
    settings = load_settings(config)
    procs = [services.spawn(services.callboard_argv(*argv), logs / f"{argv[0]}.log", env, ROOT)
             for argv in (("worker",), ("simulate", "--start", "now", "--duration", "2h",
                                        "--speed", "1", "--flat", "--volume", "2"), ("board",))]
    try:
        store = redis.Redis.from_url(env["CALLBOARD_REDIS_URL"])
        deadline = time.monotonic() + 180
        centre = RedisKeys(settings.redis_prefix).snapshot(CENTRE)
        while not store.get(centre) and time.monotonic() < deadline:
            time.sleep(0.5)
        services.wait_for_port(board_port, procs[2], 120, "the board")
        print(f"board: waitress, {settings.board_workers * settings.board_threads} "
              f"threads, refresh every {settings.board_refresh_ms} ms; {len(settings.queues)} "
              f"queues, page {args.wall}; logs in {logs}")
        url = f"http://127.0.0.1:{board_port}/board/frame"
        period_s = settings.board_refresh_ms / 1000
        metrics = f"http://127.0.0.1:{metrics_port}/metrics"
        slow = []
        for _ in range(args.slow):
            conn = socket.create_connection(("127.0.0.1", board_port), timeout=5)
            conn.sendall(b"GET /board/frame HTTP/1.1\r\nHost: board\r\nX-Slow: ")
            slow.append(conn)
        if slow:
            print(f"holding {len(slow)} connections that never finish their headers")
        for displays in (int(n) for n in args.displays.split(",")):
            before = _served(metrics)
            results = asyncio.run(_load(url, displays, args.seconds, period_s, args.wall))
            _report(displays, args.seconds, period_s, results)
            _report_served(before, _served(metrics))
        for conn in slow:
            conn.close()
    finally:
        for proc in reversed(procs):
            services.stop(proc)
        services.stop(redis_server)
        services.stop(broker)


if __name__ == "__main__":
    main()
