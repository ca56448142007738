"""The supervisor page in headless Chromium, on what the real publish code writes to Redis."""

from __future__ import annotations

import asyncio

import pytest
from selenium.webdriver.common.by import By

from base.assemble import pipeline_rules
from base.config import load_settings
from core.pipeline import Pipeline
from streams.writer import SnapshotWriter
from tests.integration.helpers import attr_of, start_board, text_of, wait_until
from tests.unit.factories import at, call, event

pytestmark = [pytest.mark.integration, pytest.mark.browser]


def publish(stack, events) -> None:
    """Count events with the real pipeline and write them with the worker's writer."""
    settings = load_settings(None, redis_url=stack.env["CALLBOARD_REDIS_URL"],
                             redis_prefix=stack.prefix, clock="event")
    pipeline = Pipeline(pipeline_rules(settings, offline=True))
    result = pipeline.feed_events(events)

    async def write() -> None:
        writer = SnapshotWriter(settings, lambda: {0: pipeline})
        assert await writer.write(pipeline.queues(), {}, result.minutes)
        await writer.close()

    asyncio.run(write())


def test_supervisor_page_shows_every_kpi_with_help_trends_and_agents(stack, browser):
    events = [
        event("agent.login", at(9, 50), agent_id="A1", state="available"),
        event("agent.state", at(10, 0, 10), agent_id="A1", state="on_call"),
        *call("a", at(10, 0), answer_after_s=10),
        *call("b", at(10, 1), answer_after_s=15),
        *call("c", at(10, 2), answer_after_s=40),   # later than T = 20 s
        *call("d", at(10, 3), abandon_after_s=30),
    ]
    publish(stack, events)
    url, _ = start_board(stack)
    browser.get(f"{url}/supervisor/?lang=en")
    wait_until(lambda: text_of(browser, "sup-GEN-service_level") == "50.0%", 30,
               "the GEN row of the KPI table")
    # Worked by hand: 4 offered, 2 answered within 20 s, 1 abandoned after 30 s.
    assert text_of(browser, "sup-GEN-abandon_rate") == "25.0%"
    assert text_of(browser, "sup-GEN-asa_s") == "0:22"  # (10 + 15 + 40) / 3 s
    assert text_of(browser, "sup-GEN-answer_timeout_rate") == "33.3%"  # only c; 15 s is not late
    assert text_of(browser, "sup-GEN-attempts") == "4"
    assert text_of(browser, "sup-ALL-service_level") == "50.0%"
    assert text_of(browser, "sup-GEN-formula") == "B20 answered in 20s / offered"
    # 50% is below 80% - 15%, but on 4 calls, fewer than min_calls (20): shown grey,
    # judged on nothing (issue #32).
    assert "grey" in attr_of(browser, "sup-GEN-service_level", "class")
    help_text = attr_of(browser, "sup-GEN-service_level", "title")
    assert "B20 Service level" in help_text and "manual line 744" in help_text
    assert "When off target, check: Above target" in help_text
    assert ">= 80.0%" in help_text

    # The SL trend holds today's half hours from Redis: 09:30 (no calls) and 10:00.
    def trend():
        return browser.execute_script(
            "const g = document.querySelector('#trend-sl .js-plotly-plot');"
            "return g && g.data ? [g.data[0].x, g.data[0].y] : null;")

    x, y = wait_until(trend, 30, "the SL trend chart")
    assert x == ["09:30", "10:00"] and y == [None, 50.0]
    agent_row = wait_until(lambda: text_of(browser, "agent-GEN-A1"), 30, "the agent row")
    assert agent_row.split()[:4] == ["GEN", "A1", "On", "call"]

    # Nothing writes any more: the page must stop presenting the figures as live.
    wait_until(lambda: "DATA STALE" in text_of(browser, "sup-banner"), 30, "the stale banner")


def test_a_click_on_a_queue_drills_into_its_callers_agents_and_abandoned_calls(stack, browser):
    from selenium.webdriver.common.by import By

    events = [
        event("agent.login", at(9, 50), agent_id="A1", state="available"),
        event("agent.state", at(10, 0, 10), agent_id="A1", state="on_call"),
        *call("a", at(10, 0), answer_after_s=10),
        *call("d", at(10, 1), abandon_after_s=30, caller="13800138004"),
        *call("w1", at(10, 2), caller="13900139001"),  # still waiting
        *call("w2", at(10, 3), caller="13900139002"),  # still waiting, behind w1
        event("call.offered", at(10, 4), "EN", call_id="e1"),  # the clock moves to 10:04
    ]
    publish(stack, events)
    url, _ = start_board(stack)
    browser.get(f"{url}/supervisor/?lang=en")
    wait_until(lambda: browser.find_elements(By.CSS_SELECTOR, "#sup-row-GEN button.pick"), 30,
               "the GEN row")
    assert browser.find_elements(By.ID, "drill-drill_waiting") == []  # the centre: no drill

    def rows(key: str) -> list[list[str]]:
        # In one go: the page renders the drill-down anew every refresh.
        return browser.execute_script(
            f"return Array.from(document.querySelectorAll('#drill-{key} tbody tr'))"
            ".map(tr => Array.from(tr.querySelectorAll('td')).map(td => td.innerText.trim()));")

    def click_gen() -> list[list[str]]:
        # The click in the page itself: the table may be rendered anew between finding
        # the button and clicking it while the page loads (a stale element).
        browser.execute_script(
            "const b = document.querySelector('#sup-row-GEN button.pick'); if (b) b.click();")
        return rows("drill_waiting")

    wait_until(click_gen, 30, "the drill-down after a click on GEN")
    # At 10:04 (the newest event): w1 has waited 2:00, w2 1:00; numbers masked.
    assert rows("drill_waiting") == [["1", "2:00", "••••9001"], ["2", "1:00", "••••9002"]]
    assert rows("drill_agents") == [["A1", "On call", "3:50"]]
    assert rows("drill_abandoned") == [["10:01:30", "0:30", "••••8004"]]
    assert "13900139001" not in browser.page_source  # never the whole number


