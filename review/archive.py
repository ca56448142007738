"""Every record of the events topic, once, in daily files outside Kafka (docs/archive.md).

Layout: ``<archive_dir>/<YYYY-MM-DD>/<topic>-p<partition>.jsonl.gz``, the centre's
local day of each event's ``ts_ms`` (a record without one: the day of its Kafka
timestamp). Each file is a series of gzip members, one per flush, of the records'
bytes exactly as produced, one per line: pandas reads a day with
``pd.read_json(path, lines=True, compression="gzip")``, zcat and grep read it too,
and a replay runs the very bytes the live worker counted (malformed ones included,
which it dead-letters again).

Exactly once, through kill -9: a flush appends to the day files and fsyncs them,
then writes the partition's position file (next offset, and each file's length)
atomically. A restart cuts every file back to the length its position file gives
(dropping a half-written member) and reads the topic again from the next offset.
Producer duplicates (a new offset, the same ``event_id``) are dropped against the
ids already in that day's file of that partition; a queue's events, and so an
event's duplicates, all go to one partition.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import logging
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from prometheus_client import Counter

from base.config import Settings

__all__ = ["ArchiveWriter", "PartitionArchive", "archive_days", "day_of", "hash_callers",
           "read_day"]

log = logging.getLogger(__name__)
_SUFFIX = ".jsonl.gz"
ARCHIVED = Counter("callboard_archive_records", "Records written to the archive")
DUPLICATES = Counter("callboard_archive_duplicates",
                     "Records not archived: their event_id is already in the day's file")
SOURCE_RESETS = Counter("callboard_archive_source_resets",
                        "Partitions the broker numbered from 0 again (it lost its records)")


def day_of(raw: bytes, record_ms: int, zone: ZoneInfo) -> date:
    """The centre's local day an archived record belongs to."""
    ms = record_ms
    with contextlib.suppress(ValueError, TypeError, KeyError, AttributeError, OverflowError):
        ts = json.loads(raw)["ts_ms"]
        if isinstance(ts, int) and not isinstance(ts, bool) and 0 <= ts < 2**48:
            ms = ts
    return datetime.fromtimestamp(ms / 1000, zone).date()


def _event_id(raw: bytes) -> str | None:
    with contextlib.suppress(ValueError, TypeError, KeyError, AttributeError):
        value = json.loads(raw)["event_id"]
        return value if isinstance(value, str) else None
    return None


@dataclass
class PartitionArchive:
    """One partition's files and position: what is written is what the position says."""

    root: Path
    topic: str
    partition: int
    next_offset: int = 0
    lengths: dict[str, int] = field(default_factory=dict)  # relative path -> bytes
    source: str | None = None  # the events topic's id the position counts in
    _ids: dict[str, set[str]] = field(default_factory=dict)  # relative path -> event ids

    @property
    def position_path(self) -> Path:
        return self.root / ".positions" / f"{self.topic}-p{self.partition}.json"

    def file_for(self, day: date) -> str:
        return f"{day.isoformat()}/{self.topic}-p{self.partition}{_SUFFIX}"

    @classmethod
    def open(cls, root: Path, topic: str, partition: int) -> PartitionArchive:
        """The partition as its position file left it, every file cut back to it."""
        part = cls(root, topic, partition)
        try:
            saved = json.loads(part.position_path.read_text())
        except FileNotFoundError:
            saved = {"next_offset": 0, "lengths": {}}
        part.next_offset = int(saved["next_offset"])
        part.source = saved.get("source")
        part.lengths = {k: int(v) for k, v in saved["lengths"].items()}
        for rel, length in part.lengths.items():
            path = root / rel
            if path.exists() and path.stat().st_size > length:
                log.warning("%s: %s bytes written after the last position; cut back (they "
                            "are read again from the topic)", path, path.stat().st_size - length)
                with path.open("r+b") as fh:
                    fh.truncate(length)
        return part

    def ids(self, rel: str) -> set[str]:
        known = self._ids.get(rel)
        if known is None:
            known = set()
            path = self.root / rel
            if path.exists():
                for line in _lines(path, self.lengths.get(rel, 0)):
                    event_id = _event_id(line)
                    if event_id:
                        known.add(event_id)
            self._ids[rel] = known
            if len(self._ids) > 8:  # a few days at a time; the oldest is read again if needed
                self._ids.pop(next(iter(self._ids)))
        return known

    def append(self, records: list[tuple[int, bytes, int]], zone: ZoneInfo) -> tuple[int, int]:
        """Records (offset, bytes, Kafka timestamp ms) in offset order: archived and the
        position moved past them. Returns (archived, duplicates dropped)."""
        by_file: dict[str, list[bytes]] = {}
        duplicates = 0
        for offset, raw, record_ms in records:
            if offset < self.next_offset:
                continue  # read again after a restart: already in the files
            rel = self.file_for(day_of(raw, record_ms, zone))
            event_id = _event_id(raw)
            if event_id is not None:
                seen = self.ids(rel)
                if event_id in seen:
                    duplicates += 1
                    continue
                seen.add(event_id)
            by_file.setdefault(rel, []).append(raw.replace(b"\n", b" "))
        for rel, lines in by_file.items():
            path = self.root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            member = gzip.compress(b"".join(line + b"\n" for line in lines), mtime=0)
            with path.open("ab") as fh:
                fh.write(member)
                fh.flush()
                os.fsync(fh.fileno())
            self.lengths[rel] = self.lengths.get(rel, 0) + len(member)
        if records:
            self.next_offset = max(self.next_offset, records[-1][0] + 1)
            self.save()
        return sum(len(v) for v in by_file.values()), duplicates

    def forget_before(self, day: date) -> None:
        self.lengths = {k: v for k, v in self.lengths.items() if k[:10] >= day.isoformat()}
        self.save()

    def save(self) -> None:
        self.position_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.position_path.with_suffix(".tmp")
        with tmp.open("w") as fh:
            json.dump({"next_offset": self.next_offset, "lengths": self.lengths,
                       "source": self.source}, fh)
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(self.position_path)


