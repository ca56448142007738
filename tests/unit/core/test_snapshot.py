"""Queue snapshots and the centre built from them."""

import pytest

from base.config import Settings
from core.engine import Engine
from core.snapshot import centre_snapshot, queue_snapshot
from tests.unit.factories import SHANGHAI, at, call, event


def build():
    settings = Settings()
    engine = Engine(settings.rule_book().rules_for, SHANGHAI, retention_ms=None, max_wait_ms=1 << 40)
    engine.apply(
        call("g1", at(10, 0), answer_after_s=10)
        + call("g2", at(10, 1), answer_after_s=30)
        + call("g3", at(10, 4))  # still waiting at 10:05
        + call("v1", at(10, 2), queue="VIP", answer_after_s=14)
        + call("v2", at(10, 3), queue="VIP")  # waiting since 10:03
        + [event("agent.login", at(9, 0), "VIP", agent_id="a"),
           event("agent.state", at(10, 2, 14), "VIP", agent_id="a", state="on_call")]
    )
    now = at(10, 5)
    snaps = [queue_snapshot(engine, settings.rule_book().rules_for(q), now) for q in ("GEN", "VIP")]
    return settings, now, snaps


def test_queue_snapshot_live_figures():
    _, _, (gen, vip) = build()
    assert gen["now"]["waiting"] == 1
    assert gen["now"]["longest_wait_s"] == 60  # g3 offered 10:04, now 10:05
    assert vip["now"]["longest_wait_s"] == 120
    assert vip["now"]["agents"]["on_call"] == 1 and vip["now"]["agents"]["logged_in"] == 1
    assert gen["windows"]["interval"]["start"] == "2026-01-05T10:00:00+08:00"
    assert gen["windows"]["interval"]["service_level"] == pytest.approx(1 / 3, abs=1e-6)
    assert vip["sl_threshold_s"] == 15 and vip["windows"]["day"]["answered_within_threshold"] == 1


def test_centre_sums_counts_and_derives_ratios_again():
    settings, now, parts = build()
    centre = centre_snapshot(parts, settings.rule_book().rules_for("ALL"), now, SHANGHAI)
    assert centre["queue"] == "ALL" and centre["queues"] == ["GEN", "VIP"]
    assert centre["now"]["waiting"] == 2
    assert centre["now"]["longest_wait_s"] == 120
    day = centre["windows"]["day"]
    assert (day["offered"], day["answered"], day["answered_within_threshold"]) == (5, 3, 2)
    # 2 of 5, not the mean of the queues' 1/3 and 1/2
    assert day["service_level"] == pytest.approx(2 / 5)
    assert day["asa_s"] == pytest.approx((10 + 30 + 14) / 3)


def test_an_agent_of_two_queues_is_one_person_in_the_state_last_told():
    # "m" is signed in to GEN and VIP; the ACD tells a state on the call's queue only, so
    # VIP still shows m available from 09:00 while GEN says on a call since 10:02. "s" is
    # GEN's alone, on a break. The centre has two people: one on a call, one not ready
    # (summed per queue it would say 3 signed in, 1 of them available).
    settings = Settings()
    engine = Engine(settings.rule_book().rules_for, SHANGHAI, retention_ms=None,
                    max_wait_ms=1 << 40)
    engine.apply([event("agent.login", at(9, 0), "GEN", agent_id="m"),
                  event("agent.login", at(9, 0), "VIP", agent_id="m"),
                  event("agent.login", at(9, 0), "GEN", agent_id="s"),
                  event("agent.state", at(9, 30), "GEN", agent_id="s", state="not_ready",
                        reason="break"),
                  event("agent.state", at(10, 2), "GEN", agent_id="m", state="on_call")])
    now = at(10, 5)
    parts = [queue_snapshot(engine, settings.rule_book().rules_for(q), now) for q in ("GEN", "VIP")]
    assert parts[1]["now"]["agents"]["available"] == 1  # VIP's own view is unchanged
    agents = centre_snapshot(parts, settings.rule_book().rules_for("ALL"), now,
                             SHANGHAI)["now"]["agents"]
    assert (agents["available"], agents["on_call"], agents["not_ready"],
            agents["logged_in"]) == (0, 1, 1, 2)
    # Signed out of GEN, m is still VIP's (available, as VIP last heard).
    engine.apply([event("agent.logout", at(10, 6), "GEN", agent_id="m")])
    now = at(10, 7)
    parts = [queue_snapshot(engine, settings.rule_book().rules_for(q), now) for q in ("GEN", "VIP")]
    agents = centre_snapshot(parts, settings.rule_book().rules_for("ALL"), now,
                             SHANGHAI)["now"]["agents"]
    assert (agents["available"], agents["not_ready"], agents["logged_in"]) == (1, 1, 2)
