"""The event decoder and the pipeline fuzzed with a million inputs: no crash, every
reject counted by its reason.

    .venv/bin/python bench/fuzz.py [--inputs 1000000] [--seed 1]

Inputs, in equal thirds: random bytes; valid simulated events with one field
mutated (deleted, set to a value of another kind, a huge or negative number, a
long or control-character string, nested deep); and valid events cut short or
with bytes flipped. Each goes through ``events.parse`` and, in batches of 1,000,
through one ``Pipeline.feed`` on the wall clock. Prints inputs/s, accepted and
rejected counts by reason, and any exception other than a reject (there must be
none). Prints figures; no thresholds.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import time
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from zoneinfo import ZoneInfo

from common import print_machine  # bench/common.py, beside this script

from base.assemble import pipeline_rules
from base.config import Settings
from core.events import EventError, dumps, parse
from core.pipeline import Pipeline
from core.records import Record
from producers.simulator import Simulator

SHANGHAI = ZoneInfo("Asia/Shanghai")
START_MS = int(datetime(2026, 1, 5, 8, 0, tzinfo=SHANGHAI).timestamp() * 1000)
_ODD = [None, True, [], {}, "", "x" * 300, "\x00\x07", -1, 0, 10**30, 1e308, float("nan"),
        "2026-01-05", [1, [2, [3]]], {"a": {"b": {"c": {}}}}]


def mutate(rng: random.Random, event: dict) -> bytes:
    kind = rng.randrange(3)
    doc = dict(event)
    if kind == 0:
        key = rng.choice([*doc, "wait_ms", "offered_ms", "agent_id", "caller", "state"])
        if rng.random() < 0.3:
            doc.pop(key, None)
        else:
            doc[key] = rng.choice(_ODD)
        return json.dumps(doc, allow_nan=True).encode()
    raw = bytearray(dumps(doc))
    if kind == 1:
        return bytes(raw[:rng.randrange(len(raw))])
    for _ in range(rng.randrange(1, 4)):
        raw[rng.randrange(len(raw))] = rng.randrange(256)
    return bytes(raw)


def inputs(n: int, seed: int) -> Iterator[bytes]:
    rng = random.Random(seed)
    sim = Simulator(seed=seed, start_ms=START_MS, duration_ms=30 * 86_400_000, zone=SHANGHAI,
                    volume=10, flat=True, trunks=10_000)
    events = sim.events()
    for i in range(n):
        if i % 3 == 0:
            yield rng.randbytes(rng.randrange(1, 200))
        else:
            yield mutate(rng, next(events))


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--inputs", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    print_machine()
    # Flipped bytes make up queue names by the thousand; each would warn once.
    logging.getLogger("core.escalation").setLevel(logging.ERROR)
    pipeline = Pipeline(pipeline_rules(Settings()))
    parsed: Counter[str] = Counter()
    crashes: Counter[str] = Counter()
    batch: list[Record] = []
    started = time.monotonic()
    wall = START_MS + 31 * 86_400_000
    for offset, raw in enumerate(inputs(args.inputs, args.seed)):
        try:
            parse(raw)
            parsed["accepted"] += 1
        except EventError as exc:
            parsed[exc.reason] += 1
        except Exception as exc:  # noqa: BLE001  # what this bench looks for
            crashes[f"parse: {type(exc).__name__}"] += 1
        batch.append(Record(raw, 0, offset))
        if len(batch) == 1000:
            try:
                pipeline.feed(batch, wall)
            except Exception as exc:  # noqa: BLE001
                crashes[f"feed: {type(exc).__name__}: {exc}"[:120]] += 1
            batch = []
    if batch:
        pipeline.feed(batch, wall)
    took = time.monotonic() - started
    print(f"{args.inputs:,} inputs in {took:.1f} s ({args.inputs / took:,.0f}/s)")
    print("parse:", ", ".join(f"{k} {v:,}" for k, v in parsed.most_common()))
    stats = pipeline.stats
    print(f"pipeline: events_in {stats['events_in']:,}, counted {stats['events_counted']:,}, "
          f"duplicates {stats['duplicates']:,}, dead letters {stats['dead_letters']:,}")
    print("dead letters:", ", ".join(f"{k.removeprefix('dead_letter.')} {v:,}"
                                    for k, v in sorted(stats.items())
                                    if k.startswith("dead_letter.")))
    print("crashes:", dict(crashes) or "none")


if __name__ == "__main__":
    main()
