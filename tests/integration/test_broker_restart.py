"""The local broker keeps everything in memory: restarted, it comes back empty, and
with it the worker's checkpoints. The worker must not crash, must count what arrives
after (not skip it as already read), and must say what was lost."""

from __future__ import annotations

import json

import pytest

from callboard import services
from tests.integration.conftest import Stack, wait_until
from tests.unit.factories import at, call

pytestmark = pytest.mark.integration


def test_the_worker_counts_on_after_the_broker_restarts_empty(stack: Stack, logs_dir):
    port = services.free_port()
    broker = services.start_broker(port, logs_dir / f"broker-{port}.log")
    stack.env["CALLBOARD_BROKER_URL"] = f"kafka://127.0.0.1:{port}"
    try:
        first, second = (stack.logs / f"{stack.app_id}-{n}.jsonl" for n in ("a", "b"))
        first.write_text("".join(json.dumps(e) + "\n" for i in range(4)
                                 for e in call(f"a{i}", at(10, i), answer_after_s=5)))
        second.write_text("".join(json.dumps(e) + "\n" for i in range(2)
                                  for e in call(f"b{i}", at(10, 10 + i), answer_after_s=5)))
        stack.start("worker", name="worker")
        stack.cli("replay", str(first))

        def offered() -> int:
            snap = stack.snapshot("GEN")
            return snap["windows"]["day"]["offered"] if snap else 0

        wait_until(lambda: offered() == 4, 90, "the first four calls")
        services.stop(broker)
        broker = services.start_broker(port, logs_dir / f"broker-{port}b.log")  # empty
        stack.cli("replay", str(second), timeout=180)
        # The checkpoints went with the broker: the figures start again from what it
        # holds, the two calls sent after the restart, and the worker says so.
        wait_until(lambda: offered() == 2, 120, "the two calls sent after the restart")
        wait_until(lambda: stack.stats().get("source_resets", 0) >= 1, 30,
                   "the reset counted")
        assert "the broker lost its records" in stack.log_tail("worker", 400)
    finally:
        services.stop(broker)
