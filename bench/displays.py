"""Many wall displays on one board server: how long each refresh takes, how many fall
behind, what they are sent.

    .venv/bin/python bench/displays.py [--displays 50,100,200] [--seconds 60]
                                       [--queues 40] [--wall /board/agents]

A worker on the wall clock counts live simulated traffic on its own Tansu broker and
redis-server; `callboard board` serves it as in production (gunicorn, the configured
workers and threads). Each display is what a browser on `/board?lang=en` does: every
`board_refresh_ms` it posts the board's refresh callback to `/_dash-update-component`,
with the same inputs and, as its State, whatever the previous answer stored on the page.
The displays start at random phases, like screens switched on at different times.

Prints, per number of displays: refreshes answered, their p50/p95/p99 time, the share
that took longer than the refresh period (a display falling behind), errors, answers
that said the data store could not be read, the share that carried tiles (all of
them, or a patch of the changed rows) and the bytes per answer. The load itself
runs on the same 2 cores, so the figures are an upper bound on the server's share.
With ``--queues N`` the centre is N queues of 8 agents each (simulated as configured,
``[queues.simulate]``); ``--wall`` is the page the displays show (``/board``, or
``/board/agents``: a tile per agent). Measures; asserts nothing (tests/integration
holds the behaviour).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import redis
from common import print_machine  # bench/common.py, beside this script

from base.config import load_settings
from base.keys import RedisKeys
from callboard import services
from core.snapshot import CENTRE
from wallboard.wall import create_app

ROOT = Path(__file__).resolve().parents[1]


def _refresh_callback() -> tuple[str, dict[str, Any]]:
    """The board's refresh callback as the page declares it: (output string, spec)."""
    app = create_app(load_settings(None))
    return next((key, spec) for key, spec in app.callback_map.items() if key.startswith(".."))


class Display:
    def __init__(self, output: str, spec: dict[str, Any], search: str, path: str) -> None:
        self.output, self.spec, self.search, self.path = output, spec, search, path
        self.n = 0
        self.page: dict[str, dict[str, Any]] = {}  # what earlier answers left on the page

    def body(self) -> dict[str, Any]:
        self.n += 1
        values = {"tick.n_intervals": self.n, "url.search": self.search,
                  "url.pathname": self.path}

        def item(dep: dict[str, str]) -> dict[str, Any]:
            key = f"{dep['id']}.{dep['property']}"
            value = values.get(key, self.page.get(dep["id"], {}).get(dep["property"]))
            return {**dep, "value": value}

        outputs = [dict(zip(("id", "property"), part.rsplit(".", 1), strict=True))
                   for part in self.output.strip(".").split("...")]
        return {"output": self.output, "outputs": outputs,
                "inputs": [item(d) for d in self.spec["inputs"]],
                "changedPropIds": ["tick.n_intervals"],
                "state": [item(d) for d in self.spec["state"]]}

    def keep(self, answer: dict[str, Any]) -> None:
        for component, props in answer.get("response", {}).items():
            self.page.setdefault(component, {}).update(props)


async def _display(session: aiohttp.ClientSession, url: str, display: Display,
                   period_s: float, until: float, results: list[tuple[float, int, str]]
                   ) -> None:
    await asyncio.sleep(random.uniform(0, period_s))
    next_at = time.monotonic()
    while time.monotonic() < until:
        started = time.monotonic()
        try:
            async with session.post(url, json=display.body()) as reply:
                raw = await reply.read()
                status = reply.status
            took = time.monotonic() - started
            if status == 200:
                answer = json.loads(raw)
                display.keep(answer)
                text = raw.decode()
                said = ("redis" if "cannot read the data store" in text else
                        "tiles" if '"tiles"' in text else "ok")
            else:
                said = "ok" if status == 204 else f"http {status}"
            results.append((took, len(raw), said))
        except (TimeoutError, aiohttp.ClientError) as exc:
            results.append((time.monotonic() - started, 0, type(exc).__name__))
        # A browser's dcc.Interval fires on its clock, whatever the answer took.
        next_at += period_s
        await asyncio.sleep(max(0.0, next_at - time.monotonic()))


