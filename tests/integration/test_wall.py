"""The wall in a real room: every queue on any screen, readable, never hiding a breach.

Real Redis, the real board, headless Chromium at the five screens call rooms use, walls
of 1, 5, 16 and 40 queues (some with 8-character Chinese names and 24-character Latin
ones, and the widest figures: 999 waiting, 59:59, 100%)."""

from __future__ import annotations

import time

import pytest

from tests.integration.helpers import FakeWorker, snapshot, start_board, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.browser]

VIEWPORTS = [(1280, 720), (1920, 1080), (3840, 2160), (1080, 1920), (3840, 1080)]
FLOOR = 1 / 18  # the default board_digit_floor
ZH = ["普通话服务热线专席", "英语服务热线", "企业客户专线服务", "贵宾客户专席"]


def queue_name(i: int) -> str:
    return f"Q{i:02d}"


def config_text(queues: int) -> str:
    # Limits far from every agent's time in state (see with_agents), so none crosses one
    # while the test looks: the wall's pages stay the same from one look to the next.
    lines = ["agent_state_limits_s = {acw = 1000.0, not_ready = 2500.0}\n"]
    for i in range(queues):
        zh = ZH[i % len(ZH)][:8]  # up to 8 Chinese characters
        en = "International roaming de"[: 24 if i % 3 == 0 else 9]  # up to 24 Latin
        lines.append(f'[[queues]]\nname = "{queue_name(i)}"\nlabel_zh = "{zh}"\nlabel_en = "{en}"\n')
    for count in (1, 5, 16):
        names = ", ".join(f'"{queue_name(i)}"' for i in range(count))
        lines.append(f'[[walls]]\nname = "w{count}"\nqueues = [{names}]\ncentre = false\n')
    lines.append('[[walls]]\nname = "compact"\nfigures = "compact"\nlang = "en"\n')
    lines.append('[[walls]]\nname = "agents"\nkind = "agents"\n')
    return "".join(lines)


STATES = ("available", "on_call", "acw", "not_ready")


def with_agents(doc: dict, queue: int, per_queue: int, now_ms: int) -> dict:
    """300 agents over 40 queues (7 or 8 each), in every state; some too long in it."""
    day = {"answered": 3, "handled": 3, "avg_talk_s": 100.0, "avg_acw_s": 20.0,
           "aht_s": 120.0, "calls_per_agent_hour": 5.0, "occupancy": 0.8, "signed_in_h": 2.0,
           "not_ready_h": 0.1}
    doc["agents_day"] = {
        f"A{queue:02d}{n:02d}": {**day, "state": STATES[(queue + n) % 4],
                                 # Up to 58:20 in a state; some past the limits (config_text).
                                 "since_ms": now_ms - (5, 600, 2000, 3500)[(queue + 2 * n) % 4]
                                 * 1000}
        for n in range(per_queue)}
    return doc


def docs(queues: int, red: set[int]) -> list[dict]:
    out = []
    for i in range(queues):
        if i in red:  # the widest figures, all over target
            figs = dict(waiting=999, longest=3599, sl=0.1, abandon=1.0, asa=3599.0)
        elif i % 4 == 1:  # near target: amber
            figs = dict(waiting=7, longest=45, sl=0.75, abandon=0.055, asa=22.0)
        else:
            figs = dict(waiting=2, longest=8, sl=1.0, abandon=0.0, asa=5.0)
        out.append(snapshot(queue_name(i), 0, zh=ZH[i % len(ZH)][:8],
                            en="International roaming de"[: 24 if i % 3 == 0 else 9],
                            available=3, on_call=12, sl_day=1.0, abandon_day=0.0, **figs))
    return out


# One look at the page as laid out now: the tiles shown, and every rule the wall keeps.
_INSPECT = """
const vw = window.innerWidth, vh = window.innerHeight;
const tiles = Array.from(document.querySelectorAll('#tiles > .tile[data-queue]'));
const shown = tiles.filter(t => getComputedStyle(t).display !== 'none');
const problems = [];
for (const t of shown) {
  const r = t.getBoundingClientRect();
  if (r.left < -0.5 || r.top < -0.5 || r.right > vw + 0.5 || r.bottom > vh + 0.5) {
    problems.push(t.dataset.queue + ' outside the viewport ' + JSON.stringify(r));
  }
  if (t.scrollHeight > t.clientHeight + 1) {
    problems.push(t.dataset.queue + ' content taller than its tile');
  }
  const texts = '.fig-value, .fig-label, .tile-name, .tile-head, .day-line, .agents, .tile-foot';
  for (const el of t.querySelectorAll(texts)) {
    if (el.scrollWidth > el.clientWidth + 1) {
      problems.push(t.dataset.queue + ' ' + el.className + ' overflows: ' + el.textContent);
    }
  }
}
const digits = shown.map(
  t => parseFloat(getComputedStyle(t.querySelector('.figure.big .fig-value')).fontSize));
const strip = document.getElementById('calm-strip');
const stripped = strip && strip.style.display !== 'none'
  ? Array.from(strip.children).map(i => i.dataset.queue) : [];
if (strip && stripped.length && strip.scrollHeight > strip.clientHeight + 1) {
  problems.push('the calm strip cuts queues off');
}
return {shown: shown.map(t => t.dataset.queue), stripped: stripped,
        hot: tiles.filter(t => t.dataset.severity !== '0').map(t => t.dataset.queue),
        pages: parseInt(document.getElementById('tiles').dataset.pages || '1'),
        smallest: Math.min(...digits), problems: problems};
"""


