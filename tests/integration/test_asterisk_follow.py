"""Following a live Asterisk queue_log into the real broker and worker: appends,
a line written in two parts, a rotation and a restart of the follower; the
worker's figures must equal those of the whole file converted in one go."""

from __future__ import annotations

import json

import pytest

from tests.integration.helpers import Stack, wait_until

pytestmark = pytest.mark.integration

KEYS = ("offered", "answered", "abandoned", "short_abandoned", "answered_within_threshold",
        "transferred", "handled", "repeated")


def ingest_lines(stack: Stack) -> int:
    raw = stack.redis.hget(stack.keys.ingest("asterisk", "queue_log"), "lines")
    return int(raw or 0)


def append(path, text: str) -> None:
    with path.open("a") as fh:
        fh.write(text)


def test_follow_through_rotation_and_restart_counts_every_call_once(stack, tmp_path):
    source = tmp_path / "source.log"
    stack.cli("simulate", "--seed", "31", "--duration", "2h", "--start", "2026-01-05T09:00",
              "--format", "asterisk-queue-log", "--out", str(source))
    lines = [line + "\n" for line in source.read_text().splitlines()]
    q = len(lines) // 4
    parts = [lines[:q], lines[q:2 * q], lines[2 * q:3 * q], lines[3 * q:]]
    log, state = tmp_path / "queue_log", tmp_path / "position.json"
    log.write_text("".join(parts[0]))
    stack.start("worker", name="worker")
    follow = ["ingest", "asterisk", str(log), "--follow", "--state", str(state), "--poll-s", "0.1"]
    stack.start(*follow, name="follower-1")
    wait_until(lambda: ingest_lines(stack) >= q, 90, "the first part to be read")

    # One line written in two pieces, as a busy Asterisk may.
    head, tail = parts[1][0][:10], parts[1][0][10:]
    append(log, head)
    append(log, tail + "".join(parts[1][1:]))
    wait_until(lambda: ingest_lines(stack) >= 2 * q, 60, "the appended part")

    log.rename(tmp_path / "queue_log.1")  # logrotate
    log.write_text("".join(parts[2]))
    wait_until(lambda: ingest_lines(stack) >= 3 * q, 60, "the rotated-in file")

    stack.stop_all()  # the follower (and worker) stop; more calls arrive meanwhile
    append(log, "".join(parts[3]))
    stack.start("worker", name="worker-2")
    stack.start(*follow, name="follower-2")
    wait_until(lambda: ingest_lines(stack) >= len(lines), 60, "the rest after the restart")

    # The whole file converted in one go is what the worker must show.
    whole = tmp_path / "whole.log"
    whole.write_text("".join(lines))
    events = tmp_path / "events.jsonl"
    stack.cli("convert", "asterisk", str(whole), "--out", str(events))
    expected_events = len(events.read_text().splitlines())
    wait_until(lambda: stack.stats().get("events_counted", 0) >= expected_events, 120,
               f"the worker to count {expected_events} events")
    report = json.loads(stack.cli("report", "--events", str(events), "--interval", "day").stdout)

    def matches() -> bool:
        for row in report:
            snap = stack.snapshot(row["queue"])
            if snap is None or any(snap["windows"]["day"][k] != row[k] for k in KEYS):
                return False
        return True

    wait_until(matches, 60, "the worker's day figures to equal the whole file's")
    stats = stack.stats()
    assert stats["events_counted"] == expected_events  # nothing lost, nothing twice
    counts = stack.redis.hgetall(stack.keys.ingest("asterisk", "queue_log"))
    assert int(counts["converted"]) == len(lines) and "rejected" not in counts
    assert report[-1]["offered"] > 300
