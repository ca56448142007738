"""``callboard notify``: alerts from ``alerts.v1`` to the people who act on them.

- Every step change goes to the level-0 recipients of its queue, by webhook
  (JSON body, ``X-Callboard-Signature: sha256=<HMAC of the body>``, retried with
  backoff) and e-mail (SMTP), once: a Redis ``SET NX`` per alert, recipient and
  channel means a redelivered or replayed alert is never sent twice.
- An open alert (step > 0) not acknowledged within ``ack_timeout_min`` climbs to
  the next level's recipients (floor lead, then centre manager), once per level.
- Open alerts live in Redis for the console (``/console`` on the board), where
  an authenticated user acknowledges them.
- Everything lands in an audit stream: who was told what, when, by which
  channel and with what result; who acknowledged; how long each step stayed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import smtplib
import time
from collections.abc import Callable
from email.message import EmailMessage
from functools import partial
from typing import Any
from urllib.parse import urlsplit

import redis
import requests
from tenacity import Retrying, stop_after_attempt, wait_exponential

from callboard.alertstore import audit
from callboard.config import Recipient, Settings
from callboard.keys import RedisKeys

__all__ = ["Notifier", "sign"]

log = logging.getLogger(__name__)


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _subject(alert: dict[str, Any]) -> str:
    rung = alert["rung"]
    verb = "step up" if alert["direction"] == "up" else "step down"
    return (f"[callboard] {alert['queue']} {verb} -> {alert['step']}: "
            f"{rung['name_zh']} / {rung['name_en']}")


def _text(alert: dict[str, Any], escalated: int = 0) -> str:
    rung = alert["rung"]
    lines = [
        _subject(alert),
        f"{alert['event_time']}  waiting {alert['waiting']}  mode {alert['mode']}",
        f"{rung['action_zh']}",
        f"{rung['action_en']} ({rung['staff_group']}, seats {rung['seats']})",
    ]
    if alert.get("seats_needed"):
        s = alert["seats_needed"]
        lines.append(f"Seats needed now (Erlang C): {s['agents']} (staffed {alert.get('staffed')})")
    if escalated:
        lines.append(f"Not acknowledged: escalated to level {escalated}.")
    return "\n".join(lines)


class Notifier:
    def __init__(self, settings: Settings, client: redis.Redis | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.esc = settings.escalation
        self.keys = RedisKeys(settings.redis_prefix)
        self.redis = client or redis.Redis.from_url(settings.redis_url, decode_responses=True)
        self.clock = clock
        self.retry = dict(stop=stop_after_attempt(4),
                          wait=wait_exponential(multiplier=0.2, max=3), reraise=True)

    # ------------------------------------------------------------ recipients
    def recipients(self, queue: str, level: int) -> list[Recipient]:
        return [r for r in self.esc.recipients
                if r.level == level and (not r.queues or queue in r.queues)]

    def max_level(self) -> int:
        return max((r.level for r in self.esc.recipients), default=0)

    # -------------------------------------------------------------- handling
    def handle(self, alert: dict[str, Any]) -> None:
        """One alert from the topic: record it, update the open alert, tell level 0."""
        now_ms = int(self.clock() * 1000)
        self.redis.lpush(self.keys.alerts_log, json.dumps(alert, ensure_ascii=False))
        self.redis.ltrim(self.keys.alerts_log, 0, 9999)
        queue = alert["queue"]
        raw = self.redis.hget(self.keys.alerts_open, queue)
        current = json.loads(raw) if raw else None
        if alert["direction"] == "up":
            started = dict((current or {}).get("started", {}))
            started[str(alert["step"])] = alert["event_ms"]
            # A further step is news: it starts unacknowledged at level 0 again.
            opened = {**alert, "level": 0, "notified_ms": now_ms, "acked_by": None,
                      "acked_ms": None, "started": started}
            self.redis.hset(self.keys.alerts_open, queue, json.dumps(opened, ensure_ascii=False))
        else:
            if current:
                began = current.get("started", {}).get(str(alert["step"] + 1))
                if began is not None:
                    audit(self.redis, self.keys, what="step_ended", queue=queue,
                          step=alert["step"] + 1,
                          duration_s=round((alert["event_ms"] - began) / 1000, 1))
            if alert["step"] == 0:
                self.redis.hdel(self.keys.alerts_open, queue)
                audit(self.redis, self.keys, what="cleared", queue=queue)
            elif current:
                current.update({k: alert[k] for k in ("step", "rung", "waiting", "event_time",
                                                     "event_ms", "direction")})
                self.redis.hset(self.keys.alerts_open, queue, json.dumps(current, ensure_ascii=False))
        age_s = (now_ms - alert["event_ms"]) / 1000
        if self.esc.max_alert_age_s and age_s > self.esc.max_alert_age_s:
            audit(self.redis, self.keys, what="not_sent_old", queue=queue, step=alert["step"],
                  alert_id=alert["alert_id"], age_s=round(age_s))
            return
        self.tell(alert, level=0)

    def tell(self, alert: dict[str, Any], level: int) -> None:
        for recipient in self.recipients(alert["queue"], level):
            if recipient.webhook_url:
                self._once(alert, recipient, "webhook", level,
                           partial(self._webhook, recipient, alert, level))
            if recipient.email:
                self._once(alert, recipient, "email", level,
                           partial(self._email, recipient, alert, level))

    def _once(self, alert: dict[str, Any], recipient: Recipient, channel: str, level: int,
              send: Callable[[], None]) -> None:
        marker = f"{self.keys.alerts_sent}:{alert['alert_id']}:{level}:{recipient.name}:{channel}"
        if not self.redis.set(marker, 1, nx=True, ex=30 * 86400):
            return  # already told: no duplicate notifications
        try:
            for attempt in Retrying(**self.retry):  # type: ignore[arg-type]
                with attempt:
                    send()
        except Exception as exc:  # every channel failure is shown, none is fatal
            self.redis.hincrby(self.keys.alerts_stats, f"failed.{channel}", 1)
            audit(self.redis, self.keys, what="notify_failed", queue=alert["queue"],
                  step=alert["step"], direction=alert["direction"], channel=channel,
                  recipient=recipient.name, level=level, error=repr(exc)[:300])
            log.warning("could not notify %s by %s: %s", recipient.name, channel, exc)
            return
        self.redis.hincrby(self.keys.alerts_stats, f"sent.{channel}", 1)
        audit(self.redis, self.keys, what="notified", queue=alert["queue"], step=alert["step"],
              direction=alert["direction"], channel=channel, recipient=recipient.name,
              level=level, alert_id=alert["alert_id"])

    def _webhook(self, recipient: Recipient, alert: dict[str, Any], level: int) -> None:
        body = json.dumps({**alert, "level": level}, ensure_ascii=False).encode()
        response = requests.post(
            str(recipient.webhook_url), data=body, timeout=5,
            headers={"Content-Type": "application/json",
                     "X-Callboard-Signature": sign(self.esc.webhook_secret or "", body)})
        response.raise_for_status()

    def _email(self, recipient: Recipient, alert: dict[str, Any], level: int) -> None:
        if not self.esc.smtp_url:
            raise RuntimeError("escalation.smtp_url is not set")
        url = urlsplit(self.esc.smtp_url)
        message = EmailMessage()
        message["From"] = self.esc.smtp_from
        message["To"] = str(recipient.email)
        message["Subject"] = _subject(alert)
        message.set_content(_text(alert, level))
        with smtplib.SMTP(url.hostname or "localhost", url.port or 25, timeout=10) as smtp:
            smtp.send_message(message)

    # ------------------------------------------------------------ escalation
    def escalate_unacknowledged(self) -> int:
        """Open alerts nobody acknowledged in time climb one level; returns how many."""
        now_ms = int(self.clock() * 1000)
        self.redis.hset(self.keys.alerts_stats, "last_check_ms", now_ms)
        climbed = 0
        for queue, raw in self.redis.hgetall(self.keys.alerts_open).items():
            alert = json.loads(raw)
            if alert.get("acked_by") or alert["level"] >= self.max_level():
                continue
            if now_ms - alert["notified_ms"] < self.esc.ack_timeout_min * 60_000:
                continue
            alert["level"] += 1
            alert["notified_ms"] = now_ms
            self.redis.hset(self.keys.alerts_open, queue, json.dumps(alert, ensure_ascii=False))
            audit(self.redis, self.keys, what="escalated", queue=queue, step=alert["step"],
                  level=alert["level"])
            self.tell(alert, alert["level"])
            climbed += 1
        return climbed


def run_notifier(settings: Settings) -> None:
    """Consume alerts.v1 until SIGINT/SIGTERM; escalate unacknowledged alerts meanwhile."""
    from kafka import KafkaConsumer

    from callboard.topics import bootstrap_servers

    notifier = Notifier(settings)
    consumer = KafkaConsumer(
        settings.alerts_topic, bootstrap_servers=bootstrap_servers(settings.broker_url),
        group_id=f"{settings.app_id}-notify", auto_offset_reset="earliest",
        enable_auto_commit=False, consumer_timeout_ms=500)
    log.info("notifier: %d recipients, alerts from %s", len(settings.escalation.recipients),
             settings.alerts_topic)
    try:
        while True:
            for message in consumer:
                notifier.handle(json.loads(message.value))
                consumer.commit()  # at least once; the once-only markers stop repeats
            notifier.escalate_unacknowledged()
    except KeyboardInterrupt:
        pass
    finally:
        consumer.close()
