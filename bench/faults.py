"""Faults under a live stack, with the seconds the board takes to say so and to be live
again, and the alerts a killed notifier loses or repeats.

    .venv/bin/python bench/faults.py [--hold 20]

A worker on the wall clock counts live simulated traffic (`callboard simulate --start
now`) on its own Tansu broker and redis-server. The board's answer is read as a display
gets it, through `wallboard.wall.board_view` with the board's own `SnapshotReader`, every
0.2 s. For each fault, held `--hold` seconds and then healed:

- Redis frozen (SIGSTOP), Redis killed and restarted empty;
- the worker killed with -9 and started again (before the broker faults: a broker
  restarted empty takes the checkpoints with it);
- the broker frozen (SIGSTOP), the broker killed and restarted empty;
- the broker killed and restarted empty once more: seconds until the worker counts
  new events again, and whether it said the source was reset. Both broker deaths are
  met as `callboard up` meets them: the worker stopped and started again on the new
  broker (a broker change is a restart);
- the board's server killed and started again (seconds
  to its first /board answer);
- 200 slow clients (a request line, then nothing) held open against the board while
  a display's frame requests are timed;
- the notifier killed with -9 while a webhook fails, then started again: alerts lost
  and delivered twice (both must be 0);
- a registry flood (issue #30): 150 made-up displays with 80 KB of parameters against
  /board/frame, Redis's memory and the /displays list before and after;
- Redis hung (SIGSTOP: it accepts connections and never answers) while 24 anonymous
  loops ask for /console: the walls' frame answer times, and what /console answers.

`--only flood,hung` runs just those two (the board started for them).

Prints one line per fault. Measures; asserts nothing (tests/integration holds the
behaviour).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import redis
import requests
from common import print_machine  # bench/common.py, beside this script
from kafka import KafkaProducer

from base.config import load_settings
from base.keys import RedisKeys
from base.topics import bootstrap_servers, ensure_topics
from callboard import services
from callboard.localstack import DEAD_BROKER_STOP_S
from core.escalation import alert_doc
from core.ladder import Transition, default_rules
from wallboard.reader import SnapshotReader
from wallboard.wall import board_view

ROOT = Path(__file__).resolve().parents[1]


class Stack:
    def __init__(self, hold_s: float) -> None:
        self.hold_s = hold_s
        self.logs = Path(tempfile.mkdtemp(prefix="callboard-faults-"))
        self.bport, self.rport, self.board_port = (services.free_port() for _ in range(3))
        self.broker = services.start_broker(self.bport, self.logs / "broker.log")
        self.redis = services.start_redis(self.rport, self.logs / "redis", self.logs / "redis.log")
        run = uuid.uuid4().hex[:6]
        self.env = dict(os.environ, CALLBOARD_BROKER_URL=f"kafka://127.0.0.1:{self.bport}",
                        CALLBOARD_REDIS_URL=f"redis://127.0.0.1:{self.rport}/0",
                        CALLBOARD_BROKER_PROFILE="local", CALLBOARD_CLOCK="wall",
                        CALLBOARD_APP_ID=f"faults-{run}", CALLBOARD_BOARD_PORT=str(self.board_port),
                        CALLBOARD_WORKER_METRICS_PORT="0", CALLBOARD_NOTIFY_METRICS_PORT="0",
                        CALLBOARD_BOARD_METRICS_PORT="0", PYTHONUNBUFFERED="1",
                        # As `callboard up` keeps them: the checkpoints outlive a broker.
                        CALLBOARD_CHECKPOINT_DIR=str(self.logs / "checkpoints"))
        self.env.pop("CALLBOARD_CONFIG", None)
        self.procs: dict[str, object] = {}
        self.settings = load_settings(None, redis_url=self.env["CALLBOARD_REDIS_URL"])
        self.reader = SnapshotReader(self.settings)

    def start(self, name: str, *args: str) -> None:
        self.procs[name] = services.spawn(services.callboard_argv(*args),
                                          self.logs / f"{name}.log", self.env, ROOT)

    def kill(self, name: str) -> None:
        """SIGKILL to the process and its children."""
        proc = self.procs[name]
        os.killpg(proc.pid, signal.SIGKILL)  # type: ignore[attr-defined]
        proc.wait()  # type: ignore[attr-defined]

    def banner(self) -> str:
        return str(board_view(self.reader, self.settings, "en", int(time.time() * 1000)).text("banner"))

    def measure(self, name: str, fault: Callable[[], None], heal: Callable[[], None]) -> None:
        if not _until(lambda: self.banner() == "", 180):
            print(f"{name}: the board was not live before the fault ({self.banner()[:80]})")
            return
        started = time.monotonic()
        fault()
        stale = _until(lambda: self.banner() != "", self.hold_s + 60)
        said = self.banner()[:90]
        time.sleep(max(0.0, started + self.hold_s - time.monotonic()))  # the fault lasts
        healed = time.monotonic()
        heal()
        live = _until(lambda: self.banner() == "", 240)
        print(f"{name}: stale banner after {_s(stale, started)} ({said!r}); "
              f"live again {_s(live, healed)} after the fault was healed")

    def new_broker(self, log: str) -> None:
        """What `callboard up` does when its broker died: a broker change is a restart
        (callboard/localstack.py): the worker stopped, an empty broker started, the
        worker started again, to go on from its checkpoints."""
        services.stop(self.procs["worker"], DEAD_BROKER_STOP_S)  # type: ignore[arg-type]
        self.broker = services.start_broker(self.bport, self.logs / log)
        self.start("worker", "worker")

    def stop(self) -> None:
        for proc in self.procs.values():
            services.stop(proc)  # type: ignore[arg-type]
        services.stop(self.redis)
        services.stop(self.broker)


def _until(condition: Callable[[], bool], deadline_s: float) -> float | None:
    """Monotonic time the condition first held (polled every 0.2 s), or None."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        try:
            if condition():
                return time.monotonic()
        except Exception:  # noqa: BLE001  # a fault's own errors: keep polling
            pass
        time.sleep(0.2)
    return None


