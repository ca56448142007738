"""The surge ladder end to end: a replayed surge through the real broker, worker and
Redis; the notifier delivers to a webhook receiver and an SMTP server running in
this test; the console acknowledges. Step times are worked out from the log."""

from __future__ import annotations

import email
import email.policy
import hashlib
import hmac
import json
import re
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
from aiosmtpd.controller import Controller
from werkzeug.security import generate_password_hash

from callboard import services
from tests.integration.helpers import Stack, serving, wait_until
from tests.unit.factories import at, event

pytestmark = pytest.mark.integration

SECRET = "test-secret"
T0 = at(10, 0)


class Hooks(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _HookHandler)
        self.received: list[tuple[str, dict[str, str], bytes]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _HookHandler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.received.append((self.path, dict(self.headers), body))  # type: ignore[attr-defined]
        self.send_response(204)
        self.end_headers()

    def log_message(self, *_: object) -> None:
        pass


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], str]] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((list(envelope.rcpt_tos), envelope.content.decode("utf-8", "replace")))
        return "250 OK"


@pytest.fixture
def hooks() -> Iterator[Hooks]:
    with serving(Hooks()) as server:
        yield server


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    box = Mailbox()
    port = services.free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    yield box, port
    controller.stop()


def configure(stack: Stack, tmp_path: Path, hooks: Hooks, smtp_port: int,
              ack_timeout_min: float) -> None:
    users = tmp_path / "users.toml"
    users.write_text(f'[users]\nlin = "{generate_password_hash("floor-pass")}"\n')
    config = tmp_path / "centre.toml"
    config.write_text(f"""
[escalation]
webhook_secret = "{SECRET}"
smtp_url = "smtp://127.0.0.1:{smtp_port}"
ack_timeout_min = {ack_timeout_min}
max_alert_age_s = 0
users_file = "{users}"

[[escalation.recipients]]
name = "supervisor"
level = 0
webhook_url = "{hooks.url}/supervisor"
email = "supervisor@example.com"

[[escalation.recipients]]
name = "floor-lead"
level = 1
webhook_url = "{hooks.url}/lead"

[[escalation.recipients]]
name = "manager"
level = 2
email = "manager@example.com"
""")
    stack.env["CALLBOARD_CONFIG"] = str(config)


def surge(path: Path, until_s: int, clear_at_s: int | None, second_wave: bool = True) -> int:
    """Six callers waiting from 10:00:00, five more at 10:16:40 (> 10), all hanging
    up at ``clear_at_s``; an agent's state changes every minute keep event time moving."""
    events = [event("call.offered", T0, call_id=f"a{i}") for i in range(6)]
    if second_wave:
        events += [event("call.offered", T0 + 1000_000, call_id=f"b{i}") for i in range(5)]
    if clear_at_s is not None:
        for i, call_id in enumerate([*(f"a{i}" for i in range(6)), *(f"b{i}" for i in range(5))]):
            offered = T0 if call_id.startswith("a") else T0 + 1000_000
            events.append(event("call.abandoned", T0 + clear_at_s * 1000, call_id=call_id,
                                offered_ms=offered, wait_ms=T0 + clear_at_s * 1000 - offered))
    events += [event("agent.state", T0 + s * 1000, agent_id="X1",
                     state="not_ready" if s % 120 else "available")
               for s in range(60, until_s + 1, 60)]
    events.sort(key=lambda e: e["ts_ms"])
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    return len(events)


