"""The wallboard in headless Chromium (Debian's chromium + chromedriver) on a real Redis."""

from __future__ import annotations

import json
import time

import pytest
from selenium.webdriver.common.by import By

from callboard import services
from tests.integration.helpers import FakeWorker, attr_of, snapshot, start_board, text_of, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.browser]


def test_board_shows_redis_figures_then_flags_them_stale(stack, browser):
    now = int(time.time() * 1000)
    gen = snapshot("GEN", now, en="General", zh="综合业务", waiting=7, longest=95, sl=0.8123,
                   abandon=0.042, asa=14.4, sl_day=0.65, abandon_day=0.12, available=3,
                   on_call=9)
    centre = snapshot("ALL", now, en="Whole centre", zh="全中心", waiting=12, longest=95,
                      sl=0.7, abandon=None, asa=None, sl_day=0.7, abandon_day=0.1,
                      available=5, on_call=20)
    worker = FakeWorker(stack, [gen, centre])
    worker.start()
    try:
        _check_live_then_stale(stack, browser, worker)
    finally:
        worker.stop()


def _check_live_then_stale(stack, browser, worker):
    url, _ = start_board(stack)
    browser.get(f"{url}/board?lang=en")
    wait_until(lambda: text_of(browser, "GEN-waiting") == "7", 30, "GEN tile to render")
    assert text_of(browser, "GEN-longest") == "1:35"  # 95 s
    assert text_of(browser, "GEN-sl") == "81%"
    assert text_of(browser, "GEN-abandon") == "4%"
    assert text_of(browser, "GEN-asa") == "0:14"
    assert text_of(browser, "GEN-sl_day") == "65%"
    assert text_of(browser, "GEN-available") == "3"
    assert text_of(browser, "GEN-on_call") == "9"
    assert text_of(browser, "ALL-waiting") == "12"
    assert text_of(browser, "ALL-abandon") == "–"  # undefined, never a made-up 0%
    # Colours against the targets: 7 waiting > 5 is amber; 95 s > 60 s is red; 81% >= 80% green.
    assert "amber" in attr_of(browser, "GEN-waiting", "class")
    assert "red" in attr_of(browser, "GEN-longest", "class")
    assert "green" in attr_of(browser, "GEN-sl", "class")
    assert attr_of(browser, "tile-GEN", "data-stale") == "0"
    assert "hidden" in attr_of(browser, "banner", "class")
    assert "rejected events: 3" in text_of(browser, "footer")
    assert "data 0 s old" in text_of(browser, "GEN-age") or "data 1 s old" in text_of(
        browser, "GEN-age")

    worker.stop()  # the worker dies: snapshots stop changing
    wait_until(lambda: "DATA STALE" in text_of(browser, "banner"), 30, "the stale banner")
    assert "stale" in attr_of(browser, "banner", "class")
    assert attr_of(browser, "tile-GEN", "data-stale") == "1"
    assert text_of(browser, "GEN-waiting") == "7"  # still shown, but marked stale

    browser.get(f"{url}/board")  # Chinese is the default
    wait_until(lambda: "数据已停止更新" in text_of(browser, "banner"), 30, "the Chinese banner")
    assert "排队" in text_of(browser, "tile-GEN")


# Records the board's refresh answers as the page receives them (wall.js asks with
# window.fetch).
_RECORD_ANSWERS = """
window.__answers = [];
const original = window.fetch;
window.fetch = function(url, options) {
    return original.apply(this, arguments).then(function(reply) {
        if (String(url).indexOf('/board/frame') >= 0) {
            reply.clone().text().then(function(text) {
                window.__answers.push({status: reply.status, body: text});
            });
        }
        return reply;
    });
};
"""


def _answers(browser) -> list[dict]:
    """The refresh answers since recording began."""
    return [json.loads(a["body"]) if a["status"] == 200 and a["body"] else {}
            for a in browser.execute_script("return window.__answers;")]


