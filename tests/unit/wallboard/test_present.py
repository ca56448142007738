"""How the board shows figures: text and colour against targets."""

import pytest

from base.config import Settings
from base.i18n import BOARD, lang_from_query
from wallboard.present import colour, duration_text, percent_text

SNAP = {"sl_threshold_s": 20, "targets": {"service_level": {"min": 0.8},
                                          "abandon_rate": {"max": 0.05}, "asa_s": {"max": 20}}}


@pytest.mark.parametrize(("seconds", "text"), [(None, "–"), (0, "0:00"), (59.6, "1:00"),
                                               (125, "2:05"), (3725, "1:02:05")])
def test_durations(seconds, text):
    assert duration_text(seconds) == text


def test_percent():
    assert percent_text(0.7951) == "80%"
    assert percent_text(None) == "–"


@pytest.mark.parametrize(
    ("kind", "value", "expected"),
    [
        ("waiting", 5, "green"), ("waiting", 6, "amber"), ("waiting", 10, "amber"),
        ("waiting", 11, "red"),  # the ladder: > 5 step 1, > 10 step 4
        # amber_margin 0.15: amber down to 0.80 * 0.85 = 0.68, up to 0.05 * 1.15 = 0.0575,
        # up to 20 s * 1.15 = 23 s
        ("sl", 0.80, "green"), ("sl", 0.68, "amber"), ("sl", 0.67, "red"),
        ("abandon", 0.05, "green"), ("abandon", 0.057, "amber"), ("abandon", 0.058, "red"),
        ("asa", 20, "green"), ("asa", 23, "amber"), ("asa", 23.1, "red"),
        ("longest", 20, "green"), ("longest", 21, "amber"), ("longest", 61, "red"),
        ("asa", None, "grey"),
    ],
)
def test_colours_against_targets(kind, value, expected):
    assert colour(kind, value, SNAP, Settings()) == expected


def test_labels_in_both_languages():
    assert BOARD("waiting", "zh") == "排队" and BOARD("waiting", "en") == "Waiting"
    assert lang_from_query("?lang=en") == "en"
    assert lang_from_query("?lang=fr") == "zh"
    assert lang_from_query(None) == "zh"


def test_figures_are_as_old_as_the_workers_last_contact_with_the_event_stream():
    from base.config import Settings
    from wallboard.present import data_ms, source_lost

    settings = Settings(stale_after_s=5)
    live = {"written_ms": 100_000, "source_ok_ms": 99_500}
    cut_off = {"written_ms": 100_000, "source_ok_ms": 90_000}  # broker gone for 10 s
    old_build = {"written_ms": 100_000}  # a snapshot from before source_ok_ms existed
    assert [data_ms(s) for s in (live, cut_off, old_build)] == [99_500, 90_000, 100_000]
    assert [source_lost(s, settings) for s in (live, cut_off, old_build)] == [
        False, True, False]


def test_the_ack_page_of_a_warning_says_when_step_1_is_forecast():
    import re

    from wallboard.pages import render_page

    alert = {"direction": "warn", "step": 0, "event_time": "2026-12-03T10:00:00+08:00",
             "rung": {"name_zh": "一级预警", "name_en": "Step 1 likely soon",
                      "action_zh": "准备", "action_en": "Get ready"},
             "forecast": {"breach_in_s": 470}}
    page = render_page("ack.html", lang="en", state="open", alert=alert, claim={"queue": "GEN"},
                       now=None, told=[], token="t", link="l", acked_at="").get_data(as_text=True)
    assert re.findall(r'<p class="step">(.*?)</p>', page) == [
        "Warning · 10:00: step 1 likely in ~8 min"]  # 470 s: 7.8 min, rounded


def test_the_console_lists_an_open_warning_as_a_warning():
    import re

    from wallboard.pages import render_page

    alert = {"queue": "GEN", "direction": "warn", "step": 0, "waiting": 4, "level": 0,
             "event_time": "2026-12-03T10:00:00+08:00", "acked_by": None,
             "rung": {"name_zh": "一级预警", "name_en": "Step 1 likely soon",
                      "action_zh": "准备", "action_en": "Get ready"},
             "forecast": {"breach_in_s": 300}}
    page = render_page("console.html", lang="zh", alerts=[alert], name="lin", token="t",
                       trail=[]).get_data(as_text=True)
    assert re.findall(r'<p class="step">(.*?)</p>', page) == [
        "GEN · 预警 · 10:00：约 5 分钟后可能触发第 1 步"]
