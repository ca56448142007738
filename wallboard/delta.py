"""Send a display only what changed since its last answer.

Every display asks once per refresh period. Most ticks most tiles are as they were:
the worker rewrote its snapshots with the same figures, only their age moved. The page
keeps a fingerprint of each part it was sent (a ``dcc.Store``, sent back as State),
so an answer carries the tile rows whose content changed (a Dash ``Patch``) and the
other parts only when they differ. The ages, which move every second,
travel as a few numbers that the browser turns into text (``age_script``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from dash import Patch, no_update
from plotly.utils import PlotlyJSONEncoder

from base.i18n import BOARD
from wallboard.present import AGE_UNITS

__all__ = ["Frame", "age_script", "fingerprint", "only_changed"]


def fingerprint(part: Any) -> str:
    """A short digest of a component tree (or any JSON-able value) as Dash would send it."""
    raw = json.dumps(part, cls=PlotlyJSONEncoder, sort_keys=True).encode()
    return hashlib.blake2b(raw, digest_size=8).hexdigest()


def _tile_prints(tile: Any) -> list[Any]:
    """[the tile without its children, [each child]]: a tile's rows change apart (the
    longest wait every second, the interval figures with their long tooltips rarely)."""
    children = getattr(tile, "children", None)
    if not isinstance(children, list):
        return [fingerprint(tile), []]
    whole = tile.to_plotly_json()
    shell = {**whole, "props": {k: v for k, v in whole["props"].items() if k != "children"}}
    return [fingerprint(shell), [fingerprint(child) for child in children]]


def _tiles_patch(tiles: Sequence[Any], prints: list[list[Any]], had: list[Any]) -> Any:
    """A Patch of the tiles (or their rows) that differ from what the page holds."""
    patch, changed = Patch(), False
    for i, (tile, (shell, rows), old) in enumerate(zip(tiles, prints, had, strict=True)):
        if old == [shell, rows]:
            continue
        changed = True
        same_shape = (isinstance(old, list) and len(old) == 2 and old[0] == shell
                      and isinstance(old[1], list) and len(old[1]) == len(rows) > 0)
        if not same_shape:
            patch[i] = tile
            continue
        for k, (row, old_row) in enumerate(zip(rows, old[1], strict=True)):
            if row != old_row:
                patch[i]["props"]["children"][k] = tile.children[k]
    return patch if changed else no_update


@dataclass(frozen=True)
class Frame:
    """One tick of the board as all its displays get it, fingerprinted once for all."""

    tiles: list[Any]
    keys: list[str]
    parts: list[Any]
    tile_prints: list[list[Any]]
    part_prints: list[str]

    @classmethod
    def of(cls, tiles: Sequence[Any], keys: Sequence[str], parts: Sequence[Any]) -> Frame:
        return cls(list(tiles), list(keys), list(parts), [_tile_prints(t) for t in tiles],
                   [fingerprint(part) for part in parts])


def only_changed(frame: Frame, held: dict[str, Any] | None
                 ) -> tuple[Any, list[Any], dict[str, Any] | Any]:
    """(tiles, parts, fingerprints) to answer a display that holds ``held``.

    The tiles are answered in full when the page holds other tiles (another set or
    order, or none: a new page), else as a Patch of the changed rows (or whole tiles,
    when more than their rows changed), or not at all; each part is answered when its
    fingerprint differs. The fingerprints are answered only when something changed,
    so an unchanged tick sends none of this.
    """
    held = held if isinstance(held, dict) else {}  # the page's own store, but a client's word
    had_keys, had_tiles = held.get("keys"), held.get("tiles")
    if (had_keys != frame.keys or not isinstance(had_tiles, list)
            or len(had_tiles) != len(frame.tiles)):
        tiles_out: Any = frame.tiles
    else:
        tiles_out = _tiles_patch(frame.tiles, frame.tile_prints, had_tiles)
    had_parts = held.get("parts")
    had_parts = had_parts if isinstance(had_parts, list) else []
    parts_out = [part if i >= len(had_parts) or had_parts[i] != mark else no_update
                 for i, (part, mark) in enumerate(zip(frame.parts, frame.part_prints,
                                                      strict=True))]
    now_held = {"keys": frame.keys, "tiles": frame.tile_prints, "parts": frame.part_prints}
    return tiles_out, parts_out, (now_held if now_held != held else no_update)


def age_script() -> str:
    """The browser side: ``{"now": ms, "ms": {queue: ms}}`` (the server's clock on both
    sides: a display's own clock may be wrong) to the text of every tile's age."""
    templates = {lang: BOARD("age", lang, age="{age}") for lang in ("zh", "en")}
    return f"""function(ages, search) {{
        const lang = (ages && ages.lang) || ((search || '').indexOf('lang=en') >= 0 ? 'en' : 'zh');
        const units = {json.dumps(AGE_UNITS)}[lang];
        const template = {json.dumps(templates)}[lang];
        const known = (ages && ages.ms) || {{}};
        return dash_clientside.callback_context.outputs_list.map(function(out) {{
            const ms = known[out.id.queue];
            if (ms === undefined) {{ return ''; }}
            const age = Math.max(0, Math.floor((ages.now - ms) / 1000));
            const text = age < 120 ? units[0].replace('{{n}}', age)
                                   : units[1].replace('{{n}}', Math.floor(age / 60));
            return template.replace('{{age}}', text);
        }});
    }}"""
