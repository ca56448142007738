"""``callboard up``: the whole stack on one machine, as supervised child processes."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from types import FrameType

import click

from callboard import services

__all__ = ["run_local_stack"]


class _Stop(Exception):
    pass


def _raise_stop(signum: int, _frame: FrameType | None) -> None:
    raise _Stop(signal.Signals(signum).name)


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def run_local_stack(config: str | None, *, board_port: int, speed: float, state_dir: Path) -> None:
    """Start broker, redis-server, worker, simulator and board; stop them all on Ctrl-C.

    Children run in their own sessions so that Ctrl-C reaches only this
    supervisor, which stops them in reverse order of start and waits for each,
    leaving no orphans and no ports held.
    """
    if not _port_free(board_port):
        raise click.ClickException(f"port {board_port} is taken; pass --board-port")
    state_dir.mkdir(parents=True, exist_ok=True)
    broker_port, redis_port = services.free_port(), services.free_port()
    env = dict(os.environ)
    env.update(
        CALLBOARD_BROKER_URL=f"kafka://127.0.0.1:{broker_port}",
        CALLBOARD_REDIS_URL=f"redis://127.0.0.1:{redis_port}/0",
        CALLBOARD_BROKER_PROFILE="local",
        CALLBOARD_BOARD_PORT=str(board_port),
        PYTHONUNBUFFERED="1",
    )
    if config:
        env["CALLBOARD_CONFIG"] = str(Path(config).resolve())
    started: list[tuple[str, subprocess.Popen[bytes]]] = []

    def spawn(name: str, *args: str) -> subprocess.Popen[bytes]:
        proc = services.spawn(services.callboard_argv(*args), state_dir / f"{name}.log", env)
        started.append((name, proc))
        click.echo(f"  {name:<9} pid {proc.pid}, log {state_dir / f'{name}.log'}")
        return proc

    previous = {s: signal.signal(s, _raise_stop) for s in (signal.SIGINT, signal.SIGTERM)}
    code = 0
    try:
        click.echo("starting the local stack (Ctrl-C stops it):")
        started.append(("broker", services.start_broker(broker_port, state_dir / "broker.log")))
        click.echo(f"  broker    Tansu on 127.0.0.1:{broker_port} (memory only)")
        redis_bin = services.redis_server_binary()
        started.append(("redis", services.start_redis(redis_port, state_dir / "redis",
                                                       state_dir / "redis.log")))
        click.echo(f"  redis     {redis_bin} on 127.0.0.1:{redis_port}")
        # Simulated time faster than real time runs ahead of the wall clock: that
        # is a replay on the event clock, not live input (live, events stamped
        # ahead of the wall clock are set aside as "future").
        spawn("worker", "worker", *(("--clock", "event") if speed != 1 else ()))
        spawn("notify", "notify")  # open alerts for the console; sends only to configured people
        spawn("simulate", "simulate", "--start", "now", "--duration", "7d",
              "--speed", str(speed), "--flat")
        board = spawn("board", "board")
        services.wait_for_port(board_port, board, 60, "board")
        click.secho(f"\ncallboard board: http://127.0.0.1:{board_port}/board"
                    f"  (English: ?lang=en)\n", bold=True)
        while True:
            for name, proc in started:
                if proc.poll() is not None:
                    click.echo(f"{name} exited with {proc.returncode}; see its log. Stopping.",
                               err=True)
                    code = 1
                    raise _Stop(name)
            time.sleep(0.5)
    except _Stop:
        pass
    except services.ServiceError as exc:
        click.echo(f"could not start: {exc}", err=True)
        code = 1
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        click.echo("stopping...")
        for name, proc in reversed(started):
            rc = services.stop(proc)
            click.echo(f"  {name:<9} stopped ({rc})")
    if code:
        raise SystemExit(code)
