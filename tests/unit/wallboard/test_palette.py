"""Figures keep a contrast of at least 7:1 on the tiles' ground (WCAG's AAA for text), in
both palettes. The colours are read from board.css itself; the contrast is WCAG 2's
formula, written here from the standard, not from the code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

CSS = (Path(__file__).resolve().parents[3] / "wallboard" / "assets" / "board.css").read_text()
GROUND = "#050505"  # .tile background


def luminance(hex_colour: str) -> float:
    rgb = [int(hex_colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    lin = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def contrast(a: str, b: str) -> float:
    hi, lo = sorted((luminance(a), luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def colour_of(selector: str) -> str:
    rule = re.search(re.escape(selector) + r"\s*\{[^}]*?color:\s*(#[0-9a-fA-F]{6})", CSS)
    assert rule, selector
    return rule.group(1)


def test_the_formula_against_wcag_examples():
    assert contrast("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast("#767676", "#ffffff") == pytest.approx(4.54, abs=0.01)


@pytest.mark.parametrize("selector", [".green", ".amber", ".red", ".grey",
                                      ".palette-okabe_ito .green", ".palette-okabe_ito .amber",
                                      ".palette-okabe_ito .red"])
def test_every_figure_colour_reads_at_7_to_1(selector):
    assert contrast(colour_of(selector), GROUND) >= 7.0, selector


def test_the_colour_blind_palette_tells_its_three_states_apart_by_lightness_too():
    states = [luminance(colour_of(f".palette-okabe_ito .{c}")) for c in ("green", "amber", "red")]
    assert len({round(v, 2) for v in states}) == 3


@pytest.mark.parametrize("state,shape", [("red", "▲"), ("amber", "◆")])
def test_over_and_near_figures_carry_a_shape_as_well_as_a_colour(state, shape):
    assert re.search(r"\.fig-value\." + state + r'::before\s*\{\s*content:\s*"' + shape + '"', CSS)
