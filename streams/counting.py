"""The worker's batch step: validate, set bad events aside, count, publish."""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any

from callboard.engine import BatchResult, Engine
from callboard.events import EventError, parse

__all__ = ["DeadLetter", "RawEvent", "BatchCounter"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RawEvent:
    value: bytes
    partition: int
    offset: int


@dataclass(frozen=True)
class DeadLetter:
    key: bytes | None
    value: bytes


class BatchCounter:
    """Runs one batch through the engine and keeps the operator's counters."""

    def __init__(
        self,
        engine: Engine,
        partition_of: MutableMapping[str, int],
        source_topic: str,
        send_dead_letter: Callable[[DeadLetter], Awaitable[Any]],
    ) -> None:
        self.engine = engine
        self.partition_of = partition_of
        self.source_topic = source_topic
        self.send_dead_letter = send_dead_letter
        self.stats: Counter[str] = Counter()

    async def handle(self, batch: Sequence[RawEvent]) -> BatchResult:
        """Count a batch; the result names the queues and minutes it changed."""
        valid: list[dict[str, Any]] = []
        for raw in batch:
            try:
                event = parse(raw.value)
            except EventError as exc:
                await self._dead_letter(raw, exc.reason, exc.detail)
                continue
            self.partition_of[event["queue"]] = raw.partition
            valid.append(event)
        self.stats["events_in"] += len(batch)
        result = self.engine.apply(valid)
        self.stats["events_counted"] += result.applied
        self.stats["duplicates"] += result.duplicates
        self.stats["lost_waiting"] += result.lost_waiting
        for event in result.late:
            await self._dead_letter(
                RawEvent(json.dumps(event).encode(), -1, -1), "late",
                "older than the retention of the windows it belongs to",
            )
        return result

    async def _dead_letter(self, raw: RawEvent, reason: str, detail: str) -> None:
        self.stats["dead_letters"] += 1
        self.stats[f"dead_letter.{reason}"] += 1
        log.warning("dead-lettered event at %s[%s]@%s: %s: %s",
                    self.source_topic, raw.partition, raw.offset, reason, detail)
        body = {
            "reason": reason,
            "detail": detail,
            "topic": self.source_topic,
            "partition": raw.partition,
            "offset": raw.offset,
            "seen_ms": int(time.time() * 1000),
            "value": raw.value.decode("utf-8", errors="replace"),
        }
        await self.send_dead_letter(
            DeadLetter(reason.encode(), json.dumps(body, ensure_ascii=False).encode())
        )
