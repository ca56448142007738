"""The counting engine on typed records: attribution, duplicates, order, windows, expiry."""

import random

import pytest

from base.config import Settings
from core import events as ev
from core.engine import Engine
from tests.unit.factories import SHANGHAI, at, call, event

MIN = 60_000


def engine(retention_h=48, max_wait_h=4):
    settings = Settings()
    return Engine(settings.rule_book().rules_for, SHANGHAI, retention_ms=retention_h * 3_600_000,
                  max_wait_ms=max_wait_h * 3_600_000)


def test_a_call_counts_in_the_interval_it_was_offered():
    e = engine()
    # Offered 10:29:50, answered 10:30:05: the answer belongs to 10:00-10:30.
    e.apply(call("c", at(10, 29, 50), answer_after_s=15))
    w = e.windows("GEN", at(10, 30, 10))
    assert w["interval"][2]["answered"] == 0  # the 10:30 half hour has no call
    first = e.counters_between("GEN", at(10, 0), at(10, 30))
    assert (first["entered"], first["answered"], first["answered_in_t"]) == (1, 1, 1)


def test_duplicates_and_replays_count_once():
    events = call("a", at(9, 0), answer_after_s=12, talk_s=60, acw_s=10) + call(
        "b", at(9, 1), abandon_after_s=40)
    once = engine()
    once.apply(events)
    twice = engine()
    r1 = twice.apply(events + events[:3])
    r2 = twice.apply(list(reversed(events)))
    assert r1.duplicates == 3 and r2.duplicates == len(events)
    assert twice.counters_between("GEN", at(9, 0), at(9, 30)) == once.counters_between(
        "GEN", at(9, 0), at(9, 30))
    assert twice.live_state("GEN").waiting == {}


def test_a_batch_names_each_minute_and_queue_it_changed():
    e = engine()
    batch = []
    for i in range(50):
        batch += call(f"c{i}", at(9, 0, i), answer_after_s=5)
    batch += call("late", at(9, 3), answer_after_s=70)  # answered in another minute
    result = e.apply(batch)
    # "A call belongs to the interval in which it was offered" (docs/kpis.md).
    assert result.minutes == {("GEN", at(9, 0)), ("GEN", at(9, 3))}
    assert result.queues == {"GEN"}


def test_an_answer_that_overtakes_its_offer_leaves_nobody_waiting():
    offered, answered = call("c", at(9, 0), answer_after_s=8)
    e = engine()
    e.apply([answered])
    e.apply([offered])
    assert e.live_state("GEN").waiting == {}
    assert e.counters_between("GEN", at(9, 0), at(9, 1))["entered"] == 1