def test_a_display_is_sent_only_what_changed(stack, browser):
    gen = snapshot("GEN", 0, waiting=7, longest=95, sl=0.8, abandon=0.04, asa=14.0,
                   sl_day=0.65, abandon_day=0.12, available=3, on_call=9)
    centre = snapshot("ALL", 0, waiting=12, longest=95, sl=0.7, abandon=0.05, asa=9.0,
                      sl_day=0.7, abandon_day=0.1, available=5, on_call=20)
    worker = FakeWorker(stack, [centre, gen])  # rewrites both every 0.5 s, figures unchanged
    worker.start()
    try:
        url, _ = start_board(stack)
        browser.get(f"{url}/board?lang=en")
        wait_until(lambda: text_of(browser, "GEN-waiting") == "7", 30, "the GEN tile")
        browser.execute_script(_RECORD_ANSWERS)
        wait_until(lambda: len(_answers(browser)) >= 4, 30, "four refreshes")
        # Nothing changed but the snapshots' write times: the answers carry the clock,
        # the frame's name and the ages; no tile, no figure, no banner, no title.
        quiet = _answers(browser)
        assert all(set(answer) <= {"now", "v", "build", "ages"} for answer in quiet), quiet
        assert any(set(answer.get("ages", {})) == {"ALL", "GEN"} for answer in quiet), quiet
        # ...and the browser turns them into each tile's age.
        assert text_of(browser, "GEN-age") in ("data 0 s old", "data 1 s old")

        browser.execute_script("window.__answers = [];")
        centre["now"]["waiting"] = 13  # one figure of one tile changes
        wait_until(lambda: text_of(browser, "ALL-waiting") == "13", 30, "the new figure")
        sent = [answer for answer in _answers(browser) if "slots" in answer or "html" in answer]
        assert len(sent) == 1, sent
        # Only the element that holds the centre's callers waiting: not its tile's
        # markup (the interval figures carry long tooltips), not the GEN tile.
        assert "html" not in sent[0]
        assert sent[0]["slots"] == {"ALL-waiting": {"t": "13", "c": "fig-value led red"}}
        assert text_of(browser, "GEN-waiting") == "7"
    finally:
        worker.stop()


def test_board_says_when_redis_cannot_be_read(stack, browser):
    dead_port = services.free_port()  # nothing listens here
    url, _ = start_board(stack, CALLBOARD_REDIS_URL=f"redis://127.0.0.1:{dead_port}/0")
    browser.get(f"{url}/board?lang=en")
    wait_until(lambda: "cannot read the data store" in text_of(browser, "banner"), 30,
               "the Redis banner")


def test_board_says_when_its_own_server_is_gone(stack, browser):
    worker = FakeWorker(stack, [snapshot("GEN", 0, waiting=1, longest=3, sl=0.9, abandon=0.0,
                                         asa=3.0, sl_day=0.9, abandon_day=0.0, available=1,
                                         on_call=1)])
    worker.start()
    try:
        url, proc = start_board(stack)
        browser.get(f"{url}/board?lang=en")
        wait_until(lambda: text_of(browser, "GEN-waiting") == "1", 30, "the tile")
        assert "hidden" in attr_of(browser, "conn-banner", "class")
        services.stop(proc)
        wait_until(lambda: "board lost its server" in text_of(browser, "conn-banner"), 30,
                   "the browser-side banner")
    finally:
        worker.stop()


