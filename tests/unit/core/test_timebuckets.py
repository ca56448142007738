"""Half hours and days in the centre's zone, including odd offsets and DST."""

from datetime import datetime
from zoneinfo import ZoneInfo

from core.timebuckets import day_bounds, half_hour_bounds, interval_bounds, iso


def ms(year, month, day, hh, mm, zone):
    return int(datetime(year, month, day, hh, mm, tzinfo=ZoneInfo(zone)).timestamp() * 1000)


def test_half_hour_in_shanghai():
    z = ZoneInfo("Asia/Shanghai")
    start, end = half_hour_bounds(ms(2026, 1, 5, 10, 29, "Asia/Shanghai"), z)
    assert (iso(start, z), iso(end, z)) == ("2026-01-05T10:00:00+08:00", "2026-01-05T10:30:00+08:00")


def test_half_hour_in_a_quarter_hour_zone():
    # Nepal is UTC+05:45: local 10:00 is 04:15 UTC, so local half hours start at :15/:45 UTC.
    z = ZoneInfo("Asia/Kathmandu")
    start, _ = half_hour_bounds(ms(2026, 1, 5, 10, 10, "Asia/Kathmandu"), z)
    assert datetime.fromtimestamp(start / 1000, ZoneInfo("UTC")).strftime("%H:%M") == "04:15"


def test_day_starts_at_local_midnight():
    z = ZoneInfo("Asia/Shanghai")
    start, end = day_bounds(ms(2026, 1, 5, 0, 30, "Asia/Shanghai"), z)
    assert iso(start, z) == "2026-01-05T00:00:00+08:00"
    assert end - start == 24 * 3_600_000


def test_dst_day_is_23_hours():
    z = ZoneInfo("America/New_York")  # clocks went forward on 2026-03-08
    start, end = day_bounds(ms(2026, 3, 8, 12, 0, "America/New_York"), z)
    assert end - start == 23 * 3_600_000


def test_hour_interval_aligns_to_the_local_hour():
    z = ZoneInfo("Asia/Shanghai")
    start, end = interval_bounds(ms(2026, 1, 5, 10, 45, "Asia/Shanghai"), "1h", z)
    assert (iso(start, z), iso(end, z)) == ("2026-01-05T10:00:00+08:00", "2026-01-05T11:00:00+08:00")
