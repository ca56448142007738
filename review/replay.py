"""``callboard replay``: a stretch of the event log again, through the live worker's own
pipeline and snapshot writer, into a Redis namespace of its own (docs/review.md).

A session never touches live data: its keys are ``<redis_prefix>:replay:<name>:...``
(the board shows them at ``/board?session=<name>``), it reads the log but never
writes a topic, and its ladder alerts stay in the session (the notifier never sees
them). Each archived partition runs through its own ``Pipeline``, as the live worker
runs it, and the snapshots are written by the worker's ``SnapshotWriter``: a
replay's figures are the live run's by construction.

The session warms up from the start of the centre's local day of ``--from``, so
calls waiting, agents' states and day figures are right at ``--from``; from there
the event clock runs at ``--speed`` times real time (or straight to ``--to``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import redis

from base.assemble import pipeline_rules
from base.config import Settings
from base.keys import RedisKeys, ReplaySession, replay_prefix, text
from core.history import HistoryCursor
from core.pipeline import Pipeline, PipelineRules
from core.records import Alert, Record
from core.timebuckets import day_bounds, half_hour_bounds
from streams.writer import SnapshotWriter

__all__ = ["ReplayWriter", "Session", "check_event_file", "jump", "load_source", "run_replay",
           "session_prefix", "sessions_key"]

log = logging.getLogger(__name__)
_TICK_S = 0.5
_CHECKPOINT_EVERY_MS = 30 * 60_000  # a paced session's jump back folds at most this much


def session_prefix(settings: Settings, name: str) -> str:
    return replay_prefix(settings.redis_prefix, name)


def sessions_key(settings: Settings) -> str:
    """Hash: session name -> its state (source, range, speed, clock, running/done)."""
    return RedisKeys(settings.redis_prefix).replay_sessions


def _ts(raw: bytes) -> int | None:
    with contextlib.suppress(ValueError, TypeError, KeyError, AttributeError):
        value = json.loads(raw)["ts_ms"]
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def day_start_ms(ms: int, settings: Settings) -> int:
    local = datetime.fromtimestamp(ms / 1000, settings.zone)
    return int(local.replace(hour=0, minute=0, second=0, microsecond=0).timestamp() * 1000)


def load_source(settings: Settings, source: str, from_ms: int, to_ms: int
                ) -> dict[int, list[bytes]]:
    """The records of the warm-up and the range, by partition, in source order.

    ``archive``: the archived days (each partition as the live worker read it);
    ``kafka``: the events topic from the warm-up on (binary search); anything else is a file, schema-v1
    JSON lines or an Asterisk queue_log (told apart by its first line), as one partition.
    """
    if source == "archive":
        from review.archive import read_day

        parts: dict[int, list[bytes]] = {}
        day = datetime.fromtimestamp(from_ms / 1000, settings.zone).date()
        last = datetime.fromtimestamp(to_ms / 1000, settings.zone).date()
        while day <= last:
            for partition, lines in read_day(Path(settings.archive_dir), day,
                                             settings.events_topic).items():
                parts.setdefault(partition, []).extend(lines)
            day += timedelta(days=1)
        return parts
    if source == "kafka":
        return _read_topic(settings, day_start_ms(from_ms, settings), to_ms)
    return {0: _file_lines(Path(source))}


def check_event_file(path: Path, sample: int = 1000) -> None:
    """Refuse a file that is not an event log (``/etc/passwd``, a CSV...): neither a
    schema-v1 event nor an Asterisk queue_log event in its first ``sample`` lines.
    Replaying one would make an empty session and say nothing."""
    from core.events import EventError, parse

    with path.open("rb") as fh:
        head = []
        for line in fh:
            if line.strip():
                head.append(line.rstrip(b"\r\n"))
            if len(head) >= sample:
                break
    if not head:
        raise ValueError(f"{path}: empty, no event to replay")
    if head[0].lstrip().startswith(b"{"):
        for line in head:
            try:
                parse(line)
                return
            except EventError:
                continue
    else:
        from producers.asterisk import convert_lines

        try:
            if any(True for _ in convert_lines(head)):
                return
        except ValueError:
            pass
    raise ValueError(f"{path}: neither schema-v1 JSON lines nor an Asterisk queue_log "
                     f"(no event in its first {len(head)} lines)")


def _file_lines(path: Path) -> list[bytes]:
    lines = [line.rstrip(b"\r\n") for line in path.read_bytes().splitlines() if line.strip()]
    if not lines or lines[0].lstrip().startswith(b"{"):
        return lines
    from core.events import dumps
    from producers.asterisk import convert_lines

    return [dumps(event) for event in convert_lines(lines)]


def first_offset_at(time_at: Callable[[int], int | None], lo: int, hi: int, target_ms: int
                    ) -> int:
    """The first offset in [lo, hi) whose event time is at or after ``target_ms``, by
    binary search (hi when none is). ``time_at(offset)`` reads one record's event time
    (None when it has none: it is treated as early). A partition is in event-time order
    only roughly (producers interleave); callers start a margin before the answer."""
    while lo < hi:
        mid = (lo + hi) // 2
        at = time_at(mid)
        if at is not None and at >= target_ms:
            hi = mid
        else:
            lo = mid + 1
    return lo


# Records read before the binary search's answer, and past --to, for events a producer
# sent out of order: a minute of a large centre's traffic.
_SEARCH_MARGIN = 2000
_LATE_MS = 5 * 60_000


def _read_topic(settings: Settings, from_ms: int, to_ms: int) -> dict[int, list[bytes]]:
    """The events topic from (about) ``from_ms`` to ``to_ms``. Found by binary search over
    the events' own times, not by ``offsets_for_times``: that uses the broker's receive
    time, which Tansu answers wrongly and which is the publish time of a recorded log."""
    from kafka import KafkaConsumer, TopicPartition

    from base.topics import bootstrap_servers

    consumer = KafkaConsumer(bootstrap_servers=bootstrap_servers(settings.broker_url),
                             enable_auto_commit=False, allow_auto_create_topics=False,
                             max_poll_records=500)
    try:
        partitions = consumer.partitions_for_topic(settings.events_topic) or set()
        parts: dict[int, list[bytes]] = {}
        for partition in sorted(partitions):
            tp = TopicPartition(settings.events_topic, partition)
            consumer.assign([tp])

            def at(offset: int, tp: Any = tp) -> int | None:
                consumer.seek(tp, offset)
                for message in consumer.poll(timeout_ms=2000, max_records=1).get(tp, []):
                    return _ts(message.value or b"") or message.timestamp
                return None

            consumer.seek_to_beginning(tp)
            start = consumer.position(tp)
            at(start)  # a fetch: its answer carries the partition's end (highwater)
            end = consumer.highwater(tp) or start
            first = max(start, first_offset_at(at, start, end, from_ms) - _SEARCH_MARGIN)
            parts[partition] = _read_range(consumer, tp, first, end, to_ms)
        return parts
    finally:
        consumer.close()


def _read_range(consumer: Any, tp: Any, first: int, end: int, to_ms: int) -> list[bytes]:
    lines: list[bytes] = []
    consumer.seek(tp, first)
    position = first
    while position < end:
        batch = consumer.poll(timeout_ms=2000).get(tp, [])
        if not batch:
            break
        for message in batch:
            ts = _ts(message.value or b"")
            if ts is not None and ts > to_ms + _LATE_MS:
                return lines  # past the range, and past what arrives late
            lines.append(message.value or b"")
        position = batch[-1].offset + 1
    return lines


@dataclass
class Session:
    """The pipelines of one replay and how far each partition's records are fed."""

    rules: PipelineRules
    parts: dict[int, list[bytes]]
    warm_from_ms: int
    # Every half hour of event time played, the pipelines' state, so that a jump back
    # restores the nearest one before it instead of counting from the warm-up. Taken as
    # the session plays (a late-day state encodes in ~0.7 s, decodes in ~1.4 s: playing
    # a whole day ahead for them would make a session's start cost ~20 s).
    checkpoint_every_ms: int | None = None
    pipelines: dict[int, Pipeline] = field(default_factory=dict)
    cursor: dict[int, int] = field(default_factory=dict)
    alerts: list[Alert] = field(default_factory=list)
    minutes: set[tuple[str, int]] = field(default_factory=set)
    at_ms: int = 0
    _times: dict[int, list[int | None]] = field(default_factory=dict)  # each line's event time
    # checkpoint number -> (at_ms, partition -> (state, cursor), alerts so far)
    _checkpoints: dict[int, tuple[int, dict[int, tuple[bytes, int]], tuple[Any, ...]]] = field(
        default_factory=dict)

    def __post_init__(self) -> None:
        self._times = {p: [_ts(line) for line in lines] for p, lines in self.parts.items()}

    def reset(self) -> None:
        self.pipelines = {p: Pipeline(self.rules) for p in self.parts}
        self.cursor = dict.fromkeys(self.parts, 0)
        self.alerts, self.minutes = [], set()
        self.at_ms = 0
        # Skip what comes before the warm-up: an earlier day in a file or topic.
        for partition, times in self._times.items():
            i = 0
            while i < len(times) and (ts := times[i]) is not None and ts < self.warm_from_ms:
                i += 1
            self.cursor[partition] = i

    def restore_nearest(self, at_ms: int) -> bool:
        """The state of the nearest checkpoint at or before ``at_ms`` when that is closer
        than where the session is (or the session is past ``at_ms``): True if restored
        (the caller writes every row again)."""
        before = [c for c in self._checkpoints.values() if c[0] <= at_ms]
        best = max(before, key=lambda c: c[0], default=None)
        if best is None or (best[0] <= self.at_ms <= at_ms):
            if at_ms >= self.at_ms:
                return False  # going on from here is the shortest way
            self.reset()
            return True
        at, states, alerts = best
        self.pipelines = {p: Pipeline.decode(self.rules, blob) for p, (blob, _) in states.items()}
        self.cursor = {p: cursor for p, (_, cursor) in states.items()}
        self.alerts, self.minutes, self.at_ms = list(alerts), set(), at
        return True

    def advance_to(self, at_ms: int) -> None:
        """Every partition fed in its own order up to its first record after ``at_ms``,
        and the ladders moved to ``at_ms`` (deadlines fall due with no event, as live)."""
        for partition, lines in self.parts.items():
            times = self._times[partition]
            start = i = self.cursor[partition]
            while i < len(lines):
                ts = times[i]
                if ts is not None and ts > at_ms:
                    break
                i += 1
            if i > start:
                pipeline = self.pipelines[partition]
                result = pipeline.feed(Record(lines[j], partition, j) for j in range(start, i))
                self.alerts += result.alerts
                self.minutes |= result.minutes
                self.cursor[partition] = i
        for pipeline in self.pipelines.values():
            self.alerts += pipeline.advance(at_ms)
        self.at_ms = at_ms
        every = self.checkpoint_every_ms
        number = (at_ms - self.warm_from_ms) // every if every else -1
        if number >= 0 and number not in self._checkpoints:
            self._checkpoints[number] = (at_ms, {p: (pipe.encode(), self.cursor[p])
                                                 for p, pipe in self.pipelines.items()},
                                         tuple(self.alerts))

    def queues(self) -> list[str]:
        return sorted({q for p in self.pipelines.values() for q in p.queues()})


