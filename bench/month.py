"""A month on the local stack: memory per simulated day with the broker rolled daily,
how far the board trails the stream, and whether the day rows equal the report.

    .venv/bin/python bench/month.py [--days 30] [--volume 4] [--day-s 45]

Simulates ``--days`` days of a centre (``--volume`` scales the simulator's traffic;
4 is about 300 seats, ~93,000 events a day) into a file, then runs ``callboard up
--events FILE`` on a compressed clock (a simulated day in ``--day-s`` wall seconds) with
the broker rolled once per simulated day. Every second it reads the centre's snapshot;
at each simulated midnight it prints the broker's, worker's and Redis's memory, the
archive's size, and how far the board trailed the stream that day (p50/p99 of the gap
between the event time being published and the newest event time on the board, in wall
seconds; then again leaving out each roll and the 10 s after it, when the producers
wait and the consumers rejoin the new broker). At the end, sampled days' rows in Redis
are compared with ``callboard report --interval day`` on the archive (not on the file:
the archive is what the stack kept).
Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import re
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import redis
from common import print_machine  # bench/common.py, beside this script

from base.keys import RedisKeys
from callboard import services
from callboard.roll import rss_mb
from core.snapshot import CENTRE
from review.archive import archive_days, read_day

ROOT = Path(__file__).resolve().parents[1]
ZONE = ZoneInfo("Asia/Shanghai")
START = datetime(2026, 3, 2, 0, 0, tzinfo=ZONE)  # a Monday
PREFIX, TOPIC = "callboard:v1", "acd.events.v1"  # the stack's defaults


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _dir_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--volume", type=float, default=4.0)
    parser.add_argument("--day-s", type=float, default=45.0)
    parser.add_argument("--sample", type=int, default=4, help="days compared with the report")
    parser.add_argument("--work", type=Path, default=Path("/tmp/callboard-month"))
    args = parser.parse_args()
    print_machine()
    work = args.work
    subprocess.run(["rm", "-rf", str(work)], check=True)
    work.mkdir(parents=True)
    log = work / "month.jsonl"
    started = time.monotonic()
    subprocess.run([*services.callboard_argv("simulate"), "--seed", "19", "--start",
                    START.isoformat(), "--duration", f"{args.days * 24}h", "--volume",
                    str(args.volume), "--out", str(log)], check=True, cwd=ROOT)
    events = sum(1 for _ in log.open("rb"))
    print(f"{args.days} days, {events} events ({events / args.days:.0f} a day), "
          f"simulated in {time.monotonic() - started:.0f} s", flush=True)
    speed = 86400 / args.day_s
    out = work / "up.out"
    with out.open("wb") as fh:
        up = subprocess.Popen(
            [*services.callboard_argv("up"), "--board-port", str(services.free_port()),
             "--speed", f"{speed:g}", "--state-dir", str(work / "state"), "--events",
             str(log), "--roll-every", f"{args.day_s:g}"],
            stdout=fh, stderr=subprocess.STDOUT, cwd=ROOT)
    try:
        _watch(up, out, work, args, speed, log, events)
    finally:
        up.send_signal(signal.SIGINT)
        up.wait(timeout=120)


def _watch(up: subprocess.Popen[bytes], out: Path, work: Path, args: argparse.Namespace,
           speed: float, log: Path, events: int) -> None:
    deadline = time.monotonic() + 120
    while "callboard board: http" not in out.read_text():
        if time.monotonic() > deadline or up.poll() is not None:
            sys.exit(f"the stack did not start:\n{out.read_text()[-2000:]}")
        time.sleep(0.5)
    text = out.read_text()
    redis_port = int(re.findall(r"on 127\.0\.0\.1:(\d+)", text)[1])
    client = redis.Redis(port=redis_port, decode_responses=True)
    keys = RedisKeys(PREFIX)
    first_ms = int(json.loads(log.open().readline())["ts_ms"])
    end_ms = first_ms + args.days * 86_400_000
    # How far the board trails the publisher, in wall seconds: the publisher sends
    # event time first_ms + (t - t0) * speed at wall time t (it catches up after a
    # roll's pause). t0 is taken as the earliest one any sample implies (the moment the
    # board was most caught up counts as no lag), so the figure is never flattered.
    samples: list[tuple[float, int]] = []
    rolling: list[tuple[float, float]] = []  # wall windows of a roll, and 10 s after it
    rolls_seen = 0
    t0 = float("inf")
    day, peak = 0, {"broker": 0.0, "worker": 0.0}
    print("day  broker MB peak  worker MB peak  redis MB  archive MB  rolls  max pause s"
          "  board behind p50/p99 s  (outside rolls)", flush=True)
    while True:
        raw = client.get(keys.snapshot(CENTRE))
        now = time.monotonic()
        text = out.read_text()
        started = text.count("rolling the local broker")
        if started > rolls_seen:  # a roll began: until it is done and the group rejoined
            rolling.append((now, float("inf")))
            rolls_seen = started
        if rolling and rolling[-1][1] == float("inf") and text.count(
                "rolled the local broker") + text.count("called off") >= rolls_seen:
            rolling[-1] = (rolling[-1][0], now + 10)
        peak["broker"] = max(peak["broker"], rss_mb(_broker_pid(text)) or 0)
        peak["worker"] = max(peak["worker"], rss_mb(_worker_pid(text)) or 0)
        if raw:
            as_of = json.loads(raw)["as_of_ms"]
            samples.append((now, as_of))
            t0 = min(t0, now - (as_of - first_ms) / 1000 / speed)
            if as_of >= first_ms + (day + 1) * 86_400_000 or as_of >= end_ms - 60_000:
                day += 1
                gaps = [max(0.0, (min(first_ms + (t - t0) * 1000 * speed, end_ms) - a)
                            / 1000 / speed) for t, a in samples]
                calm = [g for (t, _), g in zip(samples, gaps, strict=True)
                        if not any(lo <= t <= hi for lo, hi in rolling)]
                pauses = re.findall(r"producers paused ([\d.]+) s", text)
                print(f"{day:>3}  {peak['broker']:>14.0f}  {peak['worker']:>14.0f}"
                      f"  {client.info('memory')['used_memory'] / 1e6:>8.1f}"
                      f"  {_dir_mb(work / 'state' / 'archive'):>10.1f}"
                      f"  {len(pauses):>5}  {max(map(float, pauses), default=0):>8.1f}"
                      f"  {_pct(gaps, 0.5):>6.2f} / {_pct(gaps, 0.99):.2f}"
                      f"  {_pct(calm, 0.5):>6.2f} / {_pct(calm, 0.99):.2f}", flush=True)
                samples, peak = [], {"broker": 0.0, "worker": 0.0}
                if as_of >= end_ms - 60_000:
                    break
        if up.poll() is not None:
            sys.exit(f"the stack stopped:\n{out.read_text()[-2000:]}")
        time.sleep(1.0)
    text = out.read_text()
    print(f"rolls: {text.count('rolled the local broker')}, called off: "
          f"{text.count('called off')}; worker restarts: {text.count('worker    restarted')}",
          flush=True)
    time.sleep(args.day_s + 30)  # the last roll drains everything into the archive
    _compare(client, keys, work, args.sample, args.days)


def _worker_pid(text: str) -> int:
    found = re.findall(r"worker +(?:restarted, )?pid (\d+)", text)
    return int(found[-1])


def _broker_pid(text: str) -> int:
    rolled = re.findall(r"new one \d+ MB, pid (\d+)", text)
    restarted = re.findall(r"broker +restarted, pid (\d+)", text)
    if rolled or restarted:
        return int((rolled + restarted)[-1])
    port = int(re.search(r"Tansu on 127\.0\.0\.1:(\d+)", text).group(1))  # type: ignore[union-attr]
    found = subprocess.run(["ss", "-ltnpH", f"sport = :{port}"], capture_output=True,
                           text=True).stdout
    return int(re.search(r"pid=(\d+)", found).group(1))  # type: ignore[union-attr]


def _compare(client: redis.Redis, keys: RedisKeys, work: Path, sample: int, days: int) -> None:
    archive = work / "state" / "archive"
    joined = work / "archived.jsonl"
    with joined.open("wb") as fh:
        for day in archive_days(archive):
            for lines in read_day(archive, day, TOPIC).values():
                fh.writelines(line + b"\n" for line in lines)
    report = json.loads(subprocess.run(
        [*services.callboard_argv("report"), "--events", str(joined), "--interval", "day"],
        check=True, capture_output=True, text=True, cwd=ROOT).stdout)
    archived = sum(1 for _ in joined.open("rb"))
    picks = sorted({0, days // 3, (2 * days) // 3, days - 1})[:sample]
    wanted = [(START + timedelta(days=d)).isoformat() for d in picks]
    equal = differ = 0
    for row in report:
        if row["interval_start"] not in wanted:
            continue
        queue = row["queue"] or CENTRE
        start_ms = int(datetime.fromisoformat(row["interval_start"]).timestamp() * 1000)
        raw = client.hget(keys.days(queue), str(start_ms))
        live = json.loads(raw) if raw else {}
        keys_ = [k for k in ("offered", "answered", "abandoned", "answered_within_threshold",
                             "service_level", "asa_s", "aht_s") if k in row]
        same = all(live.get(k) == row[k] or (isinstance(row[k], float) and live.get(k) is not None
                                             and abs(live[k] - row[k]) < 2e-3) for k in keys_)
        equal += same
        differ += not same
        if not same:
            print(f"  differs: {queue} {row['interval_start']}: "
                  f"{ {k: (live.get(k), row[k]) for k in keys_} }")
    print(f"archive: {archived} events; sampled days {[w[:10] for w in wanted]}: "
          f"{equal} rows equal the report, {differ} differ", flush=True)


if __name__ == "__main__":
    main()
