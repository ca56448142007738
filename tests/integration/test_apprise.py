"""Alerts on the phones floor managers carry: through Apprise to each service's robot,
received here by local HTTP(S) receivers standing in for DingTalk, WeCom, Feishu, Slack
and Teams (this machine has no internet), each body checked against the service's
documented format, DingTalk's signature recomputed. A real redis-server holds the
outbox; the acknowledgement link in each message opens the real board's page."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import ssl
import subprocess
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from apprise.plugins.dingtalk import NotifyDingTalk
from apprise.plugins.feishu import NotifyFeishu
from apprise.plugins.slack import NotifySlack
from apprise.plugins.wecombot import NotifyWeComBot

from alerts.notify import Notifier
from base.alertstore import Outbox
from base.config import load_settings
from callboard import services
from core.escalation import alert_doc
from core.ladder import Transition, default_rules
from tests.integration.helpers import Stack, serving, start_board, wait_until
from tests.unit.factories import SHANGHAI

pytestmark = pytest.mark.integration

DING_SECRET = "SECdingtalkrobotsecret0123456789"


class Robots(ThreadingHTTPServer):
    """Records every request: (path, query, headers, JSON body)."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Robot)
        self.got: list[tuple[str, dict[str, list[str]], dict[str, str], dict]] = []

    @property
    def base(self) -> str:
        return f"{'https' if isinstance(self.socket, ssl.SSLSocket) else 'http'}://127.0.0.1:{self.server_address[1]}"

    def at(self, prefix: str) -> list[tuple[str, dict[str, list[str]], dict[str, str], dict]]:
        return [g for g in list(self.got) if g[0].startswith(prefix)]


class _Robot(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        parts = urlsplit(self.path)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])) or b"{}")
        self.server.got.append((parts.path, parse_qs(parts.query), dict(self.headers), body))  # type: ignore[attr-defined]
        answer = b'{"errcode":0,"errmsg":"ok","code":0}'
        # Slack's incoming webhook answers "ok"; the others JSON with a zero code.
        if parts.path.startswith("/services/"):
            answer = b"ok"
        self.send_response(200 if not parts.path.startswith("/workflows") else 202)
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def robots() -> Iterator[Robots]:
    with serving(Robots()) as server:
        yield server


@pytest.fixture
def teams(tmp_path) -> Iterator[Robots]:
    # Teams' workflow URLs are https only: a self-signed certificate, and verify=no on
    # the recipient's URL, as for a company proxy with its own CA.
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
                    "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1"],
                   check=True, capture_output=True)
    server = Robots()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    with serving(server):
        yield server


