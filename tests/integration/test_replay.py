"""Replay: a stretch of the log again, in a session of its own, equal to the offline
reference and invisible to the live board and the alert channels."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import redis

from base.keys import RedisKeys, replay_prefix
from callboard import services
from core.snapshot import CENTRE, centre_snapshot, queue_snapshot
from tests.integration.helpers import (
    Stack,
    attr_of,
    events_in,
    offline,
    published_alerts,
    start_board,
    surge_log,
    text_of,
    wait_until,
)

pytestmark = pytest.mark.integration


def live_keys(stack: Stack) -> dict[str, bytes | None]:
    raw = redis.Redis.from_url(stack.env["CALLBOARD_REDIS_URL"])  # DUMP is binary
    # Everything but the replays' own keys and their list.
    keys = [k for k in stack.redis.scan_iter(match=f"{stack.prefix}:*")
            if not k.startswith(stack.keys.replays) and k != stack.keys.replay_sessions]
    return {k: raw.dump(k) for k in sorted(keys)}


def test_a_replayed_file_equals_the_offline_reference_and_touches_nothing_live(
        stack: Stack, tmp_path):
    log = tmp_path / "surge.jsonl"
    lines = surge_log(stack, log)
    # Some live state first: a worker counted the first 300 events, then stopped.
    head = tmp_path / "head.jsonl"
    head.write_bytes(b"\n".join(lines[:300]) + b"\n")
    stack.cli("publish", str(head))
    worker = stack.start("worker", name="worker")
    wait_until(lambda: events_in(stack) == 300, 90, "the live worker to count 300 events")
    worker.terminate()
    worker.wait(30)
    before, alerts_before = live_keys(stack), len(published_alerts(stack))
    assert before

    settings, reference, result = offline(stack, lines)
    last_ms = reference.engine.clock_ms
    to = _iso(last_ms, settings)
    out = stack.cli("replay", "--from", "2026-01-05T09:00", "--to", to, "--source", str(log),
                    "--session", "surge").stdout
    assert json.loads(out)["session"] == "surge"

    # Nothing live changed: no key, no alert on the topic the notifier reads.
    assert live_keys(stack) == before
    assert len(published_alerts(stack)) == alerts_before

    prefix = replay_prefix(stack.prefix, "surge")
    parts = []
    for queue in reference.queues():
        want = queue_snapshot(reference.engine, settings.rule_book().rules_for(queue), last_ms)
        parts.append(want)
        got = json.loads(stack.redis.get(RedisKeys(prefix).snapshot(queue)))
        assert got["as_of_ms"] == last_ms
        for key in ("windows", "agents_day"):
            assert got[key] == want[key], (queue, key)
        assert got["now"]["waiting"] == want["now"]["waiting"], queue
        assert got["now"]["agents"] == want["now"]["agents"], queue
    centre = json.loads(stack.redis.get(RedisKeys(prefix).snapshot(CENTRE)))
    want_centre = centre_snapshot(parts, settings.rule_book().rules_for(CENTRE), last_ms, settings.zone)
    assert centre["windows"] == want_centre["windows"]
    # The session's alerts: those `callboard alerts` fires up to the range's end.
    session_alerts = json.loads(stack.redis.get(RedisKeys(prefix).session_alerts))
    want_alerts = [a for a in result.alerts if a["event_ms"] <= last_ms]
    assert want_alerts, "the surge fires no alert in the range: the comparison would be empty"
    assert [a["alert_id"] for a in session_alerts] == [a["alert_id"] for a in want_alerts]
    # Listed, done, and every key of it expires.
    listed = json.loads(stack.redis.hget(stack.keys.replay_sessions, "surge"))
    assert listed["status"] == "done" and listed["at_ms"] == last_ms
    ttl = stack.redis.ttl(RedisKeys(prefix).snapshot(CENTRE))
    assert 0 < ttl <= 24 * 3600


def _iso(ms: int, settings) -> str:
    from datetime import datetime

    return datetime.fromtimestamp(ms / 1000, settings.zone).isoformat(timespec="milliseconds")


@pytest.mark.browser
def test_the_board_shows_a_session_marked_as_replay_and_a_jump_lands_on_its_minute(
        stack: Stack, tmp_path, browser):
    log = tmp_path / "surge.jsonl"
    lines = surge_log(stack, log)
    settings, reference, _ = offline(stack, lines)
    last_ms = reference.engine.clock_ms
    # A paced session, paused on its first minute; then a jump to 09:41.
    prefix = replay_prefix(stack.prefix, "play")
    stack.redis.hset(RedisKeys(prefix).session_control, mapping={"paused": "1"})
    session = stack.start("replay", "--from", "2026-01-05T09:00", "--to", _iso(last_ms, settings),
                          "--source", str(log), "--session", "play", "--speed", "60",
                          name="replay")
    try:
        def state() -> dict:
            raw = stack.redis.hget(stack.keys.replay_sessions, "play")
            return json.loads(raw) if raw else {}

        nine = _ms("2026-01-05T09:00", settings)
        wait_until(lambda: state().get("status") == "paused" and state()["at_ms"] == nine, 60,
                   "the session paused at 09:00")
        jump = _ms("2026-01-05T09:41", settings)
        stack.redis.hset(RedisKeys(prefix).session_control, "jump_ms", str(jump))
        wait_until(lambda: state().get("at_ms") == jump, 30, "the jump to 09:41")
        # The session at 09:41 is the log folded to 09:41, as the offline reference has it.
        upto = [line for line in lines if json.loads(line)["ts_ms"] <= jump]
        _, at_jump, _ = offline(stack, upto)
        want = queue_snapshot(at_jump.engine, settings.rule_book().rules_for("GEN"), jump)
        got = json.loads(stack.redis.get(RedisKeys(prefix).snapshot("GEN")))
        assert got["as_of_ms"] == jump
        assert got["windows"] == want["windows"]
        assert got["now"]["waiting"] == want["now"]["waiting"]

        # Back to 09:20 (from the 09:00 checkpoint): the state there, and no half hour
        # after 09:20's left in the session's rows.
        back = _ms("2026-01-05T09:20", settings)
        stack.redis.hset(RedisKeys(prefix).session_control, "jump_ms", str(back))
        wait_until(lambda: state().get("at_ms") == back, 30, "the jump back to 09:20")
        _, at_back, _ = offline(stack, [line for line in lines
                                        if json.loads(line)["ts_ms"] <= back])
        want_back = queue_snapshot(at_back.engine, settings.rule_book().rules_for("GEN"), back)
        got_back = json.loads(stack.redis.get(RedisKeys(prefix).snapshot("GEN")))
        assert got_back["as_of_ms"] == back
        assert got_back["windows"] == want_back["windows"]
        assert got_back["now"]["waiting"] == want_back["now"]["waiting"]
        rows = stack.redis.hgetall(RedisKeys(prefix).intervals("GEN"))
        assert sorted(int(k) for k in rows) == [_ms("2026-01-05T09:00", settings)]
        assert json.loads(rows[str(_ms("2026-01-05T09:00", settings))])["counters"] == \
            at_back.engine.window("GEN", nine, nine + 1_800_000, back)[0]
        stack.redis.hset(RedisKeys(prefix).session_control, "jump_ms", str(jump))
        wait_until(lambda: state().get("at_ms") == jump, 30, "the jump forward to 09:41 again")

        url, _ = start_board(stack)
        browser.get(f"{url}/board?session=play&lang=en")
        wait_until(lambda: "REPLAY 2026-01-05 09:41" in text_of(browser, "banner"), 30,
                   "the replay marker")
        assert "session play · paused · not live" in text_of(browser, "banner")
        assert "replay" in attr_of(browser, "banner", "class")
        assert text_of(browser, "GEN-waiting") == str(want["now"]["waiting"])
        # Written a while ago, yet not "stale": its time is the replay's, not the wall's,
        # and each tile says so instead of a data age.
        assert attr_of(browser, "tile-GEN", "data-stale") == "0"
        assert text_of(browser, "GEN-age") == "replay, as of 09:41"
        browser.get(f"{url}/supervisor/?session=play&lang=en")
        wait_until(lambda: "REPLAY 2026-01-05 09:41" in text_of(browser, "sup-banner"), 30,
                   "the supervisor page's replay marker")
        assert text_of(browser, "sup-GEN-waiting") == str(want["now"]["waiting"])
        browser.get(f"{url}/board?session=nosuch&lang=en")
        wait_until(lambda: "no replay session nosuch" in text_of(browser, "banner"), 30,
                   "the missing-session notice")
    finally:
        services.stop(session)


def _ms(text: str, settings) -> int:
    from datetime import datetime

    return int(datetime.fromisoformat(text).replace(tzinfo=settings.zone).timestamp() * 1000)


def test_the_replay_page_starts_a_session_moves_it_and_serves_its_report(stack: Stack,
                                                                         tmp_path):
    import re

    import requests

    from tests.integration.helpers import with_users

    log = tmp_path / "surge.jsonl"
    lines = surge_log(stack, log)
    stack.cli("publish", str(log))  # the session reads it back from Kafka
    with_users(stack, tmp_path)
    url, _ = start_board(stack)
    web = requests.Session()
    web.auth = ("lin", "floor-pass")
    assert requests.get(f"{url}/replay", timeout=10).status_code == 401  # not signed in
    page = web.get(f"{url}/replay", timeout=10)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    form = {"csrf_token": token, "session": "web", "from": "2026-01-05T09:00",
            "to": "2026-01-05T10:00", "source": "kafka", "speed": "1"}
    # Another site's page cannot start one, nor can a form without the token.
    assert web.post(f"{url}/replay/start", data=form, timeout=10,
                    headers={"Origin": "http://elsewhere.example"}).status_code == 403
    assert web.post(f"{url}/replay/start", data={**form, "csrf_token": ""},
                    timeout=10).status_code == 403
    assert web.post(f"{url}/replay/start", data={**form, "source": "/etc/passwd"},
                    timeout=10).status_code == 400
    started = web.post(f"{url}/replay/start", data=form, timeout=10, allow_redirects=False)
    assert started.status_code == 303

    def state() -> dict:
        raw = stack.redis.hget(stack.keys.replay_sessions, "web")
        return json.loads(raw) if raw else {}

    wait_until(lambda: state().get("status") == "running", 60, "the session to play")
    assert 'id="session-web"' in web.get(f"{url}/replay", timeout=10).text
    # Pause, then jump: it holds the jumped-to minute.
    control = f"{url}/replay/web/control"
    web.post(control, data={"csrf_token": token, "action": "pause"}, timeout=10)
    wait_until(lambda: state().get("status") == "paused", 30, "the pause")
    web.post(control, data={"csrf_token": token, "action": "jump", "at": "2026-01-05T09:50"},
             timeout=10)
    settings, _, _ = offline(stack, lines)
    wait_until(lambda: state().get("at_ms") == _ms("2026-01-05T09:50", settings), 30,
               "the jump to 09:50")
    # The report of the session's range, built on request.
    report = web.get(f"{url}/replay/web/report?lang=en", timeout=300)
    assert report.status_code == 200
    assert "attachment" in report.headers["Content-Disposition"]
    assert "Incident report" in report.text and "id='m-first_breach_ms'" in report.text
    web.post(control, data={"csrf_token": token, "action": "jump", "at": "2026-01-05T10:00"},
             timeout=10)
    web.post(control, data={"csrf_token": token, "action": "play"}, timeout=10)
    wait_until(lambda: state().get("status") == "done", 60, "the session to finish")


def test_kafka_as_a_source_starts_near_the_warm_up_not_at_the_topic_start(stack: Stack,
                                                                         tmp_path):
    from base.config import load_settings
    from review.replay import load_source

    day_before, day = tmp_path / "sunday.jsonl", tmp_path / "monday.jsonl"
    stack.cli("simulate", "--seed", "4", "--duration", "6h", "--start", "2026-01-04T12:00",
              "--volume", "3", "--out", str(day_before))
    stack.cli("simulate", "--seed", "5", "--duration", "1h", "--start", "2026-01-05T09:00",
              "--out", str(day))
    stack.cli("publish", str(day_before))
    stack.cli("publish", str(day))
    before = len(day_before.read_bytes().splitlines())
    wanted = [line for line in day.read_bytes().splitlines()]
    env = {k[len("CALLBOARD_"):].lower(): v for k, v in stack.env.items()
           if k.startswith("CALLBOARD_") and k != "CALLBOARD_CONFIG"}
    settings = load_settings(None, **env)
    from_ms = int(json.loads(wanted[0])["ts_ms"])
    parts = load_source(settings, "kafka", from_ms, int(json.loads(wanted[-1])["ts_ms"]))
    got = [line for lines in parts.values() for line in lines]
    # Every record of the day, and of the day before at most the search's margin
    # (2,000 a partition) rather than all of it.
    assert set(wanted) <= set(got)
    assert before > 3 * 2000 * len(parts)
    assert len(got) - len(wanted) <= 2000 * len(parts)


def test_replays_from_the_archive_kafka_and_the_file_equal_the_live_run(stack: Stack,
                                                                        tmp_path):
    """The live stack (broker, worker, archiver, Redis) counts a surge; the three sources
    replayed give the live snapshots at the same event time, and the live alerts."""
    log = tmp_path / "surge.jsonl"
    lines = surge_log(stack, log)
    stack.env["CALLBOARD_ARCHIVE_FLUSH_S"] = "0.2"
    stack.start("worker", name="worker")
    stack.start("archive", name="archive")
    stack.cli("publish", str(log))
    settings, reference, _ = offline(stack, lines)
    last_ms = reference.engine.clock_ms
    wait_until(lambda: events_in(stack) == len(lines), 120, "the live worker to count all")
    queues = [*reference.queues(), CENTRE]
    wait_until(lambda: all((stack.snapshot(q) or {}).get("as_of_ms") == last_ms
                           for q in queues), 60, "the live snapshots at the last event")
    live = {q: stack.snapshot(q) for q in queues}
    live_alerts = sorted(a["alert_id"] for a in published_alerts(stack)
                         if a["event_ms"] <= last_ms)
    assert live_alerts

    def archived() -> int:
        from review.archive import archive_days, read_day

        root = Path(stack.env["CALLBOARD_ARCHIVE_DIR"])
        return sum(len(v) for d in archive_days(root)
                   for v in read_day(root, d, stack.topic).values())

    wait_until(lambda: archived() == len(lines), 60, "the archive to hold the surge")
    for source in ("archive", "kafka", str(log)):
        name = "src-" + ("file" if source == str(log) else source)
        stack.cli("replay", "--from", "2026-01-05T09:00", "--to", _iso(last_ms, settings),
                  "--source", source, "--session", name)
        prefix = replay_prefix(stack.prefix, name)
        for queue in queues:
            got = json.loads(stack.redis.get(RedisKeys(prefix).snapshot(queue)))
            want = live[queue]
            assert got["as_of_ms"] == want["as_of_ms"] == last_ms, (source, queue)
            for key in ("windows", "agents_day"):  # the centre has no agents_day
                assert got.get(key) == want.get(key), (source, queue, key)
            assert got["now"]["waiting"] == want["now"]["waiting"], (source, queue)
            assert got["now"]["agents"] == want["now"]["agents"], (source, queue)
        session_alerts = json.loads(stack.redis.get(RedisKeys(prefix).session_alerts))
        assert sorted(a["alert_id"] for a in session_alerts) == live_alerts, source
    # Minute by minute, the three sources give the same timeline (the incident report's).
    from base.config import load_settings
    from review.incident_report import build_incident_report

    env = {k[len("CALLBOARD_"):].lower(): v for k, v in stack.env.items()
           if k.startswith("CALLBOARD_") and k != "CALLBOARD_CONFIG"}
    here = load_settings(None, **env)
    nine = _ms("2026-01-05T09:00", settings)
    timelines = [build_incident_report(here, source, nine, last_ms)["timeline"]
                 for source in ("archive", "kafka", str(log))]
    assert timelines[0]["GEN"] and timelines[0] == timelines[1] == timelines[2]


def test_an_asterisk_queue_log_replays_as_its_converted_events(stack: Stack, tmp_path):
    queue_log, converted = tmp_path / "queue_log", tmp_path / "converted.jsonl"
    stack.cli("simulate", "--seed", "8", "--duration", "30m", "--start", "2026-01-05T09:00",
              "--out", str(queue_log), "--format", "asterisk-queue-log")
    assert not queue_log.read_bytes().lstrip().startswith(b"{")
    stack.cli("convert", "asterisk", str(queue_log), "--out", str(converted))
    for name, source in (("qlog", queue_log), ("converted", converted)):
        stack.cli("replay", "--from", "2026-01-05T09:00", "--to", "2026-01-05T09:30",
                  "--source", str(source), "--session", name)
    queues = stack.redis.smembers(RedisKeys(replay_prefix(stack.prefix, "converted")).queues)
    assert queues
    for queue in queues:
        a, b = (json.loads(stack.redis.get(RedisKeys(replay_prefix(stack.prefix, n)).snapshot(queue)))
                for n in ("qlog", "converted"))
        assert a["windows"] == b["windows"] and a["now"] == b["now"], queue
        assert a["windows"]["day"]["offered"] > 0, queue
