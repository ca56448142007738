"""The worker's own cost against Faust's floor, its changelog bytes, and its recovery.

    .venv/bin/python bench/throughput.py [--events 200000] [--profiles local,production]
                                         [--recovery-events 360000] [--live-events 30000]

Starts its own Tansu broker and redis-server on free ports. For each broker
profile, on one broker and one topic of ``--events`` records of a simulated
peak (4 partitions):

1. a plain aiokafka loop (no group) feeding each partition's records to the
   same ``Pipeline`` the worker runs, in process;
2. a bare Faust agent that only counts (bench/bare_faust.py);
3. the worker (``callboard worker``), from its own counters in Redis. A worker
   started on a backlog reads it in its restore (plain aiokafka);

and prints events/s, the ratios worker/bare Faust and worker/aiokafka, and the
worker's checkpoint changelog bytes per record. Then the live path, where Faust
delivers every record: the bare agent and the worker are each started on an
empty topic and, once assigned, fed ``--live-events`` records as fast as the
producer goes; events/s from the first record sent to the last counted, and
the ratio worker/bare Faust on the same path.

Recovery: ``--recovery-events`` records spanning one hour of event time (100/s
for an hour by default) are counted by a worker, which is then killed with
SIGKILL; a new worker is started and a probe record published; printed: the
seconds from the new worker's start to the probe being counted.

Prints its figures; no thresholds. bench/README.md records runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import time
import uuid
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import redis
from aiokafka import AIOKafkaConsumer, TopicPartition
from common import local_services, print_machine  # bench/common.py, beside this script
from kafka import KafkaConsumer

from base.assemble import pipeline_rules
from base.config import load_settings
from base.keys import RedisKeys
from base.topics import bootstrap_servers, ensure_topics
from callboard import services
from core.events import dumps
from core.pipeline import Pipeline
from core.records import Record
from producers.kafka_sink import KafkaSink
from producers.simulator import Simulator

ROOT = Path(__file__).resolve().parents[1]
SHANGHAI = ZoneInfo("Asia/Shanghai")
START_MS = int(datetime(2026, 1, 5, 8, 0, tzinfo=SHANGHAI).timestamp() * 1000)
PARTITIONS = 4


def publish(broker: str, topic: str, events: list[dict]) -> None:
    ensure_topics(load_settings(broker_url=broker, events_topic=topic, broker_profile="local",
                                topic_partitions=PARTITIONS))
    sink = KafkaSink(broker, topic)
    t0 = time.monotonic()
    for event in events:
        sink.send(event)
    sink.close()
    took = time.monotonic() - t0
    print(f"  produced {len(events):,} records in {took:.1f} s ({len(events) / took:,.0f}/s)")


def peak(n: int, seed: int = 1) -> list[dict]:
    sim = Simulator(seed=seed, start_ms=START_MS, duration_ms=30 * 24 * 3_600_000, zone=SHANGHAI,
                    volume=10, flat=True, trunks=10_000)
    out = []
    for event in sim.events():
        out.append(event)
        if len(out) >= n:
            break
    return out


def an_hour_at(rate: int, n: int) -> list[dict]:
    """``n`` records of a peak, their times squeezed into n / rate seconds."""
    events = peak(n, seed=3)
    span = events[-1]["ts_ms"] - events[0]["ts_ms"]
    squeeze = span / (n / rate * 1000)

    def at(ms: int) -> int:
        return START_MS + int((ms - START_MS) / squeeze)

    return [dict(e, ts_ms=at(e["ts_ms"]), **({"offered_ms": at(e["offered_ms"])}
                                              if "offered_ms" in e else {})) for e in events]


async def aiokafka_loop(broker: str, topic: str, n: int) -> float:
    rules = pipeline_rules(load_settings(None))
    shards: dict[int, Pipeline] = {}
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers(broker), group_id=None,
                                enable_auto_commit=False, fetch_max_wait_ms=10,
                                max_partition_fetch_bytes=4 << 20)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        seen, first = 0, 0.0
        while seen < n:
            batch = await consumer.getmany(timeout_ms=200, max_records=5000)
            for tp, messages in batch.items():
                if not seen:
                    first = time.monotonic()
                shard = shards.setdefault(tp.partition, Pipeline(rules))
                shard.feed([Record(m.value or b"", tp.partition, m.offset) for m in messages],
                           int(time.time() * 1000))
                seen += len(messages)
        return seen / (time.monotonic() - first)
    finally:
        await consumer.stop()


def env_for(broker: str, redis_url: str, profile: str, topic: str) -> tuple[dict[str, str], str]:
    app_id = f"bench-{uuid.uuid4().hex[:8]}"
    env = dict(os.environ)
    env.update(CALLBOARD_BROKER_URL=broker, CALLBOARD_REDIS_URL=redis_url,
               CALLBOARD_BROKER_PROFILE=profile, CALLBOARD_REPLICATION_FACTOR="1",
               CALLBOARD_APP_ID=app_id, CALLBOARD_EVENTS_TOPIC=topic,
               CALLBOARD_TOPIC_PARTITIONS=str(PARTITIONS), CALLBOARD_REDIS_PREFIX=app_id,
               CALLBOARD_CLOCK="event", BENCH_PROFILE=profile, PYTHONUNBUFFERED="1")
    return env, app_id


def wait_for(predicate, deadline_s: float, poll_s: float = 0.05):
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(poll_s)
    return None


def bare_faust(broker: str, redis_url: str, profile: str, topic: str, n: int, logs: Path
               ) -> float | None:
    env, app_id = env_for(broker, redis_url, profile, topic)
    key = f"{app_id}:done"
    env.update(BENCH_APP_ID=app_id, BENCH_BROKER=broker, BENCH_TOPIC=topic, BENCH_EVENTS=str(n),
               BENCH_REDIS=redis_url, BENCH_KEY=key)
    proc = services.spawn([str(ROOT / ".venv/bin/python"), str(ROOT / "bench/bare_faust.py")],
                          logs / f"bare-{profile}.log", env, ROOT)
    client = redis.Redis.from_url(redis_url)
    try:
        raw = wait_for(lambda: client.get(key) or proc.poll() is not None, 600)
    finally:
        services.stop(proc)
    if not isinstance(raw, bytes):
        return None
    done = json.loads(raw)
    return done["events"] / (done["last"] - done["first"])


def counted(client: redis.Redis, prefix: str) -> int:
    return int(client.hget(RedisKeys(prefix).stats, "events_in") or 0)


def worker(broker: str, redis_url: str, profile: str, topic: str, n: int, logs: Path
           ) -> tuple[float | None, float | None]:
    env, app_id = env_for(broker, redis_url, profile, topic)
    client = redis.Redis.from_url(redis_url)
    proc = services.spawn(services.callboard_argv("worker"), logs / f"worker-{profile}.log",
                          env, ROOT)
    try:
        first = wait_for(lambda: (counted(client, app_id) and time.monotonic())
                         or proc.poll() is not None, 600, 0.02)
        start_count = counted(client, app_id)
        done = wait_for(lambda: counted(client, app_id) >= n and time.monotonic(), 900, 0.02)
    finally:
        services.stop(proc)
    if not isinstance(first, float) or not done:
        return None, None
    rate = (n - start_count) / (done - first)
    return rate, changelog_bytes(broker, f"{app_id}-checkpoints-v2-changelog") / n


def live_rate(broker: str, redis_url: str, profile: str, n: int, logs: Path, kind: str
              ) -> float | None:
    """Events/s on the Faust path: ``kind`` "worker" or "bare", started on an empty
    topic, fed once assigned as fast as the producer goes (its rate is the ceiling)."""
    topic = f"bench.{uuid.uuid4().hex[:8]}"
    events = peak(n, seed=2)
    ensure_topics(load_settings(broker_url=broker, events_topic=topic, broker_profile="local",
                                topic_partitions=PARTITIONS))
    env, app_id = env_for(broker, redis_url, profile, topic)
    client = redis.Redis.from_url(redis_url)
    done_key = f"{app_id}:done"
    if kind == "worker":
        argv = services.callboard_argv("worker")
        ready_key = RedisKeys(app_id).heartbeat
    else:
        env.update(BENCH_APP_ID=app_id, BENCH_BROKER=broker, BENCH_TOPIC=topic,
                   BENCH_EVENTS=str(n), BENCH_REDIS=redis_url, BENCH_KEY=done_key)
        argv = [str(ROOT / ".venv/bin/python"), str(ROOT / "bench/bare_faust.py")]
        ready_key = f"{done_key}:ready"
    proc = services.spawn(argv, logs / f"live-{kind}-{profile}.log", env, ROOT)
    try:
        if not wait_for(lambda: client.get(ready_key) or proc.poll() is not None, 120) \
                or proc.poll() is not None:
            print(f"  {profile} live {kind}: never became ready; see", logs)
            return None
        t0 = time.monotonic()
        sink = KafkaSink(broker, topic)
        for event in events:
            sink.send(event)
        sink.close()
        if kind == "worker":
            done = wait_for(lambda: counted(client, app_id) >= n and time.monotonic(), 900, 0.02)
        else:
            done = wait_for(lambda: client.get(done_key) and time.monotonic(), 900, 0.02)
    finally:
        services.stop(proc)
    return n / (done - t0) if isinstance(done, float) else None


def changelog_bytes(broker: str, topic: str) -> int:
    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap_servers(broker),
                             auto_offset_reset="earliest", consumer_timeout_ms=2000,
                             fetch_max_bytes=64 << 20, max_partition_fetch_bytes=16 << 20)
    try:
        return sum(len(m.value or b"") + len(m.key or b"") for m in consumer)
    finally:
        consumer.close()


def recovery(broker: str, redis_url: str, n: int, logs: Path) -> None:
    topic = f"bench.{uuid.uuid4().hex[:8]}"
    events = an_hour_at(100, n)
    publish(broker, topic, events)
    env, app_id = env_for(broker, redis_url, "local", topic)
    client = redis.Redis.from_url(redis_url)
    first = services.spawn(services.callboard_argv("worker"), logs / "recovery-1.log", env, ROOT)
    t0 = time.monotonic()
    if not wait_for(lambda: counted(client, app_id) >= n, 1800, 0.1):
        print("  recovery: the first worker did not count the hour; see", logs)
        services.stop(first)
        return
    print(f"  counted {n:,} records (an hour at 100/s) in {time.monotonic() - t0:.0f} s")
    time.sleep(3)  # let it commit and checkpoint as a worker in service would have
    first.kill()
    first.wait()
    bytes_per = changelog_bytes(broker, f"{app_id}-checkpoints-v2-changelog") / n
    probe = dict(events[-1], event_id="probe-1", type="call.offered", call_id="probe",
                 ts_ms=events[-1]["ts_ms"] + 1000)
    for key in ("agent_id", "state", "offered_ms", "wait_ms", "talk_ms", "hold_ms", "acw_ms"):
        probe.pop(key, None)
    started = time.monotonic()
    second = services.spawn(services.callboard_argv("worker"), logs / "recovery-2.log", env,
                            ROOT)
    try:
        sink = KafkaSink(broker, topic)
        sink.send_raw(probe["queue"].encode(), dumps(probe))
        sink.close()
        ok = wait_for(lambda: counted(client, app_id) >= n + 1, 900, 0.05)
    finally:
        services.stop(second)
    restored = [line for line in (logs / "recovery-2.log").read_text().splitlines()
                if "restored at offset" in line]
    if ok:
        print(f"  kill -9, restart: counting again after {time.monotonic() - started:.1f} s "
              f"(checkpoint changelog {bytes_per:,.0f} bytes/record)")
    else:
        print("  recovery: the restarted worker never counted the probe; see", logs)
    for line in restored:
        print("   ", line.split("] ", 3)[-1].strip())


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--profiles", default="local,production")
    parser.add_argument("--recovery-events", type=int, default=360_000)
    parser.add_argument("--live-events", type=int, default=30_000)
    args = parser.parse_args()
    print_machine()
    with local_services() as (broker, redis_url, logs):
        run(broker, redis_url, logs, args)


def run(broker: str, redis_url: str, logs: Path, args: argparse.Namespace) -> None:
    try:
        topic = f"bench.{uuid.uuid4().hex[:8]}"
        publish(broker, topic, peak(args.events))
        plain = asyncio.run(aiokafka_loop(broker, topic, args.events))
        print(f"  plain aiokafka loop + the same pipeline, in process: {plain:,.0f} events/s")
        for profile in args.profiles.split(","):
            bare = bare_faust(broker, redis_url, profile, topic, args.events, logs)
            rate, per_record = worker(broker, redis_url, profile, topic, args.events, logs)
            if bare is None or rate is None:
                print(f"  {profile}: a run did not finish; logs in {logs}")
                continue
            print(f"  {profile} profile, a backlog: bare Faust agent {bare:,.0f} events/s, "
                  f"worker {rate:,.0f} events/s (a backlog is read by its restore, "
                  f"not through Faust): worker/bare Faust {rate / bare:.2f}, "
                  f"worker/aiokafka {rate / plain:.2f}; checkpoint changelog "
                  f"{per_record:,.0f} bytes/record")
            bare_live = live_rate(broker, redis_url, profile, args.live_events, logs, "bare")
            worker_live = live_rate(broker, redis_url, profile, args.live_events, logs, "worker")
            if bare_live and worker_live:
                print(f"  {profile} profile, live path (Faust delivers every record, "
                      f"{args.live_events:,} records fed as fast as the producer goes): bare "
                      f"Faust {bare_live:,.0f} events/s, worker {worker_live:,.0f} events/s: "
                      f"worker/bare Faust {worker_live / bare_live:.2f}")
        if args.recovery_events:
            recovery(broker, redis_url, args.recovery_events, logs)
    except subprocess.SubprocessError as exc:
        print("bench failed:", exc, "logs in", logs)


if __name__ == "__main__":
    main()
