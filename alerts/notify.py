"""``callboard notify``: alerts from ``alerts.v1`` to the people who act on them.

- A breach warning (step 0, ``warn`` / ``warn_end``, core/forecast.py) goes only to the
  recipients with "warning" in their ``alerts``, and never climbs a level.
- Every step change goes to the level-0 recipients of its queue, by webhook
  (JSON body; ``X-Callboard-Timestamp`` and ``X-Callboard-Signature:
  sha256=<HMAC of "<timestamp>.<body>">``, so a receiver can refuse a replayed
  call, docs/escalation.md) and e-mail (SMTP).
- **At least once, never twice.** Each delivery (alert, level, recipient,
  channel) is first put in a durable outbox in Redis, and only then is the
  alert's Kafka offset committed. A delivery is claimed for a lease, tried, and
  marked delivered only after it succeeded; a failed one waits in the outbox
  with backoff and is tried again, by this notifier or the next, until it
  succeeds or the alert has climbed past it (``ack_timeout_min``). A notifier
  killed mid-delivery leaves its claim to run out (8 s), and the next one takes
  it over. Every attempt is audited.
- An open alert (step > 0) not acknowledged within ``ack_timeout_min`` climbs to
  the next level's recipients (floor lead, then centre manager), once per level.
  Open alerts are changed atomically (base/alertstore.py), so an
  acknowledgement from the console is never lost to an escalation tick.
- Redis or the broker going away stops nothing for good: the loop waits with
  backoff and carries on where it was.
"""

from __future__ import annotations

import json
import logging
import smtplib
import time
from collections.abc import Callable
from datetime import datetime
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from functools import partial
from typing import Any, cast
from urllib.parse import quote, urlsplit

import redis
import requests
from prometheus_client import Counter, Gauge

from base.acklink import ack_url
from base.alertstore import OpenAlert, Outbox, audit, ticket_alerts, update_open
from base.config import Recipient, Settings
from base.i18n import MESSAGES
from base.keys import RedisKeys, text
from base.signing import sign
from core.records import Alert, Outlook, Snapshot

__all__ = ["WARNINGS", "Notifier", "forecast_line", "message_subject", "message_text",
           "open_alert_after", "phone_message", "run_notifier", "sign"]

log = logging.getLogger(__name__)
DELIVERIES = Counter("callboard_alert_deliveries", "Alert delivery attempts, by channel and result",
                     ["channel", "result"])  # result: sent, failed, gave_up
ESCALATIONS = Counter("callboard_alert_escalations",
                      "Open alerts passed to the next level unacknowledged")
OUTBOX = Gauge("callboard_alert_outbox", "Deliveries waiting in the outbox (due or retrying)")
_BACKOFF_S = (2, 5, 15, 30, 60)  # between attempts of one delivery, then every minute


# E-mail and webhook texts: English around the rung's names in both languages; a
# phone message is in its recipient's own language (phone_message).
_LANG = "en"


def message_subject(alert: Alert) -> str:
    rung = alert["rung"]
    return MESSAGES("subject", _LANG, queue=alert["queue"], verb=MESSAGES(alert["direction"], _LANG),
                    step=alert["step"], name_zh=rung["name_zh"], name_en=rung["name_en"])


