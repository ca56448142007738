"""The breach forecast on cases worked by hand (core/forecast.py; docs/escalation.md#warning)."""

from __future__ import annotations

import math

import pytest

from core.forecast import Forecaster, ForecastRules, arrival_rates, holds, project, steady_queue

MIN = 60_000
T0 = 1_767_600_000_000  # a minute boundary


def _project(waiting, rates, agents=10, aht_min=2.0, abandon=0.0, since=None, margin=0.0):
    return project(T0, waiting, since, rates, agents, aht_min, abandon, 5, 300, margin).breach_ms


def test_above_capacity_the_queue_grows_by_the_excess_and_holds_for_the_period():
    # 8 calls/min against 10 agents * 1/2 min = 5/min: the queue grows 3 per minute and is
    # above 5 (5.5 in the fluid) after 5.5/3 = 1.83 min, first seen at the 15 s step
    # ending at 2:00; five minutes later the condition has held: 7:00.
    assert _project(0, [8.0] * 30) == T0 + 7 * MIN


def test_a_queue_already_above_counts_its_period_from_when_it_went_above():
    # Arrivals equal to what the agents take: 8 waiting stay 8; above since 2 min ago,
    # so the five minutes are up 3 min from now.
    assert _project(8, [5.0] * 30, since=T0 - 2 * MIN) == T0 + 3 * MIN


def test_a_light_load_never_breaches():
    assert _project(0, [1.0] * 30) is None  # rho = 0.2


def test_callers_giving_up_hold_the_queue_below_the_level():
    # dq/dt = 8 - 5 - 1 * q: the queue settles at 3, never above 5.
    assert _project(0, [8.0] * 30, abandon=1.0) is None


def test_callers_giving_up_slowly_let_it_reach_the_level_late():
    # dq/dt = 3 - 0.5 q: q(t) = 6 (1 - exp(-t / 2)) reaches 5.5 at t = 2 ln 12 = 4.97 min;
    # the 15 s steps (Euler) cross a little later, and the period adds 5 min: ~10 min.
    breach = _project(0, [8.0] * 30, abandon=0.5)
    exact = T0 + (2 * math.log(12) + 5) * MIN
    assert breach is not None and abs(breach - exact) <= 45_000


def test_the_margin_asks_the_queue_to_clear_the_level_by_its_random_swing():
    # The 3/min excess settles at 6 with abandon 0.5: just above 5.5, so one standard
    # deviation of its swing (sqrt((8 + 5) / (2 * 0.5)) = 3.6) puts it out of reach.
    assert _project(0, [8.0] * 30, abandon=0.5, margin=0.0) is not None
    assert _project(0, [8.0] * 30, abandon=0.5, margin=1.0) is None


def test_steady_queue_is_erlang_c():
    # 2 agents, 1 erlang: Erlang B = 0.5 / 2.5 = 0.2, C = 2 * 0.2 / (2 - 0.8) = 1/3;
    # rho = 0.5, so Lq = C * rho / (1 - rho) = 1/3.
    assert steady_queue(0.5, 2, 2.0, 0.0) == pytest.approx(1 / 3)
    assert steady_queue(0.5, 2, 2.0, 3.0) == pytest.approx(1 / 6)  # no more than 0.5 / 3
    assert steady_queue(1.0, 2, 2.0, 0.0) == math.inf  # at capacity


def test_arrival_rates_damp_the_trend_and_blend_the_earlier_days():
    assert arrival_rates(4.0, 0.0, 3, [], None) == [4.0, 4.0, 4.0]
    # Trend 1 per minute, damped by 0.9 a minute: 4 + 0.9, 4 + 0.9 + 0.81.
    assert arrival_rates(4.0, 1.0, 2, [], None) == pytest.approx([4.9, 5.71])
    # The earlier days said 2/min, today runs at 1.5x them: 3; one minute out the recent
    # minutes weigh 0.8 - 1/60.
    weight = 0.8 - 1 / 60
    assert arrival_rates(4.0, 0.0, 1, [2.0], 1.5) == pytest.approx([weight * 4 + (1 - weight) * 3])


