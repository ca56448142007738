"""A partition deep into the local broker's log is still read, backlog and live.

Tansu answers a fetch with what it found within the fetch's wait, and finding an
offset takes longer the further into the log it is. With the fixed waits the worker
used (50 ms reading a backlog, 20 ms live), a partition past ~33,000 records got
empty answers for good: the 1-hour soak stopped counting GEN's partition after 8
minutes, and a restarted worker never finished reading its backlog. The waits now
widen for a partition that has records waiting and does not move, or moves but stays
a backlog behind (base/local_broker/fetch_wait.py): the worker's live consumer, starting with
no committed offset, reads the partition again from 0 after the restore, and crawled
through it at ~40 records/s when only a frozen position counted (a CI failure)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from kafka import KafkaProducer

from base.topics import bootstrap_servers
from tests.integration.helpers import Stack, wait_until

pytestmark = pytest.mark.integration


def _simulate(stack: Stack, path: Path, start: str, duration: str, volume: str) -> int:
    stack.cli("simulate", "--seed", "11", "--start", start, "--duration", duration,
              "--volume", volume, "--flat", "--trunks", "10000", "--out", str(path))
    return len(path.read_bytes().splitlines())


def _publish_one_by_one(stack: Stack, path: Path) -> None:
    """Each record its own batch, as live traffic arrives (a bulk publish packs hundreds
    into one, and the broker finds an offset in few batches fast)."""
    producer = KafkaProducer(bootstrap_servers=bootstrap_servers(stack.env["CALLBOARD_BROKER_URL"]),
                             batch_size=1, linger_ms=0)
    try:
        for line in path.read_bytes().splitlines():
            producer.send(stack.topic, key=json.loads(line)["queue"].encode(), value=line)
        producer.flush()
    finally:
        producer.close()


@pytest.mark.timeout(600)  # 50,000 records published one batch each: about a minute
def test_a_deep_partition_is_read_to_its_end_then_live(stack: Stack, tmp_path: Path):
    backlog = tmp_path / "backlog.jsonl"
    deep = _simulate(stack, backlog, "2026-01-05T08:00", "4h", "12")
    assert deep > 40_000
    (tmp_path / "empty.jsonl").write_text("")
    stack.cli("publish", str(tmp_path / "empty.jsonl"))  # the topics, with their layout
    _publish_one_by_one(stack, backlog)
    stack.start("worker", name="worker")
    # The backlog is read by the worker's restore, at offsets far past 33,000.
    wait_until(lambda: stack.stats().get("events_in", 0) == deep, 240,
               f"the {deep} records of the backlog")
    later = tmp_path / "later.jsonl"
    live = _simulate(stack, later, "2026-01-05T14:00", "3m", "12")
    _publish_one_by_one(stack, later)
    # ...and what follows by the live consumer, from the same depth.
    wait_until(lambda: stack.stats().get("events_in", 0) == deep + live, 120,
               f"the {live} records published after it")