def _s(at: float | None, since: float) -> str:
    return "never (deadline)" if at is None else f"{at - since:.1f} s"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hold", type=float, default=20.0)
    parser.add_argument("--only", default="", help="comma-separated: flood, hung")
    args = parser.parse_args()
    print_machine()
    stack = Stack(args.hold)
    if args.only:
        try:
            stack.start("board", "board")
            for name in args.only.split(","):
                {"flood": _registry_flood, "hung": _redis_hung}[name](stack)
        finally:
            stack.stop()
        return
    try:
        stack.start("worker", "worker")
        stack.start("simulate", "simulate", "--start", "now", "--duration", "2h", "--speed",
                    "1", "--flat", "--volume", "2")
        redis_workdir, redis_log = stack.logs / "redis", stack.logs / "redis.log"
        stack.measure("Redis frozen", lambda: stack.redis.send_signal(signal.SIGSTOP),
                      lambda: stack.redis.send_signal(signal.SIGCONT))
        stack.measure("Redis killed, restarted empty",
                      lambda: stack.redis.kill(),
                      lambda: setattr(stack, "redis", services.start_redis(
                          stack.rport, redis_workdir, redis_log)))
        stack.measure("worker kill -9, started again", lambda: stack.kill("worker"),
                      lambda: stack.start("worker", "worker"))
        stack.measure("broker frozen", lambda: stack.broker.send_signal(signal.SIGSTOP),
                      lambda: stack.broker.send_signal(signal.SIGCONT))
        stack.measure("broker killed, restarted empty", lambda: stack.broker.kill(),
                      lambda: stack.new_broker("broker-2.log"))
        _counting_after_broker_reset(stack)
        _board_restart(stack)
        _slow_clients(stack)
        _registry_flood(stack)
        _redis_hung(stack)
        _notifier_kill(stack)
    finally:
        stack.stop()


def _stats(stack: Stack) -> dict[str, int]:
    client = redis.Redis(port=stack.rport, decode_responses=True, socket_timeout=2)
    return {k: int(v) for k, v in client.hgetall(RedisKeys("callboard:v1").stats).items()}


