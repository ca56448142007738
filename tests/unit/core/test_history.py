"""Which half-hour and day rows a write makes due (core/history.py)."""

from core.history import DAYS, HALF_HOURS, HistoryCursor, Span
from tests.unit.factories import SHANGHAI, at


def never_expired(_queue):
    return None


def test_first_write_covers_the_touched_half_hours_up_to_now_and_their_day():
    cursor = HistoryCursor(SHANGHAI)
    due = cursor.due(["GEN"], [("GEN", at(9, 5)), ("GEN", at(10, 31))], at(10, 40), never_expired)
    # 09:00, 09:30 (quiet, filled), 10:00 (quiet, filled), 10:30 (touched, current)
    assert due == sorted([Span(HALF_HOURS, "GEN", at(h, m)) for h, m in
                          [(9, 0), (9, 30), (10, 0), (10, 30)]] + [Span(DAYS, "GEN", at(0, 0))])


def test_a_tick_before_any_event_writes_only_the_current_half_hour():
    cursor = HistoryCursor(SHANGHAI)
    due = cursor.due(["GEN"], [], at(10, 40), never_expired)
    assert due == [Span(DAYS, "GEN", at(0, 0)), Span(HALF_HOURS, "GEN", at(10, 30))]


def test_later_writes_fill_the_gap_since_the_last_one_and_ignore_other_queues():
    cursor = HistoryCursor(SHANGHAI)
    cursor.due(["GEN"], [("GEN", at(9, 5))], at(9, 10), never_expired)
    due = cursor.due(["GEN"], [("VIP", at(9, 5))], at(10, 5), never_expired)
    assert [s.start_ms for s in due if s.kind == HALF_HOURS] == [at(9, 0), at(9, 30), at(10, 0)]
    assert {s.queue for s in due} == {"GEN"}


def test_rows_before_the_expired_minutes_are_left_as_written():
    cursor = HistoryCursor(SHANGHAI)
    due = cursor.due(["GEN"], [("GEN", at(9, 5)), ("GEN", at(10, 5))], at(10, 10),
                     lambda queue: at(9, 45))
    assert [s.start_ms for s in due if s.kind == HALF_HOURS] == [at(10, 0)]
    assert [s.kind for s in due] == [HALF_HOURS]  # the day began before the cut too


def test_the_gap_filled_after_a_long_silence_is_bounded():
    cursor = HistoryCursor(SHANGHAI, max_fill_ms=3_600_000)
    cursor.due(["GEN"], [("GEN", at(9, 5))], at(9, 10), never_expired)
    due = cursor.due(["GEN"], [], at(15, 10), never_expired)
    # an hour back from 15:00: 14:00, 14:30, 15:00
    assert [s.start_ms for s in due if s.kind == HALF_HOURS] == [at(14, 0), at(14, 30), at(15, 0)]
