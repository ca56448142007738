"""Erlang C against a published worked example, and against the textbook formula.

Source: Call Centre Helper, "Erlang C Formula - Made Simple With an Easy Worked
Example": 100 calls in 30 minutes, AHT 180 s, 80% answered in 20 s. Traffic
A = 100 x 180 / 1800 = 10 erlangs; with 11 agents P(wait) = 68.21% and SL 39%;
14 agents are the first to reach 80% (13 give 79.6%): SL 88.8%, occupancy 71.4%.
"""

import math

import pytest

from core.erlang import agents_needed, erlang_c, staffing


def textbook_c(n: int, a: float) -> float:
    """Erlang C written with factorials, as in the source (independent of the module)."""
    top = a ** n / math.factorial(n) * n / (n - a)
    return top / (sum(a ** k / math.factorial(k) for k in range(n)) + top)


def test_the_published_example():
    assert erlang_c(11, 10.0) == pytest.approx(0.6821, abs=5e-5)
    eleven = staffing(11, 100, 1800, 180, 20)
    assert round(eleven.service_level * 100) == 39
    assert staffing(13, 100, 1800, 180, 20).service_level < 0.80
    result = agents_needed(100, 1800, 180, 20, 0.80)
    assert result.agents == 14
    assert result.service_level == pytest.approx(0.8884, abs=5e-5)
    assert result.occupancy == pytest.approx(10 / 14)
    # ASA = P(wait) x AHT / (N - A)
    assert result.asa_s == pytest.approx(textbook_c(14, 10) * 180 / 4)
    assert result.traffic_erlangs == 10


@pytest.mark.parametrize(("n", "a"), [(1, 0.5), (5, 3.2), (30, 25.0), (80, 71.3)])
def test_recursion_equals_the_factorial_formula(n, a):
    assert erlang_c(n, a) == pytest.approx(textbook_c(n, a), rel=1e-9)


def test_overloaded_and_empty_queues():
    assert erlang_c(10, 10.0) == 1.0  # agents <= traffic: every call waits, for ever
    assert staffing(10, 100, 1800, 180, 20).service_level == 0.0
    assert erlang_c(3, 0.0) == 0.0
    assert agents_needed(0, 900, 200, 20, 0.8).agents == 1
    with pytest.raises(ValueError):
        agents_needed(10, 0, 180, 20, 0.8)


def test_a_large_centre_stays_exact():
    result = agents_needed(3000, 1800, 240, 20, 0.9)  # 400 erlangs
    assert 400 < result.agents < 440
    assert result.service_level >= 0.9
    assert staffing(result.agents - 1, 3000, 1800, 240, 20).service_level < 0.9
