"""Tickets through the real worker, Redis and board (issue #21): a level-1 complaint
is due soon on the wall at 1.5 hours (75% of its 2-hour limit, manual line 503) and
overdue past 2 hours, in red with its word."""

from __future__ import annotations

import json

import pytest

from tests.integration.helpers import Stack, attr_of, start_board, text_of, wait_until
from tests.unit.factories import at, call, event

pytestmark = pytest.mark.integration


def _publish(stack: Stack, name: str, events: list[dict]) -> None:
    path = stack.logs / f"{stack.app_id}-{name}.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    stack.cli("publish", str(path))


def test_a_level_1_complaint_shows_due_soon_then_overdue_on_the_wall(stack, browser):
    stack.start("worker", name="worker")
    # The queue's time is its newest event (event clock): calls move it on.
    _publish(stack, "open", [
        *call("a", at(10, 0), answer_after_s=5),
        event("ticket.opened", at(10, 1), ticket_id="T-1", kind="complaint", level=1,
              owner="A1", call_id="a"),
        *call("b", at(11, 31), answer_after_s=5),  # 90 minutes on: 75% of 2 hours
    ])
    url, board = start_board(stack)
    try:
        browser.get(url + "/board?lang=en")
        wait_until(lambda: text_of(browser, "GEN-tickets_soon") == "1", 90,
                   "the complaint due soon")
        assert "amber" in attr_of(browser, "GEN-tickets_soon", "class").split()
        assert text_of(browser, "GEN-tickets_over") == "0"
        due = at(10, 1) + 2 * 3_600_000
        minutes = round((due - stack.snapshot("GEN")["as_of_ms"]) / 60_000)
        assert 0 < minutes <= 30
        wait_until(lambda: text_of(browser, "GEN-tickets_next") == f"next L1 in {minutes} min",
                   10, "the countdown")
        _publish(stack, "late", [*call("c", at(12, 2), answer_after_s=5)])
        wait_until(lambda: text_of(browser, "GEN-tickets_over") == "1", 60,
                   "the complaint overdue")
        assert "red" in attr_of(browser, "GEN-tickets_over", "class").split()
        assert "TICKET OVERDUE" in text_of(browser, "GEN-badges")
        late = round((stack.snapshot("GEN")["as_of_ms"] - due) / 60_000)
        wait_until(lambda: text_of(browser, "GEN-tickets_next") == f"L1 {late} min late", 10,
                   "the minutes late")
        # The supervisor page lists it with its level and owner, and the month's figures.
        browser.get(f"{url}/supervisor/?lang=en")

        def rows(key: str) -> list[list[str]]:
            browser.execute_script(
                "const b = document.querySelector('#sup-row-GEN button.pick'); if (b) b.click();")
            return browser.execute_script(
                f"return Array.from(document.querySelectorAll('#{key} tbody tr'))"
                ".map(tr => Array.from(tr.querySelectorAll('td')).map(td => td.innerText.trim()));")

        listed = wait_until(lambda: rows("drill-tickets"), 30, "the tickets on the drill-down")
        assert listed == [["T-1", "L1", "A1", "01-05 12:01", "▲ overdue"]]
        month = {r[0]: r[1:] for r in rows("drill-tickets-month")}
        # One level-1 complaint this month, not resolved: 0% in time against 100%.
        assert month["Level 1 complaints resolved in time"] == ["0%", "≥ 100%"]
        assert month["Repeat complaint rate"] == ["0%", "≤ 1%"]
        browser.get(url + "/board?lang=en")
        _publish(stack, "done", [event("ticket.resolved", at(12, 3), ticket_id="T-1"),
                                 *call("d", at(12, 4), answer_after_s=5)])
        wait_until(lambda: text_of(browser, "GEN-tickets_over") == "0", 60,
                   "the complaint resolved")
        assert "TICKET OVERDUE" not in text_of(browser, "GEN-badges")
    finally:
        board.terminate()