def _counting_after_broker_reset(stack: Stack) -> None:
    """The broker killed and started empty under a running worker, met as `callboard up`
    meets it (the worker started again on the new broker): seconds until the worker
    counts new events again, and whether it said the source was reset (issue 22: it
    once counted nothing for 6.5 minutes, silently)."""
    if not _until(lambda: _stats(stack).get("events_counted", 0) > 0, 120):
        print("broker reset: the worker counted nothing before; not measured")
        return
    log = stack.logs / "worker.log"
    seen = log.stat().st_size
    stack.broker.kill()
    stack.broker.wait()
    started = time.monotonic()
    stack.new_broker("broker-3.log")
    # The counters come back with the state: a partition whose checkpoint went with the
    # broker starts from nothing. Counting again: 10 more than the lowest count since (the
    # simulator sends about one event a second).
    lowest = [_stats(stack).get("events_counted", 0)]

    def counting() -> bool:
        now = _stats(stack).get("events_counted", 0)
        lowest[0] = min(lowest[0], now)
        return now >= lowest[0] + 10

    again = _until(counting, 600)
    with log.open(errors="replace") as f:
        f.seek(seen)
        said = sum("the events topic is a new one" in line for line in f)
    print(f"broker killed and restarted empty under the worker: counting again (10 new "
          f"events) {_s(again, started)} after the restart; partitions said reset: {said}")


def _slow_clients(stack: Stack, count: int = 200) -> None:
    """Connections that send a request's first line and then nothing, held open while a
    display's requests are timed: answered, and how fast (issue 22: 16 such clients once
    took every serving thread)."""
    import socket

    url = f"http://127.0.0.1:{stack.board_port}/board/frame?wall=board"
    if not _until(lambda: requests.get(url, timeout=2).status_code == 200, 90):
        print("slow clients: the board never answered; not measured")
        return
    held = []
    for _ in range(count):
        conn = socket.create_connection(("127.0.0.1", stack.board_port), timeout=5)
        conn.sendall(b"GET /board HTTP/1.1\r\nHost: x\r\n")  # and never the blank line
        held.append(conn)
    times, errors = [], 0
    end = time.monotonic() + stack.hold_s
    while time.monotonic() < end:
        started = time.monotonic()
        try:
            ok = requests.get(url, timeout=5).status_code == 200
        except requests.RequestException:
            ok = False
        times.append(time.monotonic() - started)
        errors += not ok
        time.sleep(0.2)
    for conn in held:
        conn.close()
    times.sort()
    p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
    print(f"{count} slow clients held open for {stack.hold_s:.0f} s: {len(times) - errors} of "
          f"{len(times)} frame requests answered, p50 {times[len(times) // 2] * 1000:.0f} ms, "
          f"p99 {p99 * 1000:.0f} ms")


def _registry_flood(stack: Stack, count: int = 150) -> None:
    """Made-up displays with 80 KB of parameters, as an attacker on the room's network
    would send them (issue #30 §3: 150 took Redis from 1.9 to 15.8 MB)."""
    url = f"http://127.0.0.1:{stack.board_port}/board/frame"
    if not _until(lambda: requests.get(url, timeout=2).status_code == 200, 90):
        print("registry flood: the board never answered; not measured")
        return
    client = redis.Redis(port=stack.rport, decode_responses=True, socket_timeout=5)
    key = RedisKeys(stack.settings.redis_prefix).displays
    before = int(client.info("memory")["used_memory"])
    big = "9" * 20_000  # four fields: 80 KB, under waitress's 256 KB header limit
    codes: dict[int, int] = {}
    for n in range(count):
        answer = requests.get(url, params={"display": f"flood-{n:08d}", "w": big, "h": big,
                                           "since": big, "wall": big[:1000]}, timeout=10)
        codes[answer.status_code] = codes.get(answer.status_code, 0) + 1
        time.sleep(0.01)
    time.sleep(3)  # the registry writes every 2 s: let the last batch land
    after = int(client.info("memory")["used_memory"])
    print(f"registry flood ({count} made-up displays, 80 KB of parameters): answers {codes}; "
          f"Redis {before / 1e6:.2f} MB -> {after / 1e6:.2f} MB; /displays lists "
          f"{client.hlen(key)} displays")


