"""The archive's files: each record once, by day, and exactly what a crash left whole."""

from __future__ import annotations

import gzip
import json
from datetime import date
from zoneinfo import ZoneInfo

import pandas as pd

from review.archive import PartitionArchive, day_of, read_day

SHANGHAI = ZoneInfo("Asia/Shanghai")
# 2026-01-05 15:59:59.999 UTC is 23:59:59.999 in Shanghai; one ms later is the 6th.
LAST_MS_OF_5TH = 1767628799999


def event(event_id: str, ts_ms: int) -> bytes:
    return json.dumps({"event_id": event_id, "ts_ms": ts_ms, "type": "call.offered",
                       "queue": "GEN", "call_id": event_id}).encode()


def test_the_day_is_the_centres_local_day_of_the_event_time():
    assert day_of(event("a", LAST_MS_OF_5TH), 0, SHANGHAI) == date(2026, 1, 5)
    assert day_of(event("a", LAST_MS_OF_5TH + 1), 0, SHANGHAI) == date(2026, 1, 6)
    # No usable event time: the day the broker stamped it.
    assert day_of(b"not json", LAST_MS_OF_5TH + 1, SHANGHAI) == date(2026, 1, 6)
    assert day_of(b'{"ts_ms": "soon"}', LAST_MS_OF_5TH, SHANGHAI) == date(2026, 1, 5)


def test_each_event_once_by_day_and_malformed_records_kept(tmp_path):
    part = PartitionArchive.open(tmp_path, "ev", 0)
    records = [(0, event("a", LAST_MS_OF_5TH), 0), (1, event("b", LAST_MS_OF_5TH + 1), 0),
               (2, event("a", LAST_MS_OF_5TH), 0),  # a producer's duplicate
               (3, b"garbage", LAST_MS_OF_5TH)]
    assert part.append(records, SHANGHAI) == (3, 1)
    assert part.next_offset == 4
    # Read again after a restart whose position was saved: nothing twice.
    again = PartitionArchive.open(tmp_path, "ev", 0)
    assert again.append(records, SHANGHAI) == (0, 0)
    assert read_day(tmp_path, date(2026, 1, 5), "ev") == {0: [event("a", LAST_MS_OF_5TH),
                                                             b"garbage"]}
    assert read_day(tmp_path, date(2026, 1, 6), "ev") == {0: [event("b", LAST_MS_OF_5TH + 1)]}
    # A new offset carrying an id already archived that day is a duplicate too.
    assert again.append([(4, event("b", LAST_MS_OF_5TH + 1), 0)], SHANGHAI) == (0, 1)


def test_bytes_written_after_the_last_position_are_cut_back(tmp_path):
    part = PartitionArchive.open(tmp_path, "ev", 0)
    part.append([(0, event("a", 1767600000000), 0)], SHANGHAI)
    path = tmp_path / part.file_for(date(2026, 1, 5))
    whole = path.read_bytes()
    # kill -9 in the middle of the next flush: half a gzip member, position unmoved.
    member = gzip.compress(event("b", 1767600000001) + b"\n")
    path.write_bytes(whole + member[: len(member) // 2])
    reopened = PartitionArchive.open(tmp_path, "ev", 0)
    assert path.read_bytes() == whole
    assert reopened.next_offset == 1
    assert reopened.append([(1, event("b", 1767600000001), 0)], SHANGHAI) == (1, 0)
    assert read_day(tmp_path, date(2026, 1, 5), "ev")[0] == [event("a", 1767600000000),
                                                              event("b", 1767600000001)]


def test_pandas_reads_a_day_file(tmp_path):
    part = PartitionArchive.open(tmp_path, "ev", 0)
    part.append([(0, event("a", 1767600000000), 0)], SHANGHAI)
    part.append([(1, event("b", 1767600000001), 0)], SHANGHAI)  # a second gzip member
    frame = pd.read_json(tmp_path / part.file_for(date(2026, 1, 5)), lines=True,
                         compression="gzip")
    assert list(frame["event_id"]) == ["a", "b"]



def test_a_position_in_a_topic_that_is_gone_starts_the_new_one_from_its_first_record(tmp_path):
    """The local stack rolled its broker (docs/broker.md): the events topic has a new id,
    its offsets number from 0 again; the archive reads it all, event ids drop the rest."""
    from base.config import Settings
    from review.archive import ArchiveWriter

    writer = ArchiveWriter(Settings(archive_dir=tmp_path, events_topic="ev"))
    assert writer.resume(0, "topic-a") == 0
    writer.write(0, [(i, b'{"event_id":"e%d","ts_ms":1767571200000}' % i, 0) for i in range(5)])
    assert writer.resume(0, "topic-a") == 5  # the same topic: on from the position
    # The broker did not say: the topic may be a new one already holding more than 5
    # records, so it is read from its first (event ids keep the files exact).
    assert writer.resume(0, None) == 0
    again = ArchiveWriter(Settings(archive_dir=tmp_path, events_topic="ev"))
    assert again.resume(0, "topic-b") == 0  # read from the files: another topic
    again.write(0, [(0, b'{"event_id":"e4","ts_ms":1767571200000}', 0),
                    (1, b'{"event_id":"e5","ts_ms":1767571200000}', 0)])
    assert again.duplicates == 1 and again.archived == 1
    assert again.resume(0, "topic-b") == 2


def test_an_archive_with_numbers_is_rewritten_hashed_and_stays_readable(tmp_path):
    """Issue #30 §2's migration: `callboard archive hash-callers` on an archive written
    before the producers hashed numbers."""
    import gzip
    import json
    from datetime import date

    from base.config import Settings
    from review.archive import ArchiveWriter, PartitionArchive, hash_callers, read_day

    writer = ArchiveWriter(Settings(archive_dir=tmp_path, events_topic="ev"))
    writer.write(0, [(0, b'{"event_id":"a","ts_ms":1767578400000,"caller":"13800138000"}', 0),
                     (1, b'{"event_id":"b","ts_ms":1767578400000}', 0),
                     (2, b"not json", 1767578400000)])
    assert hash_callers(tmp_path, "ev", "centre-key") == (1, 1)
    day = read_day(tmp_path, date(2026, 1, 5), "ev")[0]
    first = json.loads(day[0])
    assert first["caller"].startswith("h1:") and first["caller_tail"] == "8000"
    assert day[1:] == [b'{"event_id":"b","ts_ms":1767578400000}', b"not json"]
    # The position file follows the new length: reopening cuts nothing off.
    part = PartitionArchive.open(tmp_path, "ev", 0)
    rel = part.file_for(date(2026, 1, 5))
    assert part.lengths[rel] == (tmp_path / rel).stat().st_size
    path = tmp_path / rel
    assert b"13800138000" not in gzip.decompress(path.read_bytes())
    assert hash_callers(tmp_path, "ev", "centre-key") == (0, 0)  # hashed once only