def phone_message(alert: Alert, lang: str, escalated: int = 0, now: Snapshot | None = None,
                  link: str | None = None, drill: str | None = None) -> tuple[str, str]:
    """(title, body) for a phone notification, in the recipient's language: the queue
    and step, the manual's action, waiting at the step and now, seats needed, the
    one-tap acknowledgement link and the queue's drill-down on the supervisor page."""
    rung = alert["rung"]
    name = rung["name_zh"] if lang == "zh" else rung["name_en"]
    title = MESSAGES("phone_title", lang, queue=alert["queue"], step=alert["step"], name=name,
                     verb=MESSAGES(alert["direction"], lang))
    lines = [MESSAGES("phone_action", lang, action=rung["action_zh"] if lang == "zh"
                      else rung["action_en"]),
             MESSAGES("phone_at", lang, time=alert["event_time"][11:16], waiting=alert["waiting"])]
    forecast = alert.get("forecast")
    ticket = alert.get("ticket")
    if ticket is not None:
        title = MESSAGES("ticket_title", lang, queue=alert["queue"], name=name,
                         ticket=ticket["ticket_id"])
        # The due time on the centre's clock: the alert's own time carries its offset.
        zone = datetime.fromisoformat(alert["event_time"]).tzinfo
        due = datetime.fromtimestamp(ticket["due_ms"] / 1000, zone)
        lines = [lines[0], MESSAGES("ticket_line", lang, owner=ticket["owner"] or "-",
                                    due=due.strftime("%m-%d %H:%M"))]
    elif alert["direction"] in WARNINGS:
        title = MESSAGES(f"{alert['direction']}_title", lang, queue=alert["queue"],
                         n=_minutes(forecast and forecast["breach_in_s"]))
        if alert["direction"] == "warn_end":
            lines = lines[1:]  # nothing to do any more
        elif forecast is not None:
            lines.append(forecast_line(forecast, lang))
    if now is not None:
        waiting = now["now"]["waiting"]
        longest = int(now["now"]["longest_wait_s"] or 0) if waiting else 0
        lines.append(MESSAGES("phone_now", lang, waiting=waiting,
                              longest=f"{longest // 60}:{longest % 60:02d}"))
    s = alert.get("seats_needed")
    if s:
        lines.append(MESSAGES("phone_seats", lang, n=s["agents"], staffed=alert.get("staffed")))
    if escalated:
        lines.append(MESSAGES("escalated", lang, level=escalated))
    if link:
        lines.append(MESSAGES("phone_ack", lang, url=link))
    if drill:
        lines.append(MESSAGES("phone_drill", lang, url=drill))
    return title, "\n".join(lines)


def drill_url(public_url: str | None, queue: str, lang: str) -> str | None:
    """The queue's drill-down on the supervisor page (its callers, agents, figures);
    None when the board's public address is not set."""
    if not public_url:
        return None
    return f"{public_url.rstrip('/')}/supervisor/?queue={quote(queue, safe='')}&lang={lang}"


def _minutes(seconds: float | None) -> str:
    return "?" if seconds is None else str(max(1, round(seconds / 60)))


def forecast_line(forecast: Outlook, lang: str) -> str:
    """The estimate a warning rests on, in a line: when, its spread, arrivals against
    what the agents can take."""
    return MESSAGES("warn_forecast", lang, n=_minutes(forecast["breach_in_s"]),
                    early=_minutes(forecast["early_in_s"]),
                    late=("30+" if forecast["late_in_s"] is None  # none within the lookahead
                          else _minutes(forecast["late_in_s"])),
                    arrivals=forecast["arrivals_per_min"], capacity=forecast["capacity_per_min"],
                    agents=forecast["agents"])


def message_text(alert: Alert, escalated: int = 0) -> str:
    rung = alert["rung"]
    lines = [
        message_subject(alert),
        MESSAGES("situation", _LANG, at=alert["event_time"], waiting=alert["waiting"],
                 mode=alert["mode"]),
        f"{rung['action_zh']}",
        MESSAGES("staffing", _LANG, action=rung["action_en"], group=rung["staff_group"],
                 seats=rung["seats"]),
    ]
    s = alert.get("seats_needed")
    if s:
        lines.append(MESSAGES("seats_needed", _LANG, n=s["agents"], staffed=alert.get("staffed")))
    forecast = alert.get("forecast")
    if forecast is not None and alert["direction"] == "warn":
        lines.append(forecast_line(forecast, _LANG))
    if escalated:
        lines.append(MESSAGES("escalated", _LANG, level=escalated))
    return "\n".join(lines)


