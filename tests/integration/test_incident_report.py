"""The incident report: key moments equal hand-worked values on a small surge, and the
HTML opens and draws its charts in headless Chromium with the network off."""

from __future__ import annotations

import csv
import json
import subprocess

import pytest

from callboard import services
from tests.integration.helpers import Stack
from tests.unit.factories import at, call, event

pytestmark = [pytest.mark.integration, pytest.mark.browser]


def small_surge() -> list[dict]:
    """GEN, 10:00-10:05. Eight callers arrive 10:00:05-10:00:40, five seconds apart;
    the first three give up at 10:02:30, the other five are answered at 10:03:30.
    Agent A1 takes a break 10:00:30-10:02:00; A2 goes to training at 10:02:30."""
    events = [event("agent.login", at(9, 55), agent_id="A1"),
              event("agent.login", at(9, 55), agent_id="A2"),
              event("agent.state", at(10, 0, 30), agent_id="A1", state="not_ready",
                    reason="break"),
              event("agent.state", at(10, 2), agent_id="A1", state="available"),
              event("agent.state", at(10, 2, 30), agent_id="A2", state="not_ready",
                    reason="training")]
    for i in range(8):
        offered = at(10, 0, 5 + 5 * i)
        if i < 3:
            events += call(f"c{i}", offered, abandon_after_s=(at(10, 2, 30) - offered) / 1000)
        else:
            events += call(f"c{i}", offered, answer_after_s=(at(10, 3, 30) - offered) / 1000,
                           agent="A1")
    return sorted(events, key=lambda e: e["ts_ms"])


