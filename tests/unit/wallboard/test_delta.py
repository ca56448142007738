"""What a display is sent on each tick: only the tiles and parts it does not hold."""

from __future__ import annotations

from dash import Patch, html, no_update

from wallboard.delta import Frame
from wallboard.delta import only_changed as _only_changed


def _tile(queue: str, waiting: int, longest: str = "0:00", stale: bool = False) -> html.Div:
    return html.Div([html.Div(queue, className="tile-head"),
                     html.Div([html.Span(str(waiting), id=f"{queue}-waiting"),
                               html.Span(longest, id=f"{queue}-longest")], className="row"),
                     html.Div("a long tooltip" * 50, className="row")],
                    id=f"tile-{queue}", className="tile stale" if stale else "tile")


def only_changed(tiles, keys, parts, held):
    return _only_changed(Frame.of(tiles, keys, parts), held)


def _patched(patch: Patch) -> list[tuple[list, object]]:
    operations = patch.to_plotly_json()["operations"]
    assert all(op["operation"] == "Assign" for op in operations)
    return [(op["location"], op["params"]["value"]) for op in operations]


def test_a_new_page_gets_everything():
    tiles = [_tile("ALL", 3), _tile("GEN", 1)]
    sent_tiles, parts, held = only_changed(tiles, ["tile-ALL", "tile-GEN"], ["", "ok"], None)
    assert sent_tiles == tiles
    assert parts == ["", "ok"]
    assert held["keys"] == ["tile-ALL", "tile-GEN"]


def test_an_unchanged_tick_sends_nothing():
    keys = ["tile-ALL", "tile-GEN"]
    _, _, held = only_changed([_tile("ALL", 3), _tile("GEN", 1)], keys, ["", "ok"], None)
    # Rebuilt from the same figures (new objects, same content):
    sent_tiles, parts, again = only_changed([_tile("ALL", 3), _tile("GEN", 1)], keys,
                                            ["", "ok"], held)
    assert sent_tiles is no_update
    assert parts == [no_update, no_update]
    assert again is no_update


def test_only_the_changed_row_and_part_are_sent():
    keys = ["tile-ALL", "tile-GEN", "tile-VIP"]
    _, _, held = only_changed([_tile("ALL", 3), _tile("GEN", 1), _tile("VIP", 0)], keys,
                              ["", "title"], None)
    new_gen = _tile("GEN", 1, longest="0:07")  # a caller waits a second longer
    sent_tiles, parts, again = only_changed([_tile("ALL", 3), new_gen, _tile("VIP", 0)], keys,
                                            ["STALE", "title"], held)
    assert isinstance(sent_tiles, Patch)
    # The GEN tile's second row, not its tooltip row, not the other tiles:
    assert _patched(sent_tiles) == [([1, "props", "children", 1], new_gen.children[1])]
    assert parts == ["STALE", no_update]
    assert again["tiles"][0] == held["tiles"][0] and again["tiles"][1] != held["tiles"][1]
    assert again["parts"][1] == held["parts"][1] and again["parts"][0] != held["parts"][0]


def test_a_tile_whose_own_look_changed_is_sent_whole():
    keys = ["tile-ALL", "tile-GEN"]
    _, _, held = only_changed([_tile("ALL", 3), _tile("GEN", 1)], keys, [], None)
    stale_gen = _tile("GEN", 1, stale=True)
    sent_tiles, _, _ = only_changed([_tile("ALL", 3), stale_gen], keys, [], held)
    assert _patched(sent_tiles) == [([1], stale_gen)]


def test_another_set_or_order_of_tiles_is_sent_whole():
    _, _, held = only_changed([_tile("ALL", 3), _tile("GEN", 1)], ["tile-ALL", "tile-GEN"],
                              [], None)
    reordered = [_tile("GEN", 1), _tile("ALL", 3)]
    sent_tiles, _, _ = only_changed(reordered, ["tile-GEN", "tile-ALL"], [], held)
    assert sent_tiles == reordered
    grown = [_tile("ALL", 3), _tile("GEN", 1), _tile("NEW", 0)]
    sent_tiles, _, _ = only_changed(grown, ["tile-ALL", "tile-GEN", "tile-NEW"], [], held)
    assert sent_tiles == grown


def test_a_page_holding_something_unreadable_gets_everything():
    tiles = [_tile("ALL", 3)]
    sent_tiles, parts, _ = only_changed(tiles, ["tile-ALL"], ["x"],
                                        {"keys": ["tile-ALL"], "tiles": "junk"})
    assert sent_tiles == tiles
    assert parts == ["x"]
    sent_tiles, _, _ = only_changed(tiles, ["tile-ALL"], ["x"],
                                    {"keys": ["tile-ALL"], "tiles": [["?", "rows?"]]})
    assert _patched(sent_tiles) == [([0], tiles[0])]
    sent_tiles, parts, _ = only_changed(tiles, ["tile-ALL"], ["x"],
                                        {"keys": ["tile-ALL"], "tiles": [], "parts": 7})
    assert sent_tiles == tiles
    assert parts == ["x"]
    sent_tiles, _, _ = only_changed(tiles, ["tile-ALL"], ["x"], "junk")  # type: ignore[arg-type]
    assert sent_tiles == tiles
