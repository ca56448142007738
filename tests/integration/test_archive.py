"""The archiver keeps every event of the events topic once, through kill -9."""

from __future__ import annotations

import json
import random
from collections import Counter
from datetime import datetime
from pathlib import Path

import pytest

from base.config import load_settings
from review.archive import archive_days, read_day
from tests.integration.helpers import Stack, wait_until

pytestmark = pytest.mark.integration

SURGE = ("--seed", "7", "--duration", "1h", "--start", "2026-01-05T23:30", "--volume", "2.5")


def archived_ids(stack: Stack) -> Counter[str]:
    root = Path(stack.env["CALLBOARD_ARCHIVE_DIR"])
    ids: Counter[str] = Counter()
    for day in archive_days(root):
        for lines in read_day(root, day, stack.topic).values():
            ids.update(json.loads(line)["event_id"] for line in lines)
    return ids


def test_kill_9_of_the_archiver_loses_and_duplicates_nothing(stack: Stack, tmp_path):
    log = tmp_path / "surge.jsonl"
    stack.cli("simulate", *SURGE, "--out", str(log))
    lines = log.read_bytes().splitlines()
    # A producer's retry: some events a second time, under new offsets.
    again = lines[100:160]
    log.write_bytes(b"\n".join(lines + again) + b"\n")
    want = Counter(json.loads(line)["event_id"] for line in lines)
    assert len(want) == len(lines)
    stack.env["CALLBOARD_ARCHIVE_FLUSH_S"] = "0.2"
    feeder = stack.start("publish", str(log), "--speed", "120", name="feeder")
    rng = random.Random(11)
    archiver = stack.start("archive", name="archive-0")
    for kill in range(4):
        target = min(len(want) - 1, sum(archived_ids(stack).values()) + rng.randint(100, 500))
        wait_until(lambda t=target: sum(archived_ids(stack).values()) >= t, 90,
                   f"{target} events archived")
        archiver.kill()  # SIGKILL: no flush, no goodbye
        archiver.wait()
        archiver = stack.start("archive", name=f"archive-{kill + 1}")
    wait_until(lambda: feeder.poll() is not None, 120, "the feeder to publish the hour")
    wait_until(lambda: set(archived_ids(stack)) == set(want), 90, "every event archived")
    assert archived_ids(stack) == want  # each exactly once
    # The surge runs past midnight in the centre's zone: two day files, split there.
    settings = load_settings(None)
    root = Path(stack.env["CALLBOARD_ARCHIVE_DIR"])
    days = archive_days(root)
    assert [d.isoformat() for d in days] == ["2026-01-05", "2026-01-06"]
    for day in days:
        for part in read_day(root, day, stack.topic).values():
            for line in part:
                ts = json.loads(line)["ts_ms"]
                assert datetime.fromtimestamp(ts / 1000, settings.zone).date() == day


def test_the_archive_check_names_a_hole_by_its_offsets(stack: Stack, tmp_path):
    """`callboard archive check` reads what the broker holds and looks each record up in
    the archive: whole after the archiver caught up; a record taken out of a day file
    afterwards is named by its partition and offset, and the command fails."""
    import gzip

    from review.archive import PartitionArchive

    log = tmp_path / "surge.jsonl"
    stack.cli("simulate", *SURGE, "--duration", "10min", "--out", str(log))
    want = {json.loads(line)["event_id"] for line in log.read_bytes().splitlines()}
    stack.env["CALLBOARD_ARCHIVE_FLUSH_S"] = "0.2"
    stack.cli("publish", str(log))
    archiver = stack.start("archive", name="archive-check")
    wait_until(lambda: set(archived_ids(stack)) == want, 90, "every event archived")
    archiver.terminate()
    archiver.wait()
    whole = stack.cli("archive", "check")
    lines = whole.stdout.splitlines()
    assert len(lines) == 3 and all(line.endswith("; whole") for line in lines), whole.stdout

    # Take the 6th record of partition 0's first day out of its file (as a lost write
    # would leave it): the check names partition 0 and that record's offset.
    root = Path(stack.env["CALLBOARD_ARCHIVE_DIR"])
    day = archive_days(root)[0]
    part = PartitionArchive.open(root, stack.topic, 0)
    rel = part.file_for(day)
    kept = read_day(root, day, stack.topic)[0]
    gone = kept.pop(5)
    (root / rel).write_bytes(gzip.compress(b"".join(line + b"\n" for line in kept), mtime=0))
    part.lengths[rel] = (root / rel).stat().st_size
    part.save()
    offset = _offset_of(stack, gone)
    holed = stack.cli("archive", "check", check=False)
    assert holed.returncode == 1, holed.stdout + holed.stderr
    assert "p0: broker holds" in holed.stdout
    assert f"HOLE at offsets {offset}" in holed.stdout, holed.stdout


def _offset_of(stack: Stack, raw: bytes) -> int:
    """Where the broker holds ``raw`` on partition 0 (read independently of the check)."""
    from kafka import KafkaConsumer, TopicPartition

    from base.topics import bootstrap_servers

    consumer = KafkaConsumer(bootstrap_servers=bootstrap_servers(stack.env["CALLBOARD_BROKER_URL"]),
                             group_id=None, enable_auto_commit=False)
    tp = TopicPartition(stack.topic, 0)
    consumer.assign([tp])
    consumer.seek(tp, 0)
    try:
        found = wait_until(lambda: next((m.offset for m in consumer.poll(timeout_ms=500).get(
            tp, []) if m.value == raw), None), 30, "the record on the broker")
    finally:
        consumer.close()
    return found
