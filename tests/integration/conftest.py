"""A real Tansu broker and a real redis-server for the session, on free ports.

Each test gets its own topics, consumer group (app id) and Redis prefix, so
tests never see each other's data while sharing the two servers.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import HTTPServer
from pathlib import Path
from typing import Any, TypeVar

import pytest
import redis
from kafka.admin import KafkaAdminClient
from kafka.errors import KafkaError
from redis.exceptions import RedisError
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    retry_if_result,
    stop_after_delay,
    wait_fixed,
)

from base.topics import bootstrap_servers
from callboard import services

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


@pytest.fixture(scope="session")
def logs_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("service-logs")


@pytest.fixture(scope="session")
def broker_url(logs_dir) -> Iterator[str]:
    port = services.free_port()
    proc = services.start_broker(port, logs_dir / "broker.log")
    yield f"kafka://127.0.0.1:{port}"
    services.stop(proc)


@pytest.fixture(scope="session")
def redis_url(logs_dir) -> Iterator[str]:
    port = services.free_port()
    proc = services.start_redis(port, logs_dir / "redis", logs_dir / "redis.log")
    yield f"redis://127.0.0.1:{port}/0"
    services.stop(proc)


class Stack:
    """Environment and helpers for one test's slice of the shared services."""

    def __init__(self, broker_url: str, redis_url: str, logs: Path) -> None:
        run = uuid.uuid4().hex[:8]
        self.app_id = f"cbt-{run}"
        self.topic = f"acd.events.{run}"
        self.prefix = f"cbt:{run}"
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

    def cli(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(services.callboard_argv(*args), env=self.env,
                                capture_output=True, text=True, timeout=timeout, cwd=ROOT)
        assert result.returncode == 0, result.stderr[-3000:]
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
        return {k: int(v) for k, v in self.redis.hgetall(f"{self.prefix}:stats").items()}

    def snapshot(self, queue: str) -> dict[str, Any] | None:
        raw = self.redis.get(f"{self.prefix}:snapshot:{queue}")
        return json.loads(raw) if raw else None

    def heartbeat(self) -> int:
        return int(self.redis.get(f"{self.prefix}:heartbeat") or 0)

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


@pytest.fixture
def stack(broker_url, redis_url, logs_dir) -> Iterator[Stack]:
    s = Stack(broker_url, redis_url, logs_dir)
    yield s
    s.close()


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


@pytest.fixture(scope="module")
def browser() -> Iterator[webdriver.Chrome]:
    """Headless Chromium (Debian's chromium + chromedriver), one per test module."""
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    driver_path = shutil.which("chromedriver") or "/usr/bin/chromedriver"
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--window-size=1600,900",
                 "--disable-dev-shm-usage"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(driver_path))
    yield driver
    driver.quit()
