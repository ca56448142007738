"""callboard report: rows per queue and interval, centre rows, bad lines counted."""

import csv
import io
import json
from datetime import datetime

import pytest
from click.testing import CliRunner

from base.assemble import report_of_events
from base.config import Settings
from callboard.cli import cli
from core.report import AGENT_ROW_KEYS, ROW_KEYS, read_events, write_report
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
    rows = report_of_events(events, Settings(), "30m")
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
    day = report_of_events(events, Settings(), "day")
    assert [r["queue"] for r in day] == ["GEN", "VIP", "ALL"]
    assert day[-1]["offered"] == 4
    assert day[0]["interval_start"] == "2026-01-05T00:00:00+08:00"
    whole = report_of_events(events, Settings(), "all")
    assert whole[-1]["interval_start"] == "2026-01-05T10:05:00+08:00"
    assert whole[-1]["interval_end"] == "2026-01-05T10:41:00+08:00"


def test_empty_intervals_are_listed(events):
    later = events + call("g9", at(12, 10), answer_after_s=3)
    rows = [r for r in report_of_events(later, Settings(), "30m") if r["queue"] == "GEN"]
    assert [r["interval_start"][11:16] for r in rows] == ["10:00", "10:30", "11:00", "11:30", "12:00"]
    assert rows[2]["offered"] == 0 and rows[2]["service_level"] is None


def test_csv_has_every_key_and_blank_for_undefined(events):
    out = io.StringIO()
    write_report(report_of_events(events, Settings(), "30m"), "csv", out)
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


def test_cli_options_set_threshold_formula_and_short_abandons_for_every_queue(tmp_path):
    t0 = at(9, 0)
    events = (
        call("a", t0, answer_after_s=8)
        + call("b", t0 + 1, answer_after_s=12)
        + call("c", t0 + 2, abandon_after_s=4)
        + call("d", t0 + 3, queue="VIP", answer_after_s=9)
    )
    path = tmp_path / "ev.jsonl"
    path.write_text("\n".join(json.dumps(e) for e in events) + "\n")
    args = ["report", "--events", str(path), "--interval", "day"]
    default = json.loads(CliRunner().invoke(cli, args).stdout)
    gen = default[0]
    # Defaults: T = 20 s, formula "offered", short abandons <= 5 s excluded.
    assert (gen["sl_formula"], gen["sl_threshold_s"], gen["short_abandon_s"]) == ("offered", 20, 5)
    assert (gen["offered"], gen["service_level"]) == (2, 1.0)
    result = CliRunner().invoke(cli, [*args, "--sl-threshold-s", "10", "--sl-formula",
                                      "answered", "--short-abandon-s", "0"])
    assert result.exit_code == 0, result.output
    rows = {r["queue"]: r for r in json.loads(result.stdout)}
    assert (rows["GEN"]["sl_formula"], rows["GEN"]["sl_threshold_s"]) == ("answered", 10)
    assert rows["GEN"]["offered"] == 3 and rows["GEN"]["abandoned"] == 1
    assert rows["GEN"]["service_level"] == pytest.approx(1 / 2)  # a within 10 s of 2 answered
    assert rows["VIP"]["sl_threshold_s"] == 10 and rows["VIP"]["service_level"] == 1.0


def test_report_rows_use_the_schedule_for_adherence_and_attendance(tmp_path):
    plan = tmp_path / "plan.csv"
    plan.write_text("queue,day,start,end,agents\nGEN,*,10:00,11:00,2\n")
    events = [
        {"v": 1, "event_id": "l1", "type": "agent.login", "ts_ms": at(10, 0), "queue": "GEN",
         "source": "t", "agent_id": "A1", "state": "available"},
        {"v": 1, "event_id": "s1", "type": "agent.state", "ts_ms": at(10, 15), "queue": "GEN",
         "source": "t", "agent_id": "A1", "state": "not_ready"},
        *call("g1", at(10, 29), answer_after_s=5),  # the file ends at 10:29:05
    ]
    path = tmp_path / "ev.jsonl"
    path.write_text("\n".join(json.dumps(e) for e in events) + "\n")
    config = tmp_path / "c.toml"
    config.write_text(f'schedule_file = "{plan}"\n')
    result = CliRunner().invoke(cli, ["--config", str(config), "report", "--events", str(path)])
    assert result.exit_code == 0, result.output
    row = json.loads(result.stdout)[0]
    scheduled_min = 2 * (29 + 5 / 60)  # two agents from 10:00 to the end of the file
    assert row["scheduled_h"] == pytest.approx(scheduled_min / 60, abs=1e-4)
    assert row["adherence"] == pytest.approx(15 / scheduled_min, abs=1e-5)
    assert row["attendance"] == pytest.approx((29 + 5 / 60) / scheduled_min, abs=1e-5)


