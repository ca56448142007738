"""The broker roll's pure parts: when it is due, who is behind, the checkpoint files."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from base.config import Settings
from base.local_broker.carried import read_checkpoint_file, saved_offsets, write_checkpoint_file
from callboard.roll import Drain, RollClock

SHANGHAI = ZoneInfo("Asia/Shanghai")


def at(hour: int, minute: int = 0, day: int = 3) -> float:
    return datetime(2026, 12, day, hour, minute, tzinfo=SHANGHAI).timestamp()


def test_the_roll_falls_at_the_quiet_hour_once_a_day():
    clock = RollClock(Settings(local_roll_at="04:00"), last=at(12))
    assert clock.due(at(3, 59, day=4), broker_mb=50) is None
    assert clock.due(at(4, 0, day=4), broker_mb=50) == "the quiet hour (04:00)"
    clock.last = at(4, 0, day=4)
    assert clock.due(at(4, 30, day=4), broker_mb=50) is None  # done for today
    assert clock.due(at(4, 1, day=5), broker_mb=50) == "the quiet hour (04:00)"


def test_a_broker_over_its_memory_bound_rolls_at_once_unless_a_roll_was_just_called_off():
    clock = RollClock(Settings(local_roll_at=None, local_roll_above_mb=1500), last=at(9))
    assert clock.due(at(10), broker_mb=1499) is None
    assert clock.due(at(10), broker_mb=1501).startswith("the broker holds 1501 MB")
    clock.not_before = at(10, 10)
    assert clock.due(at(10, 5), broker_mb=1600) is None
    assert clock.due(at(10, 10), broker_mb=1600) is not None


def test_every_n_seconds_for_tests_and_benches():
    clock = RollClock(Settings(local_roll_at=None, local_roll_every_s=30), last=1000.0)
    assert clock.due(1029.9, None) is None
    assert clock.due(1030.0, None) == "every 30 s"


def test_the_broker_may_go_only_when_every_reader_holds_every_record():
    drain = Drain(events_end={0: 10, 1: 0}, alerts_end=3, dead_end=1,
                  worker={0: 10, 1: 0}, archive={0: 9, 1: 0}, notifier=2)
    assert drain.behind() == ["archive p0 9/10", "notifier 2/3"]
    drain.archive[0], drain.notifier = 10, 3
    assert drain.behind() == []


def test_a_checkpoint_file_is_read_back_whole_or_not_at_all(tmp_path):
    write_checkpoint_file(tmp_path, 2, b"state" * 100, 41, "topic-a")
    saved = read_checkpoint_file(tmp_path, 2)
    assert saved is not None
    assert (saved.blob, saved.offset, saved.source) == (b"state" * 100, 41, "topic-a")
    assert saved_offsets(tmp_path, 3) == {0: (-1, None), 1: (-1, None), 2: (41, "topic-a")}
    path = tmp_path / "p2.checkpoint"
    path.write_bytes(path.read_bytes()[:-1])  # cut short
    assert read_checkpoint_file(tmp_path, 2) is None
    assert read_checkpoint_file(None, 2) is None


def test_an_archive_position_of_the_last_rolls_topic_covers_nothing_of_the_new_one(tmp_path):
    # After a roll the archiver may not have met the new topic yet: its position file
    # still counts in the old one (5,000 records). The new topic holds 3,000: the broker
    # may not go until the archive holds them (a roll that let it go lost 1,455 events).
    import json

    from callboard.roll import _archived

    settings = Settings(archive_dir=tmp_path, events_topic="ev", topic_partitions=2)
    positions = tmp_path / ".positions"
    positions.mkdir()
    (positions / "ev-p0.json").write_text(json.dumps(
        {"next_offset": 5000, "lengths": {}, "source": "old-topic"}))
    (positions / "ev-p1.json").write_text(json.dumps(
        {"next_offset": 120, "lengths": {}, "source": "new-topic"}))
    assert _archived(settings, "new-topic") == {0: 0, 1: 120}
    assert _archived(settings, None) == {0: 0, 1: 0}  # the topic's id unknown: nothing proven
