"""The open alerts, the delivery outbox and the audit trail in Redis, shared by the
notifier and the console.

Every change of an open alert is one optimistic transaction (WATCH the hash, read,
change, MULTI/EXEC, again if anyone wrote in between), so an acknowledgement made
while the notifier escalates is never overwritten.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any, cast

import redis

from base.keys import RedisKeys
from core.records import Alert

__all__ = ["OpenAlert", "Outbox", "acknowledge", "audit", "find_ticket_alert", "ticket_alerts",
           "update_open"]



class OpenAlert(Alert):
    """A ladder's open alert in Redis: its latest step, who was told, who acknowledged."""

    level: int  # escalation level reached (0: the step's own recipients)
    notified_ms: int
    acked_by: str | None
    acked_ms: int | None
    started: dict[str, int]  # step -> event ms it was signed in
    last_alert_id: str


def audit(client: redis.Redis, keys: RedisKeys, **fields: Any) -> None:
    entry = {k: "" if v is None else str(v) for k, v in fields.items()}
    entry["at_ms"] = str(int(time.time() * 1000))
    # redis-py types the fields as a dict of its own encodable union; str values are that.
    # Kept to escalation.audit_keep entries by the notifier (alerts/notify.py, each round).
    client.xadd(keys.alerts_audit, entry)  # type: ignore[arg-type]


def update_open(client: redis.Redis, keys: RedisKeys, queue: str,
                change: Callable[[OpenAlert | None], OpenAlert | None],
                hash_key: str | None = None) -> OpenAlert | None:
    """Apply ``change`` to the queue's open alert atomically (or, with ``hash_key``
    ``keys.alerts_tickets``, to the ticket ``queue``'s); it returns the new alert, or
    None to close it. ``change`` may run more than once (when another writer raced it),
    so it must only compute. Returns what was stored."""
    where = hash_key or keys.alerts_open

    def attempt(pipe: redis.client.Pipeline) -> OpenAlert | None:
        raw = pipe.hget(where, queue)
        new = change(json.loads(raw) if raw else None)
        pipe.multi()
        if new is None:
            pipe.hdel(where, queue)
        else:
            pipe.hset(where, queue, json.dumps(new, ensure_ascii=False))
        return new

    # redis-py types the callable as taking its Pipeline class; ours takes that very class.
    stored = client.transaction(attempt, where,  # type: ignore[arg-type]
                                value_from_callable=True)
    return cast(OpenAlert | None, stored)


def ticket_alerts(client: redis.Redis, keys: RedisKeys) -> list[OpenAlert]:
    """The complaints' latest alerts, the oldest due first."""
    raw = cast(dict[str, str], client.hgetall(keys.alerts_tickets))
    found = [cast(OpenAlert, json.loads(v)) for v in raw.values()]
    return sorted(found, key=lambda a: (a.get("ticket", {}).get("due_ms") or 0, a["alert_id"]))


def find_ticket_alert(client: redis.Redis, keys: RedisKeys, alert_id: str) -> OpenAlert | None:
    """The ticket alert a one-tap link names, while it is its complaint's latest."""
    return next((a for a in ticket_alerts(client, keys) if a.get("last_alert_id") == alert_id),
                None)


def acknowledge(client: redis.Redis, keys: RedisKeys, queue: str, user: str,
                alert_id: str | None = None, via: str = "console",
                hash_key: str | None = None) -> str:
    """Acknowledge the queue's open alert (with ``hash_key`` ``keys.alerts_tickets``: the
    ticket ``queue``'s): "acked"; "already" when someone did first (the first
    acknowledgement of a step counts); "none" when no alert is open, or, with
    ``alert_id`` (a one-tap link's), when the open alert is not that one any more."""
    now_ms = int(time.time() * 1000)
    outcome = "none"

    def ack(alert: OpenAlert | None) -> OpenAlert | None:
        nonlocal outcome
        if alert is None or (alert_id is not None and alert.get("last_alert_id") != alert_id):
            outcome = "none"
            return alert
        outcome = "already" if alert.get("acked_by") else "acked"
        return {**alert, "acked_by": user, "acked_ms": now_ms} if outcome == "acked" else alert

    alert = update_open(client, keys, queue, ack, hash_key)
    if alert is not None and outcome == "acked":
        ticket = alert.get("ticket")
        audit(client, keys, what="acknowledged", queue=alert["queue"], step=alert["step"],
              user=user, via=via, after_s=round((now_ms - alert["notified_ms"]) / 1000, 1),
              ticket=ticket["ticket_id"] if ticket else None)
    return outcome


# Claims every due job (score <= now) for LEASE ms by moving its score forward, in one
# step: two notifiers never take the same job, and a job whose notifier died is due
# again when its lease runs out.
_CLAIM = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[3])
for _, job in ipairs(due) do
  redis.call('ZADD', KEYS[1], ARGV[1] + ARGV[2], job)
end
return due
"""


class Outbox:
    """Deliveries still to make, durable in Redis until they succeed or are given up."""

    def __init__(self, client: redis.Redis, keys: RedisKeys, lease_ms: int = 8000) -> None:
        self.client = client
        self.keys = keys
        self.lease_ms = lease_ms
        self._claim = client.register_script(_CLAIM)

    @staticmethod
    def job(alert: Alert, recipient: str, channel: str, level: int) -> str:
        # The member is the job itself (sorted keys: the same job is the same member).
        return json.dumps({"alert": alert, "recipient": recipient, "channel": channel,
                           "level": level}, ensure_ascii=False, sort_keys=True)

    def add(self, jobs: list[str], due_ms: int) -> None:
        if jobs:
            self.client.zadd(self.keys.alerts_outbox, dict.fromkeys(jobs, due_ms), nx=True)

    def claim(self, now_ms: int, limit: int = 50) -> list[str]:
        return list(self._claim(keys=[self.keys.alerts_outbox],
                                args=[now_ms, self.lease_ms, limit]))

    def attempted(self, job: str) -> int:
        return int(self.client.hincrby(self.keys.alerts_attempts, job, 1))

    def retry_at(self, job: str, due_ms: int) -> None:
        self.client.zadd(self.keys.alerts_outbox, {job: due_ms}, xx=True)

    def finish(self, job: str) -> None:
        with self.client.pipeline() as pipe:
            pipe.zrem(self.keys.alerts_outbox, job)
            pipe.hdel(self.keys.alerts_attempts, job)
            pipe.execute()

    def pending(self) -> int:
        return int(self.client.zcard(self.keys.alerts_outbox))
