"""Screenshots of the wall at the sizes call rooms use, for docs/board.md and a look.

    .venv/bin/python scripts/wall_shots.py [--queues 16] [--out docs/shots] [--size 1920x1080 ...]

Starts its own redis-server and board (`callboard board --dev`) on free ports, writes
snapshots of a made-up centre of ``--queues`` queues (some with 8-character Chinese
names, a few amber or red, one on a ladder step, one with a breach warning) to Redis
every half second, and has headless Chromium photograph each wall at each size. Nothing here is measured.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import redis

from base.keys import RedisKeys
from callboard import services

ROOT = Path(__file__).resolve().parents[1]
SIZES = ["1280x720", "1920x1080", "3840x2160", "1080x1920", "3840x1080"]
_ZH = ["普通话服务热线", "英语服务热线", "企业客户专线", "贵宾客户专席", "投诉处理中心",
       "宽带故障报修", "国际漫游咨询", "账单查询服务"]


def centre_queues(n: int) -> list[dict]:
    return [{"name": f"Q{i:02d}", "label_zh": _ZH[i % len(_ZH)][: 4 + i % 5],
             "label_en": ("International roaming desk" if i % 5 == 0 else f"Queue {i:02d}")[:24]}
            for i in range(n)]


def snapshot(queue: str, zh: str, en: str, rng: random.Random, now: int, level: int) -> dict:
    waiting = [rng.randint(0, 3), rng.randint(6, 9), rng.randint(11, 999)][level]
    longest = [rng.uniform(0, 19), rng.uniform(21, 59), rng.uniform(61, 3599)][level]
    sl = [rng.uniform(0.85, 1.0), rng.uniform(0.7, 0.79), rng.uniform(0.2, 0.6)][level]
    few = queue == "Q01"  # early in the half hour: 3 calls, one late (issue #32)
    window = {"service_level": 2 / 3 if few else sl,
              "abandon_rate": [0.01, 0.055, 0.3][level], "asa_s": [8.0, 22.0, 95.0][level],
              "offered": 3 if few else rng.randint(40, 200)}
    return {
        "schema": 1, "queue": queue, "label_zh": zh, "label_en": en, "vip": queue == "Q03",
        "sl_formula": "offered", "sl_threshold_s": 20, "sl_target": 0.8, "short_abandon_s": 5,
        "abandon_target": 0.05, "asa_target_s": 20,
        "targets": {"service_level": {"min": 0.8, "max": None},
                    "abandon_rate": {"min": None, "max": 0.05},
                    "asa_s": {"min": None, "max": 20}},
        "as_of_ms": now, "as_of": "2026-01-05T10:15:00+08:00", "written_ms": now,
        "source_ok_ms": now, "last_event_ms": now,
        "now": {"waiting": waiting, "oldest_offered_ms": now - int(longest * 1000),
                "longest_wait_s": longest if waiting else 0.0,
                "agents": {"available": rng.randint(0, 9), "on_call": rng.randint(3, 40),
                           "acw": 1, "not_ready": 1, "logged_in": 20, "planned": None,
                           "attendance": None},
                "seats_needed": {"agents": 14, "service_level": 0.8, "asa_s": 10.0,
                                 "calls_15min": 60, "aht_s": 180.0},
                "escalation": ({"group": queue, "step": 2, "mode": "day", "since_ms": now,
                                "name_zh": "外呼座席签入", "name_en": "Outbound seats sign in",
                                "action_zh": "调整2-3个呼出台席加入呼入台席",
                               "action_en": "Move 2-3 outbound seats onto inbound"}
                               if queue == "Q05" else None),
                # A breach warning out on Q03: step 1 forecast in ~7 min (5-11).
                "outlook": ({"at_ms": now, "breach_ms": now + 420_000, "breach_in_s": 420,
                             "early_in_s": 300, "late_in_s": 660, "arrivals_per_min": 6.1,
                             "capacity_per_min": 4.4, "agents": 18, "aht_s": 245.0,
                             "warning": True, "horizon_s": 600} if queue == "Q03" else None),
                # Tickets (issue #21): Q01 has a level-1 complaint 12 min overdue, Q02 one
                # due soon; every queue has a few open.
                "tickets": {"open": {"consultation": 4, "level1": 2, "level2": 1, "level3": 1,
                                     "level4": 0},
                            "due_soon": 1 if queue in ("Q01", "Q02") else 0,
                            "overdue": 1 if queue == "Q01" else 0,
                            "next_due": {"ticket_id": f"{queue}-T7", "kind": "complaint",
                                         "level": 1, "owner": "A07",
                                         "due_ms": now + (-12 if queue == "Q01" else 23) * 60_000}}},
        "windows": {"interval": window, "day": dict(window)},
        "agents_day": {f"{queue}-{n:02d}": {
            "state": ("available", "on_call", "on_call", "acw", "not_ready")[(n + level) % 5],
            "since_ms": now - rng.randint(5, 1500) * 1000, "answered": 3, "handled": 3,
            "avg_talk_s": 100.0, "avg_acw_s": 20.0, "aht_s": 120.0,
            "calls_per_agent_hour": 5.0, "occupancy": 0.8, "signed_in_h": 2.0,
            "not_ready_h": 0.1} for n in range(300 // 16)},
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--queues", type=int, default=16)
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "shots")
    ap.add_argument("--size", action="append", help="WxH; default: the five call-room sizes")
    ap.add_argument("--wall", action="append", help="path after the host; default: /board")
    ap.add_argument("--palette", default="led")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="wall-shots-"))
    queues = centre_queues(args.queues)
    config = work / "callboard.toml"
    config.write_text(f'board_palette = "{args.palette}"\n' + "".join(
        f'[[queues]]\nname = "{q["name"]}"\nlabel_zh = "{q["label_zh"]}"\n'
        f'label_en = "{q["label_en"]}"\n' for q in queues)
        + '[[walls]]\nname = "floor"\nfigures = "compact"\nlang = "en"\n'
        + '[[walls]]\nname = "agents"\nkind = "agents"\nlang = "en"\n')
    redis_port, board_port = services.free_port(), services.free_port()
    redis_proc = services.start_redis(redis_port, work / "redis", work / "redis.log")
    env = {**os.environ, "CALLBOARD_CONFIG": str(config), "CALLBOARD_BOARD_PORT": str(board_port),
           "CALLBOARD_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
           "CALLBOARD_BOARD_METRICS_PORT": "0"}
    board = services.spawn(services.callboard_argv("board", "--dev"), work / "board.log", env)
    client = redis.Redis(port=redis_port)
    keys = RedisKeys("callboard:v1")
    stop = threading.Event()

    def write() -> None:
        rng = random.Random(3)
        levels = {q["name"]: (2 if i in (2, 9) else 1 if i in (5, 12) else 0)
                  for i, q in enumerate(queues)}
        while not stop.is_set():
            now = int(time.time() * 1000)
            docs = [snapshot(q["name"], q["label_zh"], q["label_en"], rng, now, levels[q["name"]])
                    for q in queues]
            centre = snapshot("ALL", "全中心", "Whole centre", rng, now, 1)
            for doc in [centre, *docs]:
                client.set(keys.snapshot(doc["queue"]), json.dumps(doc, ensure_ascii=False))
                client.sadd(keys.queues, doc["queue"])
            stop.wait(0.5)

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    try:
        services.wait_for_port(board_port, board, 60, "board")
        for path in args.wall or ["/board"]:
            for size in args.size or SIZES:
                w, h = size.split("x")
                name = f"wall-{path.strip('/').replace('/', '-')}-{args.queues}q-{size}.png"
                subprocess.run(["chromium", "--headless=new", "--no-sandbox", "--disable-gpu",
                                "--hide-scrollbars", f"--window-size={w},{h}",
                                "--virtual-time-budget=6000", f"--screenshot={args.out / name}",
                                f"http://127.0.0.1:{board_port}{path}"],
                               check=True, capture_output=True, timeout=120)
                print(args.out / name)
    finally:
        stop.set()
        services.stop(board)
        services.stop(redis_proc)


if __name__ == "__main__":
    main()
