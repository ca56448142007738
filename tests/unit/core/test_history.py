"""Which half-hour and day rows a write makes due (core/history.py)."""

from base.assemble import pipeline_rules
from base.config import Settings
from core.events import dumps
from core.history import DAYS, HALF_HOURS, HistoryCursor, Span
from core.pipeline import Pipeline
from core.records import Record
from tests.unit.factories import SHANGHAI, at, call, event


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


def test_a_half_hour_counted_again_rewrites_every_later_one_up_to_now():
    cursor = HistoryCursor(SHANGHAI)
    cursor.due(["EN"], [("EN", at(10, 5))], at(11, 10), never_expired)
    due = cursor.due(["EN"], [("EN", at(10, 8))], at(11, 12), never_expired)
    assert [s.start_ms for s in due if s.kind == HALF_HOURS] == [at(10, 0), at(10, 30), at(11, 0)]


def _write(pipeline: Pipeline, cursor: HistoryCursor, rows: dict, result) -> None:
    """As the worker's writer does after a batch: the rows due, as of the clock."""
    now = pipeline.engine.now()
    for span in cursor.due(pipeline.queues(), result.minutes, now, never_expired):
        rows[span] = pipeline.history_row(span, cursor.end_of(span), now)


def test_rows_written_as_counted_equal_rows_written_at_the_end_when_a_queue_reads_behind():
    # EN's agent wraps up 10:07-10:07:30 and is then available to the end. GEN's records,
    # read ahead of EN's, take the clock to 11:40 while EN has counted only to the start
    # of the wrap-up: the rows written then show the agent in wrap-up since 10:07.
    first = [event("agent.login", at(10, 0), "EN", agent_id="A", state="available"),
             *call("c1", at(10, 5), queue="EN", answer_after_s=10, talk_s=110, agent="A"),
             event("agent.state", at(10, 5, 10), "EN", agent_id="A", state="on_call"),
             event("agent.state", at(10, 7), "EN", agent_id="A", state="acw"),
             *call("g1", at(11, 40), answer_after_s=5, agent="G")]
    later = [event("call.wrapped_up", at(10, 7, 30), "EN", call_id="c1", agent_id="A",
                   offered_ms=at(10, 5), acw_ms=30_000),
             event("agent.state", at(10, 7, 30), "EN", agent_id="A", state="available")]
    pipeline, cursor, rows = Pipeline(pipeline_rules(Settings())), HistoryCursor(SHANGHAI), {}
    for n, batch in enumerate((first, later)):
        offset = n * len(first)
        _write(pipeline, cursor, rows, pipeline.feed(
            [Record(dumps(e), 0, offset + i) for i, e in enumerate(batch)]))
    en = {s.start_ms: r["counters"] for s, r in rows.items() if s.queue == "EN"
          and s.kind == HALF_HOURS}
    # Available from 10:07:30 on: all of 10:30-11:00 and 11:00-11:30, 10 minutes of
    # 11:30 (the clock is 11:40:05, GEN's answer); no wrap-up after 10:07:30.
    assert [(en[t]["avail_ms"], en[t]["acw_time_ms"]) for t in (at(10, 30), at(11, 0), at(11, 30))
            ] == [(1_800_000, 0), (1_800_000, 0), (605_000, 0)]
    whole = {}
    _write(pipeline, HistoryCursor(SHANGHAI), whole, _AllMinutes(pipeline))
    assert rows == whole


class _AllMinutes:
    """A result naming every minute the pipeline holds (a first write after a restart)."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.minutes = set(pipeline.engine.buckets)
