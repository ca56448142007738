"""`callboard ingest connect` on a file of Amazon Connect records: the worker's figures are
the hand-worked ones, a malformed record is dead-lettered, and the file read again (a
restart without its position) counts nothing twice."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from kafka import KafkaConsumer

from base.topics import bootstrap_servers
from tests.integration.helpers import Stack, wait_until

pytestmark = pytest.mark.integration

SESSION = Path(__file__).resolve().parents[1] / "fixtures" / "connect" / "session-2026-01-05.jsonl"


def test_a_file_of_connect_records_is_counted_once_and_bad_records_set_aside(stack: Stack,
                                                                              tmp_path):
    records = tmp_path / "connect.jsonl"
    records.write_text(SESSION.read_text(encoding="utf-8") + '{"detail": {"eventType"\n',
                       encoding="utf-8")
    stack.cli("ingest", "connect", str(records))
    # Read again from the start (its position file gone): the same events, the same ids.
    (tmp_path / "connect.jsonl.callboard-position").unlink()
    stack.cli("ingest", "connect", str(records))
    stack.start("worker", name="worker")

    def day() -> dict:
        snap = stack.snapshot("q-support")
        return snap["windows"]["day"] if snap else {}

    # c1 answered after 10 s, c2 abandoned after 45 s, c3 answered after 102 s
    # (tests/unit/producers/test_connect.py works them out).
    wait_until(lambda: (day().get("offered"), day().get("answered"), day().get("abandoned"))
               == (3, 2, 1), 120, "the queue's day figures")
    consumer = KafkaConsumer(f"{stack.topic}.deadletter", bootstrap_servers=bootstrap_servers(
        stack.env["CALLBOARD_BROKER_URL"]), auto_offset_reset="earliest", group_id=None,
        consumer_timeout_ms=3000, allow_auto_create_topics=False)
    try:
        letters = [json.loads(m.value) for m in consumer]
    finally:
        consumer.close()
    assert [d["reason"] for d in letters] == ["not_json", "not_json"]  # once per reading
