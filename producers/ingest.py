"""``callboard ingest asterisk``: a queue_log, followed, to Kafka, with its counts in Redis."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, cast

import redis
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from redis.exceptions import RedisError

from base.config import Settings
from base.keys import RedisKeys
from base.topics import ensure_topics
from producers.asterisk import Converter
from producers.follow import Follower
from producers.kafka_sink import KafkaSink, sink_for

__all__ = ["IngestCollector", "ingest_connect", "ingest_queue_log"]

log = logging.getLogger(__name__)


class IngestCollector(Collector):
    """The follower's figures at scrape time (docs/operations.md). The line counts are
    the converter's own, kept with its position, so a restart keeps them."""

    def __init__(self, path: Path, follower: Follower, conv: Converter, events: KafkaSink,
                 delivered: list[float]) -> None:
        self.path, self.follower, self.conv, self.events = str(path), follower, conv, events
        self.delivered = delivered  # wall time of the last completed delivery

    def collect(self) -> Iterator[Metric]:
        lines = CounterMetricFamily("callboard_ingest_lines", "queue_log lines, by what they "
                                    "became", labels=["file", "kind"])
        for kind, count in self.conv.summary().items():
            lines.add_metric([self.path, kind], count)
        yield lines
        yield CounterMetricFamily("callboard_ingest_events_published",
                                  "Events handed to Kafka by this process",
                                  value=self.events.sent)
        yield CounterMetricFamily("callboard_ingest_records_resent",
                                  "Records the producer gave up on, sent again",
                                  value=self.events.resent)
        yield GaugeMetricFamily("callboard_ingest_offset", "Bytes of the queue_log delivered",
                                value=self.follower.offset)
        yield CounterMetricFamily("callboard_ingest_rotations", "Rotations followed",
                                  value=self.follower.rotations)
        yield GaugeMetricFamily("callboard_ingest_last_delivery_age_seconds",
                                "Seconds since the last delivery completed",
                                value=max(0.0, time.time() - self.delivered[0]))


def ingest_queue_log(settings: Settings, path: Path, state_path: Path, *, follow: bool,
                     poll_s: float = 0.2) -> dict[str, int]:
    ensure_topics(settings)
    follower = Follower(path, state_path)
    conv = Converter.restore(follower.extra.get("converter", {}))
    events = sink_for(settings, settings.events_topic)
    letters = sink_for(settings, settings.dead_letter_topic)
    stats = redis.Redis.from_url(settings.redis_url, socket_timeout=1, socket_connect_timeout=1)
    stats_key = RedisKeys(settings.redis_prefix).ingest("asterisk", path.name)
    last_log = [time.monotonic()]
    delivered = [time.time()]
    if settings.ingest_metrics_port:
        _serve_metrics(settings, IngestCollector(path, follower, conv, events, delivered))

    def deliver(lines: list[bytes]) -> None:
        for line in lines:
            for event in conv.feed(line):
                events.send(event)
        counts = {**conv.summary(), "rotations": follower.rotations,
                  "truncations": follower.truncations}
        _delivered(events, letters, path, "Asterisk queue_log line", conv.rejected_lines,
                   stats, stats_key, counts)
        delivered[0] = time.time()
        follower.extra["converter"] = conv.state()
        if time.monotonic() - last_log[0] > 10:
            last_log[0] = time.monotonic()
            log.info("queue_log %s: %s", path, counts)

    _read(follower, deliver, follow, poll_s, closing=(events, letters, stats))
    summary = conv.summary()
    log.info("queue_log %s stopped at offset %s: %s", path, follower.offset, summary)
    return summary


def ingest_tickets(settings: Settings, path: Path, state_path: Path, *, follow: bool,
                   poll_s: float = 0.5) -> dict[str, int]:
    """A CRM's ticket export (CSV by its extension, else JSON lines) to the events topic,
    resuming where it stopped; rows that cannot be events go to the dead-letter topic."""
    from producers.crm import CrmRows

    ensure_topics(settings)
    follower = Follower(path, state_path)
    rows = CrmRows(settings.tickets.columns, settings.zone,
                   settings.tickets.default_queue or settings.queues[0].name)
    rows.header = follower.extra.get("header")
    as_csv = path.suffix.lower() == ".csv"
    events = sink_for(settings, settings.events_topic)
    letters = sink_for(settings, settings.dead_letter_topic)
    sent = [0]

    def deliver(lines: list[bytes]) -> None:
        for line in lines:
            for event in (rows.feed_csv(line) if as_csv else rows.feed_json(line)):
                events.send(event)
                sent[0] += 1
        for reason, detail, text in rows.rejected:
            _dead_letter(letters, path, reason, detail, text)
        # Delivered before the position moves (as for the queue_log above).
        events.flush()
        letters.flush()
        follower.extra["header"] = rows.header
        log.info("tickets %s: %s rows, %s events, %s rows rejected", path, rows.rows, sent[0],
                 len(rows.rejected))
        rows.rejected.clear()

    _read(follower, deliver, follow, poll_s, closing=(events, letters))
    return {"rows": rows.rows, "events": sent[0]}


