"""The four service-level formulas on data sets published in the industry literature.

Each data set is rebuilt as events, counted by the engine's fold, and every
variant is compared with the value the source prints (or, where the source
prints only some, with the variant's definition applied to the source's counts).
"""

import pytest

from core import kpi
from tests.unit.factories import at, call


def _counters(events, limits):
    c = kpi.new_counters()
    for e in events:
        kpi.fold(c, e, limits)
    return c


def _calls(prefix, count, t0, **outcome):
    events = []
    for i in range(count):
        events += call(f"{prefix}{i}", t0 + i, **outcome)
    return events


def icmi_2002():
    """ICMI Queue Tips, "Service Level Calculations" (2002), repeated by Call Centre
    Helper: 1000 answered, 860 of them within 20 s; 60 abandoned: 20 within 20 s
    (10 of those within 5 s) and 40 after 20 s."""
    t0 = at(9, 0)
    return (
        _calls("in", 860, t0, answer_after_s=12)
        + _calls("late", 140, t0, answer_after_s=45)
        + _calls("short", 10, t0, abandon_after_s=3)
        + _calls("early", 10, t0, abandon_after_s=15)
        + _calls("after", 40, t0, abandon_after_s=50)
    )


@pytest.mark.parametrize(
    ("formula", "published"),
    [
        ("offered", 860 / (1000 + 60)),          # their #3, printed as 81%
        ("answered", 860 / 1000),                # their #2, printed as 86%
        ("abandons_ignored", 860 / (1000 + 40)),  # their #4, printed as 83%
        ("abandons_met", (860 + 20) / (1000 + 60)),  # their #1, printed as 83%
    ],
)
def test_icmi_example_without_short_abandon_exclusion(formula, published):
    c = _counters(icmi_2002(), kpi.Limits(threshold_ms=20_000, short_abandon_ms=0))
    assert kpi.service_level(c, formula) == pytest.approx(published, abs=1e-6)
    assert round(kpi.service_level(c, formula) * 100) == {
        "offered": 81, "answered": 86, "abandons_ignored": 83, "abandons_met": 83}[formula]


@pytest.mark.parametrize(
    ("formula", "expected"),
    [
        # The 10 abandons within 5 s leave offered and abandoned before any formula.
        ("offered", 860 / 1050),
        ("answered", 860 / 1000),
        ("abandons_ignored", 860 / (1050 - 10)),
        ("abandons_met", (860 + 10) / 1050),
    ],
)
def test_icmi_example_with_5_s_short_abandons_excluded(formula, expected):
    c = _counters(icmi_2002(), kpi.Limits(threshold_ms=20_000, short_abandon_ms=5_000))
    assert c["short_abandoned"] == 10
    assert kpi.service_level(c, formula) == pytest.approx(expected, abs=1e-6)


def cisco_icm():
    """Cisco Unified ICM / Intelligence Center user guide, "Service Level" example:
    100 service-level events, 70 answered within the threshold, 10 abandoned within
    it, 20 exceeded it (here: answered after it)."""
    t0 = at(10, 0)
    return (
        _calls("in", 70, t0, answer_after_s=10)
        + _calls("ab", 10, t0, abandon_after_s=12)
        + _calls("over", 20, t0, answer_after_s=40)
    )


@pytest.mark.parametrize(
    ("formula", "published"),
    [
        ("abandons_ignored", 70 / (100 - 10)),   # "ignore abandoned calls": 77.8%
        ("offered", 70 / 100),                   # "negative impact": 70%
        ("abandons_met", (70 + 10) / 100),       # "positive impact": 80%
        ("answered", 70 / (70 + 20)),            # not in Cisco's table: by definition
    ],
)
def test_cisco_icm_example(formula, published):
    c = _counters(cisco_icm(), kpi.Limits(threshold_ms=20_000, short_abandon_ms=0))
    assert kpi.service_level(c, formula) == pytest.approx(published, abs=1e-6)


def test_cisco_icm_no_abandon_example_is_38_percent_for_every_formula():
    """Same guide: 50 answered in under 30 s and 80 later gives 38%."""
    t0 = at(11, 0)
    events = _calls("in", 50, t0, answer_after_s=20) + _calls("late", 80, t0, answer_after_s=31)
    c = _counters(events, kpi.Limits(threshold_ms=30_000, short_abandon_ms=0))
    for formula in ("offered", "answered", "abandons_ignored", "abandons_met"):
        assert round(kpi.service_level(c, formula) * 100) == 38
