"""One tap to acknowledge, from the phone: the real board, a real redis-server, the
page in headless Chromium at 360x640. A signed link acknowledges its own alert once;
a tampered, expired, replayed or other-alert link acknowledges nothing."""

from __future__ import annotations

import json

import pytest
import requests
from selenium.webdriver.common.by import By

from base.acklink import sign_link
from base.config import load_settings
from tests.integration.helpers import open_alert, start_board, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.browser]

SECRET = "a-long-random-deployment-key"


def board(stack, tmp_path, max_h: float = 24.0):
    config = tmp_path / "centre.toml"
    config.write_text(f'[escalation]\npublic_url = "http://board.example"\n'
                      f'ack_link_secret = "{SECRET}"\nack_link_max_h = {max_h}\n')
    url, _ = start_board(stack, CALLBOARD_CONFIG=str(config))
    return url, load_settings(config).escalation


def open_gen(stack, alert_id: str) -> None:
    """GEN's open alert (helpers.open_alert), as the notifier leaves it for ``alert_id``."""
    open_alert(stack)
    doc = the_alert(stack)
    doc["last_alert_id"] = alert_id
    stack.redis.hset(stack.keys.alerts_open, "GEN", json.dumps(doc))


def the_alert(stack) -> dict:
    return json.loads(stack.redis.hget(stack.keys.alerts_open, "GEN"))


def link_for(esc, stack, alert_id: str | None = None, recipient: str = "lin") -> str:
    current = the_alert(stack)
    return sign_link(esc, {"alert_id": alert_id or current["last_alert_id"], "queue": "GEN",
                           "recipient": recipient, "level": 0})


def no_sideways_scroll(browser) -> bool:
    return browser.execute_script(
        "return document.documentElement.scrollWidth <= window.innerWidth;")


def test_one_tap_on_a_phone_acknowledges_the_alert_once_with_the_recipients_name(
        stack, tmp_path, browser):
    open_gen(stack, "GEN:1:up:1")
    url, esc = board(stack, tmp_path)
    token = link_for(esc, stack)
    browser.set_window_size(360, 640)
    try:
        browser.get(f"{url}/ack/{token}?lang=zh")
        wait_until(lambda: browser.find_elements(By.ID, "ack"), 10, "the button")
        assert no_sideways_scroll(browser)
        assert "流动专家组签入" in browser.find_element(By.ID, "what").text
        assert "Floating" not in browser.page_source  # one language at a time
        # The queue in detail, one tap away (the supervisor page drills into it).
        assert browser.find_element(By.ID, "drill").get_attribute("href").endswith(
            "/supervisor/?queue=GEN&lang=zh")
        browser.find_element(By.ID, "ack").click()
        wait_until(lambda: browser.find_elements(By.ID, "done"), 10, "the acknowledgement")
        assert "lin 已于" in browser.find_element(By.ID, "done").text
        assert no_sideways_scroll(browser)
    finally:
        browser.set_window_size(1280, 900)
    assert the_alert(stack)["acked_by"] == "lin"
    audit = [f for _, f in stack.redis.xrange(stack.keys.alerts_audit)
             if f["what"] == "acknowledged"]
    assert [(f["user"], f["via"]) for f in audit] == [("lin", "link (level 0)")]

    # A second tap (or the link replayed) changes nothing and says who did it.
    session = requests.Session()
    page = session.get(f"{url}/ack/{token}?lang=en", timeout=10)
    assert 'id="ack"' not in page.text and "Acknowledged by lin at" in page.text
    assert len([1 for _, f in stack.redis.xrange(stack.keys.alerts_audit)
                if f["what"] == "acknowledged"]) == 1


def _post(url: str, token: str) -> requests.Response:
    """GET the page (its CSRF token and cookie), then tap, as a browser does."""
    session = requests.Session()
    page = session.get(f"{url}/ack/{token}?lang=en", timeout=10)
    csrf = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    return session.post(f"{url}/ack/{token}?lang=en", data={"csrf_token": csrf}, timeout=10)


def test_a_tampered_expired_or_other_alerts_link_acknowledges_nothing(stack, tmp_path):
    open_gen(stack, "GEN:2:up:2")
    url, esc = board(stack, tmp_path)

    good = link_for(esc, stack)
    tampered = good[:-3] + ("AAA" if good[-3:] != "AAA" else "BBB")
    page = requests.get(f"{url}/ack/{tampered}?lang=en", timeout=10)
    assert page.status_code == 403 and "not valid" in page.text
    assert requests.post(f"{url}/ack/{tampered}", timeout=10).status_code == 403
    # Signed with another deployment's key: not ours.
    other = sign_link(esc.model_copy(update={"ack_link_secret": "another-deployments-key"}),
                      {"alert_id": "GEN:2:up:2", "queue": "GEN", "recipient": "lin", "level": 0})
    assert requests.get(f"{url}/ack/{other}", timeout=10).status_code == 403

    # A link for the step before: the alert has moved on; nothing to tap.
    old = link_for(esc, stack, alert_id="GEN:1:up:1")
    page = requests.get(f"{url}/ack/{old}?lang=en", timeout=10)
    assert "moved on (now step" in page.text and 'id="ack"' not in page.text
    assert _post(url, good).status_code == 200  # the right one still works afterwards...
    assert the_alert(stack)["acked_by"] == "lin"
    # ...and a POST without the page's CSRF token is refused.
    assert requests.post(f"{url}/ack/{good}", data={}, timeout=10).status_code == 403


