"""The notifier under faults, with a real broker and redis-servers: a failing webhook
is retried until it succeeds, a notifier killed with -9 is taken over by the next
one, nothing is delivered twice; acknowledgements raced against escalation ticks
are never lost; a Redis outage is waited out."""

from __future__ import annotations

import json
import secrets
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import redis
from kafka import KafkaAdminClient, KafkaProducer
from kafka.admin import NewTopic

from alerts.notify import Notifier
from base.alertstore import Outbox, acknowledge
from base.config import load_settings
from base.keys import RedisKeys
from base.signing import verify
from base.topics import bootstrap_servers
from callboard import services
from core.escalation import alert_doc
from core.ladder import Transition, default_rules
from tests.integration.helpers import Stack, serving, wait_until
from tests.unit.factories import SHANGHAI

pytestmark = pytest.mark.integration


class FlakyHooks(ThreadingHTTPServer):
    """A webhook receiver that answers 503 while ``failing``; records every attempt.

    Its secret is its own: a post signed with another (a notifier of another test, or
    of a run killed before its teardown, retrying to a port this one now holds) is
    answered 401 and kept apart in ``foreign``, never counted."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.failing = True
        self.secret = secrets.token_hex(8)
        self.attempts: list[tuple[str, bool]] = []  # (alert_id, delivered)
        self.timeline: list[str] = []  # what arrived when: shown when a test fails
        self.foreign: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def delivered(self) -> Counter[str]:
        return Counter(a for a, ok in list(self.attempts) if ok)

    def failed(self) -> Counter[str]:
        return Counter(a for a, ok in list(self.attempts) if not ok)


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        server: FlakyHooks = self.server  # type: ignore[assignment]
        raw = self.rfile.read(int(self.headers["Content-Length"]))
        body = json.loads(raw)
        why = verify(server.secret, self.headers.get("X-Callboard-Timestamp", ""), raw,
                     self.headers.get("X-Callboard-Signature", ""), time.time())
        failing = server.failing
        server.timeline.append(f"{time.time():.3f} {body['alert_id']} "
                               f"{'foreign: ' + why if why else 503 if failing else 204}")
        if why:
            server.foreign.append(body["alert_id"])
            self.send_response(401)
        else:
            server.attempts.append((body["alert_id"], not failing))
            self.send_response(503 if failing else 204)
        self.end_headers()

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def hooks() -> Iterator[FlakyHooks]:
    with serving(FlakyHooks()) as server:
        yield server


def configure(stack: Stack, tmp_path, hooks: FlakyHooks, extra: str = "") -> None:
    config = tmp_path / "centre.toml"
    config.write_text(f"""
