"""Rejected events said aloud (issue #32 item 2): the share of the last 15 minutes' events
the worker set aside, from its cumulative counters, and the main reason."""

from __future__ import annotations

from wallboard.wall import RejectionWatch

MIN = 60_000


def stats(events: int, dead: int, **reasons: int) -> dict[str, int]:
    return {"events_in": events, "dead_letters": dead,
            **{f"dead_letter.{k}": v for k, v in reasons.items()}, "duplicates": 7}


def test_over_one_percent_of_the_window_is_said_with_the_main_reason():
    watch = RejectionWatch()
    assert watch.observe(0, stats(10_000, 50, bad_field=50)) is None  # nothing seen yet
    # 1,000 more events, 30 of them rejected (3%): 20 bad_field, 10 unknown_queue.
    assert watch.observe(MIN, stats(11_000, 80, bad_field=70, unknown_queue=10)) == (
        30, 1000, "bad_field")


def test_one_percent_or_less_is_quiet_and_old_rejections_age_out():
    watch = RejectionWatch()
    watch.observe(0, stats(0, 0))
    assert watch.observe(MIN, stats(1000, 10, bad_field=10)) is None  # exactly 1%
    assert watch.observe(2 * MIN, stats(2000, 300, bad_field=300)) == (300, 2000, "bad_field")
    # 20 minutes on, with clean traffic since: the burst is out of the 15-minute window.
    for m in range(3, 23):
        last = watch.observe(m * MIN, stats(2000 + (m - 2) * 500, 300, bad_field=300))
    assert last is None


def test_counters_that_start_again_start_the_window_again():
    watch = RejectionWatch()
    watch.observe(0, stats(5000, 4000, bad_field=4000))
    watch.observe(MIN, stats(6000, 4000, bad_field=4000))
    # Redis lost its stats: the totals restart from small numbers; no negative deltas.
    assert watch.observe(2 * MIN, stats(100, 0)) is None
    assert watch.observe(3 * MIN, stats(300, 50, future=50)) == (50, 200, "future")


def test_the_reasons_are_listed_most_first():
    from wallboard.present import rejected_line

    line = rejected_line(stats(500, 12, bad_field=9, future=3, unknown_queue=0), "en")
    assert line == "rejected events: 12 — bad_field 9 · future 3"
    assert rejected_line(stats(500, 0), "en") == ""