def test_every_half_hour_of_a_simulated_day_equals_the_independent_computation(tmp_path):
    """callboard report (the engine offline) against tests/oracle.py, every KPI key."""
    from producers.simulator import Simulator
    from tests import oracle

    settings = Settings()
    start = at(0, 0, day=7)
    sim = Simulator(seed=5, start_ms=start, duration_ms=24 * 3_600_000, zone=settings.zone,
                    trunks=20)
    path = tmp_path / "day.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in sim.events()))
    df = oracle.load(path)
    want = oracle.history(df, int(df["ts_ms"].max()), settings.timezone, {"VIP": 15}, "30min")
    rows = report_of_events(read_events(path.read_text().splitlines()).events, settings, "30m")
    assert len(rows) == len(want) == 48 * 5
    checked = 0
    for row in rows:
        start_ms = int(datetime.fromisoformat(row["interval_start"]).timestamp() * 1000)
        expected = want[(row["queue"], start_ms)]
        for key, value in expected.items():
            assert oracle.close(row[key], value), (row["queue"], row["interval_start"], key)
            checked += 1
    assert checked == len(rows) * len(next(iter(want.values())))
    day = {r["queue"]: r for r in report_of_events(
        read_events(path.read_text().splitlines()).events, settings, "day")}
    # The day must exercise every kind of call the KPIs distinguish.
    assert min(day["ALL"][k] for k in ("abandoned", "short_abandoned", "blocked", "transferred",
                                         "repeated", "queued")) > 0


def test_agent_rows_per_interval_worked_by_hand():
    """A1 signs in at 10:00, takes a call 10:05-10:10 (talk 240 s + hold 60 s) with
    60 s of ACW, is available again at 10:11 and signs out at 10:40."""
    def agent(etype, ts, **f):
        return {"v": 1, "event_id": f"{etype}-{ts}", "type": etype, "ts_ms": ts,
                "queue": "GEN", "source": "t", "agent_id": "A1", **f}

    events = [
        agent("agent.login", at(10, 0), state="available"),
        *call("c1", at(10, 4, 50), answer_after_s=10, talk_s=240, hold_s=60, acw_s=60),
        agent("agent.state", at(10, 5), state="on_call"),
        agent("agent.state", at(10, 10), state="acw"),
        agent("agent.state", at(10, 11), state="available"),
        agent("agent.logout", at(10, 40)),
    ]
    rows = report_of_events(events, Settings(), "30m", by_agent=True)
    by = {r["interval_start"][11:16]: r for r in rows}
    first, second = by["10:00"], by["10:30"]
    assert (first["queue"], first["agent_id"], first["handled"]) == ("GEN", "A1", 1)
    assert first["aht_s"] == pytest.approx(240 + 60 + 60)
    # 10:00-10:30: available 5 + 19 min, on call 5, ACW 1 -> occupancy 5 / (5 + 24)
    assert first["occupancy"] == pytest.approx(5 / 29, abs=1e-5)
    assert first["signed_in_h"] == pytest.approx(0.5)
    assert first["calls_per_agent_hour"] == pytest.approx(2.0)
    assert (second["handled"], second["signed_in_h"]) == (0, pytest.approx(10 / 60, abs=1e-4))
    assert second["occupancy"] == 0.0
    out = io.StringIO()
    write_report(rows, "csv", out, AGENT_ROW_KEYS)
    assert out.getvalue().splitlines()[0].startswith("queue,agent_id,interval_start")


def test_calls_still_waiting_at_the_end_are_a_column_and_no_wait_is_not_zero():
    # 10:00-10:30: a answered after 12 s, b and c still waiting when the file ends;
    # 10:30-11:00: d still waiting, nobody left the queue.
    events = [*call("a", at(10, 1), answer_after_s=12), *call("b", at(10, 20)),
              *call("c", at(10, 29)), *call("d", at(10, 40))]
    rows = report_of_events(events, Settings(), "30m")
    by = {(r["queue"], r["interval_start"][11:16]): r for r in rows}
    assert [by[("GEN", t)]["still_waiting"] for t in ("10:00", "10:30")] == [2, 1]
    assert [by[("ALL", t)]["still_waiting"] for t in ("10:00", "10:30")] == [2, 1]
    assert by[("GEN", "10:00")]["max_wait_s"] == 12.0
    assert by[("GEN", "10:30")]["max_wait_s"] is None


def test_a_csv_cell_that_would_start_a_formula_is_escaped_and_numbers_are_not():
    from core.report import safe_cell

    for start in ("=", "+", "-", "@", "\t", "\r"):
        assert safe_cell(start + "HYPERLINK(\"http://x\")") == "'" + start + "HYPERLINK(\"http://x\")"
    assert safe_cell("GEN") == "GEN" and safe_cell(-5) == -5 and safe_cell(0.25) == 0.25
    assert safe_cell("") == ""


def test_a_csv_report_escapes_an_agent_id_that_would_run_as_a_formula():
    import io

    from core.report import write_report

    out = io.StringIO()
    write_report([{"queue": "GEN", "agent": "=cmd|' /C calc'!A0", "handled": 3}], "csv", out,
                 keys=("queue", "agent", "handled"))
    assert out.getvalue().splitlines() == ["queue,agent,handled", "GEN,'=cmd|' /C calc'!A0,3"]