def test_a_surge_climbs_to_step_four_and_signs_out_in_reverse(stack, tmp_path, hooks, mailbox):
    box, smtp_port = mailbox
    configure(stack, tmp_path, hooks, smtp_port, ack_timeout_min=60)
    log = tmp_path / "surge.jsonl"
    count = surge(log, until_s=2400, clear_at_s=1100)
    stack.start("worker", name="worker")
    stack.start("notify", name="notify")
    stack.cli("publish", str(log))
    stack.wait_consumed(count)
    # Worked out from the log: > 5 waiting from 10:00:00 -> steps 1-3 every 5 minutes;
    # 11 waiting at 10:16:40 -> step 4 at once; all gone at 10:18:20 -> one step out
    # per 5 minutes at <= 5.
    expected = [("up", 1, "10:05:00"), ("up", 2, "10:10:00"), ("up", 3, "10:15:00"),
                ("up", 4, "10:16:40"), ("down", 3, "10:23:20"), ("down", 2, "10:28:20"),
                ("down", 1, "10:33:20"), ("down", 0, "10:38:20")]
    wait_until(lambda: len(hooks.received) >= len(expected) and len(box.messages) >= 8, 60,
               "eight webhook calls and eight e-mails")
    got = []
    for path, headers, body in hooks.received:
        assert path == "/supervisor"
        # HMAC-SHA256 of "<timestamp>.<body>" with the shared secret, computed here; the
        # timestamp is the sending time (the events are from January, sent now).
        stamp = headers["X-Callboard-Timestamp"]
        assert abs(int(stamp) - time.time()) < 300
        digest = hmac.new(SECRET.encode(), f"{stamp}.".encode() + body,
                          hashlib.sha256).hexdigest()
        assert headers["X-Callboard-Signature"] == f"sha256={digest}"
        alert = json.loads(body)
        assert alert["queue"] == "GEN" and alert["event_time"].startswith("2026-01-05T")
        got.append((alert["direction"], alert["step"], alert["event_time"][11:19]))
    assert sorted(got, key=lambda g: g[2]) == expected
    assert len(hooks.received) == len(expected)  # exactly these: nothing twice
    subjects = sorted(str(email.message_from_string(m, policy=email.policy.default)["Subject"])
                      for _, m in box.messages)
    assert all(rcpt == ["supervisor@example.com"] for rcpt, _ in box.messages)
    # Every mail dated and with an id of its own (some filters drop mail without them).
    parsed = [email.message_from_string(m, policy=email.policy.default) for _, m in box.messages]
    assert all(m["Date"] and m["Message-ID"] for m in parsed)
    assert len({m["Message-ID"] for m in parsed}) == len(parsed)
    assert "[callboard] GEN step up -> 4: 后台处理人员签入 / Back office signs in" in subjects
    # The same steps offline, from the same file.
    offline = json.loads(stack.cli("alerts", "--events", str(log)).stdout)
    # Offline also lists the breach warning that came first, which this configuration
    # sends to nobody: six waiting from 10:00:00 and nobody answering, so at the first
    # minute's end the queue cannot fall before it has waited 5 minutes (issue #28).
    assert [(r["direction"], r["step"], r["event_time"][11:19]) for r in offline] == [
        ("warn", 0, "10:01:00"), *expected]
    audit = stack.redis.xrange(stack.keys.alerts_audit)
    durations = {int(f["step"]): float(f["duration_s"]) for _, f in audit
                 if f["what"] == "step_ended"}
    # Each step active from its sign-in to its sign-out: 4: 10:16:40-10:23:20, 3:
    # 10:15:00-10:28:20, 2: 10:10:00-10:33:20, 1: 10:05:00-10:38:20.
    assert durations == {4: 400.0, 3: 800.0, 2: 1400.0, 1: 2000.0}


def test_an_unacknowledged_alert_climbs_and_acknowledging_stops_it(stack, tmp_path, hooks,
                                                                    mailbox):
    box, smtp_port = mailbox
    configure(stack, tmp_path, hooks, smtp_port, ack_timeout_min=0.1)  # 6 s
    log = tmp_path / "stuck.jsonl"
    count = surge(log, until_s=700, clear_at_s=None, second_wave=False)  # steps 1, 2; stuck
    port = services.free_port()
    stack.env["CALLBOARD_BOARD_PORT"] = str(port)
    board = stack.start("board", name="board")
    services.wait_for_port(port, board, 60, "board")
    stack.start("worker", name="worker")
    stack.start("notify", name="notify")
    stack.cli("publish", str(log))
    stack.wait_consumed(count)
    wait_until(lambda: any(p == "/lead" for p, _, _ in hooks.received), 60,
               "the floor lead to be told after 6 s without acknowledgement")
    lead = [json.loads(b) for p, _, b in hooks.received if p == "/lead"]
    assert [(a["step"], a["level"]) for a in lead] == [(2, 1)]

    console = f"http://127.0.0.1:{port}/console"
    assert requests.post(f"{console}/ack/GEN", timeout=5).status_code == 401
    assert requests.post(f"{console}/ack/GEN", auth=("lin", "wrong"), timeout=5).status_code == 401
    browser = requests.Session()  # keeps the session cookie the CSRF token is bound to
    browser.auth = ("lin", "floor-pass")
    page = browser.get(console, timeout=5)
    assert page.status_code == 200 and 'id="open-GEN"' in page.text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    # Another site's page posting with the user's credentials: refused, not acknowledged.
    forged = browser.post(f"{console}/ack/GEN", data={"csrf_token": token}, timeout=5,
                          headers={"Origin": "http://evil.example"}, allow_redirects=False)
    assert forged.status_code == 403
    assert requests.post(f"{console}/ack/GEN", auth=("lin", "floor-pass"), timeout=5,
                         allow_redirects=False).status_code == 403  # no token, no session
    assert not json.loads(stack.redis.hget(stack.keys.alerts_open, "GEN"))["acked_by"]
    acked = browser.post(f"{console}/ack/GEN", data={"csrf_token": token}, timeout=5,
                         headers={"Origin": f"http://127.0.0.1:{port}"}, allow_redirects=False)
    assert acked.status_code == 303
    acked_ms = json.loads(stack.redis.hget(stack.keys.alerts_open, "GEN"))["acked_ms"]
    # Let the notifier check twice the timeout after the acknowledgement.
    wait_until(lambda: int(stack.redis.hget(stack.keys.alerts_stats, "last_check_ms")
                           or 0) > acked_ms + 12_000, 40, "the notifier's escalation checks")
    assert not any("manager@example.com" in rcpt for rcpt, _ in box.messages)
    audit = [f for _, f in stack.redis.xrange(stack.keys.alerts_audit)]
    assert [f["user"] for f in audit if f["what"] == "acknowledged"] == ["lin"]
    assert [f["level"] for f in audit if f["what"] == "escalated"] == ["1"]
