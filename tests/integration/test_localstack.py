"""``callboard up``: every part starts, numbers move, a child that dies is restarted, Ctrl-C
stops all and frees the ports."""

from __future__ import annotations

import contextlib
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
from tests.integration.helpers import ROOT, SURGE, assert_board_equals_oracle, wait_until

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


class _Board:
    """The snapshots of a stack's Redis, as assert_board_equals_oracle reads them."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self.keys = RedisKeys(Settings().redis_prefix)

    def snapshot(self, queue: str) -> dict | None:
        raw = self.client.get(self.keys.snapshot(queue))
        return json.loads(raw) if raw else None


def test_the_broker_rolled_twice_mid_run_and_killed_loses_nothing(tmp_path):
    """Issue 19 (2): the local broker only grows, so `callboard up` replaces it with an
    empty one (here every 40 s instead of at the quiet hour) while a recorded surge is
    published: producers wait, every reader drains, the worker's checkpoints go to files
    outside the broker. Then the broker is killed -9 (it comes back empty, restarted by
    the stack) and the worker too: it goes on from its checkpoint, not from zero. The
    figures equal the independent computation on the file, the notifier's alerts equal
    `callboard alerts`, the archive holds each event once, and each roll's new broker
    holds less than the old one did."""
    log = tmp_path / "surge.jsonl"
    subprocess.run([sys.executable, "-m", "callboard.cli", "simulate", *SURGE, "--out",
                    str(log)], check=True, cwd=ROOT, capture_output=True)
    lines = [line for line in log.read_bytes().splitlines() if line.strip()]
    state = tmp_path / "state"
    out = tmp_path / "up.out"
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env.pop("CALLBOARD_CONFIG", None)
    with out.open("wb") as fh:
        up = subprocess.Popen(
            [sys.executable, "-m", "callboard.cli", "up", "--board-port",
             str(services.free_port()), "--speed", "30", "--state-dir", str(state),
             "--events", str(log), "--roll-every", "40"],
            stdout=fh, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
    try:
        text = wait_until(lambda: "callboard board: http" in out.read_text() and out.read_text(),
                          90, "the stack to start")
        redis_port = int(re.findall(r"on 127\.0\.0\.1:(\d+)", text)[1])
        # The hour takes 120 s at 30x: two rolls while it is published, one after.
        wait_until(lambda: "publish   done" in out.read_text(), 240, "the log published")
        rolled = wait_until(lambda: len(re.findall(r"rolled the local broker \((\d+)\)",
                                                   out.read_text())) >= 3 and out.read_text(),
                            120, "a roll after the log was published")
        before_done = rolled[:rolled.index("publish   done")]
        assert len(re.findall(r"rolled the local broker", before_done)) >= 2, rolled
        for old, new in re.findall(r"the old one held (\d+) MB, the new one (\d+) MB", rolled):
            assert int(new) < int(old), rolled
        assert "called off" not in rolled
        # Before each broker went, the archive check found every record it held archived.
        assert rolled.count("archive check: every one of the") >= 3, rolled
        assert "exited with" not in rolled  # no child died of a roll (the worker once did)
        client = redis.Redis(port=redis_port, decode_responses=True)
        board = _Board(client)
        _nothing_lost(board, log, lines, state / "archive")

        # The broker dies: the stack starts an empty one, which holds no event. Then the
        # worker dies too: every figure must come from the checkpoint carried outside the
        # dead broker (its file, or the new changelog the worker wrote meanwhile).
        broker = int(re.findall(r"new one \d+ MB, pid (\d+)", out.read_text())[-1])
        os.kill(broker, signal.SIGKILL)
        wait_until(lambda: "broker    restarted" in out.read_text(), 60, "the broker's restart")
        # The worker as it runs now: each roll started it again (its pid in the roll's line).
        os.kill(int(re.findall(r"worker +pid (\d+)", out.read_text())[-1]), signal.SIGKILL)
        wait_until(lambda: "worker    restarted" in out.read_text(), 60, "the worker's restart")
        for queue in ("ALL", *(q for q in _queues(log))):
            client.delete(board.keys.snapshot(queue))  # so each one is the new worker's
        _settle(board, log, "the restarted worker's figures, from the checkpoint it carried across")
    finally:
        up.send_signal(signal.SIGINT)
        code = up.wait(timeout=60)
    assert code == 0, out.read_text()[-3000:]


def test_a_roll_the_archive_cannot_drain_is_called_off_and_tried_again_losing_nothing(tmp_path):
    """A roll stops the workers first; when a reader then cannot hold every record in
    time (here the archiver, frozen with SIGSTOP), the roll is called off: the broker is
    kept, the workers start again on it, the producers go on, and the next try rolls.
    Nothing is lost: the figures equal the file's, the alerts `callboard alerts`, and the
    archive holds each event once."""
    log = tmp_path / "surge.jsonl"
    subprocess.run([sys.executable, "-m", "callboard.cli", "simulate", *SURGE[:2],
                    "--duration", "30m", *SURGE[4:], "--out", str(log)],
                   check=True, cwd=ROOT, capture_output=True)
    lines = [line for line in log.read_bytes().splitlines() if line.strip()]
    out = tmp_path / "up.out"
    env = dict(os.environ, PYTHONUNBUFFERED="1", CALLBOARD_LOCAL_ROLL_DRAIN_S="3",
               CALLBOARD_LOCAL_ROLL_RETRY_S="5")
    env.pop("CALLBOARD_CONFIG", None)
    with out.open("wb") as fh:
        up = subprocess.Popen(
            [sys.executable, "-m", "callboard.cli", "up", "--board-port",
             str(services.free_port()), "--speed", "30", "--state-dir", str(tmp_path / "state"),
             "--events", str(log), "--roll-every", "25"],
            stdout=fh, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
    archiver = 0
    try:
        text = wait_until(lambda: "callboard board: http" in out.read_text() and out.read_text(),
                          90, "the stack to start")
        redis_port = int(re.findall(r"on 127\.0\.0\.1:(\d+)", text)[1])
        archiver = int(re.findall(r"archive +pid (\d+)", out.read_text())[-1])
        os.killpg(archiver, signal.SIGSTOP)
        rolls = out.read_text().count("rolled the local broker")  # 0 unless the board was slow
        off = wait_until(lambda: re.search(r"roll called off, nothing lost: still behind: "
                                           r"(.*)the workers started again on it \(worker "
                                           r"pid (\d+)\)", out.read_text()), 60, "a roll called off")
        os.killpg(archiver, signal.SIGCONT)
        assert "archive p" in off.group(1), off.group(0)
        worker = int(off.group(2))
        assert worker != int(re.search(r"worker +pid (\d+)", text).group(1))
        wait_until(lambda: f"rolled the local broker ({rolls + 1})" in out.read_text(), 90,
                   "a roll once the archiver goes on")
        wait_until(lambda: "publish   done" in out.read_text(), 180, "the log published")
        assert "exited with" not in out.read_text()  # the workers were stopped, not lost
        _nothing_lost(_Board(redis.Redis(port=redis_port, decode_responses=True)), log, lines,
                      tmp_path / "state" / "archive")
    finally:
        if archiver:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(archiver, signal.SIGCONT)
        up.send_signal(signal.SIGINT)
        code = up.wait(timeout=60)
    assert code == 0, out.read_text()[-3000:]


def _nothing_lost(board: _Board, log, lines: list[bytes], archive) -> None:
    """The figures equal the independent computation on the file, the notifier's alerts
    equal `callboard alerts` on it, and the archive holds each of its events once."""
    from review.archive import archive_days, read_day

    _settle(board, log, "the figures to equal the file's")
    offline = json.loads(subprocess.run(
        [sys.executable, "-m", "callboard.cli", "alerts", "--events", str(log)],
        check=True, cwd=ROOT, capture_output=True, text=True).stdout)
    alerts = [json.loads(a) for a in board.client.lrange(board.keys.alerts_log, 0, -1)]
    key = lambda a: (a["queue"], a["step"], a["direction"], a["event_time"])  # noqa: E731
    assert offline and sorted(map(key, alerts)) == sorted(map(key, offline))

    def archived() -> list[bytes]:
        return sorted(line for day in archive_days(archive)
                      for records in read_day(archive, day, Settings().events_topic).values()
                      for line in records)

    wait_until(lambda: archived() == sorted(lines), 60, "every event archived once")


def _queues(log) -> set[str]:
    return {json.loads(line)["queue"] for line in log.read_text().splitlines() if line.strip()}


def _settle(board: _Board, log, what: str) -> None:
    """Equal within the deadline, or the first difference shown."""
    try:
        wait_until(lambda: _equal(board, log), 90, what)
    except AssertionError:
        assert_board_equals_oracle(board, log)


def _equal(board: _Board, log) -> bool:
    try:
        assert_board_equals_oracle(board, log)
    except AssertionError:
        return False
    return True
