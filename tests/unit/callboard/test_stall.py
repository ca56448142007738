"""The stall guard: a Kafka client call that never returns must end the process (for its
supervisor to restart it) and show where it hung; one that returns must change nothing."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def _run(body: str) -> subprocess.CompletedProcess[str]:
    script = "import time\nfrom callboard.stall import client_call\n" + textwrap.dedent(body)
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60)


def test_a_call_blocked_past_the_limit_ends_the_process_with_its_stack():
    result = _run("""
        def blocked_poll():
            time.sleep(30)
        with client_call(0.3):
            blocked_poll()
        print("carried on")
    """)
    assert result.returncode == 1
    assert "carried on" not in result.stdout
    assert "Timeout (0:00:00.300000)!" in result.stderr
    assert "blocked_poll" in result.stderr


def test_a_call_that_returns_disarms_the_guard():
    result = _run("""
        with client_call(0.3):
            time.sleep(0.05)
        time.sleep(0.6)  # past the limit, outside the guard
        print("carried on")
    """)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "carried on"
    assert result.stderr == ""
