"""The board never shows stale figures as live, whichever part stops: a frozen Redis is
reported by the board's own answer; a frozen broker makes the figures stale even though
the worker keeps writing them."""

from __future__ import annotations

import json
import signal
import time

import pytest

from base.config import load_settings
from base.keys import RedisKeys
from callboard import services
from core.snapshot import CENTRE
from tests.integration.helpers import (
    FakeWorker,
    attr_of,
    snapshot,
    start_board,
    text_of,
    wait_until,
)
from tests.unit.factories import at, call
from wallboard.reader import SnapshotReader
from wallboard.wall import board_view

pytestmark = pytest.mark.integration


@pytest.mark.browser
def test_a_frozen_redis_is_reported_as_the_data_store_not_the_board(
        stack, browser, tmp_path, logs_dir):
    port = services.free_port()
    own = services.start_redis(port, tmp_path / "redis", logs_dir / f"redis-{port}.log")
    try:
        stack.env["CALLBOARD_REDIS_URL"] = f"redis://127.0.0.1:{port}/0"
        stack.redis = stack.redis.from_url(stack.env["CALLBOARD_REDIS_URL"],
                                           decode_responses=True)
        worker = FakeWorker(stack, [snapshot("GEN", 0, waiting=2, longest=3, sl=0.9,
                                             abandon=0.0, asa=3.0, sl_day=0.9,
                                             abandon_day=0.0, available=1, on_call=1)])
        worker.start()
        url, _ = start_board(stack)
        browser.get(f"{url}/board?lang=en")
        wait_until(lambda: text_of(browser, "GEN-waiting") == "2", 30, "the tile")
        worker.stop()
        own.send_signal(signal.SIGSTOP)  # hangs: accepts connections, never answers
        try:
            wait_until(lambda: "cannot read the data store" in text_of(browser, "banner"), 30,
                       "the board's own answer about Redis")
            # The board's server answered each tick: the browser does not blame it.
            assert "hidden" in attr_of(browser, "conn-banner", "class")
        finally:
            own.send_signal(signal.SIGCONT)
    finally:
        services.stop(own)


def test_a_frozen_broker_makes_the_figures_stale_while_the_worker_writes(stack, logs_dir):
    port = services.free_port()
    broker = services.start_broker(port, logs_dir / f"broker-{port}.log")
    try:
        stack.env.update(CALLBOARD_BROKER_URL=f"kafka://127.0.0.1:{port}",
                         CALLBOARD_CLOCK="wall", CALLBOARD_STALE_AFTER_S="3")
        log = stack.logs / f"{stack.app_id}-calls.jsonl"
        now = int(time.time() * 1000)
        log.write_text("".join(json.dumps(dict(e, ts_ms=now - at(10, 5) + e["ts_ms"]))
                               + "\n" for e in call("a", at(10, 0), answer_after_s=5)))
        worker = stack.start("worker", name="worker")
        stack.cli("publish", str(log))
        settings = load_settings(None, redis_url=stack.env["CALLBOARD_REDIS_URL"],
                                 redis_prefix=stack.prefix, stale_after_s=3)
        reader = SnapshotReader(settings)

        def banner() -> str:  # the banner's text ("" when hidden), components as their repr
            return str(board_view(reader, settings, "en", int(time.time() * 1000)).text("banner"))

        wait_until(lambda: stack.snapshot("GEN") and banner() == "", 90,
                   "live figures for GEN")
        broker.send_signal(signal.SIGSTOP)
        try:
            lost = wait_until(lambda: "event stream (Kafka) lost" in banner() and banner(), 60,
                              "the board to say the event stream is lost")
            snap = stack.snapshot("GEN")
            # The worker still writes; what it writes is not live.
            assert time.time() * 1000 - snap["written_ms"] < 3000, lost
            assert snap["written_ms"] - snap["source_ok_ms"] > 3000
        finally:
            broker.send_signal(signal.SIGCONT)
        wait_until(lambda: banner() == "", 60, "live again once the broker answers")
        # With its broker gone, a worker asked to stop exits by itself (0) rather than
        # wait in the Kafka client's stop to be killed (-9).
        services.stop(broker)
        assert services.stop(worker) == 0
    finally:
        services.stop(broker)


def test_many_displays_cost_redis_one_read_per_half_refresh(tmp_path, logs_dir):
    from concurrent.futures import ThreadPoolExecutor

    import redis as redis_py

    port = services.free_port()
    own = services.start_redis(port, tmp_path / "redis", logs_dir / f"redis-{port}.log")
    try:
        settings = load_settings(None, redis_url=f"redis://127.0.0.1:{port}/0",
                                 redis_prefix="displays", board_refresh_ms=1000,
                                 board_threads=8)
        admin = redis_py.Redis(port=port, decode_responses=True)
        admin.set(RedisKeys(settings.redis_prefix).snapshot(CENTRE), json.dumps({"queue": CENTRE}))
        admin.config_resetstat()
        reader = SnapshotReader(settings)
        # 200 displays asking at once, as one tick of a wall of screens.
        with ThreadPoolExecutor(50) as pool:
            results = list(pool.map(lambda _: reader.read(), range(200)))
        assert all(snaps == [{"queue": "ALL"}] for snaps, _ in results)
        calls = int(admin.info("commandstats").get("cmdstat_mget", {}).get("calls", 0))
        assert 1 <= calls <= 3, calls  # before: 200; now one trip per half second
    finally:
        services.stop(own)
