"""The notifier's decisions, in memory: what the open alert becomes after each alert, when
an unacknowledged alert climbs a level, who is told, and what a message says. The
delivery itself (Redis outbox, webhook, SMTP) is tested against real servers in
tests/integration/test_notifier.py."""

from __future__ import annotations

import hmac

from alerts.notify import Notifier, message_text, open_alert_after, sign
from base.config import Settings
from core.records import Alert

MIN = 60_000


def climb(notifier: Notifier, current, now_ms: int):
    raised: list = []
    return notifier.climbed(current, now_ms, raised), raised


def alert(step: int, direction: str, at_ms: int, queue: str = "GEN", waiting: int = 8) -> Alert:
    return {
        "alert_id": f"{queue}:{at_ms}:{direction}:{step}", "queue": queue, "step": step,
        "direction": direction, "event_time": "2026-01-05T09:05:05+08:00", "event_ms": at_ms,
        "waiting": waiting, "mode": "day",
        "rung": {"name_zh": "值班长签入", "name_en": "Duty manager signs in",
                 "action_zh": "增开座席", "action_en": "Open more seats",
                 "staff_group": "duty", "seats": "2-3"},
        "seats_needed": None, "staffed": None,
    }


def test_a_step_up_opens_the_alert_unacknowledged_at_level_0():
    opened = open_alert_after(None, alert(1, "up", 5 * MIN), now_ms=5 * MIN + 200, ended=[])
    assert opened is not None
    assert (opened["step"], opened["level"], opened["acked_by"], opened["notified_ms"]) == (
        1, 0, None, 5 * MIN + 200)
    assert opened["started"] == {"1": 5 * MIN}


def test_a_redelivered_alert_changes_nothing():
    first = alert(1, "up", 5 * MIN)
    opened = open_alert_after(None, first, 5 * MIN, [])
    assert open_alert_after(opened, first, 9 * MIN, []) is opened


def test_a_further_step_is_news_again_and_keeps_when_each_step_began():
    opened = open_alert_after(None, alert(1, "up", 5 * MIN), 5 * MIN, [])
    acked = {**opened, "acked_by": "alice", "acked_ms": 6 * MIN}
    second = open_alert_after(acked, alert(2, "up", 10 * MIN), 10 * MIN, [])
    assert (second["step"], second["level"], second["acked_by"]) == (2, 0, None)
    assert second["started"] == {"1": 5 * MIN, "2": 10 * MIN}


def test_signing_out_a_step_reports_how_long_it_ran_and_step_0_closes_the_alert():
    opened = open_alert_after(None, alert(1, "up", 5 * MIN), 5 * MIN, [])
    up2 = open_alert_after(opened, alert(2, "up", 10 * MIN), 10 * MIN, [])
    ended: list[tuple[int, float]] = []
    down1 = open_alert_after(up2, alert(1, "down", 16 * MIN), 16 * MIN, ended)
    # Step 2 ran from minute 10 to minute 16: 360 s.
    assert ended == [(2, 360.0)]
    assert (down1["step"], down1["direction"], down1["started"]) == (1, "down", up2["started"])
    ended.clear()
    assert open_alert_after(down1, alert(0, "down", 20 * MIN), 20 * MIN, ended) is None
    assert ended == [(1, 900.0)]  # step 1: minute 5 to minute 20


def test_an_unacknowledged_alert_climbs_one_level_after_the_ack_timeout_and_no_further():
    settings = Settings(escalation={"ack_timeout_min": 5, "recipients": [
        {"name": "lead", "level": 0, "email": "lead@example.test"},
        {"name": "manager", "level": 1, "email": "manager@example.test"}]})
    notifier = Notifier(settings)  # no Redis call is made by the decision
    opened = open_alert_after(None, alert(1, "up", 0), 0, [])
    assert climb(notifier, opened, 5 * MIN - 1) == (opened, [])  # not yet
    climbed, raised = climb(notifier, opened, 5 * MIN)
    assert (climbed["level"], climbed["notified_ms"]) == (1, 5 * MIN) and raised == [climbed]
    # Level 1 is the highest anyone is at: it stays there.
    assert climb(notifier, climbed, 20 * MIN) == (climbed, [])
    acked = {**opened, "acked_by": "lead"}
    assert climb(notifier, acked, 20 * MIN) == (acked, [])


def test_recipients_are_chosen_by_level_and_queue():
    settings = Settings(escalation={"recipients": [
        {"name": "all-queues", "level": 0, "email": "a@example.test"},
        {"name": "vip-only", "level": 0, "queues": ["VIP"], "email": "v@example.test"},
        {"name": "manager", "level": 1, "email": "m@example.test"}]})
    notifier = Notifier(settings)
    assert [r.name for r in notifier.recipients("GEN", 0)] == ["all-queues"]
    assert [r.name for r in notifier.recipients("VIP", 0)] == ["all-queues", "vip-only"]
    assert [r.name for r in notifier.recipients("VIP", 1)] == ["manager"]