async def _load(url: str, displays: int, seconds: float, period_s: float, path: str
                ) -> list[tuple[float, int, str]]:
    output, spec = _refresh_callback()
    results: list[tuple[float, int, str]] = []
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        until = time.monotonic() + seconds
        await asyncio.gather(*(
            _display(session, url, Display(output, spec, "?lang=en", path), period_s, until,
                     results)
            for _ in range(displays)))
    return results


def _report(displays: int, seconds: float, period_s: float,
            results: list[tuple[float, int, str]]) -> None:
    answered = ("ok", "tiles", "redis")
    times = sorted(t for t, _, said in results if said in answered)
    if not times:
        print(f"{displays} displays: no answer at all ({len(results)} attempts)")
        return
    cuts = statistics.quantiles(times, n=100)
    behind = sum(1 for t in times if t > period_s)
    errors = sum(1 for _, _, said in results if said not in answered)
    redis_down = sum(1 for _, _, said in results if said == "redis")
    with_tiles = sum(1 for _, _, said in results if said == "tiles")
    sent = [size for _, size, said in results if said in ("ok", "tiles")]
    print(f"{displays:>4} displays, {seconds:.0f} s: {len(times)} answers "
          f"({len(times) / seconds:.0f}/s of {displays / period_s:.0f}/s asked); "
          f"p50 {cuts[49] * 1000:.0f} ms, p95 {cuts[94] * 1000:.0f} ms, "
          f"p99 {cuts[98] * 1000:.0f} ms; slower than the refresh "
          f"{100 * behind / len(times):.1f}%; errors {errors}; 'cannot read' {redis_down}; "
          f"carrying tiles {100 * with_tiles / len(times):.0f}%; "
          f"{statistics.mean(sent) / 1024:.1f} KB per answer")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--displays", default="50,100,200")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--queues", type=int, default=0, help="N queues of 8 agents (0: the default four)")
    parser.add_argument("--wall", default="/board", help="the page: /board or /board/agents")
    args = parser.parse_args()
    print_machine()
    logs = Path(tempfile.mkdtemp(prefix="callboard-displays-"))
    bport, rport, board_port = (services.free_port() for _ in range(3))
    broker = services.start_broker(bport, logs / "broker.log")
    redis_server = services.start_redis(rport, logs / "redis", logs / "redis.log")
    run = uuid.uuid4().hex[:6]
    env = dict(os.environ, CALLBOARD_BROKER_URL=f"kafka://127.0.0.1:{bport}",
               CALLBOARD_REDIS_URL=f"redis://127.0.0.1:{rport}/0",
               CALLBOARD_BROKER_PROFILE="local", CALLBOARD_CLOCK="wall",
               CALLBOARD_APP_ID=f"displays-{run}", CALLBOARD_BOARD_PORT=str(board_port),
               CALLBOARD_WORKER_METRICS_PORT="0", CALLBOARD_BOARD_METRICS_PORT="0",
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
        print(f"board: gunicorn {settings.board_workers} workers x {settings.board_threads} "
              f"threads, refresh every {settings.board_refresh_ms} ms; {len(settings.queues)} "
              f"queues, page {args.wall}; logs in {logs}")
        url = f"http://127.0.0.1:{board_port}/_dash-update-component"
        period_s = settings.board_refresh_ms / 1000
        for displays in (int(n) for n in args.displays.split(",")):
            results = asyncio.run(_load(url, displays, args.seconds, period_s, args.wall))
            _report(displays, args.seconds, period_s, results)
    finally:
        for proc in reversed(procs):
            services.stop(proc)
        services.stop(redis_server)
        services.stop(broker)


if __name__ == "__main__":
    main()
