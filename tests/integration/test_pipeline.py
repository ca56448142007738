"""Simulator log -> Kafka (Tansu) -> Faust worker -> Redis, checked against pandas."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from kafka import KafkaConsumer

from base.topics import bootstrap_servers
from tests.integration.helpers import Stack, assert_board_equals_oracle, wait_until

pytestmark = pytest.mark.integration


def simulate(stack: Stack, path: Path, seed: int, duration: str, start: str) -> list[str]:
    stack.cli("simulate", "--seed", str(seed), "--duration", duration, "--start", start,
              "--out", str(path))
    return path.read_text().splitlines()


def test_worker_figures_equal_an_independent_computation(stack, tmp_path):
    log = tmp_path / "day.jsonl"
    # 08:40-11:40: the day window spans six half hours, the rolling hour crosses two.
    lines = simulate(stack, log, seed=11, duration="3h", start="2026-01-05T08:40")
    stack.start("worker", name="worker")
    stack.cli("publish", str(log))
    stack.wait_consumed(len(lines))
    want = assert_board_equals_oracle(stack, log)
    # The test would be empty if the log had no traffic: make sure it has plenty.
    assert want["ALL"]["windows"]["day"]["offered"] > 500
    assert want["ALL"]["windows"]["day"]["abandoned"] > 10
    assert stack.stats()["events_counted"] == len(lines)


def test_replays_and_duplicates_count_once_and_bad_events_are_set_aside(stack, tmp_path):
    log = tmp_path / "hour.jsonl"
    lines = simulate(stack, log, seed=12, duration="1h", start="2026-01-05T10:00")
    rng = random.Random(12)
    dupes = rng.sample(lines, 50)
    bad = ["{not json", '{"v": 1, "type": "call.teleported", "event_id": "x"}',
           json.dumps({"v": 9, "type": "call.offered"}), "[]"]
    messy = tmp_path / "messy.jsonl"
    mixed = dupes + bad
    rng.shuffle(mixed)
    messy.write_text("\n".join(mixed) + "\n")
    stack.start("worker", name="worker")
    stack.cli("publish", str(log))
    stack.cli("publish", str(messy))
    stack.cli("publish", str(log))  # the whole hour again, as a post-incident replay would
    total = 2 * len(lines) + len(mixed)
    stack.wait_consumed(total)
    assert_board_equals_oracle(stack, log)
    stats = stack.stats()
    assert stats["events_in"] == total
    assert stats["events_counted"] == len(lines)
    assert stats["duplicates"] == len(lines) + len(dupes)
    assert stats["dead_letters"] == 4
    assert stats["dead_letter.malformed_json"] == 1
    assert stats["dead_letter.unknown_type"] == 1
    assert stats["dead_letter.unknown_version"] == 1
    assert stats["dead_letter.not_an_object"] == 1

    consumer = KafkaConsumer(
        f"{stack.topic}.deadletter", bootstrap_servers=bootstrap_servers(
            stack.env["CALLBOARD_BROKER_URL"]),
        auto_offset_reset="earliest", consumer_timeout_ms=1000)
    letters: list[dict] = []
    try:
        def fetched_all() -> bool:
            letters.extend(json.loads(m.value) for m in consumer)
            return len(letters) >= 4

        wait_until(fetched_all, 60, "four dead letters")
    finally:
        consumer.close()
    assert sorted(letter["reason"] for letter in letters) == [
        "malformed_json", "not_an_object", "unknown_type", "unknown_version"]
    assert {letter["value"] for letter in letters} == set(bad)


def test_a_restarted_worker_recovers_its_state_from_the_changelog(stack, tmp_path):
    log = tmp_path / "two-hours.jsonl"
    lines = simulate(stack, log, seed=13, duration="2h", start="2026-01-05T09:00")
    half = len(lines) // 2
    first, second = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    first.write_text("\n".join(lines[:half]) + "\n")
    second.write_text("\n".join(lines[half:]) + "\n")

    worker = stack.start("worker", name="worker-1")
    stack.cli("publish", str(first))
    stack.wait_consumed(half)
    stack.stop_all()
    assert worker.returncode == 0, stack.log_tail("worker-1")
    # Only the changelog can bring the first half back now.
    for key in stack.redis.scan_iter(f"{stack.prefix}:*"):
        stack.redis.delete(key)

    stack.start("worker", name="worker-2")
    stack.cli("publish", str(second))
    stack.wait_consumed(len(lines))
    assert_board_equals_oracle(stack, log)