def test_the_kpi_table_is_replaced_only_when_its_rows_change(stack, browser):
    """Issue #32 item 6: a table rendered anew every 2 s took a click on the row just
    replaced. The same rows are left in place, tick after tick; a new figure replaces
    them."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By

    events = [*call("a", at(10, 0), answer_after_s=10), *call("b", at(10, 1), answer_after_s=15)]
    publish(stack, events)
    url, _ = start_board(stack)
    browser.get(f"{url}/supervisor/?lang=en")
    wait_until(lambda: text_of(browser, "sup-GEN-attempts") == "2", 30, "the GEN row")
    cell = browser.find_element(By.ID, "sup-GEN-attempts")

    def same_node() -> bool:
        try:
            return cell.text == "2"
        except StaleElementReferenceException:
            return False

    # Three refreshes (the age line changes with each), the figures unchanged.
    ages = {text_of(browser, "sup-age")}
    wait_until(lambda: ages.add(text_of(browser, "sup-age")) or len(ages) >= 4, 30,
               "three more refreshes of the page")
    assert same_node()
    publish(stack, [*events, *call("c", at(10, 2), answer_after_s=5)])
    wait_until(lambda: text_of(browser, "sup-GEN-attempts") == "3", 30, "the new figure")
    assert not same_node()


@pytest.mark.parametrize("size", [(360, 640), (390, 844)])
def test_the_supervisor_page_fits_a_phone_without_sideways_scroll(stack, browser, size):
    """Issue #32 item 3: at 390x844 the page was 479 px wide, its title wrapping letter by
    letter, the KPI table and the charts cut. A floor manager paged with a warning reads
    it on the phone: nothing wider than the screen (the KPI table scrolls in its own
    box), the title on one line."""
    events = [
        event("agent.login", at(9, 50), agent_id="A1", state="available"),
        *call("a", at(10, 0), answer_after_s=10), *call("b", at(10, 1), answer_after_s=45),
    ]
    publish(stack, events)
    url, _ = start_board(stack)
    browser.set_window_size(*size)
    try:
        browser.get(f"{url}/supervisor/?lang=zh")
        wait_until(lambda: text_of(browser, "sup-GEN-attempts") == "2", 30, "the GEN row")
        widths = browser.execute_script(
            "return [document.documentElement.scrollWidth, window.innerWidth,"
            " document.getElementById('sup-title').getBoundingClientRect().height,"
            " parseFloat(getComputedStyle(document.getElementById('sup-title')).lineHeight)"
            " || 24];")
        assert widths[0] <= widths[1], widths  # no sideways scroll
        assert widths[2] <= 2 * widths[3], widths  # a line or two, not a letter a line
    finally:
        browser.set_window_size(1280, 900)


def test_on_a_phone_each_queue_is_a_card_and_a_link_opens_its_drill_down_on_top(stack,
                                                                                  browser):
    """Issue #32 item 3: phone-first at 360-430 px, a card per queue (each figure on a line
    under its caption), one language at a time, and the queue a warning's message or its
    ack page links to (?queue=) drilled into right under the header."""
    events = [
        event("agent.login", at(9, 50), agent_id="A1", state="available"),
        *call("a", at(10, 0), answer_after_s=10),
        *call("w1", at(10, 2), caller="13900139001"),  # still waiting
        event("call.offered", at(10, 4), "EN", call_id="e1"),
    ]
    publish(stack, events)
    url, _ = start_board(stack)
    browser.set_window_size(390, 844)
    try:
        browser.get(f"{url}/supervisor/?queue=GEN&lang=zh")
        wait_until(lambda: text_of(browser, "sup-GEN-waiting") == "1", 30, "the GEN card")
        wait_until(lambda: browser.execute_script(
            "return document.querySelectorAll('#drill-drill_waiting tbody tr').length") == 1,
                   30, "GEN's drill-down, opened by the link")
        layout = browser.execute_script("""
            const cell = document.getElementById('sup-GEN-waiting');
            const row = document.getElementById('sup-row-GEN');
            const drill = document.getElementById('sup-drill');
            return {
              label: getComputedStyle(cell, '::before').content,
              head: getComputedStyle(document.querySelector('.kpi-table thead')).display,
              rowWidth: row.getBoundingClientRect().width,
              drillTop: drill.getBoundingClientRect().top,
              tableTop: document.getElementById('sup-table').getBoundingClientRect().top,
              scroll: document.documentElement.scrollWidth, inner: window.innerWidth};""")
        assert layout["head"] == "none"  # no column heads: each cell says what it is
        assert layout["label"] == '"排队"', layout  # its caption, in Chinese only
        assert layout["rowWidth"] <= layout["inner"], layout  # a card, not a wide row
        assert layout["drillTop"] < layout["tableTop"], layout  # the drill-down on top
        assert layout["scroll"] <= layout["inner"], layout
        assert "Waiting" not in browser.find_element(By.ID, "sup-table").text
    finally:
        browser.set_window_size(1280, 900)
