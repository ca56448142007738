"""The staffing-plan CSV: what a row means, and errors that name file, line and column."""

import re
from datetime import datetime

import pytest

from core.schedule import ScheduleError, load_schedule
from tests.unit.factories import SHANGHAI, at

MIN = 60_000


def write(tmp_path, text):
    path = tmp_path / "plan.csv"
    path.write_text("queue,day,start,end,agents\n" + text)
    return path


def test_dates_beat_weekdays_beat_every_day(tmp_path):
    path = write(tmp_path, "GEN,*,08:00,18:00,10\nGEN,mon,09:00,10:00,12\n"
                           "GEN,2026-01-05,09:30,10:00,3\n")
    plan = load_schedule(path, SHANGHAI)
    assert datetime(2026, 1, 5).weekday() == 0  # a Monday
    assert plan.planned("GEN", at(8, 10)) == 10
    assert plan.planned("GEN", at(9, 10)) == 12
    assert plan.planned("GEN", at(9, 40)) == 3
    assert plan.planned("GEN", at(9, 40, day=12)) == 12  # the next Monday
    assert plan.planned("GEN", at(7, 59)) is None
    assert plan.planned("BIZ", at(9, 0)) is None


def test_scheduled_time_is_agents_times_overlap(tmp_path):
    plan = load_schedule(write(tmp_path, "GEN,*,08:00,09:00,4\nGEN,*,09:00,24:00,2\n"),
                         SHANGHAI)
    # 08:45-09:10: 15 min x 4 agents + 10 min x 2 agents
    assert plan.scheduled_ms("GEN", at(8, 45), at(9, 10)) == (15 * 4 + 10 * 2) * MIN


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("GEN,*,08:15,09:00,4", "line 2, column start: '08:15' is not on a half hour"),
        ("GEN,someday,08:00,09:00,4", "line 2, column day"),
        ("GEN,*,09:00,08:00,4", "line 2, column end: must be after start"),
        ("GEN,*,08:00,09:00,four", "line 2, column agents"),
        ("GEN,*,08:00,09:00,4\nGEN,*,08:30,10:00,2", "line 3: GEN * 08:30 is already planned"),
    ],
)
def test_bad_rows_name_the_line_and_column(tmp_path, row, message):
    path = write(tmp_path, row + "\n")
    with pytest.raises(ScheduleError, match=re.escape(message)) as info:
        load_schedule(path, SHANGHAI)
    assert str(path) in str(info.value)


def test_a_missing_column_is_named(tmp_path):
    path = tmp_path / "plan.csv"
    path.write_text("queue,start,end,agents\nGEN,08:00,09:00,1\n")
    with pytest.raises(ScheduleError, match="missing column"):
        load_schedule(path, SHANGHAI)
