"""Key moments worked by hand on small timelines and event lists."""

from core.incident import Minute, abandoned_calls, key_moments, not_ready_by_reason

M = 60_000


def minute(i: int, waiting: int, longest: float = 0.0) -> Minute:
    return Minute(at_ms=i * M, waiting=waiting, longest_wait_s=longest, available=0, on_call=0,
                  acw=0, not_ready=0, seats_needed=None, staffed=0)


def test_breach_peak_and_recovery():
    # waiting: 2 4 6 9 9 7 5 8 3 -> breach at minute 2 (6 > 5), first peak 9 at minute 3,
    # recovered at minute 6 (5, the first minute after the peak with <= 5 waiting).
    timeline = [minute(i, w, longest=float(10 * i)) for i, w in
                enumerate([2, 4, 6, 9, 9, 7, 5, 8, 3])]
    moments = key_moments(timeline, threshold=5)
    assert moments == {
        "first_breach_ms": 2 * M, "peak_waiting": 9, "peak_waiting_ms": 3 * M,
        "peak_longest_wait_s": 80.0, "peak_longest_wait_ms": 8 * M,
        "recovered_ms": 6 * M, "recovery_s": 240.0,
        "surge_ms": None,  # more than 5 waited minutes 2-5 only: 3 minutes, not 5
    }


def test_no_breach_and_no_recovery():
    assert key_moments([minute(0, 5), minute(1, 3)], threshold=5)["first_breach_ms"] is None
    moments = key_moments([minute(0, 6), minute(1, 7)], threshold=5)
    assert moments["peak_waiting_ms"] == M and moments["recovered_ms"] is None
    assert moments["recovery_s"] is None


def test_abandoned_calls_in_the_range_with_their_waits():
    events = [
        {"type": "call.abandoned", "queue": "GEN", "call_id": "b", "ts_ms": 90_000,
         "offered_ms": 0, "wait_ms": 90_000},
        {"type": "call.abandoned", "queue": "GEN", "call_id": "a", "ts_ms": 30_500,
         "offered_ms": 0, "wait_ms": 30_500},
        {"type": "call.abandoned", "queue": "BIZ", "call_id": "c", "ts_ms": 200_000,
         "offered_ms": 0, "wait_ms": 1},
        {"type": "call.answered", "queue": "GEN", "call_id": "d", "ts_ms": 40_000},
    ]
    assert abandoned_calls(events, 0, 100_000) == [
        {"queue": "GEN", "call_id": "a", "abandoned_ms": 30_500, "wait_s": 30.5, "short": False},
        {"queue": "GEN", "call_id": "b", "abandoned_ms": 90_000, "wait_s": 90.0, "short": False},
    ]


def test_a_short_abandon_is_flagged_as_the_rates_leave_it_out():
    # GEN's limit 5 s (B13): 5.0 s is short ("within" includes the limit), 5.001 s is not.
    events = [{"type": "call.abandoned", "queue": "GEN", "call_id": c, "ts_ms": t,
               "offered_ms": 0, "wait_ms": w}
              for c, t, w in (("a", 1_000, 5_000), ("b", 2_000, 5_001), ("c", 3_000, 900))]
    rows = abandoned_calls(events, 0, 10_000, lambda queue: 5)
    assert [(r["call_id"], r["short"]) for r in rows] == [("a", True), ("b", False), ("c", True)]
    assert all(not r["short"] for r in abandoned_calls(events, 0, 10_000, lambda queue: 0))


def test_not_ready_seconds_by_reason_clipped_to_the_window():
    def state(agent: str, at_s: int, value: str, reason: str | None = None) -> dict:
        e = {"type": "agent.state", "queue": "GEN", "agent_id": agent, "ts_ms": at_s * 1000,
             "state": value}
        if reason:
            e["reason"] = reason
        return e

    events = [
        state("a1", 0, "not_ready", "break"),     # 0-100 s, window from 50: 50 s of break
        state("a1", 100, "available"),
        state("a2", 60, "not_ready", "training"),  # 60 s to the logout at 120: 60 s
        {"type": "agent.logout", "queue": "GEN", "agent_id": "a2", "ts_ms": 120_000},
        state("a3", 150, "not_ready"),            # open at the window's end (200): 50 s, no reason
    ]
    assert not_ready_by_reason(events, 50_000, 200_000) == {
        "": 50.0, "break": 50.0, "training": 60.0}


def test_a_one_minute_dip_is_not_a_recovery_when_waiting_must_stay_low():
    # waiting: 8 9 3 8 8 8 4 2 2 2 2 2 1 (minutes 0-12), threshold 5, hold 5 minutes:
    # minute 2 dips to 3 and waiting is back at 8 a minute later; from minute 6 it stays
    # at or below 5 through minute 11 (6 + 5): recovered at 6, 360 s after the breach.
    timeline = [minute(i, w) for i, w in enumerate([8, 9, 3, 8, 8, 8, 4, 2, 2, 2, 2, 2, 1])]
    assert key_moments(timeline, threshold=5)["recovered_ms"] == 2 * M  # no hold: the dip
    held = key_moments(timeline, threshold=5, hold_ms=5 * M)
    assert held["recovered_ms"] == 6 * M and held["recovery_s"] == 360.0
    # A range that ends before the hold does cannot confirm a recovery.
    assert key_moments(timeline[:9], threshold=5, hold_ms=5 * M)["recovered_ms"] is None


def test_the_centre_level_surge_is_five_minutes_above_the_threshold_minute_by_minute():
    # waiting: 4 6 7 8 9 9 9 3 (minutes 0-7): above 5 from minute 1; at minute 6 it has
    # been above 5 at every minute since minute 1, five minutes: the centre's step 1.
    timeline = [minute(i, w) for i, w in enumerate([4, 6, 7, 8, 9, 9, 9, 3])]
    assert key_moments(timeline, threshold=5)["surge_ms"] == 6 * M
    # A dip to 5 at minute 3 starts the five minutes again: none within the range.
    dipped = [minute(i, w) for i, w in enumerate([4, 6, 7, 5, 9, 9, 9, 9, 3])]
    assert key_moments(dipped, threshold=5)["surge_ms"] is None