def _look(browser, width: int, height: int, page: int | None = None) -> dict:
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                            {"width": width, "height": height, "deviceScaleFactor": 1,
                             "mobile": False})
    browser.execute_script(f"window.callboardPage = {'undefined' if page is None else page};"
                           "window.callboardLayout && window.callboardLayout();")
    return browser.execute_script(_INSPECT)


def _settled(browser, width: int, height: int, page: int | None = None) -> dict:
    # The layout follows the tiles Dash renders: look until two looks agree.
    last: dict = {}

    def same() -> dict | None:
        nonlocal last
        now = _look(browser, width, height, page)
        done = now["shown"] and now == last
        last = now
        return now if done else None

    return wait_until(same, 20, f"the wall laid out at {width}x{height}")


def _every_page(browser, width: int, height: int) -> tuple[list[dict], set[str]]:
    first = _settled(browser, width, height, 0)
    looks = [first] + [_settled(browser, width, height, p) for p in range(1, first["pages"])]
    return looks, {q for look in looks for q in look["shown"] + look["stripped"]}


@pytest.mark.parametrize("wall,queues", [("/board/w1", 1), ("/board/w5", 5),
                                         ("/board/w16", 16), ("/board", 41),
                                         ("/board/compact", 41), ("/board/agents", 300)])
def test_every_queue_fits_any_screen_readable_and_no_breach_is_off_the_screen(
        stack, browser, tmp_path, wall, queues):
    config = tmp_path / "callboard.toml"
    config.write_text(config_text(40))
    red = {0, 3, 38}  # the first queue, and one that would sit on a last page
    now = int(time.time() * 1000)
    queue_docs = [with_agents(d, i, 8 if i < 20 else 7, now) for i, d in enumerate(docs(40, red))]
    worker = FakeWorker(stack, queue_docs + [snapshot("ALL", 0, available=9, on_call=99,
                                                      waiting=2, longest=8, sl=0.9, abandon=0.0,
                                                      asa=5.0, sl_day=0.9, abandon_day=0.0)])
    worker.start()
    # A busy machine may delay the stand-in worker's writes: a stale banner appearing
    # mid-rotation would move the tiles. Staleness has tests of its own.
    url, board = start_board(stack, CALLBOARD_CONFIG=str(config), CALLBOARD_STALE_AFTER_S="60")
    try:
        browser.get(url + wall)
        wait_until(lambda: browser.find_elements("css selector", "#tiles > .tile[data-queue]"),
                   30, "the tiles")
        for width, height in VIEWPORTS:
            looks, seen = _every_page(browser, width, height)
            floor = FLOOR * min(width, height)
            for look in looks:
                assert look["problems"] == [], (width, height, look["problems"][:5])
                assert look["smallest"] >= floor - 0.5, (width, height, look["smallest"], floor)
                hot, shown = set(look["hot"]), set(look["shown"])
                if not hot <= shown:
                    # More amber and red queues than a page holds: they page among
                    # themselves, and every calm queue is in the strip of names.
                    assert shown <= hot and look["stripped"], (width, height, look)
            hot = set(looks[0]["hot"])
            # Every amber and red queue is on the screen: on every page, or on one
            # page of a rotation of breaches only.
            assert hot <= {q for look in looks for q in look["shown"]}, (
                width, height, [(len(look["shown"]), len(look["stripped"]), look["pages"])
                                for look in looks], len(hot))
            assert len(seen) == queues, (width, height, len(seen), [  # one rotation, every queue
                (len(look["shown"]), len(look["stripped"]), look["pages"]) for look in looks])
    finally:
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
        worker.stop()
        board.terminate()


def test_a_queue_that_turns_red_on_a_later_page_is_on_the_screen_at_the_next_refresh(
        stack, browser, tmp_path):
    config = tmp_path / "callboard.toml"
    config.write_text(config_text(40))
    worker = FakeWorker(stack, docs(40, red=set()))
    worker.start()
    # A busy machine may delay the stand-in worker's writes: a stale banner appearing
    # mid-rotation would move the tiles. Staleness has tests of its own.
    url, board = start_board(stack, CALLBOARD_CONFIG=str(config), CALLBOARD_STALE_AFTER_S="60")
    try:
        browser.get(url + "/board/w16")
        wait_until(lambda: browser.find_elements("css selector", "#tiles > .tile[data-queue]"),
                   30, "the tiles")
        first = _settled(browser, 1280, 720, 0)
        assert first["pages"] > 1, "16 full tiles at 1280x720 must page for this test to mean anything"
        hidden = next(queue_name(i) for i in range(16) if queue_name(i) not in first["shown"])
        # The worker now writes that queue with 999 callers waiting for 59:59.
        at = int(hidden[1:])
        worker.docs[at] = docs(40, red={at})[at]

        def on_screen() -> bool:
            look = _look(browser, 1280, 720, 0)
            return hidden in look["shown"] and hidden in look["hot"]

        wait_until(on_screen, 5, f"{hidden}, now red, on the page shown")
    finally:
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
        worker.stop()
        board.terminate()