async def _write(writer: Any, session: Session) -> None:
    minutes, session.minutes = session.minutes, set()
    writer.at_ms = session.at_ms
    if not await writer.write(session.queues(), {}, minutes):
        raise redis.ConnectionError("cannot write the session to Redis")


def run_replay(settings: Settings, *, name: str, source: str, from_ms: int, to_ms: int,
               speed: float | None) -> Session:
    """Replay [from_ms, to_ms] of ``source`` into session ``name``; ``speed`` None runs
    straight to the end. Returns the session as it ended."""
    prefix = session_prefix(settings, name)
    replay_settings = settings.model_copy(update={"redis_prefix": prefix, "clock": "event"})
    rules = pipeline_rules(settings, offline=True)
    warm = day_start_ms(from_ms, settings)
    session = Session(rules, load_source(settings, source, from_ms, to_ms), warm,
                      checkpoint_every_ms=None if speed is None else _CHECKPOINT_EVERY_MS)
    client = redis.Redis.from_url(settings.redis_url, decode_responses=True)
    state: ReplaySession = {"name": name, "source": source, "from_ms": from_ms,
                             "to_ms": to_ms, "speed": speed or "max",
                             "started_ms": int(time.time() * 1000)}

    def tell(status: str) -> None:
        state.update({"status": status, "at_ms": session.at_ms, "alerts": len(session.alerts),
                      "updated_ms": int(time.time() * 1000)})
        client.hset(sessions_key(settings), name, json.dumps(state))

    _clear(client, prefix)
    asyncio.run(_run(replay_settings, session, from_ms, to_ms, speed, client, prefix, tell))
    client.set(RedisKeys(prefix).session_alerts, json.dumps(session.alerts, ensure_ascii=False))
    tell("done")
    _expire(client, prefix, settings.replay_ttl_h)
    return session