def test_the_message_names_queue_step_action_and_seats_and_says_when_it_escalated():
    doc = alert(6, "up", 0)
    doc["seats_needed"] = {"agents": 14, "service_level": 0.81, "asa_s": 12.0,
                           "calls_15min": 120, "aht_s": 180.0}
    doc["staffed"] = 9
    lines = message_text(doc, escalated=2).splitlines()
    assert lines[0] == "[callboard] GEN step up -> 6: 值班长签入 / Duty manager signs in"
    assert lines[2:4] == ["增开座席", "Open more seats (duty, seats 2-3)"]
    assert "Seats needed now (Erlang C): 14 (staffed 9)" in lines
    assert lines[-1] == "Not acknowledged: escalated to level 2."


def test_the_webhook_signature_is_hmac_sha256_of_timestamp_dot_body():
    # Worked by hand with the standard library, not with the code under test.
    want = hmac.new(b"s3cret", b"1700000000.{}", "sha256").hexdigest()
    assert sign("s3cret", "1700000000", b"{}") == f"sha256={want}"


def test_a_phone_message_is_in_the_recipients_language_with_now_seats_and_the_link():
    from alerts.notify import phone_message

    doc = alert(1, "up", 1_767_578_705_000)
    doc["seats_needed"] = {"agents": 9, "service_level": 0.8, "asa_s": 12.0,
                           "calls_15min": 40, "aht_s": 200.0}
    doc["staffed"] = 6
    now = {"now": {"waiting": 11, "longest_wait_s": 371.0}}
    title, body = phone_message(doc, "zh", now=now, link="https://b/ack/x?lang=zh")
    assert title == f"GEN 升级至第 1 步：{doc['rung']['name_zh']}"
    assert body.splitlines() == [
        f"措施：{doc['rung']['action_zh']}", f"{doc['event_time'][11:16]} 排队 8 人",
        "现在：排队 11 人，最长等待 6:11", "所需坐席 9，在岗 6", "一键确认：https://b/ack/x?lang=zh"]
    title, body = phone_message(doc, "en", escalated=1)
    assert title == f"GEN step up to step 1: {doc['rung']['name_en']}"
    assert "Not acknowledged: escalated to level 1." in body and "http" not in body


def test_a_phone_message_links_to_the_queues_drill_down_when_the_board_has_an_address():
    from alerts.notify import drill_url, phone_message

    assert drill_url(None, "GEN", "zh") is None
    url = drill_url("https://board.example/", "家庭业务", "zh")
    assert url == ("https://board.example/supervisor/?queue="
                   "%E5%AE%B6%E5%BA%AD%E4%B8%9A%E5%8A%A1&lang=zh")
    _, body = phone_message(alert(1, "up", 1_767_578_705_000), "en", drill=url)
    assert body.splitlines()[-1] == f"The queue in detail: {url}"


def test_an_ack_link_reads_back_only_as_signed_by_this_deployment():
    import pytest

    from base.acklink import LinkError, read_link, sign_link
    from base.config import EscalationConfig

    esc = EscalationConfig(public_url="https://board.example", ack_link_secret="k" * 20)
    claim = {"alert_id": "GEN:1:up:1", "queue": "GEN", "recipient": "lin", "level": 1}
    token = sign_link(esc, claim)
    assert read_link(esc, token) == claim
    # A changed character of the signature: not its last, whose low bits base64 leaves
    # unused (A..D may decode alike: this test once passed a "tampered" link that way).
    i = len(token) - 2
    changed = token[:i] + ("A" if token[i] != "A" else "B") + token[i + 1:]
    for bad in (changed, token.replace(".", "", 1), ""):
        with pytest.raises(LinkError) as error:
            read_link(esc, bad)
        assert error.value.reason == "tampered"
    other = EscalationConfig(public_url="https://board.example", ack_link_secret="j" * 20)
    with pytest.raises(LinkError):
        read_link(other, token)


def test_an_apprise_url_is_checked_at_start_and_its_secret_never_in_the_error(monkeypatch):
    import pytest
    from pydantic import ValidationError

    from base.config import Recipient

    monkeypatch.setenv("ROBOT", "abc123")
    assert Recipient(name="x", apprise=["wecombot://${ROBOT}"]).apprise == ["wecombot://abc123"]
    with pytest.raises(ValidationError) as error:
        Recipient(name="x", apprise=["wecombot://key1", "nosuchservice://s3cr3t"])
    assert "apprise[1]: not a URL Apprise can send to (scheme 'nosuchservice')" in str(
        error.value).split("[type=")[0]
    monkeypatch.delenv("ROBOT")
    with pytest.raises(ValidationError) as error:
        Recipient(name="x", apprise=["wecombot://${ROBOT}"])
    assert "environment variable ROBOT is not set" in str(error.value)