def _lines(path: Path, length: int | None = None) -> Iterator[bytes]:
    with path.open("rb") as raw:
        data = raw.read(length) if length else raw.read()
    for line in gzip.decompress(data).split(b"\n"):
        if line:
            yield line


def hash_callers(root: Path, topic: str, key: str) -> tuple[int, int]:
    """An archive written before producers hashed callers' numbers, rewritten with each
    number hashed (base/callers.py) and its last 4 digits apart; each partition's
    position file takes the new lengths. Run with the archiver stopped. Returns (files
    rewritten, events changed)."""
    from base.callers import protect
    from core.events import dumps

    files = changed = 0
    parts: dict[int, PartitionArchive] = {}
    prefix = f"{topic}-p"
    for day in archive_days(root):
        for path in sorted((root / day.isoformat()).glob(f"{prefix}*{_SUFFIX}")):
            partition = int(path.name[len(prefix):-len(_SUFFIX)])
            if partition not in parts:  # opened once: it cuts its files to its position
                parts[partition] = PartitionArchive.open(root, topic, partition)
            part = parts[partition]
            out, touched = [], 0
            for line in _lines(path):
                try:
                    doc = json.loads(line)
                except ValueError:
                    out.append(line)  # kept byte for byte, as every malformed record is
                    continue
                hidden = protect(doc, key) if isinstance(doc, dict) else doc
                if hidden is not doc:
                    touched += 1
                    line = dumps(hidden)
                out.append(line)
            if not touched:
                continue
            tmp = path.with_suffix(".tmp")
            tmp.write_bytes(gzip.compress(b"".join(x + b"\n" for x in out), mtime=0))
            tmp.replace(path)
            files, changed = files + 1, changed + touched
            rel = part.file_for(day)
            if rel in part.lengths:  # its position file follows the new length
                part.lengths[rel] = path.stat().st_size
                part.save()
    return files, changed


def archive_days(root: Path) -> list[date]:
    days = []
    for entry in root.iterdir() if root.exists() else ():
        with contextlib.suppress(ValueError):
            days.append(date.fromisoformat(entry.name))
    return sorted(days)


def read_day(root: Path, day: date, topic: str) -> dict[int, list[bytes]]:
    """A day's archived records by partition, each in offset order."""
    out: dict[int, list[bytes]] = {}
    folder = root / day.isoformat()
    prefix = f"{topic}-p"
    for path in sorted(folder.glob(f"{prefix}*{_SUFFIX}")) if folder.exists() else ():
        partition = int(path.name[len(prefix):-len(_SUFFIX)])
        out[partition] = list(_lines(path))
    return out


