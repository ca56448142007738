"""``callboard up``: the whole stack on one machine, as supervised child processes."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

import click

from base.config import Settings, load_settings
from base.topics import ensure_topics
from callboard import services
from callboard.roll import RollClock, drain, rss_mb

__all__ = ["DEAD_BROKER_STOP_S", "run_local_stack"]


class _Stop(Exception):
    def __init__(self, why: str, code: int = 0) -> None:
        super().__init__(why)
        self.code = code


def _raise_stop(signum: int, _frame: FrameType | None) -> None:
    raise _Stop(signal.Signals(signum).name)


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


_RESTARTS = 3  # a child that dies this often ...
_RESTART_WINDOW_S = 60.0  # ... within this many seconds is given up on
_BACKOFF_S = (0.5, 2.0, 5.0)
# A reader whose broker died has nothing left to hand it, and may wait on it for ever
# (Faust waits for its streams to empty): this long, then it is killed. Its files hold
# what it carried out when the broker stopped answering.
DEAD_BROKER_STOP_S = 5.0
_BROKER_STOP_S = 0.5


@dataclass
class _Child:
    """One supervised process and how to start it again."""

    name: str
    start: Callable[[], subprocess.Popen[bytes]]
    proc: subprocess.Popen[bytes] | None = None
    deaths: list[float] = field(default_factory=list)  # monotonic times it died
    producer: bool = False  # paused while the broker rolls
    reader: bool = False  # a consumer of the broker: stopped and started again by a roll
    counts: bool = False  # a worker: stopped first by a roll, its files then say what it counted
    finishes: bool = False  # done when it exits with 0 (a recorded log published)


class _Stack:
    """Starts the children in order, restarts one that dies (up to a limit), stops all
    in reverse order."""

    def __init__(self, state_dir: Path, env: dict[str, str], settings: Settings) -> None:
        self.state_dir = state_dir
        self.env = env
        self.settings = settings
        self.children: list[_Child] = []
        self.roll_clock = RollClock(settings, time.time())
        self.rolls = 0

    def add(self, name: str, start: Callable[[], subprocess.Popen[bytes]]) -> _Child:
        child = _Child(name, start)
        child.proc = start()
        self.children.append(child)
        return child

    def callboard(self, name: str, *args: str, env: dict[str, str] | None = None) -> _Child:
        log = self.state_dir / f"{name}.log"
        child = self.add(name, lambda: services.spawn(services.callboard_argv(*args), log,
                                                       {**self.env, **(env or {})}))
        click.echo(f"  {name:<9} pid {child.proc.pid if child.proc else '?'}, log {log}")
        return child

    def child(self, name: str) -> _Child:
        return next(c for c in self.children if c.name == name)

    def watch(self) -> None:
        """Until a signal (_Stop): restart whatever died; give up on a child dying in a
        loop; roll the broker when it is due."""
        while True:
            for child in self.children:
                if child.proc is not None and child.proc.poll() is not None:
                    if child.finishes and child.proc.returncode == 0:
                        click.echo(f"  {child.name:<9} done")
                        child.proc = None
                        continue
                    self._restart(child)
            broker = self.child("broker").proc
            why = self.roll_clock.due(time.time(), rss_mb(broker.pid) if broker else None)
            if why:
                self.roll(why)
            time.sleep(0.5)

    def roll(self, why: str) -> None:
        """The broker replaced by an empty one, nothing lost (callboard/roll.py)."""
        paused = [c.proc for c in self.children
                  if c.producer and c.proc is not None and c.proc.poll() is None]
        workers = [c for c in self.children if c.counts and c.proc is not None]
        click.echo(f"rolling the local broker ({why}): producers paused, workers stopped "
                   "with every record counted")
        for proc in paused:
            os.killpg(proc.pid, signal.SIGSTOP)
        started = time.monotonic()
        try:
            _stop_all([c.proc for c in workers if c.proc is not None])
            waited = drain(self.settings, self.state_dir)
            trouble = (f"still behind: {waited}" if isinstance(waited, str)
                       else _archive_holes(self.settings))
            if trouble:
                self.roll_clock.not_before = time.time() + self.settings.local_roll_retry_s
                for worker in workers:
                    worker.proc = worker.start()
                click.echo(f"roll called off, nothing lost: {trouble}. The broker is kept, "
                           "the workers started again on it (" + ", ".join(
                               f"{w.name} pid {w.proc.pid}" for w in workers if w.proc)
                           + f"); trying again in {self.settings.local_roll_retry_s:g} s "
                           "(docs/broker.md).", err=True)
                return
            broker = self.child("broker")
            assert broker.proc is not None
            before = rss_mb(broker.proc.pid)
            readers = self._new_broker()
            self.rolls += 1
            self.roll_clock.last = time.time()
            click.echo(f"rolled the local broker ({self.rolls}), producers paused "
                       f"{time.monotonic() - started:.1f} s: the old one held {before or 0:.0f} "
                       f"MB, the new one {rss_mb(broker.proc.pid) or 0:.0f} MB, pid "
                       f"{broker.proc.pid}; readers started again: " + ", ".join(
                           f"{r.name} pid {r.proc.pid}" for r in readers if r.proc))
        finally:
            for worker in workers:  # an error between their stop and their start
                if worker.proc is not None and worker.proc.poll() is not None:
                    worker.proc = worker.start()
            for proc in paused:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGCONT)

    def _new_broker(self) -> list[_Child]:
        """An empty broker in place of the old one (stopped, or dead), met by a restart:
        the readers are stopped, the broker started and its topics made, the readers
        started again. Each begins from its own checkpoint or position file and the
        topic's new id; none carries a client of the old broker. Returns the readers."""
        broker = self.child("broker")
        readers = [c for c in self.children if c.reader and c.proc is not None]
        alive = broker.proc is not None and broker.proc.poll() is None  # a roll's
        _stop_all([c.proc for c in readers if c.proc is not None],
                  15 if alive else DEAD_BROKER_STOP_S)
        if alive:
            assert broker.proc is not None
            # Tansu waits 5 s after SIGTERM for its clients to hang up, and a paused
            # producer never does; all it holds is held elsewhere by now.
            services.stop(broker.proc, _BROKER_STOP_S)
        broker.proc = broker.start()
        # Made here before any reader or producer: a producer's first send would make
        # the events topic with the broker's own partition count.
        ensure_topics(self.settings)
        for reader in readers:
            reader.proc = reader.start()
        return readers

    def _restart(self, child: _Child) -> None:
        assert child.proc is not None
        code = child.proc.returncode
        now = time.monotonic()
        child.deaths = [t for t in child.deaths if now - t < _RESTART_WINDOW_S] + [now]
        if len(child.deaths) > _RESTARTS:
            click.echo(f"{child.name} exited with {code}, {len(child.deaths)} times in "
                       f"{_RESTART_WINDOW_S:.0f} s; giving up and stopping the stack. "
                       f"See {self.state_dir / (child.name + '.log')}.", err=True)
            raise _Stop(child.name, 1)
        wait = _BACKOFF_S[min(len(child.deaths), len(_BACKOFF_S)) - 1]
        click.echo(f"{child.name} exited with {code}; restarting it in {wait:.1f} s "
                   f"(restart {len(child.deaths)} of {_RESTARTS} allowed in "
                   f"{_RESTART_WINDOW_S:.0f} s; see {self.state_dir / (child.name + '.log')})",
                   err=True)
        time.sleep(wait)
        if child.name == "broker":  # back empty: as a roll, less the drain
            readers = self._new_broker()
            click.echo("  readers started again on it: " + ", ".join(
                f"{r.name} pid {r.proc.pid}" for r in readers if r.proc), err=True)
        else:
            child.proc = child.start()
        assert child.proc is not None
        click.echo(f"  {child.name:<9} restarted, pid {child.proc.pid}", err=True)

    def stop(self) -> None:
        click.echo("stopping...")
        for child in reversed(self.children):
            if child.proc is not None:
                rc = services.stop(child.proc)
                click.echo(f"  {child.name:<9} stopped ({rc})")


