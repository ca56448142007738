"""The console and the replay page on a floor manager's phone: headless Chromium at
360x640, no sideways scrolling, one language at a time with a switch to the other."""

from __future__ import annotations

import json
import time

import pytest
from selenium.webdriver.common.by import By

from tests.integration.helpers import open_alert, start_board, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.browser]


def _fits(browser) -> bool:
    return browser.execute_script(
        "return document.documentElement.scrollWidth <= window.innerWidth;")


@pytest.mark.parametrize("page", ["/console", "/replay"])
def test_a_page_reads_on_a_360_pixel_phone_in_one_language_with_a_switch(stack, browser, page):
    open_alert(stack)
    # A long audit line and a long session: what used to push the tables sideways.
    stack.redis.xadd(stack.keys.alerts_audit, {
        "what": "notify_failed", "queue": "GEN", "channel": "apprise:dingtalk:0",
        "error": "ConnectionError(" + "x" * 240 + ")", "at_ms": str(int(time.time() * 1000))})
    now = int(time.time() * 1000)
    stack.redis.hset(stack.keys.replay_sessions, "incident-2026-01-05-morning", json.dumps({
        "name": "incident-2026-01-05-morning", "source": "archive", "status": "paused",
        "from_ms": now - 3_600_000, "to_ms": now, "at_ms": now - 1_800_000, "speed": "60",
        "started_ms": now, "updated_ms": now, "alerts": 3}))
    url, _ = start_board(stack)
    browser.set_window_size(360, 640)
    try:
        browser.get(url + page)
        wait_until(lambda: browser.find_elements(By.CSS_SELECTOR, ".card"), 10, "the page")
        assert browser.execute_script("return window.innerWidth;") <= 360
        assert _fits(browser), browser.execute_script(
            "return document.documentElement.scrollWidth;")
        text = browser.find_element(By.TAG_NAME, "body").text
        if page == "/console":
            assert "流动专家组签入" in text and "Floating experts" not in text
        else:
            assert "回放" in text and "Replay sessions" not in text
        browser.find_element(By.CSS_SELECTOR, "a.lang").click()  # English, the same page
        wait_until(lambda: "lang=en" in browser.current_url, 10, "the English page")
        text = browser.find_element(By.TAG_NAME, "body").text
        assert ("Floating experts sign in" in text) if page == "/console" else (
            "Replay sessions" in text)
        assert "流动专家组签入" not in text
        assert _fits(browser)
    finally:
        browser.set_window_size(1280, 900)
