"""What the integration tests share: the stack of real services, waiting on a condition
with a deadline, the board in a browser, the surge log and its offline reference."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import HTTPServer
from pathlib import Path
from typing import Any, TypeVar

import pytest
import redis
from kafka import KafkaConsumer
from kafka.admin import KafkaAdminClient
from kafka.errors import KafkaError
from redis.exceptions import RedisError
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.common.by import By
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    retry_if_result,
    stop_after_delay,
    wait_fixed,
)
from werkzeug.security import generate_password_hash

from base.assemble import pipeline_rules
from base.config import load_settings
from base.keys import RedisKeys
from base.topics import bootstrap_servers
from callboard import services
from core.pipeline import fold_file
from tests import oracle

ROOT = Path(__file__).resolve().parents[2]


def wait_until(predicate: Callable[[], Any], deadline_s: float, what: str) -> Any:
    """Poll ``predicate`` every 0.2 s until it returns something truthy; fail at the deadline.

    Connection errors count as "not yet" (a service may still be starting); any
    other error fails at once.
    """
    retrying = Retrying(
        stop=stop_after_delay(deadline_s),
        wait=wait_fixed(0.2),
        retry=retry_if_result(lambda value: not value)
        | retry_if_exception_type((KafkaError, RedisError, OSError)),
        retry_error_callback=lambda state: _timed_out(state, deadline_s, what),
    )
    return retrying(predicate)


def _timed_out(state: RetryCallState, deadline_s: float, what: str) -> Any:
    error = state.outcome.exception() if state.outcome else None
    raise AssertionError(f"timed out after {deadline_s} s waiting for {what}"
                         + (f" (last error: {error!r})" if error else ""))


class Stack:
    """Environment and helpers for one test's slice of the shared services."""

    def __init__(self, broker_url: str, redis_url: str, logs: Path) -> None:
        run = uuid.uuid4().hex[:8]
        self.app_id = f"cbt-{run}"
        self.topic = f"acd.events.{run}"
        self.prefix = f"cbt:{run}"
        self.keys = RedisKeys(self.prefix)
        self.logs = logs
        self.env = dict(os.environ)
        self.env.update(
            CALLBOARD_BROKER_URL=broker_url,
            CALLBOARD_REDIS_URL=redis_url,
            CALLBOARD_BROKER_PROFILE="local",
            CALLBOARD_APP_ID=self.app_id,
            CALLBOARD_EVENTS_TOPIC=self.topic,
            CALLBOARD_DEAD_LETTER_TOPIC=f"{self.topic}.deadletter",
            CALLBOARD_ALERTS_TOPIC=f"alerts.{run}",
            CALLBOARD_REDIS_PREFIX=self.prefix,
            CALLBOARD_CLOCK="event",
            CALLBOARD_TOPIC_PARTITIONS="3",
            # Several workers and notifiers run side by side: endpoints off unless a
            # test asks for them on a port of its own.
            CALLBOARD_WORKER_METRICS_PORT="0",
            CALLBOARD_NOTIFY_METRICS_PORT="0",
            CALLBOARD_ARCHIVE_METRICS_PORT="0",
            CALLBOARD_INGEST_METRICS_PORT="0",
            CALLBOARD_BOARD_METRICS_PORT="0",
            CALLBOARD_ARCHIVE_DIR=str(logs / f"archive-{run}"),
            CALLBOARD_SNAPSHOT_INTERVAL_S="0.5",
            PYTHONUNBUFFERED="1",
        )
        self.env.pop("CALLBOARD_CONFIG", None)
        self.redis = redis.Redis.from_url(redis_url, decode_responses=True)
        self.procs: list[subprocess.Popen[bytes]] = []
        self._admin: KafkaAdminClient | None = None

    def cli(self, *args: str, timeout: float = 120, check: bool = True
            ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(services.callboard_argv(*args), env=self.env,
                                capture_output=True, text=True, timeout=timeout, cwd=ROOT)
        assert not check or result.returncode == 0, result.stderr[-3000:]
        return result

    def start(self, *args: str, name: str) -> subprocess.Popen[bytes]:
        proc = services.spawn(services.callboard_argv(*args),
                              self.logs / f"{self.app_id}-{name}.log", self.env, ROOT)
        self.procs.append(proc)
        return proc

    def log_tail(self, name: str, lines: int = 40) -> str:
        path = self.logs / f"{self.app_id}-{name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def stats(self) -> dict[str, int]:
        return {k: int(v) for k, v in self.redis.hgetall(self.keys.stats).items()}

    def snapshot(self, queue: str) -> dict[str, Any] | None:
        raw = self.redis.get(self.keys.snapshot(queue))
        return json.loads(raw) if raw else None

    def heartbeat(self) -> int:
        return int(self.redis.get(self.keys.heartbeat) or 0)

    def committed(self) -> int:
        """Sum of the worker group's committed offsets on the events topic."""
        if self._admin is None:
            self._admin = KafkaAdminClient(
                bootstrap_servers=bootstrap_servers(self.env["CALLBOARD_BROKER_URL"]))
        offsets = self._admin.list_group_offsets(self.app_id).get(self.app_id, {})
        total = sum(meta.offset for tp, meta in offsets.items()
                    if tp.topic == self.topic and meta.offset > 0)
        return total

    def wait_consumed(self, total: int, deadline_s: float = 180) -> None:
        """Wait until the worker committed ``total`` messages, then one full snapshot cycle."""
        wait_until(lambda: self.committed() >= total, deadline_s,
                   f"the worker to commit {total} messages")
        beat = self.heartbeat()
        wait_until(lambda: self.heartbeat() > beat, 30, "a snapshot cycle after the last commit")

    def close(self) -> None:
        self.stop_all()
        if self._admin is not None:
            self._admin.close()
        self.redis.close()

    def stop_all(self) -> None:
        for proc in reversed(self.procs):
            services.stop(proc)
        self.procs.clear()


_S = TypeVar("_S", bound=HTTPServer)


@contextmanager
def serving(server: _S) -> Iterator[_S]:
    """An HTTP server of the test's (a webhook receiver) in a thread, shut down after."""
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


STALE_AFTER_S = 2


def snapshot(queue: str, written_ms: int, **figures) -> dict:
    """A snapshot document as the worker writes it (core/snapshot.py), with chosen figures."""
    window = lambda sl, ab, asa: {"service_level": sl, "abandon_rate": ab, "asa_s": asa}  # noqa: E731
    return {
        "schema": 1, "queue": queue, "label_zh": figures.get("zh", queue),
        "label_en": figures.get("en", queue), "vip": figures.get("vip", False),
        "sl_formula": "offered", "sl_threshold_s": 20, "sl_target": 0.8,
        "short_abandon_s": 5, "abandon_target": 0.05, "asa_target_s": 20,
        "targets": {"service_level": {"min": 0.8, "max": None},
                    "abandon_rate": {"min": None, "max": 0.05}, "asa_s": {"min": None, "max": 20}},
        "as_of_ms": written_ms, "as_of": "2026-01-05T10:15:00+08:00", "written_ms": written_ms,
        "now": {"waiting": figures["waiting"], "oldest_offered_ms": 0,
                "longest_wait_s": figures["longest"],
                "agents": {"available": figures["available"], "on_call": figures["on_call"],
                           "acw": 0, "not_ready": 0, "logged_in": 0}},
        "windows": {"interval": window(figures["sl"], figures["abandon"], figures["asa"]),
                    "day": window(figures["sl_day"], figures["abandon_day"], 10.0)},
    }


class FakeWorker:
    """Writes snapshots to the real Redis every half second, like a live worker, until stopped."""

    def __init__(self, stack: Stack, docs: list[dict]) -> None:
        self.stack, self.docs = stack, docs
        self.stats: dict[str, int] = {"dead_letters": 3}  # the worker's counters
        self.running = threading.Event()
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while self.running.is_set():
            self.write()
            self.stopped.wait(0.5)

    def write(self) -> None:
        now = int(time.time() * 1000)
        for doc in self.docs:
            doc["written_ms"] = now
            self.stack.redis.set(self.stack.keys.snapshot(doc['queue']), json.dumps(doc))
            self.stack.redis.sadd(self.stack.keys.queues, doc["queue"])
        self.stack.redis.hset(self.stack.keys.stats, mapping=self.stats)

    def start(self) -> None:
        self.write()
        self.running.set()
        self.thread.start()

    def stop(self) -> None:
        self.running.clear()
        self.stopped.set()
        if self.thread.is_alive():
            self.thread.join()


def start_board(stack: Stack, port: int | None = None, **env: str) -> tuple[str, object]:
    port = port or services.free_port()
    stack.env.update({"CALLBOARD_BOARD_PORT": str(port),
                      "CALLBOARD_STALE_AFTER_S": str(STALE_AFTER_S),
                      "CALLBOARD_BOARD_REFRESH_MS": "500", **env})
    proc = stack.start("board", name="board")
    services.wait_for_port(port, proc, 60, "board")
    return f"http://127.0.0.1:{port}", proc


def text_of(browser, element_id: str, settle_s: float = 5) -> str:
    """The element's text once Dash has rendered it; "" if it has not within ``settle_s``.

    A figure is never blank once rendered ("–" when undefined), so a blank text
    means a render in progress: waiting for it is a condition, not a sleep.
    """
    def read() -> str:
        try:
            return browser.find_element(By.ID, element_id).text
        except (NoSuchElementException, StaleElementReferenceException):
            return ""

    return Retrying(stop=stop_after_delay(settle_s), wait=wait_fixed(0.05),
                    retry=retry_if_result(lambda text: not text),
                    retry_error_callback=lambda state: "")(read)


def attr_of(browser, element_id: str, name: str) -> str:
    """An attribute of the element as rendered now; re-read if Dash replaced the element
    between finding it and reading it (the board re-renders every second)."""
    def read() -> str | None:
        try:
            return browser.find_element(By.ID, element_id).get_attribute(name)
        except (NoSuchElementException, StaleElementReferenceException):
            return None

    return Retrying(stop=stop_after_delay(5), wait=wait_fixed(0.05),
                    retry=retry_if_result(lambda value: value is None),
                    retry_error_callback=lambda state: "")(read)


SURGE = ("--seed", "7", "--duration", "1h", "--start", "2026-01-05T09:00", "--volume", "2.5")


def surge_log(stack: Stack, path: Path) -> list[bytes]:
    stack.cli("simulate", *SURGE, "--out", str(path))
    return path.read_bytes().splitlines()


def offline(stack: Stack, lines: list[bytes]):
    settings = load_settings(None)
    pipeline, result = fold_file(pipeline_rules(settings, offline=True), lines)
    return settings, pipeline, result


def events_in(stack: Stack) -> int:
    return stack.stats().get("events_in", 0)


def published_alerts(stack: Stack) -> list[dict]:
    consumer = KafkaConsumer(
        stack.env["CALLBOARD_ALERTS_TOPIC"],
        bootstrap_servers=bootstrap_servers(stack.env["CALLBOARD_BROKER_URL"]),
        auto_offset_reset="earliest", consumer_timeout_ms=1500)
    try:
        return [json.loads(m.value) for m in consumer]
    finally:
        consumer.close()


def with_users(stack: Stack, tmp_path, **escalation: str) -> None:
    users = tmp_path / "users.toml"
    users.write_text(f'[users]\nlin = "{generate_password_hash("floor-pass")}"\n')
    extra = "".join(f"{k} = {v}\n" for k, v in escalation.items())
    config = tmp_path / "centre.toml"
    config.write_text(f'[escalation]\nusers_file = "{users}"\n{extra}')
    stack.env["CALLBOARD_CONFIG"] = str(config)


def open_alert(stack: Stack) -> None:
    stack.redis.hset(stack.keys.alerts_open, "GEN", json.dumps({
        "queue": "GEN", "step": 1, "level": 0, "notified_ms": 0, "acked_by": None,
        "acked_ms": None, "waiting": 7, "event_time": "2026-01-05T10:05:00+08:00",
        "rung": {"name_zh": "流动专家组签入", "name_en": "Floating experts sign in",
                 "action_zh": "x", "action_en": "y"}}))


ZONE = "Asia/Shanghai"


THRESHOLDS = {"VIP": 15}  # the default config: VIP answers within 15 s, others 20 s


def assert_board_equals_oracle(stack: Stack, log: Path) -> dict:
    df = oracle.load(log)
    centre = stack.snapshot("ALL")
    assert centre is not None, "no centre snapshot in Redis"
    # In event-clock mode "now" is the newest event time of the log.
    assert centre["as_of_ms"] == int(df["ts_ms"].max())
    want = oracle.expected(df, centre["as_of_ms"], ZONE, THRESHOLDS)
    queues = sorted(q for q in want if q != "ALL")
    assert sorted(centre["queues"]) == queues
    for queue in [*queues, "ALL"]:
        snap = stack.snapshot(queue)
        assert snap is not None, queue
        for name, figures in want[queue]["windows"].items():
            got = snap["windows"][name]
            for key, value in figures.items():  # every KPI the oracle computes
                assert oracle.close(got[key], value), (queue, name, key, got[key], value)
        assert snap["now"]["waiting"] == want[queue]["now"]["waiting"], queue
        assert snap["now"]["longest_wait_s"] == pytest.approx(
            want[queue]["now"]["longest_wait_s"], abs=1e-3), queue
        if queue != "ALL":
            for state, count in want[queue]["now"]["agents"].items():
                assert snap["now"]["agents"][state] == count, (queue, state)
    return want
