"""A wall's tiles, built in memory: which queues a wall shows in which order, and a breach
told by a shape and a word as well as a colour (about 1 man in 12 cannot tell red from
green)."""

from __future__ import annotations

import pytest

from base.config import ConfigError, Settings, WallConfig, load_settings
from core.snapshot import CENTRE
from wallboard.present import tile_view
from wallboard.wall import build_tile, on_wall, wall_name


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


def texts(component) -> list[str]:
    out = []
    children = getattr(component, "children", component)
    if isinstance(children, str):
        return [children]
    for child in children if isinstance(children, list) else [children]:
        if isinstance(child, str):
            out.append(child)
        elif child is not None:
            out += texts(child)
    return out


def find(component, cls: str) -> list:
    found = [component] if cls in (getattr(component, "className", "") or "").split() else []
    children = getattr(component, "children", None)
    for child in children if isinstance(children, list) else [children]:
        if child is not None and not isinstance(child, str):
            found += find(child, cls)
    return found


SETTINGS = Settings()  # waiting amber above 5, red above 10 (manual lines 140-143)


@pytest.mark.parametrize("lang,word", [("zh", "超标"), ("en", "OVER")])
def test_a_queue_over_target_says_so_in_words_and_shapes_not_only_in_red(lang, word):
    tile = build_tile(snap("GEN", waiting=12, longest=75), 1_000, SETTINGS, lang)
    assert "over" in tile.className.split()
    assert word in texts(find(tile, "badge")[0])
    waiting = next(f for f in find(tile, "fig-value") if f.id == "GEN-waiting")
    assert "red" in waiting.className.split() and texts(waiting) == ["12"]  # ▲: board.css


def test_a_queue_near_target_is_amber_with_its_own_shape_and_word():
    tile = build_tile(snap("GEN", waiting=7), 1_000, SETTINGS, "en")
    assert "near" in tile.className.split() and "NEAR" in texts(find(tile, "badge")[0])
    waiting = next(f for f in find(tile, "fig-value") if f.id == "GEN-waiting")
    assert "amber" in waiting.className.split() and texts(waiting) == ["7"]


def test_a_calm_queue_has_no_cue_and_severity_0():
    tile = build_tile(snap("GEN", waiting=2, longest=8), 1_000, SETTINGS, "en")
    assert tile.className == "tile" and find(tile, "badge") == []
    assert getattr(tile, "data-severity") == "0"


def test_worst_first_ranks_red_over_amber_and_a_ladder_step_within_the_same_colour():
    red = tile_view(snap("A", waiting=11), 1_000, SETTINGS)
    amber_step = tile_view(snap("B", waiting=6, step=2), 1_000, SETTINGS)
    amber = tile_view(snap("C", waiting=9), 1_000, SETTINGS)
    calm_step = tile_view(snap("D", waiting=1, step=1), 1_000, SETTINGS)
    assert [v["severity"] for v in (red, amber_step, amber, calm_step)] == [2, 1, 1, 0]
    assert red["rank"] > amber_step["rank"] > amber["rank"] > calm_step["rank"] > 0


def test_a_compact_tile_has_the_four_figures_of_a_big_room():
    tile = build_tile(snap("GEN"), 1_000, SETTINGS, "en", compact=True)
    ids = [f.id for f in find(tile, "fig-value")]
    assert ids == ["GEN-waiting", "GEN-longest", "GEN-sl", "GEN-abandon"]


def test_a_wall_shows_its_queues_in_its_order_with_the_centre_first():
    snaps = [snap(CENTRE), snap("GEN"), snap("VIP"), snap("EN")]
    order = [s["queue"] for s in on_wall(snaps, WallConfig(name="w", queues=["VIP", "GEN"]))]
    assert order == [CENTRE, "VIP", "GEN"]
    no_centre = on_wall(snaps, WallConfig(name="w", queues=["EN"], centre=False))
    assert [s["queue"] for s in no_centre] == ["EN"]
    assert [s["queue"] for s in on_wall(snaps, WallConfig(name="board"))] == [
        CENTRE, "GEN", "VIP", "EN"]


def test_the_wall_is_named_by_the_path():
    assert wall_name("/board") is None and wall_name("/") is None
    assert wall_name("/board/floor-2") == "floor-2"
    assert wall_name("/supervisor/x") is None


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