class ArchiveWriter:
    """Batches of consumed records to each partition's archive; old days dropped."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.root = Path(settings.archive_dir)
        self.root.mkdir(parents=True, exist_ok=True)
        self.parts: dict[int, PartitionArchive] = {}
        self.archived = 0
        self.duplicates = 0
        self._pruned: date | None = None

    def position(self, partition: int) -> int:
        return self.part(partition).next_offset

    def resume(self, partition: int, source: str | None) -> int:
        """Where to read ``partition`` from, given the events topic's id now: a position
        kept in another topic (the local stack rolled its broker, base/local_broker/carried.py)
        starts the new one from its first record; event ids keep the files exact."""
        part = self.part(partition)
        if source is None and part.source is not None and part.next_offset:
            # The position counts in a topic whose id is known, the topic's id now is
            # not: it may be a new topic that already holds more than the position, and
            # seeking there would skip its first records for good.
            log.warning("archive: partition %s: the events topic's id is not known; "
                        "archiving it from its first record (event ids keep the files "
                        "exact)", partition)
            part.next_offset = 0
            SOURCE_RESETS.inc()
        elif source is not None and part.source is not None and part.source != source:
            log.warning("archive: partition %s: the events topic is a new one (id %s, "
                        "archived up to offset %s of %s): archiving all it holds",
                        partition, source, part.next_offset - 1, part.source)
            part.next_offset = 0
            SOURCE_RESETS.inc()
        if source is not None and part.source != source:
            part.source = source
            part.save()
        return part.next_offset

    def part(self, partition: int) -> PartitionArchive:
        part = self.parts.get(partition)
        if part is None:
            part = PartitionArchive.open(self.root, self.settings.events_topic, partition)
            self.parts[partition] = part
        return part

    def write(self, partition: int, records: list[tuple[int, bytes, int]]) -> None:
        part = self.part(partition)
        archived, duplicates = part.append(records, self.settings.zone)
        self.archived += archived
        self.duplicates += duplicates
        ARCHIVED.inc(archived)
        DUPLICATES.inc(duplicates)

    def prune(self, today: date) -> list[date]:
        """Days older than ``archive_retention_days`` deleted, once a day."""
        if self._pruned == today:
            return []
        self._pruned = today
        oldest = today - timedelta(days=self.settings.archive_retention_days)
        gone = [d for d in archive_days(self.root) if d < oldest]
        for day in gone:
            shutil.rmtree(self.root / day.isoformat())
        if gone:
            for part in self.parts.values():
                part.forget_before(oldest)
            log.info("archive: %s days older than %s deleted", len(gone), oldest)
        return gone


def run_archiver(settings: Settings, stop: Any = None) -> None:
    """Consume the events topic in a group of its own and archive it until stopped."""
    from kafka import KafkaConsumer, TopicPartition
    from kafka.consumer.subscription_state import ConsumerRebalanceListener

    from base.topics import bootstrap_servers, ensure_topics, topic_id

    ensure_topics(settings)
    writer = ArchiveWriter(settings)
    if settings.archive_metrics_port:
        from base.health import HealthServer

        try:
            HealthServer(settings.metrics_host, settings.archive_metrics_port,
                         lambda: None).start()
        except OSError as exc:
            log.error("metrics and health endpoints off: cannot listen on %s:%s (%s)",
                      settings.metrics_host, settings.archive_metrics_port, exc)

    def new_consumer() -> Any:
        made = KafkaConsumer(
            bootstrap_servers=bootstrap_servers(settings.broker_url),
            group_id=f"{settings.app_id}-archive", enable_auto_commit=False,
            auto_offset_reset="earliest", allow_auto_create_topics=False,
            session_timeout_ms=6000, heartbeat_interval_ms=2000, request_timeout_ms=15000)
        made.subscribe([settings.events_topic], listener=Positions())
        return made

    class Positions(ConsumerRebalanceListener):
        def on_partitions_revoked(self, revoked: Any) -> None:
            flush()

        def on_partitions_assigned(self, assigned: Any) -> None:
            # The files, not the group's commits, say where to go on; without the topic's
            # id they cannot tell a new topic from the old, so it is asked a few times.
            source = None
            for attempt in range(3):
                try:
                    source = topic_id(settings, settings.events_topic)
                except Exception as exc:  # noqa: BLE001  # kafka-python's errors
                    log.warning("archive: cannot learn the events topic's id (%r)", exc)
                if source is not None:
                    break
                time.sleep(0.5 * (attempt + 1))
            for tp in assigned:
                consumer.seek(tp, writer.resume(tp.partition, source))

    pending: dict[int, list[tuple[int, bytes, int]]] = {}
    first_at = [0.0]

    def flush() -> None:
        for partition, records in pending.items():
            writer.write(partition, records)
        if pending:
            offsets = {TopicPartition(settings.events_topic, p): writer.position(p)
                       for p in pending}
            with contextlib.suppress(Exception):  # lag figures only; the files are the truth
                from kafka.structs import OffsetAndMetadata

                consumer.commit({tp: OffsetAndMetadata(o, "", -1) for tp, o in offsets.items()})
        pending.clear()

    consumer = new_consumer()
    log.info("archiving %s to %s (kept %s days)", settings.events_topic, writer.root,
             settings.archive_retention_days)
    try:
        while stop is None or not stop():
            batches = consumer.poll(timeout_ms=500, max_records=5000)
            for tp, messages in batches.items():
                rows = pending.setdefault(tp.partition, [])
                rows.extend((m.offset, m.value or b"", m.timestamp) for m in messages)
                if not first_at[0]:
                    first_at[0] = time.monotonic()
            held = sum(len(v) for v in pending.values())
            if held and (held >= 10_000 or
                         time.monotonic() - first_at[0] >= settings.archive_flush_s):
                flush()
                first_at[0] = 0.0
            writer.prune(datetime.now(settings.zone).date())
    finally:
        flush()
        consumer.close()