class ReplayWriter(SnapshotWriter):
    """The worker's writer on the replay's own clock, not the newest event's."""

    at_ms = 0

    def now_ms(self) -> int:
        return self.at_ms


async def jump(session: Session, writer: ReplayWriter, client: redis.Redis, at_ms: int
               ) -> None:
    """The session at ``at_ms``, the state a play to that minute has, and its keys
    brought to it: from the nearest checkpoint before ``at_ms`` (or the warm-up), or
    played on from where it is when that is nearer. Going back, the snapshots, half
    hours and days after ``at_ms`` are removed and the rest written again."""
    back = at_ms < session.at_ms
    if session.restore_nearest(at_ms):
        if back:
            await _forget_after(writer, client, at_ms)
        # Every row the state holds is written again: a later call may have marked an
        # earlier half hour's answer repeated (B16, a day's window) in the rows written.
        session.minutes = {k for p in session.pipelines.values() for k in p.engine.buckets}
    session.advance_to(at_ms)
    await _write(writer, session)


async def _forget_after(writer: ReplayWriter, client: redis.Redis, at_ms: int) -> None:
    keys = writer.keys
    zone = writer.settings.zone
    half = half_hour_bounds(at_ms, zone)[0]
    day = day_bounds(at_ms, zone)[0]
    client.delete(keys.snapshot_meta)  # older snapshots may be written again
    queues = [text(q) for q in client.smembers(keys.queues)]
    for queue in queues:
        for key, start in ((keys.intervals(queue), half), (keys.days(queue), day)):
            later = [f for f in client.hkeys(key) if int(f) > start]
            if later:
                client.hdel(key, *later)
    writer.cursor = HistoryCursor(zone)  # the current half hour and day written again


