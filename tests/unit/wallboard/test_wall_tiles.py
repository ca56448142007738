"""A wall's tiles, built in memory: which queues a wall shows in which order, and a breach
told by a shape and a word as well as a colour (about 1 man in 12 cannot tell red from
green)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from base.config import ConfigError, Settings, WallConfig, load_settings
from core.snapshot import CENTRE
from wallboard.present import tile_view
from wallboard.tiles import Tile, agent_tile, queue_tile
from wallboard.wall import on_wall


def snap(queue: str, waiting: int = 0, longest: float = 0.0, sl: float | None = 1.0,
         abandon: float | None = 0.0, step: int = 0) -> dict:
    window = {"service_level": sl, "abandon_rate": abandon, "asa_s": 5.0}
    return {
        "schema": 1, "queue": queue, "label_zh": queue, "label_en": queue, "vip": False,
        "sl_formula": "offered", "sl_threshold_s": 20, "sl_target": 0.8,
        "targets": {"service_level": {"min": 0.8, "max": None},
                    "abandon_rate": {"min": None, "max": 0.05}},
        "as_of_ms": 1_000, "as_of": "2026-01-05T10:15:00+08:00", "written_ms": 1_000,
        "now": {"waiting": waiting, "oldest_offered_ms": 0, "longest_wait_s": longest,
                "agents": {"available": 1, "on_call": 2, "acw": 0, "not_ready": 0,
                           "logged_in": 3, "planned": None, "attendance": None},
                "seats_needed": None,
                "escalation": {"group": queue, "step": step, "mode": "day", "since_ms": 0,
                               "name_zh": "", "name_en": "", "action_zh": "",
                               "action_en": ""} if step else None},
        "windows": {"interval": window, "day": window},
    }


def tree(tile: Tile) -> ET.Element:
    """The tile's markup as a browser would hold it (tiles.py writes well-formed XHTML)."""
    return ET.fromstring(tile.html)


def by_class(root: ET.Element, cls: str) -> list[ET.Element]:
    return [e for e in root.iter() if cls in (e.get("class") or "").split()]


def by_id(root: ET.Element, element_id: str) -> ET.Element:
    return next(e for e in root.iter() if e.get("id") == element_id)


def text(element: ET.Element) -> str:
    return "".join(element.itertext())


SETTINGS = Settings()  # waiting amber above 5, red above 10 (manual lines 140-143)


@pytest.mark.parametrize("lang,word", [("zh", "超标"), ("en", "OVER")])
def test_a_queue_over_target_says_so_in_words_and_shapes_not_only_in_red(lang, word):
    tile = tree(queue_tile(snap("GEN", waiting=12, longest=75), 1_000, SETTINGS, lang))
    assert "over" in tile.get("class").split()
    assert text(by_class(tile, "badge")[0]) == word
    waiting = by_id(tile, "GEN-waiting")
    assert "red" in waiting.get("class").split() and text(waiting) == "12"  # ▲: board.css


def test_a_queue_near_target_is_amber_with_its_own_shape_and_word():
    tile = tree(queue_tile(snap("GEN", waiting=7), 1_000, SETTINGS, "en"))
    assert "near" in tile.get("class").split() and text(by_class(tile, "badge")[0]) == "NEAR"
    waiting = by_id(tile, "GEN-waiting")
    assert "amber" in waiting.get("class").split() and text(waiting) == "7"


def test_a_calm_queue_has_no_cue_and_severity_0():
    tile = tree(queue_tile(snap("GEN", waiting=2, longest=8), 1_000, SETTINGS, "en"))
    assert tile.get("class") == "tile" and by_class(tile, "badge") == []
    assert tile.get("data-severity") == "0"


def test_worst_first_ranks_red_over_amber_and_a_ladder_step_within_the_same_colour():
    red = tile_view(snap("A", waiting=11), 1_000, SETTINGS)
    amber_step = tile_view(snap("B", waiting=6, step=2), 1_000, SETTINGS)
    amber = tile_view(snap("C", waiting=9), 1_000, SETTINGS)
    calm_step = tile_view(snap("D", waiting=1, step=1), 1_000, SETTINGS)
    warned = tile_view(_warned(snap("E", waiting=1), 480, 300, 720), 1_000, SETTINGS)
    assert [v["severity"] for v in (red, amber_step, amber, calm_step)] == [2, 1, 1, 0]
    assert (red["rank"] > amber_step["rank"] > amber["rank"] > calm_step["rank"]
            > warned["rank"] > 0)


def test_a_compact_tile_has_the_four_figures_of_a_big_room():
    tile = tree(queue_tile(snap("GEN"), 1_000, SETTINGS, "en", compact=True))
    ids = [f.get("id") for f in by_class(tile, "fig-value")]
    assert ids == ["GEN-waiting", "GEN-longest", "GEN-sl", "GEN-abandon"]