[escalation]
webhook_secret = "{hooks.secret}"
max_alert_age_s = 0
ack_timeout_min = 60
{extra}
[[escalation.recipients]]
name = "supervisor"
webhook_url = "{hooks.url}/supervisor"
""")
    stack.env["CALLBOARD_CONFIG"] = str(config)


def alerts(queues: list[str]) -> list[dict]:
    step = default_rules().steps[0]
    return [alert_doc(q, Transition(1, "up", 1_767_585_900_000 + i, 6, "day", step), SHANGHAI)
            for i, q in enumerate(queues)]


def publish(stack: Stack, docs: list[dict]) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap_servers(stack.env["CALLBOARD_BROKER_URL"]),
                             acks="all")
    for doc in docs:
        producer.send(stack.env["CALLBOARD_ALERTS_TOPIC"], key=doc["queue"].encode(),
                      value=json.dumps(doc).encode())
    producer.flush()
    producer.close()


def audit(stack: Stack) -> list[dict[str, str]]:
    return [f for _, f in stack.redis.xrange(stack.keys.alerts_audit)]


def test_a_failing_webhook_is_retried_and_a_killed_notifier_is_taken_over(stack, tmp_path,
                                                                          hooks):
    configure(stack, tmp_path, hooks)
    docs = alerts(["GEN", "BIZ", "VIP"])
    ids = {d["alert_id"] for d in docs}
    first = stack.start("notify", name="notify-1")
    publish(stack, docs)
    # Every alert tried at least twice against the failing receiver, then kill -9.
    wait_until(lambda: set(hooks.failed()) == ids and min(hooks.failed().values()) >= 2, 60,
               "two failed attempts per alert")
    first.send_signal(signal.SIGKILL)
    first.wait()
    failed = [f for f in audit(stack) if f["what"] == "notify_failed"]
    assert {f["alert_id"] for f in failed} == ids
    assert all(f["channel"] == "webhook" and f["recipient"] == "supervisor" for f in failed)
    hooks.failing = False
    started = time.monotonic()
    stack.start("notify", name="notify-2")
    wait_until(lambda: set(hooks.delivered()) == ids, 60, "every alert delivered by the next one")
    print(f"delivered by the next notifier {time.monotonic() - started:.1f} s after its start")
    wait_until(lambda: stack.redis.zcard(stack.keys.alerts_outbox) == 0, 30,
               "the outbox to empty")
    assert hooks.delivered() == dict.fromkeys(ids, 1)  # each once, none twice
    trail = audit(stack)
    notified = [f["alert_id"] for f in trail if f["what"] == "notified"]
    assert sorted(notified) == sorted(ids), (
        "audit:\n" + "\n".join(map(str, trail)) + "\nreceiver:\n" + "\n".join(hooks.timeline)
        + "\nnotify-2:\n" + stack.log_tail("notify-2", 30))


def test_acknowledgements_raced_against_escalation_ticks_are_never_lost(redis_url):
    # Recipients on 40 levels (no channels: only the open alerts change), alerts that
    # are always overdue (the clock jumps an hour a call): every tick climbs every
    # alert not acknowledged, while another thread acknowledges all 300.
    levels = [{"name": f"l{n}", "level": n} for n in range(40)]
    settings = load_settings(None, redis_url=redis_url, redis_prefix=f"race:{time.time_ns()}",
                             escalation={"recipients": levels})
    keys = RedisKeys(settings.redis_prefix)
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    queues = [f"Q{i}" for i in range(300)]
    for queue in queues:
        client.hset(keys.alerts_open, queue, json.dumps(
            {"queue": queue, "step": 1, "level": 0, "notified_ms": 0, "acked_by": None,
             "acked_ms": None, "alert_id": f"{queue}:1:up:1"}))
    hours = iter(range(10**6))
    notifier = Notifier(settings, client=redis.Redis.from_url(redis_url, decode_responses=True),
                        clock=lambda: time.time() + 3600 * next(hours))
    done = threading.Event()
    climbed = []

    def ticks() -> None:
        while not done.is_set():
            climbed.append(notifier.escalate_unacknowledged())

    ticker = threading.Thread(target=ticks)
    ticker.start()
    try:
        wait_until(lambda: sum(climbed) >= 300, 30, "escalation ticks under way")
        acker = redis.Redis.from_url(redis_url, decode_responses=True)
        assert all(acknowledge(acker, keys, q, "lin") != "none" for q in queues)
    finally:
        done.set()
        ticker.join()
    opened = {q: json.loads(v) for q, v in client.hgetall(keys.alerts_open).items()}
    assert [q for q in queues if opened[q]["acked_by"] != "lin"] == []
    trail = [f for _, f in client.xrange(keys.alerts_audit)]
    assert sorted(f["queue"] for f in trail if f["what"] == "acknowledged") == sorted(queues)
    # Every climb that was stored is in the trail, and none that was not.
    escalated = Counter(f["queue"] for f in trail if f["what"] == "escalated")
    assert {q: opened[q]["level"] for q in queues} == {q: escalated[q] for q in queues}
    assert sum(climbed) == sum(escalated.values())


def test_the_notifier_waits_out_a_redis_outage(stack, tmp_path, hooks, logs_dir):
    port = services.free_port()
    own = services.start_redis(port, tmp_path / "redis", logs_dir / f"redis-{port}.log")
    stack.env["CALLBOARD_REDIS_URL"] = f"redis://127.0.0.1:{port}/0"
    hooks.failing = False
    configure(stack, tmp_path, hooks)
    notifier = stack.start("notify", name="notify")
    try:
        first, second = alerts(["GEN", "BIZ"])
        publish(stack, [first])
        wait_until(lambda: hooks.delivered()[first["alert_id"]] == 1, 60, "the first alert")
        own.send_signal(signal.SIGKILL)
        own.wait()
        publish(stack, [second])  # sent while Redis is away
        wait_until(lambda: "carrying on in" in stack.log_tail("notify", 200), 30,
                   "the notifier to notice the outage")
        assert notifier.poll() is None
        own = services.start_redis(port, tmp_path / "redis", logs_dir / f"redis-{port}b.log")
        wait_until(lambda: hooks.delivered()[second["alert_id"]] == 1, 60,
                   "the alert sent during the outage, after it")
        assert notifier.poll() is None
    finally:
        services.stop(own)


def test_the_local_stacks_redis_keeps_the_outbox_and_open_alerts_through_a_kill(tmp_path, logs_dir):
    # The local stack's redis-server (persist=True: an append-only file); killed with -9
    # a second after the writes, as a crash would, then started on the same folder.
    port = services.free_port()
    own = services.start_redis(port, tmp_path / "redis", logs_dir / f"redis-{port}.log",
                               persist=True)
    client = redis.Redis(port=port, decode_responses=True)
    keys = RedisKeys("callboard:v1")
    try:
        alert = alerts(["GEN"])[0]
        Outbox(client, keys).add([Outbox.job(alert, "supervisor", "webhook", 0)], 0)
        client.hset(keys.alerts_open, "GEN", json.dumps(alert))
        wait_until(lambda: (tmp_path / "redis" / "appendonlydir").is_dir() and client.info(
            "persistence")["aof_last_write_status"] == "ok" and client.info("persistence")[
            "aof_pending_bio_fsync"] == 0 or None, 10, "the append-only file written")
        client.bgrewriteaof()  # the writes on disk whatever the fsync clock says
        wait_until(lambda: client.info("persistence")["aof_rewrite_in_progress"] == 0 or None,
                   10, "the rewrite")
        own.send_signal(signal.SIGKILL)
        own.wait()
        own = services.start_redis(port, tmp_path / "redis", logs_dir / f"redis-{port}b.log",
                                   persist=True)
        assert Outbox(client, keys).pending() == 1
        assert json.loads(client.hget(keys.alerts_open, "GEN"))["alert_id"] == alert["alert_id"]
    finally:
        services.stop(own)


def test_redis_lost_under_a_failing_delivery_is_rebuilt_from_the_alerts_topic(stack, tmp_path,
                                                                              hooks):
    """Issue 22 (6): with a webhook failing, Redis lost everything after two attempts:
    the delivery was never made, no "gave up" recorded, the open alerts gone from the
    console. Now the notifier sees Redis came back without its record of the alerts and
    reads the topic again: the open alerts are back and the delivery is made."""
    configure(stack, tmp_path, hooks)
    docs = alerts(["GEN", "BIZ"])
    ids = {d["alert_id"] for d in docs}
    stack.start("notify", name="notify")
    publish(stack, docs)
    wait_until(lambda: set(hooks.failed()) == ids and min(hooks.failed().values()) >= 2, 60,
               "two failed attempts per alert")
    # Redis comes back empty: every key of this deployment gone at once.
    lost = list(stack.redis.scan_iter(f"{stack.prefix}:*"))
    assert stack.keys.alerts_outbox in lost and stack.keys.alerts_open in lost
    stack.redis.delete(*lost)
    hooks.failing = False
    wait_until(lambda: set(hooks.delivered()) == ids, 60, "each alert delivered after the loss")
    wait_until(lambda: set(stack.redis.hkeys(stack.keys.alerts_open)) == {"GEN", "BIZ"}, 30,
               "the open alerts rebuilt")
    assert int(stack.redis.hget(stack.keys.alerts_stats, "rebuilt")) >= 1
    assert hooks.delivered() == dict.fromkeys(ids, 1)


def test_redis_keeps_what_the_settings_say_of_the_alerts(stack, tmp_path, hooks):
    """Issue 19 (4): the alert log and the audit trail bounded by settings."""
    hooks.failing = False
    configure(stack, tmp_path, hooks, "alert_log_keep = 10\naudit_keep = 100\n")
    docs = alerts([f"Q{i}" for i in range(150)])  # each: one "notified" audit entry
    stack.start("notify", name="notify")
    publish(stack, docs)
    wait_until(lambda: len(hooks.delivered()) == 150, 120, "every alert delivered")
    wait_until(lambda: stack.redis.xlen(stack.keys.alerts_audit) == 100, 30,
               "the audit trail trimmed to 100")
    kept = [json.loads(a)["alert_id"] for a in stack.redis.lrange(stack.keys.alerts_log, 0, -1)]
    assert len(set(kept)) == 10 and set(kept) <= {d["alert_id"] for d in docs}


def test_a_notifier_started_again_on_an_alerts_topic_made_again_reads_it_from_its_start(
        stack, tmp_path, hooks):
    """A broker change is a restart (callboard/localstack.py): the notifier is stopped, its
    alerts topic made again (as an empty broker has it), and the notifier started again.
    Its group's position belonged to the old topic, past the new one's end: the one
    alert published into the new topic is still delivered, once, and the three it had
    delivered before are not sent again."""
    hooks.failing = False
    configure(stack, tmp_path, hooks)
    notify = stack.start("notify", name="notify")
    docs = alerts(["GEN", "BIZ", "VIP"])
    publish(stack, docs)
    wait_until(lambda: len(hooks.delivered()) == 3, 60, "the first three alerts")
    services.stop(notify)
    topic = stack.env["CALLBOARD_ALERTS_TOPIC"]
    admin = KafkaAdminClient(bootstrap_servers=bootstrap_servers(stack.env["CALLBOARD_BROKER_URL"]))
    try:
        admin.delete_topics([topic])
        wait_until(lambda: topic not in admin.list_topics() or None, 30, "the topic deleted")
        admin.create_topics([NewTopic(topic, 1, 1)])
    finally:
        admin.close()
    later = alert_doc("Q9", Transition(1, "up", 1_767_585_960_000, 6, "day",
                                       default_rules().steps[0]), SHANGHAI)
    publish(stack, [later])
    stack.start("notify", name="notify-again")
    wait_until(lambda: hooks.delivered().get(later["alert_id"]) == 1, 60,
               "the alert of the new topic delivered")
    assert sorted(hooks.delivered().values()) == [1, 1, 1, 1]  # nothing twice
    # Nobody but the test made the topic again: one partition, as ensure_topics makes it
    # (kafka-python's clients no longer ask the broker to create what they name).
    admin = KafkaAdminClient(bootstrap_servers=bootstrap_servers(stack.env["CALLBOARD_BROKER_URL"]))
    try:
        assert len(admin.describe_topics([topic])[0]["partitions"]) == 1
    finally:
        admin.close()