async def _run(settings: Settings, session: Session, from_ms: int, to_ms: int,
               speed: float | None, client: redis.Redis, prefix: str, tell: Any) -> None:
    writer = ReplayWriter(settings, lambda: session.pipelines)
    try:
        session.reset()
        session.advance_to(from_ms if speed else to_ms)
        await _write(writer, session)
        tell("running" if speed else "done")
        last = time.monotonic()
        last_expiry = last
        while speed and session.at_ms < to_ms:
            control = client.hgetall(RedisKeys(prefix).session_control)
            target = control.get("jump_ms")
            if target:
                client.hdel(RedisKeys(prefix).session_control, "jump_ms")
                await jump(session, writer, client, max(from_ms, min(to_ms, int(target))))
                last = time.monotonic()
            speed = float(control.get("speed") or speed)
            await asyncio.sleep(_TICK_S)
            now = time.monotonic()
            if control.get("paused") != "1":
                session.advance_to(min(to_ms, session.at_ms + int((now - last) * speed * 1000)))
            last = now
            await _write(writer, session)
            tell("paused" if control.get("paused") == "1" else "running")
            if now - last_expiry > 30:
                _expire(client, prefix, settings.replay_ttl_h)
                last_expiry = now
    finally:
        await writer.close()


def _keys(client: redis.Redis, prefix: str) -> Iterable[str]:
    return client.scan_iter(match=f"{prefix}:*", count=500)


def _clear(client: redis.Redis, prefix: str) -> None:
    for key in list(_keys(client, prefix)):
        if not key.endswith(":control"):
            client.delete(key)


def _expire(client: redis.Redis, prefix: str, ttl_h: float) -> None:
    for key in list(_keys(client, prefix)):
        client.expire(key, int(ttl_h * 3600))