def test_the_report_computes_the_key_moments_and_opens_offline(
        stack: Stack, tmp_path, browser, logs_dir):
    log = tmp_path / "surge.jsonl"
    log.write_text("".join(json.dumps(e) + "\n" for e in small_surge()))
    out = tmp_path / "report"
    # To 10:10: recovery counts once waiting stayed at or below 5 for the ladder's
    # 5-minute sign-out period, so the range must hold 5 minutes after it.
    page = stack.cli("incident-report", "--from", "2026-01-05T10:00", "--to", "2026-01-05T10:10",
                     "--source", str(log), "--out", str(out), "--lang", "en").stdout.strip()
    # Waiting at each minute, worked by hand: 10:00 none yet; 10:01 and 10:02 all eight;
    # 10:03 five (three gave up at 10:02:30); from 10:04 none (answered 10:03:30).
    with (out / "timeline.csv").open() as fh:
        centre = [r for r in csv.DictReader(fh) if r["queue"] == "ALL"]
    assert [int(r["waiting"]) for r in centre] == [0, 8, 8, 5, 0, 0, 0, 0, 0, 0, 0]
    # The oldest caller at 10:03 is c3, offered 10:00:20: 160 s.
    assert [float(r["longest_wait_s"]) for r in centre][:4] == [0.0, 55.0, 115.0, 160.0]
    with (out / "abandoned.csv").open() as fh:
        abandoned = list(csv.DictReader(fh))
    assert [(r["call_id"], float(r["wait_s"]), r["short"]) for r in abandoned] == [
        ("c0", 145.0, "False"), ("c1", 140.0, "False"), ("c2", 135.0, "False")]
    # Offered in each interval: 8 callers entered GEN 10:00-10:05, none abandoned within 5 s.
    # (3 abandoned of 8 offered: 0.375.)
    for name, later in (("intervals_5min.csv", [("GEN", "10:05", "0", ""), ("ALL", "10:05", "0", "")]),
                        ("intervals_30min.csv", [])):
        with (out / name).open() as fh:
            rows = [(r["queue"], r["start"][11:16], r["offered"], r["abandon_rate"])
                    for r in csv.DictReader(fh)]
        assert rows == [("GEN", "10:00", "8", "0.375"), ("ALL", "10:00", "8", "0.375"), *later], name

    browser.execute_cdp_cmd("Network.enable", {})
    browser.execute_cdp_cmd("Network.emulateNetworkConditions", {
        "offline": True, "latency": 0, "downloadThroughput": 0, "uploadThroughput": 0})
    try:
        browser.get(f"file://{page}")
        moments = {row: browser.find_element("id", f"m-{row}").text for row in (
            "first_breach_ms", "peak_waiting", "peak_longest_wait_s", "recovered_ms",
            "recovery_s")}
        assert moments == {
            "first_breach_ms": "2026-01-05 10:01:00",   # 8 > 5 waiting
            "peak_waiting": "8 @ 2026-01-05 10:01:00",
            "peak_longest_wait_s": "160 s @ 2026-01-05 10:03:00",
            "recovered_ms": "2026-01-05 10:03:00",      # 5, no more than the threshold
            "recovery_s": "2 min",
        }
        # More than 5 waited at 10:01 and 10:02 only: never 5 minutes, no centre-level step 1.
        assert browser.find_element("id", "m-surge_ms").text == "none"
        # Breach to recovery is [10:01, 10:03): A1's break 10:01-10:02 (60 s) and A2's
        # training 10:02:30-10:03 (30 s).
        reasons = browser.find_element("id", "not-ready").text
        assert "break 60" in reasons and "training 30" in reasons
        # plotly.js is inlined: both charts draw with no network.
        drawn = browser.execute_script(
            "return [0, 1].map(i => document.querySelectorAll("
            "'#chart-' + i + ' .main-svg').length)")
        assert all(n > 0 for n in drawn), drawn
        # The timeline shows the centre, and each queue behind a button.
        buttons = browser.execute_script(
            "return [...document.querySelectorAll('#chart-0 .updatemenu-button')]"
            ".map(b => b.textContent)")
        assert buttons == ["Whole centre", "GEN"], buttons
        browser.save_screenshot(str(logs_dir / "incident-report.png"))
    finally:
        browser.execute_cdp_cmd("Network.emulateNetworkConditions", {
            "offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1})


def test_a_what_if_runs_the_stretch_again_under_its_rules_side_by_side(stack: Stack,
                                                                       tmp_path):
    log = tmp_path / "surge.jsonl"
    log.write_text("".join(json.dumps(e) + "\n" for e in small_surge()))
    what_if = tmp_path / "threshold-200.toml"
    what_if.write_text("sl_threshold_s = 200\n")
    out = tmp_path / "report"
    stack.cli("incident-report", "--from", "2026-01-05T10:00", "--to", "2026-01-05T10:05",
              "--source", str(log), "--out", str(out), "--lang", "en",
              "--what-if", str(what_if))

    def centre_sl(name: str) -> float:
        with (out / name).open() as fh:
            return float(next(r for r in csv.DictReader(fh) if r["queue"] == "ALL")
                         ["service_level"])

    # Eight calls got in; the five answered waited 170-190 s: none within 20 s, all five
    # within 200 s (B20: answered within T / calls that got in).
    assert centre_sl("intervals_30min.csv") == 0.0
    assert centre_sl("intervals_30min_what_if.csv") == 0.625
    page = (out / "report.html").read_text()
    assert 'id="what-if-intervals"' in page and "What if (threshold-200.toml)" in page
    assert "queues.GEN.sl_threshold_s" in page  # the settings that differ, named
    # A bad what-if file fails naming the file and the key.
    bad = tmp_path / "bad.toml"
    bad.write_text("sl_threshold_s = -3\n")
    result = subprocess.run(services.callboard_argv(
        "incident-report", "--from", "2026-01-05T10:00", "--to", "2026-01-05T10:05",
        "--source", str(log), "--out", str(out), "--what-if", str(bad)),
        env=stack.env, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert f"{bad}: key 'sl_threshold_s'" in result.stderr


def test_more_agents_are_estimated_by_the_model_and_labelled_so(stack: Stack, tmp_path):
    log = tmp_path / "surge.jsonl"
    log.write_text("".join(json.dumps(e) + "\n" for e in small_surge()))
    out = tmp_path / "report"
    stack.cli("incident-report", "--from", "2026-01-05T10:00", "--to", "2026-01-05T10:05",
              "--source", str(log), "--out", str(out), "--lang", "en",
              "--add-agents", "10", "--from-minute", "0")
    with (out / "intervals_30min_estimate.csv").open() as fh:
        centre = next(r for r in csv.DictReader(fh) if r["queue"] == "ALL")
    # Ten more agents for eight callers: each is answered as they arrive.
    assert float(centre["service_level"]) == 1.0
    assert float(centre["abandon_rate"]) == 0.0
    page = (out / "report.html").read_text()
    # Ten in all, every one to GEN, the only queue with calls (not ten per queue).
    assert "Estimate (a model, not a recording): 10 more agents in all from 10:00 (GEN +10)" in page
    assert 'id="estimate-intervals"' in page