def _archive_holes(settings: Settings) -> str:
    """The archive checked against the broker about to go: '' when it holds every record
    (said on the stack's output either way)."""
    from review.archive_check import check_archive

    try:
        checks = check_archive(settings)
    except Exception as exc:  # noqa: BLE001  # kafka-python's errors: not proven whole
        return f"the check could not read the broker: {exc!r}"
    held = sum(c.held for c in checks)
    holes = "; ".join(c.line() for c in checks if c.missing)
    if not holes:
        click.echo(f"archive check: every one of the {held} records the broker holds is "
                   "archived")
    return holes


def _stop_all(procs: list[subprocess.Popen[bytes]], timeout_s: float = 15) -> None:
    """SIGTERM every process group at once, then wait for each (SIGKILL after the time)."""
    for proc in procs:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    for proc in procs:
        services.stop(proc, max(0.1, deadline - time.monotonic()))


def _environment(board_port: int, broker_port: int, redis_port: int, config: str | None,
                 state_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        CALLBOARD_BROKER_URL=f"kafka://127.0.0.1:{broker_port}",
        CALLBOARD_REDIS_URL=f"redis://127.0.0.1:{redis_port}/0",
        CALLBOARD_BROKER_PROFILE="local",
        CALLBOARD_BOARD_PORT=str(board_port),
        # Free ports, so that two local stacks (or a stack and a test) never collide.
        CALLBOARD_WORKER_METRICS_PORT=str(services.free_port()),
        CALLBOARD_NOTIFY_METRICS_PORT=str(services.free_port()),
        CALLBOARD_ARCHIVE_METRICS_PORT=str(services.free_port()),
        CALLBOARD_BOARD_METRICS_PORT=str(services.free_port()),
        PYTHONUNBUFFERED="1",
    )
    # The local broker keeps nothing past a restart: the archive, beside the stack's
    # logs, is what a replay of an earlier day reads, and the checkpoints there are
    # what the worker goes on from (callboard/roll.py).
    env.setdefault("CALLBOARD_ARCHIVE_DIR", str(state_dir / "archive"))
    env.setdefault("CALLBOARD_CHECKPOINT_DIR", str(state_dir / "checkpoints"))
    if config:
        env["CALLBOARD_CONFIG"] = str(Path(config).resolve())
    return env


