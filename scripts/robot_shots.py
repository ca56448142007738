"""A DingTalk group robot's messages as received, for docs/escalation.md:

    .venv/bin/python scripts/robot_shots.py [--out docs/board]

Sends a step-1 alert and a breach warning through the notifier's own Apprise path
(``phone_message`` and the DingTalk signature fix) to a local receiver standing in for
DingTalk's endpoint (the only change: Apprise's DingTalk URL points here), then draws
the ``text.content`` each request carried, character for character, in a chat bubble
on a 390-pixel phone and takes a Chromium screenshot. It is the body DingTalk gets, not
DingTalk's app (none runs here). Nothing here is measured.
"""

from __future__ import annotations

import argparse
import html
import json
import sys
import tempfile
import threading
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from zoneinfo import ZoneInfo

import apprise
from apprise.plugins.dingtalk import NotifyDingTalk

from alerts.notify import _sign_dingtalk_once, phone_message
from core.escalation import WARNING_RUNG, alert_doc
from core.ladder import Transition, default_rules

sys.path.insert(0, str(Path(__file__).parent))
from page_shots import shoot  # this folder's other script

ROOT = Path(__file__).resolve().parents[1]
SHANGHAI = ZoneInfo("Asia/Shanghai")


def at(hh: int, mm: int, ss: int = 0) -> int:
    return int(datetime(2026, 12, 3, hh, mm, ss, tzinfo=SHANGHAI).timestamp() * 1000)


class _Robot(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.got.append(body)  # type: ignore[attr-defined]
        answer = b'{"errcode":0,"errmsg":"ok"}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *_: object) -> None:
        pass


def _page(messages: list[tuple[str, str]]) -> str:
    bubbles = "".join(
        f'<div class="row"><div class="avatar">机</div><div><div class="who">callboard 机器人'
        f' <span>{html.escape(time)}</span></div><div class="bubble">{html.escape(text)}</div>'
        "</div></div>" for time, text in messages)
    return f"""<!doctype html><meta charset="utf-8"><style>
body {{ margin: 0; font: 15px/1.45 system-ui, "Noto Sans CJK SC", sans-serif; background: #f2f3f5; }}
header {{ background: #fff; padding: 12px; text-align: center; font-weight: 600;
          border-bottom: 1px solid #ddd; }}
.row {{ display: flex; gap: 8px; padding: 10px 12px; }}
.avatar {{ flex: none; width: 36px; height: 36px; border-radius: 6px; background: #3370ff;
           color: #fff; display: grid; place-items: center; }}
.who {{ color: #666; font-size: 12px; margin-bottom: 3px; }} .who span {{ margin-left: 6px; }}
.bubble {{ background: #fff; border-radius: 8px; padding: 8px 10px; white-space: pre-wrap;
           overflow-wrap: anywhere; max-width: 300px; }}
</style><header>值班长群（3）</header>{bubbles}"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "board")
    args = ap.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Robot)
    server.got = []  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    NotifyDingTalk.notify_url = (f"http://127.0.0.1:{server.server_address[1]}"
                                 "/robot/send?access_token={token}")
    _sign_dingtalk_once()
    step1 = default_rules().steps[0]
    warn_at, up_at = at(10, 0), at(10, 5, 5)
    warning = alert_doc("GEN", Transition(0, "warn", warn_at, 4, "day", WARNING_RUNG, {
        "at_ms": warn_at, "breach_ms": warn_at + 480_000, "breach_in_s": 480,
        "early_in_s": 300, "late_in_s": 720, "arrivals_per_min": 6.4,
        "capacity_per_min": 4.5, "agents": 18, "aht_s": 240.0}), SHANGHAI)
    up = alert_doc("GEN", Transition(1, "up", up_at, 7, "day", step1), SHANGHAI)
    now = {"now": {"waiting": 9, "longest_wait_s": 412.0}}
    link = "https://board.example.com/ack/WyJHRU46MTc2NzU3ODcwNTAwMCJd.aX9k2Q.Vb1x?lang=zh"
    received = []
    for alert in (warning, up):
        title, body = phone_message(alert, "zh", now=now if alert is up else None, link=link)
        sender = apprise.Apprise()
        sender.add("dingtalk://SECdingtalkrobotsecret0123456789@dt0123456789/")
        assert sender.notify(title=title, body=body, body_format=apprise.NotifyFormat.TEXT)
        got = server.got[-1]  # type: ignore[attr-defined]
        assert got["msgtype"] == "text"
        received.append((alert["event_time"][11:16], got["text"]["content"]))
    server.shutdown()
    page = Path(tempfile.mkdtemp(prefix="robot-shots-")) / "dingtalk.html"
    page.write_text(_page(received))
    args.out.mkdir(parents=True, exist_ok=True)
    shoot(page.as_uri(), args.out / "phone-dingtalk-zh.png", "390x700")


if __name__ == "__main__":
    main()
