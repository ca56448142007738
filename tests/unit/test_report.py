"""callboard report: rows per queue and interval, centre rows, bad lines counted."""

import csv
import io
import json

import pytest
from click.testing import CliRunner

from callboard.cli import cli
from callboard.config import Settings
from callboard.report import ROW_KEYS, build_report, read_events, write_report
from tests.unit.factories import at, call


@pytest.fixture
def events():
    return (
        call("g1", at(10, 5), answer_after_s=10, talk_s=120, acw_s=30)
        + call("g2", at(10, 29, 55), answer_after_s=25, talk_s=60, acw_s=10)  # answered 10:30:20
        + call("g3", at(10, 40), abandon_after_s=45)
        + call("v1", at(10, 10), queue="VIP", answer_after_s=16, talk_s=200)  # VIP T = 15 s
    )


def test_half_hour_rows(events):
    rows = build_report(events, Settings(), "30m")
    spans = sorted({(r["interval_start"], r["interval_end"]) for r in rows})
    assert spans == [("2026-01-05T10:00:00+08:00", "2026-01-05T10:30:00+08:00"),
                     ("2026-01-05T10:30:00+08:00", "2026-01-05T11:00:00+08:00")]
    by = {(r["queue"], r["interval_start"][11:16]): r for r in rows}
    gen_first = by[("GEN", "10:00")]
    # g2 was offered 10:29:55, so it belongs to 10:00-10:30 though answered after 10:30.
    assert (gen_first["offered"], gen_first["answered"]) == (2, 2)
    assert gen_first["answered_within_threshold"] == 1
    assert gen_first["service_level"] == pytest.approx(1 / 2)
    assert gen_first["asa_s"] == pytest.approx((10 + 25) / 2)
    assert gen_first["aht_s"] == pytest.approx((120 + 60) / 2 + (30 + 10) / 2)
    vip = by[("VIP", "10:00")]
    assert (vip["sl_threshold_s"], vip["answered_within_threshold"]) == (15, 0)
    gen_second = by[("GEN", "10:30")]
    assert (gen_second["offered"], gen_second["abandoned"], gen_second["abandon_rate"]) == (1, 1, 1.0)
    centre = by[("ALL", "10:00")]
    assert (centre["offered"], centre["answered"], centre["answered_within_threshold"]) == (3, 3, 1)
    assert centre["service_level"] == pytest.approx(1 / 3)
    assert ("BIZ", "10:00") not in by


def test_day_and_all(events):
    day = build_report(events, Settings(), "day")
    assert [r["queue"] for r in day] == ["GEN", "VIP", "ALL"]
    assert day[-1]["offered"] == 4
    assert day[0]["interval_start"] == "2026-01-05T00:00:00+08:00"
    whole = build_report(events, Settings(), "all")
    assert whole[-1]["interval_start"] == "2026-01-05T10:05:00+08:00"
    assert whole[-1]["interval_end"] == "2026-01-05T10:41:00+08:00"


def test_empty_intervals_are_listed(events):
    later = events + call("g9", at(12, 10), answer_after_s=3)
    rows = [r for r in build_report(later, Settings(), "30m") if r["queue"] == "GEN"]
    assert [r["interval_start"][11:16] for r in rows] == ["10:00", "10:30", "11:00", "11:30", "12:00"]
    assert rows[2]["offered"] == 0 and rows[2]["service_level"] is None


def test_csv_has_every_key_and_blank_for_undefined(events):
    out = io.StringIO()
    write_report(build_report(events, Settings(), "30m"), "csv", out)
    reader = csv.DictReader(io.StringIO(out.getvalue()))
    assert tuple(reader.fieldnames) == ROW_KEYS
    rows = list(reader)
    assert any(r["asa_s"] == "" for r in rows)


def test_bad_lines_are_counted_by_reason(events):
    lines = [json.dumps(e) for e in events] + ["{oops", '{"v": 1, "type": "x"}', ""]
    data = read_events(lines)
    assert len(data.events) == len(events)
    assert dict(data.rejected) == {"malformed_json": 1, "unknown_type": 1}


def test_cli_report(tmp_path, events):
    path = tmp_path / "ev.jsonl"
    path.write_text("\n".join(json.dumps(e) for e in events) + "\nnot json\n")
    result = CliRunner().invoke(cli, ["report", "--events", str(path), "--interval", "day"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert rows[-1]["queue"] == "ALL" and rows[-1]["offered"] == 4
    assert "rejected: malformed_json 1" in result.stderr