def _minute(f: Forecaster, start: int, offered: int, ended: int = 0, handle_ms: int = 0) -> None:
    for i in range(offered):
        f.signal("Q", start + i * (MIN // max(offered, 1)), "offered", 1)
    for _ in range(ended):
        f.signal("Q", start + 59_000, "ended", handle_ms)


def _floor(f: Forecaster, agents: int) -> None:
    for i in range(agents):
        f.signal("Q", T0, "agent", (f"A{i}", "available"))


def test_a_rising_queue_is_warned_once_and_the_warning_ends_after_the_risk_has_passed():
    rules = ForecastRules(horizon_s=600, clear_after_s=300, cooldown_s=900, margin=0.0)
    f = Forecaster(rules)
    _floor(f, 10)
    changes = []
    waiting = 0
    for m in range(40):
        start = T0 + m * MIN
        busy = 10 <= m < 20
        _minute(f, start, 9 if busy else 2, ended=5 if busy else 2, handle_ms=120_000)
        waiting = min(waiting + 3, 12) if busy else max(0, waiting - 4)
        f.signal("Q", start + 59_500, "waiting", waiting)
        for boundary in f.close_minutes(start + MIN):
            estimate = f.estimate(boundary, None, 5, 300)
            change = f.judge(estimate, boundary, surging=False)
            if change:
                changes.append((change, (boundary - T0) // MIN))
    kinds = [c for c, _ in changes]
    assert kinds == ["warn", "warn_end"]
    warned, ended = (m for _, m in changes)
    assert 11 <= warned <= 14  # within a few minutes of the build-up starting at minute 10
    assert ended >= 25  # five minutes after the risk passed once the calls fell back (20)


def test_step_1_in_force_ends_a_warning_without_a_message_and_a_new_one_waits_the_cooldown():
    f = Forecaster(ForecastRules(horizon_s=600, cooldown_s=900))
    f.warning_ms = T0
    assert f.judge(None, T0 + MIN, surging=True) is None
    assert f.warning_ms is None and f.ended_ms == T0 + MIN

    class Soon:
        breach_ms = T0 + 5 * MIN
        early_ms = late_ms = breach_ms
        above_now = False  # confirmed minute by minute like any estimate

        def doc(self):
            return {}

    assert f.judge(Soon(), T0 + 2 * MIN, surging=False) is None  # within the cooldown
    assert f.judge(Soon(), T0 + 16 * MIN, surging=False) == "warn"


def test_the_state_round_trips_through_json():
    import json

    f = Forecaster(ForecastRules())
    _floor(f, 3)
    _minute(f, T0, 4, ended=2, handle_ms=90_000)
    f.signal("Q", T0 + 30_000, "waiting", 2)
    f.close_minutes(T0 + 3 * MIN)
    back = Forecaster.restore(ForecastRules(), json.loads(json.dumps(f.state())))
    assert back.state() == f.state()
    assert back.estimate(T0 + 3 * MIN, None, 5, 300) == f.estimate(T0 + 3 * MIN, None, 5, 300)


def test_a_silence_of_days_crossed_at_once_leaves_the_state_of_a_minute_by_minute_walk():
    # Live, the worker closes minutes every second; a file closes a silence in one call.
    # Both must forecast alike afterwards (the same log, the same warnings).
    def busy_day(f: Forecaster, day: int) -> None:
        start = T0 + day * 86_400_000
        for m in range(120):
            _minute(f, start + m * MIN, 3, ended=2, handle_ms=150_000)
            f.close_minutes(start + (m + 1) * MIN)

    walked, jumped = Forecaster(ForecastRules()), Forecaster(ForecastRules())
    for f in (walked, jumped):
        _floor(f, 6)
        f.signal("Q", T0, "waiting", 2)
        busy_day(f, 0)
    resume = T0 + 12 * 86_400_000  # twelve days on: more than the 7 the blend reads
    for m in range((resume - walked.minute_ms) // MIN):
        walked.close_minutes(walked.minute_ms + MIN)
    closed = jumped.close_minutes(resume)
    assert len(closed) < 9 * 1440  # the last days of the silence were crossed at once
    assert jumped.minute_ms == walked.minute_ms == resume
    read = ("minute_ms", "cur", "recent", "level", "trend", "waiting", "agents", "aht_ms")
    assert {k: jumped.state()[k] for k in read} == {k: walked.state()[k] for k in read}
    for f in (walked, jumped):
        busy_day(f, 12)
    assert jumped.estimate(walked.minute_ms, None, 5, 300) == walked.estimate(
        walked.minute_ms, None, 5, 300)
    assert jumped.level == walked.level and jumped.trend == walked.trend


def test_a_warning_and_its_end_read_as_such_not_as_a_step():
    from core.escalation import WARNING_RUNG, alert_doc
    from core.ladder import Transition
    from tests.unit.factories import SHANGHAI

    warn = alert_doc("GEN", Transition(0, "warn", T0, 4, "day", WARNING_RUNG, {}), SHANGHAI)
    end = alert_doc("GEN", Transition(0, "warn_end", T0, 1, "day", WARNING_RUNG), SHANGHAI)
    assert (warn["step"], warn["rung"]["name_en"]) == (0, "Step 1 likely soon")
    assert warn["alert_id"] == f"GEN:{T0}:warn:0" and "forecast" in warn
    assert (end["rung"]["name_zh"], end["rung"]["action_en"]) == (
        "一级预警解除", "The risk has passed: the floating experts need not sign in")


def test_the_chance_a_run_holds_is_the_minimum_of_a_brownian_motion():
    # No drift (2 calls a minute in, 2 out), variance rate 4 a minute, 1.5 callers above
    # the level, 3 minutes: the reflection principle gives 2 Phi(1.5 / sqrt(12)) - 1.
    phi = lambda z: 0.5 * (1 + math.erf(z / math.sqrt(2)))  # noqa: E731
    assert holds(1.5, 2.0, 2.0, 0.0, 3.0) == pytest.approx(2 * phi(1.5 / math.sqrt(12)) - 1)
    # Growing by 2 a minute it holds more often, shrinking by 2 less often; and the
    # further above the level, the likelier.
    flat = holds(1.5, 2.0, 2.0, 0.0, 3.0)
    assert holds(1.5, 2.0, 4.0, 0.0, 3.0) < flat < holds(1.5, 4.0, 2.0, 0.0, 3.0)
    assert holds(4.5, 4.0, 2.0, 0.0, 3.0) > holds(1.5, 4.0, 2.0, 0.0, 3.0)
    assert holds(1.5, 2.0, 2.0, 0.0, 0.0) == 1.0  # the period is already up


def test_the_answers_judge_the_agent_states_only_after_step_1s_period_of_waiting():
    # Ten agents shown available, AHT 4 minutes: the states promise 2.5 answers a minute.
    # Callers have waited throughout the last k minutes and none was answered. Four
    # minutes do not judge the states (step 1's period is 5): 2.5 stands. Five do: 12.5
    # answers were promised, 0 is more than 2 sd (2 * 3.5) short, so the queue's capacity
    # is what it got, none. Judged on one minute, as before, four minutes would condemn
    # them too (10 promised, 0 < 10 - 2 * 3.2).
    def forecaster(minutes_waited: int) -> Forecaster:
        f = Forecaster(ForecastRules())
        f.agents = {"Q": {f"A{i}": "available" for i in range(10)}}
        f.aht_ms = 240_000
        f.waiting = {"Q": 8}
        f.recent = [[2, 0, 0, 0, 0, 0, 0]] * (30 - minutes_waited) + \
            [[2, 0, 0, 0, 8 * MIN, 0, MIN]] * minutes_waited
        return f

    assert forecaster(4).capacity(judged_min=5) == (2.5, 0.0)
    assert forecaster(5).capacity(judged_min=5) == (0.0, 0.0)
    assert forecaster(4).capacity(judged_min=1) == (0.0, 0.0)
