"""``callboard up``: every part starts, numbers move, a child that dies is restarted, Ctrl-C
stops all and frees the ports."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import urllib.request

import pytest
import redis

from base.config import Settings
from base.keys import RedisKeys
from callboard import services
from core.snapshot import CENTRE
from tests.integration.helpers import ROOT, wait_until

pytestmark = pytest.mark.integration


def listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_up_runs_the_stack_and_ctrl_c_leaves_nothing_behind(tmp_path):
    board_port = services.free_port()
    out = tmp_path / "up.out"
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env.pop("CALLBOARD_CONFIG", None)
    with out.open("wb") as fh:
        up = subprocess.Popen(
            [sys.executable, "-m", "callboard.cli", "up", "--board-port", str(board_port),
             "--speed", "20", "--state-dir", str(tmp_path / "state"), "--workers", "2"],
            stdout=fh, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
    try:
        text = wait_until(lambda: "callboard board: http" in out.read_text() and out.read_text(),
                          90, "the board URL")
        assert f"http://127.0.0.1:{board_port}/board" in text
        pids = [int(p) for p in re.findall(r"pid (\d+)", text)]
        ports = [int(p) for p in re.findall(r"on 127\.0\.0\.1:(\d+)", text)]
        # two workers (--workers 2), notifier, archiver, simulator, board; broker, redis
        assert len(pids) == 6 and len(ports) == 2
        assert re.search(r"worker-2 +pid \d+", text)
        with urllib.request.urlopen(f"http://127.0.0.1:{board_port}/board", timeout=10) as page:
            assert page.status == 200
        client = redis.Redis(port=ports[1], decode_responses=True)

        def centre_as_of() -> int:
            raw = client.get(RedisKeys(Settings().redis_prefix).snapshot(CENTRE))  # the default prefix
            return json.loads(raw)["as_of_ms"] if raw else 0

        first = wait_until(centre_as_of, 90, "the first centre snapshot")
        wait_until(lambda: centre_as_of() > first, 30, "the figures to move")
        # The archiver keeps the events beside the stack's logs (docs/archive.md).
        wait_until(lambda: any((tmp_path / "state" / "archive").glob("*/*.jsonl.gz")), 60,
                   "the archive's first day file")
        # A worker killed under the stack is restarted, not the stack stopped.
        worker = int(re.search(r"worker +pid (\d+)", text).group(1))
        os.kill(worker, signal.SIGKILL)
        restarted = wait_until(lambda: re.search(r"worker +restarted, pid (\d+)",
                                                 out.read_text()), 60, "the worker's restart")
        assert f"worker exited with -{int(signal.SIGKILL)}; restarting it" in out.read_text()
        pids.append(int(restarted.group(1)))
        before = centre_as_of()
        wait_until(lambda: centre_as_of() > before, 90, "the figures to move after the restart")
        assert up.poll() is None
        # The second worker shared the partitions and was never restarted.
        assert "worker-2 exited" not in out.read_text()
        assert "restored at offset" in (tmp_path / "state" / "worker-2.log").read_text()
        client.close()
    finally:
        up.send_signal(signal.SIGINT)  # what Ctrl-C in the terminal sends
        code = up.wait(timeout=60)
    assert code == 0, out.read_text()
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    for port in (board_port, *ports):
        assert not listening(port), port
