"""The command line in process (click's runner): the offline commands on hand-written
files, and a bad settings file stopping a command with the file, the key and why."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from callboard.cli import cli
from tests.unit.factories import at, call, event


@pytest.fixture
def runner(monkeypatch) -> CliRunner:
    monkeypatch.delenv("CALLBOARD_CONFIG", raising=False)
    return CliRunner()


def write(path, events, *extra: str) -> str:
    path.write_text("".join(json.dumps(e) + "\n" for e in events) + "".join(extra))
    return str(path)


def test_report_counts_a_hand_written_morning(runner, tmp_path):
    # Three GEN calls at 09:00-09:02: two answered (5 s and 40 s), one abandoned after
    # 30 s; the default service level is answered within 20 s / offered (docs/kpis.md).
    events = [*call("a", at(9, 0), answer_after_s=5, talk_s=60),
              *call("b", at(9, 1), answer_after_s=40, talk_s=90),
              *call("c", at(9, 2), abandon_after_s=30)]
    log = write(tmp_path / "day.jsonl", events, "not json\n")
    result = runner.invoke(cli, ["report", "--events", log, "--interval", "day"])
    assert result.exit_code == 0, result.output
    rows = {r["queue"]: r for r in json.loads(result.stdout)}
    gen = rows["GEN"]
    assert (gen["offered"], gen["answered"], gen["abandoned"]) == (3, 2, 1)
    assert gen["service_level"] == pytest.approx(1 / 3)
    assert gen["asa_s"] == pytest.approx(22.5)  # (5 + 40) / 2
    assert gen["avg_talk_s"] == pytest.approx(75.0)  # (60 + 90) / 2
    assert "rejected: malformed_json 1" in result.stderr


def test_report_as_csv_has_one_header_and_a_row_per_queue_and_the_centre(runner, tmp_path):
    events = [*call("a", at(9, 0), answer_after_s=5),
              *call("v", at(9, 0), queue="VIP", answer_after_s=5)]
    log = write(tmp_path / "day.jsonl", events)
    result = runner.invoke(cli, ["report", "--events", log, "--interval", "day",
                                 "--format", "csv"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("queue,interval_start,interval_end,")
    assert sorted(line.split(",")[0] for line in lines[1:]) == ["ALL", "GEN", "VIP"]


def test_alerts_fires_step_1_once_more_than_5_have_waited_5_minutes(runner, tmp_path):
    # Six callers from 10:00:00 to 10:00:05, none answered: the manual's step 1 (lines
    # 139-150) at 10:05:05, five minutes after the sixth caller made it "more than 5".
    waiting = [event("call.offered", at(10, 0, i), "GEN", call_id=f"w{i}") for i in range(6)]
    later = [event("call.offered", at(10, 6), "GEN", call_id="late")]
    log = write(tmp_path / "surge.jsonl", [*waiting, *later])
    result = runner.invoke(cli, ["alerts", "--events", log])
    assert result.exit_code == 0, result.output
    alerts = json.loads(result.stdout)
    # Nobody answers: a breach warning comes first (issue #28), then the step itself.
    assert [(a["queue"], a["step"], a["direction"]) for a in alerts] == [
        ("GEN", 0, "warn"), ("GEN", 1, "up")]
    assert alerts[1]["event_time"].startswith("2026-01-05T10:05:05")


def test_erlang_takes_the_traffic_from_calls_interval_and_aht(runner):
    # 100 calls in 30 minutes at 180 s each: 100 * 180 / 1800 = 10 erlangs.
    result = runner.invoke(cli, ["erlang", "--calls", "100", "--aht-s", "180", "--json"])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)
    assert figures["traffic_erlangs"] == pytest.approx(10.0)
    assert figures["agents"] > 10  # Erlang C needs more agents than erlangs to be stable
    assert figures["service_level"] >= 0.8


def test_a_bad_settings_file_stops_the_command_naming_file_key_and_reason(runner, tmp_path):
    config = tmp_path / "callboard.toml"
    config.write_text("sl_threshold_s = -3\n")
    log = write(tmp_path / "day.jsonl", call("a", at(9, 0), answer_after_s=5))
    result = runner.invoke(cli, ["--config", str(config), "report", "--events", log])
    assert result.exit_code != 0
    assert str(config) in result.output and "sl_threshold_s" in result.output


def test_every_process_is_a_subcommand_of_the_one_entry_point(runner):
    result = runner.invoke(cli, ["--help"])
    assert result.exit_code == 0
    for command in ("worker", "board", "notify", "archive", "simulate", "publish", "ingest",
                    "replay", "report", "alerts", "incident-report", "up"):
        assert f"  {command} " in result.output, command


def test_hash_password_from_a_pipe_prints_the_hash_and_nothing_else():
    from click.testing import CliRunner
    from werkzeug.security import check_password_hash

    from callboard.cli import cli

    result = CliRunner().invoke(cli, ["hash-password"], input="floor-pass\n")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 1 and check_password_hash(lines[0], "floor-pass")
    empty = CliRunner().invoke(cli, ["hash-password"], input="")
    assert empty.exit_code != 0 and "no password" in empty.output


def test_a_rejected_event_is_named_not_only_counted(runner, tmp_path):
    # Seven calls answered and then abandoned too (an ACD that sent both): the first
    # outcome stands; the summary names the first five of them, with the rule.
    events = []
    for i in range(7):
        events += call(f"x{i}", at(9, i), answer_after_s=5, talk_s=30)
        events.append(event("call.abandoned", at(9, i, 20), call_id=f"x{i}",
                            offered_ms=at(9, i), wait_ms=20_000))
    log = write(tmp_path / "day.jsonl", events)
    result = runner.invoke(cli, ["report", "--events", log, "--interval", "day"])
    assert result.exit_code == 0, result.output
    said = [line for line in result.stderr.splitlines() if line.startswith("  conflicting_outcome")]
    assert len(said) == 5 and all("already left the queue" in line for line in said)
    assert [line.split("call ")[1].split(" ")[0] for line in said] == [f"x{i}" for i in range(5)]
    assert "conflicting_outcome 7" in result.stderr


def test_a_file_that_is_not_an_event_log_is_refused_not_replayed_empty(runner, tmp_path):
    passwd = tmp_path / "passwd"
    passwd.write_text("root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1::/usr/sbin:/usr/sbin/nologin\n")
    for command in ("replay", "incident-report"):
        result = runner.invoke(cli, [command, "--from", "2026-01-05T09:00",
                                     "--to", "2026-01-05T10:00", "--source", str(passwd)])
        assert result.exit_code == 2, result.output
        assert "neither schema-v1 JSON lines nor an Asterisk queue_log" in result.output
    events = write(tmp_path / "day.jsonl", call("a", at(9, 0), answer_after_s=5))
    from review.replay import check_event_file

    check_event_file(Path(events))  # a real log passes


def test_a_simulated_file_holds_no_callers_number_and_is_not_world_readable(runner, tmp_path):
    # Issue #30 §2: what a producer writes carries the number hashed, the last 4 digits
    # apart; and a callboard process's files are 0640.
    import re
    import stat

    out = tmp_path / "day.jsonl"
    result = runner.invoke(cli, ["simulate", "--seed", "3", "--duration", "20min", "--start",
                                 "2026-01-05T10:00", "--out", str(out)])
    assert result.exit_code == 0, result.output
    offered = [json.loads(line) for line in out.read_text().splitlines()
               if '"call.offered"' in line]
    assert offered and all(e["caller"].startswith("h1:") and re.fullmatch(r"\d{4}",
                                                                          e["caller_tail"])
                           for e in offered)
    assert not re.search(r'"1\d{10}"', out.read_text())  # no 11-digit number anywhere
    assert stat.S_IMODE(out.stat().st_mode) == 0o640


def test_the_calibrated_room_is_simulated_with_its_own_queues(runner, tmp_path):
    # deploy/bank-room.toml: the room of producers/room.py, its three skill queues
    # configured; a Monday from 09:00, its agents signed in to two queues or three.
    from pathlib import Path

    config = Path(__file__).resolve().parents[3] / "deploy" / "bank-room.toml"
    out = tmp_path / "room.jsonl"
    result = runner.invoke(cli, ["--config", str(config), "simulate", "--seed", "3",
                                 "--duration", "1h", "--start", "2026-01-05T09:00",
                                 "--out", str(out)])
    assert result.exit_code == 0, result.output
    events = [json.loads(line) for line in out.read_text().splitlines()]
    assert {e["queue"] for e in events if e["type"] == "call.offered"} == {"BANK", "NEW", "TECH"}
    signed: dict[str, set[str]] = {}
    for e in events:
        if e["type"] == "agent.login":
            signed.setdefault(e["agent_id"], set()).add(e["queue"])
    assert signed and all(len(queues) >= 2 for queues in signed.values())


@pytest.mark.parametrize(("text", "ms"), [("7d", 7 * 86_400_000), ("1d 2h", 93_600_000),
                                          ("90min", 5_400_000), ("2 days", 172_800_000)])
def test_durations_with_days_parse_without_a_deprecation(text, ms):
    import warnings

    from callboard.cli import _duration_ms

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # pandas' FutureWarning on "d" would raise here
        assert _duration_ms(text) == ms