def _settings(config: str | None, env: dict[str, str]) -> Settings:
    """The stack's settings as its children read them (the file, then the environment)."""
    saved = dict(os.environ)
    os.environ.update({k: v for k, v in env.items() if k.startswith("CALLBOARD_")})
    try:
        return load_settings(config)
    finally:
        os.environ.clear()
        os.environ.update(saved)


def run_local_stack(config: str | None, *, board_port: int, speed: float, state_dir: Path,
                    workers: int = 1, events: Path | None = None,
                    roll_every_s: float | None = None) -> None:
    """Start broker, redis-server, worker, notifier, simulator and board; restart any
    that dies (at most _RESTARTS times a minute); stop them all on Ctrl-C.

    Children run in their own sessions so that Ctrl-C reaches only this
    supervisor, which stops them in reverse order of start and waits for each,
    leaving no orphans and no ports held.
    """
    if not _port_free(board_port):
        raise click.ClickException(f"port {board_port} is taken; pass --board-port")
    state_dir.mkdir(parents=True, exist_ok=True)
    broker_port, redis_port = services.free_port(), services.free_port()
    env = _environment(board_port, broker_port, redis_port, config, state_dir.resolve())
    if roll_every_s is not None:
        env["CALLBOARD_LOCAL_ROLL_EVERY_S"] = str(roll_every_s)
    stack = _Stack(state_dir, env, _settings(config, env))
    previous = {s: signal.signal(s, _raise_stop) for s in (signal.SIGINT, signal.SIGTERM)}
    code = 0
    try:
        click.echo("starting the local stack (Ctrl-C stops it):")
        _start_children(stack, broker_port, redis_port, speed, workers, events)
        board = stack.children[-1].proc
        assert board is not None
        services.wait_for_port(board_port, board, 60, "board")
        click.secho(f"\ncallboard board: http://127.0.0.1:{board_port}/board"
                    f"  (English: ?lang=en)\n", bold=True)
        click.echo("metrics: worker http://127.0.0.1:"
                   f"{stack.env['CALLBOARD_WORKER_METRICS_PORT']}/metrics, notifier "
                   f"http://127.0.0.1:{stack.env['CALLBOARD_NOTIFY_METRICS_PORT']}/metrics")
        stack.watch()
    except _Stop as stop:
        code = stop.code
    except services.ServiceError as exc:
        click.echo(f"could not start: {exc}", err=True)
        code = 1
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        stack.stop()
    if code:
        raise SystemExit(code)


def _start_children(stack: _Stack, broker_port: int, redis_port: int, speed: float,
                    workers: int = 1, events: Path | None = None) -> None:
    state_dir = stack.state_dir
    stack.add("broker", lambda: services.start_broker(broker_port, state_dir / "broker.log"))
    click.echo(f"  broker    Tansu on 127.0.0.1:{broker_port} (memory only)")
    # Once, before the children, which would all race to make them (seen: the events
    # topic made twice in the first seconds, with a new id).
    ensure_topics(stack.settings)
    stack.add("redis", lambda: services.start_redis(redis_port, state_dir / "redis",
                                                    state_dir / "redis.log", persist=True))
    click.echo(f"  redis     {services.redis_server_binary()} on 127.0.0.1:{redis_port} "
               f"(append-only file in {state_dir / 'redis'})")
    # Simulated time faster than real time runs ahead of the wall clock: that
    # is a replay on the event clock, not live input (live, events stamped
    # ahead of the wall clock are set aside as "future").
    # Workers share the events topic's partitions (one consumer group); each has its own
    # /metrics port. More than the topic's partitions would leave some idle.
    for n in range(workers):
        worker = stack.callboard("worker" if n == 0 else f"worker-{n + 1}", "worker",
                                 *(("--clock", "event") if speed != 1 else ()),
                                 env=None if n == 0 else {
                                     "CALLBOARD_WORKER_METRICS_PORT": str(services.free_port())})
        worker.reader = worker.counts = True
    # open alerts for the console; sends only to configured people
    stack.callboard("notify", "notify").reader = True
    stack.callboard("archive", "archive").reader = True  # every event, for replay and reports
    if events is None:
        stack.callboard("simulate", "simulate", "--start", "now", "--duration", "7d",
                        "--speed", str(speed), "--flat", "--tickets").producer = True
    else:  # a recorded log instead, at the speed asked
        publish = stack.callboard("publish", "publish", str(events.resolve()), "--speed",
                                  str(speed))
        publish.producer = publish.finishes = True
    stack.callboard("board", "board")
