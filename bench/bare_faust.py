"""A bare Faust agent that only counts: the floor the worker is measured against.

Run by bench/throughput.py as its own process, on the same broker and topic as the
worker, with the same broker profile. Writes ``{"events": n, "first": t, "last": t}``
(monotonic seconds of its first and last batch) to Redis key BENCH_KEY when it
has read BENCH_EVENTS records, and ``1`` to BENCH_KEY + ":ready" once its
partitions are assigned (a live run starts publishing then).
"""

from __future__ import annotations

import json
import os
import sys
import time

import faust
import redis

from base.assemble import broker_profile
from base.config import Settings

# The worker's own profile (base/assemble.py): the same patches and Faust options.
profile = broker_profile(Settings(broker_profile=os.environ.get("BENCH_PROFILE", "local")))
profile.install()
app = faust.App(os.environ["BENCH_APP_ID"], broker=os.environ["BENCH_BROKER"], store="memory://",
                topic_replication_factor=1, consumer_auto_offset_reset="earliest",
                web_enabled=False, **profile.faust_options())
topic = app.topic(os.environ["BENCH_TOPIC"], key_serializer="raw", value_serializer="raw")
target = int(os.environ["BENCH_EVENTS"])
client = redis.Redis.from_url(os.environ["BENCH_REDIS"])


@app.on_rebalance_complete.connect
async def ready(sender: faust.App, **_: object) -> None:
    client.set(os.environ["BENCH_KEY"] + ":ready", 1)


@app.agent(topic)
async def count(stream: faust.StreamT) -> None:
    seen = 0
    first = 0.0
    async for batch in stream.take_events(5000, within=0.05):  # type: ignore[attr-defined]
        if not seen:
            first = time.monotonic()
        seen += len(batch)
        if seen >= target:
            client.set(os.environ["BENCH_KEY"], json.dumps(
                {"events": seen, "first": first, "last": time.monotonic()}))


if __name__ == "__main__":
    sys.argv = ["bare-faust", "worker", "--without-web", "--loglevel", "warn"]
    app.main()
