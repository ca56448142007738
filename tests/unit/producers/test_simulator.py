"""The simulator: deterministic, valid, time-ordered, and with the traffic a hotline has."""

from collections import Counter

from click.testing import CliRunner

from callboard.cli import cli
from core import events as ev
from producers.simulator import SimQueue, Simulator
from tests.unit.factories import SHANGHAI, at

HOUR = 3_600_000


def run(seed=3, hours=2, **kw):
    return list(Simulator(seed=seed, start_ms=at(9, 0), duration_ms=hours * HOUR,
                          zone=SHANGHAI, **kw).events())


def test_same_seed_same_file_byte_for_byte(tmp_path):
    runner = CliRunner()
    paths = [tmp_path / "a.jsonl", tmp_path / "b.jsonl", tmp_path / "c.jsonl"]
    for path, seed in zip(paths, ("5", "5", "6"), strict=True):
        result = runner.invoke(cli, ["simulate", "--seed", seed, "--duration", "30m",
                                     "--out", str(path)])
        assert result.exit_code == 0, result.output
    assert paths[0].read_bytes() == paths[1].read_bytes()
    assert paths[0].read_bytes() != paths[2].read_bytes()
    assert paths[0].read_bytes().count(b"\n") > 100


def test_events_are_valid_unique_and_in_time_order():
    events = run()
    for e in events:
        ev.validate(e)
    times = [e["ts_ms"] for e in events]
    assert times == sorted(times)
    assert len({e["event_id"] for e in events}) == len(events)
    assert times[-1] <= at(11, 0)


def test_arrivals_follow_the_rate_and_the_day_profile():
    # 240/h at peak for GEN; 09:00-11:00 has profile 1.0, so expect ~480 (Poisson sd ~22).
    gen = [e for e in run(hours=2) if e["type"] == "call.offered" and e["queue"] == "GEN"]
    assert 480 - 5 * 22 < len(gen) < 480 + 5 * 22 + 40  # + transfers in from other queues
    night = Simulator(seed=3, start_ms=at(2, 0), duration_ms=2 * HOUR, zone=SHANGHAI).events()
    night_gen = [e for e in night if e["type"] == "call.offered" and e["queue"] == "GEN"]
    assert len(night_gen) < 40  # profile 0.02-0.03 at 02:00-04:00


def test_the_traffic_has_every_kind_of_outcome():
    events = run(hours=3, trunks=25)
    kinds = Counter(e["type"] for e in events)
    for etype in ev.CALL_TYPES | ev.AGENT_TYPES:
        assert kinds[etype] > 0, etype
    abandons = [e["wait_ms"] for e in events if e["type"] == "call.abandoned"]
    assert any(w <= 5_000 for w in abandons) and any(w > 5_000 for w in abandons)
    states = Counter(e["state"] for e in events if e["type"] == "agent.state")
    assert set(states) == {"available", "on_call", "acw", "not_ready"}


def test_every_answered_call_has_its_offer_before_it():
    offered = {}
    for e in run():
        if e["type"] == "call.offered":
            offered[e["call_id"]] = e["ts_ms"]
        elif e["type"] == "call.answered":
            assert offered[e["call_id"]] == e["offered_ms"]
            assert e["ts_ms"] - e["offered_ms"] == e["wait_ms"]


def test_agents_never_take_two_calls_at_once():
    busy = {}
    for e in run(queues=[SimQueue("Q", agents=3, peak_calls_per_hour=200)]):
        if e["type"] == "call.answered":
            assert e["agent_id"] not in busy
            busy[e["agent_id"]] = e["call_id"]
        elif e["type"] == "call.wrapped_up":
            assert busy.pop(e["agent_id"]) == e["call_id"]


def test_long_runs_with_shift_changes_hold_together():
    # Whole days exercise shift ends during breaks, calls and wrap-ups.
    for seed in range(1, 6):
        events = list(Simulator(seed=seed, start_ms=at(6, 0), duration_ms=14 * HOUR,
                                zone=SHANGHAI, trunks=30).events())
        logged_in = set()
        for e in events:
            if e["type"] == "agent.login":
                assert e["agent_id"] not in logged_in
                logged_in.add(e["agent_id"])
            elif e["type"] == "agent.logout":
                logged_in.remove(e["agent_id"])
            elif e["type"] == "agent.state":
                assert e["agent_id"] in logged_in


def test_the_simulator_plays_the_configured_centre_with_each_queues_own_settings():
    from base.config import Settings
    from producers.simulator import configured_queues

    queues = [{"name": f"Q{i:02d}"} for i in range(16)]
    queues[3]["simulate"] = {"agents": 2, "peak_calls_per_hour": 30, "talk_mean_s": 300}
    queues[0] = {"name": "VIP"}  # one of today's four keeps its own defaults
    settings = Settings(queues=queues)
    played = configured_queues(settings)
    assert [q.name for q in played] == ["VIP", *(f"Q{i:02d}" for i in range(1, 16))]
    assert (played[0].agents, played[0].patience_mean_s) == (6, 60)  # VIP's, as before
    assert (played[3].agents, played[3].peak_calls_per_hour, played[3].talk_mean_s) == (2, 30, 300)
    assert played[3].patience_mean_s == 90.0  # unset: the simulator's default

    sim = Simulator(seed=5, start_ms=at(9, 0), duration_ms=2 * 3_600_000, zone=SHANGHAI,
                    queues=played)
    events = list(sim.events())
    assert {e["queue"] for e in events} == {q.name for q in played}
    q03_agents = {e["agent_id"] for e in events if e["queue"] == "Q03" and "agent_id" in e}
    assert len(q03_agents) in (1, 2)  # its two agents, or one of them in two hours


def test_without_simulate_settings_the_default_centre_plays_as_it_always_has():
    from base.config import Settings
    from producers.simulator import configured_queues, default_queues

    assert configured_queues(Settings()) == default_queues()
