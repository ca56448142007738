"""Settings: defaults, file, environment, and errors that name file, key and reason."""

import pytest

from base.config import ConfigError, load_settings


def test_defaults_follow_the_manual(monkeypatch):
    monkeypatch.delenv("CALLBOARD_CONFIG", raising=False)
    s = load_settings()
    assert s.timezone == "Asia/Shanghai"
    assert (s.sl_threshold_s, s.sl_target, s.sl_formula) == (20, 0.80, "offered")
    vip = s.rules()["VIP"]
    assert (vip.vip, vip.sl_threshold_s, vip.sl_target) == (True, 15, 0.90)
    assert s.rules()["GEN"].sl_threshold_s == 20


def test_file_then_environment(tmp_path, monkeypatch):
    path = tmp_path / "cb.toml"
    path.write_text('timezone = "Europe/London"\nsl_threshold_s = 30\n'
                    '[[queues]]\nname = "SALES"\nshort_abandon_s = 0\n')
    monkeypatch.setenv("CALLBOARD_SL_THRESHOLD_S", "25")
    s = load_settings(path)
    assert s.timezone == "Europe/London"
    assert s.sl_threshold_s == 25  # the environment wins over the file
    assert [q.name for q in s.queues] == ["SALES"]
    assert s.rules()["SALES"].short_abandon_s == 0
    assert s.rule_book().rules_for("UNLISTED").sl_threshold_s == 25


@pytest.mark.parametrize(
    ("text", "key", "reason"),
    [
        ('sl_threshold_s = "soon"', "sl_threshold_s", "integer"),
        ('timezone = "Mars/Olympus"', "timezone", "unknown IANA time zone"),
        ('sl_formula = "median"', "sl_formula", "offered"),
        ('colour = "red"', "colour", "Extra inputs"),
        ('[[queues]]\nname = "A"\n[[queues]]\nname = "A"', "(top level)", "unique"),
        ('[[queues]]\nname = "ALL"', "(top level)", "reserved"),
        ('[[queues]]\nname = "Q"\nsl_target = 1.5', "queues.0.sl_target", "less than or equal"),
        ('simulate_room = "bank-1999"', "(top level)", "not configured: BANK, NEW, TECH"),
        ('simulate_room = "bank"', "simulate_room", "'bank-1999'"),
    ],
)
def test_bad_values_name_file_key_and_reason(tmp_path, text, key, reason):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    message = str(info.value)
    assert str(path) in message and f"'{key}'" in message and reason in message


def test_unreadable_files(tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        load_settings(tmp_path / "missing.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("timezone = ")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(broken)


def test_a_bad_schedule_stops_start_up_naming_file_line_and_column(tmp_path):
    from click.testing import CliRunner

    from callboard.cli import cli

    plan = tmp_path / "plan.csv"
    plan.write_text("queue,day,start,end,agents\nGEN,*,08:00,09:00,x\n")
    config = tmp_path / "c.toml"
    config.write_text(f'schedule_file = "{plan}"\n')
    result = CliRunner().invoke(cli, ["--config", str(config), "worker"])
    assert result.exit_code != 0
    assert f"key 'schedule_file': {plan}: line 2, column agents" in result.output


def test_vip_queues_get_the_stricter_defaults_and_targets_can_be_overridden():
    settings = load_settings(None, queues=[
        {"name": "V", "vip": True},
        {"name": "N", "targets": {"aht_s": {"min": 100, "max": 200}}},
    ])
    vip, normal = settings.rule_book().rules_for("V"), settings.rule_book().rules_for("N")
    assert (vip.sl_threshold_s, vip.sl_target) == (15, 0.90)  # manual lines 511-513
    assert vip.targets["answer_rate"].min == 0.95 and vip.targets["answer_timeout_rate"].max == 0.10
    assert (normal.sl_threshold_s, normal.targets["answer_rate"].min) == (20, 0.85)
    assert (normal.targets["aht_s"].min, normal.targets["aht_s"].max) == (100, 200)


def test_an_unknown_target_key_is_named():
    with pytest.raises(ConfigError, match="no KPI named speed"):
        load_settings(None, targets={"speed": {"max": 1}})


def test_the_default_walls_are_the_board_and_the_agent_wall():
    # Issue #32 item 5: `make up` (no configuration) answered /board/agents with "no wall
    # named agents".
    from base.config import Settings

    assert Settings().wall("agents") is not None and Settings().wall("agents").kind == "agents"
    assert Settings().wall(None).name == "board"
    own = Settings(walls=[{"name": "floor-2", "figures": "compact"}])
    assert own.wall("agents") is None and own.wall("floor-2") is not None