def test_the_surge_ladder_shows_above_the_tiles_without_hiding_them(stack, browser):
    gen = snapshot("GEN", 0, waiting=8, longest=400, sl=0.5, abandon=0.1, asa=40.0,
                   sl_day=0.7, abandon_day=0.05, available=0, on_call=6)
    gen["now"]["escalation"] = {"group": "GEN", "step": 2, "mode": "day", "since_ms": 0,
                                "name_zh": "呼出台席签入", "name_en": "Outbound seats sign in",
                                "action_zh": "调整2-3个呼出台席加入呼入台席",
                                "action_en": "Move 2-3 outbound seats onto inbound"}
    gen["now"]["agents"]["logged_in"] = 6
    gen["now"]["seats_needed"] = {"agents": 9, "service_level": 0.81, "asa_s": 12.0,
                                  "calls_15min": 40, "aht_s": 200.0}
    worker = FakeWorker(stack, [gen])
    worker.start()
    try:
        url, _ = start_board(stack)
        browser.get(f"{url}/board?lang=en")
        wait_until(lambda: "step 2" in text_of(browser, "esc-GEN"), 30, "the ladder strip")
        assert text_of(browser, "esc-GEN") == (
            "GEN · step 2 · Outbound seats sign in — Move 2-3 outbound seats onto inbound")
        assert text_of(browser, "GEN-waiting") == "8"  # the numbers stay on screen
        assert text_of(browser, "GEN-seats") == "9/6"  # Erlang C: 9 needed, 6 signed in
        assert "red" in attr_of(browser, "GEN-seats", "class")
        strip = browser.find_element(By.ID, "esc-banner").rect
        tile = browser.find_element(By.ID, "tile-GEN").rect
        assert strip["y"] + strip["height"] <= tile["y"]  # above the tiles, not over them
    finally:
        worker.stop()


def test_every_board_process_serves_every_script_of_the_page(stack):
    # Dash registers the scripts a page may load while rendering a page, so the server
    # must serve them before any page was rendered (and did, over several gunicorn
    # processes, before waitress).
    import re
    from concurrent.futures import ThreadPoolExecutor

    import requests

    url, _ = start_board(stack, CALLBOARD_BOARD_WORKERS="4")
    for page in ("/board", "/supervisor/"):
        html = requests.get(f"{url}{page}", timeout=10).text
        scripts = re.findall(r'<script src="([^"]+)"', html)
        assert len(scripts) > 3, html[:500]
        # All at once, as a browser loads them, so that every process takes some.
        with ThreadPoolExecutor(16) as pool:
            codes = list(pool.map(lambda src: (src, requests.get(f"{url}{src}",
                                                                 timeout=30).status_code),
                                  scripts * 10))
        assert [c for c in codes if c[1] != 200] == []


def test_displays_report_in_and_come_back_by_themselves_after_a_new_release(stack, browser):
    import requests

    worker = FakeWorker(stack, [snapshot("GEN", 0, waiting=1, longest=3, sl=0.9, abandon=0.0,
                                         asa=3.0, sl_day=0.9, abandon_day=0.0, available=1,
                                         on_call=1)])
    worker.start()
    try:
        port = services.free_port()
        url, proc = start_board(stack, port, CALLBOARD_BOARD_BUILD="r1")
        browser.set_window_size(1280, 720)
        browser.get(f"{url}/board?lang=en")
        wait_until(lambda: text_of(browser, "GEN-waiting") == "1", 30, "the tile")
        display = browser.execute_script("return window.callboardDisplay;")
        assert browser.execute_script("return window.callboardWalls.build;") == "r1"

        # IT's list: this display, its wall, its screen, seen within seconds.
        def listed() -> str | None:
            page = requests.get(f"{url}/displays", timeout=10).text
            return page if f'id="display-{display}"' in page else None

        page = wait_until(listed, 30, "the display on /displays")
        assert f'<tr id="display-{display}" class="alive">' in page
        row = page.split(f'id="display-{display}"')[1].split("</tr>")[0]
        inner = browser.execute_script("return [window.innerWidth, window.innerHeight];")
        assert f"{inner[0]}×{inner[1]}" in row and "<td>board</td>" in row and "<td>en</td>" in row

        # A new release on the same address: the server goes, the page says so, keeps
        # asking, and reloads itself onto the new build when it answers.
        services.stop(proc)
        wait_until(lambda: "board lost its server" in text_of(browser, "conn-banner"), 30,
                   "the browser-side banner")
        worker.docs[0]["now"]["waiting"] = 4
        start_board(stack, port, CALLBOARD_BOARD_BUILD="r2")
        wait_until(lambda: browser.execute_script(
            "return window.callboardWalls && window.callboardWalls.build;") == "r2", 30,
            "the page reloaded onto the new build")
        wait_until(lambda: text_of(browser, "GEN-waiting") == "4", 30, "the new figures")
        assert "hidden" in attr_of(browser, "conn-banner", "class")
        # The same display (its id is kept by the browser), not a second one.
        assert browser.execute_script("return window.callboardDisplay;") == display
    finally:
        worker.stop()