def _warning(direction: str, at_ms: int, breach_in_s: int | None = 480) -> Alert:
    doc = alert(0, direction, at_ms, waiting=4)
    doc["forecast"] = {"at_ms": at_ms, "breach_ms": at_ms + (breach_in_s or 0) * 1000,
                       "breach_in_s": breach_in_s, "early_in_s": 300, "late_in_s": None,
                       "arrivals_per_min": 6.2, "capacity_per_min": 4.5, "agents": 18,
                       "aht_s": 240.0}
    return doc


def test_warnings_go_to_the_recipients_who_asked_for_them_and_never_climb():
    settings = Settings(escalation={"ack_timeout_min": 5, "recipients": [
        {"name": "lead", "level": 0, "email": "l@example.test"},
        {"name": "planner", "level": 0, "email": "p@example.test", "alerts": ["warning"]},
        {"name": "both", "level": 0, "email": "b@example.test", "alerts": ["ladder", "warning"]},
        {"name": "manager", "level": 1, "email": "m@example.test"}]})
    notifier = Notifier(settings)
    assert [r.name for r in notifier.recipients("GEN", 0)] == ["lead", "both"]
    assert [r.name for r in notifier.recipients("GEN", 0, "warning")] == ["planner", "both"]
    warned = open_alert_after(None, _warning("warn", 0), 0, [])
    assert (warned["step"], warned["direction"], warned["level"]) == (0, "warn", 0)
    assert climb(notifier, warned, 60 * MIN) == (warned, [])  # nothing has happened yet


def test_step_1_replaces_a_warning_and_a_warning_never_replaces_a_step():
    warned = open_alert_after(None, _warning("warn", 0), 0, [])
    up = open_alert_after(warned, alert(1, "up", 4 * MIN), 4 * MIN, [])
    assert (up["step"], up["direction"]) == (1, "up")
    assert open_alert_after(up, _warning("warn", 30 * MIN), 30 * MIN, []) is up
    assert open_alert_after(up, _warning("warn_end", 31 * MIN), 31 * MIN, []) is up
    assert open_alert_after(warned, _warning("warn_end", 9 * MIN), 9 * MIN, []) is None


def test_a_warning_on_the_phone_says_when_step_1_is_forecast_with_its_spread():
    from alerts.notify import phone_message

    title, body = phone_message(_warning("warn", 1_767_578_705_000), "zh")
    assert title == "GEN 预警：约 8 分钟后可能触发第 1 步"
    assert body.splitlines()[-1] == (
        "预测：约 8 分钟（5-30+）；来电 6.2/分钟，可接 4.5/分钟（18 名坐席）")
    title, body = phone_message(_warning("warn", 1_767_578_705_000), "en")
    assert title == "GEN warning: step 1 likely in ~8 min"
    title, _ = phone_message(_warning("warn_end", 1_767_578_705_000, None), "en")
    assert title == "GEN warning over: the risk has passed"


def test_a_complaints_alerts_go_to_team_leads_and_the_duty_manager_and_leave_the_queues_alert():
    from alerts.notify import phone_message
    from core.tickets import Ticket, ticket_alert
    from tests.unit.factories import SHANGHAI, at

    settings = Settings(escalation={"recipients": [
        {"name": "floor", "level": 0, "email": "f@example.test"},
        {"name": "lead", "level": 0, "email": "l@example.test", "alerts": ["ticket_due"]},
        {"name": "duty", "level": 0, "email": "d@example.test",
         "alerts": ["ladder", "ticket_overdue"]}]})
    notifier = Notifier(settings)
    ticket = Ticket("T-1", "GEN", "complaint", 1, at(10, 0), at(12, 0), at(12, 0),
                    soon_ms=at(11, 30), owner="A1")
    due = ticket_alert(ticket, "ticket_due", at(11, 30), SHANGHAI)
    late = ticket_alert(ticket, "ticket_overdue", at(12, 0), SHANGHAI)
    assert [r.name for r in notifier.recipients("GEN", 0, "ticket_due")] == ["lead"]
    assert [r.name for r in notifier.recipients("GEN", 0, "ticket_overdue")] == ["duty"]
    title, body = phone_message(late, "en")
    assert title == "GEN Level 1 complaint overdue: ticket T-1"
    assert "Owner A1, due 01-05 12:00" in body and "Duty manager" in body
    title_zh, _ = phone_message(due, "zh")
    assert title_zh == "GEN 1级投诉将超时：工单 T-1"
