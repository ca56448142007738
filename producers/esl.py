"""``callboard ingest freeswitch``: mod_callcenter's events, live from FreeSWITCH's event
socket (inbound ESL), to Kafka; the source said up or down in Redis for the walls.

The client is greenswitch (EvoluxBR's ESL client, on gevent): of the Python ESL
clients on PyPI it is the maintained one that fits here. genesis (asyncio, newer) pins
redis-py below 6 and pulls in FastAPI and OpenTelemetry exporters; python-ESL and
freeswitch-esl-python are SWIG bindings to build from FreeSWITCH's sources; aioesl and
eventsocket were last released in 2016. greenswitch runs its reader in greenlets of
this process, which yields to them while it waits (no monkey-patching: kafka-python's
sender stays a plain thread).

The socket pushes events and keeps none: what FreeSWITCH raises while callboard is
disconnected is not sent again. A call in progress across a reconnect is kept by the
converter (its state outlives the connection), and an event seen twice counts once
(event ids from the member's UUID and the action). docs/freeswitch.md.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import redis
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from redis.exceptions import RedisError

from base.config import Settings
from base.keys import RedisKeys
from base.topics import ensure_topics
from producers.freeswitch import SUBCLASS, Converter
from producers.kafka_sink import KafkaSink, sink_for

__all__ = ["EslCollector", "SourceStatus", "ingest_esl", "parse_tiers"]

log = logging.getLogger(__name__)
_BACKOFF_S = (0.5, 1.0, 2.0, 5.0, 10.0)  # between connection attempts, then stays at the last
_STATUS_EVERY_S = 2.0
_GREETING_S = 10


def parse_tiers(text: str) -> dict[str, set[str]]:
    """``callcenter_config tier list``'s answer (``queue|agent|state|level|position``
    lines, a header and ``+OK``) -> agent -> queues."""
    tiers: dict[str, set[str]] = {}
    for line in text.splitlines():
        parts = [p.strip() for p in line.split("|")]
        if len(parts) >= 2 and parts[0] and parts[1] and parts[:2] != ["queue", "agent"]:
            tiers.setdefault(parts[1], set()).add(parts[0])
    return tiers


class SourceStatus:
    """Whether the ACD is connected, in the Redis hash the walls read (base/keys.py
    ``sources``): ``{"up": bool, "since_ms": when it became so, "checked_ms": now}``,
    written every few seconds, so a wall tells a silent ingest from a live one."""

    def __init__(self, settings: Settings, name: str,
                 client: redis.Redis | None = None) -> None:
        self.keys = RedisKeys(settings.redis_prefix)
        self.name = name
        self.client = client or redis.Redis.from_url(settings.redis_url, socket_timeout=1,
                                                     socket_connect_timeout=1)
        self.up: bool | None = None
        self.since_ms = 0
        self._written = 0.0

    def set(self, up: bool, force: bool = False) -> None:
        now = time.time()
        if up != self.up:
            self.up, self.since_ms, force = up, int(now * 1000), True
            log.warning("%s: %s", self.name, "connected" if up else "disconnected")
        if not force and now - self._written < _STATUS_EVERY_S:
            return
        doc = {"up": up, "since_ms": self.since_ms, "checked_ms": int(now * 1000)}
        try:
            self.client.hset(self.keys.sources, self.name, json.dumps(doc))
            self._written = now
        except (RedisError, OSError) as exc:
            log.warning("cannot write the source's status to Redis: %s", exc)


class EslCollector(Collector):
    """The ingest's figures at scrape time: the source up or not, events by kind."""

    def __init__(self, status: SourceStatus, conv: Converter) -> None:
        self.status, self.conv = status, conv

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("callboard_source_up", "1 while the ACD's event socket is "
                               "connected", labels=["source"])
        up.add_metric([self.status.name], 1.0 if self.status.up else 0.0)
        yield up
        kinds = CounterMetricFamily("callboard_ingest_events", "ACD events, by what they "
                                    "became", labels=["source", "kind"])
        for kind, count in self.conv.summary().items():
            kinds.add_metric([self.status.name, kind], count)
        yield kinds


def _serve_metrics(settings: Settings, status: SourceStatus, conv: Converter) -> None:
    if not settings.ingest_metrics_port:
        return
    from prometheus_client import REGISTRY

    from base.health import HealthServer

    REGISTRY.register(EslCollector(status, conv))
    try:
        HealthServer(settings.metrics_host, settings.ingest_metrics_port,
                     lambda: None if status.up else "the ACD's event socket is not connected"
                     ).start()
    except OSError as exc:  # ingesting matters more than being scraped
        log.error("metrics and health endpoints off: cannot listen on %s:%s (%s)",
                  settings.metrics_host, settings.ingest_metrics_port, exc)