def ingest_connect(settings: Settings, path: Path, state_path: Path, *, follow: bool,
                   poll_s: float = 0.5) -> dict[str, int]:
    """Files of Amazon Connect records (contact events, agent event stream records; one
    JSON record a line, as a Firehose or Lambda writes them) to the events topic,
    resuming where it stopped; a record that cannot be events is dead-lettered."""
    from producers.connect import Converter as ConnectConverter

    ensure_topics(settings)
    follower = Follower(path, state_path)
    conv = ConnectConverter()
    events = sink_for(settings, settings.events_topic)
    letters = sink_for(settings, settings.dead_letter_topic)
    stats = redis.Redis.from_url(settings.redis_url, socket_timeout=1, socket_connect_timeout=1)
    stats_key = RedisKeys(settings.redis_prefix).ingest("connect", path.name)

    def deliver(lines: list[bytes]) -> None:
        for line in lines:
            if line.strip():
                for event in conv.feed(line):
                    events.send(event)
        _delivered(events, letters, path, "Amazon Connect record", conv.rejected, stats,
                   stats_key, conv.summary())

    _read(follower, deliver, follow, poll_s, closing=(events, letters, stats))
    return conv.summary()


def _delivered(events: KafkaSink, letters: KafkaSink, path: Path, what: str,
               rejected: list[tuple[str, str]], stats: redis.Redis, stats_key: str,
               counts: Mapping[str, int]) -> None:
    """A delivery's end: what was rejected dead-lettered, everything on the broker
    before the position moves (a crash here re-reads, never skips; a broker away holds
    the position until it is back), the counts to Redis."""
    for reason, text in rejected:
        _dead_letter(letters, path, reason, what, text)
    rejected.clear()
    events.flush()
    letters.flush()
    try:
        stats.hset(stats_key, mapping=cast(Mapping[Any, Any], counts))
    except (RedisError, OSError) as exc:
        log.warning("cannot write ingest counts to Redis: %s", exc)


def _read(follower: Follower, deliver: Callable[[list[bytes]], None], follow: bool,
          poll_s: float, closing: tuple[Any, ...]) -> None:
    """Deliver what the file holds (and, following, what it gets until SIGINT/SIGTERM:
    KeyboardInterrupt), saving the position after each delivery; then close the follower
    and ``closing``. No save at the close: the position moves only after a delivery
    completed, so an interrupted one is read again (same event ids, counted once
    downstream)."""
    try:
        if follow:
            follower.run(deliver, lambda: False, lambda: time.sleep(poll_s))
        else:
            lines = follower.read_lines()
            if lines:
                deliver(lines)
                follower.save()
    except KeyboardInterrupt:
        pass
    finally:
        follower.close()
        for thing in closing:
            thing.close()


def _dead_letter(letters: KafkaSink, path: Path, reason: str, detail: str, text: str) -> None:
    """A line or row that cannot be an event, set aside with its reason and source."""
    body = {"reason": reason, "detail": detail, "source": str(path),
            "seen_ms": int(time.time() * 1000), "value": text}
    letters.send_raw(reason.encode(), json.dumps(body, ensure_ascii=False).encode())


def _serve_metrics(settings: Settings, collector: IngestCollector) -> None:
    from prometheus_client import REGISTRY

    from base.health import HealthServer

    REGISTRY.register(collector)
    try:
        HealthServer(settings.metrics_host, settings.ingest_metrics_port, lambda: None).start()
    except OSError as exc:  # following the log matters more than being scraped
        log.error("metrics and health endpoints off: cannot listen on %s:%s (%s)",
                  settings.metrics_host, settings.ingest_metrics_port, exc)