def test_slow_clients_hold_sockets_not_the_board(stack):
    """300 connections that send half their headers and then nothing (a slow-loris
    attack, or a flaky network): the walls are still answered. gunicorn handed each of
    them one of its 16 threads and answered nobody."""
    import socket

    import requests

    worker = FakeWorker(stack, [snapshot("GEN", 0, waiting=3, longest=9, sl=0.9, abandon=0.0,
                                         asa=3.0, sl_day=0.9, abandon_day=0.0, available=1,
                                         on_call=1)])
    worker.start()
    url, _ = start_board(stack)
    port = int(url.rsplit(":", 1)[1])
    slow = []
    try:
        for _ in range(300):
            conn = socket.create_connection(("127.0.0.1", port), timeout=5)
            conn.sendall(b"GET /board/frame?lang=en HTTP/1.1\r\nHost: board\r\nX-Slow: ")
            slow.append(conn)
        for _ in range(5):  # a display asking, as every second
            answer = requests.get(f"{url}/board/frame?lang=en", timeout=5)
            assert answer.status_code == 200 and "GEN" in answer.json().get("order", ["GEN"])
        with requests.get(f"{url}/board", timeout=5) as page:
            assert page.status_code == 200
    finally:
        for conn in slow:
            conn.close()
        worker.stop()


def test_a_rate_on_three_calls_is_no_breach_on_the_wall(stack, browser):
    """Issue #32: ten minutes into a half hour, 3 answered calls, one late: service level
    67% against 80%. The wall shows the rate grey with its count, no OVER word or shape;
    the same 67% on 25 calls is the red OVER it should be."""
    now = int(time.time() * 1000)
    few = snapshot("GEN", now, en="General", waiting=0, longest=0, sl=2 / 3, abandon=0.0,
                   asa=8.0, sl_day=2 / 3, abandon_day=0.0, available=4, on_call=1)
    many = snapshot("BIZ", now, en="Business", waiting=0, longest=0, sl=2 / 3, abandon=0.0,
                    asa=8.0, sl_day=2 / 3, abandon_day=0.0, available=4, on_call=1)
    for doc, calls in ((few, 3), (many, 25)):
        for window in doc["windows"].values():
            window["offered"] = calls
    worker = FakeWorker(stack, [few, many])
    worker.start()
    try:
        url, _ = start_board(stack)
        browser.get(f"{url}/board?lang=en")
        wait_until(lambda: text_of(browser, "GEN-sl") == "67%", 30, "GEN's rate")
        assert "grey" in attr_of(browser, "GEN-sl", "class")
        assert text_of(browser, "GEN-sl-calls") == "· 3 calls"  # beside its caption
        assert attr_of(browser, "tile-GEN", "data-severity") == "0"
        assert "OVER" not in text_of(browser, "tile-GEN")
        wait_until(lambda: "red" in attr_of(browser, "BIZ-sl", "class"), 30, "BIZ's rate")
        assert text_of(browser, "BIZ-sl") == "67%" and text_of(browser, "BIZ-sl-calls") == ""
        assert attr_of(browser, "tile-BIZ", "data-severity") == "2"
        assert "OVER" in text_of(browser, "tile-BIZ")
    finally:
        worker.stop()


