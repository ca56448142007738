"""What a display is sent: everything once, then only what changed since the frame it
holds; one serialisation per frame and held frame, whoever asks."""

from __future__ import annotations

import json

from base.config import Settings
from tests.unit.wallboard.test_wall_tiles import snap
from wallboard.frames import FrameCache, Page, respond
from wallboard.tiles import queue_tile

SETTINGS = Settings()


def page(*docs: dict, ages: dict[str, int] | None = None, title: str = "Wall") -> Page:
    tiles = [queue_tile(d, 1_000, SETTINGS, "en") for d in docs]
    return Page(tiles, {"title": {"t": title}}, ages if ages is not None else
                {d["queue"]: 1_000 for d in docs})


def ask(cache: FrameCache, read: object, made: Page, since: str | None) -> dict:
    frame = cache.frame(read, "", lambda: made)
    return json.loads(respond(cache.answer(frame, since), 5_000))


def test_a_new_display_gets_every_tile_and_a_display_that_holds_it_only_the_moved_figure():
    cache = FrameCache("b1")
    first = ask(cache, object(), page(snap("GEN", waiting=2), snap("EN")), None)
    assert first["full"] is True and first["order"] == ["GEN", "EN"]
    assert set(first["html"]) == {"GEN", "EN"} and first["now"] == 5_000
    assert first["slots"] == {"title": {"t": "Wall"}} and first["build"] == "b1"

    moved = ask(cache, object(), page(snap("GEN", waiting=3), snap("EN")), first["v"])
    assert moved["v"] != first["v"]
    assert {k: v for k, v in moved.items() if k not in ("v", "now", "build")} == {
        "slots": {"GEN-waiting": {"t": "3", "c": "fig-value led green"}}}


def test_the_same_frame_again_is_only_the_clock_and_its_name():
    cache = FrameCache("b1")
    first = ask(cache, object(), page(snap("GEN")), None)
    again = ask(cache, object(), page(snap("GEN")), first["v"])  # another read, same content
    assert again == {"now": 5_000, "v": first["v"], "build": "b1"}


def test_a_tile_whose_markup_changed_comes_whole_and_a_tile_gone_leaves_the_order():
    cache = FrameCache("b1")
    first = ask(cache, object(), page(snap("GEN"), snap("EN")), None)
    renamed = snap("GEN")
    renamed["label_en"] = "General"
    after = ask(cache, object(), page(renamed, ages={"GEN": 2_000}), first["v"])
    assert after["order"] == ["GEN"]
    assert set(after["html"]) == {"GEN"} and "General" in after["html"]["GEN"]
    assert "slots" not in after  # the tile's own slots travel inside its markup
    assert after["ages"] == {"GEN": 2_000, "EN": None}  # EN's age is forgotten


def test_a_display_whose_frame_is_unknown_here_gets_everything():
    cache = FrameCache("b1")
    answer = ask(cache, object(), page(snap("GEN")), "not-a-frame-of-this-process")
    assert answer["full"] is True and set(answer["html"]) == {"GEN"}


def test_one_read_is_built_once_and_each_answer_serialised_once():
    cache, read, built = FrameCache("b1"), object(), []

    def make() -> Page:
        built.append(1)
        return page(snap("GEN"))

    frames = [cache.frame(read, "", make) for _ in range(5)]
    assert len(built) == 1 and all(f is frames[0] for f in frames)
    assert cache.answer(frames[0], None) is cache.answer(frames[0], None)
