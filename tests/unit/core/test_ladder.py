"""The surge ladder (manual lines 139-150) as a table of timed observations.

Times are seconds after 10:00 local on a Monday (day mode) unless a test says
otherwise; the default rules: period 5 min, clear at <= 5 for 5 min, cooldown 2 min.
"""

from __future__ import annotations

import random
from datetime import date

import pytest

from core.ladder import Ladder, default_rules
from tests.unit.factories import SHANGHAI, at

T0 = at(10, 0)


def run(observations, rules=None, start=T0, end_s=None):
    """Feed (seconds, waiting) and return [(seconds, step, direction)]."""
    ladder = Ladder(rules or default_rules(), SHANGHAI)
    out = []
    for sec, waiting in observations:
        out += ladder.observe(start + sec * 1000, waiting)
    if end_s is not None:
        out += ladder.advance(start + end_s * 1000)
    return [((t.at_ms - start) // 1000, t.step, t.direction) for t in out]


def test_the_whole_ladder_up_and_back_down_in_reverse():
    got = run([(0, 6), (1000, 11), (2000, 3)], end_s=5000)
    assert got == [
        (300, 1, "up"), (600, 2, "up"), (900, 3, "up"),   # > 5 for 5 min, each after the last
        (1000, 4, "up"),                                   # > 10 after step 3: at once
        (1300, 5, "up"),                                   # > 10 for another 5 min
        (1600, 6, "up"),                                   # still not clear 5 min later
        (2300, 5, "down"), (2600, 4, "down"), (2900, 3, "down"),  # <= 5 for 5 min each,
        (3200, 2, "down"), (3500, 1, "down"), (3800, 0, "down"),  # in reverse order
    ]


@pytest.mark.parametrize(("observations", "end_s", "expected"), [
    ([(0, 5)], 3600, []),                                   # exactly 5 is not "more than 5"
    ([(0, 6), (299, 5)], 3600, []),                         # 4:59 above 5 is not enough
    ([(0, 6), (300, 5)], 300, [(300, 1, "up")]),            # exactly 5 minutes is
    ([(0, 6)], 299, []),
    ([(0, 6), (600, 10)], 1200, [(300, 1, "up"), (600, 2, "up"), (900, 3, "up")]),  # 10 is not > 10
    ([(0, 6), (950, 11)], 950, [(300, 1, "up"), (600, 2, "up"), (900, 3, "up"), (950, 4, "up")]),
])
def test_boundaries(observations, end_s, expected):
    assert run(observations, end_s=end_s) == expected


def test_above_ten_from_the_start_takes_step_four_with_step_three():
    got = run([(0, 12)], end_s=1600)
    assert got == [(300, 1, "up"), (600, 2, "up"), (900, 3, "up"), (900, 4, "up"),
                   (1200, 5, "up"), (1500, 6, "up")]


def test_hovering_around_the_threshold_does_not_flap():
    observations = [(0, 6)]
    # After step 1 the queue bobs between 5 and 6 every minute for an hour.
    observations += [(300 + 60 * i, 5 if i % 2 == 0 else 6) for i in range(1, 61)]
    assert run(observations, end_s=300 + 60 * 61) == [(300, 1, "up")]


def test_a_step_down_then_a_new_surge_waits_for_the_cooldown():
    rules = default_rules()
    got = run([(0, 6), (300, 2), (600, 9)], rules=rules, end_s=1100)
    # Signed out at 600 (<= 5 from 300 to 600); above again from 600 -> 900 for step 1.
    assert got == [(300, 1, "up"), (600, 0, "down"), (900, 1, "up")]


def test_night_mode_is_one_step():
    start = at(23, 0)
    got = run([(0, 8)], start=start, end_s=3000)
    assert got == [(300, 1, "up")]
    ladder = Ladder(default_rules(), SHANGHAI)
    steps = ladder.observe(start, 8) + ladder.advance(start + 300_000)
    assert steps[0].mode == "night" and steps[0].rung.staff_group == "night_all"
    assert steps[0].rung.action_zh.startswith("除1名现场业务督导外")


def test_holiday_mode_calls_the_reserve_first_then_the_day_ladder():
    rules = default_rules(holidays=[date(2026, 1, 5)])
    ladder = Ladder(rules, SHANGHAI)
    steps = ladder.observe(T0, 7) + ladder.advance(T0 + 600_000)
    assert [(s.step, s.mode, s.rung.staff_group) for s in steps] == [
        (1, "holiday", "holiday_reserve"), (2, "holiday", "floating_experts")]
    assert steps[0].rung.seats == "5-7"


def test_the_same_log_fires_the_same_steps_however_it_is_batched_or_restarted():
    rng = random.Random(4)
    observations, waiting, sec = [], 0, 0
    for _ in range(400):
        sec += rng.randint(5, 90)
        waiting = max(0, min(20, waiting + rng.choice((-2, -1, 0, 1, 2, 3))))
        observations.append((sec, waiting))
    sec += 30
    observations.append((sec, 0))  # the surge ends: everything signs out
    reference = run(observations, end_s=sec + 4000)
    assert len(reference) > 6 and reference[-1][1] == 0
    # Timer ticks at arbitrary moments and a restart from saved state in the middle.
    ladder = Ladder(default_rules(), SHANGHAI)
    got = []
    for i, (s, w) in enumerate(observations):
        got += ladder.advance(T0 + (s - rng.randint(0, 5)) * 1000)
        got += ladder.observe(T0 + s * 1000, w)
        if i == 200:
            ladder = Ladder.restore(default_rules(), SHANGHAI, ladder.state())
    got += ladder.advance(T0 + (sec + 4000) * 1000)
    assert [((t.at_ms - T0) // 1000, t.step, t.direction) for t in got] == reference


def test_a_step_down_reads_as_a_sign_out_in_both_languages():
    from core.escalation import alert_doc
    from core.ladder import Transition

    rules = default_rules()
    quality = rules.steps[2]
    up = alert_doc("GEN", Transition(3, "up", 0, 8, "day", quality), SHANGHAI)["rung"]
    down = alert_doc("GEN", Transition(2, "down", 0, 4, "day", quality), SHANGHAI)["rung"]
    assert (up["name_zh"], up["name_en"]) == ("品质控制人员签入", "Quality staff sign in")
    assert (down["name_zh"], down["name_en"]) == ("品质控制人员签出", "Quality staff sign out")
    # The manual's sign-out rule (line 147), not the step's sign-in action.
    assert down["action_zh"] == "按签入顺序反方向逐步签出，台席恢复为正常状态"
    assert "reverse order" in down["action_en"]
    for step in (*rules.steps, rules.night_step, *rules.holiday_steps):
        zh, en, _, _ = step.signed_out()
        assert "签入" not in zh and " in" not in en.replace("inbound", ""), (zh, en)
