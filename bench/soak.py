"""A soak: live traffic at a steady rate for a long time, with the counting lag and the
processes' memory printed every few minutes.

    .venv/bin/python bench/soak.py [--rate 100] [--minutes 60] [--every 5] [--hog]

A worker on the wall clock counts events published at ``--rate`` per second (simulated
peak traffic, its clock compressed to that rate and moved to the wall clock), on its own Tansu broker and
redis-server. Every ``--every`` minutes: events sent and counted, the counting lag
(sent minus counted, and the age of the newest counted event), the worker's and the
broker's RSS, and the worker's fetch wait on the local broker. At the end the worker is
killed (-9) and a new one started on the same log: the seconds until it is ready and
until it has counted every event again. ``--hog`` runs a busy loop per core beside the
stack (a machine busy with other work). Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import subprocess
import time
import uuid
from pathlib import Path
from zoneinfo import ZoneInfo

import redis
import requests
from common import live_paced, local_services, print_machine  # bench/common.py, beside this script

from base.keys import RedisKeys
from base.local_broker import LOCAL_LINGER_MS
from callboard import services
from core.snapshot import CENTRE
from producers.kafka_sink import KafkaSink
from producers.simulator import Simulator

ROOT = Path(__file__).resolve().parents[1]
START_MS = 1_767_571_200_000  # 2026-01-05 08:00 Shanghai: the simulator's clock


def _hog() -> None:
    while True:
        pass


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--every", type=float, default=5.0)
    parser.add_argument("--hog", action="store_true")
    args = parser.parse_args()
    print_machine()
    hogs = [multiprocessing.Process(target=_hog, daemon=True)
            for _ in range(os.cpu_count() or 1)] if args.hog else []
    for hog in hogs:
        hog.start()
    with local_services() as (broker, redis_url, logs):
        prefix = f"soak-{uuid.uuid4().hex[:6]}"
        env = dict(os.environ, CALLBOARD_BROKER_URL=broker, CALLBOARD_REDIS_URL=redis_url,
                   CALLBOARD_BROKER_PROFILE="local", CALLBOARD_CLOCK="wall",
                   CALLBOARD_APP_ID=prefix, CALLBOARD_REDIS_PREFIX=prefix,
                   CALLBOARD_WORKER_METRICS_PORT=str(services.free_port()),
                   PYTHONUNBUFFERED="1")
        env.pop("CALLBOARD_CONFIG", None)
        worker = services.spawn(services.callboard_argv("worker"), logs / "worker.log", env, ROOT)
        broker_pid = _listener_pid(int(broker.rsplit(":", 1)[1]))
        client = redis.Redis.from_url(redis_url, decode_responses=True)
        deadline = time.monotonic() + 120
        while not client.get(RedisKeys(prefix).heartbeat) and time.monotonic() < deadline:
            time.sleep(0.2)
        sink = KafkaSink(broker, "acd.events.v1", linger_ms=LOCAL_LINGER_MS)  # as `callboard up`
        events = list(Simulator(seed=4, start_ms=START_MS, duration_ms=48 * 3_600_000,
                                zone=_zone(), volume=10, flat=True, trunks=10_000).events())
        started = time.monotonic()
        next_report = started + args.every * 60
        sent = 0
        print(f"soak: {args.rate:.0f} events/s for {args.minutes:.0f} min"
              f"{', a busy loop on every core beside it' if hogs else ''}")
        try:
            for event in live_paced(events, args.rate, START_MS):
                sink.send(event)
                sent += 1
                if time.monotonic() >= next_report:
                    _report(client, prefix, sent, started, worker.pid, broker_pid, logs / "worker.log")
                    next_report += args.every * 60
                if time.monotonic() - started >= args.minutes * 60:
                    break
            sink.flush()
            _report(client, prefix, sent, started, worker.pid, broker_pid, logs / "worker.log")
            worker = _restart(worker, env, logs, sent)
        finally:
            sink.close()
            services.stop(worker)
    for hog in hogs:
        hog.terminate()


def _report(client: redis.Redis, prefix: str, sent: int, started: float, worker_pid: int,
            broker_pid: int | None, worker_log: Path) -> None:
    stats = client.hgetall(RedisKeys(prefix).stats)
    counted = int(stats.get("events_in", 0))
    raw = client.get(RedisKeys(prefix).snapshot(CENTRE))
    newest = json.loads(raw).get("last_event_ms") if raw else None
    age = f"{time.time() - newest / 1000:.1f} s" if newest else "-"
    broker_rss = f"{_rss_mb(broker_pid):.0f} MB" if broker_pid else "-"
    print(f"{(time.monotonic() - started) / 60:5.1f} min: sent {sent}, counted {counted}, "
          f"lag {sent - counted} events (newest counted event {age} old); worker RSS "
          f"{_rss_mb(worker_pid):.0f} MB, broker RSS {broker_rss}, fetch wait "
          f"{_fetch_wait(worker_log)}", flush=True)


def _restart(worker: subprocess.Popen[bytes], env: dict[str, str], logs: Path, sent: int
             ) -> subprocess.Popen[bytes]:
    """kill -9 the worker and time a new one: ready, then every event counted again."""
    os.killpg(worker.pid, 9)
    worker.wait()
    port = int(env["CALLBOARD_WORKER_METRICS_PORT"])
    started = time.monotonic()
    worker = services.spawn(services.callboard_argv("worker"), logs / "worker-2.log", env, ROOT)
    ready = None
    counted = 0.0
    while time.monotonic() - started < 3600:
        try:
            if ready is None and requests.get(f"http://127.0.0.1:{port}/readyz",
                                              timeout=5).status_code == 200:
                ready = time.monotonic() - started
            text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        except requests.RequestException:
            text = ""
        for line in text.splitlines():
            if line.startswith("callboard_events_in_total "):
                counted = float(line.split()[1])
        if ready is not None and counted >= sent:
            print(f"restart (kill -9, new worker): ready after {ready:.1f} s, all {sent} "
                  f"events counted after {time.monotonic() - started:.1f} s", flush=True)
            return worker
        time.sleep(1)
    print(f"restart: after an hour, ready {ready}, counted {counted:.0f} of {sent}", flush=True)
    return worker


def _fetch_wait(worker_log: Path) -> str:
    """The worker's fetch wait on the local broker: its last widening, else the start."""
    from base.local_broker import LOCAL_FETCH_MAX_WAIT_MS

    marker = "fetches now wait up to "
    widened = [line for line in worker_log.read_text(errors="replace").splitlines()
               if marker in line]
    if not widened:
        return f"{LOCAL_FETCH_MAX_WAIT_MS} ms"
    return widened[-1].split(marker, 1)[1].strip()


def _listener_pid(port: int) -> int | None:
    """The pid listening on ``port`` (the broker local_services started)."""
    out = subprocess.run(["ss", "-ltnpH", f"sport = :{port}"], capture_output=True, text=True)
    marker = "pid="
    if marker in out.stdout:
        return int(out.stdout.split(marker, 1)[1].split(",", 1)[0])
    return None


def _zone() -> ZoneInfo:
    return ZoneInfo("Asia/Shanghai")


if __name__ == "__main__":
    main()
