"""No caller's number reaches the events topic or the archive in the clear (issue #30
§2): a recording with numbers, published, comes out of the real broker hashed, and the
archive written from it holds no number, in files only the centre's account reads."""

from __future__ import annotations

import json
import re
import stat
from pathlib import Path

import pytest
from kafka import KafkaConsumer

from base.topics import bootstrap_servers
from review.archive import archive_days
from tests.integration.helpers import Stack, wait_until
from tests.unit.factories import at, call

pytestmark = pytest.mark.integration


def test_a_recording_with_numbers_is_published_and_archived_hashed(stack: Stack, tmp_path):
    events = [e for n in range(20) for e in call(
        f"c{n}", at(10, n), answer_after_s=5, talk_s=60, caller=f"1380013{n:04d}")]
    log = tmp_path / "with-numbers.jsonl"
    log.write_text("".join(json.dumps(e) + "\n" for e in events))
    stack.env["CALLBOARD_ARCHIVE_FLUSH_S"] = "0.2"
    stack.cli("publish", str(log))

    consumer = KafkaConsumer(stack.topic, bootstrap_servers=bootstrap_servers(
        stack.env["CALLBOARD_BROKER_URL"]), group_id=None, auto_offset_reset="earliest",
        enable_auto_commit=False)
    seen: list[bytes] = []

    def all_read() -> bool:
        for records in consumer.poll(timeout_ms=500).values():
            seen.extend(r.value for r in records)
        return len(seen) >= len(events)

    try:
        wait_until(all_read, 30, "every event on the topic")
    finally:
        consumer.close()
    offered = [json.loads(v) for v in seen if b'"call.offered"' in v]
    assert len(offered) == 20
    assert {o["caller_tail"] for o in offered} == {f"{n:04d}" for n in range(20)}
    assert all(o["caller"].startswith("h1:") for o in offered)
    assert not any(re.search(rb"1380013\d{4}", v) for v in seen)

    archiver = stack.start("archive", name="archive-hashed")
    root = Path(stack.env["CALLBOARD_ARCHIVE_DIR"])

    def archived() -> list[Path]:
        files = [p for d in archive_days(root) for p in (root / d.isoformat()).iterdir()]
        return files if files and sum(p.stat().st_size for p in files) > 0 else []

    try:
        files = wait_until(archived, 60, "the archive written")
    finally:
        archiver.terminate()
        archiver.wait()
    import gzip

    for path in files:
        assert not re.search(rb"1380013\d{4}", gzip.decompress(path.read_bytes()))
        assert stat.S_IMODE(path.stat().st_mode) == 0o640
