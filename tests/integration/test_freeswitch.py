"""`callboard ingest freeswitch` against an event socket that plays a recorded session and
drops the connection in the middle of a call: nothing lost, nothing counted twice, the
source said down while it is away, and the worker's figures the hand-worked ones."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests
from kafka import KafkaConsumer

from base.topics import bootstrap_servers
from callboard import services
from producers.freeswitch import convert_events, parse_dump
from tests.integration.fake_esl import FakeEsl
from tests.integration.helpers import Stack, wait_until

pytestmark = pytest.mark.integration

SESSION = Path(__file__).resolve().parents[1] / "fixtures" / "freeswitch" / "session-2026-01-05.txt"
TIERS = ("queue|agent|state|level|position\n"
         "support@default|1000@default|Ready|1|1\n"
         "support@default|1001@default|Ready|1|2\n+OK\n")


def _topic_events(stack: Stack, topic: str | None = None) -> list[dict]:
    consumer = KafkaConsumer(topic or stack.topic, bootstrap_servers=bootstrap_servers(
        stack.env["CALLBOARD_BROKER_URL"]), auto_offset_reset="earliest", group_id=None,
        consumer_timeout_ms=3000, allow_auto_create_topics=False)
    try:
        return [json.loads(m.value) for m in consumer]
    finally:
        consumer.close()


def _up_metric(metrics_port: int, esl_port: int) -> float:
    text = requests.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).text
    line = f'callboard_source_up{{source="freeswitch 127.0.0.1:{esl_port}"}} '
    return float(next(row for row in text.splitlines() if row.startswith(line)).split()[-1])


def _source(stack: Stack, port: int) -> dict | None:
    raw = stack.redis.hget(stack.keys.sources, f"freeswitch 127.0.0.1:{port}")
    return json.loads(raw) if raw else None


def test_a_dropped_event_socket_loses_nothing_and_counts_nothing_twice(stack: Stack):
    events = list(parse_dump(SESSION.read_text(encoding="utf-8").splitlines()))
    expected = list(convert_events(events))
    # One malformed event among them: set aside with its reason, the rest flows on.
    events.insert(12, {"Event-Name": "CUSTOM", "Event-Subclass": "callcenter::info",
                       "CC-Action": "member-queue-start", "CC-Queue": "support@default"})
    # The drop comes after call A was answered (event 7) and before it ended (event 14);
    # after the reconnect the socket sends events 6-8 again, then the rest.
    with FakeEsl(events, [(0, 9), (6, len(events))], TIERS) as esl:
        stack.start("worker", name="worker")
        metrics_port = services.free_port()
        stack.env["CALLBOARD_INGEST_METRICS_PORT"] = str(metrics_port)
        ingest = stack.start("ingest", "freeswitch", "--esl", f"127.0.0.1:{esl.port}",
                             name="ingest")
        wait_until(lambda: esl.played == [0], 60, "the first part of the session played")
        wait_until(lambda: (_source(stack, esl.port) or {}).get("up") is False, 30,
                   "the source said down after the drop")
        assert _up_metric(metrics_port, esl.port) == 0.0
        esl.reconnect.set()
        wait_until(lambda: esl.played == [0, 1], 60, "the rest played after the reconnect")
        wait_until(lambda: (_source(stack, esl.port) or {}).get("up") is True, 30,
                   "the source said up again")
        assert _up_metric(metrics_port, esl.port) == 1.0
        wait_until(lambda: len(_topic_events(stack)) >= len(expected), 60,
                   "every event on the topic")
        published = _topic_events(stack)
        ids = [e["event_id"] for e in published]
        assert len(ids) == len(set(ids))  # none twice
        assert sorted(ids) == sorted(e["event_id"] for e in expected)  # none lost
        letters = _topic_events(stack, f"{stack.topic}.deadletter")
        assert [(d["reason"], d["source"]) for d in letters] == [
            ("missing_fields", f"freeswitch 127.0.0.1:{esl.port}")]
        assert esl.commands[:3] == ["auth ClueCon", "events plain CUSTOM callcenter::info",
                                    "api callcenter_config tier list"]

        def day(queue: str) -> dict:
            snap = stack.snapshot(queue)
            return snap["windows"]["day"] if snap else {}

        # A (answered, 10 s), B (abandoned, 45 s), C (answered, 102 s); D in the queue
        # named in Chinese, abandoned after 20 s (the hand-worked table of
        # tests/unit/producers/test_freeswitch.py).
        wait_until(lambda: (day("support@default").get("offered"),
                            day("support@default").get("answered"),
                            day("support@default").get("abandoned")) == (3, 2, 1), 120,
                   "the support queue's day figures")
        assert (day("家庭业务@default").get("offered"),
                day("家庭业务@default").get("abandoned")) == (1, 1)
        assert ingest.poll() is None