def test_order_inside_a_batch_does_not_matter():
    events = []
    for i in range(30):
        events += call(f"c{i}", at(9, i // 2, i), answer_after_s=i, talk_s=30, acw_s=5)
    shuffled = events[:]
    random.Random(4).shuffle(shuffled)
    a, b = engine(), engine()
    a.apply(events)
    b.apply(shuffled)
    assert a.buckets == b.buckets
    assert a.live == b.live


def test_rolling_windows_cover_the_current_and_previous_minutes():
    e = engine()
    # one call in each minute 09:00 .. 09:59
    for m in range(60):
        e.apply(call(f"c{m}", at(9, m, 10), answer_after_s=1))
    w = e.windows("GEN", at(9, 59, 30))
    assert w["rolling_15"][2]["entered"] == 15  # minutes 09:45 .. 09:59
    assert w["rolling_30"][2]["entered"] == 30
    assert w["rolling_60"][2]["entered"] == 60
    assert w["interval"][2]["entered"] == 30  # 09:30 .. 09:59
    assert w["day"][2]["entered"] == 60


def test_day_resets_at_local_midnight():
    e = engine()
    e.apply(call("late", at(23, 59, 0, day=5), answer_after_s=3))
    e.apply(call("early", at(0, 1, 0, day=6), answer_after_s=3))
    w = e.windows("GEN", at(0, 2, 0, day=6))
    assert w["day"][2]["entered"] == 1
    assert w["rolling_15"][2]["entered"] == 2


def test_day_total_follows_late_answers_into_closed_half_hours():
    e = engine()
    offered = call("c", at(9, 10), answer_after_s=30)
    e.apply(offered[:1])
    assert e.windows("GEN", at(10, 0))["day"][2]["answered"] == 0
    e.apply(offered[1:])
    assert e.windows("GEN", at(10, 0))["day"][2]["answered"] == 1


def test_calls_waiting_and_agents_by_state():
    e = engine()
    e.apply([
        event("agent.login", at(8, 0), agent_id="a1"),
        event("agent.login", at(8, 0), agent_id="a2"),
        event("agent.state", at(8, 5), agent_id="a2", state="not_ready", reason="break"),
        event("agent.state", at(8, 1), agent_id="a2", state="available"),  # older: ignored
        *call("w1", at(8, 10)),
        *call("w2", at(8, 11)),
    ])
    state = e.live_state("GEN")
    assert sorted(state.waiting) == ["w1", "w2"]
    assert {a: s for a, (s, _) in state.agents.items()} == {"a1": "available", "a2": "not_ready"}
    e.apply([event("agent.logout", at(8, 20), agent_id="a1")])
    assert e.live_state("GEN").agents["a1"][0] == "logged_out"


def test_a_call_waiting_longer_than_max_wait_is_dropped_and_counted():
    e = engine(max_wait_h=1)
    e.apply(call("ghost", at(8, 0)))
    result = e.apply(call("next", at(9, 30)))
    assert result.lost_waiting == 1
    assert list(e.live_state("GEN").waiting) == ["next"]


def test_events_older_than_retention_are_set_aside():
    e = engine(retention_h=25)
    e.apply(call("now", at(12, 0, day=6)))
    result = e.apply(call("old", at(10, 0, day=5), answer_after_s=3))
    assert len(result.late) == 2 and result.applied == 0


def test_expire_drops_old_minutes():
    e = engine(retention_h=25)
    e.apply(call("old", at(10, 0, day=5)))
    e.apply(call("new", at(12, 0, day=6)))
    assert e.expire() == 1
    assert list(e.buckets) == [("GEN", at(12, 0, day=6))]


def test_clock_recovers_from_live_state_after_restart():
    first = engine()
    first.apply(call("c", at(9, 0), answer_after_s=5))
    restarted = Engine(Settings().rule_book().rules_for, SHANGHAI, retention_ms=None, max_wait_ms=1)
    restarted.buckets, restarted.live = first.buckets, first.live
    assert restarted.now() == at(9, 0, 5)
    assert restarted.now(wall_ms=at(9, 5)) == at(9, 5)


@pytest.mark.parametrize("etype", sorted(ev.CALL_TYPES | ev.AGENT_TYPES))
def test_every_event_type_has_an_order(etype):
    from core.engine import _RANK

    assert etype in _RANK


def _agent(etype, ts, agent="A1", queue="GEN", **fields):
    return event(etype, ts, queue, agent_id=agent, **fields)


def _agent_day():
    """A1: login 10:00, call 10:02-10:07, ACW to 10:08, available, not ready 10:10,
    logout 10:20; A2 logs in 10:25 and is still available."""
    return [
        _agent("agent.login", at(10, 0), state="available"),
        *call("c1", at(10, 1, 58), answer_after_s=2, talk_s=300, acw_s=60, ring_s=2),
        _agent("agent.state", at(10, 2), state="on_call"),
        _agent("agent.state", at(10, 7), state="acw"),
        _agent("agent.state", at(10, 8), state="available"),
        _agent("agent.state", at(10, 10), state="not_ready", reason="break"),
        _agent("agent.logout", at(10, 20)),
        _agent("agent.login", at(10, 25), agent="A2", state="available"),
    ]


def test_agent_time_is_split_by_state_and_open_spans_count_up_to_now():
    e = engine()
    e.apply(_agent_day())
    counters, agents = e.window("GEN", at(10, 0), at(10, 30), at(10, 30), with_agents=True)
    # A1: available 10:00-10:02 and 10:08-10:10 (4 min), on call 5, ACW 1, not ready 10;
    # A2: available 10:25-10:30, still open at "now".
    assert counters["avail_ms"] == (4 + 5) * MIN
    assert counters["busy_ms"] == 5 * MIN
    assert counters["acw_time_ms"] == 1 * MIN
    assert counters["not_ready_ms"] == 10 * MIN
    assert agents["A1"][:4] == [4 * MIN, 5 * MIN, 1 * MIN, 10 * MIN]
    assert agents["A2"][:4] == [5 * MIN, 0, 0, 0]
    # A window ending before A2 logged in has none of A2's time.
    early, _ = e.window("GEN", at(10, 0), at(10, 15), at(10, 30))
    assert early["avail_ms"] == 4 * MIN and early["not_ready_ms"] == 5 * MIN


def test_agent_time_stays_exact_across_half_hours_and_replays():
    e = engine()
    events = [_agent("agent.login", at(9, 50), state="available"),
              _agent("agent.state", at(10, 40), state="not_ready")]
    e.apply(events)
    e.apply(events)  # a replay adds nothing
    first, _ = e.window("GEN", at(9, 30), at(10, 0), at(11, 0))
    second, _ = e.window("GEN", at(10, 0), at(10, 30), at(11, 0))
    third, _ = e.window("GEN", at(10, 30), at(11, 0), at(11, 0))
    assert [first["avail_ms"], second["avail_ms"], third["avail_ms"]] == [
        10 * MIN, 30 * MIN, 10 * MIN]
    assert third["not_ready_ms"] == 20 * MIN  # open from 10:40 to "now", 11:00


def test_schedule_gives_adherence_and_attendance():
    settings = Settings()
    planned = {"GEN": 2}

    def scheduled(queue, start, end):
        return planned.get(queue, 0) * (end - start)

    e = Engine(settings.rule_book().rules_for, SHANGHAI, retention_ms=None, max_wait_ms=1 << 40,
               scheduled_ms=scheduled)
    e.apply(_agent_day())
    w = e.windows("GEN", at(10, 29, 59, ) + 1000)  # now = 10:30:00, half hour 10:30-11:00
    day = w["day"][2]
    # Two agents planned 00:00-10:30 of the day: scheduled 2 x 630 min.
    assert day["scheduled_ms"] == 2 * 630 * MIN
    assert day["avail_ms"] + day["busy_ms"] + day["acw_time_ms"] == (9 + 5 + 1) * MIN


def test_a_repeat_caller_within_the_window_marks_the_answered_call_unresolved():
    e = engine()
    events = (
        call("x1", at(9, 0), answer_after_s=5, caller="13800000001")
        + call("y1", at(9, 5), answer_after_s=5, caller="13800000002")
        + call("z1", at(9, 10), abandon_after_s=30, caller="13800000003")
        + call("z2", at(9, 20), answer_after_s=5, caller="13800000003")  # z1 not answered
        + call("x2", at(20, 0), answer_after_s=5, caller="13800000001")  # x1 repeated
        + call("y2", at(9, 6, day=6), answer_after_s=5, caller="13800000002")  # 24 h 1 min
    )
    e.apply(events)
    e.apply(events)  # replayed: still one repeat
    morning = e.counters_between("GEN", at(9, 0), at(9, 30))
    assert morning["answered"] == 3 and morning["repeated"] == 1
    from core import kpi
    assert kpi.derive(morning)["fcr"] == pytest.approx(2 / 3)
    stored = repr(dict(e.buckets)) + repr(dict(e.callers))
    assert "13800000001" not in stored  # numbers are kept only hashed
    assert len(e.callers) == 3
    # A restarted worker rebuilds the index from the buckets and still finds repeats.
    restarted = Engine(Settings().rule_book().rules_for, SHANGHAI, retention_ms=48 * 3_600_000,
                       max_wait_ms=4 * 3_600_000)
    restarted.buckets, restarted.live = e.buckets, e.live
    restarted.apply(call("y3", at(10, 0, day=6), answer_after_s=5, caller="13800000002"))
    assert restarted.counters_between("GEN", at(9, 0, day=6), at(9, 30, day=6))["repeated"] == 1


def test_repeat_callers_expire_with_the_window():
    e = engine()
    e.apply(call("a", at(9, 0), answer_after_s=5, caller="139"))
    # Kept for the repeat window (24 h) from its answer, which can come up to
    # max_wait (4 h here) after its offer: 28 h.
    e.apply(call("b", at(12, 59, day=6), answer_after_s=5))
    e.expire()
    assert len(e.callers) == 1
    e.apply(call("c", at(13, 1, day=6), answer_after_s=5))
    e.expire()
    assert len(e.callers) == 0 and len(e.call_caller) == 0


def test_a_queue_read_far_ahead_does_not_expire_another_queues_windows():
    """Partitions are consumed unevenly: GEN may be days ahead of VIP in a replay."""
    e = engine(retention_h=48)
    e.apply(call("g", at(9, 0, day=9), queue="GEN", answer_after_s=5))  # four days later
    e.expire()
    result = e.apply(call("v1", at(9, 0), queue="VIP", answer_after_s=5, caller="137")
                     + call("v2", at(21, 0), queue="VIP", answer_after_s=5, caller="137"))
    e.expire()
    assert result.late == []
    vip = e.counters_between("VIP", at(9, 0), at(9, 30))
    assert (vip["answered"], vip["repeated"]) == (1, 1)


def test_every_answered_call_the_caller_calls_back_after_is_unresolved():
    # Issue 10's example (GEN, one caller): A offered 10:00:00, B offered 10:00:02,
    # A answered 10:00:05, B answered 10:00:10, C offered 10:05:00. C comes after both
    # answers and within 24 h of them: A and B are unresolved, FCR 0 (docs/kpis.md B16).
    from core import kpi

    a = call("A", at(10, 0), answer_after_s=5, caller="139")
    b = call("B", at(10, 0, 2), answer_after_s=8, caller="139")
    c = call("C", at(10, 5), caller="139")
    for order in ([*a, *b, *c], [*c, *b, *a], [b[1], *c, a[1], a[0], b[0]]):
        e = engine()
        for ev_ in order:
            e.apply([ev_])  # one by one, in arrival order: late answers included
        day = e.counters_between("GEN", at(10, 0), at(10, 30))
        assert (day["answered"], day["repeated"]) == (2, 2)
        assert kpi.derive(day)["fcr"] == 0.0
    # B's offer came before A's answer: it does not make A unresolved on its own.
    e = engine()
    e.apply([*a, *b])
    assert e.counters_between("GEN", at(10, 0), at(10, 30))["repeated"] == 0
