"""Does the archive hold everything the broker holds? (``callboard archive check``)

Every record of the events topic that the broker still holds is looked up in the
archive's day file of its partition (by its ``event_id``; a record without one, by its
bytes), and the records not found are named by their offsets, in ranges. The archive's
own position file is set beside the broker's high watermark, each with the topic id it
counts in, so "behind" (the archiver has not read that far yet) is told apart from a
hole (it read past records it never wrote). docs/archive.md says how to use it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from base.config import Settings
from review.archive import PartitionArchive, _event_id, _lines, day_of

__all__ = ["PartitionCheck", "check_archive", "missing_ranges"]


@dataclass
class PartitionCheck:
    partition: int
    held: int                   # records the broker holds (its high watermark)
    archived_to: int            # the archive's next offset, in the topic it counts in
    same_topic: bool            # the archive's position counts in the broker's topic
    missing: list[int] = field(default_factory=list)  # offsets held but not archived

    @property
    def holes(self) -> list[tuple[int, int]]:
        """Missing offsets the archive's position has passed: lost unless read again."""
        passed = [o for o in self.missing if self.same_topic and o < self.archived_to]
        return missing_ranges(passed)

    @property
    def behind(self) -> list[tuple[int, int]]:
        """Missing offsets not yet read by the archiver."""
        return missing_ranges([o for o in self.missing
                               if not (self.same_topic and o < self.archived_to)])

    def line(self) -> str:
        def said(ranges: list[tuple[int, int]]) -> str:
            return ", ".join(f"{a}" if a == b else f"{a}-{b}" for a, b in ranges[:8]) + (
                f" (+{len(ranges) - 8} more ranges)" if len(ranges) > 8 else "")

        text = (f"p{self.partition}: broker holds {self.held}, archived "
                f"{self.held - len(self.missing)}")
        if self.holes:
            text += f"; HOLE at offsets {said(self.holes)}"
        if self.behind:
            text += f"; not read yet: {said(self.behind)}"
        return text + ("" if self.missing else "; whole")


def missing_ranges(offsets: list[int]) -> list[tuple[int, int]]:
    """Sorted offsets as (first, last) runs: [3, 4, 5, 9] -> [(3, 5), (9, 9)]."""
    out: list[tuple[int, int]] = []
    for o in sorted(offsets):
        if out and o == out[-1][1] + 1:
            out[-1] = (out[-1][0], o)
        else:
            out.append((o, o))
    return out


class _Held:
    """What one partition's day files hold: event ids, and the bytes of records without."""

    def __init__(self, part: PartitionArchive) -> None:
        self.part = part
        self.ids: dict[str, set[str]] = {}
        self.raw: dict[str, set[bytes]] = {}

    def has(self, rel: str, raw: bytes) -> bool:
        if rel not in self.ids:
            ids, raws = set(), set()
            path = self.part.root / rel
            if path.exists():
                for line in _lines(path, self.part.lengths.get(rel) or None):
                    event_id = _event_id(line)
                    if event_id is not None:
                        ids.add(event_id)
                    raws.add(line)
            self.ids[rel], self.raw[rel] = ids, raws
        event_id = _event_id(raw)
        if event_id is not None:
            return event_id in self.ids[rel]
        return raw.replace(b"\n", b" ") in self.raw[rel]


def check_archive(settings: Settings, deadline_s: float = 120.0) -> list[PartitionCheck]:
    """Each partition of the events topic as the broker holds it now, against the archive."""
    from kafka import KafkaConsumer, TopicPartition

    from base.topics import bootstrap_servers, topic_id

    source = topic_id(settings, settings.events_topic)
    consumer: Any = KafkaConsumer(bootstrap_servers=bootstrap_servers(settings.broker_url),
                                  group_id=None, enable_auto_commit=False,
                                  allow_auto_create_topics=False, auto_offset_reset="earliest",
                                  fetch_max_wait_ms=100, request_timeout_ms=15000)
    out = []
    try:
        for partition in range(settings.topic_partitions):
            part = PartitionArchive.open(Path(settings.archive_dir), settings.events_topic,
                                         partition)
            held = _Held(part)
            tp = TopicPartition(settings.events_topic, partition)
            consumer.assign([tp])
            consumer.seek(tp, 0)
            end = time.monotonic() + deadline_s
            missing: list[int] = []
            high: int | None = None
            while time.monotonic() < end:
                for message in consumer.poll(timeout_ms=300).get(tp, []):
                    raw = message.value or b""
                    rel = part.file_for(day_of(raw, message.timestamp, settings.zone))
                    if not held.has(rel, raw):
                        missing.append(message.offset)
                high = consumer.highwater(tp)
                if high is not None and consumer.position(tp) >= high:
                    break
            else:
                raise TimeoutError(f"partition {partition}: not read to its end in "
                                   f"{deadline_s:g} s")
            out.append(PartitionCheck(partition, high or 0, part.next_offset,
                                      source is not None and part.source == source, missing))
    finally:
        consumer.close()
    return out