def test_an_alert_reaches_every_robot_in_its_own_format_with_a_working_ack_link(
        stack: Stack, tmp_path, robots, teams, monkeypatch):
    # Each service's endpoint, moved from the internet to the receiver (the only fake:
    # Apprise builds and signs every body as it would for the real service).
    monkeypatch.setattr(NotifyDingTalk, "notify_url", robots.base + "/robot/send?access_token={token}")
    monkeypatch.setattr(NotifyWeComBot, "notify_url", robots.base + "/cgi-bin/webhook/send?key={key}")
    monkeypatch.setattr(NotifyFeishu, "notify_url", robots.base + "/open-apis/bot/v2/hook/{token}/")
    monkeypatch.setattr(NotifySlack, "webhook_url", robots.base + "/services")
    monkeypatch.setenv("DING_TOKEN", "dt0123456789")
    port = services.free_port()
    url = f"http://127.0.0.1:{port}"
    config = tmp_path / "centre.toml"
    config.write_text(f"""
[escalation]
max_alert_age_s = 0
public_url = "{url}"
ack_link_secret = "a-long-random-deployment-key"

[[escalation.recipients]]
name = "lin"
lang = "zh"
apprise = ["dingtalk://{DING_SECRET}@${{DING_TOKEN}}/", "wecombot://wk0123456789",
           "feishu://fs0123456789"]

[[escalation.recipients]]
name = "sam"
lang = "en"
apprise = ["slack://T1ABCDEFG/B1ABCDEFG/abcdefghijklmnopqrstuvwx",
           "workflows://127.0.0.1:{teams.server_address[1]}/wf0123456789/sig0123456789/?verify=no"]
""")
    settings = load_settings(config, redis_url=stack.env["CALLBOARD_REDIS_URL"],
                             redis_prefix=stack.prefix)
    start_board(stack, port, CALLBOARD_CONFIG=str(config), DING_TOKEN="dt0123456789")
    rules = default_rules()
    rung = rules.steps[0]
    t = Transition(at_ms=1_767_578_705_000, step=1, direction="up", rung=rung, waiting=7,
                   mode="day")
    alert = alert_doc("GEN", t, SHANGHAI)
    notifier = Notifier(settings)
    notifier.handle(alert)
    wait_until(lambda: notifier.deliver_due() or None, 30, "the deliveries")
    wait_until(lambda: len(robots.got) == 4 and len(teams.got) == 1 or None, 30, "five robots")

    (path, query, _, ding), = robots.at("/robot/send")
    assert query["access_token"] == ["dt0123456789"]
    # DingTalk's signed robot: sign = base64(HMAC-SHA256(secret, "<timestamp>\n<secret>")).
    timestamp = query["timestamp"][0]
    expected = base64.b64encode(hmac.new(DING_SECRET.encode(), f"{timestamp}\n{DING_SECRET}".encode(),
                                         hashlib.sha256).digest()).decode()
    assert query["sign"] == [expected]
    assert ding["msgtype"] == "text"
    zh_text = ding["text"]["content"]
    assert "GEN 升级至第 1 步" in zh_text and "排队 7 人" in zh_text and "一键确认" in zh_text

    (_, query, _, wecom), = robots.at("/cgi-bin/webhook/send")
    assert query["key"] == ["wk0123456789"]
    assert wecom["msgtype"] in ("text", "markdown")
    assert "GEN 升级至第 1 步" in wecom[wecom["msgtype"]]["content"]

    (path, _, _, feishu), = robots.at("/open-apis/bot/v2/hook/")
    assert path == "/open-apis/bot/v2/hook/fs0123456789/"
    assert feishu["msg_type"] == "text" and "GEN 升级至第 1 步" in feishu["content"]["text"]

    (path, _, _, slack), = robots.at("/services/")
    assert path == "/services/T1ABCDEFG/B1ABCDEFG/abcdefghijklmnopqrstuvwx"
    slack_text = json.dumps(slack, ensure_ascii=False)
    assert "GEN step up to step 1" in slack_text and "Acknowledge with one tap" in slack_text

    (path, query, _, card), = teams.at("/workflows/")
    assert path == "/workflows/wf0123456789/triggers/manual/paths/invoke"
    assert query["sig"] == ["sig0123456789"]
    assert card["type"] == "message"
    assert card["attachments"][0]["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert "GEN step up to step 1" in json.dumps(card)

    # Never twice: a second round sends nothing; the outbox is empty; each is audited.
    assert notifier.deliver_due() == 0 and Outbox(stack.redis, stack.keys).pending() == 0
    audit = [f for _, f in stack.redis.xrange(stack.keys.alerts_audit) if f["what"] == "notified"]
    assert sorted(f["channel"] for f in audit) == [
        "apprise:dingtalk:0", "apprise:feishu:2", "apprise:slack:0", "apprise:wecombot:1",
        "apprise:workflows:1"]
    assert not any("dt0123456789" in json.dumps(f) for _, f in stack.redis.xrange(stack.keys.alerts_audit))

    # The link in Lin's message opens the board's page for her, and acknowledges once.
    link = re.search(re.escape(url) + r"/ack/\S+", zh_text).group(0)
    assert link.endswith("?lang=zh")
    page = requests.get(link, timeout=10)
    assert page.status_code == 200 and 'id="ack"' in page.text