class Notifier:
    def __init__(self, settings: Settings, client: redis.Redis | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.esc = settings.escalation
        self.keys = RedisKeys(settings.redis_prefix)
        self.redis = client or redis.Redis.from_url(
            settings.redis_url, decode_responses=True, socket_timeout=5,
            socket_connect_timeout=2)
        self.outbox = Outbox(self.redis, self.keys)
        self.clock = clock

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    # ------------------------------------------------------------ recipients
    def recipients(self, queue: str, level: int, kind: str = "ladder") -> list[Recipient]:
        """Who hears of an alert of ``kind`` ("ladder", or "warning": the breach warning)."""
        return [r for r in self.esc.recipients
                if r.level == level and (not r.queues or queue in r.queues) and kind in r.alerts]

    def max_level(self) -> int:
        return max((r.level for r in self.esc.recipients), default=0)

    # -------------------------------------------------------------- handling
    def handle(self, alert: Alert) -> None:
        """One alert from the topic: record it, update the open alert, queue level 0's
        deliveries. Safe to run again for the same alert (a redelivered message): the
        open alert is changed once per alert id, deliveries are queued once."""
        now_ms = self.now_ms()
        queue = alert["queue"]
        seen = f"{self.keys.alerts_sent}:{alert['alert_id']}:handled"
        first = not self.redis.exists(seen)
        if first:
            self.redis.lpush(self.keys.alerts_log, json.dumps(alert, ensure_ascii=False))
            self.redis.ltrim(self.keys.alerts_log, 0, self.esc.alert_log_keep - 1)
            ended: list[tuple[int, float]] = []
            if alert["direction"] not in TICKETS:  # a complaint's alert is not the queue's
                update_open(self.redis, self.keys, queue,
                            lambda current: open_alert_after(current, alert, now_ms, ended))
            elif ticket_of := alert.get("ticket"):
                # Its own record, to acknowledge from the console or its link; it never climbs.
                update_open(self.redis, self.keys, ticket_of["ticket_id"],
                            lambda current: ticket_alert_after(current, alert, now_ms),
                            self.keys.alerts_tickets)
            for step, duration_s in ended[-1:]:
                audit(self.redis, self.keys, what="step_ended", queue=queue, step=step,
                      duration_s=duration_s)
            if alert["direction"] == "down" and alert["step"] == 0:
                audit(self.redis, self.keys, what="cleared", queue=queue)
            elif alert["direction"] in TICKETS:
                ticket = alert.get("ticket")
                audit(self.redis, self.keys, what=alert["direction"], queue=queue,
                      ticket=ticket["ticket_id"] if ticket else None)
            elif alert["direction"] in WARNINGS:
                forecast = alert.get("forecast")
                audit(self.redis, self.keys, what=alert["direction"], queue=queue,
                      breach_in_s=forecast["breach_in_s"] if forecast else None)
        age_s = (now_ms - alert["event_ms"]) / 1000
        if self.esc.max_alert_age_s and age_s > self.esc.max_alert_age_s:
            if first:
                audit(self.redis, self.keys, what="not_sent_old", queue=queue,
                      step=alert["step"], alert_id=alert["alert_id"], age_s=round(age_s))
        else:
            self.tell(alert, level=0)
        self.redis.set(seen, 1, ex=self._marker_s())

    def tell(self, alert: Alert, level: int) -> None:
        """Put the level's deliveries in the outbox, due now (once: a job is one member)."""
        jobs = []
        for recipient in self.recipients(alert["queue"], level, _kind(alert)):
            for channel in _channels(recipient):
                if not self.redis.exists(self._marker(alert, level, recipient.name, channel)):
                    jobs.append(Outbox.job(alert, recipient.name, channel, level))
        self.outbox.add(jobs, self.now_ms())

    def _marker_s(self) -> int:
        return int(self.esc.marker_days * 86400)

    def trim(self) -> None:
        """The audit trail to its newest ``audit_keep`` entries (once a round: an entry is
        written by whoever audits, the notifier or a board); the complaints' alert records
        once acknowledged a day ago, or raised a week ago."""
        self.redis.xtrim(self.keys.alerts_audit, maxlen=self.esc.audit_keep, approximate=False)
        now = self.now_ms()
        old = [a["ticket"]["ticket_id"] for a in ticket_alerts(self.redis, self.keys)
               if "ticket" in a and (now - (a.get("acked_ms") or now) > _TICKET_ACKED_KEEP_MS
                                     or now - a["event_ms"] > _TICKET_KEEP_MS)]
        if old:
            self.redis.hdel(self.keys.alerts_tickets, *old)

    def _marker(self, alert: Alert, level: int, recipient: str, channel: str) -> str:
        return f"{self.keys.alerts_sent}:{alert['alert_id']}:{level}:{recipient}:{channel}"

    # ------------------------------------------------------------- delivery
    def deliver_due(self) -> int:
        """Try every delivery that is due; returns how many succeeded."""
        delivered = 0
        for raw in self.outbox.claim(self.now_ms()):
            delivered += self._deliver(raw)
        return delivered

    def _deliver(self, raw: str) -> int:
        job = json.loads(raw)
        alert, level, channel = job["alert"], job["level"], job["channel"]
        marker = self._marker(alert, level, job["recipient"], channel)
        recipient = next((r for r in self.recipients(alert["queue"], level, _kind(alert))
                          if r.name == job["recipient"]), None)
        if recipient is None or self.redis.exists(marker):
            self.outbox.finish(raw)  # delivered already, or nobody to tell any more
            return 0
        attempt = self.outbox.attempted(raw)
        fields = dict(queue=alert["queue"], step=alert["step"], direction=alert["direction"],
                      channel=channel, recipient=recipient.name, level=level,
                      alert_id=alert["alert_id"], attempt=attempt)
        try:
            if channel == "webhook":
                self._webhook(recipient, alert, level)
            elif channel == "email":
                self._email(recipient, alert, level)
            else:
                self._apprise(recipient, alert, level, channel)
        except Exception as exc:  # noqa: BLE001  # every channel failure is shown, none is fatal
            self._failed(raw, alert, attempt, fields, exc)
            return 0
        self.redis.set(marker, 1, ex=self._marker_s())
        self.outbox.finish(raw)
        self.redis.hincrby(self.keys.alerts_stats, f"sent.{channel}", 1)
        DELIVERIES.labels(channel, "sent").inc()
        audit(self.redis, self.keys, what="notified", **fields)
        return 1

    def _failed(self, raw: str, alert: Alert, attempt: int, fields: dict[str, object],
                exc: Exception) -> None:
        self.redis.hincrby(self.keys.alerts_stats, f"failed.{fields['channel']}", 1)
        # Retried until it succeeds, or until an unacknowledged alert has climbed
        # past this level anyway (the next level's people are being told).
        notified = cast(OpenAlert, alert).get("notified_ms")  # a retried step's open alert
        age_ms = self.now_ms() - int(notified or alert["event_ms"])
        give_up = (age_ms > 2 * self.esc.ack_timeout_min * 60_000 and attempt >= len(_BACKOFF_S))
        audit(self.redis, self.keys, what="notify_gave_up" if give_up else "notify_failed",
              error=repr(exc)[:300], **fields)
        log.warning("could not notify %s by %s (attempt %s): %s", fields["recipient"],
                    fields["channel"], attempt, exc)
        DELIVERIES.labels(fields["channel"], "gave_up" if give_up else "failed").inc()
        if give_up:
            self.outbox.finish(raw)
        else:
            self.redis.hincrby(self.keys.alerts_stats, f"retried.{fields['channel']}", 1)
            wait_s = _BACKOFF_S[min(attempt, len(_BACKOFF_S)) - 1]
            self.outbox.retry_at(raw, self.now_ms() + wait_s * 1000)

    def _webhook(self, recipient: Recipient, alert: Alert, level: int) -> None:
        body = json.dumps({**alert, "level": level}, ensure_ascii=False).encode()
        timestamp = str(int(self.clock()))
        response = requests.post(
            str(recipient.webhook_url), data=body, timeout=5,
            headers={"Content-Type": "application/json",
                     "X-Callboard-Timestamp": timestamp,
                     "X-Callboard-Delivery": f"{alert['alert_id']}:{level}",
                     "X-Callboard-Signature": sign(self.esc.webhook_secret or "", timestamp,
                                                   body)})
        response.raise_for_status()

    def _email(self, recipient: Recipient, alert: Alert, level: int) -> None:
        if not self.esc.smtp_url:
            raise RuntimeError("escalation.smtp_url is not set")
        url = urlsplit(self.esc.smtp_url)
        message = EmailMessage()
        message["From"] = self.esc.smtp_from
        message["To"] = str(recipient.email)
        message["Subject"] = message_subject(alert)
        # Mail servers and clients expect both; some spam filters drop mail without them.
        message["Date"] = formatdate(localtime=True)
        message["Message-ID"] = make_msgid(idstring=f"{alert['alert_id']}.{level}",
                                           domain=url.hostname or "callboard")
        message.set_content(message_text(alert, level))
        with smtplib.SMTP(url.hostname or "localhost", url.port or 25, timeout=5) as smtp:
            smtp.send_message(message)

    def _apprise(self, recipient: Recipient, alert: Alert, level: int, channel: str) -> None:
        """One Apprise URL of the recipient's (channel "apprise:<scheme>:<index>")."""
        import apprise

        _sign_dingtalk_once()
        index = int(channel.rsplit(":", 1)[1])
        url = recipient.apprise[index]
        link = ack_url(self.esc, {"alert_id": alert["alert_id"], "queue": alert["queue"],
                                  "recipient": recipient.name, "level": level}, recipient.lang)
        title, body = phone_message(alert, recipient.lang, level, self._snapshot(alert["queue"]),
                                    link, drill_url(self.esc.public_url, alert["queue"],
                                                    recipient.lang))
        sender = apprise.Apprise()
        sender.add(url)
        if not sender.notify(title=title, body=body, body_format=apprise.NotifyFormat.TEXT):
            # Apprise logs the service's answer at warning level, its URL never in full.
            raise RuntimeError(f"{channel.split(':')[1]} did not take the message")

    def _snapshot(self, queue: str) -> Snapshot | None:
        raw = self.redis.get(self.keys.snapshot(queue))
        return cast(Snapshot, json.loads(cast(str, raw))) if raw else None

    # ------------------------------------------------------------ escalation
    def escalate_unacknowledged(self) -> int:
        """Open alerts nobody acknowledged in time climb one level; returns how many."""
        now_ms = self.now_ms()
        self.redis.hset(self.keys.alerts_stats, "last_check_ms", now_ms)
        climbed = 0
        for queue in map(text, self.redis.hkeys(self.keys.alerts_open)):
            raised: list[OpenAlert] = []
            update_open(self.redis, self.keys, queue,
                        partial(self.climbed, now_ms=now_ms, raised=raised))
            for alert in raised[-1:]:
                audit(self.redis, self.keys, what="escalated", queue=queue, step=alert["step"],
                      level=alert["level"])
                ESCALATIONS.inc()
                self.tell(alert, alert["level"])
                climbed += 1
        return climbed

    def climbed(self, alert: OpenAlert | None, now_ms: int, raised: list[OpenAlert]
                ) -> OpenAlert | None:
        """The open alert one level up when nobody acknowledged it within the timeout
        and someone sits higher; else as it is. ``raised`` holds the climb, if any."""
        # Runs inside a transaction, perhaps twice: it only computes, and only the
        # attempt that is stored may report a climb.
        raised.clear()
        # A warning stays with its own recipients: it does not climb (nothing has happened yet).
        if (alert is None or alert.get("acked_by") or alert["level"] >= self.max_level()
                or alert.get("direction") in WARNINGS
                or now_ms - alert["notified_ms"] < self.esc.ack_timeout_min * 60_000):
            return alert
        climbed: OpenAlert = {**alert, "level": alert["level"] + 1, "notified_ms": now_ms}
        raised.append(climbed)
        return climbed


def _sign_dingtalk_once() -> None:
    """Apprise 2.3.0 URL-quotes DingTalk's signature (``get_signature``) and then hands
    it to requests as a query parameter, which quotes it again: DingTalk decodes the
    query once and answers 310000 "sign not match" to a robot with 加签 on. Hand
    requests the base64 itself, quoted once on the way (tests/integration/test_apprise.py
    recomputes the signature as DingTalk does; docs/escalation.md)."""
    from urllib.parse import unquote

    from apprise.plugins.dingtalk import NotifyDingTalk

    original = NotifyDingTalk.get_signature
    if getattr(original, "callboard_once", False):
        return

    def get_signature(self: NotifyDingTalk) -> tuple[str, str]:
        timestamp, signature = original(self)
        return timestamp, unquote(signature)

    get_signature.callboard_once = True  # type: ignore[attr-defined]
    NotifyDingTalk.get_signature = get_signature  # type: ignore[method-assign]


WARNINGS = ("warn", "warn_end")  # the breach warning's directions (step 0, core/forecast.py)
TICKETS = ("ticket_due", "ticket_overdue")  # a complaint at 75% of its limit, past it
_TICKET_ACKED_KEEP_MS = 24 * 3_600_000
_TICKET_KEEP_MS = 7 * 24 * 3_600_000


def _kind(alert: Alert) -> str:
    direction = alert.get("direction")
    if direction in TICKETS:
        return str(direction)  # the team leads' and the duty managers' own kinds
    return "warning" if direction in WARNINGS else "ladder"


def _channels(recipient: Recipient) -> list[str]:
    """The recipient's channels; an Apprise URL is "apprise:<its scheme>:<its index>" (the
    outbox, the audit trail and the metrics name a service, never its secret URL)."""
    out = [c for c, on in (("webhook", recipient.webhook_url), ("email", recipient.email)) if on]
    return out + [f"apprise:{url.split('://', 1)[0]}:{i}" for i, url in enumerate(recipient.apprise)]


def ticket_alert_after(current: OpenAlert | None, alert: Alert, now_ms: int) -> OpenAlert:
    """A complaint's record after one of its alerts: overdue is news after due soon
    (unacknowledged again); due soon arriving after overdue changes nothing."""
    if current is not None and (current.get("last_alert_id") == alert["alert_id"] or (
            current["direction"] == "ticket_overdue" and alert["direction"] == "ticket_due")):
        return current
    return {**alert, "level": 0, "notified_ms": now_ms, "acked_by": None, "acked_ms": None,
            "started": {}, "last_alert_id": alert["alert_id"]}


def open_alert_after(current: OpenAlert | None, alert: Alert, now_ms: int,
            ended: list[tuple[int, float]]) -> OpenAlert | None:
    """The open alert after ``alert`` (runs inside a transaction, perhaps twice)."""
    ended.clear()
    if current is not None and current.get("last_alert_id") == alert["alert_id"]:
        return current  # this alert was applied already (a redelivery)
    if alert["direction"] == "warn":
        if current is not None and current["step"] > 0:
            return current  # a surge under way says more than a warning
        return {**alert, "level": 0, "notified_ms": now_ms, "acked_by": None, "acked_ms": None,
                "started": {}, "last_alert_id": alert["alert_id"]}
    if alert["direction"] == "warn_end":
        warned = current is not None and current["direction"] == "warn"
        return None if warned else current
    if alert["direction"] == "up":
        started = dict(current.get("started", {})) if current is not None else {}
        started[str(alert["step"])] = alert["event_ms"]
        # A further step is news: it starts unacknowledged at level 0 again.
        return {**alert, "level": 0, "notified_ms": now_ms, "acked_by": None,
                "acked_ms": None, "started": started, "last_alert_id": alert["alert_id"]}
    if current is None:
        return None
    began = current.get("started", {}).get(str(alert["step"] + 1))
    if began is not None:
        ended.append((alert["step"] + 1, round((alert["event_ms"] - began) / 1000, 1)))
    if alert["step"] == 0:
        return None
    return {**current, "step": alert["step"], "rung": alert["rung"], "waiting": alert["waiting"],
            "event_time": alert["event_time"], "event_ms": alert["event_ms"],
            "direction": alert["direction"], "last_alert_id": alert["alert_id"]}


def run_notifier(settings: Settings) -> None:
    """Consume alerts.v1 until SIGINT/SIGTERM: deliver, retry, escalate. An outage of
    Redis or the broker is waited out with backoff, never fatal."""
    from kafka.errors import KafkaError

    from base.topics import ensure_topics

    ensure_topics(settings)  # never let a subscription auto-create alerts.v1 wrongly
    # Apprise's debug and warning lines may carry a service's URL, its secret with it;
    # a failed delivery is logged and audited here, by service.
    logging.getLogger("apprise").setLevel(logging.ERROR)
    notifier = Notifier(settings)
    consumer: Any = None
    failures = 0
    last_round = [time.monotonic()]  # when a round last went through (for /readyz)
    _serve_health(settings, last_round)
    log.info("notifier: %d recipients, alerts from %s", len(settings.escalation.recipients),
             settings.alerts_topic)
    try:
        while True:
            try:
                consumer = consumer or _consumer(settings)
                _step(consumer, notifier)
                OUTBOX.set(notifier.outbox.pending())
                last_round[0] = time.monotonic()
                failures = 0
            except (redis.RedisError, KafkaError, OSError) as exc:
                failures += 1
                wait_s = min(5.0, 0.25 * 2 ** failures)
                log.warning("notifier: %s; carrying on in %.1f s", exc, wait_s)
                if not isinstance(exc, redis.RedisError) and consumer is not None:
                    consumer.close()
                    consumer = None
                time.sleep(wait_s)
    except KeyboardInterrupt:
        pass
    finally:
        if consumer is not None:
            consumer.close()


def _serve_health(settings: Settings, last_round: list[float]) -> None:
    if not settings.notify_metrics_port:
        return
    from base.health import HealthServer

    def not_ready() -> str | None:
        quiet_s = time.monotonic() - last_round[0]
        return None if quiet_s < 15 else (
            f"no round completed for {quiet_s:.0f} s (Redis or the broker is away)")

    try:
        HealthServer(settings.metrics_host, settings.notify_metrics_port, not_ready).start()
    except OSError as exc:  # delivering matters more than being scraped
        log.error("metrics and health endpoints off: cannot listen on %s:%s (%s)",
                  settings.metrics_host, settings.notify_metrics_port, exc)


def _consumer(settings: Settings) -> Any:
    from kafka import KafkaConsumer

    from base.topics import bootstrap_servers

    # A dead notifier's partition moves to the next one after the session timeout.
    return KafkaConsumer(
        settings.alerts_topic, bootstrap_servers=bootstrap_servers(settings.broker_url),
        group_id=f"{settings.app_id}-notify", auto_offset_reset="earliest",
        enable_auto_commit=False, session_timeout_ms=6000, heartbeat_interval_ms=2000,
        request_timeout_ms=15000,  # not kafka-python's 305 s: see review/archive.py
        allow_auto_create_topics=False)  # the worker and ensure_topics make it, right


def _reread_if_redis_lost(consumer: Any, notifier: Notifier) -> None:
    """Redis came back empty (or this is its first notifier): the open alerts, the log
    and the outbox are rebuilt by reading the alerts topic again from its start. Handling
    is idempotent, so on a Redis that still holds them nothing changes; alerts older than
    ``max_alert_age_s`` are recorded, not sent; a recent delivery whose "delivered"
    marker went with Redis is sent again (webhooks carry X-Callboard-Delivery to drop a
    repeat). Acknowledgements made before the loss went with it."""
    if notifier.redis.exists(notifier.keys.alerts_epoch):
        return
    assigned = consumer.assignment()
    if not assigned:
        return  # the group has not given this notifier its partition yet: next round
    log.warning("notifier: Redis holds no record of the alerts (new, or lost with its data): "
                "reading %s again from its start to rebuild the open alerts and the outbox",
                notifier.settings.alerts_topic)
    consumer.seek_to_beginning(*assigned)
    notifier.redis.hincrby(notifier.keys.alerts_stats, "rebuilt", 1)
    notifier.redis.set(notifier.keys.alerts_epoch, int(time.time() * 1000))


def _step(consumer: Any, notifier: Notifier) -> None:
    """One round: new alerts into the outbox (then commit), due deliveries, escalation."""
    _reread_if_redis_lost(consumer, notifier)
    batches = consumer.poll(timeout_ms=500)
    for tp, messages in batches.items():
        for message in messages:
            try:
                alert = json.loads(message.value)
                alert["alert_id"], alert["queue"], alert["event_ms"]
            except (ValueError, KeyError, TypeError) as exc:
                log.error("alerts topic %s@%s: not an alert (%s); skipped", tp.partition,
                          message.offset, exc)
                notifier.redis.hincrby(notifier.keys.alerts_stats, "bad_alerts", 1)
                continue
            try:
                notifier.handle(alert)
            except redis.RedisError:
                consumer.seek(tp, message.offset)  # handled again after the outage
                raise
    if batches:
        consumer.commit()  # only what is in the outbox: at least once
    notifier.deliver_due()
    notifier.escalate_unacknowledged()
    notifier.trim()