def ingest_esl(settings: Settings, host: str, port: int, password: str, *,
               stop: Callable[[], bool] = lambda: False,
               connect: Callable[[str, int, str], Any] | None = None) -> dict[str, int]:
    """Until ``stop`` (or SIGINT/SIGTERM: KeyboardInterrupt): connect, subscribe, publish
    each event's schema-v1 events; reconnect with backoff when the socket drops."""
    import gevent

    ensure_topics(settings)
    conv = Converter()
    events = sink_for(settings, settings.events_topic)
    letters = sink_for(settings, settings.dead_letter_topic)
    name = f"freeswitch {host}:{port}"
    status = SourceStatus(settings, name)
    _serve_metrics(settings, status, conv)
    counts_key = RedisKeys(settings.redis_prefix).ingest("freeswitch", f"{host}:{port}")
    open_connection = connect or _connect
    attempt = 0
    try:
        while not stop():
            status.set(False)
            try:
                conn = open_connection(host, port, password)
            except Exception as exc:  # noqa: BLE001  # refused, timed out, wrong password
                wait = _BACKOFF_S[min(attempt, len(_BACKOFF_S) - 1)]
                attempt += 1
                log.warning("%s: cannot connect (%s); again in %.1f s", name, exc, wait)
                gevent.sleep(wait)
                continue
            attempt = 0
            def deliver(event: Any) -> None:
                _deliver(event.headers, conv, events, letters, name)

            try:
                _subscribe(conn, conv)
                conn.register_handle(SUBCLASS, deliver)
                status.set(True)
                written = 0.0
                while conn.connected and _reading(conn) and not stop():
                    gevent.sleep(0.2)
                    status.set(True)
                    if time.monotonic() - written >= _STATUS_EVERY_S:
                        written = time.monotonic()
                        _write_counts(status.client, counts_key, conv)
            except Exception as exc:  # noqa: BLE001  # the socket dropped mid-command
                log.warning("%s: connection lost (%s)", name, exc)
            finally:
                _drain(conn, deliver)
                _close(conn)
            events.flush()
            letters.flush()
    except KeyboardInterrupt:
        pass
    finally:
        status.set(False, force=True)
        events.close()
        letters.close()
    return conv.summary()


def _connect(host: str, port: int, password: str) -> Any:
    import gevent
    from greenswitch import InboundESL
    from greenswitch.esl import NotConnectedError

    conn = InboundESL(host=host, port=port, password=password)
    # greenswitch waits for the greeting without a limit: a socket that accepts and
    # says nothing would hold the ingest for ever.
    with gevent.Timeout(_GREETING_S, NotConnectedError(f"no greeting in {_GREETING_S} s")):
        conn.connect()
    return conn


def _subscribe(conn: Any, conv: Converter) -> None:
    conn.send(f"events plain CUSTOM {SUBCLASS}")
    # Agent events name no queue: the tiers say which queues each agent serves.
    reply = conn.send("api callcenter_config tier list")
    for agent, queues in parse_tiers(getattr(reply, "data", "") or "").items():
        conv.tiers.setdefault(agent, set()).update(queues)


def _deliver(headers: dict[str, str], conv: Converter, events: KafkaSink,
             letters: KafkaSink, name: str) -> None:
    for event in conv.feed(headers):
        events.send(event)
    for reason, text in conv.rejected:
        body = {"reason": reason, "detail": "FreeSWITCH mod_callcenter event",
                "source": name, "seen_ms": int(time.time() * 1000), "value": text}
        letters.send_raw(reason.encode(), json.dumps(body, ensure_ascii=False).encode())
    conv.rejected.clear()


def _reading(conn: Any) -> bool:
    """greenswitch's reader is alive: a frame it cannot parse kills it with the socket
    still open and ``connected`` still true."""
    reader = getattr(conn, "_receive_events_greenlet", None)
    return reader is None or not reader.dead


def _drain(conn: Any, deliver: Callable[[Any], None]) -> None:
    """The events greenswitch had read but not yet handed on: its processor stops as
    soon as the socket closes, and they would be lost (a session dropped right after a
    burst lost 8 of 9 in the test)."""
    queue = getattr(conn, "_esl_event_queue", None)  # greenswitch keeps it private
    while queue is not None and not queue.empty():
        event = queue.get_nowait()
        if event.headers.get("Event-Subclass") == SUBCLASS:
            deliver(event)


def _write_counts(client: redis.Redis, key: str, conv: Converter) -> None:
    try:
        client.hset(key, mapping=dict(conv.summary()))  # type: ignore[arg-type]
    except (RedisError, OSError) as exc:
        log.debug("cannot write ingest counts to Redis: %s", exc)


def _close(conn: Any) -> None:
    try:
        conn.stop()
    except Exception as exc:  # noqa: BLE001  # already gone
        log.debug("closing the event socket: %r", exc)
