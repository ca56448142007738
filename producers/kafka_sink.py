"""Publishes schema-v1 events to Kafka with kafka-python, keyed by queue.

Nothing handed to a sink is dropped. A record the producer gave up on (the broker
away past its retries) is sent again; a topic the broker no longer has (the local
broker keeps everything in memory and comes back empty) is created again through
``ensure``, with its configured layout, never by the broker's auto-creation.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from kafka import KafkaProducer
from kafka.errors import KafkaTimeoutError

from base.assemble import broker_profile
from base.callers import protect
from base.config import Settings
from base.topics import bootstrap_servers, ensure_topics
from core.events import dumps

__all__ = ["KafkaSink", "sink_for"]

log = logging.getLogger(__name__)
_LOG_EVERY_S = 10.0
_RESEND_PAUSE_S = 1.0


def _nothing() -> None:
    return None


def sink_for(settings: Settings, topic: str) -> KafkaSink:
    """The sink callboard's producers publish through: topics made by callboard when
    missing, with the broker profile's producer options."""
    overrides = broker_profile(settings).producer_options()
    return KafkaSink(settings.broker_url, topic, ensure=lambda: ensure_topics(settings),
                     caller_key=settings.caller_hash_key, **overrides)


class KafkaSink:
    """Key = queue name, so one queue's events stay in order on one partition."""

    def __init__(self, broker_url: str, topic: str, *, ensure: Callable[[], None] = _nothing,
                 caller_key: str | None = None, **overrides: Any) -> None:
        options: dict[str, object] = {
            "bootstrap_servers": bootstrap_servers(broker_url),
            "acks": "all",  # an ACD event lost here is a call missing from every figure
            "linger_ms": 5,
            "batch_size": 64 * 1024,
            "retries": 10,
            "max_in_flight_requests_per_connection": 1,  # keep order across retries
            # A producer id does not outlive a broker that lost its state: every send
            # then failed as fatal, for good. Duplicates from a retry are harmless (the
            # worker counts each event_id once); order comes from one request in flight.
            "enable_idempotence": False,
            "allow_auto_create_topics": False,  # the broker's default layout is wrong
            "max_block_ms": 10_000,  # how long a send waits for a topic's metadata
            # kafka-python backs off up to 30 s between attempts to reach a broker that
            # was away (the Java client: 1 s); events waited that long after it was back.
            "reconnect_backoff_max_ms": 1000,
        }
        options.update(overrides)
        self.topic = topic
        self.producer = KafkaProducer(**options)
        self.ensure = ensure
        self.caller_key = caller_key
        self.sent = 0
        self.resent = 0
        self._failed: deque[tuple[bytes | None, bytes]] = deque()  # filled by the IO thread
        self._last_log = 0.0

    def send(self, event: Mapping[str, Any]) -> None:
        """An event, its caller's number hashed first (base/callers.py)."""
        if self.caller_key is not None:
            event = protect(event, self.caller_key)
        self.send_raw(str(event["queue"]).encode(), dumps(event))

    def send_raw(self, key: bytes | None, value: bytes) -> None:
        self._resend_failed()
        self._send(key, value)
        self.sent += 1

    def flush(self, timeout_s: float | None = None) -> bool:
        """True when every record sent so far is on the broker; tries until then or
        until ``timeout_s`` (None: no limit)."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while True:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                self.producer.flush(timeout=left)
            except KafkaTimeoutError:
                return False
            if not self._failed:
                return True
            if deadline is not None and time.monotonic() >= deadline:
                return False
            time.sleep(_RESEND_PAUSE_S)
            self._resend_failed()

    def close(self, timeout_s: float = 30) -> None:
        if not self.flush(timeout_s):
            log.error("%s: %s records not delivered to %s after %.0f s; closing", self.topic,
                      len(self._failed) or "some", self.producer.config["bootstrap_servers"],
                      timeout_s)
        self.producer.close(timeout=timeout_s)

    def _send(self, key: bytes | None, value: bytes) -> None:
        while True:
            try:
                future = self.producer.send(self.topic, key=key, value=value)
            except KafkaTimeoutError as exc:  # no metadata for the topic in max_block_ms
                self._topic_missing(exc)
                continue
            future.add_errback(self._on_failure, key, value)
            return

    def _on_failure(self, key: bytes | None, value: bytes, exc: BaseException) -> None:
        self._failed.append((key, value))
        self._log(f"{self.topic}: a record was not delivered ({exc!r}); it is sent again")

    def _resend_failed(self) -> None:
        while self._failed:
            key, value = self._failed.popleft()
            self.resent += 1
            self._send(key, value)

    def _topic_missing(self, exc: BaseException) -> None:
        self._log(f"{self.topic}: no answer about the topic ({exc!r}): the broker is away or "
                  "came back without it; creating it if missing and trying again")
        try:
            self.ensure()
        except Exception as error:  # noqa: BLE001  # the broker still away: next round
            self._log(f"{self.topic}: cannot create the topics now ({error!r})")
            time.sleep(_RESEND_PAUSE_S)

    def _log(self, message: str) -> None:
        # A broker away for minutes must not flood the log with one line per record.
        now = time.monotonic()
        if now - self._last_log >= _LOG_EVERY_S:
            self._last_log = now
            log.warning(message)