def _redis_hung(stack: Stack, loops: int = 24) -> None:
    """Redis stopped (it accepts connections, answers nothing) while anonymous loops ask
    for a guarded page: each must give up fast, so the walls keep their threads."""
    import threading

    frame = f"http://127.0.0.1:{stack.board_port}/board/frame?wall=board"
    console = f"http://127.0.0.1:{stack.board_port}/console"
    if not _until(lambda: requests.get(frame, timeout=2).status_code == 200, 90):
        print("Redis hung: the board never answered; not measured")
        return
    stop = threading.Event()
    statuses: dict[int, int] = {}

    def hammer() -> None:
        while not stop.is_set():
            try:
                code = requests.get(console, timeout=10).status_code
            except requests.RequestException:
                code = 0
            statuses[code] = statuses.get(code, 0) + 1

    stack.redis.send_signal(signal.SIGSTOP)
    threads = [threading.Thread(target=hammer, daemon=True) for _ in range(loops)]
    for thread in threads:
        thread.start()
    times = []
    end = time.monotonic() + stack.hold_s
    try:
        while time.monotonic() < end:
            started = time.monotonic()
            try:
                requests.get(frame, timeout=10)
            except requests.RequestException:
                pass
            times.append(time.monotonic() - started)
            time.sleep(0.2)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=15)
        stack.redis.send_signal(signal.SIGCONT)
    times.sort()
    p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
    print(f"Redis hung for {stack.hold_s:.0f} s, {loops} loops on /console: the walls' frame "
          f"p50 {times[len(times) // 2] * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms "
          f"({len(times)} requests); /console answered {statuses}")


def _board_restart(stack: Stack) -> None:
    url = f"http://127.0.0.1:{stack.board_port}/board"
    stack.start("board", "board")
    if not _until(lambda: requests.get(url, timeout=2).status_code == 200, 90):
        print("board restart: the board never answered")
        return
    stack.kill("board")
    started = time.monotonic()
    stack.start("board", "board")
    back = _until(lambda: requests.get(url, timeout=2).status_code == 200, 90)
    print(f"board killed and started again: first /board answer after {_s(back, started)}")


class _Hooks(ThreadingHTTPServer):
    """Fails every attempt while ``failing``; records deliveries by alert id."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.failing = True
        self.delivered: Counter[str] = Counter()
        self.failed = 0


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        server: _Hooks = self.server  # type: ignore[assignment]
        if server.failing:
            server.failed += 1
            self.send_response(503)
        else:
            server.delivered[body["alert_id"]] += 1
            self.send_response(204)
        self.end_headers()

    def log_message(self, *_: object) -> None:
        pass


def _notifier_kill(stack: Stack, count: int = 20) -> None:
    hooks = _Hooks()
    threading.Thread(target=hooks.serve_forever, daemon=True).start()
    config = stack.logs / "notify.toml"
    config.write_text(f"""[escalation]
webhook_secret = "s"
max_alert_age_s = 0
ack_timeout_min = 60

[[escalation.recipients]]
name = "supervisor"
webhook_url = "http://127.0.0.1:{hooks.server_address[1]}/hook"
""")
    stack.env["CALLBOARD_CONFIG"] = str(config)
    # A topic of its own: the live worker's real alerts do not mix in.
    topic = f"faults-alerts-{uuid.uuid4().hex[:6]}"
    stack.env["CALLBOARD_ALERTS_TOPIC"] = topic
    ensure_topics(load_settings(None, broker_url=stack.env["CALLBOARD_BROKER_URL"],
                                alerts_topic=topic))
    step = default_rules().steps[0]
    docs = [alert_doc(f"Q{i}", Transition(1, "up", int(time.time() * 1000) + i, 6, "day", step),
                      stack.settings.zone) for i in range(count)]
    producer = KafkaProducer(bootstrap_servers=bootstrap_servers(stack.env["CALLBOARD_BROKER_URL"]),
                             acks="all")
    for doc in docs:
        producer.send(topic, key=doc["queue"].encode(), value=json.dumps(doc).encode())
    producer.flush()
    producer.close()
    stack.start("notify", "notify")
    if not _until(lambda: hooks.failed >= count, 90):
        print(f"notifier: only {hooks.failed} failing attempts seen; not measured")
        return
    stack.kill("notify")  # -9 with every delivery failed once and queued for a retry
    hooks.failing = False
    started = time.monotonic()
    stack.start("notify", "notify")
    done = _until(lambda: len(hooks.delivered) == count, 180)
    time.sleep(5)  # anything sent twice arrives by now
    lost = count - len(hooks.delivered)
    twice = sum(n - 1 for n in hooks.delivered.values() if n > 1)
    print(f"notifier kill -9 during a failing webhook ({count} alerts): all delivered "
          f"{_s(done, started)} after restart; lost {lost}, delivered twice {twice}")
    hooks.shutdown()


if __name__ == "__main__":
    main()