def test_a_wall_says_aloud_when_over_one_percent_of_events_are_rejected(stack, browser):
    """Issue #32 item 2: a quarter of a centre's events rejected was a 10-pixel footnote.
    Past 1% of the last 15 minutes' events, every wall's banner says how many and why."""
    now = int(time.time() * 1000)
    gen = snapshot("GEN", now, en="General", waiting=1, longest=3, sl=0.9, abandon=0.0,
                   asa=3.0, sl_day=0.9, abandon_day=0.0, available=2, on_call=1)
    worker = FakeWorker(stack, [gen])
    worker.stats = {"events_in": 10_000, "dead_letters": 0}
    worker.start()
    try:
        url, _ = start_board(stack)
        browser.get(f"{url}/board?lang=en")
        wait_until(lambda: text_of(browser, "GEN-waiting") == "1", 30, "the tile")
        assert "hidden" in attr_of(browser, "banner", "class")
        # 400 more events, 100 of them set aside for a queue name the schema refused.
        worker.stats = {"events_in": 10_400, "dead_letters": 100, "dead_letter.bad_field": 100}
        wait_until(lambda: "REJECTED EVENTS" in text_of(browser, "banner"), 30, "the banner")
        assert text_of(browser, "banner") == (
            "REJECTED EVENTS: 100 of 400 in the last 15 min (25%), mostly bad_field")
        assert "rejected" in attr_of(browser, "banner", "class")
        browser.get(f"{url}/board/agents")  # every wall, in its own language
        wait_until(lambda: "近15分钟拒收事件 100 / 400" in text_of(browser, "banner"), 30,
                   "the agent wall's banner")
        # The supervisor page and /displays list the reasons (the running totals).
        browser.get(f"{url}/supervisor/?lang=en")
        wait_until(lambda: text_of(browser, "sup-rejected") == (
            "rejected events: 100 — bad_field 100"), 30, "the supervisor's line")
        import requests

        page = requests.get(f"{url}/displays", timeout=10).text
        assert "rejected events: 100 — bad_field 100" in page
    finally:
        worker.stop()


def test_queues_named_in_chinese_are_counted_and_walled_like_any_other(stack, browser):
    """Issue #31 §3: a centre whose ACD names queues 家庭业务 and 投诉处理专席 lost both.
    Their events counted by the real pipeline and written by the worker's own writer:
    each has its tile at 1920x1080 beside GEN, with its figures."""
    import asyncio

    from base.assemble import pipeline_rules
    from base.config import load_settings
    from base.keys import safe_name
    from core.pipeline import Pipeline
    from streams.writer import SnapshotWriter
    from tests.unit.factories import at, event

    waiting = {"家庭业务": 3, "投诉处理专席": 7, "GEN": 1}
    events = [event("call.offered", at(10, 0, i), queue, call_id=f"{queue}-{i}")
              for queue, n in waiting.items() for i in range(n)]
    settings = load_settings(None, redis_url=stack.env["CALLBOARD_REDIS_URL"],
                             redis_prefix=stack.prefix, clock="event")
    pipeline = Pipeline(pipeline_rules(settings, offline=True))
    result = pipeline.feed_events(events)
    assert result.counted == len(events)

    async def write() -> None:
        writer = SnapshotWriter(settings, lambda: {0: pipeline})
        assert await writer.write(pipeline.queues(), {}, result.minutes)
        await writer.close()

    asyncio.run(write())
    url, _ = start_board(stack)
    browser.set_window_size(1920, 1080)
    browser.get(f"{url}/board?lang=en")
    for queue, n in waiting.items():
        wait_until(lambda q=queue, n=n: text_of(browser, f"{safe_name(q)}-waiting") == str(n),
                   30, f"{queue}'s tile")
    tile = browser.find_element(By.ID, f"tile-{safe_name('投诉处理专席')}")
    assert "投诉处理专席" in tile.text and tile.is_displayed()
    # More than 5 waiting: amber, like any queue's.
    assert "amber" in attr_of(browser, f"{safe_name('投诉处理专席')}-waiting", "class")

