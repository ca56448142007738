"""KPI formulas against hand-worked examples (threshold 20 s, short abandon 5 s,
answer limit 60 s, answer timeout 15 s, one ring every 5 s)."""

import pytest

from core import kpi
from tests.unit.factories import at, call, event

LIMITS = kpi.Limits(threshold_ms=20_000, short_abandon_ms=5_000)
NO_SHORT = kpi.Limits(threshold_ms=20_000, short_abandon_ms=0)


def _counters(events, limits=LIMITS):
    c = kpi.new_counters()
    for e in events:
        kpi.fold(c, e, limits)
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
    # B5 averages over the calls put on hold (c1 only); AHT spreads hold over all
    # handled calls: average talk + hold per handled call + average ACW, with c2's
    # wrap-up still open.
    assert figures["avg_hold_s"] == pytest.approx(20)
    assert figures["avg_acw_s"] == pytest.approx(30)
    assert figures["aht_s"] == pytest.approx(150 + (20 + 0) / 2 + 30)
    assert figures["answered_rate"] == pytest.approx(3 / 6)  # B19
    assert figures["answer_rate"] == pytest.approx(3 / 6)  # A2: all answers within 60 s
    assert figures["answer_timeout_rate"] == pytest.approx(2 / 3)  # A3: c2 (20 s), c3 (21 s)


def test_short_abandon_zero_turns_exclusion_off():
    events = call("a", at(9, 0), abandon_after_s=2) + call("b", at(9, 0, 1), answer_after_s=4)
    figures = kpi.derive(_counters(events, NO_SHORT))
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


def test_a2_answer_limit_and_a3_timeout_boundaries():
    t0 = at(11, 0)
    events = (
        call("a", t0, answer_after_s=10)
        + call("b", t0 + 1, answer_after_s=15)   # exactly 15 s: not a timeout
        + call("c", t0 + 2, answer_after_s=16)   # timeout
        + call("d", t0 + 3, answer_after_s=60)   # exactly 60 s: still answered for A2
        + call("e", t0 + 4, answer_after_s=61)   # "over 60 s counts as not answered"
        + call("f", t0 + 5, abandon_after_s=30)
    )
    figures = kpi.derive(_counters(events))
    assert figures["offered"] == 6
    assert figures["answer_rate"] == pytest.approx(4 / 6)
    assert figures["answer_timeout_rate"] == pytest.approx(3 / 5)
    assert figures["answered_rate"] == pytest.approx(5 / 6)


def test_connection_and_busy_rates_count_blocked_attempts():
    t0 = at(12, 0)
    events = (
        call("a", t0, answer_after_s=5)
        + call("b", t0 + 1, abandon_after_s=2)   # short abandon: got through all the same
        + call("c", t0 + 2, abandon_after_s=40)
        + [event("call.blocked", t0 + 3, call_id="d")]
    )
    figures = kpi.derive(_counters(events))
    assert figures["attempts"] == 4
    assert figures["blocked"] == 1
    assert figures["offered"] == 2
    assert figures["connection_rate"] == pytest.approx(3 / 4)  # A1
    assert figures["busy_rate"] == pytest.approx(1 / 4)  # B15


def test_rings_queue_time_and_queue_placement():
    """Queue time = wait before an agent rang (wait - ring); B6 rounds each call's rings up."""
    t0 = at(13, 0)
    events = (
        call("a", t0, answer_after_s=4, ring_s=4)        # never queued; 1 ring
        + call("b", t0 + 1, answer_after_s=20, ring_s=5)  # queued 15 s; exactly 1 ring
        + call("c", t0 + 2, answer_after_s=30, ring_s=11)  # queued 19 s; 3 rings
        + call("d", t0 + 3, answer_after_s=10)            # ring unknown: queued 10 s, no rings
        # abandoned while an agent's phone rang: abandoned, queued 6 s, rings not counted
        + call("e", t0 + 4, abandon_after_s=12, ring_s=6)
    )
    figures = kpi.derive(_counters(events))
    assert figures["queued"] == 4
    assert figures["queue_placement_rate"] == pytest.approx(4 / 5)  # B17
    assert figures["avg_queue_s"] == pytest.approx((15 + 19 + 10) / 3, abs=1e-3)  # B7
    assert figures["avg_rings"] == pytest.approx((1 + 1 + 3) / 3, abs=1e-3)  # B6
    assert figures["abandoned"] == 1 and figures["answered"] == 4


def test_transfer_rate_over_answered_calls():
    t0 = at(14, 0)
    events = call("a", t0, answer_after_s=5, talk_s=60) + call("b", t0 + 1, answer_after_s=5)
    events.append(event("call.transferred", t0 + 70_000, call_id="a", agent_id="A1",
                        offered_ms=t0, to_queue="BIZ"))
    figures = kpi.derive(_counters(events))
    assert figures["transferred"] == 1
    assert figures["transfer_rate"] == pytest.approx(1 / 2)  # B18


def test_agent_figures_and_occupancy_with_or_without_acw():
    # 30 min signed in: 10 available, 12 on calls, 3 in ACW, 5 not ready; 4 calls handled
    minute = 60_000
    values = [10 * minute, 12 * minute, 3 * minute, 5 * minute, 4, 4, 600_000, 120_000, 4,
              180_000]
    c = kpi.new_counters() | {"avail_ms": 10 * minute, "busy_ms": 12 * minute,
                              "acw_time_ms": 3 * minute, "not_ready_ms": 5 * minute,
                              "ended": 4, "scheduled_ms": 40 * minute}
    figures = kpi.derive(c)
    assert figures["occupancy"] == pytest.approx(12 / (12 + 10))  # B12, the manual's
    assert kpi.derive(c, occupancy_includes_acw=True)["occupancy"] == pytest.approx(15 / 25)
    assert figures["calls_per_agent_hour"] == pytest.approx(4 / 0.5)  # B10
    assert figures["adherence"] == pytest.approx(25 / 40)  # B1: ready time / scheduled
    assert figures["attendance"] == pytest.approx(30 / 40)  # B14: signed in / scheduled
    agent = kpi.derive_agent(values)
    assert agent["occupancy"] == pytest.approx(12 / 22)
    assert agent["calls_per_agent_hour"] == pytest.approx(8)
    assert agent["aht_s"] == pytest.approx(600 / 4 + 120 / 4 + 180 / 4)


def test_without_schedule_adherence_and_attendance_are_undefined():
    figures = kpi.derive(kpi.new_counters() | {"avail_ms": 60_000})
    assert figures["adherence"] is None and figures["attendance"] is None