def test_a_wall_shows_its_queues_in_its_order_with_the_centre_first():
    snaps = [snap(CENTRE), snap("GEN"), snap("VIP"), snap("EN")]
    order = [s["queue"] for s in on_wall(snaps, WallConfig(name="w", queues=["VIP", "GEN"]))]
    assert order == [CENTRE, "VIP", "GEN"]
    no_centre = on_wall(snaps, WallConfig(name="w", queues=["EN"], centre=False))
    assert [s["queue"] for s in no_centre] == ["EN"]
    assert [s["queue"] for s in on_wall(snaps, WallConfig(name="board"))] == [
        CENTRE, "GEN", "VIP", "EN"]


def test_a_tiles_moving_parts_are_its_slots_and_its_shape_does_not_move_with_them():
    calm = queue_tile(snap("GEN", waiting=2, longest=8), 1_000, SETTINGS, "en")
    busy = queue_tile(snap("GEN", waiting=12, longest=75, sl=0.5), 1_000, SETTINGS, "en")
    # The same markup apart from its figures: a display holding it is sent the slots only.
    assert calm.shape == busy.shape
    assert calm.slots["GEN-waiting"] == {"t": "2", "c": "fig-value led green"}
    assert busy.slots["GEN-waiting"] == {"t": "12", "c": "fig-value led red"}
    assert busy.slots["GEN-sl"] == {"t": "50%", "c": "fig-value led red"}
    assert busy.slots["tile-GEN"] == {"c": "tile over", "d": {
        "stale": "0", "severity": "2", "step": "0", "rank": "200", "warn": "0"}}
    # What the slots say is what the markup says.
    assert text(by_id(tree(busy), "GEN-sl")) == "50%"
    # A tile in the other language, or a compact one, is other markup.
    assert queue_tile(snap("GEN"), 1_000, SETTINGS, "zh").shape != calm.shape
    assert queue_tile(snap("GEN"), 1_000, SETTINGS, "en", compact=True).shape != calm.shape


def test_a_name_with_markup_is_shown_as_text_never_run():
    doc = snap("GEN")
    doc["label_en"] = '<img src=x onerror="alert(1)">&'
    tile = tree(queue_tile(doc, 1_000, SETTINGS, "en"))
    assert text(by_class(tile, "tile-name")[0]) == '<img src=x onerror="alert(1)">&'
    assert [e.tag for e in tile.iter()].count("img") == 0
    assert tile.get("data-name") == '<img src=x onerror="alert(1)">&'


def test_an_agent_tile_counts_its_time_in_the_browser_and_says_its_state():
    view = {"key": "GEN.A7", "agent_id": "A7", "name": "Li Na", "queue": "GEN",
            "state": "acw", "since_ms": 500, "over": True}
    tile = agent_tile(view, "en")
    root = tree(tile)
    assert root.get("id") == "agent-GEN.A7" and root.get("data-queue") == "GEN.A7"
    assert "over" in root.get("class").split() and root.get("data-severity") == "2"
    assert [e.get("data-since") for e in root.iter() if e.get("data-since")] == ["GEN.A7"]
    assert text(by_id(root, "GEN.A7-state")) == "Wrap-up"
    assert tile.slots["GEN.A7-state"] == {"t": "Wrap-up", "c": "agent-state state-acw"}


def test_a_wall_naming_a_queue_nobody_configured_fails_at_start(tmp_path):
    config = tmp_path / "callboard.toml"
    config.write_text('[[walls]]\nname = "floor"\nqueues = ["GEN", "NOPE"]\n')
    with pytest.raises(ConfigError) as error:
        load_settings(config)
    assert str(config) in str(error.value) and "walls[0] (floor).queues" in str(error.value)
    assert "NOPE" in str(error.value)


def test_an_unknown_wall_name_is_none_and_no_name_is_the_default_wall():
    settings = Settings(walls=[{"name": "floor", "figures": "compact"}])
    assert settings.wall("floor").figures == "compact"
    assert settings.wall("nope") is None
    assert settings.wall(None).queues == "all"


def _warned(doc: dict, breach_in_s: int, early: int | None, late: int | None,
            at_ms: int = 1_000) -> dict:
    doc["now"]["outlook"] = {
        "at_ms": at_ms, "breach_ms": at_ms + breach_in_s * 1000, "breach_in_s": breach_in_s,
        "early_in_s": early, "late_in_s": late, "arrivals_per_min": 6.0,
        "capacity_per_min": 4.5, "agents": 18, "aht_s": 240.0, "warning": True,
        "horizon_s": 600}
    return doc


@pytest.mark.parametrize("lang,word", [("zh", "预警：~8 (5-12) 分钟后一级"),
                                       ("en", "STEP 1 IN ~8 (5-12) MIN")])
