"""KPI formulas against a hand-worked example (threshold 20 s, short abandon 5 s)."""

import pytest

from callboard import kpi
from tests.unit.factories import at, call

T_MS, SHORT_MS = 20_000, 5_000


def _counters(events):
    c = kpi.new_counters()
    for e in events:
        kpi.fold(c, e, T_MS, SHORT_MS)
    return c


@pytest.fixture
def worked():
    """Eight calls; the comments give what each contributes.

    c1 answered at 10 s (within T), talk 100 s + hold 20 s, ACW 30 s
    c2 answered at exactly 20 s (within T: "within" includes T), talk 200 s, no ACW yet
    c3 answered at 21 s (late)
    c4 abandoned at 3 s, c5 at exactly 5 s: short abandons, out of offered and abandoned
    c6 abandoned at 6 s (an abandon within T), c7 at 30 s
    c8 still waiting: offered, neither answered nor abandoned
    """
    t0 = at(10, 0)
    events = (
        call("c1", t0, answer_after_s=10, talk_s=100, hold_s=20, acw_s=30)
        + call("c2", t0 + 1000, answer_after_s=20, talk_s=200)
        + call("c3", t0 + 2000, answer_after_s=21)
        + call("c4", t0 + 3000, abandon_after_s=3)
        + call("c5", t0 + 4000, abandon_after_s=5)
        + call("c6", t0 + 5000, abandon_after_s=6)
        + call("c7", t0 + 6000, abandon_after_s=30)
        + call("c8", t0 + 7000)
    )
    return _counters(events)


def test_counts(worked):
    figures = kpi.derive(worked)
    assert figures["offered"] == 8 - 2
    assert figures["short_abandoned"] == 2
    assert figures["answered"] == 3
    assert figures["answered_within_threshold"] == 2
    assert figures["abandoned"] == 2
    assert figures["abandoned_within_threshold"] == 1
    assert figures["handled"] == 2


@pytest.mark.parametrize(
    ("formula", "expected"),
    [
        ("offered", 2 / 6),  # manual B20: answered within T / offered
        ("answered", 2 / 3),
        ("abandons_ignored", 2 / (6 - 1)),
        ("abandons_met", (2 + 1) / 6),
    ],
)
def test_service_level_formulas(worked, formula, expected):
    assert kpi.derive(worked, formula)["service_level"] == pytest.approx(expected, abs=1e-6)


def test_rates_and_averages(worked):
    figures = kpi.derive(worked)
    assert figures["abandon_rate"] == pytest.approx(2 / 6, abs=1e-6)
    assert figures["asa_s"] == pytest.approx((10 + 20 + 21) / 3)
    assert figures["avg_abandon_s"] == pytest.approx((6 + 30) / 2)
    assert figures["max_wait_s"] == 30
    assert figures["avg_talk_s"] == pytest.approx((100 + 200) / 2)
    assert figures["avg_hold_s"] == pytest.approx((20 + 0) / 2)
    assert figures["avg_acw_s"] == pytest.approx(30)
    # AHT = average talk + average hold + average ACW (c2's wrap-up is still open)
    assert figures["aht_s"] == pytest.approx(150 + 10 + 30)


def test_short_abandon_zero_turns_exclusion_off():
    events = call("a", at(9, 0), abandon_after_s=2) + call("b", at(9, 0, 1), answer_after_s=4)
    c = kpi.new_counters()
    for e in events:
        kpi.fold(c, e, T_MS, 0)
    figures = kpi.derive(c)
    assert (figures["offered"], figures["abandoned"], figures["short_abandoned"]) == (2, 1, 0)
    assert figures["abandon_rate"] == pytest.approx(0.5)


def test_empty_window_is_undefined_not_zero():
    figures = kpi.derive(kpi.new_counters())
    assert figures["service_level"] is None
    assert figures["abandon_rate"] is None
    assert figures["asa_s"] is None
    assert figures["aht_s"] is None


def test_merge_adds_counts_and_keeps_the_longest_wait():
    a = _counters(call("x", at(8, 0), answer_after_s=40))
    b = _counters(call("y", at(8, 1), abandon_after_s=70) + call("z", at(8, 2), answer_after_s=5))
    merged = kpi.merge([a, b])
    assert merged["entered"] == 3
    assert merged["answered"] == 2
    assert merged["answered_in_t"] == 1
    assert merged["max_wait_ms"] == 70_000


def test_unknown_formula_is_an_error():
    with pytest.raises(ValueError, match="formula"):
        kpi.derive(kpi.new_counters() | {"entered": 1}, "median")