def test_a_link_past_its_lifetime_is_expired(stack, tmp_path):
    open_gen(stack, "GEN:1:up:1")
    url, esc = board(stack, tmp_path, max_h=0.0003)  # about a second
    token = link_for(esc, stack)

    def expired() -> bool:
        page = requests.get(f"{url}/ack/{token}?lang=en", timeout=10)
        return page.status_code == 403 and "expired" in page.text

    wait_until(expired, 20, "the link to expire")
    assert not the_alert(stack).get("acked_by")


def test_a_complaints_alert_is_acknowledged_by_its_link_and_shown_so_in_the_console(
        stack, tmp_path, browser):
    """Issue #32 item 4: ticket_due / ticket_overdue reached their recipients but neither
    the link nor the console knew them. The notifier now keeps each complaint's latest
    alert apart from the ladders' (it never climbs); its link acknowledges it, once, and
    the console shows who did."""
    from werkzeug.security import generate_password_hash

    from alerts.notify import Notifier
    from core.tickets import Ticket, ticket_alert
    from tests.unit.factories import SHANGHAI, at

    users = tmp_path / "users.toml"
    users.write_text(f'[users]\nlin = "{generate_password_hash("floor-pass")}"\n')
    config = tmp_path / "centre.toml"
    config.write_text(f'[escalation]\npublic_url = "http://board.example"\n'
                      f'ack_link_secret = "{SECRET}"\nusers_file = "{users}"\n')
    stack.env["CALLBOARD_CONFIG"] = str(config)
    settings = load_settings(config)
    settings = settings.model_copy(update={"redis_url": stack.env["CALLBOARD_REDIS_URL"],
                                           "redis_prefix": stack.prefix})
    ticket = Ticket("T-1001", "GEN", "complaint", level=2, opened_ms=at(9, 0),
                    reply_due_ms=at(10, 0), resolve_due_ms=at(13, 0), owner="wang")
    due = ticket_alert(ticket, "ticket_due", at(12, 0), SHANGHAI)
    Notifier(settings).handle(due)
    url, _ = start_board(stack, CALLBOARD_CONFIG=str(config))
    token = sign_link(settings.escalation, {"alert_id": due["alert_id"], "queue": "GEN",
                                            "recipient": "lin", "level": 0})
    browser.set_window_size(360, 640)
    try:
        browser.get(f"{url}/ack/{token}?lang=zh")
        wait_until(lambda: browser.find_elements(By.ID, "ack"), 10, "the button")
        assert "投诉单 T-1001 · 2 级 · 受理人 wang" in browser.find_element(By.ID, "what").text
        assert no_sideways_scroll(browser)
        browser.find_element(By.ID, "ack").click()
        wait_until(lambda: browser.find_elements(By.ID, "done"), 10, "the acknowledgement")
    finally:
        browser.set_window_size(1280, 900)
    stored = json.loads(stack.redis.hget(stack.keys.alerts_tickets, "T-1001"))
    assert stored["acked_by"] == "lin"
    assert stack.redis.hget(stack.keys.alerts_open, "GEN") is None  # not a ladder's alert
    console = requests.get(f"{url}/console?lang=en", auth=("lin", "floor-pass"), timeout=10)
    card = console.text.split('id="ticket-T-1001"')[1].split("</div>")[0]
    assert "Complaint T-1001 · level 2 · owner wang" in card and "✔ lin" in card
    audit = [f for _, f in stack.redis.xrange(stack.keys.alerts_audit)
             if f["what"] == "acknowledged"]
    assert [(f["user"], f["ticket"], f["via"]) for f in audit] == [
        ("lin", "T-1001", "link (level 0)")]

    # Overdue is news: unacknowledged again, and the console's button acknowledges it.
    Notifier(settings).handle(ticket_alert(ticket, "ticket_overdue", at(13, 0), SHANGHAI))
    session = requests.Session()
    session.auth = ("lin", "floor-pass")
    page = session.get(f"{url}/console?lang=en", timeout=10)
    csrf = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    done = session.post(f"{url}/console/ack-ticket/T-1001?lang=en", data={"csrf_token": csrf},
                        timeout=10)
    assert done.status_code == 200
    stored = json.loads(stack.redis.hget(stack.keys.alerts_tickets, "T-1001"))
    assert (stored["direction"], stored["acked_by"]) == ("ticket_overdue", "lin")
    # The due link, overtaken, now acknowledges nothing and says why.
    old = requests.get(f"{url}/ack/{token}?lang=en", timeout=10)
    assert "overtaken by its overdue alert" in old.text and 'id="ack"' not in old.text
