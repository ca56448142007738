"""The agent wall's order and limits, in memory."""

from __future__ import annotations

import pytest

from base.config import ConfigError, load_agent_names
from wallboard.present import agent_views

NOW = 10_000_000


def snap(queue: str, agents: dict[str, tuple[str, int | None]]) -> dict:
    return {"queue": queue, "agents_day": {a: {"state": s, "since_ms": since}
                                           for a, (s, since) in agents.items()}}


def test_agents_sorted_by_state_then_longest_in_it_signed_out_left_off():
    views = agent_views([snap("GEN", {"a1": ("available", NOW - 5_000),
                                      "a2": ("not_ready", NOW - 60_000),
                                      "a3": ("on_call", NOW - 90_000),
                                      "a4": ("available", NOW - 50_000),
                                      "a5": ("logged_out", NOW - 1_000),
                                      "a6": ("acw", NOW - 30_000)})],
                        {"a2": "王芳"}, {}, NOW)
    assert [v["agent_id"] for v in views] == ["a2", "a6", "a3", "a4", "a1"]
    assert views[0]["name"] == "王芳" and views[1]["name"] == "a6"
    assert views[0]["key"] == "GEN.a2"


def test_too_long_in_a_state_is_over_the_limit_not_at_it():
    limits = {"acw": 120.0, "not_ready": 900.0}
    views = agent_views([snap("GEN", {"at": ("acw", NOW - 120_000),
                                      "past": ("acw", NOW - 120_001),
                                      "talk": ("on_call", NOW - 9_000_000)})],
                        {}, limits, NOW)
    assert {v["agent_id"]: v["over"] for v in views} == {"at": False, "past": True,
                                                          "talk": False}


def test_the_names_file_is_agent_id_comma_name_and_a_bad_row_names_its_line(tmp_path):
    good = tmp_path / "agents.csv"
    good.write_text("agent_id,name\nA1,张伟\nA2, Li Na \n\n")
    assert load_agent_names(str(good)) == {"A1": "张伟", "A2": "Li Na"}
    bad = tmp_path / "bad.csv"
    bad.write_text("A1,张伟\nA2\n")
    with pytest.raises(ConfigError, match=r"bad.csv, line 2"):
        load_agent_names(str(bad))
