"""Screenshots of the pages people open away from the wall, for docs and a look:

    .venv/bin/python scripts/page_shots.py [--out docs/board]

the one-tap acknowledgement page and the console on a 360x640 phone, /displays and the
supervisor page drilled into a queue on a desk screen. Starts its own redis-server and
board (`callboard board --dev`) on free ports and writes made-up state to Redis: an open
alert, three wall displays (one silent), a queue's snapshot and drill-down. Nothing
here is measured.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import redis

from base.acklink import sign_link
from base.config import load_settings
from base.keys import RedisKeys
from callboard import services

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))
from wall_shots import snapshot  # noqa: E402  # this folder's other script

SECRET = "page-shots-deployment-key"  # noqa: S105  # made up, for screenshots only


def shoot(url: str, out: Path, size: str) -> None:
    # Server-rendered pages are whole when loaded: no virtual time (the console's
    # 5-second refresh would keep a virtual clock busy).
    w, h = size.split("x")
    subprocess.run(["chromium", "--headless=new", "--no-sandbox", "--disable-gpu",
                    "--hide-scrollbars", f"--window-size={w},{h}", f"--screenshot={out}", url],
                   check=True, capture_output=True, timeout=120)
    print(out)


def report_displays(client: redis.Redis, keys: RedisKeys) -> None:
    """Three wall displays as they report in: two a moment ago, one silent for minutes."""
    now = int(time.time() * 1000)
    for i, (wall, size, seen_s, lang) in enumerate((("board", ("3840", "2160"), 1, "zh"),
                                                    ("floor-2", ("1920", "1080"), 0, "en"),
                                                    ("agents", ("1080", "1920"), 340, "zh"))):
        client.hset(keys.displays, f"d{i}4f9c2e1a7b3", json.dumps({
            "id": f"d{i}4f9c2e1a7b3", "wall": wall, "lang": lang, "session": None, "w": size[0],
            "h": size[1], "since": None, "addr": f"10.20.1.{31 + i}",
            "agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0", "seen_ms": now - seen_s * 1000}))


def drilled(url: str, out: Path) -> None:
    """The supervisor page after a click on GEN's name (a click needs a driver)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,1400",
                 "--hide-scrollbars"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service("/usr/bin/chromedriver"))
    try:
        driver.get(url)
        WebDriverWait(driver, 30).until(
            lambda d: d.find_elements(By.CSS_SELECTOR, "#sup-row-GEN button.pick"))
        # In the page itself: the table is rendered anew while it loads.
        driver.execute_script("document.querySelector('#sup-row-GEN button.pick').click();")
        WebDriverWait(driver, 30).until(lambda d: d.find_elements(By.ID, "drill-drill_waiting"))
        driver.execute_script("document.getElementById('sup-drill').scrollIntoView();")
        driver.save_screenshot(str(out))
        print(out)
    finally:
        driver.quit()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "board")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="page-shots-"))
    redis_port, board_port = services.free_port(), services.free_port()
    config = work / "callboard.toml"
    config.write_text(f'[escalation]\npublic_url = "http://127.0.0.1:{board_port}"\n'
                      f'ack_link_secret = "{SECRET}"\n'
                      '[[queues]]\nname = "GEN"\nlabel_zh = "综合业务"\nlabel_en = "General"\n')
    redis_proc = services.start_redis(redis_port, work / "redis", work / "redis.log")
    env = {**os.environ, "CALLBOARD_CONFIG": str(config), "CALLBOARD_BOARD_PORT": str(board_port),
           "CALLBOARD_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
           "CALLBOARD_BOARD_METRICS_PORT": "0"}
    board = services.spawn(services.callboard_argv("board", "--dev"), work / "board.log", env)
    client = redis.Redis(port=redis_port, decode_responses=True)
    keys = RedisKeys("callboard:v1")
    now = int(time.time() * 1000)
    rng = random.Random(5)
    for queue, zh, en, level in (("ALL", "全中心", "Whole centre", 2), ("GEN", "综合业务", "General", 2)):
        doc = snapshot(queue, zh, en, rng, now, level)
        doc["now"]["waiting"], doc["now"]["longest_wait_s"] = 9, 412.0
        for name, start in (("interval", now - 600_000), ("day", now - 7_200_000)):
            doc["windows"][name]["start_ms"] = start  # the supervisor page reads the day's
        client.set(keys.snapshot(queue), json.dumps(doc, ensure_ascii=False))
        client.sadd(keys.queues, queue)
    rung = {"name_zh": "流动专家组签入", "name_en": "Floating experts sign in",
            "action_zh": "立即调整流动专家组加入呼入台席",
            "action_en": "Move the floating expert group onto inbound seats now",
            "staff_group": "floating_experts", "seats": "group"}
    alert_id = f"GEN:{now - 120_000}:up:1"
    client.hset(keys.alerts_open, "GEN", json.dumps({
        "alert_id": alert_id, "last_alert_id": alert_id, "queue": "GEN", "step": 1,
        "direction": "up", "event_time": "2026-12-03T10:05:05+08:00", "event_ms": now - 120_000,
        "waiting": 7, "mode": "day", "rung": rung, "seats_needed": None, "staffed": None,
        "level": 0, "notified_ms": now - 110_000, "acked_by": None, "acked_ms": None,
        "started": {"1": now - 120_000}}, ensure_ascii=False))
    for who, how in (("lin", "apprise:dingtalk:0"), ("wang", "apprise:wecombot:0")):
        client.xadd(keys.alerts_audit, {"what": "notified", "queue": "GEN", "step": "1",
                                        "alert_id": alert_id, "recipient": who, "channel": how,
                                        "level": "0", "at_ms": str(now - 100_000)})
    client.set(keys.drill("GEN"), json.dumps({
        "queue": "GEN", "as_of_ms": now,
        "waiting": [{"position": i + 1, "call_id": f"c{i}", "wait_s": w, "caller": f"••••{n}"}
                    for i, (w, n) in enumerate(((412, "8812"), (365, "0457"), (290, "3390"),
                                                (121, "7716"), (44, "2208")))],
        "agents": [{"agent_id": a, "state": s, "since_ms": now - t * 1000}
                   for a, s, t in (("A1017", "on_call", 312), ("A1022", "on_call", 95),
                                   ("A1031", "acw", 48), ("A1044", "not_ready", 610))],
        "abandoned": [{"call_id": f"x{i}", "abandoned_ms": now - i * 97_000, "wait_s": 30 + 17 * i,
                       "caller": f"••••{4100 + i * 37}"} for i in range(6)]}, ensure_ascii=False))
    esc = load_settings(config).escalation
    token = sign_link(esc, {"alert_id": alert_id, "queue": "GEN", "recipient": "lin", "level": 0})
    try:
        services.wait_for_port(board_port, board, 60, "board")
        base = f"http://127.0.0.1:{board_port}"
        shoot(f"{base}/ack/{token}?lang=zh", args.out / "phone-ack-zh.png", "360x640")
        shoot(f"{base}/console?lang=en", args.out / "phone-console-en.png", "360x640")
        report_displays(client, keys)  # just before: "alive" is a matter of seconds
        shoot(f"{base}/displays", args.out / "displays.png", "1280x400")
        drilled(f"{base}/supervisor/?lang=en", args.out / "supervisor-drill.png")
    finally:
        services.stop(board)
        services.stop(redis_proc)


if __name__ == "__main__":
    main()
