"""Event-to-Redis latency of the worker on the local broker.

    .venv/bin/python bench/latency.py [--rate 2000] [--seconds 20]

A fresh worker with the wall clock; simulated peak traffic
is published at the target rate, each event stamped with the wall time it is
sent; for every snapshot change notice, latency = snapshot written_ms - newest
event time in it: the age of the newest event on the board when it reaches Redis.

Prints its figures; no thresholds. bench/README.md records runs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import threading
import time
import uuid
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import redis
from common import live_paced, local_services, print_machine  # bench/common.py, beside this script

from base.keys import RedisKeys
from callboard import services
from producers.kafka_sink import KafkaSink
from producers.simulator import Simulator

ROOT = Path(__file__).resolve().parents[1]
SHANGHAI = ZoneInfo("Asia/Shanghai")
START_MS = int(datetime(2026, 1, 5, 8, 0, tzinfo=SHANGHAI).timestamp() * 1000)


def worker_env(broker: str, redis_url: str, clock: str) -> tuple[dict[str, str], str, str]:
    run = uuid.uuid4().hex[:8]
    env = dict(os.environ)
    env.update(
        CALLBOARD_BROKER_URL=broker, CALLBOARD_REDIS_URL=redis_url,
        CALLBOARD_BROKER_PROFILE=os.environ.get("BENCH_PROFILE", "local"),
        CALLBOARD_REPLICATION_FACTOR="1", CALLBOARD_APP_ID=f"bench-{run}",
        CALLBOARD_EVENTS_TOPIC=f"bench.{run}", CALLBOARD_REDIS_PREFIX=f"bench:{run}",
        CALLBOARD_CLOCK=clock, PYTHONUNBUFFERED="1",
    )
    return env, f"bench.{run}", f"bench:{run}"


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return services.spawn(services.callboard_argv("worker"), log, env, ROOT)


def latency(broker: str, redis_url: str, rate: int, seconds: int, logs: Path) -> None:
    env, topic, prefix = worker_env(broker, redis_url, "wall")
    worker = start_worker(env, logs / "latency-worker.log")
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    samples: list[int] = []
    try:
        deadline = time.monotonic() + 120
        while not client.get(RedisKeys(prefix).heartbeat):
            if time.monotonic() > deadline:
                print("latency: worker never became ready")
                return
            time.sleep(0.1)
        pubsub = client.pubsub()
        pubsub.subscribe(RedisKeys(prefix).changes)
        stop = threading.Event()

        def listen() -> None:
            reader = redis.Redis.from_url(redis_url, decode_responses=True)
            while not stop.is_set():
                message = pubsub.get_message(timeout=0.2)
                if message and message["type"] == "message" and message["data"] != "ALL":
                    raw = reader.get(RedisKeys(prefix).snapshot(message['data']))
                    if raw:
                        snap = json.loads(raw)
                        if snap.get("last_event_ms"):
                            samples.append(snap["written_ms"] - snap["last_event_ms"])

        listener = threading.Thread(target=listen, daemon=True)
        listener.start()
        sink = KafkaSink(broker, topic, linger_ms=1)
        # Simulated peak traffic, its clock compressed to the target event rate
        # and re-stamped so that each event's time is the wall time it is sent.
        events = list(Simulator(seed=2, start_ms=START_MS, duration_ms=48 * 3_600_000,
                                zone=SHANGHAI, volume=10, flat=True, trunks=10_000).events())
        sent = 0
        end_ms = time.time() * 1000 + 200 + seconds * 1000
        for event in live_paced(events, rate, START_MS):
            if event["ts_ms"] > end_ms:
                break
            sink.send(event)
            sent += 1
        sink.close()
        time.sleep(2)
        stop.set()
        listener.join()
    finally:
        services.stop(worker)
    if len(samples) < 20:
        print(f"latency: too few samples ({len(samples)})")
        return
    samples.sort()
    p50 = statistics.median(samples)
    p99 = samples[int(len(samples) * 0.99) - 1]
    print(f"event-to-Redis latency at {rate} events/s for {seconds} s: p50 {p50:.0f} ms, "
          f"p99 {p99:.0f} ms, max {samples[-1]} ms ({len(samples)} snapshot writes)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=2_000)
    parser.add_argument("--seconds", type=int, default=20)
    args = parser.parse_args()
    print_machine()
    with local_services() as (broker, redis_url, logs):
        latency(broker, redis_url, args.rate, args.seconds, logs)

if __name__ == "__main__":
    main()