def test_a_breach_warning_shows_when_with_its_spread_and_pins_the_tile(lang, word):
    doc = _warned(snap("GEN", waiting=3), 480, 300, 720)
    tile = tree(queue_tile(doc, 1_000, SETTINGS, lang))
    assert [text(b) for b in by_class(tile, "warn")] == [word]
    # Pinned on every page (fit.js), but not called "near": its figures are calm.
    assert tile.get("data-warn") == "1" and tile.get("data-severity") == "0"
    assert by_class(tile, "near") == []


def test_the_warning_counts_from_the_snapshots_own_time_and_says_30_plus_for_no_late_case():
    # Estimated a minute before the snapshot: 8 min then is 7 now; early 5 -> 4.
    doc = _warned(snap("GEN", waiting=3), 480, 300, None, at_ms=1_000 - 60_000)
    view = tile_view(doc, 1_000, SETTINGS)
    assert view["warning"] == "~7 (4-30+)"
    doc["now"]["outlook"]["warning"] = False  # an estimate, but no warning out: no badge
    assert tile_view(doc, 1_000, SETTINGS)["warning"] == ""


def _with_tickets(doc: dict, due_soon: int, overdue: int, due_in_min: int) -> dict:
    doc["now"]["tickets"] = {
        "open": {"consultation": 3, "level1": 2, "level2": 0, "level3": 1, "level4": 0},
        "due_soon": due_soon, "overdue": overdue,
        "next_due": {"ticket_id": "T1", "kind": "complaint", "level": 1,
                     "due_ms": doc["as_of_ms"] + due_in_min * 60_000, "owner": "a7"}}
    return doc


@pytest.mark.parametrize("lang,word,next_text", [
    ("zh", "工单超时", "L1 已超时 5 分钟"), ("en", "TICKET OVERDUE", "L1 5 min late")])
def test_an_overdue_ticket_is_red_with_its_word_and_the_next_one_counts_down(
        lang, word, next_text):
    tile = tree(queue_tile(_with_tickets(snap("GEN"), 1, 1, -5), 1_000, SETTINGS, lang))
    assert word in [text(b) for b in by_class(tile, "badge")]
    over = by_id(tile, "GEN-tickets_over")
    assert "red" in over.get("class").split() and text(over) == "1"
    assert "amber" in by_id(tile, "GEN-tickets_soon").get("class").split()
    assert text(by_id(tile, "GEN-tickets_open")) == "6"
    assert text(by_id(tile, "GEN-tickets_next")) == next_text
    calm = tree(queue_tile(_with_tickets(snap("GEN"), 0, 0, 23), 1_000, SETTINGS, "en"))
    assert "red" not in by_id(calm, "GEN-tickets_over").get("class").split()
    assert text(by_id(calm, "GEN-tickets_next")) == "next L1 in 23 min"
    assert not by_class(calm, "badge")
    assert not by_class(tree(queue_tile(snap("GEN"), 1_000, SETTINGS, "en")), "tickets-line")


def _few(offered: int, sl: float = 2 / 3) -> dict:
    doc = snap("GEN", sl=sl)
    doc["windows"]["interval"] = {**doc["windows"]["interval"], "service_level": sl,
                                  "offered": offered}
    return doc


def test_a_rate_on_three_calls_is_shown_with_its_count_and_judged_on_nothing():
    # Issue #32: 3 calls, one late: 67% against a target of 80% is no breach to show.
    view = tile_view(_few(3), 1_000, Settings(), "en")
    assert view["sl"] == ("67%", "grey") and view["few"]["sl"] == "3 calls"
    assert view["severity"] == 0
    assert tile_view(_few(3), 1_000, Settings(), "zh")["few"]["sl"] == "3通"
    assert tile_view(_few(1, sl=1.0), 1_000, Settings(), "en")["few"]["sl"] == "1 call"
    # The tile carries the count beside the rate's caption, the figure keeps its width.
    tile = tree(queue_tile(_few(3), 1_000, Settings(), "en"))
    assert tile.find(".//*[@id='GEN-sl-calls']").text == " · 3 calls"
    # From min_calls (20) on, the same rate is judged: 67% is below 80% by more than
    # the 15% amber margin (0.68): red.
    assert tile_view(_few(20), 1_000, Settings(), "en")["sl"] == ("67%", "red")
    assert tile_view(_few(20), 1_000, Settings(), "en")["few"]["sl"] == ""
    assert tile_view(_few(20), 1_000, Settings(), "en")["severity"] == 2


def test_min_calls_is_set_per_queue():
    settings = Settings(queues=[{"name": "GEN", "min_calls": 3}], min_calls=50)
    assert tile_view(_few(3), 1_000, settings, "en")["sl"] == ("67%", "red")
    assert tile_view(_few(3), 1_000, Settings(min_calls=50), "en")["sl"][1] == "grey"
