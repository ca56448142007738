"""/metrics, /healthz and /readyz of the worker and the notifier, scraped for real."""

from __future__ import annotations

import json
import re

import pytest
import requests

from callboard import services
from tests.integration.helpers import Stack, wait_until
from tests.unit.factories import at, call

pytestmark = pytest.mark.integration


def scrape(port: int) -> dict[str, float]:
    text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    return {m.group(1): float(m.group(2))
            for m in re.finditer(r"^([a-z_]+(?:\{[^}]*\})?) ([0-9.e+-]+|NaN)$", text, re.M)}


def status(port: int, path: str) -> int:
    try:
        return requests.get(f"http://127.0.0.1:{port}{path}", timeout=5).status_code
    except requests.ConnectionError:
        return 0


def test_the_worker_reports_its_counts_and_readiness(stack: Stack):
    port = services.free_port()
    stack.env["CALLBOARD_WORKER_METRICS_PORT"] = str(port)
    log = stack.logs / f"{stack.app_id}-health.jsonl"
    events = call("a", at(10, 0), answer_after_s=5) + call("b", at(10, 1), abandon_after_s=40)
    log.write_text("".join(json.dumps(e) + "\n" for e in events) + "{not json\n")
    stack.start("worker", name="worker")
    wait_until(lambda: status(port, "/healthz") == 200, 60, "the worker's /healthz")
    wait_until(lambda: status(port, "/readyz") == 200, 90, "the worker to be ready")
    stack.cli("publish", str(log))
    wanted = {"callboard_events_in_total": 5.0, "callboard_events_counted_total": 4.0,
              'callboard_dead_letters_by_reason_total{reason="malformed_json"}': 1.0}

    def counted() -> dict | None:
        metrics = scrape(port)
        return metrics if all(metrics.get(k) == v for k, v in wanted.items()) else None

    metrics = wait_until(counted, 60, f"the counts on /metrics ({wanted})")
    assert metrics["callboard_ready"] == 1.0
    assert metrics["callboard_batch_seconds_count"] >= 1
    assert metrics['callboard_table_entries{table="live"}'] == 1.0  # GEN
    assert 0 <= metrics["callboard_broker_contact_age_seconds"] < 10

    def read_to_the_end() -> dict | None:
        metrics = scrape(port)
        unread = {k: v for k, v in metrics.items() if k.startswith("callboard_unread_records{")}
        return unread if len(unread) == metrics["callboard_partitions"] and not any(
            unread.values()) else None

    unread = wait_until(read_to_the_end, 30, "every partition counted to its end")
    assert len(unread) == metrics["callboard_partitions"] >= 1
    assert scrape(port)["callboard_partitions_stalled"] == 0.0


def test_the_notifier_reports_its_outbox_and_readiness(stack: Stack):
    port = services.free_port()
    stack.env["CALLBOARD_NOTIFY_METRICS_PORT"] = str(port)
    stack.start("notify", name="notify")
    wait_until(lambda: status(port, "/readyz") == 200, 60, "the notifier to be ready")
    assert scrape(port)["callboard_alert_outbox"] == 0.0
    assert status(port, "/nothing") == 404


def test_the_board_reports_request_times_summed_over_its_workers(stack: Stack):
    from tests.integration.helpers import start_board

    port = services.free_port()
    url, _ = start_board(stack, CALLBOARD_BOARD_METRICS_PORT=str(port),
                         CALLBOARD_BOARD_WORKERS="2")
    wait_until(lambda: status(port, "/healthz") == 200, 30, "the board's /healthz")
    for _ in range(12):
        assert requests.get(f"{url}/board", timeout=10).status_code == 200
    key = 'callboard_board_request_seconds_count{path="/board",status="2xx"}'
    # Every request counted, whichever worker served it.
    wait_until(lambda: scrape(port).get(key) == 12.0, 30, "the twelve requests on /metrics")


def test_ingest_reports_its_lines_and_deliveries(stack: Stack, tmp_path):
    port = services.free_port()
    stack.env["CALLBOARD_INGEST_METRICS_PORT"] = str(port)
    queue_log = tmp_path / "queue_log"
    stack.cli("simulate", "--seed", "8", "--duration", "10m", "--start", "2026-01-05T09:00",
              "--out", str(queue_log), "--format", "asterisk-queue-log")
    lines = len(queue_log.read_bytes().splitlines())
    stack.start("ingest", "asterisk", str(queue_log), "--follow",
                "--state", str(tmp_path / "state.json"), name="ingest")
    wait_until(lambda: status(port, "/healthz") == 200, 60, "ingest's /healthz")

    def all_read() -> dict | None:
        metrics = scrape(port)
        read = metrics.get(f'callboard_ingest_lines_total{{file="{queue_log}",kind="lines"}}')
        return metrics if read == lines else None

    metrics = wait_until(all_read, 60, f"the {lines} lines on /metrics")
    assert metrics["callboard_ingest_events_published_total"] > 0
    assert metrics["callboard_ingest_offset"] == queue_log.stat().st_size
